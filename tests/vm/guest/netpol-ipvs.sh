# SPDX-License-Identifier: Apache-2.0
# Inside the VM: NetworkPolicy beside the IPVS mode.  IPVS DNATs at the
# input hook and sends the packet out through the output hook (not
# forward), so the policy table's output chains judge it: Service web
# 10.96.0.10:80 -> p1, p2; a policy on p1 (x/a) admits only pod=b (p2).
# Through the Service, p2 reaches p1 and p2, p3 and the client outside the
# node reach only p2; directly, p3 cannot reach p1; the node itself can.
# The same over IPv6 (issue 17): the pods are dual-stack, Service web6
# fd00:96::10 (the IPv6 IPVS instance) -> p1, p2; the policy judges the
# endpoints' IPv6 addresses in the output chains' ip6 rules.
. "$SY_SRC/tests/lib/common.sh"
. "$SY_SRC/tests/vm/guest/lib.sh"

vm_topology
vm_topology6
vm_pod_servers
cat >"$M/web6.yaml" <<EOF2
apiVersion: v1
kind: Service
metadata: {name: web6, namespace: default}
spec:
  clusterIP: fd00:96::10
  clusterIPs: ["fd00:96::10"]
  ipFamilies: [IPv6]
  ipFamilyPolicy: SingleStack
  ports:
  - {name: http, port: 80, targetPort: 8080, protocol: TCP}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web6-v6, namespace: default, labels: {kubernetes.io/service-name: web6}}
addressType: IPv6
ports:
- {name: http, port: 8080, protocol: TCP}
endpoints:
- {addresses: ["${POD6[0]}"], nodeName: node1, conditions: {ready: true}}
- {addresses: ["${POD6[1]}"], nodeName: node1, conditions: {ready: true}}
EOF2
vm_svc "$M/web.yaml" web 10.96.0.10 "http:80:8080:TCP" "${POD_IPS[0]} ${POD_IPS[1]}"
for i in 0 1 2; do
	cat >"$M/pod-$i.yaml" <<EOF2
apiVersion: v1
kind: Pod
metadata: {name: p$((i + 1)), namespace: x, labels: {pod: $(echo abc | cut -c$((i + 1)))}}
spec: {nodeName: node1, containers: [{name: c}]}
status: {phase: Running, podIP: ${POD_IPS[$i]}, podIPs: [{ip: ${POD_IPS[$i]}}, {ip: "${POD6[$i]}"}]}
EOF2
done
cat >"$M/np.yaml" <<'EOF2'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-from-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]
EOF2
vm_daemon --network-policy || { notok "daemon starts and syncs"; vm_checks_done; }
sy_wait 30 grep -q "NetworkPolicy sync complete: full=true" "$DLOG" ||
	{ notok "first NetworkPolicy sync: $(grep -i 'policy' "$DLOG" | tail -3)"; vm_checks_done; }
ok "daemon with --network-policy in the ipvs mode"
ip netns exec "$NODE" nft list table inet switchyard-policy | sed -n '/chain output-ingress/,/}/p' |
	sed 's/^/#   /'
who() { vm_ask "$1" tcp "$2" "$3" 20 | awk '{print $1}' | grep -v '^REFUSED\|^TIMEOUT\|^ERROR\|^UNREACHABLE' | sort -u | tr '\n' ' '; }
check "p2 (pod=b) reaches p1 and p2 through the Service" [ "$(who "$P2" 10.96.0.10 80)" = "p1 p2 " ]
check "p3 (pod=c) reaches only p2 through the Service" [ "$(who "$P3" 10.96.0.10 80)" = "p2 " ]
check "the client outside the node reaches only p2 through the Service" \
	[ "$(who "$CLIENT" 10.96.0.10 80)" = "p2 " ]
check "p3 cannot reach p1 directly" [ "$(who "$P3" "${POD_IPS[0]}" 8080)" = "" ]
check "the node itself reaches p1" [ "$(who "$NODE" "${POD_IPS[0]}" 8080)" = "p1 " ]
check "IPv6: p2 (pod=b) reaches p1 and p2 through the Service" [ "$(who "$P2" fd00:96::10 80)" = "p1 p2 " ]
check "IPv6: p3 (pod=c) reaches only p2 through the Service" [ "$(who "$P3" fd00:96::10 80)" = "p2 " ]
check "IPv6: the client outside the node reaches only p2 through the Service" \
	[ "$(who "$CLIENT" fd00:96::10 80)" = "p2 " ]
check "IPv6: p3 cannot reach p1 directly" [ "$(who "$P3" "${POD6[0]}" 8080)" = "" ]
check "IPv6: the node itself reaches p1" [ "$(who "$NODE" "${POD6[0]}" 8080)" = "p1 " ]
vm_daemon_stop
vm_checks_done
