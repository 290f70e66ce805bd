#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# NetworkPolicy behind a dual-stack Service, in the iptables and the
# nftables proxy modes (routed lab of netpol-lib.sh with NP_DUAL=1):
# Service "web" (RequireDualStack) 10.96.0.10 and fd00:96::10, port 80 TCP
# and UDP, endpoints x/a and y/a in an EndpointSlice of each family; a
# policy on x/a admits only pods labelled pod=b of its namespace.  Traffic
# through either ClusterIP is DNATed before the forward hook, so the policy
# judges the endpoint's address of that family: each client reaches y/a
# through the Service, and x/a only from x/b — in IPv4 and in IPv6.
. "$(dirname "$0")/netpol-lib.sh"

NP_DUAL=1
np_lab routed
cat >"$NP_M/svc.yaml" <<EOF2
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  ipFamilyPolicy: RequireDualStack
  ipFamilies: [IPv4, IPv6]
  clusterIP: 10.96.0.10
  clusterIPs: [10.96.0.10, "fd00:96::10"]
  ports:
    - {name: http, protocol: TCP, port: 80, targetPort: 8080}
    - {name: dns, protocol: UDP, port: 80, targetPort: 8080}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-4
  namespace: default
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports:
  - {name: http, protocol: TCP, port: 8080}
  - {name: dns, protocol: UDP, port: 8080}
endpoints:
  - {addresses: [${NP_IP[x/a]}], conditions: {ready: true}, nodeName: node1}
  - {addresses: [${NP_IP[y/a]}], conditions: {ready: true}, nodeName: node1}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-6
  namespace: default
  labels: {kubernetes.io/service-name: web}
addressType: IPv6
ports:
  - {name: http, protocol: TCP, port: 8080}
  - {name: dns, protocol: UDP, port: 8080}
endpoints:
  - {addresses: ["${NP_IP6[x/a]}"], conditions: {ready: true}, nodeName: node1}
  - {addresses: ["${NP_IP6[y/a]}"], conditions: {ready: true}, nodeName: node1}
EOF2
cat >"$NP_M/np-x-a.json" <<'EOF2'
{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
 "metadata": {"name": "a-from-b", "namespace": "x"},
 "spec": {"podSelector": {"matchLabels": {"pod": "a"}},
          "ingress": [{"from": [{"podSelector": {"matchLabels": {"pod": "b"}}}]}]}}
EOF2
for k in x/a y/a; do
	for proto in tcp udp; do	# bound to :: : both families
		sy_bg "${NP_NS[$k]}" "$SY_TMP/echo-$proto-${k/\//-}.log" "$PY" \
			"$SY_SRC/tests/lib/echo_server.py" --proto "$proto" --port 8080 \
			--name "${k/\//-}" --bind ::
	done
done
# who answers CLIENT over PROTO through the ClusterIP HOST (20 tries), sorted and
# unique; a refused try is an ERROR, or over IPv6 TCP a TIMEOUT (the client's
# socket takes the first ICMPv6 admin-prohibited as a soft error, about 1 s:
# doc/network-policy.md)
answers() {
	ip netns exec "${NP_NS[$1]}" "$PY" "$SY_SRC/tests/lib/echo_client.py" --proto "$2" \
		--host "$3" --port 80 --count 20 --timeout 1 2>/dev/null |
		awk '$1 != "ERROR" && $1 != "TIMEOUT" {print $1}' | sort -u | tr '\n' ' '
}
export SY_XTABLES_LOCK=$SY_TMP/xtables.lock
for mode in iptables nftables; do
	NP_MODE=$mode np_start --cluster-cidr 10.244.0.0/16,fd00:244::/32
	sy_wait 30 grep -q "SyncProxyRules complete" "$NP_LOG" || sy_fail "$mode: no proxy sync"
	for vip in 10.96.0.10 fd00:96::10; do
		for proto in tcp udp; do
			got=$(answers x/b $proto $vip)
			[ "$got" = "x-a y-a " ] ||
				sy_fail "$mode $proto $vip: x/b reached [$got], want x-a and y-a"
			got=$(answers y/b $proto $vip)
			[ "$got" = "y-a " ] || sy_fail "$mode $proto $vip: y/b reached [$got], want only y-a"
		done
	done
	sy_log "$mode: both ClusterIPs: x/b -> x/a, y/a; y/b -> y/a only"
	np_stop
	ip netns exec "$NODE" "$SWITCHYARD" --cleanup >/dev/null 2>&1 || sy_fail "--cleanup ($mode)"
done
sy_pass
