/* libminitcp-preload: the interposed socket calls. Descriptors that are not MiniTCP
 * sockets (files, pipes, AF_UNIX, netlink, our own) go straight to libc. Data calls
 * (read/write/poll/epoll/select/sendfile/ioctl/fcntl/shutdown) are never interposed: the
 * program's descriptor is a real AF_UNIX stream whose bytes are the connection's. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "minitcp.h"
#include "preload.h"

struct pl_real pl_real;

#define RESOLVE(name) pl_real.name = (__typeof__(pl_real.name))dlsym(RTLD_NEXT, #name)

static void pl_prepare(void)
{
    pthread_mutex_lock(&pl.lock);
}
static void pl_parent(void)
{
    pthread_mutex_unlock(&pl.lock);
}

void pl_resolve(void)
{
    if (pl_real.close) return;
    RESOLVE(socket);
    RESOLVE(bind);
    RESOLVE(listen);
    RESOLVE(connect);
    RESOLVE(accept);
    RESOLVE(accept4);
    RESOLVE(getsockname);
    RESOLVE(getpeername);
    RESOLVE(setsockopt);
    RESOLVE(getsockopt);
    RESOLVE(sendto);
    RESOLVE(sendmsg);
    RESOLVE(recv);
    RESOLVE(read);
    RESOLVE(recvfrom);
    RESOLVE(recvmsg);
    RESOLVE(readv);
    RESOLVE(write);
    RESOLVE(writev);
    RESOLVE(close);
}

__attribute__((constructor)) static void pl_init(void)
{
    pl_resolve();
    pthread_atfork(pl_prepare, pl_parent, pl_atfork_child);
}

static int fail(int e)
{
    errno = e;
    return -1;
}

/* Takes the lock and finds fd's socket; NULL (lock released) when fd is not ours. */
struct pl_sock *pl_lock_find(int fd)
{
    pl_resolve();
    if (pl_depth) return NULL;
    pthread_mutex_lock(&pl.lock);
    struct pl_sock *s = pl.nsocks ? pl_find_fd(fd) : NULL;
    if (!s)
        pthread_mutex_unlock(&pl.lock);
    else
        pl_depth++; /* our own calls while we hold the lock go straight to libc */
    return s;
}

void pl_unlock(void)
{
    pl_depth--;
    pthread_mutex_unlock(&pl.lock);
}

static int unlock_ret(int rc, int e)
{
    pl_unlock();
    if (rc < 0) errno = e;
    return rc;
}

/* Makes newfd (a fresh object of ours) the object behind the program's fd, keeping the
 * descriptor's close-on-exec and the description's O_NONBLOCK. */
