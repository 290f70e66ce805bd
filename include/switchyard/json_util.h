/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SWITCHYARD_JSON_UTIL_H
#define SWITCHYARD_JSON_UTIL_H
/*
 * The json-c getters every decoder uses (core/decode.c, the Kubernetes
 * client, kubeconfig): absent, JSON null and a wrong type all read as NULL.
 * Inline: the object decoders call them for every field.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <json-c/json.h>

/* Member key of object o; NULL when o is not an object, or key is absent or null. */
static inline struct json_object *jget(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!o || !json_object_is_type(o, json_type_object))
		return NULL;
	if (!json_object_object_get_ex(o, key, &v))
		return NULL;
	return json_object_is_type(v, json_type_null) ? NULL : v;
}

/* o.a.b */
static inline struct json_object *jpath(struct json_object *o, const char *a, const char *b)
{
	return jget(jget(o, a), b);
}

/* The string value of o, NULL if o is not a string. */
static inline const char *jstr(struct json_object *o)
{
	return o && json_object_is_type(o, json_type_string) ? json_object_get_string(o) : NULL;
}

/* The string member key of o, or NULL. */
static inline const char *jget_str(struct json_object *o, const char *key)
{
	return jstr(jget(o, key));
}

/* Integer in [lo, hi]; absent → *ret = dflt.  -EINVAL on a wrong type/range. */
static inline int jint(struct json_object *v, long lo, long hi, long dflt, long *ret)
{
	int64_t x;

	if (!v) {
		*ret = dflt;
		return 0;
	}
	if (!json_object_is_type(v, json_type_int))
		return -EINVAL;
	x = json_object_get_int64(v);
	if (x < lo || x > hi)
		return -EINVAL;
	*ret = (long)x;
	return 0;
}

/* Optional boolean; absent → dflt.  -EINVAL on a wrong type. */
static inline int jbool(struct json_object *v, bool dflt, bool *ret)
{
	if (!v) {
		*ret = dflt;
		return 0;
	}
	if (!json_object_is_type(v, json_type_boolean))
		return -EINVAL;
	*ret = json_object_get_boolean(v);
	return 0;
}

#endif
