// SPDX-License-Identifier: Apache-2.0
/*
 * The nftables mode's planner: desired state → chains, rules, sets and
 * elements (structs).  Pure: no kernel access.  The layout follows
 * kube-proxy's nftables mode; the semantics follow the iptables mode
 * (modes/iptables_plan.c), which follows kube-proxy's iptables mode.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include "switchyard/addr.h"
#include "switchyard/config.h"
#include "switchyard/desired.h"
#include "switchyard/model.h"
#include "switchyard/util.h"
#include "iptables_plan.h"	/* ipt_sha256 */
#include "nftables_plan.h"

/* kube-proxy's priorities: dstnat = -100, srcnat = 100 */
static const struct sy_nft_hook
	h_filter_pre = { "filter", NF_INET_PRE_ROUTING, -110 },
	h_filter_in = { "filter", NF_INET_LOCAL_IN, -110 },
	h_filter_fwd = { "filter", NF_INET_FORWARD, -110 },
	h_filter_out = { "filter", NF_INET_LOCAL_OUT, -110 },
	h_filter_out_post = { "filter", NF_INET_LOCAL_OUT, -90 },
	h_nat_pre = { "nat", NF_INET_PRE_ROUTING, -100 },
	h_nat_out = { "nat", NF_INET_LOCAL_OUT, -100 },
	h_nat_post = { "nat", NF_INET_POST_ROUTING, 100 };

static const char *const set_names[NFTP_NFIXED] = {
	"cluster-ips", "nodeport-ips", "service-ips", "service-nodeports",
	"no-endpoint-services", "no-endpoint-nodeports", "firewall-ips", "hairpin",
};
static char ep_names[2 * NFTP_EP_SHARDS][24];

static struct sy_nft_set set_defs[NFTP_NSETS] = {
	{ "cluster-ips", SY_NFT_K_ADDR, false, 0, false, false },
	{ "nodeport-ips", SY_NFT_K_ADDR, false, 0, false, false },
	{ "service-ips", SY_NFT_K_DPP, true, 0, false, false },
	{ "service-nodeports", SY_NFT_K_PP, true, 0, false, false },
	{ "no-endpoint-services", SY_NFT_K_DPP, true, 0, false, false },
	{ "no-endpoint-nodeports", SY_NFT_K_PP, true, 0, false, false },
	{ "firewall-ips", SY_NFT_K_DPP, true, 0, false, false },
	{ "hairpin", SY_NFT_K_AA, false, 0, false, false },
};

static char lb_names[NFTP_LB_GROUPS][16];

const char *nftp_lb_name(unsigned group)
{
	char *n = lb_names[group];

	if (!n[0])
		snprintf(n, sizeof(lb_names[0]), "lb-group-%u", group);
	return n;
}

unsigned nftp_sr_shard(const struct sy_addr *a, uint16_t port)
{
	if (!a)
		return port & 0xff;
	return a->b[(a->family == AF_INET6 ? 16 : 4) - 1];
}

const struct sy_nft_set *nftp_set_def(unsigned id)
{
	if (id >= NFTP_S_EP0 && id < NFTP_NSETS && !set_defs[id].name) {
		unsigned k = id - NFTP_S_EP0;
		snprintf(ep_names[k], sizeof(ep_names[k]), "%s-%u",
			 id < NFTP_S_SR0 ? "endpoint-ranges" : "service-ranges", k % NFTP_EP_SHARDS);
		set_defs[id].name = ep_names[k];
		set_defs[id].key = id < NFTP_S_SR0 ? SY_NFT_K_NG : SY_NFT_K_DPPV;
		set_defs[id].ap_data = true;
		set_defs[id].interval = true;
	}
	return id < NFTP_NSETS ? &set_defs[id] : NULL;
}

uint64_t nftp_fp_fold(uint64_t h, uint64_t rule_fp)
{
	for (unsigned i = 0; i < 8; i++) {
		h ^= (rule_fp >> (8 * i)) & 0xff;
		h *= 1099511628211ull;
	}
	return h;
}

void nftp_elem_key(char out[NFTP_EKEY_MAX], const char *set, const uint8_t *key, unsigned klen)
{
	static const char hex[] = "0123456789abcdef";
	size_t l = strlen(set);

	if (l > 40)
		l = 40;
	memcpy(out, set, l);
	out[l++] = '|';
	for (unsigned i = 0; i < klen && i < NFTP_KD_MAX; i++) {
		out[l++] = hex[key[i] >> 4];
		out[l++] = hex[key[i] & 15];
	}
	out[l] = 0;
}

void nftp_chain_name(char out[NFTP_NAME_MAX + 1], const char *prefix, const char *base)
{
	static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	uint8_t d[32];
	size_t pl = strlen(prefix), bl = strlen(base);
	char h[9];

	ipt_sha256(base, bl, d);
	for (unsigned i = 0; i < 8; i++) {
		unsigned bit = i * 5, byte = bit / 8, sh = bit % 8;
		unsigned v = ((unsigned)d[byte] << 8 | d[byte + 1]) >> (11 - sh);
		h[i] = b32[v & 31];
	}
	h[8] = 0;
	/* like knftables: at most 256 with the NUL; long bases are cut with "..." */
	if (pl + 9 + bl > NFTP_NAME_MAX)
		snprintf(out, NFTP_NAME_MAX + 1, "%s%s-%.*s...", prefix, h,
			 (int)(NFTP_NAME_MAX - pl - 9 - 3), base);
	else
		snprintf(out, NFTP_NAME_MAX + 1, "%s%s-%s", prefix, h, base);
}

