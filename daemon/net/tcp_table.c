/* The TCB table: connections hashed by 4-tuple, listeners by port, compact TIME_WAIT
 * entries (hashed by 4-tuple, FIFO by expiry, bounded by cfg.time_wait_max), ephemeral
 * ports, the one state-change function, event queueing and connection teardown. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcp.h"

static const char *const state_names[] = {
    "CLOSED",     "LISTEN",     "SYN_SENT", "SYN_RCVD", "ESTABLISHED", "FIN_WAIT_1",
    "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING",  "LAST_ACK", "TIME_WAIT",
};

const char *tcp_state_name(enum tcp_state s)
{
    if ((unsigned)s < sizeof state_names / sizeof state_names[0]) return state_names[s];
    return "?";
}

static uint32_t tuple_hash4(const struct tcp_engine *ts, uint32_t laddr, uint16_t lport,
                            uint32_t raddr, uint16_t rport)
{
    uint64_t x = (((uint64_t)raddr << 32) | ((uint64_t)rport << 16) | lport) ^ ts->hkey[1];
    x ^= (uint64_t)laddr * 0x9e3779b97f4a7c15ULL;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return (uint32_t)x;
}

uint32_t tcp_tuple_hash(const struct tcp_engine *ts, struct ip_addr laddr, uint16_t lport,
                        struct ip_addr raddr, uint16_t rport)
{
    if (!ipa_is_v4(raddr)) {
        /* 16-byte addresses: the keyed hash over all of them ("HT" keeps its inputs apart
         * from the ISN's, whose value a peer sees) */
        uint8_t m[38] = {'H', 'T'};
        size_t n = 2 + ipa_tuple_bytes(m + 2, laddr, lport, raddr, rport);
        return (uint32_t)siphash24(ts->hkey, m, n);
    }
    return tuple_hash4(ts, ipa_v4(laddr), lport, ipa_v4(raddr), rport);
}

/* ---- lifecycle of the module ---- */

struct tcp_engine *tcp_create(struct stack *st)
{
    struct tcp_engine *ts = calloc(1, sizeof *ts);
    if (!ts) return NULL;
    ts->conn_mask = 1023;
    ts->conn_tab = calloc(ts->conn_mask + 1, sizeof *ts->conn_tab);
    ts->tw_mask = 1023;
    ts->tw_tab = calloc(ts->tw_mask + 1, sizeof *ts->tw_tab);
    if (!ts->conn_tab || !ts->tw_tab) {
        free(ts->conn_tab);
        free(ts->tw_tab);
        free(ts);
        return NULL;
    }
    memcpy(&ts->hkey[0], st->cfg.isn_secret, 8);
    memcpy(&ts->hkey[1], st->cfg.isn_secret + 8, 8);
    ts->eph_next = (uint32_t)(siphash24(ts->hkey, "eph", 3) % 16384u);
    st->tcp = ts;
    if (!tcp_synq_create(st)) {
        tcp_destroy(st);
        return NULL;
    }
    if (st->cfg.tcp_echo_port) tcp_echo_start(st);
    return ts;
}

void tcp_destroy(struct stack *st)
{
    struct tcp_engine *ts = TS(st);
    if (!ts) return;
    /* TCBs only a handle still refers to (CLOSED after an error) */
    for (uint32_t i = 0; i < st->nhandles; i++) {
        struct handle_slot *s = &st->handles[i];
        if (s->type == HANDLE_TCP && s->obj) {
            struct tcb *t = s->obj;
            s->obj = NULL;
            t->handle = 0;
            if (!t->in_hash && t->state != TCP_LISTEN) tcb_free(st, t);
        }
    }
    for (uint32_t i = 0; i <= ts->conn_mask; i++)
        while (ts->conn_tab[i]) {
            struct tcb *t = ts->conn_tab[i];
            t->handle = 0;
            tcb_free(st, t);
        }
    for (unsigned i = 0; i < 256; i++)
        while (ts->lst_tab[i]) {
            struct tcb *l = ts->lst_tab[i];
            tcp_synq_flush(st, l, false);
            while (l->acceptq.head)
                tcb_free(st, l->acceptq.head);
            tcb_free(st, l);
        }
    while (ts->tw_head)
        tw_free(st, ts->tw_head);
    tcp_synq_destroy(st);
    free(ts->conn_tab);
    free(ts->tw_tab);
    free(ts->heap);
    free(ts);
    st->tcp = NULL;
}

