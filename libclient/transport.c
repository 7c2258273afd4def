/* libminitcp-client: the connection to minitcpd. One Unix-domain stream, an output buffer
 * flushed in batches, an input buffer decoded into frames (handed to mtc_dispatch), and the
 * waits every blocking call is built from. docs/ipc.md describes the protocol. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client_internal.h"

struct mtc_state mtc = {.fd = -1};

static int out_reserve(size_t n)
{
    if (mtc.out_off && mtc.out_off == mtc.out_len) mtc.out_off = mtc.out_len = 0;
    if (mtc.out_len + n <= mtc.out_cap) return 0;
    if (mtc.out_off) {
        memmove(mtc.out, mtc.out + mtc.out_off, mtc.out_len - mtc.out_off);
        mtc.out_len -= mtc.out_off;
        mtc.out_off = 0;
        if (mtc.out_len + n <= mtc.out_cap) return 0;
    }
    size_t ncap = mtc.out_cap ? mtc.out_cap : 64 * 1024;
    while (ncap < mtc.out_len + n)
        ncap *= 2;
    uint8_t *nb = realloc(mtc.out, ncap);
    if (!nb) {
        errno = ENOMEM;
        return -1;
    }
    mtc.out = nb;
    mtc.out_cap = ncap;
    return 0;
}

/* Appends a frame; payload from m (see proto_encode). */
int mtc_out_msg(const struct proto_msg *m)
{
    long pl = proto_payload_len(m);
    if (pl < 0) {
        errno = EINVAL;
        return -1;
    }
    if (mtc.shm) {
        int r = mtc_shm_out(m, PROTO_HDR_LEN + (size_t)pl);
        if (r != 0) return r > 0 ? 0 : -1;
    }
    if (out_reserve(PROTO_HDR_LEN + (size_t)pl) < 0) return -1;
    long n = proto_encode(m, mtc.out + mtc.out_len, mtc.out_cap - mtc.out_len);
    if (n < 0) {
        errno = EINVAL;
        return -1;
    }
    mtc.out_len += (size_t)n;
    return 0;
}

/* Writes what the socket takes now. 0, or -1 when the connection broke. */
int mtc_flush(void)
{
    if (mtc.shm) return mtc_shm_flush();
    while (mtc.fd >= 0 && mtc.out_off < mtc.out_len) {
        ssize_t n = send(mtc.fd, mtc.out + mtc.out_off, mtc.out_len - mtc.out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            mtc_conn_broken();
            return -1;
        }
        mtc.out_off += (size_t)n;
        mtc_notify();
    }
    if (mtc.out_off == mtc.out_len) mtc.out_off = mtc.out_len = 0;
    return mtc.fd >= 0 ? 0 : -1;
}

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void in_dry(void)
{
    mtc.in_full = false;
    mtc.in_dry_ns = now_ns();
}

/* Reads everything available now and dispatches whole frames. 0, or -1 if broken. A short
 * read ends it: on a stream socket that means it was drained at that moment (data arriving
 * later makes the fd readable again for ppoll). */
int mtc_read(void)
{
    if (mtc.shm) return mtc_shm_read() < 0 ? -1 : 0;
    while (mtc.fd >= 0) {
        if (mtc.in_len == IN_CAP) return -1; /* cannot happen: frames are <= IN_CAP / 4 */
        size_t want = IN_CAP - mtc.in_len;
        ssize_t n = recv(mtc.fd, mtc.in + mtc.in_len, want, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                in_dry();
                return 0;
            }
            mtc_conn_broken();
            return -1;
        }
        if (n == 0) {
            mtc_conn_broken();
            return -1;
        }
        mtc.in_len += (size_t)n;
        size_t off = 0;
        for (;;) {
            struct proto_msg m;
            size_t fl;
            int rc = proto_decode(mtc.in + off, mtc.in_len - off, &m, &fl);
            if (rc == PROTO_ETRUNC) break;
            if (rc != PROTO_OK || mtc_dispatch(&m) < 0) {
                mtc_conn_broken();
                return -1;
            }
            off += fl;
        }
        if (off) {
            memmove(mtc.in, mtc.in + off, mtc.in_len - off);
            mtc.in_len -= off;
            mtc_notify(); /* frames for other threads' sockets may be among them */
        }
        if ((size_t)n < want) {
            in_dry();
            return 0;
        }
        mtc.in_full = true;
    }
    return -1;
}

/* May a non-blocking read find something the last one did not? (See READ_GATE_NS.) */
static bool read_due(void)
{
    if (mtc.fd < 0) return false;
    if (mtc.shm) return true; /* looking at the ring costs no system call */
    return mtc.in_full || now_ns() - mtc.in_dry_ns >= READ_GATE_NS;
}

/* read_nb when read_due: 0, or -1 if broken. */
int mtc_read_maybe(void)
{
    return read_due() ? mtc_read() : 0;
}

