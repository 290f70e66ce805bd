// SPDX-License-Identifier: Apache-2.0
/*
 * The pod network's iptables rules (libiptc), each in a chain of our own:
 *   nat:    -A POSTROUTING -j SY-PODNET-MASQ
 *           -A SY-PODNET-MASQ -s NET -d NET -j RETURN
 *           -A SY-PODNET-MASQ -s NET -d 224.0.0.0/4 -j RETURN
 *           -A SY-PODNET-MASQ -s NET -j MASQUERADE --random-fully
 *   filter: -A FORWARD -j SY-PODNET-FWD
 *           -A SY-PODNET-FWD -s NET -j ACCEPT
 *           -A SY-PODNET-FWD -d NET -j ACCEPT
 * (the second keeps pods talking on hosts whose FORWARD policy is DROP, as
 * flannel's FLANNEL-FWD does).  Per table: one handle, one commit, under
 * /run/xtables.lock, only when something differs.  Never touches other
 * chains' rules.  Returns -errno; logs nothing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>
#include <libiptc/libiptc.h>
#include <linux/netfilter.h>
#include <sys/socket.h>
#include <linux/netfilter/nf_nat.h>
#include "switchyard/iptc.h"
#include "switchyard/podnet.h"
#include "switchyard/xtables.h"
#include "podnet_int.h"

struct pn_rule {
	struct in_addr src, smsk, dst, dmsk;
	const char *target;
};

/* One chain of ours and the built-in chain that jumps to it. */
struct pn_chain {
	const char *table;
	xt_chainlabel hook;		/* libiptc reads chain names as full buffers */
	xt_chainlabel chain;
	struct pn_rule rules[4];
	unsigned n;
};

static struct in_addr mask4(unsigned plen)
{
	struct in_addr m = { plen ? htonl(~0u << (32 - plen)) : 0 };

	return m;
}

static void masq_chain(const struct sy_cidr *net, struct pn_chain *c)
{
	struct in_addr mc = { htonl(0xe0000000) }, m = mask4(net->plen);

	memset(c, 0, sizeof(*c));
	c->table = "nat";
	strcpy(c->hook, "POSTROUTING");
	strcpy(c->chain, PODNET_MASQ_CHAIN);
	c->rules[0] = (struct pn_rule){ net->addr.v4, m, net->addr.v4, m, "RETURN" };
	c->rules[1] = (struct pn_rule){ net->addr.v4, m, mc, mask4(4), "RETURN" };
	c->rules[2] = (struct pn_rule){ net->addr.v4, m, { 0 }, { 0 }, "MASQUERADE" };
	c->n = 3;
}

static void fwd_chain(const struct sy_cidr *net, struct pn_chain *c)
{
	struct in_addr m = mask4(net->plen);

	memset(c, 0, sizeof(*c));
	c->table = "filter";
	strcpy(c->hook, "FORWARD");
	strcpy(c->chain, PODNET_FWD_CHAIN);
	c->rules[0] = (struct pn_rule){ net->addr.v4, m, { 0 }, { 0 }, "ACCEPT" };
	c->rules[1] = (struct pn_rule){ { 0 }, { 0 }, net->addr.v4, m, "ACCEPT" };
	c->n = 2;
}

/* A malloc'd ipt_entry for rule (target: a standard target, a chain, or MASQUERADE). */
static struct ipt_entry *mk_entry(const struct pn_rule *m)
{
	struct ipt_entry *e;
	struct xt_entry_target *t;
	size_t tsz;
	bool masq = strcmp(m->target, "MASQUERADE") == 0;

	if (masq)
		tsz = XT_ALIGN(sizeof(struct xt_entry_target) +
			       sizeof(struct nf_nat_ipv4_multi_range_compat));
	else
		tsz = XT_ALIGN(sizeof(struct xt_standard_target));
	e = xcalloc(1, sizeof(*e) + tsz);
	e->ip.src = m->src;
	e->ip.smsk = m->smsk;
	e->ip.dst = m->dst;
	e->ip.dmsk = m->dmsk;
	e->target_offset = sizeof(*e);
	e->next_offset = (uint16_t)(sizeof(*e) + tsz);
	t = (struct xt_entry_target *)e->elems;
	t->u.user.target_size = (uint16_t)tsz;
	strncpy(t->u.user.name, m->target, sizeof(t->u.user.name) - 1);
	if (masq) {
		struct nf_nat_ipv4_multi_range_compat *mr = (void *)t->data;

		mr->rangesize = 1;
		mr->range[0].flags = NF_NAT_RANGE_PROTO_RANDOM_FULLY;
	}
	return e;
}

