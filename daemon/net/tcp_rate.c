/* The delivery rate of `minitcpctl connections` (as ss -ti's): bytes delivered to the peer
 * over an interval of about one round trip, on the ACK clock, after the idea of
 * draft-cheng-iccrg-delivery-rate-estimation (delivered bytes over the time they took).
 *   delivered   bytes newly acknowledged, or SACKed (tcp_recovery_ack's count, so data
 *               SACKed then acknowledged counts once)
 *   interval    opens when data leaves with nothing in flight (tcp_rate_sent), or at a
 *               delivering ACK that leaves data in flight; closes at the first delivering
 *               ACK at least SRTT after it opened, or at the ACK that empties the flight
 *   sample      (delivered then - delivered at the opening) / elapsed ms, in bytes/s
 * Simpler than the draft: no per-segment send state, no application-limited mark (a
 * sender with less than a window to send shows the rate it used, as Linux does). */
#include "tcp.h"

static void open_at(struct stack *st, struct tcb *t)
{
    t->rate_open = true;
    t->rate_t0 = st->now;
    t->rate_d0 = t->delivered;
}

void tcp_rate_sent(struct stack *st, struct tcb *t)
{
    if (!t->rate_open && t->snd_una == t->snd_max) open_at(st, t);
}

void tcp_rate_ack(struct stack *st, struct tcb *t, uint32_t delivered)
{
    if (delivered == 0) return;
    t->delivered += delivered;
    bool in_flight = t->snd_una != t->snd_max;
    if (!t->rate_open) {
        if (in_flight) open_at(st, t);
        return;
    }
    uint64_t elapsed = st->now - t->rate_t0;
    if (elapsed < (t->srtt ? t->srtt : 1) && in_flight) return;
    if (elapsed > 0) t->delivery_rate = (t->delivered - t->rate_d0) * 1000 / elapsed;
    t->rate_open = false;
    if (in_flight) open_at(st, t);
}
