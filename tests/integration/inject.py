#!/usr/bin/env python3
"""Writes crafted IPv4 packets straight onto a TUN interface through a packet socket, so
they reach minitcpd byte for byte (a raw IP socket would let the kernel fix lengths and
checksums). Usage: inject.py IFACE garbage [COUNT] | inject.py IFACE hex HEX..."""
import random
import socket
import struct
import sys

ETH_P_IP = 0x0800


def csum(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ip(payload: bytes, proto=17, src="10.0.0.1", dst="10.0.0.2", ihl=5, ver=4,
       total=None, frag=0x4000, good_csum=True) -> bytes:
    total = 20 + len(payload) if total is None else total
    h = struct.pack("!BBHHHBBH4s4s", (ver << 4) | ihl, 0, total, 1, frag, 64, proto, 0,
                    socket.inet_aton(src), socket.inet_aton(dst))
    c = csum(h) if good_csum else (csum(h) ^ 0x5A5A)
    return h[:10] + struct.pack("!H", c) + h[12:] + payload


def garbage(rng: random.Random):
    udp_ok = struct.pack("!HHHH", 40000, 9000, 14, 0) + b"hello\n"
    yield b""[:0] + b"\x45"                                  # 1 byte
    yield b"\x45" * 19                                       # shorter than a header
    yield ip(udp_ok, ver=6)                                  # wrong version
    yield ip(udp_ok, ihl=3)                                  # IHL < 5
    yield ip(udp_ok, ihl=15)                                 # IHL past the packet
    yield ip(udp_ok, total=1400)                             # total length > bytes
    yield ip(udp_ok, total=10)                               # total length < IHL
    yield ip(udp_ok, good_csum=False)                        # bad header checksum
    yield ip(udp_ok, frag=0x2000)                            # first fragment
    yield ip(udp_ok, frag=0x0010)                            # later fragment
    yield ip(struct.pack("!HHHH", 40000, 9000, 200, 0) + b"x")  # UDP length too big
    yield ip(struct.pack("!HHHH", 40000, 9000, 4, 0))           # UDP length < 8
    yield ip(struct.pack("!HHHH", 40000, 9000, 14, 0x1234) + b"hello\n")  # bad UDP csum
    yield ip(b"\x08\x00\x00\x00", proto=1)                   # ICMP too short
    yield ip(b"\x08\x00\x12\x34\x00\x01\x00\x01abcd", proto=1)  # bad ICMP csum
    yield ip(b"\x00" * 10, proto=6)                          # TCP too short
    yield ip(b"\x00" * 20, proto=6)                          # TCP, data offset 0
    yield ip(b"junk", proto=99)                              # unknown protocol
    for _ in range(200):                                     # random bytes
        yield bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 120)))
    for _ in range(200):                                     # valid header, random body
        yield ip(bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 80))),
                 proto=rng.choice([1, 6, 17]))


def main():
    iface, mode = sys.argv[1], sys.argv[2]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
    s.bind((iface, ETH_P_IP))
    n = 0
    if mode == "garbage":
        count = int(sys.argv[3]) if len(sys.argv) > 3 else 1
        rng = random.Random(1234)
        for _ in range(count):
            for pkt in garbage(rng):
                s.send(pkt)
                n += 1
    elif mode == "hex":
        for h in sys.argv[3:]:
            s.send(bytes.fromhex(h))
            n += 1
    print(f"injected {n} packets")


if __name__ == "__main__":
    main()
