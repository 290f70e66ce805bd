// SPDX-License-Identifier: Apache-2.0
/*
 * The sync runner's schedule (sync_runner_due / sync_runner_take): kube-proxy's
 * BoundedFrequencyRunner as its proxiers create it (minSyncPeriod, burstSyncs
 * 2): a token bucket, full at start, refilled one run per min-sync-period.
 */
#include <math.h>
#include <string.h>
#include "helpers.h"
#include "switchyard/daemon.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_change_at_once),
		cmocka_unit_test(test_no_limit_and_backoff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
