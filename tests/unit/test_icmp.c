/* ICMP: icmp_parse / icmp_build_echo, echo through stack_input, destination unreachable
 * and its rate limit. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "icmp.h"
#include "ip.h"
#include "pkt_harness.h"

/* ---------------- icmp_parse / icmp_build_echo ---------------- */

Test(icmp_parse, valid_echo_request)
{
    uint8_t m[64], data[20];
    ph_pattern(data, sizeof data);
    size_t n = ph_icmp_echo(m, ICMP_ECHO_REQUEST, 0x1234, 0xabcd, data, sizeof data);
    struct icmp_view v;
    cr_assert_eq(icmp_parse(m, n, &v), ICMP_OK);
    cr_assert_eq(v.type, 8);
    cr_assert_eq(v.code, 0);
    cr_assert_eq(v.id, 0x1234);
    cr_assert_eq(v.seq, 0xabcd);
    cr_assert_eq(v.data, m + 8);
    cr_assert_eq(v.data_len, 20);
}

Test(icmp_parse, header_only)
{
    uint8_t m[8];
    size_t n = ph_icmp_echo(m, ICMP_ECHO_REQUEST, 1, 2, NULL, 0);
    struct icmp_view v;
    cr_assert_eq(icmp_parse(m, n, &v), ICMP_OK);
    cr_assert_eq(v.data_len, 0);
}

/* The checksum covers an odd-length message with a zero pad byte. */
Test(icmp_parse, odd_length)
{
    uint8_t m[64], data[13];
    ph_pattern(data, sizeof data);
    size_t n = ph_icmp_echo(m, ICMP_ECHO_REQUEST, 1, 2, data, sizeof data);
    struct icmp_view v;
    cr_assert_eq(icmp_parse(m, n, &v), ICMP_OK);
    cr_assert_eq(v.data_len, 13);
}

Test(icmp_parse, too_short)
{
    uint8_t m[8];
    ph_icmp_echo(m, ICMP_ECHO_REQUEST, 1, 2, NULL, 0);
    struct icmp_view v;
    cr_assert_eq(icmp_parse(m, 7, &v), ICMP_ERR_SHORT);
    cr_assert_eq(icmp_parse(m, 0, &v), ICMP_ERR_SHORT);
}

Test(icmp_parse, bad_checksum)
{
    uint8_t m[64], data[16];
    ph_pattern(data, sizeof data);
    size_t n = ph_icmp_echo(m, ICMP_ECHO_REQUEST, 1, 2, data, sizeof data);
    m[n - 1] ^= 0x40; /* a payload bit */
    struct icmp_view v;
    cr_assert_eq(icmp_parse(m, n, &v), ICMP_ERR_CHECKSUM);
}

Test(icmp_build, echo_reply_exact_bytes)
{
    static const uint8_t data[4] = {0xde, 0xad, 0xbe, 0xef};
    uint8_t out[16];
    size_t n = icmp_build_echo(out, ICMP_ECHO_REPLY, 17, 1, data, sizeof data);
    cr_assert_eq(n, 12);
    /* 0000 + 0011 + 0001 + dead + beef = 19dae -> 9daf -> checksum 6250 */
    static const uint8_t want[12] = {0x00, 0x00, 0x62, 0x50, 0x00, 0x11,
                                     0x00, 0x01, 0xde, 0xad, 0xbe, 0xef};
    cr_assert_arr_eq(out, want, sizeof want);
}

/* Data already in place at out + 8 (how the stack uses it) gives the same message. */
Test(icmp_build, in_place_data)
{
    uint8_t a[64], b[64], data[30];
    ph_pattern(data, sizeof data);
    size_t na = icmp_build_echo(a, ICMP_ECHO_REPLY, 5, 6, data, sizeof data);
    memcpy(b + 8, data, sizeof data);
    size_t nb = icmp_build_echo(b, ICMP_ECHO_REPLY, 5, 6, b + 8, sizeof data);
    cr_assert_eq(na, nb);
    cr_assert_arr_eq(a, b, na);
    struct icmp_view v;
    cr_assert_eq(icmp_parse(b, nb, &v), ICMP_OK);
}

/* ---------------- echo through the stack ---------------- */

