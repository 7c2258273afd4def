/* IPv4 (RFC 791): parse into a view, validate once, build headers. Pure functions. */
#ifndef MINITCP_IP_H
#define MINITCP_IP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IPV4_HDR_LEN 20
#define IP_PROTO_ICMP 1
#define IP_PROTO_TCP 6
#define IP_PROTO_UDP 17

/* A validated IPv4 packet. payload points into the caller's buffer. */
struct ip_view {
    uint32_t src, dst; /* host byte order */
    uint8_t proto, ttl, tos;
    uint16_t id;
    uint16_t frag_off;  /* fragment offset in bytes (the field times 8) */
    bool mf, df;        /* More Fragments, Don't Fragment */
    const uint8_t *hdr; /* start of the IP header */
    size_t hdr_len;     /* IHL * 4 */
    const uint8_t *payload;
    size_t payload_len; /* total length - IHL*4 */
    int trailing;       /* bytes beyond total length were present */
    bool l4_csum_ok;    /* the link validated the L4 checksum (stack_rx_meta) */
};

enum ip_parse_result {
    IP_OK = 0,
    IP_ERR_SHORT,
    IP_ERR_VERSION,
    IP_ERR_IHL,
    IP_ERR_TOTAL_LEN,
    IP_ERR_CHECKSUM,
};

/* Validates version, IHL, total length against len and the header checksum. Fills *v on
 * IP_OK; a fragment (mf or frag_off) is left to ip_frag.c. */
enum ip_parse_result ip_parse(const uint8_t *pkt, size_t len, struct ip_view *v);
const char *ip_proto_name(uint8_t proto);

/* Writes a 20-byte header (TTL 64, DF, no options) with its checksum at buf. */
void ip_build(uint8_t *buf, uint32_t src, uint32_t dst, uint8_t proto, uint16_t id,
              size_t payload_len);
/* The same with the flags and fragment offset field (bytes 6-7) given. */
void ip_build_frag(uint8_t *buf, uint32_t src, uint32_t dst, uint8_t proto, uint16_t id,
                   size_t payload_len, uint16_t frag_field);
#define IP_DF 0x4000
#define IP_MF 0x2000
#define IP_OFFMASK 0x1fff

/* "a.b.c.d" into buf (at least 16 bytes); returns buf. */
char *ip_fmt(uint32_t addr, char *buf);
/* Parses dotted quad; returns 0 on success. */
int ip_parse_addr(const char *s, uint32_t *out);

#endif
