// SPDX-License-Identifier: Apache-2.0
/*
 * nf_tables over libnftnl + libmnl: batches (one transaction each), the
 * rule shapes of struct sy_nft_rule as expressions, error mapping, dumps.
 * See include/switchyard/nft.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/rtnetlink.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include "switchyard/nft.h"
#include "switchyard/util.h"

#define BATCH_PAGE (256 * 1024)
#define BATCH_OVERRUN (64 * 1024)
#define ELEMS_PER_MSG 256

/* nft's datatype ids (for `nft list` to print keys) */
#define DT_VERDICT 1
#define DT_IPADDR 7
#define DT_IP6ADDR 8
#define DT_INET_PROTO 12
#define DT_INET_SERVICE 13
#define DT_BITS 6
#define DT_MARK_TYPE 19		/* mark: a host-order 32-bit value */
#define DT_INTEGER 4

struct sy_nft {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
};

struct pending_elems {
	struct nftnl_set *s;
	bool add;
	unsigned n;
};

struct sy_nft_batch {
	/* the pages (BATCH_PAGE + BATCH_OVERRUN bytes each), the bytes of whole messages in each */
	struct iovec *iov;
	unsigned n_pages, cap_pages;
	int family;
	char *table;
	uint32_t seq0, seq;		/* first message seq, next seq */
	int tag;
	int *tags;			/* per message, index seq - seq0 - 1 */
	unsigned n_msgs, cap_tags;
	struct pending_elems pe;
};

static uint32_t next_seq;

/* A table family's network header: where the addresses are and how long. */
struct fam {
	unsigned alen;			/* 4 / 16 */
	uint32_t soff, doff;		/* saddr / daddr offsets */
	uint32_t nfproto;		/* NFPROTO_IPV4 / NFPROTO_IPV6 */
	uint32_t dt_addr;		/* nft's ipv4_addr / ipv6_addr */
};

static struct fam fam_of(int family)
{
	if (family == NFPROTO_IPV6)
		return (struct fam){ 16, 8, 24, NFPROTO_IPV6, DT_IP6ADDR };
	return (struct fam){ 4, 12, 16, NFPROTO_IPV4, DT_IPADDR };
}

/* The bytes of an address that a rule or key holds (IPv4 when unset, as before). */
static unsigned addr_len(const struct sy_addr *a)
{
	return a->family == AF_INET6 ? 16 : 4;
}

uint64_t sy_nft_rule_fp(const struct sy_nft_rule *r)
{
	/* FNV-1a over the fields that matter and the strings */
	uint64_t h = 1469598103934665603ull;
#define MIX(p, l) do { const uint8_t *_p = (const uint8_t *)(p); \
	for (size_t _i = 0; _i < (l); _i++) { h ^= _p[_i]; h *= 1099511628211ull; } } while (0)
#define MIXS(s) do { if (s) MIX(s, strlen(s) + 1); else MIX("", 1); } while (0)
	MIX(&r->m, sizeof(r->m));
	MIX(&r->act, 1);
	MIX(&r->splen, 1);
	MIX(&r->dplen, 1);
	MIX(&r->l4proto, 1);
	MIX(&r->dport, 2);
	MIX(&r->to_port, 2);
	MIX(&r->numgen_mod, 4);
	MIX(&r->mark_bit, 4);
	/* an IPv4 rule's fingerprint is the same as before IPv6 existed */
	MIX(r->saddr.b, addr_len(&r->saddr));
	MIX(r->daddr.b, addr_len(&r->daddr));
	MIX(r->to_addr.b, addr_len(&r->to_addr));
	MIXS(r->mset);
	MIXS(r->set);
	MIXS(r->chain);
	if (r->act == SY_NFT_A_DNAT_MAP)
		MIX(&r->numgen_off, 4);
	if (r->act == SY_NFT_A_DNAT_RANGES)
		MIX(&r->rkey, 1);
	if (r->m & (SY_NFT_M_DADDR_LOW | SY_NFT_M_DPORT_LOW))
		MIX(&r->low, 1);
#undef MIX
#undef MIXS
	return h ? h : 1;
}

unsigned sy_nft_key_len(enum sy_nft_key k, int family)
{
	unsigned a = fam_of(family).alen;

	switch (k) {
	case SY_NFT_K_ADDR: return a;
	case SY_NFT_K_DPP: return a + 8;
	case SY_NFT_K_DPPV: return a + 12;
	case SY_NFT_K_AA: return 2 * a;
	case SY_NFT_K_NG: return 4;
	default: return 8;
	}
}

unsigned sy_nft_key_ng(uint8_t *out, uint32_t v)
{
	memset(out, 0, SY_NFT_KEY_MAX);
	memcpy(out, &v, 4);	/* numgen writes host order */
	return 4;
}

unsigned sy_nft_ap_make(uint8_t *out, const struct sy_addr *a, uint16_t port)
{
	uint16_t p = htons(port);

	unsigned l = addr_len(a);

	/* the port takes the 32-bit register after the address */
	memset(out, 0, SY_NFT_AP_LEN);
	memcpy(out, a->b, l);
	memcpy(out + l, &p, 2);
	return l + 4;
}

unsigned sy_nft_key_make(uint8_t *out, enum sy_nft_key k, const struct sy_addr *a, uint8_t proto,
			 uint16_t port)
{
	uint16_t p = htons(port);
	unsigned o = 0, l = addr_len(a);

	memset(out, 0, SY_NFT_KEY_MAX);
	if (k == SY_NFT_K_NG)
		return 4;
	if (k == SY_NFT_K_AA) {
		memcpy(out, a->b, l);
		memcpy(out + l, a->b, l);
		return 2 * l;
	}
	if (k != SY_NFT_K_PP) {
		memcpy(out, a->b, l);
		o = l;
	}
	if (k == SY_NFT_K_ADDR)
		return l;
	out[o] = proto;
	memcpy(out + o + 4, &p, 2);
	if (k == SY_NFT_K_DPPV)
		return o + 12;
	return o + 8;
}

void sy_nft_key_swap(uint8_t *key, unsigned klen)
{
	uint8_t w[4];
	unsigned o = klen - 12;	/* the address's length: proto, port, value follow */

	memcpy(w, key + o, 4);
	memmove(key + o, key + o + 4, 4);
	memcpy(key + o + 4, w, 4);
}

/* ---- socket ---- */

int sy_nft_open(struct sy_nft **ret)
{
	struct sy_nft *n = xcalloc(1, sizeof(*n));
	int one = 1, sz = 4 * 1024 * 1024;

	n->nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!n->nl) {
		int r = -errno;
		free(n);
		return r;
	}
	if (mnl_socket_bind(n->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int r = -errno;
		mnl_socket_close(n->nl);
		free(n);
		return r;
	}
	n->portid = mnl_socket_get_portid(n->nl);
	setsockopt(mnl_socket_get_fd(n->nl), SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz));
	mnl_socket_setsockopt(n->nl, NETLINK_EXT_ACK, &one, sizeof(one));
	if (!next_seq)
		next_seq = (uint32_t)time(NULL);
	*ret = n;
	return 0;
}

void sy_nft_close(struct sy_nft *n)
{
	if (!n)
		return;
	mnl_socket_close(n->nl);
	free(n);
}

/* ---- batch ---- */

/*
 * A batch is a list of pages, as libnftnl's nftnl_batch (the message that
 * crosses a page's end moves to the next page's start; it may run up to
 * BATCH_OVERRUN bytes past the end before), but the pages come from a pool
 * and go back to it: a fresh page is mapped and faulted in page by page
 * (80 page faults), a cost that grew with the bytes written (an IPv6
 * instance's cold start writes ~40 % more than an IPv4 one's), while a
 * page reused is only zeroed.  A full sync's batches, one after the
 * other, take the same few pages, and in dual stack the IPv6 instance
 * takes those the IPv4 one left.  The pool keeps at most POOL_MAX pages
 * (2.5 MB; sy_nft_pool_trim gives them back: the nftables mode after a
 * sync that wrote one batch or none, the NetworkPolicy writer after its
 * full sync); the daemon is single-threaded.
 */
