#include "icmp.h"

#include <string.h>

#include "bytes.h"
#include "checksum.h"
#include "stack_internal.h"

enum icmp_parse_result icmp_parse(const uint8_t *msg, size_t len, struct icmp_view *v)
{
    if (len < ICMP_HDR_LEN) return ICMP_ERR_SHORT;
    if (inet_checksum(msg, len) != 0) return ICMP_ERR_CHECKSUM;
    v->type = msg[0];
    v->code = msg[1];
    v->id = get16(msg + 4);
    v->seq = get16(msg + 6);
    v->data = msg + ICMP_HDR_LEN;
    v->data_len = len - ICMP_HDR_LEN;
    return ICMP_OK;
}

size_t icmp_build_echo(uint8_t *out, uint8_t type, uint16_t id, uint16_t seq, const uint8_t *data,
                       size_t data_len)
{
    out[0] = type;
    out[1] = 0;
    put16(out + 2, 0);
    put16(out + 4, id);
    put16(out + 6, seq);
    if (data_len && out + ICMP_HDR_LEN != data) memmove(out + ICMP_HDR_LEN, data, data_len);
    put16(out + 2, inet_checksum(out, ICMP_HDR_LEN + data_len));
    return ICMP_HDR_LEN + data_len;
}

void icmp_input(struct stack *st, const struct ip_view *ip)
{
    struct icmp_view v;
    st->stats.icmp_rx++;
    switch (icmp_parse(ip->payload, ip->payload_len, &v)) {
    case ICMP_ERR_SHORT:
        st->stats.icmp_drop_short++;
        TRACE(st, "[ICMP] drop len=%zu reason=too short", ip->payload_len);
        return;
    case ICMP_ERR_CHECKSUM:
        st->stats.icmp_drop_checksum++;
        TRACE(st, "[ICMP] drop len=%zu reason=bad checksum", ip->payload_len);
        return;
    case ICMP_OK:
        break;
    }
    if (v.type == ICMP_DEST_UNREACH && v.code == ICMP_UNREACH_FRAG_NEEDED) {
        /* RFC 1191 §4: the next-hop MTU in bytes 6-7 (0 from an older router) */
        st->stats.icmp_frag_needed_rx++;
        TRACE(st, "[ICMP] recv fragmentation needed mtu=%u len=%zu", v.seq, v.data_len);
        if (v.data_len > 9 && v.data[9] == IP_PROTO_TCP)
            tcp_icmp_frag_needed(st, v.data, v.data_len, v.seq);
        return; /* UDP and ICMP: we fragment them ourselves when larger than our MTU */
    }
    if (v.type != ICMP_ECHO_REQUEST || v.code != 0) {
        st->stats.icmp_other_types++;
        TRACE(st, "[ICMP] recv type=%u code=%u len=%zu (ignored)", v.type, v.code, v.data_len);
        return;
    }
    st->stats.icmp_echo_requests++;
    TRACE(st, "[ICMP] recv echo request id=%u seq=%u len=%zu", v.id, v.seq, v.data_len);
    /* A reply larger than our MTU goes in fragments unless the request forbade them
     * (DF): a request that arrived whole and larger could only have come over a link
     * with a bigger MTU. */
    size_t n =
        icmp_build_echo(stack_tx_payload(st), ICMP_ECHO_REPLY, v.id, v.seq, v.data, v.data_len);
    st->stats.icmp_echo_replies_sent++;
    TRACE(st, "[ICMP] send echo reply id=%u seq=%u len=%zu", v.id, v.seq, v.data_len);
    stack_tx_dgram(st, ip->src, IP_PROTO_ICMP, n, !ip->df);
}

/* RFC 1122 3.2.2: an error carries the offending IP header and at least 8 bytes of its
 * payload; RFC 1812 4.3.2.8 asks for a rate limit. Token bucket: 10 burst, 10/s. */
bool icmp_send_error(struct stack *st, const struct ip_view *ip, uint8_t type, uint8_t code)
{
    if (st->now >= st->icmp_refill + 100) {
        uint64_t add = (st->now - st->icmp_refill) / 100;
        st->icmp_tokens = (uint32_t)(st->icmp_tokens + add > 10 ? 10 : st->icmp_tokens + add);
        st->icmp_refill = st->now;
    }
    if (st->icmp_tokens == 0) {
        st->stats.icmp_unreach_ratelimited++;
        return false;
    }
    st->icmp_tokens--;
    size_t quote = ip->hdr_len + (ip->payload_len < 8 ? ip->payload_len : 8);
    uint8_t *out = stack_tx_payload(st);
    out[0] = type;
    out[1] = code;
    put16(out + 2, 0);
    put32(out + 4, 0);
    memcpy(out + ICMP_HDR_LEN, ip->hdr, quote);
    put16(out + 2, inet_checksum(out, ICMP_HDR_LEN + quote));
    TRACE(st, "[ICMP] send %s code=%u len=%zu",
          type == ICMP_DEST_UNREACH ? "destination unreachable" : "time exceeded", code, quote);
    stack_tx_send(st, ip->src, IP_PROTO_ICMP, ICMP_HDR_LEN + quote);
    return true;
}

void icmp_send_unreach(struct stack *st, const struct ip_view *ip, uint8_t code)
{
    if (icmp_send_error(st, ip, ICMP_DEST_UNREACH, code)) st->stats.icmp_unreach_sent++;
}
