/* Answers to invalid segments (RFC 5961 challenge ACKs, ACKs to out-of-window segments):
 * one per 500 ms per connection (Linux's tcp_invalid_ratelimit), so that one connection's
 * spoofed segments never use up another's (CVE-2016-5696), plus a randomized global
 * limit; ACKs to data are never limited. Exact numbers, virtual time. */
#include <criterion/criterion.h>
#include <string.h>

#include "tcp.h"
#include "tcp_harness.h"

#define ISS 1000u
#define PISN 5000000u
#define LPORT 80
#define PPORT 40000

static struct th_engine *E;
static struct th_out O;
static int H[64]; /* accepted handles, by peer port - PPORT */

static void start(uint32_t global_limit)
{
    struct stack_config cfg;
    th_config(&cfg, TH_US);
    cfg.challenge_ack_limit = global_limit;
    E = th_new(&cfg, false);
    tcp_test_set_isn(E->st, ISS);
}

static void stop(void)
{
    th_free(E);
}

static void seg(uint16_t sport, uint8_t flags, uint32_t seq, uint32_t ack, const void *data,
                size_t len)
{
    struct th_spec s = {.sport = sport,
                        .dport = LPORT,
                        .seq = seq,
                        .ack = ack,
                        .flags = flags,
                        .wnd = 65535,
                        .data = data,
                        .len = len};
    th_seg(E, &s);
}

static void expect_ack(uint16_t sport, uint32_t seq, uint32_t ack)
{
    cr_assert(th_pop(E, &O), "expected an ACK to port %u", sport);
    cr_assert_eq(O.flags, THF_ACK);
    cr_assert_eq(O.dport, sport);
    cr_assert_eq(O.seq, seq);
    cr_assert_eq(O.ack, ack);
    cr_assert_eq(O.len, 0);
}

/* n connections from ports PPORT.. (accepted); returns the listener. */
static int open_conns(int n)
{
    int lh = stack_tcp_listen(E->st, LPORT, n);
    cr_assert_gt(lh, 0);
    for (int i = 0; i < n; i++) {
        uint16_t p = (uint16_t)(PPORT + i);
        seg(p, THF_SYN, PISN, 0, NULL, 0);
        cr_assert(th_pop(E, &O) && O.flags == (THF_SYN | THF_ACK));
        seg(p, THF_ACK, PISN + 1, ISS + 1, NULL, 0);
        H[i] = stack_tcp_accept(E->st, lh);
        cr_assert_gt(H[i], 0);
    }
    cr_assert_eq(th_pending(E), 0);
    return lh;
}

static const struct stack_stats *stats(void)
{
    return stack_stats(E->st);
}

Test(ratelimit, challenge_ack_one_per_500ms_per_connection, .fini = stop)
{
    start(1000);
    open_conns(1);
    for (int i = 0; i < 105; i++) /* in window, not exact */
        seg(PPORT, THF_RST, PISN + 2 + (uint32_t)i, 0, NULL, 0);
    expect_ack(PPORT, ISS + 1, PISN + 1);
    cr_assert_eq(th_pending(E), 0);
    cr_assert_eq(stats()->tcp_challenge_acks, 1);
    cr_assert_eq(stats()->tcp_challenge_ratelimited, 104);
    E->now = 499;
    seg(PPORT, THF_RST, PISN + 2, 0, NULL, 0);
    seg(PPORT, THF_SYN, PISN + 7, 0, NULL, 0);
    cr_assert_eq(th_pending(E), 0);
    E->now = 500;
    seg(PPORT, THF_SYN, PISN + 7, 0, NULL, 0);
    expect_ack(PPORT, ISS + 1, PISN + 1);
    cr_assert_eq(stats()->tcp_challenge_acks, 2);
    cr_assert_eq(stats()->tcp_challenge_ratelimited, 106);
    /* ACKs for retransmitted data are never rate-limited */
    for (int i = 0; i < 3; i++) {
        seg(PPORT, THF_ACK, PISN - 10, ISS + 1, "old", 3);
        expect_ack(PPORT, ISS + 1, PISN + 1);
    }
    cr_assert_eq(stats()->tcp_oow_ack_ratelimited, 0);
    cr_assert_eq(stats()->tcp_challenge_global_limited, 0);
}

/* CVE-2016-5696: the attacker holds connection B and wants to learn whether A exists. His
 * spoofed RSTs on A must not change how many challenge ACKs B gets. */
Test(ratelimit, spoofed_rsts_on_one_connection_leave_another_its_answers, .fini = stop)
{
    start(1000);
    open_conns(2);
    uint16_t a = PPORT, b = PPORT + 1;
    for (int i = 0; i < 1000; i++)
        seg(a, THF_RST, PISN + 100 + (uint32_t)i, 0, NULL, 0);
    expect_ack(a, ISS + 1, PISN + 1);
    cr_assert_eq(th_pending(E), 0);
    /* the attacker's own probe on B: answered as if A had seen nothing */
    seg(b, THF_RST, PISN + 100, 0, NULL, 0);
    expect_ack(b, ISS + 1, PISN + 1);
    cr_assert_eq(stats()->tcp_challenge_acks, 2);
    cr_assert_eq(stats()->tcp_challenge_ratelimited, 999);
    cr_assert_eq(stats()->tcp_challenge_global_limited, 0);
}