#define PAGE_ALLOC (BATCH_PAGE + BATCH_OVERRUN)
#define POOL_MAX 8

static struct {
	char *pg[POOL_MAX];
	unsigned n;
} pool;

static char *page_get(void)
{
	return pool.n ? pool.pg[--pool.n] : xmalloc(PAGE_ALLOC);
}

static void page_put(char *p)
{
	if (pool.n < POOL_MAX)
		pool.pg[pool.n++] = p;
	else
		free(p);
}

void sy_nft_pool_trim(unsigned keep)
{
	while (pool.n > keep)
		free(pool.pg[--pool.n]);
}

unsigned sy_nft_pool_count(void)
{
	return pool.n;
}

/*
 * A new page, zeroed after its first len bytes (the overrun too): the
 * messages' attribute padding is left unwritten by libnftnl, and the
 * kernel (and valgrind) would read whatever was there before.
 */
static void page_add(struct sy_nft_batch *b, const void *msg, size_t len)
{
	char *p = page_get();

	b->iov = sy_grow(b->iov, b->n_pages, &b->cap_pages, sizeof(*b->iov), 4);
	if (len)
		memcpy(p, msg, len);
	memset(p + len, 0, PAGE_ALLOC - len);
	b->iov[b->n_pages++] = (struct iovec){ .iov_base = p, .iov_len = len };
}

/* Where the next message goes. */
static void *cur(struct sy_nft_batch *b)
{
	const struct iovec *v = &b->iov[b->n_pages - 1];

	return (char *)v->iov_base + v->iov_len;
}

/* The message just built at cur(b) is part of the batch. */
static void batch_update(struct sy_nft_batch *b)
{
	const struct nlmsghdr *nlh = cur(b);
	size_t len = nlh->nlmsg_len;

	if (b->iov[b->n_pages - 1].iov_len + len <= BATCH_PAGE)
		b->iov[b->n_pages - 1].iov_len += len;
	else
		page_add(b, nlh, len);	/* (the old page's copy lies past its iov_len: not sent) */
}

static uint32_t msg_seq(struct sy_nft_batch *b)
{
	if (b->n_msgs == b->cap_tags) {
		b->cap_tags = b->cap_tags ? 2 * b->cap_tags : 256;
		b->tags = xrealloc(b->tags, b->cap_tags * sizeof(*b->tags));
	}
	b->tags[b->n_msgs++] = b->tag;
	return b->seq++;
}

struct sy_nft_batch *sy_nft_batch_new(int family, const char *table)
{
	struct sy_nft_batch *b = xcalloc(1, sizeof(*b));

	page_add(b, NULL, 0);
	b->family = family;
	b->table = xstrdup(table);
	b->tag = -1;
	b->seq0 = next_seq;
	nftnl_batch_begin(cur(b), b->seq0);
	batch_update(b);
	b->seq = b->seq0 + 1;
	return b;
}

void sy_nft_batch_free(struct sy_nft_batch *b)
{
	if (!b)
		return;
	if (b->pe.s)
		nftnl_set_free(b->pe.s);
	for (unsigned i = 0; i < b->n_pages; i++)
		page_put(b->iov[i].iov_base);
	free(b->iov);
	free(b->tags);
	free(b->table);
	free(b);
}

static void flush_elems(struct sy_nft_batch *b)
{
	struct nlmsghdr *nlh;

	if (!b->pe.s)
		return;
	nlh = nftnl_nlmsg_build_hdr(cur(b), b->pe.add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM,
				    b->family, b->pe.add ? NLM_F_CREATE : 0, msg_seq(b));
	nftnl_set_elems_nlmsg_build_payload(nlh, b->pe.s);
	batch_update(b);
	nftnl_set_free(b->pe.s);
	b->pe.s = NULL;
	b->pe.n = 0;
}

unsigned sy_nft_batch_count(const struct sy_nft_batch *b)
{
	return b->n_msgs + (b->pe.s ? 1 : 0);
}

size_t sy_nft_batch_bytes(const struct sy_nft_batch *b)
{
	size_t n = 0;

	for (unsigned i = 0; i < b->n_pages; i++)
		n += b->iov[i].iov_len;
	return n;
}

void sy_nft_batch_tag(struct sy_nft_batch *b, int tag)
{
	if (tag != b->tag)
		flush_elems(b);
	b->tag = tag;
}

static void table_msg(struct sy_nft_batch *b, uint16_t type, uint16_t flags)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;

	flush_elems(b);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, b->table);
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, (uint32_t)b->family);
	nlh = nftnl_nlmsg_build_hdr(cur(b), type, b->family, flags, msg_seq(b));
	nftnl_table_nlmsg_build_payload(nlh, t);
	batch_update(b);
	nftnl_table_free(t);
}

void sy_nft_table_add(struct sy_nft_batch *b)
{
	table_msg(b, NFT_MSG_NEWTABLE, NLM_F_CREATE);
}

void sy_nft_table_del(struct sy_nft_batch *b)
{
	table_msg(b, NFT_MSG_DELTABLE, 0);
}

static void chain_msg(struct sy_nft_batch *b, uint16_t type, uint16_t flags, const char *name,
		      const struct sy_nft_hook *hook)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh;

	flush_elems(b);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, b->table);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, (uint32_t)b->family);
	if (hook) {
		nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, hook->hooknum);
		nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, hook->prio);
		nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, hook->type);
		nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	}
	nlh = nftnl_nlmsg_build_hdr(cur(b), type, b->family, flags, msg_seq(b));
	nftnl_chain_nlmsg_build_payload(nlh, c);
	batch_update(b);
	nftnl_chain_free(c);
}

void sy_nft_chain_add(struct sy_nft_batch *b, const char *name, const struct sy_nft_hook *hook)
{
	chain_msg(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE, name, hook);
}

void sy_nft_chain_del(struct sy_nft_batch *b, const char *name)
{
	chain_msg(b, NFT_MSG_DELCHAIN, 0, name, NULL);
}

/* Make r a rule of chain in the batch's table (the pending elements sent first). */
static struct nftnl_rule *rule_obj(struct sy_nft_batch *b, struct nftnl_rule *r, const char *chain)
{
	flush_elems(b);
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, b->table);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, (uint32_t)b->family);
	return r;
}

/* Queue a rule message for r with comment (NULL: none); r stays the caller's. */
static void rule_msg(struct sy_nft_batch *b, struct nftnl_rule *r, uint16_t type, uint16_t flags,
		     const char *comment)
{
	struct nlmsghdr *nlh;

	if (comment) {
		struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(strlen(comment) + 16);

		nftnl_udata_put_strz(ud, NFTNL_UDATA_RULE_COMMENT, comment);
		nftnl_rule_set_data(r, NFTNL_RULE_USERDATA, nftnl_udata_buf_data(ud),
				    nftnl_udata_buf_len(ud));
		nftnl_udata_buf_free(ud);
	}
	nlh = nftnl_nlmsg_build_hdr(cur(b), type, b->family, flags, msg_seq(b));
	nftnl_rule_nlmsg_build_payload(nlh, r);
	batch_update(b);
}

void sy_nft_chain_flush(struct sy_nft_batch *b, const char *name)
{
	struct nftnl_rule *r = rule_obj(b, nftnl_rule_alloc(), name);

	rule_msg(b, r, NFT_MSG_DELRULE, 0, NULL);
	nftnl_rule_free(r);
}

/* ---- expressions ---- */

/*
 * A new expression with n u32 attributes ({ attribute, value } pairs) at
 * the end of r; returned for its other attributes.
 */
