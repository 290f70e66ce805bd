#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A watch event longer than the client's 16 MiB event limit is not lost
# (issue 13, point 7): the double stores a Service with a 17 MiB annotation
# (through /_control/load — a real API server refuses annotations over
# 256 KiB, so only a raised etcd limit or a future object gets there) and
# streams the MODIFIED event, real JSON, one line.  The daemon cannot decode
# it, says why, relists, and the change (port 80 → 81) arrives; the watch
# goes on afterwards.
. "$(dirname "$0")/../lib/common.sh"
. "$SY_SRC/tests/apiserver/lib.sh"

k8s_init
k8s_api
K8S_KUBECONFIG=$SY_TMP/kubeconfig
k8s_kubeconfig "$K8S_KUBECONFIG" "$K8S_URL" "" "    {}"
k8s_node | kc create --validate=false -f - >/dev/null || sy_fail "create node"
k8s_svc s1 10.96.1.1 | kc create --validate=false -f - >/dev/null || sy_fail "create s1"
k8s_slice s1-a s1 10.244.1.1 | kc create --validate=false -f - >/dev/null || sy_fail "create slice"
k8s_daemon -v 2
k8s_need_state
k8s_wait_state 30 "port('default/s1')['port'] == 80" || sy_fail "initial state"
sy_wait 30 k8s_watching services || sy_fail "no services watch"
relists0=$(k8s_count_log "relisting")

# the same Service, port 81, with a 17 MiB annotation
"$PY" - >"$SY_TMP/big.json" <<'PYEOF'
import json
svc = {'apiVersion': 'v1', 'kind': 'Service',
       'metadata': {'name': 's1', 'namespace': 'default',
                    'annotations': {'example.com/blob': 'x' * (17 << 20)}},
       'spec': {'type': 'ClusterIP', 'clusterIP': '10.96.1.1', 'clusterIPs': ['10.96.1.1'],
                'ports': [{'name': 'http', 'protocol': 'TCP', 'port': 81, 'targetPort': 8080}]}}
print(json.dumps({'kind': 'List', 'apiVersion': 'v1', 'items': [svc]}))
PYEOF
k8s_ctl load "" "@$SY_TMP/big.json" >/dev/null || sy_fail "load the large Service"
k8s_wait_state 20 "port('default/s1')['port'] == 81" ||
	sy_fail "the change in the oversized event was lost: $(grep -i 'services' "$SY_TMP/daemon.log" | tail -5)"
grep -q "Services watch: an event longer than 16 MiB cannot be decoded; relisting" \
	"$SY_TMP/daemon.log" || sy_fail "the relist is not explained in the log"
[ "$(k8s_count_log "relisting")" -gt "$relists0" ] || sy_fail "no relist"
grep -q "malformed event skipped" "$SY_TMP/daemon.log" && sy_fail "the oversized event was called malformed"

# the stream goes on: a normal change after the relist
sy_wait 30 k8s_watching services || sy_fail "no services watch after the relist"
k8s_svc s2 10.96.1.2 | kc create --validate=false -f - >/dev/null || sy_fail "create s2"
k8s_wait_state 30 "cip('default/s2') == '10.96.1.2' and port('default/s1')['port'] == 81" ||
	sy_fail "no watch after the relist"
kill -0 "$K8S_DAEMON_PID" || sy_fail "daemon died"
sy_pass "a 17 MiB watch event: relisted, its change applied, the watch goes on"
