/* The virtio-net header (virtio 1.2 §5.1.6, struct virtio_net_hdr without num_buffers)
 * that a TUN device opened with IFF_VNET_HDR puts before every packet, both ways: it
 * says whether the L4 checksum is partial (the pseudo-header sum only, to be finished
 * from csum_start) or already validated, and whether the packet is a GSO super-packet
 * to be cut into segments of gso_size payload bytes. Pure functions over bytes: parsing
 * and validation of what the kernel hands us, building what we hand it, and the
 * segmentation the kernel would do (for captures, tests and a refused write).
 * Fields are little-endian, as the TUN driver uses on little-endian hosts. */
#ifndef MINITCP_VNET_H
#define MINITCP_VNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stack.h"

#define VNET_HDR_LEN 10
#define VNET_F_NEEDS_CSUM 1
#define VNET_F_DATA_VALID 2
#define VNET_GSO_NONE 0
#define VNET_GSO_TCPV4 1
#define VNET_GSO_UDP 3
#define VNET_GSO_TCPV6 4
#define VNET_GSO_UDP_L4 5
#define VNET_GSO_ECN 0x80
/* The largest packet a read may return: an IP datagram of 65535 bytes (a TUN device's
 * GSO limit is 64 KiB) after the header. A read buffer of VNET_RX_BUF bytes that a read
 * fills completely held something larger: it is dropped (vnet_drop_too_big). */
#define VNET_RX_MAX (VNET_HDR_LEN + 65535)
#define VNET_RX_BUF (VNET_RX_MAX + 1)

struct vnet_hdr {
    uint8_t flags;    /* VNET_F_* */
    uint8_t gso_type; /* VNET_GSO_*, with VNET_GSO_ECN */
    uint16_t hdr_len; /* IP + L4 header bytes (a hint) */
    uint16_t gso_size;
    uint16_t csum_start;  /* from the start of the IP header */
    uint16_t csum_offset; /* of the checksum field, from csum_start */
};

void vnet_hdr_decode(const uint8_t b[VNET_HDR_LEN], struct vnet_hdr *h);
void vnet_hdr_encode(uint8_t b[VNET_HDR_LEN], const struct vnet_hdr *h);

enum vnet_result {
    VNET_OK = 0,
    VNET_ERR_SHORT,      /* fewer bytes than the header and an IP version nibble */
    VNET_ERR_TOO_BIG,    /* the read filled the buffer: the packet was cut */
    VNET_ERR_FLAGS,      /* unknown flag bits, or NEEDS_CSUM with DATA_VALID */
    VNET_ERR_GSO_TYPE,   /* not TCPv4/TCPv6, or not the packet's IP version and protocol */
    VNET_ERR_GSO_SIZE,   /* 0, or no room for one segment in an IP datagram */
    VNET_ERR_CSUM_RANGE, /* checksum field outside the packet, or start inside the IP header */
};

/* A packet read from the device, validated. */
struct vnet_rx {
    struct vnet_hdr h;
    uint8_t *pkt; /* the IP packet, inside the read buffer */
    size_t len;
    bool csum_ok;        /* the L4 checksum needs no check (stack_rx_meta.csum_ok) */
    bool csum_completed; /* a partial checksum was finished here, in software */
    uint16_t gso_size;   /* 0 unless a GSO super-packet */
};

/* Validates the n bytes a read put in buf (of cap bytes) and prepares the packet for
 * the core: a partial TCP checksum at its usual place is left as it is (csum_ok:
 * the data never crossed a wire), any other partial checksum is finished in place. */
enum vnet_result vnet_rx_prepare(uint8_t *buf, size_t n, size_t cap, struct vnet_rx *out);
/* Counts a drop in the vnet_drop_* counter for r (r != VNET_OK). */
void vnet_count_drop(struct stack_stats *s, enum vnet_result r);
const char *vnet_result_name(enum vnet_result r);

/* The header for a packet the core hands out with meta m (pkt: the IP packet). */
void vnet_tx_hdr(uint8_t b[VNET_HDR_LEN], const uint8_t *pkt, const struct stack_tx_meta *m);

/* What the kernel does with a packet written with header h: a super-packet is cut into
 * segments (each with the headers copied, IPv4 identification + i, sequence number +
 * i * gso_size, PSH and FIN only on the last, lengths and both checksums computed); a
 * partial checksum is finished. Each resulting packet is built in scratch (>= 65535
 * bytes) and passed to fn. Returns the number of packets, or -1 when pkt is not a
 * packet this can cut (nothing is passed then). IPv4 TCP super-packets only. */
int vnet_segment(const uint8_t *pkt, size_t len, const struct vnet_hdr *h, uint8_t *scratch,
                 void (*fn)(void *arg, const uint8_t *pkt, size_t len), void *arg);

#endif
