#!/usr/bin/env python3
"""ctl_vs_ss.py CTL SOCKET NETNS PORT

One idle ESTABLISHED connection to MiniTCP's PORT from a Linux socket in NETNS, a line
echoed and acknowledged: compares what `minitcpctl connections` (JSON and table) shows
for it with what Linux's `ss -ti` shows for the same connection. Exit 0 when they agree.

  - nothing in flight, sacked, lost or retransmitted; no ssthresh yet (no loss)
  - the congestion control is one MiniTCP has, cwnd at least IW10 (RFC 6928)
  - window scales mirrored: MiniTCP's snd shift is Linux's rcv shift and vice versa
  - SACK and timestamps negotiated on both sides or on neither (ss prints them with -o)
  - the table's second line carries the same keys and values as the JSON
"""
import json
import subprocess
import sys


def main():
    ctl, sock, ns, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    conns = json.loads(subprocess.run([ctl, "--socket", sock, "connections", "--json"],
                                      check=True, capture_output=True, text=True).stdout)
    table = subprocess.run([ctl, "--socket", sock, "connections"], check=True,
                           capture_output=True, text=True).stdout.splitlines()
    ss = subprocess.run(["ip", "netns", "exec", ns, "ss", "-tinoH", "dport", "=", str(port)],
                        check=True, capture_output=True, text=True).stdout.split()
    est = [c for c in conns if c["state"] == "ESTABLISHED" and c["local_port"] == port]
    if len(est) != 1:
        sys.exit("want one ESTABLISHED connection on %d, got %d" % (port, len(est)))
    c = est[0]
    print("minitcpctl:", c, "\nss:", " ".join(ss), file=sys.stderr)
    errors = []

    def want(cond, what):
        if not cond:
            errors.append(what)

    want(c["cc"] in ("newreno", "cubic"), "cc %r" % c["cc"])
    want(c["cwnd"] >= 14600, "cwnd %d < IW10" % c["cwnd"])
    want(c["ssthresh"] is None, "ssthresh %r without loss" % c["ssthresh"])
    for k in ("in_flight", "sacked", "lost", "retransmits", "dup_segs_rcvd"):
        want(c[k] == 0, "%s %d" % (k, c[k]))
    ws = [t for t in ss if t.startswith("wscale:")]
    want(len(ws) == 1, "ss shows no wscale")
    if ws:
        lsnd, lrcv = (int(x) for x in ws[0][7:].split(","))
        want(c["wscale"] == {"snd": lrcv, "rcv": lsnd},
             "wscale %r, Linux snd %d rcv %d" % (c["wscale"], lsnd, lrcv))
    want(c["sack"] == ("sack" in ss), "sack %r, Linux %r" % (c["sack"], "sack" in ss))
    want(c["ts"] == ("ts" in ss), "ts %r, Linux %r" % (c["ts"], "ts" in ss))

    rows = [i for i, l in enumerate(table)
            if " ESTABLISHED " in l and (":%d " % port) in l.split("ESTABLISHED", 1)[1]]
    want(len(rows) == 1 and rows[0] + 1 < len(table), "table row")
    if rows and rows[0] + 1 < len(table):
        info = table[rows[0] + 1].split()
        keys = ["cc:" + c["cc"], "cwnd:%d" % c["cwnd"], "rto_ms:%d" % c["rto_ms"],
                "in_flight:0", "sacked:0", "lost:0", "retransmits:0", "reord_seen:0"]
        if c["wscale"]:
            keys.append("wscale:%d,%d" % (c["wscale"]["snd"], c["wscale"]["rcv"]))
        keys += [f for f in ("sack", "ts") if c[f]]
        for k in keys:
            want(k in info, "table line lacks %s: %s" % (k, " ".join(info)))
        want("ssthresh" not in " ".join(info), "table shows ssthresh")
    if errors:
        sys.exit("; ".join(errors))


if __name__ == "__main__":
    main()
