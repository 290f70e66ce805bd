#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The daemon against the API server double (HTTPS with a test CA + bearer token):
# paginated initial LIST (1200 Services > limit 500), watch events driven by
# the real kubectl (create / replace / delete / patch), bookmarks advancing
# the resourceVersion, only this Node watched (fieldSelector).
. "$(dirname "$0")/../lib/common.sh"
. "$SY_SRC/tests/apiserver/lib.sh"

k8s_init
k8s_certs
k8s_api --tls-cert "$K8S_PKI/server.crt" --tls-key "$K8S_PKI/server.key" --token s3cr3t \
	--bookmark-interval 0.3
K8S_KUBECONFIG=$SY_TMP/kubeconfig
k8s_kubeconfig "$K8S_KUBECONFIG" "$K8S_URL" "    certificate-authority: pki/ca.crt" \
	"    token: s3cr3t"

k8s_bulk 1200 >"$SY_TMP/bulk.json"
k8s_ctl load "" "@$SY_TMP/bulk.json" >/dev/null || sy_fail "bulk load"
# kubectl drives the double like a real API server
k8s_node | kc create --validate=false -f - >/dev/null || sy_fail "kubectl create node"
k8s_node node-other 10.0.0.2 | kc create --validate=false -f - >/dev/null || sy_fail "node-other"
k8s_svc web 10.96.0.10 | kc create --validate=false -f - >/dev/null || sy_fail "kubectl create svc"
k8s_slice web-1 web 10.244.9.5 | kc create --validate=false -f - >/dev/null ||
	sy_fail "kubectl create slice"
[ "$(kc get svc web -o jsonpath='{.spec.clusterIP}')" = 10.96.0.10 ] || sy_fail "kubectl get"

# the first continue token expires between two pages (as after a compaction):
# the daemon restarts the list from the beginning
k8s_ctl expire-continue "n=1&resource=services" >/dev/null
k8s_daemon
k8s_need_state
k8s_wait_state 20 "len(svcs()) == 1201 and eps('default/web') == ['10.244.9.5:8080'] \
	and eps('default/bulk-1199') == ['10.244.11.199:8080', '10.244.11.200:8080']" ||
	sy_fail "initial list incomplete"
grep -q "Services list: continue token expired (HTTP 410 Expired: The provided continue" \
	"$SY_TMP/daemon.log" || sy_fail "expired continue token not logged"
# the first sync waits for the complete lists (kube-proxy: the informers'
# HasSynced), page 1 applied, then the 410, then pages 1-3 again: no sync
# ever saw part of them
sy_wait 20 grep -q "First sync complete" "$SY_TMP/daemon.log" || sy_fail "no first sync"
grep -q "First sync complete: 1201 Service ports" "$SY_TMP/daemon.log" ||
	sy_fail "first sync before the lists were complete: $(grep 'First sync complete' "$SY_TMP/daemon.log")"
sy_log "initial LIST: 1201 Services"

# pagination: the Services list took 3 pages with continue tokens
k8s_get requests >"$SY_TMP/req.json"
"$PY" - "$SY_TMP/req.json" <<'EOF' || sy_fail "LIST was not paginated as expected"
import json, sys
reqs = [r for r in json.load(open(sys.argv[1])) if r['ua'].startswith('switchyard')]
lists = [r for r in reqs if r['path'] == '/api/v1/services' and 'watch' not in r['query']]
# page 1, page 2 → 410 Expired, then page 1, 2, 3 again
assert [('continue' in r['query'], r['status']) for r in lists] == \
    [(False, 200), (True, 410), (False, 200), (True, 200), (True, 200)], lists
assert all(r['query'].get('limit') == '500' for r in lists), lists
assert all(r['auth'] == 'token' for r in reqs), 'unauthenticated request'
nodes = [r for r in reqs if r['path'] == '/api/v1/nodes']
assert nodes and all(r['query'].get('fieldSelector') == 'metadata.name=node-a' for r in nodes), nodes
es = [r for r in reqs if r['path'] == '/apis/discovery.k8s.io/v1/endpointslices']
assert all(r['query'].get('labelSelector') ==
           '!service.kubernetes.io/headless,!service.kubernetes.io/service-proxy-name'
           for r in es), es
