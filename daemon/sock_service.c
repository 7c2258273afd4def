/* The socket service (sock_service.h): client sockets over the stack core.
 *
 * Data path (docs/ipc.md "Flow control"):
 *  - stack -> client: the daemon pulls received bytes out of the stack's receive ring
 *    straight into the session's output buffer (behind a reserved frame header), never
 *    more than the socket's receive credit (granted by the client as its application
 *    reads) and never while the session's output buffer is over OUT_SOFT. Bytes left in
 *    the stack keep the TCP window closed: a slow reader slows the peer.
 *  - client -> stack: the client sends DATA only within the send credit the daemon granted
 *    from stack_tcp_send_space(), so the daemon hands every DATA frame to the stack at once
 *    and buffers nothing beyond what it granted.
 *  - stack events are only recorded by server_on_stack_event (the core is mid-call then);
 *    the work is done in svc_run, called from the transport's ev_prepare watcher before
 *    every loop iteration blocks. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "daemon.h"
#include "sock_service.h"
#include "sock_service_internal.h"
#include "uds_transport.h"

#define PEND_MAX (8u * 1024 * 1024) /* never reached when the client honours its credit */

/* ---- handle -> socket map ---- */

static size_t hbucket(const struct sock_service *svc, int h)
{
    return ((uint32_t)h * 2654435761u) & (svc->hcap - 1);
}

static struct ssock *hfind(struct sock_service *svc, int h)
{
    if (!svc->hcap || h <= 0) return NULL;
    for (struct ssock *s = svc->htab[hbucket(svc, h)]; s; s = s->hnext)
        if (s->handle == h) return s;
    return NULL;
}

static int hinsert(struct sock_service *svc, struct ssock *s)
{
    if (svc->hcount + 1 > svc->hcap) {
        size_t ncap = svc->hcap ? svc->hcap * 2 : 256;
        struct ssock **nt = calloc(ncap, sizeof *nt);
        if (!nt) return -1;
        struct ssock **ot = svc->htab;
        size_t ocap = svc->hcap;
        svc->htab = nt;
        svc->hcap = ncap;
        for (size_t i = 0; i < ocap; i++) {
            for (struct ssock *x = ot[i], *nx; x; x = nx) {
                nx = x->hnext;
                size_t b = hbucket(svc, x->handle);
                x->hnext = svc->htab[b];
                svc->htab[b] = x;
            }
        }
        free(ot);
    }
    size_t b = hbucket(svc, s->handle);
    s->hnext = svc->htab[b];
    svc->htab[b] = s;
    svc->hcount++;
    return 0;
}

static void hremove(struct sock_service *svc, struct ssock *s)
{
    if (!svc->hcap || s->handle <= 0) return;
    for (struct ssock **pp = &svc->htab[hbucket(svc, s->handle)]; *pp; pp = &(*pp)->hnext) {
        if (*pp == s) {
            *pp = s->hnext;
            s->hnext = NULL;
            svc->hcount--;
            return;
        }
    }
}

/* ---- the work list ---- */

void work_add(struct ssock *s)
{
    struct sock_service *svc = s->sess->svc;
    if (s->in_work) return;
    s->in_work = true;
    s->wnext = NULL;
    s->wprev = svc->work_tail;
    if (svc->work_tail)
        svc->work_tail->wnext = s;
    else
        svc->work_head = s;
    svc->work_tail = s;
}

static void work_del(struct ssock *s)
{
    struct sock_service *svc = s->sess->svc;
    if (!s->in_work) return;
    if (s->wprev)
        s->wprev->wnext = s->wnext;
    else
        svc->work_head = s->wnext;
    if (s->wnext)
        s->wnext->wprev = s->wprev;
    else
        svc->work_tail = s->wprev;
    s->in_work = false;
    s->wnext = s->wprev = NULL;
}

/* Waits for the stack's SEV_WRITABLE: raised once, when an ACK frees send space. Nothing
 * polls the send space of a socket that waits (docs/architecture.md "Wake-ups"). */
