/* The IPv6 network layer's input (RFC 8200 §4: what ip6_parse reports is answered here)
 * and ICMPv6 (RFC 4443): echo, errors with their rate limit, and the Neighbour Discovery
 * and MLD messages of the kernel's side of the TUN link, counted and ignored (a
 * point-to-point link with no link-layer addresses needs no ND). UDP goes to udp6.c; TCP
 * over IPv6 is not done yet: a segment gets a parameter problem (unrecognized next
 * header), as RFC 8200 §4 asks of a node that does not handle a protocol. */
#include <string.h>

#include "bytes.h"
#include "checksum.h"
#include "ip6.h"
#include "ip.h"
#include "ip_frag.h"
#include "stack_internal.h"

#define ICMP6_DEST_UNREACH 1
#define ICMP6_PACKET_TOO_BIG 2
#define ICMP6_TIME_EXCEEDED 3
#define ICMP6_PARAM_PROBLEM 4
#define ICMP6_ECHO_REQUEST 128
#define ICMP6_ECHO_REPLY 129

static bool is_self(const struct stack *st, const uint8_t a[16])
{
    return memcmp(a, st->cfg.addr6, 16) == 0;
}

/* RFC 4443 §2.4 (f): a token bucket as for IPv4 (10 at once, one more per 100 ms). */
static bool error_allowed(struct stack *st)
{
    if (st->now >= st->icmp6_refill + 100) {
        uint64_t add = (st->now - st->icmp6_refill) / 100;
        st->icmp6_tokens = (uint32_t)(st->icmp6_tokens + add > 10 ? 10 : st->icmp6_tokens + add);
        st->icmp6_refill = st->now;
    }
    if (st->icmp6_tokens == 0) return false;
    st->icmp6_tokens--;
    return true;
}

/* RFC 8200 §4.5 source fragmentation of the l4_len bytes at tx + 40: each fragment is
 * the fixed header, a fragment header and at most (MTU - 48) & ~7 bytes. The payload is
 * moved 8 bytes up first, so that every fragment's 48 bytes of headers fit in front of
 * its data (over data already sent). */
static void tx_fragments6(struct stack *st, const uint8_t dst[16], uint8_t nh, size_t l4_len)
{
    uint8_t m[20];
    memcpy(m, dst, 16);
    put32(m + 16, st->frag6_seq++);
    uint32_t id = (uint32_t)siphash24(st->id_key, m, sizeof m); /* RFC 7739: unpredictable */
    uint8_t *data = st->tx + IPV6_HDR_LEN + 8;
    memmove(data, st->tx + IPV6_HDR_LEN, l4_len);
    size_t chunk = ((size_t)st->cfg.mtu - IPV6_HDR_LEN - 8) & ~(size_t)7;
    st->stats.frag_tx_datagrams++;
    for (size_t off = 0; off < l4_len; off += chunk) {
        size_t part = l4_len - off < chunk ? l4_len - off : chunk;
        bool more = off + part < l4_len;
        uint8_t *h = data + off - IPV6_HDR_LEN - 8;
        ip6_build(h, st->cfg.addr6, dst, IP6_NH_FRAGMENT, 8 + part);
        h[40] = nh;
        h[41] = 0;
        put16(h + 42, (uint16_t)(off | (more ? 1 : 0)));
        put32(h + 44, id);
        TRACE(st, "[IP6 ] send fragment id=%u off=%zu len=%zu%s", id, off, part, more ? " M" : "");
        st->stats.ip6_tx_packets++;
        st->stats.frag_tx_fragments++;
        stack_link_out(st, h, IPV6_HDR_LEN + 8 + part, NULL);
    }
}

void stack_tx_send6(struct stack *st, const uint8_t dst[16], uint8_t nh, size_t l4_len)
{
    if (IPV6_HDR_LEN + l4_len > st->cfg.mtu) {
        if (nh == IP_PROTO_TCP || IPV6_HDR_LEN + 8 + l4_len > STACK_TX_MAX || l4_len > 65535) {
            st->stats.frag_tx_df_drops++;
            return;
        }
        tx_fragments6(st, dst, nh, l4_len);
        return;
    }
    ip6_build(st->tx, st->cfg.addr6, dst, nh, l4_len);
    st->stats.ip6_tx_packets++;
    if (nh == IP_PROTO_TCP && st->cfg.tx_offload) {
        /* tcp_output left the checksum partial (one segment each: no merging over IPv6) */
        struct stack_tx_meta m = {
            .csum_partial = true,
            .csum_start = IPV6_HDR_LEN,
            .csum_offset = 16,
            .segs = 1,
            .hdr_len = (uint16_t)(IPV6_HDR_LEN + (st->tx[IPV6_HDR_LEN + 12] >> 4) * 4)};
        stack_link_out(st, st->tx, IPV6_HDR_LEN + l4_len, &m);
        return;
    }
    stack_link_out(st, st->tx, IPV6_HDR_LEN + l4_len, NULL);
}

