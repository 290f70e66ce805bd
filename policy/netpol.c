// SPDX-License-Identifier: Apache-2.0
/*
 * The NetworkPolicy planner (netpol.h): pure, incremental.
 *
 * The state is a set of refcounted element sets (LOCAL, ISOLATED_IN/EG,
 * per policy TARGETS, per rule PEERS and NAMED).  Every object contributes
 * elements; an event removes the old object's contributions (evaluated
 * against the current other objects, which are the ones it was added
 * against) and adds the new one's.  A set element appearing (refcount
 * 0 → 1) or disappearing (1 → 0) is recorded in the pending delta table as
 * +1 / -1 relative to the last commit, so the deltas are net.
 *
 * Indexes keep an event's cost independent of the number of pods:
 * namespace → its (counting) pods, its policies, and the selector peers
 * whose namespaceSelector matches it; global lists of the peers with a
 * namespaceSelector and of the egress rules whose named ports resolve on
 * every pod (to: all) or on pods inside ipBlocks.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include "switchyard/hmap.h"
#include "switchyard/model.h"
#include "switchyard/netpol.h"
#include "switchyard/util.h"

/* ---- open-addressing table of fixed-size entries: key bytes, then an int32 value (0 = empty) ---- */

struct otab {
	uint8_t *v;
	uint32_t cap, n;	/* cap: power of two or 0 */
	uint16_t klen, esz;
};

static void otab_init(struct otab *t, uint16_t klen)
{
	memset(t, 0, sizeof(*t));
	t->klen = klen;
	t->esz = (uint16_t)(klen + sizeof(int32_t));
}

static void otab_free(struct otab *t)
{
	free(t->v);
	t->v = NULL;
	t->cap = t->n = 0;
}

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* klen is a multiple of 4 (the keys are structs of 4-byte alignment). */
static uint64_t otab_hash(const void *key, size_t len)
{
	const uint8_t *p = key;
	uint64_t h = len;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		h = mix64(h ^ w);
	}
	for (; i < len; i++)
		h = mix64(h ^ p[i]);
	return h;
}

static inline int32_t *otab_val(const struct otab *t, uint8_t *e)
{
	return (int32_t *)(void *)(e + t->klen);
}

static inline int32_t otab_valr(const struct otab *t, const uint8_t *e)
{
	int32_t v;

	memcpy(&v, e + t->klen, sizeof(v));
	return v;
}

static uint8_t *otab_slot(const struct otab *t, uint32_t i)
{
	return t->v + (size_t)i * t->esz;
}

static void otab_grow(struct otab *t);

/* The entry of key, or NULL; with create, a new one (value 0, caller sets it nonzero). */
static uint8_t *otab_find(struct otab *t, const void *key, bool create)
{
	uint32_t i;

	if (!t->cap) {
		if (!create)
			return NULL;
		otab_grow(t);
	}
	i = (uint32_t)otab_hash(key, t->klen) & (t->cap - 1);
	for (;; i = (i + 1) & (t->cap - 1)) {
		uint8_t *e = otab_slot(t, i);

		if (!otab_valr(t, e))
			break;
		if (!memcmp(e, key, t->klen))
			return e;
	}
	if (!create)
		return NULL;
	if ((t->n + 1) * 4 > t->cap * 3) {
		otab_grow(t);
		return otab_find(t, key, true);
	}
	{
		uint8_t *e = otab_slot(t, i);

		memcpy(e, key, t->klen);
		t->n++;
		return e;
	}
}

static void otab_grow(struct otab *t)
{
	struct otab old = *t;

	t->cap = t->cap ? t->cap * 2 : 8;
	t->v = xcalloc(t->cap, t->esz);
	t->n = 0;
	for (uint32_t i = 0; i < old.cap; i++) {
		uint8_t *e = otab_slot(&old, i);
		int32_t v = otab_valr(&old, e);

		if (v) {
			uint8_t *ne = otab_find(t, e, true);

			*otab_val(t, ne) = v;
		}
	}
	free(old.v);
}

/* Remove entry e (linear probing: shift the following cluster back). */
static void otab_remove(struct otab *t, uint8_t *e)
{
	uint32_t i = (uint32_t)((e - t->v) / t->esz), j = i;

	for (;;) {
		uint8_t *ej;
		uint32_t k;

		j = (j + 1) & (t->cap - 1);
		ej = otab_slot(t, j);
		if (!otab_valr(t, ej))
			break;
		k = (uint32_t)otab_hash(ej, t->klen) & (t->cap - 1);
		/* ej may move to i when its home k is not in (i, j] cyclically */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		memcpy(otab_slot(t, i), ej, t->esz);
		i = j;
	}
	memset(otab_slot(t, i), 0, t->esz);
	t->n--;
	/* shrink when very sparse, to give memory back after mass deletions */
	if (t->cap > 64 && t->n * 8 < t->cap) {
		struct otab old = *t;

		t->cap /= 4;
		t->v = xcalloc(t->cap, t->esz);
		t->n = 0;
		for (uint32_t x = 0; x < old.cap; x++) {
			uint8_t *oe = otab_slot(&old, x);
			int32_t v = otab_valr(&old, oe);

			if (v)
				*otab_val(t, otab_find(t, oe, true)) = v;
		}
		free(old.v);
	}
}

/* ---- the state ---- */

struct vec {
	void **v;
	unsigned n, cap;
};

static void vec_push(struct vec *v, void *p)
{
	if (v->n == v->cap)
		v->v = xrealloc(v->v, (v->cap = v->cap ? v->cap * 2 : 4) * sizeof(*v->v));
	v->v[v->n++] = p;
}

/* Remove the first p (order not kept). */
static void vec_del(struct vec *v, void *p)
{
	for (unsigned i = 0; i < v->n; i++)
		if (v->v[i] == p) {
			v->v[i] = v->v[--v->n];
			return;
		}
}

