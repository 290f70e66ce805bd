// SPDX-License-Identifier: Apache-2.0
/*
 * --proxy-mode=nftables: the planner (nftables_plan.c) turns the desired
 * state into the objects of table `ip switchyard` (an AF_INET instance) or
 * `ip6 switchyard` (AF_INET6: the same layout over IPv6 ports, addresses
 * and keys; dual stack runs one instance of each); this file keeps two
 * views in memory — D, what the table should hold, and K, what the kernel
 * holds as far as we know — and sends the difference as netlink batches
 * (lib/nft.c).  A partial sync compares only the changed Service ports and
 * lists nothing; a full sync (start, --sync-period, after a failure) reads
 * K back from the kernel first, so drift (chains, rules or elements
 * changed by hand) is repaired and an unchanged restart writes nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include "switchyard/addr.h"
#include "switchyard/config.h"
#include "switchyard/desired.h"
#include "switchyard/log.h"
#include "switchyard/mode.h"
#include "switchyard/nft.h"
#include "switchyard/util.h"
#include "nftables_plan.h"

#define STALE_DELAY 1.0		/* seconds between flushing a chain and deleting it */
/*
 * A full sync's batches hold about CHUNK_MSGS messages each, cut between
 * Service ports: one transaction holds the nftables commit mutex while the
 * kernel processes it, and a cold start must not hold it more than ~100 ms
 * at a time (issue 15; kubernetes #139328).  At 10,000 Services a 4,000-
 * message batch cost the kernel 20-45 ms of CPU; the doubling batches
 * used before (fewer table validations) made the last one 0.6-0.9 s, and
 * their pages the largest transient of the first sync.  With the ports
 * in the order of their endpoint-ranges maps (full_pass) consecutive
 * ports share element messages, so a batch of 4,000 carried twice the
 * elements (0.5 MB more peak RSS): 2,000, ~38 batches at 10,000.
 */
#define CHUNK_MSGS 2000
#define MAX_TRIES 4

struct dset {
	const char *name;
	struct sy_nft_set def;
};

struct kchain {
	char *name;
	uint64_t fp;
	double stale;		/* flushed at this time, to be deleted; 0 = live */
};

/*
 * The element index: one entry per (set, key) for D and K together — the
 * key in binary, D's owners and value, K's presence and value fingerprint
 * — in an open-addressing table (linear probing, backward-shift deletion)
 * of pointers into slabs.  Before, D and K each kept a hash node and an
 * allocation with the key as hex text per element: at 10,000 Services
 * (220,000 elements) about 40 MB of the daemon's peak.
 */
struct eent {
	const struct nftp_elem *e;	/* D: an owner's element (its value), or NULL */
	uint64_t vfp;			/* K: elem_vfp of what the kernel holds */
	uint32_t refs;			/* D: plans that want it; 0 = not in D */
	uint16_t set;
	uint8_t klen;
	uint8_t ink;			/* in K */
	uint8_t key[];			/* klen bytes */
};

#define SLAB_CHUNK (64u * 1024)
#define SLAB_OFF_BITS 13		/* SLAB_CHUNK / 8 offsets */
#define SLAB_CLASSES (((sizeof(struct eent) + NFTP_KD_MAX) + 7) / 8 + 1)
#define SLOT_HBITS 26			/* a slot: tag << SLOT_HBITS | handle */
#define SLOT_HANDLE ((1u << SLOT_HBITS) - 1)
#define SLAB_MAX_CHUNKS (1u << (SLOT_HBITS - SLAB_OFF_BITS))	/* 8,192: 512 MB */
/*
 * Entries live in 64 KB chunks and are named by 26-bit handles (chunk,
 * offset / 8, plus one: 0 is no entry): up to 512 MB of entries, some 9
 * million elements.  A table slot (4 bytes) holds the handle and, in its
 * top 6 bits, a tag: 6 more bits of the key's hash.
 */
struct slab {
	char *cur;
	size_t left;
	uint32_t free[SLAB_CLASSES];	/* free lists by size / 8 (handles) */
	char **chunks;
	unsigned n_chunks, cap_chunks;
};

static size_t eent_size(unsigned klen)
{
	/* 4 bytes after the key: a range's end (EENT_END; often in the padding) */
	return (sizeof(struct eent) + klen + 4 + 7) & ~(size_t)7;
}

static inline void *slab_ptr(const struct slab *s, uint32_t h)
{
	h--;
	return s->chunks[h >> SLAB_OFF_BITS] + (size_t)(h & ((1u << SLAB_OFF_BITS) - 1)) * 8;
}

static uint32_t slab_alloc(struct slab *s, size_t sz)
{
	uint32_t h = s->free[sz / 8];

	if (h) {
		memcpy(&s->free[sz / 8], slab_ptr(s, h), sizeof(h));
		return h;
	}
	if (s->left < sz) {
		if (s->n_chunks == SLAB_MAX_CHUNKS) {
			/* as out of memory: 512 MB of entries */
			log_error("nftables: the element index is full (%u chunks of %u KB)",
				  SLAB_MAX_CHUNKS, SLAB_CHUNK / 1024);
			abort();
		}
		s->chunks = sy_grow(s->chunks, s->n_chunks, &s->cap_chunks, sizeof(*s->chunks), 16);
		s->cur = s->chunks[s->n_chunks++] = xmalloc(SLAB_CHUNK);
		s->left = SLAB_CHUNK;
	}
	h = (uint32_t)(((s->n_chunks - 1) << SLAB_OFF_BITS) |
		       (uint32_t)((SLAB_CHUNK - s->left) / 8)) + 1;
	s->cur += sz;
	s->left -= sz;
	return h;
}

static void slab_put(struct slab *s, uint32_t h, size_t sz)
{
	memcpy(slab_ptr(s, h), &s->free[sz / 8], sizeof(h));
	s->free[sz / 8] = h;
}

static void slab_free_all(struct slab *s)
{
	for (unsigned i = 0; i < s->n_chunks; i++)
		free(s->chunks[i]);
	free(s->chunks);
	memset(s, 0, sizeof(*s));
}

struct eidx {
	uint32_t *slot;			/* handles; 0 = empty */
	size_t cap;			/* a power of two, or 0 */
	size_t n;			/* entries */
	size_t n_d;			/* entries with refs (D's elements) */
	struct slab slab;
};

static inline struct eent *ei_at(const struct eidx *x, size_t i)
{
	return x->slot[i] ? slab_ptr(&x->slab, x->slot[i] & SLOT_HANDLE) : NULL;
}

/*
 * The key 8 bytes at a time, a shorter tail zero-filled.  The whole words
 * are copied with a constant size (one load each), and so is the usual
 * 4-byte tail (keys are made of 4-byte registers): the IPv6 keys (24 to 40
 * bytes) cost a few instructions per word, not a byte-wise copy.  The value
 * is the same as with one variable-size copy per word.
 */
static inline uint64_t ekey_mix(uint64_t h, uint64_t c)
{
	h = (h ^ c) * 0xff51afd7ed558ccdull;
	return h ^ (h >> 32);
}

static uint64_t ekey_hash(unsigned set, const uint8_t *key, unsigned klen)
{
	uint64_t h = (set + 1) * 0x9E3779B97F4A7C15ull ^ klen, c;
	unsigned i = 0;

	for (; klen - i >= 8; i += 8) {
		memcpy(&c, key + i, 8);
		h = ekey_mix(h, c);
	}
	if (i < klen) {
		c = 0;
		if (klen - i == 4)
			memcpy(&c, key + i, 4);
		else
			memcpy(&c, key + i, klen - i);
		h = ekey_mix(h, c);
	}
	h *= 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 29);
}

static size_t ei_home(const struct eidx *x, uint64_t h)
{
	return (size_t)(h & (x->cap - 1));
}

/* A hash's tag: its top bits (the home slot takes the low ones), in place in a slot. */
static uint32_t ei_tag(uint64_t h)
{
	return (uint32_t)(h >> (64 - (32 - SLOT_HBITS))) << SLOT_HBITS;
}

/*
 * The slot of (set, key): the entry's, or the empty one where it would go.
 * An entry is read only when its slot's tag is the key's: the others on
 * the way (1.3 a lookup at 10,000 Services) cost no cache miss.
 */
static size_t ei_find_h(const struct eidx *x, uint64_t h, unsigned set, const uint8_t *key,
			unsigned klen)
{
	uint32_t tag = ei_tag(h);
	size_t i = ei_home(x, h);

	for (;; i = (i + 1) & (x->cap - 1)) {
		uint32_t sl = x->slot[i];
		const struct eent *e;
		if (!sl)
			return i;
		if ((sl & ~SLOT_HANDLE) != tag)
			continue;
		e = slab_ptr(&x->slab, sl & SLOT_HANDLE);
		if (e->set == set && e->klen == klen && !memcmp(e->key, key, klen))
			return i;
	}
}

static size_t ei_find(const struct eidx *x, unsigned set, const uint8_t *key, unsigned klen)
{
	return ei_find_h(x, ekey_hash(set, key, klen), set, key, klen);
}

static struct eent *ei_get(const struct eidx *x, unsigned set, const uint8_t *key, unsigned klen)
{
	return x->cap ? ei_at(x, ei_find(x, set, key, klen)) : NULL;
}

static struct eent *ei_get_h(const struct eidx *x, uint64_t h, unsigned set, const uint8_t *key,
			     unsigned klen)
{
	return x->cap ? ei_at(x, ei_find_h(x, h, set, key, klen)) : NULL;
}

/*
 * Fetch the home slot of a key hashed ahead: the lookups of a port's
 * elements, one after the other, each began with a cache miss on its
 * slot (the table is 1 MB at 10,000 Services), now overlapped.
 */
#define EI_AHEAD_LOOKUPS 16
static inline void ei_prefetch(const struct eidx *x, uint64_t h)
{
	if (x->cap)
		__builtin_prefetch(&x->slot[ei_home(x, h)]);
}

/*
 * Put the entries of old[0..oc) that are in D or K into a fresh table of
 * cap slots.  The keys are distinct: each goes to the first empty slot
 * from its home, no key compared (ei_find would read every entry on the
 * way).  The entries, read to hash their keys, lie in the slabs in no
 * order to the slots': fetched a few slots ahead, their cache misses
 * overlap.
 */
