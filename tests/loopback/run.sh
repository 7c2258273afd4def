#!/usr/bin/env bash
# Hermetic client-side test: twin_daemon (two cores, two session servers, in memory), the
# apps on A, test clients on B. No root, no TUN. Usage: run.sh BUILD_DIR
set -u
B=${1:?build dir}
T=$(mktemp -d /tmp/minitcp-loopback.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fails=0
check() { local what=$1; shift; if "$@" >"$T/out" 2>&1; then echo "ok   $what"; else echo "FAIL $what"; sed 's/^/     /' "$T/out"; fails=$((fails + 1)); fi; }
"$B/tests/loopback/twin_daemon" "$T" >"$T/twin.log" 2>"$T/twin.err" & PIDS+=($!)
for _ in $(seq 50); do [ -S "$T/a.sock" ] && [ -S "$T/b.sock" ] && break; sleep 0.1; done
export MINITCP_SOCKET=$T/a.sock
"$B/apps/chat_server" >"$T/chat.log" 2>&1 & PIDS+=($!)
"$B/apps/source_server" >"$T/src.log" 2>&1 & PIDS+=($!)
"$B/apps/discard_server" >"$T/dis.log" 2>&1 & PIDS+=($!)
"$B/apps/echo_server" >"$T/echo.log" 2>&1 & PIDS+=($!)
MINITCP_SOCKET=$T/b.sock "$B/apps/echo_server" >"$T/echob.log" 2>&1 & PIDS+=($!)
for _ in $(seq 50); do grep -q listening "$T/chat.log" 2>/dev/null && break; sleep 0.1; done
C="$B/tests/loopback/loopback_client"
export MINITCP_SOCKET=$T/b.sock
check "chat_server banner names the daemon's address and TUN" grep -q "listening on port 8080 (self=10.0.0.2, tun=tun0)" "$T/chat.log"
check "HTTP: 500 sequential exact replies" timeout 60 "$C" http 10.0.0.2 8080 0 500
check "source_server: 20 MB verified pattern" timeout 60 "$C" src 10.0.0.2 19 20000000
check "discard_server: 20 MB written" timeout 60 "$C" sink 10.0.0.2 9 20000000
check "echo_server: 5 MB echoed and verified" timeout 60 "$C" echo 10.0.0.2 7 5000000
check "chat_client: a line comes back, exits at EOF" bash -c "(printf 'hi-there\n'; sleep 1) | timeout 10 $B/apps/chat_client --server 10.0.0.2 --port 8080 | grep -qx hi-there"
check "30 concurrent client processes" bash -c "
    for i in \$(seq 30); do timeout 60 $C http 10.0.0.2 8080 0 5 >/dev/null & done
    f=0; for j in \$(jobs -p); do wait \$j || f=1; done; exit \$f"
MINITCP_SOCKET=$T/a.sock timeout 30 "$B/tests/loopback/loopback_udp" server 50 >"$T/udps.log" 2>&1 & PIDS+=($!)
sleep 0.3
check "UDP sendto/recvfrom echo, 50 datagrams" timeout 30 "$B/tests/loopback/loopback_udp" client 50
check "API edge cases" bash -c "MINITCP_SOCKET=$T/a.sock timeout 30 $B/tests/loopback/loopback_api > $T/api.log 2>&1; cat $T/api.log;
    grep -q 'after 16384 sockets: Too many open files' $T/api.log && grep -q 'bind same port: -1 Address already in use' $T/api.log &&
    grep -q 'connect to closed port: -1 Connection refused' $T/api.log &&
    grep -q 'connect to 127.0.0.1: -1 Network is unreachable' $T/api.log &&
    grep -q 'connect to 10.0.0.2: -1 Connection refused' $T/api.log && grep -q 'send after shut: -1 Broken pipe' $T/api.log"
check "POSIX semantics (FIN, RST, unread close, SHUT_WR, refused, EINTR, EBADF, EADDRINUSE, poll, backlog)" \
    timeout 60 "$B/tests/loopback/loopback_posix" "$T"
check "keepalive: daemon A's probes of the idle connection were sent, each answered" bash -c "
    $B/cli/minitcpctl --socket $T/a.sock stats > $T/ka.stats; grep -E 'keepalive' $T/ka.stats
    awk '\$2 == \"keepalive_probes\" && \$3 >= 2 { p = 1 } \$2 == \"keepalive_drops\" && \$3 == 0 { d = 1 } END { exit !(p && d) }' $T/ka.stats"
check "hand-written frames: split, zero-length, exactly 64 KiB, oversize, dying mid-frame, unread LIST_CONNS flood" \
    timeout 60 python3 "$(dirname "$0")/rawframes.py" "$T/a.sock" "${PIDS[0]}"
check "50,000 pipelined LIST_CONNS beside 500 idle sessions: INFO, a TCP echo and a bind of another client are served before the flood ends" \
    timeout 150 python3 "$(dirname "$0")/rawflood.py" "$T/a.sock" 10.0.1.2 7 50000
# the per-uid client limit, on a daemon of its own
mkdir -p "$T/lim"
TWIN_MAX_CLIENTS_PER_UID=3 "$B/tests/loopback/twin_daemon" "$T/lim" >/dev/null 2>"$T/lim/twin.err" & PIDS+=($!)
for _ in $(seq 50); do [ -S "$T/lim/a.sock" ] && break; sleep 0.1; done
check "--max-clients-per-uid: EUSERS frame, clear errors in minitcpctl and apps, counted, place reused" \
    timeout 60 python3 "$(dirname "$0")/rawlimit.py" "$T/lim/a.sock" "$B/cli/minitcpctl" "$B/apps/echo_server"
# SIGTERM / SIGINT: every app closes its sockets and exits 0 with one line
check "apps stop cleanly on SIGTERM and SIGINT (exit 0, one line, sockets gone)" bash -c "
    for sig in TERM INT; do for a in chat_server:8090 echo_server:8091 discard_server:8092 source_server:8093; do
        n=\${a%%:*}; p=\${a##*:}
        : >$T/sig.out # emptied here, not by the child: the grep below must not see the last app's line
        MINITCP_SOCKET=$T/a.sock $B/apps/\$n --port \$p >>$T/sig.out 2>$T/sig.err & pid=\$!
        for _ in \$(seq 600); do grep -q listening $T/sig.out && break; sleep 0.05; done
        grep -q listening $T/sig.out || { echo \"\$n SIG\$sig: not listening after 30 s: \$(cat $T/sig.out $T/sig.err)\"; kill -KILL \$pid; exit 1; }
        kill -\$sig \$pid; wait \$pid; rc=\$?
        [ \$rc = 0 ] || { echo \"\$n SIG\$sig: exit \$rc\"; exit 1; }
        grep -qx \"\$n: SIG\$sig, closing connections and exiting\" $T/sig.err || { echo \"\$n: \$(cat $T/sig.err)\"; exit 1; }
        ! $B/cli/minitcpctl --socket $T/a.sock connections --json | grep -q \"\\\"pid\\\":[[:space:]]*\$pid,\" || { echo \"\$n: sockets left\"; exit 1; }
    done; done"
# a daemon that dies under a blocked call: the call fails, nothing hangs
mkdir -p "$T/o"
"$B/tests/loopback/twin_daemon" "$T/o" >/dev/null 2>"$T/o/twin.err" & OTW=$!; PIDS+=($OTW)
for _ in $(seq 50); do [ -S "$T/o/a.sock" ] && break; sleep 0.1; done
MINITCP_SOCKET=$T/o/a.sock timeout 20 "$B/tests/loopback/loopback_posix" orphan >"$T/orphan.out" 2>&1 & ORPH=$!
for _ in $(seq 100); do grep -q blocking "$T/orphan.out" && break; sleep 0.05; done
kill -KILL $OTW
wait $ORPH; ORC=$?
check "daemon killed under a blocked accept: every call fails, none hangs" bash -c "cat $T/orphan.out; exit $ORC"
# a source_server client killed mid-transfer: the reader sees the end, no socket of the pid remains
MINITCP_SOCKET=$T/a.sock "$B/apps/source_server" --port 1919 >"$T/src2.log" 2>&1 & SRC=$!; PIDS+=($SRC)
sleep 0.3
timeout 20 "$C" src 10.0.0.2 1919 100000000000 >"$T/killed.out" 2>&1 & RD=$!
sleep 0.5; kill -KILL $SRC
wait $RD; RDRC=$?
check "killed server: the reader's connection ends (not by timeout)" bash -c "cat $T/killed.out; [ $RDRC != 124 ]"
check "killed server: no socket of its pid is left" bash -c "sleep 0.3; ! $B/cli/minitcpctl --socket $T/a.sock connections --json | grep -q '\"pid\":[[:space:]]*$SRC,'"
check "minitcpctl stats --json" bash -c "$B/cli/minitcpctl --socket $T/a.sock stats --json | grep -q rx_segments"
check "garbage on the Unix socket leaves the daemon serving" bash -c "
    for i in 1 2 3 4 5; do head -c 3000 /dev/urandom | timeout 2 socat - UNIX-CONNECT:$T/a.sock >/dev/null 2>&1 || python3 -c \"
import socket,os; s=socket.socket(socket.AF_UNIX); s.connect('$T/a.sock'); s.sendall(os.urandom(3000)); s.close()\"; done
    timeout 20 $C http 10.0.0.2 8080 0 3"
check "every app: missing daemon is one clear error, exit 1" bash -c "
    for a in chat_server echo_server discard_server source_server; do
        MINITCP_SOCKET=$T/none.sock timeout 5 $B/apps/\$a >/dev/null 2>$T/e; [ \$? = 1 ] && grep -q 'cannot reach minitcpd' $T/e || exit 1; done
    MINITCP_SOCKET=$T/none.sock timeout 5 $B/apps/chat_client --server 10.0.0.2 --port 1 </dev/null 2>/dev/null; [ \$? = 1 ]"
check "bad options exit 2" bash -c "$B/apps/chat_server --bogus 2>/dev/null; [ \$? = 2 ] && $B/apps/chat_client 2>/dev/null; [ \$? = 2 ] && $B/cli/minitcpctl frob 2>/dev/null; [ \$? = 2 ]"
kill -TERM "${PIDS[0]}"; wait "${PIDS[0]}" 2>/dev/null
check "twin_daemon reported no sanitizer/runtime error" bash -c "! grep -E 'runtime error|AddressSanitizer' $T/twin.err"
echo "loopback: $fails failure(s)"
[ "$fails" = 0 ]
