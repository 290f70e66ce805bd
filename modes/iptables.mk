# SPDX-License-Identifier: Apache-2.0
# The iptables proxy mode (issue 3).
libswitchyard_a_SOURCES += modes/iptables.c modes/iptables_plan.c modes/iptables_names.c \
	modes/iptables_blob.c modes/iptables_plan.h modes/iptables_blob.h
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test-iptables tests/unit/test-iptables-blob
TESTS += tests/unit/test-iptables tests/unit/test-iptables-blob
tests_unit_test_iptables_LDADD = $(UNIT_LDADD)
tests_unit_test_iptables_blob_LDADD = $(UNIT_LDADD)
endif
