// SPDX-License-Identifier: Apache-2.0
/*
 * The cache of decoded Services, EndpointSlices, Nodes and ServiceCIDRs
 * (and the NetworkPolicy kinds): the last good
 * version of every object, the Services whose desired state must be
 * rebuilt (dirty), the ClusterIP:port claims, and the decode errors
 * reported once per object version.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "switchyard/json_util.h"
#include "switchyard/log.h"
#include "switchyard/model.h"
#include "switchyard/netpol.h"

struct svc_slices {
	char *key;			/* service key */
	struct endpoint_slice **v;
	unsigned n, cap;
};

struct bad_obj {
	char *key;			/* "Kind/ns/name" */
	char *rv;			/* version (or content hash) last reported */
};

/* One allocation with its key; the usual single holder needs no array of its own. */
struct vip_claim {
	struct service **v;		/* every Service that has it: one[] while it fits */
	unsigned n;
	struct service *one[1];
	char key[];			/* "ip:port/proto" */
};

struct cache {
	struct hmap services, slices, nodes;
	struct hmap service_cidrs;	/* name → struct service_cidr */
	struct hmap pods, namespaces, netpols;	/* the NetworkPolicy kinds (refcounted objects) */
	struct hmap changed[3];		/* per NetworkPolicy kind: malloc'd key → (void *)1 */
	struct hmap by_service;		/* service key → struct svc_slices */
	struct hmap dirty;		/* malloc'd service key → (void *)1 */
	struct hmap bad;		/* "Kind/ns/name" → struct bad_obj */
	struct hmap vips;		/* "ip:port/proto" → struct vip_claim: Services on a ClusterIP port */
	bool synced[SY_KIND_MAX];
	bool replacing[SY_KIND_MAX];
	uint64_t gen[SY_KIND_MAX];	/* per kind: replaces of different kinds overlap */
	bool nodes_changed;
	bool service_cidrs_changed;
	struct cache_stats stats;
	struct sy_report rep;		/* cache_set_report: the owner logs */
	cache_change_fn fn;
	void *arg;
};

struct cache *cache_new(cache_change_fn fn, void *arg)
{
	struct cache *c = xcalloc(1, sizeof(*c));	/* its maps empty (zeroed) */

	c->fn = fn;
	c->arg = arg;
	return c;
}

static void svc_slices_free(void *v)
{
	struct svc_slices *ss = v;

	sy_free_all(ss->key, ss->v, ss);
}

static void bad_obj_free(void *v)
{
	struct bad_obj *b = v;

	sy_free_all(b->key, b->rv, b);
}

static void vip_claim_free(void *v)
{
	struct vip_claim *vc = v;

	if (vc->v != vc->one)
		free(vc->v);
	free(vc);
}

static void service_free_v(void *v) { service_free(v); }
static void slice_free_v(void *v) { slice_free(v); }
static void node_free_v(void *v) { node_free(v); }
static void service_cidr_free_v(void *v) { service_cidr_free(v); }
static void pod_unref_v(void *v) { pod_unref(v); }
static void namespace_unref_v(void *v) { namespace_unref(v); }
static void netpolicy_unref_v(void *v) { netpolicy_unref(v); }

void cache_set_report(struct cache *c, const struct sy_report *rep)
{
	c->rep = *rep;
}

/* The cache's maps, in the order they are freed, with what frees a value (NULL: the keys). */
static const struct {
	size_t off;
	void (*free_value)(void *v);
} cache_maps[] = {
	{ offsetof(struct cache, services), service_free_v },
	{ offsetof(struct cache, slices), slice_free_v },
	{ offsetof(struct cache, nodes), node_free_v },
	{ offsetof(struct cache, service_cidrs), service_cidr_free_v },
	{ offsetof(struct cache, by_service), svc_slices_free },
	{ offsetof(struct cache, dirty), NULL },
	{ offsetof(struct cache, bad), bad_obj_free },
	{ offsetof(struct cache, vips), vip_claim_free },
	{ offsetof(struct cache, pods), pod_unref_v },
	{ offsetof(struct cache, namespaces), namespace_unref_v },
	{ offsetof(struct cache, netpols), netpolicy_unref_v },
	{ offsetof(struct cache, changed[0]), NULL },
	{ offsetof(struct cache, changed[1]), NULL },
	{ offsetof(struct cache, changed[2]), NULL },
};

