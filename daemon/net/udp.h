/* UDP (RFC 768): parse/build with the pseudo-header checksum, sockets, echo service. */
#ifndef MINITCP_UDP_H
#define MINITCP_UDP_H

#include <stddef.h>
#include <stdint.h>

#define UDP_HDR_LEN 8
#define UDP_MAX_PAYLOAD (65535 - 20 - UDP_HDR_LEN) /* 65,507: IPv4's total length */
/* IPv6: the payload length allows 65,527; the transmit buffer with a fragment header less */
#define UDP6_MAX_PAYLOAD (65536 - 40 - 8 - UDP_HDR_LEN)
#define UDP_RCVBUF_MAX (256 * 1024) /* credit_dgram_cost queued per socket before drops */

struct udp_view {
    uint16_t sport, dport;
    const uint8_t *data;
    size_t data_len;
    int had_checksum; /* 0: sender sent none (checksum field 0) */
};

enum udp_parse_result { UDP_OK = 0, UDP_ERR_SHORT, UDP_ERR_LENGTH, UDP_ERR_CHECKSUM };

/* seg/len is the IP payload; src/dst (host order) feed the pseudo-header. */
enum udp_parse_result udp_parse(const uint8_t *seg, size_t len, uint32_t src, uint32_t dst,
                                struct udp_view *v);
/* Writes header + data (data may already sit at out+8) with checksum; returns length. */
size_t udp_build(uint8_t *out, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                 const uint8_t *data, size_t data_len);

#endif
