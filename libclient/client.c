/* libminitcp-client: minitcp_* calls become frames (proto/) on one Unix-domain connection
 * to minitcpd, and pushed frames become socket state. See include/minitcp.h for the API
 * and docs/ipc.md for the protocol and its credit-based flow control. */
#include "minitcp.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "credit.h"
#include "frames.h"

#define IN_CAP (4 * PROTO_MAX_FRAME)
#define OUT_FLUSH_AT (128u * 1024u)  /* try to write once this much is queued */
#define OUT_BLOCK_AT (1024u * 1024u) /* wait for the daemon beyond this */
#define MAX_DGRAM 65500u
/* After a read drained the daemon socket, calls that merely look for news (a non-blocking
 * call about to fail with EAGAIN, close checking for unread data, poll before its scan)
 * read again only when the socket may hold more: the last read filled the buffer, or this
 * long has passed. Waits never depend on it: they block in ppoll, which sees any data. */
#define READ_GATE_NS 200000LL

enum cstate { CS_NEW, CS_BOUND, CS_LISTEN, CS_CONNECTING, CS_CONNECTED, CS_FAILED };

struct csock {
    bool used;
    bool nonblock;
    bool eof; /* the daemon sent EV_EOF */
    bool shut_rd, shut_wr;
    bool err_reported; /* send reported err once, then EPIPE */
    bool linger0;
    bool has_peer; /* datagram: connected destination */
    uint8_t kind;  /* PROTO_SOCK_* */
    uint8_t state; /* enum cstate */
    uint32_t id;   /* the daemon's socket id */
    int err;       /* pending error (positive errno) */
    struct sockaddr_in local, peer;

    /* received bytes (stream) or records (datagram): a ring */
    uint8_t *rbuf;
    size_t rcap, rhead, rlen;
    struct credit_receiver rcv; /* the window we promised, credit not yet returned */
    size_t ndgrams;             /* datagram records in the ring */

    uint32_t scredit; /* bytes we may still send */

    /* listener: accepted descriptors waiting for minitcp_accept */
    int *aq;
    size_t aq_head, aq_len, aq_cap;
    uint32_t backlog;
    uint32_t accepts_owed;
};

static struct {
    int fd; /* -1 = not connected */
    uint8_t *in;
    size_t in_len;
    bool in_full;        /* the last recv filled the buffer: more may be waiting */
    long long in_dry_ns; /* when a recv last came back short (the socket was drained) */
    uint8_t *out;
    size_t out_off, out_len, out_cap;
    uint32_t next_req;

    /* the one outstanding request */
    uint32_t wait_req;
    bool reply_done;
    struct proto_msg reply;

    struct csock *socks;
    int nsocks; /* array size */

    /* daemon id -> descriptor + 1 (open addressing, linear probing) */
    uint32_t *hkeys;
    int *hvals;
    size_t hcap, hcount;

    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
} C = {.fd = -1};

/* ---- id map ---- */

static size_t hslot(uint32_t id)
{
    return (id * 2654435761u) & (C.hcap - 1);
}

static int hmap_get(uint32_t id)
{
    if (!C.hcap) return -1;
    for (size_t i = hslot(id);; i = (i + 1) & (C.hcap - 1)) {
        if (!C.hvals[i]) return -1;
        if (C.hkeys[i] == id) return C.hvals[i] - 1;
    }
}

static int hmap_put(uint32_t id, int desc)
{
    if ((C.hcount + 1) * 2 > C.hcap) {
        size_t ncap = C.hcap ? C.hcap * 2 : 64;
        uint32_t *nk = calloc(ncap, sizeof *nk);
        int *nv = calloc(ncap, sizeof *nv);
        if (!nk || !nv) {
            free(nk);
            free(nv);
            return -1;
        }
        uint32_t *ok = C.hkeys;
        int *ov = C.hvals;
        size_t ocap = C.hcap;
        C.hkeys = nk;
        C.hvals = nv;
        C.hcap = ncap;
        for (size_t i = 0; i < ocap; i++) {
            if (!ov[i]) continue;
            size_t j = hslot(ok[i]);
            while (C.hvals[j])
                j = (j + 1) & (C.hcap - 1);
            C.hkeys[j] = ok[i];
            C.hvals[j] = ov[i];
        }
        free(ok);
        free(ov);
    }
    size_t i = hslot(id);
    while (C.hvals[i])
        i = (i + 1) & (C.hcap - 1);
    C.hkeys[i] = id;
    C.hvals[i] = desc + 1;
    C.hcount++;
    return 0;
}

static void hmap_del(uint32_t id)
{
    if (!C.hcap) return;
    size_t i = hslot(id);
    for (;; i = (i + 1) & (C.hcap - 1)) {
        if (!C.hvals[i]) return;
        if (C.hkeys[i] == id) break;
    }
    C.hvals[i] = 0;
    C.hcount--;
    /* backward-shift deletion keeps probe chains intact */
    size_t j = i;
    for (;;) {
        j = (j + 1) & (C.hcap - 1);
        if (!C.hvals[j]) return;
        size_t k = hslot(C.hkeys[j]);
        bool between = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);
        if (between) continue;
        C.hkeys[i] = C.hkeys[j];
        C.hvals[i] = C.hvals[j];
        C.hvals[j] = 0;
        i = j;
    }
}

