/* The core's entry points: configuration, IP input dispatch, IP output, handles, trace. */
#include "stack.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "checksum.h"
#include "ip6.h"
#include "icmp.h"
#include "ip_frag.h"
#include "stack_internal.h"

void stack_config_defaults(struct stack_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->mtu = 1500;
    cfg->msl_ms = 30000;
    cfg->rto_initial_ms = 1000;
    cfg->rto_min_ms = 200;
    cfg->rto_max_ms = 60000;
    cfg->max_retries = 15;
    cfg->syn_retries = 6;
    cfg->rcv_buf = 256 * 1024;
    cfg->snd_buf = 256 * 1024;
    cfg->sack = true;
    cfg->timestamps = true;
    cfg->frto = true;
    cfg->cc = STACK_CC_CUBIC;
    cfg->max_conns = 65536;
    cfg->time_wait_max = 32768;
    cfg->challenge_ack_limit = 1000;
    cfg->max_orphans = 16384;
    cfg->orphan_retries = 8;
    cfg->syn_queue_max = 4096;
    cfg->syncookies = 1;
    cfg->mem_max = 1ull << 30;
    cfg->frag_mem_max = IPF_DEFAULT_MEM;
    cfg->frag_timeout_ms = IPF_DEFAULT_TIMEOUT;
}

/* A key of its own for each use of the secret: (secret, label) through SipHash. */
static void derive_key(const uint8_t secret[16], const char *label, uint64_t out[2])
{
    uint64_t k[2];
    memcpy(k, secret, sizeof k);
    char m[16] = {0};
    size_t n = strlen(label) < 15 ? strlen(label) : 15;
    memcpy(m, label, n);
    out[0] = siphash24(k, m, sizeof m);
    m[15] = 1;
    out[1] = siphash24(k, m, sizeof m);
}

struct stack *stack_new(const struct stack_config *cfg)
{
    if (cfg->mtu < 576) return NULL;
    struct stack *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    st->cfg = *cfg;
    if (!cfg->output_meta) st->cfg.tx_offload = false; /* the link could not be told */
    st->icmp_tokens = 10;
    st->icmp6_tokens = 10;
    mem_init(&st->mem, cfg->mem_max, &st->stats, &st->now);
    uint64_t fkey[2];
    derive_key(cfg->isn_secret, "ip-frag", fkey);
    derive_key(cfg->isn_secret, "ip-id", st->id_key);
    for (uint32_t i = 0; i < STACK_IP_ID_BUCKETS; i++)
        st->ip_ids[i] = (uint16_t)siphash24(st->id_key, &i, sizeof i);
    st->frag =
        ip_frag_new(cfg->frag_mem_max, cfg->frag_timeout_ms, (const uint8_t *)fkey, &st->stats);
    st->frag6 =
        ip_frag_new(cfg->frag_mem_max, IPF6_DEFAULT_TIMEOUT, (const uint8_t *)fkey, &st->stats);
    st->udp = udp_create(st);
    st->tcp = tcp_create(st);
    if (st->frag6) ip_frag_set_drop_counter(st->frag6, &st->stats.ip6_drop_fragment);
    if (!st->udp || !st->tcp || !st->frag || !st->frag6) {
        stack_free(st);
        return NULL;
    }
    return st;
}

void stack_free(struct stack *st)
{
    if (!st) return;
    if (st->tcp) tcp_destroy(st);
    if (st->udp) udp_destroy(st);
    ip_frag_free(st->frag);
    ip_frag_free(st->frag6);
    free(st->handles);
    free(st);
}

const struct stack_stats *stack_stats(const struct stack *st)
{
    return &st->stats;
}

unsigned stack_default_cc(const struct stack *st)
{
    return st->cfg.cc;
}

static int bad_source(uint32_t src, uint32_t self)
{
    /* RFC 1122 3.2.1.3: never answer 0.0.0.0, broadcast, multicast or class E sources;
     * nor our own address, which no packet from the link can carry (a "LAND" SYN, from
     * us to us, would have us answer ourselves; Linux drops it as a martian too). */
    return src == 0 || src == 0xffffffffu || (src >> 28) >= 0xe || src == self;
}

static void deliver(struct stack *st, const struct ip_view *ip)
{
    switch (ip->proto) {
    case IP_PROTO_ICMP:
        icmp_input(st, ip);
        break;
    case IP_PROTO_UDP:
        udp_input(st, ip);
        break;
    case IP_PROTO_TCP:
        tcp_input(st, ip);
        break;
    default:
        st->stats.ip_drop_proto++;
        TRACE(st, "[IP  ] drop reason=protocol %u unsupported", ip->proto);
        icmp_send_unreach(st, ip, 2); /* protocol unreachable */
        break;
    }
}

