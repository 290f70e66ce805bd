// SPDX-License-Identifier: Apache-2.0
/*
 * Histograms and the Prometheus text-format (0.0.4) renderer for the
 * daemon's metrics, with kube-proxy's names and buckets
 * (pkg/proxy/metrics/metrics.go) where the meaning matches.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "switchyard/metrics.h"
#include "switchyard/util.h"
#include "http.h"
#include "render.h"

void sy_hist_init_exp(struct sy_hist *h, double start, double factor, unsigned n)
{
	double b = start;

	memset(h, 0, sizeof(*h));
	if (n > SY_HIST_MAX_BUCKETS)
		n = SY_HIST_MAX_BUCKETS;
	for (unsigned i = 0; i < n; i++, b *= factor)
		h->bounds[i] = b;
	h->n_bounds = n;
}

static void add_linear(struct sy_hist *h, double start, double width, unsigned n)
{
	for (unsigned i = 0; i < n && h->n_bounds < SY_HIST_MAX_BUCKETS; i++)
		h->bounds[h->n_bounds++] = start + width * i;
}

void sy_hist_init_netprog(struct sy_hist *h)
{
	memset(h, 0, sizeof(*h));
#if SY_HIST_MAX_BUCKETS >= 80
	/* kube-proxy: 0.25, 0.5; 1..59 by 1; 60..115 by 5; 120..300 by 30 (80 buckets) */
	add_linear(h, 0.25, 0.25, 2);
	add_linear(h, 1, 1, 59);
	add_linear(h, 60, 5, 12);
	add_linear(h, 120, 30, 7);
#else
	/*
	 * metrics.h allows fewer buckets than kube-proxy's 80: keep its low
	 * end and its 5-minute top, coarser in between (40 buckets).
	 */
	add_linear(h, 0.25, 0.25, 2);
	add_linear(h, 1, 1, 20);
	add_linear(h, 25, 5, 8);
	add_linear(h, 65, 15, 3);
	add_linear(h, 120, 30, 7);
#endif
}

void sy_hist_observe(struct sy_hist *h, double v)
{
	unsigned i;

	if (isnan(v))
		return;
	/* Prometheus buckets are "le": v lands in the first bound >= v */
	for (i = 0; i < h->n_bounds; i++)
		if (v <= h->bounds[i])
			break;
	h->counts[i]++;
	h->sum += v;
	h->count++;
}

void sy_metrics_init(struct sy_metrics *m)
{
	memset(m, 0, sizeof(*m));
	for (unsigned f = 0; f < SY_METRICS_FAMILIES; f++) {
		sy_hist_init_exp(&m->sync_duration[f], 0.001, 2, 15);
		sy_hist_init_exp(&m->sync_full_duration[f], 0.001, 2, 15);
		sy_hist_init_exp(&m->sync_partial_duration[f], 0.001, 2, 15);
	}
	for (unsigned f = 0; f < SY_METRICS_FAMILIES; f++)
		sy_hist_init_netprog(&m->netprog_duration[f]);
	sy_hist_init_exp(&m->conntrack_duration, 0.001, 2, 15);
	sy_hist_init_exp(&m->netpol_sync_duration, 0.0001, 2, 18);
}

