/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SWITCHYARD_IPTC_H
#define SWITCHYARD_IPTC_H
/*
 * lib/iptc.c: libiptc's init → edit → commit loop, once for every libiptc
 * writer (the IPVS mode's rules, the pod network's chains), for ip tables
 * (libip4tc) and ip6 tables (libip6tc).
 */

struct xtc_handle;

/* Which step failed. */
enum sy_iptc_step {
	SY_IPTC_INIT,		/* iptc_init: e.g. -ENOENT, no such table */
	SY_IPTC_EDIT,		/* the edit callback */
	SY_IPTC_COMMIT,		/* iptc_commit (-EAGAIN after the last retry) */
};

/*
 * Edit table through libiptc; the caller holds /run/xtables.lock.
 * edit(h, arg) changes the handle and returns 1 to commit, 0 when nothing
 * changed (no commit) or -errno (no commit).  A commit that finds the table
 * changed since iptc_init (EAGAIN: a writer that ignores the lock) is redone
 * from iptc_init, up to 3 times.  Returns 1 committed, 0 nothing to
 * commit, or -errno with *step (may be NULL) naming the step that failed.
 */
int sy_iptc_edit(const char *table, int (*edit)(struct xtc_handle *h, void *arg), void *arg,
		 enum sy_iptc_step *step);
/* The same for family AF_INET (libip4tc, = sy_iptc_edit) or AF_INET6 (libip6tc: ip6tables). */
int sy_iptc_edit_family(int family, const char *table,
			int (*edit)(struct xtc_handle *h, void *arg), void *arg,
			enum sy_iptc_step *step);

#endif
