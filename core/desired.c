// SPDX-License-Identifier: Apache-2.0
/*
 * The desired state: per Service port, the addresses to serve and the
 * endpoints to reach, following kube-proxy's endpoint selection
 * (pkg/proxy/topology.go semantics: ready endpoints, topology hints,
 * serving+terminating fallback, local endpoints for Local policies).
 * Rebuilt per dirty Service only; unchanged ports keep their object so
 * modes can skip them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "switchyard/config.h"
#include "switchyard/desired.h"
#include "switchyard/log.h"
#include "switchyard/model.h"

struct ds_svc {
	char *key;
	struct ds_port **ports;
	unsigned n;
};

void ds_port_free(struct ds_port *p)
{
	if (!p)
		return;
	sy_free_all(p->name, p->svc_key, p->ns_buf,
		    p->external_ips, p->lb_ips, p->lb_source_ranges);
	if (p->all_eps != p->cluster_eps)
		free(p->all_eps);
	sy_free_all(p->cluster_eps, p->local_eps, p);
}

static int ep_cmp(const void *a, const void *b)
{
	const struct ds_ep *x = a, *y = b;
	int r = sy_addr_cmp(&x->addr, &y->addr);

	return r ? r : (int)x->port - (int)y->port;
}

struct cand {
	struct ds_ep ep;
	const struct slice_endpoint *se;
};

static int cand_cmp(const void *a, const void *b)
{
	return ep_cmp(&((const struct cand *)a)->ep, &((const struct cand *)b)->ep);
}

static bool has_name(char *const *v, unsigned n, const char *name)
{
	for (unsigned i = 0; name && i < n; i++)
		if (v[i] == name || !strcmp(v[i], name))
			return true;
	return false;
}

/* The candidates whose node (by_node) or zone hints name want, moved to the front: their count. */
static unsigned keep_hinted(struct cand *c, unsigned n, bool by_node, const char *want)
{
	unsigned k = 0;

	for (unsigned i = 0; i < n; i++) {
		unsigned nh;
		char *const *h = by_node ? slice_ep_hint_nodes(c[i].se, &nh) :
					   slice_ep_hint_zones(c[i].se, &nh);

		if (has_name(h, nh, want))
			c[k++] = c[i];
	}
	return k;
}

/*
 * kube-proxy's topology rule: hints are used only when every candidate
 * carries them and at least one names this node (forNodes) / zone
 * (forZones); otherwise all candidates are used.
 */
static unsigned topology_filter(struct cand *c, unsigned n, const struct ds_node *node)
{
	bool all_nodes = n > 0, any_node = false, all_zones = n > 0, any_zone = false;

	for (unsigned i = 0; i < n; i++) {
		unsigned nz, nn;
		char *const *zones = slice_ep_hint_zones(c[i].se, &nz);
		char *const *nodes = slice_ep_hint_nodes(c[i].se, &nn);

		all_nodes &= nn > 0;
		any_node |= has_name(nodes, nn, node->name);
		all_zones &= nz > 0;
		any_zone |= has_name(zones, nz, node->zone);
	}
	/* kube-proxy's topologyModeFromHints: node hints only with PreferSameTrafficDistribution */
	if (all_nodes && any_node && !node->no_node_hints)
		return keep_hinted(c, n, true, node->name);
	if (all_zones && any_zone)
		return keep_hinted(c, n, false, node->zone);
	if (all_zones && node->zone)
		log_v(4, "Ignoring same-zone topology hints: no endpoint hints zone %s", node->zone);
	return n;
}

static bool picked(const struct cand *c, uint8_t need, uint8_t need2, bool local_only)
{
	return (c->ep.flags & need) == need && (c->ep.flags & need2) == need2 &&
	       (!local_only || c->ep.local);
}

/* The endpoints of c with the flags need and need2 (and local): exactly sized, NULL if none. */
static struct ds_ep *pick(const struct cand *c, unsigned n, uint8_t need, uint8_t need2,
			  bool local_only, unsigned *ret_n)
{
	struct ds_ep *v;
	unsigned k = 0;

	for (unsigned i = 0; i < n; i++)
		k += picked(&c[i], need, need2, local_only);
	*ret_n = k;
	if (!k)
		return NULL;
	v = xmalloc(k * sizeof(*v));
	k = 0;
	for (unsigned i = 0; i < n; i++)
		if (picked(&c[i], need, need2, local_only))
			v[k++] = c[i].ep;
	return v;
}

