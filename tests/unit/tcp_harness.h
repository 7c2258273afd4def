/* TCP engine test harness (every global symbol starts with th_).
 *
 * - th_engine: a stack whose output packets, events and trace lines are captured.
 * - th_seg(): crafts a TCP segment in an IPv4 packet with correct checksums (computed
 *   here, independently of daemon/net/checksum.c) and feeds it to an engine.
 * - th_pop(): takes the oldest captured output packet and parses it (asserting that its
 *   IP and TCP checksums are valid).
 * - th_link: two engines over a simulated link with one-way delay, optional serialisation
 *   (rate and queue bound), seeded loss, duplication and reordering, run in virtual time.
 * Built with TH_NO_CRITERION (bench programs), the harness's checks abort instead. */
#ifndef MINITCP_TCP_HARNESS_H
#define MINITCP_TCP_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stack.h"

#define TH_ADDR(a, b, c, d)                                                                        \
    (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))
#define TH_PEER TH_ADDR(10, 0, 0, 1) /* the crafted segments' source */
#define TH_US TH_ADDR(10, 0, 0, 2)   /* the engine under test */

enum { THF_FIN = 1, THF_SYN = 2, THF_RST = 4, THF_PSH = 8, THF_ACK = 16 };

struct th_event {
    int handle;
    unsigned events;
};

struct th_link;

struct th_engine {
    struct stack *st;
    struct stack_config cfg;
    uint64_t now;
    /* captured output, FIFO */
    uint8_t **pkt;
    size_t *pkt_len;
    size_t npkt, pkt_head, pkt_cap;
    /* captured events */
    struct th_event *ev;
    size_t nev, ev_cap;
    /* captured trace lines (only while trace_on) */
    char **lines;
    size_t nlines, lines_cap;
    bool trace_on;
    struct th_link *link;
    int side;
    uint32_t peer_nxt; /* SEG.SEQ of the crafted peer's segments (th_establish) */
};

/* stack_config_defaults with addr, a fixed secret, and the harness callbacks. */
void th_config(struct stack_config *cfg, uint32_t addr);
/* A new engine from cfg (output/event/trace/ctx are replaced). Tracing captured if trace. */
struct th_engine *th_new(const struct stack_config *cfg, bool trace);
/* th_config(TH_US) + th_new(trace on) */
struct th_engine *th_default(void);
void th_free(struct th_engine *e);
void th_clear(struct th_engine *e); /* forgets packets, events, lines */

/* A segment to craft. opt/optlen: raw option bytes (padded to 4 by the harness with
 * zeros). src/dst default to TH_PEER/TH_US when 0. */
struct th_spec {
    uint32_t src, dst;
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t wnd;
    const uint8_t *opt;
    size_t optlen;
    const void *data;
    size_t len;
    int bad_doff; /* if nonzero, written as the data offset (in 32-bit words) */
};
/* Builds the packet into buf (>= 60 + len bytes); returns its length. */
size_t th_build(const struct th_spec *s, uint8_t *buf, size_t cap);
/* Builds and feeds a segment to e at e->now. */
void th_seg(struct th_engine *e, const struct th_spec *s);
void th_poll(struct th_engine *e, uint64_t now);

/* A parsed output segment. */
struct th_out {
    uint32_t src, dst;
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t wnd;
    uint32_t len;
    uint8_t data[65536];
    uint16_t mss; /* 0 = absent */
    int ws;       /* -1 = absent */
    bool sack_perm;
    int nsack;           /* SACK blocks, in option order */
    uint32_t sack[4][2]; /* [start, end) */
    size_t optlen;       /* option bytes (header length - 20) */
    bool ts;             /* a TSopt (RFC 7323) */
    uint32_t tsval, tsecr;
};
/* Pops the oldest captured output packet into *o; false when none. */
bool th_pop(struct th_engine *e, struct th_out *o);
size_t th_pending(const struct th_engine *e);
/* Drops all captured output packets. */
void th_drop_out(struct th_engine *e);

bool th_has_line(const struct th_engine *e, const char *line);
size_t th_count_lines(const struct th_engine *e, const char *prefix);
/* Number of captured events for handle with any bit of mask. */
size_t th_count_events(const struct th_engine *e, int handle, unsigned mask);

/* ---- one connection to the crafted peer ----
 * The fixture most engine tests share: an active open from our port TH_LPORT to the
 * crafted peer's TH_PPORT, answered by hand, after which the test sends and ACKs. */
