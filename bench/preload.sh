#!/usr/bin/env bash
# What minitcp-run's pump costs: bulk transfer from and to the kernel through MiniTCP, once
# with a program on the native API (apps/discard_server, apps/source_server) and once with
# an unmodified program under minitcp-run (nc), same daemon, same kernel-side client.
# In a namespace of its own (minitcp-bench-preload-<pid>), removed on exit.
# Usage: bench/preload.sh [MiB] [runs]   (default 256 MiB, 3 runs; the median is printed)
# Run it under flock /work/coord/bench.lock (or alone on the machine).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
B=${MINITCP_BUILD:-$root/build/gcc}
MIB=${1:-256}
RUNS=${2:-3}
NS=minitcp-bench-preload-$$
TMP=$(mktemp -d /tmp/minitcp-bench-preload.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    ip netns del "$NS" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
ip netns add "$NS"
bash "$root/scripts/setup_tun.sh" --netns "$NS" >/dev/null
ip netns exec "$NS" "$B/minitcpd" --tun tun0 --addr 10.0.0.2 --socket "$TMP/d.sock" >"$TMP/d.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do grep -q "^minitcpd: up" "$TMP/d.log" && break; sleep 0.05; done
export MINITCP_SOCKET=$TMP/d.sock
N=$((MIB * 1024 * 1024))
nsx() { ip netns exec "$NS" "$@"; }

# kernel side: send N bytes to PORT, or read N bytes from PORT; prints seconds
ksend() {
    nsx python3 -c "
import socket, sys, time
s = socket.create_connection(('10.0.0.2', int(sys.argv[1])))
b = bytes(1 << 20); n = int(sys.argv[2]); t = time.monotonic()
while n > 0:
    k = min(n, len(b)); s.sendall(b[:k]); n -= k
s.shutdown(socket.SHUT_WR)
while s.recv(65536): pass
print(time.monotonic() - t)" "$1" "$N"
}
krecv() {
    nsx python3 -c "
import socket, sys, time
s = socket.create_connection(('10.0.0.2', int(sys.argv[1])))
n = int(sys.argv[2]); t = time.monotonic()
while n > 0:
    d = s.recv(1 << 20)
    if not d: break
    n -= len(d)
print(time.monotonic() - t if n <= 0 else 'short')" "$1" "$N"
}
median() { sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
rate() { awk -v n="$N" -v s="$1" 'BEGIN {printf "%.0f", n * 8 / s / 1e6}'; }
wait_port() { # the daemon lists the listener
    for _ in $(seq 200); do
        "$B/cli/minitcpctl" --socket "$TMP/d.sock" connections 2>/dev/null | grep -q "LISTEN.*:$1 " && return 0
        sleep 0.05
    done
    return 1
}

nsx "$B/apps/discard_server" --port 9 >/dev/null 2>&1 &
PIDS+=($!)
nsx "$B/apps/source_server" --port 19 >/dev/null 2>&1 &
PIDS+=($!)
wait_port 9 && wait_port 19 || { echo "preload.sh: servers did not start" >&2; exit 1; }

declare -A res
for r in $(seq "$RUNS"); do
    res[native_in]+="$(ksend 9) "
    res[native_out]+="$(krecv 19) "
    nsx "$B/minitcp-run" nc -l -N 10.0.0.2 5009 >/dev/null 2>&1 </dev/null &
    p=$!
    wait_port 5009
    res[preload_in]+="$(ksend 5009) "
    wait "$p"
    (head -c "$N" /dev/zero | nsx "$B/minitcp-run" nc -l -N 10.0.0.2 5019 >/dev/null 2>&1) &
    p=$!
    wait_port 5019
    res[preload_out]+="$(krecv 5019) "
    wait "$p"
done
printf '%-34s %10s %8s\n' "figure ($MIB MiB, median of $RUNS)" "seconds" "Mbit/s"
for k in native_in preload_in native_out preload_out; do
    m=$(echo "${res[$k]}" | tr ' ' '\n' | grep -v '^$' | median)
    case $k in
    native_in) d="kernel -> discard_server (API)" ;;
    preload_in) d="kernel -> minitcp-run nc -l" ;;
    native_out) d="source_server (API) -> kernel" ;;
    preload_out) d="minitcp-run nc -l -> kernel" ;;
    esac
    printf '%-34s %10.2f %8s   runs: %s\n' "$d" "$m" "$(rate "$m")" "${res[$k]}"
done
