# SPDX-License-Identifier: Apache-2.0
# The core: object decoding and the cache (model.c), the pure desired state
# (desired.c).  No I/O.
libswitchyard_a_SOURCES += core/model.c core/desired.c

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test-model tests/unit/test-desired
TESTS += tests/unit/test-model tests/unit/test-desired
tests_unit_test_model_LDADD = $(UNIT_LDADD)
tests_unit_test_desired_LDADD = $(UNIT_LDADD)
endif
