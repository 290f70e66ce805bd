// SPDX-License-Identifier: Apache-2.0
/* The nftables mode's planner, without a kernel. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include "switchyard/addr.h"
#include "switchyard/config.h"
#include "switchyard/desired.h"
#include "switchyard/util.h"
#include "../../modes/nftables_plan.h"

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static struct sy_addr ip(const char *s)
{
	struct sy_addr a;

	assert_int_equal(sy_addr_parse(s, &a), 0);
	assert_true(sy_addr_is4(&a));
	return a;
}

/* "ns/web:http" TCP 10.96.0.10:80 with endpoints ("ip" or "ip!" = local), port 8080 */
static struct ds_port *mk(unsigned n, ...)
{
	struct ds_port *p = xcalloc(1, sizeof(*p));
	va_list ap;

	p->name = xstrdup("ns/web:http");
	p->svc_key = xstrdup("ns/web");
	p->svc_ns = "ns";
	p->svc_name = "web";
	p->port_name = "http";
	p->proto = IPPROTO_TCP;
	p->family = AF_INET;
	p->cluster_ip = ip("10.96.0.10");
	p->port = 80;
	p->cluster_eps = xcalloc(n + 1, sizeof(*p->cluster_eps));
	p->local_eps = xcalloc(n + 1, sizeof(*p->local_eps));
	va_start(ap, n);
	for (unsigned i = 0; i < n; i++) {
		const char *e = va_arg(ap, const char *);
		char buf[32];
		size_t l = strlen(e);
		bool local = e[l - 1] == '!';
		snprintf(buf, sizeof(buf), "%.*s", (int)(local ? l - 1 : l), e);
		struct ds_ep ep = { .addr = ip(buf), .port = 8080, .flags = 3, .local = local };
		p->cluster_eps[p->n_cluster_eps++] = ep;
		if (local)
			p->local_eps[p->n_local_eps++] = ep;
	}
	va_end(ap);
	p->serial = 1;
	return p;
}

static void opts(struct nftp_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->mark_bit = 0x4000;
	o->nodeport_all_local = true;
	sy_cidr_parse("10.244.0.0/16", &o->cluster_cidrs[0]);
	o->n_cluster_cidrs = 1;
}

static const struct nftp_chain *find(const struct nftp_port *pp, const char *prefix)
{
	for (unsigned i = 0; i < pp->n_chains; i++)
		if (!strncmp(pp->chains[i].name, prefix, strlen(prefix)))
			return &pp->chains[i];
	return NULL;
}

static unsigned n_in_set(const struct nftp_port *pp, unsigned set)
{
	unsigned n = 0;
	for (unsigned i = 0; i < pp->n_elems; i++)
		n += pp->elems[i].set == set;
	return n;
}

static void test_names(void **state)
{
	char out[NFTP_NAME_MAX + 1];
	char longb[400];

	/* kube-proxy's documented example (pkg/proxy/nftables) */
	nftp_chain_name(out, "service-", "ns1/svc1/tcp/p80");
	assert_string_equal(out, "service-ULMVA6XW-ns1/svc1/tcp/p80");
	nftp_chain_name(out, "endpoint-", "ns1/svc1/tcp/p80__10.180.0.1/80");
	assert_string_equal(out, "endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80");
	memset(longb, 'a', sizeof(longb) - 1);
	longb[sizeof(longb) - 1] = 0;
	nftp_chain_name(out, "endpoint-", longb);
	assert_true(strlen(out) <= NFTP_NAME_MAX);
	assert_string_equal(out + strlen(out) - 3, "...");
}

/* A LoadBalancer IP 192.0.2.1 with loadBalancerSourceRanges 203.0.113.0/24 (a firewall chain). */
static void lb_with_source_ranges(struct ds_port *dp)
{
	dp->lb_ips = xcalloc(1, sizeof(struct sy_addr));
	dp->lb_ips[0] = ip("192.0.2.1");
	dp->n_lb_ips = 1;
	dp->lb_source_ranges = xcalloc(1, sizeof(struct sy_cidr));
	sy_cidr_parse("203.0.113.0/24", &dp->lb_source_ranges[0]);
	dp->n_lb_source_ranges = 1;
}

/* The element of set whose key starts with prefix (plen bytes) and whose value is v, or NULL. */
static const struct nftp_elem *range_at(const struct nftp_port *pp, unsigned set, const uint8_t *prefix,
					unsigned plen, uint32_t v)
{
	for (unsigned i = 0; i < pp->n_elems; i++) {
		const struct nftp_elem *e = &pp->elems[i];
		if (e->set == set && e->klen == plen + 4 && !memcmp(nftp_elem_kp(e), prefix, plen) &&
		    be32(nftp_elem_kp(e) + plen) == v)
			return e;
	}
	return NULL;
}