static struct nftnl_expr *e_add(struct nftnl_rule *r, const char *name, unsigned n,
				const uint32_t (*u32)[2])
{
	struct nftnl_expr *e = nftnl_expr_alloc(name);

	for (unsigned i = 0; i < n; i++)
		nftnl_expr_set_u32(e, (uint16_t)u32[i][0], u32[i][1]);
	nftnl_rule_add_expr(r, e);
	return e;
}

static void e_payload(struct nftnl_rule *r, uint32_t base, uint32_t off, uint32_t len, uint32_t dreg)
{
	e_add(r, "payload", 4, (const uint32_t[][2]){ { NFTNL_EXPR_PAYLOAD_BASE, base },
		{ NFTNL_EXPR_PAYLOAD_OFFSET, off }, { NFTNL_EXPR_PAYLOAD_LEN, len },
		{ NFTNL_EXPR_PAYLOAD_DREG, dreg } });
}

static void e_meta(struct nftnl_rule *r, uint32_t key, uint32_t dreg)
{
	e_add(r, "meta", 2, (const uint32_t[][2]){ { NFTNL_EXPR_META_KEY, key },
		{ NFTNL_EXPR_META_DREG, dreg } });
}

static void e_meta_set(struct nftnl_rule *r, uint32_t key, uint32_t sreg)
{
	e_add(r, "meta", 2, (const uint32_t[][2]){ { NFTNL_EXPR_META_KEY, key },
		{ NFTNL_EXPR_META_SREG, sreg } });
}

static void e_cmp(struct nftnl_rule *r, uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = e_add(r, "cmp", 2, (const uint32_t[][2]){
		{ NFTNL_EXPR_CMP_SREG, NFT_REG_1 }, { NFTNL_EXPR_CMP_OP, op } });

	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
}

static void e_bitwise(struct nftnl_rule *r, uint32_t len, const void *mask, const void *xor)
{
	struct nftnl_expr *e = e_add(r, "bitwise", 3, (const uint32_t[][2]){
		{ NFTNL_EXPR_BITWISE_SREG, NFT_REG_1 }, { NFTNL_EXPR_BITWISE_DREG, NFT_REG_1 },
		{ NFTNL_EXPR_BITWISE_LEN, len } });

	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, xor, len);
}

/* the set's lookup; vmap: its verdict applied */
static void e_lookup(struct nftnl_rule *r, uint32_t sreg, const char *set, bool vmap)
{
	struct nftnl_expr *e = e_add(r, "lookup", vmap ? 2 : 1, (const uint32_t[][2]){
		{ NFTNL_EXPR_LOOKUP_SREG, sreg }, { NFTNL_EXPR_LOOKUP_DREG, NFT_REG_VERDICT } });

	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
}

/* Whether the key from register 0 on is in set (inv: is not). */
static void e_match(struct nftnl_rule *r, const char *set, bool inv)
{
	struct nftnl_expr *e = e_add(r, "lookup", inv ? 2 : 1, (const uint32_t[][2]){
		{ NFTNL_EXPR_LOOKUP_SREG, NFT_REG32_00 }, { NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV } });

	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
}

static void e_imm_data(struct nftnl_rule *r, uint32_t dreg, const void *data, uint32_t len)
{
	struct nftnl_expr *e = e_add(r, "immediate", 1, (const uint32_t[][2]){
		{ NFTNL_EXPR_IMM_DREG, dreg } });

	nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, data, len);
}

static void e_verdict(struct nftnl_rule *r, int verdict, const char *chain)
{
	struct nftnl_expr *e = e_add(r, "immediate", 2, (const uint32_t[][2]){
		{ NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT }, { NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict } });

	if (chain)
		nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain);
}

static void e_fib_local(struct nftnl_rule *r, bool daddr)
{
	uint32_t local = RTN_LOCAL;

	e_add(r, "fib", 3, (const uint32_t[][2]){ { NFTNL_EXPR_FIB_DREG, NFT_REG_1 },
		{ NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE },
		{ NFTNL_EXPR_FIB_FLAGS, daddr ? NFTA_FIB_F_DADDR : NFTA_FIB_F_SADDR } });
	e_cmp(r, NFT_CMP_EQ, &local, 4);
}

/* ip[6] saddr|daddr [!]= addr/plen (off: the field's offset; f: the table's family) */
static void m_addr(struct nftnl_rule *r, const struct fam *f, uint32_t off,
		   const struct sy_addr *addr, uint8_t plen, bool inv)
{
	uint8_t a[16] = { 0 }, mask[16] = { 0 }, zero[16] = { 0 };

	memcpy(a, addr->b, f->alen);
	e_payload(r, NFT_PAYLOAD_NETWORK_HEADER, off, f->alen, NFT_REG_1);
	if (plen < f->alen * 8) {
		for (unsigned i = 0; i < f->alen; i++) {
			unsigned bits = plen > 8 * i ? plen - 8 * i : 0;
			mask[i] = bits >= 8 ? 0xff : (uint8_t)(0xff00 >> bits);
			a[i] &= mask[i];
		}
		e_bitwise(r, f->alen, mask, zero);
	}
	e_cmp(r, inv ? NFT_CMP_NEQ : NFT_CMP_EQ, a, f->alen);
}

static void mark_op(struct nftnl_rule *r, uint32_t mask, uint32_t xor)
{
	e_meta(r, NFT_META_MARK, NFT_REG_1);
	e_bitwise(r, 4, &mask, &xor);
	e_meta_set(r, NFT_META_MARK, NFT_REG_1);
}

