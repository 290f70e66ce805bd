#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# podnet-apiserver-dualstack.sh over vxlan (issue 17): backend-v6-data and
# public-ipv6 published through the API, the peer's sy-vx6.1 entries from them.
PN_API_BACKEND=vxlan . "$(dirname "$0")/podnet-apiserver-dualstack.sh"
