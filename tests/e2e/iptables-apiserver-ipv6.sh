#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# iptables-apiserver.sh in IPv6 (issue 17): the API server double on a
# dual-stack cluster; the real kubectl creates an IPv6-only Service (the
# double defaults its ipFamilies) and IPv6 EndpointSlices, replaces and
# deletes them; each step is real IPv6 traffic to the right endpoints (or
# rejected), the deleted Service's rules leave ip6tables; the API server
# gone, the IPv6 rules and traffic stay.
IPT_FAM=6 exec bash "$(dirname "$0")/iptables-apiserver.sh"
