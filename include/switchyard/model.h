/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SWITCHYARD_MODEL_H
#define SWITCHYARD_MODEL_H
/*
 * The object model: decoded v1 Services, discovery.k8s.io/v1 EndpointSlices
 * and v1 Nodes (core/decode.c; freed by core/object.c), and the cache that
 * holds them (core/cache.c).  Sources (the Kubernetes client, the manifest directory)
 * feed json-c objects in; decoding validates them, and a bad object is
 * logged with kind, namespace/name and the reason, then skipped (the
 * previous good version, if any, stays).
 *
 * Both families are kept: a Service's IPv4 and IPv6 ClusterIP, its
 * ipFamilies and ipFamilyPolicy, external / load balancer addresses and
 * source ranges of either family, EndpointSlices of addressType IPv4 and
 * IPv6, a Node's addresses and podCIDRs of each family.  What is programmed
 * is the desired state's business (desired.h): today the modes program
 * IPv4 only.
 */
#include <stdbool.h>
#include <stdint.h>
#include "switchyard/addr.h"
#include "switchyard/hmap.h"
#include "switchyard/util.h"

struct json_object;
struct sy_report;

enum sy_kind {
	SY_KIND_SERVICE,
	SY_KIND_ENDPOINTSLICE,
	SY_KIND_NODE,
	/* The NetworkPolicy kinds (netpol.h): watched only with --network-policy. */
	SY_KIND_POD,
	SY_KIND_NAMESPACE,
	SY_KIND_NETWORKPOLICY,
	/* networking.k8s.io/v1 ServiceCIDR (cluster-scoped): read by the nftables mode. */
	SY_KIND_SERVICECIDR,
	SY_KIND_MAX,
};
const char *sy_kind_name(enum sy_kind k);	/* "Service", ... */
/* Node, Namespace, ServiceCIDR: keyed by name alone. */
static inline bool sy_kind_cluster_scoped(enum sy_kind k)
{
	return k == SY_KIND_NODE || k == SY_KIND_NAMESPACE || k == SY_KIND_SERVICECIDR;
}

/* IPPROTO_TCP / IPPROTO_UDP / IPPROTO_SCTP */
const char *sy_proto_name(uint8_t proto);	/* "TCP" */
const char *sy_proto_lname(uint8_t proto);	/* "tcp" */

enum svc_type {
	SVC_TYPE_CLUSTER_IP,
	SVC_TYPE_NODE_PORT,
	SVC_TYPE_LOAD_BALANCER,
	SVC_TYPE_EXTERNAL_NAME,
};

enum svc_ip_family_policy {
	SVC_IPFP_UNSET,			/* absent (the API server defaults SingleStack) */
	SVC_IPFP_SINGLE_STACK,
	SVC_IPFP_PREFER_DUAL_STACK,
	SVC_IPFP_REQUIRE_DUAL_STACK,
};

struct svc_port {
	char *name;			/* "" when unnamed */
	uint8_t proto;
	uint16_t port;
	uint16_t node_port;		/* 0 if none */
	uint16_t target_port;		/* numeric targetPort, 0 if named */
	char *target_port_name;		/* named targetPort or NULL */
};

