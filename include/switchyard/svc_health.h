/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SWITCHYARD_SVC_HEALTH_H
#define SWITCHYARD_SVC_HEALTH_H
/*
 * ops/svc_health.c: per-Service healthCheckNodePort listeners, kept in step
 * with the desired state, and the no_local_endpoints gauges.
 */
#include <stdbool.h>

struct desired_state;
struct ev_loop;
struct svc_health;
struct sy_metrics;
struct sy_report;

/* Whether the proxy is healthy (kube-proxy's serviceProxyHealthy). */
typedef bool (*svc_health_proxy_healthy_fn)(void *arg);

/*
 * Listeners run on loop; proxy_healthy(arg) answers for the proxy; the
 * no_local_endpoints_* gauges are written to metrics.  A listener that
 * cannot bind (retried every sync) is told to rep once ('W', kube-proxy's
 * FailedToStartServiceHealthcheck), and again ('I') once it listens.
 */
struct svc_health *svc_health_new(struct ev_loop *loop, struct sy_metrics *metrics,
				  svc_health_proxy_healthy_fn proxy_healthy, void *arg,
				  const struct sy_report *rep);
/*
 * After each sync, with the desired state whose changes are not committed
 * yet; full: scan every port (else only when a change touches a port with
 * a healthCheckNodePort or a Local traffic policy).
 */
void svc_health_sync(struct svc_health *h, const struct desired_state *ds, bool full);
void svc_health_free(struct svc_health *h);

#endif
