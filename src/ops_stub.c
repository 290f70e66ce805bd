// SPDX-License-Identifier: Apache-2.0
/* Placeholder until healthz/metrics/config-file land. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "switchyard/config.h"
#include "switchyard/daemon.h"
#include "switchyard/metrics.h"

int config_file_load(struct sy_config *cfg, const char *path, char *err, size_t errlen)
{ snprintf(err, errlen, "--config is not supported yet"); return -ENOSYS; }
void sy_metrics_init(struct sy_metrics *m) { memset(m, 0, sizeof(*m)); }
void sy_hist_observe(struct sy_hist *h, double v) { }
int status_servers_start(struct sy_daemon *d, char *err, size_t errlen) { return 0; }
void status_servers_stop(struct sy_daemon *d) { }
struct svc_health *svc_health_new(struct sy_daemon *d) { return NULL; }
void svc_health_sync(struct svc_health *h, const struct desired_state *ds) { }
void svc_health_free(struct svc_health *h) { }
