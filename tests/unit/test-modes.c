// SPDX-License-Identifier: Apache-2.0
/* The mode table's daemon-facing fields: sync periods, rule tables, own devices. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "helpers.h"
#include "switchyard/config.h"
#include "switchyard/desired.h"
#include "switchyard/log.h"
#include "switchyard/mode.h"
#include "switchyard/model.h"

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

/* One instance per family; sync reads a struct sy_sync_input (services, policy). */
static void test_family_instances(void **state)
{
	struct sy_config cfg;
	struct desired_state ds;
	struct cache *c = cache_new(NULL, NULL);
	struct proxy_mode *m4 = NULL, *m6 = NULL, *m = NULL;
	struct mode_sync_stats st = { 0 };
	struct sy_sync_input in = { 0 };
	struct json_object *o;
	char err[128] = "";

	config_init(&cfg);
	desired_init(&ds, &cfg);
	o = J("{\"metadata\":{\"name\":\"d\"},\"spec\":{\"clusterIPs\":[\"10.96.0.1\",\"fd00::1\"],"
	      "\"ports\":[{\"name\":\"a\",\"port\":80},{\"name\":\"b\",\"port\":81}]}}");
	assert_int_equal(cache_apply(c, SY_KIND_SERVICE, CACHE_UPSERT, o), 0);
	json_object_put(o);
	o = J("{\"metadata\":{\"name\":\"six\"},\"spec\":{\"clusterIP\":\"fd00::2\","
	      "\"ports\":[{\"port\":53}]}}");
	assert_int_equal(cache_apply(c, SY_KIND_SERVICE, CACHE_UPSERT, o), 0);
	json_object_put(o);
	/* both families' changes: 2 IPv4 ports, 3 IPv6 ones */
	assert_int_equal(desired_update(&ds, c, false), 5);
	{
		unsigned n4, n6;

		ds_changes(&ds, AF_INET, &n4);
		ds_changes(&ds, AF_INET6, &n6);
		assert_int_equal(n4, 2);
		assert_int_equal(n6, 3);
	}
	in.services = &ds;
	assert_null(in.policy);
	/* a family a mode cannot program is refused with a reason (iptables: IPv4 and IPv6) */
	assert_int_equal(iptables_mode_ops.init(&m, &cfg, AF_UNIX, NULL, err, sizeof(err)), -EAFNOSUPPORT);
	assert_non_null(strstr(err, "IPv4 and IPv6 only"));
	assert_null(m);
	assert_int_equal(ipvs_mode_ops.init(&m, &cfg, AF_UNIX, NULL, err, sizeof(err)), -EAFNOSUPPORT);
	assert_null(m);
	/* the none mode makes one per family, each sees its family's ports */
	assert_int_equal(none_mode_ops.init(&m4, &cfg, AF_INET, NULL, err, sizeof(err)), 0);
	assert_int_equal(none_mode_ops.init(&m6, &cfg, AF_INET6, NULL, err, sizeof(err)), 0);
	assert_int_equal(none_mode_ops.sync(m4, &in, true, &st), 0);
	assert_int_equal(st.rules_total, 2);
	assert_int_equal(none_mode_ops.sync(m6, &in, true, &st), 0);
	assert_int_equal(st.rules_total, 3);
	none_mode_ops.free(m4);
	none_mode_ops.free(m6);
	desired_fini(&ds);
	cache_free(c);
	config_free(&cfg);
}

/* What a mode says besides its result goes to the owner's report, not the log. */
struct said {
	char sev[8];
	char msg[8][512];
	unsigned n;
};

static void said_fn(void *arg, char sev, const char *msg)
{
	struct said *s = arg;

	if (s->n < 8) {
		s->sev[s->n] = sev;
		snprintf(s->msg[s->n++], sizeof(s->msg[0]), "%s", msg);
	}
}

static void test_reports(void **state)
{
	struct sy_config cfg;
	struct proxy_mode *m = NULL;
	struct said s = { 0 };
	struct sy_report rep = { said_fn, &s };
	char err[256] = "";
	int r;

	config_init(&cfg);
	/* the none mode has nothing to clean and nothing to say */
	assert_int_equal(none_mode_ops.cleanup(&cfg, &rep), 0);
	assert_int_equal(s.n, 0);
	/* nftables: loopback NodePorts are ignored, and the owner is told */
	assert_int_equal(sy_cidr_parse("127.0.0.0/8", &cfg.nodeport_cidrs[0]), 0);
	cfg.n_nodeport_cidrs = 1;
	r = nftables_mode_ops.init(&m, &cfg, AF_INET, &rep, err, sizeof(err));
	if (r < 0) {
		config_free(&cfg);
		skip();	/* no nf_tables here (or not root): nothing to see */
	}
	assert_int_equal(s.n, 1);
	assert_int_equal(s.sev[0], 'W');
	assert_non_null(strstr(s.msg[0], "--nodeport-addresses 127.0.0.0/8 ignored for loopback"));
	nftables_mode_ops.free(m);
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sync_periods),
		cmocka_unit_test(test_own_devices),
		cmocka_unit_test(test_rule_tables),
		cmocka_unit_test(test_family_instances),
		cmocka_unit_test(test_reports),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
