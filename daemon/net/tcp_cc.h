/* Congestion control behind a small operations table (as Linux's tcp_congestion_ops and
 * FreeBSD's cc_algo): the algorithm decides cwnd growth on ACKs and the reduction on a
 * loss or a timeout; loss recovery (tcp_input.c: when to retransmit, the window inflation
 * of RFC 6582 or PRR) calls it at those moments and owns the rest.
 *
 *   tcp_cc.c          selection by id/name, the wrappers below (undo bookkeeping, caps),
 *                     the RFC 6928 initial window
 *   tcp_cc_newreno.c  RFC 5681 slow start and congestion avoidance
 *
 * Every function takes the TCB after SND.UNA/SND.MAX are up to date. cwnd and ssthresh
 * are bytes; ssthresh UINT32_MAX until the first reduction. */
#ifndef MINITCP_TCP_CC_H
#define MINITCP_TCP_CC_H

#include <stdbool.h>
#include <stdint.h>

struct stack;
struct tcb;

enum tcp_cc_id { TCP_CC_NEWRENO = 0, TCP_CC_CUBIC = 1, TCP_CC_COUNT };

/* An ACK of new data outside loss recovery. */
struct tcp_cc_ack {
    uint32_t acked;  /* bytes newly acknowledged (SND.UNA moved by this much) */
    uint32_t rtt_ms; /* a valid (Karn) RTT sample taken from this ACK, 0 = none */
    uint32_t flight; /* bytes in flight before this ACK */
};

/* Per-algorithm private state, in the TCB (a union: one algorithm at a time). */
struct tcp_cc_reno {
    uint32_t bytes_acked; /* RFC 3465 byte counting in congestion avoidance */
    bool after_rto;       /* slow start after a timeout: L = 1 SMSS (RFC 3465 §2.3) */
};

struct tcp_cc_state {
    /* what the last reduction replaced, for undo (F-RTO, Eifel): valid when saved */
    uint32_t prior_cwnd, prior_ssthresh;
    bool saved;
    union {
        struct tcp_cc_reno reno;
    } u;
};

struct tcp_cc_ops {
    const char *name;
    enum tcp_cc_id id;
    /* The connection is synchronized (MSS known): cwnd = the initial window, private
     * state reset. */
    void (*init)(struct stack *st, struct tcb *t);
    /* Growth on an ACK of new data outside recovery. */
    void (*on_ack)(struct stack *st, struct tcb *t, const struct tcp_cc_ack *a);
    /* A loss detected from ACKs (three duplicates, SACK, RACK): the multiplicative
     * decrease. Sets ssthresh and cwnd = ssthresh; recovery then inflates or paces. */
    void (*enter_recovery)(struct stack *st, struct tcb *t);
    /* Recovery ended (full ACK): the window to continue with. */
    void (*exit_recovery)(struct stack *st, struct tcb *t);
    /* The retransmission timer expired: ssthresh reduced, cwnd = the loss window. */
    void (*on_rto)(struct stack *st, struct tcb *t);
    /* The last reduction was spurious (tcp_cc_undo restored cwnd/ssthresh already):
     * restore the algorithm's own state. May be NULL. */
    void (*undo)(struct stack *st, struct tcb *t);
};

extern const struct tcp_cc_ops tcp_cc_newreno;

/* The table entry for id, NULL when unknown. */
const struct tcp_cc_ops *tcp_cc_by_id(unsigned id);
/* The table entry named name ("newreno", "cubic"), NULL when unknown. */
const struct tcp_cc_ops *tcp_cc_by_name(const char *name);

/* RFC 6928 §2: min(10*MSS, max(2*MSS, 14600)). */
uint32_t tcp_cc_initial_window(uint32_t mss);
/* RFC 5681 (4): max(FlightSize / 2, 2*SMSS). */
uint32_t tcp_cc_half_flight(const struct tcb *t);

/* The wrappers the engine calls (t->cc set). */
void tcp_cc_select(struct tcb *t, const struct tcp_cc_ops *ops);
void tcp_cc_init(struct stack *st, struct tcb *t);
void tcp_cc_ack(struct stack *st, struct tcb *t, uint32_t acked, uint32_t rtt_ms, uint32_t flight);
void tcp_cc_enter_recovery(struct stack *st, struct tcb *t);
void tcp_cc_exit_recovery(struct stack *st, struct tcb *t);
void tcp_cc_rto(struct stack *st, struct tcb *t);
/* F-RTO / Eifel: the last reduction was spurious. Restores cwnd and ssthresh as they were
 * before it (RFC 4015 §3.2 / RFC 5682 §3.1's "restore"); false when nothing was saved. */
bool tcp_cc_undo(struct stack *st, struct tcb *t);

/* The cwnd ceiling: 2^30 bytes keeps every sum of windows within 32 bits. */
#define TCP_CC_CWND_MAX (1u << 30)

#endif
