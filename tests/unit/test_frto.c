/* F-RTO (RFC 5682, tcp_frto.c) against crafted ACKs in virtual time, timestamps off (so
 * F-RTO, not Eifel, decides). Active open at t=0, the SYN-ACK at t=100 (MSS 1460, window
 * 65535, SACK-permitted or not): SRTT 100, RTTVAR 50, RTO 300, NewReno, cwnd 14600,
 * ssthresh UINT32_MAX. 14 segments queued, 10 sent at t=100. Segment i starts at S(i). */
#include <criterion/criterion.h>
#include <string.h>

#include "tcp.h"
#include "tcp_harness.h"

#define PISN 7000u
#define MSS 1460u
#define ISS 1000u
#define S(i) (ISS + 1 + MSS * (uint32_t)(i))

static struct th_engine *E;
static struct th_out O;
static int H;
static uint8_t D[14 * MSS];

static void stop(void)
{
    th_free(E);
}

TestSuite(frto, .fini = stop);

static struct tcb *tcb(void)
{
    struct tcb *t = tcb_lookup(E->st, ipa_from_v4(TH_US), 5555, ipa_from_v4(TH_PEER), 80);
    cr_assert(t);
    return t;
}

static void ack_at(uint64_t now, uint32_t ack, int n, const uint32_t *blk)
{
    struct th_ack a = {.ack = ack, .nsack = n, .sack = blk};
    th_peer_send(E, now, &a);
}

