# SPDX-License-Identifier: Apache-2.0
# Runs inside the VM (bench/ipvs-bench.sh --dualstack boots it): N Services
# x 10 endpoints, IPv4-only against dual stack (10 endpoints per family,
# one IPVS instance per family), SY_BENCH_ROUNDS times each, alternating.
# Per run: the first (full) sync's time, the daemon's RSS after it, and the
# median of SY_BENCH_CHANGES one-endpoint changes (an IPv4 and, in dual
# stack, also an IPv6 endpoint).  Prints RESULT lines.
. "$SY_SRC/tests/lib/common.sh"
N=${SY_BENCH_DS_N:-10000}
ROUNDS=${SY_BENCH_ROUNDS:-3}
CHANGES=${SY_BENCH_CHANGES:-5}

res() { echo "RESULT $*"; }
field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p"; }
nsyncs() { grep -c "SyncProxyRules complete" "$1"; }
med() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR ? a[int((NR+1)/2)] : "")}'; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

for kind in v4 dual; do
	flag=; [ $kind = dual ] && flag=--dualstack
	"$PY" "$SY_SRC/bench/ipvs-gen.py" --services "$N" $flag --dir "$SY_TMP/m-$kind" \
		--ipvsadm "$SY_TMP/rules-$kind"
done
declare -A SYNC RSS CHG CHG6
for r in $(seq "$ROUNDS"); do
	for kind in v4 dual; do
		d=$SY_TMP/run-$kind-$r
		rm -rf "$d"; cp -r "$SY_TMP/m-$kind" "$d"
		sy_mkns NS "b$kind$r"
		ip -n "$NS" link add eth0 type dummy 2>/dev/null
		ip -n "$NS" addr add 10.0.1.1/24 dev eth0
		ip -n "$NS" -6 addr add fd00:1::1/64 dev eth0 nodad
		ip -n "$NS" link set eth0 up
		log=$SY_TMP/d-$kind-$r.log
		t0=$(date +%s.%N)
		sy_bg "$NS" "$log" "$SWITCHYARD" --proxy-mode=ipvs --manifests "$d" \
			--hostname-override node1 --healthz-bind-address= --metrics-bind-address= \
			--sync-period 3600s --min-sync-period 0s -v 2 ${SY_BENCH_DS_FLAGS:-}
		pid=$SY_LAST_PID
		sy_wait 1800 grep -q "First sync complete" "$log" || { tail -n 20 "$log"; res "error[$kind]" 1; continue; }
		t1=$(date +%s.%N)
		sleep 2
		el=$(grep "SyncProxyRules complete" "$log" | field elapsed | awk '{s += $1} END {printf "%.0f", s}')
		SYNC[$kind]+=" $el"
		RSS[$kind]+=" $(rss_kb "$pid")"
		echo "# $kind round $r: start to first sync $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}') s, syncs elapsed $el ms, $(nsyncs "$log") sync lines, RSS $(rss_kb "$pid") kB, VS $(ip netns exec "$NS" ipvsadm -Sn | grep -c '^-A')"
		grep "IPVS full sync:" "$log" | sed 's/^.*IPVS full sync: /#   full: /'
		# one-endpoint changes: s0's first IPv4 endpoint (and IPv6 one)
		for v in $(seq "$CHANGES"); do
			c=$(nsyncs "$log")
			sed -i "0,/172\.16\.[0-9]*\.[0-9]*\]/s//172.31.0.$v]/" "$d/svc-00000.yaml"
			for _ in $(seq 300); do sleep 1; [ "$(nsyncs "$log")" -gt "$c" ] && break; done
			sleep 1
			CHG[$kind]+=" $(grep "SyncProxyRules complete" "$log" | tail -n +$((c + 1)) | field elapsed | awk '{s += $1} END {printf "%.2f", s}')"
			if [ $kind = dual ]; then
				c=$(nsyncs "$log")
				sed -i "0,/fd00:172:16::[0-9a-f]*:[0-9a-f]*\"/s//fd00:172:31::$v\"/" "$d/svc-00000.yaml"
				for _ in $(seq 300); do sleep 1; [ "$(nsyncs "$log")" -gt "$c" ] && break; done
				sleep 1
				CHG6[$kind]+=" $(grep "SyncProxyRules complete" "$log" | tail -n +$((c + 1)) | field elapsed | awk '{s += $1} END {printf "%.2f", s}')"
			fi
		done
		grep "SyncProxyRules complete" "$log" | tail -n 4 | sed 's/^/#   /'
		kill "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
		ip netns exec "$NS" "$SWITCHYARD" --cleanup >/dev/null 2>&1
		ip netns del "$NS"
	done
done
for kind in v4 dual; do
	res "ds_sync_ms[$kind]" "$(echo "${SYNC[$kind]}" | med)"
	res "ds_sync_ms_all[$kind]" "$(echo "${SYNC[$kind]}" | tr -s ' ' , | sed 's/^,//')"
	res "ds_rss_kb[$kind]" "$(echo "${RSS[$kind]}" | med)"
	res "ds_rss_kb_all[$kind]" "$(echo "${RSS[$kind]}" | tr -s ' ' , | sed 's/^,//')"
	res "ds_change_ms[$kind]" "$(echo "${CHG[$kind]}" | med)"
	res "ds_change_ms_all[$kind]" "$(echo "${CHG[$kind]}" | tr -s ' ' , | sed 's/^,//')"
done
res "ds_change6_ms[dual]" "$(echo "${CHG6[dual]}" | med)"
res "ds_change6_ms_all[dual]" "$(echo "${CHG6[dual]}" | tr -s ' ' , | sed 's/^,//')"