/* Endpoints of one service port from all slices into c (room for all): deduplicated, sorted. */
static unsigned gather(const struct svc_port *sp, int family, struct endpoint_slice *const *slices,
		       unsigned n_slices, const struct ds_node *node, struct cand *c)
{
	unsigned n = 0, k = 0;

	for (unsigned s = 0; s < n_slices; s++) {
		const struct endpoint_slice *sl = slices[s];
		const struct slice_port *p = NULL;

		if (sl->family != family)
			continue;	/* another family's (or an FQDN) slice */
		for (unsigned i = 0; i < sl->n_ports; i++) {
			if (!strcmp(sl->ports[i].name, sp->name) && sl->ports[i].proto == sp->proto) {
				p = &sl->ports[i];
				break;
			}
		}
		if (!p || !p->port)
			continue;
		for (unsigned e = 0; e < sl->n_eps; e++) {
			const struct slice_endpoint *se = &sl->eps[e];

			c[n].ep.addr = se->addr;
			c[n].ep.port = p->port;
			c[n].ep.flags = se->flags | (se->node_name ? 0 : EP_NODE_UNKNOWN);
			c[n].ep.local = se->node_name && node->name && !strcmp(se->node_name, node->name);
			c[n].se = se;
			n++;
		}
	}
	qsort(c, n, sizeof(*c), cand_cmp);
	/* dedup by address:port; a ready duplicate wins (as kube-proxy) */
	for (unsigned i = 0; i < n; i++) {
		if (k && !ep_cmp(&c[k - 1].ep, &c[i].ep)) {
			if ((c[i].ep.flags & EP_READY) && !(c[k - 1].ep.flags & EP_READY))
				c[k - 1] = c[i];
			continue;
		}
		c[k++] = c[i];
	}
	return k;
}

/* The port's endpoint lists from its candidates c (used up: the cluster pick filters in place). */
static void build_eps(struct ds_port *p, struct cand *c, unsigned n, const struct ds_node *node)
{
	unsigned nr = 0;

	/* local endpoints: local ready ones, else local serving+terminating */
	p->local_eps = pick(c, n, EP_READY, 0, true, &p->n_local_eps);
	if (!p->n_local_eps)
		p->local_eps = pick(c, n, EP_SERVING, EP_TERMINATING, true, &p->n_local_eps);
	p->all_eps = pick(c, n, EP_SERVING, 0, false, &p->n_all_eps);
	/* cluster endpoints: ready ones (topology filtered), else serving+terminating */
	for (unsigned i = 0; i < n; i++)
		if (c[i].ep.flags & EP_READY)
			c[nr++] = c[i];
	if (nr) {
		nr = topology_filter(c, nr, node);
		p->cluster_eps = pick(c, nr, 0, 0, false, &p->n_cluster_eps);
	} else {
		p->cluster_eps = pick(c, n, EP_SERVING, EP_TERMINATING, false, &p->n_cluster_eps);
	}
	/* commonly the same list (all ready and serving, no hints): one array for both */
	if (p->n_all_eps && p->n_all_eps == p->n_cluster_eps &&
	    !memcmp(p->all_eps, p->cluster_eps, p->n_all_eps * sizeof(*p->all_eps))) {
		free(p->all_eps);
		p->all_eps = p->cluster_eps;
	}
}

/* The addresses of one family out of v (NULL when none). */
static struct sy_addr *addrs_of(const struct sy_addr *v, unsigned n, int family, unsigned *ret_n)
{
	struct sy_addr *r = NULL;
	unsigned k = 0;

	for (unsigned i = 0; i < n; i++)
		k += v[i].family == family;
	if (k)
		r = xmalloc(k * sizeof(*r));
	k = 0;
	for (unsigned i = 0; i < n; i++)
		if (v[i].family == family)
			r[k++] = v[i];
	*ret_n = k;
	return r;
}

