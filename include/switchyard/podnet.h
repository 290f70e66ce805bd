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
#include "switchyard/log.h"

struct sy_config;
struct cache;
struct k8s_client;

struct podnet;
/*
 * Reads and validates --net-conf; -errno + err (exit 2).  report (copied;
 * NULL: none) hears what the syncs change or refuse besides their result:
 * files and devices written, peers joining, changing, leaving, Nodes
 * ignored with the reason, this node still waiting (why).
 */
int podnet_new(struct podnet **ret, const struct sy_config *cfg, const char *node_name,
	       const struct sy_report *report, char *err, size_t errlen);
void podnet_free(struct podnet *p);
/* Optional: where to publish this node's annotations (NULL from manifests). */
void podnet_set_client(struct podnet *p, struct k8s_client *k);
/*
 * Make routes / neighbours / FDB / devices / files match the Node cache.
 * full: re-read the kernel and repair drift.  Returns 0, or -errno with the
 * first error and its context in err ("vxlan device sy-vx.1: ...", "peer
 * kube02: adding ...: ...", "(and N more errors)").
 */
int podnet_sync(struct podnet *p, const struct cache *c, bool full, char *err, size_t errlen);
/* Remove everything the pod network ever created (for --cleanup); -errno + err as above. */
int podnet_cleanup(const struct sy_config *cfg, char *err, size_t errlen);

#endif
