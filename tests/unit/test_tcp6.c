/* TCP over IPv6 (issue 13 items 3 and 5): the IPv6 pseudo-header, MSS = MTU - 60, the
 * engine's tables over 16-byte addresses, listeners of one or both families, ISNs and SYN
 * cookies over IPv6 tuples, and RFC 8201 packet too big lowering the MSS of a connection.
 * Every packet is checked byte for byte, checksums computed here independently. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "pkt_harness.h"
#include "tcp.h"

static const uint8_t PEER6[16] = {0xfd, [15] = 1};
static const uint8_t US6[16] = {0xfd, [15] = 2};

enum { F_FIN = 1, F_SYN = 2, F_RST = 4, F_PSH = 8, F_ACK = 16 };

static uint8_t P[4096];

static void ph_put32(uint8_t *p, uint32_t v)
{
    ph_put16(p, (uint16_t)(v >> 16));
    ph_put16(p + 2, (uint16_t)v);
}

/* TCP checksum over the IPv6 pseudo-header (RFC 8200 §8.1): src, dst, 32-bit length,
 * three zero bytes and next header 6. */
static uint16_t tcp6_sum(const uint8_t src[16], const uint8_t dst[16], const uint8_t *seg, size_t n)
{
    uint8_t ph[40] = {0};
    memcpy(ph, src, 16);
    memcpy(ph + 16, dst, 16);
    ph[32] = (uint8_t)(n >> 24);
    ph[33] = (uint8_t)(n >> 16);
    ph[34] = (uint8_t)(n >> 8);
    ph[35] = (uint8_t)n;
    ph[39] = 6;
    return ph_fold(ph_sum(ph_sum(0, ph, sizeof ph), seg, n));
}

/* An IPv6 packet from PEER6 to US6 holding a TCP segment (options opt, payload data). */
static size_t seg6(uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags,
                   uint16_t wnd, const uint8_t *opt, size_t olen, const uint8_t *data, size_t dlen)
{
    uint8_t *t = P + 40;
    size_t hl = 20 + olen, n = hl + dlen;
    memset(P, 0, 40 + hl);
    P[0] = 0x60;
    ph_put16(P + 4, (uint16_t)n);
    P[6] = 6;
    P[7] = 64;
    memcpy(P + 8, PEER6, 16);
    memcpy(P + 24, US6, 16);
    ph_put16(t, sport);
    ph_put16(t + 2, dport);
    ph_put32(t + 4, seq);
    ph_put32(t + 8, ack);
    t[12] = (uint8_t)((hl / 4) << 4);
    t[13] = flags;
    ph_put16(t + 14, wnd);
    if (olen) memcpy(t + 20, opt, olen);
    if (dlen) memcpy(t + hl, data, dlen);
    ph_put16(t + 16, tcp6_sum(PEER6, US6, t, n));
    return 40 + n;
}

/* Packet i is IPv6 from US6 to PEER6 with a TCP segment of these fields and a valid
 * checksum; returns the TCP header's address. */
static const uint8_t *expect6(struct ph_ctx *c, size_t i, uint16_t sport, uint16_t dport,
                              uint32_t seq, uint32_t ack, uint8_t flags, size_t dlen)
{
    cr_assert_gt(c->npkts, i, "packet %zu was sent", i);
    const uint8_t *p = c->pkts[i].data;
    size_t len = c->pkts[i].len;
    cr_assert_geq(len, 60);
    cr_assert_eq(p[0], 0x60);
    cr_assert_eq(ph_get16(p + 4), len - 40, "payload length");
    cr_assert_eq(p[6], 6, "next header TCP");
    cr_assert_eq(p[7], 64);
    cr_assert_eq(memcmp(p + 8, US6, 16), 0);
    cr_assert_eq(memcmp(p + 24, PEER6, 16), 0);
    const uint8_t *t = p + 40;
    cr_assert_eq(tcp6_sum(US6, PEER6, t, len - 40), 0, "TCP checksum over the v6 pseudo-header");
    cr_assert_eq(ph_get16(t), sport);
    cr_assert_eq(ph_get16(t + 2), dport);
    cr_assert_eq(ph_get32(t + 4), seq, "seq %u", ph_get32(t + 4));
    cr_assert_eq(ph_get32(t + 8), ack, "ack %u", ph_get32(t + 8));
    cr_assert_eq(t[13], flags, "flags %#x", t[13]);
    cr_assert_eq(len - 40 - (size_t)(t[12] >> 4) * 4, dlen, "payload bytes");
    return t;
}

