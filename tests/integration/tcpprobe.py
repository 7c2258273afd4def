#!/usr/bin/env python3
"""Crafted TCP segments against a running minitcpd, with exact RFC 9293 / RFC 5961 checks.

Runs inside the test's network namespace. Segments are written onto the TUN interface
through an AF_PACKET socket (as inject.py does), so they reach minitcpd byte for byte;
minitcpd's replies are read by sniffing the same interface with a second AF_PACKET
socket, with the virtio-net header (PACKET_VNET_HDR): with TUN offloads on, minitcpd hands
the kernel TSO super-packets and partial checksums, and the sniffer cuts and finishes them
as the kernel does before they reach any receiver (vnet_cut). The crafted peer uses its own address (10.0.x.77, not the kernel's 10.0.x.1), so
the kernel never answers minitcpd's replies itself: with forwarding off it drops them.

"Nothing is sent back" is checked without sleeping: after the segment under test, a
marker (a SYN to a closed port with a unique sequence number) is sent; minitcpd handles
packets in order, so the marker's RST is proof that the earlier segment was processed,
and whatever arrived before it is the earlier segment's whole answer.

Usage: tcpprobe.py [--iface tun0] [--dut 10.0.0.2] [--src 10.0.0.77] [--log TRACE] SCENARIO
Prints one "ok   - ..." / "FAIL - ..." line per assertion; exits 1 if any failed."""
import argparse
import os
import select
import socket
import struct
import sys
import time

ETH_P_IP = 0x0800
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SOL_PACKET, PACKET_VNET_HDR = 263, 15
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
MOD = 1 << 32
MARKER_PORT = 9  # nothing listens there


def flagstr(f):
    names = [(SYN, "SYN"), (RST, "RST"), (ACK, "ACK"), (PSH, "PSH"), (FIN, "FIN")]
    return ",".join(n for b, n in names if f & b) or "-"


