# SPDX-License-Identifier: Apache-2.0
# The core: object decoding (decode.c), the cache (cache.c), the pure
# desired state (desired.c).  No I/O.
libswitchyard_a_SOURCES += core/decode.c core/decode_int.h core/cache.c core/desired.c
# The decoded objects' lifetime, every kind's (free, the refcounted kinds' references).
libswitchyard_a_SOURCES += core/object.c

UNIT_TESTS += tests/unit/test-decode tests/unit/test-cache tests/unit/test-desired

# The NetworkPolicy kinds (Pod, Namespace, NetworkPolicy): decoding (netpol.h).
libswitchyard_a_SOURCES += core/decode_policy.c
UNIT_TESTS += tests/unit/test-decode-policy

# ServiceCIDRs (model.h): decoding; the unit test follows them to the nftables planner.
libswitchyard_a_SOURCES += core/decode_servicecidr.c
UNIT_TESTS += tests/unit/test-servicecidr
