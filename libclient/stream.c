/* libminitcp-client: stream (TCP) calls. Sending is bounded by the send credit the daemon
 * grants, receiving reads the socket's ring (docs/ipc.md "Flow control"). */
#include <errno.h>

#include "client_internal.h"

int mtc_u_listen(int s, int backlog)
{
    struct csock *cs = mtc_get_sock(s);
    if (!cs) return -1;
    if (cs->kind != PROTO_SOCK_STREAM) {
        errno = EOPNOTSUPP;
        return -1;
    }
    if (cs->state == CS_LISTEN) return 0;
    if (cs->state != CS_BOUND) {
        errno = EINVAL;
        return -1;
    }
    uint32_t b = backlog <= 0 ? 128u : (uint32_t)backlog;
    if (b > PROTO_MAX_BACKLOG) b = PROTO_MAX_BACKLOG;
    struct proto_msg m = {.h = {.type = PT_LISTEN, .sock_id = cs->id}};
    m.u.listen.backlog = b;
    /* mtc_read dispatches every frame of a recv: an ACCEPTED can arrive with the REPLY, and
     * must find the socket listening (else it is refused and the listener's credit lost) */
    cs->state = CS_LISTEN;
    cs->backlog = b;
    if (mtc_simple_request(&m, NULL) < 0) {
        int e = errno;
        mtc.socks[s].state = CS_BOUND; /* no ACCEPTED precedes a failed reply */
        mtc.socks[s].backlog = 0;
        errno = e;
        return -1;
    }
    return 0;
}

int mtc_u_accept(int s, struct sockaddr_in *peer)
{
    struct csock *cs = mtc_get_sock(s);
    if (!cs) return -1;
    if (cs->state != CS_LISTEN) {
        errno = EINVAL;
        return -1;
    }
    while (mtc.socks[s].aq_len == 0) {
        if (mtc.fd < 0) {
            errno = ECONNABORTED;
            return -1;
        }
        if (mtc.socks[s].nonblock) {
            if (mtc_refill()) continue;
            mtc_finish(&mtc.socks[s]);
            errno = EAGAIN;
            return -1;
        }
        if (mtc_wait_more() < 0) return -1;
    }
    cs = &mtc.socks[s];
    int d = cs->aq[cs->aq_head];
    cs->aq_head = (cs->aq_head + 1) % cs->aq_cap;
    cs->aq_len--;
    cs->accepts_owed++;
    uint32_t half = cs->backlog / 2 ? cs->backlog / 2 : 1;
    if (cs->accepts_owed >= half || cs->aq_len == 0) {
        mtc_credit_send(cs->id, cs->accepts_owed);
        cs->accepts_owed = 0;
    }
    if (peer) *peer = mtc.socks[d].peer;
    mtc_finish(cs);
    return d;
}

int mtc_u_connect(int s, const struct sockaddr_in *addr)
{
    struct csock *cs = mtc_get_sock(s);
    if (!cs || mtc_check_sin(addr) < 0) return -1;
    if (cs->kind == PROTO_SOCK_DGRAM) {
        cs->peer = *addr;
        cs->has_peer = true;
        return 0;
    }
    switch (cs->state) {
    case CS_LISTEN:
        errno = EINVAL;
        return -1;
    case CS_CONNECTING:
        errno = EALREADY;
        return -1;
    case CS_CONNECTED:
        errno = EISCONN;
        return -1;
    case CS_FAILED:
        errno = cs->err ? cs->err : ECONNABORTED;
        return -1;
    default:
        break;
    }
    struct proto_msg m = {.h = {.type = PT_CONNECT, .sock_id = cs->id}}, r;
    m.u.addr.addr = ntohl(addr->sin_addr.s_addr);
    m.u.addr.port = ntohs(addr->sin_port);
    /* connecting from now: the handshake's events may arrive in the same read as the reply */
    uint8_t old_state = cs->state;
    cs->state = CS_CONNECTING;
    if (mtc_simple_request(&m, &r) < 0) {
        if (mtc.socks[s].state == CS_CONNECTING) mtc.socks[s].state = old_state;
        return -1;
    }
    cs = &mtc.socks[s];
    cs->peer = *addr;
    mtc_set_addr(&cs->local, r.u.reply.val0, (uint16_t)r.u.reply.val1);
    while (mtc.socks[s].state == CS_CONNECTING) {
        if (mtc.socks[s].nonblock) {
            mtc_finish(&mtc.socks[s]);
            errno = EINPROGRESS;
            return -1;
        }
        if (mtc_wait_more() < 0) return -1;
    }
    cs = &mtc.socks[s];
    if (cs->state == CS_FAILED) {
        errno = cs->err ? cs->err : ECONNREFUSED;
        return -1;
    }
    return 0;
}

