#!/usr/bin/env bash
# Connection churn: 20,000 sequential connect -> GET -> read -> close cycles from the kernel
# to chat_server's HTTP responder (which closes first, so every connection ends in
# TIME_WAIT on MiniTCP's side). The client's port range is narrowed to 1,000 ports, so
# every 4-tuple is reused about 20 times while its old connection is still in TIME_WAIT.
. "$(dirname "$0")/lib.sh"
it_init churn
it_setup_tun
N=${MINITCP_CHURN_N:-20000}
nsx sysctl -qw net.ipv4.ip_local_port_range="40000 40999"
it_daemon a --tun tun0 --addr 10.0.0.2
A=$IT_TMP/a.sock
it_bg chat env MINITCP_SOCKET="$A" "$IT_BUILD/apps/chat_server" --port 8080
wait_for "$IT_TMP/chat.log" "listening on port 8080" 10 || { it_log "FAIL: chat_server did not start"; exit 1; }

check "$N sequential connections with reused ports: zero failures" bash -c "
    ip netns exec $IT_NS python3 $IT_SRC/tests/integration/tcpclients.py churn 10.0.0.2 8080 $N 5000 | tee $IT_TMP/churn.out
    grep -qx 'failures 0' $IT_TMP/churn.out"
check "TIME_WAIT 4-tuples were reused by new SYNs" bash -c "
    $IT_BUILD/cli/minitcpctl --socket $A stats --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
def find(o):
    if isinstance(o, dict):
        for k, v in o.items():
            if \"time_wait_reused\" in k and isinstance(v, int): return v
            r = find(v)
            if r is not None: return r
    if isinstance(o, list):
        for v in o:
            r = find(v)
            if r is not None: return r
n = find(d) or 0
print(\"time_wait_reused\", n)
sys.exit(0 if n > 0 else 1)'"
it_done
