#!/usr/bin/env bash
# Issue 11: echo transfers over a lossy routed path, MiniTCP beside Linux <-> Linux and lwIP.
#   <ns>-k (kernel client 10.9.1.1) -- <ns>-r (router, drops P % at random both ways in its
#   forward chain: nftables "numgen random mod 100 < P") -- <ns>-m (10.9.2.1: a kernel echo
#   server on :7007, tun0 to minitcpd 10.0.0.2 with echo_server on :7, tun1 to lwip_tun
#   10.0.1.2 with its echo on :7)
# Each run sends N bytes of a pattern and reads the echo back byte-exact; prints the time,
# or "timeout" after --limit seconds. All namespaces (minitcp-loss-<pid>-*) are removed on
# exit. Needs root and nft (Debian: apt-get install nftables).
# Usage: bench/loss.sh [--build DIR] [--bench-bin DIR] [--targets LIST] [--runs R]
#                      [--limit S] [--json FILE] [P:BYTES ...]
#   targets: linux,minitcp,lwip (default; lwip when DIR/lwip_tun is built, DIR = build/bench)
#   --json FILE: also appends one JSON object per transfer to FILE (bench/run.sh's loss figure)
#   default cells: 0:1048576 1:1048576 5:1048576 10:524288 30:131072
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
B=$root/build/gcc BB=$root/build/bench RUNS=3 LIMIT=150 CELLS=() TARGETS=linux,minitcp,lwip JSON=""
while [ $# -gt 0 ]; do
    case $1 in
    --build) B=$2; shift 2 ;;
    --bench-bin) BB=$2; shift 2 ;;
    --targets) TARGETS=$2; shift 2 ;;
    --json) JSON=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --limit) LIMIT=$2; shift 2 ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    *:*) CELLS+=("$1"); shift ;;
    *) echo "loss.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ ${#CELLS[@]} -gt 0 ] || CELLS=(0:1048576 1:1048576 5:1048576 10:524288 30:131072)
[ "$(id -u)" -eq 0 ] || { echo "loss.sh: needs root" >&2; exit 1; }
has() { [[ ",$TARGETS," == *",$1,"* ]]; }
if has lwip && [ ! -x "$BB/lwip_tun" ]; then
    echo "loss.sh: $BB/lwip_tun is not built (make -C bench): lwIP skipped" >&2
    TARGETS=${TARGETS//lwip/}
fi
command -v nft >/dev/null || bash "$(dirname "$0")/../scripts/bootstrap.sh" --bench || exit 1
command -v nft >/dev/null || { echo "loss.sh: needs nft (nftables)" >&2; exit 1; }
P=minitcp-loss-$$ K=$P-k R=$P-r M=$P-m
T=$(mktemp -d /tmp/minitcp-loss.XXXXXX)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    ip netns del "$K" 2>/dev/null
    ip netns del "$R" 2>/dev/null
    ip netns del "$M" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT INT TERM
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
# (background processes are started with ip netns exec itself, not nsx: a function run with
# & is a subshell, $! its pid, and killing it left the daemon and the echo server running,
# holding the flock of whoever ran this under one)
bash "$root/scripts/setup_tun.sh" --netns "$M" --two >/dev/null || exit 1
ip netns add "$K" && ip netns add "$R" || exit 1
ip link add kr netns "$K" type veth peer name rk netns "$R"
ip link add mr netns "$M" type veth peer name rm netns "$R"
for ns in "$K" "$R" "$M"; do nsx "$ns" ip link set lo up; done
nsx "$K" ip addr add 10.9.1.1/24 dev kr && nsx "$K" ip link set kr up
nsx "$R" ip addr add 10.9.1.254/24 dev rk && nsx "$R" ip link set rk up
nsx "$R" ip addr add 10.9.2.254/24 dev rm && nsx "$R" ip link set rm up
nsx "$M" ip addr add 10.9.2.1/24 dev mr && nsx "$M" ip link set mr up
nsx "$K" ip route add default via 10.9.1.254
nsx "$R" ip route add 10.0.0.0/24 via 10.9.2.1
nsx "$R" ip route add 10.0.1.0/24 via 10.9.2.1
nsx "$M" ip route add default via 10.9.2.254
nsx "$R" sysctl -qw net.ipv4.ip_forward=1
nsx "$M" sysctl -qw net.ipv4.ip_forward=1
# no offloads: the router sees (and drops) the segments the stacks send. ethtool is
# often missing; gso_max_segs 1 alone keeps the kernel to one segment per packet.
for x in "$K kr" "$R rk" "$R rm" "$M mr"; do
    set -- $x
    nsx "$1" ip link set dev "$2" gso_max_segs 1
    nsx "$1" ethtool -K "$2" tso off gso off gro off >/dev/null 2>&1 || true
done
set_loss() {
    nsx "$R" nft delete table ip loss 2>/dev/null
    [ "$1" -gt 0 ] || return 0
    nsx "$R" nft -f - <<EOF
table ip loss {
    chain lossy {
        type filter hook forward priority 0; policy accept;
        numgen random mod 100 < $1 counter drop
    }
}
EOF
}

ip netns exec "$M" "$B/minitcpd" --tun tun0 --addr 10.0.0.2 --socket "$T/sock" >"$T/d.log" 2>&1 &
PIDS+=($!)
if has lwip; then
    ip netns exec "$M" "$BB/lwip_tun" --tun tun1 --addr 10.0.1.2 >"$T/lwip.log" 2>&1 &
    PIDS+=($!)
fi
for _ in $(seq 100); do [ -S "$T/sock" ] && break; sleep 0.05; done
MINITCP_SOCKET=$T/sock "$B/apps/echo_server" --port 7 >"$T/echo.log" 2>&1 &
PIDS+=($!)
ip netns exec "$M" python3 - >"$T/kecho.log" 2>&1 <<'PY' &
import socket, threading
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("10.9.2.1", 7007)); l.listen(16)
def serve(c):
    while True:
        d = c.recv(65536)
        if not d: break
        c.sendall(d)
    c.close()
