// SPDX-License-Identifier: Apache-2.0
/*
 * The IPVS mode's ipset and iptables layers against the real kernel, in a
 * private network namespace (unshare(CLONE_NEWNET); skipped when not root):
 * sets created once, entries queued/committed/counted/read back, the
 * constant rules written once and left alone when already right (0 writes),
 * drift in a chain repaired, cleanup removing chains, jumps and sets; the
 * same for IPv6 (SY-6-* sets of family inet6, the ip6tables rules), whose
 * entries must read back exactly as the planner writes them.  The genl
 * reply parsers are fed hand-built attributes: an IPv6 real server keeps
 * its 16 bytes (kube-proxy #101506 read them as IPv4 and failed with
 * "file exists").
 * The IPVS genl layer and kube-ipvs0 need a kernel with ip_vs and dummy:
 * they are proven in the VM (tests/vm/).
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/ip_vs.h>
#include <netlink/netlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
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
	assert_int_equal(ipvs_set_open(AF_INET, &s), 0);
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
	struct ipvs_ipt_params p = { .family = AF_INET, .mark = 0x4000 };
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

	assert_int_equal(ipvs_ipt_cleanup(AF_INET, err, sizeof(err)), 0);
	assert_null(strstr(run("iptables-legacy-save"), "SY-IPVS"));
	/* twice is fine */
	assert_int_equal(ipvs_ipt_cleanup(AF_INET, err, sizeof(err)), 0);
}

static void test_sets6(void **state)
{
	struct ipvs_set *s, *s4;
	uint64_t w = 0;
	long c[IPVS_SET_MAX];
	struct seen seen = { .n = 0 };
	char *out;

	NEED_NETNS();
	assert_int_equal(ipvs_set_open(AF_INET6, &s), 0);
	assert_int_equal(ipvs_set_ensure(s, &w), 0);
	assert_int_equal(w, IPVS_SET_MAX);
	out = run("ipset list -t SY-6-CLUSTER-IP");
	assert_non_null(strstr(out, "Type: hash:ip,port\n"));
	assert_non_null(strstr(out, "family inet6"));
	out = run("ipset list -t SY-6-LOAD-BALANCER-SOURCE-CIDR");
	assert_non_null(strstr(out, "Type: hash:ip,port,net\n"));
	assert_non_null(strstr(out, "family inet6"));
	assert_non_null(strstr(run("ipset list -t SY-6-NODE-PORT-TCP"), "Type: bitmap:port\n"));
	/* the IPv4 sets are the other instance's: untouched, not counted */
	assert_int_equal(ipvs_set_open(AF_INET, &s4), 0);
	w = 0;
	assert_int_equal(ipvs_set_ensure(s4, &w), 0);
	assert_int_equal(w, 0);		/* test_sets made them */

	/* entries as the planner writes them; "ipset save" must print them
	 * back identically (RFC 5952 text, a full-length prefix bare) */
	ipvs_set_queue(s, true, IPVS_SET_CLUSTER_IP, "fd00:96::10,tcp:80");
	ipvs_set_queue(s, true, IPVS_SET_LOOP_BACK, "fd00:244:1::2,tcp:8080,fd00:244:1::2");
	ipvs_set_queue(s, true, IPVS_SET_LB_SOURCE_CIDR, "2001:db8::60,tcp:80,2001:db8:1::/64");
	ipvs_set_queue(s, true, IPVS_SET_LB_SOURCE_CIDR, "2001:db8::60,tcp:80,2001:db8:2::7");
	ipvs_set_queue(s, true, IPVS_SET_NODE_PORT_UDP, "30053");
	assert_int_equal(ipvs_set_commit(s), 5);
	assert_int_equal(system("ipset -q test SY-6-CLUSTER-IP fd00:96::10,tcp:80"), 0);
	assert_int_not_equal(system("ipset -q test SY-CLUSTER-IP 10.96.0.10,tcp:53"), 0);
	assert_int_equal(ipvs_set_counts(s, c), 0);
	assert_int_equal(c[IPVS_SET_CLUSTER_IP], 1);
	assert_int_equal(c[IPVS_SET_LB_SOURCE_CIDR], 2);
	assert_int_equal(ipvs_set_read(s, IPVS_SET_CLUSTER_IP, collect, &seen), 0);
	assert_int_equal(seen.n, 1);
	assert_string_equal(seen.e[0], "0 fd00:96::10,tcp:80");
	seen.n = 0;
	assert_int_equal(ipvs_set_read(s, IPVS_SET_LOOP_BACK, collect, &seen), 0);
	assert_string_equal(seen.e[0], "1 fd00:244:1::2,tcp:8080,fd00:244:1::2");
	seen.n = 0;
	assert_int_equal(ipvs_set_read(s, IPVS_SET_LB_SOURCE_CIDR, collect, &seen), 0);
	assert_int_equal(seen.n, 2);
	assert_true((!strcmp(seen.e[0], "7 2001:db8::60,tcp:80,2001:db8:1::/64") &&
		     !strcmp(seen.e[1], "7 2001:db8::60,tcp:80,2001:db8:2::7")) ||
		    (!strcmp(seen.e[1], "7 2001:db8::60,tcp:80,2001:db8:1::/64") &&
		     !strcmp(seen.e[0], "7 2001:db8::60,tcp:80,2001:db8:2::7")));
	/* an IPv4 entry in an IPv6 set is refused, with libipset's reason */
	ipvs_set_queue(s, true, IPVS_SET_CLUSTER_IP, "10.96.0.10,tcp:80");
	assert_true(ipvs_set_commit(s) < 0);
	assert_true(strlen(ipvs_set_last_msg(s)) > 0);
	ipvs_set_close(s4);
	ipvs_set_close(s);
}

