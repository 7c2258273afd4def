/* The Unix-socket client transport (uds_transport.h): the listener of minitcpd and one
 * session per connected client process. Serves each client in bounded slices (a budget of
 * frames per loop iteration, the rest from a ready list, round robin), stops serving a
 * client that does not read its replies (back-pressure), and writes the sessions with new
 * output once per loop iteration, from the ev_prepare watcher that also runs the socket
 * service's work. Buffers start small and are given back when a session is idle. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "daemon.h"
#include "frames.h"
#include "shm_transport.h"
#include "sock_service.h"
#include "uds_transport.h"

#define DEFAULT_MAX_CLIENTS 4096
/* like the soft RLIMIT_NOFILE: far above what one user's programs need, far below the
 * daemon-wide limit */
#define DEFAULT_MAX_PER_UID 1024
#define IN_MIN 4096                  /* input buffer at the first read */
#define IN_MAX (2 * PROTO_MAX_FRAME) /* input buffer when frames are large */
#define OUT_MIN 4096                 /* output buffer at the first reply */
#define SLICE_FRAMES 64              /* frames handled per client per loop iteration */
#define SLICE_BYTES (1024u * 1024)   /* or this many frame bytes, whichever comes first */
#define TRIM_AFTER 1.0               /* seconds idle before buffers are given back */

static void session_schedule(struct session *ss);

/* ---- session lists ---- */

static void sl_add(struct server *srv, struct session *ss, int w)
{
    struct sess_list *l = &srv->lists[w];
    if (ss->on[w]) return;
    ss->on[w] = true;
    ss->lnext[w] = NULL;
    ss->lprev[w] = l->last;
    if (l->last)
        l->last->lnext[w] = ss;
    else
        l->first = ss;
    l->last = ss;
    l->n++;
}

static void sl_del(struct server *srv, struct session *ss, int w)
{
    struct sess_list *l = &srv->lists[w];
    if (!ss->on[w]) return;
    ss->on[w] = false;
    if (ss->lprev[w])
        ss->lprev[w]->lnext[w] = ss->lnext[w];
    else
        l->first = ss->lnext[w];
    if (ss->lnext[w])
        ss->lnext[w]->lprev[w] = ss->lprev[w];
    else
        l->last = ss->lprev[w];
    ss->lnext[w] = ss->lprev[w] = NULL;
    l->n--;
}

/* ---- output buffer ---- */

size_t out_pending(const struct session *ss)
{
    return ss->out_len - ss->out_off;
}

uint8_t *out_reserve(struct session *ss, size_t n)
{
    if (ss->shm) {
        uint8_t *p = shm_out_reserve(ss, n);
        if (ss->srv) sl_add(ss->srv, ss, SL_DIRTY);
        if (p) return p;
        /* no room in the ring: the overflow buffer below, moved in order at the flush */
    }
    if (ss->out_off == ss->out_len) ss->out_off = ss->out_len = 0;
    if (ss->out_len + n > ss->out_cap && ss->out_off) {
        memmove(ss->out, ss->out + ss->out_off, ss->out_len - ss->out_off);
        ss->out_len -= ss->out_off;
        ss->out_off = 0;
    }
    if (ss->out_len + n > ss->out_cap) {
        size_t ncap = ss->out_cap ? ss->out_cap : OUT_MIN;
        while (ncap < ss->out_len + n)
            ncap *= 2;
        uint8_t *nb = realloc(ss->out, ncap);
        if (!nb) return NULL;
        ss->out = nb;
        ss->out_cap = ncap;
    }
    /* the caller writes: flush this session in this loop iteration */
    if (ss->srv) sl_add(ss->srv, ss, SL_DIRTY);
    return ss->out + ss->out_len;
}

/* Queues a small control frame. Allowed beyond OUT_SOFT: these are bounded by the
 * requests read (reading stops over OUT_SOFT) and by one event per socket state change. */
void out_msg(struct session *ss, const struct proto_msg *m)
{
    long pl = proto_payload_len(m);
    if (pl < 0) return;
    uint8_t *p = out_reserve(ss, PROTO_HDR_LEN + (size_t)pl);
    if (!p) return;
    long n = proto_encode(m, p, PROTO_HDR_LEN + (size_t)pl);
    if (n > 0) out_commit(ss, (size_t)n);
}

void out_commit(struct session *ss, size_t n)
{
    if (ss->shm && ss->shm->in_ring)
        shm_ring_commit(&ss->shm->a.d2c, (uint32_t)n);
    else
        ss->out_len += n;
}