static struct sy_nft_rule *add_rule(struct nftp_chain *c, const struct sy_nft_rule *r)
{
	if (c->n_rules == c->cap_rules) {
		c->cap_rules = c->cap_rules ? 2 * c->cap_rules : 4;
		c->rules = xrealloc(c->rules, c->cap_rules * sizeof(*c->rules));
	}
	c->rules[c->n_rules] = *r;
	c->fp = nftp_fp_fold(c->fp, sy_nft_rule_fp(r));
	return &c->rules[c->n_rules++];
}

static void chain_init(struct nftp_chain *c, const char *name, const struct sy_nft_hook *hook)
{
	memset(c, 0, sizeof(*c));
	c->name = xstrdup(name);
	c->hook = hook;
	c->fp = NFTP_FP_INIT;
}

static void chain_free(struct nftp_chain *c)
{
	free(c->name);
	free(c->rules);
}

/* Elements while a plan is built: key and data in place, packed by eb_pack. */
struct elem_b {
	struct nftp_elem h;
	uint8_t kd[NFTP_KD_MAX];
};
struct nftp_ebuild {
	struct elem_b *a;
	unsigned n, cap;
};

static struct elem_b *add_elem(struct nftp_ebuild *b, unsigned set, const struct sy_addr *a,
			       uint8_t proto, uint16_t port, uint8_t ev, const char *chain)
{
	struct elem_b *e;

	if (b->n == b->cap) {
		b->cap = b->cap ? 2 * b->cap : 32;
		b->a = xrealloc(b->a, b->cap * sizeof(*b->a));
	}
	e = &b->a[b->n++];
	memset(e, 0, sizeof(*e));
	e->h.set = (uint16_t)set;
	if (a)
		e->h.klen = (uint8_t)sy_nft_key_make(e->kd, nftp_set_def(set)->key, a, proto, port);
	e->h.ev = ev;
	e->h.chain = chain;
	return e;
}

_Static_assert(NFTP_KD_MAX < 64 && SY_NFT_EV_ACCEPT < 16, "struct nftp_elem's bit fields");

/*
 * The array a plan's elements are built in, kept from one plan to the next
 * (up to EB_KEEP elements): each plan grew its own from 32 elements and
 * freed it (2-8 KB a port at 10 endpoints), and those blocks, too large for
 * glibc's per-size caches, went through its general allocator every time,
 * with the packed block after them (more so for IPv6 ports, whose packed
 * blocks are larger too).  A plan takes it while it builds (a plan built
 * meanwhile would start its own).
 */
#define EB_KEEP 1024
static struct nftp_ebuild eb_kept;

static void eb_start(struct nftp_ebuild *b)
{
	*b = eb_kept;
	b->n = 0;
	memset(&eb_kept, 0, sizeof(eb_kept));
}

static void eb_done(struct nftp_ebuild *b)
{
	if (b->cap <= EB_KEEP && !eb_kept.a)
		eb_kept = *b;
	else
		free(b->a);
	memset(b, 0, sizeof(*b));
}

void nftp_scratch_free(void)
{
	free(eb_kept.a);
	memset(&eb_kept, 0, sizeof(eb_kept));
}

/* The built elements as one block: the array, then each one's key and data. */
static void eb_pack(struct nftp_ebuild *b, struct nftp_elem **out, unsigned *n, unsigned *cap)
{
	size_t kd = 0;
	uint8_t *p;

	*out = NULL;
	*n = *cap = 0;
	if (!b->n) {
		eb_done(b);
		return;
	}
	for (unsigned i = 0; i < b->n; i++)
		kd += (size_t)b->a[i].h.klen + b->a[i].h.dlen;
	*out = xmalloc(b->n * sizeof(**out) + kd);
	p = (uint8_t *)(*out + b->n);
	for (unsigned i = 0; i < b->n; i++) {
		unsigned l = (unsigned)b->a[i].h.klen + b->a[i].h.dlen;
		(*out)[i] = b->a[i].h;
		memcpy(p, b->a[i].kd, l);
		(*out)[i].koff = (uint32_t)(p - (uint8_t *)&(*out)[i]);
		p += l;
	}
	*n = *cap = b->n;
	eb_done(b);
}

static struct sy_nft_rule r_jump(uint8_t act, const char *chain)
{
	struct sy_nft_rule r = { .act = act, .chain = chain };
	return r;
}

/*
 * The ClusterIP masquerade rule's source part (kube-proxy's internal
 * traffic chain, first): mark what does not come from the cluster CIDR
 * (several: through mark-for-masquerade-non-pod), everything with
 * masqueradeAll; false when neither is configured (no rule).
 */
static bool cluster_masq(const struct nftp_opts *o, struct sy_nft_rule *r)
{
	if (!o->masquerade_all && !o->n_cluster_cidrs)
		return false;
	*r = r_jump(SY_NFT_A_JUMP, "mark-for-masquerade");
	if (!o->masquerade_all && o->n_cluster_cidrs == 1) {
		r->m = SY_NFT_M_SADDR | SY_NFT_M_SADDR_INV;
		r->saddr = o->cluster_cidrs[0].addr;
		r->splen = o->cluster_cidrs[0].plen;
	} else if (!o->masquerade_all) {
		r->chain = "mark-for-masquerade-non-pod";
	}
	return true;
}