/* ---- descriptors ---- */

static struct csock *get_sock(int s)
{
    if (s < 0 || s >= C.nsocks || !C.socks[s].used) {
        errno = EBADF;
        return NULL;
    }
    return &C.socks[s];
}

static int desc_alloc(void)
{
    for (int i = 0; i < C.nsocks; i++)
        if (!C.socks[i].used) return i;
    int n = C.nsocks ? C.nsocks * 2 : 16;
    struct csock *ns = realloc(C.socks, (size_t)n * sizeof *ns);
    if (!ns) {
        errno = ENOMEM;
        return -1;
    }
    memset(ns + C.nsocks, 0, (size_t)(n - C.nsocks) * sizeof *ns);
    int first = C.nsocks;
    C.socks = ns;
    C.nsocks = n;
    return first;
}

static int sock_new(uint32_t id, uint8_t kind)
{
    int d = desc_alloc();
    if (d < 0) return -1;
    if (hmap_put(id, d) < 0) {
        errno = ENOMEM;
        return -1;
    }
    struct csock *cs = &C.socks[d];
    memset(cs, 0, sizeof *cs);
    cs->used = true;
    cs->id = id;
    cs->kind = kind;
    credit_receiver_init(&cs->rcv, PROTO_DEFAULT_RCV_WINDOW);
    cs->local.sin_family = AF_INET;
    cs->peer.sin_family = AF_INET;
    return d;
}

static void sock_free(int d)
{
    struct csock *cs = &C.socks[d];
    hmap_del(cs->id);
    free(cs->rbuf);
    free(cs->aq);
    memset(cs, 0, sizeof *cs);
}

/* ---- output ---- */

static int out_reserve(size_t n)
{
    if (C.out_off && C.out_off == C.out_len) C.out_off = C.out_len = 0;
    if (C.out_len + n <= C.out_cap) return 0;
    if (C.out_off) {
        memmove(C.out, C.out + C.out_off, C.out_len - C.out_off);
        C.out_len -= C.out_off;
        C.out_off = 0;
        if (C.out_len + n <= C.out_cap) return 0;
    }
    size_t ncap = C.out_cap ? C.out_cap : 64 * 1024;
    while (ncap < C.out_len + n)
        ncap *= 2;
    uint8_t *nb = realloc(C.out, ncap);
    if (!nb) {
        errno = ENOMEM;
        return -1;
    }
    C.out = nb;
    C.out_cap = ncap;
    return 0;
}

/* Appends a frame; payload from m (see proto_encode). */
static int out_msg(const struct proto_msg *m)
{
    long pl = proto_payload_len(m);
    if (pl < 0) {
        errno = EINVAL;
        return -1;
    }
    if (out_reserve(PROTO_HDR_LEN + (size_t)pl) < 0) return -1;
    long n = proto_encode(m, C.out + C.out_len, C.out_cap - C.out_len);
    if (n < 0) {
        errno = EINVAL;
        return -1;
    }
    C.out_len += (size_t)n;
    return 0;
}

static void conn_broken(void);

/* Writes what the socket takes now. 0, or -1 when the connection broke. */
static int flush_nb(void)
{
    while (C.fd >= 0 && C.out_off < C.out_len) {
        ssize_t n = send(C.fd, C.out + C.out_off, C.out_len - C.out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            conn_broken();
            return -1;
        }
        C.out_off += (size_t)n;
    }
    if (C.out_off == C.out_len) C.out_off = C.out_len = 0;
    return C.fd >= 0 ? 0 : -1;
}

/* ---- input ---- */

static void credit_send(uint32_t id, uint32_t n)
{
    struct proto_msg m = {.h = {.type = PT_CREDIT, .sock_id = id}};
    m.u.credit.n = n;
    (void)out_msg(&m);
}

static void close_id(uint32_t id, bool abort)
{
    struct proto_msg m = {.h = {.type = PT_CLOSE, .sock_id = id}};
    if (abort) m.h.flags = PROTO_F_ABORT;
    (void)out_msg(&m);
}

/* Appends n bytes to the socket's ring, growing it (bounded by what the daemon may send:
 * the window; a daemon that overruns it is tolerated up to 2x, then dropped). */
static int ring_put(struct csock *cs, const uint8_t *p, size_t n)
{
    if (n == 0) return 0; /* an empty DATA frame: nothing to store (and no ring yet) */
    if (cs->rlen + n > cs->rcap) {
        size_t ncap = cs->rcap ? cs->rcap : 4096;
        while (ncap < cs->rlen + n)
            ncap *= 2;
        if (ncap > 2 * (size_t)PROTO_MAX_RCV_WINDOW + 2 * PROTO_MAX_FRAME) return -1;
        uint8_t *nb = malloc(ncap);
        if (!nb) return -1;
        /* linearize */
        size_t first = cs->rcap - cs->rhead < cs->rlen ? cs->rcap - cs->rhead : cs->rlen;
        if (cs->rlen) {
            memcpy(nb, cs->rbuf + cs->rhead, first);
            memcpy(nb + first, cs->rbuf, cs->rlen - first);
        }
        free(cs->rbuf);
        cs->rbuf = nb;
        cs->rcap = ncap;
        cs->rhead = 0;
    }
    size_t tail = (cs->rhead + cs->rlen) % cs->rcap;
    size_t first = cs->rcap - tail < n ? cs->rcap - tail : n;
    memcpy(cs->rbuf + tail, p, first);
    memcpy(cs->rbuf, p + first, n - first);
    cs->rlen += n;
    return 0;
}

