#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Conntrack cleanup time with many unrelated entries present (issue 5).
# Prints numbers; never passes or fails on time.
#
#   bench/conntrack-bench.sh [UNRELATED=10000] [STALE=10] [RUNS=5]
#
# In a fresh namespace: UNRELATED unrelated entries (80 % UDP to other
# addresses, 20 % TCP, created with `conntrack -R`), STALE stale UDP entries
# to a Service whose endpoint is replaced, and 50 other unchanged UDP
# Services.  Then runs the cleanup driver (bench/conntrack-cleanup, the
# same code path as the daemon's sync) RUNS times for each strategy and
# prints the median time and what it deleted.
. "$(dirname "$0")/../tests/lib/common.sh"
UNRELATED=${1:-10000}
STALE=${2:-10}
RUNS=${3:-5}
DRIVER=$SY_BUILD/bench/conntrack-cleanup
[ -x "$DRIVER" ] || sy_skip "build $DRIVER first"
[ "$(id -u)" = 0 ] || sy_skip "needs root"

sy_mkns NS bench
mkdir -p "$SY_TMP/old" "$SY_TMP/new"
svc() { # name ip port nodeport
	printf 'apiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: bench}\nspec:\n  type: NodePort\n  clusterIP: %s\n  ports:\n  - {name: p, protocol: UDP, port: %s, targetPort: 5353, nodePort: %s}\n---\n' "$1" "$2" "$3" "$4"
}
eps() { # svc ip
	printf 'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\naddressType: IPv4\nmetadata: {name: %s-x, namespace: bench, labels: {kubernetes.io/service-name: %s}}\nports:\n- {name: p, protocol: UDP, port: 5353}\nendpoints:\n- addresses: [%s]\n  conditions: {ready: true}\n---\n' "$1" "$1" "$2"
}
for d in old new; do
	{
		svc dns 10.96.0.10 53 30053
		for i in $(seq 1 50); do svc "s$i" "10.96.1.$i" 53 $((31000 + i)); eps "s$i" "10.244.2.$i"; done
	} >"$SY_TMP/$d/svc.yaml"
done
eps dns 10.244.1.2 >"$SY_TMP/old/eps.yaml"
eps dns 10.244.1.3 >"$SY_TMP/new/eps.yaml"

$PY - "$UNRELATED" >"$SY_TMP/unrelated.txt" <<'EOF'
import sys
n = int(sys.argv[1])
for i in range(n):
    a, b = divmod(i, 250)
    proto = "tcp" if i % 5 == 4 else "udp"
    st = "--state ESTABLISHED" if proto == "tcp" else "-u SEEN_REPLY"
    print(f"-I -p {proto} -s 10.30.{a % 250}.{b + 1} -d 10.20.{(a // 250) % 250}.{a % 250 + 1} "
          f"--sport {1024 + i % 60000} --dport {5000 + i % 7} -t 600 {st}")
EOF
stale() {
	for i in $(seq 1 "$STALE"); do
		echo "-I -p udp -s 10.1.$((i / 250)).$((i % 250 + 1)) -d 10.96.0.10 --sport 1000 --dport 53 -r 10.244.1.2 -q 10.1.$((i / 250)).$((i % 250 + 1)) --reply-port-src 5353 --reply-port-dst 1000 -t 600 -u SEEN_REPLY"
	done >"$SY_TMP/stale.txt"
	ip netns exec "$NS" conntrack -R "$SY_TMP/stale.txt" 2>/dev/null
}
t0=$(date +%s.%N)
ip netns exec "$NS" conntrack -R "$SY_TMP/unrelated.txt" 2>/dev/null
t1=$(date +%s.%N)
total=$(ip netns exec "$NS" conntrack -C)
echo "conntrack-bench: $total entries in the namespace after loading $UNRELATED unrelated ($(awk "BEGIN {printf \"%.3f\", $t1 - $t0}") s with conntrack -R)"
echo "conntrack-bench: nf_conntrack_buckets=$(cat /proc/sys/net/netfilter/nf_conntrack_buckets) (each kernel dump walks every bucket)"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
run() { # label driver-args...
	local label=$1 secs=() del=0 out
	shift
	for _ in $(seq 1 "$RUNS"); do
		stale
		out=$(ip netns exec "$NS" "$DRIVER" "$@" "$SY_TMP/old" "$SY_TMP/new") || sy_fail "driver: $out"
		secs+=("$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' <<<"$out")")
		del=$(sed -n 's/.*deleted=\([0-9]*\).*/\1/p' <<<"$out")
		[ "$del" = "$STALE" ] || sy_fail "$label: deleted $del, expected $STALE"
	done
	printf 'conntrack-bench: %-62s median %8.3f ms  (runs=%s, deleted %s stale of %s entries)\n' \
		"$label" "$(printf '%s\n' "${secs[@]}" | median | awk '{print $1 * 1000}')" "$RUNS" "$del" "$total"
}
run "incremental (ClusterIP+NodePort), cost model (the daemon's)"
run "incremental, per-port dumps forced (2 dumps)" --per-key-max 1000
run "incremental, one protocol dump forced" --per-key-max 0
run "full pass (51 UDP ports, 102 destinations), cost model" --full
run "full pass, per-port dumps forced (52 dumps)" --full --per-key-max 1000
left=$(ip netns exec "$NS" conntrack -C)
echo "conntrack-bench: $left entries left (unrelated untouched: $([ "$left" = "$total" ] && echo yes || echo NO))"
