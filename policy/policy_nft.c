// SPDX-License-Identifier: Apache-2.0
/*
 * NetworkPolicy, the kernel side: the planner's state (netpol.h) as
 * `table inet switchyard-policy`, one nf_tables transaction per sync, in
 * both address families.  Layout (doc/network-policy.md has it with the
 * measurements):
 *
 *   chain egress  { type filter hook forward priority 0; policy accept;
 *       ct state established,related accept
 *       icmpv6 type { 130-133, 135-136 } accept          (neighbour discovery, MLD)
 *       ip saddr @iso-eg4 jump eg4
 *       ip6 saddr @iso-eg6 jump eg6 }
 *   chain ingress { type filter hook forward priority 1; policy accept; ... the same with daddr }
 *   chain in4 { <nsid> . ip daddr @ns-in4-NN goto nsin-<ns>   (one per namespace with policies) }
 *   chain in6 { <nsid> . ip6 daddr @ns-in6-NN goto nsin-<ns> }
 *   chain nsin-<ns> { <pid> . ip daddr @targets4-NN jump in-<pid>-<ns>/<name>   (per policy,
 *       <pid> . ip6 daddr @targets6-NN jump in-<pid>-<ns>/<name>              each family)
 *       reject with icmpx admin-prohibited }
 *   chain in-<pid>-<ns>/<name> { per rule and family one accept rule per peer kind x port kind:
 *       <rid> . ip saddr @peers4-NN <rid> . meta l4proto . th dport @ports-NN accept
 *       <rid> . ip6 saddr @peers6-NN <rid> . meta l4proto . th dport @ports-NN accept
 *       <rid> . ip saddr != @except4-NN <rid> . ip saddr . meta l4proto . th dport
 *           @cidrports4-NN accept   (ipBlocks: the cidrs, and apart what the excepts cut out)
 *       (what reads no address, e.g. "every peer, these ports", once for both) }
 *
 * Every set but iso-* is keyed by a 32-bit id first (policy, rule or
 * namespace id: a hash of its name, so a restart finds the same names and
 * writes nothing) and split into NSHARD sets by the id; each address set
 * has an IPv6 twin (16-byte addresses) beside the IPv4 one.  A pod or
 * namespace change writes only elements of plain data sets: no verdict
 * element, no jump, so the kernel does not re-validate the table for such
 * a batch.  A policy change rewrites its own chains and its namespace's
 * chain.
 */
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include "switchyard/hmap.h"
#include "switchyard/log.h"
#include "switchyard/netpol.h"
#include "switchyard/netpol_nft.h"
#include "switchyard/nft.h"
#include "switchyard/util.h"

#define TABLE NETPOL_NFT_TABLE
#define NAMEMAX 256

/* ------------------------------------------------------------ byte sets */

/* An open-addressing hash set of fixed-width blobs, each with a counter. */
struct bset {
	size_t cap, n, used;
	unsigned w;
	uint8_t *st;			/* 0 empty, 1 full, 2 deleted */
	uint8_t *k;
	uint32_t *v;
};

