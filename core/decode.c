// SPDX-License-Identifier: Apache-2.0
/*
 * Decoding of v1 Services, discovery.k8s.io/v1 EndpointSlices and v1 Nodes:
 * json-c object -> struct, pure (no state but the interned strings).  The
 * decoders validate everything a proxy relies on and say what is wrong;
 * the cache (cache.c) keeps the results.
 */
#include <errno.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "switchyard/json_util.h"
#include "switchyard/log.h"
#include "switchyard/model.h"
#include "decode_int.h"

const char *sy_kind_name(enum sy_kind k)
{
	static const char *const names[] = { "Service", "EndpointSlice", "Node", "Pod", "Namespace",
					     "NetworkPolicy", "ServiceCIDR" };

	return k < SY_KIND_MAX ? names[k] : "?";
}

/* The protocols of Kubernetes ports: API names, lower-case names (nft, ipvsadm). */
static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP };
static const char *const proto_names[] = { "TCP", "UDP", "SCTP" };
static const char *const proto_lnames[] = { "tcp", "udp", "sctp" };

static const char *proto_str(uint8_t proto, const char *const *names)
{
	for (size_t i = 0; i < ARRAY_SIZE(protos); i++)
		if (protos[i] == proto)
			return names[i];
	return "?";
}

const char *sy_proto_name(uint8_t proto)
{
	return proto_str(proto, proto_names);
}

const char *sy_proto_lname(uint8_t proto)
{
	return proto_str(proto, proto_lnames);
}

/*
 * Interned strings (node names, zones, the policy kinds' labels and
 * names): few and long-lived, shared by 100k endpoints and pods.
 */
static struct hmap intern_pool;

char *decode_intern(const char *s)
{
	char *v;

	if (!s)
		return NULL;
	v = hmap_get(&intern_pool, s);
	if (!v) {
		v = xstrdup(s);
		hmap_put(&intern_pool, v, v);
	}
	return v;
}

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); goto fail; } while (0)

int decode_enum(struct json_object *v, const char *field, const char *const *names, unsigned n,
		int *ret, char *err, size_t errlen)
{
	const char *s;

	*ret = 0;
	if (!v)
		return 0;
	s = jstr(v);
	if (!s) {
		snprintf(err, errlen, "%s is not a string", field);
		return -EINVAL;
	}
	for (unsigned i = 0; i < n; i++)
		if (!strcmp(s, names[i])) {
			*ret = (int)i;
			return 0;
		}
	snprintf(err, errlen, "unknown %s \"%.64s\"", field, s);
	return -EINVAL;
}

int decode_proto(struct json_object *v, uint8_t *ret)
{
	char err[128];
	int i;

	if (decode_enum(v, "protocol", proto_names, ARRAY_SIZE(proto_names), &i, err,
			sizeof(err)) < 0)
		return -EINVAL;
	*ret = protos[i];
	return 0;
}

static bool is_ip6(const char *s)
{
	return s && strchr(s, ':');
}

/*
 * IPv4 as kube-proxy reads it (netutils.ParseIPSloppy): dotted quad,
 * leading zeros allowed and read as decimal ("010.1.1.1" is 10.1.1.1, as
 * objects stored before the API server refused them).
 */
static int ip4_sloppy(const char *s, struct in_addr *ret)
{
	uint32_t a = 0;

	if (!s)
		return -EINVAL;
	for (int i = 0; i < 4; i++) {
		unsigned v = 0, digits = 0;

		while (*s >= '0' && *s <= '9' && digits < 4) {
			v = v * 10 + (unsigned)(*s++ - '0');
			digits++;
		}
		if (!digits || digits > 3 || v > 255 || (i < 3 && *s++ != '.'))
			return -EINVAL;
		a = a << 8 | v;
	}
	if (*s)
		return -EINVAL;
	ret->s_addr = htonl(a);
	return 0;
}

/* CIDR as kube-proxy reads it (ParseCIDRSloppy): host bits may be set, leading zeros allowed. */
static int cidr4_sloppy(const char *s, struct sy_cidr *ret)
{
	char buf[32];
	const char *slash = s ? strchr(s, '/') : NULL;
	struct in_addr a;
	unsigned plen = 0, digits = 0;

	if (!slash || (size_t)(slash - s) >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, (size_t)(slash - s));
	buf[slash - s] = '\0';
	for (s = slash + 1; *s >= '0' && *s <= '9' && digits < 3; s++, digits++)
		plen = plen * 10 + (unsigned)(*s - '0');
	if (!digits || *s || plen > 32 || ip4_sloppy(buf, &a) < 0)
		return -EINVAL;
	return sy_cidr_make((struct sy_addr[]){ sy_addr_from_in4(a) }, plen, ret);
}

/*
 * An address of either family as kube-proxy reads it: IPv4 sloppy (above),
 * IPv6 in any RFC 4291 text form (lib/addr.c).
 */
