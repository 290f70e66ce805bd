#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# --config FILE (a KubeProxyConfiguration), run by the real daemon in a test
# namespace:
#  - metricsBindAddress / healthzBindAddress / syncPeriod / mode from the
#    file are honoured (servers answer there, not on the defaults; /configz
#    and /proxyMode show the values)
#  - a flag overrides the file (--metrics-bind-address, --proxy-mode)
#  - a field kube-proxy knows but switchyard does not implement is a
#    warning naming it, and the daemon runs
#  - an unknown field, a bad value, a wrong kind: exit code 2 and the field
#    named in the message
#  - the shipped examples (etc/config.yaml, the ConfigMap's config.conf)
#    load
. "$(dirname "$0")/../lib/common.sh"

command -v curl >/dev/null || sy_skip "curl missing"
sy_mkns NODE node
M=$SY_TMP/manifests
mkdir -p "$M"
cat >"$M/svc.yaml" <<'Y'
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: 10.96.0.80
  ports: [{name: http, port: 80}]
Y
code() { ip netns exec "$NODE" curl -s --max-time 3 -o "$SY_TMP/b" -w '%{http_code}' "$1"; }
json() { $PY -c "import json; j=json.load(open('$SY_TMP/b')); print($1)"; }

CFG=$SY_TMP/config.yaml
cat >"$CFG" <<'Y'
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: ipvs
hostnameOverride: from-file
healthzBindAddress: 127.0.0.1:20256
metricsBindAddress: 127.0.0.1:20249
clusterCIDR: 10.244.0.0/16
detectLocalMode: ClusterCIDR
iptables:
  syncPeriod: 45s
  minSyncPeriod: 0s
Y

# 1. the file alone (mode none from a flag: this test is about the config, not the kernel)
LOG=$SY_TMP/d1.log
sy_bg "$NODE" "$LOG" "$SWITCHYARD" --config "$CFG" --proxy-mode=none --manifests "$M" -v 2
P=$SY_LAST_PID
sy_wait 30 grep -q "First sync complete" "$LOG" || sy_fail "daemon with --config: $(cat "$LOG")"
grep -q 'W.*"detectLocalMode" is accepted by kube-proxy but not implemented' "$LOG" ||
	sy_fail "no warning naming detectLocalMode: $(cat "$LOG")"
grep -q 'Node name "from-file"' "$LOG" || sy_fail "hostnameOverride from the file not used"
[ "$(code http://127.0.0.1:20249/proxyMode)" = 200 ] || sy_fail "metrics not on the file's address"
[ "$(cat "$SY_TMP/b")" = none ] || sy_fail "/proxyMode: $(cat "$SY_TMP/b") (the flag overrides mode)"
[ "$(code http://127.0.0.1:20256/healthz)" = 200 ] || sy_fail "healthz not on the file's address"
[ "$(code http://127.0.0.1:10249/metrics)" = 000 ] || sy_fail "metrics still on the default address"
[ "$(code http://127.0.0.1:10256/healthz)" = 000 ] || sy_fail "healthz still on the default address"
[ "$(code http://127.0.0.1:20249/configz)" = 200 ] || sy_fail "/configz"
[ "$(json 'j["kubeproxy.config.k8s.io"]["iptables"]["syncPeriod"]')" = 45s ] ||
	sy_fail "syncPeriod from the file: $(cat "$SY_TMP/b")"
[ "$(json 'j["kubeproxy.config.k8s.io"]["clusterCIDR"]')" = 10.244.0.0/16 ] || sy_fail "clusterCIDR"
[ "$(json 'j["kubeproxy.config.k8s.io"]["metricsBindAddress"]')" = 127.0.0.1:20249 ] ||
	sy_fail "metricsBindAddress in /configz"
kill "$P"; wait "$P" 2>/dev/null

# 2. flags override the file
LOG=$SY_TMP/d2.log
sy_bg "$NODE" "$LOG" "$SWITCHYARD" --config "$CFG" --proxy-mode=none --manifests "$M" \
	--metrics-bind-address 127.0.0.1:30249 --sync-period 2m --hostname-override from-flag
P=$SY_LAST_PID
sy_wait 30 grep -q "First sync complete" "$LOG" || sy_fail "daemon 2: $(cat "$LOG")"
grep -q 'Node name "from-flag"' "$LOG" || sy_fail "--hostname-override did not win"
[ "$(code http://127.0.0.1:30249/configz)" = 200 ] || sy_fail "metrics not on the flag's address"
[ "$(json 'j["kubeproxy.config.k8s.io"]["iptables"]["syncPeriod"]')" = 2m0s ] ||
	sy_fail "--sync-period did not win: $(cat "$SY_TMP/b")"
