/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SWITCHYARD_IPTC_H
#define SWITCHYARD_IPTC_H
/*
 * lib/iptc.c: the one libiptc edit layer, for ip tables (libip4tc) and ip6
 * tables (libip6tc) alike: the lock → init → edit → commit loop, the
 * family's libiptc calls behind one table of entry points, rules built as
 * the family's entry (struct ipt_entry or struct ip6t_entry) and compared,
 * and the edits every libiptc writer (the IPVS mode's rules, the pod
 * network's chains) makes: chains made to hold exactly their rules, jumps
 * from built-in chains, removal.  Returns 0 / 1 / -errno; logs nothing.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sy_cidr;
struct xt_entry_target;

/* An open table of one family, as an edit callback gets it. */
struct sy_iptc;

/* Which step failed. */
enum sy_iptc_step {
	SY_IPTC_INIT,		/* iptc_init: e.g. -ENOENT, no such table */
	SY_IPTC_EDIT,		/* the edit callback */
	SY_IPTC_COMMIT,		/* iptc_commit (-EAGAIN after the last retry) */
};

/*
 * Edit table of family (AF_INET: libip4tc, AF_INET6: libip6tc) through
 * libiptc; the caller holds /run/xtables.lock.  edit(t, arg) changes the
 * table and returns 1 to commit, 0 when nothing changed (no commit) or
 * -errno (no commit).  A commit that finds the table changed since the init
 * (EAGAIN: a writer that ignores the lock) is redone from the init, up to 3
 * times.  Returns 1 committed, 0 nothing to commit, or -errno with *step
 * (may be NULL) naming the step that failed.
 */
int sy_iptc_edit(int family, const char *table, int (*edit)(struct sy_iptc *t, void *arg),
		 void *arg, enum sy_iptc_step *step);
/* libiptc's (libip6tc's) text for an errno of its calls. */
const char *sy_iptc_strerror(int family, int err);

/* ---- a rule of either family --------------------------------------------------
 * The family's entry header, then the matches in the order added, then the
 * target: what libiptc appends and what the kernel hands back.
 */
#define SY_IPTC_RULE_MAX 1024
struct sy_iptc_rule {
	_Alignas(8) unsigned char buf[SY_IPTC_RULE_MAX];
	size_t len;		/* bytes used */
	int family;
};

/* An empty rule (any address, any protocol, no target yet). */
void sy_iptc_rule_init(struct sy_iptc_rule *r, int family);
/* -s / -d prefix ([!] with invert); a prefix of family 0 matches any address. */
void sy_iptc_rule_src(struct sy_iptc_rule *r, const struct sy_cidr *c, bool invert);
void sy_iptc_rule_dst(struct sy_iptc_rule *r, const struct sy_cidr *c, bool invert);
/* -p proto */
void sy_iptc_rule_proto(struct sy_iptc_rule *r, uint8_t proto);
/* -m name (revision rev): its data, size bytes, zeroed, to fill in. */
void *sy_iptc_rule_match(struct sy_iptc_rule *r, const char *name, uint8_t rev, size_t size);
/* -j name (revision rev), the last thing added: its data, zeroed, to fill in. */
void *sy_iptc_rule_target(struct sy_iptc_rule *r, const char *name, uint8_t rev, size_t size);
/* -j to: a chain, or a verdict (ACCEPT, DROP, RETURN). */
void sy_iptc_rule_jump(struct sy_iptc_rule *r, const char *to);
/* -j MASQUERADE [--random-fully], in the family's layout. */
void sy_iptc_rule_masquerade(struct sy_iptc_rule *r, bool random_fully);

/* ---- entries as libiptc and the kernel hand them (ipt_entry / ip6t_entry) ----- */
size_t sy_iptc_entry_size(int family);
unsigned sy_iptc_entry_next(int family, const void *e);	/* its next_offset */
const struct xt_entry_target *sy_iptc_entry_target(int family, const void *e);
/*
 * Entry e is rule want: the same addresses, interfaces, protocol and flags,
 * the same matches, target name e_target (libiptc's iptc_get_target, or a
 * kernel blob's verdict read as its name) and, for a target extension, the
 * same target data.
 */
bool sy_iptc_entry_equal(int family, const void *e, const char *e_target,
			 const struct sy_iptc_rule *want);

/* ---- libiptc on an open table: 0 or -errno ------------------------------------ */
int sy_iptc_family(const struct sy_iptc *t);
bool sy_iptc_is_chain(struct sy_iptc *t, const char *chain);
const void *sy_iptc_first_rule(struct sy_iptc *t, const char *chain);
const void *sy_iptc_next_rule(struct sy_iptc *t, const void *e);
const char *sy_iptc_get_target(struct sy_iptc *t, const void *e);
int sy_iptc_append(struct sy_iptc *t, const char *chain, const struct sy_iptc_rule *r);

/* ---- the edits every writer makes ------------------------------------------------ */
/* A chain of ours and the rules it holds, in order. */
struct sy_iptc_chain {
	const char *name;
	const struct sy_iptc_rule *rules;
	unsigned n;
};

/* A jump from a (built-in) chain to one of ours. */
struct sy_iptc_jump {
	const char *from, *to;
};

/* The chain holds exactly c's rules. */
bool sy_iptc_chain_equal(struct sy_iptc *t, const struct sy_iptc_chain *c);
/*
 * Create the chains that are missing (all before filling any: rules may
 * jump between them), then flush and refill each whose rules differ.
 * 1 if anything changed, 0, -errno.
 */
int sy_iptc_chains_ensure(struct sy_iptc *t, const struct sy_iptc_chain *c, unsigned n);
/* How many rules of j->from jump to j->to. */
unsigned sy_iptc_count_jumps(struct sy_iptc *t, const struct sy_iptc_jump *j);
/* Keep exactly one jump j, the first rule of j->from: 1 if changed, 0, -errno. */
int sy_iptc_jump_first(struct sy_iptc *t, const struct sy_iptc_jump *j);
/* Append jump j to j->from when it has none: 1 if appended, 0, -errno. */
int sy_iptc_jump_append(struct sy_iptc *t, const struct sy_iptc_jump *j);
/*
 * Delete every jump of jumps, then flush the chains that exist (they may
 * jump to each other), then delete them: 1 if anything went, 0, -errno.
 */
int sy_iptc_remove(struct sy_iptc *t, const struct sy_iptc_jump *jumps, unsigned n_jumps,
		   const char *const *chains, unsigned n_chains);

#endif
