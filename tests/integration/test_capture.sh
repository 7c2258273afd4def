#!/usr/bin/env bash
# Live capture (minitcpctl capture) beside --pcap: both read back with tcpdump hold the
# handshake and the HTTP reply of a curl to chat_server; --port/--host filter; SIGINT ends
# the stream cleanly; only root or --capture-group may capture (EACCES); a reader that
# stops reading loses packets, is told how many, and does not slow the stack.
. "$(dirname "$0")/lib.sh"
it_init capture
it_setup_tun
command -v tcpdump >/dev/null || { it_log "FAIL: tcpdump missing (scripts/bootstrap.sh installs it)"; exit 1; }
command -v curl >/dev/null || { it_log "FAIL: curl missing"; exit 1; }
PY=/usr/bin/python3
CTL=$IT_BUILD/cli/minitcpctl
chmod 0711 "$IT_TMP"
it_daemon d --tun tun0 --addr 10.0.0.2 --tcp-echo 7 --socket-group nogroup --capture-group adm \
    --pcap "$IT_TMP/file.pcap"
SOCK=$IT_TMP/d.sock
MINITCP_SOCKET=$SOCK it_bg chat "$IT_BUILD/apps/chat_server" --port 8080
wait_for "$IT_TMP/chat.log" "listening" 10 || exit 1

readers() { "$CTL" --socket "$SOCK" stats | awk '$1 == "daemon" && $2 == "capture_readers" {print $3}'; }
wait_readers() {
    local i
    for ((i = 0; i < 200; i++)); do [ "$(readers)" = "$1" ] && return 0; sleep 0.05; done
    return 1
}

# 1. Two live readers: everything into tcpdump through a pipe, and port 8080 only to a file.
mkfifo "$IT_TMP/pipe"
tcpdump -r - -n -tt -A <"$IT_TMP/pipe" >"$IT_TMP/live.txt" 2>"$IT_TMP/tcpdump_live.log" &
TD=$!
IT_PIDS+=("$TD")
"$CTL" --socket "$SOCK" capture -w - >"$IT_TMP/pipe" 2>"$IT_TMP/ctl_pipe.log" &
C1=$!
IT_PIDS+=("$C1")
"$CTL" --socket "$SOCK" capture -w "$IT_TMP/port.pcap" --port 8080 --host 10.0.0.1 \
    2>"$IT_TMP/ctl_file.log" &
