#!/bin/busybox sh
# SPDX-License-Identifier: Apache-2.0
# /init of the IPVS test VM (see tests/vm/lib.sh): load modules, mount the
# host's / (read-only, 9p) and the work share, chroot, run /run/sy-vm/run.sh,
# write its exit code to the share, power off.
/bin/busybox mkdir -p /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo /sbin/modprobe >/proc/sys/kernel/modprobe
for m in $(cat /modules.list); do
	modprobe "$m" 2>/dev/null || echo "[vm] modprobe $m failed"
done
fail() { echo "[vm] $*"; poweroff -f; }
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=524288 hostroot /host ||
	fail "mount hostroot failed"
mount -t proc proc /host/proc
mount -t sysfs sysfs /host/sys
mount -t devtmpfs devtmpfs /host/dev
# The source tree may live below a directory the guest masks with a tmpfs
# (a CI clone in /tmp, say): keep a handle on it, bind it back afterwards.
src=$(sed -n 's/.*sy_src=\([^ ]*\).*/\1/p' /proc/cmdline)
case $src in
/tmp/*|/run/*|/var/tmp/*|/root/*) mkdir -p /srckeep && mount -o bind "/host$src" /srckeep ;;
*) src= ;;
esac
mkdir -p /host/dev/pts /host/dev/shm
mount -t devpts devpts /host/dev/pts
mount -t tmpfs tmpfs /host/dev/shm
mount -t tmpfs -o mode=1777 tmpfs /host/tmp
mount -t tmpfs -o mode=755 tmpfs /host/run
mkdir -p /host/run/sy-vm /host/run/netns /host/run/lock
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288 sywork /host/run/sy-vm ||
	fail "mount sywork failed"
# /var/tmp, /root may be needed writable by tools
mount -t tmpfs tmpfs /host/var/tmp 2>/dev/null
mount -t tmpfs tmpfs /host/root 2>/dev/null
mount -t tmpfs tmpfs /host/var/lib/iperf3 2>/dev/null
if [ -n "$src" ]; then
	mkdir -p "/host$src" && mount -o bind /srckeep "/host$src" || fail "cannot keep $src"
fi
ip link set lo up 2>/dev/null
hostname syvm
echo "[vm] userspace up after $(cut -d' ' -f1 /proc/uptime)s"
chroot /host /bin/bash /run/sy-vm/run.sh
rc=$?
echo "$rc" >/host/run/sy-vm/rc
sync
echo "[vm] exit $rc after $(cut -d' ' -f1 /proc/uptime)s"
poweroff -f
