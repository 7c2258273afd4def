#!/usr/bin/env python3
"""chat_server's peers for test_chat.sh (kernel TCP, run inside the test namespace). Each
scenario synchronizes on chat_server's log (LOG), never on sleeps, and exits 0 on success.

  silent HOST PORT LOG           a silent connection joins after the grace period and gets
                                 the lines written after that, none of the ones before
  latehttp HOST PORT LOG         connections that joined silently and then send an HTTP
                                 request get exactly the reply (after the chat bytes already
                                 read, if any); the members never see the request
  timeouts HOST PORT LOG         an unfinished HTTP head and an undecided prefix are closed
                                 at the header timeout, a silent member at the idle timeout
  lockout HOST PORT LOG PER MAX  idle floods from one address (PER each at most, MAX in all)
                                 cannot lock out curl from the same or another address
  queuecap HOST PORT LOG         a member that never reads is disconnected at the total
                                 queue cap while a reading member gets every line
"""
import re
import select
import socket
import subprocess
import sys
import threading
import time

HTTP_REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n"


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def log_has(log, regex):
    return re.search(regex, open(log).read(), re.M) is not None


def wait_log(log, regex, secs=15):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        if log_has(log, regex):
            return
        time.sleep(0.02)
    fail("timeout waiting for /%s/ in the chat_server log" % regex)


def tag(s):
    a, p = s.getsockname()
    return r"client %s:%d " % (re.escape(a), p)


def connect(host, port, src=None, rcvbuf=None):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if src:
        s.bind((src, 0))
    s.settimeout(10)
    s.connect((host, port))
    return s


def read_line(s, buf=b""):
    s.settimeout(10)
    while b"\n" not in buf:
        d = s.recv(65536)
        if not d:
            fail("connection closed while waiting for a line (got %r)" % buf)
        buf += d
    line, rest = buf.split(b"\n", 1)
    return line + b"\n", rest


def ended(s, secs=15):
    """True when the server closes s (EOF or RST) within secs; data before that is skipped."""
    s.settimeout(secs)
    try:
        while s.recv(65536):
            pass
    except ConnectionResetError:
        pass
    except socket.timeout:
        return False
    return True


def silent(host, port, log):
    sp = connect(host, port)
    sp.sendall(b"s-hello\n")  # joins at once: it spoke
    if read_line(sp)[0] != b"s-hello\n":
        fail("the speaker's own line was not echoed")
    q = connect(host, port)
    wait_log(log, tag(q) + "connected$")
    sp.sendall(b"early\n")
    if read_line(sp)[0] != b"early\n":
        fail("early line not echoed")
    if log_has(log, tag(q) + "joined"):
        fail("the silent connection joined before the early line: grace too short to test")
    wait_log(log, tag(q) + r"joined the chat \(silent")
    sp.sendall(b"late\n")
    if read_line(sp)[0] != b"late\n":
        fail("late line not echoed")
    got, _ = read_line(q)
    print("silent member's first line: %r" % got)
    if got != b"late\n":
        fail("the silent member got %r first, want b'late\\n' (nothing from before it joined)" % got)
    q.sendall(b"q-speaks\n")
    for s in (q, sp):
        if read_line(s)[0] != b"q-speaks\n":
            fail("the joined member's own line did not reach everyone")
    # an HTTP client on the same port is still answered, after the silent one joined
    h = connect(host, port)
    h.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    h.settimeout(10)
    data = b""
    while True:
        d = h.recv(4096)
        if not d:
            break
        data += d
    if data != HTTP_REPLY:
        fail("HTTP reply %r" % data)
    print("ok")


def read_all(s):
    s.settimeout(10)
    data = b""
    while True:
        d = s.recv(4096)
        if not d:
            return data
        data += d


def latehttp(host, port, log):
    sp = connect(host, port)
    sp.sendall(b"m-hello\n")  # a member at once: it spoke
    if read_line(sp)[0] != b"m-hello\n":
        fail("the member's own line was not echoed")
    q1, q2 = connect(host, port), connect(host, port)
    for q in (q1, q2):  # the server's log shows the grace join; no sleep stands in for it
        wait_log(log, tag(q) + r"joined the chat \(silent")
    # q1: nothing was written to it since it joined, so the reply is all it gets
    q1.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    got = read_all(q1)
    print("late HTTP, no chat sent to it: %r" % got)
    if got != HTTP_REPLY:
        fail("late HTTP client got %r, want exactly the 200 OK reply" % got)
    wait_log(log, tag(q1) + r"left the chat \(its first bytes are an HTTP request\)$", 5)
    sp.sendall(b"after-1\n")
    line = read_line(sp)[0]
    if line != b"after-1\n":
        fail("the member got %r before its own line: the request went out as chat" % line)
    # q2 has read a chat line already (the documented limitation): the reply follows it
    line = read_line(q2)[0]
    if line != b"after-1\n":
        fail("the silent member's first line is %r, want b'after-1\\n'" % line)
    q2.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    got = read_all(q2)
    print("late HTTP after a chat line: %r" % got)
    if got != HTTP_REPLY:
        fail("late HTTP client (chat already read) got %r, want exactly the reply" % got)
    wait_log(log, tag(q2) + r"left the chat \(.*chat bytes were already sent to it\)$", 5)
    sp.sendall(b"after-2\n")
    line = read_line(sp)[0]
    if line != b"after-2\n":
        fail("the member got %r before its own line: the request went out as chat" % line)
    print("ok")


