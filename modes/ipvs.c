// SPDX-License-Identifier: Apache-2.0
/* Placeholder until the ipvs mode lands: init fails clearly. */
#include <errno.h>
#include <stdio.h>
#include "switchyard/mode.h"

static int stub_init(struct proxy_mode **ret, const struct sy_config *cfg, char *err, size_t errlen)
{
	snprintf(err, errlen, "the ipvs mode is not built yet");
	return -ENOSYS;
}
static int stub_sync(struct proxy_mode *m, const struct desired_state *ds, bool full,
		     struct mode_sync_stats *st) { return -ENOSYS; }
static int stub_cleanup(const struct sy_config *cfg) { return 0; }
static void stub_free(struct proxy_mode *m) { }

const struct proxy_mode_ops ipvs_mode_ops = {
	.name = "ipvs",
	.proxier_name = "Using ipvs Proxier",
	.init = stub_init,
	.sync = stub_sync,
	.cleanup = stub_cleanup,
	.free = stub_free,
};
