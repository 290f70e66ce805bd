#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Stale conntrack cleanup of IPv6 entries (issue 17), with real IPv6 UDP
# traffic.  No proxy mode programs IPv6 yet, so the node's DNAT rule is
# written here with ip6tables (standing in for a mode) and the cleanup is
# driven by bench/conntrack-cleanup --ipv6 --full (the sync runner's call
# sequence; the desired state keeps no IPv6 change list, so IPv6 is
# covered by full passes).
#
# client ns (fd00:1::1) -- node ns (fd00:1::2; DNAT [fd00:96::a]:53 ->
# endpoint) -- endpoint ns (fd00:244:1::2 "ep2", fd00:244:1::3 "ep3").
# 1. a client with a fixed source port reaches ep2 through the ClusterIP;
# 2. the endpoint is replaced (rule → ep3, manifests ep2 → ep3): without the
#    cleanup the same flow still goes to ep2 (what the cleanup is for), and
#    a run without --ipv6 leaves the IPv6 entries alone;
# 3. with --ipv6 the stale entries (ClusterIP and NodePort on the node's
#    IPv6 address, answered by ep2) are deleted, read back with
#    `conntrack -L -f ipv6`, while a TCP entry, an entry answered by ep3
#    and an unrelated UDP flow keep their ids; the next datagram reaches ep3.
#    The same call also cleans an IPv4 Service's stale entry (both families
#    in one pass).
. "$(dirname "$0")/../lib/common.sh"
[ "$(id -u)" = 0 ] || sy_skip "needs root"
DRIVER=$SY_BUILD/bench/conntrack-cleanup
[ -x "$DRIVER" ] || sy_skip "no $DRIVER (make)"
command -v ip6tables >/dev/null || sy_skip "no ip6tables"

VIP=fd00:96::a EP2=fd00:244:1::2 EP3=fd00:244:1::3 CLI=fd00:1::1 NODE=fd00:1::2
sy_mkns C client
sy_mkns N node
sy_mkns E endpoints
sy_veth "$C" eth0 $CLI/64 "$N" c0 $NODE/64
sy_veth "$N" e0 fd00:244:1::1/64 "$E" eth0 -
for a in $EP2 $EP3; do ip -n "$E" addr add $a/64 dev eth0 nodad; done
for ns in "$C" "$N" "$E"; do
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
done
ip netns exec "$N" sysctl -qw net.ipv6.conf.all.forwarding=1
ip -n "$C" -6 route add fd00:96::/64 via $NODE
ip -n "$E" -6 route add default via fd00:244:1::1
# addresses added before accept_dad=0 may still be tentative
sy_wait 20 sh -c "! ip -n '$C' -6 addr show tentative | grep -q inet6 && ! ip -n '$N' -6 addr show tentative | grep -q inet6" ||
	sy_fail "addresses stay tentative"
sy_bg "$E" "$SY_TMP/ep2.log" "$PY" "$SY_SRC/tests/lib/echo_server.py" --proto udp --port 5353 --name ep2 --bind $EP2
sy_bg "$E" "$SY_TMP/ep3.log" "$PY" "$SY_SRC/tests/lib/echo_server.py" --proto udp --port 5353 --name ep3 --bind $EP3
sy_wait_bound "$E" udp 5353 2 || sy_fail "the echo servers are not listening"

dnat() { # endpoint address: the ClusterIP and the NodePort (on the node address) go there
	ip netns exec "$N" ip6tables -w -t nat -F PREROUTING
	ip netns exec "$N" ip6tables -w -t nat -A PREROUTING -d $VIP -p udp --dport 53 -j DNAT --to-destination "[$1]:5353"
	ip netns exec "$N" ip6tables -w -t nat -A PREROUTING -d $NODE -p udp --dport 30053 -j DNAT --to-destination "[$1]:5353"
}
dnat $EP2
ask() { sy_ask "$C" udp "$1" "$2" "$3" | awk '{print $1}'; }
[ "$(ask $VIP 53 40000)" = ep2 ] || sy_fail "no IPv6 answer through the ClusterIP: $(ask $VIP 53 40000)"
[ "$(ask $NODE 30053 40001)" = ep2 ] || sy_fail "no IPv6 answer through the NodePort"
sy_log "real IPv6 UDP flows to [$VIP]:53 and [$NODE]:30053 answered by ep2"

