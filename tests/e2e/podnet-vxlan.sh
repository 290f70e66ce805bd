#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Pod network, vxlan backend, three nodes (see podnet-lib.sh):
# - subnet.env and the CNI conflist; pods attached by the standard plugins
#   see MTU 1450 (underlay 1500 - 50);
# - routes / neighbours / FDB entries read back with ip/bridge match the
#   peers exactly; the vxlan device has the expected VNI/port/local/nolearning;
# - same-node and cross-node ping and TCP (iperf3, a few MB);
# - pod-to-pod keeps pod IPs; pod egress to the "internet" arrives from the
#   node's IP (SY-PODNET-MASQ); all of it with FORWARD policy DROP (SY-PODNET-FWD);
# - a Service whose endpoints are pods on the other nodes, through the
#   iptables proxy;
# - a node leaving removes exactly its entries; a node joining adds its own
#   and touches nobody else's (ip monitor); a backend-data VtepMAC wins;
# - a route/FDB entry, the vxlan device or the masquerade chain deleted by
#   hand come back at the next full resync; a restart rewrites nothing and
#   loses no ping; --cleanup removes everything.
. "$(dirname "$0")/podnet-lib.sh"

pn_underlay
pn_netconf '{"Network": "10.111.0.0/16", "Backend": {"Type": "vxlan"}}'
pn_node kube01 10.10.100.133/24 10.111.1.0/24
pn_node kube02 10.10.100.134/24 10.111.2.0/24
pn_node kube03 10.10.100.135/24 10.111.3.0/24
sy_mkns NET internet
sy_veth "$NET" eth0 10.10.100.250/24 "$PN_UL" pinet -
ip -n "$PN_UL" link set pinet master br0
sy_echo_server "$NET" tcp 8000 internet

for n in kube01 kube02 kube03; do pn_start "$n" --sync-period 3s; done
for n in kube01 kube02 kube03; do pn_wait_ready "$n"; done

# node-local files
grep -qx "FLANNEL_NETWORK=10.111.0.0/16" "$SY_TMP/kube02/subnet.env" || sy_fail "subnet.env NETWORK"
grep -qx "FLANNEL_SUBNET=10.111.2.1/24" "$SY_TMP/kube02/subnet.env" || sy_fail "subnet.env SUBNET"
grep -qx "FLANNEL_MTU=1450" "$SY_TMP/kube02/subnet.env" || sy_fail "subnet.env MTU"
grep -qx "FLANNEL_IPMASQ=true" "$SY_TMP/kube02/subnet.env" || sy_fail "subnet.env IPMASQ"

# the device
d=$(ip -n "${PN_NS[kube01]}" -d link show "$PN_VX") || sy_fail "no $PN_VX"
for want in "mtu 1450" "vxlan id 1 " "local 10.10.100.133 " "dev eth0 " "dstport 8472 " "nolearning" \
	"link/ether $(pn_mac 10.10.100.133)"; do
	echo "$d" | grep -q "$want" || sy_fail "$PN_VX lacks \"$want\": $d"
done
ip -n "${PN_NS[kube01]}" -4 addr show dev "$PN_VX" | grep -q "inet 10.111.1.0/32" ||
	sy_fail "$PN_VX address"

pn_check kube01 kube02:vxlan kube03:vxlan
pn_check kube02 kube01:vxlan kube03:vxlan
pn_check kube03 kube01:vxlan kube02:vxlan

# hosts that drop forwarded traffic by default (Docker does): SY-PODNET-FWD lets pods through
for n in kube01 kube02 kube03; do
	ip netns exec "${PN_NS[$n]}" iptables-legacy -P FORWARD DROP
	ip netns exec "${PN_NS[$n]}" iptables-legacy-save -t filter | grep -q -- "-A FORWARD -j SY-PODNET-FWD" ||
		sy_fail "$n: no jump to SY-PODNET-FWD"
done

# pods
pn_pod kube01 a1
pn_pod kube01 a2
pn_pod kube02 b1
pn_pod kube03 c1
[ "$(pn_pod_mtu a1)" = 1450 ] || sy_fail "pod MTU $(pn_pod_mtu a1), want 1450"
[ "$(pn_pod_mtu c1)" = 1450 ] || sy_fail "pod MTU $(pn_pod_mtu c1), want 1450"
case ${POD_IP[a1]} in 10.111.1.*) ;; *) sy_fail "a1 got ${POD_IP[a1]}, not in kube01's subnet" ;; esac
case ${POD_IP[b1]} in 10.111.2.*) ;; *) sy_fail "b1 got ${POD_IP[b1]}" ;; esac