/* ---- TCB objects ---- */

struct tcb *tcb_new(struct stack *st)
{
    struct tcp_engine *ts = TS(st);
    struct tcb *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    ts->ntcb++;
    ring_init(&t->sndq, st->cfg.snd_buf, &st->mem);
    ring_init(&t->rcvq, st->cfg.rcv_buf, &st->mem);
    t->laddr = ipa_from_v4(st->cfg.addr); /* the family's address once the peer is known */
    t->rcv_mss = stack_link_mss(st, t->laddr);
    t->snd_mss = TCP_DEFAULT_MSS;
    t->rto = st->cfg.rto_initial_ms;
    t->ssthresh = UINT32_MAX;
    t->ka_idle_ms = TCP_KEEPIDLE_DEFAULT_MS;
    t->ka_intvl_ms = TCP_KEEPINTVL_DEFAULT_MS;
    t->ka_cnt = TCP_KEEPCNT_DEFAULT;
    const struct tcp_cc_ops *cc = tcp_cc_by_id(st->cfg.cc);
    tcp_cc_select(t, cc ? cc : &tcp_cc_cubic);
    uint8_t ws = 0;
    while (ws < 14 && (st->cfg.rcv_buf >> ws) > 65535)
        ws++;
    t->rcv_wscale = ws;
    return t;
}

static void ev_unlink(struct tcp_engine *ts, struct tcb *t)
{
    if (!t->ev_queued) return;
    struct tcb **pp = &ts->ev_head, *prev = NULL;
    while (*pp && *pp != t) {
        prev = *pp;
        pp = &(*pp)->ev_next;
    }
    if (*pp) {
        *pp = t->ev_next;
        if (ts->ev_tail == t) ts->ev_tail = prev;
    }
    t->ev_queued = false;
    t->ev_bits = 0;
}

void tcb_free(struct stack *st, struct tcb *t)
{
    struct tcp_engine *ts = TS(st);
    tcp_timer_remove(st, t);
    ev_unlink(ts, t);
    if (t->out_pending) {
        struct tcb **pp = &ts->out_head;
        while (*pp != t)
            pp = &(*pp)->out_next;
        *pp = t->out_next;
    }
    if (t->in_hash) tcb_hash_remove(st, t);
    if (t->state == TCP_LISTEN && !t->parent) {
        tcp_listener_remove(st, t);
        if (ts->echo_listener == t) ts->echo_listener = NULL;
    }
    if (t->parent) {
        if (t->plist) tcb_list_remove(t->plist, t);
        t->parent = NULL;
    }
    if (t->orphan) {
        ts->norphans--;
        st->stats.tcp_orphans--;
    }
    if (t->state == TCP_FIN_WAIT_2) st->stats.tcp_fin_wait_2--;
    ring_release(&t->sndq);
    ring_release(&t->rcvq);
    tcp_reass_free(t);
    tcp_sb_free(&t->sb);
    tcp_mem_unwait(st, t);
    ts->ntcb--;
    free(t);
}

void tcb_list_push(struct tcb_list *l, struct tcb *t)
{
    t->lnext = NULL;
    t->lprev = l->tail;
    if (l->tail)
        l->tail->lnext = t;
    else
        l->head = t;
    l->tail = t;
    l->n++;
    t->plist = l;
}

void tcb_list_remove(struct tcb_list *l, struct tcb *t)
{
    if (t->lprev)
        t->lprev->lnext = t->lnext;
    else
        l->head = t->lnext;
    if (t->lnext)
        t->lnext->lprev = t->lprev;
    else
        l->tail = t->lprev;
    t->lnext = t->lprev = NULL;
    t->plist = NULL;
    l->n--;
}

