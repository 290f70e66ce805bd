#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# nftables mode, --nodeport-addresses unset ("primary", kube-proxy's
# default): the NodePorts answer on the Node object's addresses, and follow
# them.  Real packets from a client to a NodePort on two node addresses.
#  1. manifest directory, the Node written after the start: the NodePorts
#     move to the Node's InternalIP at once (not at the next --sync-period),
#     and again when the Node's InternalIP changes (a connection through
#     the NodePort stays up); an unchanged restart writes nothing.
#  2. API server double: the first list of Nodes fails; the first sync waits
#     for the Node, so an unchanged restart writes nothing (a first sync
#     before the Node would rewrite the NodePort rules); Nodes that cannot
#     be listed hold the first sync back 10 s only, with a warning.
#
#   node: eth-c 192.168.50.1/24 and 192.168.50.11/24 -- client .2
#         eth-1 10.244.1.1/24 -- ep1 .2 (echo on 8080)
. "$(dirname "$0")/nftables-lib.sh"

ipt_lab_base 4
ip -n "$NODE" addr add 192.168.50.11/24 dev eth-c
ipt_lab_ep 1 4
nft_echo "${IPT_EP_NS[1]}" ep1 tcp 8080 --bind 0.0.0.0 --hold

services() { nft_web; }
# node_yaml IP → the Node with that InternalIP
node_yaml() { ipt_node_yaml "$1"; }
write() { ipt_write "$1"; }

# no --nodeport-addresses: the nftables default "primary"
start() {
	nft_start --cluster-cidr 10.244.0.0/16 --metrics-bind-address 127.0.0.1:10249 "$@"
}
stop() { nft_stop; }
# ask IP → the first word of the answer from NodePort 30080: ep1, REFUSED, TIMEOUT
ask() {
	ip netns exec "$CLIENT" "$PY" "$SY_SRC/tests/lib/echo_client.py" --proto tcp --host "$1" \
		--port 30080 --timeout 1 2>/dev/null | cut -d' ' -f1
}
# only IP: the NodePort answers on IP and not on the other node address
only_on() {
	local other=192.168.50.11
	[ "$1" = "$other" ] && other=192.168.50.1
	[ "$(ask "$1")" = ep1 ] && [ "$(ask "$other")" != ep1 ]
}
wait_only_on() {
	sy_wait "${W:-8}" only_on "$1" ||
		sy_fail "${2:-}NodePort on $1 only: $1 '$(ask "$1")', other '$(ask 192.168.50.11)/$(ask 192.168.50.1)'; nodeport-ips: $(ip netns exec "$NODE" nft list set ip switchyard nodeport-ips 2>&1 | grep elements)"
}
unchanged_restart() {
	stop
	start "$@"
	grep "First sync complete" -B1 "$LOG" | grep -q "writes=0" ||
		sy_fail "${R:-}an unchanged restart wrote the kernel: $(grep 'SyncProxyRules' "$LOG" | head -2)"
}

# ---- 1. manifest directory, the Node after the start ----
services | write svc.yaml
start --manifests "$M"
node_yaml 192.168.50.1 | write node.yaml
wait_only_on 192.168.50.1 "the Node came after the start: "
# the Node's address changes: the NodePorts follow, an open connection through them stays
cat >"$SY_TMP/held.py" <<'EOF'
import os, socket, sys, time
s = socket.create_connection(("192.168.50.1", 30080), timeout=3)
print("first", s.recv(100).split()[0].decode(), flush=True)
end = time.time() + 30
while not os.path.exists(sys.argv[1]) and time.time() < end:
    time.sleep(0.05)
s.sendall(b"y\n")
b = s.recv(100)
print("held", b.split()[0].decode() if b else "none", flush=True)
EOF
sy_bg "$CLIENT" "$SY_TMP/held.out" "$PY" "$SY_TMP/held.py" "$SY_TMP/go"
sy_wait 5 grep -q "^first ep1" "$SY_TMP/held.out" || sy_fail "the held connection: $(cat "$SY_TMP/held.out")"
node_yaml 192.168.50.11 | write node.yaml
wait_only_on 192.168.50.11 "the Node's InternalIP changed: "
grep -q "Node node1: IPv4 address changed; NodePorts follow" "$LOG" || sy_fail "no log line for the Node's new address"
touch "$SY_TMP/go"
sy_wait 5 grep -q "^held" "$SY_TMP/held.out" || sy_fail "the held connection: $(cat "$SY_TMP/held.out")"
grep -q "^held ep1$" "$SY_TMP/held.out" || sy_fail "the connection through the old NodePort address broke: $(cat "$SY_TMP/held.out")"
R="manifests: " unchanged_restart --manifests "$M"
wait_only_on 192.168.50.11 "manifests, after a restart: "
stop

# ---- 2. the API server double: the first list of Nodes fails ----
command -v kubectl >/dev/null || { sy_log "kubectl not installed: the API part not run"; sy_pass; }
nft_api --service-cluster-ip-range 10.96.0.0/16
node_yaml 192.168.50.1 | kc create --validate=false -f - >/dev/null || sy_fail "kubectl create node"
services | kc create --validate=false -f - >/dev/null || sy_fail "kubectl create services"
start --kubeconfig "$K8S_KUBECONFIG"
wait_only_on 192.168.50.1 "API: "
k8s_ctl fail "n=1&code=500&resource=nodes" >/dev/null || sy_fail "fail injection"
R="API, the Nodes' first list failing: " unchanged_restart --kubeconfig "$K8S_KUBECONFIG"
grep -q "Nodes: retrying\|Nodes.*500" "$LOG" || sy_fail "the Nodes' list did not fail: $(grep -i node "$LOG" | head -5)"
wait_only_on 192.168.50.1 "API, after a restart: "
# Nodes that cannot be listed hold the first sync back 10 s, not for ever
# (NodePorts on every local address meanwhile), and the rules follow the Node
stop
k8s_ctl fail "n=100000&code=500&resource=nodes" >/dev/null || sy_fail "fail injection"
start --kubeconfig "$K8S_KUBECONFIG"
grep -q "Node not listed after 10s; syncing without it" "$LOG" ||
	sy_fail "no warning for the unlisted Node: $(grep -i node "$LOG" | tail -3)"
[ "$(ask 192.168.50.11)" = ep1 ] || sy_fail "Node unlisted: no NodePort on every local address"
k8s_ctl fail "n=0" >/dev/null || sy_fail "fail injection off"
W=40 wait_only_on 192.168.50.1 "API, the Node listed late: "
stop
sy_pass
