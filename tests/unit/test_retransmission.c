/* Two engines over a simulated lossy link (virtual time), and the exact RFC 6298
 * behaviour of the retransmission timer. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tcp.h"
#include "tcp_harness.h"

#define A_ADDR TH_ADDR(10, 0, 0, 1)
#define B_ADDR TH_ADDR(10, 0, 0, 2)

struct side {
    struct th_engine *e;
    int h;
    uint64_t sent, rcvd; /* bytes */
    uint32_t seed_out, seed_in;
    bool eof, closed;
};

static void pump(struct side *s, uint64_t total, uint64_t now)
{
    if (s->h <= 0) return;
    th_pump_send(s->e, s->h, s->seed_out, total, &s->sent, now);
    if (th_pump_recv(s->e, s->h, s->seed_in, &s->rcvd, now)) s->eof = true;
}

static void count_cb(void *arg, const struct stack_conn_info *ci)
{
    if (ci->state != TCP_LISTEN) (*(size_t *)arg)++;
}

static size_t live_tcbs(struct stack *st)
{
    size_t n = 0;
    stack_tcp_foreach(st, count_cb, &n);
    return n;
}

/* Handshake, total bytes each way, simultaneous close; returns the virtual time used. */
static uint64_t run_transfer(unsigned loss, unsigned dup, unsigned reorder, uint64_t seed,
                             uint64_t total, uint64_t limit_ms)
{
    struct stack_config ca, cb;
    th_config(&ca, A_ADDR);
    th_config(&cb, B_ADDR);
    cb.isn_secret[0] ^= 0x55;
    ca.rto_min_ms = cb.rto_min_ms = 200;
    ca.rto_initial_ms = cb.rto_initial_ms = 200;
    ca.rto_max_ms = cb.rto_max_ms = 2000;
    ca.syn_retries = cb.syn_retries = 30;
    ca.max_retries = cb.max_retries = 30;
    ca.msl_ms = cb.msl_ms = 1000;
    struct th_engine *a = th_new(&ca, false), *b = th_new(&cb, false);
    struct th_link_cfg lc = {.seed = seed,
                             .loss_pct = loss,
                             .dup_pct = dup,
                             .reorder_pct = reorder,
                             .delay_ms = 5,
                             .jitter_ms = 8};
    struct th_link *l = th_link_new(a, b, &lc);
    int lh = stack_tcp_listen(b->st, 80, 16);
    cr_assert_gt(lh, 0);
    struct side sa = {.e = a, .seed_out = 1, .seed_in = 2};
    struct side sb = {.e = b, .seed_out = 2, .seed_in = 1};
    sa.h = stack_tcp_connect(a->st, B_ADDR, 80, 0, 0);
    cr_assert_gt(sa.h, 0);
    bool closing = false;
    while (th_link_step(l, limit_ms)) {
        uint64_t now = th_link_now(l);
        if (sb.h <= 0) {
            int h = stack_tcp_accept(b->st, lh);
            if (h > 0) sb.h = h;
        }
        pump(&sa, total, now);
        pump(&sb, total, now);
        if (!closing && sa.rcvd == total && sb.rcvd == total) {
            /* both sides close at the same moment */
            cr_assert_eq(stack_tcp_close(a->st, sa.h, now), 0);
            cr_assert_eq(stack_tcp_close(b->st, sb.h, now), 0);
            sa.h = sb.h = 0;
            closing = true;
        }
        if (closing && live_tcbs(a->st) == 0 && live_tcbs(b->st) == 0) break;
    }
    uint64_t t = th_link_now(l);
    if (!closing) {
        struct stack_conn_info ia, ib;
        memset(&ia, 0, sizeof ia);
        memset(&ib, 0, sizeof ib);
        stack_tcp_info(a->st, sa.h, &ia);
        stack_tcp_info(b->st, sb.h, &ib);
        cr_log_error("a: %s una=%u nxt=%u wnd=%u rcv_nxt=%u rcv_wnd=%u sq=%u rq=%u err=%d | b: %s "
                     "una=%u nxt=%u wnd=%u rcv_nxt=%u rcv_wnd=%u sq=%u rq=%u err=%d",
                     tcp_state_name(ia.state), ia.snd_una, ia.snd_nxt, ia.snd_wnd, ia.rcv_nxt,
                     ia.rcv_wnd, ia.send_queue, ia.recv_queue, stack_sock_error(a->st, sa.h),
                     tcp_state_name(ib.state), ib.snd_una, ib.snd_nxt, ib.snd_wnd, ib.rcv_nxt,
                     ib.rcv_wnd, ib.send_queue, ib.recv_queue, stack_sock_error(b->st, sb.h));
    }
    cr_assert(closing, "transfer incomplete at %llu ms (loss %u seed %llu): a got %llu b got %llu",
              (unsigned long long)t, loss, (unsigned long long)seed, (unsigned long long)sa.rcvd,
              (unsigned long long)sb.rcvd);
    cr_assert_eq(live_tcbs(a->st), 0, "a still has connections at %llu", (unsigned long long)t);
    cr_assert_eq(live_tcbs(b->st), 0);
    cr_assert_eq(stack_sock_error(a->st, sa.h), -EBADF);
    th_link_free(l);
    th_free(a);
    th_free(b);
    return t;
}

