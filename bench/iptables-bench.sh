#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/iptables-bench.sh [--quick] — the iptables mode against the
# reference (kube-proxy's rules for the same Services, as iptables-restore
# input applied with iptables-legacy-restore), each in a fresh network
# namespace.  Prints tables; never passes or fails on a number.
#   1. full sync of N Services × 10 endpoints (a tenth with NodePorts):
#      wall time and peak RSS, N = 1000, 5000, 10000
#   2. one endpoint change with 10,000 Services (ours: the sync duration,
#      then iptables-legacy-save shows the new rule; reference: kube-proxy's
#      partial restore of the same change)
#   3. data plane: wrk (Connection: close, new connection per request) and
#      iperf3 through a ClusterIP vs straight to the pod, with 0, 1000,
#      10000 Services installed and the measured Service last.
#   ds. (not in the default parts) dual stack: $BIG Services x 10 endpoints
#      IPv4-only against dual-stack (every Service also IPv6 with 10 IPv6
#      endpoints; an IPv4 and an IPv6 instance), 3 alternating runs each:
#      full sync, peak RSS, one IPv4 endpoint change (median of 7), medians
#      and ratios (issue 17's goal: ≤ 2.2, the change unchanged).
# Environment: SY_BUILD (default ./build), BENCH_NS (the N list), BENCH_PARTS
# (default "1 2b 3").
set -u
SY_SRC=$(cd "$(dirname "$0")/.." && pwd)
SY_BUILD=${SY_BUILD:-$SY_SRC/build}
. "$SY_SRC/tests/lib/common.sh"
B=$SY_BUILD/bench
HTTPD=$SY_BUILD/tests/lib/sy-httpd
[ -x "$B/iptables-sync" ] && [ -x "$HTTPD" ] || { echo "build first: $B/iptables-sync, $HTTPD" >&2; exit 2; }
QUICK=
[ "${1:-}" = --quick ] && QUICK=1
NS_LIST=${BENCH_NS:-${QUICK:+1000}}
NS_LIST=${NS_LIST:-1000 5000 10000}
BIG=$(echo $NS_LIST | awk '{print $NF}')

calc() { awk "BEGIN { print $1 }"; }
fresh() { # VAR NAME: a new namespace
	sy_mkns "$1" "$2"
}
gone() { ip netns del "$1" 2>/dev/null; }
# timed NS OUT CMD... : /usr/bin/time → "wall_s maxrss_kb" on the last line of OUT
timed() {
	local ns=$1 out=$2
	shift 2
	ip netns exec "$ns" /usr/bin/time -f "TIME %e %M" "$@" >"$out" 2>&1
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" "$2" | head -1; }	# " NAME=": not cpu_NAME=
timeline() { sed -n 's/^TIME //p' "$1" | tail -1; }

part() { case " ${BENCH_PARTS:-1 2b 3} " in *" $1 "*) return 0 ;; esac; return 1; }

if part 1; then
echo "== 1. full sync: N Services x 10 endpoints (1/10 NodePort)"
printf '%-7s %10s %10s %12s | %10s %10s %9s | %8s %8s\n' N sy_sync_s sy_proc_s sy_rss_MB \
	ref_s ref_rss_MB nat_rules t_ratio rss_ratio
for n in $NS_LIST; do
	fresh A "a$n"
	timed "$A" "$SY_TMP/sy-$n" "$B/iptables-sync" -n "$n" --resync $([ "$n" = "$BIG" ] && echo --change)
	read -r sy_wall sy_kb <<<"$(timeline "$SY_TMP/sy-$n")"
	sy_s=$(field seconds "$SY_TMP/sy-$n")
	rules=$(field nat_rules "$SY_TMP/sy-$n")
	if [ "$n" = "$BIG" ]; then
		change_s=$(sed -n 's/^endpoint_change seconds=\([^ ]*\).*/\1/p' "$SY_TMP/sy-$n")
		noop_s=$(sed -n 's/^noop_resync seconds=\([^ ]*\).*/\1/p' "$SY_TMP/sy-$n")
		check=$(ip netns exec "$A" iptables-legacy-save -t nat | grep -c -- '--to-destination 10.250.0.1:8080')
	fi
	gone "$A"
	"$B/iptables-sync" -n "$n" --restore "$SY_TMP/kp-$n.txt" --partial "$SY_TMP/kp-$n-partial.txt" >/dev/null
	ref_rules=$(grep -c '^-A' "$SY_TMP/kp-$n.txt")
	fresh R "r$n"
	ip netns exec "$R" /usr/bin/time -f "TIME %e %M" iptables-legacy-restore --noflush \
		<"$SY_TMP/kp-$n.txt" >"$SY_TMP/ref-$n" 2>&1
	read -r ref_s ref_kb <<<"$(timeline "$SY_TMP/ref-$n")"
	if [ "$n" = "$BIG" ]; then
		ip netns exec "$R" /usr/bin/time -f "TIME %e %M" iptables-legacy-restore --noflush \
			<"$SY_TMP/kp-$n-partial.txt" >"$SY_TMP/refp-$n" 2>&1
		read -r refp_s refp_kb <<<"$(timeline "$SY_TMP/refp-$n")"
		refcheck=$(ip netns exec "$R" iptables-legacy-save -t nat | grep -c -- '--to-destination 10.250.0.1:8080')
	fi
	gone "$R"
	printf '%-7s %10s %10s %12.1f | %10s %10.1f %9s | %8.3f %8.3f\n' "$n" "$sy_s" "$sy_wall" \
		"$(calc "$sy_kb / 1024")" "$ref_s" "$(calc "$ref_kb / 1024")" \
		"$rules/$ref_rules" "$(calc "$sy_s / $ref_s")" "$(calc "$sy_kb / $ref_kb")"