static void ring_get(struct csock *cs, uint8_t *p, size_t n)
{
    size_t first = cs->rcap - cs->rhead < n ? cs->rcap - cs->rhead : n;
    if (p) {
        memcpy(p, cs->rbuf + cs->rhead, first);
        memcpy(p + first, cs->rbuf, n - first);
    }
    cs->rhead = (cs->rhead + n) % cs->rcap;
    cs->rlen -= n;
    if (!cs->rlen) cs->rhead = 0;
}

/* The application consumed cost (stream bytes, or credit_dgram_cost of a datagram): the
 * daemon charged exactly that, so exactly that goes back (proto/credit.h). */
static void consumed(struct csock *cs, uint32_t cost)
{
    uint32_t back = credit_consume(&cs->rcv, cost);
    if (back) credit_send(cs->id, back);
}

static void set_addr(struct sockaddr_in *sa, uint32_t addr, uint16_t port)
{
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_addr.s_addr = htonl(addr);
    sa->sin_port = htons(port);
}

static int aq_push(struct csock *l, int d)
{
    if (l->aq_len == l->aq_cap) {
        size_t ncap = l->aq_cap ? l->aq_cap * 2 : 16;
        int *na = malloc(ncap * sizeof *na);
        if (!na) return -1;
        for (size_t i = 0; i < l->aq_len; i++)
            na[i] = l->aq[(l->aq_head + i) % l->aq_cap];
        free(l->aq);
        l->aq = na;
        l->aq_cap = ncap;
        l->aq_head = 0;
    }
    l->aq[(l->aq_head + l->aq_len) % l->aq_cap] = d;
    l->aq_len++;
    return 0;
}

/* One frame from the daemon. Returns -1 on a protocol violation. */
static int dispatch(const struct proto_msg *m)
{
    if (!(proto_type_dir(m->h.type) & PROTO_DIR_D2C)) return -1;
    if (m->h.type == PT_REPLY || m->h.type == PT_INFO_REPLY) {
        if (m->h.req_id && m->h.req_id == C.wait_req) {
            C.reply = *m;
            C.reply_done = true;
        }
        return 0;
    }
    if (m->h.type == PT_CONN_LIST || m->h.type == PT_STATS_LIST) return 0; /* not asked */

    int d = hmap_get(m->h.sock_id);
    if (m->h.type == PT_EV_ACCEPTED) {
        struct csock *l = d >= 0 ? &C.socks[d] : NULL;
        if (!l || l->state != CS_LISTEN) {
            close_id(m->u.accepted.new_id, true); /* the listener is gone */
            return 0;
        }
        int nd = sock_new(m->u.accepted.new_id, PROTO_SOCK_STREAM);
        l = &C.socks[d]; /* sock_new may move the array */
        if (nd < 0 || aq_push(l, nd) < 0) {
            if (nd >= 0) sock_free(nd);
            close_id(m->u.accepted.new_id, true);
            return 0;
        }
        struct csock *cs = &C.socks[nd];
        cs->state = CS_CONNECTED;
        cs->scredit = m->u.accepted.send_credit;
        set_addr(&cs->local, m->u.accepted.laddr, m->u.accepted.lport);
        set_addr(&cs->peer, m->u.accepted.raddr, m->u.accepted.rport);
        return 0;
    }
    if (d < 0) return 0; /* a socket closed here already: late frames are dropped */
    struct csock *cs = &C.socks[d];
    switch (m->h.type) {
    case PT_DATA:
        if (cs->kind != PROTO_SOCK_STREAM) return -1;
        if (cs->shut_rd) {
            consumed(cs, (uint32_t)m->u.data.len);
            return 0;
        }
        return ring_put(cs, m->u.data.ptr, m->u.data.len);
    case PT_DGRAM: {
        if (cs->kind != PROTO_SOCK_DGRAM) return -1;
        uint8_t rec[12];
        proto_put32(rec, m->u.dgram.addr);
        proto_put32(rec + 4, m->u.dgram.port);
        proto_put32(rec + 8, (uint32_t)m->u.dgram.len);
        if (ring_put(cs, rec, sizeof rec) < 0 || ring_put(cs, m->u.dgram.ptr, m->u.dgram.len) < 0)
            return -1;
        cs->ndgrams++;
        return 0;
    }
    case PT_SEND_CREDIT:
        cs->scredit += m->u.credit.n;
        return 0;
    case PT_EV_CONNECTED:
        if (cs->state == CS_CONNECTING) cs->state = CS_CONNECTED;
        cs->scredit += m->u.connected.send_credit;
        set_addr(&cs->local, m->u.connected.laddr, m->u.connected.lport);
        return 0;
    case PT_EV_EOF:
        cs->eof = true;
        return 0;
    case PT_EV_ERROR:
        cs->err = proto_err_to_errno(m->u.error.err);
        if (cs->state == CS_CONNECTING) cs->state = CS_FAILED;
        return 0;
    default:
        return -1;
    }
}

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void in_dry(void)
{
    C.in_full = false;
    C.in_dry_ns = now_ns();
}

