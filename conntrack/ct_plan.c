// SPDX-License-Identifier: Apache-2.0
/*
 * Which conntrack entries are stale: pure, no kernel access.
 *
 * kube-proxy's rule (pkg/proxy/conntrack/cleanup.go), for UDP (we add
 * SCTP): an entry whose original destination is a Service address:port
 * (ClusterIP, externalIP, LoadBalancer IP; or the NodePort on a node
 * address) and whose reply source is not one of the port's serving
 * endpoints is stale.  We compare the reply source address AND port with
 * the endpoints (a changed targetPort strands flows as surely as a gone
 * pod).  The same rule covers the three cases of the issue:
 *  - an endpoint went away: its flows answer from an address no longer
 *    allowed;
 *  - 0 → ≥1 endpoints: flows that were REJECTed/dropped were never NATed,
 *    their reply source is the Service address itself, never an endpoint;
 *  - a Service port was removed: no current port uses the destination, so
 *    nothing is allowed and every entry to it goes.
 * Traffic policy and topology are ignored on purpose (as kube-proxy): an
 * entry to any serving endpoint stays.
 *
 * Incremental: only destinations of changed ports are checked, and not
 * even those when the change cannot strand a flow (the old version had
 * usable endpoints for every kind of traffic and lost none of its serving
 * endpoints).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include "switchyard/desired.h"
#include "switchyard/util.h"
#include "ct_int.h"

void ct_plan_init(struct ct_plan *p)
{
	memset(p, 0, sizeof(*p));
	hmap_init(&p->idx);
}

void ct_plan_fini(struct ct_plan *p)
{
	for (unsigned i = 0; i < p->n_keys; i++)
		sy_free_all(p->keys[i]->eps, p->keys[i]);
	sy_free_all(p->keys, p->local_addrs);
	hmap_clear(&p->idx);
	memset(p, 0, sizeof(*p));
}

/*
 * "pp:f:<hex address>:pppp" (f = 4 or 6; NodePort: address "*"): called for
 * every dumped entry, so no printf.
 */
static void key_str(char *buf, size_t len, uint8_t proto, bool nodeport, const struct sy_addr *dst,
		    uint16_t dport)
{
	static const char hex[] = "0123456789abcdef";
	unsigned alen = sy_addr_len(dst);
	char *o = buf;

	if (len < 44)
		return;
	*o++ = hex[proto >> 4];
	*o++ = hex[proto & 15];
	*o++ = ':';
	*o++ = dst->family == AF_INET6 ? '6' : '4';
	*o++ = ':';
	if (nodeport) {
		*o++ = '*';
	} else {
		for (unsigned i = 0; i < alen; i++) {
			*o++ = hex[dst->b[i] >> 4];
			*o++ = hex[dst->b[i] & 15];
		}
	}
	*o++ = ':';
	for (int sh = 12; sh >= 0; sh -= 4)
		*o++ = hex[(dport >> sh) & 15];
	*o = 0;
}

static struct ct_key *find_key(const struct ct_plan *p, uint8_t proto, bool nodeport,
			       const struct sy_addr *dst, uint16_t dport)
{
	char s[48];

	if (!p->n_keys)
		return NULL;
	key_str(s, sizeof(s), proto, nodeport, dst, dport);
	return hmap_get(&p->idx, s);
}

/* The family alone, as NodePort keys carry it. */
static struct sy_addr family_only(const struct sy_addr *a)
{
	struct sy_addr r = { .family = a->family };

	return r;
}

struct ct_key *ct_plan_add_key(struct ct_plan *p, uint8_t proto, bool nodeport,
			       struct sy_addr dst, uint16_t dport)
{
	struct ct_key *k = find_key(p, proto, nodeport, &dst, dport);

