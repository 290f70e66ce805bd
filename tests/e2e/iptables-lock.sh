#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# iptables mode respects /run/xtables.lock: while switchyard syncs over and
# over (the EndpointSlice flips every 50 ms), another process appends 300
# rules with iptables-legacy -w (to a chain of its own and to nat
# PREROUTING, where switchyard has its jump).  Every append succeeds and
# every rule is there afterwards, in order; switchyard's rules are intact.
# Then another program holds the lock (flock(1)) for 2.5 s: switchyard
# writes nothing meanwhile, and the pending change lands after it lets go.
. "$(dirname "$0")/iptables-lib.sh"

ipt_lab 2
ipt_node_manifest
ipt_svc web 10.96.0.70 80 8080 TCP | ipt_write svc.yaml
ipt_slice web TCP 8080 10.244.1.2 | ipt_write slice.yaml
ipt_start --sync-period 1s
ip netns exec "$NODE" $IPT -w -t nat -N FOREIGN
ip netns exec "$NODE" $IPT -w -t nat -A PREROUTING -j FOREIGN
# fsrc I NET: the source of foreign rule I (NET 77: in FOREIGN, 78: in PREROUTING)
fsrc() {
	if [ "$IPT_FAM" = 6 ]; then echo "fd00:$2::$1/128"; else echo "10.$2.$(($1 / 200)).$(($1 % 200 + 1))/32"; fi
}
fnet() { if [ "$IPT_FAM" = 6 ]; then echo "fd00:$1::"; else echo "10.$1."; fi; }
syncs0=$(ipt_syncs)
N=${IPT_LOCK_APPENDS:-150}	# foreign appends per chain

(
	for i in $(seq 1 "$N"); do
		ip netns exec "$NODE" $IPT -w -t nat -A FOREIGN -s "$(fsrc $i 77)" -j RETURN ||
			echo "append $i failed" >>"$SY_TMP/appends.err"
		ip netns exec "$NODE" $IPT -w -t nat -A PREROUTING -s "$(fsrc $i 78)" -j RETURN ||
			echo "prerouting append $i failed" >>"$SY_TMP/appends.err"
	done
) &
writer=$!
flip=0
while kill -0 "$writer" 2>/dev/null; do
	if [ $flip = 0 ]; then ipt_slice web TCP 8080 10.244.1.2 10.244.2.2; else ipt_slice web TCP 8080 10.244.1.2; fi |
		ipt_write slice.yaml
	flip=$((1 - flip))
	sleep 0.05
done
wait "$writer"
ipt_slice web TCP 8080 10.244.1.2 10.244.2.2 | ipt_write slice.yaml
ipt_wait_sync
syncs=$(( $(ipt_syncs) - syncs0 ))
[ -f "$SY_TMP/appends.err" ] && sy_fail "$(cat "$SY_TMP/appends.err" | head -5)"

save=$(ip netns exec "$NODE" $IPT-save -t nat)
got=$(grep -c -- "-A FOREIGN -s $(fnet 77)" <<<"$save")
[ "$got" -eq "$N" ] || sy_fail "FOREIGN holds $got of $N rules after $syncs syncs"
got=$(grep -c -- "-A PREROUTING -s $(fnet 78)" <<<"$save")
[ "$got" -eq "$N" ] || sy_fail "PREROUTING holds $got of $N foreign rules after $syncs syncs"
# in order
want=$(for i in $(seq 1 "$N"); do echo "-A FOREIGN -s $(fsrc $i 77) -j RETURN"; done)
[ "$(grep -- '-A FOREIGN -s' <<<"$save")" = "$want" ] || sy_fail "FOREIGN rules out of order"
grep -q -- '-A PREROUTING -m comment --comment "switchyard service portals" -j SY-SERVICES' <<<"$save" ||
	sy_fail "switchyard's jump is gone"
[ "$(grep -c -- '-j SY-SERVICES' <<<"$save")" -eq 2 ] || sy_fail "switchyard's jumps duplicated or missing"
grep -q "Failed to sync" "$IPT_LOG" && sy_log "note: $(grep -c 'Failed to sync' "$IPT_LOG") sync(s) retried"
[ "$syncs" -ge 10 ] || sy_fail "only $syncs syncs ran during the appends"

# the lock itself: while another program holds /run/xtables.lock, switchyard
# does not write; the change lands once the lock is free
command -v flock >/dev/null || sy_skip "flock(1) missing"
has_ep3() { ip netns exec "$NODE" $IPT-save -t nat | grep -qF -- "--to-destination $(ipt_hostport 10.244.3.2 8080)"; }
flock -x /run/xtables.lock -c "touch $SY_TMP/held; sleep 2.5" &
holder=$!
sy_wait 20 test -e "$SY_TMP/held" || sy_fail "could not take the lock"
ipt_slice web TCP 8080 10.244.1.2 10.244.2.2 10.244.3.2 | ipt_write slice.yaml
sleep 1.5
# (the holder must still hold it after the check: on a loaded machine its 2.5 s may be over)
has_ep3 && kill -0 "$holder" 2>/dev/null &&
	sy_fail "switchyard wrote the table while another program held the xtables lock"
wait "$holder"
sy_wait 30 has_ep3 || sy_fail "the change did not land after the lock was released: $(ip netns exec "$NODE" $IPT-save -t nat | grep -- --to-destination)"
sy_pass "$((2 * N)) foreign appends during $syncs syncs, none lost; no write while the lock was held"
