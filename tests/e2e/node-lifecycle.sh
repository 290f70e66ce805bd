#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# This node's Node object changing under a running daemon, driven with the
# real kubectl against the API server double, real packets to a NodePort
# (nftables mode, nodePortAddresses "primary"):
#  - its InternalIP changes: kube-proxy's line "NodeIPs changed for the
#    node" (new and old IPs), the NodePort moves to the new address;
#  - it is deleted: kube-proxy's line "Node is being deleted", the daemon
#    keeps running (no exit: kube-proxy 1.34-1.36 do not exit either) and
#    the NodePort answers on every local address, as a restarted kube-proxy
#    that finds no Node;
#  - it comes back: the NodePort on its address only again.
#
#   node: eth-c 192.168.50.1/24 and 192.168.50.11/24 -- client .2
#         eth-1 10.244.1.1/24 -- ep1 .2 (echo on 8080)
. "$(dirname "$0")/nftables-lib.sh"
command -v kubectl >/dev/null || sy_skip "kubectl not installed"

ipt_lab_base 4
ip -n "$NODE" addr add 192.168.50.11/24 dev eth-c
ipt_lab_ep 1 4
nft_echo "${IPT_EP_NS[1]}" ep1 tcp 8080 --bind 0.0.0.0

nft_api --service-cluster-ip-range 10.96.0.0/16
{
	nft_web
	echo ---
	ipt_node_yaml 192.168.50.1
} | kc create --validate=false -f - >/dev/null || sy_fail "kubectl create"

nft_start --kubeconfig "$K8S_KUBECONFIG" --metrics-bind-address ""

# ask IP → the first word of the answer from NodePort 30080: ep1, REFUSED, TIMEOUT
ask() {
	ip netns exec "$CLIENT" "$PY" "$SY_SRC/tests/lib/echo_client.py" --proto tcp --host "$1" \
		--port 30080 --timeout 1 2>/dev/null | cut -d' ' -f1
}
on() { [ "$(ask 192.168.50.1)" = "$1" ] && [ "$(ask 192.168.50.11)" = "$2" ]; }
wait_on() { # wait_on WANT-ON-.1 WANT-ON-.11 WHAT
	sy_wait 10 on "$1" "$2" ||
		sy_fail "$3: NodePort on .1 '$(ask 192.168.50.1)' .11 '$(ask 192.168.50.11)', want '$1' '$2'"
}
alive() { kill -0 "$PID" 2>/dev/null || { tail -5 "$LOG" >&2; sy_fail "$1: the daemon exited"; }; }

wait_on ep1 REFUSED "the Node at .1"

# the InternalIP changes
kc patch node node1 --subresource=status --type=merge \
	-p '{"status":{"addresses":[{"type":"InternalIP","address":"192.168.50.11"}]}}' >/dev/null ||
	sy_fail "kubectl patch node"
wait_on REFUSED ep1 "the Node's InternalIP changed"
grep -q '"NodeIPs changed for the node" node="node1" newNodeIPs=\["192.168.50.11"\] oldNodeIPs=\["192.168.50.1"\]' "$LOG" ||
	sy_fail "no NodeIPs line: $(grep -i 'node' "$LOG" | tail -3)"
alive "NodeIPs changed"

# the Node deleted: no exit, NodePorts on every local address
kc delete node node1 >/dev/null || sy_fail "kubectl delete node"
wait_on ep1 ep1 "the Node deleted"
grep -q '"Node is being deleted" node="node1"' "$LOG" || sy_fail "no deletion line: $(grep -i 'node' "$LOG" | tail -3)"
sleep 1
alive "Node deleted"
[ "$(grep -c '"Node is being deleted"' "$LOG")" = 1 ] || sy_fail "the deletion line more than once"

# it comes back
ipt_node_yaml 192.168.50.1 | kc create --validate=false -f - >/dev/null || sy_fail "kubectl create node"
wait_on ep1 REFUSED "the Node back at .1"
alive "Node back"
sy_pass
