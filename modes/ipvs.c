// SPDX-License-Identifier: Apache-2.0
/*
 * The IPVS proxy mode (--proxy-mode=ipvs), after kube-proxy's
 * pkg/proxy/ipvs: one virtual server per Service address:port/protocol
 * with NAT real servers, Service addresses bound on the kube-ipvs0 dummy
 * device, and masquerade/filter decisions in ipsets matched by a constant
 * number of iptables rules.
 *
 * Cost model.  The mode keeps refcounted maps of what the desired state
 * asks for (virtual servers, bound addresses, set entries).  A partial sync
 * moves only the changed ports' contributions (old version out, new in),
 * reads the kernel state of the touched virtual servers, and writes the
 * difference: O(changes).  A full sync rebuilds the maps, dumps every
 * virtual server, address and set entry, and repairs any drift.  A sync
 * with nothing to do writes nothing.
 *
 * Graceful termination: a real server that is no longer wanted is set to
 * weight 0 (TCP) and deleted once it has no connections (ActiveConn +
 * InActConn == 0) or after IPVS_GRACE_MAX seconds; UDP/SCTP ones are
 * deleted at once (expire_nodest_conn ends their flows).  The checks run
 * on every sync.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <arpa/inet.h>
#include <linux/ip_vs.h>
#include "switchyard/config.h"
#include "switchyard/desired.h"
#include "switchyard/hmap.h"
#include "switchyard/log.h"
#include "switchyard/mode.h"
#include "switchyard/util.h"
#include "ipvs_int.h"
#include "ipvs_plan.h"

#define IPVS_GRACE_RECHECK 2.0	/* seconds between checks of drained real servers */
#define NODEPORT_MIN 30000	/* VS on node addresses in this range are ours */
#define NODEPORT_MAX 32767
/* scratch virtual server for the scheduler probe (TEST-NET-2 / the IPv6
 * documentation prefix: never routed) */
#define PROBE_ADDR "198.51.100.254"
#define PROBE_ADDR6 "2001:db8:5ca1::fe"

struct grace {
	char *key;		/* "<vs key>|<dest>" */
	struct ipvs_svc svc;
	struct ipvs_dest dest;
	double since;
};

struct proxy_mode {
	const struct sy_config *cfg;
	int family;			/* AF_INET / AF_INET6: all this instance programs */
	struct ipvs_nl *nl;
	struct ipvs_dev dev;
	struct ipvs_set *set;
	struct ipvs_plan plan;		/* what the desired state asks for */
	struct hmap have_addr;		/* bound on kube-ipvs0 (this family): "10.96.0.1" → key (owned) */
	struct hmap have_set;		/* present in the kernel (keys owned) */
	struct hmap grace;		/* key → grace */
	char err[256];			/* this sync's failure with its context (mode_sync_stats.err) */

	bool ready;			/* a full sync succeeded since init */
	bool sets_trusted;		/* have_set matches what the last sync wrote */
	bool counted;			/* in shared.instances */
	uint64_t writes;		/* this sync */
	uint64_t nat_rules, filter_rules;
};

/* ---- small helpers ---------------------------------------------------------- */

/* This sync failed with r: keep the reason for the runner's log line; returns r. */
#define sync_fail(m, r, ...) sy_err_first((m)->err, sizeof((m)->err), r, __VA_ARGS__)

static void grace_free(void *p)
{
	struct grace *g = p;

	sy_free_all(g->key, g);
}

static void clear_grace(struct hmap *m)
{
	hmap_clear_free(m, grace_free);
}

/* ---- reconciling one virtual server --------------------------------------- */

/* a dump's real servers into the struct sy_vec at arg */
static int dest_collect(void *arg, const struct ipvs_dest *d)
{
	sy_vec_push(arg, d, sizeof(*d), 16);
	return 0;
}

/* "10.0.0.1:80", "[fd00::1]:80" */
static void dest_name(const struct ipvs_dest *d, char *buf, size_t len)
{
	char a[SY_ADDR_STRLEN];

	ipvs_addr_str(&d->addr, a);
	snprintf(buf, len, d->addr.family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, d->port);
}

static void grace_key(const char *vskey, const struct ipvs_dest *d, char *buf, size_t len)
{
	char dn[SY_ADDR_STRLEN + 8];

	dest_name(d, dn, sizeof(dn));
	snprintf(buf, len, "%s|%s", vskey, dn);
}

static void grace_track(struct proxy_mode *m, const char *vskey, const struct ipvs_svc *s,
			const struct ipvs_dest *d)
{
	char key[IPVS_KEY_MAX + SY_ADDR_STRLEN + 16];
	struct grace *g;

	grace_key(vskey, d, key, sizeof(key));
	if (hmap_get(&m->grace, key))
		return;
	g = xcalloc(1, sizeof(*g));
	g->key = xstrdup(key);
	g->svc = *s;
	g->dest = *d;
	g->since = sy_now_mono();
	hmap_put(&m->grace, g->key, g);
}

