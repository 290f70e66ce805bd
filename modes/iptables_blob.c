// SPDX-License-Identifier: Apache-2.0
/*
 * Kernel table blobs for the iptables mode: read, split foreign / ours,
 * build the replacement from the plan, commit.  See iptables_blob.h.
 */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <linux/netfilter/x_tables.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/xt_tcpudp.h>
#include <linux/netfilter/xt_sctp.h>
#include <linux/netfilter/xt_statistic.h>
#include <linux/netfilter/xt_recent.h>
#include <linux/netfilter/xt_addrtype.h>
#include <linux/netfilter/xt_mark.h>
#include <linux/netfilter/xt_conntrack.h>
#include <linux/netfilter/xt_comment.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv4/ipt_REJECT.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <linux/netfilter_ipv6/ip6t_REJECT.h>
#include "switchyard/util.h"
#include "switchyard/xtables.h"
#include "iptables_blob.h"


/* nf_nat.h's compat structs are not exported to userspace everywhere */
struct sy_nat_ipv4_range {
	unsigned int flags;
	uint32_t min_ip, max_ip;
	uint16_t min, max;
};
struct sy_nat_ipv4_multi_range {
	unsigned int rangesize;
	struct sy_nat_ipv4_range range[1];
};

/*
 * One writer for both families.  An ipt_entry and an ip6t_entry differ in
 * their address part only (struct ipt_ip, struct ip6t_ip6); what follows it
 * (nfcache, target_offset, next_offset, comefrom, counters) has one layout,
 * at another offset.  The table headers (ipt_replace / ip6t_replace,
 * ipt_getinfo, xt_counters_info) are the same in both, and so are the
 * sockopt numbers; the level and the socket's family differ.
 */
struct xt_fam {
	uint8_t af;
	int level;		/* getsockopt / setsockopt level */
	uint32_t hdr;		/* sizeof the entry (its matches follow) */
	uint32_t tail;		/* offsetof nfcache */
	uint32_t cnt;		/* offsetof counters */
};

struct ent_tail {
	unsigned int nfcache;
	uint16_t target_offset, next_offset;
	unsigned int comefrom;
};

#define FAM(entry, lvl, af_)	{ af_, lvl, sizeof(struct entry), offsetof(struct entry, nfcache), \
				  offsetof(struct entry, counters) }
static const struct xt_fam fam4 = FAM(ipt_entry, IPPROTO_IP, AF_INET);
static const struct xt_fam fam6 = FAM(ip6t_entry, IPPROTO_IPV6, AF_INET6);
#undef FAM
#define TAIL_AT(entry, field) (offsetof(struct entry, field) - offsetof(struct entry, nfcache))
_Static_assert(TAIL_AT(ipt_entry, target_offset) == offsetof(struct ent_tail, target_offset) &&
	       TAIL_AT(ipt_entry, next_offset) == offsetof(struct ent_tail, next_offset) &&
	       TAIL_AT(ipt_entry, comefrom) == offsetof(struct ent_tail, comefrom) &&
	       TAIL_AT(ip6t_entry, target_offset) == offsetof(struct ent_tail, target_offset) &&
	       TAIL_AT(ip6t_entry, next_offset) == offsetof(struct ent_tail, next_offset) &&
	       TAIL_AT(ip6t_entry, comefrom) == offsetof(struct ent_tail, comefrom) &&
	       sizeof(struct ipt_replace) == sizeof(struct ip6t_replace) &&
	       sizeof(struct ipt_getinfo) == sizeof(struct ip6t_getinfo),
	       "ipt_entry and ip6t_entry share their tail");
#undef TAIL_AT

static const struct xt_fam *fam_of(int family)
{
	return family == AF_INET6 ? &fam6 : &fam4;
}

/* The entry at e's fields after the address part. */
static inline struct ent_tail *ET(const struct xt_fam *f, const void *e)
{
	return (struct ent_tail *)((char *)e + f->tail);
}

#define T_STD ((uint32_t)XT_ALIGN(sizeof(struct xt_standard_target)))
#define T_ERR ((uint32_t)XT_ALIGN(sizeof(struct xt_error_target)))

static inline struct xt_entry_target *entry_target(const struct xt_fam *f, const void *e)
{
	return (struct xt_entry_target *)((char *)e + ET(f, e)->target_offset);
}
static inline bool target_is_std(const struct xt_entry_target *t)
{
	return t->u.user.name[0] == 0;
}
static inline bool target_is_err(const struct xt_entry_target *t)
{
	return !strcmp(t->u.user.name, XT_ERROR_TARGET);
}

/* ---- hashing (normalised: counters and comefrom excluded) ---- */

static inline uint64_t mix(uint64_t h, uint64_t w)
{
	h ^= w;
	h *= 0x9E3779B97F4A7C15ULL;
	return h ^ (h >> 31);
}

/*
 * The body of hash_entry for an entry header of hdr_len bytes (inlined with
 * each family's constants: with a run-time length the header's copies and
 * loop were generic code run for every rule).
 */
static inline __attribute__((always_inline)) uint64_t
hash_entry_n(uint64_t h, const void *e, size_t hdr_len, size_t comefrom_at, size_t cnt_at,
	     unsigned next)
{
	unsigned char hdr[sizeof(struct ip6t_entry)];
	uint64_t x;
	size_t n;

	/* words, not a struct pun: byte copies keep the compiler honest */
	memcpy(hdr, e, hdr_len);
	memset(hdr + comefrom_at, 0, sizeof(unsigned int));
	memset(hdr + cnt_at, 0, sizeof(struct xt_counters));
	for (n = 0; n + 8 <= hdr_len; n += 8) {
		memcpy(&x, hdr + n, 8);
		h = mix(h, x);
	}
	for (n = hdr_len; n + 8 <= next; n += 8) {
		memcpy(&x, (const char *)e + n, 8);
		h = mix(h, x);
	}
	return h;
}

static uint64_t hash_entry(const struct xt_fam *f, uint64_t h, const void *e)
{
	unsigned next = ET(f, e)->next_offset;

	if (f->af == AF_INET6)
		return hash_entry_n(h, e, sizeof(struct ip6t_entry),
				    offsetof(struct ip6t_entry, comefrom),
				    offsetof(struct ip6t_entry, counters), next);
	return hash_entry_n(h, e, sizeof(struct ipt_entry), offsetof(struct ipt_entry, comefrom),
			    offsetof(struct ipt_entry, counters), next);
}

static uint64_t hash_layout(uint64_t h, unsigned valid, const unsigned *hook_entry,
			    const unsigned *underflow, unsigned num, unsigned size)
{
	for (unsigned i = 0; i < NF_INET_NUMHOOKS; i++)
		if (valid & (1u << i))	/* the kernel reports 0xffffffff for the others */
			h = mix(mix(h, hook_entry[i]), underflow[i]);
	return mix(mix(h, num), size);
}

/* ---- the parsed kernel table ---- */

struct kt_chain {
	char name[XT_FUNCTION_MAXNAMELEN];
	uint32_t head, first, end;	/* old offsets: head entry, first rule, one past the last */
	uint32_t head_idx, n_entries;	/* old entry index of the head, entries incl. head */
	bool ours;
	uint32_t fb;			/* foreign: copy of [head, end) in fbuf */
	uint32_t new_head, new_idx;	/* writer scratch */
};

struct kt_rule {			/* a foreign rule of a built-in chain */
	uint32_t fb, size, old_off, old_idx;
	uint32_t new_off, new_idx;	/* writer scratch */
};

struct kt_builtin {
	struct kt_rule *rules;
	unsigned n_rules;
	int ours_pos;			/* where our jumps were (index into rules), -1: none */
	struct kt_rule policy;
};

struct ipt_ktable {
	const struct xt_fam *f;
	enum ipt_table t;
	struct ipt_getinfo info;
	uint8_t *fbuf;			/* copies of the foreign entries */
	size_t fb_len;
	struct kt_chain *chains;	/* user chains in old order */
	unsigned n_chains;
	struct kt_builtin bi[NF_INET_NUMHOOKS];
	bool has_ours;
	uint64_t hash;
	bool hash_unknown;		/* patched in place since: compare by other means */
	uint64_t from_gen;		/* parsed from our own blob of this generation (0: read) */
};

void ipt_ktable_free(struct ipt_ktable *kt)
{
	if (!kt)
		return;
	for (unsigned h = 0; h < NF_INET_NUMHOOKS; h++)
		free(kt->bi[h].rules);
	free(kt->chains);
	free(kt->fbuf);
	free(kt);
}

bool ipt_ktable_has_ours(const struct ipt_ktable *kt) { return kt->has_ours; }
uint64_t ipt_ktable_hash(const struct ipt_ktable *kt) { return kt->hash; }

