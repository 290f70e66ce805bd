#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The kustomize base and overlays (etc/kustomize):
#  - etc/switchyard.yaml is generated from the base (tools/gen-manifest
#    --check) and `kubectl kustomize etc/kustomize/base` renders the same
#    objects as it (compared parsed: kustomize reorders keys, drops comments)
#  - every overlay renders; ipvs and nftables change only the mode (the
#    ConfigMap's `mode`, nftables' section, the DaemonSet's --proxy-mode),
#    private-registry only the image and a pull secret; every rendering
#    passes tools/check-manifests with the built daemon (its flags and its
#    config parser)
#  - `kubectl apply --dry-run=client --validate=false` of the base and of
#    every overlay against the API server double (client dry-run still asks
#    a server for discovery and the live objects); the base applied for
#    real and again ("unchanged": the double keeps what kubectl wrote),
#    then each overlay dry-run over it
#  - doc/operations.md's migration commands, run as written against the
#    double holding kubeadm's kube-proxy ConfigMap: the overlay they make
#    carries kubeadm's config.conf and kubeconfig.conf, passes
#    tools/check-manifests and dry-run; the upgrade's new tag renders
. "$(dirname "$0")/../lib/common.sh"
. "$SY_SRC/tests/apiserver/lib.sh"

K=$SY_SRC/etc/kustomize
command -v kubectl >/dev/null || sy_skip "kubectl not installed"
kv=$(kubectl version --client -o json 2>/dev/null | "$PY" -c 'import json,sys; print(json.load(sys.stdin).get("kustomizeVersion",""))')
case $kv in
v[4-9]*|v[1-9][0-9]*) ;;
*) sy_skip "kubectl's kustomize is ${kv:-missing} (kubectl < 1.21): the overlays need kustomize v4 or later" ;;
esac
[ -x "$SWITCHYARD" ] || sy_fail "no binary at $SWITCHYARD"

"$SY_SRC/tools/gen-manifest" --check || sy_fail "etc/switchyard.yaml is not generated from the base"

R=$SY_TMP/render
mkdir -p "$R"
for o in base overlays/ipvs overlays/nftables overlays/private-registry; do
	n=$(basename "$o")
	mkdir -p "$R/$n"
	kubectl kustomize "$K/$o" >"$R/$n/switchyard.yaml" 2>"$R/$n.err" ||
		sy_fail "kubectl kustomize $o: $(cat "$R/$n.err")"
	[ -s "$R/$n.err" ] && sy_fail "kubectl kustomize $o warns: $(cat "$R/$n.err")"
	"$SY_SRC/tools/check-manifests" --switchyard "$SWITCHYARD" "$R/$n" >"$R/$n.check" 2>&1 ||
		sy_fail "check-manifests on the $o rendering: $(cat "$R/$n.check")"
done

# the base is etc/switchyard.yaml; the overlays change only what they say
"$PY" - "$SY_SRC/etc/switchyard.yaml" "$R" <<'PY' || sy_fail "renderings differ (see above)"
import copy, sys, yaml
def load(p):
    return [d for d in yaml.safe_load_all(open(p)) if d]
