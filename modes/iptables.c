// SPDX-License-Identifier: Apache-2.0
/*
 * --proxy-mode=iptables: the planner (iptables_plan.c) turns the desired
 * state into chains, the writer (iptables_blob.c) replaces the nat and
 * filter tables whole, one IPT_SO_SET_REPLACE per table per sync, under
 * /run/xtables.lock, keeping every chain and rule that is not ours.  One
 * instance per address family, as kube-proxy has one proxier per family:
 * AF_INET writes the iptables tables, AF_INET6 the ip6tables ones (the same
 * chains), each from its family's ports, cluster CIDRs and NodePort
 * addresses.
 *
 * Why not libiptc's per-rule API for the sync: at 10,000 Services
 * (~530k entries) iptc_init alone copies the table twice (the raw blob and
 * one malloc per rule) and iptc_commit re-walks it; our writer reads the
 * table once, keeps only the foreign entries, and writes the new blob from
 * the plan directly (see doc/iptables.md for the numbers).  libiptc is used
 * at init to check the legacy iptables interface.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/netfilter/x_tables.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include "switchyard/config.h"
#include "switchyard/desired.h"
#include "switchyard/iptc.h"
#include "switchyard/log.h"
#include "switchyard/mode.h"
#include "switchyard/util.h"
#include "switchyard/xtables.h"
#include "iptables_plan.h"
#include "iptables_blob.h"

#define LOCK_WAIT 2.0		/* seconds; nests (no wait) under the sync runner, which holds the lock */
#define COMMIT_TRIES 5

struct proxy_mode {
	const struct sy_config *cfg;
	int family;				/* AF_INET: iptables, AF_INET6: ip6tables */
	struct ipt_plan plan;
	bool have_plan;
	struct ipt_ktable *last[IPT_NTABLES];	/* each table as last written or read */
	struct ipt_blob *prev[IPT_NTABLES];	/* the last blob built (patched in place next) */
	int ino, ino_wd;			/* inotify on the xtables lock file */
	/*
	 * The plan changed since the kernel last got all of it (a sync that
	 * built a new plan but wrote no table, or not every table): until
	 * one writes it all, a partial sync may not skip a table as written.
	 */
	bool plan_pending;
	bool route_localnet_set;
	bool route_localnet_warned;
	struct sy_report rep;			/* init's: what a sync meets besides its result */
};

static int check_revision(int fd, int family, bool target, const char *name, uint8_t rev)
{
	struct xt_get_revision gr;
	socklen_t len = sizeof(gr);
	int r;

	memset(&gr, 0, sizeof(gr));
	snprintf(gr.name, sizeof(gr.name), "%s", name);
	gr.revision = rev;
	/* (unlike the other calls, the revision queries have other numbers in IPv6) */
	if (family == AF_INET6)
		r = getsockopt(fd, IPPROTO_IPV6, target ? IP6T_SO_GET_REVISION_TARGET :
			       IP6T_SO_GET_REVISION_MATCH, &gr, &len);
	else
		r = getsockopt(fd, IPPROTO_IP, target ? IPT_SO_GET_REVISION_TARGET :
			       IPT_SO_GET_REVISION_MATCH, &gr, &len);
	return r < 0 ? -errno : 0;
}

/* An edit that only reads: the init worked, nothing to commit. */
static int read_only(struct sy_iptc *t, void *arg)
{
	(void)t;
	(void)arg;
	return 0;
}

/* The legacy (ip6)tables interface answers: libiptc (libip6tc) reads the filter table. */
static int check_legacy(int family, char *err, size_t errlen)
{
	int r = sy_iptc_edit(family, "filter", read_only, NULL, NULL);

	if (r < 0) {
		snprintf(err, errlen, "%s cannot read the %s filter table: %s",
			 family == AF_INET6 ? "libip6tc" : "libiptc",
			 family == AF_INET6 ? "ip6tables" : "iptables", sy_iptc_strerror(family, -r));
		return -ENOTSUP;
	}
	return 0;
}