static int replace_fd(int fd, int newfd)
{
    int fdfl = fcntl(fd, F_GETFD);
    int fl = fcntl(fd, F_GETFL);
    if (fdfl < 0 || fl < 0) return -1;
    /* timeouts the program set on the old object (read/write/accept honour them) */
    static const int tmo[] = {SO_RCVTIMEO, SO_SNDTIMEO};
    for (int i = 0; i < 2; i++) {
        struct timeval tv;
        socklen_t tl = sizeof tv;
        if (pl_real.getsockopt(fd, SOL_SOCKET, tmo[i], &tv, &tl) == 0 && (tv.tv_sec || tv.tv_usec))
            pl_real.setsockopt(newfd, SOL_SOCKET, tmo[i], &tv, sizeof tv);
    }
    if (dup3(newfd, fd, (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0) return -1;
    return fcntl(fd, F_SETFL, fl & O_NONBLOCK);
}

int socket(int domain, int type, int protocol)
{
    pl_resolve();
    int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (pl_depth || (domain != AF_INET && domain != AF_INET6))
        return pl_real.socket(domain, type, protocol);
    if (base == SOCK_DGRAM) {
        if (protocol != 0 && protocol != IPPROTO_UDP) return fail(EPROTONOSUPPORT);
        return pl_dgram_socket(domain, type);
    }
    if (base != SOCK_STREAM) {
        /* raw sockets do not go through MiniTCP: refused, never sent by the kernel
         * behind the stack's back */
        return fail(ESOCKTNOSUPPORT);
    }
    if (protocol != 0 && protocol != IPPROTO_TCP) return fail(EPROTONOSUPPORT);
    int fd = pl_real.socket(AF_UNIX, SOCK_STREAM | (type & (SOCK_NONBLOCK | SOCK_CLOEXEC)), 0);
    if (fd < 0) return -1;
    pthread_mutex_lock(&pl.lock);
    struct pl_sock *s = pl_sock_new(domain);
    if (!s || pl_sock_key(s, fd) < 0) {
        int e = errno;
        if (s) pl_sock_free(s);
        pthread_mutex_unlock(&pl.lock);
        pl_real.close(fd);
        return fail(e);
    }
    pthread_mutex_unlock(&pl.lock);
    return fd;
}

int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    struct pl_sock *s = pl_lock_find(fd);
    if (!s) return pl_real.bind(fd, addr, len);
    struct sockaddr_in a;
    bool dgram_unbound = s->state == PL_DGRAM && !s->has_local && s->ms < 0;
    if ((s->state != PL_NEW && !dgram_unbound) || s->inherited) return unlock_ret(-1, EINVAL);
    if (pl_addr_in(s->family, addr, len, &a, true) < 0) return unlock_ret(-1, errno);
    if (pl_ensure_ms(s) < 0) return unlock_ret(-1, errno);
    pl_depth++;
    int rc = minitcp_bind(s->ms, &a);
    int e = errno;
    if (rc == 0) {
        if (s->state == PL_NEW) s->state = PL_BOUND;
        s->has_local = minitcp_getsockname(s->ms, &s->local) == 0;
    }
    pl_depth--;
    pl_pump_wake();
    return unlock_ret(rc, e);
}

/* listen() on a socket without a port: Linux picks an ephemeral one; MiniTCP's listen
 * needs it given, so we pick it (the daemon refuses one in use: try another). */
static int ephemeral_bind(struct pl_sock *s)
{
    if (pl_ensure_ms(s) < 0) return -1;
    struct sockaddr_in a = s->local;
    a.sin_family = AF_INET;
    unsigned seed = (unsigned)getpid() ^ (unsigned)(uintptr_t)s;
    for (int i = 0; i < 64; i++) {
        seed = seed * 1103515245u + 12345u;
        a.sin_port = htons((uint16_t)(32768 + (seed >> 8) % 28232));
        if (minitcp_bind(s->ms, &a) == 0) {
            s->has_local = minitcp_getsockname(s->ms, &s->local) == 0;
            s->state = PL_BOUND;
            return 0;
        }
        if (errno != EADDRINUSE) return -1;
    }
    errno = EADDRINUSE;
    return -1;
}

int listen(int fd, int backlog)
{
    struct pl_sock *s = pl_lock_find(fd);
    if (!s) return pl_real.listen(fd, backlog);
    if (s->state == PL_LISTEN) {
        s->backlog = backlog;
        return unlock_ret(0, 0);
    }
    if (s->dgram) return unlock_ret(-1, EOPNOTSUPP);
    if ((s->state != PL_NEW && s->state != PL_BOUND) || s->inherited) return unlock_ret(-1, EINVAL);
    if (s->local.sin_port == 0 && ephemeral_bind(s) < 0) return unlock_ret(-1, errno);
    int l = pl_real.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l < 0) return unlock_ret(-1, errno);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    s->lnamelen = sizeof s->lname;
    /* autobind: an abstract name of the kernel's choosing */
    if (pl_real.bind(l, (struct sockaddr *)&un, sizeof(sa_family_t)) < 0 ||
        pl_real.listen(l, 4096) < 0 ||
        pl_real.getsockname(l, (struct sockaddr *)&s->lname, &s->lnamelen) < 0) {
        int e = errno;
        pl_real.close(l);
        s->lnamelen = 0;
        return unlock_ret(-1, e);
    }
    int rc = minitcp_listen(s->ms, backlog);
    int e = errno;
    if (rc < 0 || replace_fd(fd, l) < 0 || pl_sock_key(s, fd) < 0) {
        if (rc == 0) e = errno;
        pl_real.close(l);
        s->lnamelen = 0;
        return unlock_ret(-1, e);
    }
    pl_real.close(l);
    s->state = PL_LISTEN;
    s->backlog = backlog;
    pl_pump_wake();
    return unlock_ret(0, 0);
}

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    struct pl_sock *s = pl_lock_find(fd);
    if (!s) return pl_real.connect(fd, addr, len);
    struct sockaddr_in a;
    if (s->dgram) { /* the default destination */
        if (s->inherited) return unlock_ret(-1, EINVAL);
        if (pl_addr_in(s->family, addr, len, &a, false) < 0) return unlock_ret(-1, errno);
        if (pl_ensure_ms(s) < 0) return unlock_ret(-1, errno);
        int rc = minitcp_connect(s->ms, &a);
        int e = errno;
        if (rc == 0) {
            s->peer = a;
            s->has_peer = true;
        }
        pl_pump_wake();
        return unlock_ret(rc, e);
    }
    switch (s->state) {
    case PL_CONNECTING:
        return unlock_ret(-1, EALREADY);
    case PL_CONNECTED:
        return unlock_ret(-1, EISCONN);
    case PL_LISTEN:
        return unlock_ret(-1, EINVAL);
    case PL_DONE:
        if (s->has_peer) return unlock_ret(-1, EISCONN);
        break;
    default:
        break;
    }
    if (s->inherited || s->state == PL_DONE) return unlock_ret(-1, ECONNABORTED);
    if (pl_addr_in(s->family, addr, len, &a, false) < 0) return unlock_ret(-1, errno);
    if (pl_ensure_ms(s) < 0) return unlock_ret(-1, errno);
    int fl = fcntl(fd, F_GETFL);
    bool nonblock = fl >= 0 && (fl & O_NONBLOCK);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) return unlock_ret(-1, errno);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    size_t junk = 0;
    if (nonblock) {
        /* Until the handshake ends the program's end must not poll writable: fill it. */
        int one = 1;
        pl_real.setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &one, sizeof one);
        static const char zero[4096];
        for (;;) {
            ssize_t n =
                pl_real.sendto(sv[0], zero, sizeof zero, MSG_DONTWAIT | MSG_NOSIGNAL, NULL, 0);
            if (n <= 0) break;
            junk += (size_t)n;
        }
    }
    if (replace_fd(fd, sv[0]) < 0 || pl_sock_key(s, fd) < 0) {
        int e = errno;
        pl_real.close(sv[0]);
        pl_real.close(sv[1]);
        return unlock_ret(-1, e);
    }
    if (nonblock) {
        s->hold = sv[0];
    } else {
        pl_real.close(sv[0]);
    }
    s->p = sv[1];
    s->junk = junk;
    s->nonblock_connect = nonblock;
    pl_depth++;
    int rc = minitcp_connect(s->ms, &a);
    int e = errno;
    pl_depth--;
    if (rc < 0 && e != EINPROGRESS) {
        if (e == EINVAL || e == EADDRINUSE || e == ENETUNREACH || e == EHOSTUNREACH ||
            e == EADDRNOTAVAIL) {
            /* nothing happened yet: the socket stays usable as on Linux */
            pl_real.close(s->p);
            if (s->hold >= 0) pl_real.close(s->hold);
            s->p = s->hold = -1;
            s->junk = 0;
            return unlock_ret(-1, e);
        }
        /* refused at once: the pump reports it like a failure found later */
    }
    s->state = PL_CONNECTING;
    pl_pump_wake();
    if (nonblock) return unlock_ret(-1, EINPROGRESS);
    s->waiter = true;
    while (s->state == PL_CONNECTING)
        pthread_cond_wait(&pl.cond, &pl.lock);
    s->waiter = false;
    if (s->state == PL_CONNECTED) return unlock_ret(0, 0);
    e = s->err ? s->err : ECONNABORTED;
    s->err = 0; /* reported by connect itself */
    return unlock_ret(-1, e);
}

