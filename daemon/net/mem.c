/* The memory accountant (mem.h). */
#include "mem.h"

#include <stddef.h>

#include "ring.h"

void mem_init(struct mem_acct *m, uint64_t max, struct stack_stats *stats, const uint64_t *now)
{
    *m = (struct mem_acct){.max = max, .stats = stats, .now = now};
    m->enter_pressure = max / 4 * 3;
    m->leave_pressure = max / 2;
    stats->mem_max = max;
}

static void update_state(struct mem_acct *m)
{
    struct stack_stats *s = m->stats;
    s->mem_used = m->used;
    if (m->used > s->mem_peak) s->mem_peak = m->used;
    if (m->used > m->hwm) m->hwm = m->used;
    if (!m->pressure && m->used > m->enter_pressure) {
        m->pressure = true;
        s->mem_pressure = 1;
        s->mem_pressure_events++;
    } else if (m->pressure && m->used < m->leave_pressure) {
        m->pressure = false;
        s->mem_pressure = 0;
        m->trim_wanted = true; /* what the attack left in the heap can go back */
    }
    /* a large fall (connections gone): hand the freed heap back too */
    uint64_t fall = m->max / 16 < MEM_TRIM_BYTES ? m->max / 16 : MEM_TRIM_BYTES;
    if (m->hwm - m->used >= fall && m->used <= m->hwm / 2) m->trim_wanted = true;
}

bool mem_room(const struct mem_acct *m, uint64_t n)
{
    return m->used + n <= m->max;
}

bool mem_charge(struct mem_acct *m, uint64_t n)
{
    if (!mem_room(m, n)) {
        m->stats->mem_refusals++;
        return false;
    }
    m->used += n;
    update_state(m);
    return true;
}

void mem_uncharge(struct mem_acct *m, uint64_t n)
{
    m->used = n > m->used ? 0 : m->used - n;
    update_state(m);
}

void mem_ring_idle(struct mem_acct *m, struct ring *r)
{
    r->idle = true;
    r->idle_since = *m->now;
    r->inext = NULL;
    r->iprev = m->idle_tail;
    if (m->idle_tail)
        m->idle_tail->inext = r;
    else
        m->idle_head = r;
    m->idle_tail = r;
}

void mem_ring_busy(struct mem_acct *m, struct ring *r)
{
    if (!r->idle) return;
    if (r->iprev)
        r->iprev->inext = r->inext;
    else
        m->idle_head = r->inext;
    if (r->inext)
        r->inext->iprev = r->iprev;
    else
        m->idle_tail = r->iprev;
    r->iprev = r->inext = NULL;
    r->idle = false;
}

static uint64_t idle_expiry(const struct mem_acct *m, const struct ring *r)
{
    return m->pressure ? r->idle_since : r->idle_since + MEM_IDLE_MS;
}

void mem_poll(struct mem_acct *m, uint64_t now)
{
    /* the list is in the order rings emptied, so the oldest expire first */
    while (m->idle_head && idle_expiry(m, m->idle_head) <= now) {
        m->stats->mem_rings_freed++;
        ring_release(m->idle_head); /* unlinks it */
    }
    if (m->trim_wanted && now >= m->last_trim + MEM_TRIM_MS) {
        m->trim_wanted = false;
        m->trim_ready = true;
    }
}

uint64_t mem_deadline(const struct mem_acct *m)
{
    /* Idle rings are freed on time only under pressure; otherwise whenever the stack's
     * timers run anyway: an idle stack keeps no timer armed for them, and what they hold
     * is bounded, as pressure begins at 3/4 of the bound. */
    uint64_t d = m->idle_head && m->pressure ? m->idle_head->idle_since : UINT64_MAX;
    if (m->trim_wanted && m->last_trim + MEM_TRIM_MS < d) d = m->last_trim + MEM_TRIM_MS;
    return d;
}

bool mem_trim_due(struct mem_acct *m, uint64_t now)
{
    if (!m->trim_ready) return false;
    m->trim_ready = false;
    m->last_trim = now;
    m->hwm = m->used;
    m->stats->mem_trims++;
    return true;
}