#define MiB (1024 * 1024)

Test(transfer, clean_link)
{
    run_transfer(0, 0, 0, 1, MiB, 60000);
}

static void lossy(unsigned loss, uint64_t seed)
{
    uint64_t t = run_transfer(loss, loss ? 2 : 0, loss ? 10 : 0, seed, MiB, 3600 * 1000);
    cr_log_info("loss %u%% seed %llu: %llu ms virtual", loss, (unsigned long long)seed,
                (unsigned long long)t);
}

Test(transfer, loss_0)
{
    for (uint64_t s = 1; s <= 3; s++)
        lossy(0, s);
}
Test(transfer, loss_10)
{
    for (uint64_t s = 1; s <= 3; s++)
        lossy(10, s);
}
Test(transfer, loss_30)
{
    for (uint64_t s = 1; s <= 3; s++)
        lossy(30, s);
}
Test(transfer, loss_50)
{
    for (uint64_t s = 1; s <= 3; s++)
        lossy(50, s);
}

/* ---- exact RFC 6298 behaviour against crafted segments ---- */

#define ISS 1000u
#define PISN 7000u

static struct th_engine *one(uint32_t rto_max, uint32_t max_retries)
{
    struct stack_config cfg;
    th_config(&cfg, TH_US);
    if (rto_max) cfg.rto_max_ms = rto_max;
    if (max_retries) cfg.max_retries = max_retries;
    struct th_engine *e = th_new(&cfg, true);
    tcp_test_set_isn(e->st, ISS);
    return e;
}

/* Polls at each deadline until n segments came out; returns their send times. */
static void collect(struct th_engine *e, int n, uint64_t *times, struct th_out *o)
{
    for (int i = 0; i < n; i++) {
        uint64_t d = stack_next_deadline(e->st);
        cr_assert_neq(d, STACK_TIME_NEVER, "no timer armed after %d segments", i);
        th_poll(e, d);
        cr_assert(th_pop(e, o), "nothing sent at %llu", (unsigned long long)d);
        times[i] = d;
    }
}

