#!/usr/bin/env bash
# IPv4 fragments against the real kernel (issue 13 item 1): big pings and UDP datagrams
# reassembled and answered in fragments, crafted attacks dropped and counted, a flood kept
# within --frag-mem-max, the reassembly timeout's ICMP time exceeded, and path MTU
# discovery: a 64 KiB TCP echo through a hop of MTU 1000.
#   K (Linux client 10.9.1.1) -- R (router) -- M (10.9.2.1, mtu 1000 towards R; forwards
#   to tun0: minitcpd 10.0.0.2)
# K sends without DF (IP_PMTUDISC_DONT): R fragments its 1500-byte segments, minitcpd
# reassembles them and echoes 1460-byte segments with DF; M's kernel, forwarding those
# towards R, answers with ICMP fragmentation needed (next-hop MTU 1000), which must lower
# the connection's MSS. (With DF, K would learn the MTU itself, send 960-byte segments,
# and the echo would never send a larger one.)
. "$(dirname "$0")/lib.sh"
it_init ipfrag
M=$IT_NS K=$IT_NS-k R=$IT_NS-r
trap 'rc=$?; ip netns del "$K" 2>/dev/null; ip netns del "$R" 2>/dev/null; (exit $rc); it_cleanup' EXIT
FT=$IT_SRC/tests/integration/fragtool.py

it_setup_tun
it_daemon d --tun tun0 --addr 10.0.0.2 --udp-echo 9000 --tcp-echo 7 --frag-mem-max 256K \
    --frag-timeout 2000
DPID=$IT_LASTPID
SOCK=$IT_TMP/d.sock
stat_of() { # LAYER NAME
    "$IT_BUILD/cli/minitcpctl" --socket "$SOCK" stats --json |
        python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]][sys.argv[2]])' "$1" "$2"
}
stat_is() { [ "$(stat_of "$1" "$2")" "$3" "$4" ] || { it_log "  $1_$2=$(stat_of "$1" "$2"), want $3 $4"; return 1; }; }

check "ping -s 3000: 3/3 replies, payload intact" \
    bash -c "ip netns exec $M ping -c 3 -i 0.2 -W 2 -s 3000 -p a5 10.0.0.2 >$IT_TMP/ping.out 2>&1;
             cat $IT_TMP/ping.out >&2; grep -q ' 3 received' $IT_TMP/ping.out &&
             ! grep -q 'wrong data' $IT_TMP/ping.out && grep -q '^3008 bytes from' $IT_TMP/ping.out"
check "an 8,000-byte UDP datagram comes back whole from the echo" nsx python3 "$FT" udp 8000
check "reassembled: 3 pings + 1 datagram" stat_is frag reassembled -eq 4
check "fragments sent back: 3 x 3 + 6" stat_is frag tx_fragments -eq 15

check "teardrop (second fragment inside the first) injected" nsx python3 "$FT" teardrop
check "teardrop: datagram discarded, counted" stat_is frag overlaps -eq 1
check "tiny first TCP fragment injected" nsx python3 "$FT" tiny
check "tiny first fragment dropped, counted" stat_is frag tiny -ge 1
check "nothing was delivered from the attacks (no UDP, no TCP segment)" \
    bash -c "[ \"\$(\"$IT_BUILD/cli/minitcpctl\" --socket $SOCK stats --json | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j[\"udp\"][\"rx\"], j[\"tcp\"][\"rx_segments\"])')\" = '1 0' ]"

check "reassembly timeout: ICMP time exceeded code 1 quoting the first fragment" \
    nsx python3 "$FT" timeout 6
check "timeout counted" stat_is frag timeouts -ge 1
check "time exceeded counted" stat_is frag time_exceeded_sent -ge 1

# 600 first fragments of 1 KiB that never complete, from 3 spoofed sources (192.0.2.x):
# each source may hold a quarter of the 256 KiB, so 10.0.0.1 still has room.
check "fragment flood injected" nsx python3 "$FT" flood 600 3
check "flood: held memory within --frag-mem-max (256 KiB)" stat_is frag mem -le 262144
check "flood: held memory within 3 sources' shares" stat_is frag mem -le $((3 * 65536))
check "flood: most fragments refused for memory (about 420 of 600; the TUN queue may drop some)" stat_is frag mem_drops -ge 300
check "UDP echo of 8,000 bytes still works during the flood" nsx python3 "$FT" udp 8000
check "ping -s 3000 still answered during the flood" \
    bash -c "ip netns exec $M ping -c 1 -W 2 -s 3000 10.0.0.2 | grep -q ' 1 received'"
check "the flood expires: nothing held after the timeout" \
    bash -c "for i in \$(seq 60); do [ \"\$(\"$IT_BUILD/cli/minitcpctl\" --socket $SOCK stats --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"frag\"][\"mem\"])')\" = 0 ] && exit 0; sleep 0.1; done; exit 1"

# ---- path MTU discovery through a hop of MTU 1000 ----
ip netns add "$K" && ip netns add "$R" || { it_log "FAIL: cannot create namespaces"; exit 1; }
ip link add kr netns "$K" type veth peer name rk netns "$R" || exit 1
ip link add mr netns "$M" type veth peer name rm netns "$R" || exit 1
for ns in "$K" "$R"; do ip -n "$ns" link set lo up; done
ip -n "$K" addr add 10.9.1.1/24 dev kr
ip -n "$R" addr add 10.9.1.254/24 dev rk
ip -n "$R" addr add 10.9.2.254/24 dev rm
ip -n "$M" addr add 10.9.2.1/24 dev mr
ip -n "$R" link set dev rm mtu 1000
ip -n "$M" link set dev mr mtu 1000
for x in "$K kr" "$R rk" "$R rm" "$M mr"; do
    set -- $x
    ip -n "$1" link set dev "$2" up
done
ip -n "$K" route add default via 10.9.1.254
ip -n "$R" route add 10.0.0.0/24 via 10.9.2.1
ip -n "$M" route add default via 10.9.2.254
ip netns exec "$R" sysctl -qw net.ipv4.ip_forward=1
nsx sysctl -qw net.ipv4.ip_forward=1

check "64 KiB TCP echo from K through the MTU-1000 hop, byte-exact" \
    ip netns exec "$K" python3 "$FT" tcp-nodf 10.0.0.2 7 65536
check "K's segments arrived in fragments and were reassembled" stat_is frag reassembled -ge 20
check "frag-needed received" stat_is icmp frag_needed_rx -ge 1
check "the connection's MSS was lowered, once" stat_is tcp pmtu_lowered -eq 1
check "no frag-needed taken as bogus" stat_is tcp pmtu_bogus -eq 0
check "daemon still running" kill -0 "$DPID"
it_done