void watch_space(struct sock_service *svc, struct ssock *s)
{
    if (s->handle > 0) stack_tcp_notify_writable(svc->d->st, s->handle);
}
static void push_event(struct ssock *s, uint8_t type, uint32_t err)
{
    struct proto_msg m = {.h = {.type = type, .sock_id = s->id}};
    if (type == PT_EV_ERROR) m.u.error.err = proto_err_from_errno((int)err);
    out_msg(s->sess, &m);
}

/* ---- sockets ---- */

/* The session's lists: every live socket, and the sockets waiting for output room or a
 * free socket slot. Both are walked only for what is on them. */
static void live_add(struct client_socks *cs, struct ssock *s)
{
    s->lprev = NULL;
    s->lnext = cs->live;
    if (cs->live) cs->live->lprev = s;
    cs->live = s;
}

static void live_del(struct client_socks *cs, struct ssock *s)
{
    if (s->lprev)
        s->lprev->lnext = s->lnext;
    else
        cs->live = s->lnext;
    if (s->lnext) s->lnext->lprev = s->lprev;
    s->lnext = s->lprev = NULL;
}

static void wait_add(struct ssock *s, uint8_t why)
{
    struct client_socks *cs = &s->sess->socks;
    if (s->waitq) return;
    s->waitq = why;
    if (why == WQ_STARVED) cs->nstarved++;
    s->qprev = NULL;
    s->qnext = cs->waiting;
    if (cs->waiting) cs->waiting->qprev = s;
    cs->waiting = s;
}

static void wait_del(struct ssock *s)
{
    struct client_socks *cs = &s->sess->socks;
    if (!s->waitq) return;
    if (s->waitq == WQ_STARVED) cs->nstarved--;
    s->waitq = WQ_NONE;
    if (s->qprev)
        s->qprev->qnext = s->qnext;
    else
        cs->waiting = s->qnext;
    if (s->qnext) s->qnext->qprev = s->qprev;
    s->qnext = s->qprev = NULL;
}

/* Puts the waiting sockets of one kind back on the work list. */
static void wait_wake(struct client_socks *cs, uint8_t why)
{
    for (struct ssock *s = cs->waiting, *nx; s; s = nx) {
        nx = s->qnext;
        if (s->waitq != why) continue;
        wait_del(s);
        work_add(s);
    }
}

static int udp_add(struct sock_service *svc, struct ssock *s)
{
    if (svc->nudp == svc->udp_cap) {
        uint32_t ncap = svc->udp_cap ? svc->udp_cap * 2 : 16;
        struct ssock **nv = realloc(svc->udp, ncap * sizeof *nv);
        if (!nv) return -1;
        svc->udp = nv;
        svc->udp_cap = ncap;
    }
    svc->udp[svc->nudp++] = s;
    s->udp_pos = svc->nudp;
    return 0;
}

static void udp_del(struct sock_service *svc, struct ssock *s)
{
    if (!s->udp_pos) return;
    struct ssock *last = svc->udp[--svc->nudp];
    svc->udp[s->udp_pos - 1] = last;
    last->udp_pos = s->udp_pos;
    s->udp_pos = 0;
}

struct ssock *sock_lookup(struct session *ss, uint32_t id)
{
    struct ssock *s = sock_table_get(&ss->socks.tab, id);
    return s && !s->close_pending ? s : NULL;
}

/* A new socket, or NULL with *err EMFILE (the client's or its uid's limit) or ENOMEM. */
struct ssock *sock_alloc(struct session *ss, uint8_t kind, int *err)
{
    if (ss->acct && (*err = access_sock_charge(&ss->srv->policy, &ss->srv->acl, ss->acct)))
        return NULL;
    struct ssock *s = calloc(1, sizeof *s);
    int full = 0;
    if (!s || !(s->id = sock_table_add(&ss->socks.tab, s, &full))) {
        free(s);
        if (ss->acct) access_sock_uncharge(ss->acct);
        *err = full ? EMFILE : ENOMEM;
        return NULL;
    }
    s->sess = ss;
    s->kind = kind;
    s->role = kind == PROTO_SOCK_DGRAM ? R_UDP : R_NEW;
    s->cc = -1;
    proto_credit_sender_init(&s->rcv_credit, PROTO_DEFAULT_RCV_WINDOW);
    live_add(&ss->socks, s);
    return s;
}

