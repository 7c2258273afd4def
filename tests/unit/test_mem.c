/* The memory bound (mem.h, ring.c, tcp_mem.c): rings that grow from 4 KiB by doubling and
 * are freed when idle, the accountant's totals and states, the receive window limited by
 * memory (down to 0, resuming when the reader drains, every byte intact), send
 * back-pressure with a wake-up when memory is free again, UDP queues charged. Virtual
 * time, fixed seeds. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "credit.h"
#include "mem.h"
#include "ring.h"
#include "tcp.h"
#include "tcp_harness.h"

#define ISS 1000u
#define PISN 7000u
#define KiB 1024u

static uint8_t pat(uint32_t i)
{
    return th_pattern(7, i);
}

/* ---- rings and the accountant alone ---- */

struct acct {
    struct mem_acct m;
    struct stack_stats s;
    uint64_t now;
};

static void acct_init(struct acct *a, uint64_t max)
{
    memset(a, 0, sizeof *a);
    mem_init(&a->m, max, &a->s, &a->now);
}

static void write_pat(struct ring *r, uint32_t *w, uint32_t n, uint32_t expect)
{
    uint8_t buf[70000];
    for (uint32_t i = 0; i < n; i++)
        buf[i] = pat(*w + i);
    cr_assert_eq(ring_write(r, buf, n), expect, "write of %u", n);
    *w += expect;
}

static void read_pat(struct ring *r, uint32_t *rd, uint32_t n)
{
    uint8_t buf[70000];
    cr_assert_eq(ring_read(r, buf, n), n);
    for (uint32_t i = 0; i < n; i++)
        cr_assert_eq(buf[i], pat(*rd + i), "byte %u", *rd + i);
    *rd += n;
}

Test(mem, ring_grows_from_4k_by_doubling_and_keeps_wrapped_content)
{
    struct acct a;
    acct_init(&a, 1u << 20);
    struct ring r;
    ring_init(&r, 64 * KiB, &a.m);
    uint32_t w = 0, rd = 0;
    cr_assert_eq(r.size, 0, "nothing allocated before the first byte");
    write_pat(&r, &w, 1, 1);
    cr_assert_eq(r.size, 4096);
    cr_assert_eq(a.m.used, 4096);
    write_pat(&r, &w, 3000, 3000);
    cr_assert_eq(r.size, 4096, "3001 bytes fit");
    /* make the content wrap around the end of the 4 KiB storage */
    read_pat(&r, &rd, 2000);
    write_pat(&r, &w, 2500, 2500); /* 3501 bytes, wrapped */
    cr_assert_eq(r.size, 4096);
    write_pat(&r, &w, 1000, 1000); /* 4501: one doubling */
    cr_assert_eq(r.size, 8192);
    cr_assert_eq(a.m.used, 8192);
    write_pat(&r, &w, 20000, 20000); /* 24501: 8K -> 32K in one step */
    cr_assert_eq(r.size, 32768);
    cr_assert_eq(a.s.mem_used, 32768);
    write_pat(&r, &w, 50000, 65536 - 24501); /* up to cap, no further */
    cr_assert_eq(r.size, 65536);
    cr_assert_eq(ring_space(&r), 0);
    write_pat(&r, &w, 10, 0);
    read_pat(&r, &rd, w - rd); /* every byte in order across three moves */
    cr_assert_eq(a.s.mem_peak, 65536);
    ring_release(&r);
    cr_assert_eq(a.m.used, 0);
    cr_assert_eq(a.s.mem_used, 0);
}

Test(mem, ring_growth_keeps_out_of_order_bytes_ahead_of_the_tail)
{
    struct acct a;
    acct_init(&a, 1u << 20);
    struct ring r;
    ring_init(&r, 64 * KiB, &a.m);
    uint8_t d[12000];
    for (uint32_t i = 0; i < sizeof d; i++)
        d[i] = pat(i);
    /* bytes 3000..3999 arrive first, past the tail */
    cr_assert(ring_reserve_at(&r, 3000, 1000, true));
    ring_write_at(&r, 3000, d + 3000, 1000);
    cr_assert_eq(r.size, 4096);
    cr_assert_eq(r.ahead, 4000);
    /* then 0..2999 and 4000..11999: growth to 16K must carry 3000..3999 along */
    cr_assert(ring_reserve_at(&r, 0, 3000, true));
    ring_write_at(&r, 0, d, 3000);
    ring_commit(&r, 4000);
    cr_assert(ring_reserve_at(&r, 0, 8000, true));
    cr_assert_eq(r.size, 16384);
    ring_write_at(&r, 0, d + 4000, 8000);
    ring_commit(&r, 8000);
    uint8_t out[12000];
    cr_assert_eq(ring_read(&r, out, sizeof out), 12000);
    cr_assert(memcmp(out, d, sizeof d) == 0);
    ring_release(&r);
}

