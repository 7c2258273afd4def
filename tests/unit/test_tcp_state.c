/* Hand-crafted segments into one engine: every arrow of docs/state_machine.md, the
 * RFC 9293 §3.10.7 checks and RFC 5961 challenge ACKs, with exact numbers. Data, windows
 * and the crafted-segment review are in test_tcp_data.c. */
#include "tcp_state_fixture.h"

TestSuite(tcp_state, .init = setup, .fini = teardown);

/* ---- the headline test ---- */

Test(tcp_state, ooo_cab_then_remote_close)
{
    int lh, h = passive_open(&lh);
    uint32_t r = PISN + 1;
    char a[100], b[100], c[100];
    memset(a, 'A', 100);
    memset(b, 'B', 100);
    memset(c, 'C', 100);
    seg(THF_ACK, r + 200, ISS + 1, c, 100); /* C: out of order */
    expect(THF_ACK, ISS + 1, r, 0);         /* duplicate ACK at once */
    seg(THF_ACK, r, ISS + 1, a, 100);       /* A: in order, a gap remains */
    expect(THF_ACK, ISS + 1, r + 100, 0);
    cr_assert_eq(stack_tcp_recv_avail(E->st, h), 100);
    seg(THF_ACK, r + 100, ISS + 1, b, 100); /* B fills the gap: C spliced */
    expect(THF_ACK, ISS + 1, r + 300, 0);   /* cumulative */
    expect_none();
    char buf[400];
    cr_assert_eq(stack_tcp_recv(E->st, h, buf, sizeof buf, E->now), 300);
    cr_assert(memcmp(buf, a, 100) == 0 && memcmp(buf + 100, b, 100) == 0 &&
              memcmp(buf + 200, c, 100) == 0);
    cr_assert_eq(stats()->tcp_ooo_segments, 1);
    /* remote close */
    seg(THF_ACK | THF_FIN, r + 300, ISS + 1, NULL, 0);
    expect(THF_ACK, ISS + 1, r + 301, 0);
    cr_assert_eq(state_of(h), TCP_CLOSE_WAIT);
    cr_assert_eq(th_count_events(E, h, SEV_PEER_FIN), 1);
    cr_assert_eq(stack_tcp_recv(E->st, h, buf, sizeof buf, E->now), 0);
    cr_assert_eq(stack_tcp_close(E->st, h, E->now), 0);
    expect(THF_ACK | THF_FIN, ISS + 1, r + 301, 0);
    cr_assert(th_has_line(E, "[TCP ] state CLOSE_WAIT -> LAST_ACK"));
    seg(THF_ACK, r + 301, ISS + 2, NULL, 0);
    cr_assert(th_has_line(E, "[TCP ] state LAST_ACK -> CLOSED"));
    cr_assert_eq(conns(), 0);
    expect_none();
}

Test(tcp_state, trace_format_of_the_handshake)
{
    int lh = stack_tcp_listen(E->st, LPORT, 8);
    cr_assert_gt(lh, 0);
    struct th_spec s = {
        .sport = PPORT, .dport = LPORT, .seq = 1842910416, .flags = THF_SYN, .wnd = 64240};
    th_seg(E, &s);
    cr_assert(th_has_line(E, "[TCP ] recv SYN seq=1842910416 ack=0 win=64240 len=0 state=LISTEN"));
    cr_assert(th_has_line(E, "[TCP ] state LISTEN -> SYN_RCVD"));
    cr_assert(th_has_line(E, "[TCP ] send SYN,ACK seq=1000 ack=1842910417 win=65535 len=0"));
}

/* ---- opening ---- */

Test(tcp_state, active_open_and_window_scale_negotiated)
{
    int h = active_open();
    uint8_t opt[] = {2, 4, 0x05, 0xb4, 1, 3, 3, 7}; /* MSS 1460, wscale 7 */
    struct th_spec s = {.sport = LPORT,
                        .dport = PPORT,
                        .seq = PISN,
                        .ack = ISS + 1,
                        .flags = THF_SYN | THF_ACK,
                        .wnd = 1000,
                        .opt = opt,
                        .optlen = 8};
    th_seg(E, &s);
    expect(THF_ACK, ISS + 1, PISN + 1, 0);
    cr_assert_eq(O.wnd, 262144 >> 3, "256 KiB >> 3");
    cr_assert_eq(state_of(h), TCP_ESTABLISHED);
    cr_assert_eq(th_count_events(E, h, SEV_CONNECTED), 1);
    /* the peer's later windows are scaled by 7 */
    seg_a(THF_ACK, PISN + 1, ISS + 1, NULL, 0);
    cr_assert_eq(info_of(h).snd_wnd, 65535u << 7);
}

