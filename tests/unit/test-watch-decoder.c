// SPDX-License-Identifier: Apache-2.0
/* The watch-stream decoder: every split point, oversized lines, garbage. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <json-c/json.h>
#include "switchyard/k8s.h"

struct rec {
	char log[64][160];	/* "TYPE name" or "ERR reason" */
	unsigned n;
};

static void record(void *arg, const char *type, struct json_object *obj, const char *error)
{
	struct rec *r = arg;
	struct json_object *md, *name;
	char *s;

	assert_true(r->n < 64);
	s = r->log[r->n++];
	if (error) {
		assert_null(obj);
		snprintf(s, 160, "ERR %s", error);
		return;
	}
	assert_non_null(obj);
	assert_non_null(type);
	if (json_object_object_get_ex(obj, "metadata", &md) &&
	    json_object_object_get_ex(md, "name", &name))
		snprintf(s, 160, "%s %s", type, json_object_get_string(name));
	else
		snprintf(s, 160, "%s -", type);
}

static const char stream[] =
	"{\"type\":\"ADDED\",\"object\":{\"kind\":\"Service\",\"metadata\":{\"name\":\"a\","
	"\"resourceVersion\":\"10\"}}}\n"
	"{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"b\",\"labels\":{\"x\":\"\\n}\"}}}}\n"
	"\r\n"
	"{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"c\"}}}\r\n"
	"{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Service\",\"metadata\":"
	"{\"resourceVersion\":\"12746\"}}}\n";

static void check_stream(struct rec *r)
{
	assert_int_equal(r->n, 4);
	assert_string_equal(r->log[0], "ADDED a");
	assert_string_equal(r->log[1], "MODIFIED b");
	assert_string_equal(r->log[2], "DELETED c");
	assert_string_equal(r->log[3], "BOOKMARK -");
}

static void test_whole(void **state)
{
	struct rec r = {0};
	struct watch_decoder *d = watch_decoder_new(0, record, &r);

	assert_int_equal(watch_decoder_feed(d, stream, strlen(stream)), 0);
	check_stream(&r);
	assert_int_equal(watch_decoder_pending(d), 0);
	watch_decoder_free(d);
}

/* Every split into two chunks, and every split into three. */
static void test_every_split(void **state)
{
	size_t n = strlen(stream);

	for (size_t i = 0; i <= n; i++) {
		struct rec r = {0};
		struct watch_decoder *d = watch_decoder_new(0, record, &r);

		assert_int_equal(watch_decoder_feed(d, stream, i), 0);
		assert_int_equal(watch_decoder_feed(d, stream + i, n - i), 0);
		check_stream(&r);
		assert_int_equal(watch_decoder_pending(d), 0);
		watch_decoder_free(d);
	}
	for (size_t i = 0; i <= n; i += 7) {
		for (size_t j = i; j <= n; j++) {
			struct rec r = {0};
			struct watch_decoder *d = watch_decoder_new(0, record, &r);

			watch_decoder_feed(d, stream, i);
			watch_decoder_feed(d, stream + i, j - i);
			watch_decoder_feed(d, stream + j, n - j);
			check_stream(&r);
			watch_decoder_free(d);
		}
	}
}

static void test_byte_by_byte(void **state)
{
	struct rec r = {0};
	struct watch_decoder *d = watch_decoder_new(0, record, &r);

	for (size_t i = 0; i < strlen(stream); i++)
		assert_int_equal(watch_decoder_feed(d, stream + i, 1), 0);
	check_stream(&r);
	watch_decoder_free(d);
}

static void test_truncated(void **state)
{
	struct rec r = {0};
	struct watch_decoder *d = watch_decoder_new(0, record, &r);
	size_t n = strlen(stream) - 20;

	assert_int_equal(watch_decoder_feed(d, stream, n), 0);
	assert_int_equal(r.n, 3);
	assert_true(watch_decoder_pending(d) > 0);
	watch_decoder_reset(d);
	assert_int_equal(watch_decoder_pending(d), 0);
	/* after a reset a new stream decodes cleanly */
	assert_int_equal(watch_decoder_feed(d, stream, strlen(stream)), 0);
	assert_int_equal(r.n, 7);
	assert_string_equal(r.log[6], "BOOKMARK -");
	watch_decoder_free(d);
}

