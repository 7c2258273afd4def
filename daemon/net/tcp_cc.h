/* Congestion control behind a small operations table (as Linux's tcp_congestion_ops and
 * FreeBSD's cc_algo): the algorithm decides cwnd growth on ACKs and the reduction on a
 * loss or a timeout; loss recovery (tcp_input.c: when to retransmit, the window inflation
 * of RFC 6582 or PRR) calls it at those moments and owns the rest.
 *
 *   tcp_cc.c          selection by id/name, the wrappers below (undo bookkeeping, caps),
 *                     the RFC 6928 initial window
 *   tcp_cc_newreno.c  RFC 5681 slow start and congestion avoidance (RFC 3465 byte counting)
 *   tcp_cc_cubic.c    RFC 9438 CUBIC (the default)
 *   tcp_cc_hystart.c  RFC 9406 HyStart++ slow start, used by CUBIC
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

/* RFC 9406 HyStart++ (tcp_cc_hystart.c). RTT samples come from the engine (one timed
 * segment per round trip, or timestamps) and from a small record of the send times of
 * new segments in flight (slow start sends no retransmissions, so Karn holds). */
#define TCP_HS_RING 16
struct tcp_hystart {
    uint8_t phase; /* enum in tcp_cc_hystart.c: slow start, CSS, done */
    uint8_t css_rounds;
    uint8_t ring_head, ring_n;
    bool started;        /* the first round (the initial window) has its windowEnd */
    uint32_t window_end; /* the round ends when SND.UNA reaches it */
    uint32_t last_round_min, cur_round_min, css_baseline; /* ms; UINT32_MAX = infinity */
    uint32_t samples;                                     /* in this round */
    struct {
        uint32_t end; /* sequence number after the segment */
        uint32_t at;  /* send time, ms (low 32 bits) */
    } ring[TCP_HS_RING];
};

/* RFC 9438 state; windows in bytes, times in ms. */
struct tcp_cc_cubic {
    uint32_t w_max;      /* the window before the last reduction (after fast convergence) */
    uint32_t cwnd_prior; /* cwnd when ssthresh was last set (§4.3 α switch) */
    uint32_t cwnd_epoch; /* cwnd at the start of this congestion avoidance stage */
    int32_t k_ms;        /* K of equation 2 (negative when cwnd_epoch > W_max) */
    uint64_t t_epoch;    /* when this stage began (valid when in_epoch) */
    uint64_t w_est_q10;  /* W_est (equation 4), bytes * 1024 */
    uint32_t frac_q10;   /* sub-byte growth carried between ACKs */
    bool in_epoch;
    bool after_rto;                         /* §4.8: the first stage after a timeout has K = 0 */
    uint32_t prior_w_max, prior_cwnd_prior; /* §4.9 undo */
    struct tcp_hystart hs;
};

struct tcp_cc_state {
    /* what the last reduction replaced, for undo (F-RTO, Eifel): valid when saved */
    uint32_t prior_cwnd, prior_ssthresh;
    bool saved;
    union {
        struct tcp_cc_reno reno;
        struct tcp_cc_cubic cubic;
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
    /* New data [seq, seq + len) went out for the first time. May be NULL. */
    void (*on_send)(struct stack *st, struct tcb *t, uint32_t seq, uint32_t len);
};

extern const struct tcp_cc_ops tcp_cc_newreno;
extern const struct tcp_cc_ops tcp_cc_cubic;

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
/* Another algorithm for a connection (a socket option): before the handshake it simply
 * takes over; later it starts from the current cwnd and ssthresh. */
void tcp_cc_switch(struct stack *st, struct tcb *t, const struct tcp_cc_ops *ops);
void tcp_cc_ack(struct stack *st, struct tcb *t, uint32_t acked, uint32_t rtt_ms, uint32_t flight);
void tcp_cc_enter_recovery(struct stack *st, struct tcb *t);
void tcp_cc_exit_recovery(struct stack *st, struct tcb *t);
void tcp_cc_rto(struct stack *st, struct tcb *t);
/* F-RTO / Eifel: the last reduction was spurious. Restores cwnd and ssthresh as they were
 * before it (RFC 4015 §3.2 / RFC 5682 §3.1's "restore"); false when nothing was saved. */
bool tcp_cc_undo(struct stack *st, struct tcb *t);
/* New data [seq, seq + len) sent for the first time. */
void tcp_cc_sent(struct stack *st, struct tcb *t, uint32_t seq, uint32_t len);

/* Shared by the algorithms: RFC 3465 slow start, cwnd += min(acked, limit). */
void tcp_cc_slow_start(struct tcb *t, uint32_t acked, uint32_t limit);
/* RFC 6582 §3.2 step 3 option 2, the window to leave recovery with. */
void tcp_cc_exit_cautious(struct stack *st, struct tcb *t);

/* CUBIC's equations (pure, exposed for the tests). W_cubic(t) of equation 1 in bytes for
 * W_max in bytes, K and t in ms; K of equation 2 in ms for W_max and cwnd_epoch in bytes. */
uint32_t tcp_cubic_window(uint32_t w_max, int32_t k_ms, int64_t t_ms, uint32_t mss);
int32_t tcp_cubic_k(uint32_t w_max, uint32_t cwnd_epoch, uint32_t mss);
uint32_t tcp_cbrt64(uint64_t x); /* floor of the cube root */

/* HyStart++ (RFC 9406). */
void tcp_hystart_init(struct tcp_hystart *hs);
void tcp_hystart_sent(struct tcp_hystart *hs, uint32_t seq_end, uint64_t now);
/* Slow start growth for an ACK while cwnd < ssthresh: standard slow start until an RTT
 * increase, then Conservative Slow Start, then ssthresh = cwnd (congestion avoidance). */
void tcp_hystart_ack(struct stack *st, struct tcb *t, struct tcp_hystart *hs,
                     const struct tcp_cc_ack *a);
/* A loss or timeout ends HyStart++ (it runs in the initial slow start only). */
void tcp_hystart_stop(struct tcp_hystart *hs);
bool tcp_hystart_in_css(const struct tcp_hystart *hs);

/* The cwnd ceiling: 2^30 bytes keeps every sum of windows within 32 bits. */
#define TCP_CC_CWND_MAX (1u << 30)

#endif
