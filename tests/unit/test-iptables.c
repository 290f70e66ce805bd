// SPDX-License-Identifier: Apache-2.0
/* The iptables mode's planner, without a kernel. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include "switchyard/config.h"
#include "switchyard/desired.h"
#include "switchyard/util.h"
#include "../../modes/iptables_plan.h"

static struct in_addr ip(const char *s)
{
	struct in_addr a;
	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a;
}

/* an IPv4 or IPv6 address */
static struct sy_addr sip(const char *s)
{
	struct sy_addr a;

	assert_int_equal(sy_addr_parse(s, &a), 0);
	return a;
}

static uint64_t serial = 1;

/* A port "ns/svc:p" with the given endpoints ("ip" or "ip!" for local). */
static struct ds_port *mk(const char *name, const char *cip, uint8_t proto, unsigned n, ...)
{
	struct ds_port *p = xcalloc(1, sizeof(*p));
	va_list ap;

	p->name = xstrdup(name);
	p->svc_key = xstrdup(name);
	p->proto = proto;
	p->cluster_ip = sip(cip);
	p->family = p->cluster_ip.family;
	p->port = 80;
	p->cluster_eps = xcalloc(n + 1, sizeof(*p->cluster_eps));
	p->local_eps = xcalloc(n + 1, sizeof(*p->local_eps));
	va_start(ap, n);
	for (unsigned i = 0; i < n; i++) {
		const char *e = va_arg(ap, const char *);
		char buf[64];
		size_t l = strlen(e);
		bool local = e[l - 1] == '!';
		snprintf(buf, sizeof(buf), "%.*s", (int)(local ? l - 1 : l), e);
		struct ds_ep ep = { .addr = sip(buf), .port = 8080, .flags = 3, .local = local };
		p->cluster_eps[p->n_cluster_eps++] = ep;
		if (local)
			p->local_eps[p->n_local_eps++] = ep;
	}
	va_end(ap);
	p->serial = serial++;
	return p;
}

static void opts(struct ipt_plan_opts *o, const char *cidr)
{
	memset(o, 0, sizeof(*o));
	o->family = AF_INET;
	o->masq_mark = 0x4000;
	o->nodeport_all_local = true;
	o->localhost_nodeports = true;
	o->leaf_max = 8;
	if (cidr) {
		sy_cidr_parse(cidr, &o->cluster_cidrs[0]);
		o->n_cluster_cidrs = 1;
	}
}

static struct ipt_chain *find(struct ipt_port_plan *pp, const char *prefix)
{
	for (unsigned i = 0; i < pp->n_chains; i++)
		if (!strncmp(pp->chains[i].name, prefix, strlen(prefix)))
			return &pp->chains[i];
	return NULL;
}

static unsigned count_prefix(struct ipt_port_plan *pp, const char *prefix)
{
	unsigned n = 0;
	for (unsigned i = 0; i < pp->n_chains; i++)
		n += !strncmp(pp->chains[i].name, prefix, strlen(prefix));
	return n;
}

static void test_names(void **state)
{
	char n[IPT_CHAIN_MAXLEN + 1];
	uint8_t d[32];
	static const uint8_t abc[32] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
		0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
	};

	ipt_sha256("abc", 3, d);
	assert_memory_equal(d, abc, 32);
	/* kube-proxy's test vectors */
	ipt_chain_name(n, "KUBE-SVC-", "default/kubernetes:httpstcp");
	assert_string_equal(n, "KUBE-SVC-NPX46M4PTMTKRN6Y");
	ipt_chain_name(n, "KUBE-SVC-", "kube-system/kube-dns:dnsudp");
	assert_string_equal(n, "KUBE-SVC-TCOU7JCQXEZGVUNU");
	ipt_chain_name(n, "SY-SEP-", "x");
	assert_true(strlen(n) <= IPT_CHAIN_MAXLEN);

	assert_true(ipt_chain_is_ours("SY-SERVICES"));
	assert_true(ipt_chain_is_ours("SY-SVC-NPX46M4PTMTKRN6Y"));
	assert_true(ipt_chain_is_ours("SY-DST-0A600000-16"));
	assert_true(ipt_chain_is_ours("SY-EXTERNAL-SERVICES"));
	assert_false(ipt_chain_is_ours("SY-PODNET-MASQ"));
	assert_false(ipt_chain_is_ours("SY-IPVS-SERVICES"));
	assert_false(ipt_chain_is_ours("SY-OTHER"));
	assert_false(ipt_chain_is_ours("KUBE-SERVICES"));
	assert_false(ipt_chain_is_ours("SY-SERVICES2"));
}

