#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# nftables mode: a change of a Service's endpoint count (2 -> 3 -> 2) is
# element updates of the @service-ranges-S map only: the Service port has
# no chain of its own (no per-port logic), its ClusterIP goes to the shared
# lb-group-G (S = 80, the address's last byte; G = S >> 4), whose guarded
# ClusterIP load-balancing rule (`ip daddr & 0.0.0.15 == 0.0.0.0 dnat ip
# to ip daddr . meta l4proto . th dport . numgen random mod 1048576 map
# @service-ranges-80`)
# keeps its handle, no rule of the table is rewritten, the ranges split the
# Service's key space into near-equal parts, and real connections reach
# every endpoint evenly (300 connections, each endpoint >= 20 %).  Then
# sessionAffinity on and off moves the port to chains of its own and back
# (the unused group's chain and maps removed), with traffic each time; two
# Services with one externalIP and port (one key, so one shard) both keep
# their ClusterIPs, the address served by one, then by the other.
. "$(dirname "$0")/nftables-lib.sh"

ipt_lab 3
for k in 1 2 3; do ipt_server $k tcp 8080; done
ipt_node_manifest
ipt_svc web 10.96.0.80 80 8080 TCP | ipt_write svc.yaml
ipt_slice web TCP 8080 10.244.1.2 10.244.2.2 | ipt_write slice.yaml
ipt_start --sync-period 60s
works() { [ "$(ipt_ask_many "$CLIENT" tcp 10.96.0.80 80 3 | grep -c '^ep')" -eq 3 ]; }
sy_wait 20 works || sy_fail "the Service does not answer"