/* Reads everything available now and dispatches whole frames. 0, or -1 if broken. A short
 * read ends it: on a stream socket that means it was drained at that moment (data arriving
 * later makes the fd readable again for ppoll). */
static int read_nb(void)
{
    while (C.fd >= 0) {
        if (C.in_len == IN_CAP) return -1; /* cannot happen: frames are <= IN_CAP / 4 */
        size_t want = IN_CAP - C.in_len;
        ssize_t n = recv(C.fd, C.in + C.in_len, want, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                in_dry();
                return 0;
            }
            conn_broken();
            return -1;
        }
        if (n == 0) {
            conn_broken();
            return -1;
        }
        C.in_len += (size_t)n;
        size_t off = 0;
        for (;;) {
            struct proto_msg m;
            size_t fl;
            int rc = proto_decode(C.in + off, C.in_len - off, &m, &fl);
            if (rc == PROTO_ETRUNC) break;
            if (rc != PROTO_OK || dispatch(&m) < 0) {
                conn_broken();
                return -1;
            }
            off += fl;
        }
        if (off) {
            memmove(C.in, C.in + off, C.in_len - off);
            C.in_len -= off;
        }
        if ((size_t)n < want) {
            in_dry();
            return 0;
        }
        C.in_full = true;
    }
    return -1;
}

/* May a non-blocking read find something the last one did not? (See READ_GATE_NS.) */
static bool read_due(void)
{
    if (C.fd < 0) return false;
    return C.in_full || now_ns() - C.in_dry_ns >= READ_GATE_NS;
}

/* read_nb when read_due: 0, or -1 if broken. */
static int read_maybe(void)
{
    return read_due() ? read_nb() : 0;
}

/* Before a non-blocking call fails with EAGAIN: true when it read the socket (so the
 * caller looks again), false when no read could have found anything new. */
static bool refill(void)
{
    if (!read_due()) return false;
    (void)read_nb();
    return true;
}

/* Waits until the daemon sends something or output can move (timeout_ms: -1 forever).
 * 0 (something may have changed), 1 on timeout, -1 with errno. */
static int pump_mask(int timeout_ms, const sigset_t *sigmask)
{
    if (flush_nb() < 0) goto broken;
    struct pollfd p = {.fd = C.fd, .events = POLLIN};
    if (C.out_off < C.out_len) p.events |= POLLOUT;
    struct timespec ts = {.tv_sec = timeout_ms / 1000, .tv_nsec = (timeout_ms % 1000) * 1000000L};
    int r = ppoll(&p, 1, timeout_ms >= 0 ? &ts : NULL, sigmask);
    if (r < 0) return -1; /* EINTR */
    if (r == 0) return 1;
    if (p.revents & POLLOUT && flush_nb() < 0) goto broken;
    if (p.revents & (POLLIN | POLLHUP | POLLERR) && read_nb() < 0) goto broken;
    return 0;
broken:
    errno = ECONNABORTED;
    return -1;
}

static int pump(int timeout_ms)
{
    return pump_mask(timeout_ms, NULL);
}

static void conn_broken(void)
{
    if (C.fd >= 0) close(C.fd);
    C.fd = -1;
    C.in_len = 0;
    C.out_off = C.out_len = 0;
    for (int i = 0; i < C.nsocks; i++) {
        struct csock *cs = &C.socks[i];
        if (!cs->used) continue;
        if (!cs->err) cs->err = ECONNABORTED;
        if (cs->state == CS_CONNECTING) cs->state = CS_FAILED;
        cs->id = 0; /* orphaned: ids of a new session must not find it */
    }
    if (C.hcap) memset(C.hvals, 0, C.hcap * sizeof *C.hvals);
    C.hcount = 0;
}

/* ---- the daemon connection ---- */

const char *minitcp_socket_path(void)
{
    const char *p = getenv("MINITCP_SOCKET");
    return p && *p ? p : MINITCP_DEFAULT_SOCKET;
}

static void flush_at_exit(void);

static int ensure_conn(void)
{
    if (C.fd >= 0) return 0;
    /* sockets of a broken connection are dead; new ones get a new session */
    const char *path = minitcp_socket_path();
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(sa.sun_path, path);
    if (!C.in && !(C.in = malloc(IN_CAP))) {
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
    strcpy(C.path, path);
    static bool atexit_done;
    if (!atexit_done) atexit_done = atexit(flush_at_exit) == 0;
    C.fd = fd;
    C.in_len = 0;
    C.in_full = true; /* nothing known about the new connection yet */
    return 0;
}

/* At exit, output still queued (data of non-blocking sockets, credits, closes) gets a
 * bounded chance to reach the daemon. */
static void flush_at_exit(void)
{
    long long deadline = 0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    deadline = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 2000;
    while (C.fd >= 0 && C.out_off < C.out_len) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        long long left = deadline - ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
        if (left <= 0 || pump((int)left) != 0) break;
    }
}

/* Sends a request and waits for its reply. Returns the reply status as a positive errno
 * (0 = success) in *err, or -1 with errno on a connection failure. */
