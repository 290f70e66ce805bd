// SPDX-License-Identifier: Apache-2.0
/* libiptc's init → edit → commit loop, for ip (libip4tc) and ip6 (libip6tc) tables (see switchyard/iptc.h). */
#include <errno.h>
#include <stddef.h>
#include <sys/socket.h>
#include <libiptc/libiptc.h>
#include <libiptc/libip6tc.h>
#include "switchyard/iptc.h"

#define IPTC_TRIES 3

/* The family's libiptc entry points: both libraries share struct xtc_handle. */
struct iptc_ops {
	struct xtc_handle *(*init)(const char *table);
	int (*commit)(struct xtc_handle *h);
	void (*free)(struct xtc_handle *h);
};

static const struct iptc_ops ops4 = { iptc_init, iptc_commit, iptc_free };
static const struct iptc_ops ops6 = { ip6tc_init, ip6tc_commit, ip6tc_free };

int sy_iptc_edit_family(int family, const char *table,
			int (*edit)(struct xtc_handle *h, void *arg), void *arg,
			enum sy_iptc_step *step)
{
	const struct iptc_ops *ops = family == AF_INET6 ? &ops6 : &ops4;
	enum sy_iptc_step dummy;
	struct xtc_handle *h;
	int r = 0;

	if (!step)
		step = &dummy;
	for (int attempt = 0; attempt < IPTC_TRIES; attempt++) {
		*step = SY_IPTC_INIT;
		h = ops->init(table);
		if (!h)
			return errno ? -errno : -EIO;
		*step = SY_IPTC_EDIT;
		r = edit(h, arg);
		if (r <= 0) {
			ops->free(h);
			return r;
		}
		*step = SY_IPTC_COMMIT;
		if (ops->commit(h)) {
			ops->free(h);
			return 1;
		}
		r = errno ? -errno : -EIO;
		ops->free(h);
		if (r != -EAGAIN)
			break;	/* EAGAIN: someone else committed in between: redo */
	}
	return r;
}

int sy_iptc_edit(const char *table, int (*edit)(struct xtc_handle *h, void *arg), void *arg,
		 enum sy_iptc_step *step)
{
	return sy_iptc_edit_family(AF_INET, table, edit, arg, step);
}
