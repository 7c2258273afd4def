/* The send side: segments are built directly in the stack's transmit buffer (header,
 * options, payload copied once from the send ring, checksum computed once), the send
 * path (RFC 9293 §3.8.6 sliding window, RFC 5681 congestion window), the receive window
 * advertisement with receiver SWS avoidance (RFC 1122 §4.2.3.3), RTT sampling (RFC 6298)
 * and RFC 5961 challenge ACKs. */
#include <stdio.h>
#include <string.h>

#include "bytes.h"
#include "checksum.h"
#include "tcp.h"

void tcp_flags_str(uint8_t flags, char *buf)
{
    /* order as in the trace examples: SYN,ACK  ACK,PSH  ACK,FIN  RST,ACK */
    static const struct {
        uint8_t bit;
        const char *name;
    } names[] = {{TH_SYN, "SYN"}, {TH_RST, "RST"}, {TH_ACK, "ACK"},
                 {TH_PSH, "PSH"}, {TH_FIN, "FIN"}, {TH_URG, "URG"}};
    char *p = buf;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (flags & names[i].bit) {
            if (p != buf) *p++ = ',';
            size_t n = strlen(names[i].name);
            memcpy(p, names[i].name, n);
            p += n;
        }
    if (p == buf) *p++ = '-';
    *p = 0;
}

/* Builds and sends one segment; the payload comes from ring r at offset off. */
static void emit(struct stack *st, struct ip_addr laddr, struct ip_addr raddr, uint16_t lport,
                 uint16_t rport, uint32_t seq, uint32_t ack, uint8_t flags, uint16_t wnd,
                 const uint8_t *opt, size_t optlen, const struct ring *r, uint32_t off,
                 uint32_t len)
{
    uint8_t *p = stack_tx_l4(st, raddr);
    size_t hl = TCP_HDR_LEN + optlen;
    put16(p, lport);
    put16(p + 2, rport);
    put32(p + 4, seq);
    put32(p + 8, ack);
    p[12] = (uint8_t)((hl / 4) << 4);
    p[13] = flags;
    put16(p + 14, wnd);
    put16(p + 16, 0);
    put16(p + 18, 0);
    if (optlen) memcpy(p + TCP_HDR_LEN, opt, optlen);
    if (len) ring_peek(r, off, p + hl, len);
    uint32_t sum = stack_pseudo_sum(laddr, raddr, IP_PROTO_TCP, (uint32_t)(hl + len));
    if (st->cfg.tx_offload)
        put16(p + 16, csum_fold(sum)); /* partial: the link sums the segment (tx_offload.c) */
    else
        put16(p + 16, csum_finish(csum_add(sum, p, hl + len)));
    if (STACK_TRACING(st)) {
        char fl[32];
        tcp_flags_str(flags, fl);
        stack_trace(st, "[TCP ] send %s seq=%u ack=%u win=%u len=%u", fl, seq, ack, wnd, len);
    }
    st->stats.tcp_tx_segments++;
    if (flags & TH_RST) st->stats.tcp_rst_sent++;
    stack_tx_ip(st, raddr, IP_PROTO_TCP, hl + len);
}

void tcp_emit_bare(struct stack *st, struct ip_addr laddr, struct ip_addr raddr, uint16_t lport,
                   uint16_t rport, uint32_t seq, uint32_t ack, uint8_t flags, uint16_t wnd)
{
    emit(st, laddr, raddr, lport, rport, seq, ack, flags, wnd, NULL, 0, NULL, 0, 0);
}

void tcp_emit_opts(struct stack *st, struct ip_addr laddr, struct ip_addr raddr, uint16_t lport,
                   uint16_t rport, uint32_t seq, uint32_t ack, uint8_t flags, uint16_t wnd,
                   const uint8_t *opt, size_t optlen)
{
    emit(st, laddr, raddr, lport, rport, seq, ack, flags, wnd, opt, optlen, NULL, 0, 0);
}

/* ---- receive window ---- */

uint32_t tcp_rcv_space(const struct stack *st, const struct tcb *t)
{
    (void)st;
    return ring_space_now(&t->rcvq); /* what can be stored now: memory pressure shrinks it */
}

