/* RFC 1071 Internet checksum: the one implementation used by IP, ICMP, UDP and TCP. */
#ifndef MINITCP_CHECKSUM_H
#define MINITCP_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* Adds buf to a running 32-bit one's-complement accumulator. An odd trailing byte is
 * padded with a zero byte on the right (RFC 1071 §4.1). Chain calls only where every
 * buffer but the last has an even length. */
uint32_t csum_add(uint32_t sum, const void *buf, size_t len);
/* Folds the accumulator to 16 bits and complements it: the value to put in a header. */
uint16_t csum_finish(uint32_t sum);
/* Folds the accumulator to 16 bits, not complemented: the partial checksum a link
 * finishes (the pseudo-header sum of checksum offload). */
uint16_t csum_fold(uint32_t sum);
/* csum_finish(csum_add(0, buf, len)). A buffer containing a correct checksum gives 0. */
uint16_t inet_checksum(const void *buf, size_t len);
/* Accumulator for the 12-byte TCP/UDP pseudo-header (RFC 768, RFC 9293 §3.1);
 * addresses in host order, len = L4 header + payload. */
uint32_t csum_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len);

#endif