/* Before a non-blocking call fails with EAGAIN: true when it read the socket (so the
 * caller looks again), false when no read could have found anything new. */
bool mtc_refill(void)
{
    if (mtc.shm) return mtc_shm_flush() == 0 && mtc_shm_read() > 0;
    if (!read_due()) return false;
    (void)mtc_read();
    return true;
}

/* Waits until the daemon sends something or output can move (timeout_ms: -1 forever).
 * 0 (something may have changed), 1 on timeout, -1 with errno. */
int mtc_pump_mask(int timeout_ms, const sigset_t *sigmask)
{
    if (mtc.shm) return mtc_shm_pump(timeout_ms, sigmask);
    if (mtc_flush() < 0 || mtc.fd < 0) goto broken;
    short ev = POLLIN | (mtc.out_off < mtc.out_len ? POLLOUT : 0), rev;
    int r = mtc_wait_fd(ev, timeout_ms, sigmask, &rev);
    if (r < 0) return -1; /* EINTR */
    if (r == 1) return 1;
    if (mtc.fd < 0) goto broken; /* another thread found the connection broken */
    if (rev & POLLOUT && mtc_flush() < 0) goto broken;
    if (rev & (POLLIN | POLLHUP | POLLERR | POLLNVAL) && mtc_read() < 0) goto broken;
    return 0;
broken:
    errno = ECONNABORTED;
    return -1;
}

int mtc_pump(int timeout_ms)
{
    return mtc_pump_mask(timeout_ms, NULL);
}

int mtc_refused;

void mtc_conn_broken(void)
{
    if (mtc.fd >= 0 && !mtc_refused) {
        /* a write may fail before the daemon's refusal was read: it is still queued */
        uint8_t b[PROTO_HDR_LEN + 4];
        struct proto_msg m;
        size_t fl;
        ssize_t n = recv(mtc.fd, b, sizeof b, MSG_DONTWAIT | MSG_PEEK);
        if (n == (ssize_t)sizeof b && proto_decode(b, sizeof b, &m, &fl) == PROTO_OK &&
            m.h.type == PT_EV_ERROR && m.h.sock_id == 0)
            mtc_refused = proto_err_to_errno(m.u.error.err);
    }
    mtc_shm_close();
    if (mtc.fd >= 0) close(mtc.fd);
    mtc.fd = -1;
    mtc.in_len = 0;
    mtc.out_off = mtc.out_len = 0;
    mtc_socks_orphan();
}

/* A forked child must not speak on its parent's session (libminitcp-preload): it drops
 * its copy of the connection and of every socket without sending a frame; its next call
 * opens a session of its own. */
void mtc_forget_session(void)
{
    mtc_shm_close(); /* our mapping and fds only: the parent's rings are untouched */
    if (mtc.fd >= 0) close(mtc.fd);
    mtc.fd = -1;
    mtc.in_len = 0;
    mtc.out_off = mtc.out_len = 0;
    mtc.wait_req = 0;
    mtc.reply_done = false;
    for (int i = 0; i < mtc.nsocks; i++)
        if (mtc.socks[i].used) mtc_sock_free(i);
}

const char *minitcp_socket_path(void)
{
    const char *p = getenv("MINITCP_SOCKET");
    return p && *p ? p : MINITCP_DEFAULT_SOCKET;
}

/* At exit, output still queued (data of non-blocking sockets, credits, closes) gets a
 * bounded chance to reach the daemon. */
static void flush_at_exit(void)
{
    long long deadline = 0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    deadline = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 2000;
    while (mtc.fd >= 0 && mtc.out_off < mtc.out_len) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        long long left = deadline - ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
        if (left <= 0 || mtc_pump((int)left) != 0) break;
    }
}

