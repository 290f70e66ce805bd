// SPDX-License-Identifier: Apache-2.0
/*
 * The IPVS mode's iptables rules through libiptc: a constant number of
 * rules in our own SY-IPVS-* chains, matching the ipsets (ipvs_set.c), so
 * their count does not grow with Services.  One handle and at most one
 * commit per table per call, under /run/xtables.lock; nothing is written
 * when the chains already hold exactly the wanted rules.
 * Both families: the IPv4 instance writes iptables (libip4tc) rules
 * matching the SY-* sets, the IPv6 one the same chains in ip6tables
 * (libip6tc) matching the SY-6-* sets.  Entries differ only in their
 * header (struct ipt_entry / ip6t_entry) and in the family's MASQUERADE
 * and REJECT target data; the fam_* helpers below hide that.
 * This file must not include libipset headers (they clash with libiptc's).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <stddef.h>
#include <libiptc/libiptc.h>
#include <libiptc/libip6tc.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/xt_addrtype.h>
#include <linux/netfilter/xt_conntrack.h>
#include <linux/netfilter/xt_mark.h>
#include <linux/netfilter/xt_set.h>
#include <linux/netfilter/ipset/ip_set.h>
#include <linux/netfilter_ipv4/ipt_REJECT.h>
#include <linux/netfilter_ipv6/ip6t_REJECT.h>
#include "switchyard/iptc.h"
#include "switchyard/util.h"
#include "ipvs_int.h"

#define C_SERVICES	"SY-IPVS-SERVICES"
#define C_POSTROUTING	"SY-IPVS-POSTROUTING"
#define C_MARK_MASQ	"SY-IPVS-MARK-MASQ"
#define C_NODE_PORT	"SY-IPVS-NODE-PORT"
#define C_LB		"SY-IPVS-LOAD-BALANCER"
#define C_EXTERNAL	"SY-IPVS-EXTERNAL"
#define C_FILTER	"SY-IPVS-FILTER"

#define MAX_RULES 32
#define RULE_BUF 1024

struct rule {
	unsigned char buf[RULE_BUF];
	size_t len;		/* bytes used: matches appended after the entry */
};

struct chain {
	int family;
	const char *name;
	struct rule rules[MAX_RULES];
	unsigned n;
};

struct jump {
	const char *from, *to;
};

struct table {
	int family;
	const char *name;
	struct chain chains[8];
	unsigned n_chains;
	const struct jump *jumps;
	unsigned n_jumps;
};

/* ---- the two families' entries and libiptc calls -------------------------- */

static bool is6(int family)
{
	return family == AF_INET6;
}

/* Bytes of the entry header before the matches. */
static size_t fam_hdr(int f)
{
	return is6(f) ? XT_ALIGN(sizeof(struct ip6t_entry)) : XT_ALIGN(sizeof(struct ipt_entry));
}

/* Bytes of the address/protocol part compared between entries. */
static size_t fam_ip_len(int f)
{
	return is6(f) ? sizeof(struct ip6t_ip6) : sizeof(struct ipt_ip);
}

static void fam_set_offsets(int f, void *e, size_t target_offset, size_t next_offset)
{
	if (is6(f)) {
		((struct ip6t_entry *)e)->target_offset = (uint16_t)target_offset;
		((struct ip6t_entry *)e)->next_offset = (uint16_t)next_offset;
	} else {
		((struct ipt_entry *)e)->target_offset = (uint16_t)target_offset;
		((struct ipt_entry *)e)->next_offset = (uint16_t)next_offset;
	}
}

static size_t fam_target_offset(int f, const void *e)
{
	return is6(f) ? ((const struct ip6t_entry *)e)->target_offset :
			((const struct ipt_entry *)e)->target_offset;
}

static size_t fam_next_offset(int f, const void *e)
{
	return is6(f) ? ((const struct ip6t_entry *)e)->next_offset :
			((const struct ipt_entry *)e)->next_offset;
}