/* Checks a captured echo reply against the request it answers. */
static void check_echo_reply(const uint8_t *req, size_t req_len, const struct ph_pkt *rep)
{
    cr_assert_eq(rep->len, req_len);
    const uint8_t *r = rep->data;
    cr_assert_eq(r[0], 0x45);                           /* v4, IHL 5 */
    cr_assert_eq(ph_get16(r + 2), req_len);             /* total length */
    cr_assert_eq(ph_get16(r + 6), 0x4000);              /* DF, no fragment */
    cr_assert_eq(r[8], 64);                             /* TTL */
    cr_assert_eq(r[9], 1);                              /* ICMP */
    cr_assert_eq(ph_fold(ph_sum(0, r, 20)), 0);         /* IP checksum valid */
    cr_assert_eq(ph_get32(r + 12), ph_get32(req + 16)); /* src/dst swapped */
    cr_assert_eq(ph_get32(r + 16), ph_get32(req + 12));
    const uint8_t *ri = r + 20, *qi = req + 20;
    size_t icmp_len = req_len - 20;
    cr_assert_eq(ri[0], 0); /* echo reply */
    cr_assert_eq(ri[1], 0);
    cr_assert_eq(ph_get16(ri + 4), ph_get16(qi + 4));  /* id */
    cr_assert_eq(ph_get16(ri + 6), ph_get16(qi + 6));  /* seq */
    cr_assert_arr_eq(ri + 8, qi + 8, icmp_len - 8);    /* payload */
    cr_assert_eq(ph_fold(ph_sum(0, ri, icmp_len)), 0); /* ICMP checksum valid */
    /* and byte for byte what an independent builder makes */
    uint8_t want[1500];
    ph_icmp_echo(want, 0, ph_get16(qi + 4), ph_get16(qi + 6), qi + 8, icmp_len - 8);
    cr_assert_arr_eq(ri, want, icmp_len);
}

Test(stack_icmp, ping_gets_exact_echo_reply)
{
    uint8_t p[128];
    size_t n = ph_ping(p, PH_PEER, PH_US, 17, 1, 56);
    cr_assert_eq(n, 84);
    struct ph_ctx *c = ph_new(9000);
    ph_input(c, p, n, 1000);
    cr_assert_eq(c->npkts, 1);
    check_echo_reply(p, n, &c->pkts[0]);
    ph_expect_counters(c, "ip_rx_packets=1 icmp_rx=1 icmp_echo_requests=1 "
                          "icmp_echo_replies_sent=1 ip_tx_packets=1");
    ph_free(c);
}

Test(stack_icmp, ping_trace_lines)
{
    uint8_t p[128];
    size_t n = ph_ping(p, PH_PEER, PH_US, 17, 1, 56);
    struct ph_ctx *c = ph_new(9000);
    ph_input(c, p, n, 1000);
    cr_assert_eq(c->nlines, 3);
    cr_assert_str_eq(c->lines[0], "[IP  ] recv 10.0.0.1 -> 10.0.0.2 proto=ICMP len=84");
    cr_assert_str_eq(c->lines[1], "[ICMP] recv echo request id=17 seq=1 len=56");
    cr_assert_str_eq(c->lines[2], "[ICMP] send echo reply id=17 seq=1 len=56");
    ph_free(c);
}

Test(stack_icmp, no_trace_callback_is_quiet_and_works)
{
    uint8_t p[128];
    size_t n = ph_ping(p, PH_PEER, PH_US, 17, 1, 56);
    struct ph_ctx *c = ph_new(0);
    c->cfg.trace = NULL;
    stack_free(c->st);
    c->st = stack_new(&c->cfg);
    ph_input(c, p, n, 1000);
    cr_assert_eq(c->npkts, 1);
    cr_assert_eq(c->nlines, 0);
    ph_free(c);
}

/* 1472 bytes of payload + 8 + 20 = 1500, exactly the MTU. */
Test(stack_icmp, ping_1472_bytes_fits_mtu)
{
    static uint8_t p[1600];
    size_t n = ph_ping(p, PH_PEER, PH_US, 0x4242, 0xffff, 1472);
    cr_assert_eq(n, 1500);
    struct ph_ctx *c = ph_new(0);
    ph_input(c, p, n, 1000);
    cr_assert_eq(c->npkts, 1);
    check_echo_reply(p, n, &c->pkts[0]);
    ph_free(c);
}

