// SPDX-License-Identifier: Apache-2.0
/* The decoders (core/decode.c): valid objects, every kind of bad input. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include "helpers.h"
#include "model-fixtures.h"
#include "switchyard/log.h"
#include "switchyard/model.h"
#include "switchyard/util.h"

static void test_service_ok(void **state)
{
	struct json_object *o = J(SVC);
	struct service *s;
	char err[256];

	assert_int_equal(service_decode(o, NULL, &s, err, sizeof(err)), 0);
	assert_string_equal(s->key, "apps/web");
	assert_string_equal(s->ns, "apps");
	assert_string_equal(s->name, "web");
	assert_string_equal(s->resource_version, "5");
	assert_int_equal(s->type, SVC_TYPE_LOAD_BALANCER);
	assert_string_equal(sy_addr_str(&s->cluster_ip), "10.96.45.123");
	assert_int_equal(s->n_ports, 2);
	assert_int_equal(s->ports[0].port, 80);
	assert_int_equal(s->ports[0].target_port, 8080);
	assert_int_equal(s->ports[0].node_port, 30080);
	assert_int_equal(s->ports[1].proto, IPPROTO_UDP);
	assert_string_equal(s->ports[1].target_port_name, "dns-port");
	assert_true(s->affinity_client_ip);
	assert_int_equal(s->affinity_timeout, 60);
	assert_true(s->etp_local);
	assert_true(s->itp_local);
	assert_int_equal(s->hc_node_port, 32000);
	/* both families are kept; the desired state picks per family */
	assert_int_equal(s->n_external_ips, 2);
	assert_string_equal(sy_addr_str(&s->external_ips[0]), "192.0.2.10");
	assert_string_equal(sy_addr_str(&s->external_ips[1]), "2001:db8::1");
	assert_false(sy_addr_is_set(&s->cluster_ip6));
	assert_int_equal(s->n_ip_families, 0);
	assert_int_equal(s->ip_family_policy, SVC_IPFP_UNSET);
	assert_int_equal(s->n_lb_ips, 1);
	assert_string_equal(sy_addr_str(&s->lb_ips[0]), "198.51.100.7");
	assert_int_equal(s->n_lb_source_ranges, 1);
	assert_int_equal(s->lb_source_ranges[0].plen, 24);
	service_free(s);
	json_object_put(o);
}

/* kube-proxy semantics at the edges of the API */
static void test_service_edges(void **state)
{
	struct json_object *o = J("{\"metadata\":{\"name\":\"d\"},\"spec\":{\"type\":\"LoadBalancer\","
				  "\"clusterIP\":\"fd00::1\",\"clusterIPs\":[\"fd00::1\",\"10.96.0.5\"],"
				  "\"ports\":[{\"port\":80}]},\"status\":{\"loadBalancer\":{\"ingress\":["
				  "{\"ip\":\"192.0.2.1\",\"ipMode\":\"Proxy\"},{\"ip\":\"192.0.2.2\",\"ipMode\":\"VIP\"}]}}}");
	struct service *s;
	char err[256];

	assert_int_equal(service_decode(o, NULL, &s, err, sizeof(err)), 0);
	/* IPv6-primary dual stack: the IPv4 ClusterIP from clusterIPs, the IPv6 one kept */
	assert_string_equal(sy_addr_str(&s->cluster_ip), "10.96.0.5");
	assert_string_equal(sy_addr_str(&s->cluster_ip6), "fd00::1");
	/* ipMode Proxy: the load balancer proxies, no VIP to program */
	assert_int_equal(s->n_lb_ips, 1);
	assert_string_equal(sy_addr_str(&s->lb_ips[0]), "192.0.2.2");
	service_free(s);
	json_object_put(o);
}

static void test_service_defaults(void **state)
{
	struct json_object *o = J("{\"metadata\":{\"name\":\"a\"},\"spec\":{\"clusterIP\":\"10.0.0.1\","
				  "\"ports\":[{\"port\":443}],\"sessionAffinity\":\"ClientIP\"}}");
	struct service *s;
	char err[256];

	assert_int_equal(service_decode(o, NULL, &s, err, sizeof(err)), 0);
	assert_string_equal(s->key, "default/a");
	assert_int_equal(s->ports[0].proto, IPPROTO_TCP);
	assert_int_equal(s->ports[0].target_port, 443);
	assert_int_equal(s->affinity_timeout, 10800);
	assert_string_equal(s->ports[0].name, "");
	service_free(s);
	json_object_put(o);
}

