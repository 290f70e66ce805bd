// SPDX-License-Identifier: Apache-2.0
/*
 * The pod network against the real kernel, inside a private network
 * namespace (unshare(CLONE_NEWNET), gone when the test exits; skipped when
 * not root): the rtnetlink layer (vxlan device, address, routes /
 * neighbours / FDB entries, dump), the iptables chains, and podnet_sync's
 * diff over a Node cache (join, change, leave, drift).
 */
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <json-c/json.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include "helpers.h"
#include "switchyard/config.h"
#include "switchyard/log.h"
#include "switchyard/model.h"
#include "switchyard/podnet.h"
#include "../../podnet/podnet_int.h"

static bool in_netns;
static char tmpdir[] = "/tmp/test-podnet-nl.XXXXXX";

static int setup_netns(void **state)
{
	struct nl_sock *sk;
	struct rtnl_link *l, *peer, *chg;
	struct rtnl_addr *a;
	struct nl_addr *local;
	struct nl_cache *cache;
	const char *names[] = { "lo", "ul0", "ul1" };

	if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0)
		return 0;
	in_netns = true;
	/* the namespace is ours alone: never wait on the host's shared /run/xtables.lock */
	setenv("SY_XTABLES_LOCK", "/tmp/sy-test-podnet-nl-xtables.lock", 1);
	assert_int_equal(pn_nl_open(&sk), 0);
	l = rtnl_link_veth_alloc();
	rtnl_link_set_name(l, "ul0");
	peer = rtnl_link_veth_get_peer(l);
	rtnl_link_set_name(peer, "ul1");
	rtnl_link_put(peer);
	assert_int_equal(rtnl_link_add(sk, l, NLM_F_CREATE | NLM_F_EXCL), 0);
	rtnl_link_put(l);
	assert_int_equal(rtnl_link_alloc_cache(sk, AF_UNSPEC, &cache), 0);
	for (unsigned i = 0; i < 3; i++) {
		l = rtnl_link_get_by_name(cache, names[i]);
		chg = rtnl_link_alloc();
		rtnl_link_set_flags(chg, IFF_UP);
		assert_int_equal(rtnl_link_change(sk, l, chg, 0), 0);
		rtnl_link_put(chg);
		rtnl_link_put(l);
	}
	nl_cache_free(cache);
	a = rtnl_addr_alloc();
	nl_addr_parse("10.200.0.1/16", AF_INET, &local);
	rtnl_addr_set_local(a, local);
	rtnl_addr_set_ifindex(a, (int)if_nametoindex("ul0"));
	assert_int_equal(rtnl_addr_add(sk, a, 0), 0);
	nl_addr_put(local);
	rtnl_addr_put(a);
	pn_nl_close(sk);
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int teardown_netns(void **state)
{
	char cmd[128];

	if (in_netns) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			return -1;
	}
	return 0;
}

#define NEED_NETNS() do { if (!in_netns) skip(); } while (0)

struct collected {
	struct pn_entry e[16];
	unsigned n;
};

static void collect(void *arg, const struct pn_entry *e)
{
	struct collected *c = arg;

	if (c->n < 16)
		c->e[c->n++] = *e;
}

static unsigned count_type(const struct collected *c, enum pn_etype t)
{
	unsigned n = 0;

	for (unsigned i = 0; i < c->n; i++)
		n += c->e[i].type == t;
	return n;
}

static bool has(const struct collected *c, const struct pn_entry *e)
{
	for (unsigned i = 0; i < c->n; i++)
		if (pn_entry_equal(&c->e[i], e))
			return true;
	return false;
}

