// SPDX-License-Identifier: Apache-2.0
/* The manifest decoder: YAML (multi-document, List), JSON, and syntax errors. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "helpers.h"
#include <ev.h>
#include <sys/stat.h>
#include <unistd.h>
#include "switchyard/log.h"
#include "switchyard/manifest.h"
#include "switchyard/model.h"
#include "switchyard/netpol.h"

static struct json_object *parse_ok(const char *text, size_t want)
{
	struct json_object *arr;
	char err[256];

	if (manifest_parse(text, strlen(text), &arr, err, sizeof(err)) < 0)
		fail_msg("parse failed: %s", err);
	assert_int_equal(json_object_array_length(arr), want);
	return arr;
}

static const char *str_at(struct json_object *arr, size_t i, const char *a, const char *b)
{
	struct json_object *o = json_object_array_get_idx(arr, i), *x, *y;

	if (!json_object_object_get_ex(o, a, &x))
		return NULL;
	if (!b)
		return json_object_get_string(x);
	if (!json_object_object_get_ex(x, b, &y))
		return NULL;
	return json_object_get_string(y);
}

static void test_yaml_multi(void **state)
{
	struct json_object *arr = parse_ok(
		"apiVersion: v1\nkind: Service\nmetadata:\n  name: a\nspec:\n  ports:\n  - port: 80\n"
		"    name: \"80\"\n    x: yes\n    t: true\n    f: 1.5\n    n: ~\n    o: 0755\n"
		"---\n# only a comment\n---\nkind: Node\nmetadata: {name: n1}\n", 2);
	struct json_object *spec, *ports, *p0, *v;

	assert_string_equal(str_at(arr, 0, "kind", NULL), "Service");
	assert_string_equal(str_at(arr, 1, "metadata", "name"), "n1");
	json_object_object_get_ex(json_object_array_get_idx(arr, 0), "spec", &spec);
	json_object_object_get_ex(spec, "ports", &ports);
	p0 = json_object_array_get_idx(ports, 0);
	json_object_object_get_ex(p0, "port", &v);
	assert_true(json_object_is_type(v, json_type_int));
	json_object_object_get_ex(p0, "name", &v);
	assert_true(json_object_is_type(v, json_type_string));	/* quoted stays a string */
	json_object_object_get_ex(p0, "t", &v);
	assert_true(json_object_is_type(v, json_type_boolean));
	json_object_object_get_ex(p0, "f", &v);
	assert_true(json_object_is_type(v, json_type_double));
	json_object_object_get_ex(p0, "o", &v);
	assert_true(json_object_is_type(v, json_type_string));	/* not decimal */
	assert_false(json_object_object_get_ex(p0, "n", &v) && v);
	json_object_put(arr);
}

static void test_lists(void **state)
{
	struct json_object *arr = parse_ok(
		"kind: List\nitems:\n- kind: Service\n  metadata: {name: a}\n- kind: Node\n  metadata: {name: b}\n", 2);

	assert_string_equal(str_at(arr, 1, "kind", NULL), "Node");
	json_object_put(arr);
	/* a typed list's items get the kind */
	arr = parse_ok("{\"kind\":\"ServiceList\",\"items\":[{\"metadata\":{\"name\":\"a\"}}]}", 1);
	assert_string_equal(str_at(arr, 0, "kind", NULL), "Service");
	json_object_put(arr);
	arr = parse_ok("[{\"kind\":\"Node\"},{\"kind\":\"Service\"}]", 2);
	json_object_put(arr);
	/* JSON: one value per file (a YAML stream of one flow document) */
	arr = parse_ok("{\"kind\": \"Node\", \"metadata\": {\"name\": \"a\\/b\\u00e9\"}}", 1);
	assert_string_equal(str_at(arr, 0, "metadata", "name"), "a/b\xc3\xa9");
	json_object_put(arr);
	/* items of a List stream out one by one, with or without their own kind */
	arr = parse_ok("kind: List\nitems:\n- {kind: Service, metadata: {name: a}}\n- metadata: {name: b}\n", 2);
	json_object_put(arr);
	/* anchors and aliases */
	arr = parse_ok("kind: Service\nmetadata: &m {name: a}\nx: *m\n", 1);
	assert_string_equal(str_at(arr, 0, "x", "name"), "a");
	json_object_put(arr);
}

