/* The socket-id table (sock_table.h). */
#include <stdlib.h>

#include "sock_table.h"

#define FIRST_CAP 8u

static uint32_t idx_of(uint32_t id)
{
    return (id & 0xffffu) - 1; /* id 0 wraps to a huge index */
}

static void free_push(struct sock_table *t, uint32_t idx)
{
    t->e[idx].next_free = 0;
    if (t->free_tail)
        t->e[t->free_tail - 1].next_free = idx + 1;
    else
        t->free_head = idx + 1;
    t->free_tail = idx + 1;
}

static int grow(struct sock_table *t)
{
    if (t->cap >= SOCK_TABLE_MAX) return -1;
    uint32_t ncap = t->cap ? t->cap * 2 : FIRST_CAP;
    if (ncap > SOCK_TABLE_MAX) ncap = SOCK_TABLE_MAX;
    struct sock_entry *ne = realloc(t->e, ncap * sizeof *ne);
    if (!ne) return -1;
    t->e = ne;
    for (uint32_t i = t->cap; i < ncap; i++) {
        ne[i].obj = NULL;
        ne[i].gen = t->gen_base;
        free_push(t, i);
    }
    t->cap = ncap;
    return 0;
}

uint32_t sock_table_add(struct sock_table *t, void *obj, int *full)
{
    *full = t->n >= SOCK_TABLE_MAX;
    if (*full || (!t->free_head && grow(t) < 0)) return 0;
    uint32_t idx = t->free_head - 1;
    struct sock_entry *e = &t->e[idx];
    t->free_head = e->next_free;
    if (!t->free_head) t->free_tail = 0;
    if (++e->gen == 0) e->gen = 1;
    e->obj = obj;
    e->next_free = 0;
    t->n++;
    return (uint32_t)e->gen << 16 | (idx + 1);
}

void *sock_table_get(const struct sock_table *t, uint32_t id)
{
    uint32_t idx = idx_of(id);
    if (idx >= t->cap) return NULL;
    const struct sock_entry *e = &t->e[idx];
    return e->obj && e->gen == id >> 16 ? e->obj : NULL;
}

void sock_table_del(struct sock_table *t, uint32_t id)
{
    if (!sock_table_get(t, id)) return;
    uint32_t idx = idx_of(id);
    t->e[idx].obj = NULL;
    t->n--;
    if (t->n == 0) {
        /* empty: give the array back; later ids start above every generation issued, so
         * an id from before still names nothing */
        uint16_t top = t->gen_base;
        for (uint32_t i = 0; i < t->cap; i++)
            if ((uint16_t)(t->e[i].gen - t->gen_base) > (uint16_t)(top - t->gen_base))
                top = t->e[i].gen;
        free(t->e);
        t->e = NULL;
        t->cap = t->free_head = t->free_tail = 0;
        t->gen_base = top;
        return;
    }
    free_push(t, idx);
}

void sock_table_fini(struct sock_table *t)
{
    free(t->e);
    *t = (struct sock_table){0};
}