def csum(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def vnet_cut(hdr: bytes, pkt: bytes):
    """The packets the kernel makes of pkt given its virtio-net header: a TCPv4 super-packet
    cut into segments of gso_size (headers copied, IP id + i, seq + offset, PSH/FIN only on
    the last, checksums computed), a partial checksum finished."""
    flags, gso_type, _, gso_size, cstart, coff = struct.unpack("<BBHHHH", hdr)
    if gso_type & 0x7F == 1 and gso_size and len(pkt) >= 40:
        ihl = (pkt[0] & 0x0F) * 4
        thl = (pkt[ihl + 12] >> 4) * 4
        tot = struct.unpack("!H", pkt[2:4])[0]
        hdrs, ipid = ihl + thl, struct.unpack("!H", pkt[4:6])[0]
        seq = struct.unpack("!I", pkt[ihl + 4:ihl + 8])[0]
        payload, out = pkt[hdrs:tot], []
        for i, off in enumerate(range(0, len(payload), gso_size)):
            chunk = payload[off:off + gso_size]
            ip = bytearray(pkt[:ihl])
            ip[2:4] = struct.pack("!H", hdrs + len(chunk))
            ip[4:6] = struct.pack("!H", (ipid + i) & 0xFFFF)
            ip[10:12] = b"\0\0"
            ip[10:12] = struct.pack("!H", csum(bytes(ip)))
            tcp = bytearray(pkt[ihl:hdrs])
            tcp[4:8] = struct.pack("!I", seq_add(seq, off))
            if off + gso_size < len(payload):
                tcp[13] &= ~(PSH | FIN) & 0xFF
            tcp[16:18] = b"\0\0"
            pseudo = bytes(ip[12:20]) + struct.pack("!BBH", 0, 6, thl + len(chunk))
            tcp[16:18] = struct.pack("!H", csum(pseudo + bytes(tcp) + chunk))
            out.append(bytes(ip) + bytes(tcp) + chunk)
        return out
    if flags & 1 and cstart + coff + 2 <= len(pkt):
        p = bytearray(pkt)
        end = struct.unpack("!H", pkt[2:4])[0] if pkt[0] >> 4 == 4 else len(pkt)
        p[cstart + coff:cstart + coff + 2] = struct.pack("!H", csum(bytes(p[cstart:end])))
        return [bytes(p)]
    return [pkt]


def seq_add(a, n):
    return (a + n) % MOD


def seq_gt(a, b):
    return 0 < ((a - b) % MOD) < (1 << 31)


class Seg:
    """A parsed segment from minitcpd."""

    def __init__(self, ip: bytes, t: float):
        ihl = (ip[0] & 0x0F) * 4
        tcp = ip[ihl:struct.unpack("!H", ip[2:4])[0]]
        self.t = t
        self.src = socket.inet_ntoa(ip[12:16])
        self.dst = socket.inet_ntoa(ip[16:20])
        self.sport, self.dport, self.seq, self.ack = struct.unpack("!HHII", tcp[:12])
        doff = (tcp[12] >> 4) * 4
        self.flags = tcp[13] & 0x3F
        self.win = struct.unpack("!H", tcp[14:16])[0]
        self.data = tcp[doff:]
        self.mss, self.ws, self.optbytes = None, None, tcp[20:doff]
        i = 20
        while i < doff:
            k = tcp[i]
            if k == 0:
                break
            if k == 1:
                i += 1
                continue
            ln = tcp[i + 1]
            if k == 2 and ln == 4:
                self.mss = struct.unpack("!H", tcp[i + 2:i + 4])[0]
            if k == 3 and ln == 3:
                self.ws = tcp[i + 2]
            i += max(ln, 2)
        pseudo = ip[12:20] + struct.pack("!BBH", 0, 6, len(tcp))
        self.csum_ok = csum(pseudo + tcp) == 0 and csum(ip[:ihl]) == 0

    def __repr__(self):
        return "%s seq=%u ack=%u win=%u len=%u" % (flagstr(self.flags), self.seq, self.ack,
                                                    self.win, len(self.data))


class Probe:
    def __init__(self, iface, dut, src, log):
        self.iface, self.dut, self.src, self.log = iface, dut, src, log
        self.tx = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
        self.tx.bind((iface, ETH_P_IP))
        # SOCK_RAW: a TUN device has no link header either way, and PACKET_VNET_HDR needs it
        self.rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.rx.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
        self.rx.bind((iface, ETH_P_ALL))
        self.pending = []
        self.fails = 0
        self.passes = 0
        self.marker_seq = 0x10000000 + (os.getpid() << 8)
        self.ipid = 1

    # ---- assertions ----
    def ok(self, cond, desc, detail=""):
        if cond:
            self.passes += 1
            print("ok   - " + desc, flush=True)
        else:
            self.fails += 1
            print("FAIL - " + desc + ((": " + detail) if detail else ""), flush=True)
        return cond

    # ---- building and sending ----
    def build(self, sport, dport, seq, ack, flags, win=65535, data=b"", opts=b"", doff=None,
              bad_csum=False, src=None):
        src = src or self.src
        while len(opts) % 4:
            opts += b"\0"
        hl = 20 + len(opts)
        off = (hl // 4) if doff is None else doff
        tcp = struct.pack("!HHIIBBHHH", sport, dport, seq % MOD, ack % MOD, off << 4, flags,
                          win, 0, 0) + opts + data
        pseudo = socket.inet_aton(src) + socket.inet_aton(self.dut) + struct.pack(
            "!BBH", 0, 6, len(tcp))
        c = csum(pseudo + tcp)
        if bad_csum:
            c ^= 0x0101
        tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
        self.ipid = (self.ipid + 1) & 0xFFFF
        iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), self.ipid, 0x4000, 64, 6, 0,
                          socket.inet_aton(src), socket.inet_aton(self.dut))
        iph = iph[:10] + struct.pack("!H", csum(iph)) + iph[12:]
        return iph + tcp

    def send(self, *a, **kw):
        self.tx.send(self.build(*a, **kw))

    def recv(self, timeout):
        """The next TCP segment from minitcpd to our address, or None after timeout s."""
        end = time.monotonic() + timeout
        while True:
            while self.pending:
                pkt = self.pending.pop(0)
                if len(pkt) < 40 or pkt[0] >> 4 != 4 or pkt[9] != 6:
                    continue
                s = Seg(pkt, time.monotonic())
                if s.src == self.dut and s.dst == self.src:
                    return s
            left = end - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.rx], [], [], left)
            if not r:
                return None
            raw, addr = self.rx.recvfrom(65536 + 10)
            if addr[2] == PACKET_OUTGOING or len(raw) < 10:
                continue
            self.pending = vnet_cut(raw[:10], raw[10:])

    def drain(self):
        while self.recv(0) is not None:
            pass

    def until_marker(self, timeout=5.0):
        """Sends a marker and returns every segment that arrived before its answer
        (None if the marker's answer never came)."""
        self.marker_seq = seq_add(self.marker_seq, 1000)
        mseq = self.marker_seq
        self.send(MARKER_PORT, MARKER_PORT, mseq, 0, SYN)
        got = []
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            s = self.recv(end - time.monotonic())
            if s is None:
                break
            if s.sport == MARKER_PORT and s.dport == MARKER_PORT:
                if s.ack == seq_add(mseq, 1) and s.flags == RST | ACK:
                    return got
                continue  # an older marker's answer
            got.append(s)
        return None

    def expect_nothing(self, desc, port=None):
        got = self.until_marker()
        if got is None:
            return self.ok(False, desc, "the marker was never answered")
        if port is not None:
            got = [s for s in got if s.dport == port]
        return self.ok(not got, desc, "got %s" % got)

    def expect_one(self, desc, port=None):
        """Exactly one segment (on port) before the marker; returns it or None."""
        got = self.until_marker()
        if got is None:
            self.ok(False, desc, "the marker was never answered")
            return None
        if port is not None:
            got = [s for s in got if s.dport == port]
        if len(got) != 1:
            self.ok(False, desc, "want one segment, got %s" % got)
            return None
        return got[0]

    # ---- the trace log ----
    def log_count(self, needle):
        if not self.log:
            return 0
        with open(self.log, errors="replace") as f:
            return sum(1 for line in f if needle in line)


