// SPDX-License-Identifier: Apache-2.0
/*
 * The IPVS mode's ipsets through libipset.  Changes are queued and applied
 * as one "restore" stream (libipset batches them into few netlink
 * messages); the current content is read with libipset's "save" output.
 * This file must not include libiptc headers (they clash with libipset's).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libipset/ipset.h>
#include "switchyard/util.h"
#include "ipvs_int.h"

#define HASH_OPTS "hashsize 1024 maxelem 1048576"
#define BITMAP_OPTS "range 0-65535"

/* The IPv6 names: kube-proxy's IPv6 proxier turns "KUBE-" into "KUBE-6-" in
 * every set name (bitmap:port ones too: each family's proxier owns its
 * sets); ours turn "SY-" into "SY-6-" (all within ipset's 31 characters). */
const struct ipvs_set_def ipvs_sets[IPVS_SET_MAX] = {
	[IPVS_SET_CLUSTER_IP] = { "SY-CLUSTER-IP", "SY-6-CLUSTER-IP", "hash:ip,port", true },
	[IPVS_SET_LOOP_BACK] = { "SY-LOOP-BACK", "SY-6-LOOP-BACK", "hash:ip,port,ip", true },
	[IPVS_SET_EXTERNAL_IP] = { "SY-EXTERNAL-IP", "SY-6-EXTERNAL-IP", "hash:ip,port", true },
	[IPVS_SET_EXTERNAL_IP_LOCAL] = { "SY-EXTERNAL-IP-LOCAL", "SY-6-EXTERNAL-IP-LOCAL",
					 "hash:ip,port", true },
	[IPVS_SET_LB] = { "SY-LOAD-BALANCER", "SY-6-LOAD-BALANCER", "hash:ip,port", true },
	[IPVS_SET_LB_LOCAL] = { "SY-LOAD-BALANCER-LOCAL", "SY-6-LOAD-BALANCER-LOCAL",
				"hash:ip,port", true },
	[IPVS_SET_LB_FW] = { "SY-LOAD-BALANCER-FW", "SY-6-LOAD-BALANCER-FW", "hash:ip,port", true },
	[IPVS_SET_LB_SOURCE_CIDR] = { "SY-LOAD-BALANCER-SOURCE-CIDR", "SY-6-LOAD-BALANCER-SOURCE-CIDR",
				      "hash:ip,port,net", true },
	[IPVS_SET_NODE_PORT_TCP] = { "SY-NODE-PORT-TCP", "SY-6-NODE-PORT-TCP", "bitmap:port", false },
	[IPVS_SET_NODE_PORT_UDP] = { "SY-NODE-PORT-UDP", "SY-6-NODE-PORT-UDP", "bitmap:port", false },
	[IPVS_SET_NODE_PORT_LOCAL_TCP] = { "SY-NODE-PORT-LOCAL-TCP", "SY-6-NODE-PORT-LOCAL-TCP",
					   "bitmap:port", false },
	[IPVS_SET_NODE_PORT_LOCAL_UDP] = { "SY-NODE-PORT-LOCAL-UDP", "SY-6-NODE-PORT-LOCAL-UDP",
					   "bitmap:port", false },
	[IPVS_SET_NODE_PORT_SCTP] = { "SY-NODE-PORT-SCTP-HASH", "SY-6-NODE-PORT-SCTP-HASH",
				      "hash:ip,port", true },
	[IPVS_SET_NODE_PORT_LOCAL_SCTP] = { "SY-NODE-PORT-LOCAL-SCTP-HASH",
					    "SY-6-NODE-PORT-LOCAL-SCTP-HASH", "hash:ip,port", true },
	[IPVS_SET_HEALTH_CHECK_NODE_PORT] = { "SY-HEALTH-CHECK-NODE-PORT", "SY-6-HEALTH-CHECK-NODE-PORT",
					      "bitmap:port", false },
	[IPVS_SET_NO_ENDPOINTS] = { "SY-NO-ENDPOINTS", "SY-6-NO-ENDPOINTS", "hash:ip,port", true },
	[IPVS_SET_NO_LOCAL_ENDPOINTS] = { "SY-NO-LOCAL-ENDPOINTS", "SY-6-NO-LOCAL-ENDPOINTS",
					  "hash:ip,port", true },
};

struct buf {
	char *p;
	size_t len, cap;
};

struct ipvs_set {
	int family;		/* AF_INET: SY-* (inet), AF_INET6: SY-6-* (inet6) */
	struct ipset *is;
	struct buf out;		/* "save" output */
	struct buf queue;	/* restore lines */
	unsigned n_queued;
	char msg[512];
	bool failed;		/* an error was reported since the command started */
};

__attribute__((format(printf, 2, 0)))
static int buf_vappend(struct buf *b, const char *fmt, va_list ap)
{
	va_list aq;
	int n;

	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		return -EINVAL;
	if (sy_reserve(&b->p, &b->cap, b->len + (size_t)n + 1) < 0)
		return -ENOMEM;
	vsnprintf(b->p + b->len, n + 1, fmt, ap);
	b->len += n;
	return 0;
}

