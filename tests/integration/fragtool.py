#!/usr/bin/env python3
"""Fragment tests against minitcpd (10.0.0.2) from its namespace. Crafted fragments go
onto the TUN interface through a packet socket, byte for byte (as inject.py).
  fragtool.py udp N                 N-byte datagram to the UDP echo (9000), back whole
  fragtool.py tcp HOST PORT N       N bytes through a TCP echo, back byte-exact
  fragtool.py tcp-nodf HOST PORT N  the same, our segments sent without DF
  fragtool.py teardrop | tiny       a crafted attack, on tun0
  fragtool.py flood N SRCS          N first fragments (1 KiB each) that never complete,
                                    from SRCS spoofed sources 192.0.2.100...
  fragtool.py timeout SECS          a lone first fragment; waits for the ICMP time
                                    exceeded (code 1) quoting it
Exit status 0 when the exchange went as described."""
import os
import socket
import struct
import sys
import threading
import time

ETH_P_IP = 0x0800
US, PEER = "10.0.0.1", "10.0.0.2"


def csum(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def udp(payload: bytes, sport=40000, dport=9000, src=US) -> bytes:
    h = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)
    ph = socket.inet_aton(src) + socket.inet_aton(PEER) + struct.pack("!BBH", 0, 17, 8 + len(payload))
    c = csum(ph + h + payload) or 0xFFFF
    return h[:6] + struct.pack("!H", c) + payload


def frag(data: bytes, ident: int, off: int, mf: bool, proto=17, src=US) -> bytes:
    field = (0x2000 if mf else 0) | (off // 8)
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(data), ident, field, 64, proto, 0,
                    socket.inet_aton(src), socket.inet_aton(PEER))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + data


def tun():
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
    s.bind(("tun0", ETH_P_IP))
    return s


def pattern(n: int) -> bytes:
    return bytes((i * 7 + i // 251) & 0xFF for i in range(n))


def do_udp(n: int) -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    data = pattern(n)
    s.sendto(data, (PEER, 9000))
    got, addr = s.recvfrom(65536)
    print(f"sent {n} bytes, got {len(got)} back from {addr[0]}:{addr[1]}")
    return 0 if got == data else 1


def do_tcp(host: str, port: int, n: int, df: bool) -> int:
    data = os.urandom(n)
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(20)
    if not df and ":" not in host:
        # IP_MTU_DISCOVER = IP_PMTUDISC_DONT: our segments are fragmented on the way
        s.setsockopt(socket.IPPROTO_IP, 10, 0)
    s.connect((host, port))
    t = threading.Thread(target=s.sendall, args=(data,))
    t.start()
    got = bytearray()
    while len(got) < n:
        b = s.recv(65536)
        if not b:
            break
        got += b
    t.join()
    s.close()
    print(f"sent {n} bytes, got {len(got)} back, {'equal' if bytes(got) == data else 'DIFFERENT'}")
    return 0 if bytes(got) == data else 1


def do_teardrop() -> int:
    # RFC 5722 / the teardrop attack: the second fragment lies inside the first
    d = udp(pattern(40))  # 48 bytes
    s = tun()
    s.send(frag(d[:48], 0x7001, 0, True))
    s.send(frag(d[24:32], 0x7001, 24, False))
    print("sent 2 overlapping fragments, id 0x7001")
    return 0


def do_tiny() -> int:
    # RFC 1858: a first TCP fragment of 8 bytes (ports and sequence number only), the
    # flags in the second one
    tcp = struct.pack("!HHIIBBHHH", 40000, 80, 1, 0, 0x50, 0x02, 65535, 0, 0)
    s = tun()
    s.send(frag(tcp[:8], 0x7002, 0, True, proto=6))
    s.send(frag(tcp[8:], 0x7002, 8, False, proto=6))
    print("sent a tiny first TCP fragment, id 0x7002")
    return 0


def do_flood(n: int, srcs: int) -> int:
    s = tun()
    body = udp(pattern(1016))[:1024]
    for i in range(n):
        src = "192.0.2.%d" % (100 + i % srcs)
        s.send(frag(body, 0x8000 + i // srcs, 0, True, src=src))
    print(f"sent {n} first fragments from {srcs} sources")
    return 0


def do_timeout(secs: float) -> int:
    r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    r.settimeout(0.5)
    s = tun()
    d = udp(pattern(1000))
    t0 = time.monotonic()
    s.send(frag(d[:512], 0x7003, 0, True))
    while time.monotonic() - t0 < secs:
        try:
            pkt = r.recv(2048)
        except socket.timeout:
            continue
        ihl = (pkt[0] & 15) * 4
        typ, code = pkt[ihl], pkt[ihl + 1]
        q = pkt[ihl + 8:]
        if typ == 11 and len(q) >= 28 and struct.unpack("!H", q[4:6])[0] == 0x7003:
            print(f"ICMP time exceeded code {code} after {time.monotonic() - t0:.1f} s, "
                  f"quoting {len(q)} bytes, from {socket.inet_ntoa(pkt[12:16])}")
            return 0 if code == 1 and q[20:28] == d[:8] else 1
    print("no ICMP time exceeded")
    return 1


def main() -> int:
    m = sys.argv[1]
    if m == "udp":
        return do_udp(int(sys.argv[2]))
    if m in ("tcp", "tcp-nodf"):
        return do_tcp(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), m == "tcp")
    if m == "teardrop":
        return do_teardrop()
    if m == "tiny":
        return do_tiny()
    if m == "flood":
        return do_flood(int(sys.argv[2]), int(sys.argv[3]))
    if m == "timeout":
        return do_timeout(float(sys.argv[2]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
