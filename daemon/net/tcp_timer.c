/* Timeouts (RFC 9293 §3.10.8): retransmission per RFC 6298, the persist timer
 * (§3.8.6.1), delayed ACKs, TIME_WAIT (2*MSL) and the orphaned FIN_WAIT_2 reclaim; the
 * keepalive timer and the user timeout's deadlines are tcp_keepalive.c's.
 *
 * Each TCB has a set of deadlines, one per kind (enum tcp_timer_kind), and at most one
 * heap entry keyed by the earliest of them, so stack_poll touches only the connections
 * that are due and tcp_next_deadline is O(1). Compact TIME_WAIT entries all last 2*MSL and sit in a
 * FIFO sorted by expiry (tcp_table.c). */
#include <errno.h>
#include <stdlib.h>

#include "tcp.h"

/* ---- the min-heap ---- */

static void heap_swap(struct tcp_engine *ts, uint32_t a, uint32_t b)
{
    struct tcb *x = ts->heap[a];
    ts->heap[a] = ts->heap[b];
    ts->heap[b] = x;
    ts->heap[a]->heap_idx = a + 1;
    ts->heap[b]->heap_idx = b + 1;
}

static void heap_up(struct tcp_engine *ts, uint32_t i)
{
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (ts->heap[p]->heap_key <= ts->heap[i]->heap_key) break;
        heap_swap(ts, p, i);
        i = p;
    }
}

static void heap_down(struct tcp_engine *ts, uint32_t i)
{
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < ts->heap_len && ts->heap[l]->heap_key < ts->heap[m]->heap_key) m = l;
        if (r < ts->heap_len && ts->heap[r]->heap_key < ts->heap[m]->heap_key) m = r;
        if (m == i) return;
        heap_swap(ts, i, m);
        i = m;
    }
}

void tcp_timer_remove(struct stack *st, struct tcb *t)
{
    struct tcp_engine *ts = TS(st);
    if (!t->heap_idx) return;
    uint32_t i = t->heap_idx - 1;
    ts->heap_len--;
    if (i != ts->heap_len) {
        ts->heap[i] = ts->heap[ts->heap_len];
        ts->heap[i]->heap_idx = i + 1;
        heap_up(ts, i);
        heap_down(ts, ts->heap[i]->heap_idx - 1);
    }
    t->heap_idx = 0;
}

void tcp_timer_update(struct stack *st, struct tcb *t)
{
    struct tcp_engine *ts = TS(st);
    stack_time_t key = STACK_TIME_NEVER;
    for (int k = 0; k < TT_NKINDS; k++)
        if (t->tmr[k] && t->tmr[k] < key) key = t->tmr[k];
    if (key == STACK_TIME_NEVER) {
        tcp_timer_remove(st, t);
        return;
    }
    if (t->heap_idx) {
        stack_time_t old = t->heap_key;
        t->heap_key = key;
        if (key < old)
            heap_up(ts, t->heap_idx - 1);
        else if (key > old)
            heap_down(ts, t->heap_idx - 1);
        return;
    }
    if (ts->heap_len == ts->heap_cap) {
        uint32_t ncap = ts->heap_cap ? ts->heap_cap * 2 : 64;
        struct tcb **nh = realloc(ts->heap, ncap * sizeof *nh);
        if (!nh) return; /* cannot arm: the connection will stall, never crash */
        ts->heap = nh;
        ts->heap_cap = ncap;
    }
    t->heap_key = key;
    ts->heap[ts->heap_len] = t;
    t->heap_idx = ++ts->heap_len;
    heap_up(ts, t->heap_idx - 1);
}

/* ---- arming ---- */

void tcp_timer_set(struct stack *st, struct tcb *t, enum tcp_timer_kind kind, stack_time_t at)
{
    t->tmr[kind] = at ? at : 1;
    tcp_timer_update(st, t);
}

void tcp_timer_clear(struct stack *st, struct tcb *t, enum tcp_timer_kind kind)
{
    if (!t->tmr[kind]) return;
    t->tmr[kind] = 0;
    tcp_timer_update(st, t);
}

void tcp_timer_clear_all(struct stack *st, struct tcb *t)
{
    for (int k = 0; k < TT_NKINDS; k++)
        t->tmr[k] = 0;
    tcp_timer_remove(st, t);
}

/* RTX, PERSIST and 2MSL exclude each other: arming one stops the other two. */
static void main_set(struct stack *st, struct tcb *t, enum tcp_timer_kind kind, stack_time_t at)
{
    t->tmr[TT_RTX] = t->tmr[TT_PERSIST] = t->tmr[TT_2MSL] = 0;
    tcp_timer_set(st, t, kind, at);
}

void tcp_2msl_start(struct stack *st, struct tcb *t)
{
    main_set(st, t, TT_2MSL, st->now + 2 * (stack_time_t)st->cfg.msl_ms);
}

/* now + RTO, capped at the user timeout's deadline for the data outstanding */
static stack_time_t rtx_deadline(struct stack *st, struct tcb *t)
{
    return tcp_user_timeout_cap(st, t, st->now + t->rto, t->ut_start);
}

