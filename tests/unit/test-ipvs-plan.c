// SPDX-License-Identifier: Apache-2.0
/*
 * The IPVS mode's pure planner (modes/ipvs_plan.c): what a desired port
 * asks for (virtual servers, real servers, kube-ipvs0 addresses, ipset
 * entries), reference counts across ports, touched keys, and the
 * graceful-termination decisions for real servers; the same for IPv6
 * (one plan per family: bracketed keys, IPv6 set entries, addresses and
 * endpoints of the other family skipped).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <linux/ip_vs.h>
#include "helpers.h"
#include "switchyard/desired.h"
#include "switchyard/util.h"
#include "../../modes/ipvs_plan.h"

static struct in_addr ip(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a;
}

static bool has_set(const struct ipvs_plan *m, enum ipvs_set_id id, const char *entry,
		    unsigned refs)
{
	char key[300];
	const struct cnt_item *c;

	snprintf(key, sizeof(key), "%d|%s", (int)id, entry);
	c = hmap_get(&m->want_set, key);
	return refs ? c && c->refs == refs : !c;
}

static unsigned addr_refs(const struct ipvs_plan *m, const char *a)
{
	const struct cnt_item *c = hmap_get(&m->want_addr, a);

	return c ? c->refs : 0;
}

static struct ds_ep eps[3];
static struct sy_addr node_addrs[2];

/* ns/web:http TCP 10.96.0.10:80 → 10.244.1.2:8080 (local), 10.244.2.2:8080 */
static void mk_port(struct ds_port *p, struct desired_state *ds)
{
	memset(p, 0, sizeof(*p));
	memset(ds, 0, sizeof(*ds));
	eps[0] = (struct ds_ep){ sy_addr_from_in4(ip("10.244.1.2")), 8080, 1, true };
	eps[1] = (struct ds_ep){ sy_addr_from_in4(ip("10.244.2.2")), 8080, 1, false };
	p->name = "ns/web:http";
	p->svc_key = "ns/web";
	p->proto = IPPROTO_TCP;
	p->family = AF_INET;
	p->cluster_ip = sy_addr_from_in4(ip("10.96.0.10"));
	p->port = 80;
	p->cluster_eps = eps;
	p->n_cluster_eps = 2;
	p->local_eps = eps;
	p->n_local_eps = 1;
	node_addrs[0] = sy_addr_from_in4(ip("192.168.1.10"));
	node_addrs[1] = sy_addr_from_in4(ip("192.168.2.10"));
	ds->node.nodeport_addrs = node_addrs;
	ds->node.n_nodeport_addrs = 2;
}

static void test_cluster_ip(void **state)
{
	struct ipvs_plan m;
	struct desired_state ds;
	struct ds_port p;
	const struct vs_item *v;

	ipvs_plan_init(&m, AF_INET);
	snprintf(m.sched, sizeof(m.sched), "rr");
	mk_port(&p, &ds);
	ipvs_plan_port(&m, &ds, &p, +1);

	assert_int_equal(hmap_count(&m.want_vs), 1);
	v = hmap_get(&m.want_vs, "TCP/10.96.0.10:80");
	assert_non_null(v);
	assert_string_equal(v->svc.sched, "rr");
	assert_int_equal(v->svc.flags, 0);
	assert_int_equal(v->n_dests, 2);
	assert_string_equal(sy_addr_str(&v->dests[0].addr), "10.244.1.2");
	assert_int_equal(v->dests[0].port, 8080);
	assert_int_equal(v->dests[0].fwd, IP_VS_CONN_F_MASQ);
	assert_int_equal(v->dests[0].weight, 1);
	assert_int_equal(addr_refs(&m, "10.96.0.10"), 1);
	assert_true(has_set(&m, IPVS_SET_CLUSTER_IP, "10.96.0.10,tcp:80", 1));
	/* hairpin entries for the local endpoint only */
	assert_true(has_set(&m, IPVS_SET_LOOP_BACK, "10.244.1.2,tcp:8080,10.244.1.2", 1));
	assert_true(has_set(&m, IPVS_SET_LOOP_BACK, "10.244.2.2,tcp:8080,10.244.2.2", 0));
	assert_int_equal(hmap_count(&m.want_set), 2);
	/* touched: what a partial sync compares with the kernel */
	assert_non_null(hmap_get(&m.t_vs, "TCP/10.96.0.10:80"));
	assert_non_null(hmap_get(&m.t_addr, "10.96.0.10"));
	assert_int_equal(hmap_count(&m.t_set), 2);

	/* the old version out, the new one in: nothing wanted, keys still touched */
	ipvs_plan_untouch(&m);
	ipvs_plan_port(&m, &ds, &p, -1);
	assert_int_equal(hmap_count(&m.want_vs), 0);
	assert_int_equal(hmap_count(&m.want_addr), 0);
	assert_int_equal(hmap_count(&m.want_set), 0);
	assert_non_null(hmap_get(&m.t_vs, "TCP/10.96.0.10:80"));
	assert_int_equal(hmap_count(&m.t_set), 2);
	ipvs_plan_free(&m);
}