static void grace_forget(struct proxy_mode *m, const char *vskey, const struct ipvs_dest *d)
{
	char key[IPVS_KEY_MAX + SY_ADDR_STRLEN + 16];
	struct grace *g;

	grace_key(vskey, d, key, sizeof(key));
	g = hmap_del(&m->grace, key);
	if (g) {
		sy_free_all(g->key, g);
	}
}

static bool svc_same(const struct ipvs_svc *a, const struct ipvs_svc *b)
{
	return !strcmp(a->sched, b->sched) && a->flags == b->flags &&
	       (!(a->flags & IP_VS_SVC_F_PERSISTENT) || a->timeout == b->timeout);
}

/* The wanted real servers of one existing virtual server. */
static int reconcile_dests(struct proxy_mode *m, const struct vs_item *want,
			   const struct sy_vec *have)
{
	const struct ipvs_svc *s = &want->svc;
	const struct ipvs_dest *hv = have->v;
	enum ipvs_dest_op op;
	int r;

	for (unsigned i = 0; i < want->n_dests; i++) {
		const struct ipvs_dest *w = &want->dests[i];
		const struct ipvs_dest *h = NULL;

		for (unsigned k = 0; k < have->n && !h; k++)
			if (ipvs_dest_same(&hv[k], w))
				h = &hv[k];
		if (ipvs_plan_dest_wanted(w, h) == IPVS_DEST_KEEP)
			continue;
		log_v(4, "IPVS: %s real server %s:%u of %s", h ? "edit" : "add", sy_addr_str(&w->addr),
		      w->port, want->key);
		m->writes++;
		r = h ? ipvs_nl_edit_dest(m->nl, s, w) : ipvs_nl_add_dest(m->nl, s, w);
		if (r < 0)
			return r;
		grace_forget(m, want->key, w);
	}
	for (unsigned k = 0; k < have->n; k++) {
		const struct ipvs_dest *h = &hv[k];
		bool wanted = false;

		for (unsigned i = 0; i < want->n_dests && !wanted; i++)
			wanted = ipvs_dest_same(&want->dests[i], h);
		if (wanted)
			continue;
		op = ipvs_plan_dest_unwanted(s->proto, h);
		if (op == IPVS_DEST_DEL) {
			m->writes++;
			r = ipvs_nl_del_dest(m->nl, s, h);
			if (r < 0)
				return r;
			grace_forget(m, want->key, h);
			continue;
		}
		if (op == IPVS_DEST_DRAIN) {
			struct ipvs_dest z = *h;

			z.weight = 0;
			m->writes++;
			r = ipvs_nl_edit_dest(m->nl, s, &z);
			if (r < 0)
				return r;
			log_v(2, "IPVS: real server %s of %s drained (weight 0)",
			      sy_addr_str(&h->addr), want->key);
		}
		grace_track(m, want->key, s, h);
	}
	return 0;
}

/* Bring one virtual server (by key) in line; have may be NULL (absent). */
static int reconcile_vs(struct proxy_mode *m, const char *key, const struct ipvs_svc *have)
{
	struct vs_item *want = hmap_get(&m->plan.want_vs, key);
	struct sy_vec dl = { 0 };
	int r;

	if (!want) {
		if (!have)
			return 0;
		m->writes++;
		r = ipvs_nl_del_service(m->nl, have);
		log_v(3, "IPVS: deleted virtual server %s", key);
		return r;
	}
	if (!have) {
		log_v(4, "IPVS: add virtual server %s", key);
		m->writes++;
		r = ipvs_nl_add_service(m->nl, &want->svc);
		if (r < 0)
			return r;
		for (unsigned i = 0; i < want->n_dests; i++) {
			m->writes++;
			r = ipvs_nl_add_dest(m->nl, &want->svc, &want->dests[i]);
			if (r < 0)
				return r;
			grace_forget(m, key, &want->dests[i]);
		}
		return 0;
	}
	if (!svc_same(&want->svc, have)) {
		log_v(4, "IPVS: edit virtual server %s (%s/0x%x/%u -> %s/0x%x/%u)", key, have->sched,
		      have->flags, have->timeout, want->svc.sched, want->svc.flags, want->svc.timeout);
		m->writes++;
		r = ipvs_nl_edit_service(m->nl, &want->svc);
		if (r < 0)
			return r;
	}
	r = ipvs_nl_dump_dests(m->nl, have, dest_collect, &dl);
	if (r == 0)
		r = reconcile_dests(m, want, &dl);
	free(dl.v);
	return r;
}

