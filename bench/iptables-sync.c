// SPDX-License-Identifier: Apache-2.0
/*
 * bench/iptables-sync: N ClusterIP Services × E endpoints (a tenth with
 * NodePorts) as a desired state, synced by the iptables mode in the
 * current network namespace (run it inside a fresh one: it rewrites the
 * nat and filter tables).  Prints wall time and peak RSS.
 *
 *   iptables-sync -n 10000 [-e 10] [--change] [--change-layout] [--resync] [--cleanup]
 *   --change-layout: the change also drops the Service's last endpoint,
 *       so a KUBE-SEP chain goes and the table's layout changes (what
 *       bench/k8s-list.sh's EndpointSlice change does); --change alone
 *       keeps the layout.
 *   --repeat K: K such changes in a row (the endpoint back and forth; with
 *       --change-layout every change changes the layout), each printed,
 *       then the medians of their ratios (one process: same load).
 *   iptables-sync -n 10000 --restore FILE [--partial FILE]
 *       write kube-proxy's rules for the same Services as
 *       iptables-restore input (and the partial-sync input of --change).
 *   --measure-svc: also add the Services 10.255.255.254:80 and
 *       10.255.255.253:5201 → --ep-addr (last in kube-proxy's table) for
 *       data-plane runs.
 *   --dual-stack: every Service is dual-stack: also an IPv6 ClusterIP
 *       (fd00:96::/108) with E IPv6 endpoints (fd00:244::/96), and two
 *       mode instances (AF_INET: iptables, AF_INET6: ip6tables) sync each
 *       time; the figures are both instances' (seconds and RSS together,
 *       per family in v4_seconds / v6_seconds).  The change stays the
 *       IPv4 endpoint change (both instances sync, as the daemon does).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <sys/resource.h>
#include <arpa/inet.h>
#include "switchyard/config.h"
#include "switchyard/desired.h"
#include "switchyard/log.h"
#include "switchyard/mode.h"
#include "switchyard/util.h"
#include "../modes/iptables_plan.h"

static uint64_t rng = 88172645463325252ULL;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

/* A port of cip's family; eps of that family, sorted. */
static struct ds_port *mk_port_af(struct desired_state *ds, unsigned i, unsigned n_eps, bool np,
				  struct sy_addr cip, const struct sy_addr *eps, uint16_t port,
				  uint16_t tport)
{
	struct ds_port *p = xcalloc(1, sizeof(*p));
	char buf[128];

	snprintf(buf, sizeof(buf), "bench/svc-%u:http", i);
	p->name = xstrdup(buf);
	snprintf(buf, sizeof(buf), "bench/svc-%u", i);
	p->svc_key = xstrdup(buf);
	p->svc_ns = "bench";
	p->svc_name = p->svc_key + 6;
	p->port_name = "http";
	p->proto = IPPROTO_TCP;
	p->family = cip.family;
	p->cluster_ip = cip;
	p->port = port;
	p->node_port = np ? (uint16_t)(30000 + i % 2768) : 0;
	p->cluster_eps = xcalloc(n_eps + 1, sizeof(*p->cluster_eps));
	p->all_eps = xcalloc(n_eps + 1, sizeof(*p->all_eps));
	for (unsigned k = 0; k < n_eps; k++) {
		p->cluster_eps[k] = (struct ds_ep){ .addr = eps[k], .port = tport, .flags = 3,
						    .local = false };
		p->all_eps[k] = p->cluster_eps[k];
	}
	p->n_cluster_eps = p->n_all_eps = n_eps;
	p->serial = ds->next_serial++;
	return p;
}

static struct ds_port *mk_port(struct desired_state *ds, unsigned i, unsigned n_eps, bool np,
			       struct in_addr cip, const struct in_addr *eps, uint16_t port,
			       uint16_t tport)
{
	struct sy_addr a[64];

	for (unsigned k = 0; k < n_eps && k < 64; k++)
		a[k] = sy_addr_from_in4(eps[k]);
	return mk_port_af(ds, i, n_eps < 64 ? n_eps : 64, np, sy_addr_from_in4(cip), a, port, tport);
}

/* The IPv6 twin of Service i: a random ClusterIP in fd00:96::/108, e endpoints in fd00:244::/96. */
static struct ds_port *mk_port6(struct desired_state *ds, unsigned i, unsigned e)
{
	struct sy_addr cip, eps[64];
	struct in6_addr a;
	unsigned ne = 0;