class Conn:
    """One crafted connection: our side's sequence state."""

    def __init__(self, p: Probe, dport, sport, isn, win=65535):
        self.p, self.dport, self.sport = p, dport, sport
        self.isn = isn
        self.snd_nxt = seq_add(isn, 1)  # ours
        self.rcv_nxt = None  # minitcpd's next byte
        self.iss = None
        self.win = win
        self.synack = None

    def send(self, flags, data=b"", seq=None, ack=None, win=None, **kw):
        self.p.send(self.sport, self.dport, self.snd_nxt if seq is None else seq,
                    (self.rcv_nxt or 0) if ack is None else ack, flags,
                    self.win if win is None else win, data, **kw)

    def recv(self, timeout=3.0):
        while True:
            s = self.p.recv(timeout)
            if s is None or (s.sport == self.dport and s.dport == self.sport):
                return s

    def open(self, opts=b"\x02\x04\x05\xb4", ack_win=None):
        """SYN (default MSS 1460) -> SYN,ACK -> ACK. Returns the SYN,ACK or None."""
        p = self.p
        p.send(self.sport, self.dport, self.isn, 0, SYN, self.win, opts=opts)
        s = self.recv()
        if not p.ok(s is not None and s.flags == SYN | ACK and s.ack == seq_add(self.isn, 1),
                    "handshake to port %d: SYN,ACK acking our SYN" % self.dport, repr(s)):
            return None
        self.synack = s
        self.iss = s.seq
        self.rcv_nxt = seq_add(s.seq, 1)
        self.send(ACK, win=ack_win)
        return s

    def take(self, s):
        """Accounts a data/FIN segment from minitcpd (in order only)."""
        if s.seq == self.rcv_nxt:
            self.rcv_nxt = seq_add(self.rcv_nxt, len(s.data) + (1 if s.flags & FIN else 0))
            return s.data
        return b""

    def read_echo(self, n, timeout=5.0, ack=True):
        """Collects n echoed bytes (in order); returns (bytes, [segments])."""
        buf, segs = b"", []
        end = time.monotonic() + timeout
        while len(buf) < n and time.monotonic() < end:
            s = self.recv(end - time.monotonic())
            if s is None:
                break
            segs.append(s)
            buf += self.take(s)
        if ack:
            self.send(ACK)
        return buf, segs


def limit_interval():
    """minitcpd answers invalid segments (challenge ACKs, ACKs to out-of-window segments
    without data) at most once per 500 ms per connection: the next check waits it out."""
    time.sleep(0.6)


def handshake_echo(p, port, sport, isn, **kw):
    c = Conn(p, port, sport, isn, **kw)
    return c if c.open() else None


# ---------------------------------------------------------------- scenarios

