#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# kube-proxy's --feature-gates / featureGates (1.33): MultiCIDRServiceAllocator
# decides whether the nftables mode reads ServiceCIDRs, real packets.  A host
# ("fake") owns 10.96.0.200, inside the Service CIDR 10.96.0.0/16 that a
# ServiceCIDR names, allocated to no Service.  Gate off (flag, or the file):
# no ServiceCIDR list or watch is sent to the API server double, the
# manifest directory's ServiceCIDR is not used, no drop rule is in
# cluster-ips-check (read back with `nft -j`) and the address answers through
# the node; a ClusterIP without endpoints is still REJECTed (the table is
# there).  Gate on (default, or set in the file): the drop rule, the packet
# dropped.  Unknown, malformed and locked gates refuse the start (exit 2,
# kube-proxy's words).
#
#   node: eth-c 192.168.50.1/24 -- client .2
#         eth-f 192.168.70.1/24 -- fake .2, also 10.96.0.200 (routed to it)
. "$(dirname "$0")/nftables-lib.sh"

ipt_lab_base 4
nft_fake 4 10.96.0.200/32 10.96.0.0/16
nft_echo "$FAKE" fake tcp 8080 --bind 0.0.0.0

cat >"$M/all.yaml" <<'EOF'
apiVersion: v1
kind: Service
metadata: {name: empty, namespace: default}
spec:
  clusterIP: 10.96.0.90
  ports: [{name: http, protocol: TCP, port: 80, targetPort: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: ServiceCIDR
metadata: {name: kubernetes}
spec: {cidrs: [10.96.0.0/16]}
EOF
cfg() { # cfg FILE GATES-YAML
	printf 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nfeatureGates:\n%s\n' "$2" >"$1"
}

start() { nft_start --metrics-bind-address "" --nodeport-addresses 192.168.50.0/24 "$@"; }
stop() { nft_stop; }
# ask IP PORT TIMEOUT → the first word of the answer: fake, REFUSED, TIMEOUT
ask() {
	ip netns exec "$CLIENT" "$PY" "$SY_SRC/tests/lib/echo_client.py" --proto tcp --host "$1" \
		--port "$2" --timeout "$3" 2>/dev/null | cut -d' ' -f1
}
expect() { # expect IP PORT WANT WHAT
	local got t=3
	[ "$3" = TIMEOUT ] && t=1
	got=$(ask "$1" "$2" $t)
	[ "$got" = "$3" ] || sy_fail "$4: tcp $1 port $2: '$got', want '$3'"
}
# the drop rules of cluster-ips-check in "ip switchyard", from `nft -j`, one "CIDR;" each
drops() {
	ip netns exec "$NODE" nft -j list table ip switchyard 2>/dev/null | "$PY" -c '
import json, sys
out = []
for o in json.load(sys.stdin)["nftables"]:
    r = o.get("rule")
    if not r or r["chain"] != "cluster-ips-check":
        continue
    if not any("drop" in e for e in r["expr"]):
        continue
    for e in r["expr"]:
        m = e.get("match")
        if m and m["left"].get("payload", {}).get("field") == "daddr":
            p = m["right"].get("prefix")
            out.append("%s/%s;" % (p["addr"], p["len"]) if p else "%s;" % m["right"])
print("".join(out))'
}
table_there() { ip netns exec "$NODE" nft list table ip switchyard >/dev/null 2>&1; }

# ---- refused gates: exit 2, kube-proxy's message ----
refused() { # refused WANT-IN-STDERR ARGS...
	local want=$1 out rc
	shift
	out=$(ip netns exec "$NODE" "$SWITCHYARD" --proxy-mode=nftables --manifests "$M" \
		--metrics-bind-address "" --healthz-bind-address "" "$@" 2>&1)
	rc=$?
	[ $rc = 2 ] || sy_fail "$*: exit $rc, want 2: $out"
	case $out in *"$want"*) ;; *) sy_fail "$*: no \"$want\" in: $out" ;; esac
	table_there && sy_fail "$*: a refused start wrote a table"
	return 0
}
refused "unrecognized feature gate: Foo" --feature-gates=Foo=true
refused 'invalid argument "MultiCIDRServiceAllocator" for "--feature-gates" flag: malformed pair, expect string=bool' \
	--feature-gates=MultiCIDRServiceAllocator
refused 'invalid value of MultiCIDRServiceAllocator: maybe, err: strconv.ParseBool: parsing "maybe": invalid syntax' \
	--feature-gates=MultiCIDRServiceAllocator=maybe
