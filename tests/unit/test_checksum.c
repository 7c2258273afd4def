/* RFC 1071 Internet checksum: checksum.c against worked examples and hand-computed values. */
#include <criterion/criterion.h>
#include <string.h>

#include "checksum.h"

/* Folds an accumulator from csum_add to 16 bits without complementing it. */
static uint16_t fold16(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffffu) + (sum >> 16);
    return (uint16_t)sum;
}

/* RFC 1071 §3: 0001 + f203 + f4f5 + f6f7 = 2ddf0, folded ddf2, complemented 220d. */
Test(checksum, rfc1071_worked_example)
{
    static const uint8_t b[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    cr_assert_eq(fold16(csum_add(0, b, sizeof b)), 0xddf2);
    cr_assert_eq(csum_finish(csum_add(0, b, sizeof b)), 0x220d);
    cr_assert_eq(inet_checksum(b, sizeof b), 0x220d);
}

/* The same example with the checksum appended verifies to zero. */
Test(checksum, rfc1071_example_verifies_with_checksum_appended)
{
    static const uint8_t b[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7, 0x22, 0x0d};
    cr_assert_eq(inet_checksum(b, sizeof b), 0);
}

/* A well-known IPv4 header (192.168.0.1 -> 192.168.0.199, UDP): checksum b861. */
Test(checksum, ipv4_header_known_value)
{
    uint8_t h[] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                   0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
    cr_assert_eq(inet_checksum(h, sizeof h), 0xb861);
    h[10] = 0xb8;
    h[11] = 0x61;
    cr_assert_eq(inet_checksum(h, sizeof h), 0);
    h[15] ^= 0x01; /* any single-bit change is detected */
    cr_assert_neq(inet_checksum(h, sizeof h), 0);
}

/* Build then verify: for every length 2..300 (odd ones too) a buffer with its checksum
 * stored in its first two bytes verifies to 0. */
Test(checksum, build_then_verify_round_trips)
{
    uint8_t b[300];
    for (size_t len = 2; len <= sizeof b; len++) {
        for (size_t i = 0; i < len; i++)
            b[i] = (uint8_t)(i * 151 + len);
        b[0] = b[1] = 0;
        uint16_t ck = inet_checksum(b, len);
        b[0] = (uint8_t)(ck >> 8);
        b[1] = (uint8_t)ck;
        cr_assert_eq(inet_checksum(b, len), 0, "len %zu", len);
    }
}

/* The checksum field may sit at any even offset. */
Test(checksum, round_trip_field_in_the_middle)
{
    uint8_t b[64];
    for (size_t i = 0; i < sizeof b; i++)
        b[i] = (uint8_t)(0xff - i * 3);
    for (size_t off = 0; off + 2 <= sizeof b; off += 2) {
        uint8_t c[64];
        memcpy(c, b, sizeof c);
        c[off] = c[off + 1] = 0;
        uint16_t ck = inet_checksum(c, sizeof c);
        c[off] = (uint8_t)(ck >> 8);
        c[off + 1] = (uint8_t)ck;
        cr_assert_eq(inet_checksum(c, sizeof c), 0, "offset %zu", off);
    }
}

/* RFC 1071 §4.1: an odd trailing byte is the high byte of a word padded with zero. */
Test(checksum, odd_length_single_byte)
{
    static const uint8_t b[] = {0x01};
    cr_assert_eq(fold16(csum_add(0, b, 1)), 0x0100);
    cr_assert_eq(inet_checksum(b, 1), 0xfeff);
}

Test(checksum, odd_length_three_bytes)
{
    /* 0001 + f200 = f201, complemented 0dfe */
    static const uint8_t b[] = {0x00, 0x01, 0xf2};
    cr_assert_eq(inet_checksum(b, sizeof b), 0x0dfe);
}

Test(checksum, odd_length_equals_zero_padded_even_length)
{
    static const uint8_t odd[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6};
    static const uint8_t even[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0x00};
    cr_assert_eq(inet_checksum(odd, sizeof odd), inet_checksum(even, sizeof even));
    /* 0001 + f203 + f4f5 + f600 = 2dcf9 -> dcfb -> 2304 */
    cr_assert_eq(inet_checksum(odd, sizeof odd), 0x2304);
}

Test(checksum, empty_and_all_zero_give_ffff)
{
    static const uint8_t z[16];
    cr_assert_eq(inet_checksum(z, 0), 0xffff);
    cr_assert_eq(inet_checksum(z, sizeof z), 0xffff);
}

Test(checksum, all_ones_gives_zero)
{
    uint8_t b[32];
    memset(b, 0xff, sizeof b);
    cr_assert_eq(inet_checksum(b, sizeof b), 0x0000);
}

/* 64 KiB of 0xfffe words: many end-around carries; the accumulator must not overflow.
 * 32768 * fffe = 7fff0000 -> 7fff + 0000 -> complement 8000. */
Test(checksum, large_buffer_carries)
{
    static uint8_t b[65536];
    for (size_t i = 0; i < sizeof b; i += 2) {
        b[i] = 0xff;
        b[i + 1] = 0xfe;
    }
    cr_assert_eq(inet_checksum(b, sizeof b), 0x8000);
}

/* Chained csum_add over even-length pieces equals one call over the whole buffer. */
Test(checksum, chained_add_equals_one_call)
{
    uint8_t b[1000];
    for (size_t i = 0; i < sizeof b; i++)
        b[i] = (uint8_t)(i * 37 + 11);
    uint16_t whole = inet_checksum(b, sizeof b);
    static const size_t cuts[][3] = {{2, 4, 6}, {100, 500, 998}, {0, 0, 1000}, {8, 512, 514}};
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        uint32_t s = 0;
        size_t prev = 0;
        for (size_t j = 0; j < 3; j++) {
            s = csum_add(s, b + prev, cuts[k][j] - prev);
            prev = cuts[k][j];
        }
        s = csum_add(s, b + prev, sizeof b - prev);
        cr_assert_eq(csum_finish(s), whole, "cuts %zu", k);
    }
}

