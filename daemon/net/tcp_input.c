/* Segment arrival, RFC 9293 §3.10.7, in the RFC's order:
 *   tcp_parse          header, checksum and options validated once, at the edge
 *   reply_no_conn      §3.10.7.1  CLOSED (no TCB): the RST reply
 *   input_listen       §3.10.7.2  LISTEN
 *   input_syn_sent     §3.10.7.3  SYN-SENT
 *   input_sync         §3.10.7.4  SYN-RECEIVED and the synchronized states:
 *     seq_acceptable     first: the segment acceptability test (the table of §3.10.7.4)
 *     second: RST (with RFC 5961 §3 challenge ACKs), fourth: SYN (RFC 5961 §4),
 *     fifth: ACK (process_ack), seventh: text (process_text), eighth: FIN (process_fin)
 *   input_time_wait    compact TIME_WAIT entries (RFC 1122 4.2.2.13, RFC 1337) */
#include <errno.h>
#include <string.h>

#include "bytes.h"
#include "checksum.h"
#include "tcp.h"

/* ---- parsing ---- */

static bool parse_drop(struct stack *st, uint64_t *counter, size_t len, const char *why)
{
    (*counter)++;
    TRACE(st, "[TCP ] drop len=%zu reason=%s", len, why);
    return false;
}

static bool tcp_parse(struct stack *st, struct ip_addr src, struct ip_addr dst, const uint8_t *p,
                      size_t len, struct tcp_seg *s)
{
    if (len < TCP_HDR_LEN) return parse_drop(st, &st->stats.tcp_drop_short, len, "too short");
    size_t doff = (size_t)(p[12] >> 4) * 4;
    if (doff < TCP_HDR_LEN || doff > len)
        return parse_drop(st, &st->stats.tcp_drop_short, len, "bad data offset");
    uint32_t sum = stack_pseudo_sum(src, dst, IP_PROTO_TCP, (uint32_t)len);
    /* unless the link vouched for it (a partial checksum: the data crossed no wire) */
    if (len > 65535 || (!st->rx_csum_ok && csum_finish(csum_add(sum, p, len)) != 0))
        return parse_drop(st, &st->stats.tcp_drop_checksum, len, "bad checksum");
    /* SYN with FIN or RST: no valid segment carries both (dropped as BSD and Linux do) */
    if ((p[13] & TH_SYN) && (p[13] & (TH_FIN | TH_RST)))
        return parse_drop(st, &st->stats.tcp_drop_bad_flags, len, "bad flags");
    if (!tcp_opts_parse(p + TCP_HDR_LEN, doff - TCP_HDR_LEN, &s->opt))
        return parse_drop(st, &st->stats.tcp_drop_bad_options, len, "bad options");
    if (s->opt.sack_bad) st->stats.tcp_sack_malformed++;
    if (s->opt.ts_bad) st->stats.tcp_ts_opt_bad++;
    s->src = src;
    s->dst = dst;
    s->sport = get16(p);
    s->dport = get16(p + 2);
    s->seq = get32(p + 4);
    s->ack = get32(p + 8);
    s->flags = p[13] & 0x3f;
    s->wnd = get16(p + 14);
    s->data = p + doff;
    s->len = (uint32_t)(len - doff);
    s->seglen = s->len + ((s->flags & TH_SYN) ? 1 : 0) + ((s->flags & TH_FIN) ? 1 : 0);
    return true;
}

static void trace_recv(struct stack *st, const struct tcp_seg *s, enum tcp_state state)
{
    if (!STACK_TRACING(st)) return;
    char fl[32];
    tcp_flags_str(s->flags, fl);
    stack_trace(st, "[TCP ] recv %s seq=%u ack=%u win=%u len=%u state=%s", fl, s->seq, s->ack,
                s->wnd, s->len, tcp_state_name(state));
}

/* ---- §3.10.7.1: no connection ---- */

static void reply_rst(struct stack *st, const struct tcp_seg *s)
{
    if (s->flags & TH_RST) return; /* never an RST in reply to an RST */
    if (s->flags & TH_ACK)
        tcp_emit_bare(st, s->dst, s->src, s->dport, s->sport, s->ack, 0, TH_RST, 0);
    else
        tcp_emit_bare(st, s->dst, s->src, s->dport, s->sport, 0, s->seq + s->seglen,
                      TH_RST | TH_ACK, 0);
}

static void reply_no_conn(struct stack *st, const struct tcp_seg *s)
{
    st->stats.tcp_drop_no_conn++;
    reply_rst(st, s);
}

/* ---- option negotiation on a received SYN ---- */

