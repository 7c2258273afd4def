#!/usr/bin/env bash
# Keepalive (RFC 1122 4.2.3.6) and the user timeout (RFC 5482) against Linux:
#   - Linux's keepalives (SO_KEEPALIVE, TCP_KEEPIDLE=1, TCP_KEEPINTVL=1, TCP_KEEPCNT=2) to
#     MiniTCP's echo service are answered: the connection outlives 5 idle seconds (Linux
#     would reset it after 3 without answers) and still echoes;
#   - MiniTCP's keepalives (keepalive_client, 1 s / 1 s / 2) to a Linux listener are
#     answered: alive after 5 s, probes counted, no drop;
#   - with Linux unreachable (tun0 down), MiniTCP's unanswered keepalives reset the
#     connection with ETIMEDOUT at idle + cnt * intvl = 3 s, and a 3 s user timeout ends
#     a connection whose data stays unacknowledged at 3 s.
. "$(dirname "$0")/lib.sh"
it_init keepalive
command -v python3 >/dev/null || { it_log "SKIP: needs python3"; exit 77; }
it_setup_tun
it_daemon d --tun tun0 --addr 10.0.0.2 --tcp-echo 7
D=$IT_LASTPID
CTL="$IT_BUILD/cli/minitcpctl --socket $IT_TMP/d.sock"
KC=$IT_BUILD/tests/keepalive_client
stat_of() { $CTL stats | awk -v n="$1" '$1 == "tcp" && $2 == n { print $3 }'; }

# 1. Linux probes MiniTCP
linux_probes() {
    local before after
    before=$(nsx nstat -az TcpExtTCPKeepAlive | awk '$1 == "TcpExtTCPKeepAlive" { print $2 }')
    nsx python3 - <<'EOF' || return 1
import socket, sys, time
s = socket.create_connection(("10.0.0.2", 7), timeout=5)
s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 2)
time.sleep(5)  # idle: the time under test (unanswered, Linux resets at 3 s)
s.sendall(b"ping")
d = s.recv(16)
print("echo after 5 s idle:", d)
sys.exit(0 if d == b"ping" else 1)
EOF
    after=$(nsx nstat -az TcpExtTCPKeepAlive | awk '$1 == "TcpExtTCPKeepAlive" { print $2 }')
    it_log "Linux keepalive probes sent: $((after - before))"
    [ $((after - before)) -ge 3 ]
}
check "Linux's keepalives (1 s) to MiniTCP are answered: alive after 5 s idle, echo works" linux_probes

# a Linux listener that holds every connection open until the peer closes
it_bg lsn python3 -c '
import socket, threading
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("10.0.0.1", 9100)); l.listen(8); print("listening", flush=True)
def hold(c):
    while c.recv(65536): pass
while True:
    c, _ = l.accept(); threading.Thread(target=hold, args=(c,), daemon=True).start()
'
wait_for "$IT_TMP/lsn.log" listening 10 || exit 1

# start_client NAME ARGS...: keepalive_client reading its go-ahead from a fifo (held open
# read-write here first, so neither open blocks)
start_client() {
    local name=$1 fd
    shift
    mkfifo "$IT_TMP/$name.go"
    exec {fd}<>"$IT_TMP/$name.go"
    eval "GO_$name=$fd"
    it_bg "$name" env MINITCP_SOCKET="$IT_TMP/d.sock" "$KC" 10.0.0.1 9100 "$@" <"$IT_TMP/$name.go"
    wait_for "$IT_TMP/$name.log" '^connected' 10
}
go() { local v="GO_$1"; echo go >&"${!v}"; }

# 2. MiniTCP probes Linux
p0=$(stat_of keepalive_probes)
start_client alive 1 1 2 0 5 0 || exit 1
go alive
wait_for "$IT_TMP/alive.log" '^(alive|error|eof)' 10
check "MiniTCP's keepalives (1 s) to Linux are answered: alive after 5 s" grep -qx alive "$IT_TMP/alive.log"
p1=$(stat_of keepalive_probes)
it_log "MiniTCP keepalive probes sent: $((p1 - p0)), drops: $(stat_of keepalive_drops)"
check "MiniTCP counted its probes (>= 3) and no drop" test $((p1 - p0)) -ge 3 -a "$(stat_of keepalive_drops)" = 0

# 3. Linux stops answering: unanswered keepalives and the user timeout
start_client dead 1 1 2 0 10 0 || exit 1
start_client ut 100 1 2 3000 10 100 || exit 1
nsx ip link set tun0 down # MiniTCP's segments no longer reach Linux, nor its answers
go dead
go ut
wait_for "$IT_TMP/dead.log" '^(alive|error|eof)' 15
wait_for "$IT_TMP/ut.log" '^(alive|error|eof)' 15
cat "$IT_TMP/dead.log" "$IT_TMP/ut.log" >&2
in_range() { # log lo hi field: ETIMEDOUT with lo <= MS <= hi, MS from the go-ahead (field 1)
    local ms   # or from the connection's establishment (field 2)
    ms=$(sed -n 's/^error Connection timed out after \([0-9]*\) ms, \([0-9]*\) since connected$/\'"$4"'/p' "$1")
    [ -n "$ms" ] && [ "$ms" -ge "$2" ] && [ "$ms" -le "$3" ]
}
check "unanswered keepalives: ETIMEDOUT at idle + 2 x intvl = 3 s after the last segment" \
    in_range "$IT_TMP/dead.log" 2950 3600 2
check "user timeout 3 s with data unacknowledged: ETIMEDOUT 3 s after the send" \
    in_range "$IT_TMP/ut.log" 2950 3600 1
check "counted: keepalive_drops 1, user_timeouts 1" \
    test "$(stat_of keepalive_drops)" = 1 -a "$(stat_of user_timeouts)" = 1
check "minitcpd still running" kill -0 "$D"
it_done
