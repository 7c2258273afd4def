#!/usr/bin/env python3
"""Socket semantics of a program under minitcp-run, against a kernel echo server.

Usage (under minitcp-run, in the test's namespace): preload_semantics.py HOST ECHO_PORT
CLOSED_PORT. Prints one "ok"/"FAIL" line per check; exits 1 if any failed."""
import ctypes
import errno
import fcntl
import os
import select
import socket
import struct
import sys
import termios

HOST, ECHO, CLOSED = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
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


def recv_exact(s, n):
    b = bytearray()
    while len(b) < n:
        d = s.recv(n - len(b))
        if not d:
            break
        b += d
    return bytes(b)


# a non-blocking connect to a closed port: poll reports the end, SO_ERROR says why
s = socket.socket()
s.setblocking(False)
e = err_of(lambda: s.connect((HOST, CLOSED)))
check("non-blocking connect returns EINPROGRESS", e == errno.EINPROGRESS, errno.errorcode.get(e, e))
p = select.poll()
p.register(s, select.POLLOUT)
ev = p.poll(5000)
check("poll reports POLLOUT|POLLERR for a refused connect",
      ev and ev[0][1] & select.POLLOUT and ev[0][1] & select.POLLERR, ev)
so = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
check("SO_ERROR is ECONNREFUSED, then 0", so == errno.ECONNREFUSED and
      s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0, so)
s.close()

# a blocking connect to a closed port fails at once with ECONNREFUSED
s = socket.socket()
e = err_of(lambda: s.connect((HOST, CLOSED)))
check("blocking connect to a closed port: ECONNREFUSED", e == errno.ECONNREFUSED, e)
s.close()

# a non-blocking connect that succeeds: not writable before, writable after, SO_ERROR 0
s = socket.socket()
s.setblocking(False)
e = err_of(lambda: s.connect((HOST, ECHO)))
_, w, _ = select.select([], [s], [], 5)
check("select: a non-blocking connect becomes writable", w == [s])
check("SO_ERROR 0 after a good connect", s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0)
check("connect again: EISCONN", err_of(lambda: s.connect((HOST, ECHO))) == errno.EISCONN)
la, pa = s.getsockname(), s.getpeername()
check("getsockname is MiniTCP's address with a port", la[0] == "10.0.0.2" and la[1] > 0, la)
check("getpeername is the server", pa == (HOST, ECHO), pa)
check("SO_TYPE/SO_DOMAIN/SO_PROTOCOL say TCP over IPv4",
      (s.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE), s.getsockopt(socket.SOL_SOCKET, socket.SO_DOMAIN),
       s.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL)) == (socket.SOCK_STREAM, socket.AF_INET, 6))
check("recv on an empty non-blocking socket: EAGAIN", err_of(lambda: s.recv(10)) == errno.EAGAIN)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
check("TCP_NODELAY reads back 1", s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
check("SO_KEEPALIVE reads back 1", s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 30)
check("TCP_KEEPIDLE reads back 30", s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 30)
check("TCP_KEEPIDLE 0: EINVAL",
      err_of(lambda: s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 0)) == errno.EINVAL)
check("an unknown TCP option: ENOPROTOOPT",
      err_of(lambda: s.setsockopt(socket.IPPROTO_TCP, 4242, 1)) == errno.ENOPROTOOPT)
check("TCP_CONGESTION cubic is accepted, bogus is ENOENT",
      err_of(lambda: s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b"cubic")) == 0 and
      err_of(lambda: s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b"bogus")) == errno.ENOENT)
cc = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16).rstrip(b"\0")
check("TCP_CONGESTION reads back cubic", cc == b"cubic", cc)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 5))
check("SO_LINGER reads back (1, 5)",
      struct.unpack("ii", s.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8)) == (1, 5))
check("accept on a connected socket: EINVAL", err_of(lambda: s.accept()) == errno.EINVAL)
check("listen on a connected socket: EINVAL", err_of(lambda: s.listen(5)) == errno.EINVAL)
s.setblocking(True)

