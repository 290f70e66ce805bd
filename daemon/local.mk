# SPDX-License-Identifier: Apache-2.0
# The daemon: main(), the sync runner, the wiring (NodePort addresses).
switchyard_SOURCES = daemon/main.c
libswitchyard_a_SOURCES += daemon/sync.c daemon/daemon.c daemon/policy.c daemon/heap.c

UNIT_TESTS += tests/unit/test-sync
