#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# nftables mode over time, with real packets: another program's nft table
# and iptables-nft rules exist before the start and are never touched; a
# long-lived TCP connection through a ClusterIP survives an endpoint
# change (partial sync), a stop, a change while down and a restart; an
# unchanged restart writes nothing; another program's nft transactions
# run throughout the changes and repairs; the stale chains of a removed
# Service with per-port logic (sessionAffinity) are flushed, then deleted
# >= 1 s later; an endpoint change of a Service on the shared chains is
# element updates of the data map @service-ranges-S only (no rule
# rewritten); drift made by hand with nft (an element deleted, the shared
# chain lb-group-G and a service-ranges-S map flushed, a rule and a
# chain added) is repaired by the
# periodic full sync; a malformed Service among good ones is skipped with
# its name; --cleanup removes only table ip switchyard.
. "$(dirname "$0")/nftables-lib.sh"
# --cleanup also cleans the iptables modes and the pod network, which take
# the xtables lock: a private one, never the host's busy /run/xtables.lock
export SY_XTABLES_LOCK=$SY_TMP/xtables.lock
command -v iptables-nft >/dev/null || sy_skip "iptables-nft missing"
[ -x "$SY_BUILD/tests/lib/sy-echo" ] || sy_skip "$SY_BUILD/tests/lib/sy-echo not built"
# our table's family: ip, or ip6 in IPv6 (IPT_FAM=6: the IPv6 twin)
NF=ip
BIND=0.0.0.0
[ "$IPT_FAM" = 6 ] && NF=ip6 BIND=::
works() { # works IP PORT: one connection answered
	[ "$(ipt_ask_many "$CLIENT" tcp "$1" "$2" 3 | grep -c '^ep')" -eq 3 ]
}

ipt_lab 2
sy_bg "${IPT_EP_NS[1]}" "$SY_TMP/hold1.log" "$PY" "$SY_SRC/tests/lib/echo_server.py" --port 8080 --name ep1 --hold --bind $BIND
sy_bg "${IPT_EP_NS[2]}" "$SY_TMP/hold2.log" "$PY" "$SY_SRC/tests/lib/echo_server.py" --port 8080 --name ep2 --hold --bind $BIND
ipt_server 1 tcp 8081
# another program's table and iptables-nft rules (table ip filter / ip nat)
nftn -f - <<'EOF2'
table inet other {
	set blocked { type ipv4_addr; elements = { 198.51.100.7 } }
	chain input { type filter hook input priority 0; policy accept; ip saddr @blocked drop; }
}
EOF2
ip netns exec "$NODE" iptables-nft -A INPUT -s 198.51.100.8 -j DROP
ip netns exec "$NODE" iptables-nft -t nat -A POSTROUTING -s 198.51.100.9 -j RETURN
foreign() { nftn list ruleset | awk '/^table/ { t = $0 } t !~ /switchyard/' | grep -v 'packets'; }
foreign_before=$(foreign)

ipt_node_manifest
ipt_svc web 10.96.0.70 80 8080 TCP | ipt_write svc.yaml
ipt_slice web TCP 8080 10.244.1.2 | ipt_write slice.yaml
{
	ipt_svc other 10.96.0.71 80 8081 TCP
	echo ---
	ipt_slice other TCP 8081 10.244.1.2 | sed 's/name: other-x/name: other-x/'
	echo ---
	# malformed: a port without a valid protocol
	cat <<'EOF2'
apiVersion: v1
kind: Service
metadata: {name: broken, namespace: default}
spec:
  clusterIP: 10.96.0.72
  ports:
    - {name: p, protocol: BOGUS, port: 80, targetPort: 8080}
EOF2
} | ipt_write more.yaml
# per-port logic (sessionAffinity): chains of its own
ipt_svc gone 10.96.0.73 80 8081 TCP "sessionAffinity: ClientIP" | ipt_write gone.yaml
ipt_slice gone TCP 8081 10.244.1.2 | ipt_write gone-slice.yaml
ipt_start --sync-period 3s
grep -q 'broken' "$IPT_LOG" || sy_fail "the malformed Service default/broken is not named in the log"
works 10.96.0.71 80 || sy_fail "a good Service next to the malformed one does not answer"

# the long-lived client: greeting, then one echo per line in $SY_TMP/in
mkfifo "$SY_TMP/in"
sy_bg "$CLIENT" "$SY_TMP/conn.log" "$PY" "$SY_SRC/tests/lib/held_client.py" "$(ipt_ip 10.96.0.70)" 80 "$SY_TMP/in"
exec 7>"$SY_TMP/in"
sy_wait 20 grep -q "^greeting ep1" "$SY_TMP/conn.log" || sy_fail "no greeting: $(cat "$SY_TMP/conn.log")"
echo one >&7
sy_wait 20 grep -q "^reply ep1 one" "$SY_TMP/conn.log" || sy_fail "no first echo"

