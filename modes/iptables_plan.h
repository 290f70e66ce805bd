/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SWITCHYARD_IPTABLES_PLAN_H
#define SWITCHYARD_IPTABLES_PLAN_H
/*
 * The iptables mode's pure planner: desired state → chains and rules as
 * structs (no kernel, no libiptc).  modes/iptables_blob.c turns a plan into
 * the kernel's table blob.
 *
 * Layout (nat):
 *   PREROUTING, OUTPUT   -j SY-SERVICES
 *   POSTROUTING          -j SY-POSTROUTING
 *   SY-SERVICES          a tree of SY-DST-* chains keyed on destination
 *                        address bits (≤16 rules a level), leaves hold the
 *                        per-address rules; then the NodePort jump(s)
 *   SY-NODEPORTS         -p P --dport NP -j SY-EXT-h
 *   SY-SVC-h / SY-SVL-h  cluster / local endpoints (statistic, recent)
 *   SY-EXT-h, SY-FW-h    external traffic, loadBalancerSourceRanges
 *   SY-SEP-h             hairpin mark + DNAT (+ recent --set)
 *   SY-MARK-MASQ, SY-POSTROUTING  the masquerade mark and its MASQUERADE
 * filter: INPUT/FORWARD/OUTPUT → SY-SERVICES (a tree of SY-FDST-* with
 * REJECT / DROP), SY-EXTERNAL-SERVICES (NodePort REJECT / DROP),
 * FORWARD → SY-FORWARD (accept marked and established traffic); with
 * localhost NodePorts, INPUT/OUTPUT → SY-FIREWALL drops new traffic to
 * 127.0.0.0/8 from elsewhere (route_localnet would otherwise let it in).
 */
#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include "switchyard/addr.h"
#include "switchyard/config.h"
#include "switchyard/hmap.h"

struct ds_port;
struct desired_state;
struct sy_config;

#define IPT_CHAIN_MAXLEN 28		/* kernel XT_EXTENSION_MAXNAMELEN - 1 = 28 */
#define IPT_PREFIX "SY-"

enum ipt_table { IPT_NAT, IPT_FILTER, IPT_NTABLES };

enum ipt_tgt {
	IPT_T_JUMP,		/* jump to rule.jump */
	IPT_T_ACCEPT,
	IPT_T_DROP,
	IPT_T_RETURN,
	IPT_T_REJECT,		/* icmp-port-unreachable */
	IPT_T_DNAT,		/* to_addr:to_port */
	IPT_T_MARK,		/* --set-xmark mark/mask */
	IPT_T_MASQ,		/* MASQUERADE --random-fully */
};

/* rule.matches */
#define IPT_M_DPORT		0x0001	/* -m tcp/udp/sctp --dport dport (needs proto) */
#define IPT_M_STAT		0x0002	/* -m statistic --mode random --probability prob/2^31 */
#define IPT_M_RCHECK		0x0004	/* -m recent --rcheck --seconds S --reap --name recent */
#define IPT_M_RSET		0x0008	/* -m recent --set --name recent */
#define IPT_M_DST_LOCAL		0x0010	/* -m addrtype --dst-type LOCAL */
#define IPT_M_SRC_LOCAL		0x0020	/* -m addrtype --src-type LOCAL */
#define IPT_M_MARK		0x0040	/* -m mark --mark mark/mark_mask (! with IPT_M_MARK_INV) */
#define IPT_M_MARK_INV		0x0080
#define IPT_M_STATE_NEW		0x0100	/* -m conntrack --ctstate NEW */
#define IPT_M_STATE_EST		0x0200	/* -m conntrack --ctstate RELATED,ESTABLISHED */
#define IPT_M_COMMENT		0x0400	/* -m comment --comment comment */
#define IPT_M_STATE_NOT_EST_DNAT 0x0800	/* -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT */

/* rule.inv */
#define IPT_R_INV_SRC		0x01
#define IPT_R_INV_DST		0x02

struct ipt_chain;