/* chain of an old offset (head <= off < end), or NULL */
static const struct kt_chain *kt_chain_at(const struct ipt_ktable *kt, uint32_t off)
{
	unsigned lo = 0, hi = kt->n_chains;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		if (kt->chains[mid].end <= off)
			lo = mid + 1;
		else if (kt->chains[mid].head > off)
			hi = mid;
		else
			return &kt->chains[mid];
	}
	return NULL;
}

static void *fb_add(struct ipt_ktable *kt, size_t *cap, const void *p, size_t len, uint32_t *ret_off)
{
	if (kt->fb_len + len > *cap) {
		while (kt->fb_len + len > *cap)
			*cap = *cap ? 2 * *cap : 4096;
		kt->fbuf = xrealloc(kt->fbuf, *cap);
	}
	*ret_off = (uint32_t)kt->fb_len;
	memcpy(kt->fbuf + kt->fb_len, p, len);
	kt->fb_len += len;
	return kt->fbuf + *ret_off;
}

/*
 * Split the entries at base (kt->info describes them) into chains, built-in
 * rules and copies of the foreign parts; with hash, also the normalised
 * hash of the whole table.
 */
static int kt_parse(struct ipt_ktable *kt, const uint8_t *base, bool hash)
{
	const struct xt_fam *f = kt->f;
	size_t fcap = 0, ccap = 0;
	uint32_t off, idx;
	int cur_hook = -1;
	struct kt_chain *cur = NULL;

	for (unsigned h = 0; h < NF_INET_NUMHOOKS; h++)
		kt->bi[h].ours_pos = -1;

	/* pass 1: user chains */
	for (off = 0, idx = 0; off < kt->info.size; idx++) {
		const uint8_t *e = base + off;
		const struct xt_entry_target *tg = entry_target(f, e);
		if (ET(f, e)->next_offset < f->hdr || off + ET(f, e)->next_offset > kt->info.size)
			return -EBADMSG;
		if (target_is_err(tg)) {
			const char *name = ((const struct xt_error_target *)tg)->errorname;
			if (cur)
				cur->end = off;
			cur = NULL;
			if (strcmp(name, XT_ERROR_TARGET)) {
				if (kt->n_chains == ccap) {
					ccap = ccap ? 2 * ccap : 64;
					kt->chains = xrealloc(kt->chains, ccap * sizeof(*kt->chains));
				}
				cur = &kt->chains[kt->n_chains++];
				memset(cur, 0, sizeof(*cur));
				snprintf(cur->name, sizeof(cur->name), "%s", name);
				cur->head = off;
				cur->head_idx = idx;
				cur->first = off + ET(f, e)->next_offset;
				cur->ours = ipt_chain_is_ours(name);
				if (cur->ours)
					kt->has_ours = true;
			}
		}
		off += ET(f, e)->next_offset;
	}
	if (cur)
		cur->end = off;
	for (unsigned i = 0; i < kt->n_chains; i++)
		kt->chains[i].n_entries = 0;

	/* pass 2: hash, built-in chains, copies of foreign user chains */
	if (hash)
		kt->hash = hash_layout(0, kt->info.valid_hooks, kt->info.hook_entry,
				       kt->info.underflow, kt->info.num_entries, kt->info.size);
	unsigned ci = 0;
	for (off = 0, idx = 0; off < kt->info.size; idx++) {
		const uint8_t *e = base + off;
		const struct xt_entry_target *tg = entry_target(f, e);

		if (hash)
			kt->hash = hash_entry(f, kt->hash, e);
		for (unsigned h = 0; h < NF_INET_NUMHOOKS; h++)
			if ((kt->info.valid_hooks & (1u << h)) && kt->info.hook_entry[h] == off) {
				cur_hook = (int)h;
			}
		if (ci < kt->n_chains && kt->chains[ci].head == off) {
			cur_hook = -1;
			struct kt_chain *c = &kt->chains[ci++];
			c->n_entries = 0;
			if (!c->ours)
				fb_add(kt, &fcap, e, c->end - c->head, &c->fb);
		}
		if (ci > 0 && off < kt->chains[ci - 1].end && off >= kt->chains[ci - 1].head) {
			kt->chains[ci - 1].n_entries++;
		} else if (cur_hook >= 0) {
			struct kt_builtin *b = &kt->bi[cur_hook];
			struct kt_rule kr = { .size = ET(f, e)->next_offset, .old_off = off, .old_idx = idx };
			if (off == kt->info.underflow[cur_hook]) {
				fb_add(kt, &fcap, e, ET(f, e)->next_offset, &kr.fb);
				b->policy = kr;
				cur_hook = -1;
			} else {
				bool ours = false;
				if (target_is_std(tg)) {
					int v = ((const struct xt_standard_target *)tg)->verdict;
					const struct kt_chain *to = v >= 0 ? kt_chain_at(kt, (uint32_t)v) : NULL;
					ours = to && to->ours;
				}
				if (ours) {
					kt->has_ours = true;
					if (b->ours_pos < 0)
						b->ours_pos = (int)b->n_rules;
				} else {
					fb_add(kt, &fcap, e, ET(f, e)->next_offset, &kr.fb);
					if (!(b->n_rules & (b->n_rules - 1)))
						b->rules = xrealloc(b->rules, (b->n_rules ? 2 * b->n_rules : 1) *
								    sizeof(*b->rules));
					b->rules[b->n_rules++] = kr;
				}
			}
		}
		off += ET(f, e)->next_offset;
	}
	return 0;
}

int ipt_ktable_read(int fd, int family, enum ipt_table t, struct ipt_ktable **ret)
{
	struct ipt_ktable *kt = xcalloc(1, sizeof(*kt));
	struct ipt_get_entries *ge = NULL;
	int r;

	kt->f = fam_of(family);
	kt->t = t;
	r = sy_xt_read(fd, ipt_table_name(t), &kt->info, &ge);
	if (r < 0)
		goto fail;
	r = kt_parse(kt, (const uint8_t *)ge->entrytable, true);
	if (r < 0)
		goto fail;
	free(ge);
	*ret = kt;
	return 0;
fail:
	free(ge);
	ipt_ktable_free(kt);
	return r;
}

int ipt_ktable_unchanged(int fd, const struct ipt_ktable *kt)
{
	struct ipt_getinfo info;
	int r = sy_xt_get_info(fd, ipt_table_name(kt->t), &info);

	if (r < 0)
		return r;
	if (info.valid_hooks != kt->info.valid_hooks || info.num_entries != kt->info.num_entries ||
	    info.size != kt->info.size)
		return 0;
	for (unsigned h = 0; h < NF_INET_NUMHOOKS; h++)
		if ((info.valid_hooks & (1u << h)) &&
		    (info.hook_entry[h] != kt->info.hook_entry[h] ||
		     info.underflow[h] != kt->info.underflow[h]))
			return 0;
	return 1;
}

/* ---- rule encoding ---- */

/* Into a zeroed field: snprintf would cost a third of the blob build at 10,000 Services. */
static inline void copy_name(char *dst, size_t size, const char *name)
{
	size_t n = strlen(name);

	memcpy(dst, name, n < size - 1 ? n : size - 1);
}

#define M_SIZE(type) XT_ALIGN(sizeof(struct xt_entry_match) + sizeof(type))
#define T_SIZE(type) XT_ALIGN(sizeof(struct xt_entry_target) + sizeof(type))

/* What rule_put(f, b, r) writes, without building it (the builder's sizing pass). */
static size_t rule_size(const struct xt_fam *f, const struct ipt_rule *r)
{
	size_t off = f->hdr;

	if (r->matches & IPT_M_DPORT)
		off += r->proto == IPPROTO_TCP ? M_SIZE(struct xt_tcp) :
		       r->proto == IPPROTO_UDP ? M_SIZE(struct xt_udp) : M_SIZE(struct xt_sctp_info);
	if (r->matches & (IPT_M_DST_LOCAL | IPT_M_SRC_LOCAL))
		off += M_SIZE(struct xt_addrtype_info_v1);
	if (r->matches & IPT_M_MARK)
		off += M_SIZE(struct xt_mark_mtinfo1);
	if (r->matches & (IPT_M_STATE_NEW | IPT_M_STATE_EST | IPT_M_STATE_NOT_EST_DNAT))
		off += M_SIZE(struct xt_conntrack_mtinfo3);
	if (r->matches & IPT_M_STAT)
		off += M_SIZE(struct xt_statistic_info);
	if (r->matches & (IPT_M_RCHECK | IPT_M_RSET))
		off += M_SIZE(struct xt_recent_mtinfo_v1);
	if (r->matches & IPT_M_COMMENT)
		off += M_SIZE(struct xt_comment_info);
	switch (r->target) {
	case IPT_T_REJECT:	/* ipt_reject_info and ip6t_reject_info: one u32 */
		return off + T_SIZE(struct ipt_reject_info);
	case IPT_T_DNAT:
		return off + T_SIZE(struct nf_nat_range2);
	case IPT_T_MARK:
		return off + T_SIZE(struct xt_mark_tginfo2);
	case IPT_T_MASQ:	/* MASQUERADE revision 0: IPv4's compat range, IPv6's nf_nat_range */
		return off + (f->af == AF_INET6 ? T_SIZE(struct nf_nat_range) :
			      T_SIZE(struct sy_nat_ipv4_multi_range));
	default:
		return off + T_SIZE(int);	/* a verdict */
	}
}

