#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# iptables mode in IPv6 and dual stack (issue 17), real packets in both
# families: one switchyard, two instances of the mode (iptables and
# ip6tables tables, the same chains).
#  - a dual-stack Service (TCP, UDP, SCTP ports; NodePort; an externalIP of
#    each family) answers on both ClusterIPs, each family only with its own
#    EndpointSlice's endpoints (IPv4: ep1 ep2, IPv6: ep2 ep3); a client
#    outside the cluster CIDRs is masqueraded in both, a pod in both only
#    through the externalIP and the NodePort, not the ClusterIP; NodePort and
#    externalIP answer over IPv6 from outside the node; NodePorts do not
#    answer on [::1] (kube-proxy: never in IPv6) while IPv4 keeps
#    127.0.0.1; hairpin over IPv6;
#  - an IPv6-only LoadBalancer Service with ClientIP affinity and
#    loadBalancerSourceRanges: one client sticks, many spread, the LB IP
#    answers the allowed source and drops the other;
#  - an IPv6 Service without endpoints is refused (UDP: ECONNREFUSED; TCP:
#    every SYN rejected with an ICMPv6 unreachable, never answered);
#  - 60 IPv6 Services make an IPv6 dispatch tree, sampled ClusterIPs answer;
#  - ip6tables-legacy-save reads every rule back and
#    ip6tables-legacy-restore --test accepts the table; the IPv4 tables hold
#    no IPv6 address and the IPv6 ones no IPv4 address;
#  - externalTrafficPolicy: Local over IPv6 (only the local endpoint, the
#    client's address kept); the healthCheckNodePort server answers over
#    IPv6 (200 with localEndpoints 1 / 503 with 0, counting IPv6 endpoints)
#    and ip6tables' filter accepts its port; without a local endpoint the
#    NodePort drops external clients;
#  - internalTrafficPolicy: Local over IPv6 (only the local endpoint);
#  - IPv6 serving+terminating endpoints only while none is ready;
#  - an established IPv6 connection through a ClusterIP survives a restart
#    with an IPv6 EndpointSlice change made while the daemon was down;
#  - an IPv6 endpoint change reaches the ip6tables tables only; an
#    unchanged restart writes neither family, also after the tables were
#    saved and restored by the real tools (byte-equal encoding);
#  - --cleanup removes ours from both families' tables, foreign rules stay.
#
#   node  eth-c 192.168.50.1/24 fd00:50::1/64 ── client .2 ::2 (+ .3-.9 ::3-::9)
#         eth-K 10.244.K.1/24 fd00:244:K::1/64 ── epK 10.244.K.2 fd00:244:K::2
#   cluster CIDRs 10.244.0.0/16 and fd00:244::/32; ClusterIPs 10.96/16 and
#   external/LB IPs 192.168.60/24 are routed back out of eth-c, fd00:96::/64
#   and fd00:60::/64 out of eth-1 (so unserved ones reach the filter table).
. "$(dirname "$0")/iptables-lib.sh"
command -v ip6tables-legacy-save >/dev/null || sy_skip "ip6tables-legacy-save missing"

sy_mkns NODE node
sy_mkns CLIENT client
for ns in "$NODE" "$CLIENT"; do
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
done
ip netns exec "$NODE" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
	net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.default.send_redirects=0 \
	net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0
sy_veth "$NODE" eth-c 192.168.50.1/24 "$CLIENT" eth0 192.168.50.2/24
ip -n "$NODE" addr add fd00:50::1/64 dev eth-c nodad
for k in 2 3 4 5 6 7 8 9; do
	ip -n "$CLIENT" addr add fd00:50::$k/64 dev eth0 nodad
	[ $k = 2 ] || ip -n "$CLIENT" addr add 192.168.50.$k/24 dev eth0