/* A fragment for us: held until its datagram is complete (ip_frag.c). Only protocols we
 * deliver are reassembled: others would take memory for a protocol unreachable. */
static void input_fragment(struct stack *st, const struct ip_view *ip)
{
    if (ip->proto != IP_PROTO_ICMP && ip->proto != IP_PROTO_UDP && ip->proto != IP_PROTO_TCP) {
        st->stats.ip_drop_proto++;
        st->stats.ip_drop_fragment++;
        TRACE(st, "[IP  ] drop reason=fragment of protocol %u unsupported", ip->proto);
        return;
    }
    TRACE(st, "[IP  ] fragment id=%u off=%u len=%zu%s", ip->id, ip->frag_off, ip->payload_len,
          ip->mf ? " MF" : "");
    const uint8_t *d = NULL;
    size_t dlen = 0;
    const char *why = "";
    struct ip_view whole;
    switch (ip_frag_input(st->frag, ip, st->now, &d, &dlen, &why)) {
    case IPF_HELD:
        return;
    case IPF_DROP:
        TRACE(st, "[IP  ] drop fragment id=%u reason=%s", ip->id, why);
        return;
    case IPF_COMPLETE:
        if (ip_parse(d, dlen, &whole) != IP_OK) return; /* cannot happen: built valid */
        TRACE(st, "[IP  ] reassembled id=%u len=%zu", whole.id, dlen);
        deliver(st, &whole);
        return;
    }
}

void stack_input(struct stack *st, const uint8_t *pkt, size_t len, stack_time_t now)
{
    stack_input_meta(st, pkt, len, now, NULL);
}

void stack_input_meta(struct stack *st, const uint8_t *pkt, size_t len, stack_time_t now,
                      const struct stack_rx_meta *m)
{
    struct ip_view ip;
    char a[16], b[16];

    st->now = now;
    if (len && (pkt[0] >> 4) == 6 && st->cfg.has_addr6) {
        /* no IPv6 reassembly: what reaches TCP is this packet, as the link judged it */
        st->rx_csum_ok = m && m->csum_ok;
        if (m && m->gso_size) {
            st->stats.gso_rx_packets++;
            st->stats.gso_rx_segments += (len - 40 + m->gso_size - 1) / m->gso_size;
        }
        ip6_input(st, pkt, len); /* icmp6.c */
        st->rx_csum_ok = false;
        return;
    }
    st->stats.ip_rx_packets++;
    enum ip_parse_result r = ip_parse(pkt, len, &ip);
    if (r != IP_OK) {
        static const char *const why[] = {
            [IP_ERR_SHORT] = "too short",       [IP_ERR_VERSION] = "bad version",
            [IP_ERR_IHL] = "bad IHL",           [IP_ERR_TOTAL_LEN] = "bad total length",
            [IP_ERR_CHECKSUM] = "bad checksum",
        };
        switch (r) {
        case IP_ERR_SHORT:
            st->stats.ip_drop_short++;
            break;
        case IP_ERR_VERSION:
            st->stats.ip_drop_version++;
            break;
        case IP_ERR_IHL:
            st->stats.ip_drop_ihl++;
            break;
        case IP_ERR_TOTAL_LEN:
            st->stats.ip_drop_total_len++;
            break;
        case IP_ERR_CHECKSUM:
            st->stats.ip_drop_checksum++;
            break;
        case IP_OK:
            break;
        }
        if (r == IP_ERR_VERSION)
            TRACE(st, "[IP  ] drop len=%zu reason=bad version (%u)", len, pkt[0] >> 4);
        else
            TRACE(st, "[IP  ] drop len=%zu reason=%s", len, why[r]);
        return;
    }
    if (ip.trailing) st->stats.ip_trailing_bytes++;
    if (m && m->gso_size) {
        st->stats.gso_rx_packets++;
        st->stats.gso_rx_segments += (ip.payload_len + m->gso_size - 1) / m->gso_size;
        TRACE(st, "[IP  ] recv %s -> %s proto=%s len=%zu gso=%u", ip_fmt(ip.src, a),
              ip_fmt(ip.dst, b), ip_proto_name(ip.proto), ip.hdr_len + ip.payload_len, m->gso_size);
    } else {
        TRACE(st, "[IP  ] recv %s -> %s proto=%s len=%zu", ip_fmt(ip.src, a), ip_fmt(ip.dst, b),
              ip_proto_name(ip.proto), ip.hdr_len + ip.payload_len);
    }
    ip.l4_csum_ok = m && m->csum_ok;
    if (ip.dst != st->cfg.addr) {
        st->stats.ip_drop_not_for_us++;
        TRACE(st, "[IP  ] drop reason=not for us");
        return;
    }
    if (bad_source(ip.src, st->cfg.addr)) {
        st->stats.ip_drop_bad_src++;
        TRACE(st, "[IP  ] drop reason=bad source");
        return;
    }
    if (ip.mf || ip.frag_off)
        input_fragment(st, &ip);
    else
        deliver(st, &ip);
}