static void test_ip6tables(void **state)
{
	struct ipvs_ipt_params p = { .family = AF_INET6, .mark = 0x4000 };
	struct sy_cidr cidrs[2];
	uint64_t w = 0, nat = 0, filter = 0;
	char err[256] = "";
	char *out;

	NEED_NETNS();
	/* the SY-6-* sets exist (test_sets6 ran first) */
	assert_int_equal(ipvs_ipt_sync(&p, &w, &nat, &filter, err, sizeof(err)), 0);
	assert_int_equal(w, 2);
	out = run("ip6tables-legacy-save -t nat");
	assert_non_null(strstr(out, "-A PREROUTING -j SY-IPVS-SERVICES"));
	assert_non_null(strstr(out, "-A POSTROUTING -j SY-IPVS-POSTROUTING"));
	assert_non_null(strstr(out, "-A SY-IPVS-SERVICES -m set --match-set SY-6-CLUSTER-IP src,dst -j SY-IPVS-MARK-MASQ"));
	assert_non_null(strstr(out, "-A SY-IPVS-POSTROUTING -m set --match-set SY-6-LOOP-BACK dst,dst,src -j MASQUERADE"));
	assert_non_null(strstr(out, "-A SY-IPVS-POSTROUTING -j MASQUERADE --random-fully"));
	assert_non_null(strstr(out, "-A SY-IPVS-NODE-PORT -p tcp -m set --match-set SY-6-NODE-PORT-TCP dst -j SY-IPVS-MARK-MASQ"));
	assert_non_null(strstr(out, "-A SY-IPVS-SERVICES -m addrtype --dst-type LOCAL -j SY-IPVS-NODE-PORT"));
	assert_null(strstr(out, "SY-CLUSTER-IP"));	/* never an IPv4 set */
	out = run("ip6tables-legacy-save -t filter");
	assert_non_null(strstr(out, "-A SY-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set SY-6-NO-ENDPOINTS dst,dst -j REJECT --reject-with icmp6-port-unreachable"));
	/* the IPv4 tables are not the IPv6 instance's */
	assert_null(strstr(run("iptables-legacy-save"), "SY-IPVS"));

	/* unchanged: no commit */
	w = 0;
	assert_int_equal(ipvs_ipt_sync(&p, &w, &nat, &filter, err, sizeof(err)), 0);
	assert_int_equal(w, 0);

	/* --cluster-cidr v4,v6: the IPv6 rules take the IPv6 prefix only */
	assert_int_equal(sy_cidr_parse("10.244.0.0/16", &cidrs[0]), 0);
	assert_int_equal(sy_cidr_parse("fd00:244::/56", &cidrs[1]), 0);
	p.cluster_cidrs = cidrs;
	p.n_cluster_cidrs = 2;
	w = 0;
	assert_int_equal(ipvs_ipt_sync(&p, &w, &nat, &filter, err, sizeof(err)), 0);
	assert_int_equal(w, 2);
	out = run("ip6tables-legacy-save -t nat");
	assert_non_null(strstr(out, "-A SY-IPVS-SERVICES ! -s fd00:244::/56 -m set --match-set SY-6-CLUSTER-IP dst,dst -j SY-IPVS-MARK-MASQ"));
	assert_null(strstr(out, "10.244."));
	assert_non_null(strstr(run("ip6tables-legacy-save -t filter"),
			       "-A SY-IPVS-FILTER ! -s fd00:244::/56 -m conntrack --ctstate NEW -m set --match-set SY-6-NO-LOCAL-ENDPOINTS dst,dst -j DROP"));
	w = 0;
	assert_int_equal(ipvs_ipt_sync(&p, &w, &nat, &filter, err, sizeof(err)), 0);
	assert_int_equal(w, 0);

	/* drift repaired */
	assert_int_equal(system("ip6tables-legacy -t nat -D SY-IPVS-MARK-MASQ 1 && "
				"ip6tables-legacy -t nat -A OUTPUT -j SY-IPVS-SERVICES"), 0);
	w = 0;
	assert_int_equal(ipvs_ipt_sync(&p, &w, &nat, &filter, err, sizeof(err)), 0);
	assert_int_equal(w, 1);
	out = run("ip6tables-legacy-save -t nat");
	assert_non_null(strstr(out, "-A SY-IPVS-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000"));
	assert_null(strstr(strstr(out, "-A OUTPUT -j SY-IPVS-SERVICES") + 1,
			   "-A OUTPUT -j SY-IPVS-SERVICES"));

	assert_int_equal(ipvs_ipt_cleanup(AF_INET6, err, sizeof(err)), 0);
	assert_null(strstr(run("ip6tables-legacy-save"), "SY-IPVS"));
	assert_int_equal(ipvs_ipt_cleanup(AF_INET6, err, sizeof(err)), 0);
}

