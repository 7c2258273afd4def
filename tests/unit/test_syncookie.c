/* SYN cookies (RFC 4987 §3.6) and compact half-open entries: the cookie's encoding, and
 * crafted segments into one engine in virtual time, with exact sequence numbers. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "tcp.h"
#include "tcp_harness.h"

#define ISS 1000u     /* ISN of request entries (tcp_test_set_isn); cookies are computed */
#define PISN 7000000u /* the crafted peers' ISN */
#define LPORT 80
#define PPORT 41000

static struct th_engine *E;
static struct th_out O;

static void mk(uint32_t syncookies, uint32_t syn_queue_max)
{
    struct stack_config cfg;
    th_config(&cfg, TH_US);
    cfg.syncookies = syncookies;
    cfg.syn_queue_max = syn_queue_max;
    E = th_new(&cfg, true);
    tcp_test_set_isn(E->st, ISS);
}

static void teardown(void)
{
    if (E) th_free(E);
    E = NULL;
}

TestSuite(syncookie, .fini = teardown);

static const struct stack_stats *stats(void)
{
    return stack_stats(E->st);
}

static const uint64_t *key(void)
{
    return TS(E->st)->hkey;
}

/* A segment from peer port pp. mss 0: no MSS option; ws >= 0: a window scale option. */
static void seg_opt(uint16_t pp, uint8_t flags, uint32_t seq, uint32_t ack, uint16_t mss, int ws,
                    const void *data, size_t len)
{
    uint8_t opt[8];
    size_t n = 0;
    if (mss) {
        opt[n++] = 2;
        opt[n++] = 4;
        opt[n++] = (uint8_t)(mss >> 8);
        opt[n++] = (uint8_t)mss;
    }
    if (ws >= 0) {
        opt[n++] = 1;
        opt[n++] = 3;
        opt[n++] = 3;
        opt[n++] = (uint8_t)ws;
    }
    struct th_spec s = {.sport = pp,
                        .dport = LPORT,
                        .seq = seq,
                        .ack = ack,
                        .flags = flags,
                        .wnd = 65535,
                        .opt = n ? opt : NULL,
                        .optlen = n,
                        .data = data,
                        .len = len};
    th_seg(E, &s);
}

static void syn(uint16_t pp, uint16_t mss)
{
    seg_opt(pp, THF_SYN, PISN, 0, mss, 7, NULL, 0);
}

static void ack(uint16_t pp, uint32_t a)
{
    seg_opt(pp, THF_ACK, PISN + 1, a, 0, -1, NULL, 0);
}

static void expect(uint16_t pp, uint8_t flags, uint32_t seq, uint32_t ackn, uint32_t len)
{
    cr_assert(th_pop(E, &O), "expected a segment flags=%#x seq=%u ack=%u", flags, seq, ackn);
    cr_assert_eq(O.dport, pp, "to port %u, want %u", O.dport, pp);
    cr_assert_eq(O.flags, flags, "flags %#x, want %#x", O.flags, flags);
    cr_assert_eq(O.seq, seq, "seq %u, want %u", O.seq, seq);
    cr_assert_eq(O.ack, ackn, "ack %u, want %u", O.ack, ackn);
    cr_assert_eq(O.len, len, "len %u, want %u", O.len, len);
}

static void expect_none(void)
{
    cr_assert_eq(th_pending(E), 0, "unexpected segment");
}

static void count_cb(void *arg, const struct stack_conn_info *ci)
{
    if (ci->state == TCP_SYN_RCVD) (*(size_t *)arg)++;
}

static size_t half_open(void)
{
    size_t n = 0;
    stack_tcp_foreach(E->st, count_cb, &n);
    return n;
}

static uint32_t cookie(uint16_t pp, uint16_t mss)
{
    return tcp_syncookie_make(key(), E->now, ipa_from_v4(TH_US), LPORT, ipa_from_v4(TH_PEER), pp,
                              PISN, mss);
}

