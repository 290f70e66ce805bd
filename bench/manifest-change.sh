#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/manifest-change.sh [SERVICES] [FILES] [ENDPOINTS]: one edited
# manifest file at scale, through the whole daemon (iptables mode, or MODE).
# SERVICES Services (default 10000) with one EndpointSlice of ENDPOINTS
# endpoints each (default 10; bench/k8s-gen.py's objects) spread over FILES
# files (default 100) in a manifest directory.  After the first sync, one
# endpoint IP of one Service changes in one file (written and renamed into
# place, 5 times, 3 s apart) and the script prints, per change, the time from
# the rename to
#   reload: the daemon re-read the changed file ("1 changed files reloaded in
#           X ms": X is the daemon's own cost of reading it)
#   kernel: the sync that carries the change completed (its log line; the new
#           endpoint is then checked in iptables-legacy-save)
# from the daemon's log timestamps (-v 2), and the same two from the daemon's
# receipt of the inotify event ("change notified", logged when it reads the
# event), and the medians.  Numbers only;
# never passes or fails on them.
#   SY_BUILD=build bench/manifest-change.sh 10000 100
#   MINSYNC=0s bench/manifest-change.sh        # without kube-proxy's 1 s rate limit
#   MODE=nftables bench/manifest-change.sh     # the nftables mode (default iptables)
set -u
N=${1:-10000}
FILES=${2:-100}
E=${3:-10}
MINSYNC=${MINSYNC:-1s}
MODE=${MODE:-iptables}
HERE=$(cd "$(dirname "$0")" && pwd)
export SY_SRC=${SY_SRC:-$(cd "$HERE/.." && pwd)}
. "$SY_SRC/tests/lib/common.sh"
command -v iptables-legacy-save >/dev/null || sy_skip "iptables-legacy-save missing"

sy_mkns NS node
# the namespace's tables are private: so is the lock (/run/xtables.lock is
# shared with every other iptables user on the host, whose use makes a
# partial sync read the tables back)
export SY_XTABLES_LOCK=${SY_XTABLES_LOCK:-$SY_TMP/xtables.lock}
M=$SY_TMP/manifests
mkdir -p "$M"
"$PY" "$HERE/k8s-gen.py" "$N" "$E" >"$SY_TMP/all.json"
# split: the Node in nodes.json, Service i and its slice in file i % FILES
"$PY" - "$SY_TMP/all.json" "$M" "$FILES" <<'PY'
import json, sys
items = json.load(open(sys.argv[1]))["items"]
d, files = sys.argv[2], int(sys.argv[3])
buckets = [[] for _ in range(files)]
svcs = [o for o in items if o["kind"] == "Service"]
idx = {o["metadata"]["name"]: i for i, o in enumerate(svcs)}
for o in items:
    if o["kind"] == "Node":
        json.dump(o, open(d + "/nodes.json", "w"))
        continue
    name = o["metadata"]["name"] if o["kind"] == "Service" else \
        o["metadata"]["labels"]["kubernetes.io/service-name"]
    buckets[idx[name] % files].append(o)
for i, b in enumerate(buckets):
    json.dump({"apiVersion": "v1", "kind": "List", "items": b},
              open("%s/svc-%03d.json" % (d, i), "w"))
PY
sy_bg "$NS" "$SY_TMP/switchyard.log" "$SWITCHYARD" --proxy-mode="$MODE" --manifests "$M" \
	--hostname-override node-a --healthz-bind-address= --metrics-bind-address= \
	--min-sync-period "$MINSYNC" -v 2
sy_wait 300 grep -q "First sync complete" "$SY_TMP/switchyard.log" ||
	sy_fail "no first sync: $(tail -5 "$SY_TMP/switchyard.log")"
grep "First sync complete" "$SY_TMP/switchyard.log" | sed 's/^.*] //'
sleep 3

# the Service to change: the one in the middle; its file
target=$(printf 'svc-%05d' $((N / 2)))
file=$(printf '%s/svc-%03d.json' "$M" $(((N / 2) % FILES)))
results=()
for round in 1 2 3 4 5; do
	newip="10.250.$round.$((N % 200 + 1))"
	"$PY" - "$file" "$target" "$newip" >"$SY_TMP/edit.json" <<'PY'