void tcp_rtx_arm(struct stack *st, struct tcb *t)
{
    if (t->tmr[TT_RTX]) return;
    t->ut_start = st->now; /* data leaves with nothing outstanding: the user timeout's clock */
    main_set(st, t, TT_RTX, rtx_deadline(st, t));
}

void tcp_rtx_restart(struct stack *st, struct tcb *t)
{
    main_set(st, t, TT_RTX, rtx_deadline(st, t));
}

void tcp_rtx_stop(struct stack *st, struct tcb *t)
{
    tcp_timer_clear(st, t, TT_RTX);
}

static uint32_t persist_interval(struct stack *st, struct tcb *t)
{
    uint64_t iv = (uint64_t)t->rto << (t->persist_shift > 16 ? 16 : t->persist_shift);
    if (iv > st->cfg.rto_max_ms) iv = st->cfg.rto_max_ms;
    return (uint32_t)iv;
}

void tcp_persist_enter(struct stack *st, struct tcb *t)
{
    if (t->persist) return;
    t->persist = true;
    t->persist_shift = 0;
    t->probe_start = 0;
    t->rtt_active = false; /* no RTT sample across a closed window */
    main_set(st, t, TT_PERSIST, st->now + persist_interval(st, t));
}

void tcp_persist_check(struct stack *st, struct tcb *t)
{
    if (t->persist || t->snd_wnd != 0) return;
    if (seq_lt(t->snd_una, t->snd_base + ring_used(&t->sndq))) tcp_persist_enter(st, t);
}

void tcp_delack_arm(struct stack *st, struct tcb *t)
{
    if (t->tmr[TT_DELACK]) return;
    tcp_timer_set(st, t, TT_DELACK, st->now + TCP_DELACK_MS);
}

/* ---- expiry ---- */

/* Linux's tcp_orphan_retries: nobody waits for an orphan's outcome, so it gets fewer. */
static uint32_t retry_limit(struct stack *st, const struct tcb *t)
{
    uint32_t n = st->cfg.max_retries;
    if (t->orphan && st->cfg.orphan_retries < n) n = st->cfg.orphan_retries;
    return n;
}

/* RFC 6298 §5.4-5.6 (and §3.8.1 of RFC 9293 for SYNs). Returns false if t is gone. */
static bool rtx_timeout(struct stack *st, struct tcb *t)
{
    bool syn = t->state == TCP_SYN_SENT || t->state == TCP_SYN_RCVD;
    uint32_t limit = syn ? st->cfg.syn_retries : retry_limit(st, t);
    if (t->snd_una == t->snd_max && !syn)
        return true; /* nothing outstanding (should not happen: timer stopped) */
    if (!syn && t->snd_wnd == 0 && seq_lt(t->snd_una, t->snd_base + ring_used(&t->sndq))) {
        tcp_persist_enter(st, t); /* a closed window is probed, not retransmitted into */
        return true;
    }
    /* RFC 5482: with a user timeout set, it alone decides how long data may go
     * unacknowledged (an orphan still gets no more than its retries) */
    bool ut = !syn && t->user_timeout;
    if (ut && tcp_user_timeout_expired(st, t, t->ut_start)) {
        st->stats.tcp_user_timeouts++;
        TRACE(st, "[TCP ] user timeout: data unacknowledged for %ums", t->user_timeout);
        bool keep = t->handle > 0;
        tcp_abort_conn(st, t, ETIMEDOUT);
        return keep;
    }
    if (ut ? t->orphan && t->retries >= st->cfg.orphan_retries : t->retries >= limit) {
        st->stats.tcp_timeouts++;
        if (t->orphan) st->stats.tcp_orphan_timeouts++;
        TRACE(st, "[TCP ] timeout after %u retransmissions", t->retries);
        if (t->state == TCP_SYN_RCVD && t->parent) {
            tcp_closed(st, t); /* a half-open child is freed, never leaked */
            return false;
        }
        bool keep = t->handle > 0;
        tcp_abort_conn(st, t, ETIMEDOUT);
        return keep;
    }
    t->rtt_active = false; /* Karn: nothing in flight may give a sample now */
    if (!syn) {
        /* RFC 3522: the first retransmission's TSval, to tell a spurious timeout */
        tcp_ts_timeout(st, t);
        tcp_frto_rto(st, t); /* RFC 5682 step 1 (without timestamps) */
        tcp_cc_rto(st, t);   /* ssthresh reduced, cwnd = the loss window */
        t->in_recovery = false;
        t->dupacks = 0;
        /* RFC 6582 §3.2 step 2 after a timeout: the duplicate ACKs the go-back-N resend
         * draws from the old window start no fast retransmit */
        t->recover = t->snd_max;
    }
    /* the backoff lives in the RTO value and sticks until a new RTT sample */
    uint64_t rto = (uint64_t)t->rto * 2;
    t->rto = (uint32_t)(rto > st->cfg.rto_max_ms ? st->cfg.rto_max_ms : rto);
    t->retries++;
    st->stats.tcp_retransmits++;
    /* SACK: every segment is marked lost and resent as the window lets it (RFC 8985
     * §6.3), the SND.NXT of new data kept; without SACK (or with data the scoreboard
     * does not cover), go back N from SND.UNA */
    bool marked = !syn && t->sack_ok && tcp_recovery_rto(st, t);
    if (!marked || tcp_recovery_output(st, t, 1) == 0) {
        if (marked) tcp_sb_reset(&t->sb);
        t->retransmits++;
        tcp_retransmit_first(st, t);
    }
    tcp_rtx_restart(st, t);
    return true;
}

