# SPDX-License-Identifier: Apache-2.0
# Helpers for the IPVS checks that run inside the test VM (tests/vm/lib.sh
# boots it).  Source after tests/lib/common.sh.  Each check prints one line
#   ok - <what>          /  not ok - <what>: <detail>
# and the script ends with vm_checks_done (exit 0 when all passed, 1 otherwise).
#
# Topology (all inside the VM; -nic none, no packet leaves it):
#   $NODE    runs switchyard --proxy-mode=ipvs; 10.0.1.1/24 towards $CLIENT
#   $CLIENT  10.0.1.2/24, default route via the node ("outside the node")
#   $P1..$P3 pods: 10.0.2.{2,6,10}/30, node side 10.0.2.{1,5,9}
# vm_remote_node adds a second node and a pod on it:
#   $NODE2   10.0.3.2/24 towards $NODE (10.0.3.1); holds every Service
#            address locally, as a real node's kube-ipvs0 does
#   $R1      pod on $NODE2: 10.0.2.130/30 ($NODE routes 10.0.2.128/25 there)
# vm_topology6 adds IPv6 to the same links ("nodad": no DAD wait), and then
# vm_remote_node too:
#   $NODE fd00:1::1/64 ($NODE6), $CLIENT fd00:1::2/64 ($CLIENT6, default via
#   the node), pods ${POD6[@]} = fd00:2:{1,2,3}::2/64 (node side ::1),
#   $NODE2 fd00:3::2/64 (node side fd00:3::1), $R1 fd00:2:80::2/64 ($R1IP6);
#   vm_ip6 maps a pod's IPv4 address to its IPv6 one.
VM_FAILS=0
VM_CHECKS=0

ok() { VM_CHECKS=$((VM_CHECKS + 1)); echo "ok - $*"; }
notok() { VM_CHECKS=$((VM_CHECKS + 1)); VM_FAILS=$((VM_FAILS + 1)); echo "not ok - $*"; }
# check "description" CMD...: ok when CMD succeeds
check() {
	local what=$1; shift
	if "$@"; then ok "$what"; else notok "$what"; fi
}
vm_checks_done() {
	echo "# $VM_CHECKS checks, $VM_FAILS failed"
	[ "$VM_FAILS" = 0 ] && [ "$VM_CHECKS" -gt 0 ]
	exit $?
}

# [ "$SY_IN_VM" ] guards against running these on the host by mistake
[ "${SY_IN_VM:-}" = 1 ] || { echo "tests/vm/guest: run inside the VM only (tests/vm/*.test.sh)" >&2; exit 2; }

PODS=()
POD_IPS=(10.0.2.2 10.0.2.6 10.0.2.10)
NODE_IP=10.0.1.1
CLIENT_IP=10.0.1.2
M=$SY_TMP/manifests
DLOG=$SY_TMP/daemon.log

vm_topology() {
	sy_mkns NODE node
	sy_mkns CLIENT client
	sy_veth "$NODE" eth-c $NODE_IP/24 "$CLIENT" eth0 $CLIENT_IP/24
	ip -n "$CLIENT" route add default via $NODE_IP
	local i podns
	for i in 0 1 2; do
		sy_mkns podns "p$((i + 1))"
		PODS+=("$podns")
		sy_veth "$NODE" "eth-p$((i + 1))" "10.0.2.$((i * 4 + 1))/30" "$podns" eth0 "${POD_IPS[$i]}/30"
		ip -n "$podns" route add default via "10.0.2.$((i * 4 + 1))"
	done
	P1=${PODS[0]} P2=${PODS[1]} P3=${PODS[2]}
	ip netns exec "$NODE" sysctl -qw net.ipv4.ip_forward=1
	mkdir -p "$M"
}