static int ip_sloppy(const char *s, struct sy_addr *ret)
{
	struct in_addr a;

	if (is_ip6(s))
		return sy_addr_parse_family(s, AF_INET6, ret);
	if (ip4_sloppy(s, &a) < 0)
		return -EINVAL;
	*ret = sy_addr_from_in4(a);
	return 0;
}

/*
 * The first string of arr (a list) that is an address of family by its
 * looks (IPv6: it has a colon; IPv4: it has none, "" and "None" too), or NULL.
 */
static const char *first_of_family(struct json_object *arr, int family)
{
	for (size_t i = 0; arr && json_object_is_type(arr, json_type_array) &&
			   i < json_object_array_length(arr); i++) {
		const char *c = jstr(json_object_array_get_idx(arr, i));

		if (c && !!is_ip6(c) == (family == AF_INET6))
			return c;
	}
	return NULL;
}

/* Go's strings.TrimSpace: ASCII white space and U+0085, U+00A0 at both ends, into buf. */
static const char *trim_space(const char *s, char *buf, size_t len)
{
	size_t n;

	for (;;) {
		if (*s == ' ' || (*s >= '\t' && *s <= '\r'))
			s++;
		else if ((unsigned char)s[0] == 0xc2 && ((unsigned char)s[1] == 0x85 ||
							 (unsigned char)s[1] == 0xa0))
			s += 2;
		else
			break;
	}
	n = strlen(s);
	for (;;) {
		if (n && (s[n - 1] == ' ' || (s[n - 1] >= '\t' && s[n - 1] <= '\r')))
			n--;
		else if (n >= 2 && (unsigned char)s[n - 2] == 0xc2 &&
			 ((unsigned char)s[n - 1] == 0x85 || (unsigned char)s[n - 1] == 0xa0))
			n -= 2;
		else
			break;
	}
	if (n >= len)
		n = len - 1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return buf;
}

void object_id(struct json_object *obj, char *buf, size_t len)
{
	struct json_object *md = jget(obj, "metadata");
	const char *ns = jstr(jget(md, "namespace")), *name = jstr(jget(md, "name"));

	if (ns && name)
		snprintf(buf, len, "%s/%s", ns, name);
	else if (name)
		snprintf(buf, len, "%s", name);
	else
		snprintf(buf, len, "<unnamed>");
}

/* s[0..len) with control and non-ASCII bytes escaped, for error messages. */
static const char *escape(const char *s, size_t len, char *buf, size_t blen)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 8 < blen; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
			o += (size_t)snprintf(buf + o, blen - o, "\\u%04x", ch);
		else
			buf[o++] = (char)ch;
	}
	buf[o] = '\0';
	return buf;
}

static bool alnum_lower(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

bool dns1123_label(const char *s, size_t len)
{
	if (!len || len > 63 || !alnum_lower(s[0]) || !alnum_lower(s[len - 1]))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!alnum_lower(s[i]) && s[i] != '-')
			return false;
	return true;
}

bool dns1123_subdomain(const char *s, size_t len)
{
	size_t start = 0;

	if (!len || len > 253)
		return false;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || s[i] == '.') {
			if (i == start || !alnum_lower(s[start]) || !alnum_lower(s[i - 1]))
				return false;
			start = i + 1;
		} else if (!alnum_lower(s[i]) && s[i] != '-') {
			return false;
		}
	}
	return true;
}

/*
 * The name rules the API server applies: a Service name is a DNS-1123 label
 * (the API server's DNS-1035 rule, relaxed as its RelaxedServiceNameValidation
 * does to allow a leading digit), EndpointSlice and Node names are DNS-1123
 * subdomains, a namespace is a DNS-1123 label.  A name with a NUL byte (JSON
 * \u0000) is never valid: C would read it truncated.
 */
static int check_name(enum sy_kind kind, struct json_object *v, char *err, size_t errlen)
{
	const char *n = jstr(v);
	size_t len = n ? (size_t)json_object_get_string_len(v) : 0;
	char e[300];

	if (!n || !len) {
		snprintf(err, errlen, "missing metadata.name");
		return -EINVAL;
	}
	if (kind == SY_KIND_SERVICE || kind == SY_KIND_NAMESPACE ? !dns1123_label(n, len) :
	    !dns1123_subdomain(n, len)) {
		snprintf(err, errlen, "invalid metadata.name \"%s\": not a DNS-1123 %s",
			 escape(n, len < 260 ? len : 260, e, sizeof(e)),
			 kind == SY_KIND_SERVICE || kind == SY_KIND_NAMESPACE ? "label (lower-case letters, digits, '-'; at most 63)" :
			 "subdomain (lower-case letters, digits, '-', '.'; at most 253)");
		return -EINVAL;
	}
	return 0;
}

static int check_namespace(struct json_object *v, char *err, size_t errlen)
{
	const char *s = jstr(v);
	size_t len = s ? (size_t)json_object_get_string_len(v) : 0;
	char e[300];

	if (!v || (s && !len))
		return 0;	/* absent or empty: "default" */
	if (!s || !dns1123_label(s, len)) {
		snprintf(err, errlen, "invalid metadata.namespace \"%s\": not a DNS-1123 label",
			 s ? escape(s, len < 260 ? len : 260, e, sizeof(e)) : "(not a string)");
		return -EINVAL;
	}
	return 0;
}