done
ip -n "$CLIENT" route add default via 192.168.50.1
ip -n "$CLIENT" -6 route add default via fd00:50::1
ip -n "$NODE" route add 10.96.0.0/16 dev eth-c
ip -n "$NODE" route add 192.168.60.0/24 dev eth-c
for k in 1 2 3; do
	sy_mkns epns "ep$k"
	IPT_EP_NS[$k]=$epns
	ip netns exec "$epns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	sy_veth "$NODE" "eth-$k" "10.244.$k.1/24" "$epns" eth0 "10.244.$k.2/24"
	ip -n "$NODE" addr add "fd00:244:$k::1/64" dev "eth-$k" nodad
	ip -n "$epns" addr add "fd00:244:$k::2/64" dev eth0 nodad
	ip -n "$epns" route add default via "10.244.$k.1"
	ip -n "$epns" -6 route add default via "fd00:244:$k::1"
	# unserved IPv6 Service addresses are forwarded (to meet the filter
	# rules) out of eth-1, not back out of eth-c: IPv6 has no send_redirects,
	# and a redirect would send the client's next SYN past the node
	[ $k = 1 ] && ip -n "$NODE" -6 route add fd00:96::/64 dev eth-1 &&
		ip -n "$NODE" -6 route add fd00:60::/64 dev eth-1
	# one server per endpoint and protocol for both families ([::] takes IPv4 too)
	for p in tcp:8080 udp:5353; do
		sy_bg "$epns" "$SY_TMP/ep$k-$p.log" "$PY" "$SY_SRC/tests/lib/echo_server.py" \
			--proto "${p%:*}" --port "${p#*:}" --name "ep$k" --bind ::
	done
	# long-lived connections (the restart check)
	[ $k = 3 ] || sy_bg "$epns" "$SY_TMP/ep$k-hold.log" "$PY" "$SY_SRC/tests/lib/echo_server.py" \
		--port 8081 --name "ep$k" --bind :: --hold
done
sy_wait 20 sh -c "! ip -n '$NODE' -6 addr show tentative | grep -q inet6" || sy_fail "addresses stay tentative"

ipt_node_manifest
echo '    - {type: InternalIP, address: "fd00:50::1"}' >>"$IPT_M/node.yaml"
# web: iptables-basic's Service made dual-stack; its IPv4 slice without ep3
ipt_web_manifest | sed -e 's/^  clusterIP: 10.96.0.80$/&\n  ipFamilyPolicy: RequireDualStack\n  ipFamilies: [IPv4, IPv6]\n  clusterIPs: [10.96.0.80, "fd00:96::80"]/' \
	-e 's/^  externalIPs: \[192.168.60.10\]$/  externalIPs: [192.168.60.10, "fd00:60::10"]/' \
	-e '/10\.244\.3\.2/d' | ipt_write web.yaml
grep -q 'fd00:96::80' "$IPT_M/web.yaml" && grep -q 'fd00:60::10' "$IPT_M/web.yaml" ||
	sy_fail "ipt_web_manifest changed shape: $(cat "$IPT_M/web.yaml")"
# slice6 NAME SERVICE PORTS ADDR@NODE...: an IPv6 EndpointSlice
slice6() {
	local e
	printf 'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n'
	printf 'metadata: {name: %s, namespace: default, labels: {kubernetes.io/service-name: %s}}\n' "$1" "$2"
	printf 'addressType: IPv6\nports: %s\nendpoints:\n' "$3"
	shift 3
	for e in "$@"; do
		printf '  - {addresses: ["%s"], conditions: {ready: true}, nodeName: %s}\n' "${e%@*}" "${e#*@}"
	done
}
WEB_PORTS='[{name: http, protocol: TCP, port: 8080}, {name: dns, protocol: UDP, port: 5353}, {name: sctp, protocol: SCTP, port: 9999}]'
# web6 EP: web's IPv6 slice: EP and ep3 (on this node)
web6() { slice6 web-v6 web "$WEB_PORTS" "$1@node2" "fd00:244:3::2@node1" | ipt_write web6.yaml; }
web6 fd00:244:2::2
# 60 IPv6-only Services on spread addresses: SY-SERVICES becomes an IPv6
# dispatch tree (hashed SY-DST-* chains, masks that are no multiple of 8)
for i in $(seq 1 60); do
	a=$(printf 'fd00:96::%x:%x' $((i * 37 % 4096)) $((i * 613 % 65536 | 1)))
	printf -- '---\napiVersion: v1\nkind: Service\nmetadata: {name: t%s, namespace: default}\n' "$i"
	printf 'spec: {ipFamilies: [IPv6], clusterIP: "%s", clusterIPs: ["%s"], ports: [{name: p, port: 80, targetPort: 8080}]}\n' "$a" "$a"
	slice6 "t$i-1" "t$i" '[{name: p, protocol: TCP, port: 8080}]' fd00:244:1::2@node2 | sed '1i ---'
done | ipt_write tree.yaml
slice6 six-1 six '[{name: p, protocol: TCP, port: 8080}]' fd00:244:1::2@node2 fd00:244:2::2@node2 \
	fd00:244:3::2@node1 | ipt_write six-slice.yaml
slice6 loc-1 loc '[{name: p, protocol: TCP, port: 8080}]' fd00:244:1::2@node2 fd00:244:3::2@node1 |
	ipt_write loc-slice.yaml
