// SPDX-License-Identifier: Apache-2.0
/* Pod, Namespace and NetworkPolicy decoding: defaults, validation, selectors, ipBlock ranges. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "helpers.h"
#include "switchyard/netpol.h"
#include "switchyard/util.h"

static struct pod *pod_ok(const char *text)
{
	struct json_object *o = J(text);
	struct pod *p = NULL;
	char err[256] = "";

	if (pod_decode(o, &p, err, sizeof(err)) < 0)
		fail_msg("pod_decode: %s", err);
	json_object_put(o);
	return p;
}

static struct netpolicy *np_ok(const char *text)
{
	struct json_object *o = J(text);
	struct netpolicy *np = NULL;
	char err[256] = "";

	if (netpolicy_decode(o, &np, err, sizeof(err)) < 0)
		fail_msg("netpolicy_decode: %s", err);
	json_object_put(o);
	return np;
}

/* Decoding fails and the reason contains want. */
static void np_bad(const char *text, const char *want)
{
	struct json_object *o = J(text);
	struct netpolicy *np = NULL;
	char err[256] = "";

	if (netpolicy_decode(o, &np, err, sizeof(err)) != -EINVAL)
		fail_msg("accepted: %s", text);
	if (!strstr(err, want))
		fail_msg("error \"%s\" lacks \"%s\"", err, want);
	assert_null(np);
	json_object_put(o);
}

static void pod_bad(const char *text, const char *want)
{
	struct json_object *o = J(text);
	struct pod *p = NULL;
	char err[256] = "";

	if (pod_decode(o, &p, err, sizeof(err)) != -EINVAL)
		fail_msg("accepted: %s", text);
	if (!strstr(err, want))
		fail_msg("error \"%s\" lacks \"%s\"", err, want);
	json_object_put(o);
}