static int rule_exprs(struct nftnl_rule *nr, const struct sy_nft_rule *r, const struct fam *f)
{
	uint32_t zero = 0, areg = f->alen / 4;	/* 32-bit registers an address takes */

	if (r->m & SY_NFT_M_CT_NEW) {
		struct nftnl_expr *e = nftnl_expr_alloc("ct");
		uint32_t mask = NF_CT_STATE_BIT(IP_CT_NEW);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_STATE);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
		nftnl_rule_add_expr(nr, e);
		e_bitwise(nr, 4, &mask, &zero);
		e_cmp(nr, NFT_CMP_NEQ, &zero, 4);
	}
	if (r->m & SY_NFT_M_SADDR)
		m_addr(nr, f, f->soff, &r->saddr, r->splen, r->m & SY_NFT_M_SADDR_INV);
	if (r->m & SY_NFT_M_DADDR)
		m_addr(nr, f, f->doff, &r->daddr, r->dplen, r->m & SY_NFT_M_DADDR_INV);
	if (r->m & SY_NFT_M_FIB_DLOCAL)
		e_fib_local(nr, true);
	if (r->m & SY_NFT_M_FIB_SLOCAL)
		e_fib_local(nr, false);
	if (r->m & SY_NFT_M_DADDR_NOT_LO) {
		/* kube-proxy: ip daddr != 127.0.0.0/8, ip6 daddr != ::1 */
		struct sy_addr lo = sy_addr4_host(0x7f000000);

		if (f->alen == 16)
			sy_addr_parse("::1", &lo);
		m_addr(nr, f, f->doff, &lo, f->alen == 16 ? 128 : 8, true);
	}
	if (r->m & SY_NFT_M_L4PROTO) {
		e_meta(nr, NFT_META_L4PROTO, NFT_REG_1);
		e_cmp(nr, NFT_CMP_EQ, &r->l4proto, 1);
	}
	if (r->m & SY_NFT_M_DPORT) {
		uint16_t p = htons(r->dport);
		e_payload(nr, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG_1);
		e_cmp(nr, NFT_CMP_EQ, &p, 2);
	}
	if (r->m & SY_NFT_M_DADDR_LOW) {
		/* ip daddr & 0.0.0.15 == 0.0.0.low: the whole field (nft lists it so) */
		uint8_t mask[16] = { 0 }, v[16] = { 0 }, zero16[16] = { 0 };
		if (r->low > 15)
			return -EINVAL;
		mask[f->alen - 1] = 15;
		v[f->alen - 1] = r->low;
		e_payload(nr, NFT_PAYLOAD_NETWORK_HEADER, f->doff, f->alen, NFT_REG_1);
		e_bitwise(nr, f->alen, mask, zero16);
		e_cmp(nr, NFT_CMP_EQ, v, f->alen);
	}
	if (r->m & SY_NFT_M_DPORT_LOW) {
		/* th dport & 15 == low (network order) */
		uint8_t mask[2] = { 0, 15 }, v[2] = { 0, r->low }, zero2[2] = { 0 };
		if (r->low > 15)
			return -EINVAL;
		e_payload(nr, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG_1);
		e_bitwise(nr, 2, mask, zero2);
		e_cmp(nr, NFT_CMP_EQ, v, 2);
	}
	if (r->m & SY_NFT_M_MARK_UNSET) {
		e_meta(nr, NFT_META_MARK, NFT_REG_1);
		e_bitwise(nr, 4, &r->mark_bit, &zero);
		e_cmp(nr, NFT_CMP_EQ, &zero, 4);
	}
	if (r->m & (SY_NFT_M_SADDR_SET | SY_NFT_M_DADDR_SET)) {
		if (!r->mset)
			return -EINVAL;
		e_payload(nr, NFT_PAYLOAD_NETWORK_HEADER, r->m & SY_NFT_M_SADDR_SET ? f->soff : f->doff,
			  f->alen, NFT_REG_1);
		e_lookup(nr, NFT_REG_1, r->mset, false);
	}
	if (r->m & SY_NFT_M_CT_DNAT) {
		struct nftnl_expr *e = nftnl_expr_alloc("ct");
		uint32_t mask = IPS_DST_NAT;
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_STATUS);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
		nftnl_rule_add_expr(nr, e);
		e_bitwise(nr, 4, &mask, &zero);
		e_cmp(nr, NFT_CMP_NEQ, &zero, 4);
	}
	if (r->m & SY_NFT_M_SD_SET) {
		if (!r->mset)
			return -EINVAL;
		e_payload(nr, NFT_PAYLOAD_NETWORK_HEADER, f->soff, f->alen, NFT_REG32_00);
		e_payload(nr, NFT_PAYLOAD_NETWORK_HEADER, f->doff, f->alen, NFT_REG32_00 + areg);
		e_lookup(nr, NFT_REG32_00, r->mset, false);
	}
	if (r->m & SY_NFT_M_NUMGEN) {
		struct nftnl_expr *e = nftnl_expr_alloc("numgen");
		if (!r->numgen_mod)
			return -EINVAL;
		nftnl_expr_set_u32(e, NFTNL_EXPR_NG_DREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NG_MODULUS, r->numgen_mod);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NG_TYPE, NFT_NG_RANDOM);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NG_OFFSET, 0);
		nftnl_rule_add_expr(nr, e);
		e_cmp(nr, NFT_CMP_EQ, &zero, 4);
	}

	switch (r->act) {
	case SY_NFT_A_NONE:
		break;
	case SY_NFT_A_ACCEPT:
		e_verdict(nr, NF_ACCEPT, NULL);
		break;
	case SY_NFT_A_DROP:
		e_verdict(nr, NF_DROP, NULL);
		break;
	case SY_NFT_A_RETURN:
		e_verdict(nr, NFT_RETURN, NULL);
		break;
	case SY_NFT_A_JUMP:
	case SY_NFT_A_GOTO:
		if (!r->chain)
			return -EINVAL;
		e_verdict(nr, r->act == SY_NFT_A_JUMP ? NFT_JUMP : NFT_GOTO, r->chain);
		break;
	case SY_NFT_A_REJECT: {
		struct nftnl_expr *e = nftnl_expr_alloc("reject");
		nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, NFT_REJECT_ICMP_UNREACH);
		/* port unreachable: ICMP_PORT_UNREACH 3, ICMPV6_PORT_UNREACH 4 (nft's default) */
		nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, f->alen == 16 ? 4 : 3);
		nftnl_rule_add_expr(nr, e);
		break;
	}
	case SY_NFT_A_VMAP_DPP:
	case SY_NFT_A_VMAP_PP: {
		uint32_t reg = NFT_REG32_00;
		if (!r->set)
			return -EINVAL;
		if (r->act == SY_NFT_A_VMAP_DPP) {
			e_payload(nr, NFT_PAYLOAD_NETWORK_HEADER, f->doff, f->alen, reg);
			reg += areg;
		}
		e_meta(nr, NFT_META_L4PROTO, reg++);
		e_payload(nr, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, reg);
		e_lookup(nr, NFT_REG32_00, r->set, true);
		break;
	}
	case SY_NFT_A_MARK_OR:
		mark_op(nr, ~r->mark_bit, r->mark_bit);
		break;
	case SY_NFT_A_MARK_XOR:
		mark_op(nr, 0xffffffffu, r->mark_bit);
		break;
	case SY_NFT_A_MASQ: {
		struct nftnl_expr *e = nftnl_expr_alloc("masq");
		nftnl_expr_set_u32(e, NFTNL_EXPR_MASQ_FLAGS, NF_NAT_RANGE_PROTO_RANDOM_FULLY);
		nftnl_rule_add_expr(nr, e);
		break;
	}
	case SY_NFT_A_DNAT: {
		struct nftnl_expr *e;
		uint16_t p = htons(r->to_port);
		e_imm_data(nr, NFT_REG_1, r->to_addr.b, f->alen);
		e_imm_data(nr, NFT_REG_2, &p, 2);
		e = nftnl_expr_alloc("nat");
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, f->nfproto);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, NFT_REG_2);
		nftnl_rule_add_expr(nr, e);
		break;
	}
	case SY_NFT_A_DNAT_MAP:
	case SY_NFT_A_DNAT_RANGES: {
		/* DNAT_RANGES: the key daddr . l4proto . dport . value in registers 0.. */
		uint32_t reg = NFT_REG32_00, vreg = NFT_REG_1;
		struct nftnl_expr *e;
		if (!r->set || !r->numgen_mod)
			return -EINVAL;
		if (r->act == SY_NFT_A_DNAT_RANGES) {
			e_payload(nr, NFT_PAYLOAD_NETWORK_HEADER, f->doff, f->alen, reg);
			if (r->rkey == SY_NFT_RK_NODEPORT) {
				/*
				 * `ip daddr & 0.0.0.0`: the address 0 (an immediate 0
				 * would do the same, but nft lists it as `0x0 [invalid
				 * type]`); NFT_REG_1 is NFT_REG32_00 .. 03
				 */
				uint8_t zero16[16] = { 0 };
				e_bitwise(nr, f->alen, zero16, zero16);
			}
			reg += areg;
			if (r->rkey == SY_NFT_RK_DPORT_PROTO) {
				e_payload(nr, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, reg++);
				e_meta(nr, NFT_META_L4PROTO, reg++);
			} else {
				e_meta(nr, NFT_META_L4PROTO, reg++);
				e_payload(nr, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, reg++);
			}
			vreg = reg;
		}
		e = nftnl_expr_alloc("numgen");
		nftnl_expr_set_u32(e, NFTNL_EXPR_NG_DREG, vreg);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NG_MODULUS, r->numgen_mod);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NG_TYPE, NFT_NG_RANDOM);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NG_OFFSET, r->act == SY_NFT_A_DNAT_MAP ? r->numgen_off : 0);
		nftnl_rule_add_expr(nr, e);
		/* the interval map's keys are big-endian (memcmp order = numeric order) */
		e = nftnl_expr_alloc("byteorder");
		nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SREG, vreg);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_DREG, vreg);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_OP, NFT_BYTEORDER_HTON);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_LEN, 4);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SIZE, 4);
		nftnl_rule_add_expr(nr, e);
		e = nftnl_expr_alloc("lookup");
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, r->act == SY_NFT_A_DNAT_MAP ? vreg : NFT_REG32_00);
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, NFT_REG_1);
		nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, r->set);
		nftnl_rule_add_expr(nr, e);
		e = nftnl_expr_alloc("nat");
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, f->nfproto);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, NFT_REG_1);
		/* the map's data: the address, then the port in the next 32-bit register */
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, NFT_REG32_00 + areg);
		nftnl_rule_add_expr(nr, e);
		break;
	}
	case SY_NFT_A_UPDATE_SADDR: {
		struct nftnl_expr *e = nftnl_expr_alloc("dynset");
		if (!r->set)
			return -EINVAL;
		e_payload(nr, NFT_PAYLOAD_NETWORK_HEADER, f->soff, f->alen, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, NFT_DYNSET_OP_UPDATE);
		nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, r->set);
		nftnl_rule_add_expr(nr, e);
		break;
	}
	default:
		return -EINVAL;
	}
	return 0;
}