static void test_probability(void **state)
{
	/* 1/(n-i) for n up to 1000 endpoints, within 1e-9 of exact */
	for (unsigned n = 2; n <= 1000; n++) {
		double p = ipt_prob_inv(n) / 2147483648.0;
		assert_true(fabs(p - 1.0 / n) < 1e-9);
	}
	assert_int_equal(ipt_prob_inv(2), 0x40000000);
}

static void test_remote_endpoints(void **state)
{
	struct ipt_plan p;
	struct ipt_plan_opts o;
	struct ds_port *dp = mk("ns/web:http", "10.96.0.10", IPPROTO_TCP, 3, "10.244.1.2", "10.244.2.2",
				"10.244.3.2");

	opts(&o, "10.244.0.0/16");
	ipt_plan_init(&p, &o);
	struct ipt_port_plan *pp = ipt_port_plan_new(&p, dp);
	struct ipt_chain *svc = find(pp, "SY-SVC-");
	assert_non_null(svc);
	assert_int_equal(count_prefix(pp, "SY-SEP-"), 0);	/* remote, no affinity: DNAT inline */
	assert_int_equal(svc->n_rules, 3);
	assert_int_equal(svc->rules[0].matches, IPT_M_STAT);
	assert_int_equal(svc->rules[0].prob, ipt_prob_inv(3));
	assert_int_equal(svc->rules[1].prob, ipt_prob_inv(2));
	assert_int_equal(svc->rules[2].matches, 0);
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(svc->rules[i].target, IPT_T_DNAT);
		assert_int_equal(svc->rules[i].to_port, 8080);
		assert_int_equal(svc->rules[i].proto, IPPROTO_TCP);
		assert_int_equal(svc->rules[i].to_addr.v4.s_addr, dp->cluster_eps[i].addr.v4.s_addr);
	}
	/* dispatch: mark traffic from outside the cluster CIDR, then jump */
	assert_int_equal(pp->n_nat_disp, 2);
	assert_int_equal(pp->nat_disp[0].inv, IPT_R_INV_SRC);
	assert_ptr_equal(pp->nat_disp[0].jump, &p.nat_mark_masq);
	assert_int_equal(pp->nat_disp[0].dst.v4.s_addr, ip("10.96.0.10").s_addr);
	assert_int_equal(pp->nat_disp[0].dport, 80);
	assert_ptr_equal(pp->nat_disp[1].jump, svc);
	assert_int_equal(pp->n_filt_disp, 0);
	assert_int_equal(pp->n_nat_np, 0);
	ipt_port_plan_free(pp);
	ds_port_free(dp);
	ipt_plan_fini(&p);
}

