// SPDX-License-Identifier: Apache-2.0
/*
 * ServiceCIDRs end to end without a kernel: the decoder (the API server's
 * validation of spec.cidrs), the cache (bad input skipped and reported,
 * status-only updates no change, relists), the desired state's union per
 * family, and the nftables planner's drop rules in cluster-ips-check.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "helpers.h"
#include "switchyard/addr.h"
#include "switchyard/desired.h"
#include "switchyard/log.h"
#include "switchyard/model.h"
#include "switchyard/nft.h"
#include "switchyard/util.h"
#include "../../modes/nftables_plan.h"

static char last_report[600];
static unsigned n_reports;

static void on_report(void *arg, char sev, const char *msg)
{
	(void)arg;
	snprintf(last_report, sizeof(last_report), "%c %s", sev, msg);
	n_reports++;
}

static struct json_object *sc(const char *name, const char *rv, const char *cidrs)
{
	char buf[1024];

	snprintf(buf, sizeof(buf), "{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"ServiceCIDR\","
		 "\"metadata\":{\"name\":\"%s\",\"resourceVersion\":\"%s\"},\"spec\":{\"cidrs\":%s}}",
		 name, rv, cidrs);
	return J(buf);
}

static int decode_err(const char *cidrs, char *err, size_t errlen)
{
	struct json_object *o = sc("x", "1", cidrs);
	struct service_cidr *s = NULL;
	int r = service_cidr_decode(o, &s, err, errlen);

	service_cidr_free(s);
	json_object_put(o);
	return r;
}

static void test_decode(void **state)
{
	struct json_object *o = sc("kubernetes", "7", "[\"10.96.0.0/12\",\"fd00:10:96::/112\"]");
	struct service_cidr *s = NULL;
	char err[300];

	(void)state;
	assert_int_equal(service_cidr_decode(o, &s, err, sizeof(err)), 0);
	assert_string_equal(s->key, "kubernetes");
	assert_string_equal(s->resource_version, "7");
	assert_int_equal(s->n_cidrs, 2);
	assert_string_equal(sy_cidr_str(&s->cidrs[0]), "10.96.0.0/12");
	assert_string_equal(sy_cidr_str(&s->cidrs[1]), "fd00:10:96::/112");
	assert_false(s->deleting);
	service_cidr_free(s);
	json_object_put(o);

	/* host bits set: accepted (the API warns), kept masked */
	o = sc("x", "1", "[\"10.96.0.1/12\"]");
	assert_int_equal(service_cidr_decode(o, &s, err, sizeof(err)), 0);
	assert_string_equal(sy_cidr_str(&s->cidrs[0]), "10.96.0.0/12");
	service_cidr_free(s);
	json_object_put(o);

	/* being deleted: still counts, flagged */
	o = J("{\"metadata\":{\"name\":\"old\",\"deletionTimestamp\":\"2026-12-07T01:00:00Z\","
	      "\"finalizers\":[\"networking.k8s.io/service-cidr-finalizer\"]},"
	      "\"spec\":{\"cidrs\":[\"10.100.0.0/24\"]}}");
	assert_int_equal(service_cidr_decode(o, &s, err, sizeof(err)), 0);
	assert_true(s->deleting);
	assert_null(s->resource_version);
	service_cidr_free(s);
	json_object_put(o);

	/* what the API server refuses */
	assert_int_equal(decode_err("[]", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "at least one CIDR required"));
	assert_int_equal(decode_err("[\"10.0.0.0/24\",\"fd00::/64\",\"10.1.0.0/24\"]", err,
				    sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "up to 2"));
	assert_int_equal(decode_err("[\"10.0.0.0/24\",\"10.1.0.0/24\"]", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "one CIDR for each IP family"));
	assert_int_equal(decode_err("[\"fd00::/64\",\"fd01::/64\"]", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "both are IPv6"));
	assert_int_equal(decode_err("[\"10.0.0.300/24\"]", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "spec.cidrs[0]: \"10.0.0.300/24\" is not a valid CIDR"));
	assert_int_equal(decode_err("[\"10.0.0.0/33\"]", err, sizeof(err)), -EINVAL);
	assert_int_equal(decode_err("[\"10.0.0.0\"]", err, sizeof(err)), -EINVAL);
	assert_int_equal(decode_err("[\"10.0.0.0/24\",7]", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "spec.cidrs[1]"));
	assert_int_equal(decode_err("\"10.0.0.0/24\"", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "spec.cidrs is not a list");
	o = J("{\"metadata\":{\"name\":\"Bad_Name\"},\"spec\":{\"cidrs\":[\"10.0.0.0/24\"]}}");
	assert_int_equal(service_cidr_decode(o, &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "metadata.name"));
	json_object_put(o);
	o = J("{\"metadata\":{\"name\":\"nospec\"}}");
	assert_int_equal(service_cidr_decode(o, &s, err, sizeof(err)), -EINVAL);
	json_object_put(o);
}