static void test_errors(void **state)
{
	static const char *const bad[] = {
		"kind: Service\nmetadata: {name: a\n",
		"a: b\n c: d\n: : :\n",
		"{\"kind\": ",
		"key: [1, 2\n",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct json_object *arr = NULL;
		char err[256] = "";

		if (manifest_parse(bad[i], strlen(bad[i]), &arr, err, sizeof(err)) != -EINVAL)
			fail_msg("case %zu accepted", i);
		assert_true(strlen(err) > 0);
	}
}

static void test_deep_nesting(void **state)
{
	char buf[1024];
	struct json_object *arr = NULL;
	char err[256];
	size_t i;

	for (i = 0; i < 200; i++)
		buf[i] = '[';
	buf[i] = '\0';
	assert_int_equal(manifest_parse(buf, strlen(buf), &arr, err, sizeof(err)), -EINVAL);
	for (i = 0; i < 200; i++)
		buf[2 * i] = '-', buf[2 * i + 1] = ' ';
	strcpy(buf + 400, "x\n");
	assert_int_equal(manifest_parse(buf, strlen(buf), &arr, err, sizeof(err)), -EINVAL);
}

/* Issue 13.1: an alias inside the collection it names would build an object containing itself. */
static void test_alias_cycle(void **state)
{
	static const char *const bad[] = {
		"kind: Service\nmetadata: &m\n  name: a\n  labels: {a: *m}\n",
		"a: &s [1, *s]\n",
		"- &x {b: [c, {d: *x}]}\n",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct json_object *arr = NULL;
		char err[256] = "";

		assert_int_equal(manifest_parse(bad[i], strlen(bad[i]), &arr, err, sizeof(err)), -ELOOP);
		assert_null(arr);
		assert_non_null(strstr(err, "contains it"));
	}
	/* an alias to a finished sibling is fine */
	json_object_put(parse_ok("kind: Service\nmetadata: &m {name: a}\nspec: {x: *m, y: *m}\n", 1));
}