/* RFC 1122 4.2.2.17: while the peer answers the probes, a connection stays open however
 * long its window stays shut; only probes that go unanswered count toward the abort. An
 * orphan is another matter: nobody will read its outcome, and a peer that keeps the
 * window shut would hold it forever, so (as Linux) it gets cfg.orphan_retries probes in
 * all and is then reset. */
static bool persist_timeout(struct stack *st, struct tcb *t)
{
    /* the user timeout runs from the first probe the peer has not answered (as Linux) */
    if (t->probe_start && tcp_user_timeout_expired(st, t, t->probe_start)) {
        st->stats.tcp_user_timeouts++;
        TRACE(st, "[TCP ] user timeout: window probes unanswered for %ums", t->user_timeout);
        bool keep = t->handle > 0;
        tcp_abort_conn(st, t, ETIMEDOUT);
        return keep;
    }
    if (t->retries >= retry_limit(st, t)) {
        /* the peer stopped answering probes altogether */
        st->stats.tcp_timeouts++;
        if (t->orphan) st->stats.tcp_orphan_timeouts++;
        bool keep = t->handle > 0;
        tcp_abort_conn(st, t, ETIMEDOUT);
        return keep;
    }
    if (t->orphan && t->persist_shift >= st->cfg.orphan_retries) {
        TRACE(st, "[TCP ] orphan behind a zero window: reset after %u probes", t->persist_shift);
        st->stats.tcp_orphan_timeouts++;
        st->stats.tcp_resets++;
        tcp_send_rst(st, t);
        tcp_closed(st, t);
        return false;
    }
    t->retries++;
    TRACE(st, "[TCP ] window probe seq=%u interval=%ums", t->snd_una, persist_interval(st, t));
    tcp_send_probe(st, t);
    if (!t->probe_start) t->probe_start = st->now;
    t->persist_shift++;
    /* re-keyed by tcb_fire */
    t->tmr[TT_PERSIST] =
        tcp_user_timeout_cap(st, t, st->now + persist_interval(st, t), t->probe_start);
    return true;
}

/* Runs one expired kind (already disarmed). Returns false when t is gone. */
static bool fire_kind(struct stack *st, struct tcb *t, enum tcp_timer_kind kind)
{
    switch (kind) {
    case TT_DELACK:
        t->ack_now = true;
        tcp_send_ack(st, t);
        return true;
    case TT_RTX:
        return rtx_timeout(st, t);
    case TT_PERSIST:
        return persist_timeout(st, t);
    case TT_2MSL: {
        bool keep = t->handle > 0 && !t->parent;
        tcp_closed(st, t); /* frees t unless a handle holds it */
        return keep;
    }
    case TT_KEEPALIVE:
        return tcp_keepalive_timeout(st, t);
    case TT_REORDER:
        return tcp_rack_timeout(st, t);
    case TT_TLP:
        tcp_tlp_fire(st, t);
        return true;
    case TT_NKINDS:
        break;
    }
    return true;
}

static void tcb_fire(struct stack *st, struct tcb *t)
{
    for (int k = 0; k < TT_NKINDS; k++) {
        if (!t->tmr[k] || t->tmr[k] > st->now) continue;
        t->tmr[k] = 0;
        if (!fire_kind(st, t, (enum tcp_timer_kind)k)) return;
    }
    tcp_timer_update(st, t);
}

void tcp_poll(struct stack *st)
{
    struct tcp_engine *ts = TS(st);
    tcp_enter(st);
    while (ts->heap_len && ts->heap[0]->heap_key <= st->now) {
        struct tcb *t = ts->heap[0];
        tcb_fire(st, t);
        /* a deadline left in the past would spin: drop it (a bug guard, never expected) */
        if (ts->heap_len && ts->heap[0] == t && t->heap_key <= st->now) tcp_timer_clear_all(st, t);
    }
    while (ts->tw_head && ts->tw_head->expire <= st->now) {
        TRACE(st, "[TCP ] state TIME_WAIT -> CLOSED");
        tw_free(st, ts->tw_head);
    }
    tcp_synq_poll(st);
    tcp_leave(st);
}

stack_time_t tcp_next_deadline(struct stack *st)
{
    struct tcp_engine *ts = TS(st);
    stack_time_t d = STACK_TIME_NEVER;
    if (ts->heap_len) d = ts->heap[0]->heap_key;
    if (ts->tw_head && ts->tw_head->expire < d) d = ts->tw_head->expire;
    stack_time_t r = tcp_synq_deadline(st);
    return r < d ? r : d;
}
