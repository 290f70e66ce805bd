# SPDX-License-Identifier: Apache-2.0
# Inside the VM: the IPVS mode end to end (balancing, state read back,
# NodePort from outside, masquerade, REJECT, no-op sync, drift repair,
# restart, --cleanup).
. "$SY_SRC/tests/lib/common.sh"
. "$SY_SRC/tests/vm/guest/lib.sh"

vm_topology
vm_pod_servers
vm_svc "$M/web.yaml" web 10.96.0.10 "http:80:8080:TCP:30080,dns:53:5353:UDP:30053" \
	"${POD_IPS[*]}" "  type: NodePort"
vm_svc "$M/empty.yaml" empty 10.96.0.20 "http:80:8080:TCP" ""
vm_svc "$M/hold.yaml" hold 10.96.0.30 "hold:81:8081:TCP" "${POD_IPS[*]}"
# an endpoint on another node: no hairpin entry (it cannot loop back here)
EP_NODE=node2 vm_svc "$M/remote.yaml" remote 10.96.0.40 "http:80:8080:TCP" "10.0.9.9"
HOLD=()
for i in 0 1 2; do
	SY_BG_NOWAIT=1 sy_bg "${PODS[$i]}" "$SY_TMP/hold-$i.log" "$PY" "$SY_SRC/tests/lib/echo_server.py" \
		--proto tcp --port 8081 --name "p$((i + 1))" --hold
	HOLD+=("$SY_LAST_PID")
done
sy_wait_servers "${HOLD[@]}"

vm_daemon --sync-period 2s || { notok "daemon starts and syncs"; vm_checks_done; }
ok "daemon starts and syncs (Using ipvs Proxier)"
grep -q "Using ipvs Proxier" "$DLOG" || notok "log line Using ipvs Proxier"

# --- state read back with the real tools
ipvs -Ln >"$SY_TMP/ipvs.txt"
sed 's/^/#   /' "$SY_TMP/ipvs.txt"
check "ipvsadm: TCP 10.96.0.10:80 rr" grep -q "^TCP  10.96.0.10:80 rr" "$SY_TMP/ipvs.txt"
check "ipvsadm: UDP 10.96.0.10:53 rr" grep -q "^UDP  10.96.0.10:53 rr" "$SY_TMP/ipvs.txt"
check "ipvsadm: 3 Masq real servers on :8080" \
	[ "$(vm_rs 10.96.0.10:80 | grep -c -E '^10\.0\.2\.(2|6|10):8080 Masq 1')" = 3 ]
check "ipvsadm: NodePort VS on the node address" grep -q "^TCP  $NODE_IP:30080 rr" "$SY_TMP/ipvs.txt"
check "ipvsadm: empty Service has a VS with no real server" \
	bash -c "[ -z \"\$(ip netns exec $NODE ipvsadm -Ln -t 10.96.0.20:80 | awk '\$1==\"->\" && \$2 != \"RemoteAddress:Port\"')\" ]"
ip -n "$NODE" addr show kube-ipvs0 >"$SY_TMP/dev.txt"
sed 's/^/#   /' "$SY_TMP/dev.txt"
check "kube-ipvs0 exists and is DOWN" grep -q "state DOWN" "$SY_TMP/dev.txt"
check "kube-ipvs0 holds 10.96.0.10/32 and 10.96.0.20/32" \
	bash -c "grep -q 'inet 10.96.0.10/32' $SY_TMP/dev.txt && grep -q 'inet 10.96.0.20/32' $SY_TMP/dev.txt"
ip netns exec "$NODE" ipset list >"$SY_TMP/sets.txt"
check "ipset SY-CLUSTER-IP has 10.96.0.10,tcp:80 and 10.96.0.10,udp:53" \
	bash -c "ip netns exec $NODE ipset -q test SY-CLUSTER-IP 10.96.0.10,tcp:80 && ip netns exec $NODE ipset -q test SY-CLUSTER-IP 10.96.0.10,udp:53"
check "ipset SY-NODE-PORT-TCP has 30080" ip netns exec "$NODE" ipset -q test SY-NODE-PORT-TCP 30080
check "ipset SY-LOOP-BACK has 10.0.2.6,tcp:8080,10.0.2.6" \
	ip netns exec "$NODE" ipset -q test SY-LOOP-BACK 10.0.2.6,tcp:8080,10.0.2.6
check "ipset SY-LOOP-BACK lacks the remote endpoint 10.0.9.9 (only local ones loop back)" \
	bash -c "! ip netns exec $NODE ipset -q test SY-LOOP-BACK 10.0.9.9,tcp:8080,10.0.9.9 && ip netns exec $NODE ipvsadm -Ln -t 10.96.0.40:80 | grep -q '10.0.9.9:8080'"
check "ipset SY-NO-ENDPOINTS has 10.96.0.20,tcp:80" \
	ip netns exec "$NODE" ipset -q test SY-NO-ENDPOINTS 10.96.0.20,tcp:80
