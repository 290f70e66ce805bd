// SPDX-License-Identifier: Apache-2.0
/* The mode table's daemon-facing fields: sync periods, rule tables, own devices. */
#include <string.h>
#include "helpers.h"
#include "switchyard/config.h"
#include "switchyard/mode.h"

static void periods(const struct proxy_mode_ops *ops, const struct sy_config *cfg, double *min,
		    double *full)
{
	*min = cfg->min_sync_period;
	*full = cfg->sync_period;
	if (ops->sync_periods)
		ops->sync_periods(cfg, min, full);
}

static void test_sync_periods(void **state)
{
	struct sy_config cfg;
	double min, full;

	config_init(&cfg);
	cfg.min_sync_period = 1;
	cfg.sync_period = 30;
	/* unset IPVS periods: the common ones everywhere */
	for (unsigned i = 0; proxy_modes[i]; i++) {
		periods(proxy_modes[i], &cfg, &min, &full);
		assert_true(min == 1 && full == 30);
	}
	cfg.ipvs_min_sync_period = 2;
	cfg.ipvs_sync_period = 90;
	periods(&ipvs_mode_ops, &cfg, &min, &full);
	assert_true(min == 2 && full == 90);
	periods(&iptables_mode_ops, &cfg, &min, &full);
	assert_true(min == 1 && full == 30);
	cfg.ipvs_min_sync_period = 0;	/* each one on its own */
	periods(&ipvs_mode_ops, &cfg, &min, &full);
	assert_true(min == 1 && full == 90);
	config_free(&cfg);
}

static void test_own_devices(void **state)
{
	assert_true(proxy_mode_owns_device("kube-ipvs0"));
	assert_false(proxy_mode_owns_device("kube-ipvs"));
	assert_false(proxy_mode_owns_device("eth0"));
	assert_false(proxy_mode_owns_device(""));
}

static void test_rule_tables(void **state)
{
	struct mode_sync_stats st = { .table_rules = { 3, 42 } };

	assert_int_equal(proxy_mode_table_rules(&iptables_mode_ops, &st, "filter"), 3);
	assert_int_equal(proxy_mode_table_rules(&iptables_mode_ops, &st, "nat"), 42);
	assert_int_equal(proxy_mode_table_rules(&iptables_mode_ops, &st, "mangle"), 0);
	assert_int_equal(proxy_mode_table_rules(&none_mode_ops, &st, "nat"), 0);
	assert_true(iptables_mode_ops.metric_families & MODE_METRICS_IPTABLES);
	assert_false(ipvs_mode_ops.metric_families & MODE_METRICS_IPTABLES);
	assert_false(none_mode_ops.metric_families & MODE_METRICS_IPTABLES);
	for (unsigned i = 0; proxy_modes[i]; i++) {
		unsigned n = 0;

		while (proxy_modes[i]->rule_tables && proxy_modes[i]->rule_tables[n])
			n++;
		assert_true(n <= MODE_MAX_TABLES);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sync_periods),
		cmocka_unit_test(test_own_devices),
		cmocka_unit_test(test_rule_tables),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