/* backlog 2 filled by two handshakes whose SYN-ACKs went unanswered for an RTO */
static int fill_and_age(void)
{
    int lh = stack_tcp_listen(E->st, LPORT, 2);
    cr_assert_gt(lh, 0);
    syn(PPORT, 1460);
    syn(PPORT + 1, 1460);
    expect(PPORT, THF_SYN | THF_ACK, ISS, PISN + 1, 0);
    cr_assert_eq(O.ws, 3, "a request entry negotiates window scaling");
    expect(PPORT + 1, THF_SYN | THF_ACK, ISS, PISN + 1, 0);
    th_poll(E, 1000);
    expect(PPORT, THF_SYN | THF_ACK, ISS, PISN + 1, 0);
    expect(PPORT + 1, THF_SYN | THF_ACK, ISS, PISN + 1, 0);
    cr_assert_eq(half_open(), 2);
    return lh;
}

/* ---- the cookie itself ---- */

Test(syncookie, layout_and_validity_window)
{
    static const uint64_t k[2] = {0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
    struct ip_addr a = ipa_from_v4(TH_US), b = ipa_from_v4(TH_PEER);
    uint32_t c = tcp_syncookie_make(k, 1000, a, 80, b, 5555, 12345, 1460);
    cr_assert_eq(c, 0x06b4f7eeu, "the cookie for this key, time and tuple: %#x", c);
    cr_assert_eq(c >> 27, 0, "t mod 32: 1000 ms is period 0");
    cr_assert_eq((c >> 24) & 7, 6, "MSS index of 1460");
    uint32_t c3 = tcp_syncookie_make(k, 3 * 64000 + 5, a, 80, b, 5555, 12345, 1460);
    cr_assert_eq(c3 >> 27, 3);
    /* valid in its period and the next, not after */
    cr_assert_eq(tcp_syncookie_check(k, 1000, a, 80, b, 5555, 12345, c), 1460);
    cr_assert_eq(tcp_syncookie_check(k, 127999, a, 80, b, 5555, 12345, c), 1460);
    cr_assert_eq(tcp_syncookie_check(k, 128000, a, 80, b, 5555, 12345, c), 0);
    cr_assert_eq(tcp_syncookie_check(k, 32 * 64000 + 1000, a, 80, b, 5555, 12345, c), 0,
                 "t wraps mod 32 but the hash covers the whole counter");
    /* any other tuple, peer ISN, key, or a changed bit fails */
    cr_assert_eq(tcp_syncookie_check(k, 1000, a, 80, b, 5556, 12345, c), 0);
    cr_assert_eq(tcp_syncookie_check(k, 1000, a, 81, b, 5555, 12345, c), 0);
    cr_assert_eq(tcp_syncookie_check(k, 1000, a, 80, ipa_from_v4(TH_PEER + 1), 5555, 12345, c), 0);
    cr_assert_eq(tcp_syncookie_check(k, 1000, a, 80, b, 5555, 12346, c), 0);
    static const uint64_t k2[2] = {1, 2};
    cr_assert_eq(tcp_syncookie_check(k2, 1000, a, 80, b, 5555, 12345, c), 0);
    for (int bit = 0; bit < 32; bit++)
        cr_assert_eq(tcp_syncookie_check(k, 1000, a, 80, b, 5555, 12345, c ^ (1u << bit)), 0,
                     "bit %d flipped", bit);
}

Test(syncookie, mss_table_rounds_down)
{
    static const uint16_t in[] = {64,   100,  535,  536,  1219, 1220, 1300, 1399,
                                  1400, 1452, 1460, 1500, 8959, 8960, 65535};
    static const uint16_t out[] = {64,   64,   64,   536,  536,  1220, 1300, 1300,
                                   1400, 1440, 1460, 1460, 1460, 8960, 8960};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        cr_assert_eq(tcp_syncookie_mss(in[i]), out[i], "mss %u -> %u", in[i], out[i]);
        static const uint64_t k[2] = {3, 4};
        uint32_t c = tcp_syncookie_make(k, 0, ipa_from_v4(1), 2, ipa_from_v4(3), 4, 5, in[i]);
        cr_assert_eq(tcp_syncookie_check(k, 0, ipa_from_v4(1), 2, ipa_from_v4(3), 4, 5, c), out[i]);
    }
}

