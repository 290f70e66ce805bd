// SPDX-License-Identifier: Apache-2.0
/*
 * The pod network's iptables (ip6tables) rules, through lib/iptc.c, each in
 * a chain of our own, in the ip tables for Network and in the ip6 tables
 * for IPv6Network (NET; MC: 224.0.0.0/4, ff00::/8):
 *   nat:    -A POSTROUTING -j SY-PODNET-MASQ
 *           -A SY-PODNET-MASQ -s NET -d NET -j RETURN
 *           -A SY-PODNET-MASQ -s NET -d MC -j RETURN
 *           -A SY-PODNET-MASQ -s NET -j MASQUERADE --random-fully
 *   filter: -A FORWARD -j SY-PODNET-FWD
 *           -A SY-PODNET-FWD -s NET -j ACCEPT
 *           -A SY-PODNET-FWD -d NET -j ACCEPT
 * (the second keeps pods talking on hosts whose FORWARD policy is DROP, as
 * flannel's FLANNEL-FWD does).  Per table: one handle, one commit, under
 * /run/xtables.lock, only when something differs.  Never touches other
 * chains' rules.  Returns -errno; logs nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <linux/netfilter/x_tables.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include "switchyard/iptc.h"
#include "switchyard/podnet.h"
#include "switchyard/util.h"
#include "switchyard/xtables.h"
#include "podnet_int.h"

/* One chain of ours and the built-in chain that jumps to it. */
struct pn_chain {
	int family;
	const char *table;
	unsigned hook_num;		/* NF_INET_* of the hook chain */
	struct sy_iptc_jump jump;	/* hook → chain */
	struct sy_iptc_rule rules[3];
	struct sy_iptc_chain chain;
};

/* A rule -s src -d dst -j target (a prefix of family 0: any). */
static void add_rule(struct pn_chain *c, const struct sy_cidr *src, const struct sy_cidr *dst,
		     const char *target)
{
	struct sy_iptc_rule *r = &c->rules[c->chain.n++];

	sy_iptc_rule_init(r, c->family);
	sy_iptc_rule_src(r, src, false);
	sy_iptc_rule_dst(r, dst, false);
	if (strcmp(target, "MASQUERADE") == 0)
		sy_iptc_rule_masquerade(r, true);
	else
		sy_iptc_rule_jump(r, target);
}

static void chain_init(struct pn_chain *c, int family, const char *table, unsigned hook_num,
		       const char *hook, const char *chain)
{
	memset(c, 0, sizeof(*c));
	c->family = family;
	c->table = table;
	c->hook_num = hook_num;
	c->jump = (struct sy_iptc_jump){ hook, chain };
	c->chain = (struct sy_iptc_chain){ chain, c->rules, 0 };
}

static const struct sy_cidr any;	/* family 0: no address match */

static void masq_chain(int family, const struct sy_cidr *net, struct pn_chain *c)
{
	struct sy_cidr mc;

	sy_cidr_parse_family(family == AF_INET6 ? "ff00::/8" : "224.0.0.0/4", family, &mc);
	chain_init(c, family, "nat", NF_INET_POST_ROUTING, "POSTROUTING", PODNET_MASQ_CHAIN);
	add_rule(c, net, net, "RETURN");
	add_rule(c, net, &mc, "RETURN");
	add_rule(c, net, &any, "MASQUERADE");
}

static void fwd_chain(int family, const struct sy_cidr *net, struct pn_chain *c)
{
	chain_init(c, family, "filter", NF_INET_FORWARD, "FORWARD", PODNET_FWD_CHAIN);
	add_rule(c, net, &any, "ACCEPT");
	add_rule(c, &any, net, "ACCEPT");
}

/* ---- read-only check on the kernel's blob ---------------------------------
 * iptc_init() copies the whole table and builds libiptc's cache of it; with
 * the iptables proxy at 10,000 Services the nat table is ~25 MB and that
 * costs ~65 MB for a check that normally finds everything in place.  The
 * check reads the table once (IPT_SO_GET_ENTRIES) and walks it; libiptc is
 * used only when something must be written.
 */

/* A blob entry's target as libiptc names it: a verdict's name, an extension's; NULL: a jump. */
static const char *blob_target(int family, const void *e)
{
	const struct xt_entry_target *t = sy_iptc_entry_target(family, e);

	if (t->u.user.name[0])
		return t->u.user.name;
	switch (((const struct xt_standard_target *)t)->verdict) {
	case -NF_ACCEPT - 1: return "ACCEPT";
	case -NF_DROP - 1: return "DROP";
	case XT_RETURN: return "RETURN";
	default: return NULL;
	}
}