static void free_keys(struct hmap *m)
{
	struct hmap_iter it;
	const char *k;

	hmap_iter_init(&it, m);
	while (hmap_iter_next(&it, &k, NULL))
		free((char *)k);
	hmap_clear(m);
}

static void test_cache_desired(void **state)
{
	struct cache *c = cache_new(NULL, NULL);
	struct desired_state ds;
	struct json_object *a = sc("kubernetes", "1", "[\"10.96.0.0/16\",\"fd00:10:96::/112\"]");
	struct json_object *b = sc("extra", "2", "[\"10.97.0.0/24\"]");
	struct json_object *dup = sc("same", "3", "[\"10.96.0.0/16\"]");
	struct json_object *bad = sc("extra", "4", "[\"10.97.0.0/24\",\"10.98.0.0/24\"]");
	struct json_object *status = J("{\"metadata\":{\"name\":\"extra\",\"resourceVersion\":\"5\"},"
				       "\"spec\":{\"cidrs\":[\"10.97.0.0/24\"]},\"status\":{"
				       "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}");
	const struct sy_cidr *v;
	unsigned n;
	struct hmap dirty;

	(void)state;
	cache_set_report(c, &(struct sy_report){ on_report, NULL });
	desired_init(&ds, NULL);
	/* none known: no CIDRs, nothing changed */
	assert_int_equal(desired_update(&ds, c, false), 0);
	assert_false(ds.service_cidrs_changed);
	assert_null(ds_service_cidrs(&ds, AF_INET, &n));
	assert_int_equal(n, 0);

	assert_int_equal(cache_apply(c, SY_KIND_SERVICECIDR, CACHE_UPSERT, a), 0);
	assert_int_equal(cache_apply(c, SY_KIND_SERVICECIDR, CACHE_UPSERT, b), 0);
	assert_int_equal(cache_apply(c, SY_KIND_SERVICECIDR, CACHE_UPSERT, dup), 0);
	assert_int_equal(hmap_count(cache_service_cidrs(c)), 3);
	/* a ServiceCIDR marks no Service dirty */
	hmap_init(&dirty);
	cache_take_dirty(c, &dirty);
	assert_int_equal(hmap_count(&dirty), 0);
	hmap_clear(&dirty);
	desired_update(&ds, c, false);
	assert_true(ds.service_cidrs_changed);
	/* the union, each once, sorted, IPv4 first */
	assert_int_equal(ds.n_service_cidrs, 3);
	v = ds_service_cidrs(&ds, AF_INET, &n);
	assert_int_equal(n, 2);
	assert_string_equal(sy_cidr_str(&v[0]), "10.96.0.0/16");
	assert_string_equal(sy_cidr_str(&v[1]), "10.97.0.0/24");
	v = ds_service_cidrs(&ds, AF_INET6, &n);
	assert_int_equal(n, 1);
	assert_string_equal(sy_cidr_str(&v[0]), "fd00:10:96::/112");
	desired_commit(&ds);
	assert_false(ds.service_cidrs_changed);

	/* an invalid update: reported with kind, name and reason, skipped, the last good one stays */
	n_reports = 0;
	assert_int_equal(cache_apply(c, SY_KIND_SERVICECIDR, CACHE_UPSERT, bad), -EINVAL);
	assert_int_equal(n_reports, 1);
	assert_non_null(strstr(last_report, "E ServiceCIDR extra: spec.cidrs: may specify no more "
			       "than one CIDR for each IP family"));
	assert_non_null(strstr(last_report, "skipped"));
	assert_false(cache_service_cidrs_changed(c, false));
	desired_update(&ds, c, false);
	assert_false(ds.service_cidrs_changed);
	assert_int_equal(ds.n_service_cidrs, 3);
	/* a new version with the same CIDRs (status): no change */
	assert_int_equal(cache_apply(c, SY_KIND_SERVICECIDR, CACHE_UPSERT, status), 0);
	assert_false(cache_service_cidrs_changed(c, false));

	/* deleting one of two identical CIDRs keeps it (the other ServiceCIDR still has it) */
	assert_int_equal(cache_apply(c, SY_KIND_SERVICECIDR, CACHE_DELETE, dup), 0);
	desired_update(&ds, c, false);
	assert_false(ds.service_cidrs_changed);
	assert_int_equal(ds.n_service_cidrs, 3);
	/* a relist without "extra": it goes */
	cache_replace_begin(c, SY_KIND_SERVICECIDR);
	assert_int_equal(cache_apply(c, SY_KIND_SERVICECIDR, CACHE_UPSERT, a), 0);
	cache_replace_end(c, SY_KIND_SERVICECIDR);
	assert_true(cache_synced(c, SY_KIND_SERVICECIDR));
	desired_update(&ds, c, false);
	assert_true(ds.service_cidrs_changed);
	v = ds_service_cidrs(&ds, AF_INET, &n);
	assert_int_equal(n, 1);
	assert_string_equal(sy_cidr_str(&v[0]), "10.96.0.0/16");
	desired_commit(&ds);
	/* the last one deleted: none */
	assert_int_equal(cache_apply(c, SY_KIND_SERVICECIDR, CACHE_DELETE, a), 0);
	desired_update(&ds, c, false);
	assert_true(ds.service_cidrs_changed);
	assert_int_equal(ds.n_service_cidrs, 0);
	assert_int_equal(cache_get_stats(c)->service_cidr_changes, 6);

	free_keys(&dirty);
	desired_fini(&ds);
	cache_free(c);
	json_object_put(a);
	json_object_put(b);
	json_object_put(dup);
	json_object_put(bad);
	json_object_put(status);
}

