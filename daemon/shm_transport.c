/* The shared-ring client transport (shm_transport.h). Everything in the rings is written by
 * a client the daemon does not trust: indices are checked before every use (shm_ring.c),
 * frames are decoded into private memory before they act, and any violation closes that
 * client only, counted in `daemon shm_errors`. The memfd is sealed against shrinking, so
 * the mapping can never fault; at close the daemon unmaps it and closes the fds, so a
 * client that dies with the ring mapped leaves nothing behind. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "shm_transport.h"
#include "uds_transport.h"

static void violation(struct session *ss, const char *why)
{
    ss->srv->shm_errors++;
    session_close(ss, why);
}

/* A wake-up fd must be an anonymous inode (eventfd) and never block the loop. */
static bool wake_fd_ok(int fd)
{
    struct stat sb;
    if (fstat(fd, &sb) < 0 || (sb.st_mode & S_IFMT) != 0) return false;
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0;
}

static void wake_peer(struct session *ss)
{
    uint64_t one = 1;
    if (write(ss->shm->efd_peer, &one, sizeof one) < 0 && errno != EAGAIN)
        ss->shm->broken = true; /* not an eventfd after all: closed at the flush */
}

static void wake_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct session *ss = w->data;
    uint64_t v;
    ssize_t n = read(ss->shm->efd_wake, &v, sizeof v);
    if (n != (ssize_t)sizeof v && !(n < 0 && errno == EAGAIN)) {
        violation(ss, "shared rings: the wake-up fd is not an eventfd");
        return;
    }
    /* room in d2c (overflow moves, sockets resume) and frames in c2d */
    if (shm_flush(ss) < 0) return;
    session_serve(ss);
}

