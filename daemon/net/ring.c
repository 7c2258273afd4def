#include "ring.h"

#include <stdlib.h>
#include <string.h>

#include "mem.h"

void ring_init(struct ring *r, uint32_t cap, struct mem_acct *mem)
{
    memset(r, 0, sizeof *r);
    r->cap = cap;
    r->mem = mem;
}

void ring_set_group(struct ring *r, struct mem_group *g)
{
    if (r->grp) r->grp->used -= r->size;
    r->grp = g;
    if (g) g->used += r->size;
}

static bool group_full(const struct ring *r)
{
    return r->grp && r->grp->used >= r->grp->max;
}

static void note_busy(struct ring *r)
{
    if (r->idle) mem_ring_busy(r->mem, r);
}

static void note_maybe_idle(struct ring *r)
{
    if (r->mem && r->buf && r->len == 0 && r->ahead == 0 && !r->idle) mem_ring_idle(r->mem, r);
}

uint32_t ring_limit(const struct ring *r)
{
    if ((!r->mem || !r->mem->pressure) && !group_full(r)) return r->cap;
    uint32_t floor = r->cap < MEM_RING_MIN ? r->cap : MEM_RING_MIN;
    return r->size > floor ? r->size : floor;
}

/* The most the ring could grow to now: its limit, within the accountant's headroom. */
static uint32_t reachable(const struct ring *r, uint32_t lim)
{
    if (lim <= r->size || (!r->mem && !r->grp)) return lim;
    uint64_t head = UINT64_MAX;
    if (r->mem) head = r->mem->used < r->mem->max ? r->mem->max - r->mem->used : 0;
    if (r->grp) {
        uint64_t g = r->grp->used < r->grp->max ? r->grp->max - r->grp->used : 0;
        /* the floor stays reachable, as under pressure */
        uint64_t floor = r->cap < MEM_RING_MIN ? r->cap : MEM_RING_MIN;
        if (r->size + g < floor) g = floor - r->size;
        if (g < head) head = g;
    }
    return (uint64_t)lim - r->size > head ? r->size + (uint32_t)head : lim;
}

uint32_t ring_space_now(const struct ring *r)
{
    uint32_t lim = reachable(r, ring_limit(r));
    return lim > r->len ? lim - r->len : 0;
}

uint32_t ring_offer(const struct ring *r)
{
    uint32_t now = ring_space_now(r);
    uint32_t held = r->size > r->len + r->ahead ? r->size - r->len - r->ahead : 0;
    uint32_t step = r->size > MEM_RING_MIN ? r->size : MEM_RING_MIN;
    return now < held + step ? now : held + step;
}

void ring_release(struct ring *r)
{
    note_busy(r);
    if (r->buf) {
        free(r->buf);
        if (r->mem) mem_uncharge(r->mem, r->size);
        if (r->grp) r->grp->used -= r->size;
    }
    r->buf = NULL;
    r->size = 0;
    r->head = 0;
    r->len = 0;
    r->ahead = 0;
}

static uint32_t ring_pos(const struct ring *r, uint32_t off)
{
    /* head < size and off < size, so one subtraction suffices (no overflow: size < 2^31) */
    uint32_t p = r->head + off;
    return p >= r->size ? p - r->size : p;
}

/* Copies n bytes from offset off of the stored area (content and bytes ahead). */
static void copy_out(const struct ring *r, uint32_t off, void *dst, uint32_t n)
{
    if (n == 0) return;
    uint32_t p = ring_pos(r, off);
    uint32_t first = r->size - p;
    if (first > n) first = n;
    memcpy(dst, r->buf + p, first);
    if (n > first) memcpy((uint8_t *)dst + first, r->buf, n - first);
}

bool ring_reserve(struct ring *r, uint32_t need, bool forced)
{
    if (need <= r->size) return true;
    uint32_t limit = forced || !r->mem ? r->cap : ring_limit(r);
    if (need > limit) {
        if (r->mem) r->mem->stats->mem_refusals++;
        if (!forced && group_full(r)) r->grp->refusals++;
        return false;
    }
    uint32_t n = r->size ? r->size : MEM_RING_MIN;
    while (n < need)
        n = n > limit / 2 ? limit : n * 2;
    if (n > limit) n = limit;
    /* near the bound, a step short of the doubling still holds what is needed */
    uint32_t fit = reachable(r, n);
    if (fit < n && fit >= need) n = fit;
    if (!forced && fit < need && r->grp && r->grp->used + (n - r->size) > r->grp->max) {
        /* beyond the owner's share: refused as under pressure (the floor always fits) */
        r->grp->refusals++;
        if (r->mem) r->mem->stats->mem_refusals++;
        return false;
    }
    if (r->mem && !mem_charge(r->mem, (uint64_t)n - r->size)) return false;
    uint8_t *nb = malloc(n);
    if (!nb) {
        if (r->mem) {
            mem_uncharge(r->mem, (uint64_t)n - r->size);
            r->mem->stats->mem_refusals++;
        }
        return false;
    }
    if (r->buf) {
        /* the content and any out-of-order bytes past it, straightened at offset 0 */
        copy_out(r, 0, nb, r->len + r->ahead);
        free(r->buf); /* its size stays charged: the charge above was the difference */
    }
    if (r->grp) r->grp->used += n - r->size;
    r->buf = nb;
    r->size = n;
    r->head = 0;
    return true;
}

void ring_write_at(struct ring *r, uint32_t off, const void *src, uint32_t n)
{
    if (n == 0) return;
    uint32_t p = ring_pos(r, r->len + off);
    uint32_t first = r->size - p;
    if (first > n) first = n;
    memcpy(r->buf + p, src, first);
    if (n > first) memcpy(r->buf, (const uint8_t *)src + first, n - first);
    if (off + n > r->ahead) r->ahead = off + n;
    note_busy(r);
}

void ring_commit(struct ring *r, uint32_t n)
{
    r->len += n;
    r->ahead = r->ahead > n ? r->ahead - n : 0;
    if (n) note_busy(r);
}

void ring_drop_ahead(struct ring *r)
{
    r->ahead = 0;
    note_maybe_idle(r);
}

uint32_t ring_write(struct ring *r, const void *src, uint32_t n)
{
    uint32_t space = ring_space(r);
    if (n > space) n = space;
    if (n == 0) return 0;
    if (!ring_reserve(r, r->len + r->ahead + n, false)) {
        /* take what fits: grow as far as allowed */
        uint32_t lim = reachable(r, ring_limit(r));
        if (lim > r->size) ring_reserve(r, lim, false);
        uint32_t room = r->size - r->len - r->ahead;
        if (n > room) n = room;
        if (n == 0) return 0;
    }
    ring_write_at(r, 0, src, n);
    ring_commit(r, n);
    return n;
}

void ring_peek(const struct ring *r, uint32_t off, void *dst, uint32_t n)
{
    copy_out(r, off, dst, n);
}

void ring_consume(struct ring *r, uint32_t n)
{
    if (n > r->len) n = r->len;
    if (n == 0) return;
    r->head = ring_pos(r, n);
    r->len -= n;
    /* head is not reset when empty: out-of-order bytes may sit past the tail */
    note_maybe_idle(r);
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
    uint32_t done = 0;
    while (done < n) {
        /* the contiguous run at src's head */
        uint32_t run = src->size - src->head;
        if (run > n - done) run = n - done;
        uint32_t w = ring_write(dst, src->buf + src->head, run);
        ring_consume(src, w);
        done += w;
        if (w < run) break;
    }
    return done;
}
