// SPDX-License-Identifier: Apache-2.0
/*
 * kube-ipvs0 (a dummy device kept down) and its addresses, via libnl-route:
 * IPv4 /32, IPv6 /128 with IFA_F_NODAD (a Service address is never
 * tentative; a dummy device does no DAD anyway).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <arpa/inet.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/addr.h>
#include <linux/if_addr.h>
#include "switchyard/nlerr.h"
#include "ipvs_int.h"

int ipvs_dev_open(struct ipvs_dev *d)
{
	memset(d, 0, sizeof(*d));
	return sy_nl_route_open(&d->sk);
}

void ipvs_dev_close(struct ipvs_dev *d)
{
	nl_socket_free(d->sk);
	memset(d, 0, sizeof(*d));
}

int ipvs_dev_ifindex(struct ipvs_dev *d)
{
	struct rtnl_link *link = NULL;
	int r = rtnl_link_get_kernel(d->sk, 0, IPVS_DEV_NAME, &link);

	if (r < 0)
		return r == -NLE_OBJ_NOTFOUND || r == -NLE_NODEV ? -ENODEV : sy_nl_errno(r);
	r = rtnl_link_get_ifindex(link);
	rtnl_link_put(link);
	d->ifindex = r > 0 ? r : 0;
	return r > 0 ? r : -ENODEV;
}

int ipvs_dev_ensure(struct ipvs_dev *d)
{
	struct rtnl_link *link;
	int r = ipvs_dev_ifindex(d);

	if (r != -ENODEV)
		return r;
	link = rtnl_link_alloc();
	if (!link)
		return -ENOMEM;
	rtnl_link_set_name(link, IPVS_DEV_NAME);
	r = rtnl_link_set_type(link, "dummy");
	if (r == 0)
		r = rtnl_link_add(d->sk, link, NLM_F_CREATE);
	rtnl_link_put(link);
	r = sy_nl_errno(r);
	if (r < 0 && r != -EEXIST)
		return r;
	return ipvs_dev_ifindex(d);
}

int ipvs_dev_delete(struct ipvs_dev *d)
{
	struct rtnl_link *link;
	int r;

	if (ipvs_dev_ifindex(d) == -ENODEV)
		return 0;
	link = rtnl_link_alloc();
	if (!link)
		return -ENOMEM;
	rtnl_link_set_name(link, IPVS_DEV_NAME);
	r = sy_nl_errno(rtnl_link_delete(d->sk, link));
	rtnl_link_put(link);
	d->ifindex = 0;
	return r == -ENODEV || r == -ENOENT ? 0 : r;
}

struct addr_walk {
	int ifindex;		/* only this one (>0), or every one except -ifindex */
	int family;
	struct sy_addr *v;
	unsigned n, cap;
	int err;
};

static void addr_cb(struct nl_object *obj, void *arg)
{
	struct addr_walk *w = arg;
	struct rtnl_addr *a = (struct rtnl_addr *)obj;
	struct nl_addr *local = rtnl_addr_get_local(a);
	int idx = rtnl_addr_get_ifindex(a), fam = rtnl_addr_get_family(a);
	unsigned len = fam == AF_INET ? 4 : 16;
	struct sy_addr in = { 0 };

	if (w->err || fam != w->family || !local || nl_addr_get_len(local) != len)
		return;
	if (w->ifindex > 0 ? idx != w->ifindex : idx == -w->ifindex)
		return;
	in.family = (uint8_t)fam;
	memcpy(in.b, nl_addr_get_binary_addr(local), len);
	if (w->ifindex <= 0 && sy_addr_is_loopback(&in))
		return;
	if (w->n == w->cap) {
		unsigned cap = w->cap ? w->cap * 2 : 16;
		struct sy_addr *v = realloc(w->v, cap * sizeof(*v));

		if (!v) {
			w->err = -ENOMEM;
			return;
		}
		w->v = v;
		w->cap = cap;
	}
	w->v[w->n++] = in;
}

static int walk_addrs(struct ipvs_dev *d, struct addr_walk *w, struct sy_addr **ret)
{
	struct nl_cache *cache = NULL;
	int r;

	if (w->family != AF_INET && w->family != AF_INET6)
		return -EAFNOSUPPORT;
	r = rtnl_addr_alloc_cache(d->sk, &cache);
	if (r < 0)
		return sy_nl_errno(r);
	nl_cache_foreach(cache, addr_cb, w);
	nl_cache_free(cache);
	if (w->err) {
		free(w->v);
		return w->err;
	}
	*ret = w->v;
	return (int)w->n;
}

int ipvs_dev_addrs(struct ipvs_dev *d, int family, struct sy_addr **ret)
{
	struct addr_walk w = { .family = family };
	int idx = ipvs_dev_ifindex(d);

	if (idx == -ENODEV) {
		*ret = NULL;
		return 0;
	}
	if (idx < 0)
		return idx;
	w.ifindex = idx;
	return walk_addrs(d, &w, ret);
}

int ipvs_dev_local_addrs(struct ipvs_dev *d, int family, struct sy_addr **ret)
{
	struct addr_walk w = { .family = family };
	int idx = ipvs_dev_ifindex(d);

	w.ifindex = idx > 0 ? -idx : 0;
	return walk_addrs(d, &w, ret);
}

static int addr_op(struct ipvs_dev *d, const struct sy_addr *a, bool add)
{
	struct rtnl_addr *ra;
	struct nl_addr *na;
	unsigned bits = sy_addr_bits(a);
	int idx = d->ifindex > 0 ? d->ifindex : ipvs_dev_ifindex(d), r;

	if (!bits)
		return -EAFNOSUPPORT;
	if (idx < 0)
		return add ? idx : 0;
	ra = rtnl_addr_alloc();
	na = nl_addr_build(a->family, a->b, sy_addr_len(a));
	if (!ra || !na) {
		r = -ENOMEM;
		goto out;
	}
	nl_addr_set_prefixlen(na, (int)bits);
	rtnl_addr_set_ifindex(ra, idx);
	rtnl_addr_set_family(ra, a->family);
	rtnl_addr_set_prefixlen(ra, (int)bits);
	if (a->family == AF_INET6)
		rtnl_addr_set_flags(ra, IFA_F_NODAD);
	r = rtnl_addr_set_local(ra, na);
	if (r < 0) {
		r = sy_nl_errno(r);
		goto out;
	}
	r = sy_nl_errno(add ? rtnl_addr_add(d->sk, ra, 0) : rtnl_addr_delete(d->sk, ra, 0));
	if (add && r == -EEXIST)
		r = 0;
	if (!add && (r == -EADDRNOTAVAIL || r == -ENOENT || r == -ENODEV))
		r = 0;
out:
	if (na)
		nl_addr_put(na);
	if (ra)
		rtnl_addr_put(ra);
	return r;
}

int ipvs_dev_addr_add(struct ipvs_dev *d, const struct sy_addr *a)
{
	return addr_op(d, a, true);
}

int ipvs_dev_addr_del(struct ipvs_dev *d, const struct sy_addr *a)
{
	return addr_op(d, a, false);
}
