/* UDP: udp_parse / udp_build, the echo service, and sockets through stack_input. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "credit.h"
#include "ip.h"
#include "udp.h"
#include "pkt_harness.h"

static const uint8_t hello[] = {'h', 'e', 'l', 'l', 'o', '\n'};

/* ---------------- udp_parse ---------------- */

Test(udp_parse, valid)
{
    uint8_t u[64];
    size_t n = ph_udp(u, PH_PEER, PH_US, 40000, 9000, hello, sizeof hello);
    struct udp_view v;
    cr_assert_eq(udp_parse(u, n, PH_PEER, PH_US, &v), UDP_OK);
    cr_assert_eq(v.sport, 40000);
    cr_assert_eq(v.dport, 9000);
    cr_assert_eq(v.data, u + 8);
    cr_assert_eq(v.data_len, 6);
    cr_assert_eq(v.had_checksum, 1);
}

Test(udp_parse, header_only)
{
    uint8_t u[8];
    size_t n = ph_udp(u, PH_PEER, PH_US, 1, 2, NULL, 0);
    struct udp_view v;
    cr_assert_eq(udp_parse(u, n, PH_PEER, PH_US, &v), UDP_OK);
    cr_assert_eq(v.data_len, 0);
}

Test(udp_parse, too_short)
{
    uint8_t u[64];
    ph_udp(u, PH_PEER, PH_US, 40000, 9000, hello, sizeof hello);
    struct udp_view v;
    cr_assert_eq(udp_parse(u, 7, PH_PEER, PH_US, &v), UDP_ERR_SHORT);
    cr_assert_eq(udp_parse(u, 0, PH_PEER, PH_US, &v), UDP_ERR_SHORT);
}

Test(udp_parse, length_below_8)
{
    uint8_t u[64];
    size_t n = ph_udp(u, PH_PEER, PH_US, 40000, 9000, hello, sizeof hello);
    struct udp_view v;
    ph_put16(u + 4, 7);
    cr_assert_eq(udp_parse(u, n, PH_PEER, PH_US, &v), UDP_ERR_LENGTH);
    ph_put16(u + 4, 0);
    cr_assert_eq(udp_parse(u, n, PH_PEER, PH_US, &v), UDP_ERR_LENGTH);
}

Test(udp_parse, length_above_ip_payload)
{
    uint8_t u[64];
    size_t n = ph_udp(u, PH_PEER, PH_US, 40000, 9000, hello, sizeof hello);
    struct udp_view v;
    ph_put16(u + 4, (uint16_t)(n + 1));
    cr_assert_eq(udp_parse(u, n, PH_PEER, PH_US, &v), UDP_ERR_LENGTH);
    ph_put16(u + 4, 0xffff);
    cr_assert_eq(udp_parse(u, n, PH_PEER, PH_US, &v), UDP_ERR_LENGTH);
}

/* Bytes after the UDP length inside the IP payload are padding, not data. */
Test(udp_parse, length_below_ip_payload_ignores_padding)
{
    uint8_t u[64];
    size_t n = ph_udp(u, PH_PEER, PH_US, 40000, 9000, hello, sizeof hello);
    memset(u + n, 0x77, 5);
    struct udp_view v;
    cr_assert_eq(udp_parse(u, n + 5, PH_PEER, PH_US, &v), UDP_OK);
    cr_assert_eq(v.data_len, 6);
}

Test(udp_parse, bad_checksum)
{
    uint8_t u[64];
    size_t n = ph_udp(u, PH_PEER, PH_US, 40000, 9000, hello, sizeof hello);
    u[8] ^= 0x20; /* 'h' -> 'H' */
    struct udp_view v;
    cr_assert_eq(udp_parse(u, n, PH_PEER, PH_US, &v), UDP_ERR_CHECKSUM);
}

/* The pseudo-header is covered: the same bytes from another source do not verify. */
Test(udp_parse, pseudo_header_is_covered)
{
    uint8_t u[64];
    size_t n = ph_udp(u, PH_PEER, PH_US, 40000, 9000, hello, sizeof hello);
    struct udp_view v;
    cr_assert_eq(udp_parse(u, n, PH_ADDR(10, 0, 0, 9), PH_US, &v), UDP_ERR_CHECKSUM);
    cr_assert_eq(udp_parse(u, n, PH_PEER, PH_ADDR(10, 0, 0, 9), &v), UDP_ERR_CHECKSUM);
}