int sock_set_handle(struct ssock *s, int h)
{
    struct sock_service *svc = s->sess->svc;
    s->handle = h;
    if (hinsert(svc, s) < 0) return -1;
    if (s->role == R_UDP && !s->udp_pos && udp_add(svc, s) < 0) {
        hremove(svc, s);
        return -1;
    }
    return 0;
}

void sock_free(struct ssock *s)
{
    struct session *ss = s->sess;
    hremove(ss->svc, s);
    udp_del(ss->svc, s);
    work_del(s);
    wait_del(s);
    if (sock_table_get(&ss->socks.tab, s->id) == s) sock_table_del(&ss->socks.tab, s->id);
    live_del(&ss->socks, s);
    if (s->bound_port) ss->svc->port_refs[s->bound_port]--;
    bool uid_was_full = ss->acct && access_sock_full(&ss->srv->policy, ss->acct);
    if (ss->acct) access_sock_uncharge(ss->acct);
    free(s->pend);
    free(s);
    /* a slot is free again: listeners stopped at the limit may take connections; at the
     * uid's limit, those of every client of the uid (a walk only at that edge) */
    if (uid_was_full) {
        for (struct session *o = ss->srv->sessions; o; o = o->next)
            if (o->acct == ss->acct && o->socks.nstarved) wait_wake(&o->socks, WQ_STARVED);
    } else if (ss->socks.nstarved) {
        wait_wake(&ss->socks, WQ_STARVED);
    }
}

/* A listener's connections inherit it in the stack; a listener is closed with it attached
 * (its unaccepted connections are reset then, their charges returned). */
void sock_mem_attach(struct ssock *s, bool on)
{
    struct session *ss = s->sess;
    if (!ss->acct || s->handle <= 0 || s->kind != PROTO_SOCK_STREAM) return;
    stack_tcp_set_mem_group(ss->svc->d->st, s->handle, on ? &ss->acct->mem : NULL);
}

/* Releases the stack side of a socket as the kernel does at close. */
void sock_release(struct sock_service *svc, struct ssock *s, bool abort)
{
    struct stack *st = svc->d->st;
    stack_time_t now = daemon_now();
    if (s->handle > 0) {
        hremove(svc, s);
        switch (s->role) {
        case R_LISTEN:
            stack_tcp_close(st, s->handle, now);
            break;
        case R_CONN:
            /* what the connection still holds after close is no longer the uid's */
            sock_mem_attach(s, false);
            if (s->pend_len && !abort) {
                /* last chance for bytes the stack had no room for; a FIN after a hole
                 * would pass a truncated stream off as complete: reset instead */
                long r = stack_tcp_send(st, s->handle, s->pend, s->pend_len, now);
                if (r < 0 || (size_t)r < s->pend_len) abort = true;
            }
            if (abort || s->linger0)
                stack_tcp_abort(st, s->handle, now);
            else
                stack_tcp_close(st, s->handle, now);
            break;
        case R_UDP:
            stack_udp_close(st, s->handle);
            break;
        default:
            break;
        }
        s->handle = 0;
    }
}

int pend_append(struct ssock *s, const uint8_t *p, size_t n)
{
    if (s->pend_len + n > s->pend_cap) {
        size_t ncap = s->pend_cap ? s->pend_cap : 16384;
        while (ncap < s->pend_len + n)
            ncap *= 2;
        if (ncap > PEND_MAX) return -1;
        uint8_t *nb = realloc(s->pend, ncap);
        if (!nb) return -1;
        s->pend = nb;
        s->pend_cap = ncap;
    }
    memcpy(s->pend + s->pend_len, p, n);
    s->pend_len += n;
    return 0;
}

/* The stack refused bytes for good (ENOMEM, or any error but EAGAIN). A stream must never
 * go on with a hole in it: a connection the stack already failed reports its own error
 * (SEV_ERROR); any other is reset and its client told why. */
