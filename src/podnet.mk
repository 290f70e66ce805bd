# SPDX-License-Identifier: Apache-2.0
# Pod networking core (issue 7): see doc/pod-network.md.
libswitchyard_a_SOURCES += src/podnet.c src/podnet_conf.c src/podnet_nl.c src/podnet_ipt.c

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test-podnet
TESTS += tests/unit/test-podnet
tests_unit_test_podnet_LDADD = $(UNIT_LDADD)
endif