/*
 * A plain ClusterIP port has no chain: service-ips goes to the shared
 * lb-group-G of the key's shard S (the address's last byte: 10, G = S >>
 * 4 = 0), and service-ranges-S holds 10.96.0.10 . tcp . 80 . the ranges
 * of [0, SPAN), range i -> endpoint i.
 */
static void test_clusterip(void **state)
{
	struct nftp_opts o;
	struct ds_port *dp = mk(2, "10.244.1.2", "10.244.2.2");
	char want[24];
	opts(&o);
	struct nftp_port *pp = nftp_port_new(&o, dp, NULL);

	assert_int_equal(pp->n_chains, 0);
	assert_null(find(pp, "endpoint-"));
	unsigned sh = 10;
	assert_int_equal(nftp_sr_shard(&dp->cluster_ip, 0), sh);
	snprintf(want, sizeof(want), "lb-group-%u", sh >> 4);
	assert_int_equal(n_in_set(pp, NFTP_S_SERVICE_IPS), 1);
	for (unsigned i = 0; i < pp->n_elems; i++)
		if (pp->elems[i].set == NFTP_S_SERVICE_IPS) {
			assert_int_equal(pp->elems[i].ev, SY_NFT_EV_GOTO);
			assert_string_equal(pp->elems[i].chain, want);
			assert_string_equal(pp->elems[i].chain, nftp_lb_name(sh >> 4));
		}
	assert_int_equal(n_in_set(pp, NFTP_S_SR0 + sh), 2);
	static const uint8_t prefix[12] = { 10, 96, 0, 10, IPPROTO_TCP, 0, 0, 0, 0, 80, 0, 0 };
	for (unsigned k = 0; k < 2; k++) {
		const struct nftp_elem *e = range_at(pp, NFTP_S_SR0 + sh, prefix, 12, k * NFTP_SPAN / 2);
		assert_non_null(e);
		assert_int_equal(nftp_range_end(e), (k + 1) * NFTP_SPAN / 2);
		assert_int_equal(e->dlen, 8);
		assert_memory_equal(nftp_elem_data(e), k ? "\x0a\xf4\x02\x02\x1f\x90\0\0" : "\x0a\xf4\x01\x02\x1f\x90\0\0", 8);
	}
	assert_int_equal(n_in_set(pp, NFTP_S_HAIRPIN), 2);
	assert_int_equal(n_in_set(pp, NFTP_S_CLUSTER_IPS), 1);
	assert_int_equal(n_in_set(pp, NFTP_S_NO_EP_SERVICES), 0);
	for (unsigned i = NFTP_S_EP0; i < NFTP_S_SR0; i++)
		assert_int_equal(n_in_set(pp, i), 0);
	nftp_port_free(pp);

	/*
	 * NodePort and an externalIP: their own ranges (the externalIP's key
	 * ip . port . proto, the NodePort's 0 . proto . port), each in its
	 * key's shard (192.0.2.77: 77, group 4; NodePort 30080 = 0x7580: 128,
	 * group 8) and to that shard's group
	 */
	dp->node_port = 30080;
	dp->external_ips = xcalloc(1, sizeof(struct sy_addr));
	dp->external_ips[0] = ip("192.0.2.77");
	dp->n_external_ips = 1;
	pp = nftp_port_new(&o, dp, NULL);
	assert_int_equal(pp->n_chains, 0);
	assert_int_equal(nftp_sr_shard(&dp->external_ips[0], 0), 77);
	assert_int_equal(nftp_sr_shard(NULL, 30080), 128);
	assert_int_equal(n_in_set(pp, NFTP_S_SR0 + sh), 2);
	assert_int_equal(n_in_set(pp, NFTP_S_SR0 + 77), 2);
	assert_int_equal(n_in_set(pp, NFTP_S_SR0 + 128), 2);
	/* the groups of 16 ranges maps it uses (the full sync's data pass goes by them) */
	assert_int_equal(pp->groups, 1u << (NFTP_S_SR0 - NFTP_S_EP0) / 16 |
			 1u << (NFTP_S_SR0 + 77 - NFTP_S_EP0) / 16 | 1u << (NFTP_S_SR0 + 128 - NFTP_S_EP0) / 16);
	static const uint8_t pext[12] = { 192, 0, 2, 77, 0, 80, 0, 0, IPPROTO_TCP, 0, 0, 0 },
		pnp[12] = { 0, 0, 0, 0, IPPROTO_TCP, 0, 0, 0, 30080 >> 8, 30080 & 0xff, 0, 0 };
	assert_non_null(range_at(pp, NFTP_S_SR0 + 77, pext, 12, NFTP_SPAN / 2));
	assert_non_null(range_at(pp, NFTP_S_SR0 + 128, pnp, 12, NFTP_SPAN / 2));
	/* the ClusterIP layout would let the ClusterIP dnat take external traffic */
	static const uint8_t pext_c[12] = { 192, 0, 2, 77, IPPROTO_TCP, 0, 0, 0, 0, 80, 0, 0 };
	assert_null(range_at(pp, NFTP_S_SR0 + 77, pext_c, 12, 0));
	assert_non_null(range_at(pp, NFTP_S_SR0 + sh, prefix, 12, 0));
	unsigned n_goto = 0;
	for (unsigned i = 0; i < pp->n_elems; i++) {
		const struct nftp_elem *e = &pp->elems[i];
		if (e->set == NFTP_S_SERVICE_NODEPORTS) {
			assert_string_equal(e->chain, "lb-group-8");
			n_goto++;
		} else if (e->set == NFTP_S_SERVICE_IPS) {
			assert_string_equal(e->chain, e->klen == 12 && nftp_elem_kp(e)[0] == 192 ?
					    "lb-group-4" : "lb-group-0");
			n_goto++;
		}
	}
	assert_int_equal(n_goto, 3);
	assert_int_equal(n_in_set(pp, NFTP_S_HAIRPIN), 2);
	nftp_port_free(pp);
	ds_port_free(dp);

	/* 2 -> 3 endpoints: no chain, the same elements but the ranges (and hairpin) */
	struct ds_port *d2 = mk(2, "10.244.1.2", "10.244.2.2"), *d3 = mk(3, "10.244.1.2", "10.244.2.2", "10.244.3.2");
	struct nftp_port *p2 = nftp_port_new(&o, d2, NULL), *p3 = nftp_port_new(&o, d3, NULL);
	unsigned n2 = 0, n3 = 0;
	assert_int_equal(p3->n_chains, 0);
	for (unsigned i = 0; i < p2->n_elems; i++)
		if (p2->elems[i].set < NFTP_S_EP0 && p2->elems[i].set != NFTP_S_HAIRPIN)
			n2++;
	for (unsigned i = 0; i < p3->n_elems; i++) {
		const struct nftp_elem *e = &p3->elems[i], *f = NULL;
		if (e->set >= NFTP_S_EP0 || e->set == NFTP_S_HAIRPIN)
			continue;
		n3++;
		for (unsigned j = 0; j < p2->n_elems && !f; j++)
			if (p2->elems[j].set == e->set && p2->elems[j].klen == e->klen &&
			    !memcmp(nftp_elem_kp(&p2->elems[j]), nftp_elem_kp(e), e->klen))
				f = &p2->elems[j];
		assert_non_null(f);
		assert_int_equal(f->ev, e->ev);
		assert_true(f->chain == e->chain);
	}
	assert_int_equal(n2, n3);
	assert_int_equal(n_in_set(p3, NFTP_S_SR0 + sh), 3);
	nftp_port_free(p2);
	nftp_port_free(p3);
	ds_port_free(d2);
	ds_port_free(d3);
}

