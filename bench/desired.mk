# SPDX-License-Identifier: Apache-2.0
noinst_PROGRAMS += bench/desired-bench
bench_desired_bench_LDADD = libswitchyard.a $(SY_LIBS)
