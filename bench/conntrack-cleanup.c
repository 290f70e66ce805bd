// SPDX-License-Identifier: Apache-2.0
/*
 * Drive one conntrack cleanup exactly as the sync runner does, without a
 * proxy mode: load the manifest directory OLD into the cache, build and
 * commit the desired state (as after a sync), then load NEW, rebuild (the
 * changes stay uncommitted) and call ct_cleanup() once.  Prints what it
 * did and how long the cleanup took.  Run it inside a test namespace: it
 * deletes conntrack entries of the namespace it runs in.
 *
 *   conntrack-cleanup [-v N] [--full] [--ipv6] [--per-key-max N] [--break-socket-first]
 *                     [--nodeport-address IP]... OLD_DIR NEW_DIR
 *
 * --ipv6: ct_set_ipv6() (clean up after the IPv6 ports too: full passes,
 * since the desired state keeps no IPv6 change list; tests/e2e/conntrack-ipv6.sh).
 *
 * --break-socket-first: replace the netlink socket by a UDP one before the
 * cleanup (it must fail and count an error), commit, then call again with
 * no changes: the owed full pass must do the work.
 *
 * Used by tests/e2e/conntrack-*.sh (with hand-made DNAT rules) and by
 * bench/conntrack-bench.sh (timing with many unrelated entries).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <ev.h>
#include "switchyard/config.h"
#include "switchyard/conntrack.h"
#include "switchyard/desired.h"
#include "switchyard/log.h"
#include "switchyard/manifest.h"
#include "switchyard/model.h"
#include "switchyard/util.h"
#include "../conntrack/ct_int.h"

static void changed(void *arg, enum sy_kind kind)
{
}

static int load(struct ev_loop *loop, struct cache *c, const char *dir)
{
	struct manifest_source *m;
	int r = manifest_source_new(&m, loop, dir, c, NULL);

	if (r < 0)
		return r;
	r = manifest_source_reload(m);
	manifest_source_free(m);
	return r;
}

/* The cleanup's warning and summary, as the daemon logs them. */
static void log_ct(const struct ct_stats *st)
{
	char s[256];

	if (st->err[0])
		log_warn("Conntrack cleanup: %s", st->err);
	if (st->checked) {
		ct_stats_summary(st, s, sizeof(s));
		log_v(2, "Conntrack cleanup: %s", s);
	}
}

int main(int argc, char **argv)
{
	struct sy_addr np[16];
	unsigned n_np = 0;
	bool full = false, break_first = false, ipv6 = false;
	int per_key_max = -1;
	struct sy_config cfg;
	struct desired_state ds;
	struct ct_stats st = { 0 };
	struct ev_loop *loop;
	struct cache *c;
	struct ct *ct;
	int i, r;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--full")) {
			full = true;
		} else if (!strcmp(argv[i], "--ipv6")) {
			ipv6 = true;
		} else if (!strcmp(argv[i], "--break-socket-first")) {
			break_first = true;
		} else if (!strcmp(argv[i], "--per-key-max") && i + 1 < argc) {
			per_key_max = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "-v") && i + 1 < argc) {
			log_verbosity = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--nodeport-address") && i + 1 < argc && n_np < 16) {
			if (sy_addr_parse(argv[++i], &np[n_np++]) < 0) {
				fprintf(stderr, "bad address %s\n", argv[i]);
				return 2;
			}
		} else {
			break;
		}
	}
	if (argc - i != 2) {
		fprintf(stderr, "usage: %s [-v N] [--full] [--ipv6] [--per-key-max N] "
			"[--break-socket-first] "
			"[--nodeport-address IP]... "
			"OLD_DIR NEW_DIR\n",
			argv[0]);
		return 2;
	}
	loop = ev_default_loop(EVFLAG_AUTO);
	config_init(&cfg);
	c = cache_new(changed, NULL);
	desired_init(&ds, &cfg);
	desired_set_node(&ds, "node", NULL, np, n_np, n_np == 0);
	r = ct_new(&ct);
	if (r < 0) {
		fprintf(stderr, "ct_new: %s\n", strerror(-r));
		return 1;
	}
	if (per_key_max >= 0)
		ct_set_per_key_max(ct, (unsigned)per_key_max);
	ct_set_ipv6(ct, ipv6);
	if ((r = load(loop, c, argv[i])) < 0) {
		fprintf(stderr, "%s: %s\n", argv[i], strerror(-r));
		return 1;
	}
	desired_update(&ds, c, true);
	desired_commit(&ds);
	if ((r = load(loop, c, argv[i + 1])) < 0) {
		fprintf(stderr, "%s: %s\n", argv[i + 1], strerror(-r));
		return 1;
	}
	desired_update(&ds, c, false);
	printf("changes=%u ports=%zu ports6=%zu full=%s\n", ds_n_changes(&ds), hmap_count(&ds.ports),
	       hmap_count(&ds.ports6), full ? "true" : "false");
	if (break_first) {
		/*
		 * Prove the retry: a socket that is not netlink any more makes this call fail;
		 * the next call, with no changes left, must still do the (owed, full) work.
		 */
		int fd = socket(AF_INET, SOCK_DGRAM, 0);

		if (fd < 0 || dup2(fd, ct_debug_fd(ct)) < 0) {
			perror("breaking the socket");
			return 1;
		}
		close(fd);
		ct_cleanup(ct, &ds, full, &st);
		log_ct(&st);
		printf("broken: deleted=%llu errors=%llu seconds=%.6f\n",
		       (unsigned long long)st.deleted, (unsigned long long)st.errors, st.seconds);
		desired_commit(&ds);
		if (!st.errors)
			return 1;
		memset(&st, 0, sizeof(st));
		full = false;
	}
	ct_cleanup(ct, &ds, full, &st);
	log_ct(&st);
	printf("deleted=%llu errors=%llu seconds=%.6f\n", (unsigned long long)st.deleted,
	       (unsigned long long)st.errors, st.seconds);
	desired_commit(&ds);
	ct_free(ct);
	desired_fini(&ds);
	cache_free(c);
	config_free(&cfg);
	ev_loop_destroy(loop);
	return st.errors ? 1 : 0;
}
