/* tcp_options.c: parsing and building of TCP options, on exact bytes. */
#include <criterion/criterion.h>
#include <string.h>

#include "tcp_options.h"

static bool parse(const uint8_t *p, size_t n, struct tcp_opts *o)
{
    return tcp_opts_parse(p, n, o);
}

Test(tcp_options, empty_list)
{
    struct tcp_opts o;
    cr_assert(parse(NULL, 0, &o));
    cr_assert_eq(o.mss, 0);
    cr_assert_eq(o.ws, -1);
    cr_assert(!o.sack_perm && !o.ts && !o.ts_bad);
}

Test(tcp_options, linux_syn)
{
    /* MSS 1460, SACK-permitted, TS 0x01020304/0, NOP, WS 7 */
    const uint8_t b[20] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 1, 3, 3, 7};
    struct tcp_opts o;
    cr_assert(parse(b, sizeof b, &o));
    cr_assert_eq(o.mss, 1460);
    cr_assert_eq(o.ws, 7);
    cr_assert(o.sack_perm);
    cr_assert(o.ts);
    cr_assert_eq(o.tsval, 0x01020304u);
    cr_assert_eq(o.tsecr, 0);
}

Test(tcp_options, ts_on_data_segment)
{
    const uint8_t b[12] = {1, 1, 8, 10, 0xff, 0xff, 0xff, 0xfe, 0x80, 0, 0, 1};
    struct tcp_opts o;
    cr_assert(parse(b, sizeof b, &o));
    cr_assert(o.ts && !o.ts_bad);
    cr_assert_eq(o.tsval, 0xfffffffeu);
    cr_assert_eq(o.tsecr, 0x80000001u);
}

Test(tcp_options, ts_wrong_length_ignored_and_flagged)
{
    /* a TSopt of length 8 (within the list): skipped, not used, flagged */
    const uint8_t b[12] = {8, 8, 1, 2, 3, 4, 5, 6, 2, 4, 0x02, 0x18};
    struct tcp_opts o;
    cr_assert(parse(b, sizeof b, &o));
    cr_assert(!o.ts);
    cr_assert(o.ts_bad);
    cr_assert_eq(o.mss, 536); /* the option after it is still read */
}

Test(tcp_options, clamps)
{
    const uint8_t b[8] = {2, 4, 0, 1, 3, 3, 200, 0};
    struct tcp_opts o;
    cr_assert(parse(b, sizeof b, &o));
    cr_assert_eq(o.mss, TCP_MSS_MIN);
    cr_assert_eq(o.ws, TCP_WSCALE_MAX);
}

Test(tcp_options, odd_lengths_of_known_kinds_skipped)
{
    const uint8_t b[12] = {2, 5, 1, 2, 3, 3, 4, 1, 2, 4, 3, 0};
    struct tcp_opts o;
    cr_assert(parse(b, sizeof b, &o));
    cr_assert_eq(o.mss, 0);
    cr_assert_eq(o.ws, -1);
    cr_assert(!o.sack_perm);
}

Test(tcp_options, eol_ends_the_list)
{
    const uint8_t b[8] = {0, 2, 4, 5, 0xb4, 0, 0, 0};
    struct tcp_opts o;
    cr_assert(parse(b, sizeof b, &o));
    cr_assert_eq(o.mss, 0);
}

Test(tcp_options, malformed_lists)
{
    struct tcp_opts o;
    const uint8_t no_len[1] = {2};
    cr_assert(!parse(no_len, 1, &o));
    const uint8_t len1[4] = {5, 1, 0, 0};
    cr_assert(!parse(len1, 4, &o));
    const uint8_t past_end[4] = {8, 10, 0, 0};
    cr_assert(!parse(past_end, 4, &o));
    const uint8_t trailing[4] = {1, 1, 1, 3};
    cr_assert(!parse(trailing, 4, &o));
}