/*
 * A match or a target (their headers are laid out alike: size, name,
 * revision, then the data) at b; its size (b NULL: only the size).
 */
static size_t put_ext(uint8_t *b, const char *name, uint8_t rev, const void *data, size_t dlen)
{
	size_t sz = XT_ALIGN(sizeof(struct xt_entry_match) + dlen);

	_Static_assert(sizeof(struct xt_entry_match) == sizeof(struct xt_entry_target) &&
		       offsetof(struct xt_entry_match, data) ==
		       offsetof(struct xt_entry_target, data), "match and target headers differ");
	if (b) {
		struct xt_entry_match *m = (struct xt_entry_match *)b;
		m->u.user.match_size = (uint16_t)sz;
		copy_name(m->u.user.name, sizeof(m->u.user.name), name);
		m->u.user.revision = rev;
		memcpy(m->data, data, dlen);
	}
	return sz;
}

#define put_match put_ext
#define put_target put_ext

static size_t put_verdict(uint8_t *b, int verdict)
{
	return put_target(b, XT_STANDARD_TARGET, 0, &verdict, sizeof(verdict));
}

/* plen leading one bits in the len bytes at m (zeroed) */
static void put_mask(uint8_t *m, unsigned len, unsigned plen)
{
	for (unsigned i = 0; i < len && plen; i++) {
		unsigned n = plen < 8 ? plen : 8;

		m[i] = (uint8_t)(0xff00 >> n);
		plen -= n;
	}
}

/* An IPv4 netmask of plen bits (network order): one word, not put_mask's byte loop. */
static inline in_addr_t mask4(unsigned plen)
{
	return plen ? htonl(~0u << (32 - (plen > 32 ? 32 : plen))) : 0;
}

/* The address part of r's entry at b (zeroed): struct ipt_ip or struct ip6t_ip6. */
static void put_ip(const struct xt_fam *f, uint8_t *b, const struct ipt_rule *r)
{
	if (f->af == AF_INET6) {
		struct ip6t_ip6 *ip = &((struct ip6t_entry *)b)->ipv6;

		ip->src = r->src.v6;
		put_mask(ip->smsk.s6_addr, 16, r->splen);
		ip->dst = r->dst.v6;
		put_mask(ip->dmsk.s6_addr, 16, r->dplen);
		ip->proto = r->proto;
		/* without it ip6_tables never looks at the protocol (ip6tables -p sets it) */
		ip->flags = r->proto ? IP6T_F_PROTO : 0;
		ip->invflags = (r->inv & IPT_R_INV_SRC ? IP6T_INV_SRCIP : 0) |
			       (r->inv & IPT_R_INV_DST ? IP6T_INV_DSTIP : 0);
	} else {
		struct ipt_ip *ip = &((struct ipt_entry *)b)->ip;

		ip->src = r->src.v4;
		ip->smsk.s_addr = mask4(r->splen);
		ip->dst = r->dst.v4;
		ip->dmsk.s_addr = mask4(r->dplen);
		ip->proto = r->proto;
		ip->invflags = (r->inv & IPT_R_INV_SRC ? IPT_INV_SRCIP : 0) |
			       (r->inv & IPT_R_INV_DST ? IPT_INV_DSTIP : 0);
	}
}

/* Encode r at b (NULL: size only).  Jump targets must have their offsets. */
static size_t rule_put(const struct xt_fam *f, uint8_t *b, const struct ipt_rule *r)
{
	uint8_t *e = b;
	size_t off = f->hdr;
#define AT (b ? b + off : NULL)

	if (!b)
		return rule_size(f, r);
	put_ip(f, b, r);
	if (r->matches & IPT_M_DPORT) {
		if (r->proto == IPPROTO_TCP) {
			struct xt_tcp m;
			memset(&m, 0, sizeof(m));	/* padding too: blobs are compared byte-wise */
			m.spts[1] = 0xffff;
			m.dpts[0] = r->dport;
			m.dpts[1] = r->dport_hi ? r->dport_hi : r->dport;
			off += put_match(AT, "tcp", 0, &m, sizeof(m));
		} else if (r->proto == IPPROTO_UDP) {
			struct xt_udp m;
			memset(&m, 0, sizeof(m));
			m.spts[1] = 0xffff;
			m.dpts[0] = r->dport;
			m.dpts[1] = r->dport_hi ? r->dport_hi : r->dport;
			off += put_match(AT, "udp", 0, &m, sizeof(m));
		} else {
			struct xt_sctp_info m;
			memset(&m, 0, sizeof(m));
			m.dpts[0] = r->dport;
			m.dpts[1] = r->dport_hi ? r->dport_hi : r->dport;
			/* unused (no XT_SCTP_SRC_PORTS, no flags), but as iptables writes them */
			for (unsigned i = 0; i < XT_NUM_SCTP_FLAGS; i++)
				m.flag_info[i].chunktype = 0xff;
			m.flags = XT_SCTP_DEST_PORTS;
			off += put_match(AT, "sctp", 0, &m, sizeof(m));
		}
	}
	if (r->matches & (IPT_M_DST_LOCAL | IPT_M_SRC_LOCAL)) {
		struct xt_addrtype_info_v1 m;
		memset(&m, 0, sizeof(m));
		m.source = r->matches & IPT_M_SRC_LOCAL ? XT_ADDRTYPE_LOCAL : 0;
		m.dest = r->matches & IPT_M_DST_LOCAL ? XT_ADDRTYPE_LOCAL : 0;
		off += put_match(AT, "addrtype", 1, &m, sizeof(m));
	}
	if (r->matches & IPT_M_MARK) {
		struct xt_mark_mtinfo1 m;
		memset(&m, 0, sizeof(m));
		m.mark = r->mark;
		m.mask = r->mark_mask;
		m.invert = !!(r->matches & IPT_M_MARK_INV);
		off += put_match(AT, "mark", 1, &m, sizeof(m));
	}
	if (r->matches & (IPT_M_STATE_NEW | IPT_M_STATE_EST | IPT_M_STATE_NOT_EST_DNAT)) {
		struct xt_conntrack_mtinfo3 m;
		memset(&m, 0, sizeof(m));
		m.match_flags = XT_CONNTRACK_STATE;
		if (r->matches & IPT_M_STATE_NOT_EST_DNAT) {
			m.state_mask = XT_CONNTRACK_STATE_BIT(IP_CT_ESTABLISHED) |
				       XT_CONNTRACK_STATE_BIT(IP_CT_RELATED) | XT_CONNTRACK_STATE_DNAT;
			m.invert_flags = XT_CONNTRACK_STATE;
		}
		if (r->matches & IPT_M_STATE_NEW)
			m.state_mask |= XT_CONNTRACK_STATE_BIT(IP_CT_NEW);
		if (r->matches & IPT_M_STATE_EST)
			m.state_mask |= XT_CONNTRACK_STATE_BIT(IP_CT_ESTABLISHED) |
					XT_CONNTRACK_STATE_BIT(IP_CT_RELATED);
		off += put_match(AT, "conntrack", 3, &m, sizeof(m));
	}
	if (r->matches & IPT_M_STAT) {
		struct xt_statistic_info m;
		memset(&m, 0, sizeof(m));
		m.mode = XT_STATISTIC_MODE_RANDOM;
		m.u.random.probability = r->prob;
		/*
		 * as iptables writes it: libxt_statistic sets count = every - packet
		 * in every mode, and every shares the probability's storage (the
		 * kernel ignores it in random mode; byte-equal blobs compare equal)
		 */
		m.u.nth.count = r->prob;
		off += put_match(AT, "statistic", 0, &m, sizeof(m));
	}
	if (r->matches & (IPT_M_RCHECK | IPT_M_RSET)) {
		struct xt_recent_mtinfo_v1 m;
		memset(&m, 0, sizeof(m));
		if (r->matches & IPT_M_RCHECK) {
			m.check_set = XT_RECENT_CHECK | XT_RECENT_REAP;
			m.seconds = r->seconds;
		} else {
			m.check_set = XT_RECENT_SET;
		}
		m.side = XT_RECENT_SOURCE;
		copy_name(m.name, sizeof(m.name), r->recent->name);
		/* the whole source address (iptables and ip6tables set the family's bytes) */
		memset(&m.mask, 0xff, f->af == AF_INET6 ? 16 : 4);
		off += put_match(AT, "recent", 1, &m, sizeof(m));
	}
	if (r->matches & IPT_M_COMMENT) {
		struct xt_comment_info m;
		memset(&m, 0, sizeof(m));
		copy_name(m.comment, sizeof(m.comment), r->comment);
		off += put_match(AT, "comment", 0, &m, sizeof(m));
	}
	if (e)
		ET(f, e)->target_offset = (uint16_t)off;
	switch (r->target) {
	case IPT_T_JUMP:
		off += put_verdict(AT, (int)r->jump->first);
		break;
	case IPT_T_ACCEPT:
		off += put_verdict(AT, -NF_ACCEPT - 1);
		break;
	case IPT_T_DROP:
		off += put_verdict(AT, -NF_DROP - 1);
		break;
	case IPT_T_RETURN:
		off += put_verdict(AT, XT_RETURN);
		break;
	case IPT_T_REJECT: {
		struct ipt_reject_info t;
		memset(&t, 0, sizeof(t));
		t.with = f->af == AF_INET6 ? IP6T_ICMP6_PORT_UNREACH : IPT_ICMP_PORT_UNREACHABLE;
		off += put_target(AT, "REJECT", 0, &t, sizeof(t));
		break;
	}
	case IPT_T_DNAT: {
		struct nf_nat_range2 t;
		memset(&t, 0, sizeof(t));
		t.flags = NF_NAT_RANGE_MAP_IPS | NF_NAT_RANGE_PROTO_SPECIFIED;
		if (f->af == AF_INET6)
			t.min_addr.in6 = t.max_addr.in6 = r->to_addr.v6;
		else
			t.min_addr.ip = t.max_addr.ip = r->to_addr.v4.s_addr;
		t.min_proto.all = t.max_proto.all = htons(r->to_port);
		off += put_target(AT, "DNAT", 2, &t, sizeof(t));
		break;
	}
	case IPT_T_MARK: {
		struct xt_mark_tginfo2 t;
		memset(&t, 0, sizeof(t));
		t.mark = r->mark;
		t.mask = r->mark_mask;
		off += put_target(AT, "MARK", 2, &t, sizeof(t));
		break;
	}
	case IPT_T_MASQ:
		if (f->af == AF_INET6) {
			struct nf_nat_range t;
			memset(&t, 0, sizeof(t));
			t.flags = NF_NAT_RANGE_PROTO_RANDOM_FULLY;
			off += put_target(AT, "MASQUERADE", 0, &t, sizeof(t));
		} else {
			struct sy_nat_ipv4_multi_range t;
			memset(&t, 0, sizeof(t));
			t.rangesize = 1;
			t.range[0].flags = NF_NAT_RANGE_PROTO_RANDOM_FULLY;
			off += put_target(AT, "MASQUERADE", 0, &t, sizeof(t));
		}
		break;
	}
	if (e)
		ET(f, e)->next_offset = (uint16_t)off;
#undef AT
	return off;
}

