# SPDX-License-Identifier: Apache-2.0
libswitchyard_a_SOURCES += conntrack/ct.c
