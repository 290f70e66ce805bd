// SPDX-License-Identifier: Apache-2.0
/*
 * The Kubernetes client in-process against the API server double on
 * 127.0.0.1 (plain HTTP, a random port): list + watch into a real cache,
 * the fieldSelector for this Node, PATCH of Node annotations (set and
 * remove), a 410 relist, what the client reports to its owner (the 410, a
 * failed PATCH) and the reasons k8s_client_new gives, and a clean free with
 * requests in flight; with network_policy the Pods, Namespaces and
 * NetworkPolicies (a relabel by watch, a malformed policy skipped, a relist).  Runs in
 * `make check` (under ASan in CI); skipped without /usr/bin/python3.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <ev.h>
#include <cmocka.h>
#include "switchyard/k8s.h"
#include "switchyard/log.h"
#include "switchyard/metrics.h"
#include "switchyard/model.h"
#include "switchyard/netpol.h"

#define PY "/usr/bin/python3"

static char dir[64], url[64];
static pid_t api_pid;

static void write_file(const char *name, const char *text)
{
	char p[128];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int ctl(const char *what)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "curl -sf -X POST '%s/_control/%s' >/dev/null", url, what);
	return system(cmd);
}

static int kubectl_like(const char *method, const char *path, const char *body)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "curl -sf -X %s -H 'Content-Type: application/json' "
		 "--data-binary '%s' '%s%s' >/dev/null", method, body, url, path);
	return system(cmd);
}

static int kubectl_patch(const char *path, const char *body)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "curl -sf -X PATCH -H 'Content-Type: application/merge-patch+json' "
		 "--data-binary '%s' '%s%s' >/dev/null", body, url, path);
	return system(cmd);
}

/* /_control/load: objects as given (the kubelet's or a broken server's way) */
static int ctl_load(const char *body)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd), "curl -sf -X POST --data-binary '%s' '%s/_control/load' >/dev/null",
		 body, url);
	return system(cmd);
}

