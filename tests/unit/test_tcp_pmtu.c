/* Path MTU discovery (tcp_pmtu.c): an ICMP fragmentation needed (RFC 1191) quoting a
 * segment in flight (RFC 5927) lowers the MSS and resends what is in flight at the new
 * size; one quoting anything else is ignored and counted. */
#include "tcp_state_fixture.h"

#include "pkt_harness.h"

#define DATA 4000

static uint8_t data[DATA];
static uint8_t raw[8][1600]; /* the captured packets the ICMP messages quote */

static struct th_spec syn_spec(void)
{
    static const uint8_t mss1460[] = {2, 4, 0x05, 0xb4};
    struct th_spec s = {.sport = PPORT,
                        .dport = LPORT,
                        .seq = PISN,
                        .flags = THF_SYN,
                        .wnd = WIN,
                        .opt = mss1460,
                        .optlen = sizeof mss1460};
    return s;
}

/* Established (the peer's MSS 1460), DATA bytes written: three segments in flight,
 * their packets in raw[0..2]. */
static int open_and_send(void)
{
    int lh = stack_tcp_listen(E->st, LPORT, 8);
    cr_assert_gt(lh, 0);
    struct th_spec s = syn_spec();
    th_seg(E, &s);
    expect(THF_SYN | THF_ACK, ISS, PISN + 1, 0);
    seg(THF_ACK, PISN + 1, ISS + 1, NULL, 0);
    int h = stack_tcp_accept(E->st, lh);
    cr_assert_gt(h, 0);
    for (size_t i = 0; i < DATA; i++)
        data[i] = (uint8_t)(i * 13 + 7);
    cr_assert_eq(stack_tcp_send(E->st, h, data, DATA, E->now), DATA);
    static const uint32_t lens[] = {1460, 1460, 1080};
    uint32_t seq = ISS + 1;
    for (int i = 0; i < 3; i++) {
        cr_assert_geq(th_pending(E), 1);
        size_t n = E->pkt_len[E->pkt_head];
        memcpy(raw[i], E->pkt[E->pkt_head], n);
        expect(THF_ACK | (i == 2 ? THF_PSH : 0), seq, PISN + 1, lens[i]);
        cr_assert_eq(memcmp(O.data, data + (seq - ISS - 1), lens[i]), 0);
        seq += lens[i];
    }
    expect_none();
    return h;
}

/* ICMP type 3 code 4 from a router 10.0.0.9 with next-hop mtu, quoting the first qlen
 * bytes of pkt. */
static void frag_needed(const uint8_t *pkt, size_t qlen, uint16_t mtu)
{
    uint8_t icmp[8 + 60 + 8] = {3, 4, 0, 0, 0, 0, (uint8_t)(mtu >> 8), (uint8_t)mtu};
    memcpy(icmp + 8, pkt, qlen);
    ph_put16(icmp + 2, ph_fold(ph_sum(0, icmp, 8 + qlen)));
    uint8_t b[128];
    size_t n = ph_ip(b, TH_ADDR(10, 0, 0, 9), TH_US, 1, icmp, 8 + qlen);
    stack_input(E->st, b, n, E->now);
}

/* Expects the DATA bytes from seq on again in segments of mss. */
static void expect_resent(uint32_t from, uint32_t mss)
{
    uint32_t seq = from, end = ISS + 1 + DATA;
    while (seq != end) {
        uint32_t len = end - seq < mss ? end - seq : mss;
        expect(THF_ACK | (seq + len == end ? THF_PSH : 0), seq, PISN + 1, len);
        cr_assert_eq(memcmp(O.data, data + (seq - ISS - 1), len), 0);
        seq += len;
    }
    expect_none();
}

TestSuite(tcp_pmtu, .init = setup, .fini = teardown);

Test(tcp_pmtu, lowers_mss_and_resends_in_flight)
{
    int h = open_and_send();
    uint32_t cwnd = info_of(h).cwnd;
    frag_needed(raw[1], 28, 1000); /* the second segment: seq ISS+1461 */
    cr_assert_eq(stats()->icmp_frag_needed_rx, 1);
    cr_assert_eq(stats()->tcp_pmtu_lowered, 1);
    cr_assert_eq(stats()->tcp_pmtu_bogus, 0);
    /* MSS 1000 - 40 = 960, from SND.UNA: 4 x 960 + 160 */
    expect_resent(ISS + 1, 960);
    cr_assert_eq(info_of(h).cwnd, cwnd, "not a congestion signal");
    cr_assert_eq(info_of(h).snd_nxt, ISS + 1 + DATA);
    cr_assert(th_has_line(E, "[TCP ] path MTU: mss 1460 -> 960, resend from seq=1001"));

    /* the peer acknowledges all; new data goes at the new MSS */
    seg(THF_ACK, PISN + 1, ISS + 1 + DATA, NULL, 0);
    expect_none();
    cr_assert_eq(stack_tcp_send(E->st, h, data, 1500, E->now), 1500);
    expect(THF_ACK, ISS + 1 + DATA, PISN + 1, 960);
    expect(THF_ACK | THF_PSH, ISS + 1 + DATA + 960, PISN + 1, 540);
    expect_none();
}

