# SPDX-License-Identifier: Apache-2.0
# The traffic-policy scenarios with real packets, shared by iptables-policy.sh
# and nftables-policy.sh (sourced, not a test of its own).  The caller sets
# IPT_MODE, sources iptables-lib.sh and defines how the kernel's state is read
# back in its mode:
#   state_nodeport_drop PORT  new connections to NodePort PORT are dropped
#   state_hc_accept PORT      the filter accepts the health-check node port
#   state_affinity SECONDS    client-IP affinity with that timeout
#   state_lacks ADDR          ADDR appears nowhere in the mode's rules

ipt_lab 3
for k in 1 2 3; do ipt_server $k tcp 8080; ipt_server $k udp 8080; done
ipt_node_manifest
cat <<'EOF2' | ipt_yaml | ipt_write svc.yaml
apiVersion: v1
kind: Service
metadata: {name: local, namespace: default}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.81
  externalTrafficPolicy: Local
  healthCheckNodePort: 32001
  ports: [{name: p, protocol: TCP, port: 80, targetPort: 8080, nodePort: 30081}]
---
apiVersion: v1
kind: Service
metadata: {name: nolocal, namespace: default}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.82
  externalTrafficPolicy: Local
  healthCheckNodePort: 32002
  ports: [{name: p, protocol: TCP, port: 80, targetPort: 8080, nodePort: 30082}]
---
apiVersion: v1
kind: Service
metadata: {name: empty, namespace: default}
spec:
  clusterIP: 10.96.0.90
  ports:
    - {name: p, protocol: TCP, port: 80, targetPort: 8080}
    - {name: u, protocol: UDP, port: 53, targetPort: 8080}
