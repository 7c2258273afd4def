/* libminitcp-client: the shared-ring transport (docs/ipc.md "Shared rings"). Right after
 * connecting, the library offers minitcpd a sealed memfd with two rings and two eventfds;
 * when the daemon accepts, every frame after the answer moves through the rings and the
 * Unix socket only tells either side that the other is gone. A daemon without rings
 * answers EBADF and the session stays on frames. MINITCP_SHM=0 never offers.
 *
 * Threads: every function here runs under lock.c's lock; waits go through mtc_wait_fd,
 * which lets go of it and polls our eventfd beside the socket.
 *
 * Waits: before blocking, the library marks the d2c ring "consumer sleeping" and the daemon
 * signals the client's eventfd only then; frames written while the daemon is awake cost no
 * system call. MINITCP_SHM_SPIN_US=N makes each wait poll the ring for at most N µs before
 * it sleeps (bounded per wait: an idle client uses no CPU). Off by default: on this 2-core
 * machine it took 1-byte request/response from 26.7k to 7.7k/s in bench/run.sh, the spinning
 * client starving the daemon's own busy-poll (docs/performance.md). */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client_internal.h"
#include "shm_map.h"

#define SPIN_US_DEFAULT 0
#define PUBLISH_AT (64u * 1024u) /* bulk: publish c2d once this much is unpublished */

struct mtc_shm {
    struct shm_area a;
    int memfd, efd_d, efd_c; /* the memfd; the daemon's and our wake-up */
    int epfd;                /* minitcp_fd(): efd_c and the socket, -1 until asked */
    long spin_ns;
};

static long long mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void shm_free(struct mtc_shm *s)
{
    if (!s) return;
    shm_area_unmap(&s->a);
    if (s->memfd >= 0) close(s->memfd);
    if (s->efd_d >= 0) close(s->efd_d);
    if (s->efd_c >= 0) close(s->efd_c);
    if (s->epfd >= 0) close(s->epfd);
    free(s);
}

void mtc_shm_close(void)
{
    shm_free(mtc.shm);
    mtc.shm = NULL;
}

static void wake_daemon(void)
{
    uint64_t one = 1;
    (void)!write(mtc.shm->efd_d, &one, sizeof one);
}

/* Sends the offer with its fds. 0, or -1 when the socket failed. */
static int send_offer(struct mtc_shm *s, uint32_t req_id)
{
    uint8_t f[PROTO_HDR_LEN + 8];
    struct proto_msg m = {.h = {.type = PT_SETOPT, .req_id = req_id}};
    m.u.setopt.opt = SHM_OPT_RINGS;
    m.u.setopt.value = (int32_t)s->a.size;
    long n = proto_encode(&m, f, sizeof f);
    if (n < 0) return -1;
    int fds[3] = {s->memfd, s->efd_d, s->efd_c};
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof fds)];
    } cb;
    memset(&cb, 0, sizeof cb);
    struct iovec iov = {f, (size_t)n};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &cb, .msg_controllen = sizeof cb};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(c), fds, sizeof fds);
    for (;;) {
        ssize_t r = sendmsg(mtc.fd, &mh, MSG_NOSIGNAL);
        if (r == n) return 0;
        if (r >= 0) return -1; /* a stream never splits 28 bytes on an empty socket */
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
        struct pollfd p = {.fd = mtc.fd, .events = POLLOUT};
        (void)poll(&p, 1, 1000);
    }
}