void cache_free(struct cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(cache_maps); i++) {
		struct hmap *m = (struct hmap *)((char *)c + cache_maps[i].off);

		if (cache_maps[i].free_value)
			hmap_clear_free(m, cache_maps[i].free_value);
		else
			hmap_clear_keys(m);
	}
	free(c);
}

/* ---- the NetworkPolicy kinds ---- */

static void notify(struct cache *c, enum sy_kind kind);

/*
 * The object a source sends again is the one the cache holds: the same
 * resourceVersion, or (manifests have none) the same content hash.
 */
static bool same_version(const char *rv, uint64_t hash, const char *old_rv, uint64_t old_hash)
{
	return rv ? old_rv && !strcmp(rv, old_rv) : !old_rv && old_hash == hash;
}

static bool np_kind(enum sy_kind kind)
{
	return kind == SY_KIND_POD || kind == SY_KIND_NAMESPACE || kind == SY_KIND_NETWORKPOLICY;
}

/* The objects of a kind: key → object. */
static struct hmap *kind_map(struct cache *c, enum sy_kind kind)
{
	switch (kind) {
	case SY_KIND_SERVICE: return &c->services;
	case SY_KIND_ENDPOINTSLICE: return &c->slices;
	case SY_KIND_NODE: return &c->nodes;
	case SY_KIND_POD: return &c->pods;
	case SY_KIND_NAMESPACE: return &c->namespaces;
	case SY_KIND_NETWORKPOLICY: return &c->netpols;
	case SY_KIND_SERVICECIDR: return &c->service_cidrs;
	default: return NULL;
	}
}

/* The bookkeeping fields every kind's object has. */
struct stamp {
	const char *key;
	char **rv;			/* metadata.resourceVersion (NULL: manifests) */
	uint64_t *gen;			/* the listing that last saw it */
	uint64_t *hash;			/* content hash (without a resourceVersion) */
};

#define STAMP(o) ((struct stamp){ (o)->key, &(o)->resource_version, &(o)->cache_gen, \
				  &(o)->content_hash })

static struct stamp stamp_of(enum sy_kind kind, void *v)
{
	switch (kind) {
	case SY_KIND_SERVICE: return STAMP((struct service *)v);
	case SY_KIND_ENDPOINTSLICE: return STAMP((struct endpoint_slice *)v);
	case SY_KIND_NODE: return STAMP((struct node *)v);
	case SY_KIND_POD: return STAMP(&((struct pod *)v)->meta);
	case SY_KIND_NAMESPACE: return STAMP(&((struct k8s_namespace *)v)->meta);
	case SY_KIND_SERVICECIDR: return STAMP((struct service_cidr *)v);
	default: return STAMP(&((struct netpolicy *)v)->meta);
	}
}

/*
 * A decoded object v against the cached old one (NULL: none): v is stamped
 * with hash and this listing's generation; true when old is the same
 * version (then old is marked seen and the caller drops v: no rebuild).
 */
static bool same_as_cached(struct cache *c, enum sy_kind kind, const char *rv, uint64_t hash,
			   void *v, void *old)
{
	struct stamp sv = stamp_of(kind, v), so;

	*sv.hash = hash;
	*sv.gen = c->gen[kind];
	if (!old)
		return false;
	so = stamp_of(kind, old);
	if (!same_version(rv, hash, *so.rv, *so.hash))
		return false;
	*so.gen = c->gen[kind];
	return true;
}

static void np_unref(enum sy_kind kind, void *v)
{
	if (kind == SY_KIND_POD)
		pod_unref(v);
	else if (kind == SY_KIND_NAMESPACE)
		namespace_unref(v);
	else
		netpolicy_unref(v);
}

static void obj_free(enum sy_kind kind, void *v)
{
	switch (kind) {
	case SY_KIND_SERVICE: service_free(v); break;
	case SY_KIND_ENDPOINTSLICE: slice_free(v); break;
	case SY_KIND_NODE: node_free(v); break;
	case SY_KIND_SERVICECIDR: service_cidr_free(v); break;
	default: np_unref(kind, v);
	}
}

static void np_mark_changed(struct cache *c, enum sy_kind kind, const char *key)
{
	struct hmap *m = &c->changed[kind - SY_KIND_POD];

	if (!hmap_get(m, key))
		hmap_put(m, xstrdup(key), (void *)1);
	if (kind == SY_KIND_POD)
		c->stats.pod_changes++;
	else if (kind == SY_KIND_NAMESPACE)
		c->stats.namespace_changes++;
	else
		c->stats.netpolicy_changes++;
}

