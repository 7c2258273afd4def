/* User calls, RFC 9293 §3.10.1-§3.10.6: OPEN (listen/connect), SEND, RECEIVE, CLOSE
 * (close, and shutdown for the half-close), ABORT, STATUS (info/error). Each call may
 * queue events; they are delivered when the call returns (tcp_leave). */
#include <errno.h>

#include "tcp.h"

static struct tcb *get_tcb(struct stack *st, int h)
{
    return handle_get(st, h, HANDLE_TCP);
}

static void set_now(struct stack *st, stack_time_t now)
{
    if (now > st->now) st->now = now;
}

int stack_tcp_listen(struct stack *st, uint16_t port, int backlog)
{
    return stack_tcp_listen_fam(st, port, backlog, STACK_FAM_V4);
}

int stack_tcp_listen_fam(struct stack *st, uint16_t port, int backlog, unsigned fams)
{
    if (port == 0 || fams == 0 || (fams & ~(unsigned)(STACK_FAM_V4 | STACK_FAM_V6))) return -EINVAL;
    if ((fams & STACK_FAM_V6) && !st->cfg.has_addr6) return -EADDRNOTAVAIL;
    for (struct tcb *o = TS(st)->lst_tab[port & 255]; o; o = o->hnext)
        if (o->lport == port && (o->lfam & fams)) return -EADDRINUSE;
    struct tcb *l = tcb_new(st);
    if (!l) return -ENOMEM;
    l->lport = port;
    l->lfam = (uint8_t)fams;
    if (!(fams & STACK_FAM_V4)) l->laddr = ipa_from_v6(st->cfg.addr6);
    l->backlog = backlog < 1 ? 1 : backlog > 65535 ? 65535 : (uint32_t)backlog;
    int h = handle_alloc(st, HANDLE_TCP, l);
    if (h < 0) {
        tcb_free(st, l);
        return h;
    }
    l->handle = h;
    tcp_set_state(st, l, TCP_LISTEN);
    tcp_listener_add(st, l);
    return h;
}

int stack_tcp_accept(struct stack *st, int lh)
{
    struct tcb *l = get_tcb(st, lh);
    if (!l) return -EBADF;
    if (l->state != TCP_LISTEN) return -EINVAL;
    struct tcb *c = l->acceptq.head;
    if (!c) return -EAGAIN;
    int h = handle_alloc(st, HANDLE_TCP, c);
    if (h < 0) return h;
    tcb_list_remove(&l->acceptq, c);
    c->parent = NULL;
    c->handle = h;
    tcp_enter(st);
    if (ring_used(&c->rcvq) || c->fin_rcvd)
        tcp_post(st, c, SEV_READABLE | (c->fin_rcvd ? SEV_PEER_FIN : 0));
    tcp_leave(st);
    return h;
}

int stack_tcp_connect(struct stack *st, uint32_t raddr, uint16_t rport, uint16_t lport,
                      stack_time_t now)
{
    return stack_tcp_connect_addr(st, ipa_from_v4(raddr), rport, lport, now);
}

/* -EINVAL for addresses nothing can be connected to; -ENETUNREACH/-ECONNREFUSED for ours
 * and loopback (the stack has none): Linux without a loopback route says ENETUNREACH for
 * 127/8 (and ::1); for its own address with nothing listening, ECONNREFUSED. A listener
 * on our own address is unreachable too. 0 when raddr may be connected to. */
static int check_remote(struct stack *st, struct ip_addr ra, uint16_t rport)
{
    if (rport == 0 || ipa_is_any(ra)) return -EINVAL;
    if (ipa_is_v4(ra)) {
        uint32_t raddr = ipa_v4(ra);
        if (raddr == 0xffffffffu || (raddr >> 28) == 0xe) return -EINVAL;
        if ((raddr >> 24) == 127) return -ENETUNREACH;
        if (raddr == st->cfg.addr)
            return tcp_listener_for(st, ra, rport) ? -ENETUNREACH : -ECONNREFUSED;
        return 0;
    }
    static const uint8_t loopback[16] = {[15] = 1};
    if (ra.b[0] == 0xff) return -EINVAL; /* multicast */
    if (!st->cfg.has_addr6) return -ENETUNREACH;
    if (!memcmp(ra.b, loopback, 16)) return -ENETUNREACH;
    if (!memcmp(ra.b, st->cfg.addr6, 16))
        return tcp_listener_for(st, ra, rport) ? -ENETUNREACH : -ECONNREFUSED;
    return 0;
}

