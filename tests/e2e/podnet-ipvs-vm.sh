#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Pod network + the IPVS proxy, inside the project's test VM (this host's
# kernel has no IPVS; tests/vm/lib.sh boots Debian's stock kernel with the
# host's / shared read-only).  In the VM, once per backend (host-gw, then
# vxlan; PN_BACKEND picks one): the podnet lab, three nodes
# running switchyard --proxy-mode=ipvs --pod-network, pods attached by the
# standard CNI plugins; a pod on kube01 reaches a Service whose endpoints are
# pods on kube02 and kube03 through IPVS (ipvsadm -Ln read back), keeping
# its pod IP; cross-node ping.  Run on the host it boots the VM and runs
# itself there (exit 77 when the VM cannot be prepared; ~40 s per backend
# under TCG).
set -u
if [ "${SY_IN_VM:-}" != 1 ]; then
	SY_SRC=${SY_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
	SY_BUILD=${SY_BUILD:-$SY_SRC/build}
	SWITCHYARD=${SWITCHYARD:-$SY_BUILD/switchyard}
	. "$SY_SRC/tests/vm/lib.sh"
	[ -x "$SWITCHYARD" ] || { echo "SKIP: $SWITCHYARD not built"; exit 77; }
	vm_prepare || { echo "SKIP: cannot prepare the VM"; exit 77; }
	rc=0
	for b in ${PN_BACKEND:-host-gw vxlan}; do
		echo "[podnet-ipvs-vm] backend $b"
		SY_VM_ENV="PN_BACKEND=$b" vm_run tests/e2e/podnet-ipvs-vm.sh || rc=1
	done
	exit $rc
fi

# ---- inside the VM ----
PN_PROXY_MODE=ipvs
. "$SY_SRC/tests/e2e/podnet-lib.sh"
pn_underlay
pn_netconf "{\"Network\": \"10.111.0.0/16\", \"Backend\": {\"Type\": \"$PN_BACKEND\"}}"
kind=direct; [ "$PN_BACKEND" = vxlan ] && kind=vxlan
pn_node kube01 10.10.100.133/24 10.111.1.0/24
pn_node kube02 10.10.100.134/24 10.111.2.0/24
pn_node kube03 10.10.100.135/24 10.111.3.0/24
for n in kube01 kube02 kube03; do pn_start "$n"; done
for n in kube01 kube02 kube03; do pn_wait_ready "$n"; done
grep -q "Using ipvs Proxier" "${PN_LOG[kube01]}" || sy_fail "not the IPVS mode: $(head -5 "${PN_LOG[kube01]}")"
pn_check kube01 kube02:$kind kube03:$kind
pn_pod kube01 a1
pn_pod kube02 b1
pn_pod kube03 c1
pn_ping a1 b1
pn_ping c1 a1
sy_echo_server "${POD_NS[b1]}" tcp 8080 b1
sy_echo_server "${POD_NS[c1]}" tcp 8080 c1
sy_wait 30 sh -c "ip netns exec ${POD_NS[b1]} ss -ltn | grep -q :8080" || sy_fail "echo b1"
sy_wait 30 sh -c "ip netns exec ${POD_NS[c1]} ss -ltn | grep -q :8080" || sy_fail "echo c1"
pn_service 10.96.0.100 a1 b1 c1
ip netns exec "${PN_NS[kube01]}" ipvsadm -Ln >"$SY_TMP/ipvs.txt"
grep -q "TCP  10.96.0.100:80" "$SY_TMP/ipvs.txt" || sy_fail "no IPVS service: $(cat "$SY_TMP/ipvs.txt")"
grep -q -- "-> ${POD_IP[b1]}:8080" "$SY_TMP/ipvs.txt" && grep -q -- "-> ${POD_IP[c1]}:8080" "$SY_TMP/ipvs.txt" ||
	sy_fail "IPVS real servers: $(cat "$SY_TMP/ipvs.txt")"
sy_pass
