/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SWITCHYARD_NFT_H
#define SWITCHYARD_NFT_H
/*
 * The thin nf_tables layer (lib/nft.c) over libnftnl + libmnl: one netlink
 * batch (NFNL_MSG_BATCH_BEGIN ... END = one kernel transaction) of table /
 * chain / rule / set / element adds and deletes, a small rule description
 * (struct sy_nft_rule: the rule shapes the nftables mode needs) that the
 * batch turns into expressions, sending with error mapping to the failing
 * message, and dump readers for verification.  No mode knowledge here.
 *
 * Every rule carries its fingerprint as a comment ("sy:<16 hex>"), so a
 * dump can be compared with the plan without decoding expressions.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include "switchyard/addr.h"

/* struct sy_nft_rule.m: matches, ANDed, in this order */
#define SY_NFT_M_CT_NEW		0x0001	/* ct state new */
/*
 * Every address below is of the batch's family: an `ip` table's rules
 * match IPv4 headers (`ip saddr`, 4 bytes), an `ip6` table's IPv6 headers
 * (`ip6 saddr`, 16 bytes); the same rule shape serves both.
 */
#define SY_NFT_M_SADDR		0x0002	/* ip saddr saddr/splen */
#define SY_NFT_M_SADDR_INV	0x0004	/* ... != */
#define SY_NFT_M_DADDR		0x0008	/* ip daddr daddr/dplen */
#define SY_NFT_M_DADDR_INV	0x0010
#define SY_NFT_M_L4PROTO	0x0020	/* meta l4proto l4proto */
#define SY_NFT_M_DPORT		0x0040	/* th dport dport */
#define SY_NFT_M_FIB_DLOCAL	0x0080	/* fib daddr type local */
#define SY_NFT_M_FIB_SLOCAL	0x0100	/* fib saddr type local */
#define SY_NFT_M_DADDR_NOT_LO	0x0200	/* ip daddr != 127.0.0.0/8 (ip6: ip6 daddr != ::1) */
#define SY_NFT_M_MARK_UNSET	0x0400	/* mark and mark_bit == 0 */
#define SY_NFT_M_SADDR_SET	0x0800	/* ip saddr @mset */
#define SY_NFT_M_DADDR_SET	0x1000	/* ip daddr @mset */
#define SY_NFT_M_NUMGEN		0x2000	/* numgen random mod numgen_mod == 0 */
#define SY_NFT_M_CT_DNAT	0x4000	/* ct status dnat */
#define SY_NFT_M_SD_SET		0x8000	/* ip saddr . ip daddr @mset */
/*
 * The low nibble of the destination: ip daddr & 0.0.0.15 == 0.0.0.low (ip6:
 * ip6 daddr & ::f == ::low), th dport & 15 == low (the shared chains'
 * guards: payload, bitwise, cmp; no lookup)
 */
#define SY_NFT_M_DADDR_LOW	0x10000
#define SY_NFT_M_DPORT_LOW	0x20000

enum sy_nft_act {
	SY_NFT_A_NONE,
	SY_NFT_A_ACCEPT,
	SY_NFT_A_DROP,
	SY_NFT_A_RETURN,
	SY_NFT_A_JUMP,		/* jump chain */
	SY_NFT_A_GOTO,		/* goto chain */
	SY_NFT_A_REJECT,	/* reject (icmp / icmpv6 port-unreachable) */
	SY_NFT_A_VMAP_DPP,	/* ip daddr . meta l4proto . th dport vmap @set */
	SY_NFT_A_VMAP_PP,	/* meta l4proto . th dport vmap @set */
	SY_NFT_A_MARK_OR,	/* meta mark set mark or mark_bit */
	SY_NFT_A_MARK_XOR,	/* meta mark set mark xor mark_bit */
	SY_NFT_A_MASQ,		/* masquerade fully-random */
	SY_NFT_A_DNAT,		/* dnat to to_addr:to_port (needs M_L4PROTO) */
	SY_NFT_A_UPDATE_SADDR,	/* update @set { ip saddr } (the set's timeout) */
	/* dnat ip to numgen random mod numgen_mod offset numgen_off map @set
	 * (a K_NG → ipvX_addr . inet_service interval map: the numgen value
	 * goes through `byteorder hton` first, keys are big-endian (the
	 * kernel's rbtree orders keys by memcmp); needs M_L4PROTO) */
	SY_NFT_A_DNAT_MAP,
	/* dnat ip to ip daddr . meta l4proto . th dport . numgen random mod
	 * numgen_mod map @set (a K_DPPV → ipvX_addr . inet_service interval
	 * map; the numgen value through `byteorder hton`, keys big-endian);
	 * rkey: which key (enum sy_nft_rkey) */
	SY_NFT_A_DNAT_RANGES,
};