Test(tcp_state, simultaneous_open)
{
    int h = active_open();
    seg_a(THF_SYN, PISN, 0, NULL, 0); /* the peer's SYN crosses ours */
    cr_assert_eq(state_of(h), TCP_SYN_RCVD);
    expect(THF_SYN | THF_ACK, ISS, PISN + 1, 0);
    cr_assert(th_has_line(E, "[TCP ] state SYN_SENT -> SYN_RCVD"));
    seg_a(THF_SYN | THF_ACK, PISN, ISS + 1, NULL, 0); /* its SYN,ACK */
    cr_assert_eq(state_of(h), TCP_ESTABLISHED);
    expect(THF_ACK, ISS + 1, PISN + 1, 0);
    cr_assert_eq(th_count_events(E, h, SEV_CONNECTED), 1);
}

Test(tcp_state, simultaneous_open_completed_by_plain_ack)
{
    int h = active_open();
    seg_a(THF_SYN, PISN, 0, NULL, 0);
    expect(THF_SYN | THF_ACK, ISS, PISN + 1, 0);
    seg_a(THF_ACK, PISN + 1, ISS + 1, NULL, 0);
    cr_assert_eq(state_of(h), TCP_ESTABLISHED);
    expect_none();
}

Test(tcp_state, ack_in_syn_sent_not_acking_our_syn_gets_rst)
{
    int h = active_open();
    seg_a(THF_ACK, PISN, ISS + 77, NULL, 0);
    expect(THF_RST, ISS + 77, 0, 0);
    seg_a(THF_ACK, PISN, ISS, NULL, 0); /* acks nothing (ack = ISS) */
    expect(THF_RST, ISS, 0, 0);
    cr_assert_eq(state_of(h), TCP_SYN_SENT);
}

Test(tcp_state, rst_in_syn_sent_refuses)
{
    int h = active_open();
    seg_a(THF_RST, PISN, 0, NULL, 0); /* no ACK: ignored */
    cr_assert_eq(state_of(h), TCP_SYN_SENT);
    seg_a(THF_RST | THF_ACK, 0, ISS + 1, NULL, 0);
    cr_assert_eq(state_of(h), TCP_CLOSED);
    cr_assert_eq(stack_sock_error(E->st, h), ECONNREFUSED);
    cr_assert_eq(th_count_events(E, h, SEV_ERROR), 1);
    char b[4];
    cr_assert_eq(stack_tcp_recv(E->st, h, b, 4, 0), -ECONNREFUSED);
    expect_none();
}

Test(tcp_state, duplicate_syn_in_syn_rcvd_gets_syn_ack_again)
{
    int lh = stack_tcp_listen(E->st, LPORT, 8);
    cr_assert_gt(lh, 0);
    seg(THF_SYN, PISN, 0, NULL, 0);
    expect(THF_SYN | THF_ACK, ISS, PISN + 1, 0);
    seg(THF_SYN, PISN, 0, NULL, 0);
    expect(THF_SYN | THF_ACK, ISS, PISN + 1, 0);
    cr_assert_eq(stats()->tcp_rst_sent, 0);
    cr_assert_eq(conns(), 1);
}

Test(tcp_state, rst_in_syn_rcvd_frees_the_child_listener_stays)
{
    int lh = stack_tcp_listen(E->st, LPORT, 8);
    seg(THF_SYN, PISN, 0, NULL, 0);
    expect(THF_SYN | THF_ACK, ISS, PISN + 1, 0);
    seg(THF_RST, PISN + 1, 0, NULL, 0);
    cr_assert_eq(conns(), 0);
    cr_assert_eq(state_of(lh), TCP_LISTEN);
    cr_assert_eq(stack_tcp_accept(E->st, lh), -EAGAIN);
    expect_none();
}

