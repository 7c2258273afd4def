#!/usr/bin/env python3
"""Sends COUNT datagrams of SIZE bytes (default: empty) to ADDR:PORT as fast as it can and
prints "flooded COUNT datagrams in T s". Usage: udpflood.py ADDR PORT COUNT [SIZE]"""
import socket, sys, time

addr, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
payload = b"x" * (int(sys.argv[4]) if len(sys.argv) > 4 else 0)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
dst = (addr, port)
t0 = time.monotonic()
sent = 0
while sent < count:
    try:
        s.sendto(payload, dst)
        sent += 1
    except (BlockingIOError, socket.error):
        # the TUN queue is full (ENOBUFS): the datagram is lost before the daemon sees it
        sent += 1
print("flooded %d datagrams in %.2f s" % (sent, time.monotonic() - t0), flush=True)