/* An address of the plan's family: IPv4 in v4 (the other 12 bytes zero), or IPv6. */
union ipt_addr {
	struct in_addr v4;
	struct in6_addr v6;
	uint8_t b[16];
};

struct ipt_rule {
	union ipt_addr src, dst;	/* -s src/splen, -d dst/dplen (network order) */
	uint8_t splen, dplen;		/* prefix lengths; 0 = any */
	uint8_t proto;			/* 0 = any */
	uint8_t inv;			/* IPT_R_INV_* */
	uint8_t target;			/* enum ipt_tgt */
	uint16_t matches;		/* IPT_M_* */
	uint16_t dport;
	uint16_t dport_hi;		/* --dport dport:dport_hi when set (NodePort tree) */
	uint16_t to_port;
	uint32_t prob;			/* statistic: probability × 2^31 */
	uint32_t seconds;		/* recent --rcheck */
	uint32_t mark, mark_mask;	/* MARK target / mark match */
	union ipt_addr to_addr;		/* DNAT */
	const struct ipt_chain *jump;	/* IPT_T_JUMP */
	const struct ipt_chain *recent;	/* recent list named after this chain */
	const char *comment;		/* static string */
};

struct ipt_chain {
	char name[IPT_CHAIN_MAXLEN + 1];
	uint8_t table;			/* enum ipt_table */
	bool used;			/* emitted (global chains may stay unused) */
	struct ipt_rule *rules;
	unsigned n_rules, cap_rules;
	/* writer scratch */
	uint32_t off;			/* offset of the head (ERROR) entry */
	uint32_t first;			/* offset of the first rule (jump target) */
	/*
	 * Where the writer last encoded this chain: blob enc_gen, at enc_off,
	 * enc_size bytes (head to tail).  encoded is cleared by any change to
	 * the rules: an unchanged chain is left as it is when that blob is
	 * patched in place (ipt_blob_patch).
	 */
	bool encoded, reuse;
	bool gone;			/* its port plan is being replaced (ipt_plan_build) */
	uint32_t enc_off, enc_size;
	uint64_t enc_gen;
};

/* Append a rule (copied); returns the stored rule. */
struct ipt_rule *ipt_chain_add(struct ipt_chain *c, const struct ipt_rule *r);
void ipt_chain_clear(struct ipt_chain *c);

/*
 * What one ds_port contributes; built once per ds_port serial and cached.
 * Dispatch rules carry their destination (-d addr/32) and go into the
 * SY-SERVICES trees; NodePort rules go to SY-NODEPORTS / filter
 * SY-EXTERNAL-SERVICES.
 */
struct ipt_port_plan {
	char *name;			/* ds_port name (hmap key) */
	uint64_t serial;
	struct ipt_chain *chains;	/* nat chains: SVC, SVL, EXT, FW, SEP... */
	unsigned n_chains;
	struct ipt_rule *nat_disp, *nat_np, *filt_disp, *filt_ext;
	unsigned n_nat_disp, n_nat_np, n_filt_disp, n_filt_ext;
	uint64_t seen;			/* the plan's sweep_gen that last saw it (mark & sweep) */
};

/*
 * Global settings of a plan, derived from the config and the node.  A plan
 * is of one address family (one per mode instance, as kube-proxy has one
 * proxier per family): its rules, cluster CIDRs and NodePort addresses are
 * of that family only.
 */
struct ipt_plan_opts {
	uint8_t family;			/* AF_INET (0 is taken as AF_INET) or AF_INET6 */
	uint32_t masq_mark;		/* 1 << masquerade_bit */
	bool masquerade_all;
	struct sy_cidr cluster_cidrs[SY_MAX_CIDRS];	/* --cluster-cidr of the family */
	unsigned n_cluster_cidrs;
	/* when !nodeport_all_local; addresses of another family are ignored */
	const struct sy_addr *nodeport_addrs;
	unsigned n_nodeport_addrs;
	bool nodeport_all_local;
	bool localhost_nodeports;
	/* --nodeport-addresses covers 127.0.0.1 (the daemon leaves loopback out of the list) */
	bool nodeport_loopback;
	unsigned leaf_max;		/* max distinct addresses in a dispatch leaf (default 8) */
};

