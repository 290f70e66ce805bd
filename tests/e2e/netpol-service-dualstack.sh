#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# NetworkPolicy behind a dual-stack Service, in the iptables and the
# nftables proxy modes (routed lab of netpol-lib.sh with NP_DUAL=1):
# Service "web" (RequireDualStack) 10.96.0.10 and fd00:96::10, port 80 TCP
# and UDP, endpoints x/a and y/a in an EndpointSlice of each family; a
# policy on x/a admits only pods labelled pod=b of its namespace.  Traffic
# through either ClusterIP is DNATed before the forward hook, so the policy
# judges the endpoint's address of that family: each client reaches y/a
# through the Service, and x/a only from x/b — in IPv4 and in IPv6.
. "$(dirname "$0")/netpol-lib.sh"

NP_DUAL=1
np_lab routed
np_web
answers() { np_web_answers "$1" "$2" "$3" 1; }
export SY_XTABLES_LOCK=$SY_TMP/xtables.lock
for mode in iptables nftables; do
	NP_MODE=$mode np_start --cluster-cidr 10.244.0.0/16,fd00:244::/32
	sy_wait 30 grep -q "SyncProxyRules complete" "$NP_LOG" || sy_fail "$mode: no proxy sync"
	for vip in 10.96.0.10 fd00:96::10; do
		for proto in tcp udp; do
			got=$(answers x/b $proto $vip)
			[ "$got" = "x-a y-a " ] ||
				sy_fail "$mode $proto $vip: x/b reached [$got], want x-a and y-a"
			got=$(answers y/b $proto $vip)
			[ "$got" = "y-a " ] || sy_fail "$mode $proto $vip: y/b reached [$got], want only y-a"
		done
	done
	sy_log "$mode: both ClusterIPs: x/b -> x/a, y/a; y/b -> y/a only"
	np_stop
	ip netns exec "$NODE" "$SWITCHYARD" --cleanup >/dev/null 2>&1 || sy_fail "--cleanup ($mode)"
done
sy_pass
