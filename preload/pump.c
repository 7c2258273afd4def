/* libminitcp-preload: the pump thread, the process's only user of libminitcp-client.
 *
 * Each pass takes in what the daemon sent (minitcp_process), then for every socket moves
 * bytes both ways between its daemon socket and its pair end p, finishes connects, and
 * turns accepted connections into descriptors handed to the program's listening AF_UNIX
 * socket. It waits in poll() on the eventfd, the daemon connection and the p ends only
 * when a pass moved nothing (libminitcp-client's rule: never block on its fd while a socket
 * has buffered news). The program's threads take pl.lock for their own library calls. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "minitcp.h"
#include "preload.h"

struct pl_global pl = {
    .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER, .wake = -1};
__thread int pl_depth;

/* libclient/transport.c: a forked child drops its parent's session without a frame */
void mtc_forget_session(void);

static bool session_ok;
static bool stop;
static bool atexit_done;

void pl_pump_wake(void)
{
    uint64_t one = 1;
    if (pl.wake >= 0) (void)!write(pl.wake, &one, sizeof one);
}

static int daemon_errno(int e)
{
    /* the daemon missing or refusing us is, to the program, a network that is down */
    if (e == ENOENT || e == ECONNREFUSED || e == EACCES || e == ECONNABORTED || e == EUSERS ||
        e == ENOTDIR || e == ENAMETOOLONG)
        return ENETDOWN;
    return e;
}

static void apply_opts(struct pl_sock *s)
{
    int ms = s->ms;
    if (s->nodelay) minitcp_setsockopt(ms, MINITCP_TCP_NODELAY, 1);
    if (s->keepalive) minitcp_setsockopt(ms, MINITCP_SO_KEEPALIVE, 1);
    if (s->keepidle != 7200) minitcp_setsockopt(ms, MINITCP_TCP_KEEPIDLE, s->keepidle);
    if (s->keepintvl != 75) minitcp_setsockopt(ms, MINITCP_TCP_KEEPINTVL, s->keepintvl);
    if (s->keepcnt != 9) minitcp_setsockopt(ms, MINITCP_TCP_KEEPCNT, s->keepcnt);
    if (s->user_timeout) minitcp_setsockopt(ms, MINITCP_TCP_USER_TIMEOUT, s->user_timeout);
    if (s->cc >= 0) minitcp_setsockopt(ms, MINITCP_TCP_CONGESTION, s->cc);
    if (s->linger_on && s->linger_s == 0) minitcp_setsockopt(ms, MINITCP_SO_LINGER_ZERO, 1);
    if (s->rcvbuf) {
        int v = s->rcvbuf < 4096 ? 4096 : s->rcvbuf > 4194304 ? 4194304 : s->rcvbuf;
        minitcp_setsockopt(ms, MINITCP_SO_RCVBUF, v);
    }
}

static void exit_drain(void);

int pl_ensure_ms(struct pl_sock *s)
{
    if (s->ms >= 0) return 0;
    pl_depth++;
    int ms = minitcp_socket(s->dgram ? MINITCP_SOCK_DGRAM : MINITCP_SOCK_STREAM);
    int e = errno;
    if (ms >= 0) {
        s->ms = ms;
        minitcp_setnonblock(ms, 1);
        if (!s->dgram) apply_opts(s);
        session_ok = true;
    }
    pl_depth--;
    if (ms < 0) {
        errno = daemon_errno(e);
        return -1;
    }
    if (!atexit_done) atexit_done = atexit(exit_drain) == 0; /* after the library's */
    if (pl_pump_start() < 0) return -1;
    pl_pump_wake();
    return 0;
}

/* ---- connections ---- */

static void conn_end(struct pl_sock *s, int err)
{
    if (s->ms >= 0) minitcp_close(s->ms);
    s->ms = -1;
    if (s->p >= 0) pl_real.close(s->p);
    if (s->hold >= 0) pl_real.close(s->hold);
    s->p = s->hold = -1;
    if (err && !s->err) s->err = err;
    if (err) pl_errs_seen = true;
    s->state = PL_DONE;
    free(s->to_app);
    free(s->to_net);
    s->to_app = s->to_net = NULL;
    s->ta_len = s->tn_len = 0;
}