static void test_local_and_affinity(void **state)
{
	struct ipt_plan p;
	struct ipt_plan_opts o;
	struct ds_port *dp = mk("ns/web:http", "10.96.0.10", IPPROTO_UDP, 2, "10.244.1.2!", "10.244.2.2");

	opts(&o, NULL);
	o.masquerade_all = true;
	ipt_plan_init(&p, &o);
	struct ipt_port_plan *pp = ipt_port_plan_new(&p, dp);
	/* the local endpoint gets a SEP chain with the hairpin mark */
	assert_int_equal(count_prefix(pp, "SY-SEP-"), 1);
	struct ipt_chain *sep = find(pp, "SY-SEP-");
	assert_int_equal(sep->n_rules, 2);
	assert_int_equal(sep->rules[0].src.v4.s_addr, ip("10.244.1.2").s_addr);
	assert_int_equal(sep->rules[0].splen, 32);
	assert_ptr_equal(sep->rules[0].jump, &p.nat_mark_masq);
	assert_int_equal(sep->rules[1].target, IPT_T_DNAT);
	assert_int_equal(sep->rules[1].proto, IPPROTO_UDP);
	/* masquerade-all: unconditional mark */
	assert_int_equal(pp->nat_disp[0].inv, 0);
	assert_int_equal(pp->nat_disp[0].splen, 0);
	ipt_port_plan_free(pp);

	/* affinity: every endpoint through a SEP chain, rcheck first, --set at DNAT */
	dp->affinity_timeout = 10800;
	pp = ipt_port_plan_new(&p, dp);
	assert_int_equal(count_prefix(pp, "SY-SEP-"), 2);
	struct ipt_chain *svc = find(pp, "SY-SVC-");
	assert_int_equal(svc->n_rules, 4);
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(svc->rules[i].matches, IPT_M_RCHECK);
		assert_int_equal(svc->rules[i].seconds, 10800);
		assert_ptr_equal(svc->rules[i].recent, svc->rules[i].jump);
		assert_ptr_equal(svc->rules[i + 2].jump, svc->rules[i].jump);
		const struct ipt_chain *s = svc->rules[i].jump;
		assert_int_equal(s->rules[s->n_rules - 1].matches, IPT_M_RSET);
		assert_ptr_equal(s->rules[s->n_rules - 1].recent, s);
	}
	assert_int_equal(svc->rules[2].matches, IPT_M_STAT);
	ipt_port_plan_free(pp);
	ds_port_free(dp);
	ipt_plan_fini(&p);
}

static void test_no_endpoints(void **state)
{
	struct ipt_plan p;
	struct ipt_plan_opts o;
	struct ds_port *dp = mk("ns/web:http", "10.96.0.10", IPPROTO_TCP, 0);

	dp->node_port = 30080;
	dp->external_ips = xcalloc(1, sizeof(struct sy_addr));
	dp->external_ips[0] = sip("192.168.60.1");
	dp->n_external_ips = 1;
	opts(&o, NULL);
	ipt_plan_init(&p, &o);
	struct ipt_port_plan *pp = ipt_port_plan_new(&p, dp);
	assert_int_equal(pp->n_chains, 0);
	assert_int_equal(pp->n_nat_disp, 0);
	assert_int_equal(pp->n_filt_disp, 2);	/* cluster IP + external IP */
	for (unsigned i = 0; i < 2; i++)
		assert_int_equal(pp->filt_disp[i].target, IPT_T_REJECT);
	assert_int_equal(pp->n_filt_ext, 1);	/* the NodePort */
	assert_int_equal(pp->filt_ext[0].target, IPT_T_REJECT);
	assert_int_equal(pp->filt_ext[0].matches, IPT_M_DST_LOCAL | IPT_M_DPORT);
	assert_int_equal(pp->filt_ext[0].dport, 30080);
	ipt_port_plan_free(pp);
	ds_port_free(dp);
	ipt_plan_fini(&p);
}

