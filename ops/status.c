// SPDX-License-Identifier: Apache-2.0
/*
 * The two status servers kube-proxy runs:
 *   healthz (--healthz-bind-address, 0.0.0.0:10256): /healthz, /livez
 *   metrics (--metrics-bind-address, 127.0.0.1:10249): /metrics, /healthz,
 *     /proxyMode, /configz, and switchyard's /debug/state.
 * Semantics follow kube-proxy's pkg/proxy/healthcheck/proxy_health.go.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "switchyard/daemon.h"
#include "switchyard/log.h"
#include "switchyard/model.h"
#include "switchyard/status.h"
#include "http.h"
#include "render.h"

#define CT_JSON "application/json"
#define CT_TEXT "text/plain; charset=utf-8"
#define CT_PROM "text/plain; version=0.0.4; charset=utf-8"

static const char *mode_name(const struct sy_daemon *d)
{
	if (d->mode_ops && d->mode_ops->name)
		return d->mode_ops->name;
	return d->cfg.proxy_mode ? d->cfg.proxy_mode : "iptables";
}

/* The running mode's table (before it is picked: the configured one's). */
static const struct proxy_mode_ops *mode_ops(const struct sy_daemon *d)
{
	return d->mode_ops ? d->mode_ops : proxy_mode_find(mode_name(d));
}

/* Go's zero time.Time when never synced, like kube-proxy's lastUpdated. */
static void fmt_time(double t, char *buf, size_t len)
{
	if (t <= 0)
		snprintf(buf, len, "0001-01-01T00:00:00Z");
	else
		sy_format_rfc3339(t, buf, len);
}

/* Path without the query; query (or "") in *ret_query. */
static void split_target(const char *target, char *path, size_t len, const char **ret_query)
{
	const char *q = strchr(target, '?');
	size_t n = q ? (size_t)(q - target) : strlen(target);

	if (n >= len)
		n = len - 1;
	memcpy(path, target, n);
	path[n] = '\0';
	*ret_query = q ? q + 1 : "";
}

/* Value of key in a query string ("a=1&b"), or NULL; a bare key gives "". */
static const char *query_get(const char *query, const char *key, char *buf, size_t len)
{
	size_t klen = strlen(key);
	const char *p = query;

	while (p && *p) {
		const char *amp = strchr(p, '&'), *end = amp ? amp : p + strlen(p);

		if (!strncmp(p, key, klen) && (p[klen] == '=' || p + klen == end)) {
			const char *v = p[klen] == '=' ? p + klen + 1 : end;
			size_t n = (size_t)(end - v);

			if (n >= len)
				n = len - 1;
			memcpy(buf, v, n);
			buf[n] = '\0';
			return buf;
		}
		p = amp ? amp + 1 : NULL;
	}
	return NULL;
}

static void not_found(struct http_reply *r)
{
	r->status = 404;
	r->ctype = CT_TEXT;
	r->body = xstrdup("404 page not found\n");
}

/* ---- healthz server ---- */

static void healthz_handler(void *arg, const char *method, const char *target,
			    struct http_reply *r)
{
	struct sy_daemon *d = arg;
	const struct node *self;
	char path[256], now[64], last[64];
	const char *query;
	double t = sy_now_wall();
	bool healthy = sync_runner_healthy(d), eligible = true, livez;
	struct http_buf b = { 0 };

	split_target(target, path, sizeof(path), &query);
	livez = !strcmp(path, "/livez");
	if (!livez && strcmp(path, "/healthz")) {
		not_found(r);
		return;
	}
	self = d->cache && d->node_name ? cache_node(d->cache, d->node_name) : NULL;
	if (self && self->deleting)
		eligible = false;
	fmt_time(t, now, sizeof(now));
	/* healthy: lastUpdated = currentTime, as kube-proxy answers */
	fmt_time(healthy ? t : d->last_sync_wall, last, sizeof(last));
	r->ctype = CT_JSON;
	if (livez) {
		r->status = healthy ? 200 : 503;
		if (healthy)
			d->metrics.livez_200++;
		else
			d->metrics.livez_503++;
		http_buf_printf(&b, "{\"lastUpdated\": \"%s\",\"currentTime\": \"%s\"}", last, now);
	} else {
		r->status = healthy && eligible ? 200 : 503;
		if (r->status == 200)
			d->metrics.healthz_200++;
		else
			d->metrics.healthz_503++;
		http_buf_printf(&b, "{\"lastUpdated\": \"%s\",\"currentTime\": \"%s\", "
				"\"nodeEligible\": %s}", last, now, eligible ? "true" : "false");
	}
	r->body = http_buf_steal(&b);
}