refused "cannot set feature gate NFTablesProxyMode to false, feature is locked to true" \
	--feature-gates=NFTablesProxyMode=false
cfg "$SY_TMP/unknown.yaml" "  NoSuchGate: true"
refused "unrecognized feature gate: NoSuchGate" --config "$SY_TMP/unknown.yaml"
cfg "$SY_TMP/notbool.yaml" "  MultiCIDRServiceAllocator: maybe"
refused 'featureGates.MultiCIDRServiceAllocator": invalid boolean "maybe"' --config "$SY_TMP/notbool.yaml"

# ---- manifests: gate off by flag, the ServiceCIDR is there but not used ----
start --manifests "$M" --feature-gates=MultiCIDRServiceAllocator=false,AllBeta=false
grep -q "Setting GA feature gate MultiCIDRServiceAllocator=false" "$LOG" || sy_fail "no GA gate warning"
grep -q "Feature gate AllBeta=false is known to kube-proxy; switchyard does not read it" "$LOG" ||
	sy_fail "no -v 2 line for a gate switchyard does not read"
[ -z "$(drops)" ] || sy_fail "gate off: drop rules '$(drops)'"
expect 10.96.0.200 8080 fake "gate off"
expect 10.96.0.90 80 REFUSED "gate off, a ClusterIP without endpoints"
stop

# gate on, set in the file: the drop rule, the packet dropped
cfg "$SY_TMP/on.yaml" "  MultiCIDRServiceAllocator: true"
start --manifests "$M" --config "$SY_TMP/on.yaml"
sy_wait 20 sh -c "[ \"\$(ip netns exec '$NODE' nft -j list table ip switchyard | grep -c 10.96.0.0)\" -gt 0 ]" ||
	sy_fail "gate on: no drop rule"
[ "$(drops)" = "10.96.0.0/16;" ] || sy_fail "gate on: drop rules '$(drops)', want 10.96.0.0/16"
expect 10.96.0.200 8080 TIMEOUT "gate on"
expect 10.96.0.90 80 REFUSED "gate on, a ClusterIP without endpoints"
stop

# gate off in the file, restarted over the table with the rule: the rule goes
cfg "$SY_TMP/off.yaml" "  MultiCIDRServiceAllocator: false"
start --manifests "$M" --config "$SY_TMP/off.yaml"
[ -z "$(drops)" ] || sy_fail "gate off (file), after gate on: drop rules '$(drops)'"
expect 10.96.0.200 8080 fake "gate off (file)"
stop

# ---- the API server double: no ServiceCIDR request with the gate off ----
command -v kubectl >/dev/null || sy_skip "kubectl not installed"
nft_api --service-cluster-ip-range 10.96.0.0/16
kc get servicecidr kubernetes >/dev/null || sy_fail "no default ServiceCIDR kubernetes"
sed -n '1,6p' "$M/all.yaml" | kc create --validate=false -f - >/dev/null || sy_fail "kubectl create service"
k8s_get requests clear=1 >/dev/null	# kubectl's own requests
start --kubeconfig "$K8S_KUBECONFIG" --config "$SY_TMP/off.yaml"
grep -q "watching Services, EndpointSlices and this Node" "$LOG" ||
	sy_fail "gate off: $(grep 'Kubernetes client' "$LOG")"
k8s_req_grep servicecidrs && sy_fail "gate off: ServiceCIDRs requested: $(k8s_get requests | grep servicecidrs | head -3)"
[ -z "$(drops)" ] || sy_fail "API, gate off: drop rules '$(drops)'"
expect 10.96.0.200 8080 fake "API, gate off"
expect 10.96.0.90 80 REFUSED "API, gate off, a ClusterIP without endpoints"
stop
k8s_get requests clear=1 >/dev/null
start --kubeconfig "$K8S_KUBECONFIG"
grep -q "watching Services, EndpointSlices, ServiceCIDRs" "$LOG" || sy_fail "gate on: $(grep 'Kubernetes client' "$LOG")"
k8s_req_grep servicecidrs || sy_fail "gate on: no ServiceCIDR request"
sy_wait 20 sh -c "[ \"\$(ip netns exec '$NODE' nft -j list table ip switchyard | grep -c 10.96.0.0)\" -gt 0 ]" ||
	sy_fail "API, gate on: no drop rule"
[ "$(drops)" = "10.96.0.0/16;" ] || sy_fail "API, gate on: drop rules '$(drops)'"
expect 10.96.0.200 8080 TIMEOUT "API, gate on"
stop
sy_pass