def sc_closed(p: Probe, a):
    """RFC 9293 §3.10.7.1: the RST replies for no connection."""
    cport = 81
    p.send(30001, cport, 1000, 0, SYN)
    s = p.expect_one("SYN to a closed port gets one reply")
    if s:
        p.ok((s.flags, s.seq, s.ack, s.win, len(s.data)) == (RST | ACK, 0, 1001, 0, 0),
             "  ... RST,ACK seq=0 ack=SEG.SEQ+1 win=0", repr(s))
        p.ok(s.sport == cport and s.dport == 30001 and s.csum_ok, "  ... ports swapped, checksums valid")
    p.send(30002, cport, 2000, 0, SYN, data=b"12345")
    s = p.expect_one("SYN with 5 bytes to a closed port gets one reply")
    if s:
        p.ok((s.flags, s.seq, s.ack) == (RST | ACK, 0, 2006), "  ... RST,ACK ack=SEG.SEQ+1+5", repr(s))
    p.send(30003, cport, 3000, 777777, ACK)
    s = p.expect_one("ACK to no connection gets one reply")
    if s:
        p.ok(s.flags == RST and s.seq == 777777, "  ... RST with seq=SEG.ACK (no ACK bit)", repr(s))
    p.send(30004, cport, 4000, 0, FIN)
    s = p.expect_one("FIN (no ACK) to no connection gets one reply")
    if s:
        p.ok((s.flags, s.seq, s.ack) == (RST | ACK, 0, 4001), "  ... RST,ACK ack=SEG.SEQ+1", repr(s))
    p.send(30005, cport, 5000, 0, 0, data=b"abc")
    s = p.expect_one("no-flag segment with 3 bytes to a closed port gets one reply")
    if s:
        p.ok((s.flags, s.seq, s.ack) == (RST | ACK, 0, 5003), "  ... RST,ACK ack=SEG.SEQ+3", repr(s))
    p.send(30006, cport, 6000, 0, RST)
    p.expect_nothing("RST to no connection: nothing")
    p.send(30006, cport, 6000, 1234, RST | ACK)
    p.expect_nothing("RST,ACK to no connection: nothing")
    p.send(30007, 7, 7000, 424242, ACK)
    s = p.expect_one("ACK to the listener (no connection) gets one reply")
    if s:
        p.ok(s.flags == RST and s.seq == 424242, "  ... RST seq=SEG.ACK", repr(s))
    p.send(30008, 7, 8000, 0, RST)
    p.expect_nothing("RST to the listener: nothing")


def sc_drops(p: Probe, a):
    """Malformed segments to the echo listener: dropped, counted (trace), never answered."""
    opened = p.log_count("state LISTEN -> SYN_RCVD")
    mss = b"\x02\x04\x05\xb4"
    cases = [
        ("SYN with an option of length 0", dict(flags=SYN, opts=b"\x02\x00\x05\xb4"), "bad options"),
        ("SYN with an option of length 1", dict(flags=SYN, opts=b"\x01\x01\x03\x01"), "bad options"),
        ("SYN with an option running past the header", dict(flags=SYN, opts=b"\x01\x02\x08\x05"),
         "bad options"),
        ("SYN with an option kind as the last header byte", dict(flags=SYN, opts=b"\x01\x01\x01\x02"),
         "bad options"),
        ("SYN,FIN", dict(flags=SYN | FIN, opts=mss), "bad flags"),
        ("SYN,RST", dict(flags=SYN | RST, opts=mss), "bad flags"),
        ("SYN with data offset 4", dict(flags=SYN, doff=4), "bad data offset"),
        ("SYN with data offset past the segment", dict(flags=SYN, doff=15), "bad data offset"),
        ("SYN with a bad checksum", dict(flags=SYN, opts=mss, bad_csum=True), "bad checksum"),
        ("a segment with no flags", dict(flags=0, data=b"x"), None),
        ("FIN without ACK", dict(flags=FIN), None),
    ]
    for i, (desc, kw, reason) in enumerate(cases):
        before = p.log_count("reason=" + reason) if reason else 0
        flags = kw.pop("flags")
        p.send(31000 + i, 7, 100000 * (i + 1), 0, flags, **kw)
        p.expect_nothing(desc + ": dropped, no reply")
        if reason:
            after = p.log_count("reason=" + reason)
            p.ok(after == before + 1, "  ... trace: one [TCP ] drop line reason=" + reason,
                 "%d -> %d" % (before, after))
    before = p.log_count("[IP  ] drop reason=bad source")
    p.send(7, 7, 999, 0, SYN, opts=mss, src=p.dut)  # LAND: from minitcpd's own address
    p.until_marker()
    p.ok(p.log_count("[IP  ] drop reason=bad source") == before + 1,
         "a SYN from minitcpd's own address (LAND) is dropped as a bad source")
    p.ok(p.log_count("state LISTEN -> SYN_RCVD") == opened, "no connection was opened by any of them")
    c = handshake_echo(p, 7, 31100, 123456)
    if c:
        c.send(ACK | PSH, b"still alive\n")
        data, _ = c.read_echo(12)
        p.ok(data == b"still alive\n", "the listener still works afterwards", repr(data))