/* ---- /debug/state ---- */

static void json_ip(struct http_buf *b, const struct sy_addr *a)
{
	http_buf_printf(b, "\"%s\"", sy_addr_str(a));
}

static void json_eps(struct http_buf *b, const char *key, const struct ds_ep *eps, unsigned n)
{
	http_buf_printf(b, ",\"%s\":[", key);
	for (unsigned i = 0; i < n; i++) {
		const struct ds_ep *e = &eps[i];

		http_buf_puts(b, i ? ",{\"ip\":" : "{\"ip\":");
		json_ip(b, &e->addr);
		http_buf_printf(b, ",\"port\":%u,\"ready\":%s,\"serving\":%s,\"terminating\":%s,"
				"\"local\":%s}", e->port, e->flags & EP_READY ? "true" : "false",
				e->flags & EP_SERVING ? "true" : "false",
				e->flags & EP_TERMINATING ? "true" : "false",
				e->local ? "true" : "false");
	}
	http_buf_puts(b, "]");
}

static void json_port(struct http_buf *b, const struct ds_port *p)
{
	char num[40], *ns;

	http_buf_puts(b, "{\"name\":");
	http_buf_json_str(b, p->name);
	http_buf_printf(b, ",\"family\":\"%s\"", sy_family_name(p->family));
	http_buf_puts(b, ",\"service\":");
	http_buf_json_str(b, p->svc_key);
	http_buf_puts(b, ",\"namespace\":");
	ns = xstrdup(p->svc_key);	/* svc_ns is not terminated at the '/' */
	if (strchr(ns, '/'))
		*strchr(ns, '/') = '\0';
	http_buf_json_str(b, ns);
	free(ns);
	http_buf_puts(b, ",\"serviceName\":");
	http_buf_json_str(b, p->svc_name);
	http_buf_puts(b, ",\"portName\":");
	http_buf_json_str(b, p->port_name);
	http_buf_printf(b, ",\"protocol\":\"%s\",\"clusterIP\":",
			p->proto == IPPROTO_TCP ? "TCP" : p->proto == IPPROTO_UDP ? "UDP" :
			p->proto == IPPROTO_SCTP ? "SCTP" : "unknown");
	if (sy_addr_is_set(&p->cluster_ip))
		json_ip(b, &p->cluster_ip);
	else
		http_buf_puts(b, "null");
	http_buf_printf(b, ",\"port\":%u,\"nodePort\":%u,\"healthCheckNodePort\":%u", p->port,
			p->node_port, p->hc_node_port);
	http_buf_puts(b, ",\"externalIPs\":[");
	for (unsigned i = 0; i < p->n_external_ips; i++) {
		if (i)
			http_buf_puts(b, ",");
		json_ip(b, &p->external_ips[i]);
	}
	http_buf_puts(b, "],\"loadBalancerIPs\":[");
	for (unsigned i = 0; i < p->n_lb_ips; i++) {
		if (i)
			http_buf_puts(b, ",");
		json_ip(b, &p->lb_ips[i]);
	}
	http_buf_puts(b, "],\"loadBalancerSourceRanges\":[");
	for (unsigned i = 0; i < p->n_lb_source_ranges; i++) {
		http_buf_printf(b, "%s\"%s\"", i ? "," : "", sy_cidr_str(&p->lb_source_ranges[i]));
	}
	metrics_fmt_double(p->trigger_time, num, sizeof(num));
	http_buf_printf(b, "],\"sessionAffinityTimeout\":%u,\"externalTrafficPolicyLocal\":%s,"
			"\"internalTrafficPolicyLocal\":%s,\"triggerTime\":%s",
			p->affinity_timeout, p->etp_local ? "true" : "false",
			p->itp_local ? "true" : "false", num);
	json_eps(b, "clusterEndpoints", p->cluster_eps, p->n_cluster_eps);
	json_eps(b, "localEndpoints", p->local_eps, p->n_local_eps);
	json_eps(b, "allEndpoints", p->all_eps, p->n_all_eps);
	http_buf_puts(b, "}");
}

