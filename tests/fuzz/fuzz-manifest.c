// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer harness: the whole manifest path, bytes → cache → desired state.
 *  1. manifest_parse() (YAML/JSON, multi-document, List) and the decoders;
 *  2. the directory source: the input written as a manifest file (and, when
 *     its first byte is odd, as a second file defining the same objects),
 *     manifest_source_reload() → read, parse, ownership, cache_apply()
 *     (which hashes every object: how an alias cycle once overflowed the
 *     stack) → desired_update() → the files removed again → everything
 *     deleted.
 */
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>
#include "switchyard/config.h"
#include "switchyard/desired.h"
#include "switchyard/log.h"
#include "switchyard/manifest.h"
#include "switchyard/model.h"
#include "switchyard/netpol.h"

static char dir[64];
static struct ev_loop *loop;
static struct cache *cache;
static struct manifest_source *src;
static struct desired_state ds;
static struct sy_config cfg;

static void put(const char *name, const uint8_t *data, size_t size)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		__builtin_trap();
	if (size && fwrite(data, 1, size, f) != size)
		__builtin_trap();
	fclose(f);
}

static void drop(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
}

static void take_dirty(void)
{
	struct hmap dirty;
	struct hmap_iter it;
	const char *k;

	desired_update(&ds, cache, false);
	desired_commit(&ds);
	hmap_init(&dirty);
	cache_take_dirty(cache, &dirty);
	hmap_iter_init(&it, &dirty);
	while (hmap_iter_next(&it, &k, NULL))
		free((char *)k);
	hmap_clear(&dirty);
}

static void setup(void)
{
	/* the daemon's log lines (log.c writes to the stdio stream) would drown libFuzzer's */
	stderr = fopen("/dev/null", "w");
	strcpy(dir, "/tmp/fuzz-manifest.XXXXXX");
	if (!mkdtemp(dir))
		__builtin_trap();
	loop = ev_default_loop(0);
	config_init(&cfg);
	cache = cache_new(NULL, NULL);
	desired_init(&ds, &cfg);
	desired_set_node(&ds, "n1", "zone-a", NULL, 0, true);
	if (manifest_source_new(&src, loop, dir, cache, NULL) < 0)
		__builtin_trap();
}

static void decode_all(struct json_object *arr)
{
	char err[256];

	for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
		struct json_object *o = json_object_array_get_idx(arr, i), *k;
		const char *kind;

		if (!json_object_object_get_ex(o, "kind", &k))
			continue;
		kind = json_object_get_string(k);
		if (!kind)
			continue;
		if (!strcmp(kind, "Service")) {
			struct service *s = NULL;

			if (service_decode(o, NULL, &s, err, sizeof(err)) == 0)
				service_free(s);
		} else if (!strcmp(kind, "EndpointSlice")) {
			struct endpoint_slice *s = NULL;

			if (slice_decode(o, &s, err, sizeof(err)) == 0)
				slice_free(s);
		} else if (!strcmp(kind, "Node")) {
			struct node *n = NULL;

			if (node_decode(o, &n, err, sizeof(err)) == 0)
				node_free(n);
		} else if (!strcmp(kind, "Pod")) {
			struct pod *p = NULL;

			if (pod_decode(o, &p, err, sizeof(err)) == 0)
				pod_unref(p);
		} else if (!strcmp(kind, "Namespace")) {
			struct k8s_namespace *n = NULL;

			if (namespace_decode(o, &n, err, sizeof(err)) == 0)
				namespace_unref(n);
		} else if (!strcmp(kind, "NetworkPolicy")) {
			struct netpolicy *np = NULL;

			if (netpolicy_decode(o, &np, err, sizeof(err)) == 0) {
				for (unsigned d = 0; d < 2; d++)
					for (unsigned r = 0; r < np->n_rules[d]; r++) {
						struct np_range *v = NULL;
						unsigned n = 0;

						np_rule_ranges(&np->rules[d][r], AF_INET, &v, &n);
						free(v);
						np_rule_ranges(&np->rules[d][r], AF_INET6, &v, &n);
						free(v);
					}
				netpolicy_unref(np);
			}
		} else if (!strcmp(kind, "ServiceCIDR")) {
			struct service_cidr *sc = NULL;

			if (service_cidr_decode(o, &sc, err, sizeof(err)) == 0)
				service_cidr_free(sc);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_object *arr = NULL;
	char err[256];

	log_verbosity = -1;
	if (!src)
		setup();
	if (manifest_parse((const char *)data, size, &arr, err, sizeof(err)) < 0) {
		if (arr)
			__builtin_trap();	/* nothing returned on failure */
	} else {
		decode_all(arr);
		json_object_put(arr);
	}

	/* the directory path, down to the cache and the desired state */
	put("a.yaml", data, size);
	if (size && (data[0] & 1))
		put("b.yaml", data, size);
	manifest_source_reload(src);
	take_dirty();
	/* b.yaml alone: its objects must take over a.yaml's */
	drop("a.yaml");
	manifest_source_reload(src);
	take_dirty();
	drop("b.yaml");
	manifest_source_reload(src);
	take_dirty();
	/* nothing is left behind */
	if (hmap_count(cache_services(cache)) || hmap_count(cache_slices(cache)) ||
	    hmap_count(cache_nodes(cache)))
		__builtin_trap();
	return 0;
}
