// SPDX-License-Identifier: Apache-2.0
/*
 * Decoding of the NetworkPolicy kinds (netpol.h): v1 Pod (what enforcement
 * needs of it), v1 Namespace and networking.k8s.io/v1 NetworkPolicy, with
 * the API server's validation and defaulting; label selectors and their
 * matching; ipBlock flattening into address ranges.  Pure, no I/O.
 */
#include <errno.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "switchyard/hmap.h"
#include "switchyard/json_util.h"
#include "switchyard/netpol.h"
#include "switchyard/util.h"
#include "decode_int.h"

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); goto fail; } while (0)

/* ---- interned strings: label keys/values, namespaces, node and port names ---- */

const char *np_intern(const char *s)
{
	return decode_intern(s);
}

/* ---- names ---- */

/* A string member with no NUL byte inside; NULL otherwise. */
static const char *jcleanstr(struct json_object *v)
{
	const char *s = jstr(v);

	if (s && strlen(s) != (size_t)json_object_get_string_len(v))
		return NULL;
	return s;
}

/*
 * metadata.name (DNS-1123 label for a Namespace, subdomain otherwise) and,
 * namespaced, metadata.namespace (a label, default "default").
 */
static int meta(struct json_object *obj, bool namespaced, bool name_label, char **key,
		const char **ns, char **rv, char *err, size_t errlen)
{
	struct json_object *md;
	const char *n, *s = NULL, *r;

	if (decode_metadata(obj, &md, err, errlen) < 0)
		return -EINVAL;
	n = jcleanstr(jget(md, "name"));
	if (!n || !*n) {
		snprintf(err, errlen, "missing metadata.name");
		return -EINVAL;
	}
	if (name_label ? !dns1123_label(n, strlen(n)) : !dns1123_subdomain(n, strlen(n))) {
		snprintf(err, errlen, "invalid metadata.name \"%.*s\": not a DNS-1123 %s", 64, n,
			 name_label ? "label" : "subdomain");
		return -EINVAL;
	}
	if (namespaced) {
		struct json_object *v = jget(md, "namespace");

		s = jcleanstr(v);
		if (v && (!s || (*s && !dns1123_label(s, strlen(s))))) {
			snprintf(err, errlen, "invalid metadata.namespace: not a DNS-1123 label");
			return -EINVAL;
		}
		if (!s || !*s)
			s = "default";
	}
	r = jstr(jget(md, "resourceVersion"));
	*rv = r ? xstrdup(r) : NULL;
	if (namespaced) {
		size_t l = strlen(s) + strlen(n) + 2;

		*ns = np_intern(s);
		*key = xmalloc(l);
		snprintf(*key, l, "%s/%s", s, n);
	} else {
		*ns = np_intern(n);
		*key = xstrdup(n);
	}
	return 0;
}

/*
 * IANA_SVC_NAME as the API server checks a port name: at most 15
 * characters, lower-case letters, digits and '-', at least one letter, no
 * '-' at either end, no "--".
 */
static bool iana_svc_name(const char *s)
{
	size_t len = strlen(s);
	bool letter = false;

	if (!len || len > 15 || s[0] == '-' || s[len - 1] == '-' || strstr(s, "--"))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] >= 'a' && s[i] <= 'z')
			letter = true;
		else if (!(s[i] >= '0' && s[i] <= '9') && s[i] != '-')
			return false;
	}
	return letter;
}

/* ---- labels and selectors ---- */

static int label_cmp(const void *a, const void *b)
{
	return strcmp(((const struct np_label *)a)->key, ((const struct np_label *)b)->key);
}

