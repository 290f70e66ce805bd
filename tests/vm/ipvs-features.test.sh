#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The IPVS mode in a VM: schedulers, affinity, eTP=Local, masquerade-all,
# cluster-cidr, hairpin, SCTP, externalIPs, LB source ranges, strict ARP,
# timeouts (tests/vm/guest/ipvs-features.sh).  77 when no VM can be prepared.
set -u
SY_SRC=${SY_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
SY_BUILD=${SY_BUILD:-$SY_SRC/build}
SWITCHYARD=${SWITCHYARD:-$SY_BUILD/switchyard}
. "$SY_SRC/tests/vm/lib.sh"
[ -x "$SWITCHYARD" ] || { echo "SKIP: $SWITCHYARD not built"; exit 77; }
vm_prepare || { echo "SKIP: cannot prepare the VM"; exit 77; }
vm_run tests/vm/guest/ipvs-features.sh
