/* What the protocol modules of the core share: the stack object, the transmit buffer,
 * tracing, events and the handle table. Not part of the public API (stack.h). */
#ifndef MINITCP_STACK_INTERNAL_H
#define MINITCP_STACK_INTERNAL_H

#include "ip.h"
#include "ip_addr.h"
#include "mem.h"
#include "stack.h"

#define STACK_TX_MAX 65536
/* RFC 6864 §4.2: the identification comes from one of these counters, chosen by a keyed
 * hash of (source, destination, protocol), so it is unique per flow for long enough and
 * tells an observer nothing about the traffic to other destinations. */
#define STACK_IP_ID_BUCKETS 2048

enum handle_type { HANDLE_FREE = 0, HANDLE_TCP = 1, HANDLE_UDP = 2 };

struct handle_slot {
    void *obj;
    uint16_t gen;
    uint8_t type;
    uint32_t next_free; /* free-list link (slot index + 1, 0 = end) */
};

struct tcp_engine; /* tcp*.c: the TCP module's private state */
struct udp_state;  /* udp.c */

/* A TCP super-packet being gathered at tx + IPV4_HDR_LEN (tx_offload.c). */
struct stack_gso {
    unsigned open;    /* inside a send burst (depth): segments may be merged */
    uint32_t len;     /* L4 bytes gathered so far; 0 = none pending */
    uint32_t dst;     /* host order */
    uint32_t seq_end; /* sequence number the next segment must start at */
    uint16_t hl;      /* TCP header length */
    uint16_t size;    /* payload of each segment (the first one's) */
    uint16_t last;    /* payload of the latest one */
    uint16_t segs;
    uint16_t id; /* IPv4 identification of the first segment */
};

struct stack {
    struct stack_config cfg;
    struct stack_stats stats;
    stack_time_t now;      /* time of the call being processed */
    struct mem_acct mem;   /* socket buffer memory (mem.h) */
    struct ip_frag *frag;  /* IPv4 reassembly (ip_frag.h) */
    struct ip_frag *frag6; /* IPv6 reassembly (60 s timeout, its own bound) */
    uint32_t frag6_seq;    /* the IPv6 identification counter's input (RFC 7739) */
    uint64_t id_key[2];    /* keys the IP identification buckets */
    uint16_t ip_ids[STACK_IP_ID_BUCKETS];

    struct handle_slot *handles;
    uint32_t nhandles, cap_handles, free_head;

    struct udp_state *udp;
    struct tcp_engine *tcp;

    /* ICMP error rate limit: token bucket (RFC 1812 §4.3.2.8 spirit) */
    uint32_t icmp_tokens;
    stack_time_t icmp_refill;
    uint32_t icmp6_tokens; /* the same for ICMPv6 errors (RFC 4443 §2.4 f) */
    stack_time_t icmp6_refill;

    struct stack_gso gso;
    bool rx_csum_ok; /* the packet being input: its TCP checksum needs no check (link) */
    uint8_t tx[STACK_TX_MAX];
};

/* The L4 payload area of the transmit buffer: write a segment/datagram here, then call
 * stack_tx_send. Room for STACK_TX_MAX - IPV4_HDR_LEN bytes. */
uint8_t *stack_gso_payload(struct stack *st);
static inline uint8_t *stack_tx_payload(struct stack *st)
{
    if (st->gso.len) return stack_gso_payload(st); /* after a super-packet, or flushed */
    return st->tx + IPV4_HDR_LEN;
}
/* A send burst (tcp_output): TCP segments sent inside may be merged into super-packets
 * (with cfg.tx_offload); the end hands out what was gathered. Nests. */
void stack_gso_begin(struct stack *st);
void stack_gso_end(struct stack *st);
/* Hands out the pending super-packet, if any. */
void stack_gso_flush(struct stack *st);
/* stack_tx_send for TCP with cfg.tx_offload (tx_offload.c). */
void stack_gso_tcp(struct stack *st, uint32_t dst, size_t l4_len);
/* Hands packet pkt to the link (cfg.output_meta or cfg.output). */
void stack_link_out(struct stack *st, const uint8_t *pkt, size_t len,
                    const struct stack_tx_meta *m);
/* The same for IPv6 (room for STACK_TX_MAX - 40 bytes), then stack_tx_send6, which
 * prepends the fixed header; a packet larger than the MTU is sent in fragments (RFC 8200
 * §4.5), except TCP (never larger) and what does not fit the buffer with a fragment
 * header (payload over STACK_TX_MAX - 48 bytes): dropped, frag_tx_df_drops. */
static inline uint8_t *stack_tx_payload6(struct stack *st)
{
    if (st->gso.len) stack_gso_flush(st);
    return st->tx + 40;
}
void stack_tx_send6(struct stack *st, const uint8_t dst[16], uint8_t nh, size_t l4_len);
/* IPv6 input (icmp6.c): RFC 8200 §4 and ICMPv6. */
void ip6_input(struct stack *st, const uint8_t *pkt, size_t len);
struct ip6_view;
/* An ICMPv6 error about the packet v (RFC 4443 §2.4 rules, rate-limited). */
void icmp6_send_error(struct stack *st, const struct ip6_view *v, uint8_t type, uint8_t code,
                      uint32_t param, bool mcast_ok);
