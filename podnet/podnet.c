// SPDX-License-Identifier: Apache-2.0
/*
 * The pod network (--pod-network): flannel's job inside the proxy.  Each
 * Node's spec.podCIDR is its pod subnet; this node wires a route (plus, for
 * vxlan, a neighbour and an FDB entry) to every peer's subnet, writes
 * subnet.env and the CNI conflist, and masquerades pod egress.
 *
 * Diff-based: the kernel entries of each peer are remembered; a sync
 * recomputes peers from the Node cache and touches only the entries of
 * peers that changed.  A full sync re-reads the kernel (our routes by
 * protocol, neighbours/FDB on our vxlan device) and repairs drift.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "switchyard/config.h"
#include "switchyard/hmap.h"
#include "switchyard/k8s.h"
#include "switchyard/log.h"
#include "switchyard/model.h"
#include "switchyard/podnet.h"
#include "podnet_int.h"

#define MAX_ENTRIES 6	/* vxlan: route, neigh, FDB per family; host-gw: a route per family */

struct pn_peer {
	char *name;
	bool valid;
	char *why;			/* why invalid (logged when it changes) */
	char *why6;			/* why it has no IPv6 route (logged when it changes) */
	struct sy_cidr subnet;
	struct in_addr ip;
	uint8_t mac[6];
	char *bd_raw;			/* backend-data annotation, to skip re-parsing */
	uint8_t bd_mac[6];
	bool bd_has_mac;
	struct pn_entry e[MAX_ENTRIES];
	unsigned n;
	struct pn_entry prev[MAX_ENTRIES];	/* during a sync: what the kernel had */
	unsigned prev_n;
	uint64_t gen;
};

/* A call's errors: the first with its context goes to the caller. */
struct pn_errs {
	char first[512];
	unsigned n;
};

struct podnet {
	struct podnet_conf conf;
	char *node_name, *subnet_file, *cni_path, *iface;
	struct k8s_client *k8s;
	struct nl_sock *sk;
	char vx_name[IFNAMSIZ];
	char vx6_name[IFNAMSIZ];	/* vxlan over the IPv6 underlay (EnableIPv6) */

	bool local_ready;
	char *local_why;
	struct sy_cidr own_subnet;
	struct in_addr underlay_ip;
	struct sy_cidr underlay_net;
	int underlay_ifindex;
	unsigned underlay_mtu, mtu;	/* mtu: the pods' (the smallest device's) */
	int vx_ifindex;
	uint8_t vtep_mac[6];
	bool use6;			/* vxlan with an IPv6 underlay address: vx6_name */
	int vx6_ifindex;		/* > 0: IPv6 pods ride vx6_name */
	uint8_t vtep_mac6[6];
	bool masq_ok;
	bool masq6_ok;			/* the ip6tables chains are in place (EnableIPv6) */
	bool bridge_nf;			/* --network-policy: bridged pod traffic must meet
					 * the forward hook (bridge-nf-call-ip*tables=1) */
	bool bridge_nf_warned;		/* its failure said once */
	char *masq6_why;		/* their last error (logged when it changes) */

	/* IPv6 (EnableIPv6): this node's IPv6 subnet and underlay address, when usable */
	bool ready6;
	char *why6;			/* why IPv6 is not set up (logged when it changes) */
	struct sy_cidr own_subnet6;
	struct sy_addr underlay_ip6;
	struct sy_cidr underlay_net6;

	struct hmap peers;		/* name → struct pn_peer */
	uint64_t gen;
	bool need_full;
	char *published;		/* backend-data last patched */
	double published_at;

	struct sy_report report;	/* joins, leaves, ignored peers, writes */
	struct pn_errs errs;		/* this sync's */
};

/* Note an error r (< 0) with its context and return it. */
#define errs_add(e, r, ...) \
	((e)->n++, sy_err_first((e)->first, sizeof((e)->first), r, __VA_ARGS__))

/* r < 0: the first error (or r's text) and how many more, into err. */
static int errs_out(const struct pn_errs *e, int r, char *err, size_t errlen)
{
	if (r >= 0)
		return r;
	if (e->n > 1)
		snprintf(err, errlen, "%s (and %u more errors)", e->first, e->n - 1);
	else
		snprintf(err, errlen, "%s", e->n ? e->first : strerror(-r));
	return r;
}

#define sync_fail(p, r, ...) errs_add(&(p)->errs, r, __VA_ARGS__)

/* Store msg in *slot; true when it differs from what was there (time to log). */
static bool set_why(char **slot, const char *msg)
{
	if (!msg) {
		bool had = *slot != NULL;

		free(*slot);
		*slot = NULL;
		return had;
	}
	if (*slot && strcmp(*slot, msg) == 0)
		return false;
	free(*slot);
	*slot = xstrdup(msg);
	return true;
}

static void peer_free(void *p)
{
	struct pn_peer *pr = p;

	if (!pr)
		return;
	sy_free_all(pr->name, pr->why, pr->why6, pr->bd_raw, pr);
}

int podnet_new(struct podnet **ret, const struct sy_config *cfg, const char *node_name,
	       const struct sy_report *report, char *err, size_t errlen)
{
	struct podnet *p;
	const char *dir = cfg->cni_conf_dir ? cfg->cni_conf_dir : "/etc/cni/net.d";
	int r;

	p = xcalloc(1, sizeof(*p));
	if (report)
		p->report = *report;
	r = podnet_conf_load(cfg->net_conf ? cfg->net_conf : "/etc/switchyard/net-conf.json",
			     &p->conf, err, errlen);
	if (r < 0)
		goto fail;
	if (!node_name || !*node_name) {
		snprintf(err, errlen, "--pod-network needs a node name");
		r = -EINVAL;
		goto fail;
	}
	p->bridge_nf = cfg->network_policy;
	p->node_name = xstrdup(node_name);
	p->subnet_file = xstrdup(cfg->subnet_file ? cfg->subnet_file : "/run/switchyard/subnet.env");
	if (asprintf(&p->cni_path, "%s/%s", dir, PODNET_CNI_FILE) < 0)
		abort();
	p->iface = cfg->iface && *cfg->iface ? xstrdup(cfg->iface) : NULL;
	podnet_vxlan_name(p->conf.vni, p->vx_name, sizeof(p->vx_name));
	podnet_vxlan6_name(p->conf.vni, p->vx6_name, sizeof(p->vx6_name));
	r = pn_nl_open(&p->sk);
	if (r < 0) {
		snprintf(err, errlen, "rtnetlink: %s", strerror(-r));
		goto fail;
	}
	hmap_init(&p->peers);
	p->need_full = true;
	*ret = p;
	return 0;
fail:
	sy_free_all(p->node_name, p->subnet_file, p->cni_path, p->iface, p);
	return r;
}

void podnet_free(struct podnet *p)
{
	if (!p)
		return;
	hmap_clear_free(&p->peers, peer_free);
	pn_nl_close(p->sk);
	sy_free_all(p->node_name, p->subnet_file, p->cni_path, p->iface,
		    p->local_why, p->why6, p->masq6_why, p->published, p);
}

void podnet_set_client(struct podnet *p, struct k8s_client *k)
{
	p->k8s = k;
}

/* Annotation under our prefix, else flannel's. */
#define ann(n, suffix) ann2(n, PODNET_ANN_PREFIX suffix, PODNET_FLANNEL_PREFIX suffix)
static const char *ann2(const struct node *n, const char *ours, const char *flannels)
{
	const char *v;

	if (!n->n_annotations)
		return NULL;
	v = node_annotation(n, ours);
	return v ? v : node_annotation(n, flannels);
}

