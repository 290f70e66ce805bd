// SPDX-License-Identifier: Apache-2.0
/* Desired state: endpoint selection, policies, topology, incremental changes. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "helpers.h"
#include "switchyard/config.h"
#include "switchyard/desired.h"
#include "switchyard/model.h"

static struct cache *c;
static struct desired_state ds;
static struct sy_config cfg;

static int setup(void **state)
{
	config_init(&cfg);
	c = cache_new(NULL, NULL);
	desired_init(&ds, &cfg);
	desired_set_node(&ds, "n1", "zone-a", NULL, 0, true);
	return 0;
}

static int teardown(void **state)
{
	desired_fini(&ds);
	cache_free(c);
	config_free(&cfg);
	return 0;
}

/* The change list of a family, and its length. */
static const struct ds_change *chg(int family)
{
	unsigned n;

	return ds_changes(&ds, family, &n);
}

static unsigned nch(int family)
{
	unsigned n;

	ds_changes(&ds, family, &n);
	return n;
}

static void apply(enum sy_kind k, const char *json)
{
	struct json_object *o = J(json);

	assert_int_equal(cache_apply(c, k, CACHE_UPSERT, o), 0);
	json_object_put(o);
}

static void svc(const char *name, const char *extra)
{
	char buf[2048];

	snprintf(buf, sizeof(buf),
		 "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"ns\"},\"spec\":{\"clusterIP\":\"10.96.0.1\","
		 "\"ports\":[{\"name\":\"p\",\"port\":80,\"protocol\":\"UDP\"}]%s}}", name, extra);
	apply(SY_KIND_SERVICE, buf);
}

/* eps: a JSON array body of endpoints */
static void slice(const char *name, const char *svcname, const char *eps)
{
	char buf[4096];

	snprintf(buf, sizeof(buf),
		 "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"ns\",\"labels\":{\"kubernetes.io/service-name\":\"%s\"}},"
		 "\"addressType\":\"IPv4\",\"ports\":[{\"name\":\"p\",\"port\":5353,\"protocol\":\"UDP\"}],"
		 "\"endpoints\":[%s]}", name, svcname, eps);
	apply(SY_KIND_ENDPOINTSLICE, buf);
}

static const char *ips(const struct ds_ep *e, unsigned n)
{
	static char buf[512];

	buf[0] = '\0';
	for (unsigned i = 0; i < n; i++) {
		char a[32];

		sy_addr_format(&e[i].addr, a, sizeof(a));
		strcat(buf, i ? "," : "");
		strcat(buf, a);
	}
	return buf;
}

#define EP(ip, node, cond) "{\"addresses\":[\"" ip "\"],\"nodeName\":\"" node "\"" cond "}"
#define TERM ",\"conditions\":{\"ready\":false,\"serving\":true,\"terminating\":true}"
#define NOTSERVING ",\"conditions\":{\"ready\":false,\"serving\":false,\"terminating\":true}"

static void test_basic_and_dedup(void **state)
{
	const struct ds_port *p;

	svc("a", "");
	slice("a-1", "a", EP("10.0.0.2", "n2", "") "," EP("10.0.0.1", "n1", ""));
	slice("a-2", "a", EP("10.0.0.1", "n1", "") "," EP("10.0.0.3", "n3", TERM));
	assert_int_equal(desired_update(&ds, c, false), 1);
	p = desired_port(&ds, "ns/a:p");
	assert_non_null(p);
	assert_int_equal(p->port, 80);
	assert_string_equal(p->svc_name, "a");
	assert_string_equal(p->svc_ns, "ns");
	assert_string_equal(p->port_name, "p");
	assert_string_equal(ips(p->cluster_eps, p->n_cluster_eps), "10.0.0.1,10.0.0.2");
	assert_int_equal(p->cluster_eps[0].port, 5353);
	assert_string_equal(ips(p->local_eps, p->n_local_eps), "10.0.0.1");
	assert_true(p->local_eps[0].local);
	assert_string_equal(ips(p->all_eps, p->n_all_eps), "10.0.0.1,10.0.0.2,10.0.0.3");
	assert_int_equal(nch(AF_INET), 1);
	assert_null(chg(AF_INET)[0].old);
	desired_commit(&ds);
	/* nothing changed: no change recorded, same object */
	slice("a-2", "a", EP("10.0.0.3", "n3", TERM) "," EP("10.0.0.1", "n1", ""));
	assert_int_equal(desired_update(&ds, c, false), 0);
	assert_ptr_equal(desired_port(&ds, "ns/a:p"), p);
	assert_int_equal(nch(AF_INET), 0);
}