static unsigned count_jumps(struct xtc_handle *h, const struct pn_chain *c)
{
	const struct ipt_entry *e;
	unsigned n = 0;

	for (e = iptc_first_rule(c->hook, h); e; e = iptc_next_rule(e, h)) {
		const char *t = iptc_get_target(e, h);

		if (t && strcmp(t, c->chain) == 0)
			n++;
	}
	return n;
}

static int append(struct xtc_handle *h, const xt_chainlabel chain, const struct pn_rule *m)
{
	struct ipt_entry *e = mk_entry(m);
	int ok = iptc_append_entry(chain, e, h);
	int r = ok ? 0 : -errno;

	free(e);
	return r;
}

/* ---- read-only check on the kernel's blob ---------------------------------
 * iptc_init() copies the whole table and builds libiptc's cache of it; with
 * the iptables proxy at 10,000 Services the nat table is ~25 MB and that
 * costs ~65 MB for a check that normally finds everything in place.  The
 * check reads the table once (IPT_SO_GET_ENTRIES) and walks it; libiptc is
 * used only when something must be written.
 */

static const char *verdict_name(int v)
{
	switch (v) {
	case -NF_ACCEPT - 1: return "ACCEPT";
	case -NF_DROP - 1: return "DROP";
	case XT_RETURN: return "RETURN";
	default: return NULL;
	}
}

static const struct xt_entry_target *entry_target(const struct ipt_entry *e)
{
	return (const struct xt_entry_target *)((const char *)e + e->target_offset);
}

static bool blob_rule_matches(const struct ipt_entry *e, const struct pn_rule *m)
{
	const struct xt_entry_target *t = entry_target(e);
	const char *name = t->u.user.name;

	if (name[0] == 0) {	/* standard target: a verdict */
		name = verdict_name(((const struct xt_standard_target *)t)->verdict);
		if (!name)
			return false;
	}
	return e->ip.src.s_addr == m->src.s_addr && e->ip.smsk.s_addr == m->smsk.s_addr &&
	       e->ip.dst.s_addr == m->dst.s_addr && e->ip.dmsk.s_addr == m->dmsk.s_addr &&
	       e->ip.invflags == 0 && e->ip.proto == 0 && e->ip.iniface[0] == 0 &&
	       e->ip.outiface[0] == 0 && e->target_offset == sizeof(*e) &&
	       strcmp(name, m->target) == 0;
}

/* 1: chain c holds exactly its rules and its hook jumps to it; 0: not; -errno. */
static int blob_check(const struct pn_chain *c)
{
	struct ipt_getinfo info;
	struct ipt_get_entries *ge = NULL;
	unsigned hook = strcmp(c->hook, "POSTROUTING") == 0 ? NF_INET_POST_ROUTING : NF_INET_FORWARD;
	unsigned off, start = 0, n = 0, hook_end;
	bool in_chain = false, ok = true, jump = false;
	int fd, r;

	fd = sy_xt_socket();
	if (fd < 0)
		return fd;
	r = sy_xt_read(fd, c->table, &info, &ge);	/* EAGAIN: the table changed meanwhile */
	if (r < 0)
		goto out;
	/* our chain: the entries between its ERROR head and the next head,
	 * the last of them being the chain's RETURN foot */
	for (off = 0; off < info.size; ) {
		const struct ipt_entry *e = (const void *)((const char *)ge->entrytable + off);
		const struct xt_entry_target *t = entry_target(e);

		if (e->next_offset < sizeof(*e) || off + e->next_offset > info.size)
			break;
		if (strcmp(t->u.user.name, XT_ERROR_TARGET) == 0) {
			if (in_chain)
				break;
			if (strcmp((const char *)t->data, c->chain) == 0) {
				in_chain = true;
				start = off + e->next_offset;
			}
		} else if (in_chain) {
			n++;
		}
		off += e->next_offset;
	}
	if (!in_chain || n != c->n + 1) {
		r = 0;
		goto out;
	}
	for (unsigned i = 0, o = start; i < c->n && ok; i++) {
		const struct ipt_entry *e = (const void *)((const char *)ge->entrytable + o);

		ok = blob_rule_matches(e, &c->rules[i]);
		o += e->next_offset;
	}
	/* the built-in hook chain: a jump is a standard target whose verdict is
	 * the offset of our chain's first entry */
	hook_end = info.underflow[hook];
	for (off = info.hook_entry[hook]; ok && off <= hook_end && off < info.size; ) {
		const struct ipt_entry *e = (const void *)((const char *)ge->entrytable + off);
		const struct xt_entry_target *t = entry_target(e);

		if (e->next_offset < sizeof(*e))
			break;
		if (t->u.user.name[0] == 0 &&
		    ((const struct xt_standard_target *)t)->verdict == (int)start)
			jump = true;
		off += e->next_offset;
	}
	r = ok && jump;
out:
	free(ge);
	close(fd);
	return r;
}

