#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# nftables-basic.sh in IPv6 (issue 17): table `ip6 switchyard` with the
# same chains and maps (service-ranges keys of 224 bits), an IPv6-only
# NodePort Service with an IPv6 externalIP over 3 IPv6 endpoints: uniform
# split, a client outside the cluster CIDR (fd00:244::/32) masqueraded, a
# pod inside it masqueraded to the externalIP and the NodePort but not to
# the ClusterIP, hairpin, REJECT (ICMPv6), --nodeport-addresses with IPv6
# CIDRs.
IPT_FAM=6 exec bash "$(dirname "$0")/nftables-basic.sh"