Test(mem, empty_ring_freed_after_idle_time_or_at_once_under_pressure)
{
    struct acct a;
    acct_init(&a, 1u << 20);
    struct ring r;
    ring_init(&r, 64 * KiB, &a.m);
    uint32_t w = 0, rd = 0;
    a.now = 100;
    write_pat(&r, &w, 5000, 5000);
    read_pat(&r, &rd, 5000);
    cr_assert(r.idle && r.size == 8192);
    cr_assert_eq(mem_deadline(&a.m), UINT64_MAX, "no timer for idle rings without pressure");
    mem_poll(&a.m, 100 + MEM_IDLE_MS - 1);
    cr_assert_eq(r.size, 8192, "kept while recently used");
    /* used again: no longer idle */
    write_pat(&r, &w, 10, 10);
    cr_assert(!r.idle);
    a.now = 2000;
    read_pat(&r, &rd, 10);
    mem_poll(&a.m, 2000 + MEM_IDLE_MS);
    cr_assert_eq(r.size, 0);
    cr_assert(r.buf == NULL);
    cr_assert_eq(a.m.used, 0);
    cr_assert_eq(a.s.mem_rings_freed, 1);

    /* under pressure an empty ring goes at the next poll, which is due at once */
    struct ring big;
    ring_init(&big, 1u << 20, &a.m);
    uint32_t bw = 0, brd = 0;
    static uint8_t fill[800 * 1024];
    cr_assert_eq(ring_write(&big, fill, sizeof fill), sizeof fill); /* 1 MiB storage */
    cr_assert(a.m.pressure);
    write_pat(&r, &w, 10, 0); /* at the bound: a new ring gets nothing */
    cr_assert_eq(a.s.mem_refusals, 1);
    (void)bw;
    a.now = 3000;
    ring_consume(&big, sizeof fill);
    (void)brd;
    cr_assert_eq(mem_deadline(&a.m), 3000);
    mem_poll(&a.m, 3000);
    cr_assert_eq(big.size, 0);
    cr_assert_eq(a.m.used, 0);
    cr_assert(!a.m.pressure);
}

Test(mem, states_like_tcp_mem_and_a_trim_after_pressure)
{
    struct acct a;
    acct_init(&a, 64 * KiB); /* pressure above 48K, left below 32K */
    cr_assert_eq(a.s.mem_max, 64 * KiB);
    struct ring r1, r2, r3;
    ring_init(&r1, 64 * KiB, &a.m);
    ring_init(&r2, 64 * KiB, &a.m);
    ring_init(&r3, 64 * KiB, &a.m);
    static uint8_t buf[64 * KiB];
    cr_assert_eq(ring_space_now(&r1), 64 * KiB, "normal: the whole buffer may be offered");
    cr_assert_eq(ring_write(&r1, buf, 32 * KiB), 32 * KiB);
    cr_assert_eq(ring_write(&r2, buf, 16 * KiB), 16 * KiB);
    cr_assert(!a.m.pressure, "48K is not above 3/4");
    cr_assert_eq(ring_space_now(&r2), 16 * KiB, "only the headroom can be offered");
    cr_assert_eq(ring_write(&r2, buf, 1), 1); /* 16K -> 32K */
    cr_assert_eq(r2.size, 32 * KiB);
    cr_assert(a.m.pressure);
    cr_assert_eq(a.s.mem_pressure, 1);
    cr_assert_eq(a.s.mem_pressure_events, 1);
    /* hard bound: r3 gets nothing, r1 does not grow */
    cr_assert_eq(ring_space_now(&r3), 0);
    cr_assert_eq(ring_write(&r3, buf, 100), 0);
    cr_assert_eq(ring_space_now(&r1), 0);
    cr_assert_eq(a.m.used, 64 * KiB);
    /* r2 empties and is freed: 32K used is not below 1/2, still pressure */
    ring_release(&r2);
    cr_assert(a.m.pressure);
    cr_assert_eq(ring_space_now(&r3), 4096, "under pressure a new ring may have 4 KiB");
    cr_assert_eq(ring_write(&r3, buf, 10000), 4096, "and no more");
    cr_assert_eq(r3.size, 4096);
    cr_assert_eq(ring_space_now(&r1), 0, "a full ring does not grow under pressure");
    ring_release(&r3);
    cr_assert(a.m.pressure);
    cr_assert_eq(ring_write(&r1, buf, 1), 0);
    uint8_t x[32 * KiB];
    cr_assert_eq(ring_read(&r1, x, 1), 1);
    cr_assert_eq(ring_space_now(&r1), 1, "a read makes room in what is held");
    ring_release(&r1);
    cr_assert(!a.m.pressure);
    cr_assert_eq(a.s.mem_pressure, 0);
    /* pressure ended: one trim, not before MEM_TRIM_MS after the last */
    a.now = 500;
    cr_assert_eq(mem_deadline(&a.m), MEM_TRIM_MS);
    mem_poll(&a.m, 500);
    cr_assert(!mem_trim_due(&a.m, 500));
    mem_poll(&a.m, MEM_TRIM_MS);
    cr_assert(mem_trim_due(&a.m, MEM_TRIM_MS));
    cr_assert(!mem_trim_due(&a.m, MEM_TRIM_MS), "once");
    cr_assert_eq(mem_deadline(&a.m), UINT64_MAX);
    cr_assert_eq(a.s.mem_trims, 1);
}

