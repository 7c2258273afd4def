#!/usr/bin/env python3
"""One client floods minitcpd with pipelined LIST_CONNS while idle sessions sit by and
another client works: the other client's requests (INFO, a TCP echo round trip through
the stack, a UDP bind) must be served while the flood is still being answered.

Ordering, not timing: the bind is sent after the whole flood was written. If the daemon
served the flood to its end before the bind (one client holding the loop), the flood's
last listing could not contain the bound port; with fair slices it does.
Usage: rawflood.py SOCK ECHO_ADDR ECHO_PORT [N]"""
import socket, struct, sys, threading

SOCK, ECHO_ADDR, ECHO_PORT = sys.argv[1], sys.argv[2], int(sys.argv[3])
N = int(sys.argv[4]) if len(sys.argv) > 4 else 50000
IDLE = 500
MARK_PORT = 31337
fails = 0


def check(ok, what):
    global fails
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    fails += 0 if ok else 1


def frame(t, payload=b"", req=0, sock=0, flags=0):
    return struct.pack("<BBBBHHIII", 0x4D, 0x54, 1, t, flags, 0, req, sock, len(payload)) + payload


class Reader:
    """Frames from one session, parsed from a byte stream."""

    def __init__(self, s):
        self.s, self.buf = s, b""

    def next(self):
        while True:
            if len(self.buf) >= 20:
                n = struct.unpack("<I", self.buf[16:20])[0]
                if len(self.buf) >= 20 + n:
                    h, p = self.buf[:20], self.buf[20:20 + n]
                    self.buf = self.buf[20 + n:]
                    _, _, _, t, flags, _, req, sid, _ = struct.unpack("<BBBBHHIII", h)
                    return t, flags, req, sid, p
            c = self.s.recv(1 << 20)
            if not c:
                return None
            self.buf += c

    def reply_to(self, req):
        while True:
            f = self.next()
            if f is None or f[2] == req:
                return f


def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(SOCK)
    s.settimeout(60)
    return s


def status(f):
    return struct.unpack("<I", f[4][:4])[0] if f else -1


def ip(a):
    return struct.unpack("!I", socket.inet_aton(a))[0]


idle = [conn() for _ in range(IDLE)]
holder = conn()
hr = Reader(holder)
for i in range(20):  # every listing carries these UDP records
    holder.sendall(frame(0x01, bytes([2, 0, 0, 0]), req=10 + i))
    hid = hr.reply_to(10 + i)[3]
    holder.sendall(frame(0x02, struct.pack("<IHH", 0, 21000 + i, 0), req=40 + i, sock=hid))
    hr.reply_to(40 + i)

flood = conn()
fr = Reader(flood)
done = {"n": 0, "last": None, "err": None}


def drain():
    recs = b""
    try:
        while done["n"] < N:
            f = fr.next()
            if f is None:
                done["err"] = "flood session closed"
                return
            t, flags, req, _, p = f
            if t != 0x42:
                done["err"] = "unexpected frame 0x%02x" % t
                return
            recs += p
            if not flags & 1:
                done["n"] += 1
                if req == N:
                    done["last"] = recs
                recs = b""
    except OSError as e:
        done["err"] = str(e)


th = threading.Thread(target=drain)
th.start()
flood.sendall(b"".join(frame(0x11, req=1 + i) for i in range(N)))

# the other client, after the whole flood was written
o = conn()
orr = Reader(o)
ok = True
for i in range(20):
    o.sendall(frame(0x10, req=100 + i))
    f = orr.reply_to(100 + i)
    ok = ok and f is not None and f[0] == 0x41
check(ok, "20 INFO requests served during the flood")
o.sendall(frame(0x01, bytes([1, 0, 0, 0]), req=200))
tid = orr.reply_to(200)[3]
o.sendall(frame(0x04, struct.pack("<IHH", ip(ECHO_ADDR), ECHO_PORT, 0), req=201, sock=tid))
check(status(orr.reply_to(201)) == 0, "CONNECT accepted during the flood")
credit = 0
while True:
    f = orr.next()
    if f is None or f[3] == tid and f[0] in (0x51, 0x53):
        break
check(f is not None and f[0] == 0x51, "TCP connection established through the stack during the flood")
credit = struct.unpack("<I", f[4][8:12])[0] if f and f[0] == 0x51 else 0
msg = b"round-trip-during-flood\n"
echoed = b""
if credit >= len(msg):
    o.sendall(frame(0x20, msg, sock=tid))
    while len(echoed) < len(msg):
        f = orr.next()
        if f is None:
            break
        if f[0] == 0x20 and f[3] == tid:
            echoed += f[4]
check(echoed == msg, "echo round trip through the stack during the flood: %r" % echoed)
o.sendall(frame(0x01, bytes([2, 0, 0, 0]), req=300))
uid = orr.reply_to(300)[3]
o.sendall(frame(0x02, struct.pack("<IHH", 0, MARK_PORT, 0), req=301, sock=uid))
check(status(orr.reply_to(301)) == 0, "UDP bind served during the flood")
at_bind = done["n"]

th.join(120)
check(done["err"] is None and done["n"] == N, "all %d LIST_CONNS answered (%s)" % (N, done["err"] or "%d" % done["n"]))
ports = set()
last = done["last"] or b""
for k in range(0, len(last), 80):
    r = last[k:k + 80]
    if r[0] == 17:
        ports.add(struct.unpack("<H", r[24:26])[0])
check(MARK_PORT in ports and all(21000 + i in ports for i in range(20)),
      "the flood's last listing shows the port bound after the flood was sent "
      "(the other client was served first; %d of %d listings were read by then)" % (at_bind, N))
for s in idle + [o, flood, holder]:
    s.close()
print("rawflood: %d failure(s)" % fails)
sys.exit(1 if fails else 0)
