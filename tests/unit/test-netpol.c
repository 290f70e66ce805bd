// SPDX-License-Identifier: Apache-2.0
/*
 * The NetworkPolicy planner: upstream's semantics cases on the x/y/z ×
 * a/b/c model, judged the way the kernel side evaluates the state
 * (netpol.h), and incremental == from scratch after random event
 * sequences, with a mirror of the kernel fed only the changes and deltas.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "helpers.h"
#include "switchyard/hmap.h"
#include "switchyard/model.h"
#include "switchyard/netpol.h"
#include "switchyard/util.h"

static struct pod *mkpod(const char *json)
{
	struct json_object *o = J(json);
	struct pod *p = NULL;
	char err[256] = "";

	if (pod_decode(o, &p, err, sizeof(err)) < 0)
		fail_msg("pod_decode: %s: %s", err, json);
	json_object_put(o);
	return p;
}

static struct k8s_namespace *mkns(const char *json)
{
	struct json_object *o = J(json);
	struct k8s_namespace *n = NULL;
	char err[256] = "";

	if (namespace_decode(o, &n, err, sizeof(err)) < 0)
		fail_msg("namespace_decode: %s: %s", err, json);
	json_object_put(o);
	return n;
}

static struct netpolicy *mknp(const char *json)
{
	struct json_object *o = J(json);
	struct netpolicy *np = NULL;
	char err[256] = "";

	if (netpolicy_decode(o, &np, err, sizeof(err)) < 0)
		fail_msg("netpolicy_decode: %s: %s", err, json);
	json_object_put(o);
	return np;
}

static void ev_pod(struct policy_state *ps, struct pod *p)
{
	netpol_pod_event(ps, p->meta.key, p);
	pod_unref(p);
}

static void ev_ns(struct policy_state *ps, struct k8s_namespace *n)
{
	netpol_namespace_event(ps, n->meta.key, n);
	namespace_unref(n);
}

static void ev_np(struct policy_state *ps, struct netpolicy *np)
{
	netpol_policy_event(ps, np->meta.key, np);
	netpolicy_unref(np);
}

/* ---- the kernel side's evaluation, as netpol.h defines it ---- */

static struct np_set_ref R(uint32_t id, enum np_set_kind k, int dir, unsigned rule)
{
	return np_set_ref_of(id, k, dir, rule);
}

static bool has(const struct policy_state *ps, struct np_set_ref r, const struct sy_addr *a,
		uint8_t proto, uint16_t port)
{
	struct np_elem e;

	memset(&e, 0, sizeof(e));
	e.addr = *a;
	e.proto = proto;
	e.port = port;
	return netpol_set_has(ps, r, &e);
}

static bool in_ranges(const struct np_rule *r, const struct sy_addr *x)
{
	struct np_range *v;
	unsigned n;
	bool in = false;

	np_rule_ranges(r, x->family, &v, &n);
	for (unsigned i = 0; i < n && !in; i++)
		in = sy_addr_cmp(&v[i].lo, x) <= 0 && sy_addr_cmp(x, &v[i].hi) <= 0;
	free(v);
	return in;
}

static bool rule_ok(const struct policy_state *ps, uint32_t id, int dir, unsigned ri,
		    const struct np_rule *r, const struct sy_addr *peer, const struct sy_addr *dst,
		    uint8_t proto, uint16_t port)
{
	bool peer_ok = r->all_peers || has(ps, R(id, NP_SET_PEERS, dir, ri), peer, 0, 0) ||
		       in_ranges(r, peer);
	bool port_ok = r->all_ports;

	for (unsigned k = 0; k < r->n_ports && !port_ok; k++) {
		const struct np_port *p = &r->ports[k];

		port_ok = !p->name && p->proto == proto &&
			  (!p->port || (p->port <= port && port <= (p->end_port > p->port ? p->end_port : p->port)));
	}
	if (!port_ok)
		port_ok = has(ps, R(id, NP_SET_NAMED, dir, ri), dst, proto, port);
	return peer_ok && port_ok;
}

struct judge {
	const struct policy_state *ps;
	int dir;
	const struct sy_addr *self, *other, *dst;
	uint8_t proto;
	uint16_t port;
	bool ok;
};

static void judge_policy(void *arg, const struct np_policy *p)
{
	struct judge *j = arg;
	const struct netpolicy *np = p->np;

	if (j->ok || !(j->dir == NP_INGRESS ? np->ingress : np->egress) ||
	    !has(j->ps, R(p->id, NP_SET_TARGETS, 0, 0), j->self, 0, 0))
		return;
	for (unsigned r = 0; r < np->n_rules[j->dir] && !j->ok; r++)
		j->ok = rule_ok(j->ps, p->id, j->dir, r, &np->rules[j->dir][r], j->other, j->dst,
				j->proto, j->port);
}

/* Would the kernel let src reach dst:port/proto (both directions, enforced where local)? */
static bool allowed(const struct policy_state *ps, const struct sy_addr *src,
		    const struct sy_addr *dst, uint8_t proto, uint16_t port)
{
	struct judge j = { ps, NP_EGRESS, src, dst, dst, proto, port, false };

	if (has(ps, R(0, NP_SET_LOCAL, 0, 0), src, 0, 0) &&
	    has(ps, R(0, NP_SET_ISOLATED_EG, 0, 0), src, 0, 0)) {
		netpol_policy_foreach(ps, judge_policy, &j);
		if (!j.ok)
			return false;
	}
	if (has(ps, R(0, NP_SET_LOCAL, 0, 0), dst, 0, 0) &&
	    has(ps, R(0, NP_SET_ISOLATED_IN, 0, 0), dst, 0, 0)) {
		j = (struct judge){ ps, NP_INGRESS, dst, src, dst, proto, port, false };
		netpol_policy_foreach(ps, judge_policy, &j);
		if (!j.ok)
			return false;
	}
	return true;
}

/* ---- the upstream model: namespaces x, y, z; pods a, b, c ---- */

static const char *const NSS[] = { "x", "y", "z" };
static const char *const PODS[] = { "a", "b", "c" };

/*
 * The family probed (model_ip's), and whether the pods are dual-stack:
 * 10.244.<ns>.<pod> and fd00:244:<ns>::<pod> (1-based).
 */
static int probe_fam = AF_INET;
static bool model_dual;

static struct sy_addr model_ip_fam(int ns, int pod, int fam)
{
	struct sy_addr a = sy_addr4_host(0x0af40000u | (uint32_t)(ns + 1) << 8 | (uint32_t)(pod + 1));

	if (fam == AF_INET6) {
		char buf[64];
		snprintf(buf, sizeof(buf), "fd00:244:%d::%d", ns + 1, pod + 1);
		assert_int_equal(sy_addr_parse(buf, &a), 0);
	}
	return a;
}

static struct sy_addr model_ip(int ns, int pod)
{
	return model_ip_fam(ns, pod, probe_fam);
}

#define AGNHOST_PORTS \
	"[{\"name\":\"serve-80-tcp\",\"containerPort\":80},{\"name\":\"serve-81-tcp\",\"containerPort\":81}," \
	"{\"name\":\"serve-80-udp\",\"containerPort\":80,\"protocol\":\"UDP\"}," \
	"{\"name\":\"serve-81-udp\",\"containerPort\":81,\"protocol\":\"UDP\"}," \
	"{\"name\":\"serve-80-sctp\",\"containerPort\":80,\"protocol\":\"SCTP\"}," \
	"{\"name\":\"serve-81-sctp\",\"containerPort\":81,\"protocol\":\"SCTP\"}]"

/* The 9 pods on node n1 (local), Namespace objects for x and y only (z: unknown, default label). */
static struct policy_state *model(void)
{
	struct policy_state *ps = netpol_new("n1");
	char buf[1024];