done
echo "   (sy_sync_s: the mode's sync call; sy_proc_s / sy_rss_MB: the whole bench process,"
echo "    including building the desired state, a no-op resync and, at $BIG, the change below)"
echo "   no-op full resync at $BIG (read back, compare, nothing written): ${noop_s}s"

echo
echo "== 2. one endpoint change with $BIG Services"
printf '   switchyard sync: %ss   (kernel shows the new rule: %s rule(s))\n' "$change_s" "$check"
printf '   reference partial restore: %ss, %.1f MB (kernel shows it: %s)   ratio %.3f\n' "$refp_s" \
	"$(calc "$refp_kb / 1024")" "$refcheck" "$(calc "$change_s / $refp_s")"
fi

if part ds; then
echo "== ds. dual stack: $BIG Services x 10 endpoints per family vs IPv4 only (${DS_RUNS:-3} runs each, alternating)"
med() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
: >"$SY_TMP/ds-v4"; : >"$SY_TMP/ds-dual"
for run in $(seq 1 "${DS_RUNS:-3}"); do
	for mode in v4 dual; do
		fresh D "ds$run$mode"
		SY_XTABLES_LOCK=$SY_TMP/xtables.lock timed "$D" "$SY_TMP/ds-out" "$B/iptables-sync" -n "$BIG" \
			$([ $mode = dual ] && echo --dual-stack) --change --repeat 7
		gone "$D"
		read -r _ kb <<<"$(timeline "$SY_TMP/ds-out")"
		ch=$(sed -n 's/^endpoint_change seconds=\([^ ]*\).*/\1/p' "$SY_TMP/ds-out" | med)
		ch6=$(sed -n 's/^endpoint_change .* v6_seconds=\([^ ]*\).*/\1/p' "$SY_TMP/ds-out" | med)
		fs=$(sed -n 's/^full_sync .* seconds=\([^ ]*\) v4_seconds=.*/\1/p' "$SY_TMP/ds-out")
		fc=$(sed -n 's/^full_sync .* cpu_seconds=\([^ ]*\).*/\1/p' "$SY_TMP/ds-out")
		cc=$(sed -n 's/^endpoint_change .* cpu_seconds=\([^ ]*\).*/\1/p' "$SY_TMP/ds-out" | med)
		echo "$fs $kb $ch $ch6 $fc $cc" >>"$SY_TMP/ds-$mode"
		echo "   run $run $mode: $(grep ^full_sync "$SY_TMP/ds-out" | cut -d' ' -f2-7) peak_rss_kb=$kb change_median_s=$ch (IPv6 instance $ch6)"
	done
done
col() { awk -v c="$1" '{ print $c }' "$2" | med; }
printf '%-10s %10s %10s %12s %10s %10s %14s\n' "" full_sync_s full_cpu_s peak_rss_MB change_s \
	change_cpu_s change_ipv6_s
for mode in v4 dual; do
	printf '%-10s %10s %10s %12.1f %10s %10s %14s\n' "$mode" "$(col 1 "$SY_TMP/ds-$mode")" \
		"$(col 5 "$SY_TMP/ds-$mode")" "$(calc "$(col 2 "$SY_TMP/ds-$mode") / 1024")" \
		"$(col 3 "$SY_TMP/ds-$mode")" "$(col 6 "$SY_TMP/ds-$mode")" "$(col 4 "$SY_TMP/ds-$mode")"
done
ratio() { calc "$(col "$1" "$SY_TMP/ds-dual") / $(col "$1" "$SY_TMP/ds-v4")"; }
printf '%-10s %10.2f %10.2f %12.2f %10.2f %10.2f\n' ratio "$(ratio 1)" "$(ratio 5)" "$(ratio 2)" \
	"$(ratio 3)" "$(ratio 6)"