static void test_pod(void **state)
{
	struct pod *p = pod_ok(
		"{\"metadata\":{\"name\":\"a\",\"namespace\":\"x\",\"resourceVersion\":\"7\","
		"\"labels\":{\"pod\":\"a\",\"app\":\"web\"}},"
		"\"spec\":{\"nodeName\":\"n1\",\"containers\":[{\"name\":\"c\",\"ports\":["
		"{\"name\":\"serve-80-tcp\",\"containerPort\":80},"
		"{\"containerPort\":81,\"protocol\":\"UDP\"},"
		"{\"name\":\"serve-81-sctp\",\"containerPort\":81,\"protocol\":\"SCTP\"}]},"
		"{\"name\":\"d\"}]},"
		"\"status\":{\"phase\":\"Running\",\"podIP\":\"10.244.1.5\","
		"\"podIPs\":[{\"ip\":\"10.244.1.5\"},{\"ip\":\"fd00::5\"}]}}");

	(void)state;
	assert_string_equal(p->meta.key, "x/a");
	assert_string_equal(p->ns, "x");
	assert_ptr_equal(p->ns, np_intern("x"));
	assert_ptr_equal(p->node, np_intern("n1"));
	assert_string_equal(p->meta.resource_version, "7");
	assert_int_equal(p->labels.n, 2);
	assert_string_equal(p->labels.v[0].key, "app");	/* sorted */
	assert_string_equal(np_labels_get(&p->labels, "pod"), "a");
	assert_int_equal(p->n_ips, 2);
	assert_string_equal(sy_addr_str(&p->ips[0]), "10.244.1.5");
	assert_string_equal(sy_addr_str(&p->ips[1]), "fd00::5");
	assert_int_equal(p->n_ports, 2);	/* the unnamed one is not kept */
	assert_string_equal(p->ports[0].name, "serve-80-tcp");
	assert_int_equal(p->ports[0].proto, IPPROTO_TCP);
	assert_int_equal(p->ports[1].proto, IPPROTO_SCTP);
	assert_int_equal(p->ports[1].port, 81);
	assert_int_equal(p->phase, POD_PHASE_RUNNING);
	assert_false(p->host_network);
	assert_true(pod_counts(p));
	pod_unref(p);

	/* default namespace, podIP only, no node, hostNetwork, pending */
	p = pod_ok("{\"metadata\":{\"name\":\"h\"},\"spec\":{\"hostNetwork\":true},"
		   "\"status\":{\"podIP\":\"192.0.2.1\",\"phase\":\"Pending\"}}");
	assert_string_equal(p->meta.key, "default/h");
	assert_null(p->node);
	assert_int_equal(p->n_ips, 1);
	assert_true(p->host_network);
	assert_false(pod_counts(p));
	pod_unref(p);
	/* no IP yet; Succeeded */
	p = pod_ok("{\"metadata\":{\"name\":\"n\"},\"status\":{}}");
	assert_false(pod_counts(p));
	pod_unref(p);
	p = pod_ok("{\"metadata\":{\"name\":\"s\"},\"status\":{\"podIP\":\"10.0.0.1\",\"phase\":\"Succeeded\"}}");
	assert_false(pod_counts(p));
	pod_unref(p);

	pod_bad("{\"metadata\":{\"name\":\"A\"}}", "metadata.name");
	pod_bad("{\"metadata\":{\"name\":\"a\",\"namespace\":\"a.b\"}}", "metadata.namespace");
	pod_bad("{\"metadata\":{\"name\":\"a\",\"labels\":{\"x\":1}}}", "labels");
	pod_bad("{\"metadata\":{\"name\":\"a\"},\"status\":{\"podIP\":\"10.0.0.300\"}}", "podIPs");
	pod_bad("{\"metadata\":{\"name\":\"a\"},\"status\":{\"podIPs\":[{\"ip\":\"10.0.0.1\"},{\"ip\":\"10.0.0.2\"}]}}",
		"more than one IPv4");
	pod_bad("{\"metadata\":{\"name\":\"a\"},\"status\":{\"podIPs\":[{\"ip\":\"10.0.0.1\"},{\"ip\":\"fd00::1\"},{\"ip\":\"10.0.0.2\"}]}}",
		"status.podIPs: may not have more than 2 entries");
	pod_bad("{\"metadata\":{\"name\":\"a\"},\"status\":{\"podIPs\":{}}}", "status.podIPs is not a list");
	pod_bad("{\"metadata\":{\"name\":\"a\"},\"spec\":{\"containers\":{}}}", "spec.containers is not a list");
	pod_bad("{\"metadata\":{\"name\":\"a\"},\"spec\":{\"containers\":[{\"ports\":[{\"containerPort\":0}]}]}}",
		"containerPort");
	pod_bad("{\"metadata\":{\"name\":\"a\"},\"spec\":{\"containers\":[{\"ports\":[{\"containerPort\":80,\"name\":\"80\"}]}]}}",
		"port name");
	pod_bad("{\"metadata\":{\"name\":\"a\"},\"spec\":{\"containers\":[{\"ports\":[{\"containerPort\":80,\"protocol\":\"ICMP\"}]}]}}",
		"protocol");
	pod_bad("{\"metadata\":{\"name\":\"a\"},\"status\":{\"phase\":\"Dancing\"}}", "status.phase");
	pod_bad("{\"metadata\":{\"name\":\"a\"},\"spec\":{\"hostNetwork\":\"yes\"}}", "hostNetwork");
}

static void test_namespace(void **state)
{
	struct json_object *o = J("{\"metadata\":{\"name\":\"x\",\"labels\":{\"team\":\"a\"}}}");
	struct k8s_namespace *n;
	char err[256];

	(void)state;
	assert_int_equal(namespace_decode(o, &n, err, sizeof(err)), 0);
	assert_string_equal(n->meta.key, "x");
	assert_int_equal(n->labels.n, 2);
	assert_string_equal(np_labels_get(&n->labels, "kubernetes.io/metadata.name"), "x");
	assert_string_equal(np_labels_get(&n->labels, "team"), "a");
	namespace_unref(n);
	json_object_put(o);
	/* a wrong metadata.name label is overwritten, as the API server does */
	o = J("{\"metadata\":{\"name\":\"y\",\"labels\":{\"kubernetes.io/metadata.name\":\"z\"}}}");
	assert_int_equal(namespace_decode(o, &n, err, sizeof(err)), 0);
	assert_int_equal(n->labels.n, 1);
	assert_string_equal(np_labels_get(&n->labels, "kubernetes.io/metadata.name"), "y");
	namespace_unref(n);
	json_object_put(o);
	o = J("{\"metadata\":{\"name\":\"a.b\"}}");	/* namespaces are DNS-1123 labels */
	assert_int_equal(namespace_decode(o, &n, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "metadata.name"));
	json_object_put(o);
}

#define NP(spec) "{\"metadata\":{\"name\":\"p\",\"namespace\":\"x\"},\"spec\":" spec "}"

