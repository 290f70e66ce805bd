// SPDX-License-Identifier: Apache-2.0
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include "switchyard/log.h"

int log_verbosity;

void log_emit(char sev, const char *file, int line, const char *fmt, ...)
{
	struct timeval tv;
	struct tm tm;
	char msg[4096];
	const char *base = strrchr(file, '/');
	va_list ap;

	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* klog: Lmmdd hh:mm:ss.uuuuuu threadid file:line] msg */
	fprintf(stderr, "%c%02d%02d %02d:%02d:%02d.%06ld %7d %s:%d] %s\n", sev, tm.tm_mon + 1,
		tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)tv.tv_usec, (int)getpid(),
		base ? base + 1 : file, line, msg);
}

static void report_log(void *arg, char sev, const char *msg)
{
	log_emit(sev, __FILE__, __LINE__, "%s", msg);
}

const struct sy_report sy_report_log = { report_log, NULL };

void sy_report(const struct sy_report *r, char sev, const char *fmt, ...)
{
	char msg[4096];
	va_list ap;

	if (!r || !r->fn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->fn(r->arg, sev, msg);
}