/* sign > 0: vec_push, else vec_del (a reference counted in or out) */
static void vec_mod(struct vec *v, void *p, int sign)
{
	if (sign > 0)
		vec_push(v, p);
	else
		vec_del(v, p);
}

static void vec_free(struct vec *v)
{
	free(v->v);
	memset(v, 0, sizeof(*v));
}

struct pol;

/* A selector peer of a rule: (policy, direction, rule, peer). */
struct peer_ref {
	struct pol *pol;
	uint8_t dir;
	uint8_t mark;		/* scratch: a namespace relabel's old/new match */
	uint16_t rule, peer;
};

struct rule_state {
	struct otab peers, named;	/* key np_elem */
};

struct pol {
	struct np_policy pub;		/* id, np (referenced) */
	struct ns_rec *ns;
	struct otab targets;
	struct rule_state *rs[2];
	unsigned n_rs[2];
	struct peer_ref *refs;		/* one per selector peer with a namespaceSelector */
	unsigned n_refs;
	int chg;			/* index in ps->changes or -1 */
	/* as last committed */
	bool c_exists, c_ingress, c_egress;
	unsigned c_n_rules[2];
};

struct ns_rec {
	const char *name;		/* interned */
	struct k8s_namespace *obj;	/* NULL when unknown */
	struct np_label dflt;		/* kubernetes.io/metadata.name=<name> when obj is NULL */
	struct np_labels labels;
	struct vec pods;		/* struct pod_rec * that count */
	struct vec pols;		/* struct pol * of this namespace */
	struct vec nssel;		/* struct peer_ref * whose namespaceSelector matches */
	unsigned users;			/* pod records and policies naming it; freed at 0 without obj */
};

struct pod_rec {
	struct pod *p;
	struct ns_rec *ns;
	unsigned idx;			/* in ns->pods while it counts */
	bool local, counts;
};

static void pod_rec_free(void *v)
{
	struct pod_rec *pr = v;

	pod_unref(pr->p);
	free(pr);
}

/* A pending delta's key. */
struct pend_key {
	struct np_set_ref set;
	struct np_elem elem;
};

struct policy_state {
	const char *node;		/* interned */
	struct hmap pods;		/* key → struct pod_rec */
	struct hmap nss;		/* name → struct ns_rec */
	struct hmap pols;		/* key → struct pol */
	struct pol **by_id;		/* [id], NULL when free */
	uint32_t cap_id;		/* allocated entries of by_id */
	uint32_t max_id;
	uint32_t *free_ids;		/* reusable now */
	unsigned n_free, cap_free;
	uint32_t *freed_ids;		/* freed since the commit */
	unsigned n_freed, cap_freed;
	struct otab global[3];		/* LOCAL, ISOLATED_IN, ISOLATED_EG */
	unsigned n_local;		/* local pods that count (LOCAL holds their addresses) */
	struct vec nssel_all;		/* struct peer_ref * of every namespaceSelector peer */
	struct vec named_all;		/* struct peer_ref * (peer 0): egress to-all rules with named ports */
	struct vec named_ipb;		/* struct peer_ref * (peer 0): egress rules with ipBlocks and named ports */
	struct otab pending;		/* key struct pend_key */
	struct np_change *changes;
	unsigned n_changes, cap_changes;
};

static struct np_elem elem_addr(const struct sy_addr *a)
{
	struct np_elem e;

	memset(&e, 0, sizeof(e));
	e.addr = *a;
	return e;
}

static struct np_elem elem_tuple(const struct sy_addr *a, uint8_t proto, uint16_t port)
{
	struct np_elem e = elem_addr(a);

	e.proto = proto;
	e.port = port;
	return e;
}

static bool pol_flagged(const struct pol *p)
{
	return p && p->chg >= 0;
}

/* Record a set element appearing (+1) or disappearing (-1). */
static void pending_mod(struct policy_state *ps, struct pol *p, struct np_set_ref ref,
			const struct np_elem *e, int sign)
{
	struct pend_key k;
	uint8_t *x;
	int32_t *v;

	if (pol_flagged(p))
		return;		/* the kernel side rewrites the whole policy */
	memset(&k, 0, sizeof(k));
	k.set = ref;
	k.elem = *e;
	x = otab_find(&ps->pending, &k, true);
	v = otab_val(&ps->pending, x);
	*v += sign;
	if (!*v)
		otab_remove(&ps->pending, x);
}

static void set_mod(struct policy_state *ps, struct pol *p, struct otab *t, struct np_set_ref ref,
		    const struct np_elem *e, int sign)
{
	uint8_t *x = otab_find(t, e, sign > 0);
	int32_t *v;

	if (!x)
		return;		/* cannot happen: removals mirror additions */
	v = otab_val(t, x);
	*v += sign;
	if (sign > 0 && *v == 1)
		pending_mod(ps, p, ref, e, 1);
	else if (!*v) {
		otab_remove(t, x);
		pending_mod(ps, p, ref, e, -1);
	}
}

struct np_set_ref np_set_ref_of(uint32_t id, enum np_set_kind kind, int dir, unsigned rule)
{
	struct np_set_ref r;

	memset(&r, 0, sizeof(r));
	r.policy_id = id;
	r.kind = (uint8_t)kind;
	r.dir = (uint8_t)dir;
	r.rule = (uint16_t)rule;
	return r;
}

/* ---- namespaces ---- */

static void ns_set_labels(struct ns_rec *n)
{
	if (n->obj) {
		n->labels = n->obj->labels;
	} else {
		n->dflt.key = np_intern("kubernetes.io/metadata.name");
		n->dflt.value = n->name;
		n->labels.v = &n->dflt;
		n->labels.n = 1;
	}
}

static bool peer_ns_match(const struct peer_ref *r, const struct ns_rec *n);