static void test_vxlan_device(void **state)
{
	struct nl_sock *sk;
	struct pn_vxlan_spec s = { .name = "sy-vx.9", .vni = 9, .port = 8472, .mtu = 1450,
				   .mac = { 0x5e, 0x79, 10, 200, 0, 1 } };
	struct pn_link l;
	bool recreated;
	int idx, idx2;

	NEED_NETNS();
	assert_int_equal(pn_nl_open(&sk), 0);
	sy_addr_parse("10.200.0.1", &s.local);
	s.link = (int)if_nametoindex("ul0");
	idx = pn_nl_vxlan_ensure(sk, &s, &recreated);
	assert_true(idx > 0);
	assert_true(recreated);
	assert_int_equal(pn_nl_link_get(sk, "sy-vx.9", &l), 0);
	assert_true(l.is_vxlan);
	assert_int_equal(l.vni, 9);
	assert_int_equal(l.port, 8472);
	assert_int_equal(l.mtu, 1450);
	assert_false(l.learning);
	assert_true(l.up);
	assert_memory_equal(l.mac, s.mac, 6);
	assert_string_equal(sy_addr_str(&l.local), "10.200.0.1");
	/* idempotent */
	assert_int_equal(pn_nl_vxlan_ensure(sk, &s, &recreated), idx);
	assert_false(recreated);
	/* MTU fixed in place */
	s.mtu = 1400;
	assert_int_equal(pn_nl_vxlan_ensure(sk, &s, &recreated), idx);
	assert_false(recreated);
	assert_int_equal(pn_nl_link_get(sk, "sy-vx.9", &l), 0);
	assert_int_equal(l.mtu, 1400);
	/* another VNI: recreated */
	s.vni = 10;
	idx2 = pn_nl_vxlan_ensure(sk, &s, &recreated);
	assert_true(idx2 > 0);
	assert_true(recreated);
	assert_int_equal(pn_nl_link_get(sk, "sy-vx.9", &l), 0);
	assert_int_equal(l.vni, 10);
	/* the only address */
	{
		struct in_addr a, b;
		struct sy_cidr net;
		struct in_addr got;

		sy_parse_ip4("10.111.5.0", &a);
		sy_parse_ip4("10.111.6.0", &b);
		assert_int_equal(pn_nl_addr_ensure_only(sk, idx2, a), 0);
		assert_int_equal(pn_nl_addr_ensure_only(sk, idx2, b), 0);
		assert_int_equal(pn_nl_first_addr(sk, idx2, &net, &got), 0);
		assert_string_equal(sy_ip4_str(got), "10.111.6.0");
		assert_int_equal(net.plen, 32);
	}
	assert_int_equal(pn_nl_link_del(sk, "sy-vx.9"), 0);
	assert_int_equal(pn_nl_link_get(sk, "sy-vx.9", &l), -ENODEV);
	assert_int_equal(pn_nl_link_del(sk, "sy-vx.9"), 0);	/* absent = done */
	pn_nl_close(sk);
}

static void test_entries(void **state)
{
	struct nl_sock *sk;
	struct pn_vxlan_spec s = { .name = "sy-vx.1", .vni = 1, .port = 8472, .mtu = 1450,
				   .mac = { 0x5e, 0x79, 10, 200, 0, 1 } };
	struct pn_entry rt = { .type = PN_ROUTE, .onlink = true }, ng = { .type = PN_NEIGH },
			fdb = { .type = PN_FDB }, direct = { .type = PN_ROUTE };
	struct collected c = { .n = 0 };
	bool recreated;
	int vx;

	NEED_NETNS();
	assert_int_equal(pn_nl_open(&sk), 0);
	sy_addr_parse("10.200.0.1", &s.local);
	s.link = (int)if_nametoindex("ul0");
	vx = pn_nl_vxlan_ensure(sk, &s, &recreated);
	assert_true(vx > 0);
	assert_int_equal(pn_nl_addr_ensure_only(sk, vx, (struct in_addr){ htonl(0x0a6f0100) }), 0);
	sy_cidr_parse("10.111.2.0/24", &rt.dst);
	rt.gw = rt.dst.addr;
	rt.ifindex = vx;
	ng.dst = (struct sy_cidr){ rt.dst.addr, 32, { 0 } };
	ng.ifindex = vx;
	memcpy(ng.mac, (uint8_t[]){ 0x5e, 0x79, 10, 200, 0, 2 }, 6);
	fdb.ifindex = vx;
	memcpy(fdb.mac, ng.mac, 6);
	sy_addr_parse_family("10.200.0.2", AF_INET, &fdb.gw);
	sy_cidr_parse("10.111.3.0/24", &direct.dst);
	sy_addr_parse_family("10.200.0.3", AF_INET, &direct.gw);
	direct.ifindex = (int)if_nametoindex("ul0");

	assert_int_equal(pn_nl_entry_add(sk, &rt), 0);
	assert_int_equal(pn_nl_entry_add(sk, &ng), 0);
	assert_int_equal(pn_nl_entry_add(sk, &fdb), 0);
	assert_int_equal(pn_nl_entry_add(sk, &direct), 0);
	/* idempotent adds */
	assert_int_equal(pn_nl_entry_add(sk, &rt), 0);
	assert_int_equal(pn_nl_entry_add(sk, &fdb), 0);
	/* a route that is not ours is never reported */
	assert_int_equal(system("ip route add 10.99.0.0/24 via 10.200.0.9 dev ul0"), 0);
	assert_int_equal(pn_nl_dump(sk, vx, collect, &c), 0);
	assert_int_equal(c.n, 4);
	assert_true(has(&c, &rt));
	assert_true(has(&c, &ng));
	assert_true(has(&c, &fdb));
	assert_true(has(&c, &direct));
	/* replace in place: the FDB entry moves to another remote */
	sy_addr_parse_family("10.200.0.22", AF_INET, &fdb.gw);
	assert_int_equal(pn_nl_entry_add(sk, &fdb), 0);
	c.n = 0;
	assert_int_equal(pn_nl_dump(sk, vx, collect, &c), 0);
	assert_int_equal(count_type(&c, PN_FDB), 1);
	assert_true(has(&c, &fdb));
	/* deletes, twice */
	assert_int_equal(pn_nl_entry_del(sk, &rt), 0);
	assert_int_equal(pn_nl_entry_del(sk, &ng), 0);
	assert_int_equal(pn_nl_entry_del(sk, &fdb), 0);
	assert_int_equal(pn_nl_entry_del(sk, &direct), 0);
	assert_int_equal(pn_nl_entry_del(sk, &rt), 0);
	assert_int_equal(pn_nl_entry_del(sk, &fdb), 0);
	c.n = 0;
	assert_int_equal(pn_nl_dump(sk, vx, collect, &c), 0);
	assert_int_equal(c.n, 0);
	assert_int_equal(system("ip route show 10.99.0.0/24 | grep -q 10.200.0.9"), 0);
	pn_nl_link_del(sk, "sy-vx.1");
	pn_nl_close(sk);
}

