# SPDX-License-Identifier: Apache-2.0
# Operations (issue 6): the HTTP server, healthz/livez, metrics, /debug/state,
# healthCheckNodePort listeners, the KubeProxyConfiguration file; see
# doc/operations.md.
libswitchyard_a_SOURCES += ops/http.c ops/status.c ops/svc_health.c ops/metrics.c \
	ops/config_file.c ops/http.h ops/render.h

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test-config-file tests/unit/test-metrics tests/unit/test-svc-health
TESTS += tests/unit/test-config-file tests/unit/test-metrics tests/unit/test-svc-health
tests_unit_test_config_file_LDADD = $(UNIT_LDADD)
tests_unit_test_metrics_LDADD = $(UNIT_LDADD)
tests_unit_test_svc_health_LDADD = $(UNIT_LDADD)
endif
