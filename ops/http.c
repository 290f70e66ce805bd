// SPDX-License-Identifier: Apache-2.0
/*
 * A tiny HTTP/1.1 server on the libev loop, enough for healthz, metrics and
 * the healthCheckNodePort listeners: accept, read the request head (size
 * limit, read timeout), answer GET/HEAD, close ("Connection: close").
 * Everything is non-blocking; a large answer is written as the socket
 * drains.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "switchyard/log.h"
#include "switchyard/util.h"
#include "http.h"

#define HTTP_MAX_HEAD	8192	/* request line + headers */
#define HTTP_TIMEOUT	10.0	/* seconds for a whole exchange */
#define HTTP_LINGER	2.0	/* seconds to drain the client after answering */
#define HTTP_MAX_CONNS	128

enum conn_state { CONN_READ, CONN_WRITE, CONN_LINGER };

struct http_conn {
	struct http_server *srv;
	struct http_conn *prev, *next;
	int fd;
	enum conn_state state;
	ev_io io;
	ev_timer timer;
	char in[HTTP_MAX_HEAD + 1];
	size_t in_len;
	char *out;
	size_t out_len, out_off;
};

struct http_server {
	struct ev_loop *loop;
	int fd;
	ev_io accept_io;
	http_handler_fn fn;
	void *arg;
	struct http_conn *conns;
	unsigned n_conns;
	uint16_t port;
	/* not bound yet (address in use): retried on this timer */
	ev_timer retry;
	char *bind_addr;
	unsigned retries;
	struct sy_report rep;		/* told when a retry binds */
};

#define HTTP_RETRY	5.0	/* seconds between bind attempts */

/* ---- buffers ---- */

static void buf_reserve(struct http_buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;

	if (need <= b->cap)
		return;
	if (b->cap < 256)
		b->cap = 256;
	while (b->cap < need)
		b->cap *= 2;
	b->p = xrealloc(b->p, b->cap);
}

void http_buf_put(struct http_buf *b, const char *s, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void http_buf_puts(struct http_buf *b, const char *s)
{
	http_buf_put(b, s, strlen(s));
}

void http_buf_printf(struct http_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	buf_reserve(b, 128);
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= b->cap - b->len) {
		buf_reserve(b, (size_t)n);
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

void http_buf_json_str(struct http_buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	http_buf_put(b, "\"", 1);
	for (; *p; p++) {
		switch (*p) {
		case '"': http_buf_put(b, "\\\"", 2); break;
		case '\\': http_buf_put(b, "\\\\", 2); break;
		case '\n': http_buf_put(b, "\\n", 2); break;
		case '\r': http_buf_put(b, "\\r", 2); break;
		case '\t': http_buf_put(b, "\\t", 2); break;
		default:
			if (*p < 0x20)
				http_buf_printf(b, "\\u%04x", *p);
			else
				http_buf_put(b, (const char *)p, 1);
		}
	}
	http_buf_put(b, "\"", 1);
}

char *http_buf_steal(struct http_buf *b)
{
	char *p;

	if (!b->p)
		buf_reserve(b, 0), b->p[0] = '\0';
	p = b->p;
	memset(b, 0, sizeof(*b));
	return p;
}

/* ---- connections ---- */

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

static void conn_free(struct http_conn *c)
{
	struct http_server *s = c->srv;

	ev_io_stop(s->loop, &c->io);
	ev_timer_stop(s->loop, &c->timer);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	sy_free_all(c->out, c);
	/* below the limit again: accept more */
	if (s->n_conns-- == HTTP_MAX_CONNS && s->fd >= 0 && !ev_is_active(&s->accept_io))
		ev_io_start(s->loop, &s->accept_io);
}

/* Answer sent: stop writing, read and drop what the client still sends, then close. */
static void conn_linger(struct http_conn *c)
{
	struct ev_loop *loop = c->srv->loop;

	shutdown(c->fd, SHUT_WR);
	c->state = CONN_LINGER;
	ev_io_stop(loop, &c->io);
	ev_io_set(&c->io, c->fd, EV_READ);
	ev_io_start(loop, &c->io);
	ev_timer_stop(loop, &c->timer);
	ev_timer_set(&c->timer, HTTP_LINGER, 0);
	ev_timer_start(loop, &c->timer);
}

static void conn_write(struct http_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;	/* wait for EV_WRITE */
			conn_free(c);
			return;
		}
		c->out_off += (size_t)n;
	}
	conn_linger(c);
}

