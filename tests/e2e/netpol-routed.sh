#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# NetworkPolicy, the upstream e2e model on routed pod interfaces (a veth per
# pod, /32 routes, the node side 169.254.1.1, as Calico wires them):
# x/y/z x a/b/c (c on another node: a peer, not enforced here), every case
# of tests/lib/netpol_lab.py probed over TCP/UDP/SCTP 80/81 with real
# packets and compared with the expected matrix; a pod relabel and a
# namespace relabel rewrite no chain (rule handles unchanged), a policy
# update rewrites only its own and its namespace's chains; --cleanup
# removes the table.
. "$(dirname "$0")/netpol-lib.sh"

np_lab routed
np_start
np_cases || sy_fail "cases failed (log: $(tail -5 "$NP_LOG"))"
grep -q "NetworkPolicy sync complete: full=false" "$NP_LOG" || sy_fail "no partial sync logged"
np_stop
ip netns exec "$NODE" "$SWITCHYARD" --cleanup >/dev/null 2>&1 || sy_fail "--cleanup failed"
if ip netns exec "$NODE" nft list table inet switchyard-policy >/dev/null 2>&1; then
	sy_fail "--cleanup left table inet switchyard-policy"
fi
sy_pass
