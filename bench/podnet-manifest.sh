#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/podnet-manifest.sh [PEERS] [BACKEND]: the whole daemon, end to end.
# switchyard --pod-network runs in a node namespace (underlay 10.200.0.1/16 on
# a veth) reading a manifest directory; PEERS Node objects (default 1000)
# appear at once (one file, renamed into place).  Prints the time until the
# kernel holds every route / neighbour / FDB entry (polled with ip/bridge
# every ~20 ms), then the time until one peer's address change shows in the
# kernel (which includes re-reading and decoding the whole directory).
# Numbers only; never passes or fails on them.
# The sync runner allows one sync per --min-sync-period (default 1s, as
# kube-proxy): MINSYNC=0s shows the cost without that wait.
#   SY_BUILD=build-podnet bench/podnet-manifest.sh 1000 vxlan
#   MINSYNC=0s SY_BUILD=build-podnet bench/podnet-manifest.sh 1000 vxlan
set -u
PEERS=${1:-1000}
BACKEND=${2:-vxlan}
MINSYNC=${MINSYNC:-1s}	# the daemon's --min-sync-period (kube-proxy's rate limit)
HERE=$(cd "$(dirname "$0")" && pwd)
export SY_SRC=${SY_SRC:-$(cd "$HERE/.." && pwd)}
. "$SY_SRC/tests/lib/common.sh"

sy_mkns NS node
sy_mkns PEER peer
sy_veth "$NS" eth0 10.200.0.1/16 "$PEER" eth0 10.200.0.2/16
M=$SY_TMP/manifests
mkdir -p "$M"
if [ "$BACKEND" = host-gw ]; then
	echo '{"Network": "10.0.0.0/8", "Backend": {"Type": "host-gw"}}' >"$SY_TMP/net-conf.json"
else
	echo '{"Network": "10.0.0.0/8", "Backend": {"Type": "vxlan"}}' >"$SY_TMP/net-conf.json"
fi
gen() { # FLIP: all peers; peer 500's address moved when FLIP=1
	"$PY" - "$PEERS" "$1" <<'PY'
import json, sys
n, flip = int(sys.argv[1]), int(sys.argv[2])
items = [{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "self"},
          "spec": {"podCIDR": "10.100.0.0/24"},
          "status": {"addresses": [{"type": "InternalIP", "address": "10.200.0.1"}]}}]
for i in range(n):
    ip = 0x0ac80000 + 10 + i + (20000 if flip and i == n // 2 else 0)
    items.append({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-%05d" % i},
                  "spec": {"podCIDR": "10.%d.%d.0/24" % (100 + (i + 1) // 256, (i + 1) % 256)},
                  "status": {"addresses": [{"type": "InternalIP", "address":
                      "%d.%d.%d.%d" % (ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255)}]}})
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
PY
}
"$PY" -c 'import json; print(json.dumps({"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Node","metadata":{"name":"self"},"spec":{"podCIDR":"10.100.0.0/24"},"status":{"addresses":[{"type":"InternalIP","address":"10.200.0.1"}]}}]}))' >"$M/nodes.json"
sy_bg "$NS" "$SY_TMP/switchyard.log" "$SWITCHYARD" --pod-network --net-conf "$SY_TMP/net-conf.json" \
	--manifests "$M" --hostname-override self --proxy-mode=iptables \
	--subnet-file "$SY_TMP/subnet.env" --cni-conf-dir "$SY_TMP/cni" \
	--healthz-bind-address= --metrics-bind-address= --min-sync-period "$MINSYNC" -v 2
sy_wait 20 test -s "$SY_TMP/cni/10-switchyard.conflist" || sy_fail "daemon not ready: $(tail -5 "$SY_TMP/switchyard.log")"
gen 0 >"$SY_TMP/all.json"
gen 1 >"$SY_TMP/flip.json"

want=$PEERS
counts() {
	local r n f
	r=$(ip -n "$NS" route show proto 94 | wc -l)
	if [ "$BACKEND" = host-gw ]; then n=$want f=$want; else
		n=$(ip -n "$NS" neigh show dev sy-vx.1 nud permanent | wc -l)
		f=$(bridge -n "$NS" fdb show dev sy-vx.1 | grep -c " dst ")
	fi
	echo "$r $n $f"
}
t0=$(date +%s.%N)
mv "$SY_TMP/all.json" "$M/nodes.json"
while :; do
	c=$(counts)
	[ "$c" = "$want $want $want" ] && break
	t=$(date +%s.%N)
	if [ "$(echo "$t - $t0 > 60" | bc)" = 1 ]; then sy_fail "timeout: $c"; fi
	sleep 0.02
done
t1=$(date +%s.%N)
flipip=$("$PY" -c "n=$PEERS//2; ip=0x0ac80000+10+n+20000; print('%d.%d.%d.%d'%(ip>>24,(ip>>16)&255,(ip>>8)&255,ip&255))")
if [ "$BACKEND" = host-gw ]; then probe="ip -n $NS route show proto 94"; else probe="bridge -n $NS fdb show dev sy-vx.1"; fi
t2=$(date +%s.%N)
mv "$SY_TMP/flip.json" "$M/nodes.json"
until $probe | grep -q " $flipip "; do sleep 0.005; done
t3=$(date +%s.%N)
MINSYNC=$MINSYNC "$PY" - "$PEERS" "$BACKEND" "$t0" "$t1" "$t2" "$t3" <<'PY'
import sys
n, b, t0, t1, t2, t3 = sys.argv[1], sys.argv[2], *map(float, sys.argv[3:])
import os
print("backend=%s peers=%s (daemon + manifest directory, end to end, --min-sync-period %s)"
      % (b, n, os.environ.get("MINSYNC", "1s")))
print("  %s Nodes appear at once: %.0f ms until every route/neighbour/FDB entry is in the kernel"
      % (n, (t1 - t0) * 1000))
print("  one peer's address changes (directory re-read and decoded): %.0f ms until the kernel shows it"
      % ((t3 - t2) * 1000))
PY
grep -E "podnet|pod network" "$SY_TMP/switchyard.log" | grep -E "^E" | head -3
exit 0
