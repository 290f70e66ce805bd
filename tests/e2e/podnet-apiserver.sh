#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Pod network with a Kubernetes API (the API server double on the underlay,
# 10.10.100.1): each node PATCHes its annotations (switchyard.io/backend-type,
# backend-data with the VTEP MAC its device really has, public-ip); a node
# whose podCIDR is unassigned reports it and is wired up as soon as the API
# assigns one (peers learn it through their Node watch); pods then talk.
. "$(dirname "$0")/podnet-lib.sh"

pn_underlay
ip -n "$PN_UL" addr add 10.10.100.1/24 dev br0
pn_netconf '{"Network": "10.111.0.0/16", "Backend": {"Type": "vxlan"}}'
pn_node kube01 10.10.100.133/24 10.111.1.0/24
pn_node kube02 10.10.100.134/24 -
rm -f "$PN_M"/node-*.yaml	# this test's Nodes live in the API

sy_bg "$PN_UL" "$SY_TMP/apiserver.log" "$PY" "$SY_SRC/tests/apiserver/apiserver.py" \
	--listen 10.10.100.1:0 --port-file "$SY_TMP/api.port"
sy_wait 30 test -s "$SY_TMP/api.port" || sy_fail "API double: $(tail -5 "$SY_TMP/apiserver.log")"
API=http://10.10.100.1:$(cat "$SY_TMP/api.port")
api() { ip netns exec "$PN_UL" curl -sf "$@"; }
api -X POST --data-binary @- "$API/_control/load" >/dev/null <<J || sy_fail "load Nodes"
[{"apiVersion":"v1","kind":"Node","metadata":{"name":"kube01"},"spec":{"podCIDR":"10.111.1.0/24"},
  "status":{"addresses":[{"type":"InternalIP","address":"10.10.100.133"}]}},
 {"apiVersion":"v1","kind":"Node","metadata":{"name":"kube02"},"spec":{},
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
		--hostname-override "$n" --proxy-mode="${PN_PROXY_MODE:-iptables}" \
		--subnet-file "$SY_TMP/$n/subnet.env" --cni-conf-dir "$SY_TMP/$n/cni" \
		--healthz-bind-address= --metrics-bind-address=127.0.0.1:10249 -v 2
done
pn_wait_ready kube01
sy_wait 30 grep -q 'pod network: node "kube02" pod cidr not assigned' "${PN_LOG[kube02]}" ||
	sy_fail "kube02: unassigned podCIDR not reported: $(tail -5 "${PN_LOG[kube02]}")"

# kube01 published what peers need
node_ann() { api "$API/api/v1/nodes/$1" | "$PY" -c "import json,sys; print(json.load(sys.stdin)['metadata'].get('annotations',{}).get('$2',''))"; }
mac=$(ip -n "${PN_NS[kube01]}" -j link show "$PN_VX" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')
sy_wait 30 sh -c "[ \"\$(ip netns exec $PN_UL curl -sf $API/api/v1/nodes/kube01 | grep -c switchyard.io/public-ip)\" = 1 ]" ||
	sy_fail "kube01 did not publish its annotations: $(api "$API/api/v1/nodes/kube01")"
[ "$(node_ann kube01 switchyard.io/backend-type)" = vxlan ] || sy_fail "backend-type"
[ "$(node_ann kube01 switchyard.io/public-ip)" = 10.10.100.133 ] || sy_fail "public-ip"
[ "$(node_ann kube01 switchyard.io/backend-data)" = "{\"VNI\":1,\"VtepMAC\":\"$mac\"}" ] ||
	sy_fail "backend-data $(node_ann kube01 switchyard.io/backend-data), device MAC $mac"
api "$API/_control/requests" | grep -q "PATCH" || sy_fail "no PATCH request seen"

# the API assigns kube02's podCIDR: kube02 sets up, kube01 learns the route
api -X PATCH -H "Content-Type: application/merge-patch+json" \
	--data '{"spec":{"podCIDR":"10.111.2.0/24","podCIDRs":["10.111.2.0/24"]}}' \
	"$API/api/v1/nodes/kube02" >/dev/null || sy_fail "PATCH podCIDR"
PN_SUBNET[kube02]=10.111.2.0/24
pn_wait_ready kube02
pn_check kube01 kube02:vxlan
pn_check kube02 kube01:vxlan
sy_wait 30 sh -c "ip netns exec $PN_UL curl -sf $API/api/v1/nodes/kube02 | grep -q switchyard.io/backend-data" ||
	sy_fail "kube02 did not publish"
pn_pod kube01 a1
pn_pod kube02 b1
pn_ping a1 b1
pn_ping b1 a1
# the patches are not repeated once the watch shows them
sleep 2
n=$(api "$API/_control/requests" | "$PY" -c 'import json,sys
r = json.load(sys.stdin)
r = r.get("requests", r) if isinstance(r, dict) else r
print(sum(1 for e in r if e["method"] == "PATCH" and e["path"].endswith("/nodes/kube01")))')
[ "$n" -ge 1 ] && [ "$n" -le 2 ] || sy_fail "kube01 patched its Node $n times (want 1, at most 2)"
sy_pass
