/* Client sessions: the Unix-socket listener of minitcpd and one session per connected
 * client process. Frames (proto/) in, stack user calls out; stack events in, frames out.
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
 *    the work is done in an ev_prepare watcher that runs before every loop iteration
 *    blocks, which also batches every session's output into one write per iteration. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon.h"
#include "frames.h"

#define MAX_SOCKS_PER_CLIENT 16384 /* a server app must be able to hold 10k+ connections */
#define MAX_CLIENTS 4096
#define OUT_SOFT (1024u * 1024u)       /* output bytes beyond which a session stops pulling */
#define IN_CAP (2 * PROTO_MAX_FRAME)   /* input buffer: at least one whole frame */
#define READ_BUDGET (4u * 1024 * 1024) /* bytes read from one client per wakeup */
#define GRANT_MIN (16u * 1024)         /* smallest send-credit update worth a frame */
#define PEND_MAX (8u * 1024 * 1024)    /* never reached when the client honours its credit */

enum role { R_NEW, R_LISTEN, R_CONN, R_UDP };

struct ssock {
    struct session *sess;
    uint32_t id;
    int handle; /* stack handle, 0 = none */
    uint8_t kind;
    uint8_t role;
    uint16_t lport;
    uint16_t slot;       /* index in the session's slot table */
    uint16_t bound_port; /* port taken by an explicit bind (counted in srv->port_refs) */
    uint32_t snd_cap;    /* send space when connected: scales the credit threshold */
    bool connecting, eof_sent, err_sent, linger0;
    bool close_pending, shut_pending, shut_done;
    bool blocked; /* stopped for lack of output room */
    unsigned pending_ev;
    uint32_t rcv_credit; /* bytes (listener: accepts) we may push to the client */
    uint32_t snd_credit; /* send credit the client holds */
    uint8_t *pend;       /* bytes the stack did not take yet */
    size_t pend_len, pend_cap;
    struct ssock *hnext;         /* handle hash chain */
    struct ssock *wnext, *wprev; /* work list */
    struct ssock *snext, *sprev; /* starved list (waiting for send space) */
    bool in_work, in_starved;
};

struct session {
    struct server *srv;
    int fd;
    ev_io rio, wio;
    pid_t pid;
    uid_t uid;
    gid_t gid;
    uint8_t *in;
    size_t in_len;
    uint8_t *out;
    size_t out_off, out_len, out_cap;
    struct ssock *slots[MAX_SOCKS_PER_CLIENT];
    uint16_t gens[MAX_SOCKS_PER_CLIENT];
    unsigned nsocks;
    unsigned free_hint; /* no free slot below this index */
    bool read_paused;
    bool any_blocked;
    bool accept_starved; /* a listener stopped at the socket limit */
    struct session *next, *prev;
};

struct server {
    struct daemon *d;
    int lfd;
    ev_io lio;
    ev_prepare prep;
    char *path;
    struct session *sessions;
    unsigned nsessions;
    struct ssock **htab;
    size_t hcap, hcount;
    struct ssock *work_head, *work_tail;
    struct ssock *starved;
    uint16_t *port_refs; /* per port: client sockets bound to it (bind's EADDRINUSE) */
};

static void session_close(struct session *ss, const char *why);

/* ---- handle -> socket map ---- */

static size_t hbucket(const struct server *srv, int h)
{
    return ((uint32_t)h * 2654435761u) & (srv->hcap - 1);
}

static struct ssock *hfind(struct server *srv, int h)
{
    if (!srv->hcap || h <= 0) return NULL;
    for (struct ssock *s = srv->htab[hbucket(srv, h)]; s; s = s->hnext)
        if (s->handle == h) return s;
    return NULL;
}

static int hinsert(struct server *srv, struct ssock *s)
{
    if (srv->hcount + 1 > srv->hcap) {
        size_t ncap = srv->hcap ? srv->hcap * 2 : 256;
        struct ssock **nt = calloc(ncap, sizeof *nt);
        if (!nt) return -1;
        struct ssock **ot = srv->htab;
        size_t ocap = srv->hcap;
        srv->htab = nt;
        srv->hcap = ncap;
        for (size_t i = 0; i < ocap; i++) {
            for (struct ssock *x = ot[i], *nx; x; x = nx) {
                nx = x->hnext;
                size_t b = hbucket(srv, x->handle);
                x->hnext = srv->htab[b];
                srv->htab[b] = x;
            }
        }
        free(ot);
    }
    size_t b = hbucket(srv, s->handle);
    s->hnext = srv->htab[b];
    srv->htab[b] = s;
    srv->hcount++;
    return 0;
}

static void hremove(struct server *srv, struct ssock *s)
{
    if (!srv->hcap || s->handle <= 0) return;
    for (struct ssock **pp = &srv->htab[hbucket(srv, s->handle)]; *pp; pp = &(*pp)->hnext) {
        if (*pp == s) {
            *pp = s->hnext;
            s->hnext = NULL;
            srv->hcount--;
            return;
        }
    }
}

/* ---- work and starved lists ---- */

static void work_add(struct ssock *s)
{
    struct server *srv = s->sess->srv;
    if (s->in_work) return;
    s->in_work = true;
    s->wnext = NULL;
    s->wprev = srv->work_tail;
    if (srv->work_tail)
        srv->work_tail->wnext = s;
    else
        srv->work_head = s;
    srv->work_tail = s;
}

static void work_del(struct ssock *s)
{
    struct server *srv = s->sess->srv;
    if (!s->in_work) return;
    if (s->wprev)
        s->wprev->wnext = s->wnext;
    else
        srv->work_head = s->wnext;
    if (s->wnext)
        s->wnext->wprev = s->wprev;
    else
        srv->work_tail = s->wprev;
    s->in_work = false;
    s->wnext = s->wprev = NULL;
}

static void starved_add(struct ssock *s)
{
    struct server *srv = s->sess->srv;
    if (s->in_starved) return;
    s->in_starved = true;
    s->sprev = NULL;
    s->snext = srv->starved;
    if (srv->starved) srv->starved->sprev = s;
    srv->starved = s;
}

