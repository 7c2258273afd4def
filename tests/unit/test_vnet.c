/* The virtio-net header module (daemon/net/vnet.c): exact header bytes both ways, every
 * validation outcome, checksum completion and the software segmentation of a
 * super-packet, checked with the naive checksum of pkt_harness. */
#include <criterion/criterion.h>
#include <string.h>

#include "net/vnet.h"
#include "pkt_harness.h"

#define SRC 0x0a000001u
#define DST 0x0a000002u

/* An IPv4 TCP packet: header (+ 12 bytes of options when opt), payload of n bytes
 * (pattern), flags, with the TCP checksum field holding the partial (pseudo-header)
 * sum when partial, else the full checksum. Returns the length. */
static size_t tcp4(uint8_t *p, uint32_t seq, uint8_t flags, size_t n, bool opt, bool partial)
{
    size_t thl = opt ? 32 : 20;
    static uint8_t t[4096];
    memset(t, 0, thl);
    ph_put16(t, 40000);
    ph_put16(t + 2, 80);
    t[4] = (uint8_t)(seq >> 24), t[5] = (uint8_t)(seq >> 16), t[6] = (uint8_t)(seq >> 8);
    t[7] = (uint8_t)seq;
    t[11] = 7; /* ack 7 */
    t[12] = (uint8_t)((thl / 4) << 4);
    t[13] = flags;
    ph_put16(t + 14, 500);
    if (opt) {
        const uint8_t o[12] = {1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 5};
        memcpy(t + 20, o, sizeof o);
    }
    for (size_t i = 0; i < n; i++)
        t[thl + i] = (uint8_t)(i * 7 + 3);
    uint16_t l4 = (uint16_t)(thl + n);
    size_t len = ph_ip(p, SRC, DST, 6, t, l4);
    uint32_t ps = ph_pseudo_sum(SRC, DST, 6, l4);
    if (partial) {
        uint16_t f = (uint16_t)~ph_fold(ps);
        ph_put16(p + 36, f);
    } else {
        ph_put16(p + 36, ph_fold(ph_sum(ps, p + 20, l4)));
    }
    return len;
}

static void put_hdr(uint8_t *b, uint8_t flags, uint8_t type, uint16_t hl, uint16_t gso,
                    uint16_t start, uint16_t off)
{
    struct vnet_hdr h = {flags, type, hl, gso, start, off};
    vnet_hdr_encode(b, &h);
}

Test(vnet, header_bytes_both_ways)
{
    const uint8_t want[10] = {0x01, 0x01, 0x34, 0x00, 0xa8, 0x05, 0x14, 0x00, 0x10, 0x00};
    uint8_t b[10];
    put_hdr(b, VNET_F_NEEDS_CSUM, VNET_GSO_TCPV4, 52, 1448, 20, 16);
    cr_assert_arr_eq(b, want, 10);
    struct vnet_hdr h;
    const uint8_t in[10] = {0x02, 0x84, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};
    vnet_hdr_decode(in, &h);
    cr_assert_eq(h.flags, 2);
    cr_assert_eq(h.gso_type, 0x84);
    cr_assert_eq(h.hdr_len, 0x0201);
    cr_assert_eq(h.gso_size, 0x0403);
    cr_assert_eq(h.csum_start, 0x0605);
    cr_assert_eq(h.csum_offset, 0x0807);
}

Test(vnet, tx_header_from_meta)
{
    uint8_t pkt[100];
    tcp4(pkt, 1, 0x10, 10, false, true);
    struct stack_tx_meta m = {.csum_partial = true,
                              .csum_start = 20,
                              .csum_offset = 16,
                              .gso_size = 1448,
                              .segs = 3,
                              .hdr_len = 52};
    uint8_t b[10];
    vnet_tx_hdr(b, pkt, &m);
    const uint8_t want[10] = {0x01, 0x01, 0x34, 0x00, 0xa8, 0x05, 0x14, 0x00, 0x10, 0x00};
    cr_assert_arr_eq(b, want, 10);
    m.gso_size = 0; /* a single segment: checksum only */
    vnet_tx_hdr(b, pkt, &m);
    const uint8_t want1[10] = {0x01, 0x00, 0x34, 0x00, 0x00, 0x00, 0x14, 0x00, 0x10, 0x00};
    cr_assert_arr_eq(b, want1, 10);
    struct stack_tx_meta none = {0};
    vnet_tx_hdr(b, pkt, &none);
    const uint8_t zero[10] = {0};
    cr_assert_arr_eq(b, zero, 10);
}

