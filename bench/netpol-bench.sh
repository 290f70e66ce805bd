#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# NetworkPolicy benchmark: 10,000 Pods over 100 namespaces, 1,000 policies
# (bench/netpol-bench.c builds them through the real decoders and planner
# and programs them with the real writer into table inet switchyard-policy
# inside a private network namespace), then kube-router's approach for the
# same state: ipsets + iptables chains (per policy, per local pod) written by
# one `ipset restore` and one `iptables-legacy-restore` per sync, timed in
# another private namespace.  kube-router re-applies everything on every
# event, so its pod-change cost is its full sync.  Prints numbers; RUNS
# repetitions, the medians quoted by the program per run.
#
#   bench/netpol-bench.sh [RUNS] [extra netpol-bench args, e.g. --local-every 100, --dual]
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${SY_BUILD:-$SRC/build}
BIN=$BUILD/bench/netpol-bench
RUNS=${1:-3}
shift || true
[ -x "$BIN" ] || { echo "build first: $BIN missing" >&2; exit 1; }
command -v ipset >/dev/null && command -v iptables-legacy-restore >/dev/null ||
	{ echo "ipset and iptables-legacy-restore needed (tools/lib.sh SY_PACKAGES)" >&2; exit 1; }
ms() { echo $((($2 - $1) / 1000000)); }
NS=sy$$-npbench
NS2=sy$$-npkr
TMP=$(mktemp -d)
trap 'ip netns del $NS 2>/dev/null; ip netns del $NS2 2>/dev/null; rm -rf $TMP' EXIT
ip netns add "$NS"
ip netns add "$NS2"
for r in $(seq 1 "$RUNS"); do
	echo "== switchyard, run $r"
	ip netns exec "$NS" /usr/bin/time -f "process: %e s wall, peak RSS %M KB" "$BIN" "$@" \
		--kube-router "$TMP"
	echo "== kube-router shape, run $r ($(wc -l <"$TMP/ipset.restore") ipset lines," \
		"$(wc -l <"$TMP/iptables.restore") iptables lines)"
	ip netns exec "$NS2" ipset destroy 2>/dev/null || true
	ip netns exec "$NS2" iptables-legacy -F 2>/dev/null || true
	t0=$(date +%s%N)
	ip netns exec "$NS2" ipset restore -exist <"$TMP/ipset.restore"
	t1=$(date +%s%N)
	ip netns exec "$NS2" iptables-legacy-restore -w 5 <"$TMP/iptables.restore"
	t2=$(date +%s%N)
	echo "kube-router first sync: ipset restore $(ms "$t0" "$t1") ms +" \
		"iptables-legacy-restore $(ms "$t1" "$t2") ms = $(ms "$t0" "$t2") ms"
	# a later sync (what one pod's change costs it): the same restores again
	t0=$(date +%s%N)
	ip netns exec "$NS2" ipset restore -exist <"$TMP/ipset.restore"
	ip netns exec "$NS2" iptables-legacy-restore -w 5 <"$TMP/iptables.restore"
	t2=$(date +%s%N)
	echo "kube-router resync (one pod changed): $(ms "$t0" "$t2") ms"
done
