/* ICMP (RFC 792): echo reply, destination unreachable, time exceeded. */
#ifndef MINITCP_ICMP_H
#define MINITCP_ICMP_H

#include <stddef.h>
#include <stdint.h>

#define ICMP_ECHO_REPLY 0
#define ICMP_DEST_UNREACH 3
#define ICMP_ECHO_REQUEST 8
#define ICMP_TIME_EXCEEDED 11
#define ICMP_UNREACH_FRAG_NEEDED 4 /* RFC 1191: next-hop MTU in bytes 6-7 */
#define ICMP_HDR_LEN 8
#define ICMP_UNREACH_PORT 3

struct icmp_view {
    uint8_t type, code;
    uint16_t id, seq; /* meaningful for echo */
    const uint8_t *data;
    size_t data_len; /* bytes after the 8-byte header */
};

enum icmp_parse_result { ICMP_OK = 0, ICMP_ERR_SHORT, ICMP_ERR_CHECKSUM };

enum icmp_parse_result icmp_parse(const uint8_t *msg, size_t len, struct icmp_view *v);
/* Builds an echo reply into out (len 8 + data_len); returns its length. */
size_t icmp_build_echo(uint8_t *out, uint8_t type, uint16_t id, uint16_t seq, const uint8_t *data,
                       size_t data_len);

#endif
