#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# NetworkPolicy fed by the API server double and the real kubectl (routed
# lab of netpol-lib.sh): Namespaces, Pods (their status through the status
# subresource, as the kubelet writes it) and NetworkPolicies are created,
# replaced and deleted with kubectl; switchyard watches them and the probe
# matrix follows: default deny, selectors, a namespace relabel, an update
# and a deletion.
. "$(dirname "$0")/netpol-lib.sh"
. "$SY_SRC/tests/apiserver/lib.sh"
command -v kubectl >/dev/null || sy_skip "kubectl not installed"

np_lab routed
rm -f "$NP_M"/*
K8S_NS=$NODE
export HOME=$SY_TMP KUBECONFIG=/dev/null
k8s_api
K8S_KUBECONFIG=$SY_TMP/kubeconfig
k8s_kubeconfig "$K8S_KUBECONFIG" "$K8S_URL" "" "    {}"
KC="ip netns exec $NODE kubectl --kubeconfig $K8S_KUBECONFIG --cache-dir $SY_TMP/kcache --request-timeout 10s"
API_M=$SY_TMP/api-objects
mkdir -p "$API_M"
"$PY" "$SY_SRC/tests/lib/netpol_lab.py" --spec "$NP_SPEC" --manifests "$API_M" --node-ns "$NODE" \
	--write-only --kubectl "$KC" || sy_fail "kubectl: the namespaces and pods"
[ "$($KC get pods -A --no-headers | wc -l)" = 9 ] || sy_fail "pods: $($KC get pods -A)"
NP_LOG=$SY_TMP/daemon.log
sy_bg "$NODE" "$NP_LOG" "$SWITCHYARD" --proxy-mode=none --kubeconfig "$K8S_KUBECONFIG" \
	--hostname-override node1 --network-policy --metrics-bind-address 127.0.0.1:10249 \
	--healthz-bind-address 127.0.0.1:10256 --min-sync-period 0s -v 2
NP_PID=$SY_LAST_PID
sy_wait 20 grep -q "NetworkPolicy sync complete: full=true" "$NP_LOG" ||
	sy_fail "no first NetworkPolicy sync: $(tail -5 "$NP_LOG")"
grep -q "local_pods=6" "$NP_LOG" || sy_fail "the daemon does not see the 6 local pods: $(grep 'NetworkPolicy sync' "$NP_LOG")"
"$PY" "$SY_SRC/tests/lib/netpol_lab.py" --spec "$NP_SPEC" --manifests "$API_M" --node-ns "$NODE" \
	--kubectl "$KC" --cases allow-all-baseline,default-deny-ingress,ingress-podselector-or-namespaceselector,ingress-named-port,egress-to-namespace,update-policy-before,update-policy-after,update-namespace-before,update-namespace-after,delete-all-policies ||
	sy_fail "cases through the API (log: $(tail -3 "$NP_LOG"))"
k8s_req_grep "watch=true" || true
k8s_get requests | grep -q "networkpolicies" || sy_fail "no NetworkPolicy request seen by the double"
sy_pass
