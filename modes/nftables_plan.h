/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SWITCHYARD_NFTABLES_PLAN_H
#define SWITCHYARD_NFTABLES_PLAN_H
/*
 * The nftables mode's pure planner: desired state → the objects of one
 * table (`ip switchyard` or `ip6 switchyard`: nftp_opts.family), named and shaped like
 * kube-proxy's nftables mode (see doc/nftables.md).  No kernel access:
 * modes/nftables.c diffs plans against the kernel and writes batches.
 *
 * Global objects (nftp_globals): base chains filter-prerouting,
 * filter-input, filter-forward, filter-output (filter, dstnat-10),
 * filter-output-post-dnat (filter, dstnat+10), nat-prerouting, nat-output
 * (nat, dstnat), nat-postrouting (nat, srcnat); chains services,
 * service-endpoints-check, nodeport-endpoints-check, cluster-ips-check,
 * firewall-check, reject-chain, mark-for-masquerade, masquerading; maps
 * service-ips, service-nodeports, no-endpoint-services,
 * no-endpoint-nodeports, firewall-ips; sets cluster-ips, nodeport-ips.
 *
 * Per Service port (nftp_port_new): chains service-/local-/external-/
 * firewall-/endpoint-HASH-ns/svc/proto/port[__ip/port] (none for a port
 * on the shared chains: nftp_lb_name), affinity sets
 * affinity-HASH-..., and the map/set elements it owns.  Endpoint chains
 * exist only for sessionAffinity; otherwise endpoints are elements of the
 * `endpoints` data map (see nftp_port_new) and hairpin masquerade is
 * `ct status dnat ip saddr . ip daddr @hairpin` in `masquerading`.
 */
#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include "switchyard/nft.h"
#include "switchyard/util.h"

struct ds_port;
struct desired_state;
struct sy_config;

#define NFTP_TABLE "switchyard"
#define NFTP_NAME_MAX 255

enum nftp_set {
	NFTP_S_CLUSTER_IPS,
	NFTP_S_NODEPORT_IPS,
	NFTP_S_SERVICE_IPS,
	NFTP_S_SERVICE_NODEPORTS,
	NFTP_S_NO_EP_SERVICES,
	NFTP_S_NO_EP_NODEPORTS,
	NFTP_S_FIREWALL_IPS,
	NFTP_S_HAIRPIN,			/* endpoint ip . the same ip */
	NFTP_NFIXED,			/* the sets every table has */
	/*
	 * numgen value → endpoint ip . port, by ranges (interval maps): the
	 * maps endpoint-ranges-0..-255, a chain's slot picks one
	 * (NFTP_SLOT_SET).  Sharded because the kernel checks every new
	 * element of a map against every rule bound to the map, and every new
	 * binding against every element (see doc/nftables.md); a shard map
	 * exists while something uses it.
	 */
	NFTP_S_EP0 = NFTP_NFIXED,
	/*
	 * ip . proto . port . numgen value → endpoint ip . port, by ranges:
	 * the maps service-ranges-0..-255 of the shared load-balancing
	 * chains lb-group-G (nftp_lb_name), 16 maps a chain, sharded by key
	 * (nftp_sr_shard)
	 */
	NFTP_S_SR0 = NFTP_S_EP0 + 256,
	NFTP_NSETS = NFTP_S_SR0 + 256
};
#define NFTP_EP_SHARDS 256u
#define NFTP_RANGE_GROUPS ((NFTP_NSETS - NFTP_S_EP0) / 16)	/* 32: nftp_port.groups */
const struct sy_nft_set *nftp_set_def(unsigned id);

struct nftp_chain {
	char *name;
	const struct sy_nft_hook *hook;	/* base chain, or NULL */
	struct sy_nft_rule *rules;
	unsigned n_rules, cap_rules;
	uint64_t fp;			/* nftp_chain_fp of the rules */
};

/*
 * Key and data are klen + dlen bytes (at most NFTP_KD_MAX: the longest
 * pair is an IPv6 service-ranges element, 28 + 20 bytes; an
 * endpoint-ranges element is 4 + 8 / 4 + 20) in the plan's element block,
 * after the array: an IPv4 element takes 16 + 4..24 bytes.
 */
