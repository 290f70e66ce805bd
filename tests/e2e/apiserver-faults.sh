#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Faults between the daemon and the API server double: watch streams cut
# mid-event, truncated and malformed events, a bad object, 500s with
# backoff and recovery, a stall, and a compaction (410 Expired) while the
# daemon is away, after which the relisted state matches the server.
. "$(dirname "$0")/../lib/common.sh"
. "$SY_SRC/tests/apiserver/lib.sh"

k8s_init
k8s_certs
k8s_api --tls-cert "$K8S_PKI/server.crt" --tls-key "$K8S_PKI/server.key" --token t0k
K8S_KUBECONFIG=$SY_TMP/kubeconfig
k8s_kubeconfig "$K8S_KUBECONFIG" "$K8S_URL" "    certificate-authority: $K8S_PKI/ca.crt" \
	"    token: t0k"

for i in 1 2 3; do
	k8s_svc s$i 10.96.1.$i | kc create --validate=false -f - >/dev/null || sy_fail "create s$i"
	k8s_slice s$i-a s$i 10.244.1.$i | kc create --validate=false -f - >/dev/null
done
k8s_node | kc create --validate=false -f - >/dev/null
k8s_daemon
k8s_need_state
k8s_wait_state 30 "svcs() == ['default/s1', 'default/s2', 'default/s3']" || sy_fail "initial"

# 1. a watch stream cut in the middle of an event: reconnect, nothing lost
n=$(k8s_ctl drop "")
sy_log "cut $n watch streams mid-event"
k8s_slice s1-a s1 10.244.1.11 | kc replace --validate=false -f - >/dev/null
k8s_wait_state 30 "eps('default/s1') == ['10.244.1.11:8080']" || sy_fail "after a cut stream"
grep -q "watch: connection lost" "$SY_TMP/daemon.log" || sy_fail "cut not logged"

# 2. a truncated stream (clean end inside an event): logged, resumed
k8s_ctl truncate "resource=endpointslices" >/dev/null
sy_wait 20 grep -q "stream ended inside an event" "$SY_TMP/daemon.log" || sy_fail "truncation not logged"
k8s_slice s2-a s2 10.244.1.12 | kc replace --validate=false -f - >/dev/null
k8s_wait_state 30 "eps('default/s2') == ['10.244.1.12:8080']" || sy_fail "after truncation"

# 3. malformed events: a non-JSON line, an event without an object, and a
# Service whose clusterIP is invalid: each logged and skipped, the stream goes on
sy_wait 30 k8s_watching services ||
	sy_fail "no services watch"
k8s_ctl inject "resource=services" 'this is {not json' >/dev/null
k8s_ctl inject "resource=services" '{"type":"ADDED"}' >/dev/null
k8s_ctl inject "resource=services" '{"type":"ADDED","object":{"kind":"Service","apiVersion":"v1","metadata":{"name":"bad","namespace":"default","resourceVersion":"1"},"spec":{"clusterIP":"10.96.999.1","ports":[{"port":80,"protocol":"TCP"}]}}}' >/dev/null
sy_wait 20 grep -q "Services watch: malformed event skipped: not JSON" "$SY_TMP/daemon.log" ||
	sy_fail "garbage line not logged"
sy_wait 20 grep -q 'malformed event skipped: ADDED event has no "object"' "$SY_TMP/daemon.log" ||
	sy_fail "event without object not logged"
sy_wait 20 grep -q "default/bad" "$SY_TMP/daemon.log" || sy_fail "bad Service not logged by name"
# an ERROR event other than 410: logged, the watch comes back after a backoff
k8s_ctl inject "resource=services" '{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"internal error: watch cache closed","reason":"InternalError","code":500}}' >/dev/null
sy_wait 20 grep -q "Services watch: server error event: HTTP 500 InternalError: internal error" \
	"$SY_TMP/daemon.log" || sy_fail "ERROR event not logged"
sy_wait 30 k8s_watching services || sy_fail "no rewatch after an ERROR event"
k8s_svc s4 10.96.1.4 | kc create --validate=false -f - >/dev/null
k8s_slice s4-a s4 10.244.1.4 | kc create --validate=false -f - >/dev/null
k8s_wait_state 30 "cip('default/s4') == '10.96.1.4' and eps('default/s4') == ['10.244.1.4:8080'] \
	and cip('default/bad') is None and len(svcs()) == 4" || sy_fail "stream did not go on"
ip netns exec "$K8S_NS" curl -sf "http://$K8S_METRICS/metrics" >"$SY_TMP/metrics.txt"
grep -E '^switchyard_decode_errors_total [1-9]' "$SY_TMP/metrics.txt" >/dev/null ||
	sy_log "note: decode errors not in /metrics: $(grep decode_errors "$SY_TMP/metrics.txt")"