Test(tcp_state, bad_ack_in_syn_rcvd_gets_rst)
{
    stack_tcp_listen(E->st, LPORT, 8);
    seg(THF_SYN, PISN, 0, NULL, 0);
    expect(THF_SYN | THF_ACK, ISS, PISN + 1, 0);
    seg(THF_ACK, PISN + 1, ISS + 500, NULL, 0);
    expect(THF_RST, ISS + 500, 0, 0);
    cr_assert_eq(conns(), 1);
}

Test(tcp_state, syn_to_closed_port_gets_rst_ack)
{
    seg(THF_SYN, PISN, 0, NULL, 0);
    expect(THF_RST | THF_ACK, 0, PISN + 1, 0);
    cr_assert(th_has_line(E, "[TCP ] send RST,ACK seq=0 ack=5000001 win=0 len=0"));
    cr_assert_eq(stats()->tcp_drop_no_conn, 1);
}

Test(tcp_state, ack_to_no_connection_gets_rst_seq_ack)
{
    seg(THF_ACK, PISN, 777777, "xy", 2);
    expect(THF_RST, 777777, 0, 0);
    seg(THF_RST, PISN, 0, NULL, 0); /* never an RST for an RST */
    expect_none();
    seg(THF_FIN, PISN, 0, "abc", 3); /* no ACK bit: ack = seq + len (+FIN) */
    expect(THF_RST | THF_ACK, 0, PISN + 4, 0);
}

Test(tcp_state, syn_queue_full_drops_silently)
{
    int lh = stack_tcp_listen(E->st, LPORT, 2);
    cr_assert_gt(lh, 0);
    for (int i = 0; i < 3; i++)
        seg_full(THF_SYN, PISN, 0, NULL, 0, (uint16_t)(PPORT + i), LPORT);
    expect(THF_SYN | THF_ACK, ISS, PISN + 1, 0);
    expect(THF_SYN | THF_ACK, ISS, PISN + 1, 0);
    expect_none();
    cr_assert_eq(stats()->tcp_syn_queue_full, 1);
    cr_assert_eq(conns(), 2);
}

Test(tcp_state, syn_ack_retransmitted_then_half_open_freed)
{
    stack_tcp_listen(E->st, LPORT, 8);
    seg(THF_SYN, PISN, 0, NULL, 0);
    expect(THF_SYN | THF_ACK, ISS, PISN + 1, 0);
    unsigned n = 0;
    for (int i = 0; i < 1000 && stack_next_deadline(E->st) != STACK_TIME_NEVER; i++) {
        th_poll(E, stack_next_deadline(E->st));
        while (th_pop(E, &O)) {
            cr_assert_eq(O.flags, THF_SYN | THF_ACK);
            n++;
        }
    }
    cr_assert_eq(n, 6, "syn_retries SYN-ACK retransmissions");
    cr_assert_eq(conns(), 0, "the half-open entry is freed");
    /* SYN-ACK at 0, again at 1, 3, 7, 15, 31, 63 s; freed when the next (capped) RTO
     * of 60 s expires */
    cr_assert_eq(E->now, 63000 + 60000);
}

Test(tcp_state, malformed_options_dropped_and_counted)
{
    stack_tcp_listen(E->st, LPORT, 8);
    uint8_t len0[] = {2, 0, 0, 0};
    uint8_t len1[] = {1, 1, 8, 1};
    uint8_t past[] = {1, 1, 2, 8}; /* MSS claiming 8 bytes in a 4-byte option area */
    const uint8_t *opts[] = {len0, len1, past};
    for (int i = 0; i < 3; i++) {
        struct th_spec s = {.sport = PPORT,
                            .dport = LPORT,
                            .seq = PISN,
                            .flags = THF_SYN,
                            .wnd = WIN,
                            .opt = opts[i],
                            .optlen = 4};
        th_seg(E, &s);
    }
    expect_none();
    cr_assert_eq(stats()->tcp_drop_bad_options, 3);
    /* unknown options are skipped */
    uint8_t unk[] = {99, 4, 1, 2, 2, 4, 0x02, 0x18};
    struct th_spec s = {.sport = PPORT,
                        .dport = LPORT,
                        .seq = PISN,
                        .flags = THF_SYN,
                        .wnd = WIN,
                        .opt = unk,
                        .optlen = 8};
    th_seg(E, &s);
    expect(THF_SYN | THF_ACK, ISS, PISN + 1, 0);
    cr_assert_eq(stats()->tcp_drop_bad_options, 3);
}

