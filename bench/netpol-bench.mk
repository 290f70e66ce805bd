# SPDX-License-Identifier: Apache-2.0
# NetworkPolicy end to end into the kernel: full programming, one pod's
# change from event to the kernel's answer, kube-router's shape beside it
# (bench/netpol-bench.sh runs it in a private network namespace).
noinst_PROGRAMS += bench/netpol-bench
bench_netpol_bench_LDADD = libswitchyard.a $(SY_LIBS)