def sc_mss(p: Probe, a):
    """MSS: we announce MTU-40 and honour the peer's (536 when absent)."""
    c = Conn(p, 7, 32001, 900000)
    s = c.open(opts=b"\x02\x04\x02\x18")  # MSS 536
    if not s:
        return
    p.ok(s.mss == 1460, "SYN,ACK carries MSS 1460 (MTU 1500 - 40)", "mss=%s" % s.mss)
    p.ok(s.ws is None, "no window scale option when the SYN offered none", "ws=%s" % s.ws)
    p.ok(s.win == 65535, "SYN,ACK window 65535 (never scaled)", "win=%d" % s.win)
    payload = bytes((i * 7) & 0xFF for i in range(1400))
    c.send(ACK | PSH, payload)
    c.snd_nxt = seq_add(c.snd_nxt, len(payload))
    data, segs = c.read_echo(1400)
    lens = [len(s.data) for s in segs if s.data]
    p.ok(data == payload, "1400 bytes echoed intact")
    p.ok(lens == [536, 536, 328], "echo segments respect the peer's MSS 536", "lens=%s" % lens)
    c2 = Conn(p, 7, 32002, 910000)
    if c2.open(opts=b""):
        c2.send(ACK | PSH, payload[:1000])
        c2.snd_nxt = seq_add(c2.snd_nxt, 1000)
        data, segs = c2.read_echo(1000)
        lens = [len(s.data) for s in segs if s.data]
        p.ok(lens == [536, 464], "no MSS option: segments of at most 536 (RFC 9293 §3.7.1)", "lens=%s" % lens)
        close_echo(p, c2)
    close_echo(p, c)


def close_echo(p, c):
    """We close first: FIN -> the echo closes too -> we ACK its FIN (its LAST_ACK -> CLOSED)."""
    c.send(ACK | FIN)
    c.snd_nxt = seq_add(c.snd_nxt, 1)
    end = time.monotonic() + 3
    fin = None
    while time.monotonic() < end:
        s = c.recv(end - time.monotonic())
        if s is None:
            break
        c.take(s)
        if s.flags & FIN:
            fin = s
            break
    if p.ok(fin is not None and fin.ack == c.snd_nxt, "echo connection closes after our FIN", repr(fin)):
        c.send(ACK)


def sc_rfc5961(p: Probe, a):
    """RST/SYN/ACK checks on an established connection (RFC 9293 §3.10.7.4, RFC 5961)."""
    c = handshake_echo(p, 7, 33001, 3000000000)
    if not c:
        return
    c.send(ACK | PSH, b"hello")
    first = c.snd_nxt
    c.snd_nxt = seq_add(c.snd_nxt, 5)
    data, _ = c.read_echo(5)
    p.ok(data == b"hello", "echo works", repr(data))

    def expect_ack(desc):
        s = p.expect_one(desc, port=c.sport)
        if s:
            p.ok((s.flags, s.seq, s.ack, len(s.data)) == (ACK, c.rcv_nxt, c.snd_nxt, 0),
                 "  ... an ACK carrying its own SND.NXT=%u and RCV.NXT=%u" % (c.rcv_nxt, c.snd_nxt),
                 repr(s))

    c.send(RST, seq=seq_add(c.snd_nxt, 1), ack=0)
    expect_ack("in-window RST that is not exact: one challenge ACK")
    c.send(RST, seq=seq_add(c.snd_nxt, 1 << 30), ack=0)
    p.expect_nothing("out-of-window RST: nothing", port=c.sport)
    limit_interval()
    c.send(SYN, seq=seq_add(c.snd_nxt, 10), ack=0)
    expect_ack("SYN in ESTABLISHED (in window): challenge ACK")
    limit_interval()
    c.send(SYN, seq=seq_add(c.snd_nxt, -(1 << 20)), ack=0)
    expect_ack("SYN in ESTABLISHED (old sequence number): ACK")
    c.send(ACK | PSH, b"hello", seq=first)
    expect_ack("old duplicate data: a pure ACK with the current RCV.NXT, nothing echoed "
               "(ACKs to data are never rate-limited)")
    c.send(ACK | PSH, b"zz", ack=seq_add(c.rcv_nxt, 1000))
    expect_ack("data acking bytes never sent: an ACK, the segment dropped")
    limit_interval()
    for _ in range(100):
        c.send(ACK, seq=seq_add(c.snd_nxt, 1 << 20))
    for _ in range(20):
        c.send(RST, seq=seq_add(c.snd_nxt, 1), ack=0)
    expect_ack("100 out-of-window ACKs and 20 inexact RSTs at once: one answer (500 ms limit)")
    limit_interval()
    c.send(ACK | PSH, b"qq", ack=seq_add(c.rcv_nxt, -(1 << 24)))
    expect_ack("data with an ACK older than SND.UNA - MAX.SND.WND (RFC 5961 §5): ACK, dropped")
    c.send(PSH, b"nn")
    p.expect_nothing("in-window data without the ACK bit: dropped silently", port=c.sport)
    c.send(ACK | PSH, b"ok")
    c.snd_nxt = seq_add(c.snd_nxt, 2)
    data, _ = c.read_echo(2)
    p.ok(data == b"ok", "none of the dropped bytes reached the stream (echo is just 'ok')", repr(data))
    # window update rule: an old segment (SEG.SEQ < SND.WL1) must not move the window
    closed0 = p.log_count("state ESTABLISHED -> CLOSED")
    c.send(RST, seq=c.snd_nxt, ack=0)
    p.expect_nothing("exact RST: no reply", port=c.sport)
    p.ok(p.log_count("state ESTABLISHED -> CLOSED") == closed0 + 1, "  ... trace: ESTABLISHED -> CLOSED")
    c.send(ACK, ack=seq_add(c.rcv_nxt, 0))
    s = p.expect_one("the next segment for the reset connection gets an RST", port=c.sport)
    if s:
        p.ok(s.flags == RST and s.seq == c.rcv_nxt, "  ... RST seq=SEG.ACK", repr(s))


