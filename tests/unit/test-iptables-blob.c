// SPDX-License-Identifier: Apache-2.0
/*
 * The iptables mode's blob writer without a kernel: moving kept byte ranges
 * to a new layout in one buffer (ipt_moves_apply), and the incremental
 * relayout of a partial sync (ipt_blob_patch) against a from-scratch
 * ipt_blob_build, byte for byte, after random layout changes — for iptables
 * (ipt_entry) and ip6tables (ip6t_entry) tables.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include "switchyard/config.h"
#include "switchyard/desired.h"
#include "switchyard/util.h"
#include "../../modes/iptables_blob.h"

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

/* Random order-keeping layouts: every kept range ends up at its new offset intact. */
static void test_moves(void **state)
{
	enum { LEN = 8192, MAXR = 64 };
	static uint8_t buf[LEN], orig[LEN];
	struct ipt_move mv[MAXR], want[MAXR];

	(void)state;
	for (int iter = 0; iter < 2000; iter++) {
		unsigned n = 1 + rnd(MAXR - 1);
		uint32_t o = 0, w = 0;

		for (unsigned i = 0; i < LEN; i++)
			buf[i] = orig[i] = (uint8_t)rnd(256);
		/* gaps (rewritten or dropped bytes) between ranges, in both layouts */
		for (unsigned i = 0; i < n; i++) {
			uint32_t size = 1 + rnd(100), go = rnd(4) ? rnd(60) : 0, gw = rnd(4) ? rnd(60) : 0;

			if (o + go + size > LEN / 2 || w + gw + size > LEN / 2) {
				n = i;
				break;
			}
			mv[i] = (struct ipt_move){ o + go, w + gw, size };
			o += go + size;
			w += gw + size;
		}
		memcpy(want, mv, sizeof(mv));
		unsigned calls = ipt_moves_apply(buf, mv, n);
		assert_true(calls <= n);
		for (unsigned i = 0; i < n; i++)
			assert_memory_equal(buf + want[i].new_off, orig + want[i].old_off, want[i].size);
	}
	/* adjacent ranges with one shift are one memmove */
	struct ipt_move two[2] = { { 0, 10, 5 }, { 5, 15, 5 } };
	assert_int_equal(ipt_moves_apply(buf, two, 2), 1);
}

/* ---- the incremental relayout ---- */

static uint64_t serial = 1;

static struct sy_addr a4(uint32_t host)
{
	struct in_addr a = { htonl(host) };
	return sy_addr_from_in4(a);
}

/*
 * The address numbered host in family: IPv4 host itself; IPv6
 * fd00:0:0:HHHH::LLLL (its high and low halves far apart, so the dispatch
 * tree splits IPv6 prefixes in more than the last 32 bits).
 */
static struct sy_addr ad(int family, uint32_t host)
{
	struct in6_addr a6;

	if (family == AF_INET)
		return a4(host);
	memset(&a6, 0, sizeof(a6));
	a6.s6_addr[0] = 0xfd;
	a6.s6_addr[6] = (uint8_t)(host >> 24);
	a6.s6_addr[7] = (uint8_t)(host >> 16);
	a6.s6_addr[14] = (uint8_t)(host >> 8);
	a6.s6_addr[15] = (uint8_t)host;
	return sy_addr_from_in6(&a6);
}

static int fam = AF_INET;	/* the family relayout_run is at */

static struct hmap *fam_ports(struct desired_state *ds)
{
	return fam == AF_INET6 ? &ds->ports6 : &ds->ports;
}

/* Service i with n endpoints (local when the bit of local is set) from base. */
static struct ds_port *port(unsigned i, unsigned n, unsigned local, uint32_t base, bool np,
			    bool affinity)
{
	struct ds_port *p = xcalloc(1, sizeof(*p));
	char buf[64];

	snprintf(buf, sizeof(buf), "ns/svc%u:p", i);
	p->name = xstrdup(buf);
	p->svc_key = xstrdup(buf);
	p->proto = i % 5 == 4 ? IPPROTO_UDP : IPPROTO_TCP;
	p->family = (uint8_t)fam;
	p->cluster_ip = ad(fam, 0x0a600000 + i * 7 + 1);
	p->port = 80;
	p->node_port = np ? (uint16_t)(30000 + i) : 0;
	p->affinity_timeout = affinity ? 10800 : 0;
	p->cluster_eps = xcalloc(n + 1, sizeof(*p->cluster_eps));
	p->local_eps = xcalloc(n + 1, sizeof(*p->local_eps));
	for (unsigned k = 0; k < n; k++) {
		struct ds_ep ep = { .addr = ad(fam, base + k), .port = 8080, .flags = 3,
				    .local = (local >> k) & 1 };
		p->cluster_eps[p->n_cluster_eps++] = ep;
		if (ep.local)
			p->local_eps[p->n_local_eps++] = ep;
	}
	p->serial = serial++;
	return p;
}

