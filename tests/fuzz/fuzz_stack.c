/* libFuzzer target: the whole sans-I/O core through stack_input / stack_poll.
 *
 * Input layout:
 *   byte 0        configuration: bit 0 selects MTU 576 instead of 1500; bit 1 the TUN
 *                 offload link: each packet starts with a virtio-net header (vnet.h),
 *                 validated by vnet_rx_prepare and handed in with stack_input_meta, and
 *                 the core runs with tx_offload: what it hands out is cut and finished
 *                 by vnet_segment and each resulting packet checked as below (the fixup
 *                 flags apply to the packet after the header)
 *   then records  [flags:1][dt:1][len:2 big-endian][len bytes of packet]
 *                 (a short last record takes what is left)
 *   flags bit 0   rewrite src/dst to 10.0.0.1 -> 10.0.0.2
 *         bit 1   recompute the ICMP/UDP/TCP checksum when the lengths allow it
 *         bit 2   recompute the IPv4 header checksum
 *         bit 3   drain the bound UDP socket with a 3-byte buffer (truncation)
 *         bit 4   set the IP total length to the record length and the UDP length to
 *                 the rest of the packet (applied before the checksums)
 * so the fuzzer gets past the checksums without having to guess them. Time advances by
 * dt * 37 ms before each packet and stack_poll runs after each; a final poll 10 minutes
 * later lets every timer fire (fragment reassembly's timeout too). Every packet the stack emits is
 * checked (parses as IPv4 from our address, fits the MTU, L4 checksum valid); a violation aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checksum.h"
#include "icmp.h"
#include "ip.h"
#include "stack.h"
#include "udp.h"
#include "vnet.h"

#define FZ_US 0x0a000002u
#define FZ_PEER 0x0a000001u
#define FZ_MAX_RECORDS 64

struct fz_ctx {
    uint16_t mtu;
    unsigned long sent;
};

static uint16_t fz_get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static void fz_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void fz_fail(const char *why, const uint8_t *pkt, size_t len)
{
    fprintf(stderr, "fuzz_stack: emitted packet violates: %s (len %zu)\n", why, len);
    for (size_t i = 0; i < len && i < 64; i++)
        fprintf(stderr, "%02x%s", pkt[i], i % 16 == 15 ? "\n" : " ");
    fprintf(stderr, "\n");
    abort();
}

static void fz_output(void *ctx, const uint8_t *pkt, size_t len)
{
    struct fz_ctx *c = ctx;
    struct ip_view ip;
    c->sent++;
    if (len > c->mtu) fz_fail("longer than the MTU", pkt, len);
    if (ip_parse(pkt, len, &ip) != IP_OK) fz_fail("does not parse as IPv4", pkt, len);
    if (ip.trailing) fz_fail("bytes past the IP total length", pkt, len);
    if (ip.src != FZ_US) fz_fail("source is not our address", pkt, len);
    if (ip.hdr_len != IPV4_HDR_LEN) fz_fail("IP options sent", pkt, len);
    if (ip.ttl != 64) fz_fail("TTL is not 64", pkt, len);
    if (ip.mf || ip.frag_off) {
        /* a fragment of a UDP datagram or an ICMP reply: its L4 header is in the first */
        if (ip.df) fz_fail("fragment with DF", pkt, len);
        if (ip.mf && (ip.payload_len & 7)) fz_fail("fragment length not a multiple of 8", pkt, len);
        if (ip.frag_off + ip.payload_len + IPV4_HDR_LEN > 65535) fz_fail("past 65535", pkt, len);
        if (ip.proto == IP_PROTO_TCP) fz_fail("TCP fragmented", pkt, len);
        return;
    }
    switch (ip.proto) {
    case IP_PROTO_ICMP: {
        struct icmp_view v;
        if (icmp_parse(ip.payload, ip.payload_len, &v) != ICMP_OK)
            fz_fail("bad ICMP message", pkt, len);
        if (v.type != ICMP_ECHO_REPLY && v.type != ICMP_DEST_UNREACH &&
            v.type != ICMP_TIME_EXCEEDED)
            fz_fail("unexpected ICMP type", pkt, len);
        break;
    }
    case IP_PROTO_UDP: {
        struct udp_view v;
        if (udp_parse(ip.payload, ip.payload_len, ip.src, ip.dst, &v) != UDP_OK)
            fz_fail("bad UDP datagram", pkt, len);
        if (!v.had_checksum) fz_fail("UDP sent without checksum", pkt, len);
        if (v.data_len + UDP_HDR_LEN != ip.payload_len) fz_fail("UDP length mismatch", pkt, len);
        break;
    }
    case IP_PROTO_TCP: {
        if (ip.payload_len < 20) fz_fail("TCP segment shorter than its header", pkt, len);
        size_t off = (size_t)(ip.payload[12] >> 4) * 4;
        if (off < 20 || off > ip.payload_len) fz_fail("bad TCP data offset", pkt, len);
        uint32_t s = csum_pseudo(ip.src, ip.dst, IP_PROTO_TCP, (uint16_t)ip.payload_len);
        if (csum_finish(csum_add(s, ip.payload, ip.payload_len)) != 0)
            fz_fail("bad TCP checksum", pkt, len);
        break;
    }
    default:
        fz_fail("unknown protocol", pkt, len);
    }
}

