// SPDX-License-Identifier: Apache-2.0
/*
 * The manifest-directory source: *.yaml, *.yml and *.json files holding
 * Service, EndpointSlice and Node objects (multi-document YAML, kind: List
 * too).  The directory is re-read when inotify reports a change (debounced);
 * every reload replaces the cache's view, except that objects from a file
 * that fails to parse keep their last good version.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <ev.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>
#include <yaml.h>
#include "switchyard/log.h"
#include "switchyard/manifest.h"
#include "switchyard/model.h"

#define MAX_DEPTH 64

/* ---- YAML → json-c ---- */

static struct json_object *scalar_to_json(const yaml_node_t *n)
{
	const char *v = (const char *)n->data.scalar.value;
	size_t len = n->data.scalar.length;
	char *end;

	/* libyaml's loader tags every untagged scalar !!str, so only the style tells */
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return json_object_new_string_len(v, (int)len);
	if (!len || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	    !strcmp(v, "NULL"))
		return NULL;
	if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE"))
		return json_object_new_boolean(1);
	if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "FALSE"))
		return json_object_new_boolean(0);
	errno = 0;
	{
		long long x = strtoll(v, &end, 10);

		if (!*end && !errno && (v[0] != '0' || len == 1))
			return json_object_new_int64(x);
	}
	if (strpbrk(v, ".eE") && (isdigit((unsigned char)v[0]) || v[0] == '-' || v[0] == '.')) {
		double d = strtod(v, &end);

		if (!*end)
			return json_object_new_double(d);
	}
	return json_object_new_string_len(v, (int)len);
}

static int node_to_json(yaml_document_t *doc, yaml_node_t *n, int depth, struct json_object **ret,
			char *err, size_t errlen)
{
	struct json_object *o;

	if (depth > MAX_DEPTH) {
		snprintf(err, errlen, "nesting deeper than %d", MAX_DEPTH);
		return -EINVAL;
	}
	switch (n->type) {
	case YAML_SCALAR_NODE:
		*ret = scalar_to_json(n);
		return 0;
	case YAML_SEQUENCE_NODE:
		o = json_object_new_array();
		for (yaml_node_item_t *i = n->data.sequence.items.start;
		     i < n->data.sequence.items.top; i++) {
			struct json_object *c;

			if (node_to_json(doc, yaml_document_get_node(doc, *i), depth + 1, &c, err,
					 errlen) < 0) {
				json_object_put(o);
				return -EINVAL;
			}
			json_object_array_add(o, c);
		}
		*ret = o;
		return 0;
	case YAML_MAPPING_NODE:
		o = json_object_new_object();
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(doc, p->key);
			struct json_object *c;

			if (!k || k->type != YAML_SCALAR_NODE) {
				snprintf(err, errlen, "line %zu: mapping key is not a scalar",
					 k ? k->start_mark.line + 1 : 0);
				json_object_put(o);
				return -EINVAL;
			}
			if (node_to_json(doc, yaml_document_get_node(doc, p->value), depth + 1, &c,
					 err, errlen) < 0) {
				json_object_put(o);
				return -EINVAL;
			}
			json_object_object_add(o, (const char *)k->data.scalar.value, c);
		}
		*ret = o;
		return 0;
	default:
		*ret = NULL;
		return 0;
	}
}

/* Append obj (or, for a List, its items) to arr.  Takes obj. */
static void add_object(struct json_object *arr, struct json_object *obj)
{
	struct json_object *kind, *items;
	const char *k;

	if (!obj)
		return;
	if (json_object_is_type(obj, json_type_object) &&
	    json_object_object_get_ex(obj, "kind", &kind) &&
	    (k = json_object_get_string(kind)) && strlen(k) >= 4 &&
	    !strcmp(k + strlen(k) - 4, "List") &&
	    json_object_object_get_ex(obj, "items", &items) &&
	    json_object_is_type(items, json_type_array)) {
		/* items of a typed list (ServiceList) carry no kind: derive it */
		char item_kind[64] = "";

		if (strcmp(k, "List") && strlen(k) - 4 < sizeof(item_kind))
			snprintf(item_kind, sizeof(item_kind), "%.*s", (int)(strlen(k) - 4), k);
		for (size_t i = 0; i < json_object_array_length(items); i++) {
			struct json_object *it = json_object_array_get_idx(items, i);

			if (*item_kind && json_object_is_type(it, json_type_object) &&
			    !json_object_object_get_ex(it, "kind", NULL))
				json_object_object_add(it, "kind", json_object_new_string(item_kind));
			json_object_array_add(arr, json_object_get(it));
		}
		json_object_put(obj);
		return;
	}
	json_object_array_add(arr, obj);
}