void reply(struct session *ss, const struct proto_hdr *req, uint32_t sock_id, int err,
           uint32_t val0, uint32_t val1)
{
    if (!req->req_id) return;
    struct proto_msg m = {.h = {.type = PT_REPLY, .req_id = req->req_id, .sock_id = sock_id}};
    m.u.reply.status = err ? proto_err_from_errno(err) : PE_OK;
    m.u.reply.val0 = val0;
    m.u.reply.val1 = val1;
    out_msg(ss, &m);
}

bool out_room(const struct session *ss)
{
    if (ss->shm) return shm_out_room(ss);
    return out_pending(ss) < OUT_SOFT;
}

/* ---- idle buffers ---- */

/* A session that did nothing for TRIM_AFTER gives back the buffers it no longer uses: an
 * idle client costs its struct and nothing else (docs/architecture.md "Client sessions"). */
static void trim_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct session *ss = w->data;
    ev_timer_stop(loop, w); /* one shot: re-armed by the next activity */
    if (!out_pending(ss)) {
        free(ss->out);
        ss->out = NULL;
        ss->out_off = ss->out_len = ss->out_cap = 0;
    }
    if (!ss->in_len) {
        free(ss->in);
        ss->in = NULL;
        ss->in_cap = 0;
    }
}

static void trim_later(struct session *ss)
{
    if (ss->out || ss->in) ev_timer_again(ss->srv->d->loop, &ss->trim);
}

/* ---- writing to clients ---- */

/* Writes queued output. Returns bytes written, -1 when the session was closed. */
long session_flush(struct session *ss)
{
    long total = 0;
    sl_del(ss->srv, ss, SL_DIRTY);
    if (ss->shm) {
        total = shm_flush(ss);
        if (total < 0) return -1;
    }
    while (!ss->shm && out_pending(ss)) {
        ssize_t n = send(ss->fd, ss->out + ss->out_off, out_pending(ss), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            session_close(ss, strerror(errno));
            return -1;
        }
        ss->out_off += (size_t)n;
        total += n;
    }
    struct ev_loop *loop = ss->srv->d->loop;
    if (ss->shm) {
        if (!out_pending(ss)) trim_later(ss);
    } else if (out_pending(ss)) {
        if (!ev_is_active(&ss->wio)) ev_io_start(loop, &ss->wio);
    } else {
        ss->out_off = ss->out_len = 0;
        if (ev_is_active(&ss->wio)) ev_io_stop(loop, &ss->wio);
        trim_later(ss);
    }
    if (out_room(ss)) {
        if (ss->paused) {
            ss->paused = false;
            session_schedule(ss);
        }
        svc_output_room(ss);
    }
    return total;
}

/* Runs queued socket work and flushes the sessions that have new output, until nothing
 * moves. */
static void run_work(struct server *srv)
{
    for (int round = 0; round < 64; round++) {
        svc_run(&srv->svc);
        long moved = 0;
        while (srv->lists[SL_DIRTY].first) {
            long n = session_flush(srv->lists[SL_DIRTY].first);
            if (n > 0) moved += n;
        }
        if (!svc_has_work(&srv->svc) || !moved) break;
    }
}

static void write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    session_flush(w->data); /* blocked sockets are queued; the prepare watcher pulls */
}

/* ---- reading and serving clients ---- */

/* One frame from a client. Returns -1 when the client must be disconnected. */
static int handle_frame(struct session *ss, const struct proto_msg *m, const char **why)
{
    if (!(proto_type_dir(m->h.type) & PROTO_DIR_C2D)) {
        *why = "frame type not allowed from a client";
        return -1;
    }
    if (m->h.type == PT_SETOPT && m->h.sock_id == 0 && m->u.setopt.opt == SHM_OPT_RINGS)
        return shm_attach(ss, m, why);
    if (control_frame(ss, m)) return 0;
    if (capture_frame(&ss->srv->cap, ss, m)) return 0;
    return svc_frame(ss, m, why);
}

/* Bytes the buffered input needs before its first frame is whole (0: it is, or its header
 * is bad and decoding will say so). */
static size_t in_need(const struct session *ss)
{
    struct proto_hdr h;
    int rc = proto_decode_hdr(ss->in, ss->in_len, &h);
    if (rc == PROTO_ETRUNC) return PROTO_HDR_LEN;
    if (rc != PROTO_OK) return 0;
    size_t fl = PROTO_HDR_LEN + h.len;
    return ss->in_len >= fl ? 0 : fl;
}

