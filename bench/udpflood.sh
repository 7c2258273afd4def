#!/usr/bin/env bash
# Issue 10 item 6: empty datagrams flooded at a UDP socket whose program never reads.
# MiniTCP: the daemon's RSS before and after, its udp rx and drop_rcvbuf counters, and what
# the program reads afterwards. Linux beside it: the same flood at a kernel UDP socket that
# never reads (over lo in the same namespace): its queue (rx_queue, bytes of truesize),
# datagrams queued, and UdpRcvbufErrors.
# Runs in a namespace of its own (minitcp-udpflood-<pid>), removed on exit.
# Usage: bench/udpflood.sh [--build DIR] [--count N] [--size BYTES]
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
B=$root/build/gcc N=2000000 SIZE=0
while [ $# -gt 0 ]; do
    case $1 in
    --build) B=$2; shift 2 ;;
    --count) N=$2; shift 2 ;;
    --size) SIZE=$2; shift 2 ;;
    -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "udpflood.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" -eq 0 ] || { echo "udpflood.sh: needs root" >&2; exit 1; }
NS=minitcp-udpflood-$$
T=$(mktemp -d /tmp/minitcp-udpflood.XXXXXX)
PIDS=()
cleanup() {
    local p
    exec 3>&- 2>/dev/null
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    ip netns del "$NS" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT INT TERM
bash "$root/scripts/setup_tun.sh" --netns "$NS" >/dev/null || exit 1
run() { ip netns exec "$NS" "$@"; }
FLOOD="python3 $root/tests/integration/udpflood.py"
ip netns exec "$NS" "$B/minitcpd" --tun tun0 --addr 10.0.0.2 --socket "$T/sock" >"$T/d.log" 2>&1 &
D=$!; PIDS+=($D) # ip netns exec execs minitcpd: $D is the daemon
for _ in $(seq 100); do [ -S "$T/sock" ] && break; sleep 0.05; done
mkfifo "$T/ctl"
MINITCP_SOCKET=$T/sock "$B/tests/loopback/loopback_udp" hold 5000 <"$T/ctl" >"$T/hold.log" 2>&1 &
H=$!; PIDS+=($H)
exec 3>"$T/ctl"
for _ in $(seq 100); do grep -q bound "$T/hold.log" && break; sleep 0.05; done
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
stat_of() { "$B/cli/minitcpctl" --socket "$T/sock" stats --json | python3 -c "import json,sys; print(json.load(sys.stdin)['udp']['$1'])"; }
settle() { # until the daemon's udp rx counter stops moving
    local prev=-1 rx
    for _ in $(seq 100); do rx=$(stat_of rx); [ "$rx" = "$prev" ] && break; prev=$rx; sleep 0.1; done
}

echo "daemon: $B/minitcpd (commit $(git -C "$root" rev-parse --short HEAD)); $N datagrams of $SIZE bytes"
R0=$(rss $D)
run $FLOOD 10.0.0.2 5000 "$N" "$SIZE"
settle
R1=$(rss $D)
echo "MiniTCP: daemon RSS $R0 -> $R1 KiB; udp rx $(stat_of rx), drop_rcvbuf $(stat_of drop_rcvbuf), no_port $(stat_of no_port)"
echo drain >&3
wait $H
echo "MiniTCP: the program then read: $(cat "$T/hold.log" | tail -n 1)"

# Linux: a kernel socket that never reads, the same flood over lo
run ip link set lo up
run python3 - "$N" "$SIZE" <<'PY'
import socket, sys, time
n, size = int(sys.argv[1]), int(sys.argv[2])
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
r.bind(("127.0.0.1", 5000))
def snmp():
    rows = [l.split() for l in open("/proc/net/snmp") if l.startswith("Udp:")]
    return dict(zip(rows[0][1:], map(int, rows[1][1:])))
def rxq():
    for l in open("/proc/net/udp").readlines()[1:]:
        f = l.split()
        if f[1].endswith(":1388"):
            return int(f[4].split(":")[1], 16)
    return -1
s0 = snmp()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
p = b"x" * size
t0 = time.monotonic()
for _ in range(n):
    s.sendto(p, ("127.0.0.1", 5000))
t = time.monotonic() - t0
s1 = snmp()
q = rxq()
rcvbuf = r.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
r.setblocking(False)
got = 0
try:
    while True:
        r.recv(65536)
        got += 1
except BlockingIOError:
    pass
print("Linux: %d datagrams in %.1f s; SO_RCVBUF %d, rx_queue %d bytes (%d datagrams queued, %d bytes each), "
      "RcvbufErrors +%d" % (n, t, rcvbuf, q, got, q // got if got else 0,
      s1["RcvbufErrors"] - s0["RcvbufErrors"]))
PY
