/* Issue 11's loss matrix: two engines exchange N bytes each way over the simulated link
 * (virtual time, fixed seeds) for loss {0, 1, 5, 10, 30 %} x RTT {1, 50 ms} x reordering
 * {off, on} (reordering cells also duplicate 2 % of packets). Each cell asserts
 *   - byte-exact delivery both ways, both FINs acknowledged;
 *   - completion within a bound derived below from the cell's parameters;
 *   - no idle gap: while anything is unacknowledged, the link never stays silent longer
 *     than the RTO in force plus the longest one-way trip (see check_gap).
 * Time is virtual, so the bound is about the protocol, not about this machine; cr_log_info
 * prints each cell's time, bound and counters (--verbose). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcp_harness.h"

#define A_ADDR TH_ADDR(10, 0, 0, 1)
#define B_ADDR TH_ADDR(10, 0, 0, 2)

struct cell {
    unsigned loss, rtt, reorder, dup;
    uint32_t bytes;
    uint64_t seed;
};

/* ---- the completion bound ----
 *
 * Segments: S = ceil(N / 1448) each way (MSS 1460 less the 12-byte timestamp option);
 * W = 181 segments, the 256 KiB receive buffer. p = loss, q = 1 - (1 - p)^2 the chance that
 * a segment or its ACK is lost.
 *
 * Without loss: handshake 1 RTT; slow start from IW10 doubles per round, so the data
 * needs ceil(log2(S / 10 + 1)) rounds while below W, plus S / W rounds at W; FIN and its
 * ACK 1 RTT; a delayed ACK (40 ms, TCP_DELACK_MS) may hold the last ACK of each side:
 *   T_clean = (3 + ceil(log2(S / 10 + 1)) + S / W) * RTT + 2 * 40 ms.
 *
 * Window reductions: each loss halves cwnd, and the congestion avoidance sawtooth (Mathis
 * et al. 1997) then sends sqrt(3 / (2 p)) segments per RTT: T_ca = S * RTT * sqrt(2 p / 3).
 * Reordering is not a loss event: RACK waits a reordering window (RFC 8985 §6.2) and a
 * spurious repair is undone by D-SACK or Eifel, so it costs no time beyond the resend.
 *
 * Repairs: E = 2 S p / (1 - p) data segments are lost both ways. RACK marks each after
 * RTT + a reordering window (at most RTT / 4, or the jitter) and the resend takes one RTT:
 *   C_fast = 2 RTT + RTT / 4 + jitter each, counted apart even when one recovery repairs
 * several. A resend is lost again with p: E p repairs fall to the RTO (RTO = max(200 ms,
 * RTT + 4 RTTVAR), RTTVAR <= RTT / 2 + jitter), then slow start back to the window
 * (ceil(log2(min(S, W) + 1)) RTTs). An RTO round fails when its one segment or its one ACK
 * is lost (q), and each failure doubles the RTO (RFC 6298 5.5) up to rto_max = 60 s: the
 * expected wait is B(RTO) = sum_k q^k min(RTO 2^k, rto_max). With q < 1/2 that is about
 * RTO / (1 - 2q); at 30 % loss q = 0.51 and the sum is dominated by the cap (B(200 ms) =
 * 2.2 s). The SYN, SYN-ACK and two FINs (4 p / (1 - p) losses) are charged B(1 s), the
 * initial RTO. So
 *   T_bound = T_clean + T_ca + E C_fast + E p (B(RTO) + slow start) + 4 p / (1 - p) B(1 s)
 * and the test asserts T <= 2 T_bound + 1 s: 2 for the spread of one seeded run around
 * this expectation, 1 s for one unlucky SYN.
 *
 * How it holds (LOSS_MATRIX_SEEDS=100, 100 seeds per cell): the slowest run of every cell
 * below 30 % loss took at most 0.89 of 2 T_bound + 1 s (10 % / 1 ms; most cells under
 * 0.5). At 30 % loss the tail is RFC 6298's: a run of 8 to 11 failed RTO rounds in a row
 * (probability 0.51^8 to 0.51^11 per timeout) sits at the 60 s cap, and one seed in 100
 * of three of the four 30 % cells went over (110 to 283 s; the fixed seed of the 30 % /
 * 1 ms cell, 1017, is such a run: 360 s, eleven failed rounds); the median run took 1.8 to
 * 2.2 s and the 90th percentile 8 to 9 s against 2 T_bound + 1 s = 84 to 103 s. So in the
 * cells with 2q >= 1 the bound is asserted on the median of five seeds, and each run only
 * against the worst case of every loss at the cap (T_bound + (E + 4 p / (1 - p)) rto_max). Before
 * SACK, RACK-TLP and timestamps the bound had to charge rto_max to every loss at 30 % (4,900 s), as
 * Karn's rule kept the backoff at the cap, and reordering as loss events. */
