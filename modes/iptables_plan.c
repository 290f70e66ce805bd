// SPDX-License-Identifier: Apache-2.0
/*
 * The iptables mode's planner: desired state → chains and rules (structs).
 * Pure: no kernel access.  Per-port results are cached by ds_port serial,
 * so an endpoint change re-plans only that Service port.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <endian.h>
#include <string.h>
#include <arpa/inet.h>
#include "switchyard/config.h"
#include "switchyard/desired.h"
#include "switchyard/model.h"
#include "switchyard/util.h"
#include "iptables_plan.h"

struct ipt_rule *ipt_chain_add(struct ipt_chain *c, const struct ipt_rule *r)
{
	if (c->n_rules == c->cap_rules) {
		c->cap_rules = c->cap_rules ? 2 * c->cap_rules : 4;
		c->rules = xrealloc(c->rules, c->cap_rules * sizeof(*c->rules));
	}
	c->rules[c->n_rules] = *r;
	c->used = true;
	c->encoded = false;
	return &c->rules[c->n_rules++];
}

void ipt_chain_clear(struct ipt_chain *c)
{
	free(c->rules);
	c->rules = NULL;
	c->n_rules = c->cap_rules = 0;
	c->used = false;
	c->encoded = false;
}

static void chain_init(struct ipt_chain *c, enum ipt_table t, const char *name)
{
	size_t l = strlen(name);

	memset(c, 0, sizeof(*c));
	if (l > IPT_CHAIN_MAXLEN)
		l = IPT_CHAIN_MAXLEN;
	memcpy(c->name, name, l);
	c->table = t;
}

static void rules_add(struct ipt_rule **arr, unsigned *n, const struct ipt_rule *r)
{
	/* small per-port arrays: grow by powers of two */
	if (!(*n & (*n - 1)) || !*n)
		*arr = xrealloc(*arr, (*n ? 2 * *n : 1) * sizeof(**arr));
	(*arr)[(*n)++] = *r;
}

static struct ipt_rule rule_jump(const struct ipt_chain *to)
{
	struct ipt_rule r = { .target = IPT_T_JUMP, .jump = to };
	return r;
}

/* The rule form of a (its unused bytes are zero, as sy_addr keeps them). */
static union ipt_addr ua(const struct sy_addr *a)
{
	union ipt_addr u;

	memcpy(u.b, a->b, sizeof(u.b));
	return u;
}

/* match the source CIDR c */
static void rule_src(struct ipt_rule *r, const struct sy_cidr *c)
{
	r->src = ua(&c->addr);
	r->splen = c->plen;
}

/* -s a (the host) */
static void rule_src_host(struct ipt_rule *r, const struct sy_addr *a)
{
	r->src = ua(a);
	r->splen = (uint8_t)sy_addr_bits(a);
}

/* a: the destination host, or NULL for any */
static void rule_dst(struct ipt_rule *r, const struct sy_addr *a, uint8_t proto, uint16_t port)
{
	memset(&r->dst, 0, sizeof(r->dst));
	r->dplen = 0;
	if (a) {
		r->dst = ua(a);
		r->dplen = (uint8_t)sy_addr_bits(a);
	}
	r->proto = proto;
	if (port) {
		r->dport = port;
		r->matches |= IPT_M_DPORT;
	}
}

void ipt_plan_opts_from(struct ipt_plan_opts *o, const struct sy_config *cfg,
			const struct desired_state *ds, int family)
{
	if (family != AF_INET6)
		family = AF_INET;
	memset(o, 0, sizeof(*o));
	o->family = (uint8_t)family;
	o->masq_mark = 1u << (cfg ? cfg->masquerade_bit : 14);
	o->masquerade_all = cfg && cfg->masquerade_all;
	/* each family's proxier sees its own cluster CIDRs (kube-proxy's per-family detectors) */
	for (unsigned i = 0; cfg && i < cfg->n_cluster_cidrs; i++)
		if (cfg->cluster_cidrs[i].addr.family == family)
			o->cluster_cidrs[o->n_cluster_cidrs++] = cfg->cluster_cidrs[i];
	/* localhost NodePorts are IPv4 only: in IPv6 they never work (kube-proxy) */
	o->localhost_nodeports = family == AF_INET && (cfg ? cfg->localhost_nodeports : true);
	o->nodeport_all_local = ds_nodeport_all_local(ds, family);
	o->nodeport_addrs = ds_nodeport_addrs(ds, family, &o->n_nodeport_addrs);
	o->leaf_max = 8;
	if (cfg && o->localhost_nodeports && !o->nodeport_all_local) {
		struct sy_addr lo = sy_addr4_host(0x7f000001);

		for (unsigned i = 0; i < cfg->n_nodeport_cidrs; i++)
			if (sy_cidr_contains(&cfg->nodeport_cidrs[i], &lo))
				o->nodeport_loopback = true;
	}
}

void ipt_plan_init(struct ipt_plan *p, const struct ipt_plan_opts *opts)
{
	memset(p, 0, sizeof(*p));
	p->opts = *opts;
	if (!p->opts.leaf_max)
		p->opts.leaf_max = 8;
	hmap_init(&p->ports);
	chain_init(&p->nat_services, IPT_NAT, "SY-SERVICES");
	chain_init(&p->nat_nodeports, IPT_NAT, "SY-NODEPORTS");
	chain_init(&p->nat_postrouting, IPT_NAT, "SY-POSTROUTING");
	chain_init(&p->nat_mark_masq, IPT_NAT, "SY-MARK-MASQ");
	chain_init(&p->nat_masq_cidr, IPT_NAT, "SY-MASQ-CIDR");
	chain_init(&p->filt_services, IPT_FILTER, "SY-SERVICES");
	chain_init(&p->filt_external, IPT_FILTER, "SY-EXTERNAL-SERVICES");
	chain_init(&p->filt_forward, IPT_FILTER, "SY-FORWARD");
	chain_init(&p->filt_firewall, IPT_FILTER, "SY-FIREWALL");
}

static void tree_free(struct ipt_plan *p)
{
	for (unsigned i = 0; i < p->n_tree; i++)
		free(p->tree[i].rules);
	free(p->tree);
	p->tree = NULL;
	p->n_tree = p->cap_tree = 0;
}

