// SPDX-License-Identifier: Apache-2.0
/* Command-line flags with kube-proxy's names and defaults. */
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "switchyard/config.h"
#include "switchyard/log.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

void config_init(struct sy_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->proxy_mode = xstrdup("iptables");
	cfg->masquerade_bit = 14;
	cfg->min_sync_period = 1;
	cfg->sync_period = 30;
	cfg->localhost_nodeports = true;
	cfg->ipvs_scheduler = xstrdup("");
	cfg->bind_address = xstrdup("0.0.0.0");
	cfg->healthz_bind_address = xstrdup("0.0.0.0:10256");
	cfg->metrics_bind_address = xstrdup("127.0.0.1:10249");
	cfg->net_conf = xstrdup("/etc/switchyard/net-conf.json");
	cfg->subnet_file = xstrdup("/run/switchyard/subnet.env");
	cfg->cni_conf_dir = xstrdup("/etc/cni/net.d");
}

void config_free(struct sy_config *cfg)
{
	sy_free_all(cfg->proxy_mode, cfg->kubeconfig, cfg->master, cfg->hostname_override,
		    cfg->manifests, cfg->config_file, cfg->ipvs_scheduler, cfg->bind_address,
		    cfg->healthz_bind_address, cfg->metrics_bind_address, cfg->net_conf,
		    cfg->subnet_file, cfg->cni_conf_dir, cfg->iface);
	config_feature_gates_clear(cfg);
	memset(cfg, 0, sizeof(*cfg));
}

enum {
	OPT_PROXY_MODE = 256, OPT_KUBECONFIG, OPT_MASTER, OPT_HOSTNAME_OVERRIDE,
	OPT_CLUSTER_CIDR, OPT_MASQUERADE_ALL, OPT_MIN_SYNC, OPT_SYNC, OPT_NODEPORT_ADDRS,
	OPT_IPVS_SCHEDULER, OPT_CONFIG, OPT_CLEANUP, OPT_HEALTHZ, OPT_METRICS, OPT_VERSION,
	OPT_HELP, OPT_MANIFESTS, OPT_MASQ_BIT, OPT_IPT_MIN_SYNC, OPT_IPT_SYNC,
	OPT_IPVS_MIN_SYNC, OPT_IPVS_SYNC, OPT_IPVS_STRICT_ARP, OPT_IPVS_TCP, OPT_IPVS_TCPFIN,
	OPT_IPVS_UDP, OPT_LOCALHOST_NP, OPT_BIND_ADDRESS, OPT_POD_NETWORK, OPT_NET_CONF,
	OPT_SUBNET_FILE, OPT_CNI_CONF_DIR, OPT_IFACE, OPT_NETWORK_POLICY, OPT_V,
	OPT_FEATURE_GATES,
};