static unsigned log2_ceil(double x)
{
    unsigned k = 0;
    while ((double)(1u << k) < x)
        k++;
    return k;
}

static double sqrt_newton(double x)
{
    double r = x > 1 ? x : 1;
    for (int i = 0; i < 60; i++)
        r = (r + x / r) / 2;
    return r;
}

#define RTO_MAX_MS 60000 /* stack_config_defaults */

/* B(first): the expected wait through RTO rounds that each fail with q, doubling. */
static double backoff_ms(double first, double q)
{
    double sum = 0, qk = 1, w = first;
    while (w < RTO_MAX_MS) {
        sum += qk * w;
        qk *= q;
        w *= 2;
    }
    return sum + qk * RTO_MAX_MS / (1 - q); /* the rounds at the cap */
}

static double bound_ms(const struct cell *c, uint32_t jitter)
{
    double S = (c->bytes + 1447) / 1448, W = 262144 / 1448, R = c->rtt;
    double p = c->loss / 100.0, q = 1 - (1 - p) * (1 - p);
    double clean = (3 + log2_ceil(S / 10 + 1) + S / W) * R + 2 * 40;
    double ca = S * R * sqrt_newton(2 * p / 3);
    double rttvar = R / 2 + jitter;
    double rto = R + 4 * rttvar < 200 ? 200 : R + 4 * rttvar;
    double E = 2 * S * p / (1 - p), Ectl = 4 * p / (1 - p);
    double fast = E * (2 * R + R / 4 + jitter);
    double ss = log2_ceil((S < W ? S : W) + 1) * R;
    return clean + ca + fast + E * p * (backoff_ms(rto, q) + ss) + Ectl * backoff_ms(1000, q);
}

/* reordered packets are held back 1..jitter ms: several packets at 1 ms RTT, about a
 * fifth of the RTT at 50 ms */
static uint32_t cell_jitter(const struct cell *c)
{
    return c->reorder ? (c->rtt < 15 ? 3 : c->rtt / 5) : 0;
}

/* 2q >= 1: the RTO backoff's heavy tail (see the bound's comment) */
static bool heavy_tail(const struct cell *c)
{
    double p = c->loss / 100.0, q = 1 - (1 - p) * (1 - p);
    return 2 * q >= 1;
}

/* What one run must meet: 2 T_bound + 1 s; in a heavy-tail cell, where that is asserted
 * on the median of five seeds, each run gets every loss at the 60 s cap on top. */
static double run_ceiling_ms(const struct cell *c)
{
    double b = bound_ms(c, cell_jitter(c)) * 2 + 1000;
    if (!heavy_tail(c)) return b;
    double S = (c->bytes + 1447) / 1448, p = c->loss / 100.0;
    return b + (2 * S * p / (1 - p) + 4 * p / (1 - p)) * RTO_MAX_MS;
}

/* ---- the transfer ---- */

struct side {
    struct th_engine *e;
    int h;
    uint64_t sent, rcvd;
    uint32_t seed_out, seed_in;
    bool shut, eof, closed;
};

