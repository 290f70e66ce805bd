// SPDX-License-Identifier: Apache-2.0
/*
 * Stale UDP/SCTP conntrack cleanup after each sync (issue 5).
 *
 * ct_plan.c decides which original destinations to check and which reply
 * sources are still legitimate; ct_nl.c talks ctnetlink (libmnl, see the
 * comment there for the choice).  Per call:
 *   1. plan: the destinations of changed ports (every UDP/SCTP port when
 *      full, or when an earlier call failed and we owe a full pass);
 *   2. dump: one kernel-filtered dump per destination (proto + dst +
 *      dport; proto + dport for NodePorts), or — when there are more than
 *      CT_PER_KEY_DUMPS destinations, as on a full pass — one dump per
 *      protocol filtered on the protocol, matched here through a hash;
 *   3. delete every stale entry in batches (ct_nl_delete), by tuple + id.
 * TCP is never touched.  Errors are counted, logged and leave a full pass
 * owed; they never fail the sync.
 */
#include <errno.h>
#include <ifaddrs.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include "switchyard/conntrack.h"
#include "switchyard/desired.h"
#include "switchyard/log.h"
#include "switchyard/model.h"
#include "switchyard/util.h"
#include "ct_int.h"

/*
 * Above this many destinations one protocol-filtered dump is cheaper than
 * a filtered dump per destination: each dump walks the whole table in the
 * kernel (bench/conntrack-cleanup measures both).
 */
#define CT_PER_KEY_DUMPS 32

struct ct {
	struct ct_nl *nl;
	unsigned per_key_max;
	bool owe_full;
	struct ct_entry *del;
	unsigned n_del, cap_del;
};

int ct_new(struct ct **ret)
{
	struct ct *ct = calloc(1, sizeof(*ct));
	int r;

	if (!ct)
		return -ENOMEM;
	r = ct_nl_open(&ct->nl);
	if (r < 0) {
		free(ct);
		return r;
	}
	ct->per_key_max = CT_PER_KEY_DUMPS;
	*ret = ct;
	return 0;
}

void ct_set_per_key_max(struct ct *ct, unsigned n)
{
	ct->per_key_max = n;
}

void ct_free(struct ct *ct)
{
	if (!ct)
		return;
	ct_nl_close(ct->nl);
	free(ct->del);
	free(ct);
}

struct collect {
	struct ct *ct;
	const struct ct_plan *plan;
	uint64_t seen;
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
	log_v(4, "Stale conntrack entry: %s %s:%u -> %s:%u answered by %s:%u (%s)",
	      sy_proto_name(e->proto), sy_ip4_str(e->osrc), e->osport, sy_ip4_str(e->odst),
	      e->odport, sy_ip4_str(e->rsrc), e->rsport,
	      k->port_name ? k->port_name : "removed Service port");
	if (ct->n_del == ct->cap_del) {
		ct->cap_del = ct->cap_del ? ct->cap_del * 2 : 64;
		ct->del = xrealloc(ct->del, ct->cap_del * sizeof(*ct->del));
	}
	ct->del[ct->n_del++] = *e;
}

/* This netns' IPv4 addresses, for NodePort destinations (127/8 is checked apart). */
static int local_addrs(struct ct_plan *plan)
{
	struct ifaddrs *ifa, *i;
	struct in_addr *v = NULL;
	unsigned n = 0, cap = 0;

	if (getifaddrs(&ifa) < 0)
		return -errno;
	for (i = ifa; i; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[n++] = ((const struct sockaddr_in *)i->ifa_addr)->sin_addr;
	}
	freeifaddrs(ifa);
	ct_plan_set_local(plan, v, n);
	free(v);
	return 0;
}

static int dump_all(struct ct *ct, struct ct_plan *plan, struct collect *c, uint64_t *errors)
{
	bool proto[256] = { false };
	int first = 0, r;

	if (plan->n_keys > ct->per_key_max) {
		for (unsigned i = 0; i < plan->n_keys; i++)
			proto[plan->keys[i]->proto] = true;
		for (unsigned p = 0; p < 256; p++) {
			if (!proto[p])
				continue;
			r = ct_nl_dump(ct->nl, (uint8_t)p, (struct in_addr){ 0 }, 0, collect_cb, c);
			if (r < 0) {
				log_warn("Conntrack cleanup: dumping %s entries: %s; retrying on the "
					 "next sync", sy_proto_name((uint8_t)p), strerror(-r));
				(*errors)++;
				first = first ? first : r;
			}
		}
		return first;
	}
	for (unsigned i = 0; i < plan->n_keys; i++) {
		const struct ct_key *k = plan->keys[i];

		r = ct_nl_dump(ct->nl, k->proto, k->dst, k->dport, collect_cb, c);
		if (r < 0) {
			log_warn("Conntrack cleanup: dumping entries to %s: %s; retrying on the next "
				 "sync", k->str, strerror(-r));
			(*errors)++;
			first = first ? first : r;
		}
	}
	return first;
}

void ct_cleanup(struct ct *ct, const struct desired_state *ds, bool full, struct ct_stats *st)
{
	double t0 = sy_now_mono();
	struct ct_plan plan;
	struct collect c = { ct, &plan, 0 };
	uint64_t deleted = 0, errors = 0;
	unsigned n_keys;
	int r;

	full = full || ct->owe_full;
	ct_plan_init(&plan);
	n_keys = ct_plan_build(&plan, ds, full);
	if (!n_keys)
		goto out;
	if (plan.n_nodeport_keys && plan.all_local) {
		r = local_addrs(&plan);
		if (r < 0) {
			log_warn("Conntrack cleanup: listing local addresses: %s; NodePort entries "
				 "to non-loopback addresses are kept this time", strerror(-r));
			errors++;
		}
	}
	ct->n_del = 0;
	dump_all(ct, &plan, &c, &errors);
	if (ct->n_del) {
		r = ct_nl_delete(ct->nl, ct->del, ct->n_del, &deleted);
		if (r < 0) {
			log_warn("Conntrack cleanup: deleting %u stale entries: %s; retrying on the "
				 "next sync", ct->n_del, strerror(-r));
			errors++;
		}
	}
	log_v(2, "Conntrack cleanup: deleted %llu stale UDP/SCTP entries (%u Service "
	      "destinations checked, %llu entries examined, full=%s) in %.3f ms",
	      (unsigned long long)deleted, n_keys, (unsigned long long)c.seen,
	      full ? "true" : "false", (sy_now_mono() - t0) * 1e3);
out:
	if (errors)
		ct->owe_full = true;
	else if (full)
		ct->owe_full = false;
	ct_plan_fini(&plan);
	st->deleted += deleted;
	st->errors += errors;
	st->seconds = sy_now_mono() - t0;
}