pn_ping a1 a2		# same node
pn_ping a1 b1		# cross node
pn_ping b1 c1
pn_ping c1 a2
bps=$(pn_iperf a1 b1 4M) || sy_fail "iperf a1 → b1"
sy_log "iperf3 a1 → b1 (vxlan): $bps bit/s"
bps=$(pn_iperf c1 a2 4M) || sy_fail "iperf c1 → a2"
# a full-size TCP segment crosses the tunnel without fragmentation problems
ip netns exec "${POD_NS[a1]}" ping -c 1 -W 2 -M do -s 1422 "${POD_IP[c1]}" >/dev/null ||
	sy_fail "1450-byte packet a1 → c1 did not pass"

# pod-to-pod keeps pod IPs; egress is masqueraded to the node IP
sy_echo_server "${POD_NS[b1]}" tcp 8080 b1
sy_echo_server "${POD_NS[c1]}" tcp 8080 c1
sy_wait 20 sh -c "ip netns exec ${POD_NS[c1]} ss -ltn | grep -q :8080" || sy_fail "echo c1"
sy_wait 20 sh -c "ip netns exec ${POD_NS[b1]} ss -ltn | grep -q :8080" || sy_fail "echo b1"
ans=$(sy_ask "${POD_NS[a1]}" tcp "${POD_IP[b1]}" 8080)
[ "$ans" = "b1 ${POD_IP[a1]}" ] || sy_fail "pod-to-pod source: \"$ans\", want \"b1 ${POD_IP[a1]}\""
ans=$(sy_ask "${POD_NS[a1]}" tcp 10.10.100.250 8000)
[ "$ans" = "internet 10.10.100.133" ] || sy_fail "egress: \"$ans\", want from 10.10.100.133"
ans=$(sy_ask "${POD_NS[c1]}" tcp 10.10.100.250 8000)
[ "$ans" = "internet 10.10.100.135" ] || sy_fail "egress from kube03: \"$ans\""
ip netns exec "${PN_NS[kube01]}" iptables-legacy-save -t nat | grep -q -- "-A POSTROUTING -j SY-PODNET-MASQ" ||
	sy_fail "no jump to SY-PODNET-MASQ"
ip netns exec "${PN_NS[kube01]}" iptables-legacy-save -t nat |
	grep -q -- "-A SY-PODNET-MASQ -s 10.111.0.0/16 -j MASQUERADE --random-fully" || sy_fail "no MASQUERADE rule"

# a Service whose endpoints are pods on the other nodes, from a pod on kube01
# (PN_PROXY_MODE=none is only for working on the pod network alone)
[ "${PN_PROXY_MODE:-iptables}" = none ] || pn_service 10.96.0.100 a2 b1 c1

# a node leaving: its entries go, the others stay
rm -f "$PN_M/node-kube03.yaml"
pn_check kube01 kube02:vxlan
pn_check kube02 kube01:vxlan
ip netns exec "${POD_NS[a1]}" ping -c 1 -W 1 "${POD_IP[c1]}" >/dev/null 2>&1 &&
	sy_fail "kube03's pods still reachable after it left"
pn_ping a1 b1

# a node joining: only its own entries are written (watch the netlink events)
ip -n "${PN_NS[kube01]}" monitor route neigh >"$SY_TMP/monitor.txt" 2>&1 &
MON=$!
SY_PIDS+=("$MON")
pn_mon_ready kube01 "$SY_TMP/monitor.txt"
pn_node_manifest kube03
pn_check kube01 kube02:vxlan kube03:vxlan
pn_check kube02 kube01:vxlan kube03:vxlan
sy_wait 30 grep -q "10.111.3.0" "$SY_TMP/monitor.txt" || sy_fail "no events for kube03: $(cat "$SY_TMP/monitor.txt")"
sleep 0.3
kill "$MON"
if grep -E "10\.111\.2\.|10\.10\.100\.134|$(pn_mac 10.10.100.134)" "$SY_TMP/monitor.txt"; then
	sy_fail "joining kube03 touched kube02's entries"
fi
pn_ping a1 c1

# backend-data from the Node annotation wins over the derived MAC
pn_node_manifest kube02 '"switchyard.io/backend-type": "vxlan", "switchyard.io/backend-data": "{\"VNI\":1,\"VtepMAC\":\"62:aa:bb:cc:dd:02\"}"'
sy_wait 30 sh -c "ip -n ${PN_NS[kube01]} neigh show dev $PN_VX | grep -q '10.111.2.0 lladdr 62:aa:bb:cc:dd:02 PERMANENT'" ||
	sy_fail "annotated VtepMAC not used: $(pn_neighs kube01)"
bridge -n "${PN_NS[kube01]}" fdb show dev "$PN_VX" | grep -q "62:aa:bb:cc:dd:02 dst 10.10.100.134 self permanent" ||
	sy_fail "annotated VtepMAC not in FDB: $(pn_fdbs kube01)"
bridge -n "${PN_NS[kube01]}" fdb show dev "$PN_VX" | grep -q "$(pn_mac 10.10.100.134)" &&
	sy_fail "old FDB entry left behind: $(pn_fdbs kube01)"