static int request(struct proto_msg *m, struct proto_msg *reply)
{
    if (ensure_conn() < 0) return -1;
    if (++C.next_req == 0) C.next_req = 1;
    m->h.req_id = C.next_req;
    if (out_msg(m) < 0) return -1;
    C.wait_req = C.next_req;
    C.reply_done = false;
    while (!C.reply_done) {
        int r = pump(-1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 || C.fd < 0) {
            C.wait_req = 0;
            errno = ECONNABORTED;
            return -1;
        }
    }
    C.wait_req = 0;
    *reply = C.reply;
    return 0;
}

/* Request whose answer is a plain REPLY: 0 or -1 with errno from the status. */
static int simple_request(struct proto_msg *m, struct proto_msg *reply)
{
    struct proto_msg r;
    if (!reply) reply = &r;
    if (request(m, reply) < 0) return -1;
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
static void finish(const struct csock *cs)
{
    if (cs && cs->nonblock && C.out_len - C.out_off < OUT_FLUSH_AT) return;
    int saved = errno;
    if (flush_nb() == 0 && (!cs || !cs->nonblock)) {
        while (C.fd >= 0 && C.out_off < C.out_len) {
            if (pump(-1) < 0 && errno != EINTR) break;
        }
    }
    errno = saved;
}

/* Waits once for progress on a blocking call. 0 to re-check, -1 with errno: EINTR when a
 * signal handler interrupted the wait (as recv(2) and friends do), ECONNABORTED when the
 * daemon connection is gone. */
static int wait_more(void)
{
    if (C.fd < 0) {
        errno = ECONNABORTED;
        return -1;
    }
    int r = pump(-1);
    if (r == 0 || (r < 0 && errno == EINTR)) return r;
    if (C.fd < 0 || r < 0) {
        errno = ECONNABORTED;
        return -1;
    }
    return 0;
}

/* ---- the API ---- */

int minitcp_socket(int type)
{
    if (type != MINITCP_SOCK_STREAM && type != MINITCP_SOCK_DGRAM) {
        errno = EINVAL;
        return -1;
    }
    struct proto_msg m = {.h = {.type = PT_SOCKET}}, r;
    m.u.socket.kind = (uint8_t)type;
    if (simple_request(&m, &r) < 0) return -1;
    int d = sock_new(r.h.sock_id, (uint8_t)type);
    if (d < 0) {
        close_id(r.h.sock_id, true);
        finish(NULL);
        errno = ENOMEM;
        return -1;
    }
    return d;
}

static int check_sin(const struct sockaddr_in *a)
{
    if (!a || a->sin_family != AF_INET) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}

int minitcp_bind(int s, const struct sockaddr_in *addr)
{
    struct csock *cs = get_sock(s);
    if (!cs || check_sin(addr) < 0) return -1;
    if (cs->state != CS_NEW) {
        errno = EINVAL;
        return -1;
    }
    struct proto_msg m = {.h = {.type = PT_BIND, .sock_id = cs->id}}, r;
    m.u.addr.addr = ntohl(addr->sin_addr.s_addr);
    m.u.addr.port = ntohs(addr->sin_port);
    if (simple_request(&m, &r) < 0) return -1;
    cs = &C.socks[s];
    cs->state = CS_BOUND;
    set_addr(&cs->local, r.u.reply.val1, (uint16_t)r.u.reply.val0);
    return 0;
}

int minitcp_listen(int s, int backlog)
{
    struct csock *cs = get_sock(s);
    if (!cs) return -1;
    if (cs->kind != PROTO_SOCK_STREAM) {
        errno = EOPNOTSUPP;
        return -1;
    }
    if (cs->state == CS_LISTEN) return 0;
    if (cs->state != CS_BOUND) {
        errno = EINVAL;
        return -1;
    }
    uint32_t b = backlog <= 0 ? 128u : (uint32_t)backlog;
    if (b > PROTO_MAX_BACKLOG) b = PROTO_MAX_BACKLOG;
    struct proto_msg m = {.h = {.type = PT_LISTEN, .sock_id = cs->id}};
    m.u.listen.backlog = b;
    if (simple_request(&m, NULL) < 0) return -1;
    cs = &C.socks[s];
    cs->state = CS_LISTEN;
    cs->backlog = b;
    return 0;
}

int minitcp_accept(int s, struct sockaddr_in *peer)
{
    struct csock *cs = get_sock(s);
    if (!cs) return -1;
    if (cs->state != CS_LISTEN) {
        errno = EINVAL;
        return -1;
    }
    while (C.socks[s].aq_len == 0) {
        if (C.fd < 0) {
            errno = ECONNABORTED;
            return -1;
        }
        if (C.socks[s].nonblock) {
            if (refill()) continue;
            finish(&C.socks[s]);
            errno = EAGAIN;
            return -1;
        }
        if (wait_more() < 0) return -1;
    }
    cs = &C.socks[s];
    int d = cs->aq[cs->aq_head];
    cs->aq_head = (cs->aq_head + 1) % cs->aq_cap;
    cs->aq_len--;
    cs->accepts_owed++;
    uint32_t half = cs->backlog / 2 ? cs->backlog / 2 : 1;
    if (cs->accepts_owed >= half || cs->aq_len == 0) {
        credit_send(cs->id, cs->accepts_owed);
        cs->accepts_owed = 0;
    }
    if (peer) *peer = C.socks[d].peer;
    finish(cs);
    return d;
}

int minitcp_connect(int s, const struct sockaddr_in *addr)
{
    struct csock *cs = get_sock(s);
    if (!cs || check_sin(addr) < 0) return -1;
    if (cs->kind == PROTO_SOCK_DGRAM) {
        cs->peer = *addr;
        cs->has_peer = true;
        return 0;
    }
    switch (cs->state) {
    case CS_LISTEN:
        errno = EINVAL;
        return -1;
    case CS_CONNECTING:
        errno = EALREADY;
        return -1;
    case CS_CONNECTED:
        errno = EISCONN;
        return -1;
    case CS_FAILED:
        errno = cs->err ? cs->err : ECONNABORTED;
        return -1;
    default:
        break;
    }
    struct proto_msg m = {.h = {.type = PT_CONNECT, .sock_id = cs->id}}, r;
    m.u.addr.addr = ntohl(addr->sin_addr.s_addr);
    m.u.addr.port = ntohs(addr->sin_port);
    /* connecting from now: the handshake's events may arrive in the same read as the reply */
    uint8_t old_state = cs->state;
    cs->state = CS_CONNECTING;
    if (simple_request(&m, &r) < 0) {
        if (C.socks[s].state == CS_CONNECTING) C.socks[s].state = old_state;
        return -1;
    }
    cs = &C.socks[s];
    cs->peer = *addr;
    set_addr(&cs->local, r.u.reply.val0, (uint16_t)r.u.reply.val1);
    while (C.socks[s].state == CS_CONNECTING) {
        if (C.socks[s].nonblock) {
            finish(&C.socks[s]);
            errno = EINPROGRESS;
            return -1;
        }
        if (wait_more() < 0) return -1;
    }
    cs = &C.socks[s];
    if (cs->state == CS_FAILED) {
        errno = cs->err ? cs->err : ECONNREFUSED;
        return -1;
    }
    return 0;
}

ssize_t minitcp_send(int s, const void *buf, size_t len)
{
    struct csock *cs = get_sock(s);
    if (!cs) return -1;
    if (cs->kind != PROTO_SOCK_STREAM) {
        errno = EOPNOTSUPP;
        return -1;
    }
    if (!buf && len) {
        errno = EINVAL;
        return -1;
    }
    size_t done = 0;
    const uint8_t *p = buf;
    while (done < len) {
        cs = &C.socks[s];
        if (cs->err) {
            if (done) break;
            errno = cs->err_reported ? EPIPE : cs->err;
            cs->err_reported = true;
            return -1;
        }
        if (cs->shut_wr) {
            if (done) break;
            errno = EPIPE;
            return -1;
        }
        if (cs->state != CS_CONNECTED && cs->state != CS_CONNECTING) {
            errno = ENOTCONN;
            return -1;
        }
        if (cs->scredit == 0 || cs->state == CS_CONNECTING) {
            if (cs->nonblock) {
                if (refill()) {
                    cs = &C.socks[s];
                    if (cs->scredit && cs->state == CS_CONNECTED && !cs->err) continue;
                }
                if (done) break;
                finish(cs);
                errno = EAGAIN;
                return -1;
            }
            if (wait_more() < 0) {
                if (done) break;
                return -1;
            }
            continue;
        }
        size_t n = len - done;
        if (n > cs->scredit) n = cs->scredit;
        if (n > PROTO_MAX_PAYLOAD) n = PROTO_MAX_PAYLOAD;
        struct proto_msg m = {.h = {.type = PT_DATA, .sock_id = cs->id}};
        m.u.data.ptr = p + done;
        m.u.data.len = n;
        if (out_msg(&m) < 0) {
            if (done) break;
            return -1;
        }
        cs->scredit -= (uint32_t)n;
        done += n;
        if (C.out_len - C.out_off >= OUT_FLUSH_AT) {
            (void)flush_nb();
            (void)read_nb(); /* take in credit (and keep the daemon's output moving) */
            while (C.fd >= 0 && C.out_len - C.out_off >= OUT_BLOCK_AT && pump(-1) == 0) {
            }
        }
    }
    finish(&C.socks[s]);
    return (ssize_t)done;
}

ssize_t minitcp_recv(int s, void *buf, size_t len)
{
    struct csock *cs = get_sock(s);
    if (!cs) return -1;
    if (cs->kind == PROTO_SOCK_DGRAM) return minitcp_recvfrom(s, buf, len, NULL);
    if (!buf && len) {
        errno = EINVAL;
        return -1;
    }
    if (cs->state == CS_LISTEN) {
        errno = EINVAL;
        return -1;
    }
    if (cs->state == CS_NEW || cs->state == CS_BOUND) {
        errno = ENOTCONN;
        return -1;
    }
    for (;;) {
        cs = &C.socks[s];
        if (cs->shut_rd) return 0;
        if (cs->rlen) break;
        if (cs->err) {
            /* as Linux: the error is reported once (by recv or send), then recv sees EOF */
            if (cs->err_reported) return 0;
            cs->err_reported = true;
            errno = cs->err;
            return -1;
        }
        if (cs->eof) return 0;
        if (cs->nonblock) {
            if (refill()) continue;
            finish(cs);
            errno = EAGAIN;
            return -1;
        }
        if (wait_more() < 0) return -1;
    }
    size_t n = len < cs->rlen ? len : cs->rlen;
    ring_get(cs, buf, n);
    consumed(cs, (uint32_t)n);
    finish(cs);
    return (ssize_t)n;
}

int minitcp_shutdown(int s, int how)
{
    struct csock *cs = get_sock(s);
    if (!cs) return -1;
    if (how != MINITCP_SHUT_RD && how != MINITCP_SHUT_WR && how != MINITCP_SHUT_RDWR) {
        errno = EINVAL;
        return -1;
    }
    if (cs->kind == PROTO_SOCK_STREAM && cs->state != CS_CONNECTED) {
        errno = ENOTCONN;
        return -1;
    }
    if (how != MINITCP_SHUT_WR && !cs->shut_rd) {
        cs->shut_rd = true;
        if (cs->kind == PROTO_SOCK_STREAM && cs->rlen) {
            size_t n = cs->rlen;
            ring_get(cs, NULL, n);
            consumed(cs, (uint32_t)n);
        }
    }
    if (how != MINITCP_SHUT_RD && !cs->shut_wr && cs->kind == PROTO_SOCK_STREAM) {
        struct proto_msg m = {.h = {.type = PT_SHUTDOWN, .sock_id = cs->id}};
        m.u.shutdown.how = PROTO_SHUT_WR;
        if (!cs->err && simple_request(&m, NULL) < 0) return -1;
        C.socks[s].shut_wr = true;
    }
    finish(&C.socks[s]);
    return 0;
}

int minitcp_close(int s)
{
    struct csock *cs = get_sock(s);
    if (!cs) return -1;
    /* data the daemon already pushed counts as unread (RST), as in the kernel */
    if (cs->kind == PROTO_SOCK_STREAM && !cs->rlen && !cs->shut_rd && C.fd >= 0) {
        (void)read_maybe();
        cs = &C.socks[s];
    }
    /* queued but never accepted connections are reset, like a kernel listener's */
    for (size_t i = 0; i < cs->aq_len; i++) {
        int d = cs->aq[(cs->aq_head + i) % cs->aq_cap];
        if (C.socks[d].id) close_id(C.socks[d].id, true);
        sock_free(d);
    }
    bool abort = cs->linger0 || (cs->kind == PROTO_SOCK_STREAM && cs->rlen && !cs->shut_rd);
    if (C.fd >= 0 && cs->id) close_id(cs->id, abort);
    sock_free(s);
    finish(NULL); /* the close (and data before it) reaches the daemon before we return */
    return 0;
}

ssize_t minitcp_sendto(int s, const void *buf, size_t len, const struct sockaddr_in *to)
{
    struct csock *cs = get_sock(s);
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
    if (check_sin(to) < 0) return -1;
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
    if (simple_request(&m, &r) < 0) return -1;
    cs = &C.socks[s];
    if (cs->state == CS_NEW) {
        cs->state = CS_BOUND;
        set_addr(&cs->local, r.u.reply.val1, (uint16_t)r.u.reply.val0);
    }
    return (ssize_t)len;
}

ssize_t minitcp_recvfrom(int s, void *buf, size_t len, struct sockaddr_in *from)
{
    struct csock *cs = get_sock(s);
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
        cs = &C.socks[s];
        if (cs->ndgrams) break;
        if (cs->shut_rd) return 0;
        if (cs->err) {
            errno = cs->err;
            return -1;
        }
        if (cs->nonblock) {
            if (refill()) continue;
            finish(cs);
            errno = EAGAIN;
            return -1;
        }
        if (wait_more() < 0) return -1;
    }
    uint8_t rec[12];
    ring_get(cs, rec, sizeof rec);
    uint32_t dlen = proto_get32(rec + 8);
    size_t n = len < dlen ? len : dlen;
    ring_get(cs, buf, n);
    if (n < dlen) ring_get(cs, NULL, dlen - n);
    cs->ndgrams--;
    if (from) set_addr(from, proto_get32(rec), (uint16_t)proto_get32(rec + 4));
    consumed(cs, credit_dgram_cost(dlen));
    finish(cs);
    return (ssize_t)n;
}

