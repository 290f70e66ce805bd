// SPDX-License-Identifier: Apache-2.0
#include <string.h>
#include "switchyard/mode.h"

const char *const proxy_mode_xtables_tables[] = { "filter", "nat", NULL };

const struct proxy_mode_ops *const proxy_modes[] = {
	&iptables_mode_ops,
	&ipvs_mode_ops,
	&nftables_mode_ops,
	&none_mode_ops,
	NULL,
};

bool proxy_mode_owns_device(const char *ifname)
{
	for (unsigned i = 0; proxy_modes[i]; i++)
		for (unsigned k = 0; proxy_modes[i]->own_devices && proxy_modes[i]->own_devices[k]; k++)
			if (!strcmp(proxy_modes[i]->own_devices[k], ifname))
				return true;
	return false;
}

uint64_t proxy_mode_table_rules(const struct proxy_mode_ops *ops, const struct mode_sync_stats *st,
				const char *table)
{
	for (unsigned i = 0; ops->rule_tables && ops->rule_tables[i] && i < MODE_MAX_TABLES; i++)
		if (!strcmp(ops->rule_tables[i], table))
			return st->table_rules[i];
	return 0;
}

const struct proxy_mode_ops *proxy_mode_find(const char *name)
{
	for (unsigned i = 0; proxy_modes[i]; i++)
		if (strcmp(proxy_modes[i]->name, name) == 0)
			return proxy_modes[i];
	return NULL;
}