int sy_nft_rule_add(struct sy_nft_batch *b, const char *chain, const struct sy_nft_rule *r)
{
	struct nftnl_rule *nr = rule_obj(b, nftnl_rule_alloc(), chain);
	struct fam f = fam_of(b->family);
	char comment[32];
	int ret;

	ret = rule_exprs(nr, r, &f);
	if (ret < 0) {
		nftnl_rule_free(nr);
		return ret;
	}
	snprintf(comment, sizeof(comment), "sy:%016llx", (unsigned long long)sy_nft_rule_fp(r));
	rule_msg(b, nr, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, comment);
	nftnl_rule_free(nr);
	return 0;
}

/* ---- sets ---- */

static struct nftnl_set *set_obj(struct sy_nft_batch *b, const char *name)
{
	struct nftnl_set *s = nftnl_set_alloc();

	nftnl_set_set_str(s, NFTNL_SET_TABLE, b->table);
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, (uint32_t)b->family);
	return s;
}

/* Queue a set message (elems: its elements part) and free s. */
static void set_msg(struct sy_nft_batch *b, struct nftnl_set *s, uint16_t type, uint16_t flags,
		    bool elems)
{
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(cur(b), type, b->family, flags, msg_seq(b));

	if (elems)
		nftnl_set_elems_nlmsg_build_payload(nlh, s);
	else
		nftnl_set_nlmsg_build_payload(nlh, s);
	batch_update(b);
	nftnl_set_free(s);
}

/* NFTNL_SET_ELEM_VERDICT of an element verdict (enum sy_nft_ev or SY_NFT_EV_JUMP). */
static uint32_t elem_verdict(uint8_t ev)
{
	return ev == SY_NFT_EV_GOTO ? (uint32_t)NFT_GOTO : ev == SY_NFT_EV_JUMP ? (uint32_t)NFT_JUMP :
	       ev == SY_NFT_EV_DROP ? NF_DROP : NF_ACCEPT;
}

/*
 * A new element with key in set, queued in the batch's pending message
 * (which is sent first when it is for another set or operation, or full).
 */
static struct nftnl_set_elem *elem_new(struct sy_nft_batch *b, bool add, const char *set,
					const uint8_t *key, unsigned klen)
{
	struct nftnl_set_elem *e;

	if (b->pe.s && (b->pe.add != add || b->pe.n >= ELEMS_PER_MSG ||
			strcmp(nftnl_set_get_str(b->pe.s, NFTNL_SET_NAME), set)))
		flush_elems(b);
	if (!b->pe.s) {
		b->pe.s = set_obj(b, set);
		b->pe.add = add;
	}
	e = nftnl_set_elem_alloc();
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, klen);
	nftnl_set_elem_add(b->pe.s, e);
	b->pe.n++;
	return e;
}

void sy_nft_set_add(struct sy_nft_batch *b, const struct sy_nft_set *d)
{
	struct nftnl_set *s = set_obj(b, d->name);
	struct fam f = fam_of(b->family);
	uint32_t flags = 0, ktype, dt = f.dt_addr;

	flush_elems(b);
	ktype = d->key == SY_NFT_K_ADDR ? dt :
		d->key == SY_NFT_K_DPP ? ((dt << DT_BITS | DT_INET_PROTO) << DT_BITS) | DT_INET_SERVICE :
		d->key == SY_NFT_K_NG ? DT_MARK_TYPE :
		d->key == SY_NFT_K_AA ? dt << DT_BITS | dt :
		d->key == SY_NFT_K_DPPV ? DT_INTEGER :
		DT_INET_PROTO << DT_BITS | DT_INET_SERVICE;
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, ktype);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, sy_nft_key_len(d->key, b->family));
	if (d->map) {
		flags |= NFT_SET_MAP;
		nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
	} else if (d->ap_data) {
		flags |= NFT_SET_MAP;
		nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, dt << DT_BITS | DT_INET_SERVICE);
		nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, f.alen + 4);
	}
	if (d->interval)
		flags |= NFT_SET_INTERVAL;
	if (d->timeout_s) {
		flags |= NFT_SET_TIMEOUT | NFT_SET_EVAL;
		nftnl_set_set_u64(s, NFTNL_SET_TIMEOUT, (uint64_t)d->timeout_s * 1000);
	}
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, flags);
	nftnl_set_set_u32(s, NFTNL_SET_ID, b->seq);
	if (d->key == SY_NFT_K_NG) {
		/* nft prints the keys in host order (its BYTEORDER_HOST_ENDIAN = 1; interval: big-endian, 2) */
		struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(64);
		nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, d->interval ? 2 : 1);
		nftnl_set_set_data(s, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud), nftnl_udata_buf_len(ud));
		nftnl_udata_buf_free(ud);
	}
	set_msg(b, s, NFT_MSG_NEWSET, NLM_F_CREATE, false);
}

void sy_nft_set_del(struct sy_nft_batch *b, const char *name)
{
	flush_elems(b);
	set_msg(b, set_obj(b, name), NFT_MSG_DELSET, 0, false);
}

void sy_nft_set_flush(struct sy_nft_batch *b, const char *name)
{
	flush_elems(b);
	set_msg(b, set_obj(b, name), NFT_MSG_DELSETELEM, 0, true);
}

void sy_nft_elem(struct sy_nft_batch *b, bool add, const char *set, const uint8_t *key,
		 unsigned klen, uint8_t ev, const char *chain)
{
	struct nftnl_set_elem *e = elem_new(b, add, set, key, klen);

	if (add && ev != SY_NFT_EV_NONE) {
		nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT, elem_verdict(ev));
		if ((ev == SY_NFT_EV_GOTO || ev == SY_NFT_EV_JUMP) && chain)
			nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_CHAIN, chain);
	}
}

void sy_nft_elem_data(struct sy_nft_batch *b, bool add, const char *set, const uint8_t *key,
		      unsigned klen, const uint8_t *data, unsigned dlen)
{
	struct nftnl_set_elem *e = elem_new(b, add, set, key, klen);

	if (add && data)
		nftnl_set_elem_set(e, NFTNL_SET_ELEM_DATA, data, dlen);
}

void sy_nft_elem_iv(struct sy_nft_batch *b, bool add, const char *set, const uint8_t *key,
		    unsigned klen, bool end, const uint8_t *data, unsigned dlen)
{
	struct nftnl_set_elem *e = elem_new(b, add, set, key, klen);

	if (end)
		nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
	else if (add && data)
		nftnl_set_elem_set(e, NFTNL_SET_ELEM_DATA, data, dlen);
}

/* ---- send ---- */

/*
 * A message's attributes by type (those above OBJ_ATTR_MAX are not read).
 * Every kind names its table in attribute 1 (NFTA_TABLE_NAME,
 * NFTA_CHAIN_TABLE, NFTA_RULE_TABLE, NFTA_SET_TABLE).
 */
_Static_assert((int)NFTA_CHAIN_TABLE == NFTA_TABLE_NAME &&
	       (int)NFTA_RULE_TABLE == NFTA_TABLE_NAME && (int)NFTA_SET_TABLE == NFTA_TABLE_NAME,
	       "a message's table is attribute 1");