	for (int n = 0; n < 3; n++) {
		if (n < 2) {
			snprintf(buf, sizeof(buf), "{\"metadata\":{\"name\":\"%s\",\"labels\":{\"ns\":\"%s\"}}}",
				 NSS[n], NSS[n]);
			ev_ns(ps, mkns(buf));
		}
		for (int p = 0; p < 3; p++) {
			struct sy_addr ip = model_ip_fam(n, p, AF_INET), ip6 = model_ip_fam(n, p, AF_INET6);
			char ips[128], s4[SY_ADDR_STRLEN];

			snprintf(s4, sizeof(s4), "%s", sy_addr_str(&ip));
			if (model_dual)
				snprintf(ips, sizeof(ips), "[{\"ip\":\"%s\"},{\"ip\":\"%s\"}]", s4,
					 sy_addr_str(&ip6));
			else
				snprintf(ips, sizeof(ips), "[{\"ip\":\"%s\"}]", s4);
			snprintf(buf, sizeof(buf),
				 "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\",\"labels\":{\"pod\":\"%s\"}},"
				 "\"spec\":{\"nodeName\":\"n1\",\"containers\":[{\"name\":\"c\",\"ports\":"
				 AGNHOST_PORTS "}]},"
				 "\"status\":{\"phase\":\"Running\",\"podIP\":\"%s\",\"podIPs\":%s}}",
				 PODS[p], NSS[n], PODS[p], s4, ips);
			ev_pod(ps, mkpod(buf));
		}
	}
	return ps;
}

typedef bool (*expect_fn)(int fn, int fp, int tn, int tp);

/* Probe all 81 pairs; print the first mismatches. */
static void probe(const struct policy_state *ps, const char *name, uint8_t proto, uint16_t port,
		  expect_fn want)
{
	int bad = 0;

	for (int fn = 0; fn < 3; fn++)
		for (int fp = 0; fp < 3; fp++)
			for (int tn = 0; tn < 3; tn++)
				for (int tp = 0; tp < 3; tp++) {
					struct sy_addr s = model_ip(fn, fp), d = model_ip(tn, tp);
					bool got = allowed(ps, &s, &d, proto, port);

					if (fn == tn && fp == tp)
						continue;	/* loopback is ignored (upstream #95879) */
					if (got != want(fn, fp, tn, tp)) {
						if (bad++ < 5)
							print_error("%s %u/%u: %s/%s -> %s/%s: got %s\n", name,
								    port, proto, NSS[fn], PODS[fp], NSS[tn],
								    PODS[tp], got ? "allowed" : "denied");
					}
				}
	if (bad)
		fail_msg("%s: %d wrong cells", name, bad);
}

#define NPX(name, spec) \
	"{\"metadata\":{\"name\":\"" name "\",\"namespace\":\"x\"},\"spec\":" spec "}"

static bool all(int fn, int fp, int tn, int tp) { (void)fn; (void)fp; (void)tn; (void)tp; return true; }
static bool none_to_x(int fn, int fp, int tn, int tp) { (void)fn; (void)fp; (void)tp; return tn != 0; }
static bool to_xa_only(int fn, int fp, int tn, int tp, bool from_ok)
{
	(void)fn; (void)fp;
	return !(tn == 0 && tp == 0) || from_ok;
}
static bool xa_from_xb(int fn, int fp, int tn, int tp) { return to_xa_only(fn, fp, tn, tp, fn == 0 && fp == 1); }
static bool xa_from_y(int fn, int fp, int tn, int tp) { return to_xa_only(fn, fp, tn, tp, fn == 1); }
static bool xa_from_yb(int fn, int fp, int tn, int tp) { return to_xa_only(fn, fp, tn, tp, fn == 1 && fp == 1); }
static bool xa_from_y_or_b(int fn, int fp, int tn, int tp)
{
	return to_xa_only(fn, fp, tn, tp, fn == 1 || (fn == 0 && fp == 1));
}
static bool xa_from_not_x(int fn, int fp, int tn, int tp) { return to_xa_only(fn, fp, tn, tp, fn != 0); }
static bool xa_from_z(int fn, int fp, int tn, int tp) { return to_xa_only(fn, fp, tn, tp, fn == 2); }
static bool xa_none(int fn, int fp, int tn, int tp) { return to_xa_only(fn, fp, tn, tp, false); }
static bool xa_from_xb_or_yc(int fn, int fp, int tn, int tp)
{
	return to_xa_only(fn, fp, tn, tp, (fn == 0 && fp == 1) || (fn == 1 && fp == 2));
}
static bool xa_from_y_not_b(int fn, int fp, int tn, int tp) { return to_xa_only(fn, fp, tn, tp, fn == 1 && fp != 1); }
/* egress from x/a only to x/b */
static bool xa_to_xb(int fn, int fp, int tn, int tp) { return !(fn == 0 && fp == 0) || (tn == 0 && tp == 1); }
static bool xa_to_y(int fn, int fp, int tn, int tp) { return !(fn == 0 && fp == 0) || tn == 1; }
static bool xa_isolated_both(int fn, int fp, int tn, int tp)
{
	return !(fn == 0 && fp == 0) && !(tn == 0 && tp == 0);
}
static bool xa_isolated_both_egress_only(int fn, int fp, int tn, int tp)
{
	(void)tn; (void)tp;
	return !(fn == 0 && fp == 0);
}
static bool xa_to_xb_in_none(int fn, int fp, int tn, int tp)
{
	/* x/a: ingress denied, egress only to x/b */
	if (tn == 0 && tp == 0)
		return false;
	return xa_to_xb(fn, fp, tn, tp);
}

static void run_case(const char *name, const char *const *policies, unsigned n,
		     uint8_t proto, uint16_t port, expect_fn want)
{
	struct policy_state *ps = model();

	for (unsigned i = 0; i < n; i++)
		ev_np(ps, mknp(policies[i]));
	probe(ps, name, proto, port, want);
	netpol_free(ps);
}

#define CASE(name, proto, port, want, ...) do { \
		const char *const pols_[] = { __VA_ARGS__ }; \
		run_case(name, pols_, sizeof(pols_) / sizeof(pols_[0]), proto, port, want); \
	} while (0)

#define XA "\"podSelector\":{\"matchLabels\":{\"pod\":\"a\"}}"

