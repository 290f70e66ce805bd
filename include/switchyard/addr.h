/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SWITCHYARD_ADDR_H
#define SWITCHYARD_ADDR_H
/*
 * One address type and one CIDR type for IPv4 and IPv6.  Every part of
 * switchyard holds addresses as struct sy_addr / struct sy_cidr; struct
 * in_addr / in6_addr appear only here (the v4/v6 members) and where a
 * kernel API wants them (libiptc entries, IPVS and conntrack netlink
 * attributes, libnl route addresses), converted at that call.
 *
 * Text forms (lib/addr.c):
 * - IPv4: dotted quad only, as inet_pton(AF_INET) reads it ("10.0.0.1";
 *   no "10.1", no leading zeros, no hex).
 * - IPv6: every RFC 4291 form inet_pton(AF_INET6) reads ("fd00::1",
 *   "FD00:0:0:0:0:0:0:1", "::", "::ffff:10.0.0.1").  No brackets, no zone
 *   ("fe80::1%eth0" is rejected: Kubernetes addresses never carry one).
 *   Formatted as RFC 5952 says (lower case, longest zero run compressed).
 * - IPv4-mapped IPv6 ("::ffff:a.b.c.d") stays an IPv6 address (family
 *   AF_INET6), as switchyard always classified it (a ':' meant IPv6) and as
 *   the API server's strict validation refuses it in Services and
 *   EndpointSlices; sy_addr_is_v4mapped() tells such an address apart.
 * Both types are compared with memcmp in places, so every byte counts:
 * the constructors and parsers zero the unused bytes; build values with
 * them or from zeroed memory, never field by field on the stack.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

struct sy_addr {
	uint8_t family;		/* AF_INET, AF_INET6; 0 = no address */
	uint8_t reserved[3];	/* zero */
	union {
		struct in_addr v4;	/* AF_INET: network byte order; bytes 4..15 zero */
		struct in6_addr v6;	/* AF_INET6 */
		uint8_t b[16];
	};
};

/* A prefix; addr is masked (host bits zero), plen <= 32 or 128. */
struct sy_cidr {
	struct sy_addr addr;
	uint8_t plen;
	uint8_t reserved[3];	/* zero */
};

/* The longest text sy_addr_format / sy_cidr_format write, with the NUL. */
#define SY_ADDR_STRLEN	INET6_ADDRSTRLEN
#define SY_CIDR_STRLEN	(INET6_ADDRSTRLEN + 4)

static inline struct sy_addr sy_addr_from_in4(struct in_addr a)
{
	struct sy_addr r = { .family = AF_INET };

	r.v4 = a;
	return r;
}
static inline struct sy_addr sy_addr_from_in6(const struct in6_addr *a)
{
	struct sy_addr r = { .family = AF_INET6 };

	r.v6 = *a;
	return r;
}
/* IPv4 from a host-order number (127.0.0.1 = 0x7f000001). */
static inline struct sy_addr sy_addr4_host(uint32_t host)
{
	return sy_addr_from_in4((struct in_addr){ htonl(host) });
}
static inline bool sy_addr_is_set(const struct sy_addr *a)
{
	return a->family != 0;
}
static inline bool sy_addr_is4(const struct sy_addr *a)
{
	return a->family == AF_INET;
}
static inline bool sy_addr_is6(const struct sy_addr *a)
{
	return a->family == AF_INET6;
}
/* IPv4 as a host-order number (0 for other families). */
static inline uint32_t sy_addr4_host_order(const struct sy_addr *a)
{
	return a->family == AF_INET ? ntohl(a->v4.s_addr) : 0;
}
/* 4 or 16: the bytes that matter for the family (0 when unset). */
static inline unsigned sy_addr_len(const struct sy_addr *a)
{
	return a->family == AF_INET ? 4 : a->family == AF_INET6 ? 16 : 0;
}
/* 32 or 128 (0 when unset). */
static inline unsigned sy_addr_bits(const struct sy_addr *a)
{
	return sy_addr_len(a) * 8;
}

/* Parse an IPv4 or IPv6 address (forms above); 0 or -EINVAL. */
int sy_addr_parse(const char *s, struct sy_addr *ret);
/* The same, but only family (AF_INET / AF_INET6) is accepted. */
int sy_addr_parse_family(const char *s, int family, struct sy_addr *ret);
/* "10.0.0.1", "fd00::1"; "" for an unset address.  Returns buf. */
char *sy_addr_format(const struct sy_addr *a, char *buf, size_t len);
/* The same into rotating static buffers, for log messages (not thread safe). */
const char *sy_addr_str(const struct sy_addr *a);
/* Total order: unset < IPv4 < IPv6, then the address bytes (numeric order). */
int sy_addr_cmp(const struct sy_addr *a, const struct sy_addr *b);
bool sy_addr_eq(const struct sy_addr *a, const struct sy_addr *b);
uint32_t sy_addr_hash(const struct sy_addr *a);
bool sy_addr_is_loopback(const struct sy_addr *a);	/* 127/8, ::1 */
bool sy_addr_is_v4mapped(const struct sy_addr *a);	/* ::ffff:0:0/96 */
/* The family's name as Kubernetes spells it: "IPv4", "IPv6" ("" otherwise). */
const char *sy_family_name(int family);
/* "IPv4" → AF_INET, "IPv6" → AF_INET6; -EINVAL otherwise. */
int sy_family_parse(const char *s);

/*
 * Kernel-boundary helpers for code that speaks struct in_addr (libiptc
 * entries, the pod network's IPv4 arithmetic): parse dotted IPv4 (0 or
 * -EINVAL) and format into rotating static buffers, for log messages.
 */
int sy_parse_ip4(const char *s, struct in_addr *ret);
const char *sy_ip4_str(struct in_addr a);

/*
 * Parse "addr/plen" (a bare address means a host route, /32 or /128); the
 * host bits are cleared, as Go's net.ParseCIDR does.  0 or -EINVAL.
 */
int sy_cidr_parse(const char *s, struct sy_cidr *ret);
int sy_cidr_parse_family(const char *s, int family, struct sy_cidr *ret);
/* Build from an address and a length (masked); -EINVAL when plen is too long. */
int sy_cidr_make(const struct sy_addr *a, unsigned plen, struct sy_cidr *ret);
/* "10.244.0.0/16", "fd00::/64".  Returns buf. */
char *sy_cidr_format(const struct sy_cidr *c, char *buf, size_t len);
const char *sy_cidr_str(const struct sy_cidr *c);
/* a lies inside c (false when the families differ). */
bool sy_cidr_contains(const struct sy_cidr *c, const struct sy_addr *a);
int sy_cidr_cmp(const struct sy_cidr *a, const struct sy_cidr *b);
bool sy_cidr_eq(const struct sy_cidr *a, const struct sy_cidr *b);
uint32_t sy_cidr_hash(const struct sy_cidr *c);
/* IPv4 only: the netmask of c in network byte order (0 for /0). */
uint32_t sy_cidr_mask4(const struct sy_cidr *c);

#endif