static const struct option long_opts[] = {
	{ "proxy-mode", required_argument, NULL, OPT_PROXY_MODE },
	{ "kubeconfig", required_argument, NULL, OPT_KUBECONFIG },
	{ "master", required_argument, NULL, OPT_MASTER },
	{ "hostname-override", required_argument, NULL, OPT_HOSTNAME_OVERRIDE },
	{ "cluster-cidr", required_argument, NULL, OPT_CLUSTER_CIDR },
	{ "masquerade-all", optional_argument, NULL, OPT_MASQUERADE_ALL },
	{ "min-sync-period", required_argument, NULL, OPT_MIN_SYNC },
	{ "sync-period", required_argument, NULL, OPT_SYNC },
	{ "nodeport-addresses", required_argument, NULL, OPT_NODEPORT_ADDRS },
	{ "ipvs-scheduler", required_argument, NULL, OPT_IPVS_SCHEDULER },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "cleanup", optional_argument, NULL, OPT_CLEANUP },
	{ "healthz-bind-address", required_argument, NULL, OPT_HEALTHZ },
	{ "metrics-bind-address", required_argument, NULL, OPT_METRICS },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "manifests", required_argument, NULL, OPT_MANIFESTS },
	{ "iptables-masquerade-bit", required_argument, NULL, OPT_MASQ_BIT },
	{ "iptables-min-sync-period", required_argument, NULL, OPT_IPT_MIN_SYNC },
	{ "iptables-sync-period", required_argument, NULL, OPT_IPT_SYNC },
	{ "iptables-localhost-nodeports", optional_argument, NULL, OPT_LOCALHOST_NP },
	{ "ipvs-min-sync-period", required_argument, NULL, OPT_IPVS_MIN_SYNC },
	{ "ipvs-sync-period", required_argument, NULL, OPT_IPVS_SYNC },
	{ "ipvs-strict-arp", optional_argument, NULL, OPT_IPVS_STRICT_ARP },
	{ "ipvs-tcp-timeout", required_argument, NULL, OPT_IPVS_TCP },
	{ "ipvs-tcpfin-timeout", required_argument, NULL, OPT_IPVS_TCPFIN },
	{ "ipvs-udp-timeout", required_argument, NULL, OPT_IPVS_UDP },
	{ "bind-address", required_argument, NULL, OPT_BIND_ADDRESS },
	{ "pod-network", optional_argument, NULL, OPT_POD_NETWORK },
	{ "net-conf", required_argument, NULL, OPT_NET_CONF },
	{ "subnet-file", required_argument, NULL, OPT_SUBNET_FILE },
	{ "cni-conf-dir", required_argument, NULL, OPT_CNI_CONF_DIR },
	{ "iface", required_argument, NULL, OPT_IFACE },
	{ "network-policy", optional_argument, NULL, OPT_NETWORK_POLICY },
	{ "v", required_argument, NULL, OPT_V },
	{ "feature-gates", required_argument, NULL, OPT_FEATURE_GATES },
	{ NULL, 0, NULL, 0 },
};

const char *const config_flag_names[] = {
	"proxy-mode", "kubeconfig", "master", "hostname-override", "cluster-cidr",
	"masquerade-all", "min-sync-period", "sync-period", "nodeport-addresses",
	"ipvs-scheduler", "config", "cleanup", "healthz-bind-address", "metrics-bind-address",
	"version", "help", "manifests", "iptables-masquerade-bit", "iptables-min-sync-period",
	"iptables-sync-period", "iptables-localhost-nodeports", "ipvs-min-sync-period",
	"ipvs-sync-period", "ipvs-strict-arp", "ipvs-tcp-timeout", "ipvs-tcpfin-timeout",
	"ipvs-udp-timeout", "bind-address", "pod-network", "net-conf", "subnet-file",
	"cni-conf-dir", "iface", "network-policy", "v", "feature-gates", NULL,
};