struct ipt_plan {
	struct ipt_plan_opts opts;
	struct hmap ports;		/* name → struct ipt_port_plan */
	/* global chains, rebuilt each time */
	struct ipt_chain nat_services, nat_nodeports, nat_postrouting, nat_mark_masq,
			 nat_masq_cidr, filt_services, filt_external, filt_forward, filt_firewall;
	/* dispatch tree chains (SY-DST-* / SY-FDST-*) */
	struct ipt_chain *tree;
	unsigned n_tree, cap_tree;
	/* jump rules for the built-in chains, per table and hook */
	struct ipt_rule builtin[IPT_NTABLES][5][4];
	unsigned n_builtin[IPT_NTABLES][5];
	/* totals of the last build */
	uint64_t n_rules[IPT_NTABLES], n_chains[IPT_NTABLES];
	bool need_route_localnet;
	unsigned rebuilt_ports;		/* ports (re)planned by the last build */
	bool built;			/* built at least once */
	bool unchanged;			/* the last build found nothing to change */
	uint64_t blob_gen;		/* the writer's blob generations (ipt_blob_patch) */
	uint64_t sweep_gen;		/* builds, for the per-port mark & sweep */
	/*
	 * Every port plan's chain sorted by name, kept up to date by
	 * ipt_plan_build (out with a replaced port's, its successor's merged
	 * in) so the writer need not sort 40k chains per sync.
	 */
	struct ipt_chain **pc;
	unsigned n_pc, cap_pc;
	struct ipt_port_plan **dying;	/* ipt_plan_build scratch */
	unsigned n_dying, cap_dying;
	struct ipt_chain **born;
	unsigned n_born, cap_born;
};

void ipt_plan_init(struct ipt_plan *p, const struct ipt_plan_opts *opts);
void ipt_plan_fini(struct ipt_plan *p);
/* Options of a family's plan from the config and the desired state's node. */
void ipt_plan_opts_from(struct ipt_plan_opts *o, const struct sy_config *cfg,
			const struct desired_state *ds, int family);
/*
 * Bring the plan up to date with ds's ports of the plan's family
 * (ds_ports): re-plan only ports whose serial
 * changed, drop removed ones, rebuild the global chains and trees.
 * Returns 0 or -errno.
 */
int ipt_plan_build(struct ipt_plan *p, const struct desired_state *ds);
/* Plan one port (pure).  The result is owned by the caller (ipt_port_plan_free). */
struct ipt_port_plan *ipt_port_plan_new(const struct ipt_plan *p, const struct ds_port *dp);
void ipt_port_plan_free(struct ipt_port_plan *pp);

/*
 * Every emitted user chain of table t sorted by name (the writer's order):
 * *ret is allocated (free it), *n its length.
 */
void ipt_plan_sorted_chains(struct ipt_plan *p, enum ipt_table t, struct ipt_chain ***ret,
			    unsigned *n);
/* Iterate every emitted user chain of a table (global, tree, ports). */
typedef void (*ipt_chain_fn)(void *arg, struct ipt_chain *c);
void ipt_plan_foreach_chain(struct ipt_plan *p, enum ipt_table t, ipt_chain_fn fn, void *arg);

/* kube-proxy style names: PREFIX + base32(sha256(s))[:16]. */
void ipt_chain_name(char out[IPT_CHAIN_MAXLEN + 1], const char *prefix, const char *s);
void ipt_sha256(const void *data, size_t len, uint8_t out[32]);
/* Is this a chain switchyard's iptables mode creates (exact names / our prefixes)? */
bool ipt_chain_is_ours(const char *name);
/* 2^31 / n, rounded: the statistic match's probability for 1/n. */
uint32_t ipt_prob_inv(unsigned n);

/* Built-in chain names by hook (NF_INET_*), NULL if not valid in t. */
const char *ipt_hook_name(unsigned hook);
unsigned ipt_table_hooks(enum ipt_table t);	/* valid_hooks bitmask */
const char *ipt_table_name(enum ipt_table t);

#endif
