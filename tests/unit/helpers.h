/* SPDX-License-Identifier: Apache-2.0 */
/* Small helpers shared by the core's unit tests. */
#ifndef SY_TEST_HELPERS_H
#define SY_TEST_HELPERS_H
#include <json-c/json.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

static inline struct json_object *J(const char *text)
{
	struct json_object *o = json_tokener_parse(text);

	assert_non_null(o);
	return o;
}
#endif
