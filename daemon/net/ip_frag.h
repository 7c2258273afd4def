/* IPv4 fragments (RFC 791 §2.3 and §3.2): reassembly of incoming fragments and
 * fragmentation of outgoing datagrams. Pure: driven by packets and the time, no clock,
 * no I/O; counters go to the stack's stats (frag_*).
 *
 * Reassembly keeps, per datagram (source, destination, protocol, identification), the
 * fragments received as a sorted list of disjoint byte intervals (the hole list of RFC 815
 * kept as its complement: the datagram is complete when the intervals cover 0..total).
 * Policies (docs/protocol_notes.md, "IPv4 fragments"):
 *   - overlapping fragments discard the whole datagram, also its fragments still to come
 *     until the timeout (RFC 5722 §3, applied to IPv4); an exact duplicate is ignored;
 *   - a first fragment too short to hold the transport header, and a TCP fragment at
 *     offset 8, are dropped (RFC 1858 §3.2, §4);
 *   - a datagram may not pass 65,535 bytes (RFC 791), nor hold more than IPF_MAX_PIECES;
 *   - memory: every queue and fragment is charged (struct + bytes) against mem_max and,
 *     per source address, against mem_max / 4; a fragment over either is dropped (as
 *     Linux's ipfrag_high_thresh, whose default of 4 MiB is ours too);
 *   - a datagram not complete IPF timeout after its first fragment arrived is discarded;
 *     ip_frag_expire hands back the quote for an ICMP Time Exceeded (code 1) when its
 *     first fragment (offset 0) was among those received (RFC 792, RFC 1122 §3.3.2). */
#ifndef MINITCP_IP_FRAG_H
#define MINITCP_IP_FRAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ip.h"
#include "ip6.h"
#include "ip_addr.h"
#include "stats.h"

#define IPF_MAX_DGRAM 65535 /* RFC 791: total length, header included */
#define IPF_HDR_MAX 60      /* IHL 15 */
#define IPF_UNFRAG6_MAX 128 /* IPv6: the unfragmentable part we reassemble behind */
#define IPF_QUOTE_MAX (IPF_UNFRAG6_MAX + 8 + 8)
#define IPF6_DEFAULT_TIMEOUT 60000u /* ms, RFC 8200 §4.5 */
#define IPF_MAX_PIECES 256          /* fragments held per datagram (64 KiB at MTU 576: 118) */
#define IPF_DEFAULT_MEM (4u << 20)  /* Linux ipfrag_high_thresh */
#define IPF_DEFAULT_TIMEOUT 30000u  /* ms, Linux ipfrag_time */
#define IPF_SRC_SHARE 4             /* one source may hold 1/4 of the bound */

struct ip_frag;

uint64_t siphash24(const uint64_t key[2], const void *msg, size_t len); /* tcp_isn.c */

/* key: 16 bytes keying the table hash (the daemon's random secret). NULL on no memory. */
struct ip_frag *ip_frag_new(uint64_t mem_max, uint32_t timeout_ms, const uint8_t key[16],
                            struct stack_stats *stats);
void ip_frag_free(struct ip_frag *f);
/* The counter every dropped fragment bumps (default ip_drop_fragment). */
void ip_frag_set_drop_counter(struct ip_frag *f, uint64_t *c);
/* What the bounds charge: a datagram's queue, and a fragment of len bytes. */
size_t ip_frag_queue_cost(void);
size_t ip_frag_piece_cost(size_t len);

enum ip_frag_result {
    IPF_HELD,     /* stored (or an exact duplicate ignored): the datagram is not complete */
    IPF_COMPLETE, /* *out is the whole datagram, header first (checksum valid, no MF, offset
                     0); valid until the next call into f */
    IPF_DROP,     /* dropped and counted; *why says why */
};

/* ip is a fragment for us (ip->mf or ip->frag_off), of a protocol we reassemble. */
enum ip_frag_result ip_frag_input(struct ip_frag *f, const struct ip_view *ip, uint64_t now,
                                  const uint8_t **out, size_t *out_len, const char **why);

/* IPv6 (RFC 8200 §4.5): v is a fragment for us (ip6_parse gave IP6_ERR_FRAGMENT) whose
 * unfragmentable part is at most IPF_UNFRAG6_MAX bytes and whose length and offset the
 * caller checked (§4.5's parameter problems, RFC 7112's first fragment). The same
 * policies as IPv4 (overlap discards the datagram, bounds, timeout); the key is (source,
 * destination, identification). COMPLETE gives the unfragmentable part with the Next
 * Header that named the fragment header set to the fragment's, then the data. */
enum ip_frag_result ip6_frag_input(struct ip_frag *f, const struct ip6_view *v, uint64_t now,
                                   const uint8_t **out, size_t *out_len, const char **why);

/* A datagram that timed out with its first fragment: that fragment's header (IPv6: the
 * unfragmentable part and the fragment header) and the first 8 bytes of its payload, to
 * quote in the ICMP Time Exceeded message. */
struct ip_frag_expired {
    struct ip_addr src;
    size_t hdr_len, len; /* quote = hdr_len bytes of header, then len - hdr_len of data */
    uint8_t quote[IPF_QUOTE_MAX];
};

/* Discards every datagram whose time is up at now; returns true (and fills *out) for the
 * first one that asks for a Time Exceeded message: call again until false. */
bool ip_frag_expire(struct ip_frag *f, uint64_t now, struct ip_frag_expired *out);
/* When ip_frag_expire has work, UINT64_MAX if never. */
uint64_t ip_frag_deadline(const struct ip_frag *f);

/* Fragmentation (RFC 791 §3.2 "An Example Fragmentation Procedure"). The datagram's payload
 * (len bytes) sits at buf + IPV4_HDR_LEN; each fragment carries a 20-byte header (DF clear,
 * MF on all but the last, offset in 8-byte units, its own checksum) and at most
 * (mtu - 20) & ~7 bytes. A fragment's header is written into the 20 bytes before its data,
 * over the end of the fragment before it: emit must be done with a packet when it returns.
 * Returns the number of fragments. */
size_t ip_fragment(uint8_t *buf, size_t len, uint32_t src, uint32_t dst, uint8_t proto, uint16_t id,
                   uint16_t mtu, void (*emit)(void *ctx, const uint8_t *pkt, size_t pkt_len),
                   void *ctx);

#endif