/* Keeps the fds of one message (at most 3, once); any others are closed. */
static void keep_fds(struct session *ss, struct msghdr *mh)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < nfd; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof fd, sizeof fd);
            if (ss->n_rx_fd < 3 && !ss->shm && nfd == 3)
                ss->rx_fd[ss->n_rx_fd++] = fd;
            else
                close(fd);
        }
    }
}

/* Reads what the socket has into the input buffer, which grows up to IN_MAX when a frame
 * needs it. Returns 1 when bytes came, 0 on EAGAIN, -1 when the session was closed. */
static int session_read(struct session *ss)
{
    size_t need = in_need(ss);
    size_t cap = ss->in_cap ? ss->in_cap : IN_MIN;
    while (cap < need && cap < IN_MAX)
        cap *= 2;
    if (ss->in_len == cap && cap < IN_MAX) cap *= 2; /* small frames, many of them */
    if (cap > IN_MAX) cap = IN_MAX;
    if (cap != ss->in_cap) {
        uint8_t *nb = realloc(ss->in, cap);
        if (!nb) {
            session_close(ss, "out of memory for input");
            return -1;
        }
        ss->in = nb;
        ss->in_cap = cap;
    }
    for (;;) {
        /* a shared-ring offer brings its fds (SCM_RIGHTS) with the frame */
        struct iovec iov = {ss->in + ss->in_len, ss->in_cap - ss->in_len};
        union {
            struct cmsghdr h;
            char b[CMSG_SPACE(sizeof(int) * 3)];
        } cb;
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &cb, .msg_controllen = sizeof cb};
        ssize_t n = recvmsg(ss->fd, &mh, MSG_CMSG_CLOEXEC);
        if (n >= 0 && mh.msg_controllen) keep_fds(ss, &mh);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            session_close(ss, strerror(errno));
            return -1;
        }
        if (n == 0) {
            session_close(ss, NULL);
            return -1;
        }
        ss->in_len += (size_t)n;
        return 1;
    }
}

/* One slice of a client's work: at most SLICE_FRAMES frames or SLICE_BYTES bytes, or one
 * step of a control query, and only while its output has room. What is left waits on the
 * ready list for the next loop iteration, behind every other client (fairness: one
 * client's pipelined requests cannot hold the loop). Returns -1 when the session closed. */
int session_serve(struct session *ss)
{
    struct stack *st = ss->srv->d->st;
    unsigned frames = 0;
    size_t bytes = 0, off = 0;
    int rc = 0;
    bool read_more = true; /* one read per slice once the buffer ran dry */
    /* one batch per slice: a send and the close behind it leave as one segment */
    stack_batch_begin(st);
    while (out_room(ss)) {
        if (ss->job) { /* one step of a query in progress ends the slice */
            control_step(ss);
            break;
        }
        if (frames >= SLICE_FRAMES || bytes >= SLICE_BYTES) {
            ss->srv->slices_yielded++;
            break;
        }
        struct proto_msg m;
        size_t fl;
        if (ss->shm) { /* frames from the c2d ring, decoded and handled in place */
            const char *why = NULL;
            int r = shm_next(ss, &m, &fl, &why);
            if (r > 0 && handle_frame(ss, &m, &why) < 0) r = -1;
            if (r < 0) {
                session_close(ss, why);
                rc = -1;
                break;
            }
            if (r == 0) {
                ss->shm->more = false;
                break;
            }
            shm_consume(ss, fl);
            frames++;
            bytes += fl;
            continue;
        }
        int dr = ss->in ? proto_decode(ss->in + off, ss->in_len - off, &m, &fl) : PROTO_ETRUNC;
        if (dr == PROTO_ETRUNC) {
            if (off) { /* make room at the front before reading */
                memmove(ss->in, ss->in + off, ss->in_len - off);
                ss->in_len -= off;
                off = 0;
            }
            if (!read_more) break;
            int r = session_read(ss);
            if (r < 0) {
                rc = -1;
                break;
            }
            if (r == 0) break; /* drained: the read watcher waits for more */
            read_more = ss->in_len == ss->in_cap;
            continue;
        }
        const char *why = NULL;
        if (dr != PROTO_OK) why = proto_result_str(dr);
        if (why || handle_frame(ss, &m, &why) < 0) {
            session_close(ss, why);
            rc = -1;
            break;
        }
        off += fl;
        frames++;
        bytes += fl;
    }
    stack_batch_end(st, daemon_now());
    if (rc < 0) return -1;
    if (ss->shm && (frames >= SLICE_FRAMES || bytes >= SLICE_BYTES || !out_room(ss) || ss->job))
        ss->shm->more = true; /* stopped with frames maybe left: served again */
    if (off) {
        memmove(ss->in, ss->in + off, ss->in_len - off);
        ss->in_len -= off;
    }
    session_schedule(ss);
    trim_later(ss);
    return 0;
}

