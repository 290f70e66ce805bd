#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/podnet-rss.sh [SERVICES]: the daemon's memory with the pod network
# and the iptables proxy at scale.  One node namespace of the podnet lab
# (tests/e2e/podnet-lib.sh), SERVICES (10000) ClusterIP Services x 10
# endpoints from bench/ipvs-gen.py in its manifest directory, host-gw,
# --sync-period 5s so that several pod-network resyncs (each checking its
# nat/filter chains against a nat table of ~100,000 rules) run; prints the
# daemon's peak and current RSS.  Prints numbers only.
#   SY_BUILD=build bench/podnet-rss.sh 10000
set -u
N=${1:-10000}
HERE=$(cd "$(dirname "$0")" && pwd)
export SY_SRC=${SY_SRC:-$(cd "$HERE/.." && pwd)}
. "$SY_SRC/tests/e2e/podnet-lib.sh"
pn_netconf '{"Network": "10.111.0.0/16", "Backend": {"Type": "host-gw"}}'
pn_underlay
pn_node kube01 10.10.100.133/24 10.111.1.0/24
/usr/bin/python3 "$SY_SRC/bench/ipvs-gen.py" --services "$N" --dir "$PN_M" \
	--ipvsadm "$SY_TMP/ipvsadm.rules" >/dev/null || sy_fail "generator"
pn_start kube01 --sync-period 5s
pn_wait_ready kube01
sy_wait 120 grep -q "SyncProxyRules complete" "${PN_LOG[kube01]}" || sy_fail "no sync"
sleep 12
pid=${PN_PID[kube01]}
echo "pod network + iptables proxy, $N Services x 10 endpoints:" \
	"peak RSS $(awk '/VmHWM/ {print $2}' /proc/$pid/status) kB," \
	"RSS $(awk '/VmRSS/ {print $2}' /proc/$pid/status) kB," \
	"$(grep -c 'SyncProxyRules complete' "${PN_LOG[kube01]}") syncs," \
	"nat rules $(ip netns exec "${PN_NS[kube01]}" iptables-legacy-save -t nat | grep -c '^-A')"