static struct sy_cidr *cidrs_of(const struct sy_cidr *v, unsigned n, int family, unsigned *ret_n)
{
	struct sy_cidr *r = NULL;
	unsigned k = 0;

	for (unsigned i = 0; i < n; i++)
		k += v[i].addr.family == family;
	if (k)
		r = xmalloc(k * sizeof(*r));
	k = 0;
	for (unsigned i = 0; i < n; i++)
		if (v[i].addr.family == family)
			r[k++] = v[i];
	*ret_n = k;
	return r;
}

static struct ds_port *build_port(const struct service *svc, const struct svc_port *sp, int family,
				  const struct sy_addr *cluster_ip, struct endpoint_slice *const *slices,
				  unsigned n_slices, const struct ds_node *node, double trigger,
				  struct cand *c)
{
	bool external_type = svc->type == SVC_TYPE_NODE_PORT || svc->type == SVC_TYPE_LOAD_BALANCER;
	struct ds_port *p = xcalloc(1, sizeof(*p));
	size_t l = strlen(svc->key) + strlen(sp->name) + 2;
	unsigned n;

	p->svc_key = xstrdup(svc->key);
	p->name = xmalloc(l);
	snprintf(p->name, l, "%s:%s", svc->key, sp->name);
	p->proto = sp->proto;
	p->family = (uint8_t)family;
	p->cluster_ip = *cluster_ip;
	p->port = sp->port;
	p->node_port = external_type ? sp->node_port : 0;
	p->external_ips = addrs_of(svc->external_ips, svc->n_external_ips, family,
				   &p->n_external_ips);
	if (svc->type == SVC_TYPE_LOAD_BALANCER) {
		p->lb_ips = addrs_of(svc->lb_ips, svc->n_lb_ips, family, &p->n_lb_ips);
		p->lb_source_ranges = cidrs_of(svc->lb_source_ranges, svc->n_lb_source_ranges, family,
					       &p->n_lb_source_ranges);
	}
	p->affinity_timeout = svc->affinity_client_ip ? svc->affinity_timeout : 0;
	p->etp_local = svc->etp_local && ds_port_has_external(p);
	p->itp_local = svc->itp_local;
	p->hc_node_port = svc->type == SVC_TYPE_LOAD_BALANCER && p->etp_local ? svc->hc_node_port : 0;
	p->trigger_time = trigger;
	n = gather(sp, family, slices, n_slices, node, c);
	build_eps(p, c, n, node);
	/* name = "ns/name:port": views into owned storage */
	p->svc_ns = p->ns_buf = xstrdup(svc->ns);
	p->svc_name = strchr(p->svc_key, '/') + 1;
	p->port_name = strrchr(p->name, ':') + 1;
	return p;
}

int ds_build_service(const struct service *svc, struct endpoint_slice *const *slices,
		     unsigned n_slices, const struct ds_node *node, struct ds_port ***ret)
{
	const struct sy_addr *cips[2] = { &svc->cluster_ip, &svc->cluster_ip6 };
	const int fams[2] = { AF_INET, AF_INET6 };
	struct ds_port **out;
	struct cand *c;		/* every port's candidates, in turn */
	double trigger = 0;
	unsigned k = 0, total = 0;

	*ret = NULL;
	if (svc->type == SVC_TYPE_EXTERNAL_NAME || svc->headless || svc->proxy_skip ||
	    svc->conflict || !svc->n_ports ||
	    (!sy_addr_is_set(&svc->cluster_ip) && !sy_addr_is_set(&svc->cluster_ip6)))
		return 0;
	for (unsigned s = 0; s < n_slices; s++) {
		if (slices[s]->trigger_time > trigger)
			trigger = slices[s]->trigger_time;
		total += slices[s]->n_eps;
	}
	out = xcalloc(2 * svc->n_ports, sizeof(*out));
	c = xmalloc((total ? total : 1) * sizeof(*c));
	for (unsigned f = 0; f < 2; f++) {
		if (!sy_addr_is_set(cips[f]))
			continue;
		for (unsigned i = 0; i < svc->n_ports; i++)
			out[k++] = build_port(svc, &svc->ports[i], fams[f], cips[f], slices, n_slices,
					      node, trigger, c);
	}
	free(c);
	*ret = out;
	return (int)k;
}

