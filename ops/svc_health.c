// SPDX-License-Identifier: Apache-2.0
/*
 * Per-Service health check servers (kube-proxy's service_health.go): one
 * listener on :<healthCheckNodePort> (both families) for each Service with
 * externalTrafficPolicy: Local, answering 200 when this node has a ready
 * local endpoint and the proxy is healthy, else 503, so that cloud load
 * balancers only send to nodes that can serve locally.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "switchyard/desired.h"
#include "switchyard/hmap.h"
#include "switchyard/log.h"
#include "switchyard/metrics.h"
#include "switchyard/model.h"
#include "switchyard/svc_health.h"
#include "switchyard/util.h"
#include "http.h"

struct hc_listener {
	char key[8];			/* the port as text (hmap key) */
	uint16_t port;
	char *ns, *name;		/* the Service */
	unsigned local_eps;		/* ready local endpoints */
	struct http_server *srv;
	struct svc_health *h;
	uint64_t gen;			/* last sync that saw it */
	bool warned;			/* a failed listen was reported */
};

struct svc_health {
	struct ev_loop *loop;
	struct sy_metrics *metrics;
	svc_health_proxy_healthy_fn proxy_healthy;
	void *proxy_healthy_arg;
	struct sy_report rep;		/* listeners that fail to start and recover */
	struct hmap listeners;		/* key → struct hc_listener */
	uint64_t gen;
	bool scanned;			/* the listeners and gauges reflect a full scan */
};

static void hc_handler(void *arg, const char *method, const char *target,
		       struct http_reply *r)
{
	struct hc_listener *l = arg;
	bool healthy = l->h->proxy_healthy(l->h->proxy_healthy_arg);
	struct http_buf b = { 0 };

	r->status = l->local_eps > 0 && healthy ? 200 : 503;
	r->ctype = "application/json";
	snprintf(r->headers, sizeof(r->headers), "X-Load-Balancing-Endpoint-Weight: %u\r\n",
		 l->local_eps);
	http_buf_puts(&b, "{\n\t\"service\": {\n\t\t\"namespace\": ");
	http_buf_json_str(&b, l->ns);
	http_buf_puts(&b, ",\n\t\t\"name\": ");
	http_buf_json_str(&b, l->name);
	http_buf_printf(&b, "\n\t},\n\t\"localEndpoints\": %u,\n\t\"serviceProxyHealthy\": %s\n}",
			l->local_eps, healthy ? "true" : "false");
	r->body = http_buf_steal(&b);
}

static void listener_free(void *p)
{
	struct hc_listener *l = p;

	if (!l)
		return;
	http_server_free(l->srv);
	sy_free_all(l->ns, l->name, l);
}

struct svc_health *svc_health_new(struct ev_loop *loop, struct sy_metrics *metrics,
				  svc_health_proxy_healthy_fn proxy_healthy, void *arg,
				  const struct sy_report *rep)
{
	struct svc_health *h = xcalloc(1, sizeof(*h));

	h->loop = loop;
	h->metrics = metrics;
	h->proxy_healthy = proxy_healthy;
	h->proxy_healthy_arg = arg;
	if (rep)
		h->rep = *rep;
	hmap_init(&h->listeners);
	return h;
}

static unsigned ready_local(const struct ds_port *p)
{
	unsigned n = 0;

	for (unsigned i = 0; i < p->n_local_eps; i++)
		if (p->local_eps[i].flags & EP_READY)
			n++;
	return n;
}

static void listener_open(struct svc_health *h, struct hc_listener *l)
{
	char addr[32], err[256];
	int r;

	snprintf(addr, sizeof(addr), ":%u", l->port);	/* both families, IPv4 without IPv6 */
	r = http_server_new(&l->srv, h->loop, addr, hc_handler, l, err, sizeof(err));
	if (r < 0) {
		l->srv = NULL;
		/* kube-proxy raises FailedToStartServiceHealthcheck; retried every sync */
		if (!l->warned)
			sy_report(&h->rep, 'W',
				  "Failed to start healthcheck for Service %s/%s on port %u: %s",
				  l->ns, l->name, l->port, err);
		l->warned = true;
		return;
	}
	if (l->warned)
		sy_report(&h->rep, 'I', "Healthcheck for Service %s/%s now listening on port %u",
			  l->ns, l->name, l->port);
	else
		log_v(2, "Healthcheck for Service %s/%s listening on port %u", l->ns, l->name,
		      l->port);
	l->warned = false;
}

/* Whether a port counts for a listener or a no_local_endpoints gauge at all. */
static bool port_matters(const struct ds_port *p)
{
	return p && (p->hc_node_port || p->itp_local || p->etp_local);
}