#define NFTP_KD_MAX 48
struct nftp_elem {
	const char *chain;		/* EV_GOTO target (a plan's chain name / static) */
	uint32_t koff;			/* klen bytes of key, then dlen bytes of data, this
					   many bytes after the element itself (16 bytes an
					   element, not 24: never copy one out of its block) */
	uint16_t set;			/* enum nftp_set */
	uint16_t klen : 6;		/* klen + dlen <= NFTP_KD_MAX (32) */
	uint16_t dlen : 6;		/* data (the endpoints map): ip . port, after the key */
	uint16_t ev : 4;		/* enum sy_nft_ev */
};
struct nftp_ebuild;			/* the planner's while it builds a plan */
#define nftp_elem_kp(e) ((const uint8_t *)(e) + (e)->koff)
#define nftp_elem_data(e) (nftp_elem_kp(e) + (e)->klen)

struct nftp_aset {			/* an affinity set */
	char *name;
	uint32_t timeout;
};

struct nftp_port {
	char *name;			/* ds_port name */
	uint64_t serial;
	struct nftp_chain *chains;
	unsigned n_chains;
	uint32_t groups;		/* bit g: it has ranges in maps NFTP_S_EP0 + 16 g .. + 15 */
	struct nftp_elem *elems;	/* one block with their keys and data */
	unsigned n_elems, cap_elems;
	struct nftp_ebuild *eb;
	struct nftp_aset *asets;
	unsigned n_asets;
	char *error;			/* set when the kernel refused it (mode) */
};

#define NFTP_SERVICE_CIDRS_MAX 64
struct nftp_opts {
	int family;			/* AF_INET / AF_INET6: the table's (ip / ip6) */
	uint32_t mark_bit;		/* 1 << masquerade_bit */
	bool masquerade_all;
	struct sy_cidr cluster_cidrs[16];
	unsigned n_cluster_cidrs;
	bool nodeport_all_local;	/* fib daddr type local; else @nodeport-ips */
	struct sy_addr nodeport_addrs[64];
	unsigned n_nodeport_addrs;
	/* the Service CIDRs of the family (ServiceCIDR objects): cluster-ips-check drops the rest */
	struct sy_cidr service_cidrs[NFTP_SERVICE_CIDRS_MAX];
	unsigned n_service_cidrs;
};

/* The options of family's table: its cluster CIDRs and NodePort addresses only. */
void nftp_opts_from(struct nftp_opts *o, const struct sy_config *cfg, const struct desired_state *ds,
		    int family);
bool nftp_opts_equal(const struct nftp_opts *a, const struct nftp_opts *b);

/* The global chains (*n of them) and the global set elements (nodeport-ips). */
struct nftp_globals {
	struct nftp_chain *chains;
	unsigned n_chains;
	struct nftp_elem *elems;	/* one block with their keys and data */
	unsigned n_elems, cap_elems;
	struct nftp_ebuild *eb;
	struct nftp_chain *lb;		/* the shared chains: [group] */
};
/*
 * The shared load-balancing chains (doc/nftables.md).  A Service port
 * without per-port logic (no sessionAffinity, internalTrafficPolicy
 * Cluster and, when it has external addresses, externalTrafficPolicy
 * Cluster without loadBalancerSourceRanges) has no chain of its own: the
 * map service-ranges-S holds per key the port's endpoints as ranges of
 * [0, NFTP_SPAN), keyed by
 *   its ClusterIP:            ip daddr . meta l4proto . th dport . value
 *   each externalIP, LB IP:   ip daddr . th dport . meta l4proto . value
 *   its NodePort:             0.0.0.0 . meta l4proto . th dport . value
 * with S the key's shard (nftp_sr_shard): the address's last byte, the
 * NodePort's low byte.  The key's service-ips / service-nodeports element
 * goes to lb-group-G (nftp_lb_name), G = S >> 4, the chain of 16 maps
 * (S = 16 G + j), whose rules are: the ClusterIP masquerade rule without
 * a daddr match; 16 ClusterIP dnat rules, rule j guarded by `ip daddr &
 * 0.0.0.15 == 0.0.0.j` (SY_NFT_M_DADDR_LOW) over service-ranges-(16G+j);
 * `jump mark-for-masquerade` (what gets past the ClusterIP dnat is
 * external or NodePort traffic, which externalTrafficPolicy Cluster
 * always masquerades); 16 external dnat rules with the same guards; 16
 * NodePort dnat rules guarded by `th dport & 15 == j` (a map lookup that
 * misses ends the rule, not the chain).  Each map is bound by 3 rules.
 * The mode keeps a group's chain and its 16 maps while any of the maps
 * has elements.
 */
