#!/usr/bin/env bash
# Issue 10 items 7 and 8: what a client session costs the daemon.
#  1. RSS per idle client session: N clients each get one reply, then sit idle (RSS delta / N,
#     right after the replies and after the idle buffers were given back).
#  2. LIST_CONNS flood: one client pipelines REQS LIST_CONNS beside IDLE idle sessions while
#     another does INFO round trips and a Linux client does TCP echo round trips through
#     the TUN (loadgen rr): latencies idle and during the flood, and the flood's duration.
# Runs in a namespace of its own (minitcp-clients-<pid>), removed on exit.
# Usage: bench/clients.sh [--build DIR] [--clients N] [--idle N] [--reqs N] [--rr N]
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
B=$root/build/gcc N=4096 IDLE=1000 REQS=50000 RR=3000
while [ $# -gt 0 ]; do
    case $1 in
    --build) B=$2; shift 2 ;;
    --clients) N=$2; shift 2 ;;
    --idle) IDLE=$2; shift 2 ;;
    --reqs) REQS=$2; shift 2 ;;
    --rr) RR=$2; shift 2 ;;
    -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "clients.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" -eq 0 ] || { echo "clients.sh: needs root" >&2; exit 1; }
make -s -C "$root/bench" OUT="$root/build/bench" "$root/build/bench/loadgen" || exit 1
LG=$root/build/bench/loadgen
NS=minitcp-clients-$$
T=$(mktemp -d /tmp/minitcp-clients.XXXXXX)
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
lim=""
"$B/minitcpd" --help | grep -q max-clients-per-uid && lim="--max-clients $((N + 100)) --max-clients-per-uid $((N + 100))"
# shellcheck disable=SC2086
# not through run(): $! must be the daemon itself, not a subshell
ip netns exec "$NS" "$B/minitcpd" --tun tun0 --addr 10.0.0.2 --socket "$T/sock" $lim >"$T/d.log" 2>&1 &
D=$!; PIDS+=($D)
for _ in $(seq 100); do [ -S "$T/sock" ] && break; sleep 0.05; done
echo "daemon: $B/minitcpd (commit $(git -C "$root" rev-parse --short HEAD))"
echo "idle clients: $(python3 "$root/bench/clients.py" idle "$T/sock" "$D" "$N")"
echo "daemon RSS after they left: $(awk '/^VmRSS/ {print $2}' /proc/$D/status) KiB"

MINITCP_SOCKET=$T/sock "$B/apps/echo_server" --port 7 >"$T/echo.log" 2>&1 & PIDS+=($!)
for _ in $(seq 100); do grep -q listening "$T/echo.log" 2>/dev/null && break; sleep 0.05; done
rr() { run "$LG" rr --addr 10.0.0.2 --port 7 --count "$RR" --timeout 300 2>>"$T/lg.err" | tail -n 1 |
    python3 -c 'import json,sys; r=json.load(sys.stdin); print("p50 %.0f us, p99 %.0f us, %d/%d ok" % (r["p50_us"], r["p99_us"], r["count"], int(sys.argv[1])))' "$RR"; }
echo "echo RTT, no flood: $(rr)"
python3 "$root/bench/clients.py" flood "$T/sock" "$IDLE" "$REQS" >"$T/flood.json" &
F=$!
sleep 2.5 # the flood client's idle baseline is 2 s
echo "echo RTT during the flood: $(rr)"
wait $F
echo "flood: $(cat "$T/flood.json")"