/* A request bigger than our MTU (it came whole over a wider link) is answered in two
 * fragments: 1480 bytes, then the last byte at offset 1480 (185 units). */
Test(stack_icmp, ping_larger_than_mtu_answered_in_fragments)
{
    static uint8_t p[1600];
    size_t n = ph_ping(p, PH_PEER, PH_US, 1, 1, 1473);
    struct ph_ctx *c = ph_new(0);
    ph_input(c, p, n, 1000);
    cr_assert_eq(c->npkts, 2);
    cr_assert_eq(c->pkts[0].len, 1500);
    cr_assert_eq(c->pkts[1].len, 21);
    cr_assert_eq(ph_get16(c->pkts[0].data + 6), 0x2000); /* MF, offset 0, no DF */
    cr_assert_eq(ph_get16(c->pkts[1].data + 6), 185);    /* offset 1480 / 8 */
    cr_assert_eq(ph_get16(c->pkts[0].data + 4), ph_get16(c->pkts[1].data + 4));
    cr_assert_eq(ph_fold(ph_sum(0, c->pkts[0].data, 20)), 0);
    cr_assert_eq(ph_fold(ph_sum(0, c->pkts[1].data, 20)), 0);
    /* the reply's bytes, split: type 0, the request's id/seq/data, checksum over it all */
    static uint8_t whole[1481];
    memcpy(whole, c->pkts[0].data + 20, 1480);
    whole[1480] = c->pkts[1].data[20];
    cr_assert_eq(whole[0], 0);
    cr_assert_eq(memcmp(whole + 4, p + 24, 1477), 0);
    cr_assert_eq(ph_fold(ph_sum(0, whole, sizeof whole)), 0);
    cr_assert_eq(ph_counter(c, "icmp_echo_replies_sent"), 1);
    cr_assert_eq(ph_counter(c, "frag_tx_datagrams"), 1);
    cr_assert_eq(ph_counter(c, "frag_tx_fragments"), 2);
    cr_assert_eq(ph_counter(c, "ip_tx_packets"), 2);
    ph_free(c);
}

/* ... unless the request carried DF: then no fragments, no reply. */
Test(stack_icmp, ping_larger_than_mtu_with_df_not_answered)
{
    static uint8_t p[1600];
    size_t n = ph_ping(p, PH_PEER, PH_US, 1, 1, 1473);
    ph_put16(p + 6, 0x4000);
    ph_ip_fix_csum(p);
    struct ph_ctx *c = ph_new(0);
    ph_input(c, p, n, 1000);
    cr_assert_eq(c->npkts, 0);
    cr_assert_eq(ph_counter(c, "frag_tx_df_drops"), 1);
    cr_assert_eq(ph_counter(c, "ip_tx_packets"), 0);
    ph_free(c);
}

Test(stack_icmp, ping_empty_payload)
{
    uint8_t p[64];
    size_t n = ph_ping(p, PH_PEER, PH_US, 3, 4, 0);
    struct ph_ctx *c = ph_new(0);
    ph_input(c, p, n, 1000);
    cr_assert_eq(c->npkts, 1);
    check_echo_reply(p, n, &c->pkts[0]);
    ph_free(c);
}

Test(stack_icmp, ping_odd_payload)
{
    uint8_t p[256];
    size_t n = ph_ping(p, PH_PEER, PH_US, 3, 4, 101);
    struct ph_ctx *c = ph_new(0);
    ph_input(c, p, n, 1000);
    cr_assert_eq(c->npkts, 1);
    check_echo_reply(p, n, &c->pkts[0]);
    ph_free(c);
}

/* A run of pings: each answered with its own seq. */
Test(stack_icmp, ping_sequence)
{
    struct ph_ctx *c = ph_new(0);
    for (uint16_t seq = 1; seq <= 4; seq++) {
        uint8_t p[128];
        size_t n = ph_ping(p, PH_PEER, PH_US, 99, seq, 56);
        ph_input(c, p, n, 1000 + seq * 200);
        cr_assert_eq(c->npkts, seq);
        check_echo_reply(p, n, &c->pkts[seq - 1]);
    }
    ph_expect_counters(c, "ip_rx_packets=4 icmp_rx=4 icmp_echo_requests=4 "
                          "icmp_echo_replies_sent=4 ip_tx_packets=4");
    ph_free(c);
}

