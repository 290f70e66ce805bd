#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# iptables mode follows the manifest directory and repairs drift:
#  - an EndpointSlice gaining an endpoint, losing all (→ REJECT), the
#    Service going away (→ its chains and rules are gone);
#  - drift: our chains flushed / a rule replaced / a chain deleted and our
#    PREROUTING jump removed with iptables-legacy are restored by the next
#    periodic resync (--sync-period 2s), byte for byte as iptables-save
#    prints them, and traffic flows again.
. "$(dirname "$0")/iptables-lib.sh"

ipt_lab 2
for k in 1 2; do ipt_server $k tcp 8080; done
ipt_node_manifest
ipt_svc web 10.96.0.70 80 8080 TCP | ipt_write svc.yaml
ipt_slice web TCP 8080 10.244.1.2 | ipt_write slice.yaml
ipt_start --sync-period 2s

reached() { # IP PORT COUNT → sorted unique names
	ipt_ask_many "$CLIENT" tcp "$1" "$2" "$3" | cut -d' ' -f1 | sort -u | tr '\n' ' '
}
wait_reached() { # WANT IP PORT
	local end=$((SECONDS + 30)) got
	while :; do
		got=$(reached "$2" "$3" 20)
		[ "$got" = "$1" ] && return 0
		[ $SECONDS -lt $end ] || sy_fail "want '$1' from $2:$3, got '$got'"
		sleep 0.3
	done
}
wait_reached "ep1 " 10.96.0.70 80

ipt_slice web TCP 8080 10.244.1.2 10.244.2.2 | ipt_write slice.yaml
wait_reached "ep1 ep2 " 10.96.0.70 80
sy_log "endpoint added: both reached"

ipt_slice web TCP 8080 | ipt_write slice.yaml
sy_wait 30 ipt_rejected 10.96.0.70 80 || sy_fail "not rejected: $(reached 10.96.0.70 80 5)"
sy_log "endpoints gone: REFUSED"

ipt_slice web TCP 8080 10.244.1.2 10.244.2.2 | ipt_write slice.yaml
wait_reached "ep1 ep2 " 10.96.0.70 80
good=$(ipt_save)
is_good() { [ "$(ipt_save)" = "$good" ]; }
svc=$(grep -o 'SY-SVC-[A-Z0-9]*' <<<"$good" | head -1)
[ -n "$svc" ] || sy_fail "no SVC chain"

# drift 1: flush our chains, drop our PREROUTING jump (again when a periodic
# sync repaired it before it was seen: a loaded machine is slow to read back)
for try in 1 2 3 4 5; do
	n=$(ipt_syncs)
	ip netns exec "$NODE" $IPT -w -t nat -F "$svc"
	ip netns exec "$NODE" $IPT -w -t nat -D PREROUTING -m comment \
		--comment "switchyard service portals" -j SY-SERVICES
	[ "$(ipt_save)" != "$good" ] && break
	[ "$(ipt_syncs)" != "$n" ] && [ $try -lt 5 ] && continue
	sy_fail "the drift did not change the table"
done
sy_wait 10 is_good || sy_fail "flushed chain not repaired: $(diff <(echo "$good") <(ipt_save))"
sy_log "flushed chain and removed jump repaired"
# drift 2: a rule replaced
ip netns exec "$NODE" $IPT -w -t nat -R "$svc" 1 -j RETURN
sy_wait 10 is_good || sy_fail "altered rule not repaired"
sy_log "altered rule repaired"
# drift 3: a chain deleted (after removing what referenced it)
ip netns exec "$NODE" $IPT -w -t nat -F SY-SERVICES
ip netns exec "$NODE" $IPT -w -t nat -F "$svc"
ip netns exec "$NODE" $IPT -w -t nat -X "$svc"
sy_wait 10 is_good || sy_fail "deleted chain not repaired"
wait_reached "ep1 ep2 " 10.96.0.70 80
sy_log "deleted chain repaired, traffic flows"

# the Service goes away: its rules and chains too
rm "$IPT_M/svc.yaml"
svc_gone() { ! ipt_save nat | grep -q -e "$(ipt_ip 10.96.0.70)" -e "$svc"; }
sy_wait 30 svc_gone ||
	sy_fail "rules of the deleted Service remain"
grep -q "Failed to sync" "$IPT_LOG" && sy_fail "a sync failed: $(grep 'Failed to sync' "$IPT_LOG" | head -3)"
sy_pass
