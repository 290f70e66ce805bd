// SPDX-License-Identifier: Apache-2.0
/*
 * The IPVS mode's planner (pure: no kernel, no I/O): what one desired
 * Service port contributes — virtual servers with their real servers,
 * addresses for kube-ipvs0, ipset entries — kept in refcounted maps, and
 * which keys a sync touched, so the writers in ipvs.c compare only those
 * with the kernel.  See ipvs_plan.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/ip_vs.h>
#include "switchyard/desired.h"
#include "switchyard/hmap.h"
#include "switchyard/util.h"
#include "ipvs_int.h"
#include "ipvs_plan.h"

/* ---- helpers ---- */

void ipvs_touch(struct hmap *t, const char *key)
{
	if (!hmap_get(t, key)) {
		char *k = xstrdup(key);

		hmap_put(t, k, k);
	}
}

void ipvs_keys_free(struct hmap *m)
{
	hmap_clear_free(m, free);
}

static void vs_item_free(void *p)
{
	struct vs_item *v = p;

	if (!v)
		return;
	sy_free_all(v->key, v->dests, v);
}

static void clear_vs(struct hmap *m)
{
	hmap_clear_free(m, vs_item_free);
}

static void cnt_item_free(void *p)
{
	struct cnt_item *c = p;

	sy_free_all(c->key, c);
}

static void clear_cnt(struct hmap *m)
{
	hmap_clear_free(m, cnt_item_free);
}

const char *ipvs_proto_name(uint8_t p)
{
	return p == IPPROTO_TCP ? "tcp" : p == IPPROTO_UDP ? "udp" : p == IPPROTO_SCTP ? "sctp" : "?";
}

void ipvs_addr_str(const struct sy_addr *a, char *buf)
{
	sy_addr_format(a, buf, SY_ADDR_STRLEN);
}

/* ---- desired contributions of one ds_port --------------------------------- */

#define IPVS_ENTRY_MAX 160

static void cnt_delta(struct hmap *m, struct hmap *t, const char *key, int delta)
{
	struct cnt_item *c = hmap_get(m, key);

	ipvs_touch(t, key);
	if (delta > 0) {
		if (c) {
			c->refs++;
			return;
		}
		c = xcalloc(1, sizeof(*c));
		c->key = xstrdup(key);
		c->refs = 1;
		hmap_put(m, c->key, c);
		return;
	}
	if (!c)
		return;
	if (--c->refs == 0) {
		hmap_del(m, key);
		sy_free_all(c->key, c);
	}
}

static void set_delta(struct ipvs_plan *m, enum ipvs_set_id id, const char *entry, int delta)
{
	char key[300];

	snprintf(key, sizeof(key), "%d|%s", (int)id, entry);
	cnt_delta(&m->want_set, &m->t_set, key, delta);
}

static void addr_delta(struct ipvs_plan *m, const struct sy_addr *a, int delta)
{
	char s[SY_ADDR_STRLEN];

	ipvs_addr_str(a, s);
	cnt_delta(&m->want_addr, &m->t_addr, s, delta);
}

/* fallback: an eTP=Local address served by the cluster endpoints because
 * none is local (listed in SY-NO-LOCAL-ENDPOINTS) */
