// SPDX-License-Identifier: Apache-2.0
/*
 * Decoding of networking.k8s.io/v1 ServiceCIDRs: json-c object -> struct
 * service_cidr, pure.  spec.cidrs is checked as the API server validates
 * it (pkg/apis/networking/validation ValidateServiceCIDR): at least one,
 * at most two, two only one of each family, each a CIDR.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "switchyard/json_util.h"
#include "switchyard/model.h"
#include "decode_int.h"

int service_cidr_decode(struct json_object *obj, struct service_cidr **ret, char *err,
			size_t errlen)
{
	struct service_cidr *sc;
	struct json_object *md, *nv, *cidrs;
	const char *name, *rv;
	size_t n;
	int r;

	if (decode_metadata(obj, &md, err, errlen) < 0)
		return -EINVAL;
	nv = jget(md, "name");
	name = jstr(nv);
	if (!name || !*name) {
		snprintf(err, errlen, "missing metadata.name");
		return -EINVAL;
	}
	if (!dns1123_subdomain(name, (size_t)json_object_get_string_len(nv))) {
		snprintf(err, errlen, "invalid metadata.name: not a DNS-1123 subdomain (lower-case "
			 "letters, digits, '-', '.'; at most 253)");
		return -EINVAL;
	}
	r = decode_list(obj, "spec.cidrs", 0, &cidrs, err, errlen);
	if (r < 0)
		return -EINVAL;
	n = (size_t)r;
	if (!n) {
		snprintf(err, errlen, "spec.cidrs: at least one CIDR required");
		return -EINVAL;
	}
	if (n > 2) {
		snprintf(err, errlen, "spec.cidrs: may only hold up to 2 values (has %zu)", n);
		return -EINVAL;
	}
	sc = xcalloc(1, sizeof(*sc));
	for (size_t i = 0; i < n; i++) {
		struct json_object *v = json_object_array_get_idx(cidrs, i);
		const char *s = json_object_is_type(v, json_type_string) ? jstr(v) : NULL;

		/* a prefix length is required: "10.96.0.0/12", not an address */
		if (!s || !strchr(s, '/') || sy_cidr_parse(s, &sc->cidrs[i]) < 0) {
			snprintf(err, errlen, "spec.cidrs[%zu]: \"%.64s\" is not a valid CIDR", i,
				 s ? s : "(not a string)");
			service_cidr_free(sc);
			return -EINVAL;
		}
	}
	sc->n_cidrs = (unsigned)n;
	if (n == 2 && sc->cidrs[0].addr.family == sc->cidrs[1].addr.family) {
		snprintf(err, errlen, "spec.cidrs: may specify no more than one CIDR for each IP "
			 "family (both are %s)", sc->cidrs[0].addr.family == AF_INET ? "IPv4" : "IPv6");
		service_cidr_free(sc);
		return -EINVAL;
	}
	sc->key = xstrdup(name);
	rv = jstr(jget(md, "resourceVersion"));
	sc->resource_version = rv ? xstrdup(rv) : NULL;
	sc->deleting = jget(md, "deletionTimestamp") != NULL;
	*ret = sc;
	return 0;
}
