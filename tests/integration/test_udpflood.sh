#!/usr/bin/env bash
# Issue 10 item 6: empty datagrams flooded at a UDP socket whose program does not read. Each
# datagram costs its length + 64 bytes of credit and queue space (proto/credit.h), so the
# daemon's memory stays bounded and the excess is dropped and counted as udp drop_rcvbuf
# (it used to queue them at 0 bytes each: 309 MB after 9.8 M, drop_rcvbuf 0). The program
# then reads: it gets every datagram not counted as dropped, and its session still works.
. "$(dirname "$0")/lib.sh"
it_init udpflood
it_setup_tun
A=$IT_TMP/a.sock CTL=$IT_BUILD/cli/minitcpctl
COUNT=${UDPFLOOD_COUNT:-300000}
it_daemon a --tun tun0 --addr 10.0.0.2
D=$IT_LASTPID
mkfifo "$IT_TMP/ctl"
it_bg hold bash -c "exec env MINITCP_SOCKET=$A $IT_BUILD/tests/loopback/loopback_udp hold 5000 <$IT_TMP/ctl"
exec 3>"$IT_TMP/ctl"
wait_for "$IT_TMP/hold.log" "^bound" 10 || { it_log "FAIL: the holder did not bind"; exit 1; }

udp_stat() { "$CTL" --socket "$A" stats --json | python3 -c "import json,sys; print(json.load(sys.stdin)['udp']['$1'])"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$D/status"; }

RSS0=$(rss_kb)
nsx python3 "$IT_SRC/tests/integration/udpflood.py" 10.0.0.2 5000 "$COUNT" >"$IT_TMP/flood.log" 2>&1
# the daemon has taken in what reached it once its counters stop moving
prev=-1
for _ in $(seq 100); do
    rx=$(udp_stat rx)
    [ "$rx" = "$prev" ] && break
    prev=$rx
    sleep 0.1
done
RSS1=$(rss_kb)
RX=$(udp_stat rx) DROP=$(udp_stat drop_rcvbuf) NOPORT=$(udp_stat no_port)
it_log "figure: $(cat "$IT_TMP/flood.log"); daemon took in $RX, drop_rcvbuf $DROP; RSS $RSS0 -> $RSS1 KiB"
check "drop_rcvbuf counts the datagrams beyond the queue and the credit" [ "$DROP" -gt 0 ]
# 4096 empty datagrams within the client's credit (256 KiB / 64), 4096 in the core's queue
check "the daemon queued no more than credit + queue allow ($((RX - DROP)) <= 8192)" [ $((RX - DROP - NOPORT)) -le 8192 ]
check "daemon RSS grew by less than 8 MiB ($((RSS1 - RSS0)) KiB)" [ $((RSS1 - RSS0)) -lt 8192 ]

echo drain >&3
wait_for "$IT_TMP/hold.log" "^drained" 30 || { it_log "FAIL: the holder did not drain"; exit 1; }
wait "$IT_LASTPID"
HRC=$?
GOT=$(awk '/^drained/ {print $2}' "$IT_TMP/hold.log")
it_log "figure: the program then read $GOT datagrams"
check "the program's session survived the flood (no error, sendto works)" [ "$HRC" = 0 ]
check "every datagram taken in was read or counted as dropped ($GOT + $DROP + $NOPORT = $RX)" \
    [ $((GOT + DROP + NOPORT)) = "$RX" ]
check "the daemon still answers" bash -c "'$CTL' --socket '$A' stats >/dev/null"
exec 3>&-
it_done