static int conn_buffers(struct pl_sock *s)
{
    if (!s->to_app) s->to_app = malloc(PL_BUF);
    if (!s->to_net) s->to_net = malloc(PL_BUF);
    return s->to_app && s->to_net ? 0 : -1;
}

static bool connect_check(struct pl_sock *s)
{
    int ev = minitcp_events(s->ms);
    if (!(ev & (MINITCP_POLLOUT | MINITCP_POLLERR | MINITCP_POLLHUP | MINITCP_POLLNVAL)))
        return false;
    int err = minitcp_sock_error(s->ms);
    if (err == 0 && (ev & MINITCP_POLLNVAL)) err = ECONNABORTED;
    if (err == 0 && conn_buffers(s) < 0) err = ENOMEM;
    if (err) {
        /* the junk left unread in p makes the kernel flag the program's end with an error
         * (POLLERR) when p closes: what a refused non-blocking connect shows on Linux */
        conn_end(s, err);
    } else {
        minitcp_getsockname(s->ms, &s->local);
        minitcp_getpeername(s->ms, &s->peer);
        s->has_local = s->has_peer = true;
        uint8_t b[4096];
        while (s->junk) {
            ssize_t n =
                pl_real.recv(s->p, b, s->junk < sizeof b ? s->junk : sizeof b, MSG_DONTWAIT);
            if (n <= 0) break;
            s->junk -= (size_t)n;
        }
        if (s->hold >= 0) {
            int v = s->sndbuf ? s->sndbuf : 256 * 1024;
            pl_real.setsockopt(s->hold, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
            pl_real.close(s->hold);
            s->hold = -1;
        }
        s->state = PL_CONNECTED;
    }
    if (s->waiter) pthread_cond_broadcast(&pl.cond);
    return true;
}

/* One pass over a connection; true if anything moved. */
static bool conn_service(struct pl_sock *s)
{
    bool moved = false;
    /* net -> program */
    if (!s->net_eof && s->ta_len == 0) {
        ssize_t n = minitcp_recv(s->ms, s->to_app, PL_BUF);
        if (n > 0) {
            s->ta_off = 0;
            s->ta_len = (size_t)n;
            moved = true;
        } else if (n == 0) {
            s->net_eof = moved = true;
        } else if (errno != EAGAIN) {
            conn_end(s, errno);
            return true;
        }
    }
    while (s->ta_len) {
        ssize_t n = pl_real.sendto(s->p, s->to_app + s->ta_off, s->ta_len,
                                   MSG_DONTWAIT | MSG_NOSIGNAL, NULL, 0);
        if (n > 0) {
            s->ta_off += (size_t)n;
            s->ta_len -= (size_t)n;
            moved = true;
            continue;
        }
        if (n < 0 && errno == EAGAIN) break;
        s->ta_len = 0; /* the program stopped reading (SHUT_RD or closed): dropped */
        if (!s->net_wr_shut) minitcp_shutdown(s->ms, MINITCP_SHUT_RD);
    }
    if (s->ta_len == 0 && s->net_eof && !s->p_wr_shut) {
        shutdown(s->p, SHUT_WR);
        s->p_wr_shut = moved = true;
    }
    /* program -> net */
    if (!s->app_eof && s->tn_len == 0) {
        ssize_t n = pl_real.recv(s->p, s->to_net, PL_BUF, MSG_DONTWAIT);
        if (n > 0) {
            s->tn_off = 0;
            s->tn_len = (size_t)n;
            moved = true;
        } else if (n == 0 || errno != EAGAIN) {
            s->app_eof = moved = true;
        }
    }
    while (s->tn_len) {
        ssize_t n = minitcp_send(s->ms, s->to_net + s->tn_off, s->tn_len);
        if (n > 0) {
            s->tn_off += (size_t)n;
            s->tn_len -= (size_t)n;
            moved = true;
            continue;
        }
        if (n < 0 && errno == EAGAIN) break;
        conn_end(s, n < 0 && errno != EPIPE ? errno : 0);
        return true;
    }
    if (s->app_eof && s->tn_len == 0 && !s->net_wr_shut) {
        minitcp_shutdown(s->ms, MINITCP_SHUT_WR);
        s->net_wr_shut = moved = true;
    }
    /* Both ends of p shut means the program closed its end (or shut both ways after the
     * peer's EOF): the connection is over for it. */
    if (s->p_hup && s->app_eof && s->tn_len == 0) {
        bool gone = !s->p_wr_shut;
        conn_end(s, 0);
        if (gone) pl_sock_free(s);
        return true;
    }
    s->p_events = (short)((!s->app_eof && s->tn_len == 0 ? POLLIN : 0) | (s->ta_len ? POLLOUT : 0));
    return moved;
}

/* ---- listeners ---- */

/* Connects to the program's listening socket and sends m (with fd). Returns our end of
 * that connection (HUP once the program accepted it and closed its end), or -1. */
static int send_accept(struct pl_sock *l, const struct pl_accept_msg *m, int fd)
{
    int c = pl_real.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (c < 0) return -1;
    if (pl_real.connect(c, (struct sockaddr *)&l->lname, l->lnamelen) < 0) {
        pl_real.close(c);
        return -1;
    }
    struct iovec iov = {.iov_base = (void *)m, .iov_len = sizeof *m};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (fd >= 0) {
        mh.msg_control = u.buf;
        mh.msg_controllen = sizeof u.buf;
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof fd);
    }
    if (pl_real.sendmsg(c, &mh, MSG_NOSIGNAL) != (ssize_t)sizeof *m) {
        pl_real.close(c);
        return -1;
    }
    return c;
}