Test(syncookie, timestamp_bits_round_trip)
{
    static const uint32_t ts[] = {0x12345678u, 0x40u, 0x7fu, 0xffffffffu, 1000000u};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        for (int ws = -1; ws <= 14; ws++)
            for (int sack = 0; sack < 2; sack++) {
                uint32_t v = tcp_syncookie_ts_encode(ts[i], ws, sack);
                cr_assert_leq(v, ts[i], "never ahead of the clock");
                cr_assert_lt(ts[i] - v, 64u, "at most 63 ticks behind");
                int dws = 99;
                bool dsack = !sack;
                cr_assert(tcp_syncookie_ts_decode(v, &dws, &dsack));
                cr_assert_eq(dws, ws);
                cr_assert_eq(dsack, (bool)sack);
            }
    int ws;
    bool sack;
    cr_assert_eq(tcp_syncookie_ts_encode(0x12345600u, 7, true), 0x123455f8u, "one step back");
    cr_assert_eq(tcp_syncookie_ts_encode(0x1234567fu, -1, false), 0x12345660u);
    cr_assert_not(tcp_syncookie_ts_decode(0x12345600u, &ws, &sack), "marker bit clear");
}

/* ---- the engine ---- */

Test(syncookie, queue_full_syn_ack_carries_cookie_and_ack_completes_with_its_mss)
{
    mk(1, 4096);
    int lh = fill_and_age();
    syn(PPORT + 2, 1400); /* the peer offers window scaling: refused (no timestamps) */
    uint32_t c = cookie(PPORT + 2, 1400);
    expect(PPORT + 2, THF_SYN | THF_ACK, c, PISN + 1, 0);
    cr_assert_eq(O.mss, 1460, "our MSS");
    cr_assert_eq(O.ws, -1, "no window scale option from a cookie");
    cr_assert_eq(O.wnd, 65535);
    cr_assert_eq(stats()->tcp_syncookies_sent, 1);
    cr_assert_eq(half_open(), 2, "nothing stored for a cookie");
    cr_assert_eq(th_count_lines(E, "[TCP ] syncookie sent"), 1);

    /* the final ACK, 300 ms later, carrying data */
    th_poll(E, 1300);
    seg_opt(PPORT + 2, THF_ACK | THF_PSH, PISN + 1, c + 1, 0, -1, "hello", 5);
    cr_assert_eq(stats()->tcp_syncookies_validated, 1);
    cr_assert_eq(stats()->tcp_syncookies_failed, 0);
    cr_assert_eq(th_count_events(E, lh, SEV_ACCEPT), 1);
    int h = stack_tcp_accept(E->st, lh);
    cr_assert_gt(h, 0);
    struct stack_conn_info ci;
    cr_assert_eq(stack_tcp_info(E->st, h, &ci), 0);
    cr_assert_eq(ci.state, TCP_ESTABLISHED);
    cr_assert_eq(ci.rport, PPORT + 2);
    cr_assert_eq(ci.snd_una, c + 1);
    cr_assert_eq(ci.rcv_nxt, PISN + 6);
    char buf[16];
    cr_assert_eq(stack_tcp_recv(E->st, h, buf, sizeof buf, E->now), 5);
    cr_assert(memcmp(buf, "hello", 5) == 0);
    /* segments are cut at the cookie's MSS, windows are unscaled */
    struct tcb *t = handle_get(E->st, h, HANDLE_TCP);
    cr_assert_eq(t->snd_mss, 1400);
    cr_assert_not(t->ws_ok);
    th_drop_out(E);
    static char data[2000];
    cr_assert_eq(stack_tcp_send(E->st, h, data, sizeof data, E->now), 2000);
    expect(PPORT + 2, THF_ACK, c + 1, PISN + 6, 1400);
    cr_assert_eq(O.wnd, 65530, "unscaled: 65535 less the 5 bytes (SWS avoidance)");
    expect(PPORT + 2, THF_ACK | THF_PSH, c + 1401, PISN + 6, 600);
    expect_none();
}

