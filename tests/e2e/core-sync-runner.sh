#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The sync runner's bounded-frequency semantics: a burst of changes
# coalesces into at most one sync per --min-sync-period and the last state
# wins; --sync-period brings full resyncs while nothing changes; a sync that
# fails (the xtables lock file cannot be opened) keeps the old rules, is
# logged, and is retried with backoff until it lands.
. "$(dirname "$0")/../lib/common.sh"
sy_mkns NODE node
M=$SY_TMP/m
mkdir -p "$M"
svc() { # name ip
	cat >"$M/$1.yaml" <<Y
apiVersion: v1
kind: Service
metadata: {name: $1, namespace: t}
spec:
  clusterIP: $2
  ports: [{name: p, port: 80}]
Y
}
syncs() { grep -c "SyncProxyRules complete" "$1"; }
# sync_times LOG [PATTERN]: the klog time (seconds of the day) of each
# completed sync matching PATTERN, one per line
sync_times() {
	grep "SyncProxyRules complete${2:-}" "$1" |
		awk '{ split($2, t, ":"); s = t[1] * 3600 + t[2] * 60 + t[3]; if (s < p) s += 86400; p = s; printf "%.6f\n", s }'
}

# 1. coalescing: ten changes within ~1 s, min-sync-period 3 s.  kube-proxy's
# runner is a token bucket (burst 2, one token per min-sync-period): once
# the bucket is full again (2 periods after the first sync) the first two
# changes sync at once and the other eight wait for the next token, so the
# burst takes at most 2 syncs at once and 3 in all, however long the first
# sync and the wait for it took on a loaded machine.  The limits are checked
# on the daemon's own clock (its log): no 3 syncs of the burst within one
# min-sync-period, and no more syncs than tokens over the time the burst took
# (a loaded machine writes the ten files more slowly, never makes the daemon
# sync sooner).
svc s0 10.96.1.0
LOG=$SY_TMP/a.log
sy_bg "$NODE" "$LOG" "$SWITCHYARD" --proxy-mode=none --manifests "$M" --hostname-override n1 \
	--healthz-bind-address= --metrics-bind-address= --min-sync-period=3s --sync-period=1h -v 2
sy_wait 30 grep -q "First sync complete" "$LOG" || sy_fail "no first sync"
sleep 6.2
before=$(syncs "$LOG")
t0=$(date +%s.%N)
for i in 1 2 3 4 5 6 7 8 9 10; do svc "s$i" "10.96.1.$i"; sleep 0.1; done
t1=$(date +%s.%N)
sy_wait 30 grep -q "ports=11 " "$LOG" || sy_fail "burst not applied in the end: $(tail -3 "$LOG")"
sleep 0.5	# (a sync too many would come at once)
after=$(( $(syncs "$LOG") - before ))
burst=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
# tokens: 2 in the bucket, one more per 3 s the writes took, one for the last change
allowed=$(awk -v d="$burst" 'BEGIN { print 3 + int(d / 3) }')
[ "$after" -le "$allowed" ] || sy_fail "burst of 10 changes in $burst s took $after syncs (want <= $allowed)"
sync_times "$LOG" | tail -n "$after" | awk '{ t[NR] = $1 } END { for (i = 3; i <= NR; i++) if (t[i] - t[i - 2] < 2.5) exit 1 }' ||
	sy_fail "burst: 3 syncs within the min-sync-period (burst is 2): $(grep 'SyncProxyRules complete' "$LOG" | tail -n "$after" | cut -c1-22)"
sy_log "burst of 10 changes in $burst s: $after syncs"
kill "$SY_LAST_PID"

# 2. periodic full resyncs while nothing changes: one a second (the daemon's
# clock: at least 0.7 s apart, the median interval at most 1.5 s)
LOG=$SY_TMP/b.log
sy_bg "$NODE" "$LOG" "$SWITCHYARD" --proxy-mode=none --manifests "$M" --hostname-override n1 \
	--healthz-bind-address= --metrics-bind-address= --sync-period=1s -v 2
fulls() { [ "$(grep -c "SyncProxyRules complete.*full=true" "$LOG")" -ge "$1" ]; }
sy_wait 30 fulls 5 || sy_fail "expected >= 5 full syncs with --sync-period=1s within 30 s, got $(grep -c 'full=true' "$LOG")"
iv=$(sync_times "$LOG" ".*full=true" | awk 'NR > 1 { printf "%.3f\n", $1 - p } { p = $1 }' | sort -n | tr '\n' ' ')
awk -v iv="$iv" 'BEGIN { n = split(iv, a, " "); exit !(a[1] >= 0.7 && a[int((n + 1) / 2)] <= 1.5) }' ||
	sy_fail "full syncs with --sync-period=1s: intervals $iv"
kill "$SY_LAST_PID"

# 3. a failing sync is retried with backoff and lands.  The failure: the
# xtables lock file cannot be opened (its directory is gone).  A lock merely
# held by another program is no failure (tests/e2e/iptables-lock-wait.sh).
LOG=$SY_TMP/c.log
mkdir -p "$SY_TMP/lockdir"
export SY_XTABLES_LOCK=$SY_TMP/lockdir/xtables.lock
sy_bg "$NODE" "$LOG" "$SWITCHYARD" --proxy-mode=iptables --manifests "$M" --hostname-override n1 \
	--healthz-bind-address= --metrics-bind-address= --min-sync-period=0 -v 2
PID=$SY_LAST_PID
sy_wait 30 grep -q "First sync complete" "$LOG" || sy_fail "iptables: no first sync: $(tail -3 "$LOG")"
ip netns exec "$NODE" iptables-legacy-save | grep -q "10.96.1.10/32" || sy_fail "rules missing"
mv "$SY_TMP/lockdir" "$SY_TMP/lockdir.gone"
svc s11 10.96.1.11
sy_wait 20 grep -q "Failed to sync proxy rules" "$LOG" || sy_fail "no failure logged without the lock"
sy_wait 20 grep -q "retrying in 2s" "$LOG" || sy_fail "no growing backoff in the log: $(grep 'retrying' "$LOG")"
# the previous rules stay in place meanwhile
ip netns exec "$NODE" iptables-legacy-save | grep -q "10.96.1.10/32" || sy_fail "old rules lost during failure"
ip netns exec "$NODE" iptables-legacy-save | grep -q "10.96.1.11/32" && sy_fail "written without the lock"
mv "$SY_TMP/lockdir.gone" "$SY_TMP/lockdir"
sy_wait 20 sh -c "ip netns exec $NODE iptables-legacy-save | grep -q 10.96.1.11/32" ||
	sy_fail "the retried sync never landed: $(tail -3 "$LOG")"
ip netns exec "$NODE" "$SWITCHYARD" --cleanup >/dev/null 2>&1
sy_pass
