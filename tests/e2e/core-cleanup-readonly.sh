#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `switchyard --cleanup` with the CNI directory and the subnet file on a
# read-only file system (a node whose /etc is read-only, or the IPVS test
# VM's 9p root): where none of our files exists there is nothing to
# remove and it exits 0 (unlink() answers EROFS there before it looks the
# name up); where our conflist exists and cannot be removed it fails, and
# says which file.
. "$(dirname "$0")/../lib/common.sh"

sy_mkns NODE node
RO=$SY_TMP/ro
mkdir -p "$RO/cni" "$RO/run"
# the host's xtables lock is shared with other jobs: a private one
export SY_XTABLES_LOCK=$SY_TMP/xtables.lock

# cleanup_ro: --cleanup with $RO mounted read-only in a private mount namespace
cleanup_ro() {
	unshare -m bash -c 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" &&
		touch "$1/probe" 2>/dev/null && { echo "$1 is still writable"; exit 99; }
		exec ip netns exec "$2" "$3" --cleanup -v 2 --cni-conf-dir "$1/cni" \
			--subnet-file "$1/run/subnet.env"' _ "$RO" "$NODE" "$SWITCHYARD"
}

# nothing of ours there: exit 0
cleanup_ro >"$SY_TMP/clean1.log" 2>&1; rc=$?
[ $rc = 99 ] && sy_skip "cannot make a read-only bind mount"
[ $rc = 0 ] || sy_fail "--cleanup with nothing to remove on a read-only fs: exit $rc: $(cat "$SY_TMP/clean1.log")"
grep -q "Cleanup complete" "$SY_TMP/clean1.log" || sy_fail "no 'Cleanup complete': $(cat "$SY_TMP/clean1.log")"

# our conflist there and not removable: a failure naming the file
echo '{}' >"$RO/cni/10-switchyard.conflist"
cleanup_ro >"$SY_TMP/clean2.log" 2>&1; rc=$?
[ $rc = 1 ] || sy_fail "--cleanup that cannot remove the conflist: exit $rc: $(cat "$SY_TMP/clean2.log")"
grep -q "removing $RO/cni/10-switchyard.conflist: Read-only file system" "$SY_TMP/clean2.log" ||
	sy_fail "no error naming the conflist: $(cat "$SY_TMP/clean2.log")"
[ -e "$RO/cni/10-switchyard.conflist" ] || sy_fail "the conflist went away on a read-only fs?"

# writable again: removed, exit 0
ip netns exec "$NODE" "$SWITCHYARD" --cleanup --cni-conf-dir "$RO/cni" \
	--subnet-file "$RO/run/subnet.env" >"$SY_TMP/clean3.log" 2>&1 ||
	sy_fail "--cleanup on a writable dir: $(cat "$SY_TMP/clean3.log")"
[ -e "$RO/cni/10-switchyard.conflist" ] && sy_fail "the conflist was not removed"
sy_pass