int stack_tcp_connect_addr(struct stack *st, struct ip_addr raddr, uint16_t rport, uint16_t lport,
                           stack_time_t now)
{
    set_now(st, now);
    int e = check_remote(st, raddr, rport);
    if (e) return e;
    struct ip_addr laddr = stack_local_addr(st, raddr);
    if (TS(st)->ntcb >= st->cfg.max_conns) {
        st->stats.tcp_conn_limit++;
        return -EAGAIN;
    }
    if (lport == 0) {
        int p = tcp_ephemeral_port(st, raddr, rport);
        if (p < 0) return p;
        lport = (uint16_t)p;
    } else if (tcb_lookup(st, laddr, lport, raddr, rport) ||
               tw_lookup(st, laddr, lport, raddr, rport)) {
        return -EADDRINUSE;
    }
    struct tcb *t = tcb_new(st);
    if (!t) return -ENOMEM;
    t->lport = lport;
    t->laddr = laddr;
    t->raddr = raddr;
    t->rport = rport;
    t->rcv_mss = stack_link_mss(st, raddr);
    int h = handle_alloc(st, HANDLE_TCP, t);
    if (h < 0) {
        tcb_free(st, t);
        return h;
    }
    t->handle = h;
    t->iss = tcp_isn(st, t->laddr, lport, raddr, rport);
    t->ts_offset = tcp_ts_offset(TS(st)->hkey, t->laddr, lport, raddr, rport);
    t->snd_una = t->snd_nxt = t->snd_max = t->iss;
    t->snd_sml = t->iss;
    t->snd_base = t->iss + 1;
    t->recover = t->iss; /* RFC 6582 §3.2 step 1 */
    tcp_cc_init(st, t);  /* until the SYN-ACK brings the MSS */
    tcb_hash_insert(st, t);
    st->stats.tcp_active_opens++;
    tcp_enter(st);
    tcp_set_state(st, t, TCP_SYN_SENT);
    t->rtt_active = true;
    t->rtt_seq = t->iss;
    t->rtt_start = st->now;
    tcp_send_syn(st, t);
    tcp_rtx_arm(st, t);
    tcp_leave(st);
    return h;
}

long stack_tcp_send(struct stack *st, int h, const void *buf, size_t len, stack_time_t now)
{
    set_now(st, now);
    struct tcb *t = get_tcb(st, h);
    if (!t) return -EBADF;
    switch (t->state) {
    case TCP_SYN_SENT:
    case TCP_SYN_RCVD:
    case TCP_ESTABLISHED:
    case TCP_CLOSE_WAIT:
        break;
    case TCP_LISTEN:
        return -ENOTCONN;
    default:
        return -EPIPE;
    }
    if (t->fin_queued || t->error) return -EPIPE;
    if (len == 0) return 0;
    uint32_t want = len > UINT32_MAX / 2 ? UINT32_MAX / 2 : (uint32_t)len;
    uint32_t n = ring_write(&t->sndq, buf, want);
    if (n == 0) {
        /* full, or refused by the memory bound: back-pressure, a SEV_WRITABLE follows */
        tcp_want_writable(st, t);
        return -EAGAIN;
    }
    if (n < len) tcp_want_writable(st, t);
    tcp_enter(st);
    tcp_output_soon(st, t);
    tcp_leave(st);
    return n;
}

long stack_tcp_recv(struct stack *st, int h, void *buf, size_t len, stack_time_t now)
{
    set_now(st, now);
    struct tcb *t = get_tcb(st, h);
    if (!t) return -EBADF;
    if (t->state == TCP_LISTEN) return -EINVAL;
    if (ring_used(&t->rcvq) && len) {
        uint32_t want = len > UINT32_MAX / 2 ? UINT32_MAX / 2 : (uint32_t)len;
        uint32_t n = ring_read(&t->rcvq, buf, want);
        tcp_enter(st);
        tcp_rcv_consumed(st, t, n);
        tcp_leave(st);
        return n;
    }
    if (len == 0 && ring_used(&t->rcvq)) return 0;
    if (t->error) return -t->error;
    if (t->fin_rcvd) return 0;
    if (t->state == TCP_CLOSED) return -ENOTCONN;
    return -EAGAIN;
}

size_t stack_tcp_recv_avail(struct stack *st, int h)
{
    struct tcb *t = get_tcb(st, h);
    return t ? ring_used(&t->rcvq) : 0;
}

size_t stack_tcp_send_space(struct stack *st, int h)
{
    struct tcb *t = get_tcb(st, h);
    if (!t || t->fin_queued || t->error) return 0;
    switch (t->state) {
    case TCP_SYN_SENT:
    case TCP_SYN_RCVD:
    case TCP_ESTABLISHED:
    case TCP_CLOSE_WAIT:
        return ring_offer(&t->sndq); /* credit that grows with use (ring.h) */
    default:
        return 0;
    }
}

void stack_tcp_notify_writable(struct stack *st, int h)
{
    struct tcb *t = get_tcb(st, h);
    if (t) tcp_want_writable(st, t);
}

