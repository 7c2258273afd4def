/* chat_server: a line chat and a tiny HTTP responder on one port, over MiniTCP.
 *
 * The first bytes of a connection decide what it is:
 *  - an HTTP request line (GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH, TRACE, CONNECT
 *    followed by a space): once the request head (up to the empty line) is in, the
 *    server answers with exactly
 *        HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n
 *    and closes first;
 *  - anything else: a chat member. Each line it sends goes to every chat member, itself
 *    included (its own echo). A connection that has not sent anything yet is not a member
 *    and receives nothing (it might turn out to be HTTP).
 * A member that does not read gets up to OUTQ_MAX bytes queued, then is disconnected.
 * Everything is non-blocking and multiplexed with minitcp_poll. */
#include <stdbool.h>

#include <arpa/inet.h>

#include "common.h"

#define LINE_MAX_LEN 4096
#define OUTQ_MAX (1024 * 1024)

static const char HTTP_REPLY[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n";

enum mode { M_UNKNOWN, M_CHAT, M_HTTP };

struct client {
    int s;
    enum mode mode;
    bool closing; /* close once the output is out */
    bool eof;     /* the peer closed its side: nothing more to read */
    bool dead;
    size_t inlen;
    char in[LINE_MAX_LEN];
    char *out;
    size_t out_off, out_len, out_cap;
};

static struct client **cl;
static size_t ncl, capcl;
static const char *prog = "chat_server";

static void queue(struct client *c, const char *p, size_t n)
{
    if (c->dead) return;
    if (c->out_len - c->out_off + n > OUTQ_MAX) {
        c->dead = true; /* does not read: let it go rather than grow */
        return;
    }
    if (c->out_len + n > c->out_cap) {
        if (c->out_off) {
            memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
            c->out_len -= c->out_off;
            c->out_off = 0;
        }
        if (c->out_len + n > c->out_cap) {
            size_t nc = c->out_cap ? c->out_cap : 4096;
            while (nc < c->out_len + n)
                nc *= 2;
            char *nb = realloc(c->out, nc);
            if (!nb) {
                c->dead = true;
                return;
            }
            c->out = nb;
            c->out_cap = nc;
        }
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
}

static void flush_out(struct client *c)
{
    while (!c->dead && c->out_off < c->out_len) {
        ssize_t w = minitcp_send(c->s, c->out + c->out_off, c->out_len - c->out_off);
        if (w < 0) {
            if (errno != EAGAIN) c->dead = true;
            return;
        }
        c->out_off += (size_t)w;
    }
    if (c->out_off == c->out_len) c->out_off = c->out_len = 0;
}

static void broadcast(const char *line, size_t n)
{
    for (size_t i = 0; i < ncl; i++)
        if (cl[i]->mode == M_CHAT) queue(cl[i], line, n);
}

static bool is_http_method(const char *p, size_t n, bool *undecided)
{
    static const char *methods[] = {"GET ",     "HEAD ",  "POST ",  "PUT ",    "DELETE ",
                                    "OPTIONS ", "PATCH ", "TRACE ", "CONNECT "};
    *undecided = false;
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        size_t ml = strlen(methods[i]);
        size_t k = n < ml ? n : ml;
        if (memcmp(p, methods[i], k) == 0) {
            if (n >= ml) return true;
            *undecided = true; /* a prefix so far */
        }
    }
    return false;
}

/* Consumes what arrived in c->in. */
static void process_input(struct client *c)
{
    if (c->mode == M_UNKNOWN) {
        bool undecided;
        bool http = is_http_method(c->in, c->inlen, &undecided);
        if (http)
            c->mode = M_HTTP;
        else if (!undecided || memchr(c->in, '\n', c->inlen))
            c->mode = M_CHAT;
        else
            return; /* wait for more bytes */
    }
    if (c->mode == M_HTTP) {
        if (c->closing) {
            c->inlen = 0; /* request body bytes: read and dropped */
            return;
        }
        /* the request head ends with an empty line */
        bool end = false;
        for (size_t i = 0; i + 1 < c->inlen && !end; i++) {
            if (c->in[i] == '\n' && c->in[i + 1] == '\n') end = true;
            if (i + 3 < c->inlen && !memcmp(c->in + i, "\r\n\r\n", 4)) end = true;
        }
        if (end || c->inlen == sizeof c->in) {
            queue(c, HTTP_REPLY, sizeof HTTP_REPLY - 1);
            c->closing = true;
        }
        if (c->inlen == sizeof c->in || end) c->inlen = 0;
        return;
    }
    size_t start = 0;
    for (size_t i = 0; i < c->inlen; i++) {
        if (c->in[i] == '\n') {
            broadcast(c->in + start, i + 1 - start);
            start = i + 1;
        }
    }
    if (start == 0 && c->inlen == sizeof c->in) { /* an over-long line goes out in pieces */
        broadcast(c->in, c->inlen);
        start = c->inlen;
    }
    memmove(c->in, c->in + start, c->inlen - start);
    c->inlen -= start;
}

static void drop(size_t i)
{
    struct client *c = cl[i];
    minitcp_close(c->s);
    free(c->out);
    free(c);
    cl[i] = cl[--ncl];
    printf("%s: client disconnected\n", prog);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    int port = app_server_args(argc, argv, prog, 8080,
                               "Line chat (each line to every client) and a tiny HTTP "
                               "responder on the same port.");
    app_signals();
    int l = app_listen(prog, port);
    struct minitcp_daemon_info info;
    if (minitcp_daemon_info(&info) < 0) app_fail(prog, "daemon info");
    char self[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &info.addr, self, sizeof self);
    printf("%s: listening on port %d (self=%s, tun=%s)\n", prog, port, self, info.tun);
    fflush(stdout);

    struct minitcp_pollfd *pf = NULL;
    size_t pfcap = 0;
    for (;;) {
        if (ncl + 2 > capcl) {
            capcl = capcl ? capcl * 2 : 64;
            cl = realloc(cl, capcl * sizeof *cl);
            if (!cl) return 1;
        }
        if (ncl + 1 > pfcap) {
            pfcap = capcl;
            pf = realloc(pf, pfcap * sizeof *pf);
            if (!pf) return 1;
        }
        pf[0] = (struct minitcp_pollfd){.s = l, .events = MINITCP_POLLIN};
        for (size_t i = 0; i < ncl; i++) {
            short ev = cl[i]->closing ? 0 : MINITCP_POLLIN;
            if (cl[i]->out_len > cl[i]->out_off) ev |= MINITCP_POLLOUT;
            /* a closing HTTP client still has its request body read (no RST on close) */
            if (cl[i]->closing) ev |= MINITCP_POLLIN;
            if (cl[i]->eof) ev &= (short)~MINITCP_POLLIN;
            pf[i + 1] = (struct minitcp_pollfd){.s = cl[i]->s, .events = ev};
        }
        size_t npf = ncl + 1;
        if (!app_wait(prog, pf, npf)) break;
        /* input first (it may queue lines for anyone), then output, then reaping */
        for (size_t i = 0; i + 1 < npf; i++) {
            struct client *c = cl[i];
            if (!(pf[i + 1].revents & (MINITCP_POLLIN | MINITCP_POLLHUP | MINITCP_POLLERR)))
                continue;
            for (;;) {
                ssize_t r = minitcp_recv(c->s, c->in + c->inlen, sizeof c->in - c->inlen);
                if (r > 0) {
                    c->inlen += (size_t)r;
                    process_input(c);
                    if (c->inlen == sizeof c->in) process_input(c);
                    continue;
                }
                if (r == 0) {
                    if (c->mode != M_HTTP && c->inlen) { /* a last line without '\n' */
                        c->mode = M_CHAT;
                        broadcast(c->in, c->inlen);
                        c->inlen = 0;
                    }
                    /* half-closed: what is queued for this client (its own echo) still
                     * goes out, then the server closes its side too */
                    c->eof = c->closing = true;
                } else if (errno != EAGAIN) {
                    c->dead = true;
                }
                break;
            }
        }
        for (size_t i = ncl; i-- > 0;) {
            struct client *c = cl[i];
            flush_out(c);
            if (c->dead || (c->closing && c->out_off == c->out_len)) drop(i);
        }
        app_check_listener(prog, pf[0].revents, l);
        if (pf[0].revents & MINITCP_POLLIN) {
            while (ncl + 1 < capcl) {
                int s = minitcp_accept(l, NULL);
                if (s < 0) break;
                minitcp_setnonblock(s, 1);
                struct client *c = calloc(1, sizeof *c);
                if (!c) {
                    minitcp_close(s);
                    continue;
                }
                c->s = s;
                cl[ncl++] = c;
                printf("%s: client connected\n", prog);
                fflush(stdout);
            }
        }
    }
    while (ncl)
        drop(ncl - 1);
    minitcp_close(l);
    free(cl);
    free(pf);
    return 0;
}
