/* libminitcp-client: the calls common to stream and datagram sockets. */
#include <errno.h>

#include "client_internal.h"

int mtc_u_socket(int type)
{
    if (type != MINITCP_SOCK_STREAM && type != MINITCP_SOCK_DGRAM) {
        errno = EINVAL;
        return -1;
    }
    struct proto_msg m = {.h = {.type = PT_SOCKET}}, r;
    m.u.socket.kind = (uint8_t)type;
    if (mtc_simple_request(&m, &r) < 0) return -1;
    int d = mtc_sock_new(r.h.sock_id, (uint8_t)type);
    if (d < 0) {
        mtc_close_id(r.h.sock_id, true);
        mtc_finish(NULL);
        errno = ENOMEM;
        return -1;
    }
    return d;
}

int mtc_check_sin(const struct sockaddr_in *a)
{
    if (!a || a->sin_family != AF_INET) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}

int mtc_u_bind(int s, const struct sockaddr_in *addr)
{
    struct csock *cs = mtc_get_sock(s);
    if (!cs || mtc_check_sin(addr) < 0) return -1;
    if (cs->state != CS_NEW) {
        errno = EINVAL;
        return -1;
    }
    struct proto_msg m = {.h = {.type = PT_BIND, .sock_id = cs->id}}, r;
    m.u.addr.addr = ntohl(addr->sin_addr.s_addr);
    m.u.addr.port = ntohs(addr->sin_port);
    if (mtc_simple_request(&m, &r) < 0) return -1;
    cs = &mtc.socks[s];
    cs->state = CS_BOUND;
    mtc_set_addr(&cs->local, r.u.reply.val1, (uint16_t)r.u.reply.val0);
    return 0;
}

int mtc_u_close(int s)
{
    struct csock *cs = mtc_get_sock(s);
    if (!cs) return -1;
    /* data the daemon already pushed counts as unread (RST), as in the kernel */
    if (cs->kind == PROTO_SOCK_STREAM && !cs->rlen && !cs->shut_rd && mtc.fd >= 0) {
        (void)mtc_read_maybe();
        cs = &mtc.socks[s];
    }
    /* queued but never accepted connections are reset, like a kernel listener's */
    for (size_t i = 0; i < cs->aq_len; i++) {
        int d = cs->aq[(cs->aq_head + i) % cs->aq_cap];
        if (mtc.socks[d].id) mtc_close_id(mtc.socks[d].id, true);
        mtc_sock_free(d);
    }
    bool abort = cs->linger0 || (cs->kind == PROTO_SOCK_STREAM && cs->rlen && !cs->shut_rd);
    if (mtc.fd >= 0 && cs->id) mtc_close_id(cs->id, abort);
    mtc_sock_free(s);
    mtc_finish(NULL); /* the close (and data before it) reaches the daemon before we return */
    return 0;
}

int mtc_u_setnonblock(int s, int on)
{
    struct csock *cs = mtc_get_sock(s);
    if (!cs) return -1;
    cs->nonblock = on != 0;
    return 0;
}

