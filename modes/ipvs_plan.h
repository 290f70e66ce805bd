/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SWITCHYARD_IPVS_PLAN_H
#define SWITCHYARD_IPVS_PLAN_H
/*
 * modes/ipvs_plan.c: the IPVS mode's pure planner.  The desired state's
 * ports are added (+1) and removed (-1) one at a time; the plan keeps what
 * they ask for with reference counts (an address or set entry several
 * ports share stays while one of them wants it) and records every key a
 * port touched, so a partial sync moves a changed port's contributions
 * (old version out, new in) and compares only the touched keys with the
 * kernel.
 */
#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include "switchyard/hmap.h"
#include "ipvs_int.h"

struct desired_state;
struct ds_port;

/* A wanted virtual server and its real servers (key: ipvs_svc_key). */
struct vs_item {
	char *key;
	struct ipvs_svc svc;
	struct ipvs_dest *dests;
	unsigned n_dests;
	unsigned refs;
};

/* A wanted address ("10.96.0.1", "fd00::1") or set entry ("<id>|<entry>"). */
struct cnt_item {
	char *key;
	unsigned refs;
};

struct ipvs_plan {
	int family;			/* AF_INET / AF_INET6: the ports, addresses, endpoints planned */
	char sched[IPVS_SCHED_MAX];	/* every virtual server's scheduler */
	struct hmap want_vs;		/* key → vs_item */
	struct hmap want_addr;		/* "10.96.0.1" / "fd00::1" → cnt_item (bound on kube-ipvs0) */
	struct hmap want_set;		/* "<id>|<entry>" → cnt_item */
	/* touched since ipvs_plan_untouch: key → the key (owned) */
	struct hmap t_vs, t_addr, t_set;
};

void ipvs_plan_init(struct ipvs_plan *m, int family);
/*
 * Add (delta +1) or remove (-1) what port p of ds asks for; touches its
 * keys.  Only the plan's family counts: a port of the other family adds
 * nothing, and so does an address or endpoint of the other family in a
 * port's lists.
 */
void ipvs_plan_port(struct ipvs_plan *m, const struct desired_state *ds,
		    const struct ds_port *p, int delta);
/* Forget everything wanted (before a full rebuild); the touched keys stay. */
void ipvs_plan_clear(struct ipvs_plan *m);
/* Forget the touched keys (after a sync). */
void ipvs_plan_untouch(struct ipvs_plan *m);
void ipvs_plan_free(struct ipvs_plan *m);

/* ---- real servers: what to do with the kernel's (graceful termination) ---- */

#define IPVS_GRACE_MAX 60.0	/* seconds a drained TCP real server may linger */

enum ipvs_dest_op {
	IPVS_DEST_KEEP,		/* as wanted */
	IPVS_DEST_ADD,
	IPVS_DEST_EDIT,		/* weight or forwarding differ */
	IPVS_DEST_DEL,		/* unwanted: delete now */
	IPVS_DEST_DRAIN,	/* unwanted TCP with connections: weight 0, then wait */
	IPVS_DEST_WAIT,		/* unwanted, already drained: wait for ipvs_plan_drain_done */
};

/* Same real server (address and port)? */
bool ipvs_dest_same(const struct ipvs_dest *a, const struct ipvs_dest *b);
/* A wanted real server against the kernel's same one (have NULL: absent): KEEP, ADD, EDIT. */
enum ipvs_dest_op ipvs_plan_dest_wanted(const struct ipvs_dest *want, const struct ipvs_dest *have);
/*
 * A real server the kernel has and nobody wants: DEL at once when UDP/SCTP
 * (expire_nodest_conn ends their flows) or without connections, else DRAIN
 * (weight 0) or, drained already, WAIT.
 */
enum ipvs_dest_op ipvs_plan_dest_unwanted(uint8_t proto, const struct ipvs_dest *have);
/* A drained real server age seconds after it was drained: delete it now? */
bool ipvs_plan_drain_done(const struct ipvs_dest *have, double age);

/* Helpers shared with the writers. */
/* Add key to a set of owned keys (key → its copy) unless present. */
void ipvs_touch(struct hmap *t, const char *key);
/* Free the keys of such a set and empty it. */
void ipvs_keys_free(struct hmap *m);
const char *ipvs_proto_name(uint8_t p);		/* "tcp", "udp", "sctp" (ipset syntax) */
void ipvs_addr_str(const struct sy_addr *a, char *buf);	/* buf: SY_ADDR_STRLEN */

#endif