Test(tcp_state, bad_header_length_and_checksum_dropped)
{
    stack_tcp_listen(E->st, LPORT, 8);
    struct th_spec s = {
        .sport = PPORT, .dport = LPORT, .seq = PISN, .flags = THF_SYN, .wnd = WIN, .bad_doff = 15};
    th_seg(E, &s);
    s.bad_doff = 4;
    th_seg(E, &s);
    cr_assert_eq(stats()->tcp_drop_short, 2);
    uint8_t pkt[100];
    s.bad_doff = 0;
    size_t n = th_build(&s, pkt, sizeof pkt);
    pkt[n - 1] ^= 1; /* corrupt the TCP header (window) */
    stack_input(E->st, pkt, n, 0);
    cr_assert_eq(stats()->tcp_drop_checksum, 1);
    expect_none();
}

Test(tcp_state, peer_mss_536_honoured)
{
    int lh = stack_tcp_listen(E->st, LPORT, 8);
    uint8_t opt[] = {2, 4, 0x02, 0x18}; /* 536 */
    struct th_spec s = {.sport = PPORT,
                        .dport = LPORT,
                        .seq = PISN,
                        .flags = THF_SYN,
                        .wnd = WIN,
                        .opt = opt,
                        .optlen = 4};
    th_seg(E, &s);
    expect(THF_SYN | THF_ACK, ISS, PISN + 1, 0);
    seg(THF_ACK, PISN + 1, ISS + 1, NULL, 0);
    int ch = stack_tcp_accept(E->st, lh);
    cr_assert_gt(ch, 0);
    static uint8_t data[2000];
    cr_assert_eq(stack_tcp_send(E->st, ch, data, sizeof data, 0), 2000);
    uint32_t total = 0;
    while (th_pop(E, &O)) {
        cr_assert_leq(O.len, 536);
        cr_assert_eq(O.seq, ISS + 1 + total);
        total += O.len;
    }
    cr_assert_eq(total, 2000);
}

Test(tcp_state, no_mss_option_means_536)
{
    int h = active_open();
    seg_a(THF_SYN | THF_ACK, PISN, ISS + 1, NULL, 0);
    expect(THF_ACK, ISS + 1, PISN + 1, 0);
    static uint8_t data[1000];
    cr_assert_eq(stack_tcp_send(E->st, h, data, sizeof data, 0), 1000);
    expect(THF_ACK, ISS + 1, PISN + 1, 536);
    expect(THF_ACK | THF_PSH, ISS + 537, PISN + 1, 464);
}

/* ---- closing ---- */

Test(tcp_state, local_close_fin_wait_2_then_time_wait_expiry_exact)
{
    int lh, h = passive_open(&lh);
    uint32_t r = PISN + 1;
    cr_assert_eq(stack_tcp_close(E->st, h, 0), 0);
    expect(THF_ACK | THF_FIN, ISS + 1, r, 0);
    cr_assert(th_has_line(E, "[TCP ] state ESTABLISHED -> FIN_WAIT_1"));
    seg(THF_ACK, r, ISS + 2, NULL, 0);
    cr_assert(th_has_line(E, "[TCP ] state FIN_WAIT_1 -> FIN_WAIT_2"));
    E->now = 5000;
    seg(THF_ACK | THF_FIN, r, ISS + 2, NULL, 0);
    expect(THF_ACK, ISS + 2, r + 1, 0);
    cr_assert(th_has_line(E, "[TCP ] state FIN_WAIT_2 -> TIME_WAIT"));
    cr_assert_eq(conns(), 1);
    cr_assert_eq(stack_next_deadline(E->st), 5000 + 60000);
    th_poll(E, 5000 + 59999);
    cr_assert_eq(conns(), 1);
    th_poll(E, 5000 + 60000);
    cr_assert_eq(conns(), 0);
    cr_assert_eq(stack_next_deadline(E->st), STACK_TIME_NEVER);
}

