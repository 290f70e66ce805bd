#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# nftables mode, the basics with real packets (the iptables-basic lab):
# table `ip switchyard` with kube-proxy's base chains and verdict maps read
# back with `nft -j list ruleset`; a ClusterIP Service (TCP, UDP, SCTP when
# the kernel has it) over 3 endpoints reaches every endpoint with a uniform
# split, the client outside the cluster CIDR is masqueraded, the NodePort
# and an externalIP answer from outside the node, a local endpoint reaching
# its own Service (hairpin) is masqueraded, a Service without endpoints and
# an unused port of a ClusterIP are REJECTed (connection refused, not a
# timeout); without --nodeport-addresses NodePorts answer only on the
# Node's primary IP (nftables mode defaults to "primary", as kube-proxy),
# with it only on the listed addresses (set nodeport-ips); a pod (ep1,
# inside the cluster CIDR) is masqueraded to the externalIP and the
# NodePort but not to the ClusterIP; the shared chains lb-group-G (16
# guarded dnat rules per key kind) and the table's 16 + groups-in-use
# chains, read back, and Services whose ClusterIPs and NodePorts lie in
# other shards (other nibbles of the key's low byte) reached through the
# guards.  IPT_FAM=6 (nftables-basic-ipv6.sh):
# the same over IPv6, the IPv6 instance's table `ip6 switchyard`.
IPT_MODE=nftables
. "$(dirname "$0")/iptables-lib.sh"
command -v nft >/dev/null || sy_skip "nft missing"

# the family's instance's table (the daemon runs both: ip and ip6 switchyard)
NF=ip ANY=0.0.0.0
[ "$IPT_FAM" = 6 ] && NF=ip6 ANY=::
nft_json() { ip netns exec "$NODE" nft -j list table $NF switchyard; }
# nft_q PYTHON-EXPR: evaluate against the ruleset's objects (list r of dicts)
nft_q() {
	nft_json | "$PY" -c '
import json, sys
r = [next(iter(o.items())) for o in json.load(sys.stdin)["nftables"]]
objs = {}
for k, v in r:
    objs.setdefault(k, []).append(v)
def num(x): return int(x, 0) if isinstance(x, str) else x
import ipaddress
bits = 128 if "." in "'"$ANY"'" else 224	# a key: the address (4 or 16 bytes) and 12 more
def rng(k):	# an interval key as nft prints it: a value, a range or a prefix
    if not isinstance(k, dict): return num(k), num(k)
    if "range" in k: return tuple(num(x) for x in k["range"])
    p = k["prefix"]; a = num(p["addr"]); return a, a + (1 << (bits - p["len"])) - 1
def ranges(name, ip, proto, port, ext=False):	# (first, last, ip, port) of the ranges of ip . proto . port
    # a service-ranges key: ip (4 or 16 bytes) . proto (1 + 3) . port (2 + 2) . value (4), one integer;
    # an external address (ext): ip . port (2 + 2) . proto (1 + 3) . value
    pp = [bytes([proto, 0, 0, 0]), port.to_bytes(2, "big") + b"\0\0"]
    pre = int.from_bytes(ipaddress.ip_address(ip).packed + b"".join(pp[::-1] if ext else pp), "big") << 32
    return sorted((a - pre, b - pre) + tuple(e[1]["concat"]) for m in objs["map"] if m["name"] == name
                  for e in m.get("elem", []) for a, b in [rng(e[0])] if a >> 32 == pre >> 32)
print(eval(sys.argv[1]))' "$1"
}

ipt_lab 3
for k in 1 2 3; do ipt_server $k tcp 8080; ipt_server $k udp 5353; done
sctp=0
if ip netns exec "${IPT_EP_NS[1]}" "$PY" -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP)' 2>/dev/null; then
	sctp=1
	for k in 1 2 3; do ipt_server $k sctp 9999; done