#define EI_AHEAD 8
static void ei_rehash(struct eidx *x, uint32_t *old, size_t oc, size_t cap)
{
	size_t mask = cap - 1;

	x->cap = cap;
	x->slot = xcalloc(cap, sizeof(*x->slot));
	x->n = 0;
	for (size_t i = 0; i < oc; i++) {
		struct eent *e;
		size_t j;
		if (i + EI_AHEAD < oc && old[i + EI_AHEAD]) {
			const char *p = slab_ptr(&x->slab, old[i + EI_AHEAD] & SLOT_HANDLE);
			__builtin_prefetch(p);
			__builtin_prefetch(p + 63);	/* the key may run into the next line */
		}
		if (!old[i])
			continue;
		e = slab_ptr(&x->slab, old[i] & SLOT_HANDLE);
		if (!e->ink && !e->refs) {
			slab_put(&x->slab, old[i] & SLOT_HANDLE, eent_size(e->klen));
			continue;
		}
		for (j = ei_home(x, ekey_hash(e->set, e->key, e->klen)); x->slot[j]; j = (j + 1) & mask)
			;
		x->slot[j] = old[i];		/* (its tag: the same hash) */
		x->n++;
	}
	free(old);
}

/* The entry of (set, key) (hash: ekey_hash's), new (refs 0, not in K) if there was none. */
static struct eent *ei_put_h(struct eidx *x, uint64_t hash, unsigned set, const uint8_t *key,
			     unsigned klen)
{
	struct eent *e;
	uint32_t h;
	size_t i;

	if ((x->n + 1) * 4 > x->cap * 3)
		ei_rehash(x, x->slot, x->cap, x->cap ? 2 * x->cap : 1024);
	i = ei_find_h(x, hash, set, key, klen);
	if (x->slot[i])
		return ei_at(x, i);
	h = slab_alloc(&x->slab, eent_size(klen));
	e = slab_ptr(&x->slab, h);
	memset(e, 0, sizeof(*e));
	e->set = (uint16_t)set;
	e->klen = (uint8_t)klen;
	memcpy(e->key, key, klen);
	x->slot[i] = ei_tag(hash) | h;
	x->n++;
	return e;
}

static struct eent *ei_put(struct eidx *x, unsigned set, const uint8_t *key, unsigned klen)
{
	return ei_put_h(x, ekey_hash(set, key, klen), set, key, klen);
}

/* Remove and free an entry (neither D nor K wants it any more). */
static void ei_del(struct eidx *x, struct eent *e)
{
	size_t mask = x->cap - 1, i = ei_find(x, e->set, e->key, e->klen), j = i;
	uint32_t h = x->slot[i] & SLOT_HANDLE;

	if (ei_at(x, i) != e)
		return;
	for (;;) {
		const struct eent *o;
		size_t k;
		j = (j + 1) & mask;
		if (!x->slot[j])
			break;
		o = ei_at(x, j);
		k = ei_home(x, ekey_hash(o->set, o->key, o->klen));
		/* move j back to i unless its home lies cyclically in (i, j] */
		if (i <= j ? (k <= i || k > j) : (k <= i && k > j)) {
			x->slot[i] = x->slot[j];
			i = j;
		}
	}
	x->slot[i] = 0;
	x->n--;
	slab_put(&x->slab, h, eent_size(e->klen));
}

/* Apply forget() to every entry, then drop those neither in D nor in K. */
static void ei_filter(struct eidx *x, bool (*forget)(struct eent *e))
{
	size_t drop = 0;

	for (size_t i = 0; i < x->cap; i++)
		if (x->slot[i] && !forget(ei_at(x, i)))
			drop++;
	if (drop)	/* (the first sync's K is empty: no second table at the peak) */
		ei_rehash(x, x->slot, x->cap, x->cap);
}

static void ei_free(struct eidx *x)
{
	free(x->slot);
	slab_free_all(&x->slab);
	memset(x, 0, sizeof(*x));
}

/* An element of a unit: its set and key (pointing into a plan or an index entry). */
struct ekey {
	const uint8_t *key;
	uint64_t h;			/* ekey_hash */
	uint16_t set;
	uint8_t klen;
};

static uint64_t elem_vfp(uint8_t ev, const char *chain, const uint8_t *data, unsigned dlen)
{
	/* FNV-1a over the verdict, the chain name (0-terminated) and the data, byte by byte */
	uint64_t h = NFTP_FP_INIT;
#define VFP_MIX(b) do { h ^= (uint8_t)(b); h *= 1099511628211ull; } while (0)
	VFP_MIX(ev);
	for (const char *p = chain; p && *p; p++)
		VFP_MIX(*p);
	VFP_MIX(0);
	VFP_MIX(dlen);
	for (unsigned i = 0; i < dlen; i++)
		VFP_MIX(data[i]);
#undef VFP_MIX
	return h;
}

/* A range's value: its data and its end (an endpoint-ranges element). */
static uint64_t vfp_end(uint64_t h, uint32_t end)
{
	for (int i = 24; i >= 0; i -= 8) {
		h ^= (uint8_t)(end >> i);
		h *= 1099511628211ull;
	}
	return h;
}

/*
 * A ranges map's entry keeps the value of the end the kernel holds
 * (big-endian; its prefix is the start's) in the 4 bytes after its key
 * (eent_size).
 */
#define EENT_END(x) ((x)->key + (x)->klen)

/* D's value fingerprint of an element (a range: with its end). */
static uint64_t d_vfp(const struct nftp_elem *e)
{
	if (NFTP_IS_RANGES(e->set))
		return vfp_end(elem_vfp(0, NULL, nftp_elem_data(e), e->dlen), nftp_range_end(e));
	return elem_vfp(e->ev, e->chain, nftp_elem_data(e), e->dlen);
}

/* A load-balancing chain's slot: its endpoint-ranges map and key space (nftables_plan.h). */
struct slot {
	char *name;
	uint32_t base;		/* the slot number */
	unsigned refs;		/* plans in D that use it */
};

/* An element of a ranges map the kernel holds outside any start . end pair. */
struct orphan {
	uint16_t set;
	uint8_t end;		/* an end element */
	uint8_t klen;
	uint8_t key[SY_NFT_KEY_MAX];
};