echo "   (medians of ${DS_RUNS:-3} runs; the change: median of each run's 7 changes; goal: ratios ≤ 2.2, the change ~1)"
fi

[ -x "$SWITCHYARD" ] || SWITCHYARD=$SY_BUILD/switchyard
part 2b && echo && echo "== 2b. the daemon itself: --manifests with $BIG Services x 10 endpoints, then one EndpointSlice edit"
daemon_bench() {
	local n=$1
	local d=$SY_TMP/man-$n log=$SY_TMP/daemon-$n.log
	mkdir -p "$d"
	/usr/bin/python3 - "$n" "$d" <<'PYEOF'
import json, random, sys
n, d = int(sys.argv[1]), sys.argv[2]
random.seed(1)
used, items = set(), []
def slice_(i, eps):
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "s%d-x" % i, "namespace": "bench",
                         "labels": {"kubernetes.io/service-name": "s%d" % i}},
            "addressType": "IPv4", "ports": [{"name": "http", "protocol": "TCP", "port": 8080}],
            "endpoints": [{"addresses": [e], "conditions": {"ready": True}, "nodeName": "node2"}
                          for e in eps]}
change = None
for i in range(n):
    while True:
        a = random.randrange(1, 1 << 20)
        if a not in used and a & 255:
            used.add(a); break
    cip = "10.%d.%d.%d" % (96 + (a >> 16), (a >> 8) & 255, a & 255)
    port = {"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}
    spec = {"clusterIP": cip, "ports": [port]}
    if i % 10 == 0:
        spec["type"] = "NodePort"; port["nodePort"] = 30000 + i % 2768
    items.append({"apiVersion": "v1", "kind": "Service",
                  "metadata": {"name": "s%d" % i, "namespace": "bench"}, "spec": spec})
    eps = sorted({"10.244.%d.%d" % (random.randrange(256), random.randrange(1, 255)) for _ in range(10)})
    if i == n // 2:
        change = eps
        json.dump(slice_(i, eps), open(d + "/change.json", "w"))
    else:
        items.append(slice_(i, eps))
json.dump({"apiVersion": "v1", "kind": "List", "items": items}, open(d + "/all.json", "w"))
json.dump(slice_(n // 2, ["10.250.0.1"] + change[1:]), open(d + "/change.next", "w"))
PYEOF
	fresh D "d$n"
	local t0 t1
	t0=$(date +%s.%N)
	sy_bg "$D" "$log" "$SWITCHYARD" --proxy-mode=iptables --manifests "$d" --hostname-override node1 \
		--cluster-cidr 10.244.0.0/16 --metrics-bind-address "" --healthz-bind-address "" \
		--min-sync-period 0s --sync-period 1h -v 2
	local pid=$SY_LAST_PID
	sy_wait 300 grep -q "First sync complete" "$log" || { echo "   daemon: no first sync"; tail -3 "$log"; return; }
	t1=$(date +%s.%N)
	local first hwm
	first=$(sed -n 's/.*First sync complete: .* in \([0-9.]*\) s.*/\1/p' "$log")
	hwm=$(awk '/VmHWM/ { print $2 / 1024 }' /proc/$pid/status)
	printf '   start → first sync done: %.2fs (the sync itself %ss), daemon peak RSS %.1f MB\n' \
		"$(calc "$t1 - $t0")" "$first" "$hwm"
	local before
	before=$(grep -c "SyncProxyRules complete" "$log")
	t0=$(date +%s.%N)
	cp "$d/change.next" "$d/.change.tmp" && mv "$d/.change.tmp" "$d/change.json"
	# wait for the daemon's sync (polling the log is cheap; polling the kernel
	# table would contend with the table replace), then read the kernel back
	synced() { [ "$(grep -c 'SyncProxyRules complete' "$log")" -gt "$before" ]; }
	sy_wait 30 synced
	t1=$(date +%s.%N)
	local seen=0 el
	ip netns exec "$D" iptables-legacy-save -t nat | grep -q -- '--to-destination 10.250.0.1:8080' && seen=1
	el=$(grep "SyncProxyRules complete" "$log" | tail -1 | sed -n 's/.*elapsed=\([0-9.]*\)ms.*/\1/p')
	printf '   endpoint change: the daemon'"'"'s sync %sms; file write → sync done: %.2fs; iptables-legacy-save %s\n' \
		"$el" "$(calc "$t1 - $t0")" "$([ $seen = 1 ] && echo 'shows the new rule' || echo 'does NOT show it')"
	echo "   (write → sync done includes the manifest directory's debounce and the re-read of its 20,000 objects)"
	kill "$pid"; sleep 0.5
	gone "$D"
}
part 2b && daemon_bench "$BIG"

part 3 || exit 0
echo
echo "== 3. data plane: new connections/s (wrk -t2 -c32, Connection: close) and iperf3 Gbit/s"
# One lab per configuration (client ↔ router with the rules ↔ server), all
# built first, then measured round-robin so that load from elsewhere on
# the machine hits every configuration alike; medians over the rounds.
ROUNDS=${BENCH_ROUNDS:-5}
[ -n "$QUICK" ] && ROUNDS=2
LABS=(switchyard:0 switchyard:1000 switchyard:10000 kube-proxy:1000 kube-proxy:10000)
declare -A LC LRT
dp_lab() { # MODE COUNT
	local c rt sv
	fresh c "dc$2$1"; fresh rt "dr$2$1"; fresh sv "ds$2$1"
	ip netns exec "$rt" sysctl -qw net.ipv4.ip_forward=1
	# the client is a pod (inside the cluster CIDR 10.244.0.0/16): no masquerade
	sy_veth "$c" eth0 10.244.1.2/24 "$rt" eth-c 10.244.1.1/24
	sy_veth "$rt" eth-s 10.1.2.1/24 "$sv" eth0 10.1.2.2/24
	ip -n "$c" route add default via 10.244.1.1
	ip -n "$sv" route add default via 10.1.2.1
	# no TIME_WAIT on the server: client ports come back quickly with Connection: close
	ip netns exec "$sv" sysctl -qw net.ipv4.tcp_max_tw_buckets=0
	sy_bg "$sv" "$SY_TMP/httpd-$1-$2.log" "$HTTPD" 80 pod
	sy_bg "$sv" "$SY_TMP/iperf-$1-$2.log" iperf3 -s -p 5201
	if [ "$1" = switchyard ]; then
		ip netns exec "$rt" "$B/iptables-sync" -n "$2" --measure-svc --ep-addr 10.1.2.2 >/dev/null
	else
		"$B/iptables-sync" -n "$2" --measure-svc --ep-addr 10.1.2.2 --restore "$SY_TMP/dp.txt" >/dev/null
		ip netns exec "$rt" iptables-legacy-restore --noflush <"$SY_TMP/dp.txt"
	fi
	LC[$1:$2]=$c
	LRT[$1:$2]=$rt
}
rps() { # LAB IP: one wrk run from a clean conntrack table (no tuple clashes between runs)
	ip netns exec "${LRT[$1]}" conntrack -F >/dev/null 2>&1
	ip netns exec "${LC[$1]}" wrk -t2 -c32 -d"${DUR:-3}"s -H 'Connection: close' "http://$2/" 2>/dev/null |
		sed -n 's/^Requests\/sec: *//p'
}
gbps() { ip netns exec "${LC[$1]}" iperf3 -c "$2" -p 5201 -t 2 -f g 2>/dev/null | awk '/receiver/ { print $(NF-2) }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
for l in "${LABS[@]}"; do dp_lab "${l%%:*}" "${l##*:}"; done
sleep 1
for r in $(seq 1 "$ROUNDS"); do
	for l in "${LABS[@]}"; do
		rps "$l" 10.255.255.254 >>"$SY_TMP/cip-$l"
		rps "$l" 10.1.2.2 >>"$SY_TMP/pod-$l"
		gbps "$l" 10.255.255.253 >>"$SY_TMP/gcip-$l"
		gbps "$l" 10.1.2.2 >>"$SY_TMP/gpod-$l"
	done
done
base=$(median <"$SY_TMP/cip-switchyard:0")
printf '%-11s %6s | %9s %9s %6s %9s | %8s %8s %6s\n' mode svcs cip_rps pod_rps ratio vs_0svc \
	cip_gbps pod_gbps ratio
for l in "${LABS[@]}"; do
	rc=$(median <"$SY_TMP/cip-$l"); rp=$(median <"$SY_TMP/pod-$l")
	gc=$(median <"$SY_TMP/gcip-$l"); gp=$(median <"$SY_TMP/gpod-$l")
	printf '%-11s %6s | %9.0f %9.0f %6.3f %9.3f | %8s %8s %6.3f\n' "${l%%:*}" "${l##*:}" "$rc" "$rp" \
		"$(calc "$rc / $rp")" "$(calc "$rc / $base")" "$gc" "$gp" \
		"$(calc "$gc / $gp")"
done
echo "   (medians of $ROUNDS round-robin rounds; cip = through the ClusterIP, measured Service last;"
echo "    vs_0svc = ClusterIP connection rate relative to switchyard with 0 Services (goal ≥ 0.9 at 10000);"
echo "    kube-proxy = its rule layout loaded with iptables-legacy-restore)"