void metrics_fmt_double(double v, char *buf, size_t len)
{
	if (isnan(v)) {
		snprintf(buf, len, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (v == floor(v) && fabs(v) < 1e15) {
		snprintf(buf, len, "%.0f", v);
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

/* One family header. */
static void family(struct http_buf *b, const char *name, const char *type, const char *help)
{
	http_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample_u(struct http_buf *b, const char *name, const char *labels, uint64_t v)
{
	http_buf_printf(b, "%s%s %llu\n", name, labels ? labels : "", (unsigned long long)v);
}

static void sample_d(struct http_buf *b, const char *name, const char *labels, double v)
{
	char num[40];

	metrics_fmt_double(v, num, sizeof(num));
	http_buf_printf(b, "%s%s %s\n", name, labels ? labels : "", num);
}

static void counter(struct http_buf *b, const char *name, const char *help, uint64_t v)
{
	family(b, name, "counter", help);
	sample_u(b, name, NULL, v);
}

static void gauge_u(struct http_buf *b, const char *name, const char *help, uint64_t v)
{
	family(b, name, "gauge", help);
	sample_u(b, name, NULL, v);
}

static void gauge_d(struct http_buf *b, const char *name, const char *help, double v)
{
	family(b, name, "gauge", help);
	sample_d(b, name, NULL, v);
}

/* One histogram's samples; fam: an ip_family label value, or NULL. */
static void hist_samples(struct http_buf *b, const char *name, const char *fam,
			 const struct sy_hist *h)
{
	uint64_t cum = 0;
	char num[40], pre[48] = "", lab[48] = "";

	if (fam) {
		snprintf(pre, sizeof(pre), "ip_family=\"%s\",", fam);
		snprintf(lab, sizeof(lab), "{ip_family=\"%s\"}", fam);
	}
	for (unsigned i = 0; i < h->n_bounds; i++) {
		cum += h->counts[i];
		metrics_fmt_double(h->bounds[i], num, sizeof(num));
		http_buf_printf(b, "%s_bucket{%sle=\"%s\"} %llu\n", name, pre, num,
				(unsigned long long)cum);
	}
	cum += h->counts[h->n_bounds];
	http_buf_printf(b, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, pre, (unsigned long long)cum);
	metrics_fmt_double(h->sum, num, sizeof(num));
	http_buf_printf(b, "%s_sum%s %s\n%s_count%s %llu\n", name, lab, num, name, lab,
			(unsigned long long)h->count);
}

static void histogram(struct http_buf *b, const char *name, const char *help,
		      const struct sy_hist *h)
{
	family(b, name, "histogram", help);
	hist_samples(b, name, NULL, h);
}

static const char *const fam_names[SY_METRICS_FAMILIES] = { "IPv4", "IPv6" };

/* Whether family index f has an instance (none recorded: IPv4 only). */
static bool has_fam(const struct sy_metrics *m, unsigned f)
{
	return m->families ? (m->families >> f) & 1 : f == 0;
}

/* A histogram per family, labelled ip_family. */
static void histogram_fam(struct http_buf *b, const struct sy_metrics *m, const char *name,
			  const char *help, const struct sy_hist *h)
{
	family(b, name, "histogram", help);
	for (unsigned f = 0; f < SY_METRICS_FAMILIES; f++)
		if (has_fam(m, f))
			hist_samples(b, name, fam_names[f], &h[f]);
}

/* A counter or gauge per family, labelled ip_family: integers u or, when u is NULL, numbers d. */
static void scalar_fam(struct http_buf *b, const struct sy_metrics *m, const char *name,
		       const char *type, const char *help, const uint64_t *u, const double *d)
{
	char label[48];

	family(b, name, type, help);
	for (unsigned f = 0; f < SY_METRICS_FAMILIES; f++)
		if (has_fam(m, f)) {
			snprintf(label, sizeof(label), "{ip_family=\"%s\"}", fam_names[f]);
			if (u)
				sample_u(b, name, label, u[f]);
			else
				sample_d(b, name, label, d[f]);
		}
}

/* A counter of two samples: labels a and b. */
static void counter2(struct http_buf *b, const char *name, const char *help, const char *la,
		     uint64_t va, const char *lb, uint64_t vb)
{
	family(b, name, "counter", help);
	sample_u(b, name, la, va);
	sample_u(b, name, lb, vb);
}

/* kube-proxy's no_local_endpoints: {ip_family,traffic_policy} for each family. */
static void no_local_fam(struct http_buf *b, const struct sy_metrics *m, const char *name,
			 const char *help, const uint64_t *internal, const uint64_t *external)
{
	char label[96];

	family(b, name, "gauge", help);
	for (unsigned f = 0; f < SY_METRICS_FAMILIES; f++)
		if (has_fam(m, f)) {
			snprintf(label, sizeof(label), "{ip_family=\"%s\",traffic_policy=\"internal\"}",
				 fam_names[f]);
			sample_u(b, name, label, internal[f]);
			snprintf(label, sizeof(label), "{ip_family=\"%s\",traffic_policy=\"external\"}",
				 fam_names[f]);
			sample_u(b, name, label, external[f]);
		}
}

/* kube-proxy's per-table gauges: {ip_family,table} for each family and table. */
static void tables_fam(struct http_buf *b, const struct sy_metrics *m, const char *name,
		       const char *help, const uint64_t (*v)[MODE_MAX_TABLES])
{
	char label[96];

	family(b, name, "gauge", help);
	for (unsigned f = 0; f < SY_METRICS_FAMILIES; f++)
		for (unsigned i = 0; has_fam(m, f) && m->rule_tables && i < MODE_MAX_TABLES &&
				     m->rule_tables[i]; i++) {
			snprintf(label, sizeof(label), "{ip_family=\"%s\",table=\"%s\"}",
				 fam_names[f], m->rule_tables[i]);
			sample_u(b, name, label, v[f][i]);
		}
}

/* A gauge per table; a table is of one family: the families' sum is that family's count. */
static void tables_sum(struct http_buf *b, const struct sy_metrics *m, const char *name,
		       const char *help, const uint64_t (*v)[MODE_MAX_TABLES])
{
	char label[96];

	family(b, name, "gauge", help);
	for (unsigned i = 0; m->rule_tables && i < MODE_MAX_TABLES && m->rule_tables[i]; i++) {
		snprintf(label, sizeof(label), "{table=\"%s\"}", m->rule_tables[i]);
		sample_u(b, name, label, v[0][i] + v[1][i]);
	}
}

/* process_* from /proc/self; a missing value is left out. */
static void process_metrics(struct http_buf *b)
{
	char *buf = NULL, *p;
	size_t len = 0;
	long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	unsigned long utime, stime, vsize;
	unsigned long long starttime;
	long rss;
	double btime = -1;
	FILE *f;

	f = fopen("/proc/stat", "re");
	if (f) {
		char line[256];

		while (fgets(line, sizeof(line), f))
			if (!strncmp(line, "btime ", 6)) {
				btime = strtod(line + 6, NULL);
				break;
			}
		fclose(f);
	}
	f = fopen("/proc/self/stat", "re");
	if (!f)
		return;
	if (getline(&buf, &len, f) < 0) {
		fclose(f);
		free(buf);
		return;
	}
	fclose(f);
	/* fields after "(comm)": state is field 3; utime 14, stime 15, starttime 22, vsize 23, rss 24 */
	p = strrchr(buf, ')');
	if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d "
			"%*d %*d %llu %lu %ld", &utime, &stime, &starttime, &vsize, &rss) == 5 &&
	    ticks > 0) {
		family(b, "process_cpu_seconds_total", "counter",
		       "Total user and system CPU time spent in seconds.");
		sample_d(b, "process_cpu_seconds_total", NULL, (double)(utime + stime) / ticks);
		gauge_u(b, "process_resident_memory_bytes", "Resident memory size in bytes.",
			(uint64_t)rss * (uint64_t)page);
		gauge_u(b, "process_virtual_memory_bytes", "Virtual memory size in bytes.", vsize);
		if (btime >= 0)
			gauge_d(b, "process_start_time_seconds",
				"Start time of the process since unix epoch in seconds.",
				btime + (double)starttime / ticks);
	}
	free(buf);
}

/*
 * Every family /metrics shows (but process_*), in the order it shows them:
 * kube-proxy's names where the meaning matches, then switchyard's own.
 */
enum series_kind {
	S_COUNTER,		/* uint64_t */
	S_GAUGE,		/* uint64_t */
	S_COUNTER_D,		/* double */
	S_HISTOGRAM,		/* struct sy_hist */
	/* {ip_family} */
	S_HISTOGRAM_FAM,	/* struct sy_hist[SY_METRICS_FAMILIES] */
	S_GAUGE_FAM_D,		/* double[SY_METRICS_FAMILIES] */
	S_GAUGE_FAM_SAME,	/* double, the same for every family */
	S_COUNTER_FAM,		/* uint64_t[SY_METRICS_FAMILIES] */
	S_COUNTER_FAM_SUM,	/* uint64_t[SY_METRICS_FAMILIES], one sample: their sum */
	/* {ip_family,table} per the mode's rule_tables; {table}: the families' sum */
	S_GAUGE_TABLES,		/* uint64_t[SY_METRICS_FAMILIES][MODE_MAX_TABLES] */
	S_GAUGE_TABLES_SUM,	/* the same */
	/* two values: off, off2 */
	S_NO_LOCAL_FAM,		/* uint64_t[SY_METRICS_FAMILIES] {traffic_policy}: internal, external */
	S_COUNTER_CODES,	/* uint64_t {code}: 200, 503 */
	S_COUNTER_TYPES,	/* uint64_t {type}: full, partial */
};

struct series {
	const char *name;
	enum series_kind kind;
	unsigned flags;		/* METRICS_*: shown only with one of them; 0: always */
	size_t off, off2;	/* of the value(s) in struct sy_metrics (off2: two-value kinds) */
	const char *help;
};

#define M(f) offsetof(struct sy_metrics, f)
static const struct series metric_series[] = {
	{ "kubeproxy_sync_proxy_rules_duration_seconds", S_HISTOGRAM_FAM, 0,
	  M(sync_duration), 0,
	  "SyncProxyRules latency in seconds" },
	{ "kubeproxy_sync_full_proxy_rules_duration_seconds", S_HISTOGRAM_FAM, 0,
	  M(sync_full_duration), 0,
	  "SyncProxyRules latency in seconds for full resyncs" },
	{ "kubeproxy_sync_partial_proxy_rules_duration_seconds", S_HISTOGRAM_FAM, 0,
	  M(sync_partial_duration), 0,
	  "SyncProxyRules latency in seconds for partial resyncs" },
	{ "kubeproxy_sync_proxy_rules_last_timestamp_seconds", S_GAUGE_FAM_D, 0,
	  M(last_sync_timestamp), 0,
	  "The last time proxy rules were successfully synced" },
	{ "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds", S_GAUGE_FAM_SAME, 0,
	  M(last_queued_timestamp), 0,
	  "The last time a sync of proxy rules was queued" },
	{ "kubeproxy_network_programming_duration_seconds", S_HISTOGRAM_FAM, 0,
	  M(netprog_duration), 0,
	  "In Cluster Network Programming Latency in seconds" },
	{ "kubeproxy_sync_proxy_rules_endpoint_changes_total", S_COUNTER, 0,
	  M(endpoint_changes_total), 0,
	  "Cumulative proxy rules Endpoint changes" },
	{ "kubeproxy_sync_proxy_rules_endpoint_changes_pending", S_GAUGE, 0,
	  M(endpoint_changes_pending), 0,
	  "Pending proxy rules Endpoint changes" },
	{ "kubeproxy_sync_proxy_rules_service_changes_total", S_COUNTER, 0,
	  M(service_changes_total), 0,
	  "Cumulative proxy rules Service changes" },
	{ "kubeproxy_sync_proxy_rules_service_changes_pending", S_GAUGE, 0,
	  M(service_changes_pending), 0,
	  "Pending proxy rules Service changes" },
	{ "kubeproxy_sync_proxy_rules_no_local_endpoints_total", S_NO_LOCAL_FAM, 0,
	  M(no_local_endpoints_internal), M(no_local_endpoints_external),
	  "Number of services with a Local traffic policy and no endpoints" },
	{ "kubeproxy_proxy_healthz_total", S_COUNTER_CODES, 0,
	  M(healthz_200), M(healthz_503),
	  "Cumulative proxy healthz HTTP status" },
	{ "kubeproxy_proxy_livez_total", S_COUNTER_CODES, 0,
	  M(livez_200), M(livez_503),
	  "Cumulative proxy livez HTTP status" },
	{ "kubeproxy_sync_proxy_rules_iptables_total", S_GAUGE_TABLES, METRICS_IPTABLES,
	  M(rules_total), 0,
	  "Total number of iptables rules owned by kube-proxy" },
	{ "kubeproxy_sync_proxy_rules_iptables_last", S_GAUGE_TABLES, METRICS_IPTABLES,
	  M(rules_last), 0,
	  "Number of iptables rules written by kube-proxy in last sync" },
	{ "kubeproxy_sync_proxy_rules_iptables_restore_failures_total", S_COUNTER_FAM, METRICS_IPTABLES,
	  M(sync_failures_total), 0,
	  "Cumulative proxy iptables restore failures" },
	{ "kubeproxy_sync_proxy_rules_nftables_sync_failures_total", S_COUNTER_FAM, METRICS_NFTABLES,
	  M(sync_failures_total), 0,
	  "Cumulative proxy nftables sync failures" },
	{ "switchyard_nftables_objects", S_GAUGE_TABLES_SUM, METRICS_NFTABLES,
	  M(rules_total), 0,
	  "nftables objects the mode owns (rules, chains, sets, map and set elements)" },
	{ "switchyard_syncs_total", S_COUNTER, 0,
	  M(syncs_total), 0,
	  "Syncs that wrote the kernel" },
	{ "switchyard_sync_failures_total", S_COUNTER_FAM_SUM, 0,
	  M(sync_failures_total), 0,
	  "Syncs that failed (any mode, any family)" },
	{ "switchyard_kernel_writes_total", S_COUNTER, 0,
	  M(kernel_writes_total), 0,
	  "Kernel write operations by the proxy mode" },
	{ "switchyard_watch_reconnects_total", S_COUNTER, 0,
	  M(watch_reconnects_total), 0,
	  "Kubernetes watch streams re-established" },
	{ "switchyard_relists_total", S_COUNTER, 0,
	  M(relists_total), 0,
	  "Full LISTs after the first one (410 Expired, ...)" },
	{ "switchyard_decode_errors_total", S_COUNTER, 0,
	  M(decode_errors_total), 0,
	  "Objects skipped because they did not decode" },
	{ "switchyard_conntrack_deleted_total", S_COUNTER, 0,
	  M(conntrack_deleted_total), 0,
	  "Stale conntrack entries deleted" },
	{ "switchyard_conntrack_errors_total", S_COUNTER, 0,
	  M(conntrack_errors_total), 0,
	  "Conntrack cleanup errors" },
	{ "switchyard_conntrack_cleanup_duration_seconds", S_HISTOGRAM, 0,
	  M(conntrack_duration), 0,
	  "Conntrack cleanup latency per sync in seconds" },
	{ "switchyard_podnet_syncs_total", S_COUNTER, 0,
	  M(podnet_syncs_total), 0,
	  "Pod network syncs" },
	{ "switchyard_podnet_errors_total", S_COUNTER, 0,
	  M(podnet_errors_total), 0,
	  "Pod network syncs that failed" },
	{ "switchyard_xtables_lock_waits_total", S_COUNTER, 0,
	  M(xtables_lock_waits_total), 0,
	  "Syncs that found /run/xtables.lock held by another program and waited" },
	{ "switchyard_xtables_lock_wait_seconds_total", S_COUNTER_D, 0,
	  M(xtables_lock_wait_seconds), 0,
	  "Time spent waiting for /run/xtables.lock (the loop keeps serving)" },
	{ "switchyard_network_policy_sync_duration_seconds", S_HISTOGRAM, 0,
	  M(netpol_sync_duration), 0,
	  "NetworkPolicy sync latency (event batch to the kernel's answer) in seconds" },
	{ "switchyard_network_policy_sync_failures_total", S_COUNTER, 0,
	  M(netpol_sync_failures_total), 0,
	  "NetworkPolicy syncs the kernel refused (the next one is a full sync)" },
	{ "switchyard_network_policy_elements_written_total", S_COUNTER, 0,
	  M(netpol_elements_written_total), 0,
	  "NetworkPolicy set elements added or deleted" },
	{ "switchyard_network_policy_policies", S_GAUGE, 0,
	  M(netpol_policies), 0,
	  "NetworkPolicies in the state" },
	{ "switchyard_network_policy_local_pods", S_GAUGE, 0,
	  M(netpol_local_pods), 0,
	  "Pods of this node NetworkPolicy covers" },
	{ "switchyard_network_policy_set_elements", S_GAUGE, 0,
	  M(netpol_elements), 0,
	  "Elements in the planner's sets" },
	{ "switchyard_network_policy_syncs_total", S_COUNTER_TYPES, 0,
	  M(netpol_syncs_full), M(netpol_syncs_partial),
	  "NetworkPolicy syncs that succeeded, by type (full: verify and repair)" },
};
#undef M

char *metrics_render(const struct sy_metrics *m, unsigned flags)
{
	struct http_buf b = { 0 };

	for (size_t i = 0; i < ARRAY_SIZE(metric_series); i++) {
		const struct series *t = &metric_series[i];
		const void *v = (const char *)m + t->off, *v2 = (const char *)m + t->off2;
		const uint64_t *u = v, *u2 = v2;
		const double *d = v;

		if (t->flags && !(t->flags & flags))
			continue;
		switch (t->kind) {
		case S_COUNTER:
			counter(&b, t->name, t->help, *u);
			break;
		case S_GAUGE:
			gauge_u(&b, t->name, t->help, *u);
			break;
		case S_COUNTER_D:
			family(&b, t->name, "counter", t->help);
			sample_d(&b, t->name, NULL, *d);
			break;
		case S_HISTOGRAM:
			histogram(&b, t->name, t->help, v);
			break;
		case S_HISTOGRAM_FAM:
			histogram_fam(&b, m, t->name, t->help, v);
			break;
		case S_GAUGE_FAM_D:
			scalar_fam(&b, m, t->name, "gauge", t->help, NULL, d);
			break;
		case S_GAUGE_FAM_SAME:
			scalar_fam(&b, m, t->name, "gauge", t->help, NULL, (const double[]){ *d, *d });
			break;
		case S_COUNTER_FAM:
			scalar_fam(&b, m, t->name, "counter", t->help, u, NULL);
			break;
		case S_COUNTER_FAM_SUM:
			counter(&b, t->name, t->help, u[0] + u[1]);
			break;
		case S_GAUGE_TABLES:
			tables_fam(&b, m, t->name, t->help, v);
			break;
		case S_GAUGE_TABLES_SUM:
			tables_sum(&b, m, t->name, t->help, v);
			break;
		case S_NO_LOCAL_FAM:
			no_local_fam(&b, m, t->name, t->help, u, u2);
			break;
		case S_COUNTER_CODES:
			counter2(&b, t->name, t->help, "{code=\"200\"}", *u, "{code=\"503\"}", *u2);
			break;
		case S_COUNTER_TYPES:
			counter2(&b, t->name, t->help, "{type=\"full\"}", *u, "{type=\"partial\"}", *u2);
			break;
		}
	}
	if (flags & METRICS_PROCESS)
		process_metrics(&b);
	return http_buf_steal(&b);
}