static const uint8_t MSS1440[4] = {2, 4, 0x05, 0xa0};

static struct ph_ctx *listening(unsigned fams, int *lh)
{
    struct ph_ctx *c = ph_new6(0);
    tcp_test_set_isn(c->st, 1000);
    *lh = stack_tcp_listen_fam(c->st, 80, 8, fams);
    cr_assert_gt(*lh, 0);
    return c;
}

Test(tcp6, syn_ack_bytes_and_mss_mtu_minus_60)
{
    int lh;
    struct ph_ctx *c = listening(STACK_FAM_V6, &lh);
    ph_input(c, P, seg6(40000, 80, 5000, 0, F_SYN, 65535, MSS1440, 4, NULL, 0), 1000);
    cr_assert_eq(c->npkts, 1);
    /* the whole SYN-ACK: fixed header, then 24 bytes of TCP with MSS 1500 - 60 = 1440 */
    uint8_t want[64] = {0x60, 0, 0, 0, 0, 24, 6, 64};
    memcpy(want + 8, US6, 16);
    memcpy(want + 24, PEER6, 16);
    static const uint8_t tcp[24] = {0x00, 0x50, 0x9c, 0x40, 0, 0, 0x03, 0xe8, 0, 0, 0x13, 0x89,
                                    0x60, 0x12, 0xff, 0xff, 0, 0, 0,    0,    2, 4, 0x05, 0xa0};
    memcpy(want + 40, tcp, 24);
    ph_put16(want + 56, tcp6_sum(US6, PEER6, want + 40, 24));
    cr_assert_eq(c->pkts[0].len, 64);
    cr_assert_eq(memcmp(c->pkts[0].data, want, 64), 0, "SYN-ACK bytes");
    cr_assert_eq(ph_get16(want + 56), 0xea24, "checksum %#x", ph_get16(want + 56));
    ph_free(c);
}

Test(tcp6, handshake_data_fin_and_info)
{
    int lh;
    struct ph_ctx *c = listening(STACK_FAM_V6, &lh);
    ph_input(c, P, seg6(40000, 80, 5000, 0, F_SYN, 65535, MSS1440, 4, NULL, 0), 1000);
    ph_clear(c);
    ph_input(c, P, seg6(40000, 80, 5001, 1001, F_ACK, 65535, NULL, 0, NULL, 0), 1010);
    int h = stack_tcp_accept(c->st, lh);
    cr_assert_gt(h, 0);
    struct stack_conn_info ci;
    cr_assert_eq(stack_tcp_info(c->st, h, &ci), 0);
    cr_assert_eq(ci.state, TCP_ESTABLISHED);
    cr_assert_eq(memcmp(ci.laddr.b, US6, 16), 0);
    cr_assert_eq(memcmp(ci.raddr.b, PEER6, 16), 0);
    cr_assert_eq(ci.lport, 80);
    cr_assert_eq(ci.rport, 40000);
    cr_assert_eq(ipa_family(ci.raddr), IPA_FAMILY_V6);

    const uint8_t hello[5] = {'h', 'e', 'l', 'l', 'o'};
    ph_input(c, P, seg6(40000, 80, 5001, 1001, F_ACK | F_PSH, 65535, NULL, 0, hello, 5), 1020);
    char buf[16];
    cr_assert_eq(stack_tcp_recv(c->st, h, buf, sizeof buf, 1020), 5);
    cr_assert_eq(memcmp(buf, "hello", 5), 0);
    ph_clear(c);
    cr_assert_eq(stack_tcp_send(c->st, h, "world!", 6, 1030), 6);
    const uint8_t *t = expect6(c, 0, 80, 40000, 1001, 5006, F_ACK | F_PSH, 6);
    cr_assert_eq(memcmp(t + 20, "world!", 6), 0);
    /* a full-sized segment is MTU - 60 = 1440 bytes of payload */
    static uint8_t big[3000];
    ph_input(c, P, seg6(40000, 80, 5006, 1007, F_ACK, 65535, NULL, 0, NULL, 0), 1040);
    ph_clear(c);
    cr_assert_eq(stack_tcp_send(c->st, h, big, sizeof big, 1050), (long)sizeof big);
    expect6(c, 0, 80, 40000, 1007, 5006, F_ACK, 1440);
    cr_assert_eq(c->pkts[0].len, 1500, "a full segment fills the 1500-byte MTU exactly");
    ph_free(c);
}

