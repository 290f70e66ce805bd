#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The IPVS mode with IPv6 and dual-stack Services in a VM running Debian's
# stock kernel (this host has no IPVS): one instance per family, real IPv6
# traffic to ClusterIP, NodePort, externalIP, affinity, masquerade, REJECT,
# a dual-stack Service answering on both ClusterIPs with each family's
# endpoints, state read back with ipvsadm, ipset, ip6tables-save and ip;
# each instance keeping to its family's virtual servers, one kernel dump per
# sync run, a restart with a live IPv6 connection that writes nothing.
# See tests/vm/guest/ipvs-dualstack.sh.  Exit 77 when the VM cannot be
# prepared.
set -u
SY_SRC=${SY_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
SY_BUILD=${SY_BUILD:-$SY_SRC/build}
SWITCHYARD=${SWITCHYARD:-$SY_BUILD/switchyard}
. "$SY_SRC/tests/vm/lib.sh"
[ -x "$SWITCHYARD" ] || { echo "SKIP: $SWITCHYARD not built"; exit 77; }
[ -x "$SY_BUILD/tests/lib/sy-echo" ] || { echo "SKIP: $SY_BUILD/tests/lib/sy-echo not built"; exit 77; }
vm_prepare || { echo "SKIP: cannot prepare the VM"; exit 77; }
vm_run tests/vm/guest/ipvs-dualstack.sh