#define OBJ_ATTR_MAX 16		/* above every attribute read */

static int obj_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	uint16_t type = mnl_attr_get_type(attr);

	if (type <= OBJ_ATTR_MAX)
		tb[type] = attr;
	return MNL_CB_OK;
}

/* A string attribute (NULL when absent or not NUL-terminated). */
static const char *attr_str(const struct nlattr *a)
{
	return a && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0 ? mnl_attr_get_str(a) : NULL;
}

/* What a batch message does, and the attribute that names its object. */
static const struct {
	const char *what;
	uint16_t name_attr;
} msg_kinds[] = {
	[NFT_MSG_NEWTABLE] = { "add table", NFTA_TABLE_NAME },
	[NFT_MSG_DELTABLE] = { "delete table", NFTA_TABLE_NAME },
	[NFT_MSG_NEWCHAIN] = { "add chain", NFTA_CHAIN_NAME },
	[NFT_MSG_DELCHAIN] = { "delete chain", NFTA_CHAIN_NAME },
	[NFT_MSG_NEWRULE] = { "add rule to", NFTA_RULE_CHAIN },
	[NFT_MSG_DELRULE] = { "flush chain", NFTA_RULE_CHAIN },
	[NFT_MSG_NEWSET] = { "add set", NFTA_SET_NAME },
	[NFT_MSG_DELSET] = { "delete set", NFTA_SET_NAME },
	[NFT_MSG_NEWSETELEM] = { "add element to", NFTA_SET_ELEM_LIST_SET },
	[NFT_MSG_DELSETELEM] = { "delete element from", NFTA_SET_ELEM_LIST_SET },
};

/* The object named in the echoed message that failed. */
static void describe(const struct nlmsghdr *orig, size_t avail, int err, char *out, size_t len)
{
	const struct nlattr *tb[OBJ_ATTR_MAX + 1] = { 0 };
	uint16_t type = orig->nlmsg_type & 0xff;
	bool known = type < ARRAY_SIZE(msg_kinds) && msg_kinds[type].what;
	const char *name = NULL;

	if (known && avail >= orig->nlmsg_len &&
	    mnl_attr_parse(orig, sizeof(struct nfgenmsg), obj_attr_cb, tb) >= 0)
		name = attr_str(tb[msg_kinds[type].name_attr]);
	snprintf(out, len, "%s %s: %s", known ? msg_kinds[type].what : "message", name ? name : "?",
		 strerror(-err));
}

/* The pending elements and the batch's end message: ready to send. */
static void batch_finish(struct sy_nft_batch *b)
{
	flush_elems(b);
	nftnl_batch_end(cur(b), b->seq);
	batch_update(b);
	next_seq = b->seq + 1;
}

int sy_nft_send(struct sy_nft *n, struct sy_nft_batch *b, struct sy_nft_error *e, double *kernel_s)
{
	static char rbuf[1 << 20];
	struct sockaddr_nl snl = { .nl_family = AF_NETLINK };
	struct msghdr msg = { 0 };
	int fd = mnl_socket_get_fd(n->nl), ret = 0;
	size_t total;
	double t0;

	memset(e, 0, sizeof(*e));
	e->tag = -1;
	batch_finish(b);

	total = sy_nft_batch_bytes(b);
	{
		int sz = (int)(total + 65536);
		setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz));
	}
	msg.msg_name = &snl;
	msg.msg_namelen = sizeof(snl);
	msg.msg_iov = b->iov;
	msg.msg_iovlen = b->n_pages;
	t0 = sy_now_mono();
	if (sendmsg(fd, &msg, 0) < 0) {
		ret = -errno;
		snprintf(e->what, sizeof(e->what), "sending the batch (%zu bytes): %s", total, strerror(-ret));
		e->err = ret;
		return ret;
	}
	if (kernel_s)
		*kernel_s = sy_now_mono() - t0;

	/* the kernel processed the batch inside sendmsg: its errors are queued now */
	for (;;) {
		ssize_t len = recv(fd, rbuf, sizeof(rbuf), MSG_DONTWAIT);
		if (len < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK && !ret) {
				ret = -errno;
				e->err = ret;
				snprintf(e->what, sizeof(e->what), "reading the kernel's answer: %s",
					 strerror(errno));
			}
			break;
		}
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)rbuf;
		int rem = (int)len;
		while (mnl_nlmsg_ok(nlh, rem)) {
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *ne = mnl_nlmsg_get_payload(nlh);
				if (ne->error && !ret) {
					size_t avail = nlh->nlmsg_len - NLMSG_HDRLEN - offsetof(struct nlmsgerr, msg);
					ret = ne->error;
					e->err = ret;
					uint32_t s = ne->msg.nlmsg_seq;
					if (s > b->seq0 && s - b->seq0 - 1 < b->n_msgs)
						e->tag = b->tags[s - b->seq0 - 1];
					describe(&ne->msg, avail, ret, e->what, sizeof(e->what));
				}
			}
			nlh = mnl_nlmsg_next(nlh, &rem);
		}
	}
	return ret;
}

/* ---- dumps ---- */

typedef int (*dump_cb)(const struct nlmsghdr *nlh, void *data);

static int dump(struct sy_nft *n, struct nlmsghdr *req, dump_cb cb, void *arg)
{
	static char buf[65536 * 4];
	uint32_t seq = req->nlmsg_seq;
	ssize_t len;
	int r;

	if (mnl_socket_sendto(n->nl, req, req->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		len = mnl_socket_recvfrom(n->nl, buf, sizeof(buf));
		if (len < 0)
			return -errno;
		r = mnl_cb_run(buf, (size_t)len, seq, n->portid, cb, arg);
		if (r < 0)
			return errno ? -errno : -EIO;
		if (r == MNL_CB_STOP)
			return 0;
	}
}

/*
 * The table, chain, rule and set dumps: what a reply names, read straight
 * from its attributes (obj_attr_cb); the reply's type says which of the
 * callbacks it goes to.
 */
struct obj_arg {
	const char *table;
	bool found;					/* tables */
	void (*chain_cb)(void *arg, const char *name, bool base);
	void (*rule_cb)(void *arg, const char *chain, uint64_t fp);
	void (*set_cb)(void *arg, const char *name);
	void *arg;
};

static int udata_cb(const struct nftnl_udata *attr, void *data)
{
	uint64_t *fp = data;
	const char *s = nftnl_udata_get(attr);

	if (nftnl_udata_type(attr) == NFTNL_UDATA_RULE_COMMENT && nftnl_udata_len(attr) > 3 &&
	    !strncmp(s, "sy:", 3))
		*fp = strtoull(s + 3, NULL, 16);
	return 0;
}

/* The fingerprint in a rule's "sy:" comment, 0 without one. */
static uint64_t rule_fp(const struct nlattr *userdata)
{
	uint64_t fp = 0;

	if (userdata && mnl_attr_get_payload_len(userdata))
		nftnl_udata_parse(mnl_attr_get_payload(userdata), mnl_attr_get_payload_len(userdata),
				  udata_cb, &fp);
	return fp;
}

static int obj_cb(const struct nlmsghdr *nlh, void *data)
{
	struct obj_arg *a = data;
	const struct nlattr *tb[OBJ_ATTR_MAX + 1] = { 0 };
	const char *table;

	if (mnl_attr_parse(nlh, sizeof(struct nfgenmsg), obj_attr_cb, tb) < 0)
		return MNL_CB_OK;
	table = attr_str(tb[NFTA_TABLE_NAME]);
	if (!table || strcmp(table, a->table))
		return MNL_CB_OK;
	switch (NFNL_MSG_TYPE(nlh->nlmsg_type)) {
	case NFT_MSG_NEWTABLE:
		a->found = true;
		break;
	case NFT_MSG_NEWCHAIN:
		a->chain_cb(a->arg, attr_str(tb[NFTA_CHAIN_NAME]), tb[NFTA_CHAIN_HOOK] != NULL);
		break;
	case NFT_MSG_NEWRULE:
		a->rule_cb(a->arg, attr_str(tb[NFTA_RULE_CHAIN]), rule_fp(tb[NFTA_RULE_USERDATA]));
		break;
	case NFT_MSG_NEWSET:
		a->set_cb(a->arg, attr_str(tb[NFTA_SET_NAME]));
		break;
	}
	return MNL_CB_OK;
}

/* Dump the tables, chains or rules (type NFT_MSG_GET*) of family. */
static int dump_objs(struct sy_nft *n, uint16_t type, int family, struct obj_arg *a)
{
	char buf[8192] = { 0 };	/* libnftnl leaves attribute padding unwritten */
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, type, (uint16_t)family, NLM_F_DUMP,
						     next_seq++);

	/* the kernel dumps the rules of NFTA_RULE_TABLE only (sets: dump_set_req) */
	if (type == NFT_MSG_GETRULE)
		mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, a->table);
	return dump(n, nlh, obj_cb, a);
}

