// SPDX-License-Identifier: Apache-2.0
/* The libiptc edit layer, for ip (libip4tc) and ip6 (libip6tc) tables (see switchyard/iptc.h). */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <libiptc/libiptc.h>
#include <libiptc/libip6tc.h>
#include <linux/netfilter/nf_nat.h>
#include "switchyard/addr.h"
#include "switchyard/iptc.h"

#define IPTC_TRIES 3

/*
 * A family: its libiptc entry points (both libraries share struct
 * xtc_handle and differ only in the entry type) and where its entry header
 * keeps what the layer reads and writes.
 */
struct iptc_family {
	int family;
	struct xtc_handle *(*init)(const char *table);
	int (*commit)(struct xtc_handle *h);
	void (*free)(struct xtc_handle *h);
	int (*is_chain)(const char *chain, struct xtc_handle *h);
	int (*create_chain)(const char *chain, struct xtc_handle *h);
	int (*flush_entries)(const char *chain, struct xtc_handle *h);
	int (*delete_chain)(const char *chain, struct xtc_handle *h);
	const void *(*first_rule)(const char *chain, struct xtc_handle *h);
	const void *(*next_rule)(const void *prev, struct xtc_handle *h);
	const char *(*get_target)(const void *e, struct xtc_handle *h);
	int (*append_entry)(const char *chain, const void *e, struct xtc_handle *h);
	int (*insert_entry)(const char *chain, const void *e, unsigned num, struct xtc_handle *h);
	int (*delete_num_entry)(const char *chain, unsigned num, struct xtc_handle *h);
	const char *(*strerror)(int err);
	size_t entry_size;	/* sizeof(struct ipt_entry) / sizeof(struct ip6t_entry) */
	size_t addr_part;	/* the entry's leading struct ipt_ip / ip6t_ip6 */
	size_t addr_len;	/* its addresses' size */
	size_t invflags;	/* offsetof its invflags */
	size_t target_offset, next_offset;	/* offsetof the two u16 fields */
};

/*
 * One family's table from its libiptc prefix, entry type and address part;
 * the calls differ from the table's only in the entry pointer type.
 */
#define IPTC_FAMILY(af, pfx, entry, addr) { \
	.family = af, .init = pfx##_init, .commit = pfx##_commit, .free = pfx##_free, \
	.is_chain = pfx##_is_chain, .create_chain = pfx##_create_chain, \
	.flush_entries = pfx##_flush_entries, .delete_chain = pfx##_delete_chain, \
	.first_rule = (const void *(*)(const char *, struct xtc_handle *))pfx##_first_rule, \
	.next_rule = (const void *(*)(const void *, struct xtc_handle *))pfx##_next_rule, \
	.get_target = (const char *(*)(const void *, struct xtc_handle *))pfx##_get_target, \
	.append_entry = (int (*)(const char *, const void *, struct xtc_handle *))pfx##_append_entry, \
	.insert_entry = (int (*)(const char *, const void *, unsigned, \
				 struct xtc_handle *))pfx##_insert_entry, \
	.delete_num_entry = pfx##_delete_num_entry, .strerror = pfx##_strerror, \
	.entry_size = sizeof(struct entry), .addr_part = sizeof(struct addr), \
	.addr_len = sizeof(((struct addr *)0)->src), .invflags = offsetof(struct addr, invflags), \
	.target_offset = offsetof(struct entry, target_offset), \
	.next_offset = offsetof(struct entry, next_offset), \
}

static const struct iptc_family fam4 = IPTC_FAMILY(AF_INET, iptc, ipt_entry, ipt_ip);
static const struct iptc_family fam6 = IPTC_FAMILY(AF_INET6, ip6tc, ip6t_entry, ip6t_ip6);

struct sy_iptc {
	const struct iptc_family *f;
	struct xtc_handle *h;
};

static const struct iptc_family *fam(int family)
{
	return family == AF_INET6 ? &fam6 : &fam4;
}

static int err_or(int fallback)
{
	return errno ? -errno : fallback;
}

