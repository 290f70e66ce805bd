# SPDX-License-Identifier: Apache-2.0
# VM harness for the IPVS tests (this host's kernel has no IPVS and no dummy
# driver).  Boots Debian's stock kernel under qemu with an initramfs built
# here from busybox-static and the kernel's modules; the guest mounts the
# host's / read-only over 9p and chroots into it, so the host-built
# switchyard and the real ipvsadm/ipset/iptables/conntrack tools run inside
# against exactly the libraries they were linked with.  A second, writable
# 9p share carries the run script and the results back.  -nic none: every
# packet stays inside the VM.
#
#   . tests/vm/lib.sh
#   vm_prepare || exit 77          # kernel + initramfs (cached)
#   vm_run GUEST_SCRIPT [ARGS...]  # boots, runs bash GUEST_SCRIPT in the chroot;
#                                  # returns the script's exit code
# Environment:
#   SY_VM_CACHE   cache folder (default /var/cache/switchyard-vm)
#   SY_VM_ACCEL   tcg | kvm (default: kvm only when /dev/kvm is real KVM)
#   SY_VM_MEM     guest memory in MB (default 1024)
#   SY_VM_TIMEOUT seconds before the VM is killed (default 600)
SY_VM_CACHE=${SY_VM_CACHE:-/var/cache/switchyard-vm}
SY_VM_MEM=${SY_VM_MEM:-1024}
SY_VM_TIMEOUT=${SY_VM_TIMEOUT:-600}
SY_VM_LIBDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Modules the guest loads before the tests (their closure is packed).
SY_VM_MODULES="virtio_pci 9pnet_virtio 9p ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_sh
 ip_vs_dh ip_vs_sed ip_vs_nq ip_vs_mh nf_conntrack nf_nat nf_conntrack_netlink dummy veth
 bridge ip_set ip_set_hash_ip ip_set_hash_ipport ip_set_hash_ipportip ip_set_hash_ipportnet
 ip_set_hash_net ip_set_bitmap_port xt_set ip_tables iptable_nat iptable_filter
 iptable_mangle iptable_raw xt_MASQUERADE xt_mark xt_comment xt_addrtype xt_conntrack
 xt_multiport xt_ipvs xt_nat xt_tcpudp xt_statistic xt_recent ipt_REJECT nf_reject_ipv4
 xt_physdev sctp xt_sctp vxlan nf_tables nft_ct nft_fib_inet nft_reject_inet
 ip6_tables ip6table_nat ip6table_filter ip6t_REJECT nf_reject_ipv6"

vm_log() { printf '[vm] %s\n' "$*" >&2; }

# The kernel ABI behind linux-image-amd64, e.g. 6.1.0-56-amd64.
vm_kernel_pkg() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n1
}