/* CLOSE without reading: the FIN goes after the queued data (§3.10.4). */
static void queue_fin(struct stack *st, struct tcb *t)
{
    if (t->fin_queued) return;
    t->fin_queued = true;
    if (t->state == TCP_ESTABLISHED)
        tcp_set_state(st, t, TCP_FIN_WAIT_1);
    else if (t->state == TCP_CLOSE_WAIT)
        tcp_set_state(st, t, TCP_LAST_ACK);
    /* SYN_SENT / SYN_RCVD: sent once established */
    tcp_output_soon(st, t);
}

int stack_tcp_shutdown(struct stack *st, int h, stack_time_t now)
{
    set_now(st, now);
    struct tcb *t = get_tcb(st, h);
    if (!t) return -EBADF;
    switch (t->state) {
    case TCP_LISTEN:
    case TCP_CLOSED:
        return -ENOTCONN;
    case TCP_SYN_SENT:
    case TCP_SYN_RCVD:
    case TCP_ESTABLISHED:
    case TCP_CLOSE_WAIT:
        tcp_enter(st);
        queue_fin(st, t);
        tcp_leave(st);
        return 0;
    default:
        return 0; /* already shut down */
    }
}

static void close_listener(struct stack *st, struct tcb *l)
{
    /* un-accepted children and half-open entries are reset */
    tcp_synq_flush(st, l, true);
    while (l->acceptq.head) {
        struct tcb *c = l->acceptq.head;
        tcp_send_rst(st, c);
        tcp_closed(st, c);
    }
    tcb_free(st, l);
}

/* LISTEN, CLOSED and SYN_SENT have no synchronized peer to tell: CLOSE and ABORT both
 * just delete them (§3.10.4, §3.10.5). Returns false for the other states. */
static bool delete_unsynchronized(struct stack *st, struct tcb *t)
{
    switch (t->state) {
    case TCP_LISTEN:
        close_listener(st, t);
        return true;
    case TCP_CLOSED:
        tcb_free(st, t);
        return true;
    case TCP_SYN_SENT:
        tcp_closed(st, t);
        return true;
    default:
        return false;
    }
}

void tcp_user_close_tcb(struct stack *st, struct tcb *t)
{
    if (delete_unsynchronized(st, t)) return;
    if (ring_used(&t->rcvq) == 0 && t->state != TCP_TIME_WAIT && !tcp_orphan(st, t)) return;
    if (ring_used(&t->rcvq) > 0) {
        /* unread data: the peer must learn it was not delivered (RFC 9293 §3.10.4) */
        st->stats.tcp_resets++;
        tcp_send_rst(st, t);
        tcp_closed(st, t);
        return;
    }
    switch (t->state) {
    case TCP_SYN_RCVD:
    case TCP_ESTABLISHED:
    case TCP_CLOSE_WAIT:
        queue_fin(st, t);
        break;
    case TCP_FIN_WAIT_2:
        tcp_2msl_start(st, t);
        break;
    default: /* FIN_WAIT_1, CLOSING, LAST_ACK, TIME_WAIT: already on their way */
        break;
    }
}

/* The user gives the handle up; the TCB itself lives on in the engine. */
static struct tcb *release_handle(struct stack *st, int h, stack_time_t now)
{
    set_now(st, now);
    struct tcb *t = get_tcb(st, h);
    if (!t) return NULL;
    handle_release(st, h);
    t->handle = 0;
    return t;
}

int stack_tcp_close(struct stack *st, int h, stack_time_t now)
{
    struct tcb *t = release_handle(st, h, now);
    if (!t) return -EBADF;
    tcp_enter(st);
    tcp_user_close_tcb(st, t);
    tcp_leave(st);
    return 0;
}

int stack_tcp_abort(struct stack *st, int h, stack_time_t now)
{
    struct tcb *t = release_handle(st, h, now);
    if (!t) return -EBADF;
    tcp_enter(st);
    if (delete_unsynchronized(st, t)) {
        tcp_leave(st);
        return 0;
    }
    switch (t->state) {
    case TCP_SYN_RCVD:
    case TCP_ESTABLISHED:
    case TCP_FIN_WAIT_1:
    case TCP_FIN_WAIT_2:
    case TCP_CLOSE_WAIT:
        tcp_send_rst(st, t);
        /* fall through */
    default:
        tcp_closed(st, t);
        break;
    }
    tcp_leave(st);
    return 0;
}

int stack_sock_error(struct stack *st, int h)
{
    struct tcb *t = get_tcb(st, h);
    if (t) return t->error;
    if (handle_get(st, h, HANDLE_UDP)) return 0;
    return -EBADF;
}

