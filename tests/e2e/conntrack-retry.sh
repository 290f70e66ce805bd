#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A netlink failure during conntrack cleanup is counted, logged, never
# fatal, and the work is retried on the next call even when that call has
# no changes (a full pass is owed), on a fresh socket.  Uses the cleanup
# driver bench/conntrack-cleanup (the sync runner's call sequence) with
# --break-socket-first, which swaps the netlink socket for a UDP one before
# the first call.  Also checks the driver's normal path as a baseline.
. "$(dirname "$0")/../lib/common.sh"
[ "$(id -u)" = 0 ] || sy_skip "needs root"
DRIVER=$SY_BUILD/bench/conntrack-cleanup
[ -x "$DRIVER" ] || sy_skip "no $DRIVER (make)"

VIP=10.96.0.10 EP1=10.244.1.2 EP2=10.244.1.3
sy_mkns N node
mkdir -p "$SY_TMP/old" "$SY_TMP/new"
for d in old new; do
	ep=$EP1
	[ $d = new ] && ep=$EP2
	cat >"$SY_TMP/$d/m.yaml" <<EOF
apiVersion: v1
kind: Service
metadata: {name: dns, namespace: t}
spec:
  clusterIP: $VIP
  ports: [{name: dns, protocol: UDP, port: 53, targetPort: 5353}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: dns-1, namespace: t, labels: {kubernetes.io/service-name: dns}}
addressType: IPv4
ports: [{name: dns, protocol: UDP, port: 5353}]
endpoints: [{addresses: [$ep], conditions: {ready: true}}]
EOF
done
cat >"$SY_TMP/old/gone.yaml" <<EOF
apiVersion: v1
kind: Service
metadata: {name: gone, namespace: t}
spec:
  clusterIP: 10.96.0.40
  ports: [{name: dns, protocol: UDP, port: 53, targetPort: 5353}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: gone-1, namespace: t, labels: {kubernetes.io/service-name: gone}}
addressType: IPv4
ports: [{name: dns, protocol: UDP, port: 5353}]
endpoints: [{addresses: [$EP1], conditions: {ready: true}}]
EOF
load() {
	for i in 1 2 3; do
		echo "-I -p udp -s 10.1.0.$i -d $VIP --sport 1000 --dport 53 -r $EP1 -q 10.1.0.$i --reply-port-src 5353 --reply-port-dst 1000 -t 600 -u SEEN_REPLY"
	done >"$SY_TMP/stale.txt"
	echo "-I -p udp -s 10.1.0.8 -d 10.96.0.40 --sport 1000 --dport 53 -r $EP1 -q 10.1.0.8 --reply-port-src 5353 --reply-port-dst 1000 -t 600 -u SEEN_REPLY" >>"$SY_TMP/stale.txt"
	echo "-I -p udp -s 10.1.0.9 -d $VIP --sport 1000 --dport 53 -r $EP2 -q 10.1.0.9 --reply-port-src 5353 --reply-port-dst 1000 -t 600 -u SEEN_REPLY" >>"$SY_TMP/stale.txt"
	ip netns exec "$N" conntrack -R "$SY_TMP/stale.txt" 2>/dev/null || sy_fail "conntrack -R"
}
stale_left() { ip netns exec "$N" conntrack -L -p udp --reply-src $EP1 2>/dev/null | grep -c " dport=53 "; }

# baseline: one call deletes the 4 stale entries, keeps the one to the new endpoint
load
out=$(ip netns exec "$N" "$DRIVER" -v 2 "$SY_TMP/old" "$SY_TMP/new" 2>"$SY_TMP/base.err") ||
	sy_fail "driver: $out $(cat "$SY_TMP/base.err")"
grep -q "^deleted=4 errors=0" <<<"$out" || sy_fail "baseline: $out"
[ "$(stale_left)" = 0 ] || sy_fail "baseline left stale entries"
ip netns exec "$N" conntrack -L -p udp --reply-src $EP2 2>/dev/null | grep -q "dst=$VIP " ||
	sy_fail "baseline deleted the entry to the new endpoint"

# failure, then retry with no changes
ip netns exec "$N" conntrack -F 2>/dev/null
load
out=$(ip netns exec "$N" "$DRIVER" -v 2 --break-socket-first "$SY_TMP/old" "$SY_TMP/new" 2>"$SY_TMP/err")
rc=$?
sy_log "$(tr '\n' ' ' <<<"$out")"
[ $rc = 0 ] || sy_fail "driver rc=$rc: $out $(cat "$SY_TMP/err")"
grep -q "^broken: deleted=0 errors=[1-9]" <<<"$out" || sy_fail "the broken call did not count an error: $out"
grep -q "W.*Conntrack cleanup: .*retrying on the next sync" "$SY_TMP/err" ||
	sy_fail "error not logged: $(cat "$SY_TMP/err")"
grep -q "full=true" "$SY_TMP/err" || sy_fail "the retry was not a full pass: $(cat "$SY_TMP/err")"
grep -q "^deleted=4 errors=0" <<<"$out" || sy_fail "the retry did not delete the 4 stale entries: $out"
[ "$(stale_left)" = 0 ] || sy_fail "stale entries left after the retry"
sy_pass "error counted and logged; owed full pass on a fresh socket deleted the stale entries"
