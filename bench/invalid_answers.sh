#!/usr/bin/env bash
# Answers to invalid segments (challenge ACKs, ACKs to out-of-window segments): minitcpd
# beside the Linux kernel, same crafted peer (bench/invalid_answers.py). Runs in a network
# namespace it creates (minitcp-oow-<pid>) and removes on exit. Needs root and build/gcc.
# Usage: bench/invalid_answers.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" -eq 0 ] || { echo "invalid_answers.sh: needs root" >&2; exit 1; }
ns=minitcp-oow-$$
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
ip netns exec "$ns" python3 "$root/bench/invalid_answers.py"
