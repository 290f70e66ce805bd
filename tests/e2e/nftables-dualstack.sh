#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# nftables mode over IPv6 and dual stack (issue 17), real packets: one
# instance per family, tables `ip switchyard` and `ip6 switchyard` read back
# with `nft -j list ruleset`.
#   - an IPv6-only NodePort Service: TCP and UDP over IPv6 to its ClusterIP,
#     its NodePort on the node's IPv6 address and its IPv6 externalIP, from
#     a client outside the cluster CIDR (masqueraded: the endpoint sees the
#     node), a pod (ep1) masqueraded to the externalIP and the NodePort
#     but not to the ClusterIP, a local endpoint reaching itself through
#     it (hairpin); an IPv4 externalIP on it does not fail the sync
#     (kubernetes #73157);
#   - a dual-stack Service: both ClusterIPs answer, each family with its own
#     endpoints only (the IPv4 slice names ep1, the IPv6 slice ep2 and ep3);
#   - an IPv6 LoadBalancer IP with loadBalancerSourceRanges: allowed from
#     the listed client address, dropped from another one;
#   - sessionAffinity ClientIP over IPv6 (one endpoint for one client);
#   - externalTrafficPolicy Local over IPv6 (the local endpoint only, the
#     client's address kept; a drop without a local endpoint);
#   - REJECT over IPv6: a Service without endpoints and an unused port of
#     an IPv6 ClusterIP are refused at once (ICMPv6 port unreachable);
#   - restart with both tables: established IPv6 connection kept, an
#     unchanged restart writes nothing; --nodeport-addresses with an IPv6
#     CIDR (@nodeport-ips of the ip6 table, NodePorts only there);
#     --cleanup removes both tables.
#
#   node: eth-c 192.168.50.1/24 fd00:50::1/64 -- client .2 / fd00:50::2, ::3
#         eth-K 10.244.K.1/24 fd00:244:K::1/64 -- epK 10.244.K.2 fd00:244:K::2
# Cluster CIDRs 10.244.0.0/16 and fd00:244::/32; ep3 is on this node.
. "$(dirname "$0")/nftables-lib.sh"

ipt_lab_base 6
ip -n "$CLIENT" addr add fd00:50::3/64 dev eth0 nodad
# unserved Service addresses are forwarded (and meet the filter chains); the
# IPv6 ones not back out of eth-c, which would send the client an ICMPv6
# redirect (there is no send_redirects for IPv6) before the forward hook
ip -n "$NODE" route add 10.96.0.0/16 dev eth-c
for k in 1 2 3; do
	ipt_lab_ep "$k" 6
	[ "$k" = 1 ] && ip -n "$NODE" -6 route add fd00:96::/64 dev eth-1
	# one socket for both families (v4-mapped peers print as ::ffff:a.b.c.d)
	nft_echo "${IPT_EP_NS[$k]}" "ep$k" tcp 8080 --bind ::
	nft_echo "${IPT_EP_NS[$k]}" "ep$k" udp 5353 --bind ::
done
nft_echo "${IPT_EP_NS[1]}" ep1 tcp 7000 --bind :: --hold