/* Two ports sharing an address: it stays while one of them wants it. */
static void test_refcounts(void **state)
{
	struct ipvs_plan m;
	struct desired_state ds;
	struct ds_port p, q;

	ipvs_plan_init(&m, AF_INET);
	mk_port(&p, &ds);
	q = p;
	q.name = "ns/web:dns";
	q.proto = IPPROTO_UDP;
	q.port = 53;
	ipvs_plan_port(&m, &ds, &p, +1);
	ipvs_plan_port(&m, &ds, &q, +1);
	assert_int_equal(hmap_count(&m.want_vs), 2);
	assert_int_equal(addr_refs(&m, "10.96.0.10"), 2);
	ipvs_plan_port(&m, &ds, &p, -1);
	assert_int_equal(addr_refs(&m, "10.96.0.10"), 1);
	assert_non_null(hmap_get(&m.want_vs, "UDP/10.96.0.10:53"));
	assert_null(hmap_get(&m.want_vs, "TCP/10.96.0.10:80"));
	assert_true(has_set(&m, IPVS_SET_CLUSTER_IP, "10.96.0.10,tcp:80", 0));
	assert_true(has_set(&m, IPVS_SET_CLUSTER_IP, "10.96.0.10,udp:53", 1));
	{	/* removing a port nobody added changes nothing */
		struct ds_port x = p;

		x.cluster_ip = sy_addr_from_in4(ip("10.96.0.99"));
		x.n_cluster_eps = x.n_local_eps = 0;
		ipvs_plan_port(&m, &ds, &x, -1);
		assert_int_equal(addr_refs(&m, "10.96.0.10"), 1);
		assert_int_equal(hmap_count(&m.want_vs), 1);
		assert_int_equal(hmap_count(&m.want_set), 2);	/* q: ClusterIP, hairpin */
	}
	ipvs_plan_port(&m, &ds, &q, -1);
	assert_int_equal(hmap_count(&m.want_addr), 0);
	assert_int_equal(hmap_count(&m.want_vs), 0);
	/* a full rebuild forgets everything at once */
	ipvs_plan_port(&m, &ds, &p, +1);
	ipvs_plan_clear(&m);
	assert_int_equal(hmap_count(&m.want_vs) + hmap_count(&m.want_addr) +
			 hmap_count(&m.want_set), 0);
	ipvs_plan_free(&m);
}