static void test_etp_local(void **state)
{
	struct ipt_plan p;
	struct ipt_plan_opts o;
	/* only a remote endpoint: external traffic dropped, pods/node use the cluster */
	struct ds_port *dp = mk("ns/web:http", "10.96.0.10", IPPROTO_TCP, 1, "10.244.2.2");

	dp->node_port = 30080;
	dp->etp_local = true;
	dp->lb_ips = xcalloc(1, sizeof(struct sy_addr));
	dp->lb_ips[0] = sip("192.168.70.1");
	dp->n_lb_ips = 1;
	dp->lb_source_ranges = xcalloc(1, sizeof(struct sy_cidr));
	sy_cidr_parse("192.168.50.0/24", &dp->lb_source_ranges[0]);
	dp->n_lb_source_ranges = 1;
	opts(&o, "10.244.0.0/16");
	ipt_plan_init(&p, &o);
	struct ipt_port_plan *pp = ipt_port_plan_new(&p, dp);
	struct ipt_chain *ext = find(pp, "SY-EXT-"), *svc = find(pp, "SY-SVC-"), *fw = find(pp, "SY-FW-");
	assert_non_null(ext);
	assert_non_null(svc);
	assert_non_null(fw);
	assert_null(find(pp, "SY-SVL-"));
	assert_int_equal(ext->n_rules, 3);	/* pods → cluster, LOCAL → masq, LOCAL → cluster */
	assert_ptr_equal(ext->rules[0].jump, svc);
	assert_int_equal(ext->rules[0].src.v4.s_addr, ip("10.244.0.0").s_addr);
	assert_int_equal(ext->rules[1].matches, IPT_M_SRC_LOCAL);
	assert_ptr_equal(ext->rules[1].jump, &p.nat_mark_masq);
	assert_ptr_equal(ext->rules[2].jump, svc);
	assert_int_equal(fw->n_rules, 1);
	assert_ptr_equal(fw->rules[0].jump, ext);
	assert_int_equal(fw->rules[0].splen, 24);
	/* filter: DROP the LB IP and the NodePort for what nat did not take */
	assert_int_equal(pp->n_filt_disp, 1);
	assert_int_equal(pp->filt_disp[0].target, IPT_T_DROP);
	assert_int_equal(pp->n_filt_ext, 1);
	assert_int_equal(pp->filt_ext[0].target, IPT_T_DROP);
	ipt_port_plan_free(pp);

	/* with a local endpoint: EXT ends in the local chain */
	ds_port_free(dp);
	dp = mk("ns/web:http", "10.96.0.10", IPPROTO_TCP, 2, "10.244.1.2!", "10.244.2.2");
	dp->node_port = 30080;
	dp->etp_local = true;
	pp = ipt_port_plan_new(&p, dp);
	ext = find(pp, "SY-EXT-");
	struct ipt_chain *svl = find(pp, "SY-SVL-");
	assert_non_null(svl);
	assert_int_equal(svl->n_rules, 1);
	assert_ptr_equal(ext->rules[ext->n_rules - 1].jump, svl);
	assert_int_equal(pp->n_filt_ext, 0);
	ipt_port_plan_free(pp);
	/* a healthCheckNodePort is accepted in filter */
	dp->hc_node_port = 32000;
	pp = ipt_port_plan_new(&p, dp);
	assert_int_equal(pp->n_filt_ext, 1);
	assert_int_equal(pp->filt_ext[0].target, IPT_T_ACCEPT);
	assert_int_equal(pp->filt_ext[0].dport, 32000);
	assert_int_equal(pp->filt_ext[0].proto, IPPROTO_TCP);
	/* the local endpoint's SEP chain is shared by SVC and SVL */
	assert_int_equal(count_prefix(pp, "SY-SEP-"), 1);
	ipt_port_plan_free(pp);
	ds_port_free(dp);
	ipt_plan_fini(&p);
}

/* walk the dispatch tree: every leaf rule's address lies inside every prefix on its path */
static unsigned walk(const struct ipt_chain *c, uint32_t pfx, uint32_t msk, unsigned depth,
		     unsigned *max_depth, unsigned *max_width)
{
	unsigned n = 0;
	if (depth > *max_depth)
		*max_depth = depth;
	if (c->n_rules > *max_width)
		*max_width = c->n_rules;
	for (unsigned i = 0; i < c->n_rules; i++) {
		const struct ipt_rule *r = &c->rules[i];
		uint32_t rmsk = r->dplen ? ~0u << (32 - r->dplen) : 0;
		assert_int_equal(ntohl(r->dst.v4.s_addr) & msk, pfx);
		if (r->target == IPT_T_JUMP && !strncmp(r->jump->name, "SY-DST-", 7)) {
			assert_true(rmsk > msk || !msk);
			n += walk(r->jump, ntohl(r->dst.v4.s_addr), rmsk, depth + 1,
				  max_depth, max_width);
		} else if (r->dplen == 32) {
			n++;
		}
	}
	return n;
}

/* A desired state for node n1 whose ports a test puts in by hand (not
 * through desired_update); fixture_end frees those ports too. */
static void fixture_begin(struct sy_config *cfg, struct desired_state *ds)
{
	config_init(cfg);
	desired_init(ds, cfg);
	desired_set_node(ds, "n1", NULL, NULL, 0, true);
}

static void fixture_end(struct sy_config *cfg, struct desired_state *ds)
{
	struct hmap_iter it;
	void *v;

	hmap_iter_init(&it, &ds->ports);
	while (hmap_iter_next(&it, NULL, &v))
		ds_port_free(v);
	hmap_iter_init(&it, &ds->ports6);
	while (hmap_iter_next(&it, NULL, &v))
		ds_port_free(v);
	desired_fini(ds);
	config_free(cfg);
}