static void test_iptables(void **state)
{
	struct sy_cidr net;
	bool changed;

	NEED_NETNS();
	sy_cidr_parse("10.111.0.0/16", &net);
	assert_int_equal(podnet_ipt_ensure(AF_INET, &net, &changed), 0);
	assert_true(changed);
	assert_int_equal(podnet_ipt_ensure(AF_INET, &net, &changed), 0);
	assert_false(changed);
	assert_int_equal(system("iptables-legacy-save -t nat | grep -qx -- "
				"'-A SY-PODNET-MASQ -s 10.111.0.0/16 -j MASQUERADE --random-fully'"), 0);
	assert_int_equal(system("iptables-legacy-save -t filter | grep -qx -- "
				"'-A SY-PODNET-FWD -d 10.111.0.0/16 -j ACCEPT'"), 0);
	/* a rule removed by hand: rewritten */
	assert_int_equal(system("iptables-legacy -t nat -D SY-PODNET-MASQ 1"), 0);
	assert_int_equal(podnet_ipt_ensure(AF_INET, &net, &changed), 0);
	assert_true(changed);
	assert_int_equal(system("test $(iptables-legacy-save -t nat | grep -c -- '-A SY-PODNET-MASQ') = 3"),
			 0);
	assert_int_equal(system("test $(iptables-legacy-save -t nat | grep -c -- '-j SY-PODNET-MASQ') = 1"),
			 0);
	/* nothing to do: found in place without writing */
	assert_int_equal(podnet_ipt_ensure(AF_INET, &net, &changed), 0);
	assert_false(changed);
	/* the jump removed by hand, a foreign chain and rules around ours */
	assert_int_equal(system("iptables-legacy -t nat -D POSTROUTING -j SY-PODNET-MASQ && "
				"iptables-legacy -t nat -N AA-OTHER && "
				"iptables-legacy -t nat -A AA-OTHER -s 10.1.0.0/16 -j RETURN && "
				"iptables-legacy -t nat -A POSTROUTING -j AA-OTHER"), 0);
	assert_int_equal(podnet_ipt_ensure(AF_INET, &net, &changed), 0);
	assert_true(changed);
	assert_int_equal(system("test $(iptables-legacy-save -t nat | grep -c -- '-j SY-PODNET-MASQ') = 1"),
			 0);
	assert_int_equal(podnet_ipt_ensure(AF_INET, &net, &changed), 0);
	assert_false(changed);
	/* a rule swapped for another (same count), an extra rule appended */
	assert_int_equal(system("iptables-legacy -t filter -R SY-PODNET-FWD 2 -d 10.112.0.0/16 -j ACCEPT"), 0);
	assert_int_equal(podnet_ipt_ensure(AF_INET, &net, &changed), 0);
	assert_true(changed);
	assert_int_equal(system("iptables-legacy-save -t filter | grep -qx -- "
				"'-A SY-PODNET-FWD -d 10.111.0.0/16 -j ACCEPT'"), 0);
	assert_int_equal(system("iptables-legacy -t nat -A SY-PODNET-MASQ -j ACCEPT"), 0);
	assert_int_equal(podnet_ipt_ensure(AF_INET, &net, &changed), 0);
	assert_true(changed);
	assert_int_equal(system("test $(iptables-legacy-save -t nat | grep -c -- '-A SY-PODNET-MASQ') = 3"),
			 0);
	/* the foreign chain is kept */
	assert_int_equal(system("iptables-legacy-save -t nat | grep -qx -- '-A POSTROUTING -j AA-OTHER'"), 0);
	assert_int_equal(podnet_ipt_remove(AF_INET), 0);
	assert_int_equal(podnet_ipt_remove(AF_INET), 0);
	assert_int_equal(system("iptables-legacy-save | grep -q SY-PODNET"), 256);
}

/* IPv6 entries: a route through the tunnel (onlink) and its neighbour, a host-gw route via an
 * IPv6 gateway on the underlay, the tunnel's /128; each read back by the dump, then deleted. */
