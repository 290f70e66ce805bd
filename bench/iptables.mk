# SPDX-License-Identifier: Apache-2.0
# iptables mode benchmarks (bench/iptables-bench.sh drives them).
noinst_PROGRAMS += bench/iptables-sync
bench_iptables_sync_SOURCES = bench/iptables-sync.c
bench_iptables_sync_LDADD = libswitchyard.a $(SY_LIBS)
EXTRA_DIST += bench/iptables-bench.sh