static int cmp_port(const void *a, const void *b)
{
	const struct ds_port *const *x = a, *const *y = b;
	int r = strcmp((*x)->name, (*y)->name);

	/* a dual-stack Service's port: IPv4 first, then IPv6 */
	return r ? r : (int)((*x)->family == AF_INET6) - (int)((*y)->family == AF_INET6);
}

/* service: only this "ns/name" (NULL = all); summary: counts instead of ports. */
static char *state_json(const struct desired_state *ds, const char *service, bool summary)
{
	struct http_buf b = { 0 };
	const struct ds_port **ports;
	unsigned n = 0, n_svcs = 0;
	unsigned long long n_cluster = 0, n_local = 0, n_all = 0;
	struct hmap_iter it;
	void *v;

	ports = xcalloc(hmap_count(&ds->ports) + hmap_count(&ds->ports6) + 1, sizeof(*ports));
	for (int f = 0; f < 2; f++) {
		hmap_iter_init(&it, ds_ports(ds, f ? AF_INET6 : AF_INET));
		while (hmap_iter_next(&it, NULL, &v)) {
			const struct ds_port *p = v;

			if (service && strcmp(p->svc_key, service))
				continue;
			ports[n++] = p;
			n_cluster += p->n_cluster_eps;
			n_local += p->n_local_eps;
			n_all += p->n_all_eps;
		}
	}
	if (summary) {	/* no order needed: count the distinct Services */
		struct hmap svcs;

		hmap_init(&svcs);
		for (unsigned i = 0; i < n; i++)
			hmap_put(&svcs, ports[i]->svc_key, (void *)1);
		n_svcs = (unsigned)hmap_count(&svcs);
		hmap_clear(&svcs);
	} else {
		qsort(ports, n, sizeof(*ports), cmp_port);
		for (unsigned i = 0; i < n; i++)
			if (!i || strcmp(ports[i]->svc_key, ports[i - 1]->svc_key))
				n_svcs++;
	}

	http_buf_puts(&b, "{\"node\":{\"name\":");
	if (ds->node.name)
		http_buf_json_str(&b, ds->node.name);
	else
		http_buf_puts(&b, "null");
	http_buf_puts(&b, ",\"zone\":");
	if (ds->node.zone)
		http_buf_json_str(&b, ds->node.zone);
	else
		http_buf_puts(&b, "null");
	http_buf_puts(&b, ",\"nodePortAddresses\":[");
	for (unsigned i = 0; i < ds->node.n_nodeport_addrs; i++) {
		if (i)
			http_buf_puts(&b, ",");
		json_ip(&b, &ds->node.nodeport_addrs[i]);
	}
	http_buf_printf(&b, "],\"nodePortAllLocal\":%s,\"nodePortAllLocalIPv6\":%s},"
			"\"serviceCIDRs\":[", ds->node.nodeport_all_local ? "true" : "false",
			ds->node.nodeport_all_local6 ? "true" : "false");
	for (unsigned i = 0; i < ds->n_service_cidrs; i++)
		http_buf_printf(&b, "%s\"%s\"", i ? "," : "", sy_cidr_str(&ds->service_cidrs[i]));
	http_buf_printf(&b, "],\"services\":%u", n_svcs);
	if (summary) {
		http_buf_printf(&b, ",\"ports\":%u,\"clusterEndpoints\":%llu,\"localEndpoints\":%llu,"
				"\"allEndpoints\":%llu}\n", n, n_cluster, n_local, n_all);
	} else {
		http_buf_puts(&b, ",\"ports\":[");
		for (unsigned i = 0; i < n; i++) {
			if (i)
				http_buf_puts(&b, ",\n");
			json_port(&b, ports[i]);
		}
		http_buf_puts(&b, "]}\n");
	}
	free(ports);
	return http_buf_steal(&b);
}

