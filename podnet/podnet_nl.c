// SPDX-License-Identifier: Apache-2.0
/*
 * The pod network's rtnetlink layer over libnl-route: the vxlan device,
 * routes (tagged with PODNET_RTPROT), permanent neighbours and vxlan FDB
 * entries.  Returns -errno; logs nothing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <netlink/netlink.h>
#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/vxlan.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include "switchyard/nlerr.h"
#include "switchyard/podnet.h"
#include "podnet_int.h"

void pn_entry_key(const struct pn_entry *e, char *buf, size_t len)
{
	char mac[18];

	switch (e->type) {
	case PN_ROUTE:
		snprintf(buf, len, "r %s/%u", sy_addr_str(&e->dst.addr), e->dst.plen);
		break;
	case PN_NEIGH:
		snprintf(buf, len, "n %d %s", e->ifindex, sy_addr_str(&e->dst.addr));
		break;
	case PN_FDB:
		podnet_format_mac(e->mac, mac);
		snprintf(buf, len, "f %d %s", e->ifindex, mac);
		break;
	}
}

bool pn_entry_equal(const struct pn_entry *a, const struct pn_entry *b)
{
	if (a->type != b->type || a->ifindex != b->ifindex)
		return false;
	switch (a->type) {
	case PN_ROUTE:
		return sy_addr_eq(&a->dst.addr, &b->dst.addr) && a->dst.plen == b->dst.plen &&
		       sy_addr_eq(&a->gw, &b->gw) && a->onlink == b->onlink;
	case PN_NEIGH:
		return sy_addr_eq(&a->dst.addr, &b->dst.addr) && !memcmp(a->mac, b->mac, 6);
	case PN_FDB:
		return sy_addr_eq(&a->gw, &b->gw) && !memcmp(a->mac, b->mac, 6);
	}
	return false;
}

void pn_entry_str(const struct pn_entry *e, char *buf, size_t len)
{
	char mac[18];

	podnet_format_mac(e->mac, mac);
	switch (e->type) {
	case PN_ROUTE:
		snprintf(buf, len, "route %s/%u via %s dev #%d%s", sy_addr_str(&e->dst.addr),
			 e->dst.plen, sy_addr_str(&e->gw), e->ifindex, e->onlink ? " onlink" : "");
		break;
	case PN_NEIGH:
		snprintf(buf, len, "neigh %s lladdr %s dev #%d", sy_addr_str(&e->dst.addr), mac,
			 e->ifindex);
		break;
	case PN_FDB:
		snprintf(buf, len, "fdb %s dst %s dev #%d", mac, sy_addr_str(&e->gw), e->ifindex);
		break;
	}
}

int pn_nl_open(struct nl_sock **ret)
{
	int r = sy_nl_route_open(ret);

	if (r == 0)	/* large dumps (1000s of routes) in one go */
		nl_socket_set_msg_buf_size(*ret, 64 << 10);
	return r;
}

void pn_nl_close(struct nl_sock *sk)
{
	if (sk)
		nl_socket_free(sk);
}

/* An address of either family; plen < 0: the full length. */
static struct nl_addr *addr_any(const struct sy_addr *a, int plen)
{
	struct nl_addr *n = nl_addr_build(a->family, a->b, sy_addr_len(a));

	if (n)
		nl_addr_set_prefixlen(n, plen < 0 ? (int)sy_addr_bits(a) : plen);
	return n;
}

static struct nl_addr *addr_mac(const uint8_t mac[6])
{
	return nl_addr_build(AF_LLC, mac, 6);
}