ipt_node_yaml 192.168.50.1 fd00:50::1 >"$M/node.yaml"
# slice SVC NAME FAMILY PORTS-YAML "ip:node" ...
slice() {
	local svc=$1 name=$2 fam=$3 ports=$4 e ip node
	shift 4
	printf -- '---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n'
	printf 'metadata: {name: %s, namespace: default, labels: {kubernetes.io/service-name: %s}}\n' "$name" "$svc"
	printf 'addressType: %s\nports: %s\nendpoints:\n' "$fam" "$ports"
	for e in "$@"; do
		ip=${e%@*} node=${e#*@}
		printf '  - {addresses: ["%s"], conditions: {ready: true}, nodeName: %s}\n' "$ip" "$node"
	done
}
HTTP='[{name: http, protocol: TCP, port: 8080}, {name: dns, protocol: UDP, port: 5353}]'
{
	cat <<'EOF'
apiVersion: v1
kind: Service
metadata: {name: web6, namespace: default}
spec:
  type: NodePort
  ipFamilyPolicy: SingleStack
  ipFamilies: [IPv6]
  clusterIP: "fd00:96::80"
  clusterIPs: ["fd00:96::80"]
  externalIPs: ["fd00:60::10", 192.168.60.11]
  ports:
    - {name: http, protocol: TCP, port: 80, targetPort: 8080, nodePort: 30080}
    - {name: dns, protocol: UDP, port: 53, targetPort: 5353, nodePort: 30053}
EOF
	slice web6 web6-a IPv6 "$HTTP" fd00:244:1::2@node2 fd00:244:2::2@node2 fd00:244:3::2@node1
	cat <<'EOF'
---
apiVersion: v1
kind: Service
metadata: {name: dual, namespace: default}
spec:
  ipFamilyPolicy: RequireDualStack
  ipFamilies: [IPv4, IPv6]
  clusterIP: 10.96.0.81
  clusterIPs: [10.96.0.81, "fd00:96::81"]
  ports:
    - {name: http, protocol: TCP, port: 80, targetPort: 8080}
EOF
	slice dual dual-4 IPv4 '[{name: http, protocol: TCP, port: 8080}]' 10.244.1.2@node2
	slice dual dual-6 IPv6 '[{name: http, protocol: TCP, port: 8080}]' fd00:244:2::2@node2 fd00:244:3::2@node1
	cat <<'EOF'
---
apiVersion: v1
kind: Service
metadata: {name: lb6, namespace: default}
spec:
  type: LoadBalancer
  ipFamilies: [IPv6]
  clusterIP: "fd00:96::83"
  clusterIPs: ["fd00:96::83"]
  loadBalancerSourceRanges: ["fd00:50::2/128"]
  ports:
    - {name: http, protocol: TCP, port: 80, targetPort: 8080, nodePort: 30081}
status:
  loadBalancer:
    ingress: [{ip: "fd00:60::20"}]
EOF
	slice lb6 lb6-a IPv6 '[{name: http, protocol: TCP, port: 8080}]' fd00:244:1::2@node2
	cat <<'EOF'
---
apiVersion: v1
kind: Service
metadata: {name: aff6, namespace: default}
spec:
  ipFamilies: [IPv6]
  clusterIP: "fd00:96::82"
  clusterIPs: ["fd00:96::82"]
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}
  ports:
    - {name: http, protocol: TCP, port: 80, targetPort: 8080}
EOF
	slice aff6 aff6-a IPv6 '[{name: http, protocol: TCP, port: 8080}]' fd00:244:1::2@node2 fd00:244:2::2@node2 fd00:244:3::2@node1
	cat <<'EOF'
---
apiVersion: v1
kind: Service
metadata: {name: empty6, namespace: default}
spec:
  ipFamilies: [IPv6]
  clusterIP: "fd00:96::90"
  clusterIPs: ["fd00:96::90"]
  ports:
    - {name: http, protocol: TCP, port: 80, targetPort: 8080}
---
apiVersion: v1
kind: Service
metadata: {name: conn6, namespace: default}
spec:
  ipFamilies: [IPv6]
  clusterIP: "fd00:96::84"
  clusterIPs: ["fd00:96::84"]
  ports:
    - {name: s, protocol: TCP, port: 7000, targetPort: 7000}
EOF
	slice conn6 conn6-a IPv6 '[{name: s, protocol: TCP, port: 7000}]' fd00:244:1::2@node2
	cat <<'EOF'
---
apiVersion: v1
kind: Service
metadata: {name: local6, namespace: default}
spec:
  type: NodePort
  ipFamilies: [IPv6]
  clusterIP: "fd00:96::85"
  clusterIPs: ["fd00:96::85"]
  externalTrafficPolicy: Local
  ports:
    - {name: http, protocol: TCP, port: 80, targetPort: 8080, nodePort: 30085}
EOF
	slice local6 local6-a IPv6 '[{name: http, protocol: TCP, port: 8080}]' fd00:244:1::2@node2 fd00:244:3::2@node1
	cat <<'EOF'
---
apiVersion: v1
kind: Service
metadata: {name: remote6, namespace: default}
spec:
  type: NodePort
  ipFamilies: [IPv6]
  clusterIP: "fd00:96::86"
  clusterIPs: ["fd00:96::86"]
  externalTrafficPolicy: Local
  ports:
    - {name: http, protocol: TCP, port: 80, targetPort: 8080, nodePort: 30086}
EOF
	slice remote6 remote6-a IPv6 '[{name: http, protocol: TCP, port: 8080}]' fd00:244:1::2@node2
} >"$M/svc.yaml"

