#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The first sync waits for the complete first read of the manifest
# directory, as kube-proxy's waits for its informers' lists: a restart
# while a manifest file is being rewritten in place (its Service written,
# its EndpointSlice not yet) keeps the previous run's rules — real
# connections to that Service keep being answered — and programs nothing
# until the writer closes the file; then the first sync has every Service.
# Before: the first sync came at once and programmed the half-written
# file's Service without endpoints (connections refused until the close).
. "$(dirname "$0")/nftables-lib.sh"
works() { [ "$(ipt_ask_many "$CLIENT" tcp "$1" "$2" 3 | grep -c '^ep')" -eq 3 ]; }

ipt_lab 1
ipt_server 1 tcp 8080
ipt_node_manifest
for s in a:70 b:71; do
	{ ipt_svc "${s%:*}" "10.96.0.${s#*:}" 80 8080 TCP; echo ---
	  ipt_slice "${s%:*}" TCP 8080 10.244.1.2; } | ipt_write "${s%:*}.yaml"
done
nft_start --manifests "$M" --cluster-cidr 10.244.0.0/16 --metrics-bind-address ""
works 10.96.0.70 80 || sy_fail "a not answered"
works 10.96.0.71 80 || sy_fail "b not answered"
nft_stop

# b.yaml rewritten in place: the Service now, its slice once $SY_TMP/go exists
(
	exec >"$M/b.yaml"
	ipt_svc b 10.96.0.71 80 8080 TCP
	echo ---
	while [ ! -e "$SY_TMP/go" ]; do sleep 0.05; done
	ipt_slice b TCP 8080 10.244.1.2
) &
SY_PIDS+=($!)
sy_wait 10 grep -q 'kind: Service' "$M/b.yaml" || sy_fail "writer did not start"
LOG=$SY_TMP/restart.log
sy_bg "$NODE" "$LOG" "$SWITCHYARD" --proxy-mode=nftables --manifests "$M" \
	--hostname-override node1 --cluster-cidr 10.244.0.0/16 --metrics-bind-address "" \
	--healthz-bind-address "" --min-sync-period 0s --sync-period 1h -v 2
PID=$SY_LAST_PID
sy_wait 20 grep -q "Reading Services from the manifest directory" "$LOG" || sy_fail "no start"
sleep 1
kill -0 "$PID" 2>/dev/null || sy_fail "daemon died: $(tail -5 "$LOG")"
# the previous run's rules still serve both Services
works 10.96.0.71 80 || sy_fail "b not answered while its file is being written: $(cat "$LOG")"
works 10.96.0.70 80 || sy_fail "a not answered while b's file is being written"
grep -q "First sync complete" "$LOG" && sy_fail "first sync before the file was complete: $(cat "$LOG")"
grep -q "Manifest $M/b.yaml: open for writing; read when it is closed .*; the first sync waits for it" "$LOG" ||
	sy_fail "the file open for writing not named: $(cat "$LOG")"

touch "$SY_TMP/go"
sy_wait 20 grep -q "First sync complete: 2 Service ports" "$LOG" ||
	sy_fail "no first sync with both Services: $(cat "$LOG")"
works 10.96.0.71 80 || sy_fail "b not answered after the first sync"
works 10.96.0.70 80 || sy_fail "a not answered after the first sync"
sy_pass
