#!/usr/bin/env bash
# MiniTCP's benchmark: MiniTCP beside the Linux kernel (veth), lwIP (liblwip on a TUN) and a
# one-packet-per-read TUN relay, all on this machine, in network namespaces this script
# creates (minitcp-bench-<pid>-*) and removes on exit, also on failure or Ctrl-C.
#
# Usage: bench/run.sh [--targets kernel,relay,lwip,minitcp,frames,minitcp_off] [--figures LIST] [--runs N]
#                     [--quick] [--no-build] [--docs]
#   figures: bulk_in bulk_out rr conn conn32 hold churn profile loss goodput (default: all)
#            loss: echo times through a router dropping 0-30 % (bench/loss.sh), MiniTCP,
#            Linux <-> Linux and lwIP; goodput: CUBIC and NewReno on the simulated link
#            (cc_goodput); both issue 11, written to bench/loss.md by bench/loss_report.py
#            abuse: MiniTCP (and Linux) under attack, bench/abuse.sh (issue 10; long, only
#            when named; --quick passes on), its output in bench/results/abuse.txt
#   --runs N   runs per figure, the median is reported with min and max (default 5)
#   --quick    smaller transfers and counts, one hold run (a smoke test, not the figures)
#   --docs     also write docs/performance.md and docs/performance.png from this run
# Output: a table on the terminal, bench/results/latest.json (and raw.jsonl beside it).
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
BIN=$root/build/bench
MT=$root/build/gcc
RES=$root/bench/results
targets=kernel,relay,lwip,minitcp,frames
figures=bulk_in,bulk_out,rr,conn,conn32,hold,churn,profile,loss,goodput
runs=5 quick=0 build=1 docs=0
cmdline="bench/run.sh $*"
while [ $# -gt 0 ]; do
    case $1 in
    --targets) targets=$2; shift 2 ;;
    --figures) figures=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    --no-build) build=0; shift ;;
    --docs) docs=1; shift ;;
    -h | --help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" -eq 0 ] || { echo "run.sh: needs root (network namespaces, TUN)" >&2; exit 1; }
has() { [[ ",$2," == *",$1,"* ]]; }

# ---- sizes -------------------------------------------------------------------------------
if [ $quick = 1 ]; then
    BULK=$((256 << 20)) BULK_KERNEL=$((1 << 30)) RR_N=5000 CONN_N=1000 CONN32_N=2000
    HOLD_N=2000 HOLD_RUNS=1 CHURN_N=4000 CHURN_SECS=20
    LOSS_CELLS="0:262144 5:262144 30:16384" LOSS_LIMIT=20 GOODPUT_SECS=10
else
    BULK=$((1 << 30)) BULK_KERNEL=$((4 << 30)) RR_N=20000 CONN_N=3000 CONN32_N=6000
    HOLD_N=10000 HOLD_RUNS=$runs CHURN_N=20000 CHURN_SECS=45
    # loss.sh's default cells (0, 1, 5 % of 1 MiB, 10 % of 512 KiB, 30 % of 128 KiB)
    LOSS_CELLS="" LOSS_LIMIT=${LOSS_LIMIT:-60} GOODPUT_SECS=60
fi
HOLD_PROCS=4 ADDR=10.0.0.2

# ---- bookkeeping and cleanup --------------------------------------------------------------
TMP=$(mktemp -d /tmp/minitcp-bench.XXXXXX)
PIDS=() NSS=()
log() { printf '[bench] %s\n' "$*" >&2; }

stop_pid() { # PID: TERM, wait up to 5 s, then KILL
    local p=$1 i
    kill -TERM "$p" 2>/dev/null || return 0
    for i in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
    return 0
}
forget_pid() { local p=$1 i; for i in "${!PIDS[@]}"; do [ "${PIDS[$i]}" = "$p" ] && unset 'PIDS[i]'; done; }