Test(stack_icmp, drop_too_short)
{
    uint8_t m[8], p[64];
    ph_icmp_echo(m, ICMP_ECHO_REQUEST, 1, 1, NULL, 0);
    size_t n = ph_ip(p, PH_PEER, PH_US, 1, m, 7);
    struct ph_ctx *c = ph_new(0);
    ph_input(c, p, n, 1000);
    cr_assert_eq(c->npkts, 0);
    ph_expect_counters(c, "ip_rx_packets=1 icmp_rx=1 icmp_drop_short=1");
    cr_assert(ph_has_line(c, "[ICMP] drop len=7 reason=too short"));
    ph_free(c);
}

Test(stack_icmp, drop_bad_checksum)
{
    uint8_t p[128];
    size_t n = ph_ping(p, PH_PEER, PH_US, 17, 1, 56);
    p[23] ^= 0x01; /* ICMP checksum low byte; the IP header is untouched */
    struct ph_ctx *c = ph_new(0);
    ph_input(c, p, n, 1000);
    cr_assert_eq(c->npkts, 0);
    ph_expect_counters(c, "ip_rx_packets=1 icmp_rx=1 icmp_drop_checksum=1");
    cr_assert(ph_has_line(c, "[ICMP] drop len=64 reason=bad checksum"));
    ph_free(c);
}

/* An echo reply (type 0) arriving is counted and ignored: no answer to an answer. */
Test(stack_icmp, other_type_ignored)
{
    uint8_t m[64], p[128];
    size_t mn = ph_icmp_echo(m, ICMP_ECHO_REPLY, 1, 1, NULL, 0);
    size_t n = ph_ip(p, PH_PEER, PH_US, 1, m, mn);
    struct ph_ctx *c = ph_new(0);
    ph_input(c, p, n, 1000);
    cr_assert_eq(c->npkts, 0);
    ph_expect_counters(c, "ip_rx_packets=1 icmp_rx=1 icmp_other_types=1");
    cr_assert(ph_has_line(c, "[ICMP] recv type=0 code=0 len=0 (ignored)"));
    ph_free(c);
}

/* An echo request with a non-zero code is not a valid echo request. */
Test(stack_icmp, echo_request_nonzero_code_ignored)
{
    uint8_t m[64], p[128];
    size_t mn = ph_icmp_echo(m, ICMP_ECHO_REQUEST, 1, 1, NULL, 0);
    m[1] = 1;
    ph_put16(m + 2, 0);
    ph_put16(m + 2, ph_fold(ph_sum(0, m, mn)));
    size_t n = ph_ip(p, PH_PEER, PH_US, 1, m, mn);
    struct ph_ctx *c = ph_new(0);
    ph_input(c, p, n, 1000);
    cr_assert_eq(c->npkts, 0);
    ph_expect_counters(c, "ip_rx_packets=1 icmp_rx=1 icmp_other_types=1");
    ph_free(c);
}

/* ---------------- destination unreachable ---------------- */

static size_t udp_to_closed_port(uint8_t *p, uint16_t sport)
{
    static const uint8_t data[] = "hello, closed port";
    return ph_udp_pkt(p, PH_PEER, PH_US, sport, 7777, data, sizeof data - 1);
}

