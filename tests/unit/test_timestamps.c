/* RFC 7323 timestamps against crafted segments, in virtual time: negotiation, TSopt on
 * every segment (and the payload it costs, RFC 6691), TS.Recent (§4.3), PAWS (§5), RTT
 * from TSecr (§4), the clock (§5.4), bad options, and Eifel (RFC 3522/4015). Exact
 * values throughout: our TSval is the keyed offset plus the virtual ms clock. */
#include "tcp_state_fixture.h"

#define R (PISN + 1)
#define MSS 1460u
#define ROOM (MSS - 12u) /* the payload beside NOP NOP TSopt */

static bool active; /* our connection is the active open: the ports swap */
static uint8_t D[16000];

static void ts_setup(void)
{
    active = false;
    setup();
    for (size_t i = 0; i < sizeof D; i++)
        D[i] = (uint8_t)(i * 7 + 3);
}

TestSuite(timestamps, .init = ts_setup, .fini = teardown);

static void put32b(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* A segment from the peer with a TSopt (ts true) or none. */
static void tseg(uint8_t flags, uint32_t seq, uint32_t ack, const void *data, size_t len, bool ts,
                 uint32_t tsval, uint32_t tsecr)
{
    uint8_t opt[16] = {1, 1, 8, 10};
    put32b(opt + 4, tsval);
    put32b(opt + 8, tsecr);
    struct th_spec s = {.sport = active ? LPORT : PPORT,
                        .dport = active ? PPORT : LPORT,
                        .seq = seq,
                        .ack = ack,
                        .flags = flags,
                        .wnd = WIN,
                        .opt = ts ? opt : NULL,
                        .optlen = ts ? 12 : 0,
                        .data = data,
                        .len = len};
    th_seg(E, &s);
}

/* A SYN (or SYN,ACK) with MSS 1460 and, if ts, a TSopt. */
static void tsyn(uint8_t flags, uint32_t ack, bool ts, uint32_t tsval, uint32_t tsecr)
{
    uint8_t opt[16] = {2, 4, 0x05, 0xb4, 1, 1, 8, 10};
    put32b(opt + 8, tsval);
    put32b(opt + 12, tsecr);
    struct th_spec s = {.sport = active ? LPORT : PPORT,
                        .dport = active ? PPORT : LPORT,
                        .seq = PISN,
                        .ack = ack,
                        .flags = flags,
                        .wnd = WIN,
                        .opt = opt,
                        .optlen = ts ? 16 : 4};
    th_seg(E, &s);
}

static uint32_t off(void)
{
    return active ? tcp_ts_offset(TS(E->st)->hkey, ipa_from_v4(TH_US), PPORT, ipa_from_v4(TH_PEER),
                                  LPORT)
                  : tcp_ts_offset(TS(E->st)->hkey, ipa_from_v4(TH_US), LPORT, ipa_from_v4(TH_PEER),
                                  PPORT);
}

static uint32_t our_ts(void)
{
    return off() + (uint32_t)E->now;
}

static struct tcb *tcb_of(void)
{
    struct tcb *t = active
                        ? tcb_lookup(E->st, ipa_from_v4(TH_US), PPORT, ipa_from_v4(TH_PEER), LPORT)
                        : tcb_lookup(E->st, ipa_from_v4(TH_US), LPORT, ipa_from_v4(TH_PEER), PPORT);
    cr_assert(t);
    return t;
}

static void expect_ts(uint32_t tsval, uint32_t tsecr)
{
    cr_assert(O.ts, "a TSopt expected");
    cr_assert_eq(O.tsval, tsval, "TSval %u, want %u", O.tsval, tsval);
    cr_assert_eq(O.tsecr, tsecr, "TSecr %u, want %u", O.tsecr, tsecr);
}

/* Passive open at E->now with timestamps: the peer's SYN has TSval 100, its ACK 101. The
 * ACK comes rtt ms after the SYN-ACK. */
static int open_ts(uint64_t rtt)
{
    int lh = stack_tcp_listen(E->st, LPORT, 8);
    cr_assert_gt(lh, 0);
    tsyn(THF_SYN, 0, true, 100, 0);
    expect(THF_SYN | THF_ACK, ISS, PISN + 1, 0);
    cr_assert_eq(O.optlen, 16, "MSS, NOP NOP TSopt");
    expect_ts(our_ts(), 100);
    uint32_t synack_ts = O.tsval;
    th_poll(E, E->now + rtt);
    tseg(THF_ACK, R, ISS + 1, NULL, 0, true, 101, synack_ts);
    expect_none();
    int h = stack_tcp_accept(E->st, lh);
    cr_assert_gt(h, 0);
    cr_assert(tcb_of()->ts_ok);
    cr_assert(info_of(h).ts_ok, "stack_conn_info.ts_ok");
    cr_assert_eq(tcb_of()->ts_recent, 101);
    return h;
}

/* ---- negotiation ---- */

Test(timestamps, passive_open_echoes_the_peers_tsopt)
{
    th_poll(E, 1234);
    open_ts(10);
}

Test(timestamps, passive_open_without_the_peers_tsopt_sends_none)
{
    int lh = stack_tcp_listen(E->st, LPORT, 8);
    tsyn(THF_SYN, 0, false, 0, 0);
    expect(THF_SYN | THF_ACK, ISS, PISN + 1, 0);
    cr_assert(!O.ts);
    cr_assert_eq(O.optlen, 4, "MSS only");
    tseg(THF_ACK, R, ISS + 1, NULL, 0, false, 0, 0);
    int h = stack_tcp_accept(E->st, lh);
    cr_assert(!info_of(h).ts_ok);
    /* RFC 7323 §3.2: a TSopt on a connection that did not agree is ignored, the segment
     * processed: the data is taken, the counter says so */
    tseg(THF_ACK | THF_PSH, R, ISS + 1, D, 10, true, 5, 0);
    cr_assert_eq(stats()->tcp_ts_opt_bad, 1);
    cr_assert_eq(info_of(h).rcv_nxt, R + 10);
    th_poll(E, E->now + TCP_DELACK_MS);
    expect(THF_ACK, ISS + 1, R + 10, 0);
    cr_assert(!O.ts);
}

Test(timestamps, active_open_offers_tsopt_and_takes_the_answer)
{
    active = true;
    th_poll(E, 50);
    int h = stack_tcp_connect(E->st, TH_PEER, LPORT, PPORT, E->now);
    cr_assert_gt(h, 0);
    expect(THF_SYN, ISS, 0, 0);
    expect_ts(our_ts(), 0);
    th_poll(E, 80);
    tsyn(THF_SYN | THF_ACK, ISS + 1, true, 500, O.tsval);
    expect(THF_ACK, ISS + 1, PISN + 1, 0);
    expect_ts(our_ts(), 500);
    cr_assert_eq(O.optlen, 12);
    cr_assert(info_of(h).ts_ok);
}

Test(timestamps, active_open_answered_without_tsopt_never_sends_one)
{
    active = true;
    int h = stack_tcp_connect(E->st, TH_PEER, LPORT, PPORT, 0);
    expect(THF_SYN, ISS, 0, 0);
    cr_assert(O.ts);
    tsyn(THF_SYN | THF_ACK, ISS + 1, false, 0, 0);
    expect(THF_ACK, ISS + 1, PISN + 1, 0);
    cr_assert(!O.ts);
    cr_assert_eq(O.optlen, 0);
    cr_assert(!info_of(h).ts_ok);
    cr_assert_eq(stack_tcp_send(E->st, h, D, 100, E->now), 100);
    expect(THF_ACK | THF_PSH, ISS + 1, PISN + 1, 100);
    cr_assert(!O.ts);
}

Test(timestamps, configured_off_neither_offers_nor_accepts)
{
    th_free(E);
    struct stack_config cfg;
    th_config(&cfg, TH_US);
    cfg.timestamps = false;
    E = th_new(&cfg, true);
    tcp_test_set_isn(E->st, ISS);
    int lh = stack_tcp_listen(E->st, LPORT, 8);
    tsyn(THF_SYN, 0, true, 100, 0);
    expect(THF_SYN | THF_ACK, ISS, PISN + 1, 0);
    cr_assert(!O.ts);
    tseg(THF_ACK, R, ISS + 1, NULL, 0, true, 101, 0);
    int h = stack_tcp_accept(E->st, lh);
    cr_assert(!info_of(h).ts_ok);
    active = true;
    int c = stack_tcp_connect(E->st, TH_PEER, LPORT, PPORT, 0);
    cr_assert_gt(c, 0);
    expect(THF_SYN, ISS, 0, 0);
    cr_assert(!O.ts);
}

/* ---- every segment ---- */

Test(timestamps, every_segment_carries_tsopt_and_the_payload_makes_room)
{
    int h = open_ts(0);
    th_poll(E, 20);
    cr_assert_eq(stack_tcp_send(E->st, h, D, 3000, E->now), 3000);
    /* RFC 6691: MSS 1460 less the 12 option bytes */
    expect(THF_ACK, ISS + 1, R, ROOM);
    expect_ts(our_ts(), 101);
    cr_assert_eq(O.optlen, 12);
    expect(THF_ACK, ISS + 1 + ROOM, R, ROOM);
    expect_ts(our_ts(), 101);
    expect(THF_ACK | THF_PSH, ISS + 1 + 2 * ROOM, R, 3000 - 2 * ROOM);
    expect_ts(our_ts(), 101);
    th_poll(E, 30);
    tseg(THF_ACK, R, ISS + 3001, NULL, 0, true, 102, off() + 20);
    cr_assert_eq(stack_tcp_close(E->st, h, E->now), 0);
    expect(THF_ACK | THF_FIN, ISS + 3001, R, 0);
    expect_ts(our_ts(), 102);
}

Test(timestamps, the_rst_of_an_abort_carries_tsopt)
{
    int h = open_ts(0);
    th_poll(E, 7);
    cr_assert_eq(stack_tcp_abort(E->st, h, E->now), 0);
    expect(THF_RST | THF_ACK, ISS + 1, R, 0);
    expect_ts(our_ts(), 101);
}

/* ---- TS.Recent (§4.3) and PAWS (§5) ---- */

/* Data from R with TS.Recent tracked through a delayed ACK, an out-of-order segment and
 * the segment filling the hole. */
static void ts_recent_walk(int h)
{
    tseg(THF_ACK, R, ISS + 1, D, 100, true, 110, 0); /* first: delayed */
    expect_none();
    cr_assert_eq(tcb_of()->ts_recent, 110);
    tseg(THF_ACK, R + 100, ISS + 1, D, 100, true, 111, 0); /* second: ACK now */
    expect(THF_ACK, ISS + 1, R + 200, 0);
    expect_ts(our_ts(), 110);                              /* the earliest segment the ACK covers */
    tseg(THF_ACK, R + 300, ISS + 1, D, 100, true, 112, 0); /* out of order */
    expect(THF_ACK, ISS + 1, R + 200, 0);
    expect_ts(our_ts(), 110);                              /* not the later segment's */
    tseg(THF_ACK, R + 200, ISS + 1, D, 100, true, 113, 0); /* fills the hole */
    expect(THF_ACK, ISS + 1, R + 400, 0);
    expect_ts(our_ts(), 113);
    cr_assert_eq(info_of(h).rcv_nxt, R + 400);
}

Test(timestamps, ts_recent_follows_the_left_edge)
{
    int h = open_ts(0);
    ts_recent_walk(h);
}

Test(timestamps, paws_drops_an_old_duplicate_and_acks_it)
{
    int h = open_ts(0);
    ts_recent_walk(h);
    /* new sequence numbers, old TSval: a segment from an earlier wrap of the window */
    tseg(THF_ACK | THF_PSH, R + 400, ISS + 1, D, 50, true, 112, 0);
    cr_assert_eq(stats()->tcp_paws_drops, 1);
    expect(THF_ACK, ISS + 1, R + 400, 0);
    expect_ts(our_ts(), 113);
    expect_none();
    cr_assert_eq(info_of(h).rcv_nxt, R + 400, "its data not taken");
    cr_assert_eq(info_of(h).recv_queue, 400);
    /* the same TSval as TS.Recent passes */
    tseg(THF_ACK | THF_PSH, R + 400, ISS + 1, D, 50, true, 113, 0);
    cr_assert_eq(info_of(h).rcv_nxt, R + 450);
    cr_assert_eq(stats()->tcp_paws_drops, 1);
}

Test(timestamps, rst_is_exempt_from_paws)
{
    int h = open_ts(0);
    ts_recent_walk(h);
    tseg(THF_RST, R + 400, 0, NULL, 0, true, 1, 0);
    cr_assert_eq(stats()->tcp_paws_drops, 0);
    cr_assert_eq(state_of(h), TCP_CLOSED);
    cr_assert_eq(stats()->tcp_resets, 1);
}

Test(timestamps, rst_without_tsopt_is_taken)
{
    int h = open_ts(0);
    tseg(THF_RST, R, 0, NULL, 0, false, 0, 0);
    cr_assert_eq(state_of(h), TCP_CLOSED);
    cr_assert_eq(stats()->tcp_ts_missing, 0);
}

Test(timestamps, paws_forgets_ts_recent_after_24_days_idle)
{
    int h = open_ts(0);
    ts_recent_walk(h);
    th_poll(E, 23ull * 24 * 3600 * 1000);
    tseg(THF_ACK | THF_PSH, R + 400, ISS + 1, D, 10, true, 5, 0);
    cr_assert_eq(stats()->tcp_paws_drops, 1, "23 days: still a valid TS.Recent");
    expect(THF_ACK, ISS + 1, R + 400, 0);
    th_poll(E, 24ull * 24 * 3600 * 1000 + 1);
    tseg(THF_ACK | THF_PSH, R + 400, ISS + 1, D, 10, true, 5, 0);
    cr_assert_eq(stats()->tcp_paws_drops, 1);
    cr_assert_eq(info_of(h).rcv_nxt, R + 410, "taken: TS.Recent had expired");
    cr_assert_eq(tcb_of()->ts_recent, 5);
    th_poll(E, E->now + TCP_DELACK_MS);
    expect(THF_ACK, ISS + 1, R + 410, 0);
    expect_ts(our_ts(), 5);
}

/* ---- bad options ---- */

Test(timestamps, a_segment_without_tsopt_is_dropped_once_agreed)
{
    int h = open_ts(0);
    tseg(THF_ACK | THF_PSH, R, ISS + 1, D, 10, false, 0, 0);
    cr_assert_eq(stats()->tcp_ts_missing, 1);
    expect_none();
    cr_assert_eq(info_of(h).rcv_nxt, R);
}

Test(timestamps, a_malformed_tsopt_is_counted_and_the_segment_dropped)
{
    int h = open_ts(0);
    const uint8_t bad[8] = {8, 8, 0, 0, 0, 200, 0, 0}; /* length 8: not a TSopt */
    struct th_spec s = {.sport = PPORT,
                        .dport = LPORT,
                        .seq = R,
                        .ack = ISS + 1,
                        .flags = THF_ACK,
                        .wnd = WIN,
                        .opt = bad,
                        .optlen = 8,
                        .data = D,
                        .len = 10};
    th_seg(E, &s);
    cr_assert_eq(stats()->tcp_ts_opt_bad, 1);
    cr_assert_eq(stats()->tcp_ts_missing, 1);
    cr_assert_eq(info_of(h).rcv_nxt, R);
    expect_none();
}

/* ---- the clock (§5.4) ---- */

Test(timestamps, the_clock_ticks_each_ms_from_a_per_connection_offset)
{
    active = true;
    th_poll(E, 1000);
    int a = stack_tcp_connect(E->st, TH_PEER, LPORT, PPORT, E->now);
    expect(THF_SYN, ISS, 0, 0);
    uint32_t a0 = O.tsval;
    cr_assert_eq(a0, our_ts());
    th_poll(E, 1005);
    int b = stack_tcp_connect(E->st, TH_PEER, LPORT, PPORT + 1, E->now);
    expect(THF_SYN, ISS, 0, 0);
    uint32_t b0 = O.tsval;
    uint32_t offb =
        tcp_ts_offset(TS(E->st)->hkey, ipa_from_v4(TH_US), PPORT + 1, ipa_from_v4(TH_PEER), LPORT);
    cr_assert_eq(b0, offb + 1005);
    cr_assert_neq(offb, off(), "another connection, another offset");
    cr_assert_neq(off(), 0);
    /* the SYN retransmission 1 s later: 1000 ticks later on the same clock */
    th_poll(E, 2000);
    expect(THF_SYN, ISS, 0, 0);
    cr_assert_eq(O.tsval, a0 + 1000);
    th_poll(E, 2005);
    expect(THF_SYN, ISS, 0, 0);
    cr_assert_eq(O.tsval, b0 + 1000);
    (void)a;
    (void)b;
}

/* ---- TIME_WAIT: PAWS and RFC 6191 ---- */

/* We close first; the peer's FIN (TSval 110) at 110 puts us in TIME_WAIT until 60110. With
 * held, the handle stays open (a full TCB in TIME_WAIT); else a compact entry. */
static void to_time_wait(int h, bool held)
{
    th_poll(E, 100);
    if (held)
        cr_assert_eq(stack_tcp_shutdown(E->st, h, E->now), 0);
    else
        cr_assert_eq(stack_tcp_close(E->st, h, E->now), 0);
    expect(THF_ACK | THF_FIN, ISS + 1, R, 0);
    uint32_t fin_ts = O.tsval;
    th_poll(E, 110);
    tseg(THF_ACK | THF_FIN, R, ISS + 2, NULL, 0, true, 110, fin_ts);
    expect(THF_ACK, ISS + 2, R + 1, 0);
    expect_ts(our_ts(), 110);
    cr_assert_eq(stack_next_deadline(E->st), 60110);
    if (held) cr_assert_eq(state_of(h), TCP_TIME_WAIT);
}

Test(timestamps, paws_in_compact_time_wait)
{
    int h = open_ts(0);
    to_time_wait(h, false);
    cr_assert_eq(conns(), 1);
    /* an old duplicate of the FIN (TSval 105): ACKed, TS.Recent and 2*MSL unchanged */
    th_poll(E, 20000);
    tseg(THF_ACK | THF_FIN, R, ISS + 2, NULL, 0, true, 105, 0);
    cr_assert_eq(stats()->tcp_paws_drops, 1);
    expect(THF_ACK, ISS + 2, R + 1, 0);
    expect_ts(our_ts(), 110);
    cr_assert_eq(stack_next_deadline(E->st), 60110, "an old duplicate restarts nothing");
    /* an old duplicate of a bare ACK at RCV.NXT is answered too (rate-limited, 500 ms) */
    th_poll(E, 20100);
    tseg(THF_ACK, R + 1, ISS + 2, NULL, 0, true, 106, 0);
    cr_assert_eq(stats()->tcp_paws_drops, 2);
    expect_none();
    /* the peer's FIN again, newer: our ACK was lost; 2*MSL starts over */
    th_poll(E, 21000);
    tseg(THF_ACK | THF_FIN, R, ISS + 2, NULL, 0, true, 120, 0);
    cr_assert_eq(stats()->tcp_paws_drops, 2);
    expect(THF_ACK, ISS + 2, R + 1, 0);
    expect_ts(our_ts(), 120);
    cr_assert_eq(stack_next_deadline(E->st), 81000);
}

/* RFC 6191 §2 on a compact entry: with timestamps on both incarnations, a SYN whose TSval
 * is later than TS.Recent opens a new one even with an old sequence number; an older
 * TSval does not, even with a sequence number beyond the old stream. */
Test(timestamps, rfc6191_a_later_tsval_reopens_compact_time_wait)
{
    int h = open_ts(0);
    to_time_wait(h, false);
    th_poll(E, 1000);
    tsyn(THF_SYN, 0, true, 109, 0); /* seq PISN (old), TSval older */
    cr_assert_eq(stats()->tcp_time_wait_reused, 0);
    cr_assert_eq(stats()->tcp_paws_drops, 1);
    expect(THF_ACK, ISS + 2, R + 1, 0); /* the challenge ACK of a SYN in a synchronized state */
    th_poll(E, 2000);
    tsyn(THF_SYN, 0, true, 110, 0); /* equal TSval, old sequence number: refused */
    cr_assert_eq(stats()->tcp_time_wait_reused, 0);
    expect(THF_ACK, ISS + 2, R + 1, 0);
    th_poll(E, 3000);
    tsyn(THF_SYN, 0, true, 111, 0); /* later TSval, the same old sequence number */
    cr_assert_eq(stats()->tcp_time_wait_reused, 1);
    cr_assert(th_pop(E, &O));
    cr_assert_eq(O.flags, THF_SYN | THF_ACK);
    cr_assert_eq(O.ack, PISN + 1);
    cr_assert(seq_gt(O.seq, ISS + 2), "the new ISS beyond the old stream");
    expect_ts(O.tsval, 111);
    cr_assert_eq(O.tsval, our_ts(), "the same clock: our TSvals keep increasing");
}

/* The same on a TIME_WAIT TCB its user still holds; and with timestamps only on the old
 * incarnation, the sequence number decides (RFC 6191 §2, third case). */
Test(timestamps, rfc6191_on_a_held_time_wait_tcb)
{
    int h = open_ts(0);
    to_time_wait(h, true);
    th_poll(E, 1000);
    tsyn(THF_SYN, 0, true, 109, 0);
    cr_assert_eq(stats()->tcp_time_wait_reused, 0);
    cr_assert_eq(state_of(h), TCP_TIME_WAIT);
    th_drop_out(E);
    th_poll(E, 2000);
    tsyn(THF_SYN, 0, false, 0, 0); /* no TSopt, old sequence number: refused */
    cr_assert_eq(stats()->tcp_time_wait_reused, 0);
    cr_assert_eq(state_of(h), TCP_TIME_WAIT);
    th_drop_out(E);
    th_poll(E, 3000);
    tsyn(THF_SYN, 0, true, 111, 0);
    cr_assert_eq(stats()->tcp_time_wait_reused, 1);
    cr_assert(th_pop(E, &O));
    cr_assert_eq(O.flags, THF_SYN | THF_ACK);
    cr_assert_eq(O.ack, PISN + 1);
    expect_ts(our_ts(), 111);
}

/* ---- RTT (§4) ---- */

Test(timestamps, rtt_sampled_from_the_ack_of_a_retransmission)
{
    int h = open_ts(10); /* SYN-ACK sample: SRTT 10, RTTVAR 5 */
    cr_assert_eq(info_of(h).srtt_ms, 10);
    cr_assert_eq(info_of(h).rto_ms, 200);
    th_poll(E, 100);
    cr_assert_eq(stack_tcp_send(E->st, h, D, 100, E->now), 100);
    expect(THF_ACK | THF_PSH, ISS + 1, R, 100);
    th_poll(E, 300); /* RTO */
    expect(THF_ACK | THF_PSH, ISS + 1, R, 100);
    uint32_t rtx_ts = O.tsval;
    cr_assert_eq(rtx_ts, off() + 300);
    cr_assert_eq(info_of(h).rto_ms, 400, "backed off");
    th_poll(E, 350);
    tseg(THF_ACK, R, ISS + 101, NULL, 0, true, 102, rtx_ts);
    /* the sample, 50 ms, is the retransmission's (Karn would take none): RFC 6298 with
     * RTTVAR = (3*5 + |10 - 50|) / 4 = 13, SRTT = (7*10 + 50) / 8 = 15; the backoff is gone */
    cr_assert_eq(info_of(h).rttvar_ms, 13);
    cr_assert_eq(info_of(h).srtt_ms, 15);
    cr_assert_eq(info_of(h).rto_ms, 200);
    cr_assert_eq(stats()->tcp_spurious_rtos_undone, 0, "the retransmission was needed");
}

/* A second timeout: the first retransmission arrived but its ACK was lost, so the second is
 * a duplicate and its ACK echoes the first retransmission's TSval (TS.Recent does not move
 * for a duplicate, §4.3). now - TSecr then holds the whole backed-off RTO, not a round
 * trip: no sample (it once set SRTT to seconds on a 1 ms path, test_loss_matrix). */
Test(timestamps, no_rtt_sample_from_an_ack_older_than_the_last_timeout)
{
    int h = open_ts(10); /* SRTT 10, RTTVAR 5, RTO 200 */
    th_poll(E, 100);
    cr_assert_eq(stack_tcp_send(E->st, h, D, 100, E->now), 100);
    expect(THF_ACK | THF_PSH, ISS + 1, R, 100);
    th_poll(E, 300); /* first timeout */
    expect(THF_ACK | THF_PSH, ISS + 1, R, 100);
    uint32_t first_rtx = O.tsval;
    th_poll(E, 700); /* second timeout */
    expect(THF_ACK | THF_PSH, ISS + 1, R, 100);
    cr_assert_eq(O.tsval, off() + 700);
    cr_assert_eq(info_of(h).rto_ms, 800);
    th_poll(E, 710);
    tseg(THF_ACK, R, ISS + 101, NULL, 0, true, 102, first_rtx);
    cr_assert_eq(info_of(h).snd_una, ISS + 101, "the ACK itself counts");
    cr_assert_eq(stats()->tcp_ts_rtt_skipped, 1);
    cr_assert_eq(info_of(h).srtt_ms, 10, "410 ms is not a round trip");
    cr_assert_eq(info_of(h).rttvar_ms, 5);
    cr_assert_eq(info_of(h).rto_ms, 800, "no valid sample: the backoff stays (RFC 6298 5.7)");
    /* new data after the timeout: its ACK is a sample again, and the backoff goes */
    cr_assert_eq(stack_tcp_send(E->st, h, D, 100, E->now), 100);
    expect(THF_ACK | THF_PSH, ISS + 101, R, 100);
    uint32_t new_ts = O.tsval;
    th_poll(E, 730);
    tseg(THF_ACK, R, ISS + 201, NULL, 0, true, 103, new_ts);
    cr_assert_eq(stats()->tcp_ts_rtt_skipped, 1);
    /* RTTVAR = (3*5 + |10 - 20|) / 4 = 6, SRTT = (7*10 + 20) / 8 = 11 */
    cr_assert_eq(info_of(h).srtt_ms, 11);
    cr_assert_eq(info_of(h).rttvar_ms, 6);
    cr_assert_eq(info_of(h).rto_ms, 200);
}

Test(timestamps, a_tsecr_from_the_future_is_ignored_and_counted)
{
    int h = open_ts(10);
    th_poll(E, 100);
    cr_assert_eq(stack_tcp_send(E->st, h, D, 100, E->now), 100);
    expect(THF_ACK | THF_PSH, ISS + 1, R, 100);
    th_poll(E, 120);
    tseg(THF_ACK, R, ISS + 101, NULL, 0, true, 102, our_ts() + 1000);
    cr_assert_eq(stats()->tcp_ts_ecr_future, 1);
    cr_assert_eq(info_of(h).srtt_ms, 10, "no sample");
    cr_assert_eq(info_of(h).snd_una, ISS + 101, "the ACK itself counts");
}

/* Many samples per round trip (appendix G): a window of 20 segments, each ACK a sample of
 * the same RTT, moves RTTVAR by 1/(4 * ExpectedSamples) each, not by 1/4. */
Test(timestamps, many_samples_per_rtt_do_not_collapse_rttvar)
{
    int h = open_ts(100); /* SRTT 100, RTTVAR 50 */
    cr_assert_eq(info_of(h).rttvar_ms, 50);
    /* peer window: 65535 bytes; cwnd 10 segments: send 10, ACK one at a time */
    th_poll(E, 1000);
    cr_assert_eq(stack_tcp_send(E->st, h, D, 10 * ROOM, E->now), (long)(10 * ROOM));
    uint32_t sent_ts = our_ts();
    th_drop_out(E);
    th_poll(E, 1100);
    for (uint32_t i = 1; i <= 10; i++)
        tseg(THF_ACK, R, ISS + 1 + i * ROOM, NULL, 0, true, 102, sent_ts);
    /* the ACKs expect ceil(flight / (2 * SMSS)) = 5, 5, 4, 4, 3, 3, 2, 2, 1, 1 samples, so
     * RTTVAR (1/256 ms kept) goes 50 -> 47.5 -> 45.1 -> 42.3 -> 39.7 -> 36.4 -> 33.3 -> 29.2
     * -> 25.5 and, at RFC 6298's own gain of 1/4 (whole ms), 18 -> 13. With the gain of 1/4
     * on every ACK it would have fallen to 2, and the RTO with it. */
    cr_assert_eq(info_of(h).rttvar_ms, 13);
    cr_assert_eq(info_of(h).srtt_ms, 100);
}

/* ---- Eifel (RFC 3522, RFC 4015) ---- */

Test(timestamps, eifel_undoes_a_spurious_timeout)
{
    int h = open_ts(10);
    uint32_t cwnd0 = info_of(h).cwnd, ssthresh0 = info_of(h).ssthresh;
    cr_assert_eq(cwnd0, 14600, "RFC 6928 IW for MSS 1460");
    th_poll(E, 100);
    cr_assert_eq(stack_tcp_send(E->st, h, D, 100, E->now), 100);
    expect(THF_ACK | THF_PSH, ISS + 1, R, 100);
    uint32_t orig_ts = O.tsval;
    th_poll(E, 300); /* a delay spike: the RTO fires */
    expect(THF_ACK | THF_PSH, ISS + 1, R, 100);
    cr_assert_lt(info_of(h).cwnd, cwnd0, "the timeout reduced cwnd");
    cr_assert_neq(info_of(h).ssthresh, ssthresh0);
    th_poll(E, 350);
    /* the ACK of the original: TSecr older than the retransmission's TSval */
    tseg(THF_ACK, R, ISS + 101, NULL, 0, true, 102, orig_ts);
    cr_assert_eq(stats()->tcp_spurious_rtos_undone, 1);
    cr_assert_eq(info_of(h).cwnd, cwnd0, "cwnd restored exactly");
    cr_assert_eq(info_of(h).ssthresh, ssthresh0);
    /* RFC 4015: the backoff is gone (400 ms after the timeout), the RTO is SRTT + 4 * RTTVAR
     * again (10 + 20, at the 200 ms floor); the undo ACK's 250 ms, which may hold the whole
     * timeout, is not a sample */
    cr_assert_eq(info_of(h).srtt_ms, 10);
    cr_assert_eq(info_of(h).rttvar_ms, 5);
    cr_assert_eq(info_of(h).rto_ms, 200);
    /* RFC 4015: new data next, not the rest of a go-back-N */
    cr_assert_eq(tcb_of()->snd_nxt, tcb_of()->snd_max);
}

Test(timestamps, eifel_undoes_a_spurious_fast_retransmit)
{
    int h = open_ts(10);
    uint32_t cwnd0 = info_of(h).cwnd;
    th_poll(E, 100);
    cr_assert_eq(stack_tcp_send(E->st, h, D, 5 * ROOM, E->now), (long)(5 * ROOM));
    for (int i = 0; i < 5; i++)
        expect(i == 4 ? THF_ACK | THF_PSH : THF_ACK, ISS + 1 + (uint32_t)i * ROOM, R, ROOM);
    uint32_t orig_ts = O.tsval;
    th_poll(E, 150);
    /* the first segment is late (reordered): three duplicate ACKs echo the last in-order
     * segment's TSval, the handshake's */
    for (int i = 0; i < 3; i++)
        tseg(THF_ACK, R, ISS + 1, NULL, 0, true, 102, off() + 10);
    cr_assert_eq(stats()->tcp_fast_retransmits, 1);
    expect(THF_ACK, ISS + 1, R, ROOM);
    expect_ts(off() + 150, 102); /* TS.Recent: the duplicate ACKs sit at Last.ACK.sent */
    cr_assert_lt(info_of(h).cwnd, cwnd0 + 3 * MSS);
    th_poll(E, 160);
    /* then it arrives: the cumulative ACK echoes the original's TSval */
    tseg(THF_ACK, R, ISS + 1 + 5 * ROOM, NULL, 0, true, 103, orig_ts);
    cr_assert_eq(stats()->tcp_spurious_frs_undone, 1);
    cr_assert_eq(info_of(h).cwnd, cwnd0, "cwnd restored exactly");
    cr_assert_eq(info_of(h).ssthresh, UINT32_MAX);
    cr_assert(!tcb_of()->in_recovery);
}

Test(timestamps, a_needed_fast_retransmit_is_not_undone)
{
    int h = open_ts(10);
    th_poll(E, 100);
    cr_assert_eq(stack_tcp_send(E->st, h, D, 5 * ROOM, E->now), (long)(5 * ROOM));
    th_drop_out(E);
    th_poll(E, 150);
    for (int i = 0; i < 3; i++)
        tseg(THF_ACK, R, ISS + 1, NULL, 0, true, 102, off() + 10);
    expect(THF_ACK, ISS + 1, R, ROOM);
    uint32_t rtx_ts = O.tsval;
    uint32_t ssthresh = info_of(h).ssthresh;
    th_poll(E, 170);
    /* the retransmission filled the hole: its TSval is echoed */
    tseg(THF_ACK, R, ISS + 1 + 5 * ROOM, NULL, 0, true, 103, rtx_ts);
    cr_assert_eq(stats()->tcp_spurious_frs_undone, 0);
    cr_assert_eq(info_of(h).ssthresh, ssthresh);
}