/* Every case, probed in probe_fam (IPv4 ipBlocks admit no IPv6 peer). */
static void semantics(void)
{
	bool v4 = probe_fam == AF_INET;

	run_case("no policy", NULL, 0, IPPROTO_TCP, 80, all);
	CASE("default-deny-ingress", IPPROTO_TCP, 80, none_to_x, NPX("d", "{\"podSelector\":{}}"));
	CASE("default-deny ingress: []", IPPROTO_TCP, 80, none_to_x,
	     NPX("d", "{\"podSelector\":{},\"ingress\":[]}"));
	CASE("allow-all ingress [{}]", IPPROTO_TCP, 80, all,
	     NPX("d", "{\"podSelector\":{},\"ingress\":[{}]}"));
	CASE("allow-all from: []", IPPROTO_TCP, 80, all,
	     NPX("d", "{\"podSelector\":{},\"ingress\":[{\"from\":[],\"ports\":[]}]}"));
	CASE("allow-all precedence (stacked with deny)", IPPROTO_TCP, 80, all,
	     NPX("d", "{\"podSelector\":{}}"), NPX("e", "{\"podSelector\":{},\"ingress\":[{}]}"));
	CASE("podSelector peer = same namespace", IPPROTO_TCP, 80, xa_from_xb,
	     NPX("p", "{" XA ",\"ingress\":[{\"from\":[{\"podSelector\":{\"matchLabels\":{\"pod\":\"b\"}}}]}]}"));
	CASE("namespaceSelector alone = all pods there", IPPROTO_TCP, 80, xa_from_y,
	     NPX("p", "{" XA ",\"ingress\":[{\"from\":[{\"namespaceSelector\":{\"matchLabels\":{\"ns\":\"y\"}}}]}]}"));
	CASE("podSelector AND namespaceSelector", IPPROTO_TCP, 80, xa_from_yb,
	     NPX("p", "{" XA ",\"ingress\":[{\"from\":[{\"namespaceSelector\":{\"matchExpressions\":"
		 "[{\"key\":\"ns\",\"operator\":\"In\",\"values\":[\"y\"]}]},"
		 "\"podSelector\":{\"matchLabels\":{\"pod\":\"b\"}}}]}]}"));
	CASE("podSelector OR namespaceSelector", IPPROTO_TCP, 80, xa_from_y_or_b,
	     NPX("p", "{" XA ",\"ingress\":[{\"from\":[{\"namespaceSelector\":{\"matchLabels\":{\"ns\":\"y\"}}},"
		 "{\"podSelector\":{\"matchLabels\":{\"pod\":\"b\"}}}]}]}"));
	CASE("only from a different namespace (NotIn)", IPPROTO_TCP, 80, xa_from_not_x,
	     NPX("p", "{" XA ",\"ingress\":[{\"from\":[{\"namespaceSelector\":{\"matchExpressions\":"
		 "[{\"key\":\"kubernetes.io/metadata.name\",\"operator\":\"NotIn\",\"values\":[\"x\"]}]}}]}]}"));
	/* z has no Namespace object and no ns label: only the default label selects it */
	CASE("default namespace label, matchLabels", IPPROTO_TCP, 80, xa_from_z,
	     NPX("p", "{" XA ",\"ingress\":[{\"from\":[{\"namespaceSelector\":{\"matchLabels\":"
		 "{\"kubernetes.io/metadata.name\":\"z\"}}}]}]}"));
	CASE("matchExpressions DoesNotExist", IPPROTO_TCP, 80, xa_from_z,
	     NPX("p", "{" XA ",\"ingress\":[{\"from\":[{\"namespaceSelector\":{\"matchExpressions\":"
		 "[{\"key\":\"ns\",\"operator\":\"DoesNotExist\"}]}}]}]}"));
	CASE("pod matchExpressions NotIn within y", IPPROTO_TCP, 80, xa_from_y_not_b,
	     NPX("p", "{" XA ",\"ingress\":[{\"from\":[{\"namespaceSelector\":{\"matchLabels\":{\"ns\":\"y\"}},"
		 "\"podSelector\":{\"matchExpressions\":[{\"key\":\"pod\",\"operator\":\"NotIn\",\"values\":[\"b\"]}]}}]}]}"));
	CASE("stacked policies: union", IPPROTO_TCP, 80, xa_from_xb_or_yc,
	     NPX("p", "{" XA ",\"ingress\":[{\"from\":[{\"podSelector\":{\"matchLabels\":{\"pod\":\"b\"}}}]}]}"),
	     NPX("q", "{" XA ",\"ingress\":[{\"from\":[{\"namespaceSelector\":{\"matchLabels\":{\"ns\":\"y\"}},"
		 "\"podSelector\":{\"matchLabels\":{\"pod\":\"c\"}}}]}]}"));
	/* ports */
	CASE("port 81 only: 80 denied", IPPROTO_TCP, 80, xa_none,
	     NPX("p", "{" XA ",\"ingress\":[{\"ports\":[{\"port\":81}]}]}"));
	CASE("port 81 only: 81 allowed", IPPROTO_TCP, 81, all,
	     NPX("p", "{" XA ",\"ingress\":[{\"ports\":[{\"port\":81}]}]}"));
	CASE("UDP 81 allowed is not TCP 81", IPPROTO_TCP, 81, xa_none,
	     NPX("p", "{" XA ",\"ingress\":[{\"ports\":[{\"port\":81,\"protocol\":\"UDP\"}]}]}"));
	CASE("SCTP only: TCP denied", IPPROTO_TCP, 80, xa_none,
	     NPX("p", "{" XA ",\"ingress\":[{\"ports\":[{\"protocol\":\"SCTP\"}]}]}"));
	CASE("SCTP only: SCTP allowed", IPPROTO_SCTP, 80, all,
	     NPX("p", "{" XA ",\"ingress\":[{\"ports\":[{\"protocol\":\"SCTP\"}]}]}"));
	CASE("TCP 80 allowed: SCTP 80 denied", IPPROTO_SCTP, 80, xa_none,
	     NPX("p", "{" XA ",\"ingress\":[{\"ports\":[{\"port\":80}]}]}"));
	CASE("named port: 80/tcp", IPPROTO_TCP, 80, all,
	     NPX("p", "{" XA ",\"ingress\":[{\"ports\":[{\"port\":\"serve-80-tcp\"}]}]}"));
	CASE("named port: 81 denied", IPPROTO_TCP, 81, xa_none,
	     NPX("p", "{" XA ",\"ingress\":[{\"ports\":[{\"port\":\"serve-80-tcp\"}]}]}"));
	CASE("named port with the wrong protocol resolves to nothing", IPPROTO_UDP, 80, xa_none,
	     NPX("p", "{" XA ",\"ingress\":[{\"ports\":[{\"port\":\"serve-80-tcp\",\"protocol\":\"UDP\"}]}]}"));
	CASE("named port with the wrong protocol: not the TCP port either", IPPROTO_TCP, 80, xa_none,
	     NPX("p", "{" XA ",\"ingress\":[{\"ports\":[{\"port\":\"serve-80-tcp\",\"protocol\":\"UDP\"}]}]}"));
	CASE("named port + namespace", IPPROTO_UDP, 81, xa_from_y,
	     NPX("p", "{" XA ",\"ingress\":[{\"from\":[{\"namespaceSelector\":{\"matchLabels\":{\"ns\":\"y\"}}}],"
		 "\"ports\":[{\"port\":\"serve-81-udp\",\"protocol\":\"UDP\"}]}]}"));
	CASE("endPort 80-81: 81 allowed", IPPROTO_TCP, 81, all,
	     NPX("p", "{" XA ",\"ingress\":[{\"ports\":[{\"port\":80,\"endPort\":81}]}]}"));
	CASE("endPort 79-80: 81 denied", IPPROTO_TCP, 81, xa_none,
	     NPX("p", "{" XA ",\"ingress\":[{\"ports\":[{\"port\":79,\"endPort\":80}]}]}"));
	/* egress */
	CASE("egress to podSelector", IPPROTO_TCP, 80, xa_to_xb,
	     NPX("e", "{" XA ",\"policyTypes\":[\"Egress\"],\"egress\":[{\"to\":[{\"podSelector\":{\"matchLabels\":{\"pod\":\"b\"}}}]}]}"));
	CASE("egress to a namespace, named port resolved on the destination", IPPROTO_TCP, 81, xa_to_y,
	     NPX("e", "{" XA ",\"policyTypes\":[\"Egress\"],\"egress\":[{\"to\":[{\"namespaceSelector\":{\"matchLabels\":{\"ns\":\"y\"}}}],"
		 "\"ports\":[{\"port\":\"serve-81-tcp\"}]}]}"));
	CASE("egress named port elsewhere denied", IPPROTO_TCP, 80, xa_isolated_both_egress_only,
	     NPX("e", "{" XA ",\"policyTypes\":[\"Egress\"],\"egress\":[{\"to\":[{\"namespaceSelector\":{\"matchLabels\":{\"ns\":\"y\"}}}],"
		 "\"ports\":[{\"port\":\"serve-81-tcp\"}]}]}"));
	CASE("policyTypes defaulting: egress present = Ingress + Egress", IPPROTO_TCP, 80, xa_to_xb_in_none,
	     NPX("e", "{" XA ",\"egress\":[{\"to\":[{\"podSelector\":{\"matchLabels\":{\"pod\":\"b\"}}}]}]}"));
	CASE("deny all both ways", IPPROTO_TCP, 80, xa_isolated_both,
	     NPX("e", "{" XA ",\"policyTypes\":[\"Ingress\",\"Egress\"]}"));
	CASE("client-side egress deny although the server allows", IPPROTO_TCP, 80, xa_isolated_both_egress_only,
	     NPX("e", "{" XA ",\"policyTypes\":[\"Egress\"]}"), NPX("f", "{\"podSelector\":{},\"ingress\":[{}]}"));
	/* ipBlock: y's pods are 10.244.2.1-3; except y/b */
	CASE("ipBlock with except", IPPROTO_TCP, 80, v4 ? xa_from_y_not_b : xa_none,
	     NPX("p", "{" XA ",\"ingress\":[{\"from\":[{\"ipBlock\":{\"cidr\":\"10.244.2.0/24\",\"except\":[\"10.244.2.2/32\"]}}]}]}"));
	CASE("IP in one block's except but another's cidr is allowed", IPPROTO_TCP, 80, v4 ? xa_from_y : xa_none,
	     NPX("p", "{" XA ",\"ingress\":[{\"from\":[{\"ipBlock\":{\"cidr\":\"10.244.2.0/24\",\"except\":[\"10.244.2.2/32\"]}},"
		 "{\"ipBlock\":{\"cidr\":\"10.244.2.2/31\"}}]}]}"));
	CASE("egress to a CIDR, named port on the pod inside", IPPROTO_TCP, 80,
	     v4 ? xa_to_y : xa_isolated_both_egress_only,
	     NPX("e", "{" XA ",\"policyTypes\":[\"Egress\"],\"egress\":[{\"to\":[{\"ipBlock\":{\"cidr\":\"10.244.2.0/24\"}}],"
		 "\"ports\":[{\"port\":\"serve-80-tcp\"}]}]}"));
	CASE("egress to all, named port", IPPROTO_TCP, 81, all,
	     NPX("e", "{" XA ",\"policyTypes\":[\"Egress\"],\"egress\":[{\"ports\":[{\"port\":\"serve-81-tcp\"}]}]}"));
}

