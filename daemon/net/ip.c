#include "ip.h"

#include <stdio.h>

#include "bytes.h"
#include "checksum.h"

enum ip_parse_result ip_parse(const uint8_t *pkt, size_t len, struct ip_view *v)
{
    if (len < IPV4_HDR_LEN) return IP_ERR_SHORT;
    if ((pkt[0] >> 4) != 4) return IP_ERR_VERSION;
    size_t ihl = (size_t)(pkt[0] & 0x0f) * 4;
    if (ihl < IPV4_HDR_LEN || ihl > len) return IP_ERR_IHL;
    size_t total = get16(pkt + 2);
    if (total > len || total < ihl) return IP_ERR_TOTAL_LEN;
    if (inet_checksum(pkt, ihl) != 0) return IP_ERR_CHECKSUM;
    uint16_t frag = get16(pkt + 6);
    v->frag_off = (uint16_t)((frag & IP_OFFMASK) * 8);
    v->mf = (frag & IP_MF) != 0;
    v->df = (frag & IP_DF) != 0;
    v->hdr = pkt;
    v->hdr_len = ihl;
    v->tos = pkt[1];
    v->id = get16(pkt + 4);
    v->ttl = pkt[8];
    v->proto = pkt[9];
    v->src = get32(pkt + 12);
    v->dst = get32(pkt + 16);
    v->payload = pkt + ihl;
    v->payload_len = total - ihl;
    v->trailing = total < len;
    v->l4_csum_ok = false;
    return IP_OK;
}

const char *ip_proto_name(uint8_t proto)
{
    switch (proto) {
    case IP_PROTO_ICMP:
        return "ICMP";
    case IP_PROTO_TCP:
        return "TCP";
    case IP_PROTO_UDP:
        return "UDP";
    default:
        return "?";
    }
}

void ip_build(uint8_t *buf, uint32_t src, uint32_t dst, uint8_t proto, uint16_t id,
              size_t payload_len)
{
    ip_build_frag(buf, src, dst, proto, id, payload_len, IP_DF);
}

void ip_build_frag(uint8_t *buf, uint32_t src, uint32_t dst, uint8_t proto, uint16_t id,
                   size_t payload_len, uint16_t frag_field)
{
    buf[0] = 0x45;
    buf[1] = 0;
    put16(buf + 2, (uint16_t)(IPV4_HDR_LEN + payload_len));
    put16(buf + 4, id);
    put16(buf + 6, frag_field);
    buf[8] = 64;
    buf[9] = proto;
    put16(buf + 10, 0);
    put32(buf + 12, src);
    put32(buf + 16, dst);
    put16(buf + 10, inet_checksum(buf, IPV4_HDR_LEN));
}

char *ip_fmt(uint32_t a, char *buf)
{
    snprintf(buf, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
    return buf;
}

int ip_parse_addr(const char *s, uint32_t *out)
{
    unsigned b[4];
    char tail;
    if (sscanf(s, "%3u.%3u.%3u.%3u%c", &b[0], &b[1], &b[2], &b[3], &tail) != 4) return -1;
    for (int i = 0; i < 4; i++)
        if (b[i] > 255) return -1;
    *out = (b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3];
    return 0;
}
