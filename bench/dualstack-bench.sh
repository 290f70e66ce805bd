#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/dualstack-bench.sh [RUNS] — issue 17's goal in one table: each mode
# with N Services x 10 endpoints IPv4-only against the same N dual-stack
# (every Service RequireDualStack, 10 endpoints per family; NetworkPolicy:
# every pod dual-stack), RUNS rounds (default 3), IPv4-only and dual-stack
# runs alternating inside each round and the order swapped every other
# round, so that the shared machine's load falls on both; medians and the
# ratio dual ÷ IPv4-only.  It calls the existing benches with their dual
# switch, each in a fresh network namespace:
#   iptables   build/bench/iptables-sync -n N [--dual-stack] --change --repeat 7
#              (both instances in one process, as the daemon: full sync wall
#              and CPU of the syncing thread, peak RSS of the process, one
#              IPv4 endpoint change: the median of 7)
#   nftables   BENCH_PARTS=7 SY_BENCH_DS_REPEAT=1 bench/nftables-bench.sh
#              (the daemon with --manifests: first sync wall, its CPU summed
#              over the two instances, VmHWM, one IPv4 endpoint change: the
#              median of 5; it runs IPv4-only first, then dual)
#   netpol     build/bench/netpol-bench [--dual] (10,000 pods, all local,
#              1,000 policies: full programming wall and CPU, peak RSS of
#              the process, one pod added event -> kernel ack: median of 50)
#   ipvs       (DS_MODES="... ipvs", in the qemu VM, slow) bench/ipvs-bench.sh
#              --dualstack with SY_BENCH_ROUNDS=RUNS: its own medians
# Environment: SY_BUILD (./build), DS_N (10000), DS_MODES ("iptables
# nftables netpol"), DS_KEEP=DIR (keep the raw outputs there).
# Prints numbers; never passes or fails on one.
set -u
SY_SRC=$(cd "$(dirname "$0")/.." && pwd)
SY_BUILD=${SY_BUILD:-$SY_SRC/build}
. "$SY_SRC/tests/lib/common.sh"
RUNS=${1:-3}
N=${DS_N:-10000}
MODES=${DS_MODES:-iptables nftables netpol}
B=$SY_BUILD/bench
for f in "$B/iptables-sync" "$B/netpol-bench" "$SY_BUILD/switchyard"; do
	[ -x "$f" ] || { echo "build first: $f" >&2; exit 2; }
done
command -v /usr/bin/time >/dev/null || { echo "missing: /usr/bin/time (tools/lib.sh SY_PACKAGES)" >&2; exit 2; }
OUT=${DS_KEEP:-$SY_TMP/raw}
mkdir -p "$OUT"
calc() { awk "BEGIN { print $1 }"; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2); else print "nan" }'; }
# rec MODE KIND METRIC VALUE: one sample
rec() { echo "$4" >>"$OUT/$1.$2.$3"; }
gone() { ip netns del "$1" 2>/dev/null; }
kv() { sed -n "s/^$1 \(.* \)\{0,1\}$2=\([^ ]*\).*/\2/p" "$3"; }	# kv LINE-TAG KEY FILE

run_iptables() { # KIND ROUND
	local kind=$1 r=$2 o=$OUT/iptables-$1-$2.out
	sy_mkns DSNS "ipt$r$kind"
	SY_XTABLES_LOCK=$SY_TMP/xtables.lock ip netns exec "$DSNS" /usr/bin/time -f "TIME %e %M" \
		"$B/iptables-sync" -n "$N" $([ "$kind" = dual ] && echo --dual-stack) --change --repeat 7 \
		>"$o" 2>&1
	gone "$DSNS"
	grep -q '^full_sync .*result=ok' "$o" || { echo "   iptables $kind run $r failed:"; tail -3 "$o"; return 1; }
	rec iptables "$kind" full_wall "$(kv full_sync seconds "$o")"
	rec iptables "$kind" full_cpu "$(kv full_sync cpu_seconds "$o")"
	rec iptables "$kind" v4_cpu "$(kv full_sync v4_cpu "$o")"
	rec iptables "$kind" v6_cpu "$(kv full_sync v6_cpu "$o")"
	rec iptables "$kind" rss "$(awk '/^TIME / { printf "%.1f", $3 / 1024 }' "$o")"
	rec iptables "$kind" change_wall "$(kv endpoint_change seconds "$o" | median | awk '{ print $1 * 1000 }')"
	rec iptables "$kind" change_cpu "$(kv endpoint_change cpu_seconds "$o" | median | awk '{ print $1 * 1000 }')"
}