# data: write/read, readv/writev, sendmsg/recvmsg, FIONREAD, sendfile, dup
payload = bytes(range(256)) * 64
s.sendall(payload)
check("send/recv 16 KiB echoed byte-exact", recv_exact(s, len(payload)) == payload)
n = os.writev(s.fileno(), [b"abc", b"defg"])
buf1, buf2 = bytearray(3), bytearray(4)
got = 0
while got < 7:
    got += os.readv(s.fileno(), [memoryview(buf1)[min(got, 3):], memoryview(buf2)[max(got - 3, 0):]])
check("writev/readv", n == 7 and bytes(buf1 + buf2) == b"abcdefg")
s.sendmsg([b"msg", b"-", b"parts"])
data = recv_exact(s, 9)
check("sendmsg with iovecs echoed", data == b"msg-parts", data)
s.sendall(b"0123456789")
select.select([s], [], [], 5)
pending = 0
for _ in range(50):
    pending = struct.unpack("i", fcntl.ioctl(s.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]
    if pending == 10:
        break
    select.select([s], [], [], 0.1)
check("FIONREAD counts the echoed bytes", pending == 10, pending)
d, anc, flags, _ = s.recvmsg(10)
check("recvmsg reads them", d == b"0123456789", d)
import tempfile
with tempfile.TemporaryFile() as f:
    head = os.urandom(100000)
    f.write(head)
    f.flush()
    sent = 0
    while sent < 100000:  # like any caller: sendfile may move less than asked
        n = os.sendfile(s.fileno(), f.fileno(), sent, 100000 - sent)
        if n <= 0:
            break
        sent += n
back = recv_exact(s, sent)
check("sendfile of 100000 bytes echoed", sent == 100000 and back == head[:sent], f"sent {sent} got {len(back)} same {back == head[:len(back)]}")
d2 = os.dup(s.fileno())
t = socket.socket(fileno=d2)
check("a dup has the same names", t.getpeername() == pa and t.getsockname() == la)
t.sendall(b"via dup")
check("a dup carries data", recv_exact(s, 7) == b"via dup")
t.detach()
os.close(d2)
s.sendall(b"still")
check("the original works after the dup is closed", recv_exact(s, 5) == b"still")

# shutdown(SHUT_WR): the echo server sees EOF and closes, we read EOF
s.shutdown(socket.SHUT_WR)
check("send after SHUT_WR: EPIPE", err_of(lambda: s.send(b"x")) == errno.EPIPE)
check("EOF after the server closed", s.recv(10) == b"")
s.close()

# a descriptor closed behind the library's back does not disturb the other sockets
a = socket.create_connection((HOST, ECHO), timeout=10)
b = socket.create_connection((HOST, ECHO), timeout=10)
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall(3, a.detach())  # SYS_close, not close(): the library never hears of it
c = socket.create_connection((HOST, ECHO), timeout=10)
b.sendall(b"b-data")
c.sendall(b"c-data")
check("after a close behind our back the other sockets carry their own bytes",
      recv_exact(b, 6) == b"b-data" and recv_exact(c, 6) == b"c-data")
b.close()
c.close()

# fork: the child uses the parent's connection and one of its own; exec honours CLOEXEC
s = socket.create_connection((HOST, ECHO), timeout=10)
pid = os.fork()
if pid == 0:
    try:
        s.sendall(b"from child")
        own = socket.create_connection((HOST, ECHO), timeout=10)
        own.sendall(b"own")
        ok = recv_exact(own, 3) == b"own"
        own.close()
        os._exit(0 if ok else 3)
    except Exception:
        os._exit(4)
_, st = os.waitpid(pid, 0)
check("a forked child opens and uses a connection of its own", os.WEXITSTATUS(st) == 0, st)
check("a forked child's bytes on the parent's connection come back",
      recv_exact(s, 10) == b"from child")
import subprocess
rc = subprocess.run([sys.executable, "-c", f"import os; os.fstat({s.fileno()})"],
                    stderr=subprocess.DEVNULL, close_fds=False).returncode
check("exec closes the close-on-exec socket", rc != 0, rc)
s.close()

# UDP: message boundaries, sender addresses, connect, errors (the kernel echoes on ECHO)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
check("a UDP socket says SOCK_DGRAM/IPPROTO_UDP",
      (u.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE), u.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL))
      == (socket.SOCK_DGRAM, 17))
