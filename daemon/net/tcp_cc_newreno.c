/* NewReno's congestion control (RFC 5681 §3.1): slow start below ssthresh, congestion
 * avoidance above it, ssthresh = max(FlightSize / 2, 2*SMSS) on a loss. The recovery
 * itself (fast retransmit, window inflation, partial ACKs of RFC 6582) is in
 * tcp_input.c. */
#include "tcp.h"

static void reno_init(struct stack *st, struct tcb *t)
{
    (void)st;
    t->cwnd = tcp_cc_initial_window(t->snd_mss);
}

static void reno_on_ack(struct stack *st, struct tcb *t, const struct tcp_cc_ack *a)
{
    (void)st;
    uint32_t mss = t->snd_mss;
    if (t->cwnd < t->ssthresh) {
        t->cwnd += a->acked < mss ? a->acked : mss; /* slow start */
    } else {
        uint32_t inc = (uint32_t)((uint64_t)mss * mss / (t->cwnd ? t->cwnd : 1));
        t->cwnd += inc ? inc : 1;
    }
}

static void reno_enter_recovery(struct stack *st, struct tcb *t)
{
    (void)st;
    t->ssthresh = tcp_cc_half_flight(t);
    t->cwnd = t->ssthresh;
}

/* RFC 6582 §3.2 step 3, option (2): cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS),
 * which avoids a burst when little is left in flight. */
static void reno_exit_recovery(struct stack *st, struct tcb *t)
{
    (void)st;
    uint32_t flight = t->snd_max - t->snd_una;
    uint32_t w = (flight > t->snd_mss ? flight : t->snd_mss) + t->snd_mss;
    t->cwnd = w < t->ssthresh ? w : t->ssthresh;
}

/* RFC 5681 §3.1 (4) and the loss window LW = 1 SMSS. */
static void reno_on_rto(struct stack *st, struct tcb *t)
{
    (void)st;
    t->ssthresh = tcp_cc_half_flight(t);
    t->cwnd = t->snd_mss;
}

const struct tcp_cc_ops tcp_cc_newreno = {
    .name = "newreno",
    .id = TCP_CC_NEWRENO,
    .init = reno_init,
    .on_ack = reno_on_ack,
    .enter_recovery = reno_enter_recovery,
    .exit_recovery = reno_exit_recovery,
    .on_rto = reno_on_rto,
    .undo = NULL,
};
