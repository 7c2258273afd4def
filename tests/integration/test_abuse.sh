#!/usr/bin/env bash
# The adversarial suite, short (issue 10; the long figures: bench/run.sh --figures abuse).
# Each attack runs a few seconds against one daemon while legitimate clients check that
# they are still served with the right bytes; then the daemon must still be up and answer.
#   a spoofed SYN flood while curl fetches; connections that never read while echo runs;
#   a pipelined LIST_CONNS flood beside idle sessions; empty datagrams to a socket that
#   never reads; many client sessions; chat members that never read.
. "$(dirname "$0")/lib.sh"
it_init abuse
it_setup_tun
A=$IT_TMP/a.sock
APPS=$IT_BUILD/apps CTL=$IT_BUILD/cli/minitcpctl
PROBE="python3 $IT_SRC/bench/abuse_probe.py"
it_daemon a --tun tun0 --addr 10.0.0.2
D=$IT_LASTPID
for app in chat_server:8080 echo_server:7 source_server:19; do
    it_bg "${app%:*}" env MINITCP_SOCKET="$A" "$APPS/${app%:*}" --port "${app#*:}"
    wait_for "$IT_TMP/${app%:*}.log" "listening on port ${app#*:}" 10 || { it_log "FAIL: ${app%:*}"; exit 1; }
done
fetch() { timeout 15 ip netns exec "$IT_NS" curl -s -m 10 http://10.0.0.2:8080/ | grep -qx hello; }
# echo_bytes N: N pseudo-random bytes through echo_server, compared exactly
echo_bytes() {
    nsx timeout 30 python3 - "$1" <<'PYEOF'
import os, socket, sys
n = int(sys.argv[1])
data = os.urandom(n)
s = socket.create_connection(("10.0.0.2", 7), timeout=20)
s.sendall(data)
got = b""
while len(got) < n:
    d = s.recv(65536)
    if not d:
        break
    got += d
sys.exit(0 if got == data else 1)
PYEOF
}
alive() { kill -0 "$D" && "$CTL" --socket "$A" stats --json >/dev/null; }

# --- a spoofed SYN flood (1,500 SYNs in 2 s) while curl fetches back to back
it_bg flood python3 "$IT_SRC/tests/integration/synflood.py" tun0 10.0.0.2 8080 1500 2 3
FP=$IT_LASTPID
ok=0 n=0
while kill -0 "$FP" 2>/dev/null; do
    n=$((n + 1))
    fetch && ok=$((ok + 1))
done
it_log "figure: curl during the SYN flood: $ok/$n"
check "SYN flood: every curl during the flood served ($ok of $n, at least 2)" test "$n" -ge 2 -a "$ok" -eq "$n"

# --- 500 connections that never read (4 KiB receive buffer) stall on source_server
# directly, not through the nsx function: in the background a function is a subshell,
# and killing it would leave the python process running
ip netns exec "$IT_NS" python3 - 500 "$IT_TMP/stalled" <<'PYEOF' >"$IT_TMP/stall.log" 2>&1 &
import socket, sys, time
n, ready = int(sys.argv[1]), sys.argv[2]
socks = []
for i in range(n):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("10.0.0.2", 19))
    socks.append(s)
open(ready, "w").write("%d\n" % n)
import os
while os.path.exists(ready):  # ends with the test's scratch directory, whatever happens
    time.sleep(0.2)
PYEOF
STALL=$!
IT_PIDS+=($STALL)
wait_for "$IT_TMP/stalled" "^500$" 60
check "stalled: 500 never-reading connections were opened" grep -qx 500 "$IT_TMP/stalled"
check "stalled: 64 KiB through echo_server come back exactly" echo_bytes 65536
check "stalled: curl served" fetch
check "stalled: minitcpctl lists the stalled connections with data queued" bash -c "
    $CTL --socket $A connections --json | python3 -c '
