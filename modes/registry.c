// SPDX-License-Identifier: Apache-2.0
#include <string.h>
#include "switchyard/mode.h"

const struct proxy_mode_ops *const proxy_modes[] = {
	&iptables_mode_ops,
	&ipvs_mode_ops,
	&none_mode_ops,
	NULL,
};

const struct proxy_mode_ops *proxy_mode_find(const char *name)
{
	for (unsigned i = 0; proxy_modes[i]; i++)
		if (strcmp(proxy_modes[i]->name, name) == 0)
			return proxy_modes[i];
	return NULL;
}
