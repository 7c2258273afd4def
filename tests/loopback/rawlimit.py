#!/usr/bin/env python3
"""The per-uid client limit (minitcpd --max-clients-per-uid; twin_daemon runs with 3): the
clients beyond it get one EV_ERROR frame (socket 0, EUSERS) and are closed, a library
client reports 'Too many users', the refusals are counted, and a freed place is taken
again. Usage: rawlimit.py SOCK MINITCPCTL ECHO_SERVER"""
import json, os, socket, struct, subprocess, sys

SOCK, CTL, APP = sys.argv[1:4]
fails = 0


def check(ok, what):
    global fails
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    fails += 0 if ok else 1


def frame(t, payload=b"", req=0, sock=0):
    return struct.pack("<BBBBHHIII", 0x4D, 0x54, 1, t, 0, 0, req, sock, len(payload)) + payload


def recv_all(s):
    b = b""
    while True:
        c = s.recv(4096)
        if not c:
            return b
        b += c


def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(SOCK)
    s.settimeout(10)
    return s


def info_ok(s):
    s.sendall(frame(0x10, req=7))
    h = s.recv(20)
    return len(h) == 20 and h[3] == 0x41


held = [conn() for _ in range(3)]
check(all(info_ok(s) for s in held), "3 clients of one uid are served")
s4 = conn()
got = recv_all(s4)
check(got == frame(0x53, struct.pack("<I", 24)),
      "the 4th gets exactly one EV_ERROR(socket 0, EUSERS=24) frame, then EOF: %r" % got)
s4.close()
ctl = subprocess.run([CTL, "--socket", SOCK, "stats"], capture_output=True, text=True, timeout=10)
check(ctl.returncode == 1 and "refused this client: Too many users" in ctl.stderr,
      "minitcpctl beyond the limit: exit 1, '%s'" % ctl.stderr.strip())
app = subprocess.run([APP, "--port", "7777"], capture_output=True, text=True, timeout=10,
                     env=dict(os.environ, MINITCP_SOCKET=SOCK))
check(app.returncode == 1 and "Too many users" in app.stderr,
      "an app beyond the limit: exit 1, '%s'" % app.stderr.strip())
held.pop().close()
refused = 3
for _ in range(100):  # the daemon sees the close on one of its next iterations
    ctl = subprocess.run([CTL, "--socket", SOCK, "stats", "--json"], capture_output=True,
                         text=True, timeout=10)
    if ctl.returncode == 0:
        break
    refused += 1  # refused again: counted too
check(ctl.returncode == 0, "a freed place is taken again")
st = json.loads(ctl.stdout)["daemon"] if ctl.returncode == 0 else {}
check(st.get("clients_refused_uid") == refused and st.get("clients") == 3,
      "refusals counted: clients_refused_uid=%s (expected %d) clients=%s"
      % (st.get("clients_refused_uid"), refused, st.get("clients")))
for s in held:
    s.close()
print("rawlimit: %d failure(s)" % fails)
sys.exit(1 if fails else 0)