static void expect_data(uint32_t seq)
{
    th_expect_data(E, &O, seq, MSS, D, S(0));
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

/* Opens, queues nseg segments (10 go out at t=100) and runs to the timeout: returns when
 * S0 has been resent. */
static void open_to_timeout(bool sack, uint32_t nseg)
{
    struct stack_config cfg;
    th_config(&cfg, TH_US);
    cfg.cc = STACK_CC_NEWRENO;
    cfg.timestamps = false;
    E = th_new(&cfg, true);
    for (size_t i = 0; i < sizeof D; i++)
        D[i] = (uint8_t)(i * 7 + 3);
    struct th_open o = {.iss = ISS, .pisn = PISN, .synack_at = 100, .sack = sack};
    H = th_establish(E, &o);
    cr_assert_eq(tcb()->sack_ok, sack);
    cr_assert(!tcb()->ts_ok);
    cr_assert_eq(info().cwnd, 14600);
    cr_assert_eq(stack_tcp_send(E->st, H, D, nseg * MSS, E->now), (long)(nseg * MSS));
    for (uint32_t i = 0; i < 10; i++)
        expect_data(S(i));
    expect_none();
    if (sack && nseg > 10) {
        th_poll(E, 300); /* RACK-TLP's probe (PTO 200) takes a new segment */
        expect_data(S(10));
        expect_none();
    }
    uint64_t rto_at = sack && nseg > 10 ? 600 : 400;
    th_poll(E, rto_at - 1);
    expect_none();
    th_poll(E, rto_at);
    expect_data(S(0));
    expect_none();
    cr_assert_eq(stats()->tcp_retransmits, 1);
    cr_assert_eq(info().cwnd, MSS, "the loss window");
    cr_assert_eq(tcb()->frto, TCP_FRTO_STEP2);
}

/* Without SACK: the delayed ACKs of the original window come after the timeout. */
Test(frto, spurious_timeout_without_sack_restores_the_window)
{
    open_to_timeout(false, 14);
    cr_assert_eq(info().ssthresh, 7300, "FlightSize 10 segments / 2");
    cr_assert_eq(tcb()->frto_recover, S(10));
    ack_at(410, S(1), 0, NULL); /* step 2b: two new segments, not S1 again */
    expect_data(S(10));
    expect_data(S(11));
    expect_none();
    cr_assert_eq(tcb()->frto, TCP_FRTO_STEP3);
    ack_at(420, S(2), 0, NULL); /* step 3b: S1 was never resent */
    cr_assert_eq(stats()->tcp_spurious_rtos_undone, 1);
    cr_assert_eq(info().cwnd, 14600, "cwnd restored exactly");
    cr_assert_eq(info().ssthresh, UINT32_MAX, "ssthresh restored exactly");
    cr_assert_eq(tcb()->snd_nxt, S(12), "new data next, no go-back-N");
    cr_assert_eq(tcb()->frto, TCP_FRTO_NONE);
    expect_none();              /* 10 segments out = cwnd */
    ack_at(430, S(3), 0, NULL); /* slow start again: cwnd 11 segments */
    cr_assert_eq(info().cwnd, 14600 + MSS);
    expect_data(S(12));
    expect_data(S(13));
    expect_none();
    cr_assert_eq(stats()->tcp_retransmits, 1);
}

/* Without SACK: the whole window was lost; the new segment draws a duplicate ACK. */
Test(frto, genuine_timeout_without_sack_goes_back_n)
{
    open_to_timeout(false, 14);
    ack_at(410, S(1), 0, NULL);
    expect_data(S(10));
    expect_data(S(11));
    expect_none();
    ack_at(420, S(1), 0, NULL); /* step 3a: a duplicate */
    cr_assert_eq(stats()->tcp_spurious_rtos_undone, 0);
    cr_assert_eq(info().cwnd, 2 * MSS, "slow start from the loss window, <= 3 SMSS");
    cr_assert_eq(info().ssthresh, 7300);
    expect_data(S(1)); /* go back N */
    expect_data(S(2));
    expect_none();
    cr_assert_eq(tcb()->frto, TCP_FRTO_NONE);
}

/* Step 2b's fallback: nothing new to send, so conventional go-back-N at once. */
Test(frto, no_new_data_means_conventional_recovery)
{
    open_to_timeout(false, 10);
    ack_at(410, S(1), 0, NULL);
    cr_assert_eq(tcb()->frto, TCP_FRTO_NONE);
    expect_data(S(1));
    expect_data(S(2));
    expect_none();
    cr_assert_eq(info().cwnd, 2 * MSS);
    cr_assert_eq(stats()->tcp_spurious_rtos_undone, 0);
}

/* With SACK (§4): the delayed ACKs after the timeout. */
Test(frto, spurious_timeout_with_sack_restores_the_window)
{
    open_to_timeout(true, 14);
    cr_assert_eq(info().ssthresh, 8030, "FlightSize 11 segments / 2");
    cr_assert_eq(tcb()->frto_recover, S(11));
    ack_at(610, S(1), 0, NULL);
    expect_data(S(11)); /* new data, not the segments the timeout marked lost */
    expect_data(S(12));
    expect_none();
    cr_assert_eq(tcb()->frto, TCP_FRTO_STEP3);
    ack_at(620, S(2), 0, NULL);
    cr_assert_eq(stats()->tcp_spurious_rtos_undone, 1);
    cr_assert_eq(info().cwnd, 14600);
    cr_assert_eq(info().ssthresh, UINT32_MAX);
    cr_assert_eq(info().lost, 0, "nothing marked lost any more");
    cr_assert(!tcb()->rack.rto_recovery);
    expect_none();
    cr_assert_eq(stats()->tcp_retransmits, 1);
}

/* With SACK, a duplicate ACK SACKing data below recover that was never resent is as
 * good as a cumulative ACK of it (§4 step 3b). */
Test(frto, sack_of_old_data_is_spurious_too)
{
    open_to_timeout(true, 14);
    ack_at(610, S(1), 0, NULL);
    expect_data(S(11));
    expect_data(S(12));
    expect_none();
    uint32_t blk[2] = {S(2), S(3)}; /* S1's ACK lost, S2's arrives */
    ack_at(620, S(1), 1, blk);
    cr_assert_eq(stats()->tcp_spurious_rtos_undone, 1);
    cr_assert_eq(info().cwnd, 14600);
    cr_assert_eq(info().ssthresh, UINT32_MAX);
}

/* With SACK: the window was lost; the new segment comes back SACKed above recover. */
Test(frto, genuine_timeout_with_sack_falls_back_to_sack_recovery)
{
    open_to_timeout(true, 14);
    ack_at(610, S(1), 0, NULL);
    expect_data(S(11));
    expect_data(S(12));
    expect_none();
    uint32_t blk[2] = {S(11), S(12)};
    ack_at(620, S(1), 1, blk);
    cr_assert_eq(stats()->tcp_spurious_rtos_undone, 0);
    cr_assert_eq(info().ssthresh, 8030);
    cr_assert_eq(info().cwnd, 2 * MSS);
    cr_assert_eq(info().lost, 9 * MSS, "S1..S10 lost again, S1 resent");
    expect_data(S(1)); /* pipe: S12 and S1 = cwnd */
    expect_none();
    cr_assert_eq(tcb()->frto, TCP_FRTO_NONE);
}

/* The retransmission comes back as a D-SACK before the next ACK: the D-SACK undo
 * (tcp_recovery.c) decides, once; F-RTO ends there and neither undoes nor counts again.
 * RACK took S0's ACK, 10 ms after the resend and so sooner than the handshake's 100 ms,
 * for the original's (RFC 8985 §6.2 step 2): no loss is seen in the old window. */
Test(frto, dsack_undo_first_is_not_undone_twice)
{
    open_to_timeout(true, 14);
    ack_at(610, S(1), 0, NULL);
    expect_data(S(11));
    expect_data(S(12));
    expect_none();
    cr_assert_eq(tcb()->frto, TCP_FRTO_STEP3);
    uint32_t d[2] = {S(0), S(1)};
    ack_at(615, S(1), 1, d);
    cr_assert_eq(stats()->tcp_dsacks_received, 1);
    cr_assert_eq(stats()->tcp_spurious_rtos_undone, 1);
    cr_assert_eq(tcb()->frto, TCP_FRTO_NONE);
    ack_at(620, S(2), 0, NULL);
    cr_assert_eq(stats()->tcp_spurious_rtos_undone, 1, "counted once");
    cr_assert_eq(tcb()->frto, TCP_FRTO_NONE);
    cr_assert_eq(stats()->tcp_rack_detections, 0);
    cr_assert_eq(stats()->tcp_sack_recoveries, 0);
    cr_assert_eq(info().ssthresh, UINT32_MAX);
    cr_assert_eq(info().cwnd, 14600 + MSS, "slow start from the restored window");
}

/* After a D-SACK undo, RACK must not take the resend's send time for the delivery time of
 * the original: the old window (sent at 100) would all look overdue against the resend's
 * (600) and a recovery would start at once, undoing the undo. Here the ACK of S0 comes
 * 110 ms after the resend, no sooner than the path's minimum RTT (100, the handshake's),
 * so RACK takes it first; the D-SACK then tells it was the original's. */
Test(frto, rack_forgets_a_dsacked_resend_after_the_undo)
{
    open_to_timeout(true, 14);
    ack_at(710, S(1), 0, NULL);
    expect_data(S(11));
    expect_data(S(12));
    expect_none();
    uint32_t d[2] = {S(0), S(1)};
    ack_at(715, S(1), 1, d);
    cr_assert_eq(stats()->tcp_spurious_rtos_undone, 1);
    cr_assert_eq(stats()->tcp_rack_detections, 0, "nothing of the old window is lost");
    cr_assert_eq(stats()->tcp_sack_recoveries, 0);
    cr_assert(!tcb()->in_recovery);
    cr_assert_eq(info().lost, 0);
    cr_assert_eq(info().cwnd, 14600);
    cr_assert_eq(info().ssthresh, UINT32_MAX);
    expect_none();
    /* the old window's ACKs come in: no loss, no recovery, slow start goes on */
    ack_at(720, S(3), 0, NULL);
    cr_assert_eq(stats()->tcp_rack_detections, 0);
    cr_assert_eq(stats()->tcp_sack_recoveries, 0);
    cr_assert_eq(info().cwnd, 14600 + 2 * MSS);
    cr_assert_eq(stats()->tcp_retransmits, 1);
}

/* RFC 5682 step 1: "already in RTO recovery AND recover >= SND.UNA": no F-RTO. After the
 * genuine verdict the go-back-N resend is under way (SND.UNA = S1 < recover = S10); a
 * timeout now (its retry count was reset by the ACK of S0) goes on conventionally. */
Test(frto, a_timeout_during_rto_recovery_does_not_restart_frto)
{
    open_to_timeout(false, 14);
    ack_at(410, S(1), 0, NULL);
    expect_data(S(10));
    expect_data(S(11));
    ack_at(420, S(1), 0, NULL); /* step 3a: genuine */
    expect_data(S(1));
    expect_data(S(2));
    expect_none();
    cr_assert_eq(tcb()->frto, TCP_FRTO_NONE);
    cr_assert_eq(tcb()->retries, 0);
    /* the RTO, backed off to 600 at the first timeout, restarted by the ACK at 410 */
    cr_assert_eq(stack_next_deadline(E->st), 1010);
    th_poll(E, 1010);
    expect_data(S(1));
    expect_none();
    cr_assert_eq(tcb()->frto, TCP_FRTO_NONE, "no F-RTO within the recovery");
    cr_assert_eq(info().cwnd, MSS, "the loss window");
    cr_assert_eq(stats()->tcp_retransmits, 2);
    /* its ACK goes on with go-back-N, not two new segments */
    ack_at(1020, S(2), 0, NULL);
    expect_data(S(2));
    expect_data(S(3));
    expect_none();
    cr_assert_eq(stats()->tcp_spurious_rtos_undone, 0);
}

/* A timeout during F-RTO (step 3 waiting) ends it; conventional recovery from there. */
Test(frto, a_timeout_in_step_3_ends_frto)
{
    open_to_timeout(false, 14);
    ack_at(410, S(1), 0, NULL);
    expect_data(S(10));
    expect_data(S(11));
    cr_assert_eq(tcb()->frto, TCP_FRTO_STEP3);
    cr_assert_eq(stack_next_deadline(E->st), 1010);
    th_poll(E, 1010);
    expect_data(S(1));
    expect_none();
    cr_assert_eq(tcb()->frto, TCP_FRTO_NONE);
    ack_at(1020, S(2), 0, NULL); /* would have been step 3b: spurious */
    cr_assert_eq(stats()->tcp_spurious_rtos_undone, 0);
    cr_assert_eq(tcb()->frto, TCP_FRTO_NONE);
}
