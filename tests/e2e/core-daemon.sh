#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The daemon's core with the manifest source (--proxy-mode=none: no kernel
# writes): mode log line, flag errors (exit 2), reload on change, bad
# objects logged with kind and namespace/name and skipped while the others
# keep working, a broken file keeping its last good objects, SIGTERM.
. "$(dirname "$0")/../lib/common.sh"

sy_mkns NODE node
M=$SY_TMP/manifests
mkdir -p "$M"
LOG=$SY_TMP/daemon.log

# bad flags and modes: exit code 2 and a clear message
"$SWITCHYARD" --no-such-flag >/dev/null 2>"$SY_TMP/err1"; rc=$?
[ $rc = 2 ] || sy_fail "unknown flag: exit $rc"
grep -q "unknown flag" "$SY_TMP/err1" || sy_fail "unknown flag message: $(cat "$SY_TMP/err1")"
ip netns exec "$NODE" "$SWITCHYARD" --proxy-mode=bogus --manifests "$M" 2>"$SY_TMP/err2"; rc=$?
[ $rc = 2 ] || sy_fail "bad mode: exit $rc"
grep -q 'Unknown proxy mode "bogus"' "$SY_TMP/err2" || sy_fail "bad mode message"
"$SWITCHYARD" --help | grep -q -- "--proxy-mode" || sy_fail "--help"
# the rate limit is kube-proxy's token bucket (burst 2), not "one sync per period"
"$SWITCHYARD" --help | grep -q -- "--min-sync-period .*a burst of 2, then one per period" ||
	sy_fail "--help: --min-sync-period text"
"$SWITCHYARD" --version | grep -q "^switchyard " || sy_fail "--version"

cat >"$M/a.yaml" <<'Y'
apiVersion: v1
kind: Service
metadata: {name: web, namespace: apps}
spec:
  clusterIP: 10.96.0.10
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: apps, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
- addresses: [10.244.1.10]
Y
cat >"$M/bad.json" <<'Y'
{"apiVersion":"v1","kind":"Service","metadata":{"name":"broken","namespace":"apps"},
 "spec":{"clusterIP":"10.96.0.11","ports":[{"port":99999}]}}
Y
sy_bg "$NODE" "$LOG" "$SWITCHYARD" --proxy-mode=none --manifests "$M" --hostname-override n1 \
	--healthz-bind-address= --metrics-bind-address= -v 2
PID=$SY_LAST_PID
sy_wait 30 grep -q "First sync complete" "$LOG" || sy_fail "no first sync: $(cat "$LOG")"
grep -q "Using no Proxier" "$LOG" || sy_fail "mode line"
grep -q 'E.*Service apps/broken: spec.ports\[0\]: port out of range; skipped' "$LOG" ||
	sy_fail "bad object not logged with kind and namespace/name"
grep -q "First sync complete: 1 Service ports" "$LOG" || sy_fail "expected 1 port"

# a change in the directory is picked up
cat >"$M/b.yaml" <<'Y'
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: dns, namespace: kube-system}
  spec:
    clusterIP: 10.96.0.53
    ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}]
Y
sy_wait 30 grep -q "ports=3 " "$LOG" || sy_fail "reload did not add 2 ports: $(tail -5 "$LOG")"

# a file that stops parsing keeps its last good objects
printf 'kind: Service\nmetadata: {name: x\n' >>"$M/b.yaml"
sy_wait 30 grep -q "Manifest $M/b.yaml: .*keeping its last good objects" "$LOG" ||
	sy_fail "broken file not reported"
sleep 0.5
tail -n 3 "$LOG" | grep -q "ports=[12] " && sy_fail "objects of the broken file were dropped"

# removing a file removes its objects
rm -f "$M/b.yaml"
sy_wait 30 grep -q "ports=1 " "$LOG" || sy_fail "removal not applied: $(tail -3 "$LOG")"

kill -TERM "$PID"
sy_wait 20 grep -q "Stopped" "$LOG" || sy_fail "no clean stop on SIGTERM"
sy_pass
