#include "checksum.h"

#include <string.h>

/* The one's-complement sum is byte-order independent (RFC 1071 §2(B)): summing the buffer
 * as native-order words and swapping the folded result gives the big-endian sum. So the
 * hot loop adds 64-bit native loads (as two 32-bit halves into a 64-bit accumulator, which
 * cannot overflow for any buffer below 2^32 * 8 bytes) instead of 16-bit big-endian words. */
static uint16_t fold64(uint64_t acc)
{
    acc = (acc & 0xffffffffu) + (acc >> 32);
    acc = (acc & 0xffffffffu) + (acc >> 32);
    acc = (acc & 0xffffu) + (acc >> 16);
    acc = (acc & 0xffffu) + (acc >> 16);
    acc = (acc & 0xffffu) + (acc >> 16);
    return (uint16_t)acc;
}

static uint16_t native_sum(const uint8_t *p, size_t len)
{
    uint64_t a0 = 0, a1 = 0;
    while (len >= 16) {
        uint64_t w0, w1;
        memcpy(&w0, p, 8);
        memcpy(&w1, p + 8, 8);
        a0 += (w0 & 0xffffffffu) + (w0 >> 32);
        a1 += (w1 & 0xffffffffu) + (w1 >> 32);
        p += 16;
        len -= 16;
    }
    uint64_t acc = a0 + a1; /* each below 2^61 for any realistic length */
    if (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        acc += (w & 0xffffffffu) + (w >> 32);
        p += 8;
        len -= 8;
    }
    if (len >= 4) {
        uint32_t w;
        memcpy(&w, p, 4);
        acc += w;
        p += 4;
        len -= 4;
    }
    if (len >= 2) {
        uint16_t w;
        memcpy(&w, p, 2);
        acc += w;
        p += 2;
        len -= 2;
    }
    if (len) {
        /* the odd byte is the first byte of a zero-padded 16-bit word */
        uint16_t w = 0;
        memcpy(&w, p, 1);
        acc += w;
    }
    return fold64(acc);
}

uint32_t csum_add(uint32_t sum, const void *buf, size_t len)
{
    uint16_t s = native_sum(buf, len);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    s = (uint16_t)((s >> 8) | (s << 8));
#endif
    uint32_t r = sum + s;
    /* Keep the carry folded so chained calls cannot overflow. */
    r = (r & 0xffffu) + (r >> 16);
    r = (r & 0xffffu) + (r >> 16);
    return r;
}

uint16_t csum_finish(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffffu) + (sum >> 16);
    return (uint16_t)~sum;
}

uint16_t csum_fold(uint32_t sum)
{
    return (uint16_t)~csum_finish(sum);
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