Test(tcp6, active_open_syn_bytes)
{
    struct ph_ctx *c = ph_new6(0);
    tcp_test_set_isn(c->st, 7000);
    int h = stack_tcp_connect_addr(c->st, ipa_from_v6(PEER6), 8080, 50000, 1000);
    cr_assert_gt(h, 0);
    const uint8_t *t = expect6(c, 0, 50000, 8080, 7000, 0, F_SYN, 0);
    /* MSS 1440 first (then window scale, SACK-permitted, timestamps as over IPv4) */
    cr_assert_eq(memcmp(t + 20, MSS1440, 4), 0);
    ph_free(c);
}

Test(tcp6, connect_refused_without_addr6_or_to_self)
{
    struct ph_ctx *c = ph_new(0);
    cr_assert_eq(stack_tcp_connect_addr(c->st, ipa_from_v6(PEER6), 80, 0, 0), -ENETUNREACH);
    cr_assert_eq(stack_tcp_listen_fam(c->st, 80, 4, STACK_FAM_V6), -EADDRNOTAVAIL);
    ph_free(c);
    c = ph_new6(0);
    static const uint8_t lo[16] = {[15] = 1};
    cr_assert_eq(stack_tcp_connect_addr(c->st, ipa_from_v6(lo), 80, 0, 0), -ENETUNREACH);
    cr_assert_eq(stack_tcp_connect_addr(c->st, ipa_from_v6(US6), 80, 0, 0), -ECONNREFUSED);
    ph_free(c);
}

Test(tcp6, listener_families)
{
    int lh;
    struct ph_ctx *c = listening(STACK_FAM_V4, &lh);
    /* an IPv4-only listener: a SYN over IPv6 is answered with RST,ACK */
    ph_input(c, P, seg6(40000, 80, 5000, 0, F_SYN, 65535, NULL, 0, NULL, 0), 1000);
    expect6(c, 0, 80, 40000, 0, 5001, F_RST | F_ACK, 0);
    /* a second listener on the port for IPv6 alone is allowed, one for both is not */
    cr_assert_eq(stack_tcp_listen_fam(c->st, 80, 4, STACK_FAM_V4 | STACK_FAM_V6), -EADDRINUSE);
    int l6 = stack_tcp_listen_fam(c->st, 80, 4, STACK_FAM_V6);
    cr_assert_gt(l6, 0);
    ph_clear(c);
    ph_input(c, P, seg6(40001, 80, 5000, 0, F_SYN, 65535, NULL, 0, NULL, 0), 1000);
    expect6(c, 0, 80, 40001, 1000, 5001, F_SYN | F_ACK, 0);
    ph_free(c);

    /* a dual-stack listener takes both */
    c = listening(STACK_FAM_V4 | STACK_FAM_V6, &lh);
    ph_input(c, P, seg6(40000, 80, 5000, 0, F_SYN, 65535, NULL, 0, NULL, 0), 1000);
    expect6(c, 0, 80, 40000, 1000, 5001, F_SYN | F_ACK, 0);
    uint8_t v4[64];
    uint8_t syn[20] = {0x9c, 0x41, 0, 80, 0, 0, 0x13, 0x88, 0, 0, 0, 0, 0x50, F_SYN, 0xff, 0xff};
    ph_put16(syn + 16, ph_fold(ph_sum(ph_pseudo_sum(0x0a000001, 0x0a000002, 6, 20), syn, 20)));
    size_t n = ph_ip(v4, 0x0a000001, 0x0a000002, 6, syn, 20);
    ph_input(c, v4, n, 1000);
    cr_assert_eq(c->npkts, 2);
    cr_assert_eq(c->pkts[1].data[0], 0x45, "the IPv4 SYN is answered over IPv4");
    cr_assert_eq(c->pkts[1].data[20 + 13], F_SYN | F_ACK);
    cr_assert_eq(c->pkts[1].len, 44, "MSS option only: 20 + 24");
    cr_assert_eq(ph_get16(c->pkts[1].data + 20 + 22), 1460, "IPv4 MSS: MTU - 40");
    ph_free(c);
}

