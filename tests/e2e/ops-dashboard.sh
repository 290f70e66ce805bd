#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# etc/grafana-dashboard.json queries only metrics the daemon exports: the
# daemon runs in iptables mode in a test namespace with a Service served by
# a real endpoint (a request goes through it first, so counters and
# histograms have moved), /metrics is scraped, and every metric name and
# label in the dashboard's PromQL is looked up in the scrape
# (tests/lib/dashboard_metrics.py); the nftables mode's own metrics come
# from a second daemon in that mode.  A copy of the dashboard with one
# metric misspelt and one with a label the metric lacks must fail the check.
. "$(dirname "$0")/iptables-lib.sh"

$PY -c 'import prometheus_client.parser' 2>/dev/null || sy_skip "python3-prometheus-client missing"
DASH=$SY_SRC/etc/grafana-dashboard.json
CHECK=$SY_SRC/tests/lib/dashboard_metrics.py

ipt_lab 1
ipt_server 1 tcp 8080
ipt_node_manifest
ipt_svc web 10.96.0.90 80 8080 TCP | ipt_write svc.yaml
ipt_slice web TCP 8080 10.244.1.2 | ipt_write slice.yaml
ipt_start
out=$(ipt_ask_many "$CLIENT" tcp 10.96.0.90 80 3)
[ "$(grep -c '^ep1' <<<"$out")" = 3 ] || sy_fail "the Service does not answer: $out"

ip netns exec "$NODE" curl -sf --max-time 5 http://127.0.0.1:10249/metrics >"$SY_TMP/metrics.txt" ||
	sy_fail "no /metrics"
grep -q '^kubeproxy_sync_proxy_rules_iptables_total{ip_family="IPv4",table="nat"} [1-9]' "$SY_TMP/metrics.txt" ||
	sy_fail "scrape has no iptables rule count: $(head -c 400 "$SY_TMP/metrics.txt")"

# the nftables mode's own metrics, from a second daemon in that mode
SCRAPES=("$SY_TMP/metrics.txt")
if "$SWITCHYARD" --help 2>&1 | grep -q -- '--proxy-mode.*nftables'; then
	ipt_stop
	ip netns exec "$NODE" "$SWITCHYARD" --cleanup >/dev/null 2>&1
	ipt_start --proxy-mode=nftables
	grep -q "Using nftables Proxier" "$IPT_LOG" || sy_fail "not in nftables mode: $(head -5 "$IPT_LOG")"
	ip netns exec "$NODE" curl -sf --max-time 5 http://127.0.0.1:10249/metrics >"$SY_TMP/metrics-nft.txt" ||
		sy_fail "no /metrics in nftables mode"
	grep -q '^switchyard_nftables_objects{table=' "$SY_TMP/metrics-nft.txt" ||
		sy_fail "nftables scrape has no object count: $(grep nft "$SY_TMP/metrics-nft.txt")"
	SCRAPES+=("$SY_TMP/metrics-nft.txt")
fi

"$PY" "$CHECK" "$DASH" "${SCRAPES[@]}" >"$SY_TMP/check.out" 2>&1 ||
	sy_fail "dashboard: $(cat "$SY_TMP/check.out")"
sy_log "$(tail -n1 "$SY_TMP/check.out")"
n=$(grep -o '[0-9]* metrics' "$SY_TMP/check.out" | cut -d' ' -f1)
[ "${n:-0}" -ge 20 ] || sy_fail "the dashboard uses only ${n:-0} metrics"

# the check can fail: a misspelt metric, a label the metric does not have
sed 's/switchyard_relists_total/switchyard_relist_total/' "$DASH" >"$SY_TMP/bad1.json"
cmp -s "$DASH" "$SY_TMP/bad1.json" && sy_fail "mutation 1 changed nothing"
"$PY" "$CHECK" "$SY_TMP/bad1.json" "${SCRAPES[@]}" >"$SY_TMP/bad1.out" 2>&1 &&
	sy_fail "a misspelt metric passed"
grep -q 'metric switchyard_relist_total is not exported' "$SY_TMP/bad1.out" || sy_fail "$(cat "$SY_TMP/bad1.out")"
sed 's/{{table}} /{{mode}} /' "$DASH" >"$SY_TMP/bad2.json"
cmp -s "$DASH" "$SY_TMP/bad2.json" && sy_fail "mutation 2 changed nothing"
"$PY" "$CHECK" "$SY_TMP/bad2.json" "${SCRAPES[@]}" >"$SY_TMP/bad2.out" 2>&1 &&
	sy_fail "a legend label the metric lacks passed"
grep -q 'label mode is not a label of kubeproxy_sync_proxy_rules_iptables' "$SY_TMP/bad2.out" ||
	sy_fail "$(cat "$SY_TMP/bad2.out")"
sy_pass "$(tail -n1 "$SY_TMP/check.out")"