int cache_object_key(enum sy_kind kind, struct json_object *obj, char *buf, size_t len)
{
	struct json_object *md = jget(obj, "metadata");
	char err[8];
	const char *ns;

	if (kind >= SY_KIND_MAX || check_name(kind, jget(md, "name"), err, sizeof(err)) < 0)
		return -EINVAL;
	if (sy_kind_cluster_scoped(kind)) {
		snprintf(buf, len, "%s", jstr(jget(md, "name")));
		return 0;
	}
	if (check_namespace(jget(md, "namespace"), err, sizeof(err)) < 0)
		return -EINVAL;
	ns = jstr(jget(md, "namespace"));
	snprintf(buf, len, "%s/%s", ns && *ns ? ns : "default", jstr(jget(md, "name")));
	return 0;
}

void object_key_display(enum sy_kind kind, struct json_object *obj, char *buf, size_t len)
{
	struct json_object *md = jget(obj, "metadata"), *nv = jget(md, "name"), *nsv = jget(md, "namespace");
	const char *name = jstr(nv), *ns = jstr(nsv);
	char en[300], ens[300];

	if (cache_object_key(kind, obj, buf, len) == 0)
		return;
	escape(name ? name : "", name ? (size_t)json_object_get_string_len(nv) : 0, en, sizeof(en));
	escape(ns ? ns : "", ns ? (size_t)json_object_get_string_len(nsv) : 0, ens, sizeof(ens));
	if (sy_kind_cluster_scoped(kind))
		snprintf(buf, len, "%s", en);
	else
		snprintf(buf, len, "%s/%s", *ens ? ens : "default", en);
}

int decode_metadata(struct json_object *obj, struct json_object **md, char *err, size_t errlen)
{
	if (!obj || !json_object_is_type(obj, json_type_object)) {
		snprintf(err, errlen, "not a JSON object");
		return -EINVAL;
	}
	*md = jget(obj, "metadata");
	if (!*md || !json_object_is_type(*md, json_type_object)) {
		snprintf(err, errlen, "missing metadata");
		return -EINVAL;
	}
	return 0;
}

int decode_list(struct json_object *obj, const char *path, unsigned max, struct json_object **ret,
		char *err, size_t errlen)
{
	struct json_object *v = obj;
	const char *p = path, *dot;
	char key[64];
	size_t n;

	while ((dot = strchr(p, '.'))) {
		snprintf(key, sizeof(key), "%.*s", (int)(dot - p), p);
		v = jget(v, key);
		p = dot + 1;
	}
	*ret = v = jget(v, p);
	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_array)) {
		snprintf(err, errlen, "%s is not a list", path);
		return -EINVAL;
	}
	n = json_object_array_length(v);
	if (max && n > max) {
		snprintf(err, errlen, "%s: may not have more than %u entries", path, max);
		return -EINVAL;
	}
	return (int)n;
}

/* Common metadata: name and namespace (default "default") valid as the API server checks them. */
static int meta(struct json_object *obj, enum sy_kind kind, char **key, char **ns, char **name,
		char **rv, char *err, size_t errlen)
{
	struct json_object *md;
	const char *n, *s, *r;
	size_t nsl, nl;
	char *p;

	if (decode_metadata(obj, &md, err, errlen) < 0)
		return -EINVAL;
	if (check_name(kind, jget(md, "name"), err, errlen) < 0)
		return -EINVAL;
	n = jstr(jget(md, "name"));
	if (kind != SY_KIND_NODE && check_namespace(jget(md, "namespace"), err, errlen) < 0)
		return -EINVAL;
	s = jstr(jget(md, "namespace"));
	if (!s || !*s)
		s = "default";
	r = jstr(jget(md, "resourceVersion"));
	/*
	 * One allocation: "ns/name", "ns", the resourceVersion (a Node:
	 * "name", the resourceVersion); name and ns point into it, freed
	 * with the key.  Two of every object are kept: three strings fewer
	 * each is 1.5 MB at 10,000 Services and 10,000 EndpointSlices.
	 */
	nsl = kind != SY_KIND_NODE ? strlen(s) + 1 : 0;		/* "ns/" and "ns\0" */
	nl = strlen(n) + 1;
	p = xmalloc(2 * nsl + nl + (r ? strlen(r) + 1 : 0));
	*key = p;
	if (nsl) {
		memcpy(p, s, nsl - 1);
		p[nsl - 1] = '/';
	}
	*name = memcpy(p + nsl, n, nl);
	p += nsl + nl;
	*ns = nsl ? memcpy(p, s, nsl) : NULL;
	p += nsl;
	*rv = r ? strcpy(p, r) : NULL;
	return 0;
}

/* ---- Service ---- */

/*
 * A list of IPs as kube-proxy's MapIPsByIPFamily reads it: IPv6 entries are
 * another family's, an empty entry is skipped silently, an invalid one is
 * skipped with an error (the rest of the Service stays).
 */
