#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A busy xtables lock never blocks the loop and is not a failure (issue 13,
# points 9 and 10).  The daemon uses a private lock file (SY_XTABLES_LOCK),
# so the host's /run/xtables.lock is never held here.
#  1. Another program holds the lock for 10 s in a loop (4 s held, 50 ms
#     gaps).  A Service changes while it is held: /healthz answers 200
#     within 1.5 s throughout (at load 22 curl alone took 0.7 s; a loop
#     blocked on the lock would not answer for the rest of the 4 s hold);
#     nothing is written while the lock is held;
#     the new rules are in the kernel within 1 s of the first gap (of the
#     second on a loaded machine, where the daemon can miss a 50 ms gap); no sync
#     is counted as failed and no backoff is logged.
#  2. kube-proxy's healthz rule: with --sync-period 2s (healthz timeout
#     2 x 2 s) and the lock held for 10 s, /healthz stays 200 until the change
#     has been pending for 4 s, then answers 503 (still within 1.5 s), and
#     200 again once the change has landed.
. "$(dirname "$0")/iptables-lib.sh"
command -v curl >/dev/null || sy_skip "curl missing"

LOCK=$SY_TMP/xtables.lock
: >"$LOCK"
export SY_XTABLES_LOCK=$LOCK
ipt_lab 1
ipt_node_manifest
ipt_svc web 10.96.0.70 80 8080 TCP | ipt_write svc.yaml
ipt_slice web TCP 8080 10.244.1.2 | ipt_write slice.yaml
ipt_start
has() { ip netns exec "$NODE" $IPT-save | grep -qF -- "$(ipt_host "$1")"; }
has 10.96.0.70 || sy_fail "first sync did not program the Service"

