/* IPv4: ip_parse / ip_build / address helpers, and the IP checks of stack_input. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "checksum.h"
#include "ip.h"
#include "ip_frag.h"
#include "pkt_harness.h"

/* A valid 20-byte UDP header + 8 bytes of payload from 10.0.0.1 to 10.0.0.2. */
static size_t valid_packet(uint8_t *buf)
{
    static const uint8_t payload[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    return ph_ip(buf, PH_PEER, PH_US, 17, payload, sizeof payload);
}

/* ---------------- ip_parse ---------------- */

Test(ip_parse, valid_packet_fields)
{
    uint8_t p[64];
    size_t n = valid_packet(p);
    struct ip_view v;
    cr_assert_eq(ip_parse(p, n, &v), IP_OK);
    cr_assert_eq(v.src, PH_PEER);
    cr_assert_eq(v.dst, PH_US);
    cr_assert_eq(v.proto, 17);
    cr_assert_eq(v.ttl, 64);
    cr_assert_eq(v.tos, 0);
    cr_assert_eq(v.id, 0x1234);
    cr_assert_eq(v.hdr, p);
    cr_assert_eq(v.hdr_len, 20);
    cr_assert_eq(v.payload, p + 20);
    cr_assert_eq(v.payload_len, 8);
    cr_assert_eq(v.trailing, 0);
}

/* IHL 6: the 4 option bytes are skipped, not processed. */
Test(ip_parse, options_are_skipped)
{
    uint8_t p[64];
    size_t n = valid_packet(p);
    memmove(p + 24, p + 20, n - 20);
    p[20] = 1; /* NOP NOP NOP EOL */
    p[21] = 1;
    p[22] = 1;
    p[23] = 0;
    p[0] = 0x46;
    ph_put16(p + 2, (uint16_t)(n + 4));
    ph_ip_fix_csum(p);
    struct ip_view v;
    cr_assert_eq(ip_parse(p, n + 4, &v), IP_OK);
    cr_assert_eq(v.hdr_len, 24);
    cr_assert_eq(v.payload, p + 24);
    cr_assert_eq(v.payload_len, 8);
    cr_assert_eq(v.payload[0], 1);
}

/* Bytes past the total length (link padding) are not payload. */
Test(ip_parse, trailing_bytes_trimmed)
{
    uint8_t p[64];
    size_t n = valid_packet(p);
    memset(p + n, 0xee, 6);
    struct ip_view v;
    cr_assert_eq(ip_parse(p, n + 6, &v), IP_OK);
    cr_assert_eq(v.payload_len, 8);
    cr_assert_eq(v.trailing, 1);
}

Test(ip_parse, minimal_header_no_payload)
{
    uint8_t p[20];
    ph_ip(p, PH_PEER, PH_US, 17, NULL, 0);
    struct ip_view v;
    cr_assert_eq(ip_parse(p, 20, &v), IP_OK);
    cr_assert_eq(v.payload_len, 0);
}

Test(ip_parse, too_short)
{
    uint8_t p[64];
    valid_packet(p);
    struct ip_view v;
    cr_assert_eq(ip_parse(p, 19, &v), IP_ERR_SHORT);
    cr_assert_eq(ip_parse(p, 1, &v), IP_ERR_SHORT);
    cr_assert_eq(ip_parse(p, 0, &v), IP_ERR_SHORT);
}

Test(ip_parse, wrong_version)
{
    uint8_t p[64];
    size_t n = valid_packet(p);
    p[0] = 0x65; /* version 6, IHL 5 */
    ph_ip_fix_csum(p);
    struct ip_view v;
    cr_assert_eq(ip_parse(p, n, &v), IP_ERR_VERSION);
    p[0] = 0x05; /* version 0 */
    ph_ip_fix_csum(p);
    cr_assert_eq(ip_parse(p, n, &v), IP_ERR_VERSION);
}

Test(ip_parse, ihl_below_5)
{
    uint8_t p[64];
    size_t n = valid_packet(p);
    struct ip_view v;
    for (int ihl = 0; ihl < 5; ihl++) {
        p[0] = (uint8_t)(0x40 | ihl);
        cr_assert_eq(ip_parse(p, n, &v), IP_ERR_IHL, "IHL %d", ihl);
    }
}

/* IHL 15 claims a 60-byte header; only 28 bytes are there. */
Test(ip_parse, ihl_longer_than_packet)
{
    uint8_t p[64];
    size_t n = valid_packet(p);
    p[0] = 0x4f;
    struct ip_view v;
    cr_assert_eq(ip_parse(p, n, &v), IP_ERR_IHL);
}

Test(ip_parse, total_length_larger_than_bytes)
{
    uint8_t p[64];
    size_t n = valid_packet(p);
    ph_put16(p + 2, (uint16_t)(n + 1));
    ph_ip_fix_csum(p);
    struct ip_view v;
    cr_assert_eq(ip_parse(p, n, &v), IP_ERR_TOTAL_LEN);
    ph_put16(p + 2, 0xffff);
    ph_ip_fix_csum(p);
    cr_assert_eq(ip_parse(p, n, &v), IP_ERR_TOTAL_LEN);
}

Test(ip_parse, total_length_below_ihl)
{
    uint8_t p[64];
    size_t n = valid_packet(p);
    ph_put16(p + 2, 19);
    ph_ip_fix_csum(p);
    struct ip_view v;
    cr_assert_eq(ip_parse(p, n, &v), IP_ERR_TOTAL_LEN);
    ph_put16(p + 2, 0);
    ph_ip_fix_csum(p);
    cr_assert_eq(ip_parse(p, n, &v), IP_ERR_TOTAL_LEN);
}

/* IHL 6 (24 bytes) but total length 22: the header does not fit the datagram. */
Test(ip_parse, total_length_below_ihl_with_options)
{
    uint8_t p[64];
    size_t n = valid_packet(p);
    p[0] = 0x46;
    ph_put16(p + 2, 22);
    ph_ip_fix_csum(p);
    struct ip_view v;
    cr_assert_eq(ip_parse(p, n, &v), IP_ERR_TOTAL_LEN);
}

Test(ip_parse, bad_checksum)
{
    uint8_t p[64];
    size_t n = valid_packet(p);
    p[11] ^= 0x01;
    struct ip_view v;
    cr_assert_eq(ip_parse(p, n, &v), IP_ERR_CHECKSUM);
}

Test(ip_parse, header_byte_changed_without_checksum_update)
{
    uint8_t p[64];
    size_t n = valid_packet(p);
    p[8] = 63; /* TTL */
    struct ip_view v;
    cr_assert_eq(ip_parse(p, n, &v), IP_ERR_CHECKSUM);
}

/* Fragments parse (reassembly is ip_frag.c's): the flags and offset are exposed. */
Test(ip_parse, fragment_more_fragments_set)
{
    uint8_t p[64];
    size_t n = valid_packet(p);
    ph_put16(p + 6, 0x2000); /* MF, offset 0: the first fragment */
    ph_ip_fix_csum(p);
    struct ip_view v;
    cr_assert_eq(ip_parse(p, n, &v), IP_OK);
    cr_assert(v.mf);
    cr_assert(!v.df);
    cr_assert_eq(v.frag_off, 0);
}

Test(ip_parse, fragment_offset_nonzero)
{
    uint8_t p[64];
    size_t n = valid_packet(p);
    ph_put16(p + 6, 0x0001); /* offset 8 bytes, MF clear: the last fragment */
    ph_ip_fix_csum(p);
    struct ip_view v;
    cr_assert_eq(ip_parse(p, n, &v), IP_OK);
    cr_assert(!v.mf);
    cr_assert_eq(v.frag_off, 8);
    ph_put16(p + 6, 0x1fff);
    ph_ip_fix_csum(p);
    cr_assert_eq(ip_parse(p, n, &v), IP_OK);
    cr_assert_eq(v.frag_off, 65528);
}

Test(ip_parse, fragment_middle)
{
    uint8_t p[64];
    size_t n = valid_packet(p);
    ph_put16(p + 6, 0x2000 | 185);
    ph_ip_fix_csum(p);
    struct ip_view v;
    cr_assert_eq(ip_parse(p, n, &v), IP_OK);
    cr_assert(v.mf);
    cr_assert_eq(v.frag_off, 1480);
}

/* DF alone is not a fragment. */
Test(ip_parse, dont_fragment_is_accepted)
{
    uint8_t p[64];
    size_t n = valid_packet(p);
    ph_put16(p + 6, 0x4000);
    ph_ip_fix_csum(p);
    struct ip_view v;
    cr_assert_eq(ip_parse(p, n, &v), IP_OK);
}

/* ---------------- ip_build and helpers ---------------- */

Test(ip_build, exact_header_bytes)
{
    uint8_t h[20];
    ip_build(h, PH_US, PH_PEER, IP_PROTO_ICMP, 0xbeef, 64);
    uint8_t want[20] = {0x45, 0x00, 0x00, 0x54, 0xbe, 0xef, 0x40, 0x00, 64, 1,
                        0x00, 0x00, 10,   0,    0,    2,    10,   0,    0,  1};
    uint16_t ck = ph_fold(ph_sum(0, want, sizeof want));
    ph_put16(want + 10, ck);
    cr_assert_arr_eq(h, want, sizeof want);
    cr_assert_eq(inet_checksum(h, sizeof h), 0);
}

Test(ip_build, parses_back)
{
    uint8_t p[20 + 100];
    memset(p, 0xab, sizeof p);
    ip_build(p, PH_ADDR(192, 168, 7, 9), PH_ADDR(172, 16, 0, 1), IP_PROTO_UDP, 7, 100);
    struct ip_view v;
    cr_assert_eq(ip_parse(p, sizeof p, &v), IP_OK);
    cr_assert_eq(v.src, PH_ADDR(192, 168, 7, 9));
    cr_assert_eq(v.dst, PH_ADDR(172, 16, 0, 1));
    cr_assert_eq(v.proto, IP_PROTO_UDP);
    cr_assert_eq(v.id, 7);
    cr_assert_eq(v.ttl, 64);
    cr_assert_eq(v.payload_len, 100);
    cr_assert_eq(ph_get16(p + 6), 0x4000); /* DF, not a fragment */
}

Test(ip_helpers, fmt_and_parse_addr)
{
    char b[16];
    cr_assert_str_eq(ip_fmt(PH_ADDR(10, 0, 0, 2), b), "10.0.0.2");
    cr_assert_str_eq(ip_fmt(0xffffffffu, b), "255.255.255.255");
    cr_assert_str_eq(ip_fmt(0, b), "0.0.0.0");
    uint32_t a = 0;
    cr_assert_eq(ip_parse_addr("10.0.1.2", &a), 0);
    cr_assert_eq(a, PH_ADDR(10, 0, 1, 2));
    cr_assert_neq(ip_parse_addr("10.0.1", &a), 0);
    cr_assert_neq(ip_parse_addr("10.0.1.256", &a), 0);
    cr_assert_neq(ip_parse_addr("10.0.1.2x", &a), 0);
    cr_assert_neq(ip_parse_addr("", &a), 0);
}

Test(ip_helpers, proto_names)
{
    cr_assert_str_eq(ip_proto_name(1), "ICMP");
    cr_assert_str_eq(ip_proto_name(6), "TCP");
    cr_assert_str_eq(ip_proto_name(17), "UDP");
    cr_assert_str_eq(ip_proto_name(47), "?");
}

/* ---------------- stack_input: each malformed packet dropped and counted ---------------- */

/* Feeds pkt and asserts: nothing sent, exactly ip_rx_packets=1 and counter=1, the trace. */
static void expect_drop(uint8_t *pkt, size_t len, const char *counter, const char *trace)
{
    struct ph_ctx *c = ph_new(9000);
    ph_input(c, pkt, len, 1000);
    cr_assert_eq(c->npkts, 0, "a dropped packet caused output");
    char spec[128];
    snprintf(spec, sizeof spec, "ip_rx_packets=1 %s=1", counter);
    ph_expect_counters(c, spec);
    if (trace) cr_expect(ph_has_line(c, trace), "missing trace line '%s'", trace);
    ph_free(c);
}

Test(stack_ip, drop_too_short)
{
    uint8_t p[64];
    valid_packet(p);
    expect_drop(p, 19, "ip_drop_short", "[IP  ] drop len=19 reason=too short");
}

Test(stack_ip, drop_empty)
{
    uint8_t p[1] = {0};
    expect_drop(p, 0, "ip_drop_short", "[IP  ] drop len=0 reason=too short");
}

Test(stack_ip, drop_wrong_version)
{
    uint8_t p[64];
    size_t n = valid_packet(p);
    p[0] = 0x65;
    ph_ip_fix_csum(p);
    expect_drop(p, n, "ip_drop_version", "[IP  ] drop len=28 reason=bad version (6)");
}

Test(stack_ip, drop_ihl_below_5)
{
    uint8_t p[64];
    size_t n = valid_packet(p);
    p[0] = 0x44;
    expect_drop(p, n, "ip_drop_ihl", "[IP  ] drop len=28 reason=bad IHL");
}

Test(stack_ip, drop_ihl_longer_than_packet)
{
    uint8_t p[64];
    size_t n = valid_packet(p);
    p[0] = 0x4f;
    expect_drop(p, n, "ip_drop_ihl", "[IP  ] drop len=28 reason=bad IHL");
}

Test(stack_ip, drop_total_length_larger_than_bytes)
{
    uint8_t p[64];
    size_t n = valid_packet(p);
    ph_put16(p + 2, 29);
    ph_ip_fix_csum(p);
    expect_drop(p, n, "ip_drop_total_len", "[IP  ] drop len=28 reason=bad total length");
}

Test(stack_ip, drop_total_length_below_ihl)
{
    uint8_t p[64];
    size_t n = valid_packet(p);
    ph_put16(p + 2, 16);
    ph_ip_fix_csum(p);
    expect_drop(p, n, "ip_drop_total_len", "[IP  ] drop len=28 reason=bad total length");
}

Test(stack_ip, drop_bad_checksum)
{
    uint8_t p[64];
    size_t n = valid_packet(p);
    p[10] ^= 0x80;
    expect_drop(p, n, "ip_drop_checksum", "[IP  ] drop len=28 reason=bad checksum");
}

/* A lone first fragment is held, not dropped: the reassembly tests are in test_ip_frag.c. */
Test(stack_ip, fragment_held)
{
    uint8_t p[64];
    size_t n = valid_packet(p);
    ph_put16(p + 6, 0x2000);
    ph_ip_fix_csum(p);
    struct ph_ctx *c = ph_new(9000);
    ph_input(c, p, n, 1000);
    cr_assert_eq(c->npkts, 0);
    cr_assert(ph_has_line(c, "[IP  ] fragment id=4660 off=0 len=8 MF"));
    char spec[128];
    snprintf(spec, sizeof spec, "ip_rx_packets=1 frag_rx=1 frag_queues=1 frag_mem=%zu",
             ip_frag_queue_cost() + ip_frag_piece_cost(8));
    ph_expect_counters(c, spec);
    ph_free(c);
}

Test(stack_ip, drop_not_for_us)
{
    uint8_t p[128];
    size_t n = ph_ping(p, PH_PEER, PH_ADDR(10, 0, 0, 3), 1, 1, 8);
    expect_drop(p, n, "ip_drop_not_for_us", "[IP  ] drop reason=not for us");
}

Test(stack_ip, drop_broadcast_destination)
{
    uint8_t p[128];
    size_t n = ph_ping(p, PH_PEER, 0xffffffffu, 1, 1, 8);
    expect_drop(p, n, "ip_drop_not_for_us", NULL);
}

Test(stack_ip, drop_bad_source_zero)
{
    uint8_t p[128];
    size_t n = ph_ping(p, 0, PH_US, 1, 1, 8);
    expect_drop(p, n, "ip_drop_bad_src", "[IP  ] drop reason=bad source");
}

Test(stack_ip, drop_bad_source_broadcast)
{
    uint8_t p[128];
    size_t n = ph_ping(p, 0xffffffffu, PH_US, 1, 1, 8);
    expect_drop(p, n, "ip_drop_bad_src", NULL);
}

Test(stack_ip, drop_bad_source_multicast)
{
    uint8_t p[128];
    size_t n = ph_ping(p, PH_ADDR(224, 0, 0, 1), PH_US, 1, 1, 8);
    expect_drop(p, n, "ip_drop_bad_src", NULL);
}

/* An unknown protocol is dropped, counted, and answered with protocol unreachable (code 2)
 * quoting the IP header and the first 8 payload bytes. */
Test(stack_ip, unsupported_protocol)
{
    uint8_t p[64];
    static const uint8_t payload[12] = {0, 0, 0x65, 0x58, 1, 2, 3, 4, 5, 6, 7, 8};
    size_t n = ph_ip(p, PH_PEER, PH_US, 47, payload, sizeof payload);
    struct ph_ctx *c = ph_new(0);
    ph_input(c, p, n, 1000);
    ph_expect_counters(c, "ip_rx_packets=1 ip_drop_proto=1 icmp_unreach_sent=1 ip_tx_packets=1");
    cr_assert(ph_has_line(c, "[IP  ] recv 10.0.0.1 -> 10.0.0.2 proto=? len=32"));
    cr_assert(ph_has_line(c, "[IP  ] drop reason=protocol 47 unsupported"));
    cr_assert_eq(c->npkts, 1);
    const uint8_t *o = c->pkts[0].data;
    cr_assert_eq(c->pkts[0].len, 20 + 8 + 20 + 8);
    cr_assert_eq(o[9], 1);
    cr_assert_eq(o[20], 3);
    cr_assert_eq(o[21], 2);
    cr_assert_eq(ph_fold(ph_sum(0, o + 20, 36)), 0);
    cr_assert_arr_eq(o + 28, p, 28);
    ph_free(c);
}

/* Trailing link padding is counted and ignored: the reply carries only the real payload. */
Test(stack_ip, trailing_bytes_counted_and_trimmed)
{
    uint8_t p[128];
    size_t n = ph_ping(p, PH_PEER, PH_US, 5, 6, 16);
    memset(p + n, 0x5a, 4);
    struct ph_ctx *c = ph_new(0);
    ph_input(c, p, n + 4, 1000);
    ph_expect_counters(c, "ip_rx_packets=1 ip_trailing_bytes=1 icmp_rx=1 icmp_echo_requests=1 "
                          "icmp_echo_replies_sent=1 ip_tx_packets=1");
    cr_assert_eq(c->npkts, 1);
    cr_assert_eq(c->pkts[0].len, n);
    cr_assert_arr_eq(c->pkts[0].data + 28, p + 28, 16);
    ph_free(c);
}

/* The IP identification of what we send advances per packet. */
Test(stack_ip, output_id_advances)
{
    uint8_t p[128];
    size_t n = ph_ping(p, PH_PEER, PH_US, 5, 6, 16);
    struct ph_ctx *c = ph_new(0);
    ph_input(c, p, n, 1000);
    ph_input(c, p, n, 1001);
    cr_assert_eq(c->npkts, 2);
    cr_assert_eq((uint16_t)(ph_get16(c->pkts[1].data + 4) - ph_get16(c->pkts[0].data + 4)), 1);
    ph_free(c);
}