uint16_t tcp_rcv_window(struct stack *st, struct tcb *t)
{
    uint32_t space = tcp_rcv_space(st, t);
    uint32_t maxwin = (uint32_t)65535 << t->rcv_wscale; /* 32-bit before any min() */
    if (space > maxwin) space = maxwin;
    if (seq_lt(t->rcv_adv, t->rcv_nxt)) t->rcv_adv = t->rcv_nxt;
    uint32_t cur = t->rcv_adv - t->rcv_nxt;
    if (space > cur) {
        /* RFC 1122 4.2.3.3: move the right edge only by min(BUF/2, MSS) or more */
        uint32_t thresh = t->rcvq.cap / 2;
        if (thresh > t->rcv_mss) thresh = t->rcv_mss;
        if (space - cur >= thresh) {
            uint32_t adv = (space >> t->rcv_wscale) << t->rcv_wscale;
            if (adv > cur) t->rcv_adv = t->rcv_nxt + adv;
        }
    }
    uint32_t w = (t->rcv_adv - t->rcv_nxt) >> t->rcv_wscale;
    return (uint16_t)(w > 65535 ? 65535 : w);
}

void tcp_rcv_consumed(struct stack *st, struct tcb *t, uint32_t n)
{
    if (t->fin_rcvd || n == 0) return;
    if (t->state != TCP_ESTABLISHED && t->state != TCP_FIN_WAIT_1 && t->state != TCP_FIN_WAIT_2)
        return;
    uint32_t space = tcp_rcv_space(st, t);
    uint32_t before = space > n ? space - n : 0; /* the free space before this read */
    uint32_t maxwin = (uint32_t)65535 << t->rcv_wscale;
    if (space > maxwin) space = maxwin;
    if (before > maxwin) before = maxwin;
    uint32_t cur = seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;
    uint32_t thresh = 2u * t->rcv_mss;
    if (thresh > t->rcvq.cap / 2) thresh = t->rcvq.cap / 2;
    /* A window update at once when this read is what opened the window enough. An
     * opening that was there before it (the SYN,ACK's window capped at 65535, space not
     * yet advertised) already rides on the next segment: the ACK of the data, pending
     * or sent, or the reply that is about to carry it. A separate segment for it would
     * only precede that reply. */
    bool opened_before = before > cur && before - cur >= thresh;
    if (space > cur && space - cur >= thresh && !opened_before) {
        t->ack_now = true; /* on queued data if the window allows, else a pure ACK */
        tcp_output(st, t);
    }
}

/* ---- segments of a connection ---- */

static void emit_tcb(struct stack *st, struct tcb *t, uint32_t seq, uint8_t flags, uint32_t off,
                     uint32_t len)
{
    uint8_t opt[TCP_MAX_OPT];
    size_t optlen = 0;
    uint16_t wnd;
    if (flags & TH_SYN) {
        struct tcp_syn_opts so = {.mss = t->rcv_mss, .ws = -1};
        if (t->state == TCP_SYN_SENT || t->ws_ok) so.ws = t->rcv_wscale;
        so.sack_perm = t->state == TCP_SYN_SENT ? st->cfg.sack : t->sack_ok;
        so.ts = t->state == TCP_SYN_SENT ? st->cfg.timestamps : t->ts_ok;
        so.tsval = tcp_ts_val(st->now, t->ts_offset);
        so.tsecr = t->state == TCP_SYN_SENT ? 0 : t->ts_recent;
        optlen = tcp_opts_build_syn(opt, &so);
        /* the window of a SYN is never scaled (RFC 7323 §2.2) */
        uint32_t space = tcp_rcv_space(st, t);
        wnd = (uint16_t)(space > 65535 ? 65535 : space);
        if (flags & TH_ACK) t->rcv_adv = t->rcv_nxt + wnd;
    } else {
        wnd = tcp_rcv_window(st, t);
        optlen = tcp_ts_build(st, t, opt); /* RFC 7323 §3.2: every segment, RST too */
        if ((flags & (TH_ACK | TH_RST)) == TH_ACK) {
            /* RFC 6691: options and data together stay within the MSS */
            size_t room = TCP_MAX_OPT - optlen;
            size_t left = t->snd_mss > len + optlen ? t->snd_mss - len - optlen : 0;
            if (len && left < room) room = left;
            optlen += tcp_sack_build(t, opt + optlen, room);
        }
    }
    uint32_t ack = (flags & TH_ACK) ? t->rcv_nxt : 0;
    if (len) tcp_rate_sent(st, t);
    emit(st, t->laddr, t->raddr, t->lport, t->rport, seq, ack, flags, wnd, opt, optlen, &t->sndq,
         off, len);
    if (flags & TH_ACK) {
        t->last_ack_sent = ack; /* RFC 7323 §4.3 */
        t->ack_now = false;
        t->segs_unacked = 0;
        tcp_timer_clear(st, t, TT_DELACK);
    }
}

