# SPDX-License-Identifier: Apache-2.0
# The NetworkPolicy planner (netpol.h): Pods, Namespaces and NetworkPolicies
# → this node's policy state and its deltas.  Pure, no I/O.
libswitchyard_a_SOURCES += policy/netpol.c

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test-netpol
TESTS += tests/unit/test-netpol
tests_unit_test_netpol_LDADD = $(UNIT_LDADD)
endif
