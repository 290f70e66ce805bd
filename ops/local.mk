# SPDX-License-Identifier: Apache-2.0
# Operations (issue 6): the HTTP server, healthz/livez, metrics, /debug/state,
# healthCheckNodePort listeners, the KubeProxyConfiguration file; see
# doc/operations.md.
libswitchyard_a_SOURCES += ops/http.c ops/status.c ops/svc_health.c ops/metrics.c \
	ops/config_file.c ops/http.h ops/render.h

UNIT_TESTS += tests/unit/test-config-file tests/unit/test-metrics tests/unit/test-svc-health