/* NodePort on every NodePort address, externalTrafficPolicy: Local, affinity. */
static void test_node_port_local(void **state)
{
	struct ipvs_plan m;
	struct desired_state ds;
	struct ds_port p;
	const struct vs_item *v;

	ipvs_plan_init(&m, AF_INET);
	mk_port(&p, &ds);
	p.node_port = 30080;
	p.hc_node_port = 32000;
	p.etp_local = true;
	p.affinity_timeout = 10800;
	ipvs_plan_port(&m, &ds, &p, +1);
	assert_int_equal(hmap_count(&m.want_vs), 3);
	v = hmap_get(&m.want_vs, "TCP/192.168.2.10:30080");
	assert_non_null(v);
	assert_int_equal(v->n_dests, 1);	/* Local: the local endpoint only */
	assert_string_equal(sy_addr_str(&v->dests[0].addr), "10.244.1.2");
	assert_int_equal(v->svc.flags, IP_VS_SVC_F_PERSISTENT);
	assert_int_equal(v->svc.timeout, 10800);
	/* NodePort addresses are the node's: not bound on kube-ipvs0 */
	assert_int_equal(addr_refs(&m, "192.168.2.10"), 0);
	assert_true(has_set(&m, IPVS_SET_NODE_PORT_TCP, "30080", 1));
	assert_true(has_set(&m, IPVS_SET_NODE_PORT_LOCAL_TCP, "30080", 1));
	assert_true(has_set(&m, IPVS_SET_HEALTH_CHECK_NODE_PORT, "32000", 1));
	ipvs_plan_free(&m);
}

/* A Service without endpoints: REJECTed through SY-NO-ENDPOINTS-like sets. */
static void test_no_endpoints(void **state)
{
	struct ipvs_plan m;
	struct desired_state ds;
	struct ds_port p;
	const struct vs_item *v;

	ipvs_plan_init(&m, AF_INET);
	mk_port(&p, &ds);
	p.n_cluster_eps = 0;
	p.n_local_eps = 0;
	ipvs_plan_port(&m, &ds, &p, +1);
	v = hmap_get(&m.want_vs, "TCP/10.96.0.10:80");
	assert_non_null(v);
	assert_int_equal(v->n_dests, 0);
	assert_true(has_set(&m, IPVS_SET_NO_ENDPOINTS, "10.96.0.10,tcp:80", 1));
	ipvs_plan_free(&m);
}

/* LoadBalancer IPs with source ranges: bound, listed, firewalled per range. */
static void test_load_balancer(void **state)
{
	struct ipvs_plan m;
	struct desired_state ds;
	struct ds_port p;
	struct sy_addr lb = sy_addr_from_in4(ip("192.0.2.60"));
	struct sy_cidr ranges[2] = {
		{ .addr = sy_addr_from_in4(ip("10.0.1.0")), .plen = 24 },
		{ .addr = sy_addr_from_in4(ip("203.0.113.7")), .plen = 32 },
	};

	ipvs_plan_init(&m, AF_INET);
	mk_port(&p, &ds);
	p.lb_ips = &lb;
	p.n_lb_ips = 1;
	p.lb_source_ranges = ranges;
	p.n_lb_source_ranges = 2;
	ipvs_plan_port(&m, &ds, &p, +1);
	assert_non_null(hmap_get(&m.want_vs, "TCP/192.0.2.60:80"));
	assert_int_equal(addr_refs(&m, "192.0.2.60"), 1);
	assert_true(has_set(&m, IPVS_SET_LB, "192.0.2.60,tcp:80", 1));
	assert_true(has_set(&m, IPVS_SET_LB_FW, "192.0.2.60,tcp:80", 1));
	assert_true(has_set(&m, IPVS_SET_LB_SOURCE_CIDR, "192.0.2.60,tcp:80,10.0.1.0/24", 1));
	assert_true(has_set(&m, IPVS_SET_LB_SOURCE_CIDR, "192.0.2.60,tcp:80,203.0.113.7", 1));
	ipvs_plan_free(&m);
}

