#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Stale UDP conntrack cleanup in both families, through a mode that programs
# both (one instance per family; SY_CT_MODE=nftables|iptables, default
# nftables): UDP clients with fixed source ports talk to a dual-stack
# Service's two ClusterIPs and to its NodePort on the node's IPv6 address;
# the endpoint (ep1 -> ep2) is replaced in both families' EndpointSlices;
# after the next sync, the very next datagram of each flow reaches ep2 (the
# daemon deleted the IPv6 entries too: `conntrack -L -f ipv6` shows none to
# ep1 left), where without the cleanup it would stick to ep1 until the UDP
# timeout.  A TCP connection's IPv6 entry to ep1 stays (same id).
. "$(dirname "$0")/../lib/common.sh"
[ "$(id -u)" = 0 ] || sy_skip "needs root"
command -v conntrack >/dev/null || sy_skip "conntrack tool missing"

MODE=${SY_CT_MODE:-nftables}
VIP4=10.96.0.10 VIP6=fd00:96::10 NODE6=fd00:1::1 NP=30053
sy_mkns C client
sy_mkns N node
sy_mkns E1 ep1
sy_mkns E2 ep2
sy_veth "$C" eth0 10.0.1.2/24 "$N" ethc 10.0.1.1/24
sy_veth "$E1" eth0 10.0.2.2/24 "$N" eth1 10.0.2.1/24
sy_veth "$E2" eth0 10.0.3.2/24 "$N" eth2 10.0.3.1/24
ip -n "$C" addr add fd00:1::2/64 dev eth0 nodad
ip -n "$N" addr add $NODE6/64 dev ethc nodad
ip -n "$E1" addr add fd00:2::2/64 dev eth0 nodad
ip -n "$N" addr add fd00:2::1/64 dev eth1 nodad
ip -n "$E2" addr add fd00:3::2/64 dev eth0 nodad
ip -n "$N" addr add fd00:3::1/64 dev eth2 nodad
ip -n "$C" route add default via 10.0.1.1
ip -n "$C" -6 route add default via $NODE6
for k in 1 2; do
	e=E$k
	ip -n "${!e}" route add default via 10.0.$((k + 1)).1
	ip -n "${!e}" -6 route add default via fd00:$((k + 1))::1
	for p in udp tcp; do
		sy_bg "${!e}" "$SY_TMP/echo-$k-$p.log" "$PY" "$SY_SRC/tests/lib/echo_server.py" \
			--proto $p --port 5353 --name ep$k --bind ::
		sy_wait_bound "${!e}" $p 5353 || sy_fail "echo server ep$k $p not listening"
	done
done
ip netns exec "$N" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1

M=$SY_TMP/manifests
mkdir -p "$M"
put() { cat >"$M/.$1.tmp" && mv "$M/.$1.tmp" "$M/$1"; }
slices() { # IPv4-endpoint IPv6-endpoint
	local f
	for f in "IPv4 $1 v4" "IPv6 $2 v6"; do
		set -- $f
		printf 'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\naddressType: %s\n' "$1"
		printf 'metadata: {name: dns-%s, namespace: t, labels: {kubernetes.io/service-name: dns}}\n' "$3"
		printf 'ports:\n- {name: dns, protocol: UDP, port: 5353}\n- {name: dns-tcp, protocol: TCP, port: 5353}\n'
		printf 'endpoints:\n- addresses: ["%s"]\n  conditions: {ready: true}\n---\n' "$2"
	done
}
put services.yaml <<EOF
apiVersion: v1
kind: Service
metadata: {name: dns, namespace: t}
spec:
  type: NodePort
  clusterIP: $VIP4
  clusterIPs: [$VIP4, $VIP6]
  ipFamilies: [IPv4, IPv6]
  ipFamilyPolicy: RequireDualStack
  ports:
  - {name: dns, protocol: UDP, port: 53, targetPort: 5353, nodePort: $NP}
  - {name: dns-tcp, protocol: TCP, port: 53, targetPort: 5353}
---
apiVersion: v1
kind: Node
metadata: {name: node1}
status:
  addresses: [{type: InternalIP, address: 10.0.1.1}, {type: InternalIP, address: "$NODE6"}]