Test(syncookie, peer_without_mss_option_gets_536)
{
    mk(2, 4096); /* always cookies */
    stack_tcp_listen(E->st, LPORT, 8);
    seg_opt(PPORT, THF_SYN, PISN, 0, 0, -1, NULL, 0);
    uint32_t c = cookie(PPORT, 536);
    cr_assert_eq((c >> 24) & 7, 1);
    expect(PPORT, THF_SYN | THF_ACK, c, PISN + 1, 0);
    ack(PPORT, c + 1);
    expect_none();
    struct tcb *t = tcb_lookup(E->st, ipa_from_v4(TH_US), LPORT, ipa_from_v4(TH_PEER), PPORT);
    cr_assert(t);
    cr_assert_eq(t->state, TCP_ESTABLISHED);
    cr_assert_eq(t->snd_mss, 536);
}

Test(syncookie, wrong_forged_and_expired_acks_get_rst_and_count)
{
    mk(2, 4096);
    stack_tcp_listen(E->st, LPORT, 8);
    th_poll(E, 1000);
    syn(PPORT, 1460);
    syn(PPORT + 1, 1460);
    uint32_t c0 = cookie(PPORT, 1460), c1 = cookie(PPORT + 1, 1460);
    expect(PPORT, THF_SYN | THF_ACK, c0, PISN + 1, 0);
    expect(PPORT + 1, THF_SYN | THF_ACK, c1, PISN + 1, 0);
    /* wrong: one off */
    ack(PPORT, c0 + 2);
    expect(PPORT, THF_RST, c0 + 2, 0, 0);
    /* forged: another connection's cookie */
    ack(PPORT, c1 + 1);
    expect(PPORT, THF_RST, c1 + 1, 0, 0);
    /* the right cookie, but a different peer ISN */
    seg_opt(PPORT, THF_ACK, PISN + 2, c0 + 1, 0, -1, NULL, 0);
    expect(PPORT, THF_RST, c0 + 1, 0, 0);
    cr_assert_eq(stats()->tcp_syncookies_failed, 3);
    /* last valid instant: the end of the next period (made in period 0) */
    th_poll(E, 127999);
    ack(PPORT, c0 + 1);
    expect_none();
    cr_assert_eq(stats()->tcp_syncookies_validated, 1);
    /* expired */
    th_poll(E, 128000);
    ack(PPORT + 1, c1 + 1);
    expect(PPORT + 1, THF_RST, c1 + 1, 0, 0);
    cr_assert_eq(stats()->tcp_syncookies_failed, 4);
    cr_assert_eq(stats()->tcp_syncookies_validated, 1);
    cr_assert(tcb_lookup(E->st, ipa_from_v4(TH_US), LPORT, ipa_from_v4(TH_PEER), PPORT + 1) ==
              NULL);
    /* long after the last cookie, an ACK to the listener is not checked at all */
    th_poll(E, 1000 + 128000);
    ack(PPORT + 3, 12345);
    expect(PPORT + 3, THF_RST, 12345, 0, 0);
    cr_assert_eq(stats()->tcp_syncookies_failed, 4);
}

Test(syncookie, cookies_off_while_the_queue_has_room)
{
    mk(1, 4096);
    stack_tcp_listen(E->st, LPORT, 8);
    syn(PPORT, 1460);
    expect(PPORT, THF_SYN | THF_ACK, ISS, PISN + 1, 0);
    cr_assert_eq(O.ws, 3);
    cr_assert_eq(half_open(), 1);
    ack(PPORT + 5, 4242); /* a stray ACK: RST, not a cookie check */
    expect(PPORT + 5, THF_RST, 4242, 0, 0);
    ack(PPORT, ISS + 1);
    expect_none();
    cr_assert_eq(half_open(), 0);
    cr_assert_eq(stats()->tcp_syncookies_sent, 0);
    cr_assert_eq(stats()->tcp_syncookies_failed, 0);
    cr_assert_eq(stats()->tcp_syncookies_validated, 0);
    struct tcb *t = tcb_lookup(E->st, ipa_from_v4(TH_US), LPORT, ipa_from_v4(TH_PEER), PPORT);
    cr_assert_eq(t->state, TCP_ESTABLISHED);
    cr_assert(t->ws_ok);
    cr_assert_eq(t->snd_wscale, 7);
    cr_assert_eq(t->rtt_sampled, true, "the SYN-ACK's round trip was sampled");
}

