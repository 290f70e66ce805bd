#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A partial sync does not read the whole table back when nobody else
# changed it (issue 13, point 12): the daemon runs under strace, and
#  1. an EndpointSlice change (a partial sync) makes IPT_SO_GET_INFO calls
#     but no IPT_SO_GET_ENTRIES, and the new rule is in the kernel; an
#     endpoint replaced by another (same layout: the table is patched in
#     place) too, and traffic flows;
#  2. after another program appends a rule (the table's size changes) the
#     next partial sync reads the table, keeps the foreign rule and writes
#     the change; after it replaces that rule by one of the same size (the
#     shape is unchanged, but it opened the lock file) likewise;
#  3. a full sync (--sync-period) reads everything again, and repairs a
#     chain of ours flushed by someone else.
. "$(dirname "$0")/iptables-lib.sh"
command -v strace >/dev/null || sy_skip "strace missing"

LOCK=$SY_TMP/xtables.lock
: >"$LOCK"
export SY_XTABLES_LOCK=$LOCK
ipt_lab 2
ipt_node_manifest
ipt_svc web 10.96.0.70 80 8080 TCP | ipt_write svc.yaml
ipt_slice web TCP 8080 10.244.1.2 | ipt_write slice.yaml
TRACE=$SY_TMP/strace.out
IPT_LOG=$SY_TMP/daemon.log
sy_bg "$NODE" "$IPT_LOG" strace -f -qq -e trace=getsockopt,setsockopt -o "$TRACE" \
	"$SWITCHYARD" --proxy-mode=iptables --manifests "$IPT_M" --hostname-override node1 \
	--cluster-cidr "$(ipt_cidrs)" --metrics-bind-address 127.0.0.1:10249 \
	--healthz-bind-address 127.0.0.1:10256 --min-sync-period 0s --sync-period 15s -v 2
IPT_PID=$SY_LAST_PID
sy_wait 20 grep -q "First sync complete" "$IPT_LOG" || sy_fail "no first sync: $(tail -3 "$IPT_LOG")"
has() { ip netns exec "$NODE" $IPT-save -t nat | grep -qF -- "$1"; }
# the family's getsockopt/setsockopt names (IP6T_SO_* for ip6tables)
SO=IPT_SO
[ "$IPT_FAM" = 6 ] && SO=IP6T_SO
calls() { grep -c "${1/IPT_SO/$SO}" "$TRACE"; }
partials() { grep -c "SyncProxyRules complete.*full=false" "$IPT_LOG"; }

# 1. a partial sync, nobody else wrote: no read of the table
sleep 0.5
p0=$(partials); gi0=$(calls IPT_SO_GET_INFO); ge0=$(calls IPT_SO_GET_ENTRIES); sr0=$(calls IPT_SO_SET_REPLACE)
ipt_slice web TCP 8080 10.244.1.2 10.244.2.2 | ipt_write slice.yaml
sy_wait 30 has "$(ipt_hostport 10.244.2.2 8080)" || sy_fail "the change did not land"
sleep 0.3
[ "$(partials)" -gt "$p0" ] || sy_fail "no partial sync ran (full syncs only?)"
gi=$(( $(calls IPT_SO_GET_INFO) - gi0 )); ge=$(( $(calls IPT_SO_GET_ENTRIES) - ge0 ))
sr=$(( $(calls IPT_SO_SET_REPLACE) - sr0 ))
[ "$gi" -ge 2 ] || sy_fail "no IPT_SO_GET_INFO check ($gi calls)"
[ "$ge" -eq 0 ] || sy_fail "a partial sync read the table back ($ge IPT_SO_GET_ENTRIES calls)"
[ "$sr" -ge 1 ] || sy_fail "no table replace for the change"
sy_log "partial sync: $gi GET_INFO, $ge GET_ENTRIES, $sr SET_REPLACE"

