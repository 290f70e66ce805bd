#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# nftables mode, ServiceCIDRs from the API server double through the real
# kubectl (the second part of nftables-servicecidr.sh, same lab): the
# default "kubernetes" ServiceCIDR from --service-cluster-ip-range, one
# created and deleted, a deleted one kept by its finalizer while Services
# use it, an unchanged restart that writes nothing; real packets each time.
SC_PART=api
. "$(dirname "$0")/nftables-servicecidr.sh"