#define TH_LPORT 5555
#define TH_PPORT 80
struct th_open {
    uint32_t iss;       /* our ISN, fixed with tcp_test_set_isn */
    uint32_t pisn;      /* the peer's */
    uint64_t synack_at; /* the SYN leaves at e->now, the SYN-ACK comes at synack_at */
    uint16_t wnd;       /* the SYN-ACK's window; 0 = 65535 */
    uint16_t mss;       /* its MSS option; 0 = 1460 */
    bool sack;          /* SACK-permitted */
    bool ts;            /* a TSopt, SEG.TSval = tsval, echoing our SYN's */
    uint32_t tsval;
};
/* Connects, checks the SYN, answers with o's SYN-ACK, checks our ACK (and, with o->ts,
 * that timestamps were agreed). Returns the handle. */
int th_establish(struct th_engine *e, const struct th_open *o);
/* A segment from the peer of th_establish (SEG.SEQ = its ISN + 1), flags ACK. */
#define TH_ZERO_WND (-1)
struct th_ack {
    uint32_t ack;
    int wnd;              /* the window field; 0 = 65535, TH_ZERO_WND = 0 */
    int nsack;            /* SACK blocks */
    const uint32_t *sack; /* [start, end) pairs */
    bool ts;              /* a TSopt with tsval, tsecr */
    uint32_t tsval, tsecr;
};
void th_peer_send(struct th_engine *e, uint64_t now, const struct th_ack *a);
/* The usual ACK: window 65535, no options. */
void th_peer_ack(struct th_engine *e, uint64_t now, uint32_t ack);
/* Pops the next output segment into *o and checks it carries [seq, seq + len) of the
 * stream whose byte at base_seq is base[0]. */
void th_expect_data(struct th_engine *e, struct th_out *o, uint32_t seq, uint32_t len,
                    const uint8_t *base, uint32_t base_seq);
/* Fails when an output segment is pending, naming the first. */
void th_expect_none(struct th_engine *e);
/* stack_tcp_info of handle h (asserted to succeed). */
struct stack_conn_info th_info(struct th_engine *e, int h);

/* ---- bulk data for transfer tests ---- */
/* Sends th_pattern(seed) bytes from *sent up to total, as far as the send buffer takes
 * them (*sent advances). */
void th_pump_send(struct th_engine *e, int h, uint32_t seed, uint64_t total, uint64_t *sent,
                  uint64_t now);
/* Receives what is readable, asserting each byte is th_pattern(seed) at its offset (*rcvd
 * advances); true once EOF was read. */
bool th_pump_recv(struct th_engine *e, int h, uint32_t seed, uint64_t *rcvd, uint64_t now);

/* ---- the simulated link ---- */
struct th_link_cfg {
    uint64_t seed;
    unsigned loss_pct, dup_pct, reorder_pct;
    uint32_t delay_ms;  /* one way */
    uint32_t jitter_ms; /* extra delay for reordered packets: up to this much */
    /* When nonzero, replaces delay_ms: a->b takes ceil(rtt_ms / 2), b->a floor(rtt_ms / 2)
     * (time is in whole milliseconds, so an RTT of 1 ms is 1 + 0). */
    uint32_t rtt_ms;
    /* Serialisation, each direction on its own: rate_bpms bytes per ms (0 = infinitely
     * fast); a packet finding more than queue_bytes waiting is dropped (0 = no bound). */
    uint32_t rate_bpms;
    uint32_t queue_bytes;
};
struct th_link *th_link_new(struct th_engine *a, struct th_engine *b,
                            const struct th_link_cfg *cfg);
void th_link_free(struct th_link *l);
uint64_t th_link_now(const struct th_link *l);
/* Advances to the next event (packet delivery or engine deadline) if it is <= until,
 * runs it, and returns true; returns false (time unchanged) otherwise. */
bool th_link_step(struct th_link *l, uint64_t until);
uint64_t th_link_sent(const struct th_link *l);
uint64_t th_link_dropped(const struct th_link *l);     /* random loss and full queues */
uint64_t th_link_queue_drops(const struct th_link *l); /* full queues only */
/* When the last packet was handed to the link (dropped ones included); 0 before any. */
uint64_t th_link_last_send(const struct th_link *l);
/* The longest one-way trip a packet can take without queueing: delay plus jitter. */
uint32_t th_link_max_oneway(const struct th_link *l);

/* A deterministic byte pattern for transfer checks. */
static inline uint8_t th_pattern(uint32_t seed, uint64_t i)
{
    uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ULL ^ seed;
    x ^= x >> 29;
    return (uint8_t)(x ^ (x >> 17));
}

#endif
