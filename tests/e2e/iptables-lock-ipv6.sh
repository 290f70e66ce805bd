#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# iptables-lock.sh in IPv6 (issue 17): the ip6tables tables under
# /run/xtables.lock.  120 foreign appends with ip6tables-legacy -w (a chain
# of their own and nat PREROUTING) while the IPv6 instance syncs over and
# over: none lost, in order, our jump intact; while another program holds
# the lock nothing is written to ip6tables, the pending IPv6 endpoint lands
# after it lets go.
# (60 appends per chain, not 150: ip6tables-legacy is slower under the lock)
IPT_FAM=6 IPT_LOCK_APPENDS=60 exec bash "$(dirname "$0")/iptables-lock.sh"
