/* Half-open passive connections. A SYN to a listener creates a request entry (struct
 * tcp_req, under 100 bytes: the 4-tuple, ISS/IRS, the peer's options, the retransmission
 * count) instead of a TCB; the ACK that completes the handshake turns it into a TCB in
 * SYN_RCVD that tcp_input then processes as before (to ESTABLISHED and the accept queue).
 *
 * Entries are bounded per listener (its backlog, shared with the accept queue) and for the
 * engine (cfg.syn_queue_max). When a listener's queue is full and its oldest entry's
 * SYN-ACK went unanswered for an RTO, or the engine's bound is reached, the SYN is
 * answered with a SYN cookie (tcp_syncookie.c) and nothing is stored (cfg.syncookies 1;
 * 0 drops the SYN as before, 2 always uses cookies). Under pressure (a queue more than
 * half full) an entry gets at most SYNQ_PRESSURE_RETRIES SYN-ACK retransmissions instead
 * of cfg.syn_retries.
 *
 * RFC 9293 §3.10.7.4 in SYN-RECEIVED: the peer's SYN again gets the SYN-ACK again; a
 * segment outside the window gets an ACK (an RST is ignored); the exact RST, or another
 * SYN, returns to LISTEN (the entry is freed); an ACK of anything but ISS + 1 gets an RST. */
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "tcp.h"

#define SYNQ_PRESSURE_RETRIES 2

/* ---- tables ---- */

bool tcp_synq_create(struct stack *st)
{
    struct tcp_engine *ts = TS(st);
    uint32_t n = 64;
    while (n < st->cfg.syn_queue_max && n < (1u << 20))
        n *= 2;
    ts->req_tab = calloc(n, sizeof *ts->req_tab);
    ts->req_mask = n - 1;
    return ts->req_tab != NULL;
}

void tcp_synq_destroy(struct stack *st)
{
    struct tcp_engine *ts = TS(st);
    free(ts->req_tab);
    free(ts->req_heap);
    ts->req_tab = NULL;
    ts->req_heap = NULL;
}

static struct tcp_req **req_slot(struct tcp_engine *ts, struct ip_addr laddr, uint16_t lport,
                                 struct ip_addr raddr, uint16_t rport)
{
    return &ts->req_tab[tcp_tuple_hash(ts, laddr, lport, raddr, rport) & ts->req_mask];
}

struct tcp_req *tcp_req_lookup(struct stack *st, struct ip_addr laddr, uint16_t lport,
                               struct ip_addr raddr, uint16_t rport)
{
    struct tcp_engine *ts = TS(st);
    if (ts->nreq == 0) return NULL;
    for (struct tcp_req *r = *req_slot(ts, laddr, lport, raddr, rport); r; r = r->hnext)
        if (r->lport == lport && r->rport == rport && ipa_eq(r->raddr, raddr) &&
            ipa_eq(req_laddr(st, r), laddr))
            return r;
    return NULL;
}

/* ---- the expiry heap ---- */

static void rh_swap(struct tcp_engine *ts, uint32_t a, uint32_t b)
{
    struct tcp_req *x = ts->req_heap[a];
    ts->req_heap[a] = ts->req_heap[b];
    ts->req_heap[b] = x;
    ts->req_heap[a]->heap_idx = a + 1;
    ts->req_heap[b]->heap_idx = b + 1;
}

static void rh_up(struct tcp_engine *ts, uint32_t i)
{
    while (i > 0 && ts->req_heap[(i - 1) / 2]->expire > ts->req_heap[i]->expire) {
        rh_swap(ts, (i - 1) / 2, i);
        i = (i - 1) / 2;
    }
}

static void rh_down(struct tcp_engine *ts, uint32_t i)
{
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < ts->req_heap_len && ts->req_heap[l]->expire < ts->req_heap[m]->expire) m = l;
        if (r < ts->req_heap_len && ts->req_heap[r]->expire < ts->req_heap[m]->expire) m = r;
        if (m == i) return;
        rh_swap(ts, i, m);
        i = m;
    }
}