/* eTP=Local without a local endpoint: pods reach the cluster endpoints, outsiders are refused. */
static void test_local_fallback(void **state)
{
	struct ipvs_plan m;
	struct desired_state ds;
	struct ds_port p;
	const struct vs_item *v;

	ipvs_plan_init(&m, AF_INET);
	mk_port(&p, &ds);
	p.node_port = 30080;
	p.etp_local = true;
	p.n_local_eps = 0;
	ipvs_plan_port(&m, &ds, &p, +1);
	v = hmap_get(&m.want_vs, "TCP/192.168.1.10:30080");
	assert_non_null(v);
	assert_int_equal(v->n_dests, 2);
	assert_true(has_set(&m, IPVS_SET_NO_LOCAL_ENDPOINTS, "192.168.1.10,tcp:30080", 1));
	assert_true(has_set(&m, IPVS_SET_NO_ENDPOINTS, "192.168.1.10,tcp:30080", 0));
	/* the ClusterIP is not affected */
	assert_true(has_set(&m, IPVS_SET_NO_LOCAL_ENDPOINTS, "10.96.0.10,tcp:80", 0));
	ipvs_plan_free(&m);
}

/* Graceful termination of real servers. */
static void test_dest_decisions(void **state)
{
	struct ipvs_dest want = { sy_addr_from_in4(ip("10.244.1.2")), 8080, IP_VS_CONN_F_MASQ, 1, 0, 0 };
	struct ipvs_dest have = want;

	assert_int_equal(ipvs_plan_dest_wanted(&want, NULL), IPVS_DEST_ADD);
	assert_int_equal(ipvs_plan_dest_wanted(&want, &have), IPVS_DEST_KEEP);
	have.weight = 0;	/* drained, wanted again */
	assert_int_equal(ipvs_plan_dest_wanted(&want, &have), IPVS_DEST_EDIT);
	have = want;
	have.fwd = IP_VS_CONN_F_DROUTE;
	assert_int_equal(ipvs_plan_dest_wanted(&want, &have), IPVS_DEST_EDIT);

	/* unwanted: idle or not TCP → delete now; TCP with connections → drain, then wait */
	have = want;
	assert_int_equal(ipvs_plan_dest_unwanted(IPPROTO_TCP, &have), IPVS_DEST_DEL);
	have.active = 3;
	assert_int_equal(ipvs_plan_dest_unwanted(IPPROTO_TCP, &have), IPVS_DEST_DRAIN);
	assert_int_equal(ipvs_plan_dest_unwanted(IPPROTO_UDP, &have), IPVS_DEST_DEL);
	assert_int_equal(ipvs_plan_dest_unwanted(IPPROTO_SCTP, &have), IPVS_DEST_DEL);
	have.weight = 0;
	assert_int_equal(ipvs_plan_dest_unwanted(IPPROTO_TCP, &have), IPVS_DEST_WAIT);

	/* a drained one goes once idle, or after IPVS_GRACE_MAX */
	assert_false(ipvs_plan_drain_done(&have, 1));
	assert_true(ipvs_plan_drain_done(&have, IPVS_GRACE_MAX + 1));
	have.active = 0;
	have.inactive = 1;
	assert_false(ipvs_plan_drain_done(&have, 1));
	have.inactive = 0;
	assert_true(ipvs_plan_drain_done(&have, 0));
	have.weight = 1;	/* restored meanwhile: not ours to delete */
	assert_false(ipvs_plan_drain_done(&have, IPVS_GRACE_MAX + 1));
	assert_true(ipvs_dest_same(&want, &have));
	have.port = 8081;
	assert_false(ipvs_dest_same(&want, &have));
}

static struct sy_addr a6(const char *s)
{
	struct sy_addr a;

	assert_int_equal(sy_addr_parse_family(s, AF_INET6, &a), 0);
	return a;
}

static struct ds_ep eps6[3];
static struct sy_addr node_addrs6[3], ext6[2], lb6[1];
static struct sy_cidr src6[2];