Test(tcp_pmtu, sequence_not_in_flight_is_ignored)
{
    int h = open_and_send();
    /* the quoted sequence number moved to SND.MAX (ISS+1+4000): nothing of ours */
    uint8_t q[28];
    memcpy(q, raw[0], 28);
    ph_put16(q + 24, 0);
    ph_put16(q + 26, 0);
    uint32_t s = ISS + 1 + DATA;
    q[24] = (uint8_t)(s >> 24), q[25] = (uint8_t)(s >> 16), q[26] = (uint8_t)(s >> 8),
    q[27] = (uint8_t)s;
    frag_needed(q, 28, 1000);
    cr_assert_eq(stats()->tcp_pmtu_bogus, 1);
    expect_none();
    /* below SND.UNA once the peer acknowledged the first segment */
    seg(THF_ACK, PISN + 1, ISS + 1461, NULL, 0);
    expect_none();
    frag_needed(raw[0], 28, 1000);
    cr_assert_eq(stats()->tcp_pmtu_bogus, 2);
    expect_none();
    /* another port: no connection */
    memcpy(q, raw[1], 28);
    ph_put16(q + 20, LPORT + 1);
    frag_needed(q, 28, 1000);
    cr_assert_eq(stats()->tcp_pmtu_bogus, 3);
    /* a quote that stops inside the TCP header's first 8 bytes */
    frag_needed(raw[1], 24, 1000);
    cr_assert_eq(stats()->tcp_pmtu_bogus, 4);
    /* a quoted source that is not us */
    memcpy(q, raw[1], 28);
    q[15] = 3;
    frag_needed(q, 28, 1000);
    cr_assert_eq(stats()->tcp_pmtu_bogus, 5);
    cr_assert_eq(stats()->tcp_pmtu_lowered, 0);
    expect_none();
    /* the genuine one still works: resent from SND.UNA at MSS 960 */
    frag_needed(raw[1], 28, 1000);
    cr_assert_eq(stats()->tcp_pmtu_lowered, 1);
    expect_resent(ISS + 1461, 960);
    (void)h;
}

Test(tcp_pmtu, larger_mtu_ignored_floor_and_plateau)
{
    open_and_send();
    frag_needed(raw[0], 28, 1500); /* MSS 1460 fits 1500 already */
    cr_assert_eq(stats()->tcp_pmtu_not_lower, 1);
    cr_assert_eq(stats()->tcp_pmtu_lowered, 0);
    expect_none();
    /* no next-hop MTU (RFC 1191 §7): the plateau below the quoted 1500 is 1492 */
    frag_needed(raw[0], 28, 0);
    cr_assert_eq(stats()->tcp_pmtu_lowered, 1);
    expect_resent(ISS + 1, 1452);
    /* a forged tiny MTU: raised to 552, MSS 512 */
    frag_needed(raw[0], 28, 68);
    cr_assert_eq(stats()->tcp_pmtu_floor, 1);
    cr_assert_eq(stats()->tcp_pmtu_lowered, 2);
    expect_resent(ISS + 1, 512);
    /* a second one at the floor changes nothing */
    frag_needed(raw[0], 28, 100);
    cr_assert_eq(stats()->tcp_pmtu_not_lower, 2);
    expect_none();
}

Test(tcp_pmtu, quote_of_udp_or_nothing_in_flight)
{
    int h = open_and_send();
    seg(THF_ACK, PISN + 1, ISS + 1 + DATA, NULL, 0);
    /* all acknowledged: the old quote is no longer in flight */
    frag_needed(raw[2], 28, 1000);
    cr_assert_eq(stats()->tcp_pmtu_bogus, 1);
    /* a UDP quote is not TCP's business */
    uint8_t q[28];
    memcpy(q, raw[2], 28);
    q[9] = 17;
    frag_needed(q, 28, 1000);
    cr_assert_eq(stats()->icmp_frag_needed_rx, 2);
    cr_assert_eq(stats()->tcp_pmtu_bogus, 1);
    expect_none();
    cr_assert_eq(state_of(h), TCP_ESTABLISHED);
}

Test(tcp_pmtu, plateau_table)
{
    cr_assert_eq(tcp_pmtu_guess(1500), 1492);
    cr_assert_eq(tcp_pmtu_guess(1492), 1006);
    cr_assert_eq(tcp_pmtu_guess(65535), 32000);
    cr_assert_eq(tcp_pmtu_guess(576), 508);
    cr_assert_eq(tcp_pmtu_guess(68), 68);
}