cleanup() {
    local rc=$? p n
    for p in "${PIDS[@]}"; do stop_pid "$p"; done
    for n in "${NSS[@]}"; do ip netns del "$n" 2>/dev/null; done
    [ "$rc" -ne 0 ] && [ -d "$TMP" ] && cp -r "$TMP" "$RES/failed-run-logs" 2>/dev/null &&
        log "logs of the failed run kept in bench/results/failed-run-logs"
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkns() { # NAME: creates the namespace minitcp-bench-<pid>-NAME with lo up; sets NEWNS
    NEWNS=minitcp-bench-$$-$1
    ip netns add "$NEWNS" || exit 1
    NSS+=("$NEWNS")
    ip -n "$NEWNS" link set lo up
}
delns() { local n=$1 i; ip netns del "$n" 2>/dev/null; for i in "${!NSS[@]}"; do [ "${NSS[$i]}" = "$n" ] && unset 'NSS[i]'; done; }

bg() { # NS LOGNAME CMD...: start CMD in NS in the background; sets LASTPID
    local ns=$1 name=$2
    shift 2
    ip netns exec "$ns" "$@" >>"$TMP/$name.log" 2>&1 &
    LASTPID=$!
    PIDS+=("$LASTPID")
}

wait_port() { # NS PORT: until something accepts on ADDR:PORT (10 s)
    local i
    for i in $(seq 100); do
        ip netns exec "$1" timeout 1 bash -c "exec 3<>/dev/tcp/$ADDR/$2" 2>/dev/null && return 0
        sleep 0.1
    done
    log "nothing listens on $ADDR:$2"
    return 1
}

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# ---- build -------------------------------------------------------------------------------
if [ $build = 1 ]; then
    log "installing what the bench needs (scripts/bootstrap.sh --bench)"
    bash "$root/scripts/bootstrap.sh" --bench || exit 1
    log "building MiniTCP (build/gcc, RelWithDebInfo) and the bench programs (build/bench)"
    if has minitcp "$targets"; then
        bash "$root/scripts/build.sh" "$MT" || log "MiniTCP build failed: the minitcp target will be skipped"
    fi
    make -s -C "$root/bench" OUT="$BIN" || exit 1
fi
mkdir -p "$RES"
# abuse first, and on its own: it leaves the other figures' results (raw.jsonl) alone
if has abuse "$figures"; then
    log "abuse: bench/abuse.sh (SYN flood, stalled and never-reading connections, LIST_CONNS and empty-datagram floods, client sessions, chat_server)"
    bash "$root/bench/abuse.sh" --build "$MT" $([ $quick = 1 ] && echo --quick) 2>&1 | tee "$RES/abuse.txt"
    figures=${figures//abuse/}
    [ -n "${figures//,/}" ] || exit 0
fi
# loss and goodput (issue 11) on their own too: their own results files (loss.jsonl,
# goodput.jsonl) and section (bench/loss.md, by bench/loss_report.py), raw.jsonl left alone
if has loss "$figures" || has goodput "$figures"; then
    if has loss "$figures"; then
        log "loss: bench/loss.sh, $runs runs per cell, limit ${LOSS_LIMIT}s"
        LOSS_COMMIT=$(git -C "$root" rev-parse --short HEAD)
        : >"$RES/loss.jsonl"
        # shellcheck disable=SC2086
        bash "$root/bench/loss.sh" --build "$MT" --bench-bin "$BIN" --runs "$runs" --limit "$LOSS_LIMIT" \
            --json "$RES/loss.jsonl" $LOSS_CELLS 2>&1 | tee "$RES/loss.txt"
    fi
    if has goodput "$figures"; then
        log "goodput: cc_goodput, ${GOODPUT_SECS} virtual seconds, 5 seeds"
        [ -x "$MT/bench/cc_goodput" ] || ninja -C "$MT" -j2 cc_goodput >/dev/null
        "$MT/bench/cc_goodput" --seconds "$GOODPUT_SECS" --seeds 5 --json >"$RES/goodput.jsonl" ||
            log "cc_goodput failed"
    fi
    python3 - "$root" "$cmdline" "$runs" "$RES" "${LOSS_COMMIT:-}" >"$RES/loss_meta.json" <<'EOF'
import json, subprocess, sys
root, cmd, runs, res, commit = sys.argv[1:6]
try:
    counters = next((l.split(":", 1)[1].strip() for l in open(res + "/loss.txt") if l.startswith("MiniTCP counters:")), "")
except OSError:
    counters = ""
print(json.dumps({"loss_cmd": cmd, "runs": int(runs), "counters": counters,
                  "loadavg": " ".join(open("/proc/loadavg").read().split()[:3]),
                  "commit": commit or subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()}))
EOF
    python3 "$root/bench/loss_report.py" --results "$RES" $([ $docs = 1 ] && echo --docs "$root/docs")
    figures=${figures//goodput/}
    figures=${figures//loss/}
    [ -n "${figures//,/}" ] || exit 0
fi
RAW=$RES/raw.jsonl
: >"$RAW"

meta() {
    python3 - "$@" <<'EOF'
import json, sys, os, platform, subprocess
cpu = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), '?')
print(json.dumps({"nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
                  "loadavg": open('/proc/loadavg').read().split()[:3], "mem_gib": round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30, 1),
                  "lwip": subprocess.run(['dpkg-query', '-W', '-f=${Version}', 'liblwip-dev'], capture_output=True, text=True).stdout,
                  "commit": subprocess.run(['git', '-C', sys.argv[1], 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip(),
                  "cmdline": sys.argv[2], "runs": int(sys.argv[3]), "quick": sys.argv[4] == '1'}))
EOF
}
meta "$root" "$cmdline" "$runs" "$quick" >"$RES/meta.json"

record() { # TARGET FIGURE RUN JSON [EXTRA-JSON-FIELDS]
    printf '{"target":"%s","figure":"%s","run":%s,"result":%s%s}\n' "$1" "$2" "$3" "$4" "${5:+,$5}" >>"$RAW"
}

# lg SECS LOADGEN-ARGS...: runs the load generator in the client namespace, bounded by a hard
# timeout on top of its own; prints its JSON line (or a failure object).
lg() {
    local secs=$1 out
    shift
    out=$(ip netns exec "$CNS" timeout -k 5 "$secs" "$BIN/loadgen" "$@" 2>>"$TMP/loadgen.err" | tail -n 1)
    [ -n "$out" ] || out='{"ok":false,"error":"loadgen printed nothing (timed out or crashed)"}'
    echo "$out"
}

# ---- targets -----------------------------------------------------------------------------
# Each up_X sets: CNS (the client namespace), WATCH (PIDs whose CPU counts as the stack's),
# MEMPID (the process whose resident memory per connection is reported, empty = N/A),
# APPPID (MiniTCP's echo app, whose memory is reported beside the daemon's), SRVLOG.
# restart_X restarts the servers (lwIP only: see conn below).

up_kernel() {
    local c s
    mkns kc; c=$NEWNS
    mkns ks; s=$NEWNS
    ip -n "$c" link add vc type veth peer name vs netns "$s" || return 1
    ip -n "$c" addr add 10.0.0.1/24 dev vc
    ip -n "$s" addr add 10.0.0.2/24 dev vs
    ip -n "$c" link set vc mtu 1500 up
    ip -n "$s" link set vs mtu 1500 up
    bg "$s" kernel-kserver "$BIN/kserver" --discard 9 --echo 7 --source 19 --http 8080
    CNS=$c WATCH=$LASTPID MEMPID="" APPPID="" SRVLOG=$TMP/kernel-kserver.log KS=$LASTPID
    wait_port "$c" 7
}
down_kernel() { stop_pid "$KS"; forget_pid "$KS"; delns "$CNS"; delns "${CNS%kc}ks"; }

up_relay() {
    local a b
    mkns ra; a=$NEWNS
    mkns rb; b=$NEWNS
    ip netns exec "$a" ip tuntap add dev tunA mode tun || return 1
    ip netns exec "$b" ip tuntap add dev tunB mode tun || return 1
    ip -n "$a" addr add 10.0.0.1 peer 10.0.0.2 dev tunA
    ip -n "$b" addr add 10.0.0.2 peer 10.0.0.1 dev tunB
    ip -n "$a" link set tunA mtu 1500 up
    ip -n "$b" link set tunB mtu 1500 up
    bg "$a" relay "$BIN/tun_relay" "$a:tunA" "$b:tunB"
    RELAY=$LASTPID
    bg "$b" relay-kserver "$BIN/kserver" --discard 9 --echo 7 --source 19 --http 8080
    KS=$LASTPID
    CNS=$a WATCH=$RELAY,$KS MEMPID="" APPPID="" SRVLOG=$TMP/relay-kserver.log
    wait_port "$a" 7
}
down_relay() { stop_pid "$KS"; stop_pid "$RELAY"; forget_pid "$KS"; forget_pid "$RELAY"; delns "$CNS"; delns "${CNS%ra}rb"; }

start_lwip() {
    bg "$CNS" lwip "$BIN/lwip_tun" --tun tun0 --addr $ADDR
    LW=$LASTPID WATCH=$LASTPID MEMPID=$LASTPID
    wait_port "$CNS" 7
}
up_lwip() {
    mkns lw; CNS=$NEWNS
    bash "$root/scripts/setup_tun.sh" --netns "$CNS" >/dev/null || return 1
    APPPID="" SRVLOG=$TMP/lwip.log
    start_lwip
}
restart_lwip() { stop_pid "$LW"; forget_pid "$LW"; start_lwip; }
down_lwip() { stop_pid "$LW"; forget_pid "$LW"; delns "$CNS"; }

up_minitcp() {
    local app p
    for app in minitcpd apps/echo_server apps/discard_server apps/source_server apps/chat_server; do
        [ -x "$MT/$app" ] || { log "minitcp: $MT/$app is not built yet: target skipped"; return 1; }
    done
    mkns mt; CNS=$NEWNS
    bash "$root/scripts/setup_tun.sh" --netns "$CNS" >/dev/null || return 1
    SOCK=$TMP/minitcpd.sock
    bg "$CNS" minitcpd "$MT/minitcpd" --tun tun0 --addr $ADDR --socket "$SOCK" ${MINITCPD_OPTS:-}
    MTD=$LASTPID MT_PIDS=("$LASTPID")
    for p in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
    [ -S "$SOCK" ] || { log "minitcpd did not create $SOCK"; return 1; }
    bg "$CNS" mt-echo env MINITCP_SOCKET="$SOCK" stdbuf -oL "$MT/apps/echo_server" --port 7
    APPPID=$LASTPID MT_PIDS+=("$LASTPID")
    bg "$CNS" mt-discard env MINITCP_SOCKET="$SOCK" stdbuf -oL "$MT/apps/discard_server" --port 9
    MT_PIDS+=("$LASTPID") MT_DISCARD=$LASTPID
    bg "$CNS" mt-source env MINITCP_SOCKET="$SOCK" stdbuf -oL "$MT/apps/source_server" --port 19
    MT_PIDS+=("$LASTPID") MT_SOURCE=$LASTPID
    bg "$CNS" mt-chat env MINITCP_SOCKET="$SOCK" stdbuf -oL "$MT/apps/chat_server" --port 8080
    MT_PIDS+=("$LASTPID") MT_CHAT=$LASTPID
    WATCH=$MTD MEMPID=$MTD SRVLOG=$TMP/mt-discard.log
    for p in 7 9 8080; do wait_port "$CNS" $p || return 1; done
}
# CPU of the stack's processes: the daemon plus the app that serves the figure.
mt_watch() { case $1 in bulk_in) echo "$MTD,$MT_DISCARD" ;; bulk_out) echo "$MTD,$MT_SOURCE" ;; rr | hold) echo "$MTD,$APPPID" ;; *) echo "$MTD,$MT_CHAT" ;; esac; }
down_minitcp() { local p; for p in "${MT_PIDS[@]}"; do stop_pid "$p"; forget_pid "$p"; done; delns "$CNS"; }
# The same daemon with its TUN offloads off (issue 12 item 1: one packet per read and write).
up_minitcp_off() { MINITCPD_OPTS="${MINITCPD_OPTS:-} --offload off" up_minitcp; }
down_minitcp_off() { down_minitcp; }

