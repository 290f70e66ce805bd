/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SWITCHYARD_CONNTRACK_CT_INT_H
#define SWITCHYARD_CONNTRACK_CT_INT_H
/*
 * Internals of conntrack/ shared by ct.c, ct_plan.c, ct_nl.c and the unit
 * tests (tests/unit/test-ct*.c).  Not a public interface.
 *
 * ct_plan: pure.  From the desired state (its uncommitted changes, or every
 *   port) it computes the set of original-direction destinations to check
 *   (proto + dst address + dst port, or proto + NodePort on a local
 *   address) and, for each, the endpoints a flow to it may legitimately be
 *   NATed to.  An entry to a planned destination whose reply source is not
 *   one of those endpoints is stale.
 * ct_nl: netlink (libmnl): kernel-filtered dumps and batched deletes.
 */
#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include "switchyard/addr.h"
#include "switchyard/hmap.h"

struct desired_state;
struct ds_port;
struct ds_ep;
struct nlmsghdr;

/*
 * One conntrack entry, as far as cleanup cares: ports in host order.  Every
 * address is of the entry's family (AF_INET or AF_INET6: the dump's).
 */
struct ct_entry {
	uint8_t proto;
	struct sy_addr osrc, odst;	/* original direction */
	uint16_t osport, odport;
	struct sy_addr rsrc, rdst;	/* reply direction */
	uint16_t rsport, rdport;
	uint32_t id;
	uint16_t zone;
	bool has_id;
};

/* An endpoint a flow may be NATed to (port in host order). */
struct ct_ep {
	struct sy_addr addr;
	uint16_t port;
};

/* One destination to check. */
struct ct_key {
	char str[48];			/* hmap key (hex proto:family:addr:port; NodePort addr "*") */
	uint8_t proto;
	bool nodeport;			/* any local (NodePort) address: dst has only a family */
	struct sy_addr dst;		/* AF_INET or AF_INET6 */
	uint16_t dport;
	struct ct_ep *eps;		/* sorted, deduplicated: allowed reply sources */
	unsigned n_eps, cap_eps;
	const char *port_name;		/* a Service port using it (for logs), NULL if none left */
};

struct ct_plan {
	struct ct_key **keys;
	unsigned n_keys, cap_keys;
	unsigned n_nodeport_keys;
	struct hmap idx;		/* str → struct ct_key */
	/* NodePort destination check */
	struct sy_addr *local_addrs;	/* nodeport_all_local: this netns' addresses (+127/8, ::1) */
	unsigned n_local_addrs;
	bool all_local, all_local6;	/* per family: the IPv4 / IPv6 destinations */
	const struct sy_addr *nodeport_addrs;	/* otherwise: --nodeport-addresses (borrowed) */
	unsigned n_nodeport_addrs;
	/* set before ct_plan_build: also plan the IPv6 ports and changes */
	bool ipv6;
};

static inline bool ct_proto_tracked(uint8_t proto)
{
	return proto == IPPROTO_UDP || proto == IPPROTO_SCTP;
}

void ct_plan_init(struct ct_plan *p);
void ct_plan_fini(struct ct_plan *p);
/*
 * Fill the plan from ds: the destinations in the IPv4 changes (with
 * p->ipv6 also the IPv6 ones, ds_changes()) whose entries may have gone
 * stale (every destination a change removed, and — unless the change
 * cannot strand a flow — those it kept or added), plus every UDP/SCTP
 * port's when full (with p->ipv6 the IPv6 ports' too).  Keys already in the plan (added with
 * ct_plan_add_key, e.g. owed by a failed call) stay.  Then attach to each
 * key the serving endpoints (all_eps) of every current port using that
 * destination.  Returns the number of keys.
 */
unsigned ct_plan_build(struct ct_plan *p, const struct desired_state *ds, bool full);
/*
 * Add one key (used by ct_plan_build and tests); returns it (existing one
 * if present).  dst gives the family; a NodePort key ignores its address.
 */
struct ct_key *ct_plan_add_key(struct ct_plan *p, uint8_t proto, bool nodeport,
			       struct sy_addr dst, uint16_t dport);