/* An ICMPv6 error about the packet v (RFC 4443 §2.4): never to a multicast or unspecified
 * source (e.5), to a multicast destination only when mcast_ok (e.3), never about an ICMPv6
 * error (e.1); quotes as much of the packet as keeps the error within 1280 bytes. */
void icmp6_send_error(struct stack *st, const struct ip6_view *v, uint8_t type, uint8_t code,
                      uint32_t param, bool mcast_ok)
{
    if (ip6_is_multicast(v->src) || ip6_is_unspecified(v->src)) return;
    if (ip6_is_multicast(v->dst) && !mcast_ok) return;
    if (!error_allowed(st)) {
        st->stats.icmp6_ratelimited++;
        return;
    }
    size_t quote = v->len;
    if (quote > IPV6_MIN_MTU - IPV6_HDR_LEN - 8) quote = IPV6_MIN_MTU - IPV6_HDR_LEN - 8;
    uint8_t *out = stack_tx_payload6(st);
    out[0] = type;
    out[1] = code;
    put16(out + 2, 0);
    put32(out + 4, param);
    memcpy(out + 8, v->hdr, quote);
    uint32_t s = ip6_pseudo_sum(st->cfg.addr6, v->src, IP6_NH_ICMPV6, (uint32_t)(8 + quote));
    put16(out + 2, csum_finish(csum_add(s, out, 8 + quote)));
    st->stats.icmp6_errors_sent++;
    TRACE(st, "[ICMP6] send %s code=%u param=%u len=%zu",
          type == ICMP6_PARAM_PROBLEM ? "parameter problem" : "error", code, param, quote);
    stack_tx_send6(st, v->src, IP6_NH_ICMPV6, 8 + quote);
}

static void icmp6_input(struct stack *st, const struct ip6_view *v)
{
    const uint8_t *m = v->payload;
    size_t n = v->payload_len;
    st->stats.icmp6_rx++;
    if (n < 8) {
        st->stats.icmp6_drop_short++;
        TRACE(st, "[ICMP6] drop len=%zu reason=too short", n);
        return;
    }
    uint32_t s = ip6_pseudo_sum(v->src, v->dst, IP6_NH_ICMPV6, (uint32_t)n);
    if (csum_finish(csum_add(s, m, n)) != 0) {
        st->stats.icmp6_drop_checksum++;
        TRACE(st, "[ICMP6] drop len=%zu reason=bad checksum", n);
        return;
    }
    uint8_t type = m[0], code = m[1];
    switch (type) {
    case ICMP6_ECHO_REQUEST:
        if (code != 0 || ip6_is_multicast(v->dst) || ip6_is_unspecified(v->src)) break;
        st->stats.icmp6_echo_requests++;
        TRACE(st, "[ICMP6] recv echo request id=%u seq=%u len=%zu", get16(m + 4), get16(m + 6),
              n - 8);
        uint8_t *out = stack_tx_payload6(st);
        memmove(out, m, n);
        out[0] = ICMP6_ECHO_REPLY;
        put16(out + 2, 0);
        s = ip6_pseudo_sum(st->cfg.addr6, v->src, IP6_NH_ICMPV6, (uint32_t)n);
        put16(out + 2, csum_finish(csum_add(s, out, n)));
        st->stats.icmp6_echo_replies_sent++;
        TRACE(st, "[ICMP6] send echo reply id=%u seq=%u len=%zu", get16(m + 4), get16(m + 6),
              n - 8);
        stack_tx_send6(st, v->src, IP6_NH_ICMPV6, n);
        return;
    case 130: /* MLD query, report, done (RFC 2710); MLDv2 report (RFC 3810) */
    case 131:
    case 132:
    case 143:
        st->stats.icmp6_mld_ignored++;
        TRACE(st, "[ICMP6] recv MLD type=%u (ignored)", type);
        return;
    case 133: /* router and neighbour solicitations and advertisements, redirect (RFC 4861) */
    case 134:
    case 135:
    case 136:
    case 137:
        st->stats.icmp6_nd_ignored++;
        TRACE(st, "[ICMP6] recv neighbour discovery type=%u (ignored)", type);
        return;
    case ICMP6_PACKET_TOO_BIG:
        /* RFC 8201 §4: the MTU (32 bits) after the type, code and checksum, then as much
         * of the packet as fitted; only TCP keeps a path MTU (tcp_pmtu.c) */
        st->stats.icmp6_errors_rx++;
        st->stats.icmp6_packet_too_big_rx++;
        TRACE(st, "[ICMP6] recv packet too big mtu=%u", get32(m + 4));
        tcp_icmp6_packet_too_big(st, m + 8, n - 8, get32(m + 4));
        return;
    case ICMP6_DEST_UNREACH:
    case ICMP6_TIME_EXCEEDED:
    case ICMP6_PARAM_PROBLEM:
        st->stats.icmp6_errors_rx++;
        TRACE(st, "[ICMP6] recv error type=%u code=%u (ignored)", type, code);
        return;
    default:
        break;
    }
    st->stats.icmp6_other_types++;
    TRACE(st, "[ICMP6] recv type=%u code=%u len=%zu (ignored)", type, code, n - 8);
}