static const struct nftp_chain *chain(const struct nftp_globals *g, const char *name)
{
	for (unsigned i = 0; i < g->n_chains; i++)
		if (!strcmp(g->chains[i].name, name))
			return &g->chains[i];
	return NULL;
}

static void test_plan(void **state)
{
	struct cache *c = cache_new(NULL, NULL);
	struct desired_state ds;
	struct json_object *a = sc("kubernetes", "1", "[\"10.96.0.0/16\",\"fd00:10:96::/112\"]");
	struct json_object *b = sc("extra", "2", "[\"10.97.0.0/24\"]");
	struct nftp_opts o4, o6, none;
	struct nftp_globals g;
	const struct nftp_chain *ch;

	(void)state;
	desired_init(&ds, NULL);
	nftp_opts_from(&none, NULL, &ds, AF_INET);
	assert_int_equal(none.n_service_cidrs, 0);
	/* without ServiceCIDRs: only the reject rule */
	nftp_globals_build(&g, &none);
	ch = chain(&g, "cluster-ips-check");
	assert_non_null(ch);
	assert_int_equal(ch->n_rules, 1);
	assert_int_equal(ch->rules[0].act, SY_NFT_A_REJECT);
	nftp_globals_free(&g);

	assert_int_equal(cache_apply(c, SY_KIND_SERVICECIDR, CACHE_UPSERT, a), 0);
	assert_int_equal(cache_apply(c, SY_KIND_SERVICECIDR, CACHE_UPSERT, b), 0);
	desired_update(&ds, c, false);
	nftp_opts_from(&o4, NULL, &ds, AF_INET);
	nftp_opts_from(&o6, NULL, &ds, AF_INET6);
	/* a change of the CIDRs is a change of the table's globals */
	assert_false(nftp_opts_equal(&o4, &none));
	assert_int_equal(o4.n_service_cidrs, 2);
	assert_int_equal(o6.n_service_cidrs, 1);

	/* the reject of @cluster-ips first, then a drop per CIDR of the table's family */
	nftp_globals_build(&g, &o4);
	ch = chain(&g, "cluster-ips-check");
	assert_int_equal(ch->n_rules, 3);
	assert_int_equal(ch->rules[0].act, SY_NFT_A_REJECT);
	assert_int_equal(ch->rules[0].m, SY_NFT_M_DADDR_SET);
	for (unsigned i = 1; i < 3; i++) {
		assert_int_equal(ch->rules[i].act, SY_NFT_A_DROP);
		assert_int_equal(ch->rules[i].m, SY_NFT_M_DADDR);
	}
	assert_string_equal(sy_addr_str(&ch->rules[1].daddr), "10.96.0.0");
	assert_int_equal(ch->rules[1].dplen, 16);
	assert_string_equal(sy_addr_str(&ch->rules[2].daddr), "10.97.0.0");
	assert_int_equal(ch->rules[2].dplen, 24);
	/* the chain's jumps stay where kube-proxy has them: forward and output after DNAT */
	ch = chain(&g, "filter-forward");
	assert_string_equal(ch->rules[ch->n_rules - 1].chain, "cluster-ips-check");
	ch = chain(&g, "filter-output-post-dnat");
	assert_string_equal(ch->rules[0].chain, "cluster-ips-check");
	assert_int_equal(ch->rules[0].m, SY_NFT_M_CT_NEW);
	nftp_globals_free(&g);

	nftp_globals_build(&g, &o6);
	ch = chain(&g, "cluster-ips-check");
	assert_int_equal(ch->n_rules, 2);
	assert_int_equal(ch->rules[1].act, SY_NFT_A_DROP);
	assert_string_equal(sy_addr_str(&ch->rules[1].daddr), "fd00:10:96::");
	assert_int_equal(ch->rules[1].dplen, 112);
	nftp_globals_free(&g);

	/* the same per-CIDR rule maker: several cluster CIDRs, a return per source CIDR */
	assert_int_equal(sy_cidr_parse("10.244.0.0/16", &o4.cluster_cidrs[0]), 0);
	assert_int_equal(sy_cidr_parse("10.245.0.0/16", &o4.cluster_cidrs[1]), 0);
	o4.n_cluster_cidrs = 2;
	nftp_globals_build(&g, &o4);
	ch = chain(&g, "mark-for-masquerade-non-pod");
	assert_non_null(ch);
	assert_int_equal(ch->n_rules, 3);
	assert_int_equal(ch->rules[1].m, SY_NFT_M_SADDR);
	assert_int_equal(ch->rules[1].act, SY_NFT_A_RETURN);
	assert_string_equal(sy_addr_str(&ch->rules[1].saddr), "10.245.0.0");
	assert_int_equal(ch->rules[1].splen, 16);
	assert_int_equal(ch->rules[2].act, SY_NFT_A_JUMP);
	assert_int_equal(chain(&g, "cluster-ips-check")->n_rules, 3);
	nftp_globals_free(&g);

	desired_fini(&ds);
	cache_free(c);
	json_object_put(a);
	json_object_put(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode),
		cmocka_unit_test(test_cache_desired),
		cmocka_unit_test(test_plan),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
