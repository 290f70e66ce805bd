// SPDX-License-Identifier: Apache-2.0
/*
 * ctnetlink over libmnl: kernel-filtered dumps and batched deletes.
 *
 * Why libmnl and not libnetfilter_conntrack: the one thing this module
 * needs from a library is a dump filtered by the original tuple (proto +
 * dst address + dst port) in the kernel.  The kernel has had that since
 * 5.8 (CTA_FILTER + CTA_TUPLE_ORIG in the dump request), but Debian 12's
 * libnetfilter_conntrack 1.0.9 only exposes mark / L3 / status dump
 * filters (NFCT_FILTER_DUMP_TUPLE arrived in 1.1.0), so the request has to
 * be built by hand anyway.  libmnl gives exactly that plus one long-lived
 * socket and batching of many deletes per sendmsg; the few attributes we
 * read are parsed here without allocating an nf_conntrack per entry.
 * Kernels without CTA_FILTER ignore it and dump the whole table: the
 * caller re-checks every entry, so the result is the same, only slower.
 * IPv6 dumps are never filtered on the address (see ct_nl_build_dump).
 *
 * Library code: returns -errno, logs nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include "ct_int.h"
#include "switchyard/util.h"

#define CT_NL_RXBUF	65536		/* one recv: dump skbs are at most 32 KiB */
#define CT_NL_TXBUF	16384
#define CT_NL_BATCH	64		/* deletes (and ACKs) in flight per sendmsg */
#define CT_NL_TIMEOUT_S	5		/* sendmsg: a kernel that does not take it is an error */

struct ct_nl {
	struct mnl_socket *sock;
	uint32_t portid, seq;
	char *rx, *tx;
};

static void put_nfgen(struct nlmsghdr *nlh, uint8_t type, uint16_t flags, uint32_t seq,
		      uint8_t family)
{
	struct nfgenmsg *nfg;

	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | type;
	nlh->nlmsg_flags = flags;
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = family;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
}

/* CTA_IP_V4_* or CTA_IP_V6_* of a's family (a must be AF_INET or AF_INET6). */
static void put_ip(struct nlmsghdr *nlh, uint16_t v4_type, uint16_t v6_type,
		   const struct sy_addr *a)
{
	if (a->family == AF_INET6)
		mnl_attr_put(nlh, v6_type, sizeof(a->v6), &a->v6);
	else
		mnl_attr_put_u32(nlh, v4_type, a->v4.s_addr);
}

size_t ct_nl_build_dump(void *buf, size_t len, uint32_t seq, uint8_t family, uint8_t proto,
			const struct sy_addr *dst, uint16_t dport)
{
	struct nlmsghdr *nlh;
	struct nlattr *tuple, *nest;
	uint32_t flags = CT_FILTER_F_PROTO_NUM;

	if (len < 256 || (family != AF_INET && family != AF_INET6) ||
	    (dst && sy_addr_is_set(dst) && dst->family != family))
		return 0;
	nlh = mnl_nlmsg_put_header(buf);
	put_nfgen(nlh, IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, seq, family);
	tuple = mnl_attr_nest_start(nlh, CTA_TUPLE_ORIG);
	/*
	 * IPv4 only: since CTA_FILTER came (5.8) the kernel's IPv6 address
	 * match was inverted (ctnetlink_filter_match_tuple: `!ipv6_addr_cmp()`,
	 * true when the addresses are equal), so an IPv6 dump filtered on the
	 * address returned every entry on the port except the wanted ones.
	 * Debian 12's 6.1 (the test VM) does that, the host's 6.18 does not.
	 * An IPv6 dump filters on proto + port; the caller matches the address.
	 */
	if (dst && sy_addr_is_set(dst) && family == AF_INET) {
		nest = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
		put_ip(nlh, CTA_IP_V4_DST, CTA_IP_V6_DST, dst);
		mnl_attr_nest_end(nlh, nest);
		flags |= CT_FILTER_F_IP_DST;
	}
	nest = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
	mnl_attr_put_u8(nlh, CTA_PROTO_NUM, proto);
	if (dport) {
		mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(dport));
		flags |= CT_FILTER_F_PROTO_DST_PORT;
	}
	mnl_attr_nest_end(nlh, nest);
	mnl_attr_nest_end(nlh, tuple);
	nest = mnl_attr_nest_start(nlh, CTA_FILTER);
	mnl_attr_put_u32(nlh, CTA_FILTER_ORIG_FLAGS, flags);
	mnl_attr_put_u32(nlh, CTA_FILTER_REPLY_FLAGS, 0);
	mnl_attr_nest_end(nlh, nest);
	return nlh->nlmsg_len;
}