static bool is_ep_set(unsigned set)
{
	return NFTP_IS_RANGES(set);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

struct proxy_mode {
	const struct sy_config *cfg;
	int family;			/* AF_INET / AF_INET6 = NFPROTO_IPV4 / NFPROTO_IPV6 */
	const char *table;
	const char *fam_table;		/* "ip switchyard", "ip6 switchyard" (logs, metrics) */
	struct sy_nft *nl;
	struct nftp_opts opts;
	bool have_opts;
	struct nftp_globals g;
	struct hmap ports;		/* name → struct nftp_port */
	/* D */
	struct hmap dchains;		/* name → struct nftp_chain */
	struct eidx elems;		/* D's and K's elements */
	struct hmap dsets;		/* name → struct dset */
	struct dset fixed[NFTP_NSETS];
	/* K */
	bool ktable;
	struct hmap kchains;		/* name → struct kchain */
	struct hmap ksets;		/* name → strdup'd name */
	struct hmap stale;		/* name → struct kchain (also in kchains) */
	bool need_full;
	uint64_t n_rules;
	/* endpoints-map slot bases: chain name → struct slot, bases in use */
	struct hmap slots;
	uint8_t *used;			/* NFTP_NSLOTS bits */
	char **zero;			/* names whose refs dropped to 0 this sync */
	unsigned n_zero, cap_zero;
	struct nftp_alloc alloc;
	unsigned ep_refs[NFTP_NSETS - NFTP_S_EP0];	/* D's elements in each ranges map */
	unsigned grp_refs[NFTP_LB_GROUPS];	/* service-ranges maps in D's use in each group */
	uint64_t d_rules;			/* rules of D's chains (kept, not counted) */
	struct sy_report rep;		/* init's: the Service ports a sync skips */
	struct orphan *orphans;		/* found by the last k_load: deleted by the full pass */
	unsigned n_orphans, cap_orphans;
	char **parked;				/* names of the old plans a partial sync parked */
	unsigned n_parked, cap_parked;
	struct hmap claims;			/* service-ranges key spaces: key → struct sr_claim */
	const struct nftp_port **promoted;	/* ports that took over a key space (sr_release) */
	unsigned n_promoted, cap_promoted;
};

/*
 * A service-ranges key space (a map and an address . proto . port) has one
 * owner.  Two Service ports with the same externalIP or LoadBalancer IP and
 * port (the API allows it) in one shard would otherwise put interleaving
 * ranges into one interval map, which the kernel refuses (and the second
 * port, its ClusterIP too, would be skipped).  The first port to claim it
 * has its ranges in D, as the first owner's value of a shared
 * service-ips element wins; the others wait, and the first of them takes
 * over when the owner goes.
 */
struct sr_claim {
	const struct nftp_port *owner;
	const struct nftp_port **wait;
	unsigned n_wait;
	char key[];
};

static bool is_sr_elem(const struct nftp_elem *e)
{
	return e->set >= NFTP_S_SR0 && e->set < NFTP_NSETS && e->klen >= 4;
}

/* Do a and b (service-ranges elements) share their key space? */
static bool sr_same(const struct nftp_elem *a, const struct nftp_elem *b)
{
	return a && b && a->set == b->set && a->klen == b->klen &&
	       !memcmp(nftp_elem_kp(a), nftp_elem_kp(b), a->klen - 4u);
}

static struct sr_claim *sr_get(struct proxy_mode *m, const struct nftp_elem *e, bool create)
{
	char k[NFTP_EKEY_MAX];
	struct sr_claim *c;

	nftp_elem_key(k, nftp_set_def(e->set)->name, nftp_elem_kp(e), e->klen - 4u);
	c = hmap_get(&m->claims, k);
	if (!c && create) {
		size_t l = strlen(k) + 1;
		c = xcalloc(1, sizeof(*c) + l);
		memcpy(c->key, k, l);
		hmap_put(&m->claims, c->key, c);
	}
	return c;
}

static void sr_claim_free(void *v)
{
	struct sr_claim *c = v;

	free(c->wait);
	free(c);
}

/* Does pp own e's key space (claimed now if free)?  If not, pp waits for it. */
static bool sr_take(struct proxy_mode *m, const struct nftp_port *pp, const struct nftp_elem *e)
{
	struct sr_claim *c = sr_get(m, e, true);

	if (!c->owner)
		c->owner = pp;
	if (c->owner == pp)
		return true;
	for (unsigned i = 0; i < c->n_wait; i++)
		if (c->wait[i] == pp)
			return false;
	c->wait = xrealloc(c->wait, (c->n_wait + 1) * sizeof(*c->wait));
	c->wait[c->n_wait++] = pp;
	return false;
}

/* ---- slot bases ---- */

static uint32_t slot_base(void *arg, const char *chain)
{
	struct proxy_mode *m = arg;
	struct slot *sl = hmap_get(&m->slots, chain);
	uint32_t i;

	if (sl)
		return sl->base;
	/* the name's own slot, or the next free one (linear probing) */
	i = nftp_base_hash(chain);
	while ((m->used[i / 8] & (1u << (i % 8))) || !NFTP_SLOT_OK(i))
		i = (i + 1) % NFTP_NSLOTS;
	m->used[i / 8] |= (uint8_t)(1u << (i % 8));
	sl = xcalloc(1, sizeof(*sl));
	sl->base = i;
	sl->name = xstrdup(chain);
	hmap_put(&m->slots, sl->name, sl);
	return sl->base;
}

static void slot_ref(struct proxy_mode *m, const char *chain, int d)
{
	struct slot *sl = hmap_get(&m->slots, chain);

	if (!sl)
		return;
	if (d > 0) {
		sl->refs++;
		return;
	}
	if (sl->refs && --sl->refs == 0) {
		m->zero = sy_grow(m->zero, m->n_zero, &m->cap_zero, sizeof(*m->zero), 16);
		m->zero[m->n_zero++] = xstrdup(chain);
	}
}

/* Free the bases no plan uses any more (after a sync: a replan may take one back). */
static void slot_gc(struct proxy_mode *m)
{
	for (unsigned i = 0; i < m->n_zero; i++) {
		struct slot *sl = hmap_get(&m->slots, m->zero[i]);
		if (sl && !sl->refs) {
			uint32_t idx = sl->base;
			m->used[idx / 8] &= (uint8_t)~(1u << (idx % 8));
			hmap_del(&m->slots, m->zero[i]);
			free(sl->name);
			free(sl);
		}
		free(m->zero[i]);
	}
	m->n_zero = 0;
}

/* ---- D ---- */

static void d_add_chain(struct proxy_mode *m, struct nftp_chain *c)
{
	struct nftp_chain *old = hmap_put(&m->dchains, c->name, c);

	if (old)
		m->d_rules -= old->n_rules;
	m->d_rules += c->n_rules;
}

/*
 * A shared chain lb-group-G and its 16 service-ranges maps (its rules
 * use every one) are in D while any of the maps has elements there.
 */
static void d_group_ref(struct proxy_mode *m, unsigned grp, int d)
{
	const struct nftp_chain *lc = &m->g.lb[grp];

	if (d > 0 && m->grp_refs[grp]++ == 0) {
		for (unsigned j = 0; j < 16; j++)
			hmap_put(&m->dsets, m->fixed[NFTP_S_SR0 + 16 * grp + j].name,
				 &m->fixed[NFTP_S_SR0 + 16 * grp + j]);
		d_add_chain(m, &m->g.lb[grp]);
	} else if (d < 0 && m->grp_refs[grp] && --m->grp_refs[grp] == 0) {
		for (unsigned j = 0; j < 16; j++)
			hmap_del(&m->dsets, m->fixed[NFTP_S_SR0 + 16 * grp + j].name);
		if (hmap_get(&m->dchains, lc->name) == lc) {
			hmap_del(&m->dchains, lc->name);
			m->d_rules -= lc->n_rules;
		}
	}
}

/* An endpoints map is in D while it has elements there (a service-ranges map: its group). */
static void d_shard_ref(struct proxy_mode *m, unsigned set, int d)
{
	unsigned k = set - NFTP_S_EP0;

	if (set < NFTP_S_EP0 || set >= NFTP_NSETS)
		return;
	if (d > 0 && m->ep_refs[k]++ == 0) {
		if (set >= NFTP_S_SR0)
			d_group_ref(m, (set - NFTP_S_SR0) / 16, 1);
		else
			hmap_put(&m->dsets, m->fixed[set].name, &m->fixed[set]);
	} else if (d < 0 && m->ep_refs[k] && --m->ep_refs[k] == 0) {
		if (set >= NFTP_S_SR0)
			d_group_ref(m, (set - NFTP_S_SR0) / 16, -1);
		else
			hmap_del(&m->dsets, m->fixed[set].name);
	}
}

static void d_add_elem_h(struct proxy_mode *m, const struct nftp_elem *e, uint64_t h)
{
	struct eent *d;

	d_shard_ref(m, e->set, 1);
	d = ei_put_h(&m->elems, h, e->set, nftp_elem_kp(e), e->klen);
	if (d->refs++ == 0)
		m->elems.n_d++;
	if (!d->e)
		d->e = e;
}

static void d_add_elem(struct proxy_mode *m, const struct nftp_elem *e)
{
	d_add_elem_h(m, e, ekey_hash(e->set, nftp_elem_kp(e), e->klen));
}

static void d_del_elem(struct proxy_mode *m, const struct nftp_elem *e)
{
	struct eent *d;

	d_shard_ref(m, e->set, -1);
	d = ei_get(&m->elems, e->set, nftp_elem_kp(e), e->klen);
	if (!d || !d->refs)
		return;
	if (--d->refs == 0) {
		m->elems.n_d--;
		d->e = NULL;
		if (!d->ink)
			ei_del(&m->elems, d);
	} else if (d->e == e) {
		/* another owner's element stays: point at something that lives on */
		d->e = NULL;
	}
}

static void d_port_add(struct proxy_mode *m, struct nftp_port *pp)
{
	for (unsigned i = 0; i < pp->n_chains; i++) {
		d_add_chain(m, &pp->chains[i]);
		slot_ref(m, pp->chains[i].name, 1);
	}
	const struct nftp_elem *last = NULL;	/* a key space's elements are consecutive */
	bool owns = false;
	uint64_t hs[2 * EI_AHEAD_LOOKUPS];	/* the elements' hashes, from a window ahead */
	for (unsigned i = 0; i < pp->n_elems + EI_AHEAD_LOOKUPS; i++) {
		const struct nftp_elem *e;
		if (i < pp->n_elems) {
			e = &pp->elems[i];
			hs[i % (2 * EI_AHEAD_LOOKUPS)] = ekey_hash(e->set, nftp_elem_kp(e), e->klen);
			ei_prefetch(&m->elems, hs[i % (2 * EI_AHEAD_LOOKUPS)]);
		}
		if (i < EI_AHEAD_LOOKUPS)
			continue;
		e = &pp->elems[i - EI_AHEAD_LOOKUPS];
		if (is_sr_elem(e)) {
			if (!sr_same(last, e))
				owns = sr_take(m, pp, e);
			last = e;
			if (!owns)
				continue;
		}
		d_add_elem_h(m, e, hs[(i - EI_AHEAD_LOOKUPS) % (2 * EI_AHEAD_LOOKUPS)]);
	}
	for (unsigned i = 0; i < pp->n_asets; i++) {
		struct dset *s = xcalloc(1, sizeof(*s));
		s->name = pp->asets[i].name;
		s->def.name = s->name;
		s->def.key = SY_NFT_K_ADDR;
		s->def.timeout_s = pp->asets[i].timeout;
		free(hmap_put(&m->dsets, s->name, s));
	}
}

static void d_port_del(struct proxy_mode *m, struct nftp_port *pp)
{
	for (unsigned i = 0; i < pp->n_chains; i++) {
		if (hmap_get(&m->dchains, pp->chains[i].name) == &pp->chains[i]) {
			hmap_del(&m->dchains, pp->chains[i].name);
			m->d_rules -= pp->chains[i].n_rules;
		}
		slot_ref(m, pp->chains[i].name, -1);
	}
	const struct nftp_elem *last = NULL;
	struct sr_claim *c = NULL;
	for (unsigned i = 0; i < pp->n_elems; i++) {
		const struct nftp_elem *e = &pp->elems[i];
		if (is_sr_elem(e)) {
			if (!sr_same(last, e)) {
				c = sr_get(m, e, false);
				if (c && c->owner != pp)	/* a key space it waited for */
					sy_ptrs_remove(c->wait, &c->n_wait, pp);
			}
			last = e;
			if (c && c->owner != pp)
				continue;
		}
		d_del_elem(m, e);
	}
	/* its key spaces: to the first port waiting, or free */
	last = NULL;
	for (unsigned i = 0; i < pp->n_elems; i++) {
		const struct nftp_elem *e = &pp->elems[i];
		const struct nftp_port *w;
		if (!is_sr_elem(e) || sr_same(last, e))
			continue;
		last = e;
		c = sr_get(m, e, false);
		if (!c || c->owner != pp)
			continue;
		if (!c->n_wait) {
			sr_claim_free(hmap_del(&m->claims, c->key));
			continue;
		}
		w = c->owner = c->wait[0];
		memmove(c->wait, c->wait + 1, --c->n_wait * sizeof(*c->wait));
		for (unsigned j = 0; j < w->n_elems; j++)
			if (is_sr_elem(&w->elems[j]) && sr_get(m, &w->elems[j], false) == c)
				d_add_elem(m, &w->elems[j]);
		m->promoted = sy_grow(m->promoted, m->n_promoted, &m->cap_promoted, sizeof(*m->promoted), 8);
		m->promoted[m->n_promoted++] = w;
	}
	for (unsigned i = 0; i < pp->n_asets; i++)
		free(hmap_del(&m->dsets, pp->asets[i].name));
}

/* An element whose owner went away but which another port still wants. */
static const struct nftp_elem *d_elem_value(struct proxy_mode *m, struct eent *d)
{
	struct hmap_iter it;
	void *v;

	if (d->e || !d->refs)
		return d->e;
	hmap_iter_init(&it, &m->ports);
	while (hmap_iter_next(&it, NULL, &v)) {
		struct nftp_port *pp = v;
		/* not a parked old plan: freed at the end of the sync (drop_parked) */
		if (pp->error || pp->name[0] == '\x01')
			continue;
		for (unsigned i = 0; i < pp->n_elems; i++) {
			const struct nftp_elem *e = &pp->elems[i];
			if (e->set == d->set && e->klen == d->klen && !memcmp(nftp_elem_kp(e), d->key, d->klen))
				return d->e = e;
		}
	}
	return NULL;
}

static void d_globals(struct proxy_mode *m)
{
	for (unsigned i = 0; i < m->g.n_chains; i++)
		d_add_chain(m, &m->g.chains[i]);
	for (unsigned i = 0; i < m->g.n_elems; i++)
		d_add_elem(m, &m->g.elems[i]);
	for (unsigned i = 0; i < NFTP_NSETS; i++) {
		m->fixed[i].def = *nftp_set_def(i);
		m->fixed[i].name = m->fixed[i].def.name;
		if (i < NFTP_NFIXED)
			hmap_put(&m->dsets, m->fixed[i].name, &m->fixed[i]);
	}
	memset(m->ep_refs, 0, sizeof(m->ep_refs));
	memset(m->grp_refs, 0, sizeof(m->grp_refs));
}

static void free_values(struct hmap *h)
{
	struct hmap_iter it;
	void *v;

	hmap_iter_init(&it, h);
	while (hmap_iter_next(&it, NULL, &v))
		free(v);
	hmap_clear(h);
}

static bool d_forget(struct eent *e)
{
	e->refs = 0;
	e->e = NULL;
	return e->ink;
}

static void d_clear(struct proxy_mode *m)
{
	struct hmap_iter it;
	void *v;

	hmap_clear(&m->dchains);
	hmap_clear_free(&m->claims, sr_claim_free);
	m->n_promoted = 0;
	m->d_rules = 0;
	ei_filter(&m->elems, d_forget);
	m->elems.n_d = 0;
	hmap_iter_init(&it, &m->dsets);
	while (hmap_iter_next(&it, NULL, &v)) {
		struct dset *s = v;
		if (s < m->fixed || s >= m->fixed + NFTP_NSETS)
			free(s);
	}
	hmap_clear(&m->dsets);
}

/* ---- K ---- */

static bool k_forget(struct eent *e)
{
	e->ink = 0;
	return e->refs != 0;
}

static void k_clear(struct proxy_mode *m)
{
	struct hmap_iter it;
	void *v;

	hmap_iter_init(&it, &m->kchains);
	while (hmap_iter_next(&it, NULL, &v)) {
		free(((struct kchain *)v)->name);
		free(v);
	}
	hmap_clear(&m->kchains);
	hmap_clear(&m->stale);
	ei_filter(&m->elems, k_forget);
	free_values(&m->ksets);
	m->ktable = false;
}

static struct kchain *k_chain_put(struct proxy_mode *m, const char *name, uint64_t fp)
{
	struct kchain *c = hmap_get(&m->kchains, name);

	if (!c) {
		c = xcalloc(1, sizeof(*c));
		c->name = xstrdup(name);
		hmap_put(&m->kchains, c->name, c);
	}
	c->fp = fp;
	return c;
}

static void k_chain_del(struct proxy_mode *m, const char *name)
{
	struct kchain *c = hmap_del(&m->kchains, name);

	if (!c)
		return;
	hmap_del(&m->stale, c->name);
	free(c->name);
	free(c);
}

static void k_elem_put(struct proxy_mode *m, unsigned set, const uint8_t *key, unsigned klen,
		       uint64_t vfp)
{
	struct eent *e = ei_put(&m->elems, set, key, klen);

	e->ink = 1;
	e->vfp = vfp;
}

/* A ranges map's element as listed, before start and end are paired. */
struct ivel {
	uint8_t key[SY_NFT_KEY_MAX];	/* the listed map's klen bytes (load_arg) */
	uint8_t end;
	uint64_t vfp;		/* a start's data */
};

struct load_arg {
	struct proxy_mode *m;
	unsigned set;
	struct hmap fps;	/* chain → uint64_t* */
	struct ivel *iv;	/* the ranges map being listed */
	unsigned n_iv, cap_iv;
	unsigned klen;		/* its key length */
};

static void load_chain(void *arg, const char *name, bool base)
{
	struct load_arg *a = arg;

	k_chain_put(a->m, name, NFTP_FP_INIT);
}

static void load_rule(void *arg, const char *chain, uint64_t fp)
{
	struct load_arg *a = arg;
	struct kchain *c = hmap_get(&a->m->kchains, chain);

	if (c)
		c->fp = nftp_fp_fold(c->fp, fp);
}

static void load_set(void *arg, const char *name)
{
	struct load_arg *a = arg;
	char *s = xstrdup(name);

	free(hmap_put(&a->m->ksets, s, s));
}

static void load_elem(void *arg, const struct sy_nft_elem_info *in)
{
	struct load_arg *a = arg;

	if (in->klen > NFTP_KD_MAX)
		return;
	if (is_ep_set(a->set)) {
		/* paired into start . end entries when the map is listed (k_pair) */
		if (in->klen != a->klen)
			return;
		a->iv = sy_grow(a->iv, a->n_iv, &a->cap_iv, sizeof(*a->iv), 256);
		struct ivel *v = &a->iv[a->n_iv++];
		memset(v->key, 0, sizeof(v->key));
		memcpy(v->key, in->key, in->klen);
		v->end = in->end;
		v->vfp = in->end ? 0 : elem_vfp(0, NULL, in->dval, in->dval ? in->dlen : 0);
		return;
	}
	/* a jump (never ours) or an unknown verdict: 0xff, a mismatch */
	k_elem_put(a->m, a->set, in->key, in->klen,
		   elem_vfp(in->ev == SY_NFT_EV_JUMP ? 0xff : in->ev, in->chain, in->dval,
			    in->dval ? in->dlen : 0));
}

static int ivel_cmp(const void *pa, const void *pb)
{
	const struct ivel *a = pa, *b = pb;
	/* the kernel's order (memcmp; keys zero-padded to the same length) */
	int c = memcmp(a->key, b->key, sizeof(a->key));

	if (c)
		return c;
	return (int)b->end - (int)a->end;	/* at one key an end (of the range before) first */
}

static void k_orphan(struct proxy_mode *m, unsigned set, const uint8_t *key, unsigned klen,
		     bool end)
{
	struct orphan *o;

	m->orphans = sy_grow(m->orphans, m->n_orphans, &m->cap_orphans, sizeof(*m->orphans), 16);
	o = &m->orphans[m->n_orphans++];
	o->set = (uint16_t)set;
	o->end = end;
	o->klen = (uint8_t)klen;
	memcpy(o->key, key, klen);
}

/*
 * A ranges map's listed elements into K: each start followed by an end
 * with the same prefix (the key but its last 4 bytes) is one start . end
 * entry (its value the start's data); a start without an end, or an end
 * without a start before it (drift: elements deleted or added by hand),
 * is an orphan the full pass deletes.
 */
static void k_pair(struct proxy_mode *m, unsigned set, struct ivel *iv, unsigned n, unsigned klen)
{
	const struct ivel *open = NULL;

	qsort(iv, n, sizeof(*iv), ivel_cmp);
	for (unsigned i = 0; i < n; i++) {
		if (!iv[i].end) {
			if (open)
				k_orphan(m, set, open->key, klen, false);
			open = &iv[i];
		} else if (open && !memcmp(iv[i].key, open->key, klen - 4) &&
			   memcmp(iv[i].key, open->key, klen) > 0) {
			uint32_t end = get_be32(iv[i].key + klen - 4);
			struct eent *x = ei_put(&m->elems, set, open->key, klen);
			x->ink = 1;
			x->vfp = vfp_end(open->vfp, end);
			memcpy(EENT_END(x), iv[i].key + klen - 4, 4);
			open = NULL;
		} else {
			if (open)
				k_orphan(m, set, open->key, klen, false);
			open = NULL;
			k_orphan(m, set, iv[i].key, klen, true);
		}
	}
	if (open)
		k_orphan(m, set, open->key, klen, false);
}

/* K := what the kernel's table holds (chains + rule fingerprints, sets, our maps' elements). */
static int k_load(struct proxy_mode *m)
{
	struct load_arg a = { .m = m };
	int r;

	k_clear(m);
	m->n_orphans = 0;
	r = sy_nft_table_exists(m->nl, m->family, m->table);
	if (r <= 0)
		return r;
	m->ktable = true;
	r = sy_nft_dump_chains(m->nl, m->family, m->table, load_chain, &a);
	if (r >= 0)
		r = sy_nft_dump_rules(m->nl, m->family, m->table, load_rule, &a);
	if (r >= 0)
		r = sy_nft_dump_sets(m->nl, m->family, m->table, load_set, &a);
	for (unsigned i = 0; i < NFTP_NSETS && r >= 0; i++) {
		if (!hmap_get(&m->ksets, nftp_set_def(i)->name))
			continue;
		a.set = i;
		a.n_iv = 0;
		a.klen = sy_nft_key_len(nftp_set_def(i)->key, m->family);
		r = sy_nft_dump_elems2(m->nl, m->family, m->table, nftp_set_def(i)->name, load_elem, &a);
		if (r >= 0 && is_ep_set(i))
			k_pair(m, i, a.iv, a.n_iv, a.klen);
	}
	free(a.iv);
	return r < 0 ? r : 0;
}

/* ---- diff → batch ---- */

struct unit {
	const char **chains;
	unsigned n_chains, cap_chains;
	struct ekey *elems;
	unsigned n_elems, cap_elems;
	const char **sets;
	unsigned n_sets, cap_sets;
	bool defer;		/* leave unused chains and sets alone (a full sync's first pass) */
};

static void u_push(const char ***arr, unsigned *n, unsigned *cap, const char *s)
{
	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 16;
		*arr = xrealloc(*arr, *cap * sizeof(**arr));
	}
	(*arr)[(*n)++] = s;
}

