# SPDX-License-Identifier: Apache-2.0
# The NetworkPolicy planner (netpol.h): Pods, Namespaces and NetworkPolicies
# → this node's policy state and its deltas.  Pure, no I/O.
libswitchyard_a_SOURCES += policy/netpol.c

UNIT_TESTS += tests/unit/test-netpol