/* Receives the descriptor the pump passed on c (a connection accepted from our listening
 * socket). Returns it, or -1 with errno (the status the pump sent, or EAGAIN for junk). */
static int take_accepted(int c, struct pl_accept_msg *m)
{
    struct ucred cred;
    socklen_t cl = sizeof cred;
    if (pl_real.getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 || cred.uid != geteuid())
        return fail(EAGAIN); /* a stranger in the namespace: not ours */
    struct iovec iov = {.iov_base = m, .iov_len = sizeof *m};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    ssize_t n;
    do
        n = pl_real.recvmsg(c, &mh, MSG_CMSG_CLOEXEC | MSG_WAITALL);
    while (n < 0 && errno == EINTR);
    int fd = -1;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
            cm->cmsg_len == CMSG_LEN(sizeof(int)))
            memcpy(&fd, CMSG_DATA(cm), sizeof fd);
    if (n != (ssize_t)sizeof *m || m->status != 0) {
        if (fd >= 0) pl_real.close(fd);
        return fail(n == (ssize_t)sizeof *m && m->status > 0 ? m->status : EAGAIN);
    }
    if (fd < 0) return fail(EAGAIN);
    return fd;
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    struct pl_sock *s = pl_lock_find(fd);
    if (!s) return pl_real.accept4(fd, addr, len, flags);
    bool listening = s->state == PL_LISTEN, s_dgram = s->dgram;
    int family = s->family;
    pl_unlock();
    if (!listening) return fail(s_dgram ? EOPNOTSUPP : EINVAL);
    if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) return fail(EINVAL);
    for (;;) {
        int c = pl_real.accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) return -1;
        struct pl_accept_msg m;
        int nfd = take_accepted(c, &m);
        int e = errno;
        pl_real.close(c);
        if (nfd < 0) {
            if (e == EAGAIN) continue; /* junk: take the next one (or EAGAIN from accept) */
            return fail(e);
        }
        if (!(flags & SOCK_CLOEXEC)) fcntl(nfd, F_SETFD, 0);
        if (flags & SOCK_NONBLOCK) fcntl(nfd, F_SETFL, O_NONBLOCK);
        pl_addr_out(family, &m.peer, addr, len);
        pthread_mutex_lock(&pl.lock);
        struct pl_sock *n = pl_find_fd(nfd);
        if (!n && (n = pl_sock_new(family)) != NULL) {
            /* a forked child accepting on its parent's listener */
            if (pl_sock_key(n, nfd) < 0) {
                pl_sock_free(n);
                n = NULL;
            } else {
                n->inherited = true;
                n->state = PL_CONNECTED;
                n->local = m.local;
                n->peer = m.peer;
                n->has_local = n->has_peer = true;
            }
        }
        if (n) n->family = family;
        pthread_mutex_unlock(&pl.lock);
        return nfd;
    }
}