/* Issue 13.2: alias expansion is counted as written out; caps name the problem. */
static void test_alias_bomb(void **state)
{
	char text[2048], *p = text;
	struct json_object *arr = NULL;
	char err[256] = "";

	p += sprintf(p, "kind: Service\nmetadata: {name: a}\na0: &a0 [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n");
	for (int i = 1; i <= 8; i++)
		p += sprintf(p, "a%d: &a%d [*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d]\n", i, i,
			     i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
	assert_int_equal(manifest_parse(text, strlen(text), &arr, err, sizeof(err)), -E2BIG);
	assert_null(arr);
	assert_non_null(strstr(err, "object too large"));
	/* many small aliases in one document */
	p = text + sprintf(text, "a: &a x\nb: [");
	for (int i = 0; i < 300; i++)
		p += sprintf(p, "*a,");
	strcpy(p, "x]\n");
	json_object_put(parse_ok(text, 1));
	/* one huge scalar: refused while it is read, not after */
	{
		size_t n = (4u << 20);
		char *big = malloc(n + 64);

		assert_non_null(big);
		p = big + sprintf(big, "kind: Node\nmetadata: {name: a}\nx: ");
		memset(p, 'x', n);
		p[n] = '\n';
		p[n + 1] = '\0';
		assert_int_equal(manifest_parse(big, strlen(big), &arr, err, sizeof(err)), -E2BIG);
		assert_non_null(strstr(err, "object too large"));
		free(big);
	}
}

/* The cap is per object: a List of many objects streams through. */
static void test_big_list(void **state)
{
	size_t cap = 8u << 20, off = 0;
	char *t = malloc(cap);
	struct json_object *arr;

	assert_non_null(t);
	off += (size_t)sprintf(t, "{\"kind\":\"List\",\"items\":[");
	for (int i = 0; i < 40000; i++)
		off += (size_t)sprintf(t + off, "%s{\"kind\":\"Node\",\"metadata\":{\"name\":\"n%d\","
				       "\"annotations\":{\"a\":\"%0100d\"}}}", i ? "," : "", i, i);
	strcpy(t + off, "]}");
	assert_true(strlen(t) > (4u << 20));
	arr = parse_ok(t, 40000);
	json_object_put(arr);
	/* a top-level JSON array streams too */
	off = 0;
	for (int i = 0; i < 40000; i++)
		off += (size_t)sprintf(t + off, "%s{\"kind\":\"Node\",\"metadata\":{\"name\":\"n%d\","
				       "\"annotations\":{\"a\":\"%0100d\"}}}", i ? "," : "[", i, i);
	strcpy(t + off, "]");
	arr = parse_ok(t, 40000);
	json_object_put(arr);
	free(t);
}

/* The directory source: the NetworkPolicy kinds reach the cache, a removed file removes them. */
static void test_policy_kinds(void **state)
{
	char dir[] = "/tmp/sy-manifest-XXXXXX", path[256];
	struct cache *c = cache_new(NULL, NULL);
	struct manifest_source *m;
	struct pod *p;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/np.yaml", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("apiVersion: v1\nkind: Namespace\nmetadata: {name: x, labels: {team: a}}\n---\n"
	      "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x, labels: {app: web}}\n"
	      "spec:\n  nodeName: n1\n  containers:\n  - name: c\n    ports:\n"
	      "    - {name: http, containerPort: 8080}\n"
	      "status: {phase: Running, podIP: 10.244.1.5, podIPs: [{ip: 10.244.1.5}]}\n---\n"
	      "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
	      "metadata: {name: p, namespace: x}\n"
	      "spec:\n  podSelector: {matchLabels: {app: web}}\n  ingress:\n"
	      "  - from: [{namespaceSelector: {matchLabels: {team: a}}}]\n    ports: [{port: http}]\n", f);
	fclose(f);
	assert_int_equal(manifest_source_new(&m, EV_DEFAULT, dir, c, NULL), 0);
	manifest_source_reload(m);
	assert_non_null(cache_namespace(c, "x"));
	p = cache_pod(c, "x/a");
	assert_non_null(p);
	assert_int_equal(p->n_ports, 1);
	assert_int_equal(p->ports[0].port, 8080);
	assert_string_equal(sy_addr_str(&p->ips[0]), "10.244.1.5");
	assert_non_null(cache_netpolicy(c, "x/p"));
	assert_string_equal(cache_netpolicy(c, "x/p")->rules[NP_INGRESS][0].ports[0].name, "http");
	assert_true(cache_synced(c, SY_KIND_NETWORKPOLICY));
	unlink(path);
	manifest_source_reload(m);
	assert_null(cache_pod(c, "x/a"));
	assert_null(cache_namespace(c, "x"));
	assert_null(cache_netpolicy(c, "x/p"));
	manifest_source_free(m);
	cache_free(c);
	rmdir(dir);
}

/*
 * A file over 64 MiB (the old cap; a List of 50,000 Services is 67 MB) is
 * read, streamed from its descriptor, and read again when it changes.
 */