static int build_route(const struct pn_entry *e, bool with_nh, struct rtnl_route **ret)
{
	struct rtnl_route *rt = rtnl_route_alloc();
	struct rtnl_nexthop *nh;
	struct nl_addr *dst = NULL, *gw = NULL;
	int r = -ENOMEM;

	if (!rt)
		return -ENOMEM;
	if (!sy_addr_is_set(&e->dst.addr) || (with_nh && e->gw.family != e->dst.addr.family)) {
		r = -EINVAL;
		goto fail;
	}
	dst = addr_any(&e->dst.addr, e->dst.plen);
	if (!dst)
		goto fail;
	rtnl_route_set_family(rt, e->dst.addr.family);
	rtnl_route_set_table(rt, RT_TABLE_MAIN);
	rtnl_route_set_protocol(rt, PODNET_RTPROT);
	r = sy_nl_errno(rtnl_route_set_dst(rt, dst));
	if (r < 0)
		goto fail;
	/* Every route of ours has a gateway: universe scope (libnl would guess "link" for a delete). */
	rtnl_route_set_scope(rt, RT_SCOPE_UNIVERSE);
	rtnl_route_set_type(rt, RTN_UNICAST);
	if (with_nh) {
		nh = rtnl_route_nh_alloc();
		gw = addr_any(&e->gw, -1);
		if (!nh || !gw) {
			rtnl_route_nh_free(nh);
			r = -ENOMEM;
			goto fail;
		}
		rtnl_route_nh_set_ifindex(nh, e->ifindex);
		rtnl_route_nh_set_gateway(nh, gw);
		if (e->onlink)
			rtnl_route_nh_set_flags(nh, RTNH_F_ONLINK);
		rtnl_route_add_nexthop(rt, nh);
	}
	nl_addr_put(dst);
	nl_addr_put(gw);
	*ret = rt;
	return 0;
fail:
	nl_addr_put(dst);
	nl_addr_put(gw);
	rtnl_route_put(rt);
	return r;
}

static int build_neigh(const struct pn_entry *e, struct rtnl_neigh **ret)
{
	struct rtnl_neigh *n = rtnl_neigh_alloc();
	struct nl_addr *dst, *ll;
	int r;

	if (!n)
		return -ENOMEM;
	if (e->type == PN_NEIGH)
		dst = addr_any(&e->dst.addr, -1);
	else
		dst = addr_any(&e->gw, -1);
	ll = addr_mac(e->mac);
	if (!dst || !ll) {
		r = -ENOMEM;
		goto out;
	}
	rtnl_neigh_set_ifindex(n, e->ifindex);
	r = sy_nl_errno(rtnl_neigh_set_dst(n, dst));
	if (r < 0)
		goto out;
	rtnl_neigh_set_lladdr(n, ll);
	rtnl_neigh_set_state(n, NUD_PERMANENT);
	if (e->type == PN_FDB) {
		/* set after dst: libnl takes the family from the first address */
		rtnl_neigh_set_family(n, AF_BRIDGE);
		rtnl_neigh_set_flags(n, NTF_SELF);
	}
out:
	nl_addr_put(dst);
	nl_addr_put(ll);
	if (r < 0) {
		rtnl_neigh_put(n);
		return r;
	}
	*ret = n;
	return 0;
}

/* Add/replace or delete one entry; the libnl result as -errno. */
static int entry_write(struct nl_sock *sk, const struct pn_entry *e, bool add)
{
	struct rtnl_route *rt;
	struct rtnl_neigh *n;
	int r;

	if (e->type == PN_ROUTE) {
		r = build_route(e, add, &rt);
		if (r < 0)
			return r;
		r = add ? rtnl_route_add(sk, rt, NLM_F_CREATE | NLM_F_REPLACE)
			: rtnl_route_delete(sk, rt, 0);
		rtnl_route_put(rt);
		return sy_nl_errno(r);
	}
	r = build_neigh(e, &n);
	if (r < 0)
		return r;
	r = add ? rtnl_neigh_add(sk, n, NLM_F_CREATE | NLM_F_REPLACE) : rtnl_neigh_delete(sk, n, 0);
	rtnl_neigh_put(n);
	return sy_nl_errno(r);
}

int pn_nl_entry_add(struct nl_sock *sk, const struct pn_entry *e)
{
	return entry_write(sk, e, true);
}

int pn_nl_entry_del(struct nl_sock *sk, const struct pn_entry *e)
{
	int r = entry_write(sk, e, false);

	return r == -ENOENT || r == -ESRCH || r == -ENODEV ? 0 : r;
}

struct dump_ctx {
	pn_entry_fn fn;
	void *arg;
	const int *vx_ifindex;	/* the vxlan devices whose neighbours/FDB are ours */
	unsigned n_vx;
};

/* An IPv4 or IPv6 nl_addr into a zeroed sy_addr. */
static bool nl_to_addr(struct nl_addr *a, struct sy_addr *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (!a)
		return false;
	if (nl_addr_get_family(a) == AF_INET && nl_addr_get_len(a) == 4)
		ret->family = AF_INET;
	else if (nl_addr_get_family(a) == AF_INET6 && nl_addr_get_len(a) == 16)
		ret->family = AF_INET6;
	else
		return false;
	memcpy(ret->b, nl_addr_get_binary_addr(a), sy_addr_len(ret));
	return true;
}

