#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Hold a lock file (flock) like a busy iptables writer: for --total
seconds, take it for --hold seconds, let go for --gap seconds, again.
Writes the wall-clock time the lock was first taken to MARK.held, the
time of the first release (the first gap) to MARK.gap, and the time of
every release, one a line, to MARK.gaps."""
import argparse
import fcntl
import os
import time

ap = argparse.ArgumentParser()
ap.add_argument("--path", required=True)
ap.add_argument("--total", type=float, default=8.0)
ap.add_argument("--hold", type=float, default=2.0)
ap.add_argument("--gap", type=float, default=0.05)
ap.add_argument("--mark", required=True)
a = ap.parse_args()


def note(suffix, t):
    with open(a.mark + suffix + ".tmp", "w") as f:
        f.write("%.6f\n" % t)
    os.rename(a.mark + suffix + ".tmp", a.mark + suffix)


fd = os.open(a.path, os.O_RDWR | os.O_CREAT, 0o600)
end = time.monotonic() + a.total
first = True
while time.monotonic() < end:
    fcntl.flock(fd, fcntl.LOCK_EX)
    if first:
        note(".held", time.time())
    time.sleep(max(0.0, min(a.hold, end - time.monotonic())))
    t = time.time()
    if first:
        # noted just before letting go: whatever is seen while it is absent
        # was written while the lock was held
        note(".gap", t)
        first = False
    with open(a.mark + ".gaps", "a") as f:
        f.write("%.6f\n" % t)
    fcntl.flock(fd, fcntl.LOCK_UN)
    time.sleep(a.gap)