int sy_iptc_edit(int family, const char *table, int (*edit)(struct sy_iptc *t, void *arg),
		 void *arg, enum sy_iptc_step *step)
{
	struct sy_iptc t = { .f = fam(family) };
	enum sy_iptc_step dummy;
	int r = 0;

	if (!step)
		step = &dummy;
	for (int attempt = 0; attempt < IPTC_TRIES; attempt++) {
		*step = SY_IPTC_INIT;
		t.h = t.f->init(table);
		if (!t.h)
			return err_or(-EIO);
		*step = SY_IPTC_EDIT;
		r = edit(&t, arg);
		if (r <= 0) {
			t.f->free(t.h);
			return r;
		}
		*step = SY_IPTC_COMMIT;
		if (t.f->commit(t.h)) {
			t.f->free(t.h);
			return 1;
		}
		r = err_or(-EIO);
		t.f->free(t.h);
		if (r != -EAGAIN)
			break;	/* EAGAIN: someone else committed in between: redo */
	}
	return r;
}

const char *sy_iptc_strerror(int family, int err)
{
	return fam(family)->strerror(err);
}

/* ---- entries ------------------------------------------------------------------- */

static uint16_t *u16_at(const void *e, size_t off)
{
	return (uint16_t *)((char *)e + off);
}

size_t sy_iptc_entry_size(int family)
{
	return fam(family)->entry_size;
}

unsigned sy_iptc_entry_next(int family, const void *e)
{
	return *u16_at(e, fam(family)->next_offset);
}

const struct xt_entry_target *sy_iptc_entry_target(int family, const void *e)
{
	return (const void *)((const char *)e + *u16_at(e, fam(family)->target_offset));
}

bool sy_iptc_entry_equal(int family, const void *e, const char *e_target,
			 const struct sy_iptc_rule *want)
{
	const struct iptc_family *f = fam(family);
	const void *w = want->buf;
	unsigned toff = *u16_at(w, f->target_offset);
	const struct xt_entry_target *et, *wt;

	if (!e_target || memcmp(e, w, f->addr_part) != 0 ||
	    *u16_at(e, f->target_offset) != toff ||
	    *u16_at(e, f->next_offset) != *u16_at(w, f->next_offset))
		return false;
	/* matches: header (size, name, revision) and data */
	for (size_t off = XT_ALIGN(f->entry_size); off < toff;) {
		const struct xt_entry_match *em = (const void *)((const char *)e + off);
		const struct xt_entry_match *wm = (const void *)((const char *)w + off);

		if (em->u.match_size != wm->u.match_size || !wm->u.match_size ||
		    strcmp(em->u.user.name, wm->u.user.name) != 0 ||
		    em->u.user.revision != wm->u.user.revision ||
		    memcmp(em->data, wm->data, wm->u.match_size - sizeof(*wm)) != 0)
			return false;
		off += wm->u.match_size;
	}
	wt = sy_iptc_entry_target(family, w);
	if (strcmp(e_target, wt->u.user.name) != 0)
		return false;
	et = sy_iptc_entry_target(family, e);
	if (et->u.user.name[0] == 0)
		return true;	/* a standard target: a verdict or a jump, named by e_target */
	return et->u.user.revision == wt->u.user.revision &&
	       memcmp(et->data, wt->data, wt->u.target_size - sizeof(*wt)) == 0;
}

/* ---- building a rule ---------------------------------------------------------- */

void sy_iptc_rule_init(struct sy_iptc_rule *r, int family)
{
	memset(r, 0, sizeof(*r));
	r->family = family;
	r->len = XT_ALIGN(fam(family)->entry_size);
}

static void addr_mask(const struct sy_cidr *c, void *addr, void *mask, size_t len)
{
	unsigned char *m = mask;

	memcpy(addr, c->addr.family == AF_INET6 ? (const void *)&c->addr.v6 :
	       (const void *)&c->addr.v4, len);
	for (unsigned i = 0; i < c->plen && i < len * 8; i++)
		m[i / 8] |= (unsigned char)(0x80 >> (i % 8));
}

/*
 * Both families' address parts start src, dst, smsk, dmsk (addr_len bytes
 * each), and their invflags share the bits.
 */
_Static_assert(offsetof(struct ipt_ip, dmsk) == 3 * sizeof(struct in_addr) &&
	       offsetof(struct ip6t_ip6, dmsk) == 3 * sizeof(struct in6_addr) &&
	       IPT_INV_SRCIP == IP6T_INV_SRCIP && IPT_INV_DSTIP == IP6T_INV_DSTIP,
	       "x_tables address parts differ");

static void rule_addr(struct sy_iptc_rule *r, const struct sy_cidr *c, bool invert, bool dst)
{
	const struct iptc_family *f = fam(r->family);
	unsigned char *ip = r->buf;

	if (!c->addr.family)
		return;
	addr_mask(c, ip + (dst ? 1 : 0) * f->addr_len, ip + (dst ? 3 : 2) * f->addr_len,
		  f->addr_len);
	if (invert)
		ip[f->invflags] |= dst ? IPT_INV_DSTIP : IPT_INV_SRCIP;
}