Test(tcp_state, fin_ack_in_fin_wait_1_goes_straight_to_time_wait)
{
    int lh, h = passive_open(&lh);
    uint32_t r = PISN + 1;
    stack_tcp_close(E->st, h, 0);
    expect(THF_ACK | THF_FIN, ISS + 1, r, 0);
    seg(THF_ACK | THF_FIN, r, ISS + 2, NULL, 0);
    expect(THF_ACK, ISS + 2, r + 1, 0);
    cr_assert(th_has_line(E, "[TCP ] state FIN_WAIT_1 -> TIME_WAIT"));
    cr_assert_eq(th_count_lines(E, "[TCP ] state FIN_WAIT_1 -> FIN_WAIT_2"), 0);
}

Test(tcp_state, simultaneous_close_via_closing)
{
    int lh, h = passive_open(&lh);
    uint32_t r = PISN + 1;
    stack_tcp_close(E->st, h, 0);
    expect(THF_ACK | THF_FIN, ISS + 1, r, 0);
    seg(THF_ACK | THF_FIN, r, ISS + 1, NULL, 0); /* its FIN, not acking ours */
    expect(THF_ACK, ISS + 2, r + 1, 0);
    cr_assert(th_has_line(E, "[TCP ] state FIN_WAIT_1 -> CLOSING"));
    seg(THF_ACK, r + 1, ISS + 2, NULL, 0);
    cr_assert(th_has_line(E, "[TCP ] state CLOSING -> TIME_WAIT"));
    cr_assert_eq(conns(), 1);
}

Test(tcp_state, time_wait_reacks_retransmitted_fin_and_restarts)
{
    int lh, h = passive_open(&lh);
    uint32_t r = PISN + 1;
    stack_tcp_close(E->st, h, 0);
    expect(THF_ACK | THF_FIN, ISS + 1, r, 0);
    seg(THF_ACK | THF_FIN, r, ISS + 2, NULL, 0);
    expect(THF_ACK, ISS + 2, r + 1, 0);
    cr_assert_eq(stack_next_deadline(E->st), 60000);
    E->now = 20000;
    th_poll(E, 20000);
    seg(THF_ACK | THF_FIN, r, ISS + 2, NULL, 0); /* our ACK was lost */
    expect(THF_ACK, ISS + 2, r + 1, 0);
    cr_assert_eq(stack_next_deadline(E->st), 80000);
    th_poll(E, 79999);
    cr_assert_eq(conns(), 1);
    th_poll(E, 80000);
    cr_assert_eq(conns(), 0);
}

Test(tcp_state, rst_in_time_wait_ignored_rfc1337)
{
    int lh, h = passive_open(&lh);
    uint32_t r = PISN + 1;
    stack_tcp_close(E->st, h, 0);
    seg(THF_ACK | THF_FIN, r, ISS + 2, NULL, 0);
    th_drop_out(E);
    seg(THF_RST, r + 1, 0, NULL, 0);
    cr_assert_eq(conns(), 1);
    expect_none();
}

Test(tcp_state, syn_reuses_time_wait_when_beyond_old_sequence)
{
    int lh, h = passive_open(&lh);
    uint32_t r = PISN + 1;
    stack_tcp_close(E->st, h, 0);
    seg(THF_ACK | THF_FIN, r, ISS + 2, NULL, 0);
    th_drop_out(E);
    /* an old SYN (not beyond RCV.NXT) only gets an ACK */
    seg(THF_SYN, PISN, 0, NULL, 0);
    expect(THF_ACK, ISS + 2, r + 1, 0);
    cr_assert_eq(stats()->tcp_time_wait_reused, 0);
    /* a new incarnation */
    seg(THF_SYN, PISN + 100000, 0, NULL, 0);
    cr_assert(th_pop(E, &O));
    cr_assert_eq(O.flags, THF_SYN | THF_ACK);
    cr_assert_eq(O.ack, PISN + 100001);
    cr_assert(seq_gt(O.seq, ISS + 2), "new ISS beyond the old one");
    cr_assert_eq(stats()->tcp_time_wait_reused, 1);
}