while True:
    c, _ = l.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
PIDS+=($!)
for _ in $(seq 100); do grep -q listening "$T/echo.log" && break; sleep 0.05; done
if has lwip; then for _ in $(seq 100); do grep -q "echo 7" "$T/lwip.log" && break; sleep 0.05; done; fi
sleep 0.3

# one echo transfer: prints seconds, "timeout" or "MISMATCH"
xfer() { # addr port bytes
    nsx "$K" timeout $((LIMIT + 5)) python3 - "$@" "$LIMIT" <<'PY'
import socket, sys, threading, time
addr, port, n, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
data = bytes((i * 131 + (i >> 8) * 7) & 0xff for i in range(n))
t0 = time.monotonic()
s = socket.create_connection((addr, port), timeout=limit)
s.settimeout(limit)
threading.Thread(target=lambda: (s.sendall(data), s.shutdown(socket.SHUT_WR)), daemon=True).start()
got = bytearray()
try:
    while len(got) < n and time.monotonic() - t0 < limit:
        d = s.recv(65536)
        if not d: break
        got += d
except socket.timeout:
    pass
dt = time.monotonic() - t0
if len(got) < n: print("timeout")
elif bytes(got[:n]) != data: print("MISMATCH")
else: print("%.2f" % dt)
PY
}

med() { # a timeout or mismatch counts as slower than any time
    printf "%s\n" "$@" | sed 's/^[a-zA-Z].*/99999 &/; s/^\([0-9.]*\)$/\1 \1/' | sort -g |
        awk '{a[NR]=$2} END {print a[int((NR+1)/2)]}'
}
record() { # target pct bytes run result
    [ -n "$JSON" ] || return 0
    local secs=null
    [[ $5 =~ ^[0-9.]+$ ]] && secs=$5
    printf '{"target":"%s","loss_pct":%s,"bytes":%s,"run":%s,"result":"%s","secs":%s,"limit":%s}\n' \
        "$1" "$2" "$3" "$4" "$5" "$secs" "$LIMIT" >>"$JSON"
}
echo "daemon: $B/minitcpd (commit $(git -C "$root" rev-parse --short HEAD)); $RUNS runs per cell, limit ${LIMIT}s"
printf "%-6s %-9s" loss bytes
has linux && printf " %-28s" "Linux<->Linux (s, median)"
has minitcp && printf " %-28s" "MiniTCP (s, median)"
has lwip && printf " %-28s" "lwIP (s, median)"
echo
for c in "${CELLS[@]}"; do
    pct=${c%%:*} n=${c##*:}
    set_loss "$pct"
    L=() Mt=() Lw=()
    for r in $(seq "$RUNS"); do
        if has linux; then
            x=$(xfer 10.9.2.1 7007 "$n")
            L+=("${x:-timeout}") # nothing printed: killed by the outer timeout
            record linux "$pct" "$n" "$r" "${x:-timeout}"
        fi
        if has minitcp; then
            x=$(xfer 10.0.0.2 7 "$n")
            Mt+=("${x:-timeout}")
            record minitcp "$pct" "$n" "$r" "${x:-timeout}"
        fi
        if has lwip; then
            x=$(xfer 10.0.1.2 7 "$n")
            Lw+=("${x:-timeout}")
            record lwip "$pct" "$n" "$r" "${x:-timeout}"
        fi
    done
    printf "%-6s %-9s" "$pct%" "$n"
    has linux && printf " %-28s" "$(med "${L[@]}") [${L[*]}]"
    has minitcp && printf " %-28s" "$(med "${Mt[@]}") [${Mt[*]}]"
    has lwip && printf " %-28s" "$(med "${Lw[@]}") [${Lw[*]}]"
    echo
done
set_loss 0
echo "MiniTCP counters: $("$B/cli/minitcpctl" --socket "$T/sock" stats --json | python3 -c '
import json, sys
t = json.load(sys.stdin)["tcp"]
print(" ".join("%s=%s" % (k, t[k]) for k in ("retransmits", "fast_retransmits", "partial_acks", "recoveries", "fast_retransmit_held", "dup_acks_rx",
          "sack_recoveries", "rack_detections", "tlps", "tlp_recoveries", "spurious_rtos_undone", "dup_segments") if k in t))')"
