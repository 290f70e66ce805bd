#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The shipped operations files:
#  - tools/check-manifests passes on etc/ (flags taken from the built
#    binary's --help, the ConfigMap's config run through the daemon's parser)
#    and fails, naming the problem, on copies broken one way each
#  - every flag in `switchyard --help` is documented in switchyard(8), and
#    the man page renders without groff warnings
#  - the generated systemd unit passes systemd-analyze verify
# No network, no namespaces needed: nothing here sends traffic.
. "$(dirname "$0")/../lib/common.sh"

CHECK=$SY_SRC/tools/check-manifests
[ -x "$SWITCHYARD" ] || sy_fail "no binary at $SWITCHYARD"

"$CHECK" --switchyard "$SWITCHYARD" "$SY_SRC/etc" >"$SY_TMP/out" 2>&1 ||
	sy_fail "check-manifests on etc/: $(cat "$SY_TMP/out")"
grep -q "flags from $SWITCHYARD --help: 0 problem" "$SY_TMP/out" || sy_fail "$(cat "$SY_TMP/out")"
grep -q "DaemonSet" "$SY_TMP/out" || sy_fail "no DaemonSet checked"

# broken COPY-EDIT WANT: apply a sed edit to a copy of etc/, expect failure naming WANT
broken() {
	local edit=$1 file=$2 want=$3 d=$SY_TMP/etc.$RANDOM
	cp -r "$SY_SRC/etc" "$d"
	sed -i "$edit" "$d/$file"
	cmp -s "$SY_SRC/etc/$file" "$d/$file" && sy_fail "edit '$edit' changed nothing in $file"
	if "$CHECK" --switchyard "$SWITCHYARD" "$d" >"$SY_TMP/out" 2>&1; then
		sy_fail "check-manifests passed a copy with '$edit'"
	fi
	grep -qF -- "$want" "$SY_TMP/out" || sy_fail "'$edit': want '$want' in: $(cat "$SY_TMP/out")"
}
broken 's/--proxy-mode=iptables/--proxy-mod=iptables/' switchyard.yaml \
	"arg '--proxy-mod=iptables' is not a switchyard flag"
broken 's/- --v=2/- --verbose=2/' switchyard.yaml "arg '--verbose=2' is not a switchyard flag"
broken 's/add: \[NET_ADMIN, NET_RAW\]/add: [NET_RAW, SYS_MODULE]/' switchyard.yaml \
	"capability NET_ADMIN missing"
broken 's/privileged: false/privileged: true/' switchyard.yaml "must not be privileged"
broken 's/hostNetwork: true/hostNetwork: false/' switchyard.yaml "hostNetwork must be true"
broken 's/readOnlyRootFilesystem: true/readOnlyRootFilesystem: false/' switchyard.yaml \
	"readOnlyRootFilesystem must be true"
broken 's/drop: \[ALL\]/drop: [NET_BIND_SERVICE]/' switchyard.yaml "must drop ALL"
broken 's/allowPrivilegeEscalation: false/allowPrivilegeEscalation: true/' switchyard.yaml \
	"allowPrivilegeEscalation must be false"
broken 's/system-node-critical/system-cluster-critical/' switchyard.yaml "priorityClassName"
broken 's/fieldPath: spec.nodeName/fieldPath: metadata.name/' switchyard.yaml "NODE_NAME"
broken 's/type: FileOrCreate/type: File/' switchyard.yaml "/run/xtables.lock"
broken 's/path: \/livez/path: \/healthz/' switchyard.yaml "livenessProbe must be httpGet /livez"
broken 's/verbs: \[list, watch\]/verbs: [list]/' switchyard.yaml "needs verbs ['watch']"
broken '/^roleRef:/,/^subjects:/ s/name: system:switchyard/name: system:other/' switchyard.yaml "is not defined in the manifests"
broken 's/      minSyncPeriod: 1s/      minSyncPeriod: 1s\n      foo: 1/' switchyard.yaml \
	'switchyard rejects the config'
broken 's/^  syncPeriod: 30s/  syncPeriod: 30/' config.yaml 'invalid duration "30"'
broken 's/^kind: Service$/kind: Servce/' manifests/web.yaml "unexpected kind Servce"
broken 's/^  ports:$/  porst:/' manifests/web.yaml "missing spec.ports"
broken 's/^    k8s-app: switchyard$/    k8s-app: [switchyard/' switchyard.yaml "YAML"

# every flag of --help is in the man page (with its dashes escaped for roff)
MAN=$SY_SRC/man/switchyard.8
"$SWITCHYARD" --help | grep -o -- '--[a-z][a-z0-9-]*' | sort -u >"$SY_TMP/flags"
[ "$(wc -l <"$SY_TMP/flags")" -ge 20 ] || sy_fail "too few flags in --help"
while read -r f; do
	esc=$(printf '%s' "$f" | sed 's/-/\\\\-/g')
	grep -q -- "$esc" "$MAN" || sy_fail "flag $f is not in switchyard(8)"
done <"$SY_TMP/flags"
if command -v groff >/dev/null; then
	LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$MAN" 2>"$SY_TMP/groff"
	[ -s "$SY_TMP/groff" ] && sy_fail "groff warnings: $(cat "$SY_TMP/groff")"
fi

# the systemd unit as make generates it
if command -v systemd-analyze >/dev/null && [ -f "$SY_BUILD/etc/switchyard.service" ]; then
	sed "s|^ExecStart=[^ ]*|ExecStart=$SWITCHYARD|" "$SY_BUILD/etc/switchyard.service" \
		>"$SY_TMP/switchyard.service"
	grep -q -- "--manifests .*/switchyard/manifests" "$SY_TMP/switchyard.service" ||
		sy_fail "unit does not run --manifests"
	grep -q '^Restart=always' "$SY_TMP/switchyard.service" || sy_fail "unit: Restart=always"
	systemd-analyze verify --man=no "$SY_TMP/switchyard.service" >"$SY_TMP/sa" 2>&1 ||
		sy_fail "systemd-analyze verify: $(cat "$SY_TMP/sa")"
else
	sy_log "systemd-analyze or the built unit missing: unit not verified"
fi
sy_pass
