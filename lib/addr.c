// SPDX-License-Identifier: Apache-2.0
/* One address type for IPv4 and IPv6 (include/switchyard/addr.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "switchyard/addr.h"

int sy_addr_parse_family(const char *s, int family, struct sy_addr *ret)
{
	struct sy_addr a = { 0 };

	if (!s)
		return -EINVAL;
	/* inet_pton reads no brackets and no "%zone", which is what we want */
	if ((family == AF_INET || family == AF_UNSPEC) && inet_pton(AF_INET, s, &a.v4) == 1)
		a.family = AF_INET;
	else if ((family == AF_INET6 || family == AF_UNSPEC) && inet_pton(AF_INET6, s, &a.v6) == 1)
		a.family = AF_INET6;
	else
		return -EINVAL;
	*ret = a;
	return 0;
}

int sy_parse_ip4(const char *s, struct in_addr *ret)
{
	struct in_addr a;

	if (!s || inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*ret = a;
	return 0;
}

const char *sy_ip4_str(struct in_addr a)
{
	return sy_addr_str((struct sy_addr[]){ sy_addr_from_in4(a) });
}

int sy_addr_parse(const char *s, struct sy_addr *ret)
{
	return sy_addr_parse_family(s, AF_UNSPEC, ret);
}

char *sy_addr_format(const struct sy_addr *a, char *buf, size_t len)
{
	if (!len)
		return buf;
	if (!sy_addr_is_set(a) || !inet_ntop(a->family, a->b, buf, (socklen_t)len))
		buf[0] = '\0';
	return buf;
}

const char *sy_addr_str(const struct sy_addr *a)
{
	static char bufs[8][SY_ADDR_STRLEN];
	static unsigned i;

	return sy_addr_format(a, bufs[i++ % 8], SY_ADDR_STRLEN);
}

static int family_rank(const struct sy_addr *a)
{
	return a->family == AF_INET ? 1 : a->family == AF_INET6 ? 2 : a->family ? 3 : 0;
}

int sy_addr_cmp(const struct sy_addr *a, const struct sy_addr *b)
{
	if (a->family != b->family)
		return family_rank(a) < family_rank(b) ? -1 : 1;
	return memcmp(a->b, b->b, sizeof(a->b));
}

bool sy_addr_eq(const struct sy_addr *a, const struct sy_addr *b)
{
	return a->family == b->family && !memcmp(a->b, b->b, sizeof(a->b));
}

static uint32_t fnv(uint32_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

uint32_t sy_addr_hash(const struct sy_addr *a)
{
	uint32_t h = fnv(2166136261u, &a->family, 1);

	return fnv(h, a->b, sy_addr_len(a));
}

bool sy_addr_is_loopback(const struct sy_addr *a)
{
	if (a->family == AF_INET)
		return a->b[0] == 127;
	return a->family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&a->v6);
}

bool sy_addr_is_v4mapped(const struct sy_addr *a)
{
	return a->family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&a->v6);
}

const char *sy_family_name(int family)
{
	return family == AF_INET ? "IPv4" : family == AF_INET6 ? "IPv6" : "";
}

int sy_family_parse(const char *s)
{
	if (s && !strcmp(s, "IPv4"))
		return AF_INET;
	if (s && !strcmp(s, "IPv6"))
		return AF_INET6;
	return -EINVAL;
}

/* Clear the bits of a past plen. */
static void mask(struct sy_addr *a, unsigned plen)
{
	unsigned n = sy_addr_len(a);

	for (unsigned i = 0; i < n; i++) {
		if (plen >= 8 * (i + 1))
			continue;
		a->b[i] &= plen > 8 * i ? (uint8_t)(0xff << (8 - (plen - 8 * i))) : 0;
	}
}

int sy_cidr_make(const struct sy_addr *a, unsigned plen, struct sy_cidr *ret)
{
	struct sy_cidr c = { 0 };

	if (!sy_addr_is_set(a) || plen > sy_addr_bits(a))
		return -EINVAL;
	c.addr = *a;
	memset(c.addr.reserved, 0, sizeof(c.addr.reserved));
	mask(&c.addr, plen);
	c.plen = (uint8_t)plen;
	*ret = c;
	return 0;
}

int sy_cidr_parse_family(const char *s, int family, struct sy_cidr *ret)
{
	char buf[SY_CIDR_STRLEN + 8], *slash, *end;
	struct sy_addr a;
	long plen = -1;

	if (!s || strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash) {
		*slash = '\0';
		/* digits only: no sign, no spaces, no hex */
		if (slash[1] < '0' || slash[1] > '9')
			return -EINVAL;
		errno = 0;
		plen = strtol(slash + 1, &end, 10);
		if (errno || *end || plen > 128)
			return -EINVAL;
	}
	if (sy_addr_parse_family(buf, family, &a) < 0)
		return -EINVAL;
	if (plen < 0)
		plen = (long)sy_addr_bits(&a);
	return sy_cidr_make(&a, (unsigned)plen, ret);
}

int sy_cidr_parse(const char *s, struct sy_cidr *ret)
{
	return sy_cidr_parse_family(s, AF_UNSPEC, ret);
}

char *sy_cidr_format(const struct sy_cidr *c, char *buf, size_t len)
{
	char a[SY_ADDR_STRLEN];

	if (!len)
		return buf;
	if (!sy_addr_is_set(&c->addr))
		buf[0] = '\0';
	else
		snprintf(buf, len, "%s/%u", sy_addr_format(&c->addr, a, sizeof(a)), c->plen);
	return buf;
}

const char *sy_cidr_str(const struct sy_cidr *c)
{
	static char bufs[4][SY_CIDR_STRLEN];
	static unsigned i;

	return sy_cidr_format(c, bufs[i++ % 4], SY_CIDR_STRLEN);
}

bool sy_cidr_contains(const struct sy_cidr *c, const struct sy_addr *a)
{
	struct sy_addr m;

	if (a->family != c->addr.family || !sy_addr_is_set(a))
		return false;
	m = *a;
	mask(&m, c->plen);
	return !memcmp(m.b, c->addr.b, sizeof(m.b));
}

int sy_cidr_cmp(const struct sy_cidr *a, const struct sy_cidr *b)
{
	int r = sy_addr_cmp(&a->addr, &b->addr);

	return r ? r : (int)a->plen - (int)b->plen;
}

bool sy_cidr_eq(const struct sy_cidr *a, const struct sy_cidr *b)
{
	return a->plen == b->plen && sy_addr_eq(&a->addr, &b->addr);
}

uint32_t sy_cidr_hash(const struct sy_cidr *c)
{
	return fnv(sy_addr_hash(&c->addr), &c->plen, 1);
}

uint32_t sy_cidr_mask4(const struct sy_cidr *c)
{
	return c->plen ? htonl(~0u << (32 - (c->plen > 32 ? 32 : c->plen))) : 0;
}
