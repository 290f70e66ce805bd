// SPDX-License-Identifier: Apache-2.0
/* Pod network: net-conf parsing and validation, subnet checks, MACs, rendered files. */
#include <errno.h>
#include <string.h>
#include <stdlib.h>
#include <json-c/json.h>
#include "helpers.h"
#include "switchyard/podnet.h"
#include "../../podnet/podnet_int.h"
#include "switchyard/util.h"

static int parse(const char *json, struct podnet_conf *c, char *err)
{
	err[0] = '\0';
	return podnet_conf_parse(json, c, err, 256);
}

static void expect_err(const char *json, const char *needle)
{
	struct podnet_conf c;
	char err[256];

	assert_int_equal(parse(json, &c, err), -EINVAL);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" lacks \"%s\" (input %s)", err, needle, json);
}

static void test_defaults(void **state)
{
	struct podnet_conf c;
	char err[256];

	assert_int_equal(parse("{\"Network\":\"10.111.0.0/16\"}", &c, err), 0);
	assert_string_equal(sy_addr_str(&c.network.addr), "10.111.0.0");
	assert_int_equal(c.network.plen, 16);
	assert_int_equal(c.subnet_len, 24);
	assert_string_equal(sy_ip4_str(c.subnet_min), "10.111.1.0");
	assert_string_equal(sy_ip4_str(c.subnet_max), "10.111.255.0");
	assert_int_equal(c.backend, PODNET_BACKEND_VXLAN);
	assert_int_equal(c.vni, 1);
	assert_int_equal(c.port, 8472);
	assert_false(c.direct_routing);
	assert_int_equal(c.mtu, 0);
}

static void test_small_network(void **state)
{
	struct podnet_conf c;
	char err[256];

	/* smaller than a /22: prefix + 2 */
	assert_int_equal(parse("{\"Network\":\"10.5.0.0/24\"}", &c, err), 0);
	assert_int_equal(c.subnet_len, 26);
	assert_string_equal(sy_ip4_str(c.subnet_min), "10.5.0.64");
	assert_string_equal(sy_ip4_str(c.subnet_max), "10.5.0.192");
	assert_int_equal(parse("{\"Network\":\"10.5.0.0/22\"}", &c, err), 0);
	assert_int_equal(c.subnet_len, 24);
	expect_err("{\"Network\":\"10.5.0.0/29\"}", "too small");
}

static void test_full(void **state)
{
	struct podnet_conf c;
	char err[256];

	assert_int_equal(parse("{\"Network\":\"10.111.0.0/16\",\"SubnetLen\":25,"
			       "\"SubnetMin\":\"10.111.10.0\",\"SubnetMax\":\"10.111.20.128\","
			       "\"Backend\":{\"Type\":\"vxlan\",\"VNI\":42,\"Port\":4789,"
			       "\"DirectRouting\":true,\"MTU\":1400}}", &c, err), 0);
	assert_int_equal(c.subnet_len, 25);
	assert_string_equal(sy_ip4_str(c.subnet_min), "10.111.10.0");
	assert_string_equal(sy_ip4_str(c.subnet_max), "10.111.20.128");
	assert_int_equal(c.vni, 42);
	assert_int_equal(c.port, 4789);
	assert_true(c.direct_routing);
	assert_int_equal(c.mtu, 1400);
	assert_int_equal(parse("{\"Network\":\"10.111.0.0/16\",\"Backend\":{\"Type\":\"host-gw\"}}",
			       &c, err), 0);
	assert_int_equal(c.backend, PODNET_BACKEND_HOST_GW);
}

