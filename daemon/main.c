// SPDX-License-Identifier: Apache-2.0
/* switchyard: the daemon's entry point. */
#include <ctype.h>
#include <errno.h>
#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "switchyard/config.h"
#include "switchyard/conntrack.h"
#include "switchyard/daemon.h"
#include "switchyard/k8s.h"
#include "switchyard/log.h"
#include "switchyard/manifest.h"
#include "switchyard/model.h"
#include "switchyard/podnet.h"
#include "switchyard/status.h"
#include "switchyard/svc_health.h"

static void stop_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	log_info("Received signal %d, stopping (kernel rules stay in place)", w->signum);
	ev_break(loop, EVBREAK_ALL);
}

static bool proxy_healthy(void *arg)
{
	return sync_runner_healthy(arg);
}

static int do_cleanup(struct sy_config *cfg)
{
	char err[600];
	int r, ret = 0;

	for (unsigned i = 0; proxy_modes[i]; i++) {
		r = proxy_modes[i]->cleanup(cfg, &sy_report_log);
		if (r < 0) {
			log_error("Cleanup of the %s mode failed: %s", proxy_modes[i]->name, strerror(-r));
			ret = 1;
		}
	}
	r = podnet_cleanup(cfg, err, sizeof(err));
	if (r < 0) {
		log_error("Cleanup of the pod network failed: %s", err);
		ret = 1;
	}
	r = daemon_policy_cleanup();
	if (r < 0) {
		log_error("Cleanup of the NetworkPolicy table failed: %s", strerror(-r));
		ret = 1;
	}
	if (!ret)
		log_info("Cleanup complete");
	return ret;
}

static char *node_name(const struct sy_config *cfg)
{
	char host[256];

	const char *src = cfg->hostname_override;
	size_t len;

	/* kube-proxy: the override, trimmed and lower-cased, else the hostname */
	while (src && isspace((unsigned char)*src))
		src++;
	len = src ? strlen(src) : 0;
	while (len && isspace((unsigned char)src[len - 1]))
		len--;
	if (len) {
		snprintf(host, sizeof(host), "%.*s", (int)len, src);
	} else if (gethostname(host, sizeof(host)) < 0) {
		return xstrdup("localhost");
	}
	host[sizeof(host) - 1] = '\0';
	for (char *p = host; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return xstrdup(host);
}

/*
 * One instance per family, as kube-proxy's dual-stack proxier.  A family the
 * mode refuses (-EAFNOSUPPORT) or fails to set up is left out here; which
 * family must work is decided by pick_families once the primary is known.
 */
static void init_families(struct sy_daemon *d, char err[2][512], int r[2])
{
	for (int f = 0; f < 2; f++) {
		err[f][0] = '\0';
		r[f] = d->mode_ops->init(&d->modes[f], &d->cfg, f ? AF_INET6 : AF_INET,
					 &sy_report_log, err[f], 512);
		if (r[f] < 0) {
			d->modes[f] = NULL;
			if (!err[f][0])
				snprintf(err[f], 512, "%s", strerror(-r[f]));
		}
	}
}

/*
 * kube-proxy's platformCheckSupported + detectNodeIPs: the primary family
 * (--bind-address, else the Node's first address, else IPv4) must have an
 * instance (else exit 2, as kube-proxy's "no support for primary IP
 * family"); the other family without one is one log line, and the daemon
 * runs single-stack.  Returns 0 or -1.
 */
/*
 * kube-proxy's detect-local (ClusterCIDR mode) per family: each instance
 * takes the cluster CIDRs of its family; a family with none detects no
 * local traffic, said once per instance (kube-proxy says it for the
 * primary family).
 */
static void log_detect_local(const struct sy_daemon *d)
{
	char all[SY_MAX_CIDRS * SY_CIDR_STRLEN] = "";

	for (unsigned i = 0; i < d->cfg.n_cluster_cidrs; i++)
		snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s%s", i ? "," : "",
			 sy_cidr_str(&d->cfg.cluster_cidrs[i]));
	for (int k = 0; k < 2; k++) {
		int family = (k == 0) == (d->primary_family == AF_INET) ? AF_INET : AF_INET6;
		unsigned n;

		if (!daemon_mode(d, family))
			continue;
		config_cidrs(d->cfg.cluster_cidrs, d->cfg.n_cluster_cidrs, family, &n);
		if (!n)
			log_info("Detect-local-mode set to ClusterCIDR, but no cluster CIDR specified "
				 "for %s IP family %s (clusterCIDRs [%s])", k ? "the" : "primary",
				 sy_family_name(family), all);
	}
}