static void conn_respond(struct http_conn *c, bool head, struct http_reply *r)
{
	struct ev_loop *loop = c->srv->loop;
	struct http_buf b = { 0 };
	size_t blen = r->body ? strlen(r->body) : 0;

	http_buf_printf(&b, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			"X-Content-Type-Options: nosniff\r\n%sConnection: close\r\n\r\n",
			r->status, reason(r->status),
			r->ctype ? r->ctype : "text/plain; charset=utf-8", blen, r->headers);
	if (!head && blen)
		http_buf_put(&b, r->body, blen);
	free(r->body);
	r->body = NULL;
	c->out_len = b.len;
	c->out = http_buf_steal(&b);
	c->out_off = 0;
	c->state = CONN_WRITE;
	ev_io_stop(loop, &c->io);
	ev_io_set(&c->io, c->fd, EV_WRITE);
	ev_io_start(loop, &c->io);
	conn_write(c);
}

static void conn_error(struct http_conn *c, int status, const char *msg)
{
	struct http_reply r = { .status = status };

	r.body = xstrdup(msg);
	conn_respond(c, false, &r);
}

/* A whole request head is in c->in (NUL-terminated). */
static void conn_request(struct http_conn *c)
{
	struct http_server *s = c->srv;
	struct http_reply r = { .status = 500 };
	char *sp1, *sp2, *eol;
	bool head;

	eol = strpbrk(c->in, "\r\n");
	if (eol)
		*eol = '\0';
	sp1 = strchr(c->in, ' ');
	sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || strncmp(sp2 + 1, "HTTP/1.", 7) || sp1[1] != '/') {
		conn_error(c, 400, "400 Bad Request\n");
		return;
	}
	*sp1 = *sp2 = '\0';
	head = !strcmp(c->in, "HEAD");
	if (!head && strcmp(c->in, "GET")) {
		r.status = 405;
		r.body = xstrdup("405 method not allowed\n");
		snprintf(r.headers, sizeof(r.headers), "Allow: GET, HEAD\r\n");
		conn_respond(c, false, &r);
		return;
	}
	s->fn(s->arg, c->in, sp1 + 1, &r);
	conn_respond(c, head, &r);
}

static void conn_read(struct http_conn *c)
{
	for (;;) {
		ssize_t n = recv(c->fd, c->in + c->in_len, HTTP_MAX_HEAD - c->in_len, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				conn_free(c);
			return;
		}
		if (n == 0) {	/* client gave up before a whole request */
			conn_free(c);
			return;
		}
		c->in_len += (size_t)n;
		c->in[c->in_len] = '\0';
		if (strstr(c->in, "\r\n\r\n") || strstr(c->in, "\n\n")) {
			conn_request(c);
			return;
		}
		if (c->in_len >= HTTP_MAX_HEAD) {
			conn_error(c, 431, "431 Request Header Fields Too Large\n");
			return;
		}
	}
}

static void conn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct http_conn *c = container_of(w, struct http_conn, io);
	char drain[1024];
	ssize_t n;

	switch (c->state) {
	case CONN_READ:
		conn_read(c);
		break;
	case CONN_WRITE:
		conn_write(c);
		break;
	case CONN_LINGER:
		do
			n = recv(c->fd, drain, sizeof(drain), 0);
		while (n > 0);
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			conn_free(c);
		break;
	}
}

static void conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct http_conn *c = container_of(w, struct http_conn, timer);

	if (c->state == CONN_READ && c->in_len > 0)
		conn_error(c, 408, "408 Request Timeout\n");
	else
		conn_free(c);
}

