/* TCP segmentation offload in the core (daemon/net/tx_offload.c) and GSO super-packets
 * on input. The link side is played by vnet_segment, which cuts a super-packet and
 * finishes checksums as the kernel does: with offload on, what reaches the wire must be
 * byte for byte what the core sends with it off, lossy link and retransmissions
 * included, while the core hands out far fewer, larger packets. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "bytes.h"
#include "net/vnet.h"
#include "tcp.h"
#include "tcp_harness.h"

#define A_ADDR TH_ADDR(10, 0, 0, 1)
#define B_ADDR TH_ADDR(10, 0, 0, 2)

static uint64_t wire_hash, wire_pkts, gso_pkts, gso_segs, max_len;
static uint8_t scratch[65536];

static void wire(void *ctx, const uint8_t *pkt, size_t len)
{
    struct th_engine *e = ctx;
    uint64_t h = wire_hash ^ (uint64_t)e->side;
    for (size_t i = 0; i < len; i++)
        h = (h ^ pkt[i]) * 0x100000001b3ull;
    wire_hash = h;
    wire_pkts++;
    e->cfg.output(e, pkt, len); /* the harness: to the link */
}

static void link_meta(void *ctx, const uint8_t *pkt, size_t len, const struct stack_tx_meta *m)
{
    uint8_t b[VNET_HDR_LEN];
    vnet_tx_hdr(b, pkt, m);
    struct vnet_hdr h;
    vnet_hdr_decode(b, &h);
    if (len > max_len) max_len = len;
    int n = vnet_segment(pkt, len, &h, scratch, wire, ctx);
    cr_assert_gt(n, 0);
    if (m->gso_size) {
        cr_assert(m->csum_partial);
        cr_assert_eq(n, m->segs);
        cr_assert_geq(n, 2);
        cr_assert_eq(m->hdr_len, 20 + (pkt[32] >> 4) * 4);
        gso_pkts++;
        gso_segs += (uint64_t)n;
    }
}

struct side {
    struct th_engine *e;
    int h;
    uint64_t sent, rcvd;
    bool closed, eof;
};

static void pump(struct side *s, uint64_t total, uint64_t now)
{
    if (s->h <= 0) return;
    uint8_t buf[16384];
    while (s->sent < total) {
        size_t n = total - s->sent < sizeof buf ? (size_t)(total - s->sent) : sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = th_pattern(7, s->sent + i);
        long r = stack_tcp_send(s->e->st, s->h, buf, n, now);
        if (r <= 0) break;
        s->sent += (uint64_t)r;
    }
    if (s->sent == total && !s->closed && total) {
        stack_tcp_close(s->e->st, s->h, now);
        s->closed = true;
        s->h = 0;
    }
}

static void drain(struct side *s, uint64_t now)
{
    if (s->h <= 0) return;
    uint8_t buf[16384];
    for (;;) {
        long r = stack_tcp_recv(s->e->st, s->h, buf, sizeof buf, now);
        if (r == 0) {
            s->eof = true;
            stack_tcp_close(s->e->st, s->h, now);
            s->h = 0;
            return;
        }
        if (r < 0) return;
        for (long i = 0; i < r; i++)
            cr_assert_eq(buf[i], th_pattern(7, s->rcvd + (uint64_t)i), "byte %llu",
                         (unsigned long long)(s->rcvd + (uint64_t)i));
        s->rcvd += (uint64_t)r;
    }
}

struct result {
    uint64_t hash, pkts, gso_pkts, gso_segs, done_at, max_len;
    uint64_t tx_segments, retransmits, fast_retransmits, rack, ip_tx;
};