static void u_reset(struct unit *u)
{
	u->n_chains = u->n_elems = u->n_sets = 0;
}

static void u_free(struct unit *u)
{
	free(u->chains);
	free(u->elems);
	free(u->sets);
}

static void e_push(struct unit *u, unsigned set, const uint8_t *key, unsigned klen)
{
	u->elems = sy_grow(u->elems, u->n_elems, &u->cap_elems, sizeof(*u->elems), 32);
	u->elems[u->n_elems++] = (struct ekey){ key, ekey_hash(set, key, klen), (uint16_t)set,
						(uint8_t)klen };
}

/* Which of a port's elements a unit takes: all, all but the verdict maps', only those. */
enum { U_ALL, U_DATA, U_VERDICT };

#define N_GROUPS NFTP_RANGE_GROUPS
/* The group of 16 ranges maps of a ranges set. */
static unsigned set_group(unsigned set)
{
	return (set - NFTP_S_EP0) / 16;
}

/* The first group of 16 ranges maps a port has ranges in (N_GROUPS: none). */
static unsigned port_group(const struct nftp_port *pp)
{
	return pp->groups ? (unsigned)__builtin_ctz(pp->groups) : N_GROUPS;
}

/*
 * grp < 0: all of it.  grp >= 0 (a full sync's data pass, by groups of
 * ranges maps): its ranges in that group's maps, and in its first group's
 * round (port_group) the rest: its chains, sets and other elements.
 */
