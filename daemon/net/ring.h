/* A byte ring that grows with use. Used for the TCP send queue (bytes from SND.UNA on)
 * and receive queue (in-order bytes not yet read; out-of-order bytes are written past the
 * tail without being committed).
 *
 * cap is the most the ring may hold (the socket's buffer size); storage is allocated on
 * the first byte at MEM_RING_MIN and doubles as the content needs, up to cap, each
 * allocation charged to the stack's memory accountant (mem.h), which may refuse it. A ring
 * that stays empty is freed again by the accountant (mem_poll). */
#ifndef MINITCP_RING_H
#define MINITCP_RING_H

#include <stdbool.h>
#include <stdint.h>

struct mem_acct;

struct ring {
    uint8_t *buf;  /* NULL while nothing is stored */
    uint32_t size; /* bytes allocated */
    uint32_t cap;  /* the most the ring may hold */
    uint32_t head, len;
    uint32_t ahead;             /* bytes written past the tail (out of order), kept on growth */
    struct mem_acct *mem;       /* NULL: no accounting, no bound */
    struct mem_group *grp;      /* NULL: no owner's share (mem.h) */
    struct ring *iprev, *inext; /* the accountant's list of empty rings */
    uint64_t idle_since;
    bool idle;
};

void ring_init(struct ring *r, uint32_t cap, struct mem_acct *mem);
/* Moves the ring's storage from its group's charge to g's (either may be NULL). */
void ring_set_group(struct ring *r, struct mem_group *g);
static inline uint32_t ring_used(const struct ring *r)
{
    return r->len;
}
/* Room up to cap: what the ring could hold if memory allowed. */
static inline uint32_t ring_space(const struct ring *r)
{
    return r->cap - r->len;
}
/* The size the ring may grow to now without forcing: cap normally, what it holds (or
 * MEM_RING_MIN) under memory pressure. */
uint32_t ring_limit(const struct ring *r);
/* Room the ring can offer now: what a write would take (memory permitting at the hard
 * bound). The receive window and the send space are this. */
uint32_t ring_space_now(const struct ring *r);
/* What may be promised to a writer that writes later (the daemon's send credit): the
 * room held, plus at most one more doubling. A promise is not a reservation, so the
 * unbacked part stays as small as the ring: credit grows with use, like the ring. */
uint32_t ring_offer(const struct ring *r);
/* Grows the storage to at least need bytes (need <= cap), doubling from MEM_RING_MIN.
 * forced: to store data inside a window already promised, ignoring pressure. False when
 * refused (the bound, or pressure when not forced) or out of memory. */
bool ring_reserve(struct ring *r, uint32_t need, bool forced);
/* Reserves for writing n bytes at offset off past the tail, keeping bytes ahead. */
static inline bool ring_reserve_at(struct ring *r, uint32_t off, uint32_t n, bool forced)
{
    uint32_t end = off + n > r->ahead ? off + n : r->ahead;
    return ring_reserve(r, r->len + end, forced);
}
void ring_release(struct ring *r); /* frees storage, empties the ring */
/* Copies n bytes to offset off past the tail; the caller reserved len + off + n. */
void ring_write_at(struct ring *r, uint32_t off, const void *src, uint32_t n);
/* Makes n bytes past the tail part of the ring content. */
void ring_commit(struct ring *r, uint32_t n);
/* Forgets bytes written past the tail (out-of-order data discarded). */
void ring_drop_ahead(struct ring *r);
/* Appends up to n bytes, growing as allowed; returns how many (0: full or refused). */
uint32_t ring_write(struct ring *r, const void *src, uint32_t n);
/* Copies n bytes starting at offset off of the content (off + n <= used). */
void ring_peek(const struct ring *r, uint32_t off, void *dst, uint32_t n);
void ring_consume(struct ring *r, uint32_t n);
uint32_t ring_read(struct ring *r, void *dst, uint32_t n);
/* Moves up to n bytes from src's head to dst's tail; returns how many. */
uint32_t ring_move(struct ring *dst, struct ring *src, uint32_t n);

#endif
