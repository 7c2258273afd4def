/* Loss recovery (NewReno, RFC 6582) and the RTO's floor and backoff (RFC 6298) against
 * crafted segments, in virtual time: exact sequence numbers, cwnd and ssthresh.
 *
 * Every test: active open at t=0, the SYN-ACK at t=100 (MSS 1460, window 65535, no window
 * scaling), so SRTT = 100, RTTVAR = 50, RTO = 300 and cwnd = 10 * 1460 = 14600. Segment i
 * of the first window starts at S(i) = 1001 + 1460 * i. */
#include <criterion/criterion.h>
#include <string.h>

#include "tcp.h"
#include "tcp_harness.h"

#define ISS 1000u
#define PISN 7000u
#define MSS 1460u
#define S(i) (ISS + 1 + MSS * (uint32_t)(i))

static struct th_engine *E;
static struct th_out O;
static int H;
static uint8_t D[40 * MSS];

static void open_at(uint32_t rto_min, uint64_t synack_at)
{
    struct stack_config cfg;
    th_config(&cfg, TH_US);
    cfg.cc = STACK_CC_NEWRENO; /* CUBIC is the default (test_cubic.c) */
    if (rto_min) cfg.rto_min_ms = rto_min;
    E = th_new(&cfg, true);
    for (size_t i = 0; i < sizeof D; i++)
        D[i] = (uint8_t)(i * 7 + 3);
    struct th_open o = {.iss = ISS, .pisn = PISN, .synack_at = synack_at};
    H = th_establish(E, &o);
}

static void stop(void)
{
    th_free(E);
}

static void ack_at(uint64_t now, uint32_t ack)
{
    th_peer_ack(E, now, ack);
}

static void expect_data(uint32_t seq, uint32_t len)
{
    th_expect_data(E, &O, seq, len, D, ISS + 1);
}

static void expect_none(void)
{
    th_expect_none(E);
}

static struct stack_conn_info info(void)
{
    return th_info(E, H);
}

static const struct stack_stats *stats(void)
{
    return stack_stats(E->st);
}

static void send_segs(uint32_t n, uint32_t expect_out)
{
    cr_assert_eq(stack_tcp_send(E->st, H, D, n * MSS, E->now), (long)(n * MSS));
    for (uint32_t i = 0; i < expect_out; i++)
        expect_data(S(i), MSS);
    expect_none();
}

/* S1, S3 and S5 of ten are lost. Fast retransmit repairs S1; each partial ACK then
 * repairs the next hole at once, one per round trip (100 ms), with no timeout. */
Test(newreno, three_losses_in_one_window_repaired_by_partial_acks_without_rto, .fini = stop)
{
    open_at(0, 100);
    send_segs(10, 10);
    cr_assert_eq(stack_next_deadline(E->st), 100 + 300);
    ack_at(200, S(1)); /* S0 arrived */
    /* slow start: 14600 + 1460; the sample R = 100 gives RTTVAR 37, RTO 100 + 148 */
    cr_assert_eq(info().cwnd, 16060);
    cr_assert_eq(info().rto_ms, 248);
    ack_at(210, S(1)); /* S2, S4, S6: duplicates */
    ack_at(211, S(1));
    expect_none();
    ack_at(212, S(1));
    expect_data(S(1), MSS);
    /* FlightSize 13140: ssthresh 6570, cwnd 6570 + 3 * 1460 */
    cr_assert_eq(info().ssthresh, 6570);
    cr_assert_eq(info().cwnd, 10950);
    cr_assert_eq(stack_next_deadline(E->st), 212 + 248);
    ack_at(213, S(1)); /* S7, S8, S9: each inflates cwnd by one SMSS */
    ack_at(214, S(1));
    ack_at(215, S(1));
    expect_none(); /* nothing new to send */
    cr_assert_eq(info().cwnd, 10950 + 3 * 1460);
    /* the retransmitted S1 arrives: ACK of S3, below recover = S(10) */
    ack_at(312, S(3));
    expect_data(S(3), MSS);
    /* deflated by the 2920 bytes acknowledged, one SMSS added back */
    cr_assert_eq(info().cwnd, 15330 - 2920 + 1460);
    cr_assert_eq(stack_next_deadline(E->st), 312 + 248, "the first partial ACK restarts the timer");
    ack_at(412, S(5));
    expect_data(S(5), MSS);
    cr_assert_eq(info().cwnd, 13870 - 2920 + 1460);
    cr_assert_eq(stack_next_deadline(E->st), 560, "later partial ACKs do not");
    /* the full ACK: nothing left in flight, cwnd = min(ssthresh, max(0, SMSS) + SMSS) */
    ack_at(512, S(10));
    expect_none();
    cr_assert_eq(info().cwnd, 2920);
    cr_assert_eq(info().ssthresh, 6570);
    cr_assert_eq(stack_next_deadline(E->st), STACK_TIME_NEVER);
    cr_assert_eq(stats()->tcp_fast_retransmits, 3);
    cr_assert_eq(stats()->tcp_partial_acks, 2);
    cr_assert_eq(stats()->tcp_recoveries, 1);
    cr_assert_eq(stats()->tcp_retransmits, 0, "no timeout");
    cr_assert_eq(info().retransmits, 3);
}

