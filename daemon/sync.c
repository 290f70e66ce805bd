// SPDX-License-Identifier: Apache-2.0
/*
 * The sync runner: kube-proxy's bounded-frequency semantics on one libev
 * timer.  Changes only mark work pending; a token bucket (SYNC_BURST runs,
 * one more per min-sync-period, as kube-proxy's BoundedFrequencyRunner with
 * burstSyncs 2) lets a change after a quiet period sync at once and
 * coalesces bursts into one sync per min-sync-period after that; a full
 * resync every sync-period repairs drift;
 * a failed sync keeps the last good rules and is retried with backoff.
 * Nothing is programmed before Services and EndpointSlices are listed.
 *
 * /run/xtables.lock is taken without waiting around a whole sync; while
 * another program holds it the timer polls every LOCK_POLL seconds (one
 * flock(LOCK_NB) call) and the loop keeps serving healthz, metrics and the
 * watches.  Contention is not a failure: no backoff, the sync runs as soon
 * as the lock is free.
 */
#include <errno.h>
#include <math.h>
#include <string.h>
#include "switchyard/conntrack.h"
#include "switchyard/daemon.h"
#include "switchyard/log.h"
#include "switchyard/model.h"
#include "switchyard/podnet.h"
#include "switchyard/svc_health.h"

#define BACKOFF_MIN 1.0
#define BACKOFF_MAX 30.0
#define LOCK_POLL 0.01		/* seconds between tries while xtables.lock is busy */

/* The common periods, or the mode's own. */
static void periods(const struct sy_daemon *d, double *min, double *full)
{
	*min = d->cfg.min_sync_period;
	*full = d->cfg.sync_period;
	if (d->mode_ops->sync_periods)
		d->mode_ops->sync_periods(&d->cfg, min, full);
}

static double min_period_of(const struct sy_daemon *d)
{
	double min, full;

	periods(d, &min, &full);
	return min;
}

static double full_period(const struct sy_daemon *d)
{
	double min, full;

	periods(d, &min, &full);
	return full;
}

static bool sources_ready(const struct sy_daemon *d)
{
	return cache_synced(d->cache, SY_KIND_SERVICE) && cache_synced(d->cache, SY_KIND_ENDPOINTSLICE);
}

/* The bucket's tokens at now (refilled one per min_period, at most SYNC_BURST). */
static double tokens_at(const struct sync_runner *s, double min_period, double now)
{
	double t = s->tokens;

	if (now > s->tokens_mono)
		t += (now - s->tokens_mono) / min_period;
	return fmin(t, SYNC_BURST);
}

void sync_runner_take(struct sync_runner *s, double min_period, double now)
{
	if (min_period <= 0)
		return;
	s->tokens = fmax(tokens_at(s, min_period, now) - 1, 0);
	s->tokens_mono = now;
}

double sync_runner_due(const struct sync_runner *s, double min_period, double full_period,
		       bool sources_ready, double now)
{
	double due = INFINITY;

	if (!sources_ready)
		return s->pending ? now + 0.2 : INFINITY;	/* podnet may still want it */
	if (!s->first_sync_done || s->force_full)
		due = s->last_sync_mono + (s->backoff > 0 ? s->backoff : 0);
	if (s->pending) {
		double at = now, tok = min_period > 0 ? tokens_at(s, min_period, now) : SYNC_BURST;

		if (tok < 1)
			at = now + (1 - tok) * min_period;	/* when the next token is in */
		due = fmin(due, fmax(at, s->last_sync_mono + s->backoff));
	}
	if (s->first_sync_done)
		due = fmin(due, s->last_full_mono + full_period);
	if (s->mode_due_mono > 0)
		due = fmin(due, s->mode_due_mono);
	return due;
}

/* When the timer should fire next (monotonic seconds), or INFINITY. */
static double next_due(const struct sy_daemon *d)
{
	double min, full;

	periods(d, &min, &full);
	return sync_runner_due(&d->sync, min, full, sources_ready(d), sy_now_mono());
}

static void schedule(struct sy_daemon *d)
{
	double due = next_due(d), now = sy_now_mono(), delay;

	if (isinf(due))
		return;
	delay = due > now ? due - now : 0;
	ev_timer_stop(d->loop, &d->sync.timer);
	ev_timer_set(&d->sync.timer, delay, 0);
	ev_timer_start(d->loop, &d->sync.timer);
}

void sync_runner_kick(struct sy_daemon *d)
{
	struct sync_runner *s = &d->sync;

	if (!s->pending) {
		s->pending = true;
		s->queued_since_mono = sy_now_mono();
		d->metrics.last_queued_timestamp = sy_now_wall();
	}
	/* only reschedule when the timer would fire later than needed */
	if (!ev_is_active(&s->timer) ||
	    ev_timer_remaining(d->loop, &s->timer) > next_due(d) - sy_now_mono())
		schedule(d);
}

bool sync_runner_healthy(const struct sy_daemon *d)
{
	const struct sync_runner *s = &d->sync;

	if (!s->first_sync_done)
		return false;
	if (s->pending && sy_now_mono() - s->queued_since_mono > 2 * full_period(d))
		return false;
	return true;
}