/* Answers the offer on the Unix socket, as the last frame sent there. */
static int reply_now(struct session *ss, const struct proto_msg *req, int err)
{
    uint8_t f[PROTO_HDR_LEN + 12];
    struct proto_msg m = {.h = {.type = PT_REPLY, .req_id = req->h.req_id}};
    m.u.reply.status = err ? proto_err_from_errno(err) : PE_OK;
    long n = proto_encode(&m, f, sizeof f);
    if (n < 0) return -1;
    ssize_t s = send(ss->fd, f, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    return s == n ? 0 : -1;
}

static void drop_rx_fds(struct session *ss)
{
    for (unsigned i = 0; i < ss->n_rx_fd; i++)
        close(ss->rx_fd[i]);
    ss->n_rx_fd = 0;
}

int shm_attach(struct session *ss, const struct proto_msg *m, const char **why)
{
    int err = 0;
    uint32_t size = (uint32_t)m->u.setopt.value;
    if (!ss->srv->d->opt.shm)
        err = EOPNOTSUPP;
    else if (ss->shm || out_pending(ss) || ss->n_rx_fd != 3 || m->u.setopt.value < 0 ||
             !shm_ring_size_ok(size))
        err = EINVAL;
    else if (!wake_fd_ok(ss->rx_fd[1]) || !wake_fd_ok(ss->rx_fd[2]))
        err = EINVAL;
    struct shm_chan *ch = NULL;
    if (!err && !(ch = calloc(1, sizeof *ch))) err = ENOMEM;
    if (!err && shm_area_map(&ch->a, ss->rx_fd[0], size, 1) < 0) err = errno ? errno : EINVAL;
    if (err) {
        free(ch);
        drop_rx_fds(ss);
        if (!m->h.req_id) return 0;
        if (out_pending(ss)) {
            reply(ss, &m->h, 0, err, 0, 0);
            return 0;
        }
        if (reply_now(ss, m, err) < 0) {
            *why = "cannot answer the shared-ring offer";
            return -1;
        }
        return 0;
    }
    ch->memfd = ss->rx_fd[0];
    ch->efd_wake = ss->rx_fd[1];
    ch->efd_peer = ss->rx_fd[2];
    ss->n_rx_fd = 0;
    if (reply_now(ss, m, 0) < 0) {
        shm_area_unmap(&ch->a);
        close(ch->memfd);
        close(ch->efd_wake);
        close(ch->efd_peer);
        free(ch);
        *why = "cannot answer the shared-ring offer";
        return -1;
    }
    ss->shm = ch;
    ss->srv->shm_sessions++;
    ev_io_init(&ch->wio, wake_cb, ch->efd_wake, EV_READ);
    ch->wio.data = ss;
    ev_io_start(ss->srv->d->loop, &ch->wio);
    ch->more = true; /* look at c2d once */
    return 0;
}

void shm_detach(struct session *ss)
{
    drop_rx_fds(ss);
    struct shm_chan *ch = ss->shm;
    if (!ch) return;
    ev_io_stop(ss->srv->d->loop, &ch->wio);
    shm_area_unmap(&ch->a);
    close(ch->memfd);
    close(ch->efd_wake);
    close(ch->efd_peer);
    free(ch);
    ss->shm = NULL;
}

int shm_next(struct session *ss, struct proto_msg *m, size_t *flen, const char **why)
{
    struct shm_ring *r = &ss->shm->a.c2d;
    for (;;) {
        int rc = shm_ring_next(r, m, flen);
        if (rc == SHM_OK) return 1;
        if (rc == SHM_EAGAIN) {
            /* armed: the client wakes us for the next frame */
            if (shm_ring_consumer_sleep(r)) continue;
            return 0;
        }
        ss->srv->shm_errors++;
        *why = rc == SHM_ECORRUPT ? "shared rings: c2d head out of range" : proto_result_str(rc);
        return -1;
    }
}

void shm_consume(struct session *ss, size_t flen)
{
    if (shm_ring_consume(&ss->shm->a.c2d, (uint32_t)flen)) wake_peer(ss);
}

uint8_t *shm_out_reserve(struct session *ss, size_t n)
{
    struct shm_chan *ch = ss->shm;
    ch->in_ring = false;
    if (out_pending(ss) || n > ch->a.size) return NULL; /* behind the overflow: in order */
    uint8_t *p = shm_ring_reserve(&ch->a.d2c, (uint32_t)n);
    if (!p) {
        if (shm_ring_space(&ch->a.d2c) < 0) ch->broken = true;
        return NULL;
    }
    ch->in_ring = true;
    return p;
}

bool shm_out_room(const struct session *ss)
{
    struct shm_chan *ch = ss->shm;
    if (out_pending(ss) || ch->broken) return false;
    long sp = shm_ring_space(&ch->a.d2c);
    return sp >= (long)PROTO_MAX_FRAME;
}

long shm_flush(struct session *ss)
{
    struct shm_chan *ch = ss->shm;
    struct shm_ring *r = &ch->a.d2c;
    long moved = 0;
    if (shm_ring_space(r) < 0) ch->broken = true; /* checked at every wake-up */
    for (int round = 0; round < 2; round++) {
        while (out_pending(ss)) { /* the overflow, in order, as far as it fits */
            long sp = shm_ring_space(r);
            if (sp < 0) ch->broken = true;
            if (sp <= 0) break;
            size_t k = out_pending(ss) < (size_t)sp ? out_pending(ss) : (size_t)sp;
            memcpy(r->data + (r->head & r->mask), ss->out + ss->out_off, k);
            shm_ring_commit(r, (uint32_t)k);
            ss->out_off += k;
        }
        if (ch->broken) {
            violation(ss, "shared rings: d2c tail out of range");
            return -1;
        }
        moved += (long)shm_ring_unpublished(r);
        if (shm_ring_publish(r)) wake_peer(ss);
        if (!out_pending(ss)) {
            ss->out_off = ss->out_len = 0;
            if (shm_ring_space(r) >= (long)PROTO_MAX_FRAME) break;
        }
        /* full: the client wakes us when it has read; look again if it did meanwhile */
        if (!shm_ring_producer_wait(r, out_pending(ss) ? 1 : PROTO_MAX_FRAME)) break;
    }
    if (ch->broken) {
        violation(ss, "shared rings: the client's wake-up fd failed");
        return -1;
    }
    return moved;
}

void shm_uds_readable(struct session *ss)
{
    uint8_t b[64];
    ssize_t n = recv(ss->fd, b, sizeof b, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (n == 0) {
        session_close(ss, NULL);
        return;
    }
    violation(ss, n > 0 ? "frames on the Unix socket after switching to shared rings"
                        : strerror(errno));
}