/* Drained real servers: delete those without connections (or too old). */
static int grace_run(struct proxy_mode *m)
{
	struct hmap_iter it;
	struct grace **todo;
	size_t n = 0, cap = hmap_count(&m->grace);
	double now = sy_now_mono();
	void *v;
	int r = 0;

	if (!cap)
		return 0;
	todo = xcalloc(cap, sizeof(*todo));
	hmap_iter_init(&it, &m->grace);
	while (hmap_iter_next(&it, NULL, &v))
		todo[n++] = v;
	for (size_t i = 0; i < n && r == 0; i++) {
		struct grace *g = todo[i];
		struct sy_vec dl = { 0 };
		const struct ipvs_dest *dv, *h = NULL;
		char vskey[IPVS_KEY_MAX];
		const struct vs_item *want;
		bool drop = false;
		int q;

		ipvs_svc_key(&g->svc, vskey, sizeof(vskey));
		want = hmap_get(&m->plan.want_vs, vskey);
		for (unsigned k = 0; want && k < want->n_dests; k++)
			if (ipvs_dest_same(&want->dests[k], &g->dest))
				drop = true;	/* wanted again: reconcile restored it */
		q = drop ? 0 : ipvs_nl_dump_dests(m->nl, &g->svc, dest_collect, &dl);
		dv = dl.v;
		if (q == -ENOENT)
			drop = true;	/* the virtual server went */
		else if (q < 0)
			r = sync_fail(m, q, "reading the real servers of %s: %s", vskey, strerror(-q));
		for (unsigned k = 0; !drop && q == 0 && k < dl.n && !h; k++)
			if (ipvs_dest_same(&dv[k], &g->dest))
				h = &dv[k];
		if (!drop && q == 0 && !h)
			drop = true;	/* someone else removed it */
		if (!drop && h && ipvs_plan_drain_done(h, now - g->since)) {
			m->writes++;
			q = ipvs_nl_del_dest(m->nl, &g->svc, h);
			if (q < 0)
				r = sync_fail(m, q, "deleting drained real server %s:%u of %s: %s",
					      sy_addr_str(&h->addr), h->port, vskey, strerror(-q));
			else
				log_v(2, "IPVS: deleted drained real server %s:%u of %s (%u active, "
				      "%u inactive)", sy_addr_str(&h->addr), h->port, vskey,
				      h->active, h->inactive);
			drop = q == 0;
		} else if (!drop && h && h->weight != 0) {
			drop = true;	/* restored */
		}
		free(dl.v);
		if (drop) {
			hmap_del(&m->grace, g->key);
			sy_free_all(g->key, g);
		}
	}
	free(todo);
	return r;
}

/* ---- addresses and sets --------------------------------------------------- */

static int apply_addrs(struct proxy_mode *m, bool adds)
{
	struct hmap_iter it;
	const char *key;
	int r;

	hmap_iter_init(&it, &m->plan.t_addr);
	while (hmap_iter_next(&it, &key, NULL)) {
		bool want = hmap_get(&m->plan.want_addr, key) != NULL;
		bool have = hmap_get(&m->have_addr, key) != NULL;
		struct sy_addr a;

		if (want == have || want != adds)
			continue;
		if (sy_addr_parse_family(key, m->family, &a) < 0)
			continue;
		log_v(4, "IPVS: %s %s on %s", adds ? "bind" : "unbind", key, IPVS_DEV_NAME);
		m->writes++;
		r = adds ? ipvs_dev_addr_add(&m->dev, &a) : ipvs_dev_addr_del(&m->dev, &a);
		if (r < 0)
			return sync_fail(m, r, "%s %s on %s: %s", adds ? "binding" : "unbinding", key,
					 IPVS_DEV_NAME, strerror(-r));
		if (adds) {
			char *k = xstrdup(key);

			hmap_put(&m->have_addr, k, k);
		} else {
			free(hmap_del(&m->have_addr, key));
		}
	}
	return 0;
}

struct set_op {
	int id;
	bool add;
	const char *entry;
};

static int set_op_cmp(const void *a, const void *b)
{
	const struct set_op *x = a, *y = b;

	if (x->id != y->id)
		return x->id - y->id;
	return (int)x->add - (int)y->add;	/* deletes first */
}

static int apply_sets(struct proxy_mode *m)
{
	struct hmap_iter it;
	const char *key;
	struct set_op *ops;
	size_t n = 0;
	int r;

	ops = xcalloc(hmap_count(&m->plan.t_set) + 1, sizeof(*ops));
	hmap_iter_init(&it, &m->plan.t_set);
	while (hmap_iter_next(&it, &key, NULL)) {
		bool want = hmap_get(&m->plan.want_set, key) != NULL;
		bool have = hmap_get(&m->have_set, key) != NULL;
		const char *bar = strchr(key, '|');

		if (want == have || !bar)
			continue;
		ops[n++] = (struct set_op){ .id = atoi(key), .add = want, .entry = bar + 1 };
	}
	/* grouped by set and operation: libipset then packs consecutive
	 * entries of one set into one netlink message */
	qsort(ops, n, sizeof(*ops), set_op_cmp);
	for (size_t i = 0; i < n; i++) {
		ipvs_set_queue(m->set, ops[i].add, (enum ipvs_set_id)ops[i].id, ops[i].entry);
		log_v(5, "IPVS: ipset %s %s %s", ops[i].add ? "add" : "del",
		      ipvs_set_name(m->family, (enum ipvs_set_id)ops[i].id), ops[i].entry);
	}
	free(ops);
	if (!n)
		return 0;
	r = ipvs_set_commit(m->set);
	if (r < 0)
		return sync_fail(m, r, "ipset update failed: %s", ipvs_set_last_msg(m->set));
	m->writes += (uint64_t)r;
	hmap_iter_init(&it, &m->plan.t_set);
	while (hmap_iter_next(&it, &key, NULL)) {
		bool want = hmap_get(&m->plan.want_set, key) != NULL;
		bool have = hmap_get(&m->have_set, key) != NULL;

		if (want && !have) {
			char *k = xstrdup(key);

			hmap_put(&m->have_set, k, k);
		} else if (!want && have) {
			free(hmap_del(&m->have_set, key));
		}
	}
	return 0;
}

