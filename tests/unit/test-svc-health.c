// SPDX-License-Identifier: Apache-2.0
/*
 * healthCheckNodePort listeners and the no_local_endpoints gauges
 * (ops/svc_health.c): a full scan, partial syncs that skip the scan when no
 * change touches a port with a healthCheckNodePort or a Local policy, and
 * ones that do not.
 */
#include <arpa/inet.h>
#include <ev.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "helpers.h"
#include "switchyard/config.h"
#include "switchyard/desired.h"
#include "switchyard/log.h"
#include "switchyard/metrics.h"
#include "switchyard/model.h"
#include "switchyard/svc_health.h"

static struct cache *c;
static struct desired_state ds;
static struct sy_config cfg;
static struct sy_metrics m;
static struct ev_loop *loop;
static struct svc_health *h;

static bool healthy(void *arg)
{
	return true;
}

static void apply(enum sy_kind k, const char *json)
{
	struct json_object *o = J(json);

	assert_int_equal(cache_apply(c, k, CACHE_UPSERT, o), 0);
	json_object_put(o);
}

/* a Service: name, ClusterIP, extra spec fields */
static void svc(const char *name, const char *ip, const char *extra)
{
	char buf[1024];

	snprintf(buf, sizeof(buf), "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"ns\"},\"spec\":{"
		 "\"clusterIP\":\"%s\",\"ports\":[{\"name\":\"p\",\"port\":80,\"nodePort\":30000}]%s}}",
		 name, ip, extra);
	apply(SY_KIND_SERVICE, buf);
}

/* its slice: one endpoint on node (n1 = this node) */
static void slice(const char *name, const char *addr, const char *node)
{
	char buf[1024];

	snprintf(buf, sizeof(buf), "{\"metadata\":{\"name\":\"%s-1\",\"namespace\":\"ns\",\"labels\":"
		 "{\"kubernetes.io/service-name\":\"%s\"}},\"addressType\":\"IPv4\",\"ports\":"
		 "[{\"name\":\"p\",\"port\":8080}],\"endpoints\":[{\"addresses\":[\"%s\"],"
		 "\"nodeName\":\"%s\"}]}", name, name, addr, node);
	apply(SY_KIND_ENDPOINTSLICE, buf);
}

static void sync_(bool full)
{
	desired_update(&ds, c, false);
	svc_health_sync(h, &ds, full);
	desired_commit(&ds);
}

static void test_partial_skip(void **state)
{
	config_init(&cfg);
	c = cache_new(NULL, NULL);
	desired_init(&ds, &cfg);
	desired_set_node(&ds, "n1", NULL, NULL, 0, true);
	sy_metrics_init(&m);
	loop = ev_loop_new(EVFLAG_AUTO);
	h = svc_health_new(loop, &m, healthy, NULL, NULL);
	/* lb: eTP=Local with a remote endpoint only; plain: no Local policy */
	svc("lb", "10.96.0.1", ",\"type\":\"LoadBalancer\",\"externalTrafficPolicy\":\"Local\","
	    "\"healthCheckNodePort\":0");
	slice("lb", "10.0.0.1", "n2");
	svc("plain", "10.96.0.2", "");
	slice("plain", "10.0.0.2", "n2");
	sync_(true);
	assert_int_equal(m.no_local_endpoints_external[0], 1);
	assert_int_equal(m.no_local_endpoints_internal[0], 0);
	/* a change to a port without Local policy or healthCheckNodePort: nothing moves */
	slice("plain", "10.0.0.3", "n1");
	sync_(false);
	assert_int_equal(m.no_local_endpoints_external[0], 1);
	/* the eTP=Local Service gets a local endpoint: the partial sync rescans */
	slice("lb", "10.0.0.4", "n1");
	sync_(false);
	assert_int_equal(m.no_local_endpoints_external[0], 0);
	/* a Service that turns internalTrafficPolicy Local without local endpoints */
	svc("plain", "10.96.0.2", ",\"internalTrafficPolicy\":\"Local\"");
	slice("plain", "10.0.0.5", "n2");
	sync_(false);
	assert_int_equal(m.no_local_endpoints_internal[0], 1);
	/* and back: the old version had the policy, so that change counts too */
	svc("plain", "10.96.0.2", "");
	sync_(false);
	assert_int_equal(m.no_local_endpoints_internal[0], 0);
	assert_int_equal(m.no_local_endpoints_external[1], 0);
	/* dual stack, a local endpoint in IPv4 only: each family counts its own
	 * (kube-proxy's ip_family label; one proxier per family) */
	svc("ds", "10.96.0.3", ",\"clusterIPs\":[\"10.96.0.3\",\"fd00::3\"],\"ipFamilies\":"
	    "[\"IPv4\",\"IPv6\"],\"ipFamilyPolicy\":\"RequireDualStack\",\"type\":\"LoadBalancer\","
	    "\"externalTrafficPolicy\":\"Local\",\"healthCheckNodePort\":0");
	slice("ds", "10.0.0.6", "n1");
	sync_(true);
	assert_int_equal(m.no_local_endpoints_external[0], 0);
	assert_int_equal(m.no_local_endpoints_external[1], 1);
	svc_health_free(h);
	ev_loop_destroy(loop);
	desired_fini(&ds);
	cache_free(c);
	config_free(&cfg);
}


/* A port another socket holds: the failure is told to the owner once, the recovery once. */
static void test_listener_reports(void **state)
{
	struct sockaddr_in6 sin = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	socklen_t len = sizeof(sin);
	int blocker = socket(AF_INET6, SOCK_STREAM, 0);
	struct last_said said = { 0 };
	char buf[256], want[128];

	assert_true(blocker >= 0);
	assert_int_equal(bind(blocker, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(blocker, (struct sockaddr *)&sin, &len), 0);
	assert_int_equal(listen(blocker, 1), 0);
	config_init(&cfg);
	c = cache_new(NULL, NULL);
	desired_init(&ds, &cfg);
	desired_set_node(&ds, "n1", NULL, NULL, 0, true);
	sy_metrics_init(&m);
	loop = ev_loop_new(EVFLAG_AUTO);
	h = svc_health_new(loop, &m, healthy, NULL, &(struct sy_report){ last_said_fn, &said });
	snprintf(buf, sizeof(buf), ",\"type\":\"LoadBalancer\",\"externalTrafficPolicy\":\"Local\","
		 "\"healthCheckNodePort\":%u", ntohs(sin.sin6_port));
	svc("lb", "10.96.0.1", buf);
	slice("lb", "10.0.0.1", "n1");
	sync_(true);
	assert_int_equal(said.n, 1);
	assert_int_equal(said.sev, 'W');
	snprintf(want, sizeof(want), "Failed to start healthcheck for Service ns/lb on port %u: ",
		 ntohs(sin.sin6_port));
	assert_memory_equal(said.msg, want, strlen(want));
	sync_(true);		/* still held: retried, not told again */
	assert_int_equal(said.n, 1);
	close(blocker);
	sync_(true);
	assert_int_equal(said.n, 2);
	assert_int_equal(said.sev, 'I');
	snprintf(want, sizeof(want), "Healthcheck for Service ns/lb now listening on port %u",
		 ntohs(sin.sin6_port));
	assert_string_equal(said.msg, want);
	svc_health_free(h);
	ev_loop_destroy(loop);
	desired_fini(&ds);
	cache_free(c);
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_partial_skip),
		cmocka_unit_test(test_listener_reports),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
