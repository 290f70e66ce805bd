#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Pod network, dual stack over the vxlan backend (issue 17): IPv6 pods ride
# the IPv4 tunnel sy-vx.1 (the underlay is IPv4 only here).  Per peer, next
# to the IPv4 route/neighbour/FDB entry: `ip -6 route` "peer IPv6 subnet via
# its first address dev sy-vx.1 onlink" and `ip -6 neigh` of that address
# with the peer's VTEP MAC (the FDB entry is shared); the device carries
# this node's IPv6 subnet address /128 (`ip -d link`, `ip -6 addr`).  Real
# IPv6 traffic between pods on three nodes, counted on the tunnel; the pod's
# IPv6 source kept; a deleted IPv6 neighbour repaired by the full resync; a
# leaving node's IPv6 entries removed.
. "$(dirname "$0")/podnet-lib.sh"

pn_underlay
pn_netconf '{"Network": "10.111.0.0/16", "EnableIPv6": true, "IPv6Network": "fd00:10:244::/56"}'
declare -A PN_SUBNET6
pn6_manifest() {
	local name=$1
	cat >"$PN_M/.node-$name.tmp" <<Y
apiVersion: v1
kind: Node
metadata: {name: $name}
spec: {podCIDR: ${PN_SUBNET[$name]}, podCIDRs: [${PN_SUBNET[$name]}, "${PN_SUBNET6[$name]}"]}
status:
  addresses:
  - {type: InternalIP, address: ${PN_IP[$name]}}
Y
	mv "$PN_M/.node-$name.tmp" "$PN_M/node-$name.yaml"
}
for n in 1 2 3; do
	PN_SUBNET6[kube0$n]=fd00:10:244:$n::/64
	pn_node kube0$n 10.10.100.13$n/24 10.111.$n.0/24
	ip netns exec "${PN_NS[kube0$n]}" sysctl -qw net.ipv6.conf.all.forwarding=1
	pn6_manifest kube0$n
done
export PN_PROXY_MODE=${PN_PROXY_MODE:-none}
for n in kube01 kube02 kube03; do pn_start "$n" --sync-period 2s; done
for n in kube01 kube02 kube03; do pn_wait_ready "$n"; done
sy_wait 30 grep -qx "FLANNEL_IPV6_SUBNET=fd00:10:244:1::1/64" "$SY_TMP/kube01/subnet.env" ||
	sy_fail "subnet.env: $(cat "$SY_TMP/kube01/subnet.env"); log: $(tail -5 "${PN_LOG[kube01]}")"
pn_check kube01 kube02:vxlan kube03:vxlan

state6() { # NODE → its IPv6 routes and neighbours on the tunnel, normalised
	ip -n "${PN_NS[$1]}" -6 route show proto 94 | sed -E 's/ metric [0-9]+| pref [a-z]+//g' | awk '{$1=$1};1'
	ip -n "${PN_NS[$1]}" -6 neigh show dev "$PN_VX" nud permanent | awk '{print "neigh", $1, $2, $3}'
}
expect6() { # NODE PEER...
	local node=$1 p; shift
	for p in "$@"; do
		echo "${PN_SUBNET6[$p]} via ${PN_SUBNET6[$p]%/*} dev $PN_VX onlink"
		echo "neigh ${PN_SUBNET6[$p]%/*} lladdr $(pn_mac "${PN_IP[$p]}")"
	done | sort >"$SY_TMP/exp6"
	sy_wait 30 sh -c "[ \"\$(. '$SY_TMP/state6.sh'; state6 | sort)\" = \"\$(cat '$SY_TMP/exp6')\" ]" || {
		echo "--- $node:"; state6 "$node"; ip -n "${PN_NS[$node]}" -6 neigh show dev "$PN_VX"; ip -n "${PN_NS[$node]}" -6 route show dev "$PN_VX"; grep -c repaired "${PN_LOG[$node]}"; grep repaired "${PN_LOG[$node]}" | tail -2; echo "--- expected:"; cat "$SY_TMP/exp6"
		echo "--- log:"; tail -n 20 "${PN_LOG[$node]}"
		sy_fail "$node: IPv6 tunnel entries do not match"
	} >&2
	sy_log "$node: $(tr '\n' ';' <"$SY_TMP/exp6")"
}
# state6 for the sh -c above, bound to one node each time
mk_state6() { printf 'state6() { ip -n %s -6 route show proto 94 | sed -E "s/ metric [0-9]+| pref [a-z]+//g" | awk "{\\$1=\\$1};1"; ip -n %s -6 neigh show dev %s nud permanent | awk "{print \\"neigh\\", \\$1, \\$2, \\$3}"; }\n' \
	"${PN_NS[$1]}" "${PN_NS[$1]}" "$PN_VX" >"$SY_TMP/state6.sh"; }
mk_state6 kube01; expect6 kube01 kube02 kube03
mk_state6 kube03; expect6 kube03 kube01 kube02
ip -n "${PN_NS[kube01]}" -6 addr show dev "$PN_VX" scope global | grep -q "inet6 fd00:10:244:1::/128" ||
	sy_fail "no fd00:10:244:1::/128 on $PN_VX: $(ip -n "${PN_NS[kube01]}" -6 addr show dev "$PN_VX")"
ip -n "${PN_NS[kube01]}" -d link show "$PN_VX" | grep -q "vxlan id 1 local 10.10.100.131" ||
	sy_fail "$PN_VX: $(ip -n "${PN_NS[kube01]}" -d link show "$PN_VX")"

pn_pod kube01 a1
pn_pod kube02 b1
pn_pod kube03 c1
ip6of() { $PY -c 'import json,sys; print([i["address"].split("/")[0] for i in json.load(open(sys.argv[1]))["ips"] if ":" in i["address"]][0])' "$SY_TMP/${POD_NODE[$1]}/$1.result"; }
for p in a1 b1 c1; do POD_IP6[$p]=$(ip6of $p) || sy_fail "no IPv6 address for $p"; done
tx() { ip -n "${PN_NS[kube01]}" -s link show "$PN_VX" | awk '/TX:/{getline; print $2}'; }
before=$(tx)
pn_ping6 a1 b1
pn_ping6 a1 c1
after=$(tx)
pn_ping6 c1 b1
pn_ping a1 b1
[ "$after" -ge $((before + 4)) ] || sy_fail "IPv6 pings did not go through $PN_VX (tx packets $before → $after)"
sy_log "IPv6 pings a1→b1, a1→c1 through $PN_VX (tx packets $before → $after)"
pn_tcp6 c1 b1
# the node itself reaches a remote pod over IPv6 (source: its tunnel address)
ip netns exec "${PN_NS[kube01]}" ping -6 -c 1 -W 2 "${POD_IP6[b1]}" >/dev/null || sy_fail "kube01 → b1 over IPv6"

# drift: a deleted IPv6 neighbour comes back with the full resync
ip -n "${PN_NS[kube01]}" -6 neigh del fd00:10:244:2:: dev "$PN_VX"
mk_state6 kube01; expect6 kube01 kube02 kube03
pn_ping6 a1 b1
# kube03 leaves: its IPv6 route and neighbour go
rm -f "$PN_M/node-kube03.yaml"
expect6 kube01 kube02
pn_check kube01 kube02:vxlan
pn_ping6 a1 b1
sy_pass "IPv6 pods over the IPv4 vxlan tunnel: routes, neighbours, traffic"
