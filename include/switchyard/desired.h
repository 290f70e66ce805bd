/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SWITCHYARD_DESIRED_H
#define SWITCHYARD_DESIRED_H
/*
 * The desired state every proxy mode consumes: one struct ds_port per
 * (Service, port), with its addresses and the endpoints it should reach,
 * computed purely from the cache, this node, and the config.
 *
 * Incremental: desired_update() rebuilds only Services the cache marked
 * dirty and records, per changed ds_port name, the old and the new
 * version.  Old versions stay valid until desired_commit(), so a mode (and
 * conntrack cleanup) can compare them.  ds_port objects are immutable once
 * published; a change always creates a new object.
 *
 * Families: a Service gets one ds_port per port for each family it has a
 * ClusterIP of, and each ds_port carries that family (its addresses,
 * source ranges and endpoints are of that family only, as kube-proxy's
 * per-family proxiers see them).  The IPv4 ports are ds->ports, the IPv6
 * ports ds->ports6, each family with its own change list: ds_ports() and
 * ds_changes() pick a family's, so one mode instance per family reads only
 * its own.  A Service's port has the same name in both families.
 */
#include <stdbool.h>
#include <stdint.h>
#include "switchyard/addr.h"
#include "switchyard/hmap.h"
#include "switchyard/util.h"

struct cache;
struct service;
struct endpoint_slice;
struct sy_config;

struct ds_ep {
	struct sy_addr addr;	/* of the port's family */
	uint16_t port;		/* resolved target port */
	uint8_t flags;		/* EP_READY | EP_SERVING | EP_TERMINATING | EP_NODE_UNKNOWN (model.h) */
	bool local;		/* on this node */
};

struct ds_port {
	char *name;		/* kube-proxy ServicePortName: "ns/name:port" ("ns/name:" when unnamed) */
	char *svc_key;		/* "ns/name" */
	const char *svc_ns, *svc_name, *port_name;	/* namespace, name, port name (owned views) */
	char *ns_buf;		/* storage behind svc_ns */
	uint8_t proto;		/* IPPROTO_TCP / UDP / SCTP */
	uint8_t family;		/* AF_INET / AF_INET6: every address below is of this family */
	struct sy_addr cluster_ip;	/* the ClusterIP of the family */
	uint16_t port;
	uint16_t node_port;	/* 0 if none */
	uint16_t hc_node_port;	/* 0 if none */
	struct sy_addr *external_ips;
	unsigned n_external_ips;
	struct sy_addr *lb_ips;
	unsigned n_lb_ips;
	struct sy_cidr *lb_source_ranges;
	unsigned n_lb_source_ranges;
	uint32_t affinity_timeout;	/* 0 = no sessionAffinity */
	bool etp_local;		/* externalTrafficPolicy: Local (applies only with external addresses/NodePort) */
	bool itp_local;		/* internalTrafficPolicy: Local */

	/*
	 * Endpoints, each array sorted by (addr, port) and deduplicated.
	 * cluster_eps: kube-proxy's "cluster endpoints" (ready ones, topology
	 *   filtered; serving+terminating ones only when no endpoint is ready).
	 * local_eps: kube-proxy's "local endpoints" (on this node: ready ones,
	 *   else local serving+terminating).
	 * all_eps: every serving endpoint whatever its node or state; used by
	 *   conntrack cleanup (an entry to one of these is not stale).  The
	 *   builder shares one array when it equals cluster_eps (ds_port_free
	 *   knows); a list with no endpoint is NULL.
	 */
	struct ds_ep *cluster_eps;
	unsigned n_cluster_eps;
	struct ds_ep *local_eps;
	unsigned n_local_eps;
	struct ds_ep *all_eps;
	unsigned n_all_eps;

	double trigger_time;	/* newest last-change-trigger-time of the slices, 0 if none */
	uint64_t serial;	/* unique per built object */
};

/* Endpoints for traffic from inside the cluster (to the ClusterIP). */
static inline const struct ds_ep *ds_port_internal_eps(const struct ds_port *p, unsigned *n)
{
	*n = p->itp_local ? p->n_local_eps : p->n_cluster_eps;
	return p->itp_local ? p->local_eps : p->cluster_eps;
}
/* Endpoints for external traffic (NodePort, externalIPs, LB IPs). */
static inline const struct ds_ep *ds_port_external_eps(const struct ds_port *p, unsigned *n)
{
	*n = p->etp_local ? p->n_local_eps : p->n_cluster_eps;
	return p->etp_local ? p->local_eps : p->cluster_eps;
}
static inline bool ds_port_has_external(const struct ds_port *p)
{
	return p->node_port || p->n_external_ips || p->n_lb_ips;
}

/* This node as the desired state sees it. */
struct ds_node {
	const char *name;
	const char *zone;		/* NULL if unknown */
	bool no_node_hints;		/* PreferSameTrafficDistribution=false: forNodes ignored */
	/*
	 * Addresses NodePorts answer on (--nodeport-addresses applied), both
	 * families, the IPv4 ones first: ds_nodeport_addrs() gives a family's.
	 */
	struct sy_addr *nodeport_addrs;
	unsigned n_nodeport_addrs;
	/*
	 * NodePorts on every local address of the family (--nodeport-addresses
	 * unset, or with no CIDR of the family; "primary" without a node IP of
	 * the family), per family: ds_nodeport_all_local().
	 */
	bool nodeport_all_local;	/* IPv4 */
	bool nodeport_all_local6;	/* IPv6 */
};