/*
 * The shared chain lb-group-G: the ClusterIP masquerade rule (non-pod
 * sources), 16 ClusterIP dnat rules (rule j: daddr's low nibble j, map
 * service-ranges-(16G+j)), then (external and NodePort traffic only) the
 * unconditional mark, 16 external dnat rules (the same guards), 16
 * NodePort dnat rules (dport's low nibble); each map bound by 3 rules.
 */
static void test_shared_chains(void **state)
{
	struct nftp_opts o;
	struct nftp_globals g;
	unsigned binds[NFTP_EP_SHARDS] = { 0 };

	opts(&o);
	nftp_globals_build(&g, &o);
	assert_int_equal(NFTP_LB_GROUPS, 16);
	for (unsigned grp = 0; grp < NFTP_LB_GROUPS; grp++) {
		const struct nftp_chain *c = &g.lb[grp];
		static const uint8_t rk[] = { SY_NFT_RK_DPP, SY_NFT_RK_DPORT_PROTO, SY_NFT_RK_NODEPORT };
		char want[24];
		snprintf(want, sizeof(want), "lb-group-%u", grp);
		assert_string_equal(c->name, want);
		assert_string_equal(c->name, nftp_lb_name(grp));
		assert_int_equal(c->n_rules, 50);
		assert_int_equal(c->rules[0].m, SY_NFT_M_SADDR | SY_NFT_M_SADDR_INV);
		assert_int_equal(c->rules[0].act, SY_NFT_A_JUMP);
		assert_string_equal(c->rules[0].chain, "mark-for-masquerade");
		assert_int_equal(c->rules[17].m, 0);
		assert_int_equal(c->rules[17].act, SY_NFT_A_JUMP);
		assert_string_equal(c->rules[17].chain, "mark-for-masquerade");
		for (unsigned k = 0; k < 3; k++)
			for (unsigned j = 0; j < 16; j++) {
				const struct sy_nft_rule *r = &c->rules[k ? 2 + 16 * k + j : 1 + j];
				unsigned sh = 16 * grp + j;
				assert_int_equal(r->m, k == 2 ? SY_NFT_M_DPORT_LOW : SY_NFT_M_DADDR_LOW);
				assert_int_equal(r->low, j);
				assert_int_equal(r->act, SY_NFT_A_DNAT_RANGES);
				assert_int_equal(r->numgen_mod, NFTP_SPAN);
				assert_int_equal(r->rkey, rk[k]);
				snprintf(want, sizeof(want), "service-ranges-%u", sh);
				assert_string_equal(r->set, want);
				binds[sh]++;
			}
	}
	for (unsigned sh = 0; sh < NFTP_EP_SHARDS; sh++)
		assert_int_equal(binds[sh], 3);
	/* the guard is part of the rule's fingerprint */
	assert_true(sy_nft_rule_fp(&g.lb[0].rules[1]) != sy_nft_rule_fp(&g.lb[0].rules[2]));
	{
		struct sy_nft_rule a = g.lb[0].rules[1];
		a.low = 1;
		assert_true(sy_nft_rule_fp(&a) != sy_nft_rule_fp(&g.lb[0].rules[1]));
	}
	nftp_globals_free(&g);
	/* masqueradeAll: unconditional; no cluster CIDR: no masquerade rule first */
	o.masquerade_all = true;
	nftp_globals_build(&g, &o);
	assert_int_equal(g.lb[0].rules[0].m, 0);
	assert_int_equal(g.lb[0].rules[0].act, SY_NFT_A_JUMP);
	assert_int_equal(g.lb[0].n_rules, 50);
	nftp_globals_free(&g);
	o.masquerade_all = false;
	o.n_cluster_cidrs = 0;
	nftp_globals_build(&g, &o);
	assert_int_equal(g.lb[0].n_rules, 49);
	assert_int_equal(g.lb[0].rules[0].act, SY_NFT_A_DNAT_RANGES);
	nftp_globals_free(&g);
	/* several cluster CIDRs: mark-for-masquerade-non-pod */
	opts(&o);
	sy_cidr_parse("10.245.0.0/16", &o.cluster_cidrs[1]);
	o.n_cluster_cidrs = 2;
	nftp_globals_build(&g, &o);
	assert_string_equal(g.lb[0].rules[0].chain, "mark-for-masquerade-non-pod");
	nftp_globals_free(&g);
}