/* The payload a segment of t may carry now: the MSS less the options it will carry
 * (RFC 6691), timestamps and SACK blocks included. */
uint32_t tcp_seg_room(const struct tcb *t)
{
    size_t ts = t->ts_ok ? TCPOLEN_TS_ALIGNED : 0;
    size_t o = ts + tcp_sack_optlen(t, TCP_MAX_OPT - ts);
    return t->snd_mss > o + 64 ? t->snd_mss - (uint32_t)o : 64;
}

void tcp_send_syn(struct stack *st, struct tcb *t)
{
    uint8_t flags = t->state == TCP_SYN_SENT ? TH_SYN : TH_SYN | TH_ACK;
    emit_tcb(st, t, t->iss, flags, 0, 0);
    if (seq_lt(t->snd_nxt, t->iss + 1)) t->snd_nxt = t->iss + 1;
    if (seq_lt(t->snd_max, t->snd_nxt)) t->snd_max = t->snd_nxt;
}

/* A segment without data carries SND.MAX rather than SND.NXT: after a retransmission
 * timeout rewound SND.NXT, an ACK numbered below the peer's RCV.NXT would fail its
 * acceptability test and its acknowledgment would never be looked at (the BSD rule). */
void tcp_send_ack(struct stack *st, struct tcb *t)
{
    emit_tcb(st, t, t->snd_max, TH_ACK, 0, 0);
}

/* The RST must fall within the peer's window to be heeded: SND.MAX, or the right edge
 * when the peer shrank its window below it (a zero window: SND.UNA itself). */
void tcp_send_rst(struct stack *st, struct tcb *t)
{
    uint32_t seq = t->snd_max, edge = t->snd_una + t->snd_wnd;
    if (t->state != TCP_SYN_SENT && t->state != TCP_SYN_RCVD && seq_gt(seq, edge)) seq = edge;
    emit_tcb(st, t, seq, TH_RST | TH_ACK, 0, 0);
}

bool tcp_oow_allowed(struct stack *st, stack_time_t *next)
{
    if (st->now < *next) return false;
    *next = st->now + TCP_OOW_INTERVAL_MS;
    return true;
}

/* The global budget of a second is limit/2 + rand(limit): an off-path attacker who
 * spends his own connections' answers cannot tell from the count he gets whether some
 * other connection spent the rest (CVE-2016-5696). Per-connection limits do the work;
 * this only bounds the total. */
static bool challenge_global_allowed(struct stack *st)
{
    struct tcp_engine *ts = TS(st);
    uint32_t limit = st->cfg.challenge_ack_limit;
    if (limit == 0) return true;
    if (st->now - ts->chal_window >= 1000 || st->now < ts->chal_window || ts->chal_seq == 0) {
        ts->chal_window = st->now;
        ts->chal_seq++;
        uint64_t r = siphash24(ts->hkey, &ts->chal_seq, sizeof ts->chal_seq);
        ts->chal_budget = limit / 2 + (uint32_t)(r % limit);
    }
    if (ts->chal_budget == 0) return false;
    ts->chal_budget--;
    return true;
}

bool tcp_challenge_ack(struct stack *st, struct tcb *t)
{
    if (!tcp_oow_allowed(st, &t->oow_next)) {
        st->stats.tcp_challenge_ratelimited++;
        return false;
    }
    if (!challenge_global_allowed(st)) {
        st->stats.tcp_challenge_global_limited++;
        return false;
    }
    st->stats.tcp_challenge_acks++;
    tcp_send_ack(st, t); /* our own SND.NXT and RCV.NXT */
    return true;
}

bool tcp_oow_ack(struct stack *st, struct tcb *t, bool data)
{
    /* a bare ACK or FIN can be a loop or a reflection; data is a retransmission */
    if (!data) {
        if (!tcp_oow_allowed(st, &t->oow_next)) {
            st->stats.tcp_oow_ack_ratelimited++;
            return false;
        }
    }
    tcp_send_ack(st, t);
    return true;
}

static uint32_t min32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