/* -p proto */
static void fam_set_proto(int f, void *e, uint8_t proto)
{
	if (is6(f)) {
		((struct ip6t_entry *)e)->ipv6.proto = proto;
		((struct ip6t_entry *)e)->ipv6.flags |= IP6T_F_PROTO;
	} else {
		((struct ipt_entry *)e)->ip.proto = proto;
	}
}

/* [!] -s cidr */
static void fam_set_src(int f, void *e, const struct sy_cidr *c, bool invert)
{
	if (is6(f)) {
		struct ip6t_entry *e6 = e;

		e6->ipv6.src = c->addr.v6;
		memset(&e6->ipv6.smsk, 0, sizeof(e6->ipv6.smsk));
		for (unsigned i = 0; i < c->plen; i++)
			e6->ipv6.smsk.s6_addr[i / 8] |= (uint8_t)(0x80 >> (i % 8));
		if (invert)
			e6->ipv6.invflags |= IP6T_INV_SRCIP;
	} else {
		struct ipt_entry *e4 = e;

		e4->ip.src = c->addr.v4;
		e4->ip.smsk.s_addr = c->plen ? htonl(~0u << (32 - c->plen)) : 0;
		if (invert)
			e4->ip.invflags |= IPT_INV_SRCIP;
	}
}

static const void *tc_first(int f, const char *chain, struct xtc_handle *h)
{
	return is6(f) ? (const void *)ip6tc_first_rule(chain, h) : (const void *)iptc_first_rule(chain, h);
}

static const void *tc_next(int f, const void *e, struct xtc_handle *h)
{
	return is6(f) ? (const void *)ip6tc_next_rule(e, h) : (const void *)iptc_next_rule(e, h);
}

static const char *tc_target(int f, const void *e, struct xtc_handle *h)
{
	return is6(f) ? ip6tc_get_target(e, h) : iptc_get_target(e, h);
}

static bool tc_is_chain(int f, const char *chain, struct xtc_handle *h)
{
	return is6(f) ? ip6tc_is_chain(chain, h) : iptc_is_chain(chain, h);
}

static bool tc_create_chain(int f, const char *chain, struct xtc_handle *h)
{
	return is6(f) ? ip6tc_create_chain(chain, h) : iptc_create_chain(chain, h);
}

static bool tc_flush(int f, const char *chain, struct xtc_handle *h)
{
	return is6(f) ? ip6tc_flush_entries(chain, h) : iptc_flush_entries(chain, h);
}

static bool tc_delete_chain(int f, const char *chain, struct xtc_handle *h)
{
	return is6(f) ? ip6tc_delete_chain(chain, h) : iptc_delete_chain(chain, h);
}

static bool tc_append(int f, const char *chain, const void *e, struct xtc_handle *h)
{
	return is6(f) ? ip6tc_append_entry(chain, e, h) : iptc_append_entry(chain, e, h);
}

static bool tc_insert(int f, const char *chain, const void *e, unsigned pos, struct xtc_handle *h)
{
	return is6(f) ? ip6tc_insert_entry(chain, e, pos, h) : iptc_insert_entry(chain, e, pos, h);
}

static bool tc_delete_num(int f, const char *chain, unsigned pos, struct xtc_handle *h)
{
	return is6(f) ? ip6tc_delete_num_entry(chain, pos, h) : iptc_delete_num_entry(chain, pos, h);
}

static const char *tc_strerror(int f, int err)
{
	return is6(f) ? ip6tc_strerror(err) : iptc_strerror(err);
}

/* ---- building entries ------------------------------------------------------ */

/* A new rule of chain c: its entry header (struct ipt_entry / ip6t_entry). */
static void *rule_new(struct chain *c)
{
	struct rule *r = &c->rules[c->n++];

	memset(r, 0, sizeof(*r));
	r->len = fam_hdr(c->family);
	return r->buf;
}

static struct rule *cur(struct chain *c)
{
	return &c->rules[c->n - 1];
}

