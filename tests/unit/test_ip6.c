/* IPv6 network layer (ip6.c, icmp6.c): the extension-header chain walked and bounded,
 * RFC 8200 §4 answers (parameter problems with their code and pointer), ICMPv6 echo
 * (RFC 4443) byte for byte, errors rate-limited and never to multicast, ND/MLD ignored. */
#include <criterion/criterion.h>
#include <string.h>

#include "pkt_harness.h"

static const uint8_t PEER6[16] = {0xfd, [15] = 1};
static const uint8_t US6[16] = {0xfd, [15] = 2};
static const uint8_t ALLNODES[16] = {0xff, 0x02, [15] = 1};
static const uint8_t LINKLOCAL[16] = {0xfe, 0x80, [15] = 1};

/* ICMPv6 checksum, independently: pseudo-header (RFC 8200 §8.1) + message. */
static uint16_t icmp6_sum(const uint8_t src[16], const uint8_t dst[16], const uint8_t *m, size_t n)
{
    uint32_t s = ph_sum(0, src, 16);
    s = ph_sum(s, dst, 16);
    s += (uint32_t)n + 58;
    return ph_fold(ph_sum(s, m, n));
}

/* An echo request message (8 + dlen bytes) into m. */
static size_t echo(uint8_t *m, const uint8_t src[16], const uint8_t dst[16], uint16_t id,
                   uint16_t seq, size_t dlen)
{
    m[0] = 128;
    m[1] = 0;
    ph_put16(m + 2, 0);
    ph_put16(m + 4, id);
    ph_put16(m + 6, seq);
    for (size_t i = 0; i < dlen; i++)
        m[8 + i] = (uint8_t)(i * 7 + 3);
    ph_put16(m + 2, icmp6_sum(src, dst, m, 8 + dlen));
    return 8 + dlen;
}

/* Fixed header (next header nh) + ext bytes + l4 bytes. */
static size_t pkt6(uint8_t *b, const uint8_t src[16], const uint8_t dst[16], uint8_t nh,
                   const uint8_t *ext, size_t elen, const uint8_t *l4, size_t l4len)
{
    memset(b, 0, 40);
    b[0] = 0x60;
    ph_put16(b + 4, (uint16_t)(elen + l4len));
    b[6] = nh;
    b[7] = 64;
    memcpy(b + 8, src, 16);
    memcpy(b + 24, dst, 16);
    if (elen) memcpy(b + 40, ext, elen);
    if (l4len) memcpy(b + 40 + elen, l4, l4len);
    return 40 + elen + l4len;
}

static uint8_t P[2048], M[1500];

/* An echo request behind the extension headers ext (whose last next header must be 58). */
static size_t echo_behind(uint8_t nh, const uint8_t *ext, size_t elen, const uint8_t dst[16])
{
    size_t mn = echo(M, PEER6, dst, 0x1234, 1, 16);
    return pkt6(P, PEER6, dst, nh, ext, elen, M, mn);
}

/* The one packet sent is an echo reply to PEER6 of the 16-byte request above. */
static void expect_reply(struct ph_ctx *c)
{
    cr_assert_eq(c->npkts, 1);
    const uint8_t *r = c->pkts[0].data;
    cr_assert_eq(c->pkts[0].len, 40 + 24);
    static const uint8_t hdr[8] = {0x60, 0, 0, 0, 0, 24, 58, 64};
    cr_assert_eq(memcmp(r, hdr, 8), 0);
    cr_assert_eq(memcmp(r + 8, US6, 16), 0);
    cr_assert_eq(memcmp(r + 24, PEER6, 16), 0);
    uint8_t want[24];
    echo(want, US6, PEER6, 0x1234, 1, 16);
    want[0] = 129;
    ph_put16(want + 2, 0);
    ph_put16(want + 2, icmp6_sum(US6, PEER6, want, 24));
    cr_assert_eq(memcmp(r + 40, want, 24), 0);
}

