#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Stale UDP conntrack cleanup with the nftables mode: conntrack-udp-failover.sh
# (real UDP flows to a ClusterIP and a NodePort follow an endpoint change
# within one sync; other entries untouched) run with SY_CT_MODE=nftables.
command -v nft >/dev/null || { echo "nft missing" >&2; exit 77; }
SY_CT_MODE=nftables exec bash "$(dirname "$0")/conntrack-udp-failover.sh"
