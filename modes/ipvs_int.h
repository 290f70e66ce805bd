/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SWITCHYARD_IPVS_INT_H
#define SWITCHYARD_IPVS_INT_H
/*
 * Internals of the IPVS proxy mode, split by kernel interface (libipset and
 * libiptc headers cannot share a translation unit):
 *   ipvs_nl.c   IPVS over generic netlink (libnl-genl)
 *   ipvs_dev.c  kube-ipvs0 and its addresses (libnl-route)
 *   ipvs_set.c  ipsets (libipset)
 *   ipvs_ipt.c  the constant iptables rules (libiptc)
 *   ipvs.c      the mode: desired → diff → writes
 * Every function returns 0 (or a count) / -errno and logs nothing.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

struct sy_config;
struct sy_cidr;

/* ---- ipvs_nl.c ---------------------------------------------------------- */

#define IPVS_SCHED_MAX 16

struct ipvs_svc {
	uint8_t proto;			/* IPPROTO_* */
	struct in_addr addr;
	uint16_t port;			/* host order */
	char sched[IPVS_SCHED_MAX];
	uint32_t flags;			/* IP_VS_SVC_F_* (HASHED masked out) */
	uint32_t timeout;		/* persistence seconds */
};

struct ipvs_dest {
	struct in_addr addr;
	uint16_t port;			/* host order */
	uint32_t fwd;			/* IP_VS_CONN_F_MASQ */
	int32_t weight;
	uint32_t active, inactive;	/* connection counters (dumps only) */
};

struct ipvs_nl;
int ipvs_nl_open(struct ipvs_nl **ret);
void ipvs_nl_close(struct ipvs_nl *nl);
/* Kernel writes issued since open (each netlink request counts one). */
uint64_t ipvs_nl_writes(const struct ipvs_nl *nl);

/* Idempotent: EEXIST on add and ENOENT/ESRCH on delete are success;
 * an edit of a missing object becomes an add. */
int ipvs_nl_add_service(struct ipvs_nl *nl, const struct ipvs_svc *s);
int ipvs_nl_edit_service(struct ipvs_nl *nl, const struct ipvs_svc *s);
int ipvs_nl_del_service(struct ipvs_nl *nl, const struct ipvs_svc *s);
int ipvs_nl_add_dest(struct ipvs_nl *nl, const struct ipvs_svc *s, const struct ipvs_dest *d);
int ipvs_nl_edit_dest(struct ipvs_nl *nl, const struct ipvs_svc *s, const struct ipvs_dest *d);
int ipvs_nl_del_dest(struct ipvs_nl *nl, const struct ipvs_svc *s, const struct ipvs_dest *d);
/* Raw add, not idempotent: -EEXIST / -ENOENT (unknown scheduler) surface. */
int ipvs_nl_add_service_raw(struct ipvs_nl *nl, const struct ipvs_svc *s);

typedef int (*ipvs_svc_fn)(void *arg, const struct ipvs_svc *s);
typedef int (*ipvs_dest_fn)(void *arg, const struct ipvs_dest *d);
/* Every IPv4 non-fwmark service. */
int ipvs_nl_dump_services(struct ipvs_nl *nl, ipvs_svc_fn fn, void *arg);
/* One service: 0 and *ret filled, or -ENOENT. */
int ipvs_nl_get_service(struct ipvs_nl *nl, const struct ipvs_svc *key, struct ipvs_svc *ret);
int ipvs_nl_dump_dests(struct ipvs_nl *nl, const struct ipvs_svc *s, ipvs_dest_fn fn, void *arg);
/* 0 = leave that timeout. */
int ipvs_nl_set_timeouts(struct ipvs_nl *nl, uint32_t tcp, uint32_t tcpfin, uint32_t udp);
int ipvs_nl_get_timeouts(struct ipvs_nl *nl, uint32_t *tcp, uint32_t *tcpfin, uint32_t *udp);

/* "TCP/10.0.0.1:80" into buf (>= 32 bytes) */
char *ipvs_svc_key(const struct ipvs_svc *s, char *buf, size_t len);

/* ---- ipvs_dev.c --------------------------------------------------------- */

#define IPVS_DEV_NAME "kube-ipvs0"