static bool eps_equal(const struct ds_ep *a, unsigned na, const struct ds_ep *b, unsigned nb)
{
	return na == nb && (!na || !memcmp(a, b, na * sizeof(*a)));
}

#define ARR_EQ(f, nf, T) (a->nf == b->nf && (!a->nf || !memcmp(a->f, b->f, a->nf * sizeof(T))))

static bool port_equal(const struct ds_port *a, const struct ds_port *b)
{
	return !strcmp(a->name, b->name) && a->proto == b->proto && a->family == b->family &&
	       sy_addr_eq(&a->cluster_ip, &b->cluster_ip) && a->port == b->port &&
	       a->node_port == b->node_port && a->hc_node_port == b->hc_node_port &&
	       ARR_EQ(external_ips, n_external_ips, struct sy_addr) &&
	       ARR_EQ(lb_ips, n_lb_ips, struct sy_addr) &&
	       ARR_EQ(lb_source_ranges, n_lb_source_ranges, struct sy_cidr) &&
	       a->affinity_timeout == b->affinity_timeout && a->etp_local == b->etp_local &&
	       a->itp_local == b->itp_local &&
	       eps_equal(a->cluster_eps, a->n_cluster_eps, b->cluster_eps, b->n_cluster_eps) &&
	       eps_equal(a->local_eps, a->n_local_eps, b->local_eps, b->n_local_eps) &&
	       eps_equal(a->all_eps, a->n_all_eps, b->all_eps, b->n_all_eps);
}

void desired_init(struct desired_state *ds, const struct sy_config *cfg)
{
	memset(ds, 0, sizeof(*ds));
	hmap_init(&ds->ports);
	hmap_init(&ds->ports6);
	hmap_init(&ds->by_svc);
	hmap_init(&ds->chg[0].idx);
	hmap_init(&ds->chg[1].idx);
	ds->cfg = cfg;
	ds->next_serial = 1;
}

