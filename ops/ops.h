/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SWITCHYARD_SRC_OPS_H
#define SWITCHYARD_SRC_OPS_H
/*
 * Internal interfaces of the operations part (http.c, status.c,
 * svc_health.c, metrics.c, config_file.c) that the public headers do not
 * declare.  Not for other parts: they use daemon.h / metrics.h / config.h.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ev_loop;
struct http_server;
struct sy_config;
struct sy_metrics;

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
typedef void (*http_handler2_fn)(void *arg, const char *method, const char *target,
				 struct http_reply *reply);
/*
 * Like http_server_new() with a handler that can add headers.  bind_addr
 * "" or with port 0 means disabled: returns 0 and *ret = NULL.
 */
int http_server_new2(struct http_server **ret, struct ev_loop *loop, const char *bind_addr,
		     http_handler2_fn fn, void *arg, char *err, size_t errlen);
/*
 * Like http_server_new2(), but when the address is in use (another process
 * still holds it, e.g. kube-proxy during a switch-over) or not there yet,
 * returns 1 with the reason in err and a server that retries the bind
 * every 5 s (logging once it succeeds).
 */
int http_server_new_retry(struct http_server **ret, struct ev_loop *loop, const char *bind_addr,
			  http_handler2_fn fn, void *arg, char *err, size_t errlen);
/* Parse "IPv4:port" (":port" = 0.0.0.0); 0, or -EINVAL. */
int http_parse_bind(const char *bind_addr, uint32_t *ret_addr_be, uint16_t *ret_port);
/* The port actually bound (useful with tests); 0 if s is NULL or not bound yet. */
uint16_t http_server_port(const struct http_server *s);
/* Connections currently open (for tests and /debug). */
unsigned http_server_conns(const struct http_server *s);

/* metrics.c: Prometheus text format 0.0.4 (malloc'd). */
#define METRICS_IPTABLES	0x01	/* add the iptables-only kubeproxy_* series */
#define METRICS_PROCESS		0x02	/* add process_* from /proc/self */
char *metrics_render(const struct sy_metrics *m, unsigned flags);
/* Shortest text that reads back as the same double ("+Inf", "NaN" too). */
void metrics_fmt_double(double v, char *buf, size_t len);

/* config_file.c: Go's time.Duration.String() of a number of seconds ("1m30s"). */
void config_file_fmt_duration(double seconds, char *buf, size_t len);
/* The effective configuration as kube-proxy's /configz shows it (malloc'd JSON). */
char *config_file_configz(const struct sy_config *cfg);

#endif
