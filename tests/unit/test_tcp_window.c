/* Zero window: persist timer, one-byte probes with exponential backoff, never beyond the
 * offered window, resuming when the receiver reads; nothing lost or duplicated. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "tcp.h"
#include "tcp_harness.h"

#define ISS 1000u
#define PISN 7000u

static const uint8_t mss1460[4] = {2, 4, 0x05, 0xb4};

static void peer(struct th_engine *e, uint32_t ack, uint16_t wnd)
{
    struct th_spec s = {
        .sport = 80, .dport = 5555, .seq = PISN + 1, .ack = ack, .flags = THF_ACK, .wnd = wnd};
    th_seg(e, &s);
}

Test(window, zero_window_probes_back_off_and_resume)
{
    struct stack_config cfg;
    th_config(&cfg, TH_US);
    struct th_engine *e = th_new(&cfg, true);
    tcp_test_set_isn(e->st, ISS);
    static struct th_out o;
    int h = stack_tcp_connect(e->st, TH_PEER, 80, 5555, 0);
    th_pop(e, &o);
    struct th_spec s = {.sport = 80,
                        .dport = 5555,
                        .seq = PISN,
                        .ack = ISS + 1,
                        .flags = THF_SYN | THF_ACK,
                        .wnd = 2000,
                        .opt = mss1460,
                        .optlen = 4};
    th_seg(e, &s);
    th_pop(e, &o);
    static uint8_t d[5000];
    for (int i = 0; i < 5000; i++)
        d[i] = (uint8_t)(i * 7);
    cr_assert_eq(stack_tcp_send(e->st, h, d, sizeof d, 0), 5000);
    /* only the offered 2000 bytes may go out; the 540 left of the window wait while
     * 1460 bytes are in flight (sender SWS avoidance: under half the largest window) */
    cr_assert(th_pop(e, &o) && o.seq == ISS + 1 && o.len == 1460);
    cr_assert_eq(th_pending(e), 0);
    cr_assert_eq(stack_stats(e->st)->tcp_small_held, 1);
    /* acked with 540 bytes of window left: nothing in flight, so they go */
    peer(e, ISS + 1461, 540);
    cr_assert(th_pop(e, &o) && o.seq == ISS + 1461 && o.len == 540);
    cr_assert_eq(th_pending(e), 0);
    /* the receiver takes them and closes its window */
    peer(e, ISS + 2001, 0);
    cr_assert_eq(th_pending(e), 0);
    /* probes: 1 byte of new data, intervals doubling from the RTO (the 200 ms floor: the
     * handshake's RTT sample is 0) */
    uint64_t at = 0, prev = 0;
    uint64_t want_gap[4] = {200, 400, 800, 1600};
    for (int i = 0; i < 4; i++) {
        at = stack_next_deadline(e->st);
        cr_assert_eq(at - prev, want_gap[i], "probe %d after %llu ms", i,
                     (unsigned long long)(at - prev));
        th_poll(e, at);
        cr_assert(th_pop(e, &o));
        cr_assert_eq(o.len, 1, "a probe carries one byte");
        cr_assert_eq(o.seq, ISS + 2001);
        cr_assert_eq(o.data[0], d[2000]);
        cr_assert_eq(th_pending(e), 0);
        e->now = at;
        peer(e, ISS + 2001, 0); /* still closed: the byte is not taken */
        prev = at;
    }
    cr_assert_eq(stack_stats(e->st)->tcp_window_probes, 4);
    cr_assert_eq(stack_sock_error(e->st, h), 0, "answered probes never time out");
    /* the window opens: sending resumes from the probe byte, within 3000 bytes */
    peer(e, ISS + 2001, 3000);
    uint32_t next = ISS + 2001, sent = 0;
    while (th_pop(e, &o)) {
        cr_assert_eq(o.seq, next, "no gap, no duplicate");
        cr_assert(memcmp(o.data, d + (o.seq - ISS - 1), o.len) == 0);
        next += o.len;
        sent += o.len;
    }
    cr_assert_eq(sent, 3000 - 0, "exactly the offered window");
    peer(e, ISS + 5001, 3000);
    cr_assert_eq(stack_next_deadline(e->st), STACK_TIME_NEVER);
    th_free(e);
}

