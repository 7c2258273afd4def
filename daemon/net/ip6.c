#include "ip6.h"
#include "ip_addr.h"

#include <arpa/inet.h>
#include <string.h>

#include "bytes.h"

/* The options of a Hop-by-Hop or Destination Options header at [off, off + hl): RFC 8200
 * §4.2, the two high bits of an unknown option's type say what to do. */
static enum ip6_parse_result options(const uint8_t *pkt, size_t off, size_t hl, uint8_t *code,
                                     uint32_t *pointer, bool *mcast_ok)
{
    size_t i = off + 2, end = off + hl;
    while (i < end) {
        uint8_t t = pkt[i];
        if (t == 0) { /* Pad1 */
            i++;
            continue;
        }
        if (i + 2 > end || i + 2 + pkt[i + 1] > end) return IP6_ERR_CHAIN;
        if (t != 1) { /* PadN is known; every other option is unknown to us */
            switch (t >> 6) {
            case 0: /* skip over it */
                break;
            case 1: /* discard the packet */
                return IP6_ERR_OPTION;
            case 2: /* discard, parameter problem even to a multicast destination */
            case 3: /* discard, parameter problem if the destination was unicast */
                *code = 2;
                *pointer = (uint32_t)i;
                *mcast_ok = (t >> 6) == 2;
                return IP6_PARAM_PROBLEM;
            }
        }
        i += 2 + (size_t)pkt[i + 1];
    }
    return IP6_OK;
}

enum ip6_parse_result ip6_parse(const uint8_t *pkt, size_t len, struct ip6_view *v, uint8_t *code,
                                uint32_t *pointer, bool *mcast_ok)
{
    if (len < IPV6_HDR_LEN) return IP6_ERR_SHORT;
    if ((pkt[0] >> 4) != 6) return IP6_ERR_VERSION;
    memcpy(v->src, pkt + 8, 16);
    memcpy(v->dst, pkt + 24, 16);
    v->hdr = pkt;
    v->hlim = pkt[7];
    size_t plen = get16(pkt + 4);
    if (plen == 0 || IPV6_HDR_LEN + plen > len) return IP6_ERR_PAYLOAD_LEN;
    size_t end = IPV6_HDR_LEN + plen;
    v->len = end;
    v->trailing = len > end;
    v->atomic_frag = false;
    uint8_t nh = pkt[6];
    size_t nh_at = 6, off = IPV6_HDR_LEN;
    for (unsigned n = 0;; n++) {
        size_t hl;
        if (nh != IP6_NH_HOPOPTS && nh != IP6_NH_DSTOPTS && nh != IP6_NH_ROUTING &&
            nh != IP6_NH_FRAGMENT)
            break;
        if (n == IP6_EXT_MAX || off + 8 > end) return IP6_ERR_CHAIN;
        switch (nh) {
        case IP6_NH_HOPOPTS:
            if (off != IPV6_HDR_LEN) { /* only right after the fixed header (§4.3) */
                *code = 1;
                *pointer = (uint32_t)nh_at;
                *mcast_ok = false;
                return IP6_PARAM_PROBLEM;
            }
            /* fall through */
        case IP6_NH_DSTOPTS: {
            hl = ((size_t)pkt[off + 1] + 1) * 8;
            if (off + hl > end) return IP6_ERR_CHAIN;
            enum ip6_parse_result r = options(pkt, off, hl, code, pointer, mcast_ok);
            if (r != IP6_OK) return r;
            break;
        }
        case IP6_NH_ROUTING:
            hl = ((size_t)pkt[off + 1] + 1) * 8;
            if (off + hl > end) return IP6_ERR_CHAIN;
            /* we are the final destination of no routing type we know (type 0 is
             * deprecated, RFC 5095): with segments left, §4.4 asks for code 0 at the type */
            if (pkt[off + 3] != 0) {
                *code = 0;
                *pointer = (uint32_t)(off + 2);
                *mcast_ok = false;
                return IP6_PARAM_PROBLEM;
            }
            break;
        default: /* IP6_NH_FRAGMENT */
            hl = 8;
            /* offset 0 and M clear: an atomic fragment, processed whole (RFC 6946) */
            if (get16(pkt + off + 2) & 0xfff9) {
                v->nh = pkt[off];
                v->nh_ptr = (uint32_t)nh_at;
                v->frag_at = (uint32_t)off;
                v->frag_off = get16(pkt + off + 2) & 0xfff8;
                v->frag_mf = pkt[off + 3] & 1;
                v->frag_id = get32(pkt + off + 4);
                v->payload = pkt + off + 8;
                v->payload_len = end - off - 8;
                return IP6_ERR_FRAGMENT;
            }
            v->atomic_frag = true;
            break;
        }
        nh_at = off;
        nh = pkt[off];
        off += hl;
    }
    if (nh == IP6_NH_NONE) return IP6_ERR_NO_NEXT;
    v->nh = nh;
    v->nh_ptr = (uint32_t)nh_at;
    v->payload = pkt + off;
    v->payload_len = end - off;
    return IP6_OK;
}

void ip6_build(uint8_t *buf, const uint8_t src[16], const uint8_t dst[16], uint8_t nh,
               size_t payload_len)
{
    put32(buf, 0x60000000u);
    put16(buf + 4, (uint16_t)payload_len);
    buf[6] = nh;
    buf[7] = 64;
    memcpy(buf + 8, src, 16);
    memcpy(buf + 24, dst, 16);
}

uint32_t ip6_pseudo_sum(const uint8_t src[16], const uint8_t dst[16], uint8_t nh, uint32_t len)
{
    uint32_t s = 0;
    for (int i = 0; i < 16; i += 2)
        s += (uint32_t)get16(src + i) + get16(dst + i);
    return s + (len >> 16) + (len & 0xffff) + nh;
}

bool ip6_is_unspecified(const uint8_t a[16])
{
    static const uint8_t zero[16];
    return memcmp(a, zero, 16) == 0;
}

char *ip6_fmt(const uint8_t a[16], char *buf)
{
    if (!inet_ntop(AF_INET6, a, buf, 46)) strcpy(buf, "?");
    return buf;
}

int ip6_parse_addr(const char *s, uint8_t out[16])
{
    return inet_pton(AF_INET6, s, out) == 1 ? 0 : -1;
}

char *ipa_fmt(struct ip_addr a, char *buf)
{
    if (ipa_is_v4(a)) {
        if (!inet_ntop(AF_INET, a.b + 12, buf, IPA_STRLEN)) strcpy(buf, "?");
    } else if (!inet_ntop(AF_INET6, a.b, buf, IPA_STRLEN)) {
        strcpy(buf, "?");
    }
    return buf;
}

int ipa_parse(const char *s, struct ip_addr *out)
{
    uint8_t v4[4];
    if (inet_pton(AF_INET, s, v4) == 1) {
        *out = ipa_from_v4(get32(v4));
        return 0;
    }
    uint8_t v6[16];
    if (inet_pton(AF_INET6, s, v6) != 1) return -1; /* ::ffff:a.b.c.d is IPv4 */
    *out = ipa_from_v6(v6);
    return 0;
}