/* RFC 1122 4.2.3.4, sender SWS avoidance with Nagle's algorithm (RFC 896): a segment
 * shorter than a full one goes only when
 *   - it carries all the data queued and no earlier short segment is unacknowledged (or
 *     Nagle is off, stack_tcp_set_nodelay): Nagle, in Minshall's form (as Linux and the
 *     BSDs): the tail of a large write goes at once, only a second short segment waits,
 *     so a request or reply of any size costs no extra round trip;
 *   - the window (or cwnd) cut it, and it is at least half the largest window the peer
 *     offered: SWS avoidance;
 *   - nothing is in flight: no ACK will come to send it later, so the RFC's override
 *     timeout is taken at once (a closed window is the persist timer's);
 *   - it is sent again (SND.NXT below SND.MAX after a timeout).
 * A segment that carries the FIN goes as it is. Held data waits for the next ACK, which
 * tcp_output runs after. */
static bool small_segment_ok(const struct tcb *t, uint32_t len, uint32_t avail)
{
    if (seq_lt(t->snd_nxt, t->snd_max)) return true;
    bool idle = t->snd_una == t->snd_max;
    /* (a short segment still unacknowledged lies within SND.UNA..SND.MAX; a stale mark
     * far behind reads as beyond SND.MAX) */
    bool sml_out = seq_gt(t->snd_sml, t->snd_una) && seq_leq(t->snd_sml, t->snd_max);
    if (len == avail) return t->nodelay || !sml_out;
    return idle || len >= t->max_snd_wnd / 2;
}

void tcp_output(struct stack *st, struct tcb *t)
{
    bool can_send = false;
    switch (t->state) {
    case TCP_ESTABLISHED:
    case TCP_CLOSE_WAIT:
    case TCP_FIN_WAIT_1:
    case TCP_CLOSING:
    case TCP_LAST_ACK:
        can_send = true;
        break;
    case TCP_FIN_WAIT_2:
    case TCP_TIME_WAIT:
        break;
    default:
        return;
    }
    bool sent = false;
    uint32_t data_end = t->snd_base + ring_used(&t->sndq);
    if (can_send && !t->persist) {
        /* SACK: lost segments first (RFC 6675 NextSeg); a burst of at most TCP_BURST_MAX
         * segments per call keeps a window's worth out of the TUN queue at once */
        uint32_t nseg = t->sack_ok ? tcp_recovery_output(st, t, TCP_BURST_MAX) : 0;
        if (nseg) sent = true;
        stack_gso_begin(st); /* new data back to back: super-packets with tx_offload */
        for (;; nseg++) {
            uint32_t avail = seq_lt(t->snd_nxt, data_end) ? data_end - t->snd_nxt : 0;
            uint32_t usable;
            if (t->sack_ok && t->snd_nxt == t->snd_max) {
                /* what is in the network is pipe, not SND.NXT - SND.UNA (RFC 6675 §5) */
                uint32_t pipe = tcp_pipe(t), edge = t->snd_una + t->snd_wnd;
                usable = min32(seq_gt(edge, t->snd_nxt) ? edge - t->snd_nxt : 0,
                               t->cwnd > pipe ? t->cwnd - pipe : 0);
            } else {
                uint32_t right = t->snd_una + min32(t->snd_wnd, t->cwnd);
                usable = seq_gt(right, t->snd_nxt) ? right - t->snd_nxt : 0;
            }
            uint32_t len = min32(min32(avail, usable), tcp_seg_room(t));
            bool fin = t->fin_queued && len == avail && t->snd_nxt + len == data_end;
            if (len == 0 && !fin) break;
            if (nseg >= TCP_BURST_MAX) {
                st->stats.tcp_burst_held++; /* the rest on the next ACK */
                break;
            }
            if (len < tcp_seg_room(t) && !fin && !small_segment_ok(t, len, avail)) {
                st->stats.tcp_small_held++;
                break; /* until an ACK: Nagle, or the window opening further (SWS) */
            }
            uint8_t flags = TH_ACK;
            if (len && t->snd_nxt + len == data_end) flags |= TH_PSH;
            if (fin) flags |= TH_FIN;
            if (!t->rtt_active && seq_geq(t->snd_nxt, t->snd_max)) {
                t->rtt_active = true; /* time this segment (one at a time) */
                t->rtt_seq = t->snd_nxt;
                t->rtt_start = st->now;
            }
            emit_tcb(st, t, t->snd_nxt, flags, t->snd_nxt - t->snd_base, len);
            if (len && seq_geq(t->snd_nxt, t->snd_max)) tcp_cc_sent(st, t, t->snd_nxt, len);
            if (t->sack_ok) tcp_recovery_sent(st, t, t->snd_nxt, len);
            if (len < tcp_seg_room(t)) t->snd_sml = t->snd_nxt + len; /* Minshall: the last short */
            t->snd_nxt += len + (fin ? 1 : 0);
            if (fin) t->fin_sent = true;
            if (seq_gt(t->snd_nxt, t->snd_max)) t->snd_max = t->snd_nxt;
            tcp_rtx_arm(st, t);
            sent = true;
            if (fin) break;
        }
        stack_gso_end(st);
        tcp_persist_check(st, t);
    }
    if (!sent && t->ack_now) tcp_send_ack(st, t);
    if (t->sack_ok) tcp_tlp_arm(st, t);
}

