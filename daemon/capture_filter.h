/* The live capture's packet filter (`minitcpctl capture --host A --port P`). Pure
 * (tests/unit/test_capture_filter.c). */
#ifndef MINITCP_CAPTURE_FILTER_H
#define MINITCP_CAPTURE_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct capture_filter {
    uint32_t host; /* IPv4 source or destination, host order; 0 = any */
    uint16_t port; /* TCP or UDP source or destination port; 0 = any */
};

/* True when pkt (an IPv4 or IPv6 packet from its first byte) passes f. A packet too short
 * or malformed for what the filter must look at does not pass (a filter that looks at
 * nothing passes everything); a fragment other than the first carries no ports and passes
 * only a filter without one; an IPv6 packet never matches a host (IPv4) filter, and its
 * ports are read only when TCP or UDP follows the fixed header directly. */
bool capture_match(const struct capture_filter *f, const uint8_t *pkt, size_t len);

#endif
