#!/bin/bash
# bench/nftables-ds-change.sh [CHANGES] — issue 17: what one IPv4 endpoint
# change costs the nftables mode with N dual-stack Services against N
# IPv4-only ones, read from the daemon's own -v 4 lines (per batch: the wall
# time in sendmsg and the thread's CPU time of it, i.e. the kernel's work),
# so that the load of a shared machine moves it little.
#
#   1. two daemons side by side, each in a fresh network namespace (N
#      IPv4-only Services; N dual-stack Services, 10 endpoints per family),
#      CHANGES endpoint changes (10 <-> 9 endpoints of one Service) given to
#      each in turn, the order swapped every change (A B B A ...); medians of
#      the IPv4 instance's change batch and of the sync (elapsed=).
#   2. (FOREIGN=1, default) the IPv4-only daemon alone: CHANGES changes, then
#      as many with a foreign `table ip6 other` beside it holding as many empty
#      chains as `ip switchyard` has (written with nft -f), the table deleted
#      again, in FOREIGN_ROUNDS blocks: whether the IPv6 table's contents or
#      only its number of chains make the difference.
#
# Environment: SY_BUILD (./build), N (10000), FOREIGN (1), FOREIGN_ROUNDS (3),
# CHANGE_AT (N/2: the changed Service's index, nft-gen.py; N/2 has a NodePort),
# SY_KEEP_TMP=1 (keep the daemons' logs).
set -u
SY_SRC=$(cd "$(dirname "$0")/.." && pwd)
SY_BUILD=${SY_BUILD:-$SY_SRC/build}
. "$SY_SRC/tests/lib/common.sh"
SWITCHYARD=$SY_BUILD/switchyard
GEN="/usr/bin/python3 $SY_SRC/bench/nft-gen.py"
N=${N:-10000}
NCH=${1:-21}
command -v nft >/dev/null || { echo "missing: nft (tools/lib.sh SY_PACKAGES)" >&2; exit 2; }
[ -x "$SWITCHYARD" ] || { echo "missing: $SWITCHYARD (build first)" >&2; exit 2; }

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2); else print "nan" }'; }
declare -A LOG DIR NSS PID
# start KIND: a daemon for KIND (v4|dual) in its own namespace, until its first sync
start() {
	local kind=$1 d=$SY_TMP/man-$1 fl= cc=10.244.0.0/16 nsx
	[ "$kind" = dual ] && { fl=--dual-stack; cc=10.244.0.0/16,fd00:244::/48; }
	$GEN manifests "$N" "$d" $fl --count-change
	cp "$d/change.json" "$d/change.json.orig"
	sy_mkns nsx "dsc-$kind"
	DIR[$kind]=$d NSS[$kind]=$nsx LOG[$kind]=$SY_TMP/daemon-$kind.log
	sy_bg "$nsx" "${LOG[$kind]}" "$SWITCHYARD" --proxy-mode=nftables --manifests "$d" \
		--hostname-override node1 --cluster-cidr "$cc" --metrics-bind-address "" \
		--healthz-bind-address "" --min-sync-period 0s --sync-period 1h -v 4
	PID[$kind]=$SY_LAST_PID
	up() { grep -q "First sync complete" "${LOG[$kind]}"; }
	sy_wait 600 up || sy_fail "$kind: no first sync in 600 s: $(tail -3 "${LOG[$kind]}")"
}
declare -A KC=([v4]=0 [dual]=0)
# change KIND TAG: one endpoint change (back and forth); appends "TAG wall_ms cpu_ms elapsed_ms"
# of the IPv4 instance's change batch to $SY_TMP/samples
change() {
	local kind=$1 d=${DIR[$1]} log=${LOG[$1]} before
	KC[$kind]=$((KC[$kind] + 1))
	before=$(grep -c "SyncProxyRules complete" "$log")
	if [ $((KC[$kind] % 2)) = 1 ]; then cp "$d/change.next" "$d/.t"; else cp "$d/change.json.orig" "$d/.t"; fi
	mv "$d/.t" "$d/change.json"
	synced() { [ "$(grep -c 'SyncProxyRules complete' "$log")" -gt "$before" ]; }
	sy_wait 60 synced || sy_fail "$kind: no sync after a change"
	sleep 0.3
	echo "$2 $(grep 'nftables ip switchyard: batch of' "$log" | tail -1 |
		sed -n 's/.*, \([0-9.]*\) ms in the kernel (cpu \([0-9.]*\) ms)/\1 \2/p') $(grep 'SyncProxyRules complete' "$log" |
		tail -1 | sed -n 's/.*elapsed=\([0-9.]*\)ms.*/\1/p')" >>"$SY_TMP/samples"
}
report() { # TAG
	local c
	c=$(awk -v t="$1" '$1 == t { print $3 }' "$SY_TMP/samples")
	printf '   %-14s n=%-3s batch in sendmsg: wall %6.3f ms, CPU %6.3f ms; sync elapsed %6.3f ms\n' "$1" \
		"$(grep -c "^$1 " "$SY_TMP/samples")" "$(awk -v t="$1" '$1 == t { print $2 }' "$SY_TMP/samples" | median)" \
		"$(median <<<"$c")" "$(awk -v t="$1" '$1 == t { print $4 }' "$SY_TMP/samples" | median)"
	echo "      CPU samples (ms): $(tr '\n' ' ' <<<"$c")"
}

