#!/usr/bin/env bash
# The main job: builds MiniTCP if needed, starts minitcpd and its demo apps in a network
# namespace of its own (minitcp-demo), and shows real tools talking to it:
# ping, UDP echo with nc -u, a chat session with nc, and curl against the HTTP responder.
# Everything it starts is stopped and the namespace removed at the end, also on failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/bootstrap.sh
bash scripts/build.sh build/gcc
B=$root/build/gcc
ns=minitcp-demo
tmp=$(mktemp -d /tmp/minitcp-demo.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
ip netns del "$ns" 2>/dev/null || true
bash scripts/setup_tun.sh --netns "$ns"
nsx() { ip netns exec "$ns" "$@"; }
export MINITCP_SOCKET=$tmp/minitcpd.sock
waitfor() { for _ in $(seq 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done; echo "demo: timeout waiting for '$2' in $1" >&2; cat "$1" >&2; return 1; }

ip netns exec "$ns" "$B/minitcpd" --tun tun0 --addr 10.0.0.2 --trace --udp-echo 9000 --socket "$MINITCP_SOCKET" >"$tmp/minitcpd.log" 2>&1 &
pids+=($!)
waitfor "$tmp/minitcpd.log" "^minitcpd: up"
have_apps=0
if [ -x "$B/apps/chat_server" ]; then
    "$B/apps/chat_server" --port 8080 >"$tmp/chat_server.log" 2>&1 &
    pids+=($!)
    waitfor "$tmp/chat_server.log" "listening on port 8080" && have_apps=1
fi

show() { echo; echo "\$ $*"; }
show "ping -c 4 10.0.0.2"
nsx ping -c 4 -i 0.2 -W 2 10.0.0.2
show "echo hello-udp | nc -u -w1 10.0.0.2 9000"
echo hello-udp | nsx timeout 5 nc -u -w1 10.0.0.2 9000
if [ $have_apps = 1 ]; then
    show "printf 'hello\\n' | nc -q1 10.0.0.2 8080      # chat server echoes the line"
    printf 'hello\n' | nsx timeout 5 nc -q1 10.0.0.2 8080
    show "curl -s -i http://10.0.0.2:8080/"
    nsx timeout 5 curl -s -i http://10.0.0.2:8080/
    echo
    show "minitcpctl connections        # the listener, and curl's connection in TIME_WAIT"
    "$B/cli/minitcpctl" connections
else
    echo "(chat_server not built: nc chat and curl demos skipped)"
fi
echo
echo "---- minitcpd --trace (first 60 lines)"
head -n 60 "$tmp/minitcpd.log"
echo "---- demo done"