static void put_port(struct desired_state *ds, struct ds_port *p)
{
	struct ds_port *old = hmap_get(fam_ports(ds), p->name);

	hmap_put(fam_ports(ds), p->name, p);
	if (old)
		ds_port_free(old);
}

static void del_port(struct desired_state *ds, unsigned i)
{
	char buf[64];
	struct ds_port *old;

	snprintf(buf, sizeof(buf), "ns/svc%u:p", i);
	old = hmap_get(fam_ports(ds), buf);
	if (old) {
		hmap_del(fam_ports(ds), buf);
		ds_port_free(old);
	}
}

static void random_port(struct desired_state *ds, unsigned i)
{
	put_port(ds, port(i, rnd(5), rnd(4) ? 0 : rnd(32), 0x0af40000 + rnd(4096) * 8, rnd(3) == 0,
			  rnd(6) == 0));
}

/*
 * Another program's parts of the table: chains sorting before, between and
 * after ours, a jump from one to a chain of ours, rules in the built-in
 * chains before ours.
 */
static struct ipt_ktable *foreign_table(enum ipt_table t)
{
	struct ipt_ktable *empty = ipt_ktable_empty(fam, t), *kt = NULL;
	struct ipt_plan fp;
	struct ipt_plan_opts o = { .family = (uint8_t)fam, .masq_mark = 0x4000, .leaf_max = 8 };
	struct ipt_blob *b = NULL;
	static const char *names[] = { "AAA-FIRST", "DOCKER", "SY-MARK-MASQ", "SY-PODNET-X", "ZZZ-LAST" };
	struct ipt_rule r;

	assert_non_null(empty);
	ipt_plan_init(&fp, &o);
	fp.cap_tree = fp.n_tree = 5;
	fp.tree = xcalloc(5, sizeof(*fp.tree));
	for (unsigned i = 0; i < 5; i++) {
		snprintf(fp.tree[i].name, sizeof(fp.tree[i].name), "%s", names[i]);
		fp.tree[i].table = (uint8_t)t;
		fp.tree[i].used = true;
	}
	memset(&r, 0, sizeof(r));
	r.target = IPT_T_ACCEPT;
	r.proto = IPPROTO_TCP;
	ipt_chain_add(&fp.tree[0], &r);
	r.target = IPT_T_JUMP;
	r.jump = &fp.tree[4];
	ipt_chain_add(&fp.tree[0], &r);		/* AAA-FIRST → ZZZ-LAST, across ours */
	r.jump = &fp.tree[2];
	ipt_chain_add(&fp.tree[1], &r);		/* DOCKER → SY-MARK-MASQ: a jump into ours */
	r.jump = &fp.tree[0];
	ipt_chain_add(&fp.tree[3], &r);
	r.target = IPT_T_RETURN;
	ipt_chain_add(&fp.tree[4], &r);
	r.target = IPT_T_DROP;
	ipt_chain_add(&fp.tree[2], &r);
	memset(&r, 0, sizeof(r));
	r.target = IPT_T_JUMP;
	r.jump = &fp.tree[1];
	for (unsigned h = 0; h < 5; h++)
		if (ipt_table_hooks(t) & (1u << h)) {
			fp.builtin[t][h][fp.n_builtin[t][h]++] = r;	/* -j DOCKER */
			r.target = IPT_T_ACCEPT;
			r.src = (union ipt_addr){ .b = { 0xc0, 0xa8 } };	/* 192.168/16, c0a8::/16 */
			r.splen = 16;
			fp.builtin[t][h][fp.n_builtin[t][h]++] = r;
			r.target = IPT_T_JUMP;
		}
	assert_int_equal(ipt_blob_build(empty, &fp, &b), 0);
	assert_int_equal(ipt_ktable_from_blob(b, t, &kt), 0);
	ipt_blob_free(b);
	ipt_plan_fini(&fp);
	ipt_ktable_free(empty);
	return kt;
}

struct cvec {
	struct ipt_chain *v[8192];
	unsigned n;
};

static void collect(void *arg, struct ipt_chain *c)
{
	struct cvec *cv = arg;

	assert_true(cv->n < 8192);
	cv->v[cv->n++] = c;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp((*(struct ipt_chain *const *)a)->name, (*(struct ipt_chain *const *)b)->name);
}

/* The plan's incrementally sorted chains are every emitted chain, sorted. */
static void check_sorted(struct ipt_plan *p, enum ipt_table t)
{
	static struct cvec cv;
	struct ipt_chain **v;
	unsigned n;

	cv.n = 0;
	ipt_plan_foreach_chain(p, t, collect, &cv);
	qsort(cv.v, cv.n, sizeof(cv.v[0]), name_cmp);
	ipt_plan_sorted_chains(p, t, &v, &n);
	assert_int_equal(n, cv.n);
	for (unsigned i = 0; i < n; i++)
		assert_string_equal(v[i]->name, cv.v[i]->name);
	free(v);
}

static void count_reuse(void *arg, struct ipt_chain *c)
{
	*(unsigned *)arg += c->reuse;
}

