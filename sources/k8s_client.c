// SPDX-License-Identifier: Apache-2.0
/*
 * The Kubernetes client: three informers (Services, EndpointSlices, Nodes),
 * each a paginated LIST followed by a WATCH from the list's
 * resourceVersion, over libcurl's multi interface on the libev loop
 * (socket and timer callbacks; no blocking calls, no threads).
 *
 * Per informer:  LIST page 1..n  → cache_replace_begin / apply / end
 *                WATCH (rv, bookmarks, timeoutSeconds 300..600)
 *                  normal end           → WATCH again from the last rv
 *                  ERROR 410 in stream  → LIST again (relist)
 *                  dropped / 5xx / 429  → backoff, WATCH again
 *                HTTP 410 on a continue → LIST again from page 1
 * A lost connection leaves the cache as it is.
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <ev.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include "switchyard/k8s.h"
#include "switchyard/json_util.h"
#include "switchyard/log.h"
#include "switchyard/metrics.h"
#include "switchyard/model.h"
#include "switchyard/util.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0"
#endif
#define K8S_PAGE_LIMIT		500
#define K8S_MAX_LINE		(16u << 20)	/* one watch event */
#define K8S_MAX_BODY		(512u << 20)	/* one LIST page */
#define K8S_BACKOFF_MIN		0.5
#define K8S_BACKOFF_MAX		30.0
#define K8S_CONNECT_TIMEOUT	10L
#define K8S_LOW_SPEED_TIME	60L

enum req_type { REQ_LIST, REQ_WATCH, REQ_PATCH };

struct k8s_client;
struct informer;

struct request {
	struct k8s_client *k;
	struct informer *inf;		/* NULL for a PATCH */
	enum req_type type;
	CURL *easy;
	struct curl_slist *headers;
	char *body;			/* request body (PATCH) */
	char *what;			/* for logs: "PATCH Node x" */
	long status;			/* HTTP status, once known */
	json_tokener *tok;		/* LIST/PATCH/error response */
	struct json_object *resp;
	size_t resp_len;
	bool resp_bad;
	bool abort;			/* set by the write callback: stop this transfer */
	unsigned events;		/* watch events seen */
	double started;
	char errbuf[CURL_ERROR_SIZE];
	/* PATCH retries */
	ev_timer timer;
	unsigned attempts;
	struct request *next;		/* k->patches */
};

struct informer {
	struct k8s_client *k;
	enum sy_kind kind;
	const char *plural;		/* "Services" (logs) */
	const char *path;		/* "/api/v1/services" */
	char *selector;			/* "labelSelector=..." (encoded) or NULL */
	char *rv;			/* last resourceVersion seen */
	char *cont;			/* continue token of the running list */
	bool listed;			/* a full list completed since start */
	bool relist;			/* the watch asked for a fresh list */
	double list_done_at;		/* ev_now() of the last complete LIST */
	unsigned list_items;
	double backoff;
	bool not_served;		/* a 404 was reported (said once until it is served) */
	struct request *req;
	struct watch_decoder *dec;
	ev_timer timer;			/* next request (0 or backoff) */
};

struct k8s_client {
	struct ev_loop *loop;
	struct k8s_conn conn;
	char *base;			/* URL prefix (host replaced by tls-server-name) */
	struct curl_slist *connect_to;
	struct curl_blob ca_blob, cert_blob, key_blob;
	struct cache *cache;
	struct sy_metrics *metrics;
	char *node_name;
	CURLM *multi;
	ev_timer curl_timer;
	struct informer inf[SY_KIND_MAX];
	struct request *patches;
	uint64_t rand_state;
	struct sy_report report;
};

struct sock_watch {
	ev_io io;
	struct k8s_client *k;
};

static void informer_schedule(struct informer *inf, double delay);
static void request_free(struct request *r);

/* xorshift64* in [0, 1): enough for spreading retries */
static double rnd(struct k8s_client *k)
{
	k->rand_state ^= k->rand_state >> 12;
	k->rand_state ^= k->rand_state << 25;
	k->rand_state ^= k->rand_state >> 27;
	return (double)((k->rand_state * 2685821657736338717ULL) >> 11) / (double)(1ULL << 53);
}

/* v ± 50% */
static double jitter(struct k8s_client *k, double v)
{
	return v * (0.5 + rnd(k));
}

static unsigned rand_range(struct k8s_client *k, unsigned lo, unsigned hi)
{
	return lo + (unsigned)(rnd(k) * (double)(hi - lo + 1));
}

/* ---- libcurl ↔ libev glue ---- */

