// SPDX-License-Identifier: Apache-2.0
/*
 * --config FILE: kube-proxy's KubeProxyConfiguration
 * (kubeproxy.config.k8s.io/v1alpha1), the subset switchyard implements.
 * Decoding is strict like kube-proxy's: an unknown field, a duplicate field
 * or a value of the wrong type is an error naming the field; a field
 * kube-proxy knows but switchyard does not implement is a warning (the
 * value is ignored, never silently).
 */
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>
#include "switchyard/config.h"
#include "switchyard/log.h"
#include "switchyard/util.h"
#include "http.h"
#include "render.h"

#define API_VERSION "kubeproxy.config.k8s.io/v1alpha1"
#define KIND "KubeProxyConfiguration"

enum ftype {
	F_STR,		/* char * */
	F_HOSTPORT,	/* char *, "IPv4:port", "[IPv6]:port" or "" */
	F_BOOL,		/* bool */
	F_INT32,	/* int32_t */
	F_MASQ_BIT,	/* unsigned, 0..31 */
	F_DURATION,	/* double seconds */
	F_CLUSTER_CIDR,	/* "a/b,c/d" */
	F_NODEPORTS,	/* list of CIDRs or "primary" */
	F_GATES,	/* featureGates: a mapping of gate name to boolean */
	F_SECTION,	/* a mapping of sub-fields */
	F_WARN,		/* kube-proxy's, not implemented: warn and ignore */
	F_TYPEMETA,	/* apiVersion, kind: checked separately */
};

/* A field: its section ("" top level, else the F_SECTION field's name), name and type. */
struct field {
	const char *section;
	const char *name;
	enum ftype type;
	size_t off;		/* in struct sy_config */
};

#define M(f) offsetof(struct sy_config, f)
/*
 * Every field switchyard knows: first those stored in struct sy_config,
 * then those with their own handling (off 0): type metadata, sections,
 * values with their own parser, and kube-proxy's fields switchyard does
 * not implement (F_WARN).  networkPolicy is switchyard's own
 * (--network-policy; kube-proxy has no such field).  A section's fields
 * are those whose section is its name.
 */