static uint64_t bhash(const void *p, unsigned w)
{
	const uint8_t *b = p;
	uint64_t h = 0x9e3779b97f4a7c15ull ^ w, v;
	unsigned i = 0;

	for (; i + 8 <= w; i += 8) {
		memcpy(&v, b + i, 8);
		h = (h ^ v) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	if (i + 4 <= w) {	/* an IPv6 key's id or port word: one step, not four */
		uint32_t t;
		memcpy(&t, b + i, 4);
		h = (h ^ t) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
		i += 4;
	}
	for (; i < w; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	h ^= h >> 29;
	h *= 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 32);
}

static void bset_init(struct bset *s, unsigned w)
{
	memset(s, 0, sizeof(*s));
	s->w = w;
}

static void bset_free(struct bset *s)
{
	free(s->st);
	free(s->k);
	free(s->v);
	bset_init(s, s->w);
}

static long bset_find_h(const struct bset *s, const void *key, uint64_t h)
{
	if (!s->cap)
		return -1;
	for (size_t i = h & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
		if (!s->st[i])
			return -1;
		if (s->st[i] == 1 && !memcmp(s->k + i * s->w, key, s->w))
			return (long)i;
	}
}

static long bset_find(const struct bset *s, const void *key)
{
	return s->cap ? bset_find_h(s, key, bhash(key, s->w)) : -1;
}

/* A key not in s, into the first free slot from its hash (no tombstone reused: none in a new table). */
static size_t bset_place(struct bset *s, const void *key, uint64_t h)
{
	size_t i;

	for (i = h & (s->cap - 1); s->st[i] == 1; i = (i + 1) & (s->cap - 1))
		;
	if (!s->st[i])
		s->used++;
	s->st[i] = 1;
	memcpy(s->k + i * s->w, key, s->w);
	s->v[i] = 0;
	s->n++;
	return i;
}

/*
 * Twice the room; the keys are unique, so each is placed without a lookup
 * (a full sync grows its sets from empty: the lookups and the second hash
 * per key were a tenth of its user time, more for IPv6's wider keys).
 */
static void bset_grow(struct bset *s)
{
	struct bset o = *s;
	size_t cap = o.cap ? o.cap * 2 : 16;

	while (o.n * 2 >= cap)
		cap *= 2;
	s->cap = cap;
	s->n = s->used = 0;
	s->st = xcalloc(cap, 1);
	s->k = xmalloc(cap * s->w);
	s->v = xcalloc(cap, sizeof(*s->v));
	for (size_t i = 0; i < o.cap; i++)
		if (o.st[i] == 1) {
			const uint8_t *key = o.k + i * o.w;
			s->v[bset_place(s, key, bhash(key, s->w))] = o.v[i];
		}
	free(o.st);
	free(o.k);
	free(o.v);
}

/* key's slot, added (counter 0) when absent; the key hashed once. */
static size_t bset_put(struct bset *s, const void *key)
{
	uint64_t h = bhash(key, s->w);
	long f = bset_find_h(s, key, h);

	if (f >= 0)
		return (size_t)f;
	if ((s->used + 1) * 4 >= s->cap * 3)
		bset_grow(s);
	return bset_place(s, key, h);
}

static void bset_del(struct bset *s, size_t i)
{
	s->st[i] = 2;
	s->n--;
}

#define bset_foreach(s, i) for (size_t i = 0; i < (s)->cap; i++) if ((s)->st[i] == 1)

/* ------------------------------------------------------------ elements */

/* The widest key: id . IPv6 . proto . port */
#define KMAX 28

/* Address families: index 0 IPv4, 1 IPv6. */
#define NFAM 2
static unsigned fam_alen(int fi)
{
	return fi ? 16 : 4;
}

static int fam_of(const struct sy_addr *a)
{
	return sy_addr_is4(a) ? 0 : 1;
}

static uint8_t f_saddr(int fi)
{
	return fi ? SY_NFT_F_IP6_SADDR : SY_NFT_F_IP4_SADDR;
}

static uint8_t f_daddr(int fi)
{
	return fi ? SY_NFT_F_IP6_DADDR : SY_NFT_F_IP4_DADDR;
}

/* One element as the kernel holds it (zero padded: compared as bytes). */
struct kel {
	uint8_t klen, has_end, pad[2];
	uint8_t key[KMAX], end[KMAX];
};

static unsigned put_id(uint8_t *k, uint32_t id)
{
	uint32_t be = htonl(id);

	return sy_nft_key_put(k, 0, SY_NFT_F_MARK, &be);
}

/* id . ip (ab: the address bytes of family fi) */
static void kel_ip(struct kel *e, uint32_t id, int fi, const void *ab)
{
	memset(e, 0, sizeof(*e));
	e->klen = (uint8_t)sy_nft_key_put(e->key, put_id(e->key, id), f_daddr(fi), ab);
}

/* plain ip (the iso sets) */
static void kel_ip_only(struct kel *e, int fi, const void *ab)
{
	memset(e, 0, sizeof(*e));
	e->klen = (uint8_t)fam_alen(fi);
	memcpy(e->key, ab, e->klen);
}

/* id . ip . proto . port */
static void kel_named(struct kel *e, uint32_t id, int fi, const void *ab, uint8_t proto,
		      uint16_t port)
{
	uint16_t p = htons(port);
	unsigned o;

	memset(e, 0, sizeof(*e));
	o = sy_nft_key_put(e->key, put_id(e->key, id), f_daddr(fi), ab);
	o = sy_nft_key_put(e->key, o, SY_NFT_F_L4PROTO, &proto);
	e->klen = (uint8_t)sy_nft_key_put(e->key, o, SY_NFT_F_TH_DPORT, &p);
}

/* id . proto . [lo, hi] */
static void kel_ports(struct kel *e, uint32_t id, uint8_t proto, uint16_t lo, uint16_t hi)
{
	uint16_t l = htons(lo), h = htons(hi);
	unsigned o;

	memset(e, 0, sizeof(*e));
	o = sy_nft_key_put(e->key, put_id(e->key, id), SY_NFT_F_L4PROTO, &proto);
	e->klen = (uint8_t)sy_nft_key_put(e->key, o, SY_NFT_F_TH_DPORT, &l);
	o = sy_nft_key_put(e->end, put_id(e->end, id), SY_NFT_F_L4PROTO, &proto);
	sy_nft_key_put(e->end, o, SY_NFT_F_TH_DPORT, &h);
	e->has_end = 1;
}

/* id . [lo, hi] . any proto (the range's family) */
static void kel_cidr(struct kel *e, uint32_t id, const struct np_range *r)
{
	uint8_t p0 = 0, p1 = 255, f = f_saddr(fam_of(&r->lo));
	unsigned o;

	memset(e, 0, sizeof(*e));
	o = sy_nft_key_put(e->key, put_id(e->key, id), f, r->lo.b);
	e->klen = (uint8_t)sy_nft_key_put(e->key, o, SY_NFT_F_L4PROTO, &p0);
	o = sy_nft_key_put(e->end, put_id(e->end, id), f, r->hi.b);
	sy_nft_key_put(e->end, o, SY_NFT_F_L4PROTO, &p1);
	e->has_end = 1;
}

/* id . [lo, hi] */
static void kel_except(struct kel *e, uint32_t id, const struct np_range *r)
{
	uint8_t f = f_saddr(fam_of(&r->lo));

	memset(e, 0, sizeof(*e));
	e->klen = (uint8_t)sy_nft_key_put(e->key, put_id(e->key, id), f, r->lo.b);
	sy_nft_key_put(e->end, put_id(e->end, id), f, r->hi.b);
	e->has_end = 1;
}

/* id . [lo, hi] . proto . [plo, phi] */
static void kel_cidr_ports(struct kel *e, uint32_t id, const struct np_range *r, uint8_t proto,
			   uint16_t lo, uint16_t hi)
{
	uint16_t l = htons(lo), h = htons(hi);
	uint8_t f = f_saddr(fam_of(&r->lo));
	unsigned o;

	memset(e, 0, sizeof(*e));
	o = sy_nft_key_put(e->key, put_id(e->key, id), f, r->lo.b);
	o = sy_nft_key_put(e->key, o, SY_NFT_F_L4PROTO, &proto);
	e->klen = (uint8_t)sy_nft_key_put(e->key, o, SY_NFT_F_TH_DPORT, &l);
	o = sy_nft_key_put(e->end, put_id(e->end, id), f, r->hi.b);
	o = sy_nft_key_put(e->end, o, SY_NFT_F_L4PROTO, &proto);
	sy_nft_key_put(e->end, o, SY_NFT_F_TH_DPORT, &h);
	e->has_end = 1;
}

/* ------------------------------------------------------------ the sets */

/*
 * The kinds: the IPv4 ones, "ports" (no address), then the IPv6 twins of
 * the IPv4 ones in the same order (G6: a kind's IPv6 twin).
 */
enum gset { G_ISO_IN, G_ISO_EG, G_NS_IN, G_NS_EG, G_TARGETS, G_PEERS, G_NAMED, G_CIDR,
	    G_CIDRPORTS, G_EXCEPT, G_PORTS,
	    G_ISO_IN6, G_ISO_EG6, G_NS_IN6, G_NS_EG6, G_TARGETS6, G_PEERS6, G_NAMED6, G_CIDR6,
	    G_CIDRPORTS6, G_EXCEPT6, G_MAX };
#define G6_OFF (G_ISO_IN6 - G_ISO_IN)

/* A kind in family fi. */
static uint8_t gfam(int g, int fi)
{
	return (uint8_t)(fi ? g + G6_OFF : g);
}

#define FM SY_NFT_F_MARK
#define FP SY_NFT_F_L4PROTO
#define FD SY_NFT_F_TH_DPORT
/* The address kinds of a family: the name ends in its digit, SA / DA its source / destination. */
#define FAMILY_GSETS(sfx, fam, SA, DA)                                                 \
	[G_ISO_IN##sfx] = { "iso-in" #fam, { DA }, 1, false, 0 },                      \
	[G_ISO_EG##sfx] = { "iso-eg" #fam, { SA }, 1, false, 0 },                      \
	[G_NS_IN##sfx] = { "ns-in" #fam, { FM, DA }, 2, false, 0 },                    \
	[G_NS_EG##sfx] = { "ns-eg" #fam, { FM, SA }, 2, false, 0 },                    \
	[G_TARGETS##sfx] = { "targets" #fam, { FM, DA }, 2, false, 0 },                \
	[G_PEERS##sfx] = { "peers" #fam, { FM, SA }, 2, false, 0 },                    \
	[G_NAMED##sfx] = { "named" #fam, { FM, DA, FP, FD }, 4, false, 0 },            \
	[G_CIDR##sfx] = { "cidr" #fam, { FM, SA, FP }, 3, true, 0 },                   \
	[G_CIDRPORTS##sfx] = { "cidrports" #fam, { FM, SA, FP, FD }, 4, true, 0 },      \
	[G_EXCEPT##sfx] = { "except" #fam, { FM, SA }, 2, true, 0 }
static const struct sy_nft_set2 GSETS[G_MAX] = {
	FAMILY_GSETS(, 4, SY_NFT_F_IP4_SADDR, SY_NFT_F_IP4_DADDR),
	[G_PORTS] = { "ports", { FM, FP, FD }, 3, true, 0 },
	FAMILY_GSETS(6, 6, SY_NFT_F_IP6_SADDR, SY_NFT_F_IP6_DADDR),
};
#undef FAMILY_GSETS
#undef FM
#undef FP
#undef FD

/* The key length of a kind (4 bytes a field, 16 an IPv6 address). */
static unsigned gset_klen(int g)
{
	unsigned l = 0;

	for (unsigned i = 0; i < GSETS[g].n_fields; i++)
		l += sy_nft_field_len(GSETS[g].fields[i]);
	return l;
}

/*
 * The id-keyed sets are split into NSHARD sets by the id's low bits: the
 * kernel finds a set by name in a list and dumps a hash set restarting its
 * walk for every message, so neither one set per rule nor one set for all
 * rules scales; NSHARD sets of each kind keep both costs small.
 */
#define NSHARD 32
#define NSETS (G_MAX * NSHARD)

static bool gset_sharded(int g)
{
	return g != G_ISO_IN && g != G_ISO_EG && g != G_ISO_IN6 && g != G_ISO_EG6;
}

/* The set index (kind, shard) of an element or lookup with this id. */
static unsigned sidx(int g, uint32_t id)
{
	return (unsigned)g * NSHARD + (gset_sharded(g) ? id % NSHARD : 0);
}

/*
 * A set's name ("peers6-07"), formatted once: every element written names
 * its set, and a snprintf per element was a fifth of a full sync's user
 * time.
 */
static const char *sname(unsigned si)
{
	static char names[NSETS][24];

	if (!gset_sharded((int)(si / NSHARD)))
		return GSETS[si / NSHARD].name;
	if (!names[si][0])
		snprintf(names[si], sizeof(names[si]), "%s-%02u", GSETS[si / NSHARD].name, si % NSHARD);
	return names[si];
}

static bool sidx_used(unsigned si)
{
	return gset_sharded((int)(si / NSHARD)) || si % NSHARD == 0;
}

/*
 * An element packed for a byte set of its kind: the key, then (interval
 * sets) the end: a set's elements take only their own width, not KMAX.
 */
static unsigned kel_width(int g)
{
	return gset_klen(g) * (GSETS[g].interval ? 2 : 1);
}

static void kel_pack(int g, const struct kel *e, uint8_t *out)
{
	unsigned l = gset_klen(g);

	memcpy(out, e->key, l);
	if (GSETS[g].interval)
		memcpy(out + l, e->end, l);
}

static void kel_unpack(int g, const uint8_t *in, struct kel *e)
{
	unsigned l = gset_klen(g);

	memset(e, 0, sizeof(*e));
	e->klen = (uint8_t)l;
	memcpy(e->key, in, l);
	if (GSETS[g].interval) {
		e->has_end = 1;
		memcpy(e->end, in + l, l);
	}
}

/* ------------------------------------------------------------ rule specs */

struct lk {
	uint8_t f[SY_NFT_FIELDS_MAX];
	uint8_t n;
	bool has_id;
	bool inv;			/* != @set */
	uint32_t id;
	uint16_t set;			/* set index (sidx) */
};

struct spec {
	bool ct_est;
	bool fib_slocal;		/* fib saddr type local */
	uint8_t nfproto;		/* meta nfproto ==: NFPROTO_IPV4 / _IPV6, 0 none */
	uint8_t icmp6_lo, icmp6_hi;	/* icmpv6 type in [lo, hi] (hi 0: none) */
	struct lk lk[3];
	unsigned n_lk;
	uint8_t act;			/* enum sy_nft_act; SY_NFT_A_REJECT = admin-prohibited */
	char target[NAMEMAX];
	char note[NAMEMAX];
};

static uint64_t spec_fp(const struct spec *s)
{
	char buf[1024];
	int o;

	o = snprintf(buf, sizeof(buf), "ct=%d fib=%d nf4=%d act=%u tgt=%s note=%s", s->ct_est,
		     s->fib_slocal, s->nfproto == NFPROTO_IPV4, s->act, s->target, s->note);
	if (s->nfproto == NFPROTO_IPV6)
		o += snprintf(buf + o, sizeof(buf) - (size_t)o, " nf6=1");
	if (s->icmp6_hi)
		o += snprintf(buf + o, sizeof(buf) - (size_t)o, " icmp6=%u-%u", s->icmp6_lo,
			      s->icmp6_hi);
	for (unsigned i = 0; i < s->n_lk && o < (int)sizeof(buf) - 100; i++) {
		o += snprintf(buf + o, sizeof(buf) - (size_t)o, " lk=%d%s:%08x:", s->lk[i].has_id,
			      s->lk[i].inv ? "!" : "", s->lk[i].id);
		for (unsigned j = 0; j < s->lk[i].n; j++)
			o += snprintf(buf + o, sizeof(buf) - (size_t)o, "%u,", s->lk[i].f[j]);
		o += snprintf(buf + o, sizeof(buf) - (size_t)o, "@%u", s->lk[i].set);
	}
	return sy_nft_fp_str(buf);
}

static void spec_emit(struct sy_nft_batch *b, const char *chain, const struct spec *s)
{
	struct sy_nft_rb *rb = sy_nft_rb_new();

	if (s->ct_est)
		sy_nft_rb_ct_state(rb, NF_CT_STATE_BIT(IP_CT_ESTABLISHED) |
				   NF_CT_STATE_BIT(IP_CT_RELATED));
	if (s->fib_slocal)
		sy_nft_rb_fib_saddr_local(rb);
	if (s->nfproto)
		sy_nft_rb_nfproto(rb, s->nfproto);
	if (s->icmp6_hi)
		sy_nft_rb_icmp6_type(rb, s->icmp6_lo, s->icmp6_hi);
	for (unsigned i = 0; i < s->n_lk; i++) {
		const struct lk *l = &s->lk[i];
		if (l->has_id)
			sy_nft_rb_lookup_id(rb, l->id, l->f, l->n, sname(l->set), l->inv);
		else
			sy_nft_rb_lookup(rb, l->f, l->n, sname(l->set), l->inv);
	}
	if (s->act == SY_NFT_A_REJECT)
		sy_nft_rb_reject_admin(rb);
	else
		sy_nft_rb_verdict(rb, (enum sy_nft_act)s->act, s->target[0] ? s->target : NULL);
	sy_nft_rb_add(b, chain, rb, spec_fp(s), s->note[0] ? s->note : NULL);
}

/* A rule for family fi (its lookups read that family's addresses), or for both (fi < 0). */
static void spec_init(struct spec *s, int fi, uint8_t act, const char *target)
{
	memset(s, 0, sizeof(*s));
	s->nfproto = fi < 0 ? 0 : fi ? NFPROTO_IPV6 : NFPROTO_IPV4;
	s->act = act;
	if (target)
		snprintf(s->target, sizeof(s->target), "%s", target);
}

/* id . fields @set (has_id) or fields @set */
static void spec_lk(struct spec *s, uint8_t set, bool has_id, uint32_t id, unsigned n, ...)
{
	struct lk *l = &s->lk[s->n_lk++];
	va_list ap;

	va_start(ap, n);
	for (unsigned i = 0; i < n; i++)
		l->f[i] = (uint8_t)va_arg(ap, int);
	va_end(ap);
	l->n = (uint8_t)n;
	l->has_id = has_id;
	l->id = id;
	l->set = (uint16_t)sidx(set, id);
}

/* ------------------------------------------------------------ records */

/* Per rule and family: the element kinds it has. */
#define RF_S	0x01		/* selector peers: peers4/6 */
#define RF_C	0x02		/* ipBlock . any proto: cidr4/6 */
#define RF_CP	0x04		/* ipBlock . proto . ports: cidrports4/6 */
#define RF_P	0x08		/* numeric ports: ports (either family) */
#define RF_N	0x10		/* named ports: named4/6 */
#define RF_X	0x20		/* ipBlock excepts: except4/6, looked up (negated) before cidr* */

struct prule {
	uint32_t rid;
	uint8_t rf[NFAM];		/* RF_C / RF_CP: that family has ipBlock ranges */
	struct bset peers[NFAM];	/* addresses (4 / 16 bytes) */
	struct bset named[NFAM];	/* nkey: address, proto, pad, port (host order) */
};

/* A named-port tuple packed: the address (4 or 16 bytes), proto, 0, port. */
static unsigned nkey_width(int fi)
{
	return fam_alen(fi) + 4;
}

static void nkey_pack(uint8_t *out, int fi, const void *ab, uint8_t proto, uint16_t port)
{
	unsigned l = fam_alen(fi);

	memcpy(out, ab, l);
	out[l] = proto;
	out[l + 1] = 0;
	memcpy(out + l + 2, &port, 2);
}

static void nkey_unpack(const uint8_t *in, int fi, uint8_t *proto, uint16_t *port)
{
	unsigned l = fam_alen(fi);

	*proto = in[l];
	memcpy(port, in + l + 2, 2);
}

/* What was programmed for a policy id. */
struct prec {
	bool live;
	const char *ns;			/* interned */
	uint32_t pid, nsid;
	struct netpolicy *np;		/* a reference: the ports and ipBlocks programmed */
	bool dir[2];
	unsigned n_rules[2];
	struct prule *r[2];
	struct bset targets[NFAM];	/* addresses (4 / 16 bytes) */
};

struct netpol_nft {
	struct sy_nft *nl;
	struct prec *precs;		/* by the planner's policy id */
	uint32_t n_precs;
	struct hmap ids;		/* "%08x" -> owner: policy, rule and namespace ids in use */
	struct hmap nsids;		/* ns (interned) -> id (uintptr) */
	struct bset nsref[2];		/* (ns pointer, family, address) -> target memberships, per direction */
	struct hmap ns_prog[2];		/* namespaces whose chain exists, per direction */
	bool synced;			/* a full sync succeeded since the start */
};

/* A 32-bit id for a name, unique among the ids in use (probing on a collision). */
static uint32_t id_take(struct netpol_nft *w, const char *name)
{
	uint32_t id = (uint32_t)sy_nft_fp_str(name);
	char key[16];

	for (;; id++) {
		if (!id)
			continue;
		snprintf(key, sizeof(key), "%08x", id);
		if (!hmap_get(&w->ids, key)) {
			char *k = xstrdup(key);
			hmap_put(&w->ids, k, k);
			return id;
		}
	}
}

static void id_drop(struct netpol_nft *w, uint32_t id)
{
	char key[16];

	snprintf(key, sizeof(key), "%08x", id);
	free(hmap_del(&w->ids, key));
}

static uint32_t ns_id(struct netpol_nft *w, const char *ns)
{
	uintptr_t v = (uintptr_t)hmap_get(&w->nsids, ns);
	char name[NAMEMAX];

	if (v)
		return (uint32_t)v;
	snprintf(name, sizeof(name), "namespace %s", ns);
	v = id_take(w, name);
	hmap_put(&w->nsids, ns, (void *)v);
	return (uint32_t)v;
}

static void chain_name_pol(char *out, const struct prec *p, int dir)
{
	snprintf(out, NAMEMAX, "%s-%08x-%.200s", dir == NP_INGRESS ? "in" : "eg", p->pid,
		 p->np->meta.key);
}

static void chain_name_ns(char *out, const char *ns, int dir)
{
	snprintf(out, NAMEMAX, "%s-%s", dir == NP_INGRESS ? "nsin" : "nseg", ns);
}

static bool rule_numeric(const struct np_rule *r)
{
	for (unsigned i = 0; i < r->n_ports; i++)
		if (!r->ports[i].name)
			return true;
	return false;
}

/*
 * The element kinds of a rule in a family that has n_ranges ipBlock ranges
 * (np_rule_ranges) and n_except excepted ranges (np_rule_excepted).
 */
static uint8_t rule_flags(const struct np_rule *r, int dir, unsigned n_ranges, unsigned n_except)
{
	bool numeric = !r->all_ports && rule_numeric(r), named = !r->all_ports && r->has_named_ports;
	uint8_t f = 0;

	if (!r->all_peers && r->has_selector_peers)
		f |= RF_S;
	if (!r->all_peers && n_ranges && (r->all_ports || (named && dir == NP_INGRESS)))
		f |= RF_C;
	if (!r->all_peers && n_ranges && numeric)
		f |= RF_CP;
	if (numeric && (r->all_peers || r->has_selector_peers))
		f |= RF_P;
	if (named)
		f |= RF_N;
	if ((f & (RF_C | RF_CP)) && n_except)
		f |= RF_X;
	return f;
}

static void prule_free(struct prule *pr)
{
	for (int f = 0; f < NFAM; f++) {
		bset_free(&pr->peers[f]);
		bset_free(&pr->named[f]);
	}
}

static void prec_clear(struct netpol_nft *w, struct prec *p)
{
	if (p->live) {
		id_drop(w, p->pid);
		for (int d = 0; d < 2; d++)
			for (unsigned r = 0; r < p->n_rules[d]; r++) {
				id_drop(w, p->r[d][r].rid);
				prule_free(&p->r[d][r]);
			}
	}
	free(p->r[0]);
	free(p->r[1]);
	for (int f = 0; f < NFAM; f++)
		bset_free(&p->targets[f]);
	netpolicy_unref(p->np);
	memset(p, 0, sizeof(*p));
}

static struct prec *prec_get(struct netpol_nft *w, uint32_t id)
{
	if (id >= w->n_precs) {
		uint32_t n = id + 64;
		w->precs = xrealloc(w->precs, n * sizeof(*w->precs));
		memset(w->precs + w->n_precs, 0, (n - w->n_precs) * sizeof(*w->precs));
		w->n_precs = n;
	}
	return &w->precs[id];
}

struct copy_arg {
	struct bset *ip, *named;	/* [NFAM] each; one is NULL */
};

static void copy_cb(void *arg, const struct np_elem *e)
{
	struct copy_arg *a = arg;
	int fi = fam_of(&e->addr);

	if (a->named) {
		uint8_t k[20];
		nkey_pack(k, fi, e->addr.b, e->proto, e->port);
		bset_put(&a->named[fi], k);
	} else {
		bset_put(&a->ip[fi], e->addr.b);
	}
}

/* The record of a policy from the planner's state: ids, flags, copies of its sets. */
static void prec_fill(struct netpol_nft *w, struct prec *p, const struct policy_state *ps,
		      const struct np_policy *pol)
{
	const struct netpolicy *np = pol->np;
	char name[NAMEMAX + 32];

	prec_clear(w, p);
	p->live = true;
	p->ns = np->ns;
	p->np = (struct netpolicy *)np;
	np_ref(&p->np->meta);
	p->pid = id_take(w, np->meta.key);
	p->nsid = ns_id(w, np->ns);
	p->dir[NP_INGRESS] = np->ingress;
	p->dir[NP_EGRESS] = np->egress;
	for (int f = 0; f < NFAM; f++)
		bset_init(&p->targets[f], fam_alen(f));
	netpol_set_foreach(ps, (struct np_set_ref){ pol->id, NP_SET_TARGETS, 0, 0 }, copy_cb,
			   &(struct copy_arg){ p->targets, NULL });
	for (int d = 0; d < 2; d++) {
		if (!p->dir[d])
			continue;
		p->n_rules[d] = np->n_rules[d];
		p->r[d] = xcalloc(np->n_rules[d] + 1, sizeof(*p->r[d]));
		for (unsigned r = 0; r < np->n_rules[d]; r++) {
			struct prule *pr = &p->r[d][r];
			uint8_t any = 0;

			for (int f = 0; f < NFAM; f++) {
				struct np_range *rg = NULL, *cv = NULL, *ex = NULL;
				unsigned n = 0, n_cv = 0, n_ex = 0;

				np_rule_ranges(&np->rules[d][r], f ? AF_INET6 : AF_INET, &rg, &n);
				free(rg);
				if (n)
					np_rule_excepted(&np->rules[d][r], f ? AF_INET6 : AF_INET, &cv,
							 &n_cv, &ex, &n_ex);
				free(cv);
				free(ex);
				pr->rf[f] = rule_flags(&np->rules[d][r], d, n, n_ex);
				any |= pr->rf[f];
				bset_init(&pr->peers[f], fam_alen(f));
				bset_init(&pr->named[f], nkey_width(f));
			}
			snprintf(name, sizeof(name), "%s/%c/%u", np->meta.key, "ie"[d], r);
			pr->rid = id_take(w, name);
			if (any & RF_S)
				netpol_set_foreach(ps, (struct np_set_ref){ pol->id, NP_SET_PEERS,
						   (uint8_t)d, (uint16_t)r }, copy_cb,
						   &(struct copy_arg){ pr->peers, NULL });
			if (any & RF_N)
				netpol_set_foreach(ps, (struct np_set_ref){ pol->id, NP_SET_NAMED,
						   (uint8_t)d, (uint16_t)r }, copy_cb,
						   &(struct copy_arg){ NULL, pr->named });
		}
	}
}

/* ------------------------------------------------------------ sinks */

/* Where the build output goes: a batch (partial) or the desired state (full). */
struct dchain {
	char *name;
	bool base;
	struct sy_nft_hook hook;
	struct spec *r;
	unsigned n, cap;
};
struct sink {
	struct sy_nft_batch *b;		/* partial: write here */
	struct bset elems[NSETS];	/* full: collect here, by set index */
	struct hmap chains;
	struct dchain **chain_order;
	unsigned n_chains, cap_chains;
	struct netpol_nft_stats *st;
};

/* The element's id: its key's first word (0 for the iso sets). */
static uint32_t kel_id(const struct kel *e, int g)
{
	uint32_t be;

	if (!gset_sharded(g))
		return 0;
	memcpy(&be, e->key, 4);
	return ntohl(be);
}

static void elem_write_si(struct sy_nft_batch *b, bool add, unsigned si, const struct kel *e)
{
	struct sy_nft_elem2 x = {
		.key = e->key, .key_end = e->has_end ? e->end : NULL, .klen = e->klen,
	};

	sy_nft_elem2(b, add, sname(si), &x);
}

static void sink_elem(struct sink *k, bool add, uint8_t g, const struct kel *e)
{
	unsigned set = sidx(g, kel_id(e, g));

	if (k->b) {
		elem_write_si(k->b, add, set, e);
		if (add)
			k->st->elems_added++;
		else
			k->st->elems_deleted++;
		return;
	}
	if (add) {
		uint8_t buf[2 * KMAX];
		kel_pack(g, e, buf);
		bset_put(&k->elems[set], buf);
	}
}

static void sink_chain(struct sink *k, const char *name, const struct sy_nft_hook *hook)
{
	if (k->b) {
		sy_nft_chain_add(k->b, name, hook);
		sy_nft_chain_flush(k->b, name);
		k->st->chains_written++;
		return;
	}
	if (hmap_get(&k->chains, name))
		return;
	struct dchain *c = xcalloc(1, sizeof(*c));
	c->name = xstrdup(name);
	if (hook) {
		c->base = true;
		c->hook = *hook;
	}
	hmap_put(&k->chains, c->name, c);
	if (k->n_chains == k->cap_chains) {
		k->cap_chains = k->cap_chains ? 2 * k->cap_chains : 64;
		k->chain_order = xrealloc(k->chain_order, k->cap_chains * sizeof(*k->chain_order));
	}
	k->chain_order[k->n_chains++] = c;
}

static void sink_rule(struct sink *k, const char *chain, const struct spec *s)
{
	if (k->b) {
		spec_emit(k->b, chain, s);
		return;
	}
	struct dchain *c = hmap_get(&k->chains, chain);
	if (!c)
		return;
	c->r = sy_grow(c->r, c->n, &c->cap, sizeof(*c->r), 4);
	c->r[c->n++] = *s;
}

static void sink_init(struct sink *k, struct sy_nft_batch *b, struct netpol_nft_stats *st)
{
	memset(k, 0, sizeof(*k));
	k->b = b;
	k->st = st;
	for (int i = 0; i < NSETS; i++)
		bset_init(&k->elems[i], kel_width(i / NSHARD));
	hmap_init(&k->chains);
}

static void sink_free(struct sink *k)
{
	for (int i = 0; i < NSETS; i++)
		bset_free(&k->elems[i]);
	for (unsigned i = 0; i < k->n_chains; i++) {
		free(k->chain_order[i]->r);
		free(k->chain_order[i]->name);
		free(k->chain_order[i]);
	}
	free(k->chain_order);
	hmap_clear(&k->chains);
}

/* ------------------------------------------------------------ building */

struct pr {
	uint8_t proto;
	uint16_t lo, hi;
};

static int cmp_pr(const void *a, const void *b)
{
	const struct pr *x = a, *y = b;

	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* The rule's numeric ports as disjoint ranges per protocol (an interval set refuses overlaps). */
static unsigned merge_ports(const struct np_rule *r, struct pr *out)
{
	unsigned n = 0, m = 0;

	for (unsigned i = 0; i < r->n_ports; i++) {
		const struct np_port *po = &r->ports[i];
		if (po->name)
			continue;
		out[n].proto = po->proto;
		out[n].lo = po->port;
		out[n].hi = !po->port ? 65535 : po->end_port > po->port ? po->end_port : po->port;
		n++;
	}
	qsort(out, n, sizeof(*out), cmp_pr);
	for (unsigned i = 0; i < n; i++) {
		if (m && out[m - 1].proto == out[i].proto && out[i].lo <= (unsigned)out[m - 1].hi + 1) {
			if (out[i].hi > out[m - 1].hi)
				out[m - 1].hi = out[i].hi;
			continue;
		}
		out[m++] = out[i];
	}
	return m;
}

/* Every element of a policy (from its record) added or deleted. */
static void prec_elems(struct sink *k, const struct prec *p, bool add)
{
	struct kel e;

	for (int f = 0; f < NFAM; f++)
		bset_foreach(&p->targets[f], i) {
			kel_ip(&e, p->pid, f, p->targets[f].k + i * p->targets[f].w);
			sink_elem(k, add, gfam(G_TARGETS, f), &e);
		}
	for (int d = 0; d < 2; d++)
		for (unsigned r = 0; p->dir[d] && r < p->n_rules[d]; r++) {
			const struct prule *pr = &p->r[d][r];
			const struct np_rule *ru = &p->np->rules[d][r];
			uint8_t rf = pr->rf[0] | pr->rf[1];
			unsigned n_pr = 0;
			struct pr *prs = NULL;

			if (rf & (RF_P | RF_CP)) {
				prs = xcalloc(ru->n_ports + 1, sizeof(*prs));
				n_pr = merge_ports(ru, prs);
			}
			if (rf & RF_P)
				for (unsigned i = 0; i < n_pr; i++) {
					kel_ports(&e, pr->rid, prs[i].proto, prs[i].lo, prs[i].hi);
					sink_elem(k, add, G_PORTS, &e);
				}
			for (int f = 0; f < NFAM; f++) {
				const struct bset *pe = &pr->peers[f], *na = &pr->named[f];
				struct np_range *rg = NULL, *ex = NULL;
				unsigned n_rg = 0, n_ex = 0;

				bset_foreach(pe, i) {
					kel_ip(&e, pr->rid, f, pe->k + i * pe->w);
					sink_elem(k, add, gfam(G_PEERS, f), &e);
				}
				bset_foreach(na, i) {
					const uint8_t *nk = na->k + i * na->w;
					uint8_t proto;
					uint16_t port;
					nkey_unpack(nk, f, &proto, &port);
					kel_named(&e, pr->rid, f, nk, proto, port);
					sink_elem(k, add, gfam(G_NAMED, f), &e);
				}
				/*
				 * The cidrs and, apart, what their excepts cut out
				 * (looked up negated first): the kernel's interval
				 * sets store a range as prefixes, and a cidr minus an
				 * except is up to one prefix per bit between their
				 * lengths (fd00::/16 minus fd00:64::/96: 80), the two
				 * apart one each.
				 */
				if (pr->rf[f] & (RF_C | RF_CP))
					np_rule_excepted(ru, f ? AF_INET6 : AF_INET, &rg, &n_rg, &ex,
							 &n_ex);
				for (unsigned i = 0; (pr->rf[f] & RF_X) && i < n_ex; i++) {
					kel_except(&e, pr->rid, &ex[i]);
					sink_elem(k, add, gfam(G_EXCEPT, f), &e);
				}
				for (unsigned i = 0; (pr->rf[f] & RF_C) && i < n_rg; i++) {
					kel_cidr(&e, pr->rid, &rg[i]);
					sink_elem(k, add, gfam(G_CIDR, f), &e);
				}
				for (unsigned i = 0; (pr->rf[f] & RF_CP) && i < n_rg; i++)
					for (unsigned j = 0; j < n_pr; j++) {
						kel_cidr_ports(&e, pr->rid, &rg[i], prs[j].proto,
							       prs[j].lo, prs[j].hi);
						sink_elem(k, add, gfam(G_CIDRPORTS, f), &e);
					}
				free(rg);
				free(ex);
			}
			free(prs);
		}
}

/*
 * A rule's ipBlocks in family f: id . peer != @except (when some cidr has
 * excepts), then id . peer . proto [. port] @cidr / @cidrports.
 */
static void spec_cidr(struct spec *s, uint8_t rf, int f, uint32_t id, uint8_t peer, bool ports)
{
	if (rf & RF_X) {
		spec_lk(s, gfam(G_EXCEPT, f), true, id, 1, peer);
		s->lk[s->n_lk - 1].inv = true;
	}
	if (ports)
		spec_lk(s, gfam(G_CIDRPORTS, f), true, id, 3, peer, SY_NFT_F_L4PROTO,
			SY_NFT_F_TH_DPORT);
	else
		spec_lk(s, gfam(G_CIDR, f), true, id, 2, peer, SY_NFT_F_L4PROTO);
}

/*
 * The accept rules of one rule of a policy in one family.  Peer kinds
 * (alternatives): every peer (0), selector peers (1), ipBlocks (2); per
 * kind one rule per port kind.  What reads no address (every peer with
 * every port or numeric ports) is written once, for both families, in the
 * IPv4 pass.
 */
static void rule_specs(struct sink *k, const char *chain, const struct np_rule *ru,
		       const struct prule *pr, int d, int f)
{
	uint8_t peer = d == NP_INGRESS ? f_saddr(f) : f_daddr(f), rf = pr->rf[f];
	bool numeric = rf & (RF_P | RF_CP), named = rf & RF_N;
	uint32_t id = pr->rid;
	int alts[3], na = 0;
	struct spec s;

	if (ru->all_peers)
		alts[na++] = 0;
	if (rf & RF_S)
		alts[na++] = 1;
	if (rf & (RF_C | RF_CP))
		alts[na++] = 2;
	for (int a = 0; a < na; a++) {
		if (ru->all_ports) {
			if (alts[a] == 0 && f)
				continue;
			spec_init(&s, alts[a] ? f : -1, SY_NFT_A_ACCEPT, NULL);
			if (alts[a] == 1)
				spec_lk(&s, gfam(G_PEERS, f), true, id, 1, peer);
			else if (alts[a] == 2)
				spec_cidr(&s, rf, f, id, peer, false);
			sink_rule(k, chain, &s);
			continue;
		}
		if (numeric && !(alts[a] == 0 && f)) {
			spec_init(&s, alts[a] ? f : -1, SY_NFT_A_ACCEPT, NULL);
			if (alts[a] == 1)
				spec_lk(&s, gfam(G_PEERS, f), true, id, 1, peer);
			if (alts[a] == 2)
				spec_cidr(&s, rf, f, id, peer, true);
			else
				spec_lk(&s, G_PORTS, true, id, 2, SY_NFT_F_L4PROTO, SY_NFT_F_TH_DPORT);
			sink_rule(k, chain, &s);
		}
		if (named && d == NP_INGRESS) {
			spec_init(&s, f, SY_NFT_A_ACCEPT, NULL);
			if (alts[a] == 1)
				spec_lk(&s, gfam(G_PEERS, f), true, id, 1, peer);
			if (alts[a] == 2)
				spec_cidr(&s, rf, f, id, peer, false);
			spec_lk(&s, gfam(G_NAMED, f), true, id, 3, f_daddr(f), SY_NFT_F_L4PROTO,
				SY_NFT_F_TH_DPORT);
			sink_rule(k, chain, &s);
		}
	}
	if (named && d == NP_EGRESS) {
		/* the planner resolved NAMED on the peers: a hit is a peer too */
		spec_init(&s, f, SY_NFT_A_ACCEPT, NULL);
		spec_lk(&s, gfam(G_NAMED, f), true, id, 3, f_daddr(f), SY_NFT_F_L4PROTO,
			SY_NFT_F_TH_DPORT);
		sink_rule(k, chain, &s);
	}
}

/* A policy's chains (one per direction it has): per rule its IPv4, then its IPv6 rules. */
static void prec_chains(struct sink *k, const struct prec *p)
{
	char chain[NAMEMAX];

	for (int d = 0; d < 2; d++) {
		if (!p->dir[d])
			continue;
		chain_name_pol(chain, p, d);
		sink_chain(k, chain, NULL);
		for (unsigned r = 0; r < p->n_rules[d]; r++)
			for (int f = 0; f < NFAM; f++)
				rule_specs(k, chain, &p->np->rules[d][r], &p->r[d][r], d, f);
	}
}

static int cmp_prec_key(const void *a, const void *b)
{
	const struct prec *x = *(const struct prec *const *)a, *y = *(const struct prec *const *)b;

	return strcmp(x->np->meta.key, y->np->meta.key);
}

/* (ns pointer, family, address) */
struct nskey {
	const char *ns;
	uint8_t a[16];
	uint8_t fi, pad[7];
};

static bool ns_has(struct netpol_nft *w, const char *ns, int dir)
{
	for (uint32_t j = 0; j < w->n_precs; j++)
		if (w->precs[j].live && w->precs[j].ns == ns && w->precs[j].dir[dir])
			return true;
	return false;
}

/*
 * The chain of one namespace for one direction (either family): per policy
 * of it a jump for its IPv4 and one for its IPv6 targets, then reject.
 */
static void build_ns(struct netpol_nft *w, struct sink *k, const char *ns, int dir)
{
	char chain[NAMEMAX], pc[NAMEMAX];
	struct prec **v = xcalloc(w->n_precs + 1, sizeof(*v));
	unsigned n = 0;
	struct spec s;

	chain_name_ns(chain, ns, dir);
	for (uint32_t i = 0; i < w->n_precs; i++)
		if (w->precs[i].live && w->precs[i].ns == ns && w->precs[i].dir[dir])
			v[n++] = &w->precs[i];
	qsort(v, n, sizeof(*v), cmp_prec_key);
	sink_chain(k, chain, NULL);
	for (unsigned i = 0; i < n; i++) {
		chain_name_pol(pc, v[i], dir);
		for (int f = 0; f < NFAM; f++) {
			spec_init(&s, f, SY_NFT_A_JUMP, pc);
			spec_lk(&s, gfam(G_TARGETS, f), true, v[i]->pid, 1,
				dir == NP_INGRESS ? f_daddr(f) : f_saddr(f));
			snprintf(s.note, sizeof(s.note), "%s", v[i]->np->meta.key);
			sink_rule(k, chain, &s);
		}
	}
	spec_init(&s, -1, SY_NFT_A_REJECT, NULL);
	sink_rule(k, chain, &s);
	free(v);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Namespaces with a policy of dir, sorted (interned pointers). */
static const char **ns_list(struct netpol_nft *w, int dir, unsigned *n)
{
	struct hmap seen;
	const char **v = xcalloc(w->n_precs + 1, sizeof(*v));

	*n = 0;
	hmap_init(&seen);
	for (uint32_t i = 0; i < w->n_precs; i++) {
		const struct prec *p = &w->precs[i];
		if (p->live && p->dir[dir] && !hmap_get(&seen, p->ns)) {
			hmap_put(&seen, p->ns, (void *)p->ns);
			v[(*n)++] = p->ns;
		}
	}
	hmap_clear(&seen);
	qsort(v, *n, sizeof(*v), cmp_str);
	return v;
}

static const struct sy_nft_hook HOOK_EGRESS = { "filter", NF_INET_FORWARD, 0 };
static const struct sy_nft_hook HOOK_INGRESS = { "filter", NF_INET_FORWARD, 1 };
/* what IPVS forwards leaves through the output hook, not forward */
static const struct sy_nft_hook HOOK_OUT_EGRESS = { "filter", NF_INET_LOCAL_OUT, 0 };
static const struct sy_nft_hook HOOK_OUT_INGRESS = { "filter", NF_INET_LOCAL_OUT, 1 };

/* The dispatch chain of a direction and family (in4 / eg4 / in6 / eg6). */
static const char *dispatch_name(int dir, int f)
{
	static const char *const n[2][NFAM] = { { "in4", "in6" }, { "eg4", "eg6" } };

	return n[dir][f];
}

/* The dispatch chains of a direction: a goto per namespace, in each family. */
static void build_dispatch(struct netpol_nft *w, struct sink *k, int dir)
{
	char chain[NAMEMAX];
	unsigned n;
	const char **v = ns_list(w, dir, &n);
	struct spec s;

	for (int f = 0; f < NFAM; f++) {
		const char *name = dispatch_name(dir, f);

		sink_chain(k, name, NULL);
		for (unsigned i = 0; i < n; i++) {
			chain_name_ns(chain, v[i], dir);
			spec_init(&s, f, SY_NFT_A_GOTO, chain);
			spec_lk(&s, gfam(dir == NP_INGRESS ? G_NS_IN : G_NS_EG, f), true,
				ns_id(w, v[i]), 1, dir == NP_INGRESS ? f_daddr(f) : f_saddr(f));
			sink_rule(k, name, &s);
		}
	}
	free(v);
}

/*
 * ICMPv6 the policies never judge, in both directions: multicast listener
 * query / report / done (130-132), router solicitation (133), neighbour
 * solicitation and advertisement (135, 136) — Calico's list for what a
 * workload sends before its policy.  Neighbour discovery carries the pods'
 * own addresses (a solicitation from the pod's address, the advertisement
 * back to it), is never tracked by conntrack, and with a bridge
 * (br_netfilter) pod-to-pod discovery crosses the forward hook: without
 * these an IPv6 pod behind a default deny could not even resolve the
 * neighbours its policy allows.  Router advertisements and redirects from a
 * pod (134, 137) stay judged; the node's own come through output, accepted
 * there as the node's traffic.
 */
static const uint8_t ND_TYPES[][2] = { { 130, 133 }, { 135, 136 } };

/*
 * The base chains of a direction: on forward, and on output for what IPVS
 * forwards (it DNATs at input and sends the packet out through the output
 * hook); the node's own traffic (source a local address) passes there.
 */
static void build_base(struct sink *k, int dir, bool output)
{
	const char *base = output ? (dir == NP_INGRESS ? "output-ingress" : "output-egress") :
		(dir == NP_INGRESS ? "ingress" : "egress");
	struct spec s;

	sink_chain(k, base, output ? (dir == NP_INGRESS ? &HOOK_OUT_INGRESS : &HOOK_OUT_EGRESS) :
		   (dir == NP_INGRESS ? &HOOK_INGRESS : &HOOK_EGRESS));
	spec_init(&s, -1, SY_NFT_A_ACCEPT, NULL);
	s.ct_est = true;
	sink_rule(k, base, &s);
	if (output) {
		spec_init(&s, -1, SY_NFT_A_ACCEPT, NULL);
		s.fib_slocal = true;
		sink_rule(k, base, &s);
	}
	for (unsigned i = 0; i < sizeof(ND_TYPES) / sizeof(ND_TYPES[0]); i++) {
		spec_init(&s, 1, SY_NFT_A_ACCEPT, NULL);
		s.icmp6_lo = ND_TYPES[i][0];
		s.icmp6_hi = ND_TYPES[i][1];
		sink_rule(k, base, &s);
	}
	for (int f = 0; f < NFAM; f++) {
		spec_init(&s, f, SY_NFT_A_JUMP, dispatch_name(dir, f));
		spec_lk(&s, gfam(dir == NP_INGRESS ? G_ISO_IN : G_ISO_EG, f), false, 0, 1,
			dir == NP_INGRESS ? f_daddr(f) : f_saddr(f));
		sink_rule(k, base, &s);
	}
}

/* ---- membership counts: the ns-in4/6 / ns-eg4/6 elements ---- */

/* Count an address in (ns, dir) up or down; element op into the sink on 0->1 / 1->0. */
static void nsref_bump(struct netpol_nft *w, struct sink *k, int dir, const char *ns, int f,
		       const void *ab, int by)
{
	struct nskey nk;
	struct kel e;
	long i;

	memset(&nk, 0, sizeof(nk));
	nk.ns = ns;
	nk.fi = (uint8_t)f;
	memcpy(nk.a, ab, fam_alen(f));
	if (by > 0) {
		size_t j = bset_put(&w->nsref[dir], &nk);
		if (w->nsref[dir].v[j]++)
			return;
	} else {
		i = bset_find(&w->nsref[dir], &nk);
		if (i < 0 || --w->nsref[dir].v[i])
			return;
		bset_del(&w->nsref[dir], (size_t)i);
	}
	if (!k)
		return;
	kel_ip(&e, ns_id(w, ns), f, ab);
	sink_elem(k, by > 0, gfam(dir == NP_INGRESS ? G_NS_IN : G_NS_EG, f), &e);
}

static void prec_count(struct netpol_nft *w, struct sink *k, const struct prec *p, int by)
{
	for (int d = 0; d < 2; d++) {
		if (!p->dir[d])
			continue;
		for (int f = 0; f < NFAM; f++)
			bset_foreach(&p->targets[f], i)
				nsref_bump(w, k, d, p->ns, f, p->targets[f].k + i * p->targets[f].w,
					   by);
	}
}

/* ------------------------------------------------------------ full sync */

struct kchain {
	char *name;
	bool base;
	uint64_t *fp;
	unsigned n, cap;
};

struct kstate {
	struct hmap chains, sets;
};

static void kchain_cb(void *arg, const char *name, bool base)
{
	struct kstate *ks = arg;
	struct kchain *c = xcalloc(1, sizeof(*c));

	c->name = xstrdup(name);
	c->base = base;
	hmap_put(&ks->chains, c->name, c);
}

static void krule_cb(void *arg, const char *chain, uint64_t fp)
{
	struct kstate *ks = arg;
	struct kchain *c = hmap_get(&ks->chains, chain);

	if (!c)
		return;
	c->fp = sy_grow(c->fp, c->n, &c->cap, sizeof(*c->fp), 8);
	c->fp[c->n++] = fp;
}

static void kset_cb(void *arg, const char *name)
{
	struct kstate *ks = arg;
	char *n = xstrdup(name);

	free(hmap_put(&ks->sets, n, n));
}

static void kchain_free(void *v)
{
	struct kchain *c = v;

	free(c->fp);
	free(c->name);
	free(c);
}

static void kstate_free(struct kstate *ks)
{
	hmap_clear_free(&ks->chains, kchain_free);
	hmap_clear_free(&ks->sets, free);
}

struct kelem_arg {
	struct bset *out;
	int g;				/* the set's kind */
};

static void kelem_cb(void *arg, const struct sy_nft_elem_info *in)
{
	struct kelem_arg *a = arg;
	uint8_t buf[2 * KMAX];
	unsigned l = gset_klen(a->g);

	if (in->klen != l)	/* not a key of this kind: the set's type is checked apart */
		return;
	memcpy(buf, in->key, l);
	if (GSETS[a->g].interval)
		memcpy(buf + l, in->key_end && in->kelen == l ? in->key_end : in->key, l);
	bset_put(a->out, buf);
}

struct pol_arg {
	struct netpol_nft *w;
	struct sink *k;
	const struct policy_state *ps;
};

static void full_pol_cb(void *arg, const struct np_policy *pol)
{
	struct pol_arg *a = arg;
	struct prec *p = prec_get(a->w, pol->id);

	prec_fill(a->w, p, a->ps, pol);
	prec_elems(a->k, p, true);
	prec_chains(a->k, p);
	prec_count(a->w, a->k, p, +1);
}

struct iso_arg {
	struct sink *k;
	uint8_t set;
};

static void iso_cb(void *arg, const struct np_elem *e)
{
	struct iso_arg *a = arg;
	struct kel k;
	int f = fam_of(&e->addr);

	kel_ip_only(&k, f, e->addr.b);
	sink_elem(a->k, true, gfam(a->set, f), &k);
}

static void build_all(struct netpol_nft *w, struct sink *k, const struct policy_state *ps)
{
	for (int d = 0; d < 2; d++) {
		struct iso_arg ia = { k, d == NP_INGRESS ? G_ISO_IN : G_ISO_EG };
		unsigned n;
		const char **v;

		netpol_set_foreach(ps, (struct np_set_ref){ 0, (uint8_t)(d == NP_INGRESS ?
				   NP_SET_ISOLATED_IN : NP_SET_ISOLATED_EG), 0, 0 }, iso_cb, &ia);
		v = ns_list(w, d, &n);
		for (unsigned i = 0; i < n; i++)
			build_ns(w, k, v[i], d);
		free(v);
		build_dispatch(w, k, d);
		build_base(k, d, false);
		build_base(k, d, true);
	}
}

static void reset_records(struct netpol_nft *w)
{
	for (uint32_t i = 0; i < w->n_precs; i++)
		prec_clear(w, &w->precs[i]);
	for (int d = 0; d < 2; d++) {
		bset_free(&w->nsref[d]);
		hmap_clear(&w->ns_prog[d]);
	}
	hmap_clear(&w->nsids);
	hmap_clear_free(&w->ids, free);
}

/* Write the difference between the desired state k and the kernel's ks into b. */
static int diff_full(struct netpol_nft *w, struct sink *k, struct kstate *ks, bool have_table,
		     struct sy_nft_batch *b, struct netpol_nft_stats *st)
{
	struct hmap_iter it;
	const char *name;
	void *v;

	if (!have_table)
		sy_nft_table_add(b);
	for (unsigned i = 0; i < NSETS; i++) {
		struct sy_nft_set2 d;
		const char *nm;
		if (!sidx_used(i) || hmap_get(&ks->sets, (nm = sname(i))))
			continue;
		d = GSETS[i / NSHARD];
		d.name = nm;
		sy_nft_set2_add(b, &d);
	}
	for (unsigned i = 0; i < k->n_chains; i++) {
		struct dchain *c = k->chain_order[i];
		if (!hmap_get(&ks->chains, c->name))
			sy_nft_chain_add(b, c->name, c->base ? &c->hook : NULL);
	}
	/* elements, per set: deletions first (an interval set refuses an overlap) */
	for (unsigned i = 0; i < NSETS; i++) {
		struct bset have;
		struct bset *want = &k->elems[i];
		const char *nm;
		int r;

		if (!sidx_used(i))
			continue;
		bset_init(&have, kel_width((int)(i / NSHARD)));
		if (hmap_get(&ks->sets, (nm = sname(i)))) {
			struct kelem_arg a = { &have, (int)(i / NSHARD) };
			r = sy_nft_dump_elems2(w->nl, NFPROTO_INET, TABLE, nm, kelem_cb, &a);
			if (r < 0) {
				bset_free(&have);
				snprintf(st->err, sizeof(st->err), "reading set %s: %s", nm,
					 strerror(-r));
				return r;
			}
		}
		bset_foreach(&have, j) {
			const uint8_t *x = have.k + j * have.w;
			if (bset_find(want, x) < 0) {
				struct kel e;
				kel_unpack((int)(i / NSHARD), x, &e);
				elem_write_si(b, false, i, &e);
				st->elems_deleted++;
			}
		}
		bset_foreach(want, j) {
			const uint8_t *x = want->k + j * want->w;
			if (bset_find(&have, x) < 0) {
				struct kel e;
				kel_unpack((int)(i / NSHARD), x, &e);
				elem_write_si(b, true, i, &e);
				st->elems_added++;
			}
		}
		bset_free(&have);
		bset_free(want);	/* done with it: the peak memory stays lower */
	}
	/* chains whose rules differ: rewritten */
	for (unsigned i = 0; i < k->n_chains; i++) {
		struct dchain *c = k->chain_order[i];
		struct kchain *kc = hmap_get(&ks->chains, c->name);
		bool same = kc && kc->n == c->n;

		for (unsigned j = 0; same && j < c->n; j++)
			same = kc->fp[j] == spec_fp(&c->r[j]);
		if (same)
			continue;
		if (kc)
			sy_nft_chain_flush(b, c->name);
		for (unsigned j = 0; j < c->n; j++)
			spec_emit(b, c->name, &c->r[j]);
		st->chains_written++;
	}
	/* stale chains: flushed, then deleted; then stale sets */
	hmap_iter_init(&it, &ks->chains);
	while (hmap_iter_next(&it, &name, &v))
		if (!hmap_get(&k->chains, name) && ((struct kchain *)v)->n)
			sy_nft_chain_flush(b, name);
	hmap_iter_init(&it, &ks->chains);
	while (hmap_iter_next(&it, &name, &v))
		if (!hmap_get(&k->chains, name)) {
			sy_nft_chain_del(b, name);
			st->objs_deleted++;
		}
	hmap_iter_init(&it, &ks->sets);
	while (hmap_iter_next(&it, &name, &v)) {
		bool ours = false;
		for (unsigned i = 0; i < NSETS && !ours; i++)
			ours = sidx_used(i) && !strcmp(name, sname(i));
		if (!ours) {
			sy_nft_set_del(b, name);
			st->objs_deleted++;
		}
	}
	return 0;
}

static int send_batch(struct netpol_nft *w, struct sy_nft_batch *b, struct netpol_nft_stats *st)
{
	struct sy_nft_error e;
	double ks = 0;
	int r;

	st->msgs = sy_nft_batch_count(b);
	if (!st->msgs)
		return 0;
	r = sy_nft_send(w->nl, b, &e, &ks);
	st->kernel_seconds += ks;
	if (r < 0)
		snprintf(st->err, sizeof(st->err), "%s", e.what);
	return r;
}

static int sync_full(struct netpol_nft *w, struct policy_state *ps, struct netpol_nft_stats *st,
		     bool rebuild)
{
	struct sink k;
	struct kstate ks;
	struct pol_arg pa = { w, &k, ps };
	struct sy_nft_batch *b = NULL;
	int have, r;

	sink_init(&k, NULL, st);
	hmap_init(&ks.chains);
	hmap_init(&ks.sets);
	reset_records(w);
	netpol_policy_foreach(ps, full_pol_cb, &pa);
	build_all(w, &k, ps);

	have = sy_nft_table_exists(w->nl, NFPROTO_INET, TABLE);
	if (have < 0) {
		r = have;
		snprintf(st->err, sizeof(st->err), "listing tables: %s", strerror(-r));
		goto out;
	}
	if (have && !rebuild) {
		r = sy_nft_dump_chains(w->nl, NFPROTO_INET, TABLE, kchain_cb, &ks);
		if (r >= 0)
			r = sy_nft_dump_rules(w->nl, NFPROTO_INET, TABLE, krule_cb, &ks);
		if (r >= 0)
			r = sy_nft_dump_sets(w->nl, NFPROTO_INET, TABLE, kset_cb, &ks);
		if (r < 0) {
			snprintf(st->err, sizeof(st->err), "reading table %s: %s", TABLE, strerror(-r));
			goto out;
		}
	}
	b = sy_nft_batch_new(NFPROTO_INET, TABLE);
	if (have && rebuild)
		sy_nft_table_del(b);
	r = diff_full(w, &k, &ks, have && !rebuild, b, st);
	if (r >= 0)
		r = send_batch(w, b, st);
	if (r >= 0)
		for (int d = 0; d < 2; d++) {
			unsigned n;
			const char **v = ns_list(w, d, &n);
			for (unsigned i = 0; i < n; i++)
				hmap_put(&w->ns_prog[d], v[i], (void *)v[i]);
			free(v);
		}
out:
	sy_nft_batch_free(b);
	kstate_free(&ks);
	sink_free(&k);
	sy_nft_pool_trim(0);	/* the batch's pages too (lib/nft.c keeps them for the next batches) */
	malloc_trim(0);	/* the desired state and the batch were transient: give them back */
	return r;
}

/* ------------------------------------------------------------ partial sync */

struct delta_arg {
	struct netpol_nft *w;
	struct sink *k;
	struct netpol_nft_stats *st;
};

/* Add to / delete from a record's copy; false when that changes nothing. */
static bool copy_update(struct bset *s, const void *key, bool add)
{
	long i = bset_find(s, key);

	if (add) {
		if (i >= 0)
			return false;
		bset_put(s, key);
		return true;
	}
	if (i < 0)
		return false;
	bset_del(s, (size_t)i);
	return true;
}

static void delta_cb(void *arg, const struct np_delta *d)
{
	struct delta_arg *a = arg;
	struct netpol_nft *w = a->w;
	struct prec *p = NULL;
	struct prule *pr;
	const uint8_t *ab = d->elem.addr.b;
	int f;
	struct kel e;

	a->st->deltas++;
	if (!sy_addr_is_set(&d->elem.addr))
		return;
	f = fam_of(&d->elem.addr);
	if (d->set.kind >= NP_SET_TARGETS) {
		if (d->set.policy_id >= w->n_precs || !(p = &w->precs[d->set.policy_id])->live)
			return;
	}
	switch (d->set.kind) {
	case NP_SET_ISOLATED_IN:
	case NP_SET_ISOLATED_EG:
		kel_ip_only(&e, f, ab);
		sink_elem(a->k, d->add, gfam(d->set.kind == NP_SET_ISOLATED_IN ? G_ISO_IN : G_ISO_EG,
					     f), &e);
		return;
	case NP_SET_TARGETS:
		if (!copy_update(&p->targets[f], ab, d->add))
			return;
		kel_ip(&e, p->pid, f, ab);
		sink_elem(a->k, d->add, gfam(G_TARGETS, f), &e);
		for (int dir = 0; dir < 2; dir++)
			if (p->dir[dir])
				nsref_bump(w, a->k, dir, p->ns, f, ab, d->add ? 1 : -1);
		return;
	case NP_SET_PEERS:
	case NP_SET_NAMED:
		if (d->set.dir > 1 || !p->dir[d->set.dir] || d->set.rule >= p->n_rules[d->set.dir])
			return;
		pr = &p->r[d->set.dir][d->set.rule];
		if (d->set.kind == NP_SET_PEERS) {
			if (!(pr->rf[f] & RF_S) || !copy_update(&pr->peers[f], ab, d->add))
				return;
			kel_ip(&e, pr->rid, f, ab);
			sink_elem(a->k, d->add, gfam(G_PEERS, f), &e);
		} else {
			uint8_t nk[20];
			nkey_pack(nk, f, ab, d->elem.proto, d->elem.port);
			if (!(pr->rf[f] & RF_N) || !copy_update(&pr->named[f], nk, d->add))
				return;
			kel_named(&e, pr->rid, f, ab, d->elem.proto, d->elem.port);
			sink_elem(a->k, d->add, gfam(G_NAMED, f), &e);
		}
		return;
	default:
		return;
	}
}

struct namev {
	char (*v)[NAMEMAX];
	unsigned n, cap;
};

static char *namev_push(struct namev *v)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? 2 * v->cap : 8;
		v->v = xrealloc(v->v, v->cap * sizeof(*v->v));
	}
	return v->v[v->n++];
}

/* A namespace's chain of one direction that comes (has) or goes. */
struct ns_prog_change {
	const char *ns;
	int dir;
	bool has;
};

static int sync_partial(struct netpol_nft *w, struct policy_state *ps, struct netpol_nft_stats *st)
{
	unsigned nc = 0;
	const struct np_change *ch = netpol_changes(ps, &nc);
	struct sy_nft_batch *b = sy_nft_batch_new(NFPROTO_INET, TABLE);
	struct sink k;
	struct hmap affected;		/* namespaces whose chains are rebuilt */
	struct namev dc = { 0 };	/* chains to delete */
	struct sy_vec prog = { 0 };	/* struct ns_prog_change: ns_prog once the batch is in */
	struct delta_arg da = { w, &k, st };
	bool dispatch[2] = { false, false };
	int r = 0;

	sink_init(&k, b, st);
	hmap_init(&affected);
	st->changes = nc;
	/* the old elements of every changed policy go first, then the new ones */
	for (unsigned i = 0; i < nc; i++) {
		struct prec *old = prec_get(w, ch[i].policy_id);
		if (!old->live)
			continue;
		hmap_put(&affected, old->ns, (void *)old->ns);
		prec_elems(&k, old, false);
		prec_count(w, &k, old, -1);
	}
	for (unsigned i = 0; i < nc; i++) {
		struct prec *old = prec_get(w, ch[i].policy_id), nw;
		const struct np_policy *pol = ch[i].op != NP_POLICY_REMOVED ?
			netpol_policy(ps, ch[i].policy_id) : NULL;
		char oc[2][NAMEMAX], ncn[2][NAMEMAX];
		unsigned n_oc = 0;

		memset(&nw, 0, sizeof(nw));
		for (int d = 0; old->live && d < 2; d++)
			if (old->dir[d])
				chain_name_pol(oc[n_oc++], old, d);
		if (pol) {
			unsigned n_nc = 0;
			prec_clear(w, old);	/* its ids are free for the new version */
			prec_fill(w, &nw, ps, pol);
			prec_elems(&k, &nw, true);
			prec_chains(&k, &nw);
			prec_count(w, &k, &nw, +1);
			hmap_put(&affected, nw.ns, (void *)nw.ns);
			for (int d = 0; d < 2; d++)
				if (nw.dir[d])
					chain_name_pol(ncn[n_nc++], &nw, d);
			for (unsigned j = 0; j < n_oc; j++) {
				bool kept = false;
				for (unsigned m = 0; m < n_nc; m++)
					kept = kept || !strcmp(oc[j], ncn[m]);
				if (!kept)
					memcpy(namev_push(&dc), oc[j], NAMEMAX);
			}
		} else {
			for (unsigned j = 0; j < n_oc; j++)
				memcpy(namev_push(&dc), oc[j], NAMEMAX);
			prec_clear(w, old);
		}
		*old = nw;
	}
	/* element deltas (never about a policy changed above) */
	netpol_deltas_foreach(ps, delta_cb, &da);
	/* the affected namespaces' chains, the dispatch chains */
	{
		struct hmap_iter it;
		const char *ns;
		void *v;

		hmap_iter_init(&it, &affected);
		while (hmap_iter_next(&it, &ns, &v))
			for (int d = 0; d < 2; d++) {
				bool has = ns_has(w, ns, d), had = hmap_get(&w->ns_prog[d], ns) != NULL;
				if (has)
					build_ns(w, &k, ns, d);
				if (has != had) {
					struct ns_prog_change pc = { ns, d, has };

					dispatch[d] = true;
					sy_vec_push(&prog, &pc, sizeof(pc), 16);
				}
				if (!has && had)
					chain_name_ns(namev_push(&dc), ns, d);
			}
	}
	for (int d = 0; d < 2; d++)
		if (dispatch[d])
			build_dispatch(w, &k, d);
	/* what is gone: chains flushed, then deleted */
	for (unsigned i = 0; i < dc.n; i++)
		sy_nft_chain_flush(b, dc.v[i]);
	for (unsigned i = 0; i < dc.n; i++)
		sy_nft_chain_del(b, dc.v[i]);
	st->objs_deleted = dc.n;
	r = send_batch(w, b, st);
	for (unsigned i = 0; r >= 0 && i < prog.n; i++) {
		const struct ns_prog_change *pc = (const struct ns_prog_change *)prog.v + i;

		if (pc->has)
			hmap_put(&w->ns_prog[pc->dir], pc->ns, (void *)pc->ns);
		else
			hmap_del(&w->ns_prog[pc->dir], pc->ns);
	}
	hmap_clear(&affected);
	sy_free_all(dc.v, prog.v);
	sink_free(&k);
	sy_nft_batch_free(b);
	return r;
}

/* ------------------------------------------------------------ interface */

int netpol_nft_new(struct netpol_nft **ret)
{
	struct netpol_nft *w = xcalloc(1, sizeof(*w));
	int r = sy_nft_open(&w->nl);

	if (r < 0) {
		free(w);
		return r;
	}
	for (int d = 0; d < 2; d++) {
		bset_init(&w->nsref[d], sizeof(struct nskey));
		hmap_init(&w->ns_prog[d]);
	}
	hmap_init(&w->ids);
	hmap_init(&w->nsids);
	*ret = w;
	return 0;
}

void netpol_nft_free(struct netpol_nft *w)
{
	if (!w)
		return;
	reset_records(w);
	free(w->precs);
	sy_nft_close(w->nl);
	free(w);
}

int netpol_nft_sync(struct netpol_nft *w, struct policy_state *ps, bool full,
		    struct netpol_nft_stats *st)
{
	double t0 = sy_now_mono();
	int r;

	memset(st, 0, sizeof(*st));
	full = full || !w->synced;
	st->full = full;
	st->policies = netpol_policy_count(ps);
	if (full) {
		r = sync_full(w, ps, st, false);
		if (r < 0) {
			/* an object of ours the kernel refuses to change (say a set of
			 * another type under our name): rebuild the table, one transaction */
			char first[sizeof(st->err)];
			snprintf(first, sizeof(first), "%s", st->err);
			memset(st, 0, sizeof(*st));
			snprintf(st->rebuilt, sizeof(st->rebuilt), "%s", first);
			st->full = true;
			st->policies = netpol_policy_count(ps);
			r = sync_full(w, ps, st, true);
		}
	} else {
		r = sync_partial(w, ps, st);
	}
	st->seconds = sy_now_mono() - t0;
	if (r < 0) {
		w->synced = false;	/* the next sync is a full one */
		return r;
	}
	w->synced = true;
	netpol_commit(ps);
	return 0;
}

int netpol_nft_cleanup(void)
{
	struct sy_nft *nl;
	struct sy_nft_batch *b;
	struct sy_nft_error e;
	int r = sy_nft_open(&nl);

	if (r < 0)
		return sy_nft_unavailable(r) ? 0 : r;
	r = sy_nft_table_exists(nl, NFPROTO_INET, TABLE);
	if (r <= 0) {
		sy_nft_close(nl);
		return r < 0 && sy_nft_unavailable(r) ? 0 : r;
	}
	b = sy_nft_batch_new(NFPROTO_INET, TABLE);
	sy_nft_table_del(b);
	r = sy_nft_send(nl, b, &e, NULL);
	sy_nft_batch_free(b);
	sy_nft_close(nl);
	if (r == -ENOENT)
		return 0;
	return r < 0 ? r : 1;
}
