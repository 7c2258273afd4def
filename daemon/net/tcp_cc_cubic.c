/* CUBIC (RFC 9438), the default congestion control. Windows in bytes, time in ms, the
 * equations in integer arithmetic (C = 0.4 = 4/10, β = 0.7 = 7/10, α = 3(1-β)/(1+β) =
 * 9/17):
 *
 *   W_cubic(t) = C (t - K)^3 + W_max                  §4.2 equation 1 (tcp_cubic_window)
 *   K = cbrt((W_max - cwnd_epoch) / C)                §4.2 equation 2 (tcp_cubic_k)
 *   target = W_cubic(t + RTT) within [cwnd, 1.5 cwnd] §4.2 equation 3
 *   W_est += α · acked / cwnd (α = 1 once W_est >= cwnd_prior)  §4.3 equation 4
 *   Reno-friendly region (W_cubic(t) < W_est): cwnd = W_est       §4.3
 *   concave and convex regions: cwnd += (target - cwnd) / cwnd per SMSS acked  §4.4, §4.5
 *   loss: ssthresh = max(FlightSize · β, 2 SMSS), cwnd = ssthresh  §4.6
 *   fast convergence: W_max = cwnd (1 + β) / 2 when cwnd < W_max   §4.7
 *   timeout: cwnd = 1 SMSS, and the next stage has K = 0, W_max = cwnd_epoch   §4.8
 *   undo of a spurious reduction: W_max and cwnd_prior restored    §4.9
 *   slow start: HyStart++ (tcp_cc_hystart.c)                       §4.10
 *
 * W in the RFC counts segments: here C (t-K)^3 segments are C (t-K)^3 · SMSS bytes. */
#include "tcp.h"

uint32_t tcp_cbrt64(uint64_t x)
{
    uint32_t lo = 0, hi = 2642246; /* cbrt(2^64) < 2642246 */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo + 1) / 2;
        if ((uint64_t)mid * mid <= x / mid) /* mid^3 <= x, without overflow */
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* |t - K| beyond this is clamped (2^17 ms = 131 s: C · 131^3 segments exceed any cwnd). */
#define CUBIC_DT_MAX 131072

uint32_t tcp_cubic_window(uint32_t w_max, int32_t k_ms, int64_t t_ms, uint32_t mss)
{
    int64_t d = t_ms - k_ms;
    uint64_t ad = (uint64_t)(d < 0 ? -d : d);
    if (ad > CUBIC_DT_MAX) ad = CUBIC_DT_MAX;
    /* C · ad^3 / 10^9 segments (ms^3 to s^3) = 4 · ad^3 · mss / 10^10 bytes, exactly
     * floored: the quotient and remainder by 10^10 kept apart so nothing overflows */
    uint64_t cube = ad * ad * ad;
    uint64_t q = cube / 10000000000ull, r = cube % 10000000000ull;
    uint64_t off = q * 4 * mss + r * 4 * mss / 10000000000ull;
    int64_t w = d < 0 ? (int64_t)w_max - (int64_t)off : (int64_t)w_max + (int64_t)off;
    if (w < 0) return 0;
    return w > TCP_CC_CWND_MAX ? TCP_CC_CWND_MAX : (uint32_t)w;
}

int32_t tcp_cubic_k(uint32_t w_max, uint32_t cwnd_epoch, uint32_t mss)
{
    /* K ms = cbrt(diff / mss / 0.4 · 10^9) = cbrt(diff · 2.5·10^9 / mss) */
    uint32_t diff = w_max > cwnd_epoch ? w_max - cwnd_epoch : cwnd_epoch - w_max;
    int32_t k = (int32_t)tcp_cbrt64((uint64_t)diff * 2500000000ull / mss);
    return w_max >= cwnd_epoch ? k : -k;
}

static struct tcp_cc_cubic *C(struct tcb *t)
{
    return &t->cc_state.u.cubic;
}

static void cubic_init(struct stack *st, struct tcb *t)
{
    (void)st;
    t->cwnd = tcp_cc_initial_window(t->snd_mss);
    tcp_hystart_init(&C(t)->hs);
    if (t->ssthresh != UINT32_MAX) tcp_hystart_stop(&C(t)->hs); /* the initial one only */
}

static void epoch_start(struct stack *st, struct tcb *t, struct tcp_cc_cubic *c)
{
    c->in_epoch = true;
    c->t_epoch = st->now;
    c->cwnd_epoch = t->cwnd;
    c->w_est_q10 = (uint64_t)t->cwnd << 10;
    c->frac_q10 = 0;
    if (c->after_rto || c->w_max == 0) {
        /* §4.8 after a timeout (and the first stage with no loss yet, when slow start
         * ended by HyStart++): K = 0, W_max = cwnd_epoch, the convex curve from here */
        c->w_max = t->cwnd;
        c->after_rto = false;
    }
    c->k_ms = tcp_cubic_k(c->w_max, c->cwnd_epoch, t->snd_mss);
}

