// SPDX-License-Identifier: Apache-2.0
/* Command-line flags: kube-proxy names, defaults, and clear errors. */
#include <errno.h>
#include <string.h>
#include "helpers.h"
#include "switchyard/config.h"

static int parse(struct sy_config *cfg, const char *const *args)
{
	char *argv[64];
	int argc = 0;

	argv[argc++] = (char *)"switchyard";
	for (; *args; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	return config_parse_args(cfg, argc, argv);
}

static void test_defaults(void **state)
{
	struct sy_config cfg;
	const char *args[] = { NULL };

	config_init(&cfg);
	assert_int_equal(parse(&cfg, args), 0);
	assert_string_equal(cfg.proxy_mode, "iptables");
	assert_true(cfg.min_sync_period == 1.0);
	assert_true(cfg.sync_period == 30.0);
	assert_int_equal(cfg.masquerade_bit, 14);
	assert_string_equal(cfg.healthz_bind_address, "0.0.0.0:10256");
	assert_string_equal(cfg.metrics_bind_address, "127.0.0.1:10249");
	assert_true(cfg.localhost_nodeports);
	assert_false(cfg.masquerade_all);
	assert_false(cfg.network_policy);	/* off by default */
	config_free(&cfg);
}

/* Dual stack: --cluster-cidr v4,v6 and --nodeport-addresses with IPv6 CIDRs, grouped per family. */
static void test_flags_dual_stack(void **state)
{
	struct sy_config cfg;
	const struct sy_cidr *c;
	unsigned n;
	const char *args[] = { "--cluster-cidr=fd00:10::/56,10.244.0.0/16",
			       "--nodeport-addresses", "fd00:1::/64,192.168.0.0/24,2001:db8::/32", NULL };

	config_init(&cfg);
	assert_int_equal(parse(&cfg, args), 0);
	assert_int_equal(cfg.n_cluster_cidrs, 2);
	c = config_cidrs(cfg.cluster_cidrs, cfg.n_cluster_cidrs, AF_INET, &n);
	assert_int_equal(n, 1);
	assert_string_equal(sy_cidr_str(c), "10.244.0.0/16");
	c = config_cidrs(cfg.cluster_cidrs, cfg.n_cluster_cidrs, AF_INET6, &n);
	assert_int_equal(n, 1);
	assert_string_equal(sy_cidr_str(c), "fd00:10::/56");
	assert_int_equal(cfg.n_nodeport_cidrs, 3);
	c = config_cidrs(cfg.nodeport_cidrs, cfg.n_nodeport_cidrs, AF_INET, &n);
	assert_int_equal(n, 1);
	assert_string_equal(sy_cidr_str(c), "192.168.0.0/24");
	c = config_cidrs(cfg.nodeport_cidrs, cfg.n_nodeport_cidrs, AF_INET6, &n);
	assert_int_equal(n, 2);
	assert_string_equal(sy_cidr_str(&c[0]), "fd00:1::/64");
	assert_string_equal(sy_cidr_str(&c[1]), "2001:db8::/32");
	assert_false(cfg.nodeport_primary);
	config_free(&cfg);
}

static void test_flags(void **state)
{
	struct sy_config cfg;
	const char *args[] = { "--proxy-mode=ipvs", "--hostname-override", "node-a",
			       "--cluster-cidr=10.244.0.0/16,10.245.0.0/16", "--masquerade-all",
			       "--min-sync-period=500ms", "--sync-period", "2m",
			       "--nodeport-addresses=192.168.0.0/24,primary", "--ipvs-scheduler=wlc",
			       "-v", "4", "--manifests=/tmp/m", "--iptables-localhost-nodeports=false",
			       "--ipvs-strict-arp", "--pod-network", "-kubeconfig=/k", "--network-policy", NULL };

	config_init(&cfg);
	assert_int_equal(parse(&cfg, args), 0);
	assert_string_equal(cfg.proxy_mode, "ipvs");
	assert_string_equal(cfg.hostname_override, "node-a");
	assert_int_equal(cfg.n_cluster_cidrs, 2);
	assert_int_equal(cfg.cluster_cidrs[1].plen, 16);
	assert_true(cfg.masquerade_all);
	assert_true(cfg.min_sync_period == 0.5);
	assert_true(cfg.sync_period == 120);
	assert_int_equal(cfg.n_nodeport_cidrs, 1);
	assert_true(cfg.nodeport_primary);
	assert_string_equal(cfg.ipvs_scheduler, "wlc");
	assert_int_equal(cfg.verbosity, 4);
	assert_string_equal(cfg.manifests, "/tmp/m");
	assert_false(cfg.localhost_nodeports);
	assert_true(cfg.ipvs_strict_arp);
	assert_true(cfg.pod_network);
	assert_true(cfg.network_policy);
	assert_string_equal(cfg.kubeconfig, "/k");
	config_free(&cfg);
}

static void test_bad(void **state)
{
	static const char *const bad[][3] = {
		{ "--no-such-flag", NULL },
		{ "--cluster-cidr=10.0.0.0/33", NULL },
		{ "--sync-period=fast", NULL },
		{ "--sync-period=0", NULL },
		{ "--masquerade-all=maybe", NULL },
		{ "--iptables-masquerade-bit=32", NULL },
		{ "-v", "x", NULL },
		{ "--proxy-mode", NULL },
		{ "stray", NULL },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sy_config cfg;

		config_init(&cfg);
		if (parse(&cfg, bad[i]) != -EINVAL)
			fail_msg("case %zu (%s) accepted", i, bad[i][0]);
		config_free(&cfg);
	}
}

/* --feature-gates: cliflag.MapStringBool's syntax, featureGate.SetFromMap's checks (1.33). */
static void test_feature_gates(void **state)
{
	struct sy_config cfg;
	char err[256];
	const char *off[] = { "--feature-gates=MultiCIDRServiceAllocator=false", NULL };
	const char *spaced[] = { "--feature-gates", " MultiCIDRServiceAllocator = F ,, AllBeta=1", NULL };
	const char *two[] = { "--feature-gates=MultiCIDRServiceAllocator=0",
			      "--feature-gates=AllAlpha=true,MultiCIDRServiceAllocator=true", NULL };
	const char *locked_ok[] = { "--feature-gates=NFTablesProxyMode=true", NULL };
	static const char *const bad[] = {
		"--feature-gates=Foo=true",			/* unrecognized */
		"--feature-gates=MultiCIDRServiceAllocator",	/* no value */
		"--feature-gates=MultiCIDRServiceAllocator=yes",	/* Go's ParseBool: no */
		"--feature-gates=NFTablesProxyMode=false",	/* locked to true in 1.33 */
		"--feature-gates=multicidrserviceallocator=false",	/* names are case-sensitive */
	};
	static const struct { const char *arg, *want; } msgs[] = {
		{ "A", "malformed pair, expect string=bool" },
		{ "A=maybe", "invalid value of A: maybe, err: strconv.ParseBool: parsing \"maybe\": "
			     "invalid syntax" },
	};

	/* default: on */
	config_init(&cfg);
	assert_int_equal(parse(&cfg, (const char *[]){ NULL }), 0);
	assert_false(cfg.service_cidrs_off);
	assert_true(config_feature_gate(&cfg, "MultiCIDRServiceAllocator"));
	config_free(&cfg);

	config_init(&cfg);
	assert_int_equal(parse(&cfg, off), 0);
	assert_true(cfg.service_cidrs_off);
	config_free(&cfg);

	config_init(&cfg);
	assert_int_equal(parse(&cfg, spaced), 0);
	assert_true(cfg.service_cidrs_off);
	assert_int_equal(cfg.n_feature_gates, 2);
	assert_true(config_feature_gate(&cfg, "AllBeta"));
	config_free(&cfg);

	/* several flags add up; a later value of a name wins */
	config_init(&cfg);
	assert_int_equal(parse(&cfg, two), 0);
	assert_false(cfg.service_cidrs_off);
	assert_int_equal(cfg.n_feature_gates, 2);
	assert_string_equal(cfg.feature_gates[0].name, "AllAlpha");	/* sorted */
	config_free(&cfg);

	config_init(&cfg);
	assert_int_equal(parse(&cfg, locked_ok), 0);
	config_free(&cfg);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *args[] = { bad[i], NULL };

		config_init(&cfg);
		if (parse(&cfg, args) != -EINVAL)
			fail_msg("%s accepted", bad[i]);
		config_free(&cfg);
	}

	/* the words of kube-proxy's errors */
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		config_init(&cfg);
		assert_int_equal(config_feature_gates_parse(&cfg, msgs[i].arg, err, sizeof(err)),
				 -EINVAL);
		assert_string_equal(err, msgs[i].want);
		config_free(&cfg);
	}
	config_init(&cfg);
	config_feature_gate_put(&cfg, "Foo", true);
	assert_int_equal(config_feature_gates_apply(&cfg, NULL, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "unrecognized feature gate: Foo");
	config_feature_gates_clear(&cfg);
	config_feature_gate_put(&cfg, "TopologyAwareHints", false);
	assert_int_equal(config_feature_gates_apply(&cfg, NULL, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "cannot set feature gate TopologyAwareHints to false, feature is "
			    "locked to true");
	config_free(&cfg);
	assert_true(config_feature_gate_known("MultiCIDRServiceAllocator"));
	assert_true(config_feature_gate_known("ContextualLogging"));
	assert_false(config_feature_gate_known("NoSuchGate"));
}

static void test_help_version(void **state)
{
	struct sy_config cfg;
	const char *h[] = { "--version", NULL };

	config_init(&cfg);
	assert_int_equal(parse(&cfg, h), 1);
	config_free(&cfg);
}

static void test_flag_names(void **state)
{
	/* every flag kube-proxy users expect is there */
	static const char *const want[] = { "proxy-mode", "kubeconfig", "master", "hostname-override",
		"cluster-cidr", "masquerade-all", "min-sync-period", "sync-period", "nodeport-addresses",
		"ipvs-scheduler", "config", "cleanup", "healthz-bind-address", "metrics-bind-address",
		"v", "version", "help", "manifests", "feature-gates", NULL };

	for (unsigned i = 0; want[i]; i++) {
		bool found = false;

		for (unsigned j = 0; config_flag_names[j]; j++)
			found |= !strcmp(config_flag_names[j], want[i]);
		if (!found)
			fail_msg("flag --%s missing", want[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_flags_dual_stack),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_feature_gates),
		cmocka_unit_test(test_help_version),
		cmocka_unit_test(test_flag_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
