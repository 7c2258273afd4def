/* Orphans: connections their user closed that are not finished yet. They count against
 * cfg.max_orphans (beyond it the newest is reset at close), get cfg.orphan_retries
 * retransmissions or zero-window probes (Linux: tcp_orphan_retries) however willingly the
 * peer answers, and show in the stats with the FIN_WAIT_2 count. Exact numbers. */
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
static uint8_t D[5000];

static void start(uint32_t max_orphans, uint16_t echo_port)
{
    struct stack_config cfg;
    th_config(&cfg, TH_US);
    cfg.max_orphans = max_orphans;
    cfg.tcp_echo_port = echo_port;
    E = th_new(&cfg, true);
    tcp_test_set_isn(E->st, ISS);
    for (int i = 0; i < 5000; i++)
        D[i] = (uint8_t)(i * 11 + 5);
}

static void stop(void)
{
    th_free(E);
}

static void seg_to(uint16_t sport, uint16_t dport, uint8_t flags, uint32_t seq, uint32_t ack,
                   uint16_t wnd, const void *data, size_t len)
{
    struct th_spec s = {.sport = sport,
                        .dport = dport,
                        .seq = seq,
                        .ack = ack,
                        .flags = flags,
                        .wnd = wnd,
                        .data = data,
                        .len = len};
    th_seg(E, &s);
}

static void ack(uint16_t sport, uint32_t seq, uint32_t a, uint16_t wnd)
{
    seg_to(sport, LPORT, THF_ACK, seq, a, wnd, NULL, 0);
}

static void expect(uint8_t flags, uint32_t seq, uint32_t a, uint32_t len)
{
    cr_assert(th_pop(E, &O), "expected a segment flags=%#x seq=%u", flags, seq);
    cr_assert_eq(O.flags, flags, "flags %#x, want %#x (seq %u len %u)", O.flags, flags, O.seq,
                 O.len);
    cr_assert_eq(O.seq, seq, "seq %u, want %u", O.seq, seq);
    cr_assert_eq(O.ack, a, "ack %u, want %u", O.ack, a);
    cr_assert_eq(O.len, len, "len %u, want %u", O.len, len);
}

static void count_cb(void *arg, const struct stack_conn_info *ci)
{
    if (ci->state != TCP_LISTEN) (*(size_t *)arg)++;
}

static size_t conns(void)
{
    size_t n = 0;
    stack_tcp_foreach(E->st, count_cb, &n);
    return n;
}

static const struct stack_stats *stats(void)
{
    return stack_stats(E->st);
}

/* n accepted connections from PPORT.., peer window 20000; handles into h. */
static void open_conns(int n, int *h)
{
    int lh = stack_tcp_listen(E->st, LPORT, n);
    cr_assert_gt(lh, 0);
    for (int i = 0; i < n; i++) {
        uint16_t p = (uint16_t)(PPORT + i);
        seg_to(p, LPORT, THF_SYN, PISN, 0, 20000, NULL, 0);
        expect(THF_SYN | THF_ACK, ISS, PISN + 1, 0);
        ack(p, PISN + 1, ISS + 1, 20000);
        h[i] = stack_tcp_accept(E->st, lh);
        cr_assert_gt(h[i], 0);
    }
}

/* The peer (no MSS option: 536-byte segments) takes 1460 of 5000 bytes and shuts its window; the
 * user closes. The orphan probes 8 times, every probe answered, and is reset at the ninth timeout.
 * The handshake's RTT sample is 0, so the RTO is the 200 ms floor and the probe interval doubles
 * from it: 0.2+0.4+...+25.6 s, then 51.2 s to the reset at 102.2 s. */