/* Per-port logic keeps the port's own chains (and no shared ranges). */
static void test_per_port_logic(void **state)
{
	struct nftp_opts o;
	opts(&o);
	for (unsigned v = 0; v < 4; v++) {
		struct ds_port *dp = mk(2, "10.244.1.2!", "10.244.2.2");
		if (v == 0)
			dp->affinity_timeout = 60;
		if (v == 1)
			dp->itp_local = true;
		if (v == 2) {
			dp->node_port = 30080;
			dp->etp_local = true;
		}
		if (v == 3)
			lb_with_source_ranges(dp);
		struct nftp_port *pp = nftp_port_new(&o, dp, NULL);
		assert_true(pp->n_chains > 0);
		for (unsigned i = NFTP_S_SR0; i < NFTP_NSETS; i++)
			assert_int_equal(n_in_set(pp, i), 0);
		for (unsigned i = 0; i < pp->n_elems; i++)
			if (pp->elems[i].chain)
				assert_true(strncmp(pp->elems[i].chain, "lb-", 3) != 0);
		nftp_port_free(pp);
		ds_port_free(dp);
	}
}

static void test_no_endpoints_reject(void **state)
{
	struct nftp_opts o;
	struct ds_port *dp = mk(0);
	opts(&o);
	dp->node_port = 30080;
	struct nftp_port *pp = nftp_port_new(&o, dp, NULL);

	assert_int_equal(pp->n_chains, 0);
	assert_int_equal(n_in_set(pp, NFTP_S_SERVICE_IPS), 0);
	assert_int_equal(n_in_set(pp, NFTP_S_NO_EP_SERVICES), 1);
	assert_int_equal(n_in_set(pp, NFTP_S_NO_EP_NODEPORTS), 1);
	for (unsigned i = 0; i < pp->n_elems; i++)
		if (pp->elems[i].set == NFTP_S_NO_EP_SERVICES) {
			assert_int_equal(pp->elems[i].ev, SY_NFT_EV_GOTO);
			assert_string_equal(pp->elems[i].chain, "reject-chain");
		}
	nftp_port_free(pp);
	ds_port_free(dp);
}