/* The global limit (limit/2 + rand(limit) per second) bounds the total and differs from
 * second to second. */
Test(ratelimit, global_challenge_limit_is_randomized_per_second, .fini = stop)
{
    start(10);
    enum { N = 40 };
    open_conns(N);
    uint64_t sent_before = 0, limited_before = 0;
    uint64_t counts[8];
    bool differ = false;
    for (int sec = 0; sec < 8; sec++) {
        E->now = 1000 + (uint64_t)sec * 1000;
        for (int i = 0; i < N; i++)
            seg((uint16_t)(PPORT + i), THF_RST, PISN + 50, 0, NULL, 0);
        uint64_t sent = stats()->tcp_challenge_acks - sent_before;
        uint64_t limited = stats()->tcp_challenge_global_limited - limited_before;
        cr_assert(sent >= 5 && sent <= 14, "second %d: %llu challenge ACKs", sec,
                  (unsigned long long)sent);
        cr_assert_eq(sent + limited, N);
        cr_assert_eq(th_pending(E), sent);
        th_drop_out(E);
        counts[sec] = sent;
        if (sec && counts[sec] != counts[0]) differ = true;
        sent_before += sent;
        limited_before += limited;
    }
    cr_assert(differ, "the budget is randomized");
    cr_assert_eq(stats()->tcp_challenge_ratelimited, 0);
}

Test(ratelimit, out_of_window_acks_5000_get_one_answer_per_500ms, .fini = stop)
{
    start(1000);
    open_conns(1);
    uint32_t far = PISN + 1 + 200000; /* beyond the 65535-byte window */
    for (int i = 0; i < 5000; i++)
        seg(PPORT, THF_ACK, far, ISS + 1, NULL, 0);
    expect_ack(PPORT, ISS + 1, PISN + 1);
    cr_assert_eq(th_pending(E), 0);
    cr_assert_eq(stats()->tcp_oow_ack_ratelimited, 4999);
    /* spread over 5 s, one every millisecond: answers at 1000, 1500, ..., 5500 */
    size_t answers = 0;
    for (int i = 0; i < 5000; i++) {
        E->now = 1000 + (uint64_t)i;
        seg(PPORT, THF_ACK, far, ISS + 1, NULL, 0);
        if (th_pending(E)) {
            cr_assert_eq((E->now - 1000) % 500, 0, "answer at %llu", (unsigned long long)E->now);
            expect_ack(PPORT, ISS + 1, PISN + 1);
            answers++;
        }
    }
    cr_assert_eq(answers, 10);
    /* out-of-window FINs share the limit */
    E->now = 6000;
    for (int i = 0; i < 5000; i++)
        seg(PPORT, THF_ACK | THF_FIN, far, ISS + 1, NULL, 0);
    expect_ack(PPORT, ISS + 1, PISN + 1);
    cr_assert_eq(th_pending(E), 0);
    /* data below RCV.NXT (our ACK was lost) is answered every time */
    for (int i = 0; i < 5; i++) {
        seg(PPORT, THF_ACK, PISN - 3, ISS + 1, "abc", 3);
        expect_ack(PPORT, ISS + 1, PISN + 1);
    }
    cr_assert_eq(stats()->tcp_oow_ack_ratelimited, 4999 + 4990 + 4999);
}

/* An ACK for data never sent (RFC 9293 §3.10.7.4 "send an ACK, drop") is an answer an
 * attacker can ask for: the same limit. */
Test(ratelimit, ack_of_unsent_data_answered_once_per_500ms, .fini = stop)
{
    start(1000);
    open_conns(1);
    for (int i = 0; i < 100; i++)
        seg(PPORT, THF_ACK, PISN + 1, ISS + 5000, NULL, 0);
    expect_ack(PPORT, ISS + 1, PISN + 1);
    cr_assert_eq(th_pending(E), 0);
    cr_assert_eq(stats()->tcp_oow_ack_ratelimited, 99);
}

Test(ratelimit, time_wait_entry_answers_once_per_500ms, .fini = stop)
{
    start(1000);
    open_conns(1);
    cr_assert_eq(stack_tcp_close(E->st, H[0], 0), 0);
    cr_assert(th_pop(E, &O) && O.flags == (THF_ACK | THF_FIN));
    seg(PPORT, THF_ACK | THF_FIN, PISN + 1, ISS + 2, NULL, 0);
    expect_ack(PPORT, ISS + 2, PISN + 2);
    cr_assert_eq(stats()->tcp_orphans, 0, "a TIME_WAIT entry is no orphan");
    E->now = 10000;
    for (int i = 0; i < 300; i++)
        seg(PPORT, THF_ACK, PISN + 90000, ISS + 2, NULL, 0);
    expect_ack(PPORT, ISS + 2, PISN + 2);
    cr_assert_eq(th_pending(E), 0);
    /* the peer's FIN again (our ACK was lost), 500 ms later: answered */
    E->now = 10500;
    seg(PPORT, THF_ACK | THF_FIN, PISN + 1, ISS + 2, NULL, 0);
    expect_ack(PPORT, ISS + 2, PISN + 2);
    cr_assert_eq(stats()->tcp_oow_ack_ratelimited, 299);
}
