// SPDX-License-Identifier: Apache-2.0
/*
 * IPVS over generic netlink: one long-lived libnl socket, the "IPVS"
 * family resolved once.  Requests are synchronous (send, wait for the ack
 * or the end of the dump); the kernel's errno is taken from the error
 * message itself, not through libnl's lossy NLE_* mapping.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netlink/netlink.h>
#include <netlink/genl/genl.h>
#include <netlink/genl/ctrl.h>
#include <linux/ip_vs.h>
#include "switchyard/addr.h"
#include "switchyard/nlerr.h"
#include "ipvs_int.h"

struct ipvs_nl {
	struct nl_sock *sk;
	struct nl_cb *cb;
	int family;
};

struct talk {
	int err;		/* kernel errno (negative) */
	bool done;
	int family;		/* dumps: services of this family only (0: any); dests: the service's */
	ipvs_svc_fn sfn;
	ipvs_dest_fn dfn;
	void *arg;
	int fn_err;
};

static int on_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct talk *t = arg;

	t->err = e->error;
	t->done = true;
	return NL_STOP;
}

static int on_done(struct nl_msg *msg, void *arg)
{
	struct talk *t = arg;

	t->done = true;
	return NL_STOP;
}

/*
 * A reply's attributes are checked where they are read, each for the
 * bytes its reader takes: a short one makes the nest -EINVAL.  (An
 * nla_policy would want a table per nest, their attribute numbers
 * overlapping, and would check attributes nothing reads.)
 */

/* Attribute a's first size bytes into v (absent: v as it was); -EINVAL when it has fewer. */
static int get_attr(const struct nlattr *a, void *v, size_t size)
{
	if (!a)
		return 0;
	if ((size_t)nla_len(a) < size)
		return -EINVAL;
	memcpy(v, nla_data(a), size);
	return 0;
}

/* A string attribute with its NUL byte into buf (absent: buf as it was). */
static int get_string(const struct nlattr *a, char *buf, size_t size)
{
	const char *s;

	if (!a)
		return 0;
	s = nla_data(a);
	if (nla_len(a) < 1 || s[nla_len(a) - 1])
		return -EINVAL;
	snprintf(buf, size, "%s", s);
	return 0;
}

/* An address attribute of family (4 or 16 bytes used of the kernel's 16). */
static int get_addr(struct nlattr *a, int family, struct sy_addr *ret)
{
	unsigned len = family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;

	if (!len)
		return -EAFNOSUPPORT;
	if (!a || (unsigned)nla_len(a) < len)
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	ret->family = (uint8_t)family;
	memcpy(ret->b, nla_data(a), len);
	return 0;
}

int ipvs_nl_parse_svc(const void *nest, struct ipvs_svc *s)
{
	struct nlattr *a[IPVS_SVC_ATTR_MAX + 1];
	struct ip_vs_flags fl = { 0 };
	uint16_t af = 0, proto = 0, port = 0;
	uint32_t fwmark = 0;

	if (nla_parse_nested(a, IPVS_SVC_ATTR_MAX, (struct nlattr *)nest, NULL) < 0)
		return -EINVAL;
	memset(s, 0, sizeof(*s));
	if (get_attr(a[IPVS_SVC_ATTR_AF], &af, sizeof(af)) < 0 ||
	    get_attr(a[IPVS_SVC_ATTR_PROTOCOL], &proto, sizeof(proto)) < 0 ||
	    get_attr(a[IPVS_SVC_ATTR_PORT], &port, sizeof(port)) < 0 ||
	    get_attr(a[IPVS_SVC_ATTR_FWMARK], &fwmark, sizeof(fwmark)) < 0 ||
	    get_string(a[IPVS_SVC_ATTR_SCHED_NAME], s->sched, sizeof(s->sched)) < 0 ||
	    get_attr(a[IPVS_SVC_ATTR_FLAGS], &fl, sizeof(fl)) < 0 ||
	    get_attr(a[IPVS_SVC_ATTR_TIMEOUT], &s->timeout, sizeof(s->timeout)) < 0 ||
	    !a[IPVS_SVC_ATTR_AF])
		return -EINVAL;
	if (fwmark)
		return -EOPNOTSUPP;	/* fwmark services are never ours */
	if (!a[IPVS_SVC_ATTR_PROTOCOL] || !a[IPVS_SVC_ATTR_PORT])
		return -EINVAL;
	s->proto = (uint8_t)proto;
	s->port = ntohs(port);
	s->flags = fl.flags & ~IP_VS_SVC_F_HASHED;
	return get_addr(a[IPVS_SVC_ATTR_ADDR], af, &s->addr);
}