void desired_fini(struct desired_state *ds)
{
	struct hmap_iter it;
	void *v;

	desired_commit(ds);
	hmap_iter_init(&it, &ds->by_svc);
	while (hmap_iter_next(&it, NULL, &v)) {
		struct ds_svc *s = v;

		for (unsigned i = 0; i < s->n; i++)
			ds_port_free(s->ports[i]);
		sy_free_all(s->ports, s->key, s);
	}
	hmap_clear(&ds->by_svc);
	hmap_clear(&ds->ports);
	hmap_clear(&ds->ports6);
	for (unsigned f = 0; f < 2; f++) {
		hmap_clear(&ds->chg[f].idx);
		free(ds->chg[f].v);
	}
	sy_free_all(ds->retired, ds->node.nodeport_addrs,
		    ds->service_cidrs, (char *)ds->node.name, (char *)ds->node.zone);
	memset(ds, 0, sizeof(*ds));
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

void desired_set_node(struct desired_state *ds, const char *name, const char *zone,
		      const struct sy_addr *addrs, unsigned n, bool all_local)
{
	desired_set_node_families(ds, name, zone, addrs, n, all_local, all_local);
}

void desired_set_node_families(struct desired_state *ds, const char *name, const char *zone,
			       const struct sy_addr *addrs, unsigned n, bool all_local,
			       bool all_local6)
{
	bool same = str_eq(ds->node.name, name) && str_eq(ds->node.zone, zone) &&
		    ds->node.n_nodeport_addrs == n && ds->node.nodeport_all_local == all_local &&
		    ds->node.nodeport_all_local6 == all_local6 &&
		    (!n || !memcmp(ds->node.nodeport_addrs, addrs, n * sizeof(*addrs)));

	if (same)
		return;
	if (!str_eq(ds->node.name, name)) {
		free((char *)ds->node.name);
		ds->node.name = name ? xstrdup(name) : NULL;
	}
	if (!str_eq(ds->node.zone, zone)) {
		free((char *)ds->node.zone);
		ds->node.zone = zone ? xstrdup(zone) : NULL;
	}
	free(ds->node.nodeport_addrs);
	ds->node.nodeport_addrs = NULL;
	if (n) {
		/* grouped by family, IPv4 first, each in the order given (ds_nodeport_addrs) */
		unsigned k = 0;

		ds->node.nodeport_addrs = xcalloc(n, sizeof(*addrs));
		for (unsigned i = 0; i < n; i++)
			if (addrs[i].family == AF_INET)
				ds->node.nodeport_addrs[k++] = addrs[i];
		for (unsigned i = 0; i < n; i++)
			if (addrs[i].family == AF_INET6)
				ds->node.nodeport_addrs[k++] = addrs[i];
		n = k;
	}
	ds->node.n_nodeport_addrs = n;
	ds->node.nodeport_all_local = all_local;
	ds->node.nodeport_all_local6 = all_local6;
	ds->node_changed = true;
}

static void retire(struct desired_state *ds, struct ds_port *p)
{
	if (ds->n_retired == ds->cap_retired) {
		ds->cap_retired = ds->cap_retired ? ds->cap_retired * 2 : 64;
		ds->retired = xrealloc(ds->retired, ds->cap_retired * sizeof(*ds->retired));
	}
	ds->retired[ds->n_retired++] = p;
}

static void record(struct desired_state *ds, const struct ds_port *old, const struct ds_port *new)
{
	const char *name = new ? new->name : old->name;
	struct ds_change_list *l = &ds->chg[(new ? new : old)->family == AF_INET6];
	uintptr_t idx = (uintptr_t)hmap_get(&l->idx, name);

	if (new && new->trigger_time > ds->newest_trigger_time)
		ds->newest_trigger_time = new->trigger_time;
	if (idx) {
		/* changed again before the sync: keep the original old version */
		struct ds_change *c = &l->v[idx - 1];

		c->new = new;
		c->name = new ? new->name : c->old ? c->old->name : name;
		hmap_del(&l->idx, name);
		hmap_put(&l->idx, c->name, (void *)idx);
		return;
	}
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n] = (struct ds_change){ .name = name, .old = old, .new = new };
	l->n++;
	hmap_put(&l->idx, name, (void *)(uintptr_t)l->n);
}

static struct hmap *port_map(struct desired_state *ds, int family)
{
	return family == AF_INET6 ? &ds->ports6 : &ds->ports;
}

/* Rebuild one Service; returns the number of changed ports (both families). */
static int update_service(struct desired_state *ds, struct cache *c, const char *key)
{
	const struct service *svc = cache_service(c, key);
	struct ds_svc *cur = hmap_get(&ds->by_svc, key);
	struct ds_port **built = NULL;
	unsigned n_slices = 0;
	struct endpoint_slice *const *slices = cache_service_slices(c, key, &n_slices);
	int n = 0, changed = 0;

	if (svc)
		n = ds_build_service(svc, slices, n_slices, &ds->node, &built);
	if (n < 0)
		return n;
	/* ports that stayed identical keep their old object */
	for (int i = 0; i < n; i++) {
		struct hmap *m = port_map(ds, built[i]->family);
		struct ds_port *old = hmap_get(m, built[i]->name);

		if (old && port_equal(old, built[i])) {
			ds_port_free(built[i]);
			built[i] = old;
			continue;
		}
		built[i]->serial = ds->next_serial++;
		if (old) {
			hmap_del(m, old->name);
			retire(ds, old);
		}
		hmap_put(m, built[i]->name, built[i]);
		record(ds, old, built[i]);
		changed++;
	}
	/* ports that disappeared */
	for (unsigned j = 0; cur && j < cur->n; j++) {
		struct ds_port *old = cur->ports[j];
		struct hmap *m = port_map(ds, old->family);
		bool kept = false;

		for (int i = 0; i < n && !kept; i++)
			kept = built[i] == old || (built[i]->family == old->family &&
						   !strcmp(built[i]->name, old->name));
		if (kept)
			continue;
		if (hmap_get(m, old->name) == old)
			hmap_del(m, old->name);
		retire(ds, old);
		record(ds, old, NULL);
		changed++;
	}
	if (cur) {
		free(cur->ports);
		if (!n) {
			hmap_del(&ds->by_svc, cur->key);
			sy_free_all(cur->key, cur, built);
			return changed;
		}
	} else if (n) {
		cur = xcalloc(1, sizeof(*cur));
		cur->key = xstrdup(key);
		hmap_put(&ds->by_svc, cur->key, cur);
	}
	if (cur) {
		cur->ports = built;
		cur->n = (unsigned)n;
	} else {
		free(built);
	}
	return changed;
}

