// SPDX-License-Identifier: Apache-2.0
/* Placeholder until the pod network lands. */
#include <errno.h>
#include <stdio.h>
#include "switchyard/podnet.h"

int podnet_new(struct podnet **ret, const struct sy_config *cfg, const char *node_name,
	       char *err, size_t errlen)
{ snprintf(err, errlen, "--pod-network is not built yet"); return -ENOSYS; }
void podnet_free(struct podnet *p) { }
void podnet_set_client(struct podnet *p, struct k8s_client *k) { }
int podnet_sync(struct podnet *p, const struct cache *c, bool full) { return 0; }
int podnet_cleanup(const struct sy_config *cfg) { return 0; }
