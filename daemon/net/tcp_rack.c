/* RACK-TLP (RFC 8985) over the scoreboard (tcp_sb.c):
 *   tcp_rack_delivered       §6.2 steps 1-3: RACK.rtt/xmit_ts/end_seq from each segment
 *                            newly delivered (a retransmission younger than min_RTT, the
 *                            handshake's RTT before any, or whose ACK echoes an older
 *                            TSval, is taken for its original: skipped), RACK.fack and
 *                            reordering
 *   tcp_rack_undo            a spurious retransmission undone: RACK.xmit_ts, if a resend's,
 *                            is dropped
 *   tcp_rack_reo_wnd         §6.2 step 4: 0 before any reordering once DupThresh segments
 *                            are SACKed or in recovery, else min(mult * min_RTT / 4, SRTT)
 *   tcp_rack_update_reo_wnd  §6.2 step 4: mult + 1 on a D-SACK (once per round), back to 1
 *                            after 16 recoveries
 *   tcp_rack_detect          §6.2 step 5: lost when sent before RACK.xmit_ts and older than
 *                            RACK.rtt + reo_wnd; the REORDER timer for the others
 *   tcp_tlp_*                §7: PTO = 2 * SRTT (+ WCDelAckT with one segment in flight),
 *                            at most the RTO; the probe is new data, or the last segment
 *                            again; its ACK says whether a loss was repaired (§7.4)
 * Times are the engine's ms clock; min_RTT is the smallest sample of the connection (no
 * windowed filter: paths here do not move). */
#include "tcp.h"

/* RACK_sent_after (§6.2): was (t1, seq1) sent after (t2, seq2)? */
static bool sent_after(uint64_t t1, uint32_t seq1, uint64_t t2, uint32_t seq2)
{
    return t1 > t2 || (t1 == t2 && seq_gt(seq1, seq2));
}

void tcp_rack_delivered(struct tcb *t, const struct tcp_sb_seg *e, uint64_t now, uint32_t tsecr)
{
    struct tcp_rack *r = &t->rack;
    /* reordering: delivered below what was delivered before, never sent twice */
    if (r->fack_valid && seq_lt(e->end, r->fack) && e->rexmits == 0) {
        if (!r->reordering_seen) r->reord_events++;
        r->reordering_seen = true;
    }
    if (!r->fack_valid || seq_gt(e->end, r->fack)) {
        r->fack = e->end;
        r->fack_valid = true;
    }
    uint32_t rtt = (uint32_t)(now - e->xmit_ts);
    /* an ACK sooner than the path allows answers an earlier transmission (step 2); before
     * RACK's first sample the handshake's RTT is the connection's minimum */
    uint32_t floor = r->have_rtt ? r->min_rtt : t->rtt_sampled ? t->srtt : 0;
    if (e->rexmits && rtt < floor) return;
    /* or, with timestamps, an echo older than the resend's TSval (step 2) */
    if (e->rexmits && t->ts_ok && tsecr && seq_lt(tsecr, (uint32_t)e->xmit_ts + t->ts_offset))
        return;
    r->rtt = rtt;
    if (!r->have_rtt || rtt < r->min_rtt) r->min_rtt = rtt;
    r->have_rtt = true;
    if (!r->valid || sent_after(e->xmit_ts, e->end, r->xmit_ts, r->end_seq)) {
        r->xmit_ts = e->xmit_ts;
        r->end_seq = e->end;
        r->xmit_rexmit = e->rexmits != 0;
        r->valid = true;
    }
}

void tcp_rack_undo(struct tcb *t)
{
    /* the resends were not needed: a RACK.xmit_ts taken from one is the resend's send
     * time for the original's delivery, against which the whole old window would look
     * overdue; the next delivery gives RACK its reference again */
    if (t->rack.xmit_rexmit) t->rack.valid = false;
}

uint32_t tcp_rack_reo_wnd(const struct tcb *t)
{
    const struct tcp_rack *r = &t->rack;
    if (!r->reordering_seen && (t->in_recovery || t->sb.sacked_segs >= TCP_DUPTHRESH)) return 0;
    uint32_t w = r->reo_wnd_mult * (r->have_rtt ? r->min_rtt : 0) / 4;
    if (t->rtt_sampled && w > t->srtt) w = t->srtt;
    return w;
}

void tcp_rack_update_reo_wnd(struct tcb *t, bool dsack, bool recovery_ended)
{
    struct tcp_rack *r = &t->rack;
    if (r->reo_wnd_mult == 0) r->reo_wnd_mult = 1;
    if (r->dsack_round_on && seq_geq(t->snd_una, r->dsack_round)) r->dsack_round_on = false;
    if (dsack && !r->dsack_round_on) {
        r->dsack_round = t->snd_max;
        r->dsack_round_on = true;
        if (r->reo_wnd_mult < UINT8_MAX) r->reo_wnd_mult++;
        r->reo_wnd_persist = TCP_REO_PERSIST;
    } else if (recovery_ended && r->reo_wnd_persist > 0) {
        if (--r->reo_wnd_persist == 0) r->reo_wnd_mult = 1;
    }
}