	if (k)
		return k;
	k = xcalloc(1, sizeof(*k));
	k->proto = proto;
	k->nodeport = nodeport;
	k->dst = nodeport ? family_only(&dst) : dst;
	k->dport = dport;
	key_str(k->str, sizeof(k->str), proto, nodeport, &dst, dport);
	if (p->n_keys == p->cap_keys) {
		p->cap_keys = p->cap_keys ? p->cap_keys * 2 : 16;
		p->keys = xrealloc(p->keys, p->cap_keys * sizeof(*p->keys));
	}
	p->keys[p->n_keys++] = k;
	if (nodeport)
		p->n_nodeport_keys++;
	hmap_put(&p->idx, k->str, k);
	return k;
}

static int ep_cmp(const void *a, const void *b)
{
	const struct ct_ep *x = a, *y = b;
	int r = sy_addr_cmp(&x->addr, &y->addr);

	if (r)
		return r;
	return (int)x->port - (int)y->port;
}

/* Appends; ct_plan_seal() sorts and deduplicates before lookups. */
void ct_key_allow(struct ct_key *k, struct sy_addr addr, uint16_t port)
{
	if (k->n_eps == k->cap_eps) {
		k->cap_eps = k->cap_eps ? k->cap_eps * 2 : 8;
		k->eps = xrealloc(k->eps, k->cap_eps * sizeof(*k->eps));
	}
	k->eps[k->n_eps++] = (struct ct_ep){ addr, port };
}

void ct_plan_seal(struct ct_plan *p)
{
	for (unsigned i = 0; i < p->n_keys; i++) {
		struct ct_key *k = p->keys[i];
		unsigned n = 0;

		if (k->n_eps < 2)
			continue;
		qsort(k->eps, k->n_eps, sizeof(*k->eps), ep_cmp);
		for (unsigned j = 0; j < k->n_eps; j++)
			if (!n || ep_cmp(&k->eps[n - 1], &k->eps[j]))
				k->eps[n++] = k->eps[j];
		k->n_eps = n;
	}
}

void ct_plan_set_local(struct ct_plan *p, const struct sy_addr *addrs, unsigned n)
{
	free(p->local_addrs);
	p->local_addrs = n ? xmalloc(n * sizeof(*addrs)) : NULL;
	if (n)
		memcpy(p->local_addrs, addrs, n * sizeof(*addrs));
	p->n_local_addrs = n;
}

/* ---- keys of a ds_port ---- */

typedef void (*key_fn)(void *arg, uint8_t proto, bool nodeport, const struct sy_addr *dst,
		       uint16_t dport);

/* Every address of a ds_port is of its family (desired.h); NodePort keys carry that family. */
static void port_keys(const struct ds_port *sp, key_fn fn, void *arg)
{
	struct sy_addr fam = { .family = sp->family ? sp->family : AF_INET };

	if (sy_addr_is_set(&sp->cluster_ip))
		fn(arg, sp->proto, false, &sp->cluster_ip, sp->port);
	for (unsigned i = 0; i < sp->n_external_ips; i++)
		fn(arg, sp->proto, false, &sp->external_ips[i], sp->port);
	for (unsigned i = 0; i < sp->n_lb_ips; i++)
		fn(arg, sp->proto, false, &sp->lb_ips[i], sp->port);
	if (sp->node_port)
		fn(arg, sp->proto, true, &fam, sp->node_port);
}

static bool port_has_key(const struct ds_port *sp, uint8_t proto, bool nodeport,
			 const struct sy_addr *dst, uint16_t dport)
{
	if (sp->proto != proto)
		return false;
	if (nodeport)
		return sp->node_port == dport &&
		       (sp->family ? sp->family : AF_INET) == dst->family;
	if (sp->port != dport)
		return false;
	if (sy_addr_eq(&sp->cluster_ip, dst))
		return true;
	for (unsigned i = 0; i < sp->n_external_ips; i++)
		if (sy_addr_eq(&sp->external_ips[i], dst))
			return true;
	for (unsigned i = 0; i < sp->n_lb_ips; i++)
		if (sy_addr_eq(&sp->lb_ips[i], dst))
			return true;
	return false;
}

