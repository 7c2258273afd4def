/* chat_server: a line chat and a tiny HTTP responder on one port, over MiniTCP.
 *
 * The first bytes of a connection decide what it is:
 *  - an HTTP request line (GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH, TRACE, CONNECT
 *    followed by a space): once the request head (up to the empty line) is in, the
 *    server answers with exactly
 *        HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n
 *    and closes first;
 *  - anything else: a chat member. Each line it sends goes to every chat member, itself
 *    included (its own echo).
 * A connection that sends nothing joins the chat after the grace period (HTTP clients send
 * their request at once); lines written before it joined are not replayed to it. If its
 * first bytes are then an HTTP request line after all (a slow or loaded client), it leaves
 * the chat quietly and is answered as HTTP (chat_conn.c). Joins and leaves are logged,
 * never announced to the members.
 * The limits (chat_limits.c) are options, see --help. Everything is non-blocking and
 * multiplexed with minitcp_poll. */
#include <arpa/inet.h>
#include <time.h>

#include "chat.h"
#include "common.h"

static const char *prog = "chat_server";

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: %s [--port N] [options]\n"
            "Line chat (each line to every member) and a tiny HTTP responder on the same "
            "port.\n"
            "  --port N              port (default 8080)\n"
            "  --grace MS            a connection silent this long joins the chat (default "
            "1000);\n"
            "                        an HTTP request after that is still answered\n"
            "  --header-timeout S    an HTTP request head must be complete within S seconds\n"
            "                        of the connection (default 10)\n"
            "  --idle-timeout S      close a connection with no byte in or out for S seconds\n"
            "                        (default 600; 0: never)\n"
            "  --max-conns N         connections held at once (default 4096)\n"
            "  --max-per-addr N      connections held at once from one address (default 256)\n"
            "  --queue-max SIZE      output queued for all members together (default 16M)\n"
            "  --member-queue-max SIZE  output queued for one member (default 1M)\n"
            "At a connection cap a newcomer is still accepted: the longest idle connection of\n"
            "its own address (at the per-address cap) or of the address holding the most (at\n"
            "the total cap) is closed. At a queue cap the member with the most queued (the\n"
            "slowest reader) is disconnected. SIZE takes K, M or G. The daemon socket is\n"
            "$MINITCP_SOCKET or %s.\n",
            prog, MINITCP_DEFAULT_SOCKET);
}

static uint64_t num(const char *opt, const char *s, uint64_t lo, uint64_t hi, bool size)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (size && end != s) {
        unsigned sh = *end == 'K' || *end == 'k'   ? 10
                      : *end == 'M' || *end == 'm' ? 20
                      : *end == 'G' || *end == 'g' ? 30
                                                   : 0;
        if (sh) {
            end++;
            if (v > (hi >> sh)) v = hi + 1;
            v <<= sh;
        }
    }
    if (errno || end == s || *end || *s == '-' || v < lo || v > hi) {
        fprintf(stderr, "%s: bad %s '%s' (%llu..%llu)\n", prog, opt, s, (unsigned long long)lo,
                (unsigned long long)hi);
        exit(2);
    }
    return v;
}