static void test_entries6(void **state)
{
	struct nl_sock *sk;
	struct pn_vxlan_spec s = { .name = "sy-vx.7", .vni = 7, .port = 8472, .mtu = 1450,
				   .mac = { 0x5e, 0x79, 10, 200, 0, 1 } };
	struct pn_entry rt = { .type = PN_ROUTE, .onlink = true }, ng = { .type = PN_NEIGH },
			hg = { .type = PN_ROUTE };
	struct collected c = { .n = 0 };
	struct sy_addr own;
	bool recreated;
	int vx;

	NEED_NETNS();
	assert_int_equal(pn_nl_open(&sk), 0);
	assert_int_equal(system("ip addr add fd00:200::1/64 dev ul0 nodad"), 0);
	sy_addr_parse("10.200.0.1", &s.local);
	s.link = (int)if_nametoindex("ul0");
	vx = pn_nl_vxlan_ensure(sk, &s, &recreated);
	assert_true(vx > 0);
	sy_addr_parse("fd00:10:244:1::", &own);
	assert_int_equal(pn_nl_addr6_ensure_only(sk, vx, &own), 0);
	assert_int_equal(pn_nl_addr6_ensure_only(sk, vx, &own), 0);
	assert_int_equal(system("ip -6 addr show dev sy-vx.7 scope global | grep -c inet6 | grep -qx 1 && "
				"ip -6 addr show dev sy-vx.7 | grep -q 'inet6 fd00:10:244:1::/128'"), 0);
	sy_cidr_parse("fd00:10:244:2::/64", &rt.dst);
	rt.gw = rt.dst.addr;
	rt.ifindex = vx;
	ng.dst = (struct sy_cidr){ rt.dst.addr, 128, { 0 } };
	ng.ifindex = vx;
	memcpy(ng.mac, (uint8_t[]){ 0x5e, 0x79, 10, 200, 0, 2 }, 6);
	sy_cidr_parse("fd00:10:244:3::/64", &hg.dst);
	sy_addr_parse("fd00:200::3", &hg.gw);
	hg.ifindex = (int)if_nametoindex("ul0");
	assert_int_equal(pn_nl_entry_add(sk, &rt), 0);
	assert_int_equal(pn_nl_entry_add(sk, &ng), 0);
	assert_int_equal(pn_nl_entry_add(sk, &hg), 0);
	assert_int_equal(pn_nl_entry_add(sk, &hg), 0);	/* idempotent */
	assert_int_equal(system("ip -6 route show proto 94 | grep -q "
				"'fd00:10:244:2::/64 via fd00:10:244:2:: dev sy-vx.7 .*onlink'"), 0);
	assert_int_equal(system("ip -6 neigh show dev sy-vx.7 | grep -q "
				"'fd00:10:244:2:: lladdr 5e:79:0a:c8:00:02 PERMANENT'"), 0);
	assert_int_equal(pn_nl_dump(sk, vx, collect, &c), 0);
	assert_int_equal(c.n, 3);
	assert_true(has(&c, &rt));
	assert_true(has(&c, &ng));
	assert_true(has(&c, &hg));
	/* an IPv6 route with an IPv4 gateway is refused, not half written */
	{
		struct pn_entry bad = hg;

		bad.gw = sy_addr4_host(0x0ac80003);
		assert_int_equal(pn_nl_entry_add(sk, &bad), -EINVAL);
	}
	assert_int_equal(pn_nl_entry_del(sk, &rt), 0);
	assert_int_equal(pn_nl_entry_del(sk, &ng), 0);
	assert_int_equal(pn_nl_entry_del(sk, &hg), 0);
	assert_int_equal(pn_nl_entry_del(sk, &hg), 0);
	c.n = 0;
	assert_int_equal(pn_nl_dump(sk, vx, collect, &c), 0);
	assert_int_equal(c.n, 0);
	pn_nl_link_del(sk, "sy-vx.7");
	assert_int_equal(system("ip addr del fd00:200::1/64 dev ul0"), 0);
	pn_nl_close(sk);
}

/* vxlan over an IPv6 underlay: the device's IPv6 local read back, an FDB
 * entry with an IPv6 remote and the entries of two devices in one dump. */