#define NFTP_LB_GROUPS 16u
const char *nftp_lb_name(unsigned group);
/* A service-ranges key's shard (< NFTP_EP_SHARDS): a: the address, NULL: the NodePort port's */
unsigned nftp_sr_shard(const struct sy_addr *a, uint16_t port);
void nftp_globals_build(struct nftp_globals *g, const struct nftp_opts *o);
void nftp_globals_free(struct nftp_globals *g);

/*
 * Endpoint selection without per-endpoint chains: a load-balancing chain's
 * rule is `dnat ip to numgen random mod NFTP_SPAN offset KEY map
 * @endpoint-ranges-S` with KEY and S from the chain's slot, and the map
 * holds n ranges splitting [KEY, KEY + NFTP_SPAN) into near-equal parts
 * (nftp_range), range i → endpoint i.  The rule does not depend on n: any
 * endpoint change, also of their number, is element updates in a data map
 * (no rule: the kernel does not validate the table).
 *
 * A slot is a number below NFTP_NSLOTS, one per load-balancing chain (the
 * mode allocates them: al->base(arg, chain name); al NULL: derived from
 * the name's hash): its low 8 bits pick the shard map, the rest the
 * chain's key space in it.  The last key space of a shard is not used (its
 * end, 2^32, does not fit the 32-bit key).
 */
#define NFTP_SPAN_BITS 20
#define NFTP_SPAN (1u << NFTP_SPAN_BITS)	/* numgen's modulus: each chain's key space */
#define NFTP_NSLOTS (1u << (32 - NFTP_SPAN_BITS + 8))
#define NFTP_SLOT_OK(s) (((s) >> 8) != (1u << (32 - NFTP_SPAN_BITS)) - 1)
#define NFTP_SLOT_SET(s) (NFTP_S_EP0 + ((s) & (NFTP_EP_SHARDS - 1)))
#define NFTP_SLOT_KEY(s) (((s) >> 8) << NFTP_SPAN_BITS)
#define NFTP_SLOTS 4096u		/* endpoints one chain can use (ranges >= 256 values) */
struct nftp_alloc {
	uint32_t (*base)(void *arg, const char *chain);	/* the chain's slot */
	void *arg;
};
uint32_t nftp_base_hash(const char *chain);	/* the name's preferred slot (NFTP_SLOT_OK) */
/*
 * Range i of n (i < n <= NFTP_SPAN) starts at key + nftp_range(i, n) and
 * ends before key + nftp_range(i + 1, n): floor(i * NFTP_SPAN / n), so
 * the sizes are floor or ceil of NFTP_SPAN / n and endpoint i's
 * probability differs from 1/n by less than 1/NFTP_SPAN (< 9.6e-7).
 */
static inline uint32_t nftp_range(unsigned i, unsigned n)
{
	return (uint32_t)(((uint64_t)i << NFTP_SPAN_BITS) / n);
}
/*
 * An endpoint-ranges / service-ranges element: its key is a prefix (none
 * / ip . proto . port) and the range's start (big-endian, the last 4
 * bytes), its data ip . port.  Its end (the first value after it, with
 * the same prefix) is not stored: a key space's ranges are consecutive in
 * its plan, so it is the next element's start, or for the last range (ev
 * 1) the end of the key space (nftp_range_end: the value).
 */
#define NFTP_RANGE_KLEN 4		/* an endpoint-ranges key */
uint32_t nftp_range_end(const struct nftp_elem *e);
#define NFTP_IS_RANGES(set) ((set) >= NFTP_S_EP0 && (set) < NFTP_NSETS)
uint32_t nftp_be32(const uint8_t *p);
struct nftp_port *nftp_port_new(const struct nftp_opts *o, const struct ds_port *dp,
				const struct nftp_alloc *al);
void nftp_port_free(struct nftp_port *pp);
/* Free what the planner keeps from one plan to the next (a scratch array). */
void nftp_scratch_free(void);

/* kube-proxy's name: prefix + base32(sha256(base))[:8] + "-" + base (truncated). */
void nftp_chain_name(char out[NFTP_NAME_MAX + 1], const char *prefix, const char *base);
/* Fingerprint of a rule sequence (of the rules' fingerprints). */
uint64_t nftp_fp_fold(uint64_t h, uint64_t rule_fp);
#define NFTP_FP_INIT 1469598103934665603ull
/* "set|hex(key)" (the mode's element index); out needs NFTP_EKEY_MAX bytes. */
#define NFTP_EKEY_MAX (40 + 2 + 2 * NFTP_KD_MAX)
void nftp_elem_key(char out[NFTP_EKEY_MAX], const char *set, const uint8_t *key, unsigned klen);

#endif
