#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# nftables-upgrade.sh in IPv6 (issue 17): the previous daemon's (6d46f96)
# table ip6 switchyard with three shared chains per shard converted to lb-N
# by this one; IPv6 connections through the ClusterIP, the externalIP and
# the NodePort held across the restart; an IPv6 pod masqueraded to the
# externalIP and the NodePort, not to the ClusterIP; no stale chain; the
# next restart writes nothing.
IPT_FAM=6 exec bash "$(dirname "$0")/nftables-upgrade.sh"
