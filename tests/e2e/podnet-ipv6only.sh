#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Pod network, IPv6 only (issue 17): net-conf with EnableIPv4 false,
# host-gw; Nodes with an IPv6 podCIDR and IPv6 InternalIP only.  subnet.env
# carries flannel's IPv6 keys only, the conflist one IPv6 range, pods get
# an IPv6 address only; `ip -6 route show proto 94` per peer and no IPv4
# route; pods ping each other across nodes; IPv6 egress is masqueraded to
# the node's address (ip6tables) while no iptables chain is written; a peer
# without an IPv6 podCIDR is left out.
. "$(dirname "$0")/podnet-lib.sh"

pn_underlay
pn_netconf '{"EnableIPv4": false, "EnableIPv6": true, "IPv6Network": "fd00:10:244::/56",
  "Backend": {"Type": "host-gw"}}'
declare -A PN_IP6 PN_SUBNET6
v6node() { # NAME N
	local name=$1 n=$2
	PN_IP6[$name]=fd00:10:100::13$n
	PN_SUBNET6[$name]=fd00:10:244:$n::/64
	pn_node "$name" 10.10.100.13$n/24 -
	ip -n "${PN_NS[$name]}" addr add "${PN_IP6[$name]}/64" dev eth0 nodad
	ip netns exec "${PN_NS[$name]}" sysctl -qw net.ipv6.conf.all.forwarding=1
	cat >"$PN_M/node-$name.yaml" <<Y
apiVersion: v1
kind: Node
metadata: {name: $name}
spec: {podCIDRs: ["${PN_SUBNET6[$name]}"]}
status:
  addresses:
  - {type: InternalIP, address: "${PN_IP6[$name]}"}
Y
}
v6node kube01 1
v6node kube02 2
v6node kube03 3
cat >"$PN_M/node-kube04.yaml" <<Y
apiVersion: v1
kind: Node
metadata: {name: kube04}
spec: {}
status:
  addresses:
  - {type: InternalIP, address: "fd00:10:100::140"}
Y
sy_mkns NET internet
sy_veth "$NET" eth0 - "$PN_UL" pinet -
ip -n "$PN_UL" link set pinet master br0
ip -n "$NET" addr add fd00:10:100::250/64 dev eth0 nodad
sy_bg "$NET" "$SY_TMP/echo-net.log" "$PY" "$SY_SRC/tests/lib/echo_server.py" --proto tcp --port 8000 --name internet --bind ::

export PN_PROXY_MODE=${PN_PROXY_MODE:-none}
for n in kube01 kube02 kube03; do pn_start "$n"; done
for n in kube01 kube02 kube03; do pn_wait_ready "$n"; done
printf 'FLANNEL_IPV6_NETWORK=fd00:10:244::/56\nFLANNEL_IPV6_SUBNET=fd00:10:244:1::1/64\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=true\n' >"$SY_TMP/exp.env"
diff "$SY_TMP/exp.env" "$SY_TMP/kube01/subnet.env" >/dev/null || sy_fail "subnet.env: $(cat "$SY_TMP/kube01/subnet.env")"
$PY - "$SY_TMP/kube01/cni/10-switchyard.conflist" <<'P' || sy_fail "conflist: $(cat "$SY_TMP/kube01/cni/10-switchyard.conflist")"
import json, sys
ipam = json.load(open(sys.argv[1]))["plugins"][0]["ipam"]
assert [r[0]["subnet"] for r in ipam["ranges"]] == ["fd00:10:244:1::/64"], ipam
assert [r["dst"] for r in ipam["routes"]] == ["::/0"], ipam
P
for node in kube01 kube02; do
	for p in kube01 kube02 kube03; do
		[ $p = $node ] || echo "${PN_SUBNET6[$p]} via ${PN_IP6[$p]} dev eth0"
	done | sort >"$SY_TMP/exp6"
	sy_wait 30 sh -c "[ \"\$(ip -n ${PN_NS[$node]} -6 route show proto 94 | sed -E 's/ metric [0-9]+| pref [a-z]+//g' | awk '{\$1=\$1};1' | sort)\" = \"\$(cat $SY_TMP/exp6)\" ]" ||
		sy_fail "$node IPv6 routes: $(ip -n "${PN_NS[$node]}" -6 route show proto 94); want $(cat "$SY_TMP/exp6"); $(tail -5 "${PN_LOG[$node]}")"
	[ -z "$(ip -n "${PN_NS[$node]}" route show proto 94)" ] || sy_fail "$node has IPv4 routes of ours"
done
sy_log "kube01/kube02: ip -6 route proto 94 per peer, no IPv4 route"
ip netns exec "${PN_NS[kube01]}" iptables-legacy-save | grep -q SY-PODNET && sy_fail "IPv4 chains written in an IPv6-only pod network"
ip netns exec "${PN_NS[kube01]}" ip6tables-legacy-save -t nat | grep -qx -- "-A SY-PODNET-MASQ -s fd00:10:244::/56 -j MASQUERADE --random-fully" ||
	sy_fail "no ip6tables masquerade"

pn_pod kube01 a1
pn_pod kube02 b1
pn_pod kube03 c1
case ${POD_IP[a1]} in fd00:10:244:1:*) ;; *) sy_fail "a1 got ${POD_IP[a1]}" ;; esac
[ "$(ip -n "${POD_NS[a1]}" -4 addr show dev eth0 | grep -c inet)" = 0 ] || sy_fail "a1 got an IPv4 address"
pn_ping6 a1 b1
pn_ping6 a1 c1
pn_ping6 c1 b1
ans=$(sy_ask "${POD_NS[b1]}" tcp fd00:10:100::250 8000)
[ "$ans" = "internet ${PN_IP6[kube02]}" ] || sy_fail "IPv6 egress: \"$ans\", want from ${PN_IP6[kube02]}"
sy_pass "IPv6-only host-gw: files, routes, pods, egress"