static void test_semantics(void **state)
{
	(void)state;
	semantics();
}

/*
 * Dual-stack pods: every case again in each family (a pod is selected in
 * both), then IPv6 ipBlocks: they apply to IPv6 peers only, as an IPv4
 * block to IPv4 peers only.
 */
static void test_semantics_dual(void **state)
{
	(void)state;
	model_dual = true;
	for (int f = 0; f < 2; f++) {
		probe_fam = f ? AF_INET6 : AF_INET;
		semantics();
		/* y's pods are fd00:244:2::1-3; except y/b */
		CASE("IPv6 ipBlock with except", IPPROTO_TCP, 80, f ? xa_from_y_not_b : xa_none,
		     NPX("p", "{" XA ",\"ingress\":[{\"from\":[{\"ipBlock\":{\"cidr\":\"fd00:244:2::/64\","
			 "\"except\":[\"fd00:244:2::2/128\"]}}]}]}"));
		CASE("an ipBlock of each family", IPPROTO_TCP, 80, f ? xa_from_z : xa_from_y_not_b,
		     NPX("p", "{" XA ",\"ingress\":[{\"from\":[{\"ipBlock\":{\"cidr\":\"fd00:244:3::/64\"}},"
			 "{\"ipBlock\":{\"cidr\":\"10.244.2.0/24\",\"except\":[\"10.244.2.2/32\"]}}]}]}"));
		CASE("IPv6 ipBlock egress, named port on the pod inside", IPPROTO_TCP, 80,
		     f ? xa_to_y : xa_isolated_both_egress_only,
		     NPX("e", "{" XA ",\"policyTypes\":[\"Egress\"],\"egress\":[{\"to\":[{\"ipBlock\":"
			 "{\"cidr\":\"fd00:244:2::/112\"}}],\"ports\":[{\"port\":\"serve-80-tcp\"}]}]}"));
		CASE("IPv6 ipBlock with ports, numeric", IPPROTO_UDP, 81, f ? xa_from_y : xa_none,
		     NPX("p", "{" XA ",\"ingress\":[{\"from\":[{\"ipBlock\":{\"cidr\":\"fd00:244:2::/48\"}}],"
			 "\"ports\":[{\"protocol\":\"UDP\",\"port\":81}]}]}"));
	}
	probe_fam = AF_INET;
	model_dual = false;
}

static size_t setsize(const struct policy_state *ps, struct np_set_ref r)
{
	return netpol_set_size(ps, r);
}