static int np_delete(struct cache *c, enum sy_kind kind, const char *key)
{
	void *old = hmap_del(kind_map(c, kind), key);

	if (!old)
		return 0;
	np_mark_changed(c, kind, key);
	np_unref(kind, old);
	return 1;
}

/* Decode and store; 0 applied (or unchanged), -EINVAL with err. */
/*
 * A new version of a NetworkPolicy kind's object: false when it changes
 * nothing enforcement reads (the old object stays, with the new version).
 */
static bool np_replace(struct cache *c, enum sy_kind kind, void *old, void *v, uint64_t hash)
{
	struct stamp sv = stamp_of(kind, v), so;
	bool same = old && (kind == SY_KIND_POD ? pod_same(old, v) :
			    kind == SY_KIND_NAMESPACE ? namespace_same(old, v) : false);

	if (same) {
		so = stamp_of(kind, old);
		*so.gen = c->gen[kind];
		*so.hash = hash;
		free(*so.rv);
		*so.rv = *sv.rv;
		*sv.rv = NULL;
		np_unref(kind, v);
		return false;
	}
	hmap_put(kind_map(c, kind), sv.key, v);
	np_unref(kind, old);
	np_mark_changed(c, kind, sv.key);
	return true;
}

void cache_take_changed(struct cache *c, enum sy_kind kind, struct hmap *ret)
{
	if (!np_kind(kind)) {
		hmap_init(ret);
		return;
	}
	*ret = c->changed[kind - SY_KIND_POD];
	hmap_init(&c->changed[kind - SY_KIND_POD]);
}

size_t cache_changed_count(const struct cache *c, enum sy_kind kind)
{
	return np_kind(kind) ? hmap_count(&c->changed[kind - SY_KIND_POD]) : 0;
}

const struct hmap *cache_pods(const struct cache *c) { return &c->pods; }
const struct hmap *cache_namespaces(const struct cache *c) { return &c->namespaces; }
const struct hmap *cache_netpolicies(const struct cache *c) { return &c->netpols; }
struct pod *cache_pod(const struct cache *c, const char *key) { return hmap_get(&c->pods, key); }
struct k8s_namespace *cache_namespace(const struct cache *c, const char *name)
{
	return hmap_get(&c->namespaces, name);
}
struct netpolicy *cache_netpolicy(const struct cache *c, const char *key)
{
	return hmap_get(&c->netpols, key);
}

static void mark_dirty(struct cache *c, const char *svc_key)
{
	if (!hmap_get(&c->dirty, svc_key))
		hmap_put(&c->dirty, xstrdup(svc_key), (void *)1);
}

static void notify(struct cache *c, enum sy_kind kind)
{
	if (c->fn)
		c->fn(c->arg, kind);
}

static void slices_unlink(struct cache *c, struct endpoint_slice *s)
{
	struct svc_slices *ss = hmap_get(&c->by_service, s->service_key);

	if (!ss)
		return;
	sy_ptrs_remove(ss->v, &ss->n, s);
	if (!ss->n) {
		hmap_del(&c->by_service, ss->key);
		svc_slices_free(ss);
	}
}

static void slices_link(struct cache *c, struct endpoint_slice *s)
{
	struct svc_slices *ss = hmap_get(&c->by_service, s->service_key);

	if (!ss) {
		ss = xcalloc(1, sizeof(*ss));
		ss->key = xstrdup(s->service_key);
		hmap_put(&c->by_service, ss->key, ss);
	}
	ss->v = sy_grow(ss->v, ss->n, &ss->cap, sizeof(*ss->v), 2);
	ss->v[ss->n++] = s;
}

/* Log a decode error once per object version. */
static void report_bad(struct cache *c, enum sy_kind kind, struct json_object *obj, const char *why)
{
	char id[600], bkey[640];
	struct json_object *md = jget(obj, "metadata");
	const char *rv = jstr(jget(md, "resourceVersion"));
	const char *hash_rv;
	char hbuf[32];
	struct bad_obj *bad;

	object_key_display(kind, obj, id, sizeof(id));
	snprintf(bkey, sizeof(bkey), "%s/%s", sy_kind_name(kind), id);
	if (!rv) {
		snprintf(hbuf, sizeof(hbuf), "#%016llx", (unsigned long long)hmap_hash(
			 json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN)));
		hash_rv = hbuf;
	} else {
		hash_rv = rv;
	}
	c->stats.decode_errors++;
	bad = hmap_get(&c->bad, bkey);
	if (bad && !strcmp(bad->rv, hash_rv))
		return;
	if (!bad) {
		bad = xcalloc(1, sizeof(*bad));
		bad->key = xstrdup(bkey);
		hmap_put(&c->bad, bad->key, bad);
	}
	free(bad->rv);
	bad->rv = xstrdup(hash_rv);
	sy_report(&c->rep, 'E', "%s %s: %s; skipped", sy_kind_name(kind), id, why);
}