static void relayout_run(int family, enum ipt_table t, bool foreign)
{
	struct sy_config cfg;
	struct desired_state ds;
	struct ipt_plan p, q;
	struct ipt_plan_opts o;
	struct ipt_ktable *kt;
	struct ipt_blob *b = NULL;
	unsigned N = 120, relaid = 0, in_place = 0, reused = 0;

	fam = family;
	config_init(&cfg);
	desired_init(&ds, &cfg);
	desired_set_node(&ds, "n1", NULL, NULL, 0, true);
	for (unsigned i = 0; i < N; i++)
		random_port(&ds, i);
	ipt_plan_opts_from(&o, &cfg, &ds, family);
	ipt_plan_init(&p, &o);
	ipt_plan_init(&q, &o);
	kt = foreign ? foreign_table(t) : ipt_ktable_empty(family, t);
	assert_int_equal(ipt_plan_build(&p, &ds), 0);
	assert_int_equal(ipt_blob_build(kt, &p, &b), 0);
	{
		struct ipt_ktable *k2 = NULL;
		assert_int_equal(ipt_ktable_from_blob(b, t, &k2), 0);
		ipt_ktable_free(kt);
		kt = k2;
	}
	for (int step = 0; step < 150; step++) {
		struct ipt_ktable *nkt = NULL, *rkt = NULL;
		struct ipt_blob *ref = NULL;
		bool changed = false;
		unsigned i = rnd(N + 10), what = rnd(6);

		if (what == 0) {
			del_port(&ds, i);	/* chains go (maybe not there at all) */
		} else if (what == 1) {
			/* the same shape, other remote endpoint addresses: in place */
			char name[64];
			snprintf(name, sizeof(name), "ns/svc%u:p", i);
			const struct ds_port *old = hmap_get(fam_ports(&ds), name);
			if (old)
				put_port(&ds, port(i, old->n_cluster_eps, 0, 0x0af50000 + rnd(4096) * 8,
						   old->node_port != 0, old->affinity_timeout != 0));
		} else {
			random_port(&ds, i);	/* endpoints come, go, turn local; NodePorts */
			if (rnd(3) == 0)
				random_port(&ds, rnd(N + 10));	/* two changes in one sync */
		}
		assert_int_equal(ipt_plan_build(&p, &ds), 0);
		check_sorted(&p, t);
		assert_int_equal(ipt_blob_patch(b, kt, &p, &changed, &nkt), 0);
		relaid += nkt != NULL;
		in_place += changed && !nkt;
		ipt_plan_foreach_chain(&p, t, count_reuse, &reused);

		/* the reference: a plan of its own, built from the old table */
		assert_int_equal(ipt_plan_build(&q, &ds), 0);
		assert_int_equal(ipt_blob_build(kt, &q, &ref), 0);
		long d = ipt_blob_diff(b, ref);
		if (d != -1)
			fail_msg("step %d (%s table): the relaid blob differs from a fresh build at %ld "
				 "(-2: header)", step, ipt_table_name(t), d);
		assert_int_equal(ipt_ktable_from_blob(ref, t, &rkt), 0);
		if (nkt) {
			assert_true(ipt_ktable_same(nkt, rkt));
			ipt_ktable_free(kt);
			kt = nkt;
		} else {
			assert_true(ipt_ktable_same(kt, rkt));
			if (changed)
				ipt_ktable_patched(kt);
		}
		ipt_ktable_free(rkt);
		ipt_blob_free(ref);
	}
	print_message("%s %s%s: %u relaid, %u patched in place, %u chain reuses\n",
		      family == AF_INET6 ? "ip6tables" : "iptables", ipt_table_name(t),
		      foreign ? " with foreign chains" : "", relaid, in_place, reused);
	/* both paths ran, and relaying reused (moved) chains rather than re-encoding them */
	assert_true(relaid >= 20);
	assert_true(t == IPT_FILTER || in_place >= 5);
	assert_true(t == IPT_FILTER || reused > 1000);	/* filter: global and tree chains only */
	ipt_blob_free(b);
	ipt_ktable_free(kt);
	ipt_plan_fini(&p);
	ipt_plan_fini(&q);
	{
		struct hmap_iter it;
		void *v;
		hmap_iter_init(&it, fam_ports(&ds));
		while (hmap_iter_next(&it, NULL, &v))
			ds_port_free(v);
	}
	desired_fini(&ds);
	config_free(&cfg);
}

/* Both families: iptables over ipt_entry, ip6tables over ip6t_entry (IPv6 ports and addresses). */
static void test_relayout_nat(void **state)
{
	(void)state;
	for (int f = 0; f < 2; f++) {
		relayout_run(f ? AF_INET6 : AF_INET, IPT_NAT, false);
		relayout_run(f ? AF_INET6 : AF_INET, IPT_NAT, true);
	}
}

static void test_relayout_filter(void **state)
{
	(void)state;
	relayout_run(AF_INET, IPT_FILTER, true);
	relayout_run(AF_INET6, IPT_FILTER, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_moves),
		cmocka_unit_test(test_relayout_nat),
		cmocka_unit_test(test_relayout_filter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
