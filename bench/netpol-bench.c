// SPDX-License-Identifier: Apache-2.0
/*
 * NetworkPolicy kernel-side benchmark (run it inside a private network
 * namespace: bench/netpol-bench.sh does).  Builds PODS Pods over NS
 * namespaces and POLICIES NetworkPolicies through the real decoders and
 * planner (netpol.h), programs them with the real writer (netpol_nft.h)
 * into table inet switchyard-policy, then measures one Pod added / one Pod
 * relabelled / one Pod deleted: from the planner event to the kernel's
 * acknowledgement of the batch.  Optionally writes kube-router's shape of
 * the same state (ipset restore + iptables-restore files) for the script
 * to time.
 *
 *   netpol-bench [--pods N] [--namespaces N] [--policies N] [--local-every K]
 *                [--changes N] [--kube-router DIR] [--dual]
 *
 * --dual: every pod dual-stack (status.podIPs 10.x and fd00:64::x), and the
 * egress ipBlocks get an IPv6 twin (same shape) beside the IPv4 one: the
 * same cluster in both families, to compare with the IPv4-only run.
 * (The kube-router shape stays IPv4.)
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <json-c/json.h>
#include "switchyard/netpol.h"
#include "switchyard/netpol_nft.h"
#include "switchyard/util.h"

static unsigned n_pods = 10000, n_ns = 100, n_pol = 1000, local_every = 1, n_changes = 50;
static bool dual;

static void ip_of(unsigned j, char *buf, size_t len)
{
	snprintf(buf, len, "10.%u.%u.%u", 64 + j / 62500, (j / 250) % 250, j % 250 + 1);
}

static struct pod *mk_pod(unsigned j, unsigned app_shift)
{
	char js[1024], ip[32], ips[128], err[256];
	struct json_object *o;
	struct pod *p = NULL;

	ip_of(j, ip, sizeof(ip));
	if (dual)
		snprintf(ips, sizeof(ips), "{\"ip\":\"%s\"},{\"ip\":\"fd00:64::%x:%x\"}", ip, j >> 16,
			 j & 0xffff);
	else
		snprintf(ips, sizeof(ips), "{\"ip\":\"%s\"}", ip);
	snprintf(js, sizeof(js),
		 "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"pod-%u\","
		 "\"namespace\":\"ns-%u\",\"resourceVersion\":\"1\",\"labels\":{\"app\":\"a%u\","
		 "\"tier\":\"t%u\"}},\"spec\":{\"nodeName\":\"%s\",\"containers\":[{\"name\":\"c\","
		 "\"ports\":[{\"name\":\"http\",\"containerPort\":%u,\"protocol\":\"TCP\"}]}]},"
		 "\"status\":{\"phase\":\"Running\",\"podIP\":\"%s\",\"podIPs\":[%s]}}",
		 j, j % n_ns, (j + app_shift) % 20, j % 3, j % local_every ? "other" : "bench-node",
		 8080 + j % 4, ip, ips);
	o = json_tokener_parse(js);
	if (!o || pod_decode(o, &p, err, sizeof(err)) < 0) {
		fprintf(stderr, "pod %u: %s\n", j, err);
		exit(1);
	}
	json_object_put(o);
	return p;
}

static struct k8s_namespace *mk_ns(unsigned i)
{
	char js[512], err[256];
	struct json_object *o;
	struct k8s_namespace *n = NULL;

	snprintf(js, sizeof(js),
		 "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"ns-%u\","
		 "\"resourceVersion\":\"1\",\"labels\":{\"team\":\"t%u\"}}}", i, i % 10);
	o = json_tokener_parse(js);
	if (!o || namespace_decode(o, &n, err, sizeof(err)) < 0) {
		fprintf(stderr, "namespace %u: %s\n", i, err);
		exit(1);
	}
	json_object_put(o);
	return n;
}

/*
 * Policy k in ns-(k % NS): selects app=a(k%20); ingress from tier=t(k%3) in
 * its namespace, or app=a((k+1)%20) in namespaces team=t(k%10), on TCP 80,
 * TCP 8000-8100 and the named port http; every 4th also restricts egress:
 * to 10.0.0.0/8 except 10.64.0.0/16 on UDP 53, and to its own namespace.
 */