static int parse_json(const char *text, size_t len, struct json_object *arr, char *err,
		      size_t errlen)
{
	struct json_tokener *tok = json_tokener_new_ex(MAX_DEPTH);
	size_t off = 0;
	int r = 0;

	/* one or more concatenated JSON values */
	while (off < len) {
		struct json_object *o;
		enum json_tokener_error e;

		while (off < len && strchr(" \t\r\n", text[off]))
			off++;
		if (off >= len)
			break;
		o = json_tokener_parse_ex(tok, text + off, (int)(len - off));
		e = json_tokener_get_error(tok);
		if (e != json_tokener_success) {
			snprintf(err, errlen, "JSON: %s at offset %zu", json_tokener_error_desc(e),
				 off + json_tokener_get_parse_end(tok));
			r = -EINVAL;
			break;
		}
		off += json_tokener_get_parse_end(tok);
		json_tokener_reset(tok);
		add_object(arr, o);
	}
	json_tokener_free(tok);
	return r;
}

static int parse_yaml(const char *text, size_t len, struct json_object *arr, char *err,
		      size_t errlen)
{
	yaml_parser_t parser;
	int r = 0;

	if (!yaml_parser_initialize(&parser)) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	for (;;) {
		yaml_document_t doc;
		yaml_node_t *root;
		struct json_object *o;

		if (!yaml_parser_load(&parser, &doc)) {
			snprintf(err, errlen, "YAML line %zu: %s", parser.problem_mark.line + 1,
				 parser.problem ? parser.problem : "syntax error");
			r = -EINVAL;
			break;
		}
		root = yaml_document_get_root_node(&doc);
		if (!root) {
			yaml_document_delete(&doc);
			break;	/* end of stream */
		}
		r = node_to_json(&doc, root, 0, &o, err, errlen);
		yaml_document_delete(&doc);
		if (r < 0)
			break;
		add_object(arr, o);
	}
	yaml_parser_delete(&parser);
	return r;
}

int manifest_parse(const char *text, size_t len, struct json_object **ret_array, char *err,
		   size_t errlen)
{
	struct json_object *arr = json_object_new_array();
	size_t i = 0;
	int r;

	while (i < len && strchr(" \t\r\n", text[i]))
		i++;
	if (i < len && (text[i] == '{' || text[i] == '['))
		r = parse_json(text + i, len - i, arr, err, errlen);
	else
		r = parse_yaml(text, len, arr, err, errlen);
	if (r < 0) {
		json_object_put(arr);
		return r;
	}
	/* a top-level JSON array of objects is a list too */
	if (json_object_array_length(arr) == 1 &&
	    json_object_is_type(json_object_array_get_idx(arr, 0), json_type_array)) {
		struct json_object *inner = json_object_get(json_object_array_get_idx(arr, 0));
		struct json_object *flat = json_object_new_array();

		for (size_t k = 0; k < json_object_array_length(inner); k++)
			add_object(flat, json_object_get(json_object_array_get_idx(inner, k)));
		json_object_put(inner);
		json_object_put(arr);
		arr = flat;
	}
	*ret_array = arr;
	return 0;
}

/* ---- the directory source ---- */

struct file_keys {
	char *name;		/* file name (hmap key) */
	char **keys;		/* "K<kind>ns/name" of the objects it held last time it parsed */
	unsigned n;
};

struct manifest_source {
	struct ev_loop *loop;
	char *dir;
	struct cache *cache;
	int ifd;
	ev_io io;
	ev_timer debounce;
	struct hmap files;	/* name → struct file_keys */
};

static enum sy_kind kind_of(struct json_object *o, bool *ok)
{
	struct json_object *k;
	const char *s;

	*ok = true;
	if (json_object_object_get_ex(o, "kind", &k) && (s = json_object_get_string(k))) {
		if (!strcmp(s, "Service"))
			return SY_KIND_SERVICE;
		if (!strcmp(s, "EndpointSlice"))
			return SY_KIND_ENDPOINTSLICE;
		if (!strcmp(s, "Node"))
			return SY_KIND_NODE;
	}
	*ok = false;
	return SY_KIND_MAX;
}

static void file_keys_free(struct file_keys *f)
{
	for (unsigned i = 0; i < f->n; i++)
		free(f->keys[i]);
	free(f->keys);
	free(f->name);
	free(f);
}

