/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SWITCHYARD_CORE_DECODE_INT_H
#define SWITCHYARD_CORE_DECODE_INT_H
/*
 * What the decoders of core/ share (decode.c for Services, EndpointSlices
 * and Nodes; decode_policy.c for Pods, Namespaces and NetworkPolicies):
 * one string pool, enum, list and protocol fields and the API server's
 * name rules.  What frees the objects is core/object.c.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

/* Equal strings give the same pointer; never freed nor modified (names, zones, labels). */
char *decode_intern(const char *s);
/*
 * A string field (named field in err) that takes one of names: *ret its
 * index (absent: 0); -EINVAL with the reason in err when it is not a
 * string or another string.
 */
int decode_enum(struct json_object *v, const char *field, const char *const *names, unsigned n,
		int *ret, char *err, size_t errlen);
/* obj's metadata object: -EINVAL with the reason in err when obj is not an object or has none. */
int decode_metadata(struct json_object *obj, struct json_object **md, char *err, size_t errlen);
/*
 * The list at path (members of obj, dot-separated: "spec.ports") in *ret,
 * NULL when absent; its length (0 when absent), or -EINVAL and the reason
 * in err when it is not a list or (max > 0) has more than max entries.
 */
int decode_list(struct json_object *obj, const char *path, unsigned max, struct json_object **ret,
		char *err, size_t errlen);
/* A port's protocol: absent = TCP; "TCP", "UDP", "SCTP"; else -EINVAL. */
int decode_proto(struct json_object *v, uint8_t *ret);
/* RFC 1123 label as Kubernetes checks it: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63. */
bool dns1123_label(const char *s, size_t len);
/* RFC 1123 subdomain: labels as above joined by dots, at most 253 in all. */
bool dns1123_subdomain(const char *s, size_t len);

#endif
