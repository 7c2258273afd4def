/* UDP sockets over IPv6 (issue 13 item 3): stack_udp_bind_fam, sendto/recvfrom with
 * addresses of either family, the IPv6 checksum (mandatory, computed here), datagrams
 * larger than the MTU sent in fragments, and the family rules of a socket. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "pkt_harness.h"

static const uint8_t PEER6[16] = {0xfd, [15] = 1};
static const uint8_t US6[16] = {0xfd, [15] = 2};

static uint8_t P[70000];

static uint16_t sum6(const uint8_t src[16], const uint8_t dst[16], const uint8_t *m, size_t n)
{
    uint8_t ph[40] = {0};
    memcpy(ph, src, 16);
    memcpy(ph + 16, dst, 16);
    ph[34] = (uint8_t)(n >> 8);
    ph[35] = (uint8_t)n;
    ph[39] = 17;
    return ph_fold(ph_sum(ph_sum(0, ph, 40), m, n));
}

/* A datagram from PEER6:sport to US6:dport. */
static size_t dgram6(uint16_t sport, uint16_t dport, const char *data)
{
    size_t n = 8 + strlen(data);
    memset(P, 0, 48);
    P[0] = 0x60;
    ph_put16(P + 4, (uint16_t)n);
    P[6] = 17;
    P[7] = 64;
    memcpy(P + 8, PEER6, 16);
    memcpy(P + 24, US6, 16);
    ph_put16(P + 40, sport);
    ph_put16(P + 42, dport);
    ph_put16(P + 44, (uint16_t)n);
    memcpy(P + 48, data, strlen(data));
    ph_put16(P + 46, sum6(PEER6, US6, P + 40, n));
    return 40 + n;
}

Test(udp6, receive_and_reply_byte_exact)
{
    struct ph_ctx *c = ph_new6(0);
    int h = stack_udp_bind_fam(c->st, 5353, STACK_FAM_V4 | STACK_FAM_V6);
    cr_assert_gt(h, 0);
    ph_input(c, P, dgram6(40000, 5353, "hello six"), 1000);
    cr_assert_eq(c->npkts, 0);
    char buf[64];
    struct ip_addr from;
    uint16_t fport = 0;
    cr_assert_eq(stack_udp_recvfrom_addr(c->st, h, buf, sizeof buf, &from, &fport), 9);
    cr_assert_eq(memcmp(buf, "hello six", 9), 0);
    cr_assert_eq(memcmp(from.b, PEER6, 16), 0);
    cr_assert_eq(fport, 40000);
    cr_assert_eq(stack_udp_sendto_addr(c->st, h, from, fport, "back", 4), 4);
    cr_assert_eq(c->npkts, 1);
    const uint8_t *r = c->pkts[0].data;
    uint8_t want[52] = {0x60, 0, 0, 0, 0, 12, 17, 64};
    memcpy(want + 8, US6, 16);
    memcpy(want + 24, PEER6, 16);
    uint8_t u[12] = {0x14, 0xe9, 0x9c, 0x40, 0, 12, 0, 0, 'b', 'a', 'c', 'k'};
    ph_put16(u + 6, sum6(US6, PEER6, u, 12));
    memcpy(want + 40, u, 12);
    cr_assert_eq(c->pkts[0].len, 52);
    cr_assert_eq(memcmp(r, want, 52), 0, "the reply, byte for byte");
    ph_free(c);
}

Test(udp6, families_of_a_socket)
{
    struct ph_ctx *c = ph_new6(0);
    int v4 = stack_udp_bind(c->st, 6000);
    cr_assert_eq(stack_udp_sendto_addr(c->st, v4, ipa_from_v6(PEER6), 9, "x", 1), -EAFNOSUPPORT);
    /* an IPv4-only socket's port: an IPv6 datagram gets port unreachable */
    ph_input(c, P, dgram6(40000, 6000, "x"), 1000);
    cr_assert_eq(c->npkts, 1);
    cr_assert_eq(c->pkts[0].data[40], 1, "destination unreachable");
    cr_assert_eq(c->pkts[0].data[41], 4, "port");
    int v6 = stack_udp_bind_fam(c->st, 6001, STACK_FAM_V6);
    cr_assert_eq(stack_udp_sendto_addr(c->st, v6, ipa_from_v4(0x0a000001), 9, "x", 1), -ENETUNREACH,
                 "IPv6-only");
    cr_assert_eq(stack_udp_bind_fam(c->st, 6001, STACK_FAM_V4), -EADDRINUSE);
    ph_free(c);
    c = ph_new(0);
    cr_assert_eq(stack_udp_bind_fam(c->st, 6002, STACK_FAM_V6), -EADDRNOTAVAIL);
    ph_free(c);
}

Test(udp6, a_datagram_larger_than_the_mtu_goes_in_fragments)
{
    struct ph_ctx *c = ph_new6(0);
    int h = stack_udp_bind_fam(c->st, 7000, STACK_FAM_V6);
    static uint8_t big[3000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)i;
    cr_assert_eq(stack_udp_sendto_addr(c->st, h, ipa_from_v6(PEER6), 9999, big, sizeof big),
                 (long)sizeof big);
    cr_assert_eq(c->npkts, 3, "3008 bytes: 1448 + 1448 + 112");
    static uint8_t got[4000];
    size_t total = 0;
    for (size_t i = 0; i < c->npkts; i++) {
        const uint8_t *p = c->pkts[i].data;
        cr_assert_eq(p[6], 44);
        cr_assert_eq(p[40], 17);
        cr_assert_eq(ph_get16(p + 42) & 0xfff8, total);
        memcpy(got + total, p + 48, c->pkts[i].len - 48);
        total += c->pkts[i].len - 48;
    }
    cr_assert_eq(total, 3008);
    cr_assert_eq(ph_get16(got + 4), 3008);
    cr_assert_eq(sum6(US6, PEER6, got, 3008), 0);
    cr_assert_eq(memcmp(got + 8, big, sizeof big), 0);
    cr_assert_eq(stack_udp_sendto_addr(c->st, h, ipa_from_v6(PEER6), 9, big, 65481), -EMSGSIZE);
    ph_free(c);
}