/* The offload link: the super-packet (or the packet with a partial checksum) is cut as
 * the kernel would, and what comes out must pass every check of fz_output. */
static void fz_output_meta(void *ctx, const uint8_t *pkt, size_t len, const struct stack_tx_meta *m)
{
    static uint8_t scratch[65536];
    struct fz_ctx *c = ctx;
    uint8_t b[VNET_HDR_LEN];
    struct vnet_hdr h;
    vnet_tx_hdr(b, pkt, m);
    vnet_hdr_decode(b, &h);
    if (len > 65535) fz_fail("super-packet past 65535", pkt, len);
    if (m->gso_size && (m->segs < 2 || !m->csum_partial)) fz_fail("bad meta", pkt, len);
    int n = vnet_segment(pkt, len, &h, scratch, fz_output, c);
    if (n < 0) fz_fail("the link could not cut it", pkt, len);
    if (m->gso_size && (unsigned)n != m->segs) fz_fail("segment count", pkt, len);
}

static void fz_event(void *ctx, int handle, unsigned events)
{
    (void)ctx;
    if (handle <= 0 || events == 0) abort();
}

static void fz_trace(void *ctx, const char *line)
{
    (void)ctx;
    if (line[0] != '[') abort(); /* every trace line starts with its layer tag */
}