static int ip_list(struct json_object *obj, const char *what, struct sy_addr **ret, unsigned *n,
		   const char *svc, const struct sy_report *rep, char *err, size_t errlen)
{
	struct json_object *arr;
	int len = decode_list(obj, what, 0, &arr, err, errlen);

	*n = 0;
	*ret = NULL;
	if (len <= 0)
		return len;
	*ret = xcalloc((size_t)len, sizeof(**ret));
	for (size_t i = 0; i < (size_t)len; i++) {
		const char *s = jstr(json_object_array_get_idx(arr, i));

		if (ip_sloppy(s, &(*ret)[*n]) < 0) {
			if (!s || *s)
				sy_report(rep, 'E', "Service %s: invalid IP \"%s\" in %s; this entry "
					  "is skipped", svc, s ? s : "(not a string)", what);
			continue;
		}
		(*n)++;
	}
	return 0;
}

/* Entry i of spec.ports, p, into sp (its strings freed with the Service). */
static int svc_port_decode(struct json_object *p, size_t i, struct svc_port *sp, char *err,
			   size_t errlen)
{
	struct json_object *tp;
	const char *str;
	long l;

	if (!p || !json_object_is_type(p, json_type_object))
		FAIL("spec.ports[%zu] is not an object", i);
	str = jstr(jget(p, "name"));
	if (jget(p, "name") && !str)
		FAIL("spec.ports[%zu].name is not a string", i);
	sp->name = xstrdup(str ? str : "");
	if (decode_proto(jget(p, "protocol"), &sp->proto) < 0)
		FAIL("spec.ports[%zu]: unknown protocol %s", i,
		     jstr(jget(p, "protocol")) ? jstr(jget(p, "protocol")) : "(not a string)");
	if (!jget(p, "port"))
		FAIL("spec.ports[%zu]: missing port", i);
	if (jint(jget(p, "port"), 1, 65535, 0, &l) < 0)
		FAIL("spec.ports[%zu]: port out of range", i);
	sp->port = (uint16_t)l;
	if (jint(jget(p, "nodePort"), 0, 65535, 0, &l) < 0)
		FAIL("spec.ports[%zu]: nodePort out of range", i);
	sp->node_port = (uint16_t)l;
	tp = jget(p, "targetPort");
	if (!tp) {
		sp->target_port = sp->port;
	} else if (json_object_is_type(tp, json_type_string)) {
		const char *t = json_object_get_string(tp);
		char *end;
		long x = strtol(t, &end, 10);

		if (*t && !*end) {	/* "8080" is a number in a string */
			if (x < 1 || x > 65535)
				FAIL("spec.ports[%zu]: targetPort out of range", i);
			sp->target_port = (uint16_t)x;
		} else if (!*t || strlen(t) > 15) {
			FAIL("spec.ports[%zu]: invalid targetPort name", i);
		} else {
			sp->target_port_name = xstrdup(t);
		}
	} else if (jint(tp, 1, 65535, 0, &l) < 0) {
		FAIL("spec.ports[%zu]: targetPort out of range", i);
	} else {
		sp->target_port = (uint16_t)l;
	}
	return 0;
fail:
	return -EINVAL;
}

