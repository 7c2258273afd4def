/* Loss detection and recovery when SACK is agreed (NewReno, RFC 6582, stays in tcp_input.c
 * for peers without it):
 *
 *   tcp_rack.c      RFC 8985 RACK-TLP: the time-based loss detector (RACK.xmit_ts/end_seq,
 *                   the reordering window, the REORDER timer) and tail loss probes (the
 *                   TLP timer, the probe, TLP loss detection)
 *   tcp_recovery.c  the ACK hook (scoreboard update, counters, reneging), RFC 6675 recovery
 *                   (pipe, NextSeg, rescue retransmission) with PRR (RFC 6937, PRR-SSRB)
 *                   for the rate, D-SACK undo of a spurious fast retransmit, the RTO's
 *                   scoreboard treatment */
#ifndef MINITCP_TCP_RECOVERY_H
#define MINITCP_TCP_RECOVERY_H

#include <stdbool.h>
#include <stdint.h>

#include "tcp_sb.h"

struct stack;
struct tcb;
struct tcp_seg;

#define TCP_DUPTHRESH 3
#define TCP_BURST_MAX 64     /* segments one tcp_output call may send (issue 11 item 6) */
#define TCP_TLP_WCDELACK 200 /* RFC 8985 §7.2 WCDelAckT, ms */
#define TCP_TLP_MIN_PTO 10   /* floor of 2*SRTT: a 1 ms path would probe before any ACK */
#define TCP_REO_PERSIST 16   /* recoveries a widened reordering window is kept (§6.2) */

/* RFC 8985 state and the recovery's bookkeeping, in the TCB. Times in ms. */
struct tcp_rack {
    uint64_t xmit_ts; /* RACK.xmit_ts: send time of the most recently sent segment delivered */
    uint32_t end_seq; /* RACK.end_seq */
    uint32_t rtt;     /* RACK.rtt: the RTT of that delivery */
    uint32_t min_rtt; /* the smallest RACK RTT seen (valid when have_rtt) */
    uint32_t fack;    /* RACK.fack: highest sequence delivered (ACKed or SACKed) + 1 */
    uint32_t
        dsack_round; /* RACK.dsack_round: widen at most once per round (valid: dsack_round_on) */
    uint32_t reord_events; /* reordering seen (stack_conn_info.reord_seen) */
    uint8_t reo_wnd_mult, reo_wnd_persist;
    bool valid; /* something was delivered since the last timeout */
    bool have_rtt, fack_valid, dsack_round_on;
    bool reordering_seen; /* RACK.reordering_seen */
    bool xmit_rexmit;     /* RACK.xmit_ts is a retransmission's */
    bool rto_recovery;    /* after a timeout, until SND.UNA reaches recover */
    /* TLP (§7) */
    bool tlp_out;     /* a probe is outstanding (TLP.end_seq valid) */
    bool tlp_retrans; /* TLP.is_retrans */
    bool tlp_rearm;   /* new data sent or acknowledged: the PTO restarts */
    uint32_t tlp_end; /* TLP.end_seq */
    /* PRR (RFC 6937) */
    uint32_t prr_delivered, prr_out, recover_fs;
    bool rescue_done; /* RFC 6675 NextSeg rule 4: once per recovery */
    /* undo of a spurious fast retransmit or timeout (RFC 2883 §6, as RFC 3708): every
     * retransmission since it, for data in [undo_marker, undo_end), reported back by a
     * D-SACK */
    bool undo_ok, undo_rto;
    uint32_t undo_marker, undo_end, undo_retrans;
};

/* tcp_rack.c */
/* A segment newly ACKed or SACKed (RFC 8985 §6.2 steps 1-3). */
/* tsecr: the ACK's TSecr, 0 = none. */
void tcp_rack_delivered(struct tcb *t, const struct tcp_sb_seg *e, uint64_t now, uint32_t tsecr);
/* A D-SACK or Eifel proved the retransmissions spurious: forget a reference taken from
 * one of them. */
void tcp_rack_undo(struct tcb *t);
/* The reordering window, ms (§6.2 step 4). */
uint32_t tcp_rack_reo_wnd(const struct tcb *t);
/* §6.2 step 4's adaptation on a D-SACK / at the end of a recovery. */
void tcp_rack_update_reo_wnd(struct tcb *t, bool dsack, bool recovery_ended);
/* §6.2 step 5: marks lost what was sent before the RACK segment and is overdue; arms or
 * stops the REORDER timer. Returns the segments newly marked. */
uint32_t tcp_rack_detect(struct stack *st, struct tcb *t);
/* The REORDER timer fired (§6.3). Returns false when t is gone. */
bool tcp_rack_timeout(struct stack *st, struct tcb *t);
/* §7.2: arms (or restarts, or stops) the PTO as the state allows. */
void tcp_tlp_arm(struct stack *st, struct tcb *t);
/* The PTO fired: the probe (§7.3). */
void tcp_tlp_fire(struct stack *st, struct tcb *t);
/* §7.4 on an ACK: was the probe's segment lost? */
void tcp_tlp_ack(struct stack *st, struct tcb *t, uint32_t ack, bool dsack_probe, bool sacked);
/* The PTO for the current flight, ms (before the cap by the RTO deadline). */
uint32_t tcp_tlp_pto(const struct tcb *t);

/* tcp_recovery.c */
/* Every ACK (SACK agreed), after SND.UNA moved: scoreboard, RACK, recovery, TLP. */
void tcp_recovery_ack(struct stack *st, struct tcb *t, const struct tcp_seg *s);
/* A data segment [seq, seq + len) went out (new or again): the scoreboard, PRR. */
void tcp_recovery_sent(struct stack *st, struct tcb *t, uint32_t seq, uint32_t len);
/* Retransmissions chosen by NextSeg (RFC 6675 §4) while pipe < cwnd; returns segments
 * sent (at most max). */
uint32_t tcp_recovery_output(struct stack *st, struct tcb *t, uint32_t max);
/* The retransmission timer fired (SACK agreed), before the first segment is resent.
 * True: the scoreboard covers the flight and marks it all lost (resent by
 * tcp_recovery_output); false: it was forgotten, the caller goes back N. */
bool tcp_recovery_rto(struct stack *st, struct tcb *t);
/* A spurious fast retransmit or timeout was undone (D-SACK, Eifel, F-RTO): recovery ends
 * without a reduction, nothing is lost, a new loss may start a new recovery. */
void tcp_recovery_undone(struct tcb *t);
/* RACK marked segments lost: recovery begins if it may (RFC 6675 §5 with PRR). */
void tcp_recovery_loss(struct stack *st, struct tcb *t, uint32_t delivered);
/* pipe (RFC 6675 §4) of t. */
uint32_t tcp_pipe(const struct tcb *t);

#endif