static void take_syn_options(struct stack *st, struct tcb *t, const struct tcp_seg *s)
{
    uint16_t mss = s->opt.mss ? s->opt.mss : TCP_DEFAULT_MSS;
    t->snd_mss = mss < t->rcv_mss ? mss : t->rcv_mss;
    if (s->opt.ws >= 0) { /* both sides sent the option (we always offer it) */
        t->ws_ok = true;
        t->snd_wscale = (uint8_t)s->opt.ws;
    } else {
        t->ws_ok = false;
        t->snd_wscale = 0;
        t->rcv_wscale = 0;
    }
    /* we always offer SACK-permitted (unless configured off): both sent it */
    t->sack_ok = st->cfg.sack && s->opt.sack_perm;
    tcp_ts_negotiate(st, t, s, st->cfg.timestamps); /* offered likewise (RFC 7323 §3.2) */
    tcp_cc_init(st, t);                             /* the initial window (RFC 6928) */
    t->snd_wnd = s->wnd;                            /* never scaled in a SYN */
    t->max_snd_wnd = s->wnd;
    t->snd_wl1 = s->seq;
    t->snd_wl2 = s->ack;
}

/* ---- §3.10.7.2: LISTEN ---- */

static void input_sync(struct stack *st, struct tcb *t, const struct tcp_seg *s);

/* A SYN creates a half-open request entry (or a SYN cookie): tcp_synq.c. An ACK gets an
 * RST unless it carries a valid SYN cookie; then the new TCB takes it as in SYN_RCVD. */
static void input_listen(struct stack *st, struct tcb *l, const struct tcp_seg *s,
                         bool have_min_iss, uint32_t min_iss)
{
    if (s->flags & TH_RST) return;
    if (s->flags & TH_ACK) {
        bool handled = false;
        struct tcb *c = (s->flags & TH_SYN) ? NULL : tcp_syncookie_ack(st, l, s, &handled);
        if (c)
            input_sync(st, c, s);
        else if (!handled)
            reply_no_conn(st, s);
        return;
    }
    if (!(s->flags & TH_SYN)) return;
    if (TS(st)->ntcb >= st->cfg.max_conns) {
        st->stats.tcp_conn_limit++;
        return;
    }
    tcp_synq_syn(st, l, s, have_min_iss, min_iss);
}

/* The handshake is complete: RFC 6298 §5.7, a SYN (or SYN,ACK) that timed out leaves
 * no RTT sample (Karn), and the RTO for the data is re-initialized to 3 s rather than
 * keeping a backed-off SYN timeout or a 1 s guess that already proved too short. */
static void handshake_done_rto(struct stack *st, struct tcb *t)
{
    if (t->retries == 0 || t->rtt_sampled) return;
    uint32_t rto = 3000;
    if (rto < st->cfg.rto_min_ms) rto = st->cfg.rto_min_ms;
    if (rto > st->cfg.rto_max_ms) rto = st->cfg.rto_max_ms;
    t->rto = rto;
}

/* ---- §3.10.7.3: SYN-SENT ---- */

static void input_syn_sent(struct stack *st, struct tcb *t, const struct tcp_seg *s)
{
    bool ack = s->flags & TH_ACK;
    if (ack && (seq_leq(s->ack, t->iss) || seq_gt(s->ack, t->snd_max))) {
        reply_rst(st, s); /* an ACK for something we never sent */
        return;
    }
    if (s->flags & TH_RST) {
        st->stats.tcp_rst_received++;
        if (ack) {
            st->stats.tcp_resets++;
            tcp_abort_conn(st, t, ECONNREFUSED);
        }
        return;
    }
    if (!(s->flags & TH_SYN)) return;
    t->irs = s->seq;
    t->rcv_nxt = s->seq + 1;
    t->rcv_adv = t->rcv_nxt;
    take_syn_options(st, t, s);
    if (ack) {
        t->snd_una = s->ack;
        if (t->rtt_active && seq_gt(s->ack, t->rtt_seq))
            tcp_rtt_sample(st, t, (uint32_t)(st->now - t->rtt_start));
        t->rtt_active = false;
        handshake_done_rto(st, t);
        t->retries = 0;
        tcp_rtx_stop(st, t); /* the SYN-ACK stops SYN retransmission at once */
        tcp_set_state(st, t, TCP_ESTABLISHED);
        tcp_post(st, t, SEV_CONNECTED | (ring_space_now(&t->sndq) ? SEV_WRITABLE : 0));
        if (t->fin_queued) tcp_set_state(st, t, TCP_FIN_WAIT_1);
        t->ack_now = true;
        tcp_output(st, t);
        if (t->snd_una != t->snd_max) tcp_rtx_arm(st, t);
        return;
    }
    /* simultaneous open: both SYNs crossed */
    tcp_set_state(st, t, TCP_SYN_RCVD);
    tcp_send_syn(st, t);
}

/* ---- §3.10.7.4 ---- */