int sy_nft_table_exists(struct sy_nft *n, int family, const char *table)
{
	struct obj_arg a = { .table = table };
	int r = dump_objs(n, NFT_MSG_GETTABLE, family, &a);

	return r < 0 ? r : a.found;
}

bool sy_nft_unavailable(int err)
{
	return err == -EINVAL || err == -EPROTONOSUPPORT || err == -EAFNOSUPPORT;
}

int sy_nft_dump_chains(struct sy_nft *n, int family, const char *table,
		       void (*cb)(void *arg, const char *name, bool base), void *arg)
{
	struct obj_arg a = { .table = table, .chain_cb = cb, .arg = arg };

	return dump_objs(n, NFT_MSG_GETCHAIN, family, &a);
}

int sy_nft_dump_rules(struct sy_nft *n, int family, const char *table,
		      void (*cb)(void *arg, const char *chain, uint64_t fp), void *arg)
{
	struct obj_arg a = { .table = table, .rule_cb = cb, .arg = arg };

	return dump_objs(n, NFT_MSG_GETRULE, family, &a);
}

/* Dump the sets of table (set NULL) or the elements of one set of it. */
static int dump_set_req(struct sy_nft *n, int family, const char *table, const char *set,
			dump_cb cb, void *arg)
{
	char buf[8192] = { 0 };	/* libnftnl leaves attribute padding unwritten */
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, set ? NFT_MSG_GETSETELEM : NFT_MSG_GETSET,
						     (uint16_t)family, NLM_F_DUMP, next_seq++);
	struct nftnl_set *s = nftnl_set_alloc();

	nftnl_set_set_str(s, NFTNL_SET_TABLE, table);
	if (set) {
		nftnl_set_set_str(s, NFTNL_SET_NAME, set);
		nftnl_set_elems_nlmsg_build_payload(nlh, s);
	} else {
		nftnl_set_nlmsg_build_payload(nlh, s);
	}
	nftnl_set_free(s);
	return dump(n, nlh, cb, arg);
}

int sy_nft_dump_sets(struct sy_nft *n, int family, const char *table,
		     void (*cb)(void *arg, const char *name), void *arg)
{
	struct obj_arg a = { .table = table, .set_cb = cb, .arg = arg };

	return dump_set_req(n, family, table, NULL, obj_cb, &a);
}

/* ---- generic shapes: concatenated keys, interval and mark maps, a rule builder ---- */

#define DT_IP6ADDR 8
#define DT_MARK 19

unsigned sy_nft_field_len(uint8_t f)
{
	return f == SY_NFT_F_IP6_SADDR || f == SY_NFT_F_IP6_DADDR ? 16 : 4;
}

unsigned sy_nft_field_vlen(uint8_t f)
{
	switch (f) {
	case SY_NFT_F_IP6_SADDR: case SY_NFT_F_IP6_DADDR: return 16;
	case SY_NFT_F_L4PROTO: return 1;
	case SY_NFT_F_TH_DPORT: return 2;
	default: return 4;
	}
}

static uint32_t field_dt(uint8_t f)
{
	switch (f) {
	case SY_NFT_F_IP4_SADDR: case SY_NFT_F_IP4_DADDR: return DT_IPADDR;
	case SY_NFT_F_IP6_SADDR: case SY_NFT_F_IP6_DADDR: return DT_IP6ADDR;
	case SY_NFT_F_L4PROTO: return DT_INET_PROTO;
	case SY_NFT_F_TH_DPORT: return DT_INET_SERVICE;
	default: return DT_MARK;
	}
}

unsigned sy_nft_key_put(uint8_t *key, unsigned off, uint8_t f, const void *val)
{
	unsigned l = sy_nft_field_len(f);

	memset(key + off, 0, l);
	memcpy(key + off, val, sy_nft_field_vlen(f));
	return off + l;
}

void sy_nft_set2_add(struct sy_nft_batch *b, const struct sy_nft_set2 *d)
{
	struct nftnl_set *s = set_obj(b, d->name);
	uint32_t flags = 0, ktype = 0, klen = 0;
	uint8_t flen[16] = { 0 };

	flush_elems(b);
	for (unsigned i = 0; i < d->n_fields; i++) {
		ktype = ktype << DT_BITS | field_dt(d->fields[i]);
		klen += sy_nft_field_len(d->fields[i]);
		flen[i] = (uint8_t)sy_nft_field_vlen(d->fields[i]);
	}
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, ktype);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, klen);
	if (d->interval) {
		flags |= NFT_SET_INTERVAL;
		if (d->n_fields > 1) {
			flags |= NFT_SET_CONCAT;
			nftnl_set_set_data(s, NFTNL_SET_DESC_CONCAT, flen, d->n_fields);
		}
	}
	if (d->data == SY_NFT_D_VERDICT) {
		flags |= NFT_SET_MAP;
		nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
	} else if (d->data == SY_NFT_D_MARK) {
		flags |= NFT_SET_MAP;
		nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, DT_MARK);
		nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, 4);
	}
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, flags);
	nftnl_set_set_u32(s, NFTNL_SET_ID, b->seq);
	set_msg(b, s, NFT_MSG_NEWSET, NLM_F_CREATE, false);
}

void sy_nft_elem2(struct sy_nft_batch *b, bool add, const char *set, const struct sy_nft_elem2 *d)
{
	struct nftnl_set_elem *e = elem_new(b, add, set, d->key, d->klen);

	if (d->key_end)
		nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY_END, d->key_end, d->klen);
	if (add && d->ev != SY_NFT_EV_NONE) {
		nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT, elem_verdict(d->ev));
		if ((d->ev == SY_NFT_EV_GOTO || d->ev == SY_NFT_EV_JUMP) && d->chain)
			nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_CHAIN, d->chain);
	} else if (add && d->has_data) {
		nftnl_set_elem_set(e, NFTNL_SET_ELEM_DATA, &d->data, 4);
	}
}

struct sy_nft_rb {
	struct nftnl_rule *r;
};

struct sy_nft_rb *sy_nft_rb_new(void)
{
	struct sy_nft_rb *rb = xcalloc(1, sizeof(*rb));

	rb->r = nftnl_rule_alloc();
	return rb;
}

void sy_nft_rb_free(struct sy_nft_rb *rb)
{
	if (!rb)
		return;
	nftnl_rule_free(rb->r);
	free(rb);
}

void sy_nft_rb_nfproto(struct sy_nft_rb *rb, uint8_t nfproto)
{
	e_meta(rb->r, NFT_META_NFPROTO, NFT_REG_1);
	e_cmp(rb->r, NFT_CMP_EQ, &nfproto, 1);
}

void sy_nft_rb_ct_state(struct sy_nft_rb *rb, uint32_t bits)
{
	struct nftnl_expr *e = nftnl_expr_alloc("ct");
	uint32_t zero = 0;

	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_STATE);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
	nftnl_rule_add_expr(rb->r, e);
	e_bitwise(rb->r, 4, &bits, &zero);
	e_cmp(rb->r, NFT_CMP_NEQ, &zero, 4);
}