static void *add_match(struct chain *c, const char *name, uint8_t rev, size_t size)
{
	struct rule *r = cur(c);
	size_t total = XT_ALIGN(sizeof(struct xt_entry_match)) + XT_ALIGN(size);
	struct xt_entry_match *m = (struct xt_entry_match *)(r->buf + r->len);

	m->u.user.match_size = total;
	snprintf(m->u.user.name, sizeof(m->u.user.name), "%s", name);
	m->u.user.revision = rev;
	r->len += total;
	return m->data;
}

static void *set_target(struct chain *c, const char *name, uint8_t rev, size_t size)
{
	struct rule *r = cur(c);
	size_t total = XT_ALIGN(sizeof(struct xt_entry_target)) + XT_ALIGN(size);
	struct xt_entry_target *t = (struct xt_entry_target *)(r->buf + r->len);
	size_t toff = r->len;

	t->u.user.target_size = total;
	snprintf(t->u.user.name, sizeof(t->u.user.name), "%s", name);
	t->u.user.revision = rev;
	r->len += total;
	fam_set_offsets(c->family, r->buf, toff, r->len);
	return t->data;
}

/* A jump to a chain or a standard verdict (ACCEPT/DROP/RETURN). */
static void jump(struct chain *c, const char *to)
{
	set_target(c, to, 0, sizeof(int));
}

static int set_index(const char *name, uint16_t *ret)
{
	struct ip_set_req_version rv = { .op = IP_SET_OP_VERSION };
	struct ip_set_req_get_set req = { .op = IP_SET_OP_GET_BYNAME };
	socklen_t len = sizeof(rv);
	int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW), r = 0;

	if (fd < 0)
		return -errno;
	if (getsockopt(fd, SOL_IP, SO_IP_SET, &rv, &len) < 0) {
		r = -errno;
		goto out;
	}
	req.version = rv.version;
	snprintf(req.set.name, sizeof(req.set.name), "%s", name);
	len = sizeof(req);
	if (getsockopt(fd, SOL_IP, SO_IP_SET, &req, &len) < 0) {
		r = -errno;
		goto out;
	}
	if (req.set.index == IPSET_INVALID_ID)
		r = -ENOENT;
	else
		*ret = req.set.index;
out:
	close(fd);
	return r;
}

/* -m set [!] --match-set NAME dir,dir,...  (dirs: "ds" letters, e.g. "dds") */
static int match_set(struct chain *c, enum ipvs_set_id id, const char *dirs, bool invert)
{
	struct xt_set_info_match_v4 *m;
	uint16_t idx = 0;
	int r = set_index(ipvs_set_name(c->family, id), &idx);

	if (r < 0)
		return r;
	/* revision 4: the one iptables 1.8 itself writes and prints */
	m = add_match(c, "set", 4, sizeof(*m));
	m->match_set.index = idx;
	m->match_set.dim = strlen(dirs);
	for (unsigned i = 0; dirs[i]; i++)
		if (dirs[i] == 's')
			m->match_set.flags |= 1 << (i + 1);
	if (invert)
		m->match_set.flags |= IPSET_INV_MATCH;
	return 0;
}

static void match_addrtype_dst_local(struct chain *c)
{
	struct xt_addrtype_info_v1 *a = add_match(c, "addrtype", 1, sizeof(*a));

	a->dest = XT_ADDRTYPE_LOCAL;
}

static void match_addrtype_src_local(struct chain *c)
{
	struct xt_addrtype_info_v1 *a = add_match(c, "addrtype", 1, sizeof(*a));

	a->source = XT_ADDRTYPE_LOCAL;
}


static void match_ctstate_new(struct chain *c)
{
	struct xt_conntrack_mtinfo3 *m = add_match(c, "conntrack", 3, sizeof(*m));

	m->match_flags = XT_CONNTRACK_STATE;
	m->state_mask = XT_CONNTRACK_STATE_BIT(IP_CT_NEW);
}

static void match_mark(struct chain *c, uint32_t mark, bool invert)
{
	struct xt_mark_mtinfo1 *m = add_match(c, "mark", 1, sizeof(*m));

	m->mark = mark;
	m->mask = mark;
	m->invert = invert;
}

