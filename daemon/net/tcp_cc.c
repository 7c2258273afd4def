/* Congestion control: the algorithm table and the calls the engine makes (tcp_cc.h).
 * The wrappers keep what every algorithm shares: the undo record of the last reduction
 * and the cwnd ceiling. */
#include <string.h>

#include "tcp.h"

static const struct tcp_cc_ops *const cc_table[TCP_CC_COUNT] = {
    [TCP_CC_NEWRENO] = &tcp_cc_newreno,
    [TCP_CC_CUBIC] = &tcp_cc_cubic,
};

const struct tcp_cc_ops *tcp_cc_by_id(unsigned id)
{
    return id < TCP_CC_COUNT ? cc_table[id] : NULL;
}

const struct tcp_cc_ops *tcp_cc_by_name(const char *name)
{
    for (unsigned i = 0; i < TCP_CC_COUNT; i++)
        if (cc_table[i] && strcmp(cc_table[i]->name, name) == 0) return cc_table[i];
    return NULL;
}

uint32_t tcp_cc_initial_window(uint32_t mss)
{
    uint32_t w = 2 * mss > 14600 ? 2 * mss : 14600;
    return 10 * mss < w ? 10 * mss : w;
}

uint32_t tcp_cc_half_flight(const struct tcb *t)
{
    uint32_t flight = t->snd_max - t->snd_una;
    return flight / 2 > 2u * t->snd_mss ? flight / 2 : 2u * t->snd_mss;
}

static void cap(struct tcb *t)
{
    if (t->cwnd > TCP_CC_CWND_MAX) t->cwnd = TCP_CC_CWND_MAX;
}

static void save(struct tcb *t)
{
    t->cc_state.prior_cwnd = t->cwnd;
    t->cc_state.prior_ssthresh = t->ssthresh;
    t->cc_state.saved = true;
}

void tcp_cc_select(struct tcb *t, const struct tcp_cc_ops *ops)
{
    t->cc = ops;
}

void tcp_cc_init(struct stack *st, struct tcb *t)
{
    memset(&t->cc_state, 0, sizeof t->cc_state);
    t->cc->init(st, t);
    cap(t);
}

void tcp_cc_ack(struct stack *st, struct tcb *t, uint32_t acked, uint32_t rtt_ms, uint32_t flight)
{
    struct tcp_cc_ack a = {.acked = acked, .rtt_ms = rtt_ms, .flight = flight};
    t->cc->on_ack(st, t, &a);
    cap(t);
}

void tcp_cc_enter_recovery(struct stack *st, struct tcb *t)
{
    save(t);
    t->cc->enter_recovery(st, t);
    cap(t);
}

void tcp_cc_exit_recovery(struct stack *st, struct tcb *t)
{
    t->cc->exit_recovery(st, t);
    cap(t);
}

void tcp_cc_rto(struct stack *st, struct tcb *t)
{
    /* a second timeout of the same segment keeps the record of the first reduction:
     * undoing to the backed-off window would undo nothing */
    if (t->retries == 0) save(t);
    t->cc->on_rto(st, t);
    cap(t);
}

bool tcp_cc_undo(struct stack *st, struct tcb *t)
{
    if (!t->cc_state.saved) return false;
    if (t->cwnd < t->cc_state.prior_cwnd) t->cwnd = t->cc_state.prior_cwnd;
    t->ssthresh = t->cc_state.prior_ssthresh;
    t->cc_state.saved = false;
    if (t->cc->undo) t->cc->undo(st, t);
    cap(t);
    return true;
}

void tcp_cc_sent(struct stack *st, struct tcb *t, uint32_t seq, uint32_t len)
{
    if (t->cc->on_send) t->cc->on_send(st, t, seq, len);
}

void tcp_cc_slow_start(struct tcb *t, uint32_t acked, uint32_t limit)
{
    t->cwnd += acked < limit ? acked : limit;
}

void tcp_cc_exit_cautious(struct stack *st, struct tcb *t)
{
    (void)st;
    uint32_t flight = t->snd_max - t->snd_una;
    uint32_t w = (flight > t->snd_mss ? flight : t->snd_mss) + t->snd_mss;
    t->cwnd = w < t->ssthresh ? w : t->ssthresh;
}

void tcp_cc_switch(struct stack *st, struct tcb *t, const struct tcp_cc_ops *ops)
{
    if (t->cc == ops) return;
    uint32_t cwnd = t->cwnd;
    t->cc = ops;
    memset(&t->cc_state, 0, sizeof t->cc_state);
    if (t->state == TCP_LISTEN || t->state == TCP_CLOSED || t->state == TCP_SYN_SENT) return;
    ops->init(st, t); /* private state; the window stays what it was */
    t->cwnd = cwnd;
}