static void test_vxlan6(void **state)
{
	struct nl_sock *sk;
	struct pn_vxlan_spec s4 = { .name = "sy-vx.5", .vni = 5, .port = 8472, .mtu = 1450,
				    .mac = { 0x5e, 0x79, 10, 200, 0, 1 } };
	struct pn_vxlan_spec s6 = { .name = "sy-vx6.5", .vni = 5, .port = 8472, .mtu = 1430 };
	struct pn_entry rt = { .type = PN_ROUTE, .onlink = true }, ng = { .type = PN_NEIGH },
			fdb = { .type = PN_FDB }, fdb4 = { .type = PN_FDB };
	struct collected c = { .n = 0 };
	struct pn_link l;
	struct sy_addr own;
	bool recreated;
	int vx, vx6;

	NEED_NETNS();
	assert_int_equal(pn_nl_open(&sk), 0);
	assert_int_equal(system("ip addr add fd00:200::1/64 dev ul0 nodad"), 0);
	sy_addr_parse("10.200.0.1", &s4.local);
	sy_addr_parse("fd00:200::1", &s6.local);
	podnet_vtep_mac6(&s6.local, s6.mac);
	s4.link = s6.link = (int)if_nametoindex("ul0");
	vx = pn_nl_vxlan_ensure(sk, &s4, &recreated);
	assert_true(vx > 0);
	vx6 = pn_nl_vxlan_ensure(sk, &s6, &recreated);
	assert_true(vx6 > 0 && vx6 != vx);
	assert_true(recreated);
	assert_int_equal(pn_nl_link_get(sk, "sy-vx6.5", &l), 0);
	assert_true(l.is_vxlan);
	assert_string_equal(sy_addr_str(&l.local), "fd00:200::1");
	assert_int_equal(l.mtu, 1430);
	assert_memory_equal(l.mac, ((uint8_t[]){ 0x5e, 0x76, 0, 0, 0, 1 }), 6);
	assert_int_equal(pn_nl_vxlan_ensure(sk, &s6, &recreated), vx6);
	assert_false(recreated);
	assert_int_equal(system("ip -d link show sy-vx6.5 | grep -q 'vxlan id 5 local fd00:200::1 dev ul0'"),
			 0);
	/* another IPv6 local: recreated */
	assert_int_equal(system("ip addr add fd00:200::2/64 dev ul0 nodad"), 0);
	sy_addr_parse("fd00:200::2", &s6.local);
	vx6 = pn_nl_vxlan_ensure(sk, &s6, &recreated);
	assert_true(vx6 > 0);
	assert_true(recreated);
	assert_int_equal(system("ip -d link show sy-vx6.5 | grep -q 'local fd00:200::2 '"), 0);
	sy_addr_parse("fd00:10:244:1::", &own);
	assert_int_equal(pn_nl_addr6_ensure_only(sk, vx6, &own), 0);
	sy_cidr_parse("fd00:10:244:2::/64", &rt.dst);
	rt.gw = rt.dst.addr;
	rt.ifindex = ng.ifindex = fdb.ifindex = vx6;
	ng.dst = (struct sy_cidr){ rt.dst.addr, 128, { 0 } };
	memcpy(ng.mac, (uint8_t[]){ 0x5e, 0x76, 0, 0, 0, 3 }, 6);
	memcpy(fdb.mac, ng.mac, 6);
	sy_addr_parse("fd00:200::3", &fdb.gw);
	fdb4.ifindex = vx;
	memcpy(fdb4.mac, (uint8_t[]){ 0x5e, 0x79, 10, 200, 0, 3 }, 6);
	sy_addr_parse("10.200.0.3", &fdb4.gw);
	assert_int_equal(pn_nl_entry_add(sk, &rt), 0);
	assert_int_equal(pn_nl_entry_add(sk, &ng), 0);
	assert_int_equal(pn_nl_entry_add(sk, &fdb), 0);
	assert_int_equal(pn_nl_entry_add(sk, &fdb), 0);	/* idempotent */
	assert_int_equal(pn_nl_entry_add(sk, &fdb4), 0);
	assert_int_equal(system("bridge fdb show dev sy-vx6.5 | grep -q "
				"'5e:76:00:00:00:03 dst fd00:200::3 self permanent'"), 0);
	assert_int_equal(pn_nl_dump_devs(sk, (const int[]){ vx, vx6 }, 2, collect, &c), 0);
	assert_int_equal(c.n, 4);
	assert_true(has(&c, &rt));
	assert_true(has(&c, &ng));
	assert_true(has(&c, &fdb));
	assert_true(has(&c, &fdb4));
	/* one device only: the other's neighbours/FDB are not ours to see */
	c.n = 0;
	assert_int_equal(pn_nl_dump(sk, vx, collect, &c), 0);
	assert_int_equal(c.n, 2);
	assert_true(has(&c, &fdb4));
	assert_int_equal(pn_nl_entry_del(sk, &fdb), 0);
	assert_int_equal(pn_nl_entry_del(sk, &fdb), 0);
	assert_int_equal(system("bridge fdb show dev sy-vx6.5 | grep -q 'dst fd00:200::3'"), 256);
	pn_nl_link_del(sk, "sy-vx6.5");
	pn_nl_link_del(sk, "sy-vx.5");
	assert_int_equal(system("ip addr del fd00:200::1/64 dev ul0 && ip addr del fd00:200::2/64 dev ul0"),
			 0);
	pn_nl_close(sk);
}