/* Rewrite our chain and add the hook's jump if missing (always commits). */
static int ensure_edit(struct xtc_handle *h, void *arg)
{
	const struct pn_chain *c = arg;
	struct pn_rule jump = { .target = c->chain };
	int r = 0;

	if (!iptc_is_chain(c->chain, h)) {
		if (!iptc_create_chain(c->chain, h))
			r = -errno;
	} else if (!iptc_flush_entries(c->chain, h)) {
		r = -errno;
	}
	for (unsigned i = 0; r == 0 && i < c->n; i++)
		r = append(h, c->chain, &c->rules[i]);
	if (r == 0 && count_jumps(h, c) == 0)
		r = append(h, c->hook, &jump);
	return r < 0 ? r : 1;
}

/* Make the chain hold exactly c->rules and be jumped to; one commit if anything differs. */
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
		r = sy_iptc_edit(c->table, ensure_edit, (void *)c, NULL);
		if (r > 0) {
			*changed = true;
			r = 0;
		}
	}
	sy_xtables_unlock(lock);
	return r;
}

/* Delete the hook's jumps to our chain, then the chain; 1 if anything went. */
static int remove_edit(struct xtc_handle *h, void *arg)
{
	const struct pn_chain *c = arg;
	const struct ipt_entry *e;
	unsigned num;
	bool dirty = false;

again:
	for (e = iptc_first_rule(c->hook, h), num = 0; e; e = iptc_next_rule(e, h), num++) {
		const char *t = iptc_get_target(e, h);

		if (t && strcmp(t, c->chain) == 0) {
			if (!iptc_delete_num_entry(c->hook, num, h))
				return -errno;
			dirty = true;
			goto again;
		}
	}
	if (iptc_is_chain(c->chain, h)) {
		if (!iptc_flush_entries(c->chain, h) || !iptc_delete_chain(c->chain, h))
			return -errno;
		dirty = true;
	}
	return dirty;
}

static int chain_remove(const struct pn_chain *c)
{
	enum sy_iptc_step step;
	int lock, r;

	lock = sy_xtables_lock(5.0);
	if (lock < 0)
		return lock;
	r = sy_iptc_edit(c->table, remove_edit, (void *)c, &step);
	if (r == -ENOENT && step == SY_IPTC_INIT)
		r = 0;	/* no such table: nothing of ours */
	sy_xtables_unlock(lock);
	return r < 0 ? r : 0;
}

int podnet_ipt_ensure(const struct sy_cidr *network, bool *changed)
{
	struct pn_chain c;
	int r;

	*changed = false;
	masq_chain(network, &c);
	r = chain_ensure(&c, changed);
	if (r < 0)
		return r;
	fwd_chain(network, &c);
	return chain_ensure(&c, changed);
}

int podnet_ipt_remove(void)
{
	struct sy_cidr none = { 0 };
	struct pn_chain c;
	int r, ret;

	masq_chain(&none, &c);
	ret = chain_remove(&c);
	fwd_chain(&none, &c);
	r = chain_remove(&c);
	return ret < 0 ? ret : r;
}
