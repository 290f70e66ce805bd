# SPDX-License-Identifier: Apache-2.0
# The NetworkPolicy lab of tests/e2e/netpol-*.sh (sourced, not a test):
#
#   node1 (switchyard --network-policy, ip_forward)     node2 (a node without it)
#     local pods x/a x/b y/a y/b z/a z/b  10.244.1.0/24   remote pods x/c y/c z/c 10.244.2.0/24
#     wired as a bridge (br0 + br_netfilter) or          routed /32 veths
#     routed (a veth per pod, /32 routes, the node's
#     side 169.254.1.1: Calico's wiring)
#   node1 eth-n 10.0.0.1 <-> node2 eth-n 10.0.0.2 (routes to each other's pod range)
#
# NP_DUAL=1: every pod dual-stack as well (status.podIPs of both families):
#   local fd00:244:1::/64 (bridge: br0 fd00:244:1::1; routed: /128 routes, the
#   node's side fe80::1), remote fd00:244:2::/64, nodes fd00::1 <-> fd00::2;
#   the lab probes every cell in both families.
#
# tests/lib/netpol_lab.py starts the servers inside every pod, probes the
# full matrix (pairs x TCP/UDP/SCTP x 80/81) and compares it with the
# expectation of each case.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	echo "netpol-lib.sh: the lab library of tests/e2e/netpol-*.sh (not a test)" >&2
	exit 77
fi
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

[ -x "$SWITCHYARD" ] || sy_skip "no switchyard binary at $SWITCHYARD"
command -v nft >/dev/null || sy_skip "nft missing"

NP_M=$SY_TMP/manifests
mkdir -p "$NP_M"
NP_SPEC=$SY_TMP/lab.json
NP_PID=
NP_LOG=
declare -A NP_NS NP_IP NP_IP6
NP_DUAL=${NP_DUAL:-0}

# np_v6 NS [fwd]: the namespace's IPv6 sysctls (no DAD wait; a node: forwarding,
# and no ICMPv6 rate limit: a probe round rejects hundreds of packets at once)
np_v6() {
	ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=0 \
		net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0 \
		${2:+net.ipv6.conf.all.forwarding=1 net.ipv6.icmp.ratelimit=0}
}

# np_routed6 NODE IF POD ADDR: a routed IPv6 pod (Calico's wiring: /128 on the
# pod, a route to it on the node, the node's side of the veth fe80::1)
np_routed6() {
	ip -n "$1" addr add fe80::1/64 dev "$2" nodad
	ip -n "$3" addr add "$4/128" dev eth0 nodad
	ip -n "$3" -6 route add default via fe80::1 dev eth0
	ip -n "$1" -6 route add "$4/128" dev "$2"
}