static const struct field fields[] = {
	{ "", "mode", F_STR, M(proxy_mode) },
	{ "", "bindAddress", F_STR, M(bind_address) },
	{ "", "healthzBindAddress", F_HOSTPORT, M(healthz_bind_address) },
	{ "", "metricsBindAddress", F_HOSTPORT, M(metrics_bind_address) },
	{ "", "hostnameOverride", F_STR, M(hostname_override) },
	{ "", "networkPolicy", F_BOOL, M(network_policy) },
	{ "clientConnection", "kubeconfig", F_STR, M(kubeconfig) },
	{ "iptables", "masqueradeAll", F_BOOL, M(masquerade_all) },
	{ "iptables", "masqueradeBit", F_MASQ_BIT, M(masquerade_bit) },
	{ "iptables", "minSyncPeriod", F_DURATION, M(min_sync_period) },
	{ "iptables", "syncPeriod", F_DURATION, M(sync_period) },
	{ "iptables", "localhostNodePorts", F_BOOL, M(localhost_nodeports) },
	{ "ipvs", "scheduler", F_STR, M(ipvs_scheduler) },
	{ "ipvs", "strictARP", F_BOOL, M(ipvs_strict_arp) },
	{ "ipvs", "minSyncPeriod", F_DURATION, M(ipvs_min_sync_period) },
	{ "ipvs", "syncPeriod", F_DURATION, M(ipvs_sync_period) },
	{ "ipvs", "tcpTimeout", F_DURATION, M(ipvs_tcp_timeout) },
	{ "ipvs", "tcpFinTimeout", F_DURATION, M(ipvs_tcpfin_timeout) },
	{ "ipvs", "udpTimeout", F_DURATION, M(ipvs_udp_timeout) },
	{ "conntrack", "maxPerCore", F_INT32, M(conntrack_max_per_core) },
	{ "conntrack", "min", F_INT32, M(conntrack_min) },
	{ "conntrack", "tcpEstablishedTimeout", F_DURATION, M(conntrack_tcp_established_timeout) },
	{ "conntrack", "tcpCloseWaitTimeout", F_DURATION, M(conntrack_tcp_close_wait_timeout) },
	{ "conntrack", "udpTimeout", F_DURATION, M(conntrack_udp_timeout) },
	{ "conntrack", "udpStreamTimeout", F_DURATION, M(conntrack_udp_stream_timeout) },
	/* with their own handling */
	{ "", "apiVersion", F_TYPEMETA, 0 },
	{ "", "kind", F_TYPEMETA, 0 },
	{ "", "clusterCIDR", F_CLUSTER_CIDR, 0 },
	{ "", "nodePortAddresses", F_NODEPORTS, 0 },
	{ "", "clientConnection", F_SECTION, 0 },
	{ "", "iptables", F_SECTION, 0 },
	{ "", "ipvs", F_SECTION, 0 },
	{ "", "conntrack", F_SECTION, 0 },
	{ "", "featureGates", F_GATES, 0 },
	/* accepted by kube-proxy, not implemented by switchyard */
	{ "", "bindAddressHardFail", F_WARN, 0 },
	{ "", "configSyncPeriod", F_WARN, 0 },
	{ "", "detectLocal", F_WARN, 0 },
	{ "", "detectLocalMode", F_WARN, 0 },
	{ "", "enableProfiling", F_WARN, 0 },
	{ "", "ipFamily", F_WARN, 0 },
	{ "", "linux", F_WARN, 0 },
	{ "", "logging", F_WARN, 0 },
	{ "", "nftables", F_WARN, 0 },
	{ "", "oomScoreAdj", F_WARN, 0 },
	{ "", "portRange", F_WARN, 0 },
	{ "", "showHiddenMetricsForVersion", F_WARN, 0 },
	{ "", "udpIdleTimeout", F_WARN, 0 },
	{ "", "windowsRunAsService", F_WARN, 0 },
	{ "", "winkernel", F_WARN, 0 },
	{ "clientConnection", "acceptContentTypes", F_WARN, 0 },
	{ "clientConnection", "contentType", F_WARN, 0 },
	{ "clientConnection", "qps", F_WARN, 0 },
	{ "clientConnection", "burst", F_WARN, 0 },
	{ "ipvs", "excludeCIDRs", F_WARN, 0 },
	{ "conntrack", "tcpBeLiberal", F_WARN, 0 },
};
#undef M

struct cf {
	yaml_document_t *doc;
	struct sy_config *cfg;
	const char *path;
	const struct sy_report *rep;
	char *err;
	size_t errlen;
};

static int fail(struct cf *c, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct cf *c, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n)
		snprintf(c->err, c->errlen, "line %zu: %s", n->start_mark.line + 1, msg);
	else
		snprintf(c->err, c->errlen, "%s", msg);
	return -EINVAL;
}