Test(syncookie, queue_full_of_fresh_handshakes_drops_the_syn)
{
    mk(1, 4096);
    stack_tcp_listen(E->st, LPORT, 2);
    syn(PPORT, 1460);
    syn(PPORT + 1, 1460);
    syn(PPORT + 2, 1460);
    expect(PPORT, THF_SYN | THF_ACK, ISS, PISN + 1, 0);
    expect(PPORT + 1, THF_SYN | THF_ACK, ISS, PISN + 1, 0);
    expect_none();
    cr_assert_eq(stats()->tcp_syn_queue_full, 1);
    cr_assert_eq(stats()->tcp_syncookies_sent, 0);
}

Test(syncookie, disabled_drops_when_full)
{
    mk(0, 4096);
    fill_and_age();
    syn(PPORT + 2, 1460);
    expect_none();
    cr_assert_eq(stats()->tcp_syn_queue_full, 1);
    cr_assert_eq(stats()->tcp_syncookies_sent, 0);
    ack(PPORT + 2, 4242);
    expect(PPORT + 2, THF_RST, 4242, 0, 0);
    cr_assert_eq(stats()->tcp_syncookies_failed, 0);
}

Test(syncookie, engine_wide_bound)
{
    mk(1, 3);
    stack_tcp_listen(E->st, LPORT, 100);
    for (int i = 0; i < 5; i++)
        syn((uint16_t)(PPORT + i), 1460);
    for (int i = 0; i < 3; i++)
        expect((uint16_t)(PPORT + i), THF_SYN | THF_ACK, ISS, PISN + 1, 0);
    for (int i = 3; i < 5; i++)
        expect((uint16_t)(PPORT + i), THF_SYN | THF_ACK, cookie((uint16_t)(PPORT + i), 1460),
               PISN + 1, 0);
    cr_assert_eq(half_open(), 3);
    cr_assert_eq(stats()->tcp_syncookies_sent, 2);
}

Test(syncookie, accept_queue_full_drops_the_cookie_ack_until_room)
{
    mk(1, 4096);
    int lh = fill_and_age();
    syn(PPORT + 2, 1460);
    uint32_t c = cookie(PPORT + 2, 1460);
    expect(PPORT + 2, THF_SYN | THF_ACK, c, PISN + 1, 0);
    ack(PPORT, ISS + 1);
    ack(PPORT + 1, ISS + 1);
    ack(PPORT + 2, c + 1); /* accept queue full (backlog 2) */
    expect_none();
    cr_assert_eq(stats()->tcp_listen_overflow, 1);
    cr_assert_eq(stats()->tcp_syncookies_validated, 0);
    cr_assert(tcb_lookup(E->st, ipa_from_v4(TH_US), LPORT, ipa_from_v4(TH_PEER), PPORT + 2) ==
              NULL);
    cr_assert_gt(stack_tcp_accept(E->st, lh), 0);
    ack(PPORT + 2, c + 1); /* the peer's retransmission */
    expect_none();
    cr_assert_eq(stats()->tcp_syncookies_validated, 1);
    cr_assert(tcb_lookup(E->st, ipa_from_v4(TH_US), LPORT, ipa_from_v4(TH_PEER), PPORT + 2) !=
              NULL);
}

