#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Stale IPv6 UDP conntrack cleanup with the nftables mode (issue 17):
# conntrack-udp-failover.sh in IPv6 (the `ip6 switchyard` table's DNAT)
# with SY_CT_MODE=nftables; see conntrack-udp-failover-ipv6.sh.
command -v nft >/dev/null || { echo "nft missing" >&2; exit 77; }
CT_FAM=6 SY_CT_MODE=nftables exec bash "$(dirname "$0")/conntrack-udp-failover.sh"