VM_V6=0
NODE6=fd00:1::1
CLIENT6=fd00:1::2
POD6=(fd00:2:1::2 fd00:2:2::2 fd00:2:3::2)
R1IP6=fd00:2:80::2
vm_topology6() {
	local i
	VM_V6=1
	ip -n "$NODE" -6 addr add $NODE6/64 dev eth-c nodad
	ip -n "$CLIENT" -6 addr add $CLIENT6/64 dev eth0 nodad
	ip -n "$CLIENT" -6 route add default via $NODE6
	for i in 0 1 2; do
		ip -n "$NODE" -6 addr add "fd00:2:$((i + 1))::1/64" dev "eth-p$((i + 1))" nodad
		ip -n "${PODS[$i]}" -6 addr add "${POD6[$i]}/64" dev eth0 nodad
		ip -n "${PODS[$i]}" -6 route add default via "fd00:2:$((i + 1))::1"
	done
	# IPv6 forwarding is the host's to enable (the mode does not set it, as
	# kube-proxy); no ICMPv6 rate limit: every REJECT must answer
	ip netns exec "$NODE" sysctl -qw net.ipv6.conf.all.forwarding=1 net.ipv6.icmp.ratelimit=0
}
# vm_ip6 IPV4: the IPv6 address of the same pod (or node2's pod r1)
vm_ip6() {
	case $1 in
	10.0.2.2) echo "${POD6[0]}" ;;
	10.0.2.6) echo "${POD6[1]}" ;;
	10.0.2.10) echo "${POD6[2]}" ;;
	10.0.2.130) echo "$R1IP6" ;;
	*) echo "vm_ip6: no IPv6 twin of $1" >&2; return 1 ;;
	esac
}

vm_remote_node() {
	sy_mkns NODE2 node2
	sy_mkns R1 r1
	sy_veth "$NODE" eth-n2 10.0.3.1/24 "$NODE2" eth0 10.0.3.2/24
	sy_veth "$NODE2" eth-r1 10.0.2.129/30 "$R1" eth0 10.0.2.130/30
	ip -n "$NODE" route add 10.0.2.128/25 via 10.0.3.2
	ip -n "$NODE2" route add default via 10.0.3.1
	ip -n "$R1" route add default via 10.0.2.129
	ip netns exec "$NODE2" sysctl -qw net.ipv4.ip_forward=1
	# every node holds the Service addresses: a reply to one stays there
	ip -n "$NODE2" route add local 10.96.0.0/16 dev lo table local
	ip -n "$NODE2" route add local 192.0.2.0/24 dev lo table local
	if [ "$VM_V6" = 1 ]; then
		ip -n "$NODE" -6 addr add fd00:3::1/64 dev eth-n2 nodad
		ip -n "$NODE2" -6 addr add fd00:3::2/64 dev eth0 nodad
		ip -n "$NODE2" -6 addr add fd00:2:80::1/64 dev eth-r1 nodad
		ip -n "$R1" -6 addr add $R1IP6/64 dev eth0 nodad
		ip -n "$NODE" -6 route add fd00:2:80::/64 via fd00:3::2
		ip -n "$NODE2" -6 route add default via fd00:3::1
		ip -n "$R1" -6 route add default via fd00:2:80::1
		ip netns exec "$NODE2" sysctl -qw net.ipv6.conf.all.forwarding=1 net.ipv6.icmp.ratelimit=0
		ip -n "$NODE2" -6 route add local fd00:96::/64 dev lo table local
		ip -n "$NODE2" -6 route add local 2001:db8::/64 dev lo table local
	fi
	vm_echo_server "$R1" tcp 8080 r1
	vm_echo_server "$R1" udp 5353 r1
	sy_wait 20 bash -c "ip netns exec $R1 ss -Htln 'sport = :8080' | grep -q ." ||
		sy_fail "pod server r1 did not start"
}

# vm_echo_server NS PROTO PORT NAME: answers "NAME <peer>" (tests/lib/sy-echo,
# a C program: under emulation each Python start costs seconds)
SY_ECHO=$SY_BUILD/tests/lib/sy-echo
vm_echo_server() {
	sy_bg "$1" "$SY_TMP/echo-$4-$2-$3.log" "$SY_ECHO" serve "$2" "$3" "$4"
}

# pods answer "pN <peer>" on TCP 8080, UDP 5353 (SCTP 9000: sy_echo_server)
vm_pod_servers() {
	local i
	for i in 0 1 2; do
		vm_echo_server "${PODS[$i]}" tcp 8080 "p$((i + 1))"
		vm_echo_server "${PODS[$i]}" udp 5353 "p$((i + 1))"
	done
	for i in 0 1 2; do
		sy_wait 20 bash -c "ip netns exec ${PODS[$i]} ss -Htln 'sport = :8080' | grep -q ." ||
			sy_fail "pod server p$((i + 1)) did not start"
	done
}

