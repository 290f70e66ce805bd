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

/* ---- YAML (and JSON, a subset of it) → json-c, streamed ---- */

static struct json_object *scalar_to_json(const yaml_event_t *e)
{
	const char *v = (const char *)e->data.scalar.value;
	size_t len = e->data.scalar.length;
	char *end;

	/* untagged quoted scalars are strings; plain ones are typed as YAML 1.1/JSON do */
	if (e->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
	    (e->data.scalar.tag && !strcmp((const char *)e->data.scalar.tag, YAML_STR_TAG)))
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

/*
 * Append obj (or, for a List, its items) through emit.  Takes obj.  Items
 * of a typed list (ServiceList) carry no kind: they get it here.
 */
static void emit_object(struct json_object *obj, manifest_object_fn emit, void *arg)
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
		char item_kind[64] = "";

		if (strcmp(k, "List") && strlen(k) - 4 < sizeof(item_kind))
			snprintf(item_kind, sizeof(item_kind), "%.*s", (int)(strlen(k) - 4), k);
		for (size_t i = 0; i < json_object_array_length(items); i++) {
			struct json_object *it = json_object_array_get_idx(items, i);

			if (*item_kind && json_object_is_type(it, json_type_object) &&
			    !json_object_object_get_ex(it, "kind", NULL))
				json_object_object_add(it, "kind", json_object_new_string(item_kind));
			emit(arg, json_object_get(it));
		}
		json_object_put(obj);
		return;
	}
	if (json_object_is_type(obj, json_type_array)) {
		/* a top-level JSON array of objects is a list too */
		for (size_t i = 0; i < json_object_array_length(obj); i++)
			emit_object(json_object_get(json_object_array_get_idx(obj, i)), emit, arg);
		json_object_put(obj);
		return;
	}
	emit(arg, obj);
}

struct anchor {
	char *name;
	struct json_object *obj;
};

struct conv {
	struct json_object *stack[MAX_DEPTH + 1];
	char *key[MAX_DEPTH + 1];	/* pending mapping key at each level */
	bool have_key[MAX_DEPTH + 1];
	int depth;			/* open collections */
	struct anchor *anchors;
	unsigned n_anchors;
	manifest_object_fn emit;
	void *arg;
	char *err;
	size_t errlen;
};

static void conv_reset_doc(struct conv *c)
{
	for (int i = 0; i < c->depth; i++) {
		json_object_put(c->stack[i]);
		free(c->key[i]);
		c->key[i] = NULL;
		c->have_key[i] = false;
	}
	c->depth = 0;
	for (unsigned i = 0; i < c->n_anchors; i++) {
		free(c->anchors[i].name);
		json_object_put(c->anchors[i].obj);
	}
	free(c->anchors);
	c->anchors = NULL;
	c->n_anchors = 0;
}

static void remember(struct conv *c, const yaml_char_t *anchor, struct json_object *v)
{
	if (!anchor)
		return;
	c->anchors = xrealloc(c->anchors, (c->n_anchors + 1) * sizeof(*c->anchors));
	c->anchors[c->n_anchors].name = xstrdup((const char *)anchor);
	c->anchors[c->n_anchors].obj = json_object_get(v);
	c->n_anchors++;
}

/*
 * Place a finished value (taken) into its parent.  A mapping that is an
 * item of the root's "items" list and names its own kind is emitted right
 * away: a List of 10,000 Services never sits in memory whole.
 */
