/* Shared helpers for the packet-layer unit tests: packet builders that compute their own
 * checksums (independently of daemon/net/checksum.c) and a stack wired to capture
 * callbacks. Every global symbol here starts with ph_ because every *_harness.c is linked
 * into every unit test binary. */
#ifndef MINITCP_PKT_HARNESS_H
#define MINITCP_PKT_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "stack.h"

#define PH_ADDR(a, b, c, d)                                                                        \
    (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))
#define PH_PEER PH_ADDR(10, 0, 0, 1)
#define PH_US PH_ADDR(10, 0, 0, 2)

#define PH_MAX_PKTS 64
#define PH_MAX_EVENTS 512
#define PH_MAX_LINES 128
#define PH_LINE_MAX 256

struct ph_pkt {
    uint8_t *data;
    size_t len;
};

struct ph_event {
    int handle;
    unsigned events;
};

/* A stack plus everything it handed back through its callbacks. */
struct ph_ctx {
    struct stack *st;
    struct stack_config cfg;
    size_t npkts;
    struct ph_pkt pkts[PH_MAX_PKTS];
    size_t nevents;
    struct ph_event events[PH_MAX_EVENTS];
    size_t nlines;
    char lines[PH_MAX_LINES][PH_LINE_MAX];
};

/* stack_config_defaults, addr 10.0.0.2, the given UDP echo port (0 = off), capture
 * callbacks and tracing on. Aborts the test on failure. */
struct ph_ctx *ph_new(uint16_t udp_echo_port);
/* The same with the IPv6 address fd00::2 (cfg.addr6). */
struct ph_ctx *ph_new6(uint16_t udp_echo_port);
void ph_free(struct ph_ctx *c);
/* Forgets captured packets, events and trace lines. */
void ph_clear(struct ph_ctx *c);
void ph_input(struct ph_ctx *c, const uint8_t *pkt, size_t len, uint64_t now);
/* 1 if some captured trace line equals line exactly. */
int ph_has_line(const struct ph_ctx *c, const char *line);
/* Number of captured trace lines starting with prefix. */
size_t ph_count_lines(const struct ph_ctx *c, const char *prefix);

/* Asserts the stack's counters: every "name=value" in spec (space separated, names as in
 * stats.h, e.g. "ip_rx_packets=1 ip_drop_short=1") has that value and every counter not
 * named is 0. */
void ph_expect_counters(const struct ph_ctx *c, const char *spec);
/* The counter called name (as in stats.h); aborts the test on an unknown name. */
uint64_t ph_counter(const struct ph_ctx *c, const char *name);

/* ---- checksums (a second, deliberately naive implementation) ---- */
/* 32-bit sum of big-endian 16-bit words, odd byte padded on the right. */
uint32_t ph_sum(uint32_t acc, const uint8_t *p, size_t n);
/* Folds and complements. */
uint16_t ph_fold(uint32_t acc);
/* Sum of the 12-byte pseudo-header. */
uint32_t ph_pseudo_sum(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len);

/* ---- builders; buffers must be large enough; return the bytes written ---- */
/* 20-byte IPv4 header (id 0x1234, TTL 64, no flags) + payload copied after it. */
size_t ph_ip(uint8_t *buf, uint32_t src, uint32_t dst, uint8_t proto, const uint8_t *payload,
             size_t plen);
/* Recomputes the IP header checksum over IHL*4 bytes (after a test edited the header). */
void ph_ip_fix_csum(uint8_t *pkt);
/* ICMP echo-format message (type, code 0, id, seq, data) with checksum. */
size_t ph_icmp_echo(uint8_t *buf, uint8_t type, uint16_t id, uint16_t seq, const uint8_t *data,
                    size_t n);
/* UDP header + data with the pseudo-header checksum. */
size_t ph_udp(uint8_t *buf, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
              const uint8_t *data, size_t n);
/* Fills n bytes with a recognisable pattern (i * 7 + 3). */
void ph_pattern(uint8_t *buf, size_t n);
/* Whole packets: 10.0.0.1 -> 10.0.0.2 by default (src/dst given). */
size_t ph_ping(uint8_t *buf, uint32_t src, uint32_t dst, uint16_t id, uint16_t seq,
               size_t data_len);
size_t ph_udp_pkt(uint8_t *buf, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                  const uint8_t *data, size_t n);

/* ---- reading packets back ---- */
uint16_t ph_get16(const uint8_t *p);
uint32_t ph_get32(const uint8_t *p);
void ph_put16(uint8_t *p, uint16_t v);

#endif