/* hostNetwork pods, remote pods, pods without IP or finished: what each set holds. */
static void test_membership(void **state)
{
	struct policy_state *ps = netpol_new("n1");
	struct sy_addr ra = sy_addr4_host(0x0a000201), la = sy_addr4_host(0x0a000101);
	struct sy_addr ha = sy_addr4_host(0xc0000201), l6 = { 0 };
	const struct np_policy *p;
	unsigned n;
	const struct np_change *c;
	struct netpol_stats st;

	(void)state;
	sy_addr_parse("fd00::101", &l6);
	ev_np(ps, mknp(NPX("p", "{\"podSelector\":{},\"ingress\":[{\"from\":[{\"podSelector\":{}}]}]}")));
	ev_pod(ps, mkpod("{\"metadata\":{\"name\":\"l\",\"namespace\":\"x\"},\"spec\":{\"nodeName\":\"n1\"},"
			 "\"status\":{\"podIPs\":[{\"ip\":\"10.0.1.1\"},{\"ip\":\"fd00::101\"}]}}"));
	ev_pod(ps, mkpod("{\"metadata\":{\"name\":\"r\",\"namespace\":\"x\"},\"spec\":{\"nodeName\":\"n2\"},"
			 "\"status\":{\"podIP\":\"10.0.2.1\"}}"));
	ev_pod(ps, mkpod("{\"metadata\":{\"name\":\"h\",\"namespace\":\"x\"},\"spec\":{\"nodeName\":\"n1\",\"hostNetwork\":true},"
			 "\"status\":{\"podIP\":\"192.0.2.1\"}}"));
	ev_pod(ps, mkpod("{\"metadata\":{\"name\":\"s\",\"namespace\":\"x\"},\"spec\":{\"nodeName\":\"n1\"},"
			 "\"status\":{\"podIP\":\"10.0.1.9\",\"phase\":\"Succeeded\"}}"));
	ev_pod(ps, mkpod("{\"metadata\":{\"name\":\"u\",\"namespace\":\"x\"},\"spec\":{\"nodeName\":\"n1\"}}"));
	p = netpol_policy(ps, 1);
	assert_non_null(p);
	assert_string_equal(p->np->meta.key, "x/p");
	assert_int_equal(setsize(ps, R(0, NP_SET_LOCAL, 0, 0)), 2);	/* both families of l */
	netpol_get_stats(ps, &st);
	assert_int_equal(st.local_pods, 1);	/* one pod, two addresses */
	assert_int_equal(st.pods, 5);
	assert_true(has(ps, R(0, NP_SET_LOCAL, 0, 0), &la, 0, 0));
	assert_true(has(ps, R(0, NP_SET_LOCAL, 0, 0), &l6, 0, 0));
	assert_int_equal(setsize(ps, R(1, NP_SET_TARGETS, 0, 0)), 2);	/* remote pods are never targets */
	assert_true(has(ps, R(0, NP_SET_ISOLATED_IN, 0, 0), &la, 0, 0));
	assert_int_equal(setsize(ps, R(0, NP_SET_ISOLATED_EG, 0, 0)), 0);
	assert_int_equal(setsize(ps, R(1, NP_SET_PEERS, NP_INGRESS, 0)), 3);	/* l (2 IPs), r */
	assert_true(has(ps, R(1, NP_SET_PEERS, NP_INGRESS, 0), &ra, 0, 0));
	assert_false(has(ps, R(1, NP_SET_PEERS, NP_INGRESS, 0), &ha, 0, 0));	/* hostNetwork: never */
	c = netpol_changes(ps, &n);
	assert_int_equal(n, 1);
	assert_int_equal(c[0].op, NP_POLICY_ADDED);
	assert_int_equal(c[0].policy_id, 1);
	/* deltas: global sets only (the added policy is read whole) */
	assert_int_equal(netpol_deltas_foreach(ps, NULL, NULL), 2 + 2);
	netpol_commit(ps);
	assert_false(netpol_dirty(ps));
	/* the pod goes Failed: only element deletes */
	ev_pod(ps, mkpod("{\"metadata\":{\"name\":\"r\",\"namespace\":\"x\"},\"spec\":{\"nodeName\":\"n2\"},"
			 "\"status\":{\"podIP\":\"10.0.2.1\",\"phase\":\"Failed\"}}"));
	netpol_changes(ps, &n);
	assert_int_equal(n, 0);
	assert_int_equal(netpol_deltas_foreach(ps, NULL, NULL), 1);
	/* removed and re-added before the commit: no net delta */
	ev_pod(ps, mkpod("{\"metadata\":{\"name\":\"r\",\"namespace\":\"x\"},\"spec\":{\"nodeName\":\"n2\"},"
			 "\"status\":{\"podIP\":\"10.0.2.1\"}}"));
	assert_false(netpol_dirty(ps));
	/* a changed selector keeps the structure: deltas only; a new rule: CHANGED */
	ev_np(ps, mknp(NPX("p", "{\"podSelector\":{\"matchLabels\":{\"none\":\"x\"}},\"ingress\":[{\"from\":[{\"podSelector\":{}}]}]}")));
	netpol_changes(ps, &n);
	assert_int_equal(n, 0);
	assert_int_equal(setsize(ps, R(1, NP_SET_TARGETS, 0, 0)), 0);
	assert_true(netpol_dirty(ps));
	netpol_commit(ps);
	ev_np(ps, mknp(NPX("p", "{\"podSelector\":{},\"ingress\":[{},{}]}")));
	c = netpol_changes(ps, &n);
	assert_int_equal(n, 1);
	assert_int_equal(c[0].op, NP_POLICY_CHANGED);
	assert_int_equal(c[0].old_n_rules[NP_INGRESS], 1);
	netpol_commit(ps);
	/* removal: REMOVED with the old shape; the id is not reused before the commit */
	netpol_policy_event(ps, "x/p", NULL);
	ev_np(ps, mknp(NPX("q", "{\"podSelector\":{}}")));
	c = netpol_changes(ps, &n);
	assert_int_equal(n, 2);
	assert_int_equal(c[0].op, NP_POLICY_REMOVED);
	assert_int_equal(c[0].policy_id, 1);
	assert_int_equal(c[0].old_n_rules[NP_INGRESS], 2);
	assert_int_equal(c[1].op, NP_POLICY_ADDED);
	assert_int_equal(c[1].policy_id, 2);
	netpol_commit(ps);
	/* added and removed between commits: nothing to tell */
	ev_np(ps, mknp(NPX("r", "{\"podSelector\":{},\"policyTypes\":[\"Egress\"]}")));
	netpol_policy_event(ps, "x/r", NULL);
	netpol_changes(ps, &n);
	assert_int_equal(n, 0);
	assert_false(netpol_dirty(ps));
	/* nothing left naming namespace x: it goes (ephemeral namespaces do not pile up) */
	{
		static const char *const keys[] = { "x/l", "x/r", "x/h", "x/s", "x/u" };
		struct netpol_stats stt;

		for (unsigned i = 0; i < 5; i++)
			netpol_pod_event(ps, keys[i], NULL);
		netpol_get_stats(ps, &stt);
		assert_int_equal(stt.namespaces, 1);	/* x/q still names it */
		netpol_policy_event(ps, "x/q", NULL);
		netpol_get_stats(ps, &stt);
		assert_int_equal(stt.namespaces, 0);
		assert_int_equal(stt.pods, 0);
		assert_int_equal(stt.elements, 0);
	}
	netpol_free(ps);
}

/* ---- random events: incremental == from scratch; the kernel mirror stays equal ---- */

static unsigned rnd_state = 1;
static unsigned rnd(unsigned n)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return (rnd_state >> 16) % n;
}

#define N_PODS 24
#define N_POLS 8
static const char *const RNS[] = { "x", "y", "z", "w" };

static const char *pick(const char *const *v, unsigned n)
{
	return v[rnd(n)];
}

static void rnd_selector(char *buf, size_t len, bool ns)
{
	static const char *const keys[] = { "app", "tier", "env" };
	static const char *const vals[] = { "a", "b", "c" };
	static const char *const ops[] = { "In", "NotIn", "Exists", "DoesNotExist" };
	const char *k = pick(keys, 3);

	switch (rnd(5)) {
	case 0:
		snprintf(buf, len, "{}");
		break;
	case 1:
		snprintf(buf, len, "{\"matchLabels\":{\"%s\":\"%s\"}}", k, pick(vals, 3));
		break;
	case 2:
		if (ns) {
			snprintf(buf, len, "{\"matchLabels\":{\"kubernetes.io/metadata.name\":\"%s\"}}",
				 pick(RNS, 4));
			break;
		}
		/* fall through */
	default: {
		const char *op = pick(ops, 4);

		if (!strcmp(op, "In") || !strcmp(op, "NotIn"))
			snprintf(buf, len, "{\"matchExpressions\":[{\"key\":\"%s\",\"operator\":\"%s\","
				 "\"values\":[\"%s\",\"%s\"]}]}", k, op, pick(vals, 3), pick(vals, 3));
		else
			snprintf(buf, len, "{\"matchExpressions\":[{\"key\":\"%s\",\"operator\":\"%s\"}]}",
				 k, op);
	}
	}
}

static void rnd_labels(char *buf, size_t len)
{
	static const char *const keys[] = { "app", "tier", "env" };
	static const char *const vals[] = { "a", "b", "c" };
	size_t o = (size_t)snprintf(buf, len, "{");
	unsigned n = rnd(3);

	for (unsigned i = 0; i < 3 && n; i++)
		if (rnd(2)) {
			o += (size_t)snprintf(buf + o, len - o, "%s\"%s\":\"%s\"", o > 1 ? "," : "",
					      keys[i], pick(vals, 3));
			n--;
		}
	snprintf(buf + o, len - o, "}");
}

