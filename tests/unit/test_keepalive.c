/* Keepalive (RFC 1122 4.2.3.6) and the user timeout (RFC 5482), in virtual time: the exact
 * times and bytes of the probes, the abort at idle + cnt * intvl, the answers that keep a
 * connection, our answer to the peer's keepalive, and the user timeout's abort with data
 * unacknowledged and with zero-window probes unanswered.
 *
 * Crafted-segment tests: active open at t=0, SYN-ACK at t=100 (MSS 1460, window 65535), so
 * the connection is ESTABLISHED at t=100 with one RTT sample of 100 ms (RTO 300 ms). */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "tcp.h"
#include "tcp_harness.h"

#define ISS 1000u  /* ours: SND.NXT = 1001 once established */
#define PISN 7000u /* the peer's: RCV.NXT = 7001 */

static struct th_engine *E;
static struct th_out O;
static int H;
static uint8_t D[16384];

static void open_conn(void)
{
    E = th_default();
    E->trace_on = false;
    for (size_t i = 0; i < sizeof D; i++)
        D[i] = (uint8_t)(i * 7 + 3);
    struct th_open o = {.iss = ISS, .pisn = PISN, .synack_at = 100};
    H = th_establish(E, &o);
}

static void stop(void)
{
    th_free(E);
}

static struct tcb *tcb_of(int h)
{
    return handle_get(E->st, h, HANDLE_TCP);
}

static void setopt(enum stack_tcp_opt opt, uint32_t v)
{
    cr_assert_eq(stack_tcp_setopt(E->st, H, opt, v, E->now), 0, "setopt %d %u", opt, v);
}

/* idle/intvl in seconds */
static void keepalive_on(uint32_t idle, uint32_t intvl, uint32_t cnt)
{
    setopt(STACK_TCP_KEEPIDLE, idle);
    setopt(STACK_TCP_KEEPINTVL, intvl);
    setopt(STACK_TCP_KEEPCNT, cnt);
    setopt(STACK_TCP_KEEPALIVE, 1);
}

/* Runs every deadline up to and including `until`; stops at the first one that produced
 * output and returns its time, or returns 0 (time = until) when none did. */
static uint64_t run_to_output(uint64_t until)
{
    for (;;) {
        if (th_pending(E)) return E->now;
        stack_time_t d = stack_next_deadline(E->st);
        if (d > until) break;
        th_poll(E, d > E->now ? d : E->now);
    }
    E->now = until;
    return th_pending(E) ? until : 0;
}

static void peer(uint8_t flags, uint32_t seq, uint32_t ack, uint16_t wnd, const void *data,
                 size_t len)
{
    struct th_spec s = {.sport = 80,
                        .dport = 5555,
                        .seq = seq,
                        .ack = ack,
                        .flags = flags,
                        .wnd = wnd,
                        .data = data,
                        .len = len};
    th_seg(E, &s);
}

/* the peer acknowledges everything up to ack, window open */
static void peer_ack(uint32_t ack)
{
    th_peer_ack(E, E->now, ack);
}

static void expect_at(uint64_t at, uint8_t flags, uint32_t seq, uint32_t ack, uint32_t len)
{
    uint64_t t = run_to_output(at);
    cr_assert_eq(t, at, "segment at %llu, want %llu", (unsigned long long)t,
                 (unsigned long long)at);
    cr_assert(th_pop(E, &O));
    cr_assert_eq(O.flags, flags, "flags %#x, want %#x at %llu", O.flags, flags,
                 (unsigned long long)at);
    cr_assert_eq(O.seq, seq, "seq %u, want %u", O.seq, seq);
    cr_assert_eq(O.ack, ack, "ack %u, want %u", O.ack, ack);
    cr_assert_eq(O.len, len, "len %u, want %u", O.len, len);
}

/* a keepalive probe: SND.NXT - 1, no data, our RCV.NXT */
static void expect_probe_at(uint64_t at, uint32_t snd_nxt, uint32_t rcv_nxt)
{
    expect_at(at, THF_ACK, snd_nxt - 1, rcv_nxt, 0);
}

static void expect_quiet_until(uint64_t until)
{
    uint64_t t = run_to_output(until);
    cr_assert_eq(t, 0, "unexpected segment at %llu (seq %u)", (unsigned long long)E->now,
                 th_pop(E, &O) ? O.seq : 0);
    cr_assert_eq(E->now, until);
}