int ipvs_nl_parse_dest(const void *nest, int svc_family, struct ipvs_dest *dest)
{
	struct nlattr *d[IPVS_DEST_ATTR_MAX + 1];
	/* kernels since 3.18 say the real server's family (it may differ from
	 * the virtual server's for tunnels); older ones: the service's */
	uint16_t family = (uint16_t)svc_family, port = 0;

	if (nla_parse_nested(d, IPVS_DEST_ATTR_MAX, (struct nlattr *)nest, NULL) < 0)
		return -EINVAL;
	memset(dest, 0, sizeof(*dest));
	if (!d[IPVS_DEST_ATTR_PORT] ||
	    get_attr(d[IPVS_DEST_ATTR_PORT], &port, sizeof(port)) < 0 ||
	    get_attr(d[IPVS_DEST_ATTR_ADDR_FAMILY], &family, sizeof(family)) < 0 ||
	    get_attr(d[IPVS_DEST_ATTR_FWD_METHOD], &dest->fwd, sizeof(dest->fwd)) < 0 ||
	    get_attr(d[IPVS_DEST_ATTR_WEIGHT], &dest->weight, sizeof(dest->weight)) < 0 ||
	    get_attr(d[IPVS_DEST_ATTR_ACTIVE_CONNS], &dest->active, sizeof(dest->active)) < 0 ||
	    get_attr(d[IPVS_DEST_ATTR_INACT_CONNS], &dest->inactive, sizeof(dest->inactive)) < 0)
		return -EINVAL;
	dest->port = ntohs(port);
	dest->fwd &= IP_VS_CONN_F_FWD_MASK;
	return get_addr(d[IPVS_DEST_ATTR_ADDR], family, &dest->addr);
}

/* A message of a dump: a virtual server for t->sfn, or a real server for t->dfn. */
static int on_dump(struct nl_msg *msg, void *arg)
{
	struct talk *t = arg;
	struct nlattr *a[IPVS_CMD_ATTR_MAX + 1];
	struct ipvs_svc s;
	struct ipvs_dest dest;
	int r;

	if (genlmsg_parse(nlmsg_hdr(msg), 0, a, IPVS_CMD_ATTR_MAX, NULL) < 0)
		return NL_SKIP;
	if (t->sfn) {
		if (!a[IPVS_CMD_ATTR_SERVICE] || ipvs_nl_parse_svc(a[IPVS_CMD_ATTR_SERVICE], &s) < 0 ||
		    (t->family && s.addr.family != t->family))
			return NL_SKIP;
		r = t->fn_err ? 0 : t->sfn(t->arg, &s);
	} else {
		if (!a[IPVS_CMD_ATTR_DEST] ||
		    ipvs_nl_parse_dest(a[IPVS_CMD_ATTR_DEST], t->family, &dest) < 0)
			return NL_SKIP;
		r = t->fn_err ? 0 : t->dfn(t->arg, &dest);
	}
	if (r < 0)
		t->fn_err = r;
	return NL_OK;
}