ssize_t mtc_u_send(int s, const void *buf, size_t len)
{
    struct csock *cs = mtc_get_sock(s);
    if (!cs) return -1;
    if (cs->kind != PROTO_SOCK_STREAM) {
        errno = EOPNOTSUPP;
        return -1;
    }
    if (!buf && len) {
        errno = EINVAL;
        return -1;
    }
    size_t done = 0;
    const uint8_t *p = buf;
    while (done < len) {
        cs = &mtc.socks[s];
        if (cs->err) {
            if (done) break;
            errno = cs->err_reported ? EPIPE : cs->err;
            cs->err_reported = true;
            return -1;
        }
        if (cs->shut_wr) {
            if (done) break;
            errno = EPIPE;
            return -1;
        }
        if (cs->state != CS_CONNECTED && cs->state != CS_CONNECTING) {
            errno = ENOTCONN;
            return -1;
        }
        if (cs->scredit == 0 || cs->state == CS_CONNECTING) {
            if (cs->nonblock) {
                if (mtc_refill()) {
                    cs = &mtc.socks[s];
                    if (cs->scredit && cs->state == CS_CONNECTED && !cs->err) continue;
                }
                if (done) break;
                mtc_finish(cs);
                errno = EAGAIN;
                return -1;
            }
            if (mtc_wait_more() < 0) {
                if (done) break;
                return -1;
            }
            continue;
        }
        size_t n = len - done;
        if (n > cs->scredit) n = cs->scredit;
        if (n > PROTO_MAX_PAYLOAD) n = PROTO_MAX_PAYLOAD;
        struct proto_msg m = {.h = {.type = PT_DATA, .sock_id = cs->id}};
        m.u.data.ptr = p + done;
        m.u.data.len = n;
        if (mtc_out_msg(&m) < 0) {
            if (done) break;
            return -1;
        }
        cs->scredit -= (uint32_t)n;
        done += n;
        if (mtc.out_len - mtc.out_off >= OUT_FLUSH_AT) {
            (void)mtc_flush();
            (void)mtc_read(); /* take in credit (and keep the daemon's output moving) */
            while (mtc.fd >= 0 && mtc.out_len - mtc.out_off >= OUT_BLOCK_AT && mtc_pump(-1) == 0) {
            }
        }
    }
    mtc_finish(&mtc.socks[s]);
    return (ssize_t)done;
}

ssize_t mtc_u_recv(int s, void *buf, size_t len)
{
    struct csock *cs = mtc_get_sock(s);
    if (!cs) return -1;
    if (cs->kind == PROTO_SOCK_DGRAM) return minitcp_recvfrom(s, buf, len, NULL);
    if (!buf && len) {
        errno = EINVAL;
        return -1;
    }
    if (cs->state == CS_LISTEN) {
        errno = EINVAL;
        return -1;
    }
    if (cs->state == CS_NEW || cs->state == CS_BOUND) {
        errno = ENOTCONN;
        return -1;
    }
    for (;;) {
        cs = &mtc.socks[s];
        if (cs->shut_rd) return 0;
        if (cs->rlen) break;
        if (cs->err) {
            /* as Linux: the error is reported once (by recv or send), then recv sees EOF */
            if (cs->err_reported) return 0;
            cs->err_reported = true;
            errno = cs->err;
            return -1;
        }
        if (cs->eof) return 0;
        if (cs->nonblock) {
            if (mtc_refill()) continue;
            mtc_finish(cs);
            errno = EAGAIN;
            return -1;
        }
        if (mtc_wait_more() < 0) return -1;
    }
    size_t n = len < cs->rlen ? len : cs->rlen;
    mtc_ring_get(cs, buf, n);
    mtc_consumed(cs, (uint32_t)n);
    mtc_finish(cs);
    return (ssize_t)n;
}

int mtc_u_shutdown(int s, int how)
{
    struct csock *cs = mtc_get_sock(s);
    if (!cs) return -1;
    if (how != MINITCP_SHUT_RD && how != MINITCP_SHUT_WR && how != MINITCP_SHUT_RDWR) {
        errno = EINVAL;
        return -1;
    }
    if (cs->kind == PROTO_SOCK_STREAM && cs->state != CS_CONNECTED) {
        errno = ENOTCONN;
        return -1;
    }
    if (how != MINITCP_SHUT_WR && !cs->shut_rd) {
        cs->shut_rd = true;
        if (cs->kind == PROTO_SOCK_STREAM && cs->rlen) {
            size_t n = cs->rlen;
            mtc_ring_get(cs, NULL, n);
            mtc_consumed(cs, (uint32_t)n);
        }
    }
    if (how != MINITCP_SHUT_RD && !cs->shut_wr && cs->kind == PROTO_SOCK_STREAM) {
        struct proto_msg m = {.h = {.type = PT_SHUTDOWN, .sock_id = cs->id}};
        m.u.shutdown.how = PROTO_SHUT_WR;
        if (!cs->err && mtc_simple_request(&m, NULL) < 0) return -1;
        mtc.socks[s].shut_wr = true;
    }
    mtc_finish(&mtc.socks[s]);
    return 0;
}