static int ipt_mode_init(struct proxy_mode **ret, const struct sy_config *cfg, int family,
			 const struct sy_report *rep, char *err, size_t errlen)
{
	static const struct { bool target; const char *name; uint8_t rev; } ext[] = {
		{ false, "tcp", 0 }, { false, "udp", 0 }, { false, "statistic", 0 },
		{ false, "recent", 1 }, { false, "addrtype", 1 }, { false, "mark", 1 },
		{ false, "conntrack", 3 }, { false, "comment", 0 },
		{ true, "DNAT", 2 }, { true, "MARK", 2 }, { true, "MASQUERADE", 0 }, { true, "REJECT", 0 },
	};
	const char *tool = family == AF_INET6 ? "ip6tables" : "iptables";
	struct proxy_mode *m;
	int fd, r;

	if (family != AF_INET && family != AF_INET6) {
		snprintf(err, errlen, "the iptables mode programs IPv4 and IPv6 only (not family %d)",
			 family);
		return -EAFNOSUPPORT;
	}
	/* the legacy interface answers (and the filter table exists) */
	r = check_legacy(family, err, errlen);
	if (r < 0)
		return family == AF_INET6 ? -EAFNOSUPPORT : r;	/* a node without IPv6 */
	fd = sy_xt_socket_af(family);
	if (fd < 0) {
		snprintf(err, errlen, "raw %s socket: %s", sy_family_name(family), strerror(-fd));
		return family == AF_INET6 && fd == -EAFNOSUPPORT ? -EAFNOSUPPORT : fd;
	}
	for (unsigned i = 0; i < ARRAY_SIZE(ext); i++) {
		r = check_revision(fd, family, ext[i].target, ext[i].name, ext[i].rev);
		if (r < 0) {
			snprintf(err, errlen, "the kernel lacks %s %s %s (revision %u): %s", tool,
				 ext[i].target ? "target" : "match", ext[i].name, ext[i].rev, strerror(-r));
			close(fd);
			return -ENOTSUP;
		}
	}
	for (int t = 0; t < IPT_NTABLES; t++) {
		struct ipt_getinfo info;

		r = sy_xt_get_info(fd, ipt_table_name((enum ipt_table)t), &info);
		if (r < 0) {
			snprintf(err, errlen, "cannot read the %s %s table: %s", tool,
				 ipt_table_name((enum ipt_table)t), strerror(-r));
			close(fd);
			return r;
		}
	}
	close(fd);
	m = xcalloc(1, sizeof(*m));
	m->cfg = cfg;
	if (rep)
		m->rep = *rep;
	m->family = family;
	m->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	m->ino_wd = -1;
	*ret = m;
	return 0;
}

static bool opts_equal(const struct ipt_plan_opts *a, const struct ipt_plan_opts *b)
{
	return a->family == b->family &&
	       a->masq_mark == b->masq_mark && a->masquerade_all == b->masquerade_all &&
	       a->nodeport_loopback == b->nodeport_loopback &&
	       a->n_cluster_cidrs == b->n_cluster_cidrs &&
	       !memcmp(a->cluster_cidrs, b->cluster_cidrs, a->n_cluster_cidrs * sizeof(struct sy_cidr)) &&
	       a->nodeport_all_local == b->nodeport_all_local &&
	       a->localhost_nodeports == b->localhost_nodeports &&
	       a->n_nodeport_addrs == b->n_nodeport_addrs &&
	       (!a->n_nodeport_addrs ||
		!memcmp(a->nodeport_addrs, b->nodeport_addrs, a->n_nodeport_addrs * sizeof(struct sy_addr)));
}

static void set_route_localnet(struct proxy_mode *m)
{
	/* like kube-proxy: localhost NodePorts need martian 127/8 sources routed */
	int r = sy_sysctl_set("net/ipv4/conf/all/route_localnet", "1");

	if (r >= 0) {
		m->route_localnet_set = true;
		return;
	}
	/* a container's read-only /proc/sys: say so once, retried every sync */
	if (!m->route_localnet_warned)
		sy_report(&m->rep, 'W', "Cannot set sysctl net.ipv4.conf.all.route_localnet=1: %s; "
			  "NodePorts on 127.0.0.1 will not answer until it is set (on the node, "
			  "or iptables.localhostNodePorts: false to not want them)", strerror(-r));
	m->route_localnet_warned = true;
}

/*
 * Write one table: read, build, compare, replace.  A partial sync skips the
 * read when *last (the table as this process last wrote or read it) still
 * has the kernel table's shape (ipt_ktable_unchanged); a full sync reads.
 * A partial sync with a plan as the kernel has it (same) writes nothing
 * when the table still has that shape: the other family's change costs a
 * GET_INFO.  *last becomes the table as it now is (NULL after an error).
 * Returns 1 when the table was written, 0 when it already matched, or
 * -errno.
 */
static int write_table(int fd, int family, enum ipt_table t, struct ipt_plan *plan, bool only_if_ours,
		       bool partial, bool same, struct ipt_ktable **last, struct ipt_blob **prev,
		       struct mode_sync_stats *st)
{
	struct ipt_ktable *kt = NULL;
	struct ipt_blob *b = NULL;
	int r = -EAGAIN;