/* Chooses how the session is served next: not at all while its output is over OUT_SOFT
 * (session_flush resumes it), from the ready list while a whole frame or a query step
 * waits, else from its read watcher. */
static void session_schedule(struct session *ss)
{
    struct server *srv = ss->srv;
    struct ev_loop *loop = srv->d->loop;
    bool ready = false;
    if (!out_room(ss))
        ss->paused = true;
    else if (ss->shm)
        ready = ss->job || ss->shm->more;
    else
        ready = ss->job || (ss->in_len && in_need(ss) == 0);
    if (ready)
        sl_add(srv, ss, SL_READY);
    else
        sl_del(srv, ss, SL_READY);
    /* shared rings: the socket is only watched for the client's exit */
    bool want_read = ss->shm || (!ss->paused && !ready);
    if (want_read && !ev_is_active(&ss->rio))
        ev_io_start(loop, &ss->rio);
    else if (!want_read && ev_is_active(&ss->rio))
        ev_io_stop(loop, &ss->rio);
}

static void read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct session *ss = w->data;
    if (ss->shm)
        shm_uds_readable(ss);
    else
        session_serve(ss);
}

/* Before the loop blocks: one slice for each client on the ready list (in order; those
 * with more left go to the back), then the socket work and the writes. While clients
 * remain ready the loop polls instead of sleeping, so TUN packets, timers and the other
 * clients are served between two slices. */
static void prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)revents;
    struct server *srv = w->data;
    struct sess_list *rl = &srv->lists[SL_READY];
    for (unsigned k = rl->n; k && rl->first; k--) {
        struct session *ss = rl->first;
        sl_del(srv, ss, SL_READY);
        session_serve(ss);
    }
    run_work(srv);
    if (srv->cap.readers) { /* this iteration's packets, the work's output included */
        capture_flush(&srv->cap);
        while (srv->lists[SL_DIRTY].first)
            session_flush(srv->lists[SL_DIRTY].first);
    }
    if (rl->n && !ev_is_active(&srv->spin))
        ev_idle_start(loop, &srv->spin);
    else if (!rl->n && ev_is_active(&srv->spin))
        ev_idle_stop(loop, &srv->spin);
}

static void spin_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents; /* the work is done by prepare_cb */
}

/* ---- sessions ---- */

void session_close(struct session *ss, const char *why)
{
    struct server *srv = ss->srv;
    if (why)
        fprintf(stderr, "minitcpd: client pid %ld uid %ld disconnected: %s\n", (long)ss->pid,
                (long)ss->uid, why);
    control_abort(ss);
    capture_session_closed(&srv->cap, ss);
    svc_session_closed(ss);
    shm_detach(ss);
    for (int w = 0; w < SL_COUNT; w++)
        sl_del(srv, ss, w);
    ev_io_stop(srv->d->loop, &ss->rio);
    ev_io_stop(srv->d->loop, &ss->wio);
    ev_timer_stop(srv->d->loop, &ss->trim);
    close(ss->fd);
    if (ss->prev)
        ss->prev->next = ss->next;
    else
        srv->sessions = ss->next;
    if (ss->next) ss->next->prev = ss->prev;
    srv->nsessions--;
    ss->acct->sessions--;
    access_uid_release(&srv->acl, ss->acct);
    free(ss->in);
    free(ss->out);
    free(ss);
}

/* A client beyond a limit gets one frame saying why (EV_ERROR on socket 0, which the
 * library turns into its errno), and is closed. */
