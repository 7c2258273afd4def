/* CUBIC (RFC 9438), HyStart++ (RFC 9406) and the initial window (RFC 6928).
 *
 * The equations are checked against values computed here in floating point, from the
 * RFC's formulas (not from the implementation's integer arithmetic). The algorithm's
 * dynamics are driven through the congestion control calls on a TCB of a real engine in
 * virtual time (st->now set by the test), so every ACK, RTT and clock value is exact. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "tcp.h"
#include "tcp_harness.h"

#define MSS 1460u

/* ---- reference arithmetic (double, no libm) ---- */

static double ref_cbrt(double x)
{
    if (x == 0) return 0;
    double neg = x < 0 ? -1 : 1, y = x * neg, r = y > 1 ? y / 3 : 1;
    for (int i = 0; i < 200; i++)
        r = r - (r * r * r - y) / (3 * r * r);
    return neg * r;
}

/* RFC 9438 equation 2, K in seconds, windows in segments */
static double ref_k(double w_max, double cwnd_epoch)
{
    return ref_cbrt((w_max - cwnd_epoch) / 0.4);
}

/* equation 1, t and K in seconds, the result in segments */
static double ref_w(double w_max, double k, double t)
{
    double d = t - k;
    return 0.4 * d * d * d + w_max;
}

Test(cubic, integer_cube_root_is_the_floor)
{
    cr_assert_eq(tcp_cbrt64(0), 0);
    cr_assert_eq(tcp_cbrt64(7), 1);
    cr_assert_eq(tcp_cbrt64(8), 2);
    cr_assert_eq(tcp_cbrt64(26), 2);
    cr_assert_eq(tcp_cbrt64(27), 3);
    cr_assert_eq(tcp_cbrt64(999999999999ull), 9999);
    cr_assert_eq(tcp_cbrt64(1000000000000ull), 10000);
    cr_assert_eq(tcp_cbrt64(UINT64_MAX), 2642245);
}

/* K = cbrt((W_max - cwnd_epoch) / C): after a reduction by β = 0.7 from W_max = 100
 * segments, K = cbrt(30 / 0.4) = 4.2172 s. */
Test(cubic, k_matches_equation_2)
{
    static const struct {
        double w_max, epoch;
    } cases[] = {{100, 70}, {10, 7}, {1000, 700}, {57.3, 40.11}, {100, 100}, {3000, 2999}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t wb = (uint32_t)(cases[i].w_max * MSS), eb = (uint32_t)(cases[i].epoch * MSS);
        double want = ref_k(wb / (double)MSS, eb / (double)MSS) * 1000;
        int32_t k = tcp_cubic_k(wb, eb, MSS);
        cr_assert(k <= want + 1e-6 && k > want - 1, "case %zu: K %d ms, want %.3f", i, k, want);
    }
    cr_assert_eq(tcp_cubic_k(100 * MSS, 70 * MSS, MSS), 4217);
    /* cwnd_epoch above W_max (a stage after a timeout grew past it): K < 0 */
    cr_assert_eq(tcp_cubic_k(70 * MSS, 100 * MSS, MSS), -4217);
}

/* W_cubic(t) = C (t - K)^3 + W_max at given t: concave before K, W_max at K, convex after,
 * within a byte of the exact value. */
