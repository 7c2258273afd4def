/* Hand-crafted segments into one engine, after the handshake: data and sequence numbers,
 * the receive window, delayed ACKs, ISNs, the echo service, and the cases found by the
 * crafted-segment review (tests/integration/tcpprobe.py), with exact numbers. */
#include "tcp_state_fixture.h"

TestSuite(tcp_state, .init = setup, .fini = teardown);

/* ---- data ---- */

Test(tcp_state, data_outside_window_trimmed_never_acked)
{
    struct stack_config cfg;
    th_free(E);
    th_config(&cfg, TH_US);
    cfg.rcv_buf = 1000;
    E = th_new(&cfg, true);
    tcp_test_set_isn(E->st, ISS);
    int lh, h = passive_open(&lh);
    static uint8_t big[1500];
    memset(big, 7, sizeof big);
    seg(THF_ACK, PISN + 1, ISS + 1, big, 1460);
    expect(THF_ACK, ISS + 1, PISN + 1 + 1000, 0);
    cr_assert_eq(O.wnd, 0);
    cr_assert_eq(stack_tcp_recv_avail(E->st, h), 1000);
}

Test(tcp_state, wrap_around_both_directions)
{
    th_free(E);
    E = th_default();
    tcp_test_set_isn(E->st, 0xfffffff0u);
    int lh = stack_tcp_listen(E->st, LPORT, 8);
    uint32_t p = 0xffffff00u;
    seg(THF_SYN, p, 0, NULL, 0);
    expect(THF_SYN | THF_ACK, 0xfffffff0u, p + 1, 0);
    seg(THF_ACK, p + 1, 0xfffffff1u, NULL, 0);
    int h = stack_tcp_accept(E->st, lh);
    cr_assert_gt(h, 0);
    static uint8_t d[600];
    for (int i = 0; i < 600; i++)
        d[i] = (uint8_t)i;
    /* peer -> us: 2 x 300 bytes across 2^32 */
    seg(THF_ACK, p + 1, 0xfffffff1u, d, 300);
    seg(THF_ACK, p + 301, 0xfffffff1u, d + 300, 300);
    expect(THF_ACK, 0xfffffff1u, p + 601, 0);
    cr_assert_eq(p + 601, 0x159u);
    uint8_t buf[600];
    cr_assert_eq(stack_tcp_recv(E->st, h, buf, 600, 0), 600);
    cr_assert(memcmp(buf, d, 600) == 0);
    /* us -> peer */
    cr_assert_eq(stack_tcp_send(E->st, h, d, 100, 0), 100);
    expect(THF_ACK | THF_PSH, 0xfffffff1u, p + 601, 100);
    seg(THF_ACK, p + 601, 0x55u, NULL, 0);
    cr_assert_eq(info_of(h).snd_una, 0x55u);
    cr_assert_eq(stack_next_deadline(E->st), STACK_TIME_NEVER);
    /* out of order across the wrap as well */
    seg(THF_ACK, p + 701, 0x55u, d, 100);
    expect(THF_ACK, 0x55u, p + 601, 0);
    seg(THF_ACK, p + 601, 0x55u, d, 100);
    expect(THF_ACK, 0x55u, p + 801, 0);
}

Test(tcp_state, duplicate_segment_counted_and_reacked)
{
    int lh, h = passive_open(&lh);
    uint32_t r = PISN + 1;
    seg(THF_ACK, r, ISS + 1, "abcd", 4);
    seg(THF_ACK, r, ISS + 1, "abcd", 4);
    expect(THF_ACK, ISS + 1, r + 4, 0);
    cr_assert_eq(stats()->tcp_dup_segments, 1);
    cr_assert_eq(stack_tcp_recv_avail(E->st, h), 4);
}

