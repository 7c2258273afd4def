#!/usr/bin/env bash
# An orphan behind a window its peer keeps shut: minitcpd beside Linux
# (bench/orphan_zero_window.py; about 10 minutes). Runs in a network namespace it creates
# (minitcp-orph-<pid>) and removes on exit. Needs root and build/gcc.
# Usage: bench/orphan_zero_window.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" -eq 0 ] || { echo "orphan_zero_window.sh: needs root" >&2; exit 1; }
ns=minitcp-orph-$$
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT
bash "$root/scripts/setup_tun.sh" --netns "$ns" >/dev/null
ip netns exec "$ns" "$root/build/gcc/minitcpd" --tun tun0 --addr 10.0.0.2 --no-socket \
    --tcp-echo 7 >/dev/null 2>&1 &
pid=$!
sleep 0.5
PYTHONPATH="$root/bench" ip netns exec "$ns" python3 "$root/bench/orphan_zero_window.py"