int mtc_u_setsockopt(int s, int opt, int value)
{
    struct csock *cs = mtc_get_sock(s);
    if (!cs) return -1;
    switch (opt) {
    case MINITCP_SO_RCVBUF: {
        if (value < 4096 || (unsigned)value > PROTO_MAX_RCV_WINDOW) {
            errno = EINVAL;
            return -1;
        }
        /* growing grants the difference at once; shrinking withholds future credit */
        uint32_t back = proto_credit_resize(&cs->rcv, (uint32_t)value);
        if (back) mtc_credit_send(cs->id, back);
        mtc_finish(cs);
        return 0;
    }
    case MINITCP_SO_LINGER_ZERO: {
        struct proto_msg m = {.h = {.type = PT_SETOPT, .sock_id = cs->id}};
        m.u.setopt.opt = PROTO_OPT_LINGER_ZERO;
        m.u.setopt.value = value != 0;
        if (mtc_simple_request(&m, NULL) < 0) return -1;
        mtc.socks[s].linger0 = value != 0;
        return 0;
    }
    case MINITCP_TCP_NODELAY:
    case MINITCP_TCP_CONGESTION: {
        if (opt == MINITCP_TCP_CONGESTION && value != MINITCP_CC_NEWRENO &&
            value != MINITCP_CC_CUBIC) {
            errno = EINVAL; /* checked here too: no round trip for a bad value */
            return -1;
        }
        struct proto_msg m = {.h = {.type = PT_SETOPT, .sock_id = cs->id}};
        m.u.setopt.opt = opt == MINITCP_TCP_NODELAY ? PROTO_OPT_NODELAY : PROTO_OPT_CONGESTION;
        m.u.setopt.value = opt == MINITCP_TCP_NODELAY ? value != 0 : value;
        return mtc_simple_request(&m, NULL) < 0 ? -1 : 0;
    }
    case MINITCP_SO_KEEPALIVE:
    case MINITCP_TCP_KEEPIDLE:
    case MINITCP_TCP_KEEPINTVL:
    case MINITCP_TCP_KEEPCNT:
    case MINITCP_TCP_USER_TIMEOUT: {
        /* checked here too: no round trip for a bad value (Linux's ranges) */
        bool ok = opt == MINITCP_SO_KEEPALIVE       ? true
                  : opt == MINITCP_TCP_KEEPCNT      ? value >= 1 && value <= 127
                  : opt == MINITCP_TCP_USER_TIMEOUT ? value >= 0
                                                    : value >= 1 && value <= 32767;
        if (!ok) {
            errno = EINVAL;
            return -1;
        }
        static const uint32_t code[] = {
            [MINITCP_SO_KEEPALIVE] = PROTO_OPT_KEEPALIVE,
            [MINITCP_TCP_KEEPIDLE] = PROTO_OPT_KEEPIDLE,
            [MINITCP_TCP_KEEPINTVL] = PROTO_OPT_KEEPINTVL,
            [MINITCP_TCP_KEEPCNT] = PROTO_OPT_KEEPCNT,
            [MINITCP_TCP_USER_TIMEOUT] = PROTO_OPT_USER_TIMEOUT,
        };
        struct proto_msg m = {.h = {.type = PT_SETOPT, .sock_id = cs->id}};
        m.u.setopt.opt = code[opt];
        m.u.setopt.value = opt == MINITCP_SO_KEEPALIVE ? value != 0 : value;
        return mtc_simple_request(&m, NULL) < 0 ? -1 : 0;
    }
    default:
        errno = ENOPROTOOPT;
        return -1;
    }
}

int mtc_u_getsockopt(int s, int opt, int *value)
{
    struct csock *cs = mtc_get_sock(s);
    if (!cs) return -1;
    if (!value) {
        errno = EINVAL;
        return -1;
    }
    static const uint32_t code[] = {
        [MINITCP_SO_LINGER_ZERO] = PROTO_OPT_LINGER_ZERO,
        [MINITCP_TCP_NODELAY] = PROTO_OPT_NODELAY,
        [MINITCP_TCP_CONGESTION] = PROTO_OPT_CONGESTION,
        [MINITCP_SO_KEEPALIVE] = PROTO_OPT_KEEPALIVE,
        [MINITCP_TCP_KEEPIDLE] = PROTO_OPT_KEEPIDLE,
        [MINITCP_TCP_KEEPINTVL] = PROTO_OPT_KEEPINTVL,
        [MINITCP_TCP_KEEPCNT] = PROTO_OPT_KEEPCNT,
        [MINITCP_TCP_USER_TIMEOUT] = PROTO_OPT_USER_TIMEOUT,
    };
    if (opt == MINITCP_SO_RCVBUF) {
        *value = (int)cs->rcv.window; /* the library's own buffer */
        return 0;
    }
    if (opt < 0 || (size_t)opt >= sizeof code / sizeof code[0] || !code[opt]) {
        errno = ENOPROTOOPT;
        return -1;
    }
    struct proto_msg m = {.h = {.type = PT_GETOPT, .sock_id = cs->id}}, r;
    m.u.setopt.opt = code[opt];
    if (mtc_simple_request(&m, &r) < 0) return -1;
    *value = (int)r.u.reply.val0;
    return 0;
}

int mtc_u_sock_error(int s)
{
    struct csock *cs = mtc_get_sock(s);
    if (!cs) return -1;
    return cs->err;
}

int mtc_u_getsockname(int s, struct sockaddr_in *addr)
{
    struct csock *cs = mtc_get_sock(s);
    if (!cs) return -1;
    if (!addr) {
        errno = EINVAL;
        return -1;
    }
    *addr = cs->local;
    return 0;
}

int mtc_u_getpeername(int s, struct sockaddr_in *addr)
{
    struct csock *cs = mtc_get_sock(s);
    if (!cs) return -1;
    if (!addr) {
        errno = EINVAL;
        return -1;
    }
    if ((cs->kind == PROTO_SOCK_STREAM && cs->state != CS_CONNECTED) ||
        (cs->kind == PROTO_SOCK_DGRAM && !cs->has_peer)) {
        errno = ENOTCONN;
        return -1;
    }
    *addr = cs->peer;
    return 0;
}
