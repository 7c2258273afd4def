/* Keepalive (RFC 1122 4.2.3.6) and the user timeout's deadlines (RFC 5482).
 *
 * Keepalive is off unless the user turns it on (SO_KEEPALIVE). When on, a connection that
 * has heard nothing acceptable from its peer for ka_idle_ms, and has nothing of its own
 * outstanding, sends a probe; unanswered probes follow every ka_intvl_ms, and after ka_cnt
 * of them the connection is reset and fails with ETIMEDOUT: at idle + cnt * intvl after
 * the peer was last heard (Linux's TCP_KEEPIDLE/KEEPINTVL/KEEPCNT, 7200 s, 75 s, 9).
 *
 * The probe carries SEG.SEQ = SND.NXT - 1 and no data. The RFC's SHOULD; a byte the peer
 * has already acknowledged is outside its window, so it answers with an ACK of its own
 * RCV.NXT. The one-garbage-byte form is for peers that ignore an empty out-of-window
 * segment, which no stack we talk to does; it would also cost the peer a duplicate
 * (a D-SACK with SACK) and us a byte we no longer hold.
 *
 * The timer is lazy: an arriving segment only records the time (tcb.last_rcv, in
 * tcp_input.c), and the timer, when it expires, re-arms itself at last_rcv + idle when
 * the peer was heard since, so a busy connection never touches the heap for keepalive.
 *
 * The user timeout (TCP_USER_TIMEOUT, in ms) bounds how long transmitted data may stay
 * unacknowledged (tcp_timer.c's rtx_timeout: instead of the retry count) and how long
 * zero-window probes may go unanswered (persist_timeout, on top of the count), as Linux.
 * Its clock for data (tcb.ut_start) starts when data is sent with nothing outstanding and
 * restarts whenever an ACK moves SND.UNA: the send ring keeps no per-segment send times,
 * so "unacknowledged for" means "without progress for", at most one round trip later
 * than the oldest byte's own age. The timers are capped at the deadline so the abort
 * comes at it exactly. With keepalive on, a set user timeout replaces ka_cnt: the
 * connection is reset at the first keepalive expiry, at least one probe unanswered, once
 * the peer has been silent for the user timeout (Linux's rule). */
#include <errno.h>

#include "tcp.h"

static bool ka_state(enum tcp_state s)
{
    switch (s) {
    case TCP_ESTABLISHED:
    case TCP_CLOSE_WAIT:
    case TCP_FIN_WAIT_1:
    case TCP_FIN_WAIT_2:
    case TCP_CLOSING:
    case TCP_LAST_ACK:
        return true;
    default:
        return false;
    }
}

void tcp_keepalive_start(struct stack *st, struct tcb *t, bool fresh)
{
    if (!t->keepalive || !ka_state(t->state)) {
        t->ka_probes = 0;
        tcp_timer_clear(st, t, TT_KEEPALIVE);
        return;
    }
    stack_time_t at = st->now + t->ka_idle_ms;
    if (fresh)
        t->ka_probes = 0;
    else
        at = t->last_rcv + t->ka_idle_ms > st->now ? t->last_rcv + t->ka_idle_ms : st->now + 1;
    tcp_timer_set(st, t, TT_KEEPALIVE, at);
}

bool tcp_keepalive_timeout(struct stack *st, struct tcb *t)
{
    if (!t->keepalive || !ka_state(t->state)) return true; /* not armed again */
    if (t->snd_una != t->snd_max || ring_used(&t->sndq) || t->persist) {
        /* data or a FIN outstanding: the retransmission and persist timers watch the
         * peer; look again an idle time later */
        t->ka_probes = 0;
        t->tmr[TT_KEEPALIVE] = st->now + t->ka_idle_ms;
        return true;
    }
    stack_time_t silent = st->now - t->last_rcv;
    if (silent < t->ka_idle_ms) {
        t->tmr[TT_KEEPALIVE] = t->last_rcv + t->ka_idle_ms; /* heard since: idle again */
        return true;
    }
    bool dead =
        t->user_timeout ? t->ka_probes > 0 && silent >= t->user_timeout : t->ka_probes >= t->ka_cnt;
    if (dead) {
        TRACE(st, "[TCP ] keepalive: no answer to %u probes in %llums: reset", t->ka_probes,
              (unsigned long long)silent);
        st->stats.tcp_keepalive_drops++;
        tcp_send_rst(st, t); /* the peer may be alive with its answers lost: let it know */
        bool keep = t->handle > 0;
        tcp_abort_conn(st, t, ETIMEDOUT);
        return keep;
    }
    t->ka_probes++;
    st->stats.tcp_keepalive_probes++;
    TRACE(st, "[TCP ] keepalive probe %u seq=%u", t->ka_probes, t->snd_nxt - 1);
    tcp_send_keepalive(st, t);
    t->tmr[TT_KEEPALIVE] = st->now + t->ka_intvl_ms;
    return true;
}

stack_time_t tcp_user_timeout_cap(const struct stack *st, const struct tcb *t, stack_time_t at,
                                  stack_time_t start)
{
    if (!t->user_timeout) return at;
    stack_time_t end = start + t->user_timeout;
    if (end <= st->now) end = st->now + 1;
    return end < at ? end : at;
}

bool tcp_user_timeout_expired(const struct stack *st, const struct tcb *t, stack_time_t start)
{
    return t->user_timeout && st->now - start >= t->user_timeout;
}
