#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Pod network, vxlan with DirectRouting over an IPv6 underlay (issue 17):
# all three nodes share the IPv4 underlay subnet (direct IPv4 routes), but
# kube03's IPv6 address is on another IPv6 prefix (fd00:10:200::/64, reached
# through an underlay route): kube01 routes kube02's IPv6 pods directly
# (`ip -6 route` via fd00:10:100::132 dev eth0) and kube03's through
# sy-vx6.1 (route, neighbour, `bridge fdb` to fd00:10:200::133), as
# flannel decides DirectRouting per family; pods ping across both.
. "$(dirname "$0")/podnet-lib.sh"

VX6=sy-vx6.1
pn_underlay
pn_netconf '{"Network": "10.111.0.0/16", "EnableIPv6": true, "IPv6Network": "fd00:10:244::/56",
  "Backend": {"Type": "vxlan", "DirectRouting": true}}'
for n in 1 2 3; do
	net=100; [ $n = 3 ] && net=200
	PN_IP6[kube0$n]=fd00:10:$net::13$n PN_SUBNET6[kube0$n]=fd00:10:244:$n::/64
	pn_node kube0$n 10.10.100.13$n/24 10.111.$n.0/24
	ip -n "${PN_NS[kube0$n]}" addr add "${PN_IP6[kube0$n]}/64" dev eth0 nodad
	ip -n "${PN_NS[kube0$n]}" -6 route add "fd00:10:$((300 - net))::/64" dev eth0
	ip netns exec "${PN_NS[kube0$n]}" sysctl -qw net.ipv6.conf.all.forwarding=1
	pn_node6_manifest kube0$n
done
export PN_PROXY_MODE=${PN_PROXY_MODE:-none}
for n in kube01 kube02 kube03; do pn_start "$n" && pn_wait_ready "$n"; done
pn_check kube01 kube02:direct kube03:direct
{
	echo "fd00:10:244:2::/64 via fd00:10:100::132 dev eth0"
	echo "fd00:10:244:3::/64 via fd00:10:244:3:: dev $VX6 onlink"
	echo "neigh fd00:10:244:3:: lladdr $(pn_mac6 fd00:10:200::133)"
	echo "fdb $(pn_mac6 fd00:10:200::133) dst fd00:10:200::133 self permanent"
} | sort >"$SY_TMP/exp6"
pn_wait_state6 kube01 pn_state6 kube01 "$VX6"

pn_pod kube01 a1
pn_pod kube02 b1
pn_pod kube03 c1
for p in a1 b1 c1; do
	POD_IP6[$p]=$($PY -c 'import json,sys; print([i["address"].split("/")[0] for i in json.load(open(sys.argv[1]))["ips"] if ":" in i["address"]][0])' "$SY_TMP/${POD_NODE[$p]}/$p.result")
done
before=$(pn_tx kube01 "$VX6")
pn_ping6 a1 b1
mid=$(pn_tx kube01 "$VX6")
pn_ping6 a1 c1
after=$(pn_tx kube01 "$VX6")
[ "$mid" = "$before" ] || sy_fail "IPv6 to the direct peer went through $VX6 ($before → $mid)"
[ "$after" -ge $((mid + 2)) ] || sy_fail "IPv6 to kube03 did not go through $VX6 ($mid → $after)"
sy_pass "DirectRouting per family: IPv6 direct on-link, through $VX6 off-link (tx $before → $mid → $after)"
