#!/usr/bin/env python3
"""N concurrent clients, each sends SIZE bytes of its own pattern, half-closes and checks
that exactly those bytes come back: preload_clients.py HOST PORT N SIZE."""
import socket, sys, threading, os, hashlib
host, port, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
ok = [False]*n
def run(i):
    data = hashlib.sha256(str(i).encode()).digest() * (size // 32)
    s = socket.create_connection((host, port), timeout=30)
    def w():
        s.sendall(data); s.shutdown(socket.SHUT_WR)
    t = threading.Thread(target=w); t.start()
    got = bytearray()
    while True:
        d = s.recv(65536)
        if not d: break
        got += d
    t.join(); s.close()
    ok[i] = bytes(got) == data
ts = [threading.Thread(target=run, args=(i,)) for i in range(n)]
[t.start() for t in ts]; [t.join() for t in ts]
print(sum(ok), "of", n, "byte-exact")
sys.exit(0 if all(ok) else 1)