/*
 * kube-proxy's checkBadConfig for nodePortAddresses (logged as an error,
 * the daemon goes on): unset; or, on a cluster that looks dual-stack (a
 * CIDR list with both families), CIDRs of the primary family only; or
 * none of the primary family.  "primary" counts as the node IPs it
 * stands for: without a Node (or with loopback IPs only) that is none, and
 * kube-proxy's message is the one for an unset list.
 */
static void check_nodeport_config(const struct sy_daemon *d)
{
	const char *msg = "Kube-proxy configuration may be incomplete or incorrect";
	const char *pf = sy_family_name(d->primary_family);
	const char *of = sy_family_name(d->primary_family == AF_INET ? AF_INET6 : AF_INET);
	unsigned n4 = 0, n6 = 0, c4, c6, np;
	bool dual;

	if (d->cfg.n_nodeport_cidrs) {
		config_cidrs(d->cfg.nodeport_cidrs, d->cfg.n_nodeport_cidrs, AF_INET, &n4);
		config_cidrs(d->cfg.nodeport_cidrs, d->cfg.n_nodeport_cidrs, AF_INET6, &n6);
	} else if (d->cfg.nodeport_primary) {
		struct sy_addr a4 = daemon_node_ip(d, AF_INET), a6 = daemon_node_ip(d, AF_INET6);

		n4 = sy_addr_is_set(&a4) && !sy_addr_is_loopback(&a4);
		n6 = sy_addr_is_set(&a6) && !sy_addr_is_loopback(&a6);
	}
	/* "primary" without a node IP expands to no address, as kube-proxy's list does */
	if (!n4 && !n6 && !d->cfg.n_nodeport_cidrs) {
		log_error("%s: nodePortAddresses is unset; NodePort connections will be accepted on "
			  "all local IPs. Consider using `--nodeport-addresses primary`", msg);
		return;
	}
	config_cidrs(d->cfg.cluster_cidrs, d->cfg.n_cluster_cidrs, AF_INET, &c4);
	config_cidrs(d->cfg.cluster_cidrs, d->cfg.n_cluster_cidrs, AF_INET6, &c6);
	dual = (c4 && c6) || (n4 && n6);
	np = d->primary_family == AF_INET ? n4 : n6;
	if (dual && np == n4 + n6)
		log_error("%s: cluster appears to be dual-stack but nodePortAddresses contains only %s "
			  "addresses; NodePort connections will be accepted on all local %s IPs",
			  msg, pf, of);
	else if (!np)
		log_error("%s: cluster appears to be %s-primary but nodePortAddresses contains only %s "
			  "addresses; NodePort connections will be accepted on all local %s IPs",
			  msg, pf, of, pf);
}

static int pick_families(struct sy_daemon *d, char err[2][512])
{
	int p, other;

	d->primary_family = p = daemon_primary_family(d, &d->primary_known);
	other = p == AF_INET ? AF_INET6 : AF_INET;
	if (!daemon_mode(d, p)) {
		log_error("Cannot use the %s proxy mode: no support for primary IP family %s: %s",
			  d->mode_ops->name, sy_family_name(p), err[p == AF_INET6]);
		return -1;
	}
	if (!daemon_mode(d, other))
		log_info("No %s support in %s mode: %s; running single-stack %s",
			 sy_family_name(other), d->mode_ops->name, err[other == AF_INET6],
			 sy_family_name(p));
	else
		log_info("Running in dual-stack mode, primary IP family %s: one %s proxier per "
			 "family (%s, %s)", sy_family_name(p), d->mode_ops->name, sy_family_name(p),
			 sy_family_name(other));
	check_nodeport_config(d);
	log_detect_local(d);
	return 0;
}

