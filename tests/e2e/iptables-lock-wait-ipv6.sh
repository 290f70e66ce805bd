#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# iptables-lock-wait.sh in IPv6 (issue 17): a busy xtables lock while an
# IPv6-only Service changes.  The loop never blocks (/healthz answers
# within 0.5 s), nothing reaches ip6tables while the lock is held, the
# IPv6 rules land within 1 s of the first gap, no failed sync, no backoff;
# /healthz 503 only once the IPv6 change has been pending 2 x sync period.
IPT_FAM=6 exec bash "$(dirname "$0")/iptables-lock-wait.sh"
