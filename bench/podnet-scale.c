// SPDX-License-Identifier: Apache-2.0
/*
 * bench/podnet-scale [vxlan|host-gw|directrouting] [PEERS] [CHANGES]
 *
 * The pod network's programming cost, measured on the real kernel inside a
 * private network namespace (unshare(CLONE_NEWNET): nothing outside it is
 * touched, and it vanishes when the program exits).  A veth pair plays the
 * underlay (10.200.0.1/16).  PEERS Node objects (default 1000) appear in
 * the cache at once; the program times the sync that writes every route /
 * neighbour / FDB entry, counts what the kernel then holds (netlink dump),
 * and times CHANGES (default 200) single-peer changes (address flips) with
 * all peers present, a no-change sync, a full resync (kernel re-read), and
 * one peer leaving / joining.  Prints numbers; never passes or fails on time.
 * The daemon's log lines go to /dev/null (PODNET_BENCH_LOG=1 keeps them).
 */
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include "switchyard/config.h"
#include "switchyard/log.h"
#include "switchyard/model.h"
#include "switchyard/nlerr.h"
#include "switchyard/podnet.h"
#include "switchyard/util.h"
#include "../podnet/podnet_int.h"

static FILE *out_err;

static void die(const char *what, int r)
{
	fprintf(out_err ? out_err : stderr, "podnet-scale: %s: %s\n", what, strerror(r < 0 ? -r : r));
	exit(1);
}

/* The pod network's reports, logged as the daemon logs them (part of the cost). */
static void report_log(void *arg, char sev, const char *msg)
{
	log_emit(sev, __FILE__, __LINE__, "%s", msg);
}

static void setup_underlay(void)
{
	struct nl_sock *sk;
	struct rtnl_link *l, *peer, *chg;
	struct rtnl_addr *a;
	struct nl_addr *local;
	struct nl_cache *cache;
	const char *names[] = { "lo", "ul0", "ul1" };
	int r;

	if ((r = pn_nl_open(&sk)) < 0)
		die("netlink", r);
	l = rtnl_link_veth_alloc();
	rtnl_link_set_name(l, "ul0");
	peer = rtnl_link_veth_get_peer(l);
	rtnl_link_set_name(peer, "ul1");
	rtnl_link_put(peer);
	if ((r = rtnl_link_add(sk, l, NLM_F_CREATE | NLM_F_EXCL)) < 0)
		die("veth", sy_nl_errno(r));
	rtnl_link_put(l);
	rtnl_link_alloc_cache(sk, AF_UNSPEC, &cache);
	for (unsigned i = 0; i < 3; i++) {
		l = rtnl_link_get_by_name(cache, names[i]);
		chg = rtnl_link_alloc();
		rtnl_link_set_flags(chg, IFF_UP);
		if ((r = rtnl_link_change(sk, l, chg, 0)) < 0)
			die("link up", sy_nl_errno(r));
		rtnl_link_put(chg);
		rtnl_link_put(l);
	}
	a = rtnl_addr_alloc();
	nl_addr_parse("10.200.0.1/16", AF_INET, &local);
	rtnl_addr_set_local(a, local);
	rtnl_addr_set_ifindex(a, if_nametoindex("ul0"));
	if ((r = rtnl_addr_add(sk, a, 0)) < 0)
		die("address", sy_nl_errno(r));
	nl_addr_put(local);
	rtnl_addr_put(a);
	nl_cache_free(cache);
	pn_nl_close(sk);
}

static struct in_addr peer_ip(unsigned i, unsigned flip)
{
	struct in_addr a = { htonl(0x0ac80000u + 10 + i + flip * 20000) };	/* 10.200.x.y */

	return a;
}