start() {
	nft_start --manifests "$M" --cluster-cidr 10.244.0.0/16,fd00:244::/32 \
		--metrics-bind-address 127.0.0.1:10249 "$@"
}
stop() { nft_stop; }
# ask NS PROTO HOST PORT COUNT [SRC] → answers, one per line
ask() {
	ip netns exec "$1" "$PY" "$SY_SRC/tests/lib/echo_client.py" --proto "$2" --host "$3" \
		--port "$4" --count "$5" ${6:+--src "$6"} --timeout 3 2>/dev/null
}
# nft_q PYTHON-EXPR over the node's ruleset: objs[kind] = [objects], with a "family" each
nft_q() {
	ip netns exec "$NODE" nft -j list ruleset | "$PY" -c '
import json, sys
objs = {}
for o in json.load(sys.stdin)["nftables"]:
    k, v = next(iter(o.items()))
    objs.setdefault(k, []).append(v)
print(eval(sys.argv[1]))' "$1"
}
# names of the endpoints that answered, sorted and unique
who() { awk '{ print $1 }' | sort -u | tr '\n' ' '; }

start
grep -q "Using nftables Proxier" "$LOG" || sy_fail "no 'Using nftables Proxier' line"
grep -q "nftables sync failed" "$LOG" && sy_fail "a sync failed: $(grep 'sync failed' "$LOG" | head -3)"

# --- the kernel's view: both tables, the same layout, each with its family's types
tables=$(nft_q 'sorted((t["family"], t["name"]) for t in objs["table"])')
[ "$tables" = "[('ip', 'switchyard'), ('ip6', 'switchyard')]" ] || sy_fail "tables: $tables"
for fam in ip ip6; do
	# the base and global chains (not the per-port ones, not the shared chains of the shards in use)
	chains=$(nft_q 'sorted(c["name"] for c in objs["chain"] if c["family"] == "'$fam'" and "/" not in c["name"] and not c["name"].startswith("lb-"))')
	[ "$fam" = ip ] && chains4=$chains
done
[ "$chains" = "$chains4" ] || sy_fail "ip6 base/global chains differ from ip's: $chains vs $chains4"
types=$(nft_q 'sorted((m["name"], str(m["type"])) for m in objs.get("map", []) + objs.get("set", []) if m["family"] == "ip6" and m["name"] in ("service-ips", "cluster-ips", "hairpin", "firewall-ips"))')
for want in "('cluster-ips', 'ipv6_addr')" "('service-ips', \"['ipv6_addr', 'inet_proto', 'inet_service']\")" \
	"('hairpin', \"['ipv6_addr', 'ipv6_addr']\")"; do
	grep -qF "$want" <<<"$types" || sy_fail "ip6 set type $want missing: $types"
done
svc6=$(nft_q '[e for m in objs["map"] if m["family"] == "ip6" and m["name"] == "service-ips" for e in m.get("elem", [])]')
svc4=$(nft_q '[e for m in objs["map"] if m["family"] == "ip" and m["name"] == "service-ips" for e in m.get("elem", [])]')
# the shared chain of the key's shard (fd00:96::80: the last byte 0x80 = 128, group 8)
shard6=128
grep -q "fd00:96::80', 'tcp', 80\]}, {'goto': {'target': 'lb-group-8'" <<<"$svc6" || sy_fail "no IPv6 ClusterIP element to lb-group-8: $svc6"
grep -q "fd00:96::81" <<<"$svc6" && grep -q "10.96.0.81" <<<"$svc4" || sy_fail "dual-stack ClusterIPs not in both tables: $svc4 / $svc6"
grep -q "10.96\|192.168" <<<"$svc6" && sy_fail "IPv4 addresses in the ip6 table: $svc6"
grep -q "fd00" <<<"$svc4" && sy_fail "IPv6 addresses in the ip table: $svc4"
grep -q "192.168.60.11" <<<"$svc4$svc6" && sy_fail "the IPv4 externalIP of an IPv6 Service was programmed: $svc4"
rules6=$(ip netns exec "$NODE" nft list table ip6 switchyard)
# --nodeport-addresses unset: nftables defaults to "primary", the Node's IPv6 InternalIP
grep -q 'ip6 daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports' <<<"$rules6" ||
	sy_fail "no IPv6 NodePort dispatch rule: $(grep nodeports <<<"$rules6")"
