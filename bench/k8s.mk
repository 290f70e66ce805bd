# SPDX-License-Identifier: Apache-2.0
# The Kubernetes client benchmark: initial LIST of 10,000 Services +
# 10,000 EndpointSlices from the API double, then one change (prints numbers).
EXTRA_DIST += bench/k8s-list.sh bench/k8s-gen.py bench/k8s-soak.sh bench/manifest-change.sh
