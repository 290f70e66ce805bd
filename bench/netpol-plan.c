// SPDX-License-Identifier: Apache-2.0
/*
 * The NetworkPolicy planner alone (policy/netpol.c, pure): PODS pods over
 * NS namespaces and POLICIES policies, spread over NODES nodes (this node is
 * node-0), then single pod / namespace / policy events.  Prints:
 *   - the full build (every object fed as an event) and one full read of
 *     every set, as the kernel side's full sync does;
 *   - the heap of the policy state (malloc'd bytes after − before, from
 *     mallinfo2; the decoded objects, which the cache holds anyway, are
 *     made before) and the planner's own estimate;
 *   - per event, median and max over many events: a pod added, a pod
 *     relabelled, a pod deleted, a namespace relabelled, one policy changed
 *     (selector) — each including reading its deltas and the commit.
 * Usage: bench/netpol-plan [PODS NS POLICIES NODES]  (default 10000 100 1000 10)
 * Run it at several sizes to see that pod events do not grow with them:
 * the generated objects keep what one pod matches constant (100 pods and
 * 10 policies per namespace, teams of 10 namespaces), only the totals grow.
 */
#include <json-c/json.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "switchyard/netpol.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* This thread's CPU time: the machine is shared, wall time includes waiting for a core. */
static double cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static size_t heap(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

static int pods_n, ns_n, pols_n, nodes_n;

/* Teams of 10 namespaces each: a team selector matches 10 namespaces at any size. */
static int teams(void)
{
	return ns_n >= 10 ? ns_n / 10 : 1;
}

static struct pod *mkpod(int i, const char *app, int ipbump)
{
	char buf[2048];
	struct json_object *o;
	struct pod *p = NULL;
	char err[256];
	int ns = i % ns_n;
	unsigned ip = 0x0a800000u + (unsigned)i + (unsigned)ipbump;

	snprintf(buf, sizeof(buf),
		 "{\"metadata\":{\"name\":\"pod-%d\",\"namespace\":\"ns-%d\",\"resourceVersion\":\"%d\","
		 "\"labels\":{\"app\":\"%s\",\"role\":\"%s\",\"pod-template-hash\":\"h%d\"}},"
		 "\"spec\":{\"nodeName\":\"node-%d\",\"containers\":[{\"name\":\"c\",\"ports\":["
		 "{\"name\":\"http\",\"containerPort\":8080},{\"name\":\"metrics\",\"containerPort\":9090},"
		 "{\"name\":\"dns\",\"containerPort\":53,\"protocol\":\"UDP\"}]}]},"
		 "\"status\":{\"phase\":\"Running\",\"podIP\":\"%u.%u.%u.%u\"}}",
		 i, ns, i + 1, app, i % 3 ? "backend" : "frontend", (i / ns_n) % 10, i % nodes_n,
		 ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
	o = json_tokener_parse(buf);
	if (!o || pod_decode(o, &p, err, sizeof(err)) < 0) {
		fprintf(stderr, "pod: %s\n", err);
		exit(1);
	}
	json_object_put(o);
	return p;
}

static struct k8s_namespace *mkns(int n, int team)
{
	char buf[512];
	struct json_object *o;
	struct k8s_namespace *ns = NULL;
	char err[256];

	snprintf(buf, sizeof(buf), "{\"metadata\":{\"name\":\"ns-%d\",\"labels\":{\"team\":\"t-%d\","
		 "\"env\":\"%s\"}}}", n, team, n % 2 ? "prod" : "dev");
	o = json_tokener_parse(buf);
	if (!o || namespace_decode(o, &ns, err, sizeof(err)) < 0) {
		fprintf(stderr, "namespace: %s\n", err);
		exit(1);
	}
	json_object_put(o);
	return ns;
}

/*
 * Policy k of namespace n: number 0 is a default deny of the namespace;
 * the others select one app and allow it from the next app, from the
 * frontends of one team's namespaces (named port), from a CIDR, and
 * egress to the next namespace's DNS and to an app by named port.
 */
static struct netpolicy *mkpol(int i, int variant)
{
	char buf[4096];
	struct json_object *o;
	struct netpolicy *np = NULL;
	char err[256];
	int n = i % ns_n, k = i / ns_n;

	if (k == 0 && !variant)
		snprintf(buf, sizeof(buf), "{\"metadata\":{\"name\":\"pol-%d\",\"namespace\":\"ns-%d\"},"
			 "\"spec\":{\"podSelector\":{},\"policyTypes\":[\"Ingress\"]}}", i, n);
	else
		snprintf(buf, sizeof(buf),
			 "{\"metadata\":{\"name\":\"pol-%d\",\"namespace\":\"ns-%d\"},\"spec\":{"
			 "\"podSelector\":{\"matchLabels\":{\"app\":\"app-%d\"}},"
			 "\"ingress\":[{\"from\":[{\"podSelector\":{\"matchLabels\":{\"app\":\"app-%d\"}}},"
			 "{\"namespaceSelector\":{\"matchLabels\":{\"team\":\"t-%d\"}},"
			 "\"podSelector\":{\"matchExpressions\":[{\"key\":\"role\",\"operator\":\"In\",\"values\":[\"frontend\"]}]}}],"
			 "\"ports\":[{\"port\":\"http\"},{\"port\":8443}]},"
			 "{\"from\":[{\"ipBlock\":{\"cidr\":\"192.168.0.0/16\",\"except\":[\"192.168.1.0/24\"]}}],"
			 "\"ports\":[{\"port\":9000,\"endPort\":9100}]}],"
			 "\"egress\":[{\"to\":[{\"namespaceSelector\":{\"matchLabels\":{\"kubernetes.io/metadata.name\":\"ns-%d\"}}}],"
			 "\"ports\":[{\"port\":53,\"protocol\":\"UDP\"}]},"
			 "{\"to\":[{\"podSelector\":{\"matchLabels\":{\"app\":\"app-%d\"}}}],\"ports\":[{\"port\":\"metrics\"}]}]}}",
			 i, n, (k + variant) % 10, (k + 1) % 10, n % teams(), (n + 1) % ns_n, (k + 2) % 10);
	o = json_tokener_parse(buf);
	if (!o || netpolicy_decode(o, &np, err, sizeof(err)) < 0) {
		fprintf(stderr, "policy: %s\n", err);
		exit(1);
	}
	json_object_put(o);
	return np;
}

static void drain(struct policy_state *ps)
{
	unsigned n;

	netpol_changes(ps, &n);
	netpol_deltas_foreach(ps, NULL, NULL);
	netpol_commit(ps);
}

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double *tc;	/* CPU times beside the wall times */

static void report(const char *what, double *t, int n)
{
	qsort(t, n, sizeof(*t), dcmp);
	qsort(tc, n, sizeof(*tc), dcmp);
	printf("%-26s wall median %7.1f us p99 %7.1f max %8.1f | cpu median %7.1f us p99 %7.1f max %8.1f (%d)\n",
	       what, t[n / 2] * 1e6, t[n * 99 / 100] * 1e6, t[n - 1] * 1e6, tc[n / 2] * 1e6,
	       tc[n * 99 / 100] * 1e6, tc[n - 1] * 1e6, n);
}

struct rd {
	size_t n;
};

static void count_cb(void *arg, const struct np_elem *e)
{
	(void)e;
	((struct rd *)arg)->n++;
}

static const struct policy_state *reading;

/* Every set of a policy, as the kernel side's full sync reads them. */
static void read_policy(void *arg, const struct np_policy *p)
{
	netpol_set_foreach(reading, (struct np_set_ref){ p->id, NP_SET_TARGETS, 0, 0 }, count_cb, arg);
	for (int d = 0; d < 2; d++)
		for (unsigned r = 0; r < p->np->n_rules[d]; r++) {
			netpol_set_foreach(reading, (struct np_set_ref){ p->id, NP_SET_PEERS, (uint8_t)d,
					   (uint16_t)r }, count_cb, arg);
			netpol_set_foreach(reading, (struct np_set_ref){ p->id, NP_SET_NAMED, (uint8_t)d,
					   (uint16_t)r }, count_cb, arg);
		}
}

int main(int argc, char **argv)
{
	struct pod **pods;
	struct k8s_namespace **nss;
	struct netpolicy **pols;
	struct policy_state *ps;
	struct netpol_stats st;
	size_t h0, h1, hp;
	double t0, c0, t_build, t_read, c_build, c_read, *t;
	int events = 1000;
	struct rd rd = { 0 };

	pods_n = argc > 1 ? atoi(argv[1]) : 10000;
	ns_n = argc > 2 ? atoi(argv[2]) : 100;
	pols_n = argc > 3 ? atoi(argv[3]) : 1000;
	nodes_n = argc > 4 ? atoi(argv[4]) : 10;
	if (pods_n < 1 || ns_n < 1 || pols_n < 1 || nodes_n < 1) {
		fprintf(stderr, "usage: %s [PODS NS POLICIES NODES]\n", argv[0]);
		return 2;
	}
	pods = calloc(pods_n, sizeof(*pods));
	nss = calloc(ns_n, sizeof(*nss));
	pols = calloc(pols_n, sizeof(*pols));
	t = calloc(events, sizeof(*t));
	tc = calloc(events, sizeof(*tc));
	h0 = heap();
	for (int i = 0; i < pods_n; i++) {
		char app[16];

		snprintf(app, sizeof(app), "app-%d", (i / ns_n) % 10);
		pods[i] = mkpod(i, app, 0);
	}
	for (int i = 0; i < ns_n; i++)
		nss[i] = mkns(i, i % teams());
	hp = heap() - h0;	/* the decoded pods (what the cache holds of them) */
	for (int i = 0; i < pols_n; i++)
		pols[i] = mkpol(i, 0);

	h0 = heap();
	t0 = now();
	c0 = cpu();
	ps = netpol_new("node-0");
	for (int i = 0; i < ns_n; i++)
		netpol_namespace_event(ps, nss[i]->meta.key, nss[i]);
	for (int i = 0; i < pols_n; i++)
		netpol_policy_event(ps, pols[i]->meta.key, pols[i]);
	for (int i = 0; i < pods_n; i++)
		netpol_pod_event(ps, pods[i]->meta.key, pods[i]);
	t_build = now() - t0;
	c_build = cpu() - c0;
	t0 = now();
	c0 = cpu();
	{
		reading = ps;
		netpol_policy_foreach(ps, read_policy, &rd);
		for (int k = NP_SET_LOCAL; k <= NP_SET_ISOLATED_EG; k++)
			netpol_set_foreach(ps, (struct np_set_ref){ 0, (uint8_t)k, 0, 0 }, count_cb, &rd);
	}
	drain(ps);
	t_read = now() - t0;
	c_read = cpu() - c0;
	h1 = heap();
	netpol_get_stats(ps, &st);
	printf("netpol-plan: %d pods, %d namespaces, %d policies, %d nodes (this node: %u local pods)\n",
	       pods_n, ns_n, pols_n, nodes_n, st.local_pods);
	printf("full build (all events)            %8.1f ms wall %8.1f ms cpu\n", t_build * 1e3,
	       c_build * 1e3);
	printf("full read of every set + commit    %8.1f ms wall %8.1f ms cpu\n", t_read * 1e3,
	       c_read * 1e3);
	printf("set elements                       %8zu (read: %zu)\n", st.elements, rd.n);
	printf("decoded pods (+ namespaces) heap   %8.2f MB   (%.0f bytes per pod)\n",
	       (double)hp / 1048576, (double)hp / pods_n);
	printf("policy state heap (mallinfo2)      %8.2f MB   (planner's estimate %.2f MB)\n",
	       (double)(h1 - h0) / 1048576, (double)st.bytes / 1048576);

	/* a new local pod (and its removal, so the sizes stay) */
	for (int e = 0; e < events; e++) {
		int j = ((pods_n + e * nodes_n) / nodes_n + 1) * nodes_n;	/* new, on node-0 */
		struct pod *np = mkpod(j, "app-3", 1);

		t0 = now();
		c0 = cpu();
		netpol_pod_event(ps, np->meta.key, np);
		drain(ps);
		t[e] = now() - t0;
		tc[e] = cpu() - c0;
		netpol_pod_event(ps, np->meta.key, NULL);
		drain(ps);
		pod_unref(np);
	}
	report("pod added (local)", t, events);
	for (int e = 0; e < events; e++) {
		int i = (e * 7919) % pods_n;
		struct pod *np;
		char app[16];

		snprintf(app, sizeof(app), "app-%d", ((i / ns_n) + 1 + e) % 10);
		np = mkpod(i, app, 0);
		t0 = now();
		c0 = cpu();
		netpol_pod_event(ps, np->meta.key, np);
		drain(ps);
		t[e] = now() - t0;
		tc[e] = cpu() - c0;
		pod_unref(pods[i]);
		pods[i] = np;
	}
	report("pod relabelled", t, events);
	for (int e = 0; e < events; e++) {
		int i = (e * 104729) % pods_n;

		t0 = now();
		c0 = cpu();
		netpol_pod_event(ps, pods[i]->meta.key, NULL);
		drain(ps);
		t[e] = now() - t0;
		tc[e] = cpu() - c0;
		netpol_pod_event(ps, pods[i]->meta.key, pods[i]);
		drain(ps);
	}
	report("pod deleted", t, events);
	for (int e = 0; e < 200; e++) {
		int n = e % ns_n;
		struct k8s_namespace *x = mkns(n, (n + e + 1) % teams());

		t0 = now();
		c0 = cpu();
		netpol_namespace_event(ps, x->meta.key, x);
		drain(ps);
		t[e] = now() - t0;
		tc[e] = cpu() - c0;
		namespace_unref(nss[n]);
		nss[n] = x;
	}
	report("namespace relabelled", t, 200);
	for (int e = 0; e < 200; e++) {
		int i = (e * 31) % pols_n;
		struct netpolicy *x = mkpol(i, 1 + e % 5);

		t0 = now();
		c0 = cpu();
		netpol_policy_event(ps, x->meta.key, x);
		drain(ps);
		t[e] = now() - t0;
		tc[e] = cpu() - c0;
		netpolicy_unref(pols[i]);
		pols[i] = x;
	}
	report("policy selector changed", t, 200);
	netpol_free(ps);
	for (int i = 0; i < pods_n; i++)
		pod_unref(pods[i]);
	for (int i = 0; i < ns_n; i++)
		namespace_unref(nss[i]);
	for (int i = 0; i < pols_n; i++)
		netpolicy_unref(pols[i]);
	free(pods);
	free(nss);
	free(pols);
	free(t);
	free(tc);
	return 0;
}