static void refuse(struct server *srv, int fd, const struct ucred *cred, int err, const char *why)
{
    uint8_t f[PROTO_HDR_LEN + 4];
    struct proto_msg m = {.h = {.type = PT_EV_ERROR}};
    m.u.error.err = proto_err_from_errno(err);
    long n = proto_encode(&m, f, sizeof f);
    if (n > 0) (void)send(fd, f, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    close(fd);
    /* one line per refusal would let a client flood the log: the counters tell */
    if ((err == EUSERS ? srv->refused_uid : srv->refused_total) == 1)
        fprintf(stderr, "minitcpd: client pid %ld uid %ld refused: %s (counted in stats)\n",
                (long)cred->pid, (long)cred->uid, why);
}

/* The client's rights, from its uid and groups (SO_PEERGROUPS: the supplementary groups
 * of the process that connected; without them only the primary group counts). */
static unsigned peer_rights(const struct server *srv, int fd, const struct ucred *cred)
{
    gid_t groups[256];
    socklen_t gl = sizeof groups;
    struct access_cred c = {.uid = cred->uid, .gid = cred->gid, .groups = groups};
    if ((srv->policy.has_priv_group || srv->policy.has_capture_group) &&
        getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &gl) == 0)
        c.ngroups = gl / sizeof *groups;
    return access_rights(&srv->policy, &c);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct server *srv = w->data;
    for (int i = 0; i < 64; i++) {
        int fd = accept4(srv->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                fprintf(stderr, "minitcpd: accept on %s: %s\n", srv->path, strerror(errno));
            return;
        }
        struct ucred cred = {0};
        socklen_t cl = sizeof cred;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0) {
            close(fd);
            continue;
        }
        if (srv->nsessions >= srv->max_clients) {
            srv->refused_total++;
            refuse(srv, fd, &cred, ENFILE, "the daemon's client limit");
            continue;
        }
        struct access_uid *acct = access_uid_get(&srv->acl, cred.uid, false);
        if (acct && acct->sessions >= srv->max_per_uid) {
            srv->refused_uid++;
            refuse(srv, fd, &cred, EUSERS, "too many clients of this uid (--max-clients-per-uid)");
            continue;
        }
        struct session *ss = calloc(1, sizeof *ss);
        if (!ss || (!acct && !(acct = access_uid_get(&srv->acl, cred.uid, true)))) {
            free(ss);
            close(fd);
            continue;
        }
        acct->sessions++;
        ss->acct = acct;
        ss->pid = cred.pid;
        ss->uid = cred.uid;
        ss->gid = cred.gid;
        ss->rights = peer_rights(srv, fd, &cred);
        int sz = 1 << 20;
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
        ss->srv = srv;
        ss->svc = &srv->svc;
        ss->fd = fd;
        ev_io_init(&ss->rio, read_cb, fd, EV_READ);
        ev_io_init(&ss->wio, write_cb, fd, EV_WRITE);
        ev_init(&ss->trim, trim_cb);
        ss->trim.repeat = TRIM_AFTER;
        ss->rio.data = ss->wio.data = ss->trim.data = ss;
        ev_io_start(loop, &ss->rio);
        ss->next = srv->sessions;
        if (srv->sessions) srv->sessions->prev = ss;
        srv->sessions = ss;
        srv->nsessions++;
    }
}

/* ---- the listening socket ---- */

static int make_parent_dir(const char *path, gid_t gid, bool set_group, uid_t owner)
{
    char *dir = strdup(path);
    if (!dir) return -1;
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) {
        free(dir);
        return 0;
    }
    *slash = 0;
    struct stat sb;
    if (stat(dir, &sb) == 0) {
        free(dir);
        return 0;
    }
    /* create missing components; only the last one gets the group */
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(dir, 0755) < 0 && errno != EEXIST) goto fail;
        *p = '/';
    }
    if (mkdir(dir, 0750) < 0 && errno != EEXIST) goto fail;
    if (chmod(dir, 0750) < 0) goto fail;
    if (set_group && chown(dir, (uid_t)-1, gid) < 0) goto fail;
    /* a directory made here belongs to the --user the daemon becomes, so that it can
     * remove its socket at shutdown */
    if (owner != (uid_t)-1 && chown(dir, owner, (gid_t)-1) < 0) goto fail;
    free(dir);
    return 0;
fail:
    fprintf(stderr, "minitcpd: cannot create %s: %s\n", dir, strerror(errno));
    free(dir);
    return -1;
}