static size_t put_head(const struct xt_fam *f, uint8_t *b, const char *name)
{
	if (b) {
		uint8_t *e = b;
		struct xt_error_target t;
		memset(&t, 0, sizeof(t));
		snprintf(t.errorname, sizeof(t.errorname), "%s", name);
		ET(f, e)->target_offset = f->hdr;
		ET(f, e)->next_offset = f->hdr + T_ERR;
		put_target(b + f->hdr, XT_ERROR_TARGET, 0, t.errorname, sizeof(t.errorname));
	}
	return f->hdr + T_ERR;
}

static size_t put_tail(const struct xt_fam *f, uint8_t *b)
{
	if (b) {
		uint8_t *e = b;
		ET(f, e)->target_offset = f->hdr;
		ET(f, e)->next_offset = f->hdr + T_STD;
		put_verdict(b + f->hdr, XT_RETURN);
	}
	return f->hdr + T_STD;
}

/* ---- building the new table ---- */

struct blob_lay {
	char name[IPT_CHAIN_MAXLEN + 1];
	uint32_t off, size;
	uint32_t idx, n_entries;	/* head entry index, entries incl. head and tail */
};

struct ipt_blob {
	const struct xt_fam *f;
	struct ipt_replace *repl;	/* header + entries (mmap'd); ip6t_replace is the same */
	size_t map_len;
	unsigned num;
	size_t size;
	uint64_t hash;
	bool hash_unknown;		/* patched in place: hash not recomputed */
	uint64_t gen;			/* plan->blob_gen at build (chain reuse) */
	struct blob_lay *lay;		/* our user chains in blob order */
	unsigned n_lay;
	double replace_seconds;		/* the last IPT_SO_SET_REPLACE call alone: wall */
	double replace_cpu_seconds;	/* and this thread's CPU (the kernel's work) */
	/* old index → new index of every kept entry, for the counters */
	uint32_t *keep_old, *keep_new;
	unsigned n_keep, cap_keep;
};

uint64_t ipt_blob_hash(const struct ipt_blob *b) { return b->hash; }
double ipt_blob_replace_seconds(const struct ipt_blob *b) { return b->replace_seconds; }
double ipt_blob_replace_cpu_seconds(const struct ipt_blob *b) { return b->replace_cpu_seconds; }

static double thread_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}
unsigned ipt_blob_entries(const struct ipt_blob *b) { return b->num; }
size_t ipt_blob_size(const struct ipt_blob *b) { return b->size; }

void ipt_blob_free(struct ipt_blob *b)
{
	if (!b)
		return;
	if (b->repl)
		munmap(b->repl, b->map_len);
	free(b->keep_old);
	free(b->keep_new);
	free(b->lay);
	free(b);
}

int ipt_ktable_from_blob(const struct ipt_blob *b, enum ipt_table t, struct ipt_ktable **ret)
{
	struct ipt_ktable *kt = xcalloc(1, sizeof(*kt));
	int r;

	kt->f = b->f;
	kt->t = t;
	snprintf(kt->info.name, sizeof(kt->info.name), "%s", ipt_table_name(t));
	kt->info.valid_hooks = b->repl->valid_hooks;
	memcpy(kt->info.hook_entry, b->repl->hook_entry, sizeof(kt->info.hook_entry));
	memcpy(kt->info.underflow, b->repl->underflow, sizeof(kt->info.underflow));
	kt->info.num_entries = b->num;
	kt->info.size = (unsigned)b->size;
	r = kt_parse(kt, (const uint8_t *)b->repl->entries, false);
	if (r < 0) {
		ipt_ktable_free(kt);
		return r;
	}
	kt->hash = b->hash;	/* the same normalised hash, already computed */
	kt->hash_unknown = b->hash_unknown;
	kt->from_gen = b->gen;
	*ret = kt;
	return 0;
}

static void keep(struct ipt_blob *b, uint32_t old_idx, uint32_t new_idx)
{
	if (b->n_keep == b->cap_keep) {
		b->cap_keep = b->cap_keep ? 2 * b->cap_keep : 256;
		b->keep_old = xrealloc(b->keep_old, b->cap_keep * sizeof(uint32_t));
		b->keep_new = xrealloc(b->keep_new, b->cap_keep * sizeof(uint32_t));
	}
	b->keep_old[b->n_keep] = old_idx;
	b->keep_new[b->n_keep++] = new_idx;
}

struct chain_vec {
	struct ipt_chain **v;
	unsigned n, cap;
};

static int kchain_cmp(const void *a, const void *b)
{
	return strcmp((*(struct kt_chain *const *)a)->name, (*(struct kt_chain *const *)b)->name);
}

static struct ipt_chain *find_ours(const struct chain_vec *cv, const char *name)
{
	unsigned lo = 0, hi = cv->n;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		int c = strcmp(cv->v[mid]->name, name);
		if (!c)
			return cv->v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/*
 * New verdict for a kept entry's jump to old offset v (the entry was at
 * old_off with size sz and is now at new_off): -1 if the target is gone.
 */
static int64_t relocate(const struct ipt_ktable *kt, const struct chain_vec *ours, int v,
			uint32_t old_off, uint32_t sz, uint32_t new_off)
{
	const struct kt_chain *c;

	if (v < 0)
		return v;
	if ((uint32_t)v == old_off + sz)	/* fall-through */
		return new_off + sz;
	c = kt_chain_at(kt, (uint32_t)v);
	if (!c)
		return -1;
	if (c->ours) {
		struct ipt_chain *oc = find_ours(ours, c->name);
		return oc && oc->used ? (int64_t)oc->first : -1;
	}
	return (int64_t)c->new_head + ((uint32_t)v - c->head);
}

/*
 * The chains a blob of table t lays out, each list sorted by name: ours
 * from the plan (none without a plan) into *ours, and the kernel's foreign
 * chains, returned (free it) with their count in *ret_n.
 */
static struct kt_chain **layout_chains(const struct ipt_ktable *kt, struct ipt_plan *plan,
				       enum ipt_table t, struct chain_vec *ours, unsigned *ret_n)
{
	struct kt_chain **fc = xcalloc(kt->n_chains + 1, sizeof(*fc));
	unsigned n = 0;