/* S0 of ten is lost; the inflated window sends new data during recovery. The full ACK
 * leaves 11680 bytes in flight: cwnd = ssthresh (7300), and no burst follows it. */
Test(newreno, full_ack_with_data_in_flight_exits_at_ssthresh_without_a_burst, .fini = stop)
{
    open_at(0, 100);
    send_segs(20, 10);
    for (int i = 0; i < 3; i++)
        ack_at(200 + (uint64_t)i, S(0)); /* S1, S2, S3 */
    expect_data(S(0), MSS);
    cr_assert_eq(info().ssthresh, 7300); /* FlightSize 14600 / 2 */
    cr_assert_eq(info().cwnd, 7300 + 3 * 1460);
    for (int i = 0; i < 6; i++)
        ack_at(203 + (uint64_t)i, S(0)); /* S4..S9 */
    /* cwnd 11680 + 6 * 1460 = 20440: SND.UNA + 20440 = S(14), four new segments */
    cr_assert_eq(info().cwnd, 20440);
    for (int i = 10; i < 14; i++)
        expect_data(S(i), MSS);
    expect_none();
    for (int i = 0; i < 4; i++)
        ack_at(300 + (uint64_t)i, S(0)); /* S10..S13 arrive beyond the hole */
    cr_assert_eq(info().cwnd, 20440 + 4 * 1460);
    for (int i = 14; i < 18; i++)
        expect_data(S(i), MSS);
    expect_none();
    /* the retransmitted S0 arrives: everything up to recover = S(10) is acknowledged */
    ack_at(310, S(10));
    cr_assert_eq(info().cwnd, 7300, "min(7300, 11680 + 1460)");
    expect_none(); /* 11680 in flight > cwnd */
    cr_assert_eq(stats()->tcp_recoveries, 1);
    cr_assert_eq(stats()->tcp_partial_acks, 0);
    /* congestion avoidance from here, counting bytes (RFC 3465): one SMSS once a whole
     * cwnd (7300 bytes, five segments) has been acknowledged, not a fraction per ACK */
    for (int i = 11; i < 15; i++) {
        ack_at(400 + (uint64_t)i, S(i));
        cr_assert_eq(info().cwnd, 7300, "%u bytes counted", (unsigned)(i - 10) * MSS);
    }
    ack_at(415, S(15));
    cr_assert_eq(info().cwnd, 7300 + 1460);
}

/* RFC 3465 in slow start: an ACK of several segments grows cwnd by at most L = 2 SMSS,
 * and by 1 SMSS in the slow start after a timeout (§2.3). */
Test(newreno, byte_counting_limits_slow_start_growth_per_ack, .fini = stop)
{
    open_at(0, 100);
    send_segs(10, 10);
    ack_at(200, S(4)); /* four segments at once: + 2 SMSS, not 4 */
    cr_assert_eq(info().cwnd, 14600 + 2 * 1460);
    ack_at(201, S(5)); /* one segment: + its bytes */
    cr_assert_eq(info().cwnd, 14600 + 3 * 1460);
}

/* After a timeout, recover = SND.MAX: duplicate ACKs from the window being resent start
 * no fast retransmit; three duplicates of an ACK beyond recover do. Conventional RTO
 * recovery (go-back-N at once): F-RTO, which would send new data first, is test_frto.c's. */
Test(newreno, no_fast_retransmit_below_recover_after_an_rto, .fini = stop)
{
    open_at(0, 100);
    E->st->cfg.frto = false;
    send_segs(20, 10);
    /* S0 and S1 lost, the duplicate ACKs for S2..S9 lost too: the RTO fires */
    cr_assert_eq(stack_next_deadline(E->st), 400);
    th_poll(E, 400);
    expect_data(S(0), MSS);
    cr_assert_eq(info().cwnd, 1460);
    cr_assert_eq(info().ssthresh, 7300);
    cr_assert_eq(info().rto_ms, 600);
    ack_at(500, S(1)); /* S0 arrived; S1 still missing */
    cr_assert_eq(info().cwnd, 2920);
    expect_data(S(1), MSS); /* go-back-N within cwnd */
    expect_data(S(2), MSS);
    expect_none();
    /* three duplicates of S(1) from the old window (late ACKs of S2..S4) */
    for (int i = 0; i < 3; i++)
        ack_at(510 + (uint64_t)i, S(1));
    expect_none();
    cr_assert_eq(stats()->tcp_fast_retransmits, 0);
    cr_assert_eq(stats()->tcp_fast_retransmit_held, 1);
    cr_assert_eq(info().cwnd, 2920, "cwnd untouched");
    /* S1 arrives: everything sent before the timeout is acknowledged */
    ack_at(600, S(10));
    cr_assert_eq(info().cwnd, 4380);
    for (int i = 10; i < 13; i++)
        expect_data(S(i), MSS);
    ack_at(700, S(11)); /* beyond recover */
    cr_assert_eq(info().cwnd, 5840);
    expect_data(S(13), MSS);
    expect_data(S(14), MSS);
    expect_none();
    /* S11 lost, S12..S14 arrive: a new loss, so a fast retransmit */
    for (int i = 0; i < 3; i++)
        ack_at(710 + (uint64_t)i, S(11));
    expect_data(S(11), MSS);
    cr_assert_eq(stats()->tcp_fast_retransmits, 1);
    cr_assert_eq(info().ssthresh, 2920); /* FlightSize S(15) - S(11) = 5840, halved */
    cr_assert_eq(info().cwnd, 2920 + 3 * 1460);
}

