/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SWITCHYARD_NETPOL_H
#define SWITCHYARD_NETPOL_H
/*
 * NetworkPolicy, the data side (issue 16):
 *   1. the decoded objects: v1 Pod, v1 Namespace, networking.k8s.io/v1
 *      NetworkPolicy, and their pure decoders (core/decode_policy.c);
 *   2. the pure, incremental policy planner (policy/): from those objects
 *      and this node's name it keeps struct policy_state — which local
 *      pods exist and are isolated, and per policy its target set, per rule
 *      its peer set, CIDRs, ports and resolved named ports — plus the
 *      element deltas and policy structure changes since the last commit.
 * The kernel side (modes/ netpol nft table) reads policy_state only
 * through this header.
 *
 * Contract history (additive only after the first landing):
 *   v1 (2026-12-06) first version.
 *   v1.1: pod_same, namespace_same (the cache's "nothing changed" test).
 *   v2 (2026-12-07): the kinds' key, resourceVersion, refcount and cache
 *     bookkeeping in one head, struct np_meta (p->meta.key); np_ref
 *     instead of pod_ref, namespace_ref, netpolicy_ref.
 *
 * Semantics (upstream's, ../shared/notes/nft-policy-dualstack.md §3),
 * written as the kernel side must evaluate the state:
 *
 * - Pods that count: not hostNetwork, at least one IP, phase not
 *   Succeeded/Failed.  Other pods are never targets, peers or tuples.
 *   LOCAL pods: pods that count with spec.nodeName == this node.
 * - A policy p has an id (1.., small, stable while p exists; an id freed
 *   by a removal is not reused before the next netpol_commit), its
 *   namespace/name, and ingress/egress (policyTypes after upstream
 *   defaulting: [Ingress], plus Egress when spec.egress is present).
 * - TARGETS(p) = IPs (both families) of the LOCAL pods in p's namespace
 *   that p.podSelector selects (one set, used for each direction p has).
 * - Global sets: LOCAL (IPs of local pods), ISOLATED_IN (local pods
 *   selected by a policy with ingress), ISOLATED_EG (... with egress).
 * - Ingress to a local pod D from S: allowed when D is not in ISOLATED_IN,
 *   or S is this node (the kernel side's business), or some policy p with
 *   p.ingress and D in TARGETS(p) has an ingress rule r with
 *       peer_ok(r, S) && port_ok(r, D, proto, dport)
 *   Egress from a local pod S to D: allowed when S is not in ISOLATED_EG,
 *   or some policy p with p.egress and S in TARGETS(p) has an egress rule r
 *   with peer_ok(r, D) && port_ok(r, D, proto, dport).
 *   A connection between two local pods needs both.  Replies are allowed.
 *     peer_ok(r, X) = r.all_peers
 *                     || X in PEERS(p, dir, r)
 *                     || X inside some r.ipblocks[k].cidr and inside none of
 *                        its excepts
 *     port_ok(r, D, proto, dport) = r.all_ports
 *                     || some r.ports[k] with name == NULL, proto == proto
 *                        and (port == 0 || port <= dport <= max(port, end_port))
 *                     || (D, proto, dport) in NAMED(p, dir, r)
 *   Note D is the destination in both directions (named ports resolve on
 *   the destination pod, upstream's rule).
 * - PEERS(p, dir, r): IPs of pods (any node) matched by r's selector peers:
 *   podSelector alone = pods of p's namespace; namespaceSelector alone =
 *   all pods of the matched namespaces; both = pods matching podSelector
 *   in matched namespaces.  Several peers = union.  Empty when r has no
 *   selector peer (r.all_peers or only ipBlocks).
 * - NAMED(p, ingress, r): (IP of t, proto, port) for every t in TARGETS(p)
 *   and every named port entry of r that t's containers declare
 *   (containerPort with that name and protocol).
 *   NAMED(p, egress, r): the same resolved on every destination pod d that
 *   is a peer of r: matched by r's selector peers, or every pod when
 *   r.all_peers, or a pod whose IP lies in one of r.ipblocks (minus
 *   excepts).  So for egress a NAMED hit implies peer_ok.
 * - A named port no pod declares matches nothing (upstream).
 *
 * Incremental use (what the kernel side does per sync):
 *   full sync: for each policy (netpol_policy_foreach) program its
 *     structure and the full contents of its sets (netpol_set_foreach);
 *     the global sets likewise; then netpol_commit().
 *   partial sync: for each netpol_changes() entry rewrite that policy's
 *     chains and sets completely (ADDED/CHANGED: from netpol_policy();
 *     REMOVED: delete what existed for that id, old_n_rules says how many
 *     rules); then apply netpol_deltas_foreach() (element adds/deletes
 *     relative to the state at the last commit; never about a policy in
 *     netpol_changes()); then netpol_commit().  If the kernel refused,
 *     do not commit: the next sync sees the accumulated changes (deltas
 *     are net: an element added and removed since the commit is absent).
 *   A pod added/deleted/relabelled or a namespace relabelled only
 *   produces deltas; a policy whose structure (policyTypes, rule count,
 *   per rule all_peers / has_selector_peers / ports / ipblocks) did not
 *   change produces deltas too (e.g. a changed podSelector), otherwise a
 *   CHANGED entry.
 *
 * Malformed objects are skipped by the cache (the last good version
 * stays): a malformed policy update leaves the policy as it was.
 * A pod whose Namespace object is unknown is evaluated as if the
 * namespace had only the label kubernetes.io/metadata.name=<ns>.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "switchyard/addr.h"

struct json_object;
struct cache;

/* ---------------------------------------------------------------- objects */