static void test_policy_types(void **state)
{
	struct netpolicy *np;

	(void)state;
	/* no policyTypes, no egress: Ingress only; ingress absent = deny (0 rules) */
	np = np_ok(NP("{\"podSelector\":{}}"));
	assert_string_equal(np->meta.key, "x/p");
	assert_string_equal(np->name, "p");
	assert_true(np->ingress);
	assert_false(np->egress);
	assert_int_equal(np->n_rules[NP_INGRESS], 0);
	assert_int_equal(np->pod_sel.n_exprs, 0);
	netpolicy_unref(np);
	/* egress present and non-empty: Ingress + Egress */
	np = np_ok(NP("{\"podSelector\":{},\"egress\":[{}]}"));
	assert_true(np->ingress);
	assert_true(np->egress);
	assert_int_equal(np->n_rules[NP_EGRESS], 1);
	assert_true(np->rules[NP_EGRESS][0].all_peers);
	assert_true(np->rules[NP_EGRESS][0].all_ports);
	netpolicy_unref(np);
	/* egress: [] defaults like an absent one (upstream: len(egress) != 0) */
	np = np_ok(NP("{\"podSelector\":{},\"egress\":[]}"));
	assert_false(np->egress);
	netpolicy_unref(np);
	/* explicit Egress only */
	np = np_ok(NP("{\"podSelector\":{},\"policyTypes\":[\"Egress\"],\"ingress\":[{}]}"));
	assert_false(np->ingress);
	assert_true(np->egress);
	assert_int_equal(np->n_rules[NP_EGRESS], 0);
	netpolicy_unref(np);
	np_bad(NP("{\"policyTypes\":[\"Ingress\",\"Ingress\"]}"), "policyTypes[1]");
	np_bad(NP("{\"policyTypes\":[\"Sideways\"]}"), "policyTypes[0]");
}

