/* SYN cookies with timestamps (RFC 4987 §3.6, RFC 7323): the peer's window scale and
 * SACK-permitted ride in the low bits of our SYN-ACK's TSval and come back in the TSecr
 * of the ACK, so a cookie connection keeps window scaling, SACK and timestamps. Exact
 * option values against crafted segments, in virtual time. */
#include <criterion/criterion.h>
#include <string.h>

#include "tcp.h"
#include "tcp_harness.h"

#define PISN 7000000u
#define LPORT 80
#define PPORT 41000
#define NOW 5000u

static struct th_engine *E;
static struct th_out O;

static void setup(void)
{
    struct stack_config cfg;
    th_config(&cfg, TH_US);
    cfg.syncookies = 2; /* always: every SYN is answered with a cookie */
    E = th_new(&cfg, true);
    th_poll(E, NOW);
    cr_assert_gt(stack_tcp_listen(E->st, LPORT, 8), 0);
}

static void teardown(void)
{
    th_free(E);
}

TestSuite(syncookie_ts, .init = setup, .fini = teardown);

static void put32b(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* A SYN: MSS 1460, then optionally NOP WS ws, SACK-permitted, a TSopt (TSval 777). */
static void syn(int ws, bool sack, bool ts)
{
    uint8_t opt[24] = {2, 4, 0x05, 0xb4};
    size_t n = 4;
    if (ws >= 0) {
        uint8_t w[4] = {1, 3, 3, (uint8_t)ws};
        memcpy(opt + n, w, 4);
        n += 4;
    }
    if (sack) {
        uint8_t p[4] = {1, 1, 4, 2};
        memcpy(opt + n, p, 4);
        n += 4;
    }
    if (ts) {
        uint8_t t[4] = {1, 1, 8, 10};
        memcpy(opt + n, t, 4);
        put32b(opt + n + 4, 777);
        put32b(opt + n + 8, 0);
        n += 12;
    }
    struct th_spec s = {.sport = PPORT,
                        .dport = LPORT,
                        .seq = PISN,
                        .flags = THF_SYN,
                        .wnd = 65535,
                        .opt = opt,
                        .optlen = n};
    th_seg(E, &s);
}

static void ack(uint32_t cookie, bool ts, uint32_t tsecr)
{
    uint8_t opt[12] = {1, 1, 8, 10};
    put32b(opt + 4, 778);
    put32b(opt + 8, tsecr);
    struct th_spec s = {.sport = PPORT,
                        .dport = LPORT,
                        .seq = PISN + 1,
                        .ack = cookie + 1,
                        .flags = THF_ACK,
                        .wnd = 1000,
                        .opt = ts ? opt : NULL,
                        .optlen = ts ? 12 : 0};
    th_seg(E, &s);
}

static uint32_t clock_now(void)
{
    return tcp_ts_offset(TS(E->st)->hkey, ipa_from_v4(TH_US), LPORT, ipa_from_v4(TH_PEER), PPORT) +
           NOW;
}

static struct tcb *child(void)
{
    struct tcb *t = tcb_lookup(E->st, ipa_from_v4(TH_US), LPORT, ipa_from_v4(TH_PEER), PPORT);
    cr_assert(t, "the cookie ACK made a connection");
    return t;
}

Test(syncookie_ts, window_scale_and_sack_come_back_in_the_tsecr)
{
    syn(7, true, true);
    cr_assert(th_pop(E, &O));
    cr_assert_eq(O.flags, THF_SYN | THF_ACK);
    uint32_t cookie = O.seq;
    cr_assert_eq(cookie, tcp_syncookie_make(TS(E->st)->hkey, NOW, ipa_from_v4(TH_US), LPORT,
                                            ipa_from_v4(TH_PEER), PPORT, PISN, 1460));
    cr_assert_eq(O.ws, 3, "our shift for a 256 KiB buffer");
    cr_assert(O.sack_perm);
    cr_assert(O.ts);
    cr_assert_eq(O.tsecr, 777);
    /* bit 5 set, bit 4 SACK, bits 0-3 the shift + 1; never ahead of the clock */
    cr_assert_eq(O.tsval & 0x3f, 0x20u | 0x10u | 8u, "low bits %#x", O.tsval & 0x3f);
    uint32_t c = clock_now();
    cr_assert_eq(O.tsval, ((c & ~0x3fu) | 0x38u) - ((c & 0x3fu) < 0x38u ? 0x40u : 0));
    uint32_t tsval = O.tsval;
    ack(cookie, true, tsval);
    struct tcb *t = child();
    cr_assert_eq(stack_stats(E->st)->tcp_syncookies_validated, 1);
    cr_assert(t->ws_ok);
    cr_assert_eq(t->snd_wscale, 7);
    cr_assert_eq(t->rcv_wscale, 3);
    cr_assert(t->sack_ok);
    cr_assert(t->ts_ok);
    cr_assert_eq(t->ts_recent, 778);
    cr_assert_eq(t->snd_wnd, 1000u << 7, "the ACK's window scaled by the peer's shift");
    cr_assert_eq(t->snd_mss, 1460);
}

Test(syncookie_ts, no_window_scale_no_sack_only_timestamps)
{
    syn(-1, false, true);
    cr_assert(th_pop(E, &O));
    cr_assert_eq(O.ws, -1);
    cr_assert(!O.sack_perm);
    cr_assert_eq(O.tsval & 0x3f, 0x20u);
    ack(O.seq, true, O.tsval);
    struct tcb *t = child();
    cr_assert(!t->ws_ok);
    cr_assert_eq(t->snd_wscale, 0);
    cr_assert_eq(t->rcv_wscale, 0);
    cr_assert(!t->sack_ok);
    cr_assert(t->ts_ok);
}

Test(syncookie_ts, without_the_peers_tsopt_as_before)
{
    syn(7, true, false);
    cr_assert(th_pop(E, &O));
    cr_assert_eq(O.ws, -1, "nowhere to keep the shift");
    cr_assert(!O.sack_perm);
    cr_assert(!O.ts);
    ack(O.seq, false, 0);
    struct tcb *t = child();
    cr_assert(!t->ws_ok);
    cr_assert(!t->sack_ok);
    cr_assert(!t->ts_ok);
}

Test(syncookie_ts, an_ack_without_tsopt_gets_no_options)
{
    syn(7, true, true);
    cr_assert(th_pop(E, &O));
    ack(O.seq, false, 0);
    struct tcb *t = child();
    cr_assert(!t->ws_ok);
    cr_assert(!t->sack_ok);
    cr_assert(!t->ts_ok);
}

Test(syncookie_ts, a_tsecr_from_the_future_brings_no_options)
{
    syn(7, true, true);
    cr_assert(th_pop(E, &O));
    ack(O.seq, true, clock_now() + 100000);
    struct tcb *t = child();
    cr_assert_eq(stack_stats(E->st)->tcp_ts_ecr_future, 1);
    cr_assert(!t->ws_ok);
    cr_assert(!t->sack_ok);
    cr_assert(!t->ts_ok);
}

Test(syncookie_ts, the_cookie_connection_carries_timestamps_and_scaled_windows)
{
    syn(7, true, true);
    cr_assert(th_pop(E, &O));
    uint32_t cookie = O.seq;
    ack(cookie, true, O.tsval);
    th_poll(E, NOW + 10);
    struct tcb *t = child();
    t->ack_now = true;
    tcp_output(E->st, t);
    cr_assert(th_pop(E, &O));
    cr_assert_eq(O.flags, THF_ACK);
    cr_assert_eq(O.seq, cookie + 1);
    cr_assert(O.ts);
    cr_assert_eq(O.tsval, clock_now() + 10);
    cr_assert_eq(O.tsecr, 778);
    cr_assert_eq((uint32_t)O.wnd << 3, t->rcv_adv - t->rcv_nxt, "scaled by our shift 3");
    cr_assert_gt((uint32_t)O.wnd << 3, 65535u, "a window beyond 64 KiB");
}
