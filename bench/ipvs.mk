# SPDX-License-Identifier: Apache-2.0
# IPVS mode benchmarks: scripts that boot the test VM (tests/vm/lib.sh) and
# print a table (bench/ipvs-bench.sh [--quick | --dualstack]).
EXTRA_DIST += bench/ipvs-bench.sh bench/ipvs-guest.sh bench/ipvs-gen.py \
	bench/ipvs-dualstack-guest.sh
