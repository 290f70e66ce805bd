#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# NetworkPolicy across a restart and against drift (routed lab of
# netpol-lib.sh): an allowed TCP connection x/b -> x/a opened before the
# restart keeps working through the daemon's stop, its restart and two
# repairs; the restarted daemon's first (full) sync writes nothing (the
# table already matches); a flushed namespace chain and a deleted set
# element are put back by the periodic full sync (--sync-period 2s), after
# which the matrix is the expected one again.  Last, a set of another type
# under one of the table's names: the full sync is refused, the table is
# rebuilt in one transaction, the daemon warns once and the matrix holds.
. "$(dirname "$0")/netpol-lib.sh"

np_lab routed
np_start --sync-period 2s
np_cases update-policy-before || sy_fail "the policy is not enforced"
sy_bg "${NP_NS[x/a]}" "$SY_TMP/hold.log" "$PY" "$SY_SRC/tests/lib/echo_server.py" --proto tcp \
	--port 8080 --name xa --hold
# the client pings until told to stop (after the restart and the repair),
# 120 s at most
sy_bg "${NP_NS[x/b]}" "$SY_TMP/client.log" "$PY" -c '
import os, socket, sys, time
s = socket.create_connection(("10.244.1.10", 8080), timeout=10)
s.recv(100)
end = time.time() + 120
n = 0
while time.time() < end and not os.path.exists(sys.argv[1]):
    s.sendall(b"ping\n")
    d = s.recv(100)
    if not d.endswith(b"ping\n"):
        print("bad answer", d); sys.exit(1)
    n += 1
    time.sleep(0.1)
print("answers", n)' "$SY_TMP/client.stop"
CLIENT=$SY_LAST_PID
sy_wait 30 sh -c "ip netns exec '${NP_NS[x/b]}' ss -Htn state established dst 10.244.1.10 | grep -q ." ||
	sy_fail "the client did not connect: $(cat "$SY_TMP/client.log")"
np_stop
ip netns exec "$NODE" nft list table inet switchyard-policy >/dev/null ||
	sy_fail "the table went away with the daemon"
OLDLOG=$NP_LOG
np_start --sync-period 2s
grep -m1 "NetworkPolicy sync complete: full=true" "$NP_LOG" | grep -q " messages=0 " ||
	sy_fail "the restart wrote to the kernel: $(grep -m1 'NetworkPolicy sync complete' "$NP_LOG")"
# drift: a namespace chain emptied, an element deleted (in one transaction:
# a periodic full sync between two would repair them in two syncs)
n=$(grep -c "full=true" "$NP_LOG")
ip netns exec "$NODE" nft -f - <<'EOF' || sy_fail "nft: the drift"
flush chain inet switchyard-policy nsin-x
delete element inet switchyard-policy iso-in4 { 10.244.1.10 }
EOF
sy_wait 30 sh -c "grep 'full=true' '$NP_LOG' | tail -n +$((n + 1)) | grep -q 'elements=+1/-0 chains=1'" ||
	sy_fail "the drift was not repaired: $(grep 'NetworkPolicy sync' "$NP_LOG" | tail -3)"
np_cases update-policy-before || sy_fail "the matrix after the repair"
touch "$SY_TMP/client.stop"
wait "$CLIENT" || sy_fail "the established connection broke: $(cat "$SY_TMP/client.log")"
grep -q "answers" "$SY_TMP/client.log" || sy_fail "client: $(cat "$SY_TMP/client.log")"
np_stop
ip netns exec "$NODE" nft flush table inet switchyard-policy
ip netns exec "$NODE" nft delete set inet switchyard-policy iso-in4
ip netns exec "$NODE" nft add set inet switchyard-policy iso-in4 '{ type inet_service; }'
np_start --sync-period 2s
grep -q "^W.*NetworkPolicy full sync refused (.*); rebuilding table inet switchyard-policy" \
	"$NP_LOG" || sy_fail "no rebuild warning: $(grep 'NetworkPolicy' "$NP_LOG" | head -5)"
ip netns exec "$NODE" nft list set inet switchyard-policy iso-in4 | grep -q 'type ipv4_addr' ||
	sy_fail "iso-in4 was not rebuilt"
np_cases update-policy-before || sy_fail "the matrix after the rebuild"
sy_log "$(cat "$SY_TMP/client.log"); $(grep -c 'NetworkPolicy sync complete' "$OLDLOG" "$NP_LOG" | tr '\n' ' ')"
sy_pass
