/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SWITCHYARD_LOG_H
#define SWITCHYARD_LOG_H
/*
 * klog-format logging to stderr:
 *   I1122 12:00:00.123456    1234 file.c:42] message
 * Severity letters I, W, E, F.  log_v(N, ...) prints only when -v >= N.
 * The verbosity is one of the two allowed globals (with the parsed flags).
 */
#include <stdarg.h>

extern int log_verbosity;

void log_emit(char sev, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define log_info(...)	log_emit('I', __FILE__, __LINE__, __VA_ARGS__)
#define log_warn(...)	log_emit('W', __FILE__, __LINE__, __VA_ARGS__)
#define log_error(...)	log_emit('E', __FILE__, __LINE__, __VA_ARGS__)
#define log_v(n, ...) \
	do { if (log_verbosity >= (n)) log_emit('I', __FILE__, __LINE__, __VA_ARGS__); } while (0)

/*
 * A part's messages for its owner to log: what it meets where no caller
 * waits for a return value (the Kubernetes client's lists and watches) and
 * what a call changed besides its result (the pod network's peers).  sev
 * is 'E', 'W' or 'I' as above; msg says what and what happens next.  The
 * part keeps only its -v traces; the owner logs (or, in a test, looks).
 */
struct sy_report {
	void (*fn)(void *arg, char sev, const char *msg);	/* NULL: dropped */
	void *arg;
};
void sy_report(const struct sy_report *r, char sev, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The owner's report when it only logs: each message as said, at its severity. */
extern const struct sy_report sy_report_log;

#endif
