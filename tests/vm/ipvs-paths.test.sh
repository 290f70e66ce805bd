#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The IPVS paths matrix in a VM (tests/vm/guest/ipvs-paths.sh): who answers
# and which source the endpoint sees, per Service kind x endpoints
# (local/remote/both/none/terminating) x client (pod/node/outside) x config
# (no --cluster-cidr, --cluster-cidr, --masquerade-all), over IPv4 and IPv6
# on dual-stack Services.  Its own boot: the matrix alone takes minutes
# under emulation.  77 when no VM can be prepared.
SY_VM_GUEST=ipvs-paths.sh exec bash "$(dirname "$0")/ipvs-features.test.sh"
