#!/usr/bin/env bash
# Access control on the client socket (SO_PEERCRED): a client that is not root is refused
# ports below 1024 (EACCES) unless in --privileged-group, gets 8080; a second uid cannot
# touch the first's socket (EBADF: socket ids are per client) nor learn its pid or id
# from the listing; the per-uid socket limit.
. "$(dirname "$0")/lib.sh"
it_init access
it_setup_tun
PY=/usr/bin/python3 # not a per-user shim: nobody runs it too
PEER="$PY $IT_SRC/tests/integration/accesspeer.py"
chmod 0711 "$IT_TMP"
# nobody reaches the socket through its group (nogroup); adm is the privileged group
it_daemon d --tun tun0 --addr 10.0.0.2 --socket-group nogroup --privileged-group adm \
    --max-socks-per-uid 4 --max-buffered-per-uid 64K
SOCK=$IT_TMP/d.sock
AS_NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
AS_NOBODY_ADM=(setpriv --reuid=nobody --regid=nogroup --groups=adm)

check "nobody: port 80 refused with EACCES" bash -c "
    out=\$(${AS_NOBODY[*]} $PEER $SOCK bind 80); echo \"\$out\"; [ \"\$out\" = 'bind EACCES' ]"
check "nobody: port 1023 refused, 1024 allowed" bash -c "
    [ \"\$(${AS_NOBODY[*]} $PEER $SOCK bind 1023)\" = 'bind EACCES' ] &&
    [ \"\$(${AS_NOBODY[*]} $PEER $SOCK bind 1024 | tr '\n' ' ')\" = 'bind OK listen OK ' ]"
check "root: port 80 allowed" bash -c "[ \"\$($PEER $SOCK bind 80 | tr '\n' ' ')\" = 'bind OK listen OK ' ]"
check "nobody in --privileged-group (supplementary): port 80 allowed" bash -c "
    [ \"\$(${AS_NOBODY_ADM[*]} $PEER $SOCK bind 80 | tr '\n' ' ')\" = 'bind OK listen OK ' ]"

# The real client library: echo_server as nobody.
check "echo_server as nobody on port 80: fails with EACCES" bash -c "
    MINITCP_SOCKET=$SOCK timeout 10 ${AS_NOBODY[*]} $IT_BUILD/apps/echo_server --port 80 2>&1 | tee /dev/stderr |
    grep -q 'echo_server: bind: Permission denied'"
MINITCP_SOCKET=$SOCK it_bg app "${AS_NOBODY[@]}" "$IT_BUILD/apps/echo_server" --port 8080
check "echo_server as nobody on port 8080 serves nc" bash -c "
    for _ in \$(seq 100); do
        out=\$(printf 'as nobody\n' | timeout 5 ip netns exec $IT_NS nc -N 10.0.0.2 8080 2>/dev/null)
        [ \"\$out\" = 'as nobody' ] && exit 0; sleep 0.05
    done; exit 1"

# A second uid: root holds a listener; nobody sees it listed without owner details and
# cannot touch it by id.
it_bg hold $PEER "$SOCK" hold 9090
HOLD_PID=$IT_LASTPID
wait_for "$IT_TMP/hold.log" "^id " 10
check "root's listener on 9090 up" bash -c "[ \"\$(head -2 $IT_TMP/hold.log | tr '\n' ' ')\" = 'bind OK listen OK ' ]"
ID=$(sed -n 's/^id //p' "$IT_TMP/hold.log")
check "nobody lists 9090: uid 0, no pid, no socket id" bash -c "
    out=\$(${AS_NOBODY[*]} $PEER $SOCK list 9090); echo \"\$out\"; [ \"\$out\" = 'uid 0 pid 0 sock_id 0' ]"
check "root lists 9090 with its owner's pid and socket id" bash -c "
    out=\$($PEER $SOCK list 9090); echo \"\$out\"; [ \"\$out\" = \"uid 0 pid $HOLD_PID sock_id $ID\" ]"
check "nobody touching root's socket id $ID: EBADF for every request" bash -c "
    out=\$(${AS_NOBODY[*]} $PEER $SOCK touch $ID | tr '\n' ' '); echo \"\$out\"
    [ \"\$out\" = 'bind EBADF listen EBADF setopt EBADF getopt EBADF close EBADF ' ]"
echo x | timeout 5 ip netns exec "$IT_NS" nc -N -w 2 10.0.0.2 9090 >/dev/null 2>&1
check "root's listener still accepts after that" wait_for "$IT_TMP/hold.log" "^accepted$" 10

# --max-socks-per-uid 4, over all the clients of a uid: uid 1 (no other socket) opens 3
# sockets in one client and 2 in another; the 5th is refused with EMFILE, and counted.
check "per-uid socket limit: 4 sockets over two clients, the 5th EMFILE, counted" bash -c "
    a=\$(setpriv --reuid=1 --regid=nogroup --clear-groups $PY -c '
import socket, struct, sys
def client(n):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
    for i in range(n):
        s.sendall(struct.pack(\"<BBBBHHIII\", 0x4D, 0x54, 1, 1, 0, 0, i + 1, 0, 4) + bytes([1, 0, 0, 0]))
        r = b\"\"
        while len(r) < 32: r += s.recv(32 - len(r))
        print(struct.unpack(\"<I\", r[20:24])[0], end=\" \")
    return s
a = client(3); b = client(2)
' $SOCK); echo \"\$a\"; [ \"\$a\" = '0 0 0 0 10 ' ] &&
    $IT_BUILD/cli/minitcpctl --socket $SOCK stats | grep -qE '^daemon +socks_refused_uid +1 '"
# --max-buffered-per-uid 64K: uid 2's hoard_server never reads and sends without end; three
# clients send 20 MB each. Without the share its 3 connections could hold 3 x 256 KiB of
# receive buffer alone. With it no ring grows once the uid holds 64 KiB, but a window
# already advertised is honoured (each connection was offered at most the share's
# headroom, so at most 64 KiB) and each ring keeps a 4 KiB floor: at most
# 64K + 3 x 64K + 6 x 4K = 280 KiB (docs/security.md).
MINITCP_SOCKET=$SOCK it_bg hoard setpriv --reuid=2 --regid=nogroup --clear-groups \
    "$IT_BUILD/tests/hoard_server" --port 9100
wait_for "$IT_TMP/hoard.log" "listening" 10
for i in 1 2 3; do it_bg "fill$i" bash -c "head -c 20M /dev/zero | nc 10.0.0.2 9100 >/dev/null"; done
uid2_bytes() {
    "$IT_BUILD/cli/minitcpctl" --socket "$SOCK" connections --json | $PY -c '
import json, sys
c = [x for x in json.load(sys.stdin) if x.get("uid") == 2 and x["state"] != "LISTEN"]
print(len(c), sum(x["send_queue"] + x["recv_queue"] for x in c))'
}
refusals() { "$IT_BUILD/cli/minitcpctl" --socket "$SOCK" stats | awk '$2 == "buffered_refusals_uid" {print $3}'; }
for _ in $(seq 200); do
    read -r n b < <(uid2_bytes)
    [ "$n" = 3 ] && [ "$b" -ge 65536 ] && break # the share is reached
    sleep 0.05
done
MAXB=0
for _ in $(seq 10); do
    read -r n b < <(uid2_bytes)
    [ "$b" -gt "$MAXB" ] && MAXB=$b
    sleep 0.1
done
it_log "figure: uid 2's three connections hold at most $MAXB bytes (share 65536)"
it_log "buffered_refusals_uid $(refusals)"
check "per-uid share reached: 3 connections, at least 64 KiB held ($MAXB)" test "$MAXB" -ge 65536
check "per-uid share: uid 2's queues at most 280 KiB ($MAXB), not 3 x 256 KiB and more" test "$MAXB" -le 286720
check "the daemon still serves another uid meanwhile (nobody's echo_server)" bash -c "
    [ \"\$(printf 'still\n' | timeout 5 ip netns exec $IT_NS nc -N 10.0.0.2 8080)\" = still ]"
it_done
