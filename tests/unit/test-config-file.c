// SPDX-License-Identifier: Apache-2.0
/* Unit tests: the KubeProxyConfiguration file (--config), /configz, Go durations. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "switchyard/config.h"
#include "switchyard/log.h"
#include "switchyard/util.h"
#include "../../ops/render.h"

#define HDR "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"

static char cfg_path[64];
static char log_path[64];

static int setup(void **state)
{
	int fd;

	snprintf(cfg_path, sizeof(cfg_path), "/tmp/sy-test-cf.XXXXXX");
	fd = mkstemp(cfg_path);
	assert_true(fd >= 0);
	close(fd);
	snprintf(log_path, sizeof(log_path), "/tmp/sy-test-cflog.XXXXXX");
	fd = mkstemp(log_path);
	assert_true(fd >= 0);
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	unlink(cfg_path);
	unlink(log_path);
	return 0;
}

/* What config_file_load() told its owner: "<severity> <message>\n" a message. */
static void collect(void *arg, char sev, const char *msg)
{
	char **told = arg;
	size_t have = *told ? strlen(*told) : 0;

	*told = realloc(*told, have + strlen(msg) + 4);
	assert_non_null(*told);
	sprintf(*told + have, "%c %s\n", sev, msg);
}

/*
 * Write text to the config file, load it into cfg; what the load told its
 * owner into *ret_log.  It logs nothing itself: stderr stays empty.
 */
