#!/usr/bin/env bash
# Unmodified programs on MiniTCP through minitcp-run (libminitcp-preload.so), against the
# kernel's TCP on the other side of the TUN: curl, python3 -m http.server, nc -l, socat,
# an asyncio (epoll) echo server with 50 clients, iperf3 both ways and MiniTCP <-> MiniTCP,
# socket semantics (preload_semantics.py) and the daemon going away.
. "$(dirname "$0")/lib.sh"
it_init preload
for tool in curl python3 nc socat iperf3; do
    command -v "$tool" >/dev/null && continue
    it_log "FAIL: $tool missing (scripts/bootstrap.sh installs it)"
    exit 1
done
[ -x "$IT_BUILD/minitcp-run" ] || { it_log "FAIL: minitcp-run not built"; exit 1; }
it_setup_tun --two
it_daemon a --tun tun0 --addr 10.0.0.2
APID=$IT_LASTPID
it_daemon b --tun tun1 --addr 10.0.1.2
BPID=$IT_LASTPID # ip netns exec execs minitcpd: this is the daemon's pid
RUN=$IT_BUILD/minitcp-run
HERE=$IT_SRC/tests/integration
export MINITCP_SOCKET=$IT_TMP/a.sock
B_SOCK=$IT_TMP/b.sock
same_sha() { [ "$(sha256sum <"$1" | cut -d' ' -f1)" = "$(sha256sum <"$2" | cut -d' ' -f1)" ]; }

mkdir -p "$IT_TMP/www"
head -c 1048576 /dev/urandom >"$IT_TMP/www/f.bin"

# curl under minitcp-run fetches from a kernel HTTP server
it_bg khttp python3 -m http.server --bind 10.0.0.1 --directory "$IT_TMP/www" 8000
wait_for "$IT_TMP/khttp.log" "Serving HTTP" 10
check "curl through minitcp-run fetches 1 MiB from a kernel server (sha256)" bash -c "
    timeout 30 ip netns exec $IT_NS $RUN curl -sS -o $IT_TMP/curl1.bin http://10.0.0.1:8000/f.bin &&
    $(declare -f same_sha); same_sha $IT_TMP/www/f.bin $IT_TMP/curl1.bin"

# python3 -m http.server under minitcp-run serves kernel curl
it_bg mhttp "$RUN" python3 -m http.server --bind 0.0.0.0 --directory "$IT_TMP/www" 8080
wait_for "$IT_TMP/mhttp.log" "Serving HTTP" 10
check "python3 -m http.server under minitcp-run serves 1 MiB to kernel curl (sha256), twice" bash -c "
    for i in 1 2; do timeout 30 ip netns exec $IT_NS curl -sS -o $IT_TMP/curl2.bin http://10.0.0.2:8080/f.bin &&
    $(declare -f same_sha); same_sha $IT_TMP/www/f.bin $IT_TMP/curl2.bin || exit 1; done"
check "the server logged the peer as the kernel side (getpeername)" grep -q '^10.0.0.1 .*"GET /f.bin' "$IT_TMP/mhttp.log"

# nc -l under minitcp-run, both directions, and what it wrote just before exiting arrives
printf 'to the kernel\n' >"$IT_TMP/nc_out.txt"
it_bg ncl "$RUN" nc -v -l -N 10.0.0.2 7100 <"$IT_TMP/nc_out.txt"
NCPID=$IT_LASTPID
wait_for "$IT_TMP/ncl.log" "Listening" 10
check "nc -l under minitcp-run: lines both ways" bash -c "
    printf 'from the kernel\n' | timeout 10 ip netns exec $IT_NS nc 10.0.0.2 7100 > $IT_TMP/nc_got.txt
    grep -qx 'to the kernel' $IT_TMP/nc_got.txt && grep -qx 'from the kernel' $IT_TMP/ncl.log"
check "nc -l exits 0" bash -c "wait $NCPID 2>/dev/null; rc=\$?; [ \$rc -eq 0 ] || [ \$rc -eq 127 ]"

# socat echo under minitcp-run (fork: the child serves, the parent's pump moves its bytes)
it_bg socat "$RUN" socat -d -d TCP-LISTEN:7200,reuseaddr,fork EXEC:cat
wait_for "$IT_TMP/socat.log" "listening on" 10
head -c 300000 /dev/urandom >"$IT_TMP/socat.in"
check "socat echo under minitcp-run: 300 kB byte-exact, twice" bash -c "
    for i in 1 2; do timeout 20 ip netns exec $IT_NS socat -t5 - TCP:10.0.0.2:7200 < $IT_TMP/socat.in > $IT_TMP/socat.out &&
    cmp $IT_TMP/socat.in $IT_TMP/socat.out || exit 1; done"

# an asyncio (epoll) echo server under minitcp-run, 50 concurrent kernel clients
it_bg aecho "$RUN" python3 "$HERE/preload_async_echo.py" 0.0.0.0 7000
wait_for "$IT_TMP/aecho.log" "listening" 10
check "asyncio echo under minitcp-run: 50 concurrent kernel clients x 64 KiB byte-exact" \
    timeout 60 ip netns exec "$IT_NS" python3 "$HERE/preload_clients.py" 10.0.0.2 7000 50 65536