static void rnd_rule(char *buf, size_t len, bool egress)
{
	size_t o = (size_t)snprintf(buf, len, "{");
	unsigned np = rnd(4), nports = rnd(3);
	char s1[200], s2[200];

	if (np) {
		o += (size_t)snprintf(buf + o, len - o, "\"%s\":[", egress ? "to" : "from");
		for (unsigned i = 0; i < np - 1; i++) {
			const char *sep = i ? "," : "";

			switch (rnd(4)) {
			case 0:
				rnd_selector(s1, sizeof(s1), false);
				o += (size_t)snprintf(buf + o, len - o, "%s{\"podSelector\":%s}", sep, s1);
				break;
			case 1:
				rnd_selector(s1, sizeof(s1), true);
				o += (size_t)snprintf(buf + o, len - o, "%s{\"namespaceSelector\":%s}", sep, s1);
				break;
			case 2:
				rnd_selector(s1, sizeof(s1), false);
				rnd_selector(s2, sizeof(s2), true);
				o += (size_t)snprintf(buf + o, len - o,
						      "%s{\"podSelector\":%s,\"namespaceSelector\":%s}", sep, s1, s2);
				break;
			default: {
				unsigned net = rnd(2);

				if (rnd(2))
					o += (size_t)snprintf(buf + o, len - o,
							      "%s{\"ipBlock\":{\"cidr\":\"10.0.%u.0/24\",\"except\":[\"10.0.%u.%u/30\"]}}",
							      sep, net, net, rnd(4) * 4);
				else	/* IPv6: the pods' fd00::0-f */
					o += (size_t)snprintf(buf + o, len - o,
							      "%s{\"ipBlock\":{\"cidr\":\"fd00::/%u\",\"except\":[\"fd00::%x/126\"]}}",
							      sep, 124 - 4 * net, rnd(4) * 4);
			}
			}
		}
		o += (size_t)snprintf(buf + o, len - o, "]");
	}
	if (nports) {
		static const char *const ports[] = {
			"{\"port\":80}", "{\"port\":\"http\"}", "{\"port\":\"dns\",\"protocol\":\"UDP\"}",
			"{\"protocol\":\"SCTP\"}", "{\"port\":80,\"endPort\":90}", "{\"port\":\"web\"}",
		};

		o += (size_t)snprintf(buf + o, len - o, "%s\"ports\":[%s", np ? "," : "", pick(ports, 6));
		if (nports > 1)
			o += (size_t)snprintf(buf + o, len - o, ",%s", pick(ports, 6));
		o += (size_t)snprintf(buf + o, len - o, "]");
	}
	snprintf(buf + o, len - o, "}");
}

static struct netpolicy *rnd_policy(unsigned i)
{
	char buf[8192], sel[200], rule[2000];
	size_t o;
	unsigned ni = rnd(3), ne = rnd(3), pt = rnd(4);

	rnd_selector(sel, sizeof(sel), false);
	o = (size_t)snprintf(buf, sizeof(buf), "{\"metadata\":{\"name\":\"p%u\",\"namespace\":\"%s\"},"
			     "\"spec\":{\"podSelector\":%s", i, RNS[i % 4], sel);
	if (ni) {
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, ",\"ingress\":[");
		for (unsigned k = 0; k < ni - 1; k++) {
			rnd_rule(rule, sizeof(rule), false);
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s", k ? "," : "", rule);
		}
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "]");
	}
	if (ne) {
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, ",\"egress\":[");
		for (unsigned k = 0; k < ne - 1; k++) {
			rnd_rule(rule, sizeof(rule), true);
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s", k ? "," : "", rule);
		}
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "]");
	}
	if (pt)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, ",\"policyTypes\":[%s]",
				      pt == 1 ? "\"Ingress\"" : pt == 2 ? "\"Egress\"" : "\"Ingress\",\"Egress\"");
	snprintf(buf + o, sizeof(buf) - o, "}}");
	return mknp(buf);
}

static struct pod *rnd_pod(unsigned i)
{
	static const char *const ports[] = {
		"{\"name\":\"http\",\"containerPort\":8080}", "{\"name\":\"http\",\"containerPort\":80}",
		"{\"name\":\"dns\",\"containerPort\":53,\"protocol\":\"UDP\"}",
		"{\"name\":\"web\",\"containerPort\":443}", "{\"containerPort\":80}",
	};
	char buf[2048], labels[200], ips[100];
	unsigned v = rnd(8);

	rnd_labels(labels, sizeof(labels));
	/* addresses from a small pool: two pods may share one (a stale pod and its successor);
	 * IPv4, dual-stack (either order) or IPv6 only */
	if (v < 4)
		snprintf(ips, sizeof(ips), "{\"ip\":\"10.0.%u.%u\"}", rnd(2), rnd(16));
	else if (v < 5)
		snprintf(ips, sizeof(ips), "{\"ip\":\"10.0.%u.%u\"},{\"ip\":\"fd00::%x\"}", rnd(2), rnd(16),
			 rnd(16));
	else if (v < 6)
		snprintf(ips, sizeof(ips), "{\"ip\":\"fd00::%x\"},{\"ip\":\"10.0.%u.%u\"}", rnd(16), rnd(2),
			 rnd(16));
	else if (v < 7)
		snprintf(ips, sizeof(ips), "{\"ip\":\"fd00::%x\"}", rnd(16));
	else
		ips[0] = '\0';
	snprintf(buf, sizeof(buf),
		 "{\"metadata\":{\"name\":\"pod%u\",\"namespace\":\"%s\",\"labels\":%s},"
		 "\"spec\":{\"nodeName\":\"%s\",\"hostNetwork\":%s,\"containers\":[{\"name\":\"c\",\"ports\":[%s,%s]}]},"
		 "\"status\":{\"phase\":\"%s\",\"podIPs\":[%s]}}",
		 i, RNS[i % 4], labels, rnd(2) ? "n1" : "n2", rnd(8) ? "false" : "true", pick(ports, 5),
		 pick(ports, 5), rnd(8) ? "Running" : "Succeeded", ips);
	return mkpod(buf);
}

static struct k8s_namespace *rnd_ns(unsigned i)
{
	char buf[512], labels[200];

	rnd_labels(labels, sizeof(labels));
	snprintf(buf, sizeof(buf), "{\"metadata\":{\"name\":\"%s\",\"labels\":%s}}", RNS[i], labels);
	return mkns(buf);
}

/* The kernel mirror: what a kernel side holds after applying changes and deltas. */
struct mentry {
	struct np_set_ref set;
	struct np_elem e;
};
struct mirror {
	struct mentry *v;
	size_t n, cap;
};

static bool ref_eq(struct np_set_ref a, struct np_set_ref b)
{
	return a.policy_id == b.policy_id && a.kind == b.kind && a.dir == b.dir && a.rule == b.rule;
}

static ssize_t mirror_find(struct mirror *m, struct np_set_ref r, const struct np_elem *e)
{
	for (size_t i = 0; i < m->n; i++)
		if (ref_eq(m->v[i].set, r) && !memcmp(&m->v[i].e, e, sizeof(*e)))
			return (ssize_t)i;
	return -1;
}

static void mirror_add(struct mirror *m, struct np_set_ref r, const struct np_elem *e)
{
	if (mirror_find(m, r, e) >= 0)
		fail_msg("kernel mirror: element added twice (policy %u kind %u)", r.policy_id, r.kind);
	if (m->n == m->cap)
		m->v = xrealloc(m->v, (m->cap = m->cap ? m->cap * 2 : 64) * sizeof(*m->v));
	m->v[m->n].set = r;
	m->v[m->n++].e = *e;
}

static void mirror_del(struct mirror *m, struct np_set_ref r, const struct np_elem *e)
{
	ssize_t i = mirror_find(m, r, e);

	if (i < 0)
		fail_msg("kernel mirror: delete of an absent element (policy %u kind %u)", r.policy_id, r.kind);
	m->v[i] = m->v[--m->n];
}

static void mirror_drop_policy(struct mirror *m, uint32_t id)
{
	for (size_t i = 0; i < m->n;)
		if (m->v[i].set.policy_id == id)
			m->v[i] = m->v[--m->n];
		else
			i++;
}

struct mctx {
	struct mirror *m;
	struct np_set_ref r;
};

static void mirror_fill_cb(void *arg, const struct np_elem *e)
{
	struct mctx *c = arg;

	mirror_add(c->m, c->r, e);
}

static void mirror_fill_policy(struct mirror *m, const struct policy_state *ps, const struct np_policy *p)
{
	struct mctx c = { m, R(p->id, NP_SET_TARGETS, 0, 0) };

	netpol_set_foreach(ps, c.r, mirror_fill_cb, &c);
	for (int d = 0; d < 2; d++)
		for (unsigned r = 0; r < p->np->n_rules[d]; r++) {
			c.r = R(p->id, NP_SET_PEERS, d, r);
			netpol_set_foreach(ps, c.r, mirror_fill_cb, &c);
			c.r = R(p->id, NP_SET_NAMED, d, r);
			netpol_set_foreach(ps, c.r, mirror_fill_cb, &c);
		}
}

