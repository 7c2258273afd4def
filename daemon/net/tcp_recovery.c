/* SACK-based loss recovery (SACK agreed; tcp_recovery.h):
 *   tcp_recovery_ack     every ACK: the scoreboard (cumulative ACK, SACK blocks, D-SACK,
 *                        bogus blocks), reneging (RFC 2018 §8), RACK (RFC 8985 §6), TLP's
 *                        verdict (§7.4), recovery entry/exit, PRR on each ACK
 *   tcp_recovery_loss    RFC 6675 §5 entry on RACK's loss (RecoveryPoint = HighData),
 *                        the cc's reduction (ssthresh), RecoverFS for PRR
 *   prr_ack              RFC 6937 §3: proportional while pipe > ssthresh, else PRR-SSRB
 *                        (slow start reduction bound); cwnd = pipe + sndcnt
 *   tcp_recovery_output  RFC 6675 §4 NextSeg: (1) the lowest lost segment (RACK's IsLost),
 *                        (2) new data is tcp_output's, (3) is RACK's, (4) the rescue
 *                        retransmission of the last segment, once per recovery and only
 *                        after a partial ACK; pipe < cwnd bounds each
 *   tcp_recovery_rto     the timeout: SACKed marks dropped (RFC 2018 §8), every segment
 *                        lost (RFC 8985 §6.3), resent as slow start lets it
 *   undo_check           a D-SACK for every retransmission of the recovery (or since
 *                        the first timeout): the fast retransmit (timeout) was spurious,
 *                        tcp_cc_undo restores the window (RFC 3708's detection) */
#include "tcp.h"

struct dctx {
    struct tcb *t;
    uint64_t now;
    uint32_t tsecr;
};

static void on_delivered(void *arg, const struct tcp_sb_seg *e)
{
    struct dctx *c = arg;
    tcp_rack_delivered(c->t, e, c->now, c->tsecr);
}

uint32_t tcp_pipe(const struct tcb *t)
{
    return tcp_sb_pipe(&t->sb, t->snd_una, t->snd_max);
}

/* RFC 6937 §3, on an ACK in recovery that delivered `delivered` bytes. */
static void prr_ack(struct tcb *t, uint32_t delivered)
{
    struct tcp_rack *r = &t->rack;
    r->prr_delivered += delivered;
    uint32_t pipe = tcp_pipe(t);
    int64_t sndcnt;
    if (pipe > t->ssthresh) {
        uint64_t fs = r->recover_fs ? r->recover_fs : 1;
        sndcnt = (int64_t)(((uint64_t)r->prr_delivered * t->ssthresh + fs - 1) / fs) -
                 (int64_t)r->prr_out;
    } else {
        int64_t limit = (int64_t)r->prr_delivered - (int64_t)r->prr_out;
        if (limit < (int64_t)delivered) limit = delivered;
        limit += t->snd_mss;
        sndcnt = (int64_t)t->ssthresh - (int64_t)pipe;
        if (sndcnt > limit) sndcnt = limit;
    }
    if (sndcnt < 0) sndcnt = 0;
    /* whole segments (as in the RFC's examples): a part of one would wait for the next ACK */
    sndcnt = (sndcnt + t->snd_mss - 1) / t->snd_mss * t->snd_mss;
    /* the first retransmission goes whatever the arithmetic says (the fast retransmit) */
    if (r->prr_out == 0 && sndcnt < t->snd_mss) sndcnt = t->snd_mss;
    uint64_t cw = (uint64_t)pipe + (uint64_t)sndcnt;
    t->cwnd = cw > TCP_CC_CWND_MAX ? TCP_CC_CWND_MAX : (uint32_t)cw;
}

void tcp_recovery_loss(struct stack *st, struct tcb *t, uint32_t delivered)
{
    struct tcp_rack *r = &t->rack;
    if (t->in_recovery) {
        prr_ack(t, delivered);
        return;
    }
    /* after a timeout, the segments it left are resent by slow start: no second reduction */
    if (r->rto_recovery || !seq_geq(t->snd_una, t->recover)) return;
    r->recover_fs = t->snd_max - t->snd_una;
    tcp_cc_enter_recovery(st, t); /* ssthresh by the algorithm */
    t->recover = t->snd_max;
    t->in_recovery = true;
    t->dupacks = 0;
    r->prr_delivered = r->prr_out = 0;
    r->rescue_done = false;
    r->undo_ok = true;
    r->undo_rto = false;
    r->undo_marker = t->snd_una;
    r->undo_end = t->snd_max;
    r->undo_retrans = 0;
    tcp_ts_eifel_arm(st, t, TCP_EIFEL_FR); /* RFC 3522: the resend's ACK tells if it was needed */
    st->stats.tcp_sack_recoveries++;
    if (r->tlp_out) { /* the probe's SACK showed the loss */
        st->stats.tcp_tlp_recoveries++;
        r->tlp_out = false;
    }
    tcp_timer_clear(st, t, TT_TLP);
    TRACE(st, "[TCP ] SACK recovery una=%u recover=%u ssthresh=%u pipe=%u", t->snd_una, t->recover,
          t->ssthresh, tcp_pipe(t));
    prr_ack(t, delivered);
}