# a backend type that is not ours: logged and ignored
pn_node_manifest kube02 '"switchyard.io/backend-type": "host-gw"'
sy_wait 30 grep -q 'node kube02: backend type "host-gw" differs from ours (vxlan); ignored' \
	"${PN_LOG[kube01]}" || sy_fail "incompatible backend not reported"
pn_check kube01 kube03:vxlan
pn_node_manifest kube02
pn_check kube01 kube02:vxlan kube03:vxlan

# drift: a route and an FDB entry deleted by hand come back at the next full resync (3 s)
ip -n "${PN_NS[kube01]}" route del 10.111.2.0/24
bridge -n "${PN_NS[kube01]}" fdb del "$(pn_mac 10.10.100.135)" dev "$PN_VX" dst 10.10.100.135 self
ip -n "${PN_NS[kube01]}" route add 10.111.77.0/24 via 10.111.3.0 dev "$PN_VX" onlink proto 94
pn_check kube01 kube02:vxlan kube03:vxlan
pn_ping a1 b1
# ... and so do a deleted device (with every entry through it) and a flushed chain
ip -n "${PN_NS[kube03]}" link del "$PN_VX"
ip netns exec "${PN_NS[kube03]}" iptables-legacy -t nat -F SY-PODNET-MASQ
pn_check kube03 kube01:vxlan kube02:vxlan
sy_wait 30 sh -c "ip netns exec ${PN_NS[kube03]} iptables-legacy-save -t nat | grep -q -- '-A SY-PODNET-MASQ -s 10.111.0.0/16 -j MASQUERADE'" ||
	sy_fail "SY-PODNET-MASQ not restored"
pn_ping c1 a1
ans=$(sy_ask "${POD_NS[c1]}" tcp 10.10.100.250 8000)
[ "$ans" = "internet 10.10.100.135" ] || sy_fail "egress after repair: \"$ans\""

# restart: nothing is flushed or rewritten
kill "${PN_PID[kube01]}"
sy_wait 20 sh -c "! kill -0 ${PN_PID[kube01]} 2>/dev/null" || sy_fail "kube01 did not stop"
pn_routes kube01 >"$SY_TMP/before"
ip -n "${PN_NS[kube01]}" monitor route neigh link >"$SY_TMP/monitor2.txt" 2>&1 &
MON=$!
SY_PIDS+=("$MON")
pn_mon_ready kube01 "$SY_TMP/monitor2.txt"
ip netns exec "${POD_NS[a1]}" ping -i 0.1 -c 30 "${POD_IP[b1]}" >"$SY_TMP/ping-restart.txt" 2>&1 &
PING=$!
sleep 0.3
pn_start kube01 --sync-period 3s
sy_wait 30 grep -q "First sync complete" "${PN_LOG[kube01]}" || sy_fail "restart: no first sync"
sleep 0.5
wait "$PING" || sy_fail "pings lost across the restart: $(tail -3 "$SY_TMP/ping-restart.txt")"
kill "$MON"
if grep -E "dev $PN_VX|^([0-9]+: )?$PN_VX[:@]|^Deleted [0-9]+: $PN_VX|proto 94" "$SY_TMP/monitor2.txt"; then
	sy_fail "restart rewrote pod network entries"
fi
pn_routes kube01 | diff -q "$SY_TMP/before" - >/dev/null || sy_fail "routes changed across restart"

# --cleanup removes device, routes, neighbours, FDB, files and the chain
kill "${PN_PID[kube01]}"
sy_wait 20 sh -c "! kill -0 ${PN_PID[kube01]} 2>/dev/null"
ip netns exec "${PN_NS[kube01]}" "$SWITCHYARD" --cleanup --pod-network \
	--net-conf "$SY_TMP/net-conf.json" --subnet-file "$SY_TMP/kube01/subnet.env" \
	--cni-conf-dir "$SY_TMP/kube01/cni" >"$SY_TMP/cleanup.log" 2>&1 || sy_fail "--cleanup failed: $(cat "$SY_TMP/cleanup.log")"
ip -n "${PN_NS[kube01]}" link show "$PN_VX" >/dev/null 2>&1 && sy_fail "--cleanup left $PN_VX"
[ -z "$(pn_routes kube01)" ] || sy_fail "--cleanup left routes: $(pn_routes kube01)"
[ -e "$SY_TMP/kube01/subnet.env" ] && sy_fail "--cleanup left subnet.env"
[ -e "$SY_TMP/kube01/cni/10-switchyard.conflist" ] && sy_fail "--cleanup left the conflist"
ip netns exec "${PN_NS[kube01]}" iptables-legacy-save -t nat | grep -q SY-PODNET && sy_fail "--cleanup left SY-PODNET-MASQ"
ip netns exec "${PN_NS[kube01]}" iptables-legacy-save -t filter | grep -q SY-PODNET && sy_fail "--cleanup left SY-PODNET-FWD"
sy_pass
