#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# nftables mode: kube-proxy's "Drop traffic to unallocated ClusterIPs" from
# networking.k8s.io/v1 ServiceCIDR objects, real packets in both families.
# A host ("fake") owns addresses inside the Service CIDRs that no Service
# has (10.96.0.200, 10.96.1.200, fd00:96::200): without a ServiceCIDR they
# answer (the lab forwards them), with one their traffic is dropped in
# cluster-ips-check (forwarded from a client, and sent by the node itself),
# while an allocated ClusterIP answers, a ClusterIP without endpoints and an
# unused port of a ClusterIP are still REJECTed.  ServiceCIDRs come and go
# at runtime: from the manifest directory (an invalid one logged with kind,
# name and reason and skipped); with SC_PART=api (what
# nftables-servicecidr-apiserver.sh runs) from the API server double through
# the real kubectl instead (its default "kubernetes" ServiceCIDR from
# --service-cluster-ip-range; a deleted one stays while a Service's
# ClusterIP needs it, as the real server's finalizer keeps it; the default
# one deleted comes back, as the real server recreates it; an unchanged
# restart waits for the ServiceCIDRs and writes nothing; ServiceCIDRs that
# cannot be listed hold the first sync back 10 s only).
#
#   node: eth-c 192.168.50.1/24 fd00:50::1/64 -- client .2 / fd00:50::2
#         eth-1 10.244.1.1/24 fd00:244:1::1/64 -- ep1 .2 / ::2
#         eth-f 192.168.70.1/24 fd00:70::1/64 -- fake .2 / ::2, also 10.96.0.200,
#               10.96.1.200, 10.97.0.200, fd00:96::200; the node routes
#               10.96.0.0/16, 10.97.0.0/24 and fd00:96::/64 to it
. "$(dirname "$0")/nftables-lib.sh"

ipt_lab_base 6
ipt_lab_ep 1 6
nft_fake 6 "10.96.0.200/32 10.96.1.200/32 10.97.0.200/32 fd00:96::200/128" \
	"10.96.0.0/16 10.97.0.0/24 fd00:96::/64"
for ns in "${IPT_EP_NS[1]}" "$FAKE"; do
	name=ep1
	[ "$ns" = "$FAKE" ] && name=fake
	nft_echo "$ns" "$name" tcp 8080 --bind ::
	nft_echo "$ns" "$name" udp 5353 --bind ::
done

# services: web (dual-stack, endpoint ep1), empty (dual-stack, no endpoints)
services() {
	cat <<'EOF'
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  ipFamilyPolicy: RequireDualStack
  ipFamilies: [IPv4, IPv6]
  clusterIP: 10.96.0.80
  clusterIPs: [10.96.0.80, "fd00:96::80"]
  ports:
    - {name: http, protocol: TCP, port: 80, targetPort: 8080}
    - {name: dns, protocol: UDP, port: 53, targetPort: 5353}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-4, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, protocol: TCP, port: 8080}, {name: dns, protocol: UDP, port: 5353}]
endpoints: [{addresses: [10.244.1.2], conditions: {ready: true}, nodeName: node2}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-6, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv6
ports: [{name: http, protocol: TCP, port: 8080}, {name: dns, protocol: UDP, port: 5353}]
endpoints: [{addresses: ["fd00:244:1::2"], conditions: {ready: true}, nodeName: node2}]
---
apiVersion: v1
kind: Service
metadata: {name: empty, namespace: default}
spec:
  ipFamilyPolicy: RequireDualStack
  ipFamilies: [IPv4, IPv6]
  clusterIP: 10.96.0.90
  clusterIPs: [10.96.0.90, "fd00:96::90"]
  ports:
    - {name: http, protocol: TCP, port: 80, targetPort: 8080}
EOF
}
node_yaml() { ipt_node_yaml 192.168.50.1 fd00:50::1; }
# servicecidr NAME CIDR... → a ServiceCIDR
servicecidr() {
	local name=$1
	shift
	printf 'apiVersion: networking.k8s.io/v1\nkind: ServiceCIDR\nmetadata: {name: %s}\nspec:\n  cidrs: [' "$name"
	local sep=
	for c in "$@"; do printf '%s"%s"' "$sep" "$c"; sep=', '; done
	printf ']\n'
}
write() { ipt_write "$1"; }

# --nodeport-addresses: the NodePort rules do not wait for the Node object
# (the default "primary" does, and a first sync before the Node is listed
# would make the restart below rewrite them)
start() {
	nft_start --cluster-cidr 10.244.0.0/16,fd00:244::/32 --metrics-bind-address 127.0.0.1:10249 \
		--nodeport-addresses 192.168.50.0/24,fd00:50::/64 "$@"
}
stop() { nft_stop; }

