/* NewReno's congestion control (RFC 5681 §3.1): slow start below ssthresh, congestion
 * avoidance above it, ssthresh = max(FlightSize / 2, 2*SMSS) on a loss. Growth counts
 * bytes (RFC 3465): in slow start cwnd grows by the bytes acknowledged, at most L = 2*SMSS
 * per ACK (1*SMSS in the slow start after a timeout, §2.3, where one ACK may cover a whole
 * window of go-back-N retransmissions); in congestion avoidance by one SMSS per cwnd of
 * bytes acknowledged, so delayed ACKs do not halve the growth. The recovery itself (fast
 * retransmit, window inflation, partial ACKs of RFC 6582) is in tcp_input.c. */
#include "tcp.h"

static void reno_init(struct stack *st, struct tcb *t)
{
    (void)st;
    t->cwnd = tcp_cc_initial_window(t->snd_mss);
}

static void reno_on_ack(struct stack *st, struct tcb *t, const struct tcp_cc_ack *a)
{
    (void)st;
    struct tcp_cc_reno *r = &t->cc_state.u.reno;
    uint32_t mss = t->snd_mss;
    if (t->cwnd < t->ssthresh) {
        tcp_cc_slow_start(t, a->acked, (r->after_rto ? 1u : 2u) * mss);
        if (t->cwnd >= t->ssthresh) r->after_rto = false;
        return;
    }
    r->after_rto = false;
    r->bytes_acked += a->acked;
    if (r->bytes_acked >= t->cwnd) {
        r->bytes_acked -= t->cwnd;
        t->cwnd += mss;
    }
}

static void reno_enter_recovery(struct stack *st, struct tcb *t)
{
    (void)st;
    t->ssthresh = tcp_cc_half_flight(t);
    t->cwnd = t->ssthresh;
    t->cc_state.u.reno.bytes_acked = 0;
}

/* RFC 5681 §3.1 (4) and the loss window LW = 1 SMSS. */
static void reno_on_rto(struct stack *st, struct tcb *t)
{
    (void)st;
    t->ssthresh = tcp_cc_half_flight(t);
    t->cwnd = t->snd_mss;
    t->cc_state.u.reno.bytes_acked = 0;
    t->cc_state.u.reno.after_rto = true;
}

static void reno_undo(struct stack *st, struct tcb *t)
{
    (void)st;
    t->cc_state.u.reno.after_rto = false;
}

const struct tcp_cc_ops tcp_cc_newreno = {
    .name = "newreno",
    .id = TCP_CC_NEWRENO,
    .init = reno_init,
    .on_ack = reno_on_ack,
    .enter_recovery = reno_enter_recovery,
    .exit_recovery = tcp_cc_exit_cautious,
    .on_rto = reno_on_rto,
    .undo = reno_undo,
    .on_send = NULL,
};
