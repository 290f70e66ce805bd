#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# KubeProxyConfiguration conntrack.* settings reach the kernel (read back
# from /proc/sys in the node's namespace); a setting the kernel refuses
# (nf_conntrack_max is read-only outside the initial namespace) is a
# warning naming it, and the daemon keeps running.
. "$(dirname "$0")/../lib/common.sh"
sy_mkns NODE node
M=$SY_TMP/m
mkdir -p "$M"
cat >"$SY_TMP/c.yaml" <<Y
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
conntrack:
  maxPerCore: 1048576
  min: 131072
  tcpEstablishedTimeout: 2h
  tcpCloseWaitTimeout: 30m
  udpTimeout: 45s
  udpStreamTimeout: 3m
Y
root_before=$(cat /proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established)
LOG=$SY_TMP/l.log
sy_bg "$NODE" "$LOG" "$SWITCHYARD" --config "$SY_TMP/c.yaml" --proxy-mode=none --manifests "$M" \
	--hostname-override n1 --healthz-bind-address= --metrics-bind-address= -v 2
sy_wait 30 grep -q "First sync complete" "$LOG" || sy_fail "no first sync: $(tail -3 "$LOG")"
get() { ip netns exec "$NODE" cat "/proc/sys/net/netfilter/nf_conntrack_$1"; }
[ "$(get tcp_timeout_established)" = 7200 ] || sy_fail "tcpEstablishedTimeout: $(get tcp_timeout_established)"
[ "$(get tcp_timeout_close_wait)" = 1800 ] || sy_fail "tcpCloseWaitTimeout: $(get tcp_timeout_close_wait)"
[ "$(get udp_timeout)" = 45 ] || sy_fail "udpTimeout: $(get udp_timeout)"
[ "$(get udp_timeout_stream)" = 180 ] || sy_fail "udpStreamTimeout: $(get udp_timeout_stream)"
# the node's namespace only
[ "$(cat /proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established)" = "$root_before" ] ||
	sy_fail "the root namespace's value changed"
# nf_conntrack_max cannot be raised from a non-initial namespace: a warning, not an exit
if [ "$(get max)" != $((1048576 * $(nproc))) ]; then
	grep -q "W.*Cannot apply the conntrack settings: .*nf_conntrack" "$LOG" ||
		sy_fail "refused nf_conntrack_max not reported"
fi
kill -0 "$SY_LAST_PID" || sy_fail "daemon exited"
sy_pass