/* struct sy_nft_rule.rkey: the key of A_DNAT_RANGES before the numgen value */
enum sy_nft_rkey {
	SY_NFT_RK_DPP,		/* ip daddr . meta l4proto . th dport */
	SY_NFT_RK_DPORT_PROTO,	/* ip daddr . th dport . meta l4proto (sy_nft_key_swap) */
	SY_NFT_RK_NODEPORT,	/* the address 0.0.0.0 / :: . meta l4proto . th dport */
};

struct sy_nft_rule {
	uint32_t m;			/* SY_NFT_M_* */
	uint8_t act;			/* enum sy_nft_act */
	uint8_t splen, dplen, l4proto;
	uint16_t dport, to_port;	/* host order */
	uint32_t numgen_mod;
	uint32_t mark_bit;
	struct sy_addr saddr, daddr, to_addr;	/* IPv4 in an ip table, IPv6 in ip6 */
	const char *mset;		/* M_SADDR_SET / M_DADDR_SET */
	const char *set;		/* A_VMAP_* / A_UPDATE_SADDR */
	const char *chain;		/* A_JUMP / A_GOTO */
	uint32_t numgen_off;		/* A_DNAT_MAP */
	uint8_t rkey;			/* A_DNAT_RANGES: enum sy_nft_rkey */
	uint8_t low;			/* M_DADDR_LOW / M_DPORT_LOW: the nibble (< 16) */
};

/* The rule's fingerprint (its comment "sy:%016llx"). */
uint64_t sy_nft_rule_fp(const struct sy_nft_rule *r);

/*
 * Set key types.  ADDR is the table family's address type: ipv4_addr (4
 * bytes) in an ip table, ipv6_addr (16) in an ip6 table; lengths below
 * are IPv4 / IPv6.
 */
enum sy_nft_key {
	SY_NFT_K_ADDR,		/* ipvX_addr (4 / 16 bytes) */
	SY_NFT_K_DPP,		/* ipvX_addr . inet_proto . inet_service (12 / 24 bytes) */
	SY_NFT_K_PP,		/* inet_proto . inet_service (8 bytes) */
	SY_NFT_K_NG,		/* a numgen value, host order (nft type mark, 4 bytes) */
	SY_NFT_K_AA,		/* ipvX_addr . ipvX_addr (8 / 32 bytes; key_make: a . a) */
	/*
	 * ipvX_addr . inet_proto . inet_service . a numgen value (big-endian),
	 * 16 / 28 bytes, one field for the kernel (an interval map's rbtree
	 * orders it by memcmp; nft prints the type as integer: nft 1.0.6
	 * cannot list an interval set whose concatenated type has no field
	 * description, and a field description makes it a pipapo set);
	 * key_make: the address . proto . port, the value 0
	 */
	SY_NFT_K_DPPV,
};
#define SY_NFT_KEY_MAX 32
/* A key's length in a table of family (NFPROTO_IPV4 / NFPROTO_IPV6 = AF_INET / AF_INET6). */
unsigned sy_nft_key_len(enum sy_nft_key k, int family);
/*
 * Fill a key: addr/proto/port as the set type needs (port host order; the
 * address's own family gives its length); returns its length.
 */
