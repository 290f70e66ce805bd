# SPDX-License-Identifier: Apache-2.0
# Inside the VM: the IPVS mode with IPv6 and dual-stack Services (one mode
# instance per family).  Real TCP/UDP over IPv6 to ClusterIP, NodePort,
# externalIP; affinity; masquerade; REJECT; a dual-stack Service whose two
# ClusterIPs each answer with their own family's endpoints only; state read
# back with ipvsadm -Ln, ipset list, ip6tables-save, ip -6 addr show
# kube-ipvs0; a no-op resync writing nothing (IPv6 real servers read back
# exactly: kube-proxy #101506), an IPv4 externalIP on an IPv6 Service
# skipped (#73157, #97343), --cleanup.
. "$SY_SRC/tests/lib/common.sh"
. "$SY_SRC/tests/vm/guest/lib.sh"

vm_topology
vm_topology6
vm_pod_servers

# svc6 FILE NAME CLUSTERIP EXTRA_SPEC EPS...: an IPv6-only Service, http 80->8080/TCP
# (nodePort 30080 when type NodePort), dns 53->5353/UDP (30053), IPv6 slice
svc6() {
	local file=$1 name=$2 cip=$3 extra=$4 e; shift 4
	{
		cat <<-EOF
		apiVersion: v1
		kind: Service
		metadata: {name: $name, namespace: default}
		spec:
		  clusterIP: $cip
		  clusterIPs: [$cip]
		  ipFamilies: [IPv6]
		  ipFamilyPolicy: SingleStack
		EOF
		[ -n "$extra" ] && printf '%s\n' "$extra"
		cat <<-EOF
		  ports:
		  - {name: http, port: 80, targetPort: 8080, protocol: TCP${NP_TCP:+, nodePort: $NP_TCP}}
		  - {name: dns, port: 53, targetPort: 5353, protocol: UDP${NP_UDP:+, nodePort: $NP_UDP}}
		---
		apiVersion: discovery.k8s.io/v1
		kind: EndpointSlice
		metadata: {name: $name-v6, namespace: default, labels: {kubernetes.io/service-name: $name}}
		addressType: IPv6
		ports:
		- {name: http, port: 8080, protocol: TCP}
		- {name: dns, port: 5353, protocol: UDP}
		endpoints:
		EOF
		for e in "$@"; do
			echo "- {addresses: [\"$e\"], nodeName: node1, conditions: {ready: true}}"
		done
		[ $# -gt 0 ] || echo "  []"
	} >"$file.tmp" && mv "$file.tmp" "$file"
}

NP_TCP=30080 NP_UDP=30053 svc6 "$M/web6.yaml" web6 fd00:96::10 "  type: NodePort
  externalIPs: [\"2001:db8:e::1\", 192.0.2.99]" "${POD6[@]}"
svc6 "$M/aff6.yaml" aff6 fd00:96::11 "  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 600}}" "${POD6[@]}"
svc6 "$M/empty6.yaml" empty6 fd00:96::12 "" 
# dual stack: the IPv4 ClusterIP reaches p1 and p2, the IPv6 one p3 only
cat >"$M/ds.yaml" <<EOF
apiVersion: v1
kind: Service
metadata: {name: ds, namespace: default}
spec:
  clusterIP: 10.96.0.50
  clusterIPs: [10.96.0.50, "fd00:96::50"]
  ipFamilies: [IPv4, IPv6]
  ipFamilyPolicy: RequireDualStack
  ports:
  - {name: http, port: 80, targetPort: 8080, protocol: TCP}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ds-v4, namespace: default, labels: {kubernetes.io/service-name: ds}}
addressType: IPv4
ports:
- {name: http, port: 8080, protocol: TCP}
endpoints:
- {addresses: [${POD_IPS[0]}], nodeName: node1, conditions: {ready: true}}
- {addresses: [${POD_IPS[1]}], nodeName: node1, conditions: {ready: true}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ds-v6, namespace: default, labels: {kubernetes.io/service-name: ds}}
addressType: IPv6
ports:
- {name: http, port: 8080, protocol: TCP}
endpoints:
- {addresses: ["${POD6[2]}"], nodeName: node1, conditions: {ready: true}}
EOF

# a dual-stack NodePort Service: a NodePort virtual server in each family on
# the node's addresses, which the other family's instance must leave alone
CIP6=fd00:96::60 vm_svc "$M/np.yaml" np 10.96.0.60 "http:80:8080:TCP:30081" "${POD_IPS[0]}" "  type: NodePort"
# a TCP hold service for the restart (Python servers: a slow start under
# emulation; started side by side, waited for before the restart)
HOLD=()
for i in 0 1; do
	SY_BG_NOWAIT=1 sy_bg "${PODS[$i]}" "$SY_TMP/hold-$i.log" "$PY" "$SY_SRC/tests/lib/echo_server.py" \
		--proto tcp --port 8081 --name "p$((i + 1))" --hold --bind ::
	HOLD+=("$SY_LAST_PID")
done
cat >"$M/hold6.yaml" <<EOF
apiVersion: v1
kind: Service
metadata: {name: hold6, namespace: default}
spec: {clusterIP: "fd00:96::30", clusterIPs: ["fd00:96::30"], ipFamilies: [IPv6], ports: [{name: h, port: 81, targetPort: 8081, protocol: TCP}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: hold6-v6, namespace: default, labels: {kubernetes.io/service-name: hold6}}
addressType: IPv6
ports: [{name: h, port: 8081, protocol: TCP}]
endpoints:
- {addresses: ["${POD6[0]}"], nodeName: node1, conditions: {ready: true}}
- {addresses: ["${POD6[1]}"], nodeName: node1, conditions: {ready: true}}
EOF
# virtual servers made by hand: foreign ones in both families (not on a
# kube-ipvs0 address, not a NodePort on a node address) stay; one in the
# NodePort range on the node's IPv6 address is a stale NodePort of ours
ipvs -A -t 192.0.2.1:99 -s rr
ipvs -A -t "[2001:db8:f::1]:99" -s rr
ipvs -A -t "[$NODE6]:30999" -s rr
vm_daemon --sync-period 3s ${SY_DS_FLAGS:-} || { notok "daemon starts and syncs"; vm_checks_done; }
ok "daemon starts and syncs with IPv6 and dual-stack Services"
grep -E "IPVS \((IPv4|IPv6)\)" "$DLOG" | sed 's/^/#   /'
check "one IPVS instance per family (both announced)" \
	bash -c "grep -q 'IPVS (IPv4)' $DLOG && grep -q 'IPVS (IPv6)' $DLOG"

# --- state read back
ipvs -Ln >"$SY_TMP/ipvs.txt"
sed 's/^/#   /' "$SY_TMP/ipvs.txt"
check "ipvsadm: TCP [fd00:96::10]:80 rr" grep -q "^TCP  \[fd00:96::10\]:80 rr" "$SY_TMP/ipvs.txt"
check "ipvsadm: UDP [fd00:96::10]:53 rr" grep -q "^UDP  \[fd00:96::10\]:53 rr" "$SY_TMP/ipvs.txt"
check "ipvsadm: 3 IPv6 Masq real servers on :8080" \
	[ "$(vm_rs "[fd00:96::10]:80" | grep -c -E '^\[fd00:2:[123]::2\]:8080 Masq 1')" = 3 ]
check "ipvsadm: NodePort virtual server on the node's IPv6 address" \
	grep -q "^TCP  \[$NODE6\]:30080 rr" "$SY_TMP/ipvs.txt"
check "ipvsadm: externalIP [2001:db8:e::1]:80" grep -q "^TCP  \[2001:db8:e::1\]:80 rr" "$SY_TMP/ipvs.txt"
check "an IPv4 externalIP on an IPv6 Service programs nothing (#73157)" \
	bash -c "! grep -q '192.0.2.99' $SY_TMP/ipvs.txt"
check "ipvsadm: affinity Service persistent 600 (IPv6 mask 128)" \
	grep -q "^TCP  \[fd00:96::11\]:80 rr persistent 600" "$SY_TMP/ipvs.txt"
check "dual stack: IPv4 ClusterIP has the IPv4 endpoints only" \
	[ "$(vm_rs 10.96.0.50:80 | awk '{print $1}' | sort | tr '\n' ' ')" = "${POD_IPS[0]}:8080 ${POD_IPS[1]}:8080 " ]
check "dual stack: IPv6 ClusterIP has the IPv6 endpoint only" \
	[ "$(vm_rs "[fd00:96::50]:80" | awk '{print $1}' | tr '\n' ' ')" = "[${POD6[2]}]:8080 " ]
ip -n "$NODE" -6 addr show kube-ipvs0 >"$SY_TMP/dev6.txt"
sed 's/^/#   /' "$SY_TMP/dev6.txt"
check "kube-ipvs0: fd00:96::10/128 nodad" grep -q "inet6 fd00:96::10/128 scope global nodad" "$SY_TMP/dev6.txt"
check "kube-ipvs0: the externalIP and the dual-stack IPv6 ClusterIP bound" \
	bash -c "grep -q 'inet6 2001:db8:e::1/128' $SY_TMP/dev6.txt && grep -q 'inet6 fd00:96::50/128' $SY_TMP/dev6.txt"
check "kube-ipvs0: 10.96.0.50/32 (IPv4 instance)" \
	bash -c "ip -n $NODE -4 addr show kube-ipvs0 | grep -q 'inet 10.96.0.50/32'"
ip netns exec "$NODE" ipset list >"$SY_TMP/sets.txt"
check "ipset SY-6-CLUSTER-IP is family inet6" \
	bash -c "ip netns exec $NODE ipset list -t SY-6-CLUSTER-IP | grep -q 'family inet6'"
check "ipset SY-6-CLUSTER-IP has fd00:96::10,tcp:80 and fd00:96::10,udp:53" \
	bash -c "ip netns exec $NODE ipset -q test SY-6-CLUSTER-IP fd00:96::10,tcp:80 && ip netns exec $NODE ipset -q test SY-6-CLUSTER-IP fd00:96::10,udp:53"
check "ipset SY-6-LOOP-BACK has the pods' hairpin entries" \
	ip netns exec "$NODE" ipset -q test SY-6-LOOP-BACK "${POD6[1]},tcp:8080,${POD6[1]}"
check "ipset SY-6-NODE-PORT-TCP has 30080, SY-NODE-PORT-TCP does not" \
	bash -c "ip netns exec $NODE ipset -q test SY-6-NODE-PORT-TCP 30080 && ! ip netns exec $NODE ipset -q test SY-NODE-PORT-TCP 30080"
check "ipset SY-6-EXTERNAL-IP has 2001:db8:e::1,tcp:80" \
	ip netns exec "$NODE" ipset -q test SY-6-EXTERNAL-IP 2001:db8:e::1,tcp:80
check "ipset SY-6-NO-ENDPOINTS has fd00:96::12,tcp:80" \
	ip netns exec "$NODE" ipset -q test SY-6-NO-ENDPOINTS fd00:96::12,tcp:80
check "ipset SY-CLUSTER-IP (IPv4) has the two IPv4 ClusterIPs only" \
	bash -c "[ \"\$(ip netns exec $NODE ipset list SY-CLUSTER-IP | sed -n '/^Members:/,\$p' | tail -n +2 | sort | tr '\n' ' ')\" = '10.96.0.50,tcp:80 10.96.0.60,tcp:80 ' ]"
ip netns exec "$NODE" ip6tables-legacy-save >"$SY_TMP/ip6t.txt"
grep SY- "$SY_TMP/ip6t.txt" | sed 's/^/#   /'
check "ip6tables: PREROUTING jumps to SY-IPVS-SERVICES" grep -q -- "-A PREROUTING -j SY-IPVS-SERVICES" "$SY_TMP/ip6t.txt"
check "ip6tables: NodePort set SY-6-NODE-PORT-TCP marks for masquerade" \
	grep -q -- "--match-set SY-6-NODE-PORT-TCP dst -j SY-IPVS-MARK-MASQ" "$SY_TMP/ip6t.txt"
check "ip6tables: MASQUERADE --random-fully" grep -q -- "-A SY-IPVS-POSTROUTING -j MASQUERADE --random-fully" "$SY_TMP/ip6t.txt"
check "ip6tables: REJECT icmp6-port-unreachable on SY-6-NO-ENDPOINTS" \
	grep -q -- "--match-set SY-6-NO-ENDPOINTS dst,dst -j REJECT --reject-with icmp6-port-unreachable" "$SY_TMP/ip6t.txt"
check "iptables (IPv4) has no SY-6 set" bash -c "! ip netns exec $NODE iptables-legacy-save | grep -q SY-6-"

# --- real IPv6 traffic: ClusterIP rr over 3 pods, not masqueraded
vm_ask "$CLIENT" tcp fd00:96::10 80 6 >"$SY_TMP/rr6.txt"
sed 's/^/#   /' "$SY_TMP/rr6.txt"
check "TCP IPv6 ClusterIP: 6 answers" [ "$(grep -c '^p[123] ' "$SY_TMP/rr6.txt")" = 6 ]
check "TCP IPv6 ClusterIP rr: each pod exactly twice" \
	bash -c "[ \"\$(cut -d' ' -f1 $SY_TMP/rr6.txt | sort | uniq -c | awk '{print \$1}' | sort -u)\" = 2 ]"
check "IPv6 ClusterIP not masqueraded: the pod sees the client $CLIENT6" \
	bash -c "[ \"\$(cut -d' ' -f2 $SY_TMP/rr6.txt | sort -u)\" = $CLIENT6 ]"
vm_ask "$CLIENT" udp fd00:96::10 53 3 >"$SY_TMP/udp6.txt"
sed 's/^/#   /' "$SY_TMP/udp6.txt"
check "UDP IPv6 ClusterIP: 3 pods answer" [ "$(cut -d' ' -f1 "$SY_TMP/udp6.txt" | sort -u | grep -c '^p')" = 3 ]
vm_ask "${PODS[0]}" tcp fd00:96::10 80 3 >"$SY_TMP/pod6.txt"
check "IPv6 ClusterIP from a pod answers 3/3 (hairpin included)" [ "$(grep -c '^p[123] ' "$SY_TMP/pod6.txt")" = 3 ]
check "hairpin over IPv6: p1 reaching itself sees the node, not itself" \
	bash -c "! grep -q '^p1 ${POD6[0]}\$' $SY_TMP/pod6.txt"
vm_ask "$NODE" tcp fd00:96::10 80 2 >"$SY_TMP/node6.txt"
check "IPv6 ClusterIP from the node itself answers 2/2" [ "$(grep -c '^p[123] ' "$SY_TMP/node6.txt")" = 2 ]

# --- NodePort and externalIP from outside: masqueraded to the node's address
vm_ask "$CLIENT" tcp $NODE6 30080 3 >"$SY_TMP/np6.txt"
sed 's/^/#   /' "$SY_TMP/np6.txt"
check "IPv6 NodePort TCP from outside: 3 answers" [ "$(grep -c '^p[123] ' "$SY_TMP/np6.txt")" = 3 ]
check "IPv6 NodePort is masqueraded (source = the node's fd00:2:N::1)" \
	bash -c "! grep -q ' $CLIENT6\$' $SY_TMP/np6.txt && grep -q ' fd00:2:[123]::1\$' $SY_TMP/np6.txt"
vm_ask "$CLIENT" udp $NODE6 30053 2 >"$SY_TMP/npu6.txt"
check "IPv6 NodePort UDP from outside: 2 answers" [ "$(grep -c '^p[123] ' "$SY_TMP/npu6.txt")" = 2 ]
vm_ask "$CLIENT" tcp 2001:db8:e::1 80 3 >"$SY_TMP/ext6.txt"
sed 's/^/#   /' "$SY_TMP/ext6.txt"
check "IPv6 externalIP from outside: 3 answers, masqueraded" \
	bash -c "[ \$(grep -c '^p[123] fd00:2:[123]::1\$' $SY_TMP/ext6.txt) = 3 ]"

# --- affinity: one pod for every request of a client
vm_ask "$CLIENT" tcp fd00:96::11 80 5 >"$SY_TMP/aff6.txt"
sed 's/^/#   /' "$SY_TMP/aff6.txt"
check "IPv6 ClientIP affinity: 5/5 answers from one pod" \
	bash -c "[ \$(grep -c '^p[123] ' $SY_TMP/aff6.txt) = 5 ] && [ \$(cut -d' ' -f1 $SY_TMP/aff6.txt | sort -u | wc -l) = 1 ]"

# --- no endpoints: refused at once by the ip6tables REJECT
a=$(vm_ask "$CLIENT" tcp fd00:96::12 80 1)
check "IPv6 Service without endpoints is refused at once ($a)" [ "$a" = REFUSED ]

# --- dual stack: each ClusterIP answers with its family's endpoints only
vm_ask "$CLIENT" tcp 10.96.0.50 80 4 >"$SY_TMP/ds4.txt"
vm_ask "$CLIENT" tcp fd00:96::50 80 4 >"$SY_TMP/ds6.txt"
sed 's/^/#   v4 /' "$SY_TMP/ds4.txt"; sed 's/^/#   v6 /' "$SY_TMP/ds6.txt"
check "dual stack: IPv4 ClusterIP answered by p1 and p2 only" \
	bash -c "[ \"\$(cut -d' ' -f1 $SY_TMP/ds4.txt | sort -u | tr '\n' ' ')\" = 'p1 p2 ' ]"
check "dual stack: IPv6 ClusterIP answered by p3 only, 4/4" \
	bash -c "[ \"\$(cut -d' ' -f1 $SY_TMP/ds6.txt | sort | uniq -c | awk '{print \$1, \$2}')\" = '4 p3' ]"

# --- a full resync with nothing to do writes nothing (IPv6 real servers
# are read back as IPv6: kube-proxy #101506 re-added them with "file exists")
n=$(vm_syncs)
vm_wait_sync $((n + 1)) 20
grep "SyncProxyRules complete" "$DLOG" | tail -n 2 | sed 's/^/#   /'
check "no-op resyncs write nothing (last two: $(grep 'SyncProxyRules complete' "$DLOG" | tail -n 2 | sed -n 's/.*writes=\([0-9]*\).*/\1/p' | tr '\n' ' '))" \
	bash -c "[ \"\$(grep 'SyncProxyRules complete' $DLOG | tail -n 2 | sed -n 's/.*writes=\([0-9]*\).*/\1/p' | sort -u)\" = 0 ]"
check "no 'file exists' or sync failure in the log" bash -c "! grep -qi 'file exists\|sync failed\|Failed to' $DLOG"

# --- each instance considers its own family's virtual servers only: the
# IPv4 instance would take [$NODE6]:30081 (a node address, NodePort range)
# for a stale NodePort of its own and delete it, the IPv6 one 10.0.1.1:30081
check "dual-stack NodePort: a virtual server on 10.0.1.1:30081 and on [$NODE6]:30081" \
	bash -c "{ ip netns exec $NODE ipvsadm -Ln -t 10.0.1.1:30081 && ip netns exec $NODE ipvsadm -Ln -t '[$NODE6]:30081'; } >/dev/null 2>&1"
grep "IPVS: deleted virtual server" "$DLOG" | sed 's/^/#   /'
check "the only virtual server deleted is the stale IPv6 NodePort [$NODE6]:30999 (neither instance touches the other family's)" \
	[ "$(grep "IPVS: deleted virtual server" "$DLOG" | sed 's/.*deleted virtual server //' | sort -u)" = "TCP/[$NODE6]:30999" ]
# IPVS dumps both families at once: one dump per full sync run serves both
# instances (the IPv4 one, primary, dumps; the IPv6 one takes its part)
n6=$(ipvs -Ln | grep -c '^\(TCP\|UDP\)  \[')
grep "from the other instance's dump" "$DLOG" | tail -n 1 | sed 's/^/#   /'
check "one dump per full sync: the IPv6 instance takes the $n6 IPv6 virtual servers from the IPv4 instance's dump" \
	bash -c "grep 'from the other instance.s dump' $DLOG | tail -n 1 | grep -q 'IPVS (IPv6): $n6 virtual servers'"
check "foreign virtual servers 192.0.2.1:99 and [2001:db8:f::1]:99 kept, the stale [$NODE6]:30999 gone" \
	bash -c "{ ip netns exec $NODE ipvsadm -Ln -t 192.0.2.1:99 && ip netns exec $NODE ipvsadm -Ln -t '[2001:db8:f::1]:99' && ! ip netns exec $NODE ipvsadm -Ln -t '[$NODE6]:30999'; } >/dev/null 2>&1"

# --- endpoint change over IPv6 and drift repair
svc6 "$M/aff6.yaml" aff6 fd00:96::11 "  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 600}}" "${POD6[0]}"
sy_wait 20 bash -c "[ \$(ip netns exec $NODE ipvsadm -Ln -u '[fd00:96::11]:53' | grep -c 'Masq') = 1 ]"
check "IPv6 endpoints removed: UDP real servers deleted at once" \
	[ "$(vm_rs_udp "[fd00:96::11]:53" | awk '{print $1}' | tr '\n' ' ')" = "[${POD6[0]}]:5353 " ]
# on a loaded host a change can land in a periodic (3 s) full sync instead:
# then change the endpoints back and forth (up to 3 times more) until one
# goes through a partial sync
eps=("${POD6[@]}")
for _ in 1 2 3; do
	grep -q "IPVS partial sync: 2 changed ports" "$DLOG" && break
	n=$(vm_syncs)
	svc6 "$M/aff6.yaml" aff6 fd00:96::11 "  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 600}}" "${eps[@]}"
	vm_wait_sync "$n" 30
	if [ ${#eps[@]} = 3 ]; then eps=("${POD6[0]}"); else eps=("${POD6[@]}"); fi
done
check "the IPv6 change was a partial sync of its two ports (the family's change list)" \
	grep -q "IPVS partial sync: 2 changed ports" "$DLOG"
ipvs -D -t "[fd00:96::10]:80"
ip -n "$NODE" -6 addr del fd00:96::12/128 dev kube-ipvs0
ip netns exec "$NODE" ipset del SY-6-CLUSTER-IP fd00:96::10,tcp:80
sy_wait 20 bash -c "ip netns exec $NODE ipvsadm -Ln -t '[fd00:96::10]:80' && ip -n $NODE -6 addr show kube-ipvs0 | grep -q fd00:96::12/128 && ip netns exec $NODE ipset -q test SY-6-CLUSTER-IP fd00:96::10,tcp:80"
check "drift over IPv6: virtual server (3 real servers), address and set entry restored" \
	bash -c "[ \$(ip netns exec $NODE ipvsadm -Ln -t '[fd00:96::10]:80' | grep -c Masq) = 3 ] && ip -n $NODE -6 addr show kube-ipvs0 | grep -q fd00:96::12/128 && ip netns exec $NODE ipset -q test SY-6-CLUSTER-IP fd00:96::10,tcp:80"

# --- restart with a live IPv6 connection: the new process's first sync
# finds everything in place, writes nothing, and the connection lives on
sy_wait_servers "${HOLD[@]}"
sy_bg "$CLIENT" "$SY_TMP/live6.txt" "$PY" "$SY_SRC/tests/vm/guest/live_conn.py" --host fd00:96::30 \
	--port 81 --stop "$SY_TMP/stop-live6"
sy_wait 60 grep -q "^first p" "$SY_TMP/live6.txt"
check "a live IPv6 connection through [fd00:96::30]:81 ($(head -n1 "$SY_TMP/live6.txt"))" \
	grep -q "^first p[12] ${CLIENT6}\$" "$SY_TMP/live6.txt"
# the kernel state, without counters
state() {
	{
		ip netns exec "$NODE" ipvsadm -Sn | sort
		ip netns exec "$NODE" ipset save | sort
		for t in iptables-legacy-save ip6tables-legacy-save; do
			ip netns exec "$NODE" $t | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//'
		done
		ip -n "$NODE" addr show kube-ipvs0 | grep inet | sort
	} >"$1"
}
state "$SY_TMP/before.txt"
vm_daemon_stop
: >"$DLOG"
vm_daemon --sync-period 3s ${SY_DS_FLAGS:-} || notok "the daemon restarts"
grep "SyncProxyRules complete" "$DLOG" | head -n1 | sed 's/^/#   /'
check "restart: the first sync of the new process writes nothing ($(grep -m1 "SyncProxyRules complete" "$DLOG" | sed -n 's/.*\(writes=[0-9]*\).*/\1/p'))" \
	bash -c "grep -m1 'SyncProxyRules complete' $DLOG | grep -q 'full=true .*writes=0 '"
state "$SY_TMP/after.txt"
diff "$SY_TMP/before.txt" "$SY_TMP/after.txt" | sed 's/^/#   /'
check "restart: virtual and real servers, sets, rules of both families and kube-ipvs0 unchanged ($(wc -l <"$SY_TMP/before.txt") lines)" \
	cmp -s "$SY_TMP/before.txt" "$SY_TMP/after.txt"
n=$(vm_syncs)
vm_wait_sync "$n" 20
touch "$SY_TMP/stop-live6"
sy_wait 30 grep -q "^alive\|^dead" "$SY_TMP/live6.txt"
check "restart: the IPv6 connection made before the restart still works ($(tail -n1 "$SY_TMP/live6.txt"))" \
	grep -q "^alive [1-9]" "$SY_TMP/live6.txt"

# --- Service deleted: its IPv6 virtual servers, addresses and entries go
rm "$M/empty6.yaml"
sy_wait 20 bash -c "! ip netns exec $NODE ipvsadm -Ln -t '[fd00:96::12]:80'"
check "deleted IPv6 Service: virtual server, address and set entry removed" \
	bash -c "! ip netns exec $NODE ipvsadm -Ln -t '[fd00:96::12]:80' 2>/dev/null && ! ip -n $NODE -6 addr show kube-ipvs0 | grep -q fd00:96::12/ && ! ip netns exec $NODE ipset -q test SY-6-NO-ENDPOINTS fd00:96::12,tcp:80"
vm_daemon_stop

# --- --cleanup removes both families' state
ip netns exec "$NODE" "$SWITCHYARD" --cleanup --proxy-mode=ipvs -v 2 >"$SY_TMP/cleanup.log" 2>&1
rc=$?
[ $rc = 0 ] || sed 's/^/#   /' "$SY_TMP/cleanup.log" | tail -n 8
check "--cleanup exits 0 ($rc)" [ $rc = 0 ]
check "--cleanup: no virtual server of ours in either family, the foreign ones kept" \
	bash -c "[ \"\$(ip netns exec $NODE ipvsadm -Sn | sort | tr '\n' ' ')\" = '-A -t 192.0.2.1:99 -s rr -A -t [2001:db8:f::1]:99 -s rr ' ]"
check "--cleanup: no SY- ipsets (SY-6- included)" bash -c "! ip netns exec $NODE ipset list -n | grep -q '^SY-'"
check "--cleanup: no SY-IPVS chains in ip6tables or iptables" \
	bash -c "! ip netns exec $NODE ip6tables-legacy-save | grep -q SY-IPVS && ! ip netns exec $NODE iptables-legacy-save | grep -q SY-IPVS"
check "--cleanup: kube-ipvs0 gone" bash -c "! ip -n $NODE link show kube-ipvs0 2>/dev/null"
vm_checks_done