	memset(&a, 0, sizeof(a));
	a.s6_addr[0] = 0xfd;
	a.s6_addr[3] = 0x96;
	a.s6_addr[13] = (uint8_t)(i >> 16 & 0x0f);	/* distinct: i itself */
	a.s6_addr[14] = (uint8_t)(i >> 8);
	a.s6_addr[15] = (uint8_t)i;
	a.s6_addr[12] = (uint8_t)(rnd() & 0xf0);
	cip = sy_addr_from_in6(&a);
	for (unsigned k = 0; k < e && k < 64; k++) {
		struct sy_addr x;
		uint32_t v = rnd();
		unsigned j;

		memset(&a, 0, sizeof(a));
		a.s6_addr[0] = 0xfd;
		a.s6_addr[3] = 0x02;
		a.s6_addr[4] = 0x44;
		a.s6_addr[12] = (uint8_t)(v >> 24);
		a.s6_addr[13] = (uint8_t)(v >> 16);
		a.s6_addr[14] = (uint8_t)(v >> 8);
		a.s6_addr[15] = (uint8_t)v;
		x = sy_addr_from_in6(&a);
		/* sorted, deduplicated as desired.c does */
		for (j = 0; j < ne && sy_addr_cmp(&eps[j], &x) < 0; j++)
			;
		if (j < ne && sy_addr_eq(&eps[j], &x))
			continue;
		memmove(&eps[j + 1], &eps[j], (ne - j) * sizeof(eps[0]));
		eps[j] = x;
		ne++;
	}
	return mk_port_af(ds, i, ne, i % 10 == 0, cip, eps, 80, 8080);
}

static double maxrss_mb(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss / 1024.0;
}

static void proto_hash(char out[32], const char *prefix, const char *s)
{
	ipt_chain_name(out, prefix, s);
}