int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    return accept4(fd, addr, len, 0);
}

int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
    struct pl_sock *s = pl_lock_find(fd);
    if (!s) return pl_real.getsockname(fd, addr, len);
    if (!addr || !len) return unlock_ret(-1, EFAULT);
    struct sockaddr_in a = {.sin_family = AF_INET};
    if (s->dgram && s->ms >= 0 && !s->inherited && minitcp_getsockname(s->ms, &s->local) == 0)
        s->has_local = true; /* an ephemeral port is picked at the first send */
    if (s->has_local) a = s->local;
    pl_addr_out(s->family, &a, addr, len);
    return unlock_ret(0, 0);
}

int getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
    struct pl_sock *s = pl_lock_find(fd);
    if (!s) return pl_real.getpeername(fd, addr, len);
    if (!addr || !len) return unlock_ret(-1, EFAULT);
    if (!s->has_peer || s->state == PL_CONNECTING || (s->state == PL_DONE && s->err))
        return unlock_ret(-1, ENOTCONN);
    pl_addr_out(s->family, &s->peer, addr, len);
    return unlock_ret(0, 0);
}

/* Option values kept in s and, when the daemon socket exists, passed on to it. */
static int set_ms(struct pl_sock *s, int opt, int v)
{
    if (s->ms < 0 || s->inherited) return 0;
    pl_depth++;
    int rc = minitcp_setsockopt(s->ms, opt, v);
    pl_depth--;
    pl_pump_wake();
    return rc;
}