int service_decode(struct json_object *obj, const struct sy_report *rep, struct service **ret,
		   char *err, size_t errlen)
{
	struct service *s = xcalloc(1, sizeof(*s));
	struct json_object *spec, *v, *labels;
	int nports, nranges;
	const char *str;
	long l;
	int type;

	if (meta(obj, SY_KIND_SERVICE, &s->key, &s->ns, &s->name, &s->resource_version, err,
		 errlen) < 0)
		goto fail;
	str = jstr(jpath(obj, "metadata", "creationTimestamp"));
	if (str && sy_parse_rfc3339(str, &s->created) < 0)
		s->created = 0;
	labels = jpath(obj, "metadata", "labels");
	if (jget(labels, "service.kubernetes.io/service-proxy-name") ||
	    jget(labels, "service.kubernetes.io/headless"))
		s->proxy_skip = true;
	spec = jget(obj, "spec");
	if (!spec || !json_object_is_type(spec, json_type_object))
		FAIL("missing spec");

	/* in enum svc_type's order; absent: ClusterIP */
	if (decode_enum(jget(spec, "type"), "spec.type", (const char *const[]){ "ClusterIP",
			"NodePort", "LoadBalancer", "ExternalName" }, 4, &type, err, errlen) < 0)
		goto fail;
	s->type = (enum svc_type)type;

	v = jget(spec, "clusterIP");
	str = jstr(v);
	if (v && !str)
		FAIL("spec.clusterIP is not a string");
	if (!str || !*str || is_ip6(str)) {
		/* clusterIPs[] may carry it (the first IPv4: dual-stack, IPv6 primary) */
		const char *c = first_of_family(jget(spec, "clusterIPs"), AF_INET);

		if (c)
			str = c;
	}
	if (str && *str && is_ip6(str))
		s->ipv6_only = true;	/* no IPv4 ClusterIP anywhere */
	if (str && !strcmp(str, "None")) {
		s->headless = true;
	} else if (str && *str && !is_ip6(str)) {
		if (ip_sloppy(str, &s->cluster_ip) < 0)
			FAIL("invalid spec.clusterIP \"%s\"", str);
	}
	if (!s->headless) {
		/* the IPv6 ClusterIP: spec.clusterIP when IPv6, else the first IPv6 of clusterIPs */
		const char *c6 = jstr(jget(spec, "clusterIP"));

		if (!c6 || !is_ip6(c6))
			c6 = first_of_family(jget(spec, "clusterIPs"), AF_INET6);
		if (c6 && sy_addr_parse_family(c6, AF_INET6, &s->cluster_ip6) < 0)
			sy_report(rep, 'E', "Service %s: invalid IPv6 ClusterIP \"%s\"; ignored", s->key,
				  c6);
	}
	v = jget(spec, "ipFamilies");
	for (size_t i = 0; v && json_object_is_type(v, json_type_array) &&
			   i < json_object_array_length(v) && s->n_ip_families < 2; i++) {
		int f = sy_family_parse(jstr(json_object_array_get_idx(v, i)));

		if (f > 0)
			s->ip_families[s->n_ip_families++] = (uint8_t)f;
	}
	str = jstr(jget(spec, "ipFamilyPolicy"));
	if (str && !strcmp(str, "SingleStack"))
		s->ip_family_policy = SVC_IPFP_SINGLE_STACK;
	else if (str && !strcmp(str, "PreferDualStack"))
		s->ip_family_policy = SVC_IPFP_PREFER_DUAL_STACK;
	else if (str && !strcmp(str, "RequireDualStack"))
		s->ip_family_policy = SVC_IPFP_REQUIRE_DUAL_STACK;

	nports = decode_list(obj, "spec.ports", 0, &v, err, errlen);
	if (nports < 0)
		goto fail;
	s->ports = nports ? xcalloc((size_t)nports, sizeof(*s->ports)) : NULL;
	for (size_t i = 0; i < (size_t)nports; i++) {
		struct svc_port *sp = &s->ports[i];

		s->n_ports++;
		if (svc_port_decode(json_object_array_get_idx(v, i), i, sp, err, errlen) < 0)
			goto fail;
		for (size_t j = 0; j < i; j++) {
			if (s->ports[j].port == sp->port && s->ports[j].proto == sp->proto)
				FAIL("duplicate port %u/%s", sp->port, sy_proto_name(sp->proto));
			if (!strcmp(s->ports[j].name, sp->name))
				FAIL("duplicate port name \"%s\"", sp->name);
		}
	}

	if (ip_list(obj, "spec.externalIPs", &s->external_ips, &s->n_external_ips, s->key, rep,
		    err, errlen) < 0)
		goto fail;

	v = jpath(jget(obj, "status"), "loadBalancer", "ingress");
	if (v && json_object_is_type(v, json_type_array)) {
		size_t n = json_object_array_length(v);

		s->lb_ips = xcalloc(n, sizeof(*s->lb_ips));
		for (size_t i = 0; i < n; i++) {
			struct json_object *ing = json_object_array_get_idx(v, i);
			const char *ip = jstr(jget(ing, "ip")), *mode = jstr(jget(ing, "ipMode"));

			if (!ip)
				continue;	/* hostname-only ingress */
			if (mode && !strcmp(mode, "Proxy"))
				continue;	/* the load balancer proxies: not a VIP to program (as kube-proxy) */
			if (ip_sloppy(ip, &s->lb_ips[s->n_lb_ips]) < 0) {
				/* kube-proxy: not an IP of this family, not a VIP */
				if (*ip)
					sy_report(rep, 'E', "Service %s: invalid status.loadBalancer.ingress "
					  "IP \"%s\"; this entry is skipped", s->key, ip);
				continue;
			}
			s->n_lb_ips++;
		}
	}
	nranges = decode_list(obj, "spec.loadBalancerSourceRanges", 0, &v, err, errlen);
	if (nranges < 0)
		goto fail;
	if (v) {
		size_t n = (size_t)nranges;
		unsigned given = 0;

		s->lb_source_ranges = xcalloc(n, sizeof(*s->lb_source_ranges));
		for (size_t i = 0; i < n; i++) {
			const char *raw = jstr(json_object_array_get_idx(v, i));
			char buf[128];
			const char *c;

			/* kube-proxy trims each entry (API validation lets the spaces through) */
			c = raw ? trim_space(raw, buf, sizeof(buf)) : NULL;
			if (c && !*c)
				continue;	/* empty: ignored, as kube-proxy */
			given++;
			if (is_ip6(c) ? sy_cidr_parse_family(c, AF_INET6,
					&s->lb_source_ranges[s->n_lb_source_ranges]) < 0 :
			    cidr4_sloppy(c, &s->lb_source_ranges[s->n_lb_source_ranges]) < 0) {
				sy_report(rep, 'E', "Service %s: invalid loadBalancerSourceRanges "
					  "entry \"%s\"; this entry is skipped", s->key,
					  raw ? raw : "(not a string)");
				continue;
			}
			s->n_lb_source_ranges++;
		}
		/*
		 * kube-proxy drops the firewall when no range of the family is
		 * left, opening the load balancer IPs to every source.  Never
		 * wider than the valid ranges allow: no range of a family, no
		 * load balancer IP of that family, said with the family.
		 */
		for (int f = AF_INET; given && f; f = f == AF_INET ? AF_INET6 : 0) {
			unsigned nr = 0, nl = 0, k = 0;

			for (unsigned i = 0; i < s->n_lb_source_ranges; i++)
				nr += s->lb_source_ranges[i].addr.family == f;
			for (unsigned i = 0; i < s->n_lb_ips; i++)
				nl += s->lb_ips[i].family == f;
			if (nr || !nl)
				continue;
			sy_report(rep, 'E', "Service %s: no valid %s entry in "
				  "loadBalancerSourceRanges; its load balancer IPs are not "
				  "programmed", s->key, f == AF_INET ? "IPv4" : "IPv6");
			for (unsigned i = 0; i < s->n_lb_ips; i++)
				if (s->lb_ips[i].family != f)
					s->lb_ips[k++] = s->lb_ips[i];
			s->n_lb_ips = k;
		}
	}

	str = jstr(jget(spec, "sessionAffinity"));
	if (str && strcmp(str, "ClientIP") && strcmp(str, "None"))
		FAIL("unknown spec.sessionAffinity \"%s\"", str);
	s->affinity_client_ip = str && !strcmp(str, "ClientIP");
	/* kube-proxy reads the timeout only for ClientIP affinity */
	if (jint(jget(jpath(spec, "sessionAffinityConfig", "clientIP"), "timeoutSeconds"), 1, 86400,
		 10800, &l) < 0) {
		if (s->affinity_client_ip)
			FAIL("sessionAffinityConfig.clientIP.timeoutSeconds must be in 1..86400");
		l = 10800;
	}
	s->affinity_timeout = (uint32_t)l;

	str = jstr(jget(spec, "externalTrafficPolicy"));
	if (str && strcmp(str, "Local") && strcmp(str, "Cluster") && strcmp(str, "Global"))
		FAIL("unknown spec.externalTrafficPolicy \"%s\"", str);
	s->etp_local = str && !strcmp(str, "Local");
	str = jstr(jget(spec, "internalTrafficPolicy"));
	if (str && strcmp(str, "Local") && strcmp(str, "Cluster"))
		FAIL("unknown spec.internalTrafficPolicy \"%s\"", str);
	s->itp_local = str && !strcmp(str, "Local");
	if (jint(jget(spec, "healthCheckNodePort"), 0, 65535, 0, &l) < 0)
		FAIL("spec.healthCheckNodePort out of range");
	s->hc_node_port = (uint16_t)l;
	str = jstr(jget(spec, "trafficDistribution"));
	if (str)
		s->traffic_distribution = xstrdup(str);
	*ret = s;
	return 0;
fail:
	service_free(s);
	return -EINVAL;
}

