#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# iptables-partial-read.sh in IPv6 (issue 17), the IPv6 instance under
# strace: an IPv6 EndpointSlice change is a partial sync with
# IP6T_SO_GET_INFO but no IP6T_SO_GET_ENTRIES, an endpoint replaced is
# patched in place and traffic flows over IPv6; a foreign ip6tables append
# or same-size edit makes the next partial sync read the table and keep it;
# the full sync repairs a flushed chain of ours.
IPT_FAM=6 exec bash "$(dirname "$0")/iptables-partial-read.sh"