static const char *scalar(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static bool is_plain(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static bool is_null(const yaml_node_t *n)
{
	const char *s = scalar(n);

	return s && is_plain(n) && (!*s || !strcmp(s, "~") || !strcmp(s, "null") ||
				   !strcmp(s, "Null") || !strcmp(s, "NULL"));
}

static int parse_bool_value(const yaml_node_t *n, bool *ret)
{
	const char *s = scalar(n);

	if (!s || !is_plain(n))
		return -EINVAL;
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
		*ret = true;
	else if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
		*ret = false;
	else
		return -EINVAL;
	return 0;
}

static int parse_int_value(const yaml_node_t *n, long long lo, long long hi, long long *ret)
{
	const char *s = scalar(n);
	char *end;
	long long v;

	if (!s || !is_plain(n) || !*s)
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* One CIDR of a list; IPv6 ones are skipped with a warning (IPv4 only). */
static int add_cidr(struct cf *c, const yaml_node_t *n, const char *fname, const char *tok,
		    struct sy_cidr *out, unsigned *count)
{
	if (*count >= SY_MAX_CIDRS)
		return fail(c, n, "field \"%s\": more than %d CIDRs", fname, SY_MAX_CIDRS);
	if (sy_cidr_parse(tok, &out[*count]) < 0)
		return fail(c, n, "field \"%s\": invalid CIDR \"%s\"", fname, tok);
	(*count)++;
	config_group_cidrs(out, *count);
	return 0;
}

static int set_cluster_cidr(struct cf *c, const yaml_node_t *n, const char *fname)
{
	struct sy_config *cfg = c->cfg;
	const char *s = scalar(n);
	char *copy, *tok, *save = NULL;
	int r = 0;

	if (!s)
		return fail(c, n, "field \"%s\": want a string", fname);
	cfg->n_cluster_cidrs = 0;
	copy = xstrdup(s);
	for (tok = strtok_r(copy, ", ", &save); tok && !r; tok = strtok_r(NULL, ", ", &save))
		r = add_cidr(c, n, fname, tok, cfg->cluster_cidrs, &cfg->n_cluster_cidrs);
	free(copy);
	return r;
}

static int set_nodeports(struct cf *c, const yaml_node_t *n, const char *fname)
{
	struct sy_config *cfg = c->cfg;
	yaml_node_item_t *it;
	int r;

	if (n->type != YAML_SEQUENCE_NODE)
		return fail(c, n, "field \"%s\": want a list of CIDRs or \"primary\"", fname);
	cfg->n_nodeport_cidrs = 0;
	cfg->nodeport_primary = false;
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		const yaml_node_t *e = yaml_document_get_node(c->doc, *it);
		const char *s = e ? scalar(e) : NULL;

		if (!s)
			return fail(c, e, "field \"%s\": want a list of CIDRs or \"primary\"", fname);
		if (!strcmp(s, "primary")) {
			cfg->nodeport_primary = true;
			continue;
		}
		r = add_cidr(c, e, fname, s, cfg->nodeport_cidrs, &cfg->n_nodeport_cidrs);
		if (r < 0)
			return r;
	}
	return 0;
}

static int apply_mapping(struct cf *c, const yaml_node_t *map, const char *section,
			 const char *prefix);

/*
 * featureGates (map[string]bool): the file's map replaces the gates; names
 * are checked with the flags' (config_feature_gates_apply), values here.
 */
static int set_gates(struct cf *c, const yaml_node_t *n, const char *fname)
{
	yaml_node_pair_t *p;

	if (n->type != YAML_MAPPING_NODE)
		return fail(c, n, "field \"%s\": want a mapping of feature gate names to booleans",
			    fname);
	config_feature_gates_clear(c->cfg);
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		const yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		const yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
		bool b;

		if (!k || !scalar(k) || !v)
			return fail(c, k, "field \"%s\": a key is not a string", fname);
		for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++) {
			const yaml_node_t *k2 = yaml_document_get_node(c->doc, q->key);

			if (k2 && scalar(k2) && !strcmp(scalar(k2), scalar(k)))
				return fail(c, k, "duplicate field \"%s.%s\"", fname, scalar(k));
		}
		if (parse_bool_value(v, &b) < 0)
			return fail(c, v, "field \"%s.%s\": invalid boolean \"%s\"", fname, scalar(k),
				    scalar(v) ? scalar(v) : "<non-scalar>");
		config_feature_gate_put(c->cfg, scalar(k), b);
	}
	return 0;
}

/*
 * A server address: "IPv4:port", "[IPv6]:port" or ":port".  As kube-proxy's
 * defaulting: "" keeps the default address (the file cannot disable a
 * server; the flag --healthz-bind-address= can) and an address without a
 * port gets the default one (10256, 10249), in brackets for IPv6
 * (AppendPortIfNeeded).  "[::]:port" listens on both families.
 */
