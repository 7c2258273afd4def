#!/usr/bin/env python3
"""Under minitcp-run: what a program sees when minitcpd goes away.

Usage: preload_daemon_gone.py HOST ECHO_PORT LISTEN_PORT. Sets up a connection and a
listener, prints "ready", waits for a line on stdin (sent after the daemon was killed),
then checks the errors. Exits 1 if any check failed."""
import errno
import select
import socket
import sys

HOST, ECHO, LPORT = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fails = 0


def check(desc, cond, detail=""):
    global fails
    print(("ok   - " if cond else "FAIL - ") + desc + (f" ({detail})" if detail else ""), flush=True)
    if not cond:
        fails += 1


def err_of(fn):
    try:
        fn()
    except OSError as e:
        return e.errno
    return 0


c = socket.create_connection((HOST, ECHO), timeout=10)
c.sendall(b"before")
check("the connection works before", c.recv(6) == b"before")
ls = socket.socket()
ls.bind(("0.0.0.0", LPORT))
ls.listen(4)
print("ready", flush=True)
sys.stdin.readline()

r, _, _ = select.select([c], [], [], 10)
check("the connection becomes readable when the daemon is gone", r == [c])
check("recv: ECONNABORTED", err_of(lambda: c.recv(10)) == errno.ECONNABORTED)
check("then recv returns EOF", c.recv(10) == b"")
check("send: EPIPE", err_of(lambda: c.send(b"x")) == errno.EPIPE)
c.close()
r, _, _ = select.select([ls], [], [], 10)
check("the listener becomes readable", r == [ls])
check("accept: ECONNABORTED", err_of(lambda: ls.accept()) == errno.ECONNABORTED)
ls.close()
n = socket.socket()
e = err_of(lambda: n.connect((HOST, ECHO)))
check("a new connect: ENETDOWN (no daemon)", e == errno.ENETDOWN, errno.errorcode.get(e, e))
n.close()
sys.exit(1 if fails else 0)
