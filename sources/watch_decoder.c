// SPDX-License-Identifier: Apache-2.0
/*
 * Incremental decoder for the Kubernetes watch stream: newline-delimited
 * JSON events {"type": "...", "object": {...}}, arriving in arbitrary
 * chunks.  Pure: no I/O, no logging; problems go to the callback.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "switchyard/k8s.h"
#include "switchyard/util.h"

struct watch_decoder {
	watch_event_fn fn;
	void *arg;
	size_t max_line;
	char *buf;		/* bytes of the incomplete line */
	size_t len, cap;
	bool skipping;		/* inside an oversized line: drop until '\n' */
	bool oversized;		/* a line exceeded max_line since the last reset */
	json_tokener *tok;
};

struct watch_decoder *watch_decoder_new(size_t max_line, watch_event_fn fn, void *arg)
{
	struct watch_decoder *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->fn = fn;
	d->arg = arg;
	d->max_line = max_line ? max_line : 16u << 20;
	d->tok = json_tokener_new_ex(64);
	if (!d->tok) {
		free(d);
		return NULL;
	}
	return d;
}

void watch_decoder_free(struct watch_decoder *d)
{
	if (!d)
		return;
	json_tokener_free(d->tok);
	sy_free_all(d->buf, d);
}

void watch_decoder_reset(struct watch_decoder *d)
{
	d->len = 0;
	d->skipping = false;
	d->oversized = false;
	json_tokener_reset(d->tok);
}

bool watch_decoder_oversized(const struct watch_decoder *d)
{
	return d->oversized;
}

size_t watch_decoder_pending(const struct watch_decoder *d)
{
	return d->len;
}

static bool blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

/* One complete line (without '\n'). */
static void decode_line(struct watch_decoder *d, const char *line, size_t n)
{
	struct json_object *ev, *type, *obj;
	enum json_tokener_error jerr;
	char err[160];

	if (blank(line, n))
		return;
	json_tokener_reset(d->tok);
	ev = json_tokener_parse_ex(d->tok, line, (int)n);
	jerr = json_tokener_get_error(d->tok);
	if (!ev || jerr != json_tokener_success) {
		if (jerr == json_tokener_continue)
			snprintf(err, sizeof(err), "incomplete JSON in a %zu-byte line", n);
		else
			snprintf(err, sizeof(err), "not JSON: %s",
				 json_tokener_error_desc(jerr == json_tokener_success ?
							 json_tokener_error_parse_unexpected : jerr));
		json_object_put(ev);
		d->fn(d->arg, NULL, NULL, err);
		return;
	}
	if ((size_t)json_tokener_get_parse_end(d->tok) < n &&
	    !blank(line + json_tokener_get_parse_end(d->tok), n - json_tokener_get_parse_end(d->tok))) {
		json_object_put(ev);
		d->fn(d->arg, NULL, NULL, "not JSON: trailing data after the event");
		return;
	}
	if (!json_object_is_type(ev, json_type_object)) {
		json_object_put(ev);
		d->fn(d->arg, NULL, NULL, "event is not a JSON object");
		return;
	}
	if (!json_object_object_get_ex(ev, "type", &type) ||
	    !json_object_is_type(type, json_type_string)) {
		json_object_put(ev);
		d->fn(d->arg, NULL, NULL, "event has no \"type\" string");
		return;
	}
	if (!json_object_object_get_ex(ev, "object", &obj) ||
	    !json_object_is_type(obj, json_type_object)) {
		snprintf(err, sizeof(err), "%.40s event has no \"object\"",
			 json_object_get_string(type));
		d->fn(d->arg, json_object_get_string(type), NULL, err);
		json_object_put(ev);
		return;
	}
	d->fn(d->arg, json_object_get_string(type), obj, NULL);
	json_object_put(ev);
}

int watch_decoder_feed(struct watch_decoder *d, const char *buf, size_t len)
{
	int ret = 0;

	while (len > 0) {
		const char *nl = memchr(buf, '\n', len);
		size_t chunk = nl ? (size_t)(nl - buf) : len;

		if (d->skipping) {
			if (nl)
				d->skipping = false;
		} else if (d->len + chunk > d->max_line) {
			char err[96];

			snprintf(err, sizeof(err), "event line longer than %zu bytes, skipped",
				 d->max_line);
			d->oversized = true;
			d->fn(d->arg, NULL, NULL, err);
			d->len = 0;
			d->skipping = !nl;
			ret = -E2BIG;
		} else if (nl && d->len == 0) {
			/* the common case: a whole line inside this chunk, no copy */
			decode_line(d, buf, chunk);
		} else {
			int r = sy_reserve(&d->buf, &d->cap, d->len + chunk + 1);

			if (r < 0)
				return r;
			memcpy(d->buf + d->len, buf, chunk);
			d->len += chunk;
			if (nl) {
				decode_line(d, d->buf, d->len);
				d->len = 0;
			}
		}
		if (!nl)
			break;
		chunk++;
		buf += chunk;
		len -= chunk;
	}
	return ret;
}