/*
 * Labels: key/value pairs sorted by key; the strings are interned
 * (np_intern: equal strings are the same pointer, never freed).
 */
struct np_label {
	const char *key, *value;
};
struct np_labels {
	struct np_label *v;
	unsigned n;
};
/* Interned copy of s (NULL for NULL).  Not thread safe. */
const char *np_intern(const char *s);
/* The value of key (any string; compared by content) or NULL. */
const char *np_labels_get(const struct np_labels *l, const char *key);

enum np_sel_op { NP_SEL_IN, NP_SEL_NOT_IN, NP_SEL_EXISTS, NP_SEL_DOES_NOT_EXIST };
struct np_sel_expr {
	const char *key;		/* interned */
	enum np_sel_op op;
	const char **values;		/* interned; In/NotIn: >= 1; Exists/DoesNotExist: 0 */
	unsigned n_values;
};
/*
 * A metav1.LabelSelector: matchLabels become In expressions with one
 * value; all expressions ANDed; no expression = selects everything.
 */
struct np_selector {
	struct np_sel_expr *exprs;
	unsigned n_exprs;
};
bool np_selector_matches(const struct np_selector *s, const struct np_labels *l);

enum pod_phase {
	POD_PHASE_UNKNOWN,		/* absent or "Unknown" */
	POD_PHASE_PENDING,
	POD_PHASE_RUNNING,
	POD_PHASE_SUCCEEDED,
	POD_PHASE_FAILED,
};

/* A named container port (unnamed ones are not kept). */
struct pod_port {
	const char *name;		/* interned */
	uint8_t proto;			/* IPPROTO_TCP/UDP/SCTP, default TCP */
	uint16_t port;			/* containerPort */
};

/*
 * The head of the three refcounted kinds below (Pod, Namespace,
 * NetworkPolicy; their member meta): what they all have, freed alike
 * (core/object.c).  A decoder gives refcnt 1 (the cache's reference); a
 * holder takes its own with np_ref and drops it with the kind's _unref,
 * which frees the object at the last.
 */
struct np_meta {
	char *key;			/* "ns/name", a Namespace's name (hmap key) */
	char *resource_version;
	unsigned refcnt;
	uint64_t cache_gen, content_hash;	/* cache bookkeeping */
};
void np_ref(struct np_meta *m);

/* What enforcement needs of a v1 Pod; immutable once decoded, refcounted. */
struct pod {
	struct np_meta meta;		/* key "ns/name"; name = key + strlen(ns) + 1 */
	const char *ns;			/* interned */
	const char *node;		/* spec.nodeName, interned, NULL when unscheduled */
	struct np_labels labels;
	struct sy_addr ips[2];		/* status.podIPs (or podIP): at most one per family, in order */
	unsigned n_ips;
	struct pod_port *ports;		/* named containerPorts of spec.containers[] */
	unsigned n_ports;
	enum pod_phase phase;
	bool host_network;
};

/* A v1 Namespace: its name and labels (kubernetes.io/metadata.name always set). */
struct k8s_namespace {
	struct np_meta meta;		/* key: the name */
	const char *name;		/* interned */
	struct np_labels labels;
};