static void deliver(struct pl_sock *l, int c, const struct sockaddr_in *peer)
{
    int sv[2] = {-1, -1};
    struct pl_sock *n = NULL;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) goto fail;
    if (!(n = pl_sock_new(l->family)) || conn_buffers(n) < 0) goto fail;
    n->ms = c;
    n->p = sv[1];
    minitcp_setnonblock(c, 1);
    struct pl_accept_msg m = {.status = 0};
    minitcp_getsockname(c, &m.local);
    m.peer = *peer;
    n->local = m.local;
    n->peer = m.peer;
    n->has_local = n->has_peer = true;
    n->state = PL_CONNECTED;
    if (pl_sock_key(n, sv[0]) < 0) goto fail;
    if (l->npend == l->pcap) {
        size_t nc = l->pcap ? l->pcap * 2 : 16;
        int *np = realloc(l->pend, nc * sizeof *np);
        if (!np) goto fail;
        l->pend = np;
        l->pcap = nc;
    }
    int c2 = send_accept(l, &m, sv[0]);
    if (c2 < 0) goto fail;
    pl_real.close(sv[0]);
    l->pend[l->npend++] = c2;
    return;
fail:
    if (n) {
        n->ms = n->p = -1;
        pl_sock_free(n);
    }
    if (sv[0] >= 0) pl_real.close(sv[0]);
    if (sv[1] >= 0) pl_real.close(sv[1]);
    minitcp_setsockopt(c, MINITCP_SO_LINGER_ZERO, 1);
    minitcp_close(c);
}

static bool listen_service(struct pl_sock *l)
{
    bool moved = false;
    int cap = l->backlog < 1 ? 1 : l->backlog > 1024 ? 1024 : l->backlog;
    while (l->npend <= (size_t)cap) {
        struct sockaddr_in peer;
        int c = minitcp_accept(l->ms, &peer);
        if (c < 0) break;
        deliver(l, c, &peer);
        moved = true;
    }
    return moved;
}

/* ---- the daemon went away ---- */