/* metadata.labels: an object of strings (absent = none). */
static int labels_decode(struct json_object *o, struct np_labels *l, char *err, size_t errlen)
{
	unsigned n = 0;

	l->v = NULL;
	l->n = 0;
	if (!o)
		return 0;
	if (!json_object_is_type(o, json_type_object))
		FAIL("metadata.labels is not an object");
	l->v = xcalloc((size_t)json_object_object_length(o) + 1, sizeof(*l->v));
	json_object_object_foreach(o, k, v) {
		const char *s = jcleanstr(v);

		if (!s || !*k)
			FAIL("metadata.labels: label \"%.64s\" is not a string", k);
		l->v[n].key = np_intern(k);
		l->v[n].value = np_intern(s);
		n++;
	}
	l->n = n;
	qsort(l->v, n, sizeof(*l->v), label_cmp);
	return 0;
fail:
	free(l->v);
	l->v = NULL;
	l->n = 0;
	return -EINVAL;
}

const char *np_labels_get(const struct np_labels *l, const char *key)
{
	for (unsigned i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].key, key))
			return l->v[i].value;
	return NULL;
}

/* By interned pointer. */
static const char *labels_lookup(const struct np_labels *l, const char *ikey)
{
	for (unsigned i = 0; i < l->n; i++)
		if (l->v[i].key == ikey)
			return l->v[i].value;
	return NULL;
}

bool np_selector_matches(const struct np_selector *s, const struct np_labels *l)
{
	for (unsigned i = 0; i < s->n_exprs; i++) {
		const struct np_sel_expr *e = &s->exprs[i];
		const char *v = labels_lookup(l, e->key);
		bool in = false;

		switch (e->op) {
		case NP_SEL_EXISTS:
			if (!v)
				return false;
			break;
		case NP_SEL_DOES_NOT_EXIST:
			if (v)
				return false;
			break;
		case NP_SEL_IN:
		case NP_SEL_NOT_IN:
			if (v)
				for (unsigned k = 0; k < e->n_values && !in; k++)
					in = e->values[k] == v;
			if (in != (e->op == NP_SEL_IN))
				return false;
			break;
		}
	}
	return true;
}

/* A metav1.LabelSelector at what (for messages); absent = empty = everything. */
static int selector_decode(struct json_object *o, const char *what, struct np_selector *s,
			   char *err, size_t errlen)
{
	struct json_object *ml, *me;
	size_t max;

	s->exprs = NULL;
	s->n_exprs = 0;
	if (!o)
		return 0;
	if (!json_object_is_type(o, json_type_object))
		FAIL("%s is not an object", what);
	ml = jget(o, "matchLabels");
	me = jget(o, "matchExpressions");
	if (ml && !json_object_is_type(ml, json_type_object))
		FAIL("%s.matchLabels is not an object", what);
	if (me && !json_object_is_type(me, json_type_array))
		FAIL("%s.matchExpressions is not a list", what);
	max = (ml ? (size_t)json_object_object_length(ml) : 0) +
	      (me ? json_object_array_length(me) : 0);
	s->exprs = xcalloc(max + 1, sizeof(*s->exprs));
	if (ml) {
		json_object_object_foreach(ml, k, v) {
			struct np_sel_expr *e = &s->exprs[s->n_exprs];
			const char *val = jcleanstr(v);

			if (!*k || !val)
				FAIL("%s.matchLabels: \"%.64s\" is not a label and string value", what, k);
			e->key = np_intern(k);
			e->op = NP_SEL_IN;
			e->values = xcalloc(1, sizeof(*e->values));
			e->values[0] = np_intern(val);
			e->n_values = 1;
			s->n_exprs++;
		}
	}
	for (size_t i = 0; me && i < json_object_array_length(me); i++) {
		struct json_object *x = json_object_array_get_idx(me, i), *vals;
		struct np_sel_expr *e = &s->exprs[s->n_exprs];
		const char *key = jcleanstr(jget(x, "key")), *op = jstr(jget(x, "operator"));

		if (!key || !*key)
			FAIL("%s.matchExpressions[%zu].key: required", what, i);
		if (!op)
			FAIL("%s.matchExpressions[%zu].operator: required", what, i);
		if (!strcmp(op, "In"))
			e->op = NP_SEL_IN;
		else if (!strcmp(op, "NotIn"))
			e->op = NP_SEL_NOT_IN;
		else if (!strcmp(op, "Exists"))
			e->op = NP_SEL_EXISTS;
		else if (!strcmp(op, "DoesNotExist"))
			e->op = NP_SEL_DOES_NOT_EXIST;
		else
			FAIL("%s.matchExpressions[%zu].operator: not a valid selector operator \"%.32s\"",
			     what, i, op);
		e->key = np_intern(key);
		vals = jget(x, "values");
		if (vals && !json_object_is_type(vals, json_type_array))
			FAIL("%s.matchExpressions[%zu].values is not a list", what, i);
		s->n_exprs++;
		if (e->op == NP_SEL_IN || e->op == NP_SEL_NOT_IN) {
			size_t n = vals ? json_object_array_length(vals) : 0;

			if (!n)
				FAIL("%s.matchExpressions[%zu].values: must be specified when `operator` is 'In' or 'NotIn'",
				     what, i);
			e->values = xcalloc(n, sizeof(*e->values));
			for (size_t k = 0; k < n; k++) {
				const char *v = jcleanstr(json_object_array_get_idx(vals, k));

				if (!v)
					FAIL("%s.matchExpressions[%zu].values[%zu] is not a string", what, i, k);
				e->values[e->n_values++] = np_intern(v);
			}
		} else if (vals && json_object_array_length(vals)) {
			FAIL("%s.matchExpressions[%zu].values: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
			     what, i);
		}
	}
	return 0;
fail:
	return -EINVAL;		/* the owner frees what was built (netpolicy_unref) */
}

