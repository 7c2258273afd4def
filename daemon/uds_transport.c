/* The Unix-socket client transport (uds_transport.h): the listener of minitcpd and one
 * session per connected client process. Reads frames with a per-wakeup budget and stops
 * reading a client that does not read its replies (back-pressure); writes each session's
 * output once per loop iteration, from the ev_prepare watcher that also runs the socket
 * service's work. */
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
#include "sock_service.h"
#include "uds_transport.h"

#define MAX_CLIENTS 4096
#define IN_CAP (2 * PROTO_MAX_FRAME)   /* input buffer: at least one whole frame */
#define READ_BUDGET (4u * 1024 * 1024) /* bytes read from one client per wakeup */

static void session_close(struct session *ss, const char *why);

/* ---- output buffer ---- */

size_t out_pending(const struct session *ss)
{
    return ss->out_len - ss->out_off;
}

uint8_t *out_reserve(struct session *ss, size_t n)
{
    if (ss->out_off == ss->out_len) ss->out_off = ss->out_len = 0;
    if (ss->out_len + n > ss->out_cap && ss->out_off) {
        memmove(ss->out, ss->out + ss->out_off, ss->out_len - ss->out_off);
        ss->out_len -= ss->out_off;
        ss->out_off = 0;
    }
    if (ss->out_len + n > ss->out_cap) {
        size_t ncap = ss->out_cap ? ss->out_cap : 256 * 1024;
        while (ncap < ss->out_len + n)
            ncap *= 2;
        uint8_t *nb = realloc(ss->out, ncap);
        if (!nb) return NULL;
        ss->out = nb;
        ss->out_cap = ncap;
    }
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
    if (n > 0) ss->out_len += (size_t)n;
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
    return out_pending(ss) < OUT_SOFT;
}

/* ---- writing to clients ---- */

/* Writes queued output. Returns bytes written, -1 when the session was closed. */
static long session_flush(struct session *ss)
{
    long total = 0;
    while (out_pending(ss)) {
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
    if (out_pending(ss)) {
        if (!ev_is_active(&ss->wio)) ev_io_start(loop, &ss->wio);
    } else {
        ss->out_off = ss->out_len = 0;
        if (ev_is_active(&ss->wio)) ev_io_stop(loop, &ss->wio);
        /* a burst (a big connection list) may have grown the buffer: give it back */
        if (ss->out_cap > 4 * OUT_SOFT) {
            free(ss->out);
            ss->out = NULL;
            ss->out_cap = 0;
        }
    }
    if (out_room(ss)) {
        if (ss->read_paused) {
            ss->read_paused = false;
            ev_io_start(loop, &ss->rio);
            /* frames may wait in ss->in with nothing new on the socket */
            if (ss->in_len) ev_feed_event(loop, &ss->rio, EV_READ);
        }
        svc_output_room(ss);
    }
    return total;
}

/* Runs queued socket work and flushes every session, until nothing moves. */
static void run_work(struct server *srv)
{
    for (int round = 0; round < 64; round++) {
        svc_run(&srv->svc);
        long moved = 0;
        for (struct session *ss = srv->sessions, *nx; ss; ss = nx) {
            nx = ss->next;
            if (out_pending(ss)) {
                long n = session_flush(ss);
                if (n > 0) moved += n;
            }
        }
        if (!svc_has_work(&srv->svc) || !moved) break;
    }
}

static void prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)loop;
    (void)revents;
    run_work(w->data);
}

static void write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    session_flush(w->data); /* blocked sockets are queued; the prepare watcher pulls */
}

/* One frame from a client. Returns -1 when the client must be disconnected. */
static int handle_frame(struct session *ss, const struct proto_msg *m, const char **why)
{
    if (!(proto_type_dir(m->h.type) & PROTO_DIR_C2D)) {
        *why = "frame type not allowed from a client";
        return -1;
    }
    if (control_frame(ss, m)) return 0;
    return svc_frame(ss, m, why);
}

/* Handles the whole frames buffered in ss->in, but only while the session has output
 * room: a client that sends requests without reading the replies (a batch of LIST_CONNS
 * can each be megabytes) leaves its frames here, and read_cb stops reading it. Returns -1
 * when the session was closed. */
