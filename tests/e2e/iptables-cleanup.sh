#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# iptables mode cleanup: with foreign chains and rules around (including SY-
# chains that are not ours: SY-OTHER, and SY-PODNET-MASQ as the pod network
# writes it),
# switchyard syncs, then `switchyard --cleanup` leaves iptables-legacy-save
# exactly as it was before switchyard started (counters aside).  The
# foreign rules' packet counters survive switchyard's table replacements.
. "$(dirname "$0")/iptables-lib.sh"

ipt_lab 1
ipt_server 1 tcp 8080
ipt_node_manifest
ipt_svc web 10.96.0.70 80 8080 TCP | ipt_write svc.yaml
ipt_slice web TCP 8080 10.244.1.2 | ipt_write slice.yaml
ipt() { ip netns exec "$NODE" $IPT -w "$@"; }
CL=$(ipt_ip 10.244.0.0/16)	# the cluster CIDR
ICMP=icmp
[ "$IPT_FAM" = 6 ] && ICMP=ipv6-icmp
ipt -t nat -N SY-OTHER
ipt -t nat -A POSTROUTING -j SY-OTHER
ipt -t nat -A SY-OTHER -s "$CL" -d "$CL" -j RETURN
ipt -t nat -A SY-OTHER -s "$CL" -j MASQUERADE --random-fully
ipt -t nat -A PREROUTING -p tcp --dport 9999 -j DNAT --to-destination "$(ipt_hostport 10.244.1.2 8080)"
ipt -t filter -N FOO
ipt -t filter -A FOO -s "$(ipt_ip 192.0.2.0/24)" -j DROP
ipt -t filter -A INPUT -j FOO
ipt -t filter -A INPUT -p $ICMP -j ACCEPT
ipt -t filter -A FORWARD -s "$(ipt_ip 198.51.100.7)" -j REJECT
ipt -t filter -A OUTPUT -m mark --mark 0x10/0x10
ip netns exec "$CLIENT" ping -c 3 -i 0.2 -q "$(ipt_ip 192.168.50.1)" >/dev/null
icmp_count() { ip netns exec "$NODE" $IPT-save -c -t filter | sed -n "s/^\[\([0-9]*\):.*-A INPUT -p $ICMP -j ACCEPT\$/\1/p"; }
before=$(ipt_save)
c0=$(icmp_count)
[ "$c0" -ge 3 ] || sy_fail "icmp counter $c0"
# the pod network's chain (its own --cleanup removes it, so it is not in "before")
ipt -t nat -N SY-PODNET-MASQ
ipt -t nat -A POSTROUTING -j SY-PODNET-MASQ
ipt -t nat -A SY-PODNET-MASQ -s "$CL" -j MASQUERADE --random-fully

ipt_start
save=$(ipt_save)
grep -q -- '-j SY-SERVICES' <<<"$save" || sy_fail "switchyard wrote nothing"
grep -qF -- "-A SY-PODNET-MASQ -s $CL -j MASQUERADE --random-fully" <<<"$save" || sy_fail "SY-PODNET-MASQ lost"
grep -qF -- "-A SY-OTHER -s $CL -j MASQUERADE --random-fully" <<<"$save" || sy_fail "SY-OTHER lost"
[ "$(ipt_ask_many "$CLIENT" tcp 10.96.0.70 80 1 | cut -d' ' -f1)" = ep1 ] || sy_fail "Service not reachable"
[ "$(ipt_ask_many "$CLIENT" tcp 192.168.50.1 9999 1 | cut -d' ' -f1)" = ep1 ] || sy_fail "foreign DNAT not working"
c1=$(icmp_count)
[ "$c1" -ge "$c0" ] || sy_fail "foreign rule counter went from $c0 to $c1"
ipt_stop

ip netns exec "$NODE" "$SWITCHYARD" --cleanup -v 2 >"$SY_TMP/cleanup.log" 2>&1 ||
	{ cat "$SY_TMP/cleanup.log" >&2; sy_fail "switchyard --cleanup failed"; }
after=$(ipt_save)
[ "$after" = "$before" ] || sy_fail "tables differ after --cleanup: $(diff <(echo "$before") <(echo "$after"))"
c2=$(icmp_count)
[ "$c2" -ge "$c0" ] || sy_fail "foreign rule counter went from $c0 to $c2 across cleanup"
# a second cleanup has nothing to do and changes nothing
ip netns exec "$NODE" "$SWITCHYARD" --cleanup >/dev/null 2>&1 || sy_fail "second --cleanup failed"
[ "$(ipt_save)" = "$before" ] || sy_fail "second --cleanup changed the tables"
sy_pass "counters kept: $c0 → $c1 → $c2"