int ipvs_nl_open(struct ipvs_nl **ret)
{
	struct ipvs_nl *nl;
	int r;

	nl = calloc(1, sizeof(*nl));
	if (!nl)
		return -ENOMEM;
	nl->sk = nl_socket_alloc();
	nl->cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!nl->sk || !nl->cb) {
		r = -ENOMEM;
		goto fail;
	}
	r = genl_connect(nl->sk);
	if (r < 0) {
		r = sy_nl_errno(r);
		goto fail;
	}
	nl_socket_set_buffer_size(nl->sk, 4 << 20, 4 << 20);
	r = genl_ctrl_resolve(nl->sk, IPVS_GENL_NAME);
	if (r < 0) {
		/* no family: the kernel has no IPVS (module absent, not loadable) */
		r = -EPROTONOSUPPORT;
		goto fail;
	}
	nl->family = r;
	*ret = nl;
	return 0;
fail:
	ipvs_nl_close(nl);
	return r;
}

void ipvs_nl_close(struct ipvs_nl *nl)
{
	if (!nl)
		return;
	if (nl->cb)
		nl_cb_put(nl->cb);
	if (nl->sk)
		nl_socket_free(nl->sk);
	free(nl);
}

/* Send msg (consumed) and wait for its ack / the end of its dump. */
static int talk(struct ipvs_nl *nl, struct nl_msg *msg, struct talk *t,
		int (*valid)(struct nl_msg *, void *))
{
	int r;

	t->err = 0;
	t->done = false;
	t->fn_err = 0;
	nl_cb_err(nl->cb, NL_CB_CUSTOM, on_error, t);
	nl_cb_set(nl->cb, NL_CB_ACK, NL_CB_CUSTOM, on_done, t);
	nl_cb_set(nl->cb, NL_CB_FINISH, NL_CB_CUSTOM, on_done, t);
	if (valid)
		nl_cb_set(nl->cb, NL_CB_VALID, NL_CB_CUSTOM, valid, t);
	else
		nl_cb_set(nl->cb, NL_CB_VALID, NL_CB_DEFAULT, NULL, NULL);
	r = nl_send_auto(nl->sk, msg);
	nlmsg_free(msg);
	if (r < 0)
		return sy_nl_errno(r);
	while (!t->done) {
		r = nl_recvmsgs(nl->sk, nl->cb);
		if (r < 0 && !t->done)
			return sy_nl_errno(r);
	}
	if (t->err)
		return t->err;
	return t->fn_err;
}

static struct nl_msg *new_msg(struct ipvs_nl *nl, uint8_t cmd, int flags)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (!msg)
		return NULL;
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, nl->family, 0, flags, cmd,
			 IPVS_GENL_VERSION)) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

/* full: everything NEW/SET need; else just the identity. */
static int put_svc(struct nl_msg *msg, const struct ipvs_svc *s, bool full)
{
	struct nlattr *n = nla_nest_start(msg, IPVS_CMD_ATTR_SERVICE);
	uint8_t addr[16] = { 0 };
	struct ip_vs_flags fl = { .flags = s->flags, .mask = ~0u };
	/* persistence granularity: one client address (IPv6: a prefix length) */
	uint32_t mask = s->addr.family == AF_INET6 ? 128 : 0xffffffff;

	if (!n)
		return -ENOMEM;
	if (!sy_addr_len(&s->addr))
		return -EAFNOSUPPORT;
	memcpy(addr, s->addr.b, sy_addr_len(&s->addr));
	if (nla_put_u16(msg, IPVS_SVC_ATTR_AF, s->addr.family) < 0 ||
	    nla_put_u16(msg, IPVS_SVC_ATTR_PROTOCOL, s->proto) < 0 ||
	    nla_put(msg, IPVS_SVC_ATTR_ADDR, sizeof(addr), addr) < 0 ||
	    nla_put_u16(msg, IPVS_SVC_ATTR_PORT, htons(s->port)) < 0)
		return -ENOMEM;
	if (full) {
		if (nla_put_string(msg, IPVS_SVC_ATTR_SCHED_NAME, s->sched[0] ? s->sched : "rr") < 0 ||
		    nla_put(msg, IPVS_SVC_ATTR_FLAGS, sizeof(fl), &fl) < 0 ||
		    nla_put_u32(msg, IPVS_SVC_ATTR_TIMEOUT, s->timeout) < 0 ||
		    nla_put_u32(msg, IPVS_SVC_ATTR_NETMASK, mask) < 0)
			return -ENOMEM;
	}
	nla_nest_end(msg, n);
	return 0;
}