/* ---- Pod ---- */

bool pod_counts(const struct pod *p)
{
	return !p->host_network && p->n_ips && p->phase != POD_PHASE_SUCCEEDED &&
	       p->phase != POD_PHASE_FAILED;
}

static bool labels_same(const struct np_labels *a, const struct np_labels *b)
{
	if (a->n != b->n)
		return false;
	for (unsigned i = 0; i < a->n; i++)	/* sorted, interned */
		if (a->v[i].key != b->v[i].key || a->v[i].value != b->v[i].value)
			return false;
	return true;
}

bool pod_same(const struct pod *a, const struct pod *b)
{
	if (a->ns != b->ns || a->node != b->node || a->host_network != b->host_network ||
	    pod_counts(a) != pod_counts(b) || a->n_ips != b->n_ips || a->n_ports != b->n_ports ||
	    !labels_same(&a->labels, &b->labels))
		return false;
	for (unsigned i = 0; i < a->n_ips; i++)
		if (!sy_addr_eq(&a->ips[i], &b->ips[i]))
			return false;
	for (unsigned i = 0; i < a->n_ports; i++)
		if (a->ports[i].name != b->ports[i].name || a->ports[i].proto != b->ports[i].proto ||
		    a->ports[i].port != b->ports[i].port)
			return false;
	return true;
}

bool namespace_same(const struct k8s_namespace *a, const struct k8s_namespace *b)
{
	return labels_same(&a->labels, &b->labels);
}

static int pod_add_ip(struct pod *p, const char *s, char *err, size_t errlen)
{
	struct sy_addr a;

	if (!s || sy_addr_parse(s, &a) < 0)
		FAIL("invalid status.podIPs entry \"%.64s\"", s ? s : "(not a string)");
	for (unsigned i = 0; i < p->n_ips; i++) {
		if (sy_addr_eq(&p->ips[i], &a))
			return 0;
		if (p->ips[i].family == a.family)
			FAIL("status.podIPs: more than one %s address", sy_family_name(a.family));
	}
	p->ips[p->n_ips++] = a;
	return 0;
fail:
	return -EINVAL;
}