static void have_set_fn(void *arg, enum ipvs_set_id id, const char *entry)
{
	struct proxy_mode *m = arg;
	char key[300], *k;

	snprintf(key, sizeof(key), "%d|%s", (int)id, entry);
	if (hmap_get(&m->have_set, key))
		return;
	k = xstrdup(key);
	hmap_put(&m->have_set, k, k);
	ipvs_touch(&m->plan.t_set, key);
}

/*
 * The kernel's set entries into have_set.  Listing a large set costs as
 * much as filling it, so after a successful sync only the sets whose entry
 * count differs from what we wrote are read again (a hand-made change that
 * keeps the count, e.g. one entry swapped for another, is caught on the
 * next restart or failed sync).
 */
static int read_sets(struct proxy_mode *m)
{
	long kc[IPVS_SET_MAX], mc[IPVS_SET_MAX] = { 0 };
	struct hmap_iter it;
	const char *key;
	bool reread[IPVS_SET_MAX];
	char **drop;
	size_t n = 0;
	int r;

	r = ipvs_set_counts(m->set, kc);
	if (r < 0)
		return r;
	hmap_iter_init(&it, &m->have_set);
	while (hmap_iter_next(&it, &key, NULL)) {
		int id = atoi(key);

		if (id >= 0 && id < IPVS_SET_MAX)
			mc[id]++;
	}
	for (int i = 0; i < IPVS_SET_MAX; i++)
		reread[i] = !m->sets_trusted || kc[i] != mc[i];
	/* forget what we believed about the sets read again; touch the rest */
	drop = xcalloc(hmap_count(&m->have_set) + 1, sizeof(*drop));
	hmap_iter_init(&it, &m->have_set);
	while (hmap_iter_next(&it, &key, NULL)) {
		int id = atoi(key);

		ipvs_touch(&m->plan.t_set, key);
		if (id < 0 || id >= IPVS_SET_MAX || reread[id])
			drop[n++] = (char *)key;
	}
	for (size_t i = 0; i < n; i++)
		free(hmap_del(&m->have_set, drop[i]));
	free(drop);
	for (int i = 0; i < IPVS_SET_MAX; i++) {
		if (!reread[i] || kc[i] <= 0)
			continue;
		log_v(4, "IPVS: reading ipset %s (%ld entries, expected %ld)",
		      ipvs_set_name(m->family, (enum ipvs_set_id)i), kc[i], mc[i]);
		r = ipvs_set_read(m->set, (enum ipvs_set_id)i, have_set_fn, m);
		if (r < 0)
			return r;
	}
	m->sets_trusted = true;
	return 0;
}

/* ---- full and partial sync ------------------------------------------------ */

/* a dump's virtual servers into the struct sy_vec at arg */
static int svc_collect(void *arg, const struct ipvs_svc *s)
{
	sy_vec_push(arg, s, sizeof(*s), 64);
	return 0;
}

/*
 * One dump for both instances.  IPVS has no family filter in its dump: every
 * dump sends every virtual server of both families, so two instances each
 * dumping for their family's full sync pay for the other family's virtual
 * servers too (thousands on a dual-stack node, and on an IPv4-only node
 * the empty IPv6 instance still reads all the IPv4 ones).  So while two
 * instances live, the full sync that dumps keeps the other family's part,
 * and the other instance's full sync uses it in the same sync run
 * (sy_sync_input.run: the daemon syncs the two families back to back;
 * between them only the first instance writes, and only its own family).
 * A later run finds the kept part too old and dumps itself.
 */
static struct {
	unsigned instances;	/* alive */
	uint64_t at;		/* the run whose dump is kept (0: none) */
	int family;		/* of the kept virtual servers */
	struct sy_vec ks;
} shared;

static void shared_drop(void)
{
	free(shared.ks.v);
	shared.ks = (struct sy_vec){ 0 };
	shared.at = 0;
}

struct svc_split {
	int family;
	struct sy_vec *own, *other;	/* other: NULL to skip the other family */
};

static int svc_split_fn(void *arg, const struct ipvs_svc *s)
{
	struct svc_split *sp = arg;

	if (s->addr.family == sp->family)
		return svc_collect(sp->own, s);
	return sp->other ? svc_collect(sp->other, s) : 0;
}

