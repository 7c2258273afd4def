#!/usr/bin/env python3
"""A UDP echo server (recvfrom/sendto): preload_udp_echo.py ADDR PORT. Prints "listening"."""
import socket
import sys

u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind((sys.argv[1], int(sys.argv[2])))
print("listening", flush=True)
while True:
    d, a = u.recvfrom(65536)
    u.sendto(d, a)