void stack_poll(struct stack *st, stack_time_t now)
{
    st->now = now;
    struct ip_frag_expired e;
    while (ip_frag_expire(st->frag, now, &e)) {
        /* RFC 792 time exceeded, code 1: fragment reassembly time exceeded */
        struct ip_view q = {.src = ipa_v4(e.src),
                            .hdr = e.quote,
                            .hdr_len = e.hdr_len,
                            .payload = e.quote + e.hdr_len,
                            .payload_len = e.len - e.hdr_len};
        TRACE(st, "[IP  ] reassembly timeout id=%u", get16(e.quote + 4));
        if (icmp_send_error(st, &q, ICMP_TIME_EXCEEDED, 1)) st->stats.frag_time_exceeded_sent++;
    }
    while (ip_frag_expire(st->frag6, now, &e)) {
        /* RFC 8200 §4.5: time exceeded code 1, about the first fragment */
        struct ip6_view q = {.hdr = e.quote, .len = e.len};
        memcpy(q.src, e.quote + 8, 16);
        memcpy(q.dst, e.quote + 24, 16);
        TRACE(st, "[IP6 ] reassembly timeout id=%u", get32(e.quote + e.hdr_len - 4));
        uint64_t before = st->stats.icmp6_errors_sent;
        icmp6_send_error(st, &q, 3, 1, 0, false);
        if (st->stats.icmp6_errors_sent != before) st->stats.frag_time_exceeded_sent++;
    }
    tcp_poll(st);
    mem_poll(&st->mem, now);
    tcp_mem_wake(st);
}

stack_time_t stack_next_deadline(struct stack *st)
{
    stack_time_t d = tcp_next_deadline(st);
    stack_time_t m = mem_deadline(&st->mem);
    if (m < d) d = m;
    stack_time_t fr = ip_frag_deadline(st->frag);
    if (fr < d) d = fr;
    fr = ip_frag_deadline(st->frag6);
    if (fr < d) d = fr;
    if (tcp_mem_waiting(st) && st->now < d) d = st->now;
    return d;
}

bool stack_mem_trim_due(struct stack *st, stack_time_t now)
{
    return mem_trim_due(&st->mem, now);
}

uint16_t stack_ip_id(struct stack *st, uint32_t dst, uint8_t proto)
{
    uint8_t m[9];
    put32(m, st->cfg.addr);
    put32(m + 4, dst);
    m[8] = proto;
    uint32_t b = (uint32_t)siphash24(st->id_key, m, sizeof m) & (STACK_IP_ID_BUCKETS - 1);
    return st->ip_ids[b]++;
}

/* A packet built after a pending super-packet that is not TCP (no caller does that
 * today): the super-packet goes first, the packet moves down to its usual place. */
static void gso_settle(struct stack *st, size_t l4_len)
{
    uint8_t *at = st->tx + IPV4_HDR_LEN + st->gso.len;
    stack_gso_flush(st);
    memmove(st->tx + IPV4_HDR_LEN, at, l4_len);
}

void stack_tx_send(struct stack *st, uint32_t dst, uint8_t proto, size_t l4_len)
{
    if (proto == IP_PROTO_TCP && st->cfg.tx_offload) {
        stack_gso_tcp(st, dst, l4_len); /* tx_offload.c */
        return;
    }
    if (st->gso.len) gso_settle(st, l4_len);
    ip_build(st->tx, st->cfg.addr, dst, proto, stack_ip_id(st, dst, proto), l4_len);
    st->stats.ip_tx_packets++;
    stack_link_out(st, st->tx, IPV4_HDR_LEN + l4_len, NULL);
}

uint32_t stack_pseudo_sum(struct ip_addr src, struct ip_addr dst, uint8_t proto, uint32_t len)
{
    if (ipa_is_v4(src)) return csum_pseudo(ipa_v4(src), ipa_v4(dst), proto, (uint16_t)len);
    return ip6_pseudo_sum(src.b, dst.b, proto, len);
}

struct ip_addr stack_local_addr(const struct stack *st, struct ip_addr peer)
{
    return ipa_is_v4(peer) ? ipa_from_v4(st->cfg.addr) : ipa_from_v6(st->cfg.addr6);
}