void ipt_port_plan_free(struct ipt_port_plan *pp)
{
	if (!pp)
		return;
	for (unsigned i = 0; i < pp->n_chains; i++)
		free(pp->chains[i].rules);
	sy_free_all(pp->chains, pp->nat_disp, pp->nat_np,
		    pp->filt_disp, pp->filt_ext, pp->name, pp);
}

#define N_GLOBALS 9

/* The global chains, listed once. */
static void globals(struct ipt_plan *p, struct ipt_chain *gl[N_GLOBALS])
{
	struct ipt_chain *g[N_GLOBALS] = {
		&p->nat_services, &p->nat_nodeports, &p->nat_postrouting, &p->nat_mark_masq,
		&p->nat_masq_cidr, &p->filt_services, &p->filt_external, &p->filt_forward,
		&p->filt_firewall,
	};

	memcpy(gl, g, sizeof(g));
}

/* The global chains and dispatch trees, rebuilt by every plan. */
static void globals_clear(struct ipt_plan *p)
{
	struct ipt_chain *gl[N_GLOBALS];

	globals(p, gl);
	for (unsigned i = 0; i < N_GLOBALS; i++)
		ipt_chain_clear(gl[i]);
	tree_free(p);
}

/*
 * A chain rebuilt with exactly the rules of its previous version keeps that
 * version's encoding: the writer moves its bytes instead of encoding it
 * again (ipt_blob_patch; jumps are re-pointed from the rules there).  A
 * rule naming a recent list is not compared (its name lives in another
 * chain that may have been replaced at the same address).
 */
/* Field by field: the structs' padding is not initialised. */
static bool rule_equal(const struct ipt_rule *a, const struct ipt_rule *b)
{
	return !memcmp(a->src.b, b->src.b, 16) && a->splen == b->splen &&
	       !memcmp(a->dst.b, b->dst.b, 16) && a->dplen == b->dplen &&
	       a->proto == b->proto && a->inv == b->inv && a->target == b->target &&
	       a->matches == b->matches && a->dport == b->dport && a->dport_hi == b->dport_hi &&
	       a->to_port == b->to_port && a->prob == b->prob && a->seconds == b->seconds &&
	       a->mark == b->mark && a->mark_mask == b->mark_mask &&
	       !memcmp(a->to_addr.b, b->to_addr.b, 16) && a->jump == b->jump &&
	       a->recent == b->recent && a->comment == b->comment;
}

static void carry_encoding(struct ipt_chain *c, const struct ipt_chain *old)
{
	if (!old->encoded || old->n_rules != c->n_rules || old->table != c->table ||
	    strcmp(old->name, c->name))
		return;
	for (unsigned i = 0; i < c->n_rules; i++)
		if (c->rules[i].recent || !rule_equal(&c->rules[i], &old->rules[i]))
			return;
	c->encoded = true;
	c->enc_gen = old->enc_gen;
	c->enc_off = old->enc_off;
	c->enc_size = old->enc_size;
}

/* The previous build's global and tree chains, kept until the new ones exist. */
struct plan_prev {
	struct ipt_chain gl[N_GLOBALS];
	struct ipt_chain *tree;
	unsigned n_tree;
};

static void prev_take(struct ipt_plan *p, struct plan_prev *pv)
{
	struct ipt_chain *gl[N_GLOBALS];

	globals(p, gl);
	for (unsigned i = 0; i < N_GLOBALS; i++) {
		pv->gl[i] = *gl[i];
		gl[i]->rules = NULL;
		gl[i]->n_rules = gl[i]->cap_rules = 0;
		gl[i]->used = gl[i]->encoded = false;
	}
	pv->tree = p->tree;
	pv->n_tree = p->n_tree;
	p->tree = NULL;
	p->n_tree = p->cap_tree = 0;
}

static void prev_carry_free(struct ipt_plan *p, struct plan_prev *pv)
{
	struct ipt_chain *gl[N_GLOBALS];
	struct hmap old[IPT_NTABLES];

	globals(p, gl);
	for (unsigned i = 0; i < N_GLOBALS; i++) {
		carry_encoding(gl[i], &pv->gl[i]);
		free(pv->gl[i].rules);
	}
	for (int t = 0; t < IPT_NTABLES; t++)
		hmap_init(&old[t]);
	for (unsigned i = 0; i < pv->n_tree; i++)
		if (pv->tree[i].encoded && pv->tree[i].table < IPT_NTABLES)
			hmap_put(&old[pv->tree[i].table], pv->tree[i].name, &pv->tree[i]);
	for (unsigned i = 0; i < p->n_tree; i++) {
		const struct ipt_chain *o = p->tree[i].table < IPT_NTABLES ?
			hmap_get(&old[p->tree[i].table], p->tree[i].name) : NULL;
		if (o)
			carry_encoding(&p->tree[i], o);
	}
	for (int t = 0; t < IPT_NTABLES; t++)
		hmap_clear(&old[t]);
	for (unsigned i = 0; i < pv->n_tree; i++)
		free(pv->tree[i].rules);
	free(pv->tree);
}

void ipt_plan_fini(struct ipt_plan *p)
{
	struct hmap_iter it;
	void *v;

	hmap_iter_init(&it, &p->ports);
	while (hmap_iter_next(&it, NULL, &v))
		ipt_port_plan_free(v);
	hmap_clear(&p->ports);
	globals_clear(p);
	free(p->pc);
	free(p->dying);
	free(p->born);
	p->pc = NULL;
	p->dying = NULL;
	p->born = NULL;
	p->n_pc = p->cap_pc = p->n_dying = p->cap_dying = p->n_born = p->cap_born = 0;
}

/* ---- one Service port ---- */

static struct ipt_chain *port_chain(struct ipt_port_plan *pp, const char *prefix, const char *hashin)
{
	struct ipt_chain *c = &pp->chains[pp->n_chains++];

	memset(c, 0, sizeof(*c));
	c->table = IPT_NAT;
	ipt_chain_name(c->name, prefix, hashin);
	c->used = true;
	return c;
}