watch_for() { case $T in minitcp | frames | minitcp_off) mt_watch "$1" ;; *) echo "$WATCH" ;; esac; }
# "frames": MiniTCP with its programs kept on the Unix socket (MINITCP_SHM=0), beside
# "minitcp" on the shared rings, in the same run.
up_frames() { local rc; export MINITCP_SHM=0; up_minitcp; rc=$?; unset MINITCP_SHM; return $rc; }
down_frames() { down_minitcp; }

# ---- figures -----------------------------------------------------------------------------
discard_verdict() { # what the server logged about the last discard connection
    local line
    line=$(grep -aE 'discard: bytes=|closed after [0-9]+ bytes' "$SRVLOG" 2>/dev/null | tail -n 1)
    case $line in
    *"bytes=$1 pattern=ok"*) echo '"server_check":"pattern"' ;;
    *"closed after $1 bytes"*) echo '"server_check":"count"' ;; # MiniTCP's discard_server
    *pattern=BAD* | *"bytes="*) echo "\"server_check\":\"FAILED: $line\"" ;;
    *) echo '"server_check":"none"' ;;
    esac
}

fig_bulk_in() {
    local r bytes=$BULK out
    [ "$T" = kernel ] && bytes=$BULK_KERNEL
    out=$(lg 60 echo-verify --addr $ADDR --port 7 --bytes $((32 << 20)) --timeout 40)
    record "$T" echo_verify 1 "$out"
    for r in $(seq "$runs"); do
        out=$(lg 200 bulk-send --addr $ADDR --port 9 --bytes $bytes --timeout 180 --watch "$(watch_for bulk_in)")
        sleep 0.2 # let the server log its verdict
        record "$T" bulk_in "$r" "$out" "$(discard_verdict $bytes)"
    done
}

