/* RFC 7323 timestamps: the clock, PAWS, TS.Recent, RTT measurement, and the Eifel
 * detection (RFC 3522) and response (RFC 4015) built on them. See tcp_ts.h for the map
 * of RFC sections to functions. */
#include <string.h>

#include "tcp.h"

uint32_t tcp_ts_offset(const uint64_t key[2], struct ip_addr laddr, uint16_t lport,
                       struct ip_addr raddr, uint16_t rport)
{
    /* "TS" keeps these inputs apart from the ISN's and the cookie's (same key) */
    uint8_t m[38] = {'T', 'S'};
    size_t n = ipa_tuple_bytes(m + 2, laddr, lport, raddr, rport);
    return (uint32_t)siphash24(key, m, 2 + n);
}

static uint32_t ts_now(const struct stack *st, const struct tcb *t)
{
    return tcp_ts_val(st->now, t->ts_offset);
}

void tcp_ts_negotiate(struct stack *st, struct tcb *t, const struct tcp_seg *s, bool offered)
{
    t->ts_ok = offered && s->opt.ts;
    t->last_ack_sent = s->seq + 1;
    if (!t->ts_ok) return;
    t->ts_recent = s->opt.tsval;
    t->ts_recent_at = st->now;
}

size_t tcp_ts_build(struct stack *st, const struct tcb *t, uint8_t *opt)
{
    if (!t->ts_ok) return 0;
    return tcp_opts_build_ts(opt, ts_now(st, t), t->ts_recent);
}

/* §3.2: with timestamps agreed, a non-RST segment without a TSopt is dropped, and a TSopt
 * on a connection that did not agree to them is ignored. §5.3 R1 (PAWS): a TSval older
 * than TS.Recent marks an old duplicate, unless TS.Recent itself is older than 24 days
 * (§5.5: the peer's clock may have wrapped since); an RST is never judged by its TSval. */
bool tcp_ts_check(struct stack *st, struct tcb *t, const struct tcp_seg *s)
{
    if (!t->ts_ok) {
        if (s->opt.ts) st->stats.tcp_ts_opt_bad++;
        return true;
    }
    if (s->flags & TH_RST) return true;
    if (!s->opt.ts) {
        st->stats.tcp_ts_missing++;
        TRACE(st, "[TCP ] drop: no timestamp option");
        return false;
    }
    if (!seq_lt(s->opt.tsval, t->ts_recent)) return true;
    if (st->now - t->ts_recent_at > TCP_TS_PAWS_IDLE_MS) {
        t->ts_recent = s->opt.tsval; /* invalid TS.Recent: take the new one */
        t->ts_recent_at = st->now;
        return true;
    }
    st->stats.tcp_paws_drops++;
    TRACE(st, "[TCP ] drop: PAWS tsval=%u ts_recent=%u", s->opt.tsval, t->ts_recent);
    tcp_oow_ack(st, t, s->len > 0); /* an ACK, as for any unacceptable segment */
    return false;
}

bool tcp_ts_tw_syn_ok(const struct stack *st, bool ts_ok, uint32_t ts_recent, uint32_t rcv_nxt,
                      const struct tcp_seg *s)
{
    bool beyond = seq_gt(s->seq, rcv_nxt);
    /* RFC 6191 §2: when both incarnations use timestamps, a later TSval tells a new SYN
     * from an old duplicate, whatever its sequence number; an equal one needs the
     * sequence number beyond the old stream too */
    if (ts_ok && st->cfg.timestamps && s->opt.ts)
        return seq_gt(s->opt.tsval, ts_recent) || (s->opt.tsval == ts_recent && beyond);
    return beyond; /* RFC 1122 4.2.2.13 */
}

bool tcp_ts_tw_paws(struct stack *st, bool ts_ok, uint32_t ts_recent, const struct tcp_seg *s)
{
    if (!ts_ok || (s->flags & TH_RST) || !s->opt.ts || !seq_lt(s->opt.tsval, ts_recent))
        return true;
    st->stats.tcp_paws_drops++;
    TRACE(st, "[TCP ] drop: PAWS in TIME_WAIT tsval=%u ts_recent=%u", s->opt.tsval, ts_recent);
    return false;
}

