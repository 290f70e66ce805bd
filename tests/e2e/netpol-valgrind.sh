#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The daemon with --network-policy runs valgrind-clean (routed lab of
# netpol-lib.sh): first full sync, policies added, updated and deleted, a
# pod and a namespace relabelled, a periodic full sync, stop on SIGTERM; no
# memory errors, no definite leaks.  Dual-stack pods (NP_DUAL=1), so the
# IPv6 paths of the writer run under valgrind too.
NP_DUAL=${NP_DUAL:-1}
. "$(dirname "$0")/netpol-lib.sh"
command -v valgrind >/dev/null || sy_skip "valgrind not installed"

np_lab routed
NP_WRAP="valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=9" \
	NP_START_WAIT=120 np_start --sync-period 3s
np_cases default-deny-all,ingress-named-port,ipblock-egress-and-overlap,ipblock-both-families-egress,update-policy-before,update-policy-after,update-pod-labels,update-namespace-before,update-namespace-after,delete-all-policies 30 ||
	sy_fail "cases under valgrind"
sy_wait 60 sh -c "[ \$(grep -c 'NetworkPolicy sync complete: full=true' '$NP_LOG') -ge 2 ]" ||
	sy_fail "no periodic full sync"
kill -TERM "$NP_PID"
for _ in $(seq 1 100); do kill -0 "$NP_PID" 2>/dev/null || break; sleep 0.1; done
wait "$NP_PID"; rc=$?
NP_PID=
grep -q "ERROR SUMMARY: 0 errors" "$NP_LOG" ||
	sy_fail "valgrind errors: $(grep -A20 'Invalid\|uninitialised\|definitely lost' "$NP_LOG" | head -40)"
[ $rc = 0 ] || sy_fail "exit $rc"
sy_pass