/* RFC 768: a zero checksum field means the sender computed none; accept unverified. */
Test(udp_parse, zero_checksum_means_none)
{
    uint8_t u[64];
    size_t n = ph_udp(u, PH_PEER, PH_US, 40000, 9000, hello, sizeof hello);
    ph_put16(u + 6, 0);
    u[9] ^= 0xff; /* would fail any verification */
    struct udp_view v;
    cr_assert_eq(udp_parse(u, n, PH_PEER, PH_US, &v), UDP_OK);
    cr_assert_eq(v.had_checksum, 0);
    cr_assert_eq(v.data_len, 6);
}

/* ---------------- udp_build ---------------- */

/* Hand-computed: see test_checksum.c udp_datagram_hand_computed (checksum e88a). */
Test(udp_build, exact_bytes)
{
    uint8_t out[64];
    size_t n = udp_build(out, PH_PEER, PH_US, 40000, 9000, hello, sizeof hello);
    static const uint8_t want[] = {0x9c, 0x40, 0x23, 0x28, 0x00, 0x0e, 0xe8,
                                   0x8a, 'h',  'e',  'l',  'l',  'o',  '\n'};
    cr_assert_eq(n, sizeof want);
    cr_assert_arr_eq(out, want, sizeof want);
}

Test(udp_build, in_place_data_and_parse_back)
{
    uint8_t a[128], b[128], data[41];
    ph_pattern(data, sizeof data);
    size_t na = udp_build(a, PH_US, PH_PEER, 9000, 40000, data, sizeof data);
    memcpy(b + 8, data, sizeof data);
    size_t nb = udp_build(b, PH_US, PH_PEER, 9000, 40000, b + 8, sizeof data);
    cr_assert_eq(na, nb);
    cr_assert_arr_eq(a, b, na);
    struct udp_view v;
    cr_assert_eq(udp_parse(b, nb, PH_US, PH_PEER, &v), UDP_OK);
    cr_assert_arr_eq(v.data, data, sizeof data);
}

/* A datagram whose checksum computes to 0 is sent with 0xffff (0 would mean "none").
 * Construction: with data 00 00 the checksum is c; with data = c the one's-complement
 * sum becomes ffff, so the computed checksum is 0. */
Test(udp_build, computed_zero_is_sent_as_ffff)
{
    uint8_t out[16], data[2] = {0, 0};
    udp_build(out, PH_PEER, PH_US, 1234, 5678, data, 2);
    uint16_t c = ph_get16(out + 6);
    ph_put16(data, c);
    udp_build(out, PH_PEER, PH_US, 1234, 5678, data, 2);
    /* independently: the sum over pseudo-header + datagram with a 0 field is ffff */
    uint8_t zero_field[10];
    memcpy(zero_field, out, 10);
    ph_put16(zero_field + 6, 0);
    cr_assert_eq(ph_fold(ph_sum(ph_pseudo_sum(PH_PEER, PH_US, 17, 10), zero_field, 10)), 0);
    cr_assert_eq(ph_get16(out + 6), 0xffff);
    struct udp_view v;
    cr_assert_eq(udp_parse(out, 10, PH_PEER, PH_US, &v), UDP_OK);
    cr_assert_eq(v.had_checksum, 1);
}

/* ---------------- echo service through the stack ---------------- */

/* Checks pkt is a UDP datagram from us:sport to peer:dport carrying data. */
static void check_udp_out(const struct ph_pkt *pkt, uint16_t sport, uint16_t dport,
                          const uint8_t *data, size_t n)
{
    const uint8_t *o = pkt->data;
    cr_assert_eq(pkt->len, 28 + n);
    cr_assert_eq(o[0], 0x45);
    cr_assert_eq(ph_get16(o + 2), 28 + n);
    cr_assert_eq(ph_get16(o + 6), 0x4000);
    cr_assert_eq(o[8], 64);
    cr_assert_eq(o[9], 17);
    cr_assert_eq(ph_fold(ph_sum(0, o, 20)), 0);
    cr_assert_eq(ph_get32(o + 12), PH_US);
    cr_assert_eq(ph_get32(o + 16), PH_PEER);
    uint8_t want[1600];
    size_t wn = ph_udp(want, PH_US, PH_PEER, sport, dport, data, n);
    cr_assert_arr_eq(o + 20, want, wn);
    cr_assert_eq(ph_fold(ph_sum(ph_pseudo_sum(PH_US, PH_PEER, 17, (uint16_t)wn), o + 20, wn)), 0);
}

