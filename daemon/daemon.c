// SPDX-License-Identifier: Apache-2.0
/* Daemon glue: node addresses, the cache's change hook. */
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <string.h>
#include "switchyard/daemon.h"
#include "switchyard/model.h"

int daemon_nodeport_addresses(const struct sy_daemon *d, struct sy_addr *out, unsigned max)
{
	struct ifaddrs *ifa, *i;
	unsigned n = 0;

	if (d->cfg.nodeport_primary && !d->cfg.n_nodeport_cidrs) {
		const struct node *self = cache_node(d->cache, d->node_name);

		if (self && sy_addr_is_set(&self->internal_ip) && max)
			out[n++] = self->internal_ip;
		if (n)
			return (int)n;
		/* no Node object yet: fall back to the interface scan below */
	}
	if (getifaddrs(&ifa) < 0)
		return -errno;
	for (i = ifa; i && n < max; i = i->ifa_next) {
		struct sy_addr a;
		bool dup = false;

		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
			continue;
		if (proxy_mode_owns_device(i->ifa_name))
			continue;	/* Service addresses a mode bound (kube-ipvs0) */
		a = sy_addr_from_in4(((struct sockaddr_in *)i->ifa_addr)->sin_addr);
		if (sy_addr_is_loopback(&a))
			continue;	/* loopback NodePorts are the mode's business */
		if (d->cfg.n_nodeport_cidrs) {
			bool match = false;

			for (unsigned c = 0; c < d->cfg.n_nodeport_cidrs && !match; c++)
				match = sy_cidr_contains(&d->cfg.nodeport_cidrs[c], &a);
			if (!match)
				continue;
		}
		for (unsigned k = 0; k < n && !dup; k++)
			dup = sy_addr_eq(&out[k], &a);
		if (!dup)
			out[n++] = a;
	}
	freeifaddrs(ifa);
	/* stable order, so an unchanged set compares equal */
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
