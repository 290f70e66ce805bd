// SPDX-License-Identifier: Apache-2.0
/*
 * The pod network's ip6tables rules (libip6tc), the IPv6 counterpart of
 * podnet_ipt.c, in chains of the same names in the ip6 tables:
 *   nat:    -A POSTROUTING -j SY-PODNET-MASQ
 *           -A SY-PODNET-MASQ -s NET6 -d NET6 -j RETURN
 *           -A SY-PODNET-MASQ -s NET6 -d ff00::/8 -j RETURN
 *           -A SY-PODNET-MASQ -s NET6 -j MASQUERADE --random-fully
 *   filter: -A FORWARD -j SY-PODNET-FWD
 *           -A SY-PODNET-FWD -s NET6 -j ACCEPT
 *           -A SY-PODNET-FWD -d NET6 -j ACCEPT
 * Per table one libip6tc handle under /run/xtables.lock (lib/iptc.c's
 * loop, AF_INET6); the check walks the handle's rules (the ip6 tables hold
 * no proxy rules yet, so libip6tc's copy is small) and commits only when
 * something differs.  Never touches other chains' rules.  -errno; logs
 * nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <libiptc/libip6tc.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_nat.h>
#include "switchyard/iptc.h"
#include "switchyard/podnet.h"
#include "switchyard/util.h"
#include "podnet_int.h"

struct pn_rule6 {
	struct sy_cidr src, dst;	/* family 0: any */
	const char *target;
};

struct pn_chain6 {
	const char *table;
	xt_chainlabel hook;
	xt_chainlabel chain;
	struct pn_rule6 rules[3];
	unsigned n;
};

static const struct sy_cidr any6;	/* family 0: no address match */

static void masq_chain6(const struct sy_cidr *net, struct pn_chain6 *c)
{
	struct sy_cidr mc;

	sy_cidr_parse_family("ff00::/8", AF_INET6, &mc);
	memset(c, 0, sizeof(*c));
	c->table = "nat";
	strcpy(c->hook, "POSTROUTING");
	strcpy(c->chain, PODNET_MASQ_CHAIN);
	c->rules[0] = (struct pn_rule6){ *net, *net, "RETURN" };
	c->rules[1] = (struct pn_rule6){ *net, mc, "RETURN" };
	c->rules[2] = (struct pn_rule6){ *net, any6, "MASQUERADE" };
	c->n = 3;
}

static void fwd_chain6(const struct sy_cidr *net, struct pn_chain6 *c)
{
	memset(c, 0, sizeof(*c));
	c->table = "filter";
	strcpy(c->hook, "FORWARD");
	strcpy(c->chain, PODNET_FWD_CHAIN);
	c->rules[0] = (struct pn_rule6){ *net, any6, "ACCEPT" };
	c->rules[1] = (struct pn_rule6){ any6, *net, "ACCEPT" };
	c->n = 2;
}

/* The address and mask of a prefix (any: all zero). */
static void addr_mask6(const struct sy_cidr *c, struct in6_addr *a, struct in6_addr *m)
{
	memset(a, 0, sizeof(*a));
	memset(m, 0, sizeof(*m));
	if (c->addr.family != AF_INET6)
		return;
	*a = c->addr.v6;
	for (unsigned i = 0; i < c->plen; i++)
		m->s6_addr[i / 8] |= (uint8_t)(0x80 >> (i % 8));
}

static struct ip6t_entry *mk_entry6(const struct pn_rule6 *m)
{
	struct ip6t_entry *e;
	struct xt_entry_target *t;
	bool masq = strcmp(m->target, "MASQUERADE") == 0;
	size_t tsz;

	if (masq)
		tsz = XT_ALIGN(sizeof(struct xt_entry_target) + sizeof(struct nf_nat_range));
	else
		tsz = XT_ALIGN(sizeof(struct xt_standard_target));
	e = xcalloc(1, sizeof(*e) + tsz);
	addr_mask6(&m->src, &e->ipv6.src, &e->ipv6.smsk);
	addr_mask6(&m->dst, &e->ipv6.dst, &e->ipv6.dmsk);
	e->target_offset = sizeof(*e);
	e->next_offset = (uint16_t)(sizeof(*e) + tsz);
	t = (struct xt_entry_target *)e->elems;
	t->u.user.target_size = (uint16_t)tsz;
	strncpy(t->u.user.name, m->target, sizeof(t->u.user.name) - 1);
	if (masq) {
		struct nf_nat_range *r = (void *)t->data;

		r->flags = NF_NAT_RANGE_PROTO_RANDOM_FULLY;
	}
	return e;
}

static bool rule_matches6(struct xtc_handle *h, const struct ip6t_entry *e,
			  const struct pn_rule6 *m)
{
	struct ip6t_entry *want = mk_entry6(m);
	const char *t = ip6tc_get_target(e, h);
	bool ok = t && strcmp(t, m->target) == 0 && e->target_offset == sizeof(*e) &&
		  !memcmp(&e->ipv6.src, &want->ipv6.src, sizeof(want->ipv6.src)) &&
		  !memcmp(&e->ipv6.smsk, &want->ipv6.smsk, sizeof(want->ipv6.smsk)) &&
		  !memcmp(&e->ipv6.dst, &want->ipv6.dst, sizeof(want->ipv6.dst)) &&
		  !memcmp(&e->ipv6.dmsk, &want->ipv6.dmsk, sizeof(want->ipv6.dmsk)) &&
		  e->ipv6.invflags == 0 && e->ipv6.flags == 0 && e->ipv6.proto == 0 &&
		  e->ipv6.iniface[0] == 0 && e->ipv6.outiface[0] == 0;

	free(want);
	return ok;
}