static void test_policy_rules(void **state)
{
	struct netpolicy *np;
	const struct np_rule *r;

	(void)state;
	np = np_ok(NP("{\"podSelector\":{\"matchLabels\":{\"pod\":\"a\"}},\"ingress\":["
		      "{\"from\":[{\"podSelector\":{\"matchLabels\":{\"pod\":\"b\"}},"
		      "\"namespaceSelector\":{\"matchExpressions\":[{\"key\":\"ns\",\"operator\":\"In\",\"values\":[\"y\",\"z\"]}]}},"
		      "{\"ipBlock\":{\"cidr\":\"10.0.0.0/8\",\"except\":[\"10.1.0.0/16\"]}},"
		      "{\"ipBlock\":{\"cidr\":\"fd00::/8\"}}],"
		      "\"ports\":[{\"port\":80},{\"protocol\":\"UDP\",\"port\":\"dns\"},"
		      "{\"protocol\":\"SCTP\"},{\"port\":8000,\"endPort\":8010}]},"
		      "{\"from\":[]}]}"));
	assert_int_equal(np->n_rules[NP_INGRESS], 2);
	r = &np->rules[NP_INGRESS][0];
	assert_false(r->all_peers);
	assert_false(r->all_ports);
	assert_true(r->has_selector_peers);
	assert_true(r->has_named_ports);
	assert_int_equal(r->n_peers, 3);
	assert_true(r->peers[0].has_pod_sel && r->peers[0].has_ns_sel);
	assert_int_equal(r->peers[0].ns_sel.exprs[0].op, NP_SEL_IN);
	assert_int_equal(r->peers[0].ns_sel.exprs[0].n_values, 2);
	assert_int_equal(r->n_ipblocks, 2);
	assert_string_equal(sy_cidr_str(&r->ipblocks[0].cidr), "10.0.0.0/8");
	assert_int_equal(r->ipblocks[0].n_except, 1);
	assert_int_equal(r->n_ports, 4);
	assert_int_equal(r->ports[0].proto, IPPROTO_TCP);	/* default */
	assert_int_equal(r->ports[0].port, 80);
	assert_string_equal(r->ports[1].name, "dns");
	assert_int_equal(r->ports[1].proto, IPPROTO_UDP);
	assert_int_equal(r->ports[2].proto, IPPROTO_SCTP);
	assert_int_equal(r->ports[2].port, 0);
	assert_int_equal(r->ports[3].end_port, 8010);
	/* from: [] = all peers */
	assert_true(np->rules[NP_INGRESS][1].all_peers);
	netpolicy_unref(np);

	/* validation as the API server does it */
	np_bad(NP("{\"ingress\":[{\"from\":[{}]}]}"), "must specify a peer");
	np_bad(NP("{\"ingress\":[{\"from\":[{\"ipBlock\":{\"cidr\":\"10.0.0.0/8\"},\"podSelector\":{}}]}]}"),
	       "more than 1 peer");
	np_bad(NP("{\"ingress\":[{\"from\":[{\"ipBlock\":{\"cidr\":\"10.0.0.0/8\",\"except\":[\"11.0.0.0/16\"]}}]}]}"),
	       "strict subset");
	np_bad(NP("{\"ingress\":[{\"from\":[{\"ipBlock\":{\"cidr\":\"10.0.0.0/8\",\"except\":[\"10.0.0.0/8\"]}}]}]}"),
	       "strict subset");
	np_bad(NP("{\"ingress\":[{\"from\":[{\"ipBlock\":{\"cidr\":\"10.0.0.0/8\",\"except\":[\"fd00::/16\"]}}]}]}"),
	       "strict subset");
	np_bad(NP("{\"ingress\":[{\"from\":[{\"ipBlock\":{\"cidr\":\"10.0.0.300/8\"}}]}]}"), "invalid CIDR");
	np_bad(NP("{\"ingress\":[{\"from\":[{\"ipBlock\":{}}]}]}"), "cidr: required");
	np_bad(NP("{\"egress\":[{\"to\":[{\"podSelector\":{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"In\"}]}}]}]}"),
	       "must be specified");
	np_bad(NP("{\"egress\":[{\"to\":[{\"podSelector\":{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Exists\",\"values\":[\"b\"]}]}}]}]}"),
	       "may not be specified");
	np_bad(NP("{\"egress\":[{\"to\":[{\"namespaceSelector\":{\"matchExpressions\":[{\"key\":\"a\",\"operator\":\"Gt\",\"values\":[\"1\"]}]}}]}]}"),
	       "operator");
	np_bad(NP("{\"ingress\":[{\"ports\":[{\"endPort\":90}]}]}"), "endPort");
	np_bad(NP("{\"ingress\":[{\"ports\":[{\"port\":\"http\",\"endPort\":90}]}]}"), "non-numeric");
	np_bad(NP("{\"ingress\":[{\"ports\":[{\"port\":90,\"endPort\":80}]}]}"), "greater than or equal");
	np_bad(NP("{\"ingress\":[{\"ports\":[{\"port\":0}]}]}"), "between 1 and 65535");
	np_bad(NP("{\"ingress\":[{\"ports\":[{\"port\":\"-x\"}]}]}"), "port name");
	np_bad(NP("{\"ingress\":[{\"ports\":[{\"protocol\":\"ICMP\"}]}]}"), "protocol");
	np_bad(NP("{\"ingress\":{}}"), "spec.ingress is not a list");
	np_bad(NP("{\"egress\":\"x\"}"), "spec.egress is not a list");
	np_bad(NP("{\"policyTypes\":{}}"), "spec.policyTypes is not a list");
	np_bad(NP("{\"policyTypes\":[\"Ingress\",\"Egress\",\"Ingress\"]}"),
	       "spec.policyTypes: may not have more than 2 entries");
	/* a selector that fails after some of it was built: the policy frees it (ASan) */
	np_bad(NP("{\"podSelector\":{\"matchLabels\":{\"a\":\"b\"},\"matchExpressions\":["
		  "{\"key\":\"c\",\"operator\":\"In\",\"values\":[\"d\",1]}]}}"),
	       "spec.podSelector.matchExpressions[0].values[1] is not a string");
	np_bad(NP("{\"ingress\":[{\"from\":[{\"podSelector\":{\"matchLabels\":{\"a\":\"b\"}},"
		  "\"namespaceSelector\":{\"matchExpressions\":[{\"key\":\"c\",\"operator\":\"NotIn\","
		  "\"values\":[\"d\",1]}]}}]}]}"), "values[1] is not a string");
	np_bad("{\"metadata\":{\"namespace\":\"x\"},\"spec\":{}}", "metadata.name");
}

static struct np_labels L(unsigned n, ...)
{
	struct np_labels l = { xcalloc(n + 1, sizeof(struct np_label)), n };
	va_list ap;

	va_start(ap, n);
	for (unsigned i = 0; i < n; i++) {
		l.v[i].key = np_intern(va_arg(ap, const char *));
		l.v[i].value = np_intern(va_arg(ap, const char *));
	}
	va_end(ap);
	return l;
}