# ask NS PROTO IP PORT [TIMEOUT] → the first word of the answer: ep1, fake, REFUSED, TIMEOUT
ask() {
	ip netns exec "$1" "$PY" "$SY_SRC/tests/lib/echo_client.py" --proto "$2" --host "$3" \
		--port "$4" --timeout "${5:-3}" 2>/dev/null | cut -d' ' -f1
}
# expect NS PROTO IP PORT WANT [WHAT] (a drop is waited for 1 s: the same
# path answered before the rule, within that time)
expect() {
	local got t=3
	[ "$5" = TIMEOUT ] && t=1
	got=$(ask "$1" "$2" "$3" "$4" $t)
	[ "$got" = "$5" ] || sy_fail "${6:-}$2 $3 port $4 from $(basename "$1"): '$got', want '$5'"
}
# drops FAMILY: the drop rules of cluster-ips-check in that table, one per line
drops() {
	ip netns exec "$NODE" nft list chain "$1" switchyard cluster-ips-check 2>/dev/null |
		grep -o "ip6\? daddr [0-9a-f:.]*/[0-9]* drop" | sort | tr '\n' ';'
}
want_drops() { [ "$(drops ip)" = "$1" ] && [ "$(drops ip6)" = "$2" ]; }
wait_drops() {
	sy_wait 30 want_drops "$1" "$2" ||
		sy_fail "${3:-}cluster-ips-check drops: ip '$(drops ip)' ip6 '$(drops ip6)', want '$1' / '$2'"
}

# allocated ClusterIPs as before: answered, REJECT without endpoints and on an unused port
allocated_some() {
	expect "$CLIENT" tcp 10.96.0.80 80 ep1 "$1"
	expect "$CLIENT" tcp fd00:96::90 80 REFUSED "$1"
}
allocated_ok() {
	expect "$CLIENT" tcp 10.96.0.80 80 ep1 "$1"
	expect "$CLIENT" udp 10.96.0.80 53 ep1 "$1"
	expect "$CLIENT" tcp fd00:96::80 80 ep1 "$1"
	expect "$CLIENT" tcp 10.96.0.90 80 REFUSED "$1"
	expect "$CLIENT" tcp fd00:96::90 80 REFUSED "$1"
	expect "$CLIENT" tcp 10.96.0.80 81 REFUSED "$1"
	expect "$CLIENT" tcp fd00:96::80 81 REFUSED "$1"
	expect "$NODE" tcp 10.96.0.80 80 ep1 "$1"
	expect "$NODE" tcp 10.96.0.90 80 REFUSED "$1"
}

# nftables-servicecidr-apiserver.sh runs the second part only
SC_PART=${SC_PART:-manifests}

# ---- 1. the manifest directory ----
if [ "$SC_PART" = manifests ]; then
node_yaml | write node.yaml
services | write svc.yaml
start --manifests "$M"
# without a ServiceCIDR: no drop rule, the unallocated addresses are forwarded and answered
want_drops "" "" || sy_fail "drop rules without a ServiceCIDR: '$(drops ip)' '$(drops ip6)'"
expect "$CLIENT" tcp 10.96.0.200 8080 fake "no ServiceCIDR: "
expect "$CLIENT" tcp fd00:96::200 8080 fake "no ServiceCIDR: "
expect "$NODE" tcp 10.96.0.200 8080 fake "no ServiceCIDR: "
allocated_some "no ServiceCIDR: "

# the cluster's ServiceCIDR: both families dropped
servicecidr kubernetes 10.96.0.0/16 fd00:96::/64 | write cidr.yaml
wait_drops "ip daddr 10.96.0.0/16 drop;" "ip6 daddr fd00:96::/64 drop;"
state_cidrs=$(ip netns exec "$NODE" curl -sf http://127.0.0.1:10249/debug/state?summary |
	"$PY" -c 'import json, sys; print(json.load(sys.stdin)["serviceCIDRs"])')
[ "$state_cidrs" = "['10.96.0.0/16', 'fd00:96::/64']" ] || sy_fail "/debug/state serviceCIDRs: $state_cidrs"
# the reject of @cluster-ips stays first
ip netns exec "$NODE" nft list chain ip switchyard cluster-ips-check | grep -v '^\s*$' | sed -n 2,3p |
	grep -q 'ip daddr @cluster-ips reject' || sy_fail "cluster-ips-check: $(ip netns exec "$NODE" nft list chain ip switchyard cluster-ips-check)"
for a in 10.96.0.200 10.96.1.200 fd00:96::200; do
	expect "$CLIENT" tcp "$a" 8080 TIMEOUT "ServiceCIDR kubernetes: "
