#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The container image as the DaemonSet runs it, with real packets:
#  - tools/image builds the OCI archive (reused when the binary, the script
#    and the package list are unchanged); skopeo copies it, containerd's ctr
#    imports it as docker.io/library/switchyard:<version> (what the
#    DaemonSet's image means on a node) and podman loads it under that
#    name, entrypoint /usr/sbin/switchyard, no shell
#  - podman runs it in the test's node namespace (--network ns:...) with the
#    DaemonSet's container spec from etc/switchyard.yaml: its args
#    unchanged ($(NODE_NAME) = node1), its capabilities (drop ALL, add
#    NET_ADMIN NET_RAW), read-only root filesystem, no privilege escalation,
#    the ConfigMap's config.conf at /var/lib/switchyard and the host's
#    /run/xtables.lock; plus the manifests directory (read-only) and
#    --manifests, as there is no API server here
#  - the process is root with exactly CAP_NET_ADMIN + CAP_NET_RAW
#  - a ClusterIP and a NodePort answer from a client namespace through both
#    endpoints; /healthz answers 200 with kube-proxy's JSON; a NodePort on
#    127.0.0.1 once net.ipv4.conf.all.route_localnet is 1 (switchyard
#    warns when the container's read-only /proc/sys keeps it from setting it)
#  - a TCP connection held open survives stopping the container (the rules
#    stay) and a new container taking over
#  - as uid 65534 with the same two capabilities (ambient) the daemon
#    cannot sync: the host's /run/xtables.lock is root's, 0600 (why
#    the DaemonSet runs as uid 0 with only NET_ADMIN + NET_RAW)
#  - switchyard --cleanup run from the image leaves no switchyard chain or
#    rule in the namespace (iptables-legacy-save)
#  - when the daemon has the nftables mode: the same container with the
#    nftables overlay's mode serves the ClusterIP from table ip switchyard,
#    and --cleanup removes the table
# OCI runtime: runc (crun refuses cgroup layouts that mix v1 controllers
# with a cgroup2 mount holding a controller, as this test machine has).
# Skips (77) only when podman cannot start any container here.
. "$(dirname "$0")/iptables-lib.sh"

for c in podman runc skopeo umoci mmdebstrap containerd ctr; do
	command -v $c >/dev/null || sy_fail "$c missing (tools/check installs it: tools/lib.sh SY_PACKAGES)"
done
VERSION=$(sed -n 's/^AC_INIT(\[switchyard\], \[\([^]]*\)\].*/\1/p' "$SY_SRC/configure.ac")
IMG=$SY_BUILD/switchyard-$VERSION.oci.tar
NAME=docker.io/library/switchyard:$VERSION

t0=$SECONDS
"$SY_SRC/tools/image" --reuse --build "$SY_BUILD" >"$SY_TMP/image.log" 2>&1 ||
	sy_fail "tools/image: $(tail -n 20 "$SY_TMP/image.log")"
sy_log "tools/image: $((SECONDS - t0)) s: $(grep -E 'digest|size:|unchanged' "$SY_TMP/image.log" | tr '\n' ' ')"
DIGEST=$(cat "$IMG.digest")

# podman with its own storage under $SY_TMP (vfs: no mounts left behind)
PM=$SY_TMP/podman
mkdir -p "$PM/tmp"
pm() {
	podman --root "$PM/root" --runroot "$PM/run" --tmpdir "$PM/tmp" --storage-driver vfs \
		--runtime runc --cgroup-manager cgroupfs --events-backend file "$@"
}
CTRS=()
img_cleanup() {
	local c
	for c in "${CTRS[@]}"; do pm rm -f -t 2 "$c" >/dev/null 2>&1; done
	sy_cleanup
}
trap img_cleanup EXIT

# skopeo reads the archive: the same manifest digest
skopeo copy -q "oci-archive:$IMG" "oci:$SY_TMP/copy:$VERSION" >"$SY_TMP/skopeo.log" 2>&1 ||
	sy_fail "skopeo copy: $(cat "$SY_TMP/skopeo.log")"
got=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$SY_TMP/copy/index.json")
[ "$got" = "$DIGEST" ] || sy_fail "skopeo's copy has digest $got, tools/image said $DIGEST"