---
apiVersion: v1
kind: Service
metadata: {name: sticky, namespace: default}
spec:
  clusterIP: 10.96.0.91
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 600}}
  ports: [{name: p, protocol: TCP, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: lb, namespace: default}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.92
  loadBalancerSourceRanges: [192.168.50.2/32]
  ports: [{name: p, protocol: TCP, port: 80, targetPort: 8080, nodePort: 30092}]
status:
  loadBalancer: {ingress: [{ip: 192.168.60.20}]}
---
apiVersion: v1
kind: Service
metadata: {name: term, namespace: default}
spec:
  clusterIP: 10.96.0.94
  ports: [{name: p, protocol: TCP, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: itp, namespace: default}
spec:
  clusterIP: 10.96.0.93
  internalTrafficPolicy: Local
  ports: [{name: p, protocol: TCP, port: 80, targetPort: 8080}]
EOF2
for s in local itp; do
	ipt_slice $s TCP 8080 10.244.1.2:node1 10.244.2.2:node2 | ipt_write slice-$s.yaml
done
ipt_slice nolocal TCP 8080 10.244.2.2:node2 10.244.3.2:node3 | ipt_write slice-nolocal.yaml
ipt_slice sticky TCP 8080 10.244.1.2:node2 10.244.2.2:node2 10.244.3.2:node3 | ipt_write slice-sticky.yaml
ipt_slice lb TCP 8080 10.244.1.2:node2 10.244.2.2:node2 | ipt_write slice-lb.yaml
# terminating but serving (ep1) is used only while nothing is ready; ep3 neither serves nor is ready
term_slice() {
	cat <<EOF2
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: term-x, namespace: default, labels: {kubernetes.io/service-name: term}}
addressType: IPv4
ports: [{name: p, protocol: TCP, port: 8080}]
endpoints:
  - {addresses: [10.244.1.2], conditions: {ready: false, serving: true, terminating: true}, nodeName: node2}
  - {addresses: [10.244.2.2], conditions: {ready: $1, serving: $1, terminating: false}, nodeName: node2}
  - {addresses: [10.244.3.2], conditions: {ready: false, serving: false, terminating: true}, nodeName: node2}
EOF2
}
term_slice false | ipt_yaml | ipt_write slice-term.yaml
ipt_start

# eTP=Local: only ep1, client address preserved
out=$(ipt_ask_many "$CLIENT" tcp 192.168.50.1 30081 30)
[ "$(grep -c "^ep1 $(ipt_ip 192.168.50.2)\$" <<<"$out")" -eq 30 ] ||
	sy_fail "eTP=Local NodePort: want 30 × 'ep1 $(ipt_ip 192.168.50.2)': $(sort <<<"$out" | uniq -c)"
# eTP=Local without a local endpoint: dropped for external clients ...
# (the asks that must go unanswered wait 1 s each, as before: a loaded
# machine can only make an answer later, never make one up)
out=$(IPT_ASK_TIMEOUT=1 ipt_ask_many "$CLIENT" tcp 192.168.50.1 30082 3)
[ "$(grep -c TIMEOUT <<<"$out")" -eq 3 ] || sy_fail "eTP=Local, no local endpoint: want drops: $out"
state_nodeport_drop 30082 || sy_fail "no drop in the kernel for the NodePort without local endpoints"
# ... but the node itself still uses the cluster endpoints
out=$(ipt_ask_many "$NODE" tcp 192.168.50.1 30082 10)
[ "$(grep -c '^ep[23] ' <<<"$out")" -eq 10 ] || sy_fail "node → eTP=Local NodePort: $(sort <<<"$out" | uniq -c)"
# healthCheckNodePort
hc1=$(ip netns exec "$NODE" curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:32001/)
hc2=$(ip netns exec "$NODE" curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:32002/)
body=$(ip netns exec "$NODE" curl -s http://127.0.0.1:32001/)
[ "$hc1" = 200 ] && [ "$hc2" = 503 ] || sy_fail "healthCheckNodePort: $hc1 $hc2 (want 200 503)"
grep -q '"localEndpoints": 1' <<<"$body" || sy_fail "health check body: $body"
state_hc_accept 32001 || sy_fail "no filter accept for the health-check node port"

# no endpoints: immediate refusal (within 0.9 s of the connect, timed by the
# client itself: the Python start-up on a loaded machine is not counted; over
# IPv6 2.5 s: the first ICMPv6 error can meet the socket still locked by the
# connect, the SYN's retransmission after 1 s gets the refusal)
rt=0.9
[ "${IPT_FAM:-4}" = 6 ] && rt=2.5
out=$(IPT_ASK_TIMEOUT=$rt ipt_ask_many "$CLIENT" tcp 10.96.0.90 80 1)
[ "$out" = REFUSED ] || sy_fail "no endpoints, TCP: $out (want REFUSED within $rt s)"
out=$(ipt_ask_many "$CLIENT" udp 10.96.0.90 53 1)
[ "$out" = REFUSED ] || sy_fail "no endpoints, UDP: $out (want REFUSED)"
out=$(ipt_ask_many "$NODE" tcp 10.96.0.90 80 1)
[ "$out" = REFUSED ] || sy_fail "no endpoints, from the node: $out (want REFUSED)"

# affinity: one client sticks ...
out=$(ipt_ask_many "$CLIENT" tcp 10.96.0.91 80 20 192.168.50.2)
[ "$(sort -u <<<"$out" | wc -l)" -eq 1 ] && grep -q '^ep' <<<"$out" ||
	sy_fail "affinity: one client reached $(sort <<<"$out" | uniq -c)"
# ... each of 7 clients sticks too, and together they spread
seen=
for k in 3 4 5 6 7 8 9; do
	out=$(ipt_ask_many "$CLIENT" tcp 10.96.0.91 80 5 192.168.50.$k)
	[ "$(cut -d' ' -f1 <<<"$out" | sort -u | wc -l)" -eq 1 ] || sy_fail "affinity: client .$k: $out"
	seen+="$(head -1 <<<"$out" | cut -d' ' -f1) "
done
[ "$(tr ' ' '\n' <<<"$seen" | sort -u | grep -c ep)" -ge 2 ] || sy_fail "affinity: 7 clients all on $seen"
state_affinity 600 || sy_fail "no client-IP affinity with a 600 s timeout in the kernel"

# LB source ranges
out=$(ipt_ask_many "$CLIENT" tcp 192.168.60.20 80 10 192.168.50.2)
[ "$(grep -c '^ep[12] ' <<<"$out")" -eq 10 ] || sy_fail "LB from an allowed source: $(sort <<<"$out" | uniq -c)"
out=$(IPT_ASK_TIMEOUT=1 ipt_ask_many "$CLIENT" tcp 192.168.60.20 80 2 192.168.50.3)
[ "$(grep -c TIMEOUT <<<"$out")" -eq 2 ] || sy_fail "LB from a source outside the ranges: $out"

# source ranges with spaces and an invalid entry: trimmed / skipped, not the whole Service
lb2() {
	cat <<EOF2
apiVersion: v1
kind: Service
metadata: {name: lb2, namespace: default}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.95
  loadBalancerSourceRanges: [$1]
  ports: [{name: p, protocol: TCP, port: 80, targetPort: 8080, nodePort: 30095}]
status:
  loadBalancer: {ingress: [{ip: 192.168.60.21}]}
EOF2
}
ipt_slice lb2 TCP 8080 10.244.1.2:node2 10.244.2.2:node2 | ipt_write slice-lb2.yaml
lb2 '" 192.168.50.2/32 ", "192.168.50.300/32"' | ipt_yaml | ipt_write lb2.yaml
lb2_ok() { [ "$(ipt_ask_many "$CLIENT" tcp 192.168.60.21 80 1 192.168.50.2 | cut -c1-2)" = ep ]; }
sy_wait 30 lb2_ok || sy_fail "LB with a padded source range: $(grep lb2 "$IPT_LOG" | tail -3)"
out=$(ipt_ask_many "$CLIENT" tcp 192.168.60.21 80 10 192.168.50.2)
[ "$(grep -c '^ep[12] ' <<<"$out")" -eq 10 ] || sy_fail "LB, trimmed range, allowed source: $out"
out=$(IPT_ASK_TIMEOUT=1 ipt_ask_many "$CLIENT" tcp 192.168.60.21 80 2 192.168.50.3)
[ "$(grep -c TIMEOUT <<<"$out")" -eq 2 ] || sy_fail "LB, trimmed range, other source: $out"
grep -qF "Service default/lb2: invalid loadBalancerSourceRanges entry \"$(ipt_ip 192.168.50.300/32)\"; this entry is skipped" "$IPT_LOG" ||
	sy_fail "invalid range entry not named"
# nothing valid left: the LB IP is closed, not opened; ClusterIP and NodePort still work
lb2 '"not-a-cidr"' | ipt_yaml | ipt_write lb2.yaml
sy_wait 30 grep -q "Service default/lb2: no valid IPv$IPT_FAM entry in loadBalancerSourceRanges" "$IPT_LOG" ||
	sy_fail "no error for a Service without a valid range"
sy_wait 30 state_lacks "$(ipt_ip 192.168.60.21)" ||
	sy_fail "the LB IP is still programmed"
out=$(IPT_ASK_TIMEOUT=1 ipt_ask_many "$CLIENT" tcp 192.168.60.21 80 2 192.168.50.3)
! grep -q '^ep' <<<"$out" || sy_fail "LB without a valid range reached an endpoint: $out"
out=$(ipt_ask_many "$CLIENT" tcp 192.168.50.1 30095 5)
[ "$(grep -c '^ep[12] ' <<<"$out")" -eq 5 ] || sy_fail "NodePort of lb2: $out"
out=$(ipt_ask_many "$NODE" tcp 10.96.0.95 80 5)
[ "$(grep -c '^ep[12] ' <<<"$out")" -eq 5 ] || sy_fail "ClusterIP of lb2: $out"

# terminating fallback: only the serving+terminating endpoint while none is ready ...
out=$(ipt_ask_many "$CLIENT" tcp 10.96.0.94 80 20)
[ "$(grep -c '^ep1 ' <<<"$out")" -eq 20 ] || sy_fail "terminating fallback: $(sort <<<"$out" | uniq -c)"
# ... and not once a ready endpoint exists
term_slice true | ipt_yaml | ipt_write slice-term.yaml
only_ep2() { [ "$(ipt_ask_many "$CLIENT" tcp 10.96.0.94 80 20 | cut -d' ' -f1 | sort -u)" = ep2 ]; }
sy_wait 30 only_ep2 || sy_fail "a ready endpoint did not replace the terminating one"

# iTP=Local: only the local endpoint
out=$(ipt_ask_many "$CLIENT" tcp 10.96.0.93 80 20)
[ "$(grep -c '^ep1 ' <<<"$out")" -eq 20 ] || sy_fail "iTP=Local: $(sort <<<"$out" | uniq -c)"
sy_pass "affinity spread over: $seen"
