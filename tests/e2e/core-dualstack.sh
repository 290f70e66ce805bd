#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Dual stack in the daemon's core: one mode instance per family (kube-proxy's
# dual-stack proxier), the primary family from --bind-address or the Node's
# first address, a family the mode cannot program skipped with one log line
# (the primary one: exit 2), --nodeport-addresses per family ("primary" = the
# node IP of each family; a family without a CIDR takes every local address),
# and the desired state of both families in /debug/state.
. "$(dirname "$0")/../lib/common.sh"

sy_mkns NODE node
ip -n "$NODE" link set lo up
ip -n "$NODE" link add d0 type veth peer name d1
ip -n "$NODE" addr add 192.168.7.2/24 dev d0
ip -n "$NODE" addr add fd00:7::2/64 dev d0 nodad
ip -n "$NODE" addr add 192.168.8.2/24 dev d1
ip -n "$NODE" addr add fd00:8::2/64 dev d1 nodad
ip -n "$NODE" link set d0 up
ip -n "$NODE" link set d1 up
M=$SY_TMP/manifests
mkdir -p "$M"

node() { # FIRST_ADDRESS SECOND_ADDRESS
	cat >"$M/node.yaml" <<Y
apiVersion: v1
kind: Node
metadata: {name: n1}
status:
  addresses:
  - {type: InternalIP, address: "$1"}
  - {type: InternalIP, address: "$2"}
Y
}
cat >"$M/svc.yaml" <<'Y'
apiVersion: v1
kind: Service
metadata: {name: web, namespace: apps}
spec:
  type: NodePort
  clusterIP: fd00:96::10
  clusterIPs: [fd00:96::10, 10.96.0.10]
  ipFamilies: [IPv6, IPv4]
  ipFamilyPolicy: RequireDualStack
  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080}]