static void ns_rec_free(void *v)
{
	struct ns_rec *n = v;

	namespace_unref(n->obj);
	vec_free(&n->pods);
	vec_free(&n->pols);
	vec_free(&n->nssel);
	free(n);
}

/* A namespace nothing names any more (no pods, no policies, no object) goes. */
static void ns_release(struct policy_state *ps, struct ns_rec *n)
{
	if (n->users || n->obj)
		return;
	hmap_del(&ps->nss, n->name);
	ns_rec_free(n);
}

static struct ns_rec *ns_get(struct policy_state *ps, const char *name)
{
	struct ns_rec *n = hmap_get(&ps->nss, name);

	if (n)
		return n;
	n = xcalloc(1, sizeof(*n));
	n->name = np_intern(name);
	ns_set_labels(n);
	hmap_put(&ps->nss, n->name, n);
	/* a new namespace: which namespaceSelector peers match it */
	for (unsigned i = 0; i < ps->nssel_all.n; i++)
		if (peer_ns_match(ps->nssel_all.v[i], n))
			vec_push(&n->nssel, ps->nssel_all.v[i]);
	return n;
}

/* ---- evaluation ---- */

static const struct np_rule *ref_rule(const struct peer_ref *r)
{
	return &r->pol->pub.np->rules[r->dir][r->rule];
}

static const struct np_peer *ref_peer(const struct peer_ref *r)
{
	return &ref_rule(r)->peers[r->peer];
}

static bool peer_ns_match(const struct peer_ref *r, const struct ns_rec *n)
{
	return np_selector_matches(&ref_peer(r)->ns_sel, &n->labels);
}

/* Named ports of rule r resolved on pod p → NAMED(pol, dir, rule). */
static void named_mod(struct policy_state *ps, struct pol *pol, int dir, unsigned rule,
		      const struct pod *p, int sign)
{
	const struct np_rule *r = &pol->pub.np->rules[dir][rule];
	struct np_set_ref ref = np_set_ref_of(pol->pub.id, NP_SET_NAMED, dir, rule);

	for (unsigned k = 0; k < r->n_ports; k++) {
		if (!r->ports[k].name)
			continue;
		for (unsigned j = 0; j < p->n_ports; j++) {
			if (p->ports[j].name != r->ports[k].name || p->ports[j].proto != r->ports[k].proto)
				continue;
			for (unsigned i = 0; i < p->n_ips; i++) {
				struct np_elem e = elem_tuple(&p->ips[i], p->ports[j].proto,
							      p->ports[j].port);

				set_mod(ps, pol, &pol->rs[dir][rule].named, ref, &e, sign);
			}
		}
	}
}

/* p is a peer of (pol, dir, rule): its IPs in PEERS; egress named ports resolve on it. */
static void peer_mod(struct policy_state *ps, struct pol *pol, int dir, unsigned rule,
		     const struct pod *p, int sign)
{
	struct np_set_ref ref = np_set_ref_of(pol->pub.id, NP_SET_PEERS, dir, rule);

	for (unsigned i = 0; i < p->n_ips; i++) {
		struct np_elem e = elem_addr(&p->ips[i]);

		set_mod(ps, pol, &pol->rs[dir][rule].peers, ref, &e, sign);
	}
	if (dir == NP_EGRESS && pol->pub.np->rules[dir][rule].has_named_ports)
		named_mod(ps, pol, dir, rule, p, sign);
}

/* Local pod p is a target of pol. */
static void target_mod(struct policy_state *ps, struct pol *pol, const struct pod *p, int sign)
{
	const struct netpolicy *np = pol->pub.np;
	struct np_set_ref tref = np_set_ref_of(pol->pub.id, NP_SET_TARGETS, 0, 0);

	for (unsigned i = 0; i < p->n_ips; i++) {
		struct np_elem e = elem_addr(&p->ips[i]);

		set_mod(ps, pol, &pol->targets, tref, &e, sign);
		if (np->ingress)
			set_mod(ps, NULL, &ps->global[NP_SET_ISOLATED_IN],
				np_set_ref_of(0, NP_SET_ISOLATED_IN, 0, 0), &e, sign);
		if (np->egress)
			set_mod(ps, NULL, &ps->global[NP_SET_ISOLATED_EG],
				np_set_ref_of(0, NP_SET_ISOLATED_EG, 0, 0), &e, sign);
	}
	for (unsigned r = 0; r < np->n_rules[NP_INGRESS]; r++)
		if (np->rules[NP_INGRESS][r].has_named_ports)
			named_mod(ps, pol, NP_INGRESS, r, p, sign);
}

/* Some IP of p lies in one of r's ipBlocks (and in none of that block's excepts). */
static bool pod_in_ipblocks(const struct pod *p, const struct np_rule *r)
{
	for (unsigned i = 0; i < p->n_ips; i++)
		for (unsigned b = 0; b < r->n_ipblocks; b++) {
			const struct np_ipblock *ib = &r->ipblocks[b];
			bool ex = false;

			if (!sy_cidr_contains(&ib->cidr, &p->ips[i]))
				continue;
			for (unsigned k = 0; k < ib->n_except && !ex; k++)
				ex = sy_cidr_contains(&ib->except[k], &p->ips[i]);
			if (!ex)
				return true;
		}
	return false;
}

/* Egress named-port tuples of pod p for an ipBlock rule (per IP: only the IPs inside). */
static void named_ipb_mod(struct policy_state *ps, struct pol *pol, unsigned rule,
			  const struct pod *p, int sign)
{
	const struct np_rule *r = &pol->pub.np->rules[NP_EGRESS][rule];
	struct pod one;

	/* resolve per address: a dual-stack pod may have only one family inside */
	for (unsigned i = 0; i < p->n_ips; i++) {
		one = *p;
		one.ips[0] = p->ips[i];
		one.n_ips = 1;
		if (pod_in_ipblocks(&one, r))
			named_mod(ps, pol, NP_EGRESS, rule, &one, sign);
	}
}