static void pump(struct side *s, uint64_t total, uint64_t now)
{
    if (s->h <= 0 || s->closed) return;
    th_pump_send(s->e, s->h, s->seed_out, total, &s->sent, now);
    if (s->sent == total && !s->shut) {
        cr_assert_eq(stack_tcp_shutdown(s->e->st, s->h, now), 0);
        s->shut = true;
    }
    if (!s->eof && th_pump_recv(s->e, s->h, s->seed_in, &s->rcvd, now)) s->eof = true;
    /* The handle is closed once our FIN is acknowledged: closed earlier, the connection
     * becomes an orphan that gives up after orphan_retries (8) retransmissions, which at
     * 30 % loss with the backoff at 60 s happens (1 seed in 10) and loses the tail. */
    struct stack_conn_info ci;
    if (s->eof && s->shut && stack_tcp_info(s->e->st, s->h, &ci) == 0 &&
        (ci.state == TCP_FIN_WAIT_2 || ci.state == TCP_TIME_WAIT || ci.state == TCP_CLOSED)) {
        cr_assert_eq(s->rcvd, total, "EOF after %llu of %llu bytes", (unsigned long long)s->rcvd,
                     (unsigned long long)total);
        cr_assert_eq(stack_tcp_close(s->e->st, s->h, now), 0);
        s->closed = true;
    }
}

/* What the TCBs of one engine wait for: the largest RTO among those with something
 * unacknowledged (SYN, data or FIN), 0 when none; *busy counts every TCB not yet done. */
struct scan {
    uint32_t rto;
    unsigned busy;
};
static void scan_cb(void *arg, const struct stack_conn_info *ci)
{
    struct scan *s = arg;
    if (ci->state == TCP_LISTEN || ci->state == TCP_TIME_WAIT || ci->state == TCP_CLOSED) return;
    s->busy++;
    if (ci->snd_nxt != ci->snd_una && ci->rto_ms > s->rto) s->rto = ci->rto_ms;
}

struct gapcheck {
    uint64_t last_sent; /* packets handed to the link so far */
    uint64_t last_at;   /* when the last one was */
    uint32_t allowed;   /* the largest RTO in force since then */
    uint64_t worst_gap;
    uint32_t worst_allowed;
};

/* Called after every step. A retransmission timer is armed at a send or restarted at an
 * ACK's arrival, which comes at most one one-way trip (delay + jitter) after that ACK was
 * sent, with the RTO in force then; so the next packet on the link comes at most
 * RTO + max one-way trip after the previous one while anything is unacknowledged. The
 * RTO in force is the largest seen at the end of any step since the last packet (a
 * timeout doubles it in the step that also retransmits, which is not counted). When
 * nothing is unacknowledged, only a delayed ACK may be pending: 40 ms. */
static void check_gap(struct gapcheck *g, struct th_link *l, struct th_engine *a,
                      struct th_engine *b, const char *name)
{
    uint64_t now = th_link_now(l), sent = th_link_sent(l);
    if (sent != g->last_sent) {
        uint64_t gap = th_link_last_send(l) - g->last_at;
        uint32_t allowed = g->allowed + th_link_max_oneway(l) + 1;
        cr_assert_leq(gap, allowed, "%s: link idle from %llu to %llu ms, RTO in force %u ms", name,
                      (unsigned long long)g->last_at, (unsigned long long)th_link_last_send(l),
                      g->allowed);
        if (gap > g->worst_gap) {
            g->worst_gap = gap;
            g->worst_allowed = allowed;
        }
        g->last_sent = sent;
        g->last_at = th_link_last_send(l);
        g->allowed = 0;
    }
    (void)now;
    struct scan sa = {0}, sb = {0};
    stack_tcp_foreach(a->st, scan_cb, &sa);
    stack_tcp_foreach(b->st, scan_cb, &sb);
    uint32_t rto = sa.rto > sb.rto ? sa.rto : sb.rto;
    if (!rto) rto = 40;
    if (rto > g->allowed) g->allowed = rto;
}