Test(tcp6, tuples_differing_only_in_high_address_bytes_are_distinct)
{
    int lh;
    struct ph_ctx *c = listening(STACK_FAM_V6, &lh);
    ph_input(c, P, seg6(40000, 80, 5000, 0, F_SYN, 65535, NULL, 0, NULL, 0), 1000);
    ph_input(c, P, seg6(40000, 80, 5001, 1001, F_ACK, 65535, NULL, 0, NULL, 0), 1000);
    int h = stack_tcp_accept(c->st, lh);
    cr_assert_gt(h, 0);
    struct ip_addr other = ipa_from_v6(PEER6);
    other.b[1] = 0x77; /* fd77::1: same low 32 bits as fd00::1 */
    cr_assert(tcb_lookup(c->st, ipa_from_v6(US6), 80, ipa_from_v6(PEER6), 40000) != NULL);
    cr_assert(tcb_lookup(c->st, ipa_from_v6(US6), 80, other, 40000) == NULL);
    cr_assert(tcb_lookup(c->st, ipa_from_v4(0x0a000002), 80, ipa_from_v4(0xfd000001), 40000) ==
              NULL);
    ph_free(c);
}

Test(tcp6, isn_and_cookie_hashes_cover_the_whole_address)
{
    static const uint64_t k[2] = {0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL};
    struct ip_addr a = ipa_from_v6(US6), b = ipa_from_v6(PEER6);
    uint32_t ck = tcp_syncookie_make(k, 1000, a, 80, b, 5555, 12345, 1440);
    cr_assert_eq(tcp_syncookie_check(k, 1000, a, 80, b, 5555, 12345, ck), 1440,
                 "the IPv6 MSS is in the cookie's table");
    for (int i = 0; i < 16; i++) {
        struct ip_addr b2 = b;
        b2.b[i] ^= 0x10;
        cr_assert_eq(tcp_syncookie_check(k, 1000, a, 80, b2, 5555, 12345, ck), 0,
                     "byte %d of the peer's address changed", i);
    }
    cr_assert_neq(tcp_ts_offset(k, a, 80, b, 5555),
                  tcp_ts_offset(k, ipa_from_v4(0x0a000002), 80, ipa_from_v4(0xfd000001), 5555));
}

Test(tcp6, syn_cookie_over_ipv6)
{
    struct ph_ctx *c = ph_new6(0);
    stack_free(c->st);
    c->cfg.syncookies = 2; /* always */
    c->st = stack_new(&c->cfg);
    cr_assert(c->st != NULL);
    int lh = stack_tcp_listen_fam(c->st, 80, 8, STACK_FAM_V6);
    ph_input(c, P, seg6(40000, 80, 5000, 0, F_SYN, 65535, MSS1440, 4, NULL, 0), 1000);
    cr_assert_eq(ph_counter(c, "tcp_syncookies_sent"), 1);
    cr_assert_eq(c->npkts, 1);
    uint32_t iss = ph_get32(c->pkts[0].data + 44);
    expect6(c, 0, 80, 40000, iss, 5001, F_SYN | F_ACK, 0);
    ph_input(c, P, seg6(40000, 80, 5001, iss + 1, F_ACK, 65535, NULL, 0, NULL, 0), 1010);
    cr_assert_eq(ph_counter(c, "tcp_syncookies_validated"), 1);
    int h = stack_tcp_accept(c->st, lh);
    cr_assert_gt(h, 0);
    struct stack_conn_info ci;
    stack_tcp_info(c->st, h, &ci);
    cr_assert_eq(memcmp(ci.raddr.b, PEER6, 16), 0);
    ph_free(c);
}