static void target_mark(struct chain *c, uint32_t mark, uint32_t mask)
{
	struct xt_mark_tginfo2 *t = set_target(c, "MARK", 2, sizeof(*t));

	t->mark = mark;
	t->mask = mask;
}

static void target_masquerade(struct chain *c, bool random_fully)
{
	if (is6(c->family)) {
		/* ip6tables' MASQUERADE revision 0: one struct nf_nat_range */
		struct nf_nat_range *t = set_target(c, "MASQUERADE", 0, sizeof(*t));

		if (random_fully)
			t->flags = NF_NAT_RANGE_PROTO_RANDOM_FULLY;
		return;
	}
	struct nf_nat_ipv4_multi_range_compat *t = set_target(c, "MASQUERADE", 0, sizeof(*t));

	t->rangesize = 1;
	if (random_fully)
		t->range[0].flags = NF_NAT_RANGE_PROTO_RANDOM_FULLY;
}

/* REJECT --reject-with icmp-port-unreachable / icmp6-port-unreachable */
static void target_reject(struct chain *c)
{
	if (is6(c->family)) {
		struct ip6t_reject_info *t = set_target(c, "REJECT", 0, sizeof(*t));

		t->with = IP6T_ICMP6_PORT_UNREACH;
		return;
	}
	struct ipt_reject_info *t = set_target(c, "REJECT", 0, sizeof(*t));

	t->with = IPT_ICMP_PORT_UNREACHABLE;
}

/* ---- the wanted rules ------------------------------------------------------ */

static const struct jump nat_jumps[] = {
	{ "PREROUTING", C_SERVICES },
	{ "OUTPUT", C_SERVICES },
	{ "POSTROUTING", C_POSTROUTING },
};
static const struct jump filter_jumps[] = {
	{ "INPUT", C_FILTER },
	{ "OUTPUT", C_FILTER },
};

static struct chain *add_chain(struct table *t, const char *name)
{
	struct chain *c = &t->chains[t->n_chains++];

	c->family = t->family;
	c->name = name;
	c->n = 0;
	return c;
}

#define TRY(x) do { int r_ = (x); if (r_ < 0) return r_; } while (0)

/* A rule: the packet's addresses (dirs) in set id → to. */
static int set_rule(struct chain *c, enum ipvs_set_id id, const char *dirs, const char *to)
{
	rule_new(c);
	TRY(match_set(c, id, dirs, false));
	jump(c, to);
	return 0;
}

/*
 * The chain of an external address kind (externalIPs, LB IPs): the node's
 * own connections are masqueraded even for a Local policy (their source is
 * the bound address itself, which a remote endpoint cannot answer;
 * kube-proxy's iptables mode does the same), a Local one (in set local)
 * returns, the rest is masqueraded.
 */
static int external_chain(struct table *t, const char *name, enum ipvs_set_id local)
{
	struct chain *c = add_chain(t, name);

	rule_new(c);
	match_addrtype_src_local(c);
	jump(c, C_MARK_MASQ);
	TRY(set_rule(c, local, "dd", "RETURN"));
	rule_new(c);
	jump(c, C_MARK_MASQ);
	return 0;
}