enum np_dir { NP_INGRESS, NP_EGRESS };

struct np_port {
	uint8_t proto;			/* IPPROTO_TCP/UDP/SCTP (default TCP) */
	uint16_t port;			/* 0 = every port of proto (or named) */
	uint16_t end_port;		/* 0 = none; else >= port (numeric ports only) */
	const char *name;		/* named port (interned) or NULL */
};

struct np_ipblock {
	struct sy_cidr cidr;		/* either family */
	struct sy_cidr *except;		/* each inside cidr, same family */
	unsigned n_except;
};

/* One from/to entry: selectors or an ipBlock. */
struct np_peer {
	bool has_pod_sel, has_ns_sel;	/* both false: ipblock */
	struct np_selector pod_sel, ns_sel;
	struct np_ipblock ipblock;	/* when !has_pod_sel && !has_ns_sel */
};

struct np_rule {
	bool all_peers;			/* from/to absent or [] */
	bool all_ports;			/* ports absent or [] */
	bool has_selector_peers;	/* some peer has a pod/namespace selector: PEERS used */
	bool has_named_ports;		/* some ports[k].name: NAMED used */
	struct np_peer *peers;
	unsigned n_peers;
	struct np_port *ports;
	unsigned n_ports;
	struct np_ipblock *ipblocks;	/* the peers' ipBlocks, in order (borrowed copies) */
	unsigned n_ipblocks;
};

/* A decoded networking.k8s.io/v1 NetworkPolicy; immutable, refcounted. */
struct netpolicy {
	struct np_meta meta;		/* key "ns/name" */
	const char *ns;			/* interned */
	const char *name;		/* points into meta.key */
	struct np_selector pod_sel;	/* spec.podSelector */
	bool ingress, egress;		/* policyTypes after defaulting */
	struct np_rule *rules[2];	/* [NP_INGRESS], [NP_EGRESS] */
	unsigned n_rules[2];		/* ingress: [] and absent both give 0 rules = deny */
};

/* An inclusive address range of one family. */
struct np_range {
	struct sy_addr lo, hi;
};
/*
 * r's ipBlocks of family flattened: the union over the blocks of (cidr
 * minus its excepts), as sorted, disjoint, non-adjacent inclusive ranges
 * (malloc'd, *ret NULL when none).  What an nft interval set wants.
 */
void np_rule_ranges(const struct np_rule *r, int family, struct np_range **ret, unsigned *n);
/*
 * The same ranges as a cover and what is cut out of it: *cidrs the union
 * of r's cidrs of family (sorted, disjoint, non-adjacent), *excepted the
 * parts of it outside np_rule_ranges (sorted, disjoint): an address is in
 * the rule's ipBlocks iff it is in a cidr range and in no excepted one.
 * A cidr is one prefix and an except one prefix, where the complement of
 * an except inside its cidr can be as many prefixes as the bits between
 * their lengths (malloc'd, NULL when none).
 */
void np_rule_excepted(const struct np_rule *r, int family, struct np_range **cidrs, unsigned *nc,
		      struct np_range **excepted, unsigned *ne);

/*
 * Pure decoders: json → struct (refcnt 1).  On failure -EINVAL and the
 * reason in err (the caller adds kind and namespace/name).
 */
int pod_decode(struct json_object *obj, struct pod **ret, char *err, size_t errlen);
int namespace_decode(struct json_object *obj, struct k8s_namespace **ret, char *err, size_t errlen);
int netpolicy_decode(struct json_object *obj, struct netpolicy **ret, char *err, size_t errlen);
/* Drop a reference (np_ref takes one): the last frees (core/object.c); NULL is fine. */
void pod_unref(struct pod *p);
void namespace_unref(struct k8s_namespace *n);
void netpolicy_unref(struct netpolicy *np);
/* Whether the pod counts (see above): not hostNetwork, has an IP, not Succeeded/Failed. */
bool pod_counts(const struct pod *p);
/*
 * Same for enforcement: namespace, node, labels, IPs, named ports,
 * hostNetwork, whether it counts (a Pending → Running update is not a
 * change); resourceVersion and bookkeeping are not compared.
 */
bool pod_same(const struct pod *a, const struct pod *b);
bool namespace_same(const struct k8s_namespace *a, const struct k8s_namespace *b);	/* labels */

/* ---------------------------------------------------------------- planner */

struct policy_state;		/* opaque; mode.h passes it in sy_sync_input.policy */