static int start_source(struct sy_daemon *d)
{
	struct k8s_conn conn = { 0 };
	char err[512];
	int r;

	if (d->cfg.manifests) {
		r = manifest_source_new(&d->manifests, d->loop, d->cfg.manifests, d->cache,
					&sy_report_log);
		if (r < 0) {
			log_error("--manifests %s: %s", d->cfg.manifests, strerror(-r));
			return r;
		}
		log_info("Reading Services from the manifest directory %s", d->cfg.manifests);
		manifest_source_reload(d->manifests);
		return 0;
	}
	if (d->cfg.kubeconfig) {
		r = kubeconfig_load(d->cfg.kubeconfig, &conn, err, sizeof(err));
		if (r < 0) {
			log_error("--kubeconfig %s: %s", d->cfg.kubeconfig, err);
			return r;
		}
	} else if (d->cfg.master) {
		memset(&conn, 0, sizeof(conn));
	} else {
		r = k8s_incluster_load(NULL, &conn, err, sizeof(err));
		if (r < 0) {
			log_error("No source of Services: give --manifests DIR, --kubeconfig FILE or "
				  "--master URL, or run in a cluster (%s)", err);
			return r;
		}
	}
	if (d->cfg.master && *d->cfg.master) {
		free(conn.server);
		conn.server = xstrdup(d->cfg.master);
	}
	r = k8s_client_new(&d->k8s, &(struct k8s_client_args){
		.loop = d->loop, .conn = &conn, .cache = d->cache, .metrics = &d->metrics,
		.node_name = d->node_name, .all_nodes = d->cfg.pod_network,
		.network_policy = d->cfg.network_policy,
		.service_cidrs = daemon_reads_service_cidrs(d),
		.report = sy_report_log }, err, sizeof(err));
	if (r < 0) {
		log_error("Kubernetes client: %s", err);
		k8s_conn_free(&conn);
		return r;
	}
	log_info("Kubernetes client for %s: watching Services, EndpointSlices%s and %s",
		 conn.server, daemon_reads_service_cidrs(d) ? ", ServiceCIDRs" : "",
		 d->cfg.pod_network ? "all Nodes" : "this Node");
	k8s_conn_free(&conn);
	return 0;
}

