# SPDX-License-Identifier: Apache-2.0
# The NetworkPolicy kernel side (netpol_nft.h): the planner's state as
# table inet switchyard-policy, through lib/nft.c.
libswitchyard_a_SOURCES += policy/policy_nft.c

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test-policy-nft
TESTS += tests/unit/test-policy-nft
tests_unit_test_policy_nft_LDADD = $(UNIT_LDADD)
endif
