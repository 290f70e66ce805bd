// SPDX-License-Identifier: Apache-2.0
/* Unit tests: histograms, the Prometheus renderer, and the HTTP server (on loopback). */
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <math.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include "switchyard/daemon.h"
#include "switchyard/log.h"
#include "switchyard/metrics.h"
#include "switchyard/util.h"
#include "../../ops/http.h"
#include "../../ops/render.h"
#include "helpers.h"

static void test_hist_exp(void **state)
{
	struct sy_hist h;

	sy_hist_init_exp(&h, 0.001, 2, 15);
	assert_int_equal(h.n_bounds, 15);
	assert_true(h.bounds[0] == 0.001);
	assert_true(h.bounds[1] == 0.002);
	assert_true(fabs(h.bounds[14] - 16.384) < 1e-12);
	for (unsigned i = 1; i < h.n_bounds; i++)
		assert_true(h.bounds[i] > h.bounds[i - 1]);
}

static void test_hist_netprog(void **state)
{
	struct sy_hist h;

	sy_hist_init_netprog(&h);
	assert_true(h.bounds[0] == 0.25);
	assert_true(h.bounds[1] == 0.5);
	assert_true(h.bounds[2] == 1);
	assert_true(h.bounds[h.n_bounds - 1] == 300);
	for (unsigned i = 1; i < h.n_bounds; i++)
		assert_true(h.bounds[i] > h.bounds[i - 1]);
#if SY_HIST_MAX_BUCKETS >= 80
	/* kube-proxy's exact 80 buckets */
	assert_int_equal(h.n_bounds, 80);
	assert_true(h.bounds[60] == 59);
	assert_true(h.bounds[61] == 60);
	assert_true(h.bounds[72] == 115);
	assert_true(h.bounds[73] == 120);
#else
	assert_int_equal(h.n_bounds, SY_HIST_MAX_BUCKETS);
#endif
}

static void test_hist_observe(void **state)
{
	struct sy_hist h;

	sy_hist_init_exp(&h, 1, 2, 3);	/* 1, 2, 4 */
	sy_hist_observe(&h, 0.5);
	sy_hist_observe(&h, 1);		/* le: exactly on the bound counts in it */
	sy_hist_observe(&h, 3);
	sy_hist_observe(&h, 100);	/* +Inf */
	sy_hist_observe(&h, NAN);	/* ignored */
	assert_int_equal(h.counts[0], 2);
	assert_int_equal(h.counts[1], 0);
	assert_int_equal(h.counts[2], 1);
	assert_int_equal(h.counts[3], 1);
	assert_int_equal(h.count, 4);
	assert_true(h.sum == 104.5);
}

static void test_fmt_double(void **state)
{
	char b[40];

	metrics_fmt_double(0.001, b, sizeof(b));
	assert_string_equal(b, "0.001");
	metrics_fmt_double(16.384, b, sizeof(b));
	assert_string_equal(b, "16.384");
	metrics_fmt_double(0.1 + 0.2, b, sizeof(b));
	assert_true(strtod(b, NULL) == 0.1 + 0.2);
	metrics_fmt_double(5, b, sizeof(b));
	assert_string_equal(b, "5");
	metrics_fmt_double(INFINITY, b, sizeof(b));
	assert_string_equal(b, "+Inf");
	metrics_fmt_double(1700000000.25, b, sizeof(b));
	assert_string_equal(b, "1700000000.25");
}