Test(cubic, window_curve_matches_equation_1)
{
    const double w_max = 100, k = 4.217;
    const int32_t k_ms = 4217;
    static const int64_t ts[] = {0,    500,  1000, 2000, 3000, 4000,
                                 4217, 4500, 5000, 6000, 8000, 10000};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        double want = ref_w(w_max, k, ts[i] / 1000.0) * MSS;
        uint32_t got = tcp_cubic_window((uint32_t)(w_max * MSS), k_ms, ts[i], MSS);
        cr_assert(got < want + 1.0 && got > want - 1.0, "t=%ld ms: W %u, want %.3f", (long)ts[i],
                  got, want);
    }
    /* at t = 0 the curve starts at cwnd_epoch = 70 segments, within K's rounding to the
     * ms below: the slope there is 3 C K^2 = 21.3 segments/s, 31 bytes per ms */
    uint32_t w0 = tcp_cubic_window(100 * MSS, k_ms, 0, MSS);
    cr_assert(w0 >= 70 * MSS && w0 <= 70 * MSS + 31, "W(0) = %u", w0);
    cr_assert_eq(tcp_cubic_window(100 * MSS, k_ms, k_ms, MSS), 100 * MSS);
    /* exact: t - K = 1 s gives W_max + 0.4 segments = 146000 + 584 */
    cr_assert_eq(tcp_cubic_window(100 * MSS, 0, 1000, MSS), 146584);
    cr_assert_eq(tcp_cubic_window(100 * MSS, 2000, 1000, MSS), 146000 - 584);
    /* far beyond: clamped, never wraps */
    cr_assert_eq(tcp_cubic_window(100 * MSS, 0, 100000000, MSS), TCP_CC_CWND_MAX);
    cr_assert_eq(tcp_cubic_window(10 * MSS, 100000000, 0, MSS), 0);
}

/* ---- a TCB driven directly through the congestion control calls ---- */

static struct th_engine *E;
static struct tcb *T;

static void setup(void)
{
    struct stack_config cfg;
    th_config(&cfg, TH_US);
    E = th_new(&cfg, false);
    T = calloc(1, sizeof *T);
    cr_assert(T);
    T->state = TCP_ESTABLISHED;
    T->snd_mss = MSS;
    T->ssthresh = UINT32_MAX;
    T->snd_una = T->snd_max = T->snd_nxt = 1000;
    tcp_cc_select(T, &tcp_cc_cubic);
    tcp_cc_init(E->st, T);
}

static void teardown(void)
{
    free(T);
    th_free(E);
}

static struct tcp_cc_cubic *CS(void)
{
    return &T->cc_state.u.cubic;
}

static void at(uint64_t now)
{
    E->st->now = now;
}

/* n new segments go out */
static void send_n(uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        tcp_cc_sent(E->st, T, T->snd_max, MSS);
        T->snd_max += MSS;
        T->snd_nxt = T->snd_max;
    }
}

/* one ACK of n segments, no engine RTT sample (HyStart++ takes its own) */
static void ack_n(uint32_t n)
{
    uint32_t flight = T->snd_max - T->snd_una;
    T->snd_una += n * MSS;
    tcp_cc_ack(E->st, T, n * MSS, 0, flight);
}

/* one round: cwnd worth of segments sent at `start`, each acked alone `rtt` later */
static void round_trip(uint64_t start, uint32_t rtt)
{
    at(start);
    uint32_t n = (T->cwnd - (T->snd_max - T->snd_una)) / MSS;
    send_n(n);
    at(start + rtt);
    for (uint32_t i = 0; i < n; i++)
        ack_n(1);
}

Test(cubic, iw_follows_rfc_6928)
{
    cr_assert_eq(tcp_cc_initial_window(1460), 14600);
    cr_assert_eq(tcp_cc_initial_window(536), 5360);
    cr_assert_eq(tcp_cc_initial_window(1000), 10000);
    cr_assert_eq(tcp_cc_initial_window(8960), 17920); /* 2 * MSS above 14600 */
    cr_assert_eq(tcp_cc_initial_window(4000), 14600);
}

/* §4.6 and §4.7: ssthresh = 0.7 * FlightSize, W_max = cwnd; a second loss below W_max
 * lowers W_max to cwnd * (1 + 0.7) / 2 (fast convergence). */