unsigned sy_nft_key_make(uint8_t *out, enum sy_nft_key k, const struct sy_addr *a, uint8_t proto,
			 uint16_t port);
/*
 * A K_DPPV key (of length klen) made by key_make turned into the
 * SY_NFT_RK_DPORT_PROTO layout: the proto's and the port's 32-bit words
 * after the address swapped.
 */
void sy_nft_key_swap(uint8_t *key, unsigned klen);
/* A K_NG key; returns 4. */
unsigned sy_nft_key_ng(uint8_t *out, uint32_t v);
/* The data of an ipvX_addr . inet_service map element (8 / 20 bytes); returns its length. */
#define SY_NFT_AP_LEN 20
unsigned sy_nft_ap_make(uint8_t *out, const struct sy_addr *a, uint16_t port);

struct sy_nft_set {
	const char *name;
	uint8_t key;			/* enum sy_nft_key */
	bool map;			/* verdict map */
	uint32_t timeout_s;		/* > 0: dynamic set with this timeout */
	bool ap_data;			/* a data map: ... : ipvX_addr . inet_service */
	bool interval;			/* flags interval (K_NG: big-endian keys) */
};

/* Element verdict (maps) */
enum sy_nft_ev { SY_NFT_EV_NONE, SY_NFT_EV_GOTO, SY_NFT_EV_DROP, SY_NFT_EV_ACCEPT };

struct sy_nft_hook {
	const char *type;		/* "filter", "nat" */
	unsigned hooknum;		/* NF_INET_* */
	int prio;
};

struct sy_nft;			/* a netlink socket */
struct sy_nft_batch;

int sy_nft_open(struct sy_nft **ret);
void sy_nft_close(struct sy_nft *n);

struct sy_nft_batch *sy_nft_batch_new(int family, const char *table);
void sy_nft_batch_free(struct sy_nft_batch *b);
/* Messages so far (without begin/end) and bytes. */
unsigned sy_nft_batch_count(const struct sy_nft_batch *b);
size_t sy_nft_batch_bytes(const struct sy_nft_batch *b);
/* Messages added after this carry tag (reported on error); default -1. */
void sy_nft_batch_tag(struct sy_nft_batch *b, int tag);
/*
 * A freed batch's pages are kept for the next batches (up to 8 of 320 KB:
 * a page reused is not faulted in again); give back all but keep of them.
 */
void sy_nft_pool_trim(unsigned keep);
unsigned sy_nft_pool_count(void);	/* pages kept */

void sy_nft_table_add(struct sy_nft_batch *b);
void sy_nft_table_del(struct sy_nft_batch *b);
/* hook NULL: a regular chain */
void sy_nft_chain_add(struct sy_nft_batch *b, const char *name, const struct sy_nft_hook *hook);
void sy_nft_chain_flush(struct sy_nft_batch *b, const char *name);
void sy_nft_chain_del(struct sy_nft_batch *b, const char *name);
int sy_nft_rule_add(struct sy_nft_batch *b, const char *chain, const struct sy_nft_rule *r);
void sy_nft_set_add(struct sy_nft_batch *b, const struct sy_nft_set *s);
void sy_nft_set_del(struct sy_nft_batch *b, const char *name);
void sy_nft_set_flush(struct sy_nft_batch *b, const char *name);
/* One element; chain only for EV_GOTO. */
void sy_nft_elem(struct sy_nft_batch *b, bool add, const char *set, const uint8_t *key,
		 unsigned klen, uint8_t ev, const char *chain);
/* One element of an ap_data map; data NULL (a delete): the key only. */
void sy_nft_elem_data(struct sy_nft_batch *b, bool add, const char *set, const uint8_t *key,
		      unsigned klen, const uint8_t *data, unsigned dlen);
