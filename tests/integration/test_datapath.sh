#!/usr/bin/env bash
# The client data path over a real TUN: 200 MB each through discard_server, source_server
# and echo_server from kernel clients (bytes verified, no stall), and a reader that stops
# (SIGSTOP): the daemon's memory stays bounded and the TCP window closes, then reopens.
. "$(dirname "$0")/lib.sh"
it_init datapath
it_setup_tun
A=$IT_TMP/a.sock APPS=$IT_BUILD/apps CTL=$IT_BUILD/cli/minitcpctl
P="python3 $IT_SRC/tests/integration/pump.py"
N=${MINITCP_PUMP_BYTES:-200000000}
it_daemon a --tun tun0 --addr 10.0.0.2
DA=$IT_LASTPID
for app in discard_server:9 source_server:19 echo_server:7; do
    it_bg "${app%%:*}" env MINITCP_SOCKET="$A" "$APPS/${app%%:*}" --port "${app##*:}"
    wait_for "$IT_TMP/${app%%:*}.log" "listening" 10 || exit 1
    [ "${app%%:*}" = discard_server ] && DIS=$IT_LASTPID # ip netns exec and env exec: same pid
done

check "discard_server: $N bytes from a kernel client, counted exactly" bash -c "
    timeout 300 ip netns exec $IT_NS $P sink 10.0.0.2 9 $N &&
    for _ in \$(seq 100); do grep -q 'closed after' $IT_TMP/discard_server.log && break; sleep 0.05; done
    grep -qx 'discard_server: connection closed after $N bytes (eof)' $IT_TMP/discard_server.log"
check "source_server: $N bytes to a kernel client, pattern verified" \
    timeout 300 ip netns exec "$IT_NS" $P source 10.0.0.2 19 "$N"
check "echo_server: $N bytes echoed to a kernel client, verified" \
    timeout 300 ip netns exec "$IT_NS" $P echo 10.0.0.2 7 "$N"

# a reader that stops: discard_server stopped while a kernel client keeps sending
kill -STOP "$DIS"
rss0=$(awk '/VmRSS/ {print $2}' /proc/"$DA"/status)
nsx $P stuck 10.0.0.2 9 "$IT_TMP/stuck" >"$IT_TMP/stuck.log" 2>&1 &
STK=$!
IT_PIDS+=($STK)
for _ in $(seq 600); do [ -e "$IT_TMP/stuck" ] && break; sleep 0.05; done
check "stopped reader: the kernel sender blocks (window shut)" test -e "$IT_TMP/stuck"
check "stopped reader: minitcpctl shows rcv_wnd 0 and a full recv-q on port 9" bash -c "
    $CTL --socket $A connections --json | python3 -c '
import json, sys
c = [c for c in json.load(sys.stdin) if c[\"local_port\"] == 9 and c[\"state\"] == \"ESTABLISHED\"]
print(c)
sys.exit(0 if len(c) == 1 and c[0][\"rcv_wnd\"] == 0 and c[0][\"recv_queue\"] > 0 else 1)'"
rss1=$(awk '/VmRSS/ {print $2}' /proc/"$DA"/status)
check "stopped reader: daemon RSS grew $((rss1 - rss0)) KiB after $(cat "$IT_TMP/stuck" 2>/dev/null) bytes sent (< 8 MiB)" \
    test $((rss1 - rss0)) -lt 8192
kill -CONT "$DIS"
touch "$IT_TMP/stuck.go"
wait "$STK"
STRC=$?
check "stopped reader resumed: the sender finishes" test "$STRC" = 0
check "stopped reader resumed: discard_server counted every byte" bash -c "
    want=\$((\$(cat $IT_TMP/stuck) + 1000000))
    for _ in \$(seq 100); do [ \$(grep -c 'closed after' $IT_TMP/discard_server.log) = 2 ] && break; sleep 0.05; done
    grep -qx \"discard_server: connection closed after \$want bytes (eof)\" $IT_TMP/discard_server.log"
check "minitcpd still running" kill -0 "$DA"
it_done