/* a test allocator: consecutive slots (shard maps 1, 2, ...) */
static uint32_t alloc_base;
static uint32_t test_alloc(void *arg, const char *chain)
{
	(void)arg;
	(void)chain;
	return ++alloc_base;
}
static const struct nftp_alloc al = { test_alloc, NULL };

static void test_etp_local(void **state)
{
	struct nftp_opts o;
	struct ds_port *dp = mk(2, "10.244.1.2!", "10.244.2.2");
	opts(&o);
	dp->node_port = 30080;
	dp->etp_local = true;
	alloc_base = 0;
	struct nftp_port *pp = nftp_port_new(&o, dp, &al);
	const struct nftp_chain *ext = find(pp, "external-"), *svl = find(pp, "local-");

	assert_non_null(ext);
	assert_non_null(svl);
	/* the local chain reaches only the local endpoint: its own slot, one range */
	assert_int_equal(svl->n_rules, 1);
	assert_int_equal(svl->rules[0].act, SY_NFT_A_DNAT_MAP);
	assert_int_equal(svl->rules[0].numgen_mod, NFTP_SPAN);
	assert_int_equal(svl->rules[0].numgen_off, NFTP_SLOT_KEY(alloc_base));
	assert_string_equal(svl->rules[0].set, "endpoint-ranges-2");
	assert_string_equal(find(pp, "service-")->rules[1].set, "endpoint-ranges-1");
	assert_int_equal(n_in_set(pp, NFTP_SLOT_SET(alloc_base)), 1);
	assert_int_equal(n_in_set(pp, NFTP_SLOT_SET(alloc_base - 1)), 2);
	/* pod CIDR short-circuit, fib saddr local mark + goto, goto local */
	assert_int_equal(ext->n_rules, 4);
	assert_string_equal(ext->rules[3].chain, svl->name);
	/* no local endpoint: external traffic is dropped */
	nftp_port_free(pp);
	ds_port_free(dp);
	dp = mk(1, "10.244.2.2");
	dp->node_port = 30080;
	dp->etp_local = true;
	pp = nftp_port_new(&o, dp, NULL);
	assert_int_equal(n_in_set(pp, NFTP_S_NO_EP_NODEPORTS), 1);
	for (unsigned i = 0; i < pp->n_elems; i++)
		if (pp->elems[i].set == NFTP_S_NO_EP_NODEPORTS)
			assert_int_equal(pp->elems[i].ev, SY_NFT_EV_DROP);
	nftp_port_free(pp);
	ds_port_free(dp);
}

static void test_affinity_and_fw(void **state)
{
	struct nftp_opts o;
	struct ds_port *dp = mk(2, "10.244.1.2", "10.244.2.2");
	opts(&o);
	dp->affinity_timeout = 600;
	lb_with_source_ranges(dp);
	struct nftp_port *pp = nftp_port_new(&o, dp, NULL);

	assert_int_equal(pp->n_asets, 2);
	assert_int_equal(pp->asets[0].timeout, 600);
	const struct nftp_chain *svc = find(pp, "service-"), *fw = find(pp, "firewall-");
	assert_int_equal(svc->n_rules, 1 + 2 + 2);
	assert_int_equal(svc->rules[1].m, SY_NFT_M_SADDR_SET);
	assert_non_null(fw);
	assert_int_equal(fw->n_rules, 2);
	assert_int_equal(fw->rules[1].act, SY_NFT_A_DROP);
	assert_int_equal(n_in_set(pp, NFTP_S_FIREWALL_IPS), 1);
	assert_int_equal(n_in_set(pp, NFTP_S_SERVICE_IPS), 2);
	nftp_port_free(pp);
	ds_port_free(dp);
}

