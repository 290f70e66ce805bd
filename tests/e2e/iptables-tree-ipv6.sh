#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# iptables-tree.sh in IPv6 (issue 17): 300 IPv6-only ClusterIP Services
# spread over fd00:96::/64 make the ip6tables address tree, 60 TCP + 20 UDP
# IPv6 NodePorts the port tree; sampled ClusterIPs and NodePorts (on the
# node's IPv6 address) answer over IPv6; an address in the tree's prefixes
# that is no Service is not captured.
IPT_FAM=6 exec bash "$(dirname "$0")/iptables-tree.sh"