/* The value of the first sample line starting with "name{labels} " or "name ". */
static double sample(const char *text, const char *series)
{
	size_t n = strlen(series);
	const char *p = text;

	while (p && *p) {
		if (!strncmp(p, series, n) && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NAN;
}

static void test_render(void **state)
{
	struct sy_metrics m;
	char *t;

	sy_metrics_init(&m);
	sy_hist_observe(&m.sync_duration[0], 0.003);	/* in le=0.004 */
	sy_hist_observe(&m.sync_duration[0], 0.0005);	/* in le=0.001 */
	sy_hist_observe(&m.netprog_duration[0], 0.3);
	m.endpoint_changes_total = 7;
	m.service_changes_pending = 2;
	m.rule_tables = (const char *const[]){ "filter", "nat", NULL };
	m.rules_total[0][1] = 42;	/* nat */
	m.rules_total[0][0] = 3;	/* filter */
	m.healthz_503 = 4;
	m.no_local_endpoints_external[0] = 1;
	m.no_local_endpoints_external[1] = 6;
	m.syncs_total = 9;
	m.watch_reconnects_total = 5;
	m.last_sync_timestamp[0] = 1700000000.5;

	t = metrics_render(&m, METRICS_IPTABLES);
	assert_non_null(strstr(t, "# TYPE kubeproxy_sync_proxy_rules_duration_seconds histogram\n"));
	assert_true(sample(t, "kubeproxy_sync_proxy_rules_duration_seconds_bucket{ip_family=\"IPv4\",le=\"0.001\"}") == 1);
	assert_true(sample(t, "kubeproxy_sync_proxy_rules_duration_seconds_bucket{ip_family=\"IPv4\",le=\"0.002\"}") == 1);
	assert_true(sample(t, "kubeproxy_sync_proxy_rules_duration_seconds_bucket{ip_family=\"IPv4\",le=\"0.004\"}") == 2);
	assert_true(sample(t, "kubeproxy_sync_proxy_rules_duration_seconds_bucket{ip_family=\"IPv4\",le=\"16.384\"}") == 2);
	assert_true(sample(t, "kubeproxy_sync_proxy_rules_duration_seconds_bucket{ip_family=\"IPv4\",le=\"+Inf\"}") == 2);
	assert_true(sample(t, "kubeproxy_sync_proxy_rules_duration_seconds_count{ip_family=\"IPv4\"}") == 2);
	assert_true(fabs(sample(t, "kubeproxy_sync_proxy_rules_duration_seconds_sum{ip_family=\"IPv4\"}") - 0.0035) < 1e-12);
	assert_true(sample(t, "kubeproxy_network_programming_duration_seconds_bucket{ip_family=\"IPv4\",le=\"0.25\"}") == 0);
	assert_true(sample(t, "kubeproxy_network_programming_duration_seconds_bucket{ip_family=\"IPv4\",le=\"0.5\"}") == 1);
	assert_true(sample(t, "kubeproxy_sync_proxy_rules_endpoint_changes_total") == 7);
	assert_true(sample(t, "kubeproxy_sync_proxy_rules_service_changes_pending") == 2);
	assert_true(sample(t, "kubeproxy_sync_proxy_rules_iptables_total{ip_family=\"IPv4\",table=\"nat\"}") == 42);
	assert_true(sample(t, "kubeproxy_sync_proxy_rules_iptables_total{ip_family=\"IPv4\",table=\"filter\"}") == 3);
	assert_true(sample(t, "kubeproxy_proxy_healthz_total{code=\"503\"}") == 4);
	assert_true(sample(t, "kubeproxy_proxy_healthz_total{code=\"200\"}") == 0);
	assert_true(sample(t, "kubeproxy_sync_proxy_rules_no_local_endpoints_total{ip_family=\"IPv4\",traffic_policy=\"external\"}") == 1);
	assert_true(sample(t, "switchyard_syncs_total") == 9);
	assert_true(sample(t, "switchyard_watch_reconnects_total") == 5);
	assert_true(sample(t, "kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family=\"IPv4\"}") == 1700000000.5);
	assert_null(strstr(t, "process_resident_memory_bytes"));
	/* no IPv6 instance recorded: no IPv6 series */
	assert_null(strstr(t, "ip_family=\"IPv6\""));
	/* every family has HELP and TYPE exactly once */
	assert_non_null(strstr(t, "# HELP kubeproxy_proxy_livez_total "));
	assert_ptr_equal(strstr(t, "# TYPE switchyard_syncs_total counter"),
			 strstr(t, "# TYPE switchyard_syncs_total"));
	free(t);

	/* dual stack: each family's own series, kube-proxy's ip_family label */
	m.families = 3;
	sy_hist_observe(&m.sync_duration[1], 0.02);
	m.rules_total[1][1] = 5;
	m.sync_failures_total[0] = 1;
	m.sync_failures_total[1] = 2;
	m.last_sync_timestamp[1] = 1700000001;
	t = metrics_render(&m, METRICS_IPTABLES);
	assert_true(sample(t, "kubeproxy_sync_proxy_rules_duration_seconds_count{ip_family=\"IPv4\"}") == 2);
	assert_true(sample(t, "kubeproxy_sync_proxy_rules_duration_seconds_count{ip_family=\"IPv6\"}") == 1);
	assert_true(sample(t, "kubeproxy_sync_proxy_rules_duration_seconds_bucket{ip_family=\"IPv6\",le=\"0.016\"}") == 0);
	assert_true(sample(t, "kubeproxy_sync_proxy_rules_duration_seconds_bucket{ip_family=\"IPv6\",le=\"0.032\"}") == 1);
	assert_true(sample(t, "kubeproxy_sync_full_proxy_rules_duration_seconds_count{ip_family=\"IPv6\"}") == 0);
	assert_true(sample(t, "kubeproxy_sync_proxy_rules_iptables_total{ip_family=\"IPv4\",table=\"nat\"}") == 42);
	assert_true(sample(t, "kubeproxy_sync_proxy_rules_iptables_total{ip_family=\"IPv6\",table=\"nat\"}") == 5);
	assert_true(sample(t, "kubeproxy_sync_proxy_rules_iptables_total{ip_family=\"IPv6\",table=\"filter\"}") == 0);
	assert_true(sample(t, "kubeproxy_sync_proxy_rules_iptables_restore_failures_total{ip_family=\"IPv6\"}") == 2);
	assert_true(sample(t, "kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family=\"IPv6\"}") == 1700000001);
	assert_true(sample(t, "switchyard_sync_failures_total") == 3);
	assert_true(sample(t, "kubeproxy_sync_proxy_rules_no_local_endpoints_total{ip_family=\"IPv6\",traffic_policy=\"external\"}") == 6);
	assert_true(sample(t, "kubeproxy_network_programming_duration_seconds_count{ip_family=\"IPv6\"}") == 0);
	assert_true(sample(t, "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds{ip_family=\"IPv6\"}") == 0);
	/* one family header for both families' samples */
	assert_null(strstr(strstr(t, "# TYPE kubeproxy_sync_proxy_rules_duration_seconds ") + 1,
			   "# TYPE kubeproxy_sync_proxy_rules_duration_seconds "));
	free(t);
	m.rule_tables = (const char *const[]){ "ip switchyard", "ip6 switchyard", NULL };
	m.rules_total[0][0] = 7;
	m.rules_total[0][1] = 0;
	m.rules_total[1][1] = 9;
	t = metrics_render(&m, METRICS_NFTABLES);
	assert_true(sample(t, "kubeproxy_sync_proxy_rules_nftables_sync_failures_total{ip_family=\"IPv4\"}") == 1);
	assert_true(sample(t, "switchyard_nftables_objects{table=\"ip6 switchyard\"}") == 9);
	assert_true(sample(t, "switchyard_nftables_objects{table=\"ip switchyard\"}") == 7);
	free(t);

	t = metrics_render(&m, METRICS_PROCESS);
	assert_null(strstr(t, "kubeproxy_sync_proxy_rules_iptables_total"));
	assert_true(sample(t, "process_resident_memory_bytes") > 0);
	assert_true(sample(t, "process_start_time_seconds") > 1e9);
	assert_true(sample(t, "process_cpu_seconds_total") >= 0);
	free(t);
}

static void test_buf(void **state)
{
	struct http_buf b = { 0 };
	char *s;

	http_buf_json_str(&b, "a\"b\\c\n\x01");
	for (int i = 0; i < 1000; i++)
		http_buf_printf(&b, "%d,", i);
	s = http_buf_steal(&b);
	assert_memory_equal(s, "\"a\\\"b\\\\c\\n\\u0001\"0,1,2,", 23);
	assert_non_null(strstr(s, "998,999,"));
	free(s);
	s = http_buf_steal(&b);	/* empty buffer: "" */
	assert_string_equal(s, "");
	free(s);
}

static void test_parse_bind(void **state)
{
	struct sy_addr a;
	uint16_t p;

	assert_int_equal(http_parse_bind("0.0.0.0:10256", &a, &p), 0);
	assert_int_equal(a.family, AF_INET);
	assert_int_equal(a.v4.s_addr, htonl(INADDR_ANY));
	assert_int_equal(p, 10256);
	assert_int_equal(http_parse_bind("127.0.0.1:10249", &a, &p), 0);
	assert_int_equal(a.v4.s_addr, htonl(INADDR_LOOPBACK));
	/* ":port" = every address of both families, as Go's net.Listen */
	assert_int_equal(http_parse_bind(":80", &a, &p), 0);
	assert_int_equal(a.family, AF_INET6);
	assert_true(IN6_IS_ADDR_UNSPECIFIED(&a.v6));
	assert_int_equal(p, 80);
	/* IPv6 in brackets */
	assert_int_equal(http_parse_bind("[::]:10256", &a, &p), 0);
	assert_int_equal(a.family, AF_INET6);
	assert_true(IN6_IS_ADDR_UNSPECIFIED(&a.v6));
	assert_int_equal(p, 10256);
	assert_int_equal(http_parse_bind("[::1]:10249", &a, &p), 0);
	assert_true(IN6_IS_ADDR_LOOPBACK(&a.v6));
	assert_int_equal(http_parse_bind("[fd00::1]:1", &a, &p), 0);
	assert_string_equal(sy_addr_str(&a), "fd00::1");
	assert_int_equal(http_parse_bind("[10.0.0.1]:1", &a, &p), -EINVAL);
	assert_int_equal(http_parse_bind("::1:10249", &a, &p), -EINVAL);
	assert_int_equal(http_parse_bind("[::1:10249", &a, &p), -EINVAL);
	assert_int_equal(http_parse_bind("127.0.0.1", &a, &p), -EINVAL);
	assert_int_equal(http_parse_bind("127.0.0.1:65536", &a, &p), -EINVAL);
	assert_int_equal(http_parse_bind("127.0.0.1:x", &a, &p), -EINVAL);
	assert_int_equal(http_parse_bind("300.0.0.1:1", &a, &p), -EINVAL);
}

/* ---- the HTTP server, driven by a forked blocking client ---- */

static int big_size = 4 << 20;

static void handler(void *arg, const char *method, const char *path, struct http_reply *r)
{
	int *calls = arg;
	int *ret_status = &r->status;
	const char **ret_ctype = &r->ctype;
	char **ret_body = &r->body;

	(*calls)++;
	if (!strcmp(path, "/big")) {
		char *b = xmalloc((size_t)big_size + 1);

		memset(b, 'x', (size_t)big_size);
		b[big_size] = '\0';
		*ret_status = 200;
		*ret_body = b;
		return;
	}
	if (!strncmp(path, "/echo", 5)) {
		*ret_status = 200;
		*ret_ctype = "application/json";
		*ret_body = xstrdup(path);
		return;
	}
	*ret_status = 404;
	*ret_body = xstrdup("404 page not found\n");
}

static uint16_t free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &l), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

static void child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	ev_child_stop(loop, w);
	ev_break(loop, EVBREAK_ALL);
}