static int build_nat(struct table *t, const struct ipvs_ipt_params *p)
{
	struct chain *c;
	void *e;
	static const struct { uint8_t proto; enum ipvs_set_id local, all; const char *dirs; } np[] = {
		{ IPPROTO_TCP, IPVS_SET_NODE_PORT_LOCAL_TCP, IPVS_SET_NODE_PORT_TCP, "d" },
		{ IPPROTO_UDP, IPVS_SET_NODE_PORT_LOCAL_UDP, IPVS_SET_NODE_PORT_UDP, "d" },
		{ IPPROTO_SCTP, IPVS_SET_NODE_PORT_LOCAL_SCTP, IPVS_SET_NODE_PORT_SCTP, "dd" },
	};

	memset(t, 0, sizeof(*t));
	t->family = p->family;
	t->name = "nat";
	t->jumps = nat_jumps;
	t->n_jumps = ARRAY_SIZE(nat_jumps);

	c = add_chain(t, C_SERVICES);
	if (p->masquerade_all)
		TRY(set_rule(c, IPVS_SET_CLUSTER_IP, "dd", C_MARK_MASQ));
	for (unsigned i = 0; i < p->n_cluster_cidrs && !p->masquerade_all; i++) {
		/* traffic to a ClusterIP from outside the pod network */
		e = rule_new(c);
		fam_set_src(t->family, e, &p->cluster_cidrs[i], true);
		TRY(match_set(c, IPVS_SET_CLUSTER_IP, "dd", false));
		jump(c, C_MARK_MASQ);
	}
	if (!p->masquerade_all && !p->n_cluster_cidrs) {
		/* no pod network known: the node's own connections to a ClusterIP
		 * leave with the ClusterIP as source (it is bound on kube-ipvs0),
		 * which an endpoint on another node cannot answer (kube-proxy's
		 * "masquerade all OUTPUT traffic coming from a service ip") */
		TRY(set_rule(c, IPVS_SET_CLUSTER_IP, "sd", C_MARK_MASQ));
	}
	TRY(set_rule(c, IPVS_SET_CLUSTER_IP, "dd", "ACCEPT"));
	TRY(set_rule(c, IPVS_SET_LB, "dd", C_LB));
	TRY(set_rule(c, IPVS_SET_LB, "dd", "ACCEPT"));
	TRY(set_rule(c, IPVS_SET_EXTERNAL_IP, "dd", C_EXTERNAL));
	TRY(set_rule(c, IPVS_SET_EXTERNAL_IP, "dd", "ACCEPT"));
	rule_new(c);
	match_addrtype_dst_local(c);
	jump(c, C_NODE_PORT);

	TRY(external_chain(t, C_EXTERNAL, IPVS_SET_EXTERNAL_IP_LOCAL));
	TRY(external_chain(t, C_LB, IPVS_SET_LB_LOCAL));

	c = add_chain(t, C_NODE_PORT);
	for (unsigned i = 0; i < ARRAY_SIZE(np); i++) {
		e = rule_new(c);
		fam_set_proto(t->family, e, np[i].proto);
		TRY(match_set(c, np[i].local, np[i].dirs, false));
		jump(c, "RETURN");
		e = rule_new(c);
		fam_set_proto(t->family, e, np[i].proto);
		TRY(match_set(c, np[i].all, np[i].dirs, false));
		jump(c, C_MARK_MASQ);
	}

	c = add_chain(t, C_MARK_MASQ);
	rule_new(c);
	target_mark(c, p->mark, p->mark);	/* --or-mark */

	c = add_chain(t, C_POSTROUTING);
	rule_new(c);
	TRY(match_set(c, IPVS_SET_LOOP_BACK, "dds", false));	/* hairpin */
	target_masquerade(c, false);
	rule_new(c);
	match_mark(c, p->mark, true);
	jump(c, "RETURN");
	rule_new(c);
	target_mark(c, p->mark, 0);		/* --xor-mark: clear it */
	rule_new(c);
	target_masquerade(c, true);
	return 0;
}