int mtc_shm_offer(void)
{
    const char *env = getenv("MINITCP_SHM");
    if (env && !strcmp(env, "0")) return 0;
    uint32_t size = SHM_RING_DEFAULT;
    const char *rs = getenv("MINITCP_SHM_RING");
    if (rs && *rs) size = (uint32_t)strtoul(rs, NULL, 0);
    struct mtc_shm *s = calloc(1, sizeof *s);
    if (!s) return 0;
    s->memfd = s->efd_d = s->efd_c = s->epfd = -1;
    const char *sp = getenv("MINITCP_SHM_SPIN_US");
    s->spin_ns = (sp && *sp ? strtol(sp, NULL, 10) : SPIN_US_DEFAULT) * 1000L;
    if (s->spin_ns < 0 || s->spin_ns > 1000000000L) s->spin_ns = 0;
    if ((s->memfd = shm_area_create(size)) < 0 || shm_area_map(&s->a, s->memfd, size, 1) < 0 ||
        (s->efd_d = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0 ||
        (s->efd_c = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
        shm_free(s); /* no memfd or eventfd here: frames it is */
        return 0;
    }
    if (mtc_flush() < 0) goto broken;
    if (++mtc.next_req == 0) mtc.next_req = 1;
    uint32_t id = mtc.next_req;
    if (send_offer(s, id) < 0) {
        mtc_conn_broken();
        goto broken;
    }
    mtc.wait_req = id;
    mtc.reply_done = false;
    while (!mtc.reply_done) {
        int r = mtc_pump(-1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 || mtc.fd < 0) {
            mtc.wait_req = 0;
            mtc_notify();
            goto broken;
        }
    }
    if (mtc.reply.h.type == PT_REPLY && mtc.reply.u.reply.status == PE_OK)
        mtc.shm = s; /* before any other thread's request goes */
    else
        shm_free(s); /* an older daemon, or --shm off */
    mtc.wait_req = 0;
    mtc_notify();
    return 0;
broken:
    shm_free(s);
    errno = mtc_refused ? mtc_refused : ECONNABORTED;
    return -1;
}

int mtc_shm_out(const struct proto_msg *m, size_t flen)
{
    struct shm_ring *r = &mtc.shm->a.c2d;
    if (mtc.out_off != mtc.out_len) return 0; /* behind the overflow: in order */
    uint8_t *p = shm_ring_reserve(r, (uint32_t)flen);
    if (!p) return 0;
    long n = proto_encode(m, p, flen);
    if (n < 0) {
        errno = EINVAL;
        return -1;
    }
    shm_ring_commit(r, (uint32_t)n);
    if (shm_ring_unpublished(r) >= PUBLISH_AT && shm_ring_publish(r)) wake_daemon();
    return 1;
}

int mtc_shm_flush(void)
{
    struct shm_ring *r = &mtc.shm->a.c2d;
    while (mtc.out_off < mtc.out_len) {
        long sp = shm_ring_space(r);
        if (sp < 0) goto broken;
        if (sp == 0) break;
        size_t k = mtc.out_len - mtc.out_off;
        if (k > (size_t)sp) k = (size_t)sp;
        memcpy(r->data + (r->head & r->mask), mtc.out + mtc.out_off, k);
        shm_ring_commit(r, (uint32_t)k);
        mtc.out_off += k;
        mtc_notify();
    }
    if (mtc.out_off == mtc.out_len) mtc.out_off = mtc.out_len = 0;
    if (shm_ring_publish(r)) wake_daemon();
    return 0;
broken:
    mtc_conn_broken();
    return -1;
}

int mtc_shm_read(void)
{
    struct shm_ring *r = &mtc.shm->a.d2c;
    int frames = 0;
    for (;;) {
        struct proto_msg m;
        size_t fl;
        int rc = shm_ring_next(r, &m, &fl);
        if (rc == SHM_EAGAIN) {
            if (frames) mtc_notify(); /* frames for other threads' sockets may be among them */
            return frames;
        }
        if (rc != SHM_OK || mtc_dispatch(&m) < 0) {
            mtc_conn_broken();
            return -1;
        }
        frames++;
        if (!mtc.shm) return -1; /* dispatch found the session broken */
        if (shm_ring_consume(&mtc.shm->a.d2c, (uint32_t)fl)) wake_daemon();
    }
}

/* The socket is readable: the daemon went away (EOF) or broke the protocol. */
static int check_socket(void)
{
    uint8_t b[64];
    ssize_t n = recv(mtc.fd, b, sizeof b, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return 0;
    mtc_conn_broken();
    return -1;
}

static bool has_news(void)
{
    return shm_ring_avail(&mtc.shm->a.d2c) != 0 ||
           (mtc.out_off < mtc.out_len && shm_ring_space(&mtc.shm->a.c2d) != 0);
}

int mtc_shm_pump(int timeout_ms, const sigset_t *sigmask)
{
    if (mtc_shm_flush() < 0) goto broken;
    struct mtc_shm *s = mtc.shm;
    struct shm_ring *d2c = &s->a.d2c, *c2d = &s->a.c2d;
    if (!has_news() && s->spin_ns && timeout_ms != 0) {
        long long until = mono_ns() + s->spin_ns;
        while (!has_news() && mono_ns() < until) {
        }
    }
    if (!has_news()) {
        bool wait_room = mtc.out_off < mtc.out_len;
        bool news = shm_ring_consumer_sleep(d2c);
        if (!news && wait_room) news = shm_ring_producer_wait(c2d, 1);
        if (!news) {
            /* lock.c's wait: the lock let go, our eventfd polled beside the socket */
            short rev;
            int r = mtc_wait_fd(POLLIN, timeout_ms, sigmask, &rev);
            shm_ring_consumer_awake(d2c);
            if (r < 0) return -1;      /* EINTR */
            if (!mtc.shm) goto broken; /* another thread found the session broken */
            if (rev && check_socket() < 0) goto broken;
            if (r == 1) return 1;
        }
    }
    if (mtc_shm_read() < 0 || mtc_shm_flush() < 0) goto broken;
    return 0;
broken:
    errno = ECONNABORTED;
    return -1;
}

/* The eventfd the daemon signals, for lock.c's wait; -1 without rings. Cleared there. */
int mtc_shm_wake_fd(void)
{
    return mtc.shm ? mtc.shm->efd_c : -1;
}

int mtc_shm_fd(void)
{
    struct mtc_shm *s = mtc.shm;
    if (s->epfd >= 0) return s->epfd;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) return -1;
    struct epoll_event e1 = {.events = EPOLLIN, .data.fd = s->efd_c};
    struct epoll_event e2 = {.events = EPOLLIN, .data.fd = mtc.fd};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, s->efd_c, &e1) < 0 ||
        epoll_ctl(ep, EPOLL_CTL_ADD, mtc.fd, &e2) < 0) {
        close(ep);
        return -1;
    }
    s->epfd = ep;
    return ep;
}

/* Before the application polls minitcp_fd(): output published, and the daemon asked to
 * signal; when frames are already there the fd is made readable at once. */
void mtc_shm_arm(void)
{
    if (mtc_shm_flush() < 0) return;
    struct mtc_shm *s = mtc.shm;
    bool news = shm_ring_consumer_sleep(&s->a.d2c);
    if (!news && mtc.out_off < mtc.out_len) news = shm_ring_producer_wait(&s->a.c2d, 1);
    if (news) {
        uint64_t one = 1;
        (void)!write(s->efd_c, &one, sizeof one);
    }
}

/* minitcp_process in shm mode: the wake-up cleared, the socket checked, frames read. */
int mtc_shm_process(void)
{
    uint64_t v;
    (void)!read(mtc.shm->efd_c, &v, sizeof v);
    shm_ring_consumer_awake(&mtc.shm->a.d2c);
    if (check_socket() < 0) return -1;
    if (mtc_shm_flush() < 0 || mtc_shm_read() < 0 || mtc_shm_flush() < 0) return -1;
    return 0;
}
