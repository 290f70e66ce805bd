#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The manifest directory as a hostile user fills it (issue 13): the daemon
# starts, keeps serving /healthz and keeps applying good files with
#  - a YAML alias cycle and an alias bomb ("billion laughs") present at start
#    (the cycle crashed it, at every restart; the bomb blocked the loop 22 s)
#  - a FIFO in the directory (a blocking open hung the loop for good)
#  - a 5 MiB annotation (one object over the 3 MiB cap), a 257 MiB file
# and it names what it silently accepted before:
#  - the same Service in two files: both files named, the first by name wins,
#    the next one's version applies when that file drops it
#  - a second Service on a ClusterIP:port already taken: the newer one skipped
#  - an IPv6-only Service: one line at -v 2
#  - an unchanged bad file: its error logged once, however often it is touched
# and it re-reads only the file that changed.
. "$(dirname "$0")/../lib/common.sh"
command -v curl >/dev/null || sy_skip "curl missing"

sy_mkns NODE node
M=$SY_TMP/manifests
mkdir -p "$M"
LOG=$SY_TMP/daemon.log

svc() { # NAME IP [PORT [CREATED]]
	printf 'apiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: apps%s}\n' \
		"$1" "${4:+, creationTimestamp: \"$4\"}"
	printf 'spec:\n  clusterIP: %s\n  ports: [{name: http, port: %s}]\n' "$2" "${3:-80}"
}
svc web 10.96.0.10 80 2024-01-01T00:00:00Z >"$M/a.yaml"
# issue 13.1: an alias used inside the mapping it names
cat >"$M/cycle.yaml" <<'Y'
apiVersion: v1
kind: Service
metadata: &m
  name: cyc
  namespace: apps
  labels: {a: *m}
spec: {clusterIP: 10.96.0.20, ports: [{port: 80}]}
Y
# issue 13.2: 9^8 nodes from a few hundred bytes
{
	echo "kind: Service"
	echo "metadata: {name: lol, namespace: apps}"
	echo "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"
	for i in 1 2 3 4 5 6 7 8; do
		p=$((i - 1))
		echo "a$i: &a$i [*a$p, *a$p, *a$p, *a$p, *a$p, *a$p, *a$p, *a$p, *a$p]"
	done
} >"$M/bomb.yaml"

sy_bg "$NODE" "$LOG" "$SWITCHYARD" --proxy-mode=none --manifests "$M" --hostname-override n1 \
	--healthz-bind-address=127.0.0.1:10256 --metrics-bind-address=127.0.0.1:10249 \
	--min-sync-period 0 -v 2
PID=$SY_LAST_PID
sy_wait 30 grep -q "First sync complete" "$LOG" || sy_fail "no first sync: $(cat "$LOG")"
kill -0 "$PID" 2>/dev/null || sy_fail "daemon died: $(tail -5 "$LOG")"
grep -q "Manifest $M/cycle.yaml: line 6: alias \*m refers to a collection that contains it" "$LOG" ||
	sy_fail "alias cycle not named: $(grep cycle "$LOG")"
grep -q "Manifest $M/bomb.yaml: line [0-9]*: object too large" "$LOG" ||
	sy_fail "alias bomb not named: $(grep bomb "$LOG")"
grep -q "First sync complete: 1 Service ports" "$LOG" || sy_fail "want 1 port: $(cat "$LOG")"

