/* The virtio-net header of a TUN device with IFF_VNET_HDR: vnet.h. */
#include "vnet.h"

#include <string.h>

#include "bytes.h"
#include "checksum.h"
#include "ip.h"

#define TH_FIN 0x01
#define TH_PSH 0x08

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

void vnet_hdr_decode(const uint8_t b[VNET_HDR_LEN], struct vnet_hdr *h)
{
    h->flags = b[0];
    h->gso_type = b[1];
    h->hdr_len = le16(b + 2);
    h->gso_size = le16(b + 4);
    h->csum_start = le16(b + 6);
    h->csum_offset = le16(b + 8);
}

void vnet_hdr_encode(uint8_t b[VNET_HDR_LEN], const struct vnet_hdr *h)
{
    b[0] = h->flags;
    b[1] = h->gso_type;
    put_le16(b + 2, h->hdr_len);
    put_le16(b + 4, h->gso_size);
    put_le16(b + 6, h->csum_start);
    put_le16(b + 8, h->csum_offset);
}

/* The IP header length, the datagram length (bounded by the bytes there) and the L4
 * protocol of pkt; false when it is not IPv4/IPv6 with a whole fixed header. No
 * extension headers are walked: the kernel's GSO packets have none. */
static bool ip_shape(const uint8_t *pkt, size_t len, size_t *iphl, size_t *iplen, uint8_t *l4,
                     unsigned *ver)
{
    *ver = pkt[0] >> 4;
    if (*ver == 4 && len >= IPV4_HDR_LEN) {
        *iphl = (size_t)(pkt[0] & 0x0f) * 4;
        *iplen = get16(pkt + 2);
        *l4 = pkt[9];
        if (*iphl < IPV4_HDR_LEN || *iphl > len) return false;
    } else if (*ver == 6 && len >= 40) {
        *iphl = 40;
        *iplen = 40 + (size_t)get16(pkt + 4);
        *l4 = pkt[6];
    } else {
        return false;
    }
    if (*iplen > len || *iplen < *iphl) *iplen = len; /* the core judges the IP lengths */
    return true;
}

/* Finishes the checksum whose field at start + off holds a partial sum (RFC 1071 over
 * start..end, the field included as it is). */
static void csum_complete(uint8_t *pkt, size_t start, size_t off, size_t end, uint8_t l4)
{
    uint16_t c = csum_finish(csum_add(0, pkt + start, end - start));
    if (c == 0 && l4 == IP_PROTO_UDP) c = 0xffff; /* RFC 768: 0 means none */
    put16(pkt + start + off, c);
}

enum vnet_result vnet_rx_prepare(uint8_t *buf, size_t n, size_t cap, struct vnet_rx *out)
{
    memset(out, 0, sizeof *out);
    if (n >= cap) return VNET_ERR_TOO_BIG;
    if (n < VNET_HDR_LEN + 1) return VNET_ERR_SHORT;
    struct vnet_hdr *h = &out->h;
    vnet_hdr_decode(buf, h);
    uint8_t *pkt = buf + VNET_HDR_LEN;
    size_t len = n - VNET_HDR_LEN;
    out->pkt = pkt;
    out->len = len;
    if (h->flags & ~(VNET_F_NEEDS_CSUM | VNET_F_DATA_VALID)) return VNET_ERR_FLAGS;
    if ((h->flags & VNET_F_NEEDS_CSUM) && (h->flags & VNET_F_DATA_VALID)) return VNET_ERR_FLAGS;
    size_t iphl = 0, iplen = 0;
    uint8_t l4 = 0;
    unsigned ver = 0;
    bool ip = ip_shape(pkt, len, &iphl, &iplen, &l4, &ver);
    if (h->gso_type != VNET_GSO_NONE) {
        uint8_t type = h->gso_type & (uint8_t)~VNET_GSO_ECN;
        bool ok = ip && l4 == IP_PROTO_TCP &&
                  ((type == VNET_GSO_TCPV4 && ver == 4) || (type == VNET_GSO_TCPV6 && ver == 6));
        if (!ok) return VNET_ERR_GSO_TYPE;
        /* one segment: the IP and a minimal TCP header, and gso_size, within 65535 */
        if (h->gso_size == 0 || h->gso_size > 65535 - iphl - 20) return VNET_ERR_GSO_SIZE;
        out->gso_size = h->gso_size;
    }
    if (h->flags & VNET_F_NEEDS_CSUM) {
        size_t start = h->csum_start, off = h->csum_offset;
        if (!ip || start < iphl || start + off + 2 > iplen) return VNET_ERR_CSUM_RANGE;
        if (l4 == IP_PROTO_TCP && start == iphl && off == 16) {
            out->csum_ok = true; /* the core does not look at the field */
        } else {
            csum_complete(pkt, start, off, iplen, l4);
            out->csum_completed = true;
        }
    } else if (h->flags & VNET_F_DATA_VALID) {
        out->csum_ok = true;
    }
    return VNET_OK;
}

