#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# NetworkPolicy in dual stack, the upstream e2e model on a bridge pod network
# (br0 with br_netfilter for both families): every pod has an IPv4 and an
# IPv6 address (status.podIPs), every case of tests/lib/netpol_lab.py is
# probed over TCP/UDP/SCTP 80/81 in both families with real packets (864
# cells) and compared with the independent evaluator, plus two IPv6 ipBlock
# cases (an IPv6 block with excepts; blocks of both families in one policy).
# Neighbour discovery between pods crosses the forward hook here: pods
# behind a default deny must still resolve each other.  The IPv6 sets and
# rules are read back with `nft list`; relabels rewrite no chain; a full
# sync after all cases finds nothing to write (incremental == from scratch
# in the kernel); --cleanup removes the table.
. "$(dirname "$0")/netpol-lib.sh"

NP_DUAL=1
np_lab bridge
np_start --sync-period 4s
np_cases "${NP_CASES:-}" || sy_fail "cases failed (log: $(tail -5 "$NP_LOG"))"
grep -q "NetworkPolicy sync complete: full=false" "$NP_LOG" || sy_fail "no partial sync logged"

# the kernel state: IPv6 twins of the sets, per-family dispatch, ND accepted
ip netns exec "$NODE" nft list table inet switchyard-policy >"$SY_TMP/table.txt" ||
	sy_fail "nft list table failed"
for want in "set iso-in6" "set peers6-" "set targets6-" "chain in6" "chain eg6" \
	"ip6 daddr @iso-in6 jump in6" "ip6 saddr @iso-eg6 jump eg6" "icmpv6 type"; do
	grep -q "$want" "$SY_TMP/table.txt" || { cat "$SY_TMP/table.txt" >&2; sy_fail "no '$want' in the table"; }
done
# a policy with an IPv6 ipBlock, left in place: its cidr in cidr6, its except in except6
"$PY" - "$NP_M" <<'PY' || sy_fail "writing the IPv6 ipBlock policy"
import json, os, sys
p = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
     "metadata": {"name": "v6-block", "namespace": "y"},
     "spec": {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {
         "cidr": "fd00:244:2::/64", "except": ["fd00:244:2::b/128"]}}]}]}}
path = os.path.join(sys.argv[1], "np-y-v6-block.json")
json.dump(p, open(path + ".tmp", "w"))
os.rename(path + ".tmp", path)
PY
sy_wait 30 sh -c "ip netns exec '$NODE' nft list table inet switchyard-policy | grep -q ' \. fd00:244:2::/64 \. '" || {
	ip netns exec "$NODE" nft list table inet switchyard-policy >&2
	sy_fail "the IPv6 ipBlock's cidr is not in a cidr6 set"
}
# its except apart, in an except6 set, looked up negated before the cidr
ip netns exec "$NODE" nft list table inet switchyard-policy >"$SY_TMP/table.txt"
awk '/set except6-/ { s = 1 } s && /fd00:244:2::b/ { f = 1 } /^\t}/ { s = 0 } END { exit !f }' "$SY_TMP/table.txt" ||
	{ cat "$SY_TMP/table.txt" >&2; sy_fail "the IPv6 ipBlock's except is not in an except6 set"; }
grep -q 'ip6 saddr != @except6-[0-9]* .* ip6 saddr . meta l4proto @cidr6-' "$SY_TMP/table.txt" ||
	{ cat "$SY_TMP/table.txt" >&2; sy_fail "no negated except6 lookup before the cidr6 one"; }
# the next full sync must find the kernel as the partial syncs left it
n=$(grep -c "NetworkPolicy sync complete: full=true" "$NP_LOG")
sy_wait 30 sh -c "[ \$(grep -c 'NetworkPolicy sync complete: full=true' '$NP_LOG') -gt $n ]" ||
	sy_fail "no periodic full sync"
line=$(grep "NetworkPolicy sync complete: full=true" "$NP_LOG" | tail -1)
case "$line" in
*"elements=+0/-0 chains=0 deleted=0 messages=0"*) ;;
*) sy_fail "a full sync after partial ones wrote something: $line" ;;
esac
np_stop
ip netns exec "$NODE" "$SWITCHYARD" --cleanup >/dev/null 2>&1 || sy_fail "--cleanup failed"
if ip netns exec "$NODE" nft list table inet switchyard-policy >/dev/null 2>&1; then
	sy_fail "--cleanup left table inet switchyard-policy"
fi
sy_pass
