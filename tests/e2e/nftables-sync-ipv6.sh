#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# nftables-sync.sh in IPv6 (issue 17): the `ip6 switchyard` table over time
# with IPv6-only Services and real IPv6 traffic: another program's tables
# and nft transactions untouched throughout; a long-lived IPv6 connection
# survives an endpoint change (an @service-ranges-N element update, no rule
# rewritten), a stop, a change while down and a restart; an unchanged
# restart writes nothing; a removed Service's chains flushed then deleted;
# drift made with nft in the ip6 table (an element deleted, a chain
# flushed, a rule and a chain added) repaired; --cleanup removes only ours.
IPT_FAM=6 exec bash "$(dirname "$0")/nftables-sync.sh"
