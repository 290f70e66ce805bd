// SPDX-License-Identifier: Apache-2.0
/*
 * --proxy-mode=none: computes the desired state and writes nothing to the
 * kernel.  For benchmarks and tests of the control plane (sources, cache,
 * desired state, /debug/state) on machines or in places where touching
 * the kernel is not wanted.
 */
#include <stdlib.h>
#include "switchyard/desired.h"
#include "switchyard/mode.h"

struct proxy_mode {
	unsigned syncs;
	int family;
};

static int none_init(struct proxy_mode **ret, const struct sy_config *cfg, int family,
		     const struct sy_report *rep, char *err, size_t errlen)
{
	*ret = calloc(1, sizeof(**ret));
	if (!*ret)
		return -12;
	(*ret)->family = family;
	return 0;
}

static int none_sync(struct proxy_mode *m, const struct sy_sync_input *in, bool full,
		     struct mode_sync_stats *st)
{
	m->syncs++;
	st->rules_total = hmap_count(ds_ports(in->services, m->family));
	return 0;
}

static int none_cleanup(const struct sy_config *cfg, const struct sy_report *rep)
{
	return 0;
}

static void none_free(struct proxy_mode *m)
{
	free(m);
}

const struct proxy_mode_ops none_mode_ops = {
	PROXY_MODE_OPS("none", none),
	.proxier_name = "Using no Proxier (desired state only, nothing is programmed)",
};