# healthz every 0.1 s: "code seconds wallclock-after wallclock-before" per
# answer (000 = no answer in 1.5 s)
probe() {
	local t0
	while :; do
		t0=$(date +%s.%N)
		r=$(ip netns exec "$NODE" curl -s -o /dev/null --max-time 1.5 \
			-w '%{http_code} %{time_total}' http://127.0.0.1:10256/healthz)
		echo "$r $(date +%s.%N) $t0"
		sleep 0.1
	done
}
# klog_time LOG AFTER TEXT: the wall-clock time of the first line containing
# TEXT from the first line containing AFTER on (klog's local time)
klog_time() {
	"$PY" - "$@" <<'PYEOF'
import datetime, re, sys
lines = open(sys.argv[1]).read().splitlines()
start = next(i for i, l in enumerate(lines) if sys.argv[2] in l)
l = next(l for l in lines[start:] if sys.argv[3] in l)
m = re.match(r'[IWE](\d\d)(\d\d) (\d\d):(\d\d):(\d\d)\.(\d+)', l)
mo, d, hh, mi, ss, us = (int(x) for x in m.groups())
now = datetime.datetime.now()
print('%.6f' % datetime.datetime(now.year, mo, d, hh, mi, ss, us).timestamp())
PYEOF
}
metric() {
	ip netns exec "$NODE" curl -s http://127.0.0.1:10249/metrics | awk -v m="$1" '$1 == m { print $2 }'
}

# ---- 1. held 10 s with short gaps ----
fails0=$(metric switchyard_sync_failures_total)
probe >"$SY_TMP/probe1" &
PROBE=$!
SY_PIDS+=("$PROBE")
"$PY" "$SY_SRC/tests/lib/lock_holder.py" --path "$LOCK" --total 10 --hold 4 --gap 0.05 \
	--mark "$SY_TMP/h1" &
HOLDER=$!
SY_PIDS+=("$HOLDER")
sy_wait 20 test -e "$SY_TMP/h1.held" || sy_fail "the holder did not take the lock"
ipt_svc web2 10.96.0.71 80 8080 TCP | ipt_write svc2.yaml
# poll the kernel until the new Service is there
while ! has 10.96.0.71; do
	kill -0 "$HOLDER" 2>/dev/null || break
	sleep 0.02
done
# the gap mark is written before the holder lets go: absent now = still held
[ -e "$SY_TMP/h1.gap" ] || seen_early=yes
t_rule=$(date +%s.%N)
wait "$HOLDER"
kill "$PROBE"
has 10.96.0.71 || sy_fail "the change never landed: $(ipt_save | grep "$(ipt_ip 10.96.0.0/16 | cut -d/ -f1)"; tail -5 "$IPT_LOG")"
[ -e "$SY_TMP/h1.gap" ] || sy_fail "the holder never let go"
[ -z "${seen_early:-}" ] || sy_fail "written while another program held the lock"
t_gap=$(cat "$SY_TMP/h1.gap")
# when the daemon's sync that wrote them ended (its klog line, local time),
# and when this script's polling saw them (slower on a loaded machine)
t_sync=$(klog_time "$IPT_LOG" 'for the xtables lock' 'SyncProxyRules complete') ||
	sy_fail "no sync after the lock wait in the log: $(tail -5 "$IPT_LOG")"
# the gap the sync came in: the first, or on a loaded machine (the daemon,
# polling every 10 ms, descheduled through all of a 50 ms gap) the second;
# a daemon that backs off or polls slowly misses these short gaps
read -r gapno t_in lat < <(awk -v s="$t_sync" '$1 <= s { n = NR; g = $1 } END { printf "%d %s %.3f\n", n, g, s - g }' "$SY_TMP/h1.gaps")
seen=$(awk -v a="$t_rule" -v b="$t_gap" 'BEGIN { printf "%.3f", a - b }')
[ "${gapno:-0}" -ge 1 ] && [ "$gapno" -le 2 ] && awk -v l="$lat" 'BEGIN { exit !(l >= 0 && l <= 1.0) }' ||
	sy_fail "the rules reached the kernel $lat s after gap ${gapno:-none} (want <= 1 s after the first or second gap): $(tr '\n' ' ' <"$SY_TMP/h1.gaps")"
[ "$gapno" = 1 ] || sy_log "note: the daemon missed the first 50 ms gap and synced in the second"
n=$(wc -l <"$SY_TMP/probe1")
bad=$(awk '$1 != 200' "$SY_TMP/probe1" | head -3)
[ "$n" -ge 4 ] || sy_fail "only $n healthz probes in 10 s"
[ -z "$bad" ] || sy_fail "healthz did not answer 200 while the lock was busy: $bad"
maxt=$(awk 'BEGIN { m = 0 } $2 > m { m = $2 } END { print m }' "$SY_TMP/probe1")
fails=$(metric switchyard_sync_failures_total)
[ "$fails" = "$fails0" ] || sy_fail "lock contention counted as $((fails - fails0)) failed sync(s)"
grep -q "retrying in" "$IPT_LOG" && sy_fail "backoff for a busy lock: $(grep 'retrying in' "$IPT_LOG" | head -2)"
waits=$(metric switchyard_xtables_lock_waits_total)
[ "${waits:-0}" -ge 1 ] || sy_fail "switchyard_xtables_lock_waits_total is ${waits:-missing}"
sy_log "lock held 10 s with 50 ms gaps: rules in the kernel ${lat} s after gap $gapno (seen by polling after ${seen} s); $n healthz answers, all 200, slowest ${maxt} s"
ipt_stop

# ---- 2. kube-proxy's healthz rule: unhealthy only when pending > 2 x sync period ----
ipt_start --sync-period 2s
probe >"$SY_TMP/probe2" &
PROBE=$!
SY_PIDS+=("$PROBE")
"$PY" "$SY_SRC/tests/lib/lock_holder.py" --path "$LOCK" --total 10 --hold 10 --gap 0 \
	--mark "$SY_TMP/h2" &
HOLDER=$!
SY_PIDS+=("$HOLDER")
sy_wait 20 test -e "$SY_TMP/h2.held" || sy_fail "the holder did not take the lock"
t_change=$(date +%s.%N)
ipt_svc web3 10.96.0.72 80 8080 TCP | ipt_write svc3.yaml
wait "$HOLDER"
sy_wait 20 has 10.96.0.72 || sy_fail "the change did not land after the lock was freed"
# a probe sent after the rules were seen (one sent before may have been
# answered before the sync, on a loaded machine a second earlier)
t_landed=$(date +%s.%N)
sy_wait 30 awk -v t="$t_landed" '$4 > t { f = 1 } END { exit !f }' "$SY_TMP/probe2" ||
	sy_fail "no healthz probe after the sync"
kill "$PROBE"
# answered before t_change + 3.8 s: all 200; asked 4.3 s after the daemon
# read the change (its log: a loaded machine may read it late) and answered
# while the lock was held: 503; the last: 200
t_read=$(klog_time "$IPT_LOG" 'First sync complete' 'changed files reloaded') ||
	sy_fail "the change was not read: $(tail -5 "$IPT_LOG")"
early=$(awk -v t="$t_change" '$3 < t + 3.8 && $1 != 200' "$SY_TMP/probe2" | head -2)
late=$(awk -v t="$t_read" -v g="$(cat "$SY_TMP/h2.gap")" '$4 > t + 4.3 && $3 < g - 0.1' "$SY_TMP/probe2")
[ -z "$early" ] || sy_fail "unhealthy before the change was pending 2 x sync period: $early"
[ -n "$late" ] || sy_fail "no probe between 4.3 s and the release"
bad=$(awk '$1 != 503' <<<"$late" | head -2)
[ -z "$bad" ] || sy_fail "healthy with a change pending longer than 2 x sync period: $bad"
after=$(awk -v t="$t_landed" '$4 > t' "$SY_TMP/probe2")
[ -z "$(awk '$1 != 200' <<<"$after")" ] || sy_fail "not healthy again after the sync: $after"
awk '$1 == "000"' "$SY_TMP/probe2" | grep -q . && sy_fail "healthz did not answer within 1.5 s"
sy_pass "busy lock: no blocking, no failure, rules ${lat} s after gap $gapno; healthz 503 only after 2 x sync period pending"
