/* POSIX semantics of the client API, with exact expectations, against twin_daemon.
 *
 *   loopback_posix DIR        the API cases: this process uses daemon A (DIR/a.sock); a
 *                             forked peer uses daemon B (DIR/b.sock) and plays the other
 *                             end of each case, step by step on command from a pipe.
 *   loopback_posix orphan     blocks in minitcp_accept on $MINITCP_SOCKET after printing
 *                             "blocking"; run.sh kills the daemon; every call must then
 *                             fail (ECONNABORTED, then the daemon connection errors).
 *
 * SIGPIPE keeps its default action: a library that raised it would kill the test. */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "minitcp.h"

#define PEER_PORT 6000   /* the peer's listener on B */
#define CLOSED_PORT 6001 /* nobody listens here on B */
#define BACKLOG_PORT 7000
#define BACKLOG 2
#define BACKLOG_TRIES 6

static int fails;
static int cmd_w, res_r; /* parent side of the pipes */
static int cmd_r, res_w; /* peer side */

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            printf("ok   ");                                                                       \
        } else {                                                                                   \
            printf("FAIL ");                                                                       \
            fails++;                                                                               \
        }                                                                                          \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
    } while (0)

/* r == -1 and errno == e, evaluated once */
#define CHECK_ERR(expr, e, what)                                                                   \
    do {                                                                                           \
        errno = 0;                                                                                 \
        long r_ = (long)(expr);                                                                    \
        int e_ = errno;                                                                            \
        CHECK(r_ == -1 && e_ == (e), "%s: %ld (%s), want -1 (%s)", what, r_, strerror(e_),         \
              strerror(e));                                                                        \
    } while (0)

static long long ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct sockaddr_in sin_of(const char *ip, int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

static void die(const char *what)
{
    perror(what);
    exit(3);
}

/* ---- pipes between the test and its peer ---- */

__attribute__((format(printf, 2, 3))) static void put_line(int fd, const char *fmt, ...)
{
    char b[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b, sizeof b - 1, fmt, ap);
    va_end(ap);
    b[n++] = '\n';
    if (write(fd, b, (size_t)n) != n) die("pipe write");
}

static void get_line(int fd, char *b, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t r = read(fd, b + n, 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) die("pipe read (peer gone)");
        if (b[n] == '\n') break;
        n++;
    }
    b[n] = 0;
}

/* The peer says what it saw, the test compares. */
static void peer_expect(const char *want, const char *what)
{
    char b[256];
    get_line(res_r, b, sizeof b);
    CHECK(!strcmp(b, want), "%s: peer reports '%s', want '%s'", what, b, want);
}

static void cmd(const char *c)
{
    put_line(cmd_w, "%s", c);
}

/* ---- the peer, on daemon B ---- */

static int peer_accept(int l)
{
    int s = minitcp_accept(l, NULL);
    if (s < 0) die("peer accept");
    return s;
}

