#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# iptables mode fed by the API server double (the other source besides the
# manifest directory): objects created, replaced and deleted with the real
# kubectl show up as rules and as real traffic to the right endpoints; when
# the API server goes away the rules and the traffic stay.
. "$(dirname "$0")/iptables-lib.sh"
. "$SY_SRC/tests/apiserver/lib.sh"
command -v kubectl >/dev/null || sy_skip "kubectl not installed"

ipt_lab 2
for k in 1 2; do ipt_server $k tcp 8080; done
# the double and kubectl live in the node namespace, on 127.0.0.1
K8S_NS=$NODE
K8S_NODE=node1
export HOME=$SY_TMP KUBECONFIG=/dev/null
# IPv6 (IPT_FAM=6): a dual-stack cluster, the Service IPv6-only
# (ipFamilies defaulted by the double from its clusterIP), its slice IPv6
if [ "$IPT_FAM" = 6 ]; then
	k8s_api --service-cluster-ip-range 10.96.0.0/16,fd00:96::/112
	kslice() { k8s_slice "$@" | sed 's/^addressType: IPv4$/addressType: IPv6/'; }
else
	k8s_api
	kslice() { k8s_slice "$@"; }
fi
K8S_KUBECONFIG=$SY_TMP/kubeconfig
k8s_kubeconfig "$K8S_KUBECONFIG" "$K8S_URL" "" "    {}"
k8s_node node1 "$(ipt_ip 192.168.50.1)" | kc create --validate=false -f - >/dev/null || sy_fail "kubectl create node"
k8s_svc web "$(ipt_ip 10.96.0.60)" | kc create --validate=false -f - >/dev/null || sy_fail "kubectl create svc"
kslice web-1 web "$(ipt_ip 10.244.1.2)" | kc create --validate=false -f - >/dev/null || sy_fail "kubectl create slice"

IPT_LOG=$SY_TMP/daemon.log
sy_bg "$NODE" "$IPT_LOG" "$SWITCHYARD" --proxy-mode=iptables --kubeconfig "$K8S_KUBECONFIG" \
	--hostname-override node1 --cluster-cidr "$(ipt_cidrs)" --metrics-bind-address 127.0.0.1:10249 \
	--healthz-bind-address 127.0.0.1:10256 --min-sync-period 0s -v 2
IPT_PID=$SY_LAST_PID
sy_wait 20 grep -q "First sync complete" "$IPT_LOG" || sy_fail "no first sync: $(tail -5 "$IPT_LOG")"

reached() { ipt_ask_many "$CLIENT" tcp 10.96.0.60 80 20 | cut -d' ' -f1 | sort -u | tr '\n' ' '; }
want() { [ "$(reached)" = "$1" ]; }
sy_wait 30 want "ep1 " || sy_fail "created: reached '$(reached)'"
kslice web-1 web "$(ipt_ip 10.244.1.2)" "$(ipt_ip 10.244.2.2)" | kc replace --validate=false -f - >/dev/null || sy_fail "kubectl replace"
sy_wait 30 want "ep1 ep2 " || sy_fail "replaced: reached '$(reached)'"
kslice web-1 web "$(ipt_ip 10.244.2.2)" | kc replace --validate=false -f - >/dev/null || sy_fail "kubectl replace 2"
sy_wait 30 want "ep2 " || sy_fail "ep1 removed: reached '$(reached)'"
kc delete endpointslice web-1 >/dev/null || sy_fail "kubectl delete slice"
sy_wait 30 ipt_rejected 10.96.0.60 80 || sy_fail "slice deleted: reached '$(reached)'"
kc delete service web >/dev/null || sy_fail "kubectl delete svc"
gone() { ! ip netns exec "$NODE" $IPT-save | grep -qF "$(ipt_ip 10.96.0.60)"; }
sy_wait 30 gone || sy_fail "rules for the deleted Service remain"

# the API server goes away: the rules and the traffic stay as they are
k8s_svc web "$(ipt_ip 10.96.0.60)" | kc create --validate=false -f - >/dev/null || sy_fail "kubectl create svc again"
kslice web-1 web "$(ipt_ip 10.244.2.2)" | kc create --validate=false -f - >/dev/null ||
	sy_fail "kubectl create slice again"
sy_wait 30 want "ep2 " || sy_fail "recreated: reached '$(reached)'"
kill "$K8S_API_PID"; wait "$K8S_API_PID" 2>/dev/null
sy_wait 30 grep -q "connection lost\|Connection refused\|Couldn't connect" "$IPT_LOG" ||
	sy_fail "API loss not noticed: $(tail -3 "$IPT_LOG")"
sleep 2
want "ep2 " || sy_fail "traffic changed after the API server went away: '$(reached)'"
ipt_save nat | grep -qF -- "--to-destination $(ipt_hostport 10.244.2.2 8080)" ||
	sy_fail "rules lost with the API server"
kill -0 "$IPT_PID" || sy_fail "the daemon died"
sy_pass
