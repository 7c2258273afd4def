/* Shared-memory rings (shm_ring.h): index arithmetic, validation and wake-up flags. Pure:
 * the memory is mapped by shm_map.c; this file only reads and writes it. */
#include "shm_ring.h"

#include <string.h>

bool shm_ring_size_ok(uint32_t size)
{
    return size >= SHM_RING_MIN && size <= SHM_RING_MAX && (size & (size - 1)) == 0;
}

void shm_ring_init(struct shm_ring *r, struct shm_ctrl *c, uint8_t *data, uint32_t size)
{
    memset(r, 0, sizeof *r);
    r->c = c;
    r->data = data;
    r->size = size;
    r->mask = size - 1;
}

/* ---- consumer ---- */

long shm_ring_avail(struct shm_ring *r)
{
    uint32_t h = atomic_load_explicit(&r->c->head, memory_order_acquire);
    uint32_t n = h - r->tail;
    if (n > r->size) return SHM_ECORRUPT;
    return (long)n;
}

int shm_ring_next(struct shm_ring *r, struct proto_msg *m, size_t *flen)
{
    long avail = shm_ring_avail(r);
    if (avail < 0) return (int)avail;
    if (avail == 0) return SHM_EAGAIN;
    /* the mirror makes [tail, tail + avail) contiguous; avail <= size, so every byte
     * decoded lies inside the 2 * size mapping */
    int rc = proto_decode(r->data + (r->tail & r->mask), (size_t)avail, m, flen);
    if (rc == PROTO_ETRUNC) return SHM_EAGAIN;
    return rc;
}

bool shm_ring_consume(struct shm_ring *r, uint32_t n)
{
    r->tail += n;
    atomic_store_explicit(&r->c->tail, r->tail, memory_order_release);
    atomic_thread_fence(memory_order_seq_cst);
    if (!atomic_load_explicit(&r->c->producer_waiting, memory_order_relaxed)) return false;
    return atomic_exchange_explicit(&r->c->producer_waiting, 0, memory_order_acq_rel) != 0;
}

bool shm_ring_consumer_sleep(struct shm_ring *r)
{
    atomic_store_explicit(&r->c->consumer_sleeping, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    uint32_t h = atomic_load_explicit(&r->c->head, memory_order_acquire);
    if (h == r->tail) return false;
    /* data (or a corrupt index, found by the next read) arrived: stay awake */
    atomic_store_explicit(&r->c->consumer_sleeping, 0, memory_order_relaxed);
    return true;
}

void shm_ring_consumer_awake(struct shm_ring *r)
{
    atomic_store_explicit(&r->c->consumer_sleeping, 0, memory_order_relaxed);
}

/* ---- producer ---- */

long shm_ring_space(struct shm_ring *r)
{
    uint32_t t = atomic_load_explicit(&r->c->tail, memory_order_acquire);
    /* the consumer can only have consumed what was published */
    uint32_t used = r->head - t;
    if (r->pub - t > r->size || used > r->size) return SHM_ECORRUPT;
    return (long)(r->size - used);
}

uint8_t *shm_ring_reserve(struct shm_ring *r, uint32_t n)
{
    long sp = shm_ring_space(r);
    if (sp < 0 || (uint32_t)sp < n) return NULL;
    return r->data + (r->head & r->mask);
}

bool shm_ring_publish(struct shm_ring *r)
{
    if (r->pub == r->head) return false;
    r->pub = r->head;
    atomic_store_explicit(&r->c->head, r->head, memory_order_release);
    atomic_thread_fence(memory_order_seq_cst);
    if (!atomic_load_explicit(&r->c->consumer_sleeping, memory_order_relaxed)) return false;
    return atomic_exchange_explicit(&r->c->consumer_sleeping, 0, memory_order_acq_rel) != 0;
}

bool shm_ring_producer_wait(struct shm_ring *r, uint32_t need)
{
    atomic_store_explicit(&r->c->producer_waiting, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    long sp = shm_ring_space(r);
    if (sp >= 0 && (uint32_t)sp < need) return false;
    atomic_store_explicit(&r->c->producer_waiting, 0, memory_order_relaxed);
    return true;
}