static void test_terminating_fallback(void **state)
{
	const struct ds_port *p;

	svc("t", "");
	slice("t-1", "t", EP("10.0.1.1", "n2", TERM) "," EP("10.0.1.2", "n1", NOTSERVING));
	desired_update(&ds, c, false);
	p = desired_port(&ds, "ns/t:p");
	/* no ready endpoint: serving+terminating ones are used */
	assert_string_equal(ips(p->cluster_eps, p->n_cluster_eps), "10.0.1.1");
	assert_int_equal(p->n_local_eps, 0);
	desired_commit(&ds);
	/* one ready endpoint appears: the terminating one is dropped */
	slice("t-2", "t", EP("10.0.1.9", "n1", ""));
	desired_update(&ds, c, false);
	p = desired_port(&ds, "ns/t:p");
	assert_string_equal(ips(p->cluster_eps, p->n_cluster_eps), "10.0.1.9");
	assert_string_equal(ips(p->local_eps, p->n_local_eps), "10.0.1.9");
	assert_int_equal(nch(AF_INET), 1);
	assert_non_null(chg(AF_INET)[0].old);
	assert_string_equal(ips(chg(AF_INET)[0].old->cluster_eps, chg(AF_INET)[0].old->n_cluster_eps),
			    "10.0.1.1");
	desired_commit(&ds);
}

static void test_policies(void **state)
{
	const struct ds_port *p;
	const struct ds_ep *e;
	unsigned n;

	apply(SY_KIND_SERVICE,
	      "{\"metadata\":{\"name\":\"l\",\"namespace\":\"ns\"},\"spec\":{\"type\":\"LoadBalancer\","
	      "\"clusterIP\":\"10.96.0.2\",\"externalTrafficPolicy\":\"Local\",\"healthCheckNodePort\":31000,"
	      "\"ports\":[{\"name\":\"p\",\"port\":80,\"nodePort\":30001,\"protocol\":\"UDP\"}]},"
	      "\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"192.0.2.1\"}]}}}");
	slice("l-1", "l", EP("10.0.2.1", "n1", "") "," EP("10.0.2.2", "n2", ""));
	desired_update(&ds, c, false);
	p = desired_port(&ds, "ns/l:p");
	assert_true(p->etp_local);
	assert_false(p->itp_local);
	assert_int_equal(p->hc_node_port, 31000);
	assert_int_equal(p->node_port, 30001);
	assert_int_equal(p->n_lb_ips, 1);
	e = ds_port_external_eps(p, &n);
	assert_string_equal(ips(e, n), "10.0.2.1");
	e = ds_port_internal_eps(p, &n);
	assert_string_equal(ips(e, n), "10.0.2.1,10.0.2.2");
	desired_commit(&ds);
	/* ClusterIP type: nodePort and etp ignored */
	apply(SY_KIND_SERVICE,
	      "{\"metadata\":{\"name\":\"c\",\"namespace\":\"ns\"},\"spec\":{\"clusterIP\":\"10.96.0.3\","
	      "\"externalTrafficPolicy\":\"Local\",\"internalTrafficPolicy\":\"Local\","
	      "\"ports\":[{\"name\":\"p\",\"port\":80,\"nodePort\":30002,\"protocol\":\"UDP\"}]}}");
	slice("c-1", "c", EP("10.0.3.1", "n2", ""));
	desired_update(&ds, c, false);
	p = desired_port(&ds, "ns/c:p");
	assert_int_equal(p->node_port, 0);
	assert_false(p->etp_local);
	e = ds_port_internal_eps(p, &n);
	assert_int_equal(n, 0);	/* iTP Local, no local endpoint */
	desired_commit(&ds);
}

static void test_topology(void **state)
{
	const struct ds_port *p;

	svc("z", "");
	slice("z-1", "z",
	      "{\"addresses\":[\"10.0.4.1\"],\"zone\":\"zone-a\",\"hints\":{\"forZones\":[{\"name\":\"zone-a\"}]}},"
	      "{\"addresses\":[\"10.0.4.2\"],\"zone\":\"zone-b\",\"hints\":{\"forZones\":[{\"name\":\"zone-b\"}]}}");
	desired_update(&ds, c, false);
	p = desired_port(&ds, "ns/z:p");
	assert_string_equal(ips(p->cluster_eps, p->n_cluster_eps), "10.0.4.1");
	assert_int_equal(p->n_all_eps, 2);
	desired_commit(&ds);
	/* one endpoint without hints: hints are ignored */
	slice("z-2", "z", "{\"addresses\":[\"10.0.4.3\"]}");
	desired_update(&ds, c, false);
	p = desired_port(&ds, "ns/z:p");
	assert_string_equal(ips(p->cluster_eps, p->n_cluster_eps), "10.0.4.1,10.0.4.2,10.0.4.3");
	desired_commit(&ds);
}