static uint64_t content_hash(struct json_object *obj)
{
	return hmap_hash(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN));
}

/* ---- ClusterIP:port/protocol held by one Service only, as the API server allocates them ---- */

static unsigned vip_keys(const struct service *s, unsigned i, char *buf, size_t len)
{
	if (!sy_addr_is_set(&s->cluster_ip) || s->headless || s->type == SVC_TYPE_EXTERNAL_NAME ||
	    i >= s->n_ports)
		return 0;
	snprintf(buf, len, "%s:%u/%s", sy_addr_str(&s->cluster_ip), s->ports[i].port,
		 sy_proto_name(s->ports[i].proto));
	return 1;
}

/* a is older than b: creationTimestamp first (absent = newest), then the key */
static bool older(const struct service *a, const struct service *b)
{
	double ca = a->created ? a->created : 1e300, cb = b->created ? b->created : 1e300;

	if (ca != cb)
		return ca < cb;
	return strcmp(a->key, b->key) < 0;
}

/* The Service that keeps the port s lost, or NULL. */
static const struct service *conflict_winner(struct cache *c, const struct service *s,
					     unsigned *port)
{
	char k[64];

	for (unsigned i = 0; vip_keys(s, i, k, sizeof(k)); i++) {
		struct vip_claim *vc = hmap_get(&c->vips, k);
		const struct service *w = s;

		for (unsigned j = 0; vc && j < vc->n; j++)
			if (older(vc->v[j], w))
				w = vc->v[j];
		if (w != s) {
			*port = i;
			return w;
		}
	}
	return NULL;
}

static void vip_recheck(struct cache *c, struct service *s)
{
	unsigned port = 0;
	const struct service *w = conflict_winner(c, s, &port);

	if (!!w == s->conflict)
		return;
	s->conflict = !!w;
	mark_dirty(c, s->key);
	if (w)
		sy_report(&c->rep, 'E', "Service %s: ClusterIP %s port %u/%s is already taken by "
			  "Service %s; the newer one is skipped", s->key, sy_addr_str(&s->cluster_ip),
			  s->ports[port].port, sy_proto_name(s->ports[port].proto), w->key);
	else
		sy_report(&c->rep, 'I', "Service %s: its ClusterIP ports are free again; programmed",
			  s->key);
}

/* Add (add) or remove s's claims; re-check every Service that shares one. */
static void vip_update(struct cache *c, struct service *s, bool add)
{
	struct service **touched = NULL;
	unsigned n_touched = 0;
	char k[64];

	for (unsigned i = 0; vip_keys(s, i, k, sizeof(k)); i++) {
		struct vip_claim *vc = hmap_get(&c->vips, k);

		if (add) {
			if (!vc) {
				size_t kl = strlen(k) + 1;

				vc = xcalloc(1, sizeof(*vc) + kl);
				memcpy(vc->key, k, kl);
				vc->v = vc->one;
				hmap_put(&c->vips, vc->key, vc);
			}
			if (vc->v == vc->one && vc->n == 1) {
				vc->v = xmalloc(2 * sizeof(*vc->v));
				vc->v[0] = vc->one[0];
			} else if (vc->v != vc->one) {
				vc->v = xrealloc(vc->v, (vc->n + 1) * sizeof(*vc->v));
			}
			vc->v[vc->n++] = s;
		} else if (vc) {
			sy_ptrs_remove(vc->v, &vc->n, s);
			if (!vc->n) {
				hmap_del(&c->vips, vc->key);
				vip_claim_free(vc);
				continue;
			}
		}
		if (!vc || (vc->n < 2 && add))
			continue;
		touched = xrealloc(touched, (n_touched + vc->n) * sizeof(*touched));
		for (unsigned j = 0; j < vc->n; j++)
			touched[n_touched++] = vc->v[j];
	}
	for (unsigned i = 0; i < n_touched; i++)
		if (touched[i] != s || add)
			vip_recheck(c, touched[i]);
	free(touched);
}