/*
 * This node's zone and the addresses NodePorts answer on.  The address
 * scan is O(addresses) — in IPVS mode kube-ipvs0 holds one per Service —
 * so it runs on full syncs only (every --sync-period); a partial sync keeps
 * the last scan.
 */
static bool refresh_node(struct sy_daemon *d, bool full)
{
	const struct node *self = cache_node(d->cache, d->node_name);
	const char *old_zone = d->ds.node.zone, *zone = self ? self->zone : NULL;
	bool zone_changed = !(old_zone == zone || (old_zone && zone && !strcmp(old_zone, zone)));
	struct sy_addr addrs[256];
	int n;

	if (!full && !zone_changed && d->ds.node.name)
		return false;
	n = daemon_nodeport_addresses(d, addrs, 256);
	if (n < 0)
		n = 0;
	desired_set_node(&d->ds, d->node_name, zone, addrs, (unsigned)n,
			 !d->cfg.n_nodeport_cidrs && !d->cfg.nodeport_primary);
	return zone_changed;
}

/*
 * Network programming latency the kube-proxy way: from an EndpointSlice's
 * last-change-trigger-time to now, once per Service whose trigger time
 * moved, and only for changes made after this process started (a restart
 * must not report the age of old annotations).
 */
static void observe_changes(struct sy_daemon *d, double now_wall)
{
	const struct cache_stats *cs = cache_get_stats(d->cache);
	struct hmap seen;

	hmap_init(&seen);
	for (unsigned i = 0; i < d->ds.n_changes; i++) {
		const struct ds_port *p = d->ds.changes[i].new, *old = d->ds.changes[i].old;

		if (!p || p->trigger_time <= 0 || p->trigger_time < d->sync.start_wall ||
		    now_wall < p->trigger_time || (old && old->trigger_time == p->trigger_time) ||
		    hmap_get(&seen, p->svc_key))
			continue;
		hmap_put(&seen, p->svc_key, (void *)1);
		sy_hist_observe(&d->metrics.netprog_duration, now_wall - p->trigger_time);
	}
	hmap_clear(&seen);
	d->metrics.endpoint_changes_total = cs->endpoint_changes;
	d->metrics.service_changes_total = cs->service_changes;
	d->metrics.endpoint_changes_pending = 0;
	d->metrics.service_changes_pending = 0;
}

static void run_podnet(struct sy_daemon *d, bool full)
{
	char err[600];
	int r;

	if (!d->podnet || !cache_synced(d->cache, SY_KIND_NODE))
		return;
	if (!cache_nodes_changed(d->cache, true) && !full)
		return;
	r = podnet_sync(d->podnet, d->cache, full, err, sizeof(err));
	d->metrics.podnet_syncs_total++;
	if (r < 0) {
		d->metrics.podnet_errors_total++;
		log_error("Pod network sync failed: %s; retrying", err);
		cache_nodes_changed_set(d->cache);	/* retried on the next sync */
	}
}

/* The conntrack cleanup's warning and summary, as it reported them. */
static void log_ct(const struct ct_stats *cts)
{
	char s[256];

	if (cts->err[0])
		log_warn("Conntrack cleanup: %s", cts->err);
	if (cts->checked && log_verbosity >= 2) {
		ct_stats_summary(cts, s, sizeof(s));
		log_v(2, "Conntrack cleanup: %s", s);
	}
}

