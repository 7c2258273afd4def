#!/usr/bin/env python3
"""Hostile clients for bench/abuse.sh and tests/integration/test_abuse.sh (issue 10).

  ctlflood SOCK IDLE REQS      IDLE idle client sessions, then one session pipelines REQS
                               LIST_CONNS requests without reading while another times INFO
                               round trips; prints one JSON line
  sessions SOCK N PID          N client sessions that each ask INFO once and then sit idle;
                               prints the daemon's (PID) resident memory per session (JSON)
  udpsink SOCK PORT FILE       a MiniTCP datagram socket bound to PORT (raw frames, as the
                               library sends them) that never reads; creates FILE once bound,
                               exits when FILE is removed: 0 if its session is still open
  udpflood ADDR PORT N         N empty datagrams from a kernel socket; prints the count
  linuxudp N                   Linux: a kernel datagram socket on 127.0.0.1 that never reads
                               gets N empty datagrams; prints its queue and RcvbufErrors (JSON)
"""
import json
import os
import socket
import struct
import sys
import threading
import time

MAGIC = b"MT\x01"


def frame(ftype, req_id, payload=b"", sock_id=0):
    return MAGIC + struct.pack("<BHHIII", ftype, 0, 0, req_id, sock_id, len(payload)) + payload


def session(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


def read_frame(s):
    hdr = b""
    while len(hdr) < 20:
        d = s.recv(20 - len(hdr))
        if not d:
            raise EOFError("daemon closed the session")
        hdr += d
    ftype, flags, _, req_id, sock_id, n = struct.unpack("<BHHIII", hdr[3:])
    body = b""
    while len(body) < n:
        d = s.recv(n - len(body))
        if not d:
            raise EOFError("daemon closed the session")
        body += d
    return ftype, flags, req_id, body, sock_id


def info_rtt(s, req_id):
    t = time.monotonic()
    s.sendall(frame(0x10, req_id))
    while True:
        ftype, _, rid, _, _ = read_frame(s)
        if ftype == 0x41 and rid == req_id:
            return time.monotonic() - t


def rss_kb(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
    return 0


def ctlflood(path, idle, reqs):
    idle, reqs = int(idle), int(reqs)
    held = [session(path) for _ in range(idle)]
    probe = session(path)
    base = [info_rtt(probe, i + 1) for i in range(20)]
    flood = session(path)
    answered = [0]

    sent = threading.Event()

    def send():
        flood.sendall(b"".join(frame(0x11, 1000 + i) for i in range(reqs)))
        sent.set()

    def drain():
        # the attacker reads nothing until all is sent (or the daemon stopped reading for
        # 5 s); then every request gets its CONN_LIST (MORE ... last) or an error REPLY
        sent.wait(5)
        flood.settimeout(120)
        while answered[0] < reqs:
            ftype, flags, _, _, _ = read_frame(flood)
            if (ftype == 0x42 and not flags & 1) or ftype == 0x40:
                answered[0] += 1

    t0 = time.monotonic()
    threading.Thread(target=send, daemon=True).start()
    th = threading.Thread(target=drain, daemon=True)
    th.start()
    rtts, i = [], 100
    while th.is_alive() and time.monotonic() - t0 < 120:
        rtts.append(info_rtt(probe, i))
        i += 1
    th.join(1)
    answered = answered[0]
    rtts = rtts or [0.0]
    drain = time.monotonic() - t0
    rtts.sort()
    print(json.dumps({"idle_sessions": idle, "requests": reqs, "answered": answered,
                      "flood_secs": round(drain, 3), "info_rtts": len(rtts),
                      "info_idle_ms": round(sorted(base)[len(base) // 2] * 1000, 3),
                      "info_p50_ms": round(rtts[len(rtts) // 2] * 1000, 3),
                      "info_max_ms": round(rtts[-1] * 1000, 3)}))
    for s in held + [probe, flood]:
        s.close()


def sessions(path, n, pid):
    n, pid = int(n), int(pid)
    r0 = rss_kb(pid)
    held = []
    for i in range(n):
        s = session(path)
        info_rtt(s, 1)
        held.append(s)
    time.sleep(1)  # let the daemon's idle-buffer trimming (if any) run
    r1 = rss_kb(pid)
    print(json.dumps({"sessions": n, "rss_before_kb": r0, "rss_after_kb": r1,
                      "per_session_bytes": round((r1 - r0) * 1024 / n)}))
    for s in held:
        s.close()


def request(s, ftype, req_id, payload=b"", sock_id=0):
    s.sendall(frame(ftype, req_id, payload, sock_id))
    while True:
        ftype, _, rid, body, sock_id = read_frame(s)
        if ftype == 0x40 and rid == req_id:
            return struct.unpack("<III", body[:12]), sock_id


def udpsink(path, port, ready):
    """Speaks the frames itself, as a client library would, and then never reads: the
    daemon must bound what it holds for it and keep its session."""
    s = session(path)
    (status, _, _), hdr_sock = request(s, 0x01, 1, bytes([2, 0, 0, 0]))
    if status or not hdr_sock:
        sys.exit("udpsink: SOCKET failed (%d)" % status)
    (st, _, _), _ = request(s, 0x02, 2, struct.pack("<IHH", 0, int(port), 0), hdr_sock)
    if st:
        sys.exit("udpsink: BIND failed (%d)" % st)
    s.sendall(frame(0x22, 0, struct.pack("<I", 262144), hdr_sock))  # as the library does
    open(ready, "w").write("bound\n")
    while os.path.exists(ready):
        time.sleep(0.05)
    # still connected? (the daemon closes a session it gives up on)
    s.setblocking(False)
    try:
        closed = s.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        closed = False
    except OSError:
        closed = True
    print("session %s" % ("closed by the daemon" if closed else "still open"))
    sys.exit(1 if closed else 0)


def flood(addr, port, n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dst, k = (addr, int(port)), 0
    for _ in range(int(n)):
        try:
            s.sendto(b"", dst)
            k += 1
        except OSError:
            time.sleep(0.001)
    return k


def udpflood(addr, port, n):
    print("sent %d empty datagrams" % flood(addr, port, n))


def snmp_udp():
    lines = [l.split() for l in open("/proc/net/snmp") if l.startswith("Udp:")]
    return dict(zip(lines[0][1:], map(int, lines[1][1:])))


def linuxudp(n):
    r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    r.bind(("127.0.0.1", 0))
    before = snmp_udp()
    sent = flood("127.0.0.1", r.getsockname()[1], n)
    time.sleep(0.2)
    after = snmp_udp()
    port = "%04X" % r.getsockname()[1]
    rxq = next(int(l.split()[4].split(":")[1], 16) for l in open("/proc/net/udp")
               if l.split()[1].endswith(":" + port))
    print(json.dumps({"sent": sent, "queued_bytes": rxq,
                      "rcvbuf": r.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF),
                      "RcvbufErrors": after["RcvbufErrors"] - before["RcvbufErrors"]}))


if __name__ == "__main__":
    cmds = {"ctlflood": ctlflood, "sessions": sessions, "udpsink": udpsink,
            "udpflood": udpflood, "linuxudp": linuxudp}
    cmds[sys.argv[1]](*sys.argv[2:])
