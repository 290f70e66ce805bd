#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# conntrack-udp-failover.sh in IPv6 (issue 17), iptables mode: IPv6 UDP
# flows to a ClusterIP and a NodePort on the node's IPv6 address follow a
# replaced endpoint at the next datagram after one sync, a streaming client
# switches without losing a datagram, an IPv6 Service without endpoints
# that gets one is reached at once (its cached entry deleted); read back
# with `conntrack -L -f ipv6`: the stale entries gone, a TCP entry,
# another Service's flow and a hand-made ip6tables DNAT's flow untouched.
command -v ip6tables-legacy >/dev/null || { echo "ip6tables-legacy missing" >&2; exit 77; }
CT_FAM=6 SY_CT_MODE=${SY_CT_MODE:-iptables} exec bash "$(dirname "$0")/conntrack-udp-failover.sh"