static const char usage[] =
"Usage: switchyard [flags]\n"
"\n"
"switchyard programs this node's kernel so that traffic to Kubernetes Services\n"
"reaches their endpoints (a kube-proxy replacement), and optionally connects\n"
"pods across nodes (--pod-network).\n"
"\n"
"Sources (one of):\n"
"      --kubeconfig FILE            kubeconfig for the API server (default: in-cluster config)\n"
"      --master URL                 API server address (overrides the kubeconfig's)\n"
"      --manifests DIR              read Service/EndpointSlice/Node (Pod/Namespace/\n"
"                                   NetworkPolicy) YAML or JSON from DIR\n"
"Proxy:\n"
"      --proxy-mode MODE            iptables (default), ipvs or nftables\n"
"      --hostname-override NAME     this node's name (default: the hostname)\n"
"      --cluster-cidr CIDR[,CIDR]   pod CIDRs (v4,v6 for dual stack; each family's instance\n"
"                                   uses its own); traffic to a ClusterIP from outside is\n"
"                                   masqueraded\n"
"      --masquerade-all             SNAT all traffic sent to Service addresses\n"
"      --iptables-masquerade-bit N  fwmark bit for masquerading (default 14 = 0x4000)\n"
"      --nodeport-addresses LIST    CIDRs (comma separated, either family) or \"primary\" (the\n"
"                                   node IP of each family) NodePorts answer on (default:\n"
"                                   every local address, nftables mode: primary; a family\n"
"                                   without a CIDR: every local address)\n"
"      --iptables-localhost-nodeports[=BOOL]  NodePorts on 127.0.0.1 (default true)\n"
"      --min-sync-period DURATION   sync rate limit: a burst of 2, then one per period (default 1s)\n"
"      --sync-period DURATION       full resync period (default 30s)\n"
"      --iptables-min-sync-period, --iptables-sync-period, --ipvs-min-sync-period,\n"
"      --ipvs-sync-period DURATION  per-mode aliases of the two above\n"
"      --ipvs-scheduler NAME        rr (default), wrr, lc, wlc, sh, dh, sed, nq, mh\n"
"      --ipvs-strict-arp            set arp_ignore=1 / arp_announce=2\n"
"      --ipvs-tcp-timeout, --ipvs-tcpfin-timeout, --ipvs-udp-timeout DURATION\n"
"                                   IPVS timeouts (0 = leave the kernel's)\n"
"      --cleanup                    remove everything switchyard created, then exit\n"
"      --feature-gates NAME=BOOL,...  kube-proxy 1.33's gates; switchyard reads\n"
"                                   MultiCIDRServiceAllocator (default true: nftables mode\n"
"                                   watches ServiceCIDRs), PreferSameTrafficDistribution\n"
"                                   (default true: hints.forNodes); other known ones accepted\n"
"Pod network:\n"
"      --pod-network                connect pods across nodes (flannel-style; off by default)\n"
"      --net-conf FILE              network config (default /etc/switchyard/net-conf.json)\n"
"      --subnet-file FILE           subnet.env to write (default /run/switchyard/subnet.env)\n"
"      --cni-conf-dir DIR           where the CNI conflist goes (default /etc/cni/net.d)\n"
"      --iface NAME                 underlay interface (default: the one with the node IP)\n"
"NetworkPolicy:\n"
"      --network-policy             enforce NetworkPolicy for this node's pods (off by default)\n"
"Operations:\n"
"      --config FILE                KubeProxyConfiguration YAML; flags override it\n"
"      --bind-address IP            this node's primary IP (its family is the primary one;\n"
"                                   0.0.0.0 / :: = from the Node object); binds nothing\n"
"      --healthz-bind-address H:P   healthz server (default 0.0.0.0:10256; [::]:10256 = both\n"
"                                   families; \"\" disables)\n"
"      --metrics-bind-address H:P   metrics server (default 127.0.0.1:10249, [::1]:10249 for\n"
"                                   IPv6; \"\" disables)\n"
"  -v, --v N                        log verbosity\n"
"      --version                    print the version and exit\n"
"      --help                       this text\n";

static int parse_bool(const char *arg, bool *ret)
{
	if (!arg || !strcmp(arg, "true") || !strcmp(arg, "1") || !strcmp(arg, "True")) {
		*ret = true;
		return 0;
	}
	if (!strcmp(arg, "false") || !strcmp(arg, "0") || !strcmp(arg, "False")) {
		*ret = false;
		return 0;
	}
	return -EINVAL;
}

/* A decimal integer in lo..hi, all of arg; -EINVAL otherwise. */
static int parse_int(const char *arg, long lo, long hi, long *ret)
{
	char *end;
	long l = strtol(arg, &end, 10);

	if (*end || end == arg || l < lo || l > hi)
		return -EINVAL;
	*ret = l;
	return 0;
}

static int parse_period(const char *arg, double *ret)
{
	char *end;
	double v;

	/* a bare number means seconds; otherwise a Go duration */
	v = strtod(arg, &end);
	if (end != arg && !*end && v >= 0) {
		*ret = v;
		return 0;
	}
	return sy_parse_duration(arg, ret);
}

static int parse_cidr_list(const char *arg, struct sy_cidr *out, unsigned *n, bool *primary)
{
	char *copy = xstrdup(arg), *save = NULL, *tok;
	int r = 0;

	*n = 0;
	if (primary)
		*primary = false;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		if (!*tok)
			continue;
		if (primary && !strcmp(tok, "primary")) {
			*primary = true;
			continue;
		}
		if (*n >= SY_MAX_CIDRS || sy_cidr_parse(tok, &out[*n]) < 0) {
			r = -EINVAL;
			break;
		}
		(*n)++;
	}
	free(copy);
	config_group_cidrs(out, *n);
	return r;
}