/* Could every kind of traffic to this port reach an endpoint (so no flow was REJECTed)? */
static bool port_usable(const struct ds_port *sp)
{
	unsigned n_int, n_ext;

	ds_port_internal_eps(sp, &n_int);
	ds_port_external_eps(sp, &n_ext);
	return n_int && (!ds_port_has_external(sp) || n_ext);
}

static int ds_ep_cmp(const struct ds_ep *x, const struct ds_ep *y)
{
	int r = sy_addr_cmp(&x->addr, &y->addr);

	if (r)
		return r;
	return (int)x->port - (int)y->port;
}

/*
 * Is every serving endpoint of a also one of b?  desired.h keeps all_eps
 * sorted by (address, port), so one merge walk; were they not, this could
 * only answer false wrongly (an extra check), never true.
 */
static bool eps_subset(const struct ds_port *a, const struct ds_port *b)
{
	unsigned j = 0;

	for (unsigned i = 0; i < a->n_all_eps; i++) {
		while (j < b->n_all_eps && ds_ep_cmp(&b->all_eps[j], &a->all_eps[i]) < 0)
			j++;
		if (j == b->n_all_eps || ds_ep_cmp(&b->all_eps[j], &a->all_eps[i]))
			return false;
		j++;
	}
	return true;
}

struct add_ctx {
	struct ct_plan *p;
	const struct ds_port *other;	/* skip keys this one also has */
	bool skip_shared;
};

static void add_cb(void *arg, uint8_t proto, bool nodeport, const struct sy_addr *dst,
		   uint16_t dport)
{
	struct add_ctx *c = arg;

	if (c->skip_shared && c->other && port_has_key(c->other, proto, nodeport, dst, dport))
		return;
	ct_plan_add_key(c->p, proto, nodeport, *dst, dport);
}

struct allow_ctx {
	struct ct_plan *p;
	const struct ds_port *sp;
};

static void allow_cb(void *arg, uint8_t proto, bool nodeport, const struct sy_addr *dst,
		     uint16_t dport)
{
	struct allow_ctx *c = arg;
	struct ct_key *k = find_key(c->p, proto, nodeport, dst, dport);

	if (!k)
		return;
	k->port_name = c->sp->name;
	for (unsigned i = 0; i < c->sp->n_all_eps; i++)
		ct_key_allow(k, c->sp->all_eps[i].addr, c->sp->all_eps[i].port);
}

/* The keys one change owes a check: see ct_plan_build. */
static void change_keys(struct ct_plan *p, const struct ds_change *ch, bool full)
{
	/* destinations the old version had and the new one lost: everything goes */
	if (ch->old && ct_proto_tracked(ch->old->proto)) {
		struct add_ctx c = { p, ch->new, true };

		port_keys(ch->old, add_cb, &c);
	}
	/* destinations kept or gained: check unless the change cannot strand a flow */
	if (!full && ch->new && ct_proto_tracked(ch->new->proto)) {
		bool quiet = ch->old && port_usable(ch->old) && eps_subset(ch->old, ch->new);
		struct add_ctx c = { p, ch->old, quiet };

		port_keys(ch->new, add_cb, &c);
	}
}

