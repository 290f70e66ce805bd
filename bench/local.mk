# SPDX-License-Identifier: Apache-2.0
# Benchmarks: programs and scripts that print numbers (never pass/fail on time).
include bench/desired.mk
include bench/k8s.mk
include bench/iptables.mk
include bench/nftables.mk
include bench/ipvs.mk
include bench/conntrack.mk
include bench/podnet.mk
include bench/netpol-plan.mk
include bench/netpol-bench.mk
