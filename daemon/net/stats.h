/* Every counter of the stack, in one place. minitcpctl prints them by name, so the
 * list is an X-macro: X(layer, name, description). Add a counter by adding a line. */
#ifndef MINITCP_STATS_H
#define MINITCP_STATS_H

#include <stdint.h>

#define STACK_STATS(X)                                                                  \
    X(ip, rx_packets, "IPv4 packets read from the TUN device")                          \
    X(ip, tx_packets, "IPv4 packets written to the TUN device")                         \
    X(ip, tx_errors, "packets the TUN device refused (queue full or error)")            \
    X(ip, drop_short, "dropped: shorter than an IPv4 header")                           \
    X(ip, drop_version, "dropped: IP version is not 4")                                 \
    X(ip, drop_ihl, "dropped: IHL below 5 or header longer than the packet")            \
    X(ip, drop_total_len, "dropped: total length larger than the bytes read or < IHL")  \
    X(ip, drop_checksum, "dropped: bad IPv4 header checksum")                           \
    X(ip, drop_not_for_us, "dropped: destination is not our address")                   \
    X(ip, drop_fragment, "dropped: fragments refused (any frag_ reason)")               \
    X(ip, drop_bad_src, "dropped: source is broadcast, multicast or zero")              \
    X(ip, drop_proto, "dropped: unsupported protocol")                                  \
    X(ip, trailing_bytes, "packets with bytes past the IPv4 total length (trimmed)")    \
    X(frag, rx, "IPv4 fragments received for us")                                       \
    X(frag, reassembled, "datagrams reassembled from fragments")                        \
    X(frag, timeouts, "datagrams incomplete at the timeout (discarded)")                \
    X(frag, time_exceeded_sent, "ICMP time exceeded (reassembly) sent")                 \
    X(frag, overlaps, "datagrams discarded: overlapping fragments (RFC 5722)")          \
    X(frag, discarded, "fragments of a datagram discarded earlier, dropped")            \
    X(frag, dups, "exact duplicate fragments ignored")                                  \
    X(frag, tiny, "dropped: first fragment cuts the L4 header (RFC 1858)")              \
    X(frag, too_big, "dropped: fragment or datagram past 65535 bytes")                  \
    X(frag, bad, "dropped: empty, not 8-byte multiple, bad end, too many")              \
    X(frag, mem_drops, "dropped: reassembly memory bound (total or per source)")        \
    X(frag, mem, "now: bytes held by reassembly")                                       \
    X(frag, queues, "now: datagrams being reassembled")                                 \
    X(frag, tx_datagrams, "datagrams sent in fragments")                                \
    X(frag, tx_fragments, "fragments sent")                                             \
    X(frag, tx_df_drops, "not sent: larger than the MTU, may not fragment")             \
    X(icmp, rx, "ICMP messages received")                                               \
    X(icmp, drop_short, "dropped: ICMP message shorter than 8 bytes")                   \
    X(icmp, drop_checksum, "dropped: bad ICMP checksum")                                \
    X(icmp, echo_requests, "echo requests received")                                    \
    X(icmp, echo_replies_sent, "echo replies sent")                                     \
    X(icmp, other_types, "ICMP messages of other types, ignored")                       \
    X(icmp, frag_needed_rx, "fragmentation needed received (RFC 1191)")                 \
    X(icmp, unreach_sent, "destination unreachable messages sent")                      \
    X(icmp, unreach_ratelimited, "ICMP errors suppressed by the limit")                 \
    X(udp, rx, "UDP datagrams received")                                                \
    X(udp, tx, "UDP datagrams sent")                                                    \
    X(udp, drop_short, "dropped: shorter than a UDP header")                            \
    X(udp, drop_length, "dropped: UDP length field inconsistent with IP length")        \
    X(udp, drop_checksum, "dropped: bad UDP checksum")                                  \
    X(udp, no_port, "datagrams to a port with no socket or service")                    \
    X(udp, drop_rcvbuf, "dropped: socket receive queue full")                           \
    X(udp, echoed, "datagrams sent back by the echo service")                           \
    X(ip6, rx_packets, "IPv6 packets read (with --addr6)")                              \
    X(ip6, tx_packets, "IPv6 packets written")                                          \
    X(ip6, drop_short, "dropped: shorter than an IPv6 header")                          \
    X(ip6, drop_payload_len, "dropped: payload length 0 or past the bytes read")        \
    X(ip6, trailing_bytes, "packets with bytes past the payload length (trimmed)")      \
    X(ip6, drop_not_for_us, "dropped: destination neither our address nor multicast")   \
    X(ip6, drop_bad_src, "dropped: multicast, loopback or our own source")              \
    X(ip6, drop_ext_chain, "dropped: extension headers past the packet or > 8")         \
    X(ip6, drop_fragment, "dropped: fragments refused (any frag_ reason)")              \
    X(ip6, drop_option, "dropped: unknown option of action 01 (RFC 8200 4.2)")          \
    X(ip6, no_next_header, "packets ending with next header 59 (nothing to do)")        \
    X(ip6, param_problems, "dropped with a parameter problem (RFC 8200 4)")             \
    X(ip6, drop_proto, "dropped: upper layer not handled over IPv6 (code 1)")           \
    X(icmp6, rx, "ICMPv6 messages received")                                            \
    X(icmp6, drop_short, "dropped: ICMPv6 message shorter than 8 bytes")                \
    X(icmp6, drop_checksum, "dropped: bad ICMPv6 checksum")                             \
    X(icmp6, echo_requests, "ICMPv6 echo requests received")                            \
    X(icmp6, echo_replies_sent, "ICMPv6 echo replies sent")                             \
    X(icmp6, nd_ignored, "router/neighbour discovery messages ignored")                 \
    X(icmp6, mld_ignored, "MLD queries and reports ignored")                            \
    X(icmp6, errors_rx, "ICMPv6 errors received")                                       \
    X(icmp6, packet_too_big_rx, "packet too big received (RFC 8201)")                   \
    X(icmp6, other_types, "ICMPv6 messages of other types, ignored")                    \
    X(icmp6, errors_sent, "ICMPv6 errors sent")                                         \
    X(icmp6, ratelimited, "ICMPv6 errors suppressed by the limit")                      \
    X(tcp, rx_segments, "TCP segments received")                                        \
    X(tcp, tx_segments, "TCP segments sent")                                            \
    X(tcp, drop_short, "dropped: shorter than a TCP header or data offset")             \
    X(tcp, drop_checksum, "dropped: bad TCP checksum")                                  \
    X(tcp, drop_bad_options, "dropped: malformed TCP options")                          \
    X(tcp, drop_bad_flags, "dropped: SYN together with FIN or RST")                     \
    X(tcp, drop_old_ack, "dropped: ACK below SND.UNA - MAX.SND.WND (RFC 5961)")         \
    X(tcp, drop_ack_unsent, "ignored: ACK of data never sent (ACK sent)")               \
    X(tcp, drop_unacceptable, "segments failing the acceptability test (ACK sent)")     \
    X(tcp, drop_no_conn, "segments for no connection (RST sent unless RST)")            \
    X(tcp, rst_sent, "RST segments sent")                                               \
    X(tcp, rst_received, "RST segments received")                                       \
    X(tcp, rst_ignored, "RST segments ignored (out of window)")                         \
    X(tcp, challenge_acks, "RFC 5961 challenge ACKs sent")                              \
    X(tcp, challenge_ratelimited, "challenge ACKs over 1 per 500 ms per connection")    \
    X(tcp, challenge_global_limited, "challenge ACKs over the global limit")            \
    X(tcp, oow_ack_ratelimited, "ACKs to out-of-window segments over 1 per 500 ms")     \
    X(tcp, syn_queue_full, "SYNs dropped because the listen queue was full")            \
    X(tcp, listen_overflow, "handshake-completing ACKs dropped: accept queue full")     \
    X(tcp, syncookies_sent, "SYN-ACKs carrying a SYN cookie (SYN queue full)")          \
    X(tcp, syncookies_validated, "ACKs with a valid SYN cookie (connection created)")   \
    X(tcp, syncookies_failed, "ACKs with an invalid or expired SYN cookie (RST sent)")  \
    X(tcp, conn_limit, "SYNs or connects refused by the connection limit")              \
    X(tcp, active_opens, "connections opened by connect")                               \
    X(tcp, passive_opens, "connections opened by a listener")                           \
    X(tcp, established, "connections that reached ESTABLISHED")                         \
    X(tcp, resets, "connections aborted by RST")                                        \
    X(tcp, timeouts, "connections aborted after too many retransmissions")              \
    X(tcp, retransmits, "segments retransmitted on timeout")                            \
    X(tcp, fast_retransmits, "segments retransmitted on three duplicate ACKs")          \
    X(tcp, dup_acks_rx, "duplicate ACKs received")                                      \
    X(tcp, partial_acks, "NewReno partial ACKs (each resends the next hole)")           \
    X(tcp, recoveries, "fast recoveries ended by a full ACK")                           \
    X(tcp, fast_retransmit_held, "3 dup ACKs not beyond the recovery point: no resend") \
    X(tcp, ooo_segments, "out-of-order segments stored")                                \
    X(tcp, ooo_dropped, "out-of-order segments dropped (store full)")                   \
    X(tcp, dup_segments, "segments with only already-received data")                    \
    X(tcp, window_probes, "zero-window probes sent")                                    \
    /* issue 11: filled by SACK/RACK-TLP (B), TS/F-RTO/keepalive (A) */                 \
    X(tcp, sack_recoveries, "SACK-based loss recoveries begun (RFC 6675)")              \
    X(tcp, rack_detections, "segments marked lost by RACK (RFC 8985)")                  \
    X(tcp, tlps, "tail loss probes sent (RFC 8985 section 7)")                          \
    X(tcp, tlp_recoveries, "tail losses repaired by a probe, no RTO")                   \
    X(tcp, spurious_rtos_undone, "spurious timeouts (F-RTO/Eifel): cwnd restored")      \
    X(tcp, spurious_frs_undone, "spurious fast retransmits (D-SACK/TS): undone")        \
    X(tcp, sack_blocks_rcvd, "SACK blocks received and applied")                        \
    X(tcp, sack_blocks_bogus, "SACK blocks ignored: outside SND.UNA..SND.NXT")          \
    X(tcp, dsacks_received, "D-SACK blocks received (RFC 2883)")                        \
    X(tcp, reneging_seen, "SACKed data the peer later discarded")                       \
    X(tcp, scoreboard_full, "segments not tracked: scoreboard bound reached")           \
    X(tcp, ts_opt_bad, "timestamp options ignored: bad length or not agreed")           \
    X(tcp, ts_ecr_future, "timestamp echoes from the future ignored")                   \
    X(tcp, paws_drops, "segments dropped by PAWS (RFC 7323 section 5)")                 \
    X(tcp, ts_missing, "segments dropped: timestamps agreed, no TSopt (RFC 7323 3.2)")  \
    X(tcp, ts_rtt_skipped, "no RTT sample: the ACK echoes a time before the last RTO")  \
    X(tcp, keepalive_probes, "keepalive probes sent (RFC 1122 4.2.3.6)")                \
    X(tcp, keepalive_drops, "connections aborted: keepalives unanswered")               \
    X(tcp, user_timeouts, "connections aborted by the user timeout (RFC 5482)")         \
    X(tcp, fin_wait_2, "now: connections in FIN_WAIT_2")                                \
    X(tcp, orphans, "now: connections closed by their user, not finished")              \
    X(tcp, orphan_overflow, "orphans reset at close: over --max-orphans")               \
    X(tcp, orphan_timeouts, "orphans aborted after --orphan-retries")                   \
    X(tcp, time_wait_reused, "TIME_WAIT connections replaced by a new SYN")             \
    X(tcp, time_wait_evicted, "TIME_WAIT connections evicted by the limit")             \
    X(tcp, sack_malformed, "SACK options of a bad length (ignored)")                    \
    X(tcp, dsack_sent, "D-SACK blocks sent for duplicate segments (RFC 2883)")          \
    X(tcp, hystart_css, "HyStart++: RTT rose, conservative slow start entered")         \
    X(tcp, hystart_exits, "HyStart++: slow start ended after the CSS rounds")           \
    X(tcp, burst_held, "sends stopped at the 64-segment burst bound")                   \
    X(tcp, small_held, "sends of a short segment held (Nagle, sender SWS avoidance)")   \
    X(tcp, pmtu_lowered, "MSS lowered by ICMP fragmentation needed (RFC 1191)")         \
    X(tcp, pmtu_bogus, "frag-needed ignored: no connection or seq not in flight")       \
    X(tcp, pmtu_not_lower, "frag-needed ignored: the MSS already fits that MTU")        \
    X(tcp, pmtu_floor, "frag-needed MTU below 552, raised to it")                       \
    X(gso, rx_packets, "GSO super-packets read (TUN offload)")                          \
    X(gso, rx_segments, "segments they carried (by their GSO size)")                    \
    X(gso, tx_packets, "super-packets written for the kernel to cut (TSO)")             \
    X(gso, tx_segments, "segments they carried")                                        \
    X(gso, tx_refused, "super-packets the device refused (cut here)")                   \
    X(vnet, csum_completed, "partial checksums read, finished in software")             \
    X(vnet, drop_short, "dropped: read shorter than virtio-net header + 1")             \
    X(vnet, drop_too_big, "dropped: packet larger than the read buffer")                \
    X(vnet, drop_flags, "dropped: unknown or conflicting header flags")                 \
    X(vnet, drop_gso_type, "dropped: GSO type unknown or not the packet's")             \
    X(vnet, drop_gso_size, "dropped: GSO size 0 or past a datagram")                    \
    X(vnet, drop_csum_range, "dropped: checksum start/offset outside")                  \
    X(mem, used, "bytes of socket buffers held now (TCP rings, UDP queues)")            \
    X(mem, max, "the bound on mem_used (--mem-max)")                                    \
    X(mem, peak, "the most mem_used has been")                                          \
    X(mem, pressure, "1 while under memory pressure (buffers not grown)")               \
    X(mem, pressure_events, "times memory pressure began")                              \
    X(mem, refusals, "buffer allocations refused (bound or pressure)")                  \
    X(mem, rcv_dropped, "in-window segments not stored for memory (not ACKed)")         \
    X(mem, send_waits, "sends refused for memory, woken when it is free")               \
    X(mem, rings_freed, "empty buffers freed (idle, or at once under pressure)")        \
    X(mem, trims, "times freed heap memory was handed back (malloc_trim)")

struct stack_stats {
#define X(layer, name, desc) uint64_t layer##_##name;
    STACK_STATS(X)
#undef X
};

#endif
