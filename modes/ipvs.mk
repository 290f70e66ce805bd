# SPDX-License-Identifier: Apache-2.0
# The IPVS proxy mode (issue 4).  libipset and libiptc headers clash, so
# ipvs_set.c and ipvs_ipt.c stay separate translation units.  ipvs_plan.c:
# the pure planner (unit-tested in test-ipvs-plan).
libswitchyard_a_SOURCES += modes/ipvs.c modes/ipvs_plan.c modes/ipvs_plan.h modes/ipvs_int.h \
	modes/ipvs_nl.c modes/ipvs_dev.c modes/ipvs_set.c modes/ipvs_ipt.c
UNIT_TESTS += tests/unit/test-ipvs tests/unit/test-ipvs-plan
