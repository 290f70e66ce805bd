// SPDX-License-Identifier: Apache-2.0
/* libiptc's init → edit → commit loop (see switchyard/iptc.h). */
#include <errno.h>
#include <stddef.h>
#include <libiptc/libiptc.h>
#include "switchyard/iptc.h"

#define IPTC_TRIES 3

int sy_iptc_edit(const char *table, int (*edit)(struct xtc_handle *h, void *arg), void *arg,
		 enum sy_iptc_step *step)
{
	enum sy_iptc_step dummy;
	struct xtc_handle *h;
	int r = 0;

	if (!step)
		step = &dummy;
	for (int attempt = 0; attempt < IPTC_TRIES; attempt++) {
		*step = SY_IPTC_INIT;
		h = iptc_init(table);
		if (!h)
			return errno ? -errno : -EIO;
		*step = SY_IPTC_EDIT;
		r = edit(h, arg);
		if (r <= 0) {
			iptc_free(h);
			return r;
		}
		*step = SY_IPTC_COMMIT;
		if (iptc_commit(h)) {
			iptc_free(h);
			return 1;
		}
		r = errno ? -errno : -EIO;
		iptc_free(h);
		if (r != -EAGAIN)
			break;	/* EAGAIN: someone else committed in between: redo */
	}
	return r;
}