/*
 * hints.forNodes (PreferSameNode): used with PreferSameTrafficDistribution
 * on (switchyard's default, kube-proxy 1.34+); with it false, as kube-proxy
 * with the gate off, only the zone hints count.
 */
static void test_topology_node_hints(void **state)
{
	const struct ds_port *p;
	const char *args[] = { "switchyard", "--feature-gates=PreferSameTrafficDistribution=false",
			       NULL };

	svc("nh", "");
	slice("nh-1", "nh",
	      "{\"addresses\":[\"10.0.5.1\"],\"zone\":\"zone-a\",\"hints\":{\"forZones\":[{\"name\":\"zone-a\"}],"
	      "\"forNodes\":[{\"name\":\"n1\"}]}},"
	      "{\"addresses\":[\"10.0.5.2\"],\"zone\":\"zone-a\",\"hints\":{\"forZones\":[{\"name\":\"zone-a\"}],"
	      "\"forNodes\":[{\"name\":\"n2\"}]}},"
	      "{\"addresses\":[\"10.0.5.3\"],\"zone\":\"zone-b\",\"hints\":{\"forZones\":[{\"name\":\"zone-b\"}],"
	      "\"forNodes\":[{\"name\":\"n3\"}]}}");
	desired_update(&ds, c, false);
	p = desired_port(&ds, "ns/nh:p");
	assert_string_equal(ips(p->cluster_eps, p->n_cluster_eps), "10.0.5.1");	/* this node's */
	desired_commit(&ds);

	config_free(&cfg);
	config_init(&cfg);
	assert_int_equal(config_parse_args(&cfg, 2, (char **)args), 0);
	assert_true(cfg.node_hints_off);
	desired_update(&ds, c, true);
	p = desired_port(&ds, "ns/nh:p");
	assert_string_equal(ips(p->cluster_eps, p->n_cluster_eps), "10.0.5.1,10.0.5.2");	/* zone-a's */
	desired_commit(&ds);
}

/* An endpoint in ZONE hinted for its zone, with NODES (ONE_NODE, ...) as forNodes hints. */
#define HINTED_EP(ip, zone, nodes) \
	"{\"addresses\":[\"" ip "\"],\"zone\":\"" zone "\",\"hints\":{\"forZones\":[{\"name\":\"" zone "\"}]" nodes "}}"
#define FOR_NODES(...) ",\"forNodes\":[" __VA_ARGS__ "]"
#define ONE_NODE(n) "{\"name\":\"" n "\"}"

/* forNodes hints first (PreferSameNode), then forZones; each needs every endpoint hinted. */
static void test_topology_nodes(void **state)
{
	/* one slice after the other, this node n1 in zone-a: the cluster endpoints */
	static const struct {
		const char *eps, *want;
	} cases[] = {
		{ HINTED_EP("10.0.5.1", "zone-a", FOR_NODES(ONE_NODE("n2"))) ","
		  HINTED_EP("10.0.5.2", "zone-a", FOR_NODES(ONE_NODE("n1") "," ONE_NODE("n3"))) ","
		  HINTED_EP("10.0.5.3", "zone-b", FOR_NODES(ONE_NODE("n4"))),
		  "10.0.5.2" },
		/* no endpoint for this node: the zone hints */
		{ HINTED_EP("10.0.5.1", "zone-a", FOR_NODES(ONE_NODE("n2"))) ","
		  HINTED_EP("10.0.5.3", "zone-b", FOR_NODES(ONE_NODE("n4"))),
		  "10.0.5.1" },
		/* one endpoint without node hints: the zone hints still apply */
		{ HINTED_EP("10.0.5.1", "zone-a", "") ","
		  HINTED_EP("10.0.5.2", "zone-a", FOR_NODES(ONE_NODE("n1"))) ","
		  HINTED_EP("10.0.5.3", "zone-b", ""),
		  "10.0.5.1,10.0.5.2" },
	};

	svc("y", "");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct ds_port *p;

		slice("y-1", "y", cases[i].eps);
		desired_update(&ds, c, false);
		p = desired_port(&ds, "ns/y:p");
		assert_string_equal(ips(p->cluster_eps, p->n_cluster_eps), cases[i].want);
		desired_commit(&ds);
	}
}