static bool rh_insert(struct tcp_engine *ts, struct tcp_req *r)
{
    if (ts->req_heap_len == ts->req_heap_cap) {
        uint32_t ncap = ts->req_heap_cap ? ts->req_heap_cap * 2 : 64;
        struct tcp_req **nh = realloc(ts->req_heap, ncap * sizeof *nh);
        if (!nh) return false;
        ts->req_heap = nh;
        ts->req_heap_cap = ncap;
    }
    ts->req_heap[ts->req_heap_len] = r;
    r->heap_idx = ++ts->req_heap_len;
    rh_up(ts, r->heap_idx - 1);
    return true;
}

static void rh_remove(struct tcp_engine *ts, struct tcp_req *r)
{
    uint32_t i = r->heap_idx - 1;
    ts->req_heap_len--;
    if (i != ts->req_heap_len) {
        ts->req_heap[i] = ts->req_heap[ts->req_heap_len];
        ts->req_heap[i]->heap_idx = i + 1;
        rh_up(ts, i);
        rh_down(ts, ts->req_heap[i]->heap_idx - 1);
    }
    r->heap_idx = 0;
}

/* ---- entries ---- */

static void req_free(struct stack *st, struct tcp_req *r)
{
    struct tcp_engine *ts = TS(st);
    struct tcb *l = r->listener;
    for (struct tcp_req **pp = req_slot(ts, req_laddr(st, r), r->lport, r->raddr, r->rport); *pp;
         pp = &(*pp)->hnext)
        if (*pp == r) {
            *pp = r->hnext;
            break;
        }
    if (r->lprev)
        r->lprev->lnext = r->lnext;
    else
        l->req_head = r->lnext;
    if (r->lnext)
        r->lnext->lprev = r->lprev;
    else
        l->req_tail = r->lprev;
    l->nreq--;
    ts->nreq--;
    if (r->heap_idx) rh_remove(ts, r);
    free(r);
}

static void req_closed(struct stack *st, struct tcp_req *r)
{
    TRACE(st, "[TCP ] state SYN_RCVD -> CLOSED");
    req_free(st, r);
}

static uint16_t our_mss(const struct stack *st, struct ip_addr peer)
{
    return stack_link_mss(st, peer);
}

/* The window of a SYN-ACK (never scaled, RFC 7323 §2.2): an empty receive ring. */
static uint16_t synack_wnd(const struct stack *st)
{
    return (uint16_t)(st->cfg.rcv_buf > 65535 ? 65535 : st->cfg.rcv_buf);
}

static uint32_t req_rto(const struct stack *st, const struct tcp_req *r)
{
    uint64_t rto = (uint64_t)st->cfg.rto_initial_ms << (r->retries > 20 ? 20 : r->retries);
    return (uint32_t)(rto > st->cfg.rto_max_ms ? st->cfg.rto_max_ms : rto);
}

/* The shift our SYN-ACK offers: the smallest that lets the window cover the buffer. */
static uint8_t our_wscale(const struct stack *st)
{
    uint8_t ws = 0;
    while (ws < TCP_WSCALE_MAX && (st->cfg.rcv_buf >> ws) > 65535)
        ws++;
    return ws;
}

static uint32_t ts_now(const struct stack *st, struct ip_addr laddr, uint16_t lport,
                       struct ip_addr raddr, uint16_t rport)
{
    return tcp_ts_val(st->now, tcp_ts_offset(st->tcp->hkey, laddr, lport, raddr, rport));
}

/* ts: send a TSopt with tsval/tsecr (RFC 7323 §3.2: the peer's SYN had one). */
static void send_synack(struct stack *st, struct ip_addr laddr, struct ip_addr raddr,
                        uint16_t lport, uint16_t rport, uint32_t iss, uint32_t ack, uint16_t wnd,
                        int ws, bool sack, bool ts, uint32_t tsval, uint32_t tsecr)
{
    uint8_t opt[TCP_MAX_OPT];
    struct tcp_syn_opts so = {.mss = our_mss(st, raddr),
                              .ws = ws,
                              .sack_perm = sack,
                              .ts = ts,
                              .tsval = tsval,
                              .tsecr = tsecr};
    size_t optlen = tcp_opts_build_syn(opt, &so);
    tcp_emit_opts(st, laddr, raddr, lport, rport, iss, ack, TH_SYN | TH_ACK, wnd, opt, optlen);
}

