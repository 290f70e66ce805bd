#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Dual-stack pod network (host-gw) with a Kubernetes API (the API server
# double): the Nodes in the API carry an IPv4 InternalIP only and both
# podCIDRs; each node finds its IPv6 underlay address on its interface and
# PATCHes switchyard.io/public-ipv6 next to the IPv4 annotations; the peer
# learns the IPv6 route from that annotation alone (`ip -6 route`), and the
# pods talk over IPv6.  A node whose Node lacks an IPv6 podCIDR reports it
# and keeps IPv4 working.  With PN_API_BACKEND=vxlan (podnet-apiserver-vxlan6.sh):
# each node PATCHes switchyard.io/backend-v6-data with its sy-vx6.1's MAC,
# and the peer's IPv6 route, neighbour and FDB entry (to its public-ipv6)
# on sy-vx6.1 carry that MAC.
. "$(dirname "$0")/podnet-lib.sh"
BACKEND=${PN_API_BACKEND:-host-gw}

pn_underlay
ip -n "$PN_UL" addr add 10.10.100.1/24 dev br0
pn_netconf '{"Network": "10.111.0.0/16", "EnableIPv6": true, "IPv6Network": "fd00:10:244::/56",
  "Backend": {"Type": "'"$BACKEND"'"}}'
pn_node kube01 10.10.100.133/24 10.111.1.0/24
pn_node kube02 10.10.100.134/24 10.111.2.0/24
rm -f "$PN_M"/node-*.yaml	# this test's Nodes live in the API
for n in kube01 kube02; do
	ip -n "${PN_NS[$n]}" addr add "fd00:10:100::${PN_IP[$n]##*.}/64" dev eth0 nodad
	ip netns exec "${PN_NS[$n]}" sysctl -qw net.ipv6.conf.all.forwarding=1
done

sy_bg "$PN_UL" "$SY_TMP/apiserver.log" "$PY" "$SY_SRC/tests/apiserver/apiserver.py" \
	--listen 10.10.100.1:0 --port-file "$SY_TMP/api.port"
sy_wait 30 test -s "$SY_TMP/api.port" || sy_fail "API double: $(tail -5 "$SY_TMP/apiserver.log")"
API=http://10.10.100.1:$(cat "$SY_TMP/api.port")
api() { ip netns exec "$PN_UL" curl -sf "$@"; }
api -X POST --data-binary @- "$API/_control/load" >/dev/null <<J || sy_fail "load Nodes"
[{"apiVersion":"v1","kind":"Node","metadata":{"name":"kube01"},
  "spec":{"podCIDR":"10.111.1.0/24","podCIDRs":["10.111.1.0/24","fd00:10:244:1::/64"]},
  "status":{"addresses":[{"type":"InternalIP","address":"10.10.100.133"}]}},
 {"apiVersion":"v1","kind":"Node","metadata":{"name":"kube02"},
  "spec":{"podCIDR":"10.111.2.0/24","podCIDRs":["10.111.2.0/24"]},
  "status":{"addresses":[{"type":"InternalIP","address":"10.10.100.134"}]}}]
J
cat >"$SY_TMP/kubeconfig" <<Y
apiVersion: v1
kind: Config
current-context: t
contexts: [{name: t, context: {cluster: c, user: u}}]
clusters: [{name: c, cluster: {server: "$API"}}]
users: [{name: u, user: {token: anything}}]
Y
for n in kube01 kube02; do
	PN_LOG[$n]=$SY_TMP/$n/switchyard.log
	sy_bg "${PN_NS[$n]}" "${PN_LOG[$n]}" "$SWITCHYARD" --pod-network \
		--net-conf "$SY_TMP/net-conf.json" --kubeconfig "$SY_TMP/kubeconfig" \
		--hostname-override "$n" --proxy-mode=none \
		--subnet-file "$SY_TMP/$n/subnet.env" --cni-conf-dir "$SY_TMP/$n/cni" \
		--healthz-bind-address= --metrics-bind-address= -v 2
done
pn_wait_ready kube01
pn_wait_ready kube02
# kube02 has no IPv6 podCIDR yet: reported, IPv4 works
sy_wait 30 grep -q 'pod network: node "kube02" IPv6 pod cidr not assigned' "${PN_LOG[kube02]}" ||
	sy_fail "kube02: missing IPv6 podCIDR not reported: $(tail -5 "${PN_LOG[kube02]}")"
grep -q FLANNEL_IPV6 "$SY_TMP/kube02/subnet.env" && sy_fail "kube02 wrote IPv6 keys without an IPv6 podCIDR"
pn_check kube01 kube02:$([ "$BACKEND" = vxlan ] && echo vxlan || echo direct)

node_ann() { api "$API/api/v1/nodes/$1" | "$PY" -c "import json,sys; print(json.load(sys.stdin)['metadata'].get('annotations',{}).get('$2',''))"; }
sy_wait 30 sh -c "ip netns exec $PN_UL curl -sf $API/api/v1/nodes/kube01 | grep -q switchyard.io/public-ipv6" ||
	sy_fail "kube01 did not publish public-ipv6: $(api "$API/api/v1/nodes/kube01")"
