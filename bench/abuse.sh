#!/usr/bin/env bash
# MiniTCP under attack (issue 10): the figures of docs/performance.md "Under attack", each
# beside Linux where Linux applies. Runs every measurement script that exists:
#   synflood   curl success during a spoofed SYN flood          bench/synflood.sh (+ Linux)
#   stalled    echo round trip and daemon RSS with N connections that never read
#                                                               bench/stalled.sh
#   ctlflood   daemon responsiveness (INFO round trip) while one client pipelines LIST_CONNS
#              requests beside 1,000 idle sessions             bench/abuse_probe.py ctlflood
#   udpflood   daemon RSS under a flood of empty datagrams to a socket that never reads
#              (+ Linux: queue and UdpRcvbufErrors)             bench/abuse_probe.py udp*
#   sessions   daemon RSS per idle client session               bench/abuse_probe.py sessions
#   memory     daemon RSS with N connections that never read, against --mem-max
#                                                               bench/memory.sh (item 2)
#   chat       chat_server RSS: 500 members that never read, one sender of 1.3 MB of lines
# Where the owner of an item wrote a script of its own (bench/udpflood.sh, bench/clients.sh,
# bench/memory.sh), that script runs instead of the probe here, once it has landed.
# Usage: bench/abuse.sh [--build DIR] [--quick] [--only LIST]
# Namespaces minitcp-abuse-<pid> (and the scripts' own), all removed on exit.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
B=$root/build/gcc quick=0 only=synflood,stalled,memory,ctlflood,udpflood,sessions,chat
while [ $# -gt 0 ]; do
    case $1 in
    --build) B=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    --only) only=$2; shift 2 ;;
    -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "abuse.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" -eq 0 ] || { echo "abuse.sh: needs root" >&2; exit 1; }