np6=$(nft_q '[s.get("elem") for s in objs["set"] if s["family"] == "ip6" and s["name"] == "nodeport-ips"]')
[ "$np6" = "[['fd00:50::1']]" ] || sy_fail "ip6 nodeport-ips without --nodeport-addresses: $np6"
grep -q 'ct status dnat ip6 saddr . ip6 daddr @hairpin jump mark-for-masquerade' <<<"$rules6" || sy_fail "no ip6 hairpin rule"
grep -q 'dnat ip6 to numgen random mod 1048576 offset [0-9]* map @endpoint-ranges-[0-9]*' <<<"$rules6" || sy_fail "no ip6 dnat map rule"
lb6=$(ip netns exec "$NODE" nft list chain ip6 switchyard lb-group-8)
grep -q 'ip6 saddr != fd00:244::/32 jump mark-for-masquerade' <<<"$lb6" || sy_fail "no ip6 ClusterIP masquerade rule in lb-group-8: $lb6"
grep -q "ip6 daddr & ::f == :: dnat ip6 to ip6 daddr . meta l4proto . th dport . numgen random mod 1048576 map @service-ranges-$shard6" <<<"$lb6" ||
	sy_fail "no ip6 dnat by @service-ranges-$shard6: $lb6"
# a port with per-port logic (externalTrafficPolicy Local) keeps its own chains
grep -q 'ip6 saddr != fd00:244::/32 ip6 daddr fd00:96::85 tcp dport 80 jump mark-for-masquerade' <<<"$rules6" ||
	sy_fail "no ip6 ClusterIP masquerade rule in local6's chain"
grep -q 'ip6 saddr @affinity-' <<<"$rules6" || sy_fail "no ip6 affinity rule"
grep -q 'endpoint-[A-Z2-7]\{8\}-default/aff6/tcp/http__fd00.244.1..2/8080' <<<"$rules6" || sy_fail "no kube-proxy-named IPv6 endpoint chain"

