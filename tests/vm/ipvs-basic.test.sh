#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The IPVS mode in a VM running Debian's stock kernel (this host has no
# IPVS): balancing, state read back with ipvsadm/ipset/ip/iptables,
# NodePort, masquerade, REJECT, no-op sync, drift repair, restart, cleanup.
# See tests/vm/guest/ipvs-basic.sh for the checks.  Exit 77 when the VM
# cannot be prepared (no qemu, no kernel package reachable).
set -u
SY_SRC=${SY_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
SY_BUILD=${SY_BUILD:-$SY_SRC/build}
SWITCHYARD=${SWITCHYARD:-$SY_BUILD/switchyard}
. "$SY_SRC/tests/vm/lib.sh"
[ -x "$SWITCHYARD" ] || { echo "SKIP: $SWITCHYARD not built"; exit 77; }
[ -x "$SY_BUILD/tests/lib/sy-echo" ] || { echo "SKIP: $SY_BUILD/tests/lib/sy-echo not built"; exit 77; }
vm_prepare || { echo "SKIP: cannot prepare the VM"; exit 77; }
vm_run tests/vm/guest/ipvs-basic.sh
