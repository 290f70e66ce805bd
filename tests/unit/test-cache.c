// SPDX-License-Identifier: Apache-2.0
/* The cache (core/cache.c): versions, bad updates, relists, deletes, names, ClusterIP conflicts. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "helpers.h"
#include "model-fixtures.h"
#include "switchyard/model.h"
#include "switchyard/util.h"

static int changes;
static void on_change(void *arg, enum sy_kind kind)
{
	changes++;
}

static void test_cache(void **state)
{
	struct cache *c = cache_new(on_change, NULL);
	struct json_object *svc = J(SVC), *slice = J(SLICE), *bad;
	struct hmap dirty;
	unsigned n;

	assert_false(cache_synced(c, SY_KIND_SERVICE));
	assert_int_equal(cache_apply(c, SY_KIND_SERVICE, CACHE_UPSERT, svc), 0);
	assert_int_equal(cache_apply(c, SY_KIND_ENDPOINTSLICE, CACHE_UPSERT, slice), 0);
	assert_non_null(cache_service(c, "apps/web"));
	assert_non_null(cache_service_slices(c, "apps/web", &n));
	assert_int_equal(n, 1);
	hmap_init(&dirty);
	cache_take_dirty(c, &dirty);
	assert_int_equal(hmap_count(&dirty), 1);
	assert_non_null(hmap_get(&dirty, "apps/web"));
	{
		struct hmap_iter it; const char *k;
		hmap_iter_init(&it, &dirty);
		while (hmap_iter_next(&it, &k, NULL)) free((char *)k);
		hmap_clear(&dirty);
	}
	/* the same resourceVersion again: no change */
	changes = 0;
	assert_int_equal(cache_apply(c, SY_KIND_SERVICE, CACHE_UPSERT, svc), 0);
	assert_int_equal(changes, 0);
	/* a bad update keeps the last good version */
	bad = J("{\"metadata\":{\"name\":\"web\",\"namespace\":\"apps\",\"resourceVersion\":\"6\"},"
		"\"spec\":{\"clusterIP\":\"300.1.1.1\"}}");
	assert_int_equal(cache_apply(c, SY_KIND_SERVICE, CACHE_UPSERT, bad), -EINVAL);
	assert_int_equal(cache_apply(c, SY_KIND_SERVICE, CACHE_UPSERT, bad), -EINVAL);
	assert_string_equal(cache_service(c, "apps/web")->resource_version, "5");
	assert_int_equal(cache_get_stats(c)->decode_errors, 2);
	/* a replace that does not mention the slice deletes it; the bad service survives */
	cache_replace_begin(c, SY_KIND_ENDPOINTSLICE);
	cache_replace_begin(c, SY_KIND_SERVICE);
	assert_int_equal(cache_apply(c, SY_KIND_SERVICE, CACHE_UPSERT, bad), -EINVAL);
	cache_replace_end(c, SY_KIND_SERVICE);
	cache_replace_end(c, SY_KIND_ENDPOINTSLICE);
	assert_true(cache_synced(c, SY_KIND_SERVICE));
	assert_non_null(cache_service(c, "apps/web"));
	assert_null(cache_service_slices(c, "apps/web", &n));
	assert_int_equal(n, 0);
	/* delete */
	assert_int_equal(cache_apply(c, SY_KIND_SERVICE, CACHE_DELETE, svc), 0);
	assert_null(cache_service(c, "apps/web"));
	json_object_put(svc);
	json_object_put(slice);
	json_object_put(bad);
	cache_free(c);
}