Test(stack_udp, echo_returns_datagram_ports_swapped)
{
    uint8_t p[64];
    size_t n = ph_udp_pkt(p, PH_PEER, PH_US, 40000, 9000, hello, sizeof hello);
    struct ph_ctx *c = ph_new(9000);
    ph_input(c, p, n, 1000);
    cr_assert_eq(c->npkts, 1);
    check_udp_out(&c->pkts[0], 9000, 40000, hello, sizeof hello);
    ph_expect_counters(c, "ip_rx_packets=1 udp_rx=1 udp_echoed=1 udp_tx=1 ip_tx_packets=1");
    ph_free(c);
}

Test(stack_udp, echo_trace_lines)
{
    uint8_t p[64];
    size_t n = ph_udp_pkt(p, PH_PEER, PH_US, 40000, 9000, hello, sizeof hello);
    struct ph_ctx *c = ph_new(9000);
    ph_input(c, p, n, 1000);
    cr_assert_eq(c->nlines, 3);
    cr_assert_str_eq(c->lines[0], "[IP  ] recv 10.0.0.1 -> 10.0.0.2 proto=UDP len=34");
    cr_assert_str_eq(c->lines[1], "[UDP ] recv 10.0.0.1:40000 -> 10.0.0.2:9000 len=6");
    cr_assert_str_eq(c->lines[2], "[UDP ] send 10.0.0.2:9000 -> 10.0.0.1:40000 len=6");
    ph_free(c);
}

Test(stack_udp, echo_zero_checksum_datagram)
{
    uint8_t p[64];
    size_t n = ph_udp_pkt(p, PH_PEER, PH_US, 40000, 9000, hello, sizeof hello);
    ph_put16(p + 26, 0);
    struct ph_ctx *c = ph_new(9000);
    ph_input(c, p, n, 1000);
    cr_assert_eq(c->npkts, 1);
    check_udp_out(&c->pkts[0], 9000, 40000, hello, sizeof hello); /* we always checksum */
    ph_free(c);
}

Test(stack_udp, echo_empty_datagram)
{
    uint8_t p[64];
    size_t n = ph_udp_pkt(p, PH_PEER, PH_US, 40000, 9000, NULL, 0);
    struct ph_ctx *c = ph_new(9000);
    ph_input(c, p, n, 1000);
    cr_assert_eq(c->npkts, 1);
    check_udp_out(&c->pkts[0], 9000, 40000, NULL, 0);
    ph_free(c);
}

/* 1472 bytes of data: a 1500-byte packet, the largest that fits the MTU. */
Test(stack_udp, echo_largest_datagram)
{
    static uint8_t p[1600], data[1472];
    ph_pattern(data, sizeof data);
    size_t n = ph_udp_pkt(p, PH_PEER, PH_US, 40000, 9000, data, sizeof data);
    struct ph_ctx *c = ph_new(9000);
    ph_input(c, p, n, 1000);
    cr_assert_eq(c->npkts, 1);
    check_udp_out(&c->pkts[0], 9000, 40000, data, sizeof data);
    ph_free(c);
}

/* A datagram that arrived larger than our MTU is echoed in fragments, never a packet
 * longer than the MTU: 3008 bytes of UDP as 1480 + 1480 + 48, offsets 0, 185, 370. */
