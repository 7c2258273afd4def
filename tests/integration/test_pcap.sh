#!/usr/bin/env bash
# --pcap: every IP packet in both directions, read back with tcpdump; snap length,
# nanosecond timestamps, rotation by size, and a full disk that stops only the capture.
. "$(dirname "$0")/lib.sh"
it_init pcap
it_setup_tun
command -v tcpdump >/dev/null || { it_log "FAIL: tcpdump missing (scripts/bootstrap.sh installs it)"; exit 1; }
CAP=$IT_TMP/cap.pcap
it_daemon d --tun tun0 --addr 10.0.0.2 --tcp-echo 7 --no-socket --pcap "$CAP"
D=$IT_LASTPID
nsx ping -c 2 -i 0.2 -W 2 10.0.0.2 >/dev/null
printf 'hello\n' | timeout 10 ip netns exec "$IT_NS" nc -N 10.0.0.2 7 >"$IT_TMP/echo.out"
kill -TERM "$D"
wait "$D"
tcpdump -r "$CAP" -n -tt >"$IT_TMP/cap.txt" 2>"$IT_TMP/tcpdump.err"
check "tcpdump reads the file (LINKTYPE_RAW)" bash -c "cat $IT_TMP/tcpdump.err; grep -q 'link-type RAW' $IT_TMP/tcpdump.err && ! grep -qi 'truncated\|bad' $IT_TMP/tcpdump.err"
cat "$IT_TMP/cap.txt" >&2
check "two ICMP echo requests in" bash -c "[ \$(grep -c 'IP 10.0.0.1 > 10.0.0.2: ICMP echo request' $IT_TMP/cap.txt) = 2 ]"
check "two ICMP echo replies out" bash -c "[ \$(grep -c 'IP 10.0.0.2 > 10.0.0.1: ICMP echo reply' $IT_TMP/cap.txt) = 2 ]"
PORT=$(grep -oE 'IP 10\.0\.0\.1\.[0-9]+ > 10\.0\.0\.2\.7: Flags \[S\]' "$IT_TMP/cap.txt" | head -1 | sed -E 's/IP 10\.0\.0\.1\.([0-9]+) .*/\1/')
check "TCP handshake: SYN in, SYN-ACK out, ACK in (in that order)" bash -c "
    grep -nE 'Flags \[S\]|Flags \[S\.\]|Flags \[\.\]' $IT_TMP/cap.txt | head -3 | tr '\n' '|' |
    grep -qE 'IP 10\.0\.0\.1\.$PORT > 10\.0\.0\.2\.7: Flags \[S\],.*\|.*IP 10\.0\.0\.2\.7 > 10\.0\.0\.1\.$PORT: Flags \[S\.\],.*\|.*IP 10\.0\.0\.1\.$PORT > 10\.0\.0\.2\.7: Flags \[\.\], ack 1,'"
check "the 6 data bytes both ways and both FINs" bash -c "
    grep -qE '10\.0\.0\.1\.$PORT > 10\.0\.0\.2\.7: Flags \[P\.\], seq 1:7, ack 1,.*length 6' $IT_TMP/cap.txt &&
    grep -qE '10\.0\.0\.2\.7 > 10\.0\.0\.1\.$PORT: Flags \[P\.\], seq 1:7, ack 7?,.*length 6|10\.0\.0\.2\.7 > 10\.0\.0\.1\.$PORT: Flags \[P\.\], seq 1:7' $IT_TMP/cap.txt &&
    [ \$(grep -cE 'Flags \[F\.?\]|Flags \[FP?\.\]' $IT_TMP/cap.txt) -ge 2 ]"
check "file mode 0600" bash -c "[ \$(stat -c %a $CAP) = 600 ]"

# Snap length and nanoseconds.
it_daemon s --tun tun0 --addr 10.0.0.2 --no-socket --pcap "$IT_TMP/snap.pcap" --pcap-snaplen 60 --pcap-ns
nsx ping -c 1 -s 1000 -W 2 10.0.0.2 >/dev/null
kill -TERM "$IT_LASTPID"
wait "$IT_LASTPID"
check "--pcap-ns --pcap-snaplen 60: nanosecond magic, caplen 60 of 1028" python3 - "$IT_TMP/snap.pcap" <<'PY'
import struct, sys
b = open(sys.argv[1], "rb").read()
magic, vmaj, vmin, _, _, snap, link = struct.unpack("<IHHiIII", b[:24])
assert (magic, vmaj, vmin, snap, link) == (0xa1b23c4d, 2, 4, 60, 101), (hex(magic), snap, link)
off, recs = 24, []
while off < len(b):
    sec, frac, cap, orig = struct.unpack("<IIII", b[off:off + 16])
    recs.append((frac, cap, orig)); off += 16 + cap
assert off == len(b), "records end with the file"
assert [(c, o) for _, c, o in recs] == [(60, 1028), (60, 1028)], recs
assert all(f < 10**9 for f, _, _ in recs)
print("records", recs)
PY
check "tcpdump reads the nanosecond file" bash -c "tcpdump -r $IT_TMP/snap.pcap -n 2>/dev/null | grep -c 'ICMP echo' | grep -qx 2"

# Rotation by size: 4K files, about 100 packets of 228 bytes.
it_daemon r --tun tun0 --addr 10.0.0.2 --no-socket --pcap "$IT_TMP/rot.pcap" --pcap-max 4K
nsx ping -c 50 -i 0.01 -s 200 -W 2 10.0.0.2 >/dev/null
kill -TERM "$IT_LASTPID"
wait "$IT_LASTPID"
check "rotation: FILE and FILE.1, each at most 4K, both readable, the newest in FILE" bash -c "
    ls -l $IT_TMP/rot.pcap*; [ -f $IT_TMP/rot.pcap.1 ] &&
    [ \$(stat -c %s $IT_TMP/rot.pcap) -le 4096 ] && [ \$(stat -c %s $IT_TMP/rot.pcap.1) -le 4096 ] &&
    tcpdump -r $IT_TMP/rot.pcap.1 -n 2>/dev/null | grep -q 'ICMP echo' &&
    tcpdump -r $IT_TMP/rot.pcap -n 2>/dev/null | tail -1 | grep -q 'ICMP echo reply, id [0-9]*, seq 50,'"

# A full disk: a 64 KiB tmpfs in a mount namespace of the daemon's own.
it_bg f unshare --mount --propagation private sh -c "mkdir -p $IT_TMP/small &&
    mount -t tmpfs -o size=64k none $IT_TMP/small &&
    exec $IT_BUILD/minitcpd --tun tun0 --addr 10.0.0.2 --no-socket --pcap $IT_TMP/small/full.pcap"
F=$IT_LASTPID
wait_for "$IT_TMP/f.log" "^minitcpd: up" 10
nsx ping -c 100 -i 0.01 -s 1400 -W 2 10.0.0.2 >"$IT_TMP/ping_full.out"
check "disk full: one log line, capture stopped" bash -c "
    grep 'pcap' $IT_TMP/f.log; [ \$(grep -c 'minitcpd: pcap: write .*No space left on device; capture stopped' $IT_TMP/f.log) = 1 ] &&
    [ \$(grep -c pcap $IT_TMP/f.log) = 1 ]"
check "disk full: the stack went on (100 of 100 pings answered)" grep -q '100 packets transmitted, 100 received' "$IT_TMP/ping_full.out"
check "daemon still running" kill -0 "$F"
it_done