static void test_not_proxied_and_removal(void **state)
{
	apply(SY_KIND_SERVICE, "{\"metadata\":{\"name\":\"h\",\"namespace\":\"ns\"},\"spec\":{\"clusterIP\":\"None\",\"ports\":[{\"port\":80}]}}");
	apply(SY_KIND_SERVICE, "{\"metadata\":{\"name\":\"e\",\"namespace\":\"ns\"},\"spec\":{\"type\":\"ExternalName\",\"externalName\":\"x.example\"}}");
	apply(SY_KIND_SERVICE, "{\"metadata\":{\"name\":\"o\",\"namespace\":\"ns\",\"labels\":{\"service.kubernetes.io/service-proxy-name\":\"other\"}},\"spec\":{\"clusterIP\":\"10.96.0.9\",\"ports\":[{\"port\":80}]}}");
	desired_update(&ds, c, false);
	assert_null(desired_port(&ds, "ns/h:"));
	assert_null(desired_port(&ds, "ns/e:"));
	assert_null(desired_port(&ds, "ns/o:"));
	desired_commit(&ds);

	svc("r", "");
	desired_update(&ds, c, false);
	assert_non_null(desired_port(&ds, "ns/r:p"));
	desired_commit(&ds);
	{
		struct json_object *o = J("{\"metadata\":{\"name\":\"r\",\"namespace\":\"ns\"}}");

		cache_apply(c, SY_KIND_SERVICE, CACHE_DELETE, o);
		json_object_put(o);
	}
	assert_int_equal(desired_update(&ds, c, false), 1);
	assert_null(desired_port(&ds, "ns/r:p"));
	assert_int_equal(nch(AF_INET), 1);
	assert_null(chg(AF_INET)[0].new);
	assert_string_equal(chg(AF_INET)[0].old->name, "ns/r:p");
	desired_commit(&ds);
}

/* Two updates before one sync: the change keeps the first old version. */
static void test_change_coalescing(void **state)
{
	const struct ds_port *first;

	svc("k", "");
	slice("k-1", "k", EP("10.0.5.1", "n2", ""));
	desired_update(&ds, c, false);
	first = desired_port(&ds, "ns/k:p");
	desired_commit(&ds);
	slice("k-1", "k", EP("10.0.5.2", "n2", ""));
	desired_update(&ds, c, false);
	slice("k-1", "k", EP("10.0.5.3", "n2", ""));
	desired_update(&ds, c, false);
	assert_int_equal(nch(AF_INET), 1);
	assert_ptr_equal(chg(AF_INET)[0].old, first);
	assert_string_equal(ips(chg(AF_INET)[0].new->cluster_eps, 1), "10.0.5.3");
	desired_commit(&ds);
}