/* §4.3: TS.Recent follows the segments that move the left edge of the window, so TSecr
 * echoes the earliest segment an ACK covers (a delayed ACK, or the segment filling a
 * hole, never a later out-of-order one). */
void tcp_ts_update_recent(struct stack *st, struct tcb *t, const struct tcp_seg *s)
{
    if (!t->ts_ok || !s->opt.ts || (s->flags & TH_RST)) return;
    if (seq_geq(s->opt.tsval, t->ts_recent) && seq_leq(s->seq, t->last_ack_sent)) {
        t->ts_recent = s->opt.tsval;
        t->ts_recent_at = st->now;
    }
}

static void set_rto(struct stack *st, struct tcb *t)
{
    uint32_t k = 4 * t->rttvar;
    uint32_t rto = t->srtt + (k > 1 ? k : 1); /* G = 1 ms */
    if (rto < st->cfg.rto_min_ms) rto = st->cfg.rto_min_ms;
    if (rto > st->cfg.rto_max_ms) rto = st->cfg.rto_max_ms;
    t->rto = rto;
}

/* RFC 7323 appendix G: with a sample on every ACK, the gains of RFC 6298 are divided by
 * the samples expected per round trip, ceil(FlightSize / (2 * SMSS)) (an ACK every second
 * segment), so SRTT and RTTVAR keep about the history of one sample per RTT; otherwise a
 * window of equal samples would shrink RTTVAR, and the RTO, to nothing. One expected
 * sample is RFC 6298 itself (tcp_rtt_sample). SRTT and RTTVAR are kept in ms; their
 * fractions in 1/256 ms, so small gains still move them. */
static void rtt_sample_weighted(struct stack *st, struct tcb *t, uint32_t r, uint32_t flight)
{
    uint32_t two = 2u * (t->snd_mss ? t->snd_mss : TCP_DEFAULT_MSS);
    uint32_t n = (flight + two - 1) / two;
    if (n <= 1 || !t->rtt_sampled) {
        tcp_rtt_sample(st, t, r);
        t->srtt_frac = t->rttvar_frac = 0;
        return;
    }
    int64_t srtt = ((int64_t)t->srtt << 8) | t->srtt_frac;
    int64_t var = ((int64_t)t->rttvar << 8) | t->rttvar_frac;
    int64_t r8 = (int64_t)r << 8;
    int64_t d = srtt > r8 ? srtt - r8 : r8 - srtt;
    var += (d - var) / (4 * (int64_t)n); /* RTTVAR first, with the old SRTT */
    srtt += (r8 - srtt) / (8 * (int64_t)n);
    if (var < 0) var = 0;
    if (srtt < 0) srtt = 0;
    t->srtt = (uint32_t)(srtt >> 8);
    t->srtt_frac = (uint8_t)(srtt & 0xff);
    t->rttvar = (uint32_t)(var >> 8);
    t->rttvar_frac = (uint8_t)(var & 0xff);
    set_rto(st, t);
}

/* RFC 4015 §3: after a spurious timeout the backoff goes (the timeout said nothing about
 * the path) and the RTO is SRTT + 4 * RTTVAR again. RFC 4015 would also raise SRTT to the
 * undo ACK's sample (now - TSecr), taken as the delay that caused the timeout. Not here:
 * when the ACKs of the original were lost rather than late, the ACK the retransmission
 * draws still echoes the original's TSval (the duplicate does not move TS.Recent, §5.3
 * R2-R3), and that sample includes the whole timeout: on a lossy path each such event set
 * SRTT to about RTO + RTT and the RTO to three times that, growing without bound (seen
 * in test_loss_matrix at 10 % loss). A real delay spike still reaches SRTT through the
 * ACKs of the segments sent during it. */
static void eifel_adapt_rto(struct stack *st, struct tcb *t)
{
    if (t->rtt_sampled)
        set_rto(st, t);
    else if (t->rto > st->cfg.rto_initial_ms)
        t->rto = st->cfg.rto_initial_ms;
}