/* The one packet sent is a parameter problem (code, pointer) quoting the n bytes of P. */
static void expect_pp(struct ph_ctx *c, uint8_t code, uint32_t ptr, size_t n)
{
    cr_assert_eq(c->npkts, 1);
    const uint8_t *r = c->pkts[0].data;
    cr_assert_eq(c->pkts[0].len, 40 + 8 + n);
    cr_assert_eq(r[6], 58);
    cr_assert_eq(ph_get16(r + 4), 8 + n);
    cr_assert_eq(memcmp(r + 24, PEER6, 16), 0);
    cr_assert_eq(r[40], 4, "type parameter problem");
    cr_assert_eq(r[41], code);
    cr_assert_eq(ph_get32(r + 44), ptr);
    cr_assert_eq(memcmp(r + 48, P, n), 0, "the packet quoted whole");
    cr_assert_eq(icmp6_sum(US6, PEER6, r + 40, 8 + n), 0, "checksum");
}

Test(ip6, echo_reply_exact)
{
    struct ph_ctx *c = ph_new6(0);
    size_t n = echo_behind(58, NULL, 0, US6);
    ph_input(c, P, n, 1000);
    expect_reply(c);
    ph_expect_counters(c, "ip6_rx_packets=1 ip6_tx_packets=1 icmp6_rx=1 icmp6_echo_requests=1 "
                          "icmp6_echo_replies_sent=1");
    cr_assert(ph_has_line(c, "[IP6 ] recv fd00::1 -> fd00::2 nh=58 len=64"));
    cr_assert(ph_has_line(c, "[ICMP6] send echo reply id=4660 seq=1 len=16"));
    ph_free(c);
}

Test(ip6, hop_by_hop_padn_and_router_alert_skipped)
{
    /* HbH: next 58, len 0 (8 bytes): Router Alert (type 5, action 00), PadN of 0 */
    static const uint8_t hbh[8] = {58, 0, 5, 2, 0, 0, 1, 0};
    struct ph_ctx *c = ph_new6(0);
    ph_input(c, P, echo_behind(0, hbh, 8, US6), 1000);
    expect_reply(c);
    /* and an atomic fragment (offset 0, M clear) is the whole packet (RFC 6946) */
    ph_clear(c);
    static const uint8_t frag[8] = {58, 0, 0, 0, 0, 0, 0, 7};
    ph_input(c, P, echo_behind(44, frag, 8, US6), 1000);
    expect_reply(c);
    ph_free(c);
}

Test(ip6, unknown_next_header_parameter_problem)
{
    struct ph_ctx *c = ph_new6(0);
    uint8_t x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    size_t n = pkt6(P, PEER6, US6, 253, NULL, 0, x, 8);
    ph_input(c, P, n, 1000);
    expect_pp(c, 1, 6, n); /* the fixed header's Next Header field */
    ph_expect_counters(c, "ip6_rx_packets=1 ip6_tx_packets=1 ip6_drop_proto=1 "
                          "ip6_param_problems=1 icmp6_errors_sent=1");
    /* behind a Destination Options header: its Next Header field, at 40 */
    ph_clear(c);
    static const uint8_t dst[8] = {253, 0, 1, 4, 0, 0, 0, 0};
    n = pkt6(P, PEER6, US6, 60, dst, 8, x, 8);
    ph_input(c, P, n, 1000);
    expect_pp(c, 1, 40, n);
    ph_free(c);
}

Test(ip6, option_actions)
{
    struct ph_ctx *c = ph_new6(0);
    /* 00: skipped; the packet is processed */
    uint8_t opt[8] = {58, 0, 0x1e, 4, 9, 9, 9, 9};
    ph_input(c, P, echo_behind(60, opt, 8, US6), 1000);
    expect_reply(c);
    /* 01: discarded silently */
    ph_clear(c);
    opt[2] = 0x5e;
    ph_input(c, P, echo_behind(60, opt, 8, US6), 1000);
    cr_assert_eq(c->npkts, 0);
    cr_assert_eq(ph_counter(c, "ip6_drop_option"), 1);
    /* 10: parameter problem code 2 at the option type (40 + 2) */
    opt[2] = 0x9e;
    size_t n = echo_behind(60, opt, 8, US6);
    ph_input(c, P, n, 1000);
    expect_pp(c, 2, 42, n);
    /* ... also to a multicast destination */
    ph_clear(c);
    n = echo_behind(60, opt, 8, ALLNODES);
    ph_input(c, P, n, 1000);
    expect_pp(c, 2, 42, n);
    /* 11: only when the destination was unicast */
    ph_clear(c);
    opt[2] = 0xde;
    ph_input(c, P, echo_behind(60, opt, 8, ALLNODES), 1000);
    cr_assert_eq(c->npkts, 0);
    n = echo_behind(60, opt, 8, US6);
    ph_input(c, P, n, 1000);
    expect_pp(c, 2, 42, n);
    cr_assert_eq(ph_counter(c, "ip6_param_problems"), 4);
    cr_assert_eq(ph_counter(c, "icmp6_errors_sent"), 3);
    ph_free(c);
}