int pod_decode(struct json_object *obj, struct pod **ret, char *err, size_t errlen)
{
	struct pod *p = xcalloc(1, sizeof(*p));
	struct json_object *md, *spec, *status, *v, *ctrs;
	const char *s;
	size_t nports = 0;
	int phase, n;

	p->meta.refcnt = 1;
	if (meta(obj, true, false, &p->meta.key, &p->ns, &p->meta.resource_version, err, errlen) < 0)
		goto fail_quiet;
	md = jget(obj, "metadata");
	spec = jget(obj, "spec");
	status = jget(obj, "status");
	if (labels_decode(jget(md, "labels"), &p->labels, err, errlen) < 0)
		goto fail_quiet;
	v = jget(spec, "nodeName");
	if (v && !jcleanstr(v))
		FAIL("spec.nodeName is not a string");
	s = jcleanstr(v);
	p->node = s && *s ? np_intern(s) : NULL;
	if (jbool(jget(spec, "hostNetwork"), false, &p->host_network) < 0)
		FAIL("spec.hostNetwork is not a boolean");

	if (decode_list(obj, "spec.containers", 0, &ctrs, err, errlen) < 0)
		goto fail_quiet;
	for (size_t i = 0; ctrs && i < json_object_array_length(ctrs); i++) {
		struct json_object *ports = jget(json_object_array_get_idx(ctrs, i), "ports");

		if (ports && !json_object_is_type(ports, json_type_array))
			FAIL("spec.containers[%zu].ports is not a list", i);
		nports += ports ? json_object_array_length(ports) : 0;
	}
	if (nports)
		p->ports = xcalloc(nports, sizeof(*p->ports));
	for (size_t i = 0; ctrs && i < json_object_array_length(ctrs); i++) {
		struct json_object *ports = jget(json_object_array_get_idx(ctrs, i), "ports");

		for (size_t k = 0; ports && k < json_object_array_length(ports); k++) {
			struct json_object *cp = json_object_array_get_idx(ports, k), *nv;
			struct pod_port pp = { 0 };
			long port;

			if (jint(jget(cp, "containerPort"), 1, 65535, 0, &port) < 0 || !port)
				FAIL("spec.containers[%zu].ports[%zu].containerPort: must be 1..65535", i, k);
			if (decode_proto(jget(cp, "protocol"), &pp.proto) < 0)
				FAIL("spec.containers[%zu].ports[%zu].protocol: must be TCP, UDP or SCTP", i, k);
			nv = jget(cp, "name");
			if (!nv)
				continue;
			s = jcleanstr(nv);
			if (!s || !iana_svc_name(s))
				FAIL("spec.containers[%zu].ports[%zu].name: not a valid port name (IANA_SVC_NAME)",
				     i, k);
			pp.name = np_intern(s);
			pp.port = (uint16_t)port;
			p->ports[p->n_ports++] = pp;
		}
	}

	n = decode_list(obj, "status.podIPs", 2, &v, err, errlen);
	if (n < 0)
		goto fail_quiet;
	if (n) {
		for (size_t i = 0; i < (size_t)n; i++)
			if (pod_add_ip(p, jcleanstr(jget(json_object_array_get_idx(v, i), "ip")), err,
				       errlen) < 0)
				goto fail_quiet;
	} else if (jget(status, "podIP")) {
		s = jcleanstr(jget(status, "podIP"));
		if (!s || (*s && pod_add_ip(p, s, err, errlen) < 0)) {
			if (!s)
				FAIL("status.podIP is not a string");
			goto fail_quiet;
		}
	}
	/* in enum pod_phase's order; absent: Unknown */
	if (decode_enum(jget(status, "phase"), "status.phase", (const char *const[]){ "Unknown",
			"Pending", "Running", "Succeeded", "Failed" }, 5, &phase, err, errlen) < 0)
		goto fail;
	p->phase = (enum pod_phase)phase;
	*ret = p;
	return 0;
fail:
fail_quiet:
	pod_unref(p);
	return -EINVAL;
}

/* ---- Namespace ---- */

#define NS_NAME_LABEL "kubernetes.io/metadata.name"