/* ---- TCP over the accountant ---- */

static const uint8_t mss1460[4] = {2, 4, 0x05, 0xb4};

static void peer_ack(struct th_engine *e, uint16_t port, uint32_t seq, uint32_t ack, uint16_t wnd)
{
    struct th_spec s = {
        .sport = 80, .dport = port, .seq = seq, .ack = ack, .flags = THF_ACK, .wnd = wnd};
    th_seg(e, &s);
}

/* An active open from port, completed by a crafted SYN-ACK offering wnd. */
static int open_conn(struct th_engine *e, uint16_t port, uint16_t wnd)
{
    static struct th_out o;
    int h = stack_tcp_connect(e->st, TH_PEER, 80, port, e->now);
    cr_assert_gt(h, 0);
    cr_assert(th_pop(e, &o) && (o.flags & THF_SYN));
    struct th_spec s = {.sport = 80,
                        .dport = port,
                        .seq = PISN,
                        .ack = o.seq + 1,
                        .flags = THF_SYN | THF_ACK,
                        .wnd = wnd,
                        .opt = mss1460,
                        .optlen = 4};
    th_seg(e, &s);
    th_drop_out(e);
    return h;
}

Test(mem, connection_buffers_charged_as_they_grow_and_freed)
{
    struct stack_config cfg;
    th_config(&cfg, TH_US);
    struct th_engine *e = th_new(&cfg, false);
    tcp_test_set_isn(e->st, ISS);
    const struct stack_stats *s = stack_stats(e->st);
    cr_assert_eq(s->mem_max, 1u << 30, "the core's default bound");
    int h = open_conn(e, 5555, 65535);
    cr_assert_eq(s->mem_used, 0, "an idle connection holds no buffer");
    static uint8_t d[10000];
    cr_assert_eq(stack_tcp_send(e->st, h, d, sizeof d, 0), 10000);
    cr_assert_eq(s->mem_used, 16384, "send ring: 4K doubled to 16K");
    struct th_spec in = {.sport = 80,
                         .dport = 5555,
                         .seq = PISN + 1,
                         .ack = ISS + 1,
                         .flags = THF_ACK | THF_PSH,
                         .wnd = 65535,
                         .data = d,
                         .len = 3000};
    th_seg(e, &in);
    cr_assert_eq(s->mem_used, 16384 + 4096, "receive ring: 4K for 3000 bytes");
    e->now = 50;
    peer_ack(e, 5555, PISN + 3001, ISS + 10001, 65535);
    cr_assert_eq(s->mem_used, 16384 + 4096, "an empty ring is kept for a while");
    th_poll(e, 50 + MEM_IDLE_MS);
    cr_assert_eq(s->mem_used, 4096, "the send ring went idle and was freed");
    cr_assert_eq(s->mem_rings_freed, 1);
    uint8_t buf[4000];
    cr_assert_eq(stack_tcp_recv(e->st, h, buf, sizeof buf, 2000), 3000);
    th_poll(e, 2000 + MEM_IDLE_MS);
    cr_assert_eq(s->mem_used, 0);
    /* buffers come back on use */
    cr_assert_eq(stack_tcp_send(e->st, h, d, 100, 4000), 100);
    cr_assert_eq(s->mem_used, 4096);
    cr_assert_eq(stack_tcp_abort(e->st, h, 4000), 0);
    cr_assert_eq(s->mem_used, 0);
    cr_assert_eq(s->mem_refusals, 0);
    th_free(e);
}