/*
 * Send raw bytes to the server on port, return everything it answered
 * (malloc'd).  The client runs in a child process; the server in this one.
 */
static char *exchange(struct ev_loop *loop, uint16_t port, const char *req, size_t req_len,
		      size_t *ret_len)
{
	char path[] = "/tmp/sy-test-http.XXXXXX";
	int out = mkstemp(path);
	pid_t pid;
	ev_child cw;
	char *buf;
	size_t len;

	assert_true(out >= 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port),
					   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		char b[65536];
		ssize_t n;

		if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
			_exit(1);
		if (req_len && write(fd, req, req_len) != (ssize_t)req_len)
			_exit(2);
		if (!req_len)	/* a client that gives up without a request */
			shutdown(fd, SHUT_WR);
		while ((n = read(fd, b, sizeof(b))) > 0)
			if (write(out, b, (size_t)n) != n)
				_exit(3);
		_exit(n < 0 ? 4 : 0);
	}
	ev_child_init(&cw, child_cb, pid, 0);
	ev_child_start(loop, &cw);
	ev_run(loop, 0);
	assert_true(WIFEXITED(cw.rstatus));
	assert_int_equal(WEXITSTATUS(cw.rstatus), 0);
	assert_int_equal(sy_read_file(path, &buf, &len), 0);
	unlink(path);
	close(out);
	*ret_len = len;
	return buf;
}