/* The virtual servers of m's family into *ks, for the full sync of run. */
static int read_services(struct proxy_mode *m, uint64_t run, struct sy_vec *ks)
{
	struct sy_vec other = { 0 };
	struct svc_split sp = { .family = m->family, .own = ks };
	int r;

	if (run && shared.at == run && shared.family == m->family) {
		*ks = shared.ks;
		shared.ks = (struct sy_vec){ 0 };
		shared.at = 0;
		log_v(4, "IPVS (%s): %u virtual servers from the other instance's dump of this sync",
		      sy_family_name(m->family), ks->n);
		return 0;
	}
	shared_drop();
	if (run && shared.instances > 1)
		sp.other = &other;
	r = ipvs_nl_dump_services(m->nl, 0, svc_split_fn, &sp);
	if (r < 0) {
		free(other.v);
		return r;
	}
	if (sp.other) {
		shared.ks = other;
		shared.at = run;
		shared.family = m->family == AF_INET ? AF_INET6 : AF_INET;
	}
	return 0;
}

static bool is_node_addr(const struct desired_state *ds, const struct sy_addr *a)
{
	for (unsigned i = 0; i < ds->node.n_nodeport_addrs; i++)
		if (sy_addr_eq(&ds->node.nodeport_addrs[i], a))
			return true;
	return false;
}

static int ensure_infra(struct proxy_mode *m, char *err, size_t errlen)
{
	struct ipvs_ipt_params ip = {
		.family = m->family,
		.mark = 1u << m->cfg->masquerade_bit,
		.masquerade_all = m->cfg->masquerade_all,
		.cluster_cidrs = m->cfg->cluster_cidrs,
		.n_cluster_cidrs = m->cfg->n_cluster_cidrs,
	};
	uint64_t w = 0;
	int r;

	r = ipvs_dev_ifindex(&m->dev);
	if (r == -ENODEV) {
		m->writes++;
		r = ipvs_dev_ensure(&m->dev);
	}
	if (r < 0) {
		snprintf(err, errlen, "cannot create %s: %s", IPVS_DEV_NAME, strerror(-r));
		return r;
	}
	r = ipvs_set_ensure(m->set, &w);
	if (r < 0) {
		snprintf(err, errlen, "cannot create ipsets: %s", ipvs_set_last_msg(m->set));
		return r;
	}
	r = ipvs_ipt_sync(&ip, &w, &m->nat_rules, &m->filter_rules, err, errlen);
	if (w)
		log_v(4, "IPVS: %llu infrastructure writes (device, sets, iptables)",
		      (unsigned long long)w);
	m->writes += w;
	return r;
}

/* The last phase of both syncs: the sets, then unbind the addresses no longer wanted. */
static int sets_and_unbind(struct proxy_mode *m)
{
	int r = apply_sets(m);

	return r < 0 ? r : apply_addrs(m, false);
}

static int full_sync(struct proxy_mode *m, const struct desired_state *ds, uint64_t run)
{
	struct sy_vec ks = { 0 };
	struct ipvs_svc *kv;
	struct hmap_iter it;
	struct hmap kernel;	/* key → kernel virtual server */
	char **kkeys = NULL;
	struct sy_addr *addrs = NULL;
	const char *key;
	void *val;
	char k[IPVS_KEY_MAX], as[SY_ADDR_STRLEN];
	int r, n;

	double t0 = sy_now_mono(), t_infra, t_want, t_read, t_vs;

	r = ensure_infra(m, m->err, sizeof(m->err));
	if (r < 0)
		return r;
	t_infra = sy_now_mono();

	/* rebuild the wanted maps */
	ipvs_plan_clear(&m->plan);
	hmap_iter_init(&it, ds_ports(ds, m->family));
	while (hmap_iter_next(&it, NULL, &val))
		ipvs_plan_port(&m->plan, ds, val, +1);
	t_want = sy_now_mono();

	/* read the kernel */
	ipvs_keys_free(&m->have_addr);
	n = ipvs_dev_addrs(&m->dev, m->family, &addrs);
	if (n < 0)
		return sync_fail(m, n, "reading %s's addresses: %s", IPVS_DEV_NAME, strerror(-n));
	for (int i = 0; i < n; i++) {
		char *kk;

		ipvs_addr_str(&addrs[i], as);
		if (hmap_get(&m->have_addr, as))
			continue;
		kk = xstrdup(as);
		hmap_put(&m->have_addr, kk, kk);
		ipvs_touch(&m->plan.t_addr, as);
	}
	free(addrs);
	r = read_sets(m);
	if (r < 0)
		return sync_fail(m, r, "cannot read ipsets: %s", ipvs_set_last_msg(m->set));
	r = read_services(m, run, &ks);
	if (r < 0) {
		sync_fail(m, r, "reading the virtual servers: %s", strerror(-r));
		goto out;
	}
	hmap_init(&kernel);
	kv = ks.v;
	kkeys = xcalloc(ks.n + 1, sizeof(*kkeys));
	for (unsigned i = 0; i < ks.n; i++) {
		kkeys[i] = xstrdup(ipvs_svc_key(&kv[i], k, sizeof(k)));
		hmap_put(&kernel, kkeys[i], &kv[i]);
	}

	t_read = sy_now_mono();
	r = apply_addrs(m, true);
	if (r < 0)
		goto out;
	/* virtual servers in the kernel: ours or wanted */
	for (unsigned i = 0; i < ks.n; i++) {
		const struct ipvs_svc *s = &kv[i];

		ipvs_addr_str(&s->addr, as);
		if (!hmap_get(&m->plan.want_vs, kkeys[i]) && !hmap_get(&m->have_addr, as) &&
		    !(is_node_addr(ds, &s->addr) && s->port >= NODEPORT_MIN && s->port <= NODEPORT_MAX))
			continue;	/* not ours */
		r = reconcile_vs(m, kkeys[i], s);
		if (r < 0) {
			sync_fail(m, r, "virtual server %s: %s", kkeys[i], strerror(-r));
			goto out;
		}
	}
	/* wanted but absent */
	hmap_iter_init(&it, &m->plan.want_vs);
	while (hmap_iter_next(&it, &key, &val)) {
		if (hmap_get(&kernel, key))
			continue;
		r = reconcile_vs(m, key, NULL);
		if (r < 0) {
			sync_fail(m, r, "virtual server %s: %s", key, strerror(-r));
			goto out;
		}
	}
	t_vs = sy_now_mono();
	r = sets_and_unbind(m);
	log_v(2, "IPVS full sync: infra %.1f ms, desired %.1f ms, kernel read %.1f ms, "
	      "addresses+virtual servers %.1f ms, sets+unbind %.1f ms", (t_infra - t0) * 1e3,
	      (t_want - t_infra) * 1e3, (t_read - t_want) * 1e3, (t_vs - t_read) * 1e3,
	      (sy_now_mono() - t_vs) * 1e3);
out:
	if (kkeys) {
		for (unsigned i = 0; i < ks.n; i++)
			free(kkeys[i]);
		free(kkeys);
		hmap_clear(&kernel);
	}
	free(ks.v);
	return r;
}