/* RFC 1122 3.2.2.1: port unreachable (3/3) quoting the IP header + 8 bytes. */
Test(stack_icmp, port_unreachable_quotes_header_and_8_bytes)
{
    uint8_t p[128];
    size_t n = udp_to_closed_port(p, 40000);
    struct ph_ctx *c = ph_new(0);
    ph_input(c, p, n, 1000);
    ph_expect_counters(c, "ip_rx_packets=1 udp_rx=1 udp_no_port=1 icmp_unreach_sent=1 "
                          "ip_tx_packets=1");
    cr_assert_eq(c->npkts, 1);
    const uint8_t *o = c->pkts[0].data;
    cr_assert_eq(c->pkts[0].len, 20 + 8 + 20 + 8);
    cr_assert_eq(ph_get16(o + 2), 56);
    cr_assert_eq(o[9], 1);
    cr_assert_eq(ph_get32(o + 12), PH_US);
    cr_assert_eq(ph_get32(o + 16), PH_PEER);
    cr_assert_eq(ph_fold(ph_sum(0, o, 20)), 0);
    const uint8_t *m = o + 20;
    cr_assert_eq(m[0], 3);
    cr_assert_eq(m[1], 3);
    cr_assert_eq(ph_get32(m + 4), 0); /* unused */
    cr_assert_arr_eq(m + 8, p, 28);   /* original IP header + UDP header */
    cr_assert_eq(ph_fold(ph_sum(0, m, 36)), 0);
    cr_assert(ph_has_line(c, "[ICMP] send destination unreachable code=3 len=28"));
    ph_free(c);
}

/* With IP options the whole (longer) header is quoted, then 8 bytes. */
Test(stack_icmp, port_unreachable_quotes_options)
{
    uint8_t p[128];
    size_t n = udp_to_closed_port(p, 40000);
    memmove(p + 24, p + 20, n - 20);
    memset(p + 20, 1, 4); /* 4 NOPs */
    p[0] = 0x46;
    ph_put16(p + 2, (uint16_t)(n + 4));
    ph_ip_fix_csum(p);
    struct ph_ctx *c = ph_new(0);
    ph_input(c, p, n + 4, 1000);
    cr_assert_eq(c->npkts, 1);
    cr_assert_eq(c->pkts[0].len, 20 + 8 + 24 + 8);
    cr_assert_arr_eq(c->pkts[0].data + 28, p, 32);
    ph_free(c);
}

/* Token bucket: 10 at once, then 1 per 100 ms, never more than 10 saved up. */
Test(stack_icmp, unreachable_rate_limited)
{
    uint8_t p[128];
    struct ph_ctx *c = ph_new(0);
    for (int i = 0; i < 15; i++) {
        size_t n = udp_to_closed_port(p, (uint16_t)(40000 + i));
        ph_input(c, p, n, 5000);
    }
    cr_assert_eq(c->npkts, 10);
    ph_expect_counters(c, "ip_rx_packets=15 udp_rx=15 udp_no_port=15 icmp_unreach_sent=10 "
                          "icmp_unreach_ratelimited=5 ip_tx_packets=10");
    /* the ten sent quote the first ten datagrams */
    for (size_t i = 0; i < 10; i++)
        cr_assert_eq(ph_get16(c->pkts[i].data + 48), 40000 + i);

    size_t n = udp_to_closed_port(p, 41000);
    ph_input(c, p, n, 5099); /* not yet 100 ms later */
    cr_assert_eq(c->npkts, 10);
    ph_input(c, p, n, 5100); /* one token back */
    cr_assert_eq(c->npkts, 11);
    ph_input(c, p, n, 5100);
    cr_assert_eq(c->npkts, 11);
    cr_assert_eq(ph_counter(c, "icmp_unreach_ratelimited"), 7);

    ph_clear(c);
    for (int i = 0; i < 12; i++)
        ph_input(c, p, n, 60000); /* long idle: the bucket is full again, capped at 10 */
    cr_assert_eq(c->npkts, 10);
    cr_assert_eq(ph_counter(c, "icmp_unreach_sent"), 21);
    cr_assert_eq(ph_counter(c, "icmp_unreach_ratelimited"), 9);
    ph_free(c);
}

/* The rate limit does not touch echo replies. */
Test(stack_icmp, rate_limit_does_not_affect_echo)
{
    uint8_t p[128];
    struct ph_ctx *c = ph_new(0);
    for (int i = 0; i < 12; i++)
        ph_input(c, p, udp_to_closed_port(p, 40000), 5000);
    ph_clear(c);
    for (uint16_t i = 0; i < 20; i++)
        ph_input(c, p, ph_ping(p, PH_PEER, PH_US, 1, i, 8), 5000);
    cr_assert_eq(c->npkts, 20);
    ph_free(c);
}