static int opt_int(const void *val, socklen_t len, int *v)
{
    if (!val || len < sizeof(int)) return fail(EINVAL);
    memcpy(v, val, sizeof *v);
    return 0;
}

static int cc_from_name(const char *name, socklen_t len)
{
    char b[16] = {0};
    memcpy(b, name, len < sizeof b - 1 ? len : sizeof b - 1);
    if (!strcmp(b, "cubic")) return MINITCP_CC_CUBIC;
    if (!strcmp(b, "reno") || !strcmp(b, "newreno")) return MINITCP_CC_NEWRENO;
    return -1;
}

static int tcp_setopt(struct pl_sock *s, int opt, const void *val, socklen_t len)
{
    int v;
    if (opt == TCP_CONGESTION) {
        if (!val) return fail(EFAULT);
        int cc = cc_from_name(val, len);
        if (cc < 0) return fail(ENOENT); /* Linux: no such congestion control */
        s->cc = cc;
        return set_ms(s, MINITCP_TCP_CONGESTION, cc);
    }
    if (opt_int(val, len, &v) < 0) return -1;
    switch (opt) {
    case TCP_NODELAY:
        s->nodelay = v != 0;
        return set_ms(s, MINITCP_TCP_NODELAY, v != 0);
    case TCP_KEEPIDLE:
    case TCP_KEEPINTVL:
        if (v < 1 || v > 32767) return fail(EINVAL);
        *(opt == TCP_KEEPIDLE ? &s->keepidle : &s->keepintvl) = v;
        return set_ms(s, opt == TCP_KEEPIDLE ? MINITCP_TCP_KEEPIDLE : MINITCP_TCP_KEEPINTVL, v);
    case TCP_KEEPCNT:
        if (v < 1 || v > 127) return fail(EINVAL);
        s->keepcnt = v;
        return set_ms(s, MINITCP_TCP_KEEPCNT, v);
    case TCP_USER_TIMEOUT:
        if (v < 0) return fail(EINVAL);
        s->user_timeout = v;
        return set_ms(s, MINITCP_TCP_USER_TIMEOUT, v);
    case TCP_MAXSEG:
    case TCP_CORK:
    case TCP_QUICKACK:
    case TCP_DEFER_ACCEPT:
    case TCP_FASTOPEN:
    case TCP_NOTSENT_LOWAT:
    case TCP_WINDOW_CLAMP:
    case TCP_LINGER2:
    case TCP_SYNCNT:
        return 0; /* accepted; MiniTCP has no such knob */
    default:
        return fail(ENOPROTOOPT);
    }
}