Test(cubic, multiplicative_decrease_and_fast_convergence, .init = setup, .fini = teardown)
{
    T->cwnd = 100 * MSS;
    T->snd_max = T->snd_una + 100 * MSS;
    tcp_cc_enter_recovery(E->st, T);
    cr_assert_eq(T->ssthresh, 70 * MSS);
    cr_assert_eq(T->cwnd, 70 * MSS);
    cr_assert_eq(CS()->w_max, 100 * MSS);
    cr_assert_eq(CS()->cwnd_prior, 100 * MSS);
    /* the next loss at 80 segments, before W_max was reached again */
    T->cwnd = 80 * MSS;
    T->snd_max = T->snd_una + 80 * MSS;
    tcp_cc_enter_recovery(E->st, T);
    cr_assert_eq(CS()->w_max, 80 * MSS * 17 / 20, "W_max = 0.85 cwnd = 68 segments");
    cr_assert_eq(T->ssthresh, 56 * MSS);
    /* a loss above W_max: no fast convergence */
    T->cwnd = 90 * MSS;
    T->snd_max = T->snd_una + 90 * MSS;
    tcp_cc_enter_recovery(E->st, T);
    cr_assert_eq(CS()->w_max, 90 * MSS);
    /* 2 SMSS floor */
    T->cwnd = 2 * MSS;
    T->snd_max = T->snd_una + 2 * MSS;
    tcp_cc_enter_recovery(E->st, T);
    cr_assert_eq(T->ssthresh, 2 * MSS);
}

/* After a loss from W_max = 100 segments, congestion avoidance follows the curve: with
 * RTT 100 ms and one ACK per segment, cwnd at each round tracks W_cubic(t + RTT) (the
 * target is reached within a round), and it is close to W_max at t = K. */
Test(cubic, congestion_avoidance_follows_the_curve, .init = setup, .fini = teardown)
{
    T->srtt = 100;
    T->cwnd = 100 * MSS;
    T->snd_max = T->snd_una + 100 * MSS;
    CS()->cwnd_prior = 100 * MSS; /* as a previous stage would have left it */
    tcp_cc_enter_recovery(E->st, T);
    T->snd_una = T->snd_max - 70 * MSS; /* the full ACK, 70 segments still in flight */
    tcp_cc_exit_recovery(E->st, T);
    cr_assert_eq(T->cwnd, 70 * MSS);
    T->snd_una = T->snd_max;
    uint64_t t0 = 10000;
    for (int r = 0; r < 60; r++) {
        round_trip(t0 + (uint64_t)r * 100, 100);
        double t = (double)((uint64_t)r * 100 + 100) / 1000; /* since the epoch began */
        double k = ref_k(100, 70);
        double w = ref_w(100, k, t) * MSS;
        /* the curve, or the Reno estimate where it is larger (§4.3) */
        cr_assert(T->cwnd >= w - 2 * MSS, "round %d t=%.1f s: cwnd %u below W_cubic %.0f", r, t,
                  T->cwnd, w);
        cr_assert(T->cwnd <= ref_w(100, k, t + 0.1) * MSS + 2 * MSS + (r < 5 ? 4 * MSS : 0),
                  "round %d: cwnd %u above W_cubic(t + RTT)", r, T->cwnd);
    }
    cr_assert_eq(CS()->k_ms, 4217);
    /* t = 6.1 s, 1.9 s past K: convex, above W_max */
    cr_assert(T->cwnd > 100 * MSS + 2 * MSS);
}

/* §4.3: right after a reduction with a short RTT, W_cubic(t) hardly moves while Reno's
 * estimate grows by α = 3 (1 - β) / (1 + β) = 9/17 segment per window acknowledged; cwnd
 * follows W_est (the Reno-friendly region). */
Test(cubic, reno_friendly_region_follows_w_est, .init = setup, .fini = teardown)
{
    T->srtt = 1;
    T->cwnd = 20 * MSS;
    T->snd_max = T->snd_una + 20 * MSS;
    CS()->cwnd_prior = 20 * MSS;
    tcp_cc_enter_recovery(E->st, T);
    T->snd_una = T->snd_max - 14 * MSS;
    tcp_cc_exit_recovery(E->st, T);
    cr_assert_eq(T->cwnd, 14 * MSS);
    T->snd_una = T->snd_max;
    double w_est = 14 * MSS; /* bytes, the reference of equation 4 */
    double alpha = 3 * (1 - 0.7) / (1 + 0.7);
    uint64_t now = 1000;
    /* 200 ACKs of one segment each, 1 ms apart: 0.2 s, W_cubic still ~ cwnd_epoch */
    for (int i = 0; i < 200; i++) {
        at(now);
        send_n(1);
        uint32_t before = T->cwnd;
        ack_n(1);
        w_est += alpha * MSS * MSS / before;
        if (w_est >= 20 * MSS) alpha = 1;
        now += 1;
    }
    double k = ref_k(20, 14);
    cr_assert(ref_w(20, k, 0.2) * MSS < w_est, "the test must be in the Reno-friendly region");
    cr_assert(T->cwnd >= w_est - 8 && T->cwnd <= w_est + 8, "cwnd %u, W_est %.1f", T->cwnd, w_est);
    cr_assert(T->cwnd > 14 * MSS + 6 * MSS, "grew like Reno: %u", T->cwnd);
}