/* A sender refused for memory gets back-pressure (-EAGAIN, no send space), never a lost
 * byte, and SEV_WRITABLE when memory is free again. */
Test(mem, send_back_pressure_and_wake_when_memory_returns)
{
    struct stack_config cfg;
    th_config(&cfg, TH_US);
    cfg.mem_max = 64 * KiB;
    struct th_engine *e = th_new(&cfg, false);
    tcp_test_set_isn(e->st, ISS);
    const struct stack_stats *s = stack_stats(e->st);
    int h1 = open_conn(e, 5001, 0); /* the peer's window is closed: nothing leaves */
    int h2 = open_conn(e, 5002, 65535);
    static uint8_t d[100000];
    for (uint32_t i = 0; i < sizeof d; i++)
        d[i] = pat(i);
    cr_assert_eq(stack_tcp_send(e->st, h1, d, sizeof d, 0), 64 * KiB, "up to the bound");
    cr_assert_eq(s->mem_used, 64 * KiB);
    cr_assert_eq(s->mem_pressure, 1);
    cr_assert_eq(stack_tcp_send_space(e->st, h2), 0);
    cr_assert_eq(stack_tcp_send(e->st, h2, "hello", 5, 0), -EAGAIN);
    cr_assert_eq(s->mem_send_waits, 1);
    cr_assert_neq(stack_next_deadline(e->st), e->now, "no memory yet: nothing to wake it for");
    /* the peer opens its window and takes all of h1's bytes, exactly, in order */
    peer_ack(e, 5001, PISN + 1, ISS + 1, 65535);
    static struct th_out o;
    uint32_t next = ISS + 1;
    for (int round = 0; round < 20 && next - ISS - 1 < 64 * KiB; round++) {
        while (th_pop(e, &o)) {
            cr_assert_eq(o.seq, next);
            cr_assert(memcmp(o.data, d + (next - ISS - 1), o.len) == 0);
            next += o.len;
        }
        e->now = 10;
        peer_ack(e, 5001, PISN + 1, next, 65535);
    }
    cr_assert_eq(next - ISS - 1, 64 * KiB);
    /* h1's ring is empty; under pressure it is freed at the next poll, due now */
    cr_assert_eq(stack_next_deadline(e->st), 10);
    size_t before = th_count_events(e, h2, SEV_WRITABLE);
    th_poll(e, 10);
    cr_assert_eq(s->mem_used, 0);
    cr_assert_eq(s->mem_pressure, 0);
    cr_assert_eq(th_count_events(e, h2, SEV_WRITABLE), before + 1, "the waiter is woken");
    cr_assert_eq(stack_tcp_send(e->st, h2, "hello", 5, 10), 5);
    cr_assert(th_pop(e, &o) && o.len == 5 && memcmp(o.data, "hello", 5) == 0);
    th_free(e);
}

/* A receiver that does not read, under a 128 KiB bound: the window follows the memory
 * that can be had and closes at exactly what the ring holds; nothing in the window is
 * dropped; reading reopens it and the transfer completes, every byte verified. */
