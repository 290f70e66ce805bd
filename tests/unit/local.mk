# SPDX-License-Identifier: Apache-2.0
# The core's unit tests.
if HAVE_CMOCKA
CORE_TESTS = tests/unit/test-model tests/unit/test-desired tests/unit/test-config \
	tests/unit/test-manifest tests/unit/test-util
check_PROGRAMS += $(CORE_TESTS)
TESTS += $(CORE_TESTS)
tests_unit_test_model_LDADD = $(UNIT_LDADD)
tests_unit_test_desired_LDADD = $(UNIT_LDADD)
tests_unit_test_config_LDADD = $(UNIT_LDADD)
tests_unit_test_manifest_LDADD = $(UNIT_LDADD)
tests_unit_test_util_LDADD = $(UNIT_LDADD)
endif
