#!/usr/bin/env python3
"""A live-capture reader that stops reading: asks for a capture, says "started", waits for
GO_FILE to exist without reading a byte, then reads everything, stops the capture and
prints: records N, last_drops D, reply_packets P, reply_drops Q.
Usage: slowcapture.py SOCK GO_FILE"""
import os, socket, struct, sys, time

path, go = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
s.connect(path)
s.settimeout(30)


def send(t, payload=b"", req=0):
    s.sendall(struct.pack("<BBBBHHIII", 0x4D, 0x54, 1, t, 0, 0, req, 0, len(payload)) + payload)


buf = b""


def frame():
    global buf
    while True:
        if len(buf) >= 20:
            n = struct.unpack("<I", buf[16:20])[0]
            if len(buf) >= 20 + n:
                f = buf[:20 + n]
                buf = buf[20 + n:]
                return f[3], struct.unpack("<I", f[8:12])[0], f[20:]
        c = s.recv(1 << 20)
        if not c:
            sys.exit("daemon closed the connection")
        buf += c


send(0x13, struct.pack("<IHBBI", 0, 0, 0, 0, 0), req=1)
t, req, p = frame()
assert t == 0x40 and req == 1 and struct.unpack("<I", p[:4])[0] == 0, (t, req, p)
print("started", flush=True)
while not os.path.exists(go):
    time.sleep(0.05)  # the reader is slow on purpose: nothing is read meanwhile
send(0x14, req=2)
records = last_drops = 0
while True:
    t, req, p = frame()
    if t == 0x24:
        last_drops = struct.unpack("<I", p[:4])[0]
        off = 8
        while off < len(p):
            caplen = struct.unpack("<I", p[off + 8:off + 12])[0]
            off += 16 + caplen
            records += 1
        assert off == len(p), "records end with the frame"
    elif t == 0x40 and req == 2:
        st, pk, dr = struct.unpack("<III", p[:12])
        assert st == 0, st
        print(f"records {records} last_drops {last_drops} reply_packets {pk} reply_drops {dr}",
              flush=True)
        break