static void test_set_destroy(void **state)
{
	struct ipvs_set *s;

	NEED_NETNS();
	assert_int_equal(ipvs_set_open(AF_INET, &s), 0);
	assert_int_equal(ipvs_set_destroy_all(s), 0);
	/* one family's cleanup leaves the other's sets */
	assert_null(strstr(run("ipset list -n"), "SY-CLUSTER-IP"));
	assert_non_null(strstr(run("ipset list -n"), "SY-6-CLUSTER-IP"));
	assert_int_equal(ipvs_set_destroy_all(s), 0);
	ipvs_set_close(s);
	assert_int_equal(ipvs_set_open(AF_INET6, &s), 0);
	assert_int_equal(ipvs_set_destroy_all(s), 0);
	assert_null(strstr(run("ipset list -n"), "SY-"));
	ipvs_set_close(s);
}

static void test_svc_key(void **state)
{
	struct ipvs_svc s = { .proto = IPPROTO_SCTP, .port = 30080 };
	char buf[64];

	struct ipvs_svc t;

	assert_int_equal(sy_addr_parse("10.0.1.1", &s.addr), 0);
	assert_string_equal(ipvs_svc_key(&s, buf, sizeof(buf)), "SCTP/10.0.1.1:30080");
	assert_int_equal(ipvs_svc_parse_key(buf, &t), 0);
	assert_int_equal(t.proto, IPPROTO_SCTP);
	assert_int_equal(t.port, 30080);
	assert_true(sy_addr_eq(&t.addr, &s.addr));
	s.proto = IPPROTO_UDP;
	assert_int_equal(sy_addr_parse("fd00:96::a", &s.addr), 0);
	assert_string_equal(ipvs_svc_key(&s, buf, sizeof(buf)), "UDP/[fd00:96::a]:30080");
	assert_int_equal(ipvs_svc_parse_key(buf, &t), 0);
	assert_int_equal(t.addr.family, AF_INET6);
	assert_true(sy_addr_eq(&t.addr, &s.addr));
	assert_int_equal(t.proto, IPPROTO_UDP);
	assert_int_equal(ipvs_svc_parse_key("TCP/fd00::1:80", &t), -EINVAL);	/* no brackets */
	assert_int_equal(ipvs_svc_parse_key("TCP/[fd00::1]:99999", &t), -EINVAL);
	assert_int_equal(ipvs_svc_parse_key("XYZ/10.0.0.1:80", &t), -EINVAL);
}

/* An IPVS_CMD_ATTR_DEST nest as the kernel sends one, in msg. */
static struct nlattr *dest_nest(struct nl_msg *msg, int family_attr, const char *addr, uint16_t port)
{
	struct nlattr *n = nla_nest_start(msg, IPVS_CMD_ATTR_DEST);
	struct sy_addr a;
	uint8_t b[16] = { 0 };