/*
 * One element of an interval set: a range's start (with data when added),
 * or with end set its end element (NFT_SET_ELEM_INTERVAL_END, the first
 * key after the range; no data).
 */
void sy_nft_elem_iv(struct sy_nft_batch *b, bool add, const char *set, const uint8_t *key,
		    unsigned klen, bool end, const uint8_t *data, unsigned dlen);

struct sy_nft_error {
	int err;			/* -errno */
	int tag;			/* the failing message's tag, -1 if none */
	char what[300];			/* "add rule service-.../...: No such file or directory" */
};

/*
 * Send the batch as one transaction and wait for the kernel's answer.
 * 0, or -errno with *e describing the first failing message (the kernel
 * then applied nothing).  *kernel_s: seconds in sendmsg (the kernel's
 * processing of the batch).
 */
int sy_nft_send(struct sy_nft *n, struct sy_nft_batch *b, struct sy_nft_error *e, double *kernel_s);

/* ---- dumps ---- */
/* 1 if the table exists, 0 if not, -errno */
int sy_nft_table_exists(struct sy_nft *n, int family, const char *table);
/*
 * True for an error of sy_nft_open or sy_nft_table_exists that says the
 * kernel has no nf_tables (none built in, no module loadable): nfnetlink
 * answers EINVAL to a message for a subsystem it does not know, and a
 * kernel without nfnetlink refuses the socket.
 */
bool sy_nft_unavailable(int err);
/* Chains of the table: cb(arg, name, is_base) */
int sy_nft_dump_chains(struct sy_nft *n, int family, const char *table,
		       void (*cb)(void *arg, const char *name, bool base), void *arg);
/* Rules of the table in order: cb(arg, chain, fp) (fp 0 = no sy: comment) */
int sy_nft_dump_rules(struct sy_nft *n, int family, const char *table,
		      void (*cb)(void *arg, const char *chain, uint64_t fp), void *arg);
/* Sets of the table: cb(arg, name) */
int sy_nft_dump_sets(struct sy_nft *n, int family, const char *table,
		     void (*cb)(void *arg, const char *name), void *arg);
/* Elements of one set: sy_nft_dump_elems2 below */

/* ---- generic shapes (the NetworkPolicy table, inet family) ----
 * Set keys and lookups are concatenations of fields; each field takes one
 * 32-bit register (nft's layout), so a key is 4 bytes per field (IPv6: 16).
 */
enum sy_nft_field {
	SY_NFT_F_IP4_SADDR,		/* ip saddr (ipv4_addr) */
	SY_NFT_F_IP4_DADDR,		/* ip daddr */
	SY_NFT_F_IP6_SADDR,		/* ip6 saddr (ipv6_addr, 16 bytes) */
	SY_NFT_F_IP6_DADDR,
	SY_NFT_F_L4PROTO,		/* meta l4proto (inet_proto) */
	SY_NFT_F_TH_DPORT,		/* th dport (inet_service) */
	SY_NFT_F_MARK,			/* a 32-bit value (nft type mark): map data / vmap key */
};
#define SY_NFT_FIELDS_MAX 4
/* Bytes the field takes in a key (4 or 16) and its value length (1, 2, 4, 16). */
unsigned sy_nft_field_len(uint8_t f);
unsigned sy_nft_field_vlen(uint8_t f);
/* Put a value into a key at its field's offset (zero padded); returns the next offset. */
unsigned sy_nft_key_put(uint8_t *key, unsigned off, uint8_t f, const void *val);

enum sy_nft_data { SY_NFT_D_NONE, SY_NFT_D_VERDICT, SY_NFT_D_MARK };

struct sy_nft_set2 {
	const char *name;
	uint8_t fields[SY_NFT_FIELDS_MAX];	/* enum sy_nft_field: the key */
	unsigned n_fields;
	bool interval;			/* ranges (elements carry key_end; concatenations only) */
	uint8_t data;			/* enum sy_nft_data */
};
void sy_nft_set2_add(struct sy_nft_batch *b, const struct sy_nft_set2 *s);