static int session_input(struct session *ss)
{
    size_t off = 0;
    struct stack *st = ss->srv->d->st;
    /* one batch per read: a send and the close behind it leave as one segment */
    stack_batch_begin(st);
    while (out_room(ss)) {
        struct proto_msg m;
        size_t fl;
        int rc = proto_decode(ss->in + off, ss->in_len - off, &m, &fl);
        if (rc == PROTO_ETRUNC) break;
        const char *why = NULL;
        if (rc != PROTO_OK) why = proto_result_str(rc);
        if (why || handle_frame(ss, &m, &why) < 0) {
            session_close(ss, why);
            stack_batch_end(st, daemon_now());
            return -1;
        }
        off += fl;
    }
    stack_batch_end(st, daemon_now());
    if (off) {
        memmove(ss->in, ss->in + off, ss->in_len - off);
        ss->in_len -= off;
    }
    return 0;
}

static void read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct session *ss = w->data;
    /* frames left over when the output filled up (session_flush feeds this callback) */
    if (session_input(ss) < 0) return;
    size_t budget = READ_BUDGET;
    /* with output room every whole frame was handled: less than one frame is buffered */
    while (budget && out_room(ss)) {
        ssize_t n = recv(ss->fd, ss->in + ss->in_len, IN_CAP - ss->in_len, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            session_close(ss, strerror(errno));
            return;
        }
        if (n == 0) {
            session_close(ss, NULL);
            return;
        }
        budget = (size_t)n >= budget ? 0 : budget - (size_t)n;
        bool drained = (size_t)n < IN_CAP - ss->in_len; /* a short read emptied the socket */
        ss->in_len += (size_t)n;
        if (session_input(ss) < 0) return;
        if (drained) break; /* the watcher is level-triggered: no EAGAIN read needed */
    }
    if (!out_room(ss) && !ss->read_paused) { /* the client does not read its replies */
        ss->read_paused = true;
        ev_io_stop(loop, &ss->rio);
    }
}

/* ---- sessions ---- */

static void session_close(struct session *ss, const char *why)
{
    struct server *srv = ss->srv;
    if (why)
        fprintf(stderr, "minitcpd: client pid %ld uid %ld disconnected: %s\n", (long)ss->pid,
                (long)ss->uid, why);
    svc_session_closed(ss);
    ev_io_stop(srv->d->loop, &ss->rio);
    ev_io_stop(srv->d->loop, &ss->wio);
    close(ss->fd);
    if (ss->prev)
        ss->prev->next = ss->next;
    else
        srv->sessions = ss->next;
    if (ss->next) ss->next->prev = ss->prev;
    srv->nsessions--;
    free(ss->in);
    free(ss->out);
    free(ss);
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
        if (srv->nsessions >= MAX_CLIENTS) {
            fprintf(stderr, "minitcpd: client refused: %u clients already\n", srv->nsessions);
            close(fd);
            continue;
        }
        struct session *ss = calloc(1, sizeof *ss);
        if (ss) ss->in = malloc(IN_CAP);
        if (!ss || !ss->in) {
            if (ss) free(ss);
            close(fd);
            continue;
        }
        struct ucred cred = {0};
        socklen_t cl = sizeof cred;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0) {
            ss->pid = cred.pid;
            ss->uid = cred.uid;
            ss->gid = cred.gid;
        }
        int sz = 1 << 20;
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
        ss->srv = srv;
        ss->svc = &srv->svc;
        ss->fd = fd;
        ev_io_init(&ss->rio, read_cb, fd, EV_READ);
        ev_io_init(&ss->wio, write_cb, fd, EV_WRITE);
        ss->rio.data = ss->wio.data = ss;
        ev_io_start(loop, &ss->rio);
        ss->next = srv->sessions;
        if (srv->sessions) srv->sessions->prev = ss;
        srv->sessions = ss;
        srv->nsessions++;
    }
}

/* ---- the listening socket ---- */

static int make_parent_dir(const char *path, gid_t gid, bool set_group)
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
    if (make_parent_dir(path, gid, set_group) < 0 || remove_stale(path) < 0) return -1;

    struct server *srv = calloc(1, sizeof *srv);
    if (!srv || !(srv->path = strdup(path))) {
        free(srv);
        return -1;
    }
    srv->d = d;
    srv->lfd = -1;
    if (svc_init(&srv->svc, d) < 0) goto fail;
    srv->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (srv->lfd < 0) goto fail;
    mode_t old = umask(0117); /* the file is born 0660: no window with wider access */
    int r = bind(srv->lfd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (r < 0) goto fail;
    if (chmod(path, 0660) < 0 || (set_group && chown(path, (uid_t)-1, gid) < 0) ||
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
    d->srv = srv;
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
    ev_io_stop(d->loop, &srv->lio);
    ev_prepare_stop(d->loop, &srv->prep);
    close(srv->lfd);
    unlink(srv->path);
    svc_fini(&srv->svc);
    free(srv->path);
    free(srv);
    d->srv = NULL;
}