static void u_add_port_grp(struct unit *u, const struct nftp_port *pp, int which, int grp)
{
	bool first = grp < 0 || (unsigned)grp == port_group(pp);

	for (unsigned i = 0; first && i < pp->n_chains; i++)
		u_push(&u->chains, &u->n_chains, &u->cap_chains, pp->chains[i].name);
	for (unsigned i = 0; i < pp->n_elems; i++) {
		unsigned set = pp->elems[i].set;
		if (!(which == U_ALL || (which == U_VERDICT) == nftp_set_def(set)->map))
			continue;
		if (grp >= 0 && (NFTP_IS_RANGES(set) ? set_group(set) != (unsigned)grp : !first))
			continue;
		e_push(u, set, nftp_elem_kp(&pp->elems[i]), pp->elems[i].klen);
	}
	if (!first)
		return;
	for (unsigned i = 0; i < pp->n_asets; i++)
		u_push(&u->sets, &u->n_sets, &u->cap_sets, pp->asets[i].name);
	/*
	 * the ranges maps its elements are in (created before, deleted after
	 * them), and for a service-ranges map its group's shared chain and
	 * all 16 maps of the group (the chain's rules use them)
	 */
	unsigned last = 0, last_grp = NFTP_LB_GROUPS;
	for (unsigned i = 0; i < pp->n_elems; i++) {
		unsigned set = pp->elems[i].set, lg;
		if (set < NFTP_S_EP0 || set == last)
			continue;
		last = set;
		if (set < NFTP_S_SR0) {
			u_push(&u->sets, &u->n_sets, &u->cap_sets, nftp_set_def(set)->name);
			continue;
		}
		lg = (set - NFTP_S_SR0) / 16;
		if (lg == last_grp)
			continue;
		last_grp = lg;
		for (unsigned j = 0; j < 16; j++)
			u_push(&u->sets, &u->n_sets, &u->cap_sets,
			       nftp_set_def(NFTP_S_SR0 + 16 * lg + j)->name);
		u_push(&u->chains, &u->n_chains, &u->cap_chains, nftp_lb_name(lg));
	}
}

static void u_add_port(struct unit *u, const struct nftp_port *pp, int which)
{
	u_add_port_grp(u, pp, which, -1);
}

/*
 * Add (e: the value) or delete one element; a ranges map's entry is its
 * start and its end element (end: the end's value, 4 bytes, big-endian;
 * its prefix is the start's).
 */
static void e_write(struct sy_nft_batch *b, bool add, unsigned set, const uint8_t *key,
		    unsigned klen, const struct nftp_elem *e, const uint8_t *end)
{
	const char *name = nftp_set_def(set)->name;

	if (is_ep_set(set) && klen >= 4 && klen <= SY_NFT_KEY_MAX) {
		uint8_t ek[SY_NFT_KEY_MAX];
		memcpy(ek, key, klen - 4);
		memcpy(ek + klen - 4, end, 4);
		sy_nft_elem_iv(b, add, name, key, klen, false, e ? nftp_elem_data(e) : NULL,
			       e ? e->dlen : 0);
		sy_nft_elem_iv(b, add, name, ek, klen, true, NULL, 0);
	} else if (!add) {
		sy_nft_elem(b, false, name, key, klen, 0, NULL);
	} else if (e->dlen) {
		sy_nft_elem_data(b, true, name, key, klen, nftp_elem_data(e), e->dlen);
	} else {
		sy_nft_elem(b, true, name, key, klen, e->ev, e->chain);
	}
}

/*
 * Emit what makes K equal D for the unit's names, and update K as if the
 * batch succeeds (a failure makes the next sync reload K).  Returns the
 * number of rules written.
 */
static unsigned emit(struct proxy_mode *m, struct sy_nft_batch *b, const struct unit *u, double now)
{
	unsigned written = 0;

	for (unsigned i = 0; i < u->n_sets; i++) {
		struct dset *d = hmap_get(&m->dsets, u->sets[i]);
		if (d && !hmap_get(&m->ksets, u->sets[i])) {
			char *s = xstrdup(u->sets[i]);
			sy_nft_set_add(b, &d->def);
			hmap_put(&m->ksets, s, s);
		}
	}
	for (unsigned i = 0; i < u->n_chains; i++) {
		struct nftp_chain *d = hmap_get(&m->dchains, u->chains[i]);
		if (d && !hmap_get(&m->kchains, u->chains[i])) {
			sy_nft_chain_add(b, d->name, d->hook);
			k_chain_put(m, d->name, NFTP_FP_INIT);
		}
	}
	for (unsigned i = 0; i < u->n_chains; i++) {
		struct nftp_chain *d = hmap_get(&m->dchains, u->chains[i]);
		struct kchain *k = hmap_get(&m->kchains, u->chains[i]);
		if (!d || !k || (k->fp == d->fp && !k->stale))
			continue;
		if (k->fp != NFTP_FP_INIT)
			sy_nft_chain_flush(b, d->name);
		for (unsigned j = 0; j < d->n_rules; j++)
			if (sy_nft_rule_add(b, d->name, &d->rules[j]) == 0)
				written++;
		k->fp = d->fp;
		if (k->stale) {
			k->stale = 0;
			hmap_del(&m->stale, k->name);
		}
	}
	/*
	 * Elements in two passes, the deletes first: an endpoint-ranges map's
	 * new ranges must not overlap its old ones when they are added (the
	 * kernel's rbtree refuses an overlap; one transaction, so no packet
	 * sees the map in between).
	 */
	for (unsigned i = 0; i < u->n_elems && i < EI_AHEAD_LOOKUPS; i++)
		ei_prefetch(&m->elems, u->elems[i].h);
	for (unsigned i = 0; i < u->n_elems; i++) {
		const struct ekey *uk = &u->elems[i];
		struct eent *x = ei_get_h(&m->elems, uk->h, uk->set, uk->key, uk->klen);
		const struct nftp_elem *e;
		if (i + EI_AHEAD_LOOKUPS < u->n_elems)
			ei_prefetch(&m->elems, u->elems[i + EI_AHEAD_LOOKUPS].h);
		if (!x || !x->ink)
			continue;
		e = d_elem_value(m, x);
		if (e && x->vfp == d_vfp(e))
			continue;
		e_write(b, false, x->set, x->key, x->klen, NULL, EENT_END(x));
		x->ink = 0;
	}
	for (unsigned i = 0; i < u->n_elems; i++) {
		const struct ekey *uk = &u->elems[i];
		struct eent *x = ei_get_h(&m->elems, uk->h, uk->set, uk->key, uk->klen);
		const struct nftp_elem *e;
		if (!x || x->ink)
			continue;
		e = d_elem_value(m, x);
		if (e) {
			if (is_ep_set(e->set)) {
				uint32_t end = nftp_range_end(e);
				for (int k = 0; k < 4; k++)
					EENT_END(x)[k] = (uint8_t)(end >> (24 - 8 * k));
			}
			e_write(b, true, e->set, nftp_elem_kp(e), e->klen, e, EENT_END(x));
			x->ink = 1;
			x->vfp = d_vfp(e);
		} else if (!x->refs) {
			ei_del(&m->elems, x);	/* uk may point into it: not used after this */
		}
	}
	if (u->defer)
		return written;
	for (unsigned i = 0; i < u->n_chains; i++) {
		struct kchain *k = hmap_get(&m->kchains, u->chains[i]);
		if (!k || k->stale || hmap_get(&m->dchains, u->chains[i]))
			continue;
		sy_nft_chain_flush(b, k->name);
		k->fp = NFTP_FP_INIT;
		k->stale = now;
		hmap_put(&m->stale, k->name, k);
	}
	for (unsigned i = 0; i < u->n_sets; i++) {
		char *s = hmap_get(&m->ksets, u->sets[i]);
		if (!s || hmap_get(&m->dsets, u->sets[i]))
			continue;
		sy_nft_set_del(b, s);
		hmap_del(&m->ksets, s);
		free(s);
	}
	return written;
}

/* Stale chains older than STALE_DELAY: delete.  Returns how many remain. */
static unsigned emit_stale(struct proxy_mode *m, struct sy_nft_batch *b, double now)
{
	struct hmap_iter it;
	const char **del = NULL;
	unsigned n = 0, left = 0;
	void *v;

	del = xcalloc(hmap_count(&m->stale) + 1, sizeof(*del));
	hmap_iter_init(&it, &m->stale);
	while (hmap_iter_next(&it, NULL, &v)) {
		struct kchain *k = v;
		if (now - k->stale >= STALE_DELAY)
			del[n++] = k->name;
		else
			left++;
	}
	for (unsigned i = 0; i < n; i++) {
		sy_nft_chain_del(b, del[i]);
		k_chain_del(m, del[i]);
	}
	free(del);
	return left;
}

/* ---- sync ---- */

/* This thread's page faults so far (minor and major). */
static long thread_faults(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru) < 0)
		return 0;
	return ru.ru_minflt + ru.ru_majflt;
}

/* This thread's CPU time (user + system: the kernel's work in sendmsg included), seconds. */
static double thread_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct sender {
	struct proxy_mode *m;
	struct sy_nft_batch *b;
	struct mode_sync_stats *st;
	const char **tags;		/* tag → port name */
	unsigned n_tags, cap_tags;
	int err;
	struct sy_nft_error e;
	char *bad;			/* port the kernel refused */
};

static void s_new(struct sender *s)
{
	s->b = sy_nft_batch_new(s->m->family, s->m->table);
}

