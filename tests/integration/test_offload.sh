#!/usr/bin/env bash
# TUN offloads (issue 12 item 1): bulk transfers both ways between a kernel client and a
# MiniTCP program, with --offload on (the default) and off, random bytes verified by
# sha256; with offload on the kernel's GSO super-packets were read and TSO super-packets
# written (minitcpctl stats), with it off none; --trace names the GSO size.
. "$(dirname "$0")/lib.sh"
it_init offload
it_setup_tun
CTL=$IT_BUILD/cli/minitcpctl PEER=$IT_BUILD/tests/file_peer
MB=${MINITCP_OFFLOAD_MB:-64}
head -c $((MB << 20)) /dev/urandom >"$IT_TMP/in.bin"
SUM=$(sha256sum <"$IT_TMP/in.bin" | cut -d' ' -f1)

# kernel side: send FILE to ADDR:PORT and wait for the close; or read everything into FILE
KSEND='import socket,sys
s=socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=30)
f=open(sys.argv[3],"rb")
while True:
    b=f.read(1<<20)
    if not b: break
    s.sendall(b)
s.shutdown(socket.SHUT_WR)
assert s.recv(1)==b""'
KRECV='import socket,sys
s=socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=30)
f=open(sys.argv[3],"wb")
while True:
    b=s.recv(1<<20)
    if not b: break
    f.write(b)
f.close()'

stat_of() { # NAME LAYER COUNTER
    $CTL --socket "$IT_TMP/$1.sock" stats | awk -v l="$2" -v c="$3" '$1 == l && $2 == c {print $3}'
}

run_mode() { # on|off
    local m=$1 D
    it_daemon "d$m" --tun tun0 --addr 10.0.0.2 --offload "$m"
    D=$IT_LASTPID
    check "offload $m: the up line says so" grep -q "^minitcpd: up on tun0 .* offload $m" "$IT_TMP/d$m.log"
    export MINITCP_SOCKET=$IT_TMP/d$m.sock
    it_bg "recv$m" "$PEER" recv 9 "$IT_TMP/got_in_$m.bin"
    wait_for "$IT_TMP/recv$m.log" "listening" 10
    check "offload $m: $MB MiB kernel -> MiniTCP, sha256 equal" bash -c "
        timeout 120 ip netns exec $IT_NS python3 -c '$KSEND' 10.0.0.2 9 $IT_TMP/in.bin &&
        for _ in \$(seq 200); do grep -q 'done' $IT_TMP/recv$m.log && break; sleep 0.05; done &&
        grep -qx 'file_peer: done $((MB << 20)) bytes' $IT_TMP/recv$m.log &&
        [ \$(sha256sum <$IT_TMP/got_in_$m.bin | cut -d' ' -f1) = $SUM ]"
    it_bg "send$m" "$PEER" send 19 "$IT_TMP/in.bin"
    wait_for "$IT_TMP/send$m.log" "listening" 10
    check "offload $m: $MB MiB MiniTCP -> kernel, sha256 equal" bash -c "
        timeout 120 ip netns exec $IT_NS python3 -c '$KRECV' 10.0.0.2 19 $IT_TMP/got_out_$m.bin &&
        [ \$(sha256sum <$IT_TMP/got_out_$m.bin | cut -d' ' -f1) = $SUM ]"
    local rxp txp rxs txs bad
    rxp=$(stat_of "d$m" gso rx_packets) rxs=$(stat_of "d$m" gso rx_segments)
    txp=$(stat_of "d$m" gso tx_packets) txs=$(stat_of "d$m" gso tx_segments)
    bad=$(( $(stat_of "d$m" tcp drop_checksum) + $(stat_of "d$m" vnet drop_flags) + $(stat_of "d$m" vnet drop_gso_type) +
        $(stat_of "d$m" vnet drop_gso_size) + $(stat_of "d$m" vnet drop_csum_range) + $(stat_of "d$m" gso tx_refused) ))
    it_log "     offload $m: read $rxp super-packets ($rxs segments), wrote $txp ($txs segments)"
    if [ "$m" = on ]; then
        check "offload on: GSO super-packets read (>= 100, > 2 segments each)" \
            test "$rxp" -ge 100 -a "$rxs" -gt $((2 * rxp))
        check "offload on: TSO super-packets written (>= 100, > 2 segments each)" \
            test "$txp" -ge 100 -a "$txs" -gt $((2 * txp))
    else
        check "offload off: no super-packet either way" test "$rxp" = 0 -a "$txp" = 0
    fi
    check "offload $m: no checksum or virtio-net drop, nothing refused" test "$bad" = 0
    kill "$D" && wait "$D"
    check "offload $m: minitcpd exits cleanly" test $? = 0
}
run_mode on
run_mode off

# --trace names the GSO size of what comes in and goes out
it_daemon dtrace --tun tun0 --addr 10.0.0.2 --trace
export MINITCP_SOCKET=$IT_TMP/dtrace.sock
head -c $((2 << 20)) "$IT_TMP/in.bin" >"$IT_TMP/small.bin"
it_bg recvt "$PEER" recv 9 "$IT_TMP/got_small.bin"
wait_for "$IT_TMP/recvt.log" "listening" 10
nsx python3 -c "$KSEND" 10.0.0.2 9 "$IT_TMP/small.bin"
check "--trace: a super-packet read shows its GSO size" \
    grep -qE '^\[IP  \] recv 10\.0\.0\.1 -> 10\.0\.0\.2 proto=TCP len=[0-9]+ gso=1448$' "$IT_TMP/dtrace.log"
it_bg sendt "$PEER" send 19 "$IT_TMP/small.bin"
wait_for "$IT_TMP/sendt.log" "listening" 10
nsx python3 -c "$KRECV" 10.0.0.2 19 "$IT_TMP/got_small_out.bin"
check "--trace: a super-packet written shows its GSO size and segments" \
    grep -qE '^\[IP  \] send super-packet len=[0-9]+ gso=1448 segs=[0-9]+$' "$IT_TMP/dtrace.log"
check "--trace run: both files intact" cmp -s "$IT_TMP/small.bin" "$IT_TMP/got_small_out.bin"
it_done