static struct sy_nft_rule r_ct_new_jump(const char *chain)
{
	struct sy_nft_rule r = r_jump(SY_NFT_A_JUMP, chain);
	r.m = SY_NFT_M_CT_NEW;
	return r;
}

static void add_ct_new_jump(struct nftp_chain *c, const char *to)
{
	struct sy_nft_rule r = r_ct_new_jump(to);

	add_rule(c, &r);
}

/* ---- options ---- */

void nftp_opts_from(struct nftp_opts *o, const struct sy_config *cfg, const struct desired_state *ds,
		    int family)
{
	memset(o, 0, sizeof(*o));
	o->family = family;
	o->mark_bit = 1u << (cfg ? cfg->masquerade_bit : 14);
	o->masquerade_all = cfg && cfg->masquerade_all;
	/* the table's family: its cluster CIDRs */
	for (unsigned i = 0; cfg && i < cfg->n_cluster_cidrs &&
	     o->n_cluster_cidrs < ARRAY_SIZE(o->cluster_cidrs); i++)
		if (cfg->cluster_cidrs[i].addr.family == family)
			o->cluster_cidrs[o->n_cluster_cidrs++] = cfg->cluster_cidrs[i];
	if (ds) {
		unsigned n;
		const struct sy_cidr *sc = ds_service_cidrs(ds, family, &n);

		for (unsigned i = 0; i < n && i < NFTP_SERVICE_CIDRS_MAX; i++)
			o->service_cidrs[o->n_service_cidrs++] = sc[i];
	}
	o->nodeport_all_local = ds ? ds_nodeport_all_local(ds, family) : true;
	if (ds && !o->nodeport_all_local) {
		for (unsigned i = 0; i < ds->node.n_nodeport_addrs &&
		     o->n_nodeport_addrs < ARRAY_SIZE(o->nodeport_addrs); i++) {
			/* NodePorts on 127.0.0.0/8 and ::1 are not supported (kube-proxy's nftables mode) */
			if (sy_addr_is_loopback(&ds->node.nodeport_addrs[i]) ||
			    ds->node.nodeport_addrs[i].family != family)
				continue;
			o->nodeport_addrs[o->n_nodeport_addrs++] = ds->node.nodeport_addrs[i];
		}
	}
}

bool nftp_opts_equal(const struct nftp_opts *a, const struct nftp_opts *b)
{
	return !memcmp(a, b, sizeof(*a));
}

/* ---- globals ---- */

/* One rule per CIDR: `ip saddr|daddr CIDR act` (m: SY_NFT_M_SADDR or SY_NFT_M_DADDR). */
static void add_cidr_rules(struct nftp_chain *c, uint32_t m, const struct sy_cidr *v, unsigned n,
			   uint8_t act)
{
	for (unsigned i = 0; i < n; i++) {
		struct sy_nft_rule r;

		memset(&r, 0, sizeof(r));
		r.m = m;
		r.act = act;
		if (m == SY_NFT_M_SADDR) {
			r.saddr = v[i].addr;
			r.splen = v[i].plen;
		} else {
			r.daddr = v[i].addr;
			r.dplen = v[i].plen;
		}
		add_rule(c, &r);
	}
}

#define G_MAX 20

/*
 * lb-group-G's dnat over service-ranges-(16 G + j) with the key rkey (enum
 * sy_nft_rkey), guarded by the low nibble j of its shard's byte
 */
static void lb_dnat(struct nftp_chain *c, unsigned group, unsigned j, uint8_t rkey)
{
	struct sy_nft_rule r = { .act = SY_NFT_A_DNAT_RANGES, .numgen_mod = NFTP_SPAN, .rkey = rkey };

	r.m = rkey == SY_NFT_RK_NODEPORT ? SY_NFT_M_DPORT_LOW : SY_NFT_M_DADDR_LOW;
	r.low = (uint8_t)j;
	r.set = nftp_set_def(NFTP_S_SR0 + 16 * group + j)->name;
	add_rule(c, &r);
}