int mtc_ensure_conn(void)
{
    if (mtc.fd >= 0) return 0;
    /* sockets of a broken connection are dead; new ones get a new session */
    const char *path = minitcp_socket_path();
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(sa.sun_path, path);
    if (!mtc.in && !(mtc.in = malloc(IN_CAP))) {
        errno = ENOMEM;
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    /* A non-blocking connect on a Unix socket fails with EAGAIN while the daemon's listen
     * backlog is full (many clients starting at once): retry for up to a second, then give
     * up with ECONNREFUSED. A missing daemon fails at once (ENOENT / ECONNREFUSED). */
    int tries = 0;
    while (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        if (e == EINTR) continue;
        if ((e == EAGAIN || e == EINPROGRESS) && ++tries < 100) {
            struct timespec ts = {.tv_sec = 0, .tv_nsec = 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
            continue;
        }
        close(fd);
        errno = (e == EAGAIN || e == EINPROGRESS) ? ECONNREFUSED : e;
        return -1;
    }
    int sz = 1 << 20;
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    strcpy(mtc.path, path);
    static bool atexit_done;
    if (!atexit_done) atexit_done = atexit(flush_at_exit) == 0;
    mtc.fd = fd;
    mtc.in_len = 0;
    mtc.in_full = true; /* nothing known about the new connection yet */
    mtc_refused = 0;
    return mtc_shm_offer();
}

/* Sends a request and waits for its reply. Returns the reply status as a positive errno
 * (0 = success) in *err, or -1 with errno on a connection failure. */
int mtc_request(struct proto_msg *m, struct proto_msg *reply)
{
    if (mtc_ensure_conn() < 0) return -1;
    while (mtc.wait_req) { /* one request at a time: another thread's is outstanding */
        int r = mtc_pump(-1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 || mtc.fd < 0) {
            errno = mtc_refused ? mtc_refused : ECONNABORTED;
            return -1;
        }
    }
    if (++mtc.next_req == 0) mtc.next_req = 1;
    m->h.req_id = mtc.next_req;
    if (mtc_out_msg(m) < 0) return -1;
    mtc.wait_req = mtc.next_req;
    mtc.reply_done = false;
    while (!mtc.reply_done) {
        int r = mtc_pump(-1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 || mtc.fd < 0) {
            mtc.wait_req = 0;
            mtc_notify();
            errno = mtc_refused ? mtc_refused : ECONNABORTED;
            return -1;
        }
    }
    mtc.wait_req = 0;
    mtc_notify(); /* the next thread's request may go */
    *reply = mtc.reply;
    return 0;
}

/* Request whose answer is a plain REPLY: 0 or -1 with errno from the status. */
int mtc_simple_request(struct proto_msg *m, struct proto_msg *reply)
{
    struct proto_msg r;
    if (!reply) reply = &r;
    if (mtc_request(m, reply) < 0) return -1;
    if (reply->h.type != PT_REPLY) {
        errno = EPROTO;
        return -1;
    }
    if (reply->u.reply.status != PE_OK) {
        errno = proto_err_to_errno(reply->u.reply.status);
        return -1;
    }
    return 0;
}

/* End of every call: push queued output; a blocking socket waits until it is all out so
 * nothing (credit, data, close) is left behind while the application sleeps. A call on a
 * non-blocking socket leaves small output queued: the application waits next, and every
 * wait flushes first (minitcp_poll/ppoll, any blocking call, a request; minitcp_fd_events
 * asks for POLLOUT meanwhile), so the frames of several calls go out in one write. */
void mtc_finish(const struct csock *cs)
{
    if (cs && cs->nonblock && mtc.out_len - mtc.out_off < OUT_FLUSH_AT) return;
    int saved = errno;
    if (mtc_flush() == 0 && (!cs || !cs->nonblock)) {
        while (mtc.fd >= 0 && mtc.out_off < mtc.out_len) {
            if (mtc_pump(-1) < 0 && errno != EINTR) break;
        }
    }
    errno = saved;
}

/* Waits once for progress on a blocking call. 0 to re-check, -1 with errno: EINTR when a
 * signal handler interrupted the wait (as recv(2) and friends do), ECONNABORTED when the
 * daemon connection is gone. */
int mtc_wait_more(void)
{
    if (mtc.fd < 0) {
        errno = ECONNABORTED;
        return -1;
    }
    int r = mtc_pump(-1);
    if (r == 0 || (r < 0 && errno == EINTR)) return r;
    if (mtc.fd < 0 || r < 0) {
        errno = ECONNABORTED;
        return -1;
    }
    return 0;
}

int mtc_u_fd(void)
{
    if (mtc_ensure_conn() < 0) return -1;
    return mtc.shm ? mtc_shm_fd() : mtc.fd;
}

int mtc_u_fd_events(void)
{
    if (mtc.shm) {
        mtc_shm_arm();
        return POLLIN; /* room in the ring is signalled like data */
    }
    return POLLIN | (mtc.out_off < mtc.out_len ? POLLOUT : 0);
}

int mtc_u_process(void)
{
    if (mtc.fd < 0) {
        errno = ECONNABORTED;
        return -1;
    }
    if (mtc.shm ? mtc_shm_process() < 0 : (mtc_flush() < 0 || mtc_read() < 0 || mtc_flush() < 0)) {
        errno = ECONNABORTED;
        return -1;
    }
    return 0;
}

int mtc_u_daemon_info(struct minitcp_daemon_info *out)
{
    if (!out) {
        errno = EINVAL;
        return -1;
    }
    struct proto_msg m = {.h = {.type = PT_INFO}}, r;
    if (mtc_request(&m, &r) < 0) return -1;
    if (r.h.type != PT_INFO_REPLY) {
        errno = EPROTO;
        return -1;
    }
    if (r.u.info.status) {
        errno = proto_err_to_errno(r.u.info.status);
        return -1;
    }
    memset(out, 0, sizeof *out);
    out->addr.s_addr = htonl(r.u.info.addr);
    memcpy(out->tun, r.u.info.tun, sizeof out->tun);
    out->pid = (pid_t)r.u.info.pid;
    out->clients = r.u.info.clients;
    return 0;
}