enum np_set_kind {
	NP_SET_LOCAL,		/* global (policy_id 0) */
	NP_SET_ISOLATED_IN,	/* global */
	NP_SET_ISOLATED_EG,	/* global */
	NP_SET_TARGETS,		/* per policy */
	NP_SET_PEERS,		/* per policy, direction, rule */
	NP_SET_NAMED,		/* per policy, direction, rule: (addr, proto, port) tuples */
};

struct np_set_ref {
	uint32_t policy_id;	/* 0 for the global sets */
	uint8_t kind;		/* enum np_set_kind */
	uint8_t dir;		/* enum np_dir (PEERS, NAMED) else 0 */
	uint16_t rule;		/* rule index (PEERS, NAMED) else 0 */
};
/* A set's identity (the struct zeroed first: no stray bytes). */
struct np_set_ref np_set_ref_of(uint32_t id, enum np_set_kind kind, int dir, unsigned rule);

/* A set element: an address; NAMED tuples also carry proto and port (else 0). */
struct np_elem {
	struct sy_addr addr;
	uint8_t proto;
	uint8_t pad;
	uint16_t port;
};

struct np_delta {
	struct np_set_ref set;
	bool add;		/* false: delete */
	struct np_elem elem;
};

enum np_change_op { NP_POLICY_ADDED, NP_POLICY_CHANGED, NP_POLICY_REMOVED };
struct np_change {
	uint32_t policy_id;
	enum np_change_op op;
	/* the rule counts as last committed (0 for ADDED) — what to delete */
	unsigned old_n_rules[2];
	bool old_ingress, old_egress;
};

/* A policy as the planner holds it. */
struct np_policy {
	uint32_t id;
	const struct netpolicy *np;	/* ns, name, ingress, egress, rules[] */
};

struct policy_state *netpol_new(const char *node_name);
void netpol_free(struct policy_state *ps);

/*
 * Events (the planner takes its own references).  p / n / np NULL =
 * deleted.  Each keeps the state equal to a from-scratch build of the
 * current objects; cost: pod event ~ policies of its namespace + selector
 * peers matching its namespace; namespace relabel ~ its pods; policy
 * change ~ the pods it selects / its peers' namespaces.
 */
void netpol_pod_event(struct policy_state *ps, const char *key, struct pod *p);
void netpol_namespace_event(struct policy_state *ps, const char *name, struct k8s_namespace *n);
void netpol_policy_event(struct policy_state *ps, const char *key, struct netpolicy *np);
/*
 * Take the cache's Pod/Namespace/NetworkPolicy changes since the last
 * call and apply them.  Returns the number of objects applied.
 */
unsigned netpol_update(struct policy_state *ps, struct cache *c);

/* Reading the state. */
const struct np_policy *netpol_policy(const struct policy_state *ps, uint32_t id);	/* NULL if none */
uint32_t netpol_max_id(const struct policy_state *ps);	/* ids are 1..max */
unsigned netpol_policy_count(const struct policy_state *ps);
typedef void (*np_policy_fn)(void *arg, const struct np_policy *p);
void netpol_policy_foreach(const struct policy_state *ps, np_policy_fn fn, void *arg);	/* by id */
typedef void (*np_elem_fn)(void *arg, const struct np_elem *e);
/* Every element of a set (any order); returns the count. */
size_t netpol_set_foreach(const struct policy_state *ps, struct np_set_ref set, np_elem_fn fn,
			  void *arg);
size_t netpol_set_size(const struct policy_state *ps, struct np_set_ref set);
bool netpol_set_has(const struct policy_state *ps, struct np_set_ref set, const struct np_elem *e);

/* Since the last commit. */
const struct np_change *netpol_changes(const struct policy_state *ps, unsigned *n);
typedef void (*np_delta_fn)(void *arg, const struct np_delta *d);
size_t netpol_deltas_foreach(const struct policy_state *ps, np_delta_fn fn, void *arg);
bool netpol_dirty(const struct policy_state *ps);	/* changes or deltas pending */
void netpol_commit(struct policy_state *ps);

/* Local pods: count, and whether isolated (a direction's policy selects it). */
struct netpol_stats {
	unsigned pods, local_pods, namespaces, policies;
	size_t elements;		/* in all sets */
	size_t bytes;			/* approximate heap of the planner */
};
void netpol_get_stats(const struct policy_state *ps, struct netpol_stats *st);

#endif
