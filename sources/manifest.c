// SPDX-License-Identifier: Apache-2.0
/*
 * The manifest-directory source: *.yaml, *.yml and *.json files holding
 * Service, EndpointSlice and Node objects, and Pod, Namespace and
 * NetworkPolicy objects for --network-policy (multi-document YAML, kind: List
 * too).  A file inotify reports closed, renamed or removed is re-read on the
 * next loop iteration; one only created or touched after DEBOUNCE;
 * every reload replaces the cache's view, except that objects from a file
 * that fails to parse keep their last good version.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>
#include "switchyard/log.h"
#include "switchyard/manifest.h"
#include "switchyard/model.h"

#define MAX_DEPTH 64

/*
 * Limits (every one over → the file is rejected with a named error).  Alias
 * expansion is counted as if the aliased value were written out: a 500-byte
 * "billion laughs" file stops at the first object that would exceed them.
 */
#define MAX_FILE_BYTES		(256u << 20)	/* one manifest file (a List of 50,000 Services: 67 MB) */
#define MAX_OBJECT_BYTES	(3u << 20)	/* one object: the API server's request limit */
#define MAX_OBJECT_NODES	200000u		/* YAML nodes in one object, aliases expanded */
#define MAX_DOC_NODES		20000000u	/* YAML nodes in one document, aliases expanded */
#define MAX_DOC_ALIASES		10000u		/* alias uses in one document */

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
	uint64_t nodes, bytes;		/* its size, aliases inside it expanded */
};

/* Input through libyaml's read handler: a size cap and object bounds. */
struct reader {
	const unsigned char *text;	/* a string ... */
	size_t len, off;
	int fd;				/* ... or a file descriptor */
	uint64_t total;			/* bytes read */
	uint64_t obj_start;		/* total when the current object began */
	int fail;			/* why the handler failed: 0, -EFBIG (file), -E2BIG (object), -errno */
};

struct conv {
	struct json_object *stack[MAX_DEPTH + 1];
	char *key[MAX_DEPTH + 1];	/* pending mapping key at each level */
	bool have_key[MAX_DEPTH + 1];
	int depth;			/* open collections */
	struct anchor *anchors;
	unsigned n_anchors;
	uint64_t open_nodes[MAX_DEPTH + 1], open_bytes[MAX_DEPTH + 1];	/* totals at open */
	int open_anchor[MAX_DEPTH + 1];	/* index in anchors of an open collection's anchor, or -1 */
	uint64_t nodes, bytes;		/* running totals in this document, aliases expanded */
	uint64_t obj_nodes, obj_bytes;	/* totals when the current object began */
	unsigned aliases;		/* alias uses in this document */
	struct reader *rd;
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
	c->nodes = c->bytes = c->obj_nodes = c->obj_bytes = 0;
	c->aliases = 0;
}

static void remember(struct conv *c, const yaml_char_t *anchor, struct json_object *v,
		     uint64_t nodes, uint64_t bytes)
{
	if (!anchor)
		return;
	c->anchors = xrealloc(c->anchors, (c->n_anchors + 1) * sizeof(*c->anchors));
	c->anchors[c->n_anchors].name = xstrdup((const char *)anchor);
	c->anchors[c->n_anchors].obj = json_object_get(v);
	c->anchors[c->n_anchors].nodes = nodes;
	c->anchors[c->n_anchors].bytes = bytes;
	c->n_anchors++;
}

/* Count nodes/bytes (an alias counts what it expands to); -E2BIG with err over a limit. */
static int account(struct conv *c, uint64_t nodes, uint64_t bytes, const yaml_mark_t *mark)
{
	c->nodes += nodes;
	c->bytes += bytes;
	if (c->nodes - c->obj_nodes > MAX_OBJECT_NODES) {
		snprintf(c->err, c->errlen, "line %zu: object too large: more than %u YAML nodes "
			 "(aliases expanded)", mark->line + 1, MAX_OBJECT_NODES);
		return -E2BIG;
	}
	if (c->bytes - c->obj_bytes > MAX_OBJECT_BYTES) {
		snprintf(c->err, c->errlen, "line %zu: object too large: more than %u bytes "
			 "(aliases expanded)", mark->line + 1, MAX_OBJECT_BYTES);
		return -E2BIG;
	}
	if (c->nodes > MAX_DOC_NODES) {
		snprintf(c->err, c->errlen, "line %zu: document too large: more than %u YAML nodes "
			 "(aliases expanded)", mark->line + 1, MAX_DOC_NODES);
		return -E2BIG;
	}
	return 0;
}

