#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The IPVS mode in a VM, two guest scripts in one boot:
#   ipvs-features.sh  schedulers, affinity, hairpin, SCTP, strict ARP, timeouts
#   ipvs-graceful.sh  graceful termination of a live connection
# The Services are dual stack; every check runs over IPv4 and IPv6.
# SY_VM_GUEST="SCRIPT..." runs others (tests/vm/ipvs-paths.test.sh: the
# paths matrix in its own boot).  77 when no VM can be prepared.
set -u
SY_SRC=${SY_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
SY_BUILD=${SY_BUILD:-$SY_SRC/build}
SWITCHYARD=${SWITCHYARD:-$SY_BUILD/switchyard}
. "$SY_SRC/tests/vm/lib.sh"
[ -x "$SWITCHYARD" ] || { echo "SKIP: $SWITCHYARD not built"; exit 77; }
[ -x "$SY_BUILD/tests/lib/sy-echo" ] || { echo "SKIP: $SY_BUILD/tests/lib/sy-echo not built"; exit 77; }
vm_prepare || { echo "SKIP: cannot prepare the VM"; exit 77; }
# shellcheck disable=SC2086
vm_run tests/vm/guest/several.sh ${SY_VM_GUEST:-ipvs-features.sh ipvs-graceful.sh}
