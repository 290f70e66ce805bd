/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SWITCHYARD_DAEMON_H
#define SWITCHYARD_DAEMON_H
/*
 * The daemon's single context, owned by main() (daemon/), and the sync
 * runner.  Everything hangs off it; watchers live in the structs that own
 * them.  The parts it wires have their own headers (status.h,
 * svc_health.h, k8s.h, manifest.h, podnet.h, conntrack.h, mode.h).
 */
#include <stdbool.h>
#include <ev.h>
#include "switchyard/config.h"
#include "switchyard/desired.h"
#include "switchyard/metrics.h"
#include "switchyard/mode.h"
#include "switchyard/model.h"

struct cache;
struct ct;
struct k8s_client;
struct manifest_source;
struct podnet;
struct http_server;
struct svc_health;
struct policy_state;
struct netpol_nft;

struct sync_runner {
	ev_timer timer;			/* the one timer that runs syncs */
	double last_sync_mono;		/* 0 = never */
	double last_full_mono;
	double queued_since_mono;	/* first unsynced change, 0 = none */
	double backoff;			/* after a failed sync */
	double start_wall;		/* when the runner started (latency metric cut-off) */
	double mode_due_mono;		/* the mode asked to be called by then (0 = not) */
	double family_due_mono[2];	/* the same per family instance ([0] IPv4, [1] IPv6) */
	double lock_wait_mono;		/* waiting for xtables.lock since (0 = not waiting) */
	double cidr_wait_mono;		/* Services listed, ServiceCIDRs not yet: since (0 = not) */
	double node_wait_mono;		/* Services listed, the Node not yet: since (0 = not) */
	/*
	 * kube-proxy's rate limit (BoundedFrequencyRunner with burstSyncs 2):
	 * a bucket of SYNC_BURST runs refilled one per min-sync-period, full
	 * at start, so a change after a quiet period syncs at once.
	 */
	double tokens, tokens_mono;
	bool pending;			/* changes waiting */
	bool force_full;
	bool first_sync_done;
	unsigned consecutive_failures;
	uint64_t runs;			/* mode sync runs so far (sy_sync_input.run) */
};

struct sy_daemon {
	struct ev_loop *loop;
	struct sy_config cfg;
	const char *node_name;
	char *node_name_buf;
	struct cache *cache;
	struct desired_state ds;
	const struct proxy_mode_ops *mode_ops;
	/*
	 * One mode instance per address family, as kube-proxy's dual-stack
	 * proxier: [0] AF_INET, [1] AF_INET6 (daemon_mode()); NULL when the
	 * mode cannot program the family here (one log line at start).
	 */
	struct proxy_mode *modes[2];
	int primary_family;			/* AF_INET / AF_INET6 (kube-proxy's) */
	bool primary_known;			/* from --bind-address or the Node */
	struct sy_addr node_ips[2];		/* the node IPs NodePorts were last planned on */
	/* this Node as last seen (kube-proxy's NodeManager lines): there, its host IPs */
	bool node_seen;
	char node_host_ips[2 * 48 + 8];
	struct ct *ct;
	struct k8s_client *k8s;
	struct manifest_source *manifests;
	struct podnet *podnet;
	struct http_server *healthz, *metrics_srv;
	struct svc_health *svc_health;
	struct policy_state *policy;		/* --network-policy: the planner */
	struct netpol_nft *netpol;		/* ... and its kernel writer */
	ev_timer policy_retry;			/* after a refused policy sync */
	double policy_full_mono;		/* last full policy sync (0 = none) */
	struct sy_metrics metrics;
	struct sync_runner sync;
	double last_sync_wall;		/* for /healthz lastUpdated */
	ev_signal sigterm, sigint;
};

/* The instance of a family (AF_INET / AF_INET6), NULL if none. */
static inline struct proxy_mode *daemon_mode(const struct sy_daemon *d, int family)
{
	return d->modes[family == AF_INET6];
}

/*
 * Whether ServiceCIDRs are watched (and the first sync waits for them): the
 * mode reads them (nftables) and MultiCIDRServiceAllocator is on, as
 * kube-proxy runs its ServiceCIDR informer only with the gate on.
 */
static inline bool daemon_reads_service_cidrs(const struct sy_daemon *d)
{
	return d->mode_ops->service_cidrs && !d->cfg.service_cidrs_off;
}

/*
 * daemon/daemon.c, kube-proxy's node IPs: the node IP of a family
 * (--bind-address when it is of that family and not 0.0.0.0 / ::, else
 * the Node's first InternalIP of the family, else its first ExternalIP;
 * unset when none), and the primary family (--bind-address's, else the
 * Node's first address's, else IPv4 with *known false).
 */
struct sy_addr daemon_node_ip(const struct sy_daemon *d, int family);
int daemon_primary_family(const struct sy_daemon *d, bool *known);
/*
 * The addresses NodePorts answer on, both families, as kube-proxy's
 * nodePortAddresses per family: the CIDRs of the family; "primary" = the
 * node IP of each family (daemon_node_ip); every local address of the
 * family (except loopback, IPv6 link-local and kube-ipvs0's) when unset,
 * when no CIDR is of the family, or when "primary" has no node IP of it
 * (then all_local[f] is set, [0] IPv4, [1] IPv6).  Returns the count or -errno.
 */
int daemon_nodeport_addresses(const struct sy_daemon *d, struct sy_addr *out, unsigned max,
			      bool all_local[2]);
/* The cache's change callback (arg = the daemon). */
void daemon_cache_changed(void *arg, enum sy_kind kind);

#define SYNC_BURST 2		/* kube-proxy's burstSyncs */
/*
 * The runner's schedule, pure: when it should run next (monotonic seconds;
 * <= now: at once, INFINITY: nothing to do) given its state, the periods
 * and whether Services and EndpointSlices are listed.  A pending change
 * runs as soon as the bucket holds a token (and any failure backoff since
 * the last sync has passed); min_period <= 0 disables the limit.
 */
double sync_runner_due(const struct sync_runner *s, double min_period, double full_period,
		       bool sources_ready, double now);
/* A run starts at now: it takes one token. */
void sync_runner_take(struct sync_runner *s, double min_period, double now);

/*
 * daemon/policy.c, with --network-policy: the planner and the nftables
 * writer (init: 0 or -errno with err), one policy sync each time the runner's
 * timer fires (before and whatever the xtables lock), once Pods, Namespaces
 * and NetworkPolicies are listed: a full one every full_period seconds, a
 * partial one when the planner has changes; the table's removal.
 */
int daemon_policy_init(struct sy_daemon *d, char *err, size_t errlen);
void daemon_policy_sync(struct sy_daemon *d, double full_period);
void daemon_policy_free(struct sy_daemon *d);
int daemon_policy_cleanup(void);

/*
 * daemon/heap.c, the malloc policy: main() calls cold_start before
 * anything is allocated for the first sync, the runner steady once it is
 * done.
 */
void daemon_heap_cold_start(void);
void daemon_heap_steady(void);

/* Called by the cache on every change: schedules a sync (rate limited). */
void sync_runner_kick(struct sy_daemon *d);
void sync_runner_start(struct sy_daemon *d);
/* Healthy per kube-proxy: first sync done and no change queued for longer than
 * 2 x the sync period (its healthz timeout), whatever holds the sync up. */
bool sync_runner_healthy(const struct sy_daemon *d);

#endif
