#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The daemon runs valgrind-clean: start, list a manifest directory, follow
# changes (including a bad object, a changed ServiceCIDR), stop on SIGTERM; no memory errors, no
# definite leaks.  Runs the kernel-writing mode too when it works here.
. "$(dirname "$0")/../lib/common.sh"
command -v valgrind >/dev/null || sy_skip "valgrind not installed"
sy_mkns NODE node
M=$SY_TMP/m
mkdir -p "$M"
cat >"$M/a.yaml" <<'Y'
apiVersion: v1
kind: Service
metadata: {name: web, namespace: apps}
spec:
  type: NodePort
  clusterIP: 10.96.0.10
  sessionAffinity: ClientIP
  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080}, {name: dns, port: 53, protocol: UDP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: apps, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}, {name: dns, port: 5353, protocol: UDP}]
endpoints:
- {addresses: [10.244.1.10], nodeName: n1}
- {addresses: [10.244.1.11], conditions: {ready: false, serving: true, terminating: true}}
---
apiVersion: networking.k8s.io/v1
kind: ServiceCIDR
metadata: {name: kubernetes}
spec: {cidrs: [10.96.0.0/16, "fd00:96::/112"]}
Y
for mode in none iptables nftables; do
	LOG=$SY_TMP/vg-$mode.log
	sy_bg "$NODE" "$LOG" valgrind --leak-check=full --errors-for-leak-kinds=definite \
		--error-exitcode=9 "$SWITCHYARD" --proxy-mode=$mode --manifests "$M" \
		--hostname-override n1 --metrics-bind-address=127.0.0.1:10249 -v 2
	PID=$SY_LAST_PID
	if ! sy_wait 120 grep -q "First sync complete" "$LOG"; then
		if [ $mode != none ] && grep -q "Cannot use the $mode proxy mode" "$LOG"; then
			sy_log "$mode mode not usable here; not checked"
			continue
		fi
		sy_fail "$mode: no first sync: $(tail -5 "$LOG")"
	fi
	sed -i 's/10.244.1.11/10.244.1.12/; s/port: 80,/port: 81,/; s|10.96.0.0/16|10.96.0.0/17|' "$M/a.yaml"
	printf -- '---\nkind: Service\nmetadata: {name: bad}\nspec: {clusterIP: 1.2.3.4, ports: [{port: -1}]}\n' >>"$M/a.yaml"
	sy_wait 60 grep -q "Service default/bad" "$LOG" || sy_fail "$mode: change not seen"
	sleep 1
	kill -TERM "$PID"
	for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
	wait "$PID"; rc=$?
	grep -q "ERROR SUMMARY: 0 errors" "$LOG" || sy_fail "$mode: valgrind errors: $(grep -A20 'Invalid\|uninitialised\|definitely lost' "$LOG" | head -40)"
	[ $rc = 0 ] || sy_fail "$mode: exit $rc"
	sed -i 's/10.244.1.12/10.244.1.11/; s/port: 81,/port: 80,/; s|10.96.0.0/17|10.96.0.0/16|' "$M/a.yaml"
	sed -i '/name: bad/,$d' "$M/a.yaml"; sed -i '$d' "$M/a.yaml"
done
sy_pass
