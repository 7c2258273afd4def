/* HyStart++ (RFC 9406): slow start that leaves early when the RTT grows.
 *
 * §4.2: rounds end when the cumulative ACK passes windowEnd (SND.MAX when the round
 * began). Each round keeps the minimum RTT of its samples; once a round has
 * N_RTT_SAMPLE samples and the previous round's minimum is known, an increase of at least
 * RttThresh = clamp(lastRoundMinRTT / 8, 4 ms, 16 ms) moves to Conservative Slow Start
 * (growth divided by CSS_GROWTH_DIVISOR). A round in CSS whose minimum falls below the
 * baseline resumes slow start (the increase was spurious); CSS_ROUNDS rounds of CSS end
 * slow start with ssthresh = cwnd. L = 8 SMSS per ACK (no pacing).
 *
 * Samples: the engine's (a->rtt_ms), and between them the send times of new segments
 * kept in a small ring (tcp_hystart_sent): an ACK that covers recorded segments gives
 * the RTT of the newest of them. Only the initial slow start uses this: a loss or a
 * timeout stops it (tcp_hystart_stop), so no retransmission is ever timed (Karn). */
#include "tcp.h"

enum { HS_SS, HS_CSS, HS_DONE };

#define HS_MIN_RTT_THRESH 4
#define HS_MAX_RTT_THRESH 16
#define HS_MIN_RTT_DIVISOR 8
#define HS_N_RTT_SAMPLE 8
#define HS_CSS_GROWTH_DIVISOR 4
#define HS_CSS_ROUNDS 5
#define HS_L 8
#define HS_INF UINT32_MAX

void tcp_hystart_init(struct tcp_hystart *hs)
{
    *hs = (struct tcp_hystart){
        .phase = HS_SS, .last_round_min = HS_INF, .cur_round_min = HS_INF, .css_baseline = HS_INF};
}

void tcp_hystart_stop(struct tcp_hystart *hs)
{
    hs->phase = HS_DONE;
    hs->ring_n = 0;
}

bool tcp_hystart_in_css(const struct tcp_hystart *hs)
{
    return hs->phase == HS_CSS;
}

void tcp_hystart_sent(struct tcp_hystart *hs, uint32_t seq_end, uint64_t now)
{
    if (hs->phase == HS_DONE || hs->ring_n == TCP_HS_RING) return;
    unsigned i = (hs->ring_head + hs->ring_n) % TCP_HS_RING;
    hs->ring[i].end = seq_end;
    hs->ring[i].at = (uint32_t)now;
    hs->ring_n++;
}

/* The RTT of the newest recorded segment this ACK covers, 0 = none. */
static uint32_t ring_sample(struct tcp_hystart *hs, uint32_t ack, uint64_t now)
{
    uint32_t rtt = 0;
    while (hs->ring_n && seq_leq(hs->ring[hs->ring_head].end, ack)) {
        uint32_t r = (uint32_t)now - hs->ring[hs->ring_head].at;
        rtt = r ? r : 1;
        hs->ring_head = (uint8_t)((hs->ring_head + 1) % TCP_HS_RING);
        hs->ring_n--;
    }
    return rtt;
}

static void new_round(struct tcp_hystart *hs, const struct tcb *t)
{
    hs->last_round_min = hs->cur_round_min;
    hs->cur_round_min = HS_INF;
    hs->samples = 0;
    hs->window_end = t->snd_max;
}

void tcp_hystart_ack(struct stack *st, struct tcb *t, struct tcp_hystart *hs,
                     const struct tcp_cc_ack *a)
{
    uint32_t limit = HS_L * t->snd_mss;
    uint32_t rs = ring_sample(hs, t->snd_una, st->now);
    if (hs->phase == HS_DONE) {
        tcp_cc_slow_start(t, a->acked, 2u * t->snd_mss); /* RFC 3465 after the first */
        return;
    }
    if (!hs->started) { /* the first round: the initial window */
        hs->started = true;
        hs->window_end = t->snd_max;
    }
    uint32_t rtt = rs ? rs : a->rtt_ms;
    if (rtt) {
        if (rtt < hs->cur_round_min) hs->cur_round_min = rtt;
        hs->samples++;
    }
    if (hs->phase == HS_SS) {
        tcp_cc_slow_start(t, a->acked, limit);
        if (hs->samples >= HS_N_RTT_SAMPLE && hs->cur_round_min != HS_INF &&
            hs->last_round_min != HS_INF) {
            uint32_t thresh = hs->last_round_min / HS_MIN_RTT_DIVISOR;
            if (thresh > HS_MAX_RTT_THRESH) thresh = HS_MAX_RTT_THRESH;
            if (thresh < HS_MIN_RTT_THRESH) thresh = HS_MIN_RTT_THRESH;
            if (hs->cur_round_min >= hs->last_round_min + thresh) {
                hs->css_baseline = hs->cur_round_min;
                hs->phase = HS_CSS;
                hs->css_rounds = 0;
                st->stats.tcp_hystart_css++;
                TRACE(st, "[TCP ] hystart: rtt %u -> %u ms, conservative slow start",
                      hs->last_round_min, hs->cur_round_min);
            }
        }
    } else { /* CSS */
        uint32_t inc = a->acked < limit ? a->acked : limit;
        t->cwnd += inc / HS_CSS_GROWTH_DIVISOR;
        if (hs->samples >= HS_N_RTT_SAMPLE && hs->cur_round_min < hs->css_baseline) {
            hs->css_baseline = HS_INF; /* a spurious exit: back to slow start */
            hs->phase = HS_SS;
        }
    }
    if (seq_geq(t->snd_una, hs->window_end)) { /* the round is over */
        if (hs->phase == HS_CSS && ++hs->css_rounds >= HS_CSS_ROUNDS) {
            t->ssthresh = t->cwnd; /* on to congestion avoidance */
            tcp_hystart_stop(hs);
            st->stats.tcp_hystart_exits++;
            TRACE(st, "[TCP ] hystart: slow start ends at cwnd %u", t->cwnd);
            return;
        }
        new_round(hs, t);
    }
}
