#!/usr/bin/env bash
# minitcpd as an IP endpoint: real ping and nc -u against it on a TUN in a namespace.
. "$(dirname "$0")/lib.sh"
it_init ipicmpudp
it_setup_tun
it_daemon d --tun tun0 --addr 10.0.0.2 --trace --udp-echo 9000 --no-socket
LOG=$IT_TMP/d.log

check "ping -c 4 gets 4/4 replies" \
    bash -c "ip netns exec $IT_NS ping -c 4 -i 0.2 -W 2 10.0.0.2 | tee $IT_TMP/ping.out | grep -q ' 4 received'"
check "ping -s 1400 gets 2/2 replies" \
    bash -c "ip netns exec $IT_NS ping -c 2 -i 0.2 -W 2 -s 1400 10.0.0.2 | grep -q ' 2 received'"
check "ping -s 1472 (a full 1500-byte packet) is answered" \
    bash -c "ip netns exec $IT_NS ping -c 1 -W 2 -s 1472 -M do 10.0.0.2 | grep -q ' 1 received'"
check "nc -u gets its line echoed on 9000" \
    bash -c "echo hello-udp | timeout 5 ip netns exec $IT_NS nc -u -w1 10.0.0.2 9000 | grep -qx hello-udp"
check "UDP to a closed port: ICMP port unreachable -> ECONNREFUSED" \
    nsx python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.connect(("10.0.0.2", 9999))
s.send(b"x")
try:
    s.recv(10)
except ConnectionRefusedError:
    sys.exit(0)
sys.exit(1)'
check "trace: IP recv line" grep -qE '^\[IP  \] recv 10\.0\.0\.1 -> 10\.0\.0\.2 proto=ICMP len=84$' "$LOG"
check "trace: ICMP echo request line" grep -qE '^\[ICMP\] recv echo request id=[0-9]+ seq=1 len=56$' "$LOG"
check "trace: ICMP echo reply line" grep -qE '^\[ICMP\] send echo reply id=[0-9]+ seq=1 len=56$' "$LOG"
check "trace: UDP recv line" grep -qE '^\[UDP \] recv 10\.0\.0\.1:[0-9]+ -> 10\.0\.0\.2:9000 len=10$' "$LOG"
check "trace: UDP send line" grep -qE '^\[UDP \] send 10\.0\.0\.2:9000 -> 10\.0\.0\.1:[0-9]+ len=10$' "$LOG"

check "a burst of garbage packets is injected" nsx python3 "$IT_SRC/tests/integration/inject.py" tun0 garbage 5
check "ping still answered after the garbage" \
    bash -c "ip netns exec $IT_NS ping -c 4 -i 0.2 -W 2 10.0.0.2 | grep -q ' 4 received'"
check "UDP echo still works after the garbage" \
    bash -c "echo again | timeout 5 ip netns exec $IT_NS nc -u -w1 10.0.0.2 9000 | grep -qx again"
for why in "too short" "bad version" "bad IHL" "bad total length" "bad checksum"; do
    check "trace: IP drop reason=$why" grep -q "^\[IP  \] drop .*reason=$why" "$LOG"
done
check "trace: a 14-byte first fragment is dropped (not a multiple of 8)" \
    grep -q "^\[IP  \] drop fragment id=1 reason=length not a multiple of 8" "$LOG"
check "trace: UDP drops (length, checksum)" bash -c "grep -q '^\[UDP \] drop .*reason=bad length' $LOG && grep -q '^\[UDP \] drop .*reason=bad checksum' $LOG"
check "trace: ICMP drops (short, checksum)" bash -c "grep -q '^\[ICMP\] drop .*reason=too short' $LOG && grep -q '^\[ICMP\] drop .*reason=bad checksum' $LOG"
check "daemon still running" kill -0 "$IT_LASTPID"
it_done
