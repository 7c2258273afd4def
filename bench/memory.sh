#!/usr/bin/env bash
# Issue 10 item 2: daemon memory with N connections that never read, against --mem-max.
# N Linux clients (4 KiB receive buffers) connect to hoard_server, which sends endlessly
# and never reads; each client sends up to 256 KiB and never reads. So every connection
# can fill both of its rings in the daemon. For each --mem-max (default: the daemon's
# own default, min(1 GiB, RAM/8)) it reports the daemon's RSS at start, under the load and
# after the clients closed, and the accountant's figures (mem_peak, pressure events,
# refusals). Runs in a namespace of its own (minitcp-mem-<pid>), removed on exit.
# Usage: bench/memory.sh [--build DIR] [--conns N] [--mem-max "64M 256M default"]
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
B=$root/build/gcc N=10000 MAXES="64M 256M default"
while [ $# -gt 0 ]; do
    case $1 in
    --build) B=$2; shift 2 ;;
    --conns) N=$2; shift 2 ;;
    --mem-max) MAXES=$2; shift 2 ;;
    -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "memory.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" -eq 0 ] || { echo "memory.sh: needs root" >&2; exit 1; }
[ -x "$B/tests/hoard_server" ] || { echo "memory.sh: build $B first (tests/hoard_server)" >&2; exit 1; }
NS=minitcp-mem-$$
T=$(mktemp -d /tmp/minitcp-mem.XXXXXX)
PIDS=()
stop_all() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    PIDS=()
}
cleanup() {
    rm -f "$T/go"
    stop_all
    ip netns del "$NS" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT INT TERM
bash "$root/scripts/setup_tun.sh" --netns "$NS" >/dev/null || exit 1
run() { ip netns exec "$NS" "$@"; }
rss() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
stat() { "$B/cli/minitcpctl" --socket "$T/sock" stats --json |
    python3 -c "import json,sys; print(json.load(sys.stdin)['mem']['$1'])"; }

echo "daemon: $B/minitcpd (commit $(git -C "$root" rev-parse --short HEAD)); $N connections that never read"
for MAX in $MAXES; do
    opt=()
    [ "$MAX" != default ] && opt=(--mem-max "$MAX")
    rm -f "$T/sock" "$T/ready"
    ip netns exec "$NS" "$B/minitcpd" --tun tun0 --addr 10.0.0.2 --socket "$T/sock" --max-conns 100000 "${opt[@]}" \
        >"$T/d.log" 2>&1 &
    D=$!; PIDS+=($D)
    for _ in $(seq 100); do [ -S "$T/sock" ] && break; sleep 0.05; done
    MINITCP_SOCKET=$T/sock "$B/tests/hoard_server" --port 9100 >"$T/h.log" 2>&1 & PIDS+=($!)
    for _ in $(seq 100); do grep -q listening "$T/h.log" && break; sleep 0.05; done
    R0=$(rss $D)
    touch "$T/go"
    run python3 "$root/tests/integration/memclients.py" hoard 10.0.0.2 9100 "$N" "$T/ready" "$T/go" \
        >"$T/c.log" 2>&1 &
    C=$!; PIDS+=($C)
    for _ in $(seq 3000); do [ -f "$T/ready" ] && break; sleep 0.1; done
    sleep 3 # let the last segments land
    R1=$(rss $D) USED=$(stat used) PEAK=$(stat peak) PEV=$(stat pressure_events) REF=$(stat refusals)
    BOUND=$(stat max)
    rm -f "$T/go"
    wait "$C" 2>/dev/null
    for _ in $(seq 100); do [ "$(stat used)" -eq 0 ] && break; sleep 0.1; done
    sleep 2 # a trim follows within a second of the fall
    R2=$(rss $D)
    printf '%-8s bound %5d MiB | RSS start %5.1f MiB, loaded %7.1f MiB, after close %5.1f MiB | mem_peak %5d MiB, used at load %5d MiB, pressure events %s, refusals %s | %s\n' \
        "$MAX" $((BOUND >> 20)) "$R0" "$R1" "$R2" $((PEAK >> 20)) $((USED >> 20)) "$PEV" "$REF" "$(cat "$T/ready")"
    stop_all
done