int setsockopt(int fd, int level, int opt, const void *val, socklen_t len)
{
    struct pl_sock *s = pl_lock_find(fd);
    if (!s) return pl_real.setsockopt(fd, level, opt, val, len);
    int v, rc = 0;
    if (level == IPPROTO_TCP && s->dgram) return unlock_ret(-1, ENOPROTOOPT);
    if (level == IPPROTO_TCP) {
        rc = tcp_setopt(s, opt, val, len);
        return unlock_ret(rc, errno);
    }
    if (level == IPPROTO_IP || level == IPPROTO_IPV6) {
        if (level == IPPROTO_IPV6 && s->family != AF_INET6) return unlock_ret(-1, ENOPROTOOPT);
        return unlock_ret(0, 0); /* TOS, TTL, V6ONLY ...: accepted, no effect on MiniTCP */
    }
    if (level != SOL_SOCKET) return unlock_ret(-1, ENOPROTOOPT);
    switch (opt) {
    case SO_LINGER: {
        struct linger lg;
        if (!val || len < sizeof lg) return unlock_ret(-1, EINVAL);
        memcpy(&lg, val, sizeof lg);
        s->linger_on = lg.l_onoff != 0;
        s->linger_s = lg.l_linger;
        rc = set_ms(s, MINITCP_SO_LINGER_ZERO, s->linger_on && lg.l_linger == 0);
        return unlock_ret(rc, errno);
    }
    case SO_REUSEADDR:
    case SO_REUSEPORT:
    case SO_KEEPALIVE:
    case SO_RCVBUF:
    case SO_SNDBUF:
    case SO_BROADCAST:
    case SO_OOBINLINE:
    case SO_PRIORITY:
    case SO_DONTROUTE:
        if (opt_int(val, len, &v) < 0) return unlock_ret(-1, errno);
        break;
    default:
        /* timeouts, low-water marks ...: the program's descriptor is a real socket */
        pl_unlock();
        return pl_real.setsockopt(fd, level, opt, val, len);
    }
    if (opt == SO_REUSEADDR) s->reuseaddr = v != 0;
    if (opt == SO_KEEPALIVE) {
        s->keepalive = v != 0;
        rc = set_ms(s, MINITCP_SO_KEEPALIVE, v != 0);
    }
    if (opt == SO_RCVBUF) {
        s->rcvbuf = v;
        int w = v < 4096 ? 4096 : v > 4194304 ? 4194304 : v;
        rc = set_ms(s, MINITCP_SO_RCVBUF, w);
    }
    if (opt == SO_SNDBUF) s->sndbuf = v;
    return unlock_ret(rc, errno);
}

static int put_int(void *val, socklen_t *len, int v)
{
    if (!val || !len) return fail(EFAULT);
    if (*len > sizeof v) *len = sizeof v;
    memcpy(val, &v, *len);
    return 0;
}

static int get_ms(struct pl_sock *s, int opt, int dflt)
{
    int v = dflt;
    if (s->ms >= 0 && !s->inherited) {
        pl_depth++;
        if (minitcp_getsockopt(s->ms, opt, &v) < 0) v = dflt;
        pl_depth--;
        pl_pump_wake();
    }
    return v;
}

static int tcp_getopt(struct pl_sock *s, int opt, void *val, socklen_t *len)
{
    switch (opt) {
    case TCP_NODELAY:
        return put_int(val, len, s->nodelay);
    case TCP_KEEPIDLE:
        return put_int(val, len, s->keepidle);
    case TCP_KEEPINTVL:
        return put_int(val, len, s->keepintvl);
    case TCP_KEEPCNT:
        return put_int(val, len, s->keepcnt);
    case TCP_USER_TIMEOUT:
        return put_int(val, len, s->user_timeout);
    case TCP_MAXSEG:
        return put_int(val, len, s->state == PL_CONNECTED ? 1448 : 536);
    case TCP_CONGESTION: {
        if (!val || !len) return fail(EFAULT);
        int cc = get_ms(s, MINITCP_TCP_CONGESTION, s->cc < 0 ? MINITCP_CC_CUBIC : s->cc);
        char b[16] = {0};
        strcpy(b, cc == MINITCP_CC_NEWRENO ? "reno" : "cubic");
        if (*len > sizeof b) *len = sizeof b;
        memcpy(val, b, *len);
        return 0;
    }
    case TCP_INFO: {
        if (!val || !len) return fail(EFAULT);
        struct tcp_info ti;
        memset(&ti, 0, sizeof ti);
        ti.tcpi_state = s->state == PL_CONNECTED    ? TCP_ESTABLISHED
                        : s->state == PL_LISTEN     ? TCP_LISTEN
                        : s->state == PL_CONNECTING ? TCP_SYN_SENT
                                                    : TCP_CLOSE;
        ti.tcpi_snd_mss = ti.tcpi_rcv_mss = 1448;
        if (*len > sizeof ti) *len = sizeof ti;
        memcpy(val, &ti, *len);
        return 0;
    }
    default:
        return fail(ENOPROTOOPT);
    }
}