ip netns exec "$NODE" iptables-legacy-save >"$SY_TMP/ipt.txt"
check "iptables: PREROUTING jumps to SY-IPVS-SERVICES" grep -q -- "-A PREROUTING -j SY-IPVS-SERVICES" "$SY_TMP/ipt.txt"
check "iptables: masquerade rule on the mark" grep -q -- "-A SY-IPVS-POSTROUTING -j MASQUERADE --random-fully" "$SY_TMP/ipt.txt"
check "iptables: NodePort set matched" grep -q -- "--match-set SY-NODE-PORT-TCP dst -j SY-IPVS-MARK-MASQ" "$SY_TMP/ipt.txt"
check "iptables: REJECT on SY-NO-ENDPOINTS" grep -q -- "--match-set SY-NO-ENDPOINTS dst,dst -j REJECT" "$SY_TMP/ipt.txt"
grep SY- "$SY_TMP/ipt.txt" | sed 's/^/#   /'

# --- real traffic: ClusterIP round robin (rr: exact rotation)
vm_ask "$CLIENT" tcp 10.96.0.10 80 6 >"$SY_TMP/rr.txt"
sed 's/^/#   /' "$SY_TMP/rr.txt"
check "TCP ClusterIP: 6 answers" [ "$(grep -c '^p[123] ' "$SY_TMP/rr.txt")" = 6 ]
check "TCP ClusterIP rr: each pod exactly twice" \
	bash -c "[ \"\$(cut -d' ' -f1 $SY_TMP/rr.txt | sort | uniq -c | awk '{print \$1}' | sort -u)\" = 2 ]"
check "TCP ClusterIP rr: strict rotation" \
	bash -c "a=(\$(cut -d' ' -f1 $SY_TMP/rr.txt)); [ \${a[0]} = \${a[3]} ] && [ \${a[1]} = \${a[4]} ] && [ \${a[2]} = \${a[5]} ] && [ \${a[0]} != \${a[1]} ] && [ \${a[1]} != \${a[2]} ]"
check "no masquerade for ClusterIP by default: pod sees the client IP" \
	grep -q "^p[123] $CLIENT_IP\$" "$SY_TMP/rr.txt"
vm_ask "$CLIENT" udp 10.96.0.10 53 3 >"$SY_TMP/udp.txt"
check "UDP ClusterIP: 3 pods answer" [ "$(cut -d' ' -f1 "$SY_TMP/udp.txt" | sort -u | wc -l)" = 3 ]

# --- NodePort from outside the node: masqueraded (pod sees the node's address)
vm_ask "$CLIENT" tcp $NODE_IP 30080 3 >"$SY_TMP/np.txt"
sed 's/^/#   /' "$SY_TMP/np.txt"
check "NodePort TCP from outside answers" [ "$(grep -c '^p[123] ' "$SY_TMP/np.txt")" = 3 ]
check "NodePort is masqueraded (source = node address, not the client)" \
	bash -c "! grep -q ' $CLIENT_IP\$' $SY_TMP/np.txt && grep -q ' 10\.0\.2\.\(1\|5\|9\)\$' $SY_TMP/np.txt"
vm_ask "$CLIENT" udp $NODE_IP 30053 2 >"$SY_TMP/npu.txt"
check "NodePort UDP from outside answers" [ "$(grep -c '^p[123] ' "$SY_TMP/npu.txt")" = 2 ]

# --- no endpoints: REJECT (connection refused at once, not a timeout)
ip netns exec "$CLIENT" "$PY" "$SY_SRC/tests/lib/echo_client.py" --proto tcp --host 10.96.0.20 \
	--port 80 --timeout 3 >/dev/null 2>&1
rc=$?
check "Service without endpoints is REJECTed (client exit 2 = refused), got $rc" [ $rc = 2 ]
c=$(ip netns exec "$NODE" iptables-legacy -t filter -L SY-IPVS-FILTER -v -n -x | awk '/REJECT/ {print $1}')
check "the REJECT rule counted the packet ($c)" [ "${c:-0}" -ge 1 ]

# --- a sync with nothing to do writes nothing (full resync, --sync-period 2s)
n=$(vm_syncs)
vm_wait_sync "$n" 20
check "no-op resync writes nothing (writes=$(vm_last_writes))" [ "$(vm_last_writes)" = 0 ]

# --- endpoint change: one pod removed → rr over two
vm_svc "$M/web.yaml" web 10.96.0.10 "http:80:8080:TCP:30080,dns:53:5353:UDP:30053" \
	"${POD_IPS[0]} ${POD_IPS[1]}" "  type: NodePort"
sy_wait 20 bash -c "[ \$(ip netns exec $NODE ipvsadm -Ln -u 10.96.0.10:53 | grep -c '^  ->.*Masq') = 2 ]"
check "UDP real server of a removed endpoint deleted at once" \
	[ "$(vm_rs_udp 10.96.0.10:53 | grep -c 10.0.2.10)" = 0 ]
check "TCP real server of a removed endpoint drained to weight 0 or gone" \
	bash -c "! ip netns exec $NODE ipvsadm -Ln -t 10.96.0.10:80 | grep -q '10.0.2.10:8080 *Masq *1 '"