Test(ip6, hop_by_hop_not_first_and_routing)
{
    struct ph_ctx *c = ph_new6(0);
    /* DestOpts then HbH: HbH is allowed only first, code 1 at the DestOpts' Next Header */
    uint8_t ext[16] = {0, 0, 1, 4, 0, 0, 0, 0, 58, 0, 1, 4, 0, 0, 0, 0};
    size_t n = echo_behind(60, ext, 16, US6);
    ph_input(c, P, n, 1000);
    expect_pp(c, 1, 40, n);
    /* a routing header with segments left: code 0 at its routing type (40 + 2) */
    ph_clear(c);
    uint8_t rh[8] = {58, 0, 4, 1, 0, 0, 0, 0};
    n = echo_behind(43, rh, 8, US6);
    ph_input(c, P, n, 1000);
    expect_pp(c, 0, 42, n);
    /* with none left it is passed over */
    ph_clear(c);
    rh[3] = 0;
    ph_input(c, P, echo_behind(43, rh, 8, US6), 1000);
    expect_reply(c);
    ph_free(c);
}

Test(ip6, chain_bounded)
{
    struct ph_ctx *c = ph_new6(0);
    /* nine Destination Options headers: past IP6_EXT_MAX (8) */
    uint8_t ext[72];
    for (int i = 0; i < 9; i++) {
        uint8_t h[8] = {(uint8_t)(i == 8 ? 58 : 60), 0, 1, 4, 0, 0, 0, 0};
        memcpy(ext + 8 * i, h, 8);
    }
    ph_input(c, P, echo_behind(60, ext, 72, US6), 1000);
    /* eight are fine */
    ext[56] = 58;
    ph_input(c, P, echo_behind(60, ext, 64, US6), 1000);
    cr_assert_eq(c->npkts, 1);
    cr_assert_eq(ph_counter(c, "ip6_drop_ext_chain"), 1);
    /* a header whose length runs past the packet */
    ph_clear(c);
    uint8_t big[8] = {58, 200, 1, 4, 0, 0, 0, 0};
    ph_input(c, P, echo_behind(60, big, 8, US6), 1000);
    /* an option whose length runs past its header */
    uint8_t opt[8] = {58, 0, 1, 9, 0, 0, 0, 0};
    ph_input(c, P, echo_behind(60, opt, 8, US6), 1000);
    /* a header cut by the payload length */
    size_t n = pkt6(P, PEER6, US6, 60, NULL, 0, opt, 4);
    ph_input(c, P, n, 1000);
    cr_assert_eq(c->npkts, 0);
    cr_assert_eq(ph_counter(c, "ip6_drop_ext_chain"), 4);
    ph_free(c);
}

Test(ip6, lengths_and_addresses)
{
    struct ph_ctx *c = ph_new6(0);
    size_t n = echo_behind(58, NULL, 0, US6);
    ph_input(c, P, 39, 1000); /* short */
    ph_put16(P + 4, 25);      /* payload length past the read */
    ph_input(c, P, n, 1000);
    ph_put16(P + 4, 0); /* jumbogram */
    ph_input(c, P, n, 1000);
    ph_put16(P + 4, 24);
    P[n] = 0xee; /* trailing bytes: trimmed */
    ph_input(c, P, n + 1, 1000);
    cr_assert_eq(c->npkts, 1);
    ph_clear(c);
    uint8_t other[16] = {0xfd, [15] = 3};
    ph_input(c, P, echo_behind(58, NULL, 0, other), 1000);
    n = echo_behind(58, NULL, 0, US6);
    memcpy(P + 8, ALLNODES, 16); /* multicast source */
    ph_input(c, P, n, 1000);
    cr_assert_eq(c->npkts, 0);
    ph_expect_counters(c, "ip6_rx_packets=6 ip6_tx_packets=1 ip6_drop_short=1 "
                          "ip6_drop_payload_len=2 ip6_trailing_bytes=1 ip6_drop_not_for_us=1 "
                          "ip6_drop_bad_src=1 icmp6_rx=1 icmp6_echo_requests=1 "
                          "icmp6_echo_replies_sent=1");
    ph_free(c);
}