static struct netpolicy *mk_pol(unsigned k)
{
	char js[2048], err[256];
	struct json_object *o;
	struct netpolicy *np = NULL;
	int n;

	n = snprintf(js, sizeof(js),
		     "{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\","
		     "\"metadata\":{\"name\":\"pol-%u\",\"namespace\":\"ns-%u\",\"resourceVersion\":\"1\"},"
		     "\"spec\":{\"podSelector\":{\"matchLabels\":{\"app\":\"a%u\"}},"
		     "\"ingress\":[{\"from\":[{\"podSelector\":{\"matchLabels\":{\"tier\":\"t%u\"}}},"
		     "{\"namespaceSelector\":{\"matchLabels\":{\"team\":\"t%u\"}},"
		     "\"podSelector\":{\"matchLabels\":{\"app\":\"a%u\"}}}],"
		     "\"ports\":[{\"protocol\":\"TCP\",\"port\":80},"
		     "{\"protocol\":\"TCP\",\"port\":8000,\"endPort\":8100},{\"port\":\"http\"}]}]",
		     k, k % n_ns, k % 20, k % 3, k % 10, (k + 1) % 20);
	if (k % 4 == 0)
		n += snprintf(js + n, sizeof(js) - (size_t)n,
			      ",\"egress\":[{\"to\":[{\"ipBlock\":{\"cidr\":\"10.0.0.0/8\","
			      "\"except\":[\"10.64.0.0/16\"]}}%s],\"ports\":[{\"protocol\":\"UDP\","
			      "\"port\":53}]},{\"to\":[{\"podSelector\":{}}]}]",
			      dual ? ",{\"ipBlock\":{\"cidr\":\"fd00::/16\",\"except\":[\"fd00:64::/96\"]}}" :
			      "");
	snprintf(js + n, sizeof(js) - (size_t)n, "}}");
	o = json_tokener_parse(js);
	if (!o || netpolicy_decode(o, &np, err, sizeof(err)) < 0) {
		fprintf(stderr, "policy %u: %s\n", k, err);
		exit(1);
	}
	json_object_put(o);
	return np;
}

static long rss_kb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* CPU seconds of this process (user + system: the kernel's batch work runs in sendmsg) */
static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* the system part alone */
static double sys_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static long cur_rss_kb(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0, res = 0;

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &res) != 2)
			res = 0;
		fclose(f);
	}
	return res * 4;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_d);
	return n ? v[n / 2] : 0;
}

static double pct(double *v, unsigned n, double p)
{
	qsort(v, n, sizeof(*v), cmp_d);
	return n ? v[(unsigned)((n - 1) * p)] : 0;
}

static void sync_or_die(struct netpol_nft *w, struct policy_state *ps, bool full,
			struct netpol_nft_stats *st)
{
	int r = netpol_nft_sync(w, ps, full, st);

	if (r < 0) {
		fprintf(stderr, "sync failed: %s (%s)\n", strerror(-r), st->err);
		exit(1);
	}
}

/* ---- kube-router's shape of the same state ---- */

struct kr {
	FILE *ipset, *ipt;
	const struct policy_state *ps;
	unsigned rules;
};

static void kr_elem(void *arg, const struct np_elem *e)
{
	FILE *f = arg;

	fprintf(f, " %s", sy_addr_str(&e->addr));
}

struct kr_set_arg {
	FILE *f;
	const char *name;
};

static void kr_add(void *arg, const struct np_elem *e)
{
	struct kr_set_arg *a = arg;

	if (sy_addr_is4(&e->addr))
		fprintf(a->f, "add %s %s\n", a->name, sy_addr_str(&e->addr));
}

static const char *proto_name(uint8_t p)
{
	return p == 17 ? "udp" : p == 132 ? "sctp" : "tcp";
}

/*
 * kube-router (pkg/controllers/netpol): per policy a KUBE-NWPLCY chain with
 * one rule per (peer set x port), source/destination ipsets, and per local
 * pod a KUBE-POD-FW chain jumping to each policy that selects it, reached
 * from KUBE-ROUTER-FORWARD by the pod's IP; all in one iptables-restore
 * and one ipset restore per sync.
 */
