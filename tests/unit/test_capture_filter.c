/* The live capture's packet filter (daemon/capture_filter.c): host and port either way,
 * fragments, IPv6, short and malformed packets. */
#include <criterion/criterion.h>
#include <string.h>

#include "capture_filter.h"

/* An IPv4 header (ihl words) from src to dst, protocol proto, then sport/dport. */
static size_t ip4(uint8_t *p, uint8_t ihl, uint8_t proto, uint32_t src, uint32_t dst,
                  uint16_t sport, uint16_t dport, uint16_t frag)
{
    memset(p, 0, 80);
    p[0] = (uint8_t)(0x40 | ihl);
    p[6] = (uint8_t)(frag >> 8);
    p[7] = (uint8_t)frag;
    p[9] = proto;
    for (int i = 0; i < 4; i++) {
        p[12 + i] = (uint8_t)(src >> (24 - 8 * i));
        p[16 + i] = (uint8_t)(dst >> (24 - 8 * i));
    }
    size_t l4 = (size_t)ihl * 4;
    p[l4] = (uint8_t)(sport >> 8);
    p[l4 + 1] = (uint8_t)sport;
    p[l4 + 2] = (uint8_t)(dport >> 8);
    p[l4 + 3] = (uint8_t)dport;
    return l4 + 20;
}

#define A 0x0a000001u /* 10.0.0.1 */
#define B 0x0a000002u /* 10.0.0.2 */
#define C 0x0a000003u

Test(capture_filter, no_filter_passes_everything)
{
    struct capture_filter f = {0};
    uint8_t p[80] = {0};
    cr_assert(capture_match(&f, p, 0), "even nothing: the filter looks at nothing");
    size_t n = ip4(p, 5, 1, A, B, 0, 0, 0);
    cr_assert(capture_match(&f, p, n));
}

Test(capture_filter, host_either_end)
{
    struct capture_filter f = {.host = B};
    uint8_t p[80];
    size_t n = ip4(p, 5, 6, A, B, 40000, 80, 0);
    cr_assert(capture_match(&f, p, n), "destination");
    n = ip4(p, 5, 6, B, A, 80, 40000, 0);
    cr_assert(capture_match(&f, p, n), "source");
    n = ip4(p, 5, 6, A, C, 40000, 80, 0);
    cr_assert_not(capture_match(&f, p, n), "neither");
    n = ip4(p, 5, 1, C, B, 0, 0, 0);
    cr_assert(capture_match(&f, p, n), "ICMP too");
    cr_assert_not(capture_match(&f, p, 19), "shorter than the header");
}

Test(capture_filter, port_either_end_tcp_and_udp)
{
    struct capture_filter f = {.port = 8080};
    uint8_t p[80];
    size_t n = ip4(p, 5, 6, A, B, 40000, 8080, 0);
    cr_assert(capture_match(&f, p, n));
    n = ip4(p, 5, 17, B, A, 8080, 53, 0);
    cr_assert(capture_match(&f, p, n), "UDP source port");
    n = ip4(p, 5, 6, A, B, 40000, 8081, 0);
    cr_assert_not(capture_match(&f, p, n));
    n = ip4(p, 5, 1, A, B, 8080, 8080, 0);
    cr_assert_not(capture_match(&f, p, n), "ICMP has no ports");
    n = ip4(p, 7, 6, A, B, 40000, 8080, 0);
    cr_assert(capture_match(&f, p, n), "ports after IP options (ihl 7)");
    cr_assert_not(capture_match(&f, p, 28 + 3), "ports cut short");
    cr_assert(capture_match(&f, p, 28 + 4), "exactly the ports");
}

Test(capture_filter, host_and_port_together)
{
    struct capture_filter f = {.host = B, .port = 80};
    uint8_t p[80];
    size_t n = ip4(p, 5, 6, A, B, 40000, 80, 0);
    cr_assert(capture_match(&f, p, n));
    n = ip4(p, 5, 6, A, C, 40000, 80, 0);
    cr_assert_not(capture_match(&f, p, n), "port but not host");
    n = ip4(p, 5, 6, A, B, 40000, 81, 0);
    cr_assert_not(capture_match(&f, p, n), "host but not port");
}

Test(capture_filter, fragments)
{
    struct capture_filter port = {.port = 80}, host = {.host = B};
    uint8_t p[80];
    size_t n = ip4(p, 5, 17, A, B, 40000, 80, 0x2000); /* MF, offset 0: the first */
    cr_assert(capture_match(&port, p, n));
    n = ip4(p, 5, 17, A, B, 40000, 80, 0x0010); /* offset 128 bytes: no UDP header */
    cr_assert_not(capture_match(&port, p, n));
    cr_assert(capture_match(&host, p, n), "a later fragment still has addresses");
}

Test(capture_filter, malformed_and_ipv6)
{
    struct capture_filter port = {.port = 80}, host = {.host = B};
    uint8_t p[80];
    size_t n = ip4(p, 4, 6, A, B, 40000, 80, 0); /* ihl 4 < 5 */
    cr_assert_not(capture_match(&port, p, n));
    cr_assert_not(capture_match(&host, p, n));
    n = ip4(p, 5, 6, A, B, 40000, 80, 0);
    p[0] = 0x55; /* version 5 */
    cr_assert_not(capture_match(&port, p, n));
    /* IPv6: TCP right after the fixed header */
    memset(p, 0, sizeof p);
    p[0] = 0x60;
    p[6] = 6;
    p[40] = 0x9c;
    p[41] = 0x40; /* 40000 */
    p[42] = 0;
    p[43] = 80;
    cr_assert(capture_match(&port, p, 60));
    cr_assert_not(capture_match(&port, p, 43), "IPv6 ports cut short");
    cr_assert_not(capture_match(&host, p, 60), "an IPv4 host never matches IPv6");
    p[6] = 0; /* hop-by-hop first: ports not looked for */
    cr_assert_not(capture_match(&port, p, 60));
}