# Sets VM_KV, VM_KTREE, VM_VMLINUX.  Downloads the kernel .deb once.
vm_kernel() {
	local pkg deb off
	mkdir -p "$SY_VM_CACHE" || return 1
	# Use any already extracted kernel first (works offline).
	pkg=$(vm_kernel_pkg)
	if [ -z "$pkg" ]; then
		pkg=$(cd "$SY_VM_CACHE" && ls -d tree-linux-image-* 2>/dev/null | sed 's/^tree-//' | tail -n1)
		if [ -z "$pkg" ]; then
			apt-get update -q >/dev/null 2>&1
			pkg=$(vm_kernel_pkg)
		fi
	fi
	[ -n "$pkg" ] || { vm_log "cannot resolve linux-image-amd64"; return 1; }
	VM_KV=${pkg#linux-image-}
	VM_KTREE=$SY_VM_CACHE/tree-$pkg
	VM_VMLINUX=$SY_VM_CACHE/vmlinux-$VM_KV
	if [ ! -f "$VM_KTREE/.done" ]; then
		deb=$(ls "$SY_VM_CACHE"/"$pkg"_*.deb 2>/dev/null | tail -n1)
		if [ -z "$deb" ]; then
			vm_log "downloading $pkg"
			(cd "$SY_VM_CACHE" && apt-get -q -o APT::Sandbox::User=root download "$pkg" >/dev/null) ||
				{ apt-get update -q >/dev/null 2>&1;
				  (cd "$SY_VM_CACHE" && apt-get -q -o APT::Sandbox::User=root download "$pkg" >/dev/null); } ||
				{ vm_log "apt-get download $pkg failed"; return 1; }
			deb=$(ls "$SY_VM_CACHE"/"$pkg"_*.deb | tail -n1)
		fi
		rm -rf "$VM_KTREE"
		dpkg-deb -x "$deb" "$VM_KTREE" || return 1
		depmod -b "$VM_KTREE" "$VM_KV" || return 1
		touch "$VM_KTREE/.done"
	fi
	if [ ! -s "$VM_VMLINUX" ]; then
		# The uncompressed ELF boots through qemu's PVH entry, faster than
		# the bzImage: find the xz stream inside it and unpack.
		off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$VM_KTREE/boot/vmlinuz-$VM_KV" | head -n1 | cut -d: -f1)
		[ -n "$off" ] || { vm_log "no xz payload in vmlinuz"; return 1; }
		tail -c +$((off + 1)) "$VM_KTREE/boot/vmlinuz-$VM_KV" | xz -dc >"$VM_VMLINUX.tmp" 2>/dev/null
		[ "$(head -c 4 "$VM_VMLINUX.tmp" | od -An -c | tr -d ' ')" = 177ELF ] ||
			{ vm_log "vmlinux extraction failed"; rm -f "$VM_VMLINUX.tmp"; return 1; }
		mv "$VM_VMLINUX.tmp" "$VM_VMLINUX"
	fi
}

# Sets VM_INITRD: busybox + /init + module closure, raw newc cpio (cached by content).
vm_initramfs() {
	local sum root m f
	sum=$( { echo "$VM_KV $SY_VM_MODULES"; cat "$SY_VM_LIBDIR/init.sh"; sha1sum /bin/busybox; } |
		sha1sum | cut -c1-12)
	VM_INITRD=$SY_VM_CACHE/initramfs-$VM_KV-$sum.cpio
	[ -s "$VM_INITRD" ] && return 0
	root=$(mktemp -d "$SY_VM_CACHE/initramfs.XXXXXX") || return 1
	mkdir -p "$root"/{bin,sbin,proc,sys,dev,host,tmp,lib/modules/"$VM_KV"}
	cp /bin/busybox "$root/bin/busybox" || return 1
	cp "$SY_VM_LIBDIR/init.sh" "$root/init" && chmod 755 "$root/init"
	for m in $SY_VM_MODULES; do
		modprobe -d "$VM_KTREE" -S "$VM_KV" --show-depends "$m" 2>/dev/null |
			awk '$1 == "insmod" { print $2 }'
	done | sort -u | while read -r f; do
		mkdir -p "$root$(dirname "${f#"$VM_KTREE"}")"
		cp "$f" "$root${f#"$VM_KTREE"}"
	done
	# scheduler and helper modules the kernel may autoload later
	for f in "$VM_KTREE"/lib/modules/"$VM_KV"/kernel/net/netfilter/ipvs/*.ko \
		 "$VM_KTREE"/lib/modules/"$VM_KV"/kernel/net/netfilter/ipset/*.ko; do
		mkdir -p "$root$(dirname "${f#"$VM_KTREE"}")"
		cp -n "$f" "$root${f#"$VM_KTREE"}"
	done
	cp "$VM_KTREE"/lib/modules/"$VM_KV"/modules.{order,builtin,builtin.modinfo} \
		"$root/lib/modules/$VM_KV/" 2>/dev/null
	depmod -b "$root" "$VM_KV" || { rm -rf "$root"; return 1; }
	echo "$SY_VM_MODULES" >"$root/modules.list"
	(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet >"$VM_INITRD.tmp") &&
		mv "$VM_INITRD.tmp" "$VM_INITRD"
	rm -rf "$root"
	[ -s "$VM_INITRD" ]
}

vm_accel() {
	if [ -n "${SY_VM_ACCEL:-}" ]; then echo "$SY_VM_ACCEL"; return; fi
	# kvm_pvm (paravirtual nested KVM) cannot run a stock kernel: TCG there.
	if [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ] &&
		{ [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; }; then
		echo kvm
	else
		echo tcg
	fi
}

# Returns 0 when the VM can be used; the reason on stderr otherwise.
vm_prepare() {
	command -v qemu-system-x86_64 >/dev/null || { vm_log "qemu-system-x86_64 missing"; return 1; }
	[ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx modprobe ||
		{ vm_log "busybox-static missing"; return 1; }
	command -v depmod >/dev/null || { vm_log "kmod missing"; return 1; }
	command -v cpio >/dev/null || { vm_log "cpio missing"; return 1; }
	mkdir -p "$SY_VM_CACHE" || return 1
	# one preparer at a time (tests may run concurrently on first use)
	local lock rc=0
	exec {lock}>"$SY_VM_CACHE/.lock"
	flock "$lock"
	vm_kernel || rc=1
	[ $rc = 0 ] && { vm_initramfs || { vm_log "initramfs build failed"; rc=1; }; }
	exec {lock}>&-
	return $rc
}

# vm_run GUEST_SCRIPT [ARGS...]: boot, run "bash GUEST_SCRIPT ARGS" in the
# chrooted host root (cwd $SY_SRC), stream the console to stderr, and
# return the script's exit code (1 when the VM died without one).
# VM_OUT is the writable share (the guest sees it as $SY_VM_OUT).
vm_run() {
	local script=$1; shift
	local work accel cpu rc a
	work=$(mktemp -d /tmp/sy-vm.XXXXXX) || return 1
	VM_OUT=$work
	{
		echo "export SY_SRC=$(printf %q "$SY_SRC") SY_BUILD=$(printf %q "$SY_BUILD")"
		echo "export SWITCHYARD=$(printf %q "$SWITCHYARD") SY_VM_OUT=/run/sy-vm SY_IN_VM=1"
		echo "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
		echo "export HOME=/root LANG=C.UTF-8"
		[ -n "${SY_VM_ENV:-}" ] && echo "export $SY_VM_ENV"
		printf 'cd %q || exit 1\n' "$SY_SRC"
		printf 'bash %q' "$script"
		for a in "$@"; do printf ' %q' "$a"; done
		echo
	} >"$work/run.sh"
	accel=$(vm_accel)
	cpu=max; [ "$accel" = kvm ] && cpu=host
	vm_log "booting $VM_KV ($accel)"
	# no_timer_check: on a loaded host the emulated guest's early timer
	# check can miss ticks and panic ("IO-APIC + timer doesn't work!")
	timeout -k 5 "$SY_VM_TIMEOUT" qemu-system-x86_64 -M pc -accel "$accel" -cpu "$cpu" \
		-smp "${SY_VM_SMP:-1}" -m "$SY_VM_MEM" -nodefaults -display none -monitor none \
		-serial stdio -nic none -no-reboot \
		-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
		-virtfs local,path="$work",mount_tag=sywork,security_model=none,multidevs=remap \
		-kernel "$VM_VMLINUX" -initrd "$VM_INITRD" \
		-append "console=ttyS0 panic=-1 oops=panic quiet loglevel=3 mitigations=off no_timer_check sy_src=$SY_SRC" \
		</dev/null 2>&1 | sed -u 's/\r$//' | tee "$work/console.log" >&2
	if [ -f "$work/rc" ]; then
		rc=$(cat "$work/rc")
	else
		vm_log "no exit code from the guest (timeout or crash)"
		rc=1
	fi
	[ -n "${SY_VM_KEEP:-}" ] || { cp "$work/console.log" "${SY_VM_CONSOLE_COPY:-/dev/null}" 2>/dev/null; rm -rf "$work"; }
	return "$rc"
}
