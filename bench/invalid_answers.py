#!/usr/bin/env python3
"""How many answers do invalid segments get? A crafted peer (10.9.0.77, on a TUN device this
script opens: the kernel forwards between it and minitcpd's tun0) opens one connection to a
target and sends: 5,000 out-of-window ACKs back to back; 5,000 more, one per millisecond;
5,000 out-of-window FINs back to back; 1,000 in-window RSTs that are not exact. It counts the
segments that come back on that connection. Targets: minitcpd (10.0.0.2, echo port 7) and
the Linux kernel itself (10.9.0.1, a listener this script opens).

Run inside a namespace with minitcpd on tun0 (bench/invalid_answers.sh does it all)."""
import fcntl, os, select, socket, struct, sys, threading, time

TUNSETIFF, IFF_TUN, IFF_NO_PI = 0x400454CA, 0x0001, 0x1000
ACK, RST, SYN, FIN = 0x10, 0x04, 0x02, 0x01
ME = "10.9.0.77"


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def pkt(src, dst, sport, dport, seq, ack, flags, win=65535, opts=b""):
    s, d = socket.inet_aton(src), socket.inet_aton(dst)
    hl = 20 + len(opts)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                      (hl // 4) << 4, flags, win, 0, 0) + opts
    c = csum(s + d + struct.pack("!BBH", 0, 6, len(tcp)) + tcp)
    tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0, s, d)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return ip + tcp


class Tun:
    def __init__(self, name):
        self.fd = os.open("/dev/net/tun", os.O_RDWR)
        fcntl.ioctl(self.fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
        os.set_blocking(self.fd, False)

    def send(self, p):
        os.write(self.fd, p)

    def recv_all(self, secs, dport):
        """TCP segments to ME:dport arriving within secs: [(flags, seq, ack)]."""
        got, end = [], time.monotonic() + secs
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return got
            r, _, _ = select.select([self.fd], [], [], left)
            if not r:
                continue
            while True:
                try:
                    p = os.read(self.fd, 65536)
                except BlockingIOError:
                    break
                if len(p) < 40 or p[9] != 6:
                    continue
                ihl = (p[0] & 15) * 4
                sp, dp, seq, ack, _, fl = struct.unpack("!HHIIBB", p[ihl:ihl + 14])
                if dp == dport:
                    got.append((fl, seq, ack))


def run(tun, dst, dport, sport):
    isn = 1000000
    tun.recv_all(0.05, sport)
    tun.send(pkt(ME, dst, sport, dport, isn, 0, SYN, opts=b"\x02\x04\x05\xb4"))
    sa = [g for g in tun.recv_all(1.0, sport) if g[0] == SYN | ACK]
    if not sa:
        sys.exit("no SYN,ACK from %s:%d" % (dst, dport))
    snd, rcv = isn + 1, sa[0][1] + 1
    tun.send(pkt(ME, dst, sport, dport, snd, rcv, ACK))
    tun.recv_all(0.7, sport)  # anything the handshake causes; then a fresh 500 ms interval
    res = {}
    far = snd + (1 << 30)
    for _ in range(5000):
        tun.send(pkt(ME, dst, sport, dport, far, rcv, ACK))
    res["5000 out-of-window ACKs at once"] = len(tun.recv_all(1.0, sport))
    n, t0 = 0, time.monotonic()
    for i in range(5000):
        while time.monotonic() < t0 + i / 1000:
            pass
        tun.send(pkt(ME, dst, sport, dport, far, rcv, ACK))
    res["5000 out-of-window ACKs over 5 s"] = len(tun.recv_all(0.7, sport))
    for _ in range(5000):
        tun.send(pkt(ME, dst, sport, dport, far, rcv, ACK | FIN))
    res["5000 out-of-window FINs at once"] = len(tun.recv_all(1.0, sport))
    for i in range(1000):
        tun.send(pkt(ME, dst, sport, dport, snd + 1 + i, 0, RST))
    res["1000 in-window inexact RSTs at once"] = len(tun.recv_all(1.0, sport))
    return res


def main():
    tun = Tun("oow0")
    os.system("ip addr add 10.9.0.1/24 dev oow0 && ip link set oow0 up")
    os.system("sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 "
              "net.ipv4.conf.oow0.rp_filter=0 net.ipv4.conf.tun0.rp_filter=0")
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("10.9.0.1", 5007))
    ls.listen(8)
    held = []
    threading.Thread(target=lambda: held.append(ls.accept()), daemon=True).start()
    time.sleep(0.2)
    rows = [("minitcpd", run(tun, "10.0.0.2", 7, 40001)),
            ("Linux " + os.uname().release, run(tun, "10.9.0.1", 5007, 40002))]
    print("%-38s %12s %12s" % ("segments sent", rows[0][0], "Linux"))
    for k in rows[0][1]:
        print("%-38s %12d %12d" % (k, rows[0][1][k], rows[1][1][k]))


if __name__ == "__main__":
    main()