static int put_dest(struct nl_msg *msg, const struct ipvs_dest *d, bool full)
{
	struct nlattr *n = nla_nest_start(msg, IPVS_CMD_ATTR_DEST);
	uint8_t addr[16] = { 0 };

	if (!n)
		return -ENOMEM;
	if (!sy_addr_len(&d->addr))
		return -EAFNOSUPPORT;
	memcpy(addr, d->addr.b, sy_addr_len(&d->addr));
	if (nla_put(msg, IPVS_DEST_ATTR_ADDR, sizeof(addr), addr) < 0 ||
	    nla_put_u16(msg, IPVS_DEST_ATTR_PORT, htons(d->port)) < 0 ||
	    nla_put_u16(msg, IPVS_DEST_ATTR_ADDR_FAMILY, d->addr.family) < 0)
		return -ENOMEM;
	if (full) {
		if (nla_put_u32(msg, IPVS_DEST_ATTR_FWD_METHOD, d->fwd) < 0 ||
		    nla_put_u32(msg, IPVS_DEST_ATTR_WEIGHT, (uint32_t)d->weight) < 0 ||
		    nla_put_u32(msg, IPVS_DEST_ATTR_U_THRESH, 0) < 0 ||
		    nla_put_u32(msg, IPVS_DEST_ATTR_L_THRESH, 0) < 0)
			return -ENOMEM;
	}
	nla_nest_end(msg, n);
	return 0;
}