/* §4.8: a timeout leaves cwnd = 1 SMSS, ssthresh = 0.7 FlightSize; the stage after it
 * starts with K = 0 and W_max = cwnd_epoch. */
Test(cubic, timeout_then_convex_stage, .init = setup, .fini = teardown)
{
    T->srtt = 100;
    T->cwnd = 40 * MSS;
    T->snd_max = T->snd_una + 40 * MSS;
    tcp_cc_rto(E->st, T);
    cr_assert_eq(T->cwnd, MSS);
    cr_assert_eq(T->ssthresh, 28 * MSS);
    T->snd_una = T->snd_max;
    at(5000);
    send_n(1);
    ack_n(1);
    cr_assert_eq(T->cwnd, 2 * MSS, "slow start after a timeout");
    T->cwnd = 28 * MSS; /* slow start done */
    at(6000);
    send_n(1);
    ack_n(1);
    cr_assert(CS()->in_epoch);
    cr_assert_eq(CS()->k_ms, 0);
    cr_assert_eq(CS()->w_max, 28 * MSS);
}

/* §4.9: undoing a spurious reduction brings back cwnd, ssthresh and W_max. */
Test(cubic, undo_restores_the_window_and_w_max, .init = setup, .fini = teardown)
{
    T->cwnd = 50 * MSS;
    T->ssthresh = 30 * MSS;
    CS()->w_max = 60 * MSS;
    T->snd_max = T->snd_una + 50 * MSS;
    tcp_cc_enter_recovery(E->st, T);
    cr_assert_eq(CS()->w_max, 50 * MSS * 17 / 20);
    cr_assert(tcp_cc_undo(E->st, T));
    cr_assert_eq(T->cwnd, 50 * MSS);
    cr_assert_eq(T->ssthresh, 30 * MSS);
    cr_assert_eq(CS()->w_max, 60 * MSS);
    cr_assert(!tcp_cc_undo(E->st, T), "once");
}

/* ---- HyStart++ ---- */

/* An ACK-clocked sender: every ACK is answered at once with the segments cwnd allows, so
 * a whole flight goes out at one instant and is acknowledged rtt later. */
static uint64_t NOW;

static void fill(void)
{
    uint32_t fl = T->snd_max - T->snd_una;
    if (T->cwnd > fl) send_n((T->cwnd - fl) / MSS);
}

static void start_flow(uint64_t t0)
{
    NOW = t0;
    at(NOW);
    fill();
}

/* the outstanding flight acknowledged, one ACK per segment, rtt after it went out */
static void flight(uint32_t rtt)
{
    uint32_t n = (T->snd_max - T->snd_una) / MSS;
    NOW += rtt;
    at(NOW);
    for (uint32_t i = 0; i < n; i++) {
        ack_n(1);
        fill();
    }
}

/* RTT 100 ms, then 120 (>= 100 + RttThresh, RttThresh = clamp(100 / 8, 4, 16) = 12):
 * Conservative Slow Start, growth a quarter of slow start's; CSS_ROUNDS = 5 rounds later,
 * ssthresh = cwnd and congestion avoidance. */