static void apply_node(struct cache *c, const char *name, struct in_addr ip, unsigned subnet)
{
	char buf[512], ipb[INET_ADDRSTRLEN];
	struct json_object *o;

	snprintf(ipb, sizeof(ipb), "%s", sy_ip4_str(ip));
	snprintf(buf, sizeof(buf),
		 "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"%s\"},"
		 "\"spec\":{\"podCIDR\":\"10.%u.%u.0/24\"},"
		 "\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"%s\"}]}}",
		 name, 100 + subnet / 256, subnet % 256, ipb);
	o = json_tokener_parse(buf);
	if (cache_apply(c, SY_KIND_NODE, CACHE_UPSERT, o) < 0)
		die("cache_apply", EINVAL);
	json_object_put(o);
}

static void delete_node(struct cache *c, const char *name)
{
	char buf[256];
	struct json_object *o;

	snprintf(buf, sizeof(buf),
		 "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"%s\"}}", name);
	o = json_tokener_parse(buf);
	cache_apply(c, SY_KIND_NODE, CACHE_DELETE, o);
	json_object_put(o);
}

struct counts {
	unsigned routes, neighs, fdbs;
};

static void count_cb(void *arg, const struct pn_entry *e)
{
	struct counts *c = arg;

	if (e->type == PN_ROUTE)
		c->routes++;
	else if (e->type == PN_NEIGH)
		c->neighs++;
	else
		c->fdbs++;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double last_cpu_ms;

/* Wall time in ms; the CPU time (user + system, i.e. including the kernel's
 * netlink work done in our context) goes to last_cpu_ms. */
static double timed_sync(struct podnet *p, struct cache *c, bool full)
{
	double t0 = sy_now_mono(), c0 = cpu_now();
	char err[600];
	int r = podnet_sync(p, c, full, err, sizeof(err));

	if (r < 0) {
		fprintf(out_err, "podnet-scale: podnet_sync: %s\n", err);
		exit(1);
	}
	last_cpu_ms = (cpu_now() - c0) * 1000;
	return (sy_now_mono() - t0) * 1000;
}

int main(int argc, char **argv)
{
	const char *backend = argc > 1 ? argv[1] : "vxlan";
	unsigned peers = argc > 2 ? (unsigned)atoi(argv[2]) : 1000;
	unsigned changes = argc > 3 ? (unsigned)atoi(argv[3]) : 200;
	char dir[] = "/tmp/podnet-bench.XXXXXX", path[256], name[64], cmd[512];
	struct sy_config cfg;
	struct podnet *p;
	struct cache *c;
	struct nl_sock *sk;
	struct counts cnt = { 0 };
	char err[256];
	double *t, *tc, first, first_cpu, noop, full, leave, join;
	int r, vx_ifindex = 0;
	struct pn_link vl;
	FILE *f;

	if (unshare(CLONE_NEWNET) < 0)
		die("unshare(CLONE_NEWNET) (run as root)", errno);
	/* The daemon's log lines are part of the cost; they go to /dev/null (-v to see them). */
	out_err = fdopen(dup(2), "w");
	if (!getenv("PODNET_BENCH_LOG") && !freopen("/dev/null", "w", stderr))
		die("/dev/null", errno);
	log_verbosity = 0;
	setup_underlay();
	if (!mkdtemp(dir))
		die("mkdtemp", errno);
	snprintf(path, sizeof(path), "%s/net-conf.json", dir);
	f = fopen(path, "w");
	if (!strcmp(backend, "host-gw"))
		fprintf(f, "{\"Network\":\"10.0.0.0/8\",\"Backend\":{\"Type\":\"host-gw\"}}\n");
	else if (!strcmp(backend, "directrouting"))
		fprintf(f, "{\"Network\":\"10.0.0.0/8\","
			"\"Backend\":{\"Type\":\"vxlan\",\"DirectRouting\":true}}\n");
	else
		fprintf(f, "{\"Network\":\"10.0.0.0/8\",\"Backend\":{\"Type\":\"vxlan\"}}\n");
	fclose(f);
	config_init(&cfg);
	cfg.pod_network = true;
	free(cfg.net_conf);
	cfg.net_conf = xstrdup(path);
	snprintf(path, sizeof(path), "%s/subnet.env", dir);
	free(cfg.subnet_file);
	cfg.subnet_file = xstrdup(path);
	snprintf(path, sizeof(path), "%s/cni", dir);
	free(cfg.cni_conf_dir);
	cfg.cni_conf_dir = xstrdup(path);
	free(cfg.iface);
	cfg.iface = xstrdup("ul0");

	r = podnet_new(&p, &cfg, "self", &(struct sy_report){ report_log, NULL }, err, sizeof(err));
	if (r < 0) {
		fprintf(out_err, "podnet_new: %s\n", err);
		return 1;
	}
	c = cache_new(NULL, NULL);
	apply_node(c, "self", (struct in_addr){ htonl(0x0ac80001u) }, 0);
	timed_sync(p, c, true);		/* device, files, chain: not part of the peer numbers */

	for (unsigned i = 0; i < peers; i++) {
		snprintf(name, sizeof(name), "node-%05u", i);
		apply_node(c, name, peer_ip(i, 0), i + 1);
	}
	first = timed_sync(p, c, false);
	first_cpu = last_cpu_ms;
	if ((r = pn_nl_open(&sk)) < 0)
		die("netlink", r);
	if (pn_nl_link_get(sk, "sy-vx.1", &vl) == 0)
		vx_ifindex = vl.ifindex;
	pn_nl_dump(sk, vx_ifindex, count_cb, &cnt);

	t = xcalloc(changes ? changes : 1, sizeof(*t));
	tc = xcalloc(changes ? changes : 1, sizeof(*tc));
	for (unsigned k = 0; k < changes; k++) {
		unsigned i = (k * 7919) % peers;

		snprintf(name, sizeof(name), "node-%05u", i);
		apply_node(c, name, peer_ip(i, (k / peers + 1) % 2), i + 1);
		t[k] = timed_sync(p, c, false);
		tc[k] = last_cpu_ms;
	}
	noop = timed_sync(p, c, false);
	full = timed_sync(p, c, true);
	delete_node(c, "node-00000");
	leave = timed_sync(p, c, false);
	apply_node(c, "node-00000", peer_ip(0, 0), 1);
	join = timed_sync(p, c, false);
	qsort(t, changes, sizeof(*t), cmp_double);
	qsort(tc, changes, sizeof(*tc), cmp_double);

	printf("backend=%s peers=%u\n", backend, peers);
	printf("  all peers appear at once: %.1f ms until every entry is in the kernel "
	       "(CPU %.1f ms; kernel holds %u routes, %u neighbours, %u FDB entries)\n",
	       first, first_cpu, cnt.routes, cnt.neighs, cnt.fdbs);
	if (changes) {
		printf("  one peer changes its address with %u present (%u runs): median %.3f ms, "
		       "p99 %.3f ms, max %.3f ms\n", peers, changes, t[changes / 2],
		       t[changes * 99 / 100], t[changes - 1]);
		printf("    CPU time of those syncs (user+system): median %.3f ms, p99 %.3f ms, "
		       "max %.3f ms\n", tc[changes / 2], tc[changes * 99 / 100], tc[changes - 1]);
	}
	printf("  sync with nothing changed: %.3f ms\n", noop);
	printf("  full resync (kernel re-read and compared): %.1f ms\n", full);
	printf("  one peer leaves: %.3f ms, joins: %.3f ms\n", leave, join);

	podnet_free(p);
	cache_free(c);
	pn_nl_close(sk);
	free(t);
	free(tc);
	config_free(&cfg);
	{
		static const char *const files[] = { "net-conf.json", "subnet.env",
						     "cni/10-switchyard.conflist" };

		for (unsigned i = 0; i < ARRAY_SIZE(files); i++) {
			snprintf(cmd, sizeof(cmd), "%s/%s", dir, files[i]);
			unlink(cmd);
		}
		snprintf(cmd, sizeof(cmd), "%s/cni", dir);
		rmdir(cmd);
		if (rmdir(dir) < 0)
			fprintf(out_err, "podnet-scale: could not remove %s: %s\n", dir,
				strerror(errno));
	}
	return 0;
}
