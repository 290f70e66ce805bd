#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Pod network, dual stack (issue 17), host-gw backend: net-conf with
# EnableIPv6 / IPv6Network, Nodes with an IPv4 and an IPv6 podCIDR and
# InternalIP.  Checks subnet.env's FLANNEL_IPV6_* keys, the conflist's two
# host-local ranges, the IPv6 routes (`ip -6 route show proto 94`: "peer
# IPv6 subnet via peer IPv6 address dev eth0") next to the IPv4 ones, real
# IPv6 and IPv4 traffic between pods on three nodes (ping -6/-4, a TCP
# echo that shows the pod's IPv6 source kept), a peer with a bad IPv6
# podCIDR (logged, IPv4 route kept, no IPv6 route), a peer's IPv6 address
# from the public-ipv6 annotation, a leaving node's IPv6 route removed, a
# deleted IPv6 route repaired by the full resync, IPv6 egress masqueraded
# to the node's IPv6 address by the ip6tables chains (ip6tables-save; a
# deleted chain restored), --cleanup removing the IPv6 routes and chains,
# and net-conf files the pod network refuses with a clear error (exit 2).
. "$(dirname "$0")/podnet-lib.sh"

pn_underlay
pn_netconf '{"Network": "10.111.0.0/16", "EnableIPv6": true, "IPv6Network": "fd00:10:244::/56",
  "Backend": {"Type": "host-gw"}}'
declare -A PN_IP6 PN_SUBNET6
# pn6_node NAME N: kube0N at 10.10.100.13N and fd00:10:100::13N, subnets 10.111.N.0/24, fd00:10:244:N::/64
pn6_node() {
	local name=$1 n=$2
	PN_IP6[$name]=fd00:10:100::13$n
	PN_SUBNET6[$name]=fd00:10:244:$n::/64
	pn_node "$name" 10.10.100.13$n/24 10.111.$n.0/24
	ip -n "${PN_NS[$name]}" addr add "${PN_IP6[$name]}/64" dev eth0 nodad
	ip netns exec "${PN_NS[$name]}" sysctl -qw net.ipv6.conf.all.forwarding=1
	pn6_manifest "$name"
}
# pn6_manifest NAME [ANNOTATIONS]: the Node with both podCIDRs and both InternalIPs
pn6_manifest() {
	local name=$1 ann=${2:-}
	cat >"$PN_M/.node-$name.tmp" <<Y
apiVersion: v1
kind: Node
metadata:
  name: $name
  annotations: {${ann}}
spec: {podCIDR: ${PN_SUBNET[$name]}, podCIDRs: [${PN_SUBNET[$name]}, "${PN_SUBNET6[$name]}"]}
status:
  addresses:
  - {type: InternalIP, address: ${PN_IP[$name]}}
  - {type: InternalIP, address: "${PN_IP6[$name]}"}
  - {type: Hostname, address: $name}
Y
	mv "$PN_M/.node-$name.tmp" "$PN_M/node-$name.yaml"
}
pn6_node kube01 1
pn6_node kube02 2
pn6_node kube03 3
# kube04: only a Node object, with an IPv6 podCIDR outside IPv6Network
PN_IP[kube04]=10.10.100.140 PN_SUBNET[kube04]=10.111.4.0/24
PN_IP6[kube04]=fd00:10:100::140 PN_SUBNET6[kube04]=fd00:99::/64
pn6_manifest kube04

# "internet": outside both pod networks
sy_mkns NET internet
sy_veth "$NET" eth0 10.10.100.250/24 "$PN_UL" pinet -
ip -n "$PN_UL" link set pinet master br0
ip -n "$NET" addr add fd00:10:100::250/64 dev eth0 nodad
sy_bg "$NET" "$SY_TMP/echo-net.log" "$PY" "$SY_SRC/tests/lib/echo_server.py" --proto tcp --port 8000 --name internet --bind ::
sy_bg "$NET" "$SY_TMP/echo-net4.log" "$PY" "$SY_SRC/tests/lib/echo_server.py" --proto tcp --port 8001 --name internet

export PN_PROXY_MODE=${PN_PROXY_MODE:-none}
for n in kube01 kube02 kube03; do pn_start "$n" --sync-period 2s; done
for n in kube01 kube02 kube03; do pn_wait_ready "$n"; done

# files
sy_wait 30 grep -qx "FLANNEL_IPV6_SUBNET=fd00:10:244:1::1/64" "$SY_TMP/kube01/subnet.env" ||
	sy_fail "subnet.env: $(cat "$SY_TMP/kube01/subnet.env"); log: $(tail -5 "${PN_LOG[kube01]}")"