/* ---- connection hash ---- */

static void conn_rehash(struct tcp_engine *ts)
{
    uint32_t nmask = ts->conn_mask * 2 + 1;
    struct tcb **ntab = calloc(nmask + 1, sizeof *ntab);
    if (!ntab) return; /* keep the old table: longer chains, still correct */
    for (uint32_t i = 0; i <= ts->conn_mask; i++) {
        struct tcb *t = ts->conn_tab[i];
        while (t) {
            struct tcb *next = t->hnext;
            uint32_t b = tcp_tuple_hash(ts, t->laddr, t->lport, t->raddr, t->rport) & nmask;
            t->hnext = ntab[b];
            ntab[b] = t;
            t = next;
        }
    }
    free(ts->conn_tab);
    ts->conn_tab = ntab;
    ts->conn_mask = nmask;
}

void tcb_hash_insert(struct stack *st, struct tcb *t)
{
    struct tcp_engine *ts = TS(st);
    if (ts->nhashed >= (ts->conn_mask + 1) * 2 && ts->conn_mask < (1u << 22)) conn_rehash(ts);
    uint32_t b = tcp_tuple_hash(ts, t->laddr, t->lport, t->raddr, t->rport) & ts->conn_mask;
    t->hnext = ts->conn_tab[b];
    ts->conn_tab[b] = t;
    t->in_hash = true;
    ts->nhashed++;
}

void tcb_hash_remove(struct stack *st, struct tcb *t)
{
    struct tcp_engine *ts = TS(st);
    if (!t->in_hash) return;
    uint32_t b = tcp_tuple_hash(ts, t->laddr, t->lport, t->raddr, t->rport) & ts->conn_mask;
    for (struct tcb **pp = &ts->conn_tab[b]; *pp; pp = &(*pp)->hnext)
        if (*pp == t) {
            *pp = t->hnext;
            break;
        }
    t->in_hash = false;
    t->hnext = NULL;
    ts->nhashed--;
}

struct tcb *tcb_lookup(struct stack *st, struct ip_addr laddr, uint16_t lport, struct ip_addr raddr,
                       uint16_t rport)
{
    struct tcp_engine *ts = TS(st);
    uint32_t b = tcp_tuple_hash(ts, laddr, lport, raddr, rport) & ts->conn_mask;
    for (struct tcb *t = ts->conn_tab[b]; t; t = t->hnext)
        if (t->lport == lport && t->rport == rport && ipa_eq(t->raddr, raddr) &&
            ipa_eq(t->laddr, laddr))
            return t;
    return NULL;
}

/* ---- listeners ---- */

struct tcb *tcp_listener_find(struct stack *st, uint16_t port)
{
    for (struct tcb *l = TS(st)->lst_tab[port & 255]; l; l = l->hnext)
        if (l->lport == port) return l;
    return NULL;
}

struct tcb *tcp_listener_for(struct stack *st, struct ip_addr dst, uint16_t port)
{
    unsigned fam = ipa_is_v4(dst) ? TCP_LFAM_V4 : TCP_LFAM_V6;
    for (struct tcb *l = TS(st)->lst_tab[port & 255]; l; l = l->hnext)
        if (l->lport == port && (l->lfam & fam)) return l;
    return NULL;
}

void tcp_listener_add(struct stack *st, struct tcb *l)
{
    struct tcb **head = &TS(st)->lst_tab[l->lport & 255];
    l->hnext = *head;
    *head = l;
}

void tcp_listener_remove(struct stack *st, struct tcb *l)
{
    for (struct tcb **pp = &TS(st)->lst_tab[l->lport & 255]; *pp; pp = &(*pp)->hnext)
        if (*pp == l) {
            *pp = l->hnext;
            l->hnext = NULL;
            return;
        }
}

/* ---- TIME_WAIT ---- */

