#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Dual-stack Services through the API server double and the real kubectl:
# the double (--service-cluster-ip-range v4,v6) defaults ipFamilyPolicy and
# ipFamilies and allocates a ClusterIP per family as the real API server
# does (PreferDualStack / RequireDualStack get both, SingleStack one; an
# address out of range or taken, RequireDualStack on no second family: 422);
# EndpointSlices of addressType IPv6 beside IPv4 ones; the daemon (one
# instance per family, $MODE, default nftables) programs both and real TCP
# connections to both ClusterIPs reach the endpoint.
#
#   node ($K8S_NS: switchyard + API double, forwarding on)
#     eth-c 192.168.50.1/24 fd00:50::1/64 ── client .2 / ::2
#     eth-1 10.244.1.1/24 fd00:244:1::1/64 ── ep1 .2 / ::2 (echo "ep1", both families)
. "$(dirname "$0")/../lib/common.sh"
. "$SY_SRC/tests/apiserver/lib.sh"

MODE=${MODE:-nftables}
k8s_init
NODE=$K8S_NS
ip netns exec "$NODE" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
# every REJECT answered (no ICMP / ICMPv6 error rate limit)
sy_no_icmp_ratelimit "$NODE"
ip netns exec "$NODE" sysctl -qw net.ipv6.icmp.ratelimit=0
sy_mkns CLIENT client
sy_veth "$NODE" eth-c 192.168.50.1/24 "$CLIENT" eth0 192.168.50.2/24
ip -n "$NODE" addr add fd00:50::1/64 dev eth-c nodad
ip -n "$CLIENT" addr add fd00:50::2/64 dev eth0 nodad
ip -n "$CLIENT" route add default via 192.168.50.1
ip -n "$CLIENT" -6 route add default via fd00:50::1
sy_mkns EP ep1
sy_veth "$NODE" eth-1 10.244.1.1/24 "$EP" eth0 10.244.1.2/24
ip -n "$NODE" addr add fd00:244:1::1/64 dev eth-1 nodad
ip -n "$EP" addr add fd00:244:1::2/64 dev eth0 nodad
ip -n "$EP" route add default via 10.244.1.1
ip -n "$EP" -6 route add default via fd00:244:1::1
sy_bg "$EP" "$SY_TMP/echo.log" "$PY" "$SY_SRC/tests/lib/echo_server.py" --proto tcp --port 8080 \
	--name ep1 --bind ::
# the node routes the Service ranges somewhere, as a real node's default route does (into ep1,
# which does not forward them), so that an address without endpoints meets the mode's REJECT
ip -n "$NODE" route add 10.96.0.0/16 via 10.244.1.2
ip -n "$NODE" -6 route add fd00:10:96::/112 via fd00:244:1::2

k8s_api --service-cluster-ip-range 10.96.0.0/16,fd00:10:96::/112
K8S_KUBECONFIG=$SY_TMP/kubeconfig
k8s_kubeconfig "$K8S_KUBECONFIG" "$K8S_URL" "" "    token: none"

svc() { # NAME POLICY [FAMILIES] [CLUSTERIPS]
	printf 'apiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: default}\n' "$1"
	printf 'spec:\n  ipFamilyPolicy: %s\n' "$2"
	[ -n "${3:-}" ] && printf '  ipFamilies: [%s]\n' "$3"
	[ -n "${4:-}" ] && printf '  clusterIPs: [%s]\n' "$4"
	printf '  ports: [{name: http, protocol: TCP, port: 80, targetPort: 8080}]\n'
}
get() { kc get svc "$1" -o jsonpath="{.spec.clusterIPs} {.spec.ipFamilies} {.spec.ipFamilyPolicy} {.spec.clusterIP}"; }

# the Node lists its IPv6 address first: IPv6 is its primary family
k8s_node node-a fd00:50::1 | sed '$a\  - type: InternalIP\n    address: 192.168.50.1' |
	kc create --validate=false -f - >/dev/null || sy_fail "node"
# PreferDualStack, no address given: one per family, the primary (IPv4) first
svc web PreferDualStack | kc create --validate=false -f - >/dev/null || sy_fail "create web"
got=$(get web)
[ "$got" = '["10.96.0.1","fd00:10:96::1"] ["IPv4","IPv6"] PreferDualStack 10.96.0.1' ] ||
	sy_fail "PreferDualStack allocation: $got"
# RequireDualStack with IPv6 first
svc six-first RequireDualStack "IPv6, IPv4" | kc create --validate=false -f - >/dev/null ||
	sy_fail "create six-first"
got=$(get six-first)
[ "$got" = '["fd00:10:96::2","10.96.0.2"] ["IPv6","IPv4"] RequireDualStack fd00:10:96::2' ] ||
	sy_fail "RequireDualStack IPv6 first: $got"
# no policy, one IPv6 family: SingleStack, IPv6 only
svc six SingleStack IPv6 | sed '/ipFamilyPolicy/d' | kc create --validate=false -f - >/dev/null ||
	sy_fail "create six"
got=$(get six)
[ "$got" = '["fd00:10:96::3"] ["IPv6"] SingleStack fd00:10:96::3' ] || sy_fail "SingleStack IPv6: $got"
# two addresses given, no policy: RequireDualStack, families from the addresses
svc two "" "" "10.96.7.7, fd00:10:96::77" | sed '/ipFamilyPolicy/d' |
	kc create --validate=false -f - >/dev/null || sy_fail "create two"
