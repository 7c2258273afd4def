/* TCP options (RFC 9293 §3.1, §3.7.1; RFC 7323 window scale and timestamps; RFC 2018
 * SACK-permitted): parsing of a received option list and building of the options we send.
 * Pure: no stack state, unit-tested on bytes (tests/unit/test_tcp_options.c). */
#ifndef MINITCP_TCP_OPTIONS_H
#define MINITCP_TCP_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    TCPOPT_EOL = 0,
    TCPOPT_NOP = 1,
    TCPOPT_MSS = 2,       /* length 4 */
    TCPOPT_WSCALE = 3,    /* length 3 */
    TCPOPT_SACK_PERM = 4, /* length 2 */
    TCPOPT_SACK = 5,      /* length 2 + 8n */
    TCPOPT_TS = 8,        /* length 10 */
};

#define TCPOLEN_TS 10
#define TCPOLEN_TS_ALIGNED 12 /* NOP, NOP, TSopt: what every segment carries once negotiated */
#define TCP_WSCALE_MAX 14     /* RFC 7323 §2.3 */
#define TCP_MSS_MIN 64        /* a smaller MSS option is raised to this */
#define TCP_SACK_MAX 4        /* blocks in one SACK option (RFC 2018 §3: 40 bytes of options) */

/* A SACK block: [start, end) in sequence space. */
struct tcp_sack_blk {
    uint32_t start, end;
};

/* What a segment's options say. Unknown kinds are skipped; a known kind with the wrong
 * length is ignored (its *_bad flag says so, for the counters). */
struct tcp_opts {
    uint16_t mss;   /* 0 = absent */
    int8_t ws;      /* window scale shift (clamped to 14), -1 = absent */
    bool sack_perm; /* SACK-permitted (RFC 2018 §2) */
    bool sack_bad;  /* a SACK option whose length is not 2 + 8n (n 1..4): ignored */
    bool ts;        /* a well-formed TSopt: tsval, tsecr valid */
    bool ts_bad;    /* a TSopt of the wrong length was seen (and ignored) */
    uint8_t nsack;  /* SACK blocks as received (validated against the TCB later) */
    uint32_t tsval, tsecr;
    struct tcp_sack_blk sack[TCP_SACK_MAX];
};

/* Parses the len option bytes at p (the header beyond its 20 fixed bytes). Returns false
 * when the list itself is malformed (a length byte that is missing, below 2 or runs past
 * the end): the segment is to be dropped. */
bool tcp_opts_parse(const uint8_t *p, size_t len, struct tcp_opts *o);

/* The options of a SYN or SYN,ACK. */
struct tcp_syn_opts {
    uint16_t mss;
    int ws;         /* our shift, -1 = no window scale option */
    bool sack_perm; /* send SACK-permitted */
    bool ts;        /* send a TSopt with tsval/tsecr */
    uint32_t tsval, tsecr;
};
/* Writes the options (a multiple of 4 bytes, at most 20) to buf (>= 40 bytes). Layout:
 * MSS; NOP WS; then SACK-permitted + TS, or NOP NOP TS, or NOP NOP SACK-permitted. */
size_t tcp_opts_build_syn(uint8_t *buf, const struct tcp_syn_opts *o);
/* NOP, NOP, TSopt: TCPOLEN_TS_ALIGNED bytes. */
size_t tcp_opts_build_ts(uint8_t *buf, uint32_t tsval, uint32_t tsecr);

#endif