int minitcp_setnonblock(int s, int on)
{
    struct csock *cs = get_sock(s);
    if (!cs) return -1;
    cs->nonblock = on != 0;
    return 0;
}

int minitcp_setsockopt(int s, int opt, int value)
{
    struct csock *cs = get_sock(s);
    if (!cs) return -1;
    switch (opt) {
    case MINITCP_SO_RCVBUF: {
        if (value < 4096 || (unsigned)value > PROTO_MAX_RCV_WINDOW) {
            errno = EINVAL;
            return -1;
        }
        /* growing grants the difference at once; shrinking withholds future credit */
        uint32_t back = credit_resize(&cs->rcv, (uint32_t)value);
        if (back) credit_send(cs->id, back);
        finish(cs);
        return 0;
    }
    case MINITCP_SO_LINGER_ZERO: {
        struct proto_msg m = {.h = {.type = PT_SETOPT, .sock_id = cs->id}};
        m.u.setopt.opt = PROTO_OPT_LINGER_ZERO;
        m.u.setopt.value = value != 0;
        if (simple_request(&m, NULL) < 0) return -1;
        C.socks[s].linger0 = value != 0;
        return 0;
    }
    default:
        errno = ENOPROTOOPT;
        return -1;
    }
}

int minitcp_sock_error(int s)
{
    struct csock *cs = get_sock(s);
    if (!cs) return -1;
    return cs->err;
}

