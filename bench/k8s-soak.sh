#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/k8s-soak.sh [RESTARTS [OPS]] — the long soak: the API server double
# restarted RESTARTS times (default 100) with OPS changes (default 8) of
# Services / EndpointSlices between restarts; at the end the daemon's
# iptables state is compared with a fresh daemon's.  Prints restarts,
# changes, relists, convergence time and the number of differing rule lines
# (tests/e2e/apiserver-soak.sh is the same with 10 restarts, for
# tools/check).  Needs a build (SY_BUILD, default ./build) and root.
set -u
SY_SRC=$(cd "$(dirname "$0")/.." && pwd)
SY_BUILD=${SY_BUILD:-$SY_SRC/build}
export SY_SRC SY_BUILD SWITCHYARD=${SWITCHYARD:-$SY_BUILD/switchyard}
[ -x "$SWITCHYARD" ] || { echo "build first: $SWITCHYARD" >&2; exit 2; }
SOAK_RESTARTS=${1:-100} SOAK_OPS=${2:-8} exec bash "$SY_SRC/tests/e2e/apiserver-soak.sh"