Test(stack_udp, echo_larger_than_mtu_in_fragments)
{
    static uint8_t p[4000], data[3000];
    ph_pattern(data, sizeof data);
    size_t n = ph_udp_pkt(p, PH_PEER, PH_US, 40000, 9000, data, sizeof data);
    struct ph_ctx *c = ph_new(9000);
    ph_input(c, p, n, 1000);
    cr_assert_eq(c->npkts, 3);
    static const uint16_t len[3] = {1500, 1500, 68}, ff[3] = {0x2000, 0x2000 | 185, 370};
    static uint8_t whole[3008];
    for (int i = 0; i < 3; i++) {
        const uint8_t *f = c->pkts[i].data;
        cr_assert_eq(c->pkts[i].len, len[i]);
        cr_assert_eq(ph_get16(f + 2), len[i]);
        cr_assert_eq(ph_get16(f + 6), ff[i]);
        cr_assert_eq(ph_get16(f + 4), ph_get16(c->pkts[0].data + 4));
        cr_assert_eq(f[9], 17);
        cr_assert_eq(ph_fold(ph_sum(0, f, 20)), 0);
        memcpy(whole + i * 1480, f + 20, len[i] - 20u);
    }
    cr_assert_eq(ph_get16(whole), 9000);
    cr_assert_eq(ph_get16(whole + 2), 40000);
    cr_assert_eq(ph_get16(whole + 4), 3008);
    cr_assert_eq(memcmp(whole + 8, data, sizeof data), 0);
    cr_assert_eq(ph_fold(ph_sum(ph_pseudo_sum(PH_US, PH_PEER, 17, 3008), whole, 3008)), 0);
    ph_expect_counters(c, "ip_rx_packets=1 udp_rx=1 udp_echoed=1 udp_tx=1 ip_tx_packets=3 "
                          "frag_tx_datagrams=1 frag_tx_fragments=3");
    ph_free(c);
}

static void expect_udp_drop(const uint8_t *p, size_t n, const char *counter, const char *trace)
{
    struct ph_ctx *c = ph_new(9000);
    ph_input(c, p, n, 1000);
    cr_assert_eq(c->npkts, 0);
    char spec[128];
    snprintf(spec, sizeof spec, "ip_rx_packets=1 udp_rx=1 %s=1", counter);
    ph_expect_counters(c, spec);
    cr_expect(ph_has_line(c, trace), "missing trace line '%s'", trace);
    ph_free(c);
}

Test(stack_udp, drop_too_short)
{
    uint8_t u[64], p[64];
    ph_udp(u, PH_PEER, PH_US, 40000, 9000, hello, sizeof hello);
    size_t n = ph_ip(p, PH_PEER, PH_US, 17, u, 7);
    expect_udp_drop(p, n, "udp_drop_short", "[UDP ] drop len=7 reason=too short");
}

Test(stack_udp, drop_length_below_8)
{
    uint8_t p[64];
    size_t n = ph_udp_pkt(p, PH_PEER, PH_US, 40000, 9000, hello, sizeof hello);
    ph_put16(p + 24, 4);
    expect_udp_drop(p, n, "udp_drop_length", "[UDP ] drop len=14 reason=bad length");
}

Test(stack_udp, drop_length_above_ip_payload)
{
    uint8_t p[64];
    size_t n = ph_udp_pkt(p, PH_PEER, PH_US, 40000, 9000, hello, sizeof hello);
    ph_put16(p + 24, 15);
    expect_udp_drop(p, n, "udp_drop_length", "[UDP ] drop len=14 reason=bad length");
}

Test(stack_udp, drop_bad_checksum)
{
    uint8_t p[64];
    size_t n = ph_udp_pkt(p, PH_PEER, PH_US, 40000, 9000, hello, sizeof hello);
    p[33] ^= 0x01;
    expect_udp_drop(p, n, "udp_drop_checksum", "[UDP ] drop len=14 reason=bad checksum");
}

/* ---------------- sockets ---------------- */

Test(udp_socket, bind_twice_is_eaddrinuse)
{
    struct ph_ctx *c = ph_new(0);
    int h = stack_udp_bind(c->st, 5000);
    cr_assert_gt(h, 0);
    cr_assert_eq(stack_udp_port(c->st, h), 5000);
    cr_assert_eq(stack_udp_bind(c->st, 5000), -EADDRINUSE);
    int h2 = stack_udp_bind(c->st, 5001);
    cr_assert_gt(h2, 0);
    cr_assert_neq(h, h2);
    ph_free(c);
}