fig_bulk_out() {
    local r bytes=$BULK out
    [ "$T" = kernel ] && bytes=$BULK_KERNEL
    for r in $(seq "$runs"); do
        out=$(lg 200 bulk-recv --addr $ADDR --port 19 --bytes $bytes --timeout 180 $MT_NOVERIFY --watch "$(watch_for bulk_out)")
        record "$T" bulk_out "$r" "$out"
    done
}

fig_rr() {
    local r
    for r in $(seq "$runs"); do
        record "$T" rr "$r" "$(lg 90 rr --addr $ADDR --port 7 --count $RR_N --timeout 60 --watch "$(watch_for rr)")"
    done
}

# conn/conn32: the HTTP responder (closes first). lwIP is restarted before each run: its
# TIME_WAIT handling (issue 6) makes connections fail once Linux reuses a client port, which
# the churn figure shows; here the rate itself is measured.
fig_conn() {
    local r c=$1 n fig
    [ "$c" = 1 ] && { n=$CONN_N fig=conn; } || { n=$CONN32_N fig=conn32; }
    for r in $(seq "$runs"); do
        [ "$T" = lwip ] && restart_lwip
        record "$T" $fig "$r" "$(lg 90 conn --addr $ADDR --port 8080 --count $n --concurrency "$c" \
            --connect-timeout 1000 --timeout 60 --watch "$(watch_for conn)")"
    done
}

