/* chat_server's parts: one connection's bytes (chat_conn.c: HTTP or chat, output queues),
 * the limits that keep a hostile client from taking the server (chat_limits.c: connection
 * caps, the total queue cap, grace, header and idle timers) and the loop (chat_server.c). */
#ifndef MINITCP_APPS_CHAT_H
#define MINITCP_APPS_CHAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LINE_MAX_LEN 4096

struct chat_conf {
    int port;
    int64_t grace_ms;        /* a silent connection joins the chat after this */
    int64_t header_ms;       /* an HTTP request head must be complete within this */
    int64_t idle_ms;         /* no byte either way for this long: closed (0: never) */
    size_t max_conns;        /* connections held at once */
    size_t max_per_addr;     /* connections held at once from one source address */
    size_t queue_max;        /* bytes queued for all members together */
    size_t member_queue_max; /* bytes queued for one member */
};

enum chat_mode {
    M_UNKNOWN, /* nothing decided yet: receives nothing (it may be HTTP) */
    M_CHAT,    /* a member: receives every line */
    M_HTTP,    /* an HTTP request: answered once, then closed */
};

struct client {
    int s;
    enum chat_mode mode;
    bool closing; /* close once the output is out */
    bool eof;     /* the peer closed its side: nothing more to read */
    bool dead;
    bool silent;     /* joined at the grace period and has not sent a byte since */
    bool chat_sent;  /* some chat bytes were written to it */
    const char *why; /* why it is dead (logged) */
    uint32_t addr;   /* peer address and port, network order */
    uint16_t port;
    int64_t t_open, t_active; /* ms: accepted; last byte in or out */
    size_t inlen;
    char in[LINE_MAX_LEN];
    char *out;
    size_t out_off, out_len, out_cap;
};

struct chat {
    struct chat_conf conf;
    struct client **cl;
    size_t n, cap;
    size_t queued; /* sum of every live client's pending output */
    int64_t now;   /* ms, monotonic */
    const char *prog;
};

/* chat_conn.c */
void chat_kill(struct chat *ch, struct client *c, const char *why);
void chat_queue(struct chat *ch, struct client *c, const char *p, size_t n);
void chat_flush(struct chat *ch, struct client *c);
void chat_input(struct chat *ch, struct client *c);
void chat_peer_eof(struct chat *ch, struct client *c);
void chat_drop(struct chat *ch, size_t i);
void chat_joined_silent(struct chat *ch, struct client *c);
static inline size_t chat_pending(const struct client *c)
{
    return c->out_len - c->out_off;
}

/* chat_limits.c */
void chat_admit(struct chat *ch, uint32_t addr);
bool chat_make_room(struct chat *ch, struct client *c, size_t n);
int chat_timers(struct chat *ch);

#endif