static void check_multi_info(struct k8s_client *k);

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct sock_watch *sw = container_of(w, struct sock_watch, io);
	struct k8s_client *k = sw->k;
	int action = (revents & EV_READ ? CURL_CSELECT_IN : 0) |
		     (revents & EV_WRITE ? CURL_CSELECT_OUT : 0);
	int running;

	curl_multi_socket_action(k->multi, w->fd, action, &running);
	check_multi_info(k);
}

static void curl_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct k8s_client *k = container_of(w, struct k8s_client, curl_timer);
	int running;

	curl_multi_socket_action(k->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_multi_info(k);
}

static int sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct k8s_client *k = userp;
	struct sock_watch *sw = socketp;
	int events;

	if (what == CURL_POLL_REMOVE) {
		if (sw) {
			ev_io_stop(k->loop, &sw->io);
			curl_multi_assign(k->multi, s, NULL);
			free(sw);
		}
		return 0;
	}
	events = (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
	if (!sw) {
		sw = xcalloc(1, sizeof(*sw));
		sw->k = k;
		ev_io_init(&sw->io, io_cb, s, events);
		curl_multi_assign(k->multi, s, sw);
	} else {
		ev_io_stop(k->loop, &sw->io);
		ev_io_set(&sw->io, s, events);
	}
	ev_io_start(k->loop, &sw->io);
	return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct k8s_client *k = userp;

	ev_timer_stop(k->loop, &k->curl_timer);
	if (timeout_ms >= 0) {
		ev_timer_set(&k->curl_timer, (double)timeout_ms / 1000.0, 0.);
		ev_timer_start(k->loop, &k->curl_timer);
	}
	return 0;
}

/* ---- helpers ---- */

static const char *obj_rv(struct json_object *obj)
{
	return jget_str(jget(obj, "metadata"), "resourceVersion");
}

static void set_str(char **p, const char *v)
{
	free(*p);
	*p = v ? xstrdup(v) : NULL;
}

/* "reason: message" of a Status body, or the HTTP status. */
static void status_text(struct json_object *st, long code, char *buf, size_t len)
{
	const char *reason = jget_str(st, "reason"), *msg = jget_str(st, "message");

	if (msg)
		snprintf(buf, len, "HTTP %ld %s: %s", code, reason ? reason : "", msg);
	else
		snprintf(buf, len, "HTTP %ld", code);
}

static char *read_token(struct k8s_client *k)
{
	char *t = NULL;
	size_t len;
	int r;

	if (k->conn.token_file) {
		r = sy_read_file(k->conn.token_file, &t, &len);
		if (r >= 0) {
			while (len && (t[len - 1] == '\n' || t[len - 1] == '\r' || t[len - 1] == ' '))
				t[--len] = 0;
			if (len)
				return t;
			free(t);
			sy_report(&k->report, 'W', "Token file %s is empty", k->conn.token_file);
		} else {
			sy_report(&k->report, 'W', "Cannot read token file %s: %s",
				  k->conn.token_file, strerror(-r));
		}
	}
	return k->conn.token ? xstrdup(k->conn.token) : NULL;
}

/* ---- requests ---- */

static size_t body_write_cb(char *p, size_t size, size_t n, void *arg);

static struct request *request_new(struct k8s_client *k, struct informer *inf, enum req_type type,
				   const char *url, double timeout)
{
	struct request *r = xcalloc(1, sizeof(*r));
	char *tok, *hdr;

	r->k = k;
	r->inf = inf;
	r->type = type;
	r->started = ev_now(k->loop);
	r->easy = curl_easy_init();
	if (!r->easy)
		abort();
	curl_easy_setopt(r->easy, CURLOPT_URL, url);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, body_write_cb);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->easy, CURLOPT_USERAGENT, "switchyard/" PACKAGE_VERSION);
	curl_easy_setopt(r->easy, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT, K8S_CONNECT_TIMEOUT);
	if (timeout > 0)
		curl_easy_setopt(r->easy, CURLOPT_TIMEOUT, (long)timeout);
	/* a server that stops sending mid-response: give up and retry */
	curl_easy_setopt(r->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(r->easy, CURLOPT_LOW_SPEED_TIME,
			 type == REQ_WATCH ? (long)timeout + 30 : K8S_LOW_SPEED_TIME);
	if (k->connect_to)
		curl_easy_setopt(r->easy, CURLOPT_CONNECT_TO, k->connect_to);
	if (k->conn.insecure) {
		curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYHOST, 0L);
	} else {
		if (k->conn.ca_file)
			curl_easy_setopt(r->easy, CURLOPT_CAINFO, k->conn.ca_file);
		if (k->conn.ca_data)
			curl_easy_setopt(r->easy, CURLOPT_CAINFO_BLOB, &k->ca_blob);
	}
	if (k->conn.client_cert_file)
		curl_easy_setopt(r->easy, CURLOPT_SSLCERT, k->conn.client_cert_file);
	else if (k->conn.client_cert_data)
		curl_easy_setopt(r->easy, CURLOPT_SSLCERT_BLOB, &k->cert_blob);
	if (k->conn.client_key_file)
		curl_easy_setopt(r->easy, CURLOPT_SSLKEY, k->conn.client_key_file);
	else if (k->conn.client_key_data)
		curl_easy_setopt(r->easy, CURLOPT_SSLKEY_BLOB, &k->key_blob);
	if (k->conn.client_cert_file || k->conn.client_cert_data)
		curl_easy_setopt(r->easy, CURLOPT_SSLCERTTYPE, "PEM");

	r->headers = curl_slist_append(r->headers, "Accept: application/json");
	tok = read_token(k);	/* re-read per request: rotated tokens are picked up */
	if (tok) {
		if (asprintf(&hdr, "Authorization: Bearer %s", tok) < 0)
			abort();
		r->headers = curl_slist_append(r->headers, hdr);
		free(hdr);
		free(tok);
	}
	if (type != REQ_WATCH) {
		r->tok = json_tokener_new_ex(64);
		if (!r->tok)
			abort();
	}
	return r;
}

