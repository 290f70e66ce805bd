/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SWITCHYARD_IPTABLES_BLOB_H
#define SWITCHYARD_IPTABLES_BLOB_H
/*
 * The iptables mode's kernel writer.  A table is read once per full sync
 * (IPT_SO_GET_ENTRIES; a partial sync reuses the table as it was last
 * written when IPT_SO_GET_INFO shows nobody changed it), split into what is ours (chains named by
 * ipt_chain_is_ours and jumps to them) and everything else, and replaced
 * whole (IPT_SO_SET_REPLACE, the same call libiptc's iptc_commit ends in)
 * by a blob built straight from the plan: everything else is copied
 * verbatim (jump offsets relocated, counters carried over), ours is
 * generated.  A table whose normalised content would not change is not
 * written.  The caller holds /run/xtables.lock around read → commit.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "iptables_plan.h"

struct ipt_ktable;	/* a parsed kernel table (foreign parts kept) */

/*
 * Read and parse table t of family (AF_INET: iptables, AF_INET6:
 * ip6tables; fd a socket of that family, sy_xt_socket_af); -errno
 * (-EAGAIN: the table changed under us, retry).  Every function below works
 * on either family, the one of the table (a plan must be of it too).
 */
int ipt_ktable_read(int fd, int family, enum ipt_table t, struct ipt_ktable **ret);
void ipt_ktable_free(struct ipt_ktable *kt);
/* Does the kernel table hold anything of ours (a chain or a jump to one)? */
bool ipt_ktable_has_ours(const struct ipt_ktable *kt);
uint64_t ipt_ktable_hash(const struct ipt_ktable *kt);
/*
 * The cheap check before a partial sync: does the kernel's table still have
 * kt's shape (IPT_SO_GET_INFO: size, entry count, hook entry and underflow
 * offsets)?  1 = yes, 0 = someone changed it, -errno.  A rule replaced by
 * one of the same size is not seen; full syncs read everything.
 */
int ipt_ktable_unchanged(int fd, const struct ipt_ktable *kt);

struct ipt_blob;
/*
 * Build the new table: the kernel's foreign parts plus plan's chains of
 * table t (plan NULL: nothing of ours, for cleanup).  Each chain of ours is
 * stamped with where it lies in the blob (ipt_blob_patch uses that).
 */
int ipt_blob_build(const struct ipt_ktable *kt, struct ipt_plan *plan, struct ipt_blob **ret);
uint64_t ipt_blob_hash(const struct ipt_blob *b);
unsigned ipt_blob_entries(const struct ipt_blob *b);
size_t ipt_blob_size(const struct ipt_blob *b);
/* Replace the table and carry the kept entries' counters over.  -errno. */
int ipt_blob_commit(int fd, struct ipt_blob *b, const struct ipt_ktable *kt);
/* Seconds the last commit spent in IPT_SO_SET_REPLACE alone (the kernel's work). */
double ipt_blob_replace_seconds(const struct ipt_blob *b);
double ipt_blob_replace_cpu_seconds(const struct ipt_blob *b);	/* this thread's CPU in it */
/*
 * A change without a new blob, when kt is the table b wrote (nobody changed
 * it since; else -ESTALE: build a new blob).  When plan lays out to exactly
 * b's chains, offsets and sizes, the chains that changed (and our built-in
 * jumps) are re-encoded in place and every jump stays valid; *ret_kt =
 * NULL, kt still describes b's layout.  Otherwise b is laid out anew in its
 * own buffer: unchanged chains of ours and the foreign parts are moved
 * (ipt_moves_apply), not re-encoded, their jumps pointed at the new
 * offsets, the rest encoded — byte for byte what ipt_blob_build would make
 * — and *ret_kt is the table as b now holds it (kt is still the kernel's
 * until b is committed).  *changed: whether any byte differs (commit b
 * then).  -errno: b is unchanged.
 */
int ipt_blob_patch(struct ipt_blob *b, const struct ipt_ktable *kt, struct ipt_plan *plan,
		   bool *changed, struct ipt_ktable **ret_kt);
/*
 * One kept byte range of a layout change: size bytes at old_off go to
 * new_off.  Ranges keep their order and do not overlap (in either layout).
 */
struct ipt_move {
	uint32_t old_off, new_off, size;
};
/*
 * Move the ranges mv[0..n) (sorted by old_off) inside base without a
 * second buffer: ranges adjacent in both layouts are merged first (mv is
 * rewritten), those moving towards the start go first to last, those moving
 * towards the end last to first.  Returns the number of memmove calls.
 */
unsigned ipt_moves_apply(uint8_t *base, struct ipt_move *mv, unsigned n);
/* Tests: -1 when a and b are the same table blob byte for byte, -2 when their
 * headers differ, else the offset of the first differing byte. */
long ipt_blob_diff(const struct ipt_blob *a, const struct ipt_blob *b);
/* Tests: do two parsed tables describe the same layout and foreign parts? */
bool ipt_ktable_same(const struct ipt_ktable *a, const struct ipt_ktable *b);
/* An empty table t as the kernel creates it (policies ACCEPT), without a kernel. */
struct ipt_ktable *ipt_ktable_empty(int family, enum ipt_table t);
/* Does b hold what the kernel table kt holds (normalised)? */
bool ipt_blob_matches(const struct ipt_blob *b, const struct ipt_ktable *kt);
/* kt (the table as written) was patched in place: its hash is no longer known. */
void ipt_ktable_patched(struct ipt_ktable *kt);
/* The table as b wrote it, as ipt_ktable_read would return it (no read). */
int ipt_ktable_from_blob(const struct ipt_blob *b, enum ipt_table t, struct ipt_ktable **ret);
void ipt_blob_free(struct ipt_blob *b);


#endif
