# SPDX-License-Identifier: Apache-2.0
# The core: object decoding (decode.c), the cache (cache.c), the pure
# desired state (desired.c).  No I/O.
libswitchyard_a_SOURCES += core/decode.c core/decode_int.h core/cache.c core/desired.c

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test-decode tests/unit/test-cache tests/unit/test-desired
TESTS += tests/unit/test-decode tests/unit/test-cache tests/unit/test-desired
tests_unit_test_decode_LDADD = $(UNIT_LDADD)
tests_unit_test_cache_LDADD = $(UNIT_LDADD)
tests_unit_test_desired_LDADD = $(UNIT_LDADD)
endif

# The NetworkPolicy kinds (Pod, Namespace, NetworkPolicy): decoding (netpol.h).
libswitchyard_a_SOURCES += core/decode_policy.c
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test-decode-policy
TESTS += tests/unit/test-decode-policy
tests_unit_test_decode_policy_LDADD = $(UNIT_LDADD)
endif

# ServiceCIDRs (model.h): decoding; the unit test follows them to the nftables planner.
libswitchyard_a_SOURCES += core/decode_servicecidr.c
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test-servicecidr
TESTS += tests/unit/test-servicecidr
tests_unit_test_servicecidr_LDADD = $(UNIT_LDADD)
endif