Test(ip6, first_fragment_held)
{
    struct ph_ctx *c = ph_new6(0);
    static const uint8_t frag[8] = {58, 0, 0, 1, 0, 0, 0, 7}; /* offset 0, M set */
    ph_input(c, P, echo_behind(44, frag, 8, US6), 1000);
    cr_assert_eq(c->npkts, 0);
    cr_assert_eq(ph_counter(c, "ip6_drop_fragment"), 0);
    cr_assert_eq(ph_counter(c, "frag_queues"), 1, "held for reassembly (test_ip6_frag.c)");
    ph_free(c);
}

Test(ip6, nd_and_mld_ignored)
{
    struct ph_ctx *c = ph_new6(0);
    static const uint8_t allrouters[16] = {0xff, 0x02, [15] = 2};
    uint8_t rs[8] = {133, 0, 0, 0, 0, 0, 0, 0};
    ph_put16(rs + 2, icmp6_sum(LINKLOCAL, allrouters, rs, 8));
    ph_input(c, P, pkt6(P, LINKLOCAL, allrouters, 58, NULL, 0, rs, 8), 1000);
    /* MLDv2 report to ff02::16 behind a Hop-by-Hop Router Alert */
    static const uint8_t mldrouters[16] = {0xff, 0x02, [15] = 0x16};
    static const uint8_t hbh[8] = {58, 0, 5, 2, 0, 0, 1, 0};
    uint8_t rep[28] = {143, 0, 0, 0, 0, 0, 0, 1, 4, 0, 0, 0, 0xff, 0x02, [27] = 0xfb};
    ph_put16(rep + 2, icmp6_sum(LINKLOCAL, mldrouters, rep, 28));
    ph_input(c, P, pkt6(P, LINKLOCAL, mldrouters, 0, hbh, 8, rep, 28), 1000);
    /* an echo request to all nodes is not answered */
    ph_input(c, P, echo_behind(58, NULL, 0, ALLNODES), 1000);
    /* a bad checksum */
    size_t n = echo_behind(58, NULL, 0, US6);
    P[n - 1] ^= 1;
    ph_input(c, P, n, 1000);
    cr_assert_eq(c->npkts, 0);
    ph_expect_counters(c, "ip6_rx_packets=4 icmp6_rx=4 icmp6_nd_ignored=1 icmp6_mld_ignored=1 "
                          "icmp6_other_types=1 icmp6_drop_checksum=1");
    ph_free(c);
}

Test(ip6, errors_rate_limited)
{
    struct ph_ctx *c = ph_new6(0);
    uint8_t x[8] = {0};
    size_t n = pkt6(P, PEER6, US6, 253, NULL, 0, x, 8); /* an unknown next header */
    for (int i = 0; i < 12; i++)
        ph_input(c, P, n, 1000);
    cr_assert_eq(c->npkts, 10);
    cr_assert_eq(ph_counter(c, "icmp6_ratelimited"), 2);
    ph_input(c, P, n, 1100); /* one more token 100 ms later */
    cr_assert_eq(c->npkts, 11);
    ph_free(c);
}

Test(ip6, ignored_without_addr6)
{
    struct ph_ctx *c = ph_new(0);
    ph_input(c, P, echo_behind(58, NULL, 0, US6), 1000);
    cr_assert_eq(c->npkts, 0);
    ph_expect_counters(c, "ip_rx_packets=1 ip_drop_version=1");
    ph_free(c);
}

