// SPDX-License-Identifier: Apache-2.0
/*
 * lib/nft.c's batches without a kernel (the file is included: its pages
 * and pool are static): messages cut into pages whole and in order, the
 * one that crosses a page's end moved intact, the byte count, the pages
 * reused from the pool (zeroed: a batch built on used pages is the same
 * bytes as one built on fresh ones), the pool's bound and trim.
 */
#include "../../lib/nft.c"
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#define N_ELEMS 6000
#define KLEN 28			/* an IPv6 range key: address . proto . port . end */

static void key_of(uint8_t *k, unsigned i)
{
	memset(k, 0, KLEN);
	k[0] = (uint8_t)(i >> 24);
	k[1] = (uint8_t)(i >> 16);
	k[2] = (uint8_t)(i >> 8);
	k[3] = (uint8_t)i;
	k[KLEN - 1] = (uint8_t)(i * 7);
}

/* A batch of a set and N_ELEMS range starts with data, N_ELEMS / 2 verdict elements, a rule. */
static struct sy_nft_batch *build(void)
{
	static const struct sy_nft_set s = { "ranges", SY_NFT_K_DPP, false, 0, true, true };
	static const struct sy_nft_set v = { "vmap", SY_NFT_K_DPP, true, 0, false, false };
	struct sy_nft_batch *b = sy_nft_batch_new(AF_INET6, "switchyard");
	uint8_t k[KLEN], d[20] = { 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x1f, 0x90 };

	sy_nft_table_add(b);
	sy_nft_set_add(b, &s);
	sy_nft_set_add(b, &v);
	sy_nft_chain_add(b, "a-chain-with-a-long-name-to-make-the-messages-longer", NULL);
	for (unsigned i = 0; i < N_ELEMS; i++) {
		key_of(k, i);
		sy_nft_elem_iv(b, true, "ranges", k, KLEN, false, d, 18);
		if (i % 2 == 0)
			sy_nft_elem(b, true, "vmap", k, 24, SY_NFT_EV_GOTO,
				    "a-chain-with-a-long-name-to-make-the-messages-longer");
	}
	batch_finish(b);
	return b;
}

struct walk {
	uint32_t seq;
	unsigned msgs, ranges, vmap;
	uint16_t last;			/* the last message's type */
};

/* An element message's set and each element's key and verdict chain (libnftnl's own
 * parser wants every element typed NFTA_LIST_ELEM; its builder numbers them 1, 2, ...,
 * which the kernel takes). */
static void elems(const struct nlmsghdr *nlh, struct walk *w)
{
	const struct nlattr *a, *el, *f, *v, *vv;
	const char *set = NULL;

	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(a) == NFTA_SET_ELEM_LIST_SET)
			set = mnl_attr_get_str(a);
		if (mnl_attr_get_type(a) != NFTA_SET_ELEM_LIST_ELEMENTS)
			continue;
		assert_non_null(set);
		mnl_attr_for_each_nested(el, a) {
			const uint8_t *key = NULL;
			unsigned klen = 0;
			const char *chain = NULL;
			mnl_attr_for_each_nested(f, el) {
				if (mnl_attr_get_type(f) == NFTA_SET_ELEM_KEY)
					mnl_attr_for_each_nested(v, f) {
						key = mnl_attr_get_payload(v);
						klen = mnl_attr_get_payload_len(v);
					}
				if (mnl_attr_get_type(f) == NFTA_SET_ELEM_DATA)
					mnl_attr_for_each_nested(v, f)
						if (mnl_attr_get_type(v) == NFTA_DATA_VERDICT)
							mnl_attr_for_each_nested(vv, v)
								if (mnl_attr_get_type(vv) == NFTA_VERDICT_CHAIN)
									chain = mnl_attr_get_str(vv);
			}
			assert_non_null(key);
			if (!strcmp(set, "ranges")) {
				uint8_t want[KLEN];
				assert_int_equal(klen, KLEN);
				key_of(want, w->ranges);
				assert_memory_equal(key, want, KLEN);
				w->ranges++;
			} else {
				uint8_t want[KLEN];
				assert_int_equal(klen, 24);
				key_of(want, 2 * w->vmap);
				assert_memory_equal(key, want, 24);
				assert_string_equal(chain, "a-chain-with-a-long-name-to-make-the-messages-longer");
				w->vmap++;
			}
		}
	}
}