	if (plan)
		ipt_plan_sorted_chains(plan, t, &ours->v, &ours->n);
	for (unsigned i = 0; i < kt->n_chains; i++)
		if (!kt->chains[i].ours)
			fc[n++] = &kt->chains[i];
	qsort(fc, n, sizeof(*fc), kchain_cmp);
	*ret_n = n;
	return fc;
}

static bool valid_hook(const struct ipt_ktable *kt, unsigned h)
{
	return kt->info.valid_hooks & (1u << h);
}

/*
 * Point the kept (foreign) entries' jumps at their targets' new offsets:
 * the built-in chains' foreign rules at kr->new_off, the foreign chains at
 * c->new_head (kt holds the old offsets, ours the new chains of ours).
 */
static void relocate_kept(const struct ipt_ktable *kt, const struct chain_vec *ours, uint8_t *base,
			  struct kt_chain *const *fc, unsigned n_fc)
{
	const struct xt_fam *f = kt->f;

	for (unsigned h = 0; h < NF_INET_NUMHOOKS; h++) {
		const struct kt_builtin *bi = &kt->bi[h];
		if (!valid_hook(kt, h))
			continue;
		for (unsigned i = 0; i < bi->n_rules; i++) {
			const struct kt_rule *kr = &bi->rules[i];
			uint8_t *e = base + kr->new_off;
			struct xt_entry_target *tg = entry_target(f, e);
			if (!target_is_std(tg))
				continue;
			struct xt_standard_target *st = (struct xt_standard_target *)tg;
			int64_t nv = relocate(kt, ours, st->verdict, kr->old_off, kr->size, kr->new_off);
			if (nv == -1 && st->verdict >= 0) {
				/* a foreign jump to a chain of ours that is gone: make it a no-op */
				nv = kr->new_off + kr->size;
			}
			st->verdict = (int)nv;
		}
	}
	for (unsigned k = 0; k < n_fc; k++) {
		const struct kt_chain *c = fc[k];
		for (uint32_t o = 0; o < c->end - c->head;) {
			uint8_t *e = base + c->new_head + o;
			struct xt_entry_target *tg = entry_target(f, e);
			if (target_is_std(tg)) {
				struct xt_standard_target *st = (struct xt_standard_target *)tg;
				int64_t nv = relocate(kt, ours, st->verdict, c->head + o, ET(f, e)->next_offset,
						      c->new_head + o);
				if (nv == -1 && st->verdict >= 0)
					nv = c->new_head + o + ET(f, e)->next_offset;
				st->verdict = (int)nv;
			}
			o += ET(f, e)->next_offset;
		}
	}
}

int ipt_blob_build(const struct ipt_ktable *ktc, struct ipt_plan *plan, struct ipt_blob **ret)
{
	struct ipt_ktable *kt = (struct ipt_ktable *)ktc;	/* writer scratch fields only */
	const struct xt_fam *f = kt->f;
	enum ipt_table t = kt->t;
	struct ipt_blob *b = xcalloc(1, sizeof(*b));

	b->f = f;
	if (plan && plan->opts.family != f->af)
		return ipt_blob_free(b), -EAFNOSUPPORT;	/* a plan of the other family */

	if (plan)
		b->gen = ++plan->blob_gen;
	struct chain_vec ours = { 0 };
	struct kt_chain **fc = NULL;
	unsigned n_fc = 0, hook_entry[NF_INET_NUMHOOKS] = { 0 }, underflow[NF_INET_NUMHOOKS] = { 0 };
	uint32_t off, idx;
	uint8_t *base;
	int r = 0;

	fc = layout_chains(kt, plan, t, &ours, &n_fc);

	/* pass 1: offsets */
	for (int pass = 0; pass < 2; pass++) {
		base = pass ? (uint8_t *)b->repl->entries : NULL;
#define AT (base ? base + off : NULL)
		off = 0;
		idx = 0;
		for (unsigned h = 0; h < NF_INET_NUMHOOKS; h++) {
			struct kt_builtin *bi = &kt->bi[h];
			unsigned nj = plan ? plan->n_builtin[t][h] : 0;
			int pos = bi->ours_pos < 0 ? 0 : bi->ours_pos;
			if (!valid_hook(kt, h))
				continue;
			hook_entry[h] = off;
			for (int i = 0; i <= (int)bi->n_rules; i++) {
				if (i == pos)
					for (unsigned j = 0; j < nj; j++, idx++)
						off += rule_put(f, AT, &plan->builtin[t][h][j]);
				if (i == (int)bi->n_rules)
					break;
				struct kt_rule *kr = &bi->rules[i];
				if (!pass) {
					kr->new_off = off;
					kr->new_idx = idx;
				} else {
					memcpy(base + off, kt->fbuf + kr->fb, kr->size);
					keep(b, kr->old_idx, idx);
				}
				off += kr->size;
				idx++;
			}
			underflow[h] = off;
			if (pass) {
				memcpy(base + off, kt->fbuf + bi->policy.fb, bi->policy.size);
				keep(b, bi->policy.old_idx, idx);
			}
			off += bi->policy.size;
			idx++;
		}
		/* user chains, merged by name */
		unsigned i = 0, j = 0;
		while (i < ours.n || j < n_fc) {
			bool take_ours = j >= n_fc || (i < ours.n && strcmp(ours.v[i]->name, fc[j]->name) < 0);
			if (take_ours) {
				struct ipt_chain *c = ours.v[i++];
				if (!pass) {
					c->off = off;
					c->first = off + f->hdr + T_ERR;
				}
				off += put_head(f, AT, c->name);
				idx++;
				for (unsigned k = 0; k < c->n_rules; k++, idx++)
					off += rule_put(f, AT, &c->rules[k]);
				off += put_tail(f, AT);
				idx++;
				if (pass) {
					struct blob_lay *l = &b->lay[b->n_lay++];

					c->encoded = true;
					c->enc_gen = b->gen;
					c->enc_off = c->off;
					c->enc_size = off - c->off;
					memcpy(l->name, c->name, sizeof(l->name));
					l->off = c->off;
					l->size = c->enc_size;
					l->idx = idx - c->n_rules - 2;
					l->n_entries = c->n_rules + 2;
				}
			} else {
				struct kt_chain *c = fc[j++];
				if (!pass) {
					c->new_head = off;
					c->new_idx = idx;
				} else {
					memcpy(base + off, kt->fbuf + c->fb, c->end - c->head);
					for (uint32_t k = 0; k < c->n_entries; k++)
						keep(b, c->head_idx + k, idx + k);
				}
				off += c->end - c->head;
				idx += c->n_entries;
			}
		}
		off += put_head(f, AT, XT_ERROR_TARGET);
		idx++;
#undef AT
		if (pass && (off != b->size || idx != b->num)) {
			r = -EFAULT;	/* the sizing pass and the writer disagree: a bug */
			goto out;
		}
		if (!pass) {
			b->size = off;
			b->num = idx;
			/* room for a partial sync's relayout to grow into (ipt_blob_patch) */
			b->map_len = (sizeof(struct ipt_replace) + off + off / 32 + 4096 + 4095) &
				     ~(size_t)4095;
			void *m = mmap(NULL, b->map_len, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
			if (m == MAP_FAILED) {
				r = -errno;
				goto out;
			}
			b->repl = m;
			b->lay = xcalloc(ours.n + 1, sizeof(*b->lay));
		}
	}

	/* relocate the kept entries' jumps */
	base = (uint8_t *)b->repl->entries;
	relocate_kept(kt, &ours, base, fc, n_fc);
	/* kernel scratch fields start clean; hash the result */
	b->hash = hash_layout(0, kt->info.valid_hooks, hook_entry, underflow, b->num, (unsigned)b->size);
	for (off = 0; off < b->size;) {
		uint8_t *e = base + off;
		ET(f, e)->comefrom = 0;
		memset(e + f->cnt, 0, sizeof(struct xt_counters));
		b->hash = hash_entry(f, b->hash, e);
		off += ET(f, e)->next_offset;
	}
	snprintf(b->repl->name, sizeof(b->repl->name), "%s", ipt_table_name(t));
	b->repl->valid_hooks = kt->info.valid_hooks;
	b->repl->num_entries = b->num;
	b->repl->size = (unsigned)b->size;
	memcpy(b->repl->hook_entry, hook_entry, sizeof(hook_entry));
	memcpy(b->repl->underflow, underflow, sizeof(underflow));
out:
	free(ours.v);
	free(fc);
	if (r < 0) {
		ipt_blob_free(b);
		return r;
	}
	*ret = b;
	return 0;
}

int ipt_blob_commit(int fd, struct ipt_blob *b, const struct ipt_ktable *kt)
{
	struct xt_counters *old = NULL;
	struct xt_counters_info *ci = NULL;
	size_t cl;
	int r = 0;

	old = calloc(kt->info.num_entries + 1, sizeof(*old));
	if (!old)
		return -ENOMEM;
	b->repl->num_counters = kt->info.num_entries;
	b->repl->counters = old;
	double t0 = sy_now_mono(), c0 = thread_cpu();
	if (setsockopt(fd, b->f->level, IPT_SO_SET_REPLACE, b->repl,
		       (socklen_t)(sizeof(struct ipt_replace) + b->size)) < 0)
		r = -errno;
	b->replace_seconds = sy_now_mono() - t0;
	b->replace_cpu_seconds = thread_cpu() - c0;
	if (r < 0)
		goto out;
	/* carry the counters of what was kept (foreign rules, policies) */
	cl = sizeof(*ci) + (size_t)b->num * sizeof(struct xt_counters);
	ci = calloc(1, cl);
	if (!ci)
		goto out;	/* the table is written; counters are best effort */
	snprintf(ci->name, sizeof(ci->name), "%s", ipt_table_name(kt->t));
	ci->num_counters = b->num;
	bool any = false;
	for (unsigned i = 0; i < b->n_keep; i++) {
		if (b->keep_old[i] < kt->info.num_entries) {
			ci->counters[b->keep_new[i]] = old[b->keep_old[i]];
			any |= old[b->keep_old[i]].pcnt != 0;
		}
	}
	if (any)
		(void)setsockopt(fd, b->f->level, IPT_SO_SET_ADD_COUNTERS, ci, (socklen_t)cl);
out:
	if (r == 0) {
		/* the kernel now holds b: for a commit of b patched in place, kept = same index */
		for (unsigned i = 0; i < b->n_keep; i++)
			b->keep_old[i] = b->keep_new[i];
	}
	free(ci);
	free(old);
	return r;
}

/* Encode what lies at base + off in scratch and copy it there only if it differs. */
static bool patch_bytes(uint8_t *base, uint32_t off, const uint8_t *scratch, size_t len)
{
	if (!memcmp(base + off, scratch, len))
		return false;
	memcpy(base + off, scratch, len);
	return true;
}


/* ---- a new layout in the same buffer ---- */

unsigned ipt_moves_apply(uint8_t *base, struct ipt_move *mv, unsigned n)
{
	unsigned runs = 0, calls = 0;

	/* coalesce ranges adjacent in both layouts (the same shift) */
	for (unsigned i = 0; i < n; i++) {
		if (!mv[i].size)
			continue;
		if (runs && mv[runs - 1].old_off + mv[runs - 1].size == mv[i].old_off &&
		    mv[runs - 1].new_off + mv[runs - 1].size == mv[i].new_off) {
			mv[runs - 1].size += mv[i].size;
			continue;
		}
		mv[runs++] = mv[i];
	}
	/*
	 * Order is kept, so a range moving towards the start only ever lands on
	 * bytes already moved away (moved first to last), and one moving
	 * towards the end likewise (moved last to first).
	 */
	for (unsigned i = 0; i < runs; i++)
		if (mv[i].new_off < mv[i].old_off) {
			memmove(base + mv[i].new_off, base + mv[i].old_off, mv[i].size);
			calls++;
		}
	for (unsigned i = runs; i-- > 0;)
		if (mv[i].new_off > mv[i].old_off) {
			memmove(base + mv[i].new_off, base + mv[i].old_off, mv[i].size);
			calls++;
		}
	return calls;
}

static void move_add(struct ipt_move **mv, unsigned *n, unsigned *cap, uint32_t old_off,
		     uint32_t new_off, uint32_t size)
{
	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 256;
		*mv = xrealloc(*mv, *cap * sizeof(**mv));
	}
	(*mv)[(*n)++] = (struct ipt_move){ old_off, new_off, size };
}

/*
 * The table b now holds, as ipt_ktable_from_blob would parse it, from the
 * layout relayout() just wrote (kt: the old table, its writer scratch set;
 * b->lay: ours) — without walking 145k entries or the chains of the plan.
 */
static struct ipt_ktable *kt_after(const struct ipt_blob *b, const struct ipt_ktable *kt,
				   struct ipt_plan *plan, struct kt_chain *const *fc, unsigned n_fc)
{
	struct ipt_ktable *nk = xcalloc(1, sizeof(*nk));
	const struct xt_fam *f = kt->f;
	const uint8_t *base = (const uint8_t *)b->repl->entries;
	size_t fcap = 0;
	unsigned i = 0, j = 0, n = 0;