static int place(struct conv *c, struct json_object *v, const yaml_mark_t *mark)
{
	struct json_object *parent;
	int d = c->depth;

	if (d == 0) {
		emit_object(v, c->emit, c->arg);
		return 0;
	}
	parent = c->stack[d - 1];
	if (json_object_is_type(parent, json_type_array)) {
		if (d == 2 && c->have_key[0] && c->key[0] && !strcmp(c->key[0], "items") &&
		    json_object_is_type(c->stack[0], json_type_object) &&
		    json_object_is_type(v, json_type_object) &&
		    json_object_object_get_ex(v, "kind", NULL)) {
			c->emit(c->arg, v);
			return 0;
		}
		json_object_array_add(parent, v);
		return 0;
	}
	if (!c->have_key[d - 1]) {
		/* a mapping key: must be a scalar */
		if (!v || !(json_object_is_type(v, json_type_string) ||
			    json_object_is_type(v, json_type_int) ||
			    json_object_is_type(v, json_type_boolean) ||
			    json_object_is_type(v, json_type_double))) {
			snprintf(c->err, c->errlen, "line %zu: mapping key is not a scalar",
				 mark->line + 1);
			json_object_put(v);
			return -EINVAL;
		}
		c->key[d - 1] = xstrdup(json_object_get_string(v));
		c->have_key[d - 1] = true;
		json_object_put(v);
		return 0;
	}
	json_object_object_add(parent, c->key[d - 1], v);
	free(c->key[d - 1]);
	c->key[d - 1] = NULL;
	c->have_key[d - 1] = false;
	return 0;
}

static int open_collection(struct conv *c, struct json_object *o, const yaml_char_t *anchor,
			   const yaml_mark_t *mark)
{
	if (c->depth >= MAX_DEPTH) {
		json_object_put(o);
		snprintf(c->err, c->errlen, "line %zu: nesting deeper than %d", mark->line + 1,
			 MAX_DEPTH);
		return -EINVAL;
	}
	remember(c, anchor, o);
	c->stack[c->depth] = o;
	c->key[c->depth] = NULL;
	c->have_key[c->depth] = false;
	c->depth++;
	return 0;
}

/* Stream YAML/JSON from text (or, when text is NULL, from f); emit each object (taken by emit). */
static int parse_stream(const char *text, size_t len, FILE *f, manifest_object_fn emit, void *arg,
			char *err, size_t errlen)
{
	struct conv c = { .emit = emit, .arg = arg, .err = err, .errlen = errlen };
	yaml_parser_t parser;
	bool done = false;
	int r = 0;

	if (!yaml_parser_initialize(&parser)) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (text)
		yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	else
		yaml_parser_set_input_file(&parser, f);
	while (!done && r == 0) {
		yaml_event_t e;
		struct json_object *v;

		if (!yaml_parser_parse(&parser, &e)) {
			snprintf(err, errlen, "line %zu: %s%s%s", parser.problem_mark.line + 1,
				 parser.problem ? parser.problem : "syntax error",
				 parser.context ? " " : "", parser.context ? parser.context : "");
			r = -EINVAL;
			break;
		}
		switch (e.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_END_EVENT:
			conv_reset_doc(&c);
			break;
		case YAML_SCALAR_EVENT:
			v = scalar_to_json(&e);
			remember(&c, e.data.scalar.anchor, v);
			r = place(&c, v, &e.start_mark);
			break;
		case YAML_ALIAS_EVENT: {
			struct json_object *a = NULL;
			bool found = false;

			for (unsigned i = c.n_anchors; i-- > 0 && !found;)
				if (!strcmp(c.anchors[i].name, (const char *)e.data.alias.anchor)) {
					a = c.anchors[i].obj;
					found = true;
				}
			if (!found) {
				snprintf(err, errlen, "line %zu: unknown alias *%s",
					 e.start_mark.line + 1, e.data.alias.anchor);
				r = -EINVAL;
				break;
			}
			r = place(&c, json_object_get(a), &e.start_mark);
			break;
		}
		case YAML_SEQUENCE_START_EVENT:
			r = open_collection(&c, json_object_new_array(), e.data.sequence_start.anchor,
					    &e.start_mark);
			break;
		case YAML_MAPPING_START_EVENT:
			r = open_collection(&c, json_object_new_object(), e.data.mapping_start.anchor,
					    &e.start_mark);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			c.depth--;
			v = c.stack[c.depth];
			free(c.key[c.depth]);
			c.key[c.depth] = NULL;
			c.have_key[c.depth] = false;
			r = place(&c, v, &e.start_mark);
			break;
		default:
			break;
		}
		yaml_event_delete(&e);
	}
	conv_reset_doc(&c);
	yaml_parser_delete(&parser);
	return r;
}