static const struct stack_stats *S(void)
{
    return stack_stats(E->st);
}

static void expect_timedout(void)
{
    cr_assert_eq(stack_sock_error(E->st, H), ETIMEDOUT);
    cr_assert_eq(th_count_events(E, H, SEV_ERROR), 1);
    char b[8];
    cr_assert_eq(stack_tcp_recv(E->st, H, b, sizeof b, E->now), -ETIMEDOUT);
    struct stack_conn_info ci;
    cr_assert_eq(stack_tcp_info(E->st, H, &ci), 0);
    cr_assert_eq(ci.state, TCP_CLOSED);
}

TestSuite(keepalive, .init = open_conn, .fini = stop);

Test(keepalive, off_by_default_no_probe_in_three_hours)
{
    uint32_t v = 7;
    cr_assert_eq(stack_tcp_getopt(E->st, H, STACK_TCP_KEEPALIVE, &v), 0);
    cr_assert_eq(v, 0);
    expect_quiet_until(3 * 3600 * 1000);
    cr_assert_eq(S()->tcp_keepalive_probes, 0);
    cr_assert(!tcp_timer_armed(tcb_of(H), TT_KEEPALIVE));
}

Test(keepalive, defaults_are_linux_7200_75_9)
{
    uint32_t idle, intvl, cnt, ut;
    cr_assert_eq(stack_tcp_getopt(E->st, H, STACK_TCP_KEEPIDLE, &idle), 0);
    cr_assert_eq(stack_tcp_getopt(E->st, H, STACK_TCP_KEEPINTVL, &intvl), 0);
    cr_assert_eq(stack_tcp_getopt(E->st, H, STACK_TCP_KEEPCNT, &cnt), 0);
    cr_assert_eq(stack_tcp_getopt(E->st, H, STACK_TCP_USER_TIMEOUT, &ut), 0);
    cr_assert_eq(idle, 7200);
    cr_assert_eq(intvl, 75);
    cr_assert_eq(cnt, 9);
    cr_assert_eq(ut, 0);
    setopt(STACK_TCP_KEEPALIVE, 1);
    /* probes at 100 + 7200 s + k * 75 s, k = 0..8; the reset at 100 + 7200 s + 9 * 75 s */
    for (uint64_t k = 0; k < 9; k++)
        expect_probe_at(100 + 7200000 + k * 75000, ISS + 1, PISN + 1);
    expect_at(100 + 7200000 + 9 * 75000, THF_RST | THF_ACK, ISS + 1, PISN + 1, 0);
    expect_timedout();
    cr_assert_eq(S()->tcp_keepalive_probes, 9);
    cr_assert_eq(S()->tcp_keepalive_drops, 1);
}

Test(keepalive, unanswered_probes_abort_at_idle_plus_cnt_intvl)
{
    keepalive_on(10, 5, 3);
    expect_quiet_until(10099);
    expect_probe_at(10100, ISS + 1, PISN + 1);
    cr_assert_eq(S()->tcp_keepalive_probes, 1);
    expect_quiet_until(15099);
    expect_probe_at(15100, ISS + 1, PISN + 1);
    expect_probe_at(20100, ISS + 1, PISN + 1);
    cr_assert_eq(th_count_events(E, H, SEV_ERROR), 0);
    expect_quiet_until(25099);
    /* 10 s + 3 * 5 s after the peer was last heard (t=100): reset, ETIMEDOUT */
    expect_at(25100, THF_RST | THF_ACK, ISS + 1, PISN + 1, 0);
    expect_timedout();
    cr_assert_eq(S()->tcp_keepalive_probes, 3);
    cr_assert_eq(S()->tcp_keepalive_drops, 1);
    expect_quiet_until(100000);
    cr_assert_eq(stack_next_deadline(E->st), STACK_TIME_NEVER);
}

