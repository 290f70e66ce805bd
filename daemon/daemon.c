// SPDX-License-Identifier: Apache-2.0
/* Daemon glue: node IPs and families, NodePort addresses, the cache's change hook. */
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <string.h>
#include "switchyard/daemon.h"
#include "switchyard/model.h"

/* --bind-address as an address, unset when it is unspecified (0.0.0.0, ::) or no address. */
static struct sy_addr bind_ip(const struct sy_daemon *d)
{
	struct sy_addr a = { 0 }, zero = { 0 };

	if (!d->cfg.bind_address || sy_addr_parse(d->cfg.bind_address, &a) < 0)
		return zero;
	zero.family = a.family;
	if (sy_addr_eq(&a, &zero))
		return (struct sy_addr){ 0 };
	return a;
}

struct sy_addr daemon_node_ip(const struct sy_daemon *d, int family)
{
	struct sy_addr b = bind_ip(d);
	const struct node *self = d->cache ? cache_node(d->cache, d->node_name) : NULL;

	if (b.family == family)
		return b;
	if (!self)
		return (struct sy_addr){ 0 };
	if (family == AF_INET6)
		return sy_addr_is_set(&self->internal_ip6) ? self->internal_ip6 : self->external_ip6;
	return sy_addr_is_set(&self->internal_ip) ? self->internal_ip : self->external_ip;
}

int daemon_primary_family(const struct sy_daemon *d, bool *known)
{
	struct sy_addr b = bind_ip(d);
	const struct node *self = d->cache ? cache_node(d->cache, d->node_name) : NULL;

	*known = true;
	if (b.family)
		return b.family;
	if (self && self->primary_family)
		return self->primary_family;
	*known = false;
	return AF_INET;
}

static bool is_link_local6(const struct sy_addr *a)
{
	return a->family == AF_INET6 && a->v6.s6_addr[0] == 0xfe && (a->v6.s6_addr[1] & 0xc0) == 0x80;
}

static bool in_cidrs(const struct sy_daemon *d, const struct sy_addr *a)
{
	for (unsigned c = 0; c < d->cfg.n_nodeport_cidrs; c++)
		if (sy_cidr_contains(&d->cfg.nodeport_cidrs[c], a))
			return true;
	return false;
}

int daemon_nodeport_addresses(const struct sy_daemon *d, struct sy_addr *out, unsigned max,
			      bool all_local[2])
{
	struct ifaddrs *ifa, *i;
	bool scan[2] = { false, false }, filter[2] = { false, false };
	unsigned n = 0;

	for (int f = 0; f < 2; f++) {
		int family = f ? AF_INET6 : AF_INET;
		unsigned of_family = 0;

		all_local[f] = false;
		for (unsigned c = 0; c < d->cfg.n_nodeport_cidrs; c++)
			of_family += d->cfg.nodeport_cidrs[c].addr.family == family;
		if (d->cfg.nodeport_primary && !d->cfg.n_nodeport_cidrs) {
			/* kube-proxy: the node IP of each family, as a /32 or /128 */
			struct sy_addr ip = daemon_node_ip(d, family);

			if (sy_addr_is_set(&ip) && !sy_addr_is_loopback(&ip)) {
				if (n < max)
					out[n++] = ip;
				continue;
			}
			/* none of the family (no Node object yet): every local address */
		} else if (of_family) {
			scan[f] = filter[f] = true;
			continue;
		}
		/* unset, or no CIDR of this family: every local address of the family */
		all_local[f] = true;
		scan[f] = true;
	}
	if (!scan[0] && !scan[1])
		return (int)n;
	if (getifaddrs(&ifa) < 0)
		return -errno;
	for (i = ifa; i && n < max; i = i->ifa_next) {
		struct sy_addr a;
		bool dup = false;
		int f;

		if (!i->ifa_addr || (i->ifa_addr->sa_family != AF_INET &&
				     i->ifa_addr->sa_family != AF_INET6))
			continue;
		f = i->ifa_addr->sa_family == AF_INET6;
		if (!scan[f])
			continue;
		if (proxy_mode_owns_device(i->ifa_name))
			continue;	/* Service addresses a mode bound (kube-ipvs0) */
		a = f ? sy_addr_from_in6(&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr)
		      : sy_addr_from_in4(((struct sockaddr_in *)i->ifa_addr)->sin_addr);
		if (sy_addr_is_loopback(&a))
			continue;	/* loopback NodePorts are the mode's business */
		if (is_link_local6(&a))
			continue;	/* no NodePort on fe80::/10 (it needs a zone), as kube-proxy */
		if (filter[f] && !in_cidrs(d, &a))
			continue;
		for (unsigned k = 0; k < n && !dup; k++)
			dup = sy_addr_eq(&out[k], &a);
		if (!dup)
			out[n++] = a;
	}
	freeifaddrs(ifa);
	/* stable order (IPv4 first), so an unchanged set compares equal */
	for (unsigned a = 1; a < n; a++)
		for (unsigned b = a; b > 0 && sy_addr_cmp(&out[b - 1], &out[b]) > 0; b--) {
			struct sy_addr t = out[b];

			out[b] = out[b - 1];
			out[b - 1] = t;
		}
	return (int)n;
}

void daemon_cache_changed(void *arg, enum sy_kind kind)
{
	sync_runner_kick(arg);
}