static void test_large_file(void **state)
{
	char dir[] = "/tmp/sy-manifest-XXXXXX", path[256], name[32];
	struct cache *c = cache_new(NULL, NULL);
	struct manifest_source *m;
	enum { N = 34, PAD = 2 << 20 };
	char *pad = xmalloc(PAD + 1);
	const struct service *s;
	struct stat st;
	FILE *f;

	(void)state;
	memset(pad, 'a', PAD);
	pad[PAD] = 0;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/all.json", dir);
	for (int round = 0; round < 2; round++) {
		f = fopen(path, "w");
		assert_non_null(f);
		fputs("{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[", f);
		for (int i = 0; i < N; i++)
			fprintf(f, "%s{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":"
				"{\"name\":\"s%d\",\"namespace\":\"d\",\"annotations\":{\"pad\":\"%s\"}},"
				"\"spec\":{\"clusterIP\":\"10.0.%d.%d\",\"ports\":[{\"port\":80}]}}",
				i ? "," : "", i, pad, round, i + 1);
		fputs("]}\n", f);
		fclose(f);
		assert_int_equal(stat(path, &st), 0);
		assert_true(st.st_size > (64 << 20));
		if (!round) {
			assert_int_equal(manifest_source_new(&m, EV_DEFAULT, dir, c, NULL), 0);
			assert_false(cache_synced(c, SY_KIND_SERVICE));
		}
		manifest_source_reload(m);
		assert_true(cache_synced(c, SY_KIND_SERVICE));
		assert_int_equal(hmap_count(cache_services(c)), N);
		for (int i = 0; i < N; i++) {
			char want[32];

			snprintf(name, sizeof(name), "d/s%d", i);
			s = cache_service(c, name);
			assert_non_null(s);
			snprintf(want, sizeof(want), "10.0.%d.%d", round, i + 1);
			assert_string_equal(sy_addr_str(&s->cluster_ip), want);
		}
	}
	manifest_source_free(m);
	cache_free(c);
	free(pad);
	unlink(path);
	rmdir(dir);
}

/* What the source and the cache report, one line each ("E msg\n"). */
static char reported[4096];

static void report(void *arg, char sev, const char *msg)
{
	size_t off = strlen(reported);

	(void)arg;
	snprintf(reported + off, sizeof(reported) - off, "%c %s\n", sev, msg);
}

/*
 * A file some process holds open for writing is not read: the first listing
 * (cache_synced) waits for it; its close (inotify) completes it.
 */
static void test_open_for_writing(void **state)
{
	char dir[] = "/tmp/sy-manifest-XXXXXX", a[256], b[256];
	struct sy_report rep = { report, NULL };
	struct cache *c = cache_new(NULL, NULL);
	struct manifest_source *m;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(a, sizeof(a), "%s/a.yaml", dir);
	snprintf(b, sizeof(b), "%s/b.yaml", dir);
	f = fopen(a, "w");
	assert_non_null(f);
	fputs("kind: Service\nmetadata: {name: a, namespace: d}\n"
	      "spec: {clusterIP: 10.0.0.1, ports: [{port: 80}]}\n", f);
	fclose(f);
	f = fopen(b, "w");
	assert_non_null(f);
	fputs("kind: Service\nmetadata: {name: b, namespace: d}\n", f);
	fflush(f);
	assert_int_equal(manifest_source_new(&m, EV_DEFAULT, dir, c, NULL), 0);
	manifest_source_reload(m);
	assert_false(cache_synced(c, SY_KIND_SERVICE));
	assert_false(cache_synced(c, SY_KIND_ENDPOINTSLICE));
	fputs("spec: {clusterIP: 10.0.0.2, ports: [{port: 80}]}\n", f);
	fclose(f);
	for (int i = 0; i < 100 && !cache_synced(c, SY_KIND_SERVICE); i++)
		ev_run(EV_DEFAULT, EVRUN_ONCE);
	assert_true(cache_synced(c, SY_KIND_SERVICE));
	assert_true(cache_synced(c, SY_KIND_ENDPOINTSLICE));
	assert_non_null(cache_service(c, "d/a"));
	assert_non_null(cache_service(c, "d/b"));
	assert_string_equal(sy_addr_str(&cache_service(c, "d/b")->cluster_ip), "10.0.0.2");
	manifest_source_free(m);
	cache_free(c);

	/* a writer that never closes: after the wait the file is read as it is */
	c = cache_new(NULL, NULL);
	f = fopen(b, "w");
	assert_non_null(f);
	fputs("kind: Service\nmetadata: {name: b, namespace: d}\n"
	      "spec: {clusterIP: 10.0.0.3, ports: [{port: 80}]}\n", f);
	fflush(f);
	reported[0] = 0;
	assert_int_equal(manifest_source_new(&m, EV_DEFAULT, dir, c, &rep), 0);
	manifest_source_set_writer_wait(m, 0.2);
	manifest_source_reload(m);
	assert_false(cache_synced(c, SY_KIND_SERVICE));
	assert_non_null(strstr(reported, "b.yaml: open for writing; read when it is closed (at the "
				  "latest in 0 s); the first sync waits for it"));
	for (int i = 0; i < 100 && !cache_synced(c, SY_KIND_SERVICE); i++)
		ev_run(EV_DEFAULT, EVRUN_ONCE);
	assert_true(cache_synced(c, SY_KIND_SERVICE));
	assert_non_null(strstr(reported, "b.yaml: still open for writing after 0 s; reading it as "
				  "it is"));
	assert_string_equal(sy_addr_str(&cache_service(c, "d/b")->cluster_ip), "10.0.0.3");
	assert_non_null(cache_service(c, "d/a"));
	fclose(f);
	manifest_source_free(m);
	cache_free(c);
	unlink(a);
	unlink(b);
	rmdir(dir);
}