# vm_daemon [extra flags...]: start switchyard in $NODE, wait for its first sync
vm_daemon() {
	sy_bg "$NODE" "$DLOG" "$SWITCHYARD" --proxy-mode=ipvs --manifests "$M" \
		--hostname-override node1 --healthz-bind-address= \
		--metrics-bind-address=127.0.0.1:10249 -v 4 "$@"
	DPID=$SY_LAST_PID
	if ! sy_wait 60 grep -q "First sync complete" "$DLOG"; then
		echo "# daemon log:"; sed 's/^/#   /' "$DLOG" | tail -n 40
		return 1
	fi
}
vm_daemon_stop() {
	kill "$DPID" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
}

# Number of completed syncs in the log (to wait for the next one)
vm_syncs() { grep -c "SyncProxyRules complete" "$DLOG"; }
# vm_wait_sync N: wait until more than N syncs are logged
vm_wait_sync() {
	local n=$1
	sy_wait "${2:-40}" bash -c "[ \$(grep -c 'SyncProxyRules complete' '$DLOG') -gt $n ]"
}
# writes= of the last sync
vm_last_writes() { grep "SyncProxyRules complete" "$DLOG" | tail -n1 | sed -n 's/.*writes=\([0-9]*\).*/\1/p'; }

ipvs() { ip netns exec "$NODE" ipvsadm "$@"; }
# real servers of a virtual server: "addr:port forward weight active inactive" lines
vm_rs() {
	ipvs -Ln -t "$1" 2>/dev/null | awk '$1 == "->" && $2 != "RemoteAddress:Port" { print $2, $3, $4, $5, $6 }'
}
vm_rs_udp() {
	ipvs -Ln -u "$1" 2>/dev/null | awk '$1 == "->" && $2 != "RemoteAddress:Port" { print $2, $3, $4, $5, $6 }'
}

# write a Service (+ EndpointSlice) manifest file:
#   vm_svc FILE NAME CLUSTERIP "PORTSPEC" "EP_IPS" [extra spec yaml lines]
# PORTSPEC: "name:port:targetPort:PROTO[:nodePort]" comma separated
# CIP6=IPv6-CLUSTERIP in the environment: a RequireDualStack Service, with an
# IPv6 slice of the same endpoints' IPv6 twins (vm_ip6)
vm_svc() {
	local file=$1 name=$2 cip=$3 ports=$4 eps=$5 extra=${6:-}
	local p n pt tp pr np fam e
	{
		echo "apiVersion: v1"
		echo "kind: Service"
		echo "metadata: {name: $name, namespace: default}"
		echo "spec:"
		echo "  clusterIP: $cip"
		if [ -n "${CIP6:-}" ]; then
			echo "  clusterIPs: [$cip, \"$CIP6\"]"
			echo "  ipFamilies: [IPv4, IPv6]"
			echo "  ipFamilyPolicy: RequireDualStack"
		fi
		[ -n "$extra" ] && printf '%s\n' "$extra"
		echo "  ports:"
		for p in ${ports//,/ }; do
			IFS=: read -r n pt tp pr np <<<"$p"
			echo "  - {name: $n, port: $pt, targetPort: $tp, protocol: $pr${np:+, nodePort: $np}}"
		done
		for fam in 4 ${CIP6:+6}; do
			echo "---"
			echo "apiVersion: discovery.k8s.io/v1"
			echo "kind: EndpointSlice"
			echo "metadata: {name: $name-${fam/4/1}, namespace: default, labels: {kubernetes.io/service-name: $name}}"
			echo "addressType: IPv$fam"
			echo "ports:"
			for p in ${ports//,/ }; do
				IFS=: read -r n pt tp pr np <<<"$p"
				echo "- {name: $n, port: $tp, protocol: $pr}"
			done
			echo "endpoints:"
			for e in $eps; do
				[ $fam = 6 ] && e=\"$(vm_ip6 "$e")\"
				echo "- {addresses: [$e], nodeName: ${EP_NODE:-node1}, conditions: {ready: true}}"
			done
			[ -n "$eps" ] || echo "  []"
		done
	} >"$file.tmp" && mv "$file.tmp" "$file"
}

# client asks COUNT times over PROTO; prints answers (REFUSED / TIMEOUT)
vm_ask() { # NS PROTO HOST PORT COUNT
	if [ "$2" = sctp ]; then
		ip netns exec "$1" "$PY" "$SY_SRC/tests/lib/echo_client.py" --proto "$2" --host "$3" \
			--port "$4" --count "${5:-1}" --timeout 2 2>/dev/null
		return
	fi
	echo "x $2 $3 $4 ${5:-1}" | ip netns exec "$1" "$SY_ECHO" ask 2000 | cut -d' ' -f2-
}
