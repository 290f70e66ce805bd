#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# iptables-cleanup.sh in IPv6 (issue 17): foreign ip6tables chains and
# rules (SY-OTHER, SY-PODNET-MASQ, a DNAT to an IPv6 endpoint, filter
# rules) around an IPv6 Service that answers; `switchyard --cleanup` leaves
# ip6tables-legacy-save exactly as before, the foreign rules' packet
# counters kept; a second cleanup changes nothing.
IPT_FAM=6 exec bash "$(dirname "$0")/iptables-cleanup.sh"
