// SPDX-License-Identifier: Apache-2.0
/*
 * Stale UDP/SCTP conntrack cleanup after each sync (issue 5).
 *
 * ct_plan.c decides which original destinations to check and which reply
 * sources are still legitimate; ct_nl.c talks ctnetlink (libmnl, see the
 * comment there for the choice).  Per call:
 *   1. plan: the destinations of changed ports (every UDP/SCTP port when
 *      full, or when an earlier call failed and we owe a full pass);
 *   2. dump: one kernel-filtered dump per (proto, dport) — also filtered
 *      on the address when only one destination uses that port — or, when
 *      that many table walks would cost more than copying out every entry
 *      of the protocol (use_proto_dumps), one dump per protocol; entries
 *      are matched here through a hash either way;
 *   3. delete every stale entry in batches (ct_nl_delete), by tuple + id.
 * TCP is never touched.  Errors are counted, logged and leave owed a full
 * pass plus the failed call's destinations, on a fresh socket; they never
 * fail the sync.  Runs synchronously in the sync callback: every netlink
 * exchange is bounded (SO_RCVTIMEO), the cost by the dump strategy.
 */
#include <errno.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include "switchyard/conntrack.h"
#include "switchyard/desired.h"
#include "switchyard/log.h"
#include "switchyard/model.h"
#include "switchyard/util.h"
#include "ct_int.h"

/* A destination a failed call must hand to the next one (its port may be gone by then). */
struct ct_dest {
	uint8_t proto;
	bool nodeport;
	struct sy_addr dst;		/* the family, and the address unless nodeport */
	uint16_t dport;
};

struct ct {
	struct ct_nl *nl;
	struct ct_dest *owed;		/* destinations of failed calls */
	unsigned n_owed;
	unsigned per_key_max;		/* UINT32_MAX: cost model (use_proto_dumps) */
	unsigned buckets;		/* nf_conntrack_buckets */
	bool owe_full;
	bool ipv6;			/* also clean up after ds->ports6 (ct_set_ipv6) */
	struct ct_entry *del;
	unsigned n_del, cap_del;
};

int ct_new(struct ct **ret)
{
	struct ct *ct = calloc(1, sizeof(*ct));
	char *buf;
	size_t len;
	int r;

	if (!ct)
		return -ENOMEM;
	r = ct_nl_open(&ct->nl);
	if (r < 0) {
		free(ct);
		return r;
	}
	ct->per_key_max = UINT32_MAX;
	ct->buckets = 65536;
	if (sy_read_file("/proc/sys/net/netfilter/nf_conntrack_buckets", &buf, &len) == 0) {
		long b = strtol(buf, NULL, 10);

		if (b > 0 && b < (1L << 30))
			ct->buckets = (unsigned)b;
		free(buf);
	}
	*ret = ct;
	return 0;
}

void ct_set_ipv6(struct ct *ct, bool on)
{
	ct->ipv6 = on;
}

void ct_set_per_key_max(struct ct *ct, unsigned n)
{
	ct->per_key_max = n;
}

int ct_debug_fd(const struct ct *ct)
{
	return ct->nl ? ct_nl_fd(ct->nl) : -1;
}

void ct_free(struct ct *ct)
{
	if (!ct)
		return;
	ct_nl_close(ct->nl);
	sy_free_all(ct->owed, ct->del, ct);
}

struct collect {
	struct ct *ct;
	const struct ct_plan *plan;
	uint64_t seen;
	unsigned dumps;
	char *err;			/* ct_stats.err */
	size_t errlen;
};

static void collect_cb(void *arg, const struct ct_entry *e)
{
	struct collect *c = arg;
	const struct ct_key *k;
	struct ct *ct = c->ct;

	c->seen++;
	k = ct_plan_stale(c->plan, e);
	if (!k)
		return;
	log_v(4, "Stale conntrack entry: %s %s %s:%u -> %s:%u answered by %s:%u (%s)",
	      sy_family_name(e->odst.family), sy_proto_name(e->proto), sy_addr_str(&e->osrc),
	      e->osport, sy_addr_str(&e->odst), e->odport, sy_addr_str(&e->rsrc), e->rsport,
	      k->port_name ? k->port_name : "removed Service port");
	if (ct->n_del == ct->cap_del) {
		ct->cap_del = ct->cap_del ? ct->cap_del * 2 : 64;
		ct->del = xrealloc(ct->del, ct->cap_del * sizeof(*ct->del));
	}
	ct->del[ct->n_del++] = *e;
}

