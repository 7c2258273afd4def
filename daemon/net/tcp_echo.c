/* The built-in TCP echo service (cfg.tcp_echo_port): a listener owned by the engine
 * that accepts every connection and sends every byte back. It is driven by the same
 * events a user would get (tcp_post routes them here instead of to cfg.event) and moves
 * bytes ring to ring. Back-pressure: only as much as the send ring takes is moved; the
 * rest stays in the receive ring, so our advertised window closes until the peer acks
 * and WRITABLE brings us back. When the peer closes and everything is echoed, we close:
 * ESTABLISHED -> CLOSE_WAIT -> LAST_ACK -> CLOSED. */
#include "tcp.h"

void tcp_echo_start(struct stack *st)
{
    struct tcb *l = tcb_new(st);
    if (!l) return;
    l->lport = st->cfg.tcp_echo_port;
    l->backlog = 1024;
    l->echo = true;
    l->lfam = TCP_LFAM_V4 | TCP_LFAM_V6;
    l->nodelay = true; /* an echo answers as it reads: no reply waits behind another */
    tcp_set_state(st, l, TCP_LISTEN);
    tcp_listener_add(st, l);
    TS(st)->echo_listener = l;
}

static void echo_pump(struct stack *st, struct tcb *t)
{
    if (t->state != TCP_ESTABLISHED && t->state != TCP_CLOSE_WAIT) return;
    if (!t->fin_queued && ring_used(&t->rcvq)) {
        tcp_rcv_consumed(st, t, ring_move(&t->sndq, &t->rcvq, ring_used(&t->rcvq)));
        if (ring_used(&t->rcvq)) tcp_want_writable(st, t); /* full or no memory: wait */
    }
    if (t->fin_rcvd && ring_used(&t->rcvq) == 0 && !t->fin_queued) {
        if (!tcp_orphan(st, t)) return; /* nothing more to echo: ours is the engine's now */
        t->fin_queued = true;
        tcp_set_state(st, t, t->state == TCP_CLOSE_WAIT ? TCP_LAST_ACK : TCP_FIN_WAIT_1);
    }
    tcp_output(st, t);
}

void tcp_echo_event(struct stack *st, struct tcb *t, unsigned ev)
{
    (void)ev;
    if (t->state == TCP_LISTEN && !t->parent) {
        while (t->acceptq.head) {
            struct tcb *c = t->acceptq.head;
            tcb_list_remove(&t->acceptq, c);
            c->parent = NULL;
            c->echo = true;
            echo_pump(st, c);
        }
        return;
    }
    echo_pump(st, t);
}