healthz() { ip netns exec "$NODE" curl -s --max-time 2 -o /dev/null -w '%{http_code}' \
	http://127.0.0.1:10256/healthz; }
state() { ip netns exec "$NODE" curl -s --max-time 2 http://127.0.0.1:10249/debug/state; }
# cluster IP of Service apps/NAME in /debug/state, "" when not programmed
cip() {
	state | "$PY" -c 'import json, sys
j = json.load(sys.stdin)
print(" ".join(sorted(set(p["clusterIP"] for p in j.get("ports", [])
                          if p.get("serviceName") == sys.argv[1]))))' "$1"
}
# cip_is NAME IP, for sy_wait: it re-runs its command, while a "$(cip NAME)"
# among its arguments would be read once, before the wait
cip_is() { [ "$(cip "$1")" = "$2" ]; }
[ "$(healthz)" = 200 ] || sy_fail "healthz $(healthz)"
[ "$(cip web)" = 10.96.0.10 ] || sy_fail "web not in /debug/state: $(state)"

# issue 13.3: a FIFO (nobody writes it) must not block the loop
mkfifo "$M/pipe.yaml"
sy_wait 20 grep -q "Manifest $M/pipe.yaml: not a regular file" "$LOG" || sy_fail "FIFO not refused"
[ "$(healthz)" = 200 ] || sy_fail "healthz with a FIFO in the directory: $(healthz)"
svc after-fifo 10.96.0.30 >"$M/c.yaml"
sy_wait 20 cip_is after-fifo 10.96.0.30 || sy_fail "no change applied after the FIFO"
rm -f "$M/pipe.yaml"

# one object over the size cap: refused while read; the loop keeps serving
{
	svc huge 10.96.0.31
	printf '  x: "'
	head -c $((5 << 20)) /dev/zero | tr '\0' a
	printf '"\n'
} >"$SY_TMP/huge.yaml"
mv "$SY_TMP/huge.yaml" "$M/huge.yaml"
sy_wait 20 grep -q "Manifest $M/huge.yaml: line [0-9]*: object too large" "$LOG" ||
	sy_fail "5 MiB object not refused: $(grep huge "$LOG")"
[ "$(healthz)" = 200 ] || sy_fail "healthz after the large object"
[ -z "$(cip huge)" ] || sy_fail "huge applied"

# a file over the 256 MiB cap is refused from its size, never read
truncate -s 257M "$SY_TMP/sparse.json"
mv "$SY_TMP/sparse.json" "$M/sparse.json"
sy_wait 20 grep -q "Manifest $M/sparse.json: file too large: 269484032 bytes" "$LOG" ||
	sy_fail "257 MiB file not refused: $(grep sparse "$LOG")"
rm -f "$M/sparse.json"

# issue 13.4: the same Service in two files — both named, the first by name wins
svc dup 10.96.0.41 >"$M/dup2.yaml"
sy_wait 20 cip_is dup 10.96.0.41 || sy_fail "dup2 not applied"
svc dup 10.96.0.40 >"$M/dup1.yaml"
sy_wait 20 grep -q "Service apps/dup is defined in more than one manifest file: $M/dup1.yaml and $M/dup2.yaml; using $M/dup1.yaml" "$LOG" ||
	sy_fail "duplicate not named: $(grep dup "$LOG")"
sy_wait 20 cip_is dup 10.96.0.40 || sy_fail "dup1 (first by name) does not win: $(cip dup)"
rm -f "$M/dup1.yaml"
sy_wait 20 cip_is dup 10.96.0.41 || sy_fail "dup2 not applied after dup1 went: $(cip dup)"

# a second Service on a taken ClusterIP:port: the newer is skipped, both named
svc late 10.96.0.10 80 2024-06-01T00:00:00Z >"$M/late.yaml"
sy_wait 20 grep -q "Service apps/late: ClusterIP 10.96.0.10 port 80/TCP is already taken by Service apps/web; the newer one is skipped" "$LOG" ||
	sy_fail "ClusterIP conflict not named: $(grep late "$LOG")"
sleep 0.3
[ -z "$(cip late)" ] || sy_fail "the newer Service was programmed"
[ "$(cip web)" = 10.96.0.10 ] || sy_fail "the older Service lost its port"

# an IPv6-only Service: one line at -v 2
printf 'kind: Service\nmetadata: {name: six, namespace: apps}\nspec: {clusterIP: "fd00::6", ports: [{port: 80}]}\n' >"$M/six.yaml"
sy_wait 20 grep -q "Service apps/six: IPv6 ClusterIP only" "$LOG" || sy_fail "IPv6-only Service not logged"

# an unchanged bad file is reported once, however often it is touched or rewritten
for i in 1 2 3 4 5; do
	touch "$M/cycle.yaml"
	sleep 0.1
	cp "$M/cycle.yaml" "$SY_TMP/c" && mv "$SY_TMP/c" "$M/cycle.yaml"	# same content, new inode
	sleep 0.1
done
# events are handled in order: once a later file is applied, so were these
svc sentinel 10.96.0.38 >"$M/sentinel.yaml"
sy_wait 20 cip_is sentinel 10.96.0.38 || sy_fail "sentinel.yaml not applied"
n=$(grep -c "E.*Manifest $M/cycle.yaml: .*contains it" "$LOG")
[ "$n" = 1 ] || sy_fail "unchanged bad file reported $n times"
grep -q "Manifest $M/cycle.yaml: unchanged, still:" "$LOG" || sy_fail "no -v 2 note for the unchanged bad file"

# issue 13.5: one changed file is the only one read again
: >"$SY_TMP/mark"
svc after-fifo 10.96.0.32 >"$M/c.yaml"
sy_wait 20 cip_is after-fifo 10.96.0.32 || sy_fail "edit not applied"
sy_wait 20 grep -q "Manifest directory $M: 1 changed files reloaded in" "$LOG" ||
	sy_fail "not a one-file reload: $(tail -5 "$LOG")"

# issue 15: a file renamed into place is read on receipt of the event, not
# after a fixed delay (it was a 50 ms debounce): from the daemon's "change
# notified" to its reload, the best of five (a loaded machine may preempt
# the daemon in between now and then)
best=1
for i in 1 2 3 4 5; do
	: >"$SY_TMP/mark"
	lines=$(wc -l <"$LOG")
	svc after-fifo "10.96.0.3$((i + 2))" >"$SY_TMP/r.yaml"
	mv "$SY_TMP/r.yaml" "$M/c.yaml"
	sy_wait 20 cip_is after-fifo "10.96.0.3$((i + 2))" || sy_fail "rename $i not applied"
	d=$(tail -n +$((lines + 1)) "$LOG" | awk '
		function t(s, a) { split(s, a, ":"); return a[1] * 3600 + a[2] * 60 + a[3] }
		/change notified/ && !n { n = t($2) }
		/changed files reloaded/ && n && !r { r = t($2) }
		END { if (n && r) printf "%.6f\n", r - n; else print 9 }')
	best=$(awk -v a="$best" -v b="$d" 'BEGIN { print (b < a ? b : a) }')
	sleep 0.2
done
awk -v b="$best" 'BEGIN { exit !(b < 0.040) }' ||
	sy_fail "a renamed file was read ${best} s after its event (best of 5)"
sy_log "rename -> reload: best ${best} s"
# a file still being written (created, not yet closed) waits for its close
: >"$SY_TMP/mark"
{
	printf 'kind: Service\nmetadata: {name: slow, namespace: apps}\n'
	sleep 0.02
	printf 'spec: {clusterIP: 10.96.0.39, ports: [{port: 80}]}\n'
} >"$M/slow.yaml"
sy_wait 20 cip_is slow 10.96.0.39 || sy_fail "slow.yaml not applied"
! grep -q "E.*Manifest $M/slow.yaml" "$LOG" || sy_fail "a file being written was read half-written: $(grep "slow.yaml" "$LOG")"

# the directory removed keeps the current state; recreated, it is watched
# and read again (a deployment tool that replaces the whole directory)
mv "$M" "$SY_TMP/manifests.old"
sy_wait 20 grep -q "Manifest directory $M: No such file or directory; keeping the current state until it is back" "$LOG" ||
	sy_fail "a removed directory was not reported: $(tail -3 "$LOG")"
sleep 0.3
cip_is slow 10.96.0.39 || sy_fail "the removed directory's objects were dropped"
mkdir "$M"
cp "$SY_TMP/manifests.old/slow.yaml" "$M/"
printf 'kind: Service\nmetadata: {name: back, namespace: apps}\nspec: {clusterIP: 10.96.0.40, ports: [{port: 80}]}\n' >"$M/back.yaml"
sy_wait 20 cip_is back 10.96.0.40 || sy_fail "a recreated directory was not read again: $(tail -3 "$LOG")"
cip_is slow 10.96.0.39 || sy_fail "slow lost after the directory came back"
# and it is watched again: a later change is seen
printf 'kind: Service\nmetadata: {name: back, namespace: apps}\nspec: {clusterIP: 10.96.0.41, ports: [{port: 80}]}\n' >"$M/back.yaml"
sy_wait 20 cip_is back 10.96.0.41 || sy_fail "a change in the recreated directory was not seen"

kill -0 "$PID" 2>/dev/null || sy_fail "daemon died"
[ "$(healthz)" = 200 ] || sy_fail "healthz at the end"
kill -TERM "$PID"
sy_wait 20 grep -q "Stopped" "$LOG" || sy_fail "no clean stop on SIGTERM"
sy_pass
