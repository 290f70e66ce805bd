// SPDX-License-Identifier: Apache-2.0
/* lib/addr.c: one address type for IPv4 and IPv6. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "helpers.h"
#include "switchyard/addr.h"

static struct sy_addr A(const char *s)
{
	struct sy_addr a;

	assert_int_equal(sy_addr_parse(s, &a), 0);
	return a;
}

static void expect_addr(const char *in, int family, const char *out)
{
	struct sy_addr a;
	char buf[SY_ADDR_STRLEN];

	assert_int_equal(sy_addr_parse(in, &a), 0);
	assert_int_equal(a.family, family);
	assert_string_equal(sy_addr_format(&a, buf, sizeof(buf)), out);
	assert_string_equal(sy_addr_str(&a), out);
	for (unsigned i = 0; i < sizeof(a.reserved); i++)
		assert_int_equal(a.reserved[i], 0);
	for (unsigned i = sy_addr_len(&a); i < sizeof(a.b); i++)
		assert_int_equal(a.b[i], 0);
}

static void expect_bad(const char *in)
{
	struct sy_addr a = sy_addr4_host(0x01020304), before = a;

	assert_int_equal(sy_addr_parse(in, &a), -EINVAL);
	assert_true(sy_addr_eq(&a, &before));	/* untouched on failure */
}

static void test_parse_format(void **state)
{
	(void)state;
	expect_addr("10.0.0.1", AF_INET, "10.0.0.1");
	expect_addr("0.0.0.0", AF_INET, "0.0.0.0");
	expect_addr("255.255.255.255", AF_INET, "255.255.255.255");
	/* IPv6 text forms: RFC 5952 output (lower case, longest zero run) */
	expect_addr("fd00::1", AF_INET6, "fd00::1");
	expect_addr("FD00:0:0:0:0:0:0:1", AF_INET6, "fd00::1");
	expect_addr("fd00:0000:0000:0000:0000:0000:0000:0001", AF_INET6, "fd00::1");
	expect_addr("::", AF_INET6, "::");
	expect_addr("::1", AF_INET6, "::1");
	expect_addr("2001:db8:0:0:1:0:0:1", AF_INET6, "2001:db8::1:0:0:1");
	expect_addr("2001:db8::0:1", AF_INET6, "2001:db8::1");
	expect_addr("64:ff9b::10.0.0.1", AF_INET6, "64:ff9b::a00:1");
	/* IPv4-mapped IPv6 stays IPv6 (documented in addr.h) */
	expect_addr("::ffff:10.0.0.1", AF_INET6, "::ffff:10.0.0.1");
	assert_true(sy_addr_is_v4mapped((struct sy_addr[]){ A("::ffff:10.0.0.1") }));
	assert_false(sy_addr_is_v4mapped((struct sy_addr[]){ A("10.0.0.1") }));
	assert_false(sy_addr_is_v4mapped((struct sy_addr[]){ A("fd00::1") }));

	expect_bad(NULL);
	expect_bad("");
	expect_bad("10.1");
	expect_bad("10.0.0.256");
	expect_bad("010.0.0.1");
	expect_bad("0x0a.0.0.1");
	expect_bad(" 10.0.0.1");
	expect_bad("10.0.0.1 ");
	expect_bad("10.0.0.1/32");
	expect_bad("fe80::1%eth0");	/* zone-less */
	expect_bad("[fd00::1]");	/* no brackets */
	expect_bad("fd00::1::2");
	expect_bad("fd00:::1");
	expect_bad("1:2:3:4:5:6:7:8:9");
	expect_bad("fd00::g");
	expect_bad("None");
}

static void test_parse_family(void **state)
{
	struct sy_addr a;

	(void)state;
	assert_int_equal(sy_addr_parse_family("10.0.0.1", AF_INET, &a), 0);
	assert_int_equal(sy_addr_parse_family("10.0.0.1", AF_INET6, &a), -EINVAL);
	assert_int_equal(sy_addr_parse_family("fd00::1", AF_INET, &a), -EINVAL);
	assert_int_equal(sy_addr_parse_family("fd00::1", AF_INET6, &a), 0);
	assert_int_equal(sy_addr_parse_family("::ffff:10.0.0.1", AF_INET, &a), -EINVAL);
	assert_int_equal(sy_family_parse("IPv4"), AF_INET);
	assert_int_equal(sy_family_parse("IPv6"), AF_INET6);
	assert_int_equal(sy_family_parse("ipv4"), -EINVAL);
	assert_int_equal(sy_family_parse(NULL), -EINVAL);
	assert_string_equal(sy_family_name(AF_INET), "IPv4");
	assert_string_equal(sy_family_name(AF_INET6), "IPv6");
	assert_string_equal(sy_family_name(0), "");
}

