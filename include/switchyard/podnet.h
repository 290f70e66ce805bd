/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SWITCHYARD_PODNET_H
#define SWITCHYARD_PODNET_H
/*
 * Pod networking core (podnet/podnet*.c): flannel-style node subnets with the
 * vxlan (+DirectRouting) and host-gw backends, subnet.env and the CNI
 * conflist.  Shares the Node cache and the loop with the proxy.
 * See doc/pod-network.md.
 */
#include <stdbool.h>
#include <stddef.h>

struct sy_config;
struct cache;
struct k8s_client;

struct podnet;
/* Reads and validates --net-conf; -errno + err (exit 2). */
int podnet_new(struct podnet **ret, const struct sy_config *cfg, const char *node_name,
	       char *err, size_t errlen);
void podnet_free(struct podnet *p);
/* Optional: where to publish this node's annotations (NULL from manifests). */
void podnet_set_client(struct podnet *p, struct k8s_client *k);
/*
 * Make routes / neighbours / FDB / devices / files match the Node cache.
 * full: re-read the kernel and repair drift.  Returns 0 or -errno.
 */
int podnet_sync(struct podnet *p, const struct cache *c, bool full);
/* Remove everything the pod network ever created (for --cleanup). */
int podnet_cleanup(const struct sy_config *cfg);

#endif