/* Both families: one ds_port per family, each with its own addresses and endpoints. */
static void test_dual_stack(void **state)
{
	const struct ds_port *p4, *p6, *old6;

	apply(SY_KIND_SERVICE,
	      "{\"metadata\":{\"name\":\"d\",\"namespace\":\"ns\"},\"spec\":{\"type\":\"LoadBalancer\","
	      "\"clusterIP\":\"fd00::a\",\"clusterIPs\":[\"fd00::a\",\"10.96.0.10\"],"
	      "\"ipFamilies\":[\"IPv6\",\"IPv4\"],\"externalIPs\":[\"192.0.2.1\",\"fd00:e::1\"],"
	      "\"loadBalancerSourceRanges\":[\"203.0.113.0/24\",\"fd00:1::/64\"],"
	      "\"ports\":[{\"name\":\"p\",\"port\":80,\"protocol\":\"UDP\"}]},"
	      "\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"198.51.100.1\"},{\"ip\":\"fd00:2::1\"}]}}}");
	slice("d-4", "d", EP("10.0.0.1", "n1", ""));
	apply(SY_KIND_ENDPOINTSLICE,
	      "{\"metadata\":{\"name\":\"d-6\",\"namespace\":\"ns\",\"labels\":{\"kubernetes.io/service-name\":\"d\"}},"
	      "\"addressType\":\"IPv6\",\"ports\":[{\"name\":\"p\",\"port\":5353,\"protocol\":\"UDP\"}],"
	      "\"endpoints\":[{\"addresses\":[\"fd00:10::2\"],\"nodeName\":\"n2\"},"
	      "{\"addresses\":[\"fd00:10::1\"],\"nodeName\":\"n1\"}]}");
	/* one change per family, each in its own list under the same name */
	assert_int_equal(desired_update(&ds, c, false), 2);
	assert_int_equal(nch(AF_INET), 1);
	assert_int_equal(nch(AF_INET6), 1);
	assert_int_equal(ds_n_changes(&ds), 2);
	assert_int_equal(hmap_count(&ds.ports), 1);
	assert_int_equal(hmap_count(&ds.ports6), 1);
	p4 = desired_port(&ds, "ns/d:p");
	p6 = hmap_get(ds_ports(&ds, AF_INET6), "ns/d:p");
	assert_non_null(p4);
	assert_non_null(p6);
	assert_ptr_equal(chg(AF_INET)[0].new, p4);
	assert_null(chg(AF_INET)[0].old);
	assert_ptr_equal(chg(AF_INET6)[0].new, p6);
	assert_null(chg(AF_INET6)[0].old);
	assert_string_equal(chg(AF_INET6)[0].name, "ns/d:p");
	assert_int_equal(p4->family, AF_INET);
	assert_string_equal(sy_addr_str(&p4->cluster_ip), "10.96.0.10");
	assert_int_equal(p4->n_external_ips, 1);
	assert_string_equal(sy_addr_str(&p4->external_ips[0]), "192.0.2.1");
	assert_int_equal(p4->n_lb_ips, 1);
	assert_string_equal(sy_addr_str(&p4->lb_ips[0]), "198.51.100.1");
	assert_int_equal(p4->n_lb_source_ranges, 1);
	assert_string_equal(sy_cidr_str(&p4->lb_source_ranges[0]), "203.0.113.0/24");
	assert_string_equal(ips(p4->cluster_eps, p4->n_cluster_eps), "10.0.0.1");
	assert_int_equal(p6->family, AF_INET6);
	assert_string_equal(p6->name, "ns/d:p");
	assert_string_equal(sy_addr_str(&p6->cluster_ip), "fd00::a");
	assert_int_equal(p6->n_external_ips, 1);
	assert_string_equal(sy_addr_str(&p6->external_ips[0]), "fd00:e::1");
	assert_string_equal(sy_addr_str(&p6->lb_ips[0]), "fd00:2::1");
	assert_string_equal(sy_cidr_str(&p6->lb_source_ranges[0]), "fd00:1::/64");
	assert_string_equal(ips(p6->cluster_eps, p6->n_cluster_eps), "fd00:10::1,fd00:10::2");
	assert_string_equal(ips(p6->local_eps, p6->n_local_eps), "fd00:10::1");
	desired_commit(&ds);
	assert_int_equal(ds_n_changes(&ds), 0);
	/* an IPv6-only change: an IPv6 change with its old version, no IPv4 one */
	old6 = p6;
	apply(SY_KIND_ENDPOINTSLICE,
	      "{\"metadata\":{\"name\":\"d-6\",\"namespace\":\"ns\",\"labels\":{\"kubernetes.io/service-name\":\"d\"}},"
	      "\"addressType\":\"IPv6\",\"ports\":[{\"name\":\"p\",\"port\":5353,\"protocol\":\"UDP\"}],"
	      "\"endpoints\":[{\"addresses\":[\"fd00:10::3\"],\"nodeName\":\"n2\"}]}");
	assert_int_equal(desired_update(&ds, c, false), 1);
	assert_int_equal(nch(AF_INET), 0);
	assert_int_equal(nch(AF_INET6), 1);
	assert_ptr_equal(desired_port(&ds, "ns/d:p"), p4);
	p6 = hmap_get(ds_ports(&ds, AF_INET6), "ns/d:p");
	assert_string_equal(ips(p6->cluster_eps, p6->n_cluster_eps), "fd00:10::3");
	assert_ptr_equal(chg(AF_INET6)[0].old, old6);
	assert_ptr_equal(chg(AF_INET6)[0].new, p6);
	/* changed again before the sync: one IPv6 entry, the first old version kept */
	apply(SY_KIND_ENDPOINTSLICE,
	      "{\"metadata\":{\"name\":\"d-6\",\"namespace\":\"ns\",\"labels\":{\"kubernetes.io/service-name\":\"d\"}},"
	      "\"addressType\":\"IPv6\",\"ports\":[{\"name\":\"p\",\"port\":5353,\"protocol\":\"UDP\"}],"
	      "\"endpoints\":[{\"addresses\":[\"fd00:10::4\"],\"nodeName\":\"n2\"}]}");
	assert_int_equal(desired_update(&ds, c, false), 1);
	assert_int_equal(nch(AF_INET), 0);
	assert_int_equal(nch(AF_INET6), 1);
	assert_ptr_equal(chg(AF_INET6)[0].old, old6);
	assert_string_equal(ips(chg(AF_INET6)[0].new->cluster_eps, 1), "fd00:10::4");
	desired_commit(&ds);
	/* an IPv6-only Service: IPv6 ports only */
	apply(SY_KIND_SERVICE,
	      "{\"metadata\":{\"name\":\"six\",\"namespace\":\"ns\"},\"spec\":{\"clusterIP\":\"fd00::b\","
	      "\"ports\":[{\"name\":\"p\",\"port\":80,\"protocol\":\"UDP\"}]}}");
	assert_int_equal(desired_update(&ds, c, false), 1);
	assert_int_equal(nch(AF_INET), 0);
	assert_int_equal(nch(AF_INET6), 1);
	assert_null(desired_port(&ds, "ns/six:p"));
	assert_non_null(hmap_get(ds_ports(&ds, AF_INET6), "ns/six:p"));
	desired_commit(&ds);
	/* the Service goes: both families' ports go, one removal in each list */
	{
		struct json_object *o = J("{\"metadata\":{\"name\":\"d\",\"namespace\":\"ns\"}}");

		assert_int_equal(cache_apply(c, SY_KIND_SERVICE, CACHE_DELETE, o), 0);
		json_object_put(o);
	}
	assert_int_equal(desired_update(&ds, c, false), 2);
	assert_null(desired_port(&ds, "ns/d:p"));
	assert_null(hmap_get(ds_ports(&ds, AF_INET6), "ns/d:p"));
	assert_int_equal(hmap_count(&ds.ports6), 1);
	assert_int_equal(nch(AF_INET), 1);
	assert_int_equal(nch(AF_INET6), 1);
	assert_null(chg(AF_INET)[0].new);
	assert_int_equal(chg(AF_INET)[0].old->family, AF_INET);
	assert_null(chg(AF_INET6)[0].new);
	assert_int_equal(chg(AF_INET6)[0].old->family, AF_INET6);
	desired_commit(&ds);
	assert_int_equal(ds_n_changes(&ds), 0);
}