fi
ipt_node_manifest
SHARDED="g17:10.96.0.17:30017 g18:10.96.0.18:30018 g33:10.96.0.33:30001"
{
	ipt_web_manifest | ipt_yaml
	echo ---
	ipt_svc empty 10.96.0.90 80 8080 TCP
	# ClusterIPs and NodePorts whose shards (last byte, low byte) differ in
	# the low and in the high nibble: other maps of one group, other groups
	for g in $SHARDED; do
		IFS=: read -r n c np <<<"$g"
		echo ---
		IPT_NODEPORT=", nodePort: $np" ipt_svc "$n" "$c" 80 8080 TCP "type: NodePort"
		echo ---
		ipt_slice "$n" TCP 8080 10.244.1.2 10.244.2.2 10.244.3.2
	done
} | ipt_write web.yaml
# the lab's addresses in the family under test
CIP=$(ipt_ip 10.96.0.80) EIP=$(ipt_ip 192.168.60.10) NIP=$(ipt_ip 192.168.50.1)
ipt_start --sync-period 30s
grep -q "Using nftables Proxier" "$IPT_LOG" || sy_fail "no 'Using nftables Proxier' line"

# the kernel's view, through the real nft
tables=$(ip netns exec "$NODE" nft -j list tables | "$PY" -c 'import json, sys
print(sorted((t["table"]["family"], t["table"]["name"]) for t in json.load(sys.stdin)["nftables"] if "table" in t))')
[ "$tables" = "[('ip', 'switchyard'), ('ip6', 'switchyard')]" ] || sy_fail "tables: $tables"
base=$(nft_q 'sorted((c["name"], c["type"], c["hook"], c["prio"]) for c in objs["chain"] if "hook" in c)')
for want in "('nat-prerouting', 'nat', 'prerouting', -100)" "('nat-postrouting', 'nat', 'postrouting', 100)" \
	"('filter-output-post-dnat', 'filter', 'output', -90)" "('filter-input', 'filter', 'input', -110)"; do
	grep -qF "$want" <<<"$base" || sy_fail "base chain $want missing: $base"
done
maps=$(nft_q 'sorted(m["name"] for m in objs.get("map", []) if not m["name"].startswith(("endpoint-ranges-", "service-ranges-")))')
[ "$maps" = "['firewall-ips', 'no-endpoint-nodeports', 'no-endpoint-services', 'service-ips', 'service-nodeports']" ] ||
	sy_fail "maps: $maps"
[ -n "${SY_DEBUG:-}" ] && { ip netns exec "$NODE" curl -s 127.0.0.1:10249/debug/state | head -c 3000; cat "$IPT_LOG"; } >&2
svcips=$(nft_q '[e for m in objs["map"] if m["name"] == "service-ips" for e in m.get("elem", [])]')
# a Service port without per-port logic has no chain of its own: each of
# its keys (ClusterIP, externalIP, NodePort) goes to the shared chain
# lb-group-G of the key's shard S (the address's last byte, the NodePort's
# low byte; G = S >> 4), its ranges are in service-ranges-S
shard() { "$PY" -c 'import ipaddress, sys; print(ipaddress.ip_address(sys.argv[1]).packed[-1])' "$1"; }
cs=$(shard "$CIP") es=$(shard "$EIP") ns=$((30080 & 255))
grep -q "$CIP', 'tcp', 80\]}, {'goto': {'target': 'lb-group-$((cs >> 4))'" <<<"$svcips" ||
	sy_fail "no ClusterIP element to lb-group-$((cs >> 4)) in service-ips: $svcips"
grep -q "$EIP', 'tcp', 80\]}, {'goto': {'target': 'lb-group-$((es >> 4))'" <<<"$svcips" ||
	sy_fail "no externalIP element to lb-group-$((es >> 4)): $svcips"
svcnp=$(nft_q '[e for m in objs["map"] if m["name"] == "service-nodeports" for e in m.get("elem", [])]')
grep -q "'tcp', 30080\]}, {'goto': {'target': 'lb-group-$((ns >> 4))'" <<<"$svcnp" ||
	sy_fail "no NodePort element to lb-group-$((ns >> 4)): $svcnp"
noep=$(nft_q '[e for m in objs["map"] if m["name"] == "no-endpoint-services" for e in m.get("elem", [])]')
grep -q "$(ipt_ip 10.96.0.90).*reject-chain" <<<"$noep" || sy_fail "no REJECT element for the Service without endpoints: $noep"
nft_json | grep -q '"\(endpoint\|service\|external\)-[A-Z2-7]\{8\}-' && sy_fail "per-port chains for ports without per-port logic"
# the shared chains: one per group in use, none of an earlier layout
# (lb-N, cluster-lb-N, ...); the table: the 16 global chains and those
groups=$(nft_q 'sorted(c["name"] for c in objs["chain"] if c["name"].startswith("lb-"))')
want_groups=$("$PY" -c 'import sys; print(sorted("lb-group-%d" % g for g in set(int(a) >> 4 for a in sys.argv[1:])))' \
	"$cs" "$es" "$ns" $((30053 & 255)) $(for g in $SHARDED; do IFS=: read -r n c np <<<"$g"; echo "$(shard "$(ipt_ip "$c")") $((np & 255))"; done))
[ "$groups" = "$want_groups" ] || sy_fail "shared chains: $groups (want $want_groups)"
nft_q '[c["name"] for c in objs["chain"]]' | grep -q "'\(cluster\|external\|nodeport\)-lb-\|'lb-[0-9]" && sy_fail "chains of an old layout"
nchains=$(nft_q 'len(objs["chain"])') ngroups=$(nft_q 'len([c for c in objs["chain"] if c["name"].startswith("lb-group-")])')
[ "$nchains" = $((16 + ngroups)) ] || sy_fail "$nchains chains, want 16 + $ngroups: $(nft_q '[c["name"] for c in objs["chain"]]')"
# a group in use has its 16 maps, the others none
nmaps=$(nft_q 'len([m for m in objs["map"] if m["name"].startswith("service-ranges-")])')
[ "$nmaps" = $((16 * ngroups)) ] || sy_fail "$nmaps service-ranges maps for $ngroups groups"
rules=$(ip netns exec "$NODE" nft list table $NF switchyard)
# lb-group-G, in this order: the ClusterIP masquerade rule, 16 ClusterIP
# dnat rules (rule j: ip daddr's low nibble j, map service-ranges-(16G+j)),
# the mark for what is left (external and NodePort traffic), 16 external
# dnat rules (key ip . port . proto), 16 NodePort dnat rules (th dport's
# low nibble, address 0)
G=$((cs >> 4))
lbrules=$(ip netns exec "$NODE" nft list chain $NF switchyard "lb-group-$G" | grep -E 'jump|dnat' | sed 's/^\s*//; s/ comment .*//')
if [ "$IPT_FAM" = 6 ]; then lo() { if [ "$1" = 0 ]; then echo ::; else printf '::%x\n' "$1"; fi; }; M=::f; else lo() { echo "0.0.0.$1"; }; M=0.0.0.15; fi
want=$(
	echo "$NF saddr != $(ipt_ip 10.244.0.0/16) jump mark-for-masquerade"
	for j in $(seq 0 15); do
		echo "$NF daddr & $M == $(lo $j) dnat $NF to $NF daddr . meta l4proto . th dport . numgen random mod 1048576 map @service-ranges-$((16 * G + j))"
	done
	echo "jump mark-for-masquerade"
	for j in $(seq 0 15); do
		echo "$NF daddr & $M == $(lo $j) dnat $NF to $NF daddr . th dport . meta l4proto . numgen random mod 1048576 map @service-ranges-$((16 * G + j))"
	done
	for j in $(seq 0 15); do
		echo "th dport & 15 == $j dnat $NF to $NF daddr & $ANY . meta l4proto . th dport . numgen random mod 1048576 map @service-ranges-$((16 * G + j))"
	done
)
[ "$lbrules" = "$want" ] || sy_fail "lb-group-$G rules: $(diff <(echo "$want") <(echo "$lbrules") | head -20)"
# @service-ranges-S: 10.96.0.80 . tcp . 80 . [0, 2^20) in three ranges of
# 349525 or 349526 values, one per endpoint (keys: one 128-bit integer,
# 224-bit in IPv6)
eps=$(nft_q 'ranges("service-ranges-'"$cs"'", "'"$CIP"'", 6, 80)')
EPS="$(ipt_ip 10.244.1.2) $(ipt_ip 10.244.2.2) $(ipt_ip 10.244.3.2)"
"$PY" - "$eps" $EPS <<'PYEOF' || sy_fail "@service-ranges-$cs ranges of $CIP . tcp . 80: $eps"
import ast, sys
r = ast.literal_eval(sys.argv[1])
assert len(r) == 3, r
assert r[0][0] == 0 and r[-1][1] == 2**20 - 1, r
for i, (a, b, ip, port) in enumerate(r):
    assert b - a + 1 in (349525, 349526), (a, b)
    assert i == 0 or a == r[i - 1][1] + 1, r
    assert port == 8080, r
assert sorted(x[2] for x in r) == sys.argv[2:], r
PYEOF
np=$(nft_q 'ranges("service-ranges-'"$ns"'", "'"$ANY"'", 6, 30080)')
[ "$(nft_q 'len(ranges("service-ranges-'"$ns"'", "'"$ANY"'", 6, 30080))')" = 3 ] || sy_fail "NodePort 30080's ranges: $np"
# the externalIP's: ip . port . proto (the ClusterIP layout has none of it)
ex=$(nft_q 'ranges("service-ranges-'"$es"'", "'"$EIP"'", 6, 80, True)')
[ "$(nft_q 'len(ranges("service-ranges-'"$es"'", "'"$EIP"'", 6, 80, True))')" = 3 ] || sy_fail "externalIP's ranges: $ex"
[ "$(nft_q 'len(ranges("service-ranges-'"$es"'", "'"$EIP"'", 6, 80))')" = 0 ] || sy_fail "externalIP ranges in the ClusterIP layout"
grep -q "ct status dnat $NF saddr . $NF daddr @hairpin jump mark-for-masquerade" <<<"$rules" || sy_fail "no hairpin rule"
hp=$(nft_q '[s.get("elem") for s in objs["set"] if s["name"] == "hairpin"]')
grep -qF "$(ipt_ip 10.244.3.2)', '$(ipt_ip 10.244.3.2)'" <<<"$hp" || sy_fail "no hairpin element for the local endpoint: $hp"
grep -q 'masquerade fully-random' <<<"$rules" || sy_fail "no masquerade rule"

# TCP: every endpoint, uniform split, masqueraded source
out=$(ipt_ask_many "$CLIENT" tcp 10.96.0.80 80 300)
c1=$(grep -c '^ep1 ' <<<"$out"); c2=$(grep -c '^ep2 ' <<<"$out"); c3=$(grep -c '^ep3 ' <<<"$out")
sy_log "TCP split over 300: $c1 $c2 $c3"
[ $((c1 + c2 + c3)) -eq 300 ] || sy_fail "only $((c1 + c2 + c3)) of 300 TCP connections answered"
chi=$(ipt_uniform "$c1" "$c2" "$c3") || sy_fail "TCP split not uniform: $chi ($c1 $c2 $c3)"
grep -qx "ep1 $(ipt_ip 10.244.1.1)" <<<"$out" || sy_fail "ep1 did not see the node's (masqueraded) address: $(grep ^ep1 <<<"$out" | head -1)"

# UDP
out=$(ipt_ask_many "$CLIENT" udp 10.96.0.80 53 150)
u1=$(grep -c '^ep1 ' <<<"$out"); u2=$(grep -c '^ep2 ' <<<"$out"); u3=$(grep -c '^ep3 ' <<<"$out")
sy_log "UDP split over 150: $u1 $u2 $u3"
[ "$u1" -gt 0 ] && [ "$u2" -gt 0 ] && [ "$u3" -gt 0 ] || sy_fail "UDP did not reach every endpoint ($u1 $u2 $u3)"
# SCTP
if [ $sctp = 1 ]; then
	out=$(ipt_ask_many "$CLIENT" sctp 10.96.0.80 99 30)
	[ "$(grep -c '^ep' <<<"$out")" -eq 30 ] || sy_fail "SCTP ClusterIP: $(sort <<<"$out" | uniq -c)"
else
	sy_log "SCTP sockets unavailable here: SCTP traffic not tested"
fi

# NodePort and externalIP from outside the node
out=$(ipt_ask_many "$CLIENT" tcp 192.168.50.1 30080 30)
[ "$(grep -c '^ep' <<<"$out")" -eq 30 ] || sy_fail "NodePort TCP: $(sort <<<"$out" | uniq -c)"
out=$(ipt_ask_many "$CLIENT" udp 192.168.50.1 30053 10)
[ "$(grep -c '^ep' <<<"$out")" -eq 10 ] || sy_fail "NodePort UDP: $(sort <<<"$out" | uniq -c)"
out=$(ipt_ask_many "$CLIENT" tcp 192.168.60.10 80 30)
[ "$(grep -c '^ep' <<<"$out")" -eq 30 ] || sy_fail "externalIP: $(sort <<<"$out" | uniq -c)"
# the keys of other shards, found through the guards: each ClusterIP and
# NodePort reaches all three endpoints
for g in $SHARDED; do
	IFS=: read -r n c np <<<"$g"
	for t in "$c 80" "192.168.50.1 $np"; do
		out=$(ipt_ask_many "$CLIENT" tcp $t 30)
		[ "$(grep -c '^ep' <<<"$out")" -eq 30 ] && [ "$(cut -d' ' -f1 <<<"$out" | sort -u | wc -l)" = 3 ] ||
			sy_fail "$n through $t: $(sort <<<"$out" | uniq -c)"
	done
done
# --nodeport-addresses unset: nftables mode defaults to "primary" (kube-proxy's
# platformApplyDefaults), NodePorts on the Node's InternalIP only, not on
# another local address; and no "nodePortAddresses is unset" complaint
out=$(ipt_ask_many "$CLIENT" tcp 10.244.1.1 30080 2)
grep -q '^ep' <<<"$out" && sy_fail "NodePort answered on $(ipt_ip 10.244.1.1) (not the primary IP) without --nodeport-addresses: $out"
npips=$(nft_q '[s.get("elem") for s in objs["set"] if s["name"] == "nodeport-ips"]')
[ "$npips" = "[['$NIP']]" ] || sy_fail "nodeport-ips without --nodeport-addresses: $npips"
grep -q "nodePortAddresses is unset" "$IPT_LOG" && sy_fail "nftables mode logged nodePortAddresses as unset"
# from the node itself (nat-output)
out=$(ipt_ask_many "$NODE" tcp 10.96.0.80 80 10)
[ "$(grep -c '^ep' <<<"$out")" -eq 10 ] || sy_fail "ClusterIP from the node: $out"
# hairpin: endpoint 3 (local) reaching its own Service lands on itself now and then, masqueraded
out=$(ipt_ask_many "${IPT_EP_NS[3]}" tcp 10.96.0.80 80 40)
grep -qx "ep3 $(ipt_ip 10.244.3.1)" <<<"$out" || sy_fail "hairpin: ep3 never reached itself masqueraded: $(sort <<<"$out" | uniq -c)"
[ "$(grep -c '^ep' <<<"$out")" -eq 40 ] || sy_fail "hairpin: lost connections: $(sort <<<"$out" | uniq -c)"
# a pod (ep1, inside the cluster CIDR): to the ClusterIP not masqueraded
# (another endpoint sees 10.244.1.2), to the externalIP and the NodePort
# masqueraded (externalTrafficPolicy Cluster: kube-proxy's external chain
# marks unconditionally; the endpoint sees the node's address)
ipt_pod_masq "" 10.96.0.80 80 192.168.60.10 80 192.168.50.1 30080

# REJECT: no endpoints, and an unused port of a ClusterIP: refused at once
for target in "10.96.0.90 80" "10.96.0.80 81"; do
	set -- $target
	if [ "$IPT_FAM" = 6 ]; then
		# the first ICMPv6 error can meet the socket still locked by
		# connect (ipt_rejected): then the SYN's retransmission after 1 s
		# gets the refusal; refused within 2.5 s, timed by the client
		r=$(ip netns exec "$CLIENT" "$PY" "$SY_SRC/tests/lib/echo_client.py" --host "$(ipt_ip "$1")" --port "$2" --timeout 2.5)
		[ "$r" = REFUSED ] || sy_fail "[$(ipt_ip "$1")]:$2: '$r' (want refused within 2.5 s)"
		continue
	fi
	t0=$(date +%s%N)
	r=$(ip netns exec "$CLIENT" "$PY" -c '
import socket, sys
s = socket.socket(); s.settimeout(3)
try:
    s.connect((sys.argv[1], int(sys.argv[2]))); print("connected")
except ConnectionRefusedError: print("refused")
except OSError as e: print("error", e)' "$1" "$2")
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	[ "$r" = refused ] || sy_fail "$1:$2: $r (want refused)"
	[ "$ms" -lt 2000 ] || sy_fail "$1:$2 took $ms ms to be refused"
done
# metrics: kube-proxy's sync series and the nft object count
met=$(ip netns exec "$NODE" curl -s http://127.0.0.1:10249/metrics)
grep -q '^kubeproxy_sync_proxy_rules_duration_seconds_count{ip_family="IPv'$IPT_FAM'"} [1-9]' <<<"$met" || sy_fail "no sync duration metric"
grep -q '^kubeproxy_sync_proxy_rules_nftables_sync_failures_total{ip_family="IPv'$IPT_FAM'"} 0' <<<"$met" || sy_fail "no nftables failures metric"
objs=$(sed -n 's/^switchyard_nftables_objects{table="'$NF' switchyard"} //p' <<<"$met")
[ "${objs:-0}" -gt 50 ] || sy_fail "nft object count: '$objs'"

# --nodeport-addresses: NodePorts only on the matching node address (@nodeport-ips)
ipt_stop
ipt_start --sync-period 30s --nodeport-addresses "$(ipt_ip 192.168.50.0/24)"
npips=$(nft_q '[s.get("elem") for s in objs["set"] if s["name"] == "nodeport-ips"]')
[ "$npips" = "[['$NIP']]" ] || sy_fail "nodeport-ips: $npips"
ip netns exec "$NODE" nft list chain $NF switchyard services | grep -q "$NF daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports" ||
	sy_fail "no @nodeport-ips dispatch rule"
out=$(ipt_ask_many "$CLIENT" tcp 192.168.50.1 30080 10)
[ "$(grep -c '^ep' <<<"$out")" -eq 10 ] || sy_fail "NodePort on the listed address: $(sort <<<"$out" | uniq -c)"
out=$(ipt_ask_many "$CLIENT" tcp 10.244.1.1 30080 2)
grep -q '^ep' <<<"$out" && sy_fail "NodePort answered on an address outside --nodeport-addresses: $out"
# an explicit list covering both addresses: NodePorts on both
ipt_stop
ipt_start --sync-period 30s --nodeport-addresses "$(ipt_ip 192.168.50.0/24),$(ipt_ip 10.244.1.0/24)"
for a in 192.168.50.1 10.244.1.1; do
	out=$(ipt_ask_many "$CLIENT" tcp $a 30080 5)
	[ "$(grep -c '^ep' <<<"$out")" -eq 5 ] || sy_fail "NodePort on $a (listed): $(sort <<<"$out" | uniq -c)"
done
sy_pass "split $c1/$c2/$c3 $chi, $objs nft objects"