/*
 * Pure: the ds_ports of one Service.  slices may be NULL/0.  Returns the
 * number of ports written into *ret (a newly allocated array of newly
 * allocated ports, which the caller owns), or -errno.
 * The IPv4 ports (in spec order) come first, then the IPv6 ones.
 * A Service that is not proxied (ExternalName, headless, no ClusterIP,
 * proxy_skip, conflict) yields 0 ports.
 */
int ds_build_service(const struct service *svc, struct endpoint_slice *const *slices,
		     unsigned n_slices, const struct ds_node *node,
		     struct ds_port ***ret);
void ds_port_free(struct ds_port *p);

struct ds_change {
	const char *name;		/* the port name (valid until commit) */
	const struct ds_port *old;	/* NULL when added */
	const struct ds_port *new;	/* NULL when removed */
};

/* One family's changed ports since the last commit. */
struct ds_change_list {
	struct ds_change *v;
	unsigned n, cap;
	struct hmap idx;		/* name → index+1 into v */
};

struct desired_state {
	struct hmap ports;		/* name → struct ds_port: the IPv4 ports */
	struct hmap ports6;		/* name → struct ds_port: the IPv6 ports */
	struct hmap by_svc;		/* service key → internal list of its ports */
	struct ds_node node;
	const struct sy_config *cfg;

	struct ds_change_list chg[2];	/* [0] IPv4, [1] IPv6: read with ds_changes() */
	struct ds_port **retired;	/* old versions kept until commit */
	unsigned n_retired, cap_retired;
	bool node_changed;		/* node addresses/zone changed: full sync advised */
	/*
	 * The Service CIDRs: the union of every ServiceCIDR object's
	 * spec.cidrs (cache_service_cidrs), each once, sorted, the IPv4 ones
	 * first (ds_service_cidrs() gives a family's); none while no
	 * ServiceCIDR is known.  service_cidrs_changed: since the last commit.
	 */
	struct sy_cidr *service_cidrs;
	unsigned n_service_cidrs;
	bool service_cidrs_changed;
	uint64_t next_serial;
	double newest_trigger_time;	/* of the changes, for programming latency */
};

void desired_init(struct desired_state *ds, const struct sy_config *cfg);
void desired_fini(struct desired_state *ds);
/*
 * Set this node's identity/zone and NodePort addresses (copied, of both
 * families) and, per family, whether NodePorts answer on every local address.
 */
void desired_set_node_families(struct desired_state *ds, const char *name, const char *zone,
			       const struct sy_addr *nodeport_addrs, unsigned n, bool all_local4,
			       bool all_local6);
/* The same with one all_local for both families. */
void desired_set_node(struct desired_state *ds, const char *name, const char *zone,
		      const struct sy_addr *nodeport_addrs, unsigned n, bool all_local);
/*
 * Rebuild the Services the cache marked dirty (or every Service when
 * all is true, e.g. after the node's zone changed), and the Service CIDRs
 * when a ServiceCIDR changed.  Returns the number of changed ds_ports of
 * both families (the change lists).
 */
int desired_update(struct desired_state *ds, struct cache *c, bool all);
/* The sync consumed the changes: free retired versions, clear both lists. */
void desired_commit(struct desired_state *ds);
/* The ports of one family (AF_INET / AF_INET6). */
static inline const struct hmap *ds_ports(const struct desired_state *ds, int family)
{
	return family == AF_INET6 ? &ds->ports6 : &ds->ports;
}
/*
 * The changes of one family since the last commit (AF_INET / AF_INET6):
 * *n entries, each port name at most once (old = the version the last
 * commit saw).  Valid until the next desired_update() or desired_commit().
 */
static inline const struct ds_change *ds_changes(const struct desired_state *ds, int family,
						 unsigned *n)
{
	const struct ds_change_list *l = &ds->chg[family == AF_INET6];

	*n = l->n;
	return l->v;
}
/* Changes of both families. */
static inline unsigned ds_n_changes(const struct desired_state *ds)
{
	return ds->chg[0].n + ds->chg[1].n;
}
/* The NodePort addresses of one family (a slice of ds->node.nodeport_addrs). */
static inline const struct sy_addr *ds_nodeport_addrs(const struct desired_state *ds, int family,
						      unsigned *n)
{
	const struct sy_addr *a = ds->node.nodeport_addrs;
	unsigned i = 0, k;

	while (i < ds->node.n_nodeport_addrs && a[i].family != family)
		i++;
	for (k = i; k < ds->node.n_nodeport_addrs && a[k].family == family; k++)
		;
	*n = k - i;
	return *n ? a + i : NULL;
}
/* Whether NodePorts of the family answer on every local address. */
static inline bool ds_nodeport_all_local(const struct desired_state *ds, int family)
{
	return family == AF_INET6 ? ds->node.nodeport_all_local6 : ds->node.nodeport_all_local;
}
/* The Service CIDRs of one family (a slice of ds->service_cidrs). */
static inline const struct sy_cidr *ds_service_cidrs(const struct desired_state *ds, int family,
						     unsigned *n)
{
	const struct sy_cidr *a = ds->service_cidrs;
	unsigned i = 0, k;

	while (i < ds->n_service_cidrs && a[i].addr.family != family)
		i++;
	for (k = i; k < ds->n_service_cidrs && a[k].addr.family == family; k++)
		;
	*n = k - i;
	return *n ? a + i : NULL;
}
/* An IPv4 port by name. */
static inline const struct ds_port *desired_port(const struct desired_state *ds, const char *name)
{
	return hmap_get(&ds->ports, name);
}

#endif