void nftp_globals_build(struct nftp_globals *g, const struct nftp_opts *o)
{
	struct nftp_chain *c;
	struct sy_nft_rule r;

	struct nftp_ebuild eb;

	eb_start(&eb);
	memset(g, 0, sizeof(*g));
	g->eb = &eb;
	g->chains = xcalloc(G_MAX, sizeof(*g->chains));
#define CH(name, hook) (c = &g->chains[g->n_chains++], chain_init(c, name, hook), c)
	/* the filter hooks: new connections jump to the checks (in this order) */
	static const struct {
		const char *chain;
		const struct sy_nft_hook *hook;
		const char *checks[2];
	} filters[] = {
		{ "filter-prerouting", &h_filter_pre, { "firewall-check" } },
		{ "filter-input", &h_filter_in, { "nodeport-endpoints-check", "service-endpoints-check" } },
		{ "filter-forward", &h_filter_fwd, { "service-endpoints-check", "cluster-ips-check" } },
		{ "filter-output", &h_filter_out, { "service-endpoints-check", "firewall-check" } },
		{ "filter-output-post-dnat", &h_filter_out_post, { "cluster-ips-check" } },
	};
	for (unsigned i = 0; i < ARRAY_SIZE(filters); i++) {
		c = CH(filters[i].chain, filters[i].hook);
		for (unsigned k = 0; k < 2 && filters[i].checks[k]; k++)
			add_ct_new_jump(c, filters[i].checks[k]);
	}
	c = CH("nat-prerouting", &h_nat_pre);
	r = r_jump(SY_NFT_A_JUMP, "services");
	add_rule(c, &r);
	c = CH("nat-output", &h_nat_out);
	add_rule(c, &r);
	c = CH("nat-postrouting", &h_nat_post);
	r = r_jump(SY_NFT_A_JUMP, "masquerading");
	add_rule(c, &r);

	/* dispatch by verdict maps */
	struct sy_nft_rule np = { .act = SY_NFT_A_VMAP_PP };
	if (o->nodeport_all_local) {
		np.m = SY_NFT_M_FIB_DLOCAL | SY_NFT_M_DADDR_NOT_LO;
	} else {
		np.m = SY_NFT_M_DADDR_SET;
		np.mset = set_names[NFTP_S_NODEPORT_IPS];
		for (unsigned i = 0; i < o->n_nodeport_addrs; i++)
			add_elem(g->eb, NFTP_S_NODEPORT_IPS,
				 &o->nodeport_addrs[i], 0, 0, SY_NFT_EV_NONE, NULL);
	}
	c = CH("services", NULL);
	memset(&r, 0, sizeof(r));
	r.act = SY_NFT_A_VMAP_DPP;
	r.set = set_names[NFTP_S_SERVICE_IPS];
	add_rule(c, &r);
	np.set = set_names[NFTP_S_SERVICE_NODEPORTS];
	add_rule(c, &np);

	/* the checks: a verdict map lookup each, by daddr . proto . port or (nodeport) proto . port */
	static const struct { const char *chain; enum nftp_set set; bool nodeport; } checks[] = {
		{ "service-endpoints-check", NFTP_S_NO_EP_SERVICES, false },
		{ "firewall-check", NFTP_S_FIREWALL_IPS, false },
		{ "nodeport-endpoints-check", NFTP_S_NO_EP_NODEPORTS, true },
	};
	for (unsigned i = 0; i < ARRAY_SIZE(checks); i++) {
		struct sy_nft_rule *t = checks[i].nodeport ? &np : &r;

		c = CH(checks[i].chain, NULL);
		t->set = set_names[checks[i].set];
		add_rule(c, t);
	}

	c = CH("cluster-ips-check", NULL);
	memset(&r, 0, sizeof(r));
	r.m = SY_NFT_M_DADDR_SET;
	r.mset = set_names[NFTP_S_CLUSTER_IPS];
	r.act = SY_NFT_A_REJECT;
	add_rule(c, &r);
	/*
	 * kube-proxy's "Drop traffic to unallocated ClusterIPs": what is left
	 * inside a Service CIDR (not a ClusterIP, not DNATed) is dropped; one
	 * rule per CIDR (kube-proxy: one rule over an anonymous set).
	 */
	add_cidr_rules(c, SY_NFT_M_DADDR, o->service_cidrs, o->n_service_cidrs, SY_NFT_A_DROP);

	c = CH("reject-chain", NULL);
	memset(&r, 0, sizeof(r));
	r.act = SY_NFT_A_REJECT;
	add_rule(c, &r);

	c = CH("mark-for-masquerade", NULL);
	memset(&r, 0, sizeof(r));
	r.act = SY_NFT_A_MARK_OR;
	r.mark_bit = o->mark_bit;
	add_rule(c, &r);

	c = CH("masquerading", NULL);
	/* hairpin: an endpoint reaching itself through a Service */
	memset(&r, 0, sizeof(r));
	r.m = SY_NFT_M_CT_DNAT | SY_NFT_M_SD_SET;
	r.mset = set_names[NFTP_S_HAIRPIN];
	r.act = SY_NFT_A_JUMP;
	r.chain = "mark-for-masquerade";
	add_rule(c, &r);
	memset(&r, 0, sizeof(r));
	r.m = SY_NFT_M_MARK_UNSET;
	r.mark_bit = o->mark_bit;
	r.act = SY_NFT_A_RETURN;
	add_rule(c, &r);
	memset(&r, 0, sizeof(r));
	r.act = SY_NFT_A_MARK_XOR;	/* clear it: the packet may be re-routed */
	r.mark_bit = o->mark_bit;
	add_rule(c, &r);
	memset(&r, 0, sizeof(r));
	r.act = SY_NFT_A_MASQ;
	add_rule(c, &r);

	/* several cluster CIDRs: mark unless the source is in one of them */
	if (o->n_cluster_cidrs > 1 && !o->masquerade_all) {
		c = CH("mark-for-masquerade-non-pod", NULL);
		add_cidr_rules(c, SY_NFT_M_SADDR, o->cluster_cidrs, o->n_cluster_cidrs,
			       SY_NFT_A_RETURN);
		r = r_jump(SY_NFT_A_JUMP, "mark-for-masquerade");
		add_rule(c, &r);
	}
#undef CH
	/*
	 * the shared load-balancing chains (nftables_plan.h): the ClusterIP
	 * masquerade rule of a port's own chain without its daddr . proto .
	 * port match, the ClusterIP dnat; what misses it is external or
	 * NodePort traffic (externalTrafficPolicy Cluster): always marked
	 * (kube-proxy's external chain), then the external and NodePort dnat;
	 * each dnat 16 times, one per map of the group, behind its guard
	 */
	_Static_assert(NFTP_LB_GROUPS * 16 == NFTP_EP_SHARDS, "16 maps a group");
	g->lb = xcalloc(NFTP_LB_GROUPS, sizeof(*g->lb));
	for (unsigned grp = 0; grp < NFTP_LB_GROUPS; grp++) {
		c = &g->lb[grp];
		chain_init(c, nftp_lb_name(grp), NULL);
		if (cluster_masq(o, &r))
			add_rule(c, &r);
		for (unsigned j = 0; j < 16; j++)
			lb_dnat(c, grp, j, SY_NFT_RK_DPP);
		r = r_jump(SY_NFT_A_JUMP, "mark-for-masquerade");
		add_rule(c, &r);
		for (unsigned j = 0; j < 16; j++)
			lb_dnat(c, grp, j, SY_NFT_RK_DPORT_PROTO);
		for (unsigned j = 0; j < 16; j++)
			lb_dnat(c, grp, j, SY_NFT_RK_NODEPORT);
		c->rules = sy_trim(c->rules, c->n_rules, &c->cap_rules, sizeof(*c->rules));
	}
	eb_pack(g->eb, &g->elems, &g->n_elems, &g->cap_elems);
	g->eb = NULL;
}

