#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Ask an echo_server once; print its answer line.  Exit 1 on no answer,
2 on connection refused / ICMP unreachable (a REJECT), 3 on timeout.
--count N asks N times (new connection / datagram each) and prints one
answer per line."""
import argparse, socket, sys

ap = argparse.ArgumentParser()
ap.add_argument("--proto", default="tcp", choices=["tcp", "udp", "sctp"])
ap.add_argument("--host", required=True)
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--sport", type=int, default=0)
ap.add_argument("--timeout", type=float, default=2.0)
ap.add_argument("--count", type=int, default=1)
ap.add_argument("--src", default="")
a = ap.parse_args()
FAM = socket.AF_INET6 if ":" in a.host else socket.AF_INET  # an IPv6 --host: IPv6 socket

rc = 0
for _ in range(a.count):
    try:
        if a.proto == "udp":
            s = socket.socket(FAM, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if a.sport or a.src:
                s.bind((a.src, a.sport))
            s.settimeout(a.timeout)
            s.connect((a.host, a.port))
            s.send(b"hi\n")
            d = s.recv(4096)
        else:
            proto = socket.IPPROTO_SCTP if a.proto == "sctp" else 0
            s = socket.socket(FAM, socket.SOCK_STREAM, proto)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if a.sport or a.src:
                s.bind((a.src, a.sport))
            s.settimeout(a.timeout)
            s.connect((a.host, a.port))
            d = s.recv(4096)
        s.close()
        sys.stdout.write(d.decode(errors="replace"))
        if not d.endswith(b"\n"):
            sys.stdout.write("\n")
    except ConnectionRefusedError:
        print("REFUSED")
        rc = 2
    except socket.timeout:
        print("TIMEOUT")
        rc = 3
    except OSError as e:
        print("ERROR", e.errno)
        rc = 1
    sys.stdout.flush()
sys.exit(rc if a.count == 1 else 0)