size_t ct_nl_build_delete(void *buf, size_t len, uint32_t seq, const struct ct_entry *e)
{
	struct nlmsghdr *nlh;
	struct nlattr *tuple, *nest;

	/* header 16 + nfgen 4 + tuple (4 + 44 (IPv6: 2 x 20 + 4) + 24) + id 8 + zone 8 */
	if (len < 128 || (e->odst.family != AF_INET && e->odst.family != AF_INET6) ||
	    e->osrc.family != e->odst.family)
		return 0;
	nlh = mnl_nlmsg_put_header(buf);
	put_nfgen(nlh, IPCTNL_MSG_CT_DELETE, NLM_F_REQUEST | NLM_F_ACK, seq, e->odst.family);
	tuple = mnl_attr_nest_start(nlh, CTA_TUPLE_ORIG);
	nest = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
	put_ip(nlh, CTA_IP_V4_SRC, CTA_IP_V6_SRC, &e->osrc);
	put_ip(nlh, CTA_IP_V4_DST, CTA_IP_V6_DST, &e->odst);
	mnl_attr_nest_end(nlh, nest);
	nest = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
	mnl_attr_put_u8(nlh, CTA_PROTO_NUM, e->proto);
	mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(e->osport));
	mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(e->odport));
	mnl_attr_nest_end(nlh, nest);
	mnl_attr_nest_end(nlh, tuple);
	/* the id makes sure we delete the entry we saw, not a new one with the same tuple */
	if (e->has_id)
		mnl_attr_put_u32(nlh, CTA_ID, htonl(e->id));
	if (e->zone)
		mnl_attr_put_u16(nlh, CTA_ZONE, htons(e->zone));
	return nlh->nlmsg_len;
}

struct attr_tb {
	const struct nlattr **tb;
	unsigned max;
};

static int attr_cb(const struct nlattr *a, void *data)
{
	struct attr_tb *t = data;
	unsigned type = mnl_attr_get_type(a);

	if (type <= t->max)
		t->tb[type] = a;
	return MNL_CB_OK;
}

static int parse_nested(const struct nlattr *nest, const struct nlattr **tb, unsigned max)
{
	struct attr_tb t = { tb, max };

	memset(tb, 0, (max + 1) * sizeof(*tb));
	return mnl_attr_parse_nested(nest, attr_cb, &t) < 0 ? -EINVAL : 0;
}

static bool attr_len_ok(const struct nlattr *a, size_t len)
{
	return a && mnl_attr_get_payload_len(a) >= len;
}

/* An address attribute of family into a zeroed sy_addr: 0 or -EINVAL. */
static int get_ip(const struct nlattr *a, uint8_t family, struct sy_addr *ret)
{
	struct in6_addr v6;

	memset(ret, 0, sizeof(*ret));
	if (family == AF_INET6) {
		if (!attr_len_ok(a, sizeof(v6)))
			return -EINVAL;
		memcpy(&v6, mnl_attr_get_payload(a), sizeof(v6));
		*ret = sy_addr_from_in6(&v6);
		return 0;
	}
	if (!attr_len_ok(a, 4))
		return -EINVAL;
	*ret = sy_addr_from_in4((struct in_addr){ mnl_attr_get_u32(a) });
	return 0;
}

static int parse_tuple(const struct nlattr *nest, uint8_t family, uint8_t *proto,
		       struct sy_addr *src, struct sy_addr *dst, uint16_t *sport, uint16_t *dport)
{
	const struct nlattr *tb[CTA_TUPLE_MAX + 1], *ip[CTA_IP_MAX + 1], *pr[CTA_PROTO_MAX + 1];
	bool v6 = family == AF_INET6;