/*
 * At the connection limit, make room by closing the oldest connection that
 * has not sent a whole request yet (a slow or idle client must not keep
 * health probes out).  Returns false when every connection is answering.
 */
static bool evict_idle(struct http_server *s)
{
	struct http_conn *c, *oldest = NULL;

	for (c = s->conns; c; c = c->next)	/* newest first: the last match is the oldest */
		if (c->state == CONN_READ || c->state == CONN_LINGER)
			oldest = c;
	if (!oldest)
		return false;
	conn_free(oldest);
	return true;
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct http_server *s = container_of(w, struct http_server, accept_io);

	for (;;) {
		struct http_conn *c;
		int fd;

		if (s->n_conns >= HTTP_MAX_CONNS && !evict_idle(s))
			break;
		fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			/* EAGAIN: done; EMFILE & co: try again on the next readiness */
			return;
		}
		c = xcalloc(1, sizeof(*c));
		c->srv = s;
		c->fd = fd;
		c->state = CONN_READ;
		c->next = s->conns;
		if (s->conns)
			s->conns->prev = c;
		s->conns = c;
		s->n_conns++;
		ev_io_init(&c->io, conn_io_cb, fd, EV_READ);
		ev_io_start(loop, &c->io);
		ev_timer_init(&c->timer, conn_timer_cb, HTTP_TIMEOUT, 0);
		ev_timer_start(loop, &c->timer);
	}
	/* at the limit: stop accepting until a connection closes */
	ev_io_stop(loop, &s->accept_io);
}

/* ---- server ---- */

int http_parse_bind(const char *bind_addr, struct sy_addr *ret_addr, uint16_t *ret_port)
{
	const char *colon, *host = bind_addr;
	char buf[64], *end;
	size_t hlen;
	unsigned long port;

	if (!bind_addr)
		return -EINVAL;
	colon = strrchr(bind_addr, ':');
	if (!colon)
		return -EINVAL;
	hlen = (size_t)(colon - bind_addr);
	if (bind_addr[0] == '[') {	/* "[IPv6]:port" */
		if (hlen < 2 || bind_addr[hlen - 1] != ']')
			return -EINVAL;
		host = bind_addr + 1;
		hlen -= 2;
	}
	if (hlen >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, host, hlen);
	buf[hlen] = '\0';
	if (!buf[0]) {
		/* ":port": every address of both families (Go's net.Listen) */
		*ret_addr = (struct sy_addr){ .family = AF_INET6 };
	} else if (sy_addr_parse_family(buf, bind_addr[0] == '[' ? AF_INET6 : AF_INET,
					ret_addr) < 0) {
		return -EINVAL;
	}
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || port > 65535)
		return -EINVAL;
	*ret_port = (uint16_t)port;
	return 0;
}

/*
 * A listening socket on addr:port; the port actually bound in *ret_port.
 * "[::]" (and ":port") listens on both families, as Go's net.Listen does
 * (IPV6_V6ONLY off), falling back to IPv4 where the kernel has no IPv6;
 * "0.0.0.0" on IPv4 only.
 */
static int server_listen(const struct sy_addr *addr, uint16_t port, const char *bind_addr,
			 int *ret_fd, uint16_t *ret_port, char *err, size_t errlen)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t slen;
	int fd, one = 1, zero = 0, r, family = addr->family;
	bool any6 = family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&addr->v6);

	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 && any6 && errno == EAFNOSUPPORT) {
		family = AF_INET;	/* no IPv6 in this kernel: the IPv4 wildcard */
		fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	}
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "socket: %s", strerror(-r));
		return r;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6) {
		if (any6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = addr->v6;
		sin6->sin6_port = htons(port);
		slen = sizeof(*sin6);
	} else {
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = addr->family == AF_INET ? addr->v4.s_addr : htonl(INADDR_ANY);
		sin->sin_port = htons(port);
		slen = sizeof(*sin);
	}
	if (bind(fd, (struct sockaddr *)&ss, slen) < 0 || listen(fd, 128) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &slen) < 0) {
		r = -errno;
		snprintf(err, errlen, "listen on %s: %s", bind_addr, strerror(-r));
		close(fd);
		return r;
	}
	*ret_fd = fd;
	*ret_port = ntohs(family == AF_INET6 ? sin6->sin6_port : sin->sin_port);
	return 0;
}