Test(tcp_state, half_close_keeps_receiving)
{
    int lh, h = passive_open(&lh);
    uint32_t r = PISN + 1;
    cr_assert_eq(stack_tcp_shutdown(E->st, h, 0), 0);
    expect(THF_ACK | THF_FIN, ISS + 1, r, 0);
    cr_assert_eq(stack_tcp_send(E->st, h, "x", 1, 0), -EPIPE);
    seg(THF_ACK, r, ISS + 2, NULL, 0);
    cr_assert_eq(state_of(h), TCP_FIN_WAIT_2);
    seg(THF_ACK | THF_PSH, r, ISS + 2, "hello", 5);
    seg(THF_ACK | THF_PSH, r + 5, ISS + 2, "world", 5);
    expect(THF_ACK, ISS + 2, r + 10, 0); /* the second segment: ACK at once */
    char buf[16];
    cr_assert_eq(stack_tcp_recv(E->st, h, buf, sizeof buf, 0), 10);
    cr_assert(memcmp(buf, "helloworld", 10) == 0);
    seg(THF_ACK | THF_FIN, r + 10, ISS + 2, NULL, 0);
    expect(THF_ACK, ISS + 2, r + 11, 0);
    cr_assert_eq(state_of(h), TCP_TIME_WAIT);
    cr_assert_eq(stack_tcp_recv(E->st, h, buf, sizeof buf, 0), 0);
    cr_assert_eq(stack_tcp_close(E->st, h, 0), 0);
    th_poll(E, 60000);
    cr_assert_eq(conns(), 0);
}

Test(tcp_state, remote_half_close_we_keep_sending)
{
    int lh, h = passive_open(&lh);
    uint32_t r = PISN + 1;
    seg(THF_ACK | THF_FIN, r, ISS + 1, NULL, 0);
    expect(THF_ACK, ISS + 1, r + 1, 0);
    cr_assert_eq(state_of(h), TCP_CLOSE_WAIT);
    cr_assert_eq(stack_tcp_send(E->st, h, "abc", 3, 0), 3);
    expect(THF_ACK | THF_PSH, ISS + 1, r + 1, 3);
    cr_assert_eq(stack_tcp_shutdown(E->st, h, 0), 0);
    expect(THF_ACK | THF_FIN, ISS + 4, r + 1, 0);
    cr_assert_eq(state_of(h), TCP_LAST_ACK);
    seg(THF_ACK, r + 1, ISS + 5, NULL, 0);
    cr_assert_eq(state_of(h), TCP_CLOSED);
    cr_assert_eq(stack_sock_error(E->st, h), 0);
    stack_tcp_close(E->st, h, 0);
}

Test(tcp_state, unread_data_at_close_sends_rst)
{
    int lh, h = passive_open(&lh);
    uint32_t r = PISN + 1;
    seg(THF_ACK | THF_PSH, r, ISS + 1, "data", 4);
    cr_assert_eq(stack_tcp_close(E->st, h, 0), 0);
    expect(THF_RST | THF_ACK, ISS + 1, r + 4, 0);
    cr_assert_eq(conns(), 0);
}

Test(tcp_state, closing_listener_resets_unaccepted_children)
{
    int lh = stack_tcp_listen(E->st, LPORT, 8);
    seg(THF_SYN, PISN, 0, NULL, 0);
    expect(THF_SYN | THF_ACK, ISS, PISN + 1, 0);
    seg(THF_ACK, PISN + 1, ISS + 1, NULL, 0);
    seg_full(THF_SYN, PISN, 0, NULL, 0, PPORT + 1, LPORT);
    expect(THF_SYN | THF_ACK, ISS, PISN + 1, 0);
    cr_assert_eq(conns(), 2);
    stack_tcp_close(E->st, lh, 0);
    expect(THF_RST | THF_ACK, ISS + 1, PISN + 1, 0);
    expect(THF_RST | THF_ACK, ISS + 1, PISN + 1, 0);
    cr_assert_eq(conns(), 0);
    seg(THF_SYN, PISN, 0, NULL, 0);
    expect(THF_RST | THF_ACK, 0, PISN + 1, 0);
}

/* ---- RST and RFC 5961 ---- */