int namespace_decode(struct json_object *obj, struct k8s_namespace **ret, char *err, size_t errlen)
{
	struct k8s_namespace *n = xcalloc(1, sizeof(*n));
	const char *lk = np_intern(NS_NAME_LABEL);
	struct np_label *lv;
	unsigned i;

	n->meta.refcnt = 1;
	if (meta(obj, false, true, &n->meta.key, &n->name, &n->meta.resource_version, err,
		 errlen) < 0)
		goto fail;
	if (labels_decode(jget(jget(obj, "metadata"), "labels"), &n->labels, err, errlen) < 0)
		goto fail;
	/* The API server sets kubernetes.io/metadata.name to the name (and keeps it so). */
	for (i = 0; i < n->labels.n; i++)
		if (n->labels.v[i].key == lk)
			break;
	if (i < n->labels.n) {
		n->labels.v[i].value = n->name;
	} else {
		lv = xrealloc(n->labels.v, (n->labels.n + 1) * sizeof(*lv));
		lv[n->labels.n].key = lk;
		lv[n->labels.n].value = n->name;
		n->labels.v = lv;
		n->labels.n++;
		qsort(lv, n->labels.n, sizeof(*lv), label_cmp);
	}
	*ret = n;
	return 0;
fail:
	namespace_unref(n);
	return -EINVAL;
}

/* ---- NetworkPolicy ---- */

static int ipblock_decode(struct json_object *o, const char *what, struct np_ipblock *b, char *err,
			  size_t errlen)
{
	struct json_object *ex = jget(o, "except");
	const char *s = jcleanstr(jget(o, "cidr"));

	if (!json_object_is_type(o, json_type_object))
		FAIL("%s.ipBlock is not an object", what);
	if (!s || !*s)
		FAIL("%s.ipBlock.cidr: required", what);
	if (sy_cidr_parse(s, &b->cidr) < 0 || !strchr(s, '/'))
		FAIL("%s.ipBlock.cidr: invalid CIDR \"%.64s\"", what, s);
	if (ex && !json_object_is_type(ex, json_type_array))
		FAIL("%s.ipBlock.except is not a list", what);
	if (ex && json_object_array_length(ex))
		b->except = xcalloc(json_object_array_length(ex), sizeof(*b->except));
	for (size_t i = 0; ex && i < json_object_array_length(ex); i++) {
		struct sy_cidr *c = &b->except[b->n_except];

		s = jcleanstr(json_object_array_get_idx(ex, i));
		if (!s || !strchr(s, '/') || sy_cidr_parse(s, c) < 0)
			FAIL("%s.ipBlock.except[%zu]: invalid CIDR \"%.64s\"", what, i, s ? s : "");
		b->n_except++;
		/* The API server: each except must be a strict subset of cidr. */
		if (c->addr.family != b->cidr.addr.family || c->plen <= b->cidr.plen ||
		    !sy_cidr_contains(&b->cidr, &c->addr))
			FAIL("%s.ipBlock.except[%zu]: \"%.64s\" must be a strict subset of `cidr`", what,
			     i, s);
	}
	return 0;
fail:
	return -EINVAL;
}