static void peer_main(void)
{
    int l = minitcp_socket(MINITCP_SOCK_STREAM);
    struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = htons(PEER_PORT)};
    if (l < 0 || minitcp_bind(l, &any) < 0 || minitcp_listen(l, 16) < 0) die("peer listen");
    put_line(res_w, "ready");
    char c[64];
    char buf[4096];
    for (;;) {
        get_line(cmd_r, c, sizeof c);
        if (!strcmp(c, "quit")) break;
        if (!strcmp(c, "fin")) { /* send "hello", then close: FIN */
            int s = peer_accept(l);
            ssize_t w = minitcp_send(s, "hello", 5);
            minitcp_close(s);
            put_line(res_w, "sent=%zd", w);
        } else if (!strcmp(c, "rst")) { /* close with SO_LINGER 0: RST */
            int s = peer_accept(l);
            int r = minitcp_setsockopt(s, MINITCP_SO_LINGER_ZERO, 1);
            minitcp_close(s);
            put_line(res_w, "linger=%d", r);
        } else if (!strcmp(c, "unread")) { /* 100 bytes the test leaves unread */
            int s = peer_accept(l);
            memset(buf, 'u', 100);
            ssize_t w = minitcp_send(s, buf, 100);
            put_line(res_w, "sent=%zd", w);
            ssize_t r = minitcp_recv(s, buf, sizeof buf);
            int e = errno;
            put_line(res_w, "recv=%zd %s", r, r < 0 ? strerror(e) : "");
            minitcp_close(s);
        } else if (!strcmp(c, "halfclose")) { /* read to EOF, then answer */
            int s = peer_accept(l);
            size_t got = 0;
            ssize_t r;
            while ((r = minitcp_recv(s, buf + got, sizeof buf - got)) > 0)
                got += (size_t)r;
            ssize_t w = minitcp_send(s, "pong", 4);
            minitcp_close(s);
            put_line(res_w, "got=%zu '%.*s' eof=%d sent=%zd", got, (int)got, buf, r == 0, w);
        } else if (!strcmp(c, "silent")) { /* accept, wait for "go", close */
            int s = peer_accept(l);
            put_line(res_w, "accepted");
            get_line(cmd_r, c, sizeof c);
            minitcp_close(s);
            put_line(res_w, "closed");
        } else if (!strcmp(c, "accept-close")) {
            int s = peer_accept(l);
            minitcp_close(s);
            put_line(res_w, "closed");
        } else if (!strcmp(c, "backlog")) {
            /* BACKLOG_TRIES connects to the test's listener, which never accepts: how
             * many complete? Wait for the expected count, then a while for any extra. */
            int s[BACKLOG_TRIES];
            struct sockaddr_in a = sin_of("10.0.0.2", BACKLOG_PORT);
            for (int i = 0; i < BACKLOG_TRIES; i++) {
                s[i] = minitcp_socket(MINITCP_SOCK_STREAM);
                minitcp_setnonblock(s[i], 1);
                /* 0 when the handshake was already over by the time the reply came */
                if (minitcp_connect(s[i], &a) < 0 && errno != EINPROGRESS) die("connect");
            }
            int done = 0;
            long long until = ms_now() + 5000;
            bool extra_window = false;
            for (;;) {
                struct minitcp_pollfd pf[BACKLOG_TRIES];
                for (int i = 0; i < BACKLOG_TRIES; i++)
                    pf[i] = (struct minitcp_pollfd){.s = s[i], .events = MINITCP_POLLOUT};
                long long left = until - ms_now();
                if (left <= 0) break;
                minitcp_poll(pf, BACKLOG_TRIES, (int)left);
                done = 0;
                for (int i = 0; i < BACKLOG_TRIES; i++)
                    if (pf[i].revents == MINITCP_POLLOUT) done++;
                if (done >= BACKLOG + 1 && !extra_window) {
                    /* the rest must not complete: watch 700 ms more */
                    extra_window = true;
                    until = ms_now() + 700;
                }
            }
            put_line(res_w, "connected=%d", done);
            get_line(cmd_r, c, sizeof c); /* the test has looked */
            for (int i = 0; i < BACKLOG_TRIES; i++)
                minitcp_close(s[i]);
            put_line(res_w, "closed");
        }
    }
    minitcp_close(l);
}

/* ---- the test, on daemon A ---- */

static int connect_peer(void)
{
    int s = minitcp_socket(MINITCP_SOCK_STREAM);
    struct sockaddr_in a = sin_of("10.0.1.2", PEER_PORT);
    if (s < 0 || minitcp_connect(s, &a) < 0) die("connect to peer");
    return s;
}

static void on_alarm(int sig)
{
    (void)sig;
}

