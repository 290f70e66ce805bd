// SPDX-License-Identifier: Apache-2.0
/*
 * The IPVS mode's ipset and iptables layers against the real kernel, in a
 * private network namespace (unshare(CLONE_NEWNET); skipped when not root):
 * sets created once, entries queued/committed/counted/read back, the
 * constant rules written once and left alone when already right (0 writes),
 * drift in a chain repaired, cleanup removing chains, jumps and sets.
 * The IPVS genl layer and kube-ipvs0 need a kernel with ip_vs and dummy:
 * they are proven in the VM (tests/vm/).
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "helpers.h"
#include "switchyard/util.h"
#include "../../modes/ipvs_int.h"

static bool in_netns;

static int setup_netns(void **state)
{
	if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0)
		return 0;
	in_netns = true;
	/* the namespace is ours alone: never wait on the host's shared /run/xtables.lock */
	setenv("SY_XTABLES_LOCK", "/tmp/sy-test-ipvs-xtables.lock", 1);
	return 0;
}

#define NEED_NETNS() do { if (!in_netns) skip(); } while (0)

/* output of a command run inside our namespace (system() inherits it) */
static char *run(const char *cmd)
{
	static char buf[65536];
	FILE *f = popen(cmd, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	pclose(f);
	return buf;
}

struct seen {
	char e[8][64];
	unsigned n;
};

static void collect(void *arg, enum ipvs_set_id id, const char *entry)
{
	struct seen *s = arg;

	if (s->n < 8)
		snprintf(s->e[s->n++], 64, "%d %s", (int)id, entry);
}

static void test_sets(void **state)
{
	struct ipvs_set *s;
	uint64_t w = 0;
	long c[IPVS_SET_MAX];
	struct seen seen = { .n = 0 };

	NEED_NETNS();
	assert_int_equal(ipvs_set_open(&s), 0);
	assert_int_equal(ipvs_set_ensure(s, &w), 0);
	assert_int_equal(w, IPVS_SET_MAX);
	w = 0;
	assert_int_equal(ipvs_set_ensure(s, &w), 0);
	assert_int_equal(w, 0);		/* all there: nothing written */
	assert_non_null(strstr(run("ipset list -n"), "SY-LOOP-BACK\n"));

	ipvs_set_queue(s, true, IPVS_SET_CLUSTER_IP, "10.96.0.10,tcp:80");
	ipvs_set_queue(s, true, IPVS_SET_CLUSTER_IP, "10.96.0.10,udp:53");
	ipvs_set_queue(s, true, IPVS_SET_LOOP_BACK, "10.0.2.2,tcp:8080,10.0.2.2");
	ipvs_set_queue(s, true, IPVS_SET_NODE_PORT_TCP, "30080");
	ipvs_set_queue(s, true, IPVS_SET_LB_SOURCE_CIDR, "192.0.2.60,tcp:80,10.0.1.0/24");
	assert_int_equal(ipvs_set_commit(s), 5);
	/* idempotent: adding again and deleting a missing entry are fine */
	ipvs_set_queue(s, true, IPVS_SET_CLUSTER_IP, "10.96.0.10,tcp:80");
	ipvs_set_queue(s, false, IPVS_SET_CLUSTER_IP, "10.96.9.9,tcp:80");
	assert_int_equal(ipvs_set_commit(s), 2);
	assert_int_equal(system("ipset -q test SY-CLUSTER-IP 10.96.0.10,udp:53"), 0);
	assert_int_equal(system("ipset -q test SY-NODE-PORT-TCP 30080"), 0);
	assert_int_equal(system("ipset -q test SY-LOAD-BALANCER-SOURCE-CIDR 192.0.2.60,tcp:80,10.0.1.7"), 0);

	assert_int_equal(ipvs_set_counts(s, c), 0);
	assert_int_equal(c[IPVS_SET_CLUSTER_IP], 2);
	assert_int_equal(c[IPVS_SET_LOOP_BACK], 1);
	assert_int_equal(c[IPVS_SET_NODE_PORT_TCP], 1);
	assert_int_equal(c[IPVS_SET_EXTERNAL_IP], 0);
	/* a read after a terse listing still sees entries (libipset options are sticky) */
	assert_int_equal(ipvs_set_read(s, IPVS_SET_CLUSTER_IP, collect, &seen), 0);
	assert_int_equal(seen.n, 2);
	assert_true((!strcmp(seen.e[0], "0 10.96.0.10,tcp:80") && !strcmp(seen.e[1], "0 10.96.0.10,udp:53")) ||
		    (!strcmp(seen.e[1], "0 10.96.0.10,tcp:80") && !strcmp(seen.e[0], "0 10.96.0.10,udp:53")));
	seen.n = 0;
	assert_int_equal(ipvs_set_read(s, IPVS_SET_NODE_PORT_TCP, collect, &seen), 0);
	assert_int_equal(seen.n, 1);
	assert_string_equal(seen.e[0], "8 30080");
	seen.n = 0;
	assert_int_equal(ipvs_set_read(s, IPVS_SET_LOOP_BACK, collect, &seen), 0);
	assert_string_equal(seen.e[0], "1 10.0.2.2,tcp:8080,10.0.2.2");

	ipvs_set_queue(s, false, IPVS_SET_CLUSTER_IP, "10.96.0.10,udp:53");
	assert_int_equal(ipvs_set_commit(s), 1);
	assert_int_not_equal(system("ipset -q test SY-CLUSTER-IP 10.96.0.10,udp:53"), 0);
	ipvs_set_close(s);
}

static void test_iptables(void **state)
{
	struct ipvs_ipt_params p = { .mark = 0x4000 };
	struct sy_cidr cidr;
	uint64_t w = 0, nat = 0, filter = 0;
	char err[256] = "";
	char *out;

	NEED_NETNS();
	/* the sets exist (test_sets ran first) */
	assert_int_equal(ipvs_ipt_sync(&p, &w, &nat, &filter, err, sizeof(err)), 0);
	assert_int_equal(w, 2);		/* one commit per table */
	assert_true(nat > 10 && filter >= 4);
	out = run("iptables-legacy-save -t nat");
	assert_non_null(strstr(out, "-A PREROUTING -j SY-IPVS-SERVICES"));
	assert_non_null(strstr(out, "-A SY-IPVS-POSTROUTING -m set --match-set SY-LOOP-BACK dst,dst,src -j MASQUERADE"));
	assert_non_null(strstr(out, "-A SY-IPVS-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000"));
	assert_non_null(strstr(out, "-A SY-IPVS-SERVICES -m addrtype --dst-type LOCAL -j SY-IPVS-NODE-PORT"));
	/* no --cluster-cidr: the node's connections from a ClusterIP source */
	assert_non_null(strstr(out, "-A SY-IPVS-SERVICES -m set --match-set SY-CLUSTER-IP src,dst -j SY-IPVS-MARK-MASQ"));
	assert_non_null(strstr(out, "-A SY-IPVS-LOAD-BALANCER -m addrtype --src-type LOCAL -j SY-IPVS-MARK-MASQ"));
	assert_non_null(strstr(out, "-A SY-IPVS-EXTERNAL -m addrtype --src-type LOCAL -j SY-IPVS-MARK-MASQ"));
	out = run("iptables-legacy-save -t filter");
	assert_non_null(strstr(out, "-A SY-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set SY-NO-ENDPOINTS dst,dst -j REJECT"));
	/* without a pod CIDR nothing is dropped for a missing local endpoint */
	assert_null(strstr(out, "SY-NO-LOCAL-ENDPOINTS"));

	/* unchanged: no commit at all */
	w = 0;
	assert_int_equal(ipvs_ipt_sync(&p, &w, &nat, &filter, err, sizeof(err)), 0);
	assert_int_equal(w, 0);

	/* drift: a rule deleted by hand and a duplicate jump are repaired */
	assert_int_equal(system("iptables-legacy -t nat -D SY-IPVS-MARK-MASQ 1 && "
				"iptables-legacy -t nat -A PREROUTING -j SY-IPVS-SERVICES"), 0);
	w = 0;
	assert_int_equal(ipvs_ipt_sync(&p, &w, &nat, &filter, err, sizeof(err)), 0);
	assert_int_equal(w, 1);
	out = run("iptables-legacy-save -t nat");
	assert_non_null(strstr(out, "-A SY-IPVS-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000"));
	assert_null(strstr(strstr(out, "-A PREROUTING -j SY-IPVS-SERVICES") + 1,
			   "-A PREROUTING -j SY-IPVS-SERVICES"));

	/* another config (cluster CIDR): both tables change */
	assert_int_equal(sy_cidr_parse("10.244.0.0/16", &cidr), 0);
	p.cluster_cidrs = &cidr;
	p.n_cluster_cidrs = 1;
	w = 0;
	assert_int_equal(ipvs_ipt_sync(&p, &w, &nat, &filter, err, sizeof(err)), 0);
	assert_int_equal(w, 2);
	out = run("iptables-legacy-save -t nat");
	assert_non_null(strstr(out, "-A SY-IPVS-SERVICES ! -s 10.244.0.0/16 -m set --match-set SY-CLUSTER-IP dst,dst -j SY-IPVS-MARK-MASQ"));
	assert_null(strstr(out, "SY-CLUSTER-IP src,dst"));
	/* eTP=Local without a local endpoint: only traffic from outside the
	 * pod network is dropped */
	assert_non_null(strstr(run("iptables-legacy-save -t filter"),
			       "-A SY-IPVS-FILTER ! -s 10.244.0.0/16 -m conntrack --ctstate NEW -m set --match-set SY-NO-LOCAL-ENDPOINTS dst,dst -j DROP"));

	assert_int_equal(ipvs_ipt_cleanup(err, sizeof(err)), 0);
	assert_null(strstr(run("iptables-legacy-save"), "SY-IPVS"));
	/* twice is fine */
	assert_int_equal(ipvs_ipt_cleanup(err, sizeof(err)), 0);
}

static void test_set_destroy(void **state)
{
	struct ipvs_set *s;

	NEED_NETNS();
	assert_int_equal(ipvs_set_open(&s), 0);
	assert_int_equal(ipvs_set_destroy_all(s), 0);
	assert_null(strstr(run("ipset list -n"), "SY-"));
	assert_int_equal(ipvs_set_destroy_all(s), 0);
	ipvs_set_close(s);
}

static void test_svc_key(void **state)
{
	struct ipvs_svc s = { .proto = IPPROTO_SCTP, .port = 30080 };
	char buf[64];

	assert_int_equal(sy_parse_ip4("10.0.1.1", &s.addr), 0);
	assert_string_equal(ipvs_svc_key(&s, buf, sizeof(buf)), "SCTP/10.0.1.1:30080");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_svc_key),
		cmocka_unit_test(test_sets),
		cmocka_unit_test(test_iptables),
		cmocka_unit_test(test_set_destroy),
	};

	return cmocka_run_group_tests(tests, setup_netns, NULL);
}