static void request_start(struct request *r)
{
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
	curl_multi_add_handle(r->k->multi, r->easy);
}

static void request_free(struct request *r)
{
	if (!r)
		return;
	if (r->easy) {
		curl_multi_remove_handle(r->k->multi, r->easy);
		curl_easy_cleanup(r->easy);
	}
	curl_slist_free_all(r->headers);
	if (r->tok)
		json_tokener_free(r->tok);
	json_object_put(r->resp);
	sy_free_all(r->body, r->what, r);
}

/* Feed a response body (LIST page, PATCH result, error Status) to the tokener. */
static void resp_feed(struct request *r, const char *p, size_t n)
{
	enum json_tokener_error e;

	if (r->resp || r->resp_bad)
		return;		/* complete (trailing newline) or already broken */
	if (!r->tok) {
		r->tok = json_tokener_new_ex(64);
		if (!r->tok)
			abort();
	}
	r->resp_len += n;
	if (r->resp_len > K8S_MAX_BODY) {
		r->resp_bad = true;
		r->abort = true;
		return;
	}
	r->resp = json_tokener_parse_ex(r->tok, p, (int)n);
	e = json_tokener_get_error(r->tok);
	if (!r->resp && e != json_tokener_continue)
		r->resp_bad = true;
}

static void watch_event(void *arg, const char *type, struct json_object *obj, const char *error);

static size_t body_write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct request *r = arg;
	size_t len = size * n;

	if (!r->status)
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->type == REQ_WATCH && r->status == 200) {
		struct informer *inf = r->inf;
		int ret = watch_decoder_feed(inf->dec, p, len);

		if (ret == -ENOMEM)
			return 0;
		if (ret == -E2BIG && !r->abort) {
			/*
			 * An event too long to decode is an update we would never
			 * see again (rewatching from the same resourceVersion
			 * replays it): list afresh, which has room for it.
			 */
			sy_report(&r->k->report, 'W', "%s watch: an event longer than %u MiB "
				  "cannot be decoded; relisting so that its update is not lost",
				  inf->plural, K8S_MAX_LINE >> 20);
			inf->relist = true;
			r->abort = true;
			return 0;
		}
	} else {
		resp_feed(r, p, len);
	}
	return r->abort ? 0 : len;
}

/* ---- informers ---- */

static char *informer_url(struct informer *inf, bool watch)
{
	struct k8s_client *k = inf->k;
	char *url, *enc = NULL;
	int n;

	if (watch) {
		n = asprintf(&url, "%s%s?watch=1&resourceVersion=%s&allowWatchBookmarks=true"
			     "&timeoutSeconds=%u%s%s", k->base, inf->path, inf->rv,
			     rand_range(k, 300, 600), inf->selector ? "&" : "",
			     inf->selector ? inf->selector : "");
	} else {
		if (inf->cont)
			enc = curl_easy_escape(NULL, inf->cont, 0);
		n = asprintf(&url, "%s%s?limit=%d%s%s%s%s", k->base, inf->path, K8S_PAGE_LIMIT,
			     inf->selector ? "&" : "", inf->selector ? inf->selector : "",
			     enc ? "&continue=" : "", enc ? enc : "");
		curl_free(enc);
	}
	if (n < 0)
		abort();
	return url;
}

