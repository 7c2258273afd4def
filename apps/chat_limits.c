/* What keeps one hostile client from taking chat_server: connection caps (total and per
 * source address) that make room by closing the longest idle connection of whoever holds
 * the most, a total output-queue cap that closes the slowest reader, and the timers (a
 * silent connection joins the chat after the grace period; an HTTP request head must be
 * complete within the header timeout; a connection with no traffic is closed when idle). */
#include <stdlib.h>

#include "chat.h"

/* The longest idle live connection from addr, and how many live ones addr holds. */
static struct client *oldest_of(struct chat *ch, uint32_t addr, size_t *count)
{
    struct client *o = NULL;
    *count = 0;
    for (size_t i = 0; i < ch->n; i++) {
        struct client *c = ch->cl[i];
        if (c->dead || c->addr != addr) continue;
        ++*count;
        if (!o || c->t_active < o->t_active) o = c;
    }
    return o;
}

/* The source address holding the most live connections (a table full of connections is
 * rare, so the count is built when needed rather than kept up to date). */
static uint32_t busiest_addr(struct chat *ch)
{
    size_t sz = 16;
    while (sz < 2 * ch->n)
        sz *= 2;
    uint32_t *key = calloc(sz, sizeof *key);
    size_t *cnt = calloc(sz, sizeof *cnt);
    uint32_t best = ch->n ? ch->cl[0]->addr : 0;
    size_t bestn = 0;
    for (size_t i = 0; key && cnt && i < ch->n; i++) {
        if (ch->cl[i]->dead) continue;
        uint32_t a = ch->cl[i]->addr;
        size_t h = (a * 2654435761u) & (sz - 1);
        while (cnt[h] && key[h] != a)
            h = (h + 1) & (sz - 1);
        key[h] = a;
        if (++cnt[h] > bestn) {
            bestn = cnt[h];
            best = a;
        }
    }
    free(key);
    free(cnt);
    return best;
}

/* Called before a connection from addr is added: frees its place. One address cannot lock
 * others out, and a newcomer is never refused: the caps close old idle connections instead
 * (an attacker holding many loses its own oldest first). */
void chat_admit(struct chat *ch, uint32_t addr)
{
    size_t same;
    struct client *o = oldest_of(ch, addr, &same);
    if (o && same >= ch->conf.max_per_addr) {
        chat_kill(ch, o, "closed (per-address connection cap: its longest idle)");
        return;
    }
    size_t live = 0;
    for (size_t i = 0; i < ch->n; i++)
        live += !ch->cl[i]->dead;
    if (live < ch->conf.max_conns) return;
    o = oldest_of(ch, busiest_addr(ch), &same);
    if (o) chat_kill(ch, o, "closed (connection cap: longest idle of the busiest address)");
}

/* Makes room in the total queue for n more bytes for c, closing the members with the most
 * queued (the slowest readers) first. False when c itself had to go. */
bool chat_make_room(struct chat *ch, struct client *c, size_t n)
{
    while (ch->queued + n > ch->conf.queue_max) {
        struct client *slow = c;
        for (size_t i = 0; i < ch->n; i++)
            if (!ch->cl[i]->dead && chat_pending(ch->cl[i]) > chat_pending(slow)) slow = ch->cl[i];
        chat_kill(ch, slow, "disconnected (total queue cap: the slowest reader)");
        if (slow == c) return false;
    }
    return true;
}

static void at(int64_t *next, int64_t when)
{
    if (*next < 0 || when < *next) *next = when;
}

/* Applies every deadline that passed; returns the milliseconds until the next (-1: none). */
int chat_timers(struct chat *ch)
{
    const struct chat_conf *k = &ch->conf;
    int64_t next = -1;
    for (size_t i = 0; i < ch->n; i++) {
        struct client *c = ch->cl[i];
        if (c->dead) continue;
        if (c->mode == M_UNKNOWN && !c->inlen && !c->eof) {
            /* HTTP clients send their request at once: silence means a chat member (one that
             * sends an HTTP request after all still gets its answer, chat_conn.c) */
            if (ch->now >= c->t_open + k->grace_ms)
                chat_joined_silent(ch, c);
            else
                at(&next, c->t_open + k->grace_ms);
        } else if ((c->mode == M_UNKNOWN || c->mode == M_HTTP) && !c->closing) {
            if (ch->now >= c->t_open + k->header_ms) {
                chat_kill(ch, c, "closed (request head not complete within the header timeout)");
                continue;
            }
            at(&next, c->t_open + k->header_ms);
        }
        if (k->idle_ms) {
            if (ch->now >= c->t_active + k->idle_ms)
                chat_kill(ch, c, "closed (idle timeout)");
            else
                at(&next, c->t_active + k->idle_ms);
        }
    }
    if (next < 0) return -1;
    int64_t d = next - ch->now;
    return d > 3600000 ? 3600000 : (int)d;
}
