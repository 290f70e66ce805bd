#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# IPVS mode benchmarks, run in the test VM (Debian's stock kernel under
# qemu; see tests/vm/lib.sh):
#   - full sync of N Services x 10 endpoints (N = 1000 5000 10000) vs
#     `ipvsadm -R` restoring the same virtual servers;
#   - one endpoint change at each N (median of SY_BENCH_CHANGES=15, and its writes);
#   - a full resync with nothing to do (after a restart);
#   - wrk (Connection: close, a new connection per request) and iperf3
#     through a ClusterIP vs straight to the pod, with 0 and 10000 Services.
# Prints a table; never passes or fails on a number.
#   bench/ipvs-bench.sh [--quick]
#   bench/ipvs-bench.sh --dualstack: instead, SY_BENCH_DS_N (10000) Services x 10
#     endpoints IPv4-only against dual stack (10 endpoints per family): first
#     sync, RSS, one-endpoint change; medians of SY_BENCH_ROUNDS (3) runs each
#     (bench/ipvs-dualstack-guest.sh).
# Env: SY_BENCH_SIZES, SY_BENCH_CHANGES, SY_BENCH_SECS, SY_BENCH_TRAFFIC_N,
#      SY_VM_MEM (default here 2048), SY_VM_ACCEL.
set -u
SY_SRC=${SY_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
SY_BUILD=${SY_BUILD:-$SY_SRC/build}
SWITCHYARD=${SWITCHYARD:-$SY_BUILD/switchyard}
export SY_VM_MEM=${SY_VM_MEM:-2048} SY_VM_TIMEOUT=${SY_VM_TIMEOUT:-3000}
. "$SY_SRC/tests/vm/lib.sh"
if [ "${1:-}" = --quick ]; then
	SY_BENCH_SIZES=${SY_BENCH_SIZES:-200 1000}; SY_BENCH_TRAFFIC_N=${SY_BENCH_TRAFFIC_N:-1000}
	SY_BENCH_SECS=${SY_BENCH_SECS:-3}
fi
[ -x "$SWITCHYARD" ] || { echo "build first: $SWITCHYARD" >&2; exit 2; }
vm_prepare || { echo "cannot prepare the VM" >&2; exit 2; }
if [ "${1:-}" = --dualstack ]; then
	SY_VM_ENV="SY_BENCH_DS_N=${SY_BENCH_DS_N:-10000} SY_BENCH_ROUNDS=${SY_BENCH_ROUNDS:-3} SY_BENCH_CHANGES=${SY_BENCH_CHANGES:-5}"
	export SY_VM_ENV
	out=$(mktemp)
	vm_run bench/ipvs-dualstack-guest.sh 2>&1 | tee "$out" | grep --line-buffered '^RESULT\|^\[vm\]\|^# ' >&2
	get() { awk -v k="$1" '$1 == "RESULT" && $2 == k { v = $3 } END { print v }' "$out"; }
	ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b }'; }
	echo
	echo "IPVS dual stack vs IPv4-only, ${SY_BENCH_DS_N:-10000} Services x 10 endpoints (per family)"
	echo "(VM: $(vm_accel), kernel $VM_KV, $(date -u +%Y-%m-%dT%H:%MZ)); medians of ${SY_BENCH_ROUNDS:-3} runs"
	printf '%-22s %14s %14s %8s\n' "" IPv4-only "dual stack" ratio
	printf '%-22s %14s %14s %8s\n' "first sync, ms" "$(get 'ds_sync_ms[v4]')" "$(get 'ds_sync_ms[dual]')" \
		"$(ratio "$(get 'ds_sync_ms[dual]')" "$(get 'ds_sync_ms[v4]')")"
	printf '%-22s %14s %14s %8s\n' "RSS after it, kB" "$(get 'ds_rss_kb[v4]')" "$(get 'ds_rss_kb[dual]')" \
		"$(ratio "$(get 'ds_rss_kb[dual]')" "$(get 'ds_rss_kb[v4]')")"
	printf '%-22s %14s %14s %8s\n' "1 IPv4 ep change, ms" "$(get 'ds_change_ms[v4]')" "$(get 'ds_change_ms[dual]')" \
		"$(ratio "$(get 'ds_change_ms[dual]')" "$(get 'ds_change_ms[v4]')")"
	printf '%-22s %14s %14s\n' "1 IPv6 ep change, ms" "" "$(get 'ds_change6_ms[dual]')"
	for k in ds_sync_ms ds_rss_kb ds_change_ms; do
		echo "  $k samples: IPv4-only $(get "${k}_all[v4]"); dual $(get "${k}_all[dual]")"
	done
	echo "  ds_change6_ms samples: $(get 'ds_change6_ms_all[dual]')"
	rm -f "$out"
	exit 0