static void informer_request(struct informer *inf)
{
	struct k8s_client *k = inf->k;
	bool watch = inf->listed && !inf->relist && inf->rv;
	char *url;

	if (!watch) {
		inf->listed = inf->listed && !inf->relist;
		inf->relist = false;
	}
	url = informer_url(inf, watch);
	if (watch) {
		/* the server ends the watch after timeoutSeconds; allow a margin */
		inf->req = request_new(k, inf, REQ_WATCH, url, 600 + 60);
		watch_decoder_reset(inf->dec);
		log_v(4, "%s: GET %s", inf->plural, url);
	} else {
		inf->req = request_new(k, inf, REQ_LIST, url, 0);
		log_v(4, "%s: GET %s", inf->plural, url);
	}
	free(url);
	request_start(inf->req);
}

static void informer_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct informer *inf = container_of(w, struct informer, timer);

	if (!inf->req)
		informer_request(inf);
}

static void informer_schedule(struct informer *inf, double delay)
{
	ev_timer_stop(inf->k->loop, &inf->timer);
	ev_timer_set(&inf->timer, delay, 0.);
	ev_timer_start(inf->k->loop, &inf->timer);
}

/* Failure: retry after a capped exponential backoff with jitter (at least min_delay). */
static void informer_backoff_min(struct informer *inf, double min_delay)
{
	double d;

	inf->backoff = inf->backoff ? inf->backoff * 2 : K8S_BACKOFF_MIN;
	if (inf->backoff > K8S_BACKOFF_MAX)
		inf->backoff = K8S_BACKOFF_MAX;
	d = jitter(inf->k, inf->backoff);
	if (d < min_delay)
		d = min_delay;
	inf->k->metrics->watch_reconnects_total++;
	log_v(2, "%s: retrying in %.1fs", inf->plural, d);
	informer_schedule(inf, d);
}

/*
 * ServiceCIDRs the server does not serve (404), and ServiceCIDRs or Nodes it
 * lets us not read (401/403), count as listed, none: the sync runner waits for their first
 * listing, which must not keep Services from being proxied.
 */
static void optional_listed(struct informer *inf)
{
	if ((inf->kind == SY_KIND_SERVICECIDR || inf->kind == SY_KIND_NODE) &&
	    !cache_synced(inf->k->cache, inf->kind))
		cache_set_synced(inf->k->cache, inf->kind);
}

static void informer_backoff(struct informer *inf)
{
	informer_backoff_min(inf, 0);
}

/* A fresh LIST: at once, unless the last one finished moments ago (a server
 * that keeps answering 410 must not make us spin). */
static void informer_relist(struct informer *inf)
{
	inf->relist = true;
	set_str(&inf->cont, NULL);
	inf->k->metrics->relists_total++;
	if (inf->list_done_at && ev_now(inf->k->loop) - inf->list_done_at < 1.0)
		informer_backoff(inf);
	else
		informer_schedule(inf, 0);
}

static void watch_event(void *arg, const char *type, struct json_object *obj, const char *error)
{
	struct informer *inf = arg;
	struct k8s_client *k = inf->k;
	struct request *r = inf->req;
	const char *rv;
	char id[300];

	if (!r || r->abort)
		return;		/* the rest of a stream we are leaving */
	if (watch_decoder_oversized(inf->dec))
		return;		/* an event was too long: relisting (body_write_cb) */
	if (error) {
		k->metrics->decode_errors_total++;
		sy_report(&k->report, 'W', "%s watch: malformed event skipped: %s", inf->plural,
			  error);
		return;
	}
	rv = obj_rv(obj);
	if (!strcmp(type, "ADDED") || !strcmp(type, "MODIFIED") || !strcmp(type, "DELETED")) {
		bool del = type[0] == 'D';

		r->events++;

		if (log_verbosity >= 4) {
			object_id(obj, id, sizeof(id));
			log_v(4, "%s watch: %s %s (resourceVersion %s)", inf->plural, type, id,
			      rv ? rv : "?");
		}
		/* a bad object is logged and counted by the cache; the stream goes on */
		cache_apply(k->cache, inf->kind, del ? CACHE_DELETE : CACHE_UPSERT, obj);
		if (rv)
			set_str(&inf->rv, rv);
	} else if (!strcmp(type, "BOOKMARK")) {
		r->events++;
		log_v(5, "%s watch: bookmark at resourceVersion %s", inf->plural, rv ? rv : "?");
		if (rv)
			set_str(&inf->rv, rv);
	} else if (!strcmp(type, "ERROR")) {
		struct json_object *code = jget(obj, "code");
		long c = code ? json_object_get_int(code) : 0;
		char msg[512];

		status_text(obj, c, msg, sizeof(msg));
		if (c == 410) {
			sy_report(&k->report, 'I', "%s watch: resourceVersion %s is too old (%s); "
				  "relisting", inf->plural, inf->rv ? inf->rv : "?", msg);
			inf->relist = true;
		} else {
			sy_report(&k->report, 'W', "%s watch: server error event: %s", inf->plural,
				  msg);
		}
		r->abort = true;
	} else {
		k->metrics->decode_errors_total++;
		sy_report(&k->report, 'W', "%s watch: unknown event type \"%.40s\" skipped",
			  inf->plural, type);
	}
}

