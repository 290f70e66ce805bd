# SPDX-License-Identifier: Apache-2.0
# Helpers for tests/e2e/apiserver-*.sh: the API server double, certificates,
# kubeconfigs, kubectl and the daemon, all inside one test namespace.
# Source after tests/lib/common.sh.  Everything listens on 127.0.0.1 inside
# $K8S_NS; nothing touches the root namespace.
#
#   k8s_init                   make the namespace ($K8S_NS)
#   k8s_certs                  CA, server cert (127.0.0.1), client cert, a wrong CA in $SY_TMP/pki
#   k8s_api [ARGS...]          start the double (ARGS: --tls-cert ... --token ...), sets K8S_PORT
#   k8s_ctl NAME [QUERY] [DATA] POST /_control/NAME?QUERY (DATA as body)
#   k8s_kubeconfig FILE SERVER [yaml user lines...]
#   kc ARGS...                 the real kubectl against the double (--validate=false where needed)
#   k8s_daemon [ARGS...]       start switchyard (--proxy-mode=none unless given) with $K8S_KUBECONFIG
#   k8s_state [QUERY]          GET /debug/state from the daemon
#   k8s_wait_state SECONDS PYEXPR   poll /debug/state until PYEXPR (over `s`, the JSON) is true

K8S_API=$SY_SRC/tests/apiserver/apiserver.py
K8S_NODE=node-a
K8S_METRICS=127.0.0.1:10249

k8s_init() {
	sy_mkns K8S_NS k8s
	export HOME=$SY_TMP KUBECONFIG=/dev/null
	command -v kubectl >/dev/null || sy_skip "kubectl not installed"
	[ -x "$SWITCHYARD" ] || sy_skip "no daemon binary at $SWITCHYARD"
}

k8s_certs() {
	local d=$SY_TMP/pki
	mkdir -p "$d"
	(
		cd "$d" || exit 1
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca \
			-keyout ca.key -out ca.crt
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=wrong-ca \
			-keyout wrong-ca.key -out wrong-ca.crt
		openssl req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver \
			-keyout server.key -out server.csr
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default\n' >server.ext
		openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
			-days 2 -extfile server.ext -out server.crt
		openssl req -newkey rsa:2048 -nodes -subj "/CN=system:kube-proxy" \
			-keyout client.key -out client.csr
		openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
			-days 2 -out client.crt
	) >"$SY_TMP/pki.log" 2>&1 || sy_fail "openssl: $(tail -3 "$SY_TMP/pki.log")"
	K8S_PKI=$d
}

# k8s_api [ARGS...]: start the double in $K8S_NS; sets K8S_PORT, K8S_SCHEME
k8s_api() {
	local pf=$SY_TMP/api.port
	rm -f "$pf"
	K8S_SCHEME=http
	case " $* " in *" --tls-cert "*) K8S_SCHEME=https ;; esac
	sy_bg "$K8S_NS" "$SY_TMP/apiserver.log" "$PY" "$K8S_API" --listen 127.0.0.1:0 \
		--port-file "$pf" "$@"
	K8S_API_PID=$SY_LAST_PID
	sy_wait "${K8S_API_START_WAIT:-30}" test -s "$pf" || sy_fail "API double did not start: $(tail -5 "$SY_TMP/apiserver.log")"
	K8S_PORT=$(cat "$pf")
	K8S_URL=$K8S_SCHEME://127.0.0.1:$K8S_PORT
}

# k8s_ctl NAME [QUERY] [DATA]: the double's control endpoint (plain curl, -k for TLS)
k8s_ctl() {
	local url="$K8S_URL/_control/$1${2:+?$2}"
	if [ $# -ge 3 ]; then
		ip netns exec "$K8S_NS" curl -sfk -X POST --data-binary "$3" "$url"
	else
		ip netns exec "$K8S_NS" curl -sfk -X POST "$url"
	fi
}
k8s_get() { ip netns exec "$K8S_NS" curl -sfk "$K8S_URL/_control/$1${2:+?$2}"; }
# k8s_req_grep STRING: the double's request log contains STRING (for sy_wait)
k8s_req_grep() { k8s_get requests | grep -q -- "$1"; }
# k8s_watching RESOURCE: the double has an open watch on RESOURCE
k8s_watching() {
	k8s_get state | "$PY" -c 'import json, sys; sys.exit(sys.argv[1] not in json.load(sys.stdin)["watches"])' "$1"
}

# k8s_kubeconfig FILE SERVER CLUSTER_LINES USER_LINES  (lines are YAML, 4-space indented)
k8s_kubeconfig() {
	cat >"$1" <<EOF
apiVersion: v1
kind: Config
current-context: test
contexts:
- name: test
  context:
    cluster: double
    user: proxy
clusters:
- name: double
  cluster:
    server: $2
$3
users:
- name: proxy
  user:
$4
EOF
}

# kc ARGS...: kubectl as an administrator of the double
kc() {
	ip netns exec "$K8S_NS" kubectl --kubeconfig "${K8S_KC_ADMIN:-$K8S_KUBECONFIG}" \
		--cache-dir "$SY_TMP/kcache" --request-timeout 10s "$@"
}

k8s_daemon() {
	local mode=--proxy-mode=none
	case " $* " in *" --proxy-mode"*) mode= ;; esac
	sy_bg "$K8S_NS" "$SY_TMP/daemon.log" "$SWITCHYARD" $mode --kubeconfig "$K8S_KUBECONFIG" \
		--hostname-override "$K8S_NODE" --metrics-bind-address "$K8S_METRICS" \
		--healthz-bind-address 127.0.0.1:10256 -v 4 "$@"
	K8S_DAEMON_PID=$SY_LAST_PID
}

