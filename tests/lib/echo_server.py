#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Test endpoint: answers "<name> <peer-ip>\n" to each TCP connection or UDP
datagram, so a test sees which endpoint it reached and the source address
that endpoint saw.  --hold keeps TCP connections open and echoes lines back
(for connection-survival tests)."""
import argparse, socket, threading, sys

ap = argparse.ArgumentParser()
ap.add_argument("--proto", default="tcp", choices=["tcp", "udp", "sctp"])
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--name", required=True)
ap.add_argument("--bind", default="0.0.0.0")
ap.add_argument("--hold", action="store_true")
a = ap.parse_args()
FAM = socket.AF_INET6 if ":" in a.bind else socket.AF_INET  # --bind fd00::2 / :: for IPv6


def serve_conn(c, peer):
    try:
        c.sendall(f"{a.name} {peer[0]}\n".encode())
        if a.hold:
            while True:
                d = c.recv(4096)
                if not d:
                    break
                c.sendall(f"{a.name} ".encode() + d)
    except OSError:
        pass
    finally:
        c.close()


if a.proto == "udp":
    s = socket.socket(FAM, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a.bind, a.port))
    while True:
        d, peer = s.recvfrom(65535)
        s.sendto(f"{a.name} {peer[0]}\n".encode(), peer)
else:
    proto = socket.IPPROTO_SCTP if a.proto == "sctp" else 0
    s = socket.socket(FAM, socket.SOCK_STREAM, proto)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a.bind, a.port))
    s.listen(512)
    while True:
        c, peer = s.accept()
        threading.Thread(target=serve_conn, args=(c, peer), daemon=True).start()
