#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# NetworkPolicy beside the IPVS mode, in a VM running Debian's stock kernel
# (this host has no IPVS): a policy on an endpoint pod judges traffic that
# IPVS forwards to it (tests/vm/guest/netpol-ipvs.sh).  Exit 77 when the VM
# cannot be prepared.
set -u
SY_SRC=${SY_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
SY_BUILD=${SY_BUILD:-$SY_SRC/build}
SWITCHYARD=${SWITCHYARD:-$SY_BUILD/switchyard}
. "$SY_SRC/tests/vm/lib.sh"
[ -x "$SWITCHYARD" ] || { echo "SKIP: $SWITCHYARD not built"; exit 77; }
[ -x "$SY_BUILD/tests/lib/sy-echo" ] || { echo "SKIP: $SY_BUILD/tests/lib/sy-echo not built"; exit 77; }
vm_prepare || { echo "SKIP: cannot prepare the VM"; exit 77; }
vm_run tests/vm/guest/netpol-ipvs.sh