/* A socket file left by a dead daemon is removed; a live daemon's is not. */
static int remove_stale(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) < 0) return errno == ENOENT ? 0 : -1;
    if (!S_ISSOCK(sb.st_mode)) {
        fprintf(stderr, "minitcpd: %s exists and is not a socket\n", path);
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    close(fd);
    if (r == 0) {
        fprintf(stderr, "minitcpd: %s: another minitcpd is serving it\n", path);
        return -1;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        fprintf(stderr, "minitcpd: cannot remove stale %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* A group named on the command line, resolved before any privilege is dropped. */
static int group_gid(const char *opt, const char *name, bool *has, gid_t *gid)
{
    *has = false;
    if (!name) return 0;
    struct group *g = getgrnam(name);
    if (!g) {
        fprintf(stderr, "minitcpd: %s: unknown group '%s'\n", opt, name);
        return -1;
    }
    *has = true;
    *gid = g->gr_gid;
    return 0;
}

int server_start(struct daemon *d)
{
    const char *path = d->opt.socket_path;
    if (!path) return 0;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (!*path || strlen(path) >= sizeof sa.sun_path) {
        fprintf(stderr, "minitcpd: socket path '%s' is empty or too long\n", path);
        return -1;
    }
    strcpy(sa.sun_path, path);
    gid_t gid = (gid_t)-1;
    bool set_group = d->opt.socket_group && *d->opt.socket_group;
    if (set_group) {
        struct group *g = getgrnam(d->opt.socket_group);
        if (!g) {
            fprintf(stderr, "minitcpd: unknown group '%s'\n", d->opt.socket_group);
            return -1;
        }
        gid = g->gr_gid;
    }
    struct access_policy policy = {.max_socks_per_uid = d->opt.max_socks_per_uid};
    if (group_gid("--privileged-group", d->opt.priv_group, &policy.has_priv_group,
                  &policy.priv_gid) < 0 ||
        group_gid("--capture-group", d->opt.capture_group, &policy.has_capture_group,
                  &policy.capture_gid) < 0)
        return -1;
    uid_t owner = d->opt.user ? d->opt.user_uid : (uid_t)-1;
    if (make_parent_dir(path, gid, set_group, owner) < 0 || remove_stale(path) < 0) return -1;

    struct server *srv = calloc(1, sizeof *srv);
    if (!srv || !(srv->path = strdup(path))) {
        free(srv);
        return -1;
    }
    srv->d = d;
    srv->lfd = -1;
    srv->policy = policy;
    srv->acl.buffered_max = d->opt.max_buffered_per_uid;
    srv->max_clients = d->opt.max_clients ? d->opt.max_clients : DEFAULT_MAX_CLIENTS;
    srv->max_per_uid =
        d->opt.max_clients_per_uid ? d->opt.max_clients_per_uid : DEFAULT_MAX_PER_UID;
    if (svc_init(&srv->svc, d) < 0) goto fail;
    srv->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (srv->lfd < 0) goto fail;
    mode_t old = umask(0117); /* the file is born 0660: no window with wider access */
    int r = bind(srv->lfd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (r < 0) goto fail;
    /* with --user the daemon's user owns the file; root and the group reach it as before */
    if (chmod(path, 0660) < 0 ||
        ((set_group || owner != (uid_t)-1) && chown(path, owner, gid) < 0) ||
        listen(srv->lfd, 256) < 0) {
        int e = errno;
        unlink(path);
        errno = e;
        goto fail;
    }
    ev_io_init(&srv->lio, accept_cb, srv->lfd, EV_READ);
    srv->lio.data = srv;
    ev_io_start(d->loop, &srv->lio);
    /* before main.c's prepare watcher (priority 0), which re-arms the stack timer after
     * the stack calls made here */
    ev_prepare_init(&srv->prep, prepare_cb);
    ev_set_priority(&srv->prep, EV_MAXPRI);
    srv->prep.data = srv;
    ev_prepare_start(d->loop, &srv->prep);
    ev_idle_init(&srv->spin, spin_cb);
    srv->spin.data = srv;
    d->srv = srv;
    d->live = &srv->cap;
    return 0;
fail:
    fprintf(stderr, "minitcpd: cannot listen on %s: %s\n", path, strerror(errno));
    if (srv->lfd >= 0) close(srv->lfd);
    svc_fini(&srv->svc);
    free(srv->path);
    free(srv);
    return -1;
}

void server_stop(struct daemon *d)
{
    struct server *srv = d->srv;
    if (!srv) return;
    while (srv->sessions)
        session_close(srv->sessions, NULL);
    capture_fini(&srv->cap);
    d->live = NULL;
    ev_io_stop(d->loop, &srv->lio);
    ev_prepare_stop(d->loop, &srv->prep);
    ev_idle_stop(d->loop, &srv->spin);
    close(srv->lfd);
    if (unlink(srv->path) < 0 && errno != ENOENT)
        fprintf(stderr, "minitcpd: cannot remove %s: %s (removed as stale at the next start)\n",
                srv->path, strerror(errno));
    svc_fini(&srv->svc);
    access_table_fini(&srv->acl);
    free(srv->path);
    free(srv);
    d->srv = NULL;
}