/* The acceptability test: the four cases of RFC 9293 §3.10.7.4. */
static bool seq_acceptable(const struct tcb *t, const struct tcp_seg *s)
{
    uint32_t wnd = seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;
    if (s->seglen == 0) {
        if (wnd == 0) return s->seq == t->rcv_nxt;
        return seq_between(s->seq, t->rcv_nxt, t->rcv_nxt + wnd);
    }
    if (wnd == 0) /* a bare FIN takes no buffer: EOF at once (as Linux) */
        return s->len == 0 && (s->flags & (TH_FIN | TH_SYN)) == TH_FIN && s->seq == t->rcv_nxt;
    return seq_between(s->seq, t->rcv_nxt, t->rcv_nxt + wnd) ||
           seq_between(s->seq + s->seglen - 1, t->rcv_nxt, t->rcv_nxt + wnd);
}

/* RFC 5681 §3.2 steps 2-3 on the third duplicate ACK, with NewReno's recovery point
 * (RFC 6582 §3.2 step 2). */
static void fast_retransmit(struct stack *st, struct tcb *t)
{
    tcp_ts_eifel_arm(st, t, TCP_EIFEL_FR); /* RFC 3522: its ACK tells if it was needed */
    tcp_cc_enter_recovery(st, t);          /* ssthresh and cwnd = ssthresh, by the algorithm */
    t->cwnd += 3u * t->snd_mss;            /* the three segments that left the network */
    t->recover = t->snd_max;
    t->in_recovery = true;
    t->partial_acked = false;
    t->rtt_active = false;
    st->stats.tcp_fast_retransmits++;
    t->retransmits++;
    uint32_t save = t->snd_nxt;
    tcp_retransmit_first(st, t);
    t->snd_nxt = seq_max(save, t->snd_nxt);
    tcp_rtx_restart(st, t);
}

/* RFC 6582 §3.2 steps 3 and 5: an ACK of new data while in fast recovery (SND.UNA
 * already moved to it). Returns whether the retransmission timer is to be restarted. */
static bool recovery_ack(struct stack *st, struct tcb *t, uint32_t acked)
{
    if (seq_geq(t->snd_una, t->recover)) {
        /* full ACK: the algorithm sets the window to leave with */
        tcp_cc_exit_recovery(st, t);
        t->in_recovery = false;
        st->stats.tcp_recoveries++;
        return true;
    }
    /* partial ACK: the first unacknowledged segment is lost too; send it now (at the
     * inflated window), then deflate by what this ACK took out of the network and add
     * back one SMSS for the retransmission when at least one SMSS was acknowledged */
    uint32_t save = t->snd_nxt;
    tcp_retransmit_first(st, t);
    t->snd_nxt = seq_max(save, t->snd_nxt);
    t->retransmits++;
    st->stats.tcp_fast_retransmits++;
    st->stats.tcp_partial_acks++;
    t->cwnd = t->cwnd > acked ? t->cwnd - acked : 0;
    if (acked >= t->snd_mss) t->cwnd += t->snd_mss;
    /* the "Impatient" variant: only the first partial ACK restarts the timer, so several
     * losses cost at most one RTO instead of one RTT each beyond it */
    bool first = !t->partial_acked;
    t->partial_acked = true;
    return first;
}