static uint32_t tw_bucket(struct tcp_engine *ts, const struct tcp_tw *w)
{
    return tcp_tuple_hash(ts, w->laddr, w->lport, w->raddr, w->rport) & ts->tw_mask;
}

static void tw_rehash(struct tcp_engine *ts)
{
    uint32_t omask = ts->tw_mask, nmask = omask * 2 + 1;
    struct tcp_tw **ntab = calloc(nmask + 1, sizeof *ntab);
    if (!ntab) return;
    struct tcp_tw **otab = ts->tw_tab;
    ts->tw_tab = ntab;
    ts->tw_mask = nmask;
    for (uint32_t i = 0; i <= omask; i++) {
        struct tcp_tw *w = otab[i];
        while (w) {
            struct tcp_tw *next = w->hnext;
            uint32_t b = tw_bucket(ts, w);
            w->hnext = ntab[b];
            ntab[b] = w;
            w = next;
        }
    }
    free(otab);
}

struct tcp_tw *tw_lookup(struct stack *st, struct ip_addr laddr, uint16_t lport,
                         struct ip_addr raddr, uint16_t rport)
{
    struct tcp_engine *ts = TS(st);
    if (ts->ntw == 0) return NULL;
    uint32_t b = tcp_tuple_hash(ts, laddr, lport, raddr, rport) & ts->tw_mask;
    for (struct tcp_tw *w = ts->tw_tab[b]; w; w = w->hnext)
        if (w->lport == lport && w->rport == rport && ipa_eq(w->raddr, raddr) &&
            ipa_eq(w->laddr, laddr))
            return w;
    return NULL;
}

static void tw_fifo_unlink(struct tcp_engine *ts, struct tcp_tw *w)
{
    if (w->fprev)
        w->fprev->fnext = w->fnext;
    else
        ts->tw_head = w->fnext;
    if (w->fnext)
        w->fnext->fprev = w->fprev;
    else
        ts->tw_tail = w->fprev;
    w->fprev = w->fnext = NULL;
}

static void tw_fifo_append(struct tcp_engine *ts, struct tcp_tw *w)
{
    w->fnext = NULL;
    w->fprev = ts->tw_tail;
    if (ts->tw_tail)
        ts->tw_tail->fnext = w;
    else
        ts->tw_head = w;
    ts->tw_tail = w;
}

void tw_free(struct stack *st, struct tcp_tw *w)
{
    struct tcp_engine *ts = TS(st);
    uint32_t b = tw_bucket(ts, w);
    for (struct tcp_tw **pp = &ts->tw_tab[b]; *pp; pp = &(*pp)->hnext)
        if (*pp == w) {
            *pp = w->hnext;
            break;
        }
    tw_fifo_unlink(ts, w);
    ts->ntw--;
    free(w);
}

void tw_restart(struct stack *st, struct tcp_tw *w)
{
    struct tcp_engine *ts = TS(st);
    w->expire = st->now + 2 * (stack_time_t)st->cfg.msl_ms;
    /* every entry lasts 2*MSL, so the restarted one goes last and the FIFO stays sorted */
    tw_fifo_unlink(ts, w);
    tw_fifo_append(ts, w);
}

void tw_enter(struct stack *st, struct tcb *t)
{
    struct tcp_engine *ts = TS(st);
    struct tcp_tw *w = NULL;
    if (st->cfg.time_wait_max > 0) {
        if (ts->ntw >= st->cfg.time_wait_max && ts->tw_head) {
            /* full: the oldest entry (closest to expiry) gives way */
            st->stats.tcp_time_wait_evicted++;
            tw_free(st, ts->tw_head);
        }
        w = calloc(1, sizeof *w);
    }
    if (w) {
        w->laddr = t->laddr;
        w->raddr = t->raddr;
        w->lport = t->lport;
        w->rport = t->rport;
        w->snd_nxt = t->snd_nxt;
        w->rcv_nxt = t->rcv_nxt;
        w->wnd = tcp_rcv_window(st, t);
        w->ts_ok = t->ts_ok;
        w->ts_offset = t->ts_offset;
        w->ts_recent = t->ts_recent;
        if (ts->ntw >= (ts->tw_mask + 1) * 2 && ts->tw_mask < (1u << 20)) tw_rehash(ts);
        uint32_t b = tw_bucket(ts, w);
        w->hnext = ts->tw_tab[b];
        ts->tw_tab[b] = w;
        ts->ntw++;
        w->expire = st->now + 2 * (stack_time_t)st->cfg.msl_ms;
        tw_fifo_append(ts, w);
    }
    tcb_free(st, t);
}

