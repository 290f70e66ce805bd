/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SWITCHYARD_CONNTRACK_H
#define SWITCHYARD_CONNTRACK_H
/*
 * Stale UDP/SCTP conntrack cleanup over netlink (conntrack/).  After each
 * sync the runner calls ct_cleanup() with the desired state whose changes
 * are not committed yet.
 */
#include <stdbool.h>
#include <stdint.h>

struct ct;
struct desired_state;

struct ct_stats {
	uint64_t deleted;	/* entries deleted by this call */
	uint64_t errors;	/* netlink errors (retried next sync) */
	double seconds;
};

int ct_new(struct ct **ret);
void ct_free(struct ct *ct);
/*
 * Delete stale entries for the changed ports in ds->changes (full: for every
 * port, e.g. after a restart or a failed earlier attempt).  Never fails
 * the sync: errors are counted, logged, and retried next time.
 */
void ct_cleanup(struct ct *ct, const struct desired_state *ds, bool full, struct ct_stats *st);

#endif
