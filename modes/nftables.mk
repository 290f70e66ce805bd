# SPDX-License-Identifier: Apache-2.0
# The nftables proxy mode (issue 15): libnftnl + libmnl batches.
libswitchyard_a_SOURCES += modes/nftables.c modes/nftables_plan.c modes/nftables_plan.h
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test-nftables-plan
TESTS += tests/unit/test-nftables-plan
tests_unit_test_nftables_plan_LDADD = $(UNIT_LDADD)
endif