done
expect "$CLIENT" udp 10.96.0.200 5353 TIMEOUT "ServiceCIDR kubernetes: "
expect "$CLIENT" udp fd00:96::200 5353 TIMEOUT "ServiceCIDR kubernetes: "
# from the node itself (filter-output-post-dnat); the fake host outside the CIDR still answers
expect "$NODE" tcp 10.96.0.200 8080 TIMEOUT "ServiceCIDR kubernetes, from the node: "
expect "$NODE" tcp fd00:96::200 8080 TIMEOUT "ServiceCIDR kubernetes, from the node: "
expect "$NODE" tcp 192.168.70.2 8080 fake "outside the Service CIDRs: "
expect "$CLIENT" tcp 192.168.70.2 8080 fake "outside the Service CIDRs: "
allocated_ok "ServiceCIDR kubernetes: "

# at runtime: an invalid one is skipped with its reason, a second one added, the first removed
{
	servicecidr kubernetes 10.96.0.0/16 fd00:96::/64
	echo ---
	servicecidr bad 10.97.0.0/24 10.98.0.0/24
	echo ---
	servicecidr extra 10.96.0.192/26
} | write cidr.yaml
wait_drops "ip daddr 10.96.0.0/16 drop;ip daddr 10.96.0.192/26 drop;" "ip6 daddr fd00:96::/64 drop;"
sy_wait 20 grep -q "ServiceCIDR bad: spec.cidrs: may specify no more than one CIDR for each IP family.*skipped" "$LOG" ||
	sy_fail "no error line for the invalid ServiceCIDR: $(grep -i servicecidr "$LOG" | tail -3)"
servicecidr extra 10.96.0.192/26 | write cidr.yaml
wait_drops "ip daddr 10.96.0.192/26 drop;" ""
expect "$CLIENT" tcp 10.96.0.200 8080 TIMEOUT "ServiceCIDR extra only: "
expect "$CLIENT" tcp 10.96.1.200 8080 fake "ServiceCIDR extra only: "
expect "$CLIENT" tcp fd00:96::200 8080 fake "no IPv6 ServiceCIDR: "
rm -f "$M/cidr.yaml"
wait_drops "" ""
expect "$CLIENT" tcp 10.96.0.200 8080 fake "ServiceCIDRs removed: "
allocated_some "ServiceCIDRs removed: "
stop
sy_pass
fi

# ---- 2. the API server double and kubectl ----
command -v kubectl >/dev/null || sy_skip "kubectl not installed"
nft_api --service-cluster-ip-range 10.96.0.0/16,fd00:96::/64 --default-service-cidr-interval 2
node_yaml | kc create --validate=false -f - >/dev/null || sy_fail "kubectl create node"
services | kc create --validate=false -f - >/dev/null || sy_fail "kubectl create services"
kc get servicecidr kubernetes >/dev/null || sy_fail "no default ServiceCIDR kubernetes"
start --kubeconfig "$K8S_KUBECONFIG"
grep -q "watching Services, EndpointSlices, ServiceCIDRs" "$LOG" || sy_fail "no ServiceCIDR informer: $(grep 'Kubernetes client' "$LOG")"
wait_drops "ip daddr 10.96.0.0/16 drop;" "ip6 daddr fd00:96::/64 drop;" "API, default ServiceCIDR: "
expect "$CLIENT" tcp 10.96.0.200 8080 TIMEOUT "API, default ServiceCIDR: "
allocated_some "API, default ServiceCIDR: "
servicecidr extra 10.96.0.192/26 | kc create --validate=false -f - >/dev/null || sy_fail "kubectl create servicecidr"
wait_drops "ip daddr 10.96.0.0/16 drop;ip daddr 10.96.0.192/26 drop;" "ip6 daddr fd00:96::/64 drop;" "API, extra: "
# a restart waits for the ServiceCIDRs' listing (here the first one fails:
# it comes after the Services and EndpointSlices): the unchanged tables are
# not written
stop
k8s_ctl fail "n=1&code=500&resource=servicecidrs" >/dev/null || sy_fail "fail injection"
start --kubeconfig "$K8S_KUBECONFIG"
grep "First sync complete" -B1 "$LOG" | grep -q "writes=0" ||
	sy_fail "an unchanged restart wrote the kernel: $(grep 'SyncProxyRules' "$LOG" | head -2)"
want_drops "ip daddr 10.96.0.0/16 drop;ip daddr 10.96.0.192/26 drop;" "ip6 daddr fd00:96::/64 drop;" ||
	sy_fail "restart: '$(drops ip)' '$(drops ip6)'"
