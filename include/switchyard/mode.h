/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SWITCHYARD_MODE_H
#define SWITCHYARD_MODE_H
/*
 * Proxy backends behind one small ops table.  A mode reads the pure
 * desired state and makes the kernel match it; it never sees the cache or
 * JSON.  New modes (nftables, ...) add a table to modes/registry.c.
 */
#include <stdbool.h>
#include <stdint.h>

struct sy_config;
struct sy_report;
struct desired_state;
struct policy_state;	/* the NetworkPolicy state of a later issue */
struct proxy_mode;	/* a mode's private instance (one per address family) */

/*
 * What one sync reads: the Services' desired state and, beside it, the
 * NetworkPolicy state (NULL until that exists).  One struct, so a new
 * input does not change every mode's signature.
 */
struct sy_sync_input {
	const struct desired_state *services;
	const struct policy_state *policy;	/* NULL today */
	/*
	 * The sync run, the same for each family's instance in one run and
	 * new for the next (0: unknown).  What one instance reads from the
	 * kernel for both families may serve the other within the run.
	 */
	uint64_t run;
};

/* At most this many kernel tables per mode (proxy_mode_ops.rule_tables). */
#define MODE_MAX_TABLES 4

struct mode_sync_stats {
	uint64_t rules_written;		/* rules / objects written this sync */
	uint64_t rules_total;		/* rules / objects now owned (e.g. nat rules) */
	uint64_t writes;		/* kernel write operations (0 = nothing to do) */
	/* Rules now owned per kernel table, indexed like proxy_mode_ops.rule_tables */
	uint64_t table_rules[MODE_MAX_TABLES];
	double kernel_write_seconds;	/* in the kernel's table replace calls alone */
	double kernel_write_cpu_seconds;	/* the same in this thread's CPU time */
	unsigned table_reads_skipped;	/* partial sync: tables not read back (unchanged shape) */
	unsigned tables_patched;	/* partial sync: tables changed in place (no new blob) */
	unsigned tables_relaid;		/* of those, laid out anew in the same buffer */
	/*
	 * Set by the mode: call sync again within this many seconds even if
	 * nothing changes (e.g. to delete drained IPVS real servers); 0 = no need.
	 */
	double resync_in;
	/*
	 * A failed sync's reason with its context, for the runner's log line
	 * ("virtual server TCP/10.96.0.1:443: Operation not permitted"); ""
	 * when the return value's text is all there is.
	 */
	char err[256];
};

/*
 * The start of a mode's proxy_mode_ops: its name and the four callbacks
 * every mode has, named by convention PREFIX_init, PREFIX_sync,
 * PREFIX_cleanup, PREFIX_free.  What follows in the table is what the
 * mode adds to the defaults.
 */
#define PROXY_MODE_OPS(mode_name, prefix)                                             \
	.name = (mode_name), .init = prefix##_init, .sync = prefix##_sync,           \
	.cleanup = prefix##_cleanup, .free = prefix##_free

/*
 * What a mode that writes iptables tables (libiptc) adds to PROXY_MODE_OPS:
 * the runner's xtables lock around each sync, and its rules counted in
 * filter and nat (mode_sync_stats.table_rules[0] and [1]).
 */
#define PROXY_MODE_XTABLES .xtables_lock = true, .rule_tables = proxy_mode_xtables_tables
extern const char *const proxy_mode_xtables_tables[];	/* { "filter", "nat", NULL } */