Test(hystart, rtt_increase_enters_css_then_congestion_avoidance, .init = setup, .fini = teardown)
{
    cr_assert_eq(T->cwnd, 10 * MSS);
    start_flow(1000);
    flight(100);
    cr_assert_eq(T->cwnd, 20 * MSS);
    flight(100);
    flight(111); /* + 11 ms: below the threshold */
    cr_assert_eq(T->cwnd, 80 * MSS, "slow start doubles each round trip");
    cr_assert(!tcp_hystart_in_css(&CS()->hs));
    cr_assert_eq(E->st->stats.tcp_hystart_css, 0);
    /* 111 + 13 (111 / 8): an increase. A round ends with the ACK of the last segment
     * sent before it began, so the segments sent in answer to that ACK land in the next
     * round: the round that starts with the first 124 ms sample still holds two from
     * the flight before, and the increase shows in the round after it. */
    flight(124);
    cr_assert(!tcp_hystart_in_css(&CS()->hs));
    flight(124);
    cr_assert(tcp_hystart_in_css(&CS()->hs), "RTT 111 -> 124 ms");
    cr_assert_eq(E->st->stats.tcp_hystart_css, 1);
    cr_assert_eq(CS()->hs.css_baseline, 124);
    cr_assert(T->cwnd < 320 * MSS, "CSS slowed the growth: %u", T->cwnd / MSS);
    /* one ACK in CSS: a quarter of an SMSS */
    NOW += 124;
    at(NOW);
    uint32_t c = T->cwnd;
    ack_n(1);
    cr_assert_eq(T->cwnd, c + MSS / 4);
    fill();
    int flights = 0;
    while (T->ssthresh == UINT32_MAX && flights < 10) {
        flight(124);
        flights++;
    }
    cr_assert(flights >= 4 && flights <= 6, "CSS lasted %d round trips", flights);
    cr_assert(T->ssthresh != UINT32_MAX && T->ssthresh <= T->cwnd);
    cr_assert_eq(E->st->stats.tcp_hystart_exits, 1);
    cr_assert(!tcp_hystart_in_css(&CS()->hs));
}

/* The RTT falls back below the CSS baseline: the increase was spurious, slow start
 * resumes (each ACK of a segment adds a segment again). */
Test(hystart, rtt_back_below_baseline_resumes_slow_start, .init = setup, .fini = teardown)
{
    start_flow(1000);
    flight(100);
    flight(100);
    flight(120);
    flight(120);
    cr_assert(tcp_hystart_in_css(&CS()->hs));
    flight(100);
    flight(100);
    cr_assert(!tcp_hystart_in_css(&CS()->hs), "spurious: back to slow start");
    cr_assert(T->ssthresh == UINT32_MAX);
    NOW += 100;
    at(NOW);
    uint32_t c = T->cwnd;
    ack_n(1);
    cr_assert_eq(T->cwnd, c + MSS);
}

/* No increase, no exit: slow start goes on until a loss. */
Test(hystart, steady_rtt_keeps_slow_start, .init = setup, .fini = teardown)
{
    start_flow(1000);
    for (int i = 0; i < 6; i++)
        flight(100);
    cr_assert_eq(T->cwnd, 640 * MSS);
    cr_assert(!tcp_hystart_in_css(&CS()->hs));
    cr_assert_eq(E->st->stats.tcp_hystart_css, 0);
}

/* A loss ends HyStart++ (the initial slow start only); the slow start after a timeout
 * is standard, 1 SMSS per ACK at most. */
Test(hystart, loss_ends_hystart, .init = setup, .fini = teardown)
{
    start_flow(1000);
    flight(100);
    tcp_cc_rto(E->st, T);
    cr_assert_eq(CS()->hs.phase, 2);
    cr_assert_eq(CS()->hs.ring_n, 0);
    cr_assert_eq(T->cwnd, MSS);
    T->snd_una = T->snd_max;
    send_n(1);
    T->snd_una += MSS;
    tcp_cc_ack(E->st, T, 3 * MSS, 0, 3 * MSS);
    cr_assert_eq(T->cwnd, 2 * MSS);
}

/* ---- on the wire ---- */

static const uint8_t D[64 * 1024];