/* ns/web:http IPv6: TCP [fd00:96::10]:80 → [fd00:244:1::2]:8080 (local), [fd00:244:2::2]:8080,
 * NodePort 30080, externalIPs 2001:db8::e1 (and a stray IPv4 one), LB 2001:db8::60 */
static void mk_port6(struct ds_port *p, struct desired_state *ds)
{
	memset(p, 0, sizeof(*p));
	memset(ds, 0, sizeof(*ds));
	eps6[0] = (struct ds_ep){ a6("fd00:244:1::2"), 8080, 1, true };
	eps6[1] = (struct ds_ep){ a6("fd00:244:2::2"), 8080, 1, false };
	p->name = "ns/web:http";
	p->svc_key = "ns/web";
	p->proto = IPPROTO_TCP;
	p->family = AF_INET6;
	p->cluster_ip = a6("fd00:96::10");
	p->port = 80;
	p->node_port = 30080;
	p->cluster_eps = eps6;
	p->n_cluster_eps = 2;
	p->local_eps = eps6;
	p->n_local_eps = 1;
	ext6[0] = a6("2001:db8::e1");
	ext6[1] = sy_addr_from_in4(ip("192.0.2.1"));	/* #73157: must not break anything */
	p->external_ips = ext6;
	p->n_external_ips = 2;
	lb6[0] = a6("2001:db8::60");
	p->lb_ips = lb6;
	p->n_lb_ips = 1;
	assert_int_equal(sy_cidr_parse("2001:db8:1::/64", &src6[0]), 0);
	assert_int_equal(sy_cidr_parse("2001:db8:2::7/128", &src6[1]), 0);
	p->lb_source_ranges = src6;
	p->n_lb_source_ranges = 2;
	p->affinity_timeout = 10800;
	/* the node's NodePort addresses of both families: each plan takes its own */
	node_addrs6[0] = sy_addr_from_in4(ip("192.168.1.10"));
	node_addrs6[1] = a6("2001:db8:1::10");
	node_addrs6[2] = a6("fd00:1::10");
	ds->node.nodeport_addrs = node_addrs6;
	ds->node.n_nodeport_addrs = 3;
}