static void collect(void *arg, struct json_object *obj)
{
	json_object_array_add(arg, obj);
}

int manifest_parse(const char *text, size_t len, struct json_object **ret_array, char *err,
		   size_t errlen)
{
	struct json_object *arr = json_object_new_array();
	int r = manifest_parse_stream(text, len, collect, arr, err, errlen);

	if (r < 0) {
		json_object_put(arr);
		return r;
	}
	*ret_array = arr;
	return 0;
}

int manifest_parse_stream(const char *text, size_t len, manifest_object_fn fn, void *arg,
			  char *err, size_t errlen)
{
	return parse_stream(text, len, NULL, fn, arg, err, errlen);
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

struct load_ctx {
	struct manifest_source *m;
	const char *path;
	char **keys;		/* "<kind digit>ns/name" of the objects applied */
	unsigned n, cap;
	unsigned index;
};

static void add_key(struct load_ctx *l, char *key)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->keys = xrealloc(l->keys, l->cap * sizeof(*l->keys));
	}
	l->keys[l->n++] = key;
}

/* One object of a file: apply it to the cache at once, remember its key. */
static void apply_one(void *arg, struct json_object *o)
{
	struct load_ctx *l = arg;
	struct json_object *md, *n, *ns;
	enum sy_kind k;
	char id[600];
	bool ok;

	l->index++;
	if (!o || !json_object_is_type(o, json_type_object)) {
		log_error("Manifest %s: document %u is not an object; skipped", l->path, l->index);
		json_object_put(o);
		return;
	}
	k = kind_of(o, &ok);
	if (!ok) {
		log_v(2, "Manifest %s: document %u is not a Service, EndpointSlice or Node; ignored",
		      l->path, l->index);
		json_object_put(o);
		return;
	}
	cache_apply(l->m->cache, k, CACHE_UPSERT, o);
	if (json_object_object_get_ex(o, "metadata", &md) &&
	    json_object_object_get_ex(md, "name", &n)) {
		const char *nss = json_object_object_get_ex(md, "namespace", &ns) ?
				  json_object_get_string(ns) : NULL;

		if (k == SY_KIND_NODE)
			snprintf(id, sizeof(id), "%d%s", k, json_object_get_string(n));
		else
			snprintf(id, sizeof(id), "%d%s/%s", k, nss && *nss ? nss : "default",
				 json_object_get_string(n));
		add_key(l, xstrdup(id));
	}
	json_object_put(o);
}

static void load_file(struct manifest_source *m, const char *name)
{
	char path[PATH_MAX], err[512];
	struct file_keys *fk = hmap_get(&m->files, name);
	struct load_ctx l = { .m = m, .path = path };
	FILE *f;
	int r;

	snprintf(path, sizeof(path), "%s/%s", m->dir, name);
	/* streamed from the file: a large manifest never sits in memory whole */
	f = fopen(path, "rbe");
	if (!f) {
		r = -errno;
		snprintf(err, sizeof(err), "%s", strerror(-r));
	} else {
		r = parse_stream(NULL, 0, f, apply_one, &l, err, sizeof(err));
		fclose(f);
	}
	if (!fk) {
		fk = xcalloc(1, sizeof(*fk));
		fk->name = xstrdup(name);
		hmap_put(&m->files, fk->name, fk);
	}
	if (r < 0) {
		/* what parsed is applied; everything else the file held keeps its last version */
		log_error("Manifest %s: %s; keeping its last good objects", path, err);
		for (unsigned i = 0; i < fk->n; i++) {
			cache_keep(m->cache, (enum sy_kind)(fk->keys[i][0] - '0'), fk->keys[i] + 1);
			add_key(&l, fk->keys[i]);
		}
		free(fk->keys);
	} else {
		for (unsigned i = 0; i < fk->n; i++)
			free(fk->keys[i]);
		free(fk->keys);
	}
	fk->keys = l.keys;
	fk->n = l.n;
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
