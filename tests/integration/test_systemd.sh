#!/usr/bin/env bash
# The systemd unit verifies, and minitcpd speaks the sd_notify protocol (Type=notify).
. "$(dirname "$0")/lib.sh"
it_init systemd
it_setup_tun
UNIT=$IT_SRC/systemd/minitcpd.service

check "systemd-analyze verify accepts the unit" bash -c "
    command -v systemd-analyze >/dev/null || { echo 'systemd-analyze missing'; exit 1; }
    mkdir -p $IT_TMP/unit $IT_TMP/man/man8
    # verify checks that ExecStart exists and that man:minitcpd(8) opens: this build's
    sed 's#^ExecStart=[^ ]*minitcpd#ExecStart=$IT_BUILD/minitcpd#' $UNIT > $IT_TMP/unit/minitcpd.service
    cp $IT_BUILD/man/minitcpd.8 $IT_TMP/man/man8/
    out=\$(MANPATH=$IT_TMP/man systemd-analyze verify $IT_TMP/unit/minitcpd.service 2>&1); rc=\$?
    echo \"\$out\"; [ \$rc = 0 ] && ! echo \"\$out\" | grep -qi 'minitcpd.service'"
check "unit: Type=notify, user minitcp, no capability, TUN made for minitcp" bash -c "
    grep -qx 'Type=notify' $UNIT && grep -qx 'User=minitcp' $UNIT && grep -qx 'CapabilityBoundingSet=' $UNIT &&
    grep -qx 'AmbientCapabilities=' $UNIT && grep -qx 'RuntimeDirectory=minitcp' $UNIT &&
    grep -q '^ExecStartPre=-+.*ip tuntap add dev .* mode tun user minitcp' $UNIT"
check "systemd-analyze security --offline=true: exposure <= 2.0" bash -c "
    out=\$(systemd-analyze security --offline=true $UNIT 2>&1); echo \"\$out\" | grep -E '✗|Overall'
    score=\$(echo \"\$out\" | sed -nE 's/.*Overall exposure level for minitcpd.service: ([0-9.]+).*/\\1/p')
    [ -n \"\$score\" ] && echo \"exposure \$score\" && awk -v s=\"\$score\" 'BEGIN { exit !(s <= 2.0) }'"

# A fake service manager: a datagram socket that records what minitcpd sends.
python3 - "$IT_TMP/notify.sock" "$IT_TMP/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(20)
with open(sys.argv[2], "w", buffering=1) as log:
    try:
        while True:
            msg = s.recv(4096).decode()
            log.write(msg + "\n")
            if "STOPPING=1" in msg:
                break
    except socket.timeout:
        pass
PY
IT_PIDS+=($!)
NOTIFIER=$!
for _ in $(seq 100); do [ -S "$IT_TMP/notify.sock" ] && break; sleep 0.05; done
it_bg d env NOTIFY_SOCKET="$IT_TMP/notify.sock" "$IT_BUILD/minitcpd" --tun tun0 --addr 10.0.0.2 \
    --socket "$IT_TMP/d.sock"
D=$IT_LASTPID
check "minitcpd sends READY=1 once the TUN and the socket are up" wait_for "$IT_TMP/notify.log" "^READY=1$" 10
check "the client socket exists when READY=1 is sent" test -S "$IT_TMP/d.sock"
check "the client socket is mode 0660" bash -c "[ \$(stat -c %a $IT_TMP/d.sock) = 660 ]"
kill -TERM "$D"
check "minitcpd sends STOPPING=1 on SIGTERM and exits 0" bash -c "
    for _ in \$(seq 100); do grep -q '^STOPPING=1' $IT_TMP/notify.log && break; sleep 0.05; done
    grep -q '^STOPPING=1' $IT_TMP/notify.log"
wait "$D"
check "minitcpd exit status 0 after SIGTERM" test $? -eq 0
check "the client socket is removed at shutdown" test ! -e "$IT_TMP/d.sock"
wait "$NOTIFIER" 2>/dev/null
it_done