/* A sends total bytes to B over the link; both with offload on or off. */
static struct result transfer(bool offload, unsigned loss, uint64_t seed, uint64_t total)
{
    wire_hash = 0xcbf29ce484222325ull;
    wire_pkts = gso_pkts = gso_segs = max_len = 0;
    struct stack_config ca, cb;
    th_config(&ca, A_ADDR);
    th_config(&cb, B_ADDR);
    cb.isn_secret[0] ^= 0x55;
    ca.output_meta = cb.output_meta = link_meta; /* both ways through vnet_segment */
    ca.tx_offload = cb.tx_offload = offload;
    struct th_engine *a = th_new(&ca, false), *b = th_new(&cb, false);
    struct th_link_cfg lc = {.seed = seed, .loss_pct = loss, .rtt_ms = 10};
    struct th_link *l = th_link_new(a, b, &lc);
    int lh = stack_tcp_listen(b->st, 80, 4);
    cr_assert_gt(lh, 0);
    struct side sa = {.e = a}, sb = {.e = b};
    sa.h = stack_tcp_connect(a->st, B_ADDR, 80, 0, 0);
    cr_assert_gt(sa.h, 0);
    struct result r = {0};
    while (th_link_step(l, 120000)) {
        uint64_t now = th_link_now(l);
        if (sb.h <= 0 && !sb.eof) {
            int h = stack_tcp_accept(b->st, lh);
            if (h > 0) sb.h = h;
        }
        pump(&sa, total, now);
        drain(&sb, now);
        if (sb.eof) {
            r.done_at = now;
            break;
        }
    }
    cr_assert(sb.eof, "offload %d loss %u: B got %llu of %llu", offload, loss,
              (unsigned long long)sb.rcvd, (unsigned long long)total);
    cr_assert_eq(sb.rcvd, total);
    const struct stack_stats *x = stack_stats(a->st);
    r.hash = wire_hash;
    r.pkts = wire_pkts;
    r.gso_pkts = gso_pkts;
    r.gso_segs = gso_segs;
    r.max_len = max_len;
    r.tx_segments = x->tcp_tx_segments;
    r.retransmits = x->tcp_retransmits;
    r.fast_retransmits = x->tcp_fast_retransmits;
    r.rack = x->tcp_rack_detections;
    r.ip_tx = x->ip_tx_packets;
    cr_assert_eq(x->gso_tx_packets, gso_pkts);
    cr_assert_eq(x->gso_tx_segments, gso_segs);
    th_link_free(l);
    th_free(a);
    th_free(b);
    return r;
}

static void same_wire(unsigned loss, uint64_t seed, uint64_t total)
{
    struct result off = transfer(false, loss, seed, total);
    struct result on = transfer(true, loss, seed, total);
    cr_log_info("loss %u%%: %llu packets on the wire, %llu super-packets carrying %llu of them "
                "(largest %llu bytes), %llu fast retransmits, %llu timeouts, done at %llu ms",
                loss, (unsigned long long)on.pkts, (unsigned long long)on.gso_pkts,
                (unsigned long long)on.gso_segs, (unsigned long long)on.max_len,
                (unsigned long long)on.fast_retransmits, (unsigned long long)on.retransmits,
                (unsigned long long)on.done_at);
    cr_assert_eq(off.gso_pkts, 0);
    cr_assert_eq(off.max_len, 1500);
    cr_assert_gt(on.gso_pkts, 0);
    /* at least the initial window (10 segments) in one; ACK clocking makes most smaller */
    cr_assert_gt(on.max_len, 14000, "largest super-packet %llu", (unsigned long long)on.max_len);
    cr_assert_leq(on.max_len, 65535);
    /* the same packets, in the same order, byte for byte; the same TCP accounting */
    cr_assert_eq(on.pkts, off.pkts);
    cr_assert_eq(on.hash, off.hash, "the wire differs with offload on");
    cr_assert_eq(on.done_at, off.done_at);
    cr_assert_eq(on.tx_segments, off.tx_segments);
    cr_assert_eq(on.ip_tx, off.ip_tx);
    cr_assert_eq(on.retransmits, off.retransmits);
    cr_assert_eq(on.fast_retransmits, off.fast_retransmits);
    cr_assert_eq(on.rack, off.rack);
}

Test(tx_offload, lossless_bulk_is_the_same_wire_in_fewer_packets)
{
    same_wire(0, 1, 4u << 20);
}

Test(tx_offload, lossy_bulk_with_recovery_is_the_same_wire)
{
    struct result on = transfer(true, 3, 5, 3u << 20);
    cr_assert_gt(on.fast_retransmits + on.rack, 0, "no loss recovery exercised");
    same_wire(3, 5, 3u << 20);
}

/* ---- input: a super-packet from the kernel is one large segment ---- */

#define PISN 7000u
static const uint8_t syn_opts[8] = {2, 4, 0x05, 0xb4, 1, 1, 4, 2}; /* MSS 1460, SACK-perm */

static struct th_engine *E;
static int H;
static uint32_t ISS;

static void open_conn(void)
{
    struct stack_config cfg;
    th_config(&cfg, TH_US);
    E = th_new(&cfg, true);
    H = stack_tcp_connect(E->st, TH_PEER, 80, 5555, 0);
    struct th_out o;
    cr_assert(th_pop(E, &o) && o.flags == THF_SYN);
    ISS = o.seq;
    E->now = 100;
    struct th_spec s = {.sport = 80,
                        .dport = 5555,
                        .seq = PISN,
                        .ack = ISS + 1,
                        .flags = THF_SYN | THF_ACK,
                        .wnd = 65535,
                        .opt = syn_opts,
                        .optlen = 8};
    th_seg(E, &s);
    cr_assert(th_pop(E, &o) && o.flags == THF_ACK);
    th_clear(E);
}

/* Feeds n bytes of data at seq as one packet, its checksum field spoiled (as a partial
 * one would be), with the given meta. */
