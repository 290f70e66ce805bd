// SPDX-License-Identifier: Apache-2.0
/*
 * NetworkPolicy in the daemon (--network-policy): the planner (netpol.h)
 * takes the cache's Pod / Namespace / NetworkPolicy changes, the writer
 * (netpol_nft.h) programs table inet switchyard-policy each time the sync
 * runner's timer fires, before it tries the xtables lock (nftables needs
 * none, so another program holding that lock does not hold policy up),
 * only after the three kinds are listed (so a first sync never sees pods
 * without their policies).  A refused sync is retried after a second
 * as a full sync; the kernel keeps the last good rules meanwhile.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "switchyard/daemon.h"
#include "switchyard/log.h"
#include "switchyard/netpol.h"
#include "switchyard/netpol_nft.h"
#include "switchyard/util.h"

#define RETRY 1.0

static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sy_daemon *d = container_of(w, struct sy_daemon, policy_retry);

	(void)loop;
	(void)revents;
	sync_runner_kick(d);
}

int daemon_policy_init(struct sy_daemon *d, char *err, size_t errlen)
{
	int r;

	if (!d->cfg.network_policy)
		return 0;
	r = netpol_nft_new(&d->netpol);
	if (r < 0) {
		snprintf(err, errlen, "nf_tables netlink socket: %s", strerror(-r));
		return r;
	}
	d->policy = netpol_new(d->node_name);
	ev_timer_init(&d->policy_retry, retry_cb, RETRY, 0);
	return 0;
}

void daemon_policy_free(struct sy_daemon *d)
{
	if (d->loop && d->policy)
		ev_timer_stop(d->loop, &d->policy_retry);
	netpol_nft_free(d->netpol);
	netpol_free(d->policy);
	d->netpol = NULL;
	d->policy = NULL;
}

int daemon_policy_cleanup(void)
{
	int r = netpol_nft_cleanup();

	if (r > 0)
		log_info("Deleted table inet %s", NETPOL_NFT_TABLE);
	return r < 0 ? r : 0;
}

void daemon_policy_sync(struct sy_daemon *d, double full_period)
{
	struct netpol_nft_stats st;
	struct netpol_stats ns;
	unsigned applied;
	double now = sy_now_mono();
	bool full;
	int r;

	if (!d->policy)
		return;
	if (!cache_synced(d->cache, SY_KIND_POD) || !cache_synced(d->cache, SY_KIND_NAMESPACE) ||
	    !cache_synced(d->cache, SY_KIND_NETWORKPOLICY)) {
		log_v(4, "NetworkPolicy: waiting for the first listing of Pods, Namespaces and "
		      "NetworkPolicies");
		return;
	}
	applied = netpol_update(d->policy, d->cache);
	/* due a little early: the runner's timer fires once per period */
	full = !d->policy_full_mono || now >= d->policy_full_mono + 0.9 * full_period;
	if (!full && !netpol_dirty(d->policy))
		return;
	r = netpol_nft_sync(d->netpol, d->policy, full, &st);
	if (st.rebuilt[0])
		log_warn("NetworkPolicy full sync refused (%s); rebuilding table inet %s",
			 st.rebuilt, NETPOL_NFT_TABLE);
	sy_hist_observe(&d->metrics.netpol_sync_duration, st.seconds);
	netpol_get_stats(d->policy, &ns);
	d->metrics.netpol_policies = ns.policies;
	d->metrics.netpol_local_pods = ns.local_pods;
	d->metrics.netpol_elements = ns.elements;
	if (r < 0) {
		d->metrics.netpol_sync_failures_total++;
		log_error("NetworkPolicy sync failed: %s; keeping the previous rules, full sync in %.0fs",
			  st.err[0] ? st.err : strerror(-r), RETRY);
		ev_timer_stop(d->loop, &d->policy_retry);
		ev_timer_set(&d->policy_retry, RETRY, 0);
		ev_timer_start(d->loop, &d->policy_retry);
		return;
	}
	if (st.full) {
		d->metrics.netpol_syncs_full++;
		d->policy_full_mono = now;
	}
	else
		d->metrics.netpol_syncs_partial++;
	d->metrics.netpol_elements_written_total += st.elems_added + st.elems_deleted;
	log_v(2, "NetworkPolicy sync complete: full=%s objects=%u policies=%u local_pods=%u "
	      "changes=%u deltas=%zu elements=+%zu/-%zu chains=%u deleted=%u messages=%u "
	      "elapsed=%.3fms kernel=%.3fms",
	      st.full ? "true" : "false", applied, st.policies, ns.local_pods, st.changes, st.deltas,
	      st.elems_added, st.elems_deleted, st.chains_written, st.objs_deleted, st.msgs,
	      st.seconds * 1e3, st.kernel_seconds * 1e3);
}