static int set_hostport(struct cf *c, const yaml_node_t *v, const char *fname, char **dst)
{
	const char *s = scalar(v);
	const char *defport;
	char buf[80];
	struct sy_addr addr;
	uint16_t port;

	if (!s)
		return fail(c, v, "field \"%s\": want a string", fname);
	if (!*s)
		return 0;
	defport = strrchr(*dst ? *dst : "", ':');
	if (defport && strlen(s) < 48 && sy_addr_parse(s, &addr) == 0) {
		snprintf(buf, sizeof(buf), addr.family == AF_INET6 ? "[%s]%.8s" : "%s%.8s", s,
			 defport);
		s = buf;
	}
	if (http_parse_bind(s, &addr, &port) < 0)
		return fail(c, v, "field \"%s\": invalid address \"%s\" (want IPv4:port or "
			    "[IPv6]:port)", fname, s);
	free(*dst);
	*dst = xstrdup(s);
	return 0;
}

static int apply_field(struct cf *c, const struct field *f, const yaml_node_t *v,
		       const char *fname)
{
	char *base = (char *)c->cfg;
	long long ll;
	double d;
	bool b;

	switch (f->type) {
	case F_TYPEMETA:
		return 0;
	case F_WARN:
		sy_report(c->rep, 'W', "%s: field \"%s\" is accepted by kube-proxy but not "
			  "implemented by switchyard; ignored", c->path, fname);
		return 0;
	case F_SECTION:
		if (is_null(v))
			return 0;
		if (v->type != YAML_MAPPING_NODE)
			return fail(c, v, "field \"%s\": want a mapping", fname);
		return apply_mapping(c, v, f->name, fname);
	default:
		break;
	}
	if (is_null(v))
		return 0;	/* Go leaves the default for null */
	switch (f->type) {
	case F_STR:
		if (!scalar(v))
			return fail(c, v, "field \"%s\": want a string", fname);
		free(*(char **)(base + f->off));
		*(char **)(base + f->off) = xstrdup(scalar(v));
		if (scalar(v)[0])
			return 0;
		/* "" means the default: iptables, in-cluster config, the host name */
		if (f->off == offsetof(struct sy_config, proxy_mode)) {
			free(c->cfg->proxy_mode);
			c->cfg->proxy_mode = xstrdup("iptables");
		} else if (f->off == offsetof(struct sy_config, kubeconfig) ||
			   f->off == offsetof(struct sy_config, hostname_override)) {
			free(*(char **)(base + f->off));
			*(char **)(base + f->off) = NULL;
		}
		return 0;
	case F_HOSTPORT:
		return set_hostport(c, v, fname, (char **)(base + f->off));
	case F_BOOL:
		if (parse_bool_value(v, &b) < 0)
			return fail(c, v, "field \"%s\": invalid boolean \"%s\"", fname,
				    scalar(v) ? scalar(v) : "<non-scalar>");
		*(bool *)(base + f->off) = b;
		return 0;
	case F_INT32:
		if (parse_int_value(v, INT32_MIN, INT32_MAX, &ll) < 0)
			return fail(c, v, "field \"%s\": invalid integer \"%s\"", fname,
				    scalar(v) ? scalar(v) : "<non-scalar>");
		*(int32_t *)(base + f->off) = (int32_t)ll;
		return 0;
	case F_MASQ_BIT:
		if (parse_int_value(v, 0, 31, &ll) < 0)
			return fail(c, v, "field \"%s\": invalid value \"%s\" (want 0..31)", fname,
				    scalar(v) ? scalar(v) : "<non-scalar>");
		*(unsigned *)(base + f->off) = (unsigned)ll;
		return 0;
	case F_DURATION:
		if (!scalar(v) || sy_parse_duration(scalar(v), &d) < 0 || isnan(d))
			return fail(c, v, "field \"%s\": invalid duration \"%s\" (want e.g. \"1s\", "
				    "\"2m30s\")", fname, scalar(v) ? scalar(v) : "<non-scalar>");
		/* kube-proxy's defaulting: 0 is "unset" for these three */
		if (d == 0 && (f->off == offsetof(struct sy_config, sync_period) ||
			       f->off == offsetof(struct sy_config, min_sync_period) ||
			       f->off == offsetof(struct sy_config, ipvs_sync_period)))
			return 0;
		*(double *)(base + f->off) = d;
		return 0;
	case F_CLUSTER_CIDR:
		return set_cluster_cidr(c, v, fname);
	case F_NODEPORTS:
		return set_nodeports(c, v, fname);
	case F_GATES:
		return set_gates(c, v, fname);
	default:
		return fail(c, v, "field \"%s\": internal error", fname);
	}
}