/* The ip6tables chains (libip6tc): written once, found in place, repaired, removed. */
static void test_ip6tables(void **state)
{
	struct sy_cidr net;
	bool changed;

	NEED_NETNS();
	sy_cidr_parse("fd00:10:244::/56", &net);
	assert_int_equal(podnet_ipt_ensure(AF_INET6, &net, &changed), 0);
	assert_true(changed);
	assert_int_equal(podnet_ipt_ensure(AF_INET6, &net, &changed), 0);
	assert_false(changed);
	assert_int_equal(system("ip6tables-legacy-save -t nat | grep -qx -- "
				"'-A SY-PODNET-MASQ -s fd00:10:244::/56 -j MASQUERADE --random-fully'"), 0);
	assert_int_equal(system("ip6tables-legacy-save -t nat | grep -qx -- "
				"'-A SY-PODNET-MASQ -s fd00:10:244::/56 -d ff00::/8 -j RETURN'"), 0);
	assert_int_equal(system("ip6tables-legacy-save -t filter | grep -qx -- "
				"'-A SY-PODNET-FWD -d fd00:10:244::/56 -j ACCEPT'"), 0);
	/* the IPv4 tables are not touched */
	assert_int_equal(system("iptables-legacy-save | grep -q SY-PODNET"), 256);
	/* a rule swapped, the jump removed: rewritten */
	assert_int_equal(system("ip6tables-legacy -t filter -R SY-PODNET-FWD 2 -d fd00:99::/56 -j ACCEPT"), 0);
	assert_int_equal(podnet_ipt_ensure(AF_INET6, &net, &changed), 0);
	assert_true(changed);
	assert_int_equal(system("ip6tables-legacy-save -t filter | grep -qx -- "
				"'-A SY-PODNET-FWD -d fd00:10:244::/56 -j ACCEPT'"), 0);
	assert_int_equal(system("ip6tables-legacy -t nat -D POSTROUTING -j SY-PODNET-MASQ"), 0);
	assert_int_equal(podnet_ipt_ensure(AF_INET6, &net, &changed), 0);
	assert_true(changed);
	assert_int_equal(system("test $(ip6tables-legacy-save -t nat | grep -c -- '-j SY-PODNET-MASQ') = 1"),
			 0);
	/* found in place (the kernel's blob read as ip6t entries), an extra rule, a foreign chain */
	assert_int_equal(podnet_ipt_ensure(AF_INET6, &net, &changed), 0);
	assert_false(changed);
	assert_int_equal(system("ip6tables-legacy -t nat -N AA-OTHER && "
				"ip6tables-legacy -t nat -A POSTROUTING -j AA-OTHER && "
				"ip6tables-legacy -t nat -A SY-PODNET-MASQ -j ACCEPT"), 0);
	assert_int_equal(podnet_ipt_ensure(AF_INET6, &net, &changed), 0);
	assert_true(changed);
	assert_int_equal(system("test $(ip6tables-legacy-save -t nat | grep -c -- '-A SY-PODNET-MASQ') = 3"),
			 0);
	assert_int_equal(podnet_ipt_ensure(AF_INET6, &net, &changed), 0);
	assert_false(changed);
	assert_int_equal(podnet_ipt_remove(AF_INET6), 0);
	assert_int_equal(system("ip6tables-legacy-save -t nat | grep -qx -- '-A POSTROUTING -j AA-OTHER'"), 0);
	assert_int_equal(podnet_ipt_remove(AF_INET6), 0);
	assert_int_equal(system("ip6tables-legacy-save | grep -q SY-PODNET"), 256);
}

static void node(struct cache *c, const char *name, const char *ip, const char *cidr,
		 const char *ann)
{
	char buf[768];
	struct json_object *o;
	char addrs[128] = "";

	if (ip)
		snprintf(addrs, sizeof(addrs), "{\"type\":\"InternalIP\",\"address\":\"%s\"}", ip);
	snprintf(buf, sizeof(buf),
		 "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"%s\","
		 "\"annotations\":{%s}},\"spec\":{%s%s%s},\"status\":{\"addresses\":[%s]}}",
		 name, ann ? ann : "", cidr ? "\"podCIDR\":\"" : "", cidr ? cidr : "",
		 cidr ? "\"" : "", addrs);
	o = J(buf);
	assert_int_equal(cache_apply(c, SY_KIND_NODE, CACHE_UPSERT, o), 0);
	json_object_put(o);
}

static void gone(struct cache *c, const char *name)
{
	char buf[256];
	struct json_object *o;

	snprintf(buf, sizeof(buf), "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"%s\"}}",
		 name);
	o = J(buf);
	cache_apply(c, SY_KIND_NODE, CACHE_DELETE, o);
	json_object_put(o);
}

/* The kernel's entries, as "r DST GW DEV" / "n DST MAC" / "f MAC GW" lines, sorted. */
static char *kernel_state(void)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = popen("(ip route show proto 94; ip neigh show dev sy-vx.1 nud permanent; "
			"bridge fdb show dev sy-vx.1 | grep ' dst ') 2>/dev/null | "
			"awk '{$1=$1};1' | sort", "r");

	assert_non_null(f);
	if (getdelim(&out, &len, '\0', f) < 0) {
		free(out);
		out = xstrdup("");
	}
	pclose(f);
	return out;
}

static void expect_kernel(const char *want)
{
	char *got = kernel_state();

	if (strcmp(got, want) != 0)
		fail_msg("kernel:\n%s\nwant:\n%s", got, want);
	free(got);
}

static char reports[16384];	/* "S:msg\n" per report */

static void on_report(void *arg, char sev, const char *msg)
{
	size_t n = strlen(reports);

	snprintf(reports + n, sizeof(reports) - n, "%c:%s\n", sev, msg);
}

static void expect_report(const char *want)
{
	if (!strstr(reports, want))
		fail_msg("no report \"%s\" in:\n%s", want, reports);
}