void send_failed(struct sock_service *svc, struct ssock *s, long err)
{
    struct stack *st = svc->d->st;
    s->pend_len = 0;
    if (s->handle <= 0) return;
    if (stack_sock_error(st, s->handle)) {
        work_add(s);
        return;
    }
    hremove(svc, s);
    sock_mem_attach(s, false);
    stack_tcp_abort(st, s->handle, daemon_now());
    s->handle = 0;
    if (!s->close_pending && !s->err_sent) {
        push_event(s, PT_EV_ERROR, (uint32_t)-err);
        s->err_sent = true;
    }
}

/* Hands pending bytes to the stack; what it cannot take yet waits for SEV_WRITABLE. */
static void pend_flush(struct sock_service *svc, struct ssock *s)
{
    if (!s->pend_len || s->handle <= 0) return;
    long r = stack_tcp_send(svc->d->st, s->handle, s->pend, s->pend_len, daemon_now());
    if (r > 0) {
        memmove(s->pend, s->pend + r, s->pend_len - (size_t)r);
        s->pend_len -= (size_t)r;
    } else if (r != -EAGAIN) {
        send_failed(svc, s, r);
        return;
    }
    if (s->pend_len) watch_space(svc, s);
}

/* ---- the work done for one socket (in the prepare watcher) ---- */

static void do_listener(struct sock_service *svc, struct ssock *l)
{
    struct session *ss = l->sess;
    struct stack *st = svc->d->st;
    while (proto_credit_may_push(&l->rcv_credit)) {
        if (!out_room(ss)) {
            wait_add(l, WQ_BLOCKED);
            return;
        }
        if (ss->socks.tab.n >= MAX_SOCKS_PER_CLIENT ||
            (ss->acct && access_sock_full(&ss->srv->policy, ss->acct))) {
            wait_add(l, WQ_STARVED); /* the stack's queue fills; SYNs wait */
            return;
        }
        int h = stack_tcp_accept(st, l->handle);
        if (h < 0) return; /* -EAGAIN: none ready */
        int err;
        struct ssock *s = sock_alloc(ss, PROTO_SOCK_STREAM, &err);
        if (!s || sock_set_handle(s, h) < 0) {
            if (s) sock_free(s);
            stack_tcp_abort(st, h, daemon_now());
            return;
        }
        s->role = R_CONN; /* charged to the uid already: inherited from the listener */
        s->cc = l->cc;    /* the stack passed the listener's options on */
        s->nodelay = l->nodelay;
        s->keepalive = l->keepalive;
        s->keepcnt = l->keepcnt;
        s->keepidle = l->keepidle;
        s->keepintvl = l->keepintvl;
        s->user_timeout = l->user_timeout;
        struct stack_conn_info ci = {0};
        stack_tcp_info(st, h, &ci);
        s->lport = ci.lport;
        size_t space = stack_tcp_send_space(st, h);
        s->snd_credit = s->snd_cap = space > UINT32_MAX ? UINT32_MAX : (uint32_t)space;
        struct proto_msg m = {.h = {.type = PT_EV_ACCEPTED, .sock_id = l->id}};
        m.u.accepted.new_id = s->id;
        m.u.accepted.laddr = ipa_v4_or_0(ci.laddr);
        m.u.accepted.raddr = ipa_v4_or_0(ci.raddr);
        m.u.accepted.lport = ci.lport;
        m.u.accepted.rport = ci.rport;
        m.u.accepted.send_credit = s->snd_credit;
        out_msg(ss, &m);
        proto_credit_charge(&l->rcv_credit, 1);
        work_add(s); /* data (or a FIN) may have arrived with the handshake */
    }
}

