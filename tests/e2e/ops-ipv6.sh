#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The healthz and metrics servers in IPv6, as kube-proxy's: "[::]:10256"
# answers over both families, "[::1]:10249" over IPv6 loopback only,
# "0.0.0.0:10256" over IPv4 only; the KubeProxyConfiguration file's
# healthzBindAddress "::" gets brackets and the default port; --bind-address
# must be an IP (exit 2 otherwise) and its family is the primary one; a
# healthCheckNodePort answers over both families and counts the local
# endpoints of an IPv6-only Service.
. "$(dirname "$0")/../lib/common.sh"

sy_mkns NODE node
ip -n "$NODE" link add d0 type veth peer name d1
ip -n "$NODE" addr add fd00:9::2/64 dev d0 nodad
ip -n "$NODE" addr add 192.168.9.2/24 dev d0
ip -n "$NODE" link set d0 up
ip -n "$NODE" link set d1 up
M=$SY_TMP/manifests
mkdir -p "$M"
cat >"$M/svc.yaml" <<'Y'
apiVersion: v1
kind: Service
metadata: {name: web, namespace: apps}
spec:
  clusterIP: 10.96.0.10
  clusterIPs: [10.96.0.10, fd00:96::10]
  ipFamilies: [IPv4, IPv6]
  ipFamilyPolicy: PreferDualStack
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: lb6, namespace: apps}
spec:
  type: LoadBalancer
  clusterIP: fd00:96::20
  clusterIPs: [fd00:96::20]
  ipFamilies: [IPv6]
  externalTrafficPolicy: Local
  healthCheckNodePort: 32000
  ports: [{name: http, port: 80, nodePort: 30080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: lb6-1, namespace: apps, labels: {kubernetes.io/service-name: lb6}}
addressType: IPv6
ports: [{name: http, port: 8080}]
endpoints:
- {addresses: ["fd00:244::5"], nodeName: n1, conditions: {ready: true}}
Y
get() { ip netns exec "$NODE" curl -s -g --max-time 2 -o /dev/null -w '%{http_code}' "$1"; }
run() { # LOG ARGS...
	local log=$1; shift
	sy_bg "$NODE" "$log" "$SWITCHYARD" --proxy-mode=none --manifests "$M" --hostname-override n1 \
		-v 2 "$@"
	DPID=$SY_LAST_PID
	sy_wait 30 grep -q "First sync complete" "$log" || sy_fail "no first sync: $(cat "$log")"
}
stop() {
	kill "$DPID"; wait "$DPID" 2>/dev/null
	sy_wait 20 sh -c "! ip netns exec $NODE ss -ltn | grep -q ':1025[0-9]'"
}

# [::]:10256 serves both families; [::1]:10249 IPv6 loopback only
run "$SY_TMP/a.log" --healthz-bind-address '[::]:10256' --metrics-bind-address '[::1]:10249' \
	--bind-address fd00:9::2
for url in 'http://[::1]:10256/healthz' 'http://[fd00:9::2]:10256/livez' \
	'http://127.0.0.1:10256/healthz' 'http://192.168.9.2:10256/healthz' \
	'http://[::1]:10249/metrics' 'http://[::1]:10249/proxyMode'; do
	[ "$(get "$url")" = 200 ] || sy_fail "$url: $(get "$url")"
done
[ "$(get 'http://127.0.0.1:10249/metrics')" = 000 ] || sy_fail "metrics on [::1] answered over IPv4"
# the healthCheckNodePort of an IPv6-only eTP=Local Service: both families, 1 local endpoint
sy_wait 20 sh -c "ip netns exec $NODE curl -s -g 'http://[fd00:9::2]:32000/' | grep -q '\"localEndpoints\": 1'" ||
	sy_fail "healthCheckNodePort over IPv6: $(ip netns exec "$NODE" curl -s -g 'http://[fd00:9::2]:32000/')"
[ "$(get 'http://192.168.9.2:32000/')" = 200 ] || sy_fail "healthCheckNodePort over IPv4: $(get 'http://192.168.9.2:32000/')"
ip netns exec "$NODE" curl -s -g 'http://[::1]:10249/metrics' | grep -q '^kubeproxy_sync_proxy_rules_last_timestamp_seconds' ||
	sy_fail "no kube-proxy metrics over IPv6"
grep -q 'Serving healthz on \[::\]:10256' "$SY_TMP/a.log" || sy_fail "healthz line: $(cat "$SY_TMP/a.log")"
# --bind-address of the IPv6 family makes IPv6 the primary one
grep -q 'Running in dual-stack mode, primary IP family IPv6' "$SY_TMP/a.log" ||
	sy_fail "--bind-address fd00:9::2 did not make IPv6 primary: $(cat "$SY_TMP/a.log")"
stop

# 0.0.0.0:10256 is IPv4 only
run "$SY_TMP/b.log" --healthz-bind-address 0.0.0.0:10256 --metrics-bind-address 127.0.0.1:10249
[ "$(get 'http://127.0.0.1:10256/healthz')" = 200 ] || sy_fail "IPv4 healthz"
[ "$(get 'http://[::1]:10256/healthz')" = 000 ] || sy_fail "0.0.0.0 answered over IPv6"
stop

# the config file: "::" gets brackets and the default port; "[::1]:20249" as given
cat >"$SY_TMP/config.yaml" <<'Y'
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
healthzBindAddress: "::"
metricsBindAddress: "[::1]:20249"
bindAddress: "::"
clusterCIDR: 10.244.0.0/16,fd00:244::/32
Y
run "$SY_TMP/c.log" --config "$SY_TMP/config.yaml"
[ "$(get 'http://[::1]:10256/healthz')" = 200 ] || sy_fail "file: healthz on [::]:10256"
[ "$(get 'http://[::1]:20249/configz')" = 200 ] || sy_fail "file: metrics on [::1]:20249"
ip netns exec "$NODE" curl -s -g 'http://[::1]:20249/configz' | grep -q '"healthzBindAddress": *"\[::\]:10256"' ||
	sy_fail "configz: $(ip netns exec "$NODE" curl -s -g 'http://[::1]:20249/configz')"
grep -q 'Detect-local-mode set to ClusterCIDR, but no cluster CIDR' "$SY_TMP/c.log" &&
	sy_fail "a family without cluster CIDR reported: $(grep Detect "$SY_TMP/c.log")"
stop

# an invalid --bind-address: exit 2 with kube-proxy's message
"$SWITCHYARD" --proxy-mode=none --manifests "$M" --bind-address 10.0.0.300 >/dev/null 2>"$SY_TMP/err"
rc=$?
[ $rc = 2 ] || sy_fail "--bind-address 10.0.0.300: exit $rc"
grep -q 'bindAddress: Invalid value: "10.0.0.300": not a valid textual representation of an IP address' \
	"$SY_TMP/err" || sy_fail "bind-address message: $(cat "$SY_TMP/err")"
sy_pass
