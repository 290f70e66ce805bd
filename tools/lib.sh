# SPDX-License-Identifier: Apache-2.0
# Shared by tools/demo and tools/check: package installation and the build.
SY_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Debian packages the build, the tests and the demo need.
SY_PACKAGES="build-essential autoconf automake libtool pkg-config
 libev-dev libcurl4-openssl-dev libjson-c-dev libyaml-dev
 libnl-3-dev libnl-genl-3-dev libnl-route-3-dev libipset-dev libiptc-dev
 libnetfilter-conntrack-dev libmnl-dev libnftnl-dev nftables libcmocka-dev clang libclang-rt-14-dev
 iptables ipset conntrack iproute2 ipvsadm kmod cpio xz-utils busybox-static
 qemu-system-x86 iperf3 wrk curl openssl python3 python3-yaml time
 python3-prometheus-client containernetworking-plugins valgrind iputils-ping
 mmdebstrap umoci skopeo podman runc containerd strace"

sy_say() { printf '==> %s\n' "$*"; }

# Install whatever is missing: one apt-get update, then apt-get install -y.
sy_install_deps() {
	local missing="" p
	for p in $SY_PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
			missing="$missing $p"
	done
	# kubectl: any kubectl on PATH will do (kubernetes-client otherwise)
	command -v kubectl >/dev/null 2>&1 || missing="$missing kubernetes-client"
	if [ -n "$missing" ]; then
		sy_say "installing:$missing"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -q >/dev/null || return 1
		# shellcheck disable=SC2086
		apt-get install -y -q $missing >/dev/null || return 1
	fi
}

# sy_build DIR [configure args...]: out-of-tree build in $SY_SRC/DIR
sy_build() {
	local dir=$1; shift
	(
		cd "$SY_SRC" || exit 1
		[ -x configure ] && [ configure -nt configure.ac ] || ./autogen.sh >/dev/null 2>&1 || exit 1
		mkdir -p "$dir" && cd "$dir" || exit 1
		[ -f Makefile ] || ../configure -q "$@" >/dev/null || exit 1
		make -s -j"$(nproc)" >/dev/null
	)
}