static int cidr_order(const void *a, const void *b)
{
	const struct sy_cidr *x = a, *y = b;

	/* IPv4 first, then as sy_cidr_cmp orders them */
	if (x->addr.family != y->addr.family)
		return x->addr.family == AF_INET ? -1 : 1;
	return sy_cidr_cmp(x, y);
}

/* The union of the ServiceCIDRs' CIDRs: set service_cidrs_changed when it moved. */
static void update_service_cidrs(struct desired_state *ds, struct cache *c)
{
	const struct hmap *m = cache_service_cidrs(c);
	struct sy_cidr *v = NULL;
	unsigned n = 0, k = 0;
	struct hmap_iter it;
	void *o;

	if (hmap_count(m))
		v = xcalloc(2 * hmap_count(m), sizeof(*v));
	hmap_iter_init(&it, m);
	while (hmap_iter_next(&it, NULL, &o)) {
		const struct service_cidr *sc = o;

		for (unsigned i = 0; i < sc->n_cidrs; i++)
			v[n++] = sc->cidrs[i];
	}
	if (n)
		qsort(v, n, sizeof(*v), cidr_order);
	for (unsigned i = 0; i < n; i++)
		if (!k || cidr_order(&v[k - 1], &v[i]))
			v[k++] = v[i];
	if (k == ds->n_service_cidrs && (!k || !memcmp(v, ds->service_cidrs, k * sizeof(*v)))) {
		free(v);
		return;
	}
	free(ds->service_cidrs);
	ds->service_cidrs = v;
	ds->n_service_cidrs = k;
	ds->service_cidrs_changed = true;
}

int desired_update(struct desired_state *ds, struct cache *c, bool all)
{
	struct hmap dirty;
	struct hmap_iter it;
	const char *key;
	int changed = 0;

	ds->node.no_node_hints = ds->cfg && ds->cfg->node_hints_off;
	/* MultiCIDRServiceAllocator=false: none, also from a manifest directory */
	if (cache_service_cidrs_changed(c, true) && !(ds->cfg && ds->cfg->service_cidrs_off))
		update_service_cidrs(ds, c);
	cache_take_dirty(c, &dirty);
	if (all) {
		/* every Service the cache or the desired state knows */
		hmap_iter_init(&it, cache_services(c));
		while (hmap_iter_next(&it, &key, NULL))
			if (!hmap_get(&dirty, key))
				hmap_put(&dirty, xstrdup(key), (void *)1);
		hmap_iter_init(&it, &ds->by_svc);
		while (hmap_iter_next(&it, &key, NULL))
			if (!hmap_get(&dirty, key))
				hmap_put(&dirty, xstrdup(key), (void *)1);
	}
	hmap_iter_init(&it, &dirty);
	while (hmap_iter_next(&it, &key, NULL)) {
		int r = update_service(ds, c, key);

		if (r > 0)
			changed += r;
		free((char *)key);
	}
	hmap_clear(&dirty);
	return changed;
}

void desired_commit(struct desired_state *ds)
{
	for (unsigned i = 0; i < ds->n_retired; i++)
		ds_port_free(ds->retired[i]);
	ds->n_retired = 0;
	for (unsigned f = 0; f < 2; f++) {
		ds->chg[f].n = 0;
		hmap_clear(&ds->chg[f].idx);
	}
	ds->node_changed = false;
	ds->service_cidrs_changed = false;
	ds->newest_trigger_time = 0;
}