Test(keepalive, answered_probes_keep_the_connection)
{
    keepalive_on(10, 5, 2);
    uint64_t t = 10100;
    for (int i = 0; i < 20; i++) {
        expect_probe_at(t, ISS + 1, PISN + 1);
        E->now = t + 30;
        peer_ack(ISS + 1); /* the peer's ACK of our SND.NXT answers it */
        cr_assert_eq(th_pending(E), 0, "the answer needs no reply");
        t += 30 + 10000; /* idle again from the answer */
    }
    struct stack_conn_info ci;
    stack_tcp_info(E->st, H, &ci);
    cr_assert_eq(ci.state, TCP_ESTABLISHED);
    cr_assert_eq(stack_sock_error(E->st, H), 0);
    cr_assert_eq(S()->tcp_keepalive_probes, 20);
    cr_assert_eq(S()->tcp_keepalive_drops, 0);
}

Test(keepalive, late_answer_resets_the_count)
{
    keepalive_on(10, 5, 2);
    expect_probe_at(10100, ISS + 1, PISN + 1);
    expect_probe_at(15100, ISS + 1, PISN + 1);
    E->now = 19000; /* answered just before the count would end it */
    peer_ack(ISS + 1);
    expect_quiet_until(28999);
    expect_probe_at(29000, ISS + 1, PISN + 1);
    expect_probe_at(34000, ISS + 1, PISN + 1);
    expect_at(39000, THF_RST | THF_ACK, ISS + 1, PISN + 1, 0);
    expect_timedout();
}

Test(keepalive, peer_data_resets_the_idle_time)
{
    keepalive_on(10, 5, 3);
    E->now = 5000;
    peer(THF_ACK | THF_PSH, PISN + 1, ISS + 1, 65535, "hi", 2);
    expect_at(5040, THF_ACK, ISS + 1, PISN + 3, 0); /* delayed ACK */
    /* the timer still expires at 10100, finds the peer heard at 5000 and waits on */
    expect_quiet_until(14999);
    expect_probe_at(15000, ISS + 1, PISN + 3);
}

Test(keepalive, no_probe_while_data_is_outstanding)
{
    keepalive_on(1, 1, 2);
    E->now = 200;
    cr_assert_eq(stack_tcp_send(E->st, H, D, 100, E->now), 100);
    expect_at(200, THF_ACK | THF_PSH, ISS + 1, PISN + 1, 100);
    /* only retransmissions (RTO 300 ms, doubling) until the peer answers */
    expect_at(500, THF_ACK | THF_PSH, ISS + 1, PISN + 1, 100);
    expect_at(1100, THF_ACK | THF_PSH, ISS + 1, PISN + 1, 100);
    expect_at(2300, THF_ACK | THF_PSH, ISS + 1, PISN + 1, 100);
    cr_assert_eq(S()->tcp_keepalive_probes, 0);
    E->now = 2400;
    peer_ack(ISS + 101);
    /* now idle: probes from one second after the ACK */
    expect_probe_at(3400, ISS + 101, PISN + 1);
    expect_probe_at(4400, ISS + 101, PISN + 1);
    expect_at(5400, THF_RST | THF_ACK, ISS + 101, PISN + 1, 0);
    expect_timedout();
}

Test(keepalive, turned_off_stops_and_on_again_restarts)
{
    keepalive_on(10, 5, 3);
    expect_probe_at(10100, ISS + 1, PISN + 1);
    setopt(STACK_TCP_KEEPALIVE, 0);
    cr_assert(!tcp_timer_armed(tcb_of(H), TT_KEEPALIVE));
    expect_quiet_until(60000);
    setopt(STACK_TCP_KEEPALIVE, 1); /* an idle time from now, the count from zero */
    expect_probe_at(70000, ISS + 1, PISN + 1);
    expect_probe_at(75000, ISS + 1, PISN + 1);
    expect_probe_at(80000, ISS + 1, PISN + 1);
    expect_at(85000, THF_RST | THF_ACK, ISS + 1, PISN + 1, 0);
    expect_timedout();
}

Test(keepalive, keepidle_changed_counts_from_the_last_receipt)
{
    setopt(STACK_TCP_KEEPALIVE, 1); /* 7200 s */
    E->now = 30000;
    setopt(STACK_TCP_KEEPIDLE, 60); /* the peer was heard at 100 */
    expect_probe_at(60100, ISS + 1, PISN + 1);
}

