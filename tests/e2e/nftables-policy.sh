#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# nftables mode, traffic policies with real packets (the iptables-policy
# scenarios; state read back with nft):
#  - externalTrafficPolicy: Local — a NodePort reaches only the local
#    endpoint and the backend sees the client's own address; with no local
#    endpoint external traffic is dropped (timeout) while the node itself
#    still reaches the cluster endpoints; healthCheckNodePort says 200/503.
#  - a Service without endpoints is refused at once (TCP and UDP).
#  - sessionAffinity: ClientIP — one client sticks, many clients spread.
#  - LoadBalancer ingress IP with loadBalancerSourceRanges: allowed source
#    passes, other sources are dropped.
#  - loadBalancerSourceRanges as kube-proxy reads them (issue 13.11): an
#    entry with spaces around it is trimmed (it cost the whole Service), an
#    invalid entry is skipped; with no valid range left the LB IP is not
#    programmed (never opened to everyone) while ClusterIP and NodePort work.
#  - internalTrafficPolicy: Local — only the local endpoint.
#  - terminating-but-serving endpoints only while no endpoint is ready.
IPT_MODE=nftables
. "$(dirname "$0")/iptables-lib.sh"
command -v nft >/dev/null || sy_skip "nft missing"
nftn() { ip netns exec "$NODE" nft "$@"; }
NF=ip	# our table's family (ip6 in IPv6: IPT_FAM=6)
[ "$IPT_FAM" = 6 ] && NF=ip6
state_nodeport_drop() { nftn list map $NF switchyard no-endpoint-nodeports | grep -q "tcp . $1 : drop"; }
# not programmed by the nftables mode yet (doc/nftables.md): nothing to read back
state_hc_accept() { :; }
# (an IPv6 endpoint's ':' are '.' in the names, as kube-proxy's)
state_affinity() {
	nftn list table $NF switchyard |
		grep -q "$NF saddr @affinity-[A-Z2-7]*-default/sticky/tcp/p__$(ipt_ip 10.244.1.2 | tr : .)/8080 goto endpoint-" ||
		return 1
	nftn -j list sets $NF | "$PY" -c '
import json, sys
t = int(sys.argv[1])
s = [o["set"] for o in json.load(sys.stdin)["nftables"] if "set" in o and o["set"]["name"].startswith("affinity-")]
assert len(s) == 3 and all(x.get("timeout") == t and "timeout" in x.get("flags", []) for x in s), s' "$1" &&
		nftn list sets $NF | grep -q 'flags dynamic,timeout'
}
state_lacks() { ! nftn list table $NF switchyard | grep -qF "$1"; }
. "$(dirname "$0")/policy-lib.sh"
