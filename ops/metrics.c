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

/* A counter of HTTP answers by code (200, 503). */
static void http_codes(struct http_buf *b, const char *name, const char *help, uint64_t ok,
		       uint64_t unavailable)
{
	family(b, name, "counter", help);
	sample_u(b, name, "{code=\"200\"}", ok);
	sample_u(b, name, "{code=\"503\"}", unavailable);
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
 * The series of one unlabelled value (switchyard's own, named
 * switchyard_<name>): a table, in the order they are rendered.
 */
enum series_kind { S_COUNTER, S_GAUGE, S_COUNTER_D, S_HISTOGRAM };

struct series {
	const char *name;
	enum series_kind kind;
	size_t off;	/* of the uint64_t, double or struct sy_hist in struct sy_metrics */
	const char *help;
};

#define M(f) offsetof(struct sy_metrics, f)
static const struct series switchyard_series[] = {
	{ "kernel_writes_total", S_COUNTER, M(kernel_writes_total),
	  "Kernel write operations by the proxy mode" },
	{ "watch_reconnects_total", S_COUNTER, M(watch_reconnects_total),
	  "Kubernetes watch streams re-established" },
	{ "relists_total", S_COUNTER, M(relists_total),
	  "Full LISTs after the first one (410 Expired, ...)" },
	{ "decode_errors_total", S_COUNTER, M(decode_errors_total),
	  "Objects skipped because they did not decode" },
	{ "conntrack_deleted_total", S_COUNTER, M(conntrack_deleted_total),
	  "Stale conntrack entries deleted" },
	{ "conntrack_errors_total", S_COUNTER, M(conntrack_errors_total),
	  "Conntrack cleanup errors" },
	{ "conntrack_cleanup_duration_seconds", S_HISTOGRAM, M(conntrack_duration),
	  "Conntrack cleanup latency per sync in seconds" },
	{ "podnet_syncs_total", S_COUNTER, M(podnet_syncs_total),
	  "Pod network syncs" },
	{ "podnet_errors_total", S_COUNTER, M(podnet_errors_total),
	  "Pod network syncs that failed" },
	{ "xtables_lock_waits_total", S_COUNTER, M(xtables_lock_waits_total),
	  "Syncs that found /run/xtables.lock held by another program and waited" },
	{ "xtables_lock_wait_seconds_total", S_COUNTER_D, M(xtables_lock_wait_seconds),
	  "Time spent waiting for /run/xtables.lock (the loop keeps serving)" },
	{ "network_policy_sync_duration_seconds", S_HISTOGRAM, M(netpol_sync_duration),
	  "NetworkPolicy sync latency (event batch to the kernel's answer) in seconds" },
	{ "network_policy_sync_failures_total", S_COUNTER, M(netpol_sync_failures_total),
	  "NetworkPolicy syncs the kernel refused (the next one is a full sync)" },
	{ "network_policy_elements_written_total", S_COUNTER, M(netpol_elements_written_total),
	  "NetworkPolicy set elements added or deleted" },
	{ "network_policy_policies", S_GAUGE, M(netpol_policies),
	  "NetworkPolicies in the state" },
	{ "network_policy_local_pods", S_GAUGE, M(netpol_local_pods),
	  "Pods of this node NetworkPolicy covers" },
	{ "network_policy_set_elements", S_GAUGE, M(netpol_elements),
	  "Elements in the planner's sets" },
};
#undef M

static void render_series(struct http_buf *b, const struct sy_metrics *m,
			  const struct series *t, size_t n)
{
	char name[96];

	for (size_t i = 0; i < n; i++) {
		const void *v = (const char *)m + t[i].off;

		snprintf(name, sizeof(name), "switchyard_%s", t[i].name);
		switch (t[i].kind) {
		case S_COUNTER:
			counter(b, name, t[i].help, *(const uint64_t *)v);
			break;
		case S_GAUGE:
			gauge_u(b, name, t[i].help, *(const uint64_t *)v);
			break;
		case S_COUNTER_D:
			family(b, name, "counter", t[i].help);
			sample_d(b, name, NULL, *(const double *)v);
			break;
		case S_HISTOGRAM:
			histogram(b, name, t[i].help, v);
			break;
		}
	}
}

char *metrics_render(const struct sy_metrics *m, unsigned flags)
{
	struct http_buf b = { 0 };
	char label[96];

	histogram_fam(&b, m, "kubeproxy_sync_proxy_rules_duration_seconds",
		      "SyncProxyRules latency in seconds", m->sync_duration);
	histogram_fam(&b, m, "kubeproxy_sync_full_proxy_rules_duration_seconds",
		      "SyncProxyRules latency in seconds for full resyncs", m->sync_full_duration);
	histogram_fam(&b, m, "kubeproxy_sync_partial_proxy_rules_duration_seconds",
		      "SyncProxyRules latency in seconds for partial resyncs",
		      m->sync_partial_duration);
	scalar_fam(&b, m, "kubeproxy_sync_proxy_rules_last_timestamp_seconds", "gauge",
		   "The last time proxy rules were successfully synced", NULL, m->last_sync_timestamp);
	/* both families are queued together: one value for each */
	scalar_fam(&b, m, "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds", "gauge",
		   "The last time a sync of proxy rules was queued", NULL,
		   (const double[]){ m->last_queued_timestamp, m->last_queued_timestamp });
	histogram_fam(&b, m, "kubeproxy_network_programming_duration_seconds",
		      "In Cluster Network Programming Latency in seconds", m->netprog_duration);
	counter(&b, "kubeproxy_sync_proxy_rules_endpoint_changes_total",
		"Cumulative proxy rules Endpoint changes", m->endpoint_changes_total);
	gauge_u(&b, "kubeproxy_sync_proxy_rules_endpoint_changes_pending",
		"Pending proxy rules Endpoint changes", m->endpoint_changes_pending);
	counter(&b, "kubeproxy_sync_proxy_rules_service_changes_total",
		"Cumulative proxy rules Service changes", m->service_changes_total);
	gauge_u(&b, "kubeproxy_sync_proxy_rules_service_changes_pending",
		"Pending proxy rules Service changes", m->service_changes_pending);
	family(&b, "kubeproxy_sync_proxy_rules_no_local_endpoints_total", "gauge",
	       "Number of services with a Local traffic policy and no endpoints");
	for (unsigned f = 0; f < SY_METRICS_FAMILIES; f++)
		if (has_fam(m, f)) {
			snprintf(label, sizeof(label), "{ip_family=\"%s\",traffic_policy=\"internal\"}",
				 fam_names[f]);
			sample_u(&b, "kubeproxy_sync_proxy_rules_no_local_endpoints_total", label,
				 m->no_local_endpoints_internal[f]);
			snprintf(label, sizeof(label), "{ip_family=\"%s\",traffic_policy=\"external\"}",
				 fam_names[f]);
			sample_u(&b, "kubeproxy_sync_proxy_rules_no_local_endpoints_total", label,
				 m->no_local_endpoints_external[f]);
		}
	http_codes(&b, "kubeproxy_proxy_healthz_total", "Cumulative proxy healthz HTTP status",
		   m->healthz_200, m->healthz_503);
	http_codes(&b, "kubeproxy_proxy_livez_total", "Cumulative proxy livez HTTP status",
		   m->livez_200, m->livez_503);
	if (flags & METRICS_IPTABLES) {
		tables_fam(&b, m, "kubeproxy_sync_proxy_rules_iptables_total",
			   "Total number of iptables rules owned by kube-proxy", m->rules_total);
		tables_fam(&b, m, "kubeproxy_sync_proxy_rules_iptables_last",
			   "Number of iptables rules written by kube-proxy in last sync",
			   m->rules_last);
		scalar_fam(&b, m, "kubeproxy_sync_proxy_rules_iptables_restore_failures_total", "counter",
			   "Cumulative proxy iptables restore failures", m->sync_failures_total, NULL);
	}
	if (flags & METRICS_NFTABLES) {
		scalar_fam(&b, m, "kubeproxy_sync_proxy_rules_nftables_sync_failures_total", "counter",
			   "Cumulative proxy nftables sync failures", m->sync_failures_total, NULL);
		/* a table is of one family: the families' sum is that family's count */
		family(&b, "switchyard_nftables_objects", "gauge",
		       "nftables objects the mode owns (rules, chains, sets, map and set elements)");
		for (unsigned i = 0; m->rule_tables && i < MODE_MAX_TABLES && m->rule_tables[i]; i++) {
			snprintf(label, sizeof(label), "{table=\"%s\"}", m->rule_tables[i]);
			sample_u(&b, "switchyard_nftables_objects", label,
				 m->rules_total[0][i] + m->rules_total[1][i]);
		}
	}

	counter(&b, "switchyard_syncs_total", "Syncs that wrote the kernel", m->syncs_total);
	counter(&b, "switchyard_sync_failures_total", "Syncs that failed (any mode, any family)",
		m->sync_failures_total[0] + m->sync_failures_total[1]);
	render_series(&b, m, switchyard_series, ARRAY_SIZE(switchyard_series));
	family(&b, "switchyard_network_policy_syncs_total", "counter",
	       "NetworkPolicy syncs that succeeded, by type (full: verify and repair)");
	sample_u(&b, "switchyard_network_policy_syncs_total", "{type=\"full\"}", m->netpol_syncs_full);
	sample_u(&b, "switchyard_network_policy_syncs_total", "{type=\"partial\"}",
		 m->netpol_syncs_partial);
	if (flags & METRICS_PROCESS)
		process_metrics(&b);
	return http_buf_steal(&b);
}
