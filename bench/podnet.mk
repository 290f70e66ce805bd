# SPDX-License-Identifier: Apache-2.0
# Pod network benchmarks (print numbers; see doc/pod-network.md):
#   bench/podnet-scale [vxlan|host-gw|directrouting] [PEERS] [CHANGES]
#   bench/podnet-iperf.sh   pod-to-pod vs node-to-node throughput per backend
#   bench/podnet-manifest.sh  1000 Nodes through the daemon and a manifest directory
#   bench/podnet-rss.sh     daemon RSS with the pod network at 10,000 Services
noinst_PROGRAMS += bench/podnet-scale
bench_podnet_scale_SOURCES = bench/podnet-scale.c
bench_podnet_scale_LDADD = libswitchyard.a $(SY_LIBS)
EXTRA_DIST += bench/podnet-iperf.sh bench/podnet-manifest.sh bench/podnet-rss.sh