static void starved_del(struct ssock *s)
{
    struct server *srv = s->sess->srv;
    if (!s->in_starved) return;
    if (s->sprev)
        s->sprev->snext = s->snext;
    else
        srv->starved = s->snext;
    if (s->snext) s->snext->sprev = s->sprev;
    s->in_starved = false;
    s->snext = s->sprev = NULL;
}

/* ---- output buffer ---- */

static size_t out_pending(const struct session *ss)
{
    return ss->out_len - ss->out_off;
}

static uint8_t *out_reserve(struct session *ss, size_t n)
{
    if (ss->out_off == ss->out_len) ss->out_off = ss->out_len = 0;
    if (ss->out_len + n > ss->out_cap && ss->out_off) {
        memmove(ss->out, ss->out + ss->out_off, ss->out_len - ss->out_off);
        ss->out_len -= ss->out_off;
        ss->out_off = 0;
    }
    if (ss->out_len + n > ss->out_cap) {
        size_t ncap = ss->out_cap ? ss->out_cap : 256 * 1024;
        while (ncap < ss->out_len + n)
            ncap *= 2;
        uint8_t *nb = realloc(ss->out, ncap);
        if (!nb) return NULL;
        ss->out = nb;
        ss->out_cap = ncap;
    }
    return ss->out + ss->out_len;
}

/* Queues a small control frame. Allowed beyond OUT_SOFT: these are bounded by the
 * requests read (reading stops over OUT_SOFT) and by one event per socket state change. */
static void out_msg(struct session *ss, const struct proto_msg *m)
{
    long pl = proto_payload_len(m);
    if (pl < 0) return;
    uint8_t *p = out_reserve(ss, PROTO_HDR_LEN + (size_t)pl);
    if (!p) return;
    long n = proto_encode(m, p, PROTO_HDR_LEN + (size_t)pl);
    if (n > 0) ss->out_len += (size_t)n;
}

static void reply(struct session *ss, const struct proto_hdr *req, uint32_t sock_id, int err,
                  uint32_t val0, uint32_t val1)
{
    if (!req->req_id) return;
    struct proto_msg m = {.h = {.type = PT_REPLY, .req_id = req->req_id, .sock_id = sock_id}};
    m.u.reply.status = err ? proto_err_from_errno(err) : PE_OK;
    m.u.reply.val0 = val0;
    m.u.reply.val1 = val1;
    out_msg(ss, &m);
}

static void push_event(struct ssock *s, uint8_t type, uint32_t err)
{
    struct proto_msg m = {.h = {.type = type, .sock_id = s->id}};
    if (type == PT_EV_ERROR) m.u.error.err = proto_err_from_errno((int)err);
    out_msg(s->sess, &m);
}

/* ---- sockets ---- */

static struct ssock *sock_lookup(struct session *ss, uint32_t id)
{
    uint32_t idx = (id & 0xffffu) - 1;
    if (idx >= MAX_SOCKS_PER_CLIENT) return NULL;
    struct ssock *s = ss->slots[idx];
    return s && s->id == id ? s : NULL;
}

static struct ssock *sock_alloc(struct session *ss, uint8_t kind)
{
    if (ss->nsocks >= MAX_SOCKS_PER_CLIENT) return NULL;
    unsigned idx = ss->free_hint;
    while (ss->slots[idx])
        idx++;
    ss->free_hint = idx + 1;
    struct ssock *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    if (++ss->gens[idx] == 0) ss->gens[idx] = 1;
    s->id = (uint32_t)ss->gens[idx] << 16 | (idx + 1);
    s->slot = (uint16_t)idx;
    s->sess = ss;
    s->kind = kind;
    s->role = kind == PROTO_SOCK_DGRAM ? R_UDP : R_NEW;
    s->rcv_credit = PROTO_DEFAULT_RCV_WINDOW;
    ss->slots[idx] = s;
    ss->nsocks++;
    return s;
}

static int sock_set_handle(struct ssock *s, int h)
{
    s->handle = h;
    return hinsert(s->sess->srv, s);
}

static void sock_free(struct ssock *s)
{
    struct session *ss = s->sess;
    hremove(ss->srv, s);
    work_del(s);
    starved_del(s);
    if (ss->slots[s->slot] == s) {
        ss->slots[s->slot] = NULL;
        ss->nsocks--;
        if (s->slot < ss->free_hint) ss->free_hint = s->slot;
    }
    if (s->bound_port) ss->srv->port_refs[s->bound_port]--;
    free(s->pend);
    free(s);
    if (ss->accept_starved) {
        /* a slot is free again: listeners may take connections */
        ss->accept_starved = false;
        for (unsigned i = 0; i < MAX_SOCKS_PER_CLIENT; i++)
            if (ss->slots[i] && ss->slots[i]->role == R_LISTEN) work_add(ss->slots[i]);
    }
}

