# SPDX-License-Identifier: Apache-2.0
# Runs inside the VM (bench/ipvs-bench.sh boots it).  Prints result lines
#   RESULT <key> <value>
# Sync costs come from the daemon's own "SyncProxyRules complete ...
# elapsed=" log line (desired-state update + IPVS/address/ipset writes).
. "$SY_SRC/tests/lib/common.sh"
SIZES=${SY_BENCH_SIZES:-1000 5000 10000}
CHANGES=${SY_BENCH_CHANGES:-5}
TRAFFIC_SECS=${SY_BENCH_SECS:-5}

res() { echo "RESULT $*"; }
last_sync() { grep "SyncProxyRules complete" "$1" | tail -n1; }
field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p"; }
nsyncs() { grep -c "SyncProxyRules complete" "$1"; }

start_daemon() { # NS DIR LOG
	sy_bg "$1" "$3" "$SWITCHYARD" --proxy-mode=ipvs --manifests "$2" --hostname-override node1 \
		--healthz-bind-address= --metrics-bind-address= --sync-period "${SY_SYNC_PERIOD:-3600s}" \
		--min-sync-period 0s -v 2
	SY_DPID=$SY_LAST_PID
	sy_wait 900 grep -q "First sync complete" "$3" || { tail -n 20 "$3"; return 1; }
}
stop_daemon() { kill "$SY_DPID"; while kill -0 "$SY_DPID" 2>/dev/null; do sleep 0.1; done; }

# rewrite svc-00000.yaml with Service s0's first endpoint replaced (v = variant)
change_one() { # DIR N VARIANT
	sed -i "0,/172\.16\.[0-9]*\.[0-9]*\]/s//172.31.$(($3 / 250)).$(($3 % 250 + 1))]/" "$1/svc-00000.yaml"
}