void config_group_cidrs(struct sy_cidr *v, unsigned n)
{
	/* stable: IPv4 ones first, each family in the order given */
	for (unsigned a = 1; a < n; a++)
		for (unsigned b = a; b > 0 && v[b - 1].addr.family == AF_INET6 &&
				     v[b].addr.family == AF_INET; b--) {
			struct sy_cidr t = v[b];

			v[b] = v[b - 1];
			v[b - 1] = t;
		}
}

static void set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = xstrdup(v);
}

/* The flags that only set one field of their type: a row each. */
enum plain_type { PLAIN_STR, PLAIN_BOOL, PLAIN_PERIOD };
static const struct plain_flag {
	int opt;
	enum plain_type type;
	size_t off;
} plain_flags[] = {
#define PLAIN(opt, type, field) { opt, PLAIN_##type, offsetof(struct sy_config, field) }
	PLAIN(OPT_KUBECONFIG, STR, kubeconfig),
	PLAIN(OPT_MASTER, STR, master),
	PLAIN(OPT_HOSTNAME_OVERRIDE, STR, hostname_override),
	PLAIN(OPT_MANIFESTS, STR, manifests),
	PLAIN(OPT_CONFIG, STR, config_file),
	PLAIN(OPT_IPVS_SCHEDULER, STR, ipvs_scheduler),
	PLAIN(OPT_HEALTHZ, STR, healthz_bind_address),
	PLAIN(OPT_METRICS, STR, metrics_bind_address),
	PLAIN(OPT_BIND_ADDRESS, STR, bind_address),
	PLAIN(OPT_NET_CONF, STR, net_conf),
	PLAIN(OPT_SUBNET_FILE, STR, subnet_file),
	PLAIN(OPT_CNI_CONF_DIR, STR, cni_conf_dir),
	PLAIN(OPT_IFACE, STR, iface),
	PLAIN(OPT_MASQUERADE_ALL, BOOL, masquerade_all),
	PLAIN(OPT_CLEANUP, BOOL, cleanup),
	PLAIN(OPT_LOCALHOST_NP, BOOL, localhost_nodeports),
	PLAIN(OPT_IPVS_STRICT_ARP, BOOL, ipvs_strict_arp),
	PLAIN(OPT_POD_NETWORK, BOOL, pod_network),
	PLAIN(OPT_NETWORK_POLICY, BOOL, network_policy),
	PLAIN(OPT_IPVS_MIN_SYNC, PERIOD, ipvs_min_sync_period),
	PLAIN(OPT_IPVS_SYNC, PERIOD, ipvs_sync_period),
	PLAIN(OPT_IPVS_TCP, PERIOD, ipvs_tcp_timeout),
	PLAIN(OPT_IPVS_TCPFIN, PERIOD, ipvs_tcpfin_timeout),
	PLAIN(OPT_IPVS_UDP, PERIOD, ipvs_udp_timeout),
#undef PLAIN
};

/* A plain flag's value into its field: 0, -EINVAL; -ENOENT when opt is not one. */
static int apply_plain(struct sy_config *cfg, int opt, const char *arg)
{
	for (size_t i = 0; i < sizeof(plain_flags) / sizeof(plain_flags[0]); i++) {
		const struct plain_flag *f = &plain_flags[i];
		void *field = (char *)cfg + f->off;

		if (f->opt != opt)
			continue;
		switch (f->type) {
		case PLAIN_STR:
			set_str(field, arg);
			return 0;
		case PLAIN_BOOL:
			return parse_bool(arg, field);
		case PLAIN_PERIOD:
			return parse_period(arg, field);
		}
	}
	return -ENOENT;
}