	if (partial && *last && ipt_ktable_unchanged(fd, *last) == 1) {
		kt = *last;
		st->table_reads_skipped++;
		if (same)
			return 0;	/* *last stays: the table as we wrote it */
	} else {
		ipt_ktable_free(*last);
	}
	*last = NULL;
	if (kt && prev && *prev) {
		/* the table is the one we wrote: change that blob (in place, or laid out anew) */
		struct ipt_ktable *nkt = NULL;
		bool changed = false;

		r = ipt_blob_patch(*prev, kt, plan, &changed, &nkt);
		if (r == 0 && !changed) {
			*last = kt;
			return 0;
		}
		if (r == 0) {
			st->tables_patched++;
			if (nkt)
				st->tables_relaid++;
			r = ipt_blob_commit(fd, *prev, kt);
			st->kernel_write_seconds += ipt_blob_replace_seconds(*prev);
			st->kernel_write_cpu_seconds += ipt_blob_replace_cpu_seconds(*prev);
			if (r == 0) {
				if (nkt) {
					ipt_ktable_free(kt);	/* the kernel now holds the new layout */
					kt = nkt;
				} else {
					ipt_ktable_patched(kt);	/* same layout and foreign parts, new bytes */
				}
				*last = kt;
				return 1;
			}
			/* the kernel still holds the old table; prev holds the new one */
			ipt_ktable_free(nkt);
			ipt_ktable_free(kt);
			kt = NULL;
		}
		r = -EAGAIN;	/* build afresh below */
	}
	if (prev) {
		/* a new blob replaces it: do not hold both (2 x 33 MB at 10,000 Services) */
		ipt_blob_free(*prev);
		*prev = NULL;
	}
	for (unsigned tries = 0; tries < COMMIT_TRIES && r == -EAGAIN; tries++) {
		ipt_blob_free(b);
		b = NULL;
		if (!kt) {
			r = ipt_ktable_read(fd, family, t, &kt);
			if (r < 0)
				continue;
		}
		if (only_if_ours && !ipt_ktable_has_ours(kt)) {
			r = 0;
			break;
		}
		r = ipt_blob_build(kt, plan, &b);
		if (r < 0)
			break;
		if (ipt_blob_matches(b, kt)) {
			r = 0;
			break;
		}
		r = ipt_blob_commit(fd, b, kt);
		st->kernel_write_seconds += ipt_blob_replace_seconds(b);
		st->kernel_write_cpu_seconds += ipt_blob_replace_cpu_seconds(b);
		if (r == 0) {
			r = 1;
			break;
		}
		/* EAGAIN: the table changed under us (a writer without the lock): read again */
		ipt_ktable_free(kt);
		kt = NULL;
	}
	if (r == 1) {
		ipt_ktable_free(kt);	/* the old table; the kernel now holds b */
		kt = NULL;
		if (ipt_ktable_from_blob(b, t, &kt) == 0)
			*last = kt;
	} else if (r == 0) {
		*last = kt;		/* equal to what the kernel holds */
	} else {
		ipt_ktable_free(kt);
	}
	if (b && prev) {
		/* kept: the next partial sync may patch it in place */
		ipt_blob_free(*prev);
		*prev = b;
	} else {
		ipt_blob_free(b);
	}
	return r;
}

/*
 * Has another program used the xtables lock file since the last look?
 * Every iptables writer that respects the lock opens it — iptables and
 * kube-proxy read-only (O_CREAT alone) — and closes it when done; this
 * process opens it read-write, so an IN_CLOSE_NOWRITE is someone else's.
 * That catches a foreign edit IPT_SO_GET_INFO cannot see (a rule replaced
 * by one of the same size).  (IN_OPEN would not do: inotify merges our
 * identical events with theirs.)  Not watching yet, or an overflow: assume
 * it did.
 */
static bool foreign_lock_users(struct proxy_mode *m)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool seen = false;
	ssize_t n;

	if (m->ino < 0)
		return true;
	if (m->ino_wd < 0) {
		m->ino_wd = inotify_add_watch(m->ino, sy_xtables_lock_path(), IN_CLOSE_NOWRITE);
		seen = true;	/* what happened before is unknown */
	}
	while ((n = read(m->ino, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			seen = true;	/* a close, an overflow, or the file went away */
			if (ev->mask & IN_IGNORED)
				m->ino_wd = -1;	/* watch it again next time */
			p += sizeof(*ev) + ev->len;
		}
	}
	return seen || m->ino_wd < 0;
}

static int ipt_mode_sync(struct proxy_mode *m, const struct sy_sync_input *in, bool full,
			 struct mode_sync_stats *st)
{
	const struct desired_state *ds = in->services;	/* the instance's family's ports */
	struct ipt_plan_opts o;
	int lock, fd, r = 0;

