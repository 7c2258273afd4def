/* The socket service's client requests (SOCKET, BIND, LISTEN, CONNECT, SHUTDOWN, CLOSE,
 * DATA): each checks its arguments, acts on the stack and answers with one frame;
 * the socket work they cause runs later in svc_run (sock_service.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "daemon.h"
#include "sock_service.h"
#include "sock_service_internal.h"
#include "uds_transport.h"

static int check_local_addr(struct sock_service *svc, uint32_t addr)
{
    return addr == 0 || addr == svc->d->opt.addr ? 0 : EADDRNOTAVAIL;
}

static void req_socket(struct session *ss, const struct proto_msg *m)
{
    int err;
    struct ssock *s = sock_alloc(ss, m->u.socket.kind, &err);
    if (!s) {
        reply(ss, &m->h, 0, err, 0, 0);
        return;
    }
    reply(ss, &m->h, s->id, 0, 0, 0);
}

static void req_bind(struct session *ss, struct ssock *s, const struct proto_msg *m)
{
    struct sock_service *svc = ss->svc;
    int e = check_local_addr(svc, m->u.addr.addr);
    if (!e) e = access_bind(ss->rights, m->u.addr.port);
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
        if (m->u.addr.port && svc->port_refs[m->u.addr.port]) {
            reply(ss, &m->h, s->id, EADDRINUSE, 0, 0);
            return;
        }
        s->lport = m->u.addr.port;
        if (s->lport) {
            s->bound_port = s->lport;
            svc->port_refs[s->lport]++;
        }
        reply(ss, &m->h, s->id, 0, s->lport, svc->d->opt.addr);
        return;
    }
    if (s->handle > 0) {
        reply(ss, &m->h, s->id, EINVAL, 0, 0);
        return;
    }
    int h = stack_udp_bind(svc->d->st, m->u.addr.port);
    if (h < 0) {
        reply(ss, &m->h, s->id, -h, 0, 0);
        return;
    }
    if (sock_set_handle(s, h) < 0) {
        stack_udp_close(svc->d->st, h);
        s->handle = 0;
        reply(ss, &m->h, s->id, ENOMEM, 0, 0);
        return;
    }
    int port = stack_udp_port(svc->d->st, h);
    s->lport = (uint16_t)(port > 0 ? port : 0);
    reply(ss, &m->h, s->id, 0, s->lport, svc->d->opt.addr);
}

/* The TCP options kept on the socket reach the stack handle when it exists (listen,
 * connect) or at once when it does. */
static void apply_tcp_opts(struct stack *st, struct ssock *s)
{
    if (s->handle <= 0 || s->kind != PROTO_SOCK_STREAM) return;
    if (s->cc >= 0) stack_tcp_set_cc(st, s->handle, (unsigned)s->cc);
    if (s->nodelay) stack_tcp_set_nodelay(st, s->handle, true);
    stack_time_t now = daemon_now();
    if (s->keepidle) stack_tcp_setopt(st, s->handle, STACK_TCP_KEEPIDLE, s->keepidle, now);
    if (s->keepintvl) stack_tcp_setopt(st, s->handle, STACK_TCP_KEEPINTVL, s->keepintvl, now);
    if (s->keepcnt) stack_tcp_setopt(st, s->handle, STACK_TCP_KEEPCNT, s->keepcnt, now);
    if (s->user_timeout)
        stack_tcp_setopt(st, s->handle, STACK_TCP_USER_TIMEOUT, s->user_timeout, now);
    if (s->keepalive) stack_tcp_setopt(st, s->handle, STACK_TCP_KEEPALIVE, 1, now);
}

/* PROTO_OPT_KEEPALIVE .. PROTO_OPT_USER_TIMEOUT: the stack's option and its value (the
 * keepalive switch as 0/1), or -1 when the value is out of range. */
static int timer_opt(uint32_t opt, int32_t v, enum stack_tcp_opt *so, uint32_t *sv)
{
    switch (opt) {
    case PROTO_OPT_KEEPALIVE:
        *so = STACK_TCP_KEEPALIVE;
        break;
    case PROTO_OPT_KEEPIDLE:
        *so = STACK_TCP_KEEPIDLE;
        break;
    case PROTO_OPT_KEEPINTVL:
        *so = STACK_TCP_KEEPINTVL;
        break;
    case PROTO_OPT_KEEPCNT:
        *so = STACK_TCP_KEEPCNT;
        break;
    default:
        *so = STACK_TCP_USER_TIMEOUT;
        break;
    }
    if (v < 0) return -1;
    *sv = opt == PROTO_OPT_KEEPALIVE ? v != 0 : (uint32_t)v;
    return stack_tcp_opt_valid(*so, *sv) ? 0 : -1;
}

