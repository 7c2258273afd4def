#!/usr/bin/env bash
# The shared-ring client path (docs/ipc.md "Shared rings") against the socket fallback:
# byte-exact bulk both ways and 1-byte request/response through discard_server,
# source_server and echo_server on rings, then the same with MINITCP_SHM=0 and with a
# daemon started --shm off; then clients that break the rings: each is closed and counted
# (daemon shm_errors), keeps nothing of the daemon's (fds back to the count before), and
# the other clients carry on.
. "$(dirname "$0")/lib.sh"
it_init shm
it_setup_tun
APPS=$IT_BUILD/apps CTL=$IT_BUILD/cli/minitcpctl AB=$IT_BUILD/tests/shm_abuser
P="python3 $IT_SRC/tests/integration/pump.py"
N=${MINITCP_PUMP_BYTES:-50000000}
RR=2000

stat_of() { # SOCK NAME: a daemon counter
    MINITCP_SHM=0 $CTL --socket "$1" stats --json | python3 -c "
import json, sys
print(json.load(sys.stdin)['daemon']['$2'])"
}

# run_apps LABEL SOCK ENV...: the three servers with ENV, bulk both ways, echo, rr
run_apps() {
    local label=$1 sock=$2 app
    shift 2
    for app in discard_server:9 source_server:19 echo_server:7; do
        it_bg "$label-${app%%:*}" env MINITCP_SOCKET="$sock" "$@" "$APPS/${app%%:*}" --port "${app##*:}"
        wait_for "$IT_TMP/$label-${app%%:*}.log" "listening" 10 || exit 1
        APP_PIDS+=($IT_LASTPID)
    done
    check "$label: $N bytes into discard_server, counted exactly" bash -c "
        timeout 120 ip netns exec $IT_NS $P sink 10.0.0.2 9 $N &&
        for _ in \$(seq 100); do grep -q 'closed after' $IT_TMP/$label-discard_server.log && break; sleep 0.05; done
        grep -qx 'discard_server: connection closed after $N bytes (eof)' $IT_TMP/$label-discard_server.log"
    check "$label: $N bytes out of source_server, pattern verified" \
        timeout 120 ip netns exec "$IT_NS" $P source 10.0.0.2 19 "$N"
    check "$label: $N bytes echoed, verified" timeout 120 ip netns exec "$IT_NS" $P echo 10.0.0.2 7 "$N"
    check "$label: $RR 1-byte requests answered in order" \
        timeout 120 ip netns exec "$IT_NS" $P rr 10.0.0.2 7 "$RR"
}
stop_apps() {
    local p
    for p in "${APP_PIDS[@]}"; do kill -TERM "$p"; wait "$p" 2>/dev/null; done
    APP_PIDS=()
}

it_daemon a --tun tun0 --addr 10.0.0.2
A=$IT_TMP/a.sock DA=$IT_LASTPID
APP_PIDS=()
run_apps rings "$A"
check "rings: the three servers switched to rings (shm_sessions 3)" test "$(stat_of "$A" shm_sessions)" = 3
stop_apps
run_apps frames "$A" MINITCP_SHM=0
check "frames: MINITCP_SHM=0 stays on the socket (shm_sessions still 3)" \
    test "$(stat_of "$A" shm_sessions)" = 3
stop_apps

# clients that break the rings, while a ring client keeps a connection open
it_bg keeper env MINITCP_SOCKET="$A" "$APPS/echo_server" --port 7
wait_for "$IT_TMP/keeper.log" "listening" 10 || exit 1
KEEP=$IT_LASTPID
fds0=$(ls /proc/"$DA"/fd | wc -l)
for mode in head len tail; do
    check "abuser $mode: closed by the daemon" bash -c "ip netns exec $IT_NS $AB $A $mode | tr '\n' ' ' | grep -qx 'attached closed '"
done
check "abuser: three violations counted (shm_errors 3)" test "$(stat_of "$A" shm_errors)" = 3
check "abuser ok: INFO answered through the rings" bash -c "ip netns exec $IT_NS $AB $A ok | tr '\n' ' ' | grep -qx 'attached answered '"
for i in 1 2 3; do ip netns exec "$IT_NS" "$AB" "$A" die >/dev/null; done
check "abuser die: the daemon holds the same fds as before the abusers ($fds0)" bash -c "
    for _ in \$(seq 100); do [ \$(ls /proc/$DA/fd | wc -l) = $fds0 ] && exit 0; sleep 0.05; done; exit 1"
check "abuser die: only the ring client is left (clients 2 with minitcpctl)" \
    test "$(stat_of "$A" clients)" = 2
check "after the abusers: the ring client still echoes" \
    timeout 60 ip netns exec "$IT_NS" $P rr 10.0.0.2 7 200
kill -TERM "$KEEP"; wait "$KEEP" 2>/dev/null
check "minitcpd a still running" kill -0 "$DA"
kill -TERM "$DA"; wait "$DA" 2>/dev/null

# a daemon without rings: new clients fall back to frames
it_daemon b --tun tun0 --addr 10.0.0.2 --shm off
B=$IT_TMP/b.sock
run_apps noshm "$B"
check "--shm off: no session switched (shm_sessions 0)" test "$(stat_of "$B" shm_sessions)" = 0
check "--shm off: the abuser is refused, not closed" bash -c "ip netns exec $IT_NS $AB $B ok | grep -qx refused"
stop_apps
it_done