static void test_ipv6(void **state)
{
	struct ipvs_plan m, m4;
	struct desired_state ds;
	struct ds_port p;
	const struct vs_item *v;

	ipvs_plan_init(&m, AF_INET6);
	snprintf(m.sched, sizeof(m.sched), "rr");
	mk_port6(&p, &ds);
	ipvs_plan_port(&m, &ds, &p, +1);

	/* ClusterIP, 1 externalIP (the IPv4 one skipped), LB, 2 NodePort addresses */
	assert_int_equal(hmap_count(&m.want_vs), 5);
	v = hmap_get(&m.want_vs, "TCP/[fd00:96::10]:80");
	assert_non_null(v);
	assert_int_equal(v->svc.addr.family, AF_INET6);
	assert_int_equal(v->svc.flags, IP_VS_SVC_F_PERSISTENT);
	assert_int_equal(v->svc.timeout, 10800);
	assert_int_equal(v->n_dests, 2);
	assert_string_equal(sy_addr_str(&v->dests[0].addr), "fd00:244:1::2");
	assert_string_equal(sy_addr_str(&v->dests[1].addr), "fd00:244:2::2");
	assert_non_null(hmap_get(&m.want_vs, "TCP/[2001:db8::e1]:80"));
	assert_non_null(hmap_get(&m.want_vs, "TCP/[2001:db8::60]:80"));
	assert_non_null(hmap_get(&m.want_vs, "TCP/[2001:db8:1::10]:30080"));
	assert_non_null(hmap_get(&m.want_vs, "TCP/[fd00:1::10]:30080"));
	assert_null(hmap_get(&m.want_vs, "TCP/192.0.2.1:80"));
	assert_null(hmap_get(&m.want_vs, "TCP/192.168.1.10:30080"));
	/* kube-ipvs0: the three Service addresses, nothing of IPv4 */
	assert_int_equal(hmap_count(&m.want_addr), 3);
	assert_int_equal(addr_refs(&m, "fd00:96::10"), 1);
	assert_int_equal(addr_refs(&m, "2001:db8::e1"), 1);
	assert_int_equal(addr_refs(&m, "2001:db8::60"), 1);
	/* set entries as "ipset save" prints them for family inet6 */
	assert_true(has_set(&m, IPVS_SET_CLUSTER_IP, "fd00:96::10,tcp:80", 1));
	assert_true(has_set(&m, IPVS_SET_EXTERNAL_IP, "2001:db8::e1,tcp:80", 1));
	assert_true(has_set(&m, IPVS_SET_EXTERNAL_IP, "192.0.2.1,tcp:80", 0));
	assert_true(has_set(&m, IPVS_SET_LB, "2001:db8::60,tcp:80", 1));
	assert_true(has_set(&m, IPVS_SET_LB_FW, "2001:db8::60,tcp:80", 1));
	assert_true(has_set(&m, IPVS_SET_LB_SOURCE_CIDR, "2001:db8::60,tcp:80,2001:db8:1::/64", 1));
	assert_true(has_set(&m, IPVS_SET_LB_SOURCE_CIDR, "2001:db8::60,tcp:80,2001:db8:2::7", 1));
	/* hairpin: the local endpoint only, once per virtual server it serves */
	assert_true(has_set(&m, IPVS_SET_LOOP_BACK, "fd00:244:1::2,tcp:8080,fd00:244:1::2", 5));
	assert_true(has_set(&m, IPVS_SET_LOOP_BACK, "fd00:244:2::2,tcp:8080,fd00:244:2::2", 0));
	assert_true(has_set(&m, IPVS_SET_NODE_PORT_TCP, "30080", 1));

	/* the IPv4 plan of the same desired state takes nothing of this port */
	ipvs_plan_init(&m4, AF_INET);
	snprintf(m4.sched, sizeof(m4.sched), "rr");
	ipvs_plan_port(&m4, &ds, &p, +1);
	assert_int_equal(hmap_count(&m4.want_vs), 0);
	assert_int_equal(hmap_count(&m4.want_addr), 0);
	assert_int_equal(hmap_count(&m4.want_set), 0);
	ipvs_plan_free(&m4);

	/* an IPv4 endpoint in an IPv6 port's list is never a real server */
	eps6[2] = (struct ds_ep){ sy_addr_from_in4(ip("10.244.9.9")), 8080, 1, true };
	ipvs_plan_untouch(&m);
	ipvs_plan_port(&m, &ds, &p, -1);
	p.n_cluster_eps = 3;
	ipvs_plan_port(&m, &ds, &p, +1);
	v = hmap_get(&m.want_vs, "TCP/[fd00:96::10]:80");
	assert_int_equal(v->n_dests, 2);
	assert_true(has_set(&m, IPVS_SET_LOOP_BACK, "10.244.9.9,tcp:8080,10.244.9.9", 0));

	/* removed: nothing left, every key touched for the partial sync */
	ipvs_plan_port(&m, &ds, &p, -1);
	assert_int_equal(hmap_count(&m.want_vs), 0);
	assert_int_equal(hmap_count(&m.want_addr), 0);
	assert_int_equal(hmap_count(&m.want_set), 0);
	assert_non_null(hmap_get(&m.t_vs, "TCP/[fd00:1::10]:30080"));
	assert_non_null(hmap_get(&m.t_addr, "2001:db8::60"));
	ipvs_plan_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cluster_ip),
		cmocka_unit_test(test_refcounts),
		cmocka_unit_test(test_node_port_local),
		cmocka_unit_test(test_no_endpoints),
		cmocka_unit_test(test_local_fallback),
		cmocka_unit_test(test_load_balancer),
		cmocka_unit_test(test_dest_decisions),
		cmocka_unit_test(test_ipv6),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