struct service {
	/* pointers first, then the 4-byte and 1-byte fields: no padding holes (10,000s are kept) */
	char *key;			/* "ns/name" (hmap key) */
	char *ns, *name;		/* inside key's allocation (as resource_version) */
	char *resource_version;
	struct svc_port *ports;
	struct sy_addr *external_ips;	/* both families */
	struct sy_addr *lb_ips;		/* status.loadBalancer.ingress[].ip, both families */
	struct sy_cidr *lb_source_ranges;	/* both families */
	char *traffic_distribution;	/* NULL or "PreferClose", ... */
	double created;			/* metadata.creationTimestamp (epoch), 0 if absent */
	uint64_t cache_gen, content_hash;	/* cache bookkeeping */
	/*
	 * The ClusterIP of each family: spec.clusterIP / spec.clusterIPs[]
	 * (kube-proxy's GetClusterIPByFamily: the first of the family);
	 * unset when the Service has none of that family.
	 */
	struct sy_addr cluster_ip;	/* IPv4 */
	struct sy_addr cluster_ip6;	/* IPv6 */
	enum svc_type type;
	enum svc_ip_family_policy ip_family_policy;
	unsigned n_ports;
	unsigned n_external_ips;
	unsigned n_lb_ips;
	unsigned n_lb_source_ranges;
	unsigned n_ip_families;
	uint32_t affinity_timeout;	/* seconds, default 10800 */
	uint8_t ip_families[2];		/* spec.ipFamilies: AF_INET / AF_INET6, in order */
	uint16_t hc_node_port;		/* healthCheckNodePort */
	bool headless;			/* clusterIP: None */
	bool affinity_client_ip;
	bool etp_local;			/* externalTrafficPolicy: Local */
	bool itp_local;			/* internalTrafficPolicy: Local */
	bool proxy_skip;		/* labels say another proxy / headless */
	bool ipv6_only;			/* a ClusterIP, but only an IPv6 one: not ours yet */
	/*
	 * Set by the cache: another Service, older (creationTimestamp, then
	 * "ns/name"), holds one of this one's ClusterIP:port/protocol; the API
	 * server would have refused this one.  Not programmed while set.
	 */
	bool conflict;
};

/* Endpoint flags */
#define EP_READY	0x01
#define EP_SERVING	0x02
#define EP_TERMINATING	0x04
#define EP_NODE_UNKNOWN	0x08	/* desired state only: the slice names no nodeName */

struct slice_port {
	char *name;			/* "" when unnamed */
	uint8_t proto;
	uint16_t port;			/* 0 = unset */
};

/*
 * An endpoint's topology hints, kept only when it has some (most have
 * none): one allocation, n_zones zone names then n_nodes node names, all
 * interned.
 */
struct slice_ep_hints {
	unsigned n_zones;		/* hints.forZones[].name */
	unsigned n_nodes;		/* hints.forNodes[].name */
	char *names[];
};

/* 48 bytes: a slice of 100 endpoints is one 4.8 KB array (100,000s are kept). */
struct slice_endpoint {
	struct sy_addr addr;		/* first address (kube-proxy uses addresses[0]) */
	uint8_t flags;			/* EP_* after nil defaults */
	char *node_name;		/* may be NULL */
	char *zone;			/* may be NULL */
	struct slice_ep_hints *hints;	/* NULL when it has none */
};
/* The hints.forZones / hints.forNodes names of e (NULL, 0 when none). */
static inline char *const *slice_ep_hint_zones(const struct slice_endpoint *e, unsigned *n)
{
	*n = e->hints ? e->hints->n_zones : 0;
	return e->hints ? e->hints->names : NULL;
}
static inline char *const *slice_ep_hint_nodes(const struct slice_endpoint *e, unsigned *n)
{
	*n = e->hints ? e->hints->n_nodes : 0;
	return e->hints ? e->hints->names + e->hints->n_zones : NULL;
}

struct endpoint_slice {
	char *key;			/* "ns/slicename" (hmap key) */
	char *ns, *name;		/* inside key's allocation (as resource_version) */
	char *resource_version;
	char *service_key;		/* "ns/<kubernetes.io/service-name>" */
	int family;			/* addressType: AF_INET, AF_INET6; 0 for FQDN (no endpoints kept) */
	struct slice_port *ports;
	unsigned n_ports;
	struct slice_endpoint *eps;
	unsigned n_eps;
	double trigger_time;		/* endpoints.kubernetes.io/last-change-trigger-time, 0 if absent */
	uint64_t cache_gen, content_hash;	/* cache bookkeeping */
};

struct node_annotation {
	char *key, *value;
};

