/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SWITCHYARD_PODNET_INT_H
#define SWITCHYARD_PODNET_INT_H
/*
 * Internal interfaces between podnet/podnet*.c (and their unit tests and
 * benchmark); the rest of the daemon uses switchyard/podnet.h.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include "switchyard/podnet.h"
#include "switchyard/util.h"

/* Names and numbers the pod network owns (documented in doc/pod-network.md). */
#define PODNET_VXLAN_PREFIX	"sy-vx."	/* + VNI: "sy-vx.1" */
#define PODNET_VXLAN6_PREFIX	"sy-vx6."	/* + VNI: "sy-vx6.1", over an IPv6 underlay */
#define PODNET_RTPROT		94		/* rtm_protocol of every route we add */
#define PODNET_MASQ_CHAIN	"SY-PODNET-MASQ"
#define PODNET_FWD_CHAIN	"SY-PODNET-FWD"
#define PODNET_CNI_FILE		"10-switchyard.conflist"
#define PODNET_CNI_NAME		"switchyard"
#define PODNET_ANN_PREFIX	"switchyard.io/"
#define PODNET_FLANNEL_PREFIX	"flannel.alpha.coreos.com/"
#define PODNET_VXLAN_DEFAULT_PORT 8472
#define PODNET_VXLAN_OVERHEAD	50	/* outer IPv4 20 + UDP 8 + VXLAN 8 + Ethernet 14 */
#define PODNET_VXLAN6_OVERHEAD	70	/* the same with an outer IPv6 header (40) */

enum podnet_backend {
	PODNET_BACKEND_VXLAN,
	PODNET_BACKEND_HOST_GW,
};
const char *podnet_backend_name(enum podnet_backend b);	/* "vxlan" / "host-gw" */

/* podnet/podnet_conf.c: net-conf.json (pure). */
struct podnet_conf {
	bool enable4;			/* EnableIPv4 (default true): network.. below are set */
	struct sy_cidr network;
	uint8_t subnet_len;
	struct in_addr subnet_min, subnet_max;	/* first addresses of the first/last subnet */
	bool enable6;			/* EnableIPv6 (default false): network6.. below are set */
	struct sy_cidr network6;	/* IPv6Network */
	uint8_t subnet_len6;		/* IPv6SubnetLen, default 64 (or prefix + 2) */
	struct sy_addr subnet_min6, subnet_max6;	/* IPv6SubnetMin / IPv6SubnetMax */
	enum podnet_backend backend;
	uint32_t vni;			/* vxlan, default 1 */
	uint16_t port;			/* vxlan UDP port, default 8472 */
	bool direct_routing;		/* vxlan */
	unsigned mtu;			/* vxlan Backend.MTU; 0 = underlay MTU - 50 */
};
/* Parse and validate (flannel's rules and defaults).  -EINVAL + err. */
int podnet_conf_parse(const char *json, struct podnet_conf *ret, char *err, size_t errlen);
/* Read + parse a file; -errno + err. */
int podnet_conf_load(const char *path, struct podnet_conf *ret, char *err, size_t errlen);
/* A node subnet must lie within Network and [SubnetMin, SubnetMax]: 0 or -EINVAL + err. */
int podnet_conf_check_subnet(const struct podnet_conf *c, const struct sy_cidr *subnet,
			     char *err, size_t errlen);
/* The same for an IPv6 node subnet: IPv6Network, [IPv6SubnetMin, IPv6SubnetMax]. */
int podnet_conf_check_subnet6(const struct podnet_conf *c, const struct sy_cidr *subnet,
			      char *err, size_t errlen);
/* The vxlan device name for a VNI ("sy-vx.<VNI>"); buf >= 16 bytes. */
void podnet_vxlan_name(uint32_t vni, char *buf, size_t len);
/* The vxlan-over-IPv6 device's ("sy-vx6.<VNI>", flannel's flannel-v6.<VNI>). */
void podnet_vxlan6_name(uint32_t vni, char *buf, size_t len);
/* Deterministic locally administered unicast VTEP MAC for a node IP (5e:79:a.b.c.d). */
void podnet_vtep_mac(struct in_addr ip, uint8_t mac[6]);
/* The same for the IPv6 device and an IPv6 underlay address (5e:76: its last 4 bytes). */
void podnet_vtep_mac6(const struct sy_addr *ip6, uint8_t mac[6]);
int podnet_parse_mac(const char *s, uint8_t mac[6]);
void podnet_format_mac(const uint8_t mac[6], char buf[18]);
/* backend-data {"VNI":1,"VtepMAC":"…"}: fills what is present; -EINVAL if not JSON. */
int podnet_parse_backend_data(const char *json, uint32_t *vni, bool *has_vni,
			      uint8_t mac[6], bool *has_mac);
/*
 * Rendered files (malloc'd, NUL-terminated).  subnet: this node's IPv4 pod
 * subnet (NULL when IPv4 is off), subnet6: its IPv6 one (NULL when IPv6 is
 * off); each family present gets flannel's keys / a host-local range.
 */
char *podnet_render_subnet_env(const struct podnet_conf *c, const struct sy_cidr *subnet,
			       const struct sy_cidr *subnet6, unsigned mtu);
char *podnet_render_cni(const struct podnet_conf *c, const struct sy_cidr *subnet,
			const struct sy_cidr *subnet6, unsigned mtu);

/*
 * podnet/podnet_nl.c: the rtnetlink layer (libnl-route).  One kernel object per
 * entry; every route we add carries PODNET_RTPROT.
 */