def sc_ooo(p: Probe, a):
    """Out-of-order data: immediate duplicate ACKs, a cumulative ACK when the gap fills."""
    c = handshake_echo(p, 7, 34001, 4000000000)
    if not c:
        return
    base = c.snd_nxt
    A, B, C = b"A" * 100, b"B" * 100, b"C" * 100
    c.send(ACK | PSH, C, seq=seq_add(base, 200))
    s = p.expect_one("segment C (out of order): one immediate reply", port=c.sport)
    if s:
        p.ok((s.flags, s.ack, len(s.data)) == (ACK, base, 0), "  ... a duplicate ACK for RCV.NXT", repr(s))
    c.send(ACK | PSH, B, seq=seq_add(base, 100))
    s = p.expect_one("segment B (out of order): one immediate reply", port=c.sport)
    if s:
        p.ok((s.flags, s.ack, len(s.data)) == (ACK, base, 0), "  ... a duplicate ACK for RCV.NXT", repr(s))
    c.send(ACK | PSH, A, seq=base)
    c.snd_nxt = seq_add(base, 300)
    data, segs = c.read_echo(300)
    p.ok(bool(segs) and segs[0].ack == c.snd_nxt, "segment A fills the gap: the first reply acks all 300 bytes",
         repr(segs[:1]))
    p.ok(data == A + B + C, "the echo returns A B C in order", repr(data[:12]))
    close_echo(p, c)


def sc_window(p: Probe, a):
    """Data beyond the receive window (minitcpd --rcvbuf 4096): trimmed, never acked."""
    c = Conn(p, 7, 35001, 123)
    s = c.open()
    if not s:
        return
    W = s.win
    p.ok(W == 4096, "SYN,ACK advertises the 4096-byte receive buffer", "win=%d" % W)
    base = c.snd_nxt
    payload = bytes((i * 13 + 5) & 0xFF for i in range(W + 364))
    c.send(ACK | PSH, payload[W - 1096:W + 364], seq=seq_add(base, W - 1096))
    s = p.expect_one("a segment straddling the right window edge: one immediate reply", port=c.sport)
    if s:
        p.ok((s.flags, s.ack, len(s.data)) == (ACK, base, 0), "  ... a duplicate ACK for RCV.NXT", repr(s))
    c.send(ACK | PSH, payload[:100], seq=seq_add(base, W + 1000))
    s = p.expect_one("a segment wholly beyond the window: one reply", port=c.sport)
    if s:
        p.ok((s.flags, s.ack) == (ACK, base), "  ... an ACK for RCV.NXT", repr(s))
    for off in (0, 1000, 2000):
        n = min(1000, W - 1096 - off)
        c.send(ACK | PSH, payload[off:off + n], seq=seq_add(base, off))
    c.snd_nxt = seq_add(base, W)
    data, segs = c.read_echo(W, ack=False)
    acks = [x.ack for x in segs]
    top = max(acks, key=lambda v: (v - base) % MOD) if acks else None
    p.ok(top == seq_add(base, W), "the gap filled: acked up to the window edge, not beyond",
         "highest ack %s, want %u" % (top, seq_add(base, W)))
    p.ok(data == payload[:W], "the echo holds exactly the in-window bytes", "%d bytes" % len(data))
    c.send(ACK)
    c.send(ACK | PSH, payload[W:], seq=seq_add(base, W))
    c.snd_nxt = seq_add(base, W + 364)
    data, segs = c.read_echo(364)
    p.ok(data == payload[W:], "the trimmed bytes, sent again, are taken", "%d bytes" % len(data))
    close_echo(p, c)