static void count_live(void *arg, const struct stack_conn_info *ci)
{
    if (ci->state != TCP_LISTEN) (*(size_t *)arg)++;
}

Test(window, slow_reader_two_engines_nothing_lost)
{
    struct stack_config ca, cb;
    th_config(&ca, TH_ADDR(10, 0, 0, 1));
    th_config(&cb, TH_ADDR(10, 0, 0, 2));
    cb.rcv_buf = 16384;
    struct th_engine *a = th_new(&ca, false), *b = th_new(&cb, false);
    struct th_link_cfg lc = {.seed = 7, .delay_ms = 5};
    struct th_link *l = th_link_new(a, b, &lc);
    int lh = stack_tcp_listen(b->st, 80, 4);
    int ha = stack_tcp_connect(a->st, TH_ADDR(10, 0, 0, 2), 80, 0, 0), hb = 0;
    const uint64_t total = 300000;
    uint64_t sent = 0, rcvd = 0;
    static uint8_t buf[65536];
    bool reading = false;
    uint64_t max_inflight = 0;
    while (th_link_step(l, 600000)) {
        uint64_t now = th_link_now(l);
        if (!hb) {
            int x = stack_tcp_accept(b->st, lh);
            if (x > 0) hb = x;
        }
        while (sent < total) {
            size_t n = total - sent < sizeof buf ? (size_t)(total - sent) : sizeof buf;
            for (size_t i = 0; i < n; i++)
                buf[i] = th_pattern(3, sent + i);
            long r = stack_tcp_send(a->st, ha, buf, n, now);
            if (r <= 0) break;
            sent += (uint64_t)r;
        }
        struct stack_conn_info ci;
        stack_tcp_info(a->st, ha, &ci);
        if (ci.snd_nxt - ci.snd_una > max_inflight) max_inflight = ci.snd_nxt - ci.snd_una;
        if (!reading && now >= 20000) reading = true; /* the reader wakes up after 20 s */
        if (reading && hb > 0) {
            long r;
            while ((r = stack_tcp_recv(b->st, hb, buf, sizeof buf, now)) > 0) {
                for (long i = 0; i < r; i++)
                    cr_assert_eq(buf[i], th_pattern(3, rcvd + (uint64_t)i));
                rcvd += (uint64_t)r;
            }
        }
        if (rcvd == total) break;
    }
    cr_assert_eq(rcvd, total);
    cr_assert_gt(stack_stats(a->st)->tcp_window_probes, 0);
    cr_assert_leq(max_inflight, 16384, "never beyond the receiver's window");
    cr_assert_eq(stack_stats(b->st)->tcp_ooo_segments, 0);
    size_t n = 0;
    stack_tcp_foreach(b->st, count_live, &n);
    cr_assert_eq(n, 1);
    th_link_free(l);
    th_free(a);
    th_free(b);
}

