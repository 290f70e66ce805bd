# SPDX-License-Identifier: Apache-2.0
# conntrack cleanup: a driver that runs one cleanup like the sync runner
# (used by tests/e2e/conntrack-*.sh and bench/conntrack-bench.sh).
noinst_PROGRAMS += bench/conntrack-cleanup
bench_conntrack_cleanup_SOURCES = bench/conntrack-cleanup.c
bench_conntrack_cleanup_LDADD = libswitchyard.a $(SY_LIBS)