static void keep_timer_opt(struct ssock *s, enum stack_tcp_opt so, uint32_t v)
{
    switch (so) {
    case STACK_TCP_KEEPALIVE:
        s->keepalive = v != 0;
        break;
    case STACK_TCP_KEEPIDLE:
        s->keepidle = (uint16_t)v;
        break;
    case STACK_TCP_KEEPINTVL:
        s->keepintvl = (uint16_t)v;
        break;
    case STACK_TCP_KEEPCNT:
        s->keepcnt = (uint8_t)v;
        break;
    case STACK_TCP_USER_TIMEOUT:
        s->user_timeout = v;
        break;
    }
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
    int h = stack_tcp_listen(ss->svc->d->st, s->lport, (int)backlog);
    if (h < 0) {
        reply(ss, &m->h, s->id, -h, 0, 0);
        return;
    }
    if (sock_set_handle(s, h) < 0) {
        stack_tcp_close(ss->svc->d->st, h, daemon_now());
        s->handle = 0;
        reply(ss, &m->h, s->id, ENOMEM, 0, 0);
        return;
    }
    s->role = R_LISTEN;
    sock_mem_attach(s, true);          /* its connections are the uid's from the SYN on */
    apply_tcp_opts(ss->svc->d->st, s); /* accepted connections inherit them */
    /* The stack queues up to `backlog` connections; the client holds at most one more
     * (its credit is returned as minitcp_accept takes it). So at most backlog + 1
     * established connections wait for accept, as in Linux. */
    proto_credit_sender_init(&s->rcv_credit, 1);
    reply(ss, &m->h, s->id, 0, 0, 0);
    work_add(s);
}

static void req_setopt(struct session *ss, struct ssock *s, const struct proto_msg *m)
{
    struct stack *st = ss->svc->d->st;
    int32_t v = m->u.setopt.value;
    switch (m->u.setopt.opt) {
    case PROTO_OPT_LINGER_ZERO:
        s->linger0 = v != 0;
        break;
    case PROTO_OPT_CONGESTION:
        if (s->kind != PROTO_SOCK_STREAM) {
            reply(ss, &m->h, s->id, ENOPROTOOPT, 0, 0);
            return;
        }
        if (v < 0 || !stack_cc_name((unsigned)v)) {
            reply(ss, &m->h, s->id, EINVAL, 0, 0);
            return;
        }
        s->cc = (int8_t)v;
        if (s->handle > 0) stack_tcp_set_cc(st, s->handle, (unsigned)v);
        break;
    case PROTO_OPT_NODELAY:
        if (s->kind != PROTO_SOCK_STREAM) {
            reply(ss, &m->h, s->id, ENOPROTOOPT, 0, 0);
            return;
        }
        s->nodelay = v != 0;
        if (s->handle > 0) stack_tcp_set_nodelay(st, s->handle, s->nodelay);
        break;
    case PROTO_OPT_KEEPALIVE:
    case PROTO_OPT_KEEPIDLE:
    case PROTO_OPT_KEEPINTVL:
    case PROTO_OPT_KEEPCNT:
    case PROTO_OPT_USER_TIMEOUT: {
        if (s->kind != PROTO_SOCK_STREAM) {
            reply(ss, &m->h, s->id, ENOPROTOOPT, 0, 0);
            return;
        }
        enum stack_tcp_opt so;
        uint32_t sv;
        if (timer_opt(m->u.setopt.opt, v, &so, &sv) < 0) {
            reply(ss, &m->h, s->id, EINVAL, 0, 0);
            return;
        }
        keep_timer_opt(s, so, sv);
        if (s->handle > 0) stack_tcp_setopt(st, s->handle, so, sv, daemon_now());
        break;
    }
    default:
        reply(ss, &m->h, s->id, ENOPROTOOPT, 0, 0);
        return;
    }
    reply(ss, &m->h, s->id, 0, 0, 0);
}

/* GETOPT: the value in force: the stack connection's when there is one, else what was set
 * on the socket or the default. */
static void req_getopt(struct session *ss, struct ssock *s, const struct proto_msg *m)
{
    struct stack *st = ss->svc->d->st;
    uint32_t opt = m->u.setopt.opt, v = 0;
    if (opt == PROTO_OPT_LINGER_ZERO) {
        reply(ss, &m->h, s->id, 0, s->linger0, 0);
        return;
    }
    if (opt < PROTO_OPT_CONGESTION || opt > PROTO_OPT_USER_TIMEOUT) {
        reply(ss, &m->h, s->id, ENOPROTOOPT, 0, 0);
        return;
    }
    if (s->kind != PROTO_SOCK_STREAM) {
        reply(ss, &m->h, s->id, ENOPROTOOPT, 0, 0);
        return;
    }
    bool tcp = s->handle > 0;
    switch (opt) {
    case PROTO_OPT_CONGESTION:
        v = s->cc >= 0 ? (uint32_t)s->cc : stack_default_cc(st);
        break;
    case PROTO_OPT_NODELAY:
        v = s->nodelay;
        break;
    default: {
        enum stack_tcp_opt so;
        uint32_t ignored;
        timer_opt(opt, 1, &so, &ignored);
        if (!tcp || stack_tcp_getopt(st, s->handle, so, &v) < 0) {
            /* not connected yet: what was set, else the stack's default */
            static const uint32_t dflt[] = {[STACK_TCP_KEEPALIVE] = 0,
                                            [STACK_TCP_KEEPIDLE] = 7200,
                                            [STACK_TCP_KEEPINTVL] = 75,
                                            [STACK_TCP_KEEPCNT] = 9,
                                            [STACK_TCP_USER_TIMEOUT] = 0};
            uint32_t set[] = {[STACK_TCP_KEEPALIVE] = s->keepalive,
                              [STACK_TCP_KEEPIDLE] = s->keepidle,
                              [STACK_TCP_KEEPINTVL] = s->keepintvl,
                              [STACK_TCP_KEEPCNT] = s->keepcnt,
                              [STACK_TCP_USER_TIMEOUT] = s->user_timeout};
            v = set[so] ? set[so] : dflt[so];
        }
        break;
    }
    }
    reply(ss, &m->h, s->id, 0, v, 0);
}

