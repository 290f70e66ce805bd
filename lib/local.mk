# SPDX-License-Identifier: Apache-2.0
# Shared helpers every part may use: klog-style logging, util, hmap, the
# command-line flags.
libswitchyard_a_SOURCES += lib/log.c lib/addr.c lib/util.c lib/hmap.c lib/config.c lib/feature_gate.c lib/nlerr.c lib/iptc.c lib/xtables.c lib/nft.c

UNIT_TESTS += tests/unit/test-addr tests/unit/test-config tests/unit/test-util