Test(window, echo_service_back_pressure_2mib)
{
    struct stack_config ca, cb;
    th_config(&ca, TH_ADDR(10, 0, 0, 1));
    th_config(&cb, TH_ADDR(10, 0, 0, 2));
    cb.tcp_echo_port = 7;
    struct th_engine *a = th_new(&ca, false), *b = th_new(&cb, false);
    struct th_link_cfg lc = {.seed = 11, .delay_ms = 2};
    struct th_link *l = th_link_new(a, b, &lc);
    int h = stack_tcp_connect(a->st, TH_ADDR(10, 0, 0, 2), 7, 0, 0);
    const uint64_t total = 2u << 20;
    uint64_t sent = 0, rcvd = 0;
    static uint8_t buf[65536];
    bool closed = false;
    while (th_link_step(l, 600000)) {
        uint64_t now = th_link_now(l);
        while (sent < total) {
            size_t n = total - sent < sizeof buf ? (size_t)(total - sent) : sizeof buf;
            for (size_t i = 0; i < n; i++)
                buf[i] = th_pattern(9, sent + i);
            long r = stack_tcp_send(a->st, h, buf, n, now);
            if (r <= 0) break;
            sent += (uint64_t)r;
        }
        if (sent == total && !closed) {
            cr_assert_eq(stack_tcp_shutdown(a->st, h, now), 0);
            closed = true;
        }
        if (now < 3000) continue; /* not reading for 3 s: the echo must stall, not buffer */
        long r;
        while ((r = stack_tcp_recv(a->st, h, buf, sizeof buf, now)) > 0) {
            for (long i = 0; i < r; i++)
                cr_assert_eq(buf[i], th_pattern(9, rcvd + (uint64_t)i));
            rcvd += (uint64_t)r;
        }
        if (r == 0) break; /* EOF: the echo closed after everything */
    }
    struct stack_conn_info ci = {0};
    stack_tcp_info(a->st, h, &ci);
    cr_assert_eq(rcvd, total,
                 "rcvd %llu sent %llu at %llu: %s una=%u nxt=%u wnd=%u sq=%u rq=%u err=%d",
                 (unsigned long long)rcvd, (unsigned long long)sent,
                 (unsigned long long)th_link_now(l), tcp_state_name(ci.state), ci.snd_una,
                 ci.snd_nxt, ci.snd_wnd, ci.send_queue, ci.recv_queue, stack_sock_error(a->st, h));
    th_link_free(l);
    th_free(a);
    th_free(b);
}

/* ---- a window that shuts with data in flight (RFC 9293 §3.8.6.1, RFC 1122 4.2.2.17) ---- */

static const uint8_t mss1460_ws7[8] = {2, 4, 0x05, 0xb4, 1, 3, 3, 7};

/* An active open with the peer's SYN-ACK window wnd (and options opt); returns the
 * handle. */
static int open_to_peer(struct th_engine *e, uint16_t wnd, const uint8_t *opt, size_t optlen)
{
    static struct th_out o;
    tcp_test_set_isn(e->st, ISS);
    int h = stack_tcp_connect(e->st, TH_PEER, 80, 5555, e->now);
    cr_assert(th_pop(e, &o) && o.flags == THF_SYN);
    struct th_spec s = {.sport = 80,
                        .dport = 5555,
                        .seq = PISN,
                        .ack = ISS + 1,
                        .flags = THF_SYN | THF_ACK,
                        .wnd = wnd,
                        .opt = opt,
                        .optlen = optlen};
    th_seg(e, &s);
    cr_assert(th_pop(e, &o) && o.flags == THF_ACK);
    return h;
}

static void expect_seg(struct th_engine *e, uint32_t seq, uint32_t len, const uint8_t *d)
{
    static struct th_out o;
    cr_assert(th_pop(e, &o), "expected a segment seq=%u len=%u", seq, len);
    cr_assert_eq(o.seq, seq, "seq %u, want %u", o.seq, seq);
    cr_assert_eq(o.len, len, "len %u, want %u", o.len, len);
    cr_assert_eq(o.ack, PISN + 1);
    cr_assert(memcmp(o.data, d + (seq - ISS - 1), len) == 0);
}

/* The peer takes one segment of four and shuts its window, then answers every probe for
 * an hour: the connection stays, the probes are the persist timer's (1-byte, backed off
 * to 60 s), none counts toward the abort, zero-window ACKs are no duplicate ACKs. */
