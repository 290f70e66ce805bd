# SPDX-License-Identifier: Apache-2.0
# Stale UDP/SCTP conntrack cleanup (issue 5): ct.c (the API), ct_plan.c
# (pure: what is stale), ct_nl.c (ctnetlink over libmnl).
libswitchyard_a_SOURCES += conntrack/ct.c conntrack/ct_plan.c conntrack/ct_nl.c conntrack/ct_int.h \
	conntrack/ct_sysctl.c
UNIT_TESTS += tests/unit/test-ct
