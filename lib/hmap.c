// SPDX-License-Identifier: Apache-2.0
#include <stdlib.h>
#include <string.h>
#include "switchyard/hmap.h"
#include "switchyard/util.h"

/* FNV-1a, 64 bit: short keys, good enough spread, no allocation. */
uint64_t hmap_hash(const char *key)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ULL;
	}
	return h;
}

void hmap_init(struct hmap *m)
{
	memset(m, 0, sizeof(*m));
}

void hmap_clear(struct hmap *m)
{
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct hmap_node *n = m->buckets[i];

		while (n) {
			struct hmap_node *next = n->next;

			free(n);
			n = next;
		}
	}
	free(m->buckets);
	hmap_init(m);
}

/*
 * The bucket of a hash among nb (a power of two): the high bits of the
 * hash times 2^64/phi (Fibonacci hashing).  FNV-1a's low bits depend only
 * on the low bits of the key's bytes, so masking them clusters keys that
 * differ in a few characters (hex element keys: chains of dozens).
 */
static inline size_t slot(uint64_t h, size_t nb)
{
	unsigned bits = (unsigned)__builtin_ctzll((unsigned long long)nb);

	return bits ? (size_t)((h * 0x9E3779B97F4A7C15ULL) >> (64 - bits)) : 0;
}

static struct hmap_node **find(const struct hmap *m, const char *key, uint64_t h)
{
	struct hmap_node **pp;

	if (!m->nbuckets)
		return NULL;
	for (pp = &m->buckets[slot(h, m->nbuckets)]; *pp; pp = &(*pp)->next)
		if ((*pp)->hash == h && strcmp((*pp)->key, key) == 0)
			return pp;
	return NULL;
}

void hmap_clear_free(struct hmap *m, void (*free_value)(void *value))
{
	for (size_t i = 0; i < m->nbuckets; i++)
		for (struct hmap_node *n = m->buckets[i]; n; n = n->next)
			free_value(n->value);
	hmap_clear(m);
}

void hmap_clear_keys(struct hmap *m)
{
	for (size_t i = 0; i < m->nbuckets; i++)
		for (struct hmap_node *n = m->buckets[i]; n; n = n->next)
			free((char *)n->key);
	hmap_clear(m);
}

void *hmap_get(const struct hmap *m, const char *key)
{
	struct hmap_node **pp = find(m, key, hmap_hash(key));

	return pp ? (*pp)->value : NULL;
}

static void grow(struct hmap *m)
{
	size_t nb = m->nbuckets ? m->nbuckets * 2 : 16;
	struct hmap_node **b = xcalloc(nb, sizeof(*b));

	for (size_t i = 0; i < m->nbuckets; i++) {
		struct hmap_node *n = m->buckets[i];

		while (n) {
			struct hmap_node *next = n->next;
			size_t j = slot(n->hash, nb);

			n->next = b[j];
			b[j] = n;
			n = next;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = nb;
}

void *hmap_put(struct hmap *m, const char *key, void *value)
{
	uint64_t h = hmap_hash(key);
	struct hmap_node **pp = find(m, key, h), *n;
	void *old;

	if (pp) {
		old = (*pp)->value;
		(*pp)->value = value;
		(*pp)->key = key;
		return old;
	}
	if (m->count + 1 > m->nbuckets)
		grow(m);
	n = xmalloc(sizeof(*n));
	n->key = key;
	n->hash = h;
	n->value = value;
	n->next = m->buckets[slot(h, m->nbuckets)];
	m->buckets[slot(h, m->nbuckets)] = n;
	m->count++;
	return NULL;
}

void *hmap_del(struct hmap *m, const char *key)
{
	struct hmap_node **pp = find(m, key, hmap_hash(key)), *n;
	void *v;

	if (!pp)
		return NULL;
	n = *pp;
	*pp = n->next;
	v = n->value;
	free(n);
	m->count--;
	return v;
}

void hmap_iter_init(struct hmap_iter *it, const struct hmap *m)
{
	it->m = m;
	it->bucket = 0;
	it->node = NULL;
	it->next = m->nbuckets ? m->buckets[0] : NULL;
}

bool hmap_iter_next(struct hmap_iter *it, const char **key, void **value)
{
	while (!it->next) {
		if (++it->bucket >= it->m->nbuckets)
			return false;
		it->next = it->m->buckets[it->bucket];
	}
	it->node = it->next;
	it->next = it->node->next;	/* saved first: the caller may delete node */
	if (key)
		*key = it->node->key;
	if (value)
		*value = it->node->value;
	return true;
}