/* Issue 13.8: "n\u0000x" neither lands as "default/n" nor deletes it. */
static void test_cache_names(void **state)
{
	struct cache *c = cache_new(NULL, NULL);
	struct json_object *good = J("{\"metadata\":{\"name\":\"n\"},\"spec\":{\"clusterIP\":"
				     "\"10.0.0.1\",\"ports\":[{\"port\":80}]}}");
	struct json_object *bad = J("{\"metadata\":{\"name\":\"n\\u0000x\"},\"spec\":{"
				    "\"clusterIP\":\"10.0.0.2\",\"ports\":[{\"port\":80}]}}");

	assert_int_equal(cache_apply(c, SY_KIND_SERVICE, CACHE_UPSERT, good), 0);
	assert_int_equal(cache_apply(c, SY_KIND_SERVICE, CACHE_UPSERT, bad), -EINVAL);
	assert_string_equal(sy_addr_str(&cache_service(c, "default/n")->cluster_ip), "10.0.0.1");
	assert_int_equal(cache_apply(c, SY_KIND_SERVICE, CACHE_DELETE, bad), -EINVAL);
	assert_non_null(cache_service(c, "default/n"));
	assert_int_equal(hmap_count(cache_services(c)), 1);
	json_object_put(good);
	json_object_put(bad);
	cache_free(c);
}

#define CIP_SVC(name, created, ip, port) \
	"{\"metadata\":{\"name\":\"" name "\",\"creationTimestamp\":\"" created "\"},\"spec\":{" \
	"\"clusterIP\":\"" ip "\",\"ports\":[{\"port\":" port "}]}}"

/* Issue 13.4: a second Service on a taken ClusterIP:port is the newer one, skipped, both named. */
static void test_cluster_ip_conflict(void **state)
{
	struct cache *c = cache_new(NULL, NULL);
	struct json_object *a = J(CIP_SVC("a", "2024-01-02T00:00:00Z", "10.0.0.1", "80"));
	struct json_object *b = J(CIP_SVC("b", "2024-01-01T00:00:00Z", "10.0.0.1", "80"));
	struct json_object *z = J(CIP_SVC("z", "2024-01-03T00:00:00Z", "10.0.0.1", "81"));
	struct json_object *b2 = J(CIP_SVC("b", "2024-01-01T00:00:00Z", "10.0.0.2", "80"));

	assert_int_equal(cache_apply(c, SY_KIND_SERVICE, CACHE_UPSERT, a), 0);
	assert_false(cache_service(c, "default/a")->conflict);
	/* b is older (creationTimestamp): it keeps the port, a is skipped */
	assert_int_equal(cache_apply(c, SY_KIND_SERVICE, CACHE_UPSERT, b), 0);
	assert_false(cache_service(c, "default/b")->conflict);
	assert_true(cache_service(c, "default/a")->conflict);
	/* another port on the same IP is no conflict */
	assert_int_equal(cache_apply(c, SY_KIND_SERVICE, CACHE_UPSERT, z), 0);
	assert_false(cache_service(c, "default/z")->conflict);
	/* b moves away: a is programmed again */
	assert_int_equal(cache_apply(c, SY_KIND_SERVICE, CACHE_UPSERT, b2), 0);
	assert_false(cache_service(c, "default/a")->conflict);
	assert_int_equal(cache_apply(c, SY_KIND_SERVICE, CACHE_UPSERT, b), 0);
	assert_true(cache_service(c, "default/a")->conflict);
	/* b goes: a is back */
	assert_int_equal(cache_apply(c, SY_KIND_SERVICE, CACHE_DELETE, b), 0);
	assert_false(cache_service(c, "default/a")->conflict);
	json_object_put(a);
	json_object_put(b);
	json_object_put(z);
	json_object_put(b2);
	/* no timestamps: the name decides */
	a = J("{\"metadata\":{\"name\":\"y\"},\"spec\":{\"clusterIP\":\"10.0.0.7\",\"ports\":[{\"port\":53,\"protocol\":\"UDP\"}]}}");
	b = J("{\"metadata\":{\"name\":\"x\"},\"spec\":{\"clusterIP\":\"10.0.0.7\",\"ports\":[{\"port\":53,\"protocol\":\"UDP\"}]}}");
	assert_int_equal(cache_apply(c, SY_KIND_SERVICE, CACHE_UPSERT, a), 0);
	assert_int_equal(cache_apply(c, SY_KIND_SERVICE, CACHE_UPSERT, b), 0);
	assert_true(cache_service(c, "default/y")->conflict);
	assert_false(cache_service(c, "default/x")->conflict);
	json_object_put(a);
	json_object_put(b);
	cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_cache_names),
		cmocka_unit_test(test_cluster_ip_conflict),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
