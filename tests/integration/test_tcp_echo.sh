#!/usr/bin/env bash
# TCP against the Linux kernel's TCP: the built-in echo service (--tcp-echo) with real nc.
. "$(dirname "$0")/lib.sh"
it_init tcpecho
it_setup_tun
it_daemon d --tun tun0 --addr 10.0.0.2 --trace --tcp-echo 7 --no-socket
LOG=$IT_TMP/d.log

check "nc: lines come back" bash -c "printf 'one\ntwo\nthree\n' | timeout 10 ip netns exec $IT_NS nc -N 10.0.0.2 7 > $IT_TMP/lines.out; printf 'one\ntwo\nthree\n' | cmp - $IT_TMP/lines.out"
check "trace: handshake recv SYN in LISTEN" grep -qE '^\[TCP \] recv SYN seq=[0-9]+ ack=0 win=[0-9]+ len=0 state=LISTEN$' "$LOG"
check "trace: LISTEN -> SYN_RCVD" grep -qx '\[TCP \] state LISTEN -> SYN_RCVD' "$LOG"
check "trace: send SYN,ACK" grep -qE '^\[TCP \] send SYN,ACK seq=[0-9]+ ack=[0-9]+ win=[0-9]+ len=0$' "$LOG"
check "trace: SYN_RCVD -> ESTABLISHED" grep -qx '\[TCP \] state SYN_RCVD -> ESTABLISHED' "$LOG"
check "trace: remote close ESTABLISHED -> CLOSE_WAIT -> LAST_ACK -> CLOSED" bash -c "
    grep -E '^\[TCP \] state ' $LOG | grep -A2 -x '\[TCP \] state ESTABLISHED -> CLOSE_WAIT' | tr '\n' '|' |
    grep -q 'ESTABLISHED -> CLOSE_WAIT|\[TCP \] state CLOSE_WAIT -> LAST_ACK|\[TCP \] state LAST_ACK -> CLOSED'"

head -c $((10 * 1024 * 1024)) /dev/urandom >"$IT_TMP/big.in"
check "10 MiB through nc comes back identical (sha256)" bash -c "
    timeout 60 ip netns exec $IT_NS nc -N 10.0.0.2 7 < $IT_TMP/big.in > $IT_TMP/big.out
    a=\$(sha256sum < $IT_TMP/big.in) b=\$(sha256sum < $IT_TMP/big.out)
    echo \"sent \$a\"; echo \"got  \$b (\$(stat -c %s $IT_TMP/big.out) bytes)\"; [ \"\$a\" = \"\$b\" ]"
check "SYN to a closed port: nc fails at once with connection refused" bash -c "
    out=\$(timeout 3 ip netns exec $IT_NS nc -v -w2 10.0.0.2 8081 </dev/null 2>&1); echo \"\$out\"; echo \"\$out\" | grep -qi 'refused'"
check "daemon still running" kill -0 "$IT_LASTPID"
it_done