static int load(struct sy_config *cfg, const char *text, char *err, size_t errlen, char **ret_log)
{
	char *told = NULL, *logged = NULL;
	int saved, fd, r;
	size_t len;

	assert_int_equal(sy_write_file_atomic(cfg_path, text, strlen(text), 0600), 0);
	fflush(stderr);
	saved = dup(2);
	fd = open(log_path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	dup2(fd, 2);
	close(fd);
	err[0] = '\0';
	r = config_file_load(cfg, cfg_path, &(struct sy_report){ collect, &told }, err, errlen);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	assert_int_equal(sy_read_file(log_path, &logged, &len), 0);
	assert_string_equal(logged, "");
	free(logged);
	if (ret_log)
		*ret_log = told ? told : strdup("");
	else
		free(told);
	return r;
}

static void assert_cidr(const struct sy_cidr *c, const char *addr, unsigned plen)
{
	assert_string_equal(sy_addr_str(&c->addr), addr);
	assert_int_equal(c->plen, plen);
}

static void test_every_field(void **state)
{
	struct sy_config cfg;
	char err[256], *log;

	config_init(&cfg);
	assert_int_equal(load(&cfg, HDR
		"mode: ipvs\n"
		"clusterCIDR: 10.244.0.0/16,10.245.0.0/16\n"
		"bindAddress: 0.0.0.0\n"
		"healthzBindAddress: 127.0.0.1:20256\n"
		"metricsBindAddress: \"127.0.0.1:20249\"\n"
		"hostnameOverride: node-7\n"
		"nodePortAddresses: [primary, 192.168.0.0/24]\n"
		"clientConnection:\n  kubeconfig: /etc/kube/proxy.conf\n"
		"iptables:\n  masqueradeAll: true\n  masqueradeBit: 12\n  minSyncPeriod: 500ms\n"
		"  syncPeriod: 2m\n  localhostNodePorts: false\n"
		"ipvs:\n  scheduler: lc\n  strictARP: true\n  minSyncPeriod: 2s\n  syncPeriod: 1m30s\n"
		"  tcpTimeout: 15m\n  tcpFinTimeout: 2m\n  udpTimeout: 5m\n"
		"conntrack:\n  maxPerCore: 65536\n  min: 262144\n  tcpEstablishedTimeout: 24h0m0s\n"
		"  tcpCloseWaitTimeout: 1h0m0s\n  udpTimeout: 30s\n  udpStreamTimeout: 2m0s\n"
		"networkPolicy: true\n",
		err, sizeof(err), &log), 0);
	assert_string_equal(log, "");	/* no warnings */
	free(log);
	assert_string_equal(cfg.proxy_mode, "ipvs");
	assert_int_equal(cfg.n_cluster_cidrs, 2);
	assert_cidr(&cfg.cluster_cidrs[0], "10.244.0.0", 16);
	assert_cidr(&cfg.cluster_cidrs[1], "10.245.0.0", 16);
	assert_string_equal(cfg.bind_address, "0.0.0.0");
	assert_string_equal(cfg.healthz_bind_address, "127.0.0.1:20256");
	assert_string_equal(cfg.metrics_bind_address, "127.0.0.1:20249");
	assert_string_equal(cfg.hostname_override, "node-7");
	assert_true(cfg.nodeport_primary);
	assert_int_equal(cfg.n_nodeport_cidrs, 1);
	assert_cidr(&cfg.nodeport_cidrs[0], "192.168.0.0", 24);
	assert_string_equal(cfg.kubeconfig, "/etc/kube/proxy.conf");
	assert_true(cfg.masquerade_all);
	assert_int_equal(cfg.masquerade_bit, 12);
	assert_true(cfg.min_sync_period == 0.5);
	assert_true(cfg.sync_period == 120);
	assert_false(cfg.localhost_nodeports);
	assert_string_equal(cfg.ipvs_scheduler, "lc");
	assert_true(cfg.ipvs_strict_arp);
	assert_true(cfg.ipvs_min_sync_period == 2);
	assert_true(cfg.ipvs_sync_period == 90);
	assert_true(cfg.ipvs_tcp_timeout == 900);
	assert_true(cfg.ipvs_tcpfin_timeout == 120);
	assert_true(cfg.ipvs_udp_timeout == 300);
	assert_int_equal(cfg.conntrack_max_per_core, 65536);
	assert_int_equal(cfg.conntrack_min, 262144);
	assert_true(cfg.conntrack_tcp_established_timeout == 86400);
	assert_true(cfg.conntrack_tcp_close_wait_timeout == 3600);
	assert_true(cfg.conntrack_udp_timeout == 30);
	assert_true(cfg.conntrack_udp_stream_timeout == 120);
	assert_true(cfg.network_policy);
	config_free(&cfg);
}

static void test_defaults_kept(void **state)
{
	struct sy_config cfg;
	char err[256];

	/* absent and null fields leave the defaults; mode "" is iptables */
	config_init(&cfg);
	assert_int_equal(load(&cfg, HDR "mode: \"\"\nclusterCIDR: null\n"
			      "hostnameOverride: \"\"\nclientConnection: {kubeconfig: \"\"}\n"
			      "iptables:\n  syncPeriod: ~\nipvs: {}\nconntrack:\n  maxPerCore: null\n",
			      err, sizeof(err), NULL), 0);
	assert_string_equal(cfg.proxy_mode, "iptables");
	assert_null(cfg.kubeconfig);
	assert_null(cfg.hostname_override);
	assert_int_equal(cfg.n_cluster_cidrs, 0);
	assert_true(cfg.sync_period == 30);
	assert_true(cfg.min_sync_period == 1);
	assert_int_equal(cfg.masquerade_bit, 14);
	assert_true(cfg.localhost_nodeports);
	assert_string_equal(cfg.healthz_bind_address, "0.0.0.0:10256");
	assert_string_equal(cfg.metrics_bind_address, "127.0.0.1:10249");
	assert_int_equal(cfg.conntrack_max_per_core, 0);
	config_free(&cfg);

	/* a JSON config is YAML too */
	config_init(&cfg);
	assert_int_equal(load(&cfg, "{\"apiVersion\": \"kubeproxy.config.k8s.io/v1alpha1\", "
			      "\"kind\": \"KubeProxyConfiguration\", \"mode\": \"ipvs\", "
			      "\"iptables\": {\"masqueradeAll\": true}}", err, sizeof(err), NULL), 0);
	assert_string_equal(cfg.proxy_mode, "ipvs");
	assert_true(cfg.masquerade_all);
	config_free(&cfg);

	/* kube-proxy's defaulting: an empty server address is the default one,
	 * an address without a port gets the default port */
	config_init(&cfg);
	assert_int_equal(load(&cfg, HDR "healthzBindAddress: \"\"\nmetricsBindAddress: \":20249\"\n",
			      err, sizeof(err), NULL), 0);
	assert_string_equal(cfg.healthz_bind_address, "0.0.0.0:10256");
	assert_string_equal(cfg.metrics_bind_address, ":20249");
	config_free(&cfg);
	config_init(&cfg);
	assert_int_equal(load(&cfg, HDR "healthzBindAddress: 127.0.0.2\nmetricsBindAddress: \"\"\n",
			      err, sizeof(err), NULL), 0);
	assert_string_equal(cfg.healthz_bind_address, "127.0.0.2:10256");
	assert_string_equal(cfg.metrics_bind_address, "127.0.0.1:10249");
	config_free(&cfg);
	/* an IPv6 address without a port: in brackets with the default port */
	config_init(&cfg);
	assert_int_equal(load(&cfg, HDR "healthzBindAddress: \"::\"\nmetricsBindAddress: \"::1\"\n",
			      err, sizeof(err), NULL), 0);
	assert_string_equal(cfg.healthz_bind_address, "[::]:10256");
	assert_string_equal(cfg.metrics_bind_address, "[::1]:10249");
	config_free(&cfg);

	/* kube-proxy's defaulting: 0s is unset for iptables.syncPeriod,
	 * iptables.minSyncPeriod and ipvs.syncPeriod (kubeadm writes 0s) */
	config_init(&cfg);
	assert_int_equal(load(&cfg, HDR "iptables:\n  syncPeriod: 0s\n  minSyncPeriod: 0s\n"
			      "ipvs:\n  syncPeriod: 0s\n  minSyncPeriod: 0s\n",
			      err, sizeof(err), NULL), 0);
	assert_true(cfg.sync_period == 30);
	assert_true(cfg.min_sync_period == 1);
	assert_true(cfg.ipvs_sync_period == 0);
	assert_true(cfg.ipvs_min_sync_period == 0);
	config_free(&cfg);
}

struct bad_case {
	const char *text;
	const char *want;	/* substring of the error */
};

static void test_errors(void **state)
{
	static const struct bad_case cases[] = {
		{ HDR "foo: 1\n", "unknown field \"foo\"" },
		{ HDR "iptables:\n  foo: 1\n", "unknown field \"iptables.foo\"" },
		{ HDR "ipvs:\n  schedular: rr\n", "unknown field \"ipvs.schedular\"" },
		{ HDR "conntrack:\n  maxPercore: 1\n", "unknown field \"conntrack.maxPercore\"" },
		{ HDR "clientConnection:\n  kubeConfig: x\n", "unknown field \"clientConnection.kubeConfig\"" },
		{ HDR "mode: ipvs\nmode: iptables\n", "duplicate field \"mode\"" },
		{ "kind: KubeProxyConfiguration\nmode: ipvs\n", "missing apiVersion" },
		{ "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nmode: ipvs\n", "missing kind" },
		{ "apiVersion: v1\nkind: KubeProxyConfiguration\n", "apiVersion \"v1\" is not supported" },
		{ "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeletConfiguration\n",
		  "kind \"KubeletConfiguration\" is not KubeProxyConfiguration" },
		{ HDR "iptables:\n  syncPeriod: 30\n", "field \"iptables.syncPeriod\": invalid duration \"30\"" },
		{ HDR "iptables:\n  minSyncPeriod: -1s\n", "invalid duration \"-1s\"" },
		{ HDR "ipvs:\n  strictARP: maybe\n", "field \"ipvs.strictARP\": invalid boolean \"maybe\"" },
		{ HDR "iptables:\n  masqueradeAll: \"true\"\n", "invalid boolean \"true\"" },
		{ HDR "iptables:\n  masqueradeBit: 32\n", "field \"iptables.masqueradeBit\": invalid value \"32\"" },
		{ HDR "conntrack:\n  min: 1.5\n", "field \"conntrack.min\": invalid integer \"1.5\"" },
		{ HDR "conntrack:\n  maxPerCore: 3000000000\n", "invalid integer \"3000000000\"" },
		{ HDR "clusterCIDR: 10.0.0.0/33\n", "field \"clusterCIDR\": invalid CIDR \"10.0.0.0/33\"" },
		{ HDR "nodePortAddresses: 10.0.0.0/8\n", "field \"nodePortAddresses\": want a list" },
		{ HDR "nodePortAddresses: [bogus]\n", "invalid CIDR \"bogus\"" },
		{ HDR "iptables: true\n", "field \"iptables\": want a mapping" },
		{ HDR "mode: [ipvs]\n", "field \"mode\": want a string" },
		{ HDR "metricsBindAddress: 127.0.0.300\n",
		  "field \"metricsBindAddress\": invalid address \"127.0.0.300\" (want IPv4:port or "
		  "[IPv6]:port)" },
		{ HDR "healthzBindAddress: 0.0.0.0:102560\n", "field \"healthzBindAddress\": invalid address" },
		{ HDR "mode: ipvs\n  bad: indent\n", "YAML" },
		{ HDR "---\n" HDR, "more than one YAML document" },
		{ "", "empty configuration file" },
		{ "- a\n- b\n", "want a KubeProxyConfiguration mapping" },
	};
	struct sy_config cfg;
	char err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		config_init(&cfg);
		assert_int_equal(load(&cfg, cases[i].text, err, sizeof(err), NULL), -EINVAL);
		if (!strstr(err, cases[i].want))
			fail_msg("case %zu: error \"%s\" does not contain \"%s\"", i, err,
				 cases[i].want);
		config_free(&cfg);
	}
	/* errors name the line */
	config_init(&cfg);
	assert_int_equal(load(&cfg, HDR "mode: ipvs\niptables:\n  foo: 1\n", err, sizeof(err),
			      NULL), -EINVAL);
	assert_string_equal(err, "line 5: unknown field \"iptables.foo\"");
	config_free(&cfg);
	/* a missing file */
	config_init(&cfg);
	assert_int_equal(config_file_load(&cfg, "/nonexistent/sy.yaml", NULL, err, sizeof(err)),
			 -ENOENT);
	config_free(&cfg);
}

