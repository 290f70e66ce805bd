#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The nftables-mode lab, sourced by the tests/e2e/nftables-*.sh that build
# their own lab (run on its own it only says so and skips).  It is
# iptables-lib.sh with IPT_MODE=nftables (its ipt_* helpers, ipt_lab for the
# tests that use the common lab), plus:
#   ipt_lab_base FAM     the node ($NODE) and the client ($CLIENT):
#                        eth-c 192.168.50.1/24 -- .2; FAM 6: IPv6 too,
#                        eth-c fd00:50::1/64 -- ::2 (no DAD)
#   ipt_lab_ep K FAM     endpoint namespace epK, ${IPT_EP_NS[K]}:
#                        eth-K 10.244.K.1/24 -- .2 (FAM 6: fd00:244:K::1 -- ::2)
#   nft_fake FAM ADDRS PREFIXES
#                        the host "fake" ($FAKE): eth-f 192.168.70.1/24 -- .2
#                        (FAM 6: fd00:70::1/64 -- ::2) owning ADDRS on its lo;
#                        the node routes PREFIXES to it
#   nft_echo NS NAME PROTO PORT [ARGS...]   an echo server NAME, listening
#   nft_start FLAGS... / nft_stop           the daemon in $NODE ($LOG, $PID)
#   nft_api ARGS...      the API server double in $NODE (k8s_api ARGS) and
#                        the daemon's kubeconfig $K8S_KUBECONFIG
#   nft_web              the NodePort Service web (10.96.0.80:80, NodePort
#                        30080 -> 8080) with endpoint 10.244.1.2 (ep1)
#   nftn ARGS...         nft in the node namespace
#   nft_map_q FAMILY MAP PYEXPR [ARG]
#                        PYEXPR over the elements of map MAP of table
#                        FAMILY switchyard: elems = [(first, last, values)]
#                        (off = ARG as an integer)
#   svc_key IP PROTO PORT  a service-ranges key's prefix (IP . PROTO . PORT,
#                        value 0) as one integer, as nft prints the keys
# $M is the manifest directory ($IPT_M).
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	echo "nftables-lib.sh: the lab library of tests/e2e/nftables-*.sh (not a test)" >&2
	exit 77
fi
IPT_MODE=nftables
. "$(dirname "${BASH_SOURCE[0]}")/iptables-lib.sh"
. "$SY_SRC/tests/apiserver/lib.sh"
[ "$(id -u)" = 0 ] || sy_skip "needs root"
command -v nft >/dev/null || sy_skip "nft missing"

M=$IPT_M
PID=
LOG=

nft_fake() {
	local fam=$1 a
	sy_mkns FAKE fake
	[ "$fam" = 6 ] && ipt_nodad "$FAKE"
	sy_veth "$NODE" eth-f 192.168.70.1/24 "$FAKE" eth0 192.168.70.2/24
	ip -n "$FAKE" route add default via 192.168.70.1
	if [ "$fam" = 6 ]; then
		ip -n "$NODE" addr add fd00:70::1/64 dev eth-f nodad
		ip -n "$FAKE" addr add fd00:70::2/64 dev eth0 nodad
		ip -n "$FAKE" -6 route add default via fd00:70::1
	fi
	for a in $2; do ip -n "$FAKE" addr add "$a" dev lo; done
	for a in $3; do
		case $a in
		*:*) ip -n "$NODE" -6 route add "$a" via fd00:70::2 ;;
		*) ip -n "$NODE" route add "$a" via 192.168.70.2 ;;
		esac
	done
}

nft_echo() {
	local ns=$1 name=$2 proto=$3 port=$4
	shift 4
	sy_bg "$ns" "$SY_TMP/echo-$name-$proto-$port.log" "$PY" "$SY_SRC/tests/lib/echo_server.py" \
		--proto "$proto" --port "$port" --name "$name" "$@"
	sy_wait_bound "$ns" "$proto" "$port" || sy_fail "echo server $name ($proto $port) not listening"
}

# nft_start FLAGS...: the flags every one of these tests runs the daemon
# with, then FLAGS (a flag given again overrides)
nft_start() {
	ipt_run --hostname-override node1 --healthz-bind-address "" --min-sync-period 0s \
		--sync-period 1h -v 2 "$@"
	LOG=$IPT_LOG PID=$IPT_PID
}
nft_stop() {
	ipt_stop
	PID=
}

nft_api() {
	K8S_NS=$NODE
	export HOME=$SY_TMP KUBECONFIG=/dev/null
	k8s_api "$@"
	K8S_KUBECONFIG=$SY_TMP/kubeconfig
	k8s_kubeconfig "$K8S_KUBECONFIG" "$K8S_URL" "" "    {}"
}

nft_web() {
	IPT_NODEPORT=", nodePort: 30080" ipt_svc web 10.96.0.80 80 8080 TCP "type: NodePort"
	echo ---
	ipt_slice web TCP 8080 10.244.1.2
}

nftn() { ip netns exec "$NODE" nft "$@"; }

nft_map_q() {
	nftn -j list map "$1" switchyard "$2" | "$PY" -c '
import json, sys
off = int(sys.argv[2]) if sys.argv[2] else None
def num(x): return int(x, 0) if isinstance(x, str) else x	# wide integers print as hex strings
# bits of a key: endpoint-ranges 32, service-ranges the address (4 / 16 bytes) and 12 more
bits = 32 if sys.argv[3].startswith("endpoint-") else 128 if sys.argv[4] == "ip" else 224
def rng(k):
    if not isinstance(k, dict): return num(k), num(k)
    if "range" in k: return tuple(num(x) for x in k["range"])
    p = k["prefix"]; a = num(p["addr"]); return a, a + (1 << (bits - p["len"])) - 1
def val(v):
    return v["concat"] if isinstance(v, dict) and "concat" in v else [v]
m = [o["map"] for o in json.load(sys.stdin)["nftables"] if "map" in o][0]
elems = [rng(e[0]) + (val(e[1]),) for e in m.get("elem", [])]
print(eval(sys.argv[1]))' "$3" "${4:-}" "$2" "$1"
}
svc_key() {
	"$PY" -c 'import ipaddress, sys
print(int.from_bytes(ipaddress.ip_address(sys.argv[1]).packed + bytes([int(sys.argv[2]), 0, 0, 0]) + int(sys.argv[3]).to_bytes(2, "big") + bytes(6), "big"))' "$@"
}