Test(vnet, gso_tcp4_with_partial_checksum_is_taken_as_is)
{
    static uint8_t buf[VNET_RX_BUF];
    size_t n = tcp4(buf + 10, 1000, 0x18, 3000, true, true);
    put_hdr(buf, VNET_F_NEEDS_CSUM, VNET_GSO_TCPV4, 52, 1448, 20, 16);
    uint8_t copy[4000];
    memcpy(copy, buf + 10, n);
    struct vnet_rx rx;
    cr_assert_eq(vnet_rx_prepare(buf, n + 10, sizeof buf, &rx), VNET_OK);
    cr_assert_eq(rx.pkt, buf + 10);
    cr_assert_eq(rx.len, n);
    cr_assert(rx.csum_ok);
    cr_assert(!rx.csum_completed);
    cr_assert_eq(rx.gso_size, 1448);
    cr_assert_arr_eq(buf + 10, copy, n); /* untouched */
}

Test(vnet, data_valid_is_taken_and_plain_is_checked_by_the_core)
{
    static uint8_t buf[VNET_RX_BUF];
    size_t n = tcp4(buf + 10, 1, 0x10, 100, false, false);
    put_hdr(buf, VNET_F_DATA_VALID, 0, 0, 0, 0, 0);
    struct vnet_rx rx;
    cr_assert_eq(vnet_rx_prepare(buf, n + 10, sizeof buf, &rx), VNET_OK);
    cr_assert(rx.csum_ok);
    cr_assert_eq(rx.gso_size, 0);
    put_hdr(buf, 0, 0, 0, 0, 0, 0);
    cr_assert_eq(vnet_rx_prepare(buf, n + 10, sizeof buf, &rx), VNET_OK);
    cr_assert(!rx.csum_ok);
}

Test(vnet, partial_udp_checksum_is_finished_in_place)
{
    static uint8_t buf[VNET_RX_BUF];
    uint8_t data[37];
    ph_pattern(data, sizeof data);
    size_t n = ph_udp_pkt(buf + 10, SRC, DST, 5000, 9000, data, sizeof data);
    uint16_t good = ph_get16(buf + 10 + 26);
    ph_put16(buf + 10 + 26, (uint16_t)~ph_fold(ph_pseudo_sum(SRC, DST, 17, 8 + sizeof data)));
    put_hdr(buf, VNET_F_NEEDS_CSUM, 0, 0, 0, 20, 6);
    struct vnet_rx rx;
    cr_assert_eq(vnet_rx_prepare(buf, n + 10, sizeof buf, &rx), VNET_OK);
    cr_assert(rx.csum_completed);
    cr_assert(!rx.csum_ok);
    cr_assert_eq(ph_get16(buf + 10 + 26), good);
}

Test(vnet, tcp_checksum_elsewhere_is_finished_too)
{
    /* a partial TCP checksum not at the usual place (start past the IP header) cannot
     * be skipped by the core: it is finished and then checked as usual */
    static uint8_t buf[VNET_RX_BUF];
    size_t n = tcp4(buf + 10, 1, 0x10, 100, false, false);
    uint16_t good = ph_get16(buf + 10 + 36);
    /* the sum from byte 24 with the field at 24 + 12: the checksum of that range */
    put_hdr(buf, VNET_F_NEEDS_CSUM, 0, 0, 0, 24, 12);
    struct vnet_rx rx;
    cr_assert_eq(vnet_rx_prepare(buf, n + 10, sizeof buf, &rx), VNET_OK);
    cr_assert(rx.csum_completed);
    cr_assert(!rx.csum_ok);
    cr_assert_neq(ph_get16(buf + 10 + 36), good); /* the core will drop it: bad checksum */
}

static enum vnet_result prep(uint8_t flags, uint8_t type, uint16_t gso, uint16_t start,
                             uint16_t off, bool udp)
{
    static uint8_t buf[VNET_RX_BUF];
    size_t n;
    if (udp) {
        uint8_t d[10] = {0};
        n = ph_udp_pkt(buf + 10, SRC, DST, 1, 2, d, sizeof d);
    } else {
        n = tcp4(buf + 10, 1, 0x10, 3000, false, true);
    }
    put_hdr(buf, flags, type, 40, gso, start, off);
    struct vnet_rx rx;
    return vnet_rx_prepare(buf, n + 10, sizeof buf, &rx);
}