static void test_selector(void **state)
{
	struct netpolicy *np = np_ok(NP("{\"podSelector\":{\"matchLabels\":{\"app\":\"web\"},"
		"\"matchExpressions\":[{\"key\":\"tier\",\"operator\":\"NotIn\",\"values\":[\"db\"]},"
		"{\"key\":\"env\",\"operator\":\"Exists\"},{\"key\":\"old\",\"operator\":\"DoesNotExist\"}]}}"));
	struct np_labels a = L(2, "app", "web", "env", "p");
	struct np_labels b = L(3, "app", "web", "env", "p", "tier", "db");
	struct np_labels c = L(3, "app", "web", "env", "p", "tier", "fe");
	struct np_labels d = L(1, "app", "web");
	struct np_labels e = L(3, "app", "web", "env", "p", "old", "");
	struct np_labels f = L(2, "app", "webx", "env", "p");
	struct np_selector empty = { 0 };

	(void)state;
	assert_true(np_selector_matches(&np->pod_sel, &a));	/* NotIn: absent key matches */
	assert_false(np_selector_matches(&np->pod_sel, &b));
	assert_true(np_selector_matches(&np->pod_sel, &c));
	assert_false(np_selector_matches(&np->pod_sel, &d));	/* Exists */
	assert_false(np_selector_matches(&np->pod_sel, &e));	/* DoesNotExist (even "") */
	assert_false(np_selector_matches(&np->pod_sel, &f));
	assert_true(np_selector_matches(&empty, &d));
	free(a.v); free(b.v); free(c.v); free(d.v); free(e.v); free(f.v);
	netpolicy_unref(np);
}

static void ranges_eq(const char *spec, int family, const char *want)
{
	struct netpolicy *np = np_ok(spec);
	struct np_range *v;
	unsigned n;
	char buf[1024] = "";
	size_t o = 0;

	np_rule_ranges(&np->rules[NP_INGRESS][0], family, &v, &n);
	for (unsigned i = 0; i < n; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s-%s", i ? " " : "",
				      sy_addr_str(&v[i].lo), sy_addr_str(&v[i].hi));
	if (strcmp(buf, want))
		fail_msg("ranges \"%s\", want \"%s\"", buf, want);
	free(v);
	netpolicy_unref(np);
}

static void test_ranges(void **state)
{
	(void)state;
	ranges_eq(NP("{\"ingress\":[{\"from\":[{\"ipBlock\":{\"cidr\":\"10.0.0.0/8\",\"except\":"
		     "[\"10.1.0.0/16\",\"10.0.0.0/24\",\"10.255.255.0/24\",\"10.1.2.0/24\"]}}]}]}"),
		  AF_INET, "10.0.1.0-10.0.255.255 10.2.0.0-10.255.254.255");
	/* union of blocks; an except of one block is allowed by another (additive) */
	ranges_eq(NP("{\"ingress\":[{\"from\":[{\"ipBlock\":{\"cidr\":\"10.0.0.0/24\",\"except\":[\"10.0.0.128/25\"]}},"
		     "{\"ipBlock\":{\"cidr\":\"10.0.0.128/26\"}},{\"ipBlock\":{\"cidr\":\"fd00::/64\"}},"
		     "{\"ipBlock\":{\"cidr\":\"192.168.0.1/32\"}}]}]}"),
		  AF_INET, "10.0.0.0-10.0.0.191 192.168.0.1-192.168.0.1");
	ranges_eq(NP("{\"ingress\":[{\"from\":[{\"ipBlock\":{\"cidr\":\"0.0.0.0/0\",\"except\":[\"0.0.0.0/1\"]}},"
		     "{\"ipBlock\":{\"cidr\":\"fd00::/8\",\"except\":[\"fd00::/9\"]}}]}]}"),
		  AF_INET, "128.0.0.0-255.255.255.255");
	ranges_eq(NP("{\"ingress\":[{\"from\":[{\"ipBlock\":{\"cidr\":\"fd00::/8\",\"except\":[\"fd00::/9\"]}}]}]}"),
		  AF_INET6, "fd80::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	ranges_eq(NP("{\"ingress\":[{\"from\":[{\"podSelector\":{}}]}]}"), AF_INET, "");
}

static void ranges_str(char *buf, size_t len, const struct np_range *v, unsigned n)
{
	size_t o = 0;

	buf[0] = 0;
	for (unsigned i = 0; i < n; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s-%s", i ? " " : "",
				      sy_addr_str(&v[i].lo), sy_addr_str(&v[i].hi));
}