static void run_sync(struct sy_daemon *d)
{
	struct sync_runner *s = &d->sync;
	struct mode_sync_stats st = { 0 };
	struct ct_stats cts = { 0 };
	double t0 = sy_now_mono(), now_wall, elapsed;
	bool full, zone_changed;
	int r;

	full = !s->first_sync_done || s->force_full || t0 >= s->last_full_mono + full_period(d);
	run_podnet(d, full);
	t0 = sy_now_mono();	/* the proxy's sync duration excludes the pod network's */
	if (!sources_ready(d)) {
		log_v(4, "Waiting for the first listing of Services and EndpointSlices");
		schedule(d);
		return;
	}
	sync_runner_take(s, min_period_of(d), t0);
	zone_changed = refresh_node(d, full);
	desired_update(&d->ds, d->cache, zone_changed || !s->first_sync_done);
	if (d->ds.node_changed)
		full = true;
	if (!full && !d->ds.n_changes && !(s->mode_due_mono > 0 && t0 >= s->mode_due_mono)) {
		s->pending = false;
		s->queued_since_mono = 0;
		desired_commit(&d->ds);
		schedule(d);
		return;
	}
	r = d->mode_ops->sync(d->mode, &(struct sy_sync_input){ .services = &d->ds, .policy = d->policy },
			      full, &st);
	elapsed = sy_now_mono() - t0;
	s->last_sync_mono = sy_now_mono();
	d->metrics.syncs_total++;
	if (r < 0) {
		s->consecutive_failures++;
		s->backoff = s->backoff ? fmin(s->backoff * 2, BACKOFF_MAX) : BACKOFF_MIN;
		s->force_full = true;
		s->pending = true;
		d->metrics.sync_failures_total++;
		log_error("Failed to sync proxy rules (%s mode): %s; keeping the previous rules, "
			  "retrying in %.0fs", d->mode_ops->name, st.err[0] ? st.err : strerror(-r),
			  s->backoff);
		schedule(d);
		return;
	}
	if (d->ct) {
		ct_cleanup(d->ct, &d->ds, full, &cts);
		log_ct(&cts);
	}
	d->metrics.conntrack_deleted_total += cts.deleted;
	d->metrics.conntrack_errors_total += cts.errors;
	if (d->ct)
		sy_hist_observe(&d->metrics.conntrack_duration, cts.seconds);
	if (d->svc_health)
		svc_health_sync(d->svc_health, &d->ds);

	now_wall = sy_now_wall();
	observe_changes(d, now_wall);
	sy_hist_observe(&d->metrics.sync_duration, elapsed);
	sy_hist_observe(full ? &d->metrics.sync_full_duration : &d->metrics.sync_partial_duration,
			elapsed);
	d->metrics.last_sync_timestamp = now_wall;
	d->metrics.kernel_writes_total += st.writes;
	for (unsigned i = 0; i < MODE_MAX_TABLES; i++) {
		d->metrics.rules_total[i] = st.table_rules[i];
		d->metrics.rules_last[i] = st.table_rules[i];
	}
	d->last_sync_wall = now_wall;
	s->mode_due_mono = st.resync_in > 0 ? sy_now_mono() + st.resync_in : 0;
	log_v(2, "SyncProxyRules complete: mode=%s full=%s services=%zu ports=%zu changed=%u "
	      "writes=%llu rules=%llu conntrack_deleted=%llu elapsed=%.3fms kernel_write=%.3fms "
	      "tables_unread=%u tables_patched=%u tables_relaid=%u",
	      d->mode_ops->name, full ? "true" : "false", hmap_count(cache_services(d->cache)),
	      hmap_count(&d->ds.ports), d->ds.n_changes, (unsigned long long)st.writes,
	      (unsigned long long)st.rules_total, (unsigned long long)cts.deleted, elapsed * 1e3,
	      st.kernel_write_seconds * 1e3, st.table_reads_skipped, st.tables_patched,
	      st.tables_relaid);
	if (!s->first_sync_done)
		log_info("First sync complete: %zu Service ports programmed in %.3f s",
			 hmap_count(&d->ds.ports), elapsed);
	desired_commit(&d->ds);
	s->first_sync_done = true;
	s->consecutive_failures = 0;
	s->backoff = 0;
	s->force_full = false;
	s->pending = false;
	s->queued_since_mono = 0;
	if (full)
		s->last_full_mono = s->last_sync_mono;
	schedule(d);
}

static bool needs_xtables_lock(const struct sy_daemon *d)
{
	return d->mode_ops->xtables_lock || d->podnet;
}

/* Another program holds xtables.lock: poll again soon, serve meanwhile. */
static void lock_busy(struct sy_daemon *d)
{
	struct sync_runner *s = &d->sync;

	if (!s->lock_wait_mono) {
		s->lock_wait_mono = sy_now_mono();
		d->metrics.xtables_lock_waits_total++;
		log_v(2, "The xtables lock is held by another program; syncing once it is free");
	}
	ev_timer_stop(d->loop, &s->timer);
	ev_timer_set(&s->timer, LOCK_POLL, 0);
	ev_timer_start(d->loop, &s->timer);
}

static void lock_taken(struct sy_daemon *d)
{
	struct sync_runner *s = &d->sync;
	double waited;

	if (!s->lock_wait_mono)
		return;
	waited = sy_now_mono() - s->lock_wait_mono;
	d->metrics.xtables_lock_wait_seconds += waited;
	s->lock_wait_mono = 0;
	if (waited >= 1.0)
		log_info("Waited %.3f s for the xtables lock (held by another program)", waited);
	else
		log_v(2, "Waited %.3f s for the xtables lock", waited);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sy_daemon *d = container_of(w, struct sy_daemon, sync.timer);
	int lock = -1;

	/* NetworkPolicy is nftables only: it never waits for xtables.lock */
	daemon_policy_sync(d, full_period(d));

	if (needs_xtables_lock(d)) {
		lock = sy_xtables_trylock();
		if (lock == -EAGAIN) {
			lock_busy(d);
			return;
		}
		/* another error (say the lock file cannot be opened): the sync's own
		 * lock call fails the same way, without waiting, and is retried */
		lock_taken(d);
	}
	run_sync(d);
	sy_xtables_unlock(lock);
}

void sync_runner_start(struct sy_daemon *d)
{
	ev_timer_init(&d->sync.timer, timer_cb, 0, 0);
	d->sync.start_wall = sy_now_wall();
	d->sync.pending = true;
	d->sync.queued_since_mono = sy_now_mono();
	d->sync.tokens = SYNC_BURST;
	d->sync.tokens_mono = d->sync.queued_since_mono;
	schedule(d);
}
