/* The sender side of RFC 1122 4.2.3.4: Nagle's algorithm (RFC 896, Minshall's form) on by
 * default, stack_tcp_set_nodelay to turn it off, sender SWS avoidance; and the request/
 * response latency it must not spoil (virtual time, two engines over a delayed link).
 *
 * Crafted-segment tests: active open at t=0, SYN-ACK at t=100 (MSS 1460, window 65535). */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "tcp.h"
#include "tcp_harness.h"

#define ISS 1000u
#define PISN 7000u
#define MSS 1460u

static struct th_engine *E;
static struct th_out O;
static int H;
static uint8_t D[20 * MSS];

static void open_wnd(uint16_t wnd)
{
    struct stack_config cfg;
    th_config(&cfg, TH_US);
    E = th_new(&cfg, false);
    for (size_t i = 0; i < sizeof D; i++)
        D[i] = (uint8_t)(i * 13 + 1);
    struct th_open o = {.iss = ISS, .pisn = PISN, .synack_at = 100, .wnd = wnd};
    H = th_establish(E, &o);
}

static void open_default(void)
{
    open_wnd(65535);
}

static void stop(void)
{
    th_free(E);
}

static void ack(uint32_t a, uint16_t wnd)
{
    struct th_ack k = {.ack = a, .wnd = wnd};
    th_peer_send(E, E->now, &k);
}

/* off = byte offset of the data in D */
static void send_at(uint32_t off, uint32_t len)
{
    cr_assert_eq(stack_tcp_send(E->st, H, D + off, len, E->now), (long)len);
}

static void expect(uint32_t off, uint32_t len)
{
    th_expect_data(E, &O, ISS + 1 + off, len, D, ISS + 1);
}

static void expect_none(void)
{
    th_expect_none(E);
}

static uint64_t held(void)
{
    return stack_stats(E->st)->tcp_small_held;
}

/* A short segment goes at once; a second one waits for the first one's ACK, then
 * everything written meanwhile goes as one segment. */
Test(nagle, second_short_segment_waits_for_the_ack, .init = open_default, .fini = stop)
{
    send_at(0, 10);
    expect(0, 10);
    send_at(10, 20);
    send_at(30, 30);
    expect_none();
    cr_assert_eq(held(), 2);
    E->now = 200;
    ack(ISS + 11, 65535);
    expect(10, 50); /* coalesced */
    expect_none();
}

/* Minshall's form: the tail of a large write goes at once when no short segment is out;
 * the next short write waits for the tail's ACK, not for all the full segments. */
Test(nagle, tail_of_a_large_write_is_not_held, .init = open_default, .fini = stop)
{
    send_at(0, 3000);
    expect(0, MSS);
    expect(MSS, MSS);
    expect(2 * MSS, 80);
    send_at(3000, 10);
    expect_none();
    ack(ISS + 1 + MSS, 65535); /* the short tail is still out */
    expect_none();
    ack(ISS + 1 + 3000, 65535);
    expect(3000, 10);
}

/* Full segments never wait, even behind an unacknowledged short one. */
Test(nagle, full_segments_go_behind_a_short_one, .init = open_default, .fini = stop)
{
    send_at(0, 10);
    expect(0, 10);
    send_at(10, MSS + 5);
    expect(10, MSS);
    expect_none(); /* the 5 left wait */
    ack(ISS + 11 + MSS, 65535);
    expect(10 + MSS, 5);
}

Test(nagle, nodelay_sends_every_write_and_flushes_what_was_held, .init = open_default, .fini = stop)
{
    send_at(0, 10);
    expect(0, 10);
    send_at(10, 10);
    expect_none();
    cr_assert_eq(stack_tcp_set_nodelay(E->st, H, true), 0);
    expect(10, 10); /* turning Nagle off pushes what it held */
    send_at(20, 10);
    expect(20, 10);
    cr_assert_eq(stack_tcp_set_nodelay(E->st, 9999, true), -EBADF);
    cr_assert_eq(stack_tcp_set_nodelay(E->st, H, false), 0);
    send_at(30, 10);
    expect_none();
}

/* A FIN is never held: close() sends the short tail with the FIN at once. */
Test(nagle, fin_rides_at_once, .init = open_default, .fini = stop)
{
    send_at(0, 10);
    expect(0, 10);
    send_at(10, 10);
    expect_none();
    cr_assert_eq(stack_tcp_shutdown(E->st, H, E->now), 0);
    expect(10, 10);
    cr_assert(O.flags & THF_FIN);
}

/* Sender SWS avoidance: with data in flight, a piece of window under half the largest
 * window offered waits; half or more goes; with nothing in flight anything goes (the
 * override: no ACK would come to send it later). */
