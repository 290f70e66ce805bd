/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SWITCHYARD_MANIFEST_H
#define SWITCHYARD_MANIFEST_H
/*
 * The manifest-directory source: YAML/JSON files holding Service,
 * EndpointSlice and Node objects (multi-document, kind: List), re-read when
 * the directory changes (inotify on the libev loop).
 */
struct ev_loop;
struct cache;
struct json_object;

/*
 * Parse one YAML or JSON text (multi-document) into a json-c array of
 * objects (List items flattened).  Pure; -EINVAL with err on a syntax error.
 */
int manifest_parse(const char *text, size_t len, struct json_object **ret_array,
		   char *err, size_t errlen);
/* Convert one YAML document's libyaml node tree: see src/yaml_json.c */
struct manifest_source;
int manifest_source_new(struct manifest_source **ret, struct ev_loop *loop, const char *dir,
			struct cache *cache);
void manifest_source_free(struct manifest_source *m);
/* Load the directory now (also done at start and on every change). */
int manifest_source_reload(struct manifest_source *m);

#endif