static void daemon_gone(void)
{
    session_ok = false;
    for (struct pl_sock *s = pl.all, *nx; s; s = nx) {
        nx = s->next;
        if (s->inherited || s->ms < 0) continue;
        if (s->state == PL_LISTEN) {
            struct pl_accept_msg m = {.status = ECONNABORTED};
            int c = send_accept(s, &m, -1);
            if (c >= 0) pl_real.close(c);
            minitcp_close(s->ms);
            s->ms = -1;
        } else if (s->state == PL_DGRAM) {
            minitcp_close(s->ms);
            s->ms = -1;
            s->err = ECONNABORTED;
            pl_errs_seen = true;
        } else if (s->state == PL_CONNECTING || s->state == PL_CONNECTED) {
            bool waiter = s->waiter;
            conn_end(s, ECONNABORTED);
            if (waiter) pthread_cond_broadcast(&pl.cond);
        } else {
            minitcp_close(s->ms);
            s->ms = -1;
        }
    }
}

/* ---- the loop ---- */

static bool pass(void)
{
    bool moved = false;
    if (session_ok && minitcp_process() < 0) {
        daemon_gone();
        return true;
    }
    for (struct pl_sock *s = pl.all, *nx; s; s = nx) {
        nx = s->next;
        if (s->inherited) continue;
        if (s->state == PL_LISTEN && s->lnamelen == 0) { /* the program closed it */
            for (size_t i = 0; i < s->npend; i++)
                pl_real.close(s->pend[i]);
            pl_sock_free(s);
            moved = true;
            continue;
        }
        if (s->state == PL_DGRAM) {
            if (s->p >= 0) moved |= pl_dgram_service(s);
            continue;
        }
        if (s->ms < 0) continue;
        if (s->state == PL_LISTEN) {
            moved |= listen_service(s);
        } else if (s->state == PL_CONNECTING) {
            moved |= connect_check(s);
        } else if (s->state == PL_CONNECTED) {
            moved |= conn_service(s);
        }
    }
    return moved;
}

/* At exit every connection's queued bytes go out before its FIN, as the kernel would
 * after the process is gone: the pump drains them (bounded), then closes each. */
static bool drain_done(void)
{
    for (struct pl_sock *s = pl.all; s; s = s->next) {
        if (s->inherited || s->state != PL_CONNECTED) continue;
        if (s->tn_len) return false;
        if (!s->app_eof) {
            char c;
            ssize_t n = pl_real.recv(s->p, &c, 1, MSG_DONTWAIT | MSG_PEEK);
            if (n > 0) return false;
        }
    }
    return session_ok ? !(minitcp_fd_events() & POLLOUT) : true;
}