void sy_iptc_rule_src(struct sy_iptc_rule *r, const struct sy_cidr *c, bool invert)
{
	rule_addr(r, c, invert, false);
}

void sy_iptc_rule_dst(struct sy_iptc_rule *r, const struct sy_cidr *c, bool invert)
{
	rule_addr(r, c, invert, true);
}

void sy_iptc_rule_proto(struct sy_iptc_rule *r, uint8_t proto)
{
	if (r->family == AF_INET6) {
		struct ip6t_entry *e = (void *)r->buf;

		e->ipv6.proto = proto;
		e->ipv6.flags |= IP6T_F_PROTO;	/* as ip6tables -p writes it */
	} else {
		((struct ipt_entry *)(void *)r->buf)->ip.proto = proto;
	}
}

/* A match or a target (their headers are laid out alike: size, name, revision) at the end. */
static void *ext_add(struct sy_iptc_rule *r, const char *name, uint8_t rev, size_t size)
{
	size_t total = XT_ALIGN(sizeof(struct xt_entry_match)) + XT_ALIGN(size);
	struct xt_entry_match *m = (struct xt_entry_match *)(r->buf + r->len);

	_Static_assert(sizeof(struct xt_entry_match) == sizeof(struct xt_entry_target) &&
		       offsetof(struct xt_entry_match, data) ==
		       offsetof(struct xt_entry_target, data), "match and target headers differ");
	assert(r->len + total <= sizeof(r->buf));
	m->u.user.match_size = (uint16_t)total;
	snprintf(m->u.user.name, sizeof(m->u.user.name), "%s", name);
	m->u.user.revision = rev;
	r->len += total;
	return m->data;
}

void *sy_iptc_rule_match(struct sy_iptc_rule *r, const char *name, uint8_t rev, size_t size)
{
	return ext_add(r, name, rev, size);
}

void *sy_iptc_rule_target(struct sy_iptc_rule *r, const char *name, uint8_t rev, size_t size)
{
	const struct iptc_family *f = fam(r->family);
	void *data;

	*u16_at(r->buf, f->target_offset) = (uint16_t)r->len;
	data = ext_add(r, name, rev, size);
	*u16_at(r->buf, f->next_offset) = (uint16_t)r->len;
	return data;
}

void sy_iptc_rule_jump(struct sy_iptc_rule *r, const char *to)
{
	sy_iptc_rule_target(r, to, 0, sizeof(int));
}

void sy_iptc_rule_masquerade(struct sy_iptc_rule *r, bool random_fully)
{
	unsigned flags = random_fully ? NF_NAT_RANGE_PROTO_RANDOM_FULLY : 0;

	if (r->family == AF_INET6) {
		struct nf_nat_range *t = sy_iptc_rule_target(r, "MASQUERADE", 0, sizeof(*t));

		t->flags = flags;
	} else {
		struct nf_nat_ipv4_multi_range_compat *t =
			sy_iptc_rule_target(r, "MASQUERADE", 0, sizeof(*t));

		t->rangesize = 1;
		t->range[0].flags = flags;
	}
}

/* ---- libiptc on an open table ------------------------------------------------- */

int sy_iptc_family(const struct sy_iptc *t)
{
	return t->f->family;
}

bool sy_iptc_is_chain(struct sy_iptc *t, const char *chain)
{
	return t->f->is_chain(chain, t->h);
}

const void *sy_iptc_first_rule(struct sy_iptc *t, const char *chain)
{
	return t->f->first_rule(chain, t->h);
}

const void *sy_iptc_next_rule(struct sy_iptc *t, const void *e)
{
	return t->f->next_rule(e, t->h);
}

const char *sy_iptc_get_target(struct sy_iptc *t, const void *e)
{
	return t->f->get_target(e, t->h);
}

int sy_iptc_append(struct sy_iptc *t, const char *chain, const struct sy_iptc_rule *r)
{
	return t->f->append_entry(chain, r->buf, t->h) ? 0 : err_or(-EIO);
}

/* ---- the edits ------------------------------------------------------------------ */

static bool is_jump(struct sy_iptc *t, const void *e, const char *to)
{
	const char *target = sy_iptc_get_target(t, e);

	return target && strcmp(target, to) == 0;
}

