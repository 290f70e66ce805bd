/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SWITCHYARD_HMAP_H
#define SWITCHYARD_HMAP_H
/*
 * A string-keyed hash map with separate chaining.  The map stores the
 * caller's key pointer (it must stay valid while the entry exists; usually
 * the key lives inside the value) and an opaque value pointer.
 * Iteration order is unspecified but stable while the map is not modified.
 * Deleting the current entry during hmap_foreach_safe is allowed.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

struct hmap_node {
	struct hmap_node *next;
	const char *key;
	uint64_t hash;
	void *value;
};

struct hmap {
	struct hmap_node **buckets;
	size_t nbuckets;	/* power of two, or 0 */
	size_t count;
};

uint64_t hmap_hash(const char *key);
/* An empty map: zeroes it (a zeroed struct hmap, as in a calloc'd struct, is one). */
void hmap_init(struct hmap *m);
/* Frees the nodes, not keys or values. */
void hmap_clear(struct hmap *m);
/* free_value(value) for every entry, then hmap_clear (keys living in the values go with them). */
void hmap_clear_free(struct hmap *m, void (*free_value)(void *value));
/* free(key) for every entry (malloc'd keys, values that need no freeing), then hmap_clear. */
void hmap_clear_keys(struct hmap *m);
void *hmap_get(const struct hmap *m, const char *key);
/* Insert or replace.  Returns the previous value (or NULL). -ENOMEM aborts. */
void *hmap_put(struct hmap *m, const char *key, void *value);
/* Returns the removed value or NULL. */
void *hmap_del(struct hmap *m, const char *key);
static inline size_t hmap_count(const struct hmap *m) { return m->count; }

struct hmap_iter {
	const struct hmap *m;
	size_t bucket;
	struct hmap_node *node, *next;
};
void hmap_iter_init(struct hmap_iter *it, const struct hmap *m);
/* Returns false at the end; sets *key / *value (either may be NULL). */
bool hmap_iter_next(struct hmap_iter *it, const char **key, void **value);

#endif