mkdir -p "$SY_TMP/old" "$SY_TMP/new"
for d in old new; do
	ep=$EP2
	[ $d = new ] && ep=$EP3
	ep4=10.244.1.2
	[ $d = new ] && ep4=10.244.1.3
	cat >"$SY_TMP/$d/m.yaml" <<EOF
apiVersion: v1
kind: Service
metadata: {name: dns, namespace: t}
spec:
  type: NodePort
  clusterIP: $VIP
  clusterIPs: [$VIP]
  ipFamilies: [IPv6]
  ipFamilyPolicy: SingleStack
  ports: [{name: dns, protocol: UDP, port: 53, targetPort: 5353, nodePort: 30053}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: dns-1, namespace: t, labels: {kubernetes.io/service-name: dns}}
addressType: IPv6
ports: [{name: dns, protocol: UDP, port: 5353}]
endpoints: [{addresses: ["$ep"], conditions: {ready: true}}]
---
apiVersion: v1
kind: Service
metadata: {name: dns4, namespace: t}
spec:
  clusterIP: 10.96.0.10
  ports: [{name: dns, protocol: UDP, port: 53, targetPort: 5353}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: dns4-1, namespace: t, labels: {kubernetes.io/service-name: dns4}}
addressType: IPv4
ports: [{name: dns, protocol: UDP, port: 5353}]
endpoints: [{addresses: [$ep4], conditions: {ready: true}}]
EOF
done

# entries made by hand next to the real ones (kept: TCP to the ClusterIP, UDP answered by ep3,
# an unrelated flow)
{
	echo "-I -p tcp -s fd00:1::7 -d $VIP --sport 1000 --dport 53 -r $EP2 -q fd00:1::7 --reply-port-src 5353 --reply-port-dst 1000 -t 600 --state ESTABLISHED"
	echo "-I -p udp -s fd00:1::8 -d $VIP --sport 1000 --dport 53 -r $EP3 -q fd00:1::8 --reply-port-src 5353 --reply-port-dst 1000 -t 600 -u SEEN_REPLY"
	echo "-I -p udp -s fd00:1::9 -d fd00:5::1 --sport 1000 --dport 53 -r fd00:5::1 -q fd00:1::9 --reply-port-src 53 --reply-port-dst 1000 -t 600 -u SEEN_REPLY"
} >"$SY_TMP/kept.txt"
ip netns exec "$N" conntrack -R "$SY_TMP/kept.txt" 2>/dev/null || sy_fail "conntrack -R"
ids() { # "proto src:sport>dst:dport reply-src id", IPv6 entries
	ip netns exec "$N" conntrack -L -f ipv6 -o id 2>/dev/null | awk '{
		delete f; delete r
		for (i = 2; i <= NF; i++) {
			split($i, kv, "=")
			if (kv[2] == "") continue
			if (!(kv[1] in f)) f[kv[1]] = kv[2]
			else if (!(kv[1] in r)) r[kv[1]] = kv[2]
		}
		if ("id" in f) print $1, f["src"] ":" f["sport"] ">" f["dst"] ":" f["dport"], r["src"], f["id"]
	}' | sort
}
ids >"$SY_TMP/before"
grep -q "udp $CLI:40000>$VIP:53 $EP2 " "$SY_TMP/before" || sy_fail "no ClusterIP entry: $(cat "$SY_TMP/before")"
grep -q "udp $CLI:40001>$NODE:30053 $EP2 " "$SY_TMP/before" || sy_fail "no NodePort entry: $(cat "$SY_TMP/before")"
[ "$(wc -l <"$SY_TMP/before")" = 5 ] || sy_fail "expected 5 IPv6 entries: $(cat "$SY_TMP/before")"

