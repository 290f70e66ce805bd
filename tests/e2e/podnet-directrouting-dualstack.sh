#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Pod network, vxlan with DirectRouting and dual stack (issue 17): peers on
# the underlay's subnet get direct routes in both families (`ip route` and
# `ip -6 route` via the peer's addresses on eth0, no tunnel entries), and
# IPv6 pod traffic between them does not touch the tunnel (its counters);
# a direct peer without an IPv6 address gets its IPv4 route and a logged
# "no IPv6 route".
. "$(dirname "$0")/podnet-lib.sh"

pn_underlay
pn_netconf '{"Network": "10.111.0.0/16", "EnableIPv6": true, "IPv6Network": "fd00:10:244::/56",
  "Backend": {"Type": "vxlan", "DirectRouting": true}}'
declare -A PN_SUBNET6 PN_IP6
pn6_manifest() { # NAME [with IPv6 InternalIP: 1]
	local name=$1 a6=""
	[ "${2:-1}" = 1 ] && a6="  - {type: InternalIP, address: \"${PN_IP6[$name]}\"}"
	cat >"$PN_M/.node-$name.tmp" <<Y
apiVersion: v1
kind: Node
metadata: {name: $name}
spec: {podCIDR: ${PN_SUBNET[$name]}, podCIDRs: [${PN_SUBNET[$name]}, "${PN_SUBNET6[$name]}"]}
status:
  addresses:
  - {type: InternalIP, address: ${PN_IP[$name]}}
$a6
Y
	mv "$PN_M/.node-$name.tmp" "$PN_M/node-$name.yaml"
}
for n in 1 2; do
	PN_SUBNET6[kube0$n]=fd00:10:244:$n::/64
	PN_IP6[kube0$n]=fd00:10:100::13$n
	pn_node kube0$n 10.10.100.13$n/24 10.111.$n.0/24
	ip -n "${PN_NS[kube0$n]}" addr add "${PN_IP6[kube0$n]}/64" dev eth0 nodad
	ip netns exec "${PN_NS[kube0$n]}" sysctl -qw net.ipv6.conf.all.forwarding=1
	pn6_manifest kube0$n
done
# kube03: only a Node object, IPv4 on-link, no IPv6 address
PN_IP[kube03]=10.10.100.140 PN_SUBNET[kube03]=10.111.3.0/24 PN_SUBNET6[kube03]=fd00:10:244:3::/64
pn6_manifest kube03 0

export PN_PROXY_MODE=${PN_PROXY_MODE:-none}
for n in kube01 kube02; do pn_start "$n"; done
for n in kube01 kube02; do pn_wait_ready "$n"; done
pn_check kube01 kube02:direct kube03:direct
want="fd00:10:244:2::/64 via fd00:10:100::132 dev eth0"
sy_wait 30 sh -c "[ \"\$(ip -n ${PN_NS[kube01]} -6 route show proto 94 | sed -E 's/ metric [0-9]+| pref [a-z]+//g' | awk '{\$1=\$1};1')\" = '$want' ]" ||
	sy_fail "kube01 IPv6 routes: $(ip -n "${PN_NS[kube01]}" -6 route show proto 94); $(tail -5 "${PN_LOG[kube01]}")"
[ -z "$(ip -n "${PN_NS[kube01]}" -6 neigh show dev "$PN_VX" nud permanent)" ] || sy_fail "IPv6 tunnel neighbours for direct peers"
grep -q "pod network: node kube03: has no IPv6 address (public-ipv6 annotation or IPv6 InternalIP); no IPv6 route" \
	"${PN_LOG[kube01]}" || sy_fail "kube03 without IPv6 not reported: $(grep kube03 "${PN_LOG[kube01]}")"
sy_log "kube01: ip -6 route proto 94 = $want; kube03 (no IPv6) reported"

pn_pod kube01 a1
pn_pod kube02 b1
b6=$($PY -c 'import json,sys; print([i["address"].split("/")[0] for i in json.load(open(sys.argv[1]))["ips"] if ":" in i["address"]][0])' "$SY_TMP/kube02/b1.result")
tx() { ip -n "${PN_NS[kube01]}" -s link show "$PN_VX" | awk '/TX:/{getline; print $2}'; }
before=$(tx)
ok=
for i in 1 2 3 4 5 6 7 8 9 10; do
	ip netns exec "${POD_NS[a1]}" ping -6 -c 3 -i 0.2 -W 2 "$b6" >/dev/null 2>&1 && { ok=1; break; }
	sleep 0.5
done
[ -n "$ok" ] || sy_fail "ping -6 a1 → b1 ($b6) failed"
pn_ping a1 b1
[ "$(tx)" = "$before" ] || sy_fail "direct IPv6/IPv4 traffic went through $PN_VX (tx $before → $(tx))"
sy_pass "DirectRouting in both families: direct IPv6 route, pods talk, tunnel untouched"
