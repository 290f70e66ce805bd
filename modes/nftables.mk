# SPDX-License-Identifier: Apache-2.0
# The nftables proxy mode (issue 15): libnftnl + libmnl batches.
libswitchyard_a_SOURCES += modes/nftables.c modes/nftables_plan.c modes/nftables_plan.h
UNIT_TESTS += tests/unit/test-nftables-plan tests/unit/test-nftables-batch tests/unit/test-nftables-eidx