Test(window, shrunk_to_zero_with_data_in_flight_persists_for_an_hour)
{
    struct th_engine *e = th_default();
    int h = open_to_peer(e, 20000, mss1460, 4);
    static uint8_t d[5000];
    for (int i = 0; i < 5000; i++)
        d[i] = (uint8_t)(i * 13 + 1);
    cr_assert_eq(stack_tcp_send(e->st, h, d, sizeof d, 0), 5000);
    expect_seg(e, ISS + 1, 1460, d);
    expect_seg(e, ISS + 1461, 1460, d);
    expect_seg(e, ISS + 2921, 1460, d);
    expect_seg(e, ISS + 4381, 620, d);
    peer(e, ISS + 1461, 0); /* the right edge moves back: 3540 bytes in flight, window 0 */
    for (int i = 0; i < 5; i++)
        peer(e, ISS + 1461, 0);
    cr_assert_eq(th_pending(e), 0);
    cr_assert_eq(stack_stats(e->st)->tcp_dup_acks_rx, 0, "a zero window is no loss signal");
    cr_assert_eq(stack_stats(e->st)->tcp_fast_retransmits, 0);
    uint64_t prev = 0, at;
    uint32_t probes = 0;
    /* doubling from the RTO (the 200 ms floor: the handshake's RTT sample is 0) */
    static const uint64_t gaps[] = {200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000};
    while ((at = stack_next_deadline(e->st)) <= 3600000) {
        uint64_t want = gaps[probes < 9 ? probes : 9];
        cr_assert_eq(at - prev, want, "probe %u after %llu ms", probes,
                     (unsigned long long)(at - prev));
        th_poll(e, at);
        e->now = at;
        expect_seg(e, ISS + 1461, 1, d); /* one byte at SND.UNA */
        cr_assert_eq(th_pending(e), 0);
        peer(e, ISS + 1461, 0); /* answered: still shut */
        probes++;
        prev = at;
    }
    /* 0.2, 0.6, 1.4, 3, 6.2, 12.6, 25.4, 51, 102.2 s, then every 60 s up to 3582.2 s */
    cr_assert_eq(probes, 9 + 58);
    cr_assert_eq(stack_stats(e->st)->tcp_window_probes, 67);
    cr_assert_eq(stack_stats(e->st)->tcp_retransmits, 0);
    cr_assert_eq(stack_stats(e->st)->tcp_timeouts, 0);
    cr_assert_eq(stack_sock_error(e->st, h), 0);
    struct stack_conn_info ci;
    stack_tcp_info(e->st, h, &ci);
    cr_assert_eq(ci.state, TCP_ESTABLISHED);
    /* the window opens: everything from SND.UNA, within it */
    e->now = 3600000;
    peer(e, ISS + 1461, 3000);
    expect_seg(e, ISS + 1461, 1460, d);
    expect_seg(e, ISS + 2921, 1460, d);
    expect_seg(e, ISS + 4381, 80, d);
    cr_assert_eq(th_pending(e), 0);
    peer(e, ISS + 5001, 3000);
    cr_assert_eq(stack_next_deadline(e->st), STACK_TIME_NEVER);
    th_free(e);
}

/* Probes nobody answers end the connection after max_retries, as retransmissions would. */
Test(window, unanswered_probes_time_out)
{
    struct th_engine *e = th_default();
    int h = open_to_peer(e, 20000, mss1460, 4);
    static uint8_t d[3000];
    cr_assert_eq(stack_tcp_send(e->st, h, d, sizeof d, 0), 3000);
    th_drop_out(e);
    peer(e, ISS + 1, 0);
    uint32_t probes = 0;
    uint64_t at;
    while ((at = stack_next_deadline(e->st)) != STACK_TIME_NEVER && probes < 100) {
        th_poll(e, at);
        if (th_pending(e)) probes++;
        th_drop_out(e);
    }
    cr_assert_eq(probes, 15, "max_retries probes");
    cr_assert_eq(stack_sock_error(e->st, h), ETIMEDOUT);
    cr_assert_eq(stack_stats(e->st)->tcp_timeouts, 1);
    th_free(e);
}

