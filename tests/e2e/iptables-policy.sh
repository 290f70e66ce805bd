#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# iptables mode, traffic policies with real packets:
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
. "$(dirname "$0")/iptables-lib.sh"
state_nodeport_drop() {
	ip netns exec "$NODE" $IPT -t filter -S SY-EXTERNAL-SERVICES |
		grep -q -- "--dport $1 .*-j DROP"
}
state_hc_accept() {
	ipt_save filter |
		grep -q -- "-A SY-EXTERNAL-SERVICES -p tcp -m tcp --dport $1 -m addrtype --dst-type LOCAL -j ACCEPT"
}
state_affinity() {
	ip netns exec "$NODE" $IPT-save -t nat |
		grep -q -- "-m recent --rcheck --seconds $1 --reap --name SY-SEP-"
}
state_lacks() { ! ip netns exec "$NODE" $IPT-save -t nat | grep -qF "$1"; }
. "$(dirname "$0")/policy-lib.sh"
