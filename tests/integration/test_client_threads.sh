#!/usr/bin/env bash
# libminitcp-client from many threads (mt_stress.c), built here with ThreadSanitizer from
# the library's sources: blocking accept, connects, sends and receives and a polling idler
# at once, against the kernel's TCP; every byte checked, and any TSan report fails.
. "$(dirname "$0")/lib.sh"
it_init cthreads
command -v clang >/dev/null || { it_log "FAIL: clang missing"; exit 1; }
TSAN_BIN=$IT_TMP/mt_stress
if ! clang -std=gnu17 -D_GNU_SOURCE -O1 -g -fsanitize=thread -pthread -Wall -Wextra -Werror \
    -I"$IT_SRC/libclient/include" -I"$IT_SRC/libclient" -I"$IT_SRC/proto" \
    "$IT_SRC/tests/integration/mt_stress.c" "$IT_SRC"/libclient/*.c "$IT_SRC"/proto/*.c \
    -o "$TSAN_BIN" 2>"$IT_TMP/build.log"; then
    it_log "FAIL: building mt_stress with -fsanitize=thread"
    cat "$IT_TMP/build.log" >&2
    exit 1
fi
it_setup_tun
it_daemon d --tun tun0 --addr 10.0.0.2
it_bg kecho python3 "$IT_SRC/tests/integration/preload_kernel_echo.py" 10.0.0.1 9100
wait_for "$IT_TMP/kecho.log" "listening" 10
export TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1"
MINITCP_SOCKET=$IT_TMP/d.sock ip netns exec "$IT_NS" "$TSAN_BIN" 10.0.0.1 9100 7500 10 \
    >"$IT_TMP/stress.log" 2>&1 &
STRESS=$!
IT_PIDS+=("$STRESS")
wait_for "$IT_TMP/stress.log" "^listening" 20
check "10 kernel clients echoed byte-exact by the accepting threads" \
    timeout 60 ip netns exec "$IT_NS" python3 "$IT_SRC/tests/integration/preload_clients.py" 10.0.0.2 7500 10 32768
wait "$STRESS"
RC=$?
cat "$IT_TMP/stress.log" >&2
check "mt_stress: every byte right, no ThreadSanitizer report (exit $RC)" test "$RC" -eq 0
check "no ThreadSanitizer warning in the output" bash -c "! grep -q 'WARNING: ThreadSanitizer' $IT_TMP/stress.log"
it_done