static void test_tree_and_cache(void **state)
{
	struct sy_config cfg;
	struct desired_state ds;
	struct ipt_plan p;
	struct ipt_plan_opts o;
	unsigned n = 5000, depth = 0, width = 0;
	char name[64], cip[32];

	fixture_begin(&cfg, &ds);
	srand(7);
	for (unsigned i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "ns/svc%u:p", i);
		/* 2 ports of one Service share an address now and then */
		unsigned a = i % 7 == 1 ? (unsigned)(rand() % 65536) : (unsigned)rand() % 1048576;
		snprintf(cip, sizeof(cip), "10.%u.%u.%u", 96 + (a >> 16), (a >> 8) & 255, (a & 255) | 1);
		struct ds_port *dp = mk(name, cip, IPPROTO_TCP, 2, "10.244.1.2", "10.244.2.2");
		hmap_put(&ds.ports, dp->name, dp);
	}
	ipt_plan_opts_from(&o, &cfg, &ds, AF_INET);
	ipt_plan_init(&p, &o);
	assert_int_equal(ipt_plan_build(&p, &ds), 0);
	assert_int_equal(p.rebuilt_ports, n);
	/* every dispatch rule reachable, the root and every level small */
	assert_int_equal(walk(&p.nat_services, 0, 0, 0, &depth, &width), n);
	assert_true(width <= 16 + 8 * 2);
	assert_true(depth <= 6);
	assert_true(p.nat_services.n_rules <= 17);
	print_message("tree: %u ports, depth %u, widest chain %u rules, %u tree chains\n", n, depth,
		      width, p.n_tree);

	/* unchanged: nothing re-planned; one new version: one re-planned */
	assert_int_equal(ipt_plan_build(&p, &ds), 0);
	assert_int_equal(p.rebuilt_ports, 0);
	struct ds_port *old = hmap_get(&ds.ports, "ns/svc42:p");
	struct ds_port *nw = mk("ns/svc42:p", "10.96.0.42", IPPROTO_TCP, 1, "10.244.9.9");
	hmap_put(&ds.ports, nw->name, nw);
	ds_port_free(old);
	assert_int_equal(ipt_plan_build(&p, &ds), 0);
	assert_int_equal(p.rebuilt_ports, 1);
	/* a removed port disappears from the plan */
	hmap_del(&ds.ports, "ns/svc42:p");
	ds_port_free(nw);
	assert_int_equal(ipt_plan_build(&p, &ds), 0);
	assert_null(hmap_get(&p.ports, "ns/svc42:p"));
	assert_int_equal(hmap_count(&p.ports), n - 1);
	ipt_plan_fini(&p);
	fixture_end(&cfg, &ds);
}

/* many NodePorts: SY-NODEPORTS is a tree of port ranges, every NodePort reachable once */
static unsigned np_walk(const struct ipt_chain *c, uint8_t proto, unsigned lo, unsigned hi,
			unsigned *widest)
{
	unsigned n = 0;
	if (c->n_rules > *widest)
		*widest = c->n_rules;
	for (unsigned i = 0; i < c->n_rules; i++) {
		const struct ipt_rule *r = &c->rules[i];
		if (r->matches & IPT_M_DST_LOCAL)
			continue;
		assert_true(!proto || r->proto == proto);
		assert_true(r->dport >= lo && (r->dport_hi ? r->dport_hi : r->dport) <= hi);
		if (!strncmp(r->jump->name, "SY-DST-P", 8))
			n += np_walk(r->jump, r->proto, r->dport, r->dport_hi, widest);
		else
			n++;
	}
	return n;
}

