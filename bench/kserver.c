/* kserver: the benchmark's servers on the Linux kernel's TCP (the kernel and relay targets).
 * One thread, one epoll loop, like the user-space stacks it is compared with.
 *
 *   kserver [--discard PORT] [--echo PORT] [--source PORT] [--http PORT] [--addr A.B.C.D]
 *
 *   discard  reads and drops; checks the counted pattern (pattern.h) and logs, per
 *            connection that carried data, "discard: bytes=N pattern=ok|BAD" on stderr
 *   echo     writes back what it reads
 *   source   writes the counted pattern until the peer goes away
 *   http     reads a request head, answers 200 OK with "hello\n" and closes first
 * Stops on SIGTERM or SIGINT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pattern.h"

#define ECHO_BUF 16384

enum kind { K_LISTEN, K_DISCARD, K_ECHO, K_SOURCE, K_HTTP };

static const char HTTP_REPLY[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n";

struct conn {
    int fd;
    enum kind kind;
    enum kind serves; /* for listeners */
    uint64_t off;     /* discard: bytes checked; source: bytes sent */
    bool bad;
    size_t pend_off, pend_len; /* echo: bytes read but not yet written back */
    size_t head;               /* http: bytes of the request head seen */
    uint8_t buf[];
};

static int ep;
static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void watch(struct conn *c, uint32_t events, int op)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(ep, op, c->fd, &ev) < 0) perror("kserver: epoll_ctl");
}

static struct conn *new_conn(int fd, enum kind kind)
{
    size_t extra = kind == K_DISCARD ? PATTERN_CHUNK : kind == K_ECHO ? ECHO_BUF : kind == K_HTTP ? 1024 : 0;
    struct conn *c = calloc(1, sizeof *c + extra);
    if (!c) {
        close(fd);
        return NULL;
    }
    c->fd = fd;
    c->kind = kind;
    return c;
}

static void drop(struct conn *c)
{
    if (c->kind == K_DISCARD && c->off > 0)
        fprintf(stderr, "discard: bytes=%llu pattern=%s\n", (unsigned long long)c->off,
                c->bad ? "BAD" : "ok");
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c);
}

static void listen_on(const struct in_addr *addr, int port, enum kind serves)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr = *addr};
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 4096) < 0) {
        fprintf(stderr, "kserver: port %d: %s\n", port, strerror(errno));
        exit(1);
    }
    struct conn *c = new_conn(fd, K_LISTEN);
    c->serves = serves;
    watch(c, EPOLLIN, EPOLL_CTL_ADD);
}

static void on_accept(struct conn *l)
{
    for (;;) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                perror("kserver: accept");
            return;
        }
        struct conn *c = new_conn(fd, l->serves);
        if (!c) continue;
        if (c->kind == K_ECHO) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        watch(c, c->kind == K_SOURCE ? EPOLLIN | EPOLLOUT : EPOLLIN, EPOLL_CTL_ADD);
    }
}

/* Returns false when the connection is gone. */
static bool on_discard(struct conn *c)
{
    for (;;) {
        ssize_t n = read(c->fd, c->buf, PATTERN_CHUNK);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return false;
        if (n < 0) return true;
        if (!c->bad && !pattern_check(c->buf, (size_t)n, c->off)) c->bad = true;
        c->off += (uint64_t)n;
    }
}

static bool on_echo(struct conn *c, uint32_t events)
{
    (void)events;
    for (;;) {
        if (c->pend_len) {
            ssize_t w = write(c->fd, c->buf + c->pend_off, c->pend_len);
            if (w < 0) {
                if (errno != EAGAIN && errno != EINTR) return false;
                watch(c, EPOLLOUT, EPOLL_CTL_MOD); /* stop reading until it drains */
                return true;
            }
            c->pend_off += (size_t)w;
            c->pend_len -= (size_t)w;
            if (c->pend_len) continue;
            watch(c, EPOLLIN, EPOLL_CTL_MOD);
        }
        ssize_t n = read(c->fd, c->buf, ECHO_BUF);
        if (n == 0) return false;
        if (n < 0) return errno == EAGAIN || errno == EINTR;
        c->pend_off = 0;
        c->pend_len = (size_t)n;
    }
}

static bool on_source(struct conn *c, uint32_t events)
{
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        uint8_t junk[512];
        ssize_t n = read(c->fd, junk, sizeof junk);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return false;
    }
    if (!(events & EPOLLOUT)) return true;
    for (;;) {
        ssize_t w = write(c->fd, pattern_at(c->off), PATTERN_CHUNK);
        if (w < 0) return errno == EAGAIN || errno == EINTR;
        c->off += (uint64_t)w;
    }
}

static bool on_http(struct conn *c)
{
    for (;;) {
        ssize_t n = read(c->fd, c->buf + c->head, 1023 - c->head);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return false;
        if (n < 0) return true;
        c->head += (size_t)n;
        c->buf[c->head] = 0;
        if (strstr((char *)c->buf, "\r\n\r\n") || c->head == 1023) {
            /* A reply this small fits any fresh socket's send buffer. Then close first. */
            if (write(c->fd, HTTP_REPLY, sizeof HTTP_REPLY - 1) < 0) perror("kserver: http");
            return false;
        }
    }
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"discard", 1, 0, 'd'}, {"echo", 1, 0, 'e'}, {"source", 1, 0, 's'},
        {"http", 1, 0, 'h'},    {"addr", 1, 0, 'a'}, {0, 0, 0, 0},
    };
    struct in_addr addr = {.s_addr = htonl(INADDR_ANY)};
    int ports[5] = {0};
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': ports[K_DISCARD] = atoi(optarg); break;
        case 'e': ports[K_ECHO] = atoi(optarg); break;
        case 's': ports[K_SOURCE] = atoi(optarg); break;
        case 'h': ports[K_HTTP] = atoi(optarg); break;
        case 'a':
            if (inet_pton(AF_INET, optarg, &addr) != 1) return 2;
            break;
        default:
            fprintf(stderr, "usage: kserver [--discard P] [--echo P] [--source P] [--http P] "
                            "[--addr A]\n");
            return 2;
        }
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    ep = epoll_create1(EPOLL_CLOEXEC);
    for (int k = K_DISCARD; k <= K_HTTP; k++)
        if (ports[k]) listen_on(&addr, ports[k], (enum kind)k);
    fprintf(stderr, "kserver: listening\n");
    struct epoll_event evs[256];
    while (!stop) {
        int n = epoll_wait(ep, evs, 256, 500);
        for (int i = 0; i < n; i++) {
            struct conn *k = evs[i].data.ptr;
            uint32_t e = evs[i].events;
            bool alive = true;
            switch (k->kind) {
            case K_LISTEN: on_accept(k); break;
            case K_DISCARD: alive = on_discard(k); break;
            case K_ECHO: alive = on_echo(k, e); break;
            case K_SOURCE: alive = on_source(k, e); break;
            case K_HTTP: alive = on_http(k); break;
            }
            if (!alive) drop(k);
        }
    }
    return 0;
}
