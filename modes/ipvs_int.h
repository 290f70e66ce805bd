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
 * One mode instance serves one address family (AF_INET / AF_INET6): its
 * virtual servers, real servers, kube-ipvs0 addresses, sets (SY-* /
 * SY-6-*) and rules (iptables / ip6tables) are of that family only.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include "switchyard/addr.h"

struct sy_config;

/* ---- ipvs_nl.c ---------------------------------------------------------- */

#define IPVS_SCHED_MAX 16

struct ipvs_svc {
	uint8_t proto;			/* IPPROTO_* */
	struct sy_addr addr;		/* its family is the virtual server's (IPVS_SVC_ATTR_AF) */
	uint16_t port;			/* host order */
	char sched[IPVS_SCHED_MAX];
	uint32_t flags;			/* IP_VS_SVC_F_* (HASHED masked out) */
	uint32_t timeout;		/* persistence seconds */
};

struct ipvs_dest {
	struct sy_addr addr;		/* of the virtual server's family */
	uint16_t port;			/* host order */
	uint32_t fwd;			/* IP_VS_CONN_F_MASQ */
	int32_t weight;
	uint32_t active, inactive;	/* connection counters (dumps only) */
};

struct ipvs_nl;
int ipvs_nl_open(struct ipvs_nl **ret);
void ipvs_nl_close(struct ipvs_nl *nl);

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
/* Every non-fwmark service of family (AF_INET / AF_INET6; 0: both). */
int ipvs_nl_dump_services(struct ipvs_nl *nl, int family, ipvs_svc_fn fn, void *arg);
/* One service: 0 and *ret filled, or -ENOENT. */
int ipvs_nl_get_service(struct ipvs_nl *nl, const struct ipvs_svc *key, struct ipvs_svc *ret);
int ipvs_nl_dump_dests(struct ipvs_nl *nl, const struct ipvs_svc *s, ipvs_dest_fn fn, void *arg);
/* 0 = leave that timeout. */
int ipvs_nl_set_timeouts(struct ipvs_nl *nl, uint32_t tcp, uint32_t tcpfin, uint32_t udp);
int ipvs_nl_get_timeouts(struct ipvs_nl *nl, uint32_t *tcp, uint32_t *tcpfin, uint32_t *udp);

/*
 * Parsers of the kernel's replies, exposed for the unit tests: one
 * IPVS_CMD_ATTR_SERVICE / IPVS_CMD_ATTR_DEST nest (struct nlattr *).  A
 * real server's address is read in the family IPVS_DEST_ATTR_ADDR_FAMILY
 * names, else the virtual server's (svc_family): reading an IPv6 one as
 * IPv4 is kube-proxy's "file exists" bug (#101506).
 */
int ipvs_nl_parse_svc(const void *nest, struct ipvs_svc *s);
int ipvs_nl_parse_dest(const void *nest, int svc_family, struct ipvs_dest *d);

/* "TCP/10.0.0.1:80", "TCP/[fd00::1]:80" into buf (>= IPVS_KEY_MAX bytes) */
#define IPVS_KEY_MAX 64
char *ipvs_svc_key(const struct ipvs_svc *s, char *buf, size_t len);
/* The identity (proto, address, port) back from a key; 0 or -EINVAL. */
int ipvs_svc_parse_key(const char *key, struct ipvs_svc *s);

/* ---- ipvs_dev.c --------------------------------------------------------- */

#define IPVS_DEV_NAME "kube-ipvs0"

struct nl_sock;
/* kube-ipvs0 over one rtnetlink socket; the caller owns the struct. */
struct ipvs_dev {
	struct nl_sock *sk;
	int ifindex;		/* cached; 0 = look it up */
};
/* Connect d (its old contents are not looked at): 0 or -errno. */
int ipvs_dev_open(struct ipvs_dev *d);
/* Disconnect d; a zeroed or closed one is fine. */
void ipvs_dev_close(struct ipvs_dev *d);
/* Create kube-ipvs0 (dummy, down) if absent; returns its ifindex. */
int ipvs_dev_ensure(struct ipvs_dev *d);
/* ifindex of kube-ipvs0, or -ENODEV. */
int ipvs_dev_ifindex(struct ipvs_dev *d);
/* Addresses of family bound on kube-ipvs0 (malloc'd array), count or -errno. */
int ipvs_dev_addrs(struct ipvs_dev *d, int family, struct sy_addr **ret);
/* Bind a as /32 (IPv4) or /128 nodad (IPv6); idempotent. */
int ipvs_dev_addr_add(struct ipvs_dev *d, const struct sy_addr *a);
int ipvs_dev_addr_del(struct ipvs_dev *d, const struct sy_addr *a);
/* Every local address of family except loopback's and kube-ipvs0's (malloc'd). */
int ipvs_dev_local_addrs(struct ipvs_dev *d, int family, struct sy_addr **ret);
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
	const char *name;	/* IPv4: "SY-CLUSTER-IP" */
	const char *name6;	/* IPv6: "SY-6-CLUSTER-IP" (kube-proxy's KUBE-6- prefix) */
	const char *type;	/* "hash:ip,port" ... */
	bool hash;		/* takes "family inet|inet6 hashsize ..." */
};
extern const struct ipvs_set_def ipvs_sets[IPVS_SET_MAX];
/* The name of set id in family (AF_INET / AF_INET6). */
static inline const char *ipvs_set_name(int family, enum ipvs_set_id id)
{
	return family == AF_INET6 ? ipvs_sets[id].name6 : ipvs_sets[id].name;
}

struct ipvs_set;
/* The sets of one family: SY-* (inet) or SY-6-* (inet6). */
int ipvs_set_open(int family, struct ipvs_set **ret);
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
/* Destroy every set of the family named in ipvs_sets (after the rules using them). */
int ipvs_set_destroy_all(struct ipvs_set *s);

/* ---- ipvs_ipt.c --------------------------------------------------------- */

struct ipvs_ipt_params {
	int family;			/* AF_INET: iptables, AF_INET6: ip6tables (SY-6-* sets) */
	uint32_t mark;			/* 1 << masquerade_bit */
	bool masquerade_all;
	const struct sy_cidr *cluster_cidrs;	/* those of another family are skipped */
	unsigned n_cluster_cidrs;
};
/*
 * Make our chains and jumps in nat and filter exactly what params say;
 * *writes counts commits (0 when everything was already in place).
 */
int ipvs_ipt_sync(const struct ipvs_ipt_params *p, uint64_t *writes, uint64_t *nat_rules,
		  uint64_t *filter_rules, char *err, size_t errlen);
/* Remove our chains and the jumps to them (family: AF_INET / AF_INET6). */
int ipvs_ipt_cleanup(int family, char *err, size_t errlen);

#endif