static bool nl_to_mac(struct nl_addr *a, uint8_t mac[6])
{
	if (!a || nl_addr_get_len(a) != 6)
		return false;
	memcpy(mac, nl_addr_get_binary_addr(a), 6);
	return true;
}

static void route_cb(struct nl_object *obj, void *arg)
{
	struct dump_ctx *d = arg;
	struct rtnl_route *rt = (struct rtnl_route *)obj;
	struct rtnl_nexthop *nh;
	struct pn_entry e = { .type = PN_ROUTE };

	if (rtnl_route_get_protocol(rt) != PODNET_RTPROT ||
	    rtnl_route_get_table(rt) != RT_TABLE_MAIN ||
	    (rtnl_route_get_family(rt) != AF_INET && rtnl_route_get_family(rt) != AF_INET6))
		return;
	if (!nl_to_addr(rtnl_route_get_dst(rt), &e.dst.addr)) {
		memset(&e.dst.addr, 0, sizeof(e.dst.addr));	/* a default route */
		e.dst.addr.family = (uint8_t)rtnl_route_get_family(rt);
	}
	e.dst.plen = (uint8_t)nl_addr_get_prefixlen(rtnl_route_get_dst(rt));
	if (rtnl_route_get_nnexthops(rt) >= 1) {
		nh = rtnl_route_nexthop_n(rt, 0);
		e.ifindex = rtnl_route_nh_get_ifindex(nh);
		nl_to_addr(rtnl_route_nh_get_gateway(nh), &e.gw);
		e.onlink = rtnl_route_nh_get_flags(nh) & RTNH_F_ONLINK;
	}
	d->fn(d->arg, &e);
}

static void neigh_cb(struct nl_object *obj, void *arg)
{
	struct dump_ctx *d = arg;
	struct rtnl_neigh *n = (struct rtnl_neigh *)obj;
	struct pn_entry e = { 0 };
	int ifindex = rtnl_neigh_get_ifindex(n);
	unsigned i;

	for (i = 0; i < d->n_vx && (d->vx_ifindex[i] <= 0 || d->vx_ifindex[i] != ifindex); i++)
		;
	if (i == d->n_vx || !(rtnl_neigh_get_state(n) & NUD_PERMANENT))
		return;
	e.ifindex = ifindex;
	if (rtnl_neigh_get_family(n) == AF_BRIDGE) {
		e.type = PN_FDB;
		if (!nl_to_addr(rtnl_neigh_get_dst(n), &e.gw))
			return;		/* no remote: not ours */
		if (!nl_to_mac(rtnl_neigh_get_lladdr(n), e.mac))
			return;
	} else if (rtnl_neigh_get_family(n) == AF_INET || rtnl_neigh_get_family(n) == AF_INET6) {
		e.type = PN_NEIGH;
		if (!nl_to_addr(rtnl_neigh_get_dst(n), &e.dst.addr))
			return;
		e.dst.plen = (uint8_t)sy_addr_bits(&e.dst.addr);
		if (!nl_to_mac(rtnl_neigh_get_lladdr(n), e.mac))
			return;
	} else {
		return;
	}
	d->fn(d->arg, &e);
}

static int dump_neigh(struct nl_sock *sk, int family, struct dump_ctx *d)
{
	struct nl_cache *cache;
	int r, tries;

	r = sy_nl_errno(nl_cache_alloc_name("route/neigh", &cache));
	if (r < 0)
		return r;
	nl_cache_set_arg1(cache, family);
	for (tries = 0; tries < 5; tries++) {
		r = sy_nl_errno(nl_cache_refill(sk, cache));
		if (r != -EINTR)
			break;
	}
	if (r == 0)
		nl_cache_foreach(cache, neigh_cb, d);
	nl_cache_free(cache);
	return r;
}

int pn_nl_dump(struct nl_sock *sk, int vx_ifindex, pn_entry_fn fn, void *arg)
{
	return pn_nl_dump_devs(sk, &vx_ifindex, 1, fn, arg);
}