# 1b. an endpoint replaced (the same layout): the table is changed in place
ge0=$(calls IPT_SO_GET_ENTRIES)
ipt_slice web TCP 8080 10.244.1.2 10.244.2.3 | ipt_write slice.yaml
sy_wait 30 has "$(ipt_hostport 10.244.2.3 8080)" || sy_fail "the replaced endpoint did not land"
has "$(ipt_hostport 10.244.2.2 8080)" && sy_fail "the old endpoint is still there"
sleep 0.3
[ "$(( $(calls IPT_SO_GET_ENTRIES) - ge0 ))" -eq 0 ] || sy_fail "a partial sync read the table back (1b)"
grep "SyncProxyRules complete.*full=false" "$IPT_LOG" | tail -1 | grep -q "tables_patched=1" ||
	sy_fail "the endpoint replacement did not patch the table in place: $(grep 'full=false' "$IPT_LOG" | tail -1)"
ipt_server 1 tcp 8080
reached=$(ipt_ask_many "$CLIENT" tcp 10.96.0.70 80 10 | cut -d' ' -f1 | sort -u | tr '\n' ' ')
case $reached in *ep1*) ;; *) sy_fail "no traffic to ep1 after the in-place change: '$reached'" ;; esac
ipt_slice web TCP 8080 10.244.1.2 10.244.2.2 | ipt_write slice.yaml
sy_wait 30 has "$(ipt_hostport 10.244.2.2 8080)" || sy_fail "the endpoint did not come back"

# 2. someone else appends a rule: the next partial sync reads, keeps it, writes the change
XTABLES_LOCKFILE=$LOCK ip netns exec "$NODE" $IPT -w -t nat -N FOREIGN
XTABLES_LOCKFILE=$LOCK ip netns exec "$NODE" $IPT -w -t nat -A FOREIGN -s "$(ipt_host 10.77.0.1)" -j RETURN
ge0=$(calls IPT_SO_GET_ENTRIES)
ipt_slice web TCP 8080 10.244.2.2 | ipt_write slice.yaml
sy_wait 30 sh -c "! ip netns exec $NODE $IPT-save -t nat | grep -qF '$(ipt_hostport 10.244.1.2 8080)'" ||
	sy_fail "the second change did not land"
sleep 0.3
[ "$(( $(calls IPT_SO_GET_ENTRIES) - ge0 ))" -ge 1 ] || sy_fail "a changed table was not read"
has "-A FOREIGN -s $(ipt_host 10.77.0.1) -j RETURN" || sy_fail "the foreign rule was lost"

# 2b. someone else replaces their rule by one of the same size (the table's
# shape does not change): they opened the lock file, so the next partial
# sync reads the table and their change survives
XTABLES_LOCKFILE=$LOCK ip netns exec "$NODE" $IPT -w -t nat -R FOREIGN 1 -s "$(ipt_host 10.77.0.2)" -j RETURN
ipt_slice web TCP 8080 10.244.2.2 10.244.1.2 | ipt_write slice.yaml
sy_wait 30 has "$(ipt_hostport 10.244.1.2 8080)" || sy_fail "the change after the foreign edit did not land"
sleep 0.3
has "-A FOREIGN -s $(ipt_host 10.77.0.2) -j RETURN" || sy_fail "a foreign same-size edit was reverted by a partial sync"
has "-A FOREIGN -s $(ipt_host 10.77.0.1) -j RETURN" && sy_fail "the foreign rule's old version came back"

# 3. the full sync reads everything and repairs a flushed chain of ours
svc_chain=$(ip netns exec "$NODE" $IPT-save -t nat | sed -n 's/^:\(SY-SVC-[^ ]*\).*/\1/p' | head -1)
[ -n "$svc_chain" ] || sy_fail "no SY-SVC chain"
ip netns exec "$NODE" $IPT -w -t nat -F "$svc_chain"
sy_wait 25 sh -c "ip netns exec $NODE $IPT-save -t nat | grep -q -- '-A $svc_chain '" ||
	sy_fail "the full sync did not repair $svc_chain"
grep -q "SyncProxyRules complete.*full=true" "$IPT_LOG" || sy_fail "no full sync"
sy_pass "partial sync without reading the table back; foreign change seen; full sync repairs"