/* One LIST page arrived with HTTP 200. */
static int list_page_done(struct informer *inf, struct json_object *resp)
{
	struct k8s_client *k = inf->k;
	struct json_object *items = jget(resp, "items"), *md = jget(resp, "metadata");
	const char *cont = jget_str(md, "continue"), *rv = jget_str(md, "resourceVersion");
	size_t n;

	if (!items || !json_object_is_type(items, json_type_array) || !rv) {
		sy_report(&k->report, 'W', "%s list: response without items or resourceVersion",
			  inf->plural);
		return -EINVAL;
	}
	if (!inf->cont) {
		cache_replace_begin(k->cache, inf->kind);
		inf->list_items = 0;
	}
	n = json_object_array_length(items);
	for (size_t i = 0; i < n; i++)
		cache_apply(k->cache, inf->kind, CACHE_UPSERT, json_object_array_get_idx(items, i));
	inf->list_items += (unsigned)n;
	set_str(&inf->rv, rv);
	if (cont && *cont) {
		set_str(&inf->cont, cont);
		return 1;
	}
	set_str(&inf->cont, NULL);
	cache_replace_end(k->cache, inf->kind);
	inf->listed = true;
	inf->not_served = false;
	inf->list_done_at = ev_now(k->loop);
	inf->backoff = 0;	/* the server works again (informer_relist guards against spinning) */
	log_v(2, "Listed %u %s at resourceVersion %s", inf->list_items, inf->plural, rv);
	return 0;
}

static void informer_done(struct informer *inf, struct request *r, CURLcode cc)
{
	const char *op = r->type == REQ_WATCH ? "watch" : "list";
	const char *cerr = r->errbuf[0] ? r->errbuf : curl_easy_strerror(cc);
	struct k8s_client *k = inf->k;
	struct sy_metrics *m = k->metrics;
	double ran = ev_now(k->loop) - r->started;
	char msg[600];

	inf->req = NULL;
	if (r->status == 0) {
		/* no HTTP answer: refused, reset, TLS failure, timeout */
		sy_report(&k->report, 'W', "%s %s: %s", inf->plural, op, cerr);
		informer_backoff(inf);
		return;
	}
	if (r->status != 200) {
		long st = r->status;

		status_text(r->resp, st, msg, sizeof(msg));
		if (st == 410 && r->type == REQ_LIST && inf->cont) {
			sy_report(&k->report, 'I', "%s list: continue token expired (%s); "
				  "restarting the list", inf->plural, msg);
			set_str(&inf->cont, NULL);
			m->relists_total++;
			informer_schedule(inf, 0);
		} else if (st == 410) {
			sy_report(&k->report, 'I', "%s %s: %s; relisting", inf->plural, op, msg);
			informer_relist(inf);
		} else if (st == 401 || st == 403) {
			sy_report(&k->report, 'E', "%s %s: %s: not authorized (check the token or "
				  "client certificate and RBAC)", inf->plural, op, msg);
			optional_listed(inf);
			informer_backoff(inf);
		} else if (st == 404 && inf->kind == SY_KIND_SERVICECIDR) {
			/*
			 * An API server before networking.k8s.io/v1 ServiceCIDRs
			 * (1.33): said once, asked again at the longest backoff
			 * (the server may be upgraded).
			 */
			if (!inf->not_served)
				sy_report(&k->report, 'W', "%s %s: %s: not served by this API "
					  "server (Kubernetes 1.33+); traffic to unallocated "
					  "ClusterIPs is not dropped", inf->plural, op, msg);
			inf->not_served = true;
			optional_listed(inf);
			informer_backoff_min(inf, K8S_BACKOFF_MAX);
		} else {
			curl_off_t ra = 0;

			/* 429 / 503 may say when to come back */
			curl_easy_getinfo(r->easy, CURLINFO_RETRY_AFTER, &ra);
			sy_report(&k->report, 'W', "%s %s: %s", inf->plural, op, msg);
			informer_backoff_min(inf, ra > 0 ? (ra < K8S_BACKOFF_MAX ? (double)ra :
							      K8S_BACKOFF_MAX) : 0);
		}
		return;
	}
	if (r->type == REQ_LIST) {
		if (cc != CURLE_OK && !r->resp_bad) {
			sy_report(&k->report, 'W', "%s list: connection lost: %s", inf->plural,
				  cerr);
			informer_backoff(inf);
		} else if (r->resp_bad || !r->resp) {
			m->decode_errors_total++;
			sy_report(&k->report, 'W', "%s list: %s", inf->plural,
				  r->resp_len > K8S_MAX_BODY ? "response too large" :
				  "response is not valid JSON");
			informer_backoff(inf);
		} else if (list_page_done(inf, r->resp) < 0) {
			informer_backoff(inf);
		} else {
			informer_schedule(inf, 0);	/* the next page, or the watch */
		}
		return;
	}
	/* a watch that got HTTP 200 ended */
	if (watch_decoder_pending(inf->dec)) {
		if (cc == CURLE_OK)
			m->decode_errors_total++;	/* a clean end inside an event */
		sy_report(&k->report, 'W', "%s watch: stream ended inside an event (%zu bytes "
			  "dropped); resuming from resourceVersion %s", inf->plural,
			  watch_decoder_pending(inf->dec), inf->rv ? inf->rv : "?");
	}
	if (r->events > 0 || ran > 10)
		inf->backoff = 0;	/* it worked for a while: start the backoff over */
	if (inf->relist) {
		informer_relist(inf);
	} else if (r->abort) {
		informer_backoff(inf);	/* an ERROR event other than 410 */
	} else if (cc != CURLE_OK) {
		sy_report(&k->report, 'W', "%s watch: connection lost: %s", inf->plural, cerr);
		informer_backoff(inf);
	} else if (r->events > 0 || ran > 10) {
		/* timeoutSeconds reached (or the server closed cleanly): watch again */
		log_v(4, "%s watch ended after %u events; rewatching from %s", inf->plural,
		      r->events, inf->rv ? inf->rv : "?");
		informer_schedule(inf, 0);
	} else {
		log_v(2, "%s watch closed at once", inf->plural);
		informer_backoff(inf);	/* do not spin on a server that closes at once */
	}
}