/*
 * Rules of a SVC/SVL chain over eps.  An endpoint with a SEP chain is
 * reached through it; one without (remote, no affinity: it can never be
 * the client itself, so no hairpin mark is needed) is DNATed right here.
 */
static void fill_lb_chain(struct ipt_chain *c, const struct ds_port *dp, const struct ds_ep *eps,
			  unsigned n, struct ipt_chain *const *seps)
{
	struct ipt_rule r;

	if (dp->affinity_timeout) {
		for (unsigned i = 0; i < n; i++) {
			r = rule_jump(seps[i]);
			r.matches = IPT_M_RCHECK;
			r.seconds = dp->affinity_timeout;
			r.recent = seps[i];
			ipt_chain_add(c, &r);
		}
	}
	for (unsigned i = 0; i < n; i++) {
		if (seps[i]) {
			r = rule_jump(seps[i]);
		} else {
			memset(&r, 0, sizeof(r));
			r.target = IPT_T_DNAT;
			r.proto = dp->proto;
			r.to_addr = ua(&eps[i].addr);
			r.to_port = eps[i].port;
		}
		if (i + 1 < n) {
			r.matches = IPT_M_STAT;
			r.prob = ipt_prob_inv(n - i);
		}
		ipt_chain_add(c, &r);
	}
}

/*
 * Only an endpoint on this node can send hairpin traffic (a pod reaching
 * itself through its Service), so only those need an endpoint chain with
 * the masquerade mark; an endpoint whose slice names no node might be ours.
 */
static bool may_hairpin(const struct ds_ep *e)
{
	return e->local || (e->flags & EP_NODE_UNKNOWN);
}

/*
 * A --nodeport-addresses address this plan's NodePorts answer on: of its
 * family, and not loopback where localhost NodePorts are off (always in
 * IPv6, where they never work: kube-proxy skips ::1 the same way).
 */
static bool nodeport_addr_ok(const struct ipt_plan_opts *o, const struct sy_addr *a)
{
	if (a->family != o->family)
		return false;
	return !sy_addr_is_loopback(a) || o->localhost_nodeports;
}

static int ep_index(const struct ds_ep *eps, unsigned n, const struct ds_ep *e)
{
	for (unsigned i = 0; i < n; i++)
		if (sy_addr_eq(&eps[i].addr, &e->addr) && eps[i].port == e->port)
			return (int)i;
	return -1;
}

struct ipt_port_plan *ipt_port_plan_new(const struct ipt_plan *p, const struct ds_port *dp)
{
	const struct ipt_plan_opts *o = &p->opts;
	struct ipt_port_plan *pp = xcalloc(1, sizeof(*pp));
	const char *proto = dp->proto == IPPROTO_UDP ? "udp" : dp->proto == IPPROTO_SCTP ? "sctp" : "tcp";
	char spn[512], buf[600];
	size_t spnl;
	unsigned n_int, n_ext;

	ds_port_internal_eps(dp, &n_int);
	ds_port_external_eps(dp, &n_ext);
	bool has_eps = dp->n_cluster_eps || dp->n_local_eps;
	bool external = ds_port_has_external(dp);
	struct ipt_chain **sep_c = NULL, **sep_l = NULL, *svc = NULL, *svl = NULL, *ext = NULL, *fw = NULL;
	const struct ds_ep **sep_ep;
	struct ipt_rule r;

	pp->name = xstrdup(dp->name);
	pp->serial = dp->serial;

	/* kube-proxy's ServicePortName: "ns/name:port", or "ns/name" when unnamed */
	snprintf(spn, sizeof(spn), "%s", dp->name);
	spnl = strlen(spn);
	if (spnl && spn[spnl - 1] == ':')
		spn[--spnl] = 0;

	pp->chains = xcalloc(4 + dp->n_cluster_eps + dp->n_local_eps, sizeof(*pp->chains));
	sep_c = xcalloc(dp->n_cluster_eps + 1, sizeof(*sep_c));
	sep_l = xcalloc(dp->n_local_eps + 1, sizeof(*sep_l));
	sep_ep = xcalloc(dp->n_cluster_eps + dp->n_local_eps + 1, sizeof(*sep_ep));

	bool need_svc = dp->n_cluster_eps && (!dp->itp_local || (external && has_eps));
	bool need_svl = dp->n_local_eps && (dp->itp_local || (external && dp->etp_local));
	bool need_ext = external && has_eps;

	/* endpoint chains: one per distinct endpoint used */
	if (need_svc || need_svl) {
		for (unsigned i = 0; i < dp->n_cluster_eps && need_svc; i++) {
			const struct ds_ep *e = &dp->cluster_eps[i];
			if (!dp->affinity_timeout && !may_hairpin(e))
				continue;
			snprintf(buf, sizeof(buf), "%s%s%s:%u", spn, proto, sy_addr_str(&e->addr), e->port);
			sep_ep[pp->n_chains] = e;
			sep_c[i] = port_chain(pp, "SY-SEP-", buf);
		}
		for (unsigned i = 0; i < dp->n_local_eps && need_svl; i++) {
			const struct ds_ep *e = &dp->local_eps[i];
			int j = need_svc ? ep_index(dp->cluster_eps, dp->n_cluster_eps, e) : -1;
			if (!dp->affinity_timeout && !may_hairpin(e))
				continue;
			if (j >= 0 && sep_c[j]) {
				sep_l[i] = sep_c[j];
				continue;
			}
			snprintf(buf, sizeof(buf), "%s%s%s:%u", spn, proto, sy_addr_str(&e->addr), e->port);
			sep_ep[pp->n_chains] = e;
			sep_l[i] = port_chain(pp, "SY-SEP-", buf);
		}
		/* SEP rules: hairpin mark, DNAT (+ affinity --set) */
		for (unsigned i = 0; i < pp->n_chains; i++) {
			struct ipt_chain *c = &pp->chains[i];
			const struct ds_ep *e = sep_ep[i];
			r = rule_jump(&p->nat_mark_masq);
			rule_src_host(&r, &e->addr);
			ipt_chain_add(c, &r);
			memset(&r, 0, sizeof(r));
			r.target = IPT_T_DNAT;
			r.proto = dp->proto;
			r.to_addr = ua(&e->addr);
			r.to_port = e->port;
			if (dp->affinity_timeout) {
				r.matches |= IPT_M_RSET;
				r.recent = c;
			}
			ipt_chain_add(c, &r);
		}
	}
	snprintf(buf, sizeof(buf), "%s%s", spn, proto);
	if (need_svc) {
		svc = port_chain(pp, "SY-SVC-", buf);
		fill_lb_chain(svc, dp, dp->cluster_eps, dp->n_cluster_eps, sep_c);
	}
	if (need_svl) {
		svl = port_chain(pp, "SY-SVL-", buf);
		fill_lb_chain(svl, dp, dp->local_eps, dp->n_local_eps, sep_l);
	}
	const struct ipt_chain *int_chain = dp->itp_local ? svl : svc;
	const struct ipt_chain *ext_chain = dp->etp_local ? svl : svc;

