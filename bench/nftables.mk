# SPDX-License-Identifier: Apache-2.0
# nftables mode benchmark: kube-proxy's nftables ruleset through nft -f
# (bench/nft-gen.py) against switchyard --proxy-mode=nftables; prints tables.
EXTRA_DIST += bench/nftables-bench.sh bench/nft-gen.py