[ "$(node_ann kube01 switchyard.io/public-ipv6)" = fd00:10:100::133 ] || sy_fail "public-ipv6 $(node_ann kube01 switchyard.io/public-ipv6)"
[ "$(node_ann kube01 switchyard.io/public-ip)" = 10.10.100.133 ] || sy_fail "public-ip"
[ -z "$(node_ann kube02 switchyard.io/public-ipv6)" ] || sy_fail "kube02 published public-ipv6 without IPv6"

# the API assigns kube02's IPv6 podCIDR: it publishes its IPv6 address, kube01 routes to it
api -X PATCH -H "Content-Type: application/merge-patch+json" \
	--data '{"spec":{"podCIDRs":["10.111.2.0/24","fd00:10:244:2::/64"]}}' \
	"$API/api/v1/nodes/kube02" >/dev/null || sy_fail "PATCH podCIDRs"
sy_wait 30 grep -qx "FLANNEL_IPV6_SUBNET=fd00:10:244:2::1/64" "$SY_TMP/kube02/subnet.env" ||
	sy_fail "kube02 subnet.env: $(cat "$SY_TMP/kube02/subnet.env")"
want1="fd00:10:244:2::/64 via fd00:10:100::134 dev eth0"
want2="fd00:10:244:1::/64 via fd00:10:100::133 dev eth0"
if [ "$BACKEND" = vxlan ]; then
	want1="fd00:10:244:2::/64 via fd00:10:244:2:: dev sy-vx6.1"
	want2="fd00:10:244:1::/64 via fd00:10:244:1:: dev sy-vx6.1"
	vtep() { ip -n "${PN_NS[$1]}" -o link show sy-vx6.1 | sed -n 's|.* link/ether \([0-9a-f:]*\) .*|\1|p'; }
	for n in kube01 kube02; do
		sy_wait 30 sh -c "ip netns exec $PN_UL curl -sf $API/api/v1/nodes/$n | grep -q backend-v6-data" ||
			sy_fail "$n did not publish backend-v6-data: $(api "$API/api/v1/nodes/$n")"
		[ "$(node_ann $n switchyard.io/backend-v6-data)" = "{\"VNI\":1,\"VtepMAC\":\"$(vtep $n)\"}" ] ||
			sy_fail "$n backend-v6-data $(node_ann $n switchyard.io/backend-v6-data), device MAC $(vtep $n)"
	done
	fdb="$(vtep kube02) dst fd00:10:100::134 self permanent"
	sy_wait 30 sh -c "bridge -n ${PN_NS[kube01]} fdb show dev sy-vx6.1 | grep -q '^$fdb'" ||
		sy_fail "kube01: no FDB entry $fdb: $(bridge -n "${PN_NS[kube01]}" fdb show dev sy-vx6.1)"
	ip -n "${PN_NS[kube01]}" -6 neigh show dev sy-vx6.1 | grep -q "^fd00:10:244:2:: lladdr $(vtep kube02) PERMANENT" ||
		sy_fail "kube01: neighbour $(ip -n "${PN_NS[kube01]}" -6 neigh show dev sy-vx6.1)"
	sy_log "backend-v6-data published with each sy-vx6.1 MAC; kube01: fdb $fdb"
fi
sy_wait 30 sh -c "ip -n ${PN_NS[kube01]} -6 route show proto 94 | grep -q '^$want1 '" ||
	sy_fail "kube01: no IPv6 route from kube02's public-ipv6: $(ip -n "${PN_NS[kube01]}" -6 route show proto 94); $(tail -5 "${PN_LOG[kube01]}")"
sy_wait 30 sh -c "ip -n ${PN_NS[kube02]} -6 route show proto 94 | grep -q '^$want2 '" ||
	sy_fail "kube02: no IPv6 route to kube01: $(ip -n "${PN_NS[kube02]}" -6 route show proto 94)"
sy_log "ip -6 route: kube01 $want1; kube02 $want2 (from the public-ipv6 annotations)"

pn_pod kube01 a1
pn_pod kube02 b1
ip6of() { $PY -c 'import json,sys; print([i["address"].split("/")[0] for i in json.load(open(sys.argv[1]))["ips"] if ":" in i["address"]][0])' "$SY_TMP/${POD_NODE[$1]}/$1.result"; }
b6=$(ip6of b1) || sy_fail "b1 has no IPv6 address"
ok=
for i in 1 2 3 4 5 6 7 8 9 10; do
	ip netns exec "${POD_NS[a1]}" ping -6 -c 2 -i 0.2 -W 2 "$b6" >/dev/null 2>&1 && { ok=1; break; }
	sleep 0.5
done
[ -n "$ok" ] || sy_fail "ping -6 a1 → b1 ($b6) failed"
pn_ping a1 b1
sy_pass "public-ipv6 published and used; pods talk over IPv6 and IPv4"