static void server_start(struct http_server *s, int fd, uint16_t port)
{
	s->fd = fd;
	s->port = port;
	ev_io_init(&s->accept_io, accept_cb, fd, EV_READ);
	ev_io_start(s->loop, &s->accept_io);
}

static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct http_server *s = container_of(w, struct http_server, retry);
	char err[256];
	struct sy_addr addr;
	uint16_t port, bound;
	int fd;

	s->retries++;
	if (http_parse_bind(s->bind_addr, &addr, &port) < 0 ||
	    server_listen(&addr, port, s->bind_addr, &fd, &bound, err, sizeof(err)) < 0)
		return;	/* the timer repeats */
	ev_timer_stop(loop, &s->retry);
	server_start(s, fd, bound);
	sy_report(&s->rep, 'I', "Listening on %s now (after %u retries)", s->bind_addr, s->retries);
}

static int server_new(struct http_server **ret, struct ev_loop *loop, const char *bind_addr,
		      http_handler_fn fn, void *arg, const struct sy_report *retry, char *err,
		      size_t errlen)
{
	struct http_server *s;
	struct sy_addr addr;
	uint16_t port, bound;
	int fd = -1, r;

	if (!bind_addr || !bind_addr[0]) {
		*ret = NULL;
		return 0;
	}
	if (http_parse_bind(bind_addr, &addr, &port) < 0) {
		snprintf(err, errlen, "invalid address \"%s\" (want IPv4:port or [IPv6]:port)",
			 bind_addr);
		return -EINVAL;
	}
	if (port == 0) {
		*ret = NULL;
		return 0;
	}
	r = server_listen(&addr, port, bind_addr, &fd, &bound, err, errlen);
	if (r < 0 && !(retry && (r == -EADDRINUSE || r == -EADDRNOTAVAIL)))
		return r;
	s = xcalloc(1, sizeof(*s));
	s->loop = loop;
	s->fd = -1;
	s->fn = fn;
	s->arg = arg;
	s->bind_addr = xstrdup(bind_addr);
	if (retry)
		s->rep = *retry;
	if (r < 0) {
		ev_timer_init(&s->retry, retry_cb, HTTP_RETRY, HTTP_RETRY);
		ev_timer_start(loop, &s->retry);
		*ret = s;
		return 1;
	}
	server_start(s, fd, bound);
	*ret = s;
	return 0;
}

int http_server_new(struct http_server **ret, struct ev_loop *loop, const char *bind_addr,
		    http_handler_fn fn, void *arg, char *err, size_t errlen)
{
	return server_new(ret, loop, bind_addr, fn, arg, NULL, err, errlen);
}

int http_server_new_retry(struct http_server **ret, struct ev_loop *loop, const char *bind_addr,
			  http_handler_fn fn, void *arg, const struct sy_report *rep, char *err,
			  size_t errlen)
{
	static const struct sy_report quiet;

	return server_new(ret, loop, bind_addr, fn, arg, rep ? rep : &quiet, err, errlen);
}

void http_server_free(struct http_server *s)
{
	if (!s)
		return;
	ev_io_stop(s->loop, &s->accept_io);
	ev_timer_stop(s->loop, &s->retry);
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	while (s->conns)
		conn_free(s->conns);
	sy_free_all(s->bind_addr, s);
}

uint16_t http_server_port(const struct http_server *s)
{
	return s ? s->port : 0;
}

unsigned http_server_conns(const struct http_server *s)
{
	return s ? s->n_conns : 0;
}