static void test_invalid(void **state)
{
	expect_err("", "not valid JSON");
	expect_err("{", "not valid JSON");
	expect_err("[]", "not a JSON object");
	expect_err("{}", "Network is missing");
	expect_err("{\"Network\":\"10.0.0.0\"}", "not an IPv4 CIDR");
	expect_err("{\"Network\":\"fd00::/64\"}", "not an IPv4 CIDR");
	expect_err("{\"Network\":42}", "Network must be a string");
	expect_err("{\"Network\":\"10.0.0.0/16\",\"SubnetLen\":16}", "must be longer");
	expect_err("{\"Network\":\"10.0.0.0/16\",\"SubnetLen\":8}", "must be longer");
	expect_err("{\"Network\":\"10.0.0.0/16\",\"SubnetLen\":31}", "too long");
	expect_err("{\"Network\":\"10.0.0.0/16\",\"SubnetLen\":\"24\"}", "integer");
	expect_err("{\"Network\":\"10.0.0.0/16\",\"SubnetMin\":\"10.1.0.0\"}", "not in Network");
	expect_err("{\"Network\":\"10.0.0.0/16\",\"SubnetMax\":\"11.0.0.0\"}", "not in Network");
	expect_err("{\"Network\":\"10.0.0.0/16\",\"SubnetMin\":\"10.0.1.5\"}", "boundary");
	expect_err("{\"Network\":\"10.0.0.0/16\",\"SubnetMin\":\"10.0.9.0\",\"SubnetMax\":\"10.0.8.0\"}",
		   "above SubnetMax");
	expect_err("{\"Network\":\"10.0.0.0/16\",\"SubnetMin\":\"x\"}", "not an IPv4 address");
	expect_err("{\"Network\":\"10.0.0.0/16\",\"Backend\":{\"Type\":\"udp\"}}", "unknown Backend.Type");
	expect_err("{\"Network\":\"10.0.0.0/16\",\"Backend\":{\"Type\":\"vxlan\",\"VNI\":16777216}}",
		   "VNI");
	expect_err("{\"Network\":\"10.0.0.0/16\",\"Backend\":{\"Type\":\"vxlan\",\"Port\":70000}}",
		   "Port");
	expect_err("{\"Network\":\"10.0.0.0/16\",\"Backend\":{\"DirectRouting\":\"yes\"}}",
		   "true or false");
	expect_err("{\"Network\":\"10.0.0.0/16\",\"Backend\":{\"MTU\":100}}", "too small");
	expect_err("{\"Network\":\"10.0.0.0/16\",\"Backend\":\"vxlan\"}", "must be an object");
	expect_err("{\"Network\":\"10.0.0.0/16\",\"EnableIPv6\":true}", "IPv6Network is missing");
}