# term6 READY: ep1 serving+terminating, ep2 ready (and serving) or not, ep3 terminating, not serving
term6() {
	{
		slice6 term6-1 term6 '[{name: p, protocol: TCP, port: 8080}]'
		cat <<EOF2
  - {addresses: ["fd00:244:1::2"], conditions: {ready: false, serving: true, terminating: true}, nodeName: node2}
  - {addresses: ["fd00:244:2::2"], conditions: {ready: $1, serving: $1, terminating: false}, nodeName: node2}
  - {addresses: ["fd00:244:3::2"], conditions: {ready: false, serving: false, terminating: true}, nodeName: node1}
EOF2
	} | ipt_write term6-slice.yaml
}
term6 false
slice6 itp6-1 itp6 '[{name: p, protocol: TCP, port: 8080}]' fd00:244:1::2@node2 fd00:244:3::2@node1 |
	ipt_write itp6-slice.yaml
slice6 hc6-1 hc6 '[{name: p, protocol: TCP, port: 8080}]' fd00:244:1::2@node2 fd00:244:3::2@node1 |
	ipt_write hc6-slice.yaml
slice6 hcnone6-1 hcnone6 '[{name: p, protocol: TCP, port: 8080}]' fd00:244:1::2@node2 fd00:244:2::2@node2 |
	ipt_write hcnone6-slice.yaml
