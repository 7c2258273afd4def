#!/usr/bin/env bash
# TCP over IPv6 against the kernel (issue 13 items 3 and 5): the built-in echo service on
# fd00::2 port 7 echoes 4 MiB from nc -6 byte-exact while IPv4 keeps working beside it;
# then path MTU discovery over IPv6 (RFC 8201): a 64 KiB echo from K through a hop of MTU
# 1280, where the kernel of M answers minitcpd's 1500-byte packets with ICMPv6 packet too
# big, which must lower the connection's MSS to 1280 - 60.
#   K (fd09:1::1) -- R (router) -- M (fd09:2::1, mtu 1280 towards R; tun0, minitcpd)
. "$(dirname "$0")/lib.sh"
it_init tcp6
it_setup_tun --ipv6
it_daemon d --tun tun0 --addr 10.0.0.2 --addr6 fd00::2 --tcp-echo 7
DPID=$IT_LASTPID
SOCK=$IT_TMP/d.sock
FT="$IT_SRC/tests/integration/fragtool.py"
K=$IT_NS-k R=$IT_NS-r
trap 'rc=$?; ip netns del "$K" 2>/dev/null; ip netns del "$R" 2>/dev/null; (exit $rc); it_cleanup' EXIT
stat_is() { # LAYER NAME OP VALUE
    local v
    v=$("$IT_BUILD/cli/minitcpctl" --socket "$SOCK" stats --json |
        python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]][sys.argv[2]])' "$1" "$2")
    [ "$v" "$3" "$4" ] || { it_log "  $1.$2 = $v, want $3 $4"; return 1; }
}

head -c 4194304 /dev/urandom >"$IT_TMP/in"
check "nc -6: 4 MiB echoed byte-exact by the echo service over IPv6" \
    bash -c "timeout 60 ip netns exec $IT_NS nc -6 -N fd00::2 7 <$IT_TMP/in >$IT_TMP/out &&
             cmp $IT_TMP/in $IT_TMP/out"
check "nc (IPv4) still echoed beside it" \
    bash -c "echo hello-v4 | timeout 10 ip netns exec $IT_NS nc -N 10.0.0.2 7 | grep -qx hello-v4"
check "a port without a listener: connection refused (RST over IPv6)" \
    bash -c "! timeout 10 ip netns exec $IT_NS nc -6 -z fd00::2 8081"
check "no TCP segment dropped for a bad checksum" stat_is tcp drop_checksum -eq 0

# ---- path MTU discovery through a hop of MTU 1280 ----
ip netns add "$K" && ip netns add "$R" || { it_log "FAIL: cannot create namespaces"; exit 1; }
ip link add kr netns "$K" type veth peer name rk netns "$R" || exit 1
ip link add mr netns "$IT_NS" type veth peer name rm netns "$R" || exit 1
for ns in "$K" "$R"; do ip -n "$ns" link set lo up; done
ip -n "$K" addr add fd09:1::1/64 dev kr nodad
ip -n "$R" addr add fd09:1::fe/64 dev rk nodad
ip -n "$R" addr add fd09:2::fe/64 dev rm nodad
ip -n "$IT_NS" addr add fd09:2::1/64 dev mr nodad
ip -n "$R" link set dev rm mtu 1280
ip -n "$IT_NS" link set dev mr mtu 1280
for x in "$K kr" "$R rk" "$R rm" "$IT_NS mr"; do
    set -- $x
    ip -n "$1" link set dev "$2" up
done
ip -n "$K" -6 route add default via fd09:1::fe
ip -n "$R" -6 route add fd00::/64 via fd09:2::1
ip -n "$IT_NS" -6 route add fd09:1::/64 via fd09:2::fe
ip netns exec "$R" sysctl -qw net.ipv6.conf.all.forwarding=1
nsx sysctl -qw net.ipv6.conf.all.forwarding=1

check "1 MiB TCP echo from K through the MTU-1280 hop, byte-exact" \
    ip netns exec "$K" python3 "$FT" tcp fd00::2 7 1048576
check "packet too big received" stat_is icmp6 packet_too_big_rx -ge 1
check "the connection's MSS was lowered, once" stat_is tcp pmtu_lowered -eq 1
check "no packet too big taken as bogus" stat_is tcp pmtu_bogus -eq 0
check "daemon still running" kill -0 "$DPID"
it_done