static void write_file(const char *dir, const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* A JSON List of n Services and their slices (over 1 MiB from n = 1,500), "kind" after "items". */
static char *json_list(unsigned n, bool typed)
{
	size_t cap = (size_t)n * 1200 + 256, off = 0;
	char *t = xmalloc(cap);

	off += (size_t)snprintf(t + off, cap - off, "{\"apiVersion\": \"v1\", \"items\": [\n");
	for (unsigned i = 0; i < n; i++) {
		off += (size_t)snprintf(t + off, cap - off,
			"%s {%s\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"s%u\",\"namespace\":\"d\","
			"\"labels\":{\"a\":\"x\\\"y\\\\z\\u00e9\",\"n\":\"%u\"},\"annotations\":{\"k\":null,"
			"\"b\":\"[{}]\"}},\"spec\":{\"type\":\"%s\",\"clusterIP\":\"10.1.%u.%u\","
			"\"ports\":[{\"name\":\"a\",\"port\":80,\"targetPort\":8080%s},"
			"{\"name\":\"b\",\"port\":53,\"protocol\":\"UDP\",\"targetPort\":\"dns\"}]}}",
			i ? "," : "", typed ? "" : "\"kind\":\"Service\",", i, i,
			i % 10 ? "ClusterIP" : "NodePort", i / 250, i % 250 + 1,
			i % 10 ? "" : ",\"nodePort\":30080");
		if (typed)
			continue;
		off += (size_t)snprintf(t + off, cap - off,
			",\n {\"kind\":\"EndpointSlice\",\"apiVersion\":\"discovery.k8s.io/v1\","
			"\"metadata\":{\"name\":\"s%u-x\",\"namespace\":\"d\",\"labels\":"
			"{\"kubernetes.io/service-name\":\"s%u\"}},\"addressType\":\"IPv4\","
			"\"ports\":[{\"name\":\"a\",\"port\":8080},{\"name\":\"b\",\"port\":5353,"
			"\"protocol\":\"UDP\"}],\"endpoints\":[{\"addresses\":[\"10.2.%u.%u\"],"
			"\"conditions\":{\"ready\":%s,\"serving\":true},\"nodeName\":\"n1\"},"
			"{\"addresses\":[\"10.3.%u.%u\"],\"conditions\":{}}]}",
			i, i, i / 250, i % 250 + 1, i % 3 ? "true" : "false", i / 250, i % 250 + 1);
	}
	snprintf(t + off, cap - off, "\n], \"kind\": \"%s\", \"metadata\": {\"resourceVersion\": \"7\"}}\n",
		 typed ? "ServiceList" : "List");
	return t;
}

static struct cache *load_dir_text(const char *name, const char *text, struct manifest_source **m,
				   char *dir)
{
	struct cache *c = cache_new(NULL, NULL);

	strcpy(dir, "/tmp/sy-manifest-XXXXXX");
	assert_non_null(mkdtemp(dir));
	write_file(dir, name, text);
	assert_int_equal(manifest_source_new(m, EV_DEFAULT, dir, c, NULL), 0);
	manifest_source_reload(*m);
	assert_true(cache_synced(c, SY_KIND_SERVICE));
	return c;
}

static void drop_dir(const char *dir, const char *name, struct manifest_source *m, struct cache *c)
{
	char path[256];

	manifest_source_free(m);
	cache_free(c);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	rmdir(dir);
}

/*
 * A JSON List over 1 MiB goes item by item through json-c: the cache holds
 * exactly what the YAML path makes of the same text (a comment first makes
 * it YAML); a typed List's items without a kind get it; a syntax error is
 * reported with its line by the YAML path.
 */
static void test_json_list(void **state)
{
	char d1[32], d2[32], d3[32], *t = json_list(1500, false), *y;
	struct manifest_source *m1, *m2, *m3;
	struct cache *c1, *c2, *c3;
	struct hmap_iter it;
	const char *k;
	void *v;

	(void)state;
	assert_true(strlen(t) > (1u << 20));
	c1 = load_dir_text("all.json", t, &m1, d1);
	y = xmalloc(strlen(t) + 16);
	strcpy(y, "# yaml\n");
	strcat(y, t);
	c2 = load_dir_text("all.yaml", y, &m2, d2);
	assert_int_equal(hmap_count(cache_services(c1)), 1500);
	assert_int_equal(hmap_count(cache_slices(c1)), 1500);
	assert_int_equal(hmap_count(cache_services(c2)), 1500);
	assert_int_equal(hmap_count(cache_slices(c2)), 1500);
	hmap_iter_init(&it, cache_services(c1));
	while (hmap_iter_next(&it, &k, &v)) {
		const struct service *a = v, *b = cache_service(c2, k);

		assert_non_null(b);
		assert_int_equal(a->content_hash, b->content_hash);
		assert_int_equal(a->n_ports, 2);
	}
	hmap_iter_init(&it, cache_slices(c1));
	while (hmap_iter_next(&it, &k, &v)) {
		const struct endpoint_slice *a = v, *b = hmap_get(cache_slices(c2), k);

		assert_non_null(b);
		assert_int_equal(a->content_hash, b->content_hash);
		assert_int_equal(a->n_eps, 2);
	}
	assert_string_equal(sy_addr_str(&cache_service(c1, "d/s1499")->cluster_ip), "10.1.5.250");
	drop_dir(d1, "all.json", m1, c1);
	drop_dir(d2, "all.yaml", m2, c2);
	free(y);
	free(t);

	/*
	 * a typed List whose items have no kind; the first item's label key
	 * is 1,100 characters, longer than libyaml takes ("did not find
	 * expected ',' or '}'", the items after it lost): all 4,000 read
	 * shows the List went through json-c
	 */
	t = json_list(4000, true);
	assert_true(strlen(t) > (1u << 20));
	{
		char *p = strstr(t, "\"n\":\"0\"");
		size_t len = strlen(t);
		char *u = xmalloc(len + 1200);

		assert_non_null(p);
		memcpy(u, t, (size_t)(p - t));
		u[p - t] = '"';
		memset(u + (p - t) + 1, 'n', 1100);
		strcpy(u + (p - t) + 1101, p + 2);
		free(t);
		t = u;
	}
	c3 = load_dir_text("svc.json", t, &m3, d3);
	assert_int_equal(hmap_count(cache_services(c3)), 4000);
	drop_dir(d3, "svc.json", m3, c3);

	/* the file cut short: the YAML path names the line */
	t[strlen(t) / 2] = 0;
	reported[0] = 0;
	{
		struct sy_report rep = { report, NULL };
		struct cache *c = cache_new(NULL, NULL);
		char want[128];

		strcpy(d3, "/tmp/sy-manifest-XXXXXX");
		assert_non_null(mkdtemp(d3));
		write_file(d3, "svc.json", t);
		assert_int_equal(manifest_source_new(&m3, EV_DEFAULT, d3, c, &rep), 0);
		manifest_source_reload(m3);
		snprintf(want, sizeof(want), "E Manifest %s/svc.json: line ", d3);
		assert_non_null(strstr(reported, want));
		drop_dir(d3, "svc.json", m3, c);
	}
	free(t);
}


/* Bad input is handed to the owner's report with its file and reason; the rest is kept. */
static void test_reports(void **state)
{
	char dir[] = "/tmp/sy-manifest-XXXXXX", path[256], want[512];
	struct sy_report rep = { report, NULL };
	struct cache *c = cache_new(NULL, NULL);
	struct manifest_source *m;
	static const char svc[] = "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: d}\n"
				  "spec: {clusterIP: 10.0.0.1, ports: [{port: 80}]}\n";

	(void)state;
	assert_non_null(mkdtemp(dir));
	cache_set_report(c, &rep);
	write_file(dir, "a.yaml", svc);
	write_file(dir, "b.yaml", "--- 5\n---\napiVersion: v1\nkind: Service\n"
		   "metadata: {name: Bad_Name, namespace: d}\nspec: {ports: [{port: 80}]}\n---\n"
		   "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: d}\n"
		   "spec: {clusterIP: 10.0.0.1, ports: [{port: 80}]}\n");
	write_file(dir, "c.yaml", "kind: [unclosed\n");
	reported[0] = 0;
	assert_int_equal(manifest_source_new(&m, EV_DEFAULT, dir, c, &rep), 0);
	manifest_source_reload(m);
	assert_non_null(cache_service(c, "d/s"));
	snprintf(want, sizeof(want), "E Manifest %s/b.yaml: document 1 is not an object; skipped\n",
		 dir);
	assert_non_null(strstr(reported, want));
	snprintf(want, sizeof(want), "E Service d/s is defined in more than one manifest file: "
		 "%s/a.yaml and %s/b.yaml; using %s/a.yaml (the first by name)\n", dir, dir, dir);
	assert_non_null(strstr(reported, want));
	snprintf(want, sizeof(want), "E Manifest %s/c.yaml: ", dir);
	assert_non_null(strstr(reported, want));
	assert_non_null(strstr(reported, "; keeping its last good objects\n"));
	/* the decoder's refusal, reported by the cache with kind, namespace/name and reason */
	assert_non_null(strstr(reported, "E Service d/Bad_Name: "));
	/* the object moves to the file that still holds it */
	snprintf(path, sizeof(path), "%s/a.yaml", dir);
	unlink(path);
	reported[0] = 0;
	manifest_source_reload(m);
	assert_non_null(cache_service(c, "d/s"));
	snprintf(want, sizeof(want), "I Manifest %s/a.yaml: Service d/s now comes from b.yaml\n", dir);
	assert_non_null(strstr(reported, want));
	manifest_source_free(m);
	cache_free(c);
	unlink(path);
	snprintf(path, sizeof(path), "%s/b.yaml", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/c.yaml", dir);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_yaml_multi),
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_alias_cycle),
		cmocka_unit_test(test_alias_bomb),
		cmocka_unit_test(test_big_list),
		cmocka_unit_test(test_policy_kinds),
		cmocka_unit_test(test_large_file),
		cmocka_unit_test(test_open_for_writing),
		cmocka_unit_test(test_json_list),
		cmocka_unit_test(test_reports),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