w = [r for r in reqs if r['query'].get('watch') == '1']
assert len(w) >= 3 and all(r['query'].get('allowWatchBookmarks') == 'true' and
                           300 <= int(r['query']['timeoutSeconds']) <= 600 for r in w), w
EOF

# watch events through kubectl
k8s_slice web-1 web 10.244.9.5 10.244.9.6 | kc replace --validate=false -f - >/dev/null ||
	sy_fail "kubectl replace"
k8s_wait_state 30 "eps('default/web') == ['10.244.9.5:8080', '10.244.9.6:8080']" ||
	sy_fail "replace not seen"
k8s_svc api 10.96.0.11 8443 | kc create --validate=false -f - >/dev/null
k8s_slice api-1 api 10.244.9.7 | kc create --validate=false -f - >/dev/null
k8s_wait_state 30 "cip('default/api') == '10.96.0.11' and eps('default/api') == ['10.244.9.7:8080']" ||
	sy_fail "create not seen"
kc delete endpointslice web-1 --wait=false >/dev/null || sy_fail "delete slice"
k8s_wait_state 30 "eps('default/web') == []" || sy_fail "slice delete not seen"
k8s_svc web 10.96.0.10 | kc delete -f - >/dev/null || sy_fail "kubectl delete svc"
k8s_wait_state 30 "cip('default/web') is None and len(svcs()) == 1201" || sy_fail "svc delete not seen"
# a slice whose label marks another proxy is filtered by the label selector
k8s_slice api-2 api 10.244.9.8 | sed 's|^  labels:|  labels:\n    service.kubernetes.io/service-proxy-name: other|' |
	kc create --validate=false -f - >/dev/null
kc patch node "$K8S_NODE" -p '{"metadata":{"labels":{"topology.kubernetes.io/zone":"z1"}}}' \
	>/dev/null || sy_fail "kubectl patch node"
k8s_wait_state 30 "s['node']['zone'] == 'z1'" || sy_fail "node patch not seen"
k8s_check "eps('default/api') == ['10.244.9.7:8080']" || sy_fail "service-proxy-name slice used"

# bookmarks: the Nodes watch sees no Node event when Services change, but its
# resourceVersion advances through bookmarks; after a cut it resumes there.
k8s_svc late 10.96.0.12 | kc create --validate=false -f - >/dev/null
rv=$(k8s_get state | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["resourceVersion"])')
# (a loaded machine may deliver the first bookmark late: cut again, up to 5 times;
# a daemon that ignores bookmarks resumes below rv every time)
rewatch_rv_ok() {
	k8s_get requests | "$PY" -c '
import json, sys
rv = int(sys.argv[1])
w = [r for r in json.load(sys.stdin) if r["path"] == "/api/v1/nodes" and r["query"].get("watch")]
assert w, "no Nodes rewatch"
got = int(w[0]["query"]["resourceVersion"])
assert got >= rv, "rewatch from %d, bookmarks were at %d" % (got, rv)
' "$rv"
}
for try in 1 2 3 4 5; do
	sleep 1		# > 3 bookmark intervals
	k8s_ctl requests clear=1 >/dev/null
	k8s_ctl drop "resource=nodes" >/dev/null
	sy_wait 30 k8s_req_grep '"/api/v1/nodes"' ||
		sy_fail "Nodes watch did not come back"
	rewatch_rv_ok 2>/dev/null && break
	[ $try -lt 5 ] || { rewatch_rv_ok; sy_fail "bookmark did not advance the Nodes resourceVersion"; }
done
grep -q "Nodes watch: MODIFIED" "$SY_TMP/daemon.log" || sy_fail "no Node event logged"
k8s_wait_state 30 "cip('default/late') == '10.96.0.12'" || sy_fail "late svc"
sy_pass "paginated list, kubectl-driven watch events, bookmarks"