Test(vnet, bad_headers_are_refused_with_their_reason)
{
    const uint8_t F = VNET_F_NEEDS_CSUM;
    cr_assert_eq(prep(F, VNET_GSO_TCPV4, 1460, 20, 16, false), VNET_OK);
    cr_assert_eq(prep(F, VNET_GSO_TCPV4 | VNET_GSO_ECN, 1460, 20, 16, false), VNET_OK);
    cr_assert_eq(prep(0x04, 0, 0, 0, 0, false), VNET_ERR_FLAGS);
    cr_assert_eq(prep(0x80, 0, 0, 0, 0, false), VNET_ERR_FLAGS);
    cr_assert_eq(prep(F | VNET_F_DATA_VALID, 0, 0, 20, 16, false), VNET_ERR_FLAGS);
    cr_assert_eq(prep(F, VNET_GSO_UDP, 1460, 20, 16, false), VNET_ERR_GSO_TYPE);
    cr_assert_eq(prep(F, VNET_GSO_UDP_L4, 1460, 20, 16, false), VNET_ERR_GSO_TYPE);
    cr_assert_eq(prep(F, 2, 1460, 20, 16, false), VNET_ERR_GSO_TYPE);
    cr_assert_eq(prep(F, 0x7f, 1460, 20, 16, false), VNET_ERR_GSO_TYPE);
    cr_assert_eq(prep(F, VNET_GSO_ECN, 0, 20, 16, false), VNET_ERR_GSO_TYPE);
    cr_assert_eq(prep(F, VNET_GSO_TCPV6, 1460, 20, 16, false), VNET_ERR_GSO_TYPE); /* v4 */
    cr_assert_eq(prep(F, VNET_GSO_TCPV4, 1460, 20, 6, true), VNET_ERR_GSO_TYPE);   /* UDP */
    cr_assert_eq(prep(F, VNET_GSO_TCPV4, 0, 20, 16, false), VNET_ERR_GSO_SIZE);
    cr_assert_eq(prep(F, VNET_GSO_TCPV4, 65495, 20, 16, false), VNET_OK);
    cr_assert_eq(prep(F, VNET_GSO_TCPV4, 65496, 20, 16, false), VNET_ERR_GSO_SIZE);
    cr_assert_eq(prep(F, VNET_GSO_TCPV4, 65535, 20, 16, false), VNET_ERR_GSO_SIZE);
    /* 3040 bytes: the field's two bytes must end by 3040 */
    cr_assert_eq(prep(F, 0, 0, 3038, 0, false), VNET_OK);
    cr_assert_eq(prep(F, 0, 0, 3039, 0, false), VNET_ERR_CSUM_RANGE);
    cr_assert_eq(prep(F, 0, 0, 20, 3019, false), VNET_ERR_CSUM_RANGE);
    cr_assert_eq(prep(F, 0, 0, 65535, 65535, false), VNET_ERR_CSUM_RANGE);
    cr_assert_eq(prep(F, 0, 0, 19, 16, false), VNET_ERR_CSUM_RANGE); /* in the IP header */
    cr_assert_eq(prep(F, 0, 0, 0, 16, false), VNET_ERR_CSUM_RANGE);
}

Test(vnet, short_and_cut_reads)
{
    static uint8_t buf[VNET_RX_BUF];
    memset(buf, 0, sizeof buf);
    struct vnet_rx rx;
    cr_assert_eq(vnet_rx_prepare(buf, 0, sizeof buf, &rx), VNET_ERR_SHORT);
    cr_assert_eq(vnet_rx_prepare(buf, 10, sizeof buf, &rx), VNET_ERR_SHORT);
    cr_assert_eq(vnet_rx_prepare(buf, sizeof buf, sizeof buf, &rx), VNET_ERR_TOO_BIG);
    /* not IP at all, no offload asked for: the core judges it */
    cr_assert_eq(vnet_rx_prepare(buf, 11, sizeof buf, &rx), VNET_OK);
    buf[0] = VNET_F_NEEDS_CSUM;
    cr_assert_eq(vnet_rx_prepare(buf, 11, sizeof buf, &rx), VNET_ERR_CSUM_RANGE);
    buf[0] = 0;
    buf[1] = VNET_GSO_TCPV4;
    buf[4] = 100;
    cr_assert_eq(vnet_rx_prepare(buf, 11, sizeof buf, &rx), VNET_ERR_GSO_TYPE);
}

