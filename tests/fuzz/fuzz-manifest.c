// SPDX-License-Identifier: Apache-2.0
/* libFuzzer harness: manifest_parse() (YAML/JSON, multi-document, List) and
 * the object decoders behind it. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <json-c/json.h>
#include "switchyard/log.h"
#include "switchyard/manifest.h"
#include "switchyard/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_object *arr = NULL;
	char err[256];

	log_verbosity = -1;
	if (manifest_parse((const char *)data, size, &arr, err, sizeof(err)) < 0) {
		if (arr)
			__builtin_trap();	/* nothing returned on failure */
		return 0;
	}
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

			if (service_decode(o, &s, err, sizeof(err)) == 0)
				service_free(s);
		} else if (!strcmp(kind, "EndpointSlice")) {
			struct endpoint_slice *s = NULL;

			if (slice_decode(o, &s, err, sizeof(err)) == 0)
				slice_free(s);
		} else if (!strcmp(kind, "Node")) {
			struct node *n = NULL;

			if (node_decode(o, &n, err, sizeof(err)) == 0)
				node_free(n);
		}
	}
	json_object_put(arr);
	return 0;
}