static int build_filter(struct table *t, const struct ipvs_ipt_params *p)
{
	struct chain *c;
	void *e;

	memset(t, 0, sizeof(*t));
	t->family = p->family;
	t->name = "filter";
	t->jumps = filter_jumps;
	t->n_jumps = ARRAY_SIZE(filter_jumps);
	c = add_chain(t, C_FILTER);
	rule_new(c);
	match_ctstate_new(c);
	TRY(match_set(c, IPVS_SET_NO_ENDPOINTS, "dd", false));
	target_reject(c);
	rule_new(c);
	TRY(match_set(c, IPVS_SET_LB_FW, "dd", false));
	TRY(match_set(c, IPVS_SET_LB_SOURCE_CIDR, "dds", true));
	jump(c, "DROP");
	TRY(set_rule(c, IPVS_SET_HEALTH_CHECK_NODE_PORT, "d", "ACCEPT"));
	/* last: an eTP=Local address without a local endpoint is served by the
	 * cluster endpoints for pods (and the node); traffic from outside the
	 * pod network is dropped.  Without --cluster-cidr pods cannot be told
	 * apart, so nothing is dropped (kube-proxy's IPVS fallback). */
	if (!p->n_cluster_cidrs)
		return 0;
	for (unsigned i = 0; p->n_cluster_cidrs > 1 && i < p->n_cluster_cidrs; i++) {
		e = rule_new(c);
		fam_set_src(t->family, e, &p->cluster_cidrs[i], false);
		TRY(match_set(c, IPVS_SET_NO_LOCAL_ENDPOINTS, "dd", false));
		jump(c, "RETURN");
	}
	e = rule_new(c);
	if (p->n_cluster_cidrs == 1)
		fam_set_src(t->family, e, &p->cluster_cidrs[0], true);
	match_ctstate_new(c);
	TRY(match_set(c, IPVS_SET_NO_LOCAL_ENDPOINTS, "dd", false));
	jump(c, "DROP");
	return 0;
}

/* ---- applying ---------------------------------------------------------------- */

static bool is_standard(const char *t)
{
	return !*t || !strcmp(t, "ACCEPT") || !strcmp(t, "DROP") || !strcmp(t, "RETURN") ||
	       !strcmp(t, "QUEUE");
}

static bool rule_equal(int f, const void *have, const struct rule *want, const char *have_target,
		       struct xtc_handle *h)
{
	const void *w = want->buf;
	const char *hb = have, *wb = w;
	size_t toff = fam_target_offset(f, w);
	const struct xt_entry_target *ht, *wt;

	if (memcmp(have, w, fam_ip_len(f)) != 0 || fam_target_offset(f, have) != toff ||
	    fam_next_offset(f, have) != fam_next_offset(f, w))
		return false;
	/* matches: header (size, name, revision) and data */
	for (size_t off = fam_hdr(f); off < toff;) {
		const struct xt_entry_match *hm = (const void *)(hb + off);
		const struct xt_entry_match *wm = (const void *)(wb + off);

		if (hm->u.match_size != wm->u.match_size || !hm->u.match_size ||
		    strcmp(hm->u.user.name, wm->u.user.name) != 0 ||
		    hm->u.user.revision != wm->u.user.revision ||
		    memcmp(hm->data, wm->data, wm->u.match_size - sizeof(*wm)) != 0)
			return false;
		off += wm->u.match_size;
	}
	wt = (const void *)(wb + toff);
	if (strcmp(have_target, wt->u.user.name) != 0)
		return false;
	if (is_standard(wt->u.user.name) || tc_is_chain(f, wt->u.user.name, h))
		return true;
	ht = (const void *)(hb + toff);
	return ht->u.user.revision == wt->u.user.revision &&
	       memcmp(ht->data, wt->data, wt->u.target_size - sizeof(*wt)) == 0;
}

static bool chain_equal(struct xtc_handle *h, const struct chain *c)
{
	int f = c->family;
	const void *e;
	unsigned i = 0;

	for (e = tc_first(f, c->name, h); e; e = tc_next(f, e, h), i++)
		if (i >= c->n || !rule_equal(f, e, &c->rules[i], tc_target(f, e, h), h))
			return false;
	return i == c->n;
}

/* Delete every rule of chain from that jumps to to; 1 if any went, -errno. */
static int delete_jumps(int f, struct xtc_handle *h, const char *from, const char *to)
{
	const void *e;
	unsigned pos = 0;
	int changed = 0;

	for (e = tc_first(f, from, h); e;) {
		if (!strcmp(tc_target(f, e, h), to)) {
			if (!tc_delete_num(f, from, pos, h))
				return errno ? -errno : -EIO;
			changed = 1;
			e = tc_first(f, from, h);
			for (unsigned k = 0; k < pos && e; k++)
				e = tc_next(f, e, h);
			continue;
		}
		e = tc_next(f, e, h);
		pos++;
	}
	return changed;
}