/* Whether any change (old or new version, either family) can move a listener or a gauge. */
static bool changes_matter(const struct desired_state *ds)
{
	for (int f = 0; f < 2; f++) {
		unsigned n;
		const struct ds_change *c = ds_changes(ds, f ? AF_INET6 : AF_INET, &n);

		for (unsigned i = 0; i < n; i++)
			if (port_matters(c[i].old) || port_matters(c[i].new))
				return true;
	}
	return false;
}

void svc_health_sync(struct svc_health *h, const struct desired_state *ds, bool full)
{
	struct hmap_iter it;
	const char *key;
	void *v;
	uint64_t no_local_internal[2] = { 0 }, no_local_external[2] = { 0 };
	struct hmap seen_int, seen_ext;

	if (!h)
		return;
	/*
	 * Only ports with a healthCheckNodePort or a Local traffic policy count:
	 * when no change touches one, every listener and gauge stays as the last
	 * scan left it (the scan is O(ports): skipped, a one-endpoint change stays
	 * O(1)); a listener that could not bind is still retried.
	 */
	if (!full && h->scanned && !changes_matter(ds)) {
		hmap_iter_init(&it, &h->listeners);
		while (hmap_iter_next(&it, NULL, &v))
			if (!((struct hc_listener *)v)->srv)
				listener_open(h, v);
		return;
	}
	h->scanned = true;
	h->gen++;
	/* both families' ports: a dual-stack Service's local endpoints of either count */
	for (int f = 0; f < 2; f++) {
		/* the no_local_endpoints gauges: each family's own (ip_family) */
		hmap_init(&seen_int);
		hmap_init(&seen_ext);
		hmap_iter_init(&it, ds_ports(ds, f ? AF_INET6 : AF_INET));
		while (hmap_iter_next(&it, NULL, &v)) {
			const struct ds_port *p = v;
			struct hc_listener *l;
			char k[8];
			unsigned n;
			size_t ns_len;

			/* kube-proxy's no_local_endpoints gauges count Services, not ports */
			if (p->n_local_eps == 0) {
				if (p->itp_local && !hmap_get(&seen_int, p->svc_key)) {
					hmap_put(&seen_int, p->svc_key, (void *)1);
					no_local_internal[f]++;
				}
				if (p->etp_local && ds_port_has_external(p) &&
				    !hmap_get(&seen_ext, p->svc_key)) {
					hmap_put(&seen_ext, p->svc_key, (void *)1);
					no_local_external[f]++;
				}
			}
			if (!p->hc_node_port)
				continue;
			snprintf(k, sizeof(k), "%u", p->hc_node_port);
			n = ready_local(p);
			l = hmap_get(&h->listeners, k);
			/* the namespace is svc_key up to the '/' (svc_ns is not terminated there) */
			ns_len = strcspn(p->svc_key, "/");
			if (l && (strlen(l->ns) != ns_len || strncmp(l->ns, p->svc_key, ns_len) ||
				  strcmp(l->name, p->svc_name))) {
				if (l->gen == h->gen)
					continue;	/* two Services claim one port: first wins */
				hmap_del(&h->listeners, l->key);
				listener_free(l);
				l = NULL;
			}
			if (!l) {
				l = xcalloc(1, sizeof(*l));
				memcpy(l->key, k, sizeof(k));
				l->port = p->hc_node_port;
				l->ns = xstrdup(p->svc_key);
				l->ns[ns_len] = '\0';
				l->name = xstrdup(p->svc_name);
				l->h = h;
				hmap_put(&h->listeners, l->key, l);
			}
			/* the ports of one Service share the listener: the best port counts */
			if (l->gen != h->gen || n > l->local_eps)
				l->local_eps = n;
			l->gen = h->gen;
		}
		hmap_clear(&seen_int);
		hmap_clear(&seen_ext);
	}
	memcpy(h->metrics->no_local_endpoints_internal, no_local_internal, sizeof(no_local_internal));
	memcpy(h->metrics->no_local_endpoints_external, no_local_external, sizeof(no_local_external));

	hmap_iter_init(&it, &h->listeners);
	while (hmap_iter_next(&it, &key, &v)) {
		struct hc_listener *l = v;

		if (l->gen != h->gen) {
			log_v(2, "Healthcheck for Service %s/%s on port %u closed", l->ns, l->name,
			      l->port);
			hmap_del(&h->listeners, key);
			listener_free(l);
		} else if (!l->srv) {
			listener_open(h, l);
		}
	}
}

void svc_health_free(struct svc_health *h)
{
	if (!h)
		return;
	hmap_clear_free(&h->listeners, listener_free);
	free(h);
}
