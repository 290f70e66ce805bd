# SPDX-License-Identifier: Apache-2.0
libswitchyard_a_SOURCES += modes/registry.c modes/none.c
include modes/iptables.mk
include modes/ipvs.mk
include modes/nftables.mk

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test-modes
TESTS += tests/unit/test-modes
tests_unit_test_modes_LDADD = $(UNIT_LDADD)
endif