static void test_garbage(void **state)
{
	static const char in[] =
		"this is not json\n"
		"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"ok1\"}}}\n"
		"[1,2,3]\n"
		"{\"object\":{}}\n"
		"{\"type\":\"ADDED\"}\n"
		"{\"type\":\"ADDED\",\"object\":\"str\"}\n"
		"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"x\"}}} trailing\n"
		"{\"type\":\"ADDED\",\"object\":{\"meta\n"
		"\xff\xfe\x00garbage\n"
		"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"ok2\"}}}\n";
	struct rec r = {0};
	struct watch_decoder *d = watch_decoder_new(0, record, &r);

	assert_int_equal(watch_decoder_feed(d, in, sizeof(in) - 1), 0);
	assert_int_equal(r.n, 10);
	assert_true(!strncmp(r.log[0], "ERR not JSON", 12));
	assert_string_equal(r.log[1], "ADDED ok1");
	assert_string_equal(r.log[2], "ERR event is not a JSON object");
	assert_string_equal(r.log[3], "ERR event has no \"type\" string");
	assert_string_equal(r.log[4], "ERR ADDED event has no \"object\"");
	assert_string_equal(r.log[5], "ERR ADDED event has no \"object\"");
	assert_true(!strncmp(r.log[6], "ERR not JSON", 12));
	assert_true(!strncmp(r.log[7], "ERR incomplete JSON", 19));
	assert_true(!strncmp(r.log[8], "ERR ", 4));
	assert_string_equal(r.log[9], "ADDED ok2");
	watch_decoder_free(d);
}

static void test_oversized(void **state)
{
	struct rec r = {0};
	struct watch_decoder *d = watch_decoder_new(64, record, &r);
	char big[300];
	static const char ok[] = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"s\"}}}\n";

	memset(big, 'x', sizeof(big));
	/* an oversized line in one chunk, with the next event behind it */
	assert_false(watch_decoder_oversized(d));
	assert_int_equal(watch_decoder_feed(d, big, 100), -E2BIG);
	assert_true(watch_decoder_oversized(d));	/* sticky until reset: the client relists */
	assert_int_equal(watch_decoder_pending(d), 0);
	/* more of the same line is dropped silently */
	assert_int_equal(watch_decoder_feed(d, big, 200), 0);
	assert_int_equal(watch_decoder_feed(d, "x\n", 2), 0);
	assert_int_equal(watch_decoder_feed(d, ok, strlen(ok)), 0);
	assert_int_equal(r.n, 2);
	assert_true(!strncmp(r.log[0], "ERR event line longer than 64", 29));
	assert_string_equal(r.log[1], "ADDED s");

	/* growth across chunks: 40 + 40 bytes passes the limit */
	r.n = 0;
	watch_decoder_reset(d);
	assert_false(watch_decoder_oversized(d));
	assert_int_equal(watch_decoder_feed(d, big, 40), 0);
	assert_int_equal(watch_decoder_feed(d, big, 40), -E2BIG);
	assert_int_equal(watch_decoder_feed(d, "\n", 1), 0);
	assert_int_equal(watch_decoder_feed(d, ok, strlen(ok)), 0);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.log[1], "ADDED s");

	/* an oversized line ending in the same chunk as a good one */
	r.n = 0;
	char buf[400];
	memcpy(buf, big, 100);
	buf[100] = '\n';
	memcpy(buf + 101, ok, strlen(ok));
	assert_int_equal(watch_decoder_feed(d, buf, 101 + strlen(ok)), -E2BIG);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.log[1], "ADDED s");
	watch_decoder_free(d);
}

/* The callback may keep the object with json_object_get. */
static struct json_object *kept;
static void keep(void *arg, const char *type, struct json_object *obj, const char *error)
{
	if (obj && !kept)
		kept = json_object_get(obj);
}

static void test_keep_object(void **state)
{
	struct watch_decoder *d = watch_decoder_new(0, keep, NULL);
	struct json_object *md;

	watch_decoder_feed(d, stream, strlen(stream));
	watch_decoder_free(d);
	assert_non_null(kept);
	assert_true(json_object_object_get_ex(kept, "metadata", &md));
	json_object_put(kept);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole),
		cmocka_unit_test(test_every_split),
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_keep_object),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
