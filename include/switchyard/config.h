/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SWITCHYARD_CONFIG_H
#define SWITCHYARD_CONFIG_H
/*
 * Everything the daemon is configured with: command-line flags
 * (kube-proxy's names and defaults) and, below them, the optional
 * KubeProxyConfiguration file (--config).  Flags override the file.
 */
#include <stdbool.h>
#include <stdint.h>
#include "switchyard/util.h"

#define SY_MAX_CIDRS 16

/* One gate of --feature-gates / featureGates (name as given). */
struct sy_feature_gate {
	char *name;
	bool on;
};

struct sy_config {
	char *proxy_mode;		/* "iptables" (default) | "ipvs" */
	char *kubeconfig;
	char *master;
	char *hostname_override;	/* node name; default: gethostname() */
	char *manifests;		/* --manifests DIR */
	char *config_file;		/* --config FILE */
	bool cleanup;			/* --cleanup */

	/* --cluster-cidr, both families, IPv4 first (config_cidrs() gives a family's) */
	struct sy_cidr cluster_cidrs[SY_MAX_CIDRS];
	unsigned n_cluster_cidrs;
	bool masquerade_all;
	unsigned masquerade_bit;	/* 14 → mark 0x4000 */
	double min_sync_period;		/* seconds, default 1 */
	double sync_period;		/* seconds, default 30 */
	/* --nodeport-addresses: CIDRs (both families, IPv4 first), or "primary" */
	struct sy_cidr nodeport_cidrs[SY_MAX_CIDRS];
	unsigned n_nodeport_cidrs;
	bool nodeport_primary;
	bool localhost_nodeports;	/* --iptables-localhost-nodeports, default true */

	char *ipvs_scheduler;		/* default "rr" */
	bool ipvs_strict_arp;
	double ipvs_min_sync_period, ipvs_sync_period;	/* 0 = use the generic ones */
	double ipvs_tcp_timeout, ipvs_tcpfin_timeout, ipvs_udp_timeout; /* 0 = leave */

	/* conntrack.* (0 = leave the kernel value) */
	int32_t conntrack_max_per_core;
	int32_t conntrack_min;
	double conntrack_tcp_established_timeout;
	double conntrack_tcp_close_wait_timeout;
	double conntrack_udp_timeout;
	double conntrack_udp_stream_timeout;

	char *bind_address;		/* default "0.0.0.0" */
	char *healthz_bind_address;	/* default "0.0.0.0:10256"; "" disables */
	char *metrics_bind_address;	/* default "127.0.0.1:10249"; "" disables */

	/* pod networking (issue 7) */
	bool pod_network;
	char *net_conf;			/* default /etc/switchyard/net-conf.json */
	char *subnet_file;		/* default /run/switchyard/subnet.env */
	char *cni_conf_dir;		/* default /etc/cni/net.d */
	char *iface;			/* underlay interface (default: the one holding the node IP) */

	/* NetworkPolicy enforcement (issue 16): --network-policy, networkPolicy: in the file */
	bool network_policy;

	/*
	 * --feature-gates / featureGates as given, sorted by name once checked
	 * (config_feature_gates_apply); feature_gates_from_flag: a flag set it
	 * (the first one replaces the file's map).  service_cidrs_off:
	 * MultiCIDRServiceAllocator=false, no ServiceCIDRs read; node_hints_off:
	 * PreferSameTrafficDistribution=false, hints.forNodes not used.
	 */
	struct sy_feature_gate *feature_gates;
	unsigned n_feature_gates;
	bool feature_gates_from_flag;
	bool service_cidrs_off;
	bool node_hints_off;		/* PreferSameTrafficDistribution=false */

	int verbosity;
};

/*
 * The CIDRs of one family out of a list grouped by family (cluster_cidrs,
 * nodeport_cidrs): a slice of v, *ret_n long (NULL when none).
 */
static inline const struct sy_cidr *config_cidrs(const struct sy_cidr *v, unsigned n, int family,
						 unsigned *ret_n)
{
	unsigned i = 0, k;

	while (i < n && v[i].addr.family != family)
		i++;
	for (k = i; k < n && v[k].addr.family == family; k++)
		;
	*ret_n = k - i;
	return *ret_n ? v + i : NULL;
}
/* Group a CIDR list by family, IPv4 first, keeping the order within a family. */
void config_group_cidrs(struct sy_cidr *v, unsigned n);

/* Fill with defaults. */
void config_init(struct sy_config *cfg);
void config_free(struct sy_config *cfg);

/*
 * Parse argv into cfg (after loading --config if given: flags win).
 * Returns 0 to run, 1 when --help/--version was handled (exit 0),
 * -EINVAL on a bad flag/value (message already printed; exit 2).
 */
int config_parse_args(struct sy_config *cfg, int argc, char **argv);

/*
 * Load a KubeProxyConfiguration YAML file into cfg.  Unknown or unsupported
 * fields are an error naming the field.  err gets a human-readable reason.
 * Fields kube-proxy accepts and switchyard ignores are told to rep ('W',
 * one message each).  Implemented in ops/config_file.c.
 */
struct sy_report;
int config_file_load(struct sy_config *cfg, const char *path, const struct sy_report *rep,
		     char *err, size_t errlen);

/*
 * Feature gates (lib/feature_gate.c), kube-proxy 1.33's: parse one
 * --feature-gates value (cliflag.MapStringBool: "Name=bool,..."; -EINVAL
 * and err as kube-proxy words it); set one; forget all; check the set ones
 * against the known gates (unknown, locked: -EINVAL and err; GA and
 * deprecated ones set: a warning to rep) and resolve the ones switchyard
 * reads; log them (-v 1, -v 2); a gate's value (set, else its default;
 * false when unknown); whether kube-proxy knows a name; Go's ParseBool.
 */
struct sy_report;
int config_feature_gates_parse(struct sy_config *cfg, const char *arg, char *err, size_t errlen);
void config_feature_gate_put(struct sy_config *cfg, const char *name, bool on);
void config_feature_gates_clear(struct sy_config *cfg);
int config_feature_gates_apply(struct sy_config *cfg, const struct sy_report *rep, char *err,
			       size_t errlen);
void config_feature_gates_log(const struct sy_config *cfg);
bool config_feature_gate(const struct sy_config *cfg, const char *name);
bool config_feature_gate_known(const char *name);
int config_parse_go_bool(const char *s, bool *ret);

/* Names of all long flags (without "--"), NULL-terminated; for checks. */
extern const char *const config_flag_names[];

#endif
