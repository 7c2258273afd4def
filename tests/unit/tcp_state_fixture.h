/* The fixture of the hand-crafted-segment tests (test_tcp_state.c, test_tcp_data.c): one
 * engine with a fixed ISN, a crafted peer, and helpers that send a segment and expect the
 * exact answer. */
#ifndef MINITCP_TCP_STATE_FIXTURE_H
#define MINITCP_TCP_STATE_FIXTURE_H

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tcp.h"
#include "tcp_harness.h"

#define ISS 1000u     /* our ISN (tcp_test_set_isn) */
#define PISN 5000000u /* the crafted peer's ISN */
#define LPORT 80      /* our listening port */
#define PPORT 40000   /* the peer's port */
#define WIN 65535

static struct th_engine *E;
static struct th_out O;

static inline void setup(void)
{
    E = th_default();
    tcp_test_set_isn(E->st, ISS);
}
static inline void teardown(void)
{
    th_free(E);
}

static inline void seg_full(uint8_t flags, uint32_t seq, uint32_t ack, const void *data, size_t len,
                            uint16_t sport, uint16_t dport)
{
    struct th_spec s = {.sport = sport,
                        .dport = dport,
                        .seq = seq,
                        .ack = ack,
                        .flags = flags,
                        .wnd = WIN,
                        .data = data,
                        .len = len};
    th_seg(E, &s);
}

static inline void seg(uint8_t flags, uint32_t seq, uint32_t ack, const void *data, size_t len)
{
    seg_full(flags, seq, ack, data, len, PPORT, LPORT);
}

static inline void expect(uint8_t flags, uint32_t seq, uint32_t ack, uint32_t len)
{
    cr_assert(th_pop(E, &O), "expected a segment flags=%#x seq=%u ack=%u", flags, seq, ack);
    cr_assert_eq(O.flags, flags, "flags %#x, want %#x", O.flags, flags);
    cr_assert_eq(O.seq, seq, "seq %u, want %u", O.seq, seq);
    cr_assert_eq(O.ack, ack, "ack %u, want %u", O.ack, ack);
    cr_assert_eq(O.len, len, "len %u, want %u", O.len, len);
}

static inline void expect_none(void)
{
    cr_assert_eq(th_pending(E), 0, "unexpected segment");
}

static inline struct stack_conn_info info_of(int h)
{
    struct stack_conn_info ci;
    cr_assert_eq(stack_tcp_info(E->st, h, &ci), 0);
    return ci;
}

static inline enum tcp_state state_of(int h)
{
    return info_of(h).state;
}

static inline void count_cb(void *arg, const struct stack_conn_info *ci)
{
    if (ci->state != TCP_LISTEN) (*(size_t *)arg)++;
}

static inline size_t conns(void)
{
    size_t n = 0;
    stack_tcp_foreach(E->st, count_cb, &n);
    return n;
}

static inline const struct stack_stats *stats(void)
{
    return stack_stats(E->st);
}

/* Passive open from the crafted peer; returns the accepted handle. *lh gets the listener. */
static inline int passive_open(int *lh)
{
    *lh = stack_tcp_listen(E->st, LPORT, 8);
    cr_assert_gt(*lh, 0);
    seg(THF_SYN, PISN, 0, NULL, 0);
    expect(THF_SYN | THF_ACK, ISS, PISN + 1, 0);
    cr_assert_eq(O.mss, 1460);
    cr_assert_eq(O.ws, -1, "no window scale unless the peer offers it");
    seg(THF_ACK, PISN + 1, ISS + 1, NULL, 0);
    expect_none();
    cr_assert_eq(th_count_events(E, *lh, SEV_ACCEPT), 1);
    int h = stack_tcp_accept(E->st, *lh);
    cr_assert_gt(h, 0);
    cr_assert_eq(state_of(h), TCP_ESTABLISHED);
    return h;
}

/* Active open to the crafted peer (which listens on LPORT, we use PPORT). */
static inline int active_open(void)
{
    int h = stack_tcp_connect(E->st, TH_PEER, LPORT, PPORT, E->now);
    cr_assert_gt(h, 0);
    expect(THF_SYN, ISS, 0, 0);
    cr_assert_eq(O.mss, 1460);
    cr_assert_eq(O.ws, 3, "we offer window scaling (256 KiB -> shift 3)");
    return h;
}

static inline void seg_a(uint8_t flags, uint32_t seq, uint32_t ack, const void *data, size_t len)
{
    seg_full(flags, seq, ack, data, len, LPORT, PPORT);
}

#endif
