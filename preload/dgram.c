/* libminitcp-preload: datagram (UDP) sockets. The program's descriptor is one end of an
 * AF_UNIX SOCK_SEQPACKET pair, so each datagram stays one message and poll/epoll/select,
 * O_NONBLOCK and FIONREAD are the kernel's. Every message carries an 8-byte header: the
 * peer's IPv4 address and port (network order; 0/0 from the program means "the connected
 * destination"), then the payload. The interposed send and receive calls add and strip
 * it; the pump moves messages to minitcp_sendto / from minitcp_recvfrom. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "minitcp.h"
#include "preload.h"

#define HDR 8
#define MAX_PAYLOAD 65507 /* an IPv4 UDP datagram's limit */

unsigned char pl_dgram_fds[PL_DGRAM_FDS];

static void hdr_put(uint8_t *h, const struct sockaddr_in *a)
{
    memcpy(h, &a->sin_addr.s_addr, 4);
    memcpy(h + 4, &a->sin_port, 2);
    h[6] = h[7] = 0;
}

static void hdr_get(const uint8_t *h, struct sockaddr_in *a)
{
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    memcpy(&a->sin_addr.s_addr, h, 4);
    memcpy(&a->sin_port, h + 4, 2);
}

int pl_dgram_socket(int domain, int type)
{
    int sv[2];
    int flags = type & (SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | flags, 0, sv) < 0) return -1;
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFD, FD_CLOEXEC);
    pthread_mutex_lock(&pl.lock);
    struct pl_sock *s = pl_sock_new(domain);
    if (!s || pl_sock_key(s, sv[0]) < 0 || pl_pump_start() < 0) {
        int e = errno;
        if (s) pl_sock_free(s);
        pthread_mutex_unlock(&pl.lock);
        pl_real.close(sv[0]);
        pl_real.close(sv[1]);
        errno = e;
        return -1;
    }
    s->dgram = true;
    s->state = PL_DGRAM;
    s->p = sv[1];
    if (sv[0] < PL_DGRAM_FDS) pl_dgram_fds[sv[0]] = 1;
    pl_pump_wake();
    pthread_mutex_unlock(&pl.lock);
    return sv[0];
}

/* The socket behind a marked descriptor: its family and connected state, or false (and
 * the mark dropped) when the number now names something else. */
static bool dgram_of(int fd, int *family, bool *has_peer)
{
    struct pl_sock *s = pl_lock_find(fd);
    if (!s || !s->dgram) {
        if (s) pl_unlock();
        pl_dgram_fds[fd] = 0;
        return false;
    }
    *family = s->family;
    *has_peer = s->has_peer;
    pl_unlock();
    return true;
}

bool pl_is_dgram(int fd)
{
    return fd >= 0 && fd < PL_DGRAM_FDS && pl_dgram_fds[fd] && !pl_depth;
}

ssize_t pl_dgram_send(int fd, const struct iovec *iov, int cnt, int flags,
                      const struct sockaddr *to, socklen_t tolen, bool *handled)
{
    int family;
    bool has_peer;
    *handled = dgram_of(fd, &family, &has_peer);
    if (!*handled) return -1;
    if (cnt < 0 || cnt > 1023) {
        errno = EINVAL;
        return -1;
    }
    uint8_t h[HDR];
    struct sockaddr_in a = {.sin_family = AF_INET};
    if (to) {
        if (pl_addr_in(family, to, tolen, &a, false) < 0) return -1;
        if (a.sin_addr.s_addr == 0 && a.sin_port == 0) {
            errno = EINVAL;
            return -1;
        }
    } else if (!has_peer) {
        errno = EDESTADDRREQ;
        return -1;
    }
    hdr_put(h, &a);
    size_t total = 0;
    struct iovec v[1024];
    v[0] = (struct iovec){.iov_base = h, .iov_len = HDR};
    for (int i = 0; i < cnt; i++) {
        v[i + 1] = iov[i];
        total += iov[i].iov_len;
    }
    if (total > MAX_PAYLOAD) {
        errno = EMSGSIZE;
        return -1;
    }
    struct msghdr mh = {.msg_iov = v, .msg_iovlen = (size_t)cnt + 1};
    ssize_t n = pl_real.sendmsg(fd, &mh, (flags & MSG_DONTWAIT) | MSG_NOSIGNAL);
    if (n < 0 && errno == EPIPE && !(flags & MSG_NOSIGNAL)) raise(SIGPIPE);
    return n < 0 ? -1 : n - HDR;
}

