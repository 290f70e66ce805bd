/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SWITCHYARD_METRICS_H
#define SWITCHYARD_METRICS_H
/*
 * Counters and histograms the daemon exports in Prometheus text format
 * (ops/metrics.c renders them; owners update the fields directly — the
 * daemon is single-threaded).
 */
#include <stdint.h>
#include <stddef.h>
#include <sys/socket.h>
#include "switchyard/mode.h"

#define SY_HIST_MAX_BUCKETS 80

struct sy_hist {
	unsigned n_bounds;
	double bounds[SY_HIST_MAX_BUCKETS];	/* upper bounds, ascending (+Inf implicit) */
	uint64_t counts[SY_HIST_MAX_BUCKETS + 1];	/* non-cumulative; last = +Inf */
	double sum;
	uint64_t count;
};
/* kube-proxy's buckets: exponential 1ms*2^k (15) for sync durations */
void sy_hist_init_exp(struct sy_hist *h, double start, double factor, unsigned n);
/* kube-proxy's network_programming_duration buckets */
void sy_hist_init_netprog(struct sy_hist *h);
void sy_hist_observe(struct sy_hist *h, double v);

/*
 * The series kube-proxy (1.33 and later) labels by ip_family, one proxier
 * per family, are kept per family: index 0 IPv4, 1 IPv6 (sy_metrics_fam).
 */
#define SY_METRICS_FAMILIES 2

struct sy_metrics {
	/* which families have a mode instance (bit 0 IPv4, bit 1 IPv6): the
	 * ip_family series rendered; none set renders IPv4 */
	unsigned families;
	/* kubeproxy_*, {ip_family} */
	struct sy_hist sync_duration[SY_METRICS_FAMILIES];	/* sync_proxy_rules_duration_seconds */
	struct sy_hist sync_full_duration[SY_METRICS_FAMILIES];	/* sync_full_proxy_rules_duration_seconds */
	struct sy_hist sync_partial_duration[SY_METRICS_FAMILIES];	/* ..._partial_... */
	double last_sync_timestamp[SY_METRICS_FAMILIES];	/* sync_proxy_rules_last_timestamp_seconds */
	/* sync_proxy_rules_iptables_restore_failures_total (iptables),
	 * ..._nftables_sync_failures_total (nftables); switchyard_sync_failures_total sums them */
	uint64_t sync_failures_total[SY_METRICS_FAMILIES];
	/* sync_proxy_rules_iptables_{total,last}{table,ip_family}: per table of the mode's rule_tables */
	const char *const *rule_tables;		/* NULL-terminated, or NULL */
	uint64_t rules_total[SY_METRICS_FAMILIES][MODE_MAX_TABLES];
	uint64_t rules_last[SY_METRICS_FAMILIES][MODE_MAX_TABLES];
	/* network_programming_duration_seconds: the family's EndpointSlices */
	struct sy_hist netprog_duration[SY_METRICS_FAMILIES];
	/* sync_proxy_rules_last_queued_timestamp_seconds: both families are queued together */
	double last_queued_timestamp;
	/* sync_proxy_rules_no_local_endpoints_total{traffic_policy,ip_family} */
	uint64_t no_local_endpoints_internal[SY_METRICS_FAMILIES];
	uint64_t no_local_endpoints_external[SY_METRICS_FAMILIES];
	/* kubeproxy_*, one series */
	uint64_t endpoint_changes_total, endpoint_changes_pending;
	uint64_t service_changes_total, service_changes_pending;
	uint64_t healthz_200, healthz_503, livez_200, livez_503;

	/* switchyard_* */
	uint64_t watch_reconnects_total;
	uint64_t relists_total;
	uint64_t decode_errors_total;		/* stream-level (the client); rendering adds the cache's */
	uint64_t conntrack_deleted_total;
	uint64_t conntrack_errors_total;
	struct sy_hist conntrack_duration;
	uint64_t syncs_total;
	uint64_t kernel_writes_total;
	uint64_t podnet_syncs_total, podnet_errors_total;
	uint64_t xtables_lock_waits_total;	/* syncs that found xtables.lock busy */
	/* switchyard_network_policy_* (--network-policy) */
	struct sy_hist netpol_sync_duration;	/* network_policy_sync_duration_seconds */
	uint64_t netpol_syncs_full, netpol_syncs_partial;	/* ..._syncs_total{type} */
	uint64_t netpol_sync_failures_total;
	uint64_t netpol_elements_written_total;	/* set elements added + deleted */
	uint64_t netpol_policies, netpol_local_pods, netpol_elements;	/* gauges */
	double xtables_lock_wait_seconds;	/* time spent waiting for it */
};

void sy_metrics_init(struct sy_metrics *m);
/* the index of family (AF_INET, AF_INET6) in the per-family series */
static inline unsigned sy_metrics_fam(int family)
{
	return family == AF_INET6;
}

#endif