/* This netns' IPv4 and IPv6 addresses, for NodePort destinations (127/8, ::1 are checked apart). */
static int local_addrs(struct ct_plan *plan)
{
	struct ifaddrs *ifa, *i;
	struct sy_addr *v = NULL;
	unsigned n = 0, cap = 0;

	if (getifaddrs(&ifa) < 0)
		return -errno;
	for (i = ifa; i; i = i->ifa_next) {
		int fam = i->ifa_addr ? i->ifa_addr->sa_family : 0;

		if (fam != AF_INET && fam != AF_INET6)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[n++] = fam == AF_INET ?
			 sy_addr_from_in4(((const struct sockaddr_in *)i->ifa_addr)->sin_addr) :
			 sy_addr_from_in6(&((const struct sockaddr_in6 *)i->ifa_addr)->sin6_addr);
	}
	freeifaddrs(ifa);
	ct_plan_set_local(plan, v, n);
	free(v);
	return 0;
}

static int dump_one(struct ct *ct, uint8_t family, uint8_t proto, const struct sy_addr *dst,
		    uint16_t dport, struct collect *c, uint64_t *errors)
{
	int r, tries = 0;

	/* NLM_F_DUMP_INTR (libmnl: EINTR): the table changed under the dump; dump again */
	do
		r = ct_nl_dump(ct->nl, family, proto, dst, dport, collect_cb, c);
	while (r == -EINTR && ++tries < 3);
	if (r < 0) {
		sy_err_first(c->err, c->errlen, 0, "dumping %s %s entries (to %s:%u): %s; retrying "
			     "on the next sync", sy_family_name(family), sy_proto_name(proto),
			     dst && sy_addr_is_set(dst) ? sy_addr_str(dst) : "*", dport,
			     strerror(-r));
		(*errors)++;
	}
	return r;
}

/* Entries in this netns (the dumps only see those), or -1 if unknown. */
static long ct_count(void)
{
	char *buf;
	size_t len;
	long n;

	if (sy_read_file("/proc/sys/net/netfilter/nf_conntrack_count", &buf, &len) < 0)
		return -1;
	n = strtol(buf, NULL, 10);
	free(buf);
	return n;
}

/*
 * Per-port dumps or one dump per protocol?  Every dump walks every bucket
 * and every entry of the (global) table in the kernel, whatever its
 * filter; a protocol dump also copies out and parses every entry of the
 * protocol.  Measured here (bench/conntrack-bench.sh, perf): a walk costs
 * ~35 ns per bucket + ~0.27 µs per entry, copying an entry out ~3 µs.  In
 * "entries copied" units a walk is thus about buckets/96 + count/12.
 */
static bool use_proto_dumps(const struct ct *ct, unsigned n_dumps, unsigned n_protos)
{
	double walk;
	long count;

	if (ct->per_key_max != UINT32_MAX)
		return n_dumps > ct->per_key_max;
	if (n_dumps <= n_protos)
		return false;
	count = ct_count();
	if (count < 0)
		return n_dumps > 8;
	walk = ct->buckets / 96.0 + count / 12.0;
	return (n_dumps - n_protos) * walk > (double)count;
}

static void dump_all(struct ct *ct, struct ct_plan *plan, struct collect *c, uint64_t *errors)
{
	bool proto[2][256] = { { false } };	/* [IPv6?][proto] */
	unsigned n_protos = 0, n;
	struct ct_dump *d;

	for (unsigned i = 0; i < plan->n_keys; i++) {
		bool *seen = &proto[plan->keys[i]->dst.family == AF_INET6][plan->keys[i]->proto];

		if (!*seen) {
			*seen = true;
			n_protos++;
		}
	}
	n = ct_plan_dumps(plan, &d);
	if (use_proto_dumps(ct, n, n_protos)) {
		for (unsigned f = 0; f < 2; f++)
			for (unsigned p = 0; p < 256; p++)
				if (proto[f][p])
					dump_one(ct, f ? AF_INET6 : AF_INET, (uint8_t)p, NULL, 0, c,
						 errors);
		c->dumps = n_protos;
	} else {
		for (unsigned i = 0; i < n; i++)
			dump_one(ct, d[i].family, d[i].proto, &d[i].dst, d[i].dport, c, errors);
		c->dumps = n;
	}
	free(d);
}