static void test_unset_and_in4(void **state)
{
	struct sy_addr z = { 0 }, a = sy_addr4_host(0x7f000001);
	struct in_addr in = { htonl(0x0a000001) };
	struct in6_addr in6;
	char buf[8];

	(void)state;
	assert_false(sy_addr_is_set(&z));
	assert_string_equal(sy_addr_str(&z), "");
	assert_string_equal(sy_addr_format(&a, buf, sizeof(buf)), "");	/* too short: empty */
	assert_string_equal(sy_addr_str(&a), "127.0.0.1");
	assert_true(sy_addr_is_loopback(&a));
	assert_true(sy_addr_is4(&a));
	assert_int_equal(sy_addr4_host_order(&a), 0x7f000001);
	a = sy_addr_from_in4(in);
	assert_true(sy_addr_eq(&a, (struct sy_addr[]){ A("10.0.0.1") }));
	assert_int_equal(a.v4.s_addr, in.s_addr);
	assert_int_equal(memcmp(&a, (struct sy_addr[]){ A("10.0.0.1") }, sizeof(a)), 0);
	inet_pton(AF_INET6, "fd00::5", &in6);
	a = sy_addr_from_in6(&in6);
	assert_true(sy_addr_is6(&a));
	assert_string_equal(sy_addr_str(&a), "fd00::5");
	assert_true(sy_addr_is_loopback((struct sy_addr[]){ A("::1") }));
	assert_false(sy_addr_is_loopback((struct sy_addr[]){ A("::2") }));
	assert_false(sy_addr_is_loopback((struct sy_addr[]){ A("128.0.0.1") }));
	assert_int_equal(sy_addr4_host_order((struct sy_addr[]){ A("::1") }), 0);
}

static void test_cmp_hash(void **state)
{
	struct sy_addr z = { 0 }, a = A("10.0.0.2"), b = A("10.0.0.10"), c = A("9.255.255.255"),
		       d = A("::"), e = A("fd00::1"), f = A("fd00::1:0");

	(void)state;
	/* numeric order within a family, unset < IPv4 < IPv6 */
	assert_true(sy_addr_cmp(&a, &b) < 0);
	assert_true(sy_addr_cmp(&b, &a) > 0);
	assert_true(sy_addr_cmp(&c, &a) < 0);
	assert_true(sy_addr_cmp(&z, &c) < 0);
	assert_true(sy_addr_cmp(&c, &z) > 0);
	assert_true(sy_addr_cmp(&b, &d) < 0);	/* 10.0.0.10 < :: */
	assert_true(sy_addr_cmp(&d, &b) > 0);
	assert_true(sy_addr_cmp(&e, &f) < 0);
	assert_int_equal(sy_addr_cmp(&e, (struct sy_addr[]){ A("FD00:0::1") }), 0);
	assert_true(sy_addr_eq(&e, (struct sy_addr[]){ A("FD00:0::1") }));
	assert_false(sy_addr_eq(&a, &b));
	/* 0.0.0.0 and :: are both zero bytes, but not equal */
	assert_false(sy_addr_eq((struct sy_addr[]){ A("0.0.0.0") }, &d));
	assert_true(sy_addr_hash((struct sy_addr[]){ A("0.0.0.0") }) != sy_addr_hash(&d));
	assert_int_equal(sy_addr_hash(&e), sy_addr_hash((struct sy_addr[]){ A("fd00:0:0::1") }));
	assert_true(sy_addr_hash(&a) != sy_addr_hash(&b));
}

static void expect_cidr(const char *in, const char *out, unsigned plen)
{
	struct sy_cidr c;
	char buf[SY_CIDR_STRLEN];

	assert_int_equal(sy_cidr_parse(in, &c), 0);
	assert_string_equal(sy_cidr_format(&c, buf, sizeof(buf)), out);
	assert_string_equal(sy_cidr_str(&c), out);
	assert_int_equal(c.plen, plen);
	for (unsigned i = 0; i < sizeof(c.reserved); i++)
		assert_int_equal(c.reserved[i], 0);
}