/* ---- EndpointSlice ---- */

/* The number of entries of a hints list (0 when absent); -EINVAL when it is not a list. */
static int hint_count(struct json_object *arr)
{
	if (!arr)
		return 0;
	if (!json_object_is_type(arr, json_type_array))
		return -EINVAL;
	return (int)json_object_array_length(arr);
}

/* Append the names of a hints list (hint_count entries) to v. */
static int hint_names(struct json_object *arr, char **v, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		const char *z = jstr(jget(json_object_array_get_idx(arr, i), "name"));

		if (!z)
			return -EINVAL;
		v[i] = decode_intern(z);
	}
	return 0;
}

/* hints.forZones / hints.forNodes of endpoint e: *ret stays NULL when both are empty. */
static int ep_hints(struct json_object *e, struct slice_ep_hints **ret)
{
	struct json_object *zones = jpath(e, "hints", "forZones");
	struct json_object *nodes = jpath(e, "hints", "forNodes");
	int nz = hint_count(zones), nn = hint_count(nodes);
	struct slice_ep_hints *h;

	if (nz < 0 || nn < 0)
		return -EINVAL;
	if (!nz && !nn)
		return 0;
	h = xcalloc(1, sizeof(*h) + ((size_t)nz + (size_t)nn) * sizeof(char *));
	*ret = h;
	h->n_zones = (unsigned)nz;
	h->n_nodes = (unsigned)nn;
	if (hint_names(zones, h->names, h->n_zones) < 0 ||
	    hint_names(nodes, h->names + h->n_zones, h->n_nodes) < 0)
		return -EINVAL;
	return 0;
}