/* Retransmissions stay within SND.UNA + SND.WND, split at its edge like new data. */
Test(window, rto_retransmission_split_at_a_256_byte_scaled_window)
{
    struct th_engine *e = th_default();
    int h = open_to_peer(e, 20000, mss1460_ws7, 8);
    static uint8_t d[1460];
    for (int i = 0; i < 1460; i++)
        d[i] = (uint8_t)(i * 5 + 3);
    cr_assert_eq(stack_tcp_send(e->st, h, d, sizeof d, 0), 1460);
    expect_seg(e, ISS + 1, 1460, d);
    peer(e, ISS + 1, 2); /* the window shrinks to 2 << 7 = 256 bytes, nothing acked */
    cr_assert_eq(th_pending(e), 0);
    th_poll(e, 1000);
    e->now = 1000;
    expect_seg(e, ISS + 1, 256, d);
    cr_assert_eq(th_pending(e), 0);
    peer(e, ISS + 257, 2);
    expect_seg(e, ISS + 257, 256, d); /* then in order, 256 at a time */
    cr_assert_eq(th_pending(e), 0);
    th_free(e);
}

Test(window, fast_retransmission_split_at_the_window_edge)
{
    struct th_engine *e = th_default();
    int h = open_to_peer(e, 20000, mss1460_ws7, 8);
    static uint8_t d[5840];
    for (int i = 0; i < 5840; i++)
        d[i] = (uint8_t)(i * 3 + 7);
    cr_assert_eq(stack_tcp_send(e->st, h, d, sizeof d, 0), 5840);
    for (uint32_t i = 0; i < 4; i++)
        expect_seg(e, ISS + 1 + 1460 * i, 1460, d);
    peer(e, ISS + 1, 8); /* a window update: 1024 bytes */
    for (int i = 0; i < 3; i++)
        peer(e, ISS + 1, 8); /* three duplicates */
    cr_assert_eq(stack_stats(e->st)->tcp_fast_retransmits, 1);
    expect_seg(e, ISS + 1, 1024, d);
    cr_assert_eq(th_pending(e), 0);
    th_free(e);
}

/* With window scaling (shift 3 for 256 KiB), 4 free bytes are a shut window: the window
 * field says 0 and stack_tcp_info reports 0, the window the peer sees. */
Test(window, four_free_bytes_under_shift_3_are_a_shut_window)
{
    struct th_engine *e = th_default();
    static struct th_out o;
    tcp_test_set_isn(e->st, ISS);
    int lh = stack_tcp_listen(e->st, 80, 4);
    static const uint8_t ws0[8] = {2, 4, 0x05, 0xb4, 1, 3, 3, 0};
    struct th_spec s = {.sport = 5555,
                        .dport = 80,
                        .seq = PISN,
                        .flags = THF_SYN,
                        .wnd = 65535,
                        .opt = ws0,
                        .optlen = 8};
    th_seg(e, &s);
    cr_assert(th_pop(e, &o) && o.ws == 3);
    struct th_spec a = {.sport = 5555,
                        .dport = 80,
                        .seq = PISN + 1,
                        .ack = ISS + 1,
                        .flags = THF_ACK,
                        .wnd = 65535};
    th_seg(e, &a);
    int h = stack_tcp_accept(e->st, lh);
    cr_assert_gt(h, 0);
    static uint8_t d[1460];
    uint32_t seq = PISN + 1, left = 262144 - 4;
    while (left) {
        uint32_t n = left < 1460 ? left : 1460;
        struct th_spec ds = {.sport = 5555,
                             .dport = 80,
                             .seq = seq,
                             .ack = ISS + 1,
                             .flags = THF_ACK,
                             .wnd = 65535,
                             .data = d,
                             .len = n};
        th_seg(e, &ds);
        seq += n;
        left -= n;
    }
    th_poll(e, 40);
    static struct th_out last;
    while (th_pop(e, &o))
        last = o;
    cr_assert_eq(last.ack, seq);
    cr_assert_eq(last.wnd, 0, "4 bytes >> 3 = 0");
    struct stack_conn_info ci;
    stack_tcp_info(e->st, h, &ci);
    cr_assert_eq(ci.recv_queue, 262140);
    cr_assert_eq(ci.rcv_wnd, 0);
    th_free(e);
}