# np_lab bridge|routed
np_lab() {
	local wiring=$1 i=10 j=10 k ns p pns
	sy_mkns NODE node1
	sy_mkns NODE2 node2
	for n in "$NODE" "$NODE2"; do
		ip netns exec "$n" sysctl -qw net.ipv4.ip_forward=1
		sy_no_icmp_ratelimit "$n"
	done
	sy_veth "$NODE" eth-n 10.0.0.1/24 "$NODE2" eth-n 10.0.0.2/24
	ip -n "$NODE" route add 10.244.2.0/24 via 10.0.0.2
	ip -n "$NODE2" route add 10.244.1.0/24 via 10.0.0.1
	if [ "$NP_DUAL" = 1 ]; then
		np_v6 "$NODE" fwd
		np_v6 "$NODE2" fwd
		ip -n "$NODE" addr add fd00::1/64 dev eth-n nodad
		ip -n "$NODE2" addr add fd00::2/64 dev eth-n nodad
		ip -n "$NODE" -6 route add fd00:244:2::/64 via fd00::2
		ip -n "$NODE2" -6 route add fd00:244:1::/64 via fd00::1
	fi
	if [ "$wiring" = bridge ]; then
		ip -n "$NODE" link add br0 type bridge
		ip -n "$NODE" addr add 10.244.1.1/24 dev br0
		[ "$NP_DUAL" = 1 ] && ip -n "$NODE" addr add fd00:244:1::1/64 dev br0 nodad
		ip -n "$NODE" link set br0 up
		ip netns exec "$NODE" sysctl -qw net.bridge.bridge-nf-call-iptables=1 ||
			sy_skip "no br_netfilter"
		if [ "$NP_DUAL" = 1 ]; then
			ip netns exec "$NODE" sysctl -qw net.bridge.bridge-nf-call-ip6tables=1 ||
				sy_skip "no br_netfilter for IPv6"
		fi
	fi
	for ns in x y z; do
		for p in a b c; do
			sy_mkns pns "pod-$ns-$p"
			NP_NS[$ns/$p]=$pns
			[ "$NP_DUAL" = 1 ] && np_v6 "$pns"
			if [ "$p" = c ]; then
				NP_IP[$ns/$p]=10.244.2.$j
				sy_veth "$NODE2" "v$ns$p" 169.254.1.1/32 "$pns" eth0 "10.244.2.$j/32"
				ip -n "$NODE2" route add "10.244.2.$j/32" dev "v$ns$p"
				ip -n "$pns" route add 169.254.1.1 dev eth0
				ip -n "$pns" route add default via 169.254.1.1
				if [ "$NP_DUAL" = 1 ]; then
					NP_IP6[$ns/$p]=fd00:244:2::$j
					np_routed6 "$NODE2" "v$ns$p" "$pns" "fd00:244:2::$j"
				fi
				j=$((j + 1))
				continue
			fi
			NP_IP[$ns/$p]=10.244.1.$i
			[ "$NP_DUAL" = 1 ] && NP_IP6[$ns/$p]=fd00:244:1::$i
			if [ "$wiring" = bridge ]; then
				sy_veth "$NODE" "v$ns$p" - "$pns" eth0 "10.244.1.$i/24"
				ip -n "$NODE" link set "v$ns$p" master br0
				ip -n "$pns" route add default via 10.244.1.1
				if [ "$NP_DUAL" = 1 ]; then
					ip -n "$pns" addr add "fd00:244:1::$i/64" dev eth0 nodad
					ip -n "$pns" -6 route add default via fd00:244:1::1
				fi
			else
				sy_veth "$NODE" "v$ns$p" 169.254.1.1/32 "$pns" eth0 "10.244.1.$i/32"
				ip -n "$NODE" route add "10.244.1.$i/32" dev "v$ns$p"
				ip -n "$pns" route add 169.254.1.1 dev eth0
				ip -n "$pns" route add default via 169.254.1.1
				[ "$NP_DUAL" = 1 ] && np_routed6 "$NODE" "v$ns$p" "$pns" "fd00:244:1::$i"
			fi
			i=$((i + 1))
		done
	done
	{
		echo '{"net_all": "10.244.0.0/16", "net_local": "10.244.1.0/24",'
		echo ' "net_remote": "10.244.2.0/24",'
		[ "$NP_DUAL" = 1 ] && echo ' "net6_all": "fd00:244::/32", "net6_local": "fd00:244:1::/64", "net6_remote": "fd00:244:2::/64",'
		echo ' "pods": {'
		local first=1
		for k in "${!NP_NS[@]}"; do
			[ $first = 1 ] || echo ','
			first=0
			printf '"%s": {"netns": "%s", "ip": "%s", %s"remote": %s}' "$k" "${NP_NS[$k]}" \
				"${NP_IP[$k]}" "${NP_IP6[$k]:+\"ip6\": \"${NP_IP6[$k]}\", }" \
				"$([ "${k#*/}" = c ] && echo true || echo false)"
		done
		echo '}}'
	} >"$NP_SPEC"
	"$PY" "$SY_SRC/tests/lib/netpol_lab.py" --spec "$NP_SPEC" --manifests "$NP_M" \
		--node-ns "$NODE" --write-only || sy_fail "writing the manifests"
	cat >"$NP_M/node.yaml" <<EOF2
apiVersion: v1
kind: Node
metadata:
  name: node1
status:
  addresses:
    - {type: InternalIP, address: 10.0.0.1}
EOF2
}

np_start() {
	NP_LOG=$SY_TMP/switchyard.$RANDOM.log
	# shellcheck disable=SC2086
	sy_bg "$NODE" "$NP_LOG" ${NP_WRAP:-} "$SWITCHYARD" --proxy-mode="${NP_MODE:-none}" --manifests "$NP_M" \
		--hostname-override node1 --cluster-cidr 10.244.0.0/16 --network-policy \
		--metrics-bind-address 127.0.0.1:10249 --healthz-bind-address 127.0.0.1:10256 \
		--min-sync-period 0s -v 2 "$@"
	NP_PID=$SY_LAST_PID
	sy_wait "${NP_START_WAIT:-30}" grep -q "NetworkPolicy sync complete: full=true" "$NP_LOG" || {
		cat "$NP_LOG" >&2
		sy_fail "switchyard did not complete its first NetworkPolicy sync"
	}
}

np_stop() {
	[ -n "$NP_PID" ] || return 0
	kill "$NP_PID" 2>/dev/null
	for _ in $(seq 1 50); do kill -0 "$NP_PID" 2>/dev/null || break; sleep 0.1; done
	NP_PID=
}

# np_cases [CASE,...] [DEADLINE]: run the lab's cases (all when none given)
np_cases() {
	"$PY" "$SY_SRC/tests/lib/netpol_lab.py" --spec "$NP_SPEC" --manifests "$NP_M" \
		--node-ns "$NODE" --cases "${1:-}" --deadline "${2:-30}"
}

np_nft() { ip netns exec "$NODE" nft -j list table inet switchyard-policy; }

# np_web: NetworkPolicy behind a Service (netpol-service.sh and its dual-stack
# twin), after np_lab routed: Service "web" 10.96.0.10:80 TCP and UDP (with
# NP_DUAL=1 RequireDualStack, fd00:96::10 too) with the endpoints x/a and
# y/a in an EndpointSlice of each family; the policy a-from-b on x/a (only
# pods labelled pod=b of its namespace); echo servers on x/a and y/a, TCP
# and UDP 8080 (bound to :: with NP_DUAL=1: both families).
np_web() {
	local dual='' k proto bind=()
	[ "$NP_DUAL" = 1 ] && bind=(--bind ::) && dual='
  ipFamilyPolicy: RequireDualStack
  ipFamilies: [IPv4, IPv6]
  clusterIPs: [10.96.0.10, "fd00:96::10"]'
	{
		cat <<EOF2
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: 10.96.0.10$dual
  ports:
    - {name: http, protocol: TCP, port: 80, targetPort: 8080}
    - {name: dns, protocol: UDP, port: 80, targetPort: 8080}
EOF2
		np_web_slice web-4 IPv4 "${NP_IP[x/a]}" "${NP_IP[y/a]}"
		[ "$NP_DUAL" = 1 ] && np_web_slice web-6 IPv6 "\"${NP_IP6[x/a]}\"" "\"${NP_IP6[y/a]}\""
	} >"$NP_M/svc.yaml"
	cat >"$NP_M/np-x-a.json" <<'EOF2'
{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
 "metadata": {"name": "a-from-b", "namespace": "x"},
 "spec": {"podSelector": {"matchLabels": {"pod": "a"}},
          "ingress": [{"from": [{"podSelector": {"matchLabels": {"pod": "b"}}}]}]}}
EOF2
	for k in x/a y/a; do
		for proto in tcp udp; do
			sy_bg "${NP_NS[$k]}" "$SY_TMP/echo-$proto-${k/\//-}.log" "$PY" \
				"$SY_SRC/tests/lib/echo_server.py" --proto "$proto" --port 8080 \
				--name "${k/\//-}" "${bind[@]}"
		done
	done
}
np_web_slice() { # NAME FAMILY ADDR ADDR
	cat <<EOF2
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: $1
  namespace: default
  labels: {kubernetes.io/service-name: web}
addressType: $2
ports:
  - {name: http, protocol: TCP, port: 8080}
  - {name: dns, protocol: UDP, port: 8080}
endpoints:
  - {addresses: [$3], conditions: {ready: true}, nodeName: node1}
  - {addresses: [$4], conditions: {ready: true}, nodeName: node1}
EOF2
}
# np_web_answers CLIENT PROTO HOST TIMEOUT: who answers CLIENT over PROTO
# through the ClusterIP HOST (20 tries), sorted and unique; a refused try
# is an ERROR, or over IPv6 TCP a TIMEOUT (the client's socket takes the
# first ICMPv6 admin-prohibited as a soft error, about 1 s:
# doc/network-policy.md)
np_web_answers() {
	ip netns exec "${NP_NS[$1]}" "$PY" "$SY_SRC/tests/lib/echo_client.py" --proto "$2" \
		--host "$3" --port 80 --count 20 --timeout "$4" 2>/dev/null |
		awk '$1 != "ERROR" && $1 != "TIMEOUT" {print $1}' | sort -u | tr '\n' ' '
}