def timeouts(host, port, log):
    part = connect(host, port)
    part.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # the empty line never comes
    pre = connect(host, port)
    pre.sendall(b"GE")  # still a method prefix: undecided
    quiet = connect(host, port)
    for name, s, why in (("unfinished HTTP head", part, "header timeout"),
                         ("undecided prefix", pre, "header timeout"),
                         ("silent member", quiet, "idle timeout")):
        if not ended(s):
            fail("%s: not closed by the server" % name)
        wait_log(log, tag(s) + r"closed \(.*%s" % why, 5)
        print("%s: closed (%s)" % (name, why))
    print("ok")


def open_idle(host, port, src, n):
    return [connect(host, port, src) for _ in range(n)]


def count_open(socks):
    """Sockets the server has not closed; reads and drops anything pending."""
    n = 0
    for s in socks:
        if s.fileno() < 0:
            continue
        r, _, _ = select.select([s], [], [], 0)
        if r:
            try:
                if not s.recv(65536):
                    s.close()
                    continue
            except ConnectionResetError:
                s.close()
                continue
        n += 1
    return n


def settle(socks, want, what, secs=20):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        n = count_open(socks)
        if n == want:
            return
        time.sleep(0.05)
    fail("%s: %d connections still open, want %d" % (what, count_open(socks), want))


def curl(host, port, src):
    r = subprocess.run(["curl", "-s", "-i", "-m", "10", "--interface", src,
                        "http://%s:%d/" % (host, port)], capture_output=True)
    return r.returncode == 0 and r.stdout == HTTP_REPLY


def lockout(host, port, log, per, cap):
    per, cap = int(per), int(cap)
    a = open_idle(host, port, "10.0.0.1", 300)
    for s in a[-1:]:
        wait_log(log, tag(s) + "connected$")
    settle(a, per, "300 idle from 10.0.0.1 at the per-address cap %d" % per)
    print("300 idle connections from 10.0.0.1: %d kept" % per)
    b = open_idle(host, port, "10.0.0.4", cap - per + 10)
    wait_log(log, tag(b[-1]) + "connected$")
    settle(b, cap - per + 10, "10.0.0.4 (under its cap)")
    settle(a, per - 10, "10.0.0.1 after 10.0.0.4 filled the table (cap %d)" % cap)
    print("%d more from 10.0.0.4: 10.0.0.1 keeps %d, 10.0.0.4 %d" % (cap - per + 10, per - 10,
                                                                    cap - per + 10))
    for src in ("10.0.0.3", "10.0.0.1", "10.0.0.4"):
        if not curl(host, port, src):
            fail("curl from %s was not served while the idle connections are held" % src)
        print("curl from %s: 200 OK" % src)
    print("ok")


def queuecap(host, port, log):
    r = connect(host, port)
    n = connect(host, port, rcvbuf=4096)
    sp = connect(host, port)
    r.sendall(b"hi-r\n")
    read_line(r)
    n.sendall(b"hi-n\n")  # joins, then never reads again
    wait_log(log, tag(n) + "joined")
    sp.sendall(b"hi-s\n")
    read_line(sp)
    count, total = 6000, [0]
    lines = [b"line-%05d " % i + b"x" * 88 + b"\n" for i in range(count)]
    got_r = []

    def reader():
        buf = b""
        r.settimeout(20)
        while len(got_r) < count:
            d = r.recv(65536)
            if not d:
                return
            buf += d
            *done, buf = buf.split(b"\n")
            got_r.extend(x + b"\n" for x in done if x.startswith(b"line-"))

    t = threading.Thread(target=reader)
    t.start()
    sbuf, echoed = b"", 0
    for i in range(0, count, 20):
        sp.sendall(b"".join(lines[i:i + 20]))
        while echoed < i + 20:  # lock-step: the sender's echo and the reader keep up
            line, sbuf = read_line(sp, sbuf)
            echoed += line.startswith(b"line-")
        end = time.monotonic() + 10
        while len(got_r) < i and time.monotonic() < end and t.is_alive():
            time.sleep(0.001)
    t.join(30)
    print("reader got %d of %d lines" % (len(got_r), count))
    if got_r != lines:
        fail("the reading member did not get every line in order")
    wait_log(log, tag(n) + r"disconnected \(total queue cap", 5)
    n.setblocking(True)
    n.settimeout(10)
    data = b""
    try:
        while True:
            d = n.recv(65536)
            if not d:
                break
            data += d
    except ConnectionResetError:
        pass
    got_n = [x + b"\n" for x in data.split(b"\n")[:-1] if x.startswith(b"line-")]
    print("never-reading member: %d lines buffered before it was disconnected" % len(got_n))
    if not 0 < len(got_n) < count or got_n != lines[:len(got_n)]:
        fail("the never-reading member's bytes are not a strict prefix of the lines")
    print("ok")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    args[1] = int(args[1])
    {"silent": silent, "latehttp": latehttp, "timeouts": timeouts, "lockout": lockout, "queuecap": queuecap}[cmd](*args)
