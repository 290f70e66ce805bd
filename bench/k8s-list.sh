#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Benchmark: the daemon's initial LIST of N Services + N EndpointSlices
# (E endpoints each; default 10,000 / 100,000) from the API server double
# over HTTPS with a bearer token, then one EndpointSlice change.
# Prints numbers; never passes or fails on them.
#   bench/k8s-list.sh [--dual] [N] [E] [MODE]   (root; SY_BUILD = build dir; MODE none|iptables|nftables)
# --dual: N dual-stack Services (RequireDualStack), each with an IPv4 and an
# IPv6 EndpointSlice of E endpoints (the change is still one IPv4 slice).
# Measures (daemon only, from /proc/PID/schedstat and /proc/PID/status):
#   - wall time from start until the first full sync ("First sync complete"),
#   - daemon CPU time until then, peak RSS (VmHWM),
#   - daemon CPU spent from one EndpointSlice change until its sync is done.
#   - event → kernel: from the change (its last-change-trigger-time
#     annotation, set just before it is sent) until the sync that wrote it
#     completed — kube-proxy's network programming latency, from the
#     daemon's kubeproxy_network_programming_duration_seconds (includes the
#     kubectl-like client and the API server double's delivery);
#   - watch event received -> kernel: from the daemon's -v 4 log line for the
#     watch event (written as it decodes the bytes it read) to the log line of
#     the sync that carried it (the daemon runs at -v 4 unless K8S_LIST_V).
# K8S_LIST_CHANGES=M: M changes of that EndpointSlice, 1.5 s apart (the
# first after the cold start, then steady-state ones): "watch event
# received -> kernel" for each, the first and the median of the others.
# K8S_LIST_ARGS: more daemon flags (e.g. --min-sync-period 0s: event → kernel
# without the sync runner's rate limit).  K8S_LIST_PERF=FILE: perf record -g
# of the daemon over the one change (perf report -i FILE).
# The daemon runs with --proxy-mode=MODE (default none: desired state only)
# in a netns; iptables mode uses a private xtables lock file.
set -u
DUAL=
[ "${1:-}" = --dual ] && { DUAL=--dual; shift; }
FAMS=1
[ -n "$DUAL" ] && FAMS=2
N=${1:-10000}
E=${2:-10}
MODE=${3:-none}
. "$(dirname "$0")/../tests/lib/common.sh"
. "$SY_SRC/tests/apiserver/lib.sh"
SY_TEST_NAME=k8s-list

k8s_init
k8s_certs
sy_log "generating $N ${DUAL:+dual-stack }Services, $((N * FAMS)) EndpointSlices, $((N * E * FAMS)) endpoints"
"$PY" "$SY_SRC/bench/k8s-gen.py" $DUAL "$N" "$E" >"$SY_TMP/objects.json" || sy_fail "generator"
K8S_API_START_WAIT=300 k8s_api --tls-cert "$K8S_PKI/server.crt" --tls-key "$K8S_PKI/server.key" --token bench \
	--bookmark-interval 0 --preload "$SY_TMP/objects.json"
K8S_KUBECONFIG=$SY_TMP/kubeconfig
k8s_kubeconfig "$K8S_KUBECONFIG" "$K8S_URL" "    certificate-authority: $K8S_PKI/ca.crt" \
	"    token: bench"

cpu_ns() { awk '{print $1}' "/proc/$1/schedstat"; }
syncs() { grep -c "SyncProxyRules complete" "$SY_TMP/daemon.log"; }

export SY_XTABLES_LOCK=$SY_TMP/xtables.lock
t0=$(date +%s.%N)
sy_bg "$K8S_NS" "$SY_TMP/daemon.log" "$SWITCHYARD" --proxy-mode="$MODE" \
	--kubeconfig "$K8S_KUBECONFIG" --hostname-override node-a \
	--metrics-bind-address "$K8S_METRICS" --healthz-bind-address 127.0.0.1:10256 -v "${K8S_LIST_V:-4}" \
	${K8S_LIST_ARGS:-}
pid=$SY_LAST_PID
# the daemon is `ip netns exec`'s child... ip netns exec execs, so $pid is the daemon
sy_wait 120 grep -q "First sync complete" "$SY_TMP/daemon.log" ||
	sy_fail "no first sync: $(tail -5 "$SY_TMP/daemon.log")"
t1=$(date +%s.%N)
cpu1=$(cpu_ns "$pid")
hwm1=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
k8s_state summary=1 >"$SY_TMP/summary.json"
read -r svcs eps <<<"$("$PY" -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["services"], s["allEndpoints"])' "$SY_TMP/summary.json")"
[ "$svcs" = "$N" ] && [ "$eps" = "$((N * E * FAMS))" ] ||
	sy_fail "desired state incomplete: $svcs services, $eps endpoints"
first=$(grep "First sync complete" "$SY_TMP/daemon.log" | head -1)
lists=$(grep -E "Listed [0-9]+ (Services|EndpointSlices)" "$SY_TMP/daemon.log" | sed 's/.*\] //' | paste -sd';')

