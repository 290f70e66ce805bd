# SPDX-License-Identifier: Apache-2.0
# Inside the VM: run several guest scripts in one boot (a boot costs tens of
# seconds under emulation), each in its own process with its own
# namespaces; exit 1 when any of them failed.
#   several.sh SCRIPT...   (names relative to tests/vm/guest/)
rc=0
for s in "$@"; do
	echo "# === $s"
	start=$SECONDS
	bash "$SY_SRC/tests/vm/guest/$s"
	r=$?
	echo "# === $s: exit $r after $((SECONDS - start))s"
	[ $r = 0 ] || rc=1
done
exit $rc