Test(orphan, behind_a_zero_window_reset_after_orphan_retries_probes, .fini = stop)
{
    start(16384, 0);
    int h;
    open_conns(1, &h);
    cr_assert_eq(stack_tcp_send(E->st, h, D, sizeof D, 0), 5000);
    th_drop_out(E);
    ack(PPORT, PISN + 1, ISS + 1461, 0);
    cr_assert_eq(stack_tcp_close(E->st, h, 0), 0);
    cr_assert_eq(th_pending(E), 0, "the FIN waits behind the data");
    cr_assert_eq(stats()->tcp_orphans, 1);
    static const uint64_t probe_at[] = {200, 600, 1400, 3000, 6200, 12600, 25400, 51000};
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(stack_next_deadline(E->st), probe_at[i]);
        E->now = probe_at[i];
        th_poll(E, E->now);
        expect(THF_ACK, ISS + 1461, PISN + 1, 1);
        cr_assert_eq(O.data[0], D[1460]);
        ack(PPORT, PISN + 1, ISS + 1461, 0); /* answered, still shut */
    }
    cr_assert_eq(stack_next_deadline(E->st), 102200);
    E->now = 102200;
    th_poll(E, E->now);
    /* at SND.UNA: the only sequence number the peer's shut window accepts */
    expect(THF_RST | THF_ACK, ISS + 1461, PISN + 1, 0);
    cr_assert_eq(th_pending(E), 0);
    cr_assert_eq(conns(), 0);
    cr_assert_eq(stats()->tcp_orphans, 0);
    cr_assert_eq(stats()->tcp_orphan_timeouts, 1);
    cr_assert_eq(stats()->tcp_window_probes, 8);
    cr_assert_eq(stack_next_deadline(E->st), STACK_TIME_NEVER);
}

/* The same connection, not closed, stays (the persist test in test_tcp_window.c runs an
 * hour); closed, but the window opens in time: it finishes normally. */
Test(orphan, window_opens_before_the_limit_and_the_orphan_finishes, .fini = stop)
{
    start(16384, 0);
    int h;
    open_conns(1, &h);
    cr_assert_eq(stack_tcp_send(E->st, h, D, 3000, 0), 3000);
    th_drop_out(E);
    ack(PPORT, PISN + 1, ISS + 3001, 0);
    cr_assert_eq(stack_tcp_close(E->st, h, 0), 0);
    /* all data acked, only the FIN left: the FIN goes out, a zero window takes it */
    expect(THF_ACK | THF_FIN, ISS + 3001, PISN + 1, 0);
    ack(PPORT, PISN + 1, ISS + 3002, 0);
    cr_assert_eq(stats()->tcp_fin_wait_2, 1);
    cr_assert_eq(stats()->tcp_orphans, 1);
    seg_to(PPORT, LPORT, THF_ACK | THF_FIN, PISN + 1, ISS + 3002, 0, NULL, 0);
    expect(THF_ACK, ISS + 3002, PISN + 2, 0);
    cr_assert_eq(stats()->tcp_fin_wait_2, 0);
    cr_assert_eq(stats()->tcp_orphans, 0);
    cr_assert_eq(stats()->tcp_orphan_timeouts, 0);
}

/* An orphan whose peer is silent: orphan_retries (8) retransmissions, not max_retries. */
Test(orphan, silent_peer_orphan_retries_retransmissions, .fini = stop)
{
    start(16384, 0);
    int h;
    open_conns(1, &h);
    cr_assert_eq(stack_tcp_send(E->st, h, D, 500, 0), 500);
    expect(THF_ACK | THF_PSH, ISS + 1, PISN + 1, 500);
    cr_assert_eq(stack_tcp_close(E->st, h, 0), 0);
    expect(THF_ACK | THF_FIN, ISS + 501, PISN + 1, 0);
    uint64_t at;
    while ((at = stack_next_deadline(E->st)) != STACK_TIME_NEVER) {
        E->now = at;
        th_poll(E, at);
    }
    cr_assert_eq(stats()->tcp_retransmits, 8);
    cr_assert_eq(stats()->tcp_timeouts, 1);
    cr_assert_eq(stats()->tcp_orphan_timeouts, 1);
    cr_assert_eq(stats()->tcp_orphans, 0);
    cr_assert_eq(conns(), 0);
    /* RTO 200 ms (the floor: the handshake's sample is 0), doubled at each timeout:
     * 0.2+0.4+...+25.6 s of backoff, then the ninth timeout (51.2 s) ends it */
    cr_assert_eq(E->now, 102200);
}

