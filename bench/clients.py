#!/usr/bin/env python3
"""Client-session figures for bench/clients.sh (issue 10 items 7 and 8).
  idle SOCK DAEMON_PID N         RSS per idle client session
  flood SOCK IDLE REQS           INFO round trips of one client while another pipelines
                                 REQS LIST_CONNS beside IDLE idle sessions
Prints one JSON line."""
import json, resource, socket, struct, sys, threading, time

resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))


def frame(t, req=0):
    return struct.pack("<BBBBHHIII", 0x4D, 0x54, 1, t, 0, 0, req, 0, 0)


def conn(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


def recv_frame(s):
    h = b""
    while len(h) < 20:
        c = s.recv(20 - len(h))
        if not c:
            raise EOFError
        h += c
    n = struct.unpack("<I", h[16:20])[0]
    p = b""
    while len(p) < n:
        p += s.recv(n - len(p))
    return h, p


def info(s, req):
    s.sendall(frame(0x10, req))
    while True:
        h, _ = recv_frame(s)
        if struct.unpack("<I", h[8:12])[0] == req:
            return


def rss(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))] if v else 0


mode, path = sys.argv[1], sys.argv[2]
if mode == "idle":
    pid, n = int(sys.argv[3]), int(sys.argv[4])
    time.sleep(1.5)
    r0 = rss(pid)
    socks = []
    for i in range(n):
        s = conn(path)
        info(s, 1)  # the first reply: output buffer allocated
        socks.append(s)
    r1 = rss(pid)
    time.sleep(2.5)  # idle: buffers given back
    r2 = rss(pid)
    print(json.dumps({"clients": n, "rss0_kib": r0, "rss_after_reply_kib": r1, "rss_idle_kib": r2,
                      "per_client_after_reply_b": (r1 - r0) * 1024 // n,
                      "per_client_idle_b": (r2 - r0) * 1024 // n}))
else:
    nidle, reqs = int(sys.argv[3]), int(sys.argv[4])
    idle = [conn(path) for _ in range(nidle)]
    probe = conn(path)
    base = []
    t_end = time.time() + 2
    k = 1
    while time.time() < t_end:
        t = time.perf_counter()
        info(probe, k)
        base.append((time.perf_counter() - t) * 1e6)
        k += 1
    flood = conn(path)
    state = {"done": 0, "t_end": None}

    def drain():
        buf = b""
        while state["done"] < reqs:
            c = flood.recv(1 << 20)
            if not c:
                break
            buf += c
            off = 0
            while len(buf) - off >= 20:
                n = struct.unpack("<I", buf[off + 16:off + 20])[0]
                if len(buf) - off < 20 + n:
                    break
                if not struct.unpack("<H", buf[off + 4:off + 6])[0] & 1:
                    state["done"] += 1
                off += 20 + n
            buf = buf[off:]
        state["t_end"] = time.time()

    th = threading.Thread(target=drain)
    t0 = time.time()
    th.start()
    threading.Thread(target=lambda: flood.sendall(b"".join(frame(0x11, 1 + i) for i in range(reqs)))).start()
    during = []
    while th.is_alive():
        t = time.perf_counter()
        info(probe, k)
        during.append((time.perf_counter() - t) * 1e6)
        k += 1
    th.join()
    print(json.dumps({"idle_sessions": nidle, "list_conns": reqs,
                      "flood_s": round(state["t_end"] - t0, 3),
                      "info_rtt_idle_us": {"p50": round(pct(base, 50)), "p99": round(pct(base, 99)),
                                           "max": round(max(base))},
                      "info_rtt_flood_us": {"n": len(during), "p50": round(pct(during, 50)),
                                            "p99": round(pct(during, 99)),
                                            "max": round(max(during)) if during else None}}))