Test(mem, receive_window_closes_at_the_bound_and_resumes_after_the_reader_drains)
{
    struct stack_config ca, cb;
    th_config(&ca, TH_ADDR(10, 0, 0, 1));
    th_config(&cb, TH_ADDR(10, 0, 0, 2));
    cb.isn_secret[0] ^= 0x55;
    cb.mem_max = 128 * KiB;
    struct th_engine *a = th_new(&ca, false), *b = th_new(&cb, false);
    struct th_link_cfg lc = {.seed = 3, .delay_ms = 5};
    struct th_link *l = th_link_new(a, b, &lc);
    int lh = stack_tcp_listen(b->st, 80, 4);
    int ha = stack_tcp_connect(a->st, TH_ADDR(10, 0, 0, 2), 80, 0, 0);
    cr_assert_gt(ha, 0);
    int hb = 0;
    const uint32_t total = 600 * KiB;
    static uint8_t buf[16384];
    uint32_t sent = 0, got = 0;
    const struct stack_stats *sb = stack_stats(b->st);
    bool stalled = false;
    uint64_t stall_at = 0;
    while (th_link_step(l, 600000)) {
        uint64_t now = th_link_now(l);
        if (hb <= 0) hb = stack_tcp_accept(b->st, lh);
        while (sent < total) {
            uint32_t n = total - sent < sizeof buf ? total - sent : (uint32_t)sizeof buf;
            for (uint32_t i = 0; i < n; i++)
                buf[i] = pat(sent + i);
            long r = stack_tcp_send(a->st, ha, buf, n, now);
            if (r <= 0) break;
            sent += (uint32_t)r;
        }
        cr_assert_leq(sb->mem_used, 128 * KiB);
        if (!stalled && hb > 0) {
            struct stack_conn_info ci;
            stack_tcp_info(b->st, hb, &ci);
            if (ci.recv_queue == 128 * KiB && ci.rcv_wnd == 0) {
                stalled = true;
                stall_at = now;
            }
        }
        /* the reader stays away for 5 s after the stall, then drains everything */
        if (stalled && hb > 0 && now >= stall_at + 5000) {
            for (;;) {
                long r = stack_tcp_recv(b->st, hb, buf, sizeof buf, now);
                if (r <= 0) break;
                for (long i = 0; i < r; i++)
                    cr_assert_eq(buf[i], pat(got + (uint32_t)i), "byte %u", got + (uint32_t)i);
                got += (uint32_t)r;
            }
        }
        if (got == total) break;
    }
    cr_assert(stalled, "the window closed when the bound was reached");
    cr_assert_eq(got, total, "every byte arrived (got %u)", got);
    cr_assert_eq(sb->mem_rcv_dropped, 0, "no in-window segment was dropped");
    cr_assert_eq(sb->mem_peak, 128 * KiB);
    cr_assert_geq(sb->mem_pressure_events, 1);
    cr_assert_eq(stack_sock_error(a->st, ha), 0);
    cr_assert_eq(stack_stats(a->st)->tcp_timeouts, 0);
    th_link_free(l);
    th_free(a);
    th_free(b);
}

Test(mem, udp_queue_charged_and_refused_at_the_bound)
{
    struct stack_config cfg;
    th_config(&cfg, TH_US);
    cfg.mem_max = 64 * KiB;
    struct th_engine *e = th_new(&cfg, false);
    const struct stack_stats *s = stack_stats(e->st);
    int h = stack_udp_bind(e->st, 7000);
    cr_assert_gt(h, 0);
    uint8_t pkt[2048];
    static const uint8_t payload[1000];
    /* a UDP datagram from the peer, built by hand: IPv4 + UDP, checksum 0 */
    memset(pkt, 0, sizeof pkt);
    size_t ulen = 8 + sizeof payload, tl = 20 + ulen;
    pkt[0] = 0x45;
    pkt[2] = (uint8_t)(tl >> 8);
    pkt[3] = (uint8_t)tl;
    pkt[8] = 64;
    pkt[9] = 17;
    uint32_t src = TH_PEER, dst = TH_US;
    for (int i = 0; i < 4; i++) {
        pkt[12 + i] = (uint8_t)(src >> (24 - 8 * i));
        pkt[16 + i] = (uint8_t)(dst >> (24 - 8 * i));
    }
    uint32_t sum = 0;
    for (int i = 0; i < 20; i += 2)
        sum += (uint32_t)(pkt[i] << 8 | pkt[i + 1]);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    pkt[10] = (uint8_t)(~sum >> 8);
    pkt[11] = (uint8_t)~sum;
    pkt[20] = 0x13; /* sport 5000 */
    pkt[21] = 0x88;
    pkt[22] = 0x1b; /* dport 7000 */
    pkt[23] = 0x58;
    pkt[24] = (uint8_t)(ulen >> 8);
    pkt[25] = (uint8_t)ulen;
    stack_input(e->st, pkt, tl, 0);
    uint64_t one = s->mem_used;
    cr_assert_eq(one, credit_dgram_cost(sizeof payload), "charged as its credit: length + 64");
    int n = 1;
    while (s->udp_drop_rcvbuf == 0 && n < 1000) {
        stack_input(e->st, pkt, tl, 0);
        n++;
    }
    cr_assert_eq(s->udp_drop_rcvbuf, 1);
    cr_assert_eq(s->mem_used, (uint64_t)(n - 1) * one, "refused at the bound");
    cr_assert_leq(s->mem_used, 64 * KiB);
    uint8_t out[2000];
    while (stack_udp_recvfrom(e->st, h, out, sizeof out, NULL, NULL) > 0)
        ;
    cr_assert_eq(s->mem_used, 0);
    th_free(e);
}