static int mkdir_parents(const char *path)
{
	char buf[4096], *s;

	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	for (s = buf + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	return 0;
}

/* Write atomically, only when the content differs.  1 = written, 0 = same. */
static int write_if_changed(const char *path, const char *data)
{
	char *old = NULL;
	size_t len;
	int r;

	if (sy_read_file(path, &old, &len) == 0 && len == strlen(data) &&
	    memcmp(old, data, len) == 0) {
		free(old);
		return 0;
	}
	free(old);
	r = mkdir_parents(path);
	if (r < 0)
		return r;
	r = sy_write_file_atomic(path, data, strlen(data), 0644);
	return r < 0 ? r : 1;
}

/* Write text (malloc'd; freed) to path when it differs; report a write. */
static int write_rendered(struct podnet *p, const char *path, char *text)
{
	int r = write_if_changed(path, text);

	free(text);
	if (r < 0)
		return sync_fail(p, r, "writing %s: %s", path, strerror(-r));
	if (r > 0)
		sy_report(&p->report, 'I', "pod network: wrote %s", path);
	return r;
}

/* backend-data / backend-v6-data of a vxlan device: {"VNI":1,"VtepMAC":"…"}. */
static void vxlan_data(const struct podnet *p, const uint8_t vtep_mac[6], char *buf, size_t len)
{
	char mac[18];

	podnet_format_mac(vtep_mac, mac);
	snprintf(buf, len, "{\"VNI\":%u,\"VtepMAC\":\"%s\"}", p->conf.vni, mac);
}

/*
 * Publish what peers need on this node's Node: backend-type, backend-data
 * (vxlan: with IPv4 only, as flannel), public-ip, public-ipv6 with an IPv6
 * underlay address, and backend-v6-data with the vxlan-over-IPv6 device
 * (flannel's keys, our prefix).
 */
static void publish(struct podnet *p, const struct node *own)
{
	char data[128], data6[128] = "", ip[INET_ADDRSTRLEN] = "", ip6[INET6_ADDRSTRLEN] = "";
	char all[512];
	const char *keys[5] = { PODNET_ANN_PREFIX "backend-type" };
	const char *vals[5];
	unsigned n = 1, i;
	bool same = true;
	int r;

	if (!p->k8s)
		return;
	vals[0] = podnet_backend_name(p->conf.backend);
	snprintf(data, sizeof(data), "null");
	if (p->conf.backend == PODNET_BACKEND_VXLAN && p->conf.enable4)
		vxlan_data(p, p->vtep_mac, data, sizeof(data));
	if (p->conf.backend != PODNET_BACKEND_VXLAN || p->conf.enable4) {
		keys[n] = PODNET_ANN_PREFIX "backend-data";
		vals[n++] = data;
	}
	if (p->vx6_ifindex > 0) {
		vxlan_data(p, p->vtep_mac6, data6, sizeof(data6));
		keys[n] = PODNET_ANN_PREFIX "backend-v6-data";
		vals[n++] = data6;
	}
	if (p->conf.enable4) {
		snprintf(ip, sizeof(ip), "%s", sy_ip4_str(p->underlay_ip));
		keys[n] = PODNET_ANN_PREFIX "public-ip";
		vals[n++] = ip;
	}
	if (p->ready6 && sy_addr_is_set(&p->underlay_ip6)) {
		sy_addr_format(&p->underlay_ip6, ip6, sizeof(ip6));
		keys[n] = PODNET_ANN_PREFIX "public-ipv6";
		vals[n++] = ip6;
	}
	for (i = 0; i < n && same; i++) {
		const char *cur = node_annotation(own, keys[i]);

		same = cur && !strcmp(cur, vals[i]);
	}
	if (same)
		return;
	/* The patch is asynchronous: once per content until the watch shows it,
	 * retried (at a full sync) if it still has not after 10 s. */
	snprintf(all, sizeof(all), "%s %s %s %s", data, data6, ip, ip6);
	if (p->published && strcmp(p->published, all) == 0 &&
	    sy_now_mono() - p->published_at < 10)
		return;
	r = k8s_client_patch_node_annotations(p->k8s, p->node_name, keys, vals, n);
	if (r < 0) {
		sy_report(&p->report, 'W', "Node %s: publishing pod network annotations: %s",
			  p->node_name, strerror(-r));
		return;
	}
	free(p->published);
	p->published = xstrdup(all);
	p->published_at = sy_now_mono();
	for (i = 1, all[0] = '\0'; i < n; i++)
		snprintf(all + strlen(all), sizeof(all) - strlen(all), " %s=%s", keys[i], vals[i]);
	sy_report(&p->report, 'I', "Node %s: publishing%s", p->node_name, all);
}

/* Find the underlay: --iface, else the interface holding the node's IP. */
static int find_underlay(struct podnet *p, const struct node *own, char *why, size_t len)
{
	struct pn_link l;
	char name[IFNAMSIZ] = "";
	int r, ifindex;
	uint8_t plen;

	if (p->iface) {
		r = pn_nl_link_get(p->sk, p->iface, &l);
		if (r < 0) {
			snprintf(why, len, "underlay interface %s: %s", p->iface, strerror(-r));
			return r;
		}
		r = pn_nl_first_addr(p->sk, l.ifindex, &p->underlay_net, &p->underlay_ip);
		if (r < 0) {
			snprintf(why, len, "underlay interface %s has no IPv4 address", p->iface);
			return r;
		}
		/* Prefer the node's own IP when it sits on that interface. */
		if (own->internal_ip.v4.s_addr &&
		    pn_nl_find_addr(p->sk, own->internal_ip.v4, &ifindex, &plen, NULL) == 0 &&
		    ifindex == l.ifindex) {
			p->underlay_ip = own->internal_ip.v4;
			sy_cidr_make(&own->internal_ip, plen,
				     &p->underlay_net);
		}
		p->underlay_ifindex = l.ifindex;
		p->underlay_mtu = l.mtu;
		return 0;
	}
	if (!own->internal_ip.v4.s_addr) {
		snprintf(why, len, "node %s has no InternalIP and --iface is not set", p->node_name);
		return -ENOENT;
	}
	r = pn_nl_find_addr(p->sk, own->internal_ip.v4, &ifindex, &plen, name);
	if (r < 0) {
		snprintf(why, len, "no local interface holds node %s's InternalIP %s (use --iface)",
			 p->node_name, sy_ip4_str(own->internal_ip.v4));
		return r;
	}
	r = pn_nl_link_get(p->sk, name, &l);
	if (r < 0) {
		snprintf(why, len, "underlay interface %s: %s", name, strerror(-r));
		return r;
	}
	p->underlay_ip = own->internal_ip.v4;
	sy_cidr_make(&own->internal_ip, plen,
		     &p->underlay_net);
	p->underlay_ifindex = ifindex;
	p->underlay_mtu = l.mtu;
	return 0;
}

/* Remove vxlan devices of ours that are not the current one. */
static void remove_stale_devices(struct podnet *p)
{
	char **names = NULL;
	unsigned n = 0, i;
	int r;

	if (pn_nl_links_with_prefix(p->sk, "sy-vx", &names, &n) < 0)
		return;
	for (i = 0; i < n; i++) {
		bool v6 = !strncmp(names[i], PODNET_VXLAN6_PREFIX, strlen(PODNET_VXLAN6_PREFIX));

		if (!v6 && strncmp(names[i], PODNET_VXLAN_PREFIX, strlen(PODNET_VXLAN_PREFIX))) {
			free(names[i]);
			continue;
		}
		if (p->conf.backend != PODNET_BACKEND_VXLAN ||
		    (v6 ? !p->use6 || strcmp(names[i], p->vx6_name)
			: !p->conf.enable4 || strcmp(names[i], p->vx_name))) {
			r = pn_nl_link_del(p->sk, names[i]);
			if (r < 0)
				sy_report(&p->report, 'W', "pod network: removing stale device %s: %s",
					  names[i], strerror(-r));
			else
				sy_report(&p->report, 'I', "pod network: removed stale device %s",
					  names[i]);
		}
		free(names[i]);
	}
	free(names);
}

/*
 * This node's IPv6 side (EnableIPv6): its IPv6 podCIDR inside IPv6Network,
 * and an IPv6 address on the underlay (the Node's IPv6 InternalIP, else the
 * underlay's first global IPv6 address) for peers' routes.  Anything
 * missing or wrong is reported (once per reason) and leaves IPv6 off; IPv4
 * is not affected.
 */
static void local_setup6(struct podnet *p, const struct node *own)
{
	char why[400], tmp[200];
	int r;

	p->ready6 = false;
	p->use6 = false;
	if (!p->conf.enable6)
		return;
	if (!own->has_pod_cidr6) {
		snprintf(why, sizeof(why), "node \"%s\" IPv6 pod cidr not assigned (no IPv6 entry in "
			 "spec.podCIDRs); IPv6 is off", p->node_name);
		goto off;
	}
	if (podnet_conf_check_subnet6(&p->conf, &own->pod_cidr6, tmp, sizeof(tmp)) < 0) {
		snprintf(why, sizeof(why), "node \"%s\" IPv6 podCIDR %s; IPv6 is off", p->node_name,
			 tmp);
		goto off;
	}
	if (p->conf.backend == PODNET_BACKEND_VXLAN) {
		/* With an IPv6 address on the underlay, IPv6 pods ride the vxlan
		 * device over it (flannel's flannel-v6.<VNI>); without one, the
		 * IPv4 tunnel (flannel would refuse to start) */
		r = pn_nl_find_addr6(p->sk, p->underlay_ifindex, &own->internal_ip6,
				     &p->underlay_net6, &p->underlay_ip6, NULL);
		if (r < 0) {
			memset(&p->underlay_net6, 0, sizeof(p->underlay_net6));
			memset(&p->underlay_ip6, 0, sizeof(p->underlay_ip6));
		}
		p->use6 = r == 0;
		r = 0;
	} else {
		r = pn_nl_find_addr6(p->sk, p->underlay_ifindex, &own->internal_ip6,
				     &p->underlay_net6, &p->underlay_ip6, NULL);
	}
	if (r < 0) {
		if (sy_addr_is_set(&own->internal_ip6))
			snprintf(why, sizeof(why), "node \"%s\" IPv6 InternalIP %s is not on the "
				 "underlay (#%d): %s; IPv6 is off", p->node_name,
				 sy_addr_str(&own->internal_ip6), p->underlay_ifindex,
				 strerror(-r));
		else
			snprintf(why, sizeof(why), "node \"%s\" has no IPv6 InternalIP and the "
				 "underlay (#%d) no global IPv6 address; IPv6 is off", p->node_name,
				 p->underlay_ifindex);
		goto off;
	}
	p->own_subnet6 = own->pod_cidr6;
	p->ready6 = true;
	if (set_why(&p->why6, NULL) || !p->local_ready)
		sy_report(&p->report, 'I', "pod network: node %s IPv6 subnet %s, underlay %s",
			  p->node_name, sy_cidr_str(&p->own_subnet6),
			  p->use6 ? p->vx6_name : sy_addr_is_set(&p->underlay_net6.addr) ?
			  sy_cidr_str(&p->underlay_net6) : "the IPv4 vxlan tunnel");
	return;
off:
	memset(&p->own_subnet6, 0, sizeof(p->own_subnet6));
	memset(&p->underlay_ip6, 0, sizeof(p->underlay_ip6));
	memset(&p->underlay_net6, 0, sizeof(p->underlay_net6));
	if (set_why(&p->why6, why))
		sy_report(&p->report, 'E', "pod network: %s", why);
}

/* The end of a local setup: ready (1, published) or waiting for why (0, said once). */
static int local_done(struct podnet *p, const struct node *own, const char *why)
{
	if (why) {
		if (set_why(&p->local_why, why))
			sy_report(&p->report, 'E', "pod network: %s", why);
		return 0;
	}
	set_why(&p->local_why, NULL);
	p->local_ready = true;
	publish(p, own);
	return 1;
}

/*
 * The family's SY-PODNET-* chains (podnet_ipt.c), said when written.  An
 * error is fatal (sync_fail, -errno) for the node's first family; for
 * IPv6Network beside IPv4 it is reported once per reason and retried at
 * every sync, IPv4 goes on (0).
 */
static int masq_ensure(struct podnet *p, int family)
{
	bool six = family == AF_INET6, changed;
	const char *tool = six ? "ip6tables" : "iptables";
	char msg[300];
	int r;

	r = podnet_ipt_ensure(family, six ? &p->conf.network6 : &p->conf.network, &changed);
	*(six ? &p->masq6_ok : &p->masq_ok) = r == 0;
	if (r < 0 && (!six || !p->conf.enable4))
		return sync_fail(p, r, "%s chains %s/%s: %s", tool, PODNET_MASQ_CHAIN,
				 PODNET_FWD_CHAIN, strerror(-r));
	if (r < 0) {
		snprintf(msg, sizeof(msg), "ip6tables chains %s/%s: %s; IPv6 pods leaving %s are "
			 "not masqueraded (retried every sync)", PODNET_MASQ_CHAIN,
			 PODNET_FWD_CHAIN, strerror(-r), sy_cidr_str(&p->conf.network6));
		if (set_why(&p->masq6_why, msg))
			sy_report(&p->report, 'E', "pod network: %s", msg);
		return 0;
	}
	if (six)
		set_why(&p->masq6_why, NULL);
	if (changed)
		sy_report(&p->report, 'I', "pod network: wrote %s chains %s, %s", tool,
			  PODNET_MASQ_CHAIN, PODNET_FWD_CHAIN);
	return 0;
}

/*
 * The vxlan device of a family (IPv4: vx_name over the IPv4 underlay
 * address; IPv6: vx6_name over the IPv6 one) with this node's subnet
 * address (/32, /128) as its only one of that family; *changed when it was
 * (re)created.  -errno (sync_fail).
 */
static int vxlan_dev_ensure(struct podnet *p, int family, unsigned mtu, bool *changed)
{
	bool six = family == AF_INET6, recreated;
	struct pn_vxlan_spec s = {
		.name = six ? p->vx6_name : p->vx_name, .vni = p->conf.vni,
		.port = p->conf.port, .link = p->underlay_ifindex, .mtu = mtu,
		.local = six ? p->underlay_ip6 : sy_addr_from_in4(p->underlay_ip),
	};
	const struct sy_addr *own = six ? &p->own_subnet6.addr : &p->own_subnet.addr;
	int *ifindex = six ? &p->vx6_ifindex : &p->vx_ifindex, r;

	memcpy(s.mac, six ? p->vtep_mac6 : p->vtep_mac, 6);
	r = pn_nl_vxlan_ensure(p->sk, &s, &recreated);
	if (r < 0)
		return sync_fail(p, r, "vxlan device %s: %s", s.name, strerror(-r));
	*ifindex = r;
	if (recreated) {
		sy_report(&p->report, 'I', "pod network: created %s (VNI %u, local %s, port %u, "
			  "MTU %u)", s.name, p->conf.vni, sy_addr_str(&s.local), p->conf.port, mtu);
		*changed = true;
	}
	r = six ? pn_nl_addr6_ensure_only(p->sk, r, own) : pn_nl_addr_ensure_only(p->sk, r, own->v4);
	if (r < 0)
		return sync_fail(p, r, "address %s/%u on %s: %s", sy_addr_str(own),
				 sy_addr_bits(own), s.name, strerror(-r));
	return 0;
}

/* The vxlan device MTU of a family: Backend.MTU, else the underlay's less the encapsulation. */
static unsigned vxlan_mtu(const struct podnet *p, int family)
{
	if (p->conf.mtu)
		return p->conf.mtu;
	return p->underlay_mtu - (family == AF_INET6 ? PODNET_VXLAN6_OVERHEAD
						     : PODNET_VXLAN_OVERHEAD);
}

/*
 * IPv6-only (EnableIPv4 false): this node's IPv6 podCIDR, the
 * underlay holding its IPv6 InternalIP (or --iface), the files with the
 * IPv6 keys only, the ip6tables chains.  Same contract as local_setup.
 */
static int local_setup_v6only(struct podnet *p, const struct node *own, bool full,
			      bool *changed)
{
	struct podnet old = *p;
	char why[512], tmp[200];
	struct pn_link l;
	int ifindex = 0, r;

	if (!own->has_pod_cidr6) {
		snprintf(why, sizeof(why), "node \"%s\" pod cidr not assigned (no IPv6 entry in "
			 "spec.podCIDRs)", p->node_name);
		goto wait;
	}
	if (podnet_conf_check_subnet6(&p->conf, &own->pod_cidr6, tmp, sizeof(tmp)) < 0) {
		snprintf(why, sizeof(why), "node \"%s\" IPv6 podCIDR %s", p->node_name, tmp);
		goto wait;
	}
	if (p->iface) {
		r = pn_nl_link_get(p->sk, p->iface, &l);
		if (r < 0) {
			snprintf(why, sizeof(why), "underlay interface %s: %s", p->iface,
				 strerror(-r));
			goto wait;
		}
		ifindex = l.ifindex;
	} else if (!sy_addr_is_set(&own->internal_ip6)) {
		snprintf(why, sizeof(why), "node %s has no IPv6 InternalIP and --iface is not set",
			 p->node_name);
		goto wait;
	}
	r = pn_nl_find_addr6(p->sk, ifindex, &own->internal_ip6, &p->underlay_net6,
			     &p->underlay_ip6, &ifindex);
	if (r < 0 && p->iface)
		r = pn_nl_find_addr6(p->sk, ifindex, NULL, &p->underlay_net6, &p->underlay_ip6,
				     &ifindex);
	if (r < 0) {
		snprintf(why, sizeof(why), "no local interface holds node %s's IPv6 address %s "
			 "(use --iface)", p->node_name, sy_addr_str(&own->internal_ip6));
		goto wait;
	}
	if (!p->iface) {
		char name[IFNAMSIZ];

		if (!if_indextoname((unsigned)ifindex, name) ||
		    pn_nl_link_get(p->sk, name, &l) < 0) {
			snprintf(why, sizeof(why), "underlay interface #%d: not found", ifindex);
			goto wait;
		}
	}
	p->underlay_ifindex = ifindex;
	p->underlay_mtu = l.mtu;
	p->own_subnet6 = own->pod_cidr6;
	p->ready6 = true;
	p->use6 = p->conf.backend == PODNET_BACKEND_VXLAN;
	p->mtu = p->use6 ? vxlan_mtu(p, AF_INET6) : l.mtu;
	if (p->use6)
		podnet_vtep_mac6(&p->underlay_ip6, p->vtep_mac6);
	if (old.local_ready && !full && old.masq6_ok && sy_cidr_eq(&old.own_subnet6, &p->own_subnet6) &&
	    sy_addr_eq(&old.underlay_ip6, &p->underlay_ip6) &&
	    sy_cidr_eq(&old.underlay_net6, &p->underlay_net6) &&
	    old.underlay_ifindex == p->underlay_ifindex && old.mtu == p->mtu)
		return 1;
	if (!old.local_ready || !sy_cidr_eq(&old.own_subnet6, &p->own_subnet6) ||
	    !sy_addr_eq(&old.underlay_ip6, &p->underlay_ip6) ||
	    !sy_cidr_eq(&old.underlay_net6, &p->underlay_net6) ||
	    old.underlay_ifindex != p->underlay_ifindex)
		*changed = true;
	if (full)
		remove_stale_devices(p);
	p->vx6_ifindex = 0;
	if (p->use6) {
		r = vxlan_dev_ensure(p, AF_INET6, p->mtu, changed);
		if (r < 0)
			return r;
		if (old.vx6_ifindex != p->vx6_ifindex)
			*changed = true;
	}
	r = write_rendered(p, p->subnet_file,
			   podnet_render_subnet_env(&p->conf, NULL, &p->own_subnet6, p->mtu));
	if (r < 0)
		return r;
	r = write_rendered(p, p->cni_path, podnet_render_cni(&p->conf, NULL, &p->own_subnet6,
							     p->mtu));
	if (r < 0)
		return r;
	r = masq_ensure(p, AF_INET6);
	if (r < 0)
		return r;
	if (!p->local_ready || *changed)
		sy_report(&p->report, 'I', "pod network: node %s subnet %s (IPv6 only), %s backend, "
			  "underlay %s (#%d), MTU %u", p->node_name, sy_cidr_str(&p->own_subnet6),
			  podnet_backend_name(p->conf.backend), sy_cidr_str(&p->underlay_net6),
			  p->underlay_ifindex, p->mtu);
	return local_done(p, own, NULL);
wait:
	return local_done(p, own, why);
}

/*
 * This node: subnet, underlay, device, files, masquerade.  *changed when
 * anything peers' entries depend on changed (they are all recomputed).
 * Returns 1 when ready, 0 when waiting (reason reported), -errno (sync_fail).
 */
/*
 * With --network-policy, pod-to-pod traffic on this node crosses the cni
 * bridge and meets the forward hook (where NetworkPolicy is enforced) only
 * with br_netfilter's bridge-nf-call-iptables (ip6tables) = 1: set at every
 * full sync, like kubenet does.  switchyard loads no module: without
 * br_netfilter (no net/bridge sysctls) or with a read-only /proc/sys, say so
 * once: same-node pod traffic is then not policed.
 */
static void bridge_nf_ensure(struct podnet *p)
{
	static const char *const keys[] = { "net/bridge/bridge-nf-call-iptables",
					    "net/bridge/bridge-nf-call-ip6tables" };
	unsigned i;
	int r;

	if (!p->bridge_nf)
		return;
	for (i = 0; i < (p->conf.enable6 ? 2u : 1u); i++) {
		r = sy_sysctl_set(keys[i], "1");
		if (r >= 0 || p->bridge_nf_warned)
			continue;
		p->bridge_nf_warned = true;
		sy_report(&p->report, 'W', "pod network: cannot set %s=1: %s%s; NetworkPolicy is "
			  "not enforced between pods on this node's bridge", keys[i], strerror(-r),
			  r == -ENOENT ? " (br_netfilter not loaded: modprobe br_netfilter)" : "");
	}
}

static int local_setup(struct podnet *p, const struct node *own, bool full, bool *changed)
{
	struct podnet old = *p;
	char why[512], tmp[200];
	char *env, *cni;
	int r;

	*changed = false;
	if (!own) {
		snprintf(why, sizeof(why), "node \"%s\" not found (waiting for its Node object)",
			 p->node_name);
		goto wait;
	}
	if (!p->conf.enable4)
		return local_setup_v6only(p, own, full, changed);
	if (!own->has_pod_cidr) {
		snprintf(why, sizeof(why), "node \"%s\" pod cidr not assigned", p->node_name);
		goto wait;
	}
	if (podnet_conf_check_subnet(&p->conf, &own->pod_cidr, tmp, sizeof(tmp)) < 0) {
		snprintf(why, sizeof(why), "node \"%s\" podCIDR %s", p->node_name, tmp);
		goto wait;
	}
	if (find_underlay(p, own, why, sizeof(why)) < 0)
		goto wait;
	p->own_subnet = own->pod_cidr;
	local_setup6(p, own);
	if (p->conf.backend == PODNET_BACKEND_VXLAN)
		p->mtu = vxlan_mtu(p, AF_INET);
	else
		p->mtu = p->underlay_mtu;
	/* the pods' MTU fits the smaller device */
	if (p->use6 && vxlan_mtu(p, AF_INET6) < p->mtu)
		p->mtu = vxlan_mtu(p, AF_INET6);
	podnet_vtep_mac(p->underlay_ip, p->vtep_mac);
	if (p->use6)
		podnet_vtep_mac6(&p->underlay_ip6, p->vtep_mac6);

	if (old.local_ready && !full && old.own_subnet.addr.v4.s_addr == p->own_subnet.addr.v4.s_addr &&
	    old.own_subnet.plen == p->own_subnet.plen &&
	    old.underlay_ip.s_addr == p->underlay_ip.s_addr &&
	    old.underlay_net.plen == p->underlay_net.plen &&
	    old.underlay_ifindex == p->underlay_ifindex && old.mtu == p->mtu && p->masq_ok &&
	    (p->masq6_ok || !p->conf.enable6) &&
	    old.ready6 == p->ready6 && old.use6 == p->use6 &&
	    sy_cidr_eq(&old.own_subnet6, &p->own_subnet6) &&
	    sy_cidr_eq(&old.underlay_net6, &p->underlay_net6) &&
	    sy_addr_eq(&old.underlay_ip6, &p->underlay_ip6))
		return 1;

	if (full) {
		remove_stale_devices(p);
		bridge_nf_ensure(p);
	}
	p->vx_ifindex = 0;
	p->vx6_ifindex = 0;
	if (p->conf.backend == PODNET_BACKEND_VXLAN) {
		r = vxlan_dev_ensure(p, AF_INET, vxlan_mtu(p, AF_INET), changed);
		if (r == 0 && p->use6)
			r = vxlan_dev_ensure(p, AF_INET6, vxlan_mtu(p, AF_INET6), changed);
		if (r < 0)
			return r;
		/* IPv6 over the IPv4 tunnel: its /128 there; else none there */
		if (p->ready6 && !p->use6)
			r = pn_nl_addr6_ensure_only(p->sk, p->vx_ifindex, &p->own_subnet6.addr);
		else
			r = pn_nl_addr6_remove_all(p->sk, p->vx_ifindex);
		if (r < 0)
			return sync_fail(p, r, "IPv6 address of %s: %s", p->vx_name, strerror(-r));
	}
	if (!old.local_ready || old.own_subnet.addr.v4.s_addr != p->own_subnet.addr.v4.s_addr ||
	    old.own_subnet.plen != p->own_subnet.plen ||
	    old.underlay_ip.s_addr != p->underlay_ip.s_addr ||
	    old.underlay_net.plen != p->underlay_net.plen ||
	    old.underlay_ifindex != p->underlay_ifindex || old.vx_ifindex != p->vx_ifindex ||
	    old.vx6_ifindex != p->vx6_ifindex || old.ready6 != p->ready6 || !sy_cidr_eq(&old.own_subnet6, &p->own_subnet6) ||
	    !sy_cidr_eq(&old.underlay_net6, &p->underlay_net6) ||
	    !sy_addr_eq(&old.underlay_ip6, &p->underlay_ip6))
		*changed = true;

	env = podnet_render_subnet_env(&p->conf, &p->own_subnet,
				       p->ready6 ? &p->own_subnet6 : NULL, p->mtu);
	r = write_rendered(p, p->subnet_file, env);
	if (r < 0)
		return r;
	cni = podnet_render_cni(&p->conf, &p->own_subnet, p->ready6 ? &p->own_subnet6 : NULL,
				p->mtu);
	r = write_rendered(p, p->cni_path, cni);
	if (r < 0)
		return r;

	r = masq_ensure(p, AF_INET);
	if (r == 0 && p->conf.enable6)
		r = masq_ensure(p, AF_INET6);	/* beside IPv4: reported and retried, 0 */
	if (r < 0)
		return r;
	if (!p->local_ready || *changed)
		sy_report(&p->report, 'I', "pod network: node %s subnet %s/%u, %s backend, underlay "
			  "%s/%u (#%d), MTU %u", p->node_name, sy_addr_str(&p->own_subnet.addr),
			  p->own_subnet.plen, podnet_backend_name(p->conf.backend),
			  sy_ip4_str(p->underlay_ip), p->underlay_net.plen, p->underlay_ifindex,
			  p->mtu);
	return local_done(p, own, NULL);
wait:
	return local_done(p, own, why);
}

/* "aabbccdd/nn" without printf: a cheap hash key for a subnet. */
static void cidr_key(const struct sy_cidr *c, char buf[12])
{
	static const char hex[] = "0123456789abcdef";
	uint32_t a = sy_addr4_host_order(&c->addr);
	int i;

	for (i = 0; i < 8; i++)
		buf[i] = hex[(a >> (28 - 4 * i)) & 15];
	buf[8] = hex[c->plen >> 4];
	buf[9] = hex[c->plen & 15];
	buf[10] = '\0';
}

/*
 * The peer's vxlan-over-IPv6 entries on vx6_name (flannel's v6 device):
 * its IPv6 podCIDR via the subnet's first address onlink, that address's
 * neighbour and the FDB entry to its IPv6 underlay address ip6, both with
 * the VtepMAC of its backend-v6-data (else derived from ip6).  0, or -1
 * with why.
 */
static int peer_tunnel6(struct podnet *p, const struct node *n, const struct sy_addr *ip6,
			struct pn_peer *pr, char *why, size_t len)
{
	const char *s = ann(n, "backend-v6-data");
	uint8_t mac[6];
	bool has_mac = false, has_vni;
	uint32_t vni;

	if (s && podnet_parse_backend_data(s, &vni, &has_vni, mac, &has_mac) < 0) {
		snprintf(why, len, "backend-v6-data \"%s\" is not valid", s);
		return -1;
	}
	if (sy_addr_eq(ip6, &p->underlay_ip6)) {
		snprintf(why, len, "has this node's IPv6 address %s", sy_addr_str(ip6));
		return -1;
	}
	if (!has_mac)
		podnet_vtep_mac6(ip6, mac);
	pr->e[pr->n++] = (struct pn_entry){ .type = PN_ROUTE, .dst = n->pod_cidr6,
					    .gw = n->pod_cidr6.addr, .ifindex = p->vx6_ifindex,
					    .onlink = true };
	pr->e[pr->n] = (struct pn_entry){ .type = PN_NEIGH, .dst = { n->pod_cidr6.addr, 128, { 0 } },
					  .ifindex = p->vx6_ifindex };
	memcpy(pr->e[pr->n++].mac, mac, 6);
	pr->e[pr->n] = (struct pn_entry){ .type = PN_FDB, .gw = *ip6, .ifindex = p->vx6_ifindex };
	memcpy(pr->e[pr->n++].mac, mac, 6);
	return 0;
}

/*
 * IPv6 to the peer rides vx6_name: this node has it, and so has the peer
 * (IPv6-only; it publishes backend-v6-data; or it publishes nothing at all
 * (Node manifests): like us, its VtepMAC derived).  A peer that publishes
 * without backend-v6-data has no such device: the IPv4 tunnel, both ways.
 */
static bool peer_has_vx6(const struct podnet *p, const struct node *n)
{
	return p->vx6_ifindex > 0 && (!p->conf.enable4 || ann(n, "backend-v6-data") ||
				      !ann(n, "backend-type"));
}

/*
 * The peer's IPv6 entries, appended to pr's: host-gw, its IPv6 podCIDR via
 * its IPv6 address (annotation public-ipv6, else its IPv6 InternalIP) on the
 * underlay (also a DirectRouting peer); vxlan (tunnel): over vx6_name when
 * this node has it and the peer too (peer_has_vx6),
 * a DirectRouting peer on-link over IPv6 directly, else its IPv6 podCIDR
 * through the IPv4 tunnel.  A problem leaves the peer without IPv6
 * entries, reported in pr->why6 (its IPv4 entries stay).
 */
static void peer_compute6(struct podnet *p, const struct node *n, const struct pn_peer *old,
			  struct pn_peer *pr, bool tunnel, bool quiet)
{
	struct sy_addr ip6 = { 0 };
	const char *s;
	char why[300];

	why[0] = '\0';
	if (!n->has_pod_cidr6) {
		snprintf(why, sizeof(why), "has no IPv6 podCIDR");
		goto out;
	}
	if (podnet_conf_check_subnet6(&p->conf, &n->pod_cidr6, why, sizeof(why)) < 0)
		goto out;
	if (sy_cidr_contains(&p->own_subnet6, &n->pod_cidr6.addr) ||
	    sy_cidr_contains(&n->pod_cidr6, &p->own_subnet6.addr)) {
		snprintf(why, sizeof(why), "IPv6 podCIDR %s overlaps this node's %s",
			 sy_cidr_str(&n->pod_cidr6), sy_cidr_str(&p->own_subnet6));
		goto out;
	}
	if (tunnel && !peer_has_vx6(p, n)) {
		/* through the IPv4 tunnel: route via the peer subnet's first address, its neighbour
		 * the peer's VTEP MAC (the FDB entry to its IPv4 underlay is shared) */
		pr->e[pr->n++] = (struct pn_entry){ .type = PN_ROUTE, .dst = n->pod_cidr6,
						    .gw = n->pod_cidr6.addr,
						    .ifindex = p->vx_ifindex, .onlink = true };
		pr->e[pr->n] = (struct pn_entry){ .type = PN_NEIGH,
						  .dst = { n->pod_cidr6.addr, 128, { 0 } },
						  .ifindex = p->vx_ifindex };
		memcpy(pr->e[pr->n++].mac, pr->mac, 6);
		goto out;
	}
	s = ann(n, "public-ipv6");
	if (s && sy_addr_parse_family(s, AF_INET6, &ip6) < 0) {
		snprintf(why, sizeof(why), "public-ipv6 annotation \"%s\" is not an IPv6 address",
			 s);
		goto out;
	}
	if (!sy_addr_is_set(&ip6))
		ip6 = n->internal_ip6;
	if (!sy_addr_is_set(&ip6)) {
		snprintf(why, sizeof(why), "has no IPv6 address (public-ipv6 annotation or IPv6 "
			 "InternalIP)");
		goto out;
	}
	if (tunnel && !(p->conf.direct_routing && sy_cidr_contains(&p->underlay_net6, &ip6))) {
		peer_tunnel6(p, n, &ip6, pr, why, sizeof(why));
		goto out;
	}
	if (!sy_addr_is_set(&p->underlay_net6.addr)) {
		snprintf(why, sizeof(why), "this node has no IPv6 address on the underlay for a "
			 "direct IPv6 route to %s", sy_addr_str(&ip6));
		goto out;
	}
	if (!sy_cidr_contains(&p->underlay_net6, &ip6)) {
		snprintf(why, sizeof(why), "%s is not on-link from %s: host-gw needs the nodes on "
			 "one L2 network, no IPv6 route added", sy_addr_str(&ip6),
			 sy_cidr_str(&p->underlay_net6));
		goto out;
	}
	pr->e[pr->n++] = (struct pn_entry){ .type = PN_ROUTE, .dst = n->pod_cidr6, .gw = ip6,
					    .ifindex = p->underlay_ifindex };
out:
	free(pr->why6);
	pr->why6 = why[0] ? xstrdup(why) : NULL;
	if (!quiet && why[0] && (!old || !old->why6 || strcmp(old->why6, why) != 0))
		sy_report(&p->report, 'E', "pod network: node %s: %s; no IPv6 route", n->name,
			  why);
}

/* The address a peer is reached through, for logs. */
static const char *peer_via(const struct podnet *p, const struct pn_peer *pr)
{
	if (!p->conf.enable4)
		return pr->n ? sy_addr_str(&pr->e[0].gw) : "";
	return sy_ip4_str(pr->ip);
}

/* Peer n announces another backend than ours: why says so. */
static bool backend_differs(const struct podnet *p, const struct node *n, char *why, size_t len)
{
	const char *s = ann(n, "backend-type");

	if (!s || strcmp(s, podnet_backend_name(p->conf.backend)) == 0)
		return false;
	snprintf(why, len, "backend type \"%s\" differs from ours (%s)", s,
		 podnet_backend_name(p->conf.backend));
	return true;
}

/* Compute the peer's desired entries into pr (valid or why).  owner: the
 * node a duplicated podCIDR is given to (the smallest name), else NULL. */
static void peer_compute(struct podnet *p, const struct node *n, const char *owner,
			 const struct pn_peer *old, struct pn_peer *pr, char *why, size_t len)
{
	const char *s;
	struct in_addr ip = { 0 };
	bool onlink;

	pr->valid = false;
	pr->n = 0;
	why[0] = '\0';
	if (!p->conf.enable4) {
		/* IPv6-only: the peer is its IPv6 route (+ vxlan neighbour, FDB entry) */
		if (!n->has_pod_cidr6) {
			snprintf(why, len, "has no podCIDR yet");
			return;
		}
		if (backend_differs(p, n, why, len))
			return;
		pr->subnet = n->pod_cidr6;
		peer_compute6(p, n, old, pr, p->conf.backend == PODNET_BACKEND_VXLAN, true);
		if (!pr->n) {
			snprintf(why, len, "%s", pr->why6 ? pr->why6 : "no IPv6 route");
			return;
		}
		pr->valid = true;
		return;
	}
	if (!n->has_pod_cidr) {
		snprintf(why, len, "has no podCIDR yet");
		return;
	}
	pr->subnet = n->pod_cidr;
	if (podnet_conf_check_subnet(&p->conf, &n->pod_cidr, why, len) < 0)
		return;
	if (sy_cidr_contains(&p->own_subnet, &n->pod_cidr.addr) ||
	    sy_cidr_contains(&n->pod_cidr, &p->own_subnet.addr)) {
		snprintf(why, len, "podCIDR %s/%u overlaps this node's %s/%u",
			 sy_addr_str(&n->pod_cidr.addr), n->pod_cidr.plen,
			 sy_addr_str(&p->own_subnet.addr), p->own_subnet.plen);
		return;
	}
	if (owner && strcmp(owner, n->name) != 0) {
		snprintf(why, len, "podCIDR %s/%u is node %s's too", sy_addr_str(&n->pod_cidr.addr),
			 n->pod_cidr.plen, owner);
		return;
	}
	if (backend_differs(p, n, why, len))
		return;
	s = ann(n, "public-ip");
	if (s && sy_parse_ip4(s, &ip) < 0) {
		snprintf(why, len, "public-ip annotation \"%s\" is not an IPv4 address", s);
		return;
	}
	if (!ip.s_addr)
		ip = n->internal_ip.v4.s_addr ? n->internal_ip.v4 : n->external_ip.v4;
	if (!ip.s_addr) {
		snprintf(why, len, "has no address (public-ip annotation or InternalIP)");
		return;
	}
	if (ip.s_addr == p->underlay_ip.s_addr) {
		snprintf(why, len, "has this node's address %s", sy_ip4_str(ip));
		return;
	}
	pr->ip = ip;
	onlink = sy_cidr_contains(&p->underlay_net, (struct sy_addr[]){ sy_addr_from_in4(ip) });
	if (p->conf.backend == PODNET_BACKEND_HOST_GW || (p->conf.direct_routing && onlink)) {
		if (!onlink) {
			snprintf(why, len, "%s is not on-link from %s/%u: host-gw needs the nodes "
				 "on one L2 network, no route added", sy_ip4_str(ip),
				 sy_addr_str(&p->underlay_net.addr), p->underlay_net.plen);
			return;
		}
		pr->e[0] = (struct pn_entry){ .type = PN_ROUTE, .dst = pr->subnet,
					      .gw = sy_addr_from_in4(ip),
					      .ifindex = p->underlay_ifindex };
		pr->n = 1;
		pr->valid = true;
		/* host-gw, or a DirectRouting peer: IPv6 direct as well (when its
		 * IPv6 address is not on-link, through vx6_name if both have it) */
		if (p->ready6)
			peer_compute6(p, n, old, pr, p->conf.backend == PODNET_BACKEND_VXLAN &&
				      peer_has_vx6(p, n), false);
		return;
	}
	/* vxlan: VtepMAC from backend-data (wins), else derived from the IP. */
	s = ann(n, "backend-data");
	free(pr->bd_raw);
	pr->bd_raw = NULL;
	pr->bd_has_mac = false;
	if (s) {
		pr->bd_raw = xstrdup(s);
		if (old && old->bd_raw && strcmp(old->bd_raw, s) == 0) {
			pr->bd_has_mac = old->bd_has_mac;
			memcpy(pr->bd_mac, old->bd_mac, 6);
		} else {
			uint32_t vni;
			bool has_vni;

			if (podnet_parse_backend_data(s, &vni, &has_vni, pr->bd_mac,
						      &pr->bd_has_mac) < 0) {
				snprintf(why, len, "backend-data \"%s\" is not valid", s);
				return;
			}
		}
	}
	if (pr->bd_has_mac)
		memcpy(pr->mac, pr->bd_mac, 6);
	else
		podnet_vtep_mac(ip, pr->mac);
	pr->e[0] = (struct pn_entry){ .type = PN_ROUTE, .dst = pr->subnet, .gw = pr->subnet.addr,
				      .ifindex = p->vx_ifindex, .onlink = true };
	pr->e[1] = (struct pn_entry){ .type = PN_NEIGH, .dst = { pr->subnet.addr, 32, { 0 } },
				      .ifindex = p->vx_ifindex };
	memcpy(pr->e[1].mac, pr->mac, 6);
	pr->e[2] = (struct pn_entry){ .type = PN_FDB, .gw = sy_addr_from_in4(ip),
				      .ifindex = p->vx_ifindex };
	memcpy(pr->e[2].mac, pr->mac, 6);
	pr->n = 3;
	pr->valid = true;
	if (p->ready6)
		peer_compute6(p, n, old, pr, true, false);
}

static bool entry_in(const struct pn_entry *e, const struct pn_entry *set, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (pn_entry_equal(e, &set[i]))
			return true;
	return false;
}

static int apply(struct podnet *p, const struct pn_entry *e, bool add, const char *peer)
{
	char s[160];
	int r = add ? pn_nl_entry_add(p->sk, e) : pn_nl_entry_del(p->sk, e);

	if (log_verbosity >= 4 || r < 0)
		pn_entry_str(e, s, sizeof(s));
	if (r < 0)
		return sync_fail(p, r, "peer %s: %s %s: %s", peer, add ? "adding" : "deleting", s,
			    strerror(-r));
	log_v(4, "pod network: peer %s: %s %s", peer, add ? "added" : "deleted", s);
	return r;
}

/*
 * Incremental, in two phases so that a subnet moving between peers in one
 * sync is deleted before it is added: first every peer's entries that go
 * away, then every peer's new ones.
 */
/*
 * want rewrites the kernel's have in place (same key): not a route moving
 * to another device, which is deleted first (the kernel refuses to replace
 * an onlink IPv6 route whose gateway resolves through the old device, as
 * when a peer moves between the IPv4 and the IPv6 vxlan device).
 */
static bool rewrites(const struct pn_entry *want, const struct pn_entry *have)
{
	return want->type != PN_ROUTE || want->ifindex == have->ifindex;
}

static bool same_key_in(const struct pn_entry *e, const struct pn_entry *set, unsigned n)
{
	char k1[64], k2[64];
	unsigned j;

	pn_entry_key(e, k1, sizeof(k1));
	for (j = 0; j < n; j++) {
		pn_entry_key(&set[j], k2, sizeof(k2));
		if (strcmp(k1, k2) == 0)
			return rewrites(&set[j], e);
	}
	return false;
}

/*
 * add: program the entries of newe that olde lacks.  !add: remove the
 * entries of olde that newe lacks, except those the add rewrites in place
 * (same key, NLM_F_REPLACE: no window without a route).  The first error.
 */
static int peer_apply(struct podnet *p, const char *name, bool add, const struct pn_entry *olde,
		      unsigned oldn, const struct pn_entry *newe, unsigned newn)
{
	const struct pn_entry *from = add ? newe : olde, *to = add ? olde : newe;
	unsigned n = add ? newn : oldn, ton = add ? oldn : newn;
	int r, ret = 0;

	for (unsigned i = 0; i < n; i++) {
		if (entry_in(&from[i], to, ton) || (!add && same_key_in(&from[i], to, ton)))
			continue;
		r = apply(p, &from[i], add, name);
		if (r < 0 && !ret)
			ret = r;
	}
	return ret;
}

static int peer_del(struct podnet *p, const char *name, const struct pn_entry *olde,
		    unsigned oldn, const struct pn_entry *newe, unsigned newn)
{
	return peer_apply(p, name, false, olde, oldn, newe, newn);
}

static int peer_add(struct podnet *p, const char *name, const struct pn_entry *olde,
		    unsigned oldn, const struct pn_entry *newe, unsigned newn)
{
	return peer_apply(p, name, true, olde, oldn, newe, newn);
}

struct full_ctx {
	struct podnet *p;
	struct hmap want;		/* key → const struct pn_entry * (with owner) */
	struct hmap seen;		/* key → (void *)1 */
	char **keys;
	unsigned n_keys, cap_keys;
	struct full_want {		/* the valid peers' entries, in f.want too */
		const struct pn_entry *e;
		const char *peer, *key;
	} *wants;
	unsigned n_wants, cap_wants;
	int ret;
	unsigned added, removed;
};

static char *keep_key(struct full_ctx *f, const char *k)
{
	f->keys = sy_grow(f->keys, f->n_keys, &f->cap_keys, sizeof(*f->keys), 256);
	return f->keys[f->n_keys++] = xstrdup(k);
}

static void full_kernel_cb(void *arg, const struct pn_entry *e)
{
	struct full_ctx *f = arg;
	const struct pn_entry *w;
	char key[64];
	int r;

	pn_entry_key(e, key, sizeof(key));
	w = hmap_get(&f->want, key);
	if (w && pn_entry_equal(w, e)) {
		hmap_put(&f->seen, keep_key(f, key), (void *)1);
		return;
	}
	if (w && rewrites(w, e))
		return;		/* rewritten in place by the add below */
	r = apply(f->p, e, false, "(stale)");
	if (r < 0 && !f->ret)
		f->ret = r;
	else if (r == 0)
		f->removed++;
}

/* Full: make the kernel hold exactly the entries of the valid peers. */
static int full_reconcile(struct podnet *p)
{
	struct full_ctx f = { .p = p };
	struct hmap_iter it;
	const char *name;
	void *v;
	unsigned i;
	int r;

	hmap_init(&f.want);
	hmap_init(&f.seen);
	hmap_iter_init(&it, &p->peers);
	while (hmap_iter_next(&it, &name, &v)) {
		struct pn_peer *pr = v;
		char key[64];

		for (i = 0; i < pr->n; i++) {
			pn_entry_key(&pr->e[i], key, sizeof(key));
			f.wants = sy_grow(f.wants, f.n_wants, &f.cap_wants, sizeof(*f.wants), 256);
			f.wants[f.n_wants] = (struct full_want){ &pr->e[i], pr->name,
								 keep_key(&f, key) };
			hmap_put(&f.want, f.wants[f.n_wants++].key, &pr->e[i]);
		}
	}
	r = pn_nl_dump_devs(p->sk, (const int[]){ p->vx_ifindex, p->vx6_ifindex }, 2,
			    full_kernel_cb, &f);
	if (r < 0) {
		f.ret = sync_fail(p, r, "reading routes/neighbours: %s", strerror(-r));
		goto out;
	}
	for (i = 0; i < f.n_wants; i++) {
		if (hmap_get(&f.seen, f.wants[i].key))
			continue;
		r = apply(p, f.wants[i].e, true, f.wants[i].peer);
		if (r < 0 && !f.ret)
			f.ret = r;
		else if (r == 0)
			f.added++;
	}
	if (f.added || f.removed)
		sy_report(&p->report, 'I', "pod network: full sync repaired %u entries, removed %u",
			  f.added, f.removed);
out:
	for (i = 0; i < f.n_keys; i++)
		free(f.keys[i]);
	free(f.keys);
	free(f.wants);
	hmap_clear(&f.want);
	hmap_clear(&f.seen);
	return f.ret;
}

static int sync_nodes(struct podnet *p, const struct cache *c, bool full)
{
	const struct node *own = cache_node(c, p->node_name);
	struct hmap_iter it;
	const char *name;
	void *v;
	bool local_changed;
	int r, ret = 0;
	char why[320];
	struct hmap owners;
	char (*keys)[12];
	size_t nkeys, k, n_pending;
	struct pn_peer **pending;

	if (p->need_full)
		full = true;
	r = local_setup(p, own, full, &local_changed);
	if (r <= 0) {
		if (r < 0)
			p->need_full = true;
		return r;
	}
	if (local_changed)
		full = true;
	p->gen++;
	/* Two Nodes with one podCIDR: the smallest name keeps it (deterministic). */
	nkeys = hmap_count(cache_nodes(c));
	keys = xcalloc(nkeys ? nkeys : 1, sizeof(*keys));
	pending = xcalloc(nkeys ? nkeys : 1, sizeof(*pending));
	n_pending = 0;
	hmap_init(&owners);
	hmap_iter_init(&it, cache_nodes(c));
	for (k = 0; hmap_iter_next(&it, &name, &v) && k < nkeys; k++) {
		const struct node *n = v;
		const char *cur;

		if (!n->has_pod_cidr || strcmp(n->name, p->node_name) == 0)
			continue;
		cidr_key(&n->pod_cidr, keys[k]);
		cur = hmap_get(&owners, keys[k]);
		if (!cur || strcmp(n->name, cur) < 0)
			hmap_put(&owners, keys[k], (void *)n->name);
	}
	hmap_iter_init(&it, cache_nodes(c));
	while (hmap_iter_next(&it, &name, &v)) {
		const struct node *n = v;
		struct pn_peer *old, tmp = { 0 };
		const char *owner = NULL;
		char key[12];

		if (strcmp(n->name, p->node_name) == 0)
			continue;
		old = hmap_get(&p->peers, n->name);
		if (n->has_pod_cidr) {
			cidr_key(&n->pod_cidr, key);
			owner = hmap_get(&owners, key);
		}
		peer_compute(p, n, owner, old, &tmp, why, sizeof(why));
		if (!tmp.valid) {
			tmp.n = 0;
			if (!old || set_why(&old->why, why) || !old->why) {
				if (!strcmp(why, "has no podCIDR yet"))
					log_v(2, "pod network: node %s %s", n->name, why);
				else
					sy_report(&p->report, 'E', "pod network: node %s: %s; "
						  "ignored", n->name, why);
			}
		}
		if (!old) {
			old = xcalloc(1, sizeof(*old));
			old->name = xstrdup(n->name);
			old->why = tmp.valid ? NULL : xstrdup(why);
			hmap_put(&p->peers, old->name, old);
			r = 0;
			if (!full && tmp.n) {
				old->prev_n = 0;
				pending[n_pending++] = old;
			}
			if (tmp.valid)
				sy_report(&p->report, 'I', "pod network: peer %s subnet %s/%u via "
					  "%s%s", n->name, sy_addr_str(&tmp.subnet.addr),
					  tmp.subnet.plen, peer_via(p, &tmp),
					  tmp.n >= 3 ? " (vxlan)" : "");
		} else {
			bool same = old->n == tmp.n;
			unsigned i;

			for (i = 0; same && i < tmp.n; i++)
				same = pn_entry_equal(&old->e[i], &tmp.e[i]);
			r = 0;
			if (!same && !full) {
				r = peer_del(p, old->name, old->e, old->n, tmp.e, tmp.n);
				memcpy(old->prev, old->e, sizeof(old->e));
				old->prev_n = old->n;
				pending[n_pending++] = old;
			}
			if (!same && tmp.valid)
				sy_report(&p->report, 'I', "pod network: peer %s changed: subnet "
					  "%s/%u via %s", n->name, sy_addr_str(&tmp.subnet.addr),
					  tmp.subnet.plen, peer_via(p, &tmp));
			if (tmp.valid)
				set_why(&old->why, NULL);
		}
		if (r < 0) {
			p->need_full = true;
			if (!ret)
				ret = r;
		}
		old->valid = tmp.valid;
		free(old->why6);
		old->why6 = tmp.why6;
		old->subnet = tmp.subnet;
		old->ip = tmp.ip;
		memcpy(old->mac, tmp.mac, 6);
		memcpy(old->e, tmp.e, sizeof(tmp.e));
		old->n = tmp.n;
		free(old->bd_raw);
		old->bd_raw = tmp.bd_raw;
		old->bd_has_mac = tmp.bd_has_mac;
		memcpy(old->bd_mac, tmp.bd_mac, 6);
		old->gen = p->gen;
	}
	/* Peers gone from the cache. */
	hmap_iter_init(&it, &p->peers);
	while (hmap_iter_next(&it, &name, &v)) {
		struct pn_peer *pr = v;

		if (pr->gen == p->gen)
			continue;
		sy_report(&p->report, 'I', "pod network: peer %s left", pr->name);
		if (!full && pr->n) {
			r = peer_del(p, pr->name, pr->e, pr->n, NULL, 0);
			if (r < 0) {
				p->need_full = true;
				if (!ret)
					ret = r;
			}
		}
		hmap_del(&p->peers, pr->name);
		peer_free(pr);
	}
	for (k = 0; k < n_pending; k++) {
		struct pn_peer *pr = pending[k];

		r = peer_add(p, pr->name, pr->prev, pr->prev_n, pr->e, pr->n);
		if (r < 0) {
			p->need_full = true;
			if (!ret)
				ret = r;
		}
	}
	free(pending);
	hmap_clear(&owners);
	free(keys);
	if (full) {
		p->need_full = false;
		r = full_reconcile(p);
		if (r < 0) {
			p->need_full = true;
			if (!ret)
				ret = r;
		}
	}
	return ret;
}

int podnet_sync(struct podnet *p, const struct cache *c, bool full, char *err, size_t errlen)
{
	p->errs = (struct pn_errs){ .n = 0 };
	return errs_out(&p->errs, sync_nodes(p, c, full), err, errlen);
}

/* a dump's routes into the struct sy_vec at arg */
static void collect_route(void *arg, const struct pn_entry *e)
{
	sy_vec_push(arg, e, sizeof(*e), 64);
}

/*
 * unlink() a file that may not exist: 0 when it is gone or never was.  On a
 * read-only file system unlink() answers EROFS before it looks the name up,
 * so a missing file there is "nothing to remove"; an existing one that
 * cannot go is an error.
 */
static int remove_file(const char *path, struct pn_errs *e)
{
	struct stat st;
	int err;

	if (unlink(path) == 0 || errno == ENOENT)
		return 0;
	err = errno;
	if (lstat(path, &st) < 0 && errno == ENOENT)
		return 0;
	return errs_add(e, -err, "removing %s: %s", path, strerror(err));
}

int podnet_cleanup(const struct sy_config *cfg, char *err, size_t errlen)
{
	struct nl_sock *sk = NULL;
	struct pn_entry *routes = NULL;
	unsigned n = 0, i;
	char **names = NULL;
	unsigned nn = 0;
	char path[4096], s[160];
	struct pn_errs e = { .n = 0 };
	int r, ret = 0;

	r = pn_nl_open(&sk);
	if (r < 0)
		return errs_out(&e, errs_add(&e, r, "rtnetlink: %s", strerror(-r)), err, errlen);
	/* Routes first (devices take theirs with them; underlay routes do not). */
	{
		struct sy_vec rl = { 0 };

		r = pn_nl_dump(sk, 0, collect_route, &rl);
		routes = rl.v;
		n = rl.n;
	}
	if (r < 0)
		ret = errs_add(&e, r, "reading routes: %s", strerror(-r));
	for (i = 0; i < n; i++) {
		r = pn_nl_entry_del(sk, &routes[i]);
		if (r < 0) {
			pn_entry_str(&routes[i], s, sizeof(s));
			r = errs_add(&e, r, "deleting %s: %s", s, strerror(-r));
			ret = ret ? ret : r;
		}
	}
	free(routes);
	for (unsigned f = 0; f < 2; f++) {
		const char *prefix = f ? PODNET_VXLAN6_PREFIX : PODNET_VXLAN_PREFIX;

		r = pn_nl_links_with_prefix(sk, prefix, &names, &nn);
		if (r < 0) {
			r = errs_add(&e, r, "listing %s* devices: %s", prefix, strerror(-r));
			ret = ret ? ret : r;
			nn = 0;
		}
		for (i = 0; i < nn; i++) {
			r = pn_nl_link_del(sk, names[i]);
			if (r < 0) {
				r = errs_add(&e, r, "deleting device %s: %s", names[i],
					     strerror(-r));
				ret = ret ? ret : r;
			}
			free(names[i]);
		}
		free(names);
		names = NULL;
	}
	pn_nl_close(sk);
	r = remove_file(cfg->subnet_file ? cfg->subnet_file : "/run/switchyard/subnet.env", &e);
	ret = ret ? ret : r;
	snprintf(path, sizeof(path), "%s/%s", cfg->cni_conf_dir ? cfg->cni_conf_dir :
		 "/etc/cni/net.d", PODNET_CNI_FILE);
	r = remove_file(path, &e);
	ret = ret ? ret : r;
	for (unsigned f = 0; f < 2; f++) {
		r = podnet_ipt_remove(f ? AF_INET6 : AF_INET);
		if (r < 0) {
			r = errs_add(&e, r, "%s chains %s/%s: %s", f ? "ip6tables" : "iptables",
				     PODNET_MASQ_CHAIN, PODNET_FWD_CHAIN, strerror(-r));
			ret = ret ? ret : r;
		}
	}
	return errs_out(&e, ret, err, errlen);
}