static void test_cidr(void **state)
{
	struct sy_cidr c;

	(void)state;
	/* the host bits are cleared (Go's net.ParseCIDR) */
	expect_cidr("10.244.3.7/16", "10.244.0.0/16", 16);
	expect_cidr("1.2.3.4", "1.2.3.4/32", 32);
	expect_cidr("0.0.0.0/0", "0.0.0.0/0", 0);
	expect_cidr("10.1.2.3/31", "10.1.2.2/31", 31);
	expect_cidr("fd00::1/64", "fd00::/64", 64);
	expect_cidr("FD00:1:2:3:4:5:6:7/127", "fd00:1:2:3:4:5:6:6/127", 127);
	expect_cidr("fd00:ab:cd::/36", "fd00:ab::/36", 36);
	expect_cidr("fd00:abcd::/20", "fd00:a000::/20", 20);
	expect_cidr("fd00:ffff::/17", "fd00:8000::/17", 17);
	expect_cidr("::/0", "::/0", 0);
	expect_cidr("fd00::1", "fd00::1/128", 128);
	assert_int_equal(sy_cidr_parse("1.2.3.4/", &c), -EINVAL);
	assert_int_equal(sy_cidr_parse("1.2.3/8", &c), -EINVAL);
	assert_int_equal(sy_cidr_parse("1.2.3.4/33", &c), -EINVAL);
	assert_int_equal(sy_cidr_parse("1.2.3.4/-1", &c), -EINVAL);
	assert_int_equal(sy_cidr_parse("1.2.3.4/+8", &c), -EINVAL);
	assert_int_equal(sy_cidr_parse("1.2.3.4/ 8", &c), -EINVAL);
	assert_int_equal(sy_cidr_parse("1.2.3.4/8x", &c), -EINVAL);
	assert_int_equal(sy_cidr_parse("fd00::/129", &c), -EINVAL);
	assert_int_equal(sy_cidr_parse("fe80::%eth0/64", &c), -EINVAL);
	assert_int_equal(sy_cidr_parse(NULL, &c), -EINVAL);
	assert_int_equal(sy_cidr_parse_family("fd00::/64", AF_INET, &c), -EINVAL);
	assert_int_equal(sy_cidr_parse_family("10.0.0.0/8", AF_INET6, &c), -EINVAL);
	assert_int_equal(sy_cidr_parse_family("10.0.0.0/8", AF_INET, &c), 0);
	assert_int_equal(sy_cidr_mask4(&c), htonl(0xff000000));
	assert_int_equal(sy_cidr_make((struct sy_addr[]){ A("10.9.8.7") }, 24, &c), 0);
	assert_string_equal(sy_cidr_str(&c), "10.9.8.0/24");
	assert_int_equal(sy_cidr_make((struct sy_addr[]){ A("10.9.8.7") }, 33, &c), -EINVAL);
	assert_int_equal(sy_cidr_make(&(struct sy_addr){ 0 }, 0, &c), -EINVAL);
}

static void test_cidr_contains(void **state)
{
	struct sy_cidr c4, c6, all4, all6, c6b;

	(void)state;
	assert_int_equal(sy_cidr_parse("10.244.0.0/16", &c4), 0);
	assert_int_equal(sy_cidr_parse("fd00:10::/60", &c6), 0);
	assert_int_equal(sy_cidr_parse("0.0.0.0/0", &all4), 0);
	assert_int_equal(sy_cidr_parse("::/0", &all6), 0);
	assert_true(sy_cidr_contains(&c4, (struct sy_addr[]){ A("10.244.200.1") }));
	assert_false(sy_cidr_contains(&c4, (struct sy_addr[]){ A("10.245.0.1") }));
	assert_true(sy_cidr_contains(&c6, (struct sy_addr[]){ A("fd00:10:0:f::1") }));
	assert_false(sy_cidr_contains(&c6, (struct sy_addr[]){ A("fd00:10:0:10::1") }));
	assert_true(sy_cidr_contains(&all4, (struct sy_addr[]){ A("1.2.3.4") }));
	assert_true(sy_cidr_contains(&all6, (struct sy_addr[]){ A("fd00::1") }));
	/* never across families: ::/0 holds no IPv4, 0.0.0.0/0 no IPv6 (mapped or not) */
	assert_false(sy_cidr_contains(&all6, (struct sy_addr[]){ A("1.2.3.4") }));
	assert_false(sy_cidr_contains(&all4, (struct sy_addr[]){ A("::ffff:1.2.3.4") }));
	assert_false(sy_cidr_contains(&all4, &(struct sy_addr){ 0 }));
	/* compare / hash */
	assert_int_equal(sy_cidr_parse("fd00:10::1/60", &c6b), 0);
	assert_true(sy_cidr_eq(&c6, &c6b));
	assert_int_equal(sy_cidr_cmp(&c6, &c6b), 0);
	assert_int_equal(sy_cidr_hash(&c6), sy_cidr_hash(&c6b));
	assert_int_equal(memcmp(&c6, &c6b, sizeof(c6)), 0);
	assert_int_equal(sy_cidr_parse("fd00:10::/64", &c6b), 0);
	assert_false(sy_cidr_eq(&c6, &c6b));
	assert_true(sy_cidr_cmp(&c6, &c6b) < 0);
	assert_true(sy_cidr_cmp(&c4, &c6) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_format),
		cmocka_unit_test(test_parse_family),
		cmocka_unit_test(test_unset_and_in4),
		cmocka_unit_test(test_cmp_hash),
		cmocka_unit_test(test_cidr),
		cmocka_unit_test(test_cidr_contains),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