# one EndpointSlice change: one endpoint becomes not ready, one is replaced
# (change c of K8S_LIST_CHANGES: ready again on even c, the address 10.250.0.c)
CHANGES=${K8S_LIST_CHANGES:-1}
sleep 2
mkchange() {
"$PY" - "$SY_TMP/objects.json" "$1" >"$SY_TMP/change.json" <<'EOF'
import datetime, json, sys
items = json.load(open(sys.argv[1]))['items']
c = int(sys.argv[2])
n = sum(o['kind'] == 'Service' for o in items)
# the same Service as single-stack runs pick ((1 + 2N) // 4), its IPv4 slice
s = [o for o in items if o['kind'] == 'EndpointSlice' and o['addressType'] == 'IPv4'][(1 + 2 * n) // 4]
s['endpoints'][0]['conditions']['ready'] = c % 2 == 0
s['endpoints'][1]['addresses'] = ['10.250.0.%d' % c]
s['metadata'].setdefault('annotations', {})['endpoints.kubernetes.io/last-change-trigger-time'] = \
    datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')
print(json.dumps([s]))
EOF
}
mkchange 1
svc=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["metadata"]["labels"]["kubernetes.io/service-name"])' "$SY_TMP/change.json")
n0=$(syncs)
if [ -n "${K8S_LIST_PERF:-}" ]; then
	perf record -q -g -F 20000 -p "$pid" -o "$K8S_LIST_PERF" >/dev/null 2>&1 &
	perf_pid=$!
	sleep 1
fi
cpu2=$(cpu_ns "$pid")
k8s_ctl load "" "@$SY_TMP/change.json" >/dev/null || sy_fail "change"
synced_again() { [ "$(syncs)" -gt "$n0" ]; }
sy_wait 10 synced_again || sy_fail "the change was not synced"
for c in $(seq 2 "$CHANGES"); do
	sleep 1.5
	mkchange "$c"
	n0=$(syncs)
	k8s_ctl load "" "@$SY_TMP/change.json" >/dev/null || sy_fail "change $c"
	sy_wait 10 synced_again || sy_fail "change $c was not synced"
done
[ -n "${K8S_LIST_PERF:-}" ] && { kill -INT "$perf_pid"; wait "$perf_pid"; }
cpu3=$(cpu_ns "$pid")
hwm2=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
rss2=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
k8s_state "service=bench/$svc" | grep -q "\"10.250.0.$CHANGES\"" || sy_fail "change not in the desired state"
netprog=$(ip netns exec "$K8S_NS" curl -s "http://$K8S_METRICS/metrics" |
	awk '# one series per ip_family (the other family, count 0, as well): add them up
	     /^kubeproxy_network_programming_duration_seconds_sum[{ ]/ { s += $NF }
	     /^kubeproxy_network_programming_duration_seconds_count[{ ]/ { c += $NF }
	     END { if (c == 1) print s; else if (c > 1) print s / c " (mean of " c ")"; else print "n/a" }')
change_sync=$(grep "SyncProxyRules complete" "$SY_TMP/daemon.log" | tail -1 | sed 's/.*\] //')
# from the daemon's receipt of the watch event (its -v 4 line, logged as the
# event is decoded from the bytes read) to the end of the sync that wrote it
received=$("$PY" - "$SY_TMP/daemon.log" "$svc" <<'EOF'
import sys
def t(l):
    h, m, s = l.split()[1].split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)
rx, ms = None, []
for l in open(sys.argv[1]):
    if rx is None and "EndpointSlices watch: MODIFIED bench/" + sys.argv[2] in l:
        rx = t(l)
    elif rx is not None and "SyncProxyRules complete" in l:
        ms.append((t(l) - rx) * 1e3)
        rx = None
if not ms:
    print("n/a (needs -v 4)")
elif len(ms) == 1:
    print("%.1f ms" % ms[0])
else:
    import statistics
    print("first %.1f ms, then median %.1f ms of %d (%s)" % (ms[0], statistics.median(ms[1:]),
          len(ms) - 1, " ".join("%.1f" % x for x in ms[1:])))
EOF
)
if [ "$MODE" = iptables ]; then
	ip netns exec "$K8S_NS" iptables-legacy-save -t nat | grep -q -- "--to-destination 10.250.0.$CHANGES:" ||
		sy_fail "the change is not in the kernel"
elif [ "$MODE" = nftables ]; then
	ip netns exec "$K8S_NS" nft list table ip switchyard | grep -q ": 10.250.0.$CHANGES \\. " ||
		sy_fail "the change is not in the kernel"
fi
# idle cost over the same kind of window, for reference
cpu4=$(cpu_ns "$pid"); sleep 1; cpu5=$(cpu_ns "$pid")

"$PY" - <<EOF
print("k8s-list: %d %sServices, %d EndpointSlices, %d endpoints (HTTPS, token, pages of 500, gzip as kube-apiserver)"
      % ($N, "${DUAL:+dual-stack }", $N * $FAMS, $N * $E * $FAMS))
print("  time to complete desired state : %.3f s wall" % ($t1 - $t0))
print("  daemon CPU until then          : %.3f s   (target < 1 s)" % ($cpu1 / 1e9))
print("  daemon peak RSS (VmHWM)        : %.1f MB  (target < 64 MB)" % ($hwm1 / 1024))
print("  one EndpointSlice change       : %.2f ms daemon CPU (target < 10 ms)%s"
      % (($cpu3 - $cpu2) / 1e6 / $CHANGES, " (mean of $CHANGES)" if $CHANGES > 1 else ""))
print("  event -> kernel (%s mode)  : %s s  (network programming latency; target <= 1 s)"
      % ("$MODE", "$netprog"))
print("  watch event received -> kernel : $received (the daemon's own part; target < 20 ms)")
print("  idle daemon CPU over 1 s       : %.2f ms" % (($cpu5 - $cpu4) / 1e6))
print("  RSS after the change           : %.1f MB (peak %.1f MB)" % ($rss2 / 1024, $hwm2 / 1024))
EOF
echo "  daemon: $first"
echo "  lists: $lists"
echo "  change: $change_sync"
