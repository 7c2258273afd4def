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
    uint8_t buf[16384];
    if (s->h <= 0) return;
    while (s->sent < total) {
        size_t n = total - s->sent < sizeof buf ? (size_t)(total - s->sent) : sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = th_pattern(s->seed_out, s->sent + i);
        long r = stack_tcp_send(s->e->st, s->h, buf, n, now);
        if (r <= 0) break;
        s->sent += (uint64_t)r;
    }
    for (;;) {
        long r = stack_tcp_recv(s->e->st, s->h, buf, sizeof buf, now);
        if (r == 0) {
            s->eof = true;
            break;
        }
        if (r < 0) break;
        for (long i = 0; i < r; i++)
            cr_assert_eq(buf[i], th_pattern(s->seed_in, s->rcvd + (uint64_t)i), "byte %llu differs",
                         (unsigned long long)(s->rcvd + (uint64_t)i));
        s->rcvd += (uint64_t)r;
    }
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
