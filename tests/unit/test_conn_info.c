/* stack_tcp_info: the per-connection figures `minitcpctl connections` shows (like
 * `ss -ti`), exact after crafted segments in virtual time, and the control module's
 * record carrying them.
 *
 * Active open at t=0, the SYN-ACK at t=100 (MSS 1460, window 65535): SRTT = 100,
 * RTTVAR = 50, RTO = 300, cwnd = 10 * 1460. Segment i starts at S(i) = 1001 + 1460 * i.
 *
 * Fields another mechanism fills (sacked, lost, reord_seen, sack_ok: SACK/RACK; ts_ok:
 * timestamps) are asserted 0/false here while those mechanisms are absent from this
 * handshake (no SACK-permitted or timestamp option offered); delivery_rate has its own
 * test. */
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
static uint8_t D[10 * MSS];
static uint8_t SYN_WS; /* the window scale our SYN offered */

static void open_with(uint32_t cc, const uint8_t *opt, size_t optlen)
{
    struct stack_config cfg;
    th_config(&cfg, TH_US);
    cfg.cc = cc;
    E = th_new(&cfg, true);
    tcp_test_set_isn(E->st, ISS);
    H = stack_tcp_connect(E->st, TH_PEER, 80, 5555, 0);
    cr_assert(th_pop(E, &O) && O.flags == THF_SYN);
    cr_assert_geq(O.ws, 0, "our SYN offers window scaling");
    SYN_WS = (uint8_t)O.ws;
    E->now = 100;
    th_seg(E, &(struct th_spec){.sport = 80,
                                .dport = 5555,
                                .seq = PISN,
                                .ack = ISS + 1,
                                .flags = THF_SYN | THF_ACK,
                                .wnd = 65535,
                                .opt = opt,
                                .optlen = optlen});
    cr_assert(th_pop(E, &O) && O.flags == THF_ACK);
}

static void stop(void)
{
    th_free(E);
}

static struct stack_conn_info info(void)
{
    struct stack_conn_info ci;
    cr_assert_eq(stack_tcp_info(E->st, H, &ci), 0);
    return ci;
}

static void peer(uint64_t now, uint32_t seq, uint32_t ack, const void *data, size_t len)
{
    E->now = now;
    th_seg(E, &(struct th_spec){.sport = 80,
                                .dport = 5555,
                                .seq = seq,
                                .ack = ack,
                                .flags = THF_ACK,
                                .wnd = 65535,
                                .data = data,
                                .len = len});
}

Test(conn_info, newreno_fields_exact_through_a_window_and_a_duplicate, .fini = stop)
{
    static const uint8_t mss1460[4] = {2, 4, 0x05, 0xb4};
    open_with(STACK_CC_NEWRENO, mss1460, sizeof mss1460);
    struct stack_conn_info ci = info();
    cr_assert_eq(ci.state, TCP_ESTABLISHED);
    cr_assert_str_eq(ci.cc, "newreno");
    cr_assert_eq(ci.srtt_ms, 100);
    cr_assert_eq(ci.rttvar_ms, 50);
    cr_assert_eq(ci.rto_ms, 300);
    cr_assert_eq(ci.cwnd, 14600);
    cr_assert_eq(ci.ssthresh, UINT32_MAX, "no loss yet");
    cr_assert_eq(ci.in_flight, 0);
    cr_assert_eq(ci.retransmits, 0);
    cr_assert_not(ci.ws_ok, "the SYN-ACK had no window scale option");
    cr_assert_eq(ci.snd_wscale, 0);
    cr_assert_eq(ci.rcv_wscale, 0, "RFC 7323 2.2: no scaling either way");
    cr_assert_not(ci.sack_ok);
    cr_assert_not(ci.ts_ok);
    cr_assert_eq(ci.sacked + ci.lost + ci.reord_seen + ci.dup_segs_rcvd, 0);
    cr_assert_eq(ci.delivery_rate, 0);

    for (size_t i = 0; i < sizeof D; i++)
        D[i] = (uint8_t)(i * 7 + 3);
    cr_assert_eq(stack_tcp_send(E->st, H, D, sizeof D, E->now), (long)sizeof D);
    for (int i = 0; i < 10; i++)
        cr_assert(th_pop(E, &O) && O.seq == S(i) && O.len == MSS);
    cr_assert_eq(info().in_flight, 10 * MSS);
    /* S0 acknowledged at t=200: R = 100, RTTVAR = 3/4 * 50 + 1/4 * 0 = 37 (rounded down),
     * RTO = 100 + 4 * 37; slow start adds one SMSS */
    peer(200, PISN + 1, S(1), NULL, 0);
    ci = info();
    cr_assert_eq(ci.in_flight, 9 * MSS);
    cr_assert_eq(ci.srtt_ms, 100);
    cr_assert_eq(ci.rttvar_ms, 37);
    cr_assert_eq(ci.rto_ms, 248);
    cr_assert_eq(ci.cwnd, 14600 + MSS);

    /* 100 bytes from the peer, then the same 100 bytes again: one duplicate segment */
    static const char msg[100] = "the same hundred bytes";
    peer(210, PISN + 1, S(1), msg, sizeof msg);
    cr_assert_eq(info().dup_segs_rcvd, 0);
    peer(220, PISN + 1, S(1), msg, sizeof msg);
    cr_assert_eq(info().dup_segs_rcvd, 1);
    cr_assert_eq(stack_stats(E->st)->tcp_dup_segments, 1);
    /* an ACK of data never sent: ignored, counted, answered with an ACK */
    th_drop_out(E);
    peer(230, PISN + 101, S(11), NULL, 0);
    cr_assert_eq(stack_stats(E->st)->tcp_drop_ack_unsent, 1);
    cr_assert(th_pop(E, &O) && O.flags == THF_ACK && O.ack == PISN + 101);
    cr_assert_eq(info().in_flight, 9 * MSS, "nothing taken off by the bogus ACK");
}

