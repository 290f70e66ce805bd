#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# NetworkPolicy, the upstream e2e model on switchyard's own pod network
# (podnet-lib.sh): two nodes kube01/kube02 on the underlay bridge, each
# running switchyard --pod-network (vxlan) --network-policy with its own
# subnet.env / CNI dir; the pods x/y/z x a/b/c are attached by Debian's CNI
# bridge + host-local plugins through the conflist switchyard wrote, so they
# sit on switchyard's cni bridge: a and c on kube01, b on kube02.  Every pod
# is enforced by its own node (ingress and egress), the other node's pods are
# peers; same-node traffic crosses the cni bridge (br_netfilter: the forward
# hook, which switchyard turns on: it starts at 0 here), cross-node traffic
# the vxlan tunnel.  Every case of tests/lib/netpol_lab.py (or those in
# NP_PODNET_CASES=a,b) is probed over TCP/UDP/SCTP 80/81 with real packets
# against the evaluator's matrix; a pod or namespace relabel rewrites no
# chain on either node, a policy update only its own.
. "$(dirname "$0")/podnet-lib.sh"

[ -x "$SWITCHYARD" ] || sy_skip "no switchyard binary at $SWITCHYARD"
command -v nft >/dev/null || sy_skip "nft missing"

CASES=${NP_PODNET_CASES:-}

pn_underlay
pn_netconf '{"Network": "10.111.0.0/16", "Backend": {"Type": "vxlan"}}'
pn_node kube01 10.10.100.133/24 10.111.1.0/24
pn_node kube02 10.10.100.134/24 10.111.2.0/24
for n in kube01 kube02; do
	sy_no_icmp_ratelimit "${PN_NS[$n]}"
	# br_netfilter loaded but off: switchyard must turn it on, else pods on
	# one node's bridge never meet the forward hook (same-node cells fail)
	ip netns exec "${PN_NS[$n]}" sysctl -qw net.bridge.bridge-nf-call-iptables=0 ||
		sy_skip "no br_netfilter"
	PN_PROXY_MODE=none pn_start "$n" --network-policy --cluster-cidr 10.111.0.0/16 \
		--min-sync-period 0s
done
for n in kube01 kube02; do
	pn_wait_ready "$n"
	[ "$(ip netns exec "${PN_NS[$n]}" sysctl -n net.bridge.bridge-nf-call-iptables)" = 1 ] ||
		sy_fail "$n: switchyard did not set net.bridge.bridge-nf-call-iptables=1"
done

declare -A NODE_OF=([a]=kube01 [b]=kube02 [c]=kube01)
SPEC=$SY_TMP/lab.json
{
	echo '{"net_all": "10.111.0.0/16", "net_local": "10.111.1.0/24",'
	echo ' "net_remote": "10.111.2.0/24", "pods": {'
	first=1
	for ns in x y z; do
		for p in a b c; do
			pn_pod "${NODE_OF[$p]}" "$ns-$p"
			[ $first = 1 ] || echo ','
			first=0
			printf '"%s/%s": {"netns": "%s", "ip": "%s", "node": "%s", "remote": false}' \
				"$ns" "$p" "${POD_NS[$ns-$p]}" "${POD_IP[$ns-$p]}" "${NODE_OF[$p]}"
		done
	done
	echo '}}'
} >"$SPEC"
case ${POD_IP[x-a]}/${POD_IP[x-b]} in
10.111.1.*/10.111.2.*) ;;
*) sy_fail "pods not in their nodes' subnets: x/a ${POD_IP[x-a]}, x/b ${POD_IP[x-b]}" ;;
esac
# the pods sit on switchyard's cni bridge: same-node traffic is bridged
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
done
sy_pass
