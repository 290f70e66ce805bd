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

#endif
