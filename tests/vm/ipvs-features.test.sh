#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The IPVS mode in a VM, three guest scripts in one boot:
#   ipvs-features.sh  schedulers, affinity, hairpin, SCTP, strict ARP, timeouts
#   ipvs-paths.sh     who answers and which source the endpoint sees, per
#                     Service kind x endpoints (local/remote/both/none/
#                     terminating) x client (pod/node/outside) x config
#                     (no --cluster-cidr, --cluster-cidr, --masquerade-all)
#   ipvs-graceful.sh  graceful termination of a live connection
# SY_VM_GUEST="ipvs-paths.sh" runs a subset.  77 when no VM can be prepared.
set -u
SY_SRC=${SY_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
SY_BUILD=${SY_BUILD:-$SY_SRC/build}
SWITCHYARD=${SWITCHYARD:-$SY_BUILD/switchyard}
. "$SY_SRC/tests/vm/lib.sh"
[ -x "$SWITCHYARD" ] || { echo "SKIP: $SWITCHYARD not built"; exit 77; }
[ -x "$SY_BUILD/tests/lib/sy-echo" ] || { echo "SKIP: $SY_BUILD/tests/lib/sy-echo not built"; exit 77; }
vm_prepare || { echo "SKIP: cannot prepare the VM"; exit 77; }
# shellcheck disable=SC2086
vm_run tests/vm/guest/several.sh ${SY_VM_GUEST:-ipvs-features.sh ipvs-paths.sh ipvs-graceful.sh}