static unsigned klen_in_set(const struct nftp_port *pp, unsigned set)
{
	for (unsigned i = 0; i < pp->n_elems; i++)
		if (pp->elems[i].set == set)
			return pp->elems[i].klen;
	return 0;
}

/* The same port over IPv6: 16-byte addresses in every key, rule and data */
static void test_ipv6(void **state)
{
	struct nftp_opts o;
	struct ds_port *dp = xcalloc(1, sizeof(*dp));
	struct sy_addr ep6, cip6;

	memset(&o, 0, sizeof(o));
	o.family = AF_INET6;
	o.mark_bit = 0x4000;
	o.nodeport_all_local = true;
	sy_cidr_parse("fd00:244::/48", &o.cluster_cidrs[0]);
	o.n_cluster_cidrs = 1;
	assert_int_equal(sy_addr_parse("fd00:244:1::2", &ep6), 0);
	assert_int_equal(sy_addr_parse("fd00:96::10", &cip6), 0);
	dp->name = xstrdup("ns/web:http");
	dp->svc_key = xstrdup("ns/web");
	dp->svc_ns = "ns";
	dp->svc_name = "web";
	dp->port_name = "http";
	dp->proto = IPPROTO_TCP;
	dp->family = AF_INET6;
	dp->cluster_ip = cip6;
	dp->port = 80;
	dp->node_port = 30080;
	dp->cluster_eps = xcalloc(1, sizeof(*dp->cluster_eps));
	dp->cluster_eps[0] = (struct ds_ep){ .addr = ep6, .port = 8080, .flags = 3 };
	dp->n_cluster_eps = 1;
	/* kubernetes #73157: an IPv4 externalIP on an IPv6 port is left out, not an error */
	dp->external_ips = xcalloc(2, sizeof(struct sy_addr));
	dp->external_ips[0] = ip("192.0.2.7");
	assert_int_equal(sy_addr_parse("2001:db8::7", &dp->external_ips[1]), 0);
	dp->n_external_ips = 2;
	dp->serial = 1;

	struct nftp_port *pp = nftp_port_new(&o, dp, NULL);
	assert_int_equal(pp->n_chains, 0);	/* the shared chains */
	assert_int_equal(klen_in_set(pp, NFTP_S_CLUSTER_IPS), 16);
	assert_int_equal(klen_in_set(pp, NFTP_S_SERVICE_IPS), 24);
	assert_int_equal(klen_in_set(pp, NFTP_S_HAIRPIN), 32);
	assert_int_equal(klen_in_set(pp, NFTP_S_SERVICE_NODEPORTS), 8);
	/* ClusterIP + the IPv6 externalIP only */
	assert_int_equal(n_in_set(pp, NFTP_S_SERVICE_IPS), 2);
	unsigned nr = 0;
	for (unsigned i = 0; i < pp->n_elems; i++) {
		const struct nftp_elem *e = &pp->elems[i];
		if (e->set < NFTP_S_EP0)
			continue;
		assert_true(e->set >= NFTP_S_SR0);
		nr++;
		/* ip6 . proto . port . value; 28 + 20 <= NFTP_KD_MAX */
		assert_int_equal(e->klen, 28);
		assert_int_equal(nftp_range_end(e), NFTP_SPAN);
		assert_int_equal(e->dlen, 20);
		assert_memory_equal(nftp_elem_data(e), ep6.b, 16);
		assert_memory_equal(nftp_elem_data(e) + 16, "\x1f\x90\0\0", 4);
		/* each in its key's shard: the address's last byte (16 bytes), the NodePort's low one */
		assert_int_equal(e->set - NFTP_S_SR0, !memcmp(nftp_elem_kp(e), cip6.b, 16) ? 0x10 :
				 !memcmp(nftp_elem_kp(e), dp->external_ips[1].b, 16) ? 7 : 30080 & 0xff);
	}
	assert_int_equal(nr, 3);	/* ClusterIP, the externalIP, the NodePort: one range each */
	for (unsigned i = 0; i < pp->n_elems; i++)
		if (pp->elems[i].set == NFTP_S_SERVICE_IPS)
			assert_string_equal(pp->elems[i].chain, !memcmp(nftp_elem_kp(&pp->elems[i]), cip6.b, 16) ?
					    "lb-group-1" : "lb-group-0");
	nftp_port_free(pp);

	/* its own chain (etp Local): the service chain's rules in IPv6 */
	dp->etp_local = true;
	pp = nftp_port_new(&o, dp, NULL);
	const struct nftp_chain *svc = find(pp, "service-");
	assert_non_null(svc);
	assert_int_equal(svc->rules[0].dplen, 128);
	assert_int_equal(svc->rules[0].splen, 48);
	assert_int_equal(svc->rules[1].act, SY_NFT_A_DNAT_MAP);
	for (unsigned i = 0; i < pp->n_elems; i++)
		if (pp->elems[i].set >= NFTP_S_EP0)
			assert_int_equal(pp->elems[i].klen, NFTP_RANGE_KLEN);
	nftp_port_free(pp);
	dp->etp_local = false;

	/* affinity: endpoint chains named as kube-proxy does (':' -> '.'), /128 matches */
	dp->affinity_timeout = 60;
	pp = nftp_port_new(&o, dp, NULL);
	const struct nftp_chain *epc = find(pp, "endpoint-");
	assert_non_null(epc);
	assert_non_null(strstr(epc->name, "__fd00.244.1..2/8080"));
	assert_null(strchr(epc->name, ':'));
	assert_int_equal(epc->rules[0].splen, 128);
	nftp_port_free(pp);
	ds_port_free(dp);

	/* the options of the ip6 table take the IPv6 cluster CIDRs only */
	struct sy_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.masquerade_bit = 14;
	sy_cidr_parse("10.244.0.0/16", &cfg.cluster_cidrs[0]);
	sy_cidr_parse("fd00:244::/48", &cfg.cluster_cidrs[1]);
	cfg.n_cluster_cidrs = 2;
	nftp_opts_from(&o, &cfg, NULL, AF_INET6);
	assert_int_equal(o.n_cluster_cidrs, 1);
	assert_true(sy_addr_is6(&o.cluster_cidrs[0].addr));
	nftp_opts_from(&o, &cfg, NULL, AF_INET);
	assert_int_equal(o.n_cluster_cidrs, 1);
	assert_true(sy_addr_is4(&o.cluster_cidrs[0].addr));
}