def sc_zero_window(p: Probe, a):
    """We advertise a zero window: persist probes of one byte with exponential backoff."""
    c = Conn(p, 7, 36001, 77777)
    if not c.open(ack_win=0):
        return
    c.send(ACK | PSH, b"abcdef", win=0)
    c.snd_nxt = seq_add(c.snd_nxt, 6)
    probes = []
    end = time.monotonic() + 6
    while len(probes) < 4 and time.monotonic() < end:
        s = c.recv(end - time.monotonic())
        if s is None:
            break
        if s.data:
            probes.append(s)
            c.send(ACK, win=0)  # the byte is not taken: the window stays closed
    p.ok(len(probes) == 4, "four window probes arrive", "%d" % len(probes))
    if len(probes) == 4:
        p.ok(all(len(s.data) == 1 and s.data == b"a" and s.seq == c.rcv_nxt for s in probes),
             "each probe carries exactly one byte, the first unacknowledged one", repr(probes))
        iv = [probes[i + 1].t - probes[i].t for i in range(3)]
        p.ok(iv[0] >= 0.3 and all(1.6 <= iv[i + 1] / iv[i] <= 2.5 for i in range(2)),
             "probe intervals back off exponentially", "intervals %s" % ["%.3f" % x for x in iv])
    c.send(ACK, win=65535)
    data, _ = c.read_echo(6)
    p.ok(data == b"abcdef", "the window opens: the data follows", repr(data))
    close_echo(p, c)


def sc_rtx_window(p: Probe, a):
    """Retransmissions stay within SND.UNA + SND.WND: after we shrink our (scaled) window to
    256 bytes without acknowledging the echo's 1,460-byte segment, the RTO resends 256."""
    c = Conn(p, 7, 38001, 88888)
    if not c.open(opts=b"\x02\x04\x05\xb4\x01\x03\x03\x07"):  # MSS 1460, window scale 7
        return
    payload = bytes((i * 7) & 0xFF for i in range(1460))
    c.send(ACK | PSH, payload)
    c.snd_nxt = seq_add(c.snd_nxt, 1460)
    got, end = [], time.monotonic() + 3
    while sum(len(s.data) for s in got) < 1460 and time.monotonic() < end:
        s = c.recv(end - time.monotonic())
        if s is None:
            break
        if s.data:
            got.append(s)
    p.ok(sum(len(s.data) for s in got) == 1460, "the echo sends 1460 bytes", repr(got))
    c.send(ACK, win=2)  # nothing acknowledged, the window is now 2 << 7 = 256 bytes
    s = c.recv(3)
    while s is not None and not s.data:
        s = c.recv(3)
    if p.ok(s is not None, "the retransmission timer fires", repr(s)):
        p.ok(s.seq == c.rcv_nxt and len(s.data) == 256 and s.data == payload[:256],
             "  ... and resends 256 bytes from SND.UNA (the window edge), not 1460", repr(s))
    c.rcv_nxt = seq_add(c.rcv_nxt, 256)
    c.send(ACK, win=2)
    s = c.recv(3)
    p.ok(s is not None and s.seq == c.rcv_nxt and len(s.data) == 256 and s.data == payload[256:512],
         "the next 256 bytes follow as the window allows", repr(s))
    c.rcv_nxt = seq_add(c.rcv_nxt, 256)
    c.send(ACK)
    data, _ = c.read_echo(948)
    p.ok(data == payload[512:], "the window opens: the rest follows", "%d bytes" % len(data))
    close_echo(p, c)