/* An ICMPv6 packet too big from a router (fd00::99) quoting q (qlen bytes). */
static size_t ptb(uint32_t mtu, const uint8_t *q, size_t qlen)
{
    static const uint8_t router[16] = {0xfd, [14] = 0, [15] = 0x99};
    uint8_t *m = P + 40;
    memset(P, 0, 48);
    P[0] = 0x60;
    ph_put16(P + 4, (uint16_t)(8 + qlen));
    P[6] = 58;
    P[7] = 64;
    memcpy(P + 8, router, 16);
    memcpy(P + 24, US6, 16);
    m[0] = 2;
    ph_put32(m + 4, mtu);
    memcpy(m + 8, q, qlen);
    uint8_t ph[40] = {0};
    memcpy(ph, router, 16);
    memcpy(ph + 16, US6, 16);
    ph_put32(ph + 32, (uint32_t)(8 + qlen));
    ph[39] = 58;
    ph_put16(m + 2, ph_fold(ph_sum(ph_sum(0, ph, 40), m, 8 + qlen)));
    return 48 + qlen;
}

Test(tcp6, packet_too_big_lowers_the_mss_when_it_quotes_data_in_flight)
{
    int lh;
    struct ph_ctx *c = listening(STACK_FAM_V6, &lh);
    ph_input(c, P, seg6(40000, 80, 5000, 0, F_SYN, 65535, MSS1440, 4, NULL, 0), 1000);
    ph_input(c, P, seg6(40000, 80, 5001, 1001, F_ACK, 65535, NULL, 0, NULL, 0), 1010);
    int h = stack_tcp_accept(c->st, lh);
    ph_clear(c);
    static uint8_t big[2880];
    cr_assert_eq(stack_tcp_send(c->st, h, big, sizeof big, 1020), (long)sizeof big);
    cr_assert_eq(c->npkts, 2);
    expect6(c, 0, 80, 40000, 1001, 5001, F_ACK, 1440);
    uint8_t q[1280];
    memcpy(q, c->pkts[0].data, 1232);
    /* a quote of a sequence number not in flight is not believed */
    uint8_t bad[1232];
    memcpy(bad, q, 1232);
    ph_put32(bad + 44, 999);
    ph_clear(c);
    ph_input(c, P, ptb(1280, bad, 1232), 1030);
    cr_assert_eq(c->npkts, 0);
    cr_assert_eq(ph_counter(c, "tcp_pmtu_bogus"), 1);
    cr_assert_eq(ph_counter(c, "icmp6_packet_too_big_rx"), 1);
    /* the real one (quoting as much as fits in 1280 bytes): MSS 1280 - 60 = 1220, and what
     * was in flight is sent again at that size from SND.UNA */
    ph_input(c, P, ptb(1280, q, 1232), 1040);
    cr_assert_eq(ph_counter(c, "tcp_pmtu_lowered"), 1);
    cr_assert_geq(c->npkts, 1);
    expect6(c, 0, 80, 40000, 1001, 5001, F_ACK, 1220);
    cr_assert_eq(c->pkts[0].len, 1280);
    /* an MTU below the IPv6 minimum is taken as 1280 (RFC 8201 §4): nothing lower */
    ph_clear(c);
    ph_input(c, P, ptb(600, q, 1232), 1050);
    cr_assert_eq(ph_counter(c, "tcp_pmtu_floor"), 1);
    cr_assert_eq(ph_counter(c, "tcp_pmtu_not_lower"), 1);
    cr_assert_eq(c->npkts, 0);
    ph_free(c);
}

Test(tcp6, bad_checksum_and_mapped_source_dropped)
{
    int lh;
    struct ph_ctx *c = listening(STACK_FAM_V6, &lh);
    size_t n = seg6(40000, 80, 5000, 0, F_SYN, 65535, NULL, 0, NULL, 0);
    P[40 + 16] ^= 1;
    ph_input(c, P, n, 1000);
    cr_assert_eq(c->npkts, 0);
    cr_assert_eq(ph_counter(c, "tcp_drop_checksum"), 1);
    /* ::ffff:10.0.0.1 never comes over IPv6 (it would read as an IPv4 peer) */
    n = seg6(40000, 80, 5000, 0, F_SYN, 65535, NULL, 0, NULL, 0);
    static const uint8_t mapped[16] = {[10] = 0xff, 0xff, 10, 0, 0, 1};
    memcpy(P + 8, mapped, 16);
    ph_input(c, P, n, 1000);
    cr_assert_eq(c->npkts, 0);
    cr_assert_eq(ph_counter(c, "ip6_drop_bad_src"), 1);
    ph_free(c);
}
