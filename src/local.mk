# SPDX-License-Identifier: Apache-2.0
# The daemon's core (owned by the core: log, util, hmap, flags, model,
# desired state, sync runner, manifest source).  Other parts of src/ add
# themselves through their own fragments below.
libswitchyard_a_SOURCES += \
	src/log.c src/util.c src/hmap.c src/config.c \
	src/model.c src/desired.c src/sync.c src/manifest.c src/daemon.c

include src/k8s.mk
include src/ops.mk
include src/podnet.mk