static bool wanted(const char *name)
{
	size_t l = strlen(name);

	if (name[0] == '.')
		return false;
	return (l > 5 && !strcmp(name + l - 5, ".yaml")) || (l > 4 && !strcmp(name + l - 4, ".yml")) ||
	       (l > 5 && !strcmp(name + l - 5, ".json"));
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void load_file(struct manifest_source *m, const char *name)
{
	char path[PATH_MAX], err[512];
	struct json_object *arr = NULL;
	struct file_keys *fk = hmap_get(&m->files, name);
	char *text;
	size_t len;
	int r;

	snprintf(path, sizeof(path), "%s/%s", m->dir, name);
	r = sy_read_file(path, &text, &len);
	if (r < 0) {
		snprintf(err, sizeof(err), "%s", strerror(-r));
	} else {
		r = manifest_parse(text, len, &arr, err, sizeof(err));
		free(text);
	}
	if (r < 0) {
		log_error("Manifest %s: %s; keeping its last good objects", path, err);
		for (unsigned i = 0; fk && i < fk->n; i++)
			cache_keep(m->cache, (enum sy_kind)(fk->keys[i][0] - '0'), fk->keys[i] + 1);
		return;
	}
	if (!fk) {
		fk = xcalloc(1, sizeof(*fk));
		fk->name = xstrdup(name);
		hmap_put(&m->files, fk->name, fk);
	}
	for (unsigned i = 0; i < fk->n; i++)
		free(fk->keys[i]);
	free(fk->keys);
	fk->n = 0;
	fk->keys = xcalloc(json_object_array_length(arr), sizeof(char *));
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *o = json_object_array_get_idx(arr, i), *md, *n, *ns;
		bool ok;
		enum sy_kind k;
		char id[600];

		if (!o || !json_object_is_type(o, json_type_object)) {
			log_error("Manifest %s: document %zu is not an object; skipped", path, i + 1);
			continue;
		}
		k = kind_of(o, &ok);
		if (!ok) {
			log_v(2, "Manifest %s: document %zu is not a Service, EndpointSlice or Node; ignored",
			      path, i + 1);
			continue;
		}
		cache_apply(m->cache, k, CACHE_UPSERT, o);
		if (json_object_object_get_ex(o, "metadata", &md) &&
		    json_object_object_get_ex(md, "name", &n)) {
			const char *nss = json_object_object_get_ex(md, "namespace", &ns) ?
					  json_object_get_string(ns) : NULL;

			if (k == SY_KIND_NODE)
				snprintf(id, sizeof(id), "%d%s", k, json_object_get_string(n));
			else
				snprintf(id, sizeof(id), "%d%s/%s", k, nss && *nss ? nss : "default",
					 json_object_get_string(n));
			fk->keys[fk->n++] = xstrdup(id);
		}
	}
	json_object_put(arr);
}

int manifest_source_reload(struct manifest_source *m)
{
	DIR *d = opendir(m->dir);
	struct dirent *e;
	char **names = NULL;
	unsigned n = 0, cap = 0;
	struct hmap_iter it;
	void *v;
	const char *key;

	if (!d) {
		int r = -errno;

		log_error("Manifest directory %s: %s; keeping the current state", m->dir, strerror(-r));
		return r;
	}
	while ((e = readdir(d))) {
		if (!wanted(e->d_name))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			names = xrealloc(names, cap * sizeof(*names));
		}
		names[n++] = xstrdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), name_cmp);
	for (int k = 0; k < SY_KIND_MAX; k++)
		cache_replace_begin(m->cache, (enum sy_kind)k);
	for (unsigned i = 0; i < n; i++)
		load_file(m, names[i]);
	for (int k = 0; k < SY_KIND_MAX; k++)
		cache_replace_end(m->cache, (enum sy_kind)k);
	/* forget files that are gone */
	hmap_iter_init(&it, &m->files);
	while (hmap_iter_next(&it, &key, &v)) {
		bool present = bsearch(&key, names, n, sizeof(*names), name_cmp) != NULL;

		if (!present) {
			hmap_del(&m->files, key);
			file_keys_free(v);
		}
	}
	for (unsigned i = 0; i < n; i++)
		free(names[i]);
	free(names);
	log_v(2, "Manifest directory %s loaded: %u files", m->dir, n);
	return 0;
}

static void debounce_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct manifest_source *m = container_of(w, struct manifest_source, debounce);

	manifest_source_reload(m);
}

static void inotify_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct manifest_source *m = container_of(w, struct manifest_source, io);
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));

	/* drain; the content does not matter, only that something changed */
	while (read(m->ifd, buf, sizeof(buf)) > 0)
		;
	ev_timer_stop(loop, &m->debounce);
	ev_timer_set(&m->debounce, 0.05, 0);
	ev_timer_start(loop, &m->debounce);
}

int manifest_source_new(struct manifest_source **ret, struct ev_loop *loop, const char *dir,
			struct cache *cache)
{
	struct manifest_source *m = xcalloc(1, sizeof(*m));

	m->loop = loop;
	m->dir = xstrdup(dir);
	m->cache = cache;
	hmap_init(&m->files);
	m->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (m->ifd < 0 || inotify_add_watch(m->ifd, dir, IN_CLOSE_WRITE | IN_MOVED_TO |
					    IN_MOVED_FROM | IN_DELETE | IN_CREATE | IN_ATTRIB) < 0) {
		int r = -errno;

		if (m->ifd >= 0)
			close(m->ifd);
		free(m->dir);
		free(m);
		return r;
	}
	ev_io_init(&m->io, inotify_cb, m->ifd, EV_READ);
	ev_io_start(loop, &m->io);
	ev_timer_init(&m->debounce, debounce_cb, 0.05, 0);
	*ret = m;
	return 0;
}

void manifest_source_free(struct manifest_source *m)
{
	struct hmap_iter it;
	void *v;

	if (!m)
		return;
	ev_io_stop(m->loop, &m->io);
	ev_timer_stop(m->loop, &m->debounce);
	close(m->ifd);
	hmap_iter_init(&it, &m->files);
	while (hmap_iter_next(&it, NULL, &v))
		file_keys_free(v);
	hmap_clear(&m->files);
	free(m->dir);
	free(m);
}