static void test_main(void)
{
    char buf[4096];
    char line[256];
    get_line(res_r, line, sizeof line); /* peer ready */

    /* recv after the peer's FIN: the data, then 0 on every call, blocking or not */
    {
        cmd("fin");
        int s = connect_peer();
        peer_expect("sent=5", "fin: peer sent");
        size_t got = 0;
        ssize_t r;
        while (got < 5 && (r = minitcp_recv(s, buf + got, sizeof buf - got)) > 0)
            got += (size_t)r;
        CHECK(got == 5 && !memcmp(buf, "hello", 5), "fin: received 'hello' (%zu bytes)", got);
        int zeros = 0;
        for (int i = 0; i < 5; i++)
            zeros += minitcp_recv(s, buf, sizeof buf) == 0;
        minitcp_setnonblock(s, 1);
        for (int i = 0; i < 5; i++)
            zeros += minitcp_recv(s, buf, sizeof buf) == 0;
        CHECK(zeros == 10, "fin: recv returns 0 forever after EOF (%d/10)", zeros);
        CHECK(minitcp_events(s) == (MINITCP_POLLIN | MINITCP_POLLOUT),
              "fin: events POLLIN|POLLOUT (half-closed by the peer), got %#x", minitcp_events(s));
        minitcp_close(s);
    }

    /* TCP options: TCP_NODELAY and the congestion control, set before connect (kept by
     * the daemon until the connection exists) and after; bad values refused */
    {
        int s = minitcp_socket(MINITCP_SOCK_STREAM);
        CHECK(minitcp_setsockopt(s, MINITCP_TCP_NODELAY, 1) == 0, "setsockopt TCP_NODELAY");
        CHECK(minitcp_setsockopt(s, MINITCP_TCP_CONGESTION, MINITCP_CC_NEWRENO) == 0,
              "setsockopt TCP_CONGESTION newreno before connect");
        CHECK_ERR(minitcp_setsockopt(s, MINITCP_TCP_CONGESTION, 7), EINVAL,
                  "TCP_CONGESTION 7 (unknown)");
        CHECK_ERR(minitcp_setsockopt(s, MINITCP_TCP_CONGESTION, -1), EINVAL,
                  "TCP_CONGESTION -1 (unknown)");
        cmd("fin");
        struct sockaddr_in a = sin_of("10.0.1.2", PEER_PORT);
        CHECK(minitcp_connect(s, &a) == 0, "connect with options set");
        peer_expect("sent=5", "options: peer sent");
        CHECK(minitcp_setsockopt(s, MINITCP_TCP_CONGESTION, MINITCP_CC_CUBIC) == 0,
              "setsockopt TCP_CONGESTION cubic when connected");
        CHECK(minitcp_setsockopt(s, MINITCP_TCP_NODELAY, 0) == 0, "TCP_NODELAY off again");
        size_t got = 0;
        ssize_t r;
        while (got < 5 && (r = minitcp_recv(s, buf + got, sizeof buf - got)) > 0)
            got += (size_t)r;
        CHECK(got == 5, "options: data received (%zu bytes)", got);
        minitcp_close(s);
        int u = minitcp_socket(MINITCP_SOCK_DGRAM);
        CHECK_ERR(minitcp_setsockopt(u, MINITCP_TCP_NODELAY, 1), ENOPROTOOPT,
                  "TCP_NODELAY on a datagram socket");
        minitcp_close(u);
    }

    /* Keepalive and the user timeout: bad values refused (Linux's ranges), set before
     * connect (kept by the daemon until the connection exists) and after. With probes
     * every second and one unanswered probe enough to end it, an idle connection stays up
     * for 3.5 s: the peer's stack answers each probe (run.sh then checks the count). */
    {
        int s = minitcp_socket(MINITCP_SOCK_STREAM);
        static const struct {
            int opt, value;
            const char *what;
        } bad[] = {
            {MINITCP_TCP_KEEPIDLE, 0, "TCP_KEEPIDLE 0"},
            {MINITCP_TCP_KEEPIDLE, 32768, "TCP_KEEPIDLE 32768"},
            {MINITCP_TCP_KEEPINTVL, 0, "TCP_KEEPINTVL 0"},
            {MINITCP_TCP_KEEPINTVL, -1, "TCP_KEEPINTVL -1"},
            {MINITCP_TCP_KEEPCNT, 0, "TCP_KEEPCNT 0"},
            {MINITCP_TCP_KEEPCNT, 128, "TCP_KEEPCNT 128"},
            {MINITCP_TCP_USER_TIMEOUT, -1, "TCP_USER_TIMEOUT -1"},
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
            CHECK_ERR(minitcp_setsockopt(s, bad[i].opt, bad[i].value), EINVAL, bad[i].what);
        int ka = -1, idle = -1, intvl = -1, cnt = -1, ut = -1;
        CHECK(minitcp_getsockopt(s, MINITCP_SO_KEEPALIVE, &ka) == 0 &&
                  minitcp_getsockopt(s, MINITCP_TCP_KEEPIDLE, &idle) == 0 &&
                  minitcp_getsockopt(s, MINITCP_TCP_KEEPINTVL, &intvl) == 0 &&
                  minitcp_getsockopt(s, MINITCP_TCP_KEEPCNT, &cnt) == 0 &&
                  minitcp_getsockopt(s, MINITCP_TCP_USER_TIMEOUT, &ut) == 0 && ka == 0 &&
                  idle == 7200 && intvl == 75 && cnt == 9 && ut == 0,
              "getsockopt defaults: keepalive %d idle %d intvl %d cnt %d user timeout %d", ka, idle,
              intvl, cnt, ut);
        CHECK(minitcp_setsockopt(s, MINITCP_TCP_KEEPIDLE, 1) == 0, "TCP_KEEPIDLE 1 before connect");
        CHECK(minitcp_setsockopt(s, MINITCP_TCP_KEEPINTVL, 1) == 0, "TCP_KEEPINTVL 1");
        CHECK(minitcp_setsockopt(s, MINITCP_TCP_KEEPCNT, 1) == 0, "TCP_KEEPCNT 1");
        CHECK(minitcp_setsockopt(s, MINITCP_SO_KEEPALIVE, 1) == 0, "SO_KEEPALIVE on");
        CHECK(minitcp_setsockopt(s, MINITCP_TCP_USER_TIMEOUT, 30000) == 0, "TCP_USER_TIMEOUT 30 s");
        CHECK(minitcp_setsockopt(s, MINITCP_TCP_KEEPIDLE, 32767) == 0 &&
                  minitcp_setsockopt(s, MINITCP_TCP_KEEPCNT, 127) == 0 &&
                  minitcp_setsockopt(s, MINITCP_TCP_KEEPIDLE, 1) == 0 &&
                  minitcp_setsockopt(s, MINITCP_TCP_KEEPCNT, 1) == 0,
              "the edges of the ranges are accepted");
        CHECK(minitcp_getsockopt(s, MINITCP_TCP_KEEPIDLE, &idle) == 0 && idle == 1 &&
                  minitcp_getsockopt(s, MINITCP_TCP_USER_TIMEOUT, &ut) == 0 && ut == 30000,
              "getsockopt before connect: what was set (idle %d, user timeout %d)", idle, ut);
        cmd("silent");
        struct sockaddr_in a = sin_of("10.0.1.2", PEER_PORT);
        CHECK(minitcp_connect(s, &a) == 0, "keepalive: connect with the options set");
        CHECK(minitcp_getsockopt(s, MINITCP_SO_KEEPALIVE, &ka) == 0 &&
                  minitcp_getsockopt(s, MINITCP_TCP_KEEPIDLE, &idle) == 0 &&
                  minitcp_getsockopt(s, MINITCP_TCP_KEEPINTVL, &intvl) == 0 &&
                  minitcp_getsockopt(s, MINITCP_TCP_KEEPCNT, &cnt) == 0 &&
                  minitcp_getsockopt(s, MINITCP_TCP_USER_TIMEOUT, &ut) == 0 && ka == 1 &&
                  idle == 1 && intvl == 1 && cnt == 1 && ut == 30000,
              "getsockopt of the connection: keepalive %d idle %d intvl %d cnt %d ut %d", ka, idle,
              intvl, cnt, ut);
        peer_expect("accepted", "keepalive: peer accepted");
        struct minitcp_pollfd p = {.s = s, .events = MINITCP_POLLIN};
        int pr = minitcp_poll(&p, 1, 3500);
        CHECK(pr == 0 && minitcp_sock_error(s) == 0,
              "keepalive: idle 3.5 s with 1 s probes, still up (poll %d, revents %#x, error %d)",
              pr, p.revents, minitcp_sock_error(s));
        CHECK(minitcp_setsockopt(s, MINITCP_TCP_KEEPIDLE, 7200) == 0 &&
                  minitcp_setsockopt(s, MINITCP_SO_KEEPALIVE, 0) == 0 &&
                  minitcp_setsockopt(s, MINITCP_TCP_USER_TIMEOUT, 0) == 0,
              "keepalive options changed when connected");
        CHECK_ERR(minitcp_setsockopt(s, MINITCP_TCP_KEEPCNT, 200), EINVAL,
                  "TCP_KEEPCNT 200 when connected");
        CHECK(minitcp_getsockopt(s, MINITCP_SO_KEEPALIVE, &ka) == 0 && ka == 0 &&
                  minitcp_getsockopt(s, MINITCP_TCP_KEEPIDLE, &idle) == 0 && idle == 7200 &&
                  minitcp_getsockopt(s, MINITCP_TCP_KEEPCNT, &cnt) == 0 && cnt == 1,
              "getsockopt after the changes: keepalive %d idle %d cnt %d", ka, idle, cnt);
        int nd = -1, cc = -1;
        CHECK(minitcp_getsockopt(s, MINITCP_TCP_NODELAY, &nd) == 0 && nd == 0 &&
                  minitcp_getsockopt(s, MINITCP_TCP_CONGESTION, &cc) == 0 && cc == MINITCP_CC_CUBIC,
              "getsockopt TCP_NODELAY %d, TCP_CONGESTION %d (cubic, the default)", nd, cc);
        CHECK_ERR(minitcp_getsockopt(s, 999, &nd), ENOPROTOOPT, "getsockopt of option 999");
        cmd("go");
        peer_expect("closed", "keepalive: peer closed");
        CHECK(minitcp_recv(s, buf, sizeof buf) == 0, "keepalive: EOF after the idle time");
        minitcp_close(s);
        int u = minitcp_socket(MINITCP_SOCK_DGRAM);
        CHECK_ERR(minitcp_setsockopt(u, MINITCP_SO_KEEPALIVE, 1), ENOPROTOOPT,
                  "SO_KEEPALIVE on a datagram socket");
        CHECK_ERR(minitcp_setsockopt(u, MINITCP_TCP_USER_TIMEOUT, 1000), ENOPROTOOPT,
                  "TCP_USER_TIMEOUT on a datagram socket");
        CHECK_ERR(minitcp_getsockopt(u, MINITCP_SO_KEEPALIVE, &ka), ENOPROTOOPT,
                  "getsockopt SO_KEEPALIVE on a datagram socket");
        minitcp_close(u);
    }

    /* recv after the peer's RST: ECONNRESET once, then EOF; a send then fails with EPIPE */
    {
        cmd("rst");
        int s = connect_peer();
        peer_expect("linger=0", "rst2: peer set SO_LINGER 0");
        struct minitcp_pollfd p = {.s = s, .events = MINITCP_POLLIN};
        int pr = minitcp_poll(&p, 1, 5000);
        CHECK(pr == 1 && (p.revents & MINITCP_POLLERR), "rst2: poll reports POLLERR (%d, %#x)", pr,
              p.revents);
        CHECK_ERR(minitcp_recv(s, buf, sizeof buf), ECONNRESET, "rst2: first recv");
        CHECK(minitcp_recv(s, buf, sizeof buf) == 0, "rst2: second recv returns 0");
        CHECK_ERR(minitcp_send(s, "x", 1), EPIPE, "rst2: send after the reported error");
        CHECK(minitcp_close(s) == 0, "rst2: close");
    }

    /* send after the peer's RST: ECONNRESET (or EPIPE), then EPIPE; never SIGPIPE */
    {
        cmd("rst");
        int s = connect_peer();
        peer_expect("linger=0", "rst: peer set SO_LINGER 0");
        struct minitcp_pollfd p = {.s = s, .events = MINITCP_POLLIN};
        int pr = minitcp_poll(&p, 1, 5000);
        CHECK(pr == 1 && (p.revents & MINITCP_POLLERR) && (p.revents & MINITCP_POLLHUP),
              "rst: poll reports POLLERR|POLLHUP (%d, %#x)", pr, p.revents);
        CHECK(minitcp_sock_error(s) == ECONNRESET, "rst: sock_error ECONNRESET (%d)",
              minitcp_sock_error(s));
        errno = 0;
        ssize_t w = minitcp_send(s, "x", 1);
        CHECK(w == -1 && (errno == ECONNRESET || errno == EPIPE),
              "rst: first send after RST fails with ECONNRESET/EPIPE (%zd %s)", w, strerror(errno));
        CHECK_ERR(minitcp_send(s, "x", 1), EPIPE, "rst: next send");
        CHECK_ERR(minitcp_send(s, "x", 1), EPIPE, "rst: and the next");
        /* as Linux: the error was reported once (by the send above); recv sees EOF */
        CHECK(minitcp_recv(s, buf, sizeof buf) == 0, "rst: recv after the error was reported");
        CHECK(minitcp_recv(s, buf, sizeof buf) == 0, "rst: and again");
        CHECK(minitcp_close(s) == 0, "rst: close");
    }

    /* close with unread data: the peer sees a reset */
    {
        cmd("unread");
        int s = connect_peer();
        peer_expect("sent=100", "unread: peer sent 100 bytes");
        ssize_t r = minitcp_recv(s, buf, 1);
        CHECK(r == 1, "unread: read 1 of 100 bytes (%zd)", r);
        minitcp_close(s);
        peer_expect("recv=-1 Connection reset by peer", "unread: close with unread data");
    }

    /* shutdown(SHUT_WR): the FIN goes out, receiving goes on */
    {
        cmd("halfclose");
        int s = connect_peer();
        CHECK(minitcp_send(s, "ping", 4) == 4, "halfclose: send");
        CHECK(minitcp_shutdown(s, MINITCP_SHUT_WR) == 0, "halfclose: shutdown(SHUT_WR)");
        CHECK_ERR(minitcp_send(s, "x", 1), EPIPE, "halfclose: send after SHUT_WR");
        peer_expect("got=4 'ping' eof=1 sent=4", "halfclose: peer got data and FIN, answered");
        size_t got = 0;
        ssize_t r;
        while ((r = minitcp_recv(s, buf + got, sizeof buf - got)) > 0)
            got += (size_t)r;
        CHECK(r == 0 && got == 4 && !memcmp(buf, "pong", 4),
              "halfclose: recv after SHUT_WR gets 'pong' then 0 (%zu, %zd)", got, r);
        CHECK(minitcp_events(s) & MINITCP_POLLHUP, "halfclose: POLLHUP once both sides closed");
        minitcp_close(s);
    }

    /* connect to a closed port: ECONNREFUSED, blocking and non-blocking */
    {
        struct sockaddr_in a = sin_of("10.0.1.2", CLOSED_PORT);
        int s = minitcp_socket(MINITCP_SOCK_STREAM);
        CHECK_ERR(minitcp_connect(s, &a), ECONNREFUSED, "connect to a closed port");
        minitcp_close(s);
        s = minitcp_socket(MINITCP_SOCK_STREAM);
        minitcp_setnonblock(s, 1);
        /* the RST may be in before the reply is read: then connect fails at once, which
         * POSIX allows; otherwise EINPROGRESS and a second connect says EALREADY */
        errno = 0;
        int cr = minitcp_connect(s, &a);
        int ce = errno;
        CHECK(cr == -1 && (ce == EINPROGRESS || ce == ECONNREFUSED),
              "non-blocking connect (refused): EINPROGRESS or ECONNREFUSED (%d %s)", cr,
              strerror(ce));
        if (ce == EINPROGRESS) {
            errno = 0;
            int r2 = minitcp_connect(s, &a);
            int e2 = errno;
            CHECK(r2 == -1 && (e2 == EALREADY || e2 == ECONNREFUSED),
                  "second connect: EALREADY while in progress, else the result (%s)", strerror(e2));
        }
        struct minitcp_pollfd p = {.s = s, .events = MINITCP_POLLOUT};
        int pr = minitcp_poll(&p, 1, 5000);
        CHECK(pr == 1 && p.revents == (MINITCP_POLLOUT | MINITCP_POLLERR | MINITCP_POLLHUP),
              "refused: poll POLLOUT|POLLERR|POLLHUP (%d, %#x)", pr, p.revents);
        CHECK(minitcp_sock_error(s) == ECONNREFUSED, "refused: sock_error ECONNREFUSED (%d)",
              minitcp_sock_error(s));
        minitcp_close(s);
    }

    /* non-blocking connect that succeeds: EINPROGRESS, then POLLOUT alone */
    {
        cmd("accept-close");
        struct sockaddr_in a = sin_of("10.0.1.2", PEER_PORT);
        int s = minitcp_socket(MINITCP_SOCK_STREAM);
        minitcp_setnonblock(s, 1);
        errno = 0;
        int cr = minitcp_connect(s, &a);
        int ce = errno;
        CHECK(cr == 0 || (cr == -1 && ce == EINPROGRESS),
              "non-blocking connect: 0 or EINPROGRESS (%d %s)", cr, strerror(ce));
        if (cr < 0) { /* still connecting: EAGAIN; connected meanwhile: the byte goes */
            errno = 0;
            ssize_t w = minitcp_send(s, "x", 1);
            CHECK(w == 1 || (w == -1 && errno == EAGAIN),
                  "send while connecting (non-blocking): 1 or EAGAIN (%zd %s)", w, strerror(errno));
        }
        struct minitcp_pollfd p = {.s = s, .events = MINITCP_POLLOUT};
        int pr = minitcp_poll(&p, 1, 5000);
        CHECK(pr == 1 && p.revents == MINITCP_POLLOUT, "connected: poll POLLOUT (%d, %#x)", pr,
              p.revents);
        CHECK(minitcp_sock_error(s) == 0, "connected: no error");
        struct sockaddr_in pa;
        CHECK(minitcp_getpeername(s, &pa) == 0 && pa.sin_port == htons(PEER_PORT),
              "connected: getpeername");
        CHECK_ERR(minitcp_connect(s, &a), EISCONN, "connect when connected");
        peer_expect("closed", "accept-close: peer closed");
        minitcp_close(s);
    }

    /* a blocking call interrupted by a signal handler fails with EINTR */
    {
        cmd("silent");
        int s = connect_peer();
        peer_expect("accepted", "silent: peer accepted");
        struct sigaction sa = {.sa_handler = on_alarm, .sa_flags = SA_RESTART};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGALRM, &sa, NULL);
        struct itimerval it = {.it_value = {.tv_usec = 100000}};
        setitimer(ITIMER_REAL, &it, NULL);
        CHECK_ERR(minitcp_recv(s, buf, sizeof buf), EINTR, "blocking recv interrupted");
        cmd("go");
        peer_expect("closed", "silent: peer closed");
        CHECK(minitcp_recv(s, buf, sizeof buf) == 0, "after EINTR, recv still sees the EOF");
        minitcp_close(s);
    }

    /* local errors */
    {
        int s = minitcp_socket(MINITCP_SOCK_STREAM);
        CHECK_ERR(minitcp_accept(s, NULL), EINVAL, "accept on a socket that is not listening");
        CHECK_ERR(minitcp_send(s, "x", 1), ENOTCONN, "send on an unconnected socket");
        CHECK_ERR(minitcp_recv(s, buf, 1), ENOTCONN, "recv on an unconnected socket");
        CHECK_ERR(minitcp_shutdown(s, MINITCP_SHUT_WR), ENOTCONN, "shutdown unconnected");
        CHECK(minitcp_close(s) == 0, "close");
        CHECK_ERR(minitcp_close(s), EBADF, "double close");
        CHECK_ERR(minitcp_recv(s, buf, 1), EBADF, "recv on a closed descriptor");

        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(7100)};
        int b1 = minitcp_socket(MINITCP_SOCK_STREAM);
        int b2 = minitcp_socket(MINITCP_SOCK_STREAM);
        CHECK(minitcp_bind(b1, &a) == 0, "bind 7100");
        CHECK_ERR(minitcp_bind(b2, &a), EADDRINUSE, "bind 7100 again (another socket)");
        CHECK(minitcp_listen(b1, 4) == 0, "listen on 7100");
        CHECK_ERR(minitcp_bind(b2, &a), EADDRINUSE, "bind 7100 while it listens");
        minitcp_close(b1);
        CHECK(minitcp_bind(b2, &a) == 0, "bind 7100 after the listener closed");
        minitcp_close(b2);

        /* minitcp_poll timeouts */
        int l = minitcp_socket(MINITCP_SOCK_STREAM);
        a.sin_port = htons(7101);
        minitcp_bind(l, &a);
        minitcp_listen(l, 4);
        struct minitcp_pollfd p = {.s = l, .events = MINITCP_POLLIN};
        long long t0 = ms_now();
        int pr = minitcp_poll(&p, 1, 0);
        long long dt = ms_now() - t0;
        CHECK(pr == 0 && p.revents == 0 && dt < 100, "poll timeout 0: %d after %lld ms", pr, dt);
        t0 = ms_now();
        pr = minitcp_poll(&p, 1, 300);
        dt = ms_now() - t0;
        CHECK(pr == 0 && dt >= 300 && dt < 1000, "poll timeout 300: %d after %lld ms", pr, dt);
        p.s = 12345;
        pr = minitcp_poll(&p, 1, 300);
        CHECK(pr == 1 && p.revents == MINITCP_POLLNVAL, "poll on a bad descriptor: POLLNVAL");
        minitcp_close(l);
    }

    /* listen backlog: BACKLOG + 1 connections complete without accept, no more */
    {
        int l = minitcp_socket(MINITCP_SOCK_STREAM);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(BACKLOG_PORT)};
        if (minitcp_bind(l, &a) < 0 || minitcp_listen(l, BACKLOG) < 0) die("backlog listen");
        cmd("backlog");
        char want[32];
        snprintf(want, sizeof want, "connected=%d", BACKLOG + 1);
        peer_expect(want, "listen(2): connections completed while nobody accepts");
        cmd("done");
        peer_expect("closed", "backlog: peer closed");
        minitcp_close(l);
    }
    cmd("quit");
}

