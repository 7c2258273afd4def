#!/usr/bin/env python3
"""Kernel-side TCP clients for the integration tests (run inside the test namespace).

  chat2 HOST PORT            two chat clients: each sees its own line echoed and the other's
  concurrent HOST PORT N     N clients at once, half chat and half HTTP, all must be served
                             (the HTTP ones connect together and send their request at once,
                             as curl does)
  churn HOST PORT N [SLICE]  N sequential connect/GET/read/close cycles; prints the rate per
                             slice of SLICE connections; fails on any error
  hold HOST PORT FILE        connects, sends a line, creates FILE, waits until FILE is removed
"""
import os
import socket
import sys
import threading
import time

HTTP_REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n"


def recv_until(s, n=None, term=None, timeout=5.0):
    s.settimeout(timeout)
    buf = b""
    while True:
        if n is not None and len(buf) >= n:
            return buf
        if term is not None and term in buf:
            return buf
        chunk = s.recv(65536)
        if not chunk:
            return buf
        buf += chunk


class Lines:
    def __init__(self, sock):
        self.s, self.buf = sock, b""

    def next(self, skip=b"ping-"):
        self.s.settimeout(5)
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                if not line.startswith(skip):
                    return line + b"\n"
            chunk = self.s.recv(65536)
            if not chunk:
                return self.buf
            self.buf += chunk


def chat2(host, port):
    # Each client first makes a round trip so the server has surely accepted it before
    # the other speaks (a line goes only to clients already connected).
    a = socket.create_connection((host, port), timeout=5)
    la = Lines(a)
    a.sendall(b"ping-a\n")
    la.next(skip=b"\0")
    b = socket.create_connection((host, port), timeout=5)
    lb = Lines(b)
    b.sendall(b"ping-b\n")
    lb.next(skip=b"\0")
    a.sendall(b"hello from a\n")
    got = [la.next(), lb.next()]
    b.sendall(b"hello from b\n")
    got += [lb.next(), la.next()]
    a.close()
    b.close()
    print("a, b got:", got)
    return got == [b"hello from a\n"] * 2 + [b"hello from b\n"] * 2


def one_http(host, port):
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    data = recv_until(s, timeout=10)
    s.close()
    return data == HTTP_REPLY


def concurrent(host, port, n):
    results = [False] * n
    barrier = threading.Barrier(n)

    def worker(i):
        try:
            if i % 2:
                results[i] = one_http_after(barrier, host, port)
            else:
                s = socket.create_connection((host, port), timeout=10)
                barrier.wait(timeout=30)
                line = b"client %d\n" % i
                s.sendall(line)
                got = b""
                s.settimeout(10)
                # other clients' lines arrive too; wait for our own echo
                while line not in got:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    got += chunk
                s.close()
                results[i] = line in got
        except Exception as e:  # noqa: BLE001 - report every failure
            print("client", i, "failed:", repr(e))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("served", sum(results), "of", n)
    return all(results)


def one_http_after(barrier, host, port):
    # released together, then connect and request at once: waiting between the two would
    # test the server's grace period (test_chat.sh does that), not concurrency
    barrier.wait(timeout=30)
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    data = recv_until(s, timeout=10)
    s.close()
    return data == HTTP_REPLY


def churn(host, port, n, slice_n):
    fails = 0
    rates = []
    t0 = time.monotonic()
    for i in range(n):
        try:
            if not one_http(host, port):
                fails += 1
                print("connection", i, "got a wrong reply")
        except Exception as e:  # noqa: BLE001
            fails += 1
            print("connection", i, "failed:", repr(e))
        if (i + 1) % slice_n == 0:
            t1 = time.monotonic()
            rates.append(slice_n / (t1 - t0))
            t0 = t1
    print("rates", " ".join("%.0f" % r for r in rates))
    print("failures", fails)
    return fails == 0


def hold(host, port, path):
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(b"holding\n")
    recv_until(s, term=b"\n")
    open(path, "w").close()
    while os.path.exists(path):
        time.sleep(0.05)
    s.close()
    return True


def main():
    cmd, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if cmd == "chat2":
        ok = chat2(host, port)
    elif cmd == "concurrent":
        ok = concurrent(host, port, int(sys.argv[4]))
    elif cmd == "churn":
        ok = churn(host, port, int(sys.argv[4]), int(sys.argv[5]) if len(sys.argv) > 5 else 5000)
    elif cmd == "hold":
        ok = hold(host, port, sys.argv[4])
    else:
        print(__doc__)
        ok = False
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