static double thread_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Sync the instances m[0] (IPv4) and m[1] (IPv6, NULL unless dual-stack) as
 * the daemon does, one after the other; a partial sync only in the families
 * of fams (bit f: the family changed; the daemon's family_due), as the
 * endpoint changes below touch an IPv4 port only.  st sums both, secs[f]
 * each one's wall time.
 */
static double cpu_of[2];	/* the last sync_all's CPU seconds per instance */

static int sync_all(struct proxy_mode *const m[2], const struct sy_sync_input *in, bool full,
		    unsigned fams, struct mode_sync_stats *st, double secs[2])
{
	int r = 0;

	memset(st, 0, sizeof(*st));
	for (int f = 0; f < 2 && r >= 0; f++) {
		struct mode_sync_stats s = { 0 };
		double t0 = sy_now_mono(), c0 = thread_cpu();

		secs[f] = cpu_of[f] = 0;
		if (!m[f] || (!full && !(fams & (1u << f))))
			continue;
		r = iptables_mode_ops.sync(m[f], in, full, &s);
		secs[f] = sy_now_mono() - t0;
		cpu_of[f] = thread_cpu() - c0;
		st->writes += s.writes;
		st->kernel_write_seconds += s.kernel_write_seconds;
		st->kernel_write_cpu_seconds += s.kernel_write_cpu_seconds;
		st->table_reads_skipped += s.table_reads_skipped;
		st->tables_patched += s.tables_patched;
		st->tables_relaid += s.tables_relaid;
		for (unsigned t = 0; t < MODE_MAX_TABLES; t++)
			st->table_rules[t] += s.table_rules[t];
	}
	return r;
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	unsigned n = 1000, e = 10, repeat = 1;
	bool change = false, resync = false, cleanup = false, measure = false, layout = false;
	bool dual = false;
	const char *restore = NULL, *partial = NULL;
	struct in_addr ep_addr = { htonl(0x0a010002) };
	static const struct option lo[] = {
		{ "change", no_argument, 0, 'c' }, { "resync", no_argument, 0, 'r' },
		{ "change-layout", no_argument, 0, 'L' }, { "repeat", required_argument, 0, 'k' },
		{ "cleanup", no_argument, 0, 'C' }, { "restore", required_argument, 0, 'R' },
		{ "partial", required_argument, 0, 'P' }, { "measure-svc", no_argument, 0, 'm' },
		{ "ep-addr", required_argument, 0, 'a' }, { "dual-stack", no_argument, 0, 'D' },
		{ 0, 0, 0, 0 },
	};
	int o;

	while ((o = getopt_long(argc, argv, "n:e:", lo, NULL)) != -1) {
		switch (o) {
		case 'n': n = (unsigned)atoi(optarg); break;
		case 'e': e = (unsigned)atoi(optarg); break;
		case 'c': change = true; break;
		case 'L': change = layout = true; break;
		case 'k': repeat = (unsigned)atoi(optarg); break;
		case 'r': resync = true; break;
		case 'C': cleanup = true; break;
		case 'R': restore = optarg; break;
		case 'P': partial = optarg; break;
		case 'm': measure = true; break;
		case 'a': inet_pton(AF_INET, optarg, &ep_addr); break;
		case 'D': dual = true; break;
		default: return 2;
		}
	}
	struct sy_config cfg;
	config_init(&cfg);
	cfg.n_cluster_cidrs = 1;
	sy_cidr_parse("10.244.0.0/16", &cfg.cluster_cidrs[0]);
	if (dual)
		sy_cidr_parse("fd00:244::/48", &cfg.cluster_cidrs[cfg.n_cluster_cidrs++]);
	if (cleanup) {
		int r = iptables_mode_ops.cleanup(&cfg, NULL);
		printf("cleanup: %s\n", r < 0 ? strerror(-r) : "ok");
		config_free(&cfg);
		return r < 0;
	}

	struct desired_state ds;
	desired_init(&ds, &cfg);
	desired_set_node(&ds, "bench-node", NULL, NULL, 0, true);
	struct in_addr *eps = xcalloc(e + 1, sizeof(*eps));
	struct ds_port **ports = xcalloc(n + 2, sizeof(*ports));
	struct hmap used;
	hmap_init(&used);
	char (*keys)[20] = xcalloc(n + 1, sizeof(*keys));
	for (unsigned i = 0; i < n; i++) {
		struct in_addr cip;
		do {	/* distinct random ClusterIPs in 10.96.0.0/12, like the allocator */
			cip.s_addr = htonl(0x0a600000 | (rnd() & 0x000fffff));
			snprintf(keys[i], sizeof(keys[i]), "%08x", cip.s_addr);
		} while (hmap_get(&used, keys[i]) || (ntohl(cip.s_addr) & 0xff) == 0);
		hmap_put(&used, keys[i], keys[i]);
		for (unsigned k = 0; k < e; k++)
			eps[k].s_addr = htonl(0x0af40000 | (rnd() & 0xffff));
		/* sorted, deduplicated as desired.c does */
		for (unsigned a = 0; a < e; a++)
			for (unsigned b = a + 1; b < e; b++)
				if (ntohl(eps[b].s_addr) < ntohl(eps[a].s_addr)) {
					struct in_addr t = eps[a]; eps[a] = eps[b]; eps[b] = t;
				}
		unsigned ne = 0;
		for (unsigned k = 0; k < e; k++)
			if (!ne || eps[k].s_addr != eps[ne - 1].s_addr)
				eps[ne++] = eps[k];
		ports[i] = mk_port(&ds, i, ne, i % 10 == 0, cip, eps, 80, 8080);
		hmap_put(&ds.ports, ports[i]->name, ports[i]);
		if (dual) {
			struct ds_port *p6 = mk_port6(&ds, i, e);

			hmap_put(&ds.ports6, p6->name, p6);
		}
	}
	if (measure) {
		struct in_addr cip = { htonl(0x0affffFE) };
		ports[n] = mk_port(&ds, 999999, 1, false, cip, &ep_addr, 80, 80);
		hmap_put(&ds.ports, ports[n]->name, ports[n]);
		cip.s_addr = htonl(0x0affffFD);
		ports[n + 1] = mk_port(&ds, 999998, 1, false, cip, &ep_addr, 5201, 5201);
		hmap_put(&ds.ports, ports[n + 1]->name, ports[n + 1]);
	}

	if (restore) {
		FILE *f = fopen(restore, "w");
		if (!f)
			return 1;
		/* kube-proxy's layout (large-cluster mode: no comments) */
		fprintf(f, "*filter\n:KUBE-SERVICES - [0:0]\n:KUBE-EXTERNAL-SERVICES - [0:0]\n"
			":KUBE-FORWARD - [0:0]\n:KUBE-NODEPORTS - [0:0]\n:KUBE-PROXY-FIREWALL - [0:0]\n"
			"-A INPUT -m conntrack --ctstate NEW -j KUBE-PROXY-FIREWALL\n"
			"-A INPUT -j KUBE-NODEPORTS\n"
			"-A INPUT -m conntrack --ctstate NEW -j KUBE-EXTERNAL-SERVICES\n"
			"-A FORWARD -m conntrack --ctstate NEW -j KUBE-PROXY-FIREWALL\n"
			"-A FORWARD -j KUBE-FORWARD\n"
			"-A FORWARD -m conntrack --ctstate NEW -j KUBE-SERVICES\n"
			"-A FORWARD -m conntrack --ctstate NEW -j KUBE-EXTERNAL-SERVICES\n"
			"-A OUTPUT -m conntrack --ctstate NEW -j KUBE-PROXY-FIREWALL\n"
			"-A OUTPUT -m conntrack --ctstate NEW -j KUBE-SERVICES\n"
			"-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n"
			"-A KUBE-FORWARD -m mark --mark 0x4000/0x4000 -j ACCEPT\n"
			"-A KUBE-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
			"COMMIT\n");
		fprintf(f, "*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-NODEPORTS - [0:0]\n"
			":KUBE-POSTROUTING - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n");
		unsigned total = n + (measure ? 2 : 0);
		for (unsigned i = 0; i < total; i++) {
			struct ds_port *p = ports[i];
			char base[160], h[32];
			snprintf(base, sizeof(base), "%stcp", p->name);
			proto_hash(h, "KUBE-SVC-", base);
			fprintf(f, ":%s - [0:0]\n", h);
			if (p->node_port) {
				proto_hash(h, "KUBE-EXT-", base);
				fprintf(f, ":%s - [0:0]\n", h);
			}
			for (unsigned k = 0; k < p->n_cluster_eps; k++) {
				char sb[200];
				snprintf(sb, sizeof(sb), "%s%s:%u", base, sy_addr_str(&p->cluster_eps[k].addr),
					 p->cluster_eps[k].port);
				proto_hash(h, "KUBE-SEP-", sb);
				fprintf(f, ":%s - [0:0]\n", h);
			}
		}
		fprintf(f, "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
			"-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n"
			"-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING\n"
			"-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n"
			"-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000\n"
			"-A KUBE-POSTROUTING -j MASQUERADE --random-fully\n"
			"-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n");
		for (unsigned i = 0; i < total; i++) {
			struct ds_port *p = ports[i];
			char base[160], svc[32], ext[32], cip[20];
			snprintf(base, sizeof(base), "%stcp", p->name);
			proto_hash(svc, "KUBE-SVC-", base);
			proto_hash(ext, "KUBE-EXT-", base);
			snprintf(cip, sizeof(cip), "%s", sy_addr_str(&p->cluster_ip));
			fprintf(f, "-A KUBE-SERVICES -d %s/32 -p tcp -m tcp --dport %u -j %s\n", cip, p->port, svc);
			if (p->node_port) {
				fprintf(f, "-A KUBE-NODEPORTS -p tcp -m tcp --dport %u -j %s\n", p->node_port, ext);
				fprintf(f, "-A %s -j KUBE-MARK-MASQ\n-A %s -j %s\n", ext, ext, svc);
			}
			fprintf(f, "-A %s ! -s 10.244.0.0/16 -d %s/32 -p tcp -m tcp --dport %u -j KUBE-MARK-MASQ\n",
				svc, cip, p->port);
			for (unsigned k = 0; k < p->n_cluster_eps; k++) {
				char sb[200], sep[32];
				const char *ip = sy_addr_str(&p->cluster_eps[k].addr);
				snprintf(sb, sizeof(sb), "%s%s:%u", base, ip, p->cluster_eps[k].port);
				proto_hash(sep, "KUBE-SEP-", sb);
				if (k + 1 < p->n_cluster_eps)
					fprintf(f, "-A %s -m statistic --mode random --probability %0.10f -j %s\n",
						svc, 1.0 / (p->n_cluster_eps - k), sep);
				else
					fprintf(f, "-A %s -j %s\n", svc, sep);
				fprintf(f, "-A %s -s %s/32 -j KUBE-MARK-MASQ\n", sep, ip);
				fprintf(f, "-A %s -p tcp -m tcp -j DNAT --to-destination %s:%u\n", sep, ip,
					p->cluster_eps[k].port);
			}
		}
		fprintf(f, "-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\nCOMMIT\n");
		fclose(f);
		if (partial) {
			/* kube-proxy's partial sync after the --change below: only the changed chains */
			struct ds_port *p = ports[n / 2];
			char base[160], svc[32], sb[200], sep_old[32], sep_new[32];
			FILE *g = fopen(partial, "w");
			if (!g)
				return 1;
			snprintf(base, sizeof(base), "%stcp", p->name);
			proto_hash(svc, "KUBE-SVC-", base);
			fprintf(g, "*filter\n:KUBE-SERVICES - [0:0]\n:KUBE-EXTERNAL-SERVICES - [0:0]\n"
				":KUBE-FORWARD - [0:0]\n:KUBE-NODEPORTS - [0:0]\n:KUBE-PROXY-FIREWALL - [0:0]\n"
				"-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n"
				"-A KUBE-FORWARD -m mark --mark 0x4000/0x4000 -j ACCEPT\n"
				"-A KUBE-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
				"COMMIT\n*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-NODEPORTS - [0:0]\n"
				":KUBE-POSTROUTING - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n:%s - [0:0]\n", svc);
			snprintf(sb, sizeof(sb), "%s%s:%u", base, sy_addr_str(&p->cluster_eps[0].addr),
				 p->cluster_eps[0].port);
			proto_hash(sep_old, "KUBE-SEP-", sb);
			snprintf(sb, sizeof(sb), "%s%s:%u", base, "10.250.0.1", p->cluster_eps[0].port);
			proto_hash(sep_new, "KUBE-SEP-", sb);
			/* the old SEP chain is flushed (declared) then deleted, as kube-proxy does */
			fprintf(g, ":%s - [0:0]\n:%s - [0:0]\n", sep_new, sep_old);
			fprintf(g, "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n"
				"-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000\n"
				"-A KUBE-POSTROUTING -j MASQUERADE --random-fully\n"
				"-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n");
			/* KUBE-SERVICES is rewritten whole in every kube-proxy sync */
			for (unsigned i = 0; i < n; i++) {
				char s2[32], b2[160];
				snprintf(b2, sizeof(b2), "%stcp", ports[i]->name);
				proto_hash(s2, "KUBE-SVC-", b2);
				fprintf(g, "-A KUBE-SERVICES -d %s/32 -p tcp -m tcp --dport %u -j %s\n",
					sy_addr_str(&ports[i]->cluster_ip), ports[i]->port, s2);
			}
			fprintf(g, "-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n");
			fprintf(g, "-A %s ! -s 10.244.0.0/16 -d %s/32 -p tcp -m tcp --dport %u -j KUBE-MARK-MASQ\n",
				svc, sy_addr_str(&p->cluster_ip), p->port);
			/* the new endpoint replaces the first one; the others keep their chains */
			for (unsigned k = 0; k < p->n_cluster_eps; k++) {
				char sep[32];
				const char *ip = k ? sy_addr_str(&p->cluster_eps[k].addr) : "10.250.0.1";
				snprintf(sb, sizeof(sb), "%s%s:%u", base, ip, p->cluster_eps[k].port);
				proto_hash(sep, "KUBE-SEP-", sb);
				if (k + 1 < p->n_cluster_eps)
					fprintf(g, "-A %s -m statistic --mode random --probability %0.10f -j %s\n",
						svc, 1.0 / (p->n_cluster_eps - k), sep);
				else
					fprintf(g, "-A %s -j %s\n", svc, sep);
			}
			fprintf(g, "-A %s -s 10.250.0.1/32 -j KUBE-MARK-MASQ\n", sep_new);
			fprintf(g, "-A %s -p tcp -m tcp -j DNAT --to-destination 10.250.0.1:%u\n", sep_new,
				p->cluster_eps[0].port);
			fprintf(g, "-X %s\nCOMMIT\n", sep_old);
			fclose(g);
		}
		printf("restore input written: %s\n", restore);
		return 0;
	}

	struct proxy_mode *m[2] = { NULL, NULL };
	char err[256] = "";
	struct mode_sync_stats st = { 0 };
	double secs[2];
	int r = 0;
	struct sy_sync_input in = { .services = &ds };

	for (int f = 0; f < (dual ? 2 : 1) && r >= 0; f++) {
		r = iptables_mode_ops.init(&m[f], &cfg, f ? AF_INET6 : AF_INET, NULL, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "init: %s\n", err);
			return 1;
		}
	}
	double c0 = thread_cpu(), t0 = sy_now_mono();
	r = sync_all(m, &in, true, 3, &st, secs);
	double t1 = sy_now_mono(), c1 = thread_cpu();
	printf("full_sync services=%u endpoints=%u%s seconds=%.3f v4_seconds=%.3f v6_seconds=%.3f "
	       "cpu_seconds=%.3f v4_cpu=%.3f v6_cpu=%.3f maxrss_mb=%.1f nat_rules=%llu "
	       "filter_rules=%llu writes=%llu result=%s\n", n, e, dual ? " dual_stack=1" : "", t1 - t0,
	       secs[0], secs[1], c1 - c0, cpu_of[0], cpu_of[1], maxrss_mb(),
	       (unsigned long long)proxy_mode_table_rules(&iptables_mode_ops, &st, "nat"),
	       (unsigned long long)proxy_mode_table_rules(&iptables_mode_ops, &st, "filter"),
	       (unsigned long long)st.writes, r < 0 ? strerror(-r) : "ok");
	if (r < 0)
		return 1;
	if (resync) {
		memset(&st, 0, sizeof(st));
		t0 = sy_now_mono();
		r = sync_all(m, &in, true, 3, &st, secs);
		printf("noop_resync seconds=%.3f writes=%llu result=%s\n", sy_now_mono() - t0,
		       (unsigned long long)st.writes, r < 0 ? strerror(-r) : "ok");
	}
	double ratios[64], cpu_ratios[64];
	unsigned n_ratios = 0;
	for (unsigned rep = 0; change && rep < repeat && rep < 64; rep++) {
		/*
		 * the first endpoint of the middle Service moves to 10.250.0.1 (then
		 * back and forth between .1 and .2 on repeats); with --change-layout
		 * every other change also drops its last endpoint
		 */
		struct ds_port *old = hmap_get(&ds.ports, ports[n / 2]->name);
		struct in_addr neps[64];
		unsigned ne = ports[n / 2]->n_cluster_eps;
		for (unsigned k = 0; k < ne && k < 64; k++)
			neps[k] = ports[n / 2]->cluster_eps[k].addr.v4;
		neps[0].s_addr = htonl(0x0afa0001 + rep % 2);
		if (layout && ne > 1 && rep % 2 == 0)
			ne--;	/* one endpoint gone: its chain too */
		struct ds_port *np = mk_port(&ds, n / 2, ne, old->node_port != 0, old->cluster_ip.v4, neps,
					     80, 8080);
		hmap_put(&ds.ports, np->name, np);
		c0 = thread_cpu();
		t0 = sy_now_mono();
		r = sync_all(m, &in, false, 1, &st, secs);
		t1 = sy_now_mono();
		c1 = thread_cpu();
		/* wall times swing on a shared machine; CPU time (user + sys) does not */
		printf("endpoint_change seconds=%.3f v4_seconds=%.3f v6_seconds=%.3f "
		       "kernel_replace_seconds=%.3f ratio=%.2f "
		       "cpu_seconds=%.3f kernel_replace_cpu_seconds=%.3f cpu_ratio=%.2f "
		       "tables_not_read=%u tables_patched=%u tables_relaid=%u maxrss_mb=%.1f writes=%llu "
		       "result=%s\n",
		       t1 - t0, secs[0], secs[1],
		       st.kernel_write_seconds, (t1 - t0) / st.kernel_write_seconds, c1 - c0,
		       st.kernel_write_cpu_seconds, (c1 - c0) / st.kernel_write_cpu_seconds,
		       st.table_reads_skipped, st.tables_patched, st.tables_relaid, maxrss_mb(),
		       (unsigned long long)st.writes, r < 0 ? strerror(-r) : "ok");
		if (old != ports[n / 2])
			ds_port_free(old);
		if (r < 0)
			break;
		ratios[n_ratios] = (t1 - t0) / st.kernel_write_seconds;
		cpu_ratios[n_ratios++] = (c1 - c0) / st.kernel_write_cpu_seconds;
	}
	if (n_ratios > 1) {
		qsort(ratios, n_ratios, sizeof(double), dbl_cmp);
		qsort(cpu_ratios, n_ratios, sizeof(double), dbl_cmp);
		printf("endpoint_change_median changes=%u ratio=%.2f cpu_ratio=%.2f\n", n_ratios,
		       ratios[n_ratios / 2], cpu_ratios[n_ratios / 2]);
	}
	iptables_mode_ops.free(m[0]);
	iptables_mode_ops.free(m[1]);
	return r < 0;
}
