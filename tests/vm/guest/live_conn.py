#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""One long-lived TCP connection to an echo_server --hold: prints the first
answer ("pN <peer>"), then pings once per --interval until the file --stop
exists, then closes and prints "alive <pings>" (every ping echoed) or
"dead <error>" at the first failure."""
import argparse, os, socket, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--host", required=True)
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--stop", required=True)
ap.add_argument("--interval", type=float, default=0.5)
ap.add_argument("--rst", action="store_true", help="close with RST (SO_LINGER 0)")
a = ap.parse_args()
s = socket.create_connection((a.host, a.port), timeout=5)
f = s.makefile("rb")
print("first", f.readline().decode().strip(), flush=True)
n = 0
try:
    while not os.path.exists(a.stop):
        s.sendall(b"ping\n")
        line = f.readline().decode().strip()
        if not line.endswith("ping"):
            raise OSError("bad echo %r" % line)
        n += 1
        time.sleep(a.interval)
except OSError as e:
    print("dead", e, flush=True)
    sys.exit(1)
if a.rst:
    import struct
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
print("alive", n, flush=True)