/* Fifth step for the states past SYN-RECEIVED. Returns false when t is gone. */
static bool process_ack(struct stack *st, struct tcb *t, const struct tcp_seg *s, bool *fin_acked)
{
    if (t->persist && t->snd_una == t->snd_max && s->ack == t->snd_max + 1 &&
        ring_used(&t->sndq) > t->snd_max - t->snd_base) {
        t->snd_max = t->snd_nxt = s->ack; /* the peer took our window probe's byte */
    }
    if (seq_gt(s->ack, t->snd_max)) {
        st->stats.tcp_drop_ack_unsent++;
        tcp_oow_ack(st, t, s->len > 0); /* acks something not yet sent */
        return false;
    }
    /* RFC 5961 §5 (RFC 9293 §3.10.7.4): an ACK below SND.UNA - MAX.SND.WND is not from
     * this connection's peer (blind data injection): discard, send a (challenge) ACK */
    if (seq_lt(s->ack, t->snd_una - t->max_snd_wnd)) {
        st->stats.tcp_drop_old_ack++;
        tcp_challenge_ack(st, t);
        return false;
    }
    uint32_t data_end = t->snd_base + ring_used(&t->sndq);
    uint32_t una0 = t->snd_una; /* for F-RTO */
    uint32_t wnd = (uint32_t)s->wnd << t->snd_wscale;
    /* RFC 5681 §2: a duplicate ACK leaves the window as it was; a zero window says the
     * receiver is full, not that a segment was lost (the persist timer's case) */
    bool dup = s->ack == t->snd_una && s->len == 0 && !(s->flags & (TH_SYN | TH_FIN)) &&
               t->snd_una != t->snd_max && wnd == t->snd_wnd && wnd != 0;
    /* window update first (the SND.WL1/SND.WL2 rule, for acks within [SND.UNA, SND.MAX]):
     * what this ACK makes us retransmit stays within the window it offers */
    if (seq_geq(s->ack, t->snd_una) &&
        (seq_lt(t->snd_wl1, s->seq) || (t->snd_wl1 == s->seq && seq_leq(t->snd_wl2, s->ack)))) {
        t->snd_wnd = wnd;
        t->snd_wl1 = s->seq;
        t->snd_wl2 = s->ack;
        if (wnd > t->max_snd_wnd) t->max_snd_wnd = wnd;
    }
    if (seq_gt(s->ack, t->snd_una)) {
        uint32_t acked = s->ack - t->snd_una;
        if (seq_gt(s->ack, t->snd_base)) {
            uint32_t n = s->ack - t->snd_base;
            if (n > ring_used(&t->sndq)) n = ring_used(&t->sndq);
            ring_consume(&t->sndq, n);
            t->snd_base += n;
        }
        if (t->fin_sent && s->ack == data_end + 1) *fin_acked = true;
        uint32_t rtt = 0, flight = t->snd_max - t->snd_una;
        bool undone = false; /* Eifel: a spurious retransmission undone, cwnd restored */
        if (t->ts_ok) {
            rtt = tcp_ts_ack(st, t, s, flight, &undone); /* RFC 7323 §4, RFC 3522 */
            t->rtt_active = false;
        } else if (t->rtt_active && seq_gt(s->ack, t->rtt_seq)) {
            rtt = (uint32_t)(st->now - t->rtt_start);
            tcp_rtt_sample(st, t, rtt);
            t->rtt_active = false;
            if (rtt == 0) rtt = 1; /* below the clock's granularity */
        }
        t->snd_una = s->ack;
        if (seq_lt(t->snd_nxt, t->snd_una)) t->snd_nxt = t->snd_una;
        if (!t->sack_ok) tcp_rate_ack(st, t, acked); /* with SACK: tcp_recovery_ack */
        t->retries = 0;
        t->ut_start = st->now; /* progress: the user timeout starts over (RFC 5482) */
        bool restart = true;
        if (t->sack_ok) {
            /* SACK: recovery and PRR in tcp_recovery_ack below */
            if (!t->in_recovery && !undone) tcp_cc_ack(st, t, acked, rtt, flight);
            t->rack.tlp_rearm = true;
        } else if (t->in_recovery) {
            restart = recovery_ack(st, t, acked);
        } else if (!undone) {
            tcp_cc_ack(st, t, acked, rtt, flight); /* slow start / congestion avoidance */
        }
        if (t->cwnd > TCP_CC_CWND_MAX) t->cwnd = TCP_CC_CWND_MAX;
        /* outside recovery, recover trails the cumulative ACK: three duplicates of an ACK
         * beyond the last recovery point may start a new one, and recover stays within
         * 2^31 of SND.UNA however long the connection lives */
        if (!t->in_recovery && seq_gt(t->snd_una, t->recover)) t->recover = t->snd_una - 1;
        t->dupacks = 0;
        if (t->snd_una == t->snd_max)
            tcp_rtx_stop(st, t); /* everything acknowledged */
        else if (!t->persist && restart)
            tcp_rtx_restart(st, t); /* new data acknowledged: restart (RFC 6298 §5.3) */
        if (t->want_writable && ring_space_now(&t->sndq) > 0 && !t->fin_queued) {
            t->want_writable = false;
            tcp_post(st, t, SEV_WRITABLE);
        }
    } else if (dup) {
        st->stats.tcp_dup_acks_rx++;
        t->dupacks++;
        if (t->sack_ok) {
            /* RACK (tcp_recovery_ack) decides from the SACK blocks and send times */
        } else if (t->in_recovery) {
            /* RFC 6582 §3.2 step 4: each one says a segment has left the network */
            if (t->cwnd < TCP_CC_CWND_MAX) t->cwnd += t->snd_mss;
        } else if (t->dupacks == 3 && !t->persist) {
            /* §3.2 step 2: only when the cumulative ACK is beyond the last recovery
             * point; below it, these are duplicates of the window that was already
             * repaired (or of the one an RTO is resending) */
            if (seq_gt(s->ack, t->recover))
                fast_retransmit(st, t);
            else
                st->stats.tcp_fast_retransmit_held++;
        }
    }
    if (t->sack_ok) tcp_recovery_ack(st, t, s);
    if (t->frto) tcp_frto_ack(st, t, una0); /* RFC 5682 steps 2 and 3 */
    if (t->persist) {
        t->retries = 0; /* the peer answers our probes: keep probing */
        t->probe_start = 0;
        if (t->snd_wnd > 0) {
            t->persist = false;
            t->persist_shift = 0;
            t->ut_start = st->now;
            t->snd_nxt = t->snd_una; /* a probe byte not taken is sent again in order */
            if (t->snd_una != t->snd_max)
                tcp_rtx_restart(st, t); /* stops PERSIST */
            else
                tcp_timer_clear(st, t, TT_PERSIST);
        }
    } else {
        tcp_persist_check(st, t); /* the window shut with data in flight or queued */
    }
    return true;
}