ssize_t pl_dgram_recv(int fd, struct msghdr *msg, int flags, bool *handled)
{
    int family;
    bool has_peer;
    *handled = dgram_of(fd, &family, &has_peer);
    if (!*handled) return -1;
    if (msg->msg_iovlen > 1023) {
        errno = EINVAL;
        return -1;
    }
    uint8_t h[HDR];
    struct iovec v[1024];
    v[0] = (struct iovec){.iov_base = h, .iov_len = HDR};
    for (size_t i = 0; i < msg->msg_iovlen; i++)
        v[i + 1] = msg->msg_iov[i];
    struct msghdr mh = {.msg_iov = v, .msg_iovlen = msg->msg_iovlen + 1};
    ssize_t n = pl_real.recvmsg(fd, &mh, flags & (MSG_DONTWAIT | MSG_PEEK | MSG_TRUNC));
    if (n < 0) return -1;
    if (n == 0) { /* the pump let go: the socket failed */
        msg->msg_namelen = 0;
        return 0;
    }
    if (n < HDR) {
        errno = EIO;
        return -1;
    }
    struct sockaddr_in from;
    hdr_get(h, &from);
    if (msg->msg_name) {
        socklen_t l = msg->msg_namelen;
        pl_addr_out(family, &from, msg->msg_name, &l);
        msg->msg_namelen = l;
    }
    msg->msg_controllen = 0;
    msg->msg_flags = mh.msg_flags & MSG_TRUNC;
    return n - HDR;
}

/* ---- the pump's side (pl.lock held) ---- */

static uint8_t buf[HDR + 65536];

static bool ensure_dgram_ms(struct pl_sock *s)
{
    if (s->ms >= 0) return true;
    if (pl_ensure_ms(s) == 0) return true;
    s->err = errno;
    pl_errs_seen = true;
    return false;
}

bool pl_dgram_service(struct pl_sock *s)
{
    bool moved = false;
    /* program -> net, a bounded batch per pass */
    for (int i = 0; i < 64; i++) {
        ssize_t n = pl_real.recv(s->p, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0 && errno == EAGAIN) break;
        if (n <= 0) { /* the program closed every copy of its end */
            if (s->ms >= 0) minitcp_close(s->ms);
            pl_real.close(s->p);
            pl_sock_free(s);
            return true;
        }
        moved = true;
        if (n < HDR || !ensure_dgram_ms(s)) continue;
        struct sockaddr_in to;
        hdr_get(buf, &to);
        bool deflt = to.sin_addr.s_addr == 0 && to.sin_port == 0;
        if (minitcp_sendto(s->ms, buf + HDR, (size_t)n - HDR, deflt ? NULL : &to) < 0) {
            s->err = errno; /* SO_ERROR; the datagram is lost, as UDP may lose it */
        }
    }
    /* net -> program */
    for (int i = 0; s->ms >= 0 && i < 64; i++) {
        struct sockaddr_in from;
        ssize_t n = minitcp_recvfrom(s->ms, buf + HDR, sizeof buf - HDR, &from);
        if (n < 0) break;
        hdr_put(buf, &from);
        moved = true;
        if (pl_real.sendto(s->p, buf, (size_t)n + HDR, MSG_DONTWAIT | MSG_NOSIGNAL, NULL, 0) < 0)
            s->dgram_drops++; /* the program's queue is full: dropped, like a full rcvbuf */
    }
    s->p_events = POLLIN;
    return moved;
}