/* The fields of section ("": the top level) in map; prefix: the section's path for messages. */
static int apply_mapping(struct cf *c, const yaml_node_t *map, const char *section,
			 const char *prefix)
{
	yaml_node_pair_t *p, *q;

	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		const yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
		const yaml_node_t *v = yaml_document_get_node(c->doc, p->value);
		const struct field *f = NULL;
		const char *key = k ? scalar(k) : NULL;
		char fname[256];
		int r;

		if (!key || !v)
			return fail(c, k, "%s%sa key is not a string", prefix ? prefix : "",
				    prefix ? ": " : "");
		snprintf(fname, sizeof(fname), "%s%s%s", prefix ? prefix : "", prefix ? "." : "",
			 key);
		for (q = map->data.mapping.pairs.start; q < p; q++) {
			const yaml_node_t *k2 = yaml_document_get_node(c->doc, q->key);

			if (k2 && scalar(k2) && !strcmp(scalar(k2), key))
				return fail(c, k, "duplicate field \"%s\"", fname);
		}
		for (size_t i = 0; i < ARRAY_SIZE(fields) && !f; i++)
			if (!strcmp(fields[i].section, section) && !strcmp(fields[i].name, key))
				f = &fields[i];
		if (!f)
			return fail(c, k, "unknown field \"%s\"", fname);
		r = apply_field(c, f, v, fname);
		if (r < 0)
			return r;
	}
	return 0;
}

static const yaml_node_t *map_get(yaml_document_t *doc, const yaml_node_t *map, const char *key)
{
	yaml_node_pair_t *p;

	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		const yaml_node_t *k = yaml_document_get_node(doc, p->key);

		if (k && k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, key))
			return yaml_document_get_node(doc, p->value);
	}
	return NULL;
}

static int load_document(struct cf *c)
{
	const yaml_node_t *root = yaml_document_get_root_node(c->doc), *av, *kind;

	if (!root)
		return fail(c, NULL, "empty configuration file");
	if (root->type != YAML_MAPPING_NODE)
		return fail(c, root, "want a KubeProxyConfiguration mapping");
	av = map_get(c->doc, root, "apiVersion");
	kind = map_get(c->doc, root, "kind");
	if (!av || !scalar(av) || !*scalar(av))
		return fail(c, root, "missing apiVersion (want %s)", API_VERSION);
	if (strcmp(scalar(av), API_VERSION))
		return fail(c, av, "apiVersion \"%s\" is not supported (want %s)", scalar(av),
			    API_VERSION);
	if (!kind || !scalar(kind) || !*scalar(kind))
		return fail(c, root, "missing kind (want %s)", KIND);
	if (strcmp(scalar(kind), KIND))
		return fail(c, kind, "kind \"%s\" is not %s", scalar(kind), KIND);
	return apply_mapping(c, root, "", NULL);
}