grep -qx "FLANNEL_IPV6_NETWORK=fd00:10:244::/56" "$SY_TMP/kube01/subnet.env" || sy_fail "FLANNEL_IPV6_NETWORK"
grep -qx "FLANNEL_SUBNET=10.111.1.1/24" "$SY_TMP/kube01/subnet.env" || sy_fail "FLANNEL_SUBNET"
$PY - "$SY_TMP/kube01/cni/10-switchyard.conflist" <<'EOF' || sy_fail "conflist ranges: $(cat "$SY_TMP/kube01/cni/10-switchyard.conflist")"
import json, sys
ipam = json.load(open(sys.argv[1]))["plugins"][0]["ipam"]
assert [r[0]["subnet"] for r in ipam["ranges"]] == ["10.111.1.0/24", "fd00:10:244:1::/64"], ipam
assert [r["dst"] for r in ipam["routes"]] == ["0.0.0.0/0", "::/0"], ipam
EOF

# routes: both families per peer; kube04 keeps its IPv4 route, gets no IPv6 one
routes6() { ip -n "${PN_NS[$1]}" -6 route show proto 94 | awk '{print $1, $2, $3, $4, $5}' | sort; }
expect6() { # NODE PEER...
	local node=$1 p; shift
	for p in "$@"; do echo "${PN_SUBNET6[$p]} via ${PN_IP6[$p]} dev eth0"; done | sort >"$SY_TMP/exp6"
	sy_wait 30 sh -c "[ \"\$(ip -n '${PN_NS[$node]}' -6 route show proto 94 | awk '{print \$1, \$2, \$3, \$4, \$5}' | sort)\" = \"\$(cat '$SY_TMP/exp6')\" ]" || {
		echo "--- $node ip -6 route show proto 94:"; ip -n "${PN_NS[$node]}" -6 route show proto 94
		echo "--- expected:"; cat "$SY_TMP/exp6"
		echo "--- log:"; tail -n 20 "${PN_LOG[$node]}"
		sy_fail "$node: IPv6 routes do not match"
	} >&2
	sy_log "$node: ip -6 route proto 94 = $(tr '\n' ';' <"$SY_TMP/exp6")"
}
expect6 kube01 kube02 kube03
expect6 kube02 kube01 kube03
pn_check kube01 kube02:direct kube03:direct kube04:direct
grep -q "pod network: node kube04: fd00:99::/64 is not inside IPv6Network fd00:10:244::/56; no IPv6 route" \
	"${PN_LOG[kube01]}" || sy_fail "bad IPv6 podCIDR not reported: $(grep kube04 "${PN_LOG[kube01]}")"
[ "$(grep -c "node kube04: fd00:99::/64 is not inside" "${PN_LOG[kube01]}")" = 1 ] ||
	sy_fail "the bad IPv6 podCIDR is reported more than once"

# pods get both families and reach each other over both
pn_pod kube01 a1
pn_pod kube02 b1
pn_pod kube03 c1
ip6of() { $PY -c 'import json,sys; print([i["address"].split("/")[0] for i in json.load(open(sys.argv[1]))["ips"] if ":" in i["address"]][0])' "$SY_TMP/${POD_NODE[$1]}/$1.result"; }
for p in a1 b1 c1; do POD_IP6[$p]=$(ip6of $p) || sy_fail "no IPv6 address for $p"; done
case ${POD_IP6[a1]} in fd00:10:244:1:*) ;; *) sy_fail "a1's IPv6 ${POD_IP6[a1]} not in kube01's subnet" ;; esac
sy_log "pods: a1 ${POD_IP[a1]} ${POD_IP6[a1]}, b1 ${POD_IP[b1]} ${POD_IP6[b1]}, c1 ${POD_IP[c1]} ${POD_IP6[c1]}"
pn_ping6 a1 b1
pn_ping6 a1 c1
pn_ping6 c1 b1
pn_ping a1 b1
pn_ping c1 a1
pn_tcp6 c1 b1

