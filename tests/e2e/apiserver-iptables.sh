#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The API source drives real rules: the daemon in iptables mode watches the
# API server double, a client sends real TCP connections to a ClusterIP
# while kubectl replaces and deletes the EndpointSlice; the answers (and
# iptables-legacy-save) follow each change.  Losing the API server leaves
# the rules, and the traffic, as they were.
#
#   node ($K8S_NS: switchyard + API double on 127.0.0.1, ip_forward)
#     eth-c 192.168.50.1/24 ── client 192.168.50.2/24
#     eth-1 10.244.1.1/24   ── ep1 10.244.1.2   (echo "ep1")
#     eth-2 10.244.2.1/24   ── ep2 10.244.2.2   (echo "ep2")
. "$(dirname "$0")/../lib/common.sh"
. "$SY_SRC/tests/apiserver/lib.sh"

command -v iptables-legacy-save >/dev/null || sy_skip "iptables-legacy-save missing"
k8s_init
NODE=$K8S_NS
ip netns exec "$NODE" sysctl -qw net.ipv4.ip_forward=1
sy_mkns CLIENT client
sy_veth "$NODE" eth-c 192.168.50.1/24 "$CLIENT" eth0 192.168.50.2/24
ip -n "$CLIENT" route add default via 192.168.50.1
for k in 1 2; do
	sy_mkns ep ep$k
	sy_veth "$NODE" eth-$k 10.244.$k.1/24 "$ep" eth0 10.244.$k.2/24
	ip -n "$ep" route add default via 10.244.$k.1
	sy_echo_server "$ep" tcp 8080 ep$k
done

k8s_certs
k8s_api --tls-cert "$K8S_PKI/server.crt" --tls-key "$K8S_PKI/server.key" --token tok
K8S_KUBECONFIG=$SY_TMP/kubeconfig
k8s_kubeconfig "$K8S_KUBECONFIG" "$K8S_URL" "    certificate-authority: $K8S_PKI/ca.crt" \
	"    token: tok"
k8s_node node-a 192.168.50.1 | kc create --validate=false -f - >/dev/null || sy_fail "node"
k8s_svc web 10.96.0.80 80 | kc create --validate=false -f - >/dev/null || sy_fail "svc"
k8s_slice web-1 web 10.244.1.2 | kc create --validate=false -f - >/dev/null || sy_fail "slice"

k8s_daemon --proxy-mode=iptables --cluster-cidr 10.244.0.0/16 --min-sync-period 0s
sy_wait 20 grep -q "First sync complete" "$SY_TMP/daemon.log" ||
	sy_fail "no first sync: $(tail -5 "$SY_TMP/daemon.log")"

# answers N: N connections to the ClusterIP → the set of servers that answered
answers() {
	ip netns exec "$CLIENT" "$PY" "$SY_SRC/tests/lib/echo_client.py" --proto tcp \
		--host 10.96.0.80 --port 80 --count "$1" --timeout 3 2>/dev/null |
		awk '$1 ~ /^ep[0-9]$/ {print $1}' | sort -u | paste -sd,
}
# wait_answers WANT: until 6 connections are answered by exactly WANT ("" = none)
wait_answers() {
	local end=$((SECONDS + 30)) got
	while :; do
		got=$(answers 6)
		[ "$got" = "$1" ] && return 0
		[ $SECONDS -lt $end ] || { sy_log "answers: '$got', want '$1'"; return 1; }
		sleep 0.2
	done
}
save() { ip netns exec "$NODE" iptables-legacy-save -t nat; }

wait_answers ep1 || sy_fail "ClusterIP not served by ep1"
save | grep -q -- "--to-destination 10.244.1.2:8080" || sy_fail "no DNAT to ep1 in the nat table"

k8s_slice web-1 web 10.244.2.2 | kc replace --validate=false -f - >/dev/null || sy_fail "replace"
wait_answers ep2 || sy_fail "rules did not follow the replaced slice"
save | grep -q -- "--to-destination 10.244.1.2:8080" && sy_fail "stale DNAT to ep1"

k8s_slice web-1 web 10.244.1.2 10.244.2.2 | kc replace --validate=false -f - >/dev/null
end=$((SECONDS + 30))
until [ "$(answers 20)" = "ep1,ep2" ]; do
	[ $SECONDS -lt $end ] || sy_fail "both endpoints not used"
	sleep 0.2
done

kc delete endpointslice web-1 --wait=false >/dev/null || sy_fail "delete"
wait_answers "" || sy_fail "connections still answered without endpoints"
save >/dev/null
ip netns exec "$NODE" iptables-legacy-save -t filter | grep -q "10.96.0.80/32.*REJECT" ||
	sy_fail "no REJECT for the Service without endpoints"

# the API server goes away: rules and traffic stay as they are
k8s_slice web-1 web 10.244.2.2 | kc create --validate=false -f - >/dev/null
wait_answers ep2 || sy_fail "recreated slice"
kill "$K8S_API_PID"; wait "$K8S_API_PID" 2>/dev/null
sy_wait 30 grep -q "connection lost\|Connection refused\|Couldn't connect" "$SY_TMP/daemon.log" ||
	sy_fail "API loss not noticed"
sleep 2
wait_answers ep2 || sy_fail "traffic changed after the API server went away"
save | grep -q -- "--to-destination 10.244.2.2:8080" || sy_fail "rules lost with the API server"
kill -0 "$K8S_DAEMON_PID" || sy_fail "daemon died"
sy_pass "ClusterIP traffic followed kubectl replace/delete; rules kept when the API went away"