Test(keepalive, probes_in_close_wait_not_while_our_fin_is_out)
{
    keepalive_on(10, 5, 3);
    E->now = 1000;
    peer(THF_ACK | THF_FIN, PISN + 1, ISS + 1, 65535, NULL, 0); /* CLOSE_WAIT */
    expect_at(1000, THF_ACK, ISS + 1, PISN + 2, 0);
    expect_probe_at(11000, ISS + 1, PISN + 2);
    E->now = 11050;
    peer(THF_ACK, PISN + 2, ISS + 1, 65535, NULL, 0);
    cr_assert_eq(stack_tcp_shutdown(E->st, H, E->now), 0); /* LAST_ACK: our FIN is out */
    expect_at(11050, THF_ACK | THF_FIN, ISS + 1, PISN + 2, 0);
    /* only the FIN's retransmissions: RTO 300 ms doubling */
    expect_at(11350, THF_ACK | THF_FIN, ISS + 1, PISN + 2, 0);
    expect_at(11950, THF_ACK | THF_FIN, ISS + 1, PISN + 2, 0);
    expect_at(13150, THF_ACK | THF_FIN, ISS + 1, PISN + 2, 0);
    expect_at(15550, THF_ACK | THF_FIN, ISS + 1, PISN + 2, 0);
    expect_at(20350, THF_ACK | THF_FIN, ISS + 1, PISN + 2, 0);
    cr_assert_eq(S()->tcp_keepalive_probes, 1);
}

Test(keepalive, probes_in_fin_wait_2)
{
    keepalive_on(10, 5, 3);
    E->now = 1000;
    cr_assert_eq(stack_tcp_shutdown(E->st, H, E->now), 0);
    expect_at(1000, THF_ACK | THF_FIN, ISS + 1, PISN + 1, 0);
    E->now = 1050;
    peer_ack(ISS + 2); /* FIN_WAIT_2, the handle still held: no reclaim timer */
    cr_assert_eq(tcb_of(H)->state, TCP_FIN_WAIT_2);
    /* SND.NXT - 1 is our FIN's sequence number */
    expect_probe_at(11050, ISS + 2, PISN + 1);
    expect_probe_at(16050, ISS + 2, PISN + 1);
    expect_probe_at(21050, ISS + 2, PISN + 1);
    expect_at(26050, THF_RST | THF_ACK, ISS + 2, PISN + 1, 0);
    expect_timedout();
}

/* The other side: a keepalive from the peer (SEG.SEQ = RCV.NXT - 1) gets an ACK of
 * RCV.NXT at once, with no data delivered, whether it carries no byte or a garbage one. */
Test(keepalive, peer_probe_without_data_is_answered)
{
    E->now = 5000;
    peer(THF_ACK, PISN, ISS + 1, 65535, NULL, 0);
    cr_assert(th_pop(E, &O));
    cr_assert_eq(O.flags, THF_ACK);
    cr_assert_eq(O.seq, ISS + 1);
    cr_assert_eq(O.ack, PISN + 1);
    cr_assert_eq(O.len, 0);
    cr_assert_eq(th_pending(E), 0);
    char b[8];
    cr_assert_eq(stack_tcp_recv(E->st, H, b, sizeof b, E->now), -EAGAIN);
    /* Linux's 1 s interval (TCP_KEEPINTVL=1) is answered every time */
    for (int i = 1; i <= 5; i++) {
        E->now = 5000 + (uint64_t)i * 1000;
        peer(THF_ACK, PISN, ISS + 1, 65535, NULL, 0);
        cr_assert(th_pop(E, &O), "probe %d not answered", i);
        cr_assert_eq(O.ack, PISN + 1);
    }
    struct stack_conn_info ci;
    stack_tcp_info(E->st, H, &ci);
    cr_assert_eq(ci.state, TCP_ESTABLISHED);
    cr_assert_eq(ci.rcv_nxt, PISN + 1);
}

Test(keepalive, peer_probe_with_garbage_byte_is_answered_not_delivered)
{
    E->now = 200;
    peer(THF_ACK | THF_PSH, PISN + 1, ISS + 1, 65535, "abc", 3);
    expect_at(240, THF_ACK, ISS + 1, PISN + 4, 0);
    E->now = 5000;
    peer(THF_ACK, PISN + 3, ISS + 1, 65535, "z", 1); /* 'z' where 'c' was: old, ignored */
    cr_assert(th_pop(E, &O));
    cr_assert_eq(O.flags, THF_ACK);
    cr_assert_eq(O.seq, ISS + 1);
    cr_assert_eq(O.ack, PISN + 4);
    cr_assert_eq(O.len, 0);
    char b[8];
    cr_assert_eq(stack_tcp_recv(E->st, H, b, sizeof b, E->now), 3);
    cr_assert(memcmp(b, "abc", 3) == 0);
    cr_assert_eq(stack_tcp_recv(E->st, H, b, sizeof b, E->now), -EAGAIN);
}