void udp6_input(struct stack *st, const struct ip6_view *v); /* udp6.c */

/* The network layer as a transport sees it, for either family (issue 13 item 5): where
 * the segment/datagram to dst is written, the pseudo-header sum of its checksum (RFC 9293
 * §3.1, RFC 8200 §8.1), our address facing dst, and sending it (IPv4: stack_tx_send, DF
 * set; IPv6: stack_tx_send6). */
static inline uint8_t *stack_tx_l4(struct stack *st, struct ip_addr dst)
{
    /* (IPv4: after a super-packet being gathered, tx_offload.c) */
    return ipa_is_v4(dst) ? stack_tx_payload(st) : stack_tx_payload6(st);
}
uint32_t stack_pseudo_sum(struct ip_addr src, struct ip_addr dst, uint8_t proto, uint32_t len);
struct ip_addr stack_local_addr(const struct stack *st, struct ip_addr peer);
/* Whether we have an address of a's family (IPv6 needs --addr6). */
bool stack_has_family(const struct stack *st, struct ip_addr a);
void stack_tx_ip(struct stack *st, struct ip_addr dst, uint8_t proto, size_t l4_len);
/* The TCP MSS the link allows towards a: MTU less 40 (IPv4) or 60 (IPv6) bytes. */
uint16_t stack_link_mss(const struct stack *st, struct ip_addr a);

/* Prepends the IP header (DF set) and hands the packet to cfg.output (TCP: never larger
 * than the MTU, RFC 1191 path MTU discovery). */
void stack_tx_send(struct stack *st, uint32_t dst, uint8_t proto, size_t l4_len);
/* A datagram (UDP, ICMP): DF set when it fits the MTU, as Linux's IP_PMTUDISC_WANT; when
 * larger, sent in fragments if may_fragment, else dropped (frag_tx_df_drops). */
void stack_tx_dgram(struct stack *st, uint32_t dst, uint8_t proto, size_t l4_len,
                    bool may_fragment);
/* The identification for the next datagram to dst (RFC 6864). */
uint16_t stack_ip_id(struct stack *st, uint32_t dst, uint8_t proto);

void stack_trace(struct stack *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define STACK_TRACING(st) ((st)->cfg.trace != NULL)
#define TRACE(st, ...)                                                                             \
    do {                                                                                           \
        if (STACK_TRACING(st)) stack_trace((st), __VA_ARGS__);                                     \
    } while (0)

static inline void stack_event(struct stack *st, int h, unsigned ev)
{
    if (h > 0 && st->cfg.event) st->cfg.event(st->cfg.ctx, h, ev);
}

int handle_alloc(struct stack *st, enum handle_type type, void *obj); /* -ENOMEM */
void *handle_get(struct stack *st, int h, enum handle_type type);     /* NULL if stale */
void handle_release(struct stack *st, int h);

/* Protocol modules, called by stack.c */
void icmp_input(struct stack *st, const struct ip_view *ip);
/* Destination unreachable (type 3) about the packet ip, rate-limited. */
void icmp_send_unreach(struct stack *st, const struct ip_view *ip, uint8_t code);
/* Any ICMP error (RFC 1122 §3.2.2: header + 8 bytes quoted), same rate limit; false when
 * the limit suppressed it. */
bool icmp_send_error(struct stack *st, const struct ip_view *ip, uint8_t type, uint8_t code);

struct udp_state *udp_create(struct stack *st);
void udp_destroy(struct stack *st);
void udp_input(struct stack *st, const struct ip_view *ip);
/* A datagram for port dport from src (either family) to a socket bound there for its
 * family: queued (or dropped for its bound) and true; false when there is none. */
bool udp_sock_deliver(struct stack *st, struct ip_addr src, uint16_t sport, uint16_t dport,
                      const uint8_t *data, size_t data_len);

struct tcp_engine *tcp_create(struct stack *st);
void tcp_destroy(struct stack *st);
void tcp_input(struct stack *st, const struct ip_view *ip);
/* A segment of either family: the IP layer checked that dst is ours. */
void tcp_input_l4(struct stack *st, struct ip_addr src, struct ip_addr dst, const uint8_t *p,
                  size_t len);
void tcp_poll(struct stack *st);
/* ICMP fragmentation needed (RFC 1191): q is the quoted IP header and what follows it. */
void tcp_icmp_frag_needed(struct stack *st, const uint8_t *q, size_t qlen, uint16_t next_mtu);
/* ICMPv6 packet too big (RFC 8201): q is the quoted IPv6 packet. */
void tcp_icmp6_packet_too_big(struct stack *st, const uint8_t *q, size_t qlen, uint32_t mtu);
void tcp_mem_wake(struct stack *st);    /* wakes senders refused for memory when it is free */
bool tcp_mem_waiting(struct stack *st); /* ... and there is memory to wake them for */
stack_time_t tcp_next_deadline(struct stack *st);

#endif