/* All of a counting pod's contributions, against the current policies and namespaces. */
static void pod_apply(struct policy_state *ps, struct pod_rec *pr, int sign)
{
	const struct pod *p = pr->p;
	struct ns_rec *n = pr->ns;

	if (pr->local) {
		ps->n_local += (unsigned)sign;	/* -1 wraps back: a matching +1 came first */
		for (unsigned i = 0; i < p->n_ips; i++) {
			struct np_elem e = elem_addr(&p->ips[i]);

			set_mod(ps, NULL, &ps->global[NP_SET_LOCAL],
				np_set_ref_of(0, NP_SET_LOCAL, 0, 0), &e, sign);
		}
	}
	for (unsigned k = 0; k < n->pols.n; k++) {
		struct pol *pol = n->pols.v[k];
		const struct netpolicy *np = pol->pub.np;

		if (pr->local && np_selector_matches(&np->pod_sel, &p->labels))
			target_mod(ps, pol, p, sign);
		/* podSelector-only peers: pods of the policy's namespace */
		for (int d = 0; d < 2; d++)
			for (unsigned r = 0; r < np->n_rules[d]; r++) {
				const struct np_rule *rule = &np->rules[d][r];

				for (unsigned q = 0; q < rule->n_peers; q++) {
					const struct np_peer *pe = &rule->peers[q];

					if (pe->has_pod_sel && !pe->has_ns_sel &&
					    np_selector_matches(&pe->pod_sel, &p->labels))
						peer_mod(ps, pol, d, r, p, sign);
				}
			}
	}
	/* namespaceSelector peers matching the pod's namespace */
	for (unsigned k = 0; k < n->nssel.n; k++) {
		const struct peer_ref *ref = n->nssel.v[k];
		const struct np_peer *pe = ref_peer(ref);

		if (!pe->has_pod_sel || np_selector_matches(&pe->pod_sel, &p->labels))
			peer_mod(ps, ref->pol, ref->dir, ref->rule, p, sign);
	}
	for (unsigned k = 0; k < ps->named_all.n; k++) {
		const struct peer_ref *ref = ps->named_all.v[k];

		named_mod(ps, ref->pol, NP_EGRESS, ref->rule, p, sign);
	}
	for (unsigned k = 0; k < ps->named_ipb.n; k++) {
		const struct peer_ref *ref = ps->named_ipb.v[k];

		named_ipb_mod(ps, ref->pol, ref->rule, p, sign);
	}
}

/* ---- policies ---- */

/*
 * All of a policy's contributions against the current pods and namespaces;
 * registers (sign > 0) or unregisters (sign < 0) it in the indexes.
 */
static void pol_apply(struct policy_state *ps, struct pol *pol, int sign)
{
	const struct netpolicy *np = pol->pub.np;
	struct ns_rec *n = pol->ns;
	unsigned nref = 0;

	vec_mod(&n->pols, pol, sign);
	/* targets */
	for (unsigned i = 0; i < n->pods.n; i++) {
		struct pod_rec *pr = n->pods.v[i];

		if (pr->local && np_selector_matches(&np->pod_sel, &pr->p->labels))
			target_mod(ps, pol, pr->p, sign);
	}
	for (int d = 0; d < 2; d++)
		for (unsigned r = 0; r < np->n_rules[d]; r++) {
			const struct np_rule *rule = &np->rules[d][r];

			for (unsigned q = 0; q < rule->n_peers; q++) {
				const struct np_peer *pe = &rule->peers[q];

				if (pe->has_ns_sel) {
					struct peer_ref *ref = &pol->refs[nref++];
					struct hmap_iter it;
					void *v;

					vec_mod(&ps->nssel_all, ref, sign);
					hmap_iter_init(&it, &ps->nss);
					while (hmap_iter_next(&it, NULL, &v)) {
						struct ns_rec *m = v;

						if (!peer_ns_match(ref, m))
							continue;
						vec_mod(&m->nssel, ref, sign);
						for (unsigned i = 0; i < m->pods.n; i++) {
							struct pod_rec *pr = m->pods.v[i];

							if (!pe->has_pod_sel ||
							    np_selector_matches(&pe->pod_sel, &pr->p->labels))
								peer_mod(ps, pol, d, r, pr->p, sign);
						}
					}
				} else if (pe->has_pod_sel) {
					for (unsigned i = 0; i < n->pods.n; i++) {
						struct pod_rec *pr = n->pods.v[i];

						if (np_selector_matches(&pe->pod_sel, &pr->p->labels))
							peer_mod(ps, pol, d, r, pr->p, sign);
					}
				}
			}
		}
	/* egress named ports on every pod (to: all) or on pods inside ipBlocks */
	for (unsigned r = 0; r < np->n_rules[NP_EGRESS]; r++) {
		const struct np_rule *rule = &np->rules[NP_EGRESS][r];
		struct peer_ref *ref = &pol->refs[nref];
		struct hmap_iter it;
		void *v;

		if (!rule->has_named_ports || (!rule->all_peers && !rule->n_ipblocks))
			continue;
		nref++;
		vec_mod(rule->all_peers ? &ps->named_all : &ps->named_ipb, ref, sign);
		hmap_iter_init(&it, &ps->nss);
		while (hmap_iter_next(&it, NULL, &v)) {
			struct ns_rec *m = v;

			for (unsigned i = 0; i < m->pods.n; i++) {
				struct pod_rec *pr = m->pods.v[i];

				if (rule->all_peers)
					named_mod(ps, pol, NP_EGRESS, r, pr->p, sign);
				else
					named_ipb_mod(ps, pol, r, pr->p, sign);
			}
		}
	}
}