/* A port with n endpoints 10.244.0.1.. (its own chains), slot fixed by the allocator. */
static uint32_t fixed_slot;
static uint32_t fixed_alloc(void *arg, const char *chain)
{
	(void)arg;
	(void)chain;
	return fixed_slot;
}

static struct nftp_port *port_n(unsigned n, unsigned first)
{
	struct nftp_opts o;
	struct ds_port *dp = mk(0);
	static const struct nftp_alloc fa = { fixed_alloc, NULL };

	opts(&o);
	/* externalTrafficPolicy Local: the port keeps its own chains (not the shared ones) */
	dp->node_port = 30080;
	dp->etp_local = true;
	for (unsigned i = 0; i < n; i++) {
		struct ds_ep ep = { .addr = sy_addr4_host(0x0af40000 + first + i), .port = 8080, .flags = 3 };
		dp->cluster_eps = xrealloc(dp->cluster_eps, (i + 1) * sizeof(ep));
		dp->cluster_eps[dp->n_cluster_eps++] = ep;
	}
	struct nftp_port *pp = nftp_port_new(&o, dp, &fa);
	ds_port_free(dp);
	return pp;
}

/*
 * The ranges split [key, key + SPAN) into n parts of floor or ceil(SPAN / n)
 * values, in order, without gap or overlap, range i -> endpoint i; the
 * rule is the same for every n (an endpoint change writes no rule).
 */
