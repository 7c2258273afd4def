/* SYN cookies (RFC 4987 §3.6, after D. J. Bernstein): when a SYN queue is full, the
 * SYN-ACK's sequence number carries what the connection needs, and nothing is stored.
 *
 *   bits 31-27  t mod 32: t counts SYNCOOKIE_PERIOD_MS periods of the stack's clock
 *   bits 26-24  an index into a table of MSS values (the peer's MSS, rounded down)
 *   bits 23-0   SipHash-2-4 (the ISN key) of the 4-tuple, the peer's ISN, t and the index
 *
 * The final ACK acknowledges cookie + 1: the hash is recomputed for t and t - 1, so a cookie
 * is valid for at least one and at most two periods. Its MSS index is inside the hash, so
 * it cannot be changed without the key. The peer's ISN is the ACK's seq - 1: a connection
 * whose first ACK is lost is still completed by its first data segment, which carries the
 * same numbers. */
#include <string.h>

#include "tcp.h"

/* Common path MSS values: an 8-entry table, smallest first (index 0 serves any MSS). */
static const uint16_t cookie_mss[8] = {64, 536, 1220, 1300, 1400, 1440, 1460, 8960};

static unsigned mss_index(uint16_t mss)
{
    unsigned i = 7;
    while (i > 0 && cookie_mss[i] > mss)
        i--;
    return i;
}

uint16_t tcp_syncookie_mss(uint16_t mss)
{
    return cookie_mss[mss_index(mss)];
}

static uint32_t cookie_hash(const uint64_t key[2], struct ip_addr laddr, uint16_t lport,
                            struct ip_addr raddr, uint16_t rport, uint32_t irs, uint32_t t,
                            unsigned idx)
{
    /* "CK" keeps these inputs apart from the ISN function's (same key, other length) */
    uint8_t m[2 + 36 + 9] = {'C', 'K'};
    size_t n = 2 + ipa_tuple_bytes(m + 2, laddr, lport, raddr, rport);
    memcpy(m + n, &irs, 4);
    memcpy(m + n + 4, &t, 4);
    m[n + 8] = (uint8_t)idx;
    return (uint32_t)siphash24(key, m, n + 9) & 0xffffffu;
}

uint32_t tcp_syncookie_make(const uint64_t key[2], stack_time_t now, struct ip_addr laddr,
                            uint16_t lport, struct ip_addr raddr, uint16_t rport, uint32_t irs,
                            uint16_t mss)
{
    uint32_t t = (uint32_t)(now / SYNCOOKIE_PERIOD_MS);
    unsigned idx = mss_index(mss);
    return ((t & 31u) << 27) | ((uint32_t)idx << 24) |
           cookie_hash(key, laddr, lport, raddr, rport, irs, t, idx);
}

uint16_t tcp_syncookie_check(const uint64_t key[2], stack_time_t now, struct ip_addr laddr,
                             uint16_t lport, struct ip_addr raddr, uint16_t rport, uint32_t irs,
                             uint32_t iss)
{
    uint32_t t = (uint32_t)(now / SYNCOOKIE_PERIOD_MS);
    unsigned idx = (iss >> 24) & 7u;
    for (uint32_t age = 0; age < 2 && age <= t; age++) {
        uint32_t tc = t - age;
        if ((tc & 31u) != iss >> 27) continue;
        if (cookie_hash(key, laddr, lport, raddr, rport, irs, tc, idx) == (iss & 0xffffffu))
            return cookie_mss[idx];
    }
    return 0;
}

/* Low 6 bits of the TS value: bits 0-3 the peer's window scale + 1 (0 = none), bit 4
 * SACK permitted, bit 5 always set, so that a TSecr from a cookie is recognisable. */
uint32_t tcp_syncookie_ts_encode(uint32_t tsval, int wscale, bool sack)
{
    uint32_t bits = 0x20u | (sack ? 0x10u : 0) | (wscale < 0 ? 0 : (uint32_t)(wscale + 1) & 0xfu);
    uint32_t v = (tsval & ~0x3fu) | bits;
    if (v > tsval) v -= 0x40u; /* never a value from the future */
    return v;
}

bool tcp_syncookie_ts_decode(uint32_t tsecr, int *wscale, bool *sack)
{
    if (!(tsecr & 0x20u)) return false;
    uint32_t ws = tsecr & 0xfu; /* 15 is a shift of 14, the largest (RFC 7323 §2.3) */
    *wscale = ws == 0 ? -1 : (int)ws - 1;
    *sack = (tsecr & 0x10u) != 0;
    return true;
}
