# SPDX-License-Identifier: Apache-2.0
# Inside the VM: graceful termination of a live TCP connection.  The
# endpoint serving it is removed from the manifest: its real server goes to
# weight 0 (visible in ipvsadm), the connection keeps working, new
# connections avoid it; once the connection closes, the real server is
# deleted.
. "$SY_SRC/tests/lib/common.sh"
. "$SY_SRC/tests/vm/guest/lib.sh"

vm_topology
HOLD=()
for i in 0 1 2; do
	SY_BG_NOWAIT=1 sy_bg "${PODS[$i]}" "$SY_TMP/hold-$i.log" "$PY" "$SY_SRC/tests/lib/echo_server.py" \
		--proto tcp --port 8081 --name "p$((i + 1))" --hold
	HOLD+=("$SY_LAST_PID")
done
sy_wait_servers "${HOLD[@]}"
for i in 0 1 2; do
	sy_wait 90 bash -c "ip netns exec ${PODS[$i]} ss -Htln 'sport = :8081' | grep -q ." ||
		sy_fail "hold server p$((i + 1)) did not start"
done
vm_svc "$M/hold.yaml" hold 10.96.0.30 "hold:81:8081:TCP" "${POD_IPS[*]}"
vm_daemon --sync-period 2s || { notok "daemon starts"; vm_checks_done; }

sy_bg "$CLIENT" "$SY_TMP/live.txt" "$PY" "$SY_SRC/tests/vm/guest/live_conn.py" --host 10.96.0.30 \
	--port 81 --stop "$SY_TMP/stop" --rst
sy_wait 60 grep -q "^first p" "$SY_TMP/live.txt" || { notok "live connection established"; vm_checks_done; }
pod=$(awk '/^first/ {print $2}' "$SY_TMP/live.txt")
idx=${pod#p}
ip=${POD_IPS[$((idx - 1))]}
ok "live connection established to $pod ($ip)"
vm_rs 10.96.0.30:81 | sed 's/^/#   /'
check "its real server counts one active connection" \
	bash -c "ip netns exec $NODE ipvsadm -Ln -t 10.96.0.30:81 | grep -q '$ip:8081 *Masq *1 *1 '"

# remove that endpoint
keep=""
for e in "${POD_IPS[@]}"; do [ "$e" = "$ip" ] || keep="$keep $e"; done
vm_svc "$M/hold.yaml" hold 10.96.0.30 "hold:81:8081:TCP" "$keep"
sy_wait 20 bash -c "ip netns exec $NODE ipvsadm -Ln -t 10.96.0.30:81 | grep -q '$ip:8081 *Masq *0 '"
vm_rs 10.96.0.30:81 | sed 's/^/#   /'
check "removed endpoint: real server kept with weight 0 (connection draining)" \
	bash -c "ip netns exec $NODE ipvsadm -Ln -t 10.96.0.30:81 | grep -q '$ip:8081 *Masq *0 *1 '"
grep "drained" "$DLOG" | sed 's/^/#   /'

vm_ask "$CLIENT" tcp 10.96.0.30 81 4 >"$SY_TMP/new.txt"
check "new connections go only to the remaining endpoints" \
	bash -c "[ \$(grep -c '^p[123] ' $SY_TMP/new.txt) = 4 ] && ! grep -q '^$pod ' $SY_TMP/new.txt"
# several full resyncs (2 s) pass while the connection lives
n=$(vm_syncs)
vm_wait_sync $((n + 2)) 30
check "still weight 0 after resyncs while the connection lives" \
	bash -c "ip netns exec $NODE ipvsadm -Ln -t 10.96.0.30:81 | grep -q '$ip:8081 *Masq *0 *1 '"
check "the live connection still works ($(tail -n1 "$SY_TMP/live.txt"))" \
	bash -c "! grep -q '^dead' $SY_TMP/live.txt && kill -0 $SY_LAST_PID"

# close it (RST): the real server goes once IPVS forgets the connection
touch "$SY_TMP/stop"
sy_wait 30 grep -q "^alive\|^dead" "$SY_TMP/live.txt"
check "the connection worked until it was closed ($(tail -n1 "$SY_TMP/live.txt"))" \
	grep -q "^alive [1-9]" "$SY_TMP/live.txt"
ip netns exec "$NODE" ipvsadm -Lnc | sed 's/^/#   /'
t0=$SECONDS
sy_wait 40 bash -c "! ip netns exec $NODE ipvsadm -Ln -t 10.96.0.30:81 | grep -q '$ip:8081'"
check "after the close the drained real server is deleted ($((SECONDS - t0)) s)" \
	bash -c "! ip netns exec $NODE ipvsadm -Ln -t 10.96.0.30:81 | grep -q '$ip:8081'"
grep "deleted drained" "$DLOG" | sed 's/^/#   /'
check "remaining real servers untouched (2, weight 1)" \
	[ "$(vm_rs 10.96.0.30:81 | grep -c 'Masq 1 ')" = 2 ]
vm_checks_done