static void ip6_input_pkt(struct stack *st, const uint8_t *pkt, size_t len, bool reassembled);

/* RFC 7112: the first fragment holds the whole header chain, up to and including the
 * upper-layer header (its fixed part). */
static bool first_fragment_whole(const struct ip6_view *v)
{
    const uint8_t *p = v->payload;
    size_t n = v->payload_len, off = 0;
    uint8_t nh = v->nh;
    for (unsigned i = 0; i < IP6_EXT_MAX; i++) {
        if (nh != IP6_NH_DSTOPTS && nh != IP6_NH_ROUTING) break;
        if (off + 8 > n) return false;
        size_t hl = ((size_t)p[off + 1] + 1) * 8;
        if (off + hl > n) return false;
        nh = p[off];
        off += hl;
    }
    size_t need = nh == IP_PROTO_TCP ? 20 : (nh == IP_PROTO_UDP || nh == IP6_NH_ICMPV6) ? 8 : 0;
    return off + need <= n;
}

/* A fragment for us (RFC 8200 §4.5): checked, then held until its packet is whole. */
static void input_fragment6(struct stack *st, const struct ip6_view *v, bool mcast_ok)
{
    (void)mcast_ok;
    size_t unfrag = v->frag_at; /* bytes before the fragment header */
    TRACE(st, "[IP6 ] fragment id=%u off=%u len=%zu%s", v->frag_id, v->frag_off, v->payload_len,
          v->frag_mf ? " M" : "");
    if (v->frag_mf && (v->payload_len & 7)) {
        /* §4.5: not a multiple of 8 and not the last: code 0 at the payload length */
        st->stats.frag_bad++;
        st->stats.ip6_drop_fragment++;
        st->stats.ip6_param_problems++;
        icmp6_send_error(st, v, ICMP6_PARAM_PROBLEM, 0, 4, false);
        return;
    }
    if (unfrag - IPV6_HDR_LEN + v->frag_off + v->payload_len > 65535) {
        /* §4.5: past the largest payload: code 0 at the fragment offset */
        st->stats.frag_too_big++;
        st->stats.ip6_drop_fragment++;
        st->stats.ip6_param_problems++;
        icmp6_send_error(st, v, ICMP6_PARAM_PROBLEM, 0, (uint32_t)(unfrag + 2), false);
        return;
    }
    if (v->frag_off == 0 && !first_fragment_whole(v)) {
        /* RFC 7112 §5: code 3, pointer 0 */
        st->stats.frag_tiny++;
        st->stats.ip6_drop_fragment++;
        st->stats.ip6_param_problems++;
        TRACE(st, "[IP6 ] drop fragment id=%u reason=incomplete header chain", v->frag_id);
        icmp6_send_error(st, v, ICMP6_PARAM_PROBLEM, 3, 0, false);
        return;
    }
    if (unfrag > IPF_UNFRAG6_MAX || ip6_is_multicast(v->dst)) {
        st->stats.frag_bad++;
        st->stats.ip6_drop_fragment++;
        TRACE(st, "[IP6 ] drop fragment id=%u reason=%s", v->frag_id,
              unfrag > IPF_UNFRAG6_MAX ? "unfragmentable part too long" : "multicast");
        return;
    }
    const uint8_t *d = NULL;
    size_t dlen = 0;
    const char *why = "";
    switch (ip6_frag_input(st->frag6, v, st->now, &d, &dlen, &why)) {
    case IPF_HELD:
        return;
    case IPF_DROP:
        TRACE(st, "[IP6 ] drop fragment id=%u reason=%s", v->frag_id, why);
        return;
    case IPF_COMPLETE:
        TRACE(st, "[IP6 ] reassembled id=%u len=%zu", v->frag_id, dlen);
        ip6_input_pkt(st, d, dlen, true);
        return;
    }
}