static void kr_pol(void *arg, const struct np_policy *p)
{
	struct kr *k = arg;
	const struct netpolicy *np = p->np;
	char set[64];
	struct kr_set_arg sa = { k->ipset, set };

	snprintf(set, sizeof(set), "KUBE-DST-%u", p->id);
	fprintf(k->ipset, "create %s hash:ip family inet hashsize 1024 maxelem 65536 -exist\n", set);
	fprintf(k->ipset, "flush %s\n", set);
	netpol_set_foreach(k->ps, (struct np_set_ref){ p->id, NP_SET_TARGETS, 0, 0 }, kr_add, &sa);
	fprintf(k->ipt, ":KUBE-NWPLCY-%u - [0:0]\n", p->id);
	for (int d = 0; d < 2; d++) {
		if (!(d ? np->egress : np->ingress))
			continue;
		for (unsigned r = 0; r < np->n_rules[d]; r++) {
			const struct np_rule *ru = &np->rules[d][r];
			char peer[96] = "";
			snprintf(set, sizeof(set), "KUBE-SRC-%u-%d-%u", p->id, d, r);
			if (ru->has_selector_peers) {
				fprintf(k->ipset, "create %s hash:ip family inet hashsize 1024 maxelem 65536 -exist\n",
					set);
				fprintf(k->ipset, "flush %s\n", set);
				netpol_set_foreach(k->ps, (struct np_set_ref){ p->id, NP_SET_PEERS,
						   (uint8_t)d, (uint16_t)r }, kr_add, &sa);
				snprintf(peer, sizeof(peer), "-m set --match-set %s %s ", set,
					 d ? "dst" : "src");
			}
			for (unsigned i = 0; i < ru->n_ports || (!i && ru->all_ports); i++) {
				const struct np_port *po = ru->n_ports ? &ru->ports[i] : NULL;
				char port[64] = "";
				if (po && po->name)
					continue;	/* kube-router: an ipset per named port; left out */
				if (po && po->port)
					snprintf(port, sizeof(port), "-p %s --dport %u%s%.0u ",
						 proto_name(po->proto), po->port,
						 po->end_port ? ":" : "", po->end_port);
				fprintf(k->ipt, "-A KUBE-NWPLCY-%u %s%s-m comment --comment \"rule %d/%u\" "
					"-j MARK --set-xmark 0x10000/0x10000\n", p->id, peer, port, d, r);
				fprintf(k->ipt, "-A KUBE-NWPLCY-%u -m mark --mark 0x10000/0x10000 -j RETURN\n",
					p->id);
				k->rules += 2;
			}
		}
	}
}

struct kr_pod_arg {
	struct kr *k;
	unsigned n;
};

static void kr_pod(void *arg, const struct np_elem *e)
{
	struct kr_pod_arg *a = arg;
	struct kr *k = a->k;
	char chain[64];
	unsigned n = a->n++;

	if (!sy_addr_is4(&e->addr))
		return;
	snprintf(chain, sizeof(chain), "KUBE-POD-FW-%u", n);
	fprintf(k->ipt, ":%s - [0:0]\n", chain);
	fprintf(k->ipt, "-A KUBE-ROUTER-FORWARD -d %s -j %s\n", sy_addr_str(&e->addr), chain);
	fprintf(k->ipt, "-A KUBE-ROUTER-FORWARD -s %s -j %s\n", sy_addr_str(&e->addr), chain);
	fprintf(k->ipt, "-A %s -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n", chain);
	/* the policies that select the pod: those whose KUBE-DST set holds it */
	for (uint32_t id = 1; id <= netpol_max_id(k->ps); id++) {
		const struct np_policy *p = netpol_policy(k->ps, id);
		if (p && netpol_set_has(k->ps, (struct np_set_ref){ id, NP_SET_TARGETS, 0, 0 }, e)) {
			fprintf(k->ipt, "-A %s -j KUBE-NWPLCY-%u\n", chain, id);
			k->rules++;
		}
	}
	fprintf(k->ipt, "-A %s -m mark ! --mark 0x10000/0x10000 -j REJECT\n", chain);
	fprintf(k->ipt, "-A %s -j MARK --set-xmark 0x0/0x10000\n", chain);
	k->rules += 6;
}

