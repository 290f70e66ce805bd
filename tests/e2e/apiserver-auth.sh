#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# TLS and authentication against the API server double: a wrong CA fails
# (nothing proxied), a wrong token gets 401 and is retried until the
# rotated token file holds the right one, inline client certificates work
# (certificate-authority-data, client-certificate-data, client-key-data).
. "$(dirname "$0")/../lib/common.sh"
. "$SY_SRC/tests/apiserver/lib.sh"

k8s_init
k8s_certs
k8s_api --tls-cert "$K8S_PKI/server.crt" --tls-key "$K8S_PKI/server.key" --token good \
	--client-ca "$K8S_PKI/ca.crt"
K8S_KC_ADMIN=$SY_TMP/admin.kubeconfig
k8s_kubeconfig "$K8S_KC_ADMIN" "$K8S_URL" "    certificate-authority: $K8S_PKI/ca.crt" \
	"    token: good"
k8s_svc web 10.96.0.10 | kc create --validate=false -f - >/dev/null || sy_fail "create svc"
k8s_slice web-1 web 10.244.0.5 | kc create --validate=false -f - >/dev/null
k8s_node | kc create --validate=false -f - >/dev/null

# 1. the wrong CA: TLS verification fails, nothing is proxied
K8S_KUBECONFIG=$SY_TMP/wrongca.kubeconfig
k8s_kubeconfig "$K8S_KUBECONFIG" "$K8S_URL" "    certificate-authority: $K8S_PKI/wrong-ca.crt" \
	"    token: good"
k8s_daemon
k8s_need_state
sy_wait 30 grep -qiE "Services list: .*(certificate|SSL)" "$SY_TMP/daemon.log" ||
	sy_fail "no TLS error logged: $(tail -5 "$SY_TMP/daemon.log")"
k8s_check "svcs() == []" || sy_fail "services proxied without a verified server"
k8s_get requests | grep -q '"ua": "switchyard' && sy_fail "a request got through with the wrong CA"
kill "$K8S_DAEMON_PID"; wait "$K8S_DAEMON_PID" 2>/dev/null

# 2. a wrong token: 401, logged, retried; the token file is re-read per
# request, so rotating it to the right token recovers without a restart
echo wrong >"$SY_TMP/token"
K8S_KUBECONFIG=$SY_TMP/token.kubeconfig
k8s_kubeconfig "$K8S_KUBECONFIG" "$K8S_URL" "    certificate-authority: $K8S_PKI/ca.crt" \
	"    tokenFile: token"
k8s_daemon
k8s_need_state
sy_wait 30 grep -q "HTTP 401 Unauthorized: Unauthorized: not authorized" "$SY_TMP/daemon.log" ||
	sy_fail "401 not logged: $(tail -5 "$SY_TMP/daemon.log")"
k8s_check "svcs() == []" || sy_fail "proxied without authentication"
echo good >"$SY_TMP/token"
k8s_wait_state 40 "eps('default/web') == ['10.244.0.5:8080']" || sy_fail "no recovery after rotation"
k8s_get requests | "$PY" -c '
import json, sys
r = [x for x in json.load(sys.stdin) if x["ua"].startswith("switchyard")]
assert any(x["status"] == 401 and x["auth"] == "bad-token" for x in r)
assert any(x["status"] == 200 and x["auth"] == "token" for x in r)
' || sy_fail "request log does not show 401 then 200"
kill "$K8S_DAEMON_PID"; wait "$K8S_DAEMON_PID" 2>/dev/null

# 3. client certificate, everything inline (no token at all)
K8S_KUBECONFIG=$SY_TMP/cert.kubeconfig
k8s_kubeconfig "$K8S_KUBECONFIG" "https://localhost:$K8S_PORT" \
	"    certificate-authority-data: $(base64 -w0 "$K8S_PKI/ca.crt")" \
	"    client-certificate-data: $(base64 -w0 "$K8S_PKI/client.crt")
    client-key-data: $(base64 -w0 "$K8S_PKI/client.key")"
k8s_ctl requests clear=1 >/dev/null
k8s_daemon
k8s_need_state
k8s_wait_state 30 "eps('default/web') == ['10.244.0.5:8080'] and cip('default/web') == '10.96.0.10'" ||
	sy_fail "client-cert auth failed: $(grep -E '^[EW]' "$SY_TMP/daemon.log" | tail -3)"
k8s_get requests | "$PY" -c '
import json, sys
r = [x for x in json.load(sys.stdin) if x["ua"].startswith("switchyard")]
assert r and all(x["auth"] == "cert" for x in r), r[:3]
' || sy_fail "requests were not authenticated by the client certificate"

# 4. the same through tls-server-name with an IP address in the URL
kill "$K8S_DAEMON_PID"; wait "$K8S_DAEMON_PID" 2>/dev/null
K8S_KUBECONFIG=$SY_TMP/sni.kubeconfig
k8s_kubeconfig "$K8S_KUBECONFIG" "https://127.0.0.1:$K8S_PORT" \
	"    certificate-authority: $K8S_PKI/ca.crt
    tls-server-name: kubernetes.default" "    token: good"
k8s_daemon
k8s_wait_state 30 "eps('default/web') == ['10.244.0.5:8080']" || sy_fail "tls-server-name"
sy_pass "wrong CA refused, 401 retried until the token rotated, client certs, tls-server-name"
