/* The socket-id table of one client session: socket ids -> objects, grown on demand.
 *
 * An id is (generation << 16) | (index + 1): never 0, and an id whose socket was closed
 * stops naming anything even after its index is reused (the generation moved on). Free
 * indexes are reused first in, first out, so one busy index does not run through its
 * 16-bit generations. The entry array doubles when full (8 .. SOCK_TABLE_MAX) and is
 * given back when the table empties. Pure: no stack, no I/O (tests/unit/test_sock_table.c). */
#ifndef MINITCP_SOCK_TABLE_H
#define MINITCP_SOCK_TABLE_H

#include <stdint.h>

#define SOCK_TABLE_MAX 16384u /* sockets per client: a server app may hold 10k+ connections */

struct sock_entry {
    void *obj;          /* NULL = free */
    uint32_t next_free; /* index + 1 of the next free entry, 0 = none */
    uint16_t gen;
};

struct sock_table {
    struct sock_entry *e;
    uint32_t cap, n;
    uint32_t free_head, free_tail; /* index + 1, 0 = empty */
    uint16_t gen_base;             /* generations restart above this after a reset */
};

/* Stores obj (not NULL) under a new id. Returns the id, or 0 when the table holds
 * SOCK_TABLE_MAX objects or memory ran out (*full tells which). */
uint32_t sock_table_add(struct sock_table *t, void *obj, int *full);
/* The object named by id, or NULL (never issued, freed, or a stale generation). */
void *sock_table_get(const struct sock_table *t, uint32_t id);
/* Frees id's entry (nothing when id names nothing). */
void sock_table_del(struct sock_table *t, uint32_t id);
/* Bytes of entry array held (for the memory figures). */
static inline uint32_t sock_table_bytes(const struct sock_table *t)
{
    return t->cap * (uint32_t)sizeof *t->e;
}
void sock_table_fini(struct sock_table *t);

#endif