/* 1: chain c holds exactly its rules and its hook jumps to it; 0: not; -errno. */
static int blob_check(const struct pn_chain *c)
{
	struct ipt_getinfo info;
	struct ipt_get_entries *ge = NULL;
	size_t esz = sy_iptc_entry_size(c->family);
	unsigned off, start = 0, n = 0, hook_end;
	bool in_chain = false, ok = true, jump = false;
	int fd, r;

	fd = sy_xt_socket_af(c->family);
	if (fd < 0)
		return fd;
	r = sy_xt_read(fd, c->table, &info, &ge);	/* EAGAIN: the table changed meanwhile */
	if (r < 0)
		goto out;
	/* our chain: the entries between its ERROR head and the next head,
	 * the last of them being the chain's RETURN foot */
	for (off = 0; off < info.size; ) {
		const void *e = (const char *)ge->entrytable + off;
		unsigned next = sy_iptc_entry_next(c->family, e);
		const struct xt_entry_target *t = sy_iptc_entry_target(c->family, e);

		if (next < esz || off + next > info.size)
			break;
		if (strcmp(t->u.user.name, XT_ERROR_TARGET) == 0) {
			if (in_chain)
				break;
			if (strcmp((const char *)t->data, c->chain.name) == 0) {
				in_chain = true;
				start = off + next;
			}
		} else if (in_chain) {
			n++;
		}
		off += next;
	}
	if (!in_chain || n != c->chain.n + 1) {
		r = 0;
		goto out;
	}
	for (unsigned i = 0, o = start; i < c->chain.n && ok; i++) {
		const void *e = (const char *)ge->entrytable + o;

		ok = sy_iptc_entry_equal(c->family, e, blob_target(c->family, e), &c->rules[i]);
		o += sy_iptc_entry_next(c->family, e);
	}
	/* the built-in hook chain: a jump is a standard target whose verdict is
	 * the offset of our chain's first entry */
	hook_end = info.underflow[c->hook_num];
	for (off = info.hook_entry[c->hook_num]; ok && off <= hook_end && off < info.size; ) {
		const void *e = (const char *)ge->entrytable + off;
		const struct xt_entry_target *t = sy_iptc_entry_target(c->family, e);
		unsigned next = sy_iptc_entry_next(c->family, e);

		if (next < esz)
			break;
		if (t->u.user.name[0] == 0 &&
		    ((const struct xt_standard_target *)t)->verdict == (int)start)
			jump = true;
		off += next;
	}
	r = ok && jump;
out:
	free(ge);
	close(fd);
	return r;
}

/* Make our chain hold its rules and the hook jump to it; 1: commit. */
static int ensure_edit(struct sy_iptc *t, void *arg)
{
	const struct pn_chain *c = arg;
	int r, changed;

	changed = sy_iptc_chains_ensure(t, &c->chain, 1);
	if (changed < 0)
		return changed;
	r = sy_iptc_jump_append(t, &c->jump);
	return r < 0 ? r : changed || r;
}

/* Make the chain hold exactly its rules and be jumped to; one commit if anything differs. */
static int chain_ensure(const struct pn_chain *c, bool *changed)
{
	unsigned tries;
	int lock, r = 0;

	lock = sy_xtables_lock(5.0);
	if (lock < 0)
		return lock;
	for (tries = 0; tries < 3; tries++) {
		r = blob_check(c);
		if (r != -EAGAIN)
			break;
	}
	if (r == 1) {
		r = 0;
	} else if (r != -EAGAIN) {
		/* not in place (or unreadable): rewrite our chain under the same lock */
		r = sy_iptc_edit(c->family, c->table, ensure_edit, (void *)c, NULL);
		if (r > 0) {
			*changed = true;
			r = 0;
		}
	}
	sy_xtables_unlock(lock);
	return r;
}

/* Delete the hook's jumps to our chain, then the chain; 1 if anything went. */
static int remove_edit(struct sy_iptc *t, void *arg)
{
	const struct pn_chain *c = arg;

	return sy_iptc_remove(t, &c->jump, 1, &c->chain.name, 1);
}

static int chain_remove(const struct pn_chain *c)
{
	enum sy_iptc_step step;
	int lock, r;

	lock = sy_xtables_lock(5.0);
	if (lock < 0)
		return lock;
	r = sy_iptc_edit(c->family, c->table, remove_edit, (void *)c, &step);
	if ((r == -ENOENT || r == -EAFNOSUPPORT || r == -ENOPROTOOPT) && step == SY_IPTC_INIT)
		r = 0;	/* no such table / no x_tables for the family: nothing of ours */
	sy_xtables_unlock(lock);
	return r < 0 ? r : 0;
}

int podnet_ipt_ensure(int family, const struct sy_cidr *network, bool *changed)
{
	struct pn_chain c;
	int r;

	*changed = false;
	masq_chain(family, network, &c);
	r = chain_ensure(&c, changed);
	if (r < 0)
		return r;
	fwd_chain(family, network, &c);
	return chain_ensure(&c, changed);
}

int podnet_ipt_remove(int family)
{
	struct pn_chain c;
	int r, ret;

	masq_chain(family, &any, &c);
	ret = chain_remove(&c);
	fwd_chain(family, &any, &c);
	r = chain_remove(&c);
	return ret < 0 ? ret : r;
}