/* An object is complete: the next one's size counts from here. */
static void object_done(struct conv *c)
{
	c->obj_nodes = c->nodes;
	c->obj_bytes = c->bytes;
	if (c->rd)
		c->rd->obj_start = c->rd->total;
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
		object_done(c);
		return 0;
	}
	parent = c->stack[d - 1];
	if (json_object_is_type(parent, json_type_array)) {
		if (d == 2 && c->have_key[0] && c->key[0] && !strcmp(c->key[0], "items") &&
		    json_object_is_type(c->stack[0], json_type_object) &&
		    json_object_is_type(v, json_type_object) &&
		    json_object_object_get_ex(v, "kind", NULL)) {
			c->emit(c->arg, v);
			object_done(c);
			return 0;
		}
		if (d == 1 && json_object_is_type(v, json_type_object)) {
			/* a top-level JSON array of objects streams too */
			emit_object(v, c->emit, c->arg);
			object_done(c);
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
	int r = account(c, 1, 0, mark);

	if (r < 0) {
		json_object_put(o);
		return r;
	}
	if (c->depth >= MAX_DEPTH) {
		json_object_put(o);
		snprintf(c->err, c->errlen, "line %zu: nesting deeper than %d", mark->line + 1,
			 MAX_DEPTH);
		return -EINVAL;
	}
	c->open_nodes[c->depth] = c->nodes;
	c->open_bytes[c->depth] = c->bytes;
	c->open_anchor[c->depth] = anchor ? (int)c->n_anchors : -1;
	remember(c, anchor, o, 0, 0);	/* sized when it closes */
	c->stack[c->depth] = o;
	c->key[c->depth] = NULL;
	c->have_key[c->depth] = false;
	c->depth++;
	return 0;
}

static int read_handler(void *data, unsigned char *buf, size_t size, size_t *size_read)
{
	struct reader *rd = data;
	size_t n;

	*size_read = 0;
	if (rd->text) {
		n = rd->len - rd->off < size ? rd->len - rd->off : size;
		memcpy(buf, rd->text + rd->off, n);
		rd->off += n;
	} else {
		ssize_t k;

		do
			k = read(rd->fd, buf, size);
		while (k < 0 && errno == EINTR);
		if (k < 0) {
			rd->fail = errno == EAGAIN ? -EAGAIN : -errno;
			return 0;
		}
		n = (size_t)k;
	}
	rd->total += n;
	if (rd->total > MAX_FILE_BYTES) {
		rd->fail = -EFBIG;
		return 0;
	}
	/* one scalar (a 50 MB annotation) must not be scanned whole before it is refused */
	if (rd->total - rd->obj_start > MAX_OBJECT_BYTES + 65536) {
		rd->fail = -E2BIG;
		return 0;
	}
	*size_read = n;
	return 1;
}

static bool is_open(const struct conv *c, const struct json_object *o)
{
	for (int i = 0; i < c->depth; i++)
		if (c->stack[i] == o)
			return true;
	return false;
}

/* Stream YAML/JSON from rd; emit each object (taken by emit). */
static int parse_stream(struct reader *rd, manifest_object_fn emit, void *arg, char *err,
			size_t errlen)
{
	struct conv c = { .emit = emit, .arg = arg, .err = err, .errlen = errlen, .rd = rd };
	yaml_parser_t parser;
	bool done = false;
	int r = 0;

	if (!yaml_parser_initialize(&parser)) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	yaml_parser_set_input(&parser, read_handler, rd);
	while (!done && r == 0) {
		yaml_event_t e;
		struct json_object *v;

		if (!yaml_parser_parse(&parser, &e)) {
			if (rd->fail == -EFBIG) {
				snprintf(err, errlen, "file too large: more than %u bytes", MAX_FILE_BYTES);
				r = -EFBIG;
			} else if (rd->fail == -E2BIG) {
				snprintf(err, errlen, "line %zu: object too large: more than %u bytes",
					 parser.mark.line + 1, MAX_OBJECT_BYTES);
				r = -E2BIG;
			} else if (rd->fail) {
				snprintf(err, errlen, "read: %s", strerror(-rd->fail));
				r = rd->fail;
			} else {
				snprintf(err, errlen, "line %zu: %s%s%s", parser.problem_mark.line + 1,
					 parser.problem ? parser.problem : "syntax error",
					 parser.context ? " " : "", parser.context ? parser.context : "");
				r = -EINVAL;
			}
			break;
		}
		switch (e.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			object_done(&c);
			break;
		case YAML_DOCUMENT_END_EVENT:
			conv_reset_doc(&c);
			break;
		case YAML_SCALAR_EVENT:
			r = account(&c, 1, e.data.scalar.length, &e.start_mark);
			if (r < 0)
				break;
			v = scalar_to_json(&e);
			remember(&c, e.data.scalar.anchor, v, 1, e.data.scalar.length);
			r = place(&c, v, &e.start_mark);
			break;
		case YAML_ALIAS_EVENT: {
			struct anchor *a = NULL;

			for (unsigned i = c.n_anchors; i-- > 0 && !a;)
				if (!strcmp(c.anchors[i].name, (const char *)e.data.alias.anchor))
					a = &c.anchors[i];
			if (!a) {
				snprintf(err, errlen, "line %zu: unknown alias *%s",
					 e.start_mark.line + 1, e.data.alias.anchor);
				r = -EINVAL;
				break;
			}
			if (a->obj && is_open(&c, a->obj)) {
				/* it would contain itself */
				snprintf(err, errlen, "line %zu: alias *%s refers to a collection that "
					 "contains it", e.start_mark.line + 1, e.data.alias.anchor);
				r = -ELOOP;
				break;
			}
			if (++c.aliases > MAX_DOC_ALIASES) {
				snprintf(err, errlen, "line %zu: more than %u aliases in one document",
					 e.start_mark.line + 1, MAX_DOC_ALIASES);
				r = -E2BIG;
				break;
			}
			r = account(&c, a->nodes, a->bytes, &e.start_mark);
			if (r < 0)
				break;
			r = place(&c, json_object_get(a->obj), &e.start_mark);
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
			if (c.open_anchor[c.depth] >= 0) {
				struct anchor *a = &c.anchors[c.open_anchor[c.depth]];

				a->nodes = c.nodes - c.open_nodes[c.depth] + 1;
				a->bytes = c.bytes - c.open_bytes[c.depth];
			}
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
	struct reader rd = { .text = (const unsigned char *)(text ? text : ""), .len = text ? len : 0,
			     .fd = -1 };

	return parse_stream(&rd, fn, arg, err, errlen);
}

/* ---- the directory source ---- */

/*
 * Every file remembers the objects it held when it last parsed ("keys":
 * "<kind digit><ns>/<name>"), and every object the files it is in (sorted by
 * name).  The first of those files wins; the others are named in an error.
 * A change reloads only the files inotify named; an unchanged file (same
 * content hash) is not parsed again.
 */
struct file_state {
	char *name;		/* file name (hmap key) */
	char **keys;		/* objects it held the last time it parsed */
	unsigned n;
	uint64_t hash;		/* content hash of the last read, 0 = never read */
	uint64_t err_sig;	/* the error last logged for it (once per content), 0 = none */
};

struct owner {
	char *key;		/* "<kind digit>ns/name" (hmap key) */
	char **files;		/* the files that define it, sorted; files[0] wins */
	unsigned n;
};

#define DEBOUNCE 0.05	/* seconds to wait for a file only created or touched to be closed */
#define RETRY 1.0	/* seconds between tries to watch a directory that went away */
#define WRITER_WAIT 60.0	/* the longest a file open for writing is waited for */

struct manifest_source {
	struct ev_loop *loop;
	char *dir;
	struct cache *cache;
	struct sy_report rep;		/* the owner's: what a (re)load meets */
	int ifd;
	ev_io io;
	ev_timer debounce;
	struct hmap files;	/* name → struct file_state */
	struct hmap owners;	/* key → struct owner */
	struct hmap pending;	/* names inotify reported (value unused) */
	struct hmap unsettled;	/* of those, created or touched but not yet closed (value = key) */
	struct hmap redo;	/* files to re-apply: they now win an object another file gave up */
	struct hmap busy;	/* files open for writing when read, not read (value = key) */
	ev_timer writer;	/* WRITER_WAIT for them */
	bool writers_waited;	/* reading them as they are: writer_wait passed */
	double writer_wait;	/* WRITER_WAIT (manifest_source_set_writer_wait) */
	bool full;		/* rescan the whole directory (queue overflow, first load) */
	bool loaded;		/* the first listing is complete (the cache is synced) */
	bool listing;		/* a whole-directory read not yet ended (finish_load) */
	bool unwatched;		/* the directory was removed or moved away: watch it again */
	int wd;			/* the directory's watch (-1 while unwatched) */
};

static enum sy_kind kind_of(struct json_object *o, bool *ok)
{
	struct json_object *k;
	const char *s;

	*ok = true;
	if (json_object_object_get_ex(o, "kind", &k) && (s = json_object_get_string(k)))
		for (int i = 0; i < SY_KIND_MAX; i++)
			if (!strcmp(s, sy_kind_name((enum sy_kind)i)))
				return (enum sy_kind)i;
	*ok = false;
	return SY_KIND_MAX;
}

/* The lists of names (a file's keys, an object's files): grown by strv_add. */
static void strv_add(char ***v, unsigned *n, char *s)
{
	if (!(*n & (*n - 1)) || !*n)	/* grow at powers of two */
		*v = xrealloc(*v, (*n ? *n * 2 : 1) * sizeof(**v));
	(*v)[(*n)++] = s;
}

static void strv_free(char **v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void file_state_free(void *p)
{
	struct file_state *f = p;

	strv_free(f->keys, f->n);
	sy_free_all(f->name, f);
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

/* "<kind digit>ns/name" → a minimal object for a CACHE_DELETE */
static struct json_object *key_object(const char *key, enum sy_kind *kind)
{
	struct json_object *o = json_object_new_object(), *md = json_object_new_object();
	const char *id = key + 1, *slash;

	*kind = (enum sy_kind)(key[0] - '0');
	if (!sy_kind_cluster_scoped(*kind) && (slash = strchr(id, '/'))) {
		json_object_object_add(md, "namespace",
				       json_object_new_string_len(id, (int)(slash - id)));
		id = slash + 1;
	}
	json_object_object_add(md, "name", json_object_new_string(id));
	json_object_object_add(o, "metadata", md);
	return o;
}

static void owner_free(void *p)
{
	struct owner *o = p;

	strv_free(o->files, o->n);
	sy_free_all(o->key, o);
}

/* File name no longer defines key: the next file wins it, or the object goes. */
static void release(struct manifest_source *m, const char *file, const char *key)
{
	struct owner *o = hmap_get(&m->owners, key);
	unsigned i;

	if (!o)
		return;
	for (i = 0; i < o->n && strcmp(o->files[i], file); i++)
		;
	if (i == o->n)
		return;
	free(o->files[i]);
	memmove(&o->files[i], &o->files[i + 1], (o->n - i - 1) * sizeof(*o->files));
	o->n--;
	if (!o->n) {
		enum sy_kind k;
		struct json_object *obj = key_object(key, &k);

		cache_apply(m->cache, k, CACHE_DELETE, obj);
		json_object_put(obj);
		hmap_del(&m->owners, o->key);
		owner_free(o);
		return;
	}
	if (i == 0 && !hmap_get(&m->redo, o->files[0])) {
		sy_report(&m->rep, 'I', "Manifest %s/%s: %s %s now comes from %s", m->dir, file,
			  sy_kind_name((enum sy_kind)(key[0] - '0')), key + 1, o->files[0]);
		hmap_put(&m->redo, xstrdup(o->files[0]), (void *)1);
	}
}

struct load_ctx {
	struct manifest_source *m;
	const char *name;	/* file name */
	const char *path;
	char **keys;		/* keys of the objects this parse saw */
	unsigned n;
	struct hmap seen;	/* the same keys (not owned): a lookup, not a walk, per object */
	unsigned index;
};

/* One object of a file: apply it to the cache at once if this file wins it. */
static void apply_one(void *arg, struct json_object *o)
{
	struct load_ctx *l = arg;
	struct manifest_source *m = l->m;
	struct owner *ow;
	enum sy_kind k;
	char id[600], key[610];
	bool ok, found = false;

	l->index++;
	if (!o || !json_object_is_type(o, json_type_object)) {
		sy_report(&m->rep, 'E', "Manifest %s: document %u is not an object; skipped",
			  l->path, l->index);
		json_object_put(o);
		return;
	}
	k = kind_of(o, &ok);
	if (!ok) {
		log_v(2, "Manifest %s: document %u is not a kind switchyard reads; ignored",
		      l->path, l->index);
		json_object_put(o);
		return;
	}
	if (cache_object_key(k, o, id, sizeof(id)) < 0) {
		/* no valid name: the decoder names the problem, nothing is owned */
		cache_apply(m->cache, k, CACHE_UPSERT, o);
		json_object_put(o);
		return;
	}
	snprintf(key, sizeof(key), "%d%s", k, id);
	if (!hmap_get(&l->seen, key)) {
		strv_add(&l->keys, &l->n, xstrdup(key));
		hmap_put(&l->seen, l->keys[l->n - 1], (void *)1);
	}
	ow = hmap_get(&m->owners, key);
	if (!ow) {
		ow = xcalloc(1, sizeof(*ow));
		ow->key = xstrdup(key);
		hmap_put(&m->owners, ow->key, ow);
	}
	found = false;
	for (unsigned i = 0; i < ow->n && !found; i++)
		found = !strcmp(ow->files[i], l->name);
	if (!found) {
		unsigned i;

		strv_add(&ow->files, &ow->n, xstrdup(l->name));
		qsort(ow->files, ow->n, sizeof(*ow->files), name_cmp);
		if (ow->n > 1) {
			char others[512] = "";
			size_t off = 0;

			for (i = 1; i < ow->n && off < sizeof(others); i++)
				off += (size_t)snprintf(others + off, sizeof(others) - off, "%s%s/%s",
							i > 1 ? ", " : "", m->dir, ow->files[i]);
			sy_report(&m->rep, 'E', "%s %s is defined in more than one manifest file: "
				  "%s/%s and %s; using %s/%s (the first by name)", sy_kind_name(k), id, m->dir,
				  ow->files[0], others, m->dir, ow->files[0]);
		}
	}
	if (!strcmp(ow->files[0], l->name))
		cache_apply(m->cache, k, CACHE_UPSERT, o);
	json_object_put(o);
}

static uint64_t fnv(const void *p, size_t n, uint64_t h)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

/* What read_manifest found: a small file's text, or a large file's open descriptor. */
struct manifest_text {
	char *text;		/* the whole file (small files) ... */
	size_t len;
	int fd;			/* ... or positioned at its start, for parse_stream (-1: none) */
	uint64_t sig;		/* content hash, or what identifies a refused file */
};

/* Hash a large file in pieces: what it holds is not kept (parse_stream reads it again). */
static int hash_fd(int fd, const struct stat *st, struct manifest_text *mt, char *err,
		   size_t errlen)
{
	unsigned char buf[1u << 16];
	uint64_t h = 0xcbf29ce484222325ull, total = 0;

	for (;;) {
		ssize_t k = read(fd, buf, sizeof(buf));

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			int r = -errno;

			snprintf(err, errlen, "%s", strerror(-r));
			return r;
		}
		if (k == 0)
			break;
		total += (uint64_t)k;
		if (total > MAX_FILE_BYTES) {
			mt->sig = fnv(&total, sizeof(total), (uint64_t)st->st_ino);
			snprintf(err, errlen, "file too large: more than %u bytes", MAX_FILE_BYTES);
			return -EFBIG;
		}
		h = fnv(buf, (size_t)k, h);
	}
	if (lseek(fd, 0, SEEK_SET) < 0) {
		int r = -errno;

		snprintf(err, errlen, "%s", strerror(-r));
		return r;
	}
	mt->sig = h;
	return 0;
}

/*
 * Read a regular file of at most MAX_FILE_BYTES without ever blocking (a
 * FIFO or a device is refused after a non-blocking open).  A file over
 * STREAM_FROM is hashed in pieces and then parsed from its descriptor: a
 * 67 MB List (50,000 Services) never sits in memory as text.  mt->sig
 * identifies what was found (content hash, or the file type) for logging
 * once.
 */
#define STREAM_FROM (4u << 20)

/*
 * True when a process has the file open for writing: the kernel refuses a
 * read lease then (EAGAIN).  The lease is given back at once.  Where leases
 * are not to be had (another owner without CAP_LEASE, a file system
 * without them) the file counts as closed.
 */
static bool open_for_writing(int fd)
{
	if (fcntl(fd, F_SETLEASE, F_RDLCK) < 0)
		return errno == EAGAIN;
	fcntl(fd, F_SETLEASE, F_UNLCK);
	return false;
}

static int read_manifest(const char *path, bool wait_writer, struct manifest_text *mt, char *err,
			 size_t errlen)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	size_t len = 0, cap;
	char *buf;
	int r;

	mt->text = NULL;
	mt->len = 0;
	mt->fd = -1;
	mt->sig = 0;
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "%s", strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(err, errlen, "%s", strerror(-r));
		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		mt->sig = fnv(&st.st_ino, sizeof(st.st_ino), (uint64_t)st.st_mode);
		snprintf(err, errlen, "not a regular file");
		close(fd);
		return -EINVAL;
	}
	if (wait_writer && open_for_writing(fd)) {
		snprintf(err, errlen, "open for writing");
		close(fd);
		return -EBUSY;
	}
	if ((uint64_t)st.st_size > MAX_FILE_BYTES) {
		mt->sig = fnv(&st.st_size, sizeof(st.st_size), (uint64_t)st.st_ino);
		snprintf(err, errlen, "file too large: %lld bytes, more than %u",
			 (long long)st.st_size, MAX_FILE_BYTES);
		close(fd);
		return -EFBIG;
	}
	if ((uint64_t)st.st_size > STREAM_FROM) {
		r = hash_fd(fd, &st, mt, err, errlen);
		if (r < 0) {
			close(fd);
			return r;
		}
		mt->fd = fd;
		return 0;
	}
	cap = (size_t)st.st_size + 1;
	buf = xmalloc(cap);
	for (;;) {
		ssize_t k;

		if (len == cap) {
			if (cap > MAX_FILE_BYTES) {
				free(buf);
				close(fd);
				mt->sig = fnv(&len, sizeof(len), (uint64_t)st.st_ino);
				snprintf(err, errlen, "file too large: more than %u bytes", MAX_FILE_BYTES);
				return -EFBIG;
			}
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		k = read(fd, buf + len, cap - len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = -errno;
			free(buf);
			close(fd);
			snprintf(err, errlen, "%s", strerror(-r));
			return r;
		}
		if (k == 0)
			break;
		len += (size_t)k;
	}
	close(fd);
	mt->sig = fnv(buf, len, 0xcbf29ce484222325ull);
	mt->text = buf;
	mt->len = len;
	return 0;
}

/* The text or descriptor read_manifest left. */
static void manifest_text_free(struct manifest_text *mt)
{
	free(mt->text);
	mt->text = NULL;
	if (mt->fd >= 0)
		close(mt->fd);
	mt->fd = -1;
}

/*
 * A small JSON file (what generators write) through json-c, ten times
 * faster than libyaml; true when it was one JSON value and was emitted.
 * Anything else (YAML, several documents, JSON deeper than json-c's
 * limit, a syntax error to be reported) goes through the YAML path.
 */
#define FAST_JSON_MAX (1u << 20)	/* well under one object's cap: no alias, no expansion */

static bool parse_json_fast(const char *text, size_t len, manifest_object_fn emit, void *arg)
{
	struct json_tokener *tok;
	struct json_object *o;
	size_t i = 0;

	while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
		i++;
	if (len > FAST_JSON_MAX || i == len || (text[i] != '{' && text[i] != '['))
		return false;
	tok = json_tokener_new();
	o = json_tokener_parse_ex(tok, text, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(o);
		json_tokener_free(tok);
		return false;
	}
	for (i = json_tokener_get_parse_end(tok); i < len; i++)
		if (text[i] != ' ' && text[i] != '\t' && text[i] != '\n' && text[i] != '\r') {
			json_object_put(o);	/* more than one value: YAML's business */
			json_tokener_free(tok);
			return false;
		}
	json_tokener_free(tok);
	emit_object(o, emit, arg);
	return true;
}

/*
 * A larger JSON List ({"kind": "List", "items": [...], ...}, what `kubectl
 * get -o json` and generators write) item by item: each item is cut at its
 * end (strings and escapes followed) and parsed by json-c, faster than the
 * YAML path's events (50,000 Services, 67.5 MB: json-c takes 0.85 s for all
 * items; the directory's read 2.2 s against 3.05 s).  Items with a kind are
 * emitted at once, the others with the List as the YAML path does.
 * Anything else — not a List, an item over LIST_ITEM_MAX, a syntax error to
 * be reported with its line — returns false, and the caller reads the file
 * again by the YAML path (the items emitted so far come again: applying one
 * twice changes nothing).
 */
#define LIST_ITEM_MAX 200000u	/* bytes: fewer nodes than MAX_OBJECT_NODES */

struct jsrc {
	const char *text;	/* the file's text ... */
	size_t len, off;
	int fd;			/* ... or its descriptor */
	size_t blen, boff;
	int back;		/* one byte given back, -2: none */
	unsigned char buf[1u << 16];
};

static int js_getc(struct jsrc *s)
{
	int c = s->back;

	if (c != -2) {
		s->back = -2;
		return c;
	}
	if (s->text)
		return s->off < s->len ? (unsigned char)s->text[s->off++] : -1;
	if (s->boff == s->blen) {
		ssize_t k;

		do
			k = read(s->fd, s->buf, sizeof(s->buf));
		while (k < 0 && errno == EINTR);
		if (k <= 0)
			return -1;
		s->blen = (size_t)k;
		s->boff = 0;
	}
	return s->buf[s->boff++];
}

static int js_skip_ws(struct jsrc *s)
{
	int c;

	do
		c = js_getc(s);
	while (c == ' ' || c == '\t' || c == '\n' || c == '\r');
	return c;
}

struct jbuf {
	char *p;
	size_t n, cap, max;
};

static bool jb_add(struct jbuf *b, int c)
{
	if (b->n + 2 > b->max)
		return false;
	if (b->n + 2 > b->cap) {
		b->cap = b->cap ? 2 * b->cap : 4096;
		b->p = xrealloc(b->p, b->cap);
	}
	b->p[b->n++] = (char)c;
	b->p[b->n] = 0;
	return true;
}

/* One JSON value starting with c into b; the byte after a bare scalar is given back. */
static bool js_value(struct jsrc *s, int c, struct jbuf *b)
{
	int depth = 0;
	bool str = false;

	if (c != '"' && c != '{' && c != '[') {
		/* a bare scalar: up to a delimiter */
		while (c >= 0 && c != ',' && c != '}' && c != ']' && c != ' ' && c != '\t' &&
		       c != '\n' && c != '\r') {
			if (!jb_add(b, c))
				return false;
			c = js_getc(s);
		}
		s->back = c;
		return b->n > 0;
	}
	for (;;) {
		if (c < 0 || !jb_add(b, c))
			return false;
		if (str) {
			if (c == '\\') {
				c = js_getc(s);
				if (c < 0 || !jb_add(b, c))
					return false;
			} else if (c == '"') {
				str = false;
				if (!depth)
					return true;
			}
		} else if (c == '"') {
			str = true;
		} else if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			if (--depth == 0)
				return true;
		}
		c = js_getc(s);
	}
}

static bool parse_json_list(struct jsrc *s, manifest_object_fn emit, void *arg)
{
	struct jbuf item = { .max = LIST_ITEM_MAX }, rest = { .max = MAX_OBJECT_BYTES };
	struct jbuf key = { .max = 4096 };
	struct json_tokener *tok = json_tokener_new();
	struct json_object *pending = json_object_new_array(), *o, *top = NULL;
	bool items = false, ok = false;
	int c = js_skip_ws(s);

	if (c != '{')
		goto out;
	jb_add(&rest, '{');
	for (c = js_skip_ws(s); c != '}'; c = js_skip_ws(s)) {
		key.n = 0;
		if (c != '"' || !js_value(s, c, &key) || js_skip_ws(s) != ':')
			goto out;
		c = js_skip_ws(s);
		if (!items && !strcmp(key.p, "\"items\"") && c == '[') {
			items = true;
			for (c = js_skip_ws(s); c != ']'; c = js_skip_ws(s)) {
				item.n = 0;
				if (!js_value(s, c, &item))
					goto out;
				json_tokener_reset(tok);
				o = json_tokener_parse_ex(tok, item.p, (int)item.n);
				if (!o || json_tokener_get_error(tok) != json_tokener_success ||
				    json_tokener_get_parse_end(tok) != item.n) {
					json_object_put(o);
					goto out;
				}
				if (json_object_is_type(o, json_type_object) &&
				    json_object_object_get_ex(o, "kind", NULL))
					emit(arg, o);
				else
					json_object_array_add(pending, o);
				c = js_skip_ws(s);
				if (c == ']')
					break;
				if (c != ',')
					goto out;
			}
		} else {
			if ((rest.n > 1 && !jb_add(&rest, ',')))
				goto out;
			for (size_t i = 0; i < key.n; i++)
				if (!jb_add(&rest, key.p[i]))
					goto out;
			if (!jb_add(&rest, ':') || !js_value(s, c, &rest))
				goto out;
		}
		c = js_skip_ws(s);
		if (c == '}')
			break;
		if (c != ',')
			goto out;
	}
	if (!items || js_skip_ws(s) != -1 || !jb_add(&rest, '}'))
		goto out;
	json_tokener_reset(tok);
	top = json_tokener_parse_ex(tok, rest.p, (int)rest.n);
	if (!top || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(top, json_type_object))
		goto out;
	json_object_object_add(top, "items", pending);
	pending = NULL;
	emit_object(top, emit, arg);
	top = NULL;
	ok = true;
out:
	json_object_put(top);
	json_object_put(pending);
	json_tokener_free(tok);
	free(item.p);
	free(rest.p);
	free(key.p);
	return ok;
}

/* A file's text or descriptor through parse_json_list, when it starts with '{' and is large. */
static bool json_list_any(struct manifest_text *mt, manifest_object_fn emit, void *arg)
{
	struct jsrc *s;
	bool ok;

	if (mt->fd < 0 && mt->len <= FAST_JSON_MAX)
		return false;
	s = xmalloc(sizeof(*s));
	s->text = mt->fd >= 0 ? NULL : mt->text;
	s->len = mt->len;
	s->off = s->blen = s->boff = 0;
	s->fd = mt->fd;
	s->back = -2;
	ok = parse_json_list(s, emit, arg);
	free(s);
	return ok;
}

/* (Re)load one file; force parses it even when its content did not change. */
static void load_file(struct manifest_source *m, const char *name, bool force)
{
	char path[PATH_MAX], err[512];
	struct file_state *fs = hmap_get(&m->files, name);
	struct load_ctx l = { .m = m, .name = name, .path = path };
	struct manifest_text mt;
	int r;

	hmap_init(&l.seen);
	snprintf(path, sizeof(path), "%s/%s", m->dir, name);
	if (!fs) {
		fs = xcalloc(1, sizeof(*fs));
		fs->name = xstrdup(name);
		hmap_put(&m->files, fs->name, fs);
	}
	r = read_manifest(path, !m->writers_waited, &mt, err, sizeof(err));
	if (r == -EBUSY) {
		/* read when its writer closes it (inotify), or at the latest after WRITER_WAIT */
		if (!hmap_get(&m->busy, name)) {
			char *key = xstrdup(name);

			hmap_put(&m->busy, key, key);
			sy_report(&m->rep, 'I', "Manifest %s: open for writing; read when it is closed "
				  "(at the latest in %.0f s)%s", path, m->writer_wait,
				  m->loaded ? "" : "; the first sync waits for it");
		}
		if (!ev_is_active(&m->writer))
			ev_timer_start(m->loop, &m->writer);
		hmap_clear(&l.seen);
		return;		/* what it held stays */
	}
	free(hmap_del(&m->busy, name));
	if (!m->busy.count)
		ev_timer_stop(m->loop, &m->writer);
	if (r == 0 && !force && fs->hash == mt.sig && !fs->err_sig) {
		manifest_text_free(&mt);
		hmap_clear(&l.seen);
		return;		/* unchanged and good: nothing to do */
	}
	if (r == 0) {
		struct reader rd = { .text = (const unsigned char *)mt.text, .len = mt.len,
				     .fd = mt.fd };

		fs->hash = mt.sig;
		if (mt.fd < 0 && parse_json_fast(mt.text, mt.len, apply_one, &l))
			;
		else if (json_list_any(&mt, apply_one, &l))
			;
		else if (mt.fd >= 0 && lseek(mt.fd, 0, SEEK_SET) < 0)
			r = -errno, snprintf(err, sizeof(err), "%s", strerror(errno));
		else
			r = parse_stream(&rd, apply_one, &l, err, sizeof(err));
		manifest_text_free(&mt);
	}
	if (r < 0) {
		/* what parsed is applied; everything else the file held keeps its last version */
		uint64_t esig = fnv(err, strlen(err), mt.sig ? mt.sig : 1);

		if (esig != fs->err_sig)
			sy_report(&m->rep, 'E', "Manifest %s: %s; keeping its last good objects", path,
				  err);
		else
			log_v(2, "Manifest %s: unchanged, still: %s", path, err);
		fs->err_sig = esig;
		for (unsigned i = 0; i < fs->n; i++) {
			if (hmap_get(&l.seen, fs->keys[i]))
				free(fs->keys[i]);
			else
				strv_add(&l.keys, &l.n, fs->keys[i]);
		}
	} else {
		qsort(l.keys, l.n, sizeof(*l.keys), name_cmp);
		fs->err_sig = 0;
		for (unsigned i = 0; i < fs->n; i++) {
			if (!bsearch(&fs->keys[i], l.keys, l.n, sizeof(*l.keys), name_cmp))
				release(m, name, fs->keys[i]);
			free(fs->keys[i]);
		}
	}
	hmap_clear(&l.seen);
	free(fs->keys);
	fs->keys = l.keys;
	fs->n = l.n;
}

/* The file is gone: its objects go, or come from the next file that defines them. */
static void forget_file(struct manifest_source *m, const char *name)
{
	struct file_state *fs = hmap_get(&m->files, name);

	free(hmap_del(&m->busy, name));
	if (!fs)
		return;
	hmap_del(&m->files, fs->name);
	for (unsigned i = 0; i < fs->n; i++)
		release(m, name, fs->keys[i]);
	file_state_free(fs);
}

static void take_names(struct hmap *set, char ***ret, unsigned *n)
{
	struct hmap_iter it;
	const char *k;

	*ret = NULL;
	*n = 0;
	hmap_iter_init(&it, set);
	while (hmap_iter_next(&it, &k, NULL))
		strv_add(ret, n, (char *)k);
	hmap_clear(set);
	if (*n)
		qsort(*ret, *n, sizeof(**ret), name_cmp);
}

/* Files that now win objects another file gave up: parse them again. */
static void run_redo(struct manifest_source *m)
{
	while (m->redo.count) {
		char **names;
		unsigned n;

		take_names(&m->redo, &names, &n);
		for (unsigned i = 0; i < n; i++) {
			if (hmap_get(&m->files, names[i]))
				load_file(m, names[i], true);
			free(names[i]);
		}
		free(names);
	}
}

/*
 * The end of a whole-directory read (a listing): objects of unchanged files
 * were not re-applied, they stay; the rest goes.  The first one ends only
 * once no file waits for its writer: until then nothing is synced (as
 * kube-proxy's first sync waits for its informers' complete lists), so a
 * restart while a file is being written never programs it half or not at
 * all, and never takes its rules of the last run away.
 */
static void finish_load(struct manifest_source *m)
{
	struct hmap_iter it;
	const char *key;

	run_redo(m);
	if (!m->listing || (!m->loaded && m->busy.count))
		return;
	hmap_iter_init(&it, &m->owners);
	while (hmap_iter_next(&it, &key, NULL))
		cache_keep(m->cache, (enum sy_kind)(key[0] - '0'), key + 1);
	for (int k = 0; k < SY_KIND_MAX; k++)
		cache_replace_end(m->cache, (enum sy_kind)k);
	m->listing = false;
	if (!m->loaded) {
		m->loaded = true;
		for (int k = 0; k < SY_KIND_MAX; k++)
			cache_set_synced(m->cache, (enum sy_kind)k);
	}
}

int manifest_source_reload(struct manifest_source *m)
{
	DIR *d = opendir(m->dir);
	struct dirent *e;
	char **names = NULL, **gone = NULL;
	unsigned n = 0, n_gone = 0;
	struct hmap_iter it;
	const char *key;

	if (!d) {
		int r = -errno;

		sy_report(&m->rep, 'E', "Manifest directory %s: %s; keeping the current state", m->dir,
			  strerror(-r));
		return r;
	}
	while ((e = readdir(d)))
		if (wanted(e->d_name))
			strv_add(&names, &n, xstrdup(e->d_name));
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	/*
	 * A whole-directory read is a listing: afterwards the cache holds
	 * exactly what the directory defines (objects another source or an
	 * earlier directory left there go), as a relist does for the API.
	 */
	if (!m->listing)
		for (int k = 0; k < SY_KIND_MAX; k++)
			cache_replace_begin(m->cache, (enum sy_kind)k);
	m->listing = true;
	/* forget files that are gone */
	hmap_iter_init(&it, &m->files);
	while (hmap_iter_next(&it, &key, NULL))
		if (!n || !bsearch(&key, names, n, sizeof(*names), name_cmp))
			strv_add(&gone, &n_gone, xstrdup(key));
	for (unsigned i = 0; i < n_gone; i++) {
		forget_file(m, gone[i]);
		free(gone[i]);
	}
	free(gone);
	for (unsigned i = 0; i < n; i++) {
		load_file(m, names[i], false);
		free(names[i]);
	}
	free(names);
	m->full = false;
	finish_load(m);
	log_v(2, "Manifest directory %s %s: %u files", m->dir, m->loaded ? "loaded" :
	      "read, waiting for files open for writing", n);
	return 0;
}

/* Only the files inotify named. */
static void reload_pending(struct manifest_source *m)
{
	char **names;
	unsigned n;
	struct timespec t0, t1, c0, c1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
	take_names(&m->pending, &names, &n);
	for (unsigned i = 0; i < n; i++) {
		char path[PATH_MAX];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", m->dir, names[i]);
		if (lstat(path, &st) < 0 && errno == ENOENT)
			forget_file(m, names[i]);
		else
			load_file(m, names[i], false);
		free(names[i]);
	}
	free(names);
	finish_load(m);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
	log_v(2, "Manifest directory %s: %u changed files reloaded in %.3f ms (%.3f ms CPU)", m->dir,
	      n, (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
	      (double)(c1.tv_sec - c0.tv_sec) * 1e3 + (double)(c1.tv_nsec - c0.tv_nsec) / 1e6);
}

static int add_watch(struct manifest_source *m)
{
	m->wd = inotify_add_watch(m->ifd, m->dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM |
				  IN_DELETE | IN_CREATE | IN_ATTRIB | IN_DELETE_SELF |
				  IN_MOVE_SELF);
	return m->wd < 0 ? -errno : 0;
}

/* WRITER_WAIT passed: the files still open for writing are read as they are. */
static void writer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct manifest_source *m = container_of(w, struct manifest_source, writer);
	char **names;
	unsigned n;

	(void)loop;
	(void)revents;
	take_names(&m->busy, &names, &n);
	m->writers_waited = true;
	for (unsigned i = 0; i < n; i++) {
		sy_report(&m->rep, 'W', "Manifest %s/%s: still open for writing after %.0f s; "
			  "reading it as it is", m->dir, names[i], m->writer_wait);
		if (hmap_get(&m->files, names[i]))
			load_file(m, names[i], false);
		free(names[i]);
	}
	free(names);
	m->writers_waited = false;
	finish_load(m);
}

static void debounce_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct manifest_source *m = container_of(w, struct manifest_source, debounce);

	(void)revents;
	hmap_clear_keys(&m->unsettled);
	/*
	 * The directory went away (removed, or moved and replaced): the
	 * current state stays, and the directory is watched again once it is
	 * back, then read whole as at start.  Until then, try every RETRY.
	 */
	if (m->unwatched) {
		int r = add_watch(m);

		if (r < 0) {
			if (m->full)
				sy_report(&m->rep, 'E', "Manifest directory %s: %s; keeping the current "
					  "state until it is back", m->dir, strerror(-r));
			m->full = false;
			hmap_clear_keys(&m->pending);
			ev_timer_set(w, RETRY, 0);
			ev_timer_start(loop, w);
			return;
		}
		m->unwatched = false;
		m->full = true;
		log_v(1, "Manifest directory %s: watched again", m->dir);
	}
	if (m->full) {
		hmap_clear_keys(&m->pending);
		manifest_source_reload(m);
	} else {
		reload_pending(m);
	}
}

static void inotify_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct manifest_source *m = container_of(w, struct manifest_source, io);
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t k;

	while ((k = read(m->ifd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + k;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				m->full = true;
				continue;
			}
			if (ev->wd != m->wd)
				continue;	/* a watch given up (the directory moved away) */
			if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
				/* a moved directory's watch would follow it: drop it */
				inotify_rm_watch(m->ifd, m->wd);
				m->wd = -1;
				m->unwatched = true;
				m->full = true;
				continue;
			}
			if (!ev->len || !wanted(ev->name))
				continue;
			if (!m->pending.count && !ev_is_active(&m->debounce))
				log_v(2, "Manifest directory %s: change notified (%s)", m->dir,
				      ev->name);
			if (!hmap_get(&m->pending, ev->name))
				hmap_put(&m->pending, xstrdup(ev->name), (void *)1);
			if (ev->mask & (IN_CREATE | IN_ATTRIB)) {
				if (!hmap_get(&m->unsettled, ev->name)) {
					char *name = xstrdup(ev->name);

					hmap_put(&m->unsettled, name, name);
				}
			} else {
				free(hmap_del(&m->unsettled, ev->name));
			}
		}
	}
	/*
	 * A file closed after writing, renamed into place or removed is
	 * complete: read it on the next loop iteration (every event already
	 * queued is in this batch).  One only created or touched may still be
	 * being written: wait DEBOUNCE for its close, as for an overflow.
	 */
	if (!m->full && !m->pending.count)
		return;		/* only files switchyard does not read (editors' temporaries) */
	ev_timer_stop(loop, &m->debounce);
	ev_timer_set(&m->debounce, m->full || m->unsettled.count ? DEBOUNCE : 0, 0);
	ev_timer_start(loop, &m->debounce);
}