# another program's nft transactions run all the time from here on
sy_bg "$NODE" "$SY_TMP/churn.log" bash -c 'while :; do
	nft add element inet other blocked "{ 198.51.100.$((RANDOM % 200 + 10)) }" || echo FAIL
	nft delete table ip churn 2>/dev/null; nft add table ip churn && nft add chain ip churn c || echo FAIL
done'
CHURN=$SY_LAST_PID

# endpoint change: ep1 -> ep2 (a partial sync): the @service-ranges-S
# element of web's ClusterIP . tcp . 80 now holds ep2, nothing else of the table changed
group_of() { # group_of IP: G of the shared chain lb-group-G its port 80 goes to
	nftn -j list map $NF switchyard service-ips | grep -o "\"$1\", \"tcp\", 80\]}, {\"goto\": {\"target\": \"lb-group-[0-9]*\"" |
		grep -o '[0-9]*"$' | tr -d '"'; }
# the key's shard S: the address's last byte (its group: S >> 4)
shard=$("$PY" -c 'import ipaddress, sys; print(ipaddress.ip_address(sys.argv[1]).packed[-1])' "$(ipt_ip 10.96.0.70)")
[ "$(group_of "$(ipt_ip 10.96.0.70)")" = $((shard >> 4)) ] ||
	sy_fail "no service-ips element of web to lb-group-$((shard >> 4)): $(nftn list map $NF switchyard service-ips)"
nftn -j list chains $NF | grep -q '"service-[A-Z2-7]*-default/web/tcp/p"' && sy_fail "web has a chain of its own"
epmap=service-ranges-$shard
nftn list chain $NF switchyard "lb-group-$((shard >> 4))" | grep -q "numgen random mod 1048576 map @$epmap" ||
	sy_fail "no numgen dnat map rule in lb-group-$((shard >> 4))"