def sc_time_wait(p: Probe, a):
    """chat_server's HTTP responder closes first: minitcpd's TIME_WAIT (RFC 9293, RFC 1337,
    RFC 1122 4.2.2.13), and the response piggybacks the ACK of the request."""
    port = a.port
    c = Conn(p, port, 37001, 1000000)
    if not c.open(opts=b"\x02\x04\x05\xb4\x01\x03\x03\x07"):  # MSS, window scale 7: as curl
        return
    req = b"GET / HTTP/1.0\r\nHost: x\r\n\r\n"
    t0 = time.monotonic()
    c.send(ACK | PSH, req)
    c.snd_nxt = seq_add(c.snd_nxt, len(req))
    body, fin, first = b"", None, None
    end = time.monotonic() + 5
    while fin is None and time.monotonic() < end:
        s = c.recv(end - time.monotonic())
        if s is None:
            break
        first = first or s
        body += c.take(s)
        if s.flags & FIN:
            fin = s
    p.ok(body.startswith(b"HTTP/1.1 200 OK") and fin is not None, "HTTP response and FIN", repr(body[:20]))
    if first is not None:
        # a pure ACK may only come from the 40 ms delayed-ACK timer
        early = first.t - t0
        p.ok(len(first.data) > 0 or early >= 0.035,
             "the response carries the ACK of the request (no pure ACK before it)",
             "first reply %r after %.1f ms" % (first, early * 1000))
    if fin is None:
        return
    tw0 = p.log_count("-> TIME_WAIT")
    c.send(ACK | FIN)
    fin_seq = c.snd_nxt
    c.snd_nxt = seq_add(c.snd_nxt, 1)
    s = p.expect_one("our FIN: minitcpd ACKs it", port=c.sport)
    if s:
        p.ok((s.flags, s.seq, s.ack) == (ACK, c.rcv_nxt, c.snd_nxt), "  ... ACK of our FIN", repr(s))
    p.ok(p.log_count("-> TIME_WAIT") == tw0 + 1, "  ... trace: minitcpd enters TIME_WAIT")

    def expect_ack(desc):
        s = p.expect_one(desc, port=c.sport)
        if s:
            p.ok((s.flags, s.seq, s.ack, len(s.data)) == (ACK, c.rcv_nxt, c.snd_nxt, 0),
                 "  ... ACK seq=%u ack=%u" % (c.rcv_nxt, c.snd_nxt), repr(s))

    c.send(ACK | FIN, seq=fin_seq)
    expect_ack("TIME_WAIT: a retransmitted FIN is ACKed again")
    c.send(RST, seq=c.snd_nxt, ack=0)
    p.expect_nothing("TIME_WAIT: an RST is ignored (RFC 1337)", port=c.sport)
    limit_interval()
    c.send(ACK | FIN, seq=fin_seq)
    expect_ack("  ... and TIME_WAIT is still there (the FIN is ACKed again)")
    limit_interval()
    c.send(SYN, seq=c.isn, ack=0)
    expect_ack("TIME_WAIT: a SYN with an old sequence number gets an ACK, not a SYN,ACK")
    nseq = seq_add(c.snd_nxt, 100000)
    p.send(c.sport, port, nseq, 0, SYN, opts=b"\x02\x04\x05\xb4")
    s = p.expect_one("TIME_WAIT: a SYN beyond the old stream opens a new connection", port=c.sport)
    if s:
        p.ok(s.flags == SYN | ACK and s.ack == seq_add(nseq, 1), "  ... SYN,ACK for the new SYN", repr(s))
        p.ok(seq_gt(s.seq, c.rcv_nxt), "  ... with an ISS above the old connection's SND.NXT",
             "iss=%u old=%u" % (s.seq, c.rcv_nxt))
        p.send(c.sport, port, seq_add(nseq, 1), 0, RST)
        p.expect_nothing("  ... its exact RST removes the half-open connection quietly", port=c.sport)


SCENARIOS = {
    "rtx_window": sc_rtx_window,
    "closed": sc_closed,
    "drops": sc_drops,
    "mss": sc_mss,
    "rfc5961": sc_rfc5961,
    "ooo": sc_ooo,
    "window": sc_window,
    "zero_window": sc_zero_window,
    "time_wait": sc_time_wait,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iface", default="tun0")
    ap.add_argument("--dut", default="10.0.0.2")
    ap.add_argument("--src", default="10.0.0.77")
    ap.add_argument("--log")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    a = ap.parse_args()
    p = Probe(a.iface, a.dut, a.src, a.log)
    SCENARIOS[a.scenario](p, a)
    print("%s: %d passed, %d failed" % (a.scenario, p.passes, p.fails), flush=True)
    sys.exit(1 if p.fails else 0)


if __name__ == "__main__":
    main()