static void req_send_synack(struct stack *st, struct tcp_req *r)
{
    send_synack(st, req_laddr(st, r), r->raddr, r->lport, r->rport, r->iss, r->irs + 1, r->wnd,
                r->snd_ws >= 0 ? r->rcv_ws : -1, r->sack_ok, r->ts_ok,
                ts_now(st, req_laddr(st, r), r->lport, r->raddr, r->rport), r->ts_recent);
    r->answered = false;
}

/* A pure ACK from the entry: at most one per SYN-ACK sent, so a flood of odd segments to
 * a half-open connection is not reflected. */
static bool req_send_ack(struct stack *st, struct tcp_req *r)
{
    if (r->answered) return false;
    r->answered = true;
    uint16_t wnd = r->snd_ws >= 0 ? (uint16_t)(r->wnd >> r->rcv_ws) : r->wnd;
    uint8_t opt[TCPOLEN_TS_ALIGNED];
    size_t n =
        r->ts_ok
            ? tcp_opts_build_ts(opt, ts_now(st, req_laddr(st, r), r->lport, r->raddr, r->rport),
                                r->ts_recent)
            : 0;
    tcp_emit_opts(st, req_laddr(st, r), r->raddr, r->lport, r->rport, r->iss + 1, r->irs + 1,
                  TH_ACK, wnd, opt, n);
    return true;
}

/* More than half of a queue in use (and at least 8 entries, so a small backlog with a
 * connection or two in flight is not "pressure"). */
static bool under_pressure(const struct stack *st, const struct tcb *l)
{
    uint32_t n = st->tcp->nreq;
    return (l->nreq >= 8 && l->nreq * 2 > l->backlog) || (n >= 8 && n * 2 > st->cfg.syn_queue_max);
}

static void send_cookie(struct stack *st, const struct tcp_seg *s)
{
    struct tcp_engine *ts = TS(st);
    uint16_t mss = s->opt.mss ? s->opt.mss : TCP_DEFAULT_MSS;
    uint32_t iss =
        tcp_syncookie_make(ts->hkey, st->now, s->dst, s->dport, s->src, s->sport, s->seq, mss);
    ts->cookie_sent = true;
    ts->cookie_at = st->now;
    st->stats.tcp_syncookies_sent++;
    TRACE(st, "[TCP ] syncookie sent iss=%u mss=%u", iss, tcp_syncookie_mss(mss));
    if (!st->cfg.timestamps || !s->opt.ts) {
        /* no window scale or SACK: without timestamps there is nowhere to keep them */
        send_synack(st, s->dst, s->src, s->dport, s->sport, iss, s->seq + 1, synack_wnd(st), -1,
                    false, false, 0, 0);
        return;
    }
    /* the peer's shift and SACK-permitted ride in our TSval, and come back in its TSecr */
    bool sack = st->cfg.sack && s->opt.sack_perm;
    uint32_t tsval =
        tcp_syncookie_ts_encode(ts_now(st, s->dst, s->dport, s->src, s->sport), s->opt.ws, sack);
    send_synack(st, s->dst, s->src, s->dport, s->sport, iss, s->seq + 1, synack_wnd(st),
                s->opt.ws >= 0 ? our_wscale(st) : -1, sack, true, tsval, s->opt.tsval);
}

