#!/usr/bin/env bash
# SYN flood (issue 10 item 1): thousands of SYNs from spoofed sources written into the TUN
# while curl fetches from chat_server again and again. Daemon a (SYN cookies, the default)
# must serve every curl; daemon b (--syncookies 0) is the control that shows the flood fills
# a listener's queue without cookies (its curls wait for SYN retransmissions; their times
# are figures, not asserted). Figures are printed for docs/performance.md.
. "$(dirname "$0")/lib.sh"
it_init synflood
it_setup_tun --two
A=$IT_TMP/a.sock B=$IT_TMP/b.sock
APPS=$IT_BUILD/apps CTL=$IT_BUILD/cli/minitcpctl
FLOOD="python3 $IT_SRC/tests/integration/synflood.py"
COUNT=${SYNFLOOD_COUNT:-4000} SECS=${SYNFLOOD_SECS:-5}
it_daemon a --tun tun0 --addr 10.0.0.2
it_daemon b --tun tun1 --addr 10.0.1.2 --syncookies 0
it_bg chata env MINITCP_SOCKET="$A" "$APPS/chat_server" --port 8080
it_bg chatb env MINITCP_SOCKET="$B" "$APPS/chat_server" --port 8080
wait_for "$IT_TMP/chata.log" "^chat_server: listening" 10 || { it_log "FAIL: chat_server a"; exit 1; }
wait_for "$IT_TMP/chatb.log" "^chat_server: listening" 10 || { it_log "FAIL: chat_server b"; exit 1; }

stat_of() { # SOCKET NAME: one tcp counter from minitcpctl stats --json
    "$CTL" --socket "$1" stats --json | python3 -c "import json,sys; print(json.load(sys.stdin)['tcp']['$2'])"
}

# curl_loop ADDR OUT: fetches until the flood ends; "ok SECONDS" or "fail RC" per line, in OUT
curl_loop() {
    local addr=$1 out=$2 rc t
    : >"$out"
    while kill -0 "$FA" 2>/dev/null; do
        t=$(ip netns exec "$IT_NS" curl -s -m 10 -w '%{time_total}' -o "$out.body" "http://$addr:8080/")
        rc=$?
        if [ $rc -eq 0 ] && [ "$(cat "$out.body")" = hello ]; then echo "ok $t"; else echo "fail $rc"; fi >>"$out"
    done
}
# times OUT: the successful fetches' median and maximum time
times() {
    awk '$1 == "ok" { print $2 }' "$1" | sort -n | awk '{ t[NR] = $1 } END {
        if (NR) printf "median %.3f s, max %.3f s", t[int((NR + 1) / 2)], t[NR]; else printf "none" }'
}

check "before the flood: curl to both" bash -c "
    ip netns exec $IT_NS curl -s -m 5 http://10.0.0.2:8080/ | grep -qx hello &&
    ip netns exec $IT_NS curl -s -m 5 http://10.0.1.2:8080/ | grep -qx hello"

it_bg flooda $FLOOD tun0 10.0.0.2 8080 "$COUNT" "$SECS" 1
FA=$IT_LASTPID
it_bg floodb $FLOOD tun1 10.0.1.2 8080 "$COUNT" "$SECS" 2
curl_loop 10.0.0.2 "$IT_TMP/curla.txt" &
CLA=$!
curl_loop 10.0.1.2 "$IT_TMP/curlb.txt" &
CLB=$!
wait "$CLA" "$CLB"
wait_for "$IT_TMP/flooda.log" "^flooded $COUNT SYNs" 30 || { it_log "FAIL: the flood did not finish"; exit 1; }

OKA=$(grep -c '^ok' "$IT_TMP/curla.txt") NA=$(wc -l <"$IT_TMP/curla.txt")
OKB=$(grep -c '^ok' "$IT_TMP/curlb.txt") NB=$(wc -l <"$IT_TMP/curlb.txt")
it_log "figure: $(cat "$IT_TMP/flooda.log")"
it_log "figure: curl success during the flood: SYN cookies $OKA/$NA ($(times "$IT_TMP/curla.txt")), --syncookies 0 $OKB/$NB ($(times "$IT_TMP/curlb.txt"))"
for n in syncookies_sent syncookies_validated syncookies_failed syn_queue_full; do
    it_log "figure: a tcp_$n=$(stat_of "$A" "$n") b tcp_$n=$(stat_of "$B" "$n")"
done

check "with SYN cookies every curl during the flood succeeded ($OKA of $NA, at least 3)" \
    test "$NA" -ge 3 -a "$OKA" -eq "$NA"
check "a sent SYN cookies (the queue was flooded)" test "$(stat_of "$A" syncookies_sent)" -gt 0
check "a validated SYN cookies (curl connected through them)" test "$(stat_of "$A" syncookies_validated)" -gt 0
check "no cookie failed: spoofed sources never answer" test "$(stat_of "$A" syncookies_failed)" -eq 0
check "control: without cookies the flood filled the queue (SYNs dropped)" test "$(stat_of "$B" syn_queue_full)" -gt 0
check "after the flood: curl to a" bash -c "ip netns exec $IT_NS curl -s -m 5 http://10.0.0.2:8080/ | grep -qx hello"
check "the half-open entries are bounded by the backlog (1024)" bash -c "
    n=\$($CTL --socket $A connections | grep -c SYN_RCVD); echo \"half-open: \$n\" >&2; [ \$n -le 1024 ]"
it_done