Test(tcp_options, build_syn_layouts)
{
    uint8_t b[40];
    struct tcp_syn_opts so = {.mss = 1460, .ws = -1};
    size_t n = tcp_opts_build_syn(b, &so);
    const uint8_t mss_only[4] = {2, 4, 0x05, 0xb4};
    cr_assert_eq(n, 4);
    cr_assert_arr_eq(b, mss_only, 4);

    so.ws = 3;
    n = tcp_opts_build_syn(b, &so);
    const uint8_t mss_ws[8] = {2, 4, 0x05, 0xb4, 1, 3, 3, 3};
    cr_assert_eq(n, 8);
    cr_assert_arr_eq(b, mss_ws, 8);

    so.ts = true;
    so.tsval = 0x11223344;
    so.tsecr = 0x55667788;
    n = tcp_opts_build_syn(b, &so);
    const uint8_t mss_ws_ts[20] = {2, 4,  0x05, 0xb4, 1,    3,    3,    3,    1,    1,
                                   8, 10, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
    cr_assert_eq(n, 20);
    cr_assert_arr_eq(b, mss_ws_ts, 20);

    so.sack_perm = true;
    n = tcp_opts_build_syn(b, &so);
    const uint8_t all[20] = {2, 4,  0x05, 0xb4, 1,    3,    3,    3,    4,    2,
                             8, 10, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
    cr_assert_eq(n, 20);
    cr_assert_arr_eq(b, all, 20);

    so.ts = false;
    n = tcp_opts_build_syn(b, &so);
    const uint8_t mss_ws_sack[12] = {2, 4, 0x05, 0xb4, 1, 3, 3, 3, 1, 1, 4, 2};
    cr_assert_eq(n, 12);
    cr_assert_arr_eq(b, mss_ws_sack, 12);
}

Test(tcp_options, sack_blocks)
{
    const uint8_t b[20] = {1, 1,  5,    18,   0,    0,    0, 10, 0, 0,
                           0, 20, 0xff, 0xff, 0xff, 0xf0, 0, 0,  0, 5};
    struct tcp_opts o;
    cr_assert(parse(b, sizeof b, &o));
    cr_assert(!o.sack_bad);
    cr_assert_eq(o.nsack, 2);
    cr_assert_eq(o.sack[0].start, 10);
    cr_assert_eq(o.sack[0].end, 20);
    cr_assert_eq(o.sack[1].start, 0xfffffff0u);
    cr_assert_eq(o.sack[1].end, 5);
}

Test(tcp_options, sack_bad_lengths)
{
    struct tcp_opts o;
    const uint8_t odd[12] = {5, 12, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0}; /* 2 + 10 */
    cr_assert(parse(odd, sizeof odd, &o));
    cr_assert(o.sack_bad);
    cr_assert_eq(o.nsack, 0);
    uint8_t five[40] = {5, 42};
    cr_assert(!parse(five, sizeof five, &o)); /* runs past the end: the list is malformed */
    uint8_t empty[4] = {5, 2, 1, 1};
    cr_assert(parse(empty, sizeof empty, &o));
    cr_assert(o.sack_bad);
}

Test(tcp_options, build_then_parse_round_trip)
{
    uint8_t b[40];
    struct tcp_syn_opts so = {
        .mss = 1448, .ws = 14, .sack_perm = true, .ts = true, .tsval = 7, .tsecr = 9};
    size_t n = tcp_opts_build_syn(b, &so);
    cr_assert_eq(n % 4, 0);
    struct tcp_opts o;
    cr_assert(parse(b, n, &o));
    cr_assert_eq(o.mss, 1448);
    cr_assert_eq(o.ws, 14);
    cr_assert(o.sack_perm && o.ts);
    cr_assert_eq(o.tsval, 7);
    cr_assert_eq(o.tsecr, 9);

    n = tcp_opts_build_ts(b, 0xdeadbeef, 1);
    const uint8_t ts[12] = {1, 1, 8, 10, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1};
    cr_assert_eq(n, TCPOLEN_TS_ALIGNED);
    cr_assert_arr_eq(b, ts, 12);
}
