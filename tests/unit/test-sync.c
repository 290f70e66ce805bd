// SPDX-License-Identifier: Apache-2.0
/*
 * The sync runner's schedule (sync_runner_due / sync_runner_take): kube-proxy's
 * BoundedFrequencyRunner as its proxiers create it (minSyncPeriod, burstSyncs
 * 2): a token bucket, full at start, refilled one run per min-sync-period.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "helpers.h"
#include "switchyard/daemon.h"
#include "switchyard/model.h"

#define MIN 1.0
#define FULL 30.0

/* A runner whose first (full) sync ran at t = 0. */
static void started(struct sync_runner *s)
{
	memset(s, 0, sizeof(*s));
	s->tokens = SYNC_BURST;
	s->tokens_mono = 0;
	sync_runner_take(s, MIN, 0);
	s->first_sync_done = true;
	s->last_sync_mono = s->last_full_mono = 0.3;	/* it took 0.3 s */
}

/* A change at now: when does it run?  The run then takes its token. */
static double change(struct sync_runner *s, double now)
{
	double due;

	s->pending = true;
	due = sync_runner_due(s, MIN, FULL, true, now);
	if (due < now)
		due = now;
	sync_runner_take(s, MIN, due);
	s->pending = false;
	s->last_sync_mono = due + 0.3;
	return due;
}

static void test_first_change_at_once(void **state)
{
	struct sync_runner s;

	(void)state;
	started(&s);
	/* nothing pending: the periodic resync is next */
	assert_true(fabs(sync_runner_due(&s, MIN, FULL, true, 5) - 30.3) < 1e-9);
	/* a change after a quiet period runs at once */
	assert_true(fabs(change(&s, 10) - 10) < 1e-9);
	/* a second one right after the first: the burst's second token, at once
	 * (a limit of one sync per min-sync-period from the last would wait until 11.3) */
	assert_true(fabs(change(&s, 10.4) - 10.4) < 1e-9);
	/* the bucket is empty now: the third waits for the next token */
	double due = change(&s, 10.5);
	assert_true(due > 10.5);
	assert_true(fabs(due - 11.0) < 1e-9);
	/* sustained changes: one sync per min-sync-period */
	assert_true(fabs(change(&s, 11.1) - 12.0) < 1e-9);
	assert_true(fabs(change(&s, 12.1) - 13.0) < 1e-9);
	/* quiet again for 2 periods: the bucket is full again (2 at once) */
	assert_true(fabs(change(&s, 20) - 20) < 1e-9);
	assert_true(fabs(change(&s, 20.31) - 20.31) < 1e-9);
	assert_true(fabs(change(&s, 20.62) - 21.0) < 1e-9);
	/* pending: at once when a token is in, else when the next one is */
	s.pending = true;
	assert_true(sync_runner_due(&s, MIN, FULL, true, 40) <= 40);
	assert_true(fabs(sync_runner_due(&s, MIN, FULL, true, 21.1) - 22.0) < 1e-9);
}

static void test_no_limit_and_backoff(void **state)
{
	struct sync_runner s;

	(void)state;
	started(&s);
	/* --min-sync-period 0: every change at once */
	for (int i = 0; i < 10; i++) {
		s.pending = true;
		assert_true(sync_runner_due(&s, 0, FULL, true, 1 + i * 0.01) <= 1 + i * 0.01);
		sync_runner_take(&s, 0, 1 + i * 0.01);
	}
	/* a failed sync's backoff holds a change back even with tokens left */
	started(&s);
	s.backoff = 4;
	s.force_full = true;
	s.pending = true;
	assert_true(sync_runner_due(&s, MIN, FULL, true, 10) <= 10);	/* 0.3 + 4 passed */
	assert_true(fabs(sync_runner_due(&s, MIN, FULL, true, 2) - 4.3) < 1e-9);
	/* before Services and EndpointSlices are listed: poll, or nothing */
	assert_true(fabs(sync_runner_due(&s, MIN, FULL, false, 2) - 2.2) < 1e-9);
	s.pending = false;
	assert_true(isinf(sync_runner_due(&s, MIN, FULL, false, 2)));
}