# a UDP echo server under minitcp-run: kernel nc -u gets every datagram back whole
it_bg uecho "$RUN" python3 "$HERE/preload_udp_echo.py" 0.0.0.0 9300
wait_for "$IT_TMP/uecho.log" "listening" 10
check "UDP echo under minitcp-run: 20 datagrams from kernel python come back, boundaries kept" \
    timeout 20 ip netns exec "$IT_NS" python3 -c "
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(5)
sent = [bytes([i]) * (i * 50 + 1) for i in range(20)]
for d in sent: u.sendto(d, ('10.0.0.2', 9300))
got = sorted(u.recvfrom(65536)[0] for _ in sent)
assert got == sorted(sent), 'datagrams differ'
print('20 datagrams echoed')"

# iperf3: server under minitcp-run, kernel client both directions; then MiniTCP <-> MiniTCP
iperf_ok() { # JSON file: the receiver got > 1 MB, at most what was sent and at least 90 % of it
    # (the rest was still in flight when the sender stopped counting)
    python3 -c "
import json, sys
e = json.load(open(sys.argv[1]))['end']
s, r = e['sum_sent']['bytes'], e['sum_received']['bytes']
print('sent', s, 'received', r, 'Mbit/s', round(e['sum_received']['bits_per_second'] / 1e6))
sys.exit(0 if 1000000 < r <= s and r >= s * 0.9 else 1)" "$1"
}
it_bg iperf "$RUN" iperf3 -s -4 -p 5201
wait_for "$IT_TMP/iperf.log" "Server listening" 10
check "iperf3 -s under minitcp-run, kernel iperf3 -c sends" bash -c "
    timeout 30 ip netns exec $IT_NS iperf3 -4 -c 10.0.0.2 -t 2 -J > $IT_TMP/ip1.json && $(declare -f iperf_ok); iperf_ok $IT_TMP/ip1.json"
check "iperf3 -s under minitcp-run, kernel iperf3 -c -R receives" bash -c "
    timeout 30 ip netns exec $IT_NS iperf3 -4 -c 10.0.0.2 -t 2 -R -J > $IT_TMP/ip2.json && $(declare -f iperf_ok); iperf_ok $IT_TMP/ip2.json"
check "iperf3 MiniTCP <-> MiniTCP across two daemons (client on daemon b)" bash -c "
    MINITCP_SOCKET=$B_SOCK timeout 30 ip netns exec $IT_NS $RUN iperf3 -4 -c 10.0.0.2 -t 2 -J > $IT_TMP/ip3.json &&
    $(declare -f iperf_ok); iperf_ok $IT_TMP/ip3.json"

# socket semantics against a kernel echo server
it_bg kecho python3 "$HERE/preload_kernel_echo.py" 10.0.0.1 9100
wait_for "$IT_TMP/kecho.log" "listening" 10
check "socket semantics under minitcp-run (preload_semantics.py)" bash -c "
    timeout 60 ip netns exec $IT_NS $RUN python3 $HERE/preload_semantics.py 10.0.0.1 9100 9101 > $IT_TMP/sem.out 2>&1
    rc=\$?; grep -E '^(ok|FAIL)' $IT_TMP/sem.out >&2; [ \$rc -eq 0 ]"

# clients under minitcp-run against the kernel: asyncio (non-blocking connect, epoll) and
# iperf3 over UDP
check "20 asyncio clients under minitcp-run: 100 kB each echoed byte-exact" \
    timeout 30 ip netns exec "$IT_NS" "$RUN" python3 "$HERE/preload_async_clients.py" 10.0.0.1 9100
it_bg kiperf iperf3 -s -4 -B 10.0.0.1 -p 5202 --forceflush
wait_for "$IT_TMP/kiperf.log" "Server listening" 10
check "iperf3 -u -c under minitcp-run: UDP datagrams reach the kernel server (< 10 % lost)" bash -c "
    timeout 30 ip netns exec $IT_NS $RUN iperf3 -4 -c 10.0.0.1 -p 5202 -u -b 20M -t 1 -J > $IT_TMP/ipu.json &&
    python3 -c \"
import json, sys
s = json.load(open(sys.argv[1]))['end']['sum']
print('packets', s['packets'], 'lost', s['lost_packets'])
sys.exit(0 if s['packets'] > 1000 and s['lost_percent'] < 10 else 1)\" $IT_TMP/ipu.json"

# the daemon goes away under a program (daemon b, so a's servers stay up)
mkfifo "$IT_TMP/gone.fifo"
MINITCP_SOCKET=$B_SOCK ip netns exec "$IT_NS" "$RUN" python3 "$HERE/preload_daemon_gone.py" 10.0.0.1 9100 7400 \
    <"$IT_TMP/gone.fifo" >"$IT_TMP/gone.out" 2>&1 &
GONE=$!
IT_PIDS+=("$GONE")
exec 9>"$IT_TMP/gone.fifo"
wait_for "$IT_TMP/gone.out" "^ready" 10
kill -TERM "$BPID"
for _ in $(seq 100); do kill -0 "$BPID" 2>/dev/null || break; sleep 0.05; done
echo go >&9
exec 9>&-
wait "$GONE"
GRC=$?
grep -E '^(ok|FAIL)' "$IT_TMP/gone.out" >&2
check "the daemon gone: ECONNABORTED, EPIPE, ECONNABORTED from accept, ENETDOWN" test "$GRC" -eq 0

check "daemon a still running" kill -0 "$APID"
it_done