C2=$!
IT_PIDS+=("$C2")
check "two capture readers registered" wait_readers 2
nsx ping -c 1 -W 2 10.0.0.2 >/dev/null
check "curl gets chat_server's HTTP reply" bash -c "
    [ \"\$(timeout 10 ip netns exec $IT_NS curl -s -m 5 http://10.0.0.2:8080/)\" = hello ]"
kill -INT "$C1" "$C2"
wait "$C1"
check "SIGINT: minitcpctl capture -w - exits 0" test $? -eq 0
wait "$C2"
check "SIGINT: minitcpctl capture -w FILE exits 0" test $? -eq 0
wait "$TD"
check "tcpdump -r - read the stream to its end" test $? -eq 0
check "summary line on stderr, no packet dropped" bash -c "
    cat $IT_TMP/ctl_pipe.log; grep -qE '^minitcpctl: capture: [0-9]+ packets, 0 dropped by minitcpd' $IT_TMP/ctl_pipe.log"
check "no capture reader left" wait_readers 0

# handshake (SYN in, SYN-ACK out, ACK in) and the HTTP reply in a tcpdump text dump
holds_http() {
    local txt=$1
    local port
    port=$(grep -oE 'IP 10\.0\.0\.1\.[0-9]+ > 10\.0\.0\.2\.8080: Flags \[S\]' "$txt" | head -1 |
        sed -E 's/IP 10\.0\.0\.1\.([0-9]+) .*/\1/')
    [ -n "$port" ] &&
        grep -qE "IP 10\.0\.0\.2\.8080 > 10\.0\.0\.1\.$port: Flags \[S\.\]" "$txt" &&
        grep -qE "IP 10\.0\.0\.1\.$port > 10\.0\.0\.2\.8080: Flags \[\.\], ack 1," "$txt" &&
        grep -qE "IP 10\.0\.0\.1\.$port > 10\.0\.0\.2\.8080: Flags \[P\.\], seq 1:[0-9]+, ack 1,.*HTTP: GET / HTTP/1\.1" "$txt" &&
        grep -qE "IP 10\.0\.0\.2\.8080 > 10\.0\.0\.1\.$port: Flags \[F?P\.\], seq 1:64, ack [0-9]+,.*length 63: HTTP: HTTP/1\.1 200 OK" "$txt" &&
        grep -qx 'hello' "$txt"
}
check "live stream through tcpdump -r -: handshake and the HTTP reply" holds_http "$IT_TMP/live.txt"
check "live stream: the ping too (no filter)" grep -q 'ICMP echo request' "$IT_TMP/live.txt"
tcpdump -r "$IT_TMP/port.pcap" -n -tt -A >"$IT_TMP/port.txt" 2>"$IT_TMP/tcpdump_port.log"
check "capture -w FILE --port 8080 --host 10.0.0.1: handshake and HTTP reply" holds_http "$IT_TMP/port.txt"
check "capture -w FILE --port 8080: nothing else (no ICMP, every packet on port 8080)" bash -c "
    ! grep -q ICMP $IT_TMP/port.txt &&
    [ \$(grep -cE '^[0-9]+\.[0-9]+ IP ' $IT_TMP/port.txt) = \$(grep -cE '^[0-9]+\.[0-9]+ IP .*\.8080[ :]' $IT_TMP/port.txt) ]"
check "capture file: mode 0600, LINKTYPE_RAW" bash -c "
    [ \$(stat -c %a $IT_TMP/port.pcap) = 600 ] && grep -q 'link-type RAW' $IT_TMP/tcpdump_port.log"
tcpdump -r "$IT_TMP/file.pcap" -n -tt -A >"$IT_TMP/file.txt" 2>/dev/null
check "--pcap file (read while the daemon runs): handshake and HTTP reply" holds_http "$IT_TMP/file.txt"

# 2. Who may capture: root (above), --capture-group members; others EACCES.
check "nobody: capture refused with EACCES (raw request)" bash -c "
    [ \"\$(setpriv --reuid=nobody --regid=nogroup --clear-groups $PY $IT_SRC/tests/integration/accesspeer.py $SOCK capture)\" = 'capture EACCES' ]"
check "nobody: minitcpctl capture says why, exits 1" bash -c "
    out=\$(setpriv --reuid=nobody --regid=nogroup --clear-groups $CTL --socket $SOCK capture -w /dev/null 2>&1); rc=\$?
    echo \"\$out\"; [ \$rc = 1 ] && echo \"\$out\" | grep -q 'capture refused: Permission denied: only root or members of'"
check "nobody in --capture-group: capture allowed" bash -c "
    [ \"\$(setpriv --reuid=nobody --regid=nogroup --groups=adm $PY $IT_SRC/tests/integration/accesspeer.py $SOCK capture)\" = 'capture OK' ]"

# 3. A reader that stops reading while 8 MiB go through the echo service and back.
it_bg slow $PY "$IT_SRC/tests/integration/slowcapture.py" "$SOCK" "$IT_TMP/go"
wait_for "$IT_TMP/slow.log" "^started$" 10
head -c 8M /dev/urandom >"$IT_TMP/blob"
check "the stack is not held back: 8 MiB echoed whole while the reader sleeps" bash -c "
    timeout 60 ip netns exec $IT_NS nc -N 10.0.0.2 7 <$IT_TMP/blob >$IT_TMP/blob.back; cmp $IT_TMP/blob $IT_TMP/blob.back"
touch "$IT_TMP/go"
wait_for "$IT_TMP/slow.log" "^records " 30
cat "$IT_TMP/slow.log" >&2
read -r _ REC _ LAST _ PK _ DR < <(grep '^records ' "$IT_TMP/slow.log")
check "the slow reader lost packets and was told (in the frames and the reply)" \
    test "${DR:-0}" -gt 0 -a "${LAST:-0}" -gt 0 -a "${LAST:-0}" -le "${DR:-0}"
check "every packet the reply counts as delivered arrived ($REC records = $PK)" test "${REC:-x}" = "${PK:-y}"
check "stats count the drops (daemon capture_drops = $DR)" bash -c "
    [ \"\$($CTL --socket $SOCK stats | awk '\$1 == \"daemon\" && \$2 == \"capture_drops\" {print \$3}')\" = '$DR' ]"
it_done
