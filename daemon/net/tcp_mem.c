/* TCP and the memory bound (mem.h): senders waiting for memory rather than for an ACK.
 *
 * A sender refused send space normally waits for the ACK that frees some. A send ring
 * that holds nothing has no ACK coming: when the bound refused its first bytes (or its
 * storage was freed while empty), the connection waits here until the accountant has
 * room for a minimal ring again, and is then woken with SEV_WRITABLE by stack_poll. */
#include "tcp.h"

void tcp_want_writable(struct stack *st, struct tcb *t)
{
    t->want_writable = true;
    if (t->mem_wait || ring_used(&t->sndq) > 0) return; /* an ACK will free space */
    if (ring_space_now(&t->sndq) > 0 || ring_space(&t->sndq) == 0) return;
    struct tcp_engine *ts = TS(st);
    t->mem_wait = true;
    t->mw_prev = NULL;
    t->mw_next = ts->mw_head;
    if (ts->mw_head) ts->mw_head->mw_prev = t;
    ts->mw_head = t;
    st->stats.mem_send_waits++;
}

void tcp_mem_unwait(struct stack *st, struct tcb *t)
{
    if (!t->mem_wait) return;
    struct tcp_engine *ts = TS(st);
    if (t->mw_prev)
        t->mw_prev->mw_next = t->mw_next;
    else
        ts->mw_head = t->mw_next;
    if (t->mw_next) t->mw_next->mw_prev = t->mw_prev;
    t->mw_next = t->mw_prev = NULL;
    t->mem_wait = false;
}

bool tcp_mem_waiting(struct stack *st)
{
    return TS(st)->mw_head && mem_room(&st->mem, MEM_RING_MIN);
}

void tcp_mem_wake(struct stack *st)
{
    struct tcp_engine *ts = TS(st);
    if (!tcp_mem_waiting(st)) return;
    tcp_enter(st);
    while (ts->mw_head) {
        struct tcb *t = ts->mw_head;
        tcp_mem_unwait(st, t);
        if (t->want_writable && !t->fin_queued) {
            t->want_writable = false;
            tcp_post(st, t, SEV_WRITABLE);
        }
    }
    tcp_leave(st);
}