int pn_nl_dump_devs(struct nl_sock *sk, const int *vx_ifindex, unsigned n_vx, pn_entry_fn fn,
		    void *arg)
{
	struct dump_ctx d = { fn, arg, vx_ifindex, n_vx };
	unsigned i;
	struct nl_cache *cache = NULL;
	int r, tries;

	for (int fam = 0; fam < 2; fam++) {
		for (tries = 0; tries < 5; tries++) {
			r = sy_nl_errno(rtnl_route_alloc_cache(sk, fam ? AF_INET6 : AF_INET, 0,
							       &cache));
			if (r != -EINTR)
				break;
		}
		if (r < 0 && fam && (r == -EAFNOSUPPORT || r == -EOPNOTSUPP))
			continue;	/* a kernel without IPv6: no IPv6 routes of ours */
		if (r < 0)
			return r;
		nl_cache_foreach(cache, route_cb, &d);
		nl_cache_free(cache);
	}
	for (i = 0; i < n_vx && vx_ifindex[i] <= 0; i++)
		;
	if (i == n_vx)
		return 0;
	/* AF_UNSPEC dumps the IPv4/IPv6 neighbours; the FDB needs an AF_BRIDGE dump. */
	r = dump_neigh(sk, AF_UNSPEC, &d);
	if (r == 0)
		r = dump_neigh(sk, AF_BRIDGE, &d);
	return r;
}

int pn_nl_link_get(struct nl_sock *sk, const char *name, struct pn_link *ret)
{
	struct rtnl_link *l = NULL;
	struct nl_addr *a;
	struct pn_link out = { 0 };
	uint32_t v;
	int r;

	r = sy_nl_errno(rtnl_link_get_kernel(sk, 0, name, &l));
	if (r < 0)
		return r == -ENOENT ? -ENODEV : r;
	out.ifindex = rtnl_link_get_ifindex(l);
	out.mtu = rtnl_link_get_mtu(l);
	out.up = rtnl_link_get_flags(l) & IFF_UP;
	nl_to_mac(rtnl_link_get_addr(l), out.mac);
	if (rtnl_link_is_vxlan(l)) {
		out.is_vxlan = true;
		if (rtnl_link_vxlan_get_id(l, &v) == 0)
			out.vni = v;
		if (rtnl_link_vxlan_get_port(l, &v) == 0)
			out.port = v;
		if (rtnl_link_vxlan_get_link(l, &v) == 0)
			out.link = v;
		if (rtnl_link_vxlan_get_local(l, &a) == 0) {
			nl_to_addr(a, &out.local);
			nl_addr_put(a);
		}
		out.learning = rtnl_link_vxlan_get_learning(l) > 0;
	}
	rtnl_link_put(l);
	*ret = out;
	return 0;
}

int pn_nl_link_del(struct nl_sock *sk, const char *name)
{
	struct rtnl_link *l = rtnl_link_alloc();
	int r;

	if (!l)
		return -ENOMEM;
	rtnl_link_set_name(l, name);
	r = sy_nl_errno(rtnl_link_delete(sk, l));
	rtnl_link_put(l);
	if (r == -ENODEV || r == -ENOENT)
		r = 0;
	return r;
}

int pn_nl_links_with_prefix(struct nl_sock *sk, const char *prefix, char ***ret, unsigned *n)
{
	struct nl_cache *cache;
	struct nl_object *o;
	char **names = NULL;
	unsigned cnt = 0;
	int r;

	r = sy_nl_errno(rtnl_link_alloc_cache(sk, AF_UNSPEC, &cache));
	if (r < 0)
		return r;
	for (o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		const char *nm = rtnl_link_get_name((struct rtnl_link *)o);

		if (nm && strncmp(nm, prefix, strlen(prefix)) == 0) {
			names = xrealloc(names, (cnt + 1) * sizeof(*names));
			names[cnt++] = xstrdup(nm);
		}
	}
	nl_cache_free(cache);
	*ret = names;
	*n = cnt;
	return 0;
}

/*
 * The first address of family on ifindex (0: any interface) that is ip
 * (NULL or unset: any; IPv6: global scope only): its interface, address
 * and prefix length.  -ENOENT when there is none.
 */
