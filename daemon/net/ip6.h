/* IPv6 (RFC 8200): parse a packet into a view, walking the extension-header chain with a
 * bound; build the fixed header. Pure functions: what to answer is the caller's. */
#ifndef MINITCP_IP6_H
#define MINITCP_IP6_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IPV6_HDR_LEN 40
#define IPV6_MIN_MTU 1280 /* RFC 8200 §5 */
#define IP6_NH_HOPOPTS 0
#define IP6_NH_ROUTING 43
#define IP6_NH_FRAGMENT 44
#define IP6_NH_ICMPV6 58
#define IP6_NH_NONE 59
#define IP6_NH_DSTOPTS 60
#define IP6_EXT_MAX 8 /* extension headers walked before the packet is refused */

/* A parsed IPv6 packet. hdr/payload point into the caller's buffer. */
struct ip6_view {
    uint8_t src[16], dst[16];
    uint8_t nh; /* the upper-layer protocol after the extension headers */
    uint8_t hlim;
    const uint8_t *hdr;     /* the fixed header */
    size_t len;             /* 40 + payload length (bytes beyond it trimmed) */
    const uint8_t *payload; /* the upper-layer header */
    size_t payload_len;
    uint32_t nh_ptr;  /* offset of the Next Header field that named nh (parameter problem) */
    int trailing;     /* bytes beyond the payload length were present */
    bool atomic_frag; /* a fragment header with offset 0 and M clear (RFC 6946) */
    /* IP6_ERR_FRAGMENT: the fragment header at frag_at (its Next Header field named at
     * nh_ptr, its own next header in nh), the fragment's data at payload */
    uint32_t frag_at;
    uint32_t frag_id;
    uint16_t frag_off; /* bytes */
    bool frag_mf;
};

enum ip6_parse_result {
    IP6_OK = 0,
    IP6_ERR_SHORT,       /* shorter than the fixed header */
    IP6_ERR_VERSION,     /* version is not 6 */
    IP6_ERR_PAYLOAD_LEN, /* payload length past the bytes read, or 0 (no jumbograms) */
    IP6_ERR_CHAIN,       /* an extension header past the packet, or more than IP6_EXT_MAX */
    IP6_ERR_FRAGMENT,    /* a fragment (not atomic): the view's frag_* fields, for ip_frag.c */
    IP6_ERR_OPTION,      /* an unknown option whose type says discard silently (01) */
    IP6_ERR_NO_NEXT,     /* next header 59: nothing to deliver */
    IP6_PARAM_PROBLEM,   /* RFC 8200 §4: send ICMPv6 parameter problem *code, *pointer */
};

/* Parses pkt (len bytes read), walking Hop-by-Hop (first only), Destination Options,
 * Routing (segments left 0) and atomic Fragment headers up to the first other next header,
 * which is returned in v->nh: whether it is a protocol we handle is the caller's question
 * (if not: parameter problem code 1 at v->nh_ptr). On IP6_PARAM_PROBLEM, *code and *pointer (offset
 * from the start of the packet of the offending byte) say what to report; a code 2 problem (an
 * unrecognized option of type 10xxxxxx) is reported even to a multicast destination, one
 * of type 11xxxxxx only to a unicast one: *mcast_ok tells. The view's addresses and
 * header are valid for any result after IP6_ERR_PAYLOAD_LEN. */
enum ip6_parse_result ip6_parse(const uint8_t *pkt, size_t len, struct ip6_view *v, uint8_t *code,
                                uint32_t *pointer, bool *mcast_ok);

/* Writes the 40-byte fixed header (traffic class and flow label 0, hop limit 64). */
void ip6_build(uint8_t *buf, const uint8_t src[16], const uint8_t dst[16], uint8_t nh,
               size_t payload_len);
/* The 32-bit sum of the upper-layer pseudo-header (RFC 8200 §8.1), not folded. */
uint32_t ip6_pseudo_sum(const uint8_t src[16], const uint8_t dst[16], uint8_t nh, uint32_t len);

static inline bool ip6_is_multicast(const uint8_t a[16])
{
    return a[0] == 0xff;
}
bool ip6_is_unspecified(const uint8_t a[16]);
/* inet_ntop into buf (at least 46 bytes); returns buf. */
char *ip6_fmt(const uint8_t a[16], char *buf);
/* inet_pton; 0 on success. */
int ip6_parse_addr(const char *s, uint8_t out[16]);

#endif
