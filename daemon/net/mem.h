/* The stack's memory accountant: every byte of buffer the core holds for data (TCP send
 * and receive rings, queued UDP datagrams) is charged here against one bound, mem_max,
 * in the manner of Linux's tcp_mem:
 *
 *   normal    used <= 3/4 max after leaving pressure below 1/2 max: rings grow as
 *             their data needs, up to their connection's buffer size.
 *   pressure  entered above 3/4 max, left below 1/2 max: no ring grows past what it has
 *             (or MEM_RING_MIN), so receive windows shrink to the memory already held
 *             and send space to the room left in the send ring; empty rings are freed at
 *             the next poll (due at once) instead of after MEM_IDLE_MS.
 *   hard      a charge that would pass max is refused: nothing new is allocated.
 *
 * Data the stack has accepted (ACKed, or taken from the user) is never dropped for
 * memory: the bound is enforced by refusing, i.e. advertising less window and giving the
 * user less send space. Growth to store data inside a window already advertised is
 * "forced": it ignores pressure and is refused only at the hard bound (the segment is
 * then dropped unacknowledged, and the peer sends it again). */
#ifndef MINITCP_MEM_H
#define MINITCP_MEM_H

#include <stdbool.h>
#include <stdint.h>

#include "stats.h"

#define MEM_RING_MIN 4096u         /* a ring's first allocation; it doubles from there */
#define MEM_IDLE_MS 1000u          /* an empty ring is freed after this long unused */
#define MEM_TRIM_BYTES (64u << 20) /* a fall in use (or max/16) worth a malloc_trim */
#define MEM_TRIM_MS 1000u          /* at most one trim a second */

struct ring;

/* A share of the bound held by one owner (minitcpd: one client uid, --max-buffered-per-uid).
 * Its rings are charged here as well as to the accountant; once used reaches max they
 * behave as under pressure (no growth past what they hold, or MEM_RING_MIN), so the
 * owner's windows and send space shrink while other owners' do not. Forced growth (data
 * inside a window already advertised) is never refused for a group: max may be passed by
 * that and by each ring's MEM_RING_MIN floor. */
struct mem_group {
    uint64_t used, max;
    uint64_t refusals; /* growth refused at max */
};

struct mem_acct {
    uint64_t used, max;
    uint64_t enter_pressure, leave_pressure; /* 3/4 and 1/2 of max */
    bool pressure;
    bool trim_wanted;          /* pressure ended, or much was freed, since the last trim */
    bool trim_ready;           /* ... and MEM_TRIM_MS passed since: mem_trim_due says yes */
    uint64_t hwm;              /* the most used since the last trim */
    uint64_t last_trim;        /* time of the last trim (ms) */
    struct stack_stats *stats; /* mem_* gauges and counters */
    const uint64_t *now;       /* the stack's current time (ms) */
    struct ring *idle_head, *idle_tail; /* empty rings holding storage, oldest first */
};

void mem_init(struct mem_acct *m, uint64_t max, struct stack_stats *stats, const uint64_t *now);
/* Charges n bytes; false (counted as a refusal) when that would pass max. */
bool mem_charge(struct mem_acct *m, uint64_t n);
void mem_uncharge(struct mem_acct *m, uint64_t n);
/* True when an allocation of n bytes would be accepted now. */
bool mem_room(const struct mem_acct *m, uint64_t n);

/* Idle rings (ring.c calls these as a ring empties or fills). */
void mem_ring_idle(struct mem_acct *m, struct ring *r);
void mem_ring_busy(struct mem_acct *m, struct ring *r);
/* Frees the storage of rings idle long enough (all of them under pressure). */
void mem_poll(struct mem_acct *m, uint64_t now);
/* When mem_poll has work, UINT64_MAX if never. */
uint64_t mem_deadline(const struct mem_acct *m);
/* True once per occasion to give freed memory back to the system (malloc_trim). */
bool mem_trim_due(struct mem_acct *m, uint64_t now);

#endif