	if (parse_nested(nest, tb, CTA_TUPLE_MAX) < 0 || !tb[CTA_TUPLE_IP] || !tb[CTA_TUPLE_PROTO])
		return -EINVAL;
	if (parse_nested(tb[CTA_TUPLE_IP], ip, CTA_IP_MAX) < 0 ||
	    get_ip(ip[v6 ? CTA_IP_V6_SRC : CTA_IP_V4_SRC], family, src) < 0 ||
	    get_ip(ip[v6 ? CTA_IP_V6_DST : CTA_IP_V4_DST], family, dst) < 0)
		return -EINVAL;
	if (parse_nested(tb[CTA_TUPLE_PROTO], pr, CTA_PROTO_MAX) < 0 ||
	    !attr_len_ok(pr[CTA_PROTO_NUM], 1))
		return -EINVAL;
	*proto = mnl_attr_get_u8(pr[CTA_PROTO_NUM]);
	*sport = attr_len_ok(pr[CTA_PROTO_SRC_PORT], 2) ?
		 ntohs(mnl_attr_get_u16(pr[CTA_PROTO_SRC_PORT])) : 0;
	*dport = attr_len_ok(pr[CTA_PROTO_DST_PORT], 2) ?
		 ntohs(mnl_attr_get_u16(pr[CTA_PROTO_DST_PORT])) : 0;
	return 0;
}

int ct_nl_parse(const struct nlmsghdr *nlh, struct ct_entry *e)
{
	const struct nlattr *tb[CTA_MAX + 1] = { 0 };
	struct attr_tb t = { tb, CTA_MAX };
	const struct nfgenmsg *nfg;
	uint8_t rproto;

	memset(e, 0, sizeof(*e));
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*nfg)))
		return -EINVAL;
	nfg = mnl_nlmsg_get_payload(nlh);
	if (nfg->nfgen_family != AF_INET && nfg->nfgen_family != AF_INET6)
		return -EINVAL;
	if (mnl_attr_parse(nlh, sizeof(*nfg), attr_cb, &t) < 0 || !tb[CTA_TUPLE_ORIG])
		return -EINVAL;
	if (parse_tuple(tb[CTA_TUPLE_ORIG], nfg->nfgen_family, &e->proto, &e->osrc, &e->odst,
			&e->osport, &e->odport) < 0)
		return -EINVAL;
	if (tb[CTA_TUPLE_REPLY] &&
	    parse_tuple(tb[CTA_TUPLE_REPLY], nfg->nfgen_family, &rproto, &e->rsrc, &e->rdst,
			&e->rsport, &e->rdport) < 0)
		return -EINVAL;
	if (attr_len_ok(tb[CTA_ID], 4)) {
		e->id = ntohl(mnl_attr_get_u32(tb[CTA_ID]));
		e->has_id = true;
	}
	if (attr_len_ok(tb[CTA_ZONE], 2))
		e->zone = ntohs(mnl_attr_get_u16(tb[CTA_ZONE]));
	return 0;
}

int ct_nl_open(struct ct_nl **ret)
{
	struct ct_nl *nl;
	struct timeval tv = { .tv_sec = CT_NL_TIMEOUT_S };
	int one = 1, rcvbuf = 1 << 20, fd, r;

	nl = calloc(1, sizeof(*nl));
	if (!nl)
		return -ENOMEM;
	nl->rx = malloc(CT_NL_RXBUF);
	nl->tx = calloc(1, CT_NL_TXBUF);	/* padding bytes are sent: keep them defined */
	if (!nl->rx || !nl->tx) {
		r = -ENOMEM;
		goto fail;
	}
	nl->sock = mnl_socket_open(NETLINK_NETFILTER);
	if (!nl->sock) {
		r = -errno;
		goto fail;
	}
	if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		goto fail;
	}
	nl->portid = mnl_socket_get_portid(nl->sock);
	fd = mnl_socket_get_fd(nl->sock);
	/* ACKs without a copy of the request; room for a batch of them; never hang
	 * (answers are read without waiting: recv_queued) */
	(void)mnl_socket_setsockopt(nl->sock, NETLINK_CAP_ACK, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	nl->seq = (uint32_t)random();
	*ret = nl;
	return 0;
fail:
	ct_nl_close(nl);
	return r;
}

int ct_nl_fd(const struct ct_nl *nl)
{
	return mnl_socket_get_fd(nl->sock);
}

void ct_nl_close(struct ct_nl *nl)
{
	if (!nl)
		return;
	if (nl->sock)
		mnl_socket_close(nl->sock);
	sy_free_all(nl->rx, nl->tx, nl);
}

/* Throw away whatever an earlier failed exchange left queued. */
static void drain(struct ct_nl *nl)
{
	int fd = mnl_socket_get_fd(nl->sock);

	while (recv(fd, nl->rx, CT_NL_RXBUF, MSG_DONTWAIT) > 0)
		;
}