static void cubic_on_ack(struct stack *st, struct tcb *t, const struct tcp_cc_ack *a)
{
    struct tcp_cc_cubic *c = C(t);
    uint32_t mss = t->snd_mss;
    if (t->cwnd < t->ssthresh) {
        if (c->after_rto) /* RFC 3465 §2.3: L = 1 SMSS after a timeout */
            tcp_cc_slow_start(t, a->acked, mss);
        else
            tcp_hystart_ack(st, t, &c->hs, a);
        return;
    }
    if (!c->in_epoch) epoch_start(st, t, c);
    uint32_t cwnd = t->cwnd ? t->cwnd : 1;
    /* §4.3 equation 4: W_est grows by α segments per window of acknowledged bytes */
    uint64_t inc = ((uint64_t)a->acked * mss) << 10;
    if ((c->w_est_q10 >> 10) < c->cwnd_prior) inc = inc * 9 / 17;
    c->w_est_q10 += inc / cwnd;
    uint32_t w_est = (uint32_t)(c->w_est_q10 >> 10);
    int64_t tm = (int64_t)(st->now - c->t_epoch);
    uint32_t w_t = tcp_cubic_window(c->w_max, c->k_ms, tm, mss);
    if (w_t < w_est) { /* the Reno-friendly region */
        if (w_est > t->cwnd) t->cwnd = w_est;
        return;
    }
    uint32_t rtt = t->srtt ? t->srtt : a->rtt_ms;
    uint32_t target = tcp_cubic_window(c->w_max, c->k_ms, tm + rtt, mss);
    uint32_t hi = t->cwnd + t->cwnd / 2;
    if (target > hi) target = hi;
    if (target <= t->cwnd) return;
    /* (target - cwnd) / cwnd segments per segment acknowledged, in bytes */
    uint64_t g = (((uint64_t)(target - t->cwnd) * a->acked) << 10) / cwnd + c->frac_q10;
    t->cwnd += (uint32_t)(g >> 10);
    c->frac_q10 = (uint32_t)(g & 1023);
}

/* §4.6 and §4.7 at a congestion event. */
static void reduce(struct stack *st, struct tcb *t)
{
    (void)st;
    struct tcp_cc_cubic *c = C(t);
    c->prior_w_max = c->w_max;
    c->prior_cwnd_prior = c->cwnd_prior;
    if (t->cwnd < c->w_max) /* fast convergence: release bandwidth to new flows */
        c->w_max = (uint32_t)((uint64_t)t->cwnd * 17 / 20);
    else
        c->w_max = t->cwnd;
    c->cwnd_prior = t->cwnd;
    uint32_t flight = t->snd_max - t->snd_una;
    uint32_t ss = (uint32_t)((uint64_t)flight * 7 / 10);
    t->ssthresh = ss > 2u * t->snd_mss ? ss : 2u * t->snd_mss;
    c->in_epoch = false;
    tcp_hystart_stop(&c->hs);
}

static void cubic_enter_recovery(struct stack *st, struct tcb *t)
{
    reduce(st, t);
    t->cwnd = t->ssthresh;
}

static void cubic_on_rto(struct stack *st, struct tcb *t)
{
    /* a second timeout of the same segment reduces ssthresh again but keeps W_max */
    if (t->retries == 0)
        reduce(st, t);
    else {
        uint32_t ss = (uint32_t)((uint64_t)(t->snd_max - t->snd_una) * 7 / 10);
        t->ssthresh = ss > 2u * t->snd_mss ? ss : 2u * t->snd_mss;
    }
    t->cwnd = t->snd_mss;
    C(t)->after_rto = true;
}

static void cubic_undo(struct stack *st, struct tcb *t)
{
    (void)st;
    struct tcp_cc_cubic *c = C(t);
    c->w_max = c->prior_w_max;
    c->cwnd_prior = c->prior_cwnd_prior;
    c->after_rto = false;
    c->in_epoch = false; /* a new stage from the restored window */
}

static void cubic_on_send(struct stack *st, struct tcb *t, uint32_t seq, uint32_t len)
{
    tcp_hystart_sent(&C(t)->hs, seq + len, st->now);
}

const struct tcp_cc_ops tcp_cc_cubic = {
    .name = "cubic",
    .id = TCP_CC_CUBIC,
    .init = cubic_init,
    .on_ack = cubic_on_ack,
    .enter_recovery = cubic_enter_recovery,
    .exit_recovery = tcp_cc_exit_cautious,
    .on_rto = cubic_on_rto,
    .undo = cubic_undo,
    .on_send = cubic_on_send,
};