void tcp_synq_syn(struct stack *st, struct tcb *l, const struct tcp_seg *s, bool have_min_iss,
                  uint32_t min_iss)
{
    struct tcp_engine *ts = TS(st);
    if (l->acceptq.n >= l->backlog) {
        st->stats.tcp_syn_queue_full++; /* nobody accepts: dropped, the peer retries */
        return;
    }
    /* the backlog bounds half-open and established-but-unaccepted together, as before */
    bool lfull = l->nreq + l->acceptq.n >= l->backlog;
    bool gfull = ts->nreq >= st->cfg.syn_queue_max;
    /* A queue full of handshakes in progress (a burst of real clients) drops the SYN, so
     * the backlog keeps bounding what completes; a queue whose oldest SYN-ACK already
     * went unanswered for an RTO (a flood, or peers gone) is answered with cookies. */
    bool flood = gfull || (lfull && l->req_head && l->req_head->retries > 0);
    if (st->cfg.syncookies >= 2 || (flood && st->cfg.syncookies == 1)) {
        send_cookie(st, s);
        return;
    }
    if (lfull || gfull) {
        st->stats.tcp_syn_queue_full++;
        return;
    }
    struct tcp_req *r = calloc(1, sizeof *r);
    if (!r) return;
    r->listener = l;
    r->lport = s->dport;
    r->raddr = s->src;
    r->rport = s->sport;
    r->irs = s->seq;
    r->mss = s->opt.mss;
    r->snd_ws = s->opt.ws;
    r->sack_ok = st->cfg.sack && s->opt.sack_perm;
    r->ts_ok = st->cfg.timestamps && s->opt.ts;
    r->ts_recent = s->opt.tsval;
    r->rcv_ws = our_wscale(st);
    r->wnd = synack_wnd(st);
    r->iss = tcp_isn(st, req_laddr(st, r), r->lport, r->raddr, r->rport);
    if (have_min_iss && seq_leq(r->iss, min_iss))
        r->iss = min_iss + 1 + (1u << 17); /* never below the old incarnation */
    r->sent = (uint32_t)st->now;
    r->expire = st->now + req_rto(st, r);
    if (!rh_insert(ts, r)) {
        free(r);
        return;
    }
    struct tcp_req **slot = req_slot(ts, req_laddr(st, r), r->lport, r->raddr, r->rport);
    r->hnext = *slot;
    *slot = r;
    r->lprev = l->req_tail;
    if (l->req_tail)
        l->req_tail->lnext = r;
    else
        l->req_head = r;
    l->req_tail = r;
    l->nreq++;
    ts->nreq++;
    st->stats.tcp_passive_opens++;
    TRACE(st, "[TCP ] state LISTEN -> SYN_RCVD");
    req_send_synack(st, r);
}

/* ---- completing the handshake ---- */

/* A TCB in SYN_RCVD for a handshake the ACK s completes, or NULL when it cannot be taken
 * now (the peer's retransmission or our SYN-ACK's brings it back). */
static struct tcb *child_new(struct stack *st, struct tcb *l, const struct tcp_seg *s, uint32_t iss,
                             uint32_t irs, uint16_t mss, int snd_ws, uint8_t rcv_ws, uint16_t wnd,
                             bool sack, bool ts, uint32_t ts_recent)
{
    if (l->acceptq.n >= l->backlog) {
        st->stats.tcp_listen_overflow++;
        return NULL;
    }
    if (TS(st)->ntcb >= st->cfg.max_conns) {
        st->stats.tcp_conn_limit++;
        return NULL;
    }
    struct tcb *c = tcb_new(st);
    if (!c) return NULL;
    c->laddr = s->dst;
    c->lport = s->dport;
    c->raddr = s->src;
    c->rport = s->sport;
    c->rcv_mss = stack_link_mss(st, s->src);
    c->state = TCP_SYN_RCVD; /* traced as SYN_RCVD -> ESTABLISHED by the caller */
    c->passive = true;
    c->parent = l;
    c->irs = irs;
    c->rcv_nxt = irs + 1;
    c->rcv_adv = c->rcv_nxt + wnd;
    if (mss == 0) mss = TCP_DEFAULT_MSS;
    c->snd_mss = mss < c->rcv_mss ? mss : c->rcv_mss;
    c->ws_ok = snd_ws >= 0;
    c->snd_wscale = c->ws_ok ? (uint8_t)snd_ws : 0;
    c->rcv_wscale = c->ws_ok ? rcv_ws : 0;
    c->sack_ok = sack;
    c->ts_ok = ts;
    c->ts_offset = tcp_ts_offset(TS(st)->hkey, c->laddr, c->lport, c->raddr, c->rport);
    c->ts_recent = ts_recent;
    c->ts_recent_at = st->now;
    c->last_ack_sent = irs + 1;
    tcp_cc_select(c, l->cc); /* the listener's algorithm (stack_tcp_set_cc) */
    c->nodelay = l->nodelay;
    /* the listener owner's share (stack_tcp_set_mem_group): before the first window */
    ring_set_group(&c->sndq, l->rcvq.grp);
    ring_set_group(&c->rcvq, l->rcvq.grp);
    c->keepalive = l->keepalive; /* armed on reaching ESTABLISHED */
    c->ka_idle_ms = l->ka_idle_ms;
    c->ka_intvl_ms = l->ka_intvl_ms;
    c->ka_cnt = l->ka_cnt;
    c->user_timeout = l->user_timeout;
    tcp_cc_init(st, c); /* the initial window (RFC 6928) */
    c->iss = iss;
    c->recover = iss; /* RFC 6582 §3.2 step 1 */
    c->snd_una = iss;
    c->snd_sml = iss;
    c->snd_nxt = c->snd_max = iss + 1;
    c->snd_base = iss + 1;
    c->snd_wl1 = s->seq;
    c->snd_wl2 = s->ack;
    tcb_hash_insert(st, c);
    return c;
}