static int partial_sync(struct proxy_mode *m, const struct desired_state *ds)
{
	struct hmap_iter it;
	const char *key;
	double t0 = sy_now_mono(), t_want, t_vs;
	unsigned nc;
	const struct ds_change *c = ds_changes(ds, m->family, &nc);	/* this family's only */
	int r;

	for (unsigned i = 0; i < nc; i++) {
		if (c[i].old)
			ipvs_plan_port(&m->plan, ds, c[i].old, -1);
		if (c[i].new)
			ipvs_plan_port(&m->plan, ds, c[i].new, +1);
	}
	t_want = sy_now_mono();
	r = apply_addrs(m, true);
	if (r < 0)
		return r;
	hmap_iter_init(&it, &m->plan.t_vs);
	while (hmap_iter_next(&it, &key, NULL)) {
		struct vs_item *want = hmap_get(&m->plan.want_vs, key);
		struct ipvs_svc id = { 0 }, have;

		if (want)
			id = want->svc;
		else if (ipvs_svc_parse_key(key, &id) < 0 || id.addr.family != m->family)
			continue;	/* "PROTO/addr:port" back into an identity */
		r = ipvs_nl_get_service(m->nl, &id, &have);
		if (r < 0 && r != -ENOENT)
			return sync_fail(m, r, "reading virtual server %s: %s", key, strerror(-r));
		r = reconcile_vs(m, key, r == 0 ? &have : NULL);
		if (r < 0)
			return sync_fail(m, r, "virtual server %s: %s", key, strerror(-r));
	}
	t_vs = sy_now_mono();
	r = sets_and_unbind(m);
	log_v(2, "IPVS partial sync: %u changed ports, desired %.2f ms, addresses+virtual servers "
	      "%.2f ms (%zu touched), sets+unbind %.2f ms, %llu writes", nc,
	      (t_want - t0) * 1e3, (t_vs - t_want) * 1e3, hmap_count(&m->plan.t_vs),
	      (sy_now_mono() - t_vs) * 1e3, (unsigned long long)m->writes);
	return r;
}

static int ipvs_sync(struct proxy_mode *m, const struct sy_sync_input *in, bool full,
		     struct mode_sync_stats *st)
{
	const struct desired_state *ds = in->services;	/* ds_ports(ds, m->family): ours */
	int r;

	m->writes = 0;
	m->err[0] = '\0';
	full = full || !m->ready;
	if (full)
		r = full_sync(m, ds, in->run);
	else
		r = partial_sync(m, ds);
	ipvs_plan_untouch(&m->plan);
	if (r == 0)
		r = grace_run(m);
	/* after a failure the next sync rebuilds and re-reads everything */
	m->ready = r == 0 && (full || m->ready);
	if (r < 0)
		m->sets_trusted = false;
	if (st) {
		st->writes = m->writes;
		st->rules_written = m->writes;
		st->rules_total = hmap_count(&m->plan.want_vs) + hmap_count(&m->plan.want_set);
		st->table_rules[0] = m->filter_rules;	/* filter, nat: PROXY_MODE_XTABLES */
		st->table_rules[1] = m->nat_rules;
		/* drained real servers are deleted by a later call: ask for one soon */
		st->resync_in = hmap_count(&m->grace) ? IPVS_GRACE_RECHECK : 0;
		if (r < 0)
			snprintf(st->err, sizeof(st->err), "%s", m->err);
	}
	return r;
}

/* ---- init / cleanup ------------------------------------------------------- */