Test(tcp_state, delayed_ack_fires_after_40ms)
{
    int lh, h = passive_open(&lh);
    (void)h;
    seg(THF_ACK, PISN + 1, ISS + 1, "abcd", 4);
    expect_none();
    cr_assert_eq(stack_next_deadline(E->st), 40);
    th_poll(E, 40);
    expect(THF_ACK, ISS + 1, PISN + 5, 0);
}

Test(tcp_state, connect_to_unanswered_then_close_frees)
{
    int h = active_open();
    cr_assert_eq(stack_tcp_close(E->st, h, 0), 0);
    cr_assert_eq(conns(), 0);
    cr_assert_eq(stack_next_deadline(E->st), STACK_TIME_NEVER);
    cr_assert_eq(stack_sock_error(E->st, h), -EBADF);
}

Test(tcp_state, isn_is_keyed_and_clocked)
{
    th_free(E);
    E = th_default();
    struct stack *st = E->st;
    int h1 = stack_tcp_connect(st, TH_PEER, 80, 1111, 0);
    cr_assert(th_pop(E, &O));
    uint32_t i1 = O.seq;
    int h2 = stack_tcp_connect(st, TH_PEER, 80, 1112, 0);
    cr_assert(th_pop(E, &O));
    uint32_t i2 = O.seq;
    cr_assert_neq(i1, i2, "different 4-tuples, different ISNs");
    stack_tcp_abort(st, h1, 0);
    stack_tcp_close(st, h2, 0);
    int h3 = stack_tcp_connect(st, TH_PEER, 80, 1111, 4);
    cr_assert(th_pop(E, &O));
    cr_assert_eq(O.seq, i1 + 1000, "M ticks every 4 us: 4 ms = 1000");
    (void)h3;
}

