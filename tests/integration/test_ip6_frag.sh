#!/usr/bin/env bash
# IPv6 fragments against the kernel (issue 13 item 2, RFC 8200 §4.5): ping -6 -s 3000 is
# answered with its payload intact (the kernel's fragments reassembled, the reply sent in
# fragments), an 8,000-byte UDP datagram comes back whole from the echo service, and a
# crafted overlap (RFC 5722) and an incomplete first fragment (RFC 7112, answered with a
# parameter problem code 3) are dropped and counted.
. "$(dirname "$0")/lib.sh"
it_init ip6frag
it_setup_tun --ipv6
it_daemon d --tun tun0 --addr 10.0.0.2 --addr6 fd00::2 --udp-echo 9000
DPID=$IT_LASTPID
SOCK=$IT_TMP/d.sock
stat_is() { # LAYER NAME OP VALUE
    local v
    v=$("$IT_BUILD/cli/minitcpctl" --socket "$SOCK" stats --json |
        python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]][sys.argv[2]])' "$1" "$2")
    [ "$v" "$3" "$4" ] || { it_log "  $1.$2 = $v, want $3 $4"; return 1; }
}

check "ping -6 -s 3000: 3/3 replies, payload intact" \
    bash -c "ip netns exec $IT_NS ping -6 -c 3 -i 0.2 -W 2 -s 3000 -p a5 fd00::2 >$IT_TMP/p.out;
             grep -q ' 3 received' $IT_TMP/p.out && ! grep -q 'wrong data' $IT_TMP/p.out"
check "fragments reassembled (two per request)" stat_is frag reassembled -ge 3
check "replies sent in fragments (three per reply at MTU 1500)" stat_is frag tx_fragments -ge 9
check "UDP over IPv6: an 8,000-byte datagram echoed byte-exact" \
    nsx python3 -c '
import os, socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.settimeout(3)
d = os.urandom(8000)
s.sendto(d, ("fd00::2", 9000))
r = s.recv(9000)
print("got", len(r), "bytes", "equal" if r == d else "DIFFERENT")
raise SystemExit(0 if r == d else 1)'
check "overlapping fragments: dropped, counted, nothing echoed" \
    nsx python3 -c '
import socket, struct
src, dst = socket.inet_pton(socket.AF_INET6, "fd00::1"), socket.inet_pton(socket.AF_INET6, "fd00::2")
def frag(off, more, data, ident=0x5151):
    return (struct.pack("!IHBB", 0x60000000, 8 + len(data), 44, 64) + src + dst +
            struct.pack("!BBHI", 17, 0, off | more, ident) + data)
u = struct.pack("!HHHH", 40000, 9000, 8 + 56, 0) + bytes(56)
s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x86DD))
s.bind(("tun0", 0x86DD))
s.send(frag(0, 1, u[:32]))
s.send(frag(24, 0, u[24:]))'
check "  counted as an overlap" stat_is frag overlaps -eq 1
check "an incomplete first fragment gets parameter problem code 3 (RFC 7112)" \
    nsx python3 -c '
import socket, struct, sys
r = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
r.settimeout(3)
src, dst = socket.inet_pton(socket.AF_INET6, "fd00::1"), socket.inet_pton(socket.AF_INET6, "fd00::2")
opts = bytes([17, 1, 1, 4, 0, 0, 0, 0])  # a 16-byte destination options header, 8 bytes here
pkt = (struct.pack("!IHBB", 0x60000000, 16, 44, 64) + src + dst +
       struct.pack("!BBHI", 60, 0, 1, 0x7777) + opts)
s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x86DD))
s.bind(("tun0", 0x86DD))
s.send(pkt)
while True:
    m = r.recv(2048)
    if m[0] == 4:
        print("parameter problem code", m[1])
        sys.exit(0 if m[1] == 3 and m[8:] == pkt else 1)'
check "nothing left held but the discarded overlap's queue" stat_is frag queues -le 1
check "ping -6 (small) still answered" \
    bash -c "ip netns exec $IT_NS ping -6 -c 1 -W 2 fd00::2 | grep -q ' 1 received'"
check "daemon still running" kill -0 "$DPID"
it_done