/* A message of cmd about virtual server s (put_svc's full), or NULL (no memory). */
static struct nl_msg *svc_msg(struct ipvs_nl *nl, uint8_t cmd, int flags,
			      const struct ipvs_svc *s, bool full)
{
	struct nl_msg *msg = new_msg(nl, cmd, flags);

	if (msg && put_svc(msg, s, full) < 0) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

static int svc_cmd(struct ipvs_nl *nl, uint8_t cmd, const struct ipvs_svc *s, bool full)
{
	struct nl_msg *msg = svc_msg(nl, cmd, 0, s, full);
	struct talk t = { 0 };

	if (!msg)
		return -ENOMEM;
	return talk(nl, msg, &t, NULL);
}

static int dest_cmd(struct ipvs_nl *nl, uint8_t cmd, const struct ipvs_svc *s,
		    const struct ipvs_dest *d, bool full)
{
	struct nl_msg *msg = svc_msg(nl, cmd, 0, s, false);
	struct talk t = { 0 };

	if (!msg)
		return -ENOMEM;
	if (put_dest(msg, d, full) < 0) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	return talk(nl, msg, &t, NULL);
}

int ipvs_nl_add_service_raw(struct ipvs_nl *nl, const struct ipvs_svc *s)
{
	return svc_cmd(nl, IPVS_CMD_NEW_SERVICE, s, true);
}

int ipvs_nl_add_service(struct ipvs_nl *nl, const struct ipvs_svc *s)
{
	int r = svc_cmd(nl, IPVS_CMD_NEW_SERVICE, s, true);

	if (r == -EEXIST)
		r = svc_cmd(nl, IPVS_CMD_SET_SERVICE, s, true);
	return r;
}

int ipvs_nl_edit_service(struct ipvs_nl *nl, const struct ipvs_svc *s)
{
	int r = svc_cmd(nl, IPVS_CMD_SET_SERVICE, s, true);

	if (r == -ESRCH || r == -ENOENT)
		r = svc_cmd(nl, IPVS_CMD_NEW_SERVICE, s, true);
	return r;
}

int ipvs_nl_del_service(struct ipvs_nl *nl, const struct ipvs_svc *s)
{
	int r = svc_cmd(nl, IPVS_CMD_DEL_SERVICE, s, false);

	return r == -ESRCH || r == -ENOENT ? 0 : r;
}

int ipvs_nl_add_dest(struct ipvs_nl *nl, const struct ipvs_svc *s, const struct ipvs_dest *d)
{
	int r = dest_cmd(nl, IPVS_CMD_NEW_DEST, s, d, true);

	if (r == -EEXIST)
		r = dest_cmd(nl, IPVS_CMD_SET_DEST, s, d, true);
	return r;
}

int ipvs_nl_edit_dest(struct ipvs_nl *nl, const struct ipvs_svc *s, const struct ipvs_dest *d)
{
	int r = dest_cmd(nl, IPVS_CMD_SET_DEST, s, d, true);

	if (r == -ENOENT)
		r = dest_cmd(nl, IPVS_CMD_NEW_DEST, s, d, true);
	return r;
}

int ipvs_nl_del_dest(struct ipvs_nl *nl, const struct ipvs_svc *s, const struct ipvs_dest *d)
{
	int r = dest_cmd(nl, IPVS_CMD_DEL_DEST, s, d, false);

	return r == -ENOENT || r == -ESRCH ? 0 : r;
}

int ipvs_nl_dump_services(struct ipvs_nl *nl, int family, ipvs_svc_fn fn, void *arg)
{
	struct nl_msg *msg = new_msg(nl, IPVS_CMD_GET_SERVICE, NLM_F_DUMP);
	struct talk t = { .sfn = fn, .arg = arg, .family = family };

	if (!msg)
		return -ENOMEM;
	return talk(nl, msg, &t, on_dump);
}

struct get_one {
	struct ipvs_svc *ret;
	bool found;
};

static int get_one_fn(void *arg, const struct ipvs_svc *s)
{
	struct get_one *g = arg;

	*g->ret = *s;
	g->found = true;
	return 0;
}

int ipvs_nl_get_service(struct ipvs_nl *nl, const struct ipvs_svc *key, struct ipvs_svc *ret)
{
	struct nl_msg *msg = svc_msg(nl, IPVS_CMD_GET_SERVICE, 0, key, false);
	struct get_one g = { .ret = ret };
	struct talk t = { .sfn = get_one_fn, .arg = &g, .family = key->addr.family };
	int r;

	if (!msg)
		return -ENOMEM;
	/* a GET without NLM_F_DUMP answers with one message, then the ack */
	r = talk(nl, msg, &t, on_dump);
	if (r == -ESRCH || r == -ENOENT)
		return -ENOENT;
	if (r < 0)
		return r;
	return g.found ? 0 : -ENOENT;
}

int ipvs_nl_dump_dests(struct ipvs_nl *nl, const struct ipvs_svc *s, ipvs_dest_fn fn, void *arg)
{
	struct nl_msg *msg = svc_msg(nl, IPVS_CMD_GET_DEST, NLM_F_DUMP, s, false);
	struct talk t = { .dfn = fn, .arg = arg, .family = s->addr.family };
	int r;

	if (!msg)
		return -ENOMEM;
	r = talk(nl, msg, &t, on_dump);
	return r == -ESRCH ? -ENOENT : r;
}

struct timeouts {
	uint32_t v[3];
};

static int on_config(struct nl_msg *msg, void *arg)
{
	struct talk *t = arg;
	struct timeouts *to = t->arg;
	struct nlattr *a[IPVS_CMD_ATTR_MAX + 1];

	if (genlmsg_parse(nlmsg_hdr(msg), 0, a, IPVS_CMD_ATTR_MAX, NULL) < 0)
		return NL_SKIP;
	if (get_attr(a[IPVS_CMD_ATTR_TIMEOUT_TCP], &to->v[0], sizeof(to->v[0])) < 0 ||
	    get_attr(a[IPVS_CMD_ATTR_TIMEOUT_TCP_FIN], &to->v[1], sizeof(to->v[1])) < 0 ||
	    get_attr(a[IPVS_CMD_ATTR_TIMEOUT_UDP], &to->v[2], sizeof(to->v[2])) < 0)
		return NL_SKIP;
	return NL_OK;
}

int ipvs_nl_get_timeouts(struct ipvs_nl *nl, uint32_t *tcp, uint32_t *tcpfin, uint32_t *udp)
{
	struct nl_msg *msg = new_msg(nl, IPVS_CMD_GET_CONFIG, 0);
	struct timeouts to = { { 0 } };
	struct talk t = { .arg = &to };
	int r;

	if (!msg)
		return -ENOMEM;
	r = talk(nl, msg, &t, on_config);
	if (r < 0)
		return r;
	*tcp = to.v[0];
	*tcpfin = to.v[1];
	*udp = to.v[2];
	return 0;
}

int ipvs_nl_set_timeouts(struct ipvs_nl *nl, uint32_t tcp, uint32_t tcpfin, uint32_t udp)
{
	struct nl_msg *msg;
	struct talk t = { 0 };

	if (!tcp && !tcpfin && !udp)
		return 0;
	msg = new_msg(nl, IPVS_CMD_SET_CONFIG, 0);
	if (!msg)
		return -ENOMEM;
	/* the kernel leaves a timeout whose attribute is absent (or 0) */
	if ((tcp && nla_put_u32(msg, IPVS_CMD_ATTR_TIMEOUT_TCP, tcp) < 0) ||
	    (tcpfin && nla_put_u32(msg, IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, tcpfin) < 0) ||
	    (udp && nla_put_u32(msg, IPVS_CMD_ATTR_TIMEOUT_UDP, udp) < 0)) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	return talk(nl, msg, &t, NULL);
}

static const char *proto_upper(uint8_t p)
{
	return p == IPPROTO_TCP ? "TCP" : p == IPPROTO_UDP ? "UDP" : p == IPPROTO_SCTP ? "SCTP" : "?";
}

char *ipvs_svc_key(const struct ipvs_svc *s, char *buf, size_t len)
{
	char a[SY_ADDR_STRLEN];

	sy_addr_format(&s->addr, a, sizeof(a));
	if (s->addr.family == AF_INET6)
		snprintf(buf, len, "%s/[%s]:%u", proto_upper(s->proto), a, s->port);
	else
		snprintf(buf, len, "%s/%s:%u", proto_upper(s->proto), a, s->port);
	return buf;
}

int ipvs_svc_parse_key(const char *key, struct ipvs_svc *s)
{
	char p[8], a[SY_ADDR_STRLEN + 2];
	const char *slash = strchr(key, '/'), *colon = strrchr(key, ':'), *as;
	size_t alen;
	unsigned long port;
	char *end;

	if (!slash || !colon || colon < slash || (size_t)(slash - key) >= sizeof(p))
		return -EINVAL;
	memset(s, 0, sizeof(*s));
	snprintf(p, sizeof(p), "%.*s", (int)(slash - key), key);
	s->proto = !strcmp(p, "TCP") ? IPPROTO_TCP : !strcmp(p, "UDP") ? IPPROTO_UDP :
		   !strcmp(p, "SCTP") ? IPPROTO_SCTP : 0;
	as = slash + 1;
	alen = (size_t)(colon - as);
	if (alen >= 2 && as[0] == '[' && as[alen - 1] == ']') {
		as++;
		alen -= 2;
	} else if (memchr(as, ':', alen)) {
		return -EINVAL;		/* an IPv6 address is always bracketed */
	}
	if (!s->proto || alen >= sizeof(a))
		return -EINVAL;
	snprintf(a, sizeof(a), "%.*s", (int)alen, as);
	if (sy_addr_parse(a, &s->addr) < 0)
		return -EINVAL;
	port = strtoul(colon + 1, &end, 10);
	if (*end || port > 65535 || end == colon + 1)
		return -EINVAL;
	s->port = (uint16_t)port;
	return 0;
}