EOF
slices 10.0.2.2 fd00:2::2 | put slices.yaml

LOG=$SY_TMP/daemon.log
sy_bg "$N" "$LOG" "$SWITCHYARD" --proxy-mode="$MODE" --manifests "$M" --hostname-override node1 \
	--healthz-bind-address= --metrics-bind-address= -v 2
sy_wait 30 grep -q "First sync complete\|Cannot use the" "$LOG"
grep -q "First sync complete" "$LOG" || sy_fail "no first sync: $(cat "$LOG")"
grep -q "Running in dual-stack mode" "$LOG" ||
	sy_skip "the $MODE mode has no IPv6 here: $(grep 'No IPv6 support' "$LOG")"

# what the node holds, for a failure message
dump() {
	printf '\n--- nft ip6 ---\n'; ip netns exec "$N" nft list table ip6 switchyard 2>&1 | head -60
	printf '\n--- conntrack -f ipv6 ---\n'; ip netns exec "$N" conntrack -L -f ipv6 2>&1 | head
	printf '\n--- log ---\n'; tail -5 "$LOG"
}
ask() { ip netns exec "$C" "$PY" "$SY_SRC/tests/lib/echo_client.py" --proto udp --host "$1" \
	--port "$2" --sport "$3" --timeout 3 2>/dev/null | awk '{print $1}'; }
flows() { # name host port source-port
	echo "v6-clusterip $VIP6 53 40061"
	echo "v6-nodeport $NODE6 $NP 40062"
	echo "v4-clusterip $VIP4 53 40041"
}
while read -r name host port sport; do
	end=$((SECONDS + 30))
	until [ "$(ask "$host" "$port" "$sport")" = ep1 ]; do
		[ $SECONDS -lt $end ] || sy_fail "$name: $host:$port not answered by ep1: '$(ask "$host" "$port" "$sport")' $(dump)"
		sleep 0.2
	done
done < <(flows)
# a TCP connection to ep1 over IPv6, held open: its entry must survive
sy_bg "$C" "$SY_TMP/tcp.log" "$PY" -c '
import socket, sys, time
s = socket.create_connection((sys.argv[1], 53), timeout=3)
s.recv(100)
time.sleep(60)' $VIP6
ct6() { ip netns exec "$N" conntrack -L -f ipv6 "$@" 2>/dev/null; }
tcp_id() { ct6 -p tcp --dport 53 -o id | grep 'src=fd00:2::2' | sed -n 's/.*id=\([0-9]*\).*/\1/p' | head -1; }
end=$((SECONDS + 20))
until [ -n "$(tcp_id)" ]; do
	[ $SECONDS -lt $end ] || sy_fail "no IPv6 TCP entry: $(ct6)"
	sleep 0.1
done
id_before=$(tcp_id)
ct6 -p udp | grep -q "dst=$VIP6 .*src=fd00:2::2" || sy_fail "no IPv6 UDP entry to ep1: $(ct6)"

# a sync of the change (changed > 0): not a periodic full sync that came first
syncs=$(grep -c "SyncProxyRules complete" "$LOG")
slices 10.0.3.2 fd00:3::2 | put slices.yaml
sy_wait 20 sh -c "grep 'SyncProxyRules complete' '$LOG' | tail -n +$((syncs + 1)) | grep -q ' changed=[1-9]'" || sy_fail "no sync after the change"
# the very next datagram of each flow (same 5-tuple) reaches ep2
while read -r name host port sport; do
	got=$(ask "$host" "$port" "$sport")
	[ "$got" = ep2 ] || sy_fail "$name: the next datagram went to '$got', want ep2: $(ct6 -p udp)"
done < <(flows)
ct6 -p udp | grep -q "src=fd00:2::2" && sy_fail "a stale IPv6 UDP entry to ep1 is left: $(ct6 -p udp)"
[ "$(tcp_id)" = "$id_before" ] || sy_fail "the IPv6 TCP entry changed: $id_before -> $(tcp_id)"
grep -q "Conntrack cleanup: deleted [1-9]" "$LOG" || sy_fail "no cleanup line: $(grep -i conntrack "$LOG")"
sy_pass "$MODE: the IPv6 ClusterIP and NodePort flows and the IPv4 one moved to ep2 at the next datagram"
