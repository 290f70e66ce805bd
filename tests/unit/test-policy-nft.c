// SPDX-License-Identifier: Apache-2.0
/*
 * The NetworkPolicy writer's pure parts (policy/policy_nft.c is included:
 * its helpers are static): the byte sets (grow, delete, reinsert through
 * tombstones), a rule's port list as disjoint ranges per protocol (an
 * interval set refuses overlaps), which element kinds a rule gets, the
 * element keys (id first, network order; IPv4 and IPv6), the set shards,
 * an element packed in its kind's width.
 */
#include "../../policy/policy_nft.c"
#include "helpers.h"

static void test_bset(void **state)
{
	struct bset s;
	uint32_t k;

	(void)state;
	bset_init(&s, 4);
	for (k = 0; k < 10000; k++)
		bset_put(&s, &k);
	assert_int_equal(s.n, 10000);
	for (k = 0; k < 10000; k += 2)
		bset_del(&s, (size_t)bset_find(&s, &k));
	assert_int_equal(s.n, 5000);
	for (k = 0; k < 10000; k++)
		assert_true((bset_find(&s, &k) >= 0) == (k % 2 == 1));
	/* deleted slots are reused, and a put of a present key adds nothing */
	for (k = 0; k < 10000; k += 2)
		bset_put(&s, &k);
	k = 7;
	bset_put(&s, &k);
	assert_int_equal(s.n, 10000);
	for (k = 0; k < 20000; k++)
		assert_true((bset_find(&s, &k) >= 0) == (k < 10000));
	bset_free(&s);
}

static void test_merge_ports(void **state)
{
	struct np_port ports[] = {
		{ IPPROTO_TCP, 80, 0, NULL },
		{ IPPROTO_TCP, 79, 81, NULL },		/* overlaps 80 */
		{ IPPROTO_TCP, 82, 90, NULL },		/* adjacent: merged */
		{ IPPROTO_UDP, 80, 0, NULL },		/* another protocol: apart */
		{ IPPROTO_TCP, 0, 0, "http" },		/* named: not a numeric range */
		{ IPPROTO_SCTP, 0, 0, NULL },		/* every port of SCTP */
		{ IPPROTO_TCP, 100, 0, NULL },
	};
	struct np_rule r = { .ports = ports, .n_ports = 7, .has_named_ports = true };
	struct pr out[8];
	unsigned n;

	(void)state;
	n = merge_ports(&r, out);
	assert_int_equal(n, 4);
	assert_int_equal(out[0].proto, IPPROTO_TCP);
	assert_int_equal(out[0].lo, 79);
	assert_int_equal(out[0].hi, 90);
	assert_int_equal(out[1].proto, IPPROTO_TCP);
	assert_int_equal(out[1].lo, 100);
	assert_int_equal(out[1].hi, 100);
	assert_int_equal(out[2].proto, IPPROTO_UDP);
	assert_int_equal(out[2].lo, 80);
	assert_int_equal(out[3].proto, IPPROTO_SCTP);
	assert_int_equal(out[3].lo, 0);
	assert_int_equal(out[3].hi, 65535);
}

static void test_rule_flags(void **state)
{
	struct np_port num = { IPPROTO_TCP, 80, 0, NULL }, named = { IPPROTO_TCP, 0, 0, "http" };
	struct np_rule r;

	(void)state;
	/* from: [] ports: []: nothing to look up */
	memset(&r, 0, sizeof(r));
	r.all_peers = r.all_ports = true;
	assert_int_equal(rule_flags(&r, NP_INGRESS, 0, 0), 0);
	/* selector peers, a numeric port */
	memset(&r, 0, sizeof(r));
	r.has_selector_peers = true;
	r.ports = &num;
	r.n_ports = 1;
	assert_int_equal(rule_flags(&r, NP_INGRESS, 0, 0), RF_S | RF_P);
	/* + ipBlocks: the ranges with the ports */
	assert_int_equal(rule_flags(&r, NP_INGRESS, 2, 0), RF_S | RF_P | RF_CP);
	/* ipBlocks only, a named port: ingress needs the ranges alone, egress not */
	memset(&r, 0, sizeof(r));
	r.ports = &named;
	r.n_ports = 1;
	r.has_named_ports = true;
	assert_int_equal(rule_flags(&r, NP_INGRESS, 1, 0), RF_C | RF_N);
	assert_int_equal(rule_flags(&r, NP_EGRESS, 1, 0), RF_N);
	/* ipBlocks, all ports */
	memset(&r, 0, sizeof(r));
	r.all_ports = true;
	assert_int_equal(rule_flags(&r, NP_EGRESS, 3, 0), RF_C);
	/* excepts: looked up in except4/6 when the rule has ranges */
	assert_int_equal(rule_flags(&r, NP_EGRESS, 3, 1), RF_C | RF_X);
	r.all_ports = false;
	r.ports = &named;
	r.n_ports = 1;
	r.has_named_ports = true;
	assert_int_equal(rule_flags(&r, NP_EGRESS, 1, 1), RF_N);
}