static void vs_delta(struct ipvs_plan *m, const struct ds_port *p, const struct sy_addr *addr,
		     uint16_t port, const struct ds_ep *eps, unsigned n, bool fallback, int delta)
{
	struct ipvs_svc s = { 0 };
	struct vs_item *v;
	char key[IPVS_KEY_MAX], a[SY_ADDR_STRLEN], e[SY_ADDR_STRLEN], entry[IPVS_ENTRY_MAX];
	unsigned k;

	s.proto = p->proto;
	s.addr = *addr;
	s.port = port;
	snprintf(s.sched, sizeof(s.sched), "%s", m->sched);
	if (p->affinity_timeout) {
		s.flags = IP_VS_SVC_F_PERSISTENT;
		s.timeout = p->affinity_timeout;
	}
	ipvs_svc_key(&s, key, sizeof(key));
	ipvs_touch(&m->t_vs, key);
	ipvs_addr_str(addr, a);

	/* hairpin: a pod on this node reaching itself through the Service
	 * (as kube-proxy: only local endpoints can loop back, so remote ones
	 * cost no set entry) */
	for (unsigned i = 0; i < n; i++) {
		if (!eps[i].local || eps[i].addr.family != m->family)
			continue;
		ipvs_addr_str(&eps[i].addr, e);
		snprintf(entry, sizeof(entry), "%s,%s:%u,%s", e, ipvs_proto_name(p->proto), eps[i].port, e);
		set_delta(m, IPVS_SET_LOOP_BACK, entry, delta);
	}
	if (!n || fallback) {
		/* nothing to balance to (no endpoint at all, or iTP=Local and none
		 * on this node): REJECT, refused at once as the kernel would refuse
		 * a virtual server without real servers.  A fallback address: pods
		 * only (ipvs_ipt.c) */
		snprintf(entry, sizeof(entry), "%s,%s:%u", a, ipvs_proto_name(p->proto), port);
		set_delta(m, n ? IPVS_SET_NO_LOCAL_ENDPOINTS : IPVS_SET_NO_ENDPOINTS, entry, delta);
	}

	v = hmap_get(&m->want_vs, key);
	if (delta < 0) {
		if (v && --v->refs == 0) {
			hmap_del(&m->want_vs, key);
			vs_item_free(v);
		}
		return;
	}
	if (v) {
		/* two ports claim one address:port (a misconfiguration): last wins */
		v->refs++;
		free(v->dests);
	} else {
		v = xcalloc(1, sizeof(*v));
		v->key = xstrdup(key);
		v->refs = 1;
		hmap_put(&m->want_vs, v->key, v);
	}
	v->svc = s;
	v->dests = n ? xcalloc(n, sizeof(*v->dests)) : NULL;
	for (unsigned i = k = 0; i < n; i++) {
		if (eps[i].addr.family != m->family)
			continue;	/* never a real server of the other family */
		v->dests[k].addr = eps[i].addr;
		v->dests[k].port = eps[i].port;
		v->dests[k].fwd = IP_VS_CONN_F_MASQ;
		v->dests[k].weight = 1;
		k++;
	}
	v->n_dests = k;
}

/*
 * A Service address bound on kube-ipvs0 (ClusterIP, externalIP, LB IP): its
 * virtual server over eps, the address itself, and its "ip,proto:port"
 * entry in set id.  The entry is left in entry for the caller's other sets.
 */
static void svc_ip_delta(struct ipvs_plan *m, const struct ds_port *p, const struct sy_addr *addr,
			 const struct ds_ep *eps, unsigned n, bool fallback, enum ipvs_set_id id,
			 int delta, char entry[IPVS_ENTRY_MAX])
{
	char a[SY_ADDR_STRLEN];

	vs_delta(m, p, addr, p->port, eps, n, fallback, delta);
	addr_delta(m, addr, delta);
	ipvs_addr_str(addr, a);
	snprintf(entry, IPVS_ENTRY_MAX, "%s,%s:%u", a, ipvs_proto_name(p->proto), p->port);
	set_delta(m, id, entry, delta);
}