check("send without a destination: EDESTADDRREQ", err_of(lambda: u.send(b"x")) == errno.EDESTADDRREQ)
sizes = [1, 1000, 1400, 0, 8000]
for n in sizes:
    u.sendto(bytes([n % 251]) * n, (HOST, ECHO))
u.settimeout(5)
got = []
for _ in sizes:
    d, a = u.recvfrom(65536)
    got.append((len(d), a))
check("five datagrams echoed whole, sizes kept, sender is the server",
      sorted(x[0] for x in got) == sorted(sizes) and all(x[1] == (HOST, ECHO) for x in got), got)
check("getsockname after the first send: a port was picked", u.getsockname()[1] > 0, u.getsockname())
u.setblocking(False)
check("recv on an empty non-blocking UDP socket: EAGAIN", err_of(lambda: u.recv(10)) == errno.EAGAIN)
u.setblocking(True)
u.connect((HOST, ECHO))
u.send(b"connected")
r, _, _ = select.select([u], [], [], 5)
check("select: the echo makes a connected UDP socket readable", r == [u])
check("connected UDP: send/recv", u.recv(100) == b"connected")
check("getpeername of a connected UDP socket", u.getpeername() == (HOST, ECHO), u.getpeername())
check("a datagram over 65507 bytes: EMSGSIZE", err_of(lambda: u.send(b"x" * 65508)) == errno.EMSGSIZE)
check("listen on a UDP socket: EOPNOTSUPP", err_of(lambda: u.listen(1)) == errno.EOPNOTSUPP)
v = u.dup()  # fcntl(F_DUPFD_CLOEXEC): the copy frames datagrams too
v.send(b"via dup")
check("a dup of a UDP socket sends and receives datagrams", u.recv(100) == b"via dup")
w = os.dup(u.fileno())
os.write(w, b"os.dup")
check("an os.dup copy of a UDP socket too", os.read(u.fileno(), 100) == b"os.dup")
os.close(w)
v.close()
u.close()

# AF_INET6 sockets are dual-stack over MiniTCP's IPv4
s6 = socket.socket(socket.AF_INET6)
s6.connect(("::ffff:" + HOST, ECHO))
s6.sendall(b"six")
check("an AF_INET6 socket reaches the IPv4 server (v4-mapped)", recv_exact(s6, 3) == b"six")
check("its getsockname is v4-mapped", s6.getsockname()[0] == "::ffff:10.0.0.2", s6.getsockname())
s6.close()

# a listener: bound to MiniTCP, accept4 flags, names
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("0.0.0.0", 7300))
ls.listen(8)
check("SO_ACCEPTCONN on the listener", ls.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1)
ls.setblocking(False)
check("non-blocking accept with nobody waiting: EAGAIN", err_of(lambda: ls.accept()) == errno.EAGAIN)
dup_ls = socket.socket()
check("a second bind of the port: EADDRINUSE",
      err_of(lambda: dup_ls.bind(("0.0.0.0", 7300))) == errno.EADDRINUSE)
dup_ls.close()
ls.close()
# listen without bind: an ephemeral port, as on Linux; a timeout set before listen holds
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 200000))
ls.listen(4)
port = ls.getsockname()[1]
check("listen without bind picks an ephemeral port", 32768 <= port < 61000, ls.getsockname())
e = err_of(lambda: ls.accept())
check("accept with SO_RCVTIMEO set before listen times out with EAGAIN", e == errno.EAGAIN, e)
ls.close()
sys.exit(1 if fails else 0)