# ep_at: the endpoint (ip . port) of the range holding web's value 0
off=$(svc_key "$(ipt_ip 10.96.0.70)" 6 80)
ep_at() { nft_map_q $NF "$epmap" '" ".join("%s . %s" % tuple(v) for a, b, v in elems if a <= off <= b)' "$off"; }
[ "$(ep_at)" = "$(ipt_ip 10.244.1.2) . 8080" ] || sy_fail "@$epmap for web is not ep1: $(ep_at) ($(nftn list map $NF switchyard "$epmap"))"
# every rule of the table with its handle: a rewritten rule gets a new handle
rules_now() { nftn -j list table $NF switchyard | "$PY" -c '
import json, sys
print(sorted((o["rule"]["chain"], o["rule"]["handle"]) for o in json.load(sys.stdin)["nftables"] if "rule" in o))'; }
rules_before=$(rules_now)
ipt_slice web TCP 8080 10.244.2.2 | ipt_write slice.yaml
is_ep2() { [ "$(ep_at)" = "$(ipt_ip 10.244.2.2) . 8080" ]; }
sy_wait 30 is_ep2 ||
	sy_fail "the new endpoint was not programmed: $(nftn list map $NF switchyard "$epmap")"
[ "$(rules_now)" = "$rules_before" ] || sy_fail "the endpoint change rewrote rules: $(diff <(echo "$rules_before") <(rules_now))"
# the gone Service goes: its chains are flushed now and deleted >= 1 s later
gonechain=$(nftn -j list chains $NF | grep -o '"service-[A-Z2-7]*-default/gone/tcp/p"' | head -1)
[ -n "$gonechain" ] || sy_fail "no service chain for gone"
rm "$IPT_M/gone.yaml" "$IPT_M/gone-slice.yaml"
out=$(ipt_ask_many "$CLIENT" tcp 10.96.0.70 80 10 | cut -d' ' -f1 | sort -u | tr '\n' ' ')
[ "$out" = "ep2 " ] || sy_fail "after the change new connections reach '$out'"
echo two >&7
sy_wait 20 grep -q "^reply ep1 two" "$SY_TMP/conn.log" || sy_fail "the established connection did not survive the change"
sy_wait 30 sh -c "! ip netns exec $NODE nft -j list chains $NF | grep -qF '$gonechain'" ||
	sy_fail "the stale chain $gonechain was never deleted"

# drift by hand, repaired by the next full sync (--sync-period 3s)
# (a periodic full sync between the delete and the check repairs it at once:
# then try again; the check is the C probe, as a Python client's start-up on a
# loaded machine takes a good part of the 3 s)
answers_now() { echo "d tcp $1 $2 1" | ip netns exec "$CLIENT" "$SY_BUILD/tests/lib/sy-echo" ask 1000 | grep -q '^d ep'; }
answers_now "$(ipt_ip 10.96.0.70)" 80 || sy_fail "the C probe does not reach the Service"
for try in $(seq 1 10); do
	n=$(ipt_syncs)
	nftn delete element $NF switchyard service-ips "{ $(ipt_ip 10.96.0.70) . tcp . 80 }"
	answers_now "$(ipt_ip 10.96.0.70)" 80 || break
	[ "$(ipt_syncs)" != "$n" ] && [ $try -lt 10 ] && { sleep 0.5; continue; }
	sy_fail "deleting the element by hand did not break the Service (the test proves nothing)"
done
ogroup=$(group_of "$(ipt_ip 10.96.0.71)")
[ -n "$ogroup" ] || sy_fail "no service-ips element of other to lb-group-G"
nftn flush chain $NF switchyard "lb-group-$ogroup"
nftn add rule $NF switchyard services $NF daddr "$(ipt_ip 10.96.0.99)" drop
nftn add chain $NF switchyard by-hand
# web's ranges gone by hand (the shard's map flushed): read back empty, refilled
nftn flush map $NF switchyard "$epmap" || sy_fail "nft flush map $epmap"
sy_wait 12 works 10.96.0.70 80 || sy_fail "the deleted element was not restored"
sy_wait 12 works 10.96.0.71 80 || sy_fail "the flushed chain was not refilled"
sy_wait 12 is_ep2 || sy_fail "the flushed @$epmap was not refilled: $(nftn list map $NF switchyard "$epmap")"
sy_wait 12 sh -c "! ip netns exec $NODE nft list chain $NF switchyard services | grep -qF '$(ipt_ip 10.96.0.99)'" ||
	sy_fail "the rule added by hand is still there"
sy_wait 12 sh -c "! ip netns exec $NODE nft list chains $NF | grep -q by-hand" || sy_fail "the chain added by hand is still there"
kill "$CHURN"; sleep 0.3
grep -q FAIL "$SY_TMP/churn.log" && sy_fail "the other program's transactions failed: $(head -3 "$SY_TMP/churn.log")"
grep -q "Failed to sync proxy rules" "$IPT_LOG" && sy_fail "a sync failed next to the other program: $(grep "Failed to sync proxy rules" "$IPT_LOG" | head -2)"
ip netns exec "$NODE" nft delete table ip churn
ip netns exec "$NODE" nft flush set inet other blocked
ip netns exec "$NODE" nft add element inet other blocked '{ 198.51.100.7 }'
[ "$(foreign)" = "$foreign_before" ] || sy_fail "the other tables changed: $(diff <(echo "$foreign_before") <(foreign))"

# stop (the rules stay), a change while down, a new daemon takes over
before=$(nftn list table $NF switchyard)
ipt_stop
[ "$(nftn list table $NF switchyard)" = "$before" ] || sy_fail "stopping switchyard changed the table"
ipt_slice web TCP 8080 10.244.1.2 10.244.2.2 | ipt_write slice.yaml
ipt_start --sync-period 3s
grep -q "SyncProxyRules complete.*writes=[1-9]" "$IPT_LOG" || sy_fail "the new daemon did not write the change"
echo three >&7
sy_wait 20 grep -q "^reply ep1 three" "$SY_TMP/conn.log" || sy_fail "the connection did not survive the restart: $(cat "$SY_TMP/conn.log")"
out=$(ipt_ask_many "$CLIENT" tcp 10.96.0.70 80 30 | cut -d' ' -f1 | sort -u | tr '\n' ' ')
[ "$out" = "ep1 ep2 " ] || sy_fail "new connections after the restart reach '$out'"

# an unchanged restart writes nothing
sleep 1.5	# let the stale chains of the change go
ipt_wait_sync 10
before=$(nftn list table $NF switchyard)
ipt_stop
ipt_start --sync-period 3s
grep "First sync complete" -B1 "$IPT_LOG" | grep -q "writes=0" ||
	sy_fail "an unchanged restart wrote the kernel: $(grep 'SyncProxyRules' "$IPT_LOG" | head -2)"
[ "$(nftn list table $NF switchyard)" = "$before" ] || sy_fail "an unchanged restart changed the table"
echo four >&7
sy_wait 20 grep -q "^reply ep1 four" "$SY_TMP/conn.log" || sy_fail "the connection did not survive the second restart"
exec 7>&-

# --cleanup: only our table goes
ipt_stop
ip netns exec "$NODE" "$SWITCHYARD" --cleanup >"$SY_TMP/cleanup.log" 2>&1 || sy_fail "--cleanup failed: $(cat "$SY_TMP/cleanup.log")"
nftn list tables | grep -q switchyard && sy_fail "--cleanup left table ip switchyard"
[ "$(foreign)" = "$foreign_before" ] || sy_fail "--cleanup changed the other tables"
sy_pass