/* ---- ephemeral ports (RFC 6056 style: a keyed start, then sequential search) ---- */

int tcp_ephemeral_port(struct stack *st, struct ip_addr raddr, uint16_t rport)
{
    struct tcp_engine *ts = TS(st);
    struct ip_addr laddr = stack_local_addr(st, raddr);
    for (uint32_t i = 0; i < 16384; i++) {
        uint16_t port = (uint16_t)(49152 + (ts->eph_next + i) % 16384u);
        if (tcp_listener_find(st, port) || tcb_lookup(st, laddr, port, raddr, rport) ||
            tw_lookup(st, laddr, port, raddr, rport))
            continue;
        ts->eph_next = (ts->eph_next + i + 1) % 16384u;
        return port;
    }
    return -EAGAIN;
}

/* ---- state changes, events, teardown ---- */

void tcp_set_state(struct stack *st, struct tcb *t, enum tcp_state s)
{
    if (t->state == s) return;
    TRACE(st, "[TCP ] state %s -> %s", tcp_state_name(t->state), tcp_state_name(s));
    if (s == TCP_ESTABLISHED) st->stats.tcp_established++;
    if (t->state == TCP_FIN_WAIT_2) st->stats.tcp_fin_wait_2--;
    if (s == TCP_FIN_WAIT_2) st->stats.tcp_fin_wait_2++;
    t->state = s;
    if (s == TCP_ESTABLISHED) {
        t->last_rcv = st->now; /* the handshake's last segment */
        if (t->keepalive) tcp_keepalive_start(st, t, true);
    }
}

void tcp_post(struct stack *st, struct tcb *t, unsigned ev)
{
    struct tcp_engine *ts = TS(st);
    if (!t->echo && t->handle <= 0)
        return; /* nobody to tell: not accepted yet, or released by the user */
    t->ev_bits |= ev;
    if (t->ev_queued) return;
    t->ev_queued = true;
    t->ev_next = NULL;
    if (ts->ev_tail)
        ts->ev_tail->ev_next = t;
    else
        ts->ev_head = t;
    ts->ev_tail = t;
}

void tcp_enter(struct stack *st)
{
    TS(st)->depth++;
}

void tcp_output_soon(struct stack *st, struct tcb *t)
{
    struct tcp_engine *ts = TS(st);
    if (ts->batch == 0) {
        tcp_output(st, t);
    } else if (!t->out_pending) {
        t->out_pending = true;
        t->out_next = ts->out_head;
        ts->out_head = t;
    }
}

void stack_batch_begin(struct stack *st)
{
    TS(st)->batch++;
}

void stack_batch_end(struct stack *st, stack_time_t now)
{
    struct tcp_engine *ts = TS(st);
    if (ts->batch == 0 || --ts->batch > 0) return;
    if (now > st->now) st->now = now;
    tcp_enter(st);
    while (ts->out_head) {
        struct tcb *t = ts->out_head;
        ts->out_head = t->out_next;
        t->out_pending = false;
        t->out_next = NULL;
        tcp_output(st, t);
    }
    tcp_leave(st);
}

