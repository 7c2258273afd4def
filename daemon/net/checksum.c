#include "checksum.h"

uint32_t csum_add(uint32_t sum, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint64_t acc = sum;
    while (len >= 2) {
        acc += (uint32_t)((p[0] << 8) | p[1]);
        p += 2;
        len -= 2;
    }
    if (len) acc += (uint32_t)(p[0] << 8);
    while (acc >> 32)
        acc = (acc & 0xffffffffu) + (acc >> 32);
    /* Keep the carry folded so chained calls cannot overflow. */
    acc = (acc & 0xffffu) + (acc >> 16);
    acc = (acc & 0xffffu) + (acc >> 16);
    return (uint32_t)acc;
}

uint16_t csum_finish(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffffu) + (sum >> 16);
    return (uint16_t)~sum;
}

uint16_t inet_checksum(const void *buf, size_t len)
{
    return csum_finish(csum_add(0, buf, len));
}

uint32_t csum_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len)
{
    uint64_t s = (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto + len;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint32_t)s;
}