/* Every page: whole messages, in sequence, their elements in order. */
static void walk(struct sy_nft_batch *b, struct walk *w)
{
	size_t total = 0;

	memset(w, 0, sizeof(*w));
	w->seq = b->seq0;
	for (unsigned i = 0; i < b->n_pages; i++) {
		const struct nlmsghdr *nlh = b->iov[i].iov_base;
		int rem = (int)b->iov[i].iov_len;

		assert_true(b->iov[i].iov_len <= BATCH_PAGE);
		total += b->iov[i].iov_len;
		while (mnl_nlmsg_ok(nlh, rem)) {
			uint16_t type = nlh->nlmsg_type;
			assert_int_equal(nlh->nlmsg_seq, w->seq);
			w->seq++;
			if (w->msgs == 0)
				assert_int_equal(type, NFNL_MSG_BATCH_BEGIN);
			if (type == (NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWSETELEM))
				elems(nlh, w);
			w->msgs++;
			w->last = type;
			nlh = mnl_nlmsg_next(nlh, &rem);
		}
		assert_int_equal(rem, 0);	/* no message cut at a page's end */
	}
	assert_int_equal(total, sy_nft_batch_bytes(b));
	assert_int_equal(w->last, NFNL_MSG_BATCH_END);
}

static void test_pages(void **state)
{
	struct sy_nft_batch *b;
	struct walk w;

	(void)state;
	sy_nft_pool_trim(0);
	b = build();
	assert_true(b->n_pages >= 3);	/* messages did cross page ends */
	walk(b, &w);
	assert_int_equal(w.ranges, N_ELEMS);
	assert_int_equal(w.vmap, N_ELEMS / 2);
	/* the count leaves out the batch's begin and end */
	assert_int_equal(w.msgs, sy_nft_batch_count(b) + 2);
	sy_nft_batch_free(b);
	sy_nft_pool_trim(0);
}

/* A batch built on used pages is byte for byte the one built on fresh pages. */
static void test_reuse(void **state)
{
	struct sy_nft_batch *a, *b;
	char *fresh[POOL_MAX];
	unsigned n;

	(void)state;
	sy_nft_pool_trim(0);
	a = build();
	n = a->n_pages;
	assert_true(n >= 3 && n <= POOL_MAX);
	for (unsigned i = 0; i < n; i++)
		fresh[i] = a->iov[i].iov_base;
	/* keep a's bytes; give its pages back dirty */
	char **copy = xcalloc(n, sizeof(*copy));
	size_t *lens = xcalloc(n, sizeof(*lens));
	for (unsigned i = 0; i < n; i++) {
		copy[i] = xmalloc(a->iov[i].iov_len);
		memcpy(copy[i], a->iov[i].iov_base, a->iov[i].iov_len);
		lens[i] = a->iov[i].iov_len;
		memset(a->iov[i].iov_base, 0xa5, PAGE_ALLOC);
	}
	next_seq = a->seq0;		/* the same sequence numbers again */
	sy_nft_batch_free(a);
	assert_int_equal(sy_nft_pool_count(), n);

	b = build();
	assert_int_equal(b->n_pages, n);
	for (unsigned i = 0; i < n; i++) {
		bool reused = false;
		for (unsigned j = 0; j < n; j++)
			reused |= b->iov[i].iov_base == fresh[j];
		assert_true(reused);
		assert_int_equal(b->iov[i].iov_len, lens[i]);
		assert_memory_equal(b->iov[i].iov_base, copy[i], lens[i]);
		free(copy[i]);
	}
	assert_int_equal(sy_nft_pool_count(), 0);
	free(copy);
	free(lens);
	sy_nft_batch_free(b);
	sy_nft_pool_trim(0);
}

/* The pool keeps at most POOL_MAX pages; trim gives them back. */
static void test_pool_bound(void **state)
{
	struct sy_nft_batch *b[POOL_MAX + 3];

	(void)state;
	sy_nft_pool_trim(0);
	for (unsigned i = 0; i < POOL_MAX + 3; i++)
		b[i] = sy_nft_batch_new(AF_INET, "t");
	assert_int_equal(sy_nft_pool_count(), 0);
	for (unsigned i = 0; i < POOL_MAX + 3; i++)
		sy_nft_batch_free(b[i]);
	assert_int_equal(sy_nft_pool_count(), POOL_MAX);
	sy_nft_pool_trim(1);
	assert_int_equal(sy_nft_pool_count(), 1);
	sy_nft_pool_trim(0);
	assert_int_equal(sy_nft_pool_count(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pages),
		cmocka_unit_test(test_reuse),
		cmocka_unit_test(test_pool_bound),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