static void exit_recovery(struct stack *st, struct tcb *t)
{
    tcp_cc_exit_recovery(st, t);
    t->in_recovery = false;
    st->stats.tcp_recoveries++;
    tcp_rack_update_reo_wnd(t, false, true);
}

/* Every retransmission of the recovery came back as a duplicate: none was needed. */
static void undo_check(struct stack *st, struct tcb *t, const struct tcp_sb_ev *ev)
{
    struct tcp_rack *r = &t->rack;
    if (!ev->dsacks || !r->undo_ok || r->undo_retrans == 0) return;
    if (!seq_geq(ev->dsack.start, r->undo_marker) || seq_gt(ev->dsack.end, r->undo_end)) return;
    if (--r->undo_retrans) return;
    r->undo_ok = false;
    if (!tcp_cc_undo(st, t)) return;
    if (t->frto) tcp_frto_undone(t);
    if (r->undo_rto)
        st->stats.tcp_spurious_rtos_undone++;
    else
        st->stats.tcp_spurious_frs_undone++;
    TRACE(st, "[TCP ] spurious %s: cwnd %u ssthresh %u restored",
          r->undo_rto ? "timeout" : "fast retransmit", t->cwnd, t->ssthresh);
    if (t->in_recovery || r->rto_recovery)
        tcp_recovery_undone(t);
    else
        tcp_rack_undo(t);
}

void tcp_recovery_undone(struct tcb *t)
{
    struct tcp_rack *r = &t->rack;
    t->in_recovery = false;
    r->rto_recovery = false;
    r->undo_ok = false; /* undone once */
    t->recover = t->snd_una - 1;
    tcp_sb_clear_lost(&t->sb); /* nothing was lost: no more resends */
    tcp_rack_undo(t);
}

void tcp_recovery_ack(struct stack *st, struct tcb *t, const struct tcp_seg *s)
{
    struct tcp_rack *r = &t->rack;
    struct dctx c = {t, st->now, s->opt.ts ? s->opt.tsecr : 0};
    struct tcp_sb_ev ev = {0};
    uint32_t una = t->snd_una;
    tcp_sb_ack(&t->sb, una, on_delivered, &c, &ev);
    if (s->opt.nsack)
        tcp_sb_sack(&t->sb, una, t->snd_max, s->opt.sack, s->opt.nsack, on_delivered, &c, &ev);
    tcp_rate_ack(st, t, ev.delivered);
    st->stats.tcp_sack_blocks_rcvd += ev.applied;
    st->stats.tcp_sack_blocks_bogus += ev.bogus;
    st->stats.tcp_dsacks_received += ev.dsacks;
    if (ev.full) st->stats.tcp_scoreboard_full++;
    /* RFC 2018 §8: a current ACK that stops at data the peer SACKed says it dropped it */
    if (s->ack == una && t->sb.n && tcp_sb_at(&t->sb, 0)->start == una &&
        (tcp_sb_at(&t->sb, 0)->flags & SB_SACKED)) {
        st->stats.tcp_reneging_seen++;
        TRACE(st, "[TCP ] reneging: SACKed data at %u not acknowledged", una);
        tcp_sb_clear_sacked(&t->sb);
    }
    if (ev.dsacks) {
        undo_check(st, t, &ev);
        if (!r->reordering_seen) r->reord_events++;
        r->reordering_seen = true; /* a duplicate: something was resent too soon */
    }
    tcp_rack_update_reo_wnd(t, ev.dsacks > 0, false);
    bool dsack_probe = false;
    if (ev.dsacks && r->tlp_out && r->tlp_retrans) {
        uint32_t d = r->tlp_end - ev.dsack.end;
        dsack_probe = d <= 1; /* the probe's bytes (its FIN is not reported) */
    }
    tcp_tlp_ack(st, t, s->ack, dsack_probe, s->opt.nsack > 0);
    if (r->rto_recovery && seq_geq(t->snd_una, t->recover)) r->rto_recovery = false;
    if (t->in_recovery && seq_geq(t->snd_una, t->recover)) exit_recovery(st, t);
    uint32_t lost = tcp_rack_detect(st, t);
    if (t->in_recovery)
        prr_ack(t, ev.delivered);
    else if (lost)
        tcp_recovery_loss(st, t, ev.delivered);
}