static int setup(void **state)
{
	char script[256], pf[128], buf[32];
	FILE *f;

	if (access(PY, X_OK) < 0 || system("command -v curl >/dev/null") != 0)
		return -1;
	snprintf(dir, sizeof(dir), "/tmp/sy-k8sclient.XXXXXX");
	assert_non_null(mkdtemp(dir));
	write_file("objs.json",
		   "{\"kind\":\"List\",\"apiVersion\":\"v1\",\"items\":["
		   "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"n1\"},"
		   "\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"10.0.0.1\"}]}},"
		   "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"n2\"}},"
		   "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\","
		   "\"namespace\":\"default\"},\"spec\":{\"clusterIP\":\"10.96.0.10\",\"ports\":"
		   "[{\"name\":\"http\",\"port\":80,\"protocol\":\"TCP\",\"targetPort\":8080}]}}]}");
	snprintf(script, sizeof(script), "%s/apiserver.py", SRCDIR "/tests/apiserver");
	snprintf(pf, sizeof(pf), "%s/port", dir);
	api_pid = fork();
	assert_true(api_pid >= 0);
	if (api_pid == 0) {
		char pre[128], log[128];

		snprintf(pre, sizeof(pre), "%s/objs.json", dir);
		snprintf(log, sizeof(log), "%s/api.log", dir);
		if (!freopen(log, "w", stderr))
			_exit(127);
		execl(PY, PY, script, "--listen", "127.0.0.1:0", "--port-file", pf,
		      "--bookmark-interval", "0.2", "--preload", pre, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100; i++) {
		f = fopen(pf, "r");
		if (f) {
			if (fgets(buf, sizeof(buf), f)) {
				fclose(f);
				snprintf(url, sizeof(url), "http://127.0.0.1:%d", atoi(buf));
				return 0;
			}
			fclose(f);
		}
		usleep(100000);
	}
	return -1;
}

static int teardown(void **state)
{
	char cmd[128];

	if (api_pid > 0) {
		kill(api_pid, SIGTERM);
		waitpid(api_pid, NULL, 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

struct ctx {
	struct ev_loop *loop;
	struct cache *cache;
	struct sy_metrics *m;
	bool (*done)(struct ctx *c);
	const char *want;
	ev_timer timeout, poll;
	bool timed_out;
	char reports[8192];	/* "S:msg\n" per report */
};

static void on_change(void *arg, enum sy_kind kind)
{
}

static void on_report(void *arg, char sev, const char *msg)
{
	struct ctx *c = arg;
	size_t n = strlen(c->reports);

	snprintf(c->reports + n, sizeof(c->reports) - n, "%c:%s\n", sev, msg);
}

static struct k8s_client *client(struct ctx *c, struct sy_metrics *m, const struct k8s_conn *conn,
				 const char *node, bool all_nodes, int want, const char *want_err)
{
	struct k8s_client *k = NULL;
	char err[256] = "";

	assert_int_equal(k8s_client_new(&k, &(struct k8s_client_args){
		.loop = c->loop, .conn = conn, .cache = c->cache, .metrics = m, .node_name = node,
		.all_nodes = all_nodes, .report = { on_report, c } }, err, sizeof(err)),
		want);
	if (want_err && !strstr(err, want_err))
		fail_msg("k8s_client_new: \"%s\" does not say \"%s\"", err, want_err);
	return k;
}

static bool reported(struct ctx *c)
{
	return strstr(c->reports, c->want) != NULL;
}

static void poll_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ctx *c = w->data;

	if (c->done(c))
		ev_break(loop, EVBREAK_ALL);
}

static void timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ctx *c = w->data;

	c->timed_out = true;
	ev_break(loop, EVBREAK_ALL);
}

/* Run the loop until done(c) or 10 s. */
static bool run_until(struct ctx *c, bool (*done)(struct ctx *c))
{
	c->done = done;
	c->timed_out = false;
	ev_timer_init(&c->timeout, timeout_cb, 10., 0.);
	ev_timer_init(&c->poll, poll_cb, 0.02, 0.02);
	c->timeout.data = c->poll.data = c;
	ev_timer_start(c->loop, &c->timeout);
	ev_timer_start(c->loop, &c->poll);
	ev_run(c->loop, 0);
	ev_timer_stop(c->loop, &c->timeout);
	ev_timer_stop(c->loop, &c->poll);
	return !c->timed_out;
}

static bool synced(struct ctx *c)
{
	return cache_synced(c->cache, SY_KIND_SERVICE) &&
	       cache_synced(c->cache, SY_KIND_ENDPOINTSLICE) && cache_synced(c->cache, SY_KIND_NODE);
}

static bool has_annotation(struct ctx *c)
{
	const char *v = node_annotation(cache_node(c->cache, "n1"), "switchyard.io/test");

	return c->want ? v && !strcmp(v, c->want) : !v;
}

static bool has_web2(struct ctx *c)
{
	return cache_service(c->cache, "default/web2") != NULL;
}

static bool web2_gone(struct ctx *c)
{
	return cache_service(c->cache, "default/web2") == NULL && c->m->relists_total >= 1 &&
	       synced(c);
}

static void test_list_watch_patch(void **state)
{
	struct sy_metrics metrics;
	struct k8s_conn conn = { .server = url };
	struct k8s_client *k = NULL;
	struct ctx c = { .loop = ev_loop_new(EVFLAG_AUTO) };
	const char *keys[] = { "switchyard.io/test", "other/key" };
	const char *vals[] = { "v1", "x" };
	const char *rm[] = { NULL };

	log_verbosity = 0;
	sy_metrics_init(&metrics);
	c.m = &metrics;
	c.cache = cache_new(on_change, &c);
	k = client(&c, &metrics, &conn, "n1", false, 0, NULL);
	assert_true(run_until(&c, synced));
	assert_non_null(cache_service(c.cache, "default/web"));
	/* only this Node (fieldSelector) */
	assert_non_null(cache_node(c.cache, "n1"));
	assert_null(cache_node(c.cache, "n2"));
	/* no NetworkPolicy informers unless asked */
	assert_false(cache_synced(c.cache, SY_KIND_POD));

	/* PATCH annotations: set, then remove */
	assert_int_equal(k8s_client_patch_node_annotations(k, "n1", keys, vals, 2), 0);
	c.want = "v1";
	assert_true(run_until(&c, has_annotation));
	assert_int_equal(k8s_client_patch_node_annotations(k, "n1", keys, rm, 1), 0);
	c.want = NULL;
	assert_true(run_until(&c, has_annotation));
	/* a PATCH the server refuses for good (no such Node): reported, not logged */
	assert_int_equal(k8s_client_patch_node_annotations(k, "nx", keys, vals, 1), 0);
	c.want = "E:PATCH Node nx annotations failed: HTTP 404";
	assert_true(run_until(&c, reported));

	/* a watch event, then an in-stream 410 → relist → the same result */
	assert_int_equal(kubectl_like("POST", "/api/v1/namespaces/default/services",
		"{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web2\"},"
		"\"spec\":{\"clusterIP\":\"10.96.0.11\",\"ports\":[{\"port\":81,\"protocol\":\"TCP\"}]}}"),
		0);
	assert_true(run_until(&c, has_web2));
	assert_int_equal(ctl("compact?expire=1"), 0);
	assert_int_equal(kubectl_like("DELETE", "/api/v1/namespaces/default/services/web2", "{}"), 0);
	assert_true(run_until(&c, web2_gone));
	assert_non_null(cache_service(c.cache, "default/web"));
	if (!strstr(c.reports, "I:Services watch: resourceVersion ") ||
	    !strstr(c.reports, "; relisting\n"))
		fail_msg("the 410 was not reported: %s", c.reports);

	/* free with watches open */
	k8s_client_free(k);
	cache_free(c.cache);
	ev_loop_destroy(c.loop);
}

static bool np_synced(struct ctx *c)
{
	return synced(c) && cache_synced(c->cache, SY_KIND_POD) &&
	       cache_synced(c->cache, SY_KIND_NAMESPACE) &&
	       cache_synced(c->cache, SY_KIND_NETWORKPOLICY) && cache_pod(c->cache, "x/a") &&
	       cache_netpolicy(c->cache, "x/p");
}

static bool pod_relabelled(struct ctx *c)
{
	const struct pod *p = cache_pod(c->cache, "x/a");

	return p && np_labels_get(&p->labels, "app") && !strcmp(np_labels_get(&p->labels, "app"), "db");
}

static bool pod_running(struct ctx *c)
{
	const struct pod *p = cache_pod(c->cache, "x/a");

	return p && p->n_ips == 1 && !strcmp(sy_addr_str(&p->ips[0]), "10.244.1.7");
}

static bool decode_error_seen(struct ctx *c)
{
	return cache_get_stats(c->cache)->decode_errors >= 1;
}

static bool relisted(struct ctx *c)
{
	return c->m->relists_total >= 1 && np_synced(c);
}

static void test_network_policy(void **state)
{
	struct sy_metrics metrics;
	struct k8s_conn conn = { .server = url };
	struct k8s_client *k = NULL;
	struct ctx c = { .loop = ev_loop_new(EVFLAG_AUTO) };
	struct netpolicy *good;
	char err[256] = "";

	sy_metrics_init(&metrics);
	c.m = &metrics;
	c.cache = cache_new(on_change, &c);
	assert_int_equal(ctl_load("[{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"x\","
		"\"labels\":{\"team\":\"a\"}}},"
		"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\",\"namespace\":\"x\","
		"\"labels\":{\"app\":\"web\"}},\"spec\":{\"nodeName\":\"n2\",\"containers\":[{\"name\":\"c\","
		"\"ports\":[{\"name\":\"http\",\"containerPort\":8080}]}]},"
		"\"status\":{\"phase\":\"Running\",\"podIP\":\"10.244.1.5\"}},"
		"{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\",\"metadata\":{\"name\":\"p\","
		"\"namespace\":\"x\"},\"spec\":{\"podSelector\":{},\"ingress\":[{\"ports\":[{\"port\":\"http\"}]}]}}]"),
		0);
	assert_int_equal(k8s_client_new(&k, &(struct k8s_client_args){
		.loop = c.loop, .conn = &conn, .cache = c.cache, .metrics = &metrics, .node_name = "n1",
		.network_policy = true, .report = { on_report, &c } }, err, sizeof(err)), 0);
	assert_true(run_until(&c, np_synced));
	/* pods of every node; the namespace label the API server sets */
	assert_int_equal(cache_pod(c.cache, "x/a")->ports[0].port, 8080);
	assert_string_equal(np_labels_get(&cache_namespace(c.cache, "x")->labels,
					  "kubernetes.io/metadata.name"), "x");
	assert_non_null(cache_namespace(c.cache, "kube-system"));
	/* a relabel and a status update arrive by watch */
	assert_int_equal(kubectl_patch("/api/v1/namespaces/x/pods/a", "{\"metadata\":{\"labels\":{\"app\":\"db\"}},"
				       "\"status\":{\"podIP\":\"10.0.0.1\"}}"), 0);
	assert_true(run_until(&c, pod_relabelled));
	assert_string_equal(sy_addr_str(&cache_pod(c.cache, "x/a")->ips[0]), "10.244.1.5");	/* status ignored */
	assert_int_equal(kubectl_patch("/api/v1/namespaces/x/pods/a/status",
				       "{\"status\":{\"podIP\":\"10.244.1.7\",\"podIPs\":[{\"ip\":\"10.244.1.7\"}]}}"), 0);
	assert_true(run_until(&c, pod_running));
	/* the API refuses an invalid policy; a broken one that gets through is skipped, the good one stays */
	assert_true(kubectl_like("PUT", "/apis/networking.k8s.io/v1/namespaces/x/networkpolicies/p",
		"{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\",\"metadata\":{\"name\":\"p\","
		"\"namespace\":\"x\"},\"spec\":{\"ingress\":[{\"ports\":[{\"port\":80,\"endPort\":70}]}]}}") != 0);
	good = cache_netpolicy(c.cache, "x/p");
	assert_int_equal(ctl_load("{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\","
		"\"metadata\":{\"name\":\"p\",\"namespace\":\"x\"},"
		"\"spec\":{\"ingress\":[{\"ports\":[{\"port\":80,\"endPort\":70}]}]}}"), 0);
	assert_true(run_until(&c, decode_error_seen));
	assert_ptr_equal(cache_netpolicy(c.cache, "x/p"), good);
	/* a relist keeps it too */
	assert_int_equal(ctl("compact?expire=1"), 0);
	assert_true(run_until(&c, relisted));
	assert_ptr_equal(cache_netpolicy(c.cache, "x/p"), good);
	assert_true(pod_running(&c));
	k8s_client_free(k);
	cache_free(c.cache);
	ev_loop_destroy(c.loop);
}

static void test_all_nodes_and_errors(void **state)
{
	struct sy_metrics metrics;
	struct k8s_conn conn = { .server = url };
	struct k8s_conn bad = { .server = (char *)"ftp://x" };
	struct k8s_client *k = NULL;
	struct ctx c = { .loop = ev_loop_new(EVFLAG_AUTO) };

	sy_metrics_init(&metrics);
	c.cache = cache_new(on_change, &c);
	assert_null(client(&c, &metrics, &bad, "n1", false, -EINVAL,
			   "API server URL \"ftp://x\" is not http:// or https://"));
	assert_null(client(&c, &metrics, &conn, NULL, false, -EINVAL, "no node name"));
	assert_null(client(&c, &metrics, &(struct k8s_conn){ 0 }, "n1", false, -EINVAL,
			   "no API server URL"));
	k = client(&c, &metrics, &conn, NULL, true, 0, NULL);
	assert_true(run_until(&c, synced));
	assert_non_null(cache_node(c.cache, "n1"));
	assert_non_null(cache_node(c.cache, "n2"));
	k8s_client_free(k);
	cache_free(c.cache);
	ev_loop_destroy(c.loop);
}

static bool cidrs_listed(struct ctx *c)
{
	return synced(c) && cache_synced(c->cache, SY_KIND_SERVICECIDR);
}

static bool has_extra(struct ctx *c)
{
	return hmap_get(cache_service_cidrs(c->cache), "extra") != NULL;
}

static bool extra_gone(struct ctx *c)
{
	return !has_extra(c);
}

/* ServiceCIDRs: listed and watched; bad ones skipped; a server without them does not block. */
static void test_service_cidrs(void **state)
{
	struct sy_metrics metrics;
	struct k8s_conn conn = { .server = url };
	struct k8s_client *k = NULL;
	struct ctx c = { .loop = ev_loop_new(EVFLAG_AUTO) };
	const struct service_cidr *sc;
	char err[256] = "";

	sy_metrics_init(&metrics);
	c.m = &metrics;
	/* a server before 1.33: 404, said once, counts as listed (none) */
	c.cache = cache_new(on_change, &c);
	assert_int_equal(ctl("unserve?resource=servicecidrs"), 0);
	assert_int_equal(k8s_client_new(&k, &(struct k8s_client_args){
		.loop = c.loop, .conn = &conn, .cache = c.cache, .metrics = &metrics, .node_name = "n1",
		.service_cidrs = true, .report = { on_report, &c } }, err, sizeof(err)), 0);
	assert_true(run_until(&c, cidrs_listed));
	assert_int_equal(hmap_count(cache_service_cidrs(c.cache)), 0);
	assert_non_null(strstr(c.reports, "W:ServiceCIDRs list: "));
	assert_non_null(strstr(c.reports, "not served by this API server"));
	k8s_client_free(k);
	cache_free(c.cache);
	assert_int_equal(ctl("serve?resource=servicecidrs"), 0);

	/* served: listed, then watched */
	c.cache = cache_new(on_change, &c);
	cache_set_report(c.cache, &(struct sy_report){ on_report, &c });
	c.reports[0] = 0;
	assert_int_equal(kubectl_like("POST", "/apis/networking.k8s.io/v1/servicecidrs",
		"{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"ServiceCIDR\",\"metadata\":"
		"{\"name\":\"base\"},\"spec\":{\"cidrs\":[\"10.96.0.0/16\",\"fd00:96::/64\"]}}"), 0);
	/* the API refuses two CIDRs of one family */
	assert_true(kubectl_like("POST", "/apis/networking.k8s.io/v1/servicecidrs",
		"{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"ServiceCIDR\",\"metadata\":"
		"{\"name\":\"bad\"},\"spec\":{\"cidrs\":[\"10.97.0.0/16\",\"10.98.0.0/16\"]}}") != 0);
	assert_int_equal(k8s_client_new(&k, &(struct k8s_client_args){
		.loop = c.loop, .conn = &conn, .cache = c.cache, .metrics = &metrics, .node_name = "n1",
		.service_cidrs = true, .report = { on_report, &c } }, err, sizeof(err)), 0);
	assert_true(run_until(&c, cidrs_listed));
	sc = hmap_get(cache_service_cidrs(c.cache), "base");
	assert_non_null(sc);
	assert_int_equal(sc->n_cidrs, 2);
	assert_string_equal(sy_cidr_str(&sc->cidrs[1]), "fd00:96::/64");
	assert_int_equal(kubectl_like("POST", "/apis/networking.k8s.io/v1/servicecidrs",
		"{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"ServiceCIDR\",\"metadata\":"
		"{\"name\":\"extra\"},\"spec\":{\"cidrs\":[\"10.97.0.0/24\"]}}"), 0);
	assert_true(run_until(&c, has_extra));
	/* one that gets through broken is skipped with its reason; the good version stays */
	assert_int_equal(ctl_load("{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"ServiceCIDR\","
		"\"metadata\":{\"name\":\"extra\"},\"spec\":{\"cidrs\":[\"10.97.0.0/24\",\"10.98.0.0/24\"]}}"), 0);
	c.want = "E:ServiceCIDR extra: spec.cidrs: may specify no more than one CIDR";
	assert_true(run_until(&c, reported));
	assert_string_equal(sy_cidr_str(&((const struct service_cidr *)hmap_get(
		cache_service_cidrs(c.cache), "extra"))->cidrs[0]), "10.97.0.0/24");
	/* deleted (no Service in it: its finalizer goes at once) */
	assert_int_equal(kubectl_like("DELETE", "/apis/networking.k8s.io/v1/servicecidrs/extra", "{}"), 0);
	assert_true(run_until(&c, extra_gone));
	assert_non_null(hmap_get(cache_service_cidrs(c.cache), "base"));
	k8s_client_free(k);
	cache_free(c.cache);
	ev_loop_destroy(c.loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_watch_patch),
		cmocka_unit_test(test_all_nodes_and_errors),
		cmocka_unit_test(test_network_policy),
		cmocka_unit_test(test_service_cidrs),
	};

	if (access(PY, X_OK) < 0) {
		fprintf(stderr, "no %s: skipped\n", PY);
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