/* Pieces of even length followed by one odd last piece also chain correctly. */
Test(checksum, chained_add_odd_last_piece)
{
    static const uint8_t b[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6};
    uint32_t s = csum_add(0, b, 2);
    s = csum_add(s, b + 2, 2);
    s = csum_add(s, b + 4, 3);
    cr_assert_eq(csum_finish(s), 0x2304);
}

/* The accumulator argument is added in: starting from the sum of the first half equals
 * summing everything. Also a saturated start value. */
Test(checksum, initial_sum_is_added)
{
    static const uint8_t b[] = {0xf4, 0xf5, 0xf6, 0xf7};
    cr_assert_eq(csum_finish(csum_add(0xf204, b, sizeof b)), 0x220d); /* 0001 + f203 = f204 */
    cr_assert_eq(fold16(csum_add(0x1234, b, 0)), 0x1234);
    cr_assert_eq(fold16(csum_add(0xffffffffu, NULL, 0)), 0xffff);
}

/* Pseudo-header 10.0.0.1 -> 10.0.0.2, UDP, length 14:
 * 0a00 + 0001 + 0a00 + 0002 + 0011 + 000e = 1422. */
Test(checksum, pseudo_header_hand_computed)
{
    cr_assert_eq(fold16(csum_pseudo(0x0a000001, 0x0a000002, 17, 14)), 0x1422);
}

/* With carries: 192.168.0.1 -> 255.255.255.254, TCP, length ffff:
 * c0a8 + 0001 + ffff + fffe + 0006 + ffff = 3c0ab -> c0ae. */
Test(checksum, pseudo_header_with_carries)
{
    cr_assert_eq(fold16(csum_pseudo(0xc0a80001, 0xfffffffe, 6, 0xffff)), 0xc0ae);
}

/* A whole UDP datagram, "hello\n" from 10.0.0.1:40000 to 10.0.0.2:9000, by hand:
 * 1422 + 9c40 + 2328 + 000e + 0000 + 6865 + 6c6c + 6f0a = 1775 (folded), checksum e88a. */
Test(checksum, udp_datagram_hand_computed)
{
    uint8_t u[] = {0x9c, 0x40, 0x23, 0x28, 0x00, 0x0e, 0x00, 0x00, 'h', 'e', 'l', 'l', 'o', '\n'};
    uint32_t s = csum_pseudo(0x0a000001, 0x0a000002, 17, sizeof u);
    cr_assert_eq(csum_finish(csum_add(s, u, sizeof u)), 0xe88a);
    u[6] = 0xe8;
    u[7] = 0x8a;
    cr_assert_eq(csum_finish(csum_add(s, u, sizeof u)), 0);
}
