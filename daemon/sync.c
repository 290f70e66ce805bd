// SPDX-License-Identifier: Apache-2.0
/*
 * The sync runner: kube-proxy's bounded-frequency semantics on one libev
 * timer.  Changes only mark work pending; a token bucket (SYNC_BURST runs,
 * one more per min-sync-period, as kube-proxy's BoundedFrequencyRunner with
 * burstSyncs 2) lets a change after a quiet period sync at once and
 * coalesces bursts into one sync per min-sync-period after that; a full
 * resync every sync-period repairs drift;
 * a failed sync keeps the last good rules and is retried with backoff.
 * Nothing is programmed before Services and EndpointSlices (and the
 * ServiceCIDRs, when the mode reads them, and the Node, when its addresses
 * make the NodePort rules) are listed.
 *
 * /run/xtables.lock is taken without waiting around a whole sync; while
 * another program holds it the timer polls every LOCK_POLL seconds (one
 * flock(LOCK_NB) call) and the loop keeps serving healthz, metrics and the
 * watches.  Contention is not a failure: no backoff, the sync runs as soon
 * as the lock is free.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
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
#define FIRST_WAIT 10.0		/* the longest the first sync waits for ServiceCIDRs, the Node */

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

/*
 * The NodePort addresses come from the Node object (--nodeport-addresses
 * "primary", the nftables mode's default): a first sync before the Node is
 * listed would program every local address, and a restart rewrite them.
 */
static bool node_needed(const struct sy_daemon *d)
{
	return d->cfg.nodeport_primary && !d->cfg.n_nodeport_cidrs;
}

/*
 * Services and EndpointSlices listed; and the ServiceCIDRs when the mode
 * reads them (a first sync without them would take the drop rules of the
 * previous run away until they come; the client marks them listed also
 * when the API server does not serve them or refuses them); and the Node
 * when its addresses make the NodePort rules (kube-proxy waits for the
 * Node before it creates the proxier).
 */
static bool sources_ready(const struct sy_daemon *d)
{
	return cache_synced(d->cache, SY_KIND_SERVICE) && cache_synced(d->cache, SY_KIND_ENDPOINTSLICE) &&
	       (!daemon_reads_service_cidrs(d) || cache_synced(d->cache, SY_KIND_SERVICECIDR)) &&
	       (!node_needed(d) || cache_synced(d->cache, SY_KIND_NODE));
}

/*
 * Services and EndpointSlices are listed, a kind the first sync waits for
 * (ServiceCIDRs, the Node) not (its list keeps failing, or hangs): after
 * FIRST_WAIT the first sync goes without it (said once), as kube-proxy's
 * always does for ServiceCIDRs; it follows when listed.
 */