Test(rto, lost_syn_backoff_1_2_4_then_etimedout)
{
    struct th_engine *e = one(0, 0);
    static struct th_out o;
    int h = stack_tcp_connect(e->st, TH_PEER, 80, 5555, 0);
    cr_assert(th_pop(e, &o) && o.flags == THF_SYN);
    uint64_t t[6];
    collect(e, 6, t, &o);
    uint64_t want[6] = {1000, 3000, 7000, 15000, 31000, 63000};
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(t[i], want[i], "retransmission %d at %llu", i, (unsigned long long)t[i]);
    }
    cr_assert_eq(o.flags, THF_SYN);
    cr_assert_eq(o.seq, ISS);
    cr_assert(th_has_line(e, "[TCP ] retransmit seq=1000 len=0 rto=2000ms attempt=2"));
    cr_assert(th_has_line(e, "[TCP ] retransmit seq=1000 len=0 rto=4000ms attempt=3"));
    /* syn_retries = 6 used: the next expiry (capped at 60 s) aborts */
    cr_assert_eq(stack_next_deadline(e->st), 63000 + 60000);
    th_poll(e, 123000);
    cr_assert_eq(th_pending(e), 0);
    cr_assert_eq(stack_sock_error(e->st, h), ETIMEDOUT);
    cr_assert_eq(th_count_events(e, h, SEV_ERROR), 1);
    char b[4];
    cr_assert_eq(stack_tcp_recv(e->st, h, b, 4, 123000), -ETIMEDOUT);
    cr_assert_eq(stack_stats(e->st)->tcp_timeouts, 1);
    cr_assert_eq(stack_stats(e->st)->tcp_retransmits, 6);
    th_free(e);
}

Test(rto, backoff_capped_at_rto_max)
{
    struct th_engine *e = one(4000, 0);
    static struct th_out o;
    stack_tcp_connect(e->st, TH_PEER, 80, 5555, 0);
    th_pop(e, &o);
    uint64_t t[5];
    collect(e, 5, t, &o);
    uint64_t want[5] = {1000, 3000, 7000, 11000, 15000};
    for (int i = 0; i < 5; i++)
        cr_assert_eq(t[i], want[i], "retransmission %d at %llu", i, (unsigned long long)t[i]);
    th_free(e);
}

/* An established connection (active open, the SYN-ACK after 100 ms). */
static int established(struct th_engine *e)
{
    struct th_open o = {.iss = ISS, .pisn = PISN, .synack_at = 100};
    int h = th_establish(e, &o);
    struct stack_conn_info ci = th_info(e, h);
    /* RFC 6298 (2.2): SRTT = R = 100, RTTVAR = 50, RTO = 100 + 4*50 = 300 (above the
     * 200 ms floor) */
    cr_assert_eq(ci.srtt_ms, 100);
    cr_assert_eq(ci.rto_ms, 300);
    return h;
}

static void ack_from_peer(struct th_engine *e, uint32_t ack)
{
    th_peer_ack(e, e->now, ack);
}

Test(rto, karn_no_sample_from_retransmitted_segment_and_backoff_sticks)
{
    struct th_engine *e = one(0, 0);
    static struct th_out o;
    int h = established(e);
    cr_assert_eq(stack_tcp_send(e->st, h, "abc", 3, 100), 3);
    cr_assert(th_pop(e, &o) && o.len == 3);
    cr_assert_eq(stack_next_deadline(e->st), 100 + 300);
    th_poll(e, 400);
    cr_assert(th_pop(e, &o) && o.len == 3 && o.seq == ISS + 1, "retransmitted");
    cr_assert(th_has_line(e, "[TCP ] retransmit seq=1001 len=3 rto=600ms attempt=2"));
    e->now = 450;
    ack_from_peer(e, ISS + 4);
    struct stack_conn_info ci;
    stack_tcp_info(e->st, h, &ci);
    cr_assert_eq(ci.srtt_ms, 100, "Karn: the ACK of a retransmission gives no sample");
    cr_assert_eq(ci.rto_ms, 600, "the backoff sticks until a new sample");
    cr_assert_eq(stack_next_deadline(e->st), STACK_TIME_NEVER, "all acked: timer stopped");
    /* a fresh segment acked 300 ms later gives a sample and recomputes the RTO */
    stack_tcp_send(e->st, h, "d", 1, 500);
    th_pop(e, &o);
    cr_assert_eq(stack_next_deadline(e->st), 500 + 600);
    e->now = 800;
    ack_from_peer(e, ISS + 5);
    stack_tcp_info(e->st, h, &ci);
    /* RTTVAR = 3/4*50 + 1/4*|100-300| = 87, SRTT = 7/8*100 + 300/8 = 125 */
    cr_assert_eq(ci.srtt_ms, 125);
    cr_assert_eq(ci.rto_ms, 473, "125 + 4*87: the backoff is gone, no floor applies");
    th_free(e);
}

