#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Soak (issue 13): the API server double restarts SOAK_RESTARTS times (10
# here; bench/k8s-soak.sh runs 100+) under churn — Services and
# EndpointSlices created, changed and deleted through its REST API
# (tests/apiserver/churn.py), SOAK_OPS changes between restarts, the
# double killed (SIGKILL or SIGTERM) sometimes before the daemon has seen
# the last changes.  The double keeps its objects and resourceVersion across
# restarts (--state-file) and forgets its history, so watches get 410 and
# the daemon relists.  In the end the daemon's kernel state (iptables-save
# of its namespace, counters and comments dropped) must equal that of a
# fresh daemon started against the final state: 0 differing lines.
. "$(dirname "$0")/../lib/common.sh"
. "$SY_SRC/tests/apiserver/lib.sh"
command -v iptables-legacy-save >/dev/null || sy_skip "iptables-legacy-save missing"

RESTARTS=${SOAK_RESTARTS:-10}
OPS=${SOAK_OPS:-8}
STATE=$SY_TMP/api-state.json
export SY_XTABLES_LOCK=$SY_TMP/xtables.lock	# never the host's lock
k8s_init
sy_mkns FRESH fresh
sy_veth "$K8S_NS" eth-f 10.9.0.1/24 "$FRESH" eth0 10.9.0.2/24
k8s_api --state-file "$STATE" --listen 0.0.0.0:0 --bookmark-interval 0.5
PORT=$K8S_PORT
K8S_KUBECONFIG=$SY_TMP/kubeconfig
k8s_kubeconfig "$K8S_KUBECONFIG" "$K8S_URL" "" "    {}"
k8s_kubeconfig "$SY_TMP/kubeconfig-fresh" "http://10.9.0.1:$PORT" "" "    {}"
k8s_node | kc create --validate=false -f - >/dev/null || sy_fail "create node"
churn() { ip netns exec "$K8S_NS" "$PY" "$SY_SRC/tests/apiserver/churn.py" --url "$K8S_URL" "$@"; }
churn --ops 30 --seed 0 >"$SY_TMP/churn.log" || sy_fail "churn: $(tail -2 "$SY_TMP/churn.log")"
DFLAGS=(--proxy-mode=iptables --cluster-cidr 10.244.0.0/16 --min-sync-period 0s -v 2)
k8s_daemon "${DFLAGS[@]}"
sy_wait 20 grep -q "First sync complete" "$SY_TMP/daemon.log" ||
	sy_fail "no first sync: $(tail -5 "$SY_TMP/daemon.log")"

t0=$SECONDS
for i in $(seq 1 "$RESTARTS"); do
	churn --ops "$OPS" --seed "$i" >>"$SY_TMP/churn.log" ||
		sy_fail "churn $i: $(tail -2 "$SY_TMP/churn.log")"
	case $((i % 4)) in
	0) sleep 0.3 ;;			# the daemon has caught up (mostly)
	1) sleep 0.05 ;;
	esac
	if [ $((i % 2)) = 0 ]; then kill -KILL "$K8S_API_PID"; else kill -TERM "$K8S_API_PID"; fi
	wait "$K8S_API_PID" 2>/dev/null
	k8s_api --state-file "$STATE" --listen "0.0.0.0:$PORT" --bookmark-interval 0.5
done
soak_s=$((SECONDS - t0))
churn --ops "$OPS" --seed 999999 >>"$SY_TMP/churn.log" || sy_fail "last churn"
kill -0 "$K8S_DAEMON_PID" || sy_fail "the daemon died: $(tail -5 "$SY_TMP/daemon.log")"

# a fresh daemon against the final state, in its own namespace
sy_bg "$FRESH" "$SY_TMP/fresh.log" "$SWITCHYARD" --kubeconfig "$SY_TMP/kubeconfig-fresh" \
	--hostname-override "$K8S_NODE" --metrics-bind-address 127.0.0.1:10249 \
	--healthz-bind-address 127.0.0.1:10256 "${DFLAGS[@]}"
sy_wait 20 grep -q "First sync complete" "$SY_TMP/fresh.log" ||
	sy_fail "fresh daemon: no first sync: $(tail -5 "$SY_TMP/fresh.log")"
norm() { ip netns exec "$1" iptables-legacy-save | sed -e '/^#/d' -e 's/\[[0-9]*:[0-9]*\]//'; }
same() {
	norm "$K8S_NS" >"$SY_TMP/soaked.rules"
	norm "$FRESH" >"$SY_TMP/fresh.rules"
	cmp -s "$SY_TMP/soaked.rules" "$SY_TMP/fresh.rules"
}
t1=$SECONDS
sy_wait 40 same
ndiff=$(diff "$SY_TMP/soaked.rules" "$SY_TMP/fresh.rules" | grep -c '^[<>]')
conv_s=$((SECONDS - t1))
svcs=$(grep -c '^-A SY-SERVICES\|^-A SY-DST' "$SY_TMP/fresh.rules")
relists=$(grep -c "relisting" "$SY_TMP/daemon.log")
ops=$(awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] != "failed") n += kv[2] } } END { print n }' \
	"$SY_TMP/churn.log")
sy_log "$RESTARTS restarts of the API double in ${soak_s} s, $ops changes, $relists relists;" \
	"converged ${conv_s} s after the last change; $(wc -l <"$SY_TMP/fresh.rules") rule lines," \
	"$ndiff differing from a fresh daemon"
[ "$ndiff" = 0 ] || {
	diff "$SY_TMP/soaked.rules" "$SY_TMP/fresh.rules" | head -20 >&2
	sy_fail "$ndiff lines differ between the soaked daemon and a fresh one"
}
[ "$relists" -ge 1 ] || sy_fail "no relist after $RESTARTS restarts"
sy_pass "$RESTARTS API restarts under churn ($ops changes): kernel state equals a fresh daemon's"