static void test_check_subnet(void **state)
{
	struct podnet_conf c;
	struct sy_cidr s;
	char err[256];

	assert_int_equal(parse("{\"Network\":\"10.111.0.0/16\",\"SubnetMin\":\"10.111.2.0\","
			       "\"SubnetMax\":\"10.111.200.0\"}", &c, err), 0);
	sy_cidr_parse("10.111.2.0/24", &s);
	assert_int_equal(podnet_conf_check_subnet(&c, &s, err, sizeof(err)), 0);
	sy_cidr_parse("10.111.200.0/24", &s);
	assert_int_equal(podnet_conf_check_subnet(&c, &s, err, sizeof(err)), 0);
	sy_cidr_parse("10.111.1.0/24", &s);
	assert_int_equal(podnet_conf_check_subnet(&c, &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "SubnetMin"));
	sy_cidr_parse("10.111.201.0/24", &s);
	assert_int_equal(podnet_conf_check_subnet(&c, &s, err, sizeof(err)), -EINVAL);
	sy_cidr_parse("10.112.5.0/24", &s);
	assert_int_equal(podnet_conf_check_subnet(&c, &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not inside Network"));
	sy_cidr_parse("10.111.0.0/16", &s);
	assert_int_equal(podnet_conf_check_subnet(&c, &s, err, sizeof(err)), -EINVAL);
	sy_cidr_parse("10.111.200.0/23", &s);	/* runs past SubnetMax's subnet */
	assert_int_equal(podnet_conf_check_subnet(&c, &s, err, sizeof(err)), -EINVAL);
}

static void test_mac(void **state)
{
	uint8_t mac[6];
	char buf[18];
	struct in_addr a;
	uint32_t vni;
	bool hv, hm;

	sy_parse_ip4("10.10.100.133", &a);
	podnet_vtep_mac(a, mac);
	podnet_format_mac(mac, buf);
	assert_string_equal(buf, "5e:79:0a:0a:64:85");
	assert_int_equal(podnet_parse_mac("aa:bb:cc:dd:ee:0f", mac), 0);
	podnet_format_mac(mac, buf);
	assert_string_equal(buf, "aa:bb:cc:dd:ee:0f");
	assert_int_equal(podnet_parse_mac("01:00:5e:00:00:01", mac), -EINVAL);	/* multicast */
	assert_int_equal(podnet_parse_mac("aa:bb:cc:dd:ee", mac), -EINVAL);
	assert_int_equal(podnet_parse_mac("aa:bb:cc:dd:ee:ff:00", mac), -EINVAL);
	assert_int_equal(podnet_parse_backend_data("{\"VNI\":7,\"VtepMAC\":\"62:aa:00:11:22:33\"}",
						   &vni, &hv, mac, &hm), 0);
	assert_true(hv);
	assert_true(hm);
	assert_int_equal(vni, 7);
	assert_int_equal(mac[0], 0x62);
	assert_int_equal(podnet_parse_backend_data("null", &vni, &hv, mac, &hm), -EINVAL);
	assert_int_equal(podnet_parse_backend_data("{\"VtepMAC\":\"zz\"}", &vni, &hv, mac, &hm),
			 -EINVAL);
	podnet_vxlan_name(1, buf, sizeof(buf));
	assert_string_equal(buf, "sy-vx.1");
	podnet_vxlan_name(16777215, buf, sizeof(buf));
	assert_true(strlen(buf) < 16);
	podnet_vxlan6_name(1, buf, sizeof(buf));
	assert_string_equal(buf, "sy-vx6.1");
	podnet_vxlan6_name(16777215, buf, sizeof(buf));
	assert_true(strlen(buf) < 16);	/* IFNAMSIZ */
	{
		struct sy_addr a6;

		sy_addr_parse("fd00:10:100::1:85", &a6);
		podnet_vtep_mac6(&a6, mac);
		podnet_format_mac(mac, buf);
		assert_string_equal(buf, "5e:76:00:01:00:85");
	}
}

static void test_files(void **state)
{
	struct podnet_conf c;
	struct sy_cidr s;
	char err[256], *env, *cni;
	struct json_object *o, *pl, *br, *ipam, *v;

	assert_int_equal(parse("{\"Network\":\"10.111.0.0/16\"}", &c, err), 0);
	sy_cidr_parse("10.111.3.0/24", &s);
	env = podnet_render_subnet_env(&c, &s, NULL, 1450);
	assert_string_equal(env, "FLANNEL_NETWORK=10.111.0.0/16\nFLANNEL_SUBNET=10.111.3.1/24\n"
			    "FLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n");
	free(env);
	cni = podnet_render_cni(&c, &s, NULL, 1450);
	o = J(cni);
	assert_true(json_object_object_get_ex(o, "name", &v));
	assert_string_equal(json_object_get_string(v), "switchyard");
	assert_true(json_object_object_get_ex(o, "plugins", &pl));
	assert_int_equal(json_object_array_length(pl), 3);
	br = json_object_array_get_idx(pl, 0);
	assert_true(json_object_object_get_ex(br, "type", &v));
	assert_string_equal(json_object_get_string(v), "bridge");
	assert_true(json_object_object_get_ex(br, "bridge", &v));
	assert_string_equal(json_object_get_string(v), "cni0");
	assert_true(json_object_object_get_ex(br, "isGateway", &v));
	assert_true(json_object_get_boolean(v));
	assert_true(json_object_object_get_ex(br, "hairpinMode", &v));
	assert_true(json_object_get_boolean(v));
	assert_true(json_object_object_get_ex(br, "mtu", &v));
	assert_int_equal(json_object_get_int(v), 1450);
	assert_true(json_object_object_get_ex(br, "ipam", &ipam));
	assert_true(json_object_object_get_ex(ipam, "ranges", &v));
	v = json_object_array_get_idx(json_object_array_get_idx(v, 0), 0);
	assert_string_equal(json_object_get_string(json_object_object_get(v, "subnet")),
			    "10.111.3.0/24");
	assert_string_equal(json_object_get_string(json_object_object_get(v, "gateway")),
			    "10.111.3.1");
	assert_null(strstr(cni, "\\/"));
	v = json_object_array_get_idx(pl, 1);
	assert_string_equal(json_object_get_string(json_object_object_get(v, "type")), "portmap");
	v = json_object_array_get_idx(pl, 2);
	assert_string_equal(json_object_get_string(json_object_object_get(v, "type")), "loopback");
	json_object_put(o);
	free(cni);
}

static void test_entry_keys(void **state)
{
	struct pn_entry a = { .type = PN_ROUTE, .ifindex = 3, .onlink = true }, b;
	char k1[64], k2[64];

	sy_cidr_parse("10.111.2.0/24", &a.dst);
	sy_addr_parse_family("10.111.2.0", AF_INET, &a.gw);
	b = a;
	assert_true(pn_entry_equal(&a, &b));
	sy_addr_parse_family("10.10.100.134", AF_INET, &b.gw);
	b.onlink = false;
	assert_false(pn_entry_equal(&a, &b));
	pn_entry_key(&a, k1, sizeof(k1));
	pn_entry_key(&b, k2, sizeof(k2));
	assert_string_equal(k1, k2);	/* same destination: one route, replaced */
	assert_string_equal(k1, "r 10.111.2.0/24");
	b = (struct pn_entry){ .type = PN_FDB, .ifindex = 3, .mac = { 0x5e, 0x79, 1, 2, 3, 4 } };
	pn_entry_key(&b, k2, sizeof(k2));
	assert_string_equal(k2, "f 3 5e:79:01:02:03:04");
}

/* flannel's IPv6 keys and defaults (pkg/subnet/config.go). */
static void test_ipv6_conf(void **state)
{
	struct podnet_conf c;
	char err[256];

	/* IPv4 only by default */
	assert_int_equal(parse("{\"Network\":\"10.111.0.0/16\"}", &c, err), 0);
	assert_true(c.enable4);
	assert_false(c.enable6);
	/* dual stack: /64 per node, the first and last /64 of the network */
	assert_int_equal(parse("{\"Network\":\"10.111.0.0/16\",\"EnableIPv6\":true,"
			       "\"IPv6Network\":\"fd00:10:244::/56\",\"Backend\":{\"Type\":\"host-gw\"}}",
			       &c, err), 0);
	assert_true(c.enable4 && c.enable6);
	assert_string_equal(sy_cidr_str(&c.network6), "fd00:10:244::/56");
	assert_int_equal(c.subnet_len6, 64);
	assert_string_equal(sy_addr_str(&c.subnet_min6), "fd00:10:244:1::");
	assert_string_equal(sy_addr_str(&c.subnet_max6), "fd00:10:244:ff::");
	/* a network smaller than a /62 is split in four */
	assert_int_equal(parse("{\"EnableIPv4\":false,\"EnableIPv6\":true,"
			       "\"IPv6Network\":\"fd00::/120\"}", &c, err), 0);
	assert_false(c.enable4);
	assert_int_equal(c.subnet_len6, 122);
	assert_string_equal(sy_addr_str(&c.subnet_min6), "fd00::40");
	assert_string_equal(sy_addr_str(&c.subnet_max6), "fd00::c0");
	/* IPv6-only needs no Network */
	assert_int_equal(sy_addr_is_set(&c.network.addr), 0);
	/* explicit length and bounds */
	assert_int_equal(parse("{\"Network\":\"10.1.0.0/16\",\"EnableIPv6\":true,"
			       "\"IPv6Network\":\"fd00::/48\",\"IPv6SubnetLen\":80,"
			       "\"IPv6SubnetMin\":\"fd00:0:0:10::\",\"IPv6SubnetMax\":\"fd00:0:0:20::\"}",
			       &c, err), 0);
	assert_int_equal(c.subnet_len6, 80);
	assert_string_equal(sy_addr_str(&c.subnet_min6), "fd00:0:0:10::");
	assert_string_equal(sy_addr_str(&c.subnet_max6), "fd00:0:0:20::");
	/* errors */
	expect_err("{\"EnableIPv4\":false}", "both false");
	expect_err("{\"EnableIPv6\":true,\"Network\":\"10.0.0.0/16\",\"IPv6Network\":\"10.1.0.0/16\"}",
		   "is not an IPv6 CIDR");
	expect_err("{\"EnableIPv6\":true,\"Network\":\"10.0.0.0/16\",\"IPv6Network\":\"fd00::1\"}",
		   "is not an IPv6 CIDR");
	expect_err("{\"EnableIPv6\":true,\"Network\":\"10.0.0.0/16\",\"IPv6Network\":\"fd00::/125\"}",
		   "too small");
	expect_err("{\"EnableIPv6\":true,\"Network\":\"10.0.0.0/16\",\"IPv6Network\":\"fd00::/64\","
		   "\"IPv6SubnetLen\":65}", "at least");
	expect_err("{\"EnableIPv6\":true,\"Network\":\"10.0.0.0/16\",\"IPv6Network\":\"fd00::/64\","
		   "\"IPv6SubnetLen\":127}", "too long");
	expect_err("{\"EnableIPv6\":true,\"Network\":\"10.0.0.0/16\",\"IPv6Network\":\"fd00::/48\","
		   "\"IPv6SubnetMin\":\"fd01::\"}", "not in IPv6Network");
	expect_err("{\"EnableIPv6\":true,\"Network\":\"10.0.0.0/16\",\"IPv6Network\":\"fd00::/48\","
		   "\"IPv6SubnetMin\":\"fd00:0:0:1::1\"}", "boundary");
	expect_err("{\"EnableIPv6\":true,\"Network\":\"10.0.0.0/16\",\"IPv6Network\":\"fd00::/48\","
		   "\"IPv6SubnetMin\":\"fd00:0:0:9::\",\"IPv6SubnetMax\":\"fd00:0:0:8::\"}", "above");
	expect_err("{\"EnableIPv6\":true,\"Network\":\"10.0.0.0/16\",\"IPv6Network\":\"fd00::/48\","
		   "\"IPv6SubnetMin\":\"10.0.0.0\"}", "not an IPv6 address");
	expect_err("{\"EnableIPv6\":1,\"Network\":\"10.0.0.0/16\"}", "true or false");
	/* a bad IPv6 part fails the file even though IPv4 is fine: the error names it */
	expect_err("{\"Network\":\"10.0.0.0/16\",\"EnableIPv6\":true,\"IPv6Network\":\"x\"}",
		   "IPv6Network \"x\"");
}

static void test_ipv6_check_subnet(void **state)
{
	struct podnet_conf c;
	struct sy_cidr s;
	char err[256];

	assert_int_equal(parse("{\"Network\":\"10.111.0.0/16\",\"EnableIPv6\":true,"
			       "\"IPv6Network\":\"fd00:10:244::/56\"}", &c, err), 0);
	sy_cidr_parse("fd00:10:244:2::/64", &s);
	assert_int_equal(podnet_conf_check_subnet6(&c, &s, err, sizeof(err)), 0);
	sy_cidr_parse("fd00:10:244::/64", &s);	/* the first subnet is never used */
	assert_int_equal(podnet_conf_check_subnet6(&c, &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "outside [IPv6SubnetMin, IPv6SubnetMax]"));
	sy_cidr_parse("fd00:10:245:1::/64", &s);
	assert_int_equal(podnet_conf_check_subnet6(&c, &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not inside IPv6Network"));
	sy_cidr_parse("fd00:10:244::/56", &s);
	assert_int_equal(podnet_conf_check_subnet6(&c, &s, err, sizeof(err)), -EINVAL);
	sy_cidr_parse("fd00:10:244:3::/127", &s);
	assert_int_equal(podnet_conf_check_subnet6(&c, &s, err, sizeof(err)), -EINVAL);
	sy_cidr_parse("10.111.2.0/24", &s);
	assert_int_equal(podnet_conf_check_subnet6(&c, &s, err, sizeof(err)), -EINVAL);
	c.enable6 = false;
	sy_cidr_parse("fd00:10:244:2::/64", &s);
	assert_int_equal(podnet_conf_check_subnet6(&c, &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "EnableIPv6"));
}

/* subnet.env with flannel's IPv6 keys; a conflist giving pods both families. */
static void test_ipv6_files(void **state)
{
	struct podnet_conf c;
	struct sy_cidr s, s6;
	char err[256], *env, *cni;
	struct json_object *o, *pl, *ipam, *ranges, *routes, *v;

	assert_int_equal(parse("{\"Network\":\"10.111.0.0/16\",\"EnableIPv6\":true,"
			       "\"IPv6Network\":\"fd00:10:244::/56\"}", &c, err), 0);
	sy_cidr_parse("10.111.3.0/24", &s);
	sy_cidr_parse("fd00:10:244:3::/64", &s6);
	env = podnet_render_subnet_env(&c, &s, &s6, 1500);
	assert_string_equal(env, "FLANNEL_NETWORK=10.111.0.0/16\nFLANNEL_SUBNET=10.111.3.1/24\n"
			    "FLANNEL_IPV6_NETWORK=fd00:10:244::/56\n"
			    "FLANNEL_IPV6_SUBNET=fd00:10:244:3::1/64\n"
			    "FLANNEL_MTU=1500\nFLANNEL_IPMASQ=true\n");
	free(env);
	/* IPv6 not (yet) usable on this node: IPv4 keys only */
	env = podnet_render_subnet_env(&c, &s, NULL, 1500);
	assert_null(strstr(env, "IPV6"));
	free(env);
	env = podnet_render_subnet_env(&c, NULL, &s6, 1500);
	assert_string_equal(env, "FLANNEL_IPV6_NETWORK=fd00:10:244::/56\n"
			    "FLANNEL_IPV6_SUBNET=fd00:10:244:3::1/64\n"
			    "FLANNEL_MTU=1500\nFLANNEL_IPMASQ=true\n");
	free(env);
	cni = podnet_render_cni(&c, &s, &s6, 1500);
	o = json_tokener_parse(cni);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "plugins", &pl));
	assert_true(json_object_object_get_ex(json_object_array_get_idx(pl, 0), "ipam", &ipam));
	assert_true(json_object_object_get_ex(ipam, "ranges", &ranges));
	assert_int_equal(json_object_array_length(ranges), 2);
	v = json_object_array_get_idx(json_object_array_get_idx(ranges, 1), 0);
	assert_string_equal(json_object_get_string(json_object_object_get(v, "subnet")),
			    "fd00:10:244:3::/64");
	assert_string_equal(json_object_get_string(json_object_object_get(v, "gateway")),
			    "fd00:10:244:3::1");
	assert_true(json_object_object_get_ex(ipam, "routes", &routes));
	assert_int_equal(json_object_array_length(routes), 2);
	assert_string_equal(json_object_get_string(json_object_object_get(
		json_object_array_get_idx(routes, 0), "dst")), "0.0.0.0/0");
	assert_string_equal(json_object_get_string(json_object_object_get(
		json_object_array_get_idx(routes, 1), "dst")), "::/0");
	json_object_put(o);
	free(cni);
}

/* IPv6 routes are entries like IPv4 ones: keyed by destination, compared by gateway. */
static void test_ipv6_entries(void **state)
{
	struct pn_entry a = { .type = PN_ROUTE, .ifindex = 3 }, b;
	char k[64], str[128];

	sy_cidr_parse("fd00:10:244:2::/64", &a.dst);
	sy_addr_parse("fd00:10:100::134", &a.gw);
	b = a;
	assert_true(pn_entry_equal(&a, &b));
	sy_addr_parse("fd00:10:100::135", &b.gw);
	assert_false(pn_entry_equal(&a, &b));
	pn_entry_key(&a, k, sizeof(k));
	assert_string_equal(k, "r fd00:10:244:2::/64");
	pn_entry_str(&a, str, sizeof(str));
	assert_string_equal(str, "route fd00:10:244:2::/64 via fd00:10:100::134 dev #3");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_small_network),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_check_subnet),
		cmocka_unit_test(test_mac),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_entry_keys),
		cmocka_unit_test(test_ipv6_conf),
		cmocka_unit_test(test_ipv6_check_subnet),
		cmocka_unit_test(test_ipv6_files),
		cmocka_unit_test(test_ipv6_entries),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
