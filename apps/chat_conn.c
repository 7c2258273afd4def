/* One chat_server connection's bytes: deciding between HTTP and chat, the HTTP answer,
 * splitting chat lines and queueing them for every member. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "minitcp.h"

static const char HTTP_REPLY[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n";

/* An output buffer bigger than this is given back once it drains: a member that once
 * lagged does not keep its high-water mark for the rest of its life. */
#define OUT_KEEP 16384

static void say(struct chat *ch, const struct client *c, const char *what)
{
    char a[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &c->addr, a, sizeof a);
    printf("%s: client %s:%u %s\n", ch->prog, a, ntohs(c->port), what);
    fflush(stdout);
}

void chat_kill(struct chat *ch, struct client *c, const char *why)
{
    if (c->dead) return;
    c->dead = true;
    c->why = why;
    ch->queued -= chat_pending(c);
    c->out_off = c->out_len = 0;
}

void chat_queue(struct chat *ch, struct client *c, const char *p, size_t n)
{
    if (c->dead) return;
    if (chat_pending(c) + n > ch->conf.member_queue_max) {
        chat_kill(ch, c, "disconnected (member queue cap: it does not read)");
        return;
    }
    if (!chat_make_room(ch, c, n)) return; /* c itself was the slowest */
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
                chat_kill(ch, c, "disconnected (out of memory)");
                return;
            }
            c->out = nb;
            c->out_cap = nc;
        }
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
    ch->queued += n;
}

void chat_flush(struct chat *ch, struct client *c)
{
    while (!c->dead && chat_pending(c)) {
        ssize_t w = minitcp_send(c->s, c->out + c->out_off, chat_pending(c));
        if (w < 0) {
            if (errno != EAGAIN) chat_kill(ch, c, "disconnected (send failed)");
            return;
        }
        c->out_off += (size_t)w;
        ch->queued -= (size_t)w;
        if (c->mode == M_CHAT) c->chat_sent = true;
        c->t_active = ch->now;
    }
    if (c->out_off == c->out_len) {
        c->out_off = c->out_len = 0;
        if (c->out_cap > OUT_KEEP) {
            free(c->out);
            c->out = NULL;
            c->out_cap = 0;
        }
    }
}

static void broadcast(struct chat *ch, const char *line, size_t n)
{
    for (size_t i = 0; i < ch->n; i++)
        if (ch->cl[i]->mode == M_CHAT) chat_queue(ch, ch->cl[i], line, n);
}

static void join(struct chat *ch, struct client *c, const char *how)
{
    c->mode = M_CHAT;
    say(ch, c, how);
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

static void http_input(struct chat *ch, struct client *c)
{
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
        chat_queue(ch, c, HTTP_REPLY, sizeof HTTP_REPLY - 1);
        c->closing = true;
        c->inlen = 0;
    }
}

/* A member that joined silently may be an HTTP client that was slow to send its request (a
 * loaded client, a connection pool): its first bytes decide again. As HTTP it leaves the
 * chat without a word to the others (joins are never announced to members) and what is
 * queued for it is dropped, so the response is the first thing it reads unless chat bytes
 * were already written to it. False while the bytes are still an HTTP method prefix. */
static bool silent_first_bytes(struct chat *ch, struct client *c)
{
    bool undecided;
    if (is_http_method(c->in, c->inlen, &undecided)) {
        ch->queued -= chat_pending(c);
        c->out_off = c->out_len = 0;
        c->mode = M_HTTP;
        c->silent = false;
        c->t_open = ch->now; /* the header timeout counts from here, not from the connect */
        say(ch, c,
            c->chat_sent ? "left the chat (its first bytes are an HTTP request; chat bytes "
                           "were already sent to it)"
                         : "left the chat (its first bytes are an HTTP request)");
        return true;
    }
    if (undecided && !memchr(c->in, '\n', c->inlen)) return false;
    c->silent = false;
    return true;
}

/* Consumes what arrived in c->in. */
void chat_input(struct chat *ch, struct client *c)
{
    if (c->silent && !silent_first_bytes(ch, c)) return; /* wait for more bytes */
    if (c->mode == M_UNKNOWN) {
        bool undecided;
        if (is_http_method(c->in, c->inlen, &undecided))
            c->mode = M_HTTP;
        else if (!undecided || memchr(c->in, '\n', c->inlen))
            join(ch, c, "joined the chat (it spoke)");
        else
            return; /* wait for more bytes */
    }
    if (c->mode == M_HTTP) {
        http_input(ch, c);
        return;
    }
    size_t start = 0;
    for (size_t i = 0; i < c->inlen; i++) {
        if (c->in[i] == '\n') {
            broadcast(ch, c->in + start, i + 1 - start);
            start = i + 1;
        }
    }
    if (start == 0 && c->inlen == sizeof c->in) { /* an over-long line goes out in pieces */
        broadcast(ch, c->in, c->inlen);
        start = c->inlen;
    }
    memmove(c->in, c->in + start, c->inlen - start);
    c->inlen -= start;
}

/* The peer closed its side. What is queued for it (its own echo) still goes out, then the
 * server closes its side too. */
void chat_peer_eof(struct chat *ch, struct client *c)
{
    if (c->mode != M_HTTP && c->inlen) { /* a last line without '\n' */
        if (c->mode == M_UNKNOWN) join(ch, c, "joined the chat (it spoke)");
        c->silent = false;
        broadcast(ch, c->in, c->inlen);
        c->inlen = 0;
    }
    c->eof = c->closing = true;
}

void chat_drop(struct chat *ch, size_t i)
{
    struct client *c = ch->cl[i];
    ch->queued -= chat_pending(c);
    say(ch, c, c->why ? c->why : "disconnected");
    minitcp_close(c->s);
    free(c->out);
    free(c);
    ch->cl[i] = ch->cl[--ch->n];
}

void chat_joined_silent(struct chat *ch, struct client *c)
{
    join(ch, c, "joined the chat (silent for the grace period)");
    c->silent = true;
}