uint32_t tcp_rack_detect(struct stack *st, struct tcb *t)
{
    struct tcp_rack *r = &t->rack;
    struct tcp_sb *sb = &t->sb;
    if (r->reo_wnd_mult == 0) r->reo_wnd_mult = 1;
    if (!r->valid) return 0;
    uint64_t reo = tcp_rack_reo_wnd(t), timeout = 0;
    uint32_t marked = 0;
    for (uint32_t i = 0; i < sb->n; i++) {
        const struct tcp_sb_seg *e = tcp_sb_at(sb, i);
        if (e->flags & SB_SACKED) continue;
        if ((e->flags & (SB_LOST | SB_RETRANS)) == SB_LOST) continue; /* awaits its resend */
        if (!sent_after(r->xmit_ts, r->end_seq, e->xmit_ts, e->end)) continue;
        uint64_t due = e->xmit_ts + r->rtt + reo;
        if (due <= st->now) {
            tcp_sb_mark_lost(sb, i);
            marked++;
        } else if (due - st->now > timeout) {
            timeout = due - st->now;
        }
    }
    st->stats.tcp_rack_detections += marked;
    if (timeout)
        tcp_timer_set(st, t, TT_REORDER, st->now + timeout);
    else
        tcp_timer_clear(st, t, TT_REORDER);
    return marked;
}

bool tcp_rack_timeout(struct stack *st, struct tcb *t)
{
    if (!t->sack_ok || t->snd_una == t->snd_max) return true;
    if (tcp_rack_detect(st, t)) {
        tcp_recovery_loss(st, t, 0);
        tcp_output(st, t);
    }
    return true;
}

/* ---- tail loss probes (§7) ---- */

uint32_t tcp_tlp_pto(const struct tcb *t)
{
    if (!t->rtt_sampled) return 1000;
    uint32_t pto = 2 * t->srtt;
    if (pto < TCP_TLP_MIN_PTO) pto = TCP_TLP_MIN_PTO;
    uint32_t flight = t->snd_max - t->snd_una;
    if (flight <= t->snd_mss) pto += TCP_TLP_WCDELACK;
    return pto;
}

void tcp_tlp_arm(struct stack *st, struct tcb *t)
{
    struct tcp_rack *r = &t->rack;
    bool ok = t->sack_ok && !t->in_recovery && !r->rto_recovery && !r->tlp_out && !t->persist &&
              t->snd_una != t->snd_max && t->sb.lost == 0 && tcp_timer_armed(t, TT_RTX) &&
              (t->state == TCP_ESTABLISHED || t->state == TCP_CLOSE_WAIT ||
               t->state == TCP_FIN_WAIT_1 || t->state == TCP_CLOSING || t->state == TCP_LAST_ACK);
    if (!ok) {
        r->tlp_rearm = false;
        tcp_timer_clear(st, t, TT_TLP);
        return;
    }
    if (tcp_timer_armed(t, TT_TLP) && !r->tlp_rearm) return;
    r->tlp_rearm = false;
    stack_time_t at = st->now + tcp_tlp_pto(t);
    if (at >= t->tmr[TT_RTX]) { /* the RTO comes first: no probe */
        tcp_timer_clear(st, t, TT_TLP);
        return;
    }
    tcp_timer_set(st, t, TT_TLP, at);
}

static uint32_t min32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

void tcp_tlp_fire(struct stack *st, struct tcb *t)
{
    struct tcp_rack *r = &t->rack;
    if (!t->sack_ok || t->in_recovery || r->tlp_out || t->persist || t->snd_una == t->snd_max)
        return;
    uint32_t data_end = t->snd_base + ring_used(&t->sndq);
    uint32_t room = tcp_seg_room(t);
    uint32_t wnd_end = t->snd_una + t->snd_wnd;
    uint32_t seq, len;
    bool retrans;
    if (seq_lt(t->snd_nxt, data_end) && seq_lt(t->snd_nxt, wnd_end)) {
        /* new data: one segment past cwnd, within the peer's window */
        seq = t->snd_nxt;
        len = min32(min32(data_end - seq, wnd_end - seq), room);
        retrans = false;
    } else {
        /* the last segment sent again (whole: the SACK option gives way, emit_tcb) */
        uint32_t last = seq_lt(data_end, t->snd_max) ? data_end : t->snd_max;
        len = min32(last - t->snd_una, t->snd_mss);
        seq = last - len;
        int32_t i = tcp_sb_find(&t->sb, last - 1);
        if (len && i >= 0) {
            const struct tcp_sb_seg *e = tcp_sb_at(&t->sb, (uint32_t)i);
            if (seq_lt(seq, e->start)) { /* the whole last segment, no more */
                seq = e->start;
                len = last - seq;
            }
        }
        retrans = true;
    }
    if (len == 0 && !(retrans && t->fin_sent)) return;
    TRACE(st, "[TCP ] tail loss probe seq=%u len=%u %s", seq, len, retrans ? "again" : "new");
    st->stats.tcp_tlps++;
    if (retrans) t->retransmits++;
    tcp_send_seg(st, t, seq, len);
    if (!retrans) {
        tcp_cc_sent(st, t, seq, len);
        t->snd_nxt = seq + len; /* a FIN still queued goes with the next send */
        if (seq_gt(t->snd_nxt, t->snd_max)) t->snd_max = t->snd_nxt;
    }
    r->tlp_out = true;
    r->tlp_retrans = retrans;
    r->tlp_end = t->snd_max;
    tcp_rtx_restart(st, t); /* §7.3: the RTO after the probe */
}

void tcp_tlp_ack(struct stack *st, struct tcb *t, uint32_t ack, bool dsack_probe, bool sacked)
{
    struct tcp_rack *r = &t->rack;
    if (!r->tlp_out || seq_lt(ack, r->tlp_end)) return;
    r->tlp_out = false;
    if (!r->tlp_retrans || dsack_probe) return; /* new data, or both copies arrived */
    if (seq_gt(ack, r->tlp_end) || !sacked) {
        /* only the probe arrived: it repaired a loss; the window is reduced as for one */
        st->stats.tcp_tlp_recoveries++;
        tcp_cc_enter_recovery(st, t);
    }
}
