#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# NetworkPolicy behind a Service, in the iptables and the nftables proxy
# modes (routed lab of netpol-lib.sh): Service "web" 10.96.0.10:80 (TCP and
# UDP) has the endpoints x/a and y/a; a policy on x/a admits only pods
# labelled pod=b of its namespace.  Traffic through the ClusterIP is DNATed
# before the forward hook, so the policy judges the endpoint's IP: each
# client reaches y/a through the Service, and x/a only from x/b.  A client
# asks many times, so both endpoints are chosen; the endpoint that answered
# is in the reply.  In the iptables mode another program holds the xtables
# lock while the policy changes: NetworkPolicy (nftables) does not wait.
. "$(dirname "$0")/netpol-lib.sh"

np_lab routed
np_web
answers() { np_web_answers "$1" "$2" 10.96.0.10 3; }
# a private xtables lock: another program holding it must not hold policy up
export SY_XTABLES_LOCK=$SY_TMP/xtables.lock
policy() {
	cat >"$NP_M/np-x-a.json.tmp" <<EOF2
{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
 "metadata": {"name": "a-from-b", "namespace": "x"},
 "spec": {"podSelector": {"matchLabels": {"pod": "a"}},
          "ingress": [{"from": [{"podSelector": {"matchLabels": {"pod": "b"}}}$1]}]}}
EOF2
	mv "$NP_M/np-x-a.json.tmp" "$NP_M/np-x-a.json"
}
yb_reaches() { [ "$(answers y/b tcp)" = "$1" ]; }
for mode in iptables nftables; do
	NP_MODE=$mode np_start
	sy_wait 30 grep -q "SyncProxyRules complete" "$NP_LOG" || sy_fail "$mode: no proxy sync"
	for proto in tcp udp; do
		got=$(answers x/b $proto)
		[ "$got" = "x-a y-a " ] || sy_fail "$mode $proto: x/b reached [$got], want x-a and y-a"
		got=$(answers y/b $proto)
		[ "$got" = "y-a " ] || sy_fail "$mode $proto: y/b reached [$got], want only y-a"
	done
	sy_log "$mode: x/b -> x/a, y/a; y/b -> y/a only"
	if [ $mode = iptables ]; then
		# the xtables lock held by another program (for up to 60 s, until
		# it is killed): the policy change (namespace y admitted too)
		# still lands while it is held
		sy_bg - "$SY_TMP/holder.log" "$PY" "$SY_SRC/tests/lib/lock_holder.py" \
			--path "$SY_XTABLES_LOCK" --total 60 --hold 60 --gap 0 --mark "$SY_TMP/np-lock"
		HOLDER=$SY_LAST_PID
		sy_wait 30 test -e "$SY_TMP/np-lock.held" || sy_fail "the lock holder did not take the lock"
		policy ', {"namespaceSelector": {"matchLabels": {"ns": "y"}}}'
		sy_wait 20 yb_reaches "x-a y-a " || sy_fail "the policy change waited for the xtables lock"
		[ -e "$SY_TMP/np-lock.gap" ] && sy_fail "the lock holder let go too early to tell"
		kill "$HOLDER"
		wait "$HOLDER" 2>/dev/null
		policy ''
		sy_wait 30 yb_reaches "y-a " || sy_fail "the policy is not back"
	fi
	np_stop
	ip netns exec "$NODE" "$SWITCHYARD" --cleanup >/dev/null 2>&1 || sy_fail "--cleanup ($mode)"
done
sy_pass
