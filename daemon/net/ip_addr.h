/* One address type for both families (issue 13 item 5): an IPv6 address, with an IPv4
 * address held in its IPv4-mapped form ::ffff:a.b.c.d (RFC 4291 §2.5.5.2). Comparing and
 * hashing go over the same 16 bytes for both families, and the family is a property of
 * the value, never a second field that could disagree with it. A mapped address never
 * comes off the wire as IPv6 (ip6_input drops such sources and destinations), so the two
 * families cannot be confused. Pure, header-only. */
#ifndef MINITCP_IP_ADDR_H
#define MINITCP_IP_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define IPA_FAMILY_V4 4
#define IPA_FAMILY_V6 6

struct ip_addr {
    uint8_t b[16]; /* network byte order */
};

static inline struct ip_addr ipa_from_v4(uint32_t a) /* a in host order */
{
    struct ip_addr r = {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, (uint8_t)(a >> 24),
                         (uint8_t)(a >> 16), (uint8_t)(a >> 8), (uint8_t)a}};
    return r;
}

static inline struct ip_addr ipa_from_v6(const uint8_t a[16])
{
    struct ip_addr r;
    memcpy(r.b, a, 16);
    return r;
}

static inline bool ipa_bytes_are_v4(const uint8_t b[16])
{
    static const uint8_t pre[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(b, pre, 12) == 0;
}

static inline bool ipa_is_v4(struct ip_addr a)
{
    return ipa_bytes_are_v4(a.b);
}

static inline int ipa_family(struct ip_addr a)
{
    return ipa_is_v4(a) ? IPA_FAMILY_V4 : IPA_FAMILY_V6;
}

/* The IPv4 address in host order (meaningful when ipa_is_v4). */
static inline uint32_t ipa_v4(struct ip_addr a)
{
    return (uint32_t)a.b[12] << 24 | (uint32_t)a.b[13] << 16 | (uint32_t)a.b[14] << 8 | a.b[15];
}

/* The IPv4 address, or 0 for an IPv6 one (for places that hold only IPv4). */
static inline uint32_t ipa_v4_or_0(struct ip_addr a)
{
    return ipa_is_v4(a) ? ipa_v4(a) : 0;
}

static inline bool ipa_eq(struct ip_addr a, struct ip_addr b)
{
    return memcmp(a.b, b.b, 16) == 0;
}

/* The unspecified address of either family (0.0.0.0 mapped, or ::). */
static inline bool ipa_is_any(struct ip_addr a)
{
    static const uint8_t z[16];
    return memcmp(a.b, z, 16) == 0 || (ipa_is_v4(a) && ipa_v4(a) == 0);
}

/* Bytes of the IP header in front of a transport segment to/from a. */
static inline size_t ipa_hdr_len(struct ip_addr a)
{
    return ipa_is_v4(a) ? 20 : 40;
}

/* The bytes a keyed hash (ISN, timestamp offset, SYN cookie) takes for a connection:
 * laddr, raddr, lport, rport as the host's memory holds them, an IPv4 address as its
 * 32-bit host-order value (so IPv4 values are what they were before IPv6 existed), an
 * IPv6 address as its 16 bytes. Returns the length: 12 or 36. */
static inline size_t ipa_tuple_bytes(uint8_t out[36], struct ip_addr laddr, uint16_t lport,
                                     struct ip_addr raddr, uint16_t rport)
{
    size_t n;
    if (ipa_is_v4(laddr) && ipa_is_v4(raddr)) {
        uint32_t l = ipa_v4(laddr), r = ipa_v4(raddr);
        memcpy(out, &l, 4);
        memcpy(out + 4, &r, 4);
        n = 8;
    } else {
        memcpy(out, laddr.b, 16);
        memcpy(out + 16, raddr.b, 16);
        n = 32;
    }
    memcpy(out + n, &lport, 2);
    memcpy(out + n + 2, &rport, 2);
    return n + 4;
}

#define IPA_STRLEN 48
/* "10.0.0.1" or "fd00::1" into buf (IPA_STRLEN bytes); returns buf. */
char *ipa_fmt(struct ip_addr a, char *buf);
/* A dotted quad or an IPv6 address; 0 on success, -1 when s is neither. */
int ipa_parse(const char *s, struct ip_addr *out);

#endif