/* Applies the helper flags of one record to a mutable copy of the packet. */
static void fz_fixup(uint8_t *b, size_t len, uint8_t flags)
{
    if (len < IPV4_HDR_LEN) return;
    size_t ihl = (size_t)(b[0] & 0x0f) * 4;
    if (ihl < IPV4_HDR_LEN || ihl > len) return;
    if (flags & 1) {
        b[12] = 10, b[13] = 0, b[14] = 0, b[15] = 1;
        b[16] = 10, b[17] = 0, b[18] = 0, b[19] = 2;
    }
    if ((flags & 16) && len <= 0xffff) {
        fz_put16(b + 2, (uint16_t)len);
        if (b[9] == IP_PROTO_UDP && len - ihl >= 8) fz_put16(b + ihl + 4, (uint16_t)(len - ihl));
    }
    size_t total = fz_get16(b + 2);
    if ((flags & 2) && total >= ihl && total <= len) {
        uint8_t *l4 = b + ihl;
        size_t l4len = total - ihl;
        uint32_t src = ((uint32_t)b[12] << 24) | ((uint32_t)b[13] << 16) | (b[14] << 8) | b[15];
        uint32_t dst = ((uint32_t)b[16] << 24) | ((uint32_t)b[17] << 16) | (b[18] << 8) | b[19];
        if (b[9] == IP_PROTO_ICMP && l4len >= 4) {
            fz_put16(l4 + 2, 0);
            fz_put16(l4 + 2, inet_checksum(l4, l4len));
        } else if (b[9] == IP_PROTO_UDP && l4len >= 8) {
            size_t ulen = fz_get16(l4 + 4);
            if (ulen >= 8 && ulen <= l4len) {
                fz_put16(l4 + 6, 0);
                uint16_t ck = csum_finish(
                    csum_add(csum_pseudo(src, dst, IP_PROTO_UDP, (uint16_t)ulen), l4, ulen));
                fz_put16(l4 + 6, ck ? ck : 0xffff);
            }
        } else if (b[9] == IP_PROTO_TCP && l4len >= 18) {
            fz_put16(l4 + 16, 0);
            fz_put16(l4 + 16,
                     csum_finish(csum_add(csum_pseudo(src, dst, IP_PROTO_TCP, (uint16_t)l4len), l4,
                                          l4len)));
        }
    }
    if (flags & 4) {
        fz_put16(b + 10, 0);
        fz_put16(b + 10, inet_checksum(b, ihl));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t rbuf[VNET_RX_BUF];
    if (size < 1) return 0;
    bool vnet = data[0] & 2;
    uint8_t *pkt = vnet ? rbuf + VNET_HDR_LEN : rbuf;
    struct fz_ctx c = {.mtu = (data[0] & 1) ? 576 : 1500};
    struct stack_config cfg;
    stack_config_defaults(&cfg);
    cfg.addr = FZ_US;
    cfg.mtu = c.mtu;
    cfg.udp_echo_port = 9000;
    cfg.tcp_echo_port = 7;
    cfg.output = fz_output;
    cfg.event = fz_event;
    cfg.trace = fz_trace;
    cfg.ctx = &c;
    if (vnet) {
        cfg.output_meta = fz_output_meta;
        cfg.tx_offload = true;
    }
    struct stack *st = stack_new(&cfg);
    if (!st) abort();
    int us = stack_udp_bind(st, 5000);
    if (us <= 0) abort();

    stack_time_t now = 1000;
    size_t pos = 1;
    for (int rec = 0; rec < FZ_MAX_RECORDS && pos + 4 <= size; rec++) {
        uint8_t flags = data[pos];
        now += (stack_time_t)data[pos + 1] * 37;
        size_t len = fz_get16(data + pos + 2);
        pos += 4;
        if (len > size - pos) len = size - pos;
        if (vnet) {
            /* the header, then the packet (fixed up as without it) */
            memcpy(rbuf, data + pos, len);
            pos += len;
            if (len > VNET_HDR_LEN) fz_fixup(pkt, len - VNET_HDR_LEN, flags);
            struct vnet_rx rx;
            if (vnet_rx_prepare(rbuf, len, sizeof rbuf, &rx) == VNET_OK) {
                if (rx.pkt != pkt || rx.len != len - VNET_HDR_LEN) abort();
                struct stack_rx_meta m = {.csum_ok = rx.csum_ok, .gso_size = rx.gso_size};
                stack_input_meta(st, rx.pkt, rx.len, now, &m);
            }
        } else {
            memcpy(pkt, data + pos, len);
            pos += len;
            fz_fixup(pkt, len, flags);
            stack_input(st, pkt, len, now);
        }
        stack_poll(st, now);
        /* drain the bound socket; a short buffer exercises truncation */
        uint8_t buf[64];
        uint32_t ra;
        uint16_t rp;
        long r;
        while ((r = stack_udp_recvfrom(st, us, buf, (flags & 8) ? 3 : sizeof buf, &ra, &rp)) >= 0)
            if ((size_t)r > sizeof buf || ra == 0) abort();
        stack_time_t d = stack_next_deadline(st);
        if (d != STACK_TIME_NEVER && d < now) abort(); /* a deadline in the past */
    }
    stack_poll(st, now + 600000);
    if (stack_stats(st)->ip_tx_packets != c.sent) abort();
    stack_free(st);
    return 0;
}