static void test_ranges(void **state)
{
	uint32_t slots[] = { 0, 1, 255, 256, 77 * 256 + 3, NFTP_NSLOTS - 257 };
	uint64_t fp1 = 0;

	for (unsigned s = 0; s < ARRAY_SIZE(slots); s++) {
		fixed_slot = slots[s];
		assert_true(NFTP_SLOT_OK(fixed_slot));
		uint32_t key = NFTP_SLOT_KEY(fixed_slot);
		fp1 = 0;
		for (unsigned n = 1; n <= NFTP_SLOTS; n = n < 300 ? n + 1 : n == 300 ? NFTP_SLOTS : n + 1) {
			struct nftp_port *pp = port_n(n, 1);
			const struct nftp_chain *svc = find(pp, "service-");
			uint32_t next = key, lo = NFTP_SPAN / n, hi = lo + (NFTP_SPAN % n != 0);
			unsigned k = 0;
			assert_non_null(svc);
			assert_int_equal(svc->rules[svc->n_rules - 1].numgen_mod, NFTP_SPAN);
			assert_int_equal(svc->rules[svc->n_rules - 1].numgen_off, key);
			if (!fp1)
				fp1 = svc->fp;
			assert_int_equal(svc->fp, fp1);	/* the same rules for every n */
			for (unsigned i = 0; i < pp->n_elems; i++) {
				const struct nftp_elem *e = &pp->elems[i];
				if (e->set != NFTP_SLOT_SET(fixed_slot))
					continue;
				uint32_t a = be32(nftp_elem_kp(e)), b = nftp_range_end(e);
				assert_int_equal(a, next);
				assert_true(b - a == lo || b - a == hi);
				/* range k -> endpoint k */
				assert_int_equal(be32(nftp_elem_data(e)), 0x0af40000 + 1 + k);
				next = b;
				k++;
			}
			assert_int_equal(k, n);
			assert_int_equal(next, key + NFTP_SPAN);	/* all of it, no overflow */
			nftp_port_free(pp);
		}
	}
	/* more endpoints than NFTP_SLOTS: the first NFTP_SLOTS */
	fixed_slot = 5;
	struct nftp_port *pp = port_n(NFTP_SLOTS + 3, 1);
	assert_int_equal(n_in_set(pp, NFTP_SLOT_SET(5)), NFTP_SLOTS);
	nftp_port_free(pp);
	/* every slot the hash gives is usable, in the 2^20 slots */
	for (unsigned i = 0; i < 5000; i++) {
		char name[32];
		snprintf(name, sizeof(name), "service-X-%u", i);
		uint32_t sl = nftp_base_hash(name);
		assert_true(sl < NFTP_NSLOTS && NFTP_SLOT_OK(sl));
		assert_true((uint64_t)NFTP_SLOT_KEY(sl) + NFTP_SPAN <= 0xffffffffull);
	}
}

/*
 * A change of the endpoint count (2 -> 3 -> 2) and of one endpoint changes
 * only endpoint-ranges (and hairpin) elements: the chain's rules are equal.
 */
static void test_count_change_elements_only(void **state)
{
	fixed_slot = 4242;
	struct nftp_port *p2 = port_n(2, 1), *p3 = port_n(3, 1), *q2 = port_n(2, 2);
	const struct nftp_chain *c2 = find(p2, "service-"), *c3 = find(p3, "service-"),
				*d2 = find(q2, "service-");

	assert_int_equal(c2->fp, c3->fp);
	assert_int_equal(c2->fp, d2->fp);
	assert_int_equal(c2->n_rules, c3->n_rules);
	for (unsigned i = 0; i < c2->n_rules; i++) {
		assert_int_equal(sy_nft_rule_fp(&c2->rules[i]), sy_nft_rule_fp(&c3->rules[i]));
		assert_int_equal(c2->rules[i].numgen_mod, c3->rules[i].numgen_mod);
		assert_int_equal(c2->rules[i].numgen_off, c3->rules[i].numgen_off);
	}
	/* the elements differ: 2 ranges, 3 ranges (first start shared, different ends) */
	assert_int_equal(n_in_set(p2, NFTP_SLOT_SET(4242)), 2);
	assert_int_equal(n_in_set(p3, NFTP_SLOT_SET(4242)), 3);
	assert_int_equal(n_in_set(p3, NFTP_S_HAIRPIN), 3);
	nftp_port_free(p2);
	nftp_port_free(p3);
	nftp_port_free(q2);
}

static void test_globals(void **state)
{
	struct nftp_opts o;
	struct nftp_globals g;
	unsigned base = 0;

	opts(&o);
	nftp_globals_build(&g, &o);
	for (unsigned i = 0; i < g.n_chains; i++)
		base += g.chains[i].hook != NULL;
	assert_int_equal(base, 8);
	assert_int_equal(g.n_elems, 0);
	nftp_globals_free(&g);
	o.nodeport_all_local = false;
	o.nodeport_addrs[0] = ip("192.168.1.10");
	o.n_nodeport_addrs = 1;
	nftp_globals_build(&g, &o);
	assert_int_equal(g.n_elems, 1);
	assert_int_equal(g.elems[0].set, NFTP_S_NODEPORT_IPS);
	nftp_globals_free(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_clusterip),
		cmocka_unit_test(test_shared_chains),
		cmocka_unit_test(test_per_port_logic),
		cmocka_unit_test(test_no_endpoints_reject),
		cmocka_unit_test(test_etp_local),
		cmocka_unit_test(test_affinity_and_fw),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_count_change_elements_only),
		cmocka_unit_test(test_globals),
		cmocka_unit_test(test_ipv6),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
