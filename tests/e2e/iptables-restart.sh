#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# iptables mode restart: a long-lived TCP connection through a ClusterIP
# survives stopping switchyard (the rules stay), an EndpointSlice change
# while it is down, and a new switchyard taking over (it replaces only its
# own chains; conntrack keeps the NAT of the established connection).  A
# restart with nothing changed writes nothing to the kernel.
. "$(dirname "$0")/iptables-lib.sh"

ipt_lab 2
sy_bg "${IPT_EP_NS[1]}" "$SY_TMP/hold1.log" "$PY" "$SY_SRC/tests/lib/echo_server.py" --port 8080 --name ep1 --hold
sy_bg "${IPT_EP_NS[2]}" "$SY_TMP/hold2.log" "$PY" "$SY_SRC/tests/lib/echo_server.py" --port 8080 --name ep2 --hold
ipt_node_manifest
ipt_svc web 10.96.0.70 80 8080 TCP | ipt_write svc.yaml
ipt_slice web TCP 8080 10.244.1.2 | ipt_write slice.yaml
ipt_start

# the long-lived client: greeting, then one echo per line in $SY_TMP/in
mkfifo "$SY_TMP/in"
sy_bg "$CLIENT" "$SY_TMP/conn.log" "$PY" "$SY_SRC/tests/lib/held_client.py" 10.96.0.70 80 "$SY_TMP/in"
exec 7>"$SY_TMP/in"
sy_wait 20 grep -q "^greeting ep1" "$SY_TMP/conn.log" || sy_fail "no greeting: $(cat "$SY_TMP/conn.log")"
echo one >&7
sy_wait 20 grep -q "^reply ep1 one" "$SY_TMP/conn.log" || sy_fail "no first echo"

before=$(ipt_save)
ipt_stop
[ "$(ipt_save)" = "$before" ] || sy_fail "stopping switchyard changed the tables"
# while it is down, the Service gains an endpoint
ipt_slice web TCP 8080 10.244.1.2 10.244.2.2 | ipt_write slice.yaml
ipt_start
grep -q "SyncProxyRules complete.*writes=[1-9]" "$IPT_LOG" || sy_fail "the new daemon did not write the change"
echo two >&7
sy_wait 20 grep -q "^reply ep1 two" "$SY_TMP/conn.log" || sy_fail "the connection did not survive: $(cat "$SY_TMP/conn.log")"
out=$(ipt_ask_many "$CLIENT" tcp 10.96.0.70 80 30 | cut -d' ' -f1 | sort -u | tr '\n' ' ')
[ "$out" = "ep1 ep2 " ] || sy_fail "new connections after the restart reach '$out'"

# a restart with nothing changed: no kernel write at all
before=$(ipt_save)
ipt_stop
ipt_start
grep "First sync complete" -B1 "$IPT_LOG" | grep -q "writes=0" ||
	sy_fail "an unchanged restart wrote the kernel: $(grep 'SyncProxyRules' "$IPT_LOG" | head -2)"
[ "$(ipt_save)" = "$before" ] || sy_fail "an unchanged restart changed the tables"
echo three >&7
sy_wait 20 grep -q "^reply ep1 three" "$SY_TMP/conn.log" || sy_fail "the connection did not survive the second restart"
exec 7>&-
sy_pass