static void test_sync(void **state)
{
	const struct sy_report report = { on_report, NULL };
	struct sy_config cfg;
	struct podnet *p;
	struct cache *c;
	char path[300], err[256];
	FILE *f;

	NEED_NETNS();
	log_verbosity = -1;
	snprintf(path, sizeof(path), "%s/net-conf.json", tmpdir);
	f = fopen(path, "w");
	fputs("{\"Network\":\"10.111.0.0/16\",\"Backend\":{\"Type\":\"vxlan\",\"DirectRouting\":true}}", f);
	fclose(f);
	config_init(&cfg);
	free(cfg.net_conf);
	cfg.net_conf = xstrdup(path);
	snprintf(path, sizeof(path), "%s/subnet.env", tmpdir);
	free(cfg.subnet_file);
	cfg.subnet_file = xstrdup(path);
	snprintf(path, sizeof(path), "%s/cni", tmpdir);
	free(cfg.cni_conf_dir);
	cfg.cni_conf_dir = xstrdup(path);
	assert_int_equal(podnet_new(&p, &cfg, "self", &report, err, sizeof(err)), 0);
	c = cache_new(NULL, NULL);

	/* no Node yet, then no podCIDR: nothing happens */
	assert_int_equal(podnet_sync(p, c, false, err, sizeof(err)), 0);
	node(c, "self", "10.200.0.1", NULL, NULL);
	assert_int_equal(podnet_sync(p, c, false, err, sizeof(err)), 0);
	assert_int_equal(system("ip link show sy-vx.1 >/dev/null 2>&1"), 256);

	node(c, "self", "10.200.0.1", "10.111.1.0/24", NULL);
	node(c, "a", "10.200.0.2", "10.111.2.0/24", NULL);		/* on-link: direct */
	node(c, "b", "10.201.0.3", "10.111.3.0/24", NULL);		/* elsewhere: tunnel */
	node(c, "bad", "10.200.0.4", "10.112.4.0/24", NULL);		/* outside Network */
	assert_int_equal(podnet_sync(p, c, false, err, sizeof(err)), 0);
	/* what the sync did besides its result goes to the owner, not to a log */
	expect_report("I:pod network: peer a subnet 10.111.2.0/24 via 10.200.0.2\n");
	expect_report("I:pod network: peer b subnet 10.111.3.0/24 via 10.201.0.3 (vxlan)\n");
	expect_report("E:pod network: node bad: 10.112.4.0/24 is not inside Network "
		      "10.111.0.0/16; ignored\n");
	expect_kernel("10.111.2.0/24 via 10.200.0.2 dev ul0\n"
		      "10.111.3.0 lladdr 5e:79:0a:c9:00:03 PERMANENT\n"
		      "10.111.3.0/24 via 10.111.3.0 dev sy-vx.1 onlink\n"
		      "5e:79:0a:c9:00:03 dst 10.201.0.3 self permanent\n");
	/* b moves and announces its own MAC; a leaves; bad is fixed */
	node(c, "b", "10.201.0.33", "10.111.3.0/24",
	     "\"switchyard.io/backend-data\":\"{\\\"VNI\\\":1,\\\"VtepMAC\\\":\\\"62:00:00:00:00:03\\\"}\"");
	gone(c, "a");
	node(c, "bad", "10.200.0.4", "10.111.4.0/24", NULL);
	assert_int_equal(podnet_sync(p, c, false, err, sizeof(err)), 0);
	expect_report("I:pod network: peer a left\n");
	expect_kernel("10.111.3.0 lladdr 62:00:00:00:00:03 PERMANENT\n"
		      "10.111.3.0/24 via 10.111.3.0 dev sy-vx.1 onlink\n"
		      "10.111.4.0/24 via 10.200.0.4 dev ul0\n"
		      "62:00:00:00:00:03 dst 10.201.0.33 self permanent\n");
	/* drift: removed and foreign entries are repaired only by a full sync */
	assert_int_equal(system("ip route del 10.111.4.0/24 && "
				"ip route add 10.111.9.0/24 via 10.200.0.9 dev ul0 proto 94"), 0);
	assert_int_equal(podnet_sync(p, c, false, err, sizeof(err)), 0);
	assert_int_equal(system("ip route show proto 94 | grep -q 10.111.9.0"), 0);
	assert_int_equal(podnet_sync(p, c, true, err, sizeof(err)), 0);
	expect_kernel("10.111.3.0 lladdr 62:00:00:00:00:03 PERMANENT\n"
		      "10.111.3.0/24 via 10.111.3.0 dev sy-vx.1 onlink\n"
		      "10.111.4.0/24 via 10.200.0.4 dev ul0\n"
		      "62:00:00:00:00:03 dst 10.201.0.33 self permanent\n");
	/* a new instance (restart) finds everything in place */
	podnet_free(p);
	assert_int_equal(podnet_new(&p, &cfg, "self", &report, err, sizeof(err)), 0);
	assert_int_equal(podnet_sync(p, c, false, err, sizeof(err)), 0);
	expect_kernel("10.111.3.0 lladdr 62:00:00:00:00:03 PERMANENT\n"
		      "10.111.3.0/24 via 10.111.3.0 dev sy-vx.1 onlink\n"
		      "10.111.4.0/24 via 10.200.0.4 dev ul0\n"
		      "62:00:00:00:00:03 dst 10.201.0.33 self permanent\n");
	/* a second Node claims b's podCIDR: the smaller name ("aa") gets it, in one sync
	 * (b's entries go before aa's are written, whatever the order) */
	node(c, "aa", "10.201.0.5", "10.111.3.0/24", NULL);
	assert_int_equal(podnet_sync(p, c, false, err, sizeof(err)), 0);
	expect_kernel("10.111.3.0 lladdr 5e:79:0a:c9:00:05 PERMANENT\n"
		      "10.111.3.0/24 via 10.111.3.0 dev sy-vx.1 onlink\n"
		      "10.111.4.0/24 via 10.200.0.4 dev ul0\n"
		      "5e:79:0a:c9:00:05 dst 10.201.0.5 self permanent\n");
	/* aa leaves: b gets it back */
	gone(c, "aa");
	assert_int_equal(podnet_sync(p, c, false, err, sizeof(err)), 0);
	expect_kernel("10.111.3.0 lladdr 62:00:00:00:00:03 PERMANENT\n"
		      "10.111.3.0/24 via 10.111.3.0 dev sy-vx.1 onlink\n"
		      "10.111.4.0/24 via 10.200.0.4 dev ul0\n"
		      "62:00:00:00:00:03 dst 10.201.0.33 self permanent\n");
	/* subnets swap between two peers in one sync */
	node(c, "bad", "10.200.0.4", "10.111.3.0/24", NULL);
	node(c, "b", "10.201.0.33", "10.111.4.0/24",
	     "\"switchyard.io/backend-data\":\"{\\\"VNI\\\":1,\\\"VtepMAC\\\":\\\"62:00:00:00:00:03\\\"}\"");
	assert_int_equal(podnet_sync(p, c, false, err, sizeof(err)), 0);
	expect_kernel("10.111.3.0/24 via 10.200.0.4 dev ul0\n"
		      "10.111.4.0 lladdr 62:00:00:00:00:03 PERMANENT\n"
		      "10.111.4.0/24 via 10.111.4.0 dev sy-vx.1 onlink\n"
		      "62:00:00:00:00:03 dst 10.201.0.33 self permanent\n");
	/* public-ip annotation wins over InternalIP; peers without a usable address are skipped */
	node(c, "pub", "10.200.0.7", "10.111.7.0/24", "\"switchyard.io/public-ip\":\"10.200.0.77\"");
	node(c, "noaddr", NULL, "10.111.8.0/24", NULL);
	node(c, "badip", "10.200.0.9", "10.111.9.0/24", "\"switchyard.io/public-ip\":\"x\"");
	node(c, "other", "10.200.0.10", "10.111.10.0/24",
	     "\"switchyard.io/backend-type\":\"host-gw\"");		/* not our backend */
	node(c, "fl", "10.200.0.11", "10.111.11.0/24",
	     "\"flannel.alpha.coreos.com/public-ip\":\"10.200.0.111\"");	/* flannel's name */
	assert_int_equal(podnet_sync(p, c, false, err, sizeof(err)), 0);
	expect_kernel("10.111.11.0/24 via 10.200.0.111 dev ul0\n"
		      "10.111.3.0/24 via 10.200.0.4 dev ul0\n"
		      "10.111.4.0 lladdr 62:00:00:00:00:03 PERMANENT\n"
		      "10.111.4.0/24 via 10.111.4.0 dev sy-vx.1 onlink\n"
		      "10.111.7.0/24 via 10.200.0.77 dev ul0\n"
		      "62:00:00:00:00:03 dst 10.201.0.33 self permanent\n");
	/* a failure: the first error with its context, for the caller to log */
	assert_int_equal(unlink(cfg.subnet_file), 0);
	assert_int_equal(mkdir(cfg.subnet_file, 0755), 0);
	assert_int_equal(podnet_sync(p, c, true, err, sizeof(err)), -EISDIR);
	snprintf(path, sizeof(path), "writing %s: %s", cfg.subnet_file, strerror(EISDIR));
	assert_string_equal(err, path);
	assert_int_equal(rmdir(cfg.subnet_file), 0);
	assert_int_equal(podnet_sync(p, c, true, err, sizeof(err)), 0);
	podnet_free(p);
	/* cleanup */
	assert_int_equal(podnet_cleanup(&cfg, err, sizeof(err)), 0);
	expect_kernel("");
	assert_int_equal(system("ip link show sy-vx.1 >/dev/null 2>&1"), 256);
	assert_int_equal(access(cfg.subnet_file, F_OK), -1);
	cache_free(c);
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vxlan_device),
		cmocka_unit_test(test_entries),
		cmocka_unit_test(test_iptables),
		cmocka_unit_test(test_entries6),
		cmocka_unit_test(test_vxlan6),
		cmocka_unit_test(test_ip6tables),
		cmocka_unit_test(test_sync),
	};

	return cmocka_run_group_tests(tests, setup_netns, teardown_netns);
}
