/* SPDX-License-Identifier: Apache-2.0 */
/* Small helpers shared by the core's unit tests. */
#ifndef SY_TEST_HELPERS_H
#define SY_TEST_HELPERS_H
#include <json-c/json.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

static inline struct json_object *J(const char *text)
{
	struct json_object *o = json_tokener_parse(text);

	assert_non_null(o);
	return o;
}

/* What a part told its owner through a struct sy_report: the last message
 * and the count (pass last_said_fn and a struct last_said). */
struct last_said {
	unsigned n;
	char sev;
	char msg[256];
};

static inline void last_said_fn(void *arg, char sev, const char *msg)
{
	struct last_said *s = arg;

	s->n++;
	s->sev = sev;
	snprintf(s->msg, sizeof(s->msg), "%s", msg);
}
#endif