k8s_state() {
	ip netns exec "$K8S_NS" curl -sf "http://$K8S_METRICS/debug/state${1:+?$1}"
}

# k8s_check PYEXPR: evaluate over s = /debug/state JSON; helpers:
#   eps(svc, port) → sorted "ip:port" of clusterEndpoints of a service port ("ns/name", "portname")
#   cip(svc, port) → clusterIP of that port (or None)
k8s_check() {
	k8s_state >"$SY_TMP/state.json" || return 1
	"$PY" - "$1" "$SY_TMP/state.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[2]))
def port(svc, name='http'):
    for p in s['ports']:
        if p['service'] == svc and p['portName'] == name:
            return p
    return None
def eps(svc, name='http'):
    p = port(svc, name)
    return None if p is None else sorted('%s:%d' % (e['ip'], e['port']) for e in p['clusterEndpoints'])
def cip(svc, name='http'):
    p = port(svc, name)
    return None if p is None else p['clusterIP']
def svcs():
    return sorted({p['service'] for p in s['ports']})
sys.exit(0 if eval(sys.argv[1]) else 1)
EOF
}

# k8s_wait_state SECONDS PYEXPR
k8s_wait_state() {
	local t=$1 end
	end=$((SECONDS + t))
	while ! k8s_check "$2" 2>/dev/null; do
		if [ $SECONDS -ge $end ]; then
			sy_log "state not reached: $2"
			k8s_state | head -c 2000 >&2
			return 1
		fi
		sleep 0.1
	done
}

# k8s_need_state: skip when the daemon has no /debug/state yet
k8s_need_state() {
	sy_wait 30 k8s_state || {
		tail -20 "$SY_TMP/daemon.log" >&2
		sy_fail "no /debug/state from the daemon on $K8S_METRICS"
	}
}

# k8s_count_log PATTERN: lines in the daemon log matching PATTERN
k8s_count_log() { grep -c -- "$1" "$SY_TMP/daemon.log"; }

# objects for tests
# k8s_svc NAME CLUSTERIP [PORT]
k8s_svc() {
	cat <<EOF
apiVersion: v1
kind: Service
metadata:
  name: $1
  namespace: default
spec:
  type: ClusterIP
  clusterIP: $2
  clusterIPs: [$2]
  ports:
  - name: http
    protocol: TCP
    port: ${3:-80}
    targetPort: 8080
EOF
}
# k8s_slice NAME SERVICE IP... (ready endpoints on port 8080)
k8s_slice() {
	local name=$1 svc=$2 ip
	shift 2
	cat <<EOF
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: $name
  namespace: default
  labels:
    kubernetes.io/service-name: $svc
addressType: IPv4
ports:
- name: http
  protocol: TCP
  port: 8080
endpoints:
EOF
	for ip in "$@"; do
		printf -- '- addresses: ["%s"]\n  conditions: {ready: true}\n  nodeName: %s\n' \
			"$ip" "$K8S_NODE"
	done
}
k8s_node() {
	cat <<EOF
apiVersion: v1
kind: Node
metadata:
  name: ${1:-$K8S_NODE}
status:
  addresses:
  - type: InternalIP
    address: ${2:-10.0.0.1}
EOF
}

# k8s_bulk N: JSON List of N Services (10.100.x.y) each with one slice of 2 endpoints
k8s_bulk() {
	"$PY" - "$1" <<'EOF'
import json, sys
n = int(sys.argv[1])
items = []
for i in range(n):
    ip = '10.100.%d.%d' % (i // 250, i % 250 + 1)
    items.append({'apiVersion': 'v1', 'kind': 'Service',
                  'metadata': {'name': 'bulk-%d' % i, 'namespace': 'default'},
                  'spec': {'clusterIP': ip, 'clusterIPs': [ip], 'type': 'ClusterIP',
                           'ports': [{'name': 'http', 'protocol': 'TCP', 'port': 80,
                                      'targetPort': 8080}]}})
    items.append({'apiVersion': 'discovery.k8s.io/v1', 'kind': 'EndpointSlice',
                  'metadata': {'name': 'bulk-%d-x' % i, 'namespace': 'default',
                               'labels': {'kubernetes.io/service-name': 'bulk-%d' % i}},
                  'addressType': 'IPv4',
                  'ports': [{'name': 'http', 'protocol': 'TCP', 'port': 8080}],
                  'endpoints': [{'addresses': ['10.244.%d.%d' % (i // 100, (i % 100) * 2 + j + 1)],
                                 'conditions': {'ready': True}} for j in range(2)]})
print(json.dumps({'kind': 'List', 'apiVersion': 'v1', 'items': items}))
EOF
}
