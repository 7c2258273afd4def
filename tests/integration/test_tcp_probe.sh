#!/usr/bin/env bash
# Crafted TCP segments against the real minitcpd (tcpprobe.py): RST replies for no
# connection, malformed segments dropped, MSS, RFC 5961 RST/SYN/ACK checks, out-of-order
# data, data beyond the window, zero-window probes, TIME_WAIT (RFC 1337, RFC 1122 4.2.2.13).
. "$(dirname "$0")/lib.sh"
it_init tcpprobe
command -v python3 >/dev/null || { it_log "SKIP: needs python3"; exit 77; }
it_setup_tun --two
# The crafted peer is 10.0.x.77, an address nobody owns: with forwarding off the kernel
# drops minitcpd's replies to it (tcpprobe.py reads them on the TUN before that).
nsx sysctl -qw net.ipv4.ip_forward=0
it_daemon d --tun tun0 --addr 10.0.0.2 --trace --tcp-echo 7
D1=$IT_LASTPID
# a small receive buffer (window tests) and a short RTO (persist probes)
it_daemon e --tun tun1 --addr 10.0.1.2 --trace --tcp-echo 7 --no-socket --rcvbuf 4096 \
    --rto-initial 200 --rto-min 200
D2=$IT_LASTPID
it_bg chat env MINITCP_SOCKET="$IT_TMP/d.sock" "$IT_BUILD/apps/chat_server" --port 8080
wait_for "$IT_TMP/chat.log" "listening on port 8080" 10 || { it_log "FAIL: chat_server did not start"; exit 1; }

PROBE="$IT_SRC/tests/integration/tcpprobe.py"
probe() { # daemon scenario
    if [ "$1" = d ]; then
        nsx python3 "$PROBE" --iface tun0 --dut 10.0.0.2 --src 10.0.0.77 --log "$IT_TMP/d.log" "$2"
    else
        nsx python3 "$PROBE" --iface tun1 --dut 10.0.1.2 --src 10.0.1.77 --log "$IT_TMP/e.log" "$2"
    fi
}

check "no connection: RST replies of RFC 9293 §3.10.7.1" probe d closed
check "malformed segments: dropped, traced, unanswered" probe d drops
check "MSS: announced 1460, peer's 536 (or the default) honoured" probe d mss
check "ESTABLISHED: RFC 5961 challenge ACKs, old/unsent ACKs, exact RST" probe d rfc5961
check "out-of-order data: duplicate ACKs, cumulative ACK, in-order echo" probe d ooo
check "data beyond the receive window: trimmed, never acked" probe e window
check "zero window: one-byte probes with backoff" probe e zero_window
check "retransmission within a window shrunk to 256 bytes" probe e rtx_window
check "TIME_WAIT after chat_server closes first" probe d time_wait
check "trace: TCP drop lines name their reason" grep -qE '^\[TCP \] drop len=[0-9]+ reason=bad checksum$' "$IT_TMP/d.log"
CTL=$IT_BUILD/cli/minitcpctl
check "minitcpctl stats: orphans and fin_wait_2 counts, table and JSON" bash -c "
    $CTL --socket $IT_TMP/d.sock stats | grep -qE '^tcp +orphans +[0-9]+ ' &&
    $CTL --socket $IT_TMP/d.sock stats | grep -qE '^tcp +fin_wait_2 +[0-9]+ ' &&
    $CTL --socket $IT_TMP/d.sock stats --json | python3 -c '
import json, sys
t = json.load(sys.stdin)[\"tcp\"]
sys.exit(0 if t[\"orphans\"] >= 0 and t[\"fin_wait_2\"] >= 0 and t[\"oow_ack_ratelimited\"] > 0 else 1)'"
check "both daemons still running" kill -0 "$D1" "$D2"
it_done