static void dump_cb(void *arg, const struct stack_conn_info *ci)
{
    cr_log_error("%s: h=%d %s una=%u nxt=%u wnd=%u rcv_nxt=%u rcv_wnd=%u sq=%u rq=%u rto=%u "
                 "cwnd=%u",
                 (const char *)arg, ci->handle, tcp_state_name(ci->state), ci->snd_una, ci->snd_nxt,
                 ci->snd_wnd, ci->rcv_nxt, ci->rcv_wnd, ci->send_queue, ci->recv_queue, ci->rto_ms,
                 ci->cwnd);
}

static bool all_done(struct th_engine *e)
{
    struct scan s = {0};
    stack_tcp_foreach(e->st, scan_cb, &s);
    return s.busy == 0;
}

static uint64_t run_cell(const struct cell *c)
{
    char name[96];
    snprintf(name, sizeof name, "loss %u%% rtt %u ms reorder %u%% dup %u%% %u bytes seed %llu",
             c->loss, c->rtt, c->reorder, c->dup, c->bytes, (unsigned long long)c->seed);
    struct stack_config ca, cb;
    th_config(&ca, A_ADDR);
    th_config(&cb, B_ADDR);
    cb.isn_secret[0] ^= 0x55;
    struct th_engine *a = th_new(&ca, false), *b = th_new(&cb, false);
    uint32_t jitter = cell_jitter(c);
    struct th_link_cfg lc = {.seed = c->seed,
                             .loss_pct = c->loss,
                             .dup_pct = c->dup,
                             .reorder_pct = c->reorder,
                             .jitter_ms = jitter,
                             .rtt_ms = c->rtt};
    struct th_link *l = th_link_new(a, b, &lc);
    int lh = stack_tcp_listen(b->st, 80, 16);
    cr_assert_gt(lh, 0);
    struct side sa = {.e = a, .seed_out = 11, .seed_in = 22};
    struct side sb = {.e = b, .seed_out = 22, .seed_in = 11};
    sa.h = stack_tcp_connect(a->st, B_ADDR, 80, 0, 0);
    cr_assert_gt(sa.h, 0);
    double bound = run_ceiling_ms(c);
    uint64_t limit = (uint64_t)bound * 2 + 60000, done_at = 0;
    struct gapcheck g = {0};
    check_gap(&g, l, a, b, name);
    while (th_link_step(l, limit)) {
        uint64_t now = th_link_now(l);
        if (sb.h <= 0) {
            int h = stack_tcp_accept(b->st, lh);
            if (h > 0) sb.h = h;
        }
        pump(&sa, c->bytes, now);
        pump(&sb, c->bytes, now);
        if (sa.closed && sb.closed && all_done(a) && all_done(b)) {
            done_at = now;
            break;
        }
        check_gap(&g, l, a, b, name);
    }
    if (!done_at) {
        stack_tcp_foreach(a->st, dump_cb, "a");
        stack_tcp_foreach(b->st, dump_cb, "b");
        cr_log_error("a err %d b err %d, next deadlines %llu %llu", stack_sock_error(a->st, sa.h),
                     stack_sock_error(b->st, sb.h), (unsigned long long)stack_next_deadline(a->st),
                     (unsigned long long)stack_next_deadline(b->st));
    }
    cr_assert(sa.closed && sb.closed && done_at,
              "%s: not done at %llu ms: a sent %llu got %llu, b sent %llu got %llu", name,
              (unsigned long long)th_link_now(l), (unsigned long long)sa.sent,
              (unsigned long long)sa.rcvd, (unsigned long long)sb.sent,
              (unsigned long long)sb.rcvd);
    cr_assert_eq(sa.rcvd, c->bytes);
    cr_assert_eq(sb.rcvd, c->bytes);
    const struct stack_stats *xa = stack_stats(a->st), *xb = stack_stats(b->st);
    cr_log_info("%s: done at %llu ms, bound %.0f ms (%.1fx), %llu packets, %llu dropped, "
                "timeouts %llu, fast retransmits %llu, longest gap %llu ms (allowed %u)",
                name, (unsigned long long)done_at, bound, bound / (double)done_at,
                (unsigned long long)th_link_sent(l), (unsigned long long)th_link_dropped(l),
                (unsigned long long)(xa->tcp_retransmits + xb->tcp_retransmits),
                (unsigned long long)(xa->tcp_fast_retransmits + xb->tcp_fast_retransmits),
                (unsigned long long)g.worst_gap, g.worst_allowed);
    cr_assert_leq(done_at, (uint64_t)bound, "%s: done at %llu ms, bound %.0f ms", name,
                  (unsigned long long)done_at, bound);
    th_link_free(l);
    th_free(a);
    th_free(b);
    return done_at;
}