int minitcp_getsockname(int s, struct sockaddr_in *addr)
{
    struct csock *cs = get_sock(s);
    if (!cs) return -1;
    if (!addr) {
        errno = EINVAL;
        return -1;
    }
    *addr = cs->local;
    return 0;
}

int minitcp_getpeername(int s, struct sockaddr_in *addr)
{
    struct csock *cs = get_sock(s);
    if (!cs) return -1;
    if (!addr) {
        errno = EINVAL;
        return -1;
    }
    if ((cs->kind == PROTO_SOCK_STREAM && cs->state != CS_CONNECTED) ||
        (cs->kind == PROTO_SOCK_DGRAM && !cs->has_peer)) {
        errno = ENOTCONN;
        return -1;
    }
    *addr = cs->peer;
    return 0;
}

/* ---- readiness ---- */

int minitcp_events(int s)
{
    if (s < 0 || s >= C.nsocks || !C.socks[s].used) return MINITCP_POLLNVAL;
    const struct csock *cs = &C.socks[s];
    int ev = 0;
    if (cs->err) ev |= MINITCP_POLLERR | MINITCP_POLLIN | MINITCP_POLLOUT;
    if (cs->kind == PROTO_SOCK_DGRAM) {
        if (cs->ndgrams) ev |= MINITCP_POLLIN;
        ev |= MINITCP_POLLOUT;
        return ev;
    }
    switch (cs->state) {
    case CS_LISTEN:
        if (cs->aq_len) ev |= MINITCP_POLLIN;
        break;
    case CS_CONNECTED:
        if (cs->rlen || cs->eof || cs->shut_rd) ev |= MINITCP_POLLIN;
        /* as poll(2) on TCP: hang-up only when both directions are done (or on error) */
        if (cs->eof && cs->shut_wr) ev |= MINITCP_POLLHUP;
        if (cs->scredit || cs->shut_wr) ev |= MINITCP_POLLOUT;
        break;
    case CS_FAILED:
        ev |= MINITCP_POLLOUT | MINITCP_POLLHUP;
        break;
    case CS_NEW:
    case CS_BOUND:
        ev |= MINITCP_POLLOUT | MINITCP_POLLHUP;
        break;
    default:
        break;
    }
    if (cs->err) ev |= MINITCP_POLLHUP;
    return ev;
}

