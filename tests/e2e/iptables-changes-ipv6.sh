#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# iptables-changes.sh in IPv6 (issue 17): an IPv6-only Service's endpoints
# added and removed (REJECT), drift in the ip6tables tables (a flushed
# chain, a replaced rule, a deleted chain, our PREROUTING jump removed with
# ip6tables-legacy) repaired byte for byte as ip6tables-legacy-save prints
# them, the Service's rules gone with it; real IPv6 traffic throughout.
IPT_FAM=6 exec bash "$(dirname "$0")/iptables-changes.sh"