/* Over max_orphans the connection being closed is reset at once. */
Test(orphan, over_the_limit_the_newest_is_reset, .fini = stop)
{
    start(2, 0);
    int h[3];
    open_conns(3, h);
    th_drop_out(E);
    cr_assert_eq(stack_tcp_close(E->st, h[0], 0), 0);
    expect(THF_ACK | THF_FIN, ISS + 1, PISN + 1, 0);
    cr_assert_eq(stack_tcp_close(E->st, h[1], 0), 0);
    expect(THF_ACK | THF_FIN, ISS + 1, PISN + 1, 0);
    cr_assert_eq(stats()->tcp_orphans, 2);
    cr_assert_eq(stack_tcp_close(E->st, h[2], 0), 0);
    expect(THF_RST | THF_ACK, ISS + 1, PISN + 1, 0);
    cr_assert_eq(O.dport, PPORT + 2);
    cr_assert_eq(th_pending(E), 0);
    cr_assert_eq(stats()->tcp_orphans, 2);
    cr_assert_eq(stats()->tcp_orphan_overflow, 1);
    cr_assert_eq(conns(), 2);
    /* one finishes: room for the next */
    ack(PPORT, PISN + 1, ISS + 2, 20000);
    seg_to(PPORT, LPORT, THF_ACK | THF_FIN, PISN + 1, ISS + 2, 20000, NULL, 0);
    expect(THF_ACK, ISS + 2, PISN + 2, 0);
    cr_assert_eq(stats()->tcp_orphans, 1);
}

/* shutdown() is no orphan; FIN_WAIT_2 is counted either way, and the orphaned FIN_WAIT_2
 * is reclaimed after 2*MSL. */
Test(orphan, fin_wait_2_and_orphan_counts, .fini = stop)
{
    start(16384, 0);
    int h[2];
    open_conns(2, h);
    th_drop_out(E);
    cr_assert_eq(stack_tcp_shutdown(E->st, h[0], 0), 0);
    cr_assert_eq(stack_tcp_close(E->st, h[1], 0), 0);
    th_drop_out(E);
    cr_assert_eq(stats()->tcp_orphans, 1);
    ack(PPORT, PISN + 1, ISS + 2, 20000);
    ack(PPORT + 1, PISN + 1, ISS + 2, 20000);
    cr_assert_eq(stats()->tcp_fin_wait_2, 2);
    cr_assert_eq(stats()->tcp_orphans, 1);
    cr_assert_eq(stack_next_deadline(E->st), 60000);
    E->now = 60000;
    th_poll(E, E->now);
    cr_assert_eq(stats()->tcp_fin_wait_2, 1);
    cr_assert_eq(stats()->tcp_orphans, 0);
    cr_assert_eq(conns(), 1);
}

/* The echo service lets go of a connection once it has queued its FIN: a peer that sent
 * data and a FIN and keeps its window shut gets the orphan's probes, then a reset. */
Test(orphan, echo_connection_behind_a_shut_window, .fini = stop)
{
    start(16384, 7);
    seg_to(PPORT, 7, THF_SYN, PISN, 0, 0, NULL, 0);
    expect(THF_SYN | THF_ACK, ISS, PISN + 1, 0);
    seg_to(PPORT, 7, THF_ACK, PISN + 1, ISS + 1, 0, NULL, 0);
    seg_to(PPORT, 7, THF_ACK | THF_PSH | THF_FIN, PISN + 1, ISS + 1, 0, "hello", 5);
    expect(THF_ACK, ISS + 1, PISN + 7, 0);
    cr_assert_eq(th_pending(E), 0);
    cr_assert_eq(stats()->tcp_orphans, 1);
    for (int i = 0; i < 8; i++) {
        E->now = stack_next_deadline(E->st);
        th_poll(E, E->now);
        expect(THF_ACK, ISS + 1, PISN + 7, 1);
        cr_assert_eq(O.data[0], 'h');
        seg_to(PPORT, 7, THF_ACK, PISN + 7, ISS + 1, 0, NULL, 0);
    }
    E->now = stack_next_deadline(E->st);
    cr_assert_eq(E->now, 102200); /* as behind_a_zero_window_reset_after_orphan_retries_probes */
    th_poll(E, E->now);
    expect(THF_RST | THF_ACK, ISS + 1, PISN + 7, 0);
    cr_assert_eq(conns(), 0);
    cr_assert_eq(stats()->tcp_orphans, 0);
}