# the endpoint is replaced; without the cleanup the cached flow keeps going to ep2
dnat $EP3
[ "$(ask $VIP 53 40000)" = ep2 ] || sy_fail "the cached flow should still reach ep2 before the cleanup"
[ "$(ask $VIP 53 40002)" = ep3 ] || sy_fail "a new flow should reach ep3"
ids >"$SY_TMP/before"

# IPv6 cleanup not asked for: nothing of IPv6 is touched
out=$(ip netns exec "$N" "$DRIVER" -v 4 --full "$SY_TMP/old" "$SY_TMP/new" 2>&1) || sy_fail "driver: $out"
ids >"$SY_TMP/mid"
diff -q "$SY_TMP/before" "$SY_TMP/mid" >/dev/null || sy_fail "IPv6 entries changed without --ipv6: $(diff "$SY_TMP/before" "$SY_TMP/mid")"

# an IPv4 stale entry next to the IPv6 ones
echo "-I -p udp -s 10.1.0.1 -d 10.96.0.10 --sport 1000 --dport 53 -r 10.244.1.2 -q 10.1.0.1 --reply-port-src 5353 --reply-port-dst 1000 -t 600 -u SEEN_REPLY" >"$SY_TMP/v4.txt"
ip netns exec "$N" conntrack -R "$SY_TMP/v4.txt" 2>/dev/null || sy_fail "conntrack -R v4"
out=$(ip netns exec "$N" "$DRIVER" -v 4 --ipv6 --full "$SY_TMP/old" "$SY_TMP/new" 2>&1) || sy_fail "driver --ipv6: $out"
sy_log "driver: $(echo "$out" | grep -E 'ports6=|Conntrack cleanup: deleted' | tr '\n' ' ')"
echo "$out" | grep -q "ports6=1 " || sy_fail "the IPv6 Service did not reach the desired state: $out"
ids >"$SY_TMP/after"
comm -23 "$SY_TMP/before" "$SY_TMP/after" | awk '{print $1, $2}' >"$SY_TMP/gone"
printf 'udp %s\nudp %s\n' "$CLI:40000>$VIP:53" "$CLI:40001>$NODE:30053" | sort >"$SY_TMP/want"
diff "$SY_TMP/want" "$SY_TMP/gone" >"$SY_TMP/diff" ||
	sy_fail "deleted set differs (< not deleted, > wrongly deleted): $(cat "$SY_TMP/diff")"
[ -z "$(comm -13 "$SY_TMP/before" "$SY_TMP/after")" ] || sy_fail "entries appeared or changed id"
echo "$out" | grep -q "deleted=3 errors=0" || sy_fail "driver count (2 IPv6 + 1 IPv4): $out"
[ -z "$(ip netns exec "$N" conntrack -L -f ipv4 -p udp --orig-dst 10.96.0.10 2>/dev/null)" ] ||
	sy_fail "the IPv4 stale entry is still there"
echo "$out" | grep -q "Stale conntrack entry: IPv6 UDP $CLI:40000 -> $VIP:53 answered by $EP2:5353" ||
	sy_fail "no -v 4 line for the stale entry: $out"
# the same client flow now reaches the new endpoint
[ "$(ask $VIP 53 40000)" = ep3 ] || sy_fail "after the cleanup the flow should reach ep3"
[ "$(ask $NODE 30053 40001)" = ep3 ] || sy_fail "after the cleanup the NodePort flow should reach ep3"
ip netns exec "$N" conntrack -L -f ipv6 -p udp --orig-port-src 40000 2>/dev/null | grep -q "src=$EP3" ||
	sy_fail "conntrack -L -f ipv6 shows no entry to ep3"
sy_pass "2 stale IPv6 entries (ClusterIP, NodePort) and 1 IPv4 deleted in one pass, 3 kept with their ids; the flow moved to ep3"
