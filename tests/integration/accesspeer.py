#!/usr/bin/env python3
"""A client of minitcpd written frame by frame, for the access-control test. Prints one
line per answer, the status as its errno name.
  accesspeer.py SOCK bind PORT          SOCKET, BIND PORT (stream), LISTEN when allowed
  accesspeer.py SOCK hold PORT          as bind, then prints "id N" and waits for ACCEPTED
  accesspeer.py SOCK touch ID           BIND, LISTEN, SETOPT, GETOPT, CLOSE on socket ID
  accesspeer.py SOCK list PORT          the listing's records on local PORT: uid pid sock_id
  accesspeer.py SOCK capture            a capture request: its status"""
import socket, struct, sys

NAMES = {0: "OK", 2: "EBADF", 10: "EMFILE", 26: "EACCES", 27: "EPERM"}
path, cmd, arg = sys.argv[1], sys.argv[2], (sys.argv[3] if len(sys.argv) > 3 else "0")
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
s.settimeout(10)
req = 0


def send(t, payload=b"", sock=0):
    global req
    req += 1
    s.sendall(struct.pack("<BBBBHHIII", 0x4D, 0x54, 1, t, 0, 0, req, sock, len(payload)) + payload)
    return req


def frame():
    def exact(n):
        b = b""
        while len(b) < n:
            c = s.recv(n - len(b))
            if not c:
                sys.exit("daemon closed the connection")
            b += c
        return b
    _, _, _, t, flags, _, rq, sid, n = struct.unpack("<BBBBHHIII", exact(20))
    return t, flags, rq, sid, exact(n)


def answer(r):
    while True:
        f = frame()
        if f[2] == r:
            return f


def status(f):
    return NAMES.get(struct.unpack("<I", f[4][:4])[0], str(struct.unpack("<I", f[4][:4])[0]))


if cmd in ("bind", "hold"):
    f = answer(send(0x01, bytes([1, 0, 0, 0])))
    sid = f[3]
    st = status(answer(send(0x02, struct.pack("<IHH", 0, int(arg), 0), sid)))
    print("bind", st, flush=True)
    if st == "OK":
        print("listen", status(answer(send(0x03, struct.pack("<I", 8), sid))), flush=True)
    if cmd == "hold":
        print("id", sid, flush=True)
        s.settimeout(60)
        while True:
            f = frame()
            if f[0] == 0x50 and f[3] == sid:
                print("accepted", flush=True)
                break
elif cmd == "touch":
    sid = int(arg)
    print("bind", status(answer(send(0x02, struct.pack("<IHH", 0, 9999, 0), sid))))
    print("listen", status(answer(send(0x03, struct.pack("<I", 8), sid))))
    print("setopt", status(answer(send(0x07, struct.pack("<Ii", 1, 1), sid))))
    print("getopt", status(answer(send(0x08, struct.pack("<I", 1), sid))))
    print("close", status(answer(send(0x06, b"", sid))))
elif cmd == "list":
    r = send(0x11)
    while True:
        f = answer(r)
        p = f[4]
        for off in range(0, len(p), 160):
            rec = p[off:off + 160]
            if struct.unpack("<H", rec[24:26])[0] == int(arg):
                pid, uid, sock_id = struct.unpack("<III", rec[68:80])
                print("uid", uid, "pid", pid, "sock_id", sock_id)
        if not f[1] & 1:
            break
elif cmd == "capture":
    print("capture", status(answer(send(0x13, struct.pack("<IHBBI", 0, 0, 0, 0, 0)))))