bool stack_has_family(const struct stack *st, struct ip_addr a)
{
    return ipa_is_v4(a) || st->cfg.has_addr6;
}

void stack_tx_ip(struct stack *st, struct ip_addr dst, uint8_t proto, size_t l4_len)
{
    if (ipa_is_v4(dst))
        stack_tx_send(st, ipa_v4(dst), proto, l4_len);
    else
        stack_tx_send6(st, dst.b, proto, l4_len);
}

uint16_t stack_link_mss(const struct stack *st, struct ip_addr a)
{
    size_t h = ipa_hdr_len(a) + 20;
    return (uint16_t)(st->cfg.mtu > h + 40 ? st->cfg.mtu - h : 536);
}

static void tx_fragment(void *ctx, const uint8_t *pkt, size_t len)
{
    struct stack *st = ctx;
    uint16_t ff = get16(pkt + 6);
    TRACE(st, "[IP  ] send fragment id=%u off=%u len=%zu%s", get16(pkt + 4), (ff & IP_OFFMASK) * 8u,
          len - IPV4_HDR_LEN, (ff & IP_MF) ? " MF" : "");
    st->stats.ip_tx_packets++;
    st->stats.frag_tx_fragments++;
    stack_link_out(st, pkt, len, NULL);
}

void stack_tx_dgram(struct stack *st, uint32_t dst, uint8_t proto, size_t l4_len, bool may_fragment)
{
    if (IPV4_HDR_LEN + l4_len <= st->cfg.mtu) {
        stack_tx_send(st, dst, proto, l4_len);
        return;
    }
    if (st->gso.len) gso_settle(st, l4_len);
    if (!may_fragment || IPV4_HDR_LEN + l4_len > IPF_MAX_DGRAM) {
        st->stats.frag_tx_df_drops++;
        TRACE(st, "[IP  ] drop len=%zu reason=larger than the MTU, not to be fragmented",
              IPV4_HDR_LEN + l4_len);
        return;
    }
    st->stats.frag_tx_datagrams++;
    ip_fragment(st->tx, l4_len, st->cfg.addr, dst, proto, stack_ip_id(st, dst, proto), st->cfg.mtu,
                tx_fragment, st);
}

void stack_trace(struct stack *st, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    st->cfg.trace(st->cfg.ctx, line);
}

/* ---- handles: slot index in the low 20 bits, a generation above, so a stale handle
 * held by a client never reaches a newer socket that reused the slot. ---- */
#define HANDLE_SLOT_BITS 20
#define HANDLE_SLOT_MASK ((1u << HANDLE_SLOT_BITS) - 1)
#define HANDLE_GEN_MASK 0x7ffu

int handle_alloc(struct stack *st, enum handle_type type, void *obj)
{
    uint32_t slot;
    if (st->free_head) {
        slot = st->free_head - 1;
        st->free_head = st->handles[slot].next_free;
    } else {
        if (st->nhandles == st->cap_handles) {
            uint32_t ncap = st->cap_handles ? st->cap_handles * 2 : 64;
            if (ncap > HANDLE_SLOT_MASK) return -ENOMEM;
            struct handle_slot *n = realloc(st->handles, ncap * sizeof *n);
            if (!n) return -ENOMEM;
            st->handles = n;
            st->cap_handles = ncap;
        }
        slot = st->nhandles++;
        st->handles[slot].gen = 0;
    }
    struct handle_slot *s = &st->handles[slot];
    s->gen = (uint16_t)((s->gen + 1) & HANDLE_GEN_MASK);
    if (s->gen == 0) s->gen = 1;
    s->type = (uint8_t)type;
    s->obj = obj;
    s->next_free = 0;
    return (int)(((uint32_t)s->gen << HANDLE_SLOT_BITS) | slot);
}

static struct handle_slot *slot_of(struct stack *st, int h)
{
    if (h <= 0) return NULL;
    uint32_t slot = (uint32_t)h & HANDLE_SLOT_MASK;
    uint32_t gen = (uint32_t)h >> HANDLE_SLOT_BITS;
    if (slot >= st->nhandles) return NULL;
    struct handle_slot *s = &st->handles[slot];
    if (s->type == HANDLE_FREE || s->gen != gen) return NULL;
    return s;
}

void *handle_get(struct stack *st, int h, enum handle_type type)
{
    struct handle_slot *s = slot_of(st, h);
    return s && s->type == type ? s->obj : NULL;
}

void handle_release(struct stack *st, int h)
{
    struct handle_slot *s = slot_of(st, h);
    if (!s) return;
    s->type = HANDLE_FREE;
    s->obj = NULL;
    s->next_free = st->free_head;
    st->free_head = (uint32_t)(s - st->handles) + 1;
}