# containerd's ctr imports it under the name the DaemonSet's image
# (switchyard:VERSION) means on a node: docker.io/library/switchyard:VERSION
CT=$SY_TMP/containerd
mkdir -p "$CT"
cat >"$CT/config.toml" <<EOF
version = 2
root = "$CT/root"
state = "$CT/state"
[grpc]
  address = "$CT/sock"
[plugins."io.containerd.grpc.v1.cri"]
  disable = true
EOF
sy_bg - "$CT/log" containerd --config "$CT/config.toml"
CT_PID=$SY_LAST_PID
sy_wait 20 ctr --address "$CT/sock" version || sy_fail "containerd did not start: $(tail -5 "$CT/log")"
ctr --address "$CT/sock" -n k8s.io images import "$IMG" >"$SY_TMP/ctr.log" 2>&1 ||
	sy_fail "ctr images import: $(cat "$SY_TMP/ctr.log")"
ctr --address "$CT/sock" -n k8s.io images ls | grep -q "^$NAME .* $DIGEST " ||
	sy_fail "ctr: no $NAME with $DIGEST: $(ctr --address "$CT/sock" -n k8s.io images ls)"
kill "$CT_PID"

pm load -q -i "$IMG" >"$SY_TMP/load.log" 2>&1 || sy_fail "podman load: $(cat "$SY_TMP/load.log")"
grep -q "$NAME" "$SY_TMP/load.log" || sy_fail "podman load did not name $NAME: $(cat "$SY_TMP/load.log")"
ep=$(pm image inspect -f '{{json .Config.Entrypoint}} {{.Config.User}} {{index .Config.Labels "org.opencontainers.image.version"}}' "$NAME")
[ "$ep" = '["/usr/sbin/switchyard"] 0:0 '"$VERSION" ] || sy_fail "image config: $ep"

# container limits this machine allows (no CAP_SYS_RESOURCE to raise them)
LIMITS=(--ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit nproc=4096:4096)
# can this machine run a container at all?
if ! pm run --rm "${LIMITS[@]}" --network none "$NAME" --help >"$SY_TMP/probe.log" 2>&1; then
	if grep -qiE 'OCI runtime|runc|crun|cgroup|container init' "$SY_TMP/probe.log"; then
		sy_skip "this machine cannot run containers: $(head -c 300 "$SY_TMP/probe.log")"
	fi
	sy_fail "switchyard --help in the image: $(head -c 500 "$SY_TMP/probe.log")"
fi
grep -q -- '--proxy-mode' "$SY_TMP/probe.log" || sy_fail "no --help from the image"
# no shell, no package manager in the image
pm run --rm "${LIMITS[@]}" --network none --entrypoint /bin/sh "$NAME" -c true >/dev/null 2>&1 &&
	sy_fail "the image has a shell"

# the lab: node, client, two endpoints (held connections echo lines back)
ipt_lab 2
for k in 1 2; do
	sy_bg "${IPT_EP_NS[$k]}" "$SY_TMP/ep$k.log" "$PY" "$SY_SRC/tests/lib/echo_server.py" \
		--port 8080 --name "ep$k" --hold
done
ipt_node_manifest
IPT_NODEPORT=", nodePort: 30090"
ipt_svc web 10.96.0.90 80 8080 TCP "type: NodePort" | ipt_write svc.yaml
ipt_slice web TCP 8080 10.244.1.2 10.244.2.2 | ipt_write slice.yaml

# the DaemonSet's container as podman flags, one per line
CONF=$SY_TMP/configmap
"$PY" - "$SY_SRC/etc/switchyard.yaml" "$CONF" >"$SY_TMP/ds.args" <<'EOF' || sy_fail "cannot read the DaemonSet"
import os, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
ds = next(d for d in docs if d["kind"] == "DaemonSet")
cms = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
spec = ds["spec"]["template"]["spec"]
c = spec["containers"][0]
assert spec.get("hostNetwork") is True
vols = {v["name"]: v for v in spec.get("volumes") or []}
out = []
sc = c.get("securityContext") or {}
caps = sc.get("capabilities") or {}
for cap in caps.get("drop") or []:
    out += ["--cap-drop", cap.lower()]
for cap in caps.get("add") or []:
    out += ["--cap-add", cap.lower()]
if sc.get("readOnlyRootFilesystem"):
    out.append("--read-only")
if sc.get("allowPrivilegeEscalation") is False:
    out += ["--security-opt", "no-new-privileges"]