echo "== nftables, one IPv4 endpoint change, $N Services (10 endpoints per family); load: $(cut -d' ' -f1-3 /proc/loadavg)"
start v4
start dual
for kind in v4 dual; do
	echo "   $kind: chains in ip switchyard $(ip netns exec "${NSS[$kind]}" nft list chains ip | grep -c '^\s*chain '), in ip6 switchyard $(ip netns exec "${NSS[$kind]}" nft list chains ip6 | grep -c '^\s*chain ')"
done
: >"$SY_TMP/samples"
echo "1. side by side, $NCH changes each, alternating (A B B A ...)"
for k in $(seq 1 "$NCH"); do
	if [ $((k % 2)) = 1 ]; then change v4 v4-only; change dual dual-stack
	else change dual dual-stack; change v4 v4-only; fi
done
report v4-only
report dual-stack
kill "${PID[dual]}" 2>/dev/null	# part 2 runs with one daemon
if [ "${FOREIGN:-1}" = 1 ]; then
	ns=${NSS[v4]}
	nch=$(ip netns exec "$ns" nft list chains ip | grep -c '^\s*chain ')
	{ echo "table ip6 other {"; for i in $(seq 1 "$nch"); do echo " chain c$i { }"; done; echo "}"; } >"$SY_TMP/other.nft"
	per=$(( (NCH + ${FOREIGN_ROUNDS:-3} - 1) / ${FOREIGN_ROUNDS:-3} ))
	echo "2. the IPv4-only daemon without / with a foreign table ip6 other of $nch empty chains, ${FOREIGN_ROUNDS:-3} blocks of $per changes each"
	for r in $(seq 1 "${FOREIGN_ROUNDS:-3}"); do
		for i in $(seq 1 "$per"); do change v4 without; done
		ip netns exec "$ns" nft -f "$SY_TMP/other.nft" || sy_fail "nft -f other.nft"
		for i in $(seq 1 "$per"); do change v4 "with-$nch"; done
		ip netns exec "$ns" nft delete table ip6 other
	done
	report without
	report "with-$nch"
fi
echo "   (from the daemon's -v 4 \"batch of … ms in the kernel (cpu … ms)\" line of the IPv4 instance's"
echo "    change batch and its \"SyncProxyRules complete … elapsed=\" line; medians; load now: $(cut -d' ' -f1-3 /proc/loadavg))"