unsigned ct_plan_build(struct ct_plan *p, const struct desired_state *ds, bool full)
{
	struct hmap_iter it;
	void *v;

	p->all_local = ds->node.nodeport_all_local;
	p->all_local6 = ds->node.nodeport_all_local6;
	p->nodeport_addrs = ds->node.nodeport_addrs;
	p->n_nodeport_addrs = ds->node.n_nodeport_addrs;
	if (full) {
		struct add_ctx c = { p, NULL, false };

		for (int f = 0; f < (p->ipv6 ? 2 : 1); f++) {
			hmap_iter_init(&it, ds_ports(ds, f ? AF_INET6 : AF_INET));
			while (hmap_iter_next(&it, NULL, &v)) {
				const struct ds_port *sp = v;

				if (ct_proto_tracked(sp->proto))
					port_keys(sp, add_cb, &c);
			}
		}
	}
	/* a full pass covers current ports only: destinations removed by the changes still count */
	for (int f = 0; f < (p->ipv6 ? 2 : 1); f++) {
		unsigned n;
		const struct ds_change *chs = ds_changes(ds, f ? AF_INET6 : AF_INET, &n);

		for (unsigned i = 0; i < n; i++)
			change_keys(p, &chs[i], full);
	}
	if (!p->n_keys)
		return 0;
	/*
	 * allowed reply sources: the serving endpoints of every current port using the
	 * destination (the IPv6 ports too: an owed IPv6 key must not lose its endpoints)
	 */
	for (int f = 0; f < 2; f++) {
		hmap_iter_init(&it, ds_ports(ds, f ? AF_INET6 : AF_INET));
		while (hmap_iter_next(&it, NULL, &v)) {
			const struct ds_port *sp = v;
			struct allow_ctx c = { p, sp };

			if (ct_proto_tracked(sp->proto))
				port_keys(sp, allow_cb, &c);
		}
	}
	ct_plan_seal(p);
	return p->n_keys;
}

static bool addr_in(const struct sy_addr *a, const struct sy_addr *v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (sy_addr_eq(&v[i], a))
			return true;
	return false;
}

static bool nodeport_dst(const struct ct_plan *p, const struct sy_addr *dst)
{
	if (dst->family == AF_INET6 ? p->all_local6 : p->all_local)
		return sy_addr_is_loopback(dst) || addr_in(dst, p->local_addrs, p->n_local_addrs);
	return addr_in(dst, p->nodeport_addrs, p->n_nodeport_addrs);
}

const struct ct_key *ct_plan_stale(const struct ct_plan *p, const struct ct_entry *e)
{
	const struct ct_key *k;
	struct ct_ep probe = { e->rsrc, e->rsport };

	if (!ct_proto_tracked(e->proto))
		return NULL;
	k = find_key(p, e->proto, false, &e->odst, e->odport);
	if (!k && p->n_nodeport_keys) {
		k = find_key(p, e->proto, true, &e->odst, e->odport);
		if (k && !nodeport_dst(p, &e->odst))
			k = NULL;
	}
	if (!k)
		return NULL;
	if (k->n_eps && bsearch(&probe, k->eps, k->n_eps, sizeof(probe), ep_cmp))
		return NULL;
	return k;
}

static int dump_cmp(const void *a, const void *b)
{
	const struct ct_dump *x = a, *y = b;

	if (x->family != y->family)
		return (int)x->family - (int)y->family;
	if (x->proto != y->proto)
		return (int)x->proto - (int)y->proto;
	return (int)x->dport - (int)y->dport;
}

unsigned ct_plan_dumps(const struct ct_plan *p, struct ct_dump **ret)
{
	struct ct_dump *d;
	unsigned n = 0;

	*ret = NULL;
	if (!p->n_keys)
		return 0;
	d = xcalloc(p->n_keys, sizeof(*d));
	for (unsigned i = 0; i < p->n_keys; i++)
		d[i] = (struct ct_dump){ .family = p->keys[i]->dst.family, .proto = p->keys[i]->proto,
					 .dst = p->keys[i]->nodeport ? (struct sy_addr){ 0 } :
								       p->keys[i]->dst,
					 .dport = p->keys[i]->dport };
	qsort(d, p->n_keys, sizeof(*d), dump_cmp);
	for (unsigned i = 0; i < p->n_keys; i++) {
		if (n && !dump_cmp(&d[n - 1], &d[i])) {
			/* several destinations on this port: filter on the port only */
			memset(&d[n - 1].dst, 0, sizeof(d[n - 1].dst));
			continue;
		}
		d[n++] = d[i];
	}
	*ret = d;
	return n;
}