static void *pump_main(void *arg)
{
    (void)arg;
    pl_depth = 1;
    struct pollfd *pfd = NULL;
    struct pl_sock **who = NULL;
    size_t cap = 0;
    pthread_mutex_lock(&pl.lock);
    while (!stop) {
        bool moved = pass();
        if (pl.exiting && !pl.drained && drain_done()) {
            for (struct pl_sock *s = pl.all; s; s = s->next)
                if (!s->inherited &&
                    (s->state == PL_CONNECTED || s->state == PL_LISTEN || s->state == PL_DGRAM) &&
                    s->ms >= 0) {
                    minitcp_close(s->ms);
                    s->ms = -1;
                }
            pl.drained = true;
            pthread_cond_broadcast(&pl.cond);
            break;
        }
        if (moved) continue;
        size_t need = pl.nsocks + 2;
        for (struct pl_sock *s = pl.all; s; s = s->next)
            need += s->npend;
        if (need > cap) {
            size_t nc = need * 2;
            struct pollfd *np = realloc(pfd, nc * sizeof *np);
            if (np) pfd = np;
            struct pl_sock **nw = realloc(who, nc * sizeof *nw);
            if (nw) who = nw;
            if (!np || !nw) {
                pthread_mutex_unlock(&pl.lock);
                struct timespec ts = {0, 10000000};
                nanosleep(&ts, NULL);
                pthread_mutex_lock(&pl.lock);
                continue;
            }
            cap = nc;
        }
        size_t n = 0;
        pfd[n] = (struct pollfd){.fd = pl.wake, .events = POLLIN};
        who[n++] = NULL;
        if (session_ok) {
            pfd[n] = (struct pollfd){.fd = minitcp_fd(), .events = (short)minitcp_fd_events()};
            who[n++] = NULL;
        }
        for (struct pl_sock *s = pl.all; s && n < cap; s = s->next) {
            if (s->inherited) continue;
            if (s->state == PL_LISTEN)
                for (size_t i = 0; i < s->npend && n < cap; i++) {
                    pfd[n] = (struct pollfd){.fd = s->pend[i], .events = 0};
                    who[n++] = s;
                }
            if ((s->state != PL_CONNECTED && s->state != PL_DGRAM) || s->p < 0 || s->p_hup)
                continue;
            pfd[n] = (struct pollfd){.fd = s->p, .events = s->p_events};
            who[n++] = s;
        }
        pthread_mutex_unlock(&pl.lock);
        int r = poll(pfd, n, pl.exiting ? 50 : -1);
        pthread_mutex_lock(&pl.lock);
        if (r <= 0) continue;
        if (pfd[0].revents) {
            uint64_t v;
            (void)!read(pl.wake, &v, sizeof v);
        }
        /* entries with a p are freed only by this thread, so who[] is still valid */
        for (size_t i = 0; i < n; i++) {
            struct pl_sock *s = who[i];
            if (!s || !(pfd[i].revents & (POLLHUP | POLLERR))) continue;
            if (s->state != PL_LISTEN) {
                s->p_hup = true;
                continue;
            }
            for (size_t j = 0; j < s->npend; j++) /* accepted: room for another */
                if (s->pend[j] == pfd[i].fd) {
                    pl_real.close(s->pend[j]);
                    s->pend[j] = s->pend[--s->npend];
                    break;
                }
        }
    }
    pl.pump_running = false;
    pthread_cond_broadcast(&pl.cond);
    pthread_mutex_unlock(&pl.lock);
    free(pfd);
    free(who);
    return NULL;
}

int pl_pump_start(void)
{
    if (pl.pump_running) return 0;
    if (pl.wake < 0) pl.wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (pl.wake < 0) return -1;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* signals go to the program's threads */
    stop = false;
    int rc = pthread_create(&pl.pump, NULL, pump_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) {
        errno = rc;
        return -1;
    }
    pthread_detach(pl.pump);
    pl.pump_running = true;
    return 0;
}

static void exit_drain(void)
{
    pthread_mutex_lock(&pl.lock);
    if (!pl.pump_running) {
        pthread_mutex_unlock(&pl.lock);
        return;
    }
    pl.exiting = true;
    pl_pump_wake();
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 10;
    while (!pl.drained && pl.pump_running)
        if (pthread_cond_timedwait(&pl.cond, &pl.lock, &dl) == ETIMEDOUT) break;
    stop = true; /* the library's own exit flush must run alone */
    pl_pump_wake();
    while (pl.pump_running)
        pthread_cond_wait(&pl.cond, &pl.lock);
    pthread_mutex_unlock(&pl.lock);
}

/* In a forked child: the pump and the daemon session are the parent's. The child keeps
 * the descriptors (their bytes still flow through the parent's pump) and the names, drops
 * every descriptor of ours, and starts a session of its own when it makes a new socket. */
void pl_atfork_child(void)
{
    pthread_mutex_init(&pl.lock, NULL);
    pthread_cond_init(&pl.cond, NULL);
    for (struct pl_sock *s = pl.all; s; s = s->next) {
        if (s->p >= 0) pl_real.close(s->p);
        if (s->hold >= 0) pl_real.close(s->hold);
        for (size_t i = 0; i < s->npend; i++)
            pl_real.close(s->pend[i]);
        s->npend = 0;
        s->p = s->hold = s->ms = -1;
        s->inherited = true;
        s->waiter = false;
    }
    if (pl.wake >= 0) pl_real.close(pl.wake);
    pl.wake = -1;
    pl.pump_running = pl.exiting = pl.drained = false;
    session_ok = false;
    atexit_done = true; /* the parent's registration was copied */
    mtc_forget_session();
}