has() { [[ ",$only," == *",$1,"* ]]; }
PROBE="python3 $root/bench/abuse_probe.py"
NS=minitcp-abuse-$$
T=$(mktemp -d /tmp/minitcp-abuse.XXXXXX)
PIDS=()
stop_all() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    PIDS=()
}
cleanup() {
    stop_all
    ip netns del "$NS" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
if [ $quick = 1 ]; then
    SYN=(4000 5) CONNS=2000 IDLE=200 REQS=200 DGRAMS=100000 SESS=200 MEMBERS=100 RR=1000
else
    SYN=(20000 10) CONNS=10000 IDLE=1000 REQS=1000 DGRAMS=1000000 SESS=1000 MEMBERS=500 RR=5000
fi
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
stat_of() { # LAYER NAME
    "$B/cli/minitcpctl" --socket "$T/d.sock" stats --json |
        python3 -c "import json,sys; print(json.load(sys.stdin).get('$1', {}).get('$2', 'n/a'))"
}
daemon() { # a fresh namespace and minitcpd; sets D
    stop_all
    ip netns del "$NS" 2>/dev/null
    bash "$root/scripts/setup_tun.sh" --netns "$NS" >/dev/null || exit 1
    rm -f "$T/d.sock"
    ip netns exec "$NS" "$B/minitcpd" --tun tun0 --addr 10.0.0.2 --socket "$T/d.sock" \
        ${MINITCPD_OPTS:-} >"$T/d.log" 2>&1 &
    D=$!
    PIDS+=($D)
    for _ in $(seq 100); do grep -q "^minitcpd: up" "$T/d.log" && return 0; sleep 0.05; done
    echo "abuse.sh: minitcpd did not start" >&2
    exit 1
}
echo "MiniTCP under attack: $B/minitcpd, commit $(git -C "$root" rev-parse --short HEAD)," \
    "$(nproc) cores, Linux $(uname -r)"

if has synflood; then
    echo "== synflood"
    MINITCP_BUILD=$B bash "$root/bench/synflood.sh" "${SYN[@]}"
fi

if has stalled; then
    echo "== stalled (N connections that never read, daemon --sndbuf 262144, its default)"
    MINITCPD_OPTS=${MINITCPD_OPTS:-} bash "$root/bench/stalled.sh" --build "$B" --conns "$CONNS" --sndbuf 262144
fi

# owner SCRIPT ARGS...: runs bench/SCRIPT when it exists (true), else false
owner() {
    local f=$root/bench/$1
    shift
    [ -f "$f" ] || return 1
    echo "(bench/$(basename "$f") $*)"
    bash "$f" "$@"
    return 0
}

if has memory; then
    echo "== memory ($CONNS connections that never read, both directions)"
    owner memory.sh --build "$B" --conns "$CONNS" ||
        echo "pending: bench/memory.sh (item 2) has not landed; see the stalled RSS above"
fi

has ctlflood && [ -f "$root/bench/clients.sh" ] && echo "== ctlflood and sessions (client sessions, items 7 and 8)"
if has ctlflood && owner clients.sh --build "$B" --clients "$SESS" --idle "$IDLE" --reqs "$REQS" --rr "$RR"; then
    only=${only//ctlflood/}
    only=${only//sessions/} # bench/clients.sh measured both
fi

if has ctlflood; then
    echo "== ctlflood ($IDLE idle sessions, one session pipelines $REQS LIST_CONNS)"
    daemon
    echo "MiniTCP: $($PROBE ctlflood "$T/d.sock" "$IDLE" "$REQS")"
fi

if has udpflood; then
    echo "== udpflood ($DGRAMS empty datagrams to a socket whose program never reads)"
fi
if has udpflood && owner udpflood.sh --build "$B" --count "$DGRAMS"; then
    only=${only//udpflood/}
fi
if has udpflood; then
    daemon
    r0=$(rss $D)
    $PROBE udpsink "$T/d.sock" 5000 "$T/bound" >"$T/sink.log" 2>&1 &
    SINK=$!
    PIDS+=($SINK)
    for _ in $(seq 100); do [ -s "$T/bound" ] && break; sleep 0.05; done
    ip netns exec "$NS" $PROBE udpflood 10.0.0.2 5000 "$DGRAMS" >/dev/null
    sleep 1
    r1=$(rss $D)
    rm -f "$T/bound"
    wait "$SINK"
    echo "MiniTCP: daemon RSS $r0 -> $r1 KiB, udp drop_rcvbuf $(stat_of udp drop_rcvbuf)," \
        "the never-reading client's session: $(cat "$T/sink.log")"
    echo "Linux: $(ip netns exec "$NS" $PROBE linuxudp "$DGRAMS")"
fi

if has sessions; then
    echo "== sessions ($SESS idle client sessions, one INFO each)"
    daemon
    echo "MiniTCP: $($PROBE sessions "$T/d.sock" "$SESS" "$D")"
fi

if has chat; then
    echo "== chat ($MEMBERS members that never read, one sender of 1.3 MB of lines)"
    daemon
    MINITCP_SOCKET=$T/d.sock "$B/apps/chat_server" --port 8080 --max-per-addr 100000 \
        --max-conns 100000 >"$T/chat.log" 2>&1 &
    C=$!
    PIDS+=($C)
    for _ in $(seq 100); do grep -q listening "$T/chat.log" && break; sleep 0.05; done
    c0=$(rss $C)
    ip netns exec "$NS" python3 - "$MEMBERS" "$C" "$c0" <<'EOF'
import socket, sys, time
n, pid, c0 = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rss = lambda: next(l.split()[1] for l in open("/proc/%d/status" % pid) if l.startswith("VmRSS"))
members = []
for i in range(n):
    s = socket.create_connection(("10.0.0.2", 8080))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(b"hi\n")  # a member at once, then never reads
    members.append(s)
snd = socket.create_connection(("10.0.0.2", 8080))
snd.setblocking(False)
line = b"x" * 99 + b"\n"
sent, t0 = 0, time.monotonic()
while sent < 1300000 and time.monotonic() - t0 < 60:
    try:
        sent += snd.send(line * 100)
    except BlockingIOError:
        time.sleep(0.01)
    try:
        while snd.recv(1 << 20):
            pass
    except BlockingIOError:
        pass
time.sleep(3)
print("sent %d bytes of lines; chat_server RSS %s -> %s KiB (members still connected)" % (sent, c0, rss()))
EOF
    echo "members disconnected for the queue caps (defaults --queue-max 16M," \
        "--member-queue-max 1M): $(grep -c 'queue cap' "$T/chat.log")"
fi