/* NodePort addresses of both families, grouped per family whatever the order given. */
static void test_nodeport_addrs_per_family(void **state)
{
	struct sy_addr in[4];
	const struct sy_addr *a;
	unsigned n;

	assert_int_equal(sy_addr_parse("fd00::5", &in[0]), 0);
	assert_int_equal(sy_addr_parse("192.168.1.5", &in[1]), 0);
	assert_int_equal(sy_addr_parse("fd00::6", &in[2]), 0);
	assert_int_equal(sy_addr_parse("10.0.0.5", &in[3]), 0);
	desired_set_node(&ds, "n1", "zone-a", in, 4, false);
	assert_int_equal(ds.node.n_nodeport_addrs, 4);
	a = ds_nodeport_addrs(&ds, AF_INET, &n);
	assert_int_equal(n, 2);
	assert_string_equal(sy_addr_str(&a[0]), "192.168.1.5");
	assert_string_equal(sy_addr_str(&a[1]), "10.0.0.5");
	a = ds_nodeport_addrs(&ds, AF_INET6, &n);
	assert_int_equal(n, 2);
	assert_string_equal(sy_addr_str(&a[0]), "fd00::5");
	assert_string_equal(sy_addr_str(&a[1]), "fd00::6");
	desired_set_node(&ds, "n1", "zone-a", in + 2, 1, false);
	assert_null(ds_nodeport_addrs(&ds, AF_INET, &n));
	assert_int_equal(n, 0);
	a = ds_nodeport_addrs(&ds, AF_INET6, &n);
	assert_int_equal(n, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_basic_and_dedup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nodeport_addrs_per_family, setup, teardown),
		cmocka_unit_test_setup_teardown(test_terminating_fallback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_topology_nodes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_topology, setup, teardown),
		cmocka_unit_test_setup_teardown(test_topology_node_hints, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_proxied_and_removal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_change_coalescing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dual_stack, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