static void kube_router(const struct policy_state *ps, const char *dir)
{
	char path[512];
	struct kr k = { .ps = ps };
	struct kr_pod_arg pa = { &k, 0 };

	snprintf(path, sizeof(path), "%s/ipset.restore", dir);
	k.ipset = fopen(path, "w");
	snprintf(path, sizeof(path), "%s/iptables.restore", dir);
	k.ipt = fopen(path, "w");
	if (!k.ipset || !k.ipt) {
		perror(path);
		exit(1);
	}
	fprintf(k.ipt, "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
		":KUBE-ROUTER-FORWARD - [0:0]\n-A FORWARD -j KUBE-ROUTER-FORWARD\n");
	netpol_policy_foreach(ps, kr_pol, &k);
	netpol_set_foreach(ps, (struct np_set_ref){ 0, NP_SET_ISOLATED_IN, 0, 0 }, kr_pod, &pa);
	fprintf(k.ipt, "COMMIT\n");
	fclose(k.ipset);
	fclose(k.ipt);
	printf("kube-router shape: %u iptables rules, %u pod chains (files in %s)\n", k.rules, pa.n, dir);
	(void)kr_elem;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pods", 1, NULL, 'p' }, { "namespaces", 1, NULL, 'n' }, { "policies", 1, NULL, 'P' },
		{ "local-every", 1, NULL, 'l' }, { "changes", 1, NULL, 'c' },
		{ "kube-router", 1, NULL, 'k' }, { "dual", 0, NULL, 'd' }, { NULL, 0, NULL, 0 },
	};
	const char *kr_dir = NULL;
	struct policy_state *ps;
	struct netpol_nft *w;
	struct netpol_nft_stats st;
	struct netpol_stats ns;
	double t0, c0, s0, t_plan, *add, *relabel, *del, *noop;
	long rss0, rss1;
	int c, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
		switch (c) {
		case 'p': n_pods = (unsigned)atoi(optarg); break;
		case 'n': n_ns = (unsigned)atoi(optarg); break;
		case 'P': n_pol = (unsigned)atoi(optarg); break;
		case 'l': local_every = (unsigned)atoi(optarg); break;
		case 'c': n_changes = (unsigned)atoi(optarg); break;
		case 'k': kr_dir = optarg; break;
		case 'd': dual = true; break;
		default: return 2;
		}
	if (!n_ns || !local_every || n_changes > n_pods)
		return 2;
	add = calloc(n_changes, sizeof(double));
	relabel = calloc(n_changes, sizeof(double));
	del = calloc(n_changes, sizeof(double));
	noop = calloc(n_changes, sizeof(double));
	netpol_nft_cleanup();
	rss0 = cur_rss_kb();
	t0 = sy_now_mono();
	ps = netpol_new("bench-node");
	for (unsigned i = 0; i < n_ns; i++) {
		struct k8s_namespace *n = mk_ns(i);
		netpol_namespace_event(ps, n->meta.key, n);
		namespace_unref(n);
	}
	for (unsigned k = 0; k < n_pol; k++) {
		struct netpolicy *np = mk_pol(k);
		netpol_policy_event(ps, np->meta.key, np);
		netpolicy_unref(np);
	}
	/* the first n_changes pods are left out: they are the ones added later */
	for (unsigned j = n_changes; j < n_pods; j++) {
		struct pod *p = mk_pod(j, 0);
		netpol_pod_event(ps, p->meta.key, p);
		pod_unref(p);
	}
	t_plan = sy_now_mono() - t0;
	r = netpol_nft_new(&w);
	if (r < 0) {
		fprintf(stderr, "netlink: %s\n", strerror(-r));
		return 1;
	}
	t0 = sy_now_mono();
	c0 = cpu_s();
	s0 = sys_s();
	sync_or_die(w, ps, true, &st);
	c0 = cpu_s() - c0;
	s0 = sys_s() - s0;
	rss1 = cur_rss_kb();
	netpol_get_stats(ps, &ns);
	printf("state: %u pods (%u local), %u namespaces, %u policies, %zu set elements, "
	       "planner heap ~%.1f MB\n", ns.pods, ns.local_pods, ns.namespaces, ns.policies,
	       ns.elements, ns.bytes / 1048576.0);
	printf("full programming: decode+plan %.3f s, sync %.3f s, cpu %.3f s (user %.3f s, "
	       "system %.3f s; kernel %.3f s, %u messages, %zu elements, %u chains)\n", t_plan,
	       sy_now_mono() - t0, c0, c0 - s0, s0, st.kernel_seconds, st.msgs, st.elems_added,
	       st.chains_written);
	printf("rss: %.1f MB after programming (%.1f MB before building; peak %.1f MB)\n",
	       rss1 / 1024.0, rss0 / 1024.0, rss_kb() / 1024.0);
	t0 = sy_now_mono();
	sync_or_die(w, ps, true, &st);
	printf("verify (full sync, nothing changed): %.3f s, %u messages written\n",
	       sy_now_mono() - t0, st.msgs);

	for (unsigned i = 0; i < n_changes; i++) {
		struct pod *p = mk_pod(i, 0), *q;
		t0 = sy_now_mono();
		netpol_pod_event(ps, p->meta.key, p);
		sync_or_die(w, ps, false, &st);
		add[i] = sy_now_mono() - t0;
		pod_unref(p);
		/* relabel: another app label = other policies select it */
		q = mk_pod(i, 7);
		t0 = sy_now_mono();
		netpol_pod_event(ps, q->meta.key, q);
		sync_or_die(w, ps, false, &st);
		relabel[i] = sy_now_mono() - t0;
		if (i == 0)
			printf("one relabel: %u messages, +%zu -%zu elements, %u chains written\n",
			       st.msgs, st.elems_added, st.elems_deleted, st.chains_written);
		t0 = sy_now_mono();
		sync_or_die(w, ps, false, &st);
		noop[i] = sy_now_mono() - t0;
		t0 = sy_now_mono();
		netpol_pod_event(ps, q->meta.key, NULL);
		sync_or_die(w, ps, false, &st);
		del[i] = sy_now_mono() - t0;
		pod_unref(q);
	}
	printf("pod added    event->kernel ack: median %.3f ms, p90 %.3f ms (n=%u)\n",
	       median(add, n_changes) * 1e3, pct(add, n_changes, 0.9) * 1e3, n_changes);
	printf("pod relabel  event->kernel ack: median %.3f ms, p90 %.3f ms\n",
	       median(relabel, n_changes) * 1e3, pct(relabel, n_changes, 0.9) * 1e3);
	printf("pod deleted  event->kernel ack: median %.3f ms, p90 %.3f ms\n",
	       median(del, n_changes) * 1e3, pct(del, n_changes, 0.9) * 1e3);
	printf("empty partial sync: median %.3f ms\n", median(noop, n_changes) * 1e3);
	{
		struct netpolicy *np = mk_pol(n_pol + 100);	/* a new policy in ns-(k%NS) */
		t0 = sy_now_mono();
		netpol_policy_event(ps, np->meta.key, np);
		sync_or_die(w, ps, false, &st);
		printf("policy added event->kernel ack: %.3f ms (%u messages, %u chains)\n",
		       (sy_now_mono() - t0) * 1e3, st.msgs, st.chains_written);
		netpolicy_unref(np);
	}
	/* the kernel must equal the state: a full sync finds nothing to write */
	sync_or_die(w, ps, true, &st);
	printf("verify after the changes: %u messages (+%zu -%zu elements, %u chains)%s\n", st.msgs,
	       st.elems_added, st.elems_deleted, st.chains_written, st.msgs ? "  DRIFT" : "");
	if (st.msgs)
		return 1;
	if (kr_dir)
		kube_router(ps, kr_dir);
	netpol_nft_free(w);
	netpol_free(ps);
	free(add);
	free(relabel);
	free(del);
	free(noop);
	return 0;
}
