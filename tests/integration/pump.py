#!/usr/bin/env python3
"""Kernel TCP clients for test_datapath.sh (run inside the namespace).
  pump.py sink ADDR PORT BYTES        send BYTES (pattern i mod 256), half-close, await close
  pump.py source ADDR PORT BYTES      read BYTES, verify byte i == i mod 256
  pump.py echo ADDR PORT BYTES        send and read back BYTES concurrently, verify
  pump.py rr ADDR PORT COUNT          COUNT 1-byte requests, each answered before the next
  pump.py stuck ADDR PORT FILE        send until the peer's window stays shut 2 s, write the
                                      count to FILE, wait for FILE.go, send 1 MB more, close
A transfer with no progress for 20 s fails ("stalled")."""
import os, selectors, socket, sys, time

mode, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
PAT = bytes(range(256)) * 1024  # 256 KiB, phase-aligned chunks slice out of it
CH = 128 * 1024
STALL = 20


def chunk(pos, n):
    o = pos % 256
    return PAT[o:o + n]


def fail(msg):
    print("FAIL", msg, flush=True)
    sys.exit(1)


s = socket.create_connection((addr, port), timeout=STALL)
t0 = time.time()
if mode == "sink":
    total, pos = int(sys.argv[4]), 0
    while pos < total:
        try:
            pos += s.send(chunk(pos, min(CH, total - pos)))
        except socket.timeout:
            fail(f"sink stalled at {pos}")
    s.shutdown(socket.SHUT_WR)
    if s.recv(1) != b"":
        fail("data from a discard server")
elif mode == "source":
    total, pos = int(sys.argv[4]), 0
    while pos < total:
        try:
            b = s.recv(min(CH, total - pos))
        except socket.timeout:
            fail(f"source stalled at {pos}")
        if not b:
            fail(f"source ended at {pos}")
        if b != chunk(pos, len(b)):
            fail(f"source pattern mismatch near {pos}")
        pos += len(b)
elif mode == "echo":
    total, sent, got = int(sys.argv[4]), 0, 0
    s.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
    last = time.time()
    while got < total:
        ev = sel.select(1)
        if time.time() - last > STALL:
            fail(f"echo stalled: sent {sent} got {got}")
        for _, m in ev:
            if m & selectors.EVENT_WRITE and sent < total:
                try:
                    n = s.send(chunk(sent, min(CH, total - sent)))
                    sent += n
                    last = time.time()
                except BlockingIOError:
                    pass
                if sent == total:
                    sel.modify(s, selectors.EVENT_READ)
            if m & selectors.EVENT_READ:
                try:
                    b = s.recv(CH)
                except BlockingIOError:
                    continue
                if not b:
                    fail(f"echo ended at {got}")
                if b != chunk(got, len(b)):
                    fail(f"echo mismatch near {got}")
                got += len(b)
                last = time.time()
elif mode == "rr":
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(int(sys.argv[4])):
        b = bytes([i % 256])
        s.sendall(b)
        r = s.recv(1)
        if r != b:
            fail(f"rr: request {i}: sent {b!r}, got {r!r}")
elif mode == "stuck":
    path = sys.argv[4]
    s.settimeout(2)
    pos = 0
    while True:
        try:
            pos += s.send(chunk(pos, CH))
        except socket.timeout:
            break
    with open(path + ".tmp", "w") as f:
        f.write(str(pos))
    os.rename(path + ".tmp", path)
    while not os.path.exists(path + ".go"):
        time.sleep(0.05)
    s.settimeout(STALL)
    end = pos + 1000000
    while pos < end:
        try:
            pos += s.send(chunk(pos, min(CH, end - pos)))
        except socket.timeout:
            fail(f"stuck: no progress after the reader resumed, at {pos}")
    s.shutdown(socket.SHUT_WR)
    s.recv(1)
    print(f"stuck ok: {pos} bytes")
    sys.exit(0)
dt = time.time() - t0
print(f"{mode} ok: {int(sys.argv[4])} bytes in {dt:.1f} s, {int(sys.argv[4]) * 8 / dt / 1e6:.0f} Mbit/s", flush=True)
