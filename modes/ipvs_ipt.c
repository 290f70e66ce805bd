// SPDX-License-Identifier: Apache-2.0
/*
 * The IPVS mode's iptables rules through libiptc: a constant number of
 * rules in our own SY-IPVS-* chains, matching the ipsets (ipvs_set.c), so
 * their count does not grow with Services.  One handle and at most one
 * commit per table per call, under /run/xtables.lock; nothing is written
 * when the chains already hold exactly the wanted rules.
 * Both families: the IPv4 instance writes iptables (libip4tc) rules
 * matching the SY-* sets, the IPv6 one the same chains in ip6tables
 * (libip6tc) matching the SY-6-* sets, both through lib/iptc.c (the
 * family's entries, libiptc calls and edits); only REJECT's data is the
 * family's own here.
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
#define MAX_CHAINS 8

struct chain {
	int family;
	const char *name;
	struct sy_iptc_rule rules[MAX_RULES];
	unsigned n;
};

struct table {
	int family;
	const char *name;
	struct chain chains[MAX_CHAINS];
	unsigned n_chains;
	const struct sy_iptc_jump *jumps;
	unsigned n_jumps;
};

static bool is6(int family)
{
	return family == AF_INET6;
}

/* ---- building entries ------------------------------------------------------ */

/* A new rule of chain c, of its family. */
static struct sy_iptc_rule *rule_new(struct chain *c)
{
	struct sy_iptc_rule *r = &c->rules[c->n++];

	sy_iptc_rule_init(r, c->family);
	return r;
}

static struct sy_iptc_rule *cur(struct chain *c)
{
	return &c->rules[c->n - 1];
}

static void *add_match(struct chain *c, const char *name, uint8_t rev, size_t size)
{
	return sy_iptc_rule_match(cur(c), name, rev, size);
}

static void *set_target(struct chain *c, const char *name, uint8_t rev, size_t size)
{
	return sy_iptc_rule_target(cur(c), name, rev, size);
}

/* A jump to a chain or a standard verdict (ACCEPT/DROP/RETURN). */
static void jump(struct chain *c, const char *to)
{
	sy_iptc_rule_jump(cur(c), to);
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
	sy_iptc_rule_masquerade(cur(c), random_fully);
}

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