static int find_addr(struct nl_sock *sk, int family, int ifindex, const struct sy_addr *ip,
		     int *ret_ifindex, struct sy_addr *ret_ip, unsigned *ret_plen)
{
	struct nl_cache *cache;
	struct nl_object *o;
	int r;

	r = sy_nl_errno(rtnl_addr_alloc_cache(sk, &cache));
	if (r < 0)
		return r;
	r = -ENOENT;
	for (o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_addr *a = (struct rtnl_addr *)o;
		struct sy_addr local;

		if (rtnl_addr_get_family(a) != family ||
		    (ifindex && rtnl_addr_get_ifindex(a) != ifindex) ||
		    !nl_to_addr(rtnl_addr_get_local(a), &local) || local.family != family ||
		    (family == AF_INET6 && rtnl_addr_get_scope(a) != RT_SCOPE_UNIVERSE) ||
		    (ip && sy_addr_is_set(ip) && !sy_addr_eq(ip, &local)))
			continue;
		if (ret_ifindex)
			*ret_ifindex = rtnl_addr_get_ifindex(a);
		*ret_ip = local;
		*ret_plen = (unsigned)rtnl_addr_get_prefixlen(a);
		r = 0;
		break;
	}
	nl_cache_free(cache);
	return r;
}

int pn_nl_find_addr(struct nl_sock *sk, struct in_addr ip, int *ifindex, uint8_t *plen, char *name)
{
	struct sy_addr want = sy_addr_from_in4(ip), local;
	unsigned l;
	int r = find_addr(sk, AF_INET, 0, ip.s_addr ? &want : NULL, ifindex, &local, &l);

	if (r < 0)
		return r;
	*plen = (uint8_t)l;
	if (name && !if_indextoname((unsigned)*ifindex, name))
		snprintf(name, IFNAMSIZ, "#%d", *ifindex);
	return 0;
}

int pn_nl_find_addr6(struct nl_sock *sk, int ifindex, const struct sy_addr *ip,
		     struct sy_cidr *ret_net, struct sy_addr *ret_ip, int *ret_ifindex)
{
	unsigned plen;
	int r = find_addr(sk, AF_INET6, ifindex, ip, ret_ifindex, ret_ip, &plen);

	return r < 0 ? r : sy_cidr_make(ret_ip, plen, ret_net);
}

int pn_nl_first_addr(struct nl_sock *sk, int ifindex, struct sy_cidr *ret_net,
		     struct in_addr *ret_ip)
{
	struct sy_addr local;
	unsigned plen;
	int r = find_addr(sk, AF_INET, ifindex, NULL, NULL, &local, &plen);

	if (r < 0)
		return r;
	*ret_ip = local.v4;
	return sy_cidr_make(&local, plen, ret_net);
}

static int vxlan_create(struct nl_sock *sk, const struct pn_vxlan_spec *s)
{
	struct rtnl_link *l = rtnl_link_vxlan_alloc();
	struct nl_addr *local = NULL, *mac = NULL;
	int r = -ENOMEM;

	if (!l)
		return -ENOMEM;
	local = addr_any(&s->local, -1);
	mac = addr_mac(s->mac);
	if (!local || !mac)
		goto out;
	rtnl_link_set_name(l, s->name);
	rtnl_link_set_mtu(l, s->mtu);
	rtnl_link_set_addr(l, mac);
	if ((r = sy_nl_errno(rtnl_link_vxlan_set_id(l, s->vni))) < 0 ||
	    (r = sy_nl_errno(rtnl_link_vxlan_set_local(l, local))) < 0 ||
	    (r = sy_nl_errno(rtnl_link_vxlan_set_port(l, s->port))) < 0 ||
	    (r = sy_nl_errno(rtnl_link_vxlan_set_learning(l, 0))) < 0 ||
	    (r = sy_nl_errno(rtnl_link_vxlan_set_link(l, (uint32_t)s->link))) < 0)
		goto out;
	r = sy_nl_errno(rtnl_link_add(sk, l, NLM_F_CREATE | NLM_F_EXCL));
out:
	nl_addr_put(local);
	nl_addr_put(mac);
	rtnl_link_put(l);
	return r;
}