struct proxy_mode_ops {
	const char *name;		/* "iptables", "ipvs" */
	/* the start-up log line; NULL = kube-proxy's "Using <name> Proxier" */
	const char *proxier_name;
	/*
	 * The mode writes iptables tables: the sync runner takes
	 * /run/xtables.lock (without waiting) around each sync, so the mode's
	 * own sy_xtables_lock calls nest and never wait on the loop.
	 */
	bool xtables_lock;
	/*
	 * Check the kernel can do this mode and prepare (open sockets,
	 * verify the scheduler, ...).  Must not change the dataplane in a
	 * way that breaks existing traffic.  On failure write a reason to
	 * err and return -errno: the daemon exits with code 2.  What the
	 * owner should log besides (the settings in use, settings ignored)
	 * goes to rep.
	 * One instance serves one address family (AF_INET, AF_INET6): the
	 * instance programs the ports of that family only (ds_ports()), and
	 * dual stack makes one instance per family.  A mode that cannot
	 * program family returns -EAFNOSUPPORT.  Today every mode is IPv4
	 * only and the daemon makes the AF_INET instance.
	 */
	int (*init)(struct proxy_mode **ret, const struct sy_config *cfg, int family,
		    const struct sy_report *rep, char *err, size_t errlen);
	/*
	 * Make the kernel match in->services (and, once it exists,
	 * in->policy).  full: rewrite/verify everything (periodic resync,
	 * drift repair); otherwise the mode may use the desired state's
	 * changes to limit the work.  Returns 0 or -errno (the runner retries
	 * with backoff and keeps the previous rules).
	 */
	int (*sync)(struct proxy_mode *m, const struct sy_sync_input *in, bool full,
		    struct mode_sync_stats *st);
	/*
	 * Remove everything this mode ever created; no instance needed.
	 * Goes on past a failed piece; every failure is reported to rep
	 * ('E' or 'W', what failed and why), the first one's -errno returned.
	 */
	int (*cleanup)(const struct sy_config *cfg, const struct sy_report *rep);
	void (*free)(struct proxy_mode *m);

	/* What the daemon needs to know about the mode (all optional). */
	/*
	 * The mode's own sync periods: given the common --min-sync-period and
	 * --sync-period in *min and *full, replace them (IPVS: ipvs.minSyncPeriod,
	 * ipvs.syncPeriod when set).  NULL = the common ones.
	 */
	void (*sync_periods)(const struct sy_config *cfg, double *min, double *full);
	/*
	 * Kernel tables the mode counts rules in (NULL-terminated, at most
	 * MODE_MAX_TABLES), in the order /metrics lists them; NULL = none.
	 */
	const char *const *rule_tables;
	/*
	 * The mode reads the Service CIDRs (desired_state service_cidrs): the
	 * Kubernetes client then watches networking.k8s.io/v1 ServiceCIDRs.
	 */
	bool service_cidrs;
	/* Mode-specific metric families /metrics shows (MODE_METRICS_*). */
	unsigned metric_families;
	/*
	 * Network devices the mode creates whose addresses are not the node's
	 * (IPVS: kube-ipvs0 holds the Service addresses); NULL-terminated or NULL.
	 */
	const char *const *own_devices;
	/*
	 * --nodeport-addresses unset means "primary" (the node IP of each
	 * family) rather than every local address: kube-proxy's nftables
	 * default (platformApplyDefaults); the daemon applies it at start.
	 */
	bool nodeport_primary_default;
};

/* kube-proxy's kubeproxy_sync_proxy_rules_iptables_{total,last}{table} and _restore_failures_total */
#define MODE_METRICS_IPTABLES	0x01
/* kube-proxy's kubeproxy_sync_proxy_rules_nftables_sync_failures_total, switchyard_nftables_objects{table} */
#define MODE_METRICS_NFTABLES	0x02

extern const struct proxy_mode_ops iptables_mode_ops;
extern const struct proxy_mode_ops ipvs_mode_ops;
extern const struct proxy_mode_ops nftables_mode_ops;
extern const struct proxy_mode_ops none_mode_ops;	/* desired state only */

/* modes/registry.c: by name, or NULL. */
const struct proxy_mode_ops *proxy_mode_find(const char *name);
/* All modes, NULL-terminated (for --cleanup, which cleans every mode). */
extern const struct proxy_mode_ops *const proxy_modes[];
/* Whether any mode lists ifname in its own_devices (a left-over one counts too). */
bool proxy_mode_owns_device(const char *ifname);
/* st's count for table (index in ops->rule_tables), 0 if the mode has no such table. */
uint64_t proxy_mode_table_rules(const struct proxy_mode_ops *ops, const struct mode_sync_stats *st,
				const char *table);

#endif