/* The peer refs of pol->pub.np (namespaceSelector peers, egress named-port rules on all/ipBlock pods). */
static void pol_alloc_refs(struct pol *pol)
{
	const struct netpolicy *np = pol->pub.np;
	unsigned nref = 0;

	for (int d = 0; d < 2; d++)
		for (unsigned r = 0; r < np->n_rules[d]; r++) {
			const struct np_rule *rule = &np->rules[d][r];

			for (unsigned q = 0; q < rule->n_peers; q++)
				nref += rule->peers[q].has_ns_sel;
			nref += d == NP_EGRESS && rule->has_named_ports &&
				(rule->all_peers || rule->n_ipblocks);
		}
	pol->refs = nref ? xcalloc(nref, sizeof(*pol->refs)) : NULL;
	pol->n_refs = nref;
	nref = 0;
	for (int d = 0; d < 2; d++)
		for (unsigned r = 0; r < np->n_rules[d]; r++) {
			const struct np_rule *rule = &np->rules[d][r];

			for (unsigned q = 0; q < rule->n_peers; q++)
				if (rule->peers[q].has_ns_sel)
					pol->refs[nref++] = (struct peer_ref){
						.pol = pol, .dir = (uint8_t)d, .rule = (uint16_t)r,
						.peer = (uint16_t)q };
		}
	for (unsigned r = 0; r < np->n_rules[NP_EGRESS]; r++) {
		const struct np_rule *rule = &np->rules[NP_EGRESS][r];

		if (rule->has_named_ports && (rule->all_peers || rule->n_ipblocks))
			pol->refs[nref++] = (struct peer_ref){ .pol = pol, .dir = NP_EGRESS,
							       .rule = (uint16_t)r };
	}
}

static void pol_free_refs(struct pol *pol)
{
	free(pol->refs);
	pol->refs = NULL;
	pol->n_refs = 0;
}

/* The per-rule sets of pol->pub.np (empty). */
static void pol_alloc_rules(struct pol *pol)
{
	const struct netpolicy *np = pol->pub.np;

	for (int d = 0; d < 2; d++) {
		pol->n_rs[d] = np->n_rules[d];
		pol->rs[d] = np->n_rules[d] ? xcalloc(np->n_rules[d], sizeof(*pol->rs[d])) : NULL;
		for (unsigned r = 0; r < np->n_rules[d]; r++) {
			otab_init(&pol->rs[d][r].peers, sizeof(struct np_elem));
			otab_init(&pol->rs[d][r].named, sizeof(struct np_elem));
		}
	}
}

static void pol_free_rules(struct pol *pol)
{
	for (int d = 0; d < 2; d++) {
		for (unsigned r = 0; r < pol->n_rs[d]; r++) {
			otab_free(&pol->rs[d][r].peers);
			otab_free(&pol->rs[d][r].named);
		}
		free(pol->rs[d]);
		pol->rs[d] = NULL;
		pol->n_rs[d] = 0;
	}
}

static bool ports_eq(const struct np_port *a, const struct np_port *b)
{
	return a->proto == b->proto && a->port == b->port && a->end_port == b->end_port &&
	       a->name == b->name;
}

static bool ipblock_eq(const struct np_ipblock *a, const struct np_ipblock *b)
{
	if (!sy_cidr_eq(&a->cidr, &b->cidr) || a->n_except != b->n_except)
		return false;
	for (unsigned i = 0; i < a->n_except; i++)
		if (!sy_cidr_eq(&a->except[i], &b->except[i]))
			return false;
	return true;
}

/* Same structure (what the kernel side's chains are made of); selectors may differ. */
static bool same_structure(const struct netpolicy *a, const struct netpolicy *b)
{
	if (a->ingress != b->ingress || a->egress != b->egress)
		return false;
	for (int d = 0; d < 2; d++) {
		if (a->n_rules[d] != b->n_rules[d])
			return false;
		for (unsigned r = 0; r < a->n_rules[d]; r++) {
			const struct np_rule *x = &a->rules[d][r], *y = &b->rules[d][r];

			if (x->all_peers != y->all_peers || x->all_ports != y->all_ports ||
			    x->has_selector_peers != y->has_selector_peers ||
			    x->has_named_ports != y->has_named_ports || x->n_ports != y->n_ports ||
			    x->n_ipblocks != y->n_ipblocks)
				return false;
			for (unsigned k = 0; k < x->n_ports; k++)
				if (!ports_eq(&x->ports[k], &y->ports[k]))
					return false;
			for (unsigned k = 0; k < x->n_ipblocks; k++)
				if (!ipblock_eq(&x->ipblocks[k], &y->ipblocks[k]))
					return false;
		}
	}
	return true;
}

/* Record a structure change of pol (the first of the cycle decides ADDED; REMOVED overrides CHANGED). */
static void change_add(struct policy_state *ps, struct pol *pol, enum np_change_op op)
{
	struct np_change *c;

	if (pol->chg >= 0) {
		if (op == NP_POLICY_REMOVED)
			ps->changes[pol->chg].op = NP_POLICY_REMOVED;
		return;
	}
	if (ps->n_changes == ps->cap_changes)
		ps->changes = xrealloc(ps->changes, (ps->cap_changes = ps->cap_changes ?
						     ps->cap_changes * 2 : 16) * sizeof(*ps->changes));
	c = &ps->changes[ps->n_changes];
	memset(c, 0, sizeof(*c));
	c->policy_id = pol->pub.id;
	c->op = op;
	if (pol->c_exists) {
		c->old_n_rules[0] = pol->c_n_rules[0];
		c->old_n_rules[1] = pol->c_n_rules[1];
		c->old_ingress = pol->c_ingress;
		c->old_egress = pol->c_egress;
	}
	pol->chg = (int)ps->n_changes++;
}