static void test_http_server(void **state)
{
	struct ev_loop *loop = ev_default_loop(0);
	struct http_server *s = NULL;
	char err[256], addr[32], *resp, big_req[9000];
	uint16_t port = free_port();
	int calls = 0;
	size_t len;
	const char *body;

	/* disabled */
	assert_int_equal(http_server_new(&s, loop, "", handler, &calls, err, sizeof(err)), 0);
	assert_null(s);
	assert_int_equal(http_server_new(&s, loop, "127.0.0.1:0", handler, &calls, err,
					 sizeof(err)), 0);
	assert_null(s);
	assert_int_equal(http_server_new(&s, loop, "bogus", handler, &calls, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "bogus"));

	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	assert_int_equal(http_server_new(&s, loop, addr, handler, &calls, err, sizeof(err)), 0);
	assert_non_null(s);
	assert_int_equal(http_server_port(s), port);
	{	/* a second server on the same address fails with a reason */
		struct http_server *s2 = NULL;

		assert_true(http_server_new(&s2, loop, addr, handler, &calls, err, sizeof(err)) < 0);
		assert_non_null(strstr(err, "in use"));
	}

	resp = exchange(loop, port, "GET /echo?x=1 HTTP/1.1\r\nHost: a\r\n\r\n", 35, &len);
	assert_non_null(strstr(resp, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(resp, "Content-Type: application/json\r\n"));
	assert_non_null(strstr(resp, "Content-Length: 9\r\n"));
	assert_non_null(strstr(resp, "X-Content-Type-Options: nosniff\r\n"));
	assert_non_null(strstr(resp, "Connection: close\r\n"));
	body = strstr(resp, "\r\n\r\n");
	assert_non_null(body);
	assert_string_equal(body + 4, "/echo?x=1");
	free(resp);

	resp = exchange(loop, port, "HEAD /echo HTTP/1.0\r\n\r\n", 23, &len);
	assert_non_null(strstr(resp, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(resp, "Content-Length: 5\r\n"));
	assert_string_equal(strstr(resp, "\r\n\r\n"), "\r\n\r\n");
	free(resp);

	resp = exchange(loop, port, "GET /nope HTTP/1.1\r\n\r\n", 22, &len);
	assert_non_null(strstr(resp, "HTTP/1.1 404 Not Found\r\n"));
	free(resp);

	calls = 0;
	resp = exchange(loop, port, "POST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", 45, &len);
	assert_non_null(strstr(resp, "HTTP/1.1 405 Method Not Allowed\r\n"));
	assert_non_null(strstr(resp, "Allow: GET, HEAD\r\n"));
	assert_int_equal(calls, 0);
	free(resp);

	resp = exchange(loop, port, "hello\r\n\r\n", 9, &len);
	assert_non_null(strstr(resp, "HTTP/1.1 400 Bad Request\r\n"));
	free(resp);

	/* a head larger than the limit: 431, the handler is not called */
	memcpy(big_req, "GET / HTTP/1.1\r\nX: ", 19);
	memset(big_req + 19, 'a', sizeof(big_req) - 19);
	resp = exchange(loop, port, big_req, sizeof(big_req), &len);
	assert_non_null(strstr(resp, "HTTP/1.1 431 "));
	assert_int_equal(calls, 0);
	free(resp);

	/* a client that connects and closes without a request */
	resp = exchange(loop, port, "", 0, &len);
	assert_int_equal(len, 0);
	free(resp);

	/* a body much larger than the socket buffers arrives whole */
	resp = exchange(loop, port, "GET /big HTTP/1.1\r\n\r\n", 21, &len);
	body = strstr(resp, "\r\n\r\n");
	assert_non_null(body);
	assert_int_equal(len - (size_t)(body + 4 - resp), (size_t)big_size);
	assert_int_equal(calls, 1);
	free(resp);

	/* idle connections beyond the limit do not keep a real request out */
	{
		pid_t pid = fork();
		ev_child cw;

		assert_true(pid >= 0);
		if (pid == 0) {
			struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port),
						   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
			char b[4096];
			ssize_t n, got = 0;
			int fd;

			for (int i = 0; i < 200; i++) {	/* > HTTP_MAX_CONNS, never closed */
				fd = socket(AF_INET, SOCK_STREAM, 0);
				if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
					_exit(1);
			}
			usleep(200000);
			fd = socket(AF_INET, SOCK_STREAM, 0);
			if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
			    write(fd, "GET /echo HTTP/1.1\r\n\r\n", 22) != 22)
				_exit(2);
			while ((n = read(fd, b + got, sizeof(b) - 1 - (size_t)got)) > 0)
				got += n;
			b[got] = '\0';
			_exit(strstr(b, "HTTP/1.1 200 OK") ? 0 : 3);
		}
		ev_child_init(&cw, child_cb, pid, 0);
		ev_child_start(loop, &cw);
		ev_run(loop, 0);
		assert_true(WIFEXITED(cw.rstatus));
		assert_int_equal(WEXITSTATUS(cw.rstatus), 0);
		assert_true(http_server_conns(s) <= 128);
	}

	/* nothing left open once clients are gone (linger drains) */
	for (int i = 0; i < 50 && http_server_conns(s); i++)
		ev_run(loop, EVRUN_NOWAIT), usleep(20000);
	assert_int_equal(http_server_conns(s), 0);
	http_server_free(s);
}