/* Seventh step: segment text. Takes the (acceptable) segment's data into the stream. */
static void process_text(struct stack *st, struct tcb *t, const struct tcp_seg *s, bool *fin)
{
    uint32_t seq = s->seq + ((s->flags & TH_SYN) ? 1 : 0);
    const uint8_t *data = s->data;
    uint32_t len = s->len;
    if (seq_lt(seq, t->rcv_nxt)) { /* trim what we already have */
        uint32_t skip = t->rcv_nxt - seq;
        if (skip >= len) {
            if (len) {
                st->stats.tcp_dup_segments++;
                t->dup_segs_rcvd++;
            }
            tcp_sack_note_dup(st, t, seq, seq + len);
            t->ack_now = true;
            if (skip > len) *fin = false; /* an old FIN */
            return;
        }
        if (t->sack_ok) {
            tcp_sack_note_dup(st, t, seq, t->rcv_nxt); /* the part we had: say so at once */
            t->ack_now = true;
        }
        data += skip;
        len -= skip;
        seq = t->rcv_nxt;
    }
    /* trim what lies beyond the window: never stored, never acked */
    uint32_t right = seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv : t->rcv_nxt;
    uint32_t space = ring_space(&t->rcvq);
    if (seq_gt(right, t->rcv_nxt + space)) right = t->rcv_nxt + space;
    if (seq_gt(seq + len, right)) {
        len = seq_gt(right, seq) ? right - seq : 0;
        *fin = false;
        t->ack_now = true;
    }
    if (len == 0) return;
    if (seq == t->rcv_nxt) {
        if (!ring_reserve_at(&t->rcvq, 0, len, true)) {
            /* the memory bound: as if lost, not acknowledged; the peer sends it again */
            st->stats.mem_rcv_dropped++;
            *fin = false;
            return;
        }
        bool had_ooo = t->n_ooo > 0;
        ring_write_at(&t->rcvq, 0, data, len);
        ring_commit(&t->rcvq, len);
        t->rcv_nxt += len;
        bool ofin = false;
        tcp_reass_splice(t, &ofin);
        if (ofin) *fin = true;
        tcp_post(st, t, SEV_READABLE);
        if (had_ooo || *fin) {
            t->ack_now = true; /* a segment that fills a gap: ACK at once */
        } else if (++t->segs_unacked >= 2 || len > t->rcv_mss) {
            t->ack_now = true; /* every second segment (a super-packet is several) */
        } else {
            tcp_delack_arm(st, t);
        }
    } else {
        tcp_reass_store(st, t, seq, data, len, *fin);
        *fin = false;
        t->ack_now = true; /* out of order: an immediate duplicate ACK */
    }
}

/* Eighth step: our peer's FIN (in order). Returns false when t is gone. */
static bool process_fin(struct stack *st, struct tcb *t, bool our_fin_acked)
{
    t->rcv_nxt++;
    t->fin_rcvd = true;
    tcp_post(st, t, SEV_READABLE | SEV_PEER_FIN);
    switch (t->state) {
    case TCP_SYN_RCVD:
    case TCP_ESTABLISHED:
        tcp_set_state(st, t, TCP_CLOSE_WAIT);
        break;
    case TCP_FIN_WAIT_1:
        if (!our_fin_acked) {
            tcp_set_state(st, t, TCP_CLOSING); /* simultaneous close */
            break;
        }
        /* FIN+ACK: straight to TIME_WAIT */
        /* fall through */
    case TCP_FIN_WAIT_2:
        tcp_send_ack(st, t);
        tcp_enter_time_wait(st, t);
        return false; /* t may have become a compact TIME_WAIT entry */
    case TCP_TIME_WAIT:
        tcp_2msl_start(st, t);
        break;
    default:
        break;
    }
    t->ack_now = true; /* every FIN is acknowledged */
    return true;
}