int pn_nl_vxlan_ensure(struct nl_sock *sk, const struct pn_vxlan_spec *s, bool *recreated)
{
	struct pn_link cur;
	struct rtnl_link *orig = NULL, *chg = NULL;
	struct nl_addr *mac = NULL;
	int r;

	*recreated = false;
	r = pn_nl_link_get(sk, s->name, &cur);
	if (r == 0 && (!cur.is_vxlan || cur.vni != s->vni || cur.port != s->port ||
		       !sy_addr_eq(&cur.local, &s->local) || (int)cur.link != s->link ||
		       cur.learning)) {
		r = pn_nl_link_del(sk, s->name);
		if (r < 0)
			return r;
		r = -ENODEV;
	}
	if (r == -ENODEV) {
		r = vxlan_create(sk, s);
		if (r < 0 && r != -EEXIST)
			return r;
		*recreated = true;
		r = pn_nl_link_get(sk, s->name, &cur);
	}
	if (r < 0)
		return r;
	if (cur.mtu == s->mtu && cur.up && !memcmp(cur.mac, s->mac, 6))
		return cur.ifindex;
	orig = rtnl_link_alloc();
	chg = rtnl_link_alloc();
	mac = addr_mac(s->mac);
	if (!orig || !chg || !mac) {
		r = -ENOMEM;
		goto out;
	}
	rtnl_link_set_ifindex(orig, cur.ifindex);
	rtnl_link_set_name(orig, s->name);
	if (cur.mtu != s->mtu)
		rtnl_link_set_mtu(chg, s->mtu);
	if (memcmp(cur.mac, s->mac, 6))
		rtnl_link_set_addr(chg, mac);
	rtnl_link_set_flags(chg, IFF_UP);
	r = sy_nl_errno(rtnl_link_change(sk, orig, chg, 0));
	if (r == 0)
		r = cur.ifindex;
out:
	nl_addr_put(mac);
	if (orig)
		rtnl_link_put(orig);
	if (chg)
		rtnl_link_put(chg);
	return r;
}

/*
 * Make want/32 (IPv4) or want/128 (IPv6) the only address of family on
 * ifindex (want NULL: none); IPv6 link-local addresses are left alone, an
 * IPv6 address is added without DAD.
 */
static int addr_ensure_only(struct nl_sock *sk, int ifindex, int family,
			    const struct sy_addr *want)
{
	unsigned plen = want ? sy_addr_bits(want) : 0;
	struct nl_cache *cache;
	struct nl_object *o;
	bool have = false;
	int r;

	r = sy_nl_errno(rtnl_addr_alloc_cache(sk, &cache));
	if (r < 0)
		return r;
	for (o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_addr *a = (struct rtnl_addr *)o;
		struct sy_addr local;

		if (rtnl_addr_get_family(a) != family || rtnl_addr_get_ifindex(a) != ifindex ||
		    !nl_to_addr(rtnl_addr_get_local(a), &local) ||
		    (family == AF_INET6 && rtnl_addr_get_scope(a) != RT_SCOPE_UNIVERSE))
			continue;
		if (want && sy_addr_eq(&local, want) &&
		    (unsigned)rtnl_addr_get_prefixlen(a) == plen) {
			have = true;
			continue;
		}
		r = sy_nl_errno(rtnl_addr_delete(sk, a, 0));
		if (r < 0 && r != -EADDRNOTAVAIL && r != -ENOENT)
			goto out;
	}
	r = 0;
	if (want && !have) {
		struct rtnl_addr *a = rtnl_addr_alloc();
		struct nl_addr *l = addr_any(want, -1);

		if (!a || !l) {
			r = -ENOMEM;
		} else {
			rtnl_addr_set_ifindex(a, ifindex);
			rtnl_addr_set_family(a, want->family);
			r = sy_nl_errno(rtnl_addr_set_local(a, l));
			rtnl_addr_set_prefixlen(a, (int)plen);
			if (want->family == AF_INET6)
				rtnl_addr_set_flags(a, IFA_F_NODAD);
			if (r == 0)
				r = sy_nl_errno(rtnl_addr_add(sk, a, 0));
			if (r == -EEXIST)
				r = 0;
		}
		nl_addr_put(l);
		if (a)
			rtnl_addr_put(a);
	}
out:
	nl_cache_free(cache);
	return r;
}

int pn_nl_addr_ensure_only(struct nl_sock *sk, int ifindex, struct in_addr want)
{
	struct sy_addr a = sy_addr_from_in4(want);

	return addr_ensure_only(sk, ifindex, AF_INET, &a);
}

int pn_nl_addr6_ensure_only(struct nl_sock *sk, int ifindex, const struct sy_addr *want)
{
	return want->family == AF_INET6 ? addr_ensure_only(sk, ifindex, AF_INET6, want) : -EINVAL;
}

int pn_nl_addr6_remove_all(struct nl_sock *sk, int ifindex)
{
	return addr_ensure_only(sk, ifindex, AF_INET6, NULL);
}