static void mirror_delta_cb(void *arg, const struct np_delta *d)
{
	struct mirror *m = arg;

	if (d->add)
		mirror_add(m, d->set, &d->elem);
	else
		mirror_del(m, d->set, &d->elem);
}

/* A partial sync into the mirror, then commit. */
static void mirror_sync(struct mirror *m, struct policy_state *ps)
{
	unsigned n;
	const struct np_change *c = netpol_changes(ps, &n);

	for (unsigned i = 0; i < n; i++) {
		mirror_drop_policy(m, c[i].policy_id);
		if (c[i].op != NP_POLICY_REMOVED) {
			const struct np_policy *p = netpol_policy(ps, c[i].policy_id);

			assert_non_null(p);
			mirror_fill_policy(m, ps, p);
		}
	}
	netpol_deltas_foreach(ps, mirror_delta_cb, m);
	netpol_commit(ps);
}

static size_t mirror_count(const struct mirror *m, struct np_set_ref r)
{
	size_t n = 0;

	for (size_t i = 0; i < m->n; i++)
		n += ref_eq(m->v[i].set, r);
	return n;
}

/* Every mirror element is in the state, and every set has the mirror's size. */
static void mirror_check(const struct mirror *m, const struct policy_state *ps)
{
	size_t total = 0;

	for (size_t i = 0; i < m->n; i++)
		if (!netpol_set_has(ps, m->v[i].set, &m->v[i].e))
			fail_msg("kernel mirror holds an element the state lacks (policy %u kind %u)",
				 m->v[i].set.policy_id, m->v[i].set.kind);
	for (int k = NP_SET_LOCAL; k <= NP_SET_ISOLATED_EG; k++) {
		assert_int_equal(netpol_set_size(ps, R(0, k, 0, 0)), mirror_count(m, R(0, k, 0, 0)));
		total += netpol_set_size(ps, R(0, k, 0, 0));
	}
	for (uint32_t id = 1; id <= netpol_max_id(ps); id++) {
		const struct np_policy *p = netpol_policy(ps, id);

		if (!p)
			continue;
		assert_int_equal(netpol_set_size(ps, R(id, NP_SET_TARGETS, 0, 0)),
				 mirror_count(m, R(id, NP_SET_TARGETS, 0, 0)));
		total += netpol_set_size(ps, R(id, NP_SET_TARGETS, 0, 0));
		for (int d = 0; d < 2; d++)
			for (unsigned r = 0; r < p->np->n_rules[d]; r++)
				for (int k = NP_SET_PEERS; k <= NP_SET_NAMED; k++) {
					assert_int_equal(netpol_set_size(ps, R(id, k, d, r)),
							 mirror_count(m, R(id, k, d, r)));
					total += netpol_set_size(ps, R(id, k, d, r));
				}
	}
	assert_int_equal(total, m->n);	/* nothing left of removed policies */
}

struct cmp_ctx {
	const struct policy_state *other;
	struct np_set_ref r;
	unsigned missing;
};

static void cmp_cb(void *arg, const struct np_elem *e)
{
	struct cmp_ctx *c = arg;

	c->missing += !netpol_set_has(c->other, c->r, e);
}

static void sets_equal(const struct policy_state *a, struct np_set_ref ra,
		       const struct policy_state *b, struct np_set_ref rb, const char *what)
{
	struct cmp_ctx c = { b, rb, 0 };

	if (netpol_set_size(a, ra) != netpol_set_size(b, rb))
		fail_msg("%s: %zu elements incrementally, %zu from scratch", what,
			 netpol_set_size(a, ra), netpol_set_size(b, rb));
	netpol_set_foreach(a, ra, cmp_cb, &c);
	if (c.missing)
		fail_msg("%s: %u elements differ", what, c.missing);
}

static uint32_t id_of(const struct policy_state *ps, const char *key)
{
	for (uint32_t id = 1; id <= netpol_max_id(ps); id++) {
		const struct np_policy *p = netpol_policy(ps, id);

		if (p && !strcmp(p->np->meta.key, key))
			return id;
	}
	return 0;
}

static void states_equal(const struct policy_state *inc, const struct policy_state *ref)
{
	char what[128];
	struct netpol_stats si, sr;

	assert_int_equal(netpol_policy_count(inc), netpol_policy_count(ref));
	netpol_get_stats(inc, &si);
	netpol_get_stats(ref, &sr);
	assert_int_equal(si.local_pods, sr.local_pods);
	assert_int_equal(si.pods, sr.pods);
	for (int k = NP_SET_LOCAL; k <= NP_SET_ISOLATED_EG; k++) {
		snprintf(what, sizeof(what), "global set %d", k);
		sets_equal(inc, R(0, k, 0, 0), ref, R(0, k, 0, 0), what);
	}
	for (uint32_t id = 1; id <= netpol_max_id(inc); id++) {
		const struct np_policy *p = netpol_policy(inc, id);
		uint32_t rid;

		if (!p)
			continue;
		rid = id_of(ref, p->np->meta.key);
		assert_true(rid != 0);
		snprintf(what, sizeof(what), "%s targets", p->np->meta.key);
		sets_equal(inc, R(id, NP_SET_TARGETS, 0, 0), ref, R(rid, NP_SET_TARGETS, 0, 0), what);
		for (int d = 0; d < 2; d++)
			for (unsigned r = 0; r < p->np->n_rules[d]; r++)
				for (int k = NP_SET_PEERS; k <= NP_SET_NAMED; k++) {
					snprintf(what, sizeof(what), "%s %s rule %u %s", p->np->meta.key,
						 d ? "egress" : "ingress", r, k == NP_SET_PEERS ? "peers" : "named");
					sets_equal(inc, R(id, k, d, r), ref, R(rid, k, d, r), what);
				}
	}
}

static void test_incremental(void **state)
{
	struct pod *pods[N_PODS] = { 0 };
	struct k8s_namespace *nss[4] = { 0 };
	struct netpolicy *pols[N_POLS] = { 0 };
	struct mirror m = { 0 };

	(void)state;
	for (unsigned seed = 1; seed <= 40; seed++) {
		struct policy_state *ps = netpol_new("n1");

		rnd_state = seed;
		m.n = 0;
		for (unsigned step = 0; step < 300; step++) {
			unsigned what = rnd(10), i;
			bool del = rnd(5) == 0;

			if (what < 6) {
				i = rnd(N_PODS);
				pod_unref(pods[i]);
				pods[i] = NULL;
				if (del) {
					char key[64];

					snprintf(key, sizeof(key), "%s/pod%u", RNS[i % 4], i);
					netpol_pod_event(ps, key, NULL);
				} else {
					pods[i] = rnd_pod(i);
					netpol_pod_event(ps, pods[i]->meta.key, pods[i]);
				}
			} else if (what < 7) {
				i = rnd(4);
				namespace_unref(nss[i]);
				nss[i] = NULL;
				if (del) {
					netpol_namespace_event(ps, RNS[i], NULL);
				} else {
					nss[i] = rnd_ns(i);
					netpol_namespace_event(ps, RNS[i], nss[i]);
				}
			} else {
				i = rnd(N_POLS);
				netpolicy_unref(pols[i]);
				pols[i] = NULL;
				if (del) {
					char key[64];

					snprintf(key, sizeof(key), "%s/p%u", RNS[i % 4], i);
					netpol_policy_event(ps, key, NULL);
				} else {
					pols[i] = rnd_policy(i);
					netpol_policy_event(ps, pols[i]->meta.key, pols[i]);
				}
			}
			if (rnd(4) == 0) {
				mirror_sync(&m, ps);
				mirror_check(&m, ps);
			}
			if (rnd(25) == 0 || step == 299) {
				/* from scratch, objects in another order */
				struct policy_state *ref = netpol_new("n1");

				for (int k = N_POLS - 1; k >= 0; k--)
					if (pols[k])
						netpol_policy_event(ref, pols[k]->meta.key, pols[k]);
				for (int k = N_PODS - 1; k >= 0; k--)
					if (pods[k])
						netpol_pod_event(ref, pods[k]->meta.key, pods[k]);
				for (int k = 0; k < 4; k++)
					if (nss[k])
						netpol_namespace_event(ref, RNS[k], nss[k]);
				states_equal(ps, ref);
				states_equal(ref, ps);
				netpol_free(ref);
			}
		}
		netpol_free(ps);
		for (int k = 0; k < N_PODS; k++) {
			pod_unref(pods[k]);
			pods[k] = NULL;
		}
		for (int k = 0; k < 4; k++) {
			namespace_unref(nss[k]);
			nss[k] = NULL;
		}
		for (int k = 0; k < N_POLS; k++) {
			netpolicy_unref(pols[k]);
			pols[k] = NULL;
		}
	}
	free(m.v);
}