__attribute__((format(printf, 2, 3)))
static int buf_append(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = buf_vappend(b, fmt, ap);
	va_end(ap);
	return r;
}

__attribute__((format(printf, 3, 4)))
static int out_fn(struct ipset_session *session, void *p, const char *fmt, ...)
{
	struct ipvs_set *s = p;
	va_list ap;

	va_start(ap, fmt);
	buf_vappend(&s->out, fmt, ap);
	va_end(ap);
	return 0;
}

__attribute__((format(printf, 4, 5)))
static int err_fn(struct ipset *ipset, void *p, int status, const char *fmt, ...)
{
	struct ipvs_set *s = p;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->msg, sizeof(s->msg), fmt, ap);
	va_end(ap);
	s->failed = true;
	return -1;
}

static int std_err_fn(struct ipset *ipset, void *p)
{
	struct ipvs_set *s = p;
	struct ipset_session *session = ipset_session(ipset);
	const char *m = ipset_session_report_msg(session);

	if (m && *m)
		snprintf(s->msg, sizeof(s->msg), "%s", m);
	if (ipset_session_report_type(session) != IPSET_WARNING)
		s->failed = true;
	ipset_session_report_reset(session);
	return -1;
}

int ipvs_set_open(int family, struct ipvs_set **ret)
{
	struct ipvs_set *s;

	if (family != AF_INET && family != AF_INET6)
		return -EAFNOSUPPORT;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->family = family;
	ipset_load_types();
	s->is = ipset_init();
	if (!s->is) {
		free(s);
		return -ENOMEM;
	}
	ipset_custom_printf(s->is, err_fn, std_err_fn, out_fn, s);
	*ret = s;
	return 0;
}

void ipvs_set_close(struct ipvs_set *s)
{
	if (!s)
		return;
	ipset_fini(s->is);
	sy_free_all(s->out.p, s->queue.p, s);
}

const char *ipvs_set_last_msg(const struct ipvs_set *s)
{
	return s->msg;
}

/* One command line (parsed by libipset, in-process). */
static int run_line(struct ipvs_set *s, const char *line)
{
	struct ipset_session *session = ipset_session(s->is);
	char buf[512];
	int r;

	snprintf(buf, sizeof(buf), "%s", line);
	s->msg[0] = 0;
	r = ipset_parse_line(s->is, buf) == 0 ? 0 : -EINVAL;
	/* -n / -t (and -exist) stick to the session: reset them for the next command */
	ipset_envopt_unset(session, IPSET_ENV_LIST_SETNAME);
	ipset_envopt_unset(session, IPSET_ENV_LIST_HEADER);
	ipset_envopt_unset(session, IPSET_ENV_EXIST);
	/* so does the output mode ("save" keeps the plain format after a "list") */
	ipset_session_output(session, IPSET_LIST_NONE);
	return r;
}

/* The queued lines as one restore stream. */
static int run_stream(struct ipvs_set *s, struct buf *b)
{
	FILE *f;
	int r;

	if (!b->len)
		return 0;
	f = fmemopen(b->p, b->len, "r");
	if (!f)
		return -errno;
	s->msg[0] = 0;
	s->failed = false;
	r = ipset_parse_stream(s->is, f);
	fclose(f);
	ipset_envopt_unset(ipset_session(s->is), IPSET_ENV_EXIST);
	/* a line that fails ends the restore, but libipset's stream parser
	 * may still return 0: the error report is what tells */
	return r == 0 && !s->failed ? 0 : -EINVAL;
}

/* Run one command into a fresh s->out. */
static int run_out(struct ipvs_set *s, const char *cmd)
{
	s->out.len = 0;
	if (s->out.p)
		s->out.p[0] = 0;
	return run_line(s, cmd);
}

static const char *name_of(const struct ipvs_set *s, int id)
{
	return ipvs_set_name(s->family, (enum ipvs_set_id)id);
}

/* A set of this family by name, or -1 (the other family's sets are not ours). */
static int set_lookup(const struct ipvs_set *s, const char *name)
{
	for (int i = 0; i < IPVS_SET_MAX; i++)
		if (strcmp(name_of(s, i), name) == 0)
			return i;
	return -1;
}

/*
 * Run one ipset command; *line: the first line of its output (NULL: none),
 * the next ones from strtok_r(NULL, "\n", save).
 */
static int run_lines(struct ipvs_set *s, const char *cmd, char **line, char **save)
{
	int r = run_out(s, cmd);

	*line = NULL;
	if (r == 0 && s->out.len)
		*line = strtok_r(s->out.p, "\n", save);
	return r;
}