for n in $SIZES; do
	d=$SY_TMP/m$n
	"$PY" "$SY_SRC/bench/ipvs-gen.py" --services "$n" --dir "$d" --ipvsadm "$SY_TMP/rules$n" \
		--ipset "$SY_TMP/sets$n"
	# the references, in a fresh netns: ipvsadm -R restoring the same virtual
	# servers, ipset restore adding the same set entries
	sy_mkns R "ref$n"
	t0=$(date +%s.%N)
	ip netns exec "$R" ipvsadm -R <"$SY_TMP/rules$n"
	t1=$(date +%s.%N)
	res "ipvsadm_restore_s[$n]" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')"
	t0=$(date +%s.%N)
	ip netns exec "$R" ipset restore <"$SY_TMP/sets$n"
	t1=$(date +%s.%N)
	res "ipset_restore_s[$n]" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')"
	ip netns exec "$R" ipset destroy
	res "ipvsadm_restore_vs[$n]" "$(ip netns exec "$R" ipvsadm -Sn | grep -c '^-A')"
	ip netns exec "$R" ipvsadm -C

	sy_mkns N "node$n"
	log=$SY_TMP/d$n.log
	start_daemon "$N" "$d" "$log" || { res "error[$n]" "daemon did not sync"; continue; }
	l=$(grep "SyncProxyRules complete" "$log" | head -n1)
	res "full_sync_ms[$n]" "$(echo "$l" | field elapsed)"
	res "full_sync_writes[$n]" "$(echo "$l" | field writes)"
	b=$(grep "IPVS full sync:" "$log" | head -n1)
	res "full_sync_ipvs_ms[$n]" "$(echo "$b" | sed -n 's/.*addresses+virtual servers \([0-9.]*\) ms.*/\1/p')"
	res "full_sync_sets_ms[$n]" "$(echo "$b" | sed -n 's/.*sets+unbind \([0-9.]*\) ms.*/\1/p')"
	res "vs[$n]" "$(ip netns exec "$N" ipvsadm -Sn | grep -c '^-A')"
	res "rs[$n]" "$(ip netns exec "$N" ipvsadm -Sn | grep -c '^-a')"
	res "iptables_rules[$n]" "$(ip netns exec "$N" iptables-legacy-save | grep -c '^-A .*SY-IPVS')"
	# one endpoint change, CHANGES times
	vals=()
	for v in $(seq 1 "$CHANGES"); do
		c=$(nsyncs "$log")
		change_one "$d" "$n" "$v"
		# wait quietly: the guest has one vCPU, and a poll every 0.1 s (a
		# fork of bash and grep, tens of ms each under emulation) would
		# preempt the very sync being timed
		for _ in $(seq 300); do
			sleep 1
			[ "$(nsyncs "$log")" -gt "$c" ] && break
		done
		l=$(last_sync "$log")
		vals+=("$(echo "$l" | field elapsed)")
		res "change_writes[$n]" "$(echo "$l" | field writes)"
	done
	res "change_ms[$n]" "$(printf '%s\n' "${vals[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
	res "change_ms_all[$n]" "$(echo "${vals[*]}" | tr ' ' ,)"
	grep "IPVS partial sync:" "$log" | tail -n "$CHANGES" | sed 's/^.*IPVS partial sync: /# partial: /'
	# when each change's sync ran (klog time) and what it took, for phase analysis
	grep "SyncProxyRules complete" "$log" | tail -n "$CHANGES" |
		sed -n 's/^I[0-9]* \([0-9:.]*\) .* elapsed=\([0-9.]*\)ms.*/# sync-at: \1 \2/p'
	# restart: the first full sync of a new process reads every set in full
	# and writes nothing; then a periodic full resync (sets trusted, counts only)
	stop_daemon
	log2=$SY_TMP/d$n-restart.log
	SY_SYNC_PERIOD=20s start_daemon "$N" "$d" "$log2"
	l=$(grep "SyncProxyRules complete" "$log2" | head -n1)
	res "restart_full_sync_ms[$n]" "$(echo "$l" | field elapsed)"
	res "restart_full_sync_writes[$n]" "$(echo "$l" | field writes)"
	sy_wait 900 bash -c "[ \$(grep -c 'SyncProxyRules complete' $log2) -gt 1 ]"
	l=$(grep "SyncProxyRules complete" "$log2" | sed -n 2p)
	res "noop_full_sync_ms[$n]" "$(echo "$l" | field elapsed)"
	res "noop_full_sync_writes[$n]" "$(echo "$l" | field writes)"
	grep "IPVS full sync:" "$log2" | sed -n 2p | sed 's/^.*IPVS full sync: /# periodic full: /'
	stop_daemon
	ip netns exec "$N" "$SWITCHYARD" --cleanup >/dev/null 2>&1
	ip netns del "$N"; ip netns del "$R"
done

# ---- data path: wrk (new connection per request) and iperf3, ClusterIP vs pod
[ -n "${SY_BENCH_TRAFFIC-1}" ] || exit 0
sy_mkns N tnode
sy_mkns C tclient
sy_mkns P tpod
sy_veth "$N" eth-c 10.0.1.1/24 "$C" eth0 10.0.1.2/24
# a second client for the direct runs: a connection straight to the pod
# must not reuse a source port that an IPVS connection of the previous
# ClusterIP run still holds (IPVS would rewrite its replies)
sy_mkns C2 tclient2
sy_veth "$N" eth-d 10.0.3.1/24 "$C2" eth0 10.0.3.2/24
ip -n "$C2" route add default via 10.0.3.1
sy_veth "$N" eth-p 10.0.2.1/24 "$P" eth0 10.0.2.2/24
ip -n "$C" route add default via 10.0.1.1
ip -n "$P" route add default via 10.0.2.1
ip netns exec "$N" sysctl -qw net.ipv4.ip_forward=1
mkdir -p "$SY_TMP/www" && echo hello >"$SY_TMP/www/index.html"
sy_bg "$P" "$SY_TMP/httpd.log" busybox httpd -f -p 8080 -h "$SY_TMP/www"
sy_bg "$P" "$SY_TMP/iperf.log" iperf3 -s -p 5201
d=$SY_TMP/traffic
mkdir -p "$d"
cat >"$d/web.yaml" <<'Y'
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: 10.96.0.10
  ports: [{name: http, port: 80, targetPort: 8080}, {name: iperf, port: 5201, targetPort: 5201}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}, {name: iperf, port: 5201}]
endpoints:
- {addresses: [10.0.2.2], conditions: {ready: true}}
Y
log=$SY_TMP/traffic.log
start_daemon "$N" "$d" "$log" || exit 1
sleep 1
# ROUNDS alternating runs of each (ClusterIP, then pod); the median of each
# (one emulated run is noisy)
ROUNDS=${SY_BENCH_ROUNDS:-3}
wrk_rps() { # NS URL
	ip netns exec "$1" wrk -t1 -c4 -d"${TRAFFIC_SECS}s" -H 'Connection: close' "$2" 2>&1 |
		awk '/Requests\/sec/ {print $2}'
}
iperf_mbps() { # NS HOST
	ip netns exec "$1" iperf3 -c "$2" -p 5201 -t "$TRAFFIC_SECS" -J 2>/dev/null |
		"$PY" -c 'import json,sys; print("%.0f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e6))' 2>/dev/null
}
med() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR ? a[int((NR+1)/2)] : 0)}'; }
measure() { # LABEL
	local wc=() wp=() ic=() ip_=() i
	for i in $(seq "$ROUNDS"); do
		wc+=("$(wrk_rps "$C" http://10.96.0.10:80/)")
		wp+=("$(wrk_rps "$C2" http://10.0.2.2:8080/)")
		ic+=("$(iperf_mbps "$C" 10.96.0.10)")
		ip_+=("$(iperf_mbps "$C2" 10.0.2.2)")
	done
	res "wrk_rps_clusterip[$1]" "$(echo "${wc[*]}" | med)"
	res "wrk_rps_pod[$1]" "$(echo "${wp[*]}" | med)"
	res "iperf_mbps_clusterip[$1]" "$(echo "${ic[*]}" | med)"
	res "iperf_mbps_pod[$1]" "$(echo "${ip_[*]}" | med)"
	echo "# traffic[$1] wrk ClusterIP ${wc[*]} / pod ${wp[*]}; iperf3 ClusterIP ${ic[*]} / pod ${ip_[*]}"
}
measure 0
big=${SY_BENCH_TRAFFIC_N:-10000}
c=$(nsyncs "$log")
"$PY" "$SY_SRC/bench/ipvs-gen.py" --services "$big" --dir "$d" --ipvsadm "$SY_TMP/rules-t"
sy_wait 900 bash -c "[ \$(grep -c 'SyncProxyRules complete' $log) -gt $c ]"
sy_wait 900 bash -c "[ \$(ip netns exec $N ipvsadm -Sn | grep -c '^-A') -ge $big ]"
# idle: no new sync for 5 s (the generator wrote several files)
while :; do c=$(nsyncs "$log"); sleep 5; [ "$(nsyncs "$log")" = "$c" ] && break; done
res "traffic_vs[$big]" "$(ip netns exec "$N" ipvsadm -Sn | grep -c '^-A')"
measure "$big"
stop_daemon
