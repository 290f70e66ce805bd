#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Pod network, host-gw backend: routes "peerSubnet via peerIP dev eth0" and
# nothing else (no vxlan device, no neighbours/FDB); pod MTU = underlay MTU
# (1500); same-node and cross-node ping and TCP; egress masqueraded to the
# node IP, pod-to-pod keeping pod IPs; a Service with endpoints on the two
# other nodes through the iptables proxy; a peer that is not on-link (kube04,
# behind a router) gets a logged error and no route; a node leaving and
# joining touches only its own route.
. "$(dirname "$0")/podnet-lib.sh"

pn_underlay
pn_netconf '{"Network": "10.111.0.0/16", "Backend": {"Type": "host-gw"}}'
sy_mkns RTR rtr
sy_veth "$RTR" eth0 10.10.100.1/24 "$PN_UL" prtr -
ip -n "$PN_UL" link set prtr master br0
pn_node kube01 10.10.100.133/24 10.111.1.0/24
pn_node kube02 10.10.100.134/24 10.111.2.0/24
pn_node kube03 10.10.100.135/24 10.111.3.0/24
# kube04 is only a Node object here (not on-link from the others)
PN_IP[kube04]=10.10.200.136
PN_SUBNET[kube04]=10.111.4.0/24
pn_node_manifest kube04
sy_mkns NET internet
sy_veth "$NET" eth0 10.10.100.250/24 "$PN_UL" pinet -
ip -n "$PN_UL" link set pinet master br0
sy_echo_server "$NET" tcp 8000 internet

for n in kube01 kube02 kube03; do pn_start "$n"; done
for n in kube01 kube02 kube03; do pn_wait_ready "$n"; done
grep -qx "FLANNEL_MTU=1500" "$SY_TMP/kube01/subnet.env" || sy_fail "subnet.env MTU: $(cat "$SY_TMP/kube01/subnet.env")"
pn_check kube01 kube02:direct kube03:direct
pn_check kube03 kube01:direct kube02:direct
ip -n "${PN_NS[kube01]}" link show "$PN_VX" >/dev/null 2>&1 && sy_fail "host-gw created $PN_VX"
grep -q "pod network: node kube04: 10.10.200.136 is not on-link from 10.10.100.0/24: host-gw needs" \
	"${PN_LOG[kube01]}" || sy_fail "non-on-link peer not reported"

pn_pod kube01 a1
pn_pod kube01 a2
pn_pod kube02 b1
pn_pod kube03 c1
[ "$(pn_pod_mtu a1)" = 1500 ] || sy_fail "pod MTU $(pn_pod_mtu a1), want 1500"
pn_ping a1 a2
pn_ping a1 b1
pn_ping c1 a1
bps=$(pn_iperf a1 b1 4M) || sy_fail "iperf a1 → b1"
sy_log "iperf3 a1 → b1 (host-gw): $bps bit/s"
sy_echo_server "${POD_NS[b1]}" tcp 8080 b1
sy_wait 20 sh -c "ip netns exec ${POD_NS[b1]} ss -ltn | grep -q :8080" || sy_fail "echo b1"
ans=$(sy_ask "${POD_NS[c1]}" tcp "${POD_IP[b1]}" 8080)
[ "$ans" = "b1 ${POD_IP[c1]}" ] || sy_fail "pod-to-pod source: \"$ans\""
sy_echo_server "${POD_NS[c1]}" tcp 8080 c1
sy_wait 20 sh -c "ip netns exec ${POD_NS[c1]} ss -ltn | grep -q :8080" || sy_fail "echo c1"
[ "${PN_PROXY_MODE:-iptables}" = none ] || pn_service 10.96.0.101 a1 b1 c1
ans=$(sy_ask "${POD_NS[b1]}" tcp 10.10.100.250 8000)
[ "$ans" = "internet 10.10.100.134" ] || sy_fail "egress: \"$ans\", want from 10.10.100.134"

# leave / join: only kube03's route moves
rm -f "$PN_M/node-kube03.yaml"
pn_check kube01 kube02:direct
ip -n "${PN_NS[kube01]}" monitor route >"$SY_TMP/monitor.txt" 2>&1 &
MON=$!
SY_PIDS+=("$MON")
pn_mon_ready kube01 "$SY_TMP/monitor.txt"
pn_node_manifest kube03
pn_check kube01 kube02:direct kube03:direct
sy_wait 30 grep -q "10.111.3.0/24" "$SY_TMP/monitor.txt" || sy_fail "no event for kube03"
sleep 0.3
kill "$MON"
grep -q "10.111.2.0" "$SY_TMP/monitor.txt" && sy_fail "joining kube03 touched kube02's route"
pn_ping c1 b1
# a peer changing its address: its route follows
PN_IP[kube03]=10.10.100.145
ip -n "${PN_NS[kube03]}" addr add 10.10.100.145/24 dev eth0
pn_node_manifest kube03
pn_check kube01 kube02:direct kube03:direct
pn_ping a1 c1
sy_pass