static void req_connect(struct session *ss, struct ssock *s, const struct proto_msg *m)
{
    struct stack *st = ss->svc->d->st;
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
    sock_mem_attach(s, true);
    apply_tcp_opts(st, s);
    struct stack_conn_info ci = {0};
    stack_tcp_info(st, h, &ci);
    s->lport = ci.lport;
    reply(ss, &m->h, s->id, 0, ipa_v4_or_0(ci.laddr) ? ipa_v4_or_0(ci.laddr) : ss->svc->d->opt.addr,
          ci.lport);
    work_add(s);
}

static void req_shutdown(struct session *ss, struct ssock *s, const struct proto_msg *m)
{
    if (s->kind != PROTO_SOCK_STREAM || s->role != R_CONN || s->connecting) {
        reply(ss, &m->h, s->id, ENOTCONN, 0, 0);
        return;
    }
    if (m->u.shutdown.how != PROTO_SHUT_RD && !s->shut_done && !s->shut_pending) {
        if (s->pend_len) {
            s->shut_pending = true; /* FIN after the bytes still waiting for room */
        } else {
            int r = stack_tcp_shutdown(ss->svc->d->st, s->handle, daemon_now());
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
         * dead for the client (sock_lookup); its entry stays taken until then. */
        s->close_pending = true;
        reply(ss, &m->h, id, 0, 0, 0);
        return;
    }
    sock_release(ss->svc, s, abort);
    sock_free(s);
    reply(ss, &m->h, id, 0, 0, 0);
}

static void req_dgram(struct session *ss, struct ssock *s, const struct proto_msg *m)
{
    struct sock_service *svc = ss->svc;
    if (s->kind != PROTO_SOCK_DGRAM) {
        reply(ss, &m->h, s->id, EOPNOTSUPP, 0, 0);
        return;
    }
    if (s->handle <= 0) { /* sendto on an unbound socket: an ephemeral port, like the kernel */
        int h = stack_udp_bind(svc->d->st, 0);
        if (h < 0 || sock_set_handle(s, h) < 0) {
            if (h > 0) stack_udp_close(svc->d->st, h);
            s->handle = 0;
            reply(ss, &m->h, s->id, h < 0 ? -h : ENOMEM, 0, 0);
            return;
        }
        int port = stack_udp_port(svc->d->st, h);
        s->lport = (uint16_t)(port > 0 ? port : 0);
    }
    long r = stack_udp_sendto(svc->d->st, s->handle, m->u.dgram.addr, m->u.dgram.port,
                              m->u.dgram.ptr, m->u.dgram.len);
    reply(ss, &m->h, s->id, r < 0 ? (int)-r : 0, s->lport, svc->d->opt.addr);
}

/* One socket frame from a client. Returns -1 when the client must be disconnected. */
int svc_frame(struct session *ss, const struct proto_msg *m, const char **why)
{
    if (m->h.type == PT_SOCKET) {
        req_socket(ss, m);
        return 0;
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
    struct sock_service *svc = ss->svc;
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
        req_setopt(ss, s, m);
        break;
    case PT_GETOPT:
        req_getopt(ss, s, m);
        break;
    case PT_CREDIT:
        if (proto_credit_refund(&s->rcv_credit, m->u.credit.n,
                                s->role == R_LISTEN ? PROTO_MAX_BACKLOG : PROTO_MAX_RCV_WINDOW) <
            0) {
            *why = "credit beyond the maximum window";
            return -1;
        }
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
                stack_tcp_send(svc->d->st, s->handle, m->u.data.ptr, m->u.data.len, daemon_now());
            size_t took = r > 0 ? (size_t)r : 0;
            if (r < 0 && r != -EAGAIN) {
                send_failed(svc, s, r);
                break;
            }
            /* bytes the stack refused (the memory bound) are kept: back-pressure */
            if (took < m->u.data.len) {
                if (pend_append(s, m->u.data.ptr + took, m->u.data.len - took) < 0) {
                    *why = "out of memory for pending data";
                    return -1;
                }
                watch_space(svc, s);
            }
        } else if (pend_append(s, m->u.data.ptr, m->u.data.len) < 0) {
            *why = "out of memory for pending data";
            return -1;
        }
        if (s->snd_credit < GRANT_MIN) watch_space(svc, s);
        break;
    default:
        *why = "unexpected frame type";
        return -1;
    }
    return 0;
}