slice6 hold6-1 hold6 '[{name: p, protocol: TCP, port: 8081}]' fd00:244:1::2@node2 | ipt_write hold6-slice.yaml
cat <<'EOF' | ipt_write svc6.yaml
apiVersion: v1
kind: Service
metadata: {name: itp6, namespace: default}
spec:
  {ipFamilies: [IPv6], clusterIP: "fd00:96::93", clusterIPs: ["fd00:96::93"], internalTrafficPolicy: Local,
   ports: [{name: p, protocol: TCP, port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: term6, namespace: default}
spec:
  {ipFamilies: [IPv6], clusterIP: "fd00:96::94", clusterIPs: ["fd00:96::94"],
   ports: [{name: p, protocol: TCP, port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: hc6, namespace: default}
spec:
  {type: LoadBalancer, ipFamilies: [IPv6], clusterIP: "fd00:96::81", clusterIPs: ["fd00:96::81"],
   externalTrafficPolicy: Local, healthCheckNodePort: 32050,
   ports: [{name: p, protocol: TCP, port: 80, targetPort: 8080, nodePort: 30051}]}
---
apiVersion: v1
kind: Service
metadata: {name: hcnone6, namespace: default}
spec:
  {type: LoadBalancer, ipFamilies: [IPv6], clusterIP: "fd00:96::82", clusterIPs: ["fd00:96::82"],
   externalTrafficPolicy: Local, healthCheckNodePort: 32051,
   ports: [{name: p, protocol: TCP, port: 80, targetPort: 8080, nodePort: 30052}]}
---
apiVersion: v1
kind: Service
metadata: {name: hold6, namespace: default}
spec:
  {ipFamilies: [IPv6], clusterIP: "fd00:96::71", clusterIPs: ["fd00:96::71"],
   ports: [{name: p, protocol: TCP, port: 80, targetPort: 8081}]}
EOF
cat <<'EOF' | ipt_write svc.yaml
apiVersion: v1
kind: Service
metadata: {name: six, namespace: default}
spec:
  {type: LoadBalancer, ipFamilies: [IPv6], clusterIP: "fd00:96::60", clusterIPs: ["fd00:96::60"],
   sessionAffinity: ClientIP, sessionAffinityConfig: {clientIP: {timeoutSeconds: 600}},
   loadBalancerSourceRanges: ["fd00:50::2/128"],
   ports: [{name: p, protocol: TCP, port: 80, targetPort: 8080, nodePort: 30060}]}
status:
  loadBalancer: {ingress: [{ip: "fd00:60::20"}]}
---
apiVersion: v1
kind: Service
metadata: {name: loc, namespace: default}
spec:
  {type: NodePort, ipFamilies: [IPv6], clusterIP: "fd00:96::50", clusterIPs: ["fd00:96::50"],
   externalTrafficPolicy: Local, ports: [{name: p, protocol: TCP, port: 80, targetPort: 8080, nodePort: 30050}]}
---
apiVersion: v1
kind: Service
metadata: {name: empty, namespace: default}
spec:
  ipFamilies: [IPv6]
  clusterIP: "fd00:96::70"
  clusterIPs: ["fd00:96::70"]
  ports:
    - {name: p, protocol: TCP, port: 80, targetPort: 8080}
    - {name: u, protocol: UDP, port: 53, targetPort: 5353}
EOF
ipt_start --sync-period 30s --cluster-cidr 10.244.0.0/16,fd00:244::/32

# ---- the kernel's tables, read back by the real tools ----
save6() { ip netns exec "$NODE" ip6tables-legacy-save ${1:+-t "$1"} | sed -e '/^#/d' -e 's/\[[0-9]*:[0-9]*\]//'; }
sy_wait 30 sh -c "ip netns exec '$NODE' ip6tables-legacy-save -t nat | grep -q SY-SERVICES" || {
	cat "$IPT_LOG" >&2
	sy_fail "no ip6tables rules written"
}
nat6=$(save6 nat)
want6() { grep -q -- "$1" <<<"$nat6" || sy_fail "ip6tables nat lacks '$1': $nat6"; }
want6 '-A PREROUTING -m comment --comment "switchyard service portals" -j SY-SERVICES'
want6 '-A SY-POSTROUTING -j MASQUERADE --random-fully'
want6 '-d fd00:96::80/128 -p tcp -m tcp --dport 80 -j SY-SVC-'
want6 '-d fd00:96::80/128 -p udp -m udp --dport 53 -j SY-SVC-'
want6 '-d fd00:96::80/128 -p sctp -m sctp --dport 99 -j SY-SVC-'
want6 '! -s fd00:244::/32 -d fd00:96::80/128 -p tcp -m tcp --dport 80 -j SY-MARK-MASQ'
want6 '-d fd00:60::10/128 -p tcp -m tcp --dport 80 -j SY-EXT-'
want6 '-A SY-SERVICES ! -d ::1/128 -m addrtype --dst-type LOCAL -j SY-NODEPORTS'
want6 '-s fd00:244:3::2/128 -j SY-MARK-MASQ'
want6 '-j DNAT --to-destination \[fd00:244:2::2\]:8080'
want6 '-m recent --rcheck --seconds 600 --reap --name SY-SEP-'
want6 '-m recent --set --name SY-SEP-.* -j DNAT --to-destination \[fd00:244:1::2\]:8080'
want6 '-s fd00:50::2/128 -j SY-EXT-'
filt6=$(save6 filter)
grep -q -- '-A SY-SERVICES -d fd00:96::70/128 -p tcp -m tcp --dport 80 -j REJECT --reject-with icmp6-port-unreachable' <<<"$filt6" ||
	sy_fail "no IPv6 REJECT for the Service without endpoints: $filt6"
grep -q 'SY-FIREWALL\|127\.0\.0' <<<"$filt6$nat6" && sy_fail "IPv4 localhost guard in ip6tables: $filt6"
grep -qi 'unsupported\|unknown' <<<"$nat6$filt6" && sy_fail "ip6tables-legacy-save cannot print a rule"
save6 | ip netns exec "$NODE" ip6tables-legacy-restore --test || sy_fail "ip6tables-legacy-restore --test rejects the table"
# each family's tables only with its own addresses and endpoints
grep -Eq '10\.244\.|10\.96\.|192\.168\.' <<<"$nat6$filt6" && sy_fail "IPv4 address in ip6tables: $nat6"
nat4=$(ipt_save nat)
grep -q 'fd00:' <<<"$nat4" && sy_fail "IPv6 address in iptables: $nat4"
grep -q -- '-d 10.96.0.80/32 -p tcp -m tcp --dport 80 -j SY-SVC-' <<<"$nat4" || sy_fail "no IPv4 ClusterIP rule"
grep -q 'fd00:96::60\|fd00:96::70' <<<"$nat4$(ipt_save filter)" && sy_fail "IPv6-only Service in iptables"
grep -q -- '10.244.3.2' <<<"$nat4" && sy_fail "the IPv6-only endpoint ep3 in the IPv4 table"
ipt_save | ip netns exec "$NODE" iptables-legacy-restore --test || sy_fail "iptables-legacy-restore --test rejects the table"
sy_log "ip6tables: $(grep -c '^-A' <<<"$nat6") nat rules, $(grep -c '^-A' <<<"$filt6") filter rules, read back and accepted"

# the IPv6 tree: hashed chains, every sampled ClusterIP answered through it
tree=$(grep -c '^:SY-DST-[A-Z2-7]\{16\} ' <<<"$nat6")
[ "$tree" -ge 2 ] || sy_fail "no IPv6 dispatch tree ($tree SY-DST chains): $(grep '^:SY-DST' <<<"$nat6" | head -3)"
grep -Eq -- "-A SY-(SERVICES|DST-[A-Z2-7]+) -d fd00:96:[0-9a-f:]*/([2-9][0-9]|1[01][0-9]|12[0-7]) -j SY-DST-" <<<"$nat6" ||
	sy_fail "no IPv6 prefix jump in the tree: $(grep -- '-j SY-DST-' <<<"$nat6" | head -5)"
for i in 1 17 30 44 60; do
	a=$(printf 'fd00:96::%x:%x' $((i * 37 % 4096)) $((i * 613 % 65536 | 1)))
	[ "$(ipt_ask_many "$CLIENT" tcp "$a" 80 1)" = "ep1 fd00:244:1::1" ] ||
		sy_fail "IPv6 tree: [$a]:80 not answered by ep1: $(ipt_ask_many "$CLIENT" tcp "$a" 80 1)"
done
sy_log "IPv6 dispatch tree: $tree SY-DST chains, 5 sampled ClusterIPs of 60 answered"

# ---- traffic ----
names() { awk '{print $1}' | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}'; }
# both ClusterIPs of the dual-stack Service, each family with its own endpoints
out=$(ipt_ask_many "$CLIENT" tcp 10.96.0.80 80 60)
sy_log "IPv4 ClusterIP: $(names <<<"$out")"
[ "$(grep -c '^ep[12] ' <<<"$out")" -eq 60 ] || sy_fail "IPv4 ClusterIP not answered by ep1/ep2 only: $(names <<<"$out")"
grep -q '^ep1 ' <<<"$out" && grep -q '^ep2 ' <<<"$out" || sy_fail "IPv4 ClusterIP: not both endpoints"
out6=$(ipt_ask_many "$CLIENT" tcp fd00:96::80 80 60)
sy_log "IPv6 ClusterIP: $(names <<<"$out6")"
[ "$(grep -c '^ep[23] ' <<<"$out6")" -eq 60 ] || sy_fail "IPv6 ClusterIP not answered by ep2/ep3 only: $(names <<<"$out6")"
grep -q '^ep2 ' <<<"$out6" && grep -q '^ep3 ' <<<"$out6" || sy_fail "IPv6 ClusterIP: not both endpoints"
# masquerade (client outside fd00:244::/32): the endpoint sees the node's address on its link
grep -q '^ep2 fd00:244:2::1$' <<<"$out6" || sy_fail "IPv6 not masqueraded: $(grep ^ep2 <<<"$out6" | head -1)"
out=$(ipt_ask_many "$CLIENT" udp fd00:96::80 53 30)
[ "$(grep -c '^ep[23] ' <<<"$out")" -eq 30 ] || sy_fail "IPv6 UDP ClusterIP: $(names <<<"$out")"
# NodePort (TCP, UDP) and externalIP over IPv6 from outside the node
out=$(ipt_ask_many "$CLIENT" tcp fd00:50::1 30080 20)
[ "$(grep -c '^ep[23] ' <<<"$out")" -eq 20 ] || sy_fail "IPv6 NodePort TCP: $(names <<<"$out")"
out=$(ipt_ask_many "$CLIENT" udp fd00:50::1 30053 10)
[ "$(grep -c '^ep[23] ' <<<"$out")" -eq 10 ] || sy_fail "IPv6 NodePort UDP: $(names <<<"$out")"
out=$(ipt_ask_many "$CLIENT" tcp fd00:60::10 80 20)
[ "$(grep -c '^ep[23] ' <<<"$out")" -eq 20 ] || sy_fail "IPv6 externalIP: $(names <<<"$out")"
out=$(ipt_ask_many "$CLIENT" tcp 192.168.50.1 30080 10)
[ "$(grep -c '^ep[12] ' <<<"$out")" -eq 10 ] || sy_fail "IPv4 NodePort: $(names <<<"$out")"
# from the node itself: the IPv6 ClusterIP; NodePorts on 127.0.0.1 but never on [::1]
out=$(ipt_ask_many "$NODE" tcp fd00:96::80 80 10)
[ "$(grep -c '^ep[23] ' <<<"$out")" -eq 10 ] || sy_fail "IPv6 ClusterIP from the node: $(names <<<"$out")"
out=$(ipt_ask_many "$NODE" tcp 127.0.0.1 30080 5)
[ "$(grep -c '^ep[12] ' <<<"$out")" -eq 5 ] || sy_fail "IPv4 localhost NodePort: $(names <<<"$out")"
out=$(ipt_ask_many "$NODE" tcp ::1 30080 3)
grep -q '^ep' <<<"$out" && sy_fail "a NodePort answered on [::1]: $out"
# hairpin: ep3 (on this node) through the IPv6 ClusterIP reaches itself, masqueraded
out=$(ipt_ask_many "${IPT_EP_NS[3]}" tcp fd00:96::80 80 30)
grep -q '^ep3 fd00:244:3::1$' <<<"$out" || sy_fail "IPv6 hairpin: $(names <<<"$out")"
# a pod inside the cluster CIDR of its family: to the ClusterIP not
# masqueraded (the endpoints see the pod's own address), to the externalIP
# and the NodePort masqueraded.  The pod is no endpoint of web in its
# family: ep1 (fd00:244:1::2) over IPv6, ep3 (10.244.3.2) over IPv4
ipt_pod_masq " over IPv6" fd00:96::80 80 fd00:60::10 80 fd00:50::1 30080
IPT_POD=3 ipt_pod_masq " over IPv4" 10.96.0.80 80 192.168.60.10 80 192.168.50.1 30080
sy_log "dual-stack ClusterIPs, masquerade (client and pod, both families), NodePort, externalIP, hairpin: ok"

# externalTrafficPolicy: Local over IPv6: only the local endpoint, the client's own address kept
out=$(ipt_ask_many "$CLIENT" tcp fd00:50::1 30050 10 fd00:50::4)
[ "$(grep -c '^ep3 fd00:50::4$' <<<"$out")" -eq 10 ] || sy_fail "IPv6 eTP=Local NodePort: $(sort <<<"$out" | uniq -c)"
sy_log "IPv6 externalTrafficPolicy: Local: only ep3, client address kept"
# healthCheckNodePort over IPv6, asked from outside the node as a load
# balancer would: 200 and localEndpoints 1 (ep3, an IPv6 endpoint on node1),
# 503 and 0 without a local endpoint; ip6tables' filter accepts the port
hc() { ip netns exec "$CLIENT" curl -s -m 2 -g -w '\n%{http_code}' "http://[fd00:50::1]:$1/"; }
body=$(hc 32050)
[ "$(tail -1 <<<"$body")" = 200 ] && grep -q '"localEndpoints": 1' <<<"$body" ||
	sy_fail "IPv6 healthCheckNodePort with a local endpoint: $body"
grep -q '"name": "hc6"' <<<"$body" || sy_fail "IPv6 healthCheckNodePort names another Service: $body"
body=$(hc 32051)
[ "$(tail -1 <<<"$body")" = 503 ] && grep -q '"localEndpoints": 0' <<<"$body" ||
	sy_fail "IPv6 healthCheckNodePort without a local endpoint: $body"
grep -q -- '-A SY-EXTERNAL-SERVICES -p tcp -m tcp --dport 32050 -m addrtype --dst-type LOCAL -j ACCEPT' <<<"$filt6" ||
	sy_fail "no ip6tables filter accept for the health check node port: $(grep EXTERNAL <<<"$filt6")"
sy_log "IPv6 healthCheckNodePort over IPv6: 200 localEndpoints 1 / 503 localEndpoints 0"
# eTP=Local without a local endpoint: its IPv6 NodePort drops external clients
out=$(ipt_ask_many "$CLIENT" tcp fd00:50::1 30052 2)
[ "$(grep -c TIMEOUT <<<"$out")" -eq 2 ] || sy_fail "IPv6 eTP=Local NodePort without a local endpoint answered: $out"
grep -q -- '-A SY-EXTERNAL-SERVICES -p tcp -m .*--dport 30052 .*-j DROP' <<<"$filt6" ||
	sy_fail "no ip6tables DROP for the NodePort without local endpoints: $(grep EXTERNAL <<<"$filt6")"

# internalTrafficPolicy: Local over IPv6: only the local endpoint ep3
out=$(ipt_ask_many "$CLIENT" tcp fd00:96::93 80 15)
[ "$(grep -c '^ep3 ' <<<"$out")" -eq 15 ] || sy_fail "IPv6 iTP=Local: $(names <<<"$out")"
# serving+terminating over IPv6: only ep1 while nothing is ready (ep3 does
# not serve), ep2 alone once it is ready
out=$(ipt_ask_many "$CLIENT" tcp fd00:96::94 80 15)
[ "$(grep -c '^ep1 ' <<<"$out")" -eq 15 ] || sy_fail "IPv6 terminating fallback: $(names <<<"$out")"
term6 true
only_ep2() { [ "$(ipt_ask_many "$CLIENT" tcp fd00:96::94 80 15 | cut -d' ' -f1 | sort -u)" = ep2 ]; }
sy_wait 30 only_ep2 || sy_fail "IPv6: a ready endpoint did not replace the terminating one"
sy_log "IPv6 internalTrafficPolicy: Local, serving+terminating fallback: ok"

# affinity: one client sticks; many clients spread
out=$(ipt_ask_many "$CLIENT" tcp fd00:96::60 80 15 fd00:50::2)
[ "$(awk '{print $1}' <<<"$out" | sort -u | wc -l)" -eq 1 ] && [ "$(grep -c '^ep' <<<"$out")" -eq 15 ] ||
	sy_fail "IPv6 affinity: one client spread: $(names <<<"$out")"
seen=""
for k in 3 4 5 6 7 8 9; do
	seen="$seen $(ipt_ask_many "$CLIENT" tcp fd00:96::60 80 3 fd00:50::$k | awk '{print $1}' | sort -u | tr '\n' ' ')"
done
[ "$(tr ' ' '\n' <<<"$seen" | grep -c .)" -eq 7 ] || sy_fail "IPv6 affinity: a client moved: $seen"
[ "$(tr ' ' '\n' <<<"$seen" | grep . | sort -u | wc -l)" -ge 2 ] || sy_fail "IPv6 affinity: 7 clients on one endpoint: $seen"
# LB IP: the allowed source passes, another is dropped
out=$(ipt_ask_many "$CLIENT" tcp fd00:60::20 80 5 fd00:50::2)
[ "$(grep -c '^ep' <<<"$out")" -eq 5 ] || sy_fail "IPv6 LB IP from the allowed source: $(names <<<"$out")"
out=$(ipt_ask_many "$CLIENT" tcp fd00:60::20 80 2 fd00:50::3)
[ "$(grep -c '^TIMEOUT' <<<"$out")" -eq 2 ] || sy_fail "IPv6 LB IP from another source not dropped: $out"
# no endpoints: refused (icmp6-port-unreachable).  UDP: ECONNREFUSED.
# TCP: every SYN is rejected with an ICMPv6 destination unreachable, but
# the kernel drops one that arrives while connect() still holds the socket
# (TcpExtLockDroppedIcmps; over veth it nearly always does; alike with
# ip6tables' own REJECT), so the proof is the REJECT rule's packet counter
# and the client's ICMPv6 counter, not errno.
unreach() { ip netns exec "$CLIENT" nstat -az Icmp6InDestUnreachs | awk '/Icmp6InDestUnreachs/ {print $2}'; }
rejects() {
	ip netns exec "$NODE" ip6tables-legacy -w -t filter -L SY-SERVICES -v -n -x |
		awk '/REJECT/ && /fd00:96::70/ && /tcp dpt:80/ {print $1}'
}
out=$(ipt_ask_many "$CLIENT" udp fd00:96::70 53 5)
grep -q '^ep' <<<"$out" && sy_fail "IPv6 Service without endpoints answered: $out"
[ "$(grep -c '^REFUSED' <<<"$out")" -ge 4 ] || sy_fail "IPv6 UDP REJECT: $out"
t=$(grep -c '^REFUSED' <<<"$out")
u0=$(unreach) r0=$(rejects)
out=$(ipt_ask_many "$CLIENT" tcp fd00:96::70 80 5)
u1=$(unreach) r1=$(rejects)
grep -q '^ep' <<<"$out" && sy_fail "IPv6 Service without endpoints answered: $out"
[ $((r1 - r0)) -ge 5 ] || sy_fail "IPv6 TCP REJECT matched $((r1 - r0)) of 5 connections' SYNs"
[ $((u1 - u0)) -ge $((r1 - r0)) ] ||
	sy_fail "IPv6 TCP REJECT: $((u1 - u0)) ICMPv6 unreachables for $((r1 - r0)) rejected SYNs ($out)"
sy_log "IPv6 affinity ($seen), LB source ranges, REJECT (UDP: $t of 5 refused; 5 TCP connections: $((r1 - r0)) SYNs rejected, $((u1 - u0)) ICMPv6 unreachables back): ok"

# an IPv6 endpoint change reaches only the ip6tables tables
v4before=$(ipt_save nat | md5sum)
web6 fd00:244:1::2
for _ in $(seq 1 50); do
	ipt_ask_many "$CLIENT" tcp fd00:96::80 80 10 | grep -q '^ep1 ' && break
	sleep 0.2
done
out6=$(ipt_ask_many "$CLIENT" tcp fd00:96::80 80 40)
sy_log "after the IPv6 slice change: $(names <<<"$out6")"
grep -q '^ep2 ' <<<"$out6" && sy_fail "IPv6 ClusterIP still reaches the removed endpoint ep2"
grep -q '^ep1 ' <<<"$out6" || sy_fail "IPv6 ClusterIP does not reach the new endpoint ep1"
[ "$(ipt_save nat | md5sum)" = "$v4before" ] || sy_fail "an IPv6 change rewrote the IPv4 nat table"
# an established IPv6 connection through a ClusterIP survives a restart; the
# IPv6 slice gains an endpoint while the daemon is down (the new daemon
# rewrites the ip6tables nat table, conntrack keeps the connection's NAT)
mkfifo "$SY_TMP/in"
sy_bg "$CLIENT" "$SY_TMP/conn.log" "$PY" "$SY_SRC/tests/lib/held_client.py" fd00:96::71 80 "$SY_TMP/in"
exec 7>"$SY_TMP/in"
sy_wait 20 grep -q "^greeting ep1" "$SY_TMP/conn.log" || sy_fail "IPv6 hold: no greeting: $(cat "$SY_TMP/conn.log")"
echo one >&7
sy_wait 20 grep -q "^reply ep1 one" "$SY_TMP/conn.log" || sy_fail "IPv6 hold: no first echo"
ipt_stop
slice6 hold6-1 hold6 '[{name: p, protocol: TCP, port: 8081}]' fd00:244:1::2@node2 fd00:244:2::2@node2 |
	ipt_write hold6-slice.yaml
ipt_start --sync-period 30s --cluster-cidr 10.244.0.0/16,fd00:244::/32
grep -q "SyncProxyRules complete.*writes=[1-9]" "$IPT_LOG" || sy_fail "the new daemon did not write the IPv6 change"
echo two >&7
sy_wait 20 grep -q "^reply ep1 two" "$SY_TMP/conn.log" ||
	sy_fail "the IPv6 connection did not survive the restart: $(cat "$SY_TMP/conn.log")"
out=$(ipt_ask_many "$CLIENT" tcp fd00:96::71 80 20 | cut -d' ' -f1 | sort -u | tr '\n' ' ')
[ "$out" = "ep1 ep2 " ] || sy_fail "new IPv6 connections after the restart reach '$out'"
sy_log "an established IPv6 connection survived a restart with an IPv6 slice change"
# an unchanged restart writes neither family's tables, even after the real
# tools rewrote them (ip6tables-legacy-save | ip6tables-legacy-restore, the
# same for IPv4): every entry switchyard writes is byte for byte the one
# the tools write for the rule they print (counters aside)
ipt_stop
for t in ip6tables iptables; do
	ip netns exec "$NODE" sh -c "$t-legacy-save > '$SY_TMP/$t.save' && $t-legacy-restore < '$SY_TMP/$t.save'" ||
		sy_fail "$t-legacy-restore of switchyard's tables failed"
done
before=$(save6; ipt_save)
ipt_start --sync-period 30s --cluster-cidr 10.244.0.0/16,fd00:244::/32
grep "First sync complete" -B1 "$IPT_LOG" | grep -q "writes=0" ||
	sy_fail "an unchanged restart wrote the kernel: $(grep 'SyncProxyRules' "$IPT_LOG" | head -2)"
[ "$(save6; ipt_save)" = "$before" ] || sy_fail "an unchanged restart changed the tables"
echo three >&7
sy_wait 20 grep -q "^reply ep1 three" "$SY_TMP/conn.log" || sy_fail "the IPv6 connection did not survive the second restart"
exec 7>&-

# --cleanup empties both families' tables of ours, keeping a foreign IPv6 rule
ip netns exec "$NODE" ip6tables-legacy -w -t nat -A POSTROUTING -s fd00:99::/64 -j RETURN
ipt_stop
ip netns exec "$NODE" "$SWITCHYARD" --cleanup -v 2 >"$SY_TMP/cleanup.log" 2>&1 ||
	{ cat "$SY_TMP/cleanup.log" >&2; sy_fail "switchyard --cleanup failed"; }
left=$(save6; ipt_save)
grep -q 'SY-' <<<"$left" && sy_fail "--cleanup left rules of ours: $(grep SY- <<<"$left" | head)"
grep -q -- '-A POSTROUTING -s fd00:99::/64 -j RETURN' <<<"$left" || sy_fail "--cleanup lost a foreign IPv6 rule"
sy_pass "dual stack: both ClusterIPs, own endpoints per family, IPv6 NodePort/externalIP/LB/affinity/REJECT/masquerade"
