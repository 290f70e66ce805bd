// SPDX-License-Identifier: Apache-2.0
/*
 * The nftables mode's element index (modes/nftables.c is included: the
 * index is static): entries found by set and key after growing through
 * every doubling (the rehash places keys without comparing them), keys of
 * every length the mode uses, deletes (backward shift), ei_filter's
 * rehash in place, entries freed and their slab space reused.
 */
#include "../../modes/nftables.c"
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#define N 200000

static const unsigned lens[] = { 4, 8, 12, 16, 24, 28, 32, 40 };

/* Entry i: its set, key length and key (distinct for distinct i). */
static unsigned key_of(unsigned i, unsigned *set, uint8_t *k)
{
	unsigned klen = lens[i % 8];

	*set = i % 300;
	for (unsigned j = 0; j < klen; j++)
		k[j] = (uint8_t)(i * 2654435761u >> (j % 4 * 8)) ^ (uint8_t)j;
	/* i itself in the first four bytes (distinct keys) */
	k[0] = (uint8_t)(i >> 24);
	k[1] = (uint8_t)(i >> 16);
	k[2] = (uint8_t)(i >> 8);
	k[3] = (uint8_t)i;
	return klen;
}

static struct eent *get(struct eidx *x, unsigned i)
{
	uint8_t k[40];
	unsigned set, klen = key_of(i, &set, k);
	struct eent *e = ei_get(x, set, k, klen);

	if (e) {
		assert_int_equal(e->set, set);
		assert_int_equal(e->klen, klen);
		assert_memory_equal(e->key, k, klen);
		assert_int_equal(e->vfp, i);
	}
	return e;
}

static bool keep_even(struct eent *e)
{
	if (e->vfp % 2) {
		e->refs = 0;
		return false;
	}
	return true;
}

static void test_index(void **state)
{
	struct eidx x = { 0 };
	uint8_t k[40];
	unsigned set, klen;

	(void)state;
	for (unsigned i = 0; i < N; i++) {
		klen = key_of(i, &set, k);
		struct eent *e = ei_put(&x, set, k, klen);
		assert_int_equal(e->refs, 0);
		e->refs = 1;
		e->vfp = i;
		/* the same key again: the same entry */
		assert_ptr_equal(ei_put(&x, set, k, klen), e);
	}
	assert_int_equal(x.n, N);
	assert_true(x.cap >= N * 4 / 3 && x.cap <= N * 8 / 3);
	for (unsigned i = 0; i < N + 1000; i++)
		assert_true((get(&x, i) != NULL) == (i < N));
	/* another set, another length: not the entry */
	klen = key_of(7, &set, k);
	assert_null(ei_get(&x, set + 1, k, klen));
	assert_null(ei_get(&x, set, k, klen - 4));

	/* every third deleted (backward shift keeps the others reachable) */
	for (unsigned i = 0; i < N; i += 3)
		ei_del(&x, get(&x, i));
	for (unsigned i = 0; i < N; i++)
		assert_true((get(&x, i) != NULL) == (i % 3 != 0));
	assert_int_equal(x.n, N - (N + 2) / 3);

	/* the odd ones forgotten: the table rebuilt in place */
	ei_filter(&x, keep_even);
	for (unsigned i = 0; i < N; i++)
		assert_true((get(&x, i) != NULL) == (i % 3 != 0 && i % 2 == 0));

	/* put back: the freed space serves them (no new slab chunk) */
	unsigned chunks = x.slab.n_chunks;
	for (unsigned i = 0; i < N; i++) {
		if (i % 3 != 0 && i % 2 == 0)
			continue;
		klen = key_of(i, &set, k);
		struct eent *e = ei_put(&x, set, k, klen);
		assert_int_equal(e->refs, 0);
		e->refs = 1;
		e->vfp = i;
	}
	assert_int_equal(x.slab.n_chunks, chunks);
	assert_int_equal(x.n, N);
	for (unsigned i = 0; i < N; i++)
		assert_non_null(get(&x, i));
	ei_free(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_index),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
