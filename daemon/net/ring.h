/* A fixed-capacity byte ring, allocated lazily (an idle connection owns no buffer).
 * Used for the TCP send queue (bytes from SND.UNA on) and receive queue (in-order bytes
 * not yet read; out-of-order bytes are written past the tail without being committed). */
#ifndef MINITCP_RING_H
#define MINITCP_RING_H

#include <stdbool.h>
#include <stdint.h>

struct ring {
    uint8_t *buf; /* NULL until the first write */
    uint32_t cap, head, len;
};

static inline void ring_init(struct ring *r, uint32_t cap)
{
    r->buf = 0;
    r->cap = cap;
    r->head = 0;
    r->len = 0;
}
static inline uint32_t ring_used(const struct ring *r)
{
    return r->len;
}
static inline uint32_t ring_space(const struct ring *r)
{
    return r->cap - r->len;
}
/* Allocates the storage if needed; false on allocation failure. */
bool ring_ensure(struct ring *r);
void ring_release(struct ring *r); /* frees storage, empties the ring */
/* Copies n bytes to the free area at offset off past the tail (off + n <= space). */
void ring_write_at(struct ring *r, uint32_t off, const void *src, uint32_t n);
/* Makes n bytes past the tail part of the ring content. */
void ring_commit(struct ring *r, uint32_t n);
/* Appends up to n bytes; returns how many (0 if allocation failed). */
uint32_t ring_write(struct ring *r, const void *src, uint32_t n);
/* Copies n bytes starting at offset off of the content (off + n <= used). */
void ring_peek(const struct ring *r, uint32_t off, void *dst, uint32_t n);
void ring_consume(struct ring *r, uint32_t n);
uint32_t ring_read(struct ring *r, void *dst, uint32_t n);
/* Moves up to n bytes from src's head to dst's tail; returns how many. */
uint32_t ring_move(struct ring *dst, struct ring *src, uint32_t n);

#endif