static void test_warnings(void **state)
{
	struct sy_config cfg;
	char err[256], *log;

	config_init(&cfg);
	assert_int_equal(load(&cfg, HDR
		"detectLocalMode: ClusterCIDR\n"
		"oomScoreAdj: -999\n"
		"configSyncPeriod: 15m\n"
		"nftables:\n  syncPeriod: 30s\n"
		"winkernel: {}\n"
		"portRange: \"\"\n"
		"showHiddenMetricsForVersion: \"\"\n"
		"clientConnection:\n  qps: 5\n  burst: 10\n  kubeconfig: /k\n"
		"ipvs:\n  excludeCIDRs: [10.0.0.0/8]\n"
		"conntrack:\n  tcpBeLiberal: false\n"
		"clusterCIDR: 10.244.0.0/16,fd00::/48\n"
		"healthzBindAddress: \"[::]:10256\"\n"
		"metricsBindAddress: \"[::1]:10249\"\n"
		"mode: iptables\n",
		err, sizeof(err), &log), 0);
	static const char *const names[] = {
		"\"detectLocalMode\"", "\"oomScoreAdj\"", "\"configSyncPeriod\"",
		"\"nftables\"", "\"winkernel\"", "\"portRange\"", "\"showHiddenMetricsForVersion\"",
		"\"clientConnection.qps\"", "\"clientConnection.burst\"", "\"ipvs.excludeCIDRs\"",
		"\"conntrack.tcpBeLiberal\"",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strstr(log, names[i]))
			fail_msg("no warning naming %s in:\n%s", names[i], log);
	/* warnings */
	assert_int_equal(log[0], 'W');
	/* no warning for the IPv6 server addresses and cluster CIDR (dual stack) */
	assert_null(strstr(log, "BindAddress"));
	assert_null(strstr(log, "fd00::/48"));
	free(log);
	/* everything else still applied */
	assert_string_equal(cfg.healthz_bind_address, "[::]:10256");
	assert_string_equal(cfg.metrics_bind_address, "[::1]:10249");
	assert_string_equal(cfg.kubeconfig, "/k");
	/* dual stack: both families' cluster CIDRs, IPv4 first */
	assert_int_equal(cfg.n_cluster_cidrs, 2);
	assert_cidr(&cfg.cluster_cidrs[0], "10.244.0.0", 16);
	assert_cidr(&cfg.cluster_cidrs[1], "fd00::", 48);
	config_free(&cfg);
}

