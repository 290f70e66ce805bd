/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SWITCHYARD_OPS_HTTP_H
#define SWITCHYARD_OPS_HTTP_H
/*
 * ops/http.c: a tiny HTTP/1.1 server on the libev loop (healthz, metrics,
 * healthCheckNodePort listeners) and the text buffer its handlers fill.
 * Used inside ops/ (and by its unit tests).
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "switchyard/addr.h"

struct sy_report;

struct ev_loop;
struct http_server;

/* A growable text buffer (aborts on OOM like xmalloc); p is NUL-terminated. */
struct http_buf {
	char *p;
	size_t len, cap;
};
void http_buf_put(struct http_buf *b, const char *s, size_t n);
void http_buf_puts(struct http_buf *b, const char *s);
void http_buf_printf(struct http_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A JSON string literal with quotes and escapes. */
void http_buf_json_str(struct http_buf *b, const char *s);
/* Hand the buffer over (malloc'd, never NULL). */
char *http_buf_steal(struct http_buf *b);

/* What a handler answers. */
struct http_reply {
	int status;
	const char *ctype;		/* static; default text/plain; charset=utf-8 */
	char *body;			/* malloc'd or NULL */
	char headers[256];		/* extra header lines, each ending in \r\n */
};
/* target is the request target as sent (path and query). */
typedef void (*http_handler_fn)(void *arg, const char *method, const char *target,
				 struct http_reply *reply);
/*
 * A server on bind_addr ("IPv4:port") calling fn for every request.
 * bind_addr "" or with port 0 means disabled: returns 0 and *ret = NULL.
 * Otherwise 0, or -errno with the reason in err.
 */
int http_server_new(struct http_server **ret, struct ev_loop *loop, const char *bind_addr,
		     http_handler_fn fn, void *arg, char *err, size_t errlen);
/*
 * Like http_server_new(), but when the address is in use (another process
 * still holds it, e.g. kube-proxy during a switch-over) or not there yet,
 * returns 1 with the reason in err and a server that retries the bind
 * every 5 s, telling rep ('I') once it succeeds.
 */
int http_server_new_retry(struct http_server **ret, struct ev_loop *loop, const char *bind_addr,
			  http_handler_fn fn, void *arg, const struct sy_report *rep, char *err,
			  size_t errlen);
/*
 * Parse "IPv4:port", "[IPv6]:port" or ":port" (= "[::]:port": both
 * families, as Go's net.Listen); 0, or -EINVAL.
 */
int http_parse_bind(const char *bind_addr, struct sy_addr *ret_addr, uint16_t *ret_port);
/* The port actually bound (useful with tests); 0 if s is NULL or not bound yet. */
uint16_t http_server_port(const struct http_server *s);
/* Connections currently open (for tests and /debug). */
unsigned http_server_conns(const struct http_server *s);
void http_server_free(struct http_server *s);

#endif
