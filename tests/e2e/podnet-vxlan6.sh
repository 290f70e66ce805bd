#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Pod network, vxlan over an IPv6 underlay (issue 17), dual stack: the
# underlay carries IPv4 and IPv6 (the Nodes' InternalIPs), so next to sy-vx.1
# each node has sy-vx6.1 (flannel's flannel-v6.<VNI>) over its IPv6 address
# (`ip -d link`: vxlan id 1 local <IPv6>, nolearning, MTU 1500-70) with its
# IPv6 subnet address /128.  Per peer on sy-vx6.1: `ip -6 route` "IPv6 subnet
# via its first address onlink", `ip -6 neigh` of that address and
# `bridge fdb` "MAC dst <peer's IPv6 underlay address>", the MAC the peer's
# derived IPv6 VtepMAC (5e:76:<last 4 bytes>); the IPv4 entries stay on
# sy-vx.1 (and without an IPv6 underlay address, IPv6 rides sy-vx.1 until
# one comes).  Real IPv6 traffic between pods on three nodes counted on
# sy-vx6.1 and none on sy-vx.1; TCP over IPv6; a deleted IPv6 FDB entry
# repaired by the full resync; a leaving node's entries removed; a peer that
# publishes without backend-v6-data is reached over the IPv4 tunnel.
. "$(dirname "$0")/podnet-lib.sh"

VX6=sy-vx6.1
pn_underlay
pn_netconf '{"Network": "10.111.0.0/16", "EnableIPv6": true, "IPv6Network": "fd00:10:244::/56"}'
for n in 1 2 3; do
	PN_IP6[kube0$n]=fd00:10:100::13$n PN_SUBNET6[kube0$n]=fd00:10:244:$n::/64
	pn_node kube0$n 10.10.100.13$n/24 10.111.$n.0/24
	[ $n = 1 ] || ip -n "${PN_NS[kube0$n]}" addr add "${PN_IP6[kube0$n]}/64" dev eth0 nodad
	ip netns exec "${PN_NS[kube0$n]}" sysctl -qw net.ipv6.conf.all.forwarding=1
	pn_node6_manifest kube0$n
done
export PN_PROXY_MODE=${PN_PROXY_MODE:-none}
for n in kube01 kube02 kube03; do pn_start "$n" --sync-period 2s && pn_wait_ready "$n"; done
# kube01 has no IPv6 address on its underlay yet: IPv6 over sy-vx.1 (its /128
# there); once the address is there, sy-vx6.1 takes over and sy-vx.1 drops it
sy_wait 30 sh -c "ip -n ${PN_NS[kube01]} -6 addr show dev $PN_VX | grep -q 'inet6 fd00:10:244:1::/128'" ||
	sy_fail "fallback: no fd00:10:244:1::/128 on $PN_VX: $(ip -n "${PN_NS[kube01]}" -6 addr show dev "$PN_VX")"
ip -n "${PN_NS[kube01]}" link show "$VX6" >/dev/null 2>&1 && sy_fail "$VX6 without an IPv6 underlay address"
ip -n "${PN_NS[kube01]}" addr add "${PN_IP6[kube01]}/64" dev eth0 nodad
sy_wait 30 ip -n "${PN_NS[kube01]}" link show "$VX6" >/dev/null 2>&1 ||
	sy_fail "no $VX6 after the IPv6 address came: $(tail -5 "${PN_LOG[kube01]}")"
sy_log "kube01: IPv6 over $PN_VX without an IPv6 underlay address, $VX6 once it came"
pn_check kube01 kube02:vxlan kube03:vxlan

state6() { # NODE → its IPv6 entries on sy-vx6.1 and IPv6 neighbours on sy-vx.1
	pn_state6 "$1" "$VX6"
	ip -n "${PN_NS[$1]}" -6 neigh show dev "$PN_VX" nud permanent | awk '{print "v4dev-neigh", $1}'
}
expect6() { # NODE PEER[:v4]...
	local node=$1 p name; shift
	for p in "$@"; do
		name=${p%:*}
		if [ "$p" != "${p%:v4}" ]; then	# IPv6 over the IPv4 tunnel
			echo "${PN_SUBNET6[$name]} via ${PN_SUBNET6[$name]%/*} dev $PN_VX onlink"
			echo "v4dev-neigh ${PN_SUBNET6[$name]%/*}"
			continue
		fi
		echo "${PN_SUBNET6[$name]} via ${PN_SUBNET6[$name]%/*} dev $VX6 onlink"
		echo "neigh ${PN_SUBNET6[$name]%/*} lladdr $(pn_mac6 "${PN_IP6[$name]}")"
		echo "fdb $(pn_mac6 "${PN_IP6[$name]}") dst ${PN_IP6[$name]} self permanent"
	done | sort >"$SY_TMP/exp6"
	pn_wait_state6 "$node" state6 "$node"
}
expect6 kube01 kube02 kube03
expect6 kube02 kube01 kube03
link=$(ip -n "${PN_NS[kube01]}" -d link show "$VX6")
echo "$link" | grep -q "mtu 1430 " || sy_fail "$VX6 MTU (want 1500-70): $link"
echo "$link" | grep -q "vxlan id 1 local fd00:10:100::131 dev eth0 .*dstport 8472 nolearning" ||
	sy_fail "$VX6: $link"