static void test_nodeport_tree(void **state)
{
	struct sy_config cfg;
	struct desired_state ds;
	struct ipt_plan p;
	struct ipt_plan_opts o;
	char name[64], cip[32];
	unsigned widest = 0;

	fixture_begin(&cfg, &ds);
	for (unsigned i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "ns/np%u:p", i);
		snprintf(cip, sizeof(cip), "10.96.%u.%u", i / 250, i % 250 + 1);
		struct ds_port *dp = mk(name, cip, i % 3 ? IPPROTO_TCP : IPPROTO_UDP, 1, "10.244.1.2");
		dp->node_port = (uint16_t)(30000 + (i * 7919) % 2768);
		hmap_put(&ds.ports, dp->name, dp);
	}
	ipt_plan_opts_from(&o, &cfg, &ds, AF_INET);
	ipt_plan_init(&p, &o);
	assert_int_equal(ipt_plan_build(&p, &ds), 0);
	assert_int_equal(np_walk(&p.nat_nodeports, 0, 0, 65535, &widest), 1000);
	assert_true(widest <= 16);
	ipt_plan_fini(&p);
	fixture_end(&cfg, &ds);
}

/* localhost NodePorts: route_localnet, and the guard against 127/8 traffic from elsewhere */
static void test_localhost_nodeports(void **state)
{
	struct sy_config cfg;
	struct desired_state ds;
	struct ipt_plan p;
	struct ipt_plan_opts o;
	struct ds_port *dp = mk("ns/web:http", "10.96.0.10", IPPROTO_TCP, 1, "10.244.1.2");

	dp->node_port = 30080;
	fixture_begin(&cfg, &ds);
	hmap_put(&ds.ports, dp->name, dp);
	ipt_plan_opts_from(&o, &cfg, &ds, AF_INET);
	ipt_plan_init(&p, &o);
	assert_int_equal(ipt_plan_build(&p, &ds), 0);
	assert_true(p.need_route_localnet);
	assert_int_equal(p.filt_firewall.n_rules, 1);
	assert_int_equal(p.filt_firewall.rules[0].target, IPT_T_DROP);
	assert_int_equal(p.filt_firewall.rules[0].inv, IPT_R_INV_SRC);
	assert_ptr_equal(p.builtin[IPT_FILTER][1][0].jump, &p.filt_firewall);
	/* the NodePort jump is the last rule of SY-SERVICES, for every local address */
	const struct ipt_rule *last = &p.nat_services.rules[p.nat_services.n_rules - 1];
	assert_ptr_equal(last->jump, &p.nat_nodeports);
	assert_int_equal(last->matches, IPT_M_DST_LOCAL);
	ipt_plan_fini(&p);

	/* --iptables-localhost-nodeports=false: no 127/8, no route_localnet, no guard */
	cfg.localhost_nodeports = false;
	ipt_plan_opts_from(&o, &cfg, &ds, AF_INET);
	ipt_plan_init(&p, &o);
	assert_int_equal(ipt_plan_build(&p, &ds), 0);
	assert_false(p.need_route_localnet);
	assert_false(p.filt_firewall.used);
	last = &p.nat_services.rules[p.nat_services.n_rules - 1];
	assert_int_equal(last->inv, IPT_R_INV_DST);
	assert_int_equal(last->dst.v4.s_addr, htonl(0x7f000000));
	ipt_plan_fini(&p);
	fixture_end(&cfg, &ds);
}

/* Is a inside pfx/plen (16-byte addresses)? */
static bool in_prefix6(const uint8_t *a, const uint8_t *pfx, unsigned plen)
{
	for (unsigned i = 0; i < 16 && plen; i++) {
		unsigned n = plen < 8 ? plen : 8;
		uint8_t m = (uint8_t)(0xff00 >> n);

		if ((a[i] & m) != pfx[i])
			return false;
		plen -= n;
	}
	return true;
}

/* walk an IPv6 dispatch tree: as walk(), on 128-bit prefixes; names checked */
static unsigned walk6(const struct ipt_chain *c, const uint8_t *pfx, unsigned plen,
		      unsigned depth, unsigned *max_depth, struct hmap *names)
{
	unsigned n = 0;

	if (depth > *max_depth)
		*max_depth = depth;
	assert_true(strlen(c->name) <= IPT_CHAIN_MAXLEN);
	for (unsigned i = 0; i < c->n_rules; i++) {
		const struct ipt_rule *r = &c->rules[i];

		assert_true(in_prefix6(r->dst.b, pfx, plen));
		if (r->target == IPT_T_JUMP && !strncmp(r->jump->name, "SY-DST-", 7)) {
			assert_true(r->dplen > plen && r->dplen < 128);
			assert_null(hmap_get(names, r->jump->name));	/* each chain once */
			hmap_put(names, r->jump->name, (void *)r->jump);
			n += walk6(r->jump, r->dst.b, r->dplen, depth + 1, max_depth, names);
		} else if (r->dplen == 128 && !(r->inv & IPT_R_INV_DST)) {
			n++;
		}
	}
	return n;
}