/* Active open with the peer's MSS option mss (0: none) and window 65535 << 4: the
 * first flight after the handshake with 64 KiB queued. */
static size_t first_flight(uint16_t mtu, uint16_t mss, uint32_t *seglen)
{
    struct stack_config cfg;
    th_config(&cfg, TH_US);
    cfg.mtu = mtu;
    struct th_engine *e = th_new(&cfg, false);
    tcp_test_set_isn(e->st, 1000);
    int h = stack_tcp_connect(e->st, TH_PEER, 80, 5555, 0);
    struct th_out o;
    cr_assert(th_pop(e, &o) && o.flags == THF_SYN);
    uint8_t opt[8] = {2, 4, (uint8_t)(mss >> 8), (uint8_t)mss, 1, 3, 3, 4};
    struct th_spec s = {.sport = 80,
                        .dport = 5555,
                        .seq = 7000,
                        .ack = 1001,
                        .flags = THF_SYN | THF_ACK,
                        .wnd = 65535,
                        .opt = mss ? opt : opt + 4,
                        .optlen = mss ? 8 : 4};
    e->now = 100;
    th_seg(e, &s);
    cr_assert(th_pop(e, &o) && o.flags == THF_ACK);
    cr_assert_eq(stack_tcp_send(e->st, h, D, sizeof D, 100), (long)sizeof D);
    size_t n = 0;
    uint32_t seq = 1001;
    while (th_pop(e, &o)) {
        cr_assert_eq(o.seq, seq);
        seq += o.len;
        *seglen = o.len;
        n++;
    }
    th_free(e);
    return n;
}

Test(cubic, iw10_first_flight_is_exactly_ten_segments)
{
    uint32_t len = 0;
    cr_assert_eq(first_flight(1500, 1460, &len), 10);
    cr_assert_eq(len, 1460);
    cr_assert_eq(first_flight(1500, 0, &len), 10, "MSS 536 (no option): 5360 bytes");
    cr_assert_eq(len, 536);
    /* jumbo: min(10 * 8960, max(2 * 8960, 14600)) = 17920, two segments */
    cr_assert_eq(first_flight(9000, 8960, &len), 2);
    cr_assert_eq(len, 8960);
}

Test(cubic, default_and_per_socket_choice)
{
    struct th_engine *e = th_default();
    int h = stack_tcp_connect(e->st, TH_PEER, 80, 0, 0);
    struct tcb *t = handle_get(e->st, h, HANDLE_TCP);
    cr_assert_str_eq(t->cc->name, "cubic", "CUBIC is the default");
    cr_assert_eq(stack_tcp_set_cc(e->st, h, 7), -EINVAL);
    cr_assert_eq(stack_tcp_set_cc(e->st, 9999, STACK_CC_CUBIC), -EBADF);
    cr_assert_eq(stack_tcp_set_cc(e->st, h, STACK_CC_NEWRENO), 0);
    cr_assert_str_eq(t->cc->name, "newreno");
    int l = stack_tcp_listen(e->st, 8080, 4);
    cr_assert_eq(stack_tcp_set_cc(e->st, l, STACK_CC_NEWRENO), 0);
    struct tcb *lt = handle_get(e->st, l, HANDLE_TCP);
    cr_assert_eq(lt->cc, &tcp_cc_newreno, "connections accepted inherit it");
    cr_assert_str_eq(stack_cc_name(STACK_CC_CUBIC), "cubic");
    cr_assert_null(stack_cc_name(2));
    cr_assert_eq(stack_cc_by_name("newreno"), STACK_CC_NEWRENO);
    cr_assert_eq(stack_cc_by_name("bbr"), -1);
    th_free(e);

    struct stack_config cfg;
    th_config(&cfg, TH_US);
    cfg.cc = STACK_CC_NEWRENO;
    e = th_new(&cfg, false);
    h = stack_tcp_connect(e->st, TH_PEER, 80, 0, 0);
    t = handle_get(e->st, h, HANDLE_TCP);
    cr_assert_str_eq(t->cc->name, "newreno", "cfg.cc");
    th_free(e);
}