echo "$link" | grep -q "link/ether $(pn_mac6 fd00:10:100::131) " || sy_fail "$VX6 MAC: $link"
ip -n "${PN_NS[kube01]}" -6 addr show dev "$VX6" scope global | grep -q "inet6 fd00:10:244:1::/128" ||
	sy_fail "no fd00:10:244:1::/128 on $VX6: $(ip -n "${PN_NS[kube01]}" -6 addr show dev "$VX6")"
[ -z "$(ip -n "${PN_NS[kube01]}" -6 addr show dev "$PN_VX" scope global)" ] ||
	sy_fail "$PN_VX carries an IPv6 address: $(ip -n "${PN_NS[kube01]}" -6 addr show dev "$PN_VX")"
grep -q "FLANNEL_MTU=1430" "$SY_TMP/kube01/subnet.env" || sy_fail "subnet.env: $(cat "$SY_TMP/kube01/subnet.env")"
sy_log "kube01: $VX6 local fd00:10:100::131 MTU 1430 with fd00:10:244:1::/128; FLANNEL_MTU=1430"

pn_pod kube01 a1
pn_pod kube02 b1
pn_pod kube03 c1
[ "$(pn_pod_mtu a1)" = 1430 ] || sy_fail "pod MTU $(pn_pod_mtu a1), want 1430"
ip6of() { $PY -c 'import json,sys; print([i["address"].split("/")[0] for i in json.load(open(sys.argv[1]))["ips"] if ":" in i["address"]][0])' "$SY_TMP/${POD_NODE[$1]}/$1.result"; }
for p in a1 b1 c1; do POD_IP6[$p]=$(ip6of $p) || sy_fail "no IPv6 address for $p"; done
before=$(pn_tx kube01 "$VX6"); before4=$(pn_tx kube01 "$PN_VX")
pn_ping6 a1 b1
pn_ping6 a1 c1
after=$(pn_tx kube01 "$VX6"); after4=$(pn_tx kube01 "$PN_VX")
pn_ping6 c1 b1
pn_ping a1 b1
[ "$after" -ge $((before + 4)) ] || sy_fail "IPv6 pings did not go through $VX6 (tx packets $before → $after)"
[ "$after4" = "$before4" ] || sy_fail "IPv6 pings went through $PN_VX (tx packets $before4 → $after4)"
sy_log "IPv6 pings a1→b1, a1→c1 through $VX6 (tx packets $before → $after; $PN_VX unchanged)"
# the underlay sees UDP 8472 between the nodes' IPv6 addresses
ip netns exec "${PN_NS[kube02]}" ip6tables-legacy -I INPUT -p udp --dport 8472 -s fd00:10:100::131 -d fd00:10:100::132
pn_ping6 a1 b1
n=$(ip netns exec "${PN_NS[kube02]}" ip6tables-legacy -L INPUT -vnx | awk '/udp dpt:8472/{print $1; exit}')
[ "${n:-0}" -ge 2 ] || sy_fail "no vxlan packets over IPv6 fd00:10:100::131 → ::132 seen ($n)"
sy_log "kube02 received $n vxlan-over-IPv6 packets from fd00:10:100::131"
pn_tcp6 c1 b1
ip netns exec "${PN_NS[kube01]}" ping -6 -c 1 -W 2 "${POD_IP6[b1]}" >/dev/null || sy_fail "kube01 → b1 over IPv6"

# drift: a deleted IPv6 FDB entry comes back with the full resync
bridge -n "${PN_NS[kube01]}" fdb del "$(pn_mac6 fd00:10:100::132)" dev "$VX6" dst fd00:10:100::132
expect6 kube01 kube02 kube03
pn_ping6 a1 b1
# kube03 publishes without backend-v6-data (no IPv6 device): IPv6 over the IPv4 tunnel
pn_node6_manifest kube03 "switchyard.io/backend-type: vxlan, switchyard.io/backend-data: '{\"VNI\":1,\"VtepMAC\":\"$(pn_mac 10.10.100.133)\"}'"
expect6 kube01 kube02 kube03:v4
# kube03 leaves: its entries go
rm -f "$PN_M/node-kube03.yaml"
expect6 kube01 kube02
pn_check kube01 kube02:vxlan
pn_ping6 a1 b1
sy_pass "vxlan over an IPv6 underlay: $VX6, routes, neighbours, FDB, traffic"