static void stop_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	ev_break(loop, EVBREAK_ALL);
}

static void test_http_retry(void **state)
{
	struct ev_loop *loop = ev_default_loop(0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct http_server *s = NULL;
	uint16_t port = free_port();
	char err[256], addr[32], *resp;
	int blocker = socket(AF_INET, SOCK_STREAM, 0), calls = 0;
	ev_timer t;
	size_t len;

	/* another process holds the address (kube-proxy during a switch-over) */
	sin.sin_port = htons(port);
	assert_int_equal(bind(blocker, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(blocker, 1), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	assert_int_equal(http_server_new_retry(&s, loop, addr, (http_handler_fn)NULL, NULL, NULL,
					       err, sizeof(err)), 1);
	assert_non_null(s);
	assert_non_null(strstr(err, "in use"));
	assert_int_equal(http_server_port(s), 0);
	http_server_free(s);

	/* once it lets go, the retry takes the address within 5 s */
	s = NULL;
	assert_int_equal(http_server_new(&s, loop, addr, handler, &calls, err, sizeof(err)) < 0, 1);
	{
		struct http_server *r = NULL;
		struct last_said said = { 0 };
		char want[96];

		assert_int_equal(http_server_new_retry(&r, loop, addr, (http_handler_fn)NULL, NULL,
						       &(struct sy_report){ last_said_fn, &said }, err,
						       sizeof(err)), 1);
		close(blocker);
		ev_timer_init(&t, stop_cb, 6, 0);
		ev_timer_start(loop, &t);
		ev_run(loop, 0);
		assert_int_equal(http_server_port(r), port);
		/* the bind that finally worked is told to the owner, not logged */
		snprintf(want, sizeof(want), "Listening on %s now (after 1 retries)", addr);
		assert_int_equal(said.n, 1);
		assert_int_equal(said.sev, 'I');
		assert_string_equal(said.msg, want);
		http_server_free(r);
	}
	/* and a plain server (no retry) gets a bound port too */
	assert_int_equal(http_server_new(&s, loop, addr, handler, &calls, err, sizeof(err)), 0);
	resp = exchange(loop, port, "GET /echo HTTP/1.1\r\n\r\n", 22, &len);
	assert_non_null(strstr(resp, "HTTP/1.1 200 OK"));
	free(resp);
	http_server_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hist_exp),
		cmocka_unit_test(test_hist_netprog),
		cmocka_unit_test(test_hist_observe),
		cmocka_unit_test(test_fmt_double),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_buf),
		cmocka_unit_test(test_parse_bind),
		cmocka_unit_test(test_http_server),
		cmocka_unit_test(test_http_retry),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
