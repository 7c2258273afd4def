#!/usr/bin/env bash
# --seccomp: once up, minitcpd runs under a system-call allow-list (Seccomp: 2) and still
# serves ping, nc, a client program, minitcpctl and a rotating capture; a forbidden call
# (--seccomp-selftest: socket(AF_INET)) kills it with SIGSYS; --seccomp off lets it through.
. "$(dirname "$0")/lib.sh"
it_init seccomp
it_setup_tun
chmod 0711 "$IT_TMP"
# sanitizer builds: LeakSanitizer's exit-time scan is not on the list
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
mkdir -p "$IT_TMP/cap" && chown nobody "$IT_TMP/cap" # rotation after the switch to nobody
it_bg d "$IT_BUILD/minitcpd" --tun tun0 --addr 10.0.0.2 --tcp-echo 7 --seccomp on --user nobody \
    --socket "$IT_TMP/run/d.sock" --pcap "$IT_TMP/cap/c.pcap" --pcap-max 2K
D=$IT_LASTPID
wait_for "$IT_TMP/d.log" "^minitcpd: seccomp allow-list in force" 10 || exit 1
check "/proc/PID/status: Seccomp 2, NoNewPrivs 1, CapEff 0" bash -c "
    grep -E '^(Seccomp|NoNewPrivs|CapEff):' /proc/$D/status
    grep -qx 'Seccomp:	2' /proc/$D/status && grep -qx 'NoNewPrivs:	1' /proc/$D/status &&
    grep -qx 'CapEff:	0000000000000000' /proc/$D/status"
check "ping answered" nsx ping -c 20 -i 0.05 -s 200 -W 2 10.0.0.2
check "nc through the built-in echo" bash -c "
    printf 'one\n' | timeout 10 ip netns exec $IT_NS nc -N 10.0.0.2 7 | grep -qx one"
check "UDP echo" bash -c "echo hi | timeout 5 ip netns exec $IT_NS nc -u -w1 10.0.0.2 9000 | grep -qx hi"
MINITCP_SOCKET=$IT_TMP/run/d.sock it_bg app "$IT_BUILD/apps/echo_server" --port 8007
APP=$IT_LASTPID
check "a client program serves nc" bash -c "
    for _ in \$(seq 100); do
        out=\$(printf 'via client\n' | timeout 5 ip netns exec $IT_NS nc -N 10.0.0.2 8007 2>/dev/null)
        [ \"\$out\" = 'via client' ] && exit 0; sleep 0.05
    done; exit 1"
check "minitcpctl connections and stats" bash -c "
    $IT_BUILD/cli/minitcpctl --socket $IT_TMP/run/d.sock connections >/dev/null &&
    $IT_BUILD/cli/minitcpctl --socket $IT_TMP/run/d.sock stats --json | grep -q '{'"
kill -TERM "$APP"
wait "$APP" 2>/dev/null
check "the capture rotated under the filter" test -f "$IT_TMP/cap/c.pcap.1"
kill -TERM "$D"
wait "$D"
check "SIGTERM: exit status 0 (not SIGSYS)" test $? -eq 0
check "socket removed at shutdown" test ! -e "$IT_TMP/run/d.sock"

check "--seccomp-selftest: the forbidden call kills the daemon with SIGSYS" bash -c "
    ip netns exec $IT_NS $IT_BUILD/minitcpd --tun tun0 --no-socket --seccomp on --seccomp-selftest \
        >$IT_TMP/selftest.log 2>&1; rc=\$?; echo \"exit \$rc\"; cat $IT_TMP/selftest.log
    [ \$rc = 159 ] && ! grep -q 'returned' $IT_TMP/selftest.log"
check "--seccomp off: the same call goes through" bash -c "
    timeout -s INT 2 ip netns exec $IT_NS $IT_BUILD/minitcpd --tun tun0 --no-socket --seccomp off \
        --seccomp-selftest >$IT_TMP/off.log 2>&1; cat $IT_TMP/off.log
    grep -qE 'socket\(AF_INET\) returned [0-9]+$' $IT_TMP/off.log && ! grep -q 'allow-list in force' $IT_TMP/off.log"
it_done