	nk->f = f;
	nk->t = kt->t;
	nk->info = kt->info;
	memcpy(nk->info.hook_entry, b->repl->hook_entry, sizeof(nk->info.hook_entry));
	memcpy(nk->info.underflow, b->repl->underflow, sizeof(nk->info.underflow));
	nk->info.num_entries = b->num;
	nk->info.size = (unsigned)b->size;
	for (unsigned h = 0; h < NF_INET_NUMHOOKS; h++) {
		const struct kt_builtin *bi = &kt->bi[h];
		struct kt_builtin *nb = &nk->bi[h];
		unsigned nj = plan->n_builtin[kt->t][h];

		nb->ours_pos = -1;
		if (!valid_hook(kt, h))
			continue;
		if (nj) {
			nb->ours_pos = bi->ours_pos < 0 ? 0 : bi->ours_pos;
			nk->has_ours = true;
		}
		nb->n_rules = bi->n_rules;
		if (bi->n_rules)
			nb->rules = xcalloc(bi->n_rules, sizeof(*nb->rules));
		for (unsigned k = 0; k < bi->n_rules; k++) {
			const struct kt_rule *kr = &bi->rules[k];
			struct kt_rule *r = &nb->rules[k];

			fb_add(nk, &fcap, base + kr->new_off, kr->size, &r->fb);
			r->size = kr->size;
			r->old_off = kr->new_off;
			r->old_idx = kr->new_idx;
		}
		fb_add(nk, &fcap, base + bi->policy.new_off, bi->policy.size, &nb->policy.fb);
		nb->policy.size = bi->policy.size;
		nb->policy.old_off = bi->policy.new_off;
		nb->policy.old_idx = bi->policy.new_idx;
	}
	nk->chains = xcalloc(b->n_lay + n_fc + 1, sizeof(*nk->chains));
	while (i < b->n_lay || j < n_fc) {
		struct kt_chain *c = &nk->chains[n++];

		if (j >= n_fc || (i < b->n_lay && b->lay[i].off < fc[j]->new_head)) {
			const struct blob_lay *l = &b->lay[i++];

			memcpy(c->name, l->name, sizeof(l->name));	/* NUL-terminated, c zeroed */
			c->head = l->off;
			c->first = l->off + f->hdr + T_ERR;
			c->end = l->off + l->size;
			c->head_idx = l->idx;
			c->n_entries = l->n_entries;
			c->ours = true;
			nk->has_ours = true;
		} else {
			const struct kt_chain *fo = fc[j++];

			*c = *fo;
			c->head = fo->new_head;
			c->first = fo->new_head + (fo->first - fo->head);
			c->end = fo->new_head + (fo->end - fo->head);
			c->head_idx = fo->new_idx;
			c->new_head = c->new_idx = 0;
			fb_add(nk, &fcap, base + c->head, c->end - c->head, &c->fb);
		}
	}
	nk->n_chains = n;
	nk->hash_unknown = true;
	nk->from_gen = b->gen;
	return nk;
}

/*
 * The layout changed (a chain grew, shrank, came or went): lay b out anew
 * in its own buffer.  Kept byte ranges (foreign entries and chains of ours
 * encoded in b and unchanged since) are moved, not re-encoded; the rest is
 * encoded in place; then every jump of a moved chain gets its target's new
 * offset (our chains' from the plan, foreign ones relocated as
 * ipt_blob_build does).  The result is byte for byte what ipt_blob_build
 * would make from kt and plan.  *ret_kt: the table as b now holds it.
 */
static int relayout(struct ipt_blob *b, const struct ipt_ktable *ktc, struct ipt_plan *plan,
		    const struct chain_vec *ours, struct kt_chain **fc, unsigned n_fc,
		    struct ipt_ktable **ret_kt)
{
	struct ipt_ktable *kt = (struct ipt_ktable *)ktc;	/* writer scratch fields only */
	const struct xt_fam *f = kt->f;
	enum ipt_table t = kt->t;
	unsigned hook_entry[NF_INET_NUMHOOKS] = { 0 }, underflow[NF_INET_NUMHOOKS] = { 0 };
	uint32_t jpos[NF_INET_NUMHOOKS] = { 0 };
	struct blob_lay *lay = xcalloc(ours->n + 1, sizeof(*lay));
	struct ipt_move *mv = NULL;
	unsigned n_mv = 0, cap_mv = 0, nl = 0;
	uint32_t off = 0, idx = 0, tail;
	uint8_t *base;
	int r = 0;