static int s_send(struct sender *s)
{
	double ks = 0;
	int r;

	if (!s->b)
		return 0;
	if (sy_nft_batch_count(s->b) == 0) {
		sy_nft_batch_free(s->b);
		s->b = NULL;
		return 0;
	}
	unsigned msgs = sy_nft_batch_count(s->b);
	size_t bytes = sy_nft_batch_bytes(s->b);
	double c0 = thread_cpu(), kc;
	r = sy_nft_send(s->m->nl, s->b, &s->e, &ks);
	kc = thread_cpu() - c0;
	log_v(4, "nftables %s: batch of %u messages (%zu bytes), %.3f ms in the kernel (cpu %.3f ms)",
	      s->m->fam_table, msgs, bytes, ks * 1e3, kc * 1e3);
	s->st->writes++;
	s->st->kernel_write_seconds += ks;
	s->st->kernel_write_cpu_seconds += kc;
	if (r < 0 && s->e.tag >= 0 && (unsigned)s->e.tag < s->n_tags)
		s->bad = xstrdup(s->tags[s->e.tag]);
	sy_nft_batch_free(s->b);
	s->b = NULL;
	return r;
}

static void s_tag(struct sender *s, const char *port)
{
	if (!port) {
		sy_nft_batch_tag(s->b, -1);
		return;
	}
	u_push(&s->tags, &s->n_tags, &s->cap_tags, port);
	sy_nft_batch_tag(s->b, (int)s->n_tags - 1);
}

static void set_opts(struct proxy_mode *m, const struct nftp_opts *o)
{
	d_clear(m);
	if (m->have_opts)
		nftp_globals_free(&m->g);
	m->opts = *o;
	m->have_opts = true;
	nftp_globals_build(&m->g, o);
	d_globals(m);
}

/* The instance's ports: the desired state's ports of its family. */
static const struct ds_port *m_port(const struct proxy_mode *m, const struct desired_state *ds,
				    const char *name)
{
	return hmap_get(ds_ports(ds, m->family), name);
}

/* The changes of the instance's family since the last commit. */
static const struct ds_change *m_changes(const struct proxy_mode *m, const struct desired_state *ds,
					 unsigned *n)
{
	return ds_changes(ds, m->family, n);
}

/* Bring the per-port plans up to ds: all of them (full) or the changed ones. */
static void replan(struct proxy_mode *m, const struct desired_state *ds, bool all,
		   struct unit *u)
{
	struct hmap_iter it;
	const char *key;
	void *v;

	if (all) {
		/* (a full sync emits every port: no promoted port to add) */
		m->n_promoted = 0;
		/* drop plans of ports that are gone, (re)plan changed ones */
		const char **gone = xcalloc(hmap_count(&m->ports) + 1, sizeof(*gone));
		unsigned n_gone = 0;
		hmap_iter_init(&it, &m->ports);
		while (hmap_iter_next(&it, &key, NULL))
			if (!m_port(m, ds, key))
				gone[n_gone++] = key;
		for (unsigned i = 0; i < n_gone; i++) {
			struct nftp_port *pp = hmap_del(&m->ports, gone[i]);
			if (!pp->error)
				d_port_del(m, pp);
			nftp_port_free(pp);
		}
		free(gone);
		hmap_iter_init(&it, ds_ports(ds, m->family));
		while (hmap_iter_next(&it, &key, &v)) {
			const struct ds_port *dp = v;
			struct nftp_port *pp = hmap_get(&m->ports, key);
			if (pp && pp->serial == dp->serial)
				continue;
			if (pp) {
				hmap_del(&m->ports, pp->name);
				if (!pp->error)
					d_port_del(m, pp);
				nftp_port_free(pp);
			}
			pp = nftp_port_new(&m->opts, dp, &m->alloc);
			hmap_put(&m->ports, pp->name, pp);
			d_port_add(m, pp);
		}
		return;
	}
	/* partial: the changed ports; the unit holds old and new names */
	unsigned n_changes;
	const struct ds_change *changes = m_changes(m, ds, &n_changes);
	for (unsigned i = 0; i < n_changes; i++) {
		const struct ds_change *c = &changes[i];
		struct nftp_port *old = hmap_get(&m->ports, c->name), *np = NULL;
		const struct ds_port *dp = m_port(m, ds, c->name);
		if (old && dp && old->serial == dp->serial)
			continue;
		if (dp) {
			np = nftp_port_new(&m->opts, dp, &m->alloc);
			u_add_port(u, np, U_ALL);
		}
		if (old) {
			hmap_del(&m->ports, old->name);
			if (!old->error)
				d_port_del(m, old);
			u_add_port(u, old, U_ALL);
			/* old's strings must outlive the emit: park it */
			old->serial = 0;
		}
		if (np) {
			hmap_put(&m->ports, np->name, np);
			d_port_add(m, np);
		}
		if (old) {
			/* keep it alive until the caller is done with u */
			char pk[48];
			snprintf(pk, sizeof(pk), "\x01old%p", (void *)old);
			free(old->name);
			old->name = xstrdup(pk);
			hmap_put(&m->ports, old->name, old);
			m->parked = sy_grow(m->parked, m->n_parked, &m->cap_parked, sizeof(*m->parked), 16);
			m->parked[m->n_parked++] = old->name;
		}
	}
	/* ports that took over a service-ranges key space: their ranges now */
	for (unsigned i = 0; i < m->n_promoted; i++) {
		const struct nftp_port *pp = m->promoted[i];
		if (!pp->error && pp->name[0] != '\x01' && hmap_get(&m->ports, pp->name) == pp)
			u_add_port(u, pp, U_ALL);
	}
	m->n_promoted = 0;
}

/* Free the parked old plans of a partial replan. */
static void drop_parked(struct proxy_mode *m)
{
	/* only the parked ones: a partial sync must not walk every port */
	for (unsigned i = 0; i < m->n_parked; i++)
		nftp_port_free(hmap_del(&m->ports, m->parked[i]));
	m->n_parked = 0;
}

static bool is_parked(const struct nftp_port *pp)
{
	return pp->name[0] == '\x01';
}

/*
 * The ranges maps' entries K holds and D does not, by (set, start): a
 * port's unit takes those in its key spaces (a chain's value space, a
 * service-ranges address . proto . port), so that they are deleted in the
 * batch (and before) its new ranges are added.
 */
struct lref {
	uint16_t set;
	uint8_t klen;
	const uint8_t *key;
	struct eent *x;		/* NULL once taken */
};

static int lref_cmp(const void *pa, const void *pb)
{
	const struct lref *a = pa, *b = pb;

	if (a->set != b->set)
		return a->set < b->set ? -1 : 1;
	if (a->klen != b->klen)
		return a->klen < b->klen ? -1 : 1;
	return memcmp(a->key, b->key, a->klen);
}

static struct lref *leftover_ranges(struct proxy_mode *m, unsigned *n)
{
	struct lref *v = NULL;
	unsigned cap = 0;

