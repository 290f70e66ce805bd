#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# iptables-basic.sh in IPv6 (issue 17): an IPv6-only NodePort Service with
# an IPv6 externalIP over 3 IPv6 endpoints: uniform split, a client outside
# the cluster CIDR (fd00:244::/32) masqueraded, a pod inside it masqueraded
# to the externalIP and the NodePort but not to the ClusterIP, hairpin, no
# NodePort on [::1]; the ip6tables tables read back by
# ip6tables-legacy-save and accepted by ip6tables-legacy-restore --test.
IPT_FAM=6 exec bash "$(dirname "$0")/iptables-basic.sh"
