#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Pod network, IPv6 only over vxlan (issue 17): net-conf with EnableIPv4
# false and the vxlan backend; Nodes with an IPv6 podCIDR and IPv6
# InternalIP only, the underlay IPv6 only.  Each node has sy-vx6.1 alone
# (no sy-vx.1, no IPv4 route), MTU 1500-70 in the device, subnet.env and
# the pods; per peer `ip -6 route` / `ip -6 neigh` / `bridge fdb` on
# sy-vx6.1, then one peer's VtepMAC from its backend-v6-data annotation; pods
# ping and talk TCP across nodes through the tunnel; a leaving node's
# entries removed; --cleanup removes the device.
. "$(dirname "$0")/podnet-lib.sh"

VX6=sy-vx6.1
pn_underlay
pn_netconf '{"EnableIPv4": false, "EnableIPv6": true, "IPv6Network": "fd00:10:244::/56",
  "Backend": {"Type": "vxlan"}}'
v6node() { # NAME N [ANNOTATIONS]
	local name=$1 n=$2
	PN_IP6[$name]=fd00:10:100::13$n
	PN_SUBNET6[$name]=fd00:10:244:$n::/64
	[ -n "${PN_NS[$name]:-}" ] || {
		pn_node "$name" 10.10.100.13$n/24 -
		ip -n "${PN_NS[$name]}" addr flush dev eth0
		ip -n "${PN_NS[$name]}" addr add "${PN_IP6[$name]}/64" dev eth0 nodad
		ip netns exec "${PN_NS[$name]}" sysctl -qw net.ipv6.conf.all.forwarding=1
	}
	pn_node6_manifest "$name" "${3:-}"
}
MAC3=	# kube03's VtepMAC once published by hand in backend-v6-data
v6node kube01 1
v6node kube02 2
v6node kube03 3
mac6() { # the VtepMAC kube0N is reached with
	[ "$1" = kube03 ] && [ -n "$MAC3" ] && { echo "$MAC3"; return; }
	pn_mac6 "${PN_IP6[$1]}"
}

export PN_PROXY_MODE=${PN_PROXY_MODE:-none}
for n in kube01 kube02 kube03; do pn_start "$n"; done
for n in kube01 kube02 kube03; do pn_wait_ready "$n"; done
printf 'FLANNEL_IPV6_NETWORK=fd00:10:244::/56\nFLANNEL_IPV6_SUBNET=fd00:10:244:1::1/64\nFLANNEL_MTU=1430\nFLANNEL_IPMASQ=true\n' >"$SY_TMP/exp.env"
diff "$SY_TMP/exp.env" "$SY_TMP/kube01/subnet.env" >/dev/null || sy_fail "subnet.env: $(cat "$SY_TMP/kube01/subnet.env")"

expect6() { # NODE PEER...
	local node=$1 p; shift
	for p in "$@"; do
		echo "${PN_SUBNET6[$p]} via ${PN_SUBNET6[$p]%/*} dev $VX6 onlink"
		echo "neigh ${PN_SUBNET6[$p]%/*} lladdr $(mac6 "$p")"
		echo "fdb $(mac6 "$p") dst ${PN_IP6[$p]} self permanent"
	done | sort >"$SY_TMP/exp6"
	pn_wait_state6 "$node" pn_state6 "$node" "$VX6"
}
expect6 kube01 kube02 kube03
expect6 kube02 kube01 kube03
for node in kube01 kube02; do
	[ -z "$(ip -n "${PN_NS[$node]}" route show proto 94)" ] || sy_fail "$node has IPv4 routes of ours"
	ip -n "${PN_NS[$node]}" link show "$PN_VX" >/dev/null 2>&1 && sy_fail "$node has $PN_VX in an IPv6-only network"
done
link=$(ip -n "${PN_NS[kube01]}" -d link show "$VX6")
echo "$link" | grep -q "mtu 1430 " || sy_fail "$VX6 MTU: $link"
echo "$link" | grep -q "vxlan id 1 local fd00:10:100::131 dev eth0 .*dstport 8472 nolearning" || sy_fail "$VX6: $link"
sy_log "kube01: $VX6 alone, local fd00:10:100::131, MTU 1430; no IPv4 route"

pn_pod kube01 a1
pn_pod kube02 b1
pn_pod kube03 c1
[ "$(pn_pod_mtu a1)" = 1430 ] || sy_fail "pod MTU $(pn_pod_mtu a1), want 1430"
case ${POD_IP[a1]} in fd00:10:244:1:*) ;; *) sy_fail "a1 got ${POD_IP[a1]}" ;; esac
before=$(pn_tx kube01 "$VX6")
pn_ping6 a1 b1
pn_ping6 a1 c1
after=$(pn_tx kube01 "$VX6")
pn_ping6 c1 b1
[ "$after" -ge $((before + 4)) ] || sy_fail "pings did not go through $VX6 (tx packets $before → $after)"
sy_log "IPv6 pings a1→b1, a1→c1, c1→b1 through $VX6 (tx packets $before → $after)"
pn_tcp6 c1 b1

# a VtepMAC published in backend-v6-data wins over the derived one
MAC3=5e:76:aa:bb:cc:03
v6node kube03 3 "switchyard.io/backend-type: vxlan, switchyard.io/backend-v6-data: '{\"VNI\":1,\"VtepMAC\":\"$MAC3\"}'"
expect6 kube01 kube02 kube03
# kube03 leaves: its entries go
rm -f "$PN_M/node-kube03.yaml"
expect6 kube01 kube02
pn_ping6 a1 b1
# --cleanup (kube02's daemon stopped first) removes the device and the routes
kill "${PN_PID[kube02]}"; sy_wait 20 sh -c "! kill -0 ${PN_PID[kube02]} 2>/dev/null"
ip netns exec "${PN_NS[kube02]}" "$SWITCHYARD" --cleanup --pod-network --net-conf "$SY_TMP/net-conf.json" \
	--subnet-file "$SY_TMP/kube02/subnet.env" --cni-conf-dir "$SY_TMP/kube02/cni" >/dev/null 2>&1 ||
	sy_fail "--cleanup failed"
ip -n "${PN_NS[kube02]}" link show "$VX6" >/dev/null 2>&1 && sy_fail "--cleanup left $VX6"
[ -z "$(ip -n "${PN_NS[kube02]}" -6 route show proto 94)" ] || sy_fail "--cleanup left IPv6 routes"
sy_pass "IPv6-only vxlan: $VX6 alone, entries, traffic, cleanup"