static bool kernel_older(int maj, int min)
{
	struct utsname u;
	int a = 0, b = 0;

	if (uname(&u) < 0 || sscanf(u.release, "%d.%d", &a, &b) != 2)
		return false;
	return a < maj || (a == maj && b < min);
}

static int set_sysctls(const struct sy_config *cfg, char *err, size_t errlen)
{
	static const char *const base[][2] = {
		{ "net/ipv4/vs/conntrack", "1" },
		{ "net/ipv4/vs/expire_nodest_conn", "1" },
		{ "net/ipv4/vs/expire_quiescent_template", "1" },
		{ "net/ipv4/ip_forward", "1" },
	};
	int r;

	for (unsigned i = 0; i < ARRAY_SIZE(base); i++) {
		r = sy_sysctl_set(base[i][0], base[i][1]);
		if (r < 0) {
			snprintf(err, errlen, "cannot set %s=%s: %s", base[i][0], base[i][1],
				 strerror(-r));
			return r;
		}
	}
	/* conn_reuse_mode=1 stalls reused connections on kernels 4.1 to 5.8 */
	if (!kernel_older(4, 1) && kernel_older(5, 9))
		sy_sysctl_set("net/ipv4/vs/conn_reuse_mode", "0");
	if (cfg->ipvs_strict_arp) {
		if ((r = sy_sysctl_set("net/ipv4/conf/all/arp_ignore", "1")) < 0 ||
		    (r = sy_sysctl_set("net/ipv4/conf/all/arp_announce", "2")) < 0) {
			snprintf(err, errlen, "cannot set strict ARP: %s", strerror(-r));
			return r;
		}
	}
	return 0;
}

/* Create and delete a scratch virtual server of family with the scheduler. */
static int probe_scheduler(struct ipvs_nl *nl, int family, const char *sched, char *err,
			   size_t errlen)
{
	struct ipvs_svc s = { .proto = IPPROTO_TCP, .port = 1 };
	int r;

	sy_addr_parse_family(family == AF_INET6 ? PROBE_ADDR6 : PROBE_ADDR, family, &s.addr);
	snprintf(s.sched, sizeof(s.sched), "%s", sched);
	ipvs_nl_del_service(nl, &s);	/* a leftover from a crash */
	r = ipvs_nl_add_service_raw(nl, &s);
	if (r == -EAFNOSUPPORT) {
		snprintf(err, errlen, "IPVS in this kernel cannot balance %s (built without "
			 "CONFIG_IP_VS_IPV6)", sy_family_name(family));
		return r;
	}
	if (r == -ENOENT) {
		snprintf(err, errlen, "IPVS scheduler \"%s\" is not available in this kernel "
			 "(module ip_vs_%s missing)", sched, sched);
		return -ENOENT;
	}
	if (r < 0) {
		snprintf(err, errlen, "IPVS scheduler \"%s\": cannot create a virtual server: %s",
			 sched, strerror(-r));
		return r;
	}
	return ipvs_nl_del_service(nl, &s);
}

static void ipvs_free(struct proxy_mode *m)
{
	if (!m)
		return;
	ipvs_nl_close(m->nl);
	ipvs_dev_close(&m->dev);
	ipvs_set_close(m->set);
	ipvs_plan_free(&m->plan);
	ipvs_keys_free(&m->have_addr);
	ipvs_keys_free(&m->have_set);
	clear_grace(&m->grace);
	if (m->counted && --shared.instances < 2)
		shared_drop();
	free(m);
}

static int ipvs_init(struct proxy_mode **ret, const struct sy_config *cfg, int family,
		     const struct sy_report *rep, char *err, size_t errlen)
{
	struct proxy_mode *m;
	const char *sched = cfg->ipvs_scheduler && *cfg->ipvs_scheduler ? cfg->ipvs_scheduler : "rr";
	int r;

	if (family != AF_INET && family != AF_INET6) {
		snprintf(err, errlen, "the IPVS mode programs IPv4 and IPv6 only (not family %d)",
			 family);
		return -EAFNOSUPPORT;
	}
	m = xcalloc(1, sizeof(*m));
	m->cfg = cfg;
	m->family = family;
	ipvs_plan_init(&m->plan, family);
	hmap_init(&m->have_addr);
	hmap_init(&m->have_set);
	hmap_init(&m->grace);
	if (strlen(sched) >= IPVS_SCHED_MAX) {
		snprintf(err, errlen, "IPVS scheduler \"%s\": name too long", sched);
		r = -EINVAL;
		goto fail;
	}
	snprintf(m->plan.sched, sizeof(m->plan.sched), "%s", sched);
	r = ipvs_nl_open(&m->nl);
	if (r < 0) {
		snprintf(err, errlen, "IPVS is not available (generic netlink family \"IPVS\": %s); "
			 "load the ip_vs module", strerror(-r));
		goto fail;
	}
	r = probe_scheduler(m->nl, family, m->plan.sched, err, errlen);
	if (r < 0)
		goto fail;
	r = ipvs_dev_open(&m->dev);
	if (r < 0) {
		snprintf(err, errlen, "rtnetlink: %s", strerror(-r));
		goto fail;
	}
	r = ipvs_set_open(family, &m->set);
	if (r < 0) {
		snprintf(err, errlen, "libipset: %s", strerror(-r));
		goto fail;
	}
	r = set_sysctls(cfg, err, errlen);
	if (r < 0)
		goto fail;
	r = ipvs_nl_set_timeouts(m->nl, (uint32_t)cfg->ipvs_tcp_timeout,
				 (uint32_t)cfg->ipvs_tcpfin_timeout, (uint32_t)cfg->ipvs_udp_timeout);
	if (r < 0) {
		snprintf(err, errlen, "cannot set IPVS timeouts: %s", strerror(-r));
		goto fail;
	}
	sy_report(rep, 'I', "IPVS (%s): scheduler %s, masquerade mark 0x%x", sy_family_name(family),
		  m->plan.sched, 1u << cfg->masquerade_bit);
	m->counted = true;
	shared.instances++;
	*ret = m;
	return 0;
fail:
	ipvs_free(m);
	return r;
}

