#!/usr/bin/env bash
# minitcpd as a service: chat_server/HTTP over libminitcp-client against nc and curl,
# minitcpctl, many clients, a killed client, garbage on the Unix socket, two daemons.
. "$(dirname "$0")/lib.sh"
it_init service
it_setup_tun --two
A=$IT_TMP/a.sock B=$IT_TMP/b.sock
APPS=$IT_BUILD/apps CTL=$IT_BUILD/cli/minitcpctl
it_daemon a --tun tun0 --addr 10.0.0.2 --trace --msl 500
DA=$IT_LASTPID
it_daemon b --tun tun1 --addr 10.0.1.2 --trace --msl 500
DB=$IT_LASTPID
it_bg chat env MINITCP_SOCKET="$A" "$APPS/chat_server" --port 8080
wait_for "$IT_TMP/chat.log" "^chat_server: listening on port 8080 \(self=10\.0\.0\.2, tun=tun0\)" 10 ||
    { it_log "FAIL: chat_server did not start"; exit 1; }
LOG=$IT_TMP/a.log
TC="python3 $IT_SRC/tests/integration/tcpclients.py"

# --- nc chat session: echo, remote-initiated close, minitcpctl while open
check "nc: a line is echoed" bash -c "printf 'hello\n' | timeout 10 ip netns exec $IT_NS nc -N 10.0.0.2 8080 | grep -qx hello"
check "trace: handshake and remote close ESTABLISHED -> CLOSE_WAIT -> LAST_ACK -> CLOSED" bash -c "
    grep -qx '\[TCP \] state LISTEN -> SYN_RCVD' $LOG && grep -qx '\[TCP \] state SYN_RCVD -> ESTABLISHED' $LOG &&
    grep -qx '\[TCP \] state ESTABLISHED -> CLOSE_WAIT' $LOG && grep -qx '\[TCP \] state CLOSE_WAIT -> LAST_ACK' $LOG &&
    grep -qx '\[TCP \] state LAST_ACK -> CLOSED' $LOG"
nsx $TC hold 10.0.0.2 8080 "$IT_TMP/holding" >"$IT_TMP/hold.log" 2>&1 &
HOLD=$!
IT_PIDS+=($HOLD)
wait_for "$IT_TMP/holding" "" 10 2>/dev/null || [ -e "$IT_TMP/holding" ]
check "minitcpctl --json shows the open session ESTABLISHED, owned by chat_server's pid" \
    bash -c "$CTL --socket $A connections --json > $IT_TMP/conns.json && python3 -c '