/* Brings a passive connection to state s; returns its handle (0 when closed by us). */
static int conn_in_state(enum tcp_state s, uint32_t *r)
{
    int lh, h = passive_open(&lh);
    *r = PISN + 1;
    switch (s) {
    case TCP_ESTABLISHED:
        break;
    case TCP_CLOSE_WAIT:
        seg(THF_ACK | THF_FIN, *r, ISS + 1, NULL, 0);
        *r += 1;
        break;
    case TCP_FIN_WAIT_1:
        stack_tcp_shutdown(E->st, h, 0);
        break;
    case TCP_FIN_WAIT_2:
        stack_tcp_shutdown(E->st, h, 0);
        seg(THF_ACK, *r, ISS + 2, NULL, 0);
        break;
    case TCP_CLOSING:
        stack_tcp_shutdown(E->st, h, 0);
        seg(THF_ACK | THF_FIN, *r, ISS + 1, NULL, 0);
        *r += 1;
        break;
    case TCP_LAST_ACK:
        seg(THF_ACK | THF_FIN, *r, ISS + 1, NULL, 0);
        *r += 1;
        stack_tcp_shutdown(E->st, h, 0);
        break;
    default:
        cr_assert_fail("state");
    }
    cr_assert_eq(state_of(h), s);
    th_clear(E);
    return h;
}

static const enum tcp_state sync_states[] = {TCP_ESTABLISHED, TCP_CLOSE_WAIT, TCP_FIN_WAIT_1,
                                             TCP_FIN_WAIT_2,  TCP_CLOSING,    TCP_LAST_ACK};

static void reset_engine(void)
{
    th_free(E);
    setup();
}

Test(tcp_state, exact_rst_in_each_synchronized_state)
{
    for (size_t i = 0; i < sizeof sync_states / sizeof sync_states[0]; i++) {
        uint32_t r;
        int h = conn_in_state(sync_states[i], &r);
        seg(THF_RST, r, 0, NULL, 0);
        cr_assert_eq(state_of(h), TCP_CLOSED, "state %s", tcp_state_name(sync_states[i]));
        bool user_error = sync_states[i] != TCP_CLOSING && sync_states[i] != TCP_LAST_ACK;
        cr_assert_eq(stack_sock_error(E->st, h), user_error ? ECONNRESET : 0);
        expect_none();
        reset_engine();
    }
}

Test(tcp_state, in_window_inexact_rst_gets_challenge_ack_in_each_state)
{
    for (size_t i = 0; i < sizeof sync_states / sizeof sync_states[0]; i++) {
        uint32_t r;
        int h = conn_in_state(sync_states[i], &r);
        struct stack_conn_info ci = info_of(h);
        seg(THF_RST, r + 10, 0, NULL, 0);
        expect(THF_ACK, ci.snd_nxt, ci.rcv_nxt, 0); /* our numbers, not the RST's */
        cr_assert_eq(state_of(h), sync_states[i]);
        cr_assert_eq(stats()->tcp_challenge_acks, 1);
        reset_engine();
    }
}

Test(tcp_state, out_of_window_rst_silently_dropped_in_each_state)
{
    for (size_t i = 0; i < sizeof sync_states / sizeof sync_states[0]; i++) {
        uint32_t r;
        int h = conn_in_state(sync_states[i], &r);
        seg(THF_RST, r + 70000, 0, NULL, 0);
        seg(THF_RST, r - 1, 0, NULL, 0);
        expect_none();
        cr_assert_eq(state_of(h), sync_states[i]);
        cr_assert_eq(stats()->tcp_rst_ignored, 2);
        reset_engine();
    }
}

Test(tcp_state, rst_for_connection_not_taken_by_listener)
{
    int lh, h = passive_open(&lh);
    seg(THF_RST, PISN + 1, 0, NULL, 0);
    cr_assert_eq(state_of(h), TCP_CLOSED);
    cr_assert_eq(state_of(lh), TCP_LISTEN);
}

Test(tcp_state, syn_on_synchronized_gets_challenge_ack)
{
    for (size_t i = 0; i < sizeof sync_states / sizeof sync_states[0]; i++) {
        uint32_t r;
        int h = conn_in_state(sync_states[i], &r);
        struct stack_conn_info ci = info_of(h);
        seg(THF_SYN, r + 5, 0, NULL, 0); /* in window */
        expect(THF_ACK, ci.snd_nxt, ci.rcv_nxt, 0);
        E->now += TCP_OOW_INTERVAL_MS;         /* one challenge ACK per 500 ms per connection */
        seg(THF_SYN, PISN - 1000, 0, NULL, 0); /* out of window */
        expect(THF_ACK, ci.snd_nxt, ci.rcv_nxt, 0);
        cr_assert_eq(state_of(h), sync_states[i]);
        cr_assert_eq(stats()->tcp_challenge_acks, 2);
        reset_engine();
    }
}