if sc.get("runAsUser") is not None:
    out += ["--user", str(sc["runAsUser"])]
assert not sc.get("privileged")
for m in c.get("volumeMounts") or []:
    v = vols[m["name"]]
    ro = ":ro" if m.get("readOnly") else ""
    if "hostPath" in v:
        p = v["hostPath"]["path"]
        if v["hostPath"].get("type") == "FileOrCreate" and not os.path.exists(p):
            open(p, "a").close()
        out += ["-v", f"{p}:{m['mountPath']}{ro}"]
    elif "configMap" in v:
        d = os.path.join(sys.argv[2], m["name"])
        os.makedirs(d, exist_ok=True)
        for k, text in cms[v["configMap"]["name"]]["data"].items():
            with open(os.path.join(d, k), "w") as f:
                f.write(text)
        out += ["-v", f"{d}:{m['mountPath']}{ro}"]
    else:
        sys.exit(f"volume {m['name']}: unknown kind")
env = {e["name"]: "node1" for e in c.get("env") or [] if e["name"] == "NODE_NAME"}
cmd = c.get("command") or []
assert cmd == ["/usr/sbin/switchyard"], cmd
out.append("--")
for a in c.get("args") or []:
    for k, v in env.items():
        a = a.replace(f"$({k})", v)
    out.append(a)
print("\n".join(out))
EOF
mapfile -t DS <"$SY_TMP/ds.args"
OPTS=() ARGS=() seen=
for a in "${DS[@]}"; do
	if [ "$a" = -- ]; then seen=1; continue; fi
	if [ -n "$seen" ]; then ARGS+=("$a"); else OPTS+=("$a"); fi
done
sy_log "DaemonSet as podman: ${OPTS[*]} -- ${ARGS[*]}"
printf '%s\n' "${ARGS[@]}" | grep -q -- '--hostname-override=node1' || sy_fail "args: ${ARGS[*]}"

# run CONTAINER-NAME [EXTRA ARGS...]: the DaemonSet's container in $NODE
run() {
	local name=$1; shift
	CTRS+=("$name")
	pm run -d --name "$name" --network "ns:/run/netns/$NODE" "${LIMITS[@]}" "${OPTS[@]}" \
		-v "$IPT_M:/etc/switchyard/manifests:ro" "$NAME" "${ARGS[@]}" \
		--manifests /etc/switchyard/manifests "$@" >/dev/null
}
logs() { pm logs "$1" 2>&1; }
synced() { logs "$1" | grep -q "First sync complete"; }

C1=$SY_TAG-switchyard-1
run "$C1" || sy_fail "podman run failed"
sy_wait 30 synced "$C1" || sy_fail "no first sync in the container: $(logs "$C1" | tail -n 20)"
logs "$C1" | grep -q "Using iptables Proxier" || sy_fail "mode line missing: $(logs "$C1" | head)"

# the process: root, exactly NET_ADMIN + NET_RAW, read-only /
pid=$(pm inspect -f '{{.State.Pid}}' "$C1")
[ "${pid:-0}" -gt 0 ] || sy_fail "no pid for $C1"
st=/proc/$pid/status
grep -q '^Uid:[[:space:]]0[[:space:]]' "$st" || sy_fail "not uid 0: $(grep Uid "$st")"
for f in CapEff CapPrm CapBnd; do
	v=$(awk -v f="$f:" '$1 == f { print $2 }' "$st")
	[ "$v" = 0000000000003000 ] || sy_fail "$f = $v, want 0x3000 (NET_ADMIN + NET_RAW)"
done
grep -q '^NoNewPrivs:[[:space:]]1' "$st" || sy_fail "no-new-privileges not set"
awk '$5 == "/" { print $6 }' "/proc/$pid/mountinfo" | grep -q '^ro' ||
	sy_fail "/ is not read-only in the container: $(awk '$5 == "/"' "/proc/$pid/mountinfo")"
[ -e "/proc/$pid/root/lib/modules" ] && sy_fail "/lib/modules is in the container"
[ "$(readlink "/proc/$pid/ns/net")" = "$(ip netns exec "$NODE" readlink /proc/self/ns/net)" ] ||
	sy_fail "the container is not in the node namespace"

