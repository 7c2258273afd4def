#!/usr/bin/env python3
"""Reads minitcpd's --pcap of a transfer into PORT and classifies each duplicate data segment:
'told' when, before the duplicate was sent, the sender had provably been able to learn the
first copy's arrival: at least 3 of our ACKs covered it (cumulatively or in a SACK block) with a
TSval strictly below the duplicate's TSecr (the sender had processed a later ACK of ours, and
3 ACKs are all lost about once in 8,000 at 5 % loss). Other duplicates were sent before any
report could have reached the sender (its data waited in the TUN queue): the sender's timing,
not our acknowledgments. Prints "dups=N told=M" and, for the told ones, the first few."""
import struct
import sys


def packets(path):
    d = open(path, "rb").read()
    nano = struct.unpack_from("<I", d, 0)[0] == 0xA1B23C4D
    off = 24
    while off + 16 <= len(d):
        sec, frac, incl, _ = struct.unpack_from("<IIII", d, off)
        off += 16
        yield sec + frac / (1e9 if nano else 1e6), d[off:off + incl]
        off += incl


def tcp(p):
    if len(p) < 20 or p[0] >> 4 != 4 or p[9] != 6:
        return None
    ihl = (p[0] & 15) * 4
    total = struct.unpack_from(">H", p, 2)[0]
    t = p[ihl:]
    if len(t) < 20:
        return None
    sport, dport, seq, ack, off, flags = struct.unpack_from(">HHIIBB", t, 0)
    hl = (off >> 4) * 4
    opts, sack, ts, i = t[20:hl], [], None, 0
    while i < len(opts):
        k = opts[i]
        if k == 0:
            break
        if k == 1:
            i += 1
            continue
        if i + 1 >= len(opts) or opts[i + 1] < 2:
            break
        n = opts[i + 1]
        if k == 5:
            sack += [struct.unpack_from(">II", opts, j) for j in range(i + 2, i + n - 7, 8)]
        elif k == 8 and n == 10:
            ts = struct.unpack_from(">II", opts, i + 2)
        i += n
    return sport, dport, seq, ack, flags, total - ihl - hl, sack, ts


def before(a, b):  # a < b in 32-bit sequence (or timestamp) space
    return 0 < (b - a) & 0xFFFFFFFF < 0x80000000


def main():
    path, port = sys.argv[1], int(sys.argv[2])
    base, held, dups, told = None, {}, 0, []
    sacked = {}  # segment start -> TSvals of the ACKs that SACKed it
    pending = {}  # segments above the cumulative ACK: start -> end
    cum_at = {}  # segment start -> index in ack_ts of the first ACK covering it cumulatively
    ack_ts = []  # TSval of each of our ACKs, in order (non-decreasing)
    arrived = {}  # segment start -> TSval of our first ACK after its first copy
    unstamped = []  # first copies not yet followed by an ACK
    queued, silent = 0, []
    for _, p in packets(path):
        x = tcp(p)
        if not x:
            continue
        sport, dport, seq, ack, flags, length, sack, ts = x
        if dport == port and flags & 2:
            base = (seq + 1) & 0xFFFFFFFF
        if base is None:
            continue
        if dport == port and length > 0:
            s = (seq - base) & 0xFFFFFFFF
            if s in held:
                dups += 1
                if not ts:
                    continue
                if s not in arrived or not before(arrived[s], ts[1]):
                    queued += 1  # sent before our ACKs could have told of the first copy
                    continue
                n = sum(1 for tv in sacked[s] if before(tv, ts[1]))
                if s in cum_at:
                    n += sum(1 for tv in ack_ts[cum_at[s]:] if before(tv, ts[1]))
                (told if n >= 3 else silent).append((s, n))
            else:
                held[s] = s + length
                sacked[s] = []
                pending[s] = s + length
                unstamped.append(s)
        elif sport == port and ts:
            a = (ack - base) & 0xFFFFFFFF
            ack_ts.append(ts[0])
            for u in unstamped:
                arrived[u] = ts[0]
            unstamped.clear()
            blocks = [((u - base) & 0xFFFFFFFF, (v - base) & 0xFFFFFFFF) for u, v in sack]
            for s, e in list(pending.items()):
                if e <= a:
                    cum_at[s] = len(ack_ts) - 1
                    del pending[s]
                elif any(b0 <= s and e <= b1 for b0, b1 in blocks):
                    sacked[s].append(ts[0])
    print("dups=%d queued=%d told=%d silent=%d" % (dups, queued, len(told), len(silent)))
    for s, n in (told + silent)[:5]:
        print("  segment at +%d resent after %d reports" % (s, n))


main()
