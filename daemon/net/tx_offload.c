/* TCP segmentation offload at the IP output boundary (cfg.tx_offload).
 *
 * TCP builds and accounts for MSS-sized segments exactly as without offload: the
 * congestion window, the SACK scoreboard, RACK, RTT sampling and retransmission all see
 * one entry per segment. Only here, on the way out, are segments that a send burst
 * (tcp_output) emits back to back merged into one super-packet for the link to cut
 * again: consecutive sequence numbers, identical headers but for the sequence number
 * and PSH/FIN (carried by the last, which the link keeps only on the last segment),
 * each segment a full gso_size but the last. The super-packet is gathered in place in
 * the transmit buffer: the next segment is built right after it and its payload moved
 * down over its own header. What the link produces from it is byte for byte what the
 * core would have sent without offload (identification included: one per segment);
 * tests/unit/test_tx_offload.c checks exactly that. Checksums are left partial (the
 * pseudo-header sum), for the link to finish. */
#include <string.h>

#include "bytes.h"
#include "checksum.h"
#include "stack_internal.h"
#include "tcp.h"

void stack_link_out(struct stack *st, const uint8_t *pkt, size_t len, const struct stack_tx_meta *m)
{
    if (st->cfg.output_meta) {
        static const struct stack_tx_meta none;
        st->cfg.output_meta(st->cfg.ctx, pkt, len, m ? m : &none);
    } else {
        st->cfg.output(st->cfg.ctx, pkt, len);
    }
}

void stack_gso_begin(struct stack *st)
{
    if (st->cfg.tx_offload) st->gso.open++;
}

void stack_gso_end(struct stack *st)
{
    if (st->gso.open && --st->gso.open) return;
    stack_gso_flush(st);
}

/* Room after the pending super-packet for one more segment of any size the MTU allows. */
static bool room_for_one(const struct stack *st)
{
    return IPV4_HDR_LEN + st->gso.len + st->cfg.mtu <= STACK_TX_MAX;
}

uint8_t *stack_gso_payload(struct stack *st)
{
    if (st->gso.open && room_for_one(st)) return st->tx + IPV4_HDR_LEN + st->gso.len;
    stack_gso_flush(st);
    return st->tx + IPV4_HDR_LEN;
}

static void send_tcp(struct stack *st, uint32_t dst, uint16_t id, size_t l4_len, uint16_t hl,
                     uint16_t gso_size, uint16_t segs)
{
    ip_build(st->tx, st->cfg.addr, dst, IP_PROTO_TCP, id, l4_len);
    struct stack_tx_meta m = {.csum_partial = true,
                              .csum_start = IPV4_HDR_LEN,
                              .csum_offset = 16,
                              .gso_size = gso_size,
                              .segs = segs,
                              .hdr_len = (uint16_t)(IPV4_HDR_LEN + hl)};
    stack_link_out(st, st->tx, IPV4_HDR_LEN + l4_len, &m);
}

void stack_gso_flush(struct stack *st)
{
    struct stack_gso *g = &st->gso;
    if (!g->len) return;
    uint32_t len = g->len;
    g->len = 0;
    uint16_t gso_size = 0;
    if (g->segs > 1) {
        /* the partial checksum covers the whole super-packet's length */
        uint8_t *th = st->tx + IPV4_HDR_LEN;
        put16(th + 16, csum_fold(csum_pseudo(st->cfg.addr, g->dst, IP_PROTO_TCP, (uint16_t)len)));
        gso_size = g->size;
        st->stats.gso_tx_packets++;
        st->stats.gso_tx_segments += g->segs;
        TRACE(st, "[IP  ] send super-packet len=%u gso=%u segs=%u", IPV4_HDR_LEN + len, g->size,
              g->segs);
    }
    send_tcp(st, g->dst, g->id, len, g->hl, gso_size, g->segs);
}

/* Whether the segment seg (l4_len bytes, to dst) continues the pending super-packet. */
static bool continues(const struct stack *st, uint32_t dst, const uint8_t *seg, size_t l4_len)
{
    const struct stack_gso *g = &st->gso;
    const uint8_t *th = st->tx + IPV4_HDR_LEN;
    size_t hl = (size_t)(seg[12] >> 4) * 4;
    if (dst != g->dst || hl != g->hl || l4_len <= hl || g->last != g->size) return false;
    size_t pay = l4_len - hl;
    if (pay > g->size || IPV4_HDR_LEN + (size_t)g->len + pay > 65535) return false;
    if ((seg[13] & (uint8_t) ~(TH_PSH | TH_FIN)) != TH_ACK) return false;
    if (get32(seg + 4) != g->seq_end) return false;
    /* ports; ack and data offset; window; urgent pointer; options */
    return !memcmp(th, seg, 4) && !memcmp(th + 8, seg + 8, 5) && !memcmp(th + 14, seg + 14, 2) &&
           !memcmp(th + 18, seg + 18, 2) && !memcmp(th + 20, seg + 20, hl - 20);
}

void stack_gso_tcp(struct stack *st, uint32_t dst, size_t l4_len)
{
    struct stack_gso *g = &st->gso;
    uint8_t *seg = st->tx + IPV4_HDR_LEN + g->len; /* where stack_tx_payload had it built */
    st->stats.ip_tx_packets++;
    if (g->len) {
        if (continues(st, dst, seg, l4_len)) {
            size_t hl = g->hl, pay = l4_len - hl;
            uint8_t flags = seg[13];
            memmove(seg, seg + hl, pay);
            st->tx[IPV4_HDR_LEN + 13] = flags; /* PSH/FIN: the link keeps them on the last */
            g->len += (uint32_t)pay;
            g->seq_end += (uint32_t)pay;
            g->last = (uint16_t)pay;
            g->segs++;
            stack_ip_id(st, dst, IP_PROTO_TCP); /* the link numbers segments id, id+1, ... */
            if (flags != TH_ACK || pay < g->size || !room_for_one(st)) stack_gso_flush(st);
            return;
        }
        stack_gso_flush(st);
        memmove(st->tx + IPV4_HDR_LEN, seg, l4_len);
        seg = st->tx + IPV4_HDR_LEN;
    }
    size_t hl = (size_t)(seg[12] >> 4) * 4;
    uint16_t id = stack_ip_id(st, dst, IP_PROTO_TCP);
    if (g->open && seg[13] == TH_ACK && l4_len > hl) {
        /* a full-sized segment that more may follow: keep it */
        g->len = (uint32_t)l4_len;
        g->dst = dst;
        g->hl = (uint16_t)hl;
        g->size = g->last = (uint16_t)(l4_len - hl);
        g->segs = 1;
        g->seq_end = get32(seg + 4) + (uint32_t)(l4_len - hl);
        g->id = id;
        if (room_for_one(st)) return;
        stack_gso_flush(st);
        return;
    }
    send_tcp(st, dst, id, l4_len, (uint16_t)hl, 0, 1);
}

void stack_set_tx_offload(struct stack *st, bool on)
{
    stack_gso_flush(st);
    st->cfg.tx_offload = on && st->cfg.output_meta;
    if (!st->cfg.tx_offload) st->gso.open = 0;
}