/* ---- PATCH ---- */

static void patch_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct request *r = container_of(w, struct request, timer);

	r->attempts++;
	r->status = 0;
	r->resp_len = 0;
	r->resp_bad = false;
	json_object_put(r->resp);
	r->resp = NULL;
	json_tokener_reset(r->tok);
	request_start(r);
}

static void patch_unlink(struct k8s_client *k, struct request *r)
{
	for (struct request **p = &k->patches; *p; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			break;
		}
}

static void patch_done(struct k8s_client *k, struct request *r, CURLcode cc)
{
	char msg[600];

	curl_multi_remove_handle(k->multi, r->easy);
	if (r->status >= 200 && r->status < 300 && cc == CURLE_OK) {
		log_v(2, "%s: done", r->what);
	} else {
		bool retry = r->status == 0 || r->status == 429 || r->status >= 500 ||
			     r->status == 409;

		if (r->status)
			status_text(r->resp, r->status, msg, sizeof(msg));
		else
			snprintf(msg, sizeof(msg), "%s", r->errbuf[0] ? r->errbuf :
				 curl_easy_strerror(cc));
		if (retry && r->attempts < 6) {
			double d = jitter(k, K8S_BACKOFF_MIN * (double)(1u << r->attempts));

			sy_report(&k->report, 'W', "%s failed: %s; retrying in %.1fs", r->what, msg,
				  d);
			ev_timer_init(&r->timer, patch_timer_cb, d, 0.);
			ev_timer_start(k->loop, &r->timer);
			return;
		}
		sy_report(&k->report, 'E', "%s failed: %s", r->what, msg);
	}
	patch_unlink(k, r);
	request_free(r);
}

int k8s_client_patch_node_annotations(struct k8s_client *k, const char *node,
				      const char *const *keys, const char *const *values, unsigned n)
{
	struct json_object *patch, *md, *ann;
	struct request *r;
	char *url, *enc;

	if (!k || !node || !*node)
		return -EINVAL;
	ann = json_object_new_object();
	for (unsigned i = 0; i < n; i++)
		json_object_object_add(ann, keys[i],
				       values[i] ? json_object_new_string(values[i]) : NULL);
	md = json_object_new_object();
	json_object_object_add(md, "annotations", ann);
	patch = json_object_new_object();
	json_object_object_add(patch, "metadata", md);

	enc = curl_easy_escape(NULL, node, 0);
	if (asprintf(&url, "%s/api/v1/nodes/%s", k->base, enc) < 0)
		abort();
	curl_free(enc);
	r = request_new(k, NULL, REQ_PATCH, url, 30);
	free(url);
	r->body = xstrdup(json_object_to_json_string_ext(patch, JSON_C_TO_STRING_PLAIN));
	json_object_put(patch);
	if (asprintf(&r->what, "PATCH Node %s annotations", node) < 0)
		abort();
	r->headers = curl_slist_append(r->headers, "Content-Type: application/merge-patch+json");
	curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, "PATCH");
	curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->body);
	curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(r->body));
	r->next = k->patches;
	k->patches = r;
	/* start from the loop, never from inside a libcurl callback */
	ev_timer_init(&r->timer, patch_timer_cb, 0., 0.);
	ev_timer_start(k->loop, &r->timer);
	return 0;
}

