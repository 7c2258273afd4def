/* IPv6 fragments (RFC 8200 §4.5, RFC 5722, RFC 7112): reassembly through stack_input and
 * stack_poll, source fragmentation of ICMPv6 and UDP replies, byte for byte. The
 * checksums and the reassembly of what the stack sends are computed here. */
#include <criterion/criterion.h>
#include <string.h>

#include "ip_frag.h"
#include "pkt_harness.h"

static const uint8_t PEER6[16] = {0xfd, [15] = 1};
static const uint8_t US6[16] = {0xfd, [15] = 2};

static uint8_t P[70000], M[70000];

static void put32(uint8_t *p, uint32_t v)
{
    ph_put16(p, (uint16_t)(v >> 16));
    ph_put16(p + 2, (uint16_t)v);
}

static uint16_t sum6(const uint8_t src[16], const uint8_t dst[16], uint8_t nh, const uint8_t *m,
                     size_t n)
{
    uint8_t ph[40] = {0};
    memcpy(ph, src, 16);
    memcpy(ph + 16, dst, 16);
    put32(ph + 32, (uint32_t)n);
    ph[39] = nh;
    return ph_fold(ph_sum(ph_sum(0, ph, 40), m, n));
}

/* An echo request of dlen data bytes into M; returns its length. */
static size_t echo_msg(size_t dlen, uint8_t type)
{
    M[0] = type;
    M[1] = 0;
    ph_put16(M + 2, 0);
    ph_put16(M + 4, 0x4242);
    ph_put16(M + 6, 7);
    for (size_t i = 0; i < dlen; i++)
        M[8 + i] = (uint8_t)(i * 13 + 1);
    ph_put16(M + 2, sum6(type == 128 ? PEER6 : US6, type == 128 ? US6 : PEER6, 58, M, 8 + dlen));
    return 8 + dlen;
}

/* A fragment (offset off, M flag more) of the message m: fixed header, fragment header. */
static size_t frag6(uint8_t nh, uint32_t id, size_t off, bool more, const uint8_t *m, size_t n)
{
    memset(P, 0, 48);
    P[0] = 0x60;
    ph_put16(P + 4, (uint16_t)(8 + n));
    P[6] = 44;
    P[7] = 64;
    memcpy(P + 8, PEER6, 16);
    memcpy(P + 24, US6, 16);
    P[40] = nh;
    ph_put16(P + 42, (uint16_t)(off | (more ? 1 : 0)));
    put32(P + 44, id);
    memcpy(P + 48, m, n);
    return 48 + n;
}

/* The packets sent from first on are fragments of one packet of next header nh: checks
 * every header and puts the reassembled payload into out; returns its length. */
static size_t collect(struct ph_ctx *c, size_t first, uint8_t nh, size_t mtu, uint8_t *out)
{
    size_t total = 0;
    uint32_t id = 0;
    for (size_t i = first; i < c->npkts; i++) {
        const uint8_t *p = c->pkts[i].data;
        size_t len = c->pkts[i].len;
        cr_assert_leq(len, mtu, "fragment %zu within the MTU", i);
        cr_assert_eq(p[0], 0x60);
        cr_assert_eq(ph_get16(p + 4), len - 40);
        cr_assert_eq(p[6], 44, "next header: fragment");
        cr_assert_eq(memcmp(p + 8, US6, 16), 0);
        cr_assert_eq(memcmp(p + 24, PEER6, 16), 0);
        cr_assert_eq(p[40], nh);
        cr_assert_eq(p[41], 0);
        uint16_t fo = ph_get16(p + 42);
        uint32_t fid = (uint32_t)ph_get16(p + 44) << 16 | ph_get16(p + 46);
        if (i == first) id = fid;
        cr_assert_eq(fid, id, "one identification");
        cr_assert_eq(fo & 0xfff8, total, "offsets follow each other");
        bool more = fo & 1;
        cr_assert_eq(more, i + 1 < c->npkts, "M on all but the last");
        if (more) cr_assert_eq((len - 48) % 8, 0);
        memcpy(out + total, p + 48, len - 48);
        total += len - 48;
    }
    return total;
}

