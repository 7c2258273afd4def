#!/usr/bin/env python3
"""Kernel-side clients for the memory-bound test and bench (issue 10 item 2).

  hoard HOST PORT N READY GO [BYTES]  N connections that never read (4 KiB receive
        buffers, 16 KiB send buffers); each sends up to BYTES (default 262144) without blocking. Writes
        "connected K sent B" to READY once sending makes no more progress, then holds
        every connection until the file GO is removed, and closes them all (unread data:
        the kernel resets them).
  echo HOST PORT BYTES                 sends BYTES of a pattern to an echo service and
        verifies every byte that comes back; exit status 0 when all did.
"""
import os
import resource
import select
import socket
import sys
import time


def hoard(host, port, n, ready, go, nbytes):
    resource.setrlimit(resource.RLIMIT_NOFILE, (n + 100, n + 100))
    socks = []
    for i in range(n):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)  # the rest waits in MiniTCP
        s.setblocking(False)
        try:
            s.connect((host, port))
        except BlockingIOError:
            pass
        socks.append(s)
        if i % 200 == 199:
            time.sleep(0.02)  # do not overrun the listen queue
    deadline = time.time() + 60
    pending = set(range(n))
    while pending and time.time() < deadline:
        p = select.poll()
        for i in pending:
            p.register(socks[i], select.POLLOUT)
        for fd, _ in p.poll(500):
            for i in list(pending):
                if socks[i].fileno() == fd:
                    pending.discard(i)
                    break
    ok = [s for s in socks if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0]
    chunk = b"\x5a" * 65536
    sent = [0] * len(ok)
    idle_since = time.time()
    while time.time() - idle_since < 2:
        progress = False
        for i, s in enumerate(ok):
            if sent[i] >= nbytes:
                continue
            try:
                k = s.send(chunk[: min(len(chunk), nbytes - sent[i])])
                sent[i] += k
                progress = progress or k > 0
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                sent[i] = nbytes
        if progress:
            idle_since = time.time()
        else:
            time.sleep(0.1)
    with open(ready + ".tmp", "w") as f:
        f.write("connected %d sent %d\n" % (len(ok), sum(sent)))
    os.rename(ready + ".tmp", ready)
    while os.path.exists(go):
        time.sleep(0.1)
    for s in socks:
        s.close()
    print("closed", len(socks))
    return True


def echo(host, port, nbytes):
    s = socket.create_connection((host, port), timeout=30)
    data = bytes((i * 7 + (i >> 8)) & 0xFF for i in range(nbytes))
    s.setblocking(False)
    got = bytearray()
    off = 0
    deadline = time.time() + 60
    while len(got) < nbytes and time.time() < deadline:
        want = select.POLLIN | (select.POLLOUT if off < nbytes else 0)
        p = select.poll()
        p.register(s, want)
        for _, ev in p.poll(1000):
            if ev & select.POLLOUT and off < nbytes:
                try:
                    off += s.send(data[off : off + 65536])
                except BlockingIOError:
                    pass
            if ev & select.POLLIN:
                try:
                    c = s.recv(65536)
                except BlockingIOError:
                    continue
                if not c:
                    deadline = 0
                    break
                got += c
    s.close()
    print("echoed %d of %d bytes, %s" % (len(got), nbytes, "intact" if got == data else "DIFFERENT"))
    return bytes(got) == data


if __name__ == "__main__":
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "hoard":
        ok = hoard(a[0], int(a[1]), int(a[2]), a[3], a[4], int(a[5]) if len(a) > 5 else 262144)
    elif cmd == "echo":
        ok = echo(a[0], int(a[1]), int(a[2]))
    else:
        sys.exit(__doc__)
    sys.exit(0 if ok else 1)