void tcp_leave(struct stack *st)
{
    struct tcp_engine *ts = TS(st);
    if (--ts->depth > 0 || ts->flushing) return;
    ts->flushing = true;
    while (ts->ev_head) {
        struct tcb *t = ts->ev_head;
        ts->ev_head = t->ev_next;
        if (!ts->ev_head) ts->ev_tail = NULL;
        unsigned ev = t->ev_bits;
        t->ev_bits = 0;
        t->ev_queued = false;
        t->ev_next = NULL;
        /* t may be freed by what the callee does: not touched afterwards */
        if (t->echo)
            tcp_echo_event(st, t, ev);
        else
            stack_event(st, t->handle, ev);
    }
    ts->flushing = false;
}

void tcp_closed(struct stack *st, struct tcb *t)
{
    tcp_set_state(st, t, TCP_CLOSED);
    tcb_hash_remove(st, t);
    tcp_timer_clear_all(st, t);
    ring_release(&t->sndq);
    tcp_reass_free(t);
    tcp_sb_free(&t->sb);
    if (t->parent || t->handle <= 0) {
        tcb_free(st, t);
        return;
    }
    /* keep the received data readable? RFC 9293 flushes queues on reset: do so too */
    ring_release(&t->rcvq);
}

void tcp_abort_conn(struct stack *st, struct tcb *t, int err)
{
    t->error = err;
    tcp_post(st, t, SEV_ERROR);
    tcp_closed(st, t);
}

bool tcp_orphan(struct stack *st, struct tcb *t)
{
    struct tcp_engine *ts = TS(st);
    if (t->orphan) return true;
    t->orphan = true;
    ts->norphans++;
    st->stats.tcp_orphans++;
    if (ts->norphans <= st->cfg.max_orphans) return true;
    /* the newest gives way: the older ones are closer to finishing */
    TRACE(st, "[TCP ] too many orphans (%u): reset", ts->norphans);
    st->stats.tcp_orphan_overflow++;
    st->stats.tcp_resets++;
    tcp_send_rst(st, t);
    tcp_closed(st, t);
    return false;
}

void tcp_enter_time_wait(struct stack *st, struct tcb *t)
{
    tcp_set_state(st, t, TCP_TIME_WAIT);
    ring_release(&t->sndq);
    tcp_reass_free(t);
    tcp_sb_free(&t->sb);
    t->persist = false;
    tcp_timer_clear(st, t, TT_DELACK);
    if (t->handle <= 0 && !t->parent && !t->echo) {
        tcb_hash_remove(st, t);
        tw_enter(st, t);
        return;
    }
    /* a user still holds the handle: the full TCB waits, its receive ring kept readable */
    tcp_2msl_start(st, t);
}

/* ---- introspection ---- */

static void tcb_info(const struct tcb *t, struct stack_conn_info *ci)
{
    memset(ci, 0, sizeof *ci);
    ci->handle = t->handle > 0 ? t->handle : 0;
    ci->state = t->state;
    ci->laddr = t->laddr;
    ci->raddr = t->raddr;
    ci->lport = t->lport;
    ci->rport = t->rport;
    ci->snd_una = t->snd_una;
    ci->snd_nxt = t->snd_nxt;
    ci->snd_wnd = t->snd_wnd;
    ci->rcv_nxt = t->rcv_nxt;
    /* as the peer sees it: a scaled window field drops the low bits (7 bytes free with
     * shift 3 is a shut window) */
    uint32_t wnd = seq_gt(t->rcv_adv, t->rcv_nxt) ? t->rcv_adv - t->rcv_nxt : 0;
    ci->rcv_wnd = (wnd >> t->rcv_wscale) << t->rcv_wscale;
    ci->send_queue = ring_used(&t->sndq);
    ci->recv_queue = ring_used(&t->rcvq);
    ci->rto_ms = t->rto;
    ci->srtt_ms = t->srtt;
    ci->retransmits = t->retransmits;
    ci->cwnd = t->cwnd;
    ci->ssthresh = t->ssthresh;
    snprintf(ci->cc, sizeof ci->cc, "%s", t->cc ? t->cc->name : "");
    ci->rttvar_ms = t->rttvar;
    /* with SACK, what RFC 6675 counts as in the network (pipe) and the scoreboard's sums */
    ci->in_flight = t->sack_ok ? tcp_pipe(t) : t->snd_nxt - t->snd_una;
    ci->sacked = t->sb.sacked;
    ci->lost = t->sb.lost;
    ci->reord_seen = t->rack.reord_events;
    ci->delivery_rate = t->delivery_rate; /* 0 until a rate sample exists */
    ci->sack_ok = t->sack_ok;
    ci->ts_ok = t->ts_ok;
    ci->dup_segs_rcvd = t->dup_segs_rcvd;
    ci->ws_ok = t->ws_ok;
    ci->snd_wscale = t->snd_wscale;
    ci->rcv_wscale = t->rcv_wscale;
}