int getsockopt(int fd, int level, int opt, void *val, socklen_t *len)
{
    struct pl_sock *s = pl_lock_find(fd);
    if (!s) return pl_real.getsockopt(fd, level, opt, val, len);
    int rc;
    if (level == IPPROTO_TCP && s->dgram) return unlock_ret(-1, EOPNOTSUPP);
    if (level == IPPROTO_TCP) {
        rc = tcp_getopt(s, opt, val, len);
        return unlock_ret(rc, errno);
    }
    if (level == IPPROTO_IP && opt == IP_TOS) return unlock_ret(put_int(val, len, 0), errno);
    if (level == IPPROTO_IPV6 && opt == IPV6_V6ONLY && s->family == AF_INET6)
        return unlock_ret(put_int(val, len, 0), errno);
    if (level != SOL_SOCKET) return unlock_ret(-1, ENOPROTOOPT);
    switch (opt) {
    case SO_ERROR: {
        int e = s->err;
        s->err = 0;
        int junk;
        socklen_t jl = sizeof junk; /* clears the pair's own error, which we stand for */
        pl_real.getsockopt(fd, SOL_SOCKET, SO_ERROR, &junk, &jl);
        return unlock_ret(put_int(val, len, e), errno);
    }
    case SO_TYPE:
        return unlock_ret(put_int(val, len, s->dgram ? SOCK_DGRAM : SOCK_STREAM), errno);
    case SO_DOMAIN:
        return unlock_ret(put_int(val, len, s->family), errno);
    case SO_PROTOCOL:
        return unlock_ret(put_int(val, len, s->dgram ? IPPROTO_UDP : IPPROTO_TCP), errno);
    case SO_ACCEPTCONN:
        return unlock_ret(put_int(val, len, s->state == PL_LISTEN), errno);
    case SO_REUSEADDR:
        return unlock_ret(put_int(val, len, s->reuseaddr), errno);
    case SO_KEEPALIVE:
        return unlock_ret(put_int(val, len, s->keepalive), errno);
    case SO_RCVBUF:
        return unlock_ret(put_int(val, len, s->rcvbuf ? 2 * s->rcvbuf : 262144), errno);
    case SO_SNDBUF:
        return unlock_ret(put_int(val, len, s->sndbuf ? 2 * s->sndbuf : 262144), errno);
    case SO_LINGER: {
        struct linger lg = {.l_onoff = s->linger_on, .l_linger = s->linger_s};
        if (!val || !len) return unlock_ret(-1, EFAULT);
        if (*len > sizeof lg) *len = sizeof lg;
        memcpy(val, &lg, *len);
        return unlock_ret(0, 0);
    }
    default:
        pl_unlock();
        return pl_real.getsockopt(fd, level, opt, val, len);
    }
}

/* The program lets go of fd's object (close, or dup2 over it). Listeners and sockets
 * without a connection are released here; a connection ends when the pump sees every
 * reference to the program's end closed (fork children and dups included). */