static void test_flags_override_file(void **state)
{
	struct sy_config cfg;
	char err[256];
	char *argv[] = { "switchyard", "--config", cfg_path, "--metrics-bind-address",
			 "127.0.0.1:30249", "--sync-period", "45s", NULL };

	config_init(&cfg);
	assert_int_equal(load(&cfg, HDR "metricsBindAddress: 127.0.0.1:20249\n"
			      "healthzBindAddress: 127.0.0.1:20256\niptables:\n  syncPeriod: 10s\n"
			      "  minSyncPeriod: 3s\n", err, sizeof(err), NULL), 0);
	config_free(&cfg);

	config_init(&cfg);
	assert_int_equal(config_parse_args(&cfg, 7, argv), 0);
	assert_string_equal(cfg.metrics_bind_address, "127.0.0.1:30249");	/* flag */
	assert_string_equal(cfg.healthz_bind_address, "127.0.0.1:20256");	/* file */
	assert_true(cfg.sync_period == 45);					/* flag */
	assert_true(cfg.min_sync_period == 3);					/* file */
	config_free(&cfg);
}

/*
 * featureGates: a map of names to booleans, as kube-proxy's; names are
 * checked with the flags' (config_parse_args), so an unknown one loads and
 * then refuses the start; the first --feature-gates replaces the file's map.
 */