import json, sys
c = [x for x in json.load(sys.stdin) if x.get(\"local_port\", x.get(\"lport\")) == 19 and x.get(\"send_queue\", 0) > 0]
print(len(c), \"stalled with data queued\", file=sys.stderr); sys.exit(0 if len(c) >= 400 else 1)'"
kill "$STALL"
wait "$STALL" 2>/dev/null

# --- one client pipelines 200 LIST_CONNS requests beside 200 idle sessions
check "LIST_CONNS flood: every request answered, INFO answered meanwhile" bash -c "
    $PROBE ctlflood $A 200 200 | tee $IT_TMP/ctl.json | python3 -c '
import json, sys; r = json.load(sys.stdin); sys.exit(0 if r[\"answered\"] == 200 and r[\"info_rtts\"] >= 1 else 1)'"
it_log "figure: $(cat "$IT_TMP/ctl.json")"
check "LIST_CONNS flood: echo served after it" echo_bytes 4096
check "LIST_CONNS flood: curl served after it" fetch

# --- 50,000 empty datagrams to a MiniTCP socket whose program never reads
$PROBE udpsink "$A" 5000 "$IT_TMP/bound" >"$IT_TMP/sink.log" 2>&1 &
SINK=$!
IT_PIDS+=($SINK)
wait_for "$IT_TMP/bound" "bound" 10
check "empty datagrams: 50,000 sent" bash -c "nsx() { ip netns exec $IT_NS \"\$@\"; }; nsx $PROBE udpflood 10.0.0.2 5000 50000 | grep -q 'sent 50000'"
DROPS=$("$CTL" --socket "$A" stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["udp"]["drop_rcvbuf"])')
it_log "figure: empty datagrams: daemon RSS $(awk '/^VmRSS/ {print $2}' /proc/$D/status) KiB, udp drop_rcvbuf $DROPS"
check "empty datagrams: the excess is dropped and counted (drop_rcvbuf $DROPS > 0)" test "$DROPS" -gt 0
rm -f "$IT_TMP/bound"
wait "$SINK"
SINK_RC=$?
check "empty datagrams: the never-reading client's session survives (not aborted)" test "$SINK_RC" -eq 0
check "empty datagrams: echo served after" echo_bytes 4096

# --- 300 client sessions that ask once and sit idle
check "sessions: 300 idle client sessions each answered" bash -c "
    $PROBE sessions $A 300 $D | tee $IT_TMP/sess.json | grep -q '\"sessions\": 300'"
it_log "figure: $(cat "$IT_TMP/sess.json")"

# --- chat: 50 members that never read, one sender of 600 KB of lines (queue cap 256 KiB)
it_bg chatq env MINITCP_SOCKET="$A" "$APPS/chat_server" --port 8090 --queue-max 256K
CQ=$IT_LASTPID
wait_for "$IT_TMP/chatq.log" "listening on port 8090" 10
check "chat: 50 never-reading members are disconnected at the queue cap, the sender gets every echo" \
    nsx timeout 60 python3 - <<'PYEOF'
import socket
members = []
for i in range(50):
    s = socket.create_connection(("10.0.0.2", 8090), timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(b"hi\n")
    members.append(s)
snd = socket.create_connection(("10.0.0.2", 8090), timeout=20)
line, want, got = b"y" * 99 + b"\n", 6000 * 100, b""
snd.sendall(b"me\n")
for i in range(0, 6000, 50):
    snd.sendall(line * 50)
    while len(got) < 3 + (i + 50) * 100:  # lock-step on the sender's own echo
        d = snd.recv(65536)
        if not d:
            raise SystemExit("sender disconnected")
        got += d
lines = got.split(b"\n")
ok = got.endswith(line * 6000) and len(lines) >= 6001
print("sender's echo complete:", ok)
raise SystemExit(0 if ok else 1)
PYEOF
check "chat: members were disconnected for the queue cap" grep -q "total queue cap" "$IT_TMP/chatq.log"
check "chat: chat_server still running" kill -0 "$CQ"

check "after every attack: the daemon is up and answers minitcpctl" alive
check "after every attack: curl served" fetch
it_done