import json, sys
f, target, ip = sys.argv[1:]
doc = json.load(open(f))
for o in doc["items"]:
    if o["kind"] == "EndpointSlice" and o["metadata"]["labels"]["kubernetes.io/service-name"] == target:
        o["endpoints"][0]["addresses"] = [ip]
json.dump(doc, sys.stdout)
PY
	lines=$(wc -l <"$SY_TMP/switchyard.log")
	t0=$(date +%s.%N)
	mv "$SY_TMP/edit.json" "$file"
	sy_wait 30 sh -c "tail -n +$((lines + 1)) '$SY_TMP/switchyard.log' | sed -n '/changed files reloaded/,\$p' | grep -q 'SyncProxyRules complete'" ||
		sy_fail "no sync after the change: $(tail -5 "$SY_TMP/switchyard.log")"
	if [ "$MODE" = nftables ]; then
		ip netns exec "$NS" nft list table ip switchyard | grep -q -- "$newip" ||
			sy_fail "the new endpoint $newip is not in the kernel"
	else
		ip netns exec "$NS" iptables-legacy-save -t nat | grep -q -- "-s $newip/32" ||
			sy_fail "the new endpoint $newip is not in the kernel"
	fi
	r=$(tail -n +$((lines + 1)) "$SY_TMP/switchyard.log" | "$PY" -c '
import sys, datetime
t0 = datetime.datetime.fromtimestamp(float(sys.argv[1]))
sod0 = t0.hour * 3600 + t0.minute * 60 + t0.second + t0.microsecond / 1e6
reload = kernel = cost = cpu = notified = None
for l in sys.stdin:
    hms = l.split()[1]
    h, m, s = hms.split(":")
    t = int(h) * 3600 + int(m) * 60 + float(s)
    if notified is None and "change notified" in l:
        notified = t
    if reload is None and "changed files reloaded" in l:
        reload = t - sod0
        cost = float(l.split("reloaded in ")[1].split()[0])
        cpu = float(l.split("ms (")[1].split()[0])
    if kernel is None and reload is not None and "SyncProxyRules complete" in l:
        kernel = t - sod0	# the first sync after the reload carries the change
# from the daemon reading the inotify event (older daemons: from the rename)
n = notified - sod0 if notified is not None else 0.0
print("%.3f %.3f %.1f %.1f %.3f %.3f" % (reload, kernel, cost, cpu, reload - n, kernel - n))' "$t0")
	read -r a b c d e f <<<"$r"
	echo "change $round: reading the file $c ms ($d ms CPU); rename -> reloaded $a s, rename -> kernel $b s; event received -> reloaded $e s, -> kernel $f s"
	tail -n +$((lines + 1)) "$SY_TMP/switchyard.log" | grep -m1 "SyncProxyRules complete" | sed 's/^.*elapsed=/  sync: elapsed=/'
	results+=("$r")
	sleep 3
done
printf '%s\n' "${results[@]}" | "$PY" -c '
import sys, statistics
rows = [tuple(map(float, l.split())) for l in sys.stdin if l.strip()]
print("median of %d: reading the changed file %.1f ms (%.1f ms CPU); rename -> reloaded %.3f s, rename -> kernel %.3f s; event received -> reloaded %.3f s, -> kernel %.3f s (%s Services x %s endpoints in %s files, %s mode, --min-sync-period %s)"
      % (len(rows), statistics.median(r[2] for r in rows), statistics.median(r[3] for r in rows),
         statistics.median(r[0] for r in rows),
         statistics.median(r[1] for r in rows),
         statistics.median(r[4] for r in rows),
         statistics.median(r[5] for r in rows),
         sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[5], sys.argv[4]))' "$N" "$E" "$FILES" "$MINSYNC" "$MODE"
grep "SyncProxyRules complete" "$SY_TMP/switchyard.log" | tail -1 | sed 's/^.*] //'
exit 0