/*
 * One queued answer, without waiting.  The kernel handles a ctnetlink
 * request inside our sendmsg and produces the next part of a dump inside
 * our recvmsg, so whatever is coming is already queued: an empty queue
 * means the answer was lost (say a full receive buffer), and waiting for it
 * would only stall the event loop.  -ETIMEDOUT then, as SO_RCVTIMEO did.
 */
static ssize_t recv_queued(struct ct_nl *nl)
{
	struct sockaddr_nl addr;
	struct iovec iov = { nl->rx, CT_NL_RXBUF };
	struct msghdr msg = {
		.msg_name = &addr, .msg_namelen = sizeof(addr), .msg_iov = &iov, .msg_iovlen = 1,
	};
	ssize_t n;

	do
		n = recvmsg(mnl_socket_get_fd(nl->sock), &msg, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? -ETIMEDOUT : -errno;
	if (msg.msg_flags & MSG_TRUNC)
		return -ENOSPC;
	if (msg.msg_namelen != sizeof(addr) || addr.nl_pid != 0)
		return -EPROTO;	/* only the kernel talks to us */
	return n;
}

static int send_buf(struct ct_nl *nl, const void *buf, size_t len)
{
	ssize_t n = mnl_socket_sendto(nl->sock, buf, len);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

struct dump_ctx {
	ct_entry_fn fn;
	void *arg;
};

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *ctx = data;
	struct ct_entry e;

	if ((nlh->nlmsg_type & 0xff) != IPCTNL_MSG_CT_NEW)
		return MNL_CB_OK;
	if (ct_nl_parse(nlh, &e) == 0)
		ctx->fn(ctx->arg, &e);
	return MNL_CB_OK;
}

int ct_nl_dump(struct ct_nl *nl, uint8_t family, uint8_t proto, const struct sy_addr *dst,
	       uint16_t dport, ct_entry_fn fn, void *arg)
{
	struct dump_ctx ctx = { fn, arg };
	uint32_t seq = ++nl->seq;
	size_t len;
	ssize_t n;
	int r;

	drain(nl);
	len = ct_nl_build_dump(nl->tx, CT_NL_TXBUF, seq, family, proto, dst, dport);
	if (!len)
		return -EINVAL;
	r = send_buf(nl, nl->tx, len);
	if (r < 0)
		return r;
	for (;;) {
		n = recv_queued(nl);
		if (n < 0)
			return (int)n;
		r = mnl_cb_run(nl->rx, (size_t)n, seq, nl->portid, dump_cb, &ctx);
		if (r < 0)
			return errno ? -errno : -EIO;
		if (r == MNL_CB_STOP)
			return 0;
	}
}

int ct_nl_delete(struct ct_nl *nl, const struct ct_entry *e, unsigned n, uint64_t *ret_deleted)
{
	uint64_t deleted = 0;
	int first_err = 0;
	unsigned i = 0;

	drain(nl);
	while (i < n) {
		uint32_t seq0 = nl->seq + 1;
		unsigned cnt = 0, acked = 0;
		size_t off = 0, m;
		int r;

		while (i < n && cnt < CT_NL_BATCH) {
			m = ct_nl_build_delete(nl->tx + off, CT_NL_TXBUF - off, seq0 + cnt, &e[i]);
			if (!m && !cnt) {
				/* not a buffer limit: an entry of no known family */
				if (!first_err)
					first_err = -EINVAL;
				i++;
				continue;
			}
			if (!m)
				break;
			off += m;
			cnt++;
			i++;
		}
		nl->seq += cnt;
		if (!cnt)
			break;
		r = send_buf(nl, nl->tx, off);
		if (r < 0) {
			*ret_deleted += deleted;
			return r;
		}
		while (acked < cnt) {
			ssize_t got = recv_queued(nl);
			int len = (int)got;

			if (got < 0) {
				*ret_deleted += deleted;
				return (int)got;
			}
			for (const struct nlmsghdr *h = (const void *)nl->rx; mnl_nlmsg_ok(h, len);
			     h = mnl_nlmsg_next(h, &len)) {
				const struct nlmsgerr *err;

				if (h->nlmsg_type != NLMSG_ERROR || h->nlmsg_seq - seq0 >= cnt ||
				    h->nlmsg_len < mnl_nlmsg_size(sizeof(*err)))
					continue;
				err = mnl_nlmsg_get_payload(h);
				acked++;
				if (!err->error)
					deleted++;
				else if (err->error != -ENOENT && !first_err)
					first_err = err->error;
			}
		}
	}
	*ret_deleted += deleted;
	return first_err;
}
