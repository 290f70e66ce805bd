#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""One TCP connection to an echo_server, held open across what a test does
(a daemon restart, a rule change): prints "greeting <endpoint>", then for
every line read from FIFO sends it and prints "reply <answer>".  The test
writes the lines (exec 7>FIFO; echo one >&7) and reads the output file.
  held_client.py HOST PORT FIFO [TIMEOUT]"""
import socket, sys

host, port, fifo = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.create_connection((host, port), timeout=float(sys.argv[4]) if len(sys.argv) > 4 else 30)
f = s.makefile("rw")
print("greeting", f.readline().strip(), flush=True)
for line in open(fifo):
    f.write(line)
    f.flush()
    print("reply", f.readline().strip(), flush=True)
