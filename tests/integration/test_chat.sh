#!/usr/bin/env bash
# chat_server as a chat and under abuse (issue 10 item 11): a silent connection joins after
# the grace period and sees only what is written after that; HTTP is still answered, also
# from a connection that joined silently and sends its request late (it leaves the chat); the
# header and idle timeouts close what hangs; idle floods from one address cannot lock out
# curl (per-address and total caps); a member that never reads is disconnected at the total
# queue cap while a reading member gets every line. Peers: chatpeers.py (kernel TCP).
. "$(dirname "$0")/lib.sh"
it_init chat
it_setup_tun
# two more local addresses in the namespace, for clients from other sources
nsx ip addr add 10.0.0.3/32 dev lo
nsx ip addr add 10.0.0.4/32 dev lo
A=$IT_TMP/a.sock
APPS=$IT_BUILD/apps
PEERS="python3 $IT_SRC/tests/integration/chatpeers.py"
it_daemon a --tun tun0 --addr 10.0.0.2
CHATS=()
start_chat() { # NAME PORT OPTIONS...
    local name=$1 port=$2
    shift 2
    it_bg "$name" env MINITCP_SOCKET="$A" "$APPS/chat_server" --port "$port" "$@"
    CHATS+=("$IT_LASTPID")
    wait_for "$IT_TMP/$name.log" "^chat_server: listening on port $port" 10 ||
        { it_log "FAIL: chat_server $name did not start"; exit 1; }
}
start_chat chat 8080 --grace 2000
start_chat timers 8081 --grace 300 --header-timeout 1 --idle-timeout 2
start_chat caps 8082 --max-per-addr 50 --max-conns 80
start_chat queue 8083 --queue-max 64K

check "curl -s -i gets exactly the 200 OK response" bash -c "
    timeout 10 ip netns exec $IT_NS curl -s -i http://10.0.0.2:8080/ > $IT_TMP/curl.out
    printf 'HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n' | cmp - $IT_TMP/curl.out"
check "a silent connection joins after the grace period: lines after, none before; HTTP still answered" \
    nsx timeout 60 $PEERS silent 10.0.0.2 8080 "$IT_TMP/chat.log"
check "a silent member whose first bytes are an HTTP request leaves the chat and gets exactly the reply" \
    nsx timeout 60 $PEERS latehttp 10.0.0.2 8080 "$IT_TMP/chat.log"
check "header timeout closes an unfinished HTTP head and an undecided prefix; idle timeout a silent member" \
    nsx timeout 60 $PEERS timeouts 10.0.0.2 8081 "$IT_TMP/timers.log"
check "300 idle connections from one address, then more from another: curl from either and a third is served" \
    nsx timeout 120 $PEERS lockout 10.0.0.2 8082 "$IT_TMP/caps.log" 50 80
check "the caps closed the longest idle connections with a reason" bash -c "
    grep -q 'closed (per-address connection cap' $IT_TMP/caps.log &&
    grep -q 'closed (connection cap: longest idle of the busiest address)' $IT_TMP/caps.log"
check "a member that never reads is disconnected at the total queue cap; a reading member gets all 6000 lines" \
    nsx timeout 120 $PEERS queuecap 10.0.0.2 8083 "$IT_TMP/queue.log"
check "every chat_server is still running" kill -0 "${CHATS[@]}"
it_done