Test(udp_socket, ephemeral_port)
{
    struct ph_ctx *c = ph_new(0);
    int h1 = stack_udp_bind(c->st, 0), h2 = stack_udp_bind(c->st, 0);
    cr_assert_gt(h1, 0);
    cr_assert_gt(h2, 0);
    int p1 = stack_udp_port(c->st, h1), p2 = stack_udp_port(c->st, h2);
    cr_assert_geq(p1, 49152);
    cr_assert_geq(p2, 49152);
    cr_assert_neq(p1, p2);
    ph_free(c);
}

Test(udp_socket, recvfrom_empty_is_eagain)
{
    struct ph_ctx *c = ph_new(0);
    int h = stack_udp_bind(c->st, 5000);
    uint8_t buf[16];
    cr_assert_eq(stack_udp_recvfrom(c->st, h, buf, sizeof buf, NULL, NULL), -EAGAIN);
    ph_free(c);
}

Test(udp_socket, datagram_delivered_with_readable_event)
{
    struct ph_ctx *c = ph_new(0);
    int h = stack_udp_bind(c->st, 5000);
    uint8_t p[64];
    size_t n = ph_udp_pkt(p, PH_PEER, PH_US, 40000, 5000, hello, sizeof hello);
    ph_input(c, p, n, 1000);
    cr_assert_eq(c->npkts, 0); /* neither echoed nor unreachable */
    cr_assert_eq(c->nevents, 1);
    cr_assert_eq(c->events[0].handle, h);
    cr_assert_eq(c->events[0].events, SEV_READABLE);
    ph_expect_counters(c, "ip_rx_packets=1 udp_rx=1");
    uint8_t buf[64];
    uint32_t ra = 0;
    uint16_t rp = 0;
    cr_assert_eq(stack_udp_recvfrom(c->st, h, buf, sizeof buf, &ra, &rp), 6);
    cr_assert_arr_eq(buf, hello, 6);
    cr_assert_eq(ra, PH_PEER);
    cr_assert_eq(rp, 40000);
    cr_assert_eq(stack_udp_recvfrom(c->st, h, buf, sizeof buf, &ra, &rp), -EAGAIN);
    ph_free(c);
}

Test(udp_socket, datagrams_kept_apart_and_in_order)
{
    struct ph_ctx *c = ph_new(0);
    int h = stack_udp_bind(c->st, 5000);
    uint8_t p[64];
    static const uint8_t a[] = "first", b[] = "second!";
    ph_input(c, p, ph_udp_pkt(p, PH_PEER, PH_US, 1111, 5000, a, 5), 1000);
    ph_input(c, p, ph_udp_pkt(p, PH_PEER, PH_US, 2222, 5000, b, 7), 1001);
    ph_input(c, p, ph_udp_pkt(p, PH_PEER, PH_US, 3333, 5000, NULL, 0), 1002);
    cr_assert_eq(c->nevents, 3);
    uint8_t buf[64];
    uint16_t rp;
    cr_assert_eq(stack_udp_recvfrom(c->st, h, buf, sizeof buf, NULL, &rp), 5);
    cr_assert_arr_eq(buf, a, 5);
    cr_assert_eq(rp, 1111);
    cr_assert_eq(stack_udp_recvfrom(c->st, h, buf, sizeof buf, NULL, &rp), 7);
    cr_assert_arr_eq(buf, b, 7);
    cr_assert_eq(rp, 2222);
    cr_assert_eq(stack_udp_recvfrom(c->st, h, buf, sizeof buf, NULL, &rp), 0);
    cr_assert_eq(rp, 3333);
    cr_assert_eq(stack_udp_recvfrom(c->st, h, buf, sizeof buf, NULL, &rp), -EAGAIN);
    ph_free(c);
}