void ct_cleanup(struct ct *ct, const struct desired_state *ds, bool full, struct ct_stats *st)
{
	double t0 = sy_now_mono();
	struct ct_plan plan;
	struct collect c = { .ct = ct, .plan = &plan, .err = st->err, .errlen = sizeof(st->err) };
	uint64_t deleted = 0, errors = 0;
	unsigned n_keys;
	int r;

	full = full || ct->owe_full;
	st->err[0] = '\0';
	st->keys = st->dumps = 0;
	st->checked = false;
	st->examined = 0;
	st->full = full;
	ct_plan_init(&plan);
	plan.ipv6 = ct->ipv6;
	for (unsigned i = 0; i < ct->n_owed; i++)
		ct_plan_add_key(&plan, ct->owed[i].proto, ct->owed[i].nodeport, ct->owed[i].dst,
				ct->owed[i].dport);
	n_keys = ct_plan_build(&plan, ds, full);
	st->keys = n_keys;
	if (!n_keys)
		goto out;
	if (!ct->nl) {
		/* a fresh socket after a failure: nothing stale can be read from it */
		r = ct_nl_open(&ct->nl);
		if (r < 0) {
			sy_err_first(st->err, sizeof(st->err), 0, "opening a netlink socket: %s; "
				     "retrying on the next sync", strerror(-r));
			errors++;
			goto out;
		}
	}
	if (plan.n_nodeport_keys && (plan.all_local || plan.all_local6)) {
		r = local_addrs(&plan);
		if (r < 0) {
			sy_err_first(st->err, sizeof(st->err), 0, "listing local addresses: %s; "
				     "NodePort entries to non-loopback addresses are kept this time",
				     strerror(-r));
			errors++;
		}
	}
	ct->n_del = 0;
	dump_all(ct, &plan, &c, &errors);
	if (ct->n_del) {
		r = ct_nl_delete(ct->nl, ct->del, ct->n_del, &deleted);
		if (r < 0) {
			sy_err_first(st->err, sizeof(st->err), 0, "deleting %u stale entries: %s; "
				     "retrying on the next sync", ct->n_del, strerror(-r));
			errors++;
		}
	}
	st->dumps = c.dumps;
	st->examined = c.seen;
	st->checked = true;
out:
	if (errors) {
		/* retry everything: a full pass, plus this call's destinations (removed ones too) */
		ct->owe_full = true;
		ct_nl_close(ct->nl);
		ct->nl = NULL;
		free(ct->owed);
		ct->owed = plan.n_keys ? xcalloc(plan.n_keys, sizeof(*ct->owed)) : NULL;
		ct->n_owed = plan.n_keys;
		for (unsigned i = 0; i < plan.n_keys; i++) {
			const struct ct_key *k = plan.keys[i];

			ct->owed[i] = (struct ct_dest){ k->proto, k->nodeport, k->dst, k->dport };
		}
	} else {
		free(ct->owed);
		ct->owed = NULL;
		ct->n_owed = 0;
		if (full)
			ct->owe_full = false;
	}
	ct_plan_fini(&plan);
	st->deleted += deleted;
	st->errors += errors;
	st->seconds = sy_now_mono() - t0;
	st->deleted_now = deleted;
}

void ct_stats_summary(const struct ct_stats *st, char *buf, size_t len)
{
	snprintf(buf, len, "deleted %llu stale UDP/SCTP entries (%u Service destinations checked "
		 "with %u dumps, %llu entries examined, full=%s) in %.3f ms",
		 (unsigned long long)st->deleted_now, st->keys, st->dumps,
		 (unsigned long long)st->examined, st->full ? "true" : "false", st->seconds * 1e3);
}