static void wait_listing(struct sy_daemon *d, double now, bool needed, enum sy_kind kind,
			 double *since, const char *what)
{
	if (!needed || cache_synced(d->cache, kind) || !cache_synced(d->cache, SY_KIND_SERVICE) ||
	    !cache_synced(d->cache, SY_KIND_ENDPOINTSLICE)) {
		*since = 0;
		return;
	}
	if (!*since) {
		*since = now;
		return;
	}
	if (now - *since < FIRST_WAIT)
		return;
	log_warn("%s not listed after %.0fs; syncing without %s", kind == SY_KIND_NODE ? "Node" :
		 "ServiceCIDRs", FIRST_WAIT, what);
	*since = 0;
	cache_set_synced(d->cache, kind);
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
 * The Node object came after the start (a Kubernetes source lists it
 * later): its primary family, if --bind-address did not give one, should
 * have an instance.  kube-proxy waits for the Node and refuses to start
 * without its primary family; here the proxying of the other family goes
 * on and the mismatch is logged once.
 */
static void check_primary(struct sy_daemon *d)
{
	bool known;
	int f;

	if (d->primary_known)
		return;
	f = daemon_primary_family(d, &known);
	if (!known)
		return;
	d->primary_known = true;
	if (f == d->primary_family)
		return;
	d->primary_family = f;
	if (!daemon_mode(d, f))
		log_error("Node %s has primary IP family %s, which the %s mode cannot program on "
			  "this host; only %s Services are proxied", d->node_name, sy_family_name(f),
			  d->mode_ops->name, sy_family_name(f == AF_INET ? AF_INET6 : AF_INET));
	else
		log_info("Node %s: primary IP family %s", d->node_name, sy_family_name(f));
}

/*
 * The Node's addresses (what "primary" NodePorts answer on) changed since
 * the last look.  kube-proxy exits and is restarted when they do; here the
 * NodePort rules follow in place and established connections stay.
 */
static bool node_ips_changed(struct sy_daemon *d)
{
	bool changed = false;

	for (int f = 0; f < 2; f++) {
		struct sy_addr ip = daemon_node_ip(d, f ? AF_INET6 : AF_INET);
		struct sy_addr *seen = &d->node_ips[f];

		if (sy_addr_is_set(&ip) == sy_addr_is_set(seen) &&
		    (!sy_addr_is_set(&ip) || sy_addr_eq(&ip, seen)))
			continue;
		if (d->sync.first_sync_done)
			log_info("Node %s: %s address %s; NodePorts follow", d->node_name,
				 sy_family_name(f ? AF_INET6 : AF_INET),
				 sy_addr_is_set(&ip) ? "changed" : "gone");
		*seen = ip;
		changed = true;
	}
	return changed;
}

/*
 * kube-proxy's GetNodeHostIPs as klog prints it: ["primary","other"], the
 * first InternalIP (else ExternalIP) of the primary family, then of the other.
 */
static void host_ips_str(const struct node *n, char *buf, size_t len)
{
	int fam[2] = { n->primary_family == AF_INET6 ? AF_INET6 : AF_INET,
		       n->primary_family == AF_INET6 ? AF_INET : AF_INET6 };
	size_t k = (size_t)snprintf(buf, len, "[");

	for (int i = 0; i < 2 && n->primary_family && k < len; i++) {
		const struct sy_addr *a = fam[i] == AF_INET6 ?
			(sy_addr_is_set(&n->internal_ip6) ? &n->internal_ip6 : &n->external_ip6) :
			(sy_addr_is_set(&n->internal_ip) ? &n->internal_ip : &n->external_ip);

		if (sy_addr_is_set(a))
			k += (size_t)snprintf(buf + k, len - k, "%s\"%s\"", k > 1 ? "," : "",
					      sy_addr_str(a));
	}
	if (k < len)
		snprintf(buf + k, len - k, "]");
}

/*
 * The lines kube-proxy's NodeManager (pkg/proxy/node.go, 1.34+) writes for
 * this Node: OnNodeDelete "Node is being deleted", OnNodeChange "NodeIPs
 * changed for the node" (new against the last seen).  kube-proxy 1.34-1.36
 * only logs them and keeps the node IPs of its start; later ones exit, to
 * be restarted with the Node as it is (kubernetes#138183); switchyard gets
 * there in place: the NodePorts follow the Node (node_ips_changed), and
 * without a Node they answer on every local address, as a restarted
 * kube-proxy that finds no Node.
 */
static void node_lines(struct sy_daemon *d)
{
	const struct node *self = cache_node(d->cache, d->node_name);
	char ips[sizeof(d->node_host_ips)];

	if (!self) {
		if (d->node_seen)
			log_info("\"Node is being deleted\" node=\"%s\"", d->node_name);
		d->node_seen = false;
		return;
	}
	host_ips_str(self, ips, sizeof(ips));
	if (d->node_seen && strcmp(ips, d->node_host_ips))
		log_info("\"NodeIPs changed for the node\" node=\"%s\" newNodeIPs=%s oldNodeIPs=%s",
			 d->node_name, ips, d->node_host_ips);
	d->node_seen = true;
	memcpy(d->node_host_ips, ips, sizeof(ips));
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
	bool all_local[2];
	int n;

	check_primary(d);	/* O(1) once known */
	node_lines(d);
	if (node_needed(d) && node_ips_changed(d))
		full = true;	/* the NodePorts follow the Node's addresses at once */
	if (!full && !zone_changed && d->ds.node.name)
		return false;
	n = daemon_nodeport_addresses(d, addrs, 256, all_local);
	if (n < 0)
		n = 0;
	desired_set_node_families(&d->ds, d->node_name, zone, addrs, (unsigned)n, all_local[0],
				  all_local[1]);
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

	/* each family's own (kube-proxy: each proxier its own slices) */
	for (int f = 0; f < 2; f++) {
		unsigned n;
		const struct ds_change *chg = ds_changes(&d->ds, f ? AF_INET6 : AF_INET, &n);

		hmap_init(&seen);
		for (unsigned i = 0; i < n; i++) {
			const struct ds_port *p = chg[i].new, *old = chg[i].old;

			if (!p || p->trigger_time <= 0 || p->trigger_time < d->sync.start_wall ||
			    now_wall < p->trigger_time ||
			    (old && old->trigger_time == p->trigger_time) ||
			    hmap_get(&seen, p->svc_key))
				continue;
			hmap_put(&seen, p->svc_key, (void *)1);
			sy_hist_observe(&d->metrics.netprog_duration[f], now_wall - p->trigger_time);
		}
		hmap_clear(&seen);
	}
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

/* The ports the instances program: those of the families that have one. */
static size_t ports_programmed(const struct sy_daemon *d)
{
	size_t n = 0;

	for (int f = 0; f < 2; f++)
		if (d->modes[f])
			n += hmap_count(ds_ports(&d->ds, f ? AF_INET6 : AF_INET));
	return n;
}

/* The ip_family series of the metrics after family index f synced. */
static void family_synced(struct sy_daemon *d, unsigned f, bool full, double elapsed,
			  const struct mode_sync_stats *one)
{
	struct sy_metrics *m = &d->metrics;

	sy_hist_observe(&m->sync_duration[f], elapsed);
	sy_hist_observe(full ? &m->sync_full_duration[f] : &m->sync_partial_duration[f], elapsed);
	m->last_sync_timestamp[f] = sy_now_wall();
	for (unsigned i = 0; i < MODE_MAX_TABLES; i++) {
		m->rules_total[f][i] = one->table_rules[i];
		m->rules_last[f][i] = one->table_rules[i];
	}
}

/*
 * Whether a partial sync calls family index f's instance: only when a port
 * of its family changed, the Service CIDRs changed, or the instance asked
 * to be called by now (resync_in).  kube-proxy's dual-stack proxier hands
 * an EndpointSlice to its family's proxier only, and a proxier syncs only
 * when its own change trackers hold something: an IPv4 endpoint change
 * costs the IPv6 instance nothing.  A full sync calls every instance.
 */
static bool family_due(const struct sy_daemon *d, unsigned f, bool full, double now)
{
	const struct sync_runner *s = &d->sync;

	return full || d->ds.chg[f].n || d->ds.service_cidrs_changed ||
		(s->family_due_mono[f] > 0 && now >= s->family_due_mono[f]);
}

/*
 * Sync each family's instance, the primary first (a partial sync: each
 * family_due one).  A failing family keeps its previous rules; the other
 * family is programmed all the same.  The runner then retries under its
 * backoff with a full sync of every family (the changes stay uncommitted,
 * as for a single family).  Returns the number of families that failed;
 * *st sums the stats of those that did not.
 */
static unsigned sync_families(struct sy_daemon *d, bool full, struct mode_sync_stats *st)
{
	struct sync_runner *s = &d->sync;
	const struct sy_sync_input in = { .services = &d->ds, .policy = d->policy,
					  .run = ++d->sync.runs };
	double backoff = s->backoff ? fmin(s->backoff * 2, BACKOFF_MAX) : BACKOFF_MIN;
	bool dual = d->modes[0] && d->modes[1];
	unsigned failed = 0;

	for (int k = 0; k < 2; k++) {
		int family = (k == 0) == (d->primary_family == AF_INET) ? AF_INET : AF_INET6;
		unsigned f = family == AF_INET6;
		struct mode_sync_stats one = { 0 };
		double t0;
		int r;

		if (!d->modes[f])
			continue;
		t0 = sy_now_mono();
		if (!family_due(d, f, full, t0))
			continue;
		r = d->mode_ops->sync(d->modes[f], &in, full, &one);
		if (r < 0) {
			failed++;
			d->metrics.sync_failures_total[f]++;
			log_error("Failed to sync proxy rules (%s mode%s%s): %s; keeping the previous "
				  "rules, retrying in %.0fs", d->mode_ops->name, dual ? ", " : "",
				  dual ? sy_family_name(family) : "",
				  one.err[0] ? one.err : strerror(-r), backoff);
			continue;
		}
		/* kube-proxy's per-proxier series: this family's own sync */
		family_synced(d, f, full, sy_now_mono() - t0, &one);
		s->family_due_mono[f] = one.resync_in > 0 ? sy_now_mono() + one.resync_in : 0;
		st->rules_written += one.rules_written;
		st->rules_total += one.rules_total;
		st->writes += one.writes;
		for (unsigned i = 0; i < MODE_MAX_TABLES; i++)
			st->table_rules[i] += one.table_rules[i];
		st->kernel_write_seconds += one.kernel_write_seconds;
		st->kernel_write_cpu_seconds += one.kernel_write_cpu_seconds;
		st->table_reads_skipped += one.table_reads_skipped;
		st->tables_patched += one.tables_patched;
		st->tables_relaid += one.tables_relaid;
	}
	return failed;
}

static void run_sync(struct sy_daemon *d)
{
	struct sync_runner *s = &d->sync;
	struct mode_sync_stats st = { 0 };
	struct ct_stats cts = { 0 };
	double t0 = sy_now_mono(), now_wall, elapsed;
	bool full, zone_changed;
	unsigned failed;

	full = !s->first_sync_done || s->force_full || t0 >= s->last_full_mono + full_period(d);
	run_podnet(d, full);
	t0 = sy_now_mono();	/* the proxy's sync duration excludes the pod network's */
	wait_listing(d, t0, daemon_reads_service_cidrs(d), SY_KIND_SERVICECIDR, &s->cidr_wait_mono,
		     "them (traffic to unallocated ClusterIPs is not dropped until they are)");
	wait_listing(d, t0, node_needed(d), SY_KIND_NODE, &s->node_wait_mono,
		     "it (NodePorts answer on every local address until it is)");
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
	if (!full && !ds_n_changes(&d->ds) && !d->ds.service_cidrs_changed &&
	    !(s->mode_due_mono > 0 && t0 >= s->mode_due_mono)) {
		s->pending = false;
		s->queued_since_mono = 0;
		desired_commit(&d->ds);
		schedule(d);
		return;
	}
	failed = sync_families(d, full, &st);
	elapsed = sy_now_mono() - t0;
	s->last_sync_mono = sy_now_mono();
	d->metrics.syncs_total++;
	if (failed) {
		s->consecutive_failures++;
		s->backoff = s->backoff ? fmin(s->backoff * 2, BACKOFF_MAX) : BACKOFF_MIN;
		s->force_full = true;
		s->pending = true;
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
		svc_health_sync(d->svc_health, &d->ds, full);

	now_wall = sy_now_wall();
	observe_changes(d, now_wall);
	d->metrics.kernel_writes_total += st.writes;
	d->last_sync_wall = now_wall;
	/* the earliest instance's (one skipped by this partial sync keeps its own) */
	s->mode_due_mono = 0;
	for (unsigned f = 0; f < 2; f++)
		if (s->family_due_mono[f] > 0 &&
		    (s->mode_due_mono <= 0 || s->family_due_mono[f] < s->mode_due_mono))
			s->mode_due_mono = s->family_due_mono[f];
	log_v(2, "SyncProxyRules complete: mode=%s full=%s services=%zu ports=%zu changed=%u "
	      "writes=%llu rules=%llu conntrack_deleted=%llu elapsed=%.3fms kernel_write=%.3fms "
	      "tables_unread=%u tables_patched=%u tables_relaid=%u ports6=%zu",
	      d->mode_ops->name, full ? "true" : "false", hmap_count(cache_services(d->cache)),
	      hmap_count(&d->ds.ports), ds_n_changes(&d->ds), (unsigned long long)st.writes,
	      (unsigned long long)st.rules_total, (unsigned long long)cts.deleted, elapsed * 1e3,
	      st.kernel_write_seconds * 1e3, st.table_reads_skipped, st.tables_patched,
	      st.tables_relaid, hmap_count(&d->ds.ports6));
	if (!s->first_sync_done) {
		log_info("First sync complete: %zu Service ports programmed in %.3f s",
			 ports_programmed(d), elapsed);
		daemon_heap_steady();
	}
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
