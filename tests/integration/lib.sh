# Shared helpers for the integration tests: each test runs in a network namespace of its
# own (minitcp-<test>-<pid>), started and removed here, also on failure.
# Source it, then: it_init NAME; it_setup_tun [--two]; it_daemon A --tun tun0 ...; check ...
set -uo pipefail

IT_SRC=${MINITCP_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
IT_BUILD=${MINITCP_BUILD:-$IT_SRC/build}
IT_PIDS=()
IT_FAILS=0
IT_PASSES=0

it_log() { printf '%s\n' "$*" >&2; }

it_cleanup() {
    local rc=$?
    local p
    for p in "${IT_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${IT_PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    [ -n "${IT_NS:-}" ] && ip netns del "$IT_NS" 2>/dev/null
    # Sanitizer reports (leaks show up only at exit) fail the test whatever else passed.
    if grep -lE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$IT_TMP"/*.log 2>/dev/null; then
        it_log "FAIL - a sanitizer reported an error (see the log named above)"
        IT_FAILS=$((IT_FAILS + 1))
        rc=1
    fi
    if [ "$rc" -ne 0 ] || [ "$IT_FAILS" -ne 0 ]; then
        local f
        for f in "$IT_TMP"/*.log; do
            [ -f "$f" ] || continue
            it_log "---- last lines of $(basename "$f")"
            tail -n 25 "$f" >&2
        done
    fi
    rm -rf "$IT_TMP"
    exit "$rc"
}

# it_init NAME: checks prerequisites, creates the namespace and a scratch directory.
it_init() {
    IT_NAME=$1
    local why=""
    [ "$(id -u)" -eq 0 ] || why="needs root"
    [ -c /dev/net/tun ] || why="needs /dev/net/tun"
    command -v ip >/dev/null || why="needs iproute2"
    [ -x "$IT_BUILD/minitcpd" ] || why="minitcpd not built in $IT_BUILD"
    if [ -n "$why" ]; then
        if [ "${CI:-}" = "true" ]; then
            it_log "FAIL: integration test $IT_NAME cannot run: $why"
            exit 1
        fi
        it_log "SKIP: integration test $IT_NAME: $why"
        exit 77
    fi
    IT_NS="minitcp-$IT_NAME-$$"
    IT_TMP=$(mktemp -d "/tmp/minitcp-$IT_NAME.XXXXXX")
    trap it_cleanup EXIT
    trap 'exit 1' INT TERM
    ip netns add "$IT_NS" || { it_log "FAIL: cannot create namespace $IT_NS"; exit 1; }
}

nsx() { ip netns exec "$IT_NS" "$@"; }

it_setup_tun() { bash "$IT_SRC/scripts/setup_tun.sh" --netns "$IT_NS" "$@" >/dev/null; }

# it_bg NAME CMD...: runs CMD inside the namespace in the background, output to NAME.log.
it_bg() {
    local name=$1
    shift
    # <&0: keep the caller's stdin (a background job would otherwise get /dev/null)
    ip netns exec "$IT_NS" "$@" <&0 >"$IT_TMP/$name.log" 2>&1 &
    IT_PIDS+=($!)
    IT_LASTPID=$!
}

# wait_for FILE REGEX [SECONDS]: polls a log until a line matches.
wait_for() {
    local file=$1 re=$2 secs=${3:-10} i
    for ((i = 0; i < secs * 20; i++)); do
        grep -qE -- "$re" "$file" 2>/dev/null && return 0
        sleep 0.05
    done
    it_log "timeout waiting for /$re/ in $(basename "$file")"
    return 1
}

# it_daemon NAME ARGS...: starts minitcpd with a socket in the scratch dir, waits until up.
it_daemon() {
    local name=$1
    shift
    it_bg "$name" "$IT_BUILD/minitcpd" --socket "$IT_TMP/$name.sock" "$@"
    wait_for "$IT_TMP/$name.log" "^minitcpd: up" 10 || { it_log "FAIL: minitcpd $name did not start"; exit 1; }
}

# check DESCRIPTION CMD...: runs CMD, records pass or fail.
check() {
    local desc=$1
    shift
    if "$@"; then
        IT_PASSES=$((IT_PASSES + 1))
        it_log "ok   - $desc"
    else
        IT_FAILS=$((IT_FAILS + 1))
        it_log "FAIL - $desc"
    fi
}

it_done() {
    it_log "$IT_NAME: $IT_PASSES passed, $IT_FAILS failed"
    [ "$IT_FAILS" -eq 0 ]
}
