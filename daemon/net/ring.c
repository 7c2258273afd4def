#include "ring.h"

#include <stdlib.h>
#include <string.h>

bool ring_ensure(struct ring *r)
{
    if (r->buf) return true;
    if (r->cap == 0) return false;
    r->buf = malloc(r->cap);
    r->head = 0;
    return r->buf != NULL;
}

void ring_release(struct ring *r)
{
    free(r->buf);
    r->buf = NULL;
    r->head = 0;
    r->len = 0;
}

static uint32_t ring_pos(const struct ring *r, uint32_t off)
{
    /* head < cap and off < cap, so one subtraction suffices (no overflow: cap < 2^31) */
    uint32_t p = r->head + off;
    return p >= r->cap ? p - r->cap : p;
}

void ring_write_at(struct ring *r, uint32_t off, const void *src, uint32_t n)
{
    if (n == 0) return;
    uint32_t p = ring_pos(r, r->len + off);
    uint32_t first = r->cap - p;
    if (first > n) first = n;
    memcpy(r->buf + p, src, first);
    if (n > first) memcpy(r->buf, (const uint8_t *)src + first, n - first);
}

void ring_commit(struct ring *r, uint32_t n)
{
    r->len += n;
}

uint32_t ring_write(struct ring *r, const void *src, uint32_t n)
{
    uint32_t space = ring_space(r);
    if (n > space) n = space;
    if (n == 0 || !ring_ensure(r)) return 0;
    ring_write_at(r, 0, src, n);
    r->len += n;
    return n;
}

void ring_peek(const struct ring *r, uint32_t off, void *dst, uint32_t n)
{
    if (n == 0) return;
    uint32_t p = ring_pos(r, off);
    uint32_t first = r->cap - p;
    if (first > n) first = n;
    memcpy(dst, r->buf + p, first);
    if (n > first) memcpy((uint8_t *)dst + first, r->buf, n - first);
}

void ring_consume(struct ring *r, uint32_t n)
{
    if (n > r->len) n = r->len;
    r->head = ring_pos(r, n);
    r->len -= n;
    /* head is not reset when empty: out-of-order bytes may sit past the tail */
}

uint32_t ring_read(struct ring *r, void *dst, uint32_t n)
{
    if (n > r->len) n = r->len;
    ring_peek(r, 0, dst, n);
    ring_consume(r, n);
    return n;
}

uint32_t ring_move(struct ring *dst, struct ring *src, uint32_t n)
{
    if (n > src->len) n = src->len;
    if (n > ring_space(dst)) n = ring_space(dst);
    if (n == 0 || !ring_ensure(dst)) return 0;
    uint32_t done = 0;
    while (done < n) {
        /* the contiguous run at src's head */
        uint32_t run = src->cap - src->head;
        if (run > n - done) run = n - done;
        ring_write_at(dst, 0, src->buf + src->head, run);
        dst->len += run;
        ring_consume(src, run);
        done += run;
    }
    return done;
}