void ip6_input(struct stack *st, const uint8_t *pkt, size_t len)
{
    ip6_input_pkt(st, pkt, len, false);
}

static void ip6_input_pkt(struct stack *st, const uint8_t *pkt, size_t len, bool reassembled)
{
    struct ip6_view v;
    uint8_t code = 0;
    uint32_t ptr = 0;
    bool mcast_ok = false;
    char a[46], b[46];
    if (!reassembled) st->stats.ip6_rx_packets++;
    enum ip6_parse_result r = ip6_parse(pkt, len, &v, &code, &ptr, &mcast_ok);
    switch (r) {
    case IP6_ERR_SHORT:
    case IP6_ERR_VERSION:
        st->stats.ip6_drop_short++;
        TRACE(st, "[IP6 ] drop len=%zu reason=too short", len);
        return;
    case IP6_ERR_PAYLOAD_LEN:
        st->stats.ip6_drop_payload_len++;
        TRACE(st, "[IP6 ] drop len=%zu reason=bad payload length", len);
        return;
    default:
        break;
    }
    if (!is_self(st, v.dst) && !ip6_is_multicast(v.dst)) {
        st->stats.ip6_drop_not_for_us++;
        TRACE(st, "[IP6 ] drop reason=not for us");
        return;
    }
    /* RFC 4291 §2.7: a multicast source is invalid; ours or loopback cannot come from the
     * link */
    static const uint8_t loopback[16] = {[15] = 1};
    /* nor an IPv4-mapped one (RFC 4291 §2.5.5.2: never on the wire; the stack's address
     * type reads it as IPv4) */
    if (ip6_is_multicast(v.src) || is_self(st, v.src) || !memcmp(v.src, loopback, 16) ||
        ipa_bytes_are_v4(v.src)) {
        st->stats.ip6_drop_bad_src++;
        TRACE(st, "[IP6 ] drop reason=bad source");
        return;
    }
    if (v.trailing) st->stats.ip6_trailing_bytes++;
    TRACE(st, "[IP6 ] recv %s -> %s nh=%u len=%zu", ip6_fmt(v.src, a), ip6_fmt(v.dst, b), pkt[6],
          v.len);
    switch (r) {
    case IP6_ERR_CHAIN:
        st->stats.ip6_drop_ext_chain++;
        TRACE(st, "[IP6 ] drop reason=extension headers too long or past the packet");
        return;
    case IP6_ERR_FRAGMENT:
        if (reassembled) { /* a fragment inside a fragment: no second round */
            st->stats.ip6_drop_fragment++;
            TRACE(st, "[IP6 ] drop reason=fragment header in a reassembled packet");
            return;
        }
        input_fragment6(st, &v, mcast_ok);
        return;
    case IP6_ERR_OPTION:
        st->stats.ip6_drop_option++;
        TRACE(st, "[IP6 ] drop reason=unknown option (discard)");
        return;
    case IP6_ERR_NO_NEXT:
        st->stats.ip6_no_next_header++;
        return;
    case IP6_PARAM_PROBLEM:
        st->stats.ip6_param_problems++;
        TRACE(st, "[IP6 ] drop reason=parameter problem code=%u pointer=%u", code, ptr);
        icmp6_send_error(st, &v, ICMP6_PARAM_PROBLEM, code, ptr, mcast_ok);
        return;
    default:
        break;
    }
    if (v.nh == IP6_NH_ICMPV6) {
        icmp6_input(st, &v);
        return;
    }
    if (v.nh == IP_PROTO_UDP) {
        udp6_input(st, &v); /* udp6.c */
        return;
    }
    if (v.nh == IP_PROTO_TCP) {
        /* TCP is unicast only (RFC 9293 §3.9.1.1 spirit: no connection to a group) */
        if (ip6_is_multicast(v.dst) || ip6_is_unspecified(v.src)) {
            st->stats.ip6_drop_not_for_us++;
            return;
        }
        tcp_input_l4(st, ipa_from_v6(v.src), ipa_from_v6(v.dst), v.payload, v.payload_len);
        return;
    }
    /* not a protocol we handle over IPv6 (yet): RFC 8200 §4, code 1 at its Next Header */
    st->stats.ip6_drop_proto++;
    st->stats.ip6_param_problems++;
    TRACE(st, "[IP6 ] drop reason=next header %u unsupported", v.nh);
    icmp6_send_error(st, &v, ICMP6_PARAM_PROBLEM, 1, v.nh_ptr, false);
}
