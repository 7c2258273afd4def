#!/usr/bin/env bash
# SYN flood figure (issue 10): curl success and time while spoofed SYNs flood a listener
# with a backlog of 1024, for MiniTCP (chat_server; SYN cookies on, and --syncookies 0) and
# for Linux (a listener in a namespace behind a veth; net.ipv4.tcp_syncookies 1, and 0).
# Everything runs in namespaces minitcp-sf-<pid>-* created here and removed on exit.
# Usage: bench/synflood.sh [COUNT SECONDS]   (default 20000 SYNs in 10 s)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
MT=${MINITCP_BUILD:-$root/build/gcc}
COUNT=${1:-20000} SECS=${2:-10}
FLOOD="python3 $root/tests/integration/synflood.py"
P=minitcp-sf-$$
T=$(mktemp -d /tmp/minitcp-sf.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    for n in t c s; do ip netns del "$P-$n" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
[ "$(id -u)" -eq 0 ] || { echo "synflood.sh: needs root" >&2; exit 1; }

# curls ADDR NS: curl back to back while the flood (pid $FP) runs; prints the summary
curls() {
    local addr=$1 ns=$2 ok=0 n=0 t rc
    : >"$T/times"
    while kill -0 "$FP" 2>/dev/null; do
        t=$(ip netns exec "$ns" curl -s -m 10 -w '%{time_total}' -o "$T/body" "http://$addr/")
        rc=$?
        n=$((n + 1))
        if [ $rc -eq 0 ] && [ "$(cat "$T/body")" = hello ]; then ok=$((ok + 1)); echo "$t" >>"$T/times"; fi
    done
    printf '%d/%d ok, %s' "$ok" "$n" "$(sort -n "$T/times" | awk '{ t[NR] = $1 } END {
        if (NR) printf "median %.3f s, max %.3f s", t[int((NR + 1) / 2)], t[NR]; else printf "none" }')"
}

minitcp() { # COOKIES
    ip netns add "$P-t"
    bash "$root/scripts/setup_tun.sh" --netns "$P-t" >/dev/null
    ip netns exec "$P-t" "$MT/minitcpd" --tun tun0 --socket "$T/d.sock" --syncookies "$1" >"$T/d.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 100); do grep -q "^minitcpd: up" "$T/d.log" && break; sleep 0.05; done
    MINITCP_SOCKET=$T/d.sock "$MT/apps/chat_server" --port 8080 >"$T/chat.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 100); do grep -q "listening" "$T/chat.log" && break; sleep 0.05; done
    ip netns exec "$P-t" $FLOOD tun0 10.0.0.2 8080 "$COUNT" "$SECS" 1 >/dev/null &
    FP=$!
    echo "MiniTCP, --syncookies $1: $(curls 10.0.0.2:8080 "$P-t")"
    wait "$FP"
    kill "${PIDS[@]}" 2>/dev/null
    wait 2>/dev/null
    PIDS=()
    ip netns del "$P-t"
}

linux() { # COOKIES
    ip netns add "$P-c"
    ip netns add "$P-s"
    ip link add sfc0 netns "$P-c" type veth peer name sfs0 netns "$P-s"
    ip -n "$P-c" addr add 10.9.0.1/24 dev sfc0
    ip -n "$P-s" addr add 10.9.0.2/24 dev sfs0
    for n in c s; do ip -n "$P-$n" link set lo up; done
    ip -n "$P-c" link set sfc0 up
    ip -n "$P-s" link set sfs0 up
    ip -n "$P-s" route add default via 10.9.0.1 # SYN-ACKs to the spoofed sources: dropped in c
    ip netns exec "$P-s" sysctl -qw net.ipv4.tcp_syncookies="$1" net.ipv4.conf.all.rp_filter=0 \
        net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.sfs0.rp_filter=0
    ip netns exec "$P-s" python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.9.0.2", 8080)); s.listen(1024)
while True:
    c, _ = s.accept(); c.recv(4096)
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n"); c.close()
' &
    PIDS+=($!)
    for _ in $(seq 100); do
        ip netns exec "$P-s" ss -Hltn 'sport = :8080' | grep -q . && break
        sleep 0.05
    done
    ip netns exec "$P-c" $FLOOD raw 10.9.0.2 8080 "$COUNT" "$SECS" 1 >/dev/null &
    FP=$!
    echo "Linux $(uname -r), tcp_syncookies $1: $(curls 10.9.0.2:8080 "$P-c")"
    wait "$FP"
    kill "${PIDS[@]}" 2>/dev/null
    wait 2>/dev/null
    PIDS=()
    ip netns del "$P-c"
    ip netns del "$P-s"
}

echo "spoofed SYN flood: $COUNT SYNs in $SECS s, backlog 1024, curl -m 10 back to back"
minitcp 1
minitcp 0
linux 1
linux 0