import json, sys
conns = json.load(open(\"$IT_TMP/conns.json\"))
est = [c for c in conns if c.get(\"state\") == \"ESTABLISHED\" and c.get(\"local_port\", c.get(\"lport\")) == 8080]
sys.exit(0 if est else 1)'"
check "minitcpctl connections: the ss -ti fields agree with Linux's ss on the same connection" \
    python3 "$IT_SRC/tests/integration/ctl_vs_ss.py" "$CTL" "$A" "$IT_NS" 8080
check "minitcpctl table lists LISTEN and ESTABLISHED" bash -c "$CTL --socket $A connections | tee $IT_TMP/conns.txt | grep -q ESTABLISHED && grep -q LISTEN $IT_TMP/conns.txt"
check "minitcpctl stats --json has counters" bash -c "$CTL --socket $A stats --json | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d else 1)'"
# issue 11's loss-recovery counters are listed (table and JSON); a clean local path has
# no bogus SACK blocks, reneging, bad timestamp options, PAWS drops or ACKs of unsent data
check "minitcpctl stats: the loss-recovery counters, table and JSON; none of the bad-input ones on a clean path" bash -c "
    $CTL --socket $A stats > $IT_TMP/stats.txt && $CTL --socket $A stats --json > $IT_TMP/stats.json &&
    for k in sack_recoveries rack_detections tlps spurious_rtos_undone dsacks_received reneging_seen sack_blocks_bogus ts_opt_bad paws_drops; do
        grep -qE \"^tcp +\$k +[0-9]+ \" $IT_TMP/stats.txt || { echo \"no \$k in the table\"; exit 1; }; done &&
    python3 -c '
import json, sys
t = json.load(open(\"$IT_TMP/stats.json\"))[\"tcp\"]
bad = {k: t[k] for k in (\"sack_blocks_bogus\", \"reneging_seen\", \"ts_opt_bad\", \"ts_ecr_future\", \"paws_drops\", \"drop_ack_unsent\")}
keys = (\"sack_recoveries\", \"rack_detections\", \"tlps\", \"spurious_rtos_undone\", \"dsacks_received\")
print(bad, file=sys.stderr)
sys.exit(0 if all(k in t for k in keys) and not any(bad.values()) else 1)'"
rm -f "$IT_TMP/holding"
wait "$HOLD"

# --- curl: the HTTP responder closes first (local-initiated close)
check "curl -s -i gets exactly the 200 OK response" bash -c "
    timeout 10 ip netns exec $IT_NS curl -s -i http://10.0.0.2:8080/ > $IT_TMP/curl.out
    printf 'HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n' | cmp - $IT_TMP/curl.out"
# Linux often acknowledges our FIN in the same segment as its own FIN (curl closes at once):
# then FIN_WAIT_1 -> TIME_WAIT directly (RFC 9293 3.10.7.4); otherwise via FIN_WAIT_2.
check "trace: local close ESTABLISHED -> FIN_WAIT_1 -> (FIN_WAIT_2 ->) TIME_WAIT -> CLOSED" bash -c "
    wait_until() { for _ in \$(seq 100); do grep -qx \"\$1\" $LOG && return 0; sleep 0.05; done; return 1; }
    grep -qx '\[TCP \] state ESTABLISHED -> FIN_WAIT_1' $LOG &&
    { grep -qx '\[TCP \] state FIN_WAIT_1 -> TIME_WAIT' $LOG ||
      { grep -qx '\[TCP \] state FIN_WAIT_1 -> FIN_WAIT_2' $LOG && grep -qx '\[TCP \] state FIN_WAIT_2 -> TIME_WAIT' $LOG; }; } &&
    wait_until '\[TCP \] state TIME_WAIT -> CLOSED'"

# --- many clients
check "two chat clients through TCP see each other's lines" nsx $TC chat2 10.0.0.2 8080
check "100 concurrent nc/curl-like clients all served" nsx $TC concurrent 10.0.0.2 8080 100

# --- a client killed mid-transfer
it_bg src env MINITCP_SOCKET="$A" "$APPS/source_server" --port 19
SRC=$IT_LASTPID
wait_for "$IT_TMP/src.log" "listening" 10
nsx timeout 20 nc 10.0.0.2 19 </dev/null >"$IT_TMP/src.out" 2>/dev/null &
NC=$!
for _ in $(seq 100); do [ "$(stat -c %s "$IT_TMP/src.out")" -gt 100000 ] && break; sleep 0.05; done
kill -KILL "$SRC"
check "SIGKILLed client: the peer's connection ends (FIN or RST)" bash -c "
    for _ in \$(seq 100); do kill -0 $NC 2>/dev/null || exit 0; sleep 0.05; done; exit 1"
check "SIGKILLed client: minitcpctl shows no socket of its pid" bash -c "
    $CTL --socket $A connections --json | python3 -c '
import json, sys
sys.exit(1 if any(c.get(\"pid\") == $SRC for c in json.load(sys.stdin)) else 0)'"
check "after the kill, a fresh connection is served" bash -c "printf 'again\n' | timeout 10 ip netns exec $IT_NS nc -N 10.0.0.2 8080 | grep -qx again"

# --- garbage on the Unix socket
check "garbage written to the Unix socket is rejected" python3 -c "
import socket, random
r = random.Random(7)
for i in range(20):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect('$A')
    try:
        s.sendall(bytes(r.getrandbits(8) for _ in range(r.randrange(1, 4096))))
        s.settimeout(2)
        s.recv(100)
    except OSError:
        pass
    s.close()
"
check "after the garbage, chat still works" bash -c "printf 'still\n' | timeout 10 ip netns exec $IT_NS nc -N 10.0.0.2 8080 | grep -qx still"
check "after the garbage, HTTP still works" bash -c "timeout 10 ip netns exec $IT_NS curl -s http://10.0.0.2:8080/ | grep -qx hello"

# --- two MiniTCPs: chat_client on B talks to chat_server on A through kernel forwarding
mkfifo "$IT_TMP/cc.in"
exec 7<>"$IT_TMP/cc.in" # held open read-write so neither side blocks opening the fifo
it_bg cc env MINITCP_SOCKET="$B" "$APPS/chat_client" --server 10.0.0.2 --port 8080 <"$IT_TMP/cc.in" 7<&-
CC=$IT_LASTPID
echo "from-minitcp-b" >&7
check "two daemons: chat_client's line reaches chat_server and is echoed back" wait_for "$IT_TMP/cc.log" "^from-minitcp-b$" 10
check "two daemons: a kernel client's line reaches chat_client" bash -c "
    printf 'from-kernel\n' | timeout 10 ip netns exec $IT_NS nc -N 10.0.0.2 8080 >/dev/null
    for _ in \$(seq 100); do grep -qx from-kernel $IT_TMP/cc.log && exit 0; sleep 0.05; done; exit 1"
exec 7>&-
check "two daemons: chat_client exits when its input ends" bash -c "
    for _ in \$(seq 100); do kill -0 $CC 2>/dev/null || exit 0; sleep 0.05; done; exit 1"
check "two daemons: B opened actively and closed first (SYN_SENT -> ESTABLISHED -> FIN_WAIT_1 ... TIME_WAIT -> CLOSED)" bash -c "
    for _ in \$(seq 100); do grep -qx '\[TCP \] state TIME_WAIT -> CLOSED' $IT_TMP/b.log && break; sleep 0.05; done
    grep -qx '\[TCP \] state SYN_SENT -> ESTABLISHED' $IT_TMP/b.log &&
    grep -qx '\[TCP \] state ESTABLISHED -> FIN_WAIT_1' $IT_TMP/b.log &&
    grep -qx '\[TCP \] state TIME_WAIT -> CLOSED' $IT_TMP/b.log"

# --- misuse
check "minitcpctl without a daemon: one-line error, exit 1" bash -c "
    out=\$($CTL --socket $IT_TMP/none.sock connections 2>&1); rc=\$?; echo \"\$out\"; [ \$rc = 1 ] && [ \$(echo \"\$out\" | wc -l) = 1 ]"
check "chat_server without a daemon: clear error, exit 1" bash -c "
    out=\$(MINITCP_SOCKET=$IT_TMP/none.sock timeout 5 $APPS/chat_server --port 8081 2>&1); rc=\$?; echo \"\$out\"; [ \$rc = 1 ]"
check "both daemons still running" bash -c "kill -0 $DA && kill -0 $DB"
it_done