static int orphan_main(void)
{
    int l = minitcp_socket(MINITCP_SOCK_STREAM);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(7200)};
    if (l < 0 || minitcp_bind(l, &a) < 0 || minitcp_listen(l, 4) < 0) die("orphan listen");
    printf("blocking\n");
    fflush(stdout);
    CHECK_ERR(minitcp_accept(l, NULL), ECONNABORTED, "blocked accept when the daemon dies");
    char b[8];
    CHECK_ERR(minitcp_recv(l, b, sizeof b), EINVAL, "the listener is still a descriptor");
    CHECK(minitcp_sock_error(l) == ECONNABORTED, "sock_error ECONNABORTED");
    struct minitcp_pollfd p = {.s = l, .events = MINITCP_POLLIN};
    CHECK(minitcp_poll(&p, 1, -1) == 1 && (p.revents & MINITCP_POLLERR),
          "poll(-1) returns at once with POLLERR");
    errno = 0;
    int s = minitcp_socket(MINITCP_SOCK_STREAM);
    /* ECONNABORTED when the dying daemon's listening socket still took the connect */
    CHECK(s == -1 && (errno == ENOENT || errno == ECONNREFUSED || errno == ECONNABORTED),
          "a new socket: the daemon is gone (%s)", strerror(errno));
    CHECK(minitcp_close(l) == 0, "close");
    return fails ? 1 : 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 2 && !strcmp(argv[1], "orphan")) return orphan_main();
    if (argc != 2) {
        fprintf(stderr, "usage: loopback_posix DIR | orphan\n");
        return 2;
    }
    char a_sock[512], b_sock[512];
    snprintf(a_sock, sizeof a_sock, "%s/a.sock", argv[1]);
    snprintf(b_sock, sizeof b_sock, "%s/b.sock", argv[1]);
    int c[2], r[2];
    if (pipe(c) < 0 || pipe(r) < 0) die("pipe");
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        close(c[1]);
        close(r[0]);
        cmd_r = c[0];
        res_w = r[1];
        setenv("MINITCP_SOCKET", b_sock, 1);
        peer_main();
        _exit(0);
    }
    close(c[0]);
    close(r[1]);
    cmd_w = c[1];
    res_r = r[0];
    setenv("MINITCP_SOCKET", a_sock, 1);
    test_main();
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "peer exited cleanly (%#x)", st);
    printf("loopback_posix: %d failure(s)\n", fails);
    return fails ? 1 : 0;
}
