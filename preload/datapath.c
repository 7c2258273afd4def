/* libminitcp-preload: the data-path calls. For a stream socket they are the kernel's own
 * (the program's descriptor carries the connection's bytes); they are interposed only to
 * report a failed connection's error (below) and to frame datagrams (dgram.c). */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "preload.h"

/* ---- errors of the connection on the data path ----
 * The program reads and writes its AF_UNIX end directly; when the connection failed (reset,
 * timed out, the daemon gone) the pump closed the other end, so a read sees EOF and a write
 * EPIPE. The first of them reports the connection's error instead, once, as Linux does. */
_Atomic bool pl_errs_seen;

static ssize_t data_err(int fd, ssize_t n, size_t want)
{
    if (!pl_errs_seen || pl_depth) return n;
    if (n > 0 || (n == 0 && want == 0)) return n;
    if (n < 0 && errno != EPIPE && errno != ECONNRESET) return n;
    int saved = errno;
    struct pl_sock *s = pl_lock_find(fd);
    if (!s) {
        errno = saved;
        return n;
    }
    int e = s->state == PL_DONE ? s->err : 0;
    if (e) s->err = 0;
    pl_unlock();
    if (!e) {
        errno = saved;
        return n;
    }
    errno = e;
    return -1;
}

/* A datagram socket's receive: the header stripped, the sender filled in (dgram.c). */
static ssize_t drecv(int fd, void *buf, size_t n, int flags, struct sockaddr *from, socklen_t *fl,
                     bool *handled)
{
    struct iovec v = {.iov_base = buf, .iov_len = n};
    struct msghdr m = {
        .msg_iov = &v, .msg_iovlen = 1, .msg_name = from, .msg_namelen = fl ? *fl : 0};
    ssize_t r = pl_dgram_recv(fd, &m, flags, handled);
    if (*handled && r >= 0 && fl && from) *fl = m.msg_namelen;
    return r;
}

static ssize_t dsend(int fd, const void *buf, size_t n, int flags, const struct sockaddr *to,
                     socklen_t tolen, bool *handled)
{
    struct iovec v = {.iov_base = (void *)buf, .iov_len = n};
    return pl_dgram_send(fd, &v, 1, flags, to, tolen, handled);
}

ssize_t read(int fd, void *buf, size_t n)
{
    pl_resolve();
    if (pl_is_dgram(fd)) {
        bool h;
        ssize_t r = drecv(fd, buf, n, 0, NULL, NULL, &h);
        if (h) return r;
    }
    return data_err(fd, pl_real.read(fd, buf, n), n);
}

ssize_t recv(int fd, void *buf, size_t n, int flags)
{
    pl_resolve();
    if (pl_is_dgram(fd)) {
        bool h;
        ssize_t r = drecv(fd, buf, n, flags, NULL, NULL, &h);
        if (h) return r;
    }
    return data_err(fd, pl_real.recv(fd, buf, n, flags), n);
}

ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *from, socklen_t *fl)
{
    pl_resolve();
    if (pl_is_dgram(fd)) {
        bool h;
        ssize_t r = drecv(fd, buf, n, flags, from, fl, &h);
        if (h) return r;
    }
    return data_err(fd, pl_real.recvfrom(fd, buf, n, flags, from, fl), n);
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    pl_resolve();
    if (msg && pl_is_dgram(fd)) {
        bool h;
        ssize_t r = pl_dgram_recv(fd, msg, flags, &h);
        if (h) return r;
    }
    ssize_t n = pl_real.recvmsg(fd, msg, flags);
    return data_err(fd, n, msg && msg->msg_iovlen ? 1 : 0);
}

ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
    pl_resolve();
    if (pl_is_dgram(fd) && cnt >= 0) {
        bool h;
        struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)cnt};
        ssize_t r = pl_dgram_recv(fd, &m, 0, &h);
        if (h) return r;
    }
    return data_err(fd, pl_real.readv(fd, iov, cnt), cnt > 0 ? 1 : 0);
}

ssize_t write(int fd, const void *buf, size_t n)
{
    pl_resolve();
    if (pl_is_dgram(fd)) {
        bool h;
        ssize_t r = dsend(fd, buf, n, 0, NULL, 0, &h);
        if (h) return r;
    }
    return data_err(fd, pl_real.write(fd, buf, n), n);
}

ssize_t send(int fd, const void *buf, size_t n, int flags)
{
    pl_resolve();
    if (pl_is_dgram(fd)) {
        bool h;
        ssize_t r = dsend(fd, buf, n, flags, NULL, 0, &h);
        if (h) return r;
    }
    return data_err(fd, pl_real.sendto(fd, buf, n, flags, NULL, 0), n);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    pl_resolve();
    if (pl_is_dgram(fd)) {
        bool h;
        ssize_t r = pl_dgram_send(fd, iov, cnt, 0, NULL, 0, &h);
        if (h) return r;
    }
    return data_err(fd, pl_real.writev(fd, iov, cnt), cnt > 0 ? 1 : 0);
}

/* A connected TCP socket ignores a destination; an AF_UNIX stream would refuse it. */
ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *to,
               socklen_t tolen)
{
    pl_resolve();
    if (pl_is_dgram(fd)) {
        bool h;
        ssize_t r = dsend(fd, buf, n, flags, to, tolen, &h);
        if (h) return r;
    }
    if (to && !pl_depth) {
        struct pl_sock *s = pl_lock_find(fd);
        if (s) {
            pl_unlock();
            to = NULL;
            tolen = 0;
        }
    }
    return data_err(fd, pl_real.sendto(fd, buf, n, flags, to, tolen), n);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    pl_resolve();
    if (msg && pl_is_dgram(fd)) {
        bool h;
        ssize_t r = pl_dgram_send(fd, msg->msg_iov, (int)msg->msg_iovlen, flags, msg->msg_name,
                                  msg->msg_namelen, &h);
        if (h) return r;
    }
    if (msg && msg->msg_name && !pl_depth) {
        struct pl_sock *s = pl_lock_find(fd);
        if (s) {
            pl_unlock();
            struct msghdr m = *msg;
            m.msg_name = NULL;
            m.msg_namelen = 0;
            return data_err(fd, pl_real.sendmsg(fd, &m, flags), 1);
        }
    }
    return data_err(fd, pl_real.sendmsg(fd, msg, flags), 1);
}
