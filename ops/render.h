/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SWITCHYARD_OPS_RENDER_H
#define SWITCHYARD_OPS_RENDER_H
/*
 * What the HTTP endpoints render (ops/metrics.c, ops/config_file.c),
 * used inside ops/ (and by its unit tests).
 */
#include <stddef.h>

struct sy_config;
struct sy_metrics;

/* metrics.c: Prometheus text format 0.0.4 (malloc'd). */
#define METRICS_IPTABLES	0x01	/* add the iptables-only kubeproxy_* series */
#define METRICS_PROCESS		0x02	/* add process_* from /proc/self */
#define METRICS_NFTABLES	0x04	/* add the nftables-mode series */
char *metrics_render(const struct sy_metrics *m, unsigned flags);
/* Shortest text that reads back as the same double ("+Inf", "NaN" too). */
void metrics_fmt_double(double v, char *buf, size_t len);

/* config_file.c: Go's time.Duration.String() of a number of seconds ("1m30s"). */
void config_file_fmt_duration(double seconds, char *buf, size_t len);
/* The effective configuration as kube-proxy's /configz shows it (malloc'd JSON). */
char *config_file_configz(const struct sy_config *cfg);

#endif
