#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Pod network configuration and subnet validation:
# - invalid net-conf.json files: the daemon exits 2 with the reason;
# - this node's podCIDR unassigned: a clear error, nothing set up; picked up
#   (device, files, routes) as soon as the Node gets one;
# - peers outside Network, outside [SubnetMin, SubnetMax], overlapping this
#   node's subnet or without an address: one logged error each, no entries;
#   a fixed peer gets its entries.
. "$(dirname "$0")/podnet-lib.sh"

pn_underlay
pn_netconf '{"Network": "10.111.0.0/16", "SubnetMax": "10.111.200.0"}'
PN_SUBNET_KUBE01=10.111.1.0/24
pn_node kube01 10.10.100.133/24 -

# bad net-conf files
bad() { # JSON EXPECTED_MESSAGE
	printf '%s\n' "$1" >"$SY_TMP/bad.json"
	timeout 10 ip netns exec "${PN_NS[kube01]}" "$SWITCHYARD" --pod-network \
		--net-conf "$SY_TMP/bad.json" --manifests "$PN_M" --hostname-override kube01 \
		--proxy-mode=iptables --healthz-bind-address= --metrics-bind-address= \
		>"$SY_TMP/bad.log" 2>&1
	rc=$?
	[ $rc = 2 ] || sy_fail "net-conf $1: exit $rc, want 2: $(cat "$SY_TMP/bad.log")"
	grep -q "Pod network: net-conf $SY_TMP/bad.json: $2" "$SY_TMP/bad.log" ||
		sy_fail "net-conf $1: message: $(grep Pod "$SY_TMP/bad.log")"
}
bad '{"Network": "10.111.0.0/16"' "not valid JSON"
bad '{"SubnetLen": 24}' "Network is missing"
bad '{"Network": "10.111.0.0/16", "SubnetLen": 16}' "SubnetLen /16 must be longer than the Network's /16"
bad '{"Network": "10.111.0.0/16", "SubnetMin": "10.111.9.0", "SubnetMax": "10.111.8.0"}' \
	"SubnetMin 10.111.9.0 is above SubnetMax 10.111.8.0"
bad '{"Network": "10.111.0.0/16", "SubnetMin": "10.112.0.0"}' "SubnetMin 10.112.0.0 is not in Network"
bad '{"Network": "10.111.0.0/16", "Backend": {"Type": "udp"}}' 'unknown Backend.Type "udp"'
bad '{"Network": "10.111.0.0/30"}' "Network 10.111.0.0/30 is too small"
rm -f "$SY_TMP/bad.json"
timeout 10 ip netns exec "${PN_NS[kube01]}" "$SWITCHYARD" --pod-network --net-conf "$SY_TMP/bad.json" \
	--manifests "$PN_M" --hostname-override kube01 --healthz-bind-address= \
	--metrics-bind-address= >"$SY_TMP/bad.log" 2>&1
[ $? = 2 ] && grep -q "bad.json: No such file or directory" "$SY_TMP/bad.log" ||
	sy_fail "missing net-conf: $(cat "$SY_TMP/bad.log")"

# peers: one good, four bad
peer() { PN_IP[$1]=$2; PN_SUBNET[$1]=$3; pn_node_manifest "$1"; }
peer kube02 10.10.100.134 10.111.2.0/24
peer kube05 10.10.100.137 10.112.5.0/24		# outside Network
peer kube06 10.10.100.138 10.111.250.0/24	# above SubnetMax
peer kube07 10.10.100.139 10.111.1.128/25	# overlaps kube01
peer kube08 10.10.100.140 10.111.0.0/24	# below SubnetMin (the first subnet)

# this node has no podCIDR yet
pn_start kube01
L=${PN_LOG[kube01]}
sy_wait 30 grep -q 'pod network: node "kube01" pod cidr not assigned' "$L" ||
	sy_fail "unassigned podCIDR not reported: $(tail -5 "$L")"
sleep 1
[ -e "$SY_TMP/kube01/cni/10-switchyard.conflist" ] && sy_fail "conflist written without a subnet"
ip -n "${PN_NS[kube01]}" link show "$PN_VX" >/dev/null 2>&1 && sy_fail "device created without a subnet"
[ "$(grep -c 'pod cidr not assigned' "$L")" = 1 ] || sy_fail "the error is repeated"

# assigned: picked up
PN_SUBNET[kube01]=$PN_SUBNET_KUBE01
pn_node_manifest kube01
pn_wait_ready kube01
grep -qx "FLANNEL_SUBNET=10.111.1.1/24" "$SY_TMP/kube01/subnet.env" || sy_fail "subnet.env"
pn_check kube01 kube02:vxlan
grep -q "pod network: node kube05: 10.112.5.0/24 is not inside Network 10.111.0.0/16; ignored" "$L" ||
	sy_fail "kube05 not reported"
grep -q "pod network: node kube06: 10.111.250.0/24 is outside \[SubnetMin, SubnetMax\] = \[10.111.1.0, 10.111.200.255\]; ignored" "$L" ||
	sy_fail "kube06 not reported: $(grep kube06 "$L")"
grep -q "pod network: node kube07: podCIDR 10.111.1.128/25 overlaps this node's 10.111.1.0/24; ignored" "$L" ||
	sy_fail "kube07 not reported"
grep -q "pod network: node kube08: 10.111.0.0/24 is outside \[SubnetMin" "$L" || sy_fail "kube08 not reported"

# a fixed peer gets its entries; the others are untouched
peer kube05 10.10.100.137 10.111.5.0/24
pn_check kube01 kube02:vxlan kube05:vxlan
# a peer losing its podCIDR loses its entries
PN_SUBNET[kube02]=-
pn_node_manifest kube02
pn_check kube01 kube05:vxlan
sy_pass