expect "$CLIENT" tcp 10.96.0.200 8080 TIMEOUT "API, after a restart: "
# the real server refuses what the daemon would skip
servicecidr bad 10.97.0.0/24 10.98.0.0/24 | kc create --validate=false -f - >/dev/null 2>&1 &&
	sy_fail "the double accepted two IPv4 CIDRs"
# a ServiceCIDR deleted while a Service's ClusterIP needs it stays (its
# finalizer), its rule with it; it goes with the Service, the rule too
B="ip daddr 10.96.0.0/16 drop;ip daddr 10.96.0.192/26 drop;"
servicecidr extra2 10.97.0.0/24 | kc create --validate=false -f - >/dev/null || sy_fail "kubectl create servicecidr extra2"
wait_drops "${B}ip daddr 10.97.0.0/24 drop;" "ip6 daddr fd00:96::/64 drop;" "API, extra2: "
expect "$CLIENT" tcp 10.97.0.200 8080 TIMEOUT "API, extra2: "
printf 'apiVersion: v1\nkind: Service\nmetadata: {name: in2, namespace: default}\nspec:\n  clusterIP: 10.97.0.10\n  ports: [{port: 80, targetPort: 8080}]\n' |
	kc create --validate=false -f - >/dev/null || sy_fail "kubectl create a Service in extra2"
kc delete servicecidr extra2 --wait=false >/dev/null || sy_fail "kubectl delete servicecidr"
[ -n "$(kc get servicecidr extra2 -o jsonpath='{.metadata.deletionTimestamp}')" ] ||
	sy_fail "the ServiceCIDR in use is gone at once"
sleep 1	# nothing is expected to happen: give a wrong sync the time to show
want_drops "${B}ip daddr 10.97.0.0/24 drop;" "ip6 daddr fd00:96::/64 drop;" ||
	sy_fail "a terminating ServiceCIDR lost its rule: '$(drops ip)' '$(drops ip6)'"
kc delete service in2 >/dev/null || sy_fail "kubectl delete service in2"
sy_wait 30 sh -c "! ip netns exec '$NODE' kubectl --kubeconfig '$K8S_KUBECONFIG' get servicecidr extra2 >/dev/null 2>&1" ||
	sy_fail "the ServiceCIDR stayed after its Service went"
wait_drops "$B" "ip6 daddr fd00:96::/64 drop;" "API, extra2 deleted: "
expect "$CLIENT" tcp 10.97.0.200 8080 fake "API, extra2 deleted: "
# the default one deleted comes back (the real server's controller recreates it;
# its uid is read first: once the Services are gone it may be back within 2 s)
uid=$(kc get servicecidr kubernetes -o jsonpath='{.metadata.uid}')
kc delete servicecidr kubernetes --wait=false >/dev/null || sy_fail "kubectl delete servicecidr kubernetes"
kc delete service web empty >/dev/null || sy_fail "kubectl delete services"
back() {
	local o
	o=$(kc get servicecidr kubernetes -o jsonpath='{.metadata.uid} {.metadata.deletionTimestamp}') &&
		[ "${o%% *}" != "$uid" ] && [ -z "${o#* }" ]
}
sy_wait 30 back || sy_fail "the default ServiceCIDR did not come back: $(kc get servicecidr -o json | head -c 600)"
wait_drops "$B" "ip6 daddr fd00:96::/64 drop;" "API, kubernetes recreated: "
expect "$CLIENT" tcp 10.96.1.200 8080 TIMEOUT "API, kubernetes recreated: "
# ServiceCIDRs that cannot be listed hold the first sync back 10 s, not for ever
stop
k8s_ctl fail "n=100000&code=500&resource=servicecidrs" >/dev/null || sy_fail "fail injection"
start --kubeconfig "$K8S_KUBECONFIG"
grep -q "ServiceCIDRs not listed after 10s; syncing without them" "$LOG" ||
	sy_fail "no warning for the unlisted ServiceCIDRs: $(grep -i servicecidr "$LOG" | tail -3)"
services | kc create --validate=false -f - >/dev/null 2>&1	# the slices are still there
expect "$CLIENT" tcp 10.96.1.200 8080 fake "API, ServiceCIDRs unlisted: "
sy_wait 30 sh -c "[ \"\$(ip netns exec '$CLIENT' '$PY' '$SY_SRC/tests/lib/echo_client.py' --proto tcp --host 10.96.0.80 --port 80 --timeout 3 2>/dev/null | cut -d' ' -f1)\" = ep1 ]" ||
	sy_fail "the Service is not proxied while ServiceCIDRs cannot be listed"
k8s_ctl fail "n=0" >/dev/null || sy_fail "fail injection off"
stop
sy_pass