# real packets through the containerised proxy
out=$(ipt_ask_many "$CLIENT" tcp 10.96.0.90 80 40)
n1=$(grep -c '^ep1 ' <<<"$out"); n2=$(grep -c '^ep2 ' <<<"$out")
[ $((n1 + n2)) -eq 40 ] && [ "$n1" -gt 0 ] && [ "$n2" -gt 0 ] ||
	sy_fail "ClusterIP through the container: ep1=$n1 ep2=$n2 of 40"
out=$(ipt_ask_many "$CLIENT" tcp 192.168.50.1 30090 10)
[ "$(grep -c '^ep' <<<"$out")" -eq 10 ] || sy_fail "NodePort through the container: $out"
code=$(ip netns exec "$NODE" curl -s -o "$SY_TMP/healthz" -w '%{http_code}' --max-time 5 http://127.0.0.1:10256/healthz)
[ "$code" = 200 ] || sy_fail "/healthz: $code $(cat "$SY_TMP/healthz")"
"$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["lastUpdated"] and j["nodeEligible"] is True' \
	"$SY_TMP/healthz" || sy_fail "/healthz body: $(cat "$SY_TMP/healthz")"
[ "$(ip netns exec "$NODE" curl -sf --max-time 5 http://127.0.0.1:10249/proxyMode)" = iptables ] ||
	sy_fail "/proxyMode"
# localhost NodePorts need route_localnet; an unprivileged container cannot
# write /proc/sys: switchyard says so, and the node's own setting works
if [ "$(ip netns exec "$NODE" sysctl -n net.ipv4.conf.all.route_localnet)" != 1 ]; then
	logs "$C1" | grep -q "W.*Cannot set sysctl net.ipv4.conf.all.route_localnet=1" ||
		sy_fail "route_localnet not set and no warning: $(logs "$C1" | tail -n 5)"
	ip netns exec "$NODE" sysctl -qw net.ipv4.conf.all.route_localnet=1
fi
out=$(ipt_ask_many "$NODE" tcp 127.0.0.1 30090 5)
[ "$(grep -c '^ep' <<<"$out")" -eq 5 ] || sy_fail "localhost NodePort through the container: $out"

# a connection held open across the container's restart
mkfifo "$SY_TMP/in"
sy_bg "$CLIENT" "$SY_TMP/conn.log" "$PY" "$SY_SRC/tests/lib/held_client.py" 10.96.0.90 80 "$SY_TMP/in" 60
exec 7>"$SY_TMP/in"
sy_wait 20 grep -q "^greeting ep" "$SY_TMP/conn.log" || sy_fail "no greeting: $(cat "$SY_TMP/conn.log")"
echo one >&7
sy_wait 20 grep -q "^reply ep. one" "$SY_TMP/conn.log" || sy_fail "no first echo"
before=$(ipt_save)
pm stop -t 10 "$C1" >/dev/null || sy_fail "podman stop"
[ "$(pm inspect -f '{{.State.ExitCode}}' "$C1")" = 0 ] || sy_fail "SIGTERM: exit $(pm inspect -f '{{.State.ExitCode}}' "$C1")"
[ "$(ipt_save)" = "$before" ] || sy_fail "stopping the container changed the rules"
echo two >&7
sy_wait 20 grep -q "^reply ep. two" "$SY_TMP/conn.log" || sy_fail "held connection broke with the container stopped"
out=$(ipt_ask_many "$CLIENT" tcp 10.96.0.90 80 10)
[ "$(grep -c '^ep' <<<"$out")" -eq 10 ] || sy_fail "new connections with the container stopped: $out"
C2=$SY_TAG-switchyard-2
run "$C2" || sy_fail "podman run (second) failed"
sy_wait 30 synced "$C2" || sy_fail "no first sync in the second container: $(logs "$C2" | tail -n 20)"
echo three >&7
sy_wait 20 grep -q "^reply ep. three" "$SY_TMP/conn.log" || sy_fail "held connection broke when the new container took over"
exec 7>&-
pm stop -t 10 "$C2" >/dev/null

# why not non-root: as uid 65534 the container keeps NET_ADMIN + NET_RAW
# (ambient), yet cannot open the host's /run/xtables.lock (root's, not
# writable by others: iptables makes it 0600), so no sync can happen
if [ "$(stat -c %u /run/xtables.lock)" = 0 ] && (( (8#$(stat -c %a /run/xtables.lock) & 8#022) == 0 )); then
	C4=$SY_TAG-switchyard-nonroot
	SAVED=("${OPTS[@]}")
	OPTS+=(--user 65534:65534)
	run "$C4" || sy_fail "podman run (non-root) failed"
	OPTS=("${SAVED[@]}")
	nonroot_failed() { logs "$C4" | grep -q 'Failed to sync proxy rules.*Permission denied'; }
	sy_wait 20 nonroot_failed ||
		sy_fail "non-root: want a failed sync: $(logs "$C4" | tail -n 5)"
	pid=$(pm inspect -f '{{.State.Pid}}' "$C4")
	grep -q '^Uid:[[:space:]]65534' "/proc/$pid/status" || sy_fail "non-root: $(grep Uid "/proc/$pid/status")"
	[ "$(awk '$1 == "CapEff:" { print $2 }' "/proc/$pid/status")" = 0000000000003000 ] ||
		sy_fail "non-root: not the two capabilities: $(grep Cap "/proc/$pid/status")"
	pm rm -f -t 2 "$C4" >/dev/null
	nonroot="uid 65534 cannot open /run/xtables.lock"
else
	nonroot="not tried (/run/xtables.lock is $(stat -c %u:%a /run/xtables.lock))"
fi

# --cleanup from the image (the DaemonSet's container spec, --cleanup added)
ipt_save | grep -q 'SY-SERVICES' || sy_fail "no rules before --cleanup"
pm run --rm --network "ns:/run/netns/$NODE" "${LIMITS[@]}" "${OPTS[@]}" "$NAME" \
	--proxy-mode=iptables --cleanup >"$SY_TMP/cleanup.log" 2>&1 ||
	sy_fail "--cleanup: $(cat "$SY_TMP/cleanup.log")"
left=$(ip netns exec "$NODE" iptables-legacy-save | grep -iE 'SY-|switchyard')
[ -z "$left" ] || sy_fail "left after --cleanup: $left"

# the nftables mode from the same image, as etc/kustomize/overlays/nftables
# sets it (the DaemonSet's args with --proxy-mode=nftables, mode: nftables)
nft=skipped
if "$SWITCHYARD" --help 2>&1 | grep -q -- '--proxy-mode.*nftables'; then
	command -v nft >/dev/null || sy_fail "nft missing"
	NARGS=()
	for a in "${ARGS[@]}"; do NARGS+=("${a/--proxy-mode=iptables/--proxy-mode=nftables}"); done
	ARGS=("${NARGS[@]}")
	sed -i 's/^mode: iptables$/mode: nftables/' "$CONF/config/config.conf"
	grep -q '^mode: nftables$' "$CONF/config/config.conf" || sy_fail "no mode line in config.conf"
	C3=$SY_TAG-switchyard-3
	run "$C3" || sy_fail "podman run (nftables) failed"
	sy_wait 30 synced "$C3" || sy_fail "no first sync in nftables mode: $(logs "$C3" | tail -n 20)"
	logs "$C3" | grep -q "Using nftables Proxier" || sy_fail "nftables mode line: $(logs "$C3" | head)"
	ip netns exec "$NODE" nft list table ip switchyard >/dev/null 2>&1 || sy_fail "no table ip switchyard"
	out=$(ipt_ask_many "$CLIENT" tcp 10.96.0.90 80 20)
	m1=$(grep -c '^ep1 ' <<<"$out"); m2=$(grep -c '^ep2 ' <<<"$out")
	[ $((m1 + m2)) -eq 20 ] && [ "$m1" -gt 0 ] && [ "$m2" -gt 0 ] ||
		sy_fail "ClusterIP through the container in nftables mode: ep1=$m1 ep2=$m2 of 20"
	pm stop -t 10 "$C3" >/dev/null
	pm run --rm --network "ns:/run/netns/$NODE" "${LIMITS[@]}" "${OPTS[@]}" "$NAME" \
		--cleanup >"$SY_TMP/cleanup3.log" 2>&1 || sy_fail "--cleanup: $(cat "$SY_TMP/cleanup3.log")"
	ip netns exec "$NODE" nft list tables | grep -q switchyard &&
		sy_fail "table left after --cleanup: $(ip netns exec "$NODE" nft list tables)"
	nft="ep1=$m1 ep2=$m2"
fi
sy_pass "image $DIGEST; ClusterIP ep1=$n1 ep2=$n2; restart kept the connection; cleanup clean; nftables mode: $nft; non-root: $nonroot"