	if (need_ext) {
		ext = port_chain(pp, "SY-EXT-", buf);
		if (!dp->etp_local) {
			r = rule_jump(&p->nat_mark_masq);
			ipt_chain_add(ext, &r);
		} else if (svc) {
			/* pod and node traffic may use cluster endpoints (kube-proxy) */
			for (unsigned i = 0; i < o->n_cluster_cidrs; i++) {
				r = rule_jump(svc);
				rule_src(&r, &o->cluster_cidrs[i]);
				ipt_chain_add(ext, &r);
			}
			r = rule_jump(&p->nat_mark_masq);
			r.matches = IPT_M_SRC_LOCAL;
			ipt_chain_add(ext, &r);
			r = rule_jump(svc);
			r.matches = IPT_M_SRC_LOCAL;
			ipt_chain_add(ext, &r);
		}
		if (ext_chain) {
			r = rule_jump(ext_chain);
			ipt_chain_add(ext, &r);
		}
		if (dp->n_lb_source_ranges && dp->n_lb_ips) {
			fw = port_chain(pp, "SY-FW-", buf);
			for (unsigned i = 0; i < dp->n_lb_source_ranges; i++) {
				r = rule_jump(ext);
				rule_src(&r, &dp->lb_source_ranges[i]);
				ipt_chain_add(fw, &r);
			}
		}
	}

	/* nat dispatch: cluster IP */
	if (sy_addr_is_set(&dp->cluster_ip) && int_chain) {
		if (o->masquerade_all || o->n_cluster_cidrs) {
			r = rule_jump(o->masquerade_all || o->n_cluster_cidrs == 1 ?
				      &p->nat_mark_masq : &p->nat_masq_cidr);
			if (!o->masquerade_all && o->n_cluster_cidrs == 1) {
				rule_src(&r, &o->cluster_cidrs[0]);
				r.inv = IPT_R_INV_SRC;
			}
			rule_dst(&r, &dp->cluster_ip, dp->proto, dp->port);
			rules_add(&pp->nat_disp, &pp->n_nat_disp, &r);
		}
		r = rule_jump(int_chain);
		rule_dst(&r, &dp->cluster_ip, dp->proto, dp->port);
		rules_add(&pp->nat_disp, &pp->n_nat_disp, &r);
	}
	if (ext) {
		for (unsigned i = 0; i < dp->n_external_ips; i++) {
			r = rule_jump(ext);
			rule_dst(&r, &dp->external_ips[i], dp->proto, dp->port);
			rules_add(&pp->nat_disp, &pp->n_nat_disp, &r);
		}
		for (unsigned i = 0; i < dp->n_lb_ips; i++) {
			r = rule_jump(fw ? fw : ext);
			rule_dst(&r, &dp->lb_ips[i], dp->proto, dp->port);
			rules_add(&pp->nat_disp, &pp->n_nat_disp, &r);
		}
		if (dp->node_port) {
			r = rule_jump(ext);
			rule_dst(&r, NULL, dp->proto, dp->node_port);
			rules_add(&pp->nat_np, &pp->n_nat_np, &r);
		}
	}

	/* filter: REJECT when no endpoints at all, DROP when none for this traffic */
	uint8_t int_verdict = !has_eps ? IPT_T_REJECT : !n_int ? IPT_T_DROP : 0;
	uint8_t ext_verdict = !has_eps ? IPT_T_REJECT : !n_ext ? IPT_T_DROP : 0;
	memset(&r, 0, sizeof(r));
	if (int_verdict && sy_addr_is_set(&dp->cluster_ip)) {
		r.target = int_verdict;
		rule_dst(&r, &dp->cluster_ip, dp->proto, dp->port);
		rules_add(&pp->filt_disp, &pp->n_filt_disp, &r);
	}
	for (unsigned i = 0; i < dp->n_external_ips + dp->n_lb_ips; i++) {
		struct sy_addr a = i < dp->n_external_ips ? dp->external_ips[i] :
			dp->lb_ips[i - dp->n_external_ips];
		bool is_lb = i >= dp->n_external_ips;
		uint8_t v = ext_verdict ? ext_verdict : (is_lb && fw) ? IPT_T_DROP : 0;
		if (!v)
			continue;
		memset(&r, 0, sizeof(r));
		r.target = v;
		rule_dst(&r, &a, dp->proto, dp->port);
		rules_add(&pp->filt_disp, &pp->n_filt_disp, &r);
	}
	/* the health-check node port answers even behind a default-DROP INPUT policy */
	if (dp->hc_node_port) {
		memset(&r, 0, sizeof(r));
		r.target = IPT_T_ACCEPT;
		r.matches = IPT_M_DST_LOCAL;
		rule_dst(&r, NULL, IPPROTO_TCP, dp->hc_node_port);
		rules_add(&pp->filt_ext, &pp->n_filt_ext, &r);
	}
	if (ext_verdict && dp->node_port) {
		if (o->nodeport_all_local) {
			memset(&r, 0, sizeof(r));
			r.target = ext_verdict;
			r.matches = IPT_M_DST_LOCAL;
			rule_dst(&r, NULL, dp->proto, dp->node_port);
			rules_add(&pp->filt_ext, &pp->n_filt_ext, &r);
		} else {
			for (unsigned i = 0; i <= o->n_nodeport_addrs; i++) {
				struct sy_addr a = sy_addr4_host(0x7f000001);
				if (i < o->n_nodeport_addrs)
					a = o->nodeport_addrs[i];
				else if (!o->nodeport_loopback)
					break;
				if (a.family != o->family)
					continue;
				memset(&r, 0, sizeof(r));
				r.target = ext_verdict;
				rule_dst(&r, &a, dp->proto, dp->node_port);
				rules_add(&pp->filt_ext, &pp->n_filt_ext, &r);
			}
		}
	}
	free(sep_c);
	free(sep_l);
	free(sep_ep);
	/*
	 * the plan lives until the port changes: no doubling slack (a Service
	 * chain of 11 rules held 16; at 10,000 Services 6.4 MB of peak RSS)
	 */
	for (unsigned i = 0; i < pp->n_chains; i++) {
		struct ipt_chain *c = &pp->chains[i];

		c->rules = sy_trim(c->rules, c->n_rules, &c->cap_rules, sizeof(*c->rules));
	}
	return pp;
}