static void check_multi_info(struct k8s_client *k)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(k->multi, &left))) {
		struct request *r;
		char *priv = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
		r = (struct request *)priv;
		if (!r->status)
			curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
		if (r->type == REQ_PATCH) {
			patch_done(k, r, m->data.result);
		} else {
			CURLcode cc = m->data.result;
			struct informer *inf = r->inf;

			informer_done(inf, r, cc);
			request_free(r);
		}
	}
}

/* ---- setup ---- */

static int make_base(struct k8s_client *k, char *err, size_t errlen)
{
	const char *s = k->conn.server, *hp, *end, *colon;
	char host[256], port[16], *p;
	bool https;
	int n;

	if (!s || !*s) {
		snprintf(err, errlen, "no API server URL");
		return -EINVAL;
	}
	if (!strncmp(s, "https://", 8)) {
		https = true, hp = s + 8;
	} else if (!strncmp(s, "http://", 7)) {
		https = false, hp = s + 7;
	} else {
		snprintf(err, errlen, "API server URL \"%.200s\" is not http:// or https://", s);
		return -EINVAL;
	}
	if (!k->conn.tls_server_name) {
		k->base = xstrdup(s);
		p = k->base + strlen(k->base);
		while (p > k->base + (https ? 8 : 7) && p[-1] == '/')
			*--p = 0;
		return 0;
	}
	/* tls-server-name: put the name in the URL (SNI + verification) and pin
	 * the connection to the real address with CONNECT_TO */
	end = hp + strcspn(hp, "/");
	if (*hp == '[') {
		const char *rb = memchr(hp, ']', (size_t)(end - hp));

		if (!rb) {
			snprintf(err, errlen, "API server URL \"%.200s\": no ']' after '['", s);
			return -EINVAL;
		}
		colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
		n = snprintf(host, sizeof(host), "%.*s", (int)(rb + 1 - hp), hp);
	} else {
		colon = memchr(hp, ':', (size_t)(end - hp));
		n = snprintf(host, sizeof(host), "%.*s", (int)((colon ? colon : end) - hp), hp);
	}
	if (n < 0 || (size_t)n >= sizeof(host)) {
		snprintf(err, errlen, "API server URL \"%.200s\": host name too long", s);
		return -EINVAL;
	}
	snprintf(port, sizeof(port), "%.*s", colon ? (int)(end - colon - 1) : 3,
		 colon ? colon + 1 : (https ? "443" : "80"));
	if (asprintf(&k->base, "%s://%s:%s", https ? "https" : "http", k->conn.tls_server_name,
		     port) < 0 || asprintf(&p, "%s:%s:%s:%s", k->conn.tls_server_name, port, host,
					   port) < 0)
		abort();
	k->connect_to = curl_slist_append(NULL, p);
	free(p);
	return 0;
}

static void conn_copy(struct k8s_conn *d, const struct k8s_conn *s)
{
#define DUP(f) d->f = s->f ? xstrdup(s->f) : NULL
	DUP(server); DUP(ca_file); DUP(ca_data); DUP(tls_server_name); DUP(token);
	DUP(token_file); DUP(client_cert_file); DUP(client_key_file);
	DUP(client_cert_data); DUP(client_key_data);
#undef DUP
	d->insecure = s->insecure;
}

static void blob(struct curl_blob *b, const char *data)
{
	b->data = (void *)data;
	b->len = data ? strlen(data) : 0;
	b->flags = CURL_BLOB_NOCOPY;
}