static int rule_decode(struct json_object *o, enum np_dir dir, size_t idx, struct np_rule *r,
		       char *err, size_t errlen)
{
	const char *dname = dir == NP_INGRESS ? "ingress" : "egress";
	const char *pname = dir == NP_INGRESS ? "from" : "to";
	struct json_object *peers = jget(o, pname), *ports = jget(o, "ports");
	char what[96];
	size_t n;

	if (!json_object_is_type(o, json_type_object))
		FAIL("spec.%s[%zu] is not an object", dname, idx);
	if (peers && !json_object_is_type(peers, json_type_array))
		FAIL("spec.%s[%zu].%s is not a list", dname, idx, pname);
	if (ports && !json_object_is_type(ports, json_type_array))
		FAIL("spec.%s[%zu].ports is not a list", dname, idx);
	n = peers ? json_object_array_length(peers) : 0;
	r->all_peers = !n;
	if (n) {
		r->peers = xcalloc(n, sizeof(*r->peers));
		r->ipblocks = xcalloc(n, sizeof(*r->ipblocks));
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *pe = json_object_array_get_idx(peers, i);
		struct json_object *ps = jget(pe, "podSelector"), *ns = jget(pe, "namespaceSelector");
		struct json_object *ib = jget(pe, "ipBlock");
		struct np_peer *p = &r->peers[r->n_peers];

		snprintf(what, sizeof(what), "spec.%s[%zu].%s[%zu]", dname, idx, pname, i);
		if (!json_object_is_type(pe, json_type_object))
			FAIL("%s is not an object", what);
		r->n_peers++;
		if (!ps && !ns && !ib)
			FAIL("%s: must specify a peer", what);
		if (ib && (ps || ns))
			FAIL("%s: may not specify more than 1 peer (ipBlock with a selector)", what);
		if (ib) {
			if (ipblock_decode(ib, what, &p->ipblock, err, errlen) < 0)
				goto fail;
			r->ipblocks[r->n_ipblocks++] = p->ipblock;
			continue;
		}
		p->has_pod_sel = ps != NULL;
		p->has_ns_sel = ns != NULL;
		r->has_selector_peers = true;
		if (ps) {
			char w[120];

			snprintf(w, sizeof(w), "%s.podSelector", what);
			if (selector_decode(ps, w, &p->pod_sel, err, errlen) < 0)
				goto fail;
		}
		if (ns) {
			char w[120];

			snprintf(w, sizeof(w), "%s.namespaceSelector", what);
			if (selector_decode(ns, w, &p->ns_sel, err, errlen) < 0)
				goto fail;
		}
	}
	n = ports ? json_object_array_length(ports) : 0;
	r->all_ports = !n;
	if (n)
		r->ports = xcalloc(n, sizeof(*r->ports));
	for (size_t i = 0; i < n; i++) {
		struct json_object *po = json_object_array_get_idx(ports, i);
		struct json_object *pv = jget(po, "port"), *ev = jget(po, "endPort");
		struct np_port *p = &r->ports[r->n_ports];
		long v;

		snprintf(what, sizeof(what), "spec.%s[%zu].ports[%zu]", dname, idx, i);
		if (!json_object_is_type(po, json_type_object))
			FAIL("%s is not an object", what);
		if (decode_proto(jget(po, "protocol"), &p->proto) < 0)
			FAIL("%s.protocol: must be TCP, UDP or SCTP", what);
		if (pv && json_object_is_type(pv, json_type_string)) {
			const char *s = jcleanstr(pv);

			if (!s || !iana_svc_name(s))
				FAIL("%s.port: \"%.32s\" is not a valid port name (IANA_SVC_NAME)", what,
				     s ? s : "");
			p->name = np_intern(s);
			r->has_named_ports = true;
		} else if (pv) {
			if (jint(pv, 1, 65535, 0, &v) < 0)
				FAIL("%s.port: must be between 1 and 65535, inclusive", what);
			p->port = (uint16_t)v;
		}
		if (ev) {
			if (jint(ev, 1, 65535, 0, &v) < 0)
				FAIL("%s.endPort: must be between 1 and 65535, inclusive", what);
			if (!pv)
				FAIL("%s.endPort: may not be specified when `port` is not specified", what);
			if (p->name)
				FAIL("%s.endPort: may not be specified when `port` is non-numeric", what);
			if (v < p->port)
				FAIL("%s.endPort: must be greater than or equal to `port`", what);
			p->end_port = (uint16_t)v;
		}
		r->n_ports++;
	}
	return 0;
fail:
	return -EINVAL;
}