Test(keepalive, peer_probe_does_not_count_as_heard)
{
    /* an out-of-window segment proves nothing (it may be forged): as Linux, only an
     * acceptable one resets our idle time */
    keepalive_on(10, 5, 3);
    E->now = 5000;
    peer(THF_ACK, PISN, ISS + 1, 65535, NULL, 0);
    cr_assert(th_pop(E, &O) && O.ack == PISN + 1);
    expect_probe_at(10100, ISS + 1, PISN + 1);
}

Test(keepalive, user_timeout_replaces_the_count)
{
    keepalive_on(10, 5, 9);
    setopt(STACK_TCP_USER_TIMEOUT, 12000);
    expect_probe_at(10100, ISS + 1, PISN + 1);
    /* at the next expiry the peer has been silent 15 s >= 12 s with a probe unanswered */
    expect_at(15100, THF_RST | THF_ACK, ISS + 1, PISN + 1, 0);
    expect_timedout();
    cr_assert_eq(S()->tcp_keepalive_drops, 1);
}

Test(keepalive, options_are_inherited_by_accepted_connections)
{
    int lh = stack_tcp_listen(E->st, 81, 4);
    cr_assert_gt(lh, 0);
    cr_assert_eq(stack_tcp_setopt(E->st, lh, STACK_TCP_KEEPIDLE, 20, E->now), 0);
    cr_assert_eq(stack_tcp_setopt(E->st, lh, STACK_TCP_KEEPINTVL, 3, E->now), 0);
    cr_assert_eq(stack_tcp_setopt(E->st, lh, STACK_TCP_KEEPCNT, 2, E->now), 0);
    cr_assert_eq(stack_tcp_setopt(E->st, lh, STACK_TCP_KEEPALIVE, 1, E->now), 0);
    cr_assert_eq(stack_tcp_setopt(E->st, lh, STACK_TCP_USER_TIMEOUT, 4000, E->now), 0);
    cr_assert(!tcp_timer_armed(tcb_of(lh), TT_KEEPALIVE), "a listener sends no probes");
    E->now = 1000;
    static const uint8_t mss1460[4] = {2, 4, 0x05, 0xb4};
    struct th_spec syn = {.sport = 40000,
                          .dport = 81,
                          .seq = 90000,
                          .flags = THF_SYN,
                          .wnd = 65535,
                          .opt = mss1460,
                          .optlen = 4};
    th_seg(E, &syn);
    cr_assert(th_pop(E, &O) && O.flags == (THF_SYN | THF_ACK));
    uint32_t iss = O.seq;
    E->now = 1050;
    struct th_spec ack = {
        .sport = 40000, .dport = 81, .seq = 90001, .ack = iss + 1, .flags = THF_ACK, .wnd = 65535};
    th_seg(E, &ack);
    int c = stack_tcp_accept(E->st, lh);
    cr_assert_gt(c, 0);
    uint32_t v;
    cr_assert_eq(stack_tcp_getopt(E->st, c, STACK_TCP_KEEPALIVE, &v), 0);
    cr_assert_eq(v, 1);
    cr_assert_eq(stack_tcp_getopt(E->st, c, STACK_TCP_KEEPIDLE, &v), 0);
    cr_assert_eq(v, 20);
    cr_assert_eq(stack_tcp_getopt(E->st, c, STACK_TCP_KEEPINTVL, &v), 0);
    cr_assert_eq(v, 3);
    cr_assert_eq(stack_tcp_getopt(E->st, c, STACK_TCP_KEEPCNT, &v), 0);
    cr_assert_eq(v, 2);
    cr_assert_eq(stack_tcp_getopt(E->st, c, STACK_TCP_USER_TIMEOUT, &v), 0);
    cr_assert_eq(v, 4000);
    /* armed from the handshake's completion: 1050 + 20 s */
    cr_assert_eq(tcb_of(c)->tmr[TT_KEEPALIVE], 21050);
}