int minitcp_fd(void)
{
    if (ensure_conn() < 0) return -1;
    return C.fd;
}

int minitcp_fd_events(void)
{
    return POLLIN | (C.out_off < C.out_len ? POLLOUT : 0);
}

int minitcp_process(void)
{
    if (C.fd < 0) {
        errno = ECONNABORTED;
        return -1;
    }
    if (flush_nb() < 0 || read_nb() < 0 || flush_nb() < 0) {
        errno = ECONNABORTED;
        return -1;
    }
    return 0;
}

static int poll_scan(struct minitcp_pollfd *fds, size_t n)
{
    int ready = 0;
    for (size_t i = 0; i < n; i++) {
        fds[i].revents = 0;
        if (fds[i].s < 0) continue;
        int ev = minitcp_events(fds[i].s);
        fds[i].revents =
            (short)(ev & (fds[i].events | MINITCP_POLLERR | MINITCP_POLLHUP | MINITCP_POLLNVAL));
        if (fds[i].revents) ready++;
    }
    return ready;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int minitcp_poll(struct minitcp_pollfd *fds, size_t n, int timeout_ms)
{
    return minitcp_ppoll(fds, n, timeout_ms, NULL);
}

int minitcp_ppoll(struct minitcp_pollfd *fds, size_t n, int timeout_ms, const sigset_t *sigmask)
{
    if (!fds && n) {
        errno = EINVAL;
        return -1;
    }
    if (C.fd >= 0 && (flush_nb() < 0 || read_maybe() < 0)) {
        /* broken: every socket now reports its error */
        return poll_scan(fds, n);
    }
    long long deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : -1;
    for (;;) {
        int ready = poll_scan(fds, n);
        if (ready || timeout_ms == 0) return ready;
        if (C.fd < 0) {
            /* nothing can change any more */
            errno = ECONNABORTED;
            return -1;
        }
        int left = -1;
        if (deadline >= 0) {
            long long l = deadline - now_ms();
            if (l <= 0) return 0;
            left = l > 1000000000 ? 1000000000 : (int)l;
        }
        int r = pump_mask(left, sigmask);
        if (r < 0 && errno == EINTR) return -1;
        if (r == 1) return poll_scan(fds, n);
    }
}

int minitcp_daemon_info(struct minitcp_daemon_info *out)
{
    if (!out) {
        errno = EINVAL;
        return -1;
    }
    struct proto_msg m = {.h = {.type = PT_INFO}}, r;
    if (request(&m, &r) < 0) return -1;
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