/* RFC 3522: the first ACK after a retransmission that echoes a TSval older than the
 * retransmission's acknowledges the original: the retransmission was not needed. */
static bool eifel_detect(struct stack *st, struct tcb *t, const struct tcp_seg *s)
{
    enum tcp_eifel kind = (enum tcp_eifel)t->eifel;
    t->eifel = TCP_EIFEL_NONE;
    if (kind == TCP_EIFEL_NONE || !seq_lt(s->opt.tsecr, t->eifel_ts)) return false;
    if (!t->cc_state.saved) return false; /* already undone (D-SACK): nothing to restore */
    uint32_t prior_cwnd = t->cc_state.prior_cwnd;
    tcp_cc_undo(st, t);
    if (kind == TCP_EIFEL_FR && t->in_recovery) {
        /* the hole was reordering: no recovery to finish (with SACK, nothing lost) */
        if (t->sack_ok) tcp_recovery_undone(t);
        t->in_recovery = false;
        t->partial_acked = false;
    }
    if (kind == TCP_EIFEL_FR) {
        t->cwnd = prior_cwnd; /* without recovery's inflation */
        st->stats.tcp_spurious_frs_undone++;
        TRACE(st, "[TCP ] spurious fast retransmit (eifel) cwnd=%u", t->cwnd);
    } else {
        /* RFC 4015: the rest of the window was not lost either: new data next */
        if (seq_lt(t->snd_nxt, t->snd_max)) t->snd_nxt = t->snd_max;
        eifel_adapt_rto(st, t);
        st->stats.tcp_spurious_rtos_undone++;
        TRACE(st, "[TCP ] spurious timeout (eifel) cwnd=%u rto=%ums", t->cwnd, t->rto);
    }
    return true;
}

uint32_t tcp_ts_ack(struct stack *st, struct tcb *t, const struct tcp_seg *s, uint32_t flight,
                    bool *undone)
{
    *undone = false;
    uint32_t now = ts_now(st, t), r = 0;
    bool have = false;
    /* §4.2: TSecr is valid with ACK set; 0 is what a peer echoes before it has a value */
    if (s->opt.ts && s->opt.tsecr != 0) {
        if (seq_gt(s->opt.tsecr, now)) {
            st->stats.tcp_ts_ecr_future++; /* never ours: no sample, no Eifel */
            t->eifel = TCP_EIFEL_NONE;
            return 0;
        }
        r = now - s->opt.tsecr;
        have = r <= st->cfg.rto_max_ms; /* older than any timeout: not a round trip */
    }
    if (have && eifel_detect(st, t, s)) {
        *undone = true;
        return r ? r : 1;
    }
    t->eifel = TCP_EIFEL_NONE;
    bool after_rto = t->rto_ts_on && seq_lt(s->opt.tsecr, t->rto_ts);
    if (t->rto_ts_on && seq_geq(s->ack, t->rto_end)) t->rto_ts_on = false;
    if (!have) return 0;
    if (after_rto) {
        /* this ACK answers a transmission from before the last timeout: the ACKs that
         * were lost since are in its delay (up to the whole backoff), not the path's */
        st->stats.tcp_ts_rtt_skipped++;
        return 0;
    }
    rtt_sample_weighted(st, t, r, flight);
    return r ? r : 1; /* below the clock's granularity */
}

void tcp_ts_eifel_arm(struct stack *st, struct tcb *t, enum tcp_eifel kind)
{
    if (!t->ts_ok) return;
    t->eifel = (uint8_t)kind;
    t->eifel_ts = ts_now(st, t);
}

void tcp_ts_timeout(struct stack *st, struct tcb *t)
{
    if (!t->ts_ok) return;
    if (t->retries == 0) tcp_ts_eifel_arm(st, t, TCP_EIFEL_RTO);
    t->rto_ts = ts_now(st, t);
    t->rto_end = t->snd_max;
    t->rto_ts_on = true;
}