void vnet_count_drop(struct stack_stats *s, enum vnet_result r)
{
    switch (r) {
    case VNET_OK:
        break;
    case VNET_ERR_SHORT:
        s->vnet_drop_short++;
        break;
    case VNET_ERR_TOO_BIG:
        s->vnet_drop_too_big++;
        break;
    case VNET_ERR_FLAGS:
        s->vnet_drop_flags++;
        break;
    case VNET_ERR_GSO_TYPE:
        s->vnet_drop_gso_type++;
        break;
    case VNET_ERR_GSO_SIZE:
        s->vnet_drop_gso_size++;
        break;
    case VNET_ERR_CSUM_RANGE:
        s->vnet_drop_csum_range++;
        break;
    }
}

const char *vnet_result_name(enum vnet_result r)
{
    switch (r) {
    case VNET_OK:
        return "ok";
    case VNET_ERR_SHORT:
        return "short";
    case VNET_ERR_TOO_BIG:
        return "larger than the buffer";
    case VNET_ERR_FLAGS:
        return "bad flags";
    case VNET_ERR_GSO_TYPE:
        return "bad GSO type";
    case VNET_ERR_GSO_SIZE:
        return "bad GSO size";
    case VNET_ERR_CSUM_RANGE:
        return "checksum outside the packet";
    }
    return "?";
}

void vnet_tx_hdr(uint8_t b[VNET_HDR_LEN], const uint8_t *pkt, const struct stack_tx_meta *m)
{
    struct vnet_hdr h = {0};
    if (m->csum_partial) {
        h.flags = VNET_F_NEEDS_CSUM;
        h.csum_start = m->csum_start;
        h.csum_offset = m->csum_offset;
        h.hdr_len = m->hdr_len;
    }
    if (m->gso_size) {
        h.gso_type = (pkt[0] >> 4) == 6 ? VNET_GSO_TCPV6 : VNET_GSO_TCPV4;
        h.gso_size = m->gso_size;
        h.hdr_len = m->hdr_len;
    }
    vnet_hdr_encode(b, &h);
}

int vnet_segment(const uint8_t *pkt, size_t len, const struct vnet_hdr *h, uint8_t *scratch,
                 void (*fn)(void *arg, const uint8_t *pkt, size_t len), void *arg)
{
    size_t iphl, iplen;
    uint8_t l4;
    unsigned ver;
    if (len == 0 || len > 65535) return -1;
    bool ip = ip_shape(pkt, len, &iphl, &iplen, &l4, &ver);
    if (h->gso_type == VNET_GSO_NONE) {
        memcpy(scratch, pkt, len);
        if (h->flags & VNET_F_NEEDS_CSUM) {
            if (!ip || h->csum_start < iphl || (size_t)h->csum_start + h->csum_offset + 2 > iplen)
                return -1;
            csum_complete(scratch, h->csum_start, h->csum_offset, iplen, l4);
        }
        fn(arg, scratch, len);
        return 1;
    }
    if ((h->gso_type & (uint8_t)~VNET_GSO_ECN) != VNET_GSO_TCPV4 || !ip || ver != 4 ||
        l4 != IP_PROTO_TCP || h->gso_size == 0)
        return -1;
    if (iplen < iphl + 20) return -1;
    const uint8_t *tcp = pkt + iphl;
    size_t thl = (size_t)(tcp[12] >> 4) * 4;
    if (thl < 20 || iphl + thl > iplen) return -1;
    size_t hdrs = iphl + thl, payload = iplen - hdrs;
    uint16_t id = get16(pkt + 4);
    uint32_t seq = get32(tcp + 4), src = get32(pkt + 12), dst = get32(pkt + 16);
    int n = 0;
    size_t off = 0;
    do {
        size_t chunk = payload - off < h->gso_size ? payload - off : h->gso_size;
        bool last = off + chunk >= payload;
        memcpy(scratch, pkt, hdrs);
        memcpy(scratch + hdrs, pkt + hdrs + off, chunk);
        put16(scratch + 2, (uint16_t)(hdrs + chunk));
        put16(scratch + 4, (uint16_t)(id + n));
        put16(scratch + 10, 0);
        put16(scratch + 10, inet_checksum(scratch, iphl));
        uint8_t *th = scratch + iphl;
        put32(th + 4, seq + (uint32_t)off);
        if (!last) th[13] &= (uint8_t) ~(TH_PSH | TH_FIN);
        put16(th + 16, 0);
        uint32_t sum = csum_pseudo(src, dst, IP_PROTO_TCP, (uint16_t)(thl + chunk));
        put16(th + 16, csum_finish(csum_add(sum, th, thl + chunk)));
        fn(arg, scratch, hdrs + chunk);
        n++;
        off += chunk;
    } while (off < payload);
    return n;
}