static const struct sy_iptc_jump nat_jumps[] = {
	{ "PREROUTING", C_SERVICES },
	{ "OUTPUT", C_SERVICES },
	{ "POSTROUTING", C_POSTROUTING },
};
static const struct sy_iptc_jump filter_jumps[] = {
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

static void table_init(struct table *t, int family, const char *name,
		       const struct sy_iptc_jump *jumps, unsigned n_jumps)
{
	memset(t, 0, sizeof(*t));
	t->family = family;
	t->name = name;
	t->jumps = jumps;
	t->n_jumps = n_jumps;
}

#define TRY(x) do { int r_ = (x); if (r_ < 0) return r_; } while (0)

/*
 * One rule as data: its protocol, matches and set matches, written in this
 * order, then a jump or a target.  A source CIDR is given apart (add_rule):
 * the CIDRs come from the flags.
 */
enum rule_match {
	M_ADDRTYPE_SRC_LOCAL = 1 << 0,
	M_ADDRTYPE_DST_LOCAL = 1 << 1,
	M_CTSTATE_NEW = 1 << 2,
	M_NOT_MARK = 1 << 3,		/* ! --mark the masquerade mark */
};

enum rule_target {
	T_JUMP,				/* to: a chain or ACCEPT/DROP/RETURN */
	T_REJECT,
	T_MARK_SET,			/* --or-mark the masquerade mark */
	T_MARK_CLEAR,			/* --xor-mark it */
	T_MASQUERADE,
	T_MASQUERADE_FULLY,		/* --random-fully */
};

struct rule_def {
	uint8_t proto;			/* 0: any */
	unsigned match;			/* enum rule_match bits */
	struct {
		enum ipvs_set_id id;
		const char *dirs;	/* "ds" letters, e.g. "dds"; NULL: no set match */
		bool invert;
	} set[2];
	enum rule_target target;
	const char *to;
};

/* Append d to c, for packets from src (NULL: any; invert: not from src). */
static int add_rule(struct chain *c, const struct rule_def *d, const struct sy_cidr *src,
		    bool invert, uint32_t mark)
{
	struct sy_iptc_rule *e = rule_new(c);

	if (src)
		sy_iptc_rule_src(e, src, invert);
	if (d->proto)
		sy_iptc_rule_proto(e, d->proto);
	if (d->match & M_ADDRTYPE_SRC_LOCAL)
		match_addrtype_src_local(c);
	if (d->match & M_ADDRTYPE_DST_LOCAL)
		match_addrtype_dst_local(c);
	if (d->match & M_CTSTATE_NEW)
		match_ctstate_new(c);
	if (d->match & M_NOT_MARK)
		match_mark(c, mark, true);
	for (unsigned i = 0; i < ARRAY_SIZE(d->set) && d->set[i].dirs; i++)
		TRY(match_set(c, d->set[i].id, d->set[i].dirs, d->set[i].invert));
	switch (d->target) {
	case T_JUMP: jump(c, d->to); break;
	case T_REJECT: target_reject(c); break;
	case T_MARK_SET: target_mark(c, mark, mark); break;
	case T_MARK_CLEAR: target_mark(c, mark, 0); break;
	case T_MASQUERADE: target_masquerade(c, false); break;
	case T_MASQUERADE_FULLY: target_masquerade(c, true); break;
	}
	return 0;
}

/* Append the rules d[0..n) to c. */
static int add_rules(struct chain *c, const struct rule_def *d, unsigned n, uint32_t mark)
{
	for (unsigned i = 0; i < n; i++)
		TRY(add_rule(c, &d[i], NULL, false, mark));
	return 0;
}

/*
 * The chain of an external address kind (externalIPs, LB IPs): the node's
 * own connections are masqueraded even for a Local policy (their source is
 * the bound address itself, which a remote endpoint cannot answer;
 * kube-proxy's iptables mode does the same), a Local one (in set local)
 * returns, the rest is masqueraded.
 */
static int external_chain(struct table *t, const char *name, enum ipvs_set_id local,
			  uint32_t mark)
{
	const struct rule_def rules[] = {
		{ .match = M_ADDRTYPE_SRC_LOCAL, .to = C_MARK_MASQ },
		{ .set = { { local, "dd" } }, .to = "RETURN" },
		{ .to = C_MARK_MASQ },
	};

	return add_rules(add_chain(t, name), rules, ARRAY_SIZE(rules), mark);
}

/* SY-IPVS-SERVICES after the masquerade rules of build_nat */
static const struct rule_def services_rules[] = {
	{ .set = { { IPVS_SET_CLUSTER_IP, "dd" } }, .to = "ACCEPT" },
	{ .set = { { IPVS_SET_LB, "dd" } }, .to = C_LB },
	{ .set = { { IPVS_SET_LB, "dd" } }, .to = "ACCEPT" },
	{ .set = { { IPVS_SET_EXTERNAL_IP, "dd" } }, .to = C_EXTERNAL },
	{ .set = { { IPVS_SET_EXTERNAL_IP, "dd" } }, .to = "ACCEPT" },
	{ .match = M_ADDRTYPE_DST_LOCAL, .to = C_NODE_PORT },
};

static const struct rule_def node_port_rules[] = {
	{ IPPROTO_TCP, .set = { { IPVS_SET_NODE_PORT_LOCAL_TCP, "d" } }, .to = "RETURN" },
	{ IPPROTO_TCP, .set = { { IPVS_SET_NODE_PORT_TCP, "d" } }, .to = C_MARK_MASQ },
	{ IPPROTO_UDP, .set = { { IPVS_SET_NODE_PORT_LOCAL_UDP, "d" } }, .to = "RETURN" },
	{ IPPROTO_UDP, .set = { { IPVS_SET_NODE_PORT_UDP, "d" } }, .to = C_MARK_MASQ },
	{ IPPROTO_SCTP, .set = { { IPVS_SET_NODE_PORT_LOCAL_SCTP, "dd" } }, .to = "RETURN" },
	{ IPPROTO_SCTP, .set = { { IPVS_SET_NODE_PORT_SCTP, "dd" } }, .to = C_MARK_MASQ },
};

static const struct rule_def mark_masq_rules[] = {
	{ .target = T_MARK_SET },
};

static const struct rule_def postrouting_rules[] = {
	{ .set = { { IPVS_SET_LOOP_BACK, "dds" } }, .target = T_MASQUERADE },	/* hairpin */
	{ .match = M_NOT_MARK, .to = "RETURN" },
	{ .target = T_MARK_CLEAR },
	{ .target = T_MASQUERADE_FULLY },
};

static int build_nat(struct table *t, const struct ipvs_ipt_params *p)
{
	static const struct rule_def to_masq = { .set = { { IPVS_SET_CLUSTER_IP, "dd" } },
						 .to = C_MARK_MASQ };
	static const struct rule_def own_to_masq = { .set = { { IPVS_SET_CLUSTER_IP, "sd" } },
						     .to = C_MARK_MASQ };
	struct chain *c;

	table_init(t, p->family, "nat", nat_jumps, ARRAY_SIZE(nat_jumps));

	c = add_chain(t, C_SERVICES);
	if (p->masquerade_all)
		TRY(add_rule(c, &to_masq, NULL, false, p->mark));
	for (unsigned i = 0; i < p->n_cluster_cidrs && !p->masquerade_all; i++) {
		/* traffic to a ClusterIP from outside the pod network */
		TRY(add_rule(c, &to_masq, &p->cluster_cidrs[i], true, p->mark));
	}
	if (!p->masquerade_all && !p->n_cluster_cidrs) {
		/* no pod network known: the node's own connections to a ClusterIP
		 * leave with the ClusterIP as source (it is bound on kube-ipvs0),
		 * which an endpoint on another node cannot answer (kube-proxy's
		 * "masquerade all OUTPUT traffic coming from a service ip") */
		TRY(add_rule(c, &own_to_masq, NULL, false, p->mark));
	}
	TRY(add_rules(c, services_rules, ARRAY_SIZE(services_rules), p->mark));

	TRY(external_chain(t, C_EXTERNAL, IPVS_SET_EXTERNAL_IP_LOCAL, p->mark));
	TRY(external_chain(t, C_LB, IPVS_SET_LB_LOCAL, p->mark));
	TRY(add_rules(add_chain(t, C_NODE_PORT), node_port_rules, ARRAY_SIZE(node_port_rules),
		      p->mark));
	TRY(add_rules(add_chain(t, C_MARK_MASQ), mark_masq_rules, ARRAY_SIZE(mark_masq_rules),
		      p->mark));
	return add_rules(add_chain(t, C_POSTROUTING), postrouting_rules,
			 ARRAY_SIZE(postrouting_rules), p->mark);
}

static const struct rule_def filter_chain_rules[] = {
	{ .match = M_CTSTATE_NEW, .set = { { IPVS_SET_NO_ENDPOINTS, "dd" } }, .target = T_REJECT },
	{ .set = { { IPVS_SET_LB_FW, "dd", false }, { IPVS_SET_LB_SOURCE_CIDR, "dds", true } },
	  .to = "DROP" },
	{ .set = { { IPVS_SET_HEALTH_CHECK_NODE_PORT, "d" } }, .to = "ACCEPT" },
};

static int build_filter(struct table *t, const struct ipvs_ipt_params *p)
{
	static const struct rule_def from_pods = { .set = { { IPVS_SET_NO_LOCAL_ENDPOINTS, "dd" } },
						   .to = "RETURN" };
	static const struct rule_def drop_new = { .match = M_CTSTATE_NEW,
						  .set = { { IPVS_SET_NO_LOCAL_ENDPOINTS, "dd" } },
						  .to = "DROP" };
	struct chain *c;

	table_init(t, p->family, "filter", filter_jumps, ARRAY_SIZE(filter_jumps));
	c = add_chain(t, C_FILTER);
	TRY(add_rules(c, filter_chain_rules, ARRAY_SIZE(filter_chain_rules), p->mark));
	/* last: an eTP=Local address without a local endpoint is served by the
	 * cluster endpoints for pods (and the node); traffic from outside the
	 * pod network is dropped.  Without --cluster-cidr pods cannot be told
	 * apart, so nothing is dropped (kube-proxy's IPVS fallback). */
	if (!p->n_cluster_cidrs)
		return 0;
	for (unsigned i = 0; p->n_cluster_cidrs > 1 && i < p->n_cluster_cidrs; i++)
		TRY(add_rule(c, &from_pods, &p->cluster_cidrs[i], false, p->mark));
	return add_rule(c, &drop_new, p->n_cluster_cidrs == 1 ? &p->cluster_cidrs[0] : NULL, true,
			p->mark);
}

/* ---- applying ---------------------------------------------------------------- */

/* Make the table hold t's chains and jumps (each first in its built-in chain); 1 if changed. */
static int apply_edit(struct sy_iptc *h, void *arg)
{
	const struct table *t = arg;
	struct sy_iptc_chain chains[MAX_CHAINS];
	int r, changed;

	for (unsigned i = 0; i < t->n_chains; i++)
		chains[i] = (struct sy_iptc_chain){ t->chains[i].name, t->chains[i].rules,
						    t->chains[i].n };
	changed = sy_iptc_chains_ensure(h, chains, t->n_chains);
	for (unsigned i = 0; i < t->n_jumps && changed >= 0; i++) {
		r = sy_iptc_jump_first(h, &t->jumps[i]);
		changed = r < 0 ? r : changed || r;
	}
	return changed;
}

static const char *fam_tool(int f)
{
	return is6(f) ? "libip6tc" : "libiptc";
}

static int apply_table(const struct table *t, uint64_t *writes, char *err, size_t errlen)
{
	enum sy_iptc_step step;
	int r = sy_iptc_edit(t->family, t->name, apply_edit, (void *)t, &step);

	if (r > 0)
		(*writes)++;
	if (r >= 0)
		return 0;
	if (step == SY_IPTC_INIT)
		snprintf(err, errlen, "%s: cannot open table %s: %s", fam_tool(t->family), t->name,
			 sy_iptc_strerror(t->family, -r));
	else if (step == SY_IPTC_EDIT)
		snprintf(err, errlen, "%s: table %s: %s", fam_tool(t->family), t->name,
			 sy_iptc_strerror(t->family, -r));
	else
		snprintf(err, errlen, "%s: commit of table %s failed: %s", fam_tool(t->family),
			 t->name, sy_iptc_strerror(t->family, -r));
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
	const struct sy_iptc_jump *jumps;
	unsigned n_jumps;
	const char *const *chains;
	unsigned n_chains;
};

/* Delete the jumps to our chains, then the chains; 1 if anything went. */
static int cleanup_edit(struct sy_iptc *h, void *arg)
{
	const struct cleanup *cl = arg;

	return sy_iptc_remove(h, cl->jumps, cl->n_jumps, cl->chains, cl->n_chains);
}

static int cleanup_table(int family, const char *table, const struct sy_iptc_jump *jumps, unsigned n_jumps,
			 const char *const *chains, unsigned n_chains, char *err, size_t errlen)
{
	struct cleanup cl = { jumps, n_jumps, chains, n_chains };
	enum sy_iptc_step step;
	int r = sy_iptc_edit(family, table, cleanup_edit, &cl, &step);

	if (r < 0 && step == SY_IPTC_INIT)
		return 0;	/* no such table: nothing of ours */
	if (r < 0) {
		snprintf(err, errlen, "%s: table %s: %s", fam_tool(family), table,
			 sy_iptc_strerror(family, -r));
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