static void super(uint32_t seq, size_t n, const struct stack_rx_meta *m)
{
    static uint8_t data[65536], pkt[70000];
    for (size_t i = 0; i < n; i++)
        data[i] = (uint8_t)(seq - PISN - 1 + i);
    struct th_spec s = {.sport = 80,
                        .dport = 5555,
                        .seq = seq,
                        .ack = ISS + 1,
                        .flags = THF_ACK,
                        .wnd = 65535,
                        .data = data,
                        .len = n};
    size_t len = th_build(&s, pkt, sizeof pkt);
    put16(pkt + 36, (uint16_t)(get16(pkt + 36) ^ 0x5a5a));
    stack_input_meta(E->st, pkt, len, E->now, m);
}

Test(tx_offload, a_super_packet_in_is_taken_whole_and_acked_at_once)
{
    open_conn();
    struct stack_rx_meta m = {.csum_ok = true, .gso_size = 1460};
    size_t n = 20 * 1460 + 100;
    super(PISN + 1, n, &m);
    char line[160];
    snprintf(line, sizeof line, "[IP  ] recv 10.0.0.1 -> 10.0.0.2 proto=TCP len=%zu gso=1460",
             n + 40);
    cr_assert(th_has_line(E, line), "no trace line: %s", line);
    /* several segments' worth: acknowledged now, not after the delayed-ACK timer */
    struct th_out o;
    cr_assert(th_pop(E, &o));
    cr_assert_eq(o.flags, THF_ACK);
    cr_assert_eq(o.ack, PISN + 1 + n);
    cr_assert_eq(o.len, 0);
    cr_assert_eq(th_pending(E), 0);
    const struct stack_stats *x = stack_stats(E->st);
    cr_assert_eq(x->gso_rx_packets, 1);
    cr_assert_eq(x->gso_rx_segments, 21);
    cr_assert_eq(x->tcp_drop_checksum, 0);
    static uint8_t got[65536];
    cr_assert_eq(stack_tcp_recv(E->st, H, got, sizeof got, E->now), (long)n);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(got[i], (uint8_t)i);
    th_free(E);
}

Test(tx_offload, one_segment_in_still_waits_for_the_second)
{
    open_conn();
    struct stack_rx_meta m = {.csum_ok = true};
    super(PISN + 1, 1460, &m);
    cr_assert_eq(th_pending(E), 0, "a single full segment is acknowledged late (delayed ACK)");
    super(PISN + 1 + 1460, 1460, &m);
    struct th_out o;
    cr_assert(th_pop(E, &o));
    cr_assert_eq(o.ack, PISN + 1 + 2920);
    th_free(E);
}

Test(tx_offload, without_the_links_word_a_spoiled_checksum_is_dropped)
{
    open_conn();
    struct stack_rx_meta m = {.csum_ok = false, .gso_size = 1460};
    super(PISN + 1, 10 * 1460, &m);
    super(PISN + 1, 10 * 1460, NULL);
    cr_assert_eq(th_pending(E), 0);
    const struct stack_stats *x = stack_stats(E->st);
    cr_assert_eq(x->tcp_drop_checksum, 2);
    cr_assert_eq(stack_tcp_recv_avail(E->st, H), 0);
    th_free(E);
}

Test(tx_offload, trace_names_the_super_packets_sent)
{
    struct stack_config cfg;
    th_config(&cfg, TH_US);
    cfg.tx_offload = true;
    cfg.output_meta = link_meta;
    E = th_new(&cfg, true);
    wire_pkts = gso_pkts = gso_segs = 0;
    H = stack_tcp_connect(E->st, TH_PEER, 80, 5555, 0);
    struct th_out o;
    cr_assert(th_pop(E, &o) && o.flags == THF_SYN);
    ISS = o.seq;
    E->now = 100;
    struct th_spec s = {.sport = 80,
                        .dport = 5555,
                        .seq = PISN,
                        .ack = ISS + 1,
                        .flags = THF_SYN | THF_ACK,
                        .wnd = 65535,
                        .opt = syn_opts,
                        .optlen = 8};
    th_seg(E, &s);
    cr_assert(th_pop(E, &o) && o.flags == THF_ACK);
    static uint8_t data[20000];
    cr_assert_eq(stack_tcp_send(E->st, H, data, sizeof data, E->now), (long)sizeof data);
    /* the initial window: 10 segments of 1460 in one super-packet, the last with PSH? no:
     * more data follows, so ten full ones */
    cr_assert_eq(gso_pkts, 1);
    cr_assert_eq(gso_segs, 10);
    cr_assert(th_has_line(E, "[IP  ] send super-packet len=14640 gso=1460 segs=10"));
    for (uint32_t i = 0; i < 10; i++) {
        cr_assert(th_pop(E, &o));
        cr_assert_eq(o.seq, ISS + 1 + 1460 * i);
        cr_assert_eq(o.len, 1460);
        cr_assert_eq(o.flags, THF_ACK);
    }
    cr_assert_eq(th_pending(E), 0);
    th_free(E);
}