static void established_from_syn_rcvd(struct stack *st, struct tcb *t, const struct tcp_seg *s)
{
    if (t->rtt_active && seq_gt(s->ack, t->rtt_seq))
        tcp_rtt_sample(st, t, (uint32_t)(st->now - t->rtt_start));
    t->rtt_active = false;
    handshake_done_rto(st, t);
    t->retries = 0;
    t->snd_una = s->ack;
    t->snd_wnd = (uint32_t)s->wnd << t->snd_wscale;
    if (t->snd_wnd > t->max_snd_wnd) t->max_snd_wnd = t->snd_wnd;
    t->snd_wl1 = s->seq;
    t->snd_wl2 = s->ack;
    if (t->snd_una == t->snd_max) tcp_rtx_stop(st, t);
    tcp_set_state(st, t, TCP_ESTABLISHED);
    if (t->parent) {
        struct tcb *l = t->parent;
        if (t->plist) tcb_list_remove(t->plist, t);
        tcb_list_push(&l->acceptq, t);
        tcp_post(st, l, SEV_ACCEPT);
    } else {
        tcp_post(st, t, SEV_CONNECTED | SEV_WRITABLE);
    }
    if (t->fin_queued) tcp_set_state(st, t, TCP_FIN_WAIT_1);
}

static bool time_wait_reuse(struct stack *st, struct tcb *t, const struct tcp_seg *s);