	assert_int_equal(sy_addr_parse(addr, &a), 0);
	memcpy(b, a.b, sy_addr_len(&a));
	nla_put(msg, IPVS_DEST_ATTR_ADDR, sizeof(b), b);
	nla_put_u16(msg, IPVS_DEST_ATTR_PORT, htons(port));
	nla_put_u32(msg, IPVS_DEST_ATTR_FWD_METHOD, IP_VS_CONN_F_MASQ);
	nla_put_u32(msg, IPVS_DEST_ATTR_WEIGHT, 1);
	nla_put_u32(msg, IPVS_DEST_ATTR_ACTIVE_CONNS, 3);
	if (family_attr)
		nla_put_u16(msg, IPVS_DEST_ATTR_ADDR_FAMILY, (uint16_t)family_attr);
	nla_nest_end(msg, n);
	return n;
}

static void test_nl_parse(void **state)
{
	struct nl_msg *msg = nlmsg_alloc();
	struct nlattr *n;
	struct ipvs_dest d, want = { 0 };
	struct ipvs_svc s;
	struct ip_vs_flags fl = { .flags = IP_VS_SVC_F_PERSISTENT | IP_VS_SVC_F_HASHED, .mask = ~0u };
	uint8_t b[16] = { 0 };

	assert_non_null(msg);
	/* an IPv6 real server with its family attribute: all 16 bytes */
	n = dest_nest(msg, AF_INET6, "fd00:244:1::2", 8080);
	assert_int_equal(ipvs_nl_parse_dest(n, AF_INET6, &d), 0);
	assert_int_equal(sy_addr_parse("fd00:244:1::2", &want.addr), 0);
	assert_true(sy_addr_eq(&d.addr, &want.addr));
	assert_int_equal(d.port, 8080);
	assert_int_equal(d.active, 3);
		/* without it (kernels before 3.18): the virtual server's family */
	n = dest_nest(msg, 0, "fd00:244:1::3", 8080);
	assert_int_equal(ipvs_nl_parse_dest(n, AF_INET6, &d), 0);
	assert_int_equal(d.addr.family, AF_INET6);
	assert_string_equal(sy_addr_str(&d.addr), "fd00:244:1::3");
	/* IPv4 ones stay 4 bytes */
	n = dest_nest(msg, AF_INET, "10.244.1.2", 53);
	assert_int_equal(ipvs_nl_parse_dest(n, AF_INET, &d), 0);
	assert_string_equal(sy_addr_str(&d.addr), "10.244.1.2");

	/* a virtual server of each family */
	n = nla_nest_start(msg, IPVS_CMD_ATTR_SERVICE);
	nla_put_u16(msg, IPVS_SVC_ATTR_AF, AF_INET6);
	nla_put_u16(msg, IPVS_SVC_ATTR_PROTOCOL, IPPROTO_TCP);
	memcpy(b, "\xfd\x00\x00\x96", 4);
	b[15] = 0x10;
	nla_put(msg, IPVS_SVC_ATTR_ADDR, sizeof(b), b);
	nla_put_u16(msg, IPVS_SVC_ATTR_PORT, htons(80));
	nla_put_string(msg, IPVS_SVC_ATTR_SCHED_NAME, "rr");
	nla_put(msg, IPVS_SVC_ATTR_FLAGS, sizeof(fl), &fl);
	nla_put_u32(msg, IPVS_SVC_ATTR_TIMEOUT, 10800);
	nla_nest_end(msg, n);
	assert_int_equal(ipvs_nl_parse_svc(n, &s), 0);
	assert_string_equal(sy_addr_str(&s.addr), "fd00:96::10");
	assert_int_equal(s.port, 80);
	assert_int_equal(s.flags, IP_VS_SVC_F_PERSISTENT);	/* HASHED masked out */
	assert_int_equal(s.timeout, 10800);
	/* a family IPVS may gain one day: skipped, not misread */
	n = nla_nest_start(msg, IPVS_CMD_ATTR_SERVICE);
	nla_put_u16(msg, IPVS_SVC_ATTR_AF, 99);
	nla_put_u16(msg, IPVS_SVC_ATTR_PROTOCOL, IPPROTO_TCP);
	nla_put(msg, IPVS_SVC_ATTR_ADDR, sizeof(b), b);
	nla_put_u16(msg, IPVS_SVC_ATTR_PORT, htons(80));
	nla_nest_end(msg, n);
	assert_int_equal(ipvs_nl_parse_svc(n, &s), -EAFNOSUPPORT);
	nlmsg_free(msg);
}

struct attr {
	int type;
	const void *data;
	int len;
};

