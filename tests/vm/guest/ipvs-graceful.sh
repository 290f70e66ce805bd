# SPDX-License-Identifier: Apache-2.0
# Inside the VM: graceful termination of a live TCP connection, over IPv4
# and IPv6 at once (a dual-stack Service: one live connection to each
# ClusterIP).  The endpoint serving each connection is removed from the
# manifest: its real server goes to weight 0 (visible in ipvsadm), the
# connection keeps working, new connections avoid it; once the connection
# closes, the real server is deleted.
. "$SY_SRC/tests/lib/common.sh"
. "$SY_SRC/tests/vm/guest/lib.sh"

vm_topology
vm_topology6
HOLD=()
for i in 0 1 2; do
	SY_BG_NOWAIT=1 sy_bg "${PODS[$i]}" "$SY_TMP/hold-$i.log" "$PY" "$SY_SRC/tests/lib/echo_server.py" \
		--proto tcp --port 8081 --name "p$((i + 1))" --hold --bind ::
	HOLD+=("$SY_LAST_PID")
done
sy_wait_servers "${HOLD[@]}"
for i in 0 1 2; do
	sy_wait 90 bash -c "ip netns exec ${PODS[$i]} ss -Htln 'sport = :8081' | grep -q ." ||
		sy_fail "hold server p$((i + 1)) did not start"
done
CIP6=fd00:96::30 vm_svc "$M/hold.yaml" hold 10.96.0.30 "hold:81:8081:TCP" "${POD_IPS[*]}"
vm_daemon --sync-period 2s || { notok "daemon starts"; vm_checks_done; }

# per family: VS (ipvsadm's form), live connection's pod, its real server
VS4=10.96.0.30:81 VS6=[fd00:96::30]:81
declare -A POD IP LIVE
for f in 4 6; do
	host=10.96.0.30; [ $f = 6 ] && host=fd00:96::30
	sy_bg "$CLIENT" "$SY_TMP/live$f.txt" "$PY" "$SY_SRC/tests/vm/guest/live_conn.py" --host $host \
		--port 81 --stop "$SY_TMP/stop" --rst
	LIVE[$f]=$SY_LAST_PID
done
for f in 4 6; do
	sy_wait 60 grep -q "^first p" "$SY_TMP/live$f.txt" || { notok "IPv$f live connection established"; vm_checks_done; }
	POD[$f]=$(awk '/^first/ {print $2}' "$SY_TMP/live$f.txt")
	IP[$f]=${POD_IPS[$((${POD[$f]#p} - 1))]}
	[ $f = 6 ] && IP[$f]=[$(vm_ip6 "${IP[$f]}")]
	ok "IPv$f live connection established to ${POD[$f]} (${IP[$f]})"
done
vs() { local v=VS$1; echo "${!v}"; }
# rs_is F WEIGHT ACTIVE: the live connection's real server has that weight and ActiveConn
rs_is() { ip netns exec "$NODE" ipvsadm -Ln -t "$(vs "$1")" | grep -qF "${IP[$1]}:8081" &&
	ip netns exec "$NODE" ipvsadm -Ln -t "$(vs "$1")" | grep -F "${IP[$1]}:8081" | grep -q " Masq *$2 *${3:-}"; }
for f in 4 6; do
	vm_rs "$(vs $f)" | sed 's/^/#   /'
	check "IPv$f: its real server counts one active connection" rs_is $f 1 "1 "
done

# remove those endpoints (the pods serving either connection)
keep=""
for e in "${POD_IPS[@]}"; do
	[ "$e" = "${IP[4]}" ] || [ "[$(vm_ip6 "$e")]" = "${IP[6]}" ] || keep="$keep $e"
done
CIP6=fd00:96::30 vm_svc "$M/hold.yaml" hold 10.96.0.30 "hold:81:8081:TCP" "$keep"
sy_wait 20 bash -c "$(declare -f vs rs_is); $(declare -p VS4 VS6 IP NODE); rs_is 4 0 && rs_is 6 0"
for f in 4 6; do
	vm_rs "$(vs $f)" | sed 's/^/#   /'
	check "IPv$f removed endpoint: real server kept with weight 0 (connection draining)" rs_is $f 0 "1 "
done
grep "drained" "$DLOG" | sed 's/^/#   /'

printf 'v4 tcp 10.96.0.30 81 4\nv6 tcp fd00:96::30 81 4\n' | ip netns exec "$CLIENT" "$SY_ECHO" ask 2000 >"$SY_TMP/new.txt"
sed 's/^/#   /' "$SY_TMP/new.txt"
for f in 4 6; do
	check "IPv$f new connections go only to the remaining endpoints" \
		bash -c "[ \$(grep -c '^v$f p[123] ' $SY_TMP/new.txt) = 4 ] && ! grep -q '^v$f ${POD[4]} \|^v$f ${POD[6]} ' $SY_TMP/new.txt"
done
# several full resyncs (2 s) pass while the connections live
n=$(vm_syncs)
vm_wait_sync $((n + 2)) 30
for f in 4 6; do
	check "IPv$f still weight 0 after resyncs while the connection lives" rs_is $f 0 "1 "
	check "IPv$f the live connection still works ($(tail -n1 "$SY_TMP/live$f.txt"))" \
		bash -c "! grep -q '^dead' $SY_TMP/live$f.txt && kill -0 ${LIVE[$f]}"
done

# close them (RST): the real servers go once IPVS forgets the connections
touch "$SY_TMP/stop"
for f in 4 6; do
	sy_wait 30 grep -q "^alive\|^dead" "$SY_TMP/live$f.txt"
	check "IPv$f the connection worked until it was closed ($(tail -n1 "$SY_TMP/live$f.txt"))" \
		grep -q "^alive [1-9]" "$SY_TMP/live$f.txt"
done
ip netns exec "$NODE" ipvsadm -Lnc | sed 's/^/#   /'
t0=$SECONDS
sy_wait 40 bash -c "! ip netns exec $NODE ipvsadm -Ln -t $VS4 | grep -qF '${IP[4]}:8081' && ! ip netns exec $NODE ipvsadm -Ln -t '$VS6' | grep -qF '${IP[6]}:8081'"
for f in 4 6; do
	check "IPv$f after the close the drained real server is deleted ($((SECONDS - t0)) s)" \
		bash -c "! ip netns exec $NODE ipvsadm -Ln -t '$(vs $f)' | grep -qF '${IP[$f]}:8081'"
	check "IPv$f remaining real servers untouched ($(echo $keep | wc -w), weight 1)" \
		[ "$(vm_rs "$(vs $f)" | grep -c 'Masq 1 ')" = "$(echo $keep | wc -w)" ]
done
grep "deleted drained" "$DLOG" | sed 's/^/#   /'
vm_checks_done