/* After a full ACK, a new loss whose duplicate ACKs carry an ACK beyond recover starts
 * a new recovery (recover trails the cumulative ACK outside recovery). */
Test(newreno, new_loss_beyond_recover_starts_a_new_recovery, .fini = stop)
{
    open_at(0, 100);
    send_segs(10, 10);
    for (int i = 0; i < 3; i++)
        ack_at(200 + (uint64_t)i, S(0));
    expect_data(S(0), MSS);
    ack_at(300, S(10)); /* full ACK, recover was S(10) */
    cr_assert_eq(info().cwnd, 2920);
    cr_assert_eq(stack_next_deadline(E->st), STACK_TIME_NEVER);
    /* new data: two segments of cwnd 2920 */
    cr_assert_eq(stack_tcp_send(E->st, H, D + 10 * MSS, 6 * MSS, 300), (long)(6 * MSS));
    expect_data(S(10), MSS);
    expect_data(S(11), MSS);
    expect_none();
    ack_at(400, S(11)); /* beyond recover: recover trails to S(11) - 1 */
    expect_data(S(12), MSS);
    expect_data(S(13), MSS);
    /* S11 lost; three duplicates of S(11) */
    ack_at(500, S(11));
    ack_at(501, S(11));
    ack_at(502, S(11));
    expect_data(S(11), MSS);
    cr_assert_eq(stats()->tcp_fast_retransmits, 2);
    cr_assert_eq(stats()->tcp_recoveries, 1);
}

/* RFC 6298 (2.4): the RTO never goes below rto_min (200 ms by default); a timeout's
 * backoff stays until a new valid sample, which clears it (Karn: not from the
 * retransmitted segment). */
Test(newreno, rto_floor_default_200_and_backoff_cleared_by_a_sample, .fini = stop)
{
    open_at(0, 10); /* R = 10: 10 + 4 * 5 = 30, raised to the floor */
    cr_assert_eq(info().srtt_ms, 10);
    cr_assert_eq(info().rto_ms, 200);
    cr_assert_eq(stack_tcp_send(E->st, H, D, 100, 10), 100);
    expect_data(S(0), 100);
    cr_assert_eq(stack_next_deadline(E->st), 10 + 200);
    th_poll(E, 210);
    expect_data(S(0), 100);
    cr_assert_eq(info().rto_ms, 400);
    th_poll(E, 610);
    expect_data(S(0), 100);
    cr_assert_eq(info().rto_ms, 800);
    ack_at(620, S(0) + 100); /* acks a retransmission: no sample, the backoff stays */
    cr_assert_eq(info().srtt_ms, 10);
    cr_assert_eq(info().rto_ms, 800);
    cr_assert_eq(stack_tcp_send(E->st, H, D + 100, 100, 700), 100);
    expect_data(S(0) + 100, 100);
    cr_assert_eq(stack_next_deadline(E->st), 700 + 800);
    ack_at(720, S(0) + 200); /* a fresh segment, R = 20 */
    /* RTTVAR = (3*5 + 10)/4 = 6, SRTT = (7*10 + 20)/8 = 11: 11 + 24 = 35, floor 200 */
    cr_assert_eq(info().srtt_ms, 11);
    cr_assert_eq(info().rto_ms, 200, "backoff cleared");
}

Test(newreno, rto_min_option_lowers_the_floor, .fini = stop)
{
    open_at(50, 10); /* --rto-min 50: 10 + 4 * 5 = 30 is raised to 50 only */
    cr_assert_eq(info().rto_ms, 50);
    cr_assert_eq(stack_tcp_send(E->st, H, D, 100, 10), 100);
    expect_data(S(0), 100);
    cr_assert_eq(stack_next_deadline(E->st), 60);
    th_poll(E, 60);
    expect_data(S(0), 100);
    cr_assert_eq(info().rto_ms, 100);
}