int slice_decode(struct json_object *obj, struct endpoint_slice **ret, char *err, size_t errlen)
{
	struct endpoint_slice *s = xcalloc(1, sizeof(*s));
	struct json_object *v, *md;
	const char *str, *at;
	long l;
	int n;

	if (meta(obj, SY_KIND_ENDPOINTSLICE, &s->key, &s->ns, &s->name, &s->resource_version, err,
		 errlen) < 0)
		goto fail;
	md = jget(obj, "metadata");
	v = jget(jget(md, "labels"), "kubernetes.io/service-name");
	str = jstr(v);
	if (!str || !*str)
		FAIL("missing label kubernetes.io/service-name");
	if (!dns1123_label(str, (size_t)json_object_get_string_len(v))) {
		char e[300];

		FAIL("label kubernetes.io/service-name \"%s\" is not a Service name",
		     escape(str, (size_t)json_object_get_string_len(v) < 260 ?
			    (size_t)json_object_get_string_len(v) : 260, e, sizeof(e)));
	}
	s->service_key = xmalloc(strlen(s->ns) + strlen(str) + 2);
	sprintf(s->service_key, "%s/%s", s->ns, str);
	str = jstr(jget(jget(md, "annotations"), "endpoints.kubernetes.io/last-change-trigger-time"));
	if (str && sy_parse_rfc3339(str, &s->trigger_time) < 0)
		s->trigger_time = 0;	/* a bad annotation only costs the latency metric */

	at = jstr(jget(obj, "addressType"));
	if (!at)
		FAIL("missing addressType");
	if (strcmp(at, "IPv4") && strcmp(at, "IPv6") && strcmp(at, "FQDN"))
		FAIL("unknown addressType \"%s\"", at);
	s->family = strcmp(at, "FQDN") ? sy_family_parse(at) : 0;

	n = decode_list(obj, "ports", 0, &v, err, errlen);
	if (n < 0)
		goto fail;
	if (n) {
		s->ports = xcalloc((size_t)n, sizeof(*s->ports));
		for (size_t i = 0; i < (size_t)n; i++) {
			struct json_object *p = json_object_array_get_idx(v, i);
			struct slice_port *sp = &s->ports[i];

			s->n_ports++;
			if (!p || !json_object_is_type(p, json_type_object))
				FAIL("ports[%zu] is not an object", i);
			str = jstr(jget(p, "name"));
			sp->name = xstrdup(str ? str : "");
			if (decode_proto(jget(p, "protocol"), &sp->proto) < 0)
				FAIL("ports[%zu]: unknown protocol", i);
			if (jint(jget(p, "port"), 0, 65535, 0, &l) < 0)
				FAIL("ports[%zu]: port out of range", i);
			sp->port = (uint16_t)l;
			for (size_t j = 0; j < i; j++)
				if (!strcmp(s->ports[j].name, sp->name) && s->ports[j].proto == sp->proto)
					FAIL("duplicate port name \"%s\"", sp->name);
		}
	}

	n = decode_list(obj, "endpoints", 0, &v, err, errlen);
	if (n < 0)
		goto fail;
	if (n && s->family) {
		s->eps = xcalloc((size_t)n, sizeof(*s->eps));
		for (size_t i = 0; i < (size_t)n; i++) {
			struct json_object *e = json_object_array_get_idx(v, i), *addrs, *cond;
			struct slice_endpoint *se = &s->eps[s->n_eps];
			bool ready, serving, terminating;

			if (!e || !json_object_is_type(e, json_type_object))
				FAIL("endpoints[%zu] is not an object", i);
			addrs = jget(e, "addresses");
			if (addrs && !json_object_is_type(addrs, json_type_array))
				FAIL("endpoints[%zu].addresses is not a list", i);
			if (!addrs || json_object_array_length(addrs) == 0) {
				log_v(2, "EndpointSlice %s: ignoring invalid endpoint port with empty address",
				      s->key);
				continue;
			}
			str = jstr(json_object_array_get_idx(addrs, 0));
			if (str && !!is_ip6(str) != (s->family == AF_INET6)) {
				/* kube-proxy: an endpoint of the other family is skipped */
				log_v(2, "EndpointSlice %s: endpoint %s is %s in an %s slice; ignored",
				      s->key, str, sy_family_name(is_ip6(str) ? AF_INET6 : AF_INET),
				      sy_family_name(s->family));
				continue;
			}
			if (ip_sloppy(str, &se->addr) < 0)
				FAIL("endpoints[%zu]: invalid address \"%s\"", i, str ? str : "");
			cond = jget(e, "conditions");
			if (jbool(jget(cond, "ready"), true, &ready) < 0 ||
			    jbool(jget(cond, "serving"), true, &serving) < 0 ||
			    jbool(jget(cond, "terminating"), false, &terminating) < 0)
				FAIL("endpoints[%zu]: conditions must be booleans", i);
			/* nil ready and nil serving count as true, as kube-proxy reads them */
			se->flags = (ready ? EP_READY : 0) | (serving ? EP_SERVING : 0) |
				    (terminating ? EP_TERMINATING : 0);
			se->node_name = decode_intern(jstr(jget(e, "nodeName")));
			se->zone = decode_intern(jstr(jget(e, "zone")));
			if (ep_hints(e, &se->hints) < 0) {
				s->n_eps++;
				FAIL("endpoints[%zu]: invalid hints", i);
			}
			s->n_eps++;
		}
	}
	*ret = s;
	return 0;
fail:
	slice_free(s);
	return -EINVAL;
}