/* Jumps from a builtin chain to ours: keep exactly one, first. */
static int fix_jump(int f, struct xtc_handle *h, const struct jump *j, bool *changed)
{
	const void *e;
	unsigned n = 0, pos = 0, first = ~0u;
	struct chain tmp = { .family = f, .name = j->from };
	int r;

	for (e = tc_first(f, j->from, h); e; e = tc_next(f, e, h), pos++) {
		if (!strcmp(tc_target(f, e, h), j->to)) {
			n++;
			if (first == ~0u)
				first = pos;
		}
	}
	if (n == 1 && first == 0)
		return 0;
	*changed = true;
	r = delete_jumps(f, h, j->from, j->to);
	if (r < 0)
		return r;
	rule_new(&tmp);
	jump(&tmp, j->to);
	if (!tc_insert(f, j->from, tmp.rules[0].buf, 0, h))
		return errno ? -errno : -EIO;
	return 0;
}

/* Make the handle hold t's chains and jumps; 1 if anything changed. */
static int apply_edit(struct xtc_handle *h, void *arg)
{
	const struct table *t = arg;
	int f = t->family;
	bool changed = false;
	int r = 0;

	for (unsigned i = 0; i < t->n_chains && r == 0; i++) {
		const struct chain *c = &t->chains[i];

		if (!tc_is_chain(f, c->name, h)) {
			if (!tc_create_chain(f, c->name, h))
				r = -errno;
			changed = true;
		}
	}
	for (unsigned i = 0; i < t->n_chains && r == 0; i++) {
		const struct chain *c = &t->chains[i];

		if (chain_equal(h, c))
			continue;
		changed = true;
		if (!tc_flush(f, c->name, h)) {
			r = -errno;
			break;
		}
		for (unsigned k = 0; k < c->n && r == 0; k++)
			if (!tc_append(f, c->name, c->rules[k].buf, h))
				r = -errno;
	}
	for (unsigned i = 0; i < t->n_jumps && r == 0; i++)
		r = fix_jump(f, h, &t->jumps[i], &changed);
	return r < 0 ? r : changed;
}

static const char *fam_tool(int f)
{
	return is6(f) ? "libip6tc" : "libiptc";
}

static int apply_table(const struct table *t, uint64_t *writes, char *err, size_t errlen)
{
	enum sy_iptc_step step;
	int r = sy_iptc_edit_family(t->family, t->name, apply_edit, (void *)t, &step);

	if (r > 0)
		(*writes)++;
	if (r >= 0)
		return 0;
	if (step == SY_IPTC_INIT)
		snprintf(err, errlen, "%s: cannot open table %s: %s", fam_tool(t->family), t->name,
			 tc_strerror(t->family, -r));
	else if (step == SY_IPTC_EDIT)
		snprintf(err, errlen, "%s: table %s: %s", fam_tool(t->family), t->name,
			 tc_strerror(t->family, -r));
	else
		snprintf(err, errlen, "%s: commit of table %s failed: %s", fam_tool(t->family),
			 t->name, tc_strerror(t->family, -r));
	return r;
}

static unsigned count_rules(const struct table *t)
{
	unsigned n = t->n_jumps;

	for (unsigned i = 0; i < t->n_chains; i++)
		n += t->chains[i].n;
	return n;
}