int k8s_client_new(struct k8s_client **ret, const struct k8s_client_args *a, char *err,
		   size_t errlen)
{
	static const struct {
		const char *plural, *path, *selector;
	} kinds[SY_KIND_MAX] = {
		[SY_KIND_SERVICE] = { "Services", "/api/v1/services", NULL },
		[SY_KIND_ENDPOINTSLICE] = { "EndpointSlices", "/apis/discovery.k8s.io/v1/endpointslices",
			"labelSelector=%21service.kubernetes.io%2Fheadless%2C"
			"%21service.kubernetes.io%2Fservice-proxy-name" },
		[SY_KIND_NODE] = { "Nodes", "/api/v1/nodes", NULL },
		/* NetworkPolicy: pods of every node (policies match remote peers) */
		[SY_KIND_POD] = { "Pods", "/api/v1/pods", NULL },
		[SY_KIND_NAMESPACE] = { "Namespaces", "/api/v1/namespaces", NULL },
		[SY_KIND_NETWORKPOLICY] = { "NetworkPolicies",
			"/apis/networking.k8s.io/v1/networkpolicies", NULL },
		[SY_KIND_SERVICECIDR] = { "ServiceCIDRs",
			"/apis/networking.k8s.io/v1/servicecidrs", NULL },
	};
	static bool curl_inited;
	struct k8s_client *k;
	int r;

	if (!curl_inited) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			snprintf(err, errlen, "libcurl: global initialisation failed");
			return -ENOMEM;
		}
		curl_inited = true;
		/*
		 * LIST pages become json-c trees of many small chunks that are
		 * freed together; with glibc's fastbins every free that coalesces
		 * past 64 KiB walks all fastbins (malloc_consolidate), which cost a
		 * third of the initial sync's CPU at 10,000 Services.  Without
		 * fastbins the same listing takes ~40% less CPU.
		 */
		mallopt(M_MXFAST, 0);
	}
	if (!a->conn || !a->conn->server) {
		snprintf(err, errlen, "no API server URL");
		return -EINVAL;
	}
	if (!a->all_nodes && (!a->node_name || !*a->node_name)) {
		snprintf(err, errlen, "no node name to watch this Node by");
		return -EINVAL;
	}
	k = xcalloc(1, sizeof(*k));
	k->loop = a->loop;
	k->cache = a->cache;
	k->metrics = a->metrics;
	k->report = a->report;
	k->node_name = a->node_name ? xstrdup(a->node_name) : NULL;
	k->rand_state = ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid() ^ 0x9e3779b97f4a7c15ULL;
	conn_copy(&k->conn, a->conn);
	blob(&k->ca_blob, k->conn.ca_data);
	blob(&k->cert_blob, k->conn.client_cert_data);
	blob(&k->key_blob, k->conn.client_key_data);
	r = make_base(k, err, errlen);
	if (r < 0) {
		k8s_client_free(k);
		return r;
	}
	k->multi = curl_multi_init();
	if (!k->multi) {
		snprintf(err, errlen, "libcurl: cannot create a multi handle");
		k8s_client_free(k);
		return -ENOMEM;
	}
	curl_multi_setopt(k->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(k->multi, CURLMOPT_SOCKETDATA, k);
	curl_multi_setopt(k->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(k->multi, CURLMOPT_TIMERDATA, k);
	curl_multi_setopt(k->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
	ev_timer_init(&k->curl_timer, curl_timer_cb, 0., 0.);

	for (int i = 0; i < SY_KIND_MAX; i++) {
		struct informer *inf = &k->inf[i];

		if ((i == SY_KIND_POD || i == SY_KIND_NAMESPACE || i == SY_KIND_NETWORKPOLICY) &&
		    !a->network_policy)
			continue;
		if (i == SY_KIND_SERVICECIDR && !a->service_cidrs)
			continue;
		inf->k = k;
		inf->kind = (enum sy_kind)i;
		inf->plural = kinds[i].plural;
		inf->path = kinds[i].path;
		if (kinds[i].selector) {
			inf->selector = xstrdup(kinds[i].selector);
		} else if (i == SY_KIND_NODE && !a->all_nodes) {
			char *enc = curl_easy_escape(NULL, a->node_name, 0);

			if (asprintf(&inf->selector, "fieldSelector=metadata.name%%3D%s", enc) < 0)
				abort();
			curl_free(enc);
		}
		inf->dec = watch_decoder_new(K8S_MAX_LINE, watch_event, inf);
		if (!inf->dec)
			abort();
		ev_timer_init(&inf->timer, informer_timer_cb, 0., 0.);
		informer_schedule(inf, 0);
	}
	*ret = k;
	return 0;
}

void k8s_client_free(struct k8s_client *k)
{
	if (!k)
		return;
	for (int i = 0; i < SY_KIND_MAX; i++) {
		struct informer *inf = &k->inf[i];

		if (!inf->k)
			continue;
		ev_timer_stop(k->loop, &inf->timer);
		request_free(inf->req);
		watch_decoder_free(inf->dec);
		sy_free_all(inf->selector, inf->rv, inf->cont);
	}
	while (k->patches) {
		struct request *r = k->patches;

		k->patches = r->next;
		ev_timer_stop(k->loop, &r->timer);
		request_free(r);
	}
	if (k->multi) {
		ev_timer_stop(k->loop, &k->curl_timer);
		curl_multi_cleanup(k->multi);	/* closes sockets: sock_cb frees watchers */
	}
	curl_slist_free_all(k->connect_to);
	sy_free_all(k->base, k->node_name);
	k8s_conn_free(&k->conn);
	free(k);
}