struct node {
	char *key;			/* name (hmap key) */
	char *name;			/* the key (as resource_version: inside its allocation) */
	char *resource_version;
	struct sy_addr internal_ip;	/* first IPv4 InternalIP, unset if none */
	struct sy_addr external_ip;	/* first IPv4 ExternalIP, unset if none */
	struct sy_addr internal_ip6;	/* first IPv6 InternalIP, unset if none */
	struct sy_addr external_ip6;	/* first IPv6 ExternalIP, unset if none */
	/*
	 * kube-proxy's primary IP family of the node: the family of the first
	 * InternalIP (else ExternalIP) in status.addresses; 0 when it has none.
	 */
	uint8_t primary_family;
	struct sy_cidr pod_cidr;	/* spec.podCIDR (first IPv4 of podCIDRs) */
	bool has_pod_cidr;
	struct sy_cidr pod_cidr6;	/* the first IPv6 of spec.podCIDR / podCIDRs */
	bool has_pod_cidr6;
	char *zone;			/* topology.kubernetes.io/zone label */
	bool deleting;			/* deletionTimestamp set or ToBeDeletedByClusterAutoscaler taint */
	/* annotations whose key starts with "switchyard.io/" or "flannel.alpha.coreos.com/" */
	struct node_annotation *annotations;
	unsigned n_annotations;
	uint64_t cache_gen, content_hash;	/* cache bookkeeping */
};
const char *node_annotation(const struct node *n, const char *key);

/*
 * A networking.k8s.io/v1 ServiceCIDR: the ranges ClusterIPs are allocated
 * from.  spec.cidrs as the API server validates it: one or two CIDRs, two
 * only one of each family; a CIDR with host bits set is kept masked (the
 * API accepts it with a warning).  The object counts while it exists, also
 * while it is being deleted (deletionTimestamp set, a finalizer still on),
 * as kube-proxy's informer sees it.
 */
struct service_cidr {
	char *key;			/* name (hmap key; cluster-scoped) */
	char *resource_version;
	struct sy_cidr cidrs[2];
	unsigned n_cidrs;
	bool deleting;			/* metadata.deletionTimestamp set */
	uint64_t cache_gen, content_hash;	/* cache bookkeeping */
};
int service_cidr_decode(struct json_object *obj, struct service_cidr **ret, char *err,
			size_t errlen);
void service_cidr_free(struct service_cidr *sc);

/*
 * Pure decoders: json → struct.  On failure return -EINVAL and write the
 * reason into err.  Node names and zones are interned (never freed).  A
 * Service's, EndpointSlice's or Node's ns, name and resource_version live
 * in its key's allocation (freed with it).
 * service_decode reports each entry it skips inside a good Service (an
 * invalid externalIP, LB ingress IP or source range: "Service ns/name:
 * ...; this entry is skipped") to rep ('E'; may be NULL).
 */
int service_decode(struct json_object *obj, const struct sy_report *rep, struct service **ret,
		   char *err, size_t errlen);
int slice_decode(struct json_object *obj, struct endpoint_slice **ret, char *err, size_t errlen);
int node_decode(struct json_object *obj, struct node **ret, char *err, size_t errlen);
void service_free(struct service *s);
void slice_free(struct endpoint_slice *s);
void node_free(struct node *n);
/*
 * The cache key of obj as kind: "ns/name" (namespace "default" when absent)
 * or a Node's or Namespace's name.  -EINVAL when the name or namespace is not one the API
 * server accepts for that kind (DNS-1123 rules; a NUL byte never).
 */
int cache_object_key(enum sy_kind kind, struct json_object *obj, char *buf, size_t len);
/*
 * For messages: cache_object_key, or for a name or namespace the API
 * server would refuse the same shape with the bytes a name cannot hold
 * escaped.
 */
void object_key_display(enum sy_kind kind, struct json_object *obj, char *buf, size_t len);
/* "ns/name" or "name" of an arbitrary object, for error messages ("<unnamed>"). */
void object_id(struct json_object *obj, char *buf, size_t len);

/*
 * The cache (core/cache.c).  Changes mark Services dirty (a Service is
 * dirty when it or any of its slices changed); the desired-state builder
 * consumes the dirty set.  Node changes are counted separately.
 */
struct cache;
typedef void (*cache_change_fn)(void *arg, enum sy_kind kind);

struct cache *cache_new(cache_change_fn fn, void *arg);
/*
 * Where the cache says what it meets (copied; none set: nowhere): objects
 * skipped with kind, namespace/name and reason ('E', once per
 * resourceVersion), entries skipped inside a Service (service_decode),
 * ClusterIP port conflicts ('E') and their end ('I').  The owner logs.
 */