static void test_feature_gates(void **state)
{
	struct sy_config cfg;
	char err[256], *log;
	char *argv[] = { "switchyard", "--config", cfg_path, NULL, NULL };

	config_init(&cfg);
	assert_false(cfg.service_cidrs_off);
	assert_int_equal(load(&cfg, HDR "featureGates:\n  MultiCIDRServiceAllocator: false\n"
			      "  AllAlpha: true\n", err, sizeof(err), &log), 0);
	assert_string_equal(log, "");		/* implemented: no "not implemented" warning */
	free(log);
	assert_int_equal(cfg.n_feature_gates, 2);
	assert_false(config_feature_gate(&cfg, "MultiCIDRServiceAllocator"));
	assert_true(config_feature_gate(&cfg, "AllAlpha"));
	config_free(&cfg);

	/* through --config: resolved */
	config_init(&cfg);
	assert_int_equal(config_parse_args(&cfg, 3, argv), 0);
	assert_true(cfg.service_cidrs_off);
	config_free(&cfg);

	/* a flag replaces the file's map: the file's false is gone */
	argv[3] = "--feature-gates=AllBeta=false";
	config_init(&cfg);
	assert_int_equal(config_parse_args(&cfg, 4, argv), 0);
	assert_false(cfg.service_cidrs_off);
	assert_int_equal(cfg.n_feature_gates, 1);
	assert_string_equal(cfg.feature_gates[0].name, "AllBeta");
	config_free(&cfg);

	/* the file's gate on, explicitly: on */
	config_init(&cfg);
	assert_int_equal(load(&cfg, HDR "featureGates:\n  MultiCIDRServiceAllocator: true\n",
			      err, sizeof(err), NULL), 0);
	config_free(&cfg);
	config_init(&cfg);
	assert_int_equal(config_parse_args(&cfg, 3, argv), 0);
	assert_false(cfg.service_cidrs_off);
	config_free(&cfg);

	/* an unknown name loads, and config_parse_args refuses it */
	config_init(&cfg);
	assert_int_equal(load(&cfg, HDR "featureGates:\n  Foo: true\n", err, sizeof(err), NULL),
			 0);
	config_free(&cfg);
	config_init(&cfg);
	assert_int_equal(config_parse_args(&cfg, 3, argv), -EINVAL);
	config_free(&cfg);

	/* a value that is no boolean, a list instead of a mapping: errors naming the field */
	config_init(&cfg);
	assert_int_equal(load(&cfg, HDR "featureGates:\n  MultiCIDRServiceAllocator: maybe\n",
			      err, sizeof(err), NULL), -EINVAL);
	assert_non_null(strstr(err, "featureGates.MultiCIDRServiceAllocator"));
	assert_non_null(strstr(err, "maybe"));
	config_free(&cfg);
	config_init(&cfg);
	assert_int_equal(load(&cfg, HDR "featureGates:\n  AllAlpha: true\n  AllAlpha: false\n",
			      err, sizeof(err), NULL), -EINVAL);
	assert_non_null(strstr(err, "duplicate field \"featureGates.AllAlpha\""));
	config_free(&cfg);
	config_init(&cfg);
	assert_int_equal(load(&cfg, HDR "featureGates: [MultiCIDRServiceAllocator]\n",
			      err, sizeof(err), NULL), -EINVAL);
	assert_non_null(strstr(err, "featureGates"));
	config_free(&cfg);
}