static void input_sync(struct stack *st, struct tcb *t, const struct tcp_seg *s)
{
    uint8_t f = s->flags;
    /* our SYN-ACK was lost: the peer's SYN again gets the SYN-ACK again */
    if (t->state == TCP_SYN_RCVD && (f & TH_SYN) && !(f & (TH_ACK | TH_RST)) && s->seq == t->irs) {
        tcp_send_syn(st, t);
        return;
    }
    /* simultaneous open: the peer's SYN,ACK reaches us in SYN_RCVD (RFC 9293 figure 8) */
    if (t->state == TCP_SYN_RCVD && (f & TH_SYN) && (f & TH_ACK) && !(f & TH_RST) &&
        s->seq == t->irs && seq_gt(s->ack, t->snd_una) && seq_leq(s->ack, t->snd_max)) {
        established_from_syn_rcvd(st, t, s);
        t->ack_now = true;
        tcp_output(st, t);
        return;
    }
    /* RFC 1122 4.2.2.13: a new SYN beyond the old stream reopens a TIME_WAIT 4-tuple; with
     * timestamps, one with a later TSval (RFC 6191) */
    if (t->state == TCP_TIME_WAIT && (f & TH_SYN) && !(f & (TH_ACK | TH_RST)) &&
        tcp_ts_tw_syn_ok(st, t->ts_ok, t->ts_recent, t->rcv_nxt, s) && time_wait_reuse(st, t, s))
        return;

    /* RFC 7323: a missing TSopt, PAWS (§5.3 R1) */
    if (!tcp_ts_check(st, t, s)) return;

    /* first: check sequence number. With a zero receive window "special allowance should
     * be made to accept valid ACKs, URGs, and RSTs": a segment at RCV.NXT (the peer's
     * window probe) has its RST and ACK processed, its text and FIN not. */
    bool acceptable = seq_acceptable(t, s);
    bool ctl_only = !acceptable && (f & (TH_ACK | TH_RST)) && !(f & TH_SYN) &&
                    s->seq == t->rcv_nxt && !seq_gt(t->rcv_adv, t->rcv_nxt);
    if (acceptable || ctl_only) {
        t->last_rcv = st->now; /* the peer is alive (keepalive; not its own probes) */
        t->ka_probes = 0;
    }
    if (ctl_only) {
        st->stats.tcp_drop_unacceptable++;
        t->ack_now = true;
    } else if (!acceptable) {
        if (f & TH_RST) {
            st->stats.tcp_rst_ignored++; /* out of window: silently */
            return;
        }
        st->stats.tcp_drop_unacceptable++;
        if (s->len && seq_leq(s->seq + s->seglen, t->rcv_nxt)) {
            st->stats.tcp_dup_segments++; /* only data we already have */
            t->dup_segs_rcvd++;
            if (seq_geq(s->seq, t->rcv_nxt - t->rcvq.cap)) /* RFC 2883: say so */
                tcp_sack_note_dup(st, t, s->seq, s->seq + s->len);
        }
        if (t->state == TCP_TIME_WAIT && (f & TH_FIN)) {
            /* a retransmitted FIN: re-ACK and restart 2*MSL */
            tcp_2msl_start(st, t);
        }
        if (f & TH_SYN)
            tcp_challenge_ack(st, t);
        else
            tcp_oow_ack(st, t, s->len > 0);
        return;
    }
    tcp_ts_update_recent(st, t, s); /* RFC 7323 §5.3 R3 */

    /* second: RST (RFC 5961 §3.2) */
    if (f & TH_RST) {
        st->stats.tcp_rst_received++;
        if (s->seq != t->rcv_nxt) {
            tcp_challenge_ack(st, t);
            return;
        }
        switch (t->state) {
        case TCP_SYN_RCVD:
            if (t->passive) {
                tcp_closed(st, t); /* back to LISTEN: the child goes away */
                return;
            }
            st->stats.tcp_resets++;
            tcp_abort_conn(st, t, ECONNREFUSED);
            return;
        case TCP_ESTABLISHED:
        case TCP_FIN_WAIT_1:
        case TCP_FIN_WAIT_2:
        case TCP_CLOSE_WAIT:
            st->stats.tcp_resets++;
            tcp_abort_conn(st, t, ECONNRESET);
            return;
        case TCP_CLOSING:
        case TCP_LAST_ACK:
            st->stats.tcp_resets++;
            tcp_closed(st, t);
            return;
        case TCP_TIME_WAIT:
        default:
            st->stats.tcp_rst_ignored++; /* RFC 1337: no TIME_WAIT assassination */
            return;
        }
    }

    /* fourth: SYN on a synchronized connection (RFC 5961 §4) */
    if (f & TH_SYN) {
        if (t->state == TCP_SYN_RCVD && t->passive) {
            tcp_closed(st, t); /* §3.10.7.4: a passive open returns to LISTEN */
            return;
        }
        tcp_challenge_ack(st, t);
        return;
    }

    /* fifth: ACK */
    if (!(f & TH_ACK)) return;
    if (t->state == TCP_SYN_RCVD) {
        if (!seq_gt(s->ack, t->snd_una) || seq_gt(s->ack, t->snd_max)) {
            reply_rst(st, s);
            return;
        }
        established_from_syn_rcvd(st, t, s);
    }
    bool fin_acked = false;
    if (!process_ack(st, t, s, &fin_acked)) return;
    if (t->state == TCP_CLOSING) {
        if (fin_acked) {
            tcp_enter_time_wait(st, t);
            return;
        }
    } else if (t->state == TCP_LAST_ACK) {
        if (fin_acked) {
            tcp_closed(st, t);
            return;
        }
    } else if (t->state == TCP_FIN_WAIT_1 && !fin_acked && t->fin_sent &&
               seq_gt(t->snd_una, t->snd_base + ring_used(&t->sndq))) {
        fin_acked = true; /* acked by an earlier segment */
    }

    /* seventh: segment text */
    bool fin = (f & TH_FIN) != 0 && !ctl_only;
    if (ctl_only) {
        /* the text does not fit a closed window: answered by the ACK (ack_now) */
    } else if (s->len > 0) {
        switch (t->state) {
        case TCP_ESTABLISHED:
        case TCP_FIN_WAIT_1:
        case TCP_FIN_WAIT_2:
            if (t->handle <= 0 && !t->echo && !t->parent) {
                /* the user closed: nobody will read this (as Linux: reset) */
                tcp_send_rst(st, t);
                st->stats.tcp_resets++;
                tcp_closed(st, t);
                return;
            }
            process_text(st, t, s, &fin);
            break;
        default:
            fin = fin && s->seq + s->len == t->rcv_nxt; /* text after a FIN: ignored */
            break;
        }
    } else if (fin && s->seq != t->rcv_nxt) {
        /* a lone FIN beyond RCV.NXT waits in the store for the data before it */
        if (seq_gt(s->seq, t->rcv_nxt) && t->state != TCP_CLOSE_WAIT && t->state != TCP_CLOSING &&
            t->state != TCP_LAST_ACK && t->state != TCP_TIME_WAIT)
            tcp_reass_store(st, t, s->seq, NULL, 0, true);
        t->ack_now = true;
        fin = false;
    }

    /* eighth: FIN */
    if (fin) {
        if (t->state == TCP_CLOSE_WAIT || t->state == TCP_CLOSING || t->state == TCP_LAST_ACK) {
            t->ack_now = true; /* a retransmitted FIN */
        } else if (t->state == TCP_TIME_WAIT) {
            tcp_2msl_start(st, t);
            t->ack_now = true;
        } else if (!process_fin(st, t, fin_acked)) {
            return; /* TIME_WAIT: t was converted */
        }
    }
    if (t->state == TCP_FIN_WAIT_1 && fin_acked) {
        tcp_set_state(st, t, TCP_FIN_WAIT_2);
        if (t->handle <= 0 && !t->echo) {
            /* orphaned: reclaimed if the peer never closes */
            tcp_2msl_start(st, t);
        }
    }
    tcp_output(st, t);
}

/* ---- TIME_WAIT ---- */

static bool time_wait_reuse(struct stack *st, struct tcb *t, const struct tcp_seg *s)
{
    struct tcb *l = tcp_listener_for(st, s->dst, s->dport);
    if (!l) return false;
    uint32_t old_snd = t->snd_nxt;
    st->stats.tcp_time_wait_reused++;
    tcp_closed(st, t);
    input_listen(st, l, s, true, old_snd);
    return true;
}