static struct chat_conf parse_args(int argc, char **argv)
{
    enum { O_GRACE = 256, O_HDR, O_IDLE, O_MAXC, O_PERADDR, O_QMAX, O_MQMAX };
    static const struct option opts[] = {{"port", required_argument, NULL, 'p'},
                                         {"grace", required_argument, NULL, O_GRACE},
                                         {"header-timeout", required_argument, NULL, O_HDR},
                                         {"idle-timeout", required_argument, NULL, O_IDLE},
                                         {"max-conns", required_argument, NULL, O_MAXC},
                                         {"max-per-addr", required_argument, NULL, O_PERADDR},
                                         {"queue-max", required_argument, NULL, O_QMAX},
                                         {"member-queue-max", required_argument, NULL, O_MQMAX},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    struct chat_conf k = {.port = 8080,
                          .grace_ms = 1000,
                          .header_ms = 10000,
                          .idle_ms = 600000,
                          .max_conns = 4096,
                          .max_per_addr = 256,
                          .queue_max = 16u << 20,
                          .member_queue_max = 1u << 20};
    int c;
    while ((c = getopt_long(argc, argv, "p:h", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            k.port = app_parse_port(prog, optarg);
            break;
        case O_GRACE:
            k.grace_ms = (int64_t)num("--grace", optarg, 0, 3600000, false);
            break;
        case O_HDR:
            k.header_ms = (int64_t)num("--header-timeout", optarg, 1, 86400, false) * 1000;
            break;
        case O_IDLE:
            k.idle_ms = (int64_t)num("--idle-timeout", optarg, 0, 86400 * 30, false) * 1000;
            break;
        case O_MAXC:
            k.max_conns = num("--max-conns", optarg, 1, 1000000, false);
            break;
        case O_PERADDR:
            k.max_per_addr = num("--max-per-addr", optarg, 1, 1000000, false);
            break;
        case O_QMAX:
            k.queue_max = num("--queue-max", optarg, 4096, 1ull << 40, true);
            break;
        case O_MQMAX:
            k.member_queue_max = num("--member-queue-max", optarg, 4096, 1ull << 40, true);
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            fprintf(stderr, "usage: %s [--port N] [options] (--help)\n", prog);
            exit(2);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[optind]);
        exit(2);
    }
    return k;
}

/* Flushes every output queue and closes what is finished or dead. */
static void reap(struct chat *ch)
{
    for (size_t i = ch->n; i-- > 0;) {
        struct client *c = ch->cl[i];
        chat_flush(ch, c);
        if (c->dead || (c->closing && !chat_pending(c))) chat_drop(ch, i);
    }
}

static void read_from(struct chat *ch, struct client *c)
{
    if (c->dead) return; /* closed by another's line (queue cap) */
    for (;;) {
        ssize_t r = minitcp_recv(c->s, c->in + c->inlen, sizeof c->in - c->inlen);
        if (r > 0) {
            c->inlen += (size_t)r;
            c->t_active = ch->now;
            chat_input(ch, c);
            if (c->inlen == sizeof c->in) chat_input(ch, c);
            if (c->dead) return;
            continue;
        }
        if (r == 0)
            chat_peer_eof(ch, c);
        else if (errno != EAGAIN)
            chat_kill(ch, c, "disconnected (receive failed)");
        return;
    }
}

/* Accepts what waits, a bounded number per wake-up so that a connection flood does not
 * starve the members' traffic. */
static void accept_some(struct chat *ch, int l)
{
    for (int k = 0; k < 256; k++) {
        struct sockaddr_in peer = {0};
        int s = minitcp_accept(l, &peer);
        if (s < 0) return;
        minitcp_setnonblock(s, 1);
        chat_admit(ch, peer.sin_addr.s_addr);
        reap(ch); /* the connection chat_admit closed, if any */
        struct client *c = calloc(1, sizeof *c);
        if (ch->n == ch->cap) {
            size_t nc = ch->cap ? ch->cap * 2 : 64;
            struct client **ncl = realloc(ch->cl, nc * sizeof *ncl);
            if (ncl) {
                ch->cl = ncl;
                ch->cap = nc;
            }
        }
        if (!c || ch->n == ch->cap) {
            free(c);
            minitcp_close(s);
            continue;
        }
        *c = (struct client){.s = s,
                             .addr = peer.sin_addr.s_addr,
                             .port = peer.sin_port,
                             .t_open = ch->now,
                             .t_active = ch->now};
        ch->cl[ch->n++] = c;
        char a[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &c->addr, a, sizeof a);
        printf("%s: client %s:%u connected\n", prog, a, ntohs(c->port));
        fflush(stdout);
    }
}

int main(int argc, char **argv)
{
    struct chat ch = {.conf = parse_args(argc, argv), .prog = prog};
    app_signals();
    int l = app_listen(prog, ch.conf.port);
    /* chat lines are short and interactive: Nagle off (accepted connections inherit it) */
    if (minitcp_setsockopt(l, MINITCP_TCP_NODELAY, 1) < 0) app_fail(prog, "setsockopt");
    struct minitcp_daemon_info info;
    if (minitcp_daemon_info(&info) < 0) app_fail(prog, "daemon info");
    char self[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &info.addr, self, sizeof self);
    printf("%s: listening on port %d (self=%s, tun=%s)\n", prog, ch.conf.port, self, info.tun);
    fflush(stdout);

    struct minitcp_pollfd *pf = NULL;
    size_t pfcap = 0;
    for (;;) {
        ch.now = now_ms();
        int timeout = chat_timers(&ch);
        reap(&ch);
        if (ch.n + 1 > pfcap) {
            pfcap = ch.cap + 1;
            pf = realloc(pf, pfcap * sizeof *pf);
            if (!pf) return 1;
        }
        pf[0] = (struct minitcp_pollfd){.s = l, .events = MINITCP_POLLIN};
        for (size_t i = 0; i < ch.n; i++) {
            struct client *c = ch.cl[i];
            /* a closing HTTP client still has its request body read (no RST on close) */
            short ev = c->eof ? 0 : MINITCP_POLLIN;
            if (chat_pending(c)) ev |= MINITCP_POLLOUT;
            pf[i + 1] = (struct minitcp_pollfd){.s = c->s, .events = ev};
        }
        size_t npf = ch.n + 1;
        if (app_stopping(prog)) break;
        if (minitcp_ppoll(pf, npf, timeout, &app_wait_mask) < 0) {
            if (errno != EINTR) app_fail(prog, "poll");
            continue;
        }
        ch.now = now_ms();
        /* input first (it may queue lines for anyone), then output, then reaping */
        for (size_t i = 0; i + 1 < npf; i++)
            if (pf[i + 1].revents & (MINITCP_POLLIN | MINITCP_POLLHUP | MINITCP_POLLERR))
                read_from(&ch, ch.cl[i]);
        reap(&ch);
        app_check_listener(prog, pf[0].revents, l);
        if (pf[0].revents & MINITCP_POLLIN) accept_some(&ch, l);
    }
    while (ch.n)
        chat_drop(&ch, ch.n - 1);
    minitcp_close(l);
    free(ch.cl);
    free(pf);
    return 0;
}