/* Forget pol's record (added and removed since the commit: the kernel never saw it). */
static void change_drop(struct policy_state *ps, struct pol *pol)
{
	unsigned last = --ps->n_changes;

	if ((unsigned)pol->chg != last) {
		ps->changes[pol->chg] = ps->changes[last];
		ps->by_id[ps->changes[pol->chg].policy_id]->chg = pol->chg;
	}
	pol->chg = -1;
}

static uint32_t id_alloc(struct policy_state *ps)
{
	if (ps->n_free)
		return ps->free_ids[--ps->n_free];
	if (ps->max_id + 2 > ps->cap_id) {
		ps->cap_id = ps->cap_id ? ps->cap_id * 2 : 16;
		ps->by_id = xrealloc(ps->by_id, ps->cap_id * sizeof(*ps->by_id));
	}
	ps->by_id[0] = NULL;
	ps->by_id[++ps->max_id] = NULL;
	return ps->max_id;
}

static void id_release(struct policy_state *ps, uint32_t id)
{
	ps->by_id[id] = NULL;
	if (ps->n_freed == ps->cap_freed)
		ps->freed_ids = xrealloc(ps->freed_ids, (ps->cap_freed = ps->cap_freed ?
						       ps->cap_freed * 2 : 16) * sizeof(uint32_t));
	ps->freed_ids[ps->n_freed++] = id;
}

static void pol_destroy(void *p)
{
	struct pol *pol = p;

	pol_free_rules(pol);
	pol_free_refs(pol);
	otab_free(&pol->targets);
	netpolicy_unref((struct netpolicy *)pol->pub.np);
	free(pol);
}

void netpol_policy_event(struct policy_state *ps, const char *key, struct netpolicy *np)
{
	struct pol *pol = hmap_get(&ps->pols, key);
	struct netpolicy *old;
	struct ns_rec *n;
	bool restructure;

	if (!pol && !np)
		return;
	if (!pol) {
		pol = xcalloc(1, sizeof(*pol));
		pol->chg = -1;
		pol->pub.id = id_alloc(ps);
		ps->by_id[pol->pub.id] = pol;
		np_ref(&np->meta);
		pol->pub.np = np;
		pol->ns = ns_get(ps, np->ns);
		pol->ns->users++;
		otab_init(&pol->targets, sizeof(struct np_elem));
		hmap_put(&ps->pols, pol->pub.np->meta.key, pol);
		change_add(ps, pol, NP_POLICY_ADDED);
		pol_alloc_rules(pol);
		pol_alloc_refs(pol);
		pol_apply(ps, pol, 1);
		return;
	}
	if (!np) {
		bool added = pol->chg >= 0 && ps->changes[pol->chg].op == NP_POLICY_ADDED;

		change_add(ps, pol, NP_POLICY_REMOVED);	/* flagged: no deltas of its own sets */
		pol_apply(ps, pol, -1);
		if (added)
			change_drop(ps, pol);
		hmap_del(&ps->pols, key);
		id_release(ps, pol->pub.id);
		n = pol->ns;
		pol_destroy(pol);
		n->users--;
		ns_release(ps, n);
		return;
	}
	if (np == pol->pub.np)
		return;
	old = (struct netpolicy *)pol->pub.np;
	restructure = !same_structure(old, np);
	if (restructure)
		change_add(ps, pol, NP_POLICY_CHANGED);
	pol_apply(ps, pol, -1);
	pol_free_refs(pol);
	if (restructure)
		pol_free_rules(pol);	/* rewritten whole: new, empty sets */
	np_ref(&np->meta);
	pol->pub.np = np;
	hmap_put(&ps->pols, np->meta.key, pol);
	netpolicy_unref(old);
	if (restructure)
		pol_alloc_rules(pol);
	pol_alloc_refs(pol);
	pol_apply(ps, pol, 1);
}

/* ---- pods ---- */

static void pod_rec_add(struct policy_state *ps, struct pod_rec *pr)
{
	if (!pr->counts)
		return;
	pr->idx = pr->ns->pods.n;
	vec_push(&pr->ns->pods, pr);
	pod_apply(ps, pr, 1);
}

static void pod_rec_remove(struct policy_state *ps, struct pod_rec *pr)
{
	struct vec *v = &pr->ns->pods;

	if (!pr->counts)
		return;
	pod_apply(ps, pr, -1);
	/* O(1): the last one takes its place */
	v->v[pr->idx] = v->v[--v->n];
	((struct pod_rec *)v->v[pr->idx])->idx = pr->idx;
}

void netpol_pod_event(struct policy_state *ps, const char *key, struct pod *p)
{
	struct pod_rec *pr = hmap_get(&ps->pods, key);
	struct pod *old;

	if (pr && pr->p == p)
		return;
	if (pr) {
		pod_rec_remove(ps, pr);
		if (!p) {
			struct ns_rec *n = pr->ns;

			hmap_del(&ps->pods, key);
			pod_rec_free(pr);
			n->users--;
			ns_release(ps, n);
			return;
		}
	} else {
		if (!p)
			return;
		pr = xcalloc(1, sizeof(*pr));
		pr->ns = ns_get(ps, p->ns);	/* the key holds the namespace: it never changes */
		pr->ns->users++;
	}
	old = pr->p;
	np_ref(&p->meta);
	pr->p = p;
	hmap_put(&ps->pods, p->meta.key, pr);	/* before the old key goes */
	pod_unref(old);
	pr->local = p->node && p->node == ps->node;
	pr->counts = pod_counts(p);
	pod_rec_add(ps, pr);
}

/* ---- namespaces ---- */