/* ---- dispatch trees ---- */

/*
 * Destination addresses as 128-bit keys, left-aligned (an IPv4 address in
 * the top 32 bits), so one tree code splits IPv4 and IPv6 prefixes.
 */
typedef unsigned __int128 tkey;

struct disp_ref {
	const struct ipt_rule *r;
	tkey addr;
	uint32_t seq;
};

/* Two big-endian words, not a 16-step byte loop (run for every dispatch rule). */
static tkey key_of(const union ipt_addr *a)
{
	uint64_t hi, lo;

	memcpy(&hi, a->b, 8);
	memcpy(&lo, a->b + 8, 8);
	return (tkey)be64toh(hi) << 64 | be64toh(lo);
}

static union ipt_addr addr_of(tkey k)
{
	union ipt_addr a;
	uint64_t hi = htobe64((uint64_t)(k >> 64)), lo = htobe64((uint64_t)k);

	memcpy(a.b, &hi, 8);
	memcpy(a.b + 8, &lo, 8);
	return a;
}

static unsigned clz128(tkey x)
{
	uint64_t hi = (uint64_t)(x >> 64), lo = (uint64_t)x;

	return hi ? (unsigned)__builtin_clzll(hi) : 64 + (unsigned)__builtin_clzll(lo);
}

static int disp_cmp(const void *a, const void *b)
{
	const struct disp_ref *x = a, *y = b;
	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * SY-DST-<prefix>-<len>: the IPv4 prefix in hex; an IPv6 prefix does not
 * fit in a chain name, so it is named by its hash as the port chains are.
 */
static struct ipt_chain *tree_chain(struct ipt_plan *p, enum ipt_table t, tkey prefix,
				    unsigned plen)
{
	struct ipt_chain *c;
	char name[IPT_CHAIN_MAXLEN + 1];

	if (p->n_tree == p->cap_tree) {
		/* chains are referenced by pointer: the array is sized up front */
		return NULL;
	}
	c = &p->tree[p->n_tree++];
	if (p->opts.family == AF_INET6) {
		union ipt_addr a = addr_of(prefix);
		char buf[INET6_ADDRSTRLEN + 8], txt[INET6_ADDRSTRLEN];

		inet_ntop(AF_INET6, &a.v6, txt, sizeof(txt));
		snprintf(buf, sizeof(buf), "%s/%u", txt, plen);
		ipt_chain_name(name, "SY-DST-", buf);
	} else {
		snprintf(name, sizeof(name), "SY-DST-%08X-%u", (uint32_t)(prefix >> 96), plen);
	}
	chain_init(c, t, name);
	c->used = true;
	return c;
}

static unsigned distinct(const struct disp_ref *d, unsigned n)
{
	unsigned k = n ? 1 : 0;
	for (unsigned i = 1; i < n; i++)
		k += d[i].addr != d[i - 1].addr;
	return k;
}

static void tree_build(struct ipt_plan *p, enum ipt_table t, struct ipt_chain *c,
		       const struct disp_ref *d, unsigned n)
{
	unsigned bits = p->opts.family == AF_INET6 ? 128 : 32;
	unsigned cp, nb, shift, i, j;

	if (distinct(d, n) <= p->opts.leaf_max) {
		for (i = 0; i < n; i++)
			ipt_chain_add(c, d[i].r);
		return;
	}
	cp = clz128(d[0].addr ^ d[n - 1].addr);	/* differ, so < bits */
	nb = cp + 4 <= bits ? 4 : bits - cp;
	shift = 128 - cp - nb;
	for (i = 0; i < n; i = j) {
		tkey g = d[i].addr >> shift;
		for (j = i + 1; j < n && d[j].addr >> shift == g; j++)
			;
		if (distinct(d + i, j - i) <= 2) {
			for (unsigned k = i; k < j; k++)
				ipt_chain_add(c, d[k].r);
			continue;
		}
		unsigned plen = cp + nb;
		tkey prefix = g << shift;
		struct ipt_chain *child = tree_chain(p, t, prefix, plen);
		if (!child) {	/* cannot happen: capacity is an upper bound */
			for (unsigned k = i; k < j; k++)
				ipt_chain_add(c, d[k].r);
			continue;
		}
		struct ipt_rule r = rule_jump(child);
		r.dst = addr_of(prefix);
		r.dplen = (uint8_t)plen;
		ipt_chain_add(c, &r);
		tree_build(p, t, child, d + i, j - i);
	}
}

static void tree_make(struct ipt_plan *p, enum ipt_table t, struct ipt_chain *root,
		      struct disp_ref *d, unsigned n)
{
	if (!n)
		return;
	qsort(d, n, sizeof(*d), disp_cmp);
	tree_build(p, t, root, d, n);
}

/*
 * SY-NODEPORTS: with many NodePorts, a tree of port ranges (16 ways per
 * level, per protocol) instead of one rule per NodePort.
 */
static int np_cmp(const void *a, const void *b)
{
	const struct ipt_rule *x = *(const struct ipt_rule *const *)a, *y = *(const struct ipt_rule *const *)b;
	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	return x->dport < y->dport ? -1 : x->dport > y->dport;
}

/* A new tree chain NAME for proto's ports lo..hi, jumped to from parent. */
static struct ipt_chain *np_child(struct ipt_plan *p, struct ipt_chain *parent, const char *name,
				  uint8_t proto, uint16_t lo, uint16_t hi)
{
	struct ipt_chain *child = &p->tree[p->n_tree++];
	struct ipt_rule j;

	chain_init(child, IPT_NAT, name);
	child->used = true;
	j = rule_jump(child);
	j.proto = proto;
	j.matches = IPT_M_DPORT;
	j.dport = lo;
	j.dport_hi = hi;
	ipt_chain_add(parent, &j);
	return child;
}

static void np_build(struct ipt_plan *p, struct ipt_chain *c, const struct ipt_rule **r, unsigned n)
{
	unsigned chunk = (n + 15) / 16;

	if (n <= 16) {
		for (unsigned i = 0; i < n; i++)
			ipt_chain_add(c, r[i]);
		return;
	}
	for (unsigned i = 0; i < n; i += chunk) {
		unsigned m = n - i < chunk ? n - i : chunk;
		uint16_t lo = r[i]->dport, hi = r[i + m - 1]->dport;
		char name[40];

		snprintf(name, sizeof(name), "SY-DST-P%u-%u-%u", r[i]->proto, lo, hi);
		/* (duplicate NodePorts could repeat a range: names must stay unique) */
		if (m == 1 || lo == hi || !strcmp(name, c->name) || p->n_tree == p->cap_tree) {
			for (unsigned k = 0; k < m; k++)
				ipt_chain_add(c, r[i + k]);
			continue;
		}
		np_build(p, np_child(p, c, name, r[i]->proto, lo, hi), r + i, m);
	}
}

static void np_tree(struct ipt_plan *p, const struct ipt_rule **r, unsigned n)
{
	unsigned i, j;

	qsort(r, n, sizeof(*r), np_cmp);
	bool mixed = n && r[0]->proto != r[n - 1]->proto;
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && r[j]->proto == r[i]->proto; j++)
			;
		if (!mixed || j - i <= 16 || p->n_tree == p->cap_tree) {
			np_build(p, &p->nat_nodeports, r + i, j - i);
			continue;
		}
		/* several protocols: one subtree each, so the top stays small */
		char name[40];
		snprintf(name, sizeof(name), "SY-DST-P%u-%u-%u", r[i]->proto, r[i]->dport, r[j - 1]->dport);
		np_build(p, np_child(p, &p->nat_nodeports, name, r[i]->proto, r[i]->dport, r[j - 1]->dport),
			 r + i, j - i);
	}
}