# 4. 500s for the daemon only, while the world changes and history is
# compacted: backoff, then a 410 Expired on the rewatch, a relist, and the
# result matches the server.
k8s_ctl fail "n=100000&code=500&ua=switchyard" >/dev/null
k8s_ctl drop "" >/dev/null
sy_wait 30 grep -q "HTTP 500 InternalError: injected failure" "$SY_TMP/daemon.log" ||
	sy_fail "500 not logged"
k8s_svc s1 10.96.1.1 | kc delete -f - --wait=false >/dev/null
k8s_slice s1-a s1 10.244.1.11 | kc delete -f - --wait=false >/dev/null
k8s_svc s5 10.96.1.5 | kc create --validate=false -f - >/dev/null
k8s_slice s5-a s5 10.244.1.5 | kc create --validate=false -f - >/dev/null
k8s_slice s2-a s2 10.244.1.22 10.244.1.23 | kc replace --validate=false -f - >/dev/null
k8s_ctl compact "" >/dev/null
sleep 2
k8s_check "cip('default/s1') == '10.96.1.1'" || sy_fail "the cache changed while the API was down"
retries=$(grep -c "retrying in" "$SY_TMP/daemon.log")
k8s_ctl fail "n=0" >/dev/null
k8s_wait_state 40 "svcs() == ['default/s2', 'default/s3', 'default/s4', 'default/s5'] \
	and eps('default/s2') == ['10.244.1.22:8080', '10.244.1.23:8080'] \
	and eps('default/s5') == ['10.244.1.5:8080']" || sy_fail "no consistent relist after 410"
grep -q "too old resource version" "$SY_TMP/daemon.log" || sy_fail "410 not logged"
[ "$retries" -ge 3 ] || sy_fail "only $retries retries during the outage"
grep "retrying in" "$SY_TMP/daemon.log" | sed -n 's/.*retrying in \([0-9.]*\)s/\1/p' |
	"$PY" -c '
import sys
d = [float(x) for x in sys.stdin]
# capped exponential backoff with jitter: grows, never above 45 s
assert max(d) <= 45 and max(d) > min(d), d
' || sy_fail "backoff does not grow"

# 429 Too Many Requests with Retry-After: 1 → the next try waits at least 1 s
k8s_ctl fail "n=3&code=429&ua=switchyard" >/dev/null
k8s_ctl drop "resource=nodes" >/dev/null
sy_wait 30 grep -q "Nodes watch: HTTP 429 TooManyRequests" "$SY_TMP/daemon.log" || sy_fail "429 not seen"
grep -A1 "Nodes watch: HTTP 429" "$SY_TMP/daemon.log" | sed -n 's/.*Nodes: retrying in \([0-9.]*\)s/\1/p' |
	"$PY" -c 'import sys; d = [float(x) for x in sys.stdin]; assert d and min(d) >= 1.0, d' ||
	sy_fail "Retry-After not honoured"
k8s_ctl fail "n=0" >/dev/null

# 5. a stall: events made during it arrive afterwards
k8s_ctl stall "seconds=2" >/dev/null
k8s_slice s3-a s3 10.244.1.33 | kc replace --validate=false -f - >/dev/null
k8s_wait_state 30 "eps('default/s3') == ['10.244.1.33:8080']" || sy_fail "after a stall"

# 6. an open watch told in-stream that its resourceVersion expired (ERROR 410)
all_watching() { k8s_watching services && k8s_watching endpointslices && k8s_watching nodes; }
sy_wait 40 all_watching || sy_fail "not all watches are back"
relists=$(grep -c "relisting" "$SY_TMP/daemon.log")
k8s_ctl compact "expire=1" >/dev/null
relisted() { [ "$(grep -c "relisting" "$SY_TMP/daemon.log")" -ge $((relists + 3)) ]; }
sy_wait 30 relisted ||
	sy_fail "open watches did not relist on an in-stream 410"
k8s_slice s4-a s4 10.244.1.44 | kc replace --validate=false -f - >/dev/null
k8s_wait_state 30 "eps('default/s4') == ['10.244.1.44:8080']" || sy_fail "after the in-stream 410"
ip netns exec "$K8S_NS" curl -sf "http://$K8S_METRICS/metrics" |
	grep -E '^switchyard_relists_total [1-9]' >/dev/null || sy_fail "relists not counted"
kill -0 "$K8S_DAEMON_PID" || sy_fail "daemon died"
sy_pass "cut, truncated and malformed streams, 500s, 410 relists, stall"
