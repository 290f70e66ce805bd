# SPDX-License-Identifier: Apache-2.0
# The iptables proxy mode (issue 3).
libswitchyard_a_SOURCES += modes/iptables.c modes/iptables_plan.c modes/iptables_names.c \
	modes/iptables_blob.c modes/iptables_plan.h modes/iptables_blob.h
UNIT_TESTS += tests/unit/test-iptables tests/unit/test-iptables-blob