/* Each bad input is rejected with a reason naming the problem. */
static void test_service_bad(void **state)
{
	static const struct { const char *json, *reason; } cases[] = {
		{ "[]", "not a JSON object" },
		{ "{\"spec\":{}}", "missing metadata" },
		{ "{\"metadata\":{\"namespace\":\"x\"},\"spec\":{}}", "metadata.name" },
		{ "{\"metadata\":{\"name\":\"a\"}}", "missing spec" },
		{ "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"clusterIP\":\"10.0.0.256\"}}", "invalid spec.clusterIP" },
		{ "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"clusterIP\":\"10.0.0.1\",\"ports\":[{\"port\":0}]}}", "port out of range" },
		{ "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"clusterIP\":\"10.0.0.1\",\"ports\":[{\"port\":70000}]}}", "port out of range" },
		{ "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"clusterIP\":\"10.0.0.1\",\"ports\":[{\"port\":\"80\"}]}}", "port out of range" },
		{ "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"clusterIP\":\"10.0.0.1\",\"ports\":[{\"name\":\"x\"}]}}", "missing port" },
		{ "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"clusterIP\":\"10.0.0.1\",\"ports\":[{\"port\":1,\"protocol\":\"ICMP\"}]}}", "unknown protocol" },
		{ "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"clusterIP\":\"10.0.0.1\",\"ports\":[{\"name\":\"a\",\"port\":1},{\"name\":\"b\",\"port\":1}]}}", "duplicate port" },
		{ "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"clusterIP\":\"10.0.0.1\",\"ports\":[{\"name\":\"a\",\"port\":1},{\"name\":\"a\",\"port\":2}]}}", "duplicate port name" },
		{ "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"type\":\"Weird\"}}", "unknown spec.type" },
		{ "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"externalIPs\":{}}}", "externalIPs is not a list" },
		{ "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"loadBalancerSourceRanges\":\"1.2.3.4/8\"}}", "spec.loadBalancerSourceRanges is not a list" },
		{ "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"sessionAffinity\":\"ClientIP\",\"sessionAffinityConfig\":{\"clientIP\":{\"timeoutSeconds\":0}}}}", "timeoutSeconds" },
		{ "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"sessionAffinity\":\"ClientIP\",\"sessionAffinityConfig\":{\"clientIP\":{\"timeoutSeconds\":86401}}}}", "timeoutSeconds" },
		{ "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"externalTrafficPolicy\":\"Nope\"}}", "externalTrafficPolicy" },
		{ "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"ports\":{}}}", "spec.ports is not a list" },
		{ "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"ports\":[1]}}", "spec.ports[0] is not an object" },
		{ "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"ports\":[{\"name\":1,\"port\":1}]}}", "spec.ports[0].name is not a string" },
		{ "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"ports\":[{\"port\":1,\"targetPort\":0}]}}", "targetPort" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct json_object *o = json_tokener_parse(cases[i].json);
		struct service *s = NULL;
		char err[256] = "";

		assert_int_equal(service_decode(o, NULL, &s, err, sizeof(err)), -EINVAL);
		if (!strstr(err, cases[i].reason))
			fail_msg("case %zu: \"%s\" does not mention \"%s\"", i, err, cases[i].reason);
		json_object_put(o);
	}
}

static void test_slice_ok(void **state)
{
	struct json_object *o = J(SLICE);
	struct endpoint_slice *s;
	char err[256];

	assert_int_equal(slice_decode(o, &s, err, sizeof(err)), 0);
	assert_string_equal(s->service_key, "apps/web");
	assert_string_equal(s->key, "apps/web-abc");
	assert_string_equal(s->ns, "apps");
	assert_string_equal(s->name, "web-abc");
	assert_int_equal(s->n_eps, 3);	/* the empty one is ignored */
	assert_int_equal(s->eps[0].flags, EP_READY | EP_SERVING);
	assert_int_equal(s->eps[1].flags, EP_SERVING | EP_TERMINATING);
	assert_int_equal(s->eps[2].flags, EP_READY | EP_SERVING);	/* nil conditions */

	assert_string_equal(s->eps[0].node_name, "n1");
	assert_non_null(s->eps[0].hints);
	assert_int_equal(s->eps[0].hints->n_zones, 1);
	assert_true(s->trigger_time > 1704164000 && s->trigger_time < 1704165000);
	slice_free(s);
	json_object_put(o);
	/* nil serving counts as true even when not ready (kube-proxy) */
	o = J("{\"metadata\":{\"name\":\"s\",\"labels\":{\"kubernetes.io/service-name\":\"x\"}},"
	      "\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":[\"10.0.0.1\"],"
	      "\"conditions\":{\"ready\":false,\"terminating\":true}}]}");
	assert_int_equal(slice_decode(o, &s, err, sizeof(err)), 0);
	assert_int_equal(s->eps[0].flags, EP_SERVING | EP_TERMINATING);
	slice_free(s);
	json_object_put(o);
}

/* Topology hints: kept only when an endpoint has some, zones and nodes apart. */
static void test_slice_hints(void **state)
{
	struct json_object *o = J("{\"metadata\":{\"name\":\"s\",\"labels\":{\"kubernetes.io/service-name\":\"x\"}},"
				  "\"addressType\":\"IPv4\",\"endpoints\":["
				  "{\"addresses\":[\"10.0.0.1\"],\"hints\":{\"forZones\":[{\"name\":\"z1\"},{\"name\":\"z2\"}],"
				  "\"forNodes\":[{\"name\":\"n1\"}]}},"
				  "{\"addresses\":[\"10.0.0.2\"],\"hints\":{\"forNodes\":[{\"name\":\"n2\"}]}},"
				  "{\"addresses\":[\"10.0.0.3\"],\"hints\":{\"forZones\":[],\"forNodes\":[]}},"
				  "{\"addresses\":[\"10.0.0.4\"]}]}");
	struct endpoint_slice *s;
	char *const *v;
	unsigned n;
	char err[256];

	(void)state;
	assert_int_equal(slice_decode(o, &s, err, sizeof(err)), 0);
	assert_int_equal(s->n_eps, 4);
	v = slice_ep_hint_zones(&s->eps[0], &n);
	assert_int_equal(n, 2);
	assert_string_equal(v[0], "z1");
	assert_string_equal(v[1], "z2");
	v = slice_ep_hint_nodes(&s->eps[0], &n);
	assert_int_equal(n, 1);
	assert_string_equal(v[0], "n1");
	slice_ep_hint_zones(&s->eps[1], &n);
	assert_int_equal(n, 0);
	v = slice_ep_hint_nodes(&s->eps[1], &n);
	assert_int_equal(n, 1);
	assert_string_equal(v[0], "n2");
	/* empty lists and no hints: nothing kept */
	assert_null(s->eps[2].hints);
	assert_null(s->eps[3].hints);
	assert_null(slice_ep_hint_nodes(&s->eps[3], &n));
	assert_int_equal(n, 0);
	slice_free(s);
	json_object_put(o);
}

static void test_slice_bad(void **state)
{
	static const struct { const char *json, *reason; } cases[] = {
		{ "{\"metadata\":{\"name\":\"s\"},\"addressType\":\"IPv4\"}", "kubernetes.io/service-name" },
		{ "{\"metadata\":{\"name\":\"s\",\"labels\":{\"kubernetes.io/service-name\":\"x\"}}}", "addressType" },
		{ "{\"metadata\":{\"name\":\"s\",\"labels\":{\"kubernetes.io/service-name\":\"x\"}},\"addressType\":\"IPv5\"}", "addressType" },
		{ "{\"metadata\":{\"name\":\"s\",\"labels\":{\"kubernetes.io/service-name\":\"x\"}},\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":[\"1.2.3\"]}]}", "invalid address" },
		{ "{\"metadata\":{\"name\":\"s\",\"labels\":{\"kubernetes.io/service-name\":\"x\"}},\"addressType\":\"IPv4\",\"ports\":[{\"port\":99999}]}", "port out of range" },
		{ "{\"metadata\":{\"name\":\"s\",\"labels\":{\"kubernetes.io/service-name\":\"x\"}},\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":[\"1.2.3.4\"],\"conditions\":{\"ready\":\"yes\"}}]}", "booleans" },
		{ "{\"metadata\":{\"name\":\"s\",\"labels\":{\"kubernetes.io/service-name\":\"x\"}},\"addressType\":\"IPv4\",\"endpoints\":{}}", "endpoints is not a list" },
		{ "{\"metadata\":{\"name\":\"s\",\"labels\":{\"kubernetes.io/service-name\":\"x\"}},\"addressType\":\"IPv4\",\"ports\":\"80\"}", "ports is not a list" },
		{ "{\"metadata\":{\"name\":\"s\",\"labels\":{\"kubernetes.io/service-name\":\"x\"}},\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":[\"1.2.3.4\"],\"hints\":{\"forZones\":[{\"name\":\"z\"}],\"forNodes\":[{}]}}]}", "invalid hints" },
		{ "{\"metadata\":{\"name\":\"s\",\"labels\":{\"kubernetes.io/service-name\":\"x\"}},\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":[\"1.2.3.4\"],\"hints\":{\"forNodes\":{}}}]}", "invalid hints" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct json_object *o = json_tokener_parse(cases[i].json);
		struct endpoint_slice *s = NULL;
		char err[256] = "";

		assert_int_equal(slice_decode(o, &s, err, sizeof(err)), -EINVAL);
		if (!strstr(err, cases[i].reason))
			fail_msg("case %zu: \"%s\" does not mention \"%s\"", i, err, cases[i].reason);
		json_object_put(o);
	}
}

static void test_node(void **state)
{
	struct json_object *o = J("{\"metadata\":{\"name\":\"n1\",\"labels\":{\"topology.kubernetes.io/zone\":\"z1\"},"
				  "\"annotations\":{\"switchyard.io/public-ip\":\"10.0.0.5\",\"other\":\"x\"}},"
				  "\"spec\":{\"podCIDRs\":[\"10.111.1.0/24\"],\"taints\":[{\"key\":\"ToBeDeletedByClusterAutoscaler\"}]},"
				  "\"status\":{\"addresses\":[{\"type\":\"Hostname\",\"address\":\"n1\"},{\"type\":\"InternalIP\",\"address\":\"10.0.0.5\"}]}}");
	struct node *n;
	char err[256];

	assert_int_equal(node_decode(o, &n, err, sizeof(err)), 0);
	assert_string_equal(n->key, "n1");
	assert_string_equal(n->name, "n1");
	assert_null(n->resource_version);
	assert_string_equal(sy_addr_str(&n->internal_ip), "10.0.0.5");
	assert_true(n->has_pod_cidr);
	assert_int_equal(n->pod_cidr.plen, 24);
	assert_string_equal(n->zone, "z1");
	assert_true(n->deleting);
	assert_string_equal(node_annotation(n, "switchyard.io/public-ip"), "10.0.0.5");
	assert_null(node_annotation(n, "other"));
	node_free(n);
	json_object_put(o);
	o = J("{\"metadata\":{\"name\":\"n1\"},\"status\":{\"addresses\":{}}}");
	n = NULL;
	assert_int_equal(node_decode(o, &n, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "status.addresses is not a list");
	assert_null(n);
	json_object_put(o);
}

/* Issue 13.8: names the API server would refuse, a NUL byte above all, never reach the cache. */
static void test_names(void **state)
{
	static const struct { int kind; const char *md; bool ok; } cases[] = {
		{ SY_KIND_SERVICE, "{\"name\":\"n\\u0000x\"}", false },
		{ SY_KIND_SERVICE, "{\"name\":\"n\",\"namespace\":\"a\\u0000b\"}", false },
		{ SY_KIND_SERVICE, "{\"name\":\"Web\"}", false },
		{ SY_KIND_SERVICE, "{\"name\":\"-web\"}", false },
		{ SY_KIND_SERVICE, "{\"name\":\"web.x\"}", false },	/* a label: no dots */
		{ SY_KIND_SERVICE, "{\"name\":\"1web\"}", true },	/* relaxed: a leading digit */
		{ SY_KIND_SERVICE, "{\"name\":\"w\",\"namespace\":\"Apps\"}", false },
		{ SY_KIND_SERVICE, "{\"name\":\"w\",\"namespace\":\"\"}", true },
		{ SY_KIND_NODE, "{\"name\":\"node-1.example.com\"}", true },
		{ SY_KIND_NODE, "{\"name\":\"node_1\"}", false },
		{ SY_KIND_NODE, "{\"name\":\"a..b\"}", false },
		{ SY_KIND_ENDPOINTSLICE, "{\"name\":\"web-abc.1\"}", true },
		{ SY_KIND_ENDPOINTSLICE, "{\"name\":\"web\\u0000\"}", false },
	};
	char text[512], err[256], key[300];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct json_object *o;
		int r;

		if (cases[i].kind == SY_KIND_SERVICE)
			snprintf(text, sizeof(text), "{\"metadata\":%s,\"spec\":{\"clusterIP\":"
				 "\"10.0.0.1\",\"ports\":[{\"port\":80}]}}", cases[i].md);
		else if (cases[i].kind == SY_KIND_NODE)
			snprintf(text, sizeof(text), "{\"metadata\":%s}", cases[i].md);
		else
			snprintf(text, sizeof(text), "{\"metadata\":%s,\"addressType\":\"IPv4\"}",
				 cases[i].md);
		o = J(text);
		if (cases[i].kind == SY_KIND_ENDPOINTSLICE) {
			struct json_object *md, *l = J("{\"kubernetes.io/service-name\":\"web\"}");

			json_object_object_get_ex(o, "metadata", &md);
			json_object_object_add(md, "labels", l);
		}
		if (cases[i].kind == SY_KIND_SERVICE) {
			struct service *s = NULL;

			r = service_decode(o, NULL, &s, err, sizeof(err));
			service_free(s);
		} else if (cases[i].kind == SY_KIND_NODE) {
			struct node *n = NULL;

			r = node_decode(o, &n, err, sizeof(err));
			node_free(n);
		} else {
			struct endpoint_slice *sl = NULL;

			r = slice_decode(o, &sl, err, sizeof(err));
			slice_free(sl);
		}
		if ((r == 0) != cases[i].ok)
			fail_msg("case %zu (%s): %s", i, cases[i].md, r ? err : "accepted");
		if (!cases[i].ok)
			assert_non_null(strstr(err, "metadata."));
		assert_int_equal(cache_object_key(cases[i].kind, o, key, sizeof(key)) == 0, cases[i].ok);
		json_object_put(o);
	}
}

/* What the last svc_ok's decode reported, one line each. */
static char reported[2048];

static void report(void *arg, char sev, const char *msg)
{
	size_t off = strlen(reported);

	(void)arg;
	snprintf(reported + off, sizeof(reported) - off, "%c %s\n", sev, msg);
}

static struct service *svc_ok(const char *json)
{
	struct json_object *o = J(json);
	struct service *s = NULL;
	char err[256];

	reported[0] = 0;
	if (service_decode(o, &(struct sy_report){ report, NULL }, &s, err, sizeof(err)) < 0)
		fail_msg("rejected: %s", err);
	json_object_put(o);
	return s;
}

#define LB_SVC(ranges, ingress) \
	"{\"metadata\":{\"name\":\"lb\"},\"spec\":{\"type\":\"LoadBalancer\",\"clusterIP\":\"10.0.0.9\"," \
	"\"ports\":[{\"port\":80,\"nodePort\":30080}],\"loadBalancerSourceRanges\":" ranges "}," \
	"\"status\":{\"loadBalancer\":{\"ingress\":" ingress "}}}"

/* Issue 13.11: what kube-proxy trims or tolerates never costs the whole Service. */
static void test_service_normalised(void **state)
{
	struct service *s;

	/* kube-proxy's proxier tests write " 203.0.113.0/25": trimmed (serviceport.go) */
	s = svc_ok(LB_SVC("[\" 203.0.113.0/25\", \"\\t198.51.100.0/24 \", \"\\u00a0192.0.2.0/24\"]",
			  "[{\"ip\":\"192.0.2.5\"}]"));
	assert_int_equal(s->n_lb_source_ranges, 3);
	assert_string_equal(sy_addr_str(&s->lb_source_ranges[0].addr), "203.0.113.0");
	assert_int_equal(s->lb_source_ranges[0].plen, 25);
	assert_int_equal(s->n_lb_ips, 1);
	assert_int_equal(s->n_ports, 1);
	service_free(s);
	/* an entry invalid after trimming is skipped (kube-proxy: "Invalid CIDR ignored"), the
	 * valid ones stay; host bits and leading zeros as ParseCIDRSloppy reads them */
	s = svc_ok(LB_SVC("[\"1.2.3.4/40\", \"010.1.2.3/8\", \"\", \"2001:db8::/32\"]",
			  "[{\"ip\":\"192.0.2.5\"}]"));
	assert_int_equal(s->n_lb_source_ranges, 2);
	assert_string_equal(sy_addr_str(&s->lb_source_ranges[0].addr), "10.0.0.0");
	assert_string_equal(sy_cidr_str(&s->lb_source_ranges[1]), "2001:db8::/32");
	assert_int_equal(s->n_lb_ips, 1);
	service_free(s);
	/* nothing valid left: kube-proxy would open the LB IPs to everyone; we program none */
	s = svc_ok(LB_SVC("[\"nonsense\", \"2001:db8::/32\"]", "[{\"ip\":\"192.0.2.5\"}]"));
	assert_int_equal(s->n_lb_source_ranges, 1);	/* the IPv6 one, kept for its family */
	assert_true(sy_addr_is6(&s->lb_source_ranges[0].addr));
	assert_int_equal(s->n_lb_ips, 0);
	assert_int_equal(s->n_ports, 1);	/* ClusterIP and NodePort keep working */
	assert_non_null(strstr(reported, "invalid loadBalancerSourceRanges entry \"nonsense\""));
	assert_non_null(strstr(reported, "no valid IPv4 entry in loadBalancerSourceRanges"));
	service_free(s);
	/* the same in IPv6: an IPv6 LB IP without a valid IPv6 range is left out, said */
	s = svc_ok(LB_SVC("[\"fd00::300::1/128\", \"192.0.2.0/24\"]",
			  "[{\"ip\":\"192.0.2.5\"}, {\"ip\":\"fd00:60::20\"}]"));
	assert_int_equal(s->n_lb_ips, 1);
	assert_false(sy_addr_is6(&s->lb_ips[0]));
	assert_non_null(strstr(reported, "no valid IPv6 entry in loadBalancerSourceRanges"));
	assert_null(strstr(reported, "no valid IPv4 entry"));
	service_free(s);
	/* only empty entries: no firewall, as kube-proxy */
	s = svc_ok(LB_SVC("[\"\", \" \"]", "[{\"ip\":\"192.0.2.5\"}]"));
	assert_int_equal(s->n_lb_source_ranges, 0);
	assert_int_equal(s->n_lb_ips, 1);
	service_free(s);
	/* externalIPs and LB ingress: an invalid entry is skipped, not the Service (MapIPsByIPFamily) */
	s = svc_ok("{\"metadata\":{\"name\":\"e\"},\"spec\":{\"clusterIP\":\"010.000.000.001\","
		   "\"ports\":[{\"port\":80}],\"externalIPs\":[\"x\",\"\",\" 192.0.2.1\",\"192.0.2.2\"]},"
		   "\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"bogus\"},{\"ip\":\"192.0.2.3\"}]}}}");
	assert_string_equal(sy_addr_str(&s->cluster_ip), "10.0.0.1");
	assert_int_equal(s->n_external_ips, 1);
	assert_string_equal(sy_addr_str(&s->external_ips[0]), "192.0.2.2");
	assert_int_equal(s->n_lb_ips, 1);
	/* each skipped entry is handed to the caller's report with the Service and the reason */
	assert_non_null(strstr(reported, "E Service default/e: invalid IP \"x\" in spec.externalIPs; "
			       "this entry is skipped\n"));
	assert_non_null(strstr(reported, "E Service default/e: invalid status.loadBalancer.ingress IP "
			       "\"bogus\"; this entry is skipped\n"));
	assert_null(strstr(reported, "\"\""));	/* an empty entry is skipped silently */
	service_free(s);
	/* the affinity timeout matters only with ClientIP (serviceport.go) */
	s = svc_ok("{\"metadata\":{\"name\":\"t\"},\"spec\":{\"clusterIP\":\"10.0.0.1\",\"ports\":[{\"port\":80}],"
		   "\"sessionAffinity\":\"None\",\"sessionAffinityConfig\":{\"clientIP\":{\"timeoutSeconds\":0}}}}");
	assert_false(s->affinity_client_ip);
	service_free(s);
	/* an IPv6-only Service decodes (logged at -v 2), with nothing to program */
	s = svc_ok("{\"metadata\":{\"name\":\"six\"},\"spec\":{\"clusterIP\":\"fd00::1\",\"ports\":[{\"port\":80}]}}");
	assert_true(s->ipv6_only);
	assert_false(sy_addr_is_set(&s->cluster_ip));
	assert_string_equal(sy_addr_str(&s->cluster_ip6), "fd00::1");
	service_free(s);
}

/* The model keeps IPv6: ClusterIPs, ipFamilies, ipFamilyPolicy, addresses, slices, Nodes. */
static void test_ipv6_kept(void **state)
{
	struct service *s;
	struct endpoint_slice *sl;
	struct node *n;
	struct json_object *o;
	char err[256];

	s = svc_ok("{\"metadata\":{\"name\":\"ds\"},\"spec\":{\"type\":\"LoadBalancer\","
		   "\"clusterIP\":\"10.96.0.7\",\"clusterIPs\":[\"10.96.0.7\",\"FD00:0::7\"],"
		   "\"ipFamilies\":[\"IPv4\",\"IPv6\"],\"ipFamilyPolicy\":\"RequireDualStack\","
		   "\"externalIPs\":[\"fd00:e::1\"],\"loadBalancerSourceRanges\":[\"fd00:1::/64\"],"
		   "\"ports\":[{\"port\":80}]},\"status\":{\"loadBalancer\":{\"ingress\":["
		   "{\"ip\":\"192.0.2.9\"},{\"ip\":\"fd00:2::9\"}]}}}");
	assert_string_equal(sy_addr_str(&s->cluster_ip), "10.96.0.7");
	assert_string_equal(sy_addr_str(&s->cluster_ip6), "fd00::7");
	assert_int_equal(s->n_ip_families, 2);
	assert_int_equal(s->ip_families[0], AF_INET);
	assert_int_equal(s->ip_families[1], AF_INET6);
	assert_int_equal(s->ip_family_policy, SVC_IPFP_REQUIRE_DUAL_STACK);
	assert_false(s->ipv6_only);
	assert_int_equal(s->n_external_ips, 1);
	assert_true(sy_addr_is6(&s->external_ips[0]));
	/* only an IPv6 range: the IPv4 load balancer IP goes (as before), the IPv6 one stays */
	assert_int_equal(s->n_lb_ips, 1);
	assert_string_equal(sy_addr_str(&s->lb_ips[0]), "fd00:2::9");
	assert_int_equal(s->n_lb_source_ranges, 1);
	service_free(s);

	s = svc_ok("{\"metadata\":{\"name\":\"p\"},\"spec\":{\"clusterIP\":\"10.96.0.8\","
		   "\"ipFamilies\":[\"IPv4\"],\"ipFamilyPolicy\":\"PreferDualStack\",\"ports\":[{\"port\":80}]}}");
	assert_int_equal(s->ip_family_policy, SVC_IPFP_PREFER_DUAL_STACK);
	assert_false(sy_addr_is_set(&s->cluster_ip6));
	service_free(s);

	/* an IPv6 EndpointSlice keeps its endpoints; an IPv4 address in it is skipped */
	o = J("{\"metadata\":{\"name\":\"w6\",\"labels\":{\"kubernetes.io/service-name\":\"w\"}},"
	      "\"addressType\":\"IPv6\",\"ports\":[{\"port\":80}],\"endpoints\":["
	      "{\"addresses\":[\"fd00:10::5\"]},{\"addresses\":[\"10.1.0.5\"]}]}");
	assert_int_equal(slice_decode(o, &sl, err, sizeof(err)), 0);
	assert_int_equal(sl->family, AF_INET6);
	assert_int_equal(sl->n_eps, 1);
	assert_string_equal(sy_addr_str(&sl->eps[0].addr), "fd00:10::5");
	slice_free(sl);
	json_object_put(o);
	o = J("{\"metadata\":{\"name\":\"f\",\"labels\":{\"kubernetes.io/service-name\":\"w\"}},"
	      "\"addressType\":\"FQDN\",\"endpoints\":[{\"addresses\":[\"a.example\"]}]}");
	assert_int_equal(slice_decode(o, &sl, err, sizeof(err)), 0);
	assert_int_equal(sl->family, 0);
	assert_int_equal(sl->n_eps, 0);
	slice_free(sl);
	json_object_put(o);

	/* a dual-stack Node: the first address and podCIDR of each family */
	o = J("{\"metadata\":{\"name\":\"n1\"},\"spec\":{\"podCIDR\":\"10.244.1.0/24\","
	      "\"podCIDRs\":[\"10.244.1.0/24\",\"fd00:244:1::/64\"]},\"status\":{\"addresses\":["
	      "{\"type\":\"InternalIP\",\"address\":\"fd00:1::10\"},{\"type\":\"InternalIP\","
	      "\"address\":\"192.168.1.10\"},{\"type\":\"ExternalIP\",\"address\":\"2001:db8::10\"}]}}");
	assert_int_equal(node_decode(o, &n, err, sizeof(err)), 0);
	assert_string_equal(sy_addr_str(&n->internal_ip), "192.168.1.10");
	assert_string_equal(sy_addr_str(&n->internal_ip6), "fd00:1::10");
	assert_false(sy_addr_is_set(&n->external_ip));
	assert_string_equal(sy_addr_str(&n->external_ip6), "2001:db8::10");
	assert_true(n->has_pod_cidr && n->has_pod_cidr6);
	assert_string_equal(sy_cidr_str(&n->pod_cidr), "10.244.1.0/24");
	assert_string_equal(sy_cidr_str(&n->pod_cidr6), "fd00:244:1::/64");
	node_free(n);
	json_object_put(o);
}

/* endpointslicecache.go: nil conditions, the other family's endpoint skipped */
static void test_slice_normalised(void **state)
{
	struct json_object *o = J("{\"metadata\":{\"name\":\"w-1\",\"labels\":{\"kubernetes.io/service-name\":"
				  "\"w\"}},\"addressType\":\"IPv4\",\"ports\":[{\"port\":80}],\"endpoints\":["
				  "{\"addresses\":[\"fd00::5\"]},{\"addresses\":[\"10.1.0.5\"],\"conditions\":{}},"
				  "{\"addresses\":[\"10.1.0.6\"],\"conditions\":{\"ready\":null,\"serving\":false}}]}");
	struct endpoint_slice *s;
	char err[256];

	assert_int_equal(slice_decode(o, &s, err, sizeof(err)), 0);
	assert_int_equal(s->n_eps, 2);
	assert_int_equal(s->eps[0].flags, EP_READY | EP_SERVING);
	assert_int_equal(s->eps[1].flags, EP_READY);
	slice_free(s);
	json_object_put(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_service_ok),
		cmocka_unit_test(test_service_defaults),
		cmocka_unit_test(test_service_edges),
		cmocka_unit_test(test_service_bad),
		cmocka_unit_test(test_slice_ok),
		cmocka_unit_test(test_slice_hints),
		cmocka_unit_test(test_slice_bad),
		cmocka_unit_test(test_node),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_service_normalised),
		cmocka_unit_test(test_slice_normalised),
		cmocka_unit_test(test_ipv6_kept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