# IPv6 egress leaves with the node's IPv6 address; the chains as ip6tables-save shows them
save6() { ip netns exec "${PN_NS[$1]}" ip6tables-legacy-save -t "$2" | grep -E "^-A (POSTROUTING|FORWARD|SY-PODNET)" | grep -E "SY-PODNET"; }
cat >"$SY_TMP/exp-nat6" <<'E'
-A POSTROUTING -j SY-PODNET-MASQ
-A SY-PODNET-MASQ -s fd00:10:244::/56 -d fd00:10:244::/56 -j RETURN
-A SY-PODNET-MASQ -s fd00:10:244::/56 -d ff00::/8 -j RETURN
-A SY-PODNET-MASQ -s fd00:10:244::/56 -j MASQUERADE --random-fully
E
cat >"$SY_TMP/exp-filter6" <<'E'
-A FORWARD -j SY-PODNET-FWD
-A SY-PODNET-FWD -s fd00:10:244::/56 -j ACCEPT
-A SY-PODNET-FWD -d fd00:10:244::/56 -j ACCEPT
E
[ "$(save6 kube02 nat)" = "$(cat "$SY_TMP/exp-nat6")" ] || sy_fail "ip6tables nat: $(ip netns exec "${PN_NS[kube02]}" ip6tables-legacy-save -t nat)"
[ "$(save6 kube02 filter)" = "$(cat "$SY_TMP/exp-filter6")" ] || sy_fail "ip6tables filter: $(save6 kube02 filter)"
ip netns exec "${PN_NS[kube02]}" ip6tables-legacy -P FORWARD DROP
ans=$(sy_ask "${POD_NS[b1]}" tcp fd00:10:100::250 8000)
[ "$ans" = "internet ${PN_IP6[kube02]}" ] || sy_fail "IPv6 egress: \"$ans\", want from ${PN_IP6[kube02]}"
ans=$(sy_ask "${POD_NS[b1]}" tcp 10.10.100.250 8001)
[ "$ans" = "internet ${PN_IP[kube02]}" ] || sy_fail "IPv4 egress: \"$ans\", want from ${PN_IP[kube02]}"
sy_log "egress from b1: IPv6 as ${PN_IP6[kube02]}, IPv4 as ${PN_IP[kube02]} (FORWARD policy DROP)"
# a chain flushed by hand is restored by the next full resync
ip netns exec "${PN_NS[kube02]}" ip6tables-legacy -t nat -F SY-PODNET-MASQ
sy_wait 30 sh -c "[ \"\$(ip netns exec '${PN_NS[kube02]}' ip6tables-legacy-save -t nat | grep -c '^-A SY-PODNET-MASQ')\" = 3 ]" ||
	sy_fail "SY-PODNET-MASQ (ip6) not restored: $(save6 kube02 nat)"
[ "$(save6 kube02 nat)" = "$(cat "$SY_TMP/exp-nat6")" ] || sy_fail "restored ip6 nat differs: $(save6 kube02 nat)"

# the public-ipv6 annotation wins over the InternalIP
ip -n "${PN_NS[kube03]}" addr add fd00:10:100::153/64 dev eth0 nodad
pn6_manifest kube03 '"flannel.alpha.coreos.com/public-ipv6": "fd00:10:100::153"'
PN_IP6[kube03]=fd00:10:100::153
expect6 kube01 kube02 kube03
pn_ping6 a1 c1

# a deleted IPv6 route comes back with the full resync (--sync-period 2s)
ip -n "${PN_NS[kube01]}" -6 route del "${PN_SUBNET6[kube02]}"
expect6 kube01 kube02 kube03
pn_ping6 a1 b1

# kube03 leaves: its IPv6 route goes, kube02's stays
rm -f "$PN_M/node-kube03.yaml"
expect6 kube01 kube02
pn_ping6 a1 b1

# --cleanup removes the IPv6 routes and the ip6tables chains too
kill "${PN_PID[kube01]}"
sy_wait 20 sh -c "! kill -0 ${PN_PID[kube01]} 2>/dev/null"
ip netns exec "${PN_NS[kube01]}" "$SWITCHYARD" --cleanup --pod-network \
	--net-conf "$SY_TMP/net-conf.json" --subnet-file "$SY_TMP/kube01/subnet.env" \
	--cni-conf-dir "$SY_TMP/kube01/cni" >"$SY_TMP/cleanup.log" 2>&1 || sy_fail "--cleanup failed: $(cat "$SY_TMP/cleanup.log")"
[ -z "$(ip -n "${PN_NS[kube01]}" -6 route show proto 94)" ] || sy_fail "--cleanup left IPv6 routes"
[ -z "$(ip -n "${PN_NS[kube01]}" route show proto 94)" ] || sy_fail "--cleanup left IPv4 routes"
ip netns exec "${PN_NS[kube01]}" ip6tables-legacy-save | grep -q SY-PODNET && sy_fail "--cleanup left ip6tables chains"

# refused net-conf files: clear error, exit 2
bad() { # JSON NEEDLE
	printf '%s\n' "$1" >"$SY_TMP/bad.json"
	out=$(ip netns exec "${PN_NS[kube01]}" timeout 10 "$SWITCHYARD" --pod-network --net-conf "$SY_TMP/bad.json" \
		--manifests "$PN_M" --hostname-override kube01 --proxy-mode=none --subnet-file "$SY_TMP/bad.env" \
		--cni-conf-dir "$SY_TMP/badcni" --healthz-bind-address= --metrics-bind-address= 2>&1)
	rc=$?
	[ $rc = 2 ] || sy_fail "net-conf $1: exit $rc, want 2: $out"
	echo "$out" | grep -q "$2" || sy_fail "net-conf $1: error lacks \"$2\": $out"
}
bad '{"Network": "10.111.0.0/16", "EnableIPv6": true}' "IPv6Network is missing"
bad '{"Network": "10.111.0.0/16", "EnableIPv6": true, "IPv6Network": "fd00::/125", "Backend": {"Type": "host-gw"}}' "too small"
bad '{"Network": "10.111.0.0/16", "EnableIPv6": true, "IPv6Network": "fd00:10:244::/56", "IPv6SubnetLen": 127, "Backend": {"Type": "host-gw"}}' "too long"
sy_pass "dual-stack host-gw: IPv6 routes, files, pods over both families, IPv6 masquerade"
