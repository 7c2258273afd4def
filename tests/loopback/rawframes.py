#!/usr/bin/env python3
"""Frames written by hand to minitcpd's Unix socket: the daemon must answer or drop only
the offending client, and keep its memory bounded. Usage: rawframes.py SOCK DAEMON_PID"""
import os, socket, struct, sys, time

SOCK, DPID = sys.argv[1], int(sys.argv[2])
fails = 0


def check(ok, what):
    global fails
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    fails += 0 if ok else 1


def frame(t, payload=b"", req=0, sock=0, flags=0):
    return struct.pack("<BBBBHHIII", 0x4D, 0x54, 1, t, flags, 0, req, sock, len(payload)) + payload


def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(SOCK)
    s.settimeout(5)
    return s


def read_frame(s):
    h = b""
    while len(h) < 20:
        c = s.recv(20 - len(h))
        if not c:
            return None
        h += c
    _, _, _, t, flags, _, req, sid, n = struct.unpack("<BBBBHHIII", h)
    p = b""
    while len(p) < n:
        c = s.recv(n - len(p))
        if not c:
            return None
        p += c
    return t, flags, req, sid, p


def reply_to(s, req):
    while True:
        f = read_frame(s)
        if f is None or f[2] == req:
            return f


def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def alive():
    """A fresh client gets an INFO_REPLY."""
    s = conn()
    s.sendall(frame(0x10, req=9))
    f = reply_to(s, 9)
    s.close()
    return f is not None and f[0] == 0x41


# a SOCKET request written one byte at a time: one reply, with a socket id
s = conn()
for b in frame(0x01, bytes([1, 0, 0, 0]), req=1):
    s.sendall(bytes([b]))
    time.sleep(0.001)
f = reply_to(s, 1)
check(f is not None and f[0] == 0x40 and struct.unpack("<I", f[4][:4])[0] == 0 and f[3] != 0,
      "a request split into 1-byte writes gets its reply")
sid = f[3]

# zero-length payloads: INFO, and CLOSE of that socket with a reply wanted
s.sendall(frame(0x10, req=2) + frame(0x06, sock=sid, req=3))
f2, f3 = reply_to(s, 2), reply_to(s, 3)
check(f2 is not None and f2[0] == 0x41 and f3 is not None and f3[0] == 0x40
      and struct.unpack("<I", f3[4][:4])[0] == 0, "zero-length INFO and CLOSE are answered")
# a request naming a socket it does not own: EBADF (code 2), the session stays
s.sendall(frame(0x05, struct.pack("<I", 2), sock=sid, req=4))
f = reply_to(s, 4)
check(f is not None and struct.unpack("<I", f[4][:4])[0] == 2, "a closed socket id gets EBADF")

# a frame of exactly the maximum length: a 65536-byte DGRAM payload (65528 data bytes)
s.sendall(frame(0x01, bytes([2, 0, 0, 0]), req=5))
u = reply_to(s, 5)[3]
s.sendall(frame(0x21, struct.pack("<IHH", 0x0A000102, 9, 0) + b"x" * 65528, req=6, sock=u))
f = reply_to(s, 6)
check(f is not None and f[0] == 0x40, "a frame of exactly 64 KiB payload is answered (status %d)"
      % (struct.unpack("<I", f[4][:4])[0] if f else -1))
# one byte more: this client is dropped
s.sendall(frame(0x21, struct.pack("<IHH", 0x0A000102, 9, 0) + b"x" * 65529, req=7, sock=u))
try:
    f = read_frame(s)
except OSError:
    f = None
check(f is None, "a 64 KiB + 1 payload disconnects that client")
s.close()

# a client that dies in the middle of a frame
s = conn()
s.sendall(frame(0x21, b"\0" * 100, req=1, sock=1)[:50])
s.close()
check(alive(), "a client dying mid-frame leaves the daemon serving")

# a flood of LIST_CONNS requests never read: the daemon must not buffer every reply.
# 50 UDP sockets make each reply ~4 KB; 20000 requests would be ~80 MB of replies.
holder = conn()
for i in range(50):
    holder.sendall(frame(0x01, bytes([2, 0, 0, 0]), req=100 + i))
    hid = reply_to(holder, 100 + i)[3]
    holder.sendall(frame(0x02, struct.pack("<IHH", 0, 20000 + i, 0), req=200 + i, sock=hid))
    reply_to(holder, 200 + i)
before = rss_kb(DPID)
flood = conn()
flood.setblocking(False)
batch = b"".join(frame(0x11, req=1000 + i) for i in range(20000))
off, deadline = 0, time.time() + 5
while off < len(batch) and time.time() < deadline:
    try:
        off += flood.send(batch[off:])
    except BlockingIOError:
        time.sleep(0.01)
# the daemon read the flood (the kernel buffer took what it gave); a served request from
# another client after that means the flood's read callback has run
check(alive(), "while one client floods, another is served")
grown = rss_kb(DPID) - before
check(grown < 16 * 1024, "20000 unread LIST_CONNS requests: daemon RSS grew %d KiB (< 16 MiB)" % grown)
flood.close()
holder.close()
check(alive(), "after the flood the daemon serves")
print("rawframes: %d failure(s)" % fails)
sys.exit(1 if fails else 0)