Test(ip6_frag, echo_of_3000_bytes_reassembled_reply_fragmented)
{
    struct ph_ctx *c = ph_new6(0);
    size_t n = echo_msg(3000, 128);
    ph_input(c, P, frag6(58, 0x11223344, 0, true, M, 1448), 1000);
    cr_assert_eq(c->npkts, 0);
    ph_input(c, P, frag6(58, 0x11223344, 1448, false, M + 1448, n - 1448), 1001);
    /* the reply: 3008 bytes in fragments of (1500 - 48) & ~7 = 1448 bytes */
    cr_assert_eq(c->npkts, 3);
    cr_assert_eq(c->pkts[0].len, 1496);
    cr_assert_eq(c->pkts[1].len, 1496);
    cr_assert_eq(c->pkts[2].len, 48 + 112);
    static uint8_t got[4000];
    cr_assert_eq(collect(c, 0, 58, 1500, got), 3008);
    size_t rn = echo_msg(3000, 129);
    cr_assert_eq(rn, 3008);
    cr_assert_eq(memcmp(got, M, rn), 0, "the echo reply, checksum included");
    ph_expect_counters(c, "ip6_rx_packets=2 ip6_tx_packets=3 frag_rx=2 frag_reassembled=1 "
                          "frag_tx_datagrams=1 frag_tx_fragments=3 icmp6_rx=1 "
                          "icmp6_echo_requests=1 icmp6_echo_replies_sent=1");
    ph_free(c);
}

Test(ip6_frag, reverse_order_and_a_duplicate)
{
    struct ph_ctx *c = ph_new6(0);
    size_t n = echo_msg(2000, 128);
    ph_input(c, P, frag6(58, 9, 1000, false, M + 1000, n - 1000), 1000);
    ph_input(c, P, frag6(58, 9, 1000, false, M + 1000, n - 1000), 1000);
    cr_assert_eq(ph_counter(c, "frag_dups"), 1);
    ph_input(c, P, frag6(58, 9, 0, true, M, 1000), 1000);
    cr_assert_eq(c->npkts, 2);
    static uint8_t got[4000];
    cr_assert_eq(collect(c, 0, 58, 1500, got), n);
    echo_msg(2000, 129);
    cr_assert_eq(memcmp(got, M, n), 0);
    ph_free(c);
}

Test(ip6_frag, overlap_discards_the_whole_packet)
{
    struct ph_ctx *c = ph_new6(0);
    size_t n = echo_msg(2000, 128);
    ph_input(c, P, frag6(58, 5, 0, true, M, 1000), 1000);
    ph_input(c, P, frag6(58, 5, 992, false, M + 992, n - 992), 1000); /* 8 bytes overlap */
    ph_input(c, P, frag6(58, 5, 1000, false, M + 1000, n - 1000), 1000);
    cr_assert_eq(c->npkts, 0);
    cr_assert_eq(ph_counter(c, "frag_overlaps"), 1);
    cr_assert_eq(ph_counter(c, "frag_discarded"), 1, "the third fragment, after the discard");
    cr_assert_eq(ph_counter(c, "ip6_drop_fragment"), 2);
    cr_assert_eq(ph_counter(c, "ip_drop_fragment"), 0, "IPv6's drops are not IPv4's");
    cr_assert_eq(ph_counter(c, "frag_queues"), 1, "kept (empty) until the timeout");
    cr_assert_eq(ph_counter(c, "frag_mem"), ip_frag_queue_cost(), "no fragment bytes held");
    ph_free(c);
}

/* The one packet sent is a parameter problem of this code and pointer quoting P. */
static void expect_pp(struct ph_ctx *c, uint8_t code, uint32_t ptr, size_t quoted)
{
    cr_assert_eq(c->npkts, 1);
    const uint8_t *r = c->pkts[0].data;
    cr_assert_eq(r[6], 58);
    cr_assert_eq(r[40], 4);
    cr_assert_eq(r[41], code, "code %u", r[41]);
    cr_assert_eq((uint32_t)ph_get16(r + 44) << 16 | ph_get16(r + 46), ptr);
    cr_assert_eq(c->pkts[0].len, 48 + quoted);
    cr_assert_eq(memcmp(r + 48, P, quoted), 0);
    cr_assert_eq(sum6(US6, PEER6, 58, r + 40, c->pkts[0].len - 40), 0);
}

Test(ip6_frag, length_not_a_multiple_of_8_gets_code_0_at_the_payload_length)
{
    struct ph_ctx *c = ph_new6(0);
    echo_msg(100, 128);
    size_t n = frag6(58, 1, 0, true, M, 100);
    ph_input(c, P, n, 1000);
    expect_pp(c, 0, 4, n);
    cr_assert_eq(ph_counter(c, "frag_queues"), 0);
    ph_free(c);
}

Test(ip6_frag, past_65535_gets_code_0_at_the_fragment_offset)
{
    struct ph_ctx *c = ph_new6(0);
    memset(M, 0, 64);
    size_t n = frag6(58, 1, 65528, false, M, 16);
    ph_input(c, P, n, 1000);
    expect_pp(c, 0, 42, n);
    ph_free(c);
}