static int delete_obj(struct cache *c, enum sy_kind kind, const char *key)
{
	struct hmap *m = kind_map(c, kind);
	void *old;

	if (!m)
		return -EINVAL;
	if (np_kind(kind))
		return np_delete(c, kind, key);
	old = hmap_del(m, key);
	if (!old)
		return 0;
	switch (kind) {
	case SY_KIND_SERVICE:
		mark_dirty(c, key);
		vip_update(c, old, false);
		c->stats.service_changes++;
		break;
	case SY_KIND_ENDPOINTSLICE:
		mark_dirty(c, ((struct endpoint_slice *)old)->service_key);
		slices_unlink(c, old);
		c->stats.endpoint_changes++;
		break;
	case SY_KIND_NODE:
		c->nodes_changed = true;
		c->stats.node_changes++;
		break;
	case SY_KIND_SERVICECIDR:
		c->service_cidrs_changed = true;
		c->stats.service_cidr_changes++;
		break;
	default:
		break;
	}
	obj_free(kind, old);
	return 1;
}

/* Decode obj as kind into *ret, the kind's own struct. */
static int obj_decode(struct cache *c, enum sy_kind kind, struct json_object *obj, void **ret,
		      char *err, size_t errlen)
{
	switch (kind) {
	case SY_KIND_SERVICE:
		return service_decode(obj, &c->rep, (struct service **)ret, err, errlen);
	case SY_KIND_ENDPOINTSLICE:
		return slice_decode(obj, (struct endpoint_slice **)ret, err, errlen);
	case SY_KIND_NODE:
		return node_decode(obj, (struct node **)ret, err, errlen);
	case SY_KIND_SERVICECIDR:
		return service_cidr_decode(obj, (struct service_cidr **)ret, err, errlen);
	case SY_KIND_POD:
		return pod_decode(obj, (struct pod **)ret, err, errlen);
	case SY_KIND_NAMESPACE:
		return namespace_decode(obj, (struct k8s_namespace **)ret, err, errlen);
	default:
		return netpolicy_decode(obj, (struct netpolicy **)ret, err, errlen);
	}
}

static void service_replace(struct cache *c, struct service *old, struct service *s)
{
	if (s->ipv6_only && (!old || !old->ipv6_only))
		log_v(2, "Service %s: IPv6 ClusterIP only; not programmed (IPv4 only for now)",
		      s->key);
	if (old)
		vip_update(c, old, false);
	hmap_put(&c->services, s->key, s);
	service_free(old);
	vip_update(c, s, true);
	mark_dirty(c, s->key);
	c->stats.service_changes++;
}

static void slice_replace(struct cache *c, struct endpoint_slice *old, struct endpoint_slice *s)
{
	if (old) {
		mark_dirty(c, old->service_key);
		slices_unlink(c, old);
	}
	hmap_put(&c->slices, s->key, s);
	slices_link(c, s);
	slice_free(old);
	mark_dirty(c, s->service_key);
	c->stats.endpoint_changes++;
}

static void node_replace(struct cache *c, struct node *old, struct node *n)
{
	hmap_put(&c->nodes, n->key, n);
	node_free(old);
	c->nodes_changed = true;
	c->stats.node_changes++;
}

static void service_cidr_replace(struct cache *c, struct service_cidr *old,
				 struct service_cidr *sc)
{
	/* a new version with the same CIDRs (status, finalizers) changes nothing */
	if (!old || old->n_cidrs != sc->n_cidrs ||
	    memcmp(old->cidrs, sc->cidrs, sizeof(old->cidrs))) {
		c->service_cidrs_changed = true;
		c->stats.service_cidr_changes++;
	}
	hmap_put(&c->service_cidrs, sc->key, sc);
	service_cidr_free(old);
}