Test(keepalive, bad_values_are_einval)
{
    static const struct {
        enum stack_tcp_opt opt;
        uint32_t v;
    } bad[] = {
        {STACK_TCP_KEEPALIVE, 2},     {STACK_TCP_KEEPIDLE, 0},
        {STACK_TCP_KEEPIDLE, 32768},  {STACK_TCP_KEEPINTVL, 0},
        {STACK_TCP_KEEPINTVL, 32768}, {STACK_TCP_KEEPCNT, 0},
        {STACK_TCP_KEEPCNT, 128},     {STACK_TCP_USER_TIMEOUT, 0x80000000u},
        {(enum stack_tcp_opt)99, 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(stack_tcp_setopt(E->st, H, bad[i].opt, bad[i].v, E->now), -EINVAL,
                     "opt %d value %u", bad[i].opt, bad[i].v);
    /* the edges are valid, and nothing was changed by the refusals */
    uint32_t v;
    cr_assert_eq(stack_tcp_getopt(E->st, H, STACK_TCP_KEEPIDLE, &v), 0);
    cr_assert_eq(v, 7200);
    setopt(STACK_TCP_KEEPIDLE, 32767);
    setopt(STACK_TCP_KEEPINTVL, 1);
    setopt(STACK_TCP_KEEPCNT, 127);
    setopt(STACK_TCP_USER_TIMEOUT, 0x7fffffffu);
    cr_assert_eq(stack_tcp_getopt(E->st, H, STACK_TCP_KEEPCNT, &v), 0);
    cr_assert_eq(v, 127);
    cr_assert_eq(stack_tcp_setopt(E->st, 9999, STACK_TCP_KEEPALIVE, 1, E->now), -EBADF);
    cr_assert_eq(stack_tcp_getopt(E->st, 9999, STACK_TCP_KEEPALIVE, &v), -EBADF);
    cr_assert_eq(stack_tcp_getopt(E->st, H, (enum stack_tcp_opt)99, &v), -EINVAL);
}

/* ---- the user timeout ---- */

Test(keepalive, user_timeout_aborts_with_data_unacknowledged)
{
    setopt(STACK_TCP_USER_TIMEOUT, 5000);
    E->now = 200;
    cr_assert_eq(stack_tcp_send(E->st, H, D, 100, E->now), 100);
    expect_at(200, THF_ACK | THF_PSH, ISS + 1, PISN + 1, 100);
    /* RTO 300 ms doubling: 500, 1100, 2300, 4700; the next (9500) is cut to 200 + 5000 */
    expect_at(500, THF_ACK | THF_PSH, ISS + 1, PISN + 1, 100);
    expect_at(1100, THF_ACK | THF_PSH, ISS + 1, PISN + 1, 100);
    expect_at(2300, THF_ACK | THF_PSH, ISS + 1, PISN + 1, 100);
    expect_at(4700, THF_ACK | THF_PSH, ISS + 1, PISN + 1, 100);
    expect_quiet_until(5199);
    cr_assert_eq(th_count_events(E, H, SEV_ERROR), 0);
    th_poll(E, 5200);
    cr_assert_eq(th_pending(E), 0, "no RST: the peer is not answering (as the retry limit)");
    expect_timedout();
    cr_assert_eq(S()->tcp_user_timeouts, 1);
    cr_assert_eq(S()->tcp_timeouts, 0);
}

Test(keepalive, user_timeout_outlasts_the_retry_count)
{
    /* 15 retries (default) would end near 100 s with a 60 s RTO cap; 200 s decides */
    setopt(STACK_TCP_USER_TIMEOUT, 200000);
    E->now = 200;
    cr_assert_eq(stack_tcp_send(E->st, H, D, 10, E->now), 10);
    uint64_t n = 0;
    while (run_to_output(200199) && th_pop(E, &O))
        n++;
    cr_assert_gt(n, 5);
    cr_assert_eq(stack_sock_error(E->st, H), 0);
    th_poll(E, 200200);
    expect_timedout();
    cr_assert_eq(S()->tcp_user_timeouts, 1);
}

Test(keepalive, user_timeout_does_not_fire_while_acks_arrive)
{
    setopt(STACK_TCP_USER_TIMEOUT, 1000);
    E->now = 200;
    /* ten full segments (the initial window), acknowledged one every 250 ms: data stays
     * unacknowledged for 2.5 s in all, but never 1 s without progress */
    cr_assert_eq(stack_tcp_send(E->st, H, D, 10 * 1460, E->now), 10 * 1460);
    for (uint32_t i = 0; i < 10; i++) {
        cr_assert(th_pop(E, &O));
        cr_assert_eq(O.seq, ISS + 1 + i * 1460);
        cr_assert_eq(O.len, 1460);
    }
    for (uint32_t i = 1; i <= 10; i++) {
        expect_quiet_until(200 + i * 250);
        peer_ack(ISS + 1 + i * 1460);
    }
    cr_assert_eq(stack_sock_error(E->st, H), 0);
    cr_assert_eq(tcb_of(H)->retransmits, 0);
    /* with no ACK at all it does fire: 1 s after the send */
    E->now = 5000;
    cr_assert_eq(stack_tcp_send(E->st, H, D, 10, E->now), 10);
    cr_assert(th_pop(E, &O));
    while (run_to_output(5999) && th_pop(E, &O)) {
    }
    cr_assert_eq(stack_sock_error(E->st, H), 0);
    th_poll(E, 6000);
    expect_timedout();
    cr_assert_eq(S()->tcp_user_timeouts, 1);
}

Test(keepalive, duplicate_acks_do_not_hold_off_the_user_timeout)
{
    setopt(STACK_TCP_USER_TIMEOUT, 2000);
    E->now = 200;
    cr_assert_eq(stack_tcp_send(E->st, H, D, 100, E->now), 100);
    cr_assert(th_pop(E, &O));
    for (uint64_t t = 250; t < 2200; t += 250) {
        run_to_output(t);
        th_drop_out(E);
        peer_ack(ISS + 1); /* the peer is there but never takes the data */
    }
    th_drop_out(E);
    th_poll(E, 2200);
    expect_timedout();
}

Test(keepalive, user_timeout_set_late_caps_the_running_timer)
{
    E->now = 200;
    cr_assert_eq(stack_tcp_send(E->st, H, D, 100, E->now), 100);
    expect_at(200, THF_ACK | THF_PSH, ISS + 1, PISN + 1, 100);
    expect_at(500, THF_ACK | THF_PSH, ISS + 1, PISN + 1, 100);
    E->now = 600;
    setopt(STACK_TCP_USER_TIMEOUT, 700); /* data unacked since 200: the RTO (1100) cut to 900 */
    expect_quiet_until(899);
    th_poll(E, 900);
    expect_timedout();
}

/* Zero-window probes: the user timeout counts from the first probe not answered. */
static void close_window_and_queue(void)
{
    E->now = 150;
    peer(THF_ACK, PISN + 1, ISS + 1, 0, NULL, 0);
    E->now = 200;
    cr_assert_eq(stack_tcp_send(E->st, H, D, 100, E->now), 100);
    cr_assert_eq(th_pending(E), 0, "nothing goes into a closed window");
}

Test(keepalive, user_timeout_aborts_with_window_probes_unanswered)
{
    setopt(STACK_TCP_USER_TIMEOUT, 5000);
    close_window_and_queue();
    /* probes of one byte at SND.UNA after 300, 600, 1200, 2400 ms; the 4800 ms one (9500)
     * is cut to the first probe + 5000 = 5500 */
    expect_at(500, THF_ACK, ISS + 1, PISN + 1, 1);
    cr_assert_eq(O.data[0], D[0]);
    expect_at(1100, THF_ACK, ISS + 1, PISN + 1, 1);
    expect_at(2300, THF_ACK, ISS + 1, PISN + 1, 1);
    expect_at(4700, THF_ACK, ISS + 1, PISN + 1, 1);
    expect_quiet_until(5499);
    cr_assert_eq(stack_sock_error(E->st, H), 0);
    th_poll(E, 5500);
    cr_assert_eq(th_pending(E), 0);
    expect_timedout();
    cr_assert_eq(S()->tcp_user_timeouts, 1);
    cr_assert_eq(S()->tcp_window_probes, 4);
}

Test(keepalive, answered_window_probes_never_time_out)
{
    setopt(STACK_TCP_USER_TIMEOUT, 2000);
    close_window_and_queue();
    uint64_t n = 0;
    while (E->now < 120000) {
        uint64_t t = run_to_output(120000);
        if (!t) break;
        cr_assert(th_pop(E, &O));
        cr_assert_eq(O.len, 1);
        cr_assert_eq(O.seq, ISS + 1);
        n++;
        E->now = t + 20;
        peer(THF_ACK, PISN + 1, ISS + 1, 0, NULL, 0); /* still shut, but answered */
    }
    cr_assert_geq(n, 3);
    cr_assert_eq(stack_sock_error(E->st, H), 0);
    cr_assert_eq(S()->tcp_user_timeouts, 0);
    /* the window opens: the data goes and is acknowledged */
    peer(THF_ACK, PISN + 1, ISS + 1, 65535, NULL, 0);
    cr_assert(th_pop(E, &O));
    cr_assert_eq(O.len, 100);
    peer_ack(ISS + 101);
    expect_quiet_until(E->now + 10000);
    cr_assert_eq(stack_sock_error(E->st, H), 0);
}

/* ---- two engines: each answers the other's keepalives ---- */

Test(keepalive_link, both_sides_probe_and_answer_for_a_day, .init = NULL, .fini = NULL)
{
    struct stack_config ca, cb;
    th_config(&ca, TH_ADDR(10, 0, 0, 1));
    th_config(&cb, TH_ADDR(10, 0, 0, 2));
    cb.isn_secret[0] ^= 0x33;
    struct th_engine *a = th_new(&ca, false), *b = th_new(&cb, false);
    struct th_link_cfg lc = {.seed = 7, .delay_ms = 25};
    struct th_link *l = th_link_new(a, b, &lc);
    int lh = stack_tcp_listen(b->st, 80, 4);
    cr_assert_eq(stack_tcp_setopt(b->st, lh, STACK_TCP_KEEPIDLE, 600, 0), 0);
    cr_assert_eq(stack_tcp_setopt(b->st, lh, STACK_TCP_KEEPALIVE, 1, 0), 0);
    int ha = stack_tcp_connect(a->st, TH_ADDR(10, 0, 0, 2), 80, 0, 0);
    cr_assert_eq(stack_tcp_setopt(a->st, ha, STACK_TCP_KEEPIDLE, 60, 0), 0);
    cr_assert_eq(stack_tcp_setopt(a->st, ha, STACK_TCP_KEEPINTVL, 1, 0), 0);
    cr_assert_eq(stack_tcp_setopt(a->st, ha, STACK_TCP_KEEPCNT, 1, 0), 0);
    cr_assert_eq(stack_tcp_setopt(a->st, ha, STACK_TCP_KEEPALIVE, 1, 0), 0);
    int hb = 0;
    uint64_t day = 24ull * 3600 * 1000;
    while (th_link_step(l, day)) {
        if (hb <= 0) hb = stack_tcp_accept(b->st, lh);
    }
    cr_assert_gt(hb, 0);
    cr_assert_eq(stack_sock_error(a->st, ha), 0);
    cr_assert_eq(stack_sock_error(b->st, hb), 0);
    struct stack_conn_info ia, ib;
    stack_tcp_info(a->st, ha, &ia);
    stack_tcp_info(b->st, hb, &ib);
    cr_assert_eq(ia.state, TCP_ESTABLISHED);
    cr_assert_eq(ib.state, TCP_ESTABLISHED);
    /* a is established at 50 ms and probes 60 s after it last heard b; the answer comes
     * one round trip (50 ms) later: probes at 50 + k * 60050 ms, k = 1..1438 in a day.
     * b (established at 75 ms) likewise every 600050 ms: 143. Neither side's probes count
     * as hearing the other (they are not acceptable segments), only the answers. */
    uint64_t pa = stack_stats(a->st)->tcp_keepalive_probes;
    uint64_t pb = stack_stats(b->st)->tcp_keepalive_probes;
    cr_assert_eq(pa, 1438, "a sent %llu probes", (unsigned long long)pa);
    cr_assert_eq(pb, 143, "b sent %llu probes", (unsigned long long)pb);
    cr_assert_eq(stack_stats(a->st)->tcp_keepalive_drops, 0);
    cr_assert_eq(stack_stats(b->st)->tcp_keepalive_drops, 0);
    th_link_free(l);
    th_free(a);
    th_free(b);
}
