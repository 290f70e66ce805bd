#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/podnet-iperf.sh [SECONDS] [ROUNDS]: TCP throughput pod-to-pod across
# two nodes versus node-to-node on the same underlay, per backend (vxlan,
# vxlan+DirectRouting, host-gw, and vxlan6: IPv6 pods through sy-vx6.1 over
# an IPv6 underlay against node-to-node IPv6), in the lab of tests/e2e/podnet-lib.sh
# (namespaces, veth, a bridge; switchyard in each node namespace).  Each
# figure is the median of ROUNDS iperf3 runs of SECONDS; prints the ratio.
# Prints numbers only; it never passes or fails on them.
# RATE (default "none 10gbit": both) lists underlays: "none", every hop a
# veth, measures this machine's CPU per hop (the pod path crosses two more
# veths, two bridges and two forwarding steps); a rate (e.g. 10gbit) shapes
# each node's underlay port with tbf to it, modelling a real NIC as the
# bottleneck.
#   SY_BUILD=build bench/podnet-iperf.sh 3 5
#   RATE=1gbit SY_BUILD=build bench/podnet-iperf.sh 3 3
set -u
SECS=${1:-3}
ROUNDS=${2:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
export SY_SRC=${SY_SRC:-$(cd "$HERE/.." && pwd)}

if [ "${PODNET_IPERF_ONE:-}" = "" ]; then
	# by default both: the CPU-bound veth lab and a 10 Gbit/s underlay
	for r in ${RATE:-none 10gbit}; do
		[ "$r" = none ] && r=
		for b in vxlan directrouting host-gw vxlan6; do
			RATE=$r PODNET_IPERF_ONE=$b bash "$0" "$SECS" "$ROUNDS" 2>/dev/null || echo "$b: failed"
		done
	done
	exit 0
fi

. "$SY_SRC/tests/e2e/podnet-lib.sh"
case $PODNET_IPERF_ONE in
vxlan) pn_netconf '{"Network": "10.111.0.0/16", "Backend": {"Type": "vxlan"}}' ;;
directrouting) pn_netconf '{"Network": "10.111.0.0/16", "Backend": {"Type": "vxlan", "DirectRouting": true}}' ;;
host-gw) pn_netconf '{"Network": "10.111.0.0/16", "Backend": {"Type": "host-gw"}}' ;;
vxlan6) pn_netconf '{"Network": "10.111.0.0/16", "EnableIPv6": true, "IPv6Network": "fd00:10:244::/56"}' ;;
esac
pn_underlay
pn_node kube01 10.10.100.133/24 10.111.1.0/24
pn_node kube02 10.10.100.134/24 10.111.2.0/24
NODE_B=10.10.100.134
if [ "$PODNET_IPERF_ONE" = vxlan6 ]; then
	for n in 3 4; do
		PN_IP6[kube0$((n - 2))]=fd00:10:100::13$n PN_SUBNET6[kube0$((n - 2))]=fd00:10:244:$n::/64
	done
	for n in kube01 kube02; do
		ip -n "${PN_NS[$n]}" addr add "${PN_IP6[$n]}/64" dev eth0 nodad
		ip netns exec "${PN_NS[$n]}" sysctl -qw net.ipv6.conf.all.forwarding=1
		pn_node6_manifest "$n"
	done
	NODE_B=${PN_IP6[kube02]}
fi
if [ -n "${RATE:-}" ]; then
	for n in kube01 kube02; do
		tc -n "${PN_NS[$n]}" qdisc add dev eth0 root tbf rate "$RATE" burst 256k latency 50ms ||
			sy_fail "tc"
	done
fi
pn_start kube01
pn_start kube02
pn_wait_ready kube01
pn_wait_ready kube02
pn_pod kube01 a1
pn_pod kube02 b1
pn_ping a1 b1
POD_B=${POD_IP[b1]}
if [ "$PODNET_IPERF_ONE" = vxlan6 ]; then
	POD_B=$(/usr/bin/python3 -c 'import json,sys; print([i["address"].split("/")[0] for i in json.load(open(sys.argv[1]))["ips"] if ":" in i["address"]][0])' "$SY_TMP/kube02/b1.result")
	POD_IP6[b1]=$POD_B
	pn_ping6 a1 b1
fi

# run_iperf CLIENT_NS SERVER_NS SERVER_IP → bits/s
run_iperf() {
	ip netns exec "$2" iperf3 -s -1 -D -p 5202 -B "$3" --logfile "$SY_TMP/iperf-srv.log" || return 1
	sy_wait 5 sh -c "ip netns exec $2 ss -ltn | grep -q :5202" || return 1
	ip netns exec "$1" iperf3 -c "$3" -p 5202 -t "$SECS" -J 2>/dev/null |
		/usr/bin/python3 -c 'import json,sys; print(int(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]))'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

: >"$SY_TMP/node" ; : >"$SY_TMP/pod"
for _ in $(seq "$ROUNDS"); do
	run_iperf "${PN_NS[kube01]}" "${PN_NS[kube02]}" "$NODE_B" >>"$SY_TMP/node"
	run_iperf "${POD_NS[a1]}" "${POD_NS[b1]}" "$POD_B" >>"$SY_TMP/pod"
done
node=$(median <"$SY_TMP/node")
pod=$(median <"$SY_TMP/pod")
/usr/bin/python3 - "$PODNET_IPERF_ONE" "$node" "$pod" "$(pn_pod_mtu a1)" <<'PY'
import sys
b, node, pod, mtu = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
print("%-14s %snode-to-node %6.2f Gbit/s  pod-to-pod %6.2f Gbit/s  ratio %.2f  (pod MTU %s)"
      % (b, ("underlay %s: " % __import__("os").environ["RATE"]) if __import__("os").environ.get("RATE") else "", node / 1e9, pod / 1e9, pod / node, mtu))
PY
