#!/usr/bin/env bash
# System calls and context switches per 1-byte transaction (issue 12 item 3), for the daemon
# and the library (echo_server), with the programs on shared rings and on socket frames.
# A kernel client (bench/loadgen rr) sends COUNT 1-byte requests to echo_server through
# minitcpd; `strace -c` counts each process's calls over the run, /proc/PID/status its
# voluntary and involuntary context switches. strace slows every call down, so the
# transaction rate of the counted run means nothing; the counts per transaction do.
# The counts without strace (context switches only) come from a second run.
# Usage: bench/syscalls.sh [COUNT] (default 20000); needs root, build/gcc and build/bench.
# Runs in a network namespace of its own (minitcp-sys-<pid>), removed on exit.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
MT=$root/build/gcc BIN=$root/build/bench N=${1:-20000}
NS=minitcp-sys-$$ T=$(mktemp -d /tmp/minitcp-sys.XXXXXX) PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    ip netns del "$NS" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ip netns add "$NS" && ip -n "$NS" link set lo up || exit 1
bash "$root/scripts/setup_tun.sh" --netns "$NS" >/dev/null || exit 1
csw() { awk '/^voluntary_ctxt/ {v=$2} /^nonvoluntary_ctxt/ {n=$2} END {print v+0, n+0}' "/proc/$1/status"; }

one() { # LABEL SHM(0|1) DAEMON-OPTS...
    local label=$1 shm=$2
    shift 2
    local sock=$T/$label.sock
    ip netns exec "$NS" "$MT/minitcpd" --tun tun0 --addr 10.0.0.2 --socket "$sock" --seccomp off "$@" \
        >"$T/$label.d.log" 2>&1 &
    local d=$! i
    PIDS+=($d)
    for i in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
    ip netns exec "$NS" env MINITCP_SOCKET="$sock" MINITCP_SHM=$shm MINITCP_SHM_SPIN_US=${SPIN:-0} "$MT/apps/echo_server" --port 7 \
        >"$T/$label.e.log" 2>&1 &
    local e=$!
    PIDS+=($e)
    for i in $(seq 100); do grep -q listening "$T/$label.e.log" && break; sleep 0.05; done
    ip netns exec "$NS" "$BIN/loadgen" rr --addr 10.0.0.2 --port 7 --count 2000 --timeout 30 >/dev/null
    # uninstrumented: context switches and the rate
    local d0 e0 d1 e1 out
    d0=$(csw $d) e0=$(csw $e)
    out=$(ip netns exec "$NS" "$BIN/loadgen" rr --addr 10.0.0.2 --port 7 --count "$N" --timeout 120 | tail -n 1)
    d1=$(csw $d) e1=$(csw $e)
    # instrumented: system calls
    strace -c -f -q -o "$T/$label.d.strace" -p $d & local sd=$!
    strace -c -f -q -o "$T/$label.e.strace" -p $e & local se=$!
    sleep 0.5
    ip netns exec "$NS" "$BIN/loadgen" rr --addr 10.0.0.2 --port 7 --count "$N" --timeout 300 >/dev/null
    kill -INT $sd $se; wait $sd $se 2>/dev/null
    python3 - "$label" "$N" "$out" "$d0" "$d1" "$e0" "$e1" "$T/$label.d.strace" "$T/$label.e.strace" <<'PY'
import json, sys
label, n, out = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
def sw(a, b):
    a, b = [int(x) for x in a.split()], [int(x) for x in b.split()]
    return (b[0] - a[0]) / n, (b[1] - a[1]) / n
def calls(path):
    tot, per = 0, {}
    for line in open(path):
        f = line.split()
        if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
            c = int(f[3]); per[f[-1]] = c; tot += c
    return tot / n, {k: round(v / n, 2) for k, v in sorted(per.items(), key=lambda x: -x[1]) if v / n >= 0.05}
dv, dn = sw(sys.argv[4], sys.argv[5]); ev, en = sw(sys.argv[6], sys.argv[7])
dt, dper = calls(sys.argv[8]); et, eper = calls(sys.argv[9])
print(f"{label}: {out.get('tps', 0):.0f} tps, p50 {out.get('p50_us', '?')} us, p99 {out.get('p99_us', '?')} us")
print(f"  minitcpd    : {dt:5.2f} syscalls/txn {dper}; ctxsw/txn voluntary {dv:.2f}, involuntary {dn:.2f}")
print(f"  echo_server : {et:5.2f} syscalls/txn {eper}; ctxsw/txn voluntary {ev:.2f}, involuntary {en:.2f}")
PY
    kill -TERM $e $d; wait $e $d 2>/dev/null
}
for cfg in ${CONFIGS:-frames:0 shm:1 frames-nobusy:0:--busy-poll=0 shm-nobusy:1:--busy-poll=0}; do
    IFS=: read -r label shm opts <<<"$cfg"
    one "$label" "$shm" ${opts:+${opts/=/ }}
done