int ipvs_set_ensure(struct ipvs_set *s, uint64_t *writes)
{
	bool have[IPVS_SET_MAX] = { false };
	struct buf b = { 0 };
	char *line, *save = NULL;
	int r, n = 0;

	/* names only: cheap however many entries the sets hold */
	r = run_lines(s, "list -n", &line, &save);
	if (r < 0)
		return r;
	for (; line; line = strtok_r(NULL, "\n", &save)) {
		int id = set_lookup(s, line);

		if (id >= 0)
			have[id] = true;
	}
	for (int i = 0; i < IPVS_SET_MAX; i++) {
		if (have[i])
			continue;
		if (ipvs_sets[i].hash)
			buf_append(&b, "create %s %s family %s %s\n", name_of(s, i), ipvs_sets[i].type,
				   s->family == AF_INET6 ? "inet6" : "inet", HASH_OPTS);
		else
			buf_append(&b, "create %s %s %s\n", name_of(s, i), ipvs_sets[i].type,
				   BITMAP_OPTS);
		n++;
	}
	r = run_stream(s, &b);
	free(b.p);
	if (r == 0 && writes)
		*writes += n;
	return r;
}

int ipvs_set_read_all(struct ipvs_set *s, ipvs_set_entry_fn fn, void *arg)
{
	char *line, *save = NULL;
	int r = run_lines(s, "save", &line, &save);

	if (r < 0)
		return r;
	for (; line; line = strtok_r(NULL, "\n", &save)) {
		char name[64], entry[256];
		int id;

		if (sscanf(line, "add %63s %255s", name, entry) != 2)
			continue;
		id = set_lookup(s, name);
		if (id >= 0)
			fn(arg, (enum ipvs_set_id)id, entry);
	}
	return 0;
}

int ipvs_set_counts(struct ipvs_set *s, long counts[IPVS_SET_MAX])
{
	char *line, *save = NULL;
	int r, cur = -1;

	for (int i = 0; i < IPVS_SET_MAX; i++)
		counts[i] = -1;
	r = run_lines(s, "list -t", &line, &save);
	if (r < 0)
		return r;
	for (; line; line = strtok_r(NULL, "\n", &save)) {
		char name[64];
		long n;

		if (sscanf(line, "Name: %63s", name) == 1)
			cur = set_lookup(s, name);
		else if (cur >= 0 && sscanf(line, "Number of entries: %ld", &n) == 1)
			counts[cur] = n;
	}
	return 0;
}

int ipvs_set_read(struct ipvs_set *s, enum ipvs_set_id id, ipvs_set_entry_fn fn, void *arg)
{
	char cmd[80], *line, *save = NULL;
	int r;

	snprintf(cmd, sizeof(cmd), "save %s", name_of(s, id));
	r = run_lines(s, cmd, &line, &save);
	if (r < 0)
		return r;
	for (; line; line = strtok_r(NULL, "\n", &save)) {
		char name[64], entry[256];

		if (sscanf(line, "add %63s %255s", name, entry) == 2 && set_lookup(s, name) == (int)id)
			fn(arg, id, entry);
	}
	return 0;
}

/*
 * "10.0.0.1,tcp:80[,...]" → "10.0.0.1,6:80[,...]".  libipset resolves a
 * protocol name with getprotobyname(), which opens and parses
 * /etc/protocols for every entry (most of the cost of a large restore,
 * and an error in an image without that file); a number is taken as is.
 * "save" still prints names, which is what the entry keys use.
 */
static const char *numeric_proto(const char *entry, char *buf, size_t len)
{
	static const struct { const char *name; const char *num; } protos[] = {
		{ ",tcp:", ",6:" }, { ",udp:", ",17:" }, { ",sctp:", ",132:" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(protos); i++) {
		const char *p = strstr(entry, protos[i].name);

		if (p) {
			snprintf(buf, len, "%.*s%s%s", (int)(p - entry), entry, protos[i].num,
				 p + strlen(protos[i].name));
			return buf;
		}
	}
	return entry;
}

void ipvs_set_queue(struct ipvs_set *s, bool add, enum ipvs_set_id id, const char *entry)
{
	char buf[300];

	buf_append(&s->queue, "%s %s %s -exist\n", add ? "add" : "del", name_of(s, id),
		   numeric_proto(entry, buf, sizeof(buf)));
	s->n_queued++;
}

int ipvs_set_commit(struct ipvs_set *s)
{
	int r = run_stream(s, &s->queue), n = (int)s->n_queued;

	s->queue.len = 0;
	s->n_queued = 0;
	return r < 0 ? r : n;
}

int ipvs_set_destroy_all(struct ipvs_set *s)
{
	char line[128];
	int r, first = 0;

	if (run_out(s, "save") < 0)
		return -EIO;
	for (int i = 0; i < IPVS_SET_MAX; i++) {
		char pat[80];

		snprintf(pat, sizeof(pat), "create %s ", name_of(s, i));
		if (!s->out.p || !strstr(s->out.p, pat))
			continue;
		snprintf(line, sizeof(line), "destroy %s", name_of(s, i));
		r = run_line(s, line);
		if (r < 0 && !first)
			first = r;
	}
	return first;
}
