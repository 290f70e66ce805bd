# SPDX-License-Identifier: Apache-2.0
# The Kubernetes client: list/watch over libcurl multi on libev, kubeconfig,
# the watch-stream decoder; its unit tests and fuzzers.
libswitchyard_a_SOURCES += src/k8s_client.c src/kubeconfig.c src/watch_decoder.c

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test-watch-decoder tests/unit/test-kubeconfig
TESTS += tests/unit/test-watch-decoder tests/unit/test-kubeconfig
tests_unit_test_watch_decoder_LDADD = $(UNIT_LDADD)
tests_unit_test_kubeconfig_LDADD = $(UNIT_LDADD)
endif