def key(d):
    return (d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"])
ok = True
def fail(msg):
    global ok
    print(msg, file=sys.stderr)
    ok = False
shipped = load(sys.argv[1])
R = sys.argv[2]
base = load(R + "/base/switchyard.yaml")
if sorted(map(key, shipped)) != sorted(map(key, base)):
    fail(f"objects: {sorted(map(key, shipped))} vs {sorted(map(key, base))}")
sb = {key(d): d for d in shipped}
for d in base:
    if sb.get(key(d)) != d:
        fail(f"{key(d)}: kubectl kustomize base differs from etc/switchyard.yaml")
def container(docs):
    ds = next(d for d in docs if d["kind"] == "DaemonSet")
    return ds, ds["spec"]["template"]["spec"]["containers"][0]
def config(docs):
    cm = next(d for d in docs if d["kind"] == "ConfigMap")
    return cm, yaml.safe_load(cm["data"]["config.conf"])
for name, mode in (("ipvs", "ipvs"), ("nftables", "nftables")):
    o = load(f"{R}/{name}/switchyard.yaml")
    ds, c = container(o)
    if f"--proxy-mode={mode}" not in c["args"]:
        fail(f"{name}: args {c['args']}")
    cm, conf = config(o)
    if conf.get("mode") != mode:
        fail(f"{name}: config mode {conf.get('mode')}")
    # undo what the overlay means to change; the rest must be the base
    _, bconf = config(base)
    conf = dict(conf, mode=bconf["mode"])
    if name == "nftables":
        conf.pop("nftables", None)
    if conf != bconf:
        fail(f"{name}: the config differs from the base's beyond the mode: {conf} vs {bconf}")
    cm = copy.deepcopy(cm)
    cm["data"]["config.conf"] = next(d for d in base if d["kind"] == "ConfigMap")["data"]["config.conf"]
    c["args"] = [a.replace(f"--proxy-mode={mode}", "--proxy-mode=iptables") for a in c["args"]]
    for d in o:
        d = cm if d["kind"] == "ConfigMap" else d
        if d != {key(b): b for b in base}[key(d)]:
            fail(f"{name}: {key(d)} differs from the base beyond the mode")
o = load(f"{R}/private-registry/switchyard.yaml")
ds, c = container(o)
if c["image"] != "registry.example.com/switchyard:0.1.0":
    fail(f"private-registry: image {c['image']}")
spec = ds["spec"]["template"]["spec"]
if spec.get("imagePullSecrets") != [{"name": "switchyard-pull"}]:
    fail(f"private-registry: imagePullSecrets {spec.get('imagePullSecrets')}")
c["image"] = container(base)[1]["image"]
del spec["imagePullSecrets"]
for d in o:
    if d != {key(b): b for b in base}[key(d)]:
        fail(f"private-registry: {key(d)} differs from the base beyond the image")
sys.exit(0 if ok else 1)
PY

# kubectl apply --dry-run=client against the API server double
k8s_init
k8s_api
K8S_KUBECONFIG=$SY_TMP/kubeconfig
k8s_kubeconfig "$K8S_KUBECONFIG" "$K8S_URL" "" "    token: unused"
dry() { # DIR WANT: every object of DIR dry-run with WANT ("created"/"configured"/...)
	local out
	out=$(kc apply --dry-run=client --validate=false -k "$1" 2>&1) || sy_fail "dry-run $1: $out"
	[ "$(grep -c "(dry run)" <<<"$out")" = 5 ] || sy_fail "dry-run $1: want 5 objects: $out"
	grep -v "(dry run)" <<<"$out" | grep -q . && sy_fail "dry-run $1 says more: $out"
	grep "(dry run)" <<<"$out" | grep -qv " $2 (dry run)" && sy_fail "dry-run $1: want $2: $out"
	return 0
}
for o in base overlays/ipvs overlays/nftables overlays/private-registry; do dry "$K/$o" created; done
# the base for real (stored by the double), then the overlays as changes of it
out=$(kc apply --validate=false -k "$K/base" 2>&1) || sy_fail "apply base: $out"
[ "$(kc -n kube-system get ds switchyard -o 'jsonpath={.spec.template.spec.containers[0].args[1]}')" = \
	--proxy-mode=iptables ] || sy_fail "the double does not hold the DaemonSet"
# applying it again changes nothing: the double keeps what kubectl wrote
out=$(kc apply --validate=false -k "$K/base" 2>&1) || sy_fail "apply base again: $out"
[ "$(grep -c " unchanged$" <<<"$out")" = 5 ] || sy_fail "apply base again: $out"
# client dry-run says "configured" for every object that exists, changed or not
for o in overlays/ipvs overlays/nftables overlays/private-registry; do dry "$K/$o" configured; done

# doc/operations.md, migrating a kubeadm cluster: its commands as written,
# against the double holding kubeadm's kube-proxy ConfigMap
"$PY" - "$SY_SRC/tests/lib/kubeadm-kube-proxy.conf" >"$SY_TMP/kube-proxy-cm.yaml" <<'PY'
import sys, yaml
kubeconfig = """apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
    server: https://192.0.2.10:6443
  name: default
contexts:
- context: {cluster: default, namespace: default, user: default}
  name: default
current-context: default
users:
- name: default
  user:
    tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token
"""
conf = "".join(l for l in open(sys.argv[1]) if not l.startswith("#"))
print(yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": "kube-proxy", "namespace": "kube-system",
                                   "labels": {"app": "kube-proxy"}},
                      "data": {"config.conf": conf, "kubeconfig.conf": kubeconfig}}))