/* The send space offered to a writer (the daemon's credit) is what the ring holds free
 * plus one doubling: it grows with use instead of promising the whole buffer at once. */
Test(mem, send_space_offered_grows_with_the_ring)
{
    struct stack_config cfg;
    th_config(&cfg, TH_US);
    struct th_engine *e = th_new(&cfg, false);
    tcp_test_set_isn(e->st, ISS);
    int h = open_conn(e, 5555, 65535);
    static uint8_t d[70000];
    cr_assert_eq(stack_tcp_send_space(e->st, h), 4096, "no ring yet: one first allocation");
    cr_assert_eq(stack_tcp_send(e->st, h, d, 4096, 0), 4096);
    cr_assert_eq(stack_tcp_send_space(e->st, h), 4096, "a full 4K ring: one doubling more");
    cr_assert_eq(stack_tcp_send(e->st, h, d, 4096, 0), 4096);
    cr_assert_eq(stack_tcp_send_space(e->st, h), 8192);
    cr_assert_eq(stack_tcp_send(e->st, h, d, 8192, 0), 8192);
    cr_assert_eq(stack_stats(e->st)->mem_used, 16384);
    cr_assert_eq(stack_tcp_send_space(e->st, h), 16384);
    th_drop_out(e);
    e->now = 10;
    peer_ack(e, 5555, PISN + 1, ISS + 1 + 12288, 65535);
    cr_assert_eq(stack_tcp_send_space(e->st, h), 12288 + 16384, "freed room plus a doubling");
    th_free(e);
}

/* --max-buffered-per-uid: a group's rings stop growing at its share, as under pressure,
 * while the accountant has room; forced growth and each ring's 4 KiB floor pass. */
Test(mem, group_share_bounds_its_rings_only)
{
    struct acct a;
    acct_init(&a, 1u << 20);
    struct mem_group g = {.max = 16 * KiB};
    struct ring r1, r2, other;
    ring_init(&r1, 64 * KiB, &a.m);
    ring_init(&r2, 64 * KiB, &a.m);
    ring_init(&other, 64 * KiB, &a.m);
    ring_set_group(&r1, &g);
    ring_set_group(&r2, &g);
    uint32_t w1 = 0, w2 = 0, wo = 0, rd1 = 0;
    cr_assert_eq(ring_space_now(&r1), 16 * KiB, "the share's headroom, not the cap");
    write_pat(&r1, &w1, 20000, 16 * KiB);
    cr_assert_eq(r1.size, 16 * KiB);
    cr_assert_eq(g.used, 16 * KiB);
    cr_assert_eq(g.refusals, 1u, "the 20000-byte growth was refused, what fits taken");
    /* the share is full: the second ring gets its floor, no more */
    cr_assert_eq(ring_space_now(&r2), MEM_RING_MIN);
    write_pat(&r2, &w2, 10000, MEM_RING_MIN);
    cr_assert_eq(g.used, 16 * KiB + MEM_RING_MIN, "the floor passes the share");
    write_pat(&r2, &w2, 10, 0);
    cr_assert_eq(g.refusals, 3u);
    /* a ring outside the group is not held back */
    write_pat(&other, &wo, 60000, 60000);
    cr_assert_eq(other.size, 64 * KiB);
    cr_assert_eq(a.m.used, 16 * KiB + MEM_RING_MIN + 64 * KiB);
    /* data inside an advertised window: forced growth is not refused for the share */
    cr_assert(ring_reserve(&r1, 32 * KiB, true));
    cr_assert_eq(g.used, 32 * KiB + MEM_RING_MIN);
    cr_assert_eq(g.refusals, 3u);
    cr_assert_not(ring_reserve(&r2, 8 * KiB, false), "unforced growth past the share");
    cr_assert_eq(g.refusals, 4u);
    /* reading frees nothing of the share; releasing does, and the other ring may grow */
    read_pat(&r1, &rd1, w1);
    ring_release(&r1);
    cr_assert_eq(g.used, MEM_RING_MIN);
    cr_assert_eq(ring_space_now(&r2), 12 * KiB, "the share's headroom is back: 16 KiB in all");
    /* moving a ring out of the group takes its charge along */
    ring_set_group(&r2, NULL);
    cr_assert_eq(g.used, 0u);
    cr_assert_eq(a.m.used, MEM_RING_MIN + 64 * KiB, "the accountant still charges it");
    ring_release(&r2);
    ring_release(&other);
    cr_assert_eq(a.m.used, 0u);
}