static void test_keys(void **state)
{
	struct kel e, u;
	struct np_range rg;
	uint32_t ip = htonl(0x0af40001), be;
	struct sy_addr a6;
	uint8_t buf[2 * KMAX];

	(void)state;
	kel_ip(&e, 0x01020304, 0, &ip);
	assert_int_equal(e.klen, 8);
	memcpy(&be, e.key, 4);
	assert_int_equal(ntohl(be), 0x01020304);
	assert_int_equal(kel_id(&e, G_PEERS), 0x01020304);
	assert_memory_equal(e.key + 4, &ip, 4);
	assert_int_equal(sidx(G_PEERS, 0x01020304), G_PEERS * NSHARD + 0x01020304 % NSHARD);
	assert_int_equal(sidx(G_ISO_IN, 0x01020304), G_ISO_IN * NSHARD);
	kel_named(&e, 7, 0, &ip, IPPROTO_UDP, 53);
	assert_int_equal(e.klen, 16);
	assert_int_equal(e.key[8], IPPROTO_UDP);
	assert_int_equal(e.key[12], 0);
	assert_int_equal(e.key[13], 53);
	memset(&rg, 0, sizeof(rg));
	rg.lo = sy_addr4_host(0x0a000000);
	rg.hi = sy_addr4_host(0x0a3fffff);
	kel_cidr_ports(&e, 9, &rg, IPPROTO_TCP, 8000, 8100);
	assert_int_equal(e.klen, 16);
	assert_true(e.has_end);
	assert_int_equal(e.end[4], 0x0a);
	assert_int_equal(e.end[5], 0x3f);
	assert_int_equal((e.end[12] << 8) | e.end[13], 8100);
	assert_int_equal((e.key[12] << 8) | e.key[13], 8000);

	/* IPv6: 16-byte address fields, the kinds' IPv6 twins, their own shards */
	assert_int_equal(sy_addr_parse("fd00:244:1::a", &a6), 0);
	kel_ip(&e, 0x01020304, 1, a6.b);
	assert_int_equal(e.klen, 20);
	assert_memory_equal(e.key + 4, a6.b, 16);
	assert_int_equal(gset_klen(gfam(G_PEERS, 1)), 20);
	assert_string_equal(GSETS[gfam(G_PEERS, 1)].name, "peers6");
	assert_string_equal(GSETS[gfam(G_ISO_EG, 1)].name, "iso-eg6");
	assert_int_equal(GSETS[gfam(G_CIDRPORTS, 1)].fields[1], SY_NFT_F_IP6_SADDR);
	assert_false(gset_sharded(gfam(G_ISO_IN, 1)));
	assert_true(gset_sharded(gfam(G_NS_IN, 1)));
	kel_named(&e, 7, 1, a6.b, IPPROTO_SCTP, 81);
	assert_int_equal(e.klen, 28);
	assert_int_equal(e.key[20], IPPROTO_SCTP);
	assert_int_equal((e.key[24] << 8) | e.key[25], 81);
	kel_ip_only(&e, 1, a6.b);
	assert_int_equal(e.klen, 16);
	memset(&rg, 0, sizeof(rg));
	assert_int_equal(sy_addr_parse("fd00:244::", &rg.lo), 0);
	assert_int_equal(sy_addr_parse("fd00:244::ffff", &rg.hi), 0);
	kel_cidr_ports(&e, 9, &rg, IPPROTO_UDP, 53, 53);
	assert_int_equal(e.klen, 28);
	assert_int_equal(e.end[18], 0xff);
	assert_int_equal(e.end[19], 0xff);
	assert_int_equal(e.key[20], IPPROTO_UDP);
	/* packed in a byte set of its kind: key then end, nothing else */
	assert_int_equal(kel_width(gfam(G_CIDRPORTS, 1)), 56);
	assert_int_equal(kel_width(G_PEERS), 8);
	kel_pack(gfam(G_CIDRPORTS, 1), &e, buf);
	kel_unpack(gfam(G_CIDRPORTS, 1), buf, &u);
	assert_memory_equal(&u, &e, sizeof(e));
	/* an except range: id . [lo, hi], nothing after the address */
	kel_except(&e, 9, &rg);
	assert_int_equal(e.klen, 20);
	assert_true(e.has_end);
	assert_memory_equal(e.key + 4, rg.lo.b, 16);
	assert_memory_equal(e.end + 4, rg.hi.b, 16);
	assert_int_equal(kel_width(gfam(G_EXCEPT, 1)), 40);
	assert_string_equal(GSETS[gfam(G_EXCEPT, 1)].name, "except6");
	assert_true(GSETS[G_EXCEPT].interval);
	kel_ip(&e, 5, 0, &ip);
	kel_pack(G_TARGETS, &e, buf);
	kel_unpack(G_TARGETS, buf, &u);
	assert_memory_equal(&u, &e, sizeof(e));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bset),
		cmocka_unit_test(test_merge_ports),
		cmocka_unit_test(test_rule_flags),
		cmocka_unit_test(test_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