Test(tcp_state, siphash_reference_vector)
{
    /* SipHash-2-4 paper, appendix A: key 00..0f, message 00..0e */
    uint64_t key[2] = {0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
    uint8_t msg[15];
    for (int i = 0; i < 15; i++)
        msg[i] = (uint8_t)i;
    cr_assert_eq(siphash24(key, msg, 15), 0xa129ca6149be45e5ULL);
}

Test(tcp_state, echo_service_echoes_and_closes_remote_path)
{
    th_free(E);
    struct stack_config cfg;
    th_config(&cfg, TH_US);
    cfg.tcp_echo_port = 7;
    E = th_new(&cfg, true);
    tcp_test_set_isn(E->st, ISS);
    seg_full(THF_SYN, PISN, 0, NULL, 0, PPORT, 7);
    expect(THF_SYN | THF_ACK, ISS, PISN + 1, 0);
    seg_full(THF_ACK, PISN + 1, ISS + 1, NULL, 0, PPORT, 7);
    seg_full(THF_ACK | THF_PSH, PISN + 1, ISS + 1, "ping\n", 5, PPORT, 7);
    expect(THF_ACK | THF_PSH, ISS + 1, PISN + 6, 5);
    cr_assert(memcmp(O.data, "ping\n", 5) == 0);
    seg_full(THF_ACK | THF_FIN, PISN + 6, ISS + 6, NULL, 0, PPORT, 7);
    expect(THF_ACK, ISS + 6, PISN + 7, 0); /* the FIN is acknowledged, then we close */
    expect(THF_ACK | THF_FIN, ISS + 6, PISN + 7, 0);
    cr_assert(th_has_line(E, "[TCP ] state ESTABLISHED -> CLOSE_WAIT"));
    cr_assert(th_has_line(E, "[TCP ] state CLOSE_WAIT -> LAST_ACK"));
    seg_full(THF_ACK, PISN + 7, ISS + 7, NULL, 0, PPORT, 7);
    cr_assert(th_has_line(E, "[TCP ] state LAST_ACK -> CLOSED"));
    cr_assert_eq(conns(), 0);
}

/* ---- found by the crafted-segment review (tests/integration/tcpprobe.py) ---- */

Test(tcp_state, syn_with_fin_or_rst_dropped_counted_and_traced)
{
    stack_tcp_listen(E->st, LPORT, 8);
    seg(THF_SYN | THF_FIN, PISN, 0, NULL, 0); /* used to open a connection */
    expect_none();
    seg(THF_SYN | THF_RST, PISN, 0, NULL, 0);
    expect_none();
    cr_assert_eq(stats()->tcp_drop_bad_flags, 2);
    cr_assert_eq(th_count_lines(E, "[TCP ] drop len=20 reason=bad flags"), 2);
    cr_assert_eq(conns(), 0);
    cr_assert_eq(stats()->tcp_passive_opens, 0);
}

Test(tcp_state, header_drops_are_traced_with_their_reason)
{
    stack_tcp_listen(E->st, LPORT, 8);
    struct th_spec s = {
        .sport = PPORT, .dport = LPORT, .seq = PISN, .flags = THF_SYN, .wnd = WIN, .bad_doff = 4};
    th_seg(E, &s);
    cr_assert(th_has_line(E, "[TCP ] drop len=20 reason=bad data offset"));
    uint8_t len1[] = {1, 1, 8, 1};
    struct th_spec o = {.sport = PPORT,
                        .dport = LPORT,
                        .seq = PISN,
                        .flags = THF_SYN,
                        .wnd = WIN,
                        .opt = len1,
                        .optlen = 4};
    th_seg(E, &o);
    cr_assert(th_has_line(E, "[TCP ] drop len=24 reason=bad options"));
    uint8_t pkt[100];
    s.bad_doff = 0;
    size_t n = th_build(&s, pkt, sizeof pkt);
    pkt[n - 1] ^= 1;
    stack_input(E->st, pkt, n, 0);
    cr_assert(th_has_line(E, "[TCP ] drop len=20 reason=bad checksum"));
    expect_none();
}

Test(tcp_state, ack_older_than_max_window_dropped_rfc5961_5)
{
    int lh, h = passive_open(&lh); /* the peer's window (and MAX.SND.WND) is 65535 */
    uint32_t r = PISN + 1;
    /* blind injection: an ACK field below SND.UNA - MAX.SND.WND */
    seg(THF_ACK | THF_PSH, r, ISS + 1 - 65536, "evil", 4);
    expect(THF_ACK, ISS + 1, r, 0); /* a (challenge) ACK, the data not taken */
    expect_none();
    cr_assert_eq(stack_tcp_recv_avail(E->st, h), 0);
    cr_assert_eq(stats()->tcp_drop_old_ack, 1);
    cr_assert_eq(stats()->tcp_challenge_acks, 1);
    /* SND.UNA - MAX.SND.WND itself is acceptable (an old duplicate ACK) */
    seg(THF_ACK | THF_PSH, r, ISS + 1 - 65535, "good", 4);
    cr_assert_eq(stack_tcp_recv_avail(E->st, h), 4);
    cr_assert_eq(stats()->tcp_drop_old_ack, 1);
}

/* The SYN,ACK's window is capped at 65535 while a scaled window is 256 KiB: reading the
 * request used to "open" the window by ~190 KiB and send a pure ACK right before the
 * response. The response carries the ACK (and the window) instead. */
Test(tcp_state, request_response_no_window_update_before_the_reply)
{
    int lh = stack_tcp_listen(E->st, LPORT, 8);
    uint8_t opt[] = {2, 4, 0x05, 0xb4, 1, 3, 3, 7}; /* as curl: MSS 1460, wscale 7 */
    struct th_spec s = {.sport = PPORT,
                        .dport = LPORT,
                        .seq = PISN,
                        .flags = THF_SYN,
                        .wnd = 64240,
                        .opt = opt,
                        .optlen = 8};
    th_seg(E, &s);
    expect(THF_SYN | THF_ACK, ISS, PISN + 1, 0);
    cr_assert_eq(O.wnd, 65535);
    seg(THF_ACK, PISN + 1, ISS + 1, NULL, 0);
    int h = stack_tcp_accept(E->st, lh);
    cr_assert_gt(h, 0);
    static char req[77];
    memset(req, 'r', sizeof req);
    seg(THF_ACK | THF_PSH, PISN + 1, ISS + 1, req, sizeof req);
    expect_none(); /* delayed ACK */
    char buf[100];
    cr_assert_eq(stack_tcp_recv(E->st, h, buf, sizeof buf, E->now), 77);
    expect_none(); /* no window update of its own */
    cr_assert_eq(stack_tcp_send(E->st, h, "response", 8, E->now), 8);
    expect(THF_ACK | THF_PSH, ISS + 1, PISN + 1 + 77, 8);
    cr_assert_eq(O.wnd, 262144 >> 3, "the full window rides on the response");
    expect_none();
    /* the handshake's RTT sample is 0: the RTO is the 200 ms floor */
    cr_assert_eq(stack_next_deadline(E->st), E->now + 200, "only the RTO is left");
}

/* The window update that prevents a stall is still sent at once: the reader empties a
 * full buffer. */
Test(tcp_state, read_that_opens_a_closed_window_sends_an_update)
{
    struct stack_config cfg;
    th_free(E);
    th_config(&cfg, TH_US);
    cfg.rcv_buf = 4000;
    E = th_new(&cfg, true);
    tcp_test_set_isn(E->st, ISS);
    int lh, h = passive_open(&lh);
    static uint8_t d[4000];
    seg(THF_ACK, PISN + 1, ISS + 1, d, 1460);
    seg(THF_ACK, PISN + 1461, ISS + 1, d, 1460);
    expect(THF_ACK, ISS + 1, PISN + 2921, 0);
    seg(THF_ACK, PISN + 2921, ISS + 1, d, 1080);
    expect_none();
    th_poll(E, E->now + 40);
    expect(THF_ACK, ISS + 1, PISN + 4001, 0);
    cr_assert_eq(O.wnd, 0);
    static uint8_t buf[4000];
    cr_assert_eq(stack_tcp_recv(E->st, h, buf, 1000, E->now), 1000);
    expect_none(); /* 1000 < min(2 MSS, buffer/2) = 2000: not yet */
    cr_assert_eq(stack_tcp_recv(E->st, h, buf, 1000, E->now), 1000);
    expect(THF_ACK, ISS + 1, PISN + 4001, 0);
    cr_assert_eq(O.wnd, 2000);
    cr_assert_eq(stack_tcp_recv(E->st, h, buf, 2000, E->now), 2000);
    expect(THF_ACK, ISS + 1, PISN + 4001, 0);
    cr_assert_eq(O.wnd, 4000);
}

/* RFC 9293 §3.10.7.4: "If the RCV.WND is zero, no segments will be acceptable, but special
 * allowance should be made to accept valid ACKs, URGs, and RSTs." The peer's window probe
 * (one byte at RCV.NXT) carries the ACK of our data: it must be taken. */
Test(tcp_state, zero_receive_window_still_takes_the_ack_of_a_probe)
{
    struct stack_config cfg;
    th_free(E);
    th_config(&cfg, TH_US);
    cfg.rcv_buf = 1000;
    E = th_new(&cfg, true);
    tcp_test_set_isn(E->st, ISS);
    int lh, h = passive_open(&lh);
    cr_assert_eq(stack_tcp_send(E->st, h, "hello", 5, E->now), 5);
    expect(THF_ACK | THF_PSH, ISS + 1, PISN + 1, 5);
    static uint8_t big[1460];
    seg(THF_ACK, PISN + 1, ISS + 1, big, 1460);
    expect(THF_ACK, ISS + 1 + 5, PISN + 1 + 1000, 0);
    cr_assert_eq(O.wnd, 0);
    /* the peer probes our closed window; the probe acknowledges "hello" */
    seg(THF_ACK, PISN + 1001, ISS + 6, "z", 1);
    expect(THF_ACK, ISS + 6, PISN + 1001, 0); /* the byte is not taken */
    expect_none();
    cr_assert_eq(info_of(h).snd_una, ISS + 6, "the ACK was processed");
    cr_assert_eq(stack_next_deadline(E->st), STACK_TIME_NEVER, "nothing left to retransmit");
    cr_assert_eq(stack_tcp_recv_avail(E->st, h), 1000);
    /* an exact RST at RCV.NXT is honoured too, even with data */
    seg(THF_RST, PISN + 1001, 0, "z", 1);
    cr_assert_eq(state_of(h), TCP_CLOSED);
    cr_assert_eq(stack_sock_error(E->st, h), ECONNRESET);
    expect_none();
}

/* A bare FIN at RCV.NXT takes no buffer: with our window shut it is accepted, and the
 * EOF reaches the user at once (before: refused until the peer retransmitted it). */
Test(tcp_state, fin_into_a_zero_receive_window_is_taken_at_once)
{
    struct stack_config cfg;
    th_free(E);
    th_config(&cfg, TH_US);
    cfg.rcv_buf = 1000;
    E = th_new(&cfg, true);
    tcp_test_set_isn(E->st, ISS);
    int lh, h = passive_open(&lh);
    static uint8_t big[1460];
    seg(THF_ACK, PISN + 1, ISS + 1, big, 1460);
    expect(THF_ACK, ISS + 1, PISN + 1001, 0);
    cr_assert_eq(O.wnd, 0);
    /* a FIN with data does not fit: neither is taken */
    seg(THF_ACK | THF_FIN, PISN + 1001, ISS + 1, "x", 1);
    expect(THF_ACK, ISS + 1, PISN + 1001, 0);
    cr_assert_eq(state_of(h), TCP_ESTABLISHED);
    seg(THF_ACK | THF_FIN, PISN + 1001, ISS + 1, NULL, 0);
    expect(THF_ACK, ISS + 1, PISN + 1002, 0);
    cr_assert_eq(state_of(h), TCP_CLOSE_WAIT);
    cr_assert_eq(th_count_events(E, h, SEV_PEER_FIN), 1);
    static uint8_t buf[2000];
    cr_assert_eq(stack_tcp_recv(E->st, h, buf, sizeof buf, E->now), 1000);
    cr_assert_eq(stack_tcp_recv(E->st, h, buf, sizeof buf, E->now), 0, "EOF");
}

/* No loopback in the stack: 127/8 is unreachable (Linux without a loopback route:
 * ENETUNREACH); our own address is refused at once when nothing listens (Linux:
 * ECONNREFUSED) and unreachable when something does. Nothing is sent. */
Test(tcp_state, connect_to_loopback_or_own_address_fails_at_once)
{
    cr_assert_eq(stack_tcp_connect(E->st, TH_ADDR(127, 0, 0, 1), 80, 0, 0), -ENETUNREACH);
    cr_assert_eq(stack_tcp_connect(E->st, TH_ADDR(127, 9, 8, 7), 80, 0, 0), -ENETUNREACH);
    cr_assert_eq(stack_tcp_connect(E->st, TH_US, 80, 0, 0), -ECONNREFUSED);
    cr_assert_gt(stack_tcp_listen(E->st, 80, 4), 0);
    cr_assert_eq(stack_tcp_connect(E->st, TH_US, 80, 0, 0), -ENETUNREACH);
    expect_none();
    cr_assert_eq(conns(), 0);
    cr_assert_eq(stats()->tcp_active_opens, 0);
}

/* RFC 6298 §5.7: after a SYN timed out, the RTO is re-initialized to 3 s when data
 * transmission begins (there is no RTT sample: Karn). */
Test(tcp_state, rto_is_3s_after_a_retransmitted_syn_rfc6298_5_7)
{
    int h = active_open();
    th_poll(E, 1000);
    expect(THF_SYN, ISS, 0, 0); /* retransmitted, RTO now 2 s */
    E->now = 1500;
    struct th_spec s = {.sport = LPORT,
                        .dport = PPORT,
                        .seq = PISN,
                        .ack = ISS + 1,
                        .flags = THF_SYN | THF_ACK,
                        .wnd = WIN};
    th_seg(E, &s);
    expect(THF_ACK, ISS + 1, PISN + 1, 0);
    cr_assert_eq(info_of(h).rto_ms, 3000);
    cr_assert_eq(info_of(h).srtt_ms, 0, "no sample from a retransmitted SYN");
    cr_assert_eq(stack_tcp_send(E->st, h, "x", 1, 1500), 1);
    expect(THF_ACK | THF_PSH, ISS + 1, PISN + 1, 1);
    cr_assert_eq(stack_next_deadline(E->st), 1500 + 3000);
}

Test(tcp_state, rto_is_3s_after_a_retransmitted_syn_ack)
{
    int lh = stack_tcp_listen(E->st, LPORT, 8);
    seg(THF_SYN, PISN, 0, NULL, 0);
    expect(THF_SYN | THF_ACK, ISS, PISN + 1, 0);
    th_poll(E, 1000);
    expect(THF_SYN | THF_ACK, ISS, PISN + 1, 0);
    E->now = 1200;
    seg(THF_ACK, PISN + 1, ISS + 1, NULL, 0);
    int h = stack_tcp_accept(E->st, lh);
    cr_assert_gt(h, 0);
    cr_assert_eq(info_of(h).rto_ms, 3000);
}

Test(tcp_state, land_syn_from_our_own_address_dropped)
{
    stack_tcp_listen(E->st, LPORT, 8);
    struct th_spec s = {
        .src = TH_US, .sport = LPORT, .dport = LPORT, .seq = PISN, .flags = THF_SYN, .wnd = WIN};
    th_seg(E, &s);
    expect_none();
    cr_assert_eq(stats()->ip_drop_bad_src, 1);
    cr_assert_eq(stats()->tcp_rx_segments, 0);
    cr_assert(th_has_line(E, "[IP  ] drop reason=bad source"));
}

/* A batch (the daemon opens one per read of client requests): the response and the close
 * behind it leave as one segment carrying the data and the FIN. */
Test(tcp_state, batch_sends_data_and_fin_in_one_segment)
{
    int lh, h = passive_open(&lh);
    uint32_t r = PISN + 1;
    stack_batch_begin(E->st);
    cr_assert_eq(stack_tcp_send(E->st, h, "hello\n", 6, E->now), 6);
    cr_assert_eq(stack_tcp_send(E->st, h, "world\n", 6, E->now), 6);
    cr_assert_eq(stack_tcp_close(E->st, h, E->now), 0);
    expect_none(); /* nothing leaves before the batch ends */
    stack_batch_end(E->st, E->now);
    expect(THF_ACK | THF_PSH | THF_FIN, ISS + 1, r, 12);
    cr_assert(memcmp(O.data, "hello\nworld\n", 12) == 0);
    expect_none();
    seg(THF_ACK | THF_FIN, r, ISS + 14, NULL, 0);
    expect(THF_ACK, ISS + 14, r + 1, 0);
    cr_assert(th_has_line(E, "[TCP ] state FIN_WAIT_1 -> TIME_WAIT"));
}

/* A connection aborted inside a batch leaves the deferred list (no use after free). */
Test(tcp_state, batch_with_abort_inside)
{
    int lh, h = passive_open(&lh);
    stack_batch_begin(E->st);
    cr_assert_eq(stack_tcp_send(E->st, h, "x", 1, E->now), 1);
    cr_assert_eq(stack_tcp_abort(E->st, h, E->now), 0);
    stack_batch_end(E->st, E->now);
    cr_assert(th_pop(E, &O));
    cr_assert(O.flags & THF_RST, "only the RST leaves");
    expect_none();
    cr_assert_eq(conns(), 0, "the aborted connection is gone");
}