fig_hold() {
    local r i per=$((HOLD_N / HOLD_PROCS)) pids rss0 rss1 app0 app1 held out ok okall
    # MiniTCP's daemon serves at most 1024 sockets per client process (MAX_SOCKS_PER_CLIENT in
    # daemon/sock_service.h), so one echo_server holds at most 1023 connections: the bench adds
    # echo_servers on ports 7001..7010 and the load generators spread over all eleven.
    local ports=7 apps=() p
    if [ "$T" = minitcp ] || [ "$T" = frames ]; then
        apps=("$APPPID")
        for p in $(seq 7001 7010); do
            bg "$CNS" mt-echo-$p env MINITCP_SOCKET="$SOCK" stdbuf -oL "$MT/apps/echo_server" --port $p
            apps+=("$LASTPID") MT_PIDS+=("$LASTPID")
            ports=$ports,$p
        done
        for p in $(seq 7001 7010); do wait_port "$CNS" $p; done
    elif [ -n "$APPPID" ]; then apps=("$APPPID"); fi
    for r in $(seq "$HOLD_RUNS"); do
        [ "$T" = lwip ] && restart_lwip
        sleep 0.5
        rss0=0 app0=0 rss1=0 app1=0
        [ -n "$MEMPID" ] && rss0=$(rss_kb "$MEMPID")
        for p in "${apps[@]}"; do app0=$((app0 + $(rss_kb "$p"))); done
        rm -f "$TMP"/hold.*
        pids=()
        for i in $(seq $HOLD_PROCS); do
            # no timeout(1) wrapper here: SIGUSR1 must reach the load generator itself, which
            # bounds itself (--timeout); the exit trap ends it by PID if anything goes wrong
            ip netns exec "$CNS" "$BIN/loadgen" hold --addr $ADDR --ports $ports --count $per \
                --ready-file "$TMP/hold.ready.$i" --hold-secs 60 --timeout 120 >"$TMP/hold.out.$i" 2>>"$TMP/loadgen.err" &
            pids+=($!)
            PIDS+=($!)
        done
        for i in $(seq 900); do
            [ "$(ls "$TMP"/hold.ready.* 2>/dev/null | wc -l)" = $HOLD_PROCS ] && break
            sleep 0.1
        done
        sleep 1
        [ -n "$MEMPID" ] && rss1=$(rss_kb "$MEMPID")
        for p in "${apps[@]}"; do app1=$((app1 + $(rss_kb "$p"))); done
        held=$(cat "$TMP"/hold.ready.* 2>/dev/null | awk '{s += $1} END {print s + 0}')
        for i in "${pids[@]}"; do kill -USR1 "$i" 2>/dev/null; done
        okall=0
        for i in "${pids[@]}"; do wait "$i"; forget_pid "$i"; done
        out=$(cat "$TMP"/hold.out.* | python3 -c '
import json, sys
rs = [json.loads(l) for l in sys.stdin if l.strip().startswith("{")]
print(json.dumps({"ok": len(rs) == int(sys.argv[1]) and all(r["ok"] for r in rs),
                  "procs": len(rs), "count": sum(r["count"] for r in rs),
                  "opened": sum(r["opened"] for r in rs), "echo_before": sum(r["echo_before"] for r in rs), "echo_after": sum(r["echo_after"] for r in rs),
                  "errors": [r.get("first_error") for r in rs if r.get("first_error")]}))' $HOLD_PROCS)
        record "$T" hold "$r" "$out" "\"held\":$held,\"rss_before_kb\":$rss0,\"rss_held_kb\":$rss1,\"app_rss_before_kb\":$app0,\"app_rss_held_kb\":$app1,\"mem_na\":$([ -n "$MEMPID" ] && echo false || echo true)"
        sleep 1
    done
}

# Issue 6: 20,000 sequential connections to the HTTP port, the client's ports narrowed to
# 1,000 so that 4-tuples are reused while the server still holds them in TIME_WAIT.
fig_churn() {
    local r
    ip netns exec "$CNS" sysctl -qw net.ipv4.ip_local_port_range="40000 40999"
    for r in $(seq "$runs"); do
        [ "$T" = lwip ] && restart_lwip
        record "$T" churn "$r" "$(lg $((CHURN_SECS + 30)) conn --addr $ADDR --port 8080 --count $CHURN_N --slices 4 \
            --connect-timeout 1000 --timeout $CHURN_SECS --watch "$(watch_for conn)")"
        [ "$T" = lwip ] || [ "$T" = minitcp ] || [ "$T" = frames ] || break # one run is plenty for the kernel references
    done
    ip netns exec "$CNS" sysctl -qw net.ipv4.ip_local_port_range="32768 60999"
}

# The profile: minitcpd under callgrind for a short bulk transfer in each direction.
fig_profile() {
    [ "$T" = minitcp ] || return 0
    down_minitcp
    mkns mtp; CNS=$NEWNS
    bash "$root/scripts/setup_tun.sh" --netns "$CNS" >/dev/null || return 1
    SOCK=$TMP/minitcpd-prof.sock
    local cg=$RES/callgrind.out.minitcpd p
    rm -f "$cg"
    bg "$CNS" minitcpd-prof valgrind --tool=callgrind --callgrind-out-file="$cg" "$MT/minitcpd" --tun tun0 --addr $ADDR --socket "$SOCK"
    MTD=$LASTPID MT_PIDS=("$LASTPID")
    for p in $(seq 200); do [ -S "$SOCK" ] && break; sleep 0.1; done
    bg "$CNS" mtp-discard env MINITCP_SOCKET="$SOCK" stdbuf -oL "$MT/apps/discard_server" --port 9
    MT_PIDS+=("$LASTPID")
    bg "$CNS" mtp-source env MINITCP_SOCKET="$SOCK" stdbuf -oL "$MT/apps/source_server" --port 19
    MT_PIDS+=("$LASTPID")
    wait_port "$CNS" 9 && wait_port "$CNS" 19 || return 1
    record minitcp profile_bulk_in 1 "$(lg 120 bulk-send --addr $ADDR --port 9 --bytes $((64 << 20)) --timeout 100)"
    record minitcp profile_bulk_out 1 "$(lg 120 bulk-recv --addr $ADDR --port 19 --bytes $((64 << 20)) --timeout 100 $MT_NOVERIFY)"
    down_minitcp # SIGTERM: minitcpd exits through its loop and valgrind writes the profile
    sleep 1
    if [ -s "$cg" ]; then
        callgrind_annotate --inclusive=no "$cg" 2>/dev/null | sed -n '/^-\+$/,$p' | grep -E '^ *[0-9,]+ ' | head -n 12 >"$RES/profile_top.txt"
        callgrind_annotate --inclusive=yes "$cg" 2>/dev/null | grep -E '^ *[0-9,]+ ' | head -n 16 >"$RES/profile_inclusive.txt"
    fi
}

# ---- main ----------------------------------------------------------------------------------
MT_NOVERIFY=""
for T in kernel relay lwip minitcp frames minitcp_off; do
    has $T "$targets" || continue
    log "target $T: setting up"
    if [ $T = minitcp ] || [ $T = frames ] || [ $T = minitcp_off ]; then
        # source_server's stream is "byte i is i mod 256": verify that pattern while it says so,
        # else count the bytes only (and say so in the results).
        MT_NOVERIFY="--pattern-mod 256"
        grep -q 'i mod 256' "$root/apps/source_server.c" 2>/dev/null || MT_NOVERIFY=--no-verify
    fi
    if ! up_$T; then
        log "target $T could not be set up: skipped (logs below)"
        tail -n 5 "$TMP"/*.log >&2 2>/dev/null
        record "$T" setup 1 '{"ok":false,"error":"setup failed"}'
        down_$T 2>/dev/null
        continue
    fi
    for f in bulk_in bulk_out rr conn conn32 hold churn profile; do
        has $f "$figures" || continue
        log "target $T: $f"
        case $f in
        conn) fig_conn 1 ;;
        conn32) fig_conn 32 ;;
        *) fig_$f ;;
        esac
    done
    down_$T
    [ $T = minitcp ] || [ $T = frames ] || [ $T = minitcp_off ] && MT_NOVERIFY=""
done

python3 "$root/bench/report.py" --results "$RES" $([ $docs = 1 ] && echo --docs "$root/docs")
