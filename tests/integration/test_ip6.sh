#!/usr/bin/env bash
# IPv6 network layer against the kernel (issue 13 item 2, first part): minitcpd --addr6
# fd00::2 on tun0 (setup_tun.sh --ipv6: fd00::1 peer fd00::2) answers ping -6, sends an
# ICMPv6 parameter problem (RFC 8200 §4) for an unknown next header, echoes UDP on 9000
# (port unreachable elsewhere), ignores the kernel's router solicitations and MLD reports,
# and IPv4 keeps working beside it.
. "$(dirname "$0")/lib.sh"
it_init ip6
it_setup_tun --ipv6
it_daemon d --tun tun0 --addr 10.0.0.2 --addr6 fd00::2 --trace
DPID=$IT_LASTPID
SOCK=$IT_TMP/d.sock
LOG=$IT_TMP/d.log
stat_of() { # LAYER NAME
    "$IT_BUILD/cli/minitcpctl" --socket "$SOCK" stats --json |
        python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]][sys.argv[2]])' "$1" "$2"
}

check "ping -6 -c 3 fd00::2: 3/3 replies" \
    bash -c "ip netns exec $IT_NS ping -6 -c 3 -i 0.2 -W 2 fd00::2 | tee $IT_TMP/ping6.out | grep -q ' 3 received'"
check "ping -6 -s 1452 -M do (a full 1500-byte packet), payload intact" \
    bash -c "ip netns exec $IT_NS ping -6 -c 2 -i 0.2 -W 2 -s 1452 -M do -p 5a fd00::2 >$IT_TMP/big.out;
             grep -q ' 2 received' $IT_TMP/big.out && ! grep -q 'wrong data' $IT_TMP/big.out"
check "ping (IPv4) still answered" \
    bash -c "ip netns exec $IT_NS ping -c 2 -i 0.2 -W 2 10.0.0.2 | grep -q ' 2 received'"
check "trace: IPv6 echo request and reply" \
    bash -c "grep -qE '^\[ICMP6\] recv echo request id=[0-9]+ seq=1 len=56$' $LOG &&
             grep -qE '^\[ICMP6\] send echo reply id=[0-9]+ seq=1 len=56$' $LOG"
check "an unknown next header (253) gets a parameter problem code 1, pointer 6" \
    nsx python3 -c '
import socket, struct, sys
r = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
r.settimeout(3)
src, dst = socket.inet_pton(socket.AF_INET6, "fd00::1"), socket.inet_pton(socket.AF_INET6, "fd00::2")
pkt = struct.pack("!IHBB", 0x60000000, 8, 253, 64) + src + dst + b"ABCDEFGH"
s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x86DD))
s.bind(("tun0", 0x86DD))
s.send(pkt)
while True:
    m = r.recv(2048)  # the ICMPv6 message, no IPv6 header
    if m[0] == 4:
        ptr = struct.unpack("!I", m[4:8])[0]
        print("parameter problem code", m[1], "pointer", ptr, "quote ok", m[8:] == pkt)
        sys.exit(0 if m[1] == 1 and ptr == 6 and m[8:] == pkt else 1)'
check "UDP over IPv6: 1,400 bytes echoed byte-exact by the echo service (9000)" \
    nsx python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.settimeout(3)
d = os.urandom(1400)
s.sendto(d, ("fd00::2", 9000))
sys.exit(0 if s.recv(2048) == d else 1)'
check "nc -6 -u gets its line echoed" \
    bash -c "echo hello-v6 | timeout 5 ip netns exec $IT_NS nc -6 -u -w1 fd00::2 9000 | grep -qx hello-v6"
check "UDP over IPv6 to a closed port: ICMPv6 port unreachable -> ECONNREFUSED" \
    nsx python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.settimeout(3)
s.connect(("fd00::2", 9999))
s.send(b"x")
try:
    s.recv(10)
except ConnectionRefusedError:
    sys.exit(0)
sys.exit(1)'
check "counted: echo requests 5, parameter problem 1" \
    bash -c "[ \$(\"$IT_BUILD/cli/minitcpctl\" --socket $SOCK stats --json | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j[\"icmp6\"][\"echo_requests\"], j[\"ip6\"][\"param_problems\"])' | tr ' ' _) = 5_1 ]"
check "nothing else sent over IPv6 (router solicitations, MLD reports unanswered)" \
    bash -c "[ \$(\"$IT_BUILD/cli/minitcpctl\" --socket $SOCK stats --json | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j[\"ip6\"][\"tx_packets\"] == j[\"icmp6\"][\"echo_replies_sent\"] + j[\"icmp6\"][\"errors_sent\"] + j[\"udp\"][\"echoed\"])') = True ]"
it_log "  kernel's ND/MLD messages ignored: nd=$(stat_of icmp6 nd_ignored) mld=$(stat_of icmp6 mld_ignored)"
check "daemon still running" kill -0 "$DPID"
it_done
