#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# iptables mode dispatch trees with real packets: 300 ClusterIP Services on
# random addresses (SY-SERVICES becomes a tree of SY-DST-* chains keyed on
# address bits) and 60 TCP + 20 UDP NodePorts (SY-NODEPORTS becomes a tree
# of port ranges).  Connections to a sample of ClusterIPs and NodePorts,
# first, last and in between, all reach an endpoint; an address that is
# not a Service is not captured.
. "$(dirname "$0")/iptables-lib.sh"

ipt_lab 2
for k in 1 2; do ipt_server $k tcp 8080; ipt_server $k udp 8080; done
ipt_node_manifest
"$PY" - "$IPT_M/many.json" "$IPT_FAM" >"$SY_TMP/sample" <<'PYEOF'
import json, random, sys
random.seed(3)
six = sys.argv[2] == "6"  # the addresses' IPv6 twins, as ipt_ip makes them
items, used = [], set()
for i in range(300):
    while True:
        a = random.randrange(1, 1 << 16)
        if a not in used and a & 255 and a != 70:
            used.add(a); break
    ip = "10.96.%d.%d" % (a >> 8, a & 255)
    port = {"name": "p", "protocol": "UDP" if 60 <= i < 80 else "TCP", "port": 80, "targetPort": 8080}
    ip6 = "fd00:96::%d:%d" % (a >> 8, a & 255) if a >> 8 else "fd00:96::%d" % (a & 255)
    spec = {"clusterIP": ip6, "clusterIPs": [ip6], "ipFamilies": ["IPv6"]} if six else {"clusterIP": ip}
    spec["ports"] = [port]
    if i < 80:
        spec["type"] = "NodePort"; port["nodePort"] = 30000 + i * 7
    items.append({"apiVersion": "v1", "kind": "Service",
                  "metadata": {"name": "s%d" % i, "namespace": "default"}, "spec": spec})
    items.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                  "metadata": {"name": "s%d-x" % i, "namespace": "default",
                               "labels": {"kubernetes.io/service-name": "s%d" % i}},
                  "addressType": "IPv6" if six else "IPv4",
                  "ports": [{"name": "p", "protocol": port["protocol"], "port": 8080}],
                  "endpoints": [{"addresses": ["fd00:244:%d::2" % k if six else "10.244.%d.2" % k],
                                 "conditions": {"ready": True},
                                 "nodeName": "node2"} for k in (1, 2)]})
    if i % 23 == 0 or i in (80, 299):
        print("cip", port["protocol"].lower(), ip)
    if i < 80 and (i % 9 == 0 or i in (59, 60, 79)):
        print("np", port["protocol"].lower(), port["nodePort"])
json.dump({"apiVersion": "v1", "kind": "List", "items": items}, open(sys.argv[1], "w"))
PYEOF
ipt_start

save=$(ipt_save nat)
dst=$(grep -c '^:SY-DST-[0-9A-F]' <<<"$save")
npt=$(grep -c '^:SY-DST-P' <<<"$save")
[ "$dst" -ge 4 ] || sy_fail "no address tree ($dst SY-DST chains)"
[ "$npt" -ge 4 ] || sy_fail "no NodePort tree ($npt SY-DST-P chains)"
[ "$(grep -c -- '-A SY-SERVICES ' <<<"$save")" -le 18 ] || sy_fail "SY-SERVICES is not small"
[ "$(grep -c -- '-A SY-NODEPORTS ' <<<"$save")" -le 16 ] || sy_fail "SY-NODEPORTS is not small"
n=0
while read -r kind proto what; do
	if [ "$kind" = cip ]; then
		out=$(ipt_ask_many "$CLIENT" "$proto" "$what" 80 2)
	else
		out=$(ipt_ask_many "$CLIENT" "$proto" 192.168.50.1 "$what" 2)
	fi
	[ "$(grep -c '^ep[12] ' <<<"$out")" -eq 2 ] || sy_fail "$kind $proto $what: $out"
	n=$((n + 1))
done <"$SY_TMP/sample"
# an address inside the tree's prefixes that is no Service: not DNATed, not rejected
# (1 s: over IPv6 the node's neighbour discovery for it gives up after 3 s
# and answers "address unreachable", which is not a REJECT either)
out=$(IPT_ASK_TIMEOUT=1 ipt_ask_many "$CLIENT" tcp 10.96.0.70 80 1)
[ "$out" = TIMEOUT ] || sy_fail "10.96.0.70 (no Service) answered: $out"
sy_pass "$n samples through $dst address-tree and $npt port-tree chains"