int cache_apply(struct cache *c, enum sy_kind kind, enum cache_op op, struct json_object *obj)
{
	char err[512];
	struct json_object *md = jget(obj, "metadata");
	const char *rv = jstr(jget(md, "resourceVersion"));
	uint64_t hash = rv ? 0 : content_hash(obj);
	struct hmap *m = kind_map(c, kind);
	void *v, *old;

	if (!m)
		return -EINVAL;
	if (op == CACHE_DELETE) {
		char key[600];

		if (cache_object_key(kind, obj, key, sizeof(key)) < 0) {
			report_bad(c, kind, obj, "deleted object without a valid metadata.name/namespace");
			return -EINVAL;
		}
		if (delete_obj(c, kind, key) > 0)
			notify(c, kind);
		return 0;
	}
	if (obj_decode(c, kind, obj, &v, err, sizeof(err)) < 0)
		goto bad;
	old = hmap_get(m, stamp_of(kind, v).key);
	if (same_as_cached(c, kind, rv, hash, v, old)) {
		obj_free(kind, v);	/* unchanged: keep, no rebuild */
		return 0;
	}
	switch (kind) {
	case SY_KIND_SERVICE: service_replace(c, old, v); break;
	case SY_KIND_ENDPOINTSLICE: slice_replace(c, old, v); break;
	case SY_KIND_NODE: node_replace(c, old, v); break;
	case SY_KIND_SERVICECIDR: service_cidr_replace(c, old, v); break;
	default:
		if (!np_replace(c, kind, old, v, hash))
			return 0;
	}
	notify(c, kind);
	return 0;
bad:
	report_bad(c, kind, obj, err);
	/* the previous good version stays; mark it seen so a relist keeps it */
	{
		char id[600];

		if (cache_object_key(kind, obj, id, sizeof(id)) == 0)
			cache_keep(c, kind, id);
	}
	return -EINVAL;
}

void cache_replace_begin(struct cache *c, enum sy_kind kind)
{
	c->gen[kind]++;
	c->replacing[kind] = true;
}

void cache_replace_end(struct cache *c, enum sy_kind kind)
{
	const struct hmap *m = kind_map(c, kind);
	struct hmap_iter it;
	const char **gone = NULL;
	unsigned n = 0, cap = 0;
	void *v;

	if (!m)
		return;
	hmap_iter_init(&it, m);
	while (hmap_iter_next(&it, NULL, &v)) {
		struct stamp st = stamp_of(kind, v);

		if (*st.gen == c->gen[kind])
			continue;
		gone = sy_grow(gone, n, &cap, sizeof(*gone), 16);
		gone[n++] = st.key;
	}
	for (unsigned i = 0; i < n; i++) {
		char *k = xstrdup(gone[i]);	/* the key dies with its object */

		delete_obj(c, kind, k);
		free(k);
	}
	free(gone);
	c->replacing[kind] = false;
	c->synced[kind] = true;
	/* always notify: the first complete listing may unblock the first sync */
	notify(c, kind);
}

void cache_keep(struct cache *c, enum sy_kind kind, const char *key)
{
	const struct hmap *m = kind_map(c, kind);
	void *v;

	if (m && (v = hmap_get(m, key)))
		*stamp_of(kind, v).gen = c->gen[kind];
}

bool cache_synced(const struct cache *c, enum sy_kind kind)
{
	return c->synced[kind];
}

void cache_set_synced(struct cache *c, enum sy_kind kind)
{
	c->synced[kind] = true;
	notify(c, kind);
}

const struct hmap *cache_services(const struct cache *c) { return &c->services; }
const struct hmap *cache_slices(const struct cache *c) { return &c->slices; }
const struct hmap *cache_nodes(const struct cache *c) { return &c->nodes; }

const struct service *cache_service(const struct cache *c, const char *key)
{
	return hmap_get(&c->services, key);
}

const struct node *cache_node(const struct cache *c, const char *name)
{
	return name ? hmap_get(&c->nodes, name) : NULL;
}

struct endpoint_slice *const *cache_service_slices(const struct cache *c, const char *svc_key,
						   unsigned *ret_n)
{
	struct svc_slices *ss = hmap_get(&c->by_service, svc_key);

	*ret_n = ss ? ss->n : 0;
	return ss ? ss->v : NULL;
}

void cache_take_dirty(struct cache *c, struct hmap *ret_dirty)
{
	*ret_dirty = c->dirty;
	hmap_init(&c->dirty);
}

bool cache_nodes_changed(struct cache *c, bool clear)
{
	bool r = c->nodes_changed;

	if (clear)
		c->nodes_changed = false;
	return r;
}

const struct hmap *cache_service_cidrs(const struct cache *c) { return &c->service_cidrs; }

bool cache_service_cidrs_changed(struct cache *c, bool clear)
{
	bool r = c->service_cidrs_changed;

	if (clear)
		c->service_cidrs_changed = false;
	return r;
}

void cache_nodes_changed_set(struct cache *c)
{
	c->nodes_changed = true;
}

const struct cache_stats *cache_get_stats(const struct cache *c)
{
	return &c->stats;
}
