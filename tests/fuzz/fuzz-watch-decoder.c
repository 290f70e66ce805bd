// SPDX-License-Identifier: Apache-2.0
/* libFuzzer harness: the watch-stream decoder, fed in fuzzer-chosen chunks. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <json-c/json.h>
#include "switchyard/k8s.h"

static void on_event(void *arg, const char *type, struct json_object *obj, const char *error)
{
	unsigned *n = arg;

	/* the contract: an object always comes with a type, an error never with an object */
	if (error && obj)
		__builtin_trap();
	if (obj && (!type || !json_object_is_type(obj, json_type_object)))
		__builtin_trap();
	(*n)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned n = 0;
	struct watch_decoder *d;
	size_t step, off = 0;

	if (size < 1)
		return 0;
	/* first byte: chunk size (1..256); a small max line to reach the limit */
	step = (size_t)data[0] + 1;
	d = watch_decoder_new(4096, on_event, &n);
	if (!d)
		return 0;
	data++;
	size--;
	while (off < size) {
		size_t len = size - off < step ? size - off : step;

		watch_decoder_feed(d, (const char *)data + off, len);
		off += len;
	}
	if (watch_decoder_pending(d) > 4096)
		__builtin_trap();
	watch_decoder_reset(d);
	watch_decoder_free(d);
	return 0;
}