/* np_rule_excepted: the cidrs' union and what the excepts cut out of it */
static void excepted_eq(const char *spec, int family, const char *want_c, const char *want_e)
{
	struct netpolicy *np = np_ok(spec);
	struct np_range *c, *e;
	unsigned nc, ne;
	char bc[1024], be[1024];

	np_rule_excepted(&np->rules[NP_INGRESS][0], family, &c, &nc, &e, &ne);
	ranges_str(bc, sizeof(bc), c, nc);
	ranges_str(be, sizeof(be), e, ne);
	if (strcmp(bc, want_c) || strcmp(be, want_e))
		fail_msg("cidrs \"%s\" excepted \"%s\", want \"%s\" \"%s\"", bc, be, want_c, want_e);
	free(c);
	free(e);
	netpolicy_unref(np);
}

static void test_excepted(void **state)
{
	(void)state;
	excepted_eq(NP("{\"ingress\":[{\"from\":[{\"ipBlock\":{\"cidr\":\"10.0.0.0/8\",\"except\":"
		       "[\"10.1.0.0/16\",\"10.0.0.0/24\",\"10.255.255.0/24\",\"10.1.2.0/24\"]}}]}]}"),
		    AF_INET, "10.0.0.0-10.255.255.255",
		    "10.0.0.0-10.0.0.255 10.1.0.0-10.1.255.255 10.255.255.0-10.255.255.255");
	/* an except of one block inside another block is not cut out */
	excepted_eq(NP("{\"ingress\":[{\"from\":[{\"ipBlock\":{\"cidr\":\"10.0.0.0/24\",\"except\":[\"10.0.0.128/25\"]}},"
		       "{\"ipBlock\":{\"cidr\":\"10.0.0.128/26\"}},{\"ipBlock\":{\"cidr\":\"fd00::/64\"}},"
		       "{\"ipBlock\":{\"cidr\":\"192.168.0.1/32\"}}]}]}"),
		    AF_INET, "10.0.0.0-10.0.0.255 192.168.0.1-192.168.0.1", "10.0.0.192-10.0.0.255");
	excepted_eq(NP("{\"ingress\":[{\"from\":[{\"ipBlock\":{\"cidr\":\"10.0.0.0/8\",\"except\":[\"10.1.0.0/16\"]}},"
		       "{\"ipBlock\":{\"cidr\":\"10.1.2.3/32\"}}]}]}"),
		    AF_INET, "10.0.0.0-10.255.255.255", "10.1.0.0-10.1.2.2 10.1.2.4-10.1.255.255");
	/* the top of the address space (no wrap) and the whole space */
	excepted_eq(NP("{\"ingress\":[{\"from\":[{\"ipBlock\":{\"cidr\":\"0.0.0.0/0\",\"except\":[\"255.255.255.0/24\"]}},"
		       "{\"ipBlock\":{\"cidr\":\"fd00::/8\",\"except\":[\"fd00::/9\"]}}]}]}"),
		    AF_INET, "0.0.0.0-255.255.255.255", "255.255.255.0-255.255.255.255");
	excepted_eq(NP("{\"ingress\":[{\"from\":[{\"ipBlock\":{\"cidr\":\"0.0.0.0/0\",\"except\":[\"255.255.255.0/24\"]}},"
		       "{\"ipBlock\":{\"cidr\":\"fd00::/8\",\"except\":[\"fd00::/9\"]}}]}]}"),
		    AF_INET6, "fd00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
		    "fd00::-fd7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	/* excepts that cover the whole cidr: all of it cut out */
	excepted_eq(NP("{\"ingress\":[{\"from\":[{\"ipBlock\":{\"cidr\":\"10.0.0.0/24\",\"except\":"
		       "[\"10.0.0.0/25\",\"10.0.0.128/25\"]}}]}]}"),
		    AF_INET, "10.0.0.0-10.0.0.255", "10.0.0.0-10.0.0.255");
	excepted_eq(NP("{\"ingress\":[{\"from\":[{\"ipBlock\":{\"cidr\":\"fd00::/64\"}}]}]}"),
		    AF_INET6, "fd00::-fd00::ffff:ffff:ffff:ffff", "");
	excepted_eq(NP("{\"ingress\":[{\"from\":[{\"podSelector\":{}}]}]}"), AF_INET, "", "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pod),
		cmocka_unit_test(test_namespace),
		cmocka_unit_test(test_policy_types),
		cmocka_unit_test(test_policy_rules),
		cmocka_unit_test(test_selector),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_excepted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