Test(nagle, sender_sws_avoidance, .init = open_default, .fini = stop)
{
    /* the peer's largest window is 65535: half is 32767 */
    send_at(0, 20 * MSS);
    for (uint32_t i = 0; i < 10; i++) /* IW10 */
        expect(i * MSS, MSS);
    expect_none();
    /* acks one segment but offers only 1000 bytes beyond SND.UNA + 9 * MSS in flight:
     * the window is full, nothing to do */
    ack(ISS + 1 + MSS, (uint16_t)(9 * MSS + 1000));
    expect_none();
    cr_assert_gt(held(), 0, "a 1000-byte piece of window, data in flight");
    /* everything acknowledged, the window still 1000: nothing in flight, so it goes */
    ack(ISS + 1 + 10 * MSS, 1000);
    expect(10 * MSS, 1000);
    expect_none();
}

/* ---- latency over a link: two engines, 10 ms each way ---- */

struct rr {
    struct th_engine *a, *b;
    struct th_link *l;
    int ha, hb, lh;
};

static void rr_open(struct rr *r, bool nodelay_client)
{
    struct stack_config ca, cb;
    th_config(&ca, TH_ADDR(10, 0, 0, 1));
    th_config(&cb, TH_ADDR(10, 0, 0, 2));
    cb.isn_secret[0] ^= 0x55;
    r->a = th_new(&ca, false);
    r->b = th_new(&cb, false);
    struct th_link_cfg lc = {.seed = 3, .delay_ms = 10};
    r->l = th_link_new(r->a, r->b, &lc);
    r->lh = stack_tcp_listen(r->b->st, 80, 4);
    r->ha = stack_tcp_connect(r->a->st, TH_ADDR(10, 0, 0, 2), 80, 0, 0);
    if (nodelay_client) stack_tcp_set_nodelay(r->a->st, r->ha, true);
    r->hb = 0;
    while (r->hb <= 0 && th_link_step(r->l, 10000))
        r->hb = stack_tcp_accept(r->b->st, r->lh);
    cr_assert_gt(r->hb, 0);
    while (th_link_step(r->l, th_link_now(r->l) + 100)) /* the handshake settles */
        ;
}

static void rr_free(struct rr *r)
{
    th_link_free(r->l);
    th_free(r->a);
    th_free(r->b);
}

/* Runs until side e's handle h has n bytes readable; returns the virtual time. */
static uint64_t until_readable(struct rr *r, struct th_engine *e, int h, size_t n)
{
    while (stack_tcp_recv_avail(e->st, h) < n)
        cr_assert(th_link_step(r->l, th_link_now(r->l) + 10000), "stalled");
    return th_link_now(r->l);
}

/* A request written in one piece and a reply of more than one segment: one round trip
 * (10 ms each way) per exchange, Nagle on at both ends, no delayed-ACK wait (the reply
 * carries the ACK; the reply's short tail is not held behind its full segment). */
Test(nagle_link, request_response_costs_one_round_trip)
{
    struct rr r;
    rr_open(&r, false);
    uint8_t buf[4096];
    for (int i = 0; i < 10; i++) {
        uint64_t t0 = th_link_now(r.l);
        cr_assert_eq(stack_tcp_send(r.a->st, r.ha, D, 100, t0), 100);
        until_readable(&r, r.b, r.hb, 100);
        cr_assert_eq(stack_tcp_recv(r.b->st, r.hb, buf, sizeof buf, th_link_now(r.l)), 100);
        cr_assert_eq(stack_tcp_send(r.b->st, r.hb, D, 2000, th_link_now(r.l)), 2000);
        uint64_t t1 = until_readable(&r, r.a, r.ha, 2000);
        cr_assert_eq(stack_tcp_recv(r.a->st, r.ha, buf, sizeof buf, t1), 2000);
        cr_assert_eq(t1 - t0, 10 + 10, "exchange %d took %llu ms", i,
                     (unsigned long long)(t1 - t0));
    }
    rr_free(&r);
}

/* A request written in two short pieces: with Nagle the second waits for the first
 * one's ACK, which the server delays (40 ms): the classic stall that TCP_NODELAY
 * removes. */
Test(nagle_link, two_piece_request_waits_for_the_delayed_ack_unless_nodelay)
{
    for (int nd = 0; nd < 2; nd++) {
        struct rr r;
        rr_open(&r, nd == 1);
        uint64_t t0 = th_link_now(r.l);
        cr_assert_eq(stack_tcp_send(r.a->st, r.ha, D, 50, t0), 50);
        cr_assert_eq(stack_tcp_send(r.a->st, r.ha, D + 50, 50, t0), 50);
        uint64_t t1 = until_readable(&r, r.b, r.hb, 100);
        if (nd)
            cr_assert_eq(t1 - t0, 10, "TCP_NODELAY: both pieces in one trip");
        else
            cr_assert_eq(t1 - t0, 10 + TCP_DELACK_MS + 10 + 10,
                         "Nagle: the second piece after the delayed ACK, %llu ms",
                         (unsigned long long)(t1 - t0));
        rr_free(&r);
    }
}