/* UDP datagram (header + data) with its checksum over the IPv6 pseudo-header. */
static size_t udp6(uint8_t *u, uint16_t sport, uint16_t dport, const char *data)
{
    size_t n = 8 + strlen(data);
    ph_put16(u, sport);
    ph_put16(u + 2, dport);
    ph_put16(u + 4, (uint16_t)n);
    ph_put16(u + 6, 0);
    memcpy(u + 8, data, strlen(data));
    uint32_t s = ph_sum(0, PEER6, 16);
    s = ph_sum(s, US6, 16);
    s += (uint32_t)n + 17;
    ph_put16(u + 6, ph_fold(ph_sum(s, u, n)));
    return n;
}

Test(ip6, udp_echo_exact)
{
    struct ph_ctx *c = ph_new6(9000);
    uint8_t u[64];
    size_t un = udp6(u, 40000, 9000, "hello-v6\n");
    ph_input(c, P, pkt6(P, PEER6, US6, 17, NULL, 0, u, un), 1000);
    cr_assert_eq(c->npkts, 1);
    const uint8_t *r = c->pkts[0].data;
    cr_assert_eq(c->pkts[0].len, 40 + 17);
    static const uint8_t hdr[8] = {0x60, 0, 0, 0, 0, 17, 17, 64};
    cr_assert_eq(memcmp(r, hdr, 8), 0);
    cr_assert_eq(memcmp(r + 8, US6, 16), 0);
    cr_assert_eq(memcmp(r + 24, PEER6, 16), 0);
    cr_assert_eq(ph_get16(r + 40), 9000);
    cr_assert_eq(ph_get16(r + 42), 40000);
    cr_assert_eq(ph_get16(r + 44), 17);
    cr_assert_eq(memcmp(r + 48, "hello-v6\n", 9), 0);
    /* the checksum over the reply's pseudo-header (same addresses swapped: same sum) */
    uint32_t s = ph_sum(0, US6, 16);
    s = ph_sum(s, PEER6, 16);
    s += 17u + 17;
    cr_assert_eq(ph_fold(ph_sum(s, r + 40, 17)), 0);
    ph_expect_counters(c, "ip6_rx_packets=1 ip6_tx_packets=1 udp_rx=1 udp_tx=1 udp_echoed=1");
    ph_free(c);
}

Test(ip6, udp_checksum_mandatory_and_closed_port)
{
    struct ph_ctx *c = ph_new6(9000);
    uint8_t u[64];
    size_t un = udp6(u, 40000, 9000, "x");
    ph_put16(u + 6, 0); /* "no checksum" is not allowed over IPv6 */
    ph_input(c, P, pkt6(P, PEER6, US6, 17, NULL, 0, u, un), 1000);
    un = udp6(u, 40000, 9000, "x");
    u[8] ^= 1; /* wrong */
    ph_input(c, P, pkt6(P, PEER6, US6, 17, NULL, 0, u, un), 1000);
    ph_put16(u + 4, 30); /* length past the payload */
    ph_input(c, P, pkt6(P, PEER6, US6, 17, NULL, 0, u, un), 1000);
    ph_input(c, P, pkt6(P, PEER6, US6, 17, NULL, 0, u, 7), 1000); /* short */
    cr_assert_eq(c->npkts, 0);
    /* a closed port: destination unreachable, code 4 (port), the datagram quoted */
    un = udp6(u, 40000, 9999, "x");
    size_t n = pkt6(P, PEER6, US6, 17, NULL, 0, u, un);
    ph_input(c, P, n, 1000);
    cr_assert_eq(c->npkts, 1);
    const uint8_t *r = c->pkts[0].data;
    cr_assert_eq(c->pkts[0].len, 48 + n);
    cr_assert_eq(r[40], 1);
    cr_assert_eq(r[41], 4);
    cr_assert_eq(ph_get32(r + 44), 0);
    cr_assert_eq(memcmp(r + 48, P, n), 0);
    cr_assert_eq(icmp6_sum(US6, PEER6, r + 40, 8 + n), 0);
    ph_expect_counters(c, "ip6_rx_packets=5 ip6_tx_packets=1 udp_rx=5 udp_drop_checksum=2 "
                          "udp_drop_length=1 udp_drop_short=1 udp_no_port=1 icmp6_errors_sent=1");
    ph_free(c);
}