void cache_set_report(struct cache *c, const struct sy_report *rep);
void cache_free(struct cache *c);

enum cache_op { CACHE_UPSERT, CACHE_DELETE };
/*
 * Apply one object (borrowed).  Decode errors are reported (once per object
 * resourceVersion, cache_set_report) and counted; returns 0 when applied, -EINVAL when
 * skipped.
 */
int cache_apply(struct cache *c, enum sy_kind kind, enum cache_op op, struct json_object *obj);
/*
 * A full listing replaces everything of one kind: objects not applied
 * between begin and end are deleted at end.  end also marks the kind synced.
 */
void cache_replace_begin(struct cache *c, enum sy_kind kind);
void cache_replace_end(struct cache *c, enum sy_kind kind);
/* Inside a replace: keep this object although it was not re-applied (its source failed to parse). */
void cache_keep(struct cache *c, enum sy_kind kind, const char *key);
bool cache_synced(const struct cache *c, enum sy_kind kind);
void cache_set_synced(struct cache *c, enum sy_kind kind);

const struct hmap *cache_services(const struct cache *c);	/* key → struct service */
const struct hmap *cache_slices(const struct cache *c);		/* key → struct endpoint_slice */
const struct hmap *cache_nodes(const struct cache *c);		/* name → struct node */
const struct service *cache_service(const struct cache *c, const char *key);
const struct node *cache_node(const struct cache *c, const char *name);
/* Slices of a service (borrowed array, valid until the next cache change). */
struct endpoint_slice *const *cache_service_slices(const struct cache *c, const char *svc_key, unsigned *ret_n);

/*
 * Dirty services since the last take: moves them into ret_dirty (an
 * initialised hmap) as malloc'd keys → (void *)1; the caller frees the keys
 * and clears the map.
 */
void cache_take_dirty(struct cache *c, struct hmap *ret_dirty);
/*
 * Pods, Namespaces and NetworkPolicies (netpol.h) live in the cache too;
 * their changes never mark a Service dirty.  Each kind keeps the keys of
 * the objects changed (upserted with a difference that matters to policy,
 * or deleted) since the last take: cache_take_changed moves them into
 * ret (an initialised hmap of malloc'd keys → (void *)1, the caller frees
 * keys and clears); cache_pod etc. give the current object (NULL = gone).
 * A Pod or Namespace update that changes nothing enforcement reads
 * (status conditions, annotations...) is not a change.
 */
void cache_take_changed(struct cache *c, enum sy_kind kind, struct hmap *ret);
size_t cache_changed_count(const struct cache *c, enum sy_kind kind);
const struct hmap *cache_pods(const struct cache *c);		/* "ns/name" → struct pod */
const struct hmap *cache_namespaces(const struct cache *c);	/* name → struct k8s_namespace */
const struct hmap *cache_netpolicies(const struct cache *c);	/* "ns/name" → struct netpolicy */
struct pod *cache_pod(const struct cache *c, const char *key);
struct k8s_namespace *cache_namespace(const struct cache *c, const char *name);
struct netpolicy *cache_netpolicy(const struct cache *c, const char *key);
bool cache_nodes_changed(struct cache *c, bool clear);
/* ServiceCIDRs by name (struct service_cidr). */
const struct hmap *cache_service_cidrs(const struct cache *c);
/* A ServiceCIDR was added, changed or removed since the last clear. */
bool cache_service_cidrs_changed(struct cache *c, bool clear);
/* Mark the nodes changed again (a failed pod network sync wants a retry). */
void cache_nodes_changed_set(struct cache *c);

struct cache_stats {
	uint64_t decode_errors;
	uint64_t service_changes;	/* upserts+deletes of Services */
	uint64_t endpoint_changes;	/* upserts+deletes of EndpointSlices */
	uint64_t node_changes;
	uint64_t pod_changes, namespace_changes, netpolicy_changes;
	uint64_t service_cidr_changes;
};
const struct cache_stats *cache_get_stats(const struct cache *c);

#endif
