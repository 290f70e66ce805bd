// SPDX-License-Identifier: Apache-2.0
/* Chain names (kube-proxy's base32(sha256(...))[:16] scheme) and SHA-256. */
#include <stdio.h>
#include <string.h>
#include "iptables_plan.h"

static const uint32_t sha_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha_block(uint32_t h[8], const uint8_t *b)
{
	uint32_t w[64], a, bb, c, d, e, f, g, hh, t1, t2;
	unsigned i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 |
		       (uint32_t)b[4 * i + 2] << 8 | b[4 * i + 3];
	for (; i < 64; i++) {
		uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = h[0]; bb = h[1]; c = h[2]; d = h[3]; e = h[4]; f = h[5]; g = h[6]; hh = h[7];
	for (i = 0; i < 64; i++) {
		t1 = hh + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + sha_k[i] + w[i];
		t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & bb) ^ (a & c) ^ (bb & c));
		hh = g; g = f; f = e; e = d + t1; d = c; c = bb; bb = a; a = t1 + t2;
	}
	h[0] += a; h[1] += bb; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
}

void ipt_sha256(const void *data, size_t len, uint8_t out[32])
{
	uint32_t h[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
			  0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
	const uint8_t *p = data;
	uint8_t tail[128];
	size_t n = len, tl;
	uint64_t bits = (uint64_t)len * 8;

	while (n >= 64) {
		sha_block(h, p);
		p += 64;
		n -= 64;
	}
	memset(tail, 0, sizeof(tail));
	memcpy(tail, p, n);
	tail[n] = 0x80;
	tl = n + 1 + 8 <= 64 ? 64 : 128;
	for (unsigned i = 0; i < 8; i++)
		tail[tl - 1 - i] = (uint8_t)(bits >> (8 * i));
	sha_block(h, tail);
	if (tl == 128)
		sha_block(h, tail + 64);
	for (unsigned i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t)(h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(h[i] >> 8);
		out[4 * i + 3] = (uint8_t)h[i];
	}
}

void ipt_chain_name(char out[IPT_CHAIN_MAXLEN + 1], const char *prefix, const char *s)
{
	static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	uint8_t d[32];
	size_t pl = strlen(prefix);

	ipt_sha256(s, strlen(s), d);
	/* 16 base32 characters = the first 80 bits (10 bytes) */
	memcpy(out, prefix, pl);
	for (unsigned i = 0; i < 16; i++) {
		unsigned bit = i * 5, byte = bit / 8, sh = bit % 8;
		unsigned v = ((unsigned)d[byte] << 8 | d[byte + 1]) >> (11 - sh);
		out[pl + i] = b32[v & 31];
	}
	out[pl + 16] = 0;
}

bool ipt_chain_is_ours(const char *name)
{
	static const char *const exact[] = {
		"SY-SERVICES", "SY-NODEPORTS", "SY-POSTROUTING", "SY-MARK-MASQ", "SY-MASQ-CIDR",
		"SY-EXTERNAL-SERVICES", "SY-FORWARD", "SY-FIREWALL",
	};
	static const char *const prefixes[] = {
		"SY-SVC-", "SY-SVL-", "SY-EXT-", "SY-FW-", "SY-SEP-", "SY-DST-",
	};

	if (strncmp(name, IPT_PREFIX, 3))
		return false;
	for (unsigned i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
		if (!strcmp(name, exact[i]))
			return true;
	for (unsigned i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (!strncmp(name, prefixes[i], strlen(prefixes[i])))
			return true;
	return false;
}

uint32_t ipt_prob_inv(unsigned n)
{
	/* as iptables' libxt_statistic: lround(0x80000000 * p) */
	return (uint32_t)((0x80000000ULL + n / 2) / n);
}

const char *ipt_hook_name(unsigned hook)
{
	static const char *const names[] = { "PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING" };
	return hook < 5 ? names[hook] : NULL;
}

unsigned ipt_table_hooks(enum ipt_table t)
{
	/* nat: PREROUTING INPUT OUTPUT POSTROUTING; filter: INPUT FORWARD OUTPUT */
	return t == IPT_NAT ? 0x1b : 0x0e;
}

const char *ipt_table_name(enum ipt_table t)
{
	return t == IPT_NAT ? "nat" : "filter";
}