/* Releases the stack side of a socket as the kernel does at close. */
static void sock_release(struct server *srv, struct ssock *s, bool abort)
{
    struct stack *st = srv->d->st;
    stack_time_t now = daemon_now();
    if (s->handle > 0) {
        hremove(srv, s);
        switch (s->role) {
        case R_LISTEN:
            stack_tcp_close(st, s->handle, now);
            break;
        case R_CONN:
            if (s->pend_len && !abort) /* last chance for bytes the stack had no room for */
                (void)stack_tcp_send(st, s->handle, s->pend, s->pend_len, now);
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

static int pend_append(struct ssock *s, const uint8_t *p, size_t n)
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

/* Hands pending bytes to the stack. */
static void pend_flush(struct server *srv, struct ssock *s)
{
    if (!s->pend_len || s->handle <= 0) return;
    long r = stack_tcp_send(srv->d->st, s->handle, s->pend, s->pend_len, daemon_now());
    if (r > 0) {
        memmove(s->pend, s->pend + r, s->pend_len - (size_t)r);
        s->pend_len -= (size_t)r;
    } else if (r != -EAGAIN) {
        s->pend_len = 0; /* the connection is gone; its error event tells the client */
    }
}

/* ---- the work done for one socket (in the prepare watcher) ---- */

static bool out_room(const struct session *ss)
{
    return out_pending(ss) < OUT_SOFT;
}

static void do_listener(struct server *srv, struct ssock *l)
{
    struct session *ss = l->sess;
    struct stack *st = srv->d->st;
    while (l->rcv_credit > 0) {
        if (!out_room(ss)) {
            l->blocked = ss->any_blocked = true;
            return;
        }
        if (ss->nsocks >= MAX_SOCKS_PER_CLIENT) {
            ss->accept_starved = true; /* the stack's queue fills; SYNs wait */
            return;
        }
        int h = stack_tcp_accept(st, l->handle);
        if (h < 0) return; /* -EAGAIN: none ready */
        struct ssock *s = sock_alloc(ss, PROTO_SOCK_STREAM);
        if (!s || sock_set_handle(s, h) < 0) {
            if (s) sock_free(s);
            stack_tcp_abort(st, h, daemon_now());
            return;
        }
        s->role = R_CONN;
        struct stack_conn_info ci = {0};
        stack_tcp_info(st, h, &ci);
        s->lport = ci.lport;
        size_t space = stack_tcp_send_space(st, h);
        s->snd_credit = s->snd_cap = space > UINT32_MAX ? UINT32_MAX : (uint32_t)space;
        struct proto_msg m = {.h = {.type = PT_EV_ACCEPTED, .sock_id = l->id}};
        m.u.accepted.new_id = s->id;
        m.u.accepted.laddr = ci.laddr;
        m.u.accepted.raddr = ci.raddr;
        m.u.accepted.lport = ci.lport;
        m.u.accepted.rport = ci.rport;
        m.u.accepted.send_credit = s->snd_credit;
        out_msg(ss, &m);
        l->rcv_credit--;
        work_add(s); /* data (or a FIN) may have arrived with the handshake */
    }
}

/* Offers the client more send credit when the stack has room for it. */
static void grant_send_credit(struct server *srv, struct ssock *s)
{
    if (s->role != R_CONN || s->connecting || s->err_sent || s->shut_pending || s->shut_done ||
        s->close_pending || s->handle <= 0)
        return;
    if (s->pend_len) {
        starved_add(s);
        return;
    }
    size_t space = stack_tcp_send_space(srv->d->st, s->handle);
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
    if (s->snd_credit < GRANT_MIN)
        starved_add(s);
    else
        starved_del(s);
}

static void do_conn(struct server *srv, struct ssock *s, unsigned ev)
{
    struct session *ss = s->sess;
    struct stack *st = srv->d->st;
    stack_time_t now = daemon_now();
    (void)ev;

    if (s->close_pending) { /* closed by the client: only its last bytes remain to send */
        pend_flush(srv, s);
        if (!s->pend_len || s->handle <= 0) {
            sock_release(srv, s, false);
            sock_free(s);
        }
        return;
    }
    if (s->handle <= 0) { /* released under us (SEV_RELEASED) */
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
        m.u.connected.laddr = ci.laddr;
        m.u.connected.lport = ci.lport;
        m.u.connected.send_credit = s->snd_credit;
        out_msg(ss, &m);
    }

    /* receive: stack ring -> output buffer, within credit and output room */
    while (!s->eof_sent && !s->err_sent) {
        if (!out_room(ss)) {
            s->blocked = ss->any_blocked = true;
            break;
        }
        size_t want = s->rcv_credit;
        if (want == 0) {
            /* no credit: only an EOF or an error can still be reported */
            if (stack_tcp_recv_avail(st, s->handle) != 0) break;
            want = 1;
        }
        if (want > PROTO_MAX_PAYLOAD) want = PROTO_MAX_PAYLOAD;
        uint8_t *p = out_reserve(ss, PROTO_HDR_LEN + want);
        if (!p) break;
        long n = stack_tcp_recv(st, s->handle, p + PROTO_HDR_LEN, want, now);
        if (n > 0) {
            proto_encode_hdr(p, PT_DATA, 0, 0, s->id, (uint32_t)n);
            ss->out_len += PROTO_HDR_LEN + (size_t)n;
            s->rcv_credit = (size_t)n >= s->rcv_credit ? 0 : s->rcv_credit - (uint32_t)n;
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
    pend_flush(srv, s);
    if (s->shut_pending && !s->pend_len) {
        stack_tcp_shutdown(st, s->handle, now);
        s->shut_pending = false;
        s->shut_done = true;
    }
    grant_send_credit(srv, s);
}

static void do_udp(struct server *srv, struct ssock *s)
{
    struct session *ss = s->sess;
    if (s->handle <= 0) return;
    while (s->rcv_credit > 0) {
        if (!out_room(ss)) {
            s->blocked = ss->any_blocked = true;
            return;
        }
        uint8_t *p = out_reserve(ss, PROTO_MAX_FRAME);
        if (!p) return;
        uint32_t addr;
        uint16_t port;
        long n = stack_udp_recvfrom(srv->d->st, s->handle, p + PROTO_HDR_LEN + 8,
                                    PROTO_MAX_PAYLOAD - 8, &addr, &port);
        if (n < 0) return;
        proto_encode_hdr(p, PT_DGRAM, 0, 0, s->id, (uint32_t)n + 8);
        proto_put32(p + PROTO_HDR_LEN, addr);
        proto_put16(p + PROTO_HDR_LEN + 4, port);
        proto_put16(p + PROTO_HDR_LEN + 6, 0);
        ss->out_len += PROTO_HDR_LEN + 8 + (size_t)n;
        /* a datagram goes out whole when any credit is left: credit may overshoot by one */
        s->rcv_credit = (uint32_t)n >= s->rcv_credit ? 0 : s->rcv_credit - (uint32_t)n;
    }
}

static void sock_work(struct server *srv, struct ssock *s)
{
    unsigned ev = s->pending_ev;
    s->pending_ev = 0;
    s->blocked = false;
    switch (s->role) {
    case R_LISTEN:
        do_listener(srv, s);
        break;
    case R_CONN:
        do_conn(srv, s, ev);
        break;
    case R_UDP:
        do_udp(srv, s);
        break;
    default:
        break;
    }
}

/* ---- writing to clients ---- */

/* Writes queued output. Returns bytes written, -1 when the session was closed. */
static long session_flush(struct session *ss)
{
    long total = 0;
    while (out_pending(ss)) {
        ssize_t n = send(ss->fd, ss->out + ss->out_off, out_pending(ss), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            session_close(ss, strerror(errno));
            return -1;
        }
        ss->out_off += (size_t)n;
        total += n;
    }
    struct ev_loop *loop = ss->srv->d->loop;
    if (out_pending(ss)) {
        if (!ev_is_active(&ss->wio)) ev_io_start(loop, &ss->wio);
    } else {
        ss->out_off = ss->out_len = 0;
        if (ev_is_active(&ss->wio)) ev_io_stop(loop, &ss->wio);
        /* a burst (a big connection list) may have grown the buffer: give it back */
        if (ss->out_cap > 4 * OUT_SOFT) {
            free(ss->out);
            ss->out = NULL;
            ss->out_cap = 0;
        }
    }
    if (out_room(ss)) {
        if (ss->read_paused) {
            ss->read_paused = false;
            ev_io_start(loop, &ss->rio);
            /* frames may wait in ss->in with nothing new on the socket */
            if (ss->in_len) ev_feed_event(loop, &ss->rio, EV_READ);
        }
        if (ss->any_blocked) {
            ss->any_blocked = false;
            for (unsigned i = 0; i < MAX_SOCKS_PER_CLIENT; i++)
                if (ss->slots[i] && ss->slots[i]->blocked) work_add(ss->slots[i]);
        }
    }
    return total;
}

/* Runs queued socket work and flushes every session, until nothing moves. */
static void run_work(struct server *srv)
{
    for (int round = 0; round < 64; round++) {
        while (srv->work_head) {
            struct ssock *s = srv->work_head;
            work_del(s);
            sock_work(srv, s);
        }
        /* sockets waiting for send space: the engine need not signal every ACK */
        for (struct ssock *s = srv->starved, *nx; s; s = nx) {
            nx = s->snext;
            if (s->pend_len) pend_flush(srv, s);
            if (s->pend_len) continue;
            if (s->shut_pending || s->close_pending) {
                work_add(s);
                continue;
            }
            grant_send_credit(srv, s);
        }
        long moved = 0;
        for (struct session *ss = srv->sessions, *nx; ss; ss = nx) {
            nx = ss->next;
            if (out_pending(ss)) {
                long n = session_flush(ss);
                if (n > 0) moved += n;
            }
        }
        if (!srv->work_head || !moved) break;
    }
}

static void prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)loop;
    (void)revents;
    run_work(w->data);
}

static void write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    session_flush(w->data); /* blocked sockets are queued; the prepare watcher pulls */
}

/* ---- requests ---- */

static int check_local_addr(struct server *srv, uint32_t addr)
{
    return addr == 0 || addr == srv->d->opt.addr ? 0 : EADDRNOTAVAIL;
}

static void req_socket(struct session *ss, const struct proto_msg *m)
{
    if (ss->nsocks >= MAX_SOCKS_PER_CLIENT) {
        reply(ss, &m->h, 0, EMFILE, 0, 0);
        return;
    }
    struct ssock *s = sock_alloc(ss, m->u.socket.kind);
    if (!s) {
        reply(ss, &m->h, 0, ENOMEM, 0, 0);
        return;
    }
    reply(ss, &m->h, s->id, 0, 0, 0);
}

static void req_bind(struct session *ss, struct ssock *s, const struct proto_msg *m)
{
    struct server *srv = ss->srv;
    int e = check_local_addr(srv, m->u.addr.addr);
    if (e) {
        reply(ss, &m->h, s->id, e, 0, 0);
        return;
    }
    if (s->kind == PROTO_SOCK_STREAM) {
        if (s->role != R_NEW || s->lport) {
            reply(ss, &m->h, s->id, EINVAL, 0, 0);
            return;
        }
        /* like the kernel without SO_REUSEADDR: one bound socket per port (a built-in
         * service's port is still caught by LISTEN) */
        if (m->u.addr.port && srv->port_refs[m->u.addr.port]) {
            reply(ss, &m->h, s->id, EADDRINUSE, 0, 0);
            return;
        }
        s->lport = m->u.addr.port;
        if (s->lport) {
            s->bound_port = s->lport;
            srv->port_refs[s->lport]++;
        }
        reply(ss, &m->h, s->id, 0, s->lport, srv->d->opt.addr);
        return;
    }
    if (s->handle > 0) {
        reply(ss, &m->h, s->id, EINVAL, 0, 0);
        return;
    }
    int h = stack_udp_bind(srv->d->st, m->u.addr.port);
    if (h < 0) {
        reply(ss, &m->h, s->id, -h, 0, 0);
        return;
    }
    if (sock_set_handle(s, h) < 0) {
        stack_udp_close(srv->d->st, h);
        s->handle = 0;
        reply(ss, &m->h, s->id, ENOMEM, 0, 0);
        return;
    }
    int port = stack_udp_port(srv->d->st, h);
    s->lport = (uint16_t)(port > 0 ? port : 0);
    reply(ss, &m->h, s->id, 0, s->lport, srv->d->opt.addr);
}

static void req_listen(struct session *ss, struct ssock *s, const struct proto_msg *m)
{
    if (s->kind != PROTO_SOCK_STREAM) {
        reply(ss, &m->h, s->id, EOPNOTSUPP, 0, 0);
        return;
    }
    if (s->role != R_NEW || !s->lport) {
        reply(ss, &m->h, s->id, EINVAL, 0, 0);
        return;
    }
    uint32_t backlog = m->u.listen.backlog;
    if (backlog == 0) backlog = 1;
    if (backlog > PROTO_MAX_BACKLOG) backlog = PROTO_MAX_BACKLOG;
    int h = stack_tcp_listen(ss->srv->d->st, s->lport, (int)backlog);
    if (h < 0) {
        reply(ss, &m->h, s->id, -h, 0, 0);
        return;
    }
    if (sock_set_handle(s, h) < 0) {
        stack_tcp_close(ss->srv->d->st, h, daemon_now());
        s->handle = 0;
        reply(ss, &m->h, s->id, ENOMEM, 0, 0);
        return;
    }
    s->role = R_LISTEN;
    /* The stack queues up to `backlog` connections; the client holds at most one more
     * (its credit is returned as minitcp_accept takes it). So at most backlog + 1
     * established connections wait for accept, as in Linux. */
    s->rcv_credit = 1;
    reply(ss, &m->h, s->id, 0, 0, 0);
    work_add(s);
}

static void req_connect(struct session *ss, struct ssock *s, const struct proto_msg *m)
{
    struct stack *st = ss->srv->d->st;
    if (s->kind != PROTO_SOCK_STREAM) {
        reply(ss, &m->h, s->id, EOPNOTSUPP, 0, 0);
        return;
    }
    if (s->role != R_NEW) {
        int e = s->role == R_LISTEN ? EINVAL : s->connecting ? EALREADY : EISCONN;
        reply(ss, &m->h, s->id, e, 0, 0);
        return;
    }
    if (m->u.addr.addr == 0 || m->u.addr.port == 0) {
        reply(ss, &m->h, s->id, EINVAL, 0, 0);
        return;
    }
    int h = stack_tcp_connect(st, m->u.addr.addr, m->u.addr.port, s->lport, daemon_now());
    if (h < 0) {
        reply(ss, &m->h, s->id, -h, 0, 0);
        return;
    }
    if (sock_set_handle(s, h) < 0) {
        stack_tcp_abort(st, h, daemon_now());
        s->handle = 0;
        reply(ss, &m->h, s->id, ENOMEM, 0, 0);
        return;
    }
    s->role = R_CONN;
    s->connecting = true;
    struct stack_conn_info ci = {0};
    stack_tcp_info(st, h, &ci);
    s->lport = ci.lport;
    reply(ss, &m->h, s->id, 0, ci.laddr ? ci.laddr : ss->srv->d->opt.addr, ci.lport);
    work_add(s);
}

static void req_shutdown(struct session *ss, struct ssock *s, const struct proto_msg *m)
{
    if (s->kind != PROTO_SOCK_STREAM || s->role != R_CONN || s->connecting) {
        reply(ss, &m->h, s->id, ENOTCONN, 0, 0);
        return;
    }
    if (m->u.shutdown.how != PROTO_SHUT_RD && !s->shut_done && !s->shut_pending) {
        starved_del(s);
        if (s->pend_len) {
            s->shut_pending = true; /* FIN after the bytes still waiting for room */
        } else {
            int r = stack_tcp_shutdown(ss->srv->d->st, s->handle, daemon_now());
            if (r < 0 && r != -ENOTCONN && r != -EPIPE) {
                reply(ss, &m->h, s->id, -r, 0, 0);
                return;
            }
            s->shut_done = true;
        }
    }
    reply(ss, &m->h, s->id, 0, 0, 0);
}

static void req_close(struct session *ss, struct ssock *s, const struct proto_msg *m)
{
    uint32_t id = s->id;
    bool abort = (m->h.flags & PROTO_F_ABORT) != 0;
    if (s->role == R_CONN && s->pend_len && !abort && s->handle > 0) {
        /* the client's last bytes still wait for send space: close after them. The id is
         * dead for the client; the slot stays taken until then. */
        s->close_pending = true;
        s->id = 0;
        starved_add(s);
        reply(ss, &m->h, id, 0, 0, 0);
        return;
    }
    sock_release(ss->srv, s, abort);
    sock_free(s);
    reply(ss, &m->h, id, 0, 0, 0);
}

static void req_dgram(struct session *ss, struct ssock *s, const struct proto_msg *m)
{
    struct server *srv = ss->srv;
    if (s->kind != PROTO_SOCK_DGRAM) {
        reply(ss, &m->h, s->id, EOPNOTSUPP, 0, 0);
        return;
    }
    if (s->handle <= 0) { /* sendto on an unbound socket: an ephemeral port, like the kernel */
        int h = stack_udp_bind(srv->d->st, 0);
        if (h < 0 || sock_set_handle(s, h) < 0) {
            if (h > 0) stack_udp_close(srv->d->st, h);
            s->handle = 0;
            reply(ss, &m->h, s->id, h < 0 ? -h : ENOMEM, 0, 0);
            return;
        }
        int port = stack_udp_port(srv->d->st, h);
        s->lport = (uint16_t)(port > 0 ? port : 0);
    }
    long r = stack_udp_sendto(srv->d->st, s->handle, m->u.dgram.addr, m->u.dgram.port,
                              m->u.dgram.ptr, m->u.dgram.len);
    reply(ss, &m->h, s->id, r < 0 ? (int)-r : 0, s->lport, srv->d->opt.addr);
}

static void req_info(struct session *ss, const struct proto_msg *m)
{
    struct server *srv = ss->srv;
    struct proto_msg r = {.h = {.type = PT_INFO_REPLY, .req_id = m->h.req_id}};
    r.u.info.addr = srv->d->opt.addr;
    r.u.info.pid = (uint32_t)getpid();
    r.u.info.clients = srv->nsessions;
    size_t tl = strnlen(srv->d->tun_name, sizeof r.u.info.tun - 1);
    memcpy(r.u.info.tun, srv->d->tun_name, tl);
    r.u.info.tun[tl] = 0;
    if (m->h.req_id) out_msg(ss, &r);
}

/* Connection listing: a snapshot taken in one pass (no stop-the-world beyond the copy). */
struct conn_list {
    struct server *srv;
    uint8_t *recs;
    size_t n, cap;
    bool oom;
};

static uint8_t *list_slot(struct conn_list *cl)
{
    if (cl->n == cl->cap) {
        size_t ncap = cl->cap ? cl->cap * 2 : 64;
        uint8_t *nb = realloc(cl->recs, ncap * PROTO_CONN_REC_LEN);
        if (!nb) {
            cl->oom = true;
            return NULL;
        }
        cl->recs = nb;
        cl->cap = ncap;
    }
    return cl->recs + cl->n++ * PROTO_CONN_REC_LEN;
}

static void list_tcb(void *arg, const struct stack_conn_info *ci)
{
    struct conn_list *cl = arg;
    uint8_t *p = list_slot(cl);
    if (!p) return;
    struct proto_conn_rec r = {.proto = 6};
    snprintf(r.state, sizeof r.state, "%s", tcp_state_name(ci->state));
    r.laddr = ci->laddr;
    r.raddr = ci->raddr;
    r.lport = ci->lport;
    r.rport = ci->rport;
    r.snd_una = ci->snd_una;
    r.snd_nxt = ci->snd_nxt;
    r.snd_wnd = ci->snd_wnd;
    r.rcv_nxt = ci->rcv_nxt;
    r.rcv_wnd = ci->rcv_wnd;
    r.send_queue = ci->send_queue;
    r.recv_queue = ci->recv_queue;
    r.rto_ms = ci->rto_ms;
    r.srtt_ms = ci->srtt_ms;
    r.retransmits = ci->retransmits;
    struct ssock *s = hfind(cl->srv, ci->handle);
    if (s) {
        r.pid = (uint32_t)s->sess->pid;
        r.uid = (uint32_t)s->sess->uid;
        r.sock_id = s->id;
        r.send_queue += (uint32_t)s->pend_len;
    }
    proto_conn_rec_encode(p, &r);
}

static void send_chunks(struct session *ss, const struct proto_hdr *req, uint8_t type,
                        const uint8_t *data, size_t len, size_t chunk)
{
    size_t off = 0;
    do {
        size_t n = len - off < chunk ? len - off : chunk;
        uint8_t *p = out_reserve(ss, PROTO_HDR_LEN + n);
        if (!p) return;
        bool more = off + n < len;
        proto_encode_hdr(p, type, more ? PROTO_F_MORE : 0, req->req_id, 0, (uint32_t)n);
        if (n) memcpy(p + PROTO_HDR_LEN, data + off, n);
        ss->out_len += PROTO_HDR_LEN + n;
        off += n;
    } while (off < len);
}

static void req_list(struct session *ss, const struct proto_msg *m)
{
    struct server *srv = ss->srv;
    struct conn_list cl = {.srv = srv};
    stack_tcp_foreach(srv->d->st, list_tcb, &cl);
    /* UDP sockets are known only here */
    for (struct session *o = srv->sessions; o; o = o->next) {
        for (unsigned i = 0; i < MAX_SOCKS_PER_CLIENT; i++) {
            struct ssock *s = o->slots[i];
            if (!s || s->role != R_UDP || s->handle <= 0) continue;
            uint8_t *p = list_slot(&cl);
            if (!p) break;
            struct proto_conn_rec r = {.proto = 17, .state = "UNCONN"};
            r.laddr = srv->d->opt.addr;
            r.lport = s->lport;
            r.pid = (uint32_t)o->pid;
            r.uid = (uint32_t)o->uid;
            r.sock_id = s->id;
            proto_conn_rec_encode(p, &r);
        }
    }
    if (cl.oom) {
        reply(ss, &m->h, 0, ENOMEM, 0, 0);
    } else if (m->h.req_id) {
        size_t per = PROTO_MAX_PAYLOAD / PROTO_CONN_REC_LEN * PROTO_CONN_REC_LEN;
        send_chunks(ss, &m->h, PT_CONN_LIST, cl.recs, cl.n * PROTO_CONN_REC_LEN, per);
    }
    free(cl.recs);
}

struct stat_buf {
    uint8_t *buf;
    size_t len, cap, frame_start;
    bool oom;
};

static void stat_add(struct session *ss, const struct proto_hdr *req, struct stat_buf *sb,
                     const char *layer, const char *name, const char *desc, uint64_t value)
{
    if (sb->oom) return;
    if (sb->cap - sb->len < 3 * 256 + 8) {
        size_t ncap = sb->cap ? sb->cap * 2 : 16384;
        uint8_t *nb = realloc(sb->buf, ncap);
        if (!nb) {
            sb->oom = true;
            return;
        }
        sb->buf = nb;
        sb->cap = ncap;
    }
    long n = proto_stat_rec_encode(sb->buf + sb->len, sb->cap - sb->len, layer, name, desc, value);
    if (n <= 0) return;
    if (sb->len + (size_t)n - sb->frame_start > PROTO_MAX_PAYLOAD) {
        /* the frame so far is full: send it, continued */
        size_t fl = sb->len - sb->frame_start;
        uint8_t *p = out_reserve(ss, PROTO_HDR_LEN + fl);
        if (p) {
            proto_encode_hdr(p, PT_STATS_LIST, PROTO_F_MORE, req->req_id, 0, (uint32_t)fl);
            memcpy(p + PROTO_HDR_LEN, sb->buf + sb->frame_start, fl);
            ss->out_len += PROTO_HDR_LEN + fl;
        }
        sb->frame_start = sb->len;
    }
    sb->len += (size_t)n;
}

static void req_stats(struct session *ss, const struct proto_msg *m)
{
    const struct stack_stats *sts = stack_stats(ss->srv->d->st);
    if (!m->h.req_id) return;
    struct stat_buf sb = {0};
#define X(layer, name, desc) stat_add(ss, &m->h, &sb, #layer, #name, desc, sts->layer##_##name);
    STACK_STATS(X)
#undef X
    if (sb.oom) {
        reply(ss, &m->h, 0, ENOMEM, 0, 0);
    } else {
        size_t fl = sb.len - sb.frame_start;
        uint8_t *p = out_reserve(ss, PROTO_HDR_LEN + fl);
        if (p) {
            proto_encode_hdr(p, PT_STATS_LIST, 0, m->h.req_id, 0, (uint32_t)fl);
            if (fl) memcpy(p + PROTO_HDR_LEN, sb.buf + sb.frame_start, fl);
            ss->out_len += PROTO_HDR_LEN + fl;
        }
    }
    free(sb.buf);
}

/* One frame from a client. Returns -1 when the client must be disconnected. */
static int handle_frame(struct session *ss, const struct proto_msg *m, const char **why)
{
    if (!(proto_type_dir(m->h.type) & PROTO_DIR_C2D)) {
        *why = "frame type not allowed from a client";
        return -1;
    }
    switch (m->h.type) {
    case PT_SOCKET:
        req_socket(ss, m);
        return 0;
    case PT_INFO:
        req_info(ss, m);
        return 0;
    case PT_LIST_CONNS:
        req_list(ss, m);
        return 0;
    case PT_STATS:
        req_stats(ss, m);
        return 0;
    default:
        break;
    }
    struct ssock *s = sock_lookup(ss, m->h.sock_id);
    if (!s) {
        if (m->h.type == PT_DATA || m->h.type == PT_CREDIT) {
            *why = "data or credit for a socket the client does not own";
            return -1;
        }
        reply(ss, &m->h, m->h.sock_id, EBADF, 0, 0);
        return 0;
    }
    struct server *srv = ss->srv;
    switch (m->h.type) {
    case PT_BIND:
        req_bind(ss, s, m);
        break;
    case PT_LISTEN:
        req_listen(ss, s, m);
        break;
    case PT_CONNECT:
        req_connect(ss, s, m);
        break;
    case PT_SHUTDOWN:
        req_shutdown(ss, s, m);
        break;
    case PT_CLOSE:
        req_close(ss, s, m);
        break;
    case PT_DGRAM:
        req_dgram(ss, s, m);
        break;
    case PT_SETOPT:
        if (m->u.setopt.opt == PROTO_OPT_LINGER_ZERO) {
            s->linger0 = m->u.setopt.value != 0;
            reply(ss, &m->h, s->id, 0, 0, 0);
        } else {
            reply(ss, &m->h, s->id, ENOPROTOOPT, 0, 0);
        }
        break;
    case PT_CREDIT:
        if ((uint64_t)s->rcv_credit + m->u.credit.n >
            (s->role == R_LISTEN ? PROTO_MAX_BACKLOG : PROTO_MAX_RCV_WINDOW)) {
            *why = "credit beyond the maximum window";
            return -1;
        }
        s->rcv_credit += m->u.credit.n;
        work_add(s);
        break;
    case PT_DATA:
        if (s->role != R_CONN || m->u.data.len > s->snd_credit) {
            *why = s->role != R_CONN ? "data on a socket that is not connected"
                                     : "data beyond the send credit";
            return -1;
        }
        s->snd_credit -= (uint32_t)m->u.data.len;
        if (s->shut_pending || s->shut_done || s->err_sent || s->handle <= 0) break;
        if (!s->pend_len) {
            long r =
                stack_tcp_send(srv->d->st, s->handle, m->u.data.ptr, m->u.data.len, daemon_now());
            size_t took = r > 0 ? (size_t)r : 0;
            if (r < 0 && r != -EAGAIN) break; /* dead connection: the error event follows */
            if (took < m->u.data.len &&
                pend_append(s, m->u.data.ptr + took, m->u.data.len - took) < 0) {
                *why = "out of memory for pending data";
                return -1;
            }
        } else if (pend_append(s, m->u.data.ptr, m->u.data.len) < 0) {
            *why = "out of memory for pending data";
            return -1;
        }
        if (s->snd_credit < GRANT_MIN) starved_add(s);
        break;
    default:
        *why = "unexpected frame type";
        return -1;
    }
    return 0;
}

/* Handles the whole frames buffered in ss->in, but only while the session has output
 * room: a client that sends requests without reading the replies (a batch of LIST_CONNS
 * can each be megabytes) leaves its frames here, and read_cb stops reading it. Returns -1
 * when the session was closed. */
static int session_input(struct session *ss)
{
    size_t off = 0;
    struct stack *st = ss->srv->d->st;
    /* one batch per read: a send and the close behind it leave as one segment */
    stack_batch_begin(st);
    while (out_room(ss)) {
        struct proto_msg m;
        size_t fl;
        int rc = proto_decode(ss->in + off, ss->in_len - off, &m, &fl);
        if (rc == PROTO_ETRUNC) break;
        const char *why = NULL;
        if (rc != PROTO_OK) why = proto_result_str(rc);
        if (why || handle_frame(ss, &m, &why) < 0) {
            session_close(ss, why);
            stack_batch_end(st, daemon_now());
            return -1;
        }
        off += fl;
    }
    stack_batch_end(st, daemon_now());
    if (off) {
        memmove(ss->in, ss->in + off, ss->in_len - off);
        ss->in_len -= off;
    }
    return 0;
}

static void read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct session *ss = w->data;
    /* frames left over when the output filled up (session_flush feeds this callback) */
    if (session_input(ss) < 0) return;
    size_t budget = READ_BUDGET;
    /* with output room every whole frame was handled: less than one frame is buffered */
    while (budget && out_room(ss)) {
        ssize_t n = recv(ss->fd, ss->in + ss->in_len, IN_CAP - ss->in_len, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            session_close(ss, strerror(errno));
            return;
        }
        if (n == 0) {
            session_close(ss, NULL);
            return;
        }
        budget = (size_t)n >= budget ? 0 : budget - (size_t)n;
        bool drained = (size_t)n < IN_CAP - ss->in_len; /* a short read emptied the socket */
        ss->in_len += (size_t)n;
        if (session_input(ss) < 0) return;
        if (drained) break; /* the watcher is level-triggered: no EAGAIN read needed */
    }
    if (!out_room(ss) && !ss->read_paused) { /* the client does not read its replies */
        ss->read_paused = true;
        ev_io_stop(loop, &ss->rio);
    }
}

/* ---- sessions ---- */

static void session_close(struct session *ss, const char *why)
{
    struct server *srv = ss->srv;
    if (why)
        fprintf(stderr, "minitcpd: client pid %ld uid %ld disconnected: %s\n", (long)ss->pid,
                (long)ss->uid, why);
    /* like the kernel at process exit: FIN (or RST when data was left unread, which the
     * engine decides), listeners and UDP ports freed at once */
    for (unsigned i = 0; i < MAX_SOCKS_PER_CLIENT; i++) {
        struct ssock *s = ss->slots[i];
        if (!s) continue;
        sock_release(srv, s, false);
        sock_free(s);
    }
    ev_io_stop(srv->d->loop, &ss->rio);
    ev_io_stop(srv->d->loop, &ss->wio);
    close(ss->fd);
    if (ss->prev)
        ss->prev->next = ss->next;
    else
        srv->sessions = ss->next;
    if (ss->next) ss->next->prev = ss->prev;
    srv->nsessions--;
    free(ss->in);
    free(ss->out);
    free(ss);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct server *srv = w->data;
    for (int i = 0; i < 64; i++) {
        int fd = accept4(srv->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                fprintf(stderr, "minitcpd: accept on %s: %s\n", srv->path, strerror(errno));
            return;
        }
        if (srv->nsessions >= MAX_CLIENTS) {
            fprintf(stderr, "minitcpd: client refused: %u clients already\n", srv->nsessions);
            close(fd);
            continue;
        }
        struct session *ss = calloc(1, sizeof *ss);
        if (ss) ss->in = malloc(IN_CAP);
        if (!ss || !ss->in) {
            if (ss) free(ss);
            close(fd);
            continue;
        }
        struct ucred cred = {0};
        socklen_t cl = sizeof cred;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0) {
            ss->pid = cred.pid;
            ss->uid = cred.uid;
            ss->gid = cred.gid;
        }
        int sz = 1 << 20;
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
        ss->srv = srv;
        ss->fd = fd;
        ev_io_init(&ss->rio, read_cb, fd, EV_READ);
        ev_io_init(&ss->wio, write_cb, fd, EV_WRITE);
        ss->rio.data = ss->wio.data = ss;
        ev_io_start(loop, &ss->rio);
        ss->next = srv->sessions;
        if (srv->sessions) srv->sessions->prev = ss;
        srv->sessions = ss;
        srv->nsessions++;
    }
}

