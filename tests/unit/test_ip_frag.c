/* IPv4 fragments (ip_frag.c through stack_input/stack_poll, and ip_fragment): reassembly in
 * and out of order, overlaps, duplicates, the timeout and its ICMP time exceeded, the
 * memory bounds, tiny fragments, the 65,535-byte limit, fragmentation on output. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ip.h"
#include "ip_frag.h"
#include "pkt_harness.h"

/* One fragment of the L4 datagram l4 (of l4len bytes): bytes [off, off + n). */
static size_t frag(uint8_t *buf, uint32_t src, uint8_t proto, uint16_t id, const uint8_t *l4,
                   size_t off, size_t n, int mf)
{
    size_t len = ph_ip(buf, src, PH_US, proto, l4 + off, n);
    ph_put16(buf + 4, id);
    ph_put16(buf + 6, (uint16_t)((mf ? 0x2000 : 0) | (off / 8)));
    ph_ip_fix_csum(buf);
    return len;
}

static void send_frag(struct ph_ctx *c, uint32_t src, uint8_t proto, uint16_t id, const uint8_t *l4,
                      size_t off, size_t n, int mf, uint64_t now)
{
    static uint8_t b[2048];
    size_t len = frag(b, src, proto, id, l4, off, n, mf);
    ph_input(c, b, len, now);
}

/* A UDP datagram 10.0.0.1:40000 -> 10.0.0.2:5000 with 3000 bytes of pattern: 3008 bytes. */
static uint8_t dgram[3072]; /* 3008 bytes, and room for fragments past its end */
static uint8_t payload[3000];
static void make_dgram(void)
{
    ph_pattern(payload, sizeof payload);
    ph_udp(dgram, PH_PEER, PH_US, 40000, 5000, payload, sizeof payload);
}

/* The socket got exactly the 3000 bytes. */
static void expect_received(struct ph_ctx *c, int h)
{
    static uint8_t got[4000];
    uint32_t ra;
    uint16_t rp;
    cr_assert_eq(stack_udp_recvfrom(c->st, h, got, sizeof got, &ra, &rp), 3000);
    cr_assert_eq(ra, PH_PEER);
    cr_assert_eq(rp, 40000);
    cr_assert_eq(memcmp(got, payload, sizeof payload), 0);
}

