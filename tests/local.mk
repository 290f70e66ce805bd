# SPDX-License-Identifier: Apache-2.0
# Unit tests (cmocka).  Each part names its own in its fragment with
#   UNIT_TESTS += tests/unit/test-x
# (Makefile.am builds and runs them when cmocka is there); they link
# $(UNIT_LDADD), the default LDADD: any other program names its own.
UNIT_LDADD = libswitchyard.a $(SY_LIBS) $(CMOCKA_LIBS)
LDADD = $(UNIT_LDADD)
EXTRA_DIST += tests

# Test helpers built with the tree (used by e2e tests, benchmarks and the demo).
noinst_PROGRAMS += tests/lib/sy-httpd tests/lib/sy-echo
tests_lib_sy_httpd_LDADD =
tests_lib_sy_echo_LDADD =