struct tcb *tcp_req_input(struct stack *st, struct tcp_req *r, const struct tcp_seg *s)
{
    uint8_t f = s->flags;
    uint32_t rcv_nxt = r->irs + 1;
    /* our SYN-ACK was lost: the peer's SYN again gets the SYN-ACK again */
    if ((f & TH_SYN) && !(f & (TH_ACK | TH_RST)) && s->seq == r->irs) {
        req_send_synack(st, r);
        return NULL;
    }
    /* first: the acceptability test against the window of our SYN-ACK */
    bool ok = seq_between(s->seq, rcv_nxt, rcv_nxt + r->wnd) ||
              (s->seglen > 0 && seq_between(s->seq + s->seglen - 1, rcv_nxt, rcv_nxt + r->wnd));
    if (!ok) {
        if (f & TH_RST) {
            st->stats.tcp_rst_ignored++;
            return NULL;
        }
        st->stats.tcp_drop_unacceptable++;
        req_send_ack(st, r);
        return NULL;
    }
    /* second: RST (RFC 5961 §3.2: only the exact one counts) */
    if (f & TH_RST) {
        st->stats.tcp_rst_received++;
        if (s->seq != rcv_nxt) {
            if (req_send_ack(st, r)) st->stats.tcp_challenge_acks++;
            return NULL;
        }
        req_closed(st, r); /* back to LISTEN */
        return NULL;
    }
    /* fourth: another SYN: a passive open returns to LISTEN */
    if (f & TH_SYN) {
        req_closed(st, r);
        return NULL;
    }
    /* fifth: ACK */
    if (!(f & TH_ACK)) return NULL;
    if (s->ack != r->iss + 1) {
        tcp_emit_bare(st, s->dst, s->src, s->dport, s->sport, s->ack, 0, TH_RST, 0);
        return NULL;
    }
    /* RFC 7323: the ACK carries a TSopt and passes PAWS against the SYN's */
    if (r->ts_ok && (!s->opt.ts || seq_lt(s->opt.tsval, r->ts_recent))) {
        if (s->opt.ts)
            st->stats.tcp_paws_drops++;
        else
            st->stats.tcp_ts_missing++;
        return NULL;
    }
    struct tcb *c = child_new(st, r->listener, s, r->iss, r->irs, r->mss, r->snd_ws, r->rcv_ws,
                              r->wnd, r->sack_ok, r->ts_ok, r->ts_recent);
    if (!c) return NULL;
    if (r->retries == 0) {
        c->rtt_active = true; /* the SYN-ACK's round trip is a sample (Karn: if not resent) */
        c->rtt_seq = r->iss;
        c->rtt_start = st->now - (uint32_t)((uint32_t)st->now - r->sent);
    }
    c->retries = r->retries; /* > 0: the RTO for data starts at 3 s (RFC 6298 §5.7) */
    c->retransmits = r->retries;
    req_free(st, r);
    return c;
}