Test(vnet, drops_are_counted_by_reason)
{
    struct stack_stats s;
    memset(&s, 0, sizeof s);
    vnet_count_drop(&s, VNET_ERR_SHORT);
    vnet_count_drop(&s, VNET_ERR_TOO_BIG);
    vnet_count_drop(&s, VNET_ERR_FLAGS);
    vnet_count_drop(&s, VNET_ERR_GSO_TYPE);
    vnet_count_drop(&s, VNET_ERR_GSO_TYPE);
    vnet_count_drop(&s, VNET_ERR_GSO_SIZE);
    vnet_count_drop(&s, VNET_ERR_CSUM_RANGE);
    cr_assert_eq(s.vnet_drop_short, 1);
    cr_assert_eq(s.vnet_drop_too_big, 1);
    cr_assert_eq(s.vnet_drop_flags, 1);
    cr_assert_eq(s.vnet_drop_gso_type, 2);
    cr_assert_eq(s.vnet_drop_gso_size, 1);
    cr_assert_eq(s.vnet_drop_csum_range, 1);
}

static uint8_t segs[8][2000];
static size_t seg_len[8];
static int nsegs;

static void take(void *arg, const uint8_t *pkt, size_t len)
{
    (void)arg;
    cr_assert_lt(nsegs, 8);
    memcpy(segs[nsegs], pkt, len);
    seg_len[nsegs++] = len;
}

Test(vnet, a_super_packet_is_cut_as_the_kernel_does)
{
    static uint8_t pkt[4000], scratch[65536];
    size_t n = tcp4(pkt, 0xfffffc00u, 0x19 /* FIN,PSH,ACK */, 2500, true, true);
    struct vnet_hdr h = {VNET_F_NEEDS_CSUM, VNET_GSO_TCPV4, 52, 1000, 20, 16};
    nsegs = 0;
    cr_assert_eq(vnet_segment(pkt, n, &h, scratch, take, NULL), 3);
    const size_t plen[3] = {1000, 1000, 500};
    const uint8_t flags[3] = {0x10, 0x10, 0x19};
    for (int i = 0; i < 3; i++) {
        const uint8_t *s = segs[i];
        cr_assert_eq(seg_len[i], 52 + plen[i]);
        cr_assert_eq(ph_get16(s + 2), 52 + plen[i]);
        cr_assert_eq(ph_get16(s + 4), 0x1234 + i); /* ph_ip's identification, + i */
        cr_assert_eq(ph_fold(ph_sum(0, s, 20)), 0, "IP checksum of segment %d", i);
        cr_assert_eq(ph_get32(s + 24), 0xfffffc00u + 1000u * (uint32_t)i);
        cr_assert_eq(s[33], flags[i]);
        cr_assert_arr_eq(s + 40, pkt + 40, 12); /* options copied */
        uint16_t l4 = (uint16_t)(32 + plen[i]);
        cr_assert_eq(ph_fold(ph_sum(ph_pseudo_sum(SRC, DST, 6, l4), s + 20, l4)), 0,
                     "TCP checksum of segment %d", i);
        cr_assert_arr_eq(s + 52, pkt + 52 + 1000 * i, plen[i]);
    }
    /* a single packet with a partial checksum: finished, nothing else changed */
    n = tcp4(pkt, 5, 0x18, 300, false, true);
    struct vnet_hdr one = {VNET_F_NEEDS_CSUM, 0, 40, 0, 20, 16};
    nsegs = 0;
    cr_assert_eq(vnet_segment(pkt, n, &one, scratch, take, NULL), 1);
    cr_assert_eq(ph_fold(ph_sum(ph_pseudo_sum(SRC, DST, 6, 320), segs[0] + 20, 320)), 0);
    cr_assert_arr_eq(segs[0], pkt, 36);
    /* what it cannot cut */
    struct vnet_hdr v6 = {VNET_F_NEEDS_CSUM, VNET_GSO_TCPV6, 40, 1000, 20, 16};
    cr_assert_eq(vnet_segment(pkt, n, &v6, scratch, take, NULL), -1);
    struct vnet_hdr zero = {VNET_F_NEEDS_CSUM, VNET_GSO_TCPV4, 40, 0, 20, 16};
    cr_assert_eq(vnet_segment(pkt, n, &zero, scratch, take, NULL), -1);
}