static void expect(struct ph_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void expect(struct ph_ctx *c, const char *fmt, ...)
{
    char spec[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(spec, sizeof spec, fmt, ap);
    va_end(ap);
    ph_expect_counters(c, spec);
}

Test(reassembly, in_order)
{
    make_dgram();
    struct ph_ctx *c = ph_new(0);
    int h = stack_udp_bind(c->st, 5000);
    send_frag(c, PH_PEER, 17, 7, dgram, 0, 1480, 1, 1000);
    send_frag(c, PH_PEER, 17, 7, dgram, 1480, 1480, 1, 1001);
    cr_assert_eq(ph_counter(c, "frag_mem"), ip_frag_queue_cost() + 2 * ip_frag_piece_cost(1480));
    cr_assert_eq(stack_next_deadline(c->st), 31000);
    send_frag(c, PH_PEER, 17, 7, dgram, 2960, 48, 0, 1002);
    expect_received(c, h);
    cr_assert(ph_has_line(c, "[IP  ] reassembled id=7 len=3028"));
    expect(c, "ip_rx_packets=3 frag_rx=3 frag_reassembled=1 udp_rx=1");
    cr_assert_eq(stack_next_deadline(c->st), STACK_TIME_NEVER);
    ph_free(c);
}

Test(reassembly, reverse_order)
{
    make_dgram();
    struct ph_ctx *c = ph_new(0);
    int h = stack_udp_bind(c->st, 5000);
    send_frag(c, PH_PEER, 17, 8, dgram, 2960, 48, 0, 1000);
    send_frag(c, PH_PEER, 17, 8, dgram, 1480, 1480, 1, 1000);
    send_frag(c, PH_PEER, 17, 8, dgram, 0, 1480, 1, 1000);
    expect_received(c, h);
    expect(c, "ip_rx_packets=3 frag_rx=3 frag_reassembled=1 udp_rx=1");
    ph_free(c);
}

/* Small pieces in a scrambled order, and an exact duplicate (ignored). */
Test(reassembly, scrambled_with_duplicate)
{
    make_dgram();
    struct ph_ctx *c = ph_new(0);
    int h = stack_udp_bind(c->st, 5000);
    static const size_t order[] = {5, 0, 2, 7, 1, 3, 6, 4};
    for (size_t i = 0; i < 8; i++) {
        size_t off = order[i] * 376;
        size_t n = order[i] == 7 ? 3008 - off : 376;
        send_frag(c, PH_PEER, 17, 9, dgram, off, n, order[i] != 7, 1000);
        if (i == 2) send_frag(c, PH_PEER, 17, 9, dgram, off, n, 1, 1000); /* duplicate */
    }
    expect_received(c, h);
    cr_assert(ph_has_line(c, "[IP  ] drop fragment id=9 reason=duplicate fragment"));
    expect(c, "ip_rx_packets=9 frag_rx=9 frag_dups=1 ip_drop_fragment=1 frag_reassembled=1 "
              "udp_rx=1");
    ph_free(c);
}

/* Two datagrams with the same id from different sources do not mix. */
Test(reassembly, keyed_by_source)
{
    make_dgram();
    struct ph_ctx *c = ph_new(0);
    int h = stack_udp_bind(c->st, 5000);
    send_frag(c, PH_PEER, 17, 7, dgram, 0, 1480, 1, 1000);
    send_frag(c, PH_ADDR(10, 9, 9, 9), 17, 7, dgram, 1480, 1480, 1, 1000);
    send_frag(c, PH_PEER, 17, 7, dgram, 2960, 48, 0, 1000);
    cr_assert_eq(stack_udp_recvfrom(c->st, h, NULL, 0, NULL, NULL), -EAGAIN);
    cr_assert_eq(ph_counter(c, "frag_queues"), 2);
    send_frag(c, PH_PEER, 17, 7, dgram, 1480, 1480, 1, 1000);
    expect_received(c, h);
    cr_assert_eq(ph_counter(c, "frag_queues"), 1);
    ph_free(c);
}

/* RFC 5722 applied to IPv4: an overlap discards the datagram, and what comes after. */
Test(reassembly, overlap_discards_datagram)
{
    make_dgram();
    struct ph_ctx *c = ph_new(0);
    int h = stack_udp_bind(c->st, 5000);
    send_frag(c, PH_PEER, 17, 11, dgram, 0, 1480, 1, 1000);
    send_frag(c, PH_PEER, 17, 11, dgram, 1472, 1488, 1, 1000); /* 8 bytes over the first */
    cr_assert(ph_has_line(
        c, "[IP  ] drop fragment id=11 reason=overlapping fragments: datagram discarded"));
    cr_assert_eq(ph_counter(c, "frag_mem"), ip_frag_queue_cost()); /* data freed at once */
    send_frag(c, PH_PEER, 17, 11, dgram, 1480, 1480, 1, 1000);
    send_frag(c, PH_PEER, 17, 11, dgram, 2960, 48, 0, 1000);
    cr_assert_eq(stack_udp_recvfrom(c->st, h, NULL, 0, NULL, NULL), -EAGAIN);
    expect(c,
           "ip_rx_packets=4 frag_rx=4 frag_overlaps=1 frag_discarded=2 ip_drop_fragment=3 "
           "frag_queues=1 frag_mem=%zu",
           ip_frag_queue_cost());
    /* no Time Exceeded for a discarded datagram; its id is usable again afterwards */
    stack_poll(c->st, 31000);
    cr_assert_eq(c->npkts, 0);
    send_frag(c, PH_PEER, 17, 11, dgram, 0, 1480, 1, 31001);
    send_frag(c, PH_PEER, 17, 11, dgram, 1480, 1480, 1, 31001);
    send_frag(c, PH_PEER, 17, 11, dgram, 2960, 48, 0, 31001);
    expect_received(c, h);
    ph_free(c);
}

/* Teardrop: the second fragment starts inside the first and ends inside it. */
Test(reassembly, teardrop_contained_overlap)
{
    make_dgram();
    struct ph_ctx *c = ph_new(0);
    stack_udp_bind(c->st, 5000);
    send_frag(c, PH_PEER, 17, 12, dgram, 0, 1480, 1, 1000);
    send_frag(c, PH_PEER, 17, 12, dgram, 24, 16, 0, 1000);
    expect(c,
           "ip_rx_packets=2 frag_rx=2 frag_overlaps=1 ip_drop_fragment=1 frag_queues=1 "
           "frag_mem=%zu",
           ip_frag_queue_cost());
    ph_free(c);
}

/* Two "last" fragments that disagree, or a fragment past the end: the datagram goes. */
Test(reassembly, inconsistent_end)
{
    make_dgram();
    struct ph_ctx *c = ph_new(0);
    stack_udp_bind(c->st, 5000);
    send_frag(c, PH_PEER, 17, 13, dgram, 2960, 48, 0, 1000);
    send_frag(c, PH_PEER, 17, 13, dgram, 3008, 8, 1, 1000);
    cr_assert(ph_has_line(
        c, "[IP  ] drop fragment id=13 reason=fragment disagrees with the datagram's end"));
    send_frag(c, PH_PEER, 17, 14, dgram, 1480, 8, 1, 1000);
    send_frag(c, PH_PEER, 17, 14, dgram, 8, 8, 0, 1000); /* ends before held data */
    expect(c,
           "ip_rx_packets=4 frag_rx=4 frag_bad=2 ip_drop_fragment=2 frag_queues=2 "
           "frag_mem=%zu",
           2 * ip_frag_queue_cost());
    ph_free(c);
}

/* Malformed: empty, or a non-last fragment whose length is not a multiple of 8. */
Test(reassembly, malformed_fragments)
{
    make_dgram();
    struct ph_ctx *c = ph_new(0);
    send_frag(c, PH_PEER, 17, 15, dgram, 8, 0, 1, 1000);
    send_frag(c, PH_PEER, 17, 15, dgram, 0, 12, 1, 1000);
    cr_assert(ph_has_line(c, "[IP  ] drop fragment id=15 reason=empty fragment"));
    cr_assert(ph_has_line(c, "[IP  ] drop fragment id=15 reason=length not a multiple of 8"));
    expect(c, "ip_rx_packets=2 frag_rx=2 frag_bad=2 ip_drop_fragment=2");
    ph_free(c);
}

/* The timeout: 30 s after the first fragment to arrive, ICMP Time Exceeded code 1 quoting
 * the offset-0 fragment's header and its first 8 bytes (the UDP header). */
Test(reassembly, timeout_sends_time_exceeded)
{
    make_dgram();
    struct ph_ctx *c = ph_new(0);
    stack_udp_bind(c->st, 5000);
    static uint8_t first[1600];
    size_t n = frag(first, PH_PEER, 17, 21, dgram, 0, 1480, 1);
    ph_input(c, first, n, 1000);
    send_frag(c, PH_PEER, 17, 21, dgram, 2960, 48, 0, 20000); /* does not extend the time */
    cr_assert_eq(stack_next_deadline(c->st), 31000);
    stack_poll(c->st, 30999);
    cr_assert_eq(c->npkts, 0);
    stack_poll(c->st, 31000);
    cr_assert_eq(c->npkts, 1);
    const uint8_t *o = c->pkts[0].data;
    cr_assert_eq(c->pkts[0].len, 20 + 8 + 28);
    cr_assert_eq(o[9], 1);
    cr_assert_eq(ph_get32(o + 12), PH_US);
    cr_assert_eq(ph_get32(o + 16), PH_PEER);
    cr_assert_eq(ph_fold(ph_sum(0, o, 20)), 0);
    static const uint8_t hdr[8] = {11, 1, 0, 0, 0, 0, 0, 0};
    cr_assert_eq(o[20], hdr[0]);
    cr_assert_eq(o[21], hdr[1]);
    cr_assert_eq(ph_get32(o + 24), 0);
    cr_assert_eq(memcmp(o + 28, first, 28), 0); /* header (MF, id 21) + UDP header */
    cr_assert_eq(ph_fold(ph_sum(0, o + 20, 36)), 0);
    cr_assert(ph_has_line(c, "[IP  ] reassembly timeout id=21"));
    cr_assert(ph_has_line(c, "[ICMP] send time exceeded code=1 len=28"));
    expect(c, "ip_rx_packets=2 frag_rx=2 frag_timeouts=1 frag_time_exceeded_sent=1 "
              "ip_tx_packets=1");
    cr_assert_eq(stack_next_deadline(c->st), STACK_TIME_NEVER);
    ph_free(c);
}

/* Without the first fragment there is nothing to quote: no ICMP, only the counter. */
Test(reassembly, timeout_without_first_fragment_is_silent)
{
    make_dgram();
    struct ph_ctx *c = ph_new(0);
    send_frag(c, PH_PEER, 17, 22, dgram, 1480, 1480, 1, 1000);
    stack_poll(c->st, 31000);
    cr_assert_eq(c->npkts, 0);
    expect(c, "ip_rx_packets=1 frag_rx=1 frag_timeouts=1");
    ph_free(c);
}

/* RFC 1858: a first fragment that cuts the TCP header (flags past it), and a TCP
 * fragment at offset 8 (it would rewrite the flags), are dropped. UDP's 8 bytes suffice. */
Test(reassembly, tiny_fragments)
{
    static uint8_t seg[64];
    ph_pattern(seg, sizeof seg);
    struct ph_ctx *c = ph_new(0);
    send_frag(c, PH_PEER, 6, 31, seg, 0, 16, 1, 1000);
    send_frag(c, PH_PEER, 6, 32, seg, 8, 16, 0, 1000);
    cr_assert(ph_has_line(c, "[IP  ] drop fragment id=31 reason=tiny first fragment"));
    cr_assert(ph_has_line(c, "[IP  ] drop fragment id=32 reason=TCP fragment at offset 8"));
    send_frag(c, PH_PEER, 17, 33, seg, 0, 8, 1, 1000);
    send_frag(c, PH_PEER, 1, 34, seg, 0, 8, 1, 1000);
    expect(c,
           "ip_rx_packets=4 frag_rx=4 frag_tiny=2 ip_drop_fragment=2 frag_queues=2 "
           "frag_mem=%zu",
           2 * (ip_frag_queue_cost() + ip_frag_piece_cost(8)));
    ph_free(c);
}

/* Past 65,535 bytes: the fragment at the largest offset with more than 7 bytes, and the
 * 13-bit offset at its maximum with any data over the limit, are refused. */
Test(reassembly, beyond_65535)
{
    static uint8_t big[65536 + 64];
    struct ph_ctx *c = ph_new(0);
    send_frag(c, PH_PEER, 17, 41, big, 65512, 8, 0, 1000);  /* 20 + 65520 = 65540 */
    send_frag(c, PH_PEER, 17, 42, big, 65528, 16, 0, 1000); /* offset field 0x1fff */
    cr_assert(ph_has_line(c, "[IP  ] drop fragment id=41 reason=past 65535 bytes"));
    send_frag(c, PH_PEER, 17, 43, big, 65504, 8, 0, 1000); /* 65532: fits */
    expect(c,
           "ip_rx_packets=3 frag_rx=3 frag_too_big=2 ip_drop_fragment=2 frag_queues=1 "
           "frag_mem=%zu",
           ip_frag_queue_cost() + ip_frag_piece_cost(8));
    ph_free(c);
}

/* The largest datagram: 65,535 bytes in IP, 65,507 of UDP data, in 45 fragments. */
Test(reassembly, largest_datagram)
{
    static uint8_t data[65507], l4[65515], got[65600];
    ph_pattern(data, sizeof data);
    ph_udp(l4, PH_PEER, PH_US, 40000, 5000, data, sizeof data);
    struct ph_ctx *c = ph_new(0);
    int h = stack_udp_bind(c->st, 5000);
    for (size_t off = 0; off < sizeof l4; off += 1480) {
        size_t n = sizeof l4 - off < 1480 ? sizeof l4 - off : 1480;
        send_frag(c, PH_PEER, 17, 44, l4, off, n, off + n < sizeof l4, 1000);
    }
    cr_assert_eq(stack_udp_recvfrom(c->st, h, got, sizeof got, NULL, NULL), 65507);
    cr_assert_eq(memcmp(got, data, sizeof data), 0);
    cr_assert(ph_has_line(c, "[IP  ] reassembled id=44 len=65535"));
    ph_free(c);
}

/* The bounds: one source may hold a quarter of frag_mem_max, all sources the whole. */
Test(reassembly, memory_bounds)
{
    make_dgram();
    struct ph_ctx *c = ph_new(0);
    stack_free(c->st);
    c->cfg.frag_mem_max = 64 * 1024; /* 16 KiB per source */
    c->st = stack_new(&c->cfg);
    size_t per = ip_frag_queue_cost() + ip_frag_piece_cost(1480);
    size_t fit = 16 * 1024 / per;
    for (uint16_t id = 0; id < 100; id++)
        send_frag(c, PH_PEER, 17, id, dgram, 0, 1480, 1, 1000);
    cr_assert_eq(ph_counter(c, "frag_queues"), fit);
    cr_assert_eq(ph_counter(c, "frag_mem_drops"), 100 - fit);
    cr_assert_eq(ph_counter(c, "frag_mem"), fit * per);
    /* more sources fill the rest of the bound, and no more */
    for (uint32_t s = 0; s < 8; s++)
        for (uint16_t id = 0; id < 100; id++)
            send_frag(c, PH_ADDR(10, 1, 0, s), 17, id, dgram, 0, 1480, 1, 1000);
    cr_assert_leq(ph_counter(c, "frag_mem"), 64 * 1024);
    cr_assert_gt(ph_counter(c, "frag_mem"), 64 * 1024 - 2 * per);
    /* everything goes at the timeout, and memory with it */
    stack_poll(c->st, 31000);
    cr_assert_eq(ph_counter(c, "frag_mem"), 0);
    cr_assert_eq(ph_counter(c, "frag_queues"), 0);
    /* the ICMP limit (10 at once) caps the Time Exceeded flood */
    cr_assert_eq(ph_counter(c, "frag_time_exceeded_sent"), 10);
    ph_free(c);
}

/* One source at its share does not stop another: its datagram still completes. */
Test(reassembly, one_source_full_another_completes)
{
    make_dgram();
    struct ph_ctx *c = ph_new(0);
    stack_free(c->st);
    size_t per = ip_frag_queue_cost() + ip_frag_piece_cost(1480);
    c->cfg.frag_mem_max = 4 * 2 * per; /* two first fragments per source */
    c->st = stack_new(&c->cfg);
    int h = stack_udp_bind(c->st, 5000);
    uint32_t flooder = PH_ADDR(10, 7, 7, 7);
    for (uint16_t id = 0; id < 10; id++)
        send_frag(c, flooder, 17, id, dgram, 0, 1480, 1, 1000);
    cr_assert_eq(ph_counter(c, "frag_queues"), 2);
    cr_assert_eq(ph_counter(c, "frag_mem_drops"), 8);
    send_frag(c, flooder, 17, 0, dgram, 1480, 1480, 1, 1000); /* over its share: dropped */
    cr_assert_eq(ph_counter(c, "frag_mem_drops"), 9);
    /* the peer's datagram, in two fragments of 1504 + 1504 */
    send_frag(c, PH_PEER, 17, 1, dgram, 0, 1504, 1, 1000);
    send_frag(c, PH_PEER, 17, 1, dgram, 1504, 1504, 0, 1000);
    expect_received(c, h);
    cr_assert_eq(ph_counter(c, "frag_queues"), 2);
    ph_free(c);
}

/* A TCP segment in two fragments reaches TCP: to a closed port, it gets its RST. */
Test(reassembly, tcp_segment)
{
    uint8_t seg[32] = {0};
    ph_put16(seg, 40000);
    ph_put16(seg + 2, 81);
    seg[6] = 0x03;
    seg[7] = 0xe8; /* seq 1000 */
    seg[12] = 0x50;
    seg[13] = 0x02; /* SYN */
    ph_put16(seg + 14, 65535);
    memcpy(seg + 20, "0123456789ab", 12);
    ph_put16(seg + 16, ph_fold(ph_sum(ph_pseudo_sum(PH_PEER, PH_US, 6, 32), seg, 32)));
    struct ph_ctx *c = ph_new(0);
    send_frag(c, PH_PEER, 6, 51, seg, 24, 8, 0, 1000);
    send_frag(c, PH_PEER, 6, 51, seg, 0, 24, 1, 1000);
    cr_assert_eq(c->npkts, 1);
    const uint8_t *r = c->pkts[0].data;
    cr_assert_eq(r[33], 0x14); /* RST,ACK */
    cr_assert_eq(ph_get32(r + 28), 1000 + 12 + 1);
    cr_assert_eq(ph_counter(c, "frag_reassembled"), 1);
    cr_assert_eq(ph_counter(c, "tcp_drop_no_conn"), 1);
    ph_free(c);
}

/* A ping of 3000 bytes in fragments: the reply goes back in fragments too. */
Test(reassembly, big_ping_answered)
{
    static uint8_t icmp[3008], data[3000];
    ph_pattern(data, sizeof data);
    ph_icmp_echo(icmp, 8, 77, 1, data, sizeof data);
    struct ph_ctx *c = ph_new(0);
    send_frag(c, PH_PEER, 1, 61, icmp, 0, 1480, 1, 1000);
    send_frag(c, PH_PEER, 1, 61, icmp, 1480, 1480, 1, 1000);
    send_frag(c, PH_PEER, 1, 61, icmp, 2960, 48, 0, 1000);
    cr_assert_eq(c->npkts, 3);
    static uint8_t whole[3008];
    for (int i = 0; i < 3; i++)
        memcpy(whole + i * 1480, c->pkts[i].data + 20, c->pkts[i].len - 20);
    cr_assert_eq(whole[0], 0);
    cr_assert_eq(memcmp(whole + 4, icmp + 4, 3004), 0);
    cr_assert_eq(ph_fold(ph_sum(0, whole, sizeof whole)), 0);
    ph_free(c);
}

/* ---- fragmentation, directly ---- */

struct cap {
    size_t n;
    uint8_t pkt[8][1600];
    size_t len[8];
};
static void cap_emit(void *ctx, const uint8_t *p, size_t len)
{
    struct cap *k = ctx;
    cr_assert(k->n < 8);
    memcpy(k->pkt[k->n], p, len);
    k->len[k->n++] = len;
}

/* MTU 576: 556 & ~7 = 552 bytes a fragment; 1000 bytes as 552 + 448, offsets 0 and 69. */
Test(fragment, exact_headers_mtu_576)
{
    static uint8_t buf[20 + 1000];
    for (int i = 0; i < 1000; i++)
        buf[20 + i] = (uint8_t)i;
    struct cap k = {0};
    size_t n = ip_fragment(buf, 1000, PH_US, PH_PEER, 17, 0xbeef, 576, cap_emit, &k);
    cr_assert_eq(n, 2);
    static const uint8_t h0[20] = {0x45, 0, 0x02, 0x3c, 0xbe, 0xef, 0x20, 0x00, 64, 17,
                                   0,    0, 10,   0,    0,    2,    10,   0,    0,  1};
    uint8_t want[20];
    memcpy(want, h0, 20);
    ph_put16(want + 10, ph_fold(ph_sum(0, want, 20)));
    cr_assert_eq(k.len[0], 572);
    cr_assert_eq(memcmp(k.pkt[0], want, 20), 0);
    ph_put16(want + 2, 468);
    ph_put16(want + 6, 69);
    ph_put16(want + 10, 0);
    ph_put16(want + 10, ph_fold(ph_sum(0, want, 20)));
    cr_assert_eq(k.len[1], 468);
    cr_assert_eq(memcmp(k.pkt[1], want, 20), 0);
    for (int i = 0; i < 552; i++)
        cr_assert_eq(k.pkt[0][20 + i], (uint8_t)i);
    for (int i = 0; i < 448; i++)
        cr_assert_eq(k.pkt[1][20 + i], (uint8_t)(552 + i));
}

/* A payload that is an exact multiple of the fragment size: no empty last fragment. */
Test(fragment, exact_multiple)
{
    static uint8_t buf[20 + 2960];
    struct cap k = {0};
    cr_assert_eq(ip_fragment(buf, 2960, PH_US, PH_PEER, 17, 1, 1500, cap_emit, &k), 2);
    cr_assert_eq(ph_get16(k.pkt[0] + 6), 0x2000);
    cr_assert_eq(ph_get16(k.pkt[1] + 6), 185);
    cr_assert_eq(k.len[1], 1500);
}
