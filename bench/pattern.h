/* The counted byte pattern that bulk transfers carry, shared by the load generator, kserver
 * and lwip_tun: byte number i of a connection's stream is (i mod 251). 251 is prime, so a lost,
 * duplicated or reordered chunk of any length that is not a multiple of 251 shows up, and
 * a chunk that is shows up in the byte count. MiniTCP's apps/source_server sends i mod 256;
 * the load generator switches to that with pattern_set_mod(256). Header-only. */
#ifndef BENCH_PATTERN_H
#define BENCH_PATTERN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define PATTERN_MOD_MAX 256u
/* Any window [k, k + PATTERN_CHUNK) with k < the modulus is a valid slice of the table. */
#define PATTERN_CHUNK 65536u
#define PATTERN_TABLE (PATTERN_CHUNK + PATTERN_MOD_MAX)

static unsigned pattern_mod = 251;
static uint8_t pattern_tab[PATTERN_TABLE];
static int pattern_ready;

/* Selects the modulus (2..256); 251 unless changed. */
static inline void pattern_set_mod(unsigned mod)
{
    pattern_mod = mod < 2 || mod > PATTERN_MOD_MAX ? 251 : mod;
    pattern_ready = 0;
}

static inline const uint8_t *pattern_table(void)
{
    if (!pattern_ready) {
        for (size_t i = 0; i < PATTERN_TABLE; i++) pattern_tab[i] = (uint8_t)(i % pattern_mod);
        pattern_ready = 1;
    }
    return pattern_tab;
}

/* The pattern bytes for stream offsets [off, off + len), len <= PATTERN_CHUNK. */
static inline const uint8_t *pattern_at(uint64_t off)
{
    return pattern_table() + (size_t)(off % pattern_mod);
}

/* Checks buf against the pattern at stream offset off; returns 1 when it matches. */
static inline int pattern_check(const uint8_t *buf, size_t len, uint64_t off)
{
    while (len > 0) {
        size_t n = len < PATTERN_CHUNK ? len : PATTERN_CHUNK;
        if (memcmp(buf, pattern_at(off), n) != 0) return 0;
        buf += n;
        off += n;
        len -= n;
    }
    return 1;
}

#endif
