# SPDX-License-Identifier: Apache-2.0
libswitchyard_a_SOURCES += modes/registry.c modes/none.c
include modes/iptables.mk
include modes/ipvs.mk
include modes/nftables.mk

UNIT_TESTS += tests/unit/test-modes