got=$(get two)
[ "$got" = '["10.96.7.7","fd00:10:96::77"] ["IPv4","IPv6"] RequireDualStack 10.96.7.7' ] ||
	sy_fail "given addresses: $got"
# the real server's refusals
err() { svc "$@" | kc create --validate=false -f - 2>&1 >/dev/null; }
e=$(err bad1 SingleStack "" "10.97.0.1") && sy_fail "out of range accepted"
grep -q 'provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/16' <<<"$e" ||
	sy_fail "out-of-range message: $e"
e=$(err bad2 SingleStack "" "10.96.0.1") && sy_fail "taken address accepted"
grep -q 'provided IP is already allocated' <<<"$e" || sy_fail "taken message: $e"
e=$(err bad3 SingleStack "IPv4, IPv6") && sy_fail "SingleStack with two families accepted"
grep -q "spec.ipFamilyPolicy: Invalid value: \"SingleStack\"" <<<"$e" || sy_fail "SingleStack message: $e"
kc get svc bad1 >/dev/null 2>&1 && sy_fail "a refused Service was stored"
# an update that omits the addresses keeps them (kubectl apply of the same manifest)
svc web PreferDualStack | kc apply --validate=false -f - >/dev/null 2>&1 || sy_fail "apply web"
[ "$(get web)" = '["10.96.0.1","fd00:10:96::1"] ["IPv4","IPv6"] PreferDualStack 10.96.0.1' ] ||
	sy_fail "apply changed the addresses: $(get web)"

# EndpointSlices of both families
k8s_slice web-4 web 10.244.1.2 | kc create --validate=false -f - >/dev/null || sy_fail "slice v4"
k8s_slice web-6 web fd00:244:1::2 | sed 's/^addressType: IPv4/addressType: IPv6/' |
	kc create --validate=false -f - >/dev/null || sy_fail "slice v6"
[ "$(kc get endpointslice web-6 -o jsonpath='{.addressType} {.endpoints[0].addresses[0]}')" = \
	"IPv6 fd00:244:1::2" ] || sy_fail "IPv6 slice not stored"

k8s_daemon --proxy-mode="$MODE" --cluster-cidr 10.244.0.0/16,fd00:244::/32 --min-sync-period 0s
sy_wait 30 grep -q "First sync complete" "$SY_TMP/daemon.log" ||
	sy_fail "no first sync: $(tail -5 "$SY_TMP/daemon.log")"
grep -q "Running in dual-stack mode" "$SY_TMP/daemon.log" ||
	sy_skip "the $MODE mode has no IPv6 here: $(grep 'No IPv6 support' "$SY_TMP/daemon.log")"
# the Node came from the API after the start: its primary family is taken up then
sy_wait 30 grep -q "Node node-a: primary IP family IPv6" "$SY_TMP/daemon.log" ||
	sy_fail "the Node's primary family was not taken up: $(grep -i 'primary' "$SY_TMP/daemon.log")"

ask() { ip netns exec "$CLIENT" "$PY" "$SY_SRC/tests/lib/echo_client.py" --proto tcp --host "$1" \
	--port 80 --timeout 3 2>/dev/null; }
sy_wait 30 sh -c "ip netns exec $CLIENT $PY $SY_SRC/tests/lib/echo_client.py --proto tcp --host 10.96.0.1 --port 80 --timeout 1 | grep -q '^ep1 '" ||
	sy_fail "IPv4 ClusterIP: '$(ask 10.96.0.1)'"
sy_wait 30 sh -c "ip netns exec $CLIENT $PY $SY_SRC/tests/lib/echo_client.py --proto tcp --host fd00:10:96::1 --port 80 --timeout 1 | grep -q '^ep1 '" ||
	sy_fail "IPv6 ClusterIP: '$(ask fd00:10:96::1)'"
# each family reaches only its own endpoints: the IPv6-first Service has no endpoints
# a Service without endpoints is rejected (kube-proxy's REJECT); in IPv6 the client does not
# always see the ICMPv6 error (tests/e2e/iptables-dualstack.sh proves that REJECT by its
# counters): here only that no endpoint answers
got=$(ask 10.96.0.2)
[ "$got" = REFUSED ] || sy_fail "six-first's 10.96.0.2 without endpoints: '$got', want REFUSED"
got=$(ask fd00:10:96::2)
grep -q '^ep1' <<<"$got" && sy_fail "six-first's fd00:10:96::2 answered without endpoints"
sy_log "IPv6 ClusterIP without endpoints: $got"
sy_log "dual-stack Service answers on 10.96.0.1 and [fd00:10:96::1] ($MODE)"

# a slice removed in one family: that family stops, the other goes on
kc delete endpointslice web-6 --wait=false >/dev/null || sy_fail "delete slice v6"
end=$((SECONDS + 30))
while ask fd00:10:96::1 | grep -q '^ep1'; do
	[ $SECONDS -lt $end ] || sy_fail "IPv6 still answered without IPv6 endpoints"
	sleep 0.2
done
ask 10.96.0.1 | grep -q '^ep1 ' || sy_fail "IPv4 stopped with the IPv6 slice"
sy_pass "$MODE: both families allocated, programmed and answering"
