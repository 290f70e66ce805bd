/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SWITCHYARD_CONNTRACK_H
#define SWITCHYARD_CONNTRACK_H
/*
 * Stale UDP/SCTP conntrack cleanup over netlink (conntrack/, doc/conntrack.md).
 * After each sync the runner calls ct_cleanup() with the desired state whose
 * changes are not committed yet.  An entry is stale when its original
 * destination is a Service address:port (ClusterIP, externalIP, LB IP, or
 * the NodePort on a NodePort address) and its reply source is not one of
 * the serving endpoints of a port currently using that destination.
 */
#include <stdbool.h>
#include <stdint.h>

struct ct;
struct desired_state;

struct ct_stats {
	uint64_t deleted;	/* entries deleted (added to by each call) */
	uint64_t errors;	/* netlink errors (retried next sync; added to) */
	double seconds;		/* this call */
	/* this call, for the caller's log lines */
	uint64_t deleted_now;
	unsigned keys;		/* Service destinations checked (0: nothing to do) */
	unsigned dumps;
	uint64_t examined;	/* entries the dumps returned */
	bool full;
	bool checked;		/* the table was read (ct_stats_summary says how) */
	char err[256];		/* the first error with its context, "" = none */
};

/* Opens the netlink socket (NETLINK_NETFILTER): 0 or -errno. */
int ct_new(struct ct **ret);
void ct_free(struct ct *ct);	/* NULL is fine */
/*
 * Also clean up IPv6 entries, after the IPv6 ports (ds->ports6) on full
 * passes and after the IPv6 changes (ds_changes(ds, AF_INET6)).  Off by default: turn it
 * on only when a mode programs IPv6 Services (an IPv6 flow nothing NATs
 * would otherwise count as stale on every full pass).  Entries of both
 * families are always read and deleted as AF_INET / AF_INET6 ctnetlink
 * messages of their own family.
 */
void ct_set_ipv6(struct ct *ct, bool on);
/*
 * Delete stale entries for the changed ports of ds (full: for every
 * port, e.g. after a restart).  Never fails the sync: errors are counted in
 * st->errors, the first described in st->err for the caller to log, and
 * retried by the next call (a full pass).  Adds to st->deleted and
 * st->errors, sets the rest of st.  Logs only a trace per entry at -v 4.
 */
void ct_cleanup(struct ct *ct, const struct desired_state *ds, bool full, struct ct_stats *st);
/* "deleted N stale UDP/SCTP entries (...) in T ms": what the call did (when st->checked). */
void ct_stats_summary(const struct ct_stats *st, char *buf, size_t len);

struct sy_config;
/*
 * conntrack/ct_sysctl.c: apply the conntrack.* settings (table size from
 * maxPerCore x CPUs / min, only ever raised; TCP and UDP timeouts) through
 * /proc/sys.  0 leaves a value alone.  Returns 0 or the first -errno, with
 * err naming the setting.
 */
int ct_sysctls_apply(const struct sy_config *cfg, char *err, size_t errlen);

#endif