static void input_time_wait(struct stack *st, struct tcp_tw *w, const struct tcp_seg *s)
{
    uint8_t f = s->flags;
    if (f & TH_RST) {
        st->stats.tcp_rst_received++;
        st->stats.tcp_rst_ignored++; /* RFC 1337 */
        return;
    }
    if ((f & TH_SYN) && !(f & TH_ACK) &&
        tcp_ts_tw_syn_ok(st, w->ts_ok, w->ts_recent, w->rcv_nxt, s)) {
        struct tcb *l = tcp_listener_for(st, s->dst, s->dport);
        if (l) {
            uint32_t old_snd = w->snd_nxt;
            st->stats.tcp_time_wait_reused++;
            TRACE(st, "[TCP ] state TIME_WAIT -> CLOSED");
            tw_free(st, w);
            input_listen(st, l, s, true, old_snd);
            return;
        }
    }
    /* RFC 7323 §5.3 R1: an old duplicate is answered with an ACK, and neither restarts
     * 2*MSL nor moves TS.Recent */
    bool fresh = tcp_ts_tw_paws(st, w->ts_ok, w->ts_recent, s);
    if (fresh && s->seglen == 0 && s->seq == w->rcv_nxt) return; /* an acceptable bare ACK */
    if (fresh && (f & TH_FIN)) tw_restart(st, w); /* the peer's FIN again: our ACK was lost */
    if (s->len == 0 && !tcp_oow_allowed(st, &w->oow_next)) {
        if (f & TH_SYN)
            st->stats.tcp_challenge_ratelimited++;
        else
            st->stats.tcp_oow_ack_ratelimited++;
        return;
    }
    if (f & TH_SYN) st->stats.tcp_challenge_acks++;
    if (w->ts_ok) { /* RFC 7323 §3.2: still every segment */
        if (fresh && s->opt.ts && seq_geq(s->opt.tsval, w->ts_recent) &&
            seq_leq(s->seq, w->rcv_nxt)) /* §4.3: Last.ACK.sent is RCV.NXT here */
            w->ts_recent = s->opt.tsval;
        uint8_t opt[TCPOLEN_TS_ALIGNED];
        size_t n = tcp_opts_build_ts(opt, tcp_ts_val(st->now, w->ts_offset), w->ts_recent);
        tcp_emit_opts(st, w->laddr, w->raddr, w->lport, w->rport, w->snd_nxt, w->rcv_nxt, TH_ACK,
                      w->wnd, opt, n);
    } else {
        tcp_emit_bare(st, w->laddr, w->raddr, w->lport, w->rport, w->snd_nxt, w->rcv_nxt, TH_ACK,
                      w->wnd);
    }
}

/* ---- entry point ---- */

void tcp_input(struct stack *st, const struct ip_view *ip)
{
    bool ok = st->rx_csum_ok;
    st->rx_csum_ok = ip->l4_csum_ok; /* not for a datagram reassembled from fragments */
    tcp_input_l4(st, ipa_from_v4(ip->src), ipa_from_v4(ip->dst), ip->payload, ip->payload_len);
    st->rx_csum_ok = ok;
}

void tcp_input_l4(struct stack *st, struct ip_addr src, struct ip_addr dst, const uint8_t *p,
                  size_t len)
{
    struct tcp_seg s;
    st->stats.tcp_rx_segments++;
    if (!tcp_parse(st, src, dst, p, len, &s)) return;
    tcp_enter(st);
    struct tcb *t = tcb_lookup(st, s.dst, s.dport, s.src, s.sport);
    struct tcp_req *r = t ? NULL : tcp_req_lookup(st, s.dst, s.dport, s.src, s.sport);
    if (t) {
        trace_recv(st, &s, t->state);
        if (t->state == TCP_SYN_SENT)
            input_syn_sent(st, t, &s);
        else
            input_sync(st, t, &s);
    } else if (r) {
        trace_recv(st, &s, TCP_SYN_RCVD);
        t = tcp_req_input(st, r, &s);
        if (t) input_sync(st, t, &s); /* the handshake completes on the new TCB */
    } else {
        struct tcp_tw *w = tw_lookup(st, s.dst, s.dport, s.src, s.sport);
        if (w) {
            trace_recv(st, &s, TCP_TIME_WAIT);
            input_time_wait(st, w, &s);
        } else {
            struct tcb *l = tcp_listener_for(st, s.dst, s.dport);
            trace_recv(st, &s, l ? TCP_LISTEN : TCP_CLOSED);
            if (l)
                input_listen(st, l, &s, false, 0);
            else
                reply_no_conn(st, &s);
        }
    }
    tcp_leave(st);
}