static void forget(struct pl_sock *s)
{
    if (s->inherited) { /* a forked child's copy: the parent's pump owns the socket */
        pl_sock_free(s);
        return;
    }
    switch (s->state) {
    case PL_NEW:
    case PL_DONE:
        pl_sock_free(s);
        break;
    case PL_BOUND:
        pl_depth++;
        minitcp_close(s->ms);
        pl_depth--;
        pl_pump_wake();
        pl_sock_free(s);
        break;
    case PL_LISTEN:
        /* the port is free again at once (a server may bind it anew right away); the pump
         * frees s, whose pending connections it holds */
        minitcp_close(s->ms);
        s->ms = -1;
        s->lnamelen = 0;
        pl_sock_unkey(s);
        pl_pump_wake();
        break;
    default:
        break;
    }
}

static void unmark(int fd)
{
    if (fd >= 0 && fd < PL_DGRAM_FDS) pl_dgram_fds[fd] = 0;
}

int close(int fd)
{
    unmark(fd);
    struct pl_sock *s = pl_lock_find(fd);
    if (!s) return pl_real.close(fd);
    forget(s);
    pl_unlock();
    return pl_real.close(fd);
}

/* A copy of a datagram socket's descriptor is a datagram socket too (dgram.c's marks). */
static int copy_mark(int oldfd, int newfd)
{
    if (newfd >= 0 && newfd < PL_DGRAM_FDS)
        pl_dgram_fds[newfd] = oldfd >= 0 && oldfd < PL_DGRAM_FDS && pl_dgram_fds[oldfd];
    return newfd;
}

int dup(int oldfd)
{
    static int (*real_dup)(int);
    if (!real_dup) real_dup = (int (*)(int))dlsym(RTLD_NEXT, "dup");
    return copy_mark(oldfd, real_dup(oldfd));
}

static int dupfd_fcntl(const char *name, int fd, int cmd, void *arg)
{
    int (*real)(int, int, ...) = (int (*)(int, int, ...))dlsym(RTLD_NEXT, name);
    if (!real) {
        errno = ENOSYS;
        return -1;
    }
    int r = real(fd, cmd, arg);
    if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)) copy_mark(fd, r);
    return r;
}

/* fcntl only for F_DUPFD*: the argument is passed on as the word it came in (as glibc's
 * own fcntl does with its variadic argument). */
int fcntl(int fd, int cmd, ...)
{
    static int (*real)(int, int, ...);
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) return dupfd_fcntl("fcntl", fd, cmd, arg);
    if (!real) real = (int (*)(int, int, ...))dlsym(RTLD_NEXT, "fcntl");
    return real(fd, cmd, arg);
}

int fcntl64(int fd, int cmd, ...)
{
    static int (*real)(int, int, ...);
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) return dupfd_fcntl("fcntl64", fd, cmd, arg);
    if (!real) real = (int (*)(int, int, ...))dlsym(RTLD_NEXT, "fcntl64");
    return real(fd, cmd, arg);
}

int dup3(int oldfd, int newfd, int flags)
{
    static int (*real_dup3)(int, int, int);
    if (!real_dup3) real_dup3 = (int (*)(int, int, int))dlsym(RTLD_NEXT, "dup3");
    if (oldfd != newfd) {
        unmark(newfd);
        struct pl_sock *s = pl_lock_find(newfd);
        if (s) {
            forget(s);
            pl_unlock();
        }
    }
    return copy_mark(oldfd, real_dup3(oldfd, newfd, flags));
}

int dup2(int oldfd, int newfd)
{
    static int (*real_dup2)(int, int);
    if (!real_dup2) real_dup2 = (int (*)(int, int))dlsym(RTLD_NEXT, "dup2");
    if (oldfd != newfd && fcntl(oldfd, F_GETFD) >= 0) {
        unmark(newfd);
        struct pl_sock *s = pl_lock_find(newfd);
        if (s) {
            forget(s);
            pl_unlock();
        }
    }
    return oldfd == newfd ? real_dup2(oldfd, newfd) : copy_mark(oldfd, real_dup2(oldfd, newfd));
}