/* ---- Node ---- */

const char *node_annotation(const struct node *n, const char *key)
{
	for (unsigned i = 0; n && i < n->n_annotations; i++)
		if (!strcmp(n->annotations[i].key, key))
			return n->annotations[i].value;
	return NULL;
}

int node_decode(struct json_object *obj, struct node **ret, char *err, size_t errlen)
{
	struct node *n = xcalloc(1, sizeof(*n));
	struct json_object *v, *md, *spec;
	char *unused_ns = NULL;
	const char *str;

	if (meta(obj, SY_KIND_NODE, &n->key, &unused_ns, &n->name, &n->resource_version, err, errlen) < 0)
		goto fail;
	md = jget(obj, "metadata");
	spec = jget(obj, "spec");
	if (decode_list(obj, "status.addresses", 0, &v, err, errlen) < 0)
		goto fail;
	for (size_t i = 0; v && i < json_object_array_length(v); i++) {
		struct json_object *a = json_object_array_get_idx(v, i);
		const char *type = jstr(jget(a, "type")), *addr = jstr(jget(a, "address"));
		bool v6 = is_ip6(addr);
		struct sy_addr *dst;

		if (!type || !addr)
			continue;
		if (!strcmp(type, "InternalIP"))
			dst = v6 ? &n->internal_ip6 : &n->internal_ip;
		else if (!strcmp(type, "ExternalIP"))
			dst = v6 ? &n->external_ip6 : &n->external_ip;
		else
			continue;
		if (sy_addr_is_set(dst))
			continue;
		if (sy_addr_parse_family(addr, v6 ? AF_INET6 : AF_INET, dst) < 0) {
			if (!v6)
				FAIL("invalid %s \"%s\"", type, addr);
			log_v(2, "Node %s: invalid %s \"%s\"; ignored", n->name, type, addr);
		}
	}
	/* the first InternalIP's family, else the first ExternalIP's (kube-proxy's node IPs) */
	for (int pass = 0; pass < 2 && v && !n->primary_family; pass++)
		for (size_t i = 0; i < json_object_array_length(v) && !n->primary_family; i++) {
			struct json_object *a = json_object_array_get_idx(v, i);
			const char *type = jstr(jget(a, "type")), *addr = jstr(jget(a, "address"));
			const struct sy_addr *got;

			if (!type || !addr || strcmp(type, pass ? "ExternalIP" : "InternalIP"))
				continue;
			got = is_ip6(addr) ? (pass ? &n->external_ip6 : &n->internal_ip6)
					   : (pass ? &n->external_ip : &n->internal_ip);
			if (sy_addr_is_set(got))
				n->primary_family = got->family;
		}
	str = jstr(jget(spec, "podCIDR"));
	if (!str)
		str = first_of_family(jget(spec, "podCIDRs"), AF_INET);
	if (str && *str && !is_ip6(str)) {
		if (sy_cidr_parse_family(str, AF_INET, &n->pod_cidr) < 0)
			FAIL("invalid spec.podCIDR \"%s\"", str);
		n->has_pod_cidr = true;
	}
	str = jstr(jget(spec, "podCIDR"));
	if (!str || !is_ip6(str))
		str = first_of_family(jget(spec, "podCIDRs"), AF_INET6);
	if (str) {
		if (sy_cidr_parse_family(str, AF_INET6, &n->pod_cidr6) == 0)
			n->has_pod_cidr6 = true;
		else
			log_v(2, "Node %s: invalid IPv6 podCIDR \"%s\"; ignored", n->name, str);
	}
	n->zone = decode_intern(jstr(jget(jget(md, "labels"), "topology.kubernetes.io/zone")));
	if (jget(md, "deletionTimestamp"))
		n->deleting = true;
	v = jget(spec, "taints");
	for (size_t i = 0; v && json_object_is_type(v, json_type_array) &&
			   i < json_object_array_length(v); i++) {
		str = jstr(jget(json_object_array_get_idx(v, i), "key"));
		if (str && !strcmp(str, "ToBeDeletedByClusterAutoscaler"))
			n->deleting = true;
	}
	v = jget(md, "annotations");
	if (v && json_object_is_type(v, json_type_object)) {
		json_object_object_foreach(v, key, val) {
			if (strncmp(key, "switchyard.io/", 14) &&
			    strncmp(key, "flannel.alpha.coreos.com/", 25))
				continue;
			if (!jstr(val))
				continue;
			n->annotations = xrealloc(n->annotations,
						  (n->n_annotations + 1) * sizeof(*n->annotations));
			n->annotations[n->n_annotations].key = xstrdup(key);
			n->annotations[n->n_annotations].value = xstrdup(jstr(val));
			n->n_annotations++;
		}
	}
	*ret = n;
	return 0;
fail:
	node_free(n);
	return -EINVAL;
}
