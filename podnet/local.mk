# SPDX-License-Identifier: Apache-2.0
# Pod networking core (issue 7): see doc/pod-network.md.
libswitchyard_a_SOURCES += podnet/podnet.c podnet/podnet_conf.c podnet/podnet_nl.c podnet/podnet_ipt.c \
	podnet/podnet_int.h

# test-podnet-nl runs against the kernel in a private network namespace (skips unless root)
UNIT_TESTS += tests/unit/test-podnet tests/unit/test-podnet-nl
