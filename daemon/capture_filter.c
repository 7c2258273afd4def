/* The live capture's packet filter (capture_filter.h). */
#include "capture_filter.h"

#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* The transport header's ports at l4, when the packet holds them. */
static bool ports_match(uint16_t port, uint8_t proto, const uint8_t *pkt, size_t len, size_t l4)
{
    if (proto != IPPROTO_TCP_ && proto != IPPROTO_UDP_) return false;
    if (len < l4 + 4) return false;
    return get16(pkt + l4) == port || get16(pkt + l4 + 2) == port;
}

bool capture_match(const struct capture_filter *f, const uint8_t *pkt, size_t len)
{
    if (!f->host && !f->port) return true;
    if (len < 1) return false;
    unsigned version = pkt[0] >> 4;
    if (version == 4) {
        size_t ihl = (size_t)(pkt[0] & 0x0f) * 4;
        if (ihl < 20 || len < ihl) return false;
        if (f->host && get32(pkt + 12) != f->host && get32(pkt + 16) != f->host) return false;
        if (!f->port) return true;
        if (get16(pkt + 6) & 0x1fff) return false; /* not the first fragment: no ports */
        return ports_match(f->port, pkt[9], pkt, len, ihl);
    }
    if (version == 6) {
        if (f->host || len < 40) return false;
        return ports_match(f->port, pkt[6], pkt, len, 40);
    }
    return false;
}