# metrics: the nft object count of each table
met=$(ip netns exec "$NODE" curl -s http://127.0.0.1:10249/metrics)
for t in ip ip6; do
	o=$(sed -n 's/^switchyard_nftables_objects{table="'$t' switchyard"} //p' <<<"$met")
	[ "${o:-0}" -gt 50 ] || sy_fail "nft object count of $t switchyard: '$o'"
done

# --- IPv6 traffic: ClusterIP TCP + UDP (masqueraded: the client is outside fd00:244::/32)
out=$(ask "$CLIENT" tcp fd00:96::80 80 60)
[ "$(grep -c '^ep' <<<"$out")" -eq 60 ] || sy_fail "IPv6 ClusterIP TCP: $(sort <<<"$out" | uniq -c)"
[ "$(who <<<"$out")" = "ep1 ep2 ep3 " ] || sy_fail "IPv6 ClusterIP reached: $(who <<<"$out")"
grep -q '^ep1 fd00:244:1::1$' <<<"$out" || sy_fail "ep1 did not see the node's address (masquerade): $(grep ^ep1 <<<"$out" | head -1)"
out=$(ask "$CLIENT" udp fd00:96::80 53 60)
[ "$(who <<<"$out")" = "ep1 ep2 ep3 " ] || sy_fail "IPv6 ClusterIP UDP: $(sort <<<"$out" | uniq -c)"
# NodePort on the node's IPv6 address, TCP and UDP; externalIP
out=$(ask "$CLIENT" tcp fd00:50::1 30080 20)
[ "$(grep -c '^ep' <<<"$out")" -eq 20 ] || sy_fail "IPv6 NodePort TCP: $(sort <<<"$out" | uniq -c)"
out=$(ask "$CLIENT" udp fd00:50::1 30053 10)
[ "$(grep -c '^ep' <<<"$out")" -eq 10 ] || sy_fail "IPv6 NodePort UDP: $(sort <<<"$out" | uniq -c)"
out=$(ask "$CLIENT" tcp fd00:60::10 80 20)
[ "$(grep -c '^ep' <<<"$out")" -eq 20 ] || sy_fail "IPv6 externalIP: $(sort <<<"$out" | uniq -c)"
# from the node itself (nat-output)
out=$(ask "$NODE" tcp fd00:96::80 80 10)
[ "$(grep -c '^ep' <<<"$out")" -eq 10 ] || sy_fail "IPv6 ClusterIP from the node: $out"
# hairpin: ep3 reaching its own Service lands on itself now and then, masqueraded
out=$(ask "${IPT_EP_NS[3]}" tcp fd00:96::80 80 40)
grep -q '^ep3 fd00:244:3::1$' <<<"$out" || sy_fail "IPv6 hairpin: $(sort <<<"$out" | uniq -c)"
# a pod (ep1, fd00:244:1::2, inside the IPv6 cluster CIDR): to the IPv6
# ClusterIP not masqueraded (ep2/ep3 see the pod's address: the ip6
# `saddr != cluster CIDR` rule), to the IPv6 externalIP and NodePort
# masqueraded (externalTrafficPolicy Cluster)
ipt_pod_masq " over IPv6" fd00:96::80 80 fd00:60::10 80 fd00:50::1 30080

# --- dual stack: each ClusterIP with its own family's endpoints only
out4=$(ask "$CLIENT" tcp 10.96.0.81 80 30)
out6=$(ask "$CLIENT" tcp fd00:96::81 80 30)
[ "$(grep -c '^ep' <<<"$out4")" -eq 30 ] && [ "$(grep -c '^ep' <<<"$out6")" -eq 30 ] ||
	sy_fail "dual-stack ClusterIPs: v4 $(sort <<<"$out4" | uniq -c) v6 $(sort <<<"$out6" | uniq -c)"
[ "$(who <<<"$out4")" = "ep1 " ] || sy_fail "the IPv4 ClusterIP reached $(who <<<"$out4") (want ep1 only)"
[ "$(who <<<"$out6")" = "ep2 ep3 " ] || sy_fail "the IPv6 ClusterIP reached $(who <<<"$out6") (want ep2 ep3)"

# --- externalTrafficPolicy Local over IPv6: the NodePort reaches only the
#     local endpoint with the client's address kept; without a local
#     endpoint it drops, while the ClusterIP still uses the remote one
out=$(ask "$CLIENT" tcp fd00:50::1 30085 20 fd00:50::2)
[ "$(grep -c '^ep3 fd00:50::2$' <<<"$out")" -eq 20 ] ||
	sy_fail "eTP=Local NodePort over IPv6 (want ep3 seeing fd00:50::2): $(sort <<<"$out" | uniq -c)"
out=$(ask "$CLIENT" tcp fd00:50::1 30086 2)
grep -q '^ep' <<<"$out" && sy_fail "eTP=Local without a local endpoint answered over IPv6: $out"
out=$(ask "$CLIENT" tcp fd00:96::86 80 5)
[ "$(grep -c '^ep1' <<<"$out")" -eq 5 ] || sy_fail "the ClusterIP of the eTP=Local Service: $out"

# --- LoadBalancer IP with loadBalancerSourceRanges over IPv6
out=$(ask "$CLIENT" tcp fd00:60::20 80 5 fd00:50::2)
[ "$(grep -c '^ep1' <<<"$out")" -eq 5 ] || sy_fail "LB IP from the allowed source: $out"
out=$(ask "$CLIENT" tcp fd00:60::20 80 2 fd00:50::3)
grep -q '^ep' <<<"$out" && sy_fail "LB IP answered a source outside loadBalancerSourceRanges: $out"

# --- sessionAffinity ClientIP over IPv6
out=$(ask "$CLIENT" tcp fd00:96::82 80 20)
[ "$(grep -c '^ep' <<<"$out")" -eq 20 ] || sy_fail "affinity Service: $(sort <<<"$out" | uniq -c)"
[ "$(who <<<"$out" | wc -w)" -eq 1 ] || sy_fail "affinity: one client reached $(who <<<"$out")"
aff=$(nft_q '[s.get("elem") for s in objs["set"] if s["family"] == "ip6" and s["name"].startswith("affinity-")]')
grep -q "fd00:50::[23]" <<<"$aff" || sy_fail "no client in an ip6 affinity set: $aff"

# --- REJECT over IPv6: no endpoints, an unused port of a ClusterIP
for target in "fd00:96::90 80" "fd00:96::80 81"; do
	set -- $target
	# (the first ICMPv6 error can meet the socket still locked by connect: then
	# the SYN's retransmission after 1 s gets the refusal, as over IPv4)
	# refused within 2.5 s of the connect, timed by the client (the Python
	# start-up on a loaded machine is not counted)
	r=$(ip netns exec "$CLIENT" "$PY" "$SY_SRC/tests/lib/echo_client.py" --host "$1" --port "$2" --timeout 2.5)
	[ "$r" = REFUSED ] || sy_fail "[$1]:$2: '$r' (want refused within 2.5 s)"
done

# --- restart with both tables: an established IPv6 connection survives, an
#     unchanged restart writes nothing
mkfifo "$SY_TMP/in"
sy_bg "$CLIENT" "$SY_TMP/conn.log" "$PY" "$SY_SRC/tests/lib/held_client.py" fd00:96::84 7000 "$SY_TMP/in"
exec 7>"$SY_TMP/in"
sy_wait 20 grep -q "^greeting ep1" "$SY_TMP/conn.log" || sy_fail "no long-lived IPv6 connection: $(cat "$SY_TMP/conn.log")"
echo one >&7
sy_wait 20 grep -q "^reply ep1 one" "$SY_TMP/conn.log" || sy_fail "no first echo over IPv6"
# the ruleset with every handle, less the affinity sets' running timers
ruleset() { ip netns exec "$NODE" nft -a list ruleset | sed -e 's/ expires [0-9hms.]*//g'; }
before=$(ruleset)
stop
start
grep "First sync complete" -B2 "$LOG" | grep "SyncProxyRules complete" | grep -qv "writes=0" &&
	sy_fail "an unchanged restart wrote the kernel: $(grep 'SyncProxyRules complete' "$LOG" | head -3)"
after=$(ruleset)
[ "$after" = "$before" ] || sy_fail "an unchanged restart changed the ruleset: $(diff <(echo "$before") <(echo "$after") | head -20)"
echo two >&7
sy_wait 20 grep -q "^reply ep1 two" "$SY_TMP/conn.log" || sy_fail "the IPv6 connection did not survive the restart"
exec 7>&-

# --- --nodeport-addresses with an IPv6 CIDR: the ip6 table's @nodeport-ips,
#     NodePorts only on the listed IPv6 address
stop
start --nodeport-addresses 192.168.50.0/24,fd00:50::/64
np6=$(nft_q '[s.get("elem") for s in objs["set"] if s["family"] == "ip6" and s["name"] == "nodeport-ips"]')
[ "$np6" = "[['fd00:50::1']]" ] || sy_fail "ip6 nodeport-ips: $np6"
np4=$(nft_q '[s.get("elem") for s in objs["set"] if s["family"] == "ip" and s["name"] == "nodeport-ips"]')
[ "$np4" = "[['192.168.50.1']]" ] || sy_fail "ip nodeport-ips: $np4"
ip netns exec "$NODE" nft list chain ip6 switchyard services |
	grep -q 'ip6 daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports' || sy_fail "no ip6 @nodeport-ips dispatch rule"
out=$(ask "$CLIENT" tcp fd00:50::1 30080 5)
[ "$(grep -c '^ep' <<<"$out")" -eq 5 ] || sy_fail "IPv6 NodePort on the listed address: $(sort <<<"$out" | uniq -c)"
out=$(ask "$CLIENT" tcp fd00:244:1::1 30080 2)
grep -q '^ep' <<<"$out" && sy_fail "IPv6 NodePort answered on an address outside --nodeport-addresses: $out"

# --- --cleanup removes both tables
stop
ip netns exec "$NODE" "$SWITCHYARD" --cleanup >"$SY_TMP/cleanup.log" 2>&1 || sy_fail "--cleanup failed: $(cat "$SY_TMP/cleanup.log")"
ip netns exec "$NODE" nft list tables | grep -q switchyard && sy_fail "--cleanup left: $(ip netns exec "$NODE" nft list tables)"
sy_pass