Test(rto, timer_restarted_on_new_ack_and_stopped_when_all_acked)
{
    struct th_engine *e = one(0, 0);
    static struct th_out o;
    int h = established(e);
    static uint8_t d[3000];
    cr_assert_eq(stack_tcp_send(e->st, h, d, 2920, 100), 2920);
    cr_assert(th_pop(e, &o) && o.len == 1460);
    cr_assert(th_pop(e, &o) && o.len == 1460);
    cr_assert_eq(stack_next_deadline(e->st), 100 + 300);
    e->now = 250;
    ack_from_peer(e, ISS + 1 + 1460); /* new data acked: restart at now + RTO */
    /* the sample R = 150: RTTVAR = (3*50 + 50)/4 = 50, SRTT = (7*100 + 150)/8 = 106,
     * RTO = 106 + 200 = 306 */
    cr_assert_eq(stack_next_deadline(e->st), 250 + 306);
    e->now = 300;
    ack_from_peer(e, ISS + 1 + 1460); /* a duplicate ACK does not restart it */
    cr_assert_eq(stack_next_deadline(e->st), 556);
    ack_from_peer(e, ISS + 1 + 2920);
    cr_assert_eq(stack_next_deadline(e->st), STACK_TIME_NEVER);
    th_free(e);
}

Test(rto, etimedout_after_max_retries_of_data)
{
    struct th_engine *e = one(0, 3);
    static struct th_out o;
    int h = established(e);
    stack_tcp_send(e->st, h, "x", 1, 100);
    th_pop(e, &o);
    uint64_t t[3];
    collect(e, 3, t, &o);
    /* RTO 300 from the handshake's sample, doubled at each expiry */
    cr_assert_eq(t[0], 100 + 300);
    cr_assert_eq(t[1], 400 + 600);
    cr_assert_eq(t[2], 1000 + 1200);
    cr_assert(th_has_line(e, "[TCP ] retransmit seq=1001 len=1 rto=2400ms attempt=4"));
    cr_assert_eq(stack_next_deadline(e->st), 2200 + 2400);
    th_poll(e, 4600);
    cr_assert_eq(th_pending(e), 0);
    cr_assert_eq(stack_sock_error(e->st, h), ETIMEDOUT);
    cr_assert_eq(th_count_events(e, h, SEV_ERROR), 1);
    cr_assert_eq(stack_tcp_send(e->st, h, "y", 1, 4600), -EPIPE);
    th_free(e);
}

Test(rto, fast_retransmit_on_third_duplicate_ack)
{
    struct th_engine *e = one(0, 0);
    static struct th_out o;
    int h = established(e);
    static uint8_t d[5 * 1460];
    stack_tcp_send(e->st, h, d, sizeof d, 100);
    for (int i = 0; i < 5; i++)
        cr_assert(th_pop(e, &o));
    for (int i = 0; i < 2; i++)
        ack_from_peer(e, ISS + 1);
    cr_assert_eq(th_pending(e), 0);
    ack_from_peer(e, ISS + 1);
    cr_assert(th_pop(e, &o), "third duplicate ACK: retransmit");
    cr_assert_eq(o.seq, ISS + 1);
    cr_assert_eq(o.len, 1460);
    cr_assert_eq(stack_stats(e->st)->tcp_fast_retransmits, 1);
    cr_assert_eq(stack_stats(e->st)->tcp_dup_acks_rx, 3);
    th_free(e);
}
