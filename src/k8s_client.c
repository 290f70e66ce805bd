// SPDX-License-Identifier: Apache-2.0
/* Placeholder until the Kubernetes client lands. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include "switchyard/k8s.h"

void k8s_conn_free(struct k8s_conn *c) { }
int kubeconfig_load(const char *path, struct k8s_conn *ret, char *err, size_t errlen)
{ snprintf(err, errlen, "not built yet"); return -ENOSYS; }
int k8s_incluster_load(const char *sa_dir, struct k8s_conn *ret, char *err, size_t errlen)
{ snprintf(err, errlen, "not built yet"); return -ENOSYS; }
int k8s_client_new(struct k8s_client **ret, struct ev_loop *loop, const struct k8s_conn *conn,
		   struct cache *cache, struct sy_metrics *metrics, const char *node_name)
{ return -ENOSYS; }
void k8s_client_free(struct k8s_client *k) { }
int k8s_client_patch_node_annotations(struct k8s_client *k, const char *node,
				      const char *const *keys, const char *const *values, unsigned n)
{ return -ENOSYS; }
