#!/usr/bin/env python3
"""An orphan behind a window its peer keeps shut: how long until the stack gives up?

The crafted peer (as in invalid_answers.py) opens a connection with a zero window and makes
the other side close with data queued: minitcpd's echo service (we send data and a FIN; it
echoes and closes) and a Linux listener opened here (it sends 64 KiB and closes). The peer
answers every window probe with an ACK that keeps the window shut, and reports the time
from the close to the RST (or to the last probe, when the stack goes quiet).
Run inside a namespace with minitcpd on tun0 (bench/orphan_zero_window.sh)."""
import os, socket, struct, threading, time

import invalid_answers as ia

LIMIT = 900  # seconds: a stack still probing then is reported as such


def watch(tun, dst, dport, sport, start, snd, rcv):
    """Answers probes with a shut window until an RST or LIMIT; returns (secs, probes, how)."""
    probes, last = 0, start
    while time.monotonic() - start < LIMIT:
        for fl, seq, ack in tun.recv_all(1.0, sport):
            if fl & ia.RST:
                return time.monotonic() - start, probes, "RST"
            probes += 1
            last = time.monotonic()
            tun.send(ia.pkt(ia.ME, dst, sport, dport, snd, rcv, ia.ACK, win=0))
        if probes and time.monotonic() - last > 200:
            return last - start, probes, "silent"
    return LIMIT, probes, "still probing"


def run(tun, dst, dport, sport, payload_first):
    isn = 2000000
    tun.send(ia.pkt(ia.ME, dst, sport, dport, isn, 0, ia.SYN, opts=b"\x02\x04\x05\xb4"))
    sa = [g for g in tun.recv_all(1.0, sport) if g[0] == ia.SYN | ia.ACK]
    rcv = sa[0][1] + 1
    snd = isn + 1
    tun.send(ia.pkt(ia.ME, dst, sport, dport, snd, rcv, ia.ACK, win=0))
    if payload_first:  # the echo service: data and a FIN, so that it closes after echoing
        tun.send(build_data(dst, dport, sport, snd, rcv))
        snd += 6
    start = time.monotonic()
    return watch(tun, dst, dport, sport, start, snd, rcv)


def build_data(dst, dport, sport, snd, rcv):
    """ACK,PSH,FIN with 5 bytes of data (pkt() has no data argument: spliced in)."""
    p = ia.pkt(ia.ME, dst, sport, dport, snd, rcv, ia.ACK | ia.FIN | 0x08, win=0)
    data = b"hello"
    s, d = socket.inet_aton(ia.ME), socket.inet_aton(dst)
    tcp = bytearray(p[20:40]) + data
    tcp[16:18] = b"\0\0"
    c = ia.csum(s + d + struct.pack("!BBH", 0, 6, len(tcp)) + bytes(tcp))
    tcp[16:18] = struct.pack("!H", c)
    ip = bytearray(p[:20])
    ip[2:4] = struct.pack("!H", 20 + len(tcp))
    ip[10:12] = b"\0\0"
    ip[10:12] = struct.pack("!H", ia.csum(bytes(ip)))
    return bytes(ip) + bytes(tcp)


def main():
    tun = ia.Tun("oow0")
    os.system("ip addr add 10.9.0.1/24 dev oow0 && ip link set oow0 up")
    os.system("sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 "
              "net.ipv4.conf.oow0.rp_filter=0 net.ipv4.conf.tun0.rp_filter=0")
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("10.9.0.1", 5007))
    ls.listen(8)

    def serve():
        c, _ = ls.accept()
        c.setblocking(False)
        try:
            c.send(b"x" * 65536)
        except BlockingIOError:
            pass
        c.close()  # an orphan with data queued behind a shut window

    threading.Thread(target=serve, daemon=True).start()
    time.sleep(0.2)
    res = {}
    res["minitcpd"] = run(tun, "10.0.0.2", 7, 41001, True)
    res["Linux " + os.uname().release] = run(tun, "10.9.0.1", 5007, 41002, False)
    for k, (secs, probes, how) in res.items():
        print("%-24s %7.1f s  %3d probes answered  ended by: %s" % (k, secs, probes, how))


main()