/* N per cell: large enough for several windows and, under loss, dozens of loss events;
 * small enough that the 30 % cells stay quick under ASan. */
static uint32_t cell_bytes(unsigned loss)
{
    switch (loss) {
    case 0:
    case 1:
        return 1024 * 1024;
    case 5:
        return 512 * 1024;
    case 10:
        return 256 * 1024;
    default:
        return 64 * 1024;
    }
}

static const unsigned LOSSES[] = {0, 1, 5, 10, 30}, RTTS[] = {1, 50};
#define NCELLS (5 * 2 * 2)

ParameterizedTestParameters(loss_matrix, cell)
{
    static struct cell cells[NCELLS];
    size_t n = 0;
    for (size_t i = 0; i < 5; i++)
        for (size_t j = 0; j < 2; j++)
            for (unsigned reo = 0; reo < 2; reo++) {
                struct cell *c = &cells[n++];
                c->loss = LOSSES[i];
                c->rtt = RTTS[j];
                c->reorder = reo ? 10 : 0;
                c->dup = reo ? 2 : 0;
                c->bytes = cell_bytes(c->loss);
                c->seed = 1000 + n;
            }
    return cr_make_param_array(struct cell, cells, n);
}

/* One fixed seed per cell (five in the 30 % cells); LOSS_MATRIX_SEEDS=n runs seeds
 * seed*100 + 0..n-1 instead, each against its own ceiling, to see the spread of a cell
 * (how the margin of the bound was checked). */
ParameterizedTest(struct cell *c, loss_matrix, cell)
{
    const char *e = getenv("LOSS_MATRIX_SEEDS");
    int n = e ? atoi(e) : 0;
    if (n <= 0 && !heavy_tail(c)) {
        run_cell(c);
        return;
    }
    if (n <= 0) {
        /* the 30 % cells: five seeds (as LOSS_MATRIX_SEEDS=5 would), each byte-exact with
         * no idle gap and within its ceiling, and their median within 2 T_bound + 1 s */
        uint64_t t[5];
        for (int i = 0; i < 5; i++) {
            struct cell d = *c;
            d.seed = c->seed * 100 + (uint64_t)i;
            uint64_t v = run_cell(&d);
            int j = i;
            for (; j > 0 && t[j - 1] > v; j--)
                t[j] = t[j - 1];
            t[j] = v;
        }
        double b = bound_ms(c, cell_jitter(c)) * 2 + 1000;
        cr_log_info("loss %u%% rtt %u ms reorder %u%%: median of 5 seeds %llu ms, bound %.0f ms",
                    c->loss, c->rtt, c->reorder, (unsigned long long)t[2], b);
        cr_assert_leq(t[2], (uint64_t)b, "median of 5 seeds %llu ms, bound %.0f ms",
                      (unsigned long long)t[2], b);
        return;
    }
    for (int i = 0; i < n; i++) {
        struct cell d = *c;
        d.seed = c->seed * 100 + (uint64_t)i;
        run_cell(&d);
    }
}
