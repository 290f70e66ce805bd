// SPDX-License-Identifier: Apache-2.0
/*
 * In-process benchmark of the core model: decode N Services and N
 * EndpointSlices (10 endpoints each) into the cache, build the desired
 * state, then apply one EndpointSlice change and rebuild.  Prints CPU
 * times and peak RSS.  Usage: bench/desired-bench [--dual] [N]
 * --dual: every Service is RequireDualStack (an IPv4 and an IPv6
 * ClusterIP) with an IPv4 and an IPv6 EndpointSlice of 10 endpoints each;
 * the one change is still one IPv4 endpoint.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include "switchyard/config.h"
#include "switchyard/desired.h"
#include "switchyard/model.h"

static double cpu_now(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static long peak_rss_kb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* family 6: the IPv6 slice of the Service (fd00:64::/64 endpoints) */
static struct json_object *make_slice_family(int i, int variant, int family)
{
	char buf[4096];
	int off;

	off = snprintf(buf, sizeof(buf),
		       "{\"metadata\":{\"name\":\"svc-%d-%s\",\"namespace\":\"ns%d\",\"resourceVersion\":\"%d\","
		       "\"labels\":{\"kubernetes.io/service-name\":\"svc-%d\"}},\"addressType\":\"%s\","
		       "\"ports\":[{\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"}],\"endpoints\":[",
		       i, family == 6 ? "v6xyz" : "abcde", i % 100,
		       (family == 6 ? 3000000 : 1000000) + i * 2 + variant, i,
		       family == 6 ? "IPv6" : "IPv4");
	for (int e = 0; e < 10; e++) {
		char a[64];

		if (family == 6)
			snprintf(a, sizeof(a), "fd00:64::%x:%x", i, e + variant + 1);
		else
			snprintf(a, sizeof(a), "10.%d.%d.%d", 64 + (i >> 12), (i >> 4) & 255,
				 ((i & 15) << 4) + e + variant);
		off += snprintf(buf + off, sizeof(buf) - off,
				"%s{\"addresses\":[\"%s\"],\"conditions\":{\"ready\":true},"
				"\"nodeName\":\"node-%d\",\"zone\":\"zone-%d\"}",
				e ? "," : "", a, (i + e) % 500, e % 3);
	}
	snprintf(buf + off, sizeof(buf) - off, "]}");
	return json_tokener_parse(buf);
}

static struct json_object *make_slice(int i, int variant)
{
	return make_slice_family(i, variant, 4);
}

int main(int argc, char **argv)
{
	bool dual = argc > 1 && !strcmp(argv[1], "--dual");
	int n = argc > 1 + dual ? atoi(argv[1 + dual]) : 10000;
	struct sy_config cfg;
	struct cache *c = cache_new(NULL, NULL);
	struct desired_state ds;
	struct json_object **svcs = calloc(n, sizeof(*svcs)), **slices = calloc(n, sizeof(*slices));
	struct json_object **slices6 = calloc(n, sizeof(*slices6));
	double t0, t_decode, t_build, t_change;
	long rss_before;
	int changed;

	config_init(&cfg);
	desired_init(&ds, &cfg);
	desired_set_node(&ds, "node-1", "zone-1", NULL, 0, true);
	for (int i = 0; i < n; i++) {
		char buf[1024];

		char fam[160] = "";

		if (dual)
			snprintf(fam, sizeof(fam), "\"clusterIPs\":[\"10.96.%d.%d\",\"fd00:96::%x\"],"
				 "\"ipFamilies\":[\"IPv4\",\"IPv6\"],\"ipFamilyPolicy\":\"RequireDualStack\",",
				 (i >> 8) & 255, i & 255, i + 1);
		snprintf(buf, sizeof(buf),
			 "{\"metadata\":{\"name\":\"svc-%d\",\"namespace\":\"ns%d\",\"resourceVersion\":\"%d\"},"
			 "\"spec\":{\"type\":\"%s\",\"clusterIP\":\"10.96.%d.%d\",%s\"ports\":[{\"name\":\"http\","
			 "\"port\":80,\"targetPort\":8080%s}]}}",
			 i, i % 100, i + 1, i % 10 ? "ClusterIP" : "NodePort", (i >> 8) & 255, i & 255,
			 fam, i % 10 ? "" : ",\"nodePort\":30000");
		svcs[i] = json_tokener_parse(buf);
		slices[i] = make_slice(i, 0);
		if (dual)
			slices6[i] = make_slice_family(i, 0, 6);
	}
	rss_before = peak_rss_kb();
	t0 = cpu_now();
	cache_replace_begin(c, SY_KIND_SERVICE);
	cache_replace_begin(c, SY_KIND_ENDPOINTSLICE);
	for (int i = 0; i < n; i++) {
		cache_apply(c, SY_KIND_SERVICE, CACHE_UPSERT, svcs[i]);
		cache_apply(c, SY_KIND_ENDPOINTSLICE, CACHE_UPSERT, slices[i]);
		if (dual)
			cache_apply(c, SY_KIND_ENDPOINTSLICE, CACHE_UPSERT, slices6[i]);
	}
	cache_replace_end(c, SY_KIND_SERVICE);
	cache_replace_end(c, SY_KIND_ENDPOINTSLICE);
	t_decode = cpu_now() - t0;
	t0 = cpu_now();
	changed = desired_update(&ds, c, false);
	t_build = cpu_now() - t0;
	desired_commit(&ds);

	/* one endpoint of one Service changes */
	{
		struct json_object *s = make_slice(n / 2, 1);
		int reps = 100;

		t0 = cpu_now();
		for (int r = 0; r < reps; r++) {
			json_object_put(s);
			s = make_slice(n / 2, r % 2 ? 0 : 1);
			cache_apply(c, SY_KIND_ENDPOINTSLICE, CACHE_UPSERT, s);
			desired_update(&ds, c, false);
			desired_commit(&ds);
		}
		t_change = (cpu_now() - t0) / reps;
		json_object_put(s);
	}
	printf("services=%d%s endpoints=%d ports=%d (IPv4 %zu, IPv6 %zu)\n", n,
	       dual ? " dual-stack" : "", n * 10 * (dual ? 2 : 1), changed, hmap_count(&ds.ports),
	       hmap_count(&ds.ports6));
	printf("decode+cache CPU        %8.3f s\n", t_decode);
	printf("desired state build CPU %8.3f s\n", t_build);
	printf("one endpoint change CPU %8.3f ms (decode + cache + rebuild of that Service)\n",
	       t_change * 1e3);
	printf("peak RSS %ld MB (input JSON held by the bench: %ld MB before decoding)\n",
	       peak_rss_kb() / 1024, rss_before / 1024);
	printf("model RSS %ld MB (peak minus before decoding)\n", (peak_rss_kb() - rss_before) / 1024);
	for (int i = 0; i < n; i++) {
		json_object_put(svcs[i]);
		json_object_put(slices[i]);
		if (slices6[i])
			json_object_put(slices6[i]);
	}
	free(svcs);
	free(slices);
	free(slices6);
	desired_fini(&ds);
	cache_free(c);
	config_free(&cfg);
	return 0;
}