bool sy_iptc_chain_equal(struct sy_iptc *t, const struct sy_iptc_chain *c)
{
	const void *e;
	unsigned i = 0;

	for (e = sy_iptc_first_rule(t, c->name); e; e = sy_iptc_next_rule(t, e), i++)
		if (i >= c->n || !sy_iptc_entry_equal(t->f->family, e, sy_iptc_get_target(t, e),
						      &c->rules[i]))
			return false;
	return i == c->n;
}

int sy_iptc_chains_ensure(struct sy_iptc *t, const struct sy_iptc_chain *c, unsigned n)
{
	bool changed = false;

	for (unsigned i = 0; i < n; i++) {
		if (sy_iptc_is_chain(t, c[i].name))
			continue;
		if (!t->f->create_chain(c[i].name, t->h))
			return err_or(-EIO);
		changed = true;
	}
	for (unsigned i = 0; i < n; i++) {
		if (sy_iptc_chain_equal(t, &c[i]))
			continue;
		changed = true;
		if (!t->f->flush_entries(c[i].name, t->h))
			return err_or(-EIO);
		for (unsigned k = 0; k < c[i].n; k++) {
			int r = sy_iptc_append(t, c[i].name, &c[i].rules[k]);

			if (r < 0)
				return r;
		}
	}
	return changed;
}

unsigned sy_iptc_count_jumps(struct sy_iptc *t, const struct sy_iptc_jump *j)
{
	unsigned n = 0;

	for (const void *e = sy_iptc_first_rule(t, j->from); e; e = sy_iptc_next_rule(t, e))
		n += is_jump(t, e, j->to);
	return n;
}

/* Delete every rule of j->from that jumps to j->to: how many, or -errno. */
static int delete_jumps(struct sy_iptc *t, const struct sy_iptc_jump *j)
{
	unsigned pos = 0;
	int n = 0;

	for (const void *e = sy_iptc_first_rule(t, j->from); e;) {
		if (!is_jump(t, e, j->to)) {
			e = sy_iptc_next_rule(t, e);
			pos++;
			continue;
		}
		if (!t->f->delete_num_entry(j->from, pos, t->h))
			return err_or(-EIO);
		n++;
		/* the walk restarts: libiptc's rule pointers do not survive a delete */
		e = sy_iptc_first_rule(t, j->from);
		for (unsigned k = 0; k < pos && e; k++)
			e = sy_iptc_next_rule(t, e);
	}
	return n;
}

int sy_iptc_jump_first(struct sy_iptc *t, const struct sy_iptc_jump *j)
{
	const void *first = sy_iptc_first_rule(t, j->from);
	struct sy_iptc_rule jump;
	int r;

	if (first && is_jump(t, first, j->to) && sy_iptc_count_jumps(t, j) == 1)
		return 0;
	r = delete_jumps(t, j);
	if (r < 0)
		return r;
	sy_iptc_rule_init(&jump, t->f->family);
	sy_iptc_rule_jump(&jump, j->to);
	if (!t->f->insert_entry(j->from, jump.buf, 0, t->h))
		return err_or(-EIO);
	return 1;
}

int sy_iptc_jump_append(struct sy_iptc *t, const struct sy_iptc_jump *j)
{
	struct sy_iptc_rule jump;
	int r;

	if (sy_iptc_count_jumps(t, j))
		return 0;
	sy_iptc_rule_init(&jump, t->f->family);
	sy_iptc_rule_jump(&jump, j->to);
	r = sy_iptc_append(t, j->from, &jump);
	return r < 0 ? r : 1;
}

int sy_iptc_remove(struct sy_iptc *t, const struct sy_iptc_jump *jumps, unsigned n_jumps,
		   const char *const *chains, unsigned n_chains)
{
	bool changed = false;

	for (unsigned i = 0; i < n_jumps; i++) {
		int r = delete_jumps(t, &jumps[i]);

		if (r < 0)
			return r;
		changed |= r > 0;
	}
	for (unsigned i = 0; i < n_chains; i++) {
		if (!sy_iptc_is_chain(t, chains[i]))
			continue;
		if (!t->f->flush_entries(chains[i], t->h))
			return err_or(-EIO);
		changed = true;
	}
	for (unsigned i = 0; i < n_chains; i++)
		if (sy_iptc_is_chain(t, chains[i]) && !t->f->delete_chain(chains[i], t->h))
			return err_or(-EIO);
	return changed;
}