int netpolicy_decode(struct json_object *obj, struct netpolicy **ret, char *err, size_t errlen)
{
	struct netpolicy *np = xcalloc(1, sizeof(*np));
	struct json_object *spec, *pt;
	int n;

	np->meta.refcnt = 1;
	if (meta(obj, true, false, &np->meta.key, &np->ns, &np->meta.resource_version, err,
		 errlen) < 0)
		goto fail;
	np->name = np->meta.key + strlen(np->ns) + 1;
	spec = jget(obj, "spec");
	if (spec && !json_object_is_type(spec, json_type_object))
		FAIL("spec is not an object");
	if (selector_decode(jget(spec, "podSelector"), "spec.podSelector", &np->pod_sel, err,
			    errlen) < 0)
		goto fail;
	for (int d = 0; d < 2; d++) {
		struct json_object *list;

		n = decode_list(obj, d == NP_INGRESS ? "spec.ingress" : "spec.egress", 0, &list, err,
				errlen);
		if (n < 0)
			goto fail;
		if (n)
			np->rules[d] = xcalloc((size_t)n, sizeof(*np->rules[d]));
		for (size_t i = 0; i < (size_t)n; i++) {
			np->n_rules[d]++;
			if (rule_decode(json_object_array_get_idx(list, i), (enum np_dir)d, i,
					&np->rules[d][i], err, errlen) < 0)
				goto fail;
		}
	}
	n = decode_list(obj, "spec.policyTypes", 2, &pt, err, errlen);
	if (n < 0)
		goto fail;
	if (n) {
		for (size_t i = 0; i < (size_t)n; i++) {
			const char *s = jstr(json_object_array_get_idx(pt, i));

			if (s && !strcmp(s, "Ingress") && !np->ingress)
				np->ingress = true;
			else if (s && !strcmp(s, "Egress") && !np->egress)
				np->egress = true;
			else
				FAIL("spec.policyTypes[%zu]: must be \"Ingress\" or \"Egress\", once each", i);
		}
	} else {
		/* The API server's default: Ingress, and Egress when spec.egress is non-empty. */
		np->ingress = true;
		np->egress = np->n_rules[NP_EGRESS] > 0;
	}
	*ret = np;
	return 0;
fail:
	netpolicy_unref(np);
	return -EINVAL;
}

/* ---- ipBlock ranges ---- */

static void addr_set_bits(struct sy_addr *a, unsigned plen, bool ones)
{
	unsigned bits = sy_addr_bits(a);

	for (unsigned i = plen; i < bits; i++) {
		uint8_t m = (uint8_t)(0x80 >> (i % 8));

		if (ones)
			a->b[i / 8] |= m;
		else
			a->b[i / 8] &= (uint8_t)~m;
	}
}

/* a + delta (±1) within the family; false on wrap. */
static bool addr_step(struct sy_addr *a, int delta)
{
	for (int i = (int)sy_addr_len(a) - 1; i >= 0; i--) {
		if (delta > 0) {
			if (++a->b[i])
				return true;
		} else {
			if (a->b[i]--)
				return true;
		}
	}
	return false;
}

static int range_cmp(const void *x, const void *y)
{
	const struct np_range *a = x, *b = y;

	return sy_addr_cmp(&a->lo, &b->lo);
}

/* v[0..cnt) sorted and merged where they overlap or touch; the new count. */
static size_t ranges_union(struct np_range *v, size_t cnt)
{
	size_t o = 0;

	if (cnt < 2)
		return cnt;
	qsort(v, cnt, sizeof(*v), range_cmp);
	for (size_t i = 1; i < cnt; i++) {
		struct sy_addr next = v[o].hi;
		bool wrap = !addr_step(&next, 1);

		if (wrap || sy_addr_cmp(&v[i].lo, &next) <= 0) {
			if (sy_addr_cmp(&v[i].hi, &v[o].hi) > 0)
				v[o].hi = v[i].hi;
		} else {
			v[++o] = v[i];
		}
	}
	return o + 1;
}