struct tcb *tcp_syncookie_ack(struct stack *st, struct tcb *l, const struct tcp_seg *s,
                              bool *handled)
{
    struct tcp_engine *ts = TS(st);
    *handled = false;
    /* only while cookies may be outstanding: otherwise a stray ACK is just that */
    if (!st->cfg.syncookies || !ts->cookie_sent ||
        st->now - ts->cookie_at >= 2 * (stack_time_t)SYNCOOKIE_PERIOD_MS)
        return NULL;
    uint32_t irs = s->seq - 1, iss = s->ack - 1;
    uint16_t mss =
        tcp_syncookie_check(ts->hkey, st->now, s->dst, s->dport, s->src, s->sport, irs, iss);
    if (mss == 0) {
        st->stats.tcp_syncookies_failed++;
        TRACE(st, "[TCP ] syncookie invalid ack=%u", s->ack);
        return NULL;
    }
    *handled = true;
    /* a TSecr from our cookie SYN-ACK brings back the peer's window scale and SACK */
    int ws = -1;
    bool sack = false, tsok = false;
    if (st->cfg.timestamps && s->opt.ts) {
        uint32_t now = ts_now(st, s->dst, s->dport, s->src, s->sport);
        if (seq_gt(s->opt.tsecr, now))
            st->stats.tcp_ts_ecr_future++;
        else
            tsok = tcp_syncookie_ts_decode(s->opt.tsecr, &ws, &sack);
        if (!tsok) ws = -1;
        sack = tsok && sack && st->cfg.sack;
    }
    struct tcb *c = child_new(st, l, s, iss, irs, mss, ws, our_wscale(st), synack_wnd(st), sack,
                              tsok, s->opt.tsval);
    if (!c) return NULL;
    st->stats.tcp_syncookies_validated++;
    st->stats.tcp_passive_opens++;
    TRACE(st, "[TCP ] syncookie valid iss=%u mss=%u ws=%d sack=%d ts=%d", iss, mss, ws, sack, tsok);
    return c;
}

/* ---- timers, teardown, listing ---- */

void tcp_synq_poll(struct stack *st)
{
    struct tcp_engine *ts = TS(st);
    while (ts->req_heap_len && ts->req_heap[0]->expire <= st->now) {
        struct tcp_req *r = ts->req_heap[0];
        uint32_t limit = st->cfg.syn_retries;
        if (under_pressure(st, r->listener) && limit > SYNQ_PRESSURE_RETRIES)
            limit = SYNQ_PRESSURE_RETRIES;
        if (r->retries >= limit) {
            st->stats.tcp_timeouts++;
            TRACE(st, "[TCP ] timeout after %u retransmissions", r->retries);
            req_closed(st, r); /* a half-open entry is freed, never leaked */
            continue;
        }
        r->retries++;
        st->stats.tcp_retransmits++;
        TRACE(st, "[TCP ] retransmit seq=%u len=0 rto=%ums attempt=%u", r->iss, req_rto(st, r),
              r->retries);
        req_send_synack(st, r);
        r->expire = st->now + req_rto(st, r);
        rh_down(ts, 0);
    }
}

stack_time_t tcp_synq_deadline(struct stack *st)
{
    struct tcp_engine *ts = TS(st);
    return ts->req_heap_len ? ts->req_heap[0]->expire : STACK_TIME_NEVER;
}

void tcp_synq_flush(struct stack *st, struct tcb *l, bool rst)
{
    while (l->req_head) {
        struct tcp_req *r = l->req_head;
        if (rst)
            tcp_emit_bare(st, req_laddr(st, r), r->raddr, r->lport, r->rport, r->iss + 1,
                          r->irs + 1, TH_RST | TH_ACK, 0);
        req_free(st, r);
    }
}

void tcp_synq_foreach(struct stack *st, struct tcb *l,
                      void (*fn)(void *arg, const struct stack_conn_info *ci), void *arg)
{
    struct stack_conn_info ci;
    for (const struct tcp_req *r = l->req_head; r; r = r->lnext) {
        memset(&ci, 0, sizeof ci);
        ci.state = TCP_SYN_RCVD;
        ci.laddr = req_laddr(st, r);
        ci.raddr = r->raddr;
        ci.lport = r->lport;
        ci.rport = r->rport;
        ci.snd_una = r->iss;
        ci.snd_nxt = r->iss + 1;
        ci.rcv_nxt = r->irs + 1;
        ci.rcv_wnd = r->wnd;
        ci.rto_ms = req_rto(st, r);
        ci.retransmits = r->retries;
        fn(arg, &ci);
    }
}