struct ipvs_dev;
int ipvs_dev_open(struct ipvs_dev **ret);
void ipvs_dev_close(struct ipvs_dev *d);
uint64_t ipvs_dev_writes(const struct ipvs_dev *d);
/* Create kube-ipvs0 (dummy, down) if absent; returns its ifindex. */
int ipvs_dev_ensure(struct ipvs_dev *d);
/* ifindex of kube-ipvs0, or -ENODEV. */
int ipvs_dev_ifindex(struct ipvs_dev *d);
/* IPv4 addresses bound on kube-ipvs0 (malloc'd array), count or -errno. */
int ipvs_dev_addrs(struct ipvs_dev *d, struct in_addr **ret);
int ipvs_dev_addr_add(struct ipvs_dev *d, struct in_addr a);
int ipvs_dev_addr_del(struct ipvs_dev *d, struct in_addr a);
/* Every local IPv4 address except loopback's and kube-ipvs0's (malloc'd). */
int ipvs_dev_local_addrs(struct ipvs_dev *d, struct in_addr **ret);
/* Delete kube-ipvs0 (-ENODEV-free: absent is success). */
int ipvs_dev_delete(struct ipvs_dev *d);

/* ---- ipvs_set.c --------------------------------------------------------- */

enum ipvs_set_id {
	IPVS_SET_CLUSTER_IP,
	IPVS_SET_LOOP_BACK,
	IPVS_SET_EXTERNAL_IP,
	IPVS_SET_EXTERNAL_IP_LOCAL,
	IPVS_SET_LB,
	IPVS_SET_LB_LOCAL,
	IPVS_SET_LB_FW,
	IPVS_SET_LB_SOURCE_CIDR,
	IPVS_SET_NODE_PORT_TCP,
	IPVS_SET_NODE_PORT_UDP,
	IPVS_SET_NODE_PORT_LOCAL_TCP,
	IPVS_SET_NODE_PORT_LOCAL_UDP,
	IPVS_SET_NODE_PORT_SCTP,
	IPVS_SET_NODE_PORT_LOCAL_SCTP,
	IPVS_SET_HEALTH_CHECK_NODE_PORT,
	IPVS_SET_NO_ENDPOINTS,
	IPVS_SET_NO_LOCAL_ENDPOINTS,
	IPVS_SET_MAX,
};
struct ipvs_set_def {
	const char *name;
	const char *type;	/* "hash:ip,port" ... */
	const char *create_opts;	/* extra create options */
};
extern const struct ipvs_set_def ipvs_sets[IPVS_SET_MAX];

struct ipvs_set;
int ipvs_set_open(struct ipvs_set **ret);
void ipvs_set_close(struct ipvs_set *s);
const char *ipvs_set_last_msg(const struct ipvs_set *s);
/* Create every set if missing (one restore batch). */
int ipvs_set_ensure(struct ipvs_set *s, uint64_t *writes);
/* Entries of one of our sets as canonical strings: fn per entry. */
typedef void (*ipvs_set_entry_fn)(void *arg, enum ipvs_set_id id, const char *entry);
int ipvs_set_read_all(struct ipvs_set *s, ipvs_set_entry_fn fn, void *arg);
/* Entry count per set from the terse listing (-1: set absent). */
int ipvs_set_counts(struct ipvs_set *s, long counts[IPVS_SET_MAX]);
/* Entries of one set. */
int ipvs_set_read(struct ipvs_set *s, enum ipvs_set_id id, ipvs_set_entry_fn fn, void *arg);
/* Queue a change; applied by ipvs_set_commit in one restore batch. */
void ipvs_set_queue(struct ipvs_set *s, bool add, enum ipvs_set_id id, const char *entry);
/* Apply the queue; returns the number of commands applied or -errno. */
int ipvs_set_commit(struct ipvs_set *s);
/* Destroy every set named in ipvs_sets (after the rules using them). */
int ipvs_set_destroy_all(struct ipvs_set *s);

/* ---- ipvs_ipt.c --------------------------------------------------------- */

struct ipvs_ipt_params {
	uint32_t mark;			/* 1 << masquerade_bit */
	bool masquerade_all;
	const struct sy_cidr *cluster_cidrs;
	unsigned n_cluster_cidrs;
};
/*
 * Make our chains and jumps in nat and filter exactly what params say;
 * *writes counts commits (0 when everything was already in place).
 */
int ipvs_ipt_sync(const struct ipvs_ipt_params *p, uint64_t *writes, uint64_t *nat_rules,
		  uint64_t *filter_rules, char *err, size_t errlen);
/* Remove our chains and the jumps to them. */
int ipvs_ipt_cleanup(char *err, size_t errlen);

#endif