[ "$(code http://127.0.0.1:20249/configz)" = 000 ] || sy_fail "metrics on the file's address too"
[ "$(code http://127.0.0.1:20256/livez)" = 200 ] || sy_fail "healthz (from the file) gone"
kill "$P"; wait "$P" 2>/dev/null

# 3. bad files: exit 2, the field named, nothing started
bad() { # WANT-IN-STDERR PRINTF-FORMAT ARGS... (not in a pipeline: sy_fail must exit this shell)
	local want=$1; shift
	# shellcheck disable=SC2059
	printf "$@" >"$SY_TMP/bad.yaml"
	set -- "$want"
	ip netns exec "$NODE" timeout 10 "$SWITCHYARD" --config "$SY_TMP/bad.yaml" --proxy-mode=none \
		--manifests "$M" >"$SY_TMP/out" 2>&1
	rc=$?
	[ $rc = 2 ] || sy_fail "bad config ($1): exit $rc: $(cat "$SY_TMP/out")"
	grep -qF -- "$1" "$SY_TMP/out" || sy_fail "bad config: want '$1' in: $(cat "$SY_TMP/out")"
	grep -q "First sync" "$SY_TMP/out" && sy_fail "bad config ($1): daemon started"
	return 0
}
H='apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration'
bad 'unknown field "iptables.foo"' '%s\niptables:\n  foo: 1\n' "$H"
bad 'unknown field "metricsBindAdress"' '%s\nmetricsBindAdress: 127.0.0.1:1\n' "$H"
bad 'field "iptables.syncPeriod": invalid duration "soon"' '%s\niptables:\n  syncPeriod: soon\n' "$H"
bad 'field "conntrack.maxPerCore": invalid integer' '%s\nconntrack:\n  maxPerCore: many\n' "$H"
bad 'duplicate field "mode"' '%s\nmode: ipvs\nmode: iptables\n' "$H"
bad 'kind "KubeletConfiguration" is not KubeProxyConfiguration' \
	'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeletConfiguration\n'
bad 'YAML' '%s\nmode: [\n' "$H"
ip netns exec "$NODE" "$SWITCHYARD" --config "$SY_TMP/missing.yaml" --proxy-mode=none \
	--manifests "$M" >"$SY_TMP/out" 2>&1
[ $? = 2 ] && grep -q "No such file" "$SY_TMP/out" || sy_fail "missing file: $(cat "$SY_TMP/out")"

# 4. the shipped examples load (the unknown mode stops the daemon right after the config)
$PY - "$SY_SRC/etc/switchyard.yaml" "$SY_TMP/cm.conf" <<'PY' || sy_fail "ConfigMap config.conf not found"
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d.get("kind") == "ConfigMap":
        open(sys.argv[2], "w").write(d["data"]["config.conf"])
        sys.exit(0)
sys.exit(1)
PY
for f in "$SY_SRC/etc/config.yaml" "$SY_TMP/cm.conf"; do
	"$SWITCHYARD" --config "$f" --proxy-mode=check >"$SY_TMP/out" 2>&1
	grep -q 'Unknown proxy mode "check"' "$SY_TMP/out" || sy_fail "$f does not load: $(cat "$SY_TMP/out")"
	grep -q '^W' "$SY_TMP/out" && sy_fail "$f: warnings: $(cat "$SY_TMP/out")"
done

# 5. kubeadm's kube-proxy ConfigMap as it is: zero durations and empty
# addresses are kube-proxy's defaults, unimplemented fields are warnings
LOG=$SY_TMP/d5.log
sy_bg "$NODE" "$LOG" "$SWITCHYARD" --config "$SY_SRC/tests/lib/kubeadm-kube-proxy.conf" \
	--proxy-mode=none --manifests "$M" -v 2
P=$SY_LAST_PID
sy_wait 30 grep -q "First sync complete" "$LOG" || sy_fail "kubeadm's config: $(cat "$LOG")"
[ "$(code http://127.0.0.1:10256/healthz)" = 200 ] || sy_fail "kubeadm's config: no healthz on :10256"
[ "$(code http://127.0.0.1:10249/configz)" = 200 ] || sy_fail "kubeadm's config: no metrics on :10249"
[ "$(json 'j["kubeproxy.config.k8s.io"]["iptables"]["syncPeriod"], j["kubeproxy.config.k8s.io"]["iptables"]["minSyncPeriod"], j["kubeproxy.config.k8s.io"]["clusterCIDR"]')" = \
	"30s 1s 10.244.0.0/16" ] || sy_fail "kubeadm's config: /configz $(cat "$SY_TMP/b")"
for f in bindAddressHardFail configSyncPeriod detectLocalMode logging nftables winkernel; do
	grep -q "W.*\"$f\" is accepted by kube-proxy but not implemented" "$LOG" ||
		sy_fail "kubeadm's config: no warning for $f"
done
kill "$P"; wait "$P" 2>/dev/null
sy_pass