void server_on_stack_event(struct daemon *d, int handle, unsigned events)
{
    struct server *srv = d->srv;
    if (!srv) return;
    struct ssock *s = hfind(srv, handle);
    if (!s) return; /* a built-in service, or a socket its client already closed */
    if (events & SEV_RELEASED) {
        hremove(srv, s);
        s->handle = 0;
    }
    s->pending_ev |= events;
    work_add(s);
}

/* ---- the listening socket ---- */

static int make_parent_dir(const char *path, gid_t gid, bool set_group)
{
    char *dir = strdup(path);
    if (!dir) return -1;
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) {
        free(dir);
        return 0;
    }
    *slash = 0;
    struct stat sb;
    if (stat(dir, &sb) == 0) {
        free(dir);
        return 0;
    }
    /* create missing components; only the last one gets the group */
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(dir, 0755) < 0 && errno != EEXIST) goto fail;
        *p = '/';
    }
    if (mkdir(dir, 0750) < 0 && errno != EEXIST) goto fail;
    if (chmod(dir, 0750) < 0) goto fail;
    if (set_group && chown(dir, (uid_t)-1, gid) < 0) goto fail;
    free(dir);
    return 0;
fail:
    fprintf(stderr, "minitcpd: cannot create %s: %s\n", dir, strerror(errno));
    free(dir);
    return -1;
}