/* Pods of n as peers of the namespaceSelector peers listed in n->nssel marked only. */
static void ns_peers_apply(struct policy_state *ps, struct ns_rec *n, int sign, uint8_t only)
{
	for (unsigned k = 0; k < n->nssel.n; k++) {
		const struct peer_ref *ref = n->nssel.v[k];
		const struct np_peer *pe = ref_peer(ref);

		if (ref->mark != only)
			continue;
		for (unsigned i = 0; i < n->pods.n; i++) {
			struct pod_rec *pr = n->pods.v[i];

			if (!pe->has_pod_sel || np_selector_matches(&pe->pod_sel, &pr->p->labels))
				peer_mod(ps, ref->pol, ref->dir, ref->rule, pr->p, sign);
		}
	}
}

void netpol_namespace_event(struct policy_state *ps, const char *name, struct k8s_namespace *obj)
{
	struct ns_rec *n = hmap_get(&ps->nss, name);

	if (!n && !obj)
		return;
	if (!n)
		n = ns_get(ps, name);
	if (n->obj == obj)
		return;
	/*
	 * Only the selectors whose match changed move elements: mark the old
	 * matches 1, the new ones |= 2; 3 (both) stays as it is.
	 */
	for (unsigned i = 0; i < ps->nssel_all.n; i++)
		((struct peer_ref *)ps->nssel_all.v[i])->mark = 0;
	for (unsigned i = 0; i < n->nssel.n; i++)
		((struct peer_ref *)n->nssel.v[i])->mark = 1;
	namespace_unref(n->obj);
	if (obj)
		np_ref(&obj->meta);
	n->obj = obj;
	ns_set_labels(n);
	for (unsigned i = 0; i < ps->nssel_all.n; i++) {
		struct peer_ref *ref = ps->nssel_all.v[i];

		if (peer_ns_match(ref, n)) {
			if (!ref->mark)
				vec_push(&n->nssel, ref);
			ref->mark |= 2;
		}
	}
	/* n->nssel now holds old only (1), new only (2) and both (3) */
	ns_peers_apply(ps, n, -1, 1);
	ns_peers_apply(ps, n, 1, 2);
	for (unsigned i = 0; i < n->nssel.n;)
		if (((struct peer_ref *)n->nssel.v[i])->mark == 1)
			n->nssel.v[i] = n->nssel.v[--n->nssel.n];
		else
			i++;
	ns_release(ps, n);
}

/* ---- from the cache ---- */

static unsigned update_kind(struct policy_state *ps, struct cache *c, enum sy_kind kind)
{
	struct hmap ch;
	struct hmap_iter it;
	const char *key;
	unsigned n = 0;

	cache_take_changed(c, kind, &ch);
	hmap_iter_init(&it, &ch);
	while (hmap_iter_next(&it, &key, NULL)) {
		if (kind == SY_KIND_NAMESPACE)
			netpol_namespace_event(ps, key, cache_namespace(c, key));
		else if (kind == SY_KIND_NETWORKPOLICY)
			netpol_policy_event(ps, key, cache_netpolicy(c, key));
		else
			netpol_pod_event(ps, key, cache_pod(c, key));
		free((char *)key);
		n++;
	}
	hmap_clear(&ch);
	return n;
}

unsigned netpol_update(struct policy_state *ps, struct cache *c)
{
	return update_kind(ps, c, SY_KIND_NAMESPACE) + update_kind(ps, c, SY_KIND_NETWORKPOLICY) +
	       update_kind(ps, c, SY_KIND_POD);
}

/* ---- life cycle ---- */

struct policy_state *netpol_new(const char *node_name)
{
	struct policy_state *ps = xcalloc(1, sizeof(*ps));

	ps->node = np_intern(node_name ? node_name : "");
	hmap_init(&ps->pods);
	hmap_init(&ps->nss);
	hmap_init(&ps->pols);
	for (int i = 0; i < 3; i++)
		otab_init(&ps->global[i], sizeof(struct np_elem));
	otab_init(&ps->pending, sizeof(struct pend_key));
	ps->by_id = xcalloc(1, sizeof(*ps->by_id));
	return ps;
}

void netpol_free(struct policy_state *ps)
{
	if (!ps)
		return;
	hmap_clear_free(&ps->pols, pol_destroy);
	hmap_clear_free(&ps->pods, pod_rec_free);
	hmap_clear_free(&ps->nss, ns_rec_free);
	for (int i = 0; i < 3; i++)
		otab_free(&ps->global[i]);
	otab_free(&ps->pending);
	vec_free(&ps->nssel_all);
	vec_free(&ps->named_all);
	vec_free(&ps->named_ipb);
	sy_free_all(ps->by_id, ps->free_ids, ps->freed_ids, ps->changes, ps);
}

/* ---- reading ---- */

const struct np_policy *netpol_policy(const struct policy_state *ps, uint32_t id)
{
	return id && id <= ps->max_id && ps->by_id[id] ? &ps->by_id[id]->pub : NULL;
}

uint32_t netpol_max_id(const struct policy_state *ps)
{
	return ps->max_id;
}

unsigned netpol_policy_count(const struct policy_state *ps)
{
	return (unsigned)hmap_count(&ps->pols);
}

void netpol_policy_foreach(const struct policy_state *ps, np_policy_fn fn, void *arg)
{
	for (uint32_t id = 1; id <= ps->max_id; id++)
		if (ps->by_id[id])
			fn(arg, &ps->by_id[id]->pub);
}

static const struct otab *set_of(const struct policy_state *ps, struct np_set_ref r)
{
	const struct pol *p;

	if (r.kind <= NP_SET_ISOLATED_EG)
		return r.policy_id ? NULL : &ps->global[r.kind];
	p = r.policy_id && r.policy_id <= ps->max_id ? ps->by_id[r.policy_id] : NULL;
	if (!p)
		return NULL;
	if (r.kind == NP_SET_TARGETS)
		return &p->targets;
	if (r.dir > NP_EGRESS || r.rule >= p->n_rs[r.dir])
		return NULL;
	if (r.kind == NP_SET_PEERS)
		return &p->rs[r.dir][r.rule].peers;
	if (r.kind == NP_SET_NAMED)
		return &p->rs[r.dir][r.rule].named;
	return NULL;
}