/* ---- metrics server ---- */

static char *render_metrics(struct sy_daemon *d)
{
	struct sy_metrics m = d->metrics;
	unsigned flags = METRICS_PROCESS;

	/* kube-proxy counts changes as they arrive; pending = not yet synced */
	if (d->cache) {
		const struct cache_stats *cs = cache_get_stats(d->cache);

		if (cs->endpoint_changes >= m.endpoint_changes_total)
			m.endpoint_changes_pending = cs->endpoint_changes - m.endpoint_changes_total;
		if (cs->service_changes >= m.service_changes_total)
			m.service_changes_pending = cs->service_changes - m.service_changes_total;
		m.endpoint_changes_total = cs->endpoint_changes;
		m.service_changes_total = cs->service_changes;
		m.decode_errors_total += cs->decode_errors;	/* + the objects the cache rejected */
	}
	if (mode_ops(d) && (mode_ops(d)->metric_families & MODE_METRICS_IPTABLES))
		flags |= METRICS_IPTABLES;
	if (mode_ops(d) && (mode_ops(d)->metric_families & MODE_METRICS_NFTABLES))
		flags |= METRICS_NFTABLES;
	return metrics_render(&m, flags);
}

static void metrics_handler(void *arg, const char *method, const char *target,
			    struct http_reply *r)
{
	struct sy_daemon *d = arg;
	char path[256], svc[256], tmp[16];
	const char *query;

	split_target(target, path, sizeof(path), &query);
	r->status = 200;
	if (!strcmp(path, "/metrics")) {
		r->ctype = CT_PROM;
		r->body = render_metrics(d);
	} else if (!strcmp(path, "/healthz")) {
		r->ctype = CT_TEXT;
		r->body = xstrdup("ok");
	} else if (!strcmp(path, "/proxyMode")) {
		r->ctype = CT_TEXT;
		r->body = xstrdup(mode_name(d));
	} else if (!strcmp(path, "/configz")) {
		r->ctype = CT_JSON;
		r->body = config_file_configz(&d->cfg);
	} else if (!strcmp(path, "/debug/state")) {
		r->ctype = CT_JSON;
		r->body = state_json(&d->ds, query_get(query, "service", svc, sizeof(svc)),
				     query_get(query, "summary", tmp, sizeof(tmp)) != NULL);
	} else {
		not_found(r);
	}
}

int status_servers_start(struct sy_daemon *d, char *err, size_t errlen)
{
	char e[256];
	int r;

	/* like kube-proxy, a server whose address is taken keeps retrying */
	r = http_server_new_retry(&d->healthz, d->loop, d->cfg.healthz_bind_address,
				  healthz_handler, d, &sy_report_log, e, sizeof(e));
	if (r < 0) {
		snprintf(err, errlen, "healthz server: %s", e);
		return r;
	}
	if (r > 0)
		log_warn("healthz server: %s; retrying every 5s", e);
	else if (d->healthz)
		log_info("Serving healthz on %s (/healthz, /livez)", d->cfg.healthz_bind_address);
	r = http_server_new_retry(&d->metrics_srv, d->loop, d->cfg.metrics_bind_address,
				  metrics_handler, d, &sy_report_log, e, sizeof(e));
	if (r < 0) {
		snprintf(err, errlen, "metrics server: %s", e);
		http_server_free(d->healthz);
		d->healthz = NULL;
		return r;
	}
	if (r > 0)
		log_warn("metrics server: %s; retrying every 5s", e);
	else if (d->metrics_srv)
		log_info("Serving metrics on %s (/metrics, /proxyMode, /configz, /debug/state)",
			 d->cfg.metrics_bind_address);
	return 0;
}

void status_servers_stop(struct sy_daemon *d)
{
	http_server_free(d->healthz);
	d->healthz = NULL;
	http_server_free(d->metrics_srv);
	d->metrics_srv = NULL;
}