	/* 1. the new offsets, and what moves where */
	for (unsigned h = 0; h < NF_INET_NUMHOOKS; h++) {
		struct kt_builtin *bi = &kt->bi[h];
		unsigned nj = plan->n_builtin[t][h];
		int pos = bi->ours_pos < 0 ? 0 : bi->ours_pos;

		if (!valid_hook(kt, h))
			continue;
		hook_entry[h] = off;
		for (int i = 0; i <= (int)bi->n_rules; i++) {
			if (i == pos) {
				jpos[h] = off;
				for (unsigned j = 0; j < nj; j++, idx++)
					off += (uint32_t)rule_size(f, &plan->builtin[t][h][j]);
			}
			if (i == (int)bi->n_rules)
				break;
			struct kt_rule *kr = &bi->rules[i];
			move_add(&mv, &n_mv, &cap_mv, kr->old_off, off, kr->size);
			kr->new_off = off;
			kr->new_idx = idx++;
			off += kr->size;
		}
		underflow[h] = off;
		move_add(&mv, &n_mv, &cap_mv, bi->policy.old_off, off, bi->policy.size);
		bi->policy.new_off = off;
		bi->policy.new_idx = idx++;
		off += bi->policy.size;
	}
	for (unsigned i = 0, j = 0; i < ours->n || j < n_fc;) {
		if (j >= n_fc || (i < ours->n && strcmp(ours->v[i]->name, fc[j]->name) < 0)) {
			struct ipt_chain *c = ours->v[i];
			const struct blob_lay *ol = NULL;
			uint32_t size;

			while (nl < b->n_lay && strcmp(b->lay[nl].name, c->name) < 0)
				nl++;
			if (nl < b->n_lay && !strcmp(b->lay[nl].name, c->name))
				ol = &b->lay[nl];
			c->reuse = ol && c->encoded && c->enc_gen == b->gen && ol->off == c->enc_off &&
				   ol->size == c->enc_size;
			if (c->reuse) {
				size = c->enc_size;
				move_add(&mv, &n_mv, &cap_mv, ol->off, off, size);
			} else {
				size = f->hdr + T_ERR + f->hdr + T_STD;
				for (unsigned k = 0; k < c->n_rules; k++)
					size += (uint32_t)rule_size(f, &c->rules[k]);
			}
			c->off = off;
			c->first = off + f->hdr + T_ERR;
			c->enc_size = size;
			memcpy(lay[i].name, c->name, sizeof(lay[i].name));
			lay[i].off = off;
			lay[i].size = size;
			lay[i].idx = idx;
			lay[i].n_entries = c->n_rules + 2;
			off += size;
			idx += c->n_rules + 2;
			i++;
		} else {
			struct kt_chain *c = fc[j++];

			move_add(&mv, &n_mv, &cap_mv, c->head, off, c->end - c->head);
			c->new_head = off;
			c->new_idx = idx;
			off += c->end - c->head;
			idx += c->n_entries;
		}
	}
	tail = off;
	off += f->hdr + T_ERR;
	idx++;

	/* 2. room for it (mremap moves page tables, not bytes) */
	if (sizeof(struct ipt_replace) + off > b->map_len) {
		size_t len = sizeof(struct ipt_replace) + off + off / 32 + 4096;
		void *m;

		len = (len + 4095) & ~(size_t)4095;
		m = mremap(b->repl, b->map_len, len, MREMAP_MAYMOVE);
		if (m == MAP_FAILED) {
			r = -errno;	/* b is untouched */
			goto out;
		}
		b->repl = m;
		b->map_len = len;
	}
	base = (uint8_t *)b->repl->entries;

	/* 3. move what is kept, encode the rest */
	ipt_moves_apply(base, mv, n_mv);
	for (unsigned h = 0; h < NF_INET_NUMHOOKS; h++) {
		uint32_t o = jpos[h];

		if (!valid_hook(kt, h))
			continue;
		for (unsigned j = 0; j < plan->n_builtin[t][h]; j++) {
			size_t len = rule_size(f, &plan->builtin[t][h][j]);

			memset(base + o, 0, len);
			o += (uint32_t)rule_put(f, base + o, &plan->builtin[t][h][j]);
		}
	}
	for (unsigned i = 0; i < ours->n; i++) {
		struct ipt_chain *c = ours->v[i];
		uint32_t o = c->off;

		if (c->reuse) {
			/* 4. its jumps: the targets' new offsets */
			o += f->hdr + T_ERR;
			for (unsigned k = 0; k < c->n_rules; k++) {
				uint8_t *e = base + o;

				if (c->rules[k].target == IPT_T_JUMP)
					((struct xt_standard_target *)entry_target(f, e))->verdict =
						(int)c->rules[k].jump->first;
				o += ET(f, e)->next_offset;
			}
		} else {
			memset(base + o, 0, c->enc_size);
			o += (uint32_t)put_head(f, base + o, c->name);
			for (unsigned k = 0; k < c->n_rules; k++)
				o += (uint32_t)rule_put(f, base + o, &c->rules[k]);
			put_tail(f, base + o);
		}
		c->encoded = true;
		c->enc_gen = b->gen;
		c->enc_off = c->off;
	}
	memset(base + tail, 0, f->hdr + T_ERR);
	put_head(f, base + tail, XT_ERROR_TARGET);
	relocate_kept(kt, ours, base, fc, n_fc);