/* The packet header bytes of each field a rule loads (len 0: none; l4proto is meta). */
static const struct {
	uint32_t base, off, len;
} field_payload[] = {
	[SY_NFT_F_IP4_SADDR] = { NFT_PAYLOAD_NETWORK_HEADER, 12, 4 },
	[SY_NFT_F_IP4_DADDR] = { NFT_PAYLOAD_NETWORK_HEADER, 16, 4 },
	[SY_NFT_F_IP6_SADDR] = { NFT_PAYLOAD_NETWORK_HEADER, 8, 16 },
	[SY_NFT_F_IP6_DADDR] = { NFT_PAYLOAD_NETWORK_HEADER, 24, 16 },
	[SY_NFT_F_TH_DPORT] = { NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2 },
};

/* Load the fields into consecutive 32-bit registers from reg. */
static void load_fields_at(struct nftnl_rule *r, uint32_t reg, const uint8_t *fields, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint8_t f = fields[i];

		if (f == SY_NFT_F_L4PROTO)
			e_meta(r, NFT_META_L4PROTO, reg);
		else if (f < ARRAY_SIZE(field_payload) && field_payload[f].len)
			e_payload(r, field_payload[f].base, field_payload[f].off, field_payload[f].len,
				  reg);
		reg += sy_nft_field_len(f) / 4;
	}
}

static void load_fields(struct nftnl_rule *r, const uint8_t *fields, unsigned n)
{
	load_fields_at(r, NFT_REG32_00, fields, n);
}

void sy_nft_rb_lookup_id(struct sy_nft_rb *rb, uint32_t id, const uint8_t *fields, unsigned n,
			 const char *set, bool inv)
{
	uint32_t be = htonl(id);

	e_imm_data(rb->r, NFT_REG32_00, &be, 4);
	load_fields_at(rb->r, NFT_REG32_01, fields, n);
	e_match(rb->r, set, inv);
}

void sy_nft_rb_lookup(struct sy_nft_rb *rb, const uint8_t *fields, unsigned n, const char *set,
		      bool inv)
{
	load_fields(rb->r, fields, n);
	e_match(rb->r, set, inv);
}

void sy_nft_rb_map_vmap(struct sy_nft_rb *rb, const uint8_t *fields, unsigned n, const char *map,
			const char *vmap)
{
	struct nftnl_expr *e = nftnl_expr_alloc("lookup");

	load_fields(rb->r, fields, n);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG32_00);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, NFT_REG32_00);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, map);
	nftnl_rule_add_expr(rb->r, e);
	e_lookup(rb->r, NFT_REG32_00, vmap, true);
}

void sy_nft_rb_verdict(struct sy_nft_rb *rb, enum sy_nft_act act, const char *chain)
{
	switch (act) {
	case SY_NFT_A_ACCEPT: e_verdict(rb->r, NF_ACCEPT, NULL); break;
	case SY_NFT_A_DROP: e_verdict(rb->r, NF_DROP, NULL); break;
	case SY_NFT_A_RETURN: e_verdict(rb->r, NFT_RETURN, NULL); break;
	case SY_NFT_A_JUMP: e_verdict(rb->r, NFT_JUMP, chain); break;
	case SY_NFT_A_GOTO: e_verdict(rb->r, NFT_GOTO, chain); break;
	default: break;
	}
}

void sy_nft_rb_fib_saddr_local(struct sy_nft_rb *rb)
{
	e_fib_local(rb->r, false);
}

void sy_nft_rb_icmp6_type(struct sy_nft_rb *rb, uint8_t lo, uint8_t hi)
{
	struct nftnl_expr *e;
	uint8_t proto = IPPROTO_ICMPV6;

	e_meta(rb->r, NFT_META_L4PROTO, NFT_REG_1);
	e_cmp(rb->r, NFT_CMP_EQ, &proto, 1);
	e_payload(rb->r, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1, NFT_REG_1);
	if (lo == hi) {
		e_cmp(rb->r, NFT_CMP_EQ, &lo, 1);
		return;
	}
	e = nftnl_expr_alloc("range");
	nftnl_expr_set_u32(e, NFTNL_EXPR_RANGE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_RANGE_OP, NFT_RANGE_EQ);
	nftnl_expr_set(e, NFTNL_EXPR_RANGE_FROM_DATA, &lo, 1);
	nftnl_expr_set(e, NFTNL_EXPR_RANGE_TO_DATA, &hi, 1);
	nftnl_rule_add_expr(rb->r, e);
}

void sy_nft_rb_reject_admin(struct sy_nft_rb *rb)
{
	struct nftnl_expr *e = nftnl_expr_alloc("reject");

	nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, NFT_REJECT_ICMPX_UNREACH);
	nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, NFT_REJECT_ICMPX_ADMIN_PROHIBITED);
	nftnl_rule_add_expr(rb->r, e);
}

uint64_t sy_nft_fp_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++) {
		h ^= (uint8_t)*s;
		h *= 1099511628211ull;
	}
	return h ? h : 1;
}

void sy_nft_rb_add(struct sy_nft_batch *b, const char *chain, struct sy_nft_rb *rb, uint64_t fp,
		   const char *note)
{
	struct nftnl_rule *nr = rb->r;
	char comment[256];

	rule_obj(b, nr, chain);
	snprintf(comment, sizeof(comment), "sy:%016llx%s%s", (unsigned long long)fp,
		 note ? " " : "", note ? note : "");
	rule_msg(b, nr, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, comment);
	sy_nft_rb_free(rb);
}

struct elem2_arg {
	void (*cb)(void *arg, const struct sy_nft_elem_info *e);
	void *arg;
};

static int elem2_cb(const struct nlmsghdr *nlh, void *data)
{
	struct elem2_arg *a = data;
	struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_set_elems_iter *it;
	struct nftnl_set_elem *e;

	if (nftnl_set_elems_nlmsg_parse(nlh, s) < 0) {
		nftnl_set_free(s);
		return MNL_CB_OK;
	}
	it = nftnl_set_elems_iter_create(s);
	while ((e = nftnl_set_elems_iter_next(it))) {
		struct sy_nft_elem_info in = { 0 };
		uint32_t len = 0;
		const void *p;

		in.key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &in.klen);
		if (!in.key)
			continue;
		if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_KEY_END))
			in.key_end = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY_END, &in.kelen);
		if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS))
			in.end = nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS) & NFT_SET_ELEM_INTERVAL_END;
		if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_VERDICT)) {
			int v = (int)nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_VERDICT);
			in.ev = v == NFT_GOTO ? SY_NFT_EV_GOTO : v == NFT_JUMP ? SY_NFT_EV_JUMP :
				v == NF_DROP ? SY_NFT_EV_DROP : v == NF_ACCEPT ? SY_NFT_EV_ACCEPT : 0xff;
			if (v == NFT_GOTO || v == NFT_JUMP)
				in.chain = nftnl_set_elem_get_str(e, NFTNL_SET_ELEM_CHAIN);
		} else if ((p = nftnl_set_elem_get(e, NFTNL_SET_ELEM_DATA, &len))) {
			in.dval = p;
			in.dlen = len;
			if (len == 4) {
				in.has_data = true;
				memcpy(&in.data, p, 4);
			}
		}
		a->cb(a->arg, &in);
	}
	nftnl_set_elems_iter_destroy(it);
	nftnl_set_free(s);
	return MNL_CB_OK;
}

int sy_nft_dump_elems2(struct sy_nft *n, int family, const char *table, const char *set,
		       void (*cb)(void *arg, const struct sy_nft_elem_info *e), void *arg)
{
	struct elem2_arg a = { cb, arg };

	return dump_set_req(n, family, table, set, elem2_cb, &a);
}