int ipvs_ipt_sync(const struct ipvs_ipt_params *p, uint64_t *writes, uint64_t *nat_rules,
		  uint64_t *filter_rules, char *err, size_t errlen)
{
	static struct table nat, filter;	/* large; one sync at a time */
	struct ipvs_ipt_params q = *p;
	struct sy_cidr *cidrs = NULL;
	int r, lock;

	if (p->family != AF_INET && p->family != AF_INET6) {
		snprintf(err, errlen, "iptables rules for family %d", p->family);
		return -EAFNOSUPPORT;
	}
	/* --cluster-cidr v4,v6: each family's rules see their own prefixes */
	if (p->n_cluster_cidrs) {
		cidrs = xcalloc(p->n_cluster_cidrs, sizeof(*cidrs));
		q.n_cluster_cidrs = 0;
		for (unsigned i = 0; i < p->n_cluster_cidrs; i++)
			if (p->cluster_cidrs[i].addr.family == p->family)
				cidrs[q.n_cluster_cidrs++] = p->cluster_cidrs[i];
		q.cluster_cidrs = cidrs;
	}
	r = build_nat(&nat, &q);
	if (r == 0)
		r = build_filter(&filter, &q);
	free(cidrs);
	if (r < 0) {
		snprintf(err, errlen, "ipsets missing for the %s rules: %s",
			 is6(p->family) ? "ip6tables" : "iptables", strerror(-r));
		return r;
	}
	lock = sy_xtables_lock(2.0);
	if (lock < 0) {
		snprintf(err, errlen, "cannot lock /run/xtables.lock: %s", strerror(-lock));
		return lock;
	}
	r = apply_table(&nat, writes, err, errlen);
	if (r == 0)
		r = apply_table(&filter, writes, err, errlen);
	sy_xtables_unlock(lock);
	*nat_rules = count_rules(&nat);
	*filter_rules = count_rules(&filter);
	return r;
}

struct cleanup {
	int family;
	const struct jump *jumps;
	unsigned n_jumps;
	const char *const *chains;
	unsigned n_chains;
};

/* Delete the jumps to our chains, then the chains; 1 if anything went. */
static int cleanup_edit(struct xtc_handle *h, void *arg)
{
	const struct cleanup *cl = arg;
	int f = cl->family, r;
	bool changed = false;

	for (unsigned i = 0; i < cl->n_jumps; i++) {
		r = delete_jumps(f, h, cl->jumps[i].from, cl->jumps[i].to);
		if (r < 0)
			return r;
		changed |= r > 0;
	}
	for (unsigned i = 0; i < cl->n_chains; i++)
		if (tc_is_chain(f, cl->chains[i], h)) {
			if (!tc_flush(f, cl->chains[i], h))
				return -errno;
			changed = true;
		}
	for (unsigned i = 0; i < cl->n_chains; i++)
		if (tc_is_chain(f, cl->chains[i], h) && !tc_delete_chain(f, cl->chains[i], h))
			return -errno;
	return changed;
}

static int cleanup_table(int family, const char *table, const struct jump *jumps, unsigned n_jumps,
			 const char *const *chains, unsigned n_chains, char *err, size_t errlen)
{
	struct cleanup cl = { family, jumps, n_jumps, chains, n_chains };
	enum sy_iptc_step step;
	int r = sy_iptc_edit_family(family, table, cleanup_edit, &cl, &step);

	if (r < 0 && step == SY_IPTC_INIT)
		return 0;	/* no such table: nothing of ours */
	if (r < 0) {
		snprintf(err, errlen, "%s: table %s: %s", fam_tool(family), table,
			 tc_strerror(family, -r));
		return r;
	}
	return 0;
}

int ipvs_ipt_cleanup(int family, char *err, size_t errlen)
{
	static const char *const nat_chains[] = {
		C_SERVICES, C_EXTERNAL, C_LB, C_NODE_PORT, C_POSTROUTING, C_MARK_MASQ,
	};
	static const char *const filter_chains[] = { C_FILTER };
	int lock = sy_xtables_lock(2.0), r;

	if (lock < 0) {
		snprintf(err, errlen, "cannot lock /run/xtables.lock: %s", strerror(-lock));
		return lock;
	}
	r = cleanup_table(family, "nat", nat_jumps, ARRAY_SIZE(nat_jumps), nat_chains,
			  ARRAY_SIZE(nat_chains), err, errlen);
	if (r == 0)
		r = cleanup_table(family, "filter", filter_jumps, ARRAY_SIZE(filter_jumps),
				  filter_chains, ARRAY_SIZE(filter_chains), err, errlen);
	sy_xtables_unlock(lock);
	return r;
}
