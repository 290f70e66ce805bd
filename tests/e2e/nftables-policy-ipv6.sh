#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# nftables-policy.sh in IPv6 (issue 17): the traffic-policy scenarios of
# policy-lib.sh with IPv6-only Services and real IPv6 traffic:
# externalTrafficPolicy Local (the client's IPv6 address kept; a drop
# without a local endpoint; healthCheckNodePort 200/503), REJECT without
# endpoints, ClientIP affinity, loadBalancerSourceRanges (trimmed, an
# invalid entry skipped, none valid: the LB IP closed), terminating
# endpoints, internalTrafficPolicy Local; the kernel's state read back.
IPT_FAM=6 exec bash "$(dirname "$0")/nftables-policy.sh"
