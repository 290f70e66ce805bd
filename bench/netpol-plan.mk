# SPDX-License-Identifier: Apache-2.0
# The NetworkPolicy planner alone: full build, state size, one event's cost.
noinst_PROGRAMS += bench/netpol-plan
bench_netpol_plan_LDADD = libswitchyard.a $(SY_LIBS)