fi
SY_VM_ENV="SY_BENCH_SIZES='${SY_BENCH_SIZES:-1000 5000 10000}' SY_BENCH_CHANGES=${SY_BENCH_CHANGES:-15} SY_BENCH_ROUNDS=${SY_BENCH_ROUNDS:-3} SY_BENCH_SECS=${SY_BENCH_SECS:-5} SY_BENCH_TRAFFIC_N=${SY_BENCH_TRAFFIC_N:-10000} SY_BENCH_TRAFFIC=${SY_BENCH_TRAFFIC-1}"
export SY_VM_ENV
out=$(mktemp)
vm_run bench/ipvs-guest.sh 2>&1 | tee "$out" | grep --line-buffered '^RESULT\|^\[vm\]\|^# ' >&2
get() { awk -v k="$1" '$1 == "RESULT" && $2 == k { v = $3 } END { print v }' "$out"; }
echo
echo "IPVS mode benchmarks (VM: $(vm_accel), kernel $VM_KV, $(date -u +%Y-%m-%dT%H:%MZ))"
s() { awk -v v="$1" 'BEGIN { if (v != "") printf "%.2f", v / 1000 }'; }
r2() { awk -v v="$1" 'BEGIN { if (v != "") printf "%.2f", v }'; }
echo "Full sync (first start, empty kernel) vs the reference tools' batch paths, seconds:"
printf '%-8s %13s %11s %11s %13s %11s %9s\n' Services "ipvsadm -R" "IPVS+addr" "ipset rest." "our ipsets" "full sync" "writes"
for n in ${SY_BENCH_SIZES:-1000 5000 10000}; do
	printf '%-8s %13s %11s %11s %13s %11s %9s\n' "$n" "$(r2 "$(get "ipvsadm_restore_s[$n]")")" \
		"$(s "$(get "full_sync_ipvs_ms[$n]")")" "$(r2 "$(get "ipset_restore_s[$n]")")" \
		"$(s "$(get "full_sync_sets_ms[$n]")")" "$(s "$(get "full_sync_ms[$n]")")" \
		"$(get "full_sync_writes[$n]")"
done
echo "  IPVS+addr: our virtual + real servers and kube-ipvs0 addresses (ipvsadm -R: the same"
echo "  virtual/real servers); ipset rest.: ipset restore of the same SY-CLUSTER-IP + SY-LOOP-BACK"
echo "  entries; our ipsets: all SY-* entries; full sync: the whole sync incl. desired state."
echo
echo "Later syncs (ms; writes):"
printf '%-8s %14s %8s %16s %8s %16s %8s\n' Services "1-ep change" writes "restart full" writes "periodic full" writes
for n in ${SY_BENCH_SIZES:-1000 5000 10000}; do
	printf '%-8s %14s %8s %16s %8s %16s %8s\n' "$n" "$(get "change_ms[$n]")" "$(get "change_writes[$n]")" \
		"$(get "restart_full_sync_ms[$n]")" "$(get "restart_full_sync_writes[$n]")" \
		"$(get "noop_full_sync_ms[$n]")" "$(get "noop_full_sync_writes[$n]")"
done
for n in ${SY_BENCH_SIZES:-1000 5000 10000}; do
	echo "  1-endpoint change samples at $n (ms): $(get "change_ms_all[$n]")"
done
t=${SY_BENCH_TRAFFIC_N:-10000}
echo
printf '%-10s %16s %12s %8s %18s %12s %8s\n' Services "wrk ClusterIP/s" "wrk pod/s" ratio "iperf3 CIP Mbit/s" "pod Mbit/s" ratio
for n in 0 "$t"; do
	a=$(get "wrk_rps_clusterip[$n]"); b=$(get "wrk_rps_pod[$n]")
	c=$(get "iperf_mbps_clusterip[$n]"); d=$(get "iperf_mbps_pod[$n]")
	printf '%-10s %16s %12s %8s %18s %12s %8s\n' "$n" "$a" "$b" \
		"$(awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f", a / b }')" "$c" "$d" \
		"$(awk -v a="$c" -v b="$d" 'BEGIN { if (b > 0) printf "%.2f", a / b }')"
done
rm -f "$out"