	/* 5. b describes its new self; the kept entries' counters map old → new */
	b->size = off;
	b->num = idx;
	b->repl->num_entries = idx;
	b->repl->size = off;
	memcpy(b->repl->hook_entry, hook_entry, sizeof(hook_entry));
	memcpy(b->repl->underflow, underflow, sizeof(underflow));
	free(b->lay);
	b->lay = lay;
	lay = NULL;
	b->n_lay = ours->n;
	b->hash_unknown = true;
	b->n_keep = 0;
	for (unsigned h = 0; h < NF_INET_NUMHOOKS; h++) {
		const struct kt_builtin *bi = &kt->bi[h];

		if (!valid_hook(kt, h))
			continue;
		for (unsigned i = 0; i < bi->n_rules; i++)
			keep(b, bi->rules[i].old_idx, bi->rules[i].new_idx);
		keep(b, bi->policy.old_idx, bi->policy.new_idx);
	}
	for (unsigned k = 0; k < n_fc; k++)
		for (uint32_t e = 0; e < fc[k]->n_entries; e++)
			keep(b, fc[k]->head_idx + e, fc[k]->new_idx + e);
	*ret_kt = kt_after(b, kt, plan, fc, n_fc);
out:
	free(lay);
	free(mv);
	return r;
}

int ipt_blob_patch(struct ipt_blob *b, const struct ipt_ktable *kt, struct ipt_plan *plan,
		   bool *ret_changed, struct ipt_ktable **ret_kt)
{
	const struct xt_fam *f = kt->f;
	struct chain_vec ours = { 0 };
	struct kt_chain **fc = NULL;
	uint8_t *base = (uint8_t *)b->repl->entries, *scratch = NULL;
	size_t scap = 0;
	unsigned n_fc = 0, nl = 0;
	uint32_t off = 0, idx = 0;
	bool changed = false;
	int r = -ESTALE;
	enum ipt_table t = kt->t;

	*ret_kt = NULL;
	/* only a table this blob wrote and nobody changed since (same foreign parts) */
	if (!plan || !b->gen || kt->from_gen != b->gen || !b->lay || b->f != f)
		return -ESTALE;
	fc = layout_chains(kt, plan, t, &ours, &n_fc);

	/* 1. the layout must be the blob's: then every jump offset stays valid */
	for (unsigned h = 0; h < NF_INET_NUMHOOKS; h++) {
		const struct kt_builtin *bi = &kt->bi[h];
		unsigned nj = plan->n_builtin[t][h];
		int pos = bi->ours_pos < 0 ? 0 : bi->ours_pos;

		if (!valid_hook(kt, h))
			continue;
		if (off != b->repl->hook_entry[h])
			goto relay;
		for (int i = 0; i <= (int)bi->n_rules; i++) {
			if (i == pos)
				for (unsigned j = 0; j < nj; j++, idx++)
					off += rule_size(f, &plan->builtin[t][h][j]);
			if (i == (int)bi->n_rules)
				break;
			if (off != bi->rules[i].old_off)
				goto relay;
			off += bi->rules[i].size;
			idx++;
		}
		if (off != b->repl->underflow[h])
			goto relay;
		off += bi->policy.size;
		idx++;
	}
	for (unsigned i = 0, j = 0; i < ours.n || j < n_fc;) {
		if (j >= n_fc || (i < ours.n && strcmp(ours.v[i]->name, fc[j]->name) < 0)) {
			struct ipt_chain *c = ours.v[i++];
			uint32_t size;

			c->reuse = c->encoded && c->enc_gen == b->gen;
			if (c->reuse) {
				size = c->enc_size;
			} else {
				size = f->hdr + T_ERR + f->hdr + T_STD;
				for (unsigned k = 0; k < c->n_rules; k++)
					size += (uint32_t)rule_size(f, &c->rules[k]);
			}
			if (nl >= b->n_lay || strcmp(b->lay[nl].name, c->name) ||
			    b->lay[nl].off != off || b->lay[nl].size != size)
				goto relay;
			nl++;
			c->off = off;
			c->first = off + f->hdr + T_ERR;
			off += size;
			idx += c->n_rules + 2;
		} else {
			const struct kt_chain *c = fc[j++];

			if (off != c->head)
				goto relay;
			off += c->end - c->head;
			idx += c->n_entries;
		}
	}
	off += f->hdr + T_ERR;
	idx++;
	if (nl != b->n_lay || off != b->size || idx != b->num)
		goto relay;

	/* 2. rewrite what may differ: our built-in jumps and chains not reused */
	off = 0;
	for (unsigned h = 0; h < NF_INET_NUMHOOKS; h++) {
		const struct kt_builtin *bi = &kt->bi[h];
		unsigned nj = plan->n_builtin[t][h];
		uint32_t o = b->repl->hook_entry[h];

		if (!valid_hook(kt, h))
			continue;
		/* our jumps sit before the foreign rule at ours_pos (or the policy) */
		if (nj) {
			int pos = bi->ours_pos < 0 ? 0 : bi->ours_pos;

			o = pos < (int)bi->n_rules ? bi->rules[pos].old_off : b->repl->underflow[h];
			for (unsigned j = 0; j < nj; j++)
				o -= (uint32_t)rule_size(f, &plan->builtin[t][h][j]);
			for (unsigned j = 0; j < nj; j++) {
				size_t len = rule_size(f, &plan->builtin[t][h][j]);

				if (len > scap) {
					scap = len * 2;
					scratch = xrealloc(scratch, scap);
				}
				memset(scratch, 0, len);
				rule_put(f, scratch, &plan->builtin[t][h][j]);
				changed |= patch_bytes(base, o, scratch, len);
				o += (uint32_t)len;
			}
		}
	}
	for (unsigned i = 0; i < ours.n; i++) {
		struct ipt_chain *c = ours.v[i];
		uint32_t size = b->lay[i].size, o = 0;

		if (c->reuse)
			continue;
		if (size > scap) {
			scap = size * 2;
			scratch = xrealloc(scratch, scap);
		}
		memset(scratch, 0, size);
		o += (uint32_t)put_head(f, scratch, c->name);
		for (unsigned k = 0; k < c->n_rules; k++)
			o += (uint32_t)rule_put(f, scratch + o, &c->rules[k]);
		put_tail(f, scratch + o);
		changed |= patch_bytes(base, c->off, scratch, size);
		c->encoded = true;
		c->enc_off = c->off;
		c->enc_size = size;
		c->enc_gen = b->gen;
	}
	if (changed)
		b->hash_unknown = true;
	*ret_changed = changed;
	r = 0;
	goto out;
relay:
	r = relayout(b, kt, plan, &ours, fc, n_fc, ret_kt);
	*ret_changed = r == 0;
out:
	free(scratch);
	free(ours.v);
	free(fc);
	return r;
}

long ipt_blob_diff(const struct ipt_blob *a, const struct ipt_blob *b)
{
	const struct ipt_replace *x = a->repl, *y = b->repl;

	if (x->valid_hooks != y->valid_hooks || x->num_entries != y->num_entries ||
	    x->size != y->size || a->size != b->size || a->num != b->num ||
	    memcmp(x->hook_entry, y->hook_entry, sizeof(x->hook_entry)) ||
	    memcmp(x->underflow, y->underflow, sizeof(x->underflow)))
		return -2;
	for (size_t i = 0; i < a->size; i++)
		if (((const uint8_t *)x->entries)[i] != ((const uint8_t *)y->entries)[i])
			return (long)i;
	return -1;
}

bool ipt_ktable_same(const struct ipt_ktable *a, const struct ipt_ktable *b)
{
	if (a->t != b->t || a->info.valid_hooks != b->info.valid_hooks ||
	    a->info.num_entries != b->info.num_entries || a->info.size != b->info.size ||
	    memcmp(a->info.hook_entry, b->info.hook_entry, sizeof(a->info.hook_entry)) ||
	    memcmp(a->info.underflow, b->info.underflow, sizeof(a->info.underflow)) ||
	    a->n_chains != b->n_chains || a->has_ours != b->has_ours)
		return false;
	for (unsigned i = 0; i < a->n_chains; i++) {
		const struct kt_chain *x = &a->chains[i], *y = &b->chains[i];

		if (strcmp(x->name, y->name) || x->head != y->head || x->first != y->first ||
		    x->end != y->end || x->head_idx != y->head_idx || x->n_entries != y->n_entries ||
		    x->ours != y->ours ||
		    (!x->ours && memcmp(a->fbuf + x->fb, b->fbuf + y->fb, x->end - x->head)))
			return false;
	}
	for (unsigned h = 0; h < NF_INET_NUMHOOKS; h++) {
		const struct kt_builtin *x = &a->bi[h], *y = &b->bi[h];

		if (!(a->info.valid_hooks & (1u << h)))
			continue;
		if (x->n_rules != y->n_rules || x->ours_pos != y->ours_pos)
			return false;
		for (unsigned i = 0; i <= x->n_rules; i++) {
			const struct kt_rule *p = i < x->n_rules ? &x->rules[i] : &x->policy;
			const struct kt_rule *q = i < y->n_rules ? &y->rules[i] : &y->policy;

			if (p->size != q->size || p->old_off != q->old_off || p->old_idx != q->old_idx ||
			    memcmp(a->fbuf + p->fb, b->fbuf + q->fb, p->size))
				return false;
		}
	}
	return true;
}

struct ipt_ktable *ipt_ktable_empty(int family, enum ipt_table t)
{
	const struct xt_fam *f = fam_of(family);
	struct ipt_ktable *kt = xcalloc(1, sizeof(*kt));
	unsigned hooks = ipt_table_hooks(t), n = 0;
	uint8_t *buf = xcalloc(NF_INET_NUMHOOKS + 1, f->hdr + T_ERR + T_STD);
	uint32_t off = 0;

	kt->f = f;
	kt->t = t;
	snprintf(kt->info.name, sizeof(kt->info.name), "%s", ipt_table_name(t));
	kt->info.valid_hooks = hooks;
	for (unsigned h = 0; h < NF_INET_NUMHOOKS; h++) {
		uint8_t *e = buf + off;

		kt->info.hook_entry[h] = kt->info.underflow[h] = hooks & (1u << h) ? off : 0xffffffff;
		if (!(hooks & (1u << h)))
			continue;
		ET(f, e)->target_offset = f->hdr;
		ET(f, e)->next_offset = f->hdr + T_STD;
		put_verdict(buf + off + f->hdr, -NF_ACCEPT - 1);
		off += f->hdr + T_STD;
		n++;
	}
	put_head(f, buf + off, XT_ERROR_TARGET);
	kt->info.size = off + f->hdr + T_ERR;
	kt->info.num_entries = n + 1;
	if (kt_parse(kt, buf, true) < 0) {
		ipt_ktable_free(kt);
		kt = NULL;
	}
	free(buf);
	return kt;
}

bool ipt_blob_matches(const struct ipt_blob *b, const struct ipt_ktable *kt)
{
	return !b->hash_unknown && !kt->hash_unknown && b->hash == kt->hash;
}

void ipt_ktable_patched(struct ipt_ktable *kt)
{
	kt->hash_unknown = true;
}

/* ---- socket and lock ---- */