Test(syncookie, half_open_entry_is_small_and_listed)
{
    mk(1, 4096);
    /* 80 bytes with IPv4 addresses; the peer's address is 16 bytes now (IPv6), ours is
     * derived from its family */
    cr_assert_leq(sizeof(struct tcp_req), 88, "a half-open entry: %zu bytes",
                  sizeof(struct tcp_req));
    cr_assert_lt(sizeof(struct tcp_req) * 4, sizeof(struct tcb), "a TCB is %zu bytes",
                 sizeof(struct tcb));
    uint32_t before = TS(E->st)->ntcb;
    stack_tcp_listen(E->st, LPORT, 8);
    syn(PPORT, 1460);
    cr_assert_eq(TS(E->st)->ntcb, before + 1, "only the listener is a TCB");
    cr_assert_eq(TS(E->st)->nreq, 1);
    cr_assert_eq(half_open(), 1);
}

Test(syncookie, fewer_syn_ack_retries_under_pressure)
{
    mk(1, 4096);
    stack_tcp_listen(E->st, LPORT, 16);
    for (int i = 0; i < 16; i++)
        syn((uint16_t)(PPORT + i), 1460);
    th_drop_out(E);
    unsigned n = 0;
    while (stack_next_deadline(E->st) <= 7000) {
        th_poll(E, stack_next_deadline(E->st));
        while (th_pop(E, &O)) {
            cr_assert_eq(O.flags, THF_SYN | THF_ACK);
            n++;
        }
    }
    /* at 1 and 3 s all 16 are retransmitted; at 7 s the queue is more than half full
     * until 8 entries are freed, and the other 8 get their third retransmission */
    cr_assert_eq(n, 16 * 2 + 8);
    cr_assert_eq(stats()->tcp_timeouts, 8);
    cr_assert_eq(half_open(), 8);
    cr_assert_eq(stack_next_deadline(E->st), 7000 + 8000);
}

Test(syncookie, syn_rcvd_rules_on_an_entry)
{
    mk(1, 4096);
    int lh = stack_tcp_listen(E->st, LPORT, 8);
    syn(PPORT, 1460);
    expect(PPORT, THF_SYN | THF_ACK, ISS, PISN + 1, 0);
    /* the peer's SYN again: the SYN-ACK again */
    syn(PPORT, 1460);
    expect(PPORT, THF_SYN | THF_ACK, ISS, PISN + 1, 0);
    /* an in-window RST that is not exact: one challenge ACK, then silence */
    seg_opt(PPORT, THF_RST, PISN + 100, 0, 0, -1, NULL, 0);
    expect(PPORT, THF_ACK, ISS + 1, PISN + 1, 0);
    cr_assert_eq(O.wnd, 65535 >> 3, "scaled: window scaling was negotiated");
    seg_opt(PPORT, THF_RST, PISN + 100, 0, 0, -1, NULL, 0);
    expect_none();
    cr_assert_eq(stats()->tcp_challenge_acks, 1);
    /* out of window: ignored */
    seg_opt(PPORT, THF_RST, PISN + 100000, 0, 0, -1, NULL, 0);
    expect_none();
    cr_assert_eq(half_open(), 1);
    /* an ACK of something else: RST, the entry stays */
    ack(PPORT, ISS + 9);
    expect(PPORT, THF_RST, ISS + 9, 0, 0);
    cr_assert_eq(half_open(), 1);
    /* the exact RST: back to LISTEN */
    seg_opt(PPORT, THF_RST, PISN + 1, 0, 0, -1, NULL, 0);
    expect_none();
    cr_assert_eq(half_open(), 0);
    cr_assert(th_has_line(E, "[TCP ] state SYN_RCVD -> CLOSED"));
    /* closing the listener resets its half-open entries */
    syn(PPORT + 1, 1460);
    expect(PPORT + 1, THF_SYN | THF_ACK, ISS, PISN + 1, 0);
    cr_assert_eq(stack_tcp_close(E->st, lh, E->now), 0);
    expect(PPORT + 1, THF_RST | THF_ACK, ISS + 1, PISN + 1, 0);
    cr_assert_eq(TS(E->st)->nreq, 0);
    cr_assert_eq(stack_next_deadline(E->st), STACK_TIME_NEVER);
}