Test(ip6_frag, first_fragment_without_the_whole_udp_header_gets_code_3)
{
    struct ph_ctx *c = ph_new6(0);
    /* RFC 7112: a Destination Options header (8 bytes) and only 4 bytes of UDP */
    uint8_t d[16] = {17, 0, 1, 4, 0, 0, 0, 0, 0x9c, 0x40, 0x23, 0x28, 0, 0, 0, 0};
    size_t n = frag6(60, 2, 0, true, d, 12);
    ph_input(c, P, n, 1000);
    cr_assert_eq(ph_counter(c, "frag_tiny"), 0, "12 bytes: not a multiple of 8 first");
    ph_clear(c);
    uint8_t d2[8] = {17, 1, 1, 4, 0, 0, 0, 0}; /* a 16-byte header in an 8-byte fragment */
    n = frag6(60, 3, 0, true, d2, 8);
    ph_input(c, P, n, 1000);
    expect_pp(c, 3, 0, n);
    cr_assert_eq(ph_counter(c, "frag_tiny"), 1);
    ph_free(c);
}

Test(ip6_frag, timeout_sends_time_exceeded_code_1_only_with_the_first_fragment)
{
    struct ph_ctx *c = ph_new6(0);
    size_t n = echo_msg(2000, 128);
    ph_input(c, P, frag6(58, 77, 0, true, M, 1000), 1000);
    static uint8_t first[1100];
    memcpy(first, P, 48 + 8);
    ph_input(c, P, frag6(58, 78, 1000, false, M + 1000, n - 1000), 1000); /* no first */
    cr_assert_eq(stack_next_deadline(c->st), 61000, "RFC 8200: 60 s");
    stack_poll(c->st, 60999);
    cr_assert_eq(c->npkts, 0);
    stack_poll(c->st, 61000);
    cr_assert_eq(c->npkts, 1, "one time exceeded: id 78 never had its first fragment");
    const uint8_t *r = c->pkts[0].data;
    cr_assert_eq(r[40], 3);
    cr_assert_eq(r[41], 1);
    cr_assert_eq(c->pkts[0].len, 48 + 56, "quotes the headers and 8 bytes of the first fragment");
    cr_assert_eq(memcmp(r + 48, first, 40), 0);
    cr_assert_eq(r + 48 + 40 == r + 88 && r[88] == 58 && r[90] == 0 && r[91] == 1, 1);
    cr_assert_eq(memcmp(r + 48 + 48, M, 8), 0);
    cr_assert_eq(sum6(US6, PEER6, 58, r + 40, c->pkts[0].len - 40), 0);
    ph_expect_counters(c, "ip6_rx_packets=2 ip6_tx_packets=1 frag_rx=2 frag_timeouts=2 "
                          "frag_time_exceeded_sent=1 icmp6_errors_sent=1");
    ph_free(c);
}

Test(ip6_frag, udp_8000_bytes_echoed_both_ways_fragmented)
{
    struct ph_ctx *c = ph_new6(9000);
    size_t ulen = 8 + 8000;
    ph_put16(M, 40000);
    ph_put16(M + 2, 9000);
    ph_put16(M + 4, (uint16_t)ulen);
    ph_put16(M + 6, 0);
    for (size_t i = 0; i < 8000; i++)
        M[8 + i] = (uint8_t)(i * 7);
    ph_put16(M + 6, sum6(PEER6, US6, 17, M, ulen));
    for (size_t off = 0; off < ulen; off += 1448) {
        size_t part = ulen - off < 1448 ? ulen - off : 1448;
        ph_input(c, P, frag6(17, 0xabc, off, off + part < ulen, M + off, part), 1000);
    }
    cr_assert_eq(c->npkts, 6, "8008 bytes: 5 x 1448 + 768");
    static uint8_t got[9000];
    cr_assert_eq(collect(c, 0, 17, 1500, got), ulen);
    cr_assert_eq(ph_get16(got), 9000);
    cr_assert_eq(ph_get16(got + 2), 40000);
    cr_assert_eq(ph_get16(got + 4), ulen);
    cr_assert_eq(memcmp(got + 8, M + 8, 8000), 0);
    cr_assert_eq(sum6(US6, PEER6, 17, got, ulen), 0);
    ph_free(c);
}

Test(ip6_frag, a_fragment_header_inside_a_reassembled_packet_is_dropped)
{
    struct ph_ctx *c = ph_new6(0);
    /* the reassembled payload starts with a second fragment header */
    uint8_t inner[64] = {58, 0, 0, 1, 0, 0, 0, 9};
    ph_input(c, P, frag6(44, 4, 0, true, inner, 32), 1000);
    ph_input(c, P, frag6(44, 4, 32, false, inner + 32, 32), 1000);
    cr_assert_eq(c->npkts, 0);
    cr_assert_eq(ph_counter(c, "frag_reassembled"), 1);
    cr_assert_eq(ph_counter(c, "ip6_drop_fragment"), 1);
    cr_assert_eq(ph_counter(c, "frag_queues"), 0);
    ph_free(c);
}