/* A short buffer gets the first bytes; the rest of that datagram is discarded. */
Test(udp_socket, truncation_returns_bytes_copied)
{
    struct ph_ctx *c = ph_new(0);
    int h = stack_udp_bind(c->st, 5000);
    uint8_t p[64];
    ph_input(c, p, ph_udp_pkt(p, PH_PEER, PH_US, 40000, 5000, hello, sizeof hello), 1000);
    ph_input(c, p, ph_udp_pkt(p, PH_PEER, PH_US, 40000, 5000, hello, 2), 1000);
    uint8_t buf[8];
    memset(buf, 0xcc, sizeof buf);
    cr_assert_eq(stack_udp_recvfrom(c->st, h, buf, 4, NULL, NULL), 4);
    cr_assert_arr_eq(buf, "hell", 4);
    cr_assert_eq(buf[4], 0xcc);
    cr_assert_eq(stack_udp_recvfrom(c->st, h, buf, sizeof buf, NULL, NULL), 2);
    cr_assert_arr_eq(buf, "he", 2);
    ph_free(c);
}

/* A bound socket takes precedence over the echo service on the same port. */
Test(udp_socket, socket_wins_over_echo_service)
{
    struct ph_ctx *c = ph_new(9000);
    int h = stack_udp_bind(c->st, 9000);
    cr_assert_gt(h, 0);
    uint8_t p[64];
    ph_input(c, p, ph_udp_pkt(p, PH_PEER, PH_US, 40000, 9000, hello, sizeof hello), 1000);
    cr_assert_eq(c->npkts, 0);
    cr_assert_eq(c->nevents, 1);
    ph_free(c);
}

Test(udp_socket, sendto_emits_datagram)
{
    struct ph_ctx *c = ph_new(0);
    int h = stack_udp_bind(c->st, 5000);
    cr_assert_eq(stack_udp_sendto(c->st, h, PH_PEER, 40000, hello, sizeof hello), 6);
    cr_assert_eq(c->npkts, 1);
    check_udp_out(&c->pkts[0], 5000, 40000, hello, sizeof hello);
    cr_assert(ph_has_line(c, "[UDP ] send 10.0.0.2:5000 -> 10.0.0.1:40000 len=6"));
    ph_expect_counters(c, "udp_tx=1 ip_tx_packets=1");
    ph_free(c);
}

Test(udp_socket, sendto_size_limit_and_arguments)
{
    struct ph_ctx *c = ph_new(0);
    int h = stack_udp_bind(c->st, 5000);
    static uint8_t big[65508];
    cr_assert_eq(stack_udp_sendto(c->st, h, PH_PEER, 40000, big, 65508), -EMSGSIZE);
    cr_assert_eq(stack_udp_sendto(c->st, h, PH_PEER, 40000, big, 1472), 1472);
    cr_assert_eq(c->npkts, 1);
    cr_assert_eq(c->pkts[0].len, 1500);
    cr_assert_eq(ph_get16(c->pkts[0].data + 6), 0x4000); /* fits: DF (IP_PMTUDISC_WANT) */
    /* 65,507 bytes (65,535 in IP) go in 45 fragments, the last 1,035 bytes at 65,120 */
    cr_assert_eq(stack_udp_sendto(c->st, h, PH_PEER, 40000, big, 65507), 65507);
    cr_assert_eq(c->npkts, 46);
    cr_assert_eq(ph_get16(c->pkts[45].data + 6), 65120 / 8);
    cr_assert_eq(c->pkts[45].len, 20 + 65515 - 65120);
    ph_clear(c);
    cr_assert_eq(stack_udp_sendto(c->st, h, PH_PEER, 0, big, 1), -EINVAL);
    cr_assert_eq(stack_udp_sendto(c->st, h, 0, 40000, big, 1), -EINVAL);
    cr_assert_eq(stack_udp_sendto(c->st, h + 1, PH_PEER, 40000, big, 1), -EBADF);
    cr_assert_eq(c->npkts, 0);
    ph_free(c);
}