/*
 * Dual stack: the runner syncs one instance per family.  One family failing
 * does not stop the other: it is programmed, the failure is logged with
 * the family and counted, and the runner retries with a full sync of both.
 */
struct fake {
	int family;
	unsigned syncs;
	size_t ports;		/* ports of its family the last sync saw */
	bool full, fail;
	double resync_in;	/* asked of the runner by the next sync */
};

static int fake_sync(struct proxy_mode *m, const struct sy_sync_input *in, bool full,
		     struct mode_sync_stats *st)
{
	struct fake *f = (struct fake *)m;

	f->syncs++;
	f->full = full;
	f->ports = hmap_count(ds_ports(in->services, f->family));
	st->table_rules[0] = f->ports;
	st->resync_in = f->resync_in;
	f->resync_in = 0;
	if (f->fail) {
		snprintf(st->err, sizeof(st->err), "injected failure");
		return -EIO;
	}
	return 0;
}

static const struct proxy_mode_ops fake_ops = { .name = "fake", .sync = fake_sync };

static void run_until(struct sy_daemon *d, const struct fake *f, unsigned syncs)
{
	for (int i = 0; i < 400 && f->syncs < syncs; i++)
		ev_run(d->loop, EVRUN_ONCE);
	assert_int_equal(f->syncs, syncs);
}

/* An EndpointSlice d-NAME of Service ns/d: one ready endpoint ADDR (family FAM), port a 8080. */
static void put_slice(struct sy_daemon *d, const char *name, const char *fam, const char *addr)
{
	char js[512];
	struct json_object *o;

	snprintf(js, sizeof(js),
		 "{\"metadata\":{\"name\":\"d-%s\",\"namespace\":\"ns\",\"labels\":"
		 "{\"kubernetes.io/service-name\":\"d\"}},\"addressType\":\"%s\","
		 "\"endpoints\":[{\"addresses\":[\"%s\"],\"conditions\":{\"ready\":true}}],"
		 "\"ports\":[{\"name\":\"a\",\"port\":8080,\"protocol\":\"TCP\"}]}",
		 name, fam, addr);
	o = J(js);
	assert_int_equal(cache_apply(d->cache, SY_KIND_ENDPOINTSLICE, CACHE_UPSERT, o), 0);
	json_object_put(o);
}