int manifest_source_new(struct manifest_source **ret, struct ev_loop *loop, const char *dir,
			struct cache *cache, const struct sy_report *rep)
{
	struct manifest_source *m = xcalloc(1, sizeof(*m));

	m->loop = loop;
	m->dir = xstrdup(dir);
	m->cache = cache;
	if (rep)
		m->rep = *rep;
	/* its maps: zeroed by xcalloc, empty */
	/*
	 * open_for_writing takes a read lease for a moment: a writer's open in
	 * that moment would send SIGIO, whose default ends the process.
	 */
	{
		struct sigaction sa;

		if (sigaction(SIGIO, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
			signal(SIGIO, SIG_IGN);
	}
	m->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (m->ifd < 0 || add_watch(m) < 0) {
		int r = -errno;

		if (m->ifd >= 0)
			close(m->ifd);
		sy_free_all(m->dir, m);
		return r;
	}
	ev_io_init(&m->io, inotify_cb, m->ifd, EV_READ);
	ev_io_start(loop, &m->io);
	ev_timer_init(&m->debounce, debounce_cb, DEBOUNCE, 0);
	m->writer_wait = WRITER_WAIT;
	ev_timer_init(&m->writer, writer_cb, WRITER_WAIT, 0);
	*ret = m;
	return 0;
}

void manifest_source_set_writer_wait(struct manifest_source *m, double seconds)
{
	m->writer_wait = seconds;
	ev_timer_set(&m->writer, seconds, 0);
}

void manifest_source_free(struct manifest_source *m)
{
	if (!m)
		return;
	ev_io_stop(m->loop, &m->io);
	ev_timer_stop(m->loop, &m->debounce);
	ev_timer_stop(m->loop, &m->writer);
	close(m->ifd);
	hmap_clear_free(&m->files, file_state_free);
	hmap_clear_free(&m->owners, owner_free);
	hmap_clear_keys(&m->pending);
	hmap_clear_keys(&m->unsettled);
	hmap_clear_keys(&m->redo);
	hmap_clear_keys(&m->busy);
	sy_free_all(m->dir, m);
}