void tcp_send_seg(struct stack *st, struct tcb *t, uint32_t seq, uint32_t len)
{
    uint32_t data_end = t->snd_base + ring_used(&t->sndq);
    bool fin = t->fin_sent && seq + len == data_end;
    uint8_t flags = TH_ACK | (fin ? TH_FIN : 0) | (len && seq + len == data_end ? TH_PSH : 0);
    emit_tcb(st, t, seq, flags, seq - t->snd_base, len);
    if (t->sack_ok) tcp_recovery_sent(st, t, seq, len);
}

void tcp_retransmit_first(struct stack *st, struct tcb *t)
{
    if (t->state == TCP_SYN_SENT || t->state == TCP_SYN_RCVD) {
        TRACE(st, "[TCP ] retransmit seq=%u len=0 rto=%ums attempt=%u", t->iss, t->rto,
              t->retries + 1);
        tcp_send_syn(st, t);
        return;
    }
    uint32_t data_end = t->snd_base + ring_used(&t->sndq);
    uint32_t avail = seq_lt(t->snd_una, data_end) ? data_end - t->snd_una : 0;
    /* within SND.UNA + SND.WND (and the congestion window), split at its edge like new
     * data; a zero window is the persist timer's (tcp_persist_check) */
    uint32_t len = min32(min32(avail, tcp_seg_room(t)), min32(t->snd_wnd, t->cwnd));
    bool fin = t->fin_sent && len == avail;
    if (len == 0 && !fin) return;
    TRACE(st, "[TCP ] retransmit seq=%u len=%u rto=%ums attempt=%u", t->snd_una, len, t->rto,
          t->retries + 1);
    uint8_t flags = TH_ACK | (fin ? TH_FIN : 0) | (len && len == avail ? TH_PSH : 0);
    emit_tcb(st, t, t->snd_una, flags, t->snd_una - t->snd_base, len);
    if (t->sack_ok) tcp_recovery_sent(st, t, t->snd_una, len);
    /* go back: what follows is sent again as the window allows */
    t->snd_nxt = t->snd_una + len + (fin ? 1 : 0);
}

void tcp_rtt_sample(struct stack *st, struct tcb *t, uint32_t r)
{
    if (!t->rtt_sampled) {
        t->srtt = r;
        t->rttvar = r / 2;
        t->rtt_sampled = true;
    } else {
        uint32_t d = t->srtt > r ? t->srtt - r : r - t->srtt;
        t->rttvar = (3 * t->rttvar + d) / 4;
        t->srtt = (7 * t->srtt + r) / 8;
    }
    uint32_t k = 4 * t->rttvar;
    uint32_t rto = t->srtt + (k > 1 ? k : 1); /* G = 1 ms clock */
    if (rto < st->cfg.rto_min_ms) rto = st->cfg.rto_min_ms;
    if (rto > st->cfg.rto_max_ms) rto = st->cfg.rto_max_ms;
    t->rto = rto;
}

void tcp_send_keepalive(struct stack *st, struct tcb *t)
{
    emit_tcb(st, t, t->snd_nxt - 1, TH_ACK, 0, 0);
}

void tcp_send_probe(struct stack *st, struct tcb *t)
{
    uint32_t data_end = t->snd_base + ring_used(&t->sndq);
    if (!seq_lt(t->snd_una, data_end)) return;
    st->stats.tcp_window_probes++;
    /* The probe byte is not counted as sent (SND.NXT/SND.MAX stay): our ACKs keep a
     * sequence number the closed window accepts, and a peer that takes the byte is
     * recognised in process_ack. */
    emit_tcb(st, t, t->snd_una, TH_ACK | (data_end - t->snd_una == 1 ? TH_PSH : 0),
             t->snd_una - t->snd_base, 1);
}
