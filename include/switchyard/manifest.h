/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SWITCHYARD_MANIFEST_H
#define SWITCHYARD_MANIFEST_H
/*
 * The manifest-directory source: YAML/JSON files holding Service,
 * EndpointSlice, Node, Pod, Namespace and NetworkPolicy objects (multi-document, kind: List), re-read when
 * the directory changes (inotify on the libev loop).
 */
#include <stddef.h>

struct ev_loop;
struct cache;
struct json_object;

/*
 * Parse one YAML or JSON text (multi-document) into a json-c array of
 * objects (List items flattened).  Pure; -EINVAL with err on a syntax error.
 */
int manifest_parse(const char *text, size_t len, struct json_object **ret_array,
		   char *err, size_t errlen);
/*
 * Streaming form: fn gets each object as soon as it is complete (items of
 * a List one by one, never the whole list) and takes it.  Objects emitted
 * before a syntax error stay emitted; the caller decides what that means.
 */
typedef void (*manifest_object_fn)(void *arg, struct json_object *obj);
int manifest_parse_stream(const char *text, size_t len, manifest_object_fn fn, void *arg,
			  char *err, size_t errlen);
struct manifest_source;
struct sy_report;
/*
 * Watch dir, feed its objects to cache.  What a load meets besides goes to
 * rep (copied; NULL: nowhere), for the owner to log: a file that does not
 * parse ('E', once per content; its last good objects stay), a document
 * that is not an object, an object defined in several files and which one
 * wins ('E'), the file an object moves to ('I'), an unreadable directory
 * ('E').  Objects the decoder refuses are the cache's to report.
 */
int manifest_source_new(struct manifest_source **ret, struct ev_loop *loop, const char *dir,
			struct cache *cache, const struct sy_report *rep);
void manifest_source_free(struct manifest_source *m);
/*
 * The longest a file open for writing is waited for before it is read as
 * it is (default 60 s; set before the first load, for tests).
 */
void manifest_source_set_writer_wait(struct manifest_source *m, double seconds);
/* Load the directory now (also done at start and on every change). */
int manifest_source_reload(struct manifest_source *m);

#endif