/* ---- the whole plan ---- */

static void builtin_add(struct ipt_plan *p, enum ipt_table t, unsigned hook, struct ipt_rule r)
{
	p->builtin[t][hook][p->n_builtin[t][hook]++] = r;
}

struct plan_totals {
	uint64_t rules, chains;
};

static void count_chain(void *arg, struct ipt_chain *c)
{
	struct plan_totals *t = arg;

	t->rules += c->n_rules;
	t->chains++;
}

static int chain_ptr_cmp(const void *a, const void *b)
{
	return strcmp((*(struct ipt_chain *const *)a)->name, (*(struct ipt_chain *const *)b)->name);
}

/* pp leaves the plan: its chains leave p->pc in sorted_update, then it is freed. */
static void port_dying(struct ipt_plan *p, struct ipt_port_plan *pp)
{
	for (unsigned k = 0; k < pp->n_chains; k++)
		pp->chains[k].gone = true;
	if (p->n_dying == p->cap_dying) {
		p->cap_dying = p->cap_dying ? 2 * p->cap_dying : 16;
		p->dying = xrealloc(p->dying, p->cap_dying * sizeof(*p->dying));
	}
	p->dying[p->n_dying++] = pp;
}

static void port_born(struct ipt_plan *p, struct ipt_port_plan *pp)
{
	for (unsigned k = 0; k < pp->n_chains; k++) {
		if (p->n_born == p->cap_born) {
			p->cap_born = p->cap_born ? 2 * p->cap_born : 64;
			p->born = xrealloc(p->born, p->cap_born * sizeof(*p->born));
		}
		p->born[p->n_born++] = &pp->chains[k];
	}
}

/* p->pc: without the dying ports' chains, with the born ones merged in. */
static void sorted_update(struct ipt_plan *p)
{
	unsigned n = 0;

	if (p->n_dying) {
		for (unsigned i = 0; i < p->n_pc; i++)
			if (!p->pc[i]->gone)
				p->pc[n++] = p->pc[i];
		p->n_pc = n;
	}
	if (p->n_born) {
		unsigned total = p->n_pc + p->n_born, i, j, o;
		struct ipt_chain **m;

		qsort(p->born, p->n_born, sizeof(*p->born), chain_ptr_cmp);
		if (total > p->cap_pc)
			p->cap_pc = total + total / 8 + 16;
		m = xcalloc(p->cap_pc, sizeof(*m));
		for (i = j = o = 0; i < p->n_pc || j < p->n_born;)
			m[o++] = j >= p->n_born || (i < p->n_pc &&
					       strcmp(p->pc[i]->name, p->born[j]->name) <= 0) ?
				 p->pc[i++] : p->born[j++];
		free(p->pc);
		p->pc = m;
		p->n_pc = total;
	}
	for (unsigned i = 0; i < p->n_dying; i++)
		ipt_port_plan_free(p->dying[i]);
	p->n_dying = p->n_born = 0;
}

