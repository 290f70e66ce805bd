// SPDX-License-Identifier: Apache-2.0
/*
 * Egress masquerade for pods (libiptc, nat table), in our own chain:
 *   -A POSTROUTING -j SY-PODNET-MASQ
 *   -A SY-PODNET-MASQ -s NET -d NET -j RETURN
 *   -A SY-PODNET-MASQ -s NET -d 224.0.0.0/4 -j RETURN
 *   -A SY-PODNET-MASQ -s NET -j MASQUERADE --random-fully
 * One handle, one commit, under /run/xtables.lock.  Never touches other
 * chains' rules.  Returns -errno; logs nothing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>
#include <libiptc/libiptc.h>
#include <linux/netfilter/nf_nat.h>
#include "switchyard/podnet.h"

#define XT_LOCK_PATH "/run/xtables.lock"

/* libiptc reads chain names as full xt_chainlabel buffers. */
static const xt_chainlabel MASQ_CHAIN = PODNET_MASQ_CHAIN;
static const xt_chainlabel POSTROUTING = "POSTROUTING";

struct masq_rule {
	struct in_addr src, smsk, dst, dmsk;
	const char *target;
};

static int lock_xtables(void)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int fd, i;

	fd = open(XT_LOCK_PATH, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	/* iptables-restore holds it for milliseconds; wait up to ~5 s. */
	for (i = 0; i < 500; i++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return fd;
		if (errno != EWOULDBLOCK && errno != EINTR)
			break;
		nanosleep(&ts, NULL);
	}
	close(fd);
	return -EBUSY;
}

static void unlock_xtables(int fd)
{
	if (fd >= 0)
		close(fd);	/* releases the flock */
}

static struct in_addr mask4(unsigned plen)
{
	struct in_addr m = { plen ? htonl(~0u << (32 - plen)) : 0 };

	return m;
}

static unsigned masq_rules(const struct sy_cidr *net, struct masq_rule *r)
{
	struct in_addr mc = { htonl(0xe0000000) };

	memset(r, 0, 3 * sizeof(*r));
	r[0] = (struct masq_rule){ net->addr, mask4(net->plen), net->addr, mask4(net->plen),
				   "RETURN" };
	r[1] = (struct masq_rule){ net->addr, mask4(net->plen), mc, mask4(4), "RETURN" };
	r[2] = (struct masq_rule){ net->addr, mask4(net->plen), { 0 }, { 0 }, "MASQUERADE" };
	return 3;
}

/* A malloc'd ipt_entry for rule (target: a standard target, a chain, or MASQUERADE). */
static struct ipt_entry *mk_entry(const struct masq_rule *m)
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

static bool rule_matches(const struct ipt_entry *e, const struct masq_rule *m,
			 struct xtc_handle *h)
{
	const char *t = iptc_get_target(e, h);

	return e->ip.src.s_addr == m->src.s_addr && e->ip.smsk.s_addr == m->smsk.s_addr &&
	       e->ip.dst.s_addr == m->dst.s_addr && e->ip.dmsk.s_addr == m->dmsk.s_addr &&
	       e->ip.invflags == 0 && e->ip.proto == 0 && e->ip.iniface[0] == 0 &&
	       e->ip.outiface[0] == 0 && e->target_offset == sizeof(*e) && t &&
	       strcmp(t, m->target) == 0;
}

static bool chain_ok(struct xtc_handle *h, const struct masq_rule *rules, unsigned n)
{
	const struct ipt_entry *e;
	unsigned i = 0;

	if (!iptc_is_chain(MASQ_CHAIN, h))
		return false;
	for (e = iptc_first_rule(MASQ_CHAIN, h); e; e = iptc_next_rule(e, h), i++)
		if (i >= n || !rule_matches(e, &rules[i], h))
			return false;
	return i == n;
}

static unsigned count_jumps(struct xtc_handle *h)
{
	const struct ipt_entry *e;
	unsigned n = 0;

	for (e = iptc_first_rule(POSTROUTING, h); e; e = iptc_next_rule(e, h)) {
		const char *t = iptc_get_target(e, h);

		if (t && strcmp(t, PODNET_MASQ_CHAIN) == 0)
			n++;
	}
	return n;
}

static int append(struct xtc_handle *h, const char *chain, const struct masq_rule *m)
{
	struct ipt_entry *e = mk_entry(m);
	int ok = iptc_append_entry(chain, e, h);
	int r = ok ? 0 : -errno;

	free(e);
	return r;
}

int podnet_masq_ensure(const struct sy_cidr *network, bool *changed)
{
	struct masq_rule rules[3], jump = { .target = PODNET_MASQ_CHAIN };
	struct xtc_handle *h;
	unsigned n = masq_rules(network, rules), i, tries;
	int lock, r = 0;

	*changed = false;
	lock = lock_xtables();
	if (lock < 0)
		return lock;
	for (tries = 0; tries < 3; tries++) {
		h = iptc_init("nat");
		if (!h) {
			r = errno ? -errno : -EIO;
			break;
		}
		if (chain_ok(h, rules, n) && count_jumps(h) >= 1) {
			iptc_free(h);
			r = 0;
			break;
		}
		r = 0;
		if (!iptc_is_chain(MASQ_CHAIN, h)) {
			if (!iptc_create_chain(MASQ_CHAIN, h))
				r = -errno;
		} else if (!iptc_flush_entries(MASQ_CHAIN, h)) {
			r = -errno;
		}
		for (i = 0; r == 0 && i < n; i++)
			r = append(h, MASQ_CHAIN, &rules[i]);
		if (r == 0 && count_jumps(h) == 0)
			r = append(h, POSTROUTING, &jump);
		if (r == 0 && !iptc_commit(h))
			r = -errno;
		iptc_free(h);
		if (r == 0)
			*changed = true;
		if (r != -EAGAIN)
			break;
	}
	unlock_xtables(lock);
	return r;
}

int podnet_masq_remove(void)
{
	struct xtc_handle *h;
	const struct ipt_entry *e;
	unsigned tries, num;
	bool dirty;
	int lock, r = 0;

	lock = lock_xtables();
	if (lock < 0)
		return lock;
	for (tries = 0; tries < 3; tries++) {
		h = iptc_init("nat");
		if (!h) {
			r = errno == ENOENT ? 0 : -errno;	/* no nat table: nothing of ours */
			break;
		}
		r = 0;
		dirty = false;
again:
		for (e = iptc_first_rule(POSTROUTING, h), num = 0; e;
		     e = iptc_next_rule(e, h), num++) {
			const char *t = iptc_get_target(e, h);

			if (t && strcmp(t, PODNET_MASQ_CHAIN) == 0) {
				if (!iptc_delete_num_entry(POSTROUTING, num, h)) {
					r = -errno;
					break;
				}
				dirty = true;
				goto again;
			}
		}
		if (r == 0 && iptc_is_chain(MASQ_CHAIN, h)) {
			if (!iptc_flush_entries(MASQ_CHAIN, h) ||
			    !iptc_delete_chain(MASQ_CHAIN, h))
				r = -errno;
			dirty = true;
		}
		if (r == 0 && dirty && !iptc_commit(h))
			r = -errno;
		iptc_free(h);
		if (r != -EAGAIN)
			break;
	}
	unlock_xtables(lock);
	return r;
}