static void test_family_failure(void **state)
{
	struct sy_daemon *d = calloc(1, sizeof(*d));
	struct fake f4 = { .family = AF_INET }, f6 = { .family = AF_INET6, .fail = true };
	char path[] = "/tmp/test-sync-XXXXXX", log[4096] = "";
	struct json_object *o;
	int fd = mkstemp(path), saved = dup(2);
	FILE *fp;

	config_init(&d->cfg);
	d->cfg.min_sync_period = 0;
	d->loop = ev_loop_new(EVFLAG_AUTO);
	sy_metrics_init(&d->metrics);
	d->cache = cache_new(daemon_cache_changed, d);
	desired_init(&d->ds, &d->cfg);
	d->node_name = "n1";
	d->mode_ops = &fake_ops;
	d->modes[0] = (struct proxy_mode *)&f4;
	d->modes[1] = (struct proxy_mode *)&f6;
	d->primary_family = AF_INET;
	sync_runner_start(d);
	o = J("{\"metadata\":{\"name\":\"d\",\"namespace\":\"ns\"},\"spec\":{"
	      "\"clusterIPs\":[\"10.96.0.1\",\"fd00::1\"],\"ipFamilies\":[\"IPv4\",\"IPv6\"],"
	      "\"ports\":[{\"name\":\"a\",\"port\":80}]}}");
	cache_replace_begin(d->cache, SY_KIND_SERVICE);
	assert_int_equal(cache_apply(d->cache, SY_KIND_SERVICE, CACHE_UPSERT, o), 0);
	cache_replace_end(d->cache, SY_KIND_SERVICE);
	json_object_put(o);
	cache_replace_begin(d->cache, SY_KIND_ENDPOINTSLICE);
	cache_replace_end(d->cache, SY_KIND_ENDPOINTSLICE);

	/* the first sync: IPv6 fails, IPv4 is programmed all the same */
	assert_true(fd >= 0);
	dup2(fd, 2);
	run_until(d, &f4, 1);
	fflush(stderr);
	dup2(saved, 2);
	assert_int_equal(f6.syncs, 1);
	assert_int_equal(f4.ports, 1);
	assert_int_equal(f6.ports, 1);
	assert_int_equal(d->metrics.sync_failures_total[1], 1);
	assert_true(d->sync.pending);
	assert_false(d->sync.first_sync_done);
	fp = fopen(path, "r");
	assert_non_null(fp);
	log[fread(log, 1, sizeof(log) - 1, fp)] = '\0';
	fclose(fp);
	assert_non_null(strstr(log, "Failed to sync proxy rules (fake mode, IPv6): injected failure; "
				    "keeping the previous rules, retrying in 1s"));
	assert_null(strstr(log, "(fake mode, IPv4)"));

	/* the retry (after the backoff): a full sync of both, then healthy */
	f6.fail = false;
	run_until(d, &f4, 2);
	assert_int_equal(f6.syncs, 2);
	assert_true(f4.full);
	assert_true(f6.full);
	assert_int_equal(d->metrics.sync_failures_total[1], 1);
	assert_true(d->sync.first_sync_done);
	assert_false(d->sync.pending);
	/* each family's rule count under its own ip_family; IPv4 never failed */
	assert_int_equal(d->metrics.rules_total[0][0], 1);
	assert_int_equal(d->metrics.rules_total[1][0], 1);
	assert_int_equal(d->metrics.sync_failures_total[0], 0);

	/*
	 * Partial syncs call only the instance whose family changed (kube-proxy:
	 * an EndpointSlice goes to its family's proxier): an IPv4 endpoint
	 * change leaves the IPv6 instance alone, and the other way round
	 */
	put_slice(d, "v4", "IPv4", "10.244.1.5");
	run_until(d, &f4, 3);
	assert_false(f4.full);
	assert_int_equal(f6.syncs, 2);
	put_slice(d, "v6", "IPv6", "fd00:244:1::5");
	run_until(d, &f6, 3);
	assert_false(f6.full);
	assert_int_equal(f4.syncs, 3);
	/* a Service change touches both families' ports: both are called */
	o = J("{\"metadata\":{\"name\":\"d\",\"namespace\":\"ns\"},\"spec\":{"
	      "\"clusterIPs\":[\"10.96.0.1\",\"fd00::1\"],\"ipFamilies\":[\"IPv4\",\"IPv6\"],"
	      "\"ports\":[{\"name\":\"a\",\"port\":81}]}}");
	assert_int_equal(cache_apply(d->cache, SY_KIND_SERVICE, CACHE_UPSERT, o), 0);
	json_object_put(o);
	run_until(d, &f4, 4);
	assert_int_equal(f6.syncs, 4);
	/*
	 * an instance that asked to be called again (resync_in) is, on its own,
	 * when its time comes; the other is not
	 */
	f6.resync_in = 0.05;
	put_slice(d, "v6", "IPv6", "fd00:244:1::6");
	run_until(d, &f6, 5);
	assert_true(d->sync.mode_due_mono > 0);
	run_until(d, &f6, 6);
	assert_false(f6.full);
	assert_int_equal(f4.syncs, 4);
	assert_true(d->sync.mode_due_mono <= 0);

	close(fd);
	close(saved);
	unlink(path);
	ev_timer_stop(d->loop, &d->sync.timer);
	desired_fini(&d->ds);
	cache_free(d->cache);
	ev_loop_destroy(d->loop);
	config_free(&d->cfg);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_change_at_once),
		cmocka_unit_test(test_no_limit_and_backoff),
		cmocka_unit_test(test_family_failure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