int stack_tcp_info(struct stack *st, int h, struct stack_conn_info *out)
{
    struct tcb *t = handle_get(st, h, HANDLE_TCP);
    if (!t) return -EBADF;
    tcb_info(t, out);
    return 0;
}

/* Visits one bucket (or handle slot) of the current phase; returns the entries listed. */
static size_t list_bucket(struct stack *st, uint32_t phase, uint32_t i,
                          void (*fn)(void *arg, const struct stack_conn_info *ci), void *arg)
{
    struct tcp_engine *ts = TS(st);
    struct stack_conn_info ci;
    size_t n = 0;
    switch (phase) {
    case 0:
        for (struct tcb *l = ts->lst_tab[i]; l; l = l->hnext, n++) {
            tcb_info(l, &ci);
            fn(arg, &ci);
            tcp_synq_foreach(st, l, fn, arg);
        }
        break;
    case 1:
        for (struct tcb *t = ts->conn_tab[i]; t; t = t->hnext, n++) {
            tcb_info(t, &ci);
            fn(arg, &ci);
        }
        break;
    case 2: {
        struct handle_slot *s = &st->handles[i];
        if (s->type == HANDLE_TCP && s->obj) {
            const struct tcb *t = s->obj;
            if (!t->in_hash && t->state != TCP_LISTEN) {
                tcb_info(t, &ci);
                fn(arg, &ci);
                n++;
            }
        }
        break;
    }
    default:
        for (struct tcp_tw *w = ts->tw_tab[i]; w; w = w->hnext, n++) {
            memset(&ci, 0, sizeof ci);
            ci.state = TCP_TIME_WAIT;
            ci.laddr = w->laddr;
            ci.raddr = w->raddr;
            ci.lport = w->lport;
            ci.rport = w->rport;
            ci.snd_una = ci.snd_nxt = w->snd_nxt;
            ci.rcv_nxt = w->rcv_nxt;
            fn(arg, &ci);
        }
        break;
    }
    return n;
}

/* Buckets of a phase (may change between calls: the tables grow). */
static uint32_t list_phase_len(struct stack *st, uint32_t phase)
{
    struct tcp_engine *ts = TS(st);
    switch (phase) {
    case 0:
        return 256;
    case 1:
        return ts->conn_tab ? ts->conn_mask + 1 : 0;
    case 2:
        return st->nhandles;
    case 3:
        return ts->tw_tab ? ts->tw_mask + 1 : 0;
    default:
        return 0;
    }
}

bool stack_tcp_list(struct stack *st, struct stack_list_cursor *c, size_t max_entries,
                    size_t max_buckets, void (*fn)(void *arg, const struct stack_conn_info *ci),
                    void *arg)
{
    size_t entries = 0, buckets = 0;
    while (c->phase < 4) {
        if (c->idx >= list_phase_len(st, c->phase)) {
            c->phase++;
            c->idx = 0;
            continue;
        }
        if (entries >= max_entries || buckets >= max_buckets) return false;
        entries += list_bucket(st, c->phase, c->idx++, fn, arg);
        buckets++;
    }
    return true;
}

void stack_tcp_foreach(struct stack *st, void (*fn)(void *arg, const struct stack_conn_info *ci),
                       void *arg)
{
    struct stack_list_cursor c = {0};
    stack_tcp_list(st, &c, SIZE_MAX, SIZE_MAX, fn, arg);
}