static unsigned count_jumps6(struct xtc_handle *h, const struct pn_chain6 *c)
{
	unsigned n = 0;

	for (const struct ip6t_entry *e = ip6tc_first_rule(c->hook, h); e;
	     e = ip6tc_next_rule(e, h)) {
		const char *t = ip6tc_get_target(e, h);

		if (t && strcmp(t, c->chain) == 0)
			n++;
	}
	return n;
}

/* Our chain holds exactly c->rules and the hook jumps to it. */
static bool in_place6(struct xtc_handle *h, const struct pn_chain6 *c)
{
	const struct ip6t_entry *e;
	unsigned i = 0;

	if (!ip6tc_is_chain(c->chain, h) || count_jumps6(h, c) == 0)
		return false;
	for (e = ip6tc_first_rule(c->chain, h); e; e = ip6tc_next_rule(e, h), i++)
		if (i >= c->n || !rule_matches6(h, e, &c->rules[i]))
			return false;
	return i == c->n;
}

static int append6(struct xtc_handle *h, const xt_chainlabel chain, const struct pn_rule6 *m)
{
	struct ip6t_entry *e = mk_entry6(m);
	int r = ip6tc_append_entry(chain, e, h) ? 0 : -errno;

	free(e);
	return r;
}

/* 0 when in place (no commit), else rewrite our chain and add the jump (1: commit). */
static int ensure_edit6(struct xtc_handle *h, void *arg)
{
	const struct pn_chain6 *c = arg;
	struct pn_rule6 jump = { .target = c->chain };
	int r = 0;

	if (in_place6(h, c))
		return 0;
	if (!ip6tc_is_chain(c->chain, h)) {
		if (!ip6tc_create_chain(c->chain, h))
			r = -errno;
	} else if (!ip6tc_flush_entries(c->chain, h)) {
		r = -errno;
	}
	for (unsigned i = 0; r == 0 && i < c->n; i++)
		r = append6(h, c->chain, &c->rules[i]);
	if (r == 0 && count_jumps6(h, c) == 0)
		r = append6(h, c->hook, &jump);
	return r < 0 ? r : 1;
}

static int chain_ensure6(const struct pn_chain6 *c, bool *changed)
{
	int lock, r;

	lock = sy_xtables_lock(5.0);
	if (lock < 0)
		return lock;
	r = sy_iptc_edit_family(AF_INET6, c->table, ensure_edit6, (void *)c, NULL);
	sy_xtables_unlock(lock);
	if (r > 0)
		*changed = true;
	return r < 0 ? r : 0;
}

static int remove_edit6(struct xtc_handle *h, void *arg)
{
	const struct pn_chain6 *c = arg;
	const struct ip6t_entry *e;
	unsigned num;
	bool dirty = false;

again:
	for (e = ip6tc_first_rule(c->hook, h), num = 0; e; e = ip6tc_next_rule(e, h), num++) {
		const char *t = ip6tc_get_target(e, h);

		if (t && strcmp(t, c->chain) == 0) {
			if (!ip6tc_delete_num_entry(c->hook, num, h))
				return -errno;
			dirty = true;
			goto again;
		}
	}
	if (ip6tc_is_chain(c->chain, h)) {
		if (!ip6tc_flush_entries(c->chain, h) || !ip6tc_delete_chain(c->chain, h))
			return -errno;
		dirty = true;
	}
	return dirty;
}

static int chain_remove6(const struct pn_chain6 *c)
{
	enum sy_iptc_step step;
	int lock, r;

	lock = sy_xtables_lock(5.0);
	if (lock < 0)
		return lock;
	r = sy_iptc_edit_family(AF_INET6, c->table, remove_edit6, (void *)c, &step);
	if ((r == -ENOENT || r == -EAFNOSUPPORT || r == -ENOPROTOOPT) && step == SY_IPTC_INIT)
		r = 0;	/* no such table / no IPv6 x_tables: nothing of ours */
	sy_xtables_unlock(lock);
	return r < 0 ? r : 0;
}

int podnet_ip6t_ensure(const struct sy_cidr *network6, bool *changed)
{
	struct pn_chain6 c;
	int r;

	*changed = false;
	masq_chain6(network6, &c);
	r = chain_ensure6(&c, changed);
	if (r < 0)
		return r;
	fwd_chain6(network6, &c);
	return chain_ensure6(&c, changed);
}

int podnet_ip6t_remove(void)
{
	struct pn_chain6 c;
	int r, ret;

	masq_chain6(&any6, &c);
	ret = chain_remove6(&c);
	fwd_chain6(&any6, &c);
	r = chain_remove6(&c);
	return ret < 0 ? ret : r;
}