/*
 * Remove what the IPVS mode created: virtual servers on kube-ipvs0's
 * addresses (and NodePort-range ones on local addresses), kube-ipvs0, the
 * rules, then the sets.  Absent pieces are fine (IPVS may not exist at all).
 */
static int cleanup_family(int family, const struct sy_report *rep)
{
	struct ipvs_nl *nl = NULL;
	struct ipvs_dev dev;
	struct ipvs_set *set = NULL;
	struct sy_vec ks = { 0 };
	struct sy_addr *bound = NULL, *local = NULL;
	int nb = 0, nlo = 0, r, first = 0;
	char err[256] = "";

	if (ipvs_dev_open(&dev) == 0) {
		nb = ipvs_dev_addrs(&dev, family, &bound);
		nlo = ipvs_dev_local_addrs(&dev, family, &local);
		if (nb < 0)
			nb = 0;
		if (nlo < 0)
			nlo = 0;
		ipvs_dev_close(&dev);
	}
	if (ipvs_nl_open(&nl) == 0) {
		if (ipvs_nl_dump_services(nl, family, svc_collect, &ks) == 0) {
			const struct ipvs_svc *kv = ks.v;

			for (unsigned i = 0; i < ks.n; i++) {
				bool ours = false;

				for (int k = 0; k < nb && !ours; k++)
					ours = sy_addr_eq(&bound[k], &kv[i].addr);
				for (int k = 0; k < nlo && !ours; k++)
					ours = sy_addr_eq(&local[k], &kv[i].addr) &&
					       kv[i].port >= NODEPORT_MIN && kv[i].port <= NODEPORT_MAX;
				if (!ours)
					continue;
				r = ipvs_nl_del_service(nl, &kv[i]);
				if (r < 0 && !first)
					first = r;
			}
		}
		ipvs_nl_close(nl);
	}
	sy_free_all(ks.v, bound, local);
	r = ipvs_ipt_cleanup(family, err, sizeof(err));
	if (r < 0) {
		sy_report(rep, 'W', "IPVS cleanup: %s", err);
		if (!first)
			first = r;
	}
	if (ipvs_set_open(family, &set) == 0) {
		r = ipvs_set_destroy_all(set);
		if (r < 0) {
			sy_report(rep, 'W', "IPVS cleanup: ipsets: %s", ipvs_set_last_msg(set));
			if (!first)
				first = r;
		}
		ipvs_set_close(set);
	}
	return first;
}

/*
 * Remove what the IPVS mode created, in both families: virtual servers on
 * kube-ipvs0's addresses (and NodePort-range ones on local addresses),
 * the rules, the sets, then kube-ipvs0.  Absent pieces are fine (IPVS may
 * not exist at all).
 */
static int ipvs_cleanup(const struct sy_config *cfg, const struct sy_report *rep)
{
	static const int families[] = { AF_INET, AF_INET6 };
	struct ipvs_dev dev;
	int r, first = 0;

	(void)cfg;
	for (unsigned i = 0; i < ARRAY_SIZE(families); i++) {
		r = cleanup_family(families[i], rep);
		if (r < 0 && !first)
			first = r;
	}
	if (ipvs_dev_open(&dev) == 0) {
		r = ipvs_dev_delete(&dev);
		if (r < 0 && !first)
			first = r;
		ipvs_dev_close(&dev);
	}
	return first;
}

/* ipvs.minSyncPeriod / ipvs.syncPeriod replace the common periods when set. */
static void ipvs_sync_periods(const struct sy_config *cfg, double *min, double *full)
{
	if (cfg->ipvs_min_sync_period > 0)
		*min = cfg->ipvs_min_sync_period;
	if (cfg->ipvs_sync_period > 0)
		*full = cfg->ipvs_sync_period;
}

static const char *const ipvs_own_devices[] = { IPVS_DEV_NAME, NULL };

const struct proxy_mode_ops ipvs_mode_ops = {
	PROXY_MODE_OPS("ipvs", ipvs),
	PROXY_MODE_XTABLES,
	.sync_periods = ipvs_sync_periods,
	.own_devices = ipvs_own_devices,
};