void np_rule_ranges(const struct np_rule *r, int family, struct np_range **ret, unsigned *n)
{
	struct np_range *v = NULL;
	size_t cnt = 0, cap = 0;

	for (unsigned i = 0; i < r->n_ipblocks; i++) {
		const struct np_ipblock *b = &r->ipblocks[i];
		struct np_range *ex;
		size_t nex = 0;
		struct sy_addr cur, hi;

		if (b->cidr.addr.family != family)
			continue;
		ex = xcalloc(b->n_except + 1, sizeof(*ex));
		for (unsigned k = 0; k < b->n_except; k++) {
			ex[nex].lo = ex[nex].hi = b->except[k].addr;
			addr_set_bits(&ex[nex].hi, b->except[k].plen, true);
			nex++;
		}
		qsort(ex, nex, sizeof(*ex), range_cmp);
		cur = b->cidr.addr;
		hi = b->cidr.addr;
		addr_set_bits(&hi, b->cidr.plen, true);
		/* walk [cur, hi] skipping the (sorted, possibly overlapping) excepts */
		bool done = false;

		for (size_t k = 0; k <= nex && !done; k++) {
			struct sy_addr end;

			if (k < nex && sy_addr_cmp(&ex[k].hi, &cur) < 0)
				continue;	/* already past it */
			if (k < nex && sy_addr_cmp(&ex[k].lo, &cur) > 0) {
				end = ex[k].lo;
				addr_step(&end, -1);
			} else if (k < nex) {
				end = cur;	/* except starts at or before cur: no gap */
				end.family = 0;
			} else {
				end = hi;
			}
			if (end.family) {
				if (cnt == cap)
					v = xrealloc(v, (cap = cap ? cap * 2 : 8) * sizeof(*v));
				v[cnt].lo = cur;
				v[cnt].hi = end;
				cnt++;
			}
			if (k < nex) {
				cur = ex[k].hi;
				if (!addr_step(&cur, 1) || sy_addr_cmp(&cur, &hi) > 0)
					done = true;
			}
		}
		free(ex);
	}
	*ret = v;
	*n = (unsigned)ranges_union(v, cnt);
}

void np_rule_excepted(const struct np_rule *r, int family, struct np_range **cidrs, unsigned *nc,
		      struct np_range **excepted, unsigned *ne)
{
	struct np_range *c = NULL, *a = NULL, *e = NULL;
	size_t cnt = 0, ecnt = 0, ecap = 0;
	unsigned na = 0, j = 0;

	for (unsigned i = 0; i < r->n_ipblocks; i++) {
		const struct np_ipblock *b = &r->ipblocks[i];

		if (b->cidr.addr.family != family)
			continue;
		c = xrealloc(c, (cnt + 1) * sizeof(*c));
		c[cnt].lo = c[cnt].hi = b->cidr.addr;
		addr_set_bits(&c[cnt].hi, b->cidr.plen, true);
		cnt++;
	}
	cnt = ranges_union(c, cnt);
	np_rule_ranges(r, family, &a, &na);
	/* C minus A; A is inside C, each of its ranges inside one of C's */
	for (size_t i = 0; i < cnt; i++) {
		struct sy_addr cur = c[i].lo;
		bool done = false;

		for (; j < na && sy_addr_cmp(&a[j].lo, &c[i].hi) <= 0 && !done; j++) {
			if (sy_addr_cmp(&a[j].lo, &cur) > 0) {
				if (ecnt == ecap)
					e = xrealloc(e, (ecap = ecap ? ecap * 2 : 4) * sizeof(*e));
				e[ecnt].lo = cur;
				e[ecnt].hi = a[j].lo;
				addr_step(&e[ecnt].hi, -1);
				ecnt++;
			}
			cur = a[j].hi;
			done = !addr_step(&cur, 1) || sy_addr_cmp(&cur, &c[i].hi) > 0;
		}
		if (!done) {
			if (ecnt == ecap)
				e = xrealloc(e, (ecap = ecap ? ecap * 2 : 4) * sizeof(*e));
			e[ecnt].lo = cur;
			e[ecnt].hi = c[i].hi;
			ecnt++;
		}
	}
	free(a);
	*cidrs = c;
	*nc = (unsigned)cnt;
	*excepted = e;
	*ne = (unsigned)ecnt;
}