size_t netpol_set_foreach(const struct policy_state *ps, struct np_set_ref set, np_elem_fn fn,
			  void *arg)
{
	const struct otab *t = set_of(ps, set);
	size_t n = 0;

	if (!t)
		return 0;
	for (uint32_t i = 0; i < t->cap; i++) {
		uint8_t *e = otab_slot(t, i);

		if (otab_valr(t, e)) {
			struct np_elem el;

			memcpy(&el, e, sizeof(el));
			if (fn)
				fn(arg, &el);
			n++;
		}
	}
	return n;
}

size_t netpol_set_size(const struct policy_state *ps, struct np_set_ref set)
{
	const struct otab *t = set_of(ps, set);

	return t ? t->n : 0;
}

bool netpol_set_has(const struct policy_state *ps, struct np_set_ref set, const struct np_elem *e)
{
	const struct otab *t = set_of(ps, set);
	struct np_elem k = *e;

	if (!t)
		return false;
	k.pad = 0;
	if (set.kind != NP_SET_NAMED) {
		k.proto = 0;
		k.port = 0;
	}
	return otab_find((struct otab *)t, &k, false) != NULL;
}

const struct np_change *netpol_changes(const struct policy_state *ps, unsigned *n)
{
	*n = ps->n_changes;
	return ps->changes;
}

size_t netpol_deltas_foreach(const struct policy_state *ps, np_delta_fn fn, void *arg)
{
	const struct otab *t = &ps->pending;
	size_t n = 0;

	for (uint32_t i = 0; i < t->cap; i++) {
		uint8_t *e = otab_slot(t, i);
		int32_t v = otab_valr(t, e);
		struct pend_key k;
		struct np_delta d;

		if (!v)
			continue;
		memcpy(&k, e, sizeof(k));
		if (k.set.policy_id) {
			const struct pol *p = k.set.policy_id <= ps->max_id ? ps->by_id[k.set.policy_id] :
					      NULL;

			if (!p || p->chg >= 0)
				continue;
		}
		d.set = k.set;
		d.elem = k.elem;
		d.add = v > 0;
		if (fn)
			fn(arg, &d);
		n++;
	}
	return n;
}

bool netpol_dirty(const struct policy_state *ps)
{
	return ps->n_changes || netpol_deltas_foreach(ps, NULL, NULL);
}

void netpol_commit(struct policy_state *ps)
{
	/* only a recorded change alters what was committed of a policy's shape */
	for (unsigned i = 0; i < ps->n_changes; i++) {
		struct pol *p = ps->changes[i].policy_id <= ps->max_id ?
				ps->by_id[ps->changes[i].policy_id] : NULL;

		if (!p)
			continue;
		p->chg = -1;
		p->c_exists = true;
		p->c_ingress = p->pub.np->ingress;
		p->c_egress = p->pub.np->egress;
		p->c_n_rules[0] = p->pub.np->n_rules[0];
		p->c_n_rules[1] = p->pub.np->n_rules[1];
	}
	ps->n_changes = 0;
	otab_free(&ps->pending);
	otab_init(&ps->pending, sizeof(struct pend_key));
	/* ids freed since the last commit may be reused now */
	for (unsigned i = 0; i < ps->n_freed; i++) {
		if (ps->n_free == ps->cap_free)
			ps->free_ids = xrealloc(ps->free_ids, (ps->cap_free = ps->cap_free ?
							       ps->cap_free * 2 : 16) * sizeof(uint32_t));
		ps->free_ids[ps->n_free++] = ps->freed_ids[i];
	}
	ps->n_freed = 0;
}

void netpol_get_stats(const struct policy_state *ps, struct netpol_stats *st)
{
	struct hmap_iter it;
	void *v;
	size_t bytes = sizeof(*ps), elems = 0;

	memset(st, 0, sizeof(*st));
	st->pods = (unsigned)hmap_count(&ps->pods);
	st->namespaces = (unsigned)hmap_count(&ps->nss);
	st->policies = (unsigned)hmap_count(&ps->pols);
	st->local_pods = ps->n_local;	/* pods, not addresses: a dual-stack pod has two */
	for (int i = 0; i < 3; i++) {
		elems += ps->global[i].n;
		bytes += (size_t)ps->global[i].cap * ps->global[i].esz;
	}
	bytes += (size_t)ps->pending.cap * ps->pending.esz;
	bytes += hmap_count(&ps->pods) * (sizeof(struct pod_rec) + sizeof(struct hmap_node) + 8);
	hmap_iter_init(&it, &ps->nss);
	while (hmap_iter_next(&it, NULL, &v)) {
		struct ns_rec *n = v;

		bytes += sizeof(*n) + (n->pods.cap + n->pols.cap + n->nssel.cap) * sizeof(void *);
	}
	hmap_iter_init(&it, &ps->pols);
	while (hmap_iter_next(&it, NULL, &v)) {
		struct pol *p = v;

		bytes += sizeof(*p) + p->n_refs * sizeof(*p->refs);
		elems += p->targets.n;
		bytes += (size_t)p->targets.cap * p->targets.esz;
		for (int d = 0; d < 2; d++)
			for (unsigned r = 0; r < p->n_rs[d]; r++) {
				const struct rule_state *rs = &p->rs[d][r];

				elems += rs->peers.n + rs->named.n;
				bytes += sizeof(*rs) + (size_t)rs->peers.cap * rs->peers.esz +
					 (size_t)rs->named.cap * rs->named.esz;
			}
	}
	st->elements = elems;
	st->bytes = bytes;
}
