#!/usr/bin/env python3
"""A threaded echo server on the kernel's TCP: preload_kernel_echo.py ADDR PORT."""
import socket, threading, sys
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((sys.argv[1], int(sys.argv[2]))); ls.listen(64); print("listening", flush=True)
def h(c):
    while True:
        d = c.recv(65536)
        if not d: break
        c.sendall(d)
    c.close()
def udp():  # and a UDP echo on the same port
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((sys.argv[1], int(sys.argv[2])))
    while True:
        d, a = u.recvfrom(65536)
        u.sendto(d, a)
threading.Thread(target=udp, daemon=True).start()
while True:
    c, _ = ls.accept(); threading.Thread(target=h, args=(c,), daemon=True).start()
