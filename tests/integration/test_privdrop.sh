#!/usr/bin/env bash
# --user: minitcpd started as root opens the TUN device and the socket, then runs as an
# ordinary user with no capability and no_new_privs, and still serves ping, nc and client
# programs. A TUN device created beforehand for that user lets it start with no privilege.
. "$(dirname "$0")/lib.sh"
it_init privdrop
it_setup_tun
USR=nobody
UID_N=$(id -u $USR)
GID_N=$(id -g $USR)
chmod 0711 "$IT_TMP" # the daemon's user reaches its socket directory to remove the socket

# status_ok PID: uid/gid switched, every capability set empty, no_new_privs.
status_ok() {
    local st=/proc/$1/status
    cat "$st" | grep -E '^(Uid|Gid|Groups|Cap|NoNewPrivs)'
    grep -qE "^Uid:\s+$UID_N\s+$UID_N\s+$UID_N\s+$UID_N$" "$st" &&
        grep -qE "^Gid:\s+$GID_N\s+$GID_N\s+$GID_N\s+$GID_N$" "$st" &&
        grep -qE '^Groups:\s*('"$GID_N"')?\s*$' "$st" &&
        grep -qx 'CapInh:	0000000000000000' "$st" && grep -qx 'CapPrm:	0000000000000000' "$st" &&
        grep -qx 'CapEff:	0000000000000000' "$st" && grep -qx 'CapBnd:	0000000000000000' "$st" &&
        grep -qx 'CapAmb:	0000000000000000' "$st" && grep -qx 'NoNewPrivs:	1' "$st"
}

# 1. Started as root with --user.
it_bg d "$IT_BUILD/minitcpd" --tun tun0 --addr 10.0.0.2 --tcp-echo 7 --user $USR \
    --socket "$IT_TMP/run/d.sock"
D=$IT_LASTPID
wait_for "$IT_TMP/d.log" "^minitcpd: up" 10 || exit 1
check "up line names the user" grep -q "^minitcpd: up on tun0 .* user $USR$" "$IT_TMP/d.log"
check "/proc/PID/status: uid/gid $UID_N, every capability set 0, NoNewPrivs 1" status_ok "$D"
check "socket file: owned by $USR, mode 0660, in a directory the daemon made" bash -c "
    stat -c '%U %a' $IT_TMP/run/d.sock $IT_TMP/run; [ \"\$(stat -c '%U %a' $IT_TMP/run/d.sock)\" = '$USR 660' ]"
check "ping answered" nsx ping -c 2 -W 2 -i 0.2 10.0.0.2
check "nc through the built-in echo" bash -c "
    printf 'one\ntwo\n' | timeout 10 ip netns exec $IT_NS nc -N 10.0.0.2 7 > $IT_TMP/echo.out
    printf 'one\ntwo\n' | cmp - $IT_TMP/echo.out"
MINITCP_SOCKET=$IT_TMP/run/d.sock it_bg app "$IT_BUILD/apps/echo_server" --port 8007
check "a root client program connects over the socket and serves nc" bash -c "
    for _ in \$(seq 100); do
        out=\$(printf 'via client\n' | timeout 5 ip netns exec $IT_NS nc -N 10.0.0.2 8007 2>/dev/null)
        [ \"\$out\" = 'via client' ] && exit 0; sleep 0.05
    done; exit 1"
check "minitcpctl stats answers" bash -c "
    $IT_BUILD/cli/minitcpctl --socket $IT_TMP/run/d.sock stats | grep -qi tcp"
kill -TERM "$IT_LASTPID"
wait "$IT_LASTPID" 2>/dev/null
kill -TERM "$D"
wait "$D"
check "exit status 0 after SIGTERM" test $? -eq 0
check "the unprivileged daemon removed its socket" test ! -e "$IT_TMP/run/d.sock"

# 2. A TUN device created beforehand for the user: no privilege at any point.
nsx ip tuntap add dev tun2 mode tun user $USR
nsx ip addr add 10.0.2.1 peer 10.0.2.2 dev tun2
nsx ip link set tun2 up
mkdir -p "$IT_TMP/nb" && chown $USR "$IT_TMP/nb"
# No capability from the start. /dev/net/tun is 0666 on a usual system but may be 0600 in a
# container: the unprivileged runs see a 0666 node of their own in a private mount namespace.
NOPRIV=(unshare --mount --propagation private sh -c 'mount -t tmpfs -o mode=0755 none /dev/net &&
    mknod -m 0666 /dev/net/tun c 10 200 && exec "$@"' sh
    setpriv --reuid=$USR --regid=$GID_N --clear-groups --inh-caps=-all --bounding-set=-all)
it_bg u "${NOPRIV[@]}" "$IT_BUILD/minitcpd" --tun tun2 --addr 10.0.2.2 --user $USR \
    --socket "$IT_TMP/nb/u.sock"
U=$IT_LASTPID
wait_for "$IT_TMP/u.log" "^minitcpd: up on tun2" 10
UP=$(pgrep -P "$U" -x minitcpd || echo "$U") # the exec'd daemon (or its parent's pid)
check "started without any privilege on a TUN device made for $USR" status_ok "$UP"
check "ping answered by the unprivileged daemon" nsx ping -c 2 -W 2 -i 0.2 10.0.2.2
check "its client socket works" bash -c "
    $IT_BUILD/cli/minitcpctl --socket $IT_TMP/nb/u.sock stats | grep -qi tcp"

# 3. Privilege needed but absent: one clear message, exit 1.
nsx ip tuntap add dev tun3 mode tun user $USR
check "no privilege, TUN device not made for the user: clear message" bash -c "
    out=\$(ip netns exec $IT_NS \"\$@\" $IT_BUILD/minitcpd --tun tun7 --user $USR --no-socket 2>&1); rc=\$?
    echo \"\$out\"; [ \$rc = 1 ] && echo \"\$out\" | grep -q 'cannot open TUN device tun7: .*CAP_NET_ADMIN'" _ "${NOPRIV[@]}"
check "no privilege, --user root: clear message, exit 1" bash -c "
    out=\$(ip netns exec $IT_NS \"\$@\" $IT_BUILD/minitcpd --tun tun3 --user root --no-socket 2>&1); rc=\$?
    echo \"\$out\"; [ \$rc = 1 ] && echo \"\$out\" | grep -q 'cannot switch user'" _ "${NOPRIV[@]}"
check "unknown user: exit 2" bash -c "
    out=\$($IT_BUILD/minitcpd --user no-such-user-$$ --no-socket 2>&1); rc=\$?; echo \"\$out\"; [ \$rc = 2 ]"
check "--version prints the CMake project version" bash -c "
    $IT_BUILD/minitcpd --version | grep -qx 'minitcpd [0-9]\+\.[0-9]\+\.[0-9]\+'"
it_done
