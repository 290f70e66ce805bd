// SPDX-License-Identifier: Apache-2.0
/*
 * The conntrack.* settings of KubeProxyConfiguration (and kube-proxy's
 * --conntrack-* flags): table size and timeouts, written through /proc/sys
 * as kube-proxy's conntracker does.  0 leaves the kernel's value.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "switchyard/config.h"
#include "switchyard/conntrack.h"
#include "switchyard/util.h"

#define NF "/proc/sys/net/netfilter/"

static int read_long(const char *path, long *ret)
{
	char *buf;
	int r = sy_read_file(path, &buf, NULL);

	if (r < 0)
		return r;
	*ret = strtol(buf, NULL, 10);
	free(buf);
	return 0;
}

/* Set path to v unless it already is v; note the first failure. */
static void set_one(const char *path, long v, int *r, char *err, size_t errlen)
{
	char buf[32];
	int w;

	snprintf(buf, sizeof(buf), "%ld", v);
	w = sy_sysctl_set(path, buf);
	if (w < 0 && !*r) {
		*r = w;
		snprintf(err, errlen, "%s = %ld: %s", path, v, strerror(-w));
	}
}

int ct_sysctls_apply(const struct sy_config *cfg, char *err, size_t errlen)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN), max = 0, cur;
	int r = 0;

	if (cfg->conntrack_max_per_core > 0)
		max = (long)cfg->conntrack_max_per_core * (cpus > 0 ? cpus : 1);
	if (max && cfg->conntrack_min > 0 && max < cfg->conntrack_min)
		max = cfg->conntrack_min;
	/* like kube-proxy: only ever raise the table size */
	if (max && read_long(NF "nf_conntrack_max", &cur) == 0 && max > cur) {
		long hash;

		/* the hash table follows (max / 4), also only upwards */
		if (read_long("/sys/module/nf_conntrack/parameters/hashsize", &hash) == 0 &&
		    max / 4 > hash)
			set_one("/sys/module/nf_conntrack/parameters/hashsize", max / 4, &r, err, errlen);
		set_one(NF "nf_conntrack_max", max, &r, err, errlen);
	}
	if (cfg->conntrack_tcp_established_timeout > 0)
		set_one(NF "nf_conntrack_tcp_timeout_established",
			(long)cfg->conntrack_tcp_established_timeout, &r, err, errlen);
	if (cfg->conntrack_tcp_close_wait_timeout > 0)
		set_one(NF "nf_conntrack_tcp_timeout_close_wait",
			(long)cfg->conntrack_tcp_close_wait_timeout, &r, err, errlen);
	if (cfg->conntrack_udp_timeout > 0)
		set_one(NF "nf_conntrack_udp_timeout", (long)cfg->conntrack_udp_timeout, &r, err,
			errlen);
	if (cfg->conntrack_udp_stream_timeout > 0)
		set_one(NF "nf_conntrack_udp_timeout_stream", (long)cfg->conntrack_udp_stream_timeout,
			&r, err, errlen);
	return r;
}
