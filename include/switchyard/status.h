/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SWITCHYARD_STATUS_H
#define SWITCHYARD_STATUS_H
/*
 * ops/status.c: the healthz server (/healthz, /livez) and the metrics
 * server (/metrics, /proxyMode, /configz, /debug/state) of the daemon.
 */
#include <stddef.h>

struct sy_daemon;

/* Start both servers (a taken address is retried every 5 s); 0 or -errno with err. */
int status_servers_start(struct sy_daemon *d, char *err, size_t errlen);
void status_servers_stop(struct sy_daemon *d);

#endif