int stack_tcp_set_cc(struct stack *st, int h, unsigned cc)
{
    struct tcb *t = get_tcb(st, h);
    if (!t) return -EBADF;
    const struct tcp_cc_ops *ops = tcp_cc_by_id(cc);
    if (!ops) return -EINVAL;
    tcp_cc_switch(st, t, ops);
    return 0;
}

const char *stack_cc_name(unsigned cc)
{
    const struct tcp_cc_ops *ops = tcp_cc_by_id(cc);
    return ops ? ops->name : NULL;
}

int stack_cc_by_name(const char *name)
{
    const struct tcp_cc_ops *ops = tcp_cc_by_name(name);
    return ops ? (int)ops->id : -1;
}

int stack_tcp_set_nodelay(struct stack *st, int h, bool on)
{
    struct tcb *t = get_tcb(st, h);
    if (!t) return -EBADF;
    bool was = t->nodelay;
    t->nodelay = on;
    if (on && !was) {
        tcp_enter(st);
        tcp_output(st, t); /* what Nagle held back goes now */
        tcp_leave(st);
    }
    return 0;
}

int stack_tcp_set_mem_group(struct stack *st, int h, struct mem_group *g)
{
    struct tcb *t = get_tcb(st, h);
    if (!t) return -EBADF;
    ring_set_group(&t->sndq, g);
    ring_set_group(&t->rcvq, g);
    return 0;
}

bool stack_tcp_opt_valid(enum stack_tcp_opt opt, uint32_t v)
{
    switch (opt) {
    case STACK_TCP_KEEPALIVE:
        return v <= 1;
    case STACK_TCP_KEEPIDLE:
    case STACK_TCP_KEEPINTVL:
        return v >= 1 && v <= STACK_KEEP_TIME_MAX;
    case STACK_TCP_KEEPCNT:
        return v >= 1 && v <= STACK_KEEPCNT_MAX;
    case STACK_TCP_USER_TIMEOUT:
        return v <= STACK_USER_TIMEOUT_MAX;
    }
    return false;
}

/* A timer already running is capped at once, so a user timeout set (or lowered) while
 * data is outstanding takes effect at its deadline. */
static void user_timeout_recap(struct stack *st, struct tcb *t)
{
    stack_time_t r = t->tmr[TT_RTX], p = t->tmr[TT_PERSIST];
    bool sync = t->state != TCP_SYN_SENT && t->state != TCP_SYN_RCVD;
    if (r && sync) t->tmr[TT_RTX] = tcp_user_timeout_cap(st, t, r, t->ut_start);
    if (p && t->probe_start) t->tmr[TT_PERSIST] = tcp_user_timeout_cap(st, t, p, t->probe_start);
    tcp_timer_update(st, t);
}

int stack_tcp_setopt(struct stack *st, int h, enum stack_tcp_opt opt, uint32_t v, stack_time_t now)
{
    struct tcb *t = get_tcb(st, h);
    if (!t) return -EBADF;
    if (!stack_tcp_opt_valid(opt, v)) return -EINVAL;
    set_now(st, now);
    switch (opt) {
    case STACK_TCP_KEEPALIVE:
        if (v && !t->keepalive) {
            t->keepalive = true;
            tcp_keepalive_start(st, t, true);
        } else if (!v && t->keepalive) {
            t->keepalive = false;
            tcp_keepalive_start(st, t, false); /* stops it */
        }
        break;
    case STACK_TCP_KEEPIDLE:
        t->ka_idle_ms = v * 1000u;
        if (t->keepalive) tcp_keepalive_start(st, t, false); /* from the last receipt */
        break;
    case STACK_TCP_KEEPINTVL:
        t->ka_intvl_ms = v * 1000u; /* from the next probe on */
        break;
    case STACK_TCP_KEEPCNT:
        t->ka_cnt = (uint8_t)v;
        break;
    case STACK_TCP_USER_TIMEOUT:
        t->user_timeout = v;
        user_timeout_recap(st, t);
        break;
    }
    return 0;
}

int stack_tcp_getopt(struct stack *st, int h, enum stack_tcp_opt opt, uint32_t *v)
{
    struct tcb *t = get_tcb(st, h);
    if (!t) return -EBADF;
    switch (opt) {
    case STACK_TCP_KEEPALIVE:
        *v = t->keepalive;
        return 0;
    case STACK_TCP_KEEPIDLE:
        *v = t->ka_idle_ms / 1000u;
        return 0;
    case STACK_TCP_KEEPINTVL:
        *v = t->ka_intvl_ms / 1000u;
        return 0;
    case STACK_TCP_KEEPCNT:
        *v = t->ka_cnt;
        return 0;
    case STACK_TCP_USER_TIMEOUT:
        *v = t->user_timeout;
        return 0;
    }
    return -EINVAL;
}
