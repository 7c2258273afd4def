#!/usr/bin/env bash
# Creates a network namespace with MiniTCP's TUN devices, addressed point-to-point:
#   tun0: kernel side 10.0.0.1, peer (MiniTCP) 10.0.0.2
#   tun1: kernel side 10.0.1.1, peer (a second MiniTCP) 10.0.1.2   (with --two)
# With --ipv6 also fd00::1 peer fd00::2 on tun0 (fd00:1::1 peer fd00:1::2 on tun1), for
# minitcpd --addr6; without it IPv6 stays disabled on the devices.
# Point-to-point matters: with 10.0.0.1/24 the kernel would own the subnet's addresses
# locally and never route 10.0.0.2 out through the TUN to MiniTCP.
# Everything lives in the namespace (default "minitcp"); nothing touches the host's own
# network. Usage: setup_tun.sh [--netns NAME] [--two] [--mtu N] [--ipv6]
set -euo pipefail
ns=minitcp two=0 mtu=1500 v6=0
while [ $# -gt 0 ]; do
    case $1 in
    --netns) ns=$2; shift 2 ;;
    --two) two=1; shift ;;
    --mtu) mtu=$2; shift 2 ;;
    --ipv6) v6=1; shift ;;
    -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "setup_tun.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
case $ns in minitcp*) ;; *) echo "setup_tun.sh: namespace name must start with minitcp" >&2; exit 2 ;; esac
ip netns list | grep -qw "^$ns" || ip netns add "$ns"
run() { ip netns exec "$ns" "$@"; }
run ip link set lo up
add_tun() { # name kernel-addr peer-addr [kernel-addr6 peer-addr6]
    run ip link show "$1" >/dev/null 2>&1 || run ip tuntap add dev "$1" mode tun
    run ip addr flush dev "$1"
    # Without --ipv6, keep the kernel's IPv6 router solicitations and MLD off the link.
    run sysctl -qw "net.ipv6.conf.$1.disable_ipv6=$((1 - v6))" 2>/dev/null || true
    run ip addr add "$2" peer "$3" dev "$1"
    run ip link set "$1" mtu "$mtu" up
    # nodad: no duplicate address detection on a point-to-point link (the address is
    # usable at once)
    if [ $v6 = 1 ]; then run ip -6 addr add "$4" peer "$5" dev "$1" nodad; fi
}
add_tun tun0 10.0.0.1 10.0.0.2 fd00::1 fd00::2
if [ $two = 1 ]; then
    add_tun tun1 10.0.1.1 10.0.1.2 fd00:1::1 fd00:1::2
    # The kernel forwards between the two MiniTCPs (the sysctl is per namespace).
    run sysctl -qw net.ipv4.ip_forward=1
    if [ $v6 = 1 ]; then run sysctl -qw net.ipv6.conf.all.forwarding=1; fi
fi
echo "namespace $ns: tun0 10.0.0.1 peer 10.0.0.2$([ $two = 1 ] && echo ', tun1 10.0.1.1 peer 10.0.1.2')"