/* Offers the client more send credit when the stack has room for it. */
static void grant_send_credit(struct sock_service *svc, struct ssock *s)
{
    if (s->role != R_CONN || s->connecting || s->err_sent || s->shut_pending || s->shut_done ||
        s->close_pending || s->handle <= 0)
        return;
    if (s->pend_len) return; /* the stack refused them: it raises SEV_WRITABLE */
    size_t space = stack_tcp_send_space(svc->d->st, s->handle);
    /* the offer grows with the send ring (from 4 KiB): the grant threshold follows it */
    if (space > s->snd_cap) s->snd_cap = space > UINT32_MAX ? UINT32_MAX : (uint32_t)space;
    if (space > s->snd_credit) {
        size_t avail = space - s->snd_credit;
        if (avail > UINT32_MAX - s->snd_credit) avail = UINT32_MAX - s->snd_credit;
        uint32_t min = s->snd_cap / 4 < GRANT_MIN ? s->snd_cap / 4 : GRANT_MIN;
        if (avail >= (min ? min : 1)) {
            struct proto_msg m = {.h = {.type = PT_SEND_CREDIT, .sock_id = s->id}};
            m.u.credit.n = (uint32_t)avail;
            out_msg(s->sess, &m);
            s->snd_credit += (uint32_t)avail;
        }
    }
    /* keep watching while the client could use more than it holds */
    if (s->snd_credit < GRANT_MIN) watch_space(svc, s);
}

static void do_conn(struct sock_service *svc, struct ssock *s, unsigned ev)
{
    struct session *ss = s->sess;
    struct stack *st = svc->d->st;
    stack_time_t now = daemon_now();
    (void)ev;

    if (s->close_pending) { /* closed by the client: only its last bytes remain to send */
        pend_flush(svc, s);
        if (!s->pend_len || s->handle <= 0) {
            sock_release(svc, s, false);
            sock_free(s);
        }
        return;
    }
    if (s->handle <= 0) { /* aborted by send_failed, which reported the error */
        if (!s->err_sent && !s->eof_sent) {
            push_event(s, PT_EV_ERROR, ECONNRESET);
            s->err_sent = true;
        }
        return;
    }

    if (s->connecting) {
        int e = stack_sock_error(st, s->handle);
        struct stack_conn_info ci = {0};
        stack_tcp_info(st, s->handle, &ci);
        if (e) {
            s->connecting = false;
            push_event(s, PT_EV_ERROR, (uint32_t)e);
            s->err_sent = true;
            return;
        }
        if (ci.state == TCP_SYN_SENT || ci.state == TCP_SYN_RCVD) return;
        s->connecting = false;
        size_t space = stack_tcp_send_space(st, s->handle);
        s->snd_credit = s->snd_cap = space > UINT32_MAX ? UINT32_MAX : (uint32_t)space;
        struct proto_msg m = {.h = {.type = PT_EV_CONNECTED, .sock_id = s->id}};
        m.u.connected.laddr = ipa_v4_or_0(ci.laddr);
        m.u.connected.lport = ci.lport;
        m.u.connected.send_credit = s->snd_credit;
        out_msg(ss, &m);
    }

    /* receive: stack ring -> output buffer, within credit and output room */
    while (!s->eof_sent && !s->err_sent) {
        if (!out_room(ss)) {
            wait_add(s, WQ_BLOCKED);
            break;
        }
        size_t want = proto_credit_stream_limit(&s->rcv_credit, PROTO_MAX_PAYLOAD);
        if (want == 0) {
            /* no credit: only an EOF or an error can still be reported */
            if (stack_tcp_recv_avail(st, s->handle) != 0) break;
            want = 1;
        }
        uint8_t *p = out_reserve(ss, PROTO_HDR_LEN + want);
        if (!p) break;
        long n = stack_tcp_recv(st, s->handle, p + PROTO_HDR_LEN, want, now);
        if (n > 0) {
            proto_encode_hdr(p, PT_DATA, 0, 0, s->id, (uint32_t)n);
            out_commit(ss, PROTO_HDR_LEN + (size_t)n);
            proto_credit_charge(&s->rcv_credit, (uint32_t)n);
            continue;
        }
        if (n == 0) {
            push_event(s, PT_EV_EOF, 0);
            s->eof_sent = true;
        } else if (n != -EAGAIN) {
            push_event(s, PT_EV_ERROR, (uint32_t)-n);
            s->err_sent = true;
        }
        break;
    }
    if (!s->err_sent) {
        int e = stack_sock_error(st, s->handle);
        /* a reset after the peer's FIN is still reported */
        if (e && stack_tcp_recv_avail(st, s->handle) == 0) {
            push_event(s, PT_EV_ERROR, (uint32_t)e);
            s->err_sent = true;
        }
    }

    /* send: pending bytes, then credit */
    pend_flush(svc, s);
    if (s->shut_pending && !s->pend_len) {
        stack_tcp_shutdown(st, s->handle, now);
        s->shut_pending = false;
        s->shut_done = true;
    }
    grant_send_credit(svc, s);
}

