#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# nftables-upgrade.sh in IPv6 (issue 17): the previous daemons' (ea60c75:
# lb-N; 6d46f96: three shared chains per shard) table ip6 switchyard
# converted to lb-group-G by this one; IPv6 connections through the ClusterIP, the externalIP and
# the NodePort held across the restart; an IPv6 pod masqueraded to the
# externalIP and the NodePort, not to the ClusterIP; no stale chain; the
# next restart writes nothing.
IPT_FAM=6 exec bash "$(dirname "$0")/nftables-upgrade.sh"
