/* F-RTO (RFC 5682): after a timeout, new data tells whether the timeout was spurious
 * before more of the old window is sent again (tcp_frto.c). */
#ifndef MINITCP_TCP_FRTO_H
#define MINITCP_TCP_FRTO_H
#include <stdint.h>

struct stack;
struct tcb;

enum tcp_frto_step {
    TCP_FRTO_NONE = 0,
    TCP_FRTO_STEP2, /* the first retransmission went: waiting for its ACK */
    TCP_FRTO_STEP3, /* two new segments went: the next ACK decides */
};

/* The retransmission timer expired (before cwnd is reduced, before recover moves): a
 * timeout outside any recovery starts F-RTO; one during F-RTO ends it, and one during a
 * recovery (RTO or fast) does not start it: conventional recovery (RFC 5682 step 1). */
void tcp_frto_rto(struct stack *st, struct tcb *t);
/* Every ACK while F-RTO runs, after the ACK was processed; una = SND.UNA before it. */
void tcp_frto_ack(struct stack *st, struct tcb *t, uint32_t una);

/* A D-SACK undid the timeout (tcp_recovery.c's undo_check): F-RTO ends there, once. */
void tcp_frto_undone(struct tcb *t);

#endif