---
apiVersion: v1
kind: Service
metadata: {name: six, namespace: apps}
spec:
  clusterIP: fd00:96::11
  clusterIPs: [fd00:96::11]
  ipFamilies: [IPv6]
  ports: [{name: dns, port: 53, protocol: UDP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-6, namespace: apps, labels: {kubernetes.io/service-name: web}}
addressType: IPv6
ports: [{name: http, port: 8080}]
endpoints:
- addresses: ["fd00:244::10"]
Y

run() { # LOG ARGS...: the daemon until its first sync (or exit)
	local log=$1; shift
	sy_bg "$NODE" "$log" "$SWITCHYARD" --manifests "$M" --hostname-override n1 \
		--healthz-bind-address= -v 2 "$@"
	DPID=$SY_LAST_PID
	sy_wait 30 sh -c "grep -q 'First sync complete' '$log' || ! kill -0 $DPID"
}
stop() { kill "$DPID" 2>/dev/null; wait "$DPID" 2>/dev/null; sy_wait 20 sh -c "! ip netns exec $NODE ss -ltn | grep -q :10249"; }
state() { ip netns exec "$NODE" curl -sf "http://127.0.0.1:10249/debug/state" >"$SY_TMP/state.json" && jq -c . "$SY_TMP/state.json"; }

# 1. the none mode takes both families; the Node's first address (IPv6) is the primary
node fd00:7::2 192.168.7.2
L1=$SY_TMP/none.log
run "$L1" --proxy-mode=none --metrics-bind-address 127.0.0.1:10249 --nodeport-addresses primary
grep -q "First sync complete: 3 Service ports" "$L1" || sy_fail "want 3 ports (1 IPv4, 2 IPv6): $(cat "$L1")"
[ "$(grep -c 'Running in dual-stack mode, primary IP family IPv6' "$L1")" = 1 ] ||
	sy_fail "no dual-stack line with the Node's primary family: $(cat "$L1")"
grep -q "No IPv.* support" "$L1" && sy_fail "a family skipped in the none mode"
s=$(state) && [ -n "$s" ] || sy_fail "no /debug/state: $(head -c 300 "$SY_TMP/state.json") $(grep -i metrics "$SY_TMP"/*.log)"
echo "$s" | jq -e '.node.nodePortAddresses == ["192.168.7.2", "fd00:7::2"] and
	.node.nodePortAllLocal == false and .node.nodePortAllLocalIPv6 == false' >/dev/null ||
	sy_fail "primary NodePort addresses per family: $(echo "$s" | jq -c .node)"
echo "$s" | jq -e '[.ports[] | .clusterIP] | sort == ["10.96.0.10", "fd00:96::10", "fd00:96::11"]' \
	>/dev/null || sy_fail "desired state of both families: $(echo "$s" | jq -c '[.ports[] | .clusterIP]')"
stop

# 2. --bind-address overrides the primary family; --nodeport-addresses with an IPv4
# CIDR only: IPv4 limited to it, IPv6 on every local address (no link-local, no ::1)
L2=$SY_TMP/bind.log
run "$L2" --proxy-mode=none --metrics-bind-address 127.0.0.1:10249 --bind-address 192.168.7.2 \
	--nodeport-addresses 192.168.8.0/24 --cluster-cidr 10.244.0.0/16,fd00:244::/32
grep -q 'Running in dual-stack mode, primary IP family IPv4' "$L2" ||
	sy_fail "--bind-address did not make IPv4 primary: $(cat "$L2")"
# kube-proxy's warning for a dual-stack cluster with IPv4-only nodePortAddresses
grep -q '^E.*Kube-proxy configuration may be incomplete or incorrect: cluster appears to be dual-stack but nodePortAddresses contains only IPv4 addresses; NodePort connections will be accepted on all local IPv6 IPs' "$L2" ||
	sy_fail "no nodePortAddresses warning: $(cat "$L2")"
grep -q 'Detect-local-mode' "$L2" && sy_fail "detect-local line with both cluster CIDRs"
s=$(state) && [ -n "$s" ] || sy_fail "no /debug/state: $(head -c 300 "$SY_TMP/state.json") $(grep -i metrics "$SY_TMP"/*.log)"
echo "$s" | jq -e '.node.nodePortAddresses == ["192.168.8.2", "fd00:7::2", "fd00:8::2"] and
	.node.nodePortAllLocal == false and .node.nodePortAllLocalIPv6 == true' >/dev/null ||
	sy_fail "--nodeport-addresses per family: $(echo "$s" | jq -c .node)"
stop

# 3. an IPv6 CIDR only: IPv4 takes every local address, IPv6 the CIDR's
L3=$SY_TMP/cidr6.log
run "$L3" --proxy-mode=none --metrics-bind-address 127.0.0.1:10249 --nodeport-addresses fd00:8::/64
s=$(state) && [ -n "$s" ] || sy_fail "no /debug/state: $(head -c 300 "$SY_TMP/state.json") $(grep -i metrics "$SY_TMP"/*.log)"
echo "$s" | jq -e '.node.nodePortAddresses == ["192.168.7.2", "192.168.8.2", "fd00:8::2"] and
	.node.nodePortAllLocal == true and .node.nodePortAllLocalIPv6 == false' >/dev/null ||
	sy_fail "--nodeport-addresses IPv6 CIDR: $(echo "$s" | jq -c .node)"
stop

# 3b. "primary" without a Node: no node IP, so kube-proxy's expanded list is empty
# and its message is the unset one (every local address), not a family mismatch
mv "$M/node.yaml" "$SY_TMP/node.yaml.away"
L3b=$SY_TMP/nonode.log
run "$L3b" --proxy-mode=none --metrics-bind-address= --nodeport-addresses primary
grep -q "First sync complete" "$L3b" || sy_fail "no first sync without a Node: $(cat "$L3b")"
[ "$(grep -c '^E.*nodePortAddresses is unset; NodePort connections will be accepted on all local IPs' "$L3b")" = 1 ] ||
	sy_fail "primary without a Node IP: want the unset message once: $(cat "$L3b")"
grep -q 'appears to be' "$L3b" && sy_fail "primary without a Node IP: family mismatch message: $(grep 'appears' "$L3b")"
stop
mv "$SY_TMP/node.yaml.away" "$M/node.yaml"

# 4. a kernel mode: either both families, or the one it lacks skipped with one line;
# lacking the primary family is exit 2 (kube-proxy's "no support for primary IP family")
for mode in iptables nftables; do
	node 192.168.7.2 fd00:7::2
	L=$SY_TMP/$mode.log
	run "$L" --proxy-mode=$mode --metrics-bind-address=
	grep -q "First sync complete" "$L" || sy_fail "$mode: no first sync: $(cat "$L")"
	skipped=$(grep -c "No IPv6 support in $mode mode: .*; running single-stack IPv4" "$L")
	dual=$(grep -c "Running in dual-stack mode, primary IP family IPv4" "$L")
	[ $((skipped + dual)) = 1 ] || sy_fail "$mode: want one family line: $(cat "$L")"
	# unset: all local IPs in iptables mode (the warning); nftables defaults to "primary"
	unset_warn=$(grep -c 'nodePortAddresses is unset; NodePort connections will be accepted on all local IPs' "$L")
	[ "$unset_warn" = "$([ $mode = iptables ] && echo 1 || echo 0)" ] ||
		sy_fail "$mode: 'nodePortAddresses is unset' warning $unset_warn times"
	grep -q 'Detect-local-mode set to ClusterCIDR, but no cluster CIDR specified for primary IP family IPv4' "$L" ||
		sy_fail "$mode: no detect-local line without --cluster-cidr"
	stop
	ip netns exec "$NODE" "$SWITCHYARD" --cleanup >/dev/null 2>&1
	[ "$skipped" = 1 ] || continue
	sy_log "$mode: IPv4 only here; checking that an IPv6-primary node refuses to start"
	node fd00:7::2 192.168.7.2
	ip netns exec "$NODE" timeout 10 "$SWITCHYARD" --proxy-mode=$mode --manifests "$M" \
		--hostname-override n1 --healthz-bind-address= --metrics-bind-address= \
		>"$L.6" 2>&1; rc=$?
	[ $rc = 2 ] || sy_fail "$mode: IPv6-primary node: exit $rc, want 2: $(cat "$L.6")"
	grep -q "Cannot use the $mode proxy mode: no support for primary IP family IPv6" "$L.6" ||
		sy_fail "$mode: no primary-family message: $(cat "$L.6")"
	ip netns exec "$NODE" "$SWITCHYARD" --cleanup >/dev/null 2>&1
done
sy_pass