PY
kc create --validate=false -f "$SY_TMP/kube-proxy-cm.yaml" >/dev/null || sy_fail "kube-proxy ConfigMap"
kubectl() { kc "$@"; }
(
	set -e
	cd "$SY_TMP"
	SY=$SY_SRC
	mkdir switchyard-cluster && cd switchyard-cluster
	kubectl -n kube-system get configmap kube-proxy -o jsonpath='{.data.config\.conf}' >config.conf
	kubectl -n kube-system get configmap kube-proxy -o jsonpath='{.data.kubeconfig\.conf}' >kubeconfig.conf
	sed -i 's|/var/lib/kube-proxy/|/var/lib/switchyard/|' config.conf
	cat >kustomization.yaml <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $(realpath --relative-to=. "$SY/etc/kustomize/overlays/private-registry")
configMapGenerator:
  - name: switchyard
    namespace: kube-system
    behavior: replace
    files: [config.conf, kubeconfig.conf]
    options:
      disableNameSuffixHash: true
      labels: {k8s-app: switchyard}
EOF
) >"$SY_TMP/mig.log" 2>&1 || sy_fail "the migration commands: $(cat "$SY_TMP/mig.log")"
C=$SY_TMP/switchyard-cluster
grep -q 'kubeconfig: /var/lib/switchyard/kubeconfig.conf' "$C/config.conf" ||
	sy_fail "config.conf: $(cat "$C/config.conf")"
mkdir -p "$R/cluster"
kubectl kustomize "$C" >"$R/cluster/switchyard.yaml" 2>"$R/cluster.err" ||
	sy_fail "the cluster overlay: $(cat "$R/cluster.err")"
"$SY_SRC/tools/check-manifests" --switchyard "$SWITCHYARD" "$R/cluster" >"$R/cluster.check" 2>&1 ||
	sy_fail "check-manifests on the cluster overlay: $(cat "$R/cluster.check")"
"$PY" - "$R/cluster/switchyard.yaml" "$SY_SRC/tests/lib/kubeadm-kube-proxy.conf" <<'PY' ||
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
cms = [d for d in docs if d["kind"] == "ConfigMap"]
assert len(cms) == 1 and cms[0]["metadata"]["name"] == "switchyard", cms
data = cms[0]["data"]
assert sorted(data) == ["config.conf", "kubeconfig.conf"], sorted(data)
conf = yaml.safe_load(data["config.conf"])
kubeadm = yaml.safe_load(open(sys.argv[2]))
assert conf["clientConnection"]["kubeconfig"] == "/var/lib/switchyard/kubeconfig.conf"
conf["clientConnection"]["kubeconfig"] = kubeadm["clientConnection"]["kubeconfig"]
assert conf == kubeadm, "config.conf is not kubeadm's"
assert "tokenFile" in data["kubeconfig.conf"]
ds = next(d for d in docs if d["kind"] == "DaemonSet")
c = ds["spec"]["template"]["spec"]["containers"][0]
assert c["image"] == "registry.example.com/switchyard:0.1.0", c["image"]
PY
	sy_fail "the cluster overlay's objects"
out=$(kc apply --dry-run=client --validate=false -k "$C" 2>&1) || sy_fail "dry-run the cluster overlay: $out"
[ "$(grep -c "(dry run)" <<<"$out")" = 5 ] || sy_fail "dry-run the cluster overlay: $out"
# the upgrade: a new tag in the cluster's overlay
cat >>"$C/kustomization.yaml" <<EOF
images:
  - name: registry.example.com/switchyard
    newTag: 0.2.0
EOF
kubectl kustomize "$C" | grep -q 'image: registry.example.com/switchyard:0.2.0' ||
	sy_fail "upgrade: no new tag"
sy_pass "base = etc/switchyard.yaml; 3 overlays render, check and dry-run; the migration commands work"