/*
 * One element of a set2: key (and key_end for a range in an interval set,
 * NULL = a single value), data for a mark map, ev/chain for a verdict map.
 */
struct sy_nft_elem2 {
	const uint8_t *key, *key_end;
	unsigned klen;
	bool has_data;			/* SY_NFT_D_MARK: data */
	uint32_t data;
	uint8_t ev;			/* SY_NFT_D_VERDICT: enum sy_nft_ev */
	const char *chain;		/* EV_GOTO, EV_JUMP */
};
#define SY_NFT_EV_JUMP 4		/* enum sy_nft_ev, continued */
void sy_nft_elem2(struct sy_nft_batch *b, bool add, const char *set, const struct sy_nft_elem2 *e);

/* A rule built expression by expression (the matches ANDed in call order). */
struct sy_nft_rb;
struct sy_nft_rb *sy_nft_rb_new(void);
void sy_nft_rb_free(struct sy_nft_rb *rb);
void sy_nft_rb_nfproto(struct sy_nft_rb *rb, uint8_t nfproto);	/* meta nfproto == */
void sy_nft_rb_ct_state(struct sy_nft_rb *rb, uint32_t bits);	/* ct state & bits != 0 */
/* fields ... [!]= @set */
void sy_nft_rb_lookup(struct sy_nft_rb *rb, const uint8_t *fields, unsigned n, const char *set,
		      bool inv);
/* id . fields ... [!]= @set: a 32-bit constant (network order in the key) before the fields */
void sy_nft_rb_lookup_id(struct sy_nft_rb *rb, uint32_t id, const uint8_t *fields, unsigned n,
			 const char *set, bool inv);
/* (fields map @map) vmap @vmap: the first map's 32-bit value is the verdict map's key */
void sy_nft_rb_map_vmap(struct sy_nft_rb *rb, const uint8_t *fields, unsigned n, const char *map,
			const char *vmap);
/* accept, drop, return, jump/goto chain */
void sy_nft_rb_verdict(struct sy_nft_rb *rb, enum sy_nft_act act, const char *chain);
/* fib saddr type local (the packet comes from one of this host's addresses) */
void sy_nft_rb_fib_saddr_local(struct sy_nft_rb *rb);
/* meta l4proto ipv6-icmp icmpv6 type lo-hi (meta nfproto ipv6 is the caller's) */
void sy_nft_rb_icmp6_type(struct sy_nft_rb *rb, uint8_t lo, uint8_t hi);
/* reject with icmpx admin-prohibited (either family) */
void sy_nft_rb_reject_admin(struct sy_nft_rb *rb);
/* Append the rule to chain with the comment "sy:<fp>[ note]" (consumes rb). */
void sy_nft_rb_add(struct sy_nft_batch *b, const char *chain, struct sy_nft_rb *rb, uint64_t fp,
		   const char *note);
/* FNV-1a of a string (a fingerprint for sy_nft_rb_add); never 0. */
uint64_t sy_nft_fp_str(const char *s);

/* Elements of one set with key_end, mark data and verdicts. */
struct sy_nft_elem_info {
	const uint8_t *key, *key_end;	/* key_end NULL: none */
	unsigned klen, kelen;
	bool has_data;
	uint32_t data;
	uint8_t ev;			/* enum sy_nft_ev, SY_NFT_EV_JUMP, or 0xff (other) */
	const char *chain;
	const uint8_t *dval;		/* any element data (has_data: also as data) */
	unsigned dlen;
	bool end;			/* an interval's end element (NFT_SET_ELEM_INTERVAL_END) */
};
int sy_nft_dump_elems2(struct sy_nft *n, int family, const char *table, const char *set,
		       void (*cb)(void *arg, const struct sy_nft_elem_info *e), void *arg);

#endif
