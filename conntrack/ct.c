// SPDX-License-Identifier: Apache-2.0
/* Placeholder until conntrack cleanup lands. */
#include <stdlib.h>
#include "switchyard/conntrack.h"

struct ct { int unused; };
int ct_new(struct ct **ret) { *ret = calloc(1, sizeof(struct ct)); return *ret ? 0 : -12; }
void ct_free(struct ct *ct) { free(ct); }
void ct_cleanup(struct ct *ct, const struct desired_state *ds, bool full, struct ct_stats *st) { }