	*n = 0;
	for (size_t i = 0; i < m->elems.cap; i++) {
		struct eent *x = ei_at(&m->elems, i);
		if (!x || !x->ink || x->refs || !is_ep_set(x->set) || x->klen < 4)
			continue;
		if (*n == cap) {
			cap = cap ? 2 * cap : 64;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[(*n)++] = (struct lref){ x->set, x->klen, x->key, x };
	}
	if (*n)
		qsort(v, *n, sizeof(*v), lref_cmp);
	return v;
}

/* Push the leftovers in the key spaces of pp's ranges elements in group grp's maps into u. */
static void u_add_leftovers(struct unit *u, const struct nftp_port *pp, struct lref *v, unsigned n,
			    unsigned grp)
{
	uint8_t last[SY_NFT_KEY_MAX], key[SY_NFT_KEY_MAX];
	unsigned last_set = 0, kl;

	for (unsigned i = 0; n && i < pp->n_elems; i++) {
		const struct nftp_elem *e = &pp->elems[i];
		unsigned lo = 0, hi = n;
		uint32_t space;
		if (!is_ep_set(e->set) || e->klen < 4 || e->klen > SY_NFT_KEY_MAX ||
		    set_group(e->set) != grp)
			continue;
		kl = e->klen;
		memcpy(key, nftp_elem_kp(e), kl);
		space = get_be32(key + kl - 4) & ~(NFTP_SPAN - 1);
		for (int b = 0; b < 4; b++)
			key[kl - 4 + b] = (uint8_t)(space >> (24 - 8 * b));
		if (e->set == last_set && !memcmp(key, last, kl))
			continue;
		last_set = e->set;
		memcpy(last, key, kl);
		struct lref probe = { (uint16_t)e->set, (uint8_t)kl, key, NULL };
		while (lo < hi) {
			unsigned mid = (lo + hi) / 2;
			if (lref_cmp(&v[mid], &probe) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < n && v[lo].set == e->set && v[lo].klen == kl &&
		       !memcmp(v[lo].key, key, kl - 4) && get_be32(v[lo].key + kl - 4) - space < NFTP_SPAN;
		     lo++)
			if (v[lo].x) {
				e_push(u, v[lo].set, v[lo].x->key, v[lo].x->klen);
				v[lo].x = NULL;
			}
	}
}

/* A full pass: K from the kernel, then every unit, chunked. */
static int full_pass(struct proxy_mode *m, struct sender *s, double now, unsigned *written)
{
	struct unit u = { 0 };
	struct hmap_iter it;
	const char *key;
	void *v;
	int r;

	r = k_load(m);
	if (r < 0) {
		snprintf(s->e.what, sizeof(s->e.what), "reading table %s: %s", m->fam_table, strerror(-r));
		return r;
	}
	s_new(s);
	if (!m->ktable) {
		sy_nft_table_add(s->b);
		m->ktable = true;
	}
	/* globals */
	for (unsigned i = 0; i < m->g.n_chains; i++)
		u_push(&u.chains, &u.n_chains, &u.cap_chains, m->g.chains[i].name);
	for (unsigned i = 0; i < NFTP_NFIXED; i++)
		u_push(&u.sets, &u.n_sets, &u.cap_sets, m->fixed[i].name);
	/* sets before the global chains' rules use them: emit handles the order */
	for (unsigned i = 0; i < m->g.n_elems; i++)
		e_push(&u, m->g.elems[i].set, nftp_elem_kp(&m->g.elems[i]), m->g.elems[i].klen);
	*written += emit(m, s->b, &u, now);
	u_reset(&u);
	/* endpoint-ranges elements outside any pair (drift): deleted first */
	for (unsigned i = 0; i < m->n_orphans; i++)
		sy_nft_elem_iv(s->b, false, nftp_set_def(m->orphans[i].set)->name, m->orphans[i].key,
			       m->orphans[i].klen, m->orphans[i].end, NULL, 0);
	m->n_orphans = 0;
	unsigned n_left;
	struct lref *left = leftover_ranges(m, &n_left);
	/*
	 * ports, in two passes: chains, rules and data elements first, then
	 * the verdict maps' elements (service-ips, …: the gotos into the
	 * ports' chains), with the chains and sets no longer used flushed
	 * and deleted after them.  A commit that adds a rule with a nat or
	 * lookup expression validates the whole table, walking every element
	 * of every verdict map into its chain: with the gotos last, the cold
	 * start's first batches validate a table whose maps are empty.  A
	 * port's old and new verdict elements stay in one batch.
	 */
	/*
	 * The data pass in 33 rounds over the ports, by groups of 16
	 * endpoint-ranges / service-ranges maps (then the ports without
	 * ranges): round g takes each port's ranges in group g's maps, and a
	 * port's chains, sets and other elements in the round of its first
	 * group.  A commit costs the kernel a walk of every interval map the
	 * batch touched (6.18's rbtree: about its size), so a batch touches a
	 * few maps, not all 256 (10,000 Services: the cold start's batches
	 * grew from 8 to 100 ms of kernel CPU in hash order, 9-35 ms so; with
	 * a port's keys in several shards, ranges by the port's first group
	 * made them 14-30 ms).  Rounds without ports are skipped.  No array
	 * of the ports: it would add to the sync's peak RSS.
	 */
	/* the rounds with ports in them (a round is a walk over every port) */
	uint64_t rounds = 0;
	hmap_iter_init(&it, &m->ports);
	while (hmap_iter_next(&it, &key, &v)) {
		const struct nftp_port *pp = v;
		rounds |= pp->groups ? pp->groups : 1ull << N_GROUPS;
	}
	for (int pass = U_DATA; pass <= U_VERDICT; pass++) {
		for (unsigned grp = 0; grp <= (pass == U_DATA ? N_GROUPS : 0); grp++) {
			if (pass == U_DATA && !(rounds & (1ull << grp)))
				continue;
			hmap_iter_init(&it, &m->ports);
			while (hmap_iter_next(&it, &key, &v)) {
				struct nftp_port *pp = v;
				if (pp->error || is_parked(pp))
					continue;
				if (pass == U_DATA && (grp < N_GROUPS ? !(pp->groups & (1u << grp)) : pp->groups))
					continue;
				u_add_port_grp(&u, pp, pass, pass == U_DATA ? (int)grp : -1);
				if (pass == U_DATA)
					u_add_leftovers(&u, pp, left, n_left, grp);
				u.defer = pass == U_DATA;
				s_tag(s, pp->name);
				*written += emit(m, s->b, &u, now);
				u_reset(&u);
				if (sy_nft_batch_count(s->b) >= CHUNK_MSGS) {
					r = s_send(s);
					if (r < 0)
						goto out;
					s_new(s);
				}
			}
		}
	}
	u.defer = false;
	s_tag(s, NULL);
	/* leftovers: in K, not in D */
	hmap_iter_init(&it, &m->kchains);
	while (hmap_iter_next(&it, &key, &v))
		if (!hmap_get(&m->dchains, key))
			u_push(&u.chains, &u.n_chains, &u.cap_chains, ((struct kchain *)v)->name);
	for (size_t i = 0; i < m->elems.cap; i++) {
		const struct eent *x = ei_at(&m->elems, i);
		/* emit frees such an entry after its own item: the key stays valid until then */
		if (x && x->ink && !x->refs)
			e_push(&u, x->set, x->key, x->klen);
	}
	hmap_iter_init(&it, &m->ksets);
	while (hmap_iter_next(&it, &key, &v))
		if (!hmap_get(&m->dsets, key))
			u_push(&u.sets, &u.n_sets, &u.cap_sets, (const char *)v);
	{
		/* emit frees K entries it deletes: copy the names first */
		struct unit c = { 0 };
		char **own = xcalloc(u.n_chains + u.n_sets + 1, sizeof(*own));
		unsigned no = 0;
		for (unsigned i = 0; i < u.n_chains; i++)
			u_push(&c.chains, &c.n_chains, &c.cap_chains, own[no++] = xstrdup(u.chains[i]));
		c.elems = u.elems;
		c.n_elems = u.n_elems;
		c.cap_elems = u.cap_elems;
		u.elems = NULL;
		u.n_elems = u.cap_elems = 0;
		for (unsigned i = 0; i < u.n_sets; i++)
			u_push(&c.sets, &c.n_sets, &c.cap_sets, own[no++] = xstrdup(u.sets[i]));
		*written += emit(m, s->b, &c, now);
		for (unsigned i = 0; i < no; i++)
			free(own[i]);
		free(own);
		u_free(&c);
	}
	r = 0;
out:
	free(left);
	u_free(&u);
	return r;
}

static int nft_mode_sync(struct proxy_mode *m, const struct sy_sync_input *in, bool full,
			 struct mode_sync_stats *st)
{
	const struct desired_state *ds = in->services;	/* the ports of m->family */
	struct nftp_opts o;
	struct sender s = { .m = m, .st = st };
	double now = sy_now_mono(), cpu0 = thread_cpu();
	long flt0 = thread_faults();
	unsigned written = 0;
	int r = 0;

	nftp_opts_from(&o, m->cfg, ds, m->family);
	if (!m->have_opts || !nftp_opts_equal(&o, &m->opts)) {
		/* the globals changed: every port is planned again */
		struct hmap_iter it;
		void *v;
		set_opts(m, &o);
		hmap_iter_init(&it, &m->ports);
		while (hmap_iter_next(&it, NULL, &v))
			nftp_port_free(v);
		hmap_clear(&m->ports);
		full = true;
	}
	if (m->need_full)
		full = true;

	for (unsigned tries = 0; tries < MAX_TRIES; tries++) {
		s.n_tags = 0;
		free(s.bad);
		s.bad = NULL;
		if (full) {
			replan(m, ds, true, NULL);
			r = full_pass(m, &s, now, &written);
		} else {
			struct unit u = { 0 };
			replan(m, ds, false, &u);
			s_new(&s);
			written += emit(m, s.b, &u, now);
			u_free(&u);
		}
		if (r >= 0) {
			if (!s.b)
				s_new(&s);
			if (emit_stale(m, s.b, now))
				st->resync_in = STALE_DELAY + 0.1;
			r = s_send(&s);
		} else {
			sy_nft_batch_free(s.b);
			s.b = NULL;
		}
		drop_parked(m);
		if (r >= 0) {
			m->need_full = false;
			break;
		}
		m->need_full = true;
		full = true;
		if (!s.bad) {
			/* the runner logs it */
			snprintf(st->err, sizeof(st->err), "%s: %.200s", m->fam_table, s.e.what);
			break;
		}
		/* one Service port refused by the kernel: skip it, program the rest */
		struct nftp_port *pp = hmap_get(&m->ports, s.bad);
		sy_report(&m->rep, 'E', "Service port %s skipped: the kernel refused %s (%s)", s.bad,
			  s.e.what, m->fam_table);
		if (pp && !pp->error) {
			d_port_del(m, pp);
			pp->error = xstrdup(s.e.what);
		}
	}
	free(s.bad);
	free(s.tags);
	slot_gc(m);
	/*
	 * The batch pages lib/nft.c keeps: a full sync's leave them to the
	 * next instance's (in dual stack the IPv6 one follows); a sync that
	 * wrote one batch or none (a change, a resync without drift) keeps
	 * one page for the next.
	 */
	if (!full || st->writes <= 1)
		sy_nft_pool_trim(1);

	m->n_rules = m->d_rules;
	st->rules_total = m->d_rules + m->elems.n_d + hmap_count(&m->dchains) +
			  hmap_count(&m->dsets);
	st->table_rules[m->family == AF_INET6 ? 1 : 0] = st->rules_total;
	st->rules_written = written;
	log_v(3, "nftables %s: %s sync in %.3f ms (cpu %.3f ms), %llu batch(es), %.3f ms in the "
	      "kernel (cpu %.3f ms), %u rules written, %ld page faults", m->fam_table,
	      full ? "full" : "partial", (sy_now_mono() - now) * 1e3, (thread_cpu() - cpu0) * 1e3,
	      (unsigned long long)st->writes, st->kernel_write_seconds * 1e3,
	      st->kernel_write_cpu_seconds * 1e3, written, thread_faults() - flt0);
	return r;
}

/* ---- init / cleanup ---- */

/* Every expression the mode uses, in a throw-away table within one transaction. */
static int probe(struct sy_nft *nl, int family, char *err, size_t errlen)
{
	static const struct sy_nft_hook h = { "nat", 0, -100 }, hf = { "filter", 1, -110 };
	static const struct sy_nft_set sets[] = {
		{ "m", SY_NFT_K_DPP, true, 0, false, false }, { "p", SY_NFT_K_PP, true, 0, false, false },
		{ "a", SY_NFT_K_ADDR, false, 10, false, false },
		{ "e", SY_NFT_K_NG, false, 0, true, true }, { "h", SY_NFT_K_AA, false, 0, false, false },
		{ "r", SY_NFT_K_DPPV, false, 0, true, true },
	};
	struct sy_nft_batch *b = sy_nft_batch_new(family, "switchyard-probe");
	struct sy_nft_error e;
	struct sy_nft_rule r;
	struct sy_addr ep;		/* an address of the family */
	int ret;

	if (family == AF_INET6)
		sy_addr_parse("fd00::1", &ep);
	else
		ep = sy_addr4_host(0x0a000001);

	sy_nft_table_add(b);
	sy_nft_chain_add(b, "n", &h);
	sy_nft_chain_add(b, "f", &hf);
	sy_nft_chain_add(b, "c", NULL);
	for (unsigned i = 0; i < ARRAY_SIZE(sets); i++)
		sy_nft_set_add(b, &sets[i]);
	memset(&r, 0, sizeof(r));
	r.m = SY_NFT_M_CT_NEW | SY_NFT_M_SADDR | SY_NFT_M_FIB_DLOCAL | SY_NFT_M_FIB_SLOCAL |
	      SY_NFT_M_DADDR_NOT_LO | SY_NFT_M_MARK_UNSET | SY_NFT_M_NUMGEN | SY_NFT_M_SADDR_SET;
	r.saddr = ep;
	r.splen = 8;
	r.mark_bit = 0x4000;
	r.numgen_mod = 2;
	r.mset = "a";
	r.act = SY_NFT_A_VMAP_DPP;
	r.set = "m";
	sy_nft_rule_add(b, "f", &r);
	r.act = SY_NFT_A_VMAP_PP;
	r.set = "p";
	sy_nft_rule_add(b, "f", &r);
	memset(&r, 0, sizeof(r));
	r.act = SY_NFT_A_REJECT;
	sy_nft_rule_add(b, "f", &r);
	r.act = SY_NFT_A_MARK_OR;
	r.mark_bit = 0x4000;
	sy_nft_rule_add(b, "n", &r);
	r.act = SY_NFT_A_MARK_XOR;
	sy_nft_rule_add(b, "n", &r);
	r.act = SY_NFT_A_UPDATE_SADDR;
	r.set = "a";
	sy_nft_rule_add(b, "n", &r);
	r.act = SY_NFT_A_MASQ;
	sy_nft_rule_add(b, "n", &r);
	memset(&r, 0, sizeof(r));
	r.m = SY_NFT_M_CT_DNAT | SY_NFT_M_SD_SET;
	r.mset = "h";
	r.act = SY_NFT_A_RETURN;
	sy_nft_rule_add(b, "n", &r);
	memset(&r, 0, sizeof(r));
	r.m = SY_NFT_M_L4PROTO;
	r.l4proto = IPPROTO_TCP;
	r.act = SY_NFT_A_DNAT_MAP;
	r.numgen_mod = NFTP_SPAN;
	r.numgen_off = NFTP_SPAN;
	r.set = "e";
	sy_nft_rule_add(b, "n", &r);
	{
		/* two adjacent ranges: start, end = start, end (nftables_plan.h) */
		static const uint8_t k0[4] = { 0, 0x10, 0, 0 }, k1[4] = { 0, 0x18, 0, 0 },
			k2[4] = { 0, 0x20, 0, 0 };
		uint8_t k[SY_NFT_KEY_MAX], d[SY_NFT_AP_LEN];
		unsigned kl, dl = sy_nft_ap_make(d, &ep, 80);
		sy_nft_elem_iv(b, true, "e", k0, 4, false, d, dl);
		sy_nft_elem_iv(b, true, "e", k1, 4, true, NULL, 0);
		sy_nft_elem_iv(b, true, "e", k1, 4, false, d, dl);
		sy_nft_elem_iv(b, true, "e", k2, 4, true, NULL, 0);
		kl = sy_nft_key_make(k, SY_NFT_K_AA, &ep, 0, 0);
		sy_nft_elem(b, true, "h", k, kl, SY_NFT_EV_NONE, NULL);
		/* the shared chains' rules and ranges (a prefix . value key) */
		r.act = SY_NFT_A_DNAT_RANGES;
		r.numgen_off = 0;
		r.set = "r";
		sy_nft_rule_add(b, "n", &r);
		/* with the guards of lb-group-G (ip daddr & 0.0.0.15 == …, th dport & 15 == …) */
		r.m = SY_NFT_M_DADDR_LOW;
		r.low = 15;
		r.rkey = SY_NFT_RK_DPORT_PROTO;
		sy_nft_rule_add(b, "n", &r);
		r.m = SY_NFT_M_DPORT_LOW;
		r.low = 1;
		r.rkey = SY_NFT_RK_NODEPORT;
		sy_nft_rule_add(b, "n", &r);
		r.low = 0;
		kl = sy_nft_key_make(k, SY_NFT_K_DPPV, &ep, IPPROTO_TCP, 80);
		sy_nft_elem_iv(b, true, "r", k, kl, false, d, dl);
		k[kl - 2] = 0x10;
		sy_nft_elem_iv(b, true, "r", k, kl, true, NULL, 0);
	}
	r.m = SY_NFT_M_L4PROTO;
	r.l4proto = IPPROTO_TCP;
	r.act = SY_NFT_A_DNAT;
	r.to_addr = ep;
	r.to_port = 80;
	sy_nft_rule_add(b, "n", &r);
	{
		uint8_t k[SY_NFT_KEY_MAX];
		unsigned kl = sy_nft_key_make(k, SY_NFT_K_DPP, &r.to_addr, IPPROTO_TCP, 80);
		sy_nft_elem(b, true, "m", k, kl, SY_NFT_EV_GOTO, "c");
	}
	sy_nft_table_del(b);
	ret = sy_nft_send(nl, b, &e, NULL);
	sy_nft_batch_free(b);
	if (ret < 0)
		snprintf(err, errlen, "the kernel's nf_tables lacks a feature the nftables mode needs "
			 "(%s)", e.what);
	return ret;
}

static int nft_mode_init(struct proxy_mode **ret, const struct sy_config *cfg, int family,
			 const struct sy_report *rep, char *err, size_t errlen)
{
	struct proxy_mode *m;
	struct sy_nft *nl;
	int r;

	if (family != AF_INET && family != AF_INET6) {
		snprintf(err, errlen, "the nftables mode programs IPv4 and IPv6 only (not family %d)",
			 family);
		return -EAFNOSUPPORT;
	}
	r = sy_nft_open(&nl);
	if (r < 0) {
		snprintf(err, errlen, "cannot open a nf_tables netlink socket: %s", strerror(-r));
		return r;
	}
	r = probe(nl, family, err, errlen);
	if (r < 0) {
		sy_nft_close(nl);
		return -ENOTSUP;
	}
	m = xcalloc(1, sizeof(*m));
	m->cfg = cfg;
	if (rep)
		m->rep = *rep;
	m->family = family;
	m->table = NFTP_TABLE;
	m->fam_table = family == AF_INET6 ? "ip6 " NFTP_TABLE : "ip " NFTP_TABLE;
	m->nl = nl;
	hmap_init(&m->ports);
	hmap_init(&m->dchains);
	hmap_init(&m->dsets);
	hmap_init(&m->kchains);
	hmap_init(&m->ksets);
	hmap_init(&m->stale);
	hmap_init(&m->claims);
	hmap_init(&m->slots);
	m->used = xcalloc(NFTP_NSLOTS / 8, 1);
	m->alloc.base = slot_base;
	m->alloc.arg = m;
	m->need_full = true;
	if (cfg && cfg->n_nodeport_cidrs) {
		for (unsigned i = 0; i < cfg->n_nodeport_cidrs; i++) {
			const struct sy_cidr *c = &cfg->nodeport_cidrs[i];
			if (c->addr.family != family || !sy_addr_is_loopback(&c->addr))
				continue;
			sy_report(rep, 'W', "nftables mode: NodePorts on %s are not supported (as in "
				  "kube-proxy's nftables mode); --nodeport-addresses %s/%u ignored for "
				  "loopback", family == AF_INET6 ? "::1" : "127.0.0.0/8",
				  sy_addr_str(&c->addr), c->plen);
		}
	}
	*ret = m;
	return 0;
}

static int nft_mode_cleanup(const struct sy_config *cfg, const struct sy_report *rep)
{
	struct sy_nft *nl;
	struct sy_nft_batch *b;
	struct sy_nft_error e;
	int r;

	r = sy_nft_open(&nl);
	if (r < 0) {
		if (sy_nft_unavailable(r))
			return 0;	/* no nfnetlink: nothing of ours can exist */
		sy_report(rep, 'E', "nftables cleanup: netlink socket: %s", strerror(-r));
		return r;
	}
	/* both families' tables, ip switchyard and ip6 switchyard; go on past a failure */
	static const int fams[] = { AF_INET, AF_INET6 };
	int first = 0;
	for (unsigned i = 0; i < ARRAY_SIZE(fams); i++) {
		const char *fn = fams[i] == AF_INET6 ? "ip6" : "ip";
		r = sy_nft_table_exists(nl, fams[i], NFTP_TABLE);
		if (sy_nft_unavailable(r)) {
			/* a kernel without nf_tables: nothing of ours can exist */
			log_v(2, "nftables cleanup: nf_tables is not available (%s)", strerror(-r));
			r = 0;
		} else if (r > 0) {
			b = sy_nft_batch_new(fams[i], NFTP_TABLE);
			sy_nft_table_del(b);
			r = sy_nft_send(nl, b, &e, NULL);
			sy_nft_batch_free(b);
			if (r < 0)
				sy_report(rep, 'E', "nftables cleanup: %s %s: %s", fn, NFTP_TABLE, e.what);
		} else if (r < 0) {
			sy_report(rep, 'E', "nftables cleanup: reading the %s tables: %s", fn,
				  strerror(-r));
		}
		if (r < 0 && !first)
			first = r;
	}
	sy_nft_close(nl);
	return first;
}

static void nft_mode_free(struct proxy_mode *m)
{
	struct hmap_iter it;
	void *v;

	if (!m)
		return;
	d_clear(m);
	k_clear(m);
	ei_free(&m->elems);
	nftp_scratch_free();
	hmap_iter_init(&it, &m->ports);
	while (hmap_iter_next(&it, NULL, &v))
		nftp_port_free(v);
	hmap_clear(&m->ports);
	if (m->have_opts)
		nftp_globals_free(&m->g);
	slot_gc(m);
	hmap_iter_init(&it, &m->slots);
	while (hmap_iter_next(&it, NULL, &v)) {
		free(((struct slot *)v)->name);
		free(v);
	}
	hmap_clear(&m->slots);
	free(m->zero);
	free(m->used);
	free(m->orphans);
	free(m->parked);
	free(m->promoted);
	sy_nft_close(m->nl);
	free(m);
}

/* index 0: the AF_INET instance's table, 1: the AF_INET6 one's (nft_mode_sync) */
static const char *const nft_rule_tables[] = { "ip " NFTP_TABLE, "ip6 " NFTP_TABLE, NULL };

const struct proxy_mode_ops nftables_mode_ops = {
	PROXY_MODE_OPS("nftables", nft_mode),
	.rule_tables = nft_rule_tables,
	.metric_families = MODE_METRICS_NFTABLES,
	.nodeport_primary_default = true,
	.service_cidrs = true,
};