static void test_fmt_duration(void **state)
{
	static const struct { double s; const char *want; } cases[] = {
		{ 0, "0s" }, { 1, "1s" }, { 30, "30s" }, { 90, "1m30s" }, { 60, "1m0s" },
		{ 3600, "1h0m0s" }, { 86400, "24h0m0s" }, { 1.5, "1.5s" }, { 0.5, "500ms" },
		{ 0.0015, "1.5ms" }, { 0.000002, "2\xc2\xb5s" }, { 100e-9, "100ns" },
		{ 3723.25, "1h2m3.25s" },
	};
	char buf[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		config_file_fmt_duration(cases[i].s, buf, sizeof(buf));
		if (strcmp(buf, cases[i].want))
			fail_msg("%g s: got \"%s\", want \"%s\"", cases[i].s, buf, cases[i].want);
		/* and it reads back (except µs, which sy_parse_duration spells "us") */
		if (!strstr(buf, "\xc2\xb5")) {
			double back;

			assert_int_equal(sy_parse_duration(buf, &back), 0);
			assert_true(back == cases[i].s || fabs(back - cases[i].s) < 1e-12);
		}
	}
}

static void test_configz(void **state)
{
	struct sy_config cfg;
	char err[256], *z;
	struct json_object *o, *k, *v;

	config_init(&cfg);
	assert_int_equal(load(&cfg, HDR "mode: ipvs\nclusterCIDR: 10.244.0.0/16\n"
			      "nodePortAddresses: [primary]\nipvs:\n  scheduler: sh\n"
			      "iptables:\n  syncPeriod: 1m\n", err, sizeof(err), NULL), 0);
	z = config_file_configz(&cfg);
	o = json_tokener_parse(z);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "kubeproxy.config.k8s.io", &k));
	assert_true(json_object_object_get_ex(k, "mode", &v));
	assert_string_equal(json_object_get_string(v), "ipvs");
	assert_true(json_object_object_get_ex(k, "clusterCIDR", &v));
	assert_string_equal(json_object_get_string(v), "10.244.0.0/16");
	assert_true(json_object_object_get_ex(k, "nodePortAddresses", &v));
	assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 0)), "primary");
	assert_true(json_object_object_get_ex(k, "metricsBindAddress", &v));
	assert_string_equal(json_object_get_string(v), "127.0.0.1:10249");
	assert_true(json_object_object_get_ex(k, "iptables", &v));
	assert_true(json_object_object_get_ex(v, "syncPeriod", &v));
	assert_string_equal(json_object_get_string(v), "1m0s");
	assert_true(json_object_object_get_ex(k, "ipvs", &v));
	assert_true(json_object_object_get_ex(v, "scheduler", &v));
	assert_string_equal(json_object_get_string(v), "sh");
	json_object_put(o);
	free(z);
	config_free(&cfg);

	/* featureGates as set */
	config_init(&cfg);
	assert_int_equal(load(&cfg, HDR "featureGates:\n  MultiCIDRServiceAllocator: false\n",
			      err, sizeof(err), NULL), 0);
	z = config_file_configz(&cfg);
	o = json_tokener_parse(z);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "kubeproxy.config.k8s.io", &k));
	assert_true(json_object_object_get_ex(k, "featureGates", &v));
	assert_true(json_object_object_get_ex(v, "MultiCIDRServiceAllocator", &v));
	assert_false(json_object_get_boolean(v));
	json_object_put(o);
	free(z);
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_every_field, setup, teardown),
		cmocka_unit_test_setup_teardown(test_defaults_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_warnings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flags_override_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_feature_gates, setup, teardown),
		cmocka_unit_test(test_fmt_duration),
		cmocka_unit_test_setup_teardown(test_configz, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