Test(udp_socket, close_releases_handle_and_port)
{
    struct ph_ctx *c = ph_new(0);
    int h = stack_udp_bind(c->st, 5000);
    uint8_t p[64];
    ph_input(c, p, ph_udp_pkt(p, PH_PEER, PH_US, 40000, 5000, hello, sizeof hello), 1000);
    cr_assert_eq(stack_udp_close(c->st, h), 0); /* with a datagram still queued */
    cr_assert_eq(stack_udp_close(c->st, h), -EBADF);
    uint8_t buf[16];
    cr_assert_eq(stack_udp_recvfrom(c->st, h, buf, sizeof buf, NULL, NULL), -EBADF);
    cr_assert_eq(stack_udp_port(c->st, h), -EBADF);
    /* the port is closed now: port unreachable */
    ph_clear(c);
    ph_input(c, p, ph_udp_pkt(p, PH_PEER, PH_US, 40000, 5000, hello, sizeof hello), 1000);
    cr_assert_eq(c->npkts, 1);
    cr_assert_eq(c->pkts[0].data[20], 3);
    /* and can be bound again, under a new handle: the old one stays dead */
    int h2 = stack_udp_bind(c->st, 5000);
    cr_assert_gt(h2, 0);
    cr_assert_neq(h2, h);
    cr_assert_eq(stack_udp_recvfrom(c->st, h, buf, sizeof buf, NULL, NULL), -EBADF);
    cr_assert_eq(stack_udp_recvfrom(c->st, h2, buf, sizeof buf, NULL, NULL), -EAGAIN);
    ph_free(c);
}

/* The receive queue is bounded: past UDP_RCVBUF_MAX of cost (payload + the fixed charge per
 * datagram) datagrams are dropped. */
Test(udp_socket, receive_queue_bounded)
{
    struct ph_ctx *c = ph_new(0);
    int h = stack_udp_bind(c->st, 5000);
    static uint8_t p[1600], data[1472];
    size_t n = ph_udp_pkt(p, PH_PEER, PH_US, 40000, 5000, data, sizeof data);
    size_t fit = UDP_RCVBUF_MAX / (sizeof data + CREDIT_DGRAM_OVERHEAD);
    cr_assert_eq(fit, 170);
    for (size_t i = 0; i < fit + 3; i++)
        ph_input(c, p, n, 1000);
    cr_assert_eq(ph_counter(c, "udp_drop_rcvbuf"), 3);
    cr_assert_eq(c->nevents, fit);
    cr_assert_eq(c->npkts, 0);
    uint8_t buf[1500];
    size_t got = 0;
    while (stack_udp_recvfrom(c->st, h, buf, sizeof buf, NULL, NULL) == 1472)
        got++;
    cr_assert_eq(got, fit);
    /* drained: room again */
    ph_input(c, p, n, 1001);
    cr_assert_eq(stack_udp_recvfrom(c->st, h, buf, sizeof buf, NULL, NULL), 1472);
    ph_free(c);
}

/* Empty datagrams are charged the fixed overhead: a flood of them is capped like any other
 * (it used to queue without bound with drop_rcvbuf 0), and the drops are counted. */
Test(udp_socket, empty_datagrams_charged)
{
    struct ph_ctx *c = ph_new(0);
    int h = stack_udp_bind(c->st, 5000);
    uint8_t p[64];
    size_t n = ph_udp_pkt(p, PH_PEER, PH_US, 40000, 5000, NULL, 0);
    size_t fit = UDP_RCVBUF_MAX / CREDIT_DGRAM_OVERHEAD;
    cr_assert_eq(fit, 4096);
    size_t events = 0;
    for (size_t i = 0; i < fit + 1000; i++) {
        ph_input(c, p, n, 1000);
        events += c->nevents;
        ph_clear(c);
    }
    cr_assert_eq(ph_counter(c, "udp_drop_rcvbuf"), 1000);
    cr_assert_eq(events, fit);
    uint8_t buf[8];
    size_t got = 0;
    uint16_t rp = 0;
    while (stack_udp_recvfrom(c->st, h, buf, sizeof buf, NULL, &rp) == 0)
        got++;
    cr_assert_eq(got, fit);
    cr_assert_eq(rp, 40000);
    /* drained: one more fits, and its charge is released when it is read */
    ph_input(c, p, n, 1001);
    cr_assert_eq(stack_udp_recvfrom(c->st, h, buf, sizeof buf, NULL, NULL), 0);
    cr_assert_eq(stack_udp_recvfrom(c->st, h, buf, sizeof buf, NULL, NULL), -EAGAIN);
    cr_assert_eq(ph_counter(c, "udp_drop_rcvbuf"), 1000);
    ph_free(c);
}