void ipt_plan_sorted_chains(struct ipt_plan *p, enum ipt_table t, struct ipt_chain ***ret,
			    unsigned *ret_n)
{
	struct ipt_chain *gl[N_GLOBALS], **g, **out;
	unsigned ng = 0, n, i, j;

	globals(p, gl);
	g = xcalloc(N_GLOBALS + p->n_tree + 1, sizeof(*g));
	for (i = 0; i < N_GLOBALS; i++)
		if (gl[i]->used && gl[i]->table == t)
			g[ng++] = gl[i];
	for (i = 0; i < p->n_tree; i++)
		if (p->tree[i].table == t)
			g[ng++] = &p->tree[i];
	qsort(g, ng, sizeof(*g), chain_ptr_cmp);
	if (t != IPT_NAT) {
		*ret = g;
		*ret_n = ng;
		return;
	}
	out = xcalloc(p->n_pc + ng + 1, sizeof(*out));
	for (i = j = n = 0; i < p->n_pc || j < ng;)
		out[n++] = j >= ng || (i < p->n_pc && strcmp(p->pc[i]->name, g[j]->name) <= 0) ?
			   p->pc[i++] : g[j++];
	free(g);
	*ret = out;
	*ret_n = n;
}

int ipt_plan_build(struct ipt_plan *p, const struct desired_state *ds)
{
	const struct ipt_plan_opts *o = &p->opts;
	struct hmap_iter it;
	const char *key;
	void *v;
	unsigned n_nat = 0, n_filt = 0, k;
	struct ipt_rule r;

	p->rebuilt_ports = 0;
	/* mark (this build's generation) & sweep the per-port cache */
	p->sweep_gen++;
	const struct hmap *ports = ds_ports(ds, p->opts.family);

	hmap_iter_init(&it, ports);
	while (hmap_iter_next(&it, &key, &v)) {
		const struct ds_port *dp = v;
		struct ipt_port_plan *pp = hmap_get(&p->ports, key);
		if (!pp || pp->serial != dp->serial) {
			struct ipt_port_plan *np = ipt_port_plan_new(p, dp);
			if (pp) {
				hmap_del(&p->ports, pp->name);
				port_dying(p, pp);
			}
			port_born(p, np);
			hmap_put(&p->ports, np->name, np);
			pp = np;
			p->rebuilt_ports++;
		}
		pp->seen = p->sweep_gen;
		n_nat += pp->n_nat_disp + pp->n_nat_np;
		n_filt += pp->n_filt_disp;
	}
	if (hmap_count(&p->ports) > hmap_count(ports)) {
		/* some port went: collect first, delete after */
		struct ipt_port_plan **gone = NULL;
		unsigned n_gone = 0, cap = 0;
		hmap_iter_init(&it, &p->ports);
		while (hmap_iter_next(&it, NULL, &v)) {
			struct ipt_port_plan *pp = v;
			if (pp->seen == p->sweep_gen)
				continue;
			if (n_gone == cap) {
				cap = cap ? 2 * cap : 16;
				gone = xrealloc(gone, cap * sizeof(*gone));
			}
			gone[n_gone++] = pp;
		}
		for (unsigned i = 0; i < n_gone; i++) {
			hmap_del(&p->ports, gone[i]->name);
			port_dying(p, gone[i]);
		}
		free(gone);
	}
	/*
	 * No port came, went or changed since the last build: the global
	 * chains and trees (a function of the ports and the options, which
	 * did not change either: ipt_plan_init starts afresh on new options)
	 * are what they were.  The other family's changes cost this much.
	 */
	p->unchanged = p->built && !p->rebuilt_ports && !p->n_dying;
	if (p->unchanged)
		return 0;
	p->built = true;
	sorted_update(p);

	/* global chains (the previous ones kept until compared) */
	struct plan_prev prev;
	prev_take(p, &prev);
	globals_clear(p);
	memset(p->n_builtin, 0, sizeof(p->n_builtin));
	p->nat_services.used = p->filt_services.used = p->filt_external.used = true;

	memset(&r, 0, sizeof(r));
	r.target = IPT_T_MARK;
	r.mark = r.mark_mask = o->masq_mark;
	ipt_chain_add(&p->nat_mark_masq, &r);

	memset(&r, 0, sizeof(r));
	r.target = IPT_T_RETURN;
	r.matches = IPT_M_MARK | IPT_M_MARK_INV;
	r.mark = r.mark_mask = o->masq_mark;
	ipt_chain_add(&p->nat_postrouting, &r);
	memset(&r, 0, sizeof(r));
	r.target = IPT_T_MARK;		/* --xor-mark: clear it, the packet may be re-routed */
	r.mark = o->masq_mark;
	ipt_chain_add(&p->nat_postrouting, &r);
	memset(&r, 0, sizeof(r));
	r.target = IPT_T_MASQ;
	ipt_chain_add(&p->nat_postrouting, &r);

	if (o->n_cluster_cidrs > 1 && !o->masquerade_all) {
		for (unsigned i = 0; i < o->n_cluster_cidrs; i++) {
			memset(&r, 0, sizeof(r));
			r.target = IPT_T_RETURN;
			rule_src(&r, &o->cluster_cidrs[i]);
			ipt_chain_add(&p->nat_masq_cidr, &r);
		}
		r = rule_jump(&p->nat_mark_masq);
		ipt_chain_add(&p->nat_masq_cidr, &r);
	}

	memset(&r, 0, sizeof(r));
	r.target = IPT_T_ACCEPT;
	r.matches = IPT_M_MARK;
	r.mark = r.mark_mask = o->masq_mark;
	ipt_chain_add(&p->filt_forward, &r);
	memset(&r, 0, sizeof(r));
	r.target = IPT_T_ACCEPT;
	r.matches = IPT_M_STATE_EST;
	ipt_chain_add(&p->filt_forward, &r);

	/* trees: at most one chain per 2 dispatch rules is a safe upper bound */
	p->cap_tree = (n_nat + n_filt) / 2 + 2;
	p->tree = xcalloc(p->cap_tree, sizeof(*p->tree));
	struct disp_ref *dn = xcalloc(n_nat + 1, sizeof(*dn)), *df = xcalloc(n_filt + 1, sizeof(*df));
	const struct ipt_rule **np = xcalloc(n_nat + 1, sizeof(*np));
	unsigned in = 0, ifl = 0, seq = 0, inp = 0;
	bool any_np = false;
	hmap_iter_init(&it, &p->ports);
	while (hmap_iter_next(&it, NULL, &v)) {
		struct ipt_port_plan *pp = v;
		for (k = 0; k < pp->n_nat_disp; k++)
			dn[in++] = (struct disp_ref){ &pp->nat_disp[k], key_of(&pp->nat_disp[k].dst), seq++ };
		for (k = 0; k < pp->n_filt_disp; k++)
			df[ifl++] = (struct disp_ref){ &pp->filt_disp[k], key_of(&pp->filt_disp[k].dst), seq++ };
		for (k = 0; k < pp->n_nat_np; k++) {
			np[inp++] = &pp->nat_np[k];
			any_np = true;
		}
		for (k = 0; k < pp->n_filt_ext; k++)
			ipt_chain_add(&p->filt_external, &pp->filt_ext[k]);
	}
	tree_make(p, IPT_NAT, &p->nat_services, dn, in);
	tree_make(p, IPT_FILTER, &p->filt_services, df, ifl);
	np_tree(p, np, inp);
	free(np);
	free(dn);
	free(df);
	p->filt_external.used = true;

	/* NodePorts: last in SY-SERVICES */
	p->need_route_localnet = false;
	if (any_np) {
		if (o->nodeport_all_local) {
			r = rule_jump(&p->nat_nodeports);
			r.matches = IPT_M_DST_LOCAL;
			if (o->family == AF_INET6) {
				/* ! -d ::1/128: NodePorts on IPv6 loopback never work */
				r.dst.v6 = in6addr_loopback;
				r.dplen = 128;
				r.inv = IPT_R_INV_DST;
			} else if (!o->localhost_nodeports) {
				r.dst.v4.s_addr = htonl(0x7f000000);
				r.dplen = 8;
				r.inv = IPT_R_INV_DST;
			} else {
				p->need_route_localnet = true;
			}
			ipt_chain_add(&p->nat_services, &r);
		} else {
			for (unsigned i = 0; i < o->n_nodeport_addrs; i++) {
				const struct sy_addr *a = &o->nodeport_addrs[i];

				if (!nodeport_addr_ok(o, a))
					continue;
				if (sy_addr_is_loopback(a))
					p->need_route_localnet = true;
				r = rule_jump(&p->nat_nodeports);
				rule_dst(&r, a, 0, 0);
				ipt_chain_add(&p->nat_services, &r);
			}
			if (o->nodeport_loopback) {
				struct sy_addr lo = sy_addr4_host(0x7f000001);

				r = rule_jump(&p->nat_nodeports);
				rule_dst(&r, &lo, 0, 0);
				ipt_chain_add(&p->nat_services, &r);
				p->need_route_localnet = true;
			}
		}
	}

	/*
	 * route_localnet lets packets to 127.0.0.0/8 arrive from the network:
	 * drop new ones that were not DNATed (kube-proxy's KUBE-FIREWALL rule)
	 */
	if (p->need_route_localnet) {
		memset(&r, 0, sizeof(r));
		r.target = IPT_T_DROP;
		r.src.v4.s_addr = htonl(0x7f000000);
		r.splen = 8;
		r.dst = r.src;
		r.dplen = r.splen;
		r.inv = IPT_R_INV_SRC;
		r.matches = IPT_M_STATE_NOT_EST_DNAT | IPT_M_COMMENT;
		r.comment = "block incoming localnet connections";
		ipt_chain_add(&p->filt_firewall, &r);
	}

	/* built-in chain jumps */
	r = rule_jump(&p->nat_services);
	r.matches = IPT_M_COMMENT;
	r.comment = "switchyard service portals";
	builtin_add(p, IPT_NAT, 0, r);
	builtin_add(p, IPT_NAT, 3, r);
	r = rule_jump(&p->nat_postrouting);
	r.matches = IPT_M_COMMENT;
	r.comment = "switchyard postrouting rules";
	builtin_add(p, IPT_NAT, 4, r);

	r = rule_jump(&p->filt_forward);
	r.matches = IPT_M_COMMENT;
	r.comment = "switchyard forwarding rules";
	builtin_add(p, IPT_FILTER, 2, r);
	if (p->filt_firewall.used) {
		r = rule_jump(&p->filt_firewall);
		builtin_add(p, IPT_FILTER, 1, r);
		builtin_add(p, IPT_FILTER, 3, r);
	}
	for (unsigned hook = 1; hook <= 3; hook++) {
		r = rule_jump(&p->filt_services);
		r.matches = IPT_M_STATE_NEW | IPT_M_COMMENT;
		r.comment = "switchyard service portals";
		builtin_add(p, IPT_FILTER, hook, r);
		r = rule_jump(&p->filt_external);
		r.matches = IPT_M_STATE_NEW | IPT_M_COMMENT;
		r.comment = "switchyard externally-visible service portals";
		builtin_add(p, IPT_FILTER, hook, r);
	}

	prev_carry_free(p, &prev);

	/* totals */
	for (int t = 0; t < IPT_NTABLES; t++) {
		struct plan_totals tot = { 0, 0 };

		for (unsigned h = 0; h < 5; h++)
			tot.rules += p->n_builtin[t][h];
		ipt_plan_foreach_chain(p, (enum ipt_table)t, count_chain, &tot);
		p->n_rules[t] = tot.rules;
		p->n_chains[t] = tot.chains;
	}
	return 0;
}

void ipt_plan_foreach_chain(struct ipt_plan *p, enum ipt_table t, ipt_chain_fn fn, void *arg)
{
	struct ipt_chain *gl[N_GLOBALS];
	struct hmap_iter it;
	void *v;

	globals(p, gl);
	for (unsigned i = 0; i < N_GLOBALS; i++)
		if (gl[i]->used && gl[i]->table == t)
			fn(arg, gl[i]);
	for (unsigned i = 0; i < p->n_tree; i++)
		if (p->tree[i].table == t)
			fn(arg, &p->tree[i]);
	if (t != IPT_NAT)
		return;
	hmap_iter_init(&it, &p->ports);
	while (hmap_iter_next(&it, NULL, &v)) {
		struct ipt_port_plan *pp = v;
		for (unsigned k = 0; k < pp->n_chains; k++)
			fn(arg, &pp->chains[k]);
	}
}
