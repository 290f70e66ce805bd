# SPDX-License-Identifier: Apache-2.0
libswitchyard_a_SOURCES += modes/registry.c
include modes/iptables.mk
include modes/ipvs.mk
