# SPDX-License-Identifier: Apache-2.0
# Unit tests (cmocka).  Each part registers its own tests in its fragment
# with:  check_PROGRAMS += tests/unit/test-x ; TESTS += tests/unit/test-x
# and links  $(UNIT_LDADD).
UNIT_LDADD = libswitchyard.a $(SY_LIBS) $(CMOCKA_LIBS)
EXTRA_DIST += tests

# Test helpers built with the tree (used by e2e tests, benchmarks and the demo).
noinst_PROGRAMS += tests/lib/sy-httpd tests/lib/sy-echo