void tcp_recovery_sent(struct stack *st, struct tcb *t, uint32_t seq, uint32_t len)
{
    struct tcp_rack *r = &t->rack;
    if (len == 0) return;
    bool again = seq_lt(seq, t->snd_max);
    if (!tcp_sb_sent(&t->sb, t->snd_una, seq, len, st->now)) st->stats.tcp_scoreboard_full++;
    if (t->in_recovery) r->prr_out += len;
    if (!again) {
        r->tlp_rearm = true;
        return;
    }
    if ((t->in_recovery || r->rto_recovery) && r->undo_ok) r->undo_retrans++;
    if (t->rtt_active && seq_between(t->rtt_seq, seq, seq + len)) t->rtt_active = false; /* Karn */
}

static uint32_t data_end(const struct tcb *t)
{
    return t->snd_base + ring_used(&t->sndq);
}

/* Sends the first room bytes of entry i again (cut there when room is smaller). */
static void resend(struct stack *st, struct tcb *t, uint32_t i)
{
    struct tcp_sb_seg *e = tcp_sb_at(&t->sb, i);
    /* the whole segment as first sent: the SACK option, if any, shrinks to fit beside it
     * (emit_tcb) rather than cutting the data into a full and a tiny segment */
    uint32_t len = e->end - e->start, room = t->snd_mss;
    if (len > room) {
        if (!tcp_sb_split(&t->sb, i, e->start + room)) st->stats.tcp_scoreboard_full++;
        e = tcp_sb_at(&t->sb, i);
        len = room;
    }
    TRACE(st, "[TCP ] retransmit seq=%u len=%u (SACK recovery)", e->start, len);
    t->retransmits++;
    if (!t->rack.rto_recovery) st->stats.tcp_fast_retransmits++; /* else the timeout's */
    tcp_send_seg(st, t, e->start, len);
}

uint32_t tcp_recovery_output(struct stack *st, struct tcb *t, uint32_t max)
{
    struct tcp_rack *r = &t->rack;
    uint32_t n = 0;
    uint32_t edge = t->snd_una + t->snd_wnd;
    /* nothing below SND.UNA is ever resent (a path that moved it without an ACK) */
    struct tcp_sb_ev ev = {0};
    tcp_sb_ack(&t->sb, t->snd_una, NULL, NULL, &ev);
    while (n < max && tcp_pipe(t) < t->cwnd) {
        int32_t i = tcp_sb_next_lost(&t->sb);
        if (i < 0) break;
        if (!seq_lt(tcp_sb_at(&t->sb, (uint32_t)i)->start, edge)) break;
        resend(st, t, (uint32_t)i);
        n++;
    }
    /* NextSeg (4): nothing lost, no new data may go: the last segment once, after a
     * partial ACK (the holes' retransmissions came back; RACK-TLP covers the rest) */
    if (t->in_recovery && !r->rescue_done && n < max && t->sb.n && tcp_pipe(t) < t->cwnd &&
        seq_gt(t->snd_una, r->undo_marker) && tcp_sb_next_lost(&t->sb) < 0 &&
        (!seq_lt(t->snd_nxt, data_end(t)) || !seq_lt(t->snd_nxt, edge))) {
        uint32_t last = t->sb.n - 1;
        const struct tcp_sb_seg *e = tcp_sb_at(&t->sb, last);
        if (!(e->flags & SB_SACKED) && e->rexmits == 0 && seq_lt(e->start, edge)) {
            r->rescue_done = true;
            resend(st, t, last);
            n++;
        }
    }
    return n;
}

bool tcp_recovery_rto(struct stack *st, struct tcb *t)
{
    struct tcp_rack *r = &t->rack;
    struct tcp_sb *sb = &t->sb;
    if (sb->n && (tcp_sb_at(sb, 0)->flags & SB_SACKED)) st->stats.tcp_reneging_seen++;
    r->tlp_out = false;
    r->rto_recovery = true;
    if (t->retries == 1) { /* the first timeout: what a D-SACK may prove spurious */
        r->undo_ok = true;
        r->undo_rto = true;
        r->undo_marker = t->snd_una;
        r->undo_end = t->snd_max;
        r->undo_retrans = 0;
    }
    tcp_timer_clear(st, t, TT_TLP);
    tcp_timer_clear(st, t, TT_REORDER);
    uint32_t end = seq_min(data_end(t), t->snd_max);
    bool covered = sb->n && tcp_sb_at(sb, 0)->start == t->snd_una && tcp_sb_end(sb, 0) == end;
    if (covered) {
        tcp_sb_timeout(sb);
    } else {
        tcp_sb_reset(sb); /* untracked data in flight: go back N as without SACK */
    }
    return covered;
}