void nftp_globals_free(struct nftp_globals *g)
{
	for (unsigned i = 0; i < g->n_chains; i++)
		chain_free(&g->chains[i]);
	for (unsigned i = 0; g->lb && i < NFTP_LB_GROUPS; i++)
		chain_free(&g->lb[i]);
	free(g->lb);
	free(g->chains);
	free(g->elems);
	memset(g, 0, sizeof(*g));
}

/* ---- one Service port ---- */

void nftp_port_free(struct nftp_port *pp)
{
	if (!pp)
		return;
	for (unsigned i = 0; i < pp->n_chains; i++)
		chain_free(&pp->chains[i]);
	for (unsigned i = 0; i < pp->n_asets; i++)
		free(pp->asets[i].name);
	sy_free_all(pp->chains, pp->elems, pp->asets, pp->error, pp->name, pp);
}

static struct nftp_chain *port_chain(struct nftp_port *pp, const char *prefix, const char *base)
{
	char name[NFTP_NAME_MAX + 1];
	struct nftp_chain *c = &pp->chains[pp->n_chains++];

	nftp_chain_name(name, prefix, base);
	chain_init(c, name, NULL);
	return c;
}

static int ep_find(const struct ds_ep *eps, unsigned n, const struct ds_ep *e)
{
	for (unsigned i = 0; i < n; i++)
		if (sy_addr_eq(&eps[i].addr, &e->addr) && eps[i].port == e->port)
			return (int)i;
	return -1;
}

uint32_t nftp_base_hash(const char *chain)
{
	uint64_t h = NFTP_FP_INIT;
	uint32_t s;

	for (const char *p = chain; *p; p++) {
		h ^= (uint8_t)*p;
		h *= 1099511628211ull;
	}
	s = (uint32_t)(h >> 20) % NFTP_NSLOTS;
	return NFTP_SLOT_OK(s) ? s : s & 0xff;
}

uint32_t nftp_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