static int capply(struct cache *c, enum sy_kind k, const char *json)
{
	struct json_object *o = J(json);
	int r = cache_apply(c, k, CACHE_UPSERT, o);

	json_object_put(o);
	return r;
}

/* The cache: the kinds, change tracking, bad objects keep the last good version, Services stay clean. */
static void test_cache(void **state)
{
	struct cache *c = cache_new(NULL, NULL);
	struct policy_state *ps = netpol_new("n1");
	struct hmap dirty;
	struct sy_addr b = sy_addr4_host(0x0a000002);
	struct netpolicy *good;
	struct json_object *o;

	(void)state;
	assert_int_equal(capply(c, SY_KIND_NAMESPACE, "{\"metadata\":{\"name\":\"x\",\"resourceVersion\":\"1\",\"labels\":{\"t\":\"1\"}}}"), 0);
	assert_int_equal(capply(c, SY_KIND_POD,
		"{\"metadata\":{\"name\":\"a\",\"namespace\":\"x\",\"resourceVersion\":\"2\",\"labels\":{\"pod\":\"a\"}},"
		"\"spec\":{\"nodeName\":\"n1\"},\"status\":{\"podIP\":\"10.0.0.1\",\"phase\":\"Pending\"}}"), 0);
	assert_int_equal(capply(c, SY_KIND_POD,
		"{\"metadata\":{\"name\":\"b\",\"namespace\":\"x\",\"resourceVersion\":\"3\",\"labels\":{\"pod\":\"b\"}},"
		"\"spec\":{\"nodeName\":\"n2\"},\"status\":{\"podIP\":\"10.0.0.2\"}}"), 0);
	assert_int_equal(capply(c, SY_KIND_NETWORKPOLICY, NPX("p",
		"{\"podSelector\":{\"matchLabels\":{\"pod\":\"a\"}},\"ingress\":[{\"from\":[{\"podSelector\":{\"matchLabels\":{\"pod\":\"b\"}}}]}]}")), 0);
	assert_int_equal(cache_changed_count(c, SY_KIND_POD), 2);
	assert_int_equal(hmap_count(cache_pods(c)), 2);
	assert_string_equal(np_labels_get(&cache_namespace(c, "x")->labels, "kubernetes.io/metadata.name"), "x");
	/* no Service is dirty */
	cache_take_dirty(c, &dirty);
	assert_int_equal(hmap_count(&dirty), 0);
	hmap_clear(&dirty);
	assert_int_equal(netpol_update(ps, c), 4);
	assert_int_equal(netpol_update(ps, c), 0);
	assert_true(has(ps, R(1, NP_SET_PEERS, NP_INGRESS, 0), &b, 0, 0));
	netpol_commit(ps);

	/* Pending → Running, a new resourceVersion, an annotation: not a change */
	assert_int_equal(capply(c, SY_KIND_POD,
		"{\"metadata\":{\"name\":\"a\",\"namespace\":\"x\",\"resourceVersion\":\"9\",\"labels\":{\"pod\":\"a\"},"
		"\"annotations\":{\"x\":\"y\"}},\"spec\":{\"nodeName\":\"n1\"},\"status\":{\"podIP\":\"10.0.0.1\",\"phase\":\"Running\"}}"), 0);
	assert_int_equal(cache_changed_count(c, SY_KIND_POD), 0);
	assert_string_equal(cache_pod(c, "x/a")->meta.resource_version, "9");
	/* a relabel is */
	assert_int_equal(capply(c, SY_KIND_POD,
		"{\"metadata\":{\"name\":\"b\",\"namespace\":\"x\",\"resourceVersion\":\"10\",\"labels\":{\"pod\":\"c\"}},"
		"\"spec\":{\"nodeName\":\"n2\"},\"status\":{\"podIP\":\"10.0.0.2\"}}"), 0);
	assert_int_equal(netpol_update(ps, c), 1);
	assert_false(has(ps, R(1, NP_SET_PEERS, NP_INGRESS, 0), &b, 0, 0));

	/* a malformed update of the policy: an error, skipped, the last good version stays */
	good = cache_netpolicy(c, "x/p");
	assert_int_equal(capply(c, SY_KIND_NETWORKPOLICY, NPX("p",
		"{\"podSelector\":{},\"ingress\":[{\"ports\":[{\"port\":80,\"endPort\":70}]}]}")), -EINVAL);
	assert_ptr_equal(cache_netpolicy(c, "x/p"), good);
	assert_int_equal(cache_get_stats(c)->decode_errors, 1);
	assert_int_equal(netpol_update(ps, c), 0);
	/* and a relist that meets it again keeps it too; a pod not listed goes */
	cache_replace_begin(c, SY_KIND_NETWORKPOLICY);
	assert_int_equal(capply(c, SY_KIND_NETWORKPOLICY, NPX("p",
		"{\"podSelector\":{},\"ingress\":[{\"ports\":[{\"port\":80,\"endPort\":70}]}]}")), -EINVAL);
	cache_replace_end(c, SY_KIND_NETWORKPOLICY);
	assert_ptr_equal(cache_netpolicy(c, "x/p"), good);
	cache_replace_begin(c, SY_KIND_POD);
	assert_int_equal(capply(c, SY_KIND_POD,
		"{\"metadata\":{\"name\":\"a\",\"namespace\":\"x\",\"resourceVersion\":\"9\",\"labels\":{\"pod\":\"a\"}},"
		"\"spec\":{\"nodeName\":\"n1\"},\"status\":{\"podIP\":\"10.0.0.1\",\"phase\":\"Running\"}}"), 0);
	cache_replace_end(c, SY_KIND_POD);
	assert_null(cache_pod(c, "x/b"));
	assert_true(cache_synced(c, SY_KIND_POD));
	assert_int_equal(netpol_update(ps, c), 1);
	/* delete by key */
	o = J("{\"metadata\":{\"name\":\"p\",\"namespace\":\"x\"}}");
	assert_int_equal(cache_apply(c, SY_KIND_NETWORKPOLICY, CACHE_DELETE, o), 0);
	json_object_put(o);
	assert_int_equal(netpol_update(ps, c), 1);
	assert_int_equal(netpol_policy_count(ps), 0);
	/* the namespace name rules: a label */
	assert_int_equal(capply(c, SY_KIND_NAMESPACE, "{\"metadata\":{\"name\":\"a.b\"}}"), -EINVAL);
	netpol_free(ps);
	cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_semantics),
		cmocka_unit_test(test_semantics_dual),
		cmocka_unit_test(test_membership),
		cmocka_unit_test(test_incremental),
		cmocka_unit_test(test_cache),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