Test(conn_info, window_scale_shifts_both_ways, .fini = stop)
{
    /* MSS 1460, NOP, window scale 7 */
    static const uint8_t opt[8] = {2, 4, 0x05, 0xb4, 1, 3, 3, 7};
    open_with(STACK_CC_CUBIC, opt, sizeof opt);
    struct stack_conn_info ci = info();
    cr_assert_str_eq(ci.cc, "cubic");
    cr_assert_eq(ci.cwnd, 14600, "IW10 (RFC 6928) whatever the algorithm");
    cr_assert(ci.ws_ok);
    cr_assert_eq(ci.snd_wscale, 7, "the peer's shift, applied to its windows");
    /* a 256 KiB receive buffer needs shift 3 to be offered in 16 bits */
    cr_assert_eq(SYN_WS, 3);
    cr_assert_eq(ci.rcv_wscale, 3, "our shift, as our SYN offered it");
    cr_assert_eq(ci.snd_wnd, 65535, "a SYN's window is never scaled");
    peer(110, PISN + 1, ISS + 1, NULL, 0);
    cr_assert_eq(info().snd_wnd, 65535u << 7, "window fields of later segments are");
}

/* delivery_rate (tcp_rate.c): bytes delivered over about one round trip. The window goes
 * at 100 with nothing in flight before it, so an interval opens there. */
Test(conn_info, delivery_rate_over_a_round_trip, .fini = stop)
{
    struct stack_config cfg;
    th_config(&cfg, TH_US);
    cfg.cc = STACK_CC_NEWRENO;
    E = th_new(&cfg, true);
    struct th_open o = {.iss = ISS, .pisn = PISN, .synack_at = 100};
    H = th_establish(E, &o);
    cr_assert_eq(info().delivery_rate, 0, "no sample yet");
    cr_assert_eq(stack_tcp_send(E->st, H, D, sizeof D, E->now), (long)sizeof D);
    th_drop_out(E);
    /* 5 segments at 200, SRTT (100) after the interval opened: 7300 B in 100 ms */
    th_peer_ack(E, 200, S(5));
    cr_assert_eq(info().delivery_rate, 73000);
    /* 3 more 50 ms later: under a round trip since the new interval opened, no sample */
    th_peer_ack(E, 250, S(8));
    cr_assert_eq(info().delivery_rate, 73000);
    /* the rest at 300: 5 segments in the 100 ms since 200 */
    th_peer_ack(E, 300, S(10));
    cr_assert_eq(info().in_flight, 0);
    cr_assert_eq(info().delivery_rate, 73000);
    /* a short exchange after idle: 100 bytes out at 1000 (flight empty), ACKed at 1040:
     * the flight emptied, so the sample ends there, shorter than SRTT */
    th_drop_out(E);
    E->now = 1000;
    cr_assert_eq(stack_tcp_send(E->st, H, D, 100, E->now), 100);
    th_peer_ack(E, 1040, S(10) + 100);
    cr_assert_eq(info().delivery_rate, 2500);
}
