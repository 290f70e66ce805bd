#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Pod network, vxlan with DirectRouting: kube01-03 share the underlay L2
# segment and get plain routes "peerSubnet via peerIP dev eth0" to each
# other; kube04 sits on another underlay subnet behind a router namespace
# and keeps the tunnel (route via sy-vx.1 onlink + neighbour + FDB) in both
# directions.  Pods ping and move a few MB over TCP both ways; pod MTU 1450.
. "$(dirname "$0")/podnet-lib.sh"

pn_underlay
pn_netconf '{"Network": "10.111.0.0/16", "Backend": {"Type": "vxlan", "DirectRouting": true}}'
sy_mkns RTR rtr
sy_veth "$RTR" eth0 10.10.100.1/24 "$PN_UL" prtr -
ip -n "$PN_UL" link set prtr master br0
ip netns exec "$RTR" sysctl -qw net.ipv4.ip_forward=1
pn_node kube01 10.10.100.133/24 10.111.1.0/24
pn_node kube02 10.10.100.134/24 10.111.2.0/24
pn_node kube03 10.10.100.135/24 10.111.3.0/24
pn_node kube04 10.10.200.136/24 10.111.4.0/24 10.10.200.1 "$RTR"
for n in kube01 kube02 kube03; do
	ip -n "${PN_NS[$n]}" route add 10.10.200.0/24 via 10.10.100.1
done
ip netns exec "${PN_NS[kube04]}" ping -c 1 -W 2 10.10.100.133 >/dev/null || sy_fail "underlay routing"

for n in kube01 kube02 kube03; do pn_start "$n"; done
pn_start kube04 --iface eth0	# the underlay named explicitly
for n in kube01 kube02 kube03 kube04; do pn_wait_ready "$n"; done
grep -qx "FLANNEL_MTU=1450" "$SY_TMP/kube01/subnet.env" || sy_fail "subnet.env MTU"

pn_check kube01 kube02:direct kube03:direct kube04:vxlan
pn_check kube02 kube01:direct kube03:direct kube04:vxlan
pn_check kube04 kube01:vxlan kube02:vxlan kube03:vxlan

pn_pod kube01 a1
pn_pod kube02 b1
pn_pod kube04 d1
[ "$(pn_pod_mtu a1)" = 1450 ] || sy_fail "pod MTU $(pn_pod_mtu a1), want 1450"
pn_ping a1 b1
pn_ping b1 a1
pn_ping a1 d1
pn_ping d1 b1
bps=$(pn_iperf a1 b1 4M) || sy_fail "iperf a1 → b1"
sy_log "iperf3 a1 → b1 (direct): $bps bit/s"
bps=$(pn_iperf d1 a1 4M) || sy_fail "iperf d1 → a1"
sy_log "iperf3 d1 → a1 (vxlan through the router): $bps bit/s"
# kube01 → kube02 pod traffic really goes unencapsulated (the tunnel's
# counters stay still), kube01 → kube04 through the tunnel (they move)
vxtx() { ip -n "${PN_NS[kube01]}" -s -j link show "$PN_VX" |
	/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["stats64"]["tx"]["packets"])'; }
t0=$(vxtx)
ip netns exec "${POD_NS[a1]}" ping -c 20 -i 0.01 -W 2 "${POD_IP[b1]}" >/dev/null || sy_fail "ping a1 → b1"
t1=$(vxtx)
[ "$t1" = "$t0" ] || sy_fail "a1 → b1 went through $PN_VX ($t0 → $t1 packets)"
ip -n "${PN_NS[kube01]}" route get "${POD_IP[b1]}" | grep -q "via 10.10.100.134 dev eth0" ||
	sy_fail "route get a1 → b1: $(ip -n "${PN_NS[kube01]}" route get "${POD_IP[b1]}")"
ip netns exec "${POD_NS[a1]}" ping -c 20 -i 0.01 -W 2 "${POD_IP[d1]}" >/dev/null || sy_fail "ping a1 → d1"
t2=$(vxtx)
[ $((t2 - t1)) -ge 20 ] || sy_fail "a1 → d1 did not go through $PN_VX ($t1 → $t2 packets)"
sy_pass