/* Apply one flag; returns 0, 1 (exit 0 after printing), or -EINVAL. */
static int apply(struct sy_config *cfg, int opt, const char *arg, const char *name)
{
	int r = 0;
	long l;

	switch (opt) {
	case OPT_PROXY_MODE:
		set_str(&cfg->proxy_mode, arg[0] ? arg : "iptables");
		break;
	case OPT_CLUSTER_CIDR:
		r = parse_cidr_list(arg, cfg->cluster_cidrs, &cfg->n_cluster_cidrs, NULL);
		break;
	case OPT_NODEPORT_ADDRS:
		r = parse_cidr_list(arg, cfg->nodeport_cidrs, &cfg->n_nodeport_cidrs,
				    &cfg->nodeport_primary);
		break;
	case OPT_MIN_SYNC:
	case OPT_IPT_MIN_SYNC:
		r = parse_period(arg, &cfg->min_sync_period);
		break;
	case OPT_SYNC:
	case OPT_IPT_SYNC:
		r = parse_period(arg, &cfg->sync_period);
		if (!r && cfg->sync_period <= 0)
			r = -EINVAL;
		break;
	case OPT_MASQ_BIT:
		r = parse_int(arg, 0, 31, &l);
		if (r == 0)
			cfg->masquerade_bit = (unsigned)l;
		break;
	case 'v':
	case OPT_V:
		r = parse_int(arg, 0, 10, &l);
		if (r == 0)
			cfg->verbosity = (int)l;
		break;
	case OPT_VERSION:
		printf("switchyard %s\n", PACKAGE_VERSION);
		return 1;
	case OPT_HELP:
		fputs(usage, stdout);
		return 1;
	case OPT_FEATURE_GATES: {
		char err[256];

		/* pflag's words around cliflag.MapStringBool's */
		if (config_feature_gates_parse(cfg, arg, err, sizeof(err)) < 0) {
			fprintf(stderr, "switchyard: invalid argument \"%s\" for \"--feature-gates\" "
				"flag: %s\n", arg, err);
			return -EINVAL;
		}
		return 0;
	}
	default:
		r = apply_plain(cfg, opt, arg);
		if (r == -ENOENT)
			return -EINVAL;
		break;
	}
	if (r < 0)
		fprintf(stderr, "switchyard: invalid value \"%s\" for flag --%s\n", arg ? arg : "",
			name);
	return r < 0 ? -EINVAL : 0;
}

static int parse_pass(struct sy_config *cfg, int argc, char **argv, bool only_meta)
{
	int opt, idx, r;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long_only(argc, argv, ":v:", long_opts, &idx)) != -1) {
		const char *name = "v";

		if (opt == '?' || opt == ':') {
			if (only_meta)
				continue;
			if (opt == ':')
				fprintf(stderr, "switchyard: flag needs an argument: %s\n",
					argv[optind - 1]);
			else
				fprintf(stderr, "switchyard: unknown flag: %s\n", argv[optind - 1]);
			fprintf(stderr, "Run 'switchyard --help' for usage.\n");
			return -EINVAL;
		}
		if (opt != 'v')
			name = long_opts[idx].name;
		if (only_meta && opt != OPT_CONFIG && opt != OPT_HELP && opt != OPT_VERSION)
			continue;
		r = apply(cfg, opt, optarg ? optarg : (opt >= 256 && long_opts[idx].has_arg ==
			  optional_argument ? NULL : ""), name);
		if (r)
			return r;
	}
	if (!only_meta && optind < argc) {
		fprintf(stderr, "switchyard: unexpected argument: %s\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

int config_parse_args(struct sy_config *cfg, int argc, char **argv)
{
	char err[512];
	int r;

	/* Pass 1: --help/--version/--config; then the file; then every flag over it. */
	r = parse_pass(cfg, argc, argv, true);
	if (r)
		return r;
	if (cfg->config_file) {
		/* the command line's owner: the file's warnings are logged */
		r = config_file_load(cfg, cfg->config_file, &sy_report_log, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "switchyard: --config %s: %s\n", cfg->config_file, err);
			return -EINVAL;
		}
	}
	r = parse_pass(cfg, argc, argv, false);
	if (r)
		return r;
	/* kube-proxy's Complete: SetFromMap on the resolved map */
	if (config_feature_gates_apply(cfg, &sy_report_log, err, sizeof(err)) < 0) {
		fprintf(stderr, "switchyard: %s\n", err);
		return -EINVAL;
	}
	/* kube-proxy's validation: the node IP hint is an IP address of either family */
	if (cfg->bind_address && cfg->bind_address[0]) {
		struct sy_addr a;

		if (sy_addr_parse(cfg->bind_address, &a) < 0) {
			fprintf(stderr, "switchyard: bindAddress: Invalid value: \"%s\": not a valid "
				"textual representation of an IP address\n", cfg->bind_address);
			return -EINVAL;
		}
	}
	return 0;
}
