# SPDX-License-Identifier: Apache-2.0
# The NetworkPolicy kernel side (netpol_nft.h): the planner's state as
# table inet switchyard-policy, through lib/nft.c.
libswitchyard_a_SOURCES += policy/policy_nft.c

UNIT_TESTS += tests/unit/test-policy-nft