/*
 * IPv6: a plan of each family sees only its own ports, cluster CIDRs and
 * NodePort addresses; IPv6 has no localhost NodePorts (no route_localnet,
 * no 127/8 guard, ! -d ::1/128 on the NodePort jump, ::1 skipped); the
 * dispatch tree splits 128-bit prefixes and names its chains by hash.
 */
static void test_ipv6(void **state)
{
	struct sy_config cfg;
	struct desired_state ds;
	struct ipt_plan p4, p6;
	struct ipt_plan_opts o;
	struct sy_addr np[3] = { sip("192.168.1.1"), sip("fd00:1::1"), sip("::1") };
	const struct ipt_rule *r;
	struct ipt_chain *svc;
	unsigned depth = 0, n = 3000;
	char name[64], cip[64];
	struct hmap names;

	(void)state;
	fixture_begin(&cfg, &ds);
	assert_int_equal(sy_cidr_parse("10.244.0.0/16", &cfg.cluster_cidrs[0]), 0);
	assert_int_equal(sy_cidr_parse("fd00:10:244::/56", &cfg.cluster_cidrs[1]), 0);
	cfg.n_cluster_cidrs = 2;
	desired_set_node(&ds, "n1", NULL, np, 3, false);
	struct ds_port *d4 = mk("ns/web:http", "10.96.0.10", IPPROTO_TCP, 1, "10.244.1.2");
	struct ds_port *d6 = mk("ns/web:http", "fd00:96::10", IPPROTO_TCP, 2, "fd00:10:244::2!",
				"fd00:10:244:1::3");
	d4->node_port = d6->node_port = 30080;
	hmap_put(&ds.ports, d4->name, d4);
	hmap_put(&ds.ports6, d6->name, d6);

	ipt_plan_opts_from(&o, &cfg, &ds, AF_INET6);
	assert_int_equal(o.family, AF_INET6);
	assert_int_equal(o.n_cluster_cidrs, 1);
	assert_false(o.localhost_nodeports);
	ipt_plan_init(&p6, &o);
	assert_int_equal(ipt_plan_build(&p6, &ds), 0);
	assert_int_equal(hmap_count(&p6.ports), 1);
	struct ipt_port_plan *pp = hmap_get(&p6.ports, "ns/web:http");
	/* ! -s fd00:10:244::/56 -d fd00:96::10 -j SY-MARK-MASQ, then the SVC jump */
	assert_int_equal(pp->n_nat_disp, 2);
	assert_int_equal(pp->nat_disp[0].inv, IPT_R_INV_SRC);
	assert_int_equal(pp->nat_disp[0].splen, 56);
	assert_memory_equal(pp->nat_disp[0].src.b, sip("fd00:10:244::").b, 16);
	assert_memory_equal(pp->nat_disp[1].dst.b, sip("fd00:96::10").b, 16);
	assert_int_equal(pp->nat_disp[1].dplen, 128);
	svc = find(pp, "SY-SVC-");
	assert_non_null(svc);
	/* the local endpoint through its SEP (hairpin -s ep/128), the remote one DNATed here */
	assert_int_equal(svc->n_rules, 2);
	assert_int_equal(svc->rules[1].target, IPT_T_DNAT);
	assert_memory_equal(svc->rules[1].to_addr.b, sip("fd00:10:244:1::3").b, 16);
	struct ipt_chain *sep = find(pp, "SY-SEP-");
	assert_int_equal(sep->rules[0].splen, 128);
	assert_memory_equal(sep->rules[0].src.b, sip("fd00:10:244::2").b, 16);
	/* NodePorts on fd00:1::1 only: not the IPv4 address, not ::1; no localhost guard */
	assert_false(p6.need_route_localnet);
	assert_false(p6.filt_firewall.used);
	r = &p6.nat_services.rules[p6.nat_services.n_rules - 1];
	assert_ptr_equal(r->jump, &p6.nat_nodeports);
	assert_memory_equal(r->dst.b, np[1].b, 16);
	assert_int_equal(r->dplen, 128);
	assert_false(p6.nat_services.n_rules >= 2 &&
		     p6.nat_services.rules[p6.nat_services.n_rules - 2].jump == &p6.nat_nodeports);

	/* the IPv4 plan of the same state: its own port, CIDR and NodePort address */
	ipt_plan_opts_from(&o, &cfg, &ds, AF_INET);
	ipt_plan_init(&p4, &o);
	assert_int_equal(ipt_plan_build(&p4, &ds), 0);
	pp = hmap_get(&p4.ports, "ns/web:http");
	assert_int_equal(pp->nat_disp[0].splen, 16);
	assert_int_equal(pp->nat_disp[1].dst.v4.s_addr, ip("10.96.0.10").s_addr);
	r = &p4.nat_services.rules[p4.nat_services.n_rules - 1];
	assert_int_equal(r->dst.v4.s_addr, ip("192.168.1.1").s_addr);
	assert_int_equal(r->dplen, 32);
	ipt_plan_fini(&p4);
	ipt_plan_fini(&p6);

	/* every local address: ! -d ::1/128 even with localhost NodePorts on */
	desired_set_node(&ds, "n1", NULL, NULL, 0, true);
	ipt_plan_opts_from(&o, &cfg, &ds, AF_INET6);
	ipt_plan_init(&p6, &o);
	assert_int_equal(ipt_plan_build(&p6, &ds), 0);
	r = &p6.nat_services.rules[p6.nat_services.n_rules - 1];
	assert_int_equal(r->matches, IPT_M_DST_LOCAL);
	assert_int_equal(r->inv, IPT_R_INV_DST);
	assert_int_equal(r->dplen, 128);
	assert_memory_equal(r->dst.b, np[2].b, 16);
	assert_false(p6.need_route_localnet);
	assert_false(p6.filt_firewall.used);
	ipt_plan_fini(&p6);

	/* a big IPv6 tree: every address reachable under its prefixes, names unique and short */
	srand(11);
	for (unsigned i = 0; i < n; i++) {
		unsigned a = (unsigned)rand() % 1048576;

		snprintf(name, sizeof(name), "ns/svc6-%u:p", i);
		snprintf(cip, sizeof(cip), "fd00:96::%x:%x", a >> 8, (a & 255) | 1);
		if (i % 5 == 0)
			snprintf(cip, sizeof(cip), "fd%02x:%x::%x", i % 7, a >> 12, a & 0xfff);
		struct ds_port *dp = mk(name, cip, IPPROTO_TCP, 1, "fd00:10:244::9");
		hmap_put(&ds.ports6, dp->name, dp);
	}
	ipt_plan_opts_from(&o, &cfg, &ds, AF_INET6);
	ipt_plan_init(&p6, &o);
	assert_int_equal(ipt_plan_build(&p6, &ds), 0);
	hmap_init(&names);
	uint8_t zero[16] = { 0 };
	/* 2 rules (masquerade mark + SVC jump) per port */
	assert_int_equal(walk6(&p6.nat_services, zero, 0, 0, &depth, &names), 2 * (n + 1));
	assert_true(p6.nat_services.n_rules <= 17);
	assert_true(depth <= 8);
	print_message("IPv6 tree: %u ports, depth %u, %u tree chains\n", n + 1, depth, p6.n_tree);
	hmap_clear(&names);
	ipt_plan_fini(&p6);
	fixture_end(&cfg, &ds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_probability),
		cmocka_unit_test(test_remote_endpoints),
		cmocka_unit_test(test_local_and_affinity),
		cmocka_unit_test(test_no_endpoints),
		cmocka_unit_test(test_etp_local),
		cmocka_unit_test(test_tree_and_cache),
		cmocka_unit_test(test_localhost_nodeports),
		cmocka_unit_test(test_nodeport_tree),
		cmocka_unit_test(test_ipv6),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
