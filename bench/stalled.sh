#!/usr/bin/env bash
# Issue 10 item 3: does a crowd of stalled connections slow everyone else down?
# N Linux clients connect to MiniTCP's source_server and never read (4 KiB receive buffer),
# so every connection stalls on a zero window with a full send ring. Reported before and
# after they are stalled: the daemon's idle CPU (over 10 s with no other traffic) and the
# echo round trip (loadgen rr, 1-byte transactions to echo_server, p50/p99).
# Runs in a namespace of its own (minitcp-stall-<pid>), removed on exit.
# Usage: bench/stalled.sh [--build DIR] [--conns N] [--sndbuf BYTES] [--rr N]
# (MINITCPD_OPTS: more daemon options, e.g. "--mem-max 256M")
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
B=$root/build/gcc N=10000 SNDBUF=65536 RR=5000
while [ $# -gt 0 ]; do
    case $1 in
    --build) B=$2; shift 2 ;;
    --conns) N=$2; shift 2 ;;
    --sndbuf) SNDBUF=$2; shift 2 ;;
    --rr) RR=$2; shift 2 ;;
    -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "stalled.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" -eq 0 ] || { echo "stalled.sh: needs root" >&2; exit 1; }
make -s -C "$root/bench" OUT="$root/build/bench" "$root/build/bench/loadgen" || exit 1
LG=$root/build/bench/loadgen
NS=minitcp-stall-$$
T=$(mktemp -d /tmp/minitcp-stall.XXXXXX)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    ip netns del "$NS" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT INT TERM
bash "$root/scripts/setup_tun.sh" --netns "$NS" >/dev/null || exit 1
run() { ip netns exec "$NS" "$@"; }
ip netns exec "$NS" "$B/minitcpd" --tun tun0 --addr 10.0.0.2 --socket "$T/sock" --sndbuf "$SNDBUF" ${MINITCPD_OPTS:-} >"$T/d.log" 2>&1 &
D=$!; PIDS+=($D)
for _ in $(seq 100); do [ -S "$T/sock" ] && break; sleep 0.05; done
MINITCP_SOCKET=$T/sock "$B/apps/echo_server" --port 7 >"$T/echo.log" 2>&1 & PIDS+=($!)
MINITCP_SOCKET=$T/sock "$B/apps/source_server" --port 19 >"$T/src.log" 2>&1 & PIDS+=($!)
for _ in $(seq 100); do grep -q listening "$T/echo.log" "$T/src.log" 2>/dev/null && [ "$(grep -l listening "$T"/echo.log "$T"/src.log | wc -l)" = 2 ] && break; sleep 0.05; done

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
idle_cpu() { # percent of one core the daemon used over 10 s
    local t0 t1 hz
    hz=$(getconf CLK_TCK)
    t0=$(ticks $D); sleep 10; t1=$(ticks $D)
    awk -v a="$t0" -v b="$t1" -v hz="$hz" 'BEGIN {printf "%.1f", (b - a) * 100 / hz / 10}'
}
rr() { run "$LG" rr --addr 10.0.0.2 --port 7 --count "$RR" --timeout 120 2>>"$T/lg.err" | tail -n 1 |
    python3 -c 'import json,sys; r=json.load(sys.stdin); print("p50 %.1f us, p99 %.1f us, %d/%d ok" % (r["p50_us"], r["p99_us"], r["count"], int(sys.argv[1])))' "$RR"; }

echo "daemon: $B/minitcpd (commit $(git -C "$root" rev-parse --short HEAD)), --sndbuf $SNDBUF"
echo "no stalled connections: idle CPU $(idle_cpu)%, echo RTT $(rr)"

# the stalled crowd: never reads, 4 KiB receive buffer
ip netns exec "$NS" python3 - "$N" "$T/ready" <<'EOF' &
import socket, sys, time, resource, errno
n, ready = int(sys.argv[1]), sys.argv[2]
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 100, n + 100))
socks = []
for i in range(n):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setblocking(False)
    try:
        s.connect(("10.0.0.2", 19))
    except BlockingIOError:
        pass
    socks.append(s)
    if i % 500 == 499:
        time.sleep(0.05)
time.sleep(2)
ok = sum(1 for s in socks if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0)
open(ready, "w").write("%d\n" % ok)
time.sleep(3600)
EOF
PIDS+=($!)
for _ in $(seq 1200); do [ -s "$T/ready" ] && break; sleep 0.1; done
# until every send ring is full: the daemon's RSS stops growing (2 s apart, at most 120 s)
drss() { awk '/^VmRSS/ {print $2}' /proc/$D/status; }
sleep 5
prev=0
for _ in $(seq 60); do
    cur=$(drss)
    [ "$cur" -le $((prev + prev / 100)) ] && break
    prev=$cur
    sleep 2
done
echo "$(cat "$T/ready") stalled connections (daemon RSS $(awk '/^VmRSS/ {print $2}' /proc/$D/status) KiB):" \
    "idle CPU $(idle_cpu)%, echo RTT $(rr)"
