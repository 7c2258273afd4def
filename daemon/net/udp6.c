/* UDP over IPv6 (RFC 768 with RFC 8200 §8.1): sockets bound for IPv6 (udp.c,
 * stack_udp_bind_fam), the built-in echo service, and for any other port ICMPv6
 * destination unreachable, port (RFC 4443 §3.1 code 4). */
#include <string.h>

#include "bytes.h"
#include "checksum.h"
#include "ip.h"
#include "ip6.h"
#include "stack_internal.h"

void udp6_input(struct stack *st, const struct ip6_view *v)
{
    const uint8_t *p = v->payload;
    size_t n = v->payload_len;
    char a[46];
    st->stats.udp_rx++;
    if (n < 8) {
        st->stats.udp_drop_short++;
        TRACE(st, "[UDP ] drop len=%zu reason=too short", n);
        return;
    }
    size_t ulen = get16(p + 4);
    if (ulen < 8 || ulen > n) {
        st->stats.udp_drop_length++;
        TRACE(st, "[UDP ] drop len=%zu reason=bad length", n);
        return;
    }
    /* the checksum is mandatory over IPv6: a zero field is not "none" (RFC 8200 §8.1) */
    uint32_t s = ip6_pseudo_sum(v->src, v->dst, IP_PROTO_UDP, (uint32_t)ulen);
    if (get16(p + 6) == 0 || csum_finish(csum_add(s, p, ulen)) != 0) {
        st->stats.udp_drop_checksum++;
        TRACE(st, "[UDP ] drop len=%zu reason=bad checksum", n);
        return;
    }
    uint16_t sport = get16(p), dport = get16(p + 2);
    TRACE(st, "[UDP ] recv [%s]:%u -> port %u len=%zu", ip6_fmt(v->src, a), sport, dport, ulen - 8);
    if (!ip6_is_multicast(v->dst) &&
        udp_sock_deliver(st, ipa_from_v6(v->src), sport, dport, p + 8, ulen - 8))
        return;
    if (!st->cfg.udp_echo_port || dport != st->cfg.udp_echo_port || ip6_is_multicast(v->dst)) {
        st->stats.udp_no_port++;
        if (!ip6_is_multicast(v->dst)) icmp6_send_error(st, v, 1, 4, 0, false);
        return;
    }
    uint8_t *out = stack_tx_payload6(st);
    memmove(out + 8, p + 8, ulen - 8);
    put16(out, dport);
    put16(out + 2, sport);
    put16(out + 4, (uint16_t)ulen);
    put16(out + 6, 0);
    s = ip6_pseudo_sum(st->cfg.addr6, v->src, IP_PROTO_UDP, (uint32_t)ulen);
    uint16_t c = csum_finish(csum_add(s, out, ulen));
    put16(out + 6, c ? c : 0xffff);
    st->stats.udp_echoed++;
    st->stats.udp_tx++;
    TRACE(st, "[UDP ] send port %u -> [%s]:%u len=%zu", dport, ip6_fmt(v->src, a), sport, ulen - 8);
    stack_tx_send6(st, v->src, IP_PROTO_UDP, ulen);
}