int main(int argc, char **argv)
{
	struct sy_daemon *d = xcalloc(1, sizeof(*d));
	char err[512], ferr[2][512];
	int r, fr[2], ret = 0;

	daemon_heap_cold_start();	/* daemon/heap.c; daemon_heap_steady after the first sync */
	signal(SIGPIPE, SIG_IGN);
	config_init(&d->cfg);
	r = config_parse_args(&d->cfg, argc, argv);
	if (r == 1) {
		config_free(&d->cfg);
		free(d);
		return 0;
	}
	if (r < 0) {
		config_free(&d->cfg);
		free(d);
		return 2;
	}
	log_verbosity = d->cfg.verbosity;
	log_info("switchyard %s", PACKAGE_VERSION);
	config_feature_gates_log(&d->cfg);

	if (d->cfg.cleanup) {
		ret = do_cleanup(&d->cfg);
		config_free(&d->cfg);
		free(d);
		return ret;
	}

	d->mode_ops = proxy_mode_find(d->cfg.proxy_mode);
	if (!d->mode_ops) {
		log_error("Unknown proxy mode \"%s\": use iptables or ipvs", d->cfg.proxy_mode);
		config_free(&d->cfg);
		free(d);
		return 2;
	}
	if (d->mode_ops->proxier_name)
		log_info("%s", d->mode_ops->proxier_name);
	else
		log_info("Using %s Proxier", d->mode_ops->name);
	if (d->mode_ops->service_cidrs && d->cfg.service_cidrs_off)
		log_info("MultiCIDRServiceAllocator=false: ServiceCIDRs are not read; traffic to "
			 "unallocated ClusterIPs is not dropped");
	/* the mode's default for an unset --nodeport-addresses (nftables: "primary") */
	if (d->mode_ops->nodeport_primary_default && !d->cfg.n_nodeport_cidrs)
		d->cfg.nodeport_primary = true;
	d->node_name_buf = node_name(&d->cfg);
	d->node_name = d->node_name_buf;
	log_info("Node name \"%s\"", d->node_name);

	init_families(d, ferr, fr);
	if (!d->modes[0] && !d->modes[1]) {
		/* neither family: the reason of the one given (or assumed) to be primary */
		bool known;
		int p = daemon_primary_family(d, &known);

		log_error("Cannot use the %s proxy mode: %s", d->mode_ops->name, ferr[p == AF_INET6]);
		ret = 2;
		goto out;
	}
	r = ct_sysctls_apply(&d->cfg, err, sizeof(err));
	if (r < 0)
		log_warn("Cannot apply the conntrack settings: %s (continuing with the kernel's)", err);
	d->loop = ev_default_loop(EVFLAG_AUTO);
	sy_metrics_init(&d->metrics);
	d->metrics.rule_tables = d->mode_ops->rule_tables;
	d->metrics.families = (d->modes[0] ? 1u : 0) | (d->modes[1] ? 2u : 0);
	d->cache = cache_new(daemon_cache_changed, d);
	cache_set_report(d->cache, &sy_report_log);
	desired_init(&d->ds, &d->cfg);
	r = ct_new(&d->ct);
	if (r < 0) {
		log_warn("Conntrack cleanup unavailable: %s", strerror(-r));
		d->ct = NULL;
	}
	/* IPv6 entries are cleaned up when an instance programs IPv6 */
	if (d->ct)
		ct_set_ipv6(d->ct, d->modes[1] != NULL);
	r = daemon_policy_init(d, err, sizeof(err));
	if (r < 0) {
		log_error("NetworkPolicy: %s", err);
		ret = 2;
		goto out;
	}
	if (d->cfg.pod_network) {
		r = podnet_new(&d->podnet, &d->cfg, d->node_name,
			       &sy_report_log, err, sizeof(err));
		if (r < 0) {
			log_error("Pod network: %s", err);
			ret = 2;
			goto out;
		}
	}
	r = status_servers_start(d, err, sizeof(err));
	if (r < 0) {
		log_error("Health/metrics servers: %s", err);
		ret = 2;
		goto out;
	}
	d->svc_health = svc_health_new(d->loop, &d->metrics, proxy_healthy, d, &sy_report_log);

	ev_signal_init(&d->sigterm, stop_cb, SIGTERM);
	ev_signal_start(d->loop, &d->sigterm);
	ev_signal_init(&d->sigint, stop_cb, SIGINT);
	ev_signal_start(d->loop, &d->sigint);
	sync_runner_start(d);
	if (start_source(d) < 0) {
		ret = 2;
		goto out;
	}
	/* a manifest directory is read by now: its Node gives the primary family */
	if (pick_families(d, ferr) < 0) {
		ret = 2;
		goto out;
	}
	if (d->podnet && d->k8s)
		podnet_set_client(d->podnet, d->k8s);
	ev_run(d->loop, 0);
	log_info("Stopped");
out:
	if (d->loop)
		ev_timer_stop(d->loop, &d->sync.timer);
	k8s_client_free(d->k8s);
	manifest_source_free(d->manifests);
	svc_health_free(d->svc_health);
	if (d->loop)
		status_servers_stop(d);
	podnet_free(d->podnet);
	daemon_policy_free(d);
	ct_free(d->ct);
	for (int f = 0; f < 2; f++)
		if (d->modes[f])
			d->mode_ops->free(d->modes[f]);
	if (d->cache) {
		desired_fini(&d->ds);
		cache_free(d->cache);
	}
	if (d->loop)
		ev_loop_destroy(d->loop);
	free(d->node_name_buf);
	config_free(&d->cfg);
	free(d);
	return ret;
}