void ipvs_plan_port(struct ipvs_plan *m, const struct desired_state *ds,
		    const struct ds_port *p, int delta)
{
	const struct ds_ep *ieps, *eeps;
	unsigned ni, ne;
	bool fb;
	char a[SY_ADDR_STRLEN], entry[IPVS_ENTRY_MAX];

	/* an instance programs its own family only: a port of the other one,
	 * or an address of the other family in this one's lists (an IPv4
	 * externalIP on an IPv6 Service), is skipped, never half-written
	 * (kube-proxy #97343, #73157) */
	if (p->family != m->family)
		return;
	ieps = ds_port_internal_eps(p, &ni);
	eeps = ds_port_external_eps(p, &ne);
	/* eTP=Local and no local endpoint: the cluster endpoints, for traffic
	 * from local pods (kube-proxy PR #97081); kube-proxy uses none when
	 * iTP is Local too */
	fb = p->etp_local && !ne && !p->itp_local && p->n_cluster_eps;
	if (fb) {
		eeps = p->cluster_eps;
		ne = p->n_cluster_eps;
	}

	if (p->cluster_ip.family == m->family)
		svc_ip_delta(m, p, &p->cluster_ip, ieps, ni, false, IPVS_SET_CLUSTER_IP, delta, entry);
	for (unsigned i = 0; i < p->n_external_ips; i++) {
		if (p->external_ips[i].family != m->family)
			continue;
		svc_ip_delta(m, p, &p->external_ips[i], eeps, ne, fb, IPVS_SET_EXTERNAL_IP, delta,
			     entry);
		if (p->etp_local)
			set_delta(m, IPVS_SET_EXTERNAL_IP_LOCAL, entry, delta);
	}
	for (unsigned i = 0; i < p->n_lb_ips; i++) {
		if (p->lb_ips[i].family != m->family)
			continue;
		svc_ip_delta(m, p, &p->lb_ips[i], eeps, ne, fb, IPVS_SET_LB, delta, entry);
		if (p->etp_local)
			set_delta(m, IPVS_SET_LB_LOCAL, entry, delta);
		if (p->n_lb_source_ranges)
			set_delta(m, IPVS_SET_LB_FW, entry, delta);
		for (unsigned k = 0; k < p->n_lb_source_ranges; k++) {
			const struct sy_cidr *sr = &p->lb_source_ranges[k];
			char c[SY_ADDR_STRLEN], e2[IPVS_ENTRY_MAX + SY_CIDR_STRLEN + 2];

			if (sr->addr.family != m->family)
				continue;
			ipvs_addr_str(&sr->addr, c);
			/* as "ipset save" prints it: a full-length prefix bare */
			if (sr->plen == sy_addr_bits(&sr->addr))
				snprintf(e2, sizeof(e2), "%s,%s", entry, c);
			else
				snprintf(e2, sizeof(e2), "%s,%s/%u", entry, c,
					 p->lb_source_ranges[k].plen);
			set_delta(m, IPVS_SET_LB_SOURCE_CIDR, e2, delta);
		}
	}
	if (p->node_port) {
		for (unsigned i = 0; i < ds->node.n_nodeport_addrs; i++) {
			const struct sy_addr *na = &ds->node.nodeport_addrs[i];

			if (na->family != m->family)
				continue;
			vs_delta(m, p, na, p->node_port, eeps, ne, fb, delta);
			if (p->proto == IPPROTO_SCTP) {
				ipvs_addr_str(na, a);
				snprintf(entry, sizeof(entry), "%s,sctp:%u", a, p->node_port);
				set_delta(m, IPVS_SET_NODE_PORT_SCTP, entry, delta);
				if (p->etp_local)
					set_delta(m, IPVS_SET_NODE_PORT_LOCAL_SCTP, entry, delta);
			}
		}
		snprintf(entry, sizeof(entry), "%u", p->node_port);
		if (p->proto == IPPROTO_TCP) {
			set_delta(m, IPVS_SET_NODE_PORT_TCP, entry, delta);
			if (p->etp_local)
				set_delta(m, IPVS_SET_NODE_PORT_LOCAL_TCP, entry, delta);
		} else if (p->proto == IPPROTO_UDP) {
			set_delta(m, IPVS_SET_NODE_PORT_UDP, entry, delta);
			if (p->etp_local)
				set_delta(m, IPVS_SET_NODE_PORT_LOCAL_UDP, entry, delta);
		}
	}
	if (p->hc_node_port) {
		snprintf(entry, sizeof(entry), "%u", p->hc_node_port);
		set_delta(m, IPVS_SET_HEALTH_CHECK_NODE_PORT, entry, delta);
	}
}

/* ---- real servers ---- */

bool ipvs_dest_same(const struct ipvs_dest *a, const struct ipvs_dest *b)
{
	return sy_addr_eq(&a->addr, &b->addr) && a->port == b->port;
}

enum ipvs_dest_op ipvs_plan_dest_wanted(const struct ipvs_dest *want, const struct ipvs_dest *have)
{
	if (!have)
		return IPVS_DEST_ADD;
	if (have->weight == want->weight && have->fwd == want->fwd)
		return IPVS_DEST_KEEP;
	return IPVS_DEST_EDIT;
}

enum ipvs_dest_op ipvs_plan_dest_unwanted(uint8_t proto, const struct ipvs_dest *have)
{
	if (proto != IPPROTO_TCP || have->active + have->inactive == 0)
		return IPVS_DEST_DEL;
	return have->weight != 0 ? IPVS_DEST_DRAIN : IPVS_DEST_WAIT;
}

bool ipvs_plan_drain_done(const struct ipvs_dest *have, double age)
{
	return have->weight == 0 && (have->active + have->inactive == 0 || age > IPVS_GRACE_MAX);
}

/* ---- the plan's life ---- */

void ipvs_plan_init(struct ipvs_plan *m, int family)
{
	*m = (struct ipvs_plan){ .family = family };	/* empty maps: zeroed (hmap_init) */
}

void ipvs_plan_clear(struct ipvs_plan *m)
{
	clear_vs(&m->want_vs);
	clear_cnt(&m->want_addr);
	clear_cnt(&m->want_set);
}

void ipvs_plan_untouch(struct ipvs_plan *m)
{
	ipvs_keys_free(&m->t_vs);
	ipvs_keys_free(&m->t_addr);
	ipvs_keys_free(&m->t_set);
}

void ipvs_plan_free(struct ipvs_plan *m)
{
	ipvs_plan_clear(m);
	ipvs_plan_untouch(m);
}
