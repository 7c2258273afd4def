/* libminitcp-client: datagram (UDP) calls. A received datagram is a record in the socket's
 * ring; reading it returns its cost (length + CREDIT_DGRAM_OVERHEAD) as credit. */
#include <errno.h>

#include "client_internal.h"

ssize_t mtc_u_sendto(int s, const void *buf, size_t len, const struct sockaddr_in *to)
{
    struct csock *cs = mtc_get_sock(s);
    if (!cs) return -1;
    if (cs->kind != PROTO_SOCK_DGRAM) {
        errno = EOPNOTSUPP;
        return -1;
    }
    if (!to) {
        if (!cs->has_peer) {
            errno = EDESTADDRREQ;
            return -1;
        }
        to = &cs->peer;
    }
    if (mtc_check_sin(to) < 0) return -1;
    if (!buf && len) {
        errno = EINVAL;
        return -1;
    }
    if (len > MAX_DGRAM) {
        errno = EMSGSIZE;
        return -1;
    }
    struct proto_msg m = {.h = {.type = PT_DGRAM, .sock_id = cs->id}}, r;
    m.u.dgram.addr = ntohl(to->sin_addr.s_addr);
    m.u.dgram.port = ntohs(to->sin_port);
    m.u.dgram.ptr = buf;
    m.u.dgram.len = len;
    if (mtc_simple_request(&m, &r) < 0) return -1;
    cs = &mtc.socks[s];
    if (cs->state == CS_NEW) {
        cs->state = CS_BOUND;
        mtc_set_addr(&cs->local, r.u.reply.val1, (uint16_t)r.u.reply.val0);
    }
    return (ssize_t)len;
}

ssize_t mtc_u_recvfrom(int s, void *buf, size_t len, struct sockaddr_in *from)
{
    struct csock *cs = mtc_get_sock(s);
    if (!cs) return -1;
    if (cs->kind != PROTO_SOCK_DGRAM) {
        errno = EOPNOTSUPP;
        return -1;
    }
    if (!buf && len) {
        errno = EINVAL;
        return -1;
    }
    for (;;) {
        cs = &mtc.socks[s];
        if (cs->ndgrams) break;
        if (cs->shut_rd) return 0;
        if (cs->err) {
            errno = cs->err;
            return -1;
        }
        if (cs->nonblock) {
            if (mtc_refill()) continue;
            mtc_finish(cs);
            errno = EAGAIN;
            return -1;
        }
        if (mtc_wait_more() < 0) return -1;
    }
    uint8_t rec[12];
    mtc_ring_get(cs, rec, sizeof rec);
    uint32_t dlen = proto_get32(rec + 8);
    size_t n = len < dlen ? len : dlen;
    mtc_ring_get(cs, buf, n);
    if (n < dlen) mtc_ring_get(cs, NULL, dlen - n);
    cs->ndgrams--;
    if (from) mtc_set_addr(from, proto_get32(rec), (uint16_t)proto_get32(rec + 4));
    mtc_consumed(cs, credit_dgram_cost(dlen));
    mtc_finish(cs);
    return (ssize_t)n;
}