	ipt_plan_opts_from(&o, m->cfg, ds, m->family);
	if (m->have_plan && !opts_equal(&o, &m->plan.opts)) {
		ipt_plan_fini(&m->plan);
		m->have_plan = false;
		for (int t = 0; t < IPT_NTABLES; t++) {
			ipt_blob_free(m->prev[t]);	/* its chains are gone */
			m->prev[t] = NULL;
		}
	}
	if (!m->have_plan) {
		ipt_plan_init(&m->plan, &o);
		m->have_plan = true;
	}
	/* the node's addresses live in ds; refresh the borrowed pointer */
	m->plan.opts.nodeport_addrs = o.nodeport_addrs;
	r = ipt_plan_build(&m->plan, ds);
	if (r < 0)
		return r;
	if (!m->plan.unchanged)
		m->plan_pending = true;
	if (m->plan.need_route_localnet && !m->route_localnet_set)
		set_route_localnet(m);

	lock = sy_xtables_lock(LOCK_WAIT);
	if (lock < 0)
		return lock;
	fd = sy_xt_socket_af(m->family);
	if (fd < 0) {
		sy_xtables_unlock(lock);
		return fd;
	}
	/* someone else took the lock since: read the tables back (a partial sync too) */
	if (foreign_lock_users(m))
		full = true;
	for (int t = 0; t < IPT_NTABLES; t++) {
		r = write_table(fd, m->family, (enum ipt_table)t, &m->plan, false, !full,
				!m->plan_pending, &m->last[t], &m->prev[t], st);
		if (r < 0)
			break;
		if (r > 0) {
			st->writes++;
			st->rules_written += m->plan.n_rules[t];
		}
		r = 0;
	}
	if (r == 0)
		m->plan_pending = false;	/* every table has this plan */
	close(fd);
	sy_xtables_unlock(lock);
	st->table_rules[0] = m->plan.n_rules[IPT_FILTER];	/* filter, nat: PROXY_MODE_XTABLES */
	st->table_rules[1] = m->plan.n_rules[IPT_NAT];
	st->rules_total = m->plan.n_rules[IPT_NAT] + m->plan.n_rules[IPT_FILTER];
	return r;
}

/* Both families' tables without anything of ours; a node without ip6tables is not an error. */
static int ipt_mode_cleanup(const struct sy_config *cfg, const struct sy_report *rep)
{
	static const int families[] = { AF_INET, AF_INET6 };
	int lock, first = 0;

	(void)cfg;
	lock = sy_xtables_lock(10.0);
	if (lock < 0) {
		sy_report(rep, 'E', "iptables cleanup: the xtables lock: %s", strerror(-lock));
		return lock;
	}
	for (unsigned i = 0; i < ARRAY_SIZE(families); i++) {
		int family = families[i], fd, r = 0;
		const char *tool = family == AF_INET6 ? "ip6tables" : "iptables";

		fd = sy_xt_socket_af(family);
		if (fd < 0) {
			if (family == AF_INET6 && fd == -EAFNOSUPPORT)
				continue;
			sy_report(rep, 'E', "%s cleanup: raw socket: %s", tool, strerror(-fd));
			first = first ? first : fd;
			continue;
		}
		for (int t = 0; t < IPT_NTABLES; t++) {
			struct ipt_ktable *last = NULL;
			struct mode_sync_stats st = { 0 };

			r = write_table(fd, family, (enum ipt_table)t, NULL, true, false, false, &last, NULL,
					&st);
			ipt_ktable_free(last);
			/* no such table (ip6table_nat absent): nothing of ours in it */
			if (r < 0 && family == AF_INET6 && (r == -ENOENT || r == -ENOPROTOOPT))
				r = 0;
			if (r < 0) {
				sy_report(rep, 'E', "%s cleanup: the %s table: %s", tool,
					  ipt_table_name((enum ipt_table)t), strerror(-r));
				first = first ? first : r;
			}
		}
		close(fd);
	}
	sy_xtables_unlock(lock);
	return first;
}

static void ipt_mode_free(struct proxy_mode *m)
{
	if (!m)
		return;
	if (m->have_plan)
		ipt_plan_fini(&m->plan);
	for (int t = 0; t < IPT_NTABLES; t++) {
		ipt_ktable_free(m->last[t]);
		ipt_blob_free(m->prev[t]);
	}
	if (m->ino >= 0)
		close(m->ino);
	free(m);
}

const struct proxy_mode_ops iptables_mode_ops = {
	PROXY_MODE_OPS("iptables", ipt_mode),
	PROXY_MODE_XTABLES,
	.metric_families = MODE_METRICS_IPTABLES,
};
