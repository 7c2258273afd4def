/* Initial sequence numbers, RFC 6528: ISN = M + F(localip, localport, remoteip, remoteport,
 * secretkey), M a clock ticking every 4 microseconds (here derived from the millisecond
 * time: now * 250) and F a keyed pseudo-random function: SipHash-2-4 (Aumasson and
 * Bernstein, "SipHash: a fast short-input PRF", 2012), written from the paper. */
#include <string.h>

#include "tcp.h"

static inline uint64_t rotl64(uint64_t x, unsigned b)
{
    return (x << b) | (x >> (64 - b));
}

#define SIPROUND(v0, v1, v2, v3)                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = rotl64(v1, 13);                                                                       \
        v1 ^= v0;                                                                                  \
        v0 = rotl64(v0, 32);                                                                       \
        v2 += v3;                                                                                  \
        v3 = rotl64(v3, 16);                                                                       \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = rotl64(v3, 21);                                                                       \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = rotl64(v1, 17);                                                                       \
        v1 ^= v2;                                                                                  \
        v2 = rotl64(v2, 32);                                                                       \
    } while (0)

static uint64_t load_le64(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

uint64_t siphash24(const uint64_t key[2], const void *msg, size_t len)
{
    const uint8_t *m = msg;
    uint64_t v0 = key[0] ^ 0x736f6d6570736575ULL; /* "somepseudorandomlygeneratedbytes" */
    uint64_t v1 = key[1] ^ 0x646f72616e646f6dULL;
    uint64_t v2 = key[0] ^ 0x6c7967656e657261ULL;
    uint64_t v3 = key[1] ^ 0x7465646279746573ULL;
    size_t full = len & ~(size_t)7;
    for (size_t i = 0; i < full; i += 8) {
        uint64_t w = load_le64(m + i, 8);
        v3 ^= w;
        SIPROUND(v0, v1, v2, v3);
        SIPROUND(v0, v1, v2, v3);
        v0 ^= w;
    }
    /* last block: remaining bytes, length mod 256 in the top byte */
    uint64_t b = load_le64(m + full, len - full) | ((uint64_t)(len & 0xff) << 56);
    v3 ^= b;
    SIPROUND(v0, v1, v2, v3);
    SIPROUND(v0, v1, v2, v3);
    v0 ^= b;
    v2 ^= 0xff;
    for (int i = 0; i < 4; i++)
        SIPROUND(v0, v1, v2, v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

uint32_t tcp_isn(struct stack *st, struct ip_addr laddr, uint16_t lport, struct ip_addr raddr,
                 uint16_t rport)
{
    struct tcp_engine *ts = TS(st);
    if (ts->isn_fixed) return ts->isn_value;
    uint8_t tuple[36];
    size_t n = ipa_tuple_bytes(tuple, laddr, lport, raddr, rport);
    uint32_t f = (uint32_t)siphash24(ts->hkey, tuple, n);
    return (uint32_t)(st->now * 250u) + f;
}

void tcp_test_set_isn(struct stack *st, uint32_t isn)
{
    TS(st)->isn_fixed = true;
    TS(st)->isn_value = isn;
}