int config_file_load(struct sy_config *cfg, const char *path, const struct sy_report *rep,
		     char *err, size_t errlen)
{
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	struct cf c = { .doc = &doc, .cfg = cfg, .path = path, .rep = rep, .err = err,
			.errlen = errlen };
	char *text = NULL;
	size_t len = 0;
	int r;

	r = sy_read_file(path, &text, &len);
	if (r < 0) {
		snprintf(err, errlen, "%s", strerror(-r));
		return r;
	}
	if (!yaml_parser_initialize(&parser)) {
		free(text);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		snprintf(err, errlen, "line %zu: YAML: %s", parser.problem_mark.line + 1,
			 parser.problem ? parser.problem : "syntax error");
		r = -EINVAL;
		goto out_parser;
	}
	r = load_document(&c);
	if (r == 0) {
		/* one document only, like kube-proxy */
		if (!yaml_parser_load(&parser, &extra)) {
			r = fail(&c, NULL, "line %zu: YAML: %s", parser.problem_mark.line + 1,
				 parser.problem ? parser.problem : "syntax error");
		} else {
			if (yaml_document_get_root_node(&extra))
				r = fail(&c, NULL, "more than one YAML document");
			yaml_document_delete(&extra);
		}
	}
	yaml_document_delete(&doc);
out_parser:
	yaml_parser_delete(&parser);
	free(text);
	return r;
}

/* ---- Go-style rendering, for /configz ---- */

/* "1.5" from 1500000 and unit 1000000: integer part and trimmed fraction. */
static size_t fmt_frac(char *buf, size_t len, unsigned long long v, unsigned long long unit)
{
	unsigned long long ip = v / unit, fp = v % unit;
	int digits = 0;
	char frac[32];
	size_t n;

	for (unsigned long long u = unit; u > 1; u /= 10)
		digits++;
	n = (size_t)snprintf(buf, len, "%llu", ip);
	if (fp && n < len) {
		/* digits <= 9: unit is at most 1e9 */
		snprintf(frac, sizeof(frac), "%0*llu", digits > 9 ? 9 : digits, fp % 1000000000ULL);
		for (int i = digits - 1; i >= 0 && frac[i] == '0'; i--)
			frac[i] = '\0';
		n += (size_t)snprintf(buf + n, len - n, ".%s", frac);
	}
	return n;
}

void config_file_fmt_duration(double seconds, char *buf, size_t len)
{
	unsigned long long ns;
	size_t n = 0;
	bool neg = seconds < 0;

	if (len == 0)
		return;
	ns = (unsigned long long)llround(fabs(seconds) * 1e9);
	if (ns == 0) {
		snprintf(buf, len, "0s");
		return;
	}
	if (neg)
		n += (size_t)snprintf(buf, len, "-");
	if (ns < 1000ULL) {
		snprintf(buf + n, len - n, "%lluns", ns);
	} else if (ns < 1000000ULL) {
		n += fmt_frac(buf + n, len - n, ns, 1000ULL);
		snprintf(buf + n, len - n, "\xc2\xb5s");
	} else if (ns < 1000000000ULL) {
		n += fmt_frac(buf + n, len - n, ns, 1000000ULL);
		snprintf(buf + n, len - n, "ms");
	} else {
		unsigned long long h = ns / 3600000000000ULL, m = ns / 60000000000ULL % 60;
		unsigned long long s = ns % 60000000000ULL;

		if (h)
			n += (size_t)snprintf(buf + n, len - n, "%lluh", h);
		if (h || m)
			n += (size_t)snprintf(buf + n, len - n, "%llum", m);
		if (n < len)
			n += fmt_frac(buf + n, len - n, s, 1000000000ULL);
		if (n < len)
			snprintf(buf + n, len - n, "s");
	}
}

static json_object *jdur(double s)
{
	char buf[64];

	config_file_fmt_duration(s, buf, sizeof(buf));
	return json_object_new_string(buf);
}

static json_object *jstr(const char *s)
{
	return json_object_new_string(s ? s : "");
}

static void cidr_text(const struct sy_cidr *c, char *buf, size_t len)
{
	sy_cidr_format(c, buf, len);
}