# every rule of the table with its handle (a rewritten rule gets a new one)
rules_now() { nftn -j list table ip switchyard | "$PY" -c '
import json, sys
print(sorted((o["rule"]["chain"], o["rule"]["handle"]) for o in json.load(sys.stdin)["nftables"] if "rule" in o))'; }
shard=80 group=5
grep -q '"10.96.0.80", "tcp", 80\]}, {"goto": {"target": "lb-group-'$group'"' <<<"$(nftn -j list map ip switchyard service-ips)" ||
	sy_fail "no service-ips element of web to lb-group-$group: $(nftn list map ip switchyard service-ips)"
chain=lb-group-$group map=service-ranges-$shard
nftn -j list chains ip | grep -q '"service-[A-Z2-7]*-default/web/tcp/p"' && sy_fail "web has a chain of its own"
lb() { nftn -a list chain ip switchyard "$chain" | grep -o "ip daddr & 0.0.0.15 == 0.0.0.0 dnat ip to ip daddr . meta l4proto . th dport . numgen random mod 1048576 map @$map comment \"[^\"]*\" # handle [0-9]*"; }
lb0=$(lb)
[ -n "$lb0" ] || sy_fail "no load-balancing rule: $(nftn -a list chain ip switchyard "$chain")"
# the endpoints' ranges of 10.96.0.80 . tcp . 80 . [0, 2^20): (first, last, ip)
key=$(svc_key 10.96.0.80 6 80)
ranges() { nft_map_q ip "$map" 'sorted((a - off, b - off, v[0]) for a, b, v in elems if a >> 32 == off >> 32)' "$key"; }
off=0
# check_ranges N: N ranges covering [off, off + 2^20) without gap, sizes floor/ceil(2^20 / N)
check_ranges() {
	"$PY" - "$(ranges)" "$off" "$1" <<'PYEOF'
import ast, sys
r, off, n = ast.literal_eval(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
assert len(r) == n, r
assert r[0][0] == off and r[-1][1] == off + 2**20 - 1, r
for i, (a, b, ip) in enumerate(r):
    assert b - a + 1 in (2**20 // n, -(-2**20 // n)), (a, b)
    assert i == 0 or a == r[i - 1][1] + 1, r
PYEOF
}
check_ranges 2 || sy_fail "two endpoints: ranges $(ranges)"
# split N: 300 connections, each of the N endpoints >= 20 % (60)
split() {
	local out c k s=""
	out=$(ipt_ask_many "$CLIENT" tcp 10.96.0.80 80 300)
	[ "$(grep -c '^ep' <<<"$out")" -eq 300 ] || sy_fail "only $(grep -c '^ep' <<<"$out") of 300 connections answered"
	for k in $(seq 1 "$1"); do
		c=$(grep -c "^ep$k " <<<"$out")
		s="$s $c"
		[ "$c" -ge 60 ] || sy_fail "$1 endpoints: ep$k got $c of 300 (split:$s)"
	done
	[ "$(grep -c "^ep[^1-$1] " <<<"$out")" -eq 0 ] || sy_fail "a removed endpoint answered: $(sort <<<"$out" | uniq -c)"
	echo "$s"
}
s2=$(split 2)
before=$(rules_now)

# 2 -> 3 endpoints
ipt_slice web TCP 8080 10.244.1.2 10.244.2.2 10.244.3.2 | ipt_write slice.yaml
sy_wait 20 sh -c "ip netns exec $NODE nft list map ip switchyard $map | grep -q 10.244.3.2" ||
	sy_fail "the third endpoint was not programmed: $(ranges)"
check_ranges 3 || sy_fail "three endpoints: ranges $(ranges)"
[ "$(lb)" = "$lb0" ] || sy_fail "2 -> 3 endpoints rewrote the load-balancing rule: $lb0 -> $(lb)"
[ "$(rules_now)" = "$before" ] || sy_fail "2 -> 3 endpoints rewrote rules: $(diff <(echo "$before") <(rules_now))"
s3=$(split 3)

# 3 -> 2 endpoints (ep2 goes)
ipt_slice web TCP 8080 10.244.1.2 10.244.3.2 | ipt_write slice.yaml
sy_wait 20 sh -c "! ip netns exec $NODE nft list map ip switchyard $map | grep -q 10.244.2.2" ||
	sy_fail "the removed endpoint is still programmed: $(ranges)"
check_ranges 2 || sy_fail "back to two endpoints: ranges $(ranges)"
[ "$(lb)" = "$lb0" ] || sy_fail "3 -> 2 endpoints rewrote the load-balancing rule: $lb0 -> $(lb)"
[ "$(rules_now)" = "$before" ] || sy_fail "3 -> 2 endpoints rewrote rules"
out=$(ipt_ask_many "$CLIENT" tcp 10.96.0.80 80 100 | cut -d' ' -f1 | sort -u | tr '\n' ' ')
[ "$out" = "ep1 ep3 " ] || sy_fail "after 3 -> 2, new connections reach '$out'"
grep -q "Failed to sync proxy rules" "$IPT_LOG" && sy_fail "a sync failed: $(grep "Failed to sync" "$IPT_LOG" | head -2)"
# per-port logic on and off (partial syncs): sessionAffinity gives web's
# port chains of its own (its shared elements go, and with them the group's
# chain and 16 maps, web being alone in them), and without it the port is back
# on the shared chains (its own chains flushed, then deleted)
svc_goes() { nftn -j list map ip switchyard service-ips | grep -o '"10.96.0.80", "tcp", 80\]}, {"goto": {"target": "[^"]*"' | sed 's/.*"target": "//; s/"$//'; }
ipt_svc web 10.96.0.80 80 8080 TCP "sessionAffinity: ClientIP" | ipt_write svc.yaml
own() { case "$(svc_goes)" in service-[A-Z2-7]*-default/web/tcp/p) return 0 ;; esac; return 1; }
sy_wait 20 own || sy_fail "with sessionAffinity web's ClusterIP goes to '$(svc_goes)', not its own chain"
nftn -j list chains ip | grep -q '"endpoint-[A-Z2-7]*-default/web/tcp/p__10.244.1.2/8080"' || sy_fail "no endpoint chain with sessionAffinity"
gone() { ! nftn list chain ip switchyard "$chain" >/dev/null 2>&1 && ! nftn -j list maps ip | grep -q '"service-ranges-'; }
sy_wait 10 gone || sy_fail "the unused group's $chain / maps stayed: $(nftn list chains ip | grep ' lb-') $(nftn list maps ip | grep service-ranges)"
out=$(ipt_ask_many "$CLIENT" tcp 10.96.0.80 80 20 | cut -d' ' -f1 | sort | uniq -c)
[ "$(wc -l <<<"$out")" = 1 ] && grep -q ' 20 ep' <<<"$out" || sy_fail "sessionAffinity: 20 connections of one client: $out"
ipt_svc web 10.96.0.80 80 8080 TCP | ipt_write svc.yaml
shared() { [ "$(svc_goes)" = "lb-group-$group" ]; }
sy_wait 20 shared || sy_fail "without sessionAffinity web's ClusterIP goes to '$(svc_goes)', not lb-group-$group"
check_ranges 2 || sy_fail "back on the shared chains: ranges $(ranges)"
sy_wait 10 sh -c "! ip netns exec $NODE nft list chains ip | grep -q 'default/web/tcp/p'" ||
	sy_fail "web's own chains stayed: $(nftn list chains ip | grep default/web)"
out=$(ipt_ask_many "$CLIENT" tcp 10.96.0.80 80 100 | cut -d' ' -f1 | sort -u | tr '\n' ' ')
[ "$out" = "ep1 ep3 " ] || sy_fail "back on the shared chains, new connections reach '$out'"
grep -q "Failed to sync proxy rules" "$IPT_LOG" && sy_fail "a sync failed: $(grep "Failed to sync" "$IPT_LOG" | head -2)"
# two Services with the same externalIP and port (one key: one shard, 10;
# the names a0 and b116 hashed to one shard in the per-port layout): one
# owns the address's key space in service-ranges-10
# (interleaving ranges would be refused by the kernel and cost the other
# port its ClusterIP too), both ClusterIPs answer; when the owner goes the
# other takes the address over
{
	ipt_svc a0 10.96.0.81 80 8080 TCP "externalIPs: [192.168.60.10]"
	echo ---
	ipt_slice a0 TCP 8080 10.244.1.2 10.244.2.2
} | ipt_write a0.yaml
{
	ipt_svc b116 10.96.0.82 80 8080 TCP "externalIPs: [192.168.60.10]"
	echo ---
	ipt_slice b116 TCP 8080 10.244.1.2 10.244.2.2 10.244.3.2
} | ipt_write b116.yaml
both() { works_at 10.96.0.81 && works_at 10.96.0.82; }
works_at() { [ "$(ipt_ask_many "$CLIENT" tcp "$1" 80 3 | grep -c '^ep')" -eq 3 ]; }
sy_wait 20 both || sy_fail "a0 and b116 (the same externalIP) do not both answer on their ClusterIPs: $(grep -E 'skipped|refused' "$IPT_LOG" | head -2)"
# the externalIP's key space: one owner's ranges (2 or 3) in service-ranges-10, to lb-group-0
eranges() { nft_map_q ip service-ranges-10 'len([1 for a, b, v in elems if a >> 32 == off >> 32])' "$("$PY" -c 'import ipaddress
print(int.from_bytes(ipaddress.ip_address("192.168.60.10").packed + (80).to_bytes(2, "big") + bytes(2) + bytes([6, 0, 0, 0]) + bytes(4), "big"))')"; }
case $(eranges) in 2|3) ;; *) sy_fail "service-ranges-10 holds $(eranges) ranges of 192.168.60.10 . 80 . tcp" ;; esac
nftn -j list map ip switchyard service-ips | grep -q '"192.168.60.10", "tcp", 80\]}, {"goto": {"target": "lb-group-0"' ||
	sy_fail "the externalIP does not go to lb-group-0: $(nftn list map ip switchyard service-ips)"
grep -q "skipped" "$IPT_LOG" && sy_fail "a port was skipped: $(grep skipped "$IPT_LOG" | head -2)"
# (a0: ep1 ep2 in two ranges, b116: ep1 ep2 ep3 in three: their starts
# interleave)
ext=$(ipt_ask_many "$CLIENT" tcp 192.168.60.10 80 40 | cut -d' ' -f1 | sort -u | tr '\n' ' ')
case $ext in
"ep1 ep2 ep3 ") winner=b116 other=a0 want="ep1 ep2 " ;;
"ep1 ep2 ") winner=a0 other=b116 want="ep1 ep2 ep3 " ;;
*) sy_fail "the shared externalIP reaches '$ext' (one Service's endpoints expected)" ;;
esac
rm "$IPT_M/$winner.yaml"
takes() { [ "$(ipt_ask_many "$CLIENT" tcp 192.168.60.10 80 40 | cut -d' ' -f1 | sort -u | tr '\n' ' ')" = "$want" ]; }
sy_wait 20 takes || sy_fail "after $winner went, the externalIP does not reach $other's endpoints ($want)"
works_at "$([ $other = a0 ] && echo 10.96.0.81 || echo 10.96.0.82)" || sy_fail "$other's ClusterIP stopped answering"
# a full sync after the changes writes nothing (K read back = D: ranges paired from start/end elements)
n=$(ipt_syncs)
ipt_stop
ipt_start --sync-period 60s
grep "First sync complete" -B1 "$IPT_LOG" | grep -q "writes=0" ||
	sy_fail "an unchanged restart wrote the kernel: $(grep 'SyncProxyRules' "$IPT_LOG" | head -2)"
sy_pass "LB rule kept its handle over 2 -> 3 -> 2 endpoints; split 2:$s2, 3:$s3; sessionAffinity on and off; a shared externalIP from $winner to $other"
