/* RFC 7323 timestamps and what is built on them (tcp_ts.c):
 *
 *   tcp_ts_offset / tcp_ts_val   §5.4 the clock: 1 ms ticks of the stack's time plus a keyed
 *                                per-connection offset, so TSval reveals neither uptime nor
 *                                which connections share a host (§7.1)
 *   tcp_ts_negotiate             §3.2 both SYNs carried a TSopt
 *   tcp_ts_build                 §3.2 NOP NOP TSopt on every segment once agreed
 *   tcp_ts_check                 §3.2 a segment without TSopt, §5.3 R1 PAWS (RST exempt,
 *                                the 24-day idle rule)
 *   tcp_ts_tw_syn_ok             RFC 6191: a SYN with a later TSval reopens TIME_WAIT
 *   tcp_ts_tw_paws               §5.3 R1 in a compact TIME_WAIT entry
 *   tcp_ts_update_recent         §4.3 TS.Recent from SEG.TSval when SEG.SEQ <= Last.ACK.sent
 *   tcp_ts_ack                   §4.1-4.2 RTT from TSecr on every ACK that advances SND.UNA
 *                                (retransmissions included), weighted per appendix G;
 *                                Eifel detection (RFC 3522) and response (RFC 4015)
 *   tcp_ts_eifel_arm             the first retransmission's TSval (RetransmitTS)
 *   tcp_ts_timeout               a timeout: Eifel armed on the first; the TSval of each kept,
 *                                so an ACK echoing an earlier one gives no RTT sample */
#ifndef MINITCP_TCP_TS_H
#define MINITCP_TCP_TS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stack_internal.h"

struct tcb;
struct tcp_seg;

/* RFC 7323 §5.5: TS.Recent older than this is invalid (a long idle connection). */
#define TCP_TS_PAWS_IDLE_MS (24ull * 24 * 3600 * 1000)

enum tcp_eifel { TCP_EIFEL_NONE, TCP_EIFEL_RTO, TCP_EIFEL_FR };

/* The keyed per-connection offset of the timestamp clock. */
uint32_t tcp_ts_offset(const uint64_t key[2], struct ip_addr laddr, uint16_t lport,
                       struct ip_addr raddr, uint16_t rport);
/* TSval at time now (ms) for a connection with offset off. */
static inline uint32_t tcp_ts_val(stack_time_t now, uint32_t off)
{
    return (uint32_t)now + off;
}

/* A SYN (or SYN,ACK) s was received by t, which offered timestamps iff offered: sets
 * t->ts_ok, TS.Recent and Last.ACK.sent. */
void tcp_ts_negotiate(struct stack *st, struct tcb *t, const struct tcp_seg *s, bool offered);
/* The NOP NOP TSopt of a non-SYN segment of t (TCPOLEN_TS_ALIGNED bytes), 0 if not agreed. */
size_t tcp_ts_build(struct stack *st, const struct tcb *t, uint8_t *opt);
/* The timestamp checks a segment of a synchronized connection passes before the
 * acceptability test. false: dropped (and counted; PAWS answered with an ACK). */
bool tcp_ts_check(struct stack *st, struct tcb *t, const struct tcp_seg *s);
/* RFC 6191: may SYN s reopen a TIME_WAIT connection whose timestamps were ts_ok, with
 * TS.Recent ts_recent and RCV.NXT rcv_nxt? (Without timestamps on both, RFC 1122
 * 4.2.2.13: a sequence number beyond RCV.NXT.) */
bool tcp_ts_tw_syn_ok(const struct stack *st, bool ts_ok, uint32_t ts_recent, uint32_t rcv_nxt,
                      const struct tcp_seg *s);
/* §5.3 R1 for a compact TIME_WAIT entry: false (and counted) when s is an old duplicate. */
bool tcp_ts_tw_paws(struct stack *st, bool ts_ok, uint32_t ts_recent, const struct tcp_seg *s);
/* After the acceptability test: TS.Recent (§4.3). */
void tcp_ts_update_recent(struct stack *st, struct tcb *t, const struct tcp_seg *s);
/* An ACK s advances SND.UNA (not yet moved) of a connection with timestamps: Eifel
 * detection and response, then the RTT sample. Returns the sample in ms (0 = none) for
 * congestion control; *undone when a spurious retransmission was undone (cwnd restored:
 * no growth on this ACK). */
uint32_t tcp_ts_ack(struct stack *st, struct tcb *t, const struct tcp_seg *s, uint32_t flight,
                    bool *undone);
/* A first retransmission (RTO or fast retransmit) goes out now: remember its TSval. */
void tcp_ts_eifel_arm(struct stack *st, struct tcb *t, enum tcp_eifel kind);
/* The retransmission timer expired (data, before the retransmission goes). */
void tcp_ts_timeout(struct stack *st, struct tcb *t);

#endif