uint32_t nftp_range_end(const struct nftp_elem *e)
{
	/* the last range ends at key + NFTP_SPAN: at most 2^32 - NFTP_SPAN (NFTP_SLOT_OK) */
	if (e->ev)
		return (nftp_be32(nftp_elem_kp(e) + e->klen - 4) & ~(NFTP_SPAN - 1)) + NFTP_SPAN;
	return nftp_be32(nftp_elem_kp(e + 1) + e[1].klen - 4);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/*
 * The load-balancing chain without endpoint chains: one rule, `dnat ip to
 * numgen random mod NFTP_SPAN offset key map @endpoint-ranges-S`, and the
 * map's ranges of [key, key + NFTP_SPAN), range i → endpoint i.  An
 * endpoint change, also of their number, is then element updates in a
 * data map: no rule, no jump, goto or verdict, so the kernel does not
 * validate the table (doc/nftables.md).  Hairpin: the endpoint's @hairpin
 * element.
 */
static void fill_lb_map(struct nftp_port *pp, struct nftp_chain *c, const struct ds_port *dp,
			const struct ds_ep *eps, unsigned n, const struct nftp_alloc *al)
{
	uint32_t slot = al ? al->base(al->arg, c->name) : nftp_base_hash(c->name);
	uint32_t key = NFTP_SLOT_KEY(slot);
	unsigned set = NFTP_SLOT_SET(slot);
	struct sy_nft_rule r;

	if (n > NFTP_SLOTS)
		n = NFTP_SLOTS;
	memset(&r, 0, sizeof(r));
	r.m = SY_NFT_M_L4PROTO;
	r.l4proto = dp->proto;
	r.act = SY_NFT_A_DNAT_MAP;
	r.numgen_mod = NFTP_SPAN;
	r.numgen_off = key;
	r.set = nftp_set_def(set)->name;
	add_rule(c, &r);
	/* the ranges consecutive (nftp_range_end), the last one marked */
	for (unsigned i = 0; i < n; i++) {
		struct elem_b *e = add_elem(pp->eb, set, NULL, 0, 0, SY_NFT_EV_NONE, NULL);
		put_be32(e->kd, key + nftp_range(i, n));
		e->h.klen = NFTP_RANGE_KLEN;
		e->h.ev = i + 1 == n;
		e->h.dlen = (uint8_t)sy_nft_ap_make(e->kd + e->h.klen, &eps[i].addr, eps[i].port);
	}
	for (unsigned i = 0; i < n; i++)
		add_elem(pp->eb, NFTP_S_HAIRPIN, &eps[i].addr, 0, 0,
			 SY_NFT_EV_NONE, NULL);
}

/*
 * A shared port's ranges for one address (a: NULL for the NodePort):
 * service-ranges-S elements a . proto . port . [0, NFTP_SPAN) (swap: an
 * external address's, a . port . proto . …) split like a chain's
 * (nftp_range), range i → endpoint i; S the key's shard (nftp_sr_shard).
 */
static void add_svc_ranges(struct nftp_port *pp, const struct sy_addr *a,
			   const struct ds_port *dp, uint16_t port, const struct ds_ep *eps, unsigned n,
			   bool swap)
{
	struct sy_addr zero = { .family = dp->family };
	unsigned set = NFTP_S_SR0 + nftp_sr_shard(a, port);

	if (n > NFTP_SLOTS)
		n = NFTP_SLOTS;
	for (unsigned i = 0; i < n; i++) {
		struct elem_b *e = add_elem(pp->eb, set, a ? a : &zero, dp->proto, port,
					    SY_NFT_EV_NONE, NULL);
		if (swap)
			sy_nft_key_swap(e->kd, e->h.klen);
		put_be32(e->kd + e->h.klen - 4, nftp_range(i, n));
		e->h.ev = i + 1 == n;
		e->h.dlen = (uint8_t)sy_nft_ap_make(e->kd + e->h.klen, &eps[i].addr, eps[i].port);
	}
}

/*
 * The load-balancing chain with sessionAffinity, over endpoint chains:
 * affinity first (ip saddr @affinity-E goto endpoint-E), then one endpoint
 * chosen by numgen: the i-th rule `numgen random mod (n-i) == 0 goto
 * endpoint-i` (uniform, like the iptables mode's statistic cascade), the
 * last one unconditional.  No anonymous verdict map per Service: the
 * kernel's time for a transaction grows faster than linearly with their
 * number (see doc/nftables.md).
 */
static void fill_lb(struct nftp_chain *c, const struct ds_port *dp, const struct ds_ep *eps,
		    unsigned n, struct nftp_chain *const *epc, struct nftp_aset *const *eas)
{
	struct sy_nft_rule r;

	if (dp->affinity_timeout) {
		for (unsigned i = 0; i < n; i++) {
			memset(&r, 0, sizeof(r));
			r.m = SY_NFT_M_SADDR_SET;
			r.mset = eas[i]->name;
			r.act = SY_NFT_A_GOTO;
			r.chain = epc[i]->name;
			add_rule(c, &r);
		}
	}
	for (unsigned i = 0; i < n; i++) {
		r = r_jump(SY_NFT_A_GOTO, epc[i]->name);
		if (i + 1 < n) {
			r.m = SY_NFT_M_NUMGEN;
			r.numgen_mod = n - i;
		}
		add_rule(c, &r);
	}
}

struct nftp_port *nftp_port_new(const struct nftp_opts *o, const struct ds_port *dp,
				const struct nftp_alloc *al)
{
	struct nftp_port *pp = xcalloc(1, sizeof(*pp));
	struct nftp_ebuild eb;
	const char *proto = dp->proto == IPPROTO_UDP ? "udp" : dp->proto == IPPROTO_SCTP ? "sctp" : "tcp";
	char base[600], ebase[700];
	unsigned n_int, n_ext, n_eps = dp->n_cluster_eps + dp->n_local_eps;
	bool has_eps = dp->n_cluster_eps || dp->n_local_eps;
	bool external = ds_port_has_external(dp);
	struct nftp_chain *svc = NULL, *svl = NULL, *ext = NULL, *fw = NULL;
	struct nftp_chain **ep_c, **ep_l;
	struct nftp_aset **as_c, **as_l;
	struct sy_nft_rule r;

	ds_port_internal_eps(dp, &n_int);
	ds_port_external_eps(dp, &n_ext);
	eb_start(&eb);
	pp->eb = &eb;
	pp->name = xstrdup(dp->name);
	pp->serial = dp->serial;
	/* kube-proxy's base: namespace/name/protocol/portname */
	snprintf(base, sizeof(base), "%s/%s/%s/%s", dp->svc_ns, dp->svc_name, proto,
		 dp->port_name ? dp->port_name : "");

	pp->chains = xcalloc(4 + n_eps, sizeof(*pp->chains));
	pp->asets = xcalloc(n_eps + 1, sizeof(*pp->asets));
	ep_c = xcalloc(dp->n_cluster_eps + 1, sizeof(*ep_c));
	ep_l = xcalloc(dp->n_local_eps + 1, sizeof(*ep_l));
	as_c = xcalloc(dp->n_cluster_eps + 1, sizeof(*as_c));
	as_l = xcalloc(dp->n_local_eps + 1, sizeof(*as_l));

	bool need_svc = dp->n_cluster_eps && (!dp->itp_local || (external && has_eps));
	bool need_svl = dp->n_local_eps && (dp->itp_local || (external && dp->etp_local));
	bool need_ext = external && has_eps;
	/*
	 * no per-port logic: no chain of its own, each key goes to the shared
	 * chain of its shard's group (nftp_lb_name, nftp_sr_shard)
	 */
	bool shared = need_svc && !dp->affinity_timeout && !dp->itp_local &&
		(!external || (!dp->etp_local && !(dp->n_lb_source_ranges && dp->n_lb_ips)));
	const char *int_name = NULL, *ext_name = NULL;

	if (shared)
		need_svc = need_svl = need_ext = false;

	/* endpoint chains: one per distinct endpoint used */
	for (unsigned k = 0; k < 2; k++) {
		const struct ds_ep *eps = k ? dp->local_eps : dp->cluster_eps;
		unsigned n = k ? dp->n_local_eps : dp->n_cluster_eps;
		struct nftp_chain **epc = k ? ep_l : ep_c;
		struct nftp_aset **eas = k ? as_l : as_c;
		if (!(k ? need_svl : need_svc) || !dp->affinity_timeout)
			continue;
		for (unsigned i = 0; i < n; i++) {
			const struct ds_ep *e = &eps[i];
			int j = k && need_svc ? ep_find(dp->cluster_eps, dp->n_cluster_eps, e) : -1;
			if (j >= 0) {
				epc[i] = ep_c[j];
				eas[i] = as_c[j];
				continue;
			}
			/* kube-proxy: an IPv6 endpoint's ':' become '.' in the name */
			snprintf(ebase, sizeof(ebase), "%s__%s/%u", base, sy_addr_str(&e->addr), e->port);
			for (char *q = strstr(ebase, "__"); q && *q; q++)
				if (*q == ':')
					*q = '.';
			struct nftp_chain *c = port_chain(pp, "endpoint-", ebase);
			epc[i] = c;
			memset(&r, 0, sizeof(r));
			r.m = SY_NFT_M_SADDR;
			r.saddr = e->addr;
			r.splen = (uint8_t)sy_addr_bits(&e->addr);
			r.act = SY_NFT_A_JUMP;
			r.chain = "mark-for-masquerade";
			add_rule(c, &r);
			if (dp->affinity_timeout) {
				char an[NFTP_NAME_MAX + 1];
				struct nftp_aset *a = &pp->asets[pp->n_asets++];
				nftp_chain_name(an, "affinity-", ebase);
				a->name = xstrdup(an);
				a->timeout = dp->affinity_timeout;
				eas[i] = a;
				memset(&r, 0, sizeof(r));
				r.act = SY_NFT_A_UPDATE_SADDR;
				r.set = a->name;
				add_rule(c, &r);
			}
			memset(&r, 0, sizeof(r));
			r.m = SY_NFT_M_L4PROTO;
			r.l4proto = dp->proto;
			r.act = SY_NFT_A_DNAT;
			r.to_addr = e->addr;
			r.to_port = e->port;
			add_rule(c, &r);
		}
	}
	if (need_svc)
		svc = port_chain(pp, "service-", base);
	if (need_svl)
		svl = port_chain(pp, "local-", base);
	struct nftp_chain *int_chain = dp->itp_local ? svl : svc;
	struct nftp_chain *ext_chain = dp->etp_local ? svl : svc;

	/* ClusterIP masquerade (kube-proxy: in the internal traffic chain, first) */
	if (int_chain && sy_addr_is_set(&dp->cluster_ip) && cluster_masq(o, &r)) {
		r.m |= SY_NFT_M_DADDR | SY_NFT_M_L4PROTO | SY_NFT_M_DPORT;
		r.daddr = dp->cluster_ip;
		r.dplen = (uint8_t)sy_addr_bits(&dp->cluster_ip);
		r.l4proto = dp->proto;
		r.dport = dp->port;
		add_rule(int_chain, &r);
	}
	if (svc && dp->affinity_timeout)
		fill_lb(svc, dp, dp->cluster_eps, dp->n_cluster_eps, ep_c, as_c);
	else if (svc)
		fill_lb_map(pp, svc, dp, dp->cluster_eps, dp->n_cluster_eps, al);
	if (svl && dp->affinity_timeout)
		fill_lb(svl, dp, dp->local_eps, dp->n_local_eps, ep_l, as_l);
	else if (svl)
		fill_lb_map(pp, svl, dp, dp->local_eps, dp->n_local_eps, al);

	if (need_ext) {
		ext = port_chain(pp, "external-", base);
		if (!dp->etp_local) {
			r = r_jump(SY_NFT_A_JUMP, "mark-for-masquerade");
			add_rule(ext, &r);
		} else if (svc) {
			/* pod and node traffic may use cluster endpoints (kube-proxy) */
			for (unsigned i = 0; i < o->n_cluster_cidrs; i++) {
				r = r_jump(SY_NFT_A_GOTO, svc->name);
				r.m = SY_NFT_M_SADDR;
				r.saddr = o->cluster_cidrs[i].addr;
				r.splen = o->cluster_cidrs[i].plen;
				add_rule(ext, &r);
			}
			r = r_jump(SY_NFT_A_JUMP, "mark-for-masquerade");
			r.m = SY_NFT_M_FIB_SLOCAL;
			add_rule(ext, &r);
			r = r_jump(SY_NFT_A_GOTO, svc->name);
			r.m = SY_NFT_M_FIB_SLOCAL;
			add_rule(ext, &r);
		}
		if (ext_chain) {
			r = r_jump(SY_NFT_A_GOTO, ext_chain->name);
			add_rule(ext, &r);
		}
		if (dp->n_lb_source_ranges && dp->n_lb_ips) {
			fw = port_chain(pp, "firewall-", base);
			for (unsigned i = 0; i < dp->n_lb_source_ranges; i++) {
				if (dp->lb_source_ranges[i].addr.family != dp->family)
					continue;
				memset(&r, 0, sizeof(r));
				r.m = SY_NFT_M_SADDR;
				r.saddr = dp->lb_source_ranges[i].addr;
				r.splen = dp->lb_source_ranges[i].plen;
				r.act = SY_NFT_A_RETURN;
				add_rule(fw, &r);
			}
			memset(&r, 0, sizeof(r));
			r.act = SY_NFT_A_DROP;
			add_rule(fw, &r);
		}
	}

	if (!shared) {
		int_name = int_chain ? int_chain->name : NULL;
		ext_name = ext ? ext->name : NULL;
	}
	/* elements */
	struct sy_addr none = { 0 };
	uint8_t int_v = !has_eps ? SY_NFT_EV_GOTO : !n_int ? SY_NFT_EV_DROP : 0;
	uint8_t ext_v = !has_eps ? SY_NFT_EV_GOTO : !n_ext ? SY_NFT_EV_DROP : 0;
	const char *rej = "reject-chain";
	if (sy_addr_is_set(&dp->cluster_ip)) {
		add_elem(pp->eb, NFTP_S_CLUSTER_IPS, &dp->cluster_ip,
			 0, 0, SY_NFT_EV_NONE, NULL);
		if (shared)
			int_name = nftp_lb_name(nftp_sr_shard(&dp->cluster_ip, 0) >> 4);
		if (int_name)
			add_elem(pp->eb, NFTP_S_SERVICE_IPS,
				 &dp->cluster_ip, dp->proto, dp->port, SY_NFT_EV_GOTO, int_name);
		if (shared)
			add_svc_ranges(pp, &dp->cluster_ip, dp, dp->port, dp->cluster_eps,
				       dp->n_cluster_eps, false);
		if (int_v)
			add_elem(pp->eb, NFTP_S_NO_EP_SERVICES,
				 &dp->cluster_ip, dp->proto, dp->port, int_v,
				 int_v == SY_NFT_EV_GOTO ? rej : NULL);
	}
	for (unsigned i = 0; i < dp->n_external_ips + dp->n_lb_ips; i++) {
		bool is_lb = i >= dp->n_external_ips;
		const struct sy_addr *a = is_lb ? &dp->lb_ips[i - dp->n_external_ips] : &dp->external_ips[i];
		/* the port's family only (kubernetes #73157: never fail a table on another's) */
		if (a->family != dp->family)
			continue;
		if (shared)
			ext_name = nftp_lb_name(nftp_sr_shard(a, 0) >> 4);
		if (ext_name)
			add_elem(pp->eb, NFTP_S_SERVICE_IPS, a,
				 dp->proto, dp->port, SY_NFT_EV_GOTO, ext_name);
		if (shared)
			add_svc_ranges(pp, a, dp, dp->port, dp->cluster_eps, dp->n_cluster_eps,
				       true);
		if (ext_v)
			add_elem(pp->eb, NFTP_S_NO_EP_SERVICES, a,
				 dp->proto, dp->port, ext_v, ext_v == SY_NFT_EV_GOTO ? rej : NULL);
		if (is_lb && fw)
			add_elem(pp->eb, NFTP_S_FIREWALL_IPS, a,
				 dp->proto, dp->port, SY_NFT_EV_GOTO, fw->name);
	}
	if (dp->node_port) {
		if (shared)
			ext_name = nftp_lb_name(nftp_sr_shard(NULL, dp->node_port) >> 4);
		if (ext_name)
			add_elem(pp->eb, NFTP_S_SERVICE_NODEPORTS, &none,
				 dp->proto, dp->node_port, SY_NFT_EV_GOTO, ext_name);
		if (shared)
			add_svc_ranges(pp, NULL, dp, dp->node_port, dp->cluster_eps,
				       dp->n_cluster_eps, false);
		if (ext_v)
			add_elem(pp->eb, NFTP_S_NO_EP_NODEPORTS, &none,
				 dp->proto, dp->node_port, ext_v, ext_v == SY_NFT_EV_GOTO ? rej : NULL);
	}
	/* hairpin: a shared port's endpoints (a chain's: fill_lb_map) */
	for (unsigned i = 0; shared && i < dp->n_cluster_eps && i < NFTP_SLOTS; i++)
		add_elem(pp->eb, NFTP_S_HAIRPIN, &dp->cluster_eps[i].addr, 0, 0, SY_NFT_EV_NONE, NULL);
	free(ep_c);
	free(ep_l);
	free(as_c);
	free(as_l);
	/*
	 * the plan lives until the port changes: no slack (nothing points
	 * into the arrays yet; rules and elements hold the chains' names)
	 */
	if (pp->n_chains) {
		pp->chains = xrealloc(pp->chains, pp->n_chains * sizeof(*pp->chains));
	} else {
		free(pp->chains);
		pp->chains = NULL;
	}
	if (pp->n_asets) {
		pp->asets = xrealloc(pp->asets, pp->n_asets * sizeof(*pp->asets));
	} else {
		free(pp->asets);
		pp->asets = NULL;
	}
	for (unsigned i = 0; i < pp->n_chains; i++) {
		struct nftp_chain *c = &pp->chains[i];

		c->rules = sy_trim(c->rules, c->n_rules, &c->cap_rules, sizeof(*c->rules));
	}
	eb_pack(pp->eb, &pp->elems, &pp->n_elems, &pp->cap_elems);
	pp->eb = NULL;
	_Static_assert(NFTP_RANGE_GROUPS <= 32, "nftp_port.groups");
	for (unsigned i = 0; i < pp->n_elems; i++)
		if (NFTP_IS_RANGES(pp->elems[i].set))
			pp->groups |= 1u << ((pp->elems[i].set - NFTP_S_EP0) / 16);
	return pp;
}
