#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# NetworkPolicy in dual stack on switchyard's own pod network: two nodes
# kube01/kube02 running --pod-network (vxlan, EnableIPv6: IPv6 pods through
# the IPv4 tunnel) --network-policy; the pods x/y/z x a/b/c are attached by
# Debian's CNI bridge + host-local plugins through the dual-family conflist
# switchyard wrote (a and c on kube01, b on kube02), each with an IPv4 and
# an IPv6 address.  Every pod is enforced by its own node; same-node traffic
# crosses the cni bridge (br_netfilter for both families: switchyard turns
# bridge-nf-call-iptables and -ip6tables on, they start at 0 here),
# cross-node traffic the tunnel.  A representative set of the lab's cases
# (or NP_PODNET_CASES=a,b; "all" for every case) is probed in both
# families, 864 cells a case, against the evaluator: default deny (also
# with every pod's neighbour cache flushed), selectors, named ports,
# egress, ipBlocks of both families, a pod relabel, deletion.
. "$(dirname "$0")/podnet-lib.sh"

[ -x "$SWITCHYARD" ] || sy_skip "no switchyard binary at $SWITCHYARD"
command -v nft >/dev/null || sy_skip "nft missing"

CASES=${NP_PODNET_CASES:-allow-all-baseline,default-deny-ingress,default-deny-ingress-fresh-neighbours,default-deny-all,ingress-podselector-and-namespaceselector,ingress-named-port,egress-to-namespace,ipblock-except,ipblock-v6-except,ipblock-both-families-egress,update-policy-before,update-pod-labels,delete-all-policies}
[ "$CASES" = all ] && CASES=

pn_underlay
pn_netconf '{"Network": "10.111.0.0/16", "EnableIPv6": true, "IPv6Network": "fd00:10:244::/56", "Backend": {"Type": "vxlan"}}'
declare -A PN_SUBNET6
for n in 1 2; do
	name=kube0$n
	PN_SUBNET6[$name]=fd00:10:244:$n::/64
	pn_node $name 10.10.100.13$((n + 2))/24 10.111.$n.0/24
	cat >"$PN_M/.node-$name.tmp" <<Y
apiVersion: v1
kind: Node
metadata: {name: $name}
spec: {podCIDR: ${PN_SUBNET[$name]}, podCIDRs: [${PN_SUBNET[$name]}, "${PN_SUBNET6[$name]}"]}
status:
  addresses:
  - {type: InternalIP, address: ${PN_IP[$name]}}
Y
	mv "$PN_M/.node-$name.tmp" "$PN_M/node-$name.yaml"
	sy_no_icmp_ratelimit "${PN_NS[$name]}"
	ip netns exec "${PN_NS[$name]}" sysctl -qw net.ipv6.conf.all.forwarding=1 \
		net.ipv6.icmp.ratelimit=0
	ip netns exec "${PN_NS[$name]}" sysctl -qw net.bridge.bridge-nf-call-iptables=0 \
		net.bridge.bridge-nf-call-ip6tables=0 || sy_skip "no br_netfilter"
done
for n in kube01 kube02; do
	PN_PROXY_MODE=none pn_start "$n" --network-policy --cluster-cidr 10.111.0.0/16,fd00:10:244::/56 \
		--min-sync-period 0s
done
for n in kube01 kube02; do
	pn_wait_ready "$n"
	for k in iptables ip6tables; do
		[ "$(ip netns exec "${PN_NS[$n]}" sysctl -n net.bridge.bridge-nf-call-$k)" = 1 ] ||
			sy_fail "$n: switchyard did not set net.bridge.bridge-nf-call-$k=1"
	done
done
sy_wait 30 grep -q "FLANNEL_IPV6_SUBNET=fd00:10:244:1::1/64" "$SY_TMP/kube01/subnet.env" ||
	sy_fail "no IPv6 subnet: $(cat "$SY_TMP/kube01/subnet.env")"

declare -A NODE_OF=([a]=kube01 [b]=kube02 [c]=kube01)
ip6of() { $PY -c 'import json,sys; print([i["address"].split("/")[0] for i in json.load(open(sys.argv[1]))["ips"] if ":" in i["address"]][0])' "$SY_TMP/${POD_NODE[$1]}/$1.result"; }
SPEC=$SY_TMP/lab.json
{
	echo '{"net_all": "10.111.0.0/16", "net_local": "10.111.1.0/24", "net_remote": "10.111.2.0/24",'
	echo ' "net6_all": "fd00:10:244::/56", "net6_local": "fd00:10:244:1::/64",'
	echo ' "net6_remote": "fd00:10:244:2::/64", "pods": {'
	first=1
	for ns in x y z; do
		for p in a b c; do
			pn_pod "${NODE_OF[$p]}" "$ns-$p"
			ip6=$(ip6of "$ns-$p") || sy_fail "no IPv6 address for $ns-$p"
			[ $first = 1 ] || echo ','
			first=0
			printf '"%s/%s": {"netns": "%s", "ip": "%s", "ip6": "%s", "node": "%s", "remote": false}' \
				"$ns" "$p" "${POD_NS[$ns-$p]}" "${POD_IP[$ns-$p]}" "$ip6" "${NODE_OF[$p]}"
		done
	done
	echo '}}'
} >"$SPEC"
ip -n "${PN_NS[kube01]}" -o link show master cni0 | grep -q . || sy_fail "no port on cni0 in kube01"
LAB=("$PY" "$SY_SRC/tests/lib/netpol_lab.py" --spec "$SPEC" --manifests "$PN_M"
	--node-ns "${PN_NS[kube01]},${PN_NS[kube02]}")
"${LAB[@]}" --write-only || sy_fail "writing the manifests"
for n in kube01 kube02; do
	sy_wait 20 grep -q "NetworkPolicy sync complete: full=true" "${PN_LOG[$n]}" ||
		sy_fail "$n: no NetworkPolicy sync: $(tail -n 20 "${PN_LOG[$n]}")"
done
"${LAB[@]}" --cases "$CASES" --deadline 30 ||
	sy_fail "cases failed (kube01: $(tail -n 3 "${PN_LOG[kube01]}"); kube02: $(tail -n 3 "${PN_LOG[kube02]}"))"
for n in kube01 kube02; do
	grep -q "NetworkPolicy sync complete: full=false" "${PN_LOG[$n]}" || sy_fail "$n: no partial sync logged"
	ip netns exec "${PN_NS[$n]}" nft list table inet switchyard-policy | grep -q "ip6 daddr @iso-in6 jump in6" ||
		sy_fail "$n: no IPv6 dispatch in table inet switchyard-policy"
done
sy_pass