/* Allow reply source addr:port for key k; call ct_plan_seal() before ct_plan_stale(). */
void ct_key_allow(struct ct_key *k, struct sy_addr addr, uint16_t port);
/* Sort and deduplicate every key's allowed endpoints (ct_plan_build does it). */
void ct_plan_seal(struct ct_plan *p);
/* Set the local addresses (either family) used for NodePort keys (copied). */
void ct_plan_set_local(struct ct_plan *p, const struct sy_addr *addrs, unsigned n);
/*
 * Is e stale under this plan?  Returns the matching key when e's original
 * destination is planned and its reply source is not allowed, else NULL.
 */
const struct ct_key *ct_plan_stale(const struct ct_plan *p, const struct ct_entry *e);

/* One kernel-filtered dump of a family: proto, plus dst when set, plus dport when != 0. */
struct ct_dump {
	uint8_t family;			/* AF_INET / AF_INET6 */
	uint8_t proto;
	struct sy_addr dst;		/* unset: no address filter */
	uint16_t dport;
};
/*
 * The dumps covering every key of the plan: one per (family, proto, dport); it
 * also filters on the address when that port has a single non-NodePort
 * destination.  Returns the count; *ret is malloc'd.
 */
unsigned ct_plan_dumps(const struct ct_plan *p, struct ct_dump **ret);

/*
 * Force the dump strategy (bench/tests): up to n per-port dumps, one dump
 * per protocol above; UINT32_MAX restores the cost model.
 */
struct ct;
void ct_set_per_key_max(struct ct *ct, unsigned n);
/* The netlink socket's fd, -1 if none (tests break it to prove the retry). */
int ct_debug_fd(const struct ct *ct);

/* ---- netlink ---- */
struct ct_nl;
typedef void (*ct_entry_fn)(void *arg, const struct ct_entry *e);

int ct_nl_open(struct ct_nl **ret);
void ct_nl_close(struct ct_nl *nl);
int ct_nl_fd(const struct ct_nl *nl);
/*
 * Dump entries of family (AF_INET / AF_INET6) and proto, filtered in the
 * kernel (CTA_FILTER) on the original tuple's proto, plus dst when dst is
 * set (of family; IPv4 only, older kernels match IPv6 addresses inverted),
 * plus dport when dport != 0.  fn is called for each entry.  0 or -errno.
 */
int ct_nl_dump(struct ct_nl *nl, uint8_t family, uint8_t proto, const struct sy_addr *dst,
	       uint16_t dport, ct_entry_fn fn, void *arg);
/*
 * Delete entries (by original tuple + id + zone; each of its family), batched, one ACK each.
 * Adds to *ret_deleted the entries the kernel deleted (ENOENT = already
 * gone, not counted).  Returns 0 or the first -errno other than ENOENT
 * (the remaining deletes are still attempted).
 */
int ct_nl_delete(struct ct_nl *nl, const struct ct_entry *e, unsigned n, uint64_t *ret_deleted);

/* Pure message helpers (unit tested). Return the message length, or 0 if buf is too small. */
size_t ct_nl_build_dump(void *buf, size_t len, uint32_t seq, uint8_t family, uint8_t proto,
			const struct sy_addr *dst, uint16_t dport);
size_t ct_nl_build_delete(void *buf, size_t len, uint32_t seq, const struct ct_entry *e);
/* Parse an IPv4 or IPv6 IPCTNL_MSG_CT_NEW message (or a delete request) into e: 0 or -EINVAL. */
int ct_nl_parse(const struct nlmsghdr *nlh, struct ct_entry *e);

/* Kernel CTA_FILTER flag bits (net/netfilter/nf_conntrack_netlink.c; not in the uapi headers). */
#define CT_FILTER_F_IP_SRC		(1u << 0)
#define CT_FILTER_F_IP_DST		(1u << 1)
#define CT_FILTER_F_TUPLE_ZONE		(1u << 2)
#define CT_FILTER_F_PROTO_NUM		(1u << 3)
#define CT_FILTER_F_PROTO_SRC_PORT	(1u << 4)
#define CT_FILTER_F_PROTO_DST_PORT	(1u << 5)

#endif
