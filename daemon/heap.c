// SPDX-License-Identifier: Apache-2.0
/*
 * The daemon's malloc policy, in one place: glibc's tuning for the cold
 * start (the first sync's peak RSS) and for the steady state after it
 * (partial syncs' latency).
 */
#include <malloc.h>
#include "switchyard/daemon.h"

void daemon_heap_cold_start(void)
{
	/*
	 * The first sync's peak RSS (issue 15): without fastbins the freed
	 * small blocks of the decoded input coalesce and are reused; a fixed
	 * mmap threshold keeps the large arrays a sync regrows (hash tables,
	 * batch pages) out of the heap, where glibc's sliding threshold (raised
	 * by the first freed large buffer, e.g. a manifest's text) put them and
	 * their old copies left holes.  1.2 MB less VmHWM at 10,000 Services.
	 */
	mallopt(M_MXFAST, 0);
	mallopt(M_MMAP_THRESHOLD, 64 * 1024);
}

void daemon_heap_steady(void)
{
	/*
	 * The cold start mmaps blocks from 64 KB on; from now on a partial
	 * sync's arrays of that size would be mapped, or the heap's top
	 * trimmed, and faulted in afresh on every change (3-4 ms of a 0.5 ms
	 * endpoint change at 1,000 Services): glibc's own dynamic thresholds
	 * stop at the first explicit one, so both are raised as it would
	 * raise them.
	 */
	mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 8 * 1024 * 1024);
}
