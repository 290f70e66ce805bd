/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SWITCHYARD_NETPOL_NFT_H
#define SWITCHYARD_NETPOL_NFT_H
/*
 * NetworkPolicy, the kernel side (policy/policy_nft.c): the planner's
 * state (netpol.h) programmed into `table inet switchyard-policy` through
 * lib/nft.c, one nf_tables transaction per sync.  Layout and choices:
 * doc/network-policy.md.
 *
 *   partial sync: the planner's changes and deltas since its last commit
 *     (a pod or namespace change = set elements only; a policy change =
 *     that policy's chains and sets, and its namespace's chain);
 *   full sync: the whole state compared with a netlink dump of the table,
 *     only the differences written (drift repaired; an unchanged restart
 *     writes nothing); stale chains and sets deleted.
 * On success the planner is committed; on a refusal nothing is committed
 * and the caller forces a full sync next time.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NETPOL_NFT_TABLE "switchyard-policy"

struct policy_state;
struct netpol_nft;

struct netpol_nft_stats {
	bool full;
	unsigned policies, changes;	/* policies in the state; policy changes written */
	size_t deltas;			/* element deltas applied (partial) */
	size_t elems_added, elems_deleted;
	unsigned chains_written;	/* chains (re)written */
	unsigned objs_deleted;		/* stale chains and sets deleted */
	unsigned msgs;			/* netlink messages in the batch (0 = nothing sent) */
	double seconds, kernel_seconds;	/* whole sync; the kernel's part */
	char err[320];			/* the refusal, when the sync failed */
	/*
	 * A full sync the kernel refused (say a set of another type under our
	 * name), then made by rebuilding the table in one transaction: the
	 * first refusal; "" when there was none.
	 */
	char rebuilt[320];
};

int netpol_nft_new(struct netpol_nft **ret);
void netpol_nft_free(struct netpol_nft *w);
/* One sync (see above).  0 or -errno (st->err says what the kernel refused). */
int netpol_nft_sync(struct netpol_nft *w, struct policy_state *ps, bool full,
		    struct netpol_nft_stats *st);
/* Delete the table (--cleanup): 1 deleted, 0 none there, -errno. */
int netpol_nft_cleanup(void);

#endif