static void do_udp(struct sock_service *svc, struct ssock *s)
{
    struct session *ss = s->sess;
    if (s->handle <= 0) return;
    while (proto_credit_may_push(&s->rcv_credit)) {
        if (!out_room(ss)) {
            wait_add(s, WQ_BLOCKED);
            return;
        }
        uint8_t *p = out_reserve(ss, PROTO_MAX_FRAME);
        if (!p) return;
        uint32_t addr;
        uint16_t port;
        long n = stack_udp_recvfrom(svc->d->st, s->handle, p + PROTO_HDR_LEN + 8,
                                    PROTO_MAX_PAYLOAD - 8, &addr, &port);
        if (n < 0) return;
        proto_encode_hdr(p, PT_DGRAM, 0, 0, s->id, (uint32_t)n + 8);
        proto_put32(p + PROTO_HDR_LEN, addr);
        proto_put16(p + PROTO_HDR_LEN + 4, port);
        proto_put16(p + PROTO_HDR_LEN + 6, 0);
        out_commit(ss, PROTO_HDR_LEN + 8 + (size_t)n);
        /* a datagram goes out whole when any credit is left; the overshoot is charged in
         * full (credit goes negative), as the library returns the full cost when it is read */
        proto_credit_charge(&s->rcv_credit, credit_dgram_cost((size_t)n));
    }
}

static void sock_work(struct sock_service *svc, struct ssock *s)
{
    unsigned ev = s->pending_ev;
    s->pending_ev = 0;
    wait_del(s);
    switch (s->role) {
    case R_LISTEN:
        do_listener(svc, s);
        break;
    case R_CONN:
        do_conn(svc, s, ev);
        break;
    case R_UDP:
        do_udp(svc, s);
        break;
    default:
        break;
    }
}

/* Runs the queued socket work: only sockets that had an event or a request. */
void svc_run(struct sock_service *svc)
{
    while (svc->work_head) {
        struct ssock *s = svc->work_head;
        work_del(s);
        svc->visits++;
        sock_work(svc, s);
    }
}

bool svc_has_work(const struct sock_service *svc)
{
    return svc->work_head != NULL;
}

void svc_output_room(struct session *ss)
{
    wait_wake(&ss->socks, WQ_BLOCKED);
}

void svc_session_closed(struct session *ss)
{
    /* like the kernel at process exit: FIN (or RST when data was left unread, which the
     * engine decides), listeners and UDP ports freed at once */
    while (ss->socks.live) {
        struct ssock *s = ss->socks.live;
        sock_release(ss->svc, s, false);
        sock_free(s);
    }
    sock_table_fini(&ss->socks.tab);
}

struct ssock *svc_find(struct sock_service *svc, int handle)
{
    return hfind(svc, handle);
}

int svc_init(struct sock_service *svc, struct daemon *d)
{
    svc->d = d;
    svc->port_refs = calloc(65536, sizeof *svc->port_refs);
    return svc->port_refs ? 0 : -1;
}

void svc_fini(struct sock_service *svc)
{
    free(svc->htab);
    free(svc->port_refs);
    free(svc->udp);
    svc->udp = NULL;
    svc->nudp = svc->udp_cap = 0;
    svc->htab = NULL;
    svc->port_refs = NULL;
}

void server_on_stack_event(struct daemon *d, int handle, unsigned events)
{
    if (!d->srv) return;
    struct sock_service *svc = &d->srv->svc;
    struct ssock *s = hfind(svc, handle);
    if (!s) return; /* a built-in service, or a socket its client already closed */
    s->pending_ev |= events;
    work_add(s);
}
