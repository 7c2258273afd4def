/* F-RTO (RFC 5682): after the first timeout of a segment only that segment is resent;
 * the ACKs that follow say whether the timeout was spurious (the original window was
 * delivered, its ACKs late) before the rest of the window is sent again.
 *   tcp_frto_rto   step 1 (§2.1, §3.1): remember recover = SND.MAX; the retransmission
 *                  itself is rtx_timeout's. Not while a recovery is under way (SND.UNA
 *                  below the last recovery point): a timeout during F-RTO, or after its
 *                  conventional verdict, goes on with conventional RTO recovery
 *   tcp_frto_ack   step 2: the first ACK that advances SND.UNA below recover lets two
 *                  new segments out (2b); otherwise conventional recovery (2a, or no new
 *                  data / no window). With SACK, duplicate ACKs before it wait (§3 step 2).
 *                  step 3: an ACK of data that was never resent (cumulatively, or with
 *                  SACK a new SACK below recover) = spurious: tcp_cc_undo, new data next
 *                  (3b, RFC 4015's response); else cwnd <= 3 SMSS and the old window
 *                  is resent: go-back-N, or with SACK every unSACKed segment lost (3a).
 * Not with timestamps: there Eifel (tcp_ts.c) tells the same from the first ACK. */
#include "tcp.h"

static void end(struct tcb *t)
{
    t->frto = TCP_FRTO_NONE;
}

void tcp_frto_undone(struct tcb *t)
{
    /* the restored window, without step 2b's room */
    if (t->frto == TCP_FRTO_STEP3)
        t->cwnd = t->frto_cwnd > t->cc_state.prior_cwnd ? t->frto_cwnd : t->cc_state.prior_cwnd;
    end(t);
}

void tcp_frto_rto(struct stack *st, struct tcb *t)
{
    if (t->frto != TCP_FRTO_NONE) {
        if (t->frto == TCP_FRTO_STEP3) t->cwnd = t->frto_cwnd; /* not the test's room */
        end(t);
        return;
    }
    /* step 1: not when a recovery is still under way, RTO recovery (a recurring timeout,
     * or one after F-RTO's conventional verdict) or fast recovery: the ACKs of what it
     * resent would look like ACKs of never-resent data. recover is one past the highest
     * sequence number sent then (RFC 5682 says highest sent, >= SND.UNA) */
    bool recovering = t->in_recovery || seq_gt(t->recover, t->snd_una);
    if (!st->cfg.frto || t->ts_ok || recovering) return;
    t->frto = TCP_FRTO_STEP2;
    t->frto_recover = t->snd_max;
}

/* SACKed bytes below recover (the old window) */
static uint32_t sacked_below(const struct tcb *t)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->sb.n; i++) {
        const struct tcp_sb_seg *e = tcp_sb_at(&t->sb, i);
        if (!seq_lt(e->start, t->frto_recover)) break;
        if (e->flags & SB_SACKED) n += seq_min(e->end, t->frto_recover) - e->start;
    }
    return n;
}

static void step2(struct stack *st, struct tcb *t, uint32_t una)
{
    (void)st;
    if (!seq_gt(t->snd_una, una)) {
        /* §3 step 2: with SACK, duplicates update the scoreboard and F-RTO waits;
         * §2.1 step 2a: without, a duplicate or a window update ends it */
        if (!t->sack_ok) end(t);
        return;
    }
    uint32_t data_end = t->snd_base + ring_used(&t->sndq);
    uint32_t edge = t->snd_una + t->snd_wnd;
    /* 2a: all of the old window acknowledged; 2b: no new data, or no window for it */
    if (!seq_lt(t->snd_una, t->frto_recover) || !seq_lt(t->snd_max, data_end) ||
        !seq_lt(t->snd_max, edge)) {
        end(t);
        return;
    }
    if (t->sack_ok) {
        tcp_sb_clear_lost(&t->sb); /* new data first, not the old window */
        t->frto_sacked = sacked_below(t);
    }
    /* two new segments beside what is out; the room goes again at the next ACK */
    t->snd_nxt = t->snd_max;
    t->frto_cwnd = t->cwnd;
    uint32_t out = t->sack_ok ? tcp_pipe(t) : t->snd_max - t->snd_una;
    t->cwnd = out + 2 * t->snd_mss;
    t->frto = TCP_FRTO_STEP3;
}

static void step3(struct stack *st, struct tcb *t, uint32_t una)
{
    t->cwnd = t->frto_cwnd;
    end(t);
    bool spurious = seq_gt(t->snd_una, una);
    if (!spurious && t->sack_ok) spurious = sacked_below(t) > t->frto_sacked;
    if (spurious) {
        /* 3b: data never resent was acknowledged. Eifel or a D-SACK may have undone
         * the reduction already: tcp_cc_undo then has nothing saved */
        if (t->sack_ok) tcp_recovery_undone(t);
        if (tcp_cc_undo(st, t)) {
            st->stats.tcp_spurious_rtos_undone++;
            TRACE(st, "[TCP ] spurious timeout (f-rto) cwnd=%u ssthresh=%u", t->cwnd, t->ssthresh);
        }
        return; /* SND.NXT is at SND.MAX: new data next */
    }
    /* 3a: the timeout was genuine */
    if (t->cwnd > 3 * t->snd_mss) t->cwnd = 3 * t->snd_mss;
    if (t->sack_ok) {
        for (uint32_t i = 0; i < t->sb.n; i++) {
            if (!seq_lt(tcp_sb_at(&t->sb, i)->start, t->frto_recover)) break;
            tcp_sb_mark_lost(&t->sb, i); /* SACKed ones are skipped */
        }
    } else {
        t->snd_nxt = t->snd_una; /* go back N */
    }
    TRACE(st, "[TCP ] timeout genuine (f-rto) cwnd=%u", t->cwnd);
}

void tcp_frto_ack(struct stack *st, struct tcb *t, uint32_t una)
{
    if (!t->cc_state.saved) {
        end(t); /* undone already (tcp_frto_undone): nothing left to decide */
        return;
    }
    if (t->frto == TCP_FRTO_STEP2)
        step2(st, t, una);
    else if (t->frto == TCP_FRTO_STEP3)
        step3(st, t, una);
}