vm_ask "$CLIENT" tcp 10.96.0.10 80 4 >"$SY_TMP/rr2.txt"
check "after the change only p1 and p2 answer" \
	bash -c "[ \"\$(cut -d' ' -f1 $SY_TMP/rr2.txt | sort -u | tr '\n' ' ')\" = 'p1 p2 ' ]"

# --- drift: a virtual server deleted by hand is restored by the full resync
ipvs -D -t 10.96.0.10:80
ip -n "$NODE" addr del 10.96.0.20/32 dev kube-ipvs0
ip netns exec "$NODE" ipset del SY-CLUSTER-IP 10.96.0.10,tcp:80
sy_wait 20 ip netns exec "$NODE" ipvsadm -Ln -t 10.96.0.10:80
check "drift: deleted virtual server restored with its real servers" \
	[ "$(vm_rs 10.96.0.10:80 | grep -c 'Masq 1')" = 2 ]
sy_wait 30 bash -c "ip -n $NODE addr show kube-ipvs0 | grep -q 10.96.0.20/32"
check "drift: unbound address restored" bash -c "ip -n $NODE addr show kube-ipvs0 | grep -q 10.96.0.20/32"
sy_wait 30 ip netns exec "$NODE" ipset -q test SY-CLUSTER-IP 10.96.0.10,tcp:80
check "drift: deleted ipset entry restored" ip netns exec "$NODE" ipset -q test SY-CLUSTER-IP 10.96.0.10,tcp:80
ipvs -A -t 192.0.2.1:99 -s rr

# --- Service deleted → its VS, address and set entries go
rm "$M/empty.yaml"
n=$(vm_syncs)
vm_wait_sync $((n + 1)) 20
sy_wait 20 bash -c "! ip netns exec $NODE ipvsadm -Ln -t 10.96.0.20:80"
check "deleted Service: virtual server removed" bash -c "! ipvs -Ln -t 10.96.0.20:80 2>/dev/null"
check "deleted Service: address unbound" bash -c "! ip -n $NODE addr show kube-ipvs0 | grep -q 10.96.0.20/"
check "deleted Service: ipset entry removed" bash -c "! ip netns exec $NODE ipset -q test SY-NO-ENDPOINTS 10.96.0.20,tcp:80 2>/dev/null"
check "foreign virtual server 192.0.2.1:99 untouched by full resyncs" ipvs -Ln -t 192.0.2.1:99

# --- restart keeps a live connection (never flushes at start)
sy_bg "$CLIENT" "$SY_TMP/live.txt" "$PY" "$SY_SRC/tests/vm/guest/live_conn.py" --host 10.96.0.30 \
	--port 81 --stop "$SY_TMP/stop-live"
LIVE=$SY_LAST_PID
sy_wait 30 grep -q "^first p" "$SY_TMP/live.txt"
vm_daemon_stop
sy_bg "$NODE" "$DLOG.2" "$SWITCHYARD" --proxy-mode=ipvs --manifests "$M" --hostname-override node1 \
	--healthz-bind-address= --metrics-bind-address= -v 2 --sync-period 2s
DPID=$SY_LAST_PID
sy_wait 30 grep -q "First sync complete" "$DLOG.2"
check "restart: first sync after restart" grep -q "First sync complete" "$DLOG.2"
sleep 3
touch "$SY_TMP/stop-live"
sy_wait 30 grep -q "^alive\|^dead" "$SY_TMP/live.txt"
check "restart: a connection made before the restart still works ($(tr '\n' ' ' <"$SY_TMP/live.txt"))" \
	grep -q "^alive [1-9]" "$SY_TMP/live.txt"
vm_daemon_stop

# --- --cleanup leaves nothing of ours (and keeps the foreign VS)
ip netns exec "$NODE" "$SWITCHYARD" --cleanup --proxy-mode=ipvs -v 2 >"$SY_TMP/cleanup.log" 2>&1
rc=$?
[ $rc = 0 ] || sed 's/^/#   /' "$SY_TMP/cleanup.log" | tail -n 8
check "--cleanup exits 0 ($rc)" [ $rc = 0 ]
# the guest kernel has no nf_tables (not in the initramfs): the nftables
# mode's cleanup finds nothing to remove rather than failing
[ -d /sys/module/nf_tables ] ||
	check "--cleanup: no nf_tables is nothing to remove" \
		grep -q "nftables cleanup: nf_tables is not available" "$SY_TMP/cleanup.log"
check "--cleanup: kube-ipvs0 gone" bash -c "! ip -n $NODE link show kube-ipvs0 2>/dev/null"
check "--cleanup: our virtual servers gone, the foreign one kept" \
	bash -c "[ \"\$(ip netns exec $NODE ipvsadm -Sn | tr '\n' ' ')\" = '-A -t 192.0.2.1:99 -s rr ' ]"
check "--cleanup: no SY- ipsets" bash -c "! ip netns exec $NODE ipset list -n | grep -q '^SY-'"
check "--cleanup: no SY-IPVS chains" bash -c "! ip netns exec $NODE iptables-legacy-save | grep -q 'SY-IPVS'"
vm_checks_done