run_nftables() { # ROUND (IPv4-only, then dual)
	local r=$1 o=$OUT/nftables-$1.out kind
	# (a bound: a run that hangs is given up, the other runs still count)
	BENCH_PARTS=7 SY_BENCH_DS_REPEAT=1 SY_BENCH_DS_SIZES=$N SY_BUILD=$SY_BUILD \
		timeout "${DS_NFT_TIMEOUT:-1200}" "$SY_SRC/bench/nftables-bench.sh" >"$o" 2>&1
	for kind in v4 dual; do
		# "N KIND | first_s cpu_s kern_s rss_MB change_ms   (run 1)"
		local l
		l=$(awk -v n="$N" -v k="$kind" '$1 == n && $2 == k && $3 == "|" && /\(run/' "$o")
		[ -n "$l" ] || { echo "   nftables $kind run $r failed:"; tail -3 "$o"; continue; }
		set -- $l
		rec nftables "$kind" full_wall "$4"
		rec nftables "$kind" full_cpu "$5"
		rec nftables "$kind" kernel "$6"
		rec nftables "$kind" rss "$7"
		rec nftables "$kind" change_wall "$8"
	done
}

run_netpol() { # KIND ROUND
	local kind=$1 r=$2 o=$OUT/netpol-$1-$2.out
	sy_mkns DSNS "np$r$kind"
	ip netns exec "$DSNS" /usr/bin/time -f "TIME %e %M" "$B/netpol-bench" \
		$([ "$kind" = dual ] && echo --dual) >"$o" 2>&1
	gone "$DSNS"
	grep -q '^verify after the changes: 0 messages' "$o" || { echo "   netpol $kind run $r failed:"; tail -3 "$o"; return 1; }
	rec netpol "$kind" full_wall "$(sed -n 's/^full programming: .* sync \([0-9.]*\) s,.*/\1/p' "$o")"
	rec netpol "$kind" full_cpu "$(sed -n 's/^full programming: .* cpu \([0-9.]*\) s.*/\1/p' "$o")"
	rec netpol "$kind" user "$(sed -n 's/^full programming: .*(user \([0-9.]*\) s.*/\1/p' "$o")"
	rec netpol "$kind" system "$(sed -n 's/^full programming: .* system \([0-9.]*\) s.*/\1/p' "$o")"
	rec netpol "$kind" kernel "$(sed -n 's/^full programming: .* kernel \([0-9.]*\) s.*/\1/p' "$o")"
	rec netpol "$kind" rss "$(awk '/^TIME / { printf "%.1f", $3 / 1024 }' "$o")"
	rec netpol "$kind" change_wall "$(sed -n 's/^pod added .* median \([0-9.]*\) ms.*/\1/p' "$o")"
}

echo "== dual stack vs IPv4-only: $N Services x 10 endpoints per family; $RUNS rounds, alternating"
echo "   (modes: $MODES; $(date -u '+%F %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg))"
for r in $(seq 1 "$RUNS"); do
	order="v4 dual"
	[ $((r % 2)) = 0 ] && order="dual v4"
	for m in $MODES; do
		case $m in
		iptables | netpol) for k in $order; do "run_$m" "$k" "$r"; done ;;
		nftables) run_nftables "$r" ;;
		ipvs) ;;
		*) echo "unknown mode $m" >&2; exit 2 ;;
		esac
	done
	echo "   round $r done ($(date -u +%H:%M:%S), load $(cut -d' ' -f1 /proc/loadavg))"
done

echo
printf '%-9s %-32s %11s %11s %7s\n' mode metric IPv4-only dual ratio
line() { # MODE METRIC LABEL
	local a b
	[ -s "$OUT/$1.v4.$2" ] && [ -s "$OUT/$1.dual.$2" ] || return 0
	a=$(median <"$OUT/$1.v4.$2")
	b=$(median <"$OUT/$1.dual.$2")
	printf '%-9s %-32s %11s %11s %6.2f×\n' "$1" "$3" "$a" "$b" "$(calc "$b / $a")"
}
for m in $MODES; do
	line "$m" full_wall "full sync wall (s)"
	line "$m" full_cpu "full sync CPU (s)"
	line "$m" user "  of it user (s)"
	line "$m" system "  of it system (s)"
	line "$m" kernel "  in sendmsg (s, wall)"
	line "$m" rss "peak RSS (MB)"
	line "$m" change_wall "one endpoint change wall (ms)"
	line "$m" change_cpu "one endpoint change CPU (ms)"
done
if [ -s "$OUT/iptables.dual.v4_cpu" ]; then
	printf '%-9s %-32s %11s %11s\n' iptables "  dual: IPv4 / IPv6 instance CPU" "$(median <"$OUT/iptables.dual.v4_cpu")" \
		"$(median <"$OUT/iptables.dual.v6_cpu")"
fi
echo "   (medians of $RUNS runs; netpol: 10,000 pods/1,000 policies, the change = one pod added;"
echo "    goal: full sync and RSS ≤ 2.2×, the change unchanged)"
for f in "$OUT"/*.v4.* "$OUT"/*.dual.*; do
	printf '   samples %s: %s\n' "$(basename "$f")" "$(tr '\n' ' ' <"$f")"
done

if [[ " $MODES " == *" ipvs "* ]]; then
	echo
	echo "== ipvs (in the VM): bench/ipvs-bench.sh --dualstack, SY_BENCH_ROUNDS=$RUNS"
	SY_BENCH_DS_N=$N SY_BENCH_ROUNDS=$RUNS SY_BUILD=$SY_BUILD "$SY_SRC/bench/ipvs-bench.sh" --dualstack
fi