/* A socket file left by a dead daemon is removed; a live daemon's is not. */
static int remove_stale(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) < 0) return errno == ENOENT ? 0 : -1;
    if (!S_ISSOCK(sb.st_mode)) {
        fprintf(stderr, "minitcpd: %s exists and is not a socket\n", path);
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    close(fd);
    if (r == 0) {
        fprintf(stderr, "minitcpd: %s: another minitcpd is serving it\n", path);
        return -1;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        fprintf(stderr, "minitcpd: cannot remove stale %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

int server_start(struct daemon *d)
{
    const char *path = d->opt.socket_path;
    if (!path) return 0;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (!*path || strlen(path) >= sizeof sa.sun_path) {
        fprintf(stderr, "minitcpd: socket path '%s' is empty or too long\n", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    gid_t gid = (gid_t)-1;
    bool set_group = d->opt.socket_group && *d->opt.socket_group;
    if (set_group) {
        struct group *g = getgrnam(d->opt.socket_group);
        if (!g) {
            fprintf(stderr, "minitcpd: unknown group '%s'\n", d->opt.socket_group);
            return -1;
        }
        gid = g->gr_gid;
    }
    if (make_parent_dir(path, gid, set_group) < 0 || remove_stale(path) < 0) return -1;

    struct server *srv = calloc(1, sizeof *srv);
    if (!srv || !(srv->path = strdup(path))) {
        free(srv);
        return -1;
    }
    srv->d = d;
    srv->lfd = -1;
    srv->port_refs = calloc(65536, sizeof *srv->port_refs);
    if (!srv->port_refs) goto fail;
    srv->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (srv->lfd < 0) goto fail;
    mode_t old = umask(0117); /* the file is born 0660: no window with wider access */
    int r = bind(srv->lfd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (r < 0) goto fail;
    if (chmod(path, 0660) < 0 || (set_group && chown(path, (uid_t)-1, gid) < 0) ||
        listen(srv->lfd, 256) < 0) {
        int e = errno;
        unlink(path);
        errno = e;
        goto fail;
    }
    ev_io_init(&srv->lio, accept_cb, srv->lfd, EV_READ);
    srv->lio.data = srv;
    ev_io_start(d->loop, &srv->lio);
    /* before main.c's prepare watcher (priority 0), which re-arms the stack timer after
     * the stack calls made here */
    ev_prepare_init(&srv->prep, prepare_cb);
    ev_set_priority(&srv->prep, EV_MAXPRI);
    srv->prep.data = srv;
    ev_prepare_start(d->loop, &srv->prep);
    d->srv = srv;
    return 0;
fail:
    fprintf(stderr, "minitcpd: cannot listen on %s: %s\n", path, strerror(errno));
    if (srv->lfd >= 0) close(srv->lfd);
    free(srv->port_refs);
    free(srv->path);
    free(srv);
    return -1;
}

void server_stop(struct daemon *d)
{
    struct server *srv = d->srv;
    if (!srv) return;
    while (srv->sessions)
        session_close(srv->sessions, NULL);
    ev_io_stop(d->loop, &srv->lio);
    ev_prepare_stop(d->loop, &srv->prep);
    close(srv->lfd);
    unlink(srv->path);
    free(srv->htab);
    free(srv->port_refs);
    free(srv->path);
    free(srv);
    d->srv = NULL;
}