/* A nest of type holding the attributes v, the one of type cut (0: none) cut to len bytes. */
static struct nlattr *nest_of(struct nl_msg *msg, int type, const struct attr *v, size_t n,
			      int cut, int len)
{
	struct nlattr *nest = nla_nest_start(msg, type);

	for (size_t i = 0; i < n; i++)
		nla_put(msg, v[i].type, v[i].type == cut ? len : v[i].len, v[i].data);
	nla_nest_end(msg, nest);
	return nest;
}

/* Every attribute the parsers read is checked for its length: one short attribute rejects the nest. */
static void test_nl_parse_short(void **state)
{
	const uint16_t af = AF_INET, proto = IPPROTO_TCP, port = htons(80);
	const uint32_t one = 1;
	const uint8_t addr[4] = { 10, 96, 0, 10 };	/* the kernel sends 16, an IPv4 one reads 4 */
	const struct ip_vs_flags fl = { 0 };
	const struct attr svc[] = {
		{ IPVS_SVC_ATTR_AF, &af, 2 }, { IPVS_SVC_ATTR_PROTOCOL, &proto, 2 },
		{ IPVS_SVC_ATTR_ADDR, addr, 4 }, { IPVS_SVC_ATTR_PORT, &port, 2 },
		{ IPVS_SVC_ATTR_SCHED_NAME, "rr", 3 }, { IPVS_SVC_ATTR_FLAGS, &fl, sizeof(fl) },
		{ IPVS_SVC_ATTR_TIMEOUT, &one, 4 },
	}, dest[] = {
		{ IPVS_DEST_ATTR_ADDR, addr, 4 }, { IPVS_DEST_ATTR_PORT, &port, 2 },
		{ IPVS_DEST_ATTR_ADDR_FAMILY, &af, 2 }, { IPVS_DEST_ATTR_FWD_METHOD, &one, 4 },
		{ IPVS_DEST_ATTR_WEIGHT, &one, 4 }, { IPVS_DEST_ATTR_ACTIVE_CONNS, &one, 4 },
		{ IPVS_DEST_ATTR_INACT_CONNS, &one, 4 },
	};
	struct nl_msg *msg = nlmsg_alloc_size(16384);
	struct ipvs_svc s;
	struct ipvs_dest d;

	(void)state;
	assert_non_null(msg);
	/* whole, they parse */
	assert_int_equal(ipvs_nl_parse_svc(nest_of(msg, IPVS_CMD_ATTR_SERVICE, svc,
						   ARRAY_SIZE(svc), 0, 0), &s), 0);
	assert_string_equal(s.sched, "rr");
	assert_int_equal(s.timeout, 1);
	assert_int_equal(ipvs_nl_parse_dest(nest_of(msg, IPVS_CMD_ATTR_DEST, dest,
						    ARRAY_SIZE(dest), 0, 0), AF_INET, &d), 0);
	assert_int_equal(d.weight, 1);
	assert_int_equal(d.inactive, 1);
	/* each one byte short (the scheduler name without its NUL byte) */
	for (size_t i = 0; i < ARRAY_SIZE(svc); i++) {
		print_message("service attribute %d, %d bytes\n", svc[i].type, svc[i].len - 1);
		assert_int_equal(ipvs_nl_parse_svc(nest_of(msg, IPVS_CMD_ATTR_SERVICE, svc,
							   ARRAY_SIZE(svc), svc[i].type,
							   svc[i].len - 1), &s), -EINVAL);
	}
	for (size_t i = 0; i < ARRAY_SIZE(dest); i++) {
		print_message("real server attribute %d, %d bytes\n", dest[i].type, dest[i].len - 1);
		assert_int_equal(ipvs_nl_parse_dest(nest_of(msg, IPVS_CMD_ATTR_DEST, dest,
							    ARRAY_SIZE(dest), dest[i].type,
							    dest[i].len - 1), AF_INET, &d), -EINVAL);
	}
	/* an empty scheduler name */
	assert_int_equal(ipvs_nl_parse_svc(nest_of(msg, IPVS_CMD_ATTR_SERVICE, svc, ARRAY_SIZE(svc),
						   IPVS_SVC_ATTR_SCHED_NAME, 0), &s), -EINVAL);
	nlmsg_free(msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_svc_key),
		cmocka_unit_test(test_nl_parse),
		cmocka_unit_test(test_nl_parse_short),
		cmocka_unit_test(test_sets),
		cmocka_unit_test(test_iptables),
		cmocka_unit_test(test_sets6),
		cmocka_unit_test(test_ip6tables),
		cmocka_unit_test(test_set_destroy),
	};

	return cmocka_run_group_tests(tests, setup_netns, NULL);
}