enum pn_etype {
	PN_ROUTE,	/* dst via gw dev ifindex [onlink] */
	PN_NEIGH,	/* permanent neighbour dst.addr → mac on ifindex */
	PN_FDB,		/* permanent bridge FDB mac → gw on ifindex (vxlan remote) */
};
struct pn_entry {
	enum pn_etype type;
	struct sy_cidr dst;		/* route: IPv4 or IPv6; neigh: IPv4 /32 */
	struct sy_addr gw;		/* route: of dst's family; FDB: the IPv4 remote */
	int ifindex;
	bool onlink;
	uint8_t mac[6];
};
/* Key ("r 10.1.2.0/24", "n 10.1.2.0", "f 5e:79:..") identifying an entry of its device. */
void pn_entry_key(const struct pn_entry *e, char *buf, size_t len);
bool pn_entry_equal(const struct pn_entry *a, const struct pn_entry *b);
void pn_entry_str(const struct pn_entry *e, char *buf, size_t len);	/* for logs */

struct nl_sock;
int pn_nl_open(struct nl_sock **ret);
void pn_nl_close(struct nl_sock *sk);
/* Idempotent: add/replace, delete (ENOENT/ESRCH = done). */
int pn_nl_entry_add(struct nl_sock *sk, const struct pn_entry *e);
int pn_nl_entry_del(struct nl_sock *sk, const struct pn_entry *e);
/*
 * Every entry of ours in the kernel: routes (IPv4 and IPv6) with
 * PODNET_RTPROT in the main table, and (vx_ifindex > 0) the permanent neighbours and FDB entries with
 * a remote on that device.
 */
typedef void (*pn_entry_fn)(void *arg, const struct pn_entry *e);
int pn_nl_dump(struct nl_sock *sk, int vx_ifindex, pn_entry_fn fn, void *arg);
/* The same with the neighbours/FDB entries of n_vx devices (an ifindex <= 0 is skipped). */
int pn_nl_dump_devs(struct nl_sock *sk, const int *vx_ifindex, unsigned n_vx, pn_entry_fn fn,
		    void *arg);

struct pn_link {
	int ifindex;
	unsigned mtu;
	bool up;
	uint8_t mac[6];
	bool is_vxlan;
	uint32_t vni, port, link;	/* vxlan attributes */
	struct sy_addr local;		/* IPv4 or IPv6 underlay address */
	bool learning;
};
/* -ENODEV when missing. */
int pn_nl_link_get(struct nl_sock *sk, const char *name, struct pn_link *ret);
int pn_nl_link_del(struct nl_sock *sk, const char *name);
/* Names of links starting with prefix (malloc'd array of malloc'd names). */
int pn_nl_links_with_prefix(struct nl_sock *sk, const char *prefix, char ***ret, unsigned *n);
/* The interface holding ip: ifindex, prefix length, name (IFNAMSIZ). -ENOENT. */
int pn_nl_find_addr(struct nl_sock *sk, struct in_addr ip, int *ifindex, uint8_t *plen,
		    char *name);
/*
 * The IPv6 address ip (unset: the first global one) on ifindex (0: any
 * interface), with its prefix (the on-link subnet) and interface
 * (ret_ifindex may be NULL); -ENOENT.
 */
int pn_nl_find_addr6(struct nl_sock *sk, int ifindex, const struct sy_addr *ip,
		     struct sy_cidr *ret_net, struct sy_addr *ret_ip, int *ret_ifindex);
/* First IPv4 address (with prefix) of an interface; -ENOENT. */
int pn_nl_first_addr(struct nl_sock *sk, int ifindex, struct sy_cidr *ret_net,
		     struct in_addr *ret_ip);
struct pn_vxlan_spec {
	const char *name;
	uint32_t vni;
	uint16_t port;
	struct sy_addr local;	/* IPv4 or IPv6 (the vxlan-over-IPv6 device) underlay address */
	int link;		/* underlay ifindex */
	unsigned mtu;
	uint8_t mac[6];
};
/*
 * Create the vxlan device or fix it in place (MTU, MAC, up); recreated when
 * VNI/port/local/link/learning differ.  *recreated tells the caller every
 * neighbour/FDB entry/route through it is gone.  Returns its ifindex.
 */
int pn_nl_vxlan_ensure(struct nl_sock *sk, const struct pn_vxlan_spec *s, bool *recreated);
/* Make addr/32 the only IPv4 address on ifindex. */
int pn_nl_addr_ensure_only(struct nl_sock *sk, int ifindex, struct in_addr addr);
/* Make addr/128 the only global IPv6 address on ifindex (link-local ones stay; no DAD). */
int pn_nl_addr6_ensure_only(struct nl_sock *sk, int ifindex, const struct sy_addr *addr);
/* Remove every global IPv6 address of ifindex (link-local ones stay). */
int pn_nl_addr6_remove_all(struct nl_sock *sk, int ifindex);

/*
 * podnet/podnet_ipt.c (lib/iptc.c): SY-PODNET-MASQ in nat POSTROUTING
 * (egress masquerade) and SY-PODNET-FWD in filter FORWARD (accept pod
 * traffic), in the ip tables (family AF_INET, network: Network) or the ip6
 * tables (AF_INET6, network: IPv6Network).
 */
/* Ensure both chains hold exactly the rules for network; a commit only where something differs. */
int podnet_ipt_ensure(int family, const struct sy_cidr *network, bool *changed);
/* Remove the jumps and the chains (absent = done). */
int podnet_ipt_remove(int family);

#endif