char *config_file_configz(const struct sy_config *cfg)
{
	json_object *top = json_object_new_object(), *o = json_object_new_object(), *sub, *arr;
	char buf[1024], one[64];
	char *ret;

	json_object_object_add(o, "bindAddress", jstr(cfg->bind_address));
	json_object_object_add(o, "healthzBindAddress", jstr(cfg->healthz_bind_address));
	json_object_object_add(o, "metricsBindAddress", jstr(cfg->metrics_bind_address));
	sub = json_object_new_object();
	json_object_object_add(sub, "kubeconfig", jstr(cfg->kubeconfig));
	json_object_object_add(o, "clientConnection", sub);
	json_object_object_add(o, "hostnameOverride", jstr(cfg->hostname_override));
	json_object_object_add(o, "mode", jstr(cfg->proxy_mode));
	buf[0] = '\0';
	for (unsigned i = 0; i < cfg->n_cluster_cidrs; i++) {
		cidr_text(&cfg->cluster_cidrs[i], one, sizeof(one));
		if (i)
			strncat(buf, ",", sizeof(buf) - strlen(buf) - 1);
		strncat(buf, one, sizeof(buf) - strlen(buf) - 1);
	}
	json_object_object_add(o, "clusterCIDR", json_object_new_string(buf));
	arr = json_object_new_array();
	if (cfg->nodeport_primary)
		json_object_array_add(arr, json_object_new_string("primary"));
	for (unsigned i = 0; i < cfg->n_nodeport_cidrs; i++) {
		cidr_text(&cfg->nodeport_cidrs[i], one, sizeof(one));
		json_object_array_add(arr, json_object_new_string(one));
	}
	json_object_object_add(o, "nodePortAddresses", arr);
	sub = json_object_new_object();
	json_object_object_add(sub, "masqueradeAll", json_object_new_boolean(cfg->masquerade_all));
	json_object_object_add(sub, "masqueradeBit", json_object_new_int((int)cfg->masquerade_bit));
	json_object_object_add(sub, "minSyncPeriod", jdur(cfg->min_sync_period));
	json_object_object_add(sub, "syncPeriod", jdur(cfg->sync_period));
	json_object_object_add(sub, "localhostNodePorts",
			       json_object_new_boolean(cfg->localhost_nodeports));
	json_object_object_add(o, "iptables", sub);
	sub = json_object_new_object();
	json_object_object_add(sub, "scheduler", jstr(cfg->ipvs_scheduler));
	json_object_object_add(sub, "strictARP", json_object_new_boolean(cfg->ipvs_strict_arp));
	json_object_object_add(sub, "minSyncPeriod", jdur(cfg->ipvs_min_sync_period));
	json_object_object_add(sub, "syncPeriod", jdur(cfg->ipvs_sync_period));
	json_object_object_add(sub, "tcpTimeout", jdur(cfg->ipvs_tcp_timeout));
	json_object_object_add(sub, "tcpFinTimeout", jdur(cfg->ipvs_tcpfin_timeout));
	json_object_object_add(sub, "udpTimeout", jdur(cfg->ipvs_udp_timeout));
	json_object_object_add(o, "ipvs", sub);
	sub = json_object_new_object();
	json_object_object_add(sub, "maxPerCore", json_object_new_int(cfg->conntrack_max_per_core));
	json_object_object_add(sub, "min", json_object_new_int(cfg->conntrack_min));
	json_object_object_add(sub, "tcpEstablishedTimeout",
			       jdur(cfg->conntrack_tcp_established_timeout));
	json_object_object_add(sub, "tcpCloseWaitTimeout",
			       jdur(cfg->conntrack_tcp_close_wait_timeout));
	json_object_object_add(sub, "udpTimeout", jdur(cfg->conntrack_udp_timeout));
	json_object_object_add(sub, "udpStreamTimeout", jdur(cfg->conntrack_udp_stream_timeout));
	json_object_object_add(o, "conntrack", sub);
	sub = json_object_new_object();
	for (unsigned i = 0; i < cfg->n_feature_gates; i++)
		json_object_object_add(sub, cfg->feature_gates[i].name,
				       json_object_new_boolean(cfg->feature_gates[i].on));
	json_object_object_add(o, "featureGates", sub);
	json_object_object_add(top, "kubeproxy.config.k8s.io", o);
	ret = xstrdup(json_object_to_json_string_ext(top, JSON_C_TO_STRING_PLAIN |
						     JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(top);
	return ret;
}
