/* The TCP engine's internals: the transmission control block (RFC 9293 §3.3.1 names),
 * the compact TIME_WAIT entry, and the functions the tcp_*.c modules share.
 *
 *   tcp_input.c   segment arrival, RFC 9293 §3.10.7 in order (the acceptability test,
 *                 RST/SYN/ACK/text/FIN processing), RST replies for no connection
 *   tcp_options.c option parsing and building (pure)
 *   tcp_output.c  segment building (header, options, checksum), the send path
 *   tcp_timer.c   RFC 6298 retransmission, persist, delayed ACK, TIME_WAIT, the timer heap
 *   tcp_keepalive.c  RFC 1122 4.2.3.6 keepalive, the RFC 5482 user timeout's deadlines
 *   tcp_reass.c   the out-of-order store
 *   tcp_sack.c    RFC 2018 SACK options: parsing, the receiver's blocks, D-SACK (RFC 2883)
 *   tcp_sb.c      the sender's scoreboard (per-segment state fed by SACK blocks)
 *   tcp_rack.c    RACK-TLP loss detection (RFC 8985)
 *   tcp_recovery.c SACK-based recovery (RFC 6675) with PRR (RFC 6937), D-SACK undo
 *   tcp_ts.c      RFC 7323 timestamps: clock, PAWS, TS.Recent, RTT; Eifel (RFC 3522/4015)
 *   tcp_user.c    user calls, RFC 9293 §3.10.1-§3.10.6 (stack_tcp_*)
 *   tcp_table.c   TCB and TIME_WAIT hash tables, listeners, ephemeral ports, events
 *   tcp_isn.c     RFC 6528 initial sequence numbers (SipHash-2-4)
 *   tcp_synq.c    half-open passive connections (compact request entries), SYN cookies
 *                 when a SYN queue is full
 *   tcp_syncookie.c  the cookie itself (RFC 4987 §3.6): encode/validate, TS-value bits
 *   tcp_mem.c     senders waiting for the memory bound (mem.h) rather than for an ACK
 *   tcp_echo.c    the built-in echo service
 *   tcp_cc*.c     congestion control algorithms behind an operations table (tcp_cc.h)
 *   tcp_rate.c    the delivery rate (bytes/s over about a round trip)
 *   tcp_pmtu.c    path MTU discovery: ICMP fragmentation needed lowers the MSS (RFC 1191) */
#ifndef MINITCP_TCP_H
#define MINITCP_TCP_H

#include <stdbool.h>
#include <stdint.h>

#include "ring.h"
#include "seq.h"
#include "stack_internal.h"
#include "tcp_cc.h"
#include "tcp_frto.h"
#include "tcp_options.h"
#include "tcp_recovery.h"
#include "tcp_sb.h"
#include "tcp_ts.h"

#define TCP_HDR_LEN 20
#define TCP_MAX_OPT 40
#define TCP_DEFAULT_MSS 536 /* RFC 9293 §3.7.1, when the peer sends no MSS option */
#define TCP_DELACK_MS 40
#define TCP_OOO_MAX 64 /* out-of-order intervals kept per connection */

enum { TCP_LFAM_V4 = 1, TCP_LFAM_V6 = 2 }; /* a listener's families (tcb.lfam) */

enum {
    TH_FIN = 0x01,
    TH_SYN = 0x02,
    TH_RST = 0x04,
    TH_PSH = 0x08,
    TH_ACK = 0x10,
    TH_URG = 0x20,
};

/* An incoming segment, parsed and validated once (tcp_parse). */
struct tcp_seg {
    struct ip_addr src, dst; /* remote, local */
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t wnd; /* raw window field */
    const uint8_t *data;
    uint32_t len;    /* payload bytes */
    uint32_t seglen; /* len + SYN + FIN: sequence space occupied */
    struct tcp_opts opt;
};

/* The per-connection timer set (tcp_timer.c): one deadline per kind, 0 = not armed.
 * Expired kinds fire in this order. RTX, PERSIST and 2MSL exclude each other (arming
 * one stops the others: a connection retransmits, probes a closed window or waits out
 * 2*MSL, never two at once). */
enum tcp_timer_kind {
    TT_DELACK,    /* delayed ACK (RFC 1122 4.2.3.2) */
    TT_RTX,       /* retransmission (SYN, SYN-ACK, data, FIN), RFC 6298 */
    TT_PERSIST,   /* zero-window probe (RFC 9293 §3.8.6.1) */
    TT_2MSL,      /* TIME_WAIT with the TCB held by a handle; orphaned FIN_WAIT_2 reclaim */
    TT_KEEPALIVE, /* RFC 1122 4.2.3.6 */
    TT_REORDER,   /* RACK reordering window (RFC 8985 §6.2) */
    TT_TLP,       /* tail loss probe (RFC 8985 §7) */
    TT_NKINDS
};

struct tcp_ooo {
    uint32_t start, end; /* [start, end) received beyond RCV.NXT */
};

struct tcb_list {
    struct tcb *head, *tail;
    uint32_t n;
};

struct tcb {
    struct tcb *hnext; /* hash chain: connections, or listeners */
    struct ip_addr laddr, raddr;
    uint16_t lport, rport;
    enum tcp_state state;
    int handle; /* 0: no user handle (not yet accepted, closed by the user, echo) */
    int error;  /* positive errno once failed */

    /* passive open: a child belongs to its listener until accepted */
    struct tcb *parent;
    struct tcb *lnext, *lprev; /* in the parent's acceptq */
    struct tcb_list *plist;    /* the list t is on (NULL: none) */
    struct tcb_list acceptq;   /* listener only */
    uint32_t backlog;          /* listener only: bounds the accept queue and the SYN queue */
    struct tcp_req *req_head, *req_tail; /* listener only: half-open entries, oldest first */
    uint32_t nreq;

    /* pending events (delivered after the engine call returns) */
    struct tcb *ev_next;
    unsigned ev_bits;
    bool ev_queued;
    bool out_pending; /* in the engine's deferred-output list (a batch is open) */
    struct tcb *out_next;

    /* flags */
    bool in_hash, echo, passive;
    uint8_t lfam;    /* listener only: TCP_LFAM_* families it takes connections of */
    bool fin_queued; /* user shutdown/close: FIN after the queued data */
    bool fin_sent;   /* FIN transmitted at least once */
    bool fin_rcvd;   /* peer FIN processed (EOF after the ring drains) */
    bool want_writable;
    bool ack_now;
    bool persist;
    bool rtt_active;
    bool in_recovery;
    bool partial_acked; /* a partial ACK came in this recovery (RFC 6582 §3.2 step 5) */
    bool ws_ok;
    bool ooo_fin;
    bool rtt_sampled;
    bool orphan;        /* closed by its user (or the echo service) while synchronized */
    bool nodelay;       /* Nagle's algorithm off (stack_tcp_set_nodelay) */
    bool mem_wait;      /* in the engine's list of senders refused for memory */
    bool sack_ok;       /* both sides sent SACK-permitted (RFC 2018 §2) */
    bool dsack_pending; /* the next ACK reports dsack first (RFC 2883 §4) */
    bool ts_ok;         /* both SYNs carried a TSopt (RFC 7323 §3.2) */
    uint8_t eifel;      /* enum tcp_eifel: a first retransmission whose ACK is watched */
    uint8_t frto;       /* enum tcp_frto_step: F-RTO (RFC 5682) waiting for which ACK */
    bool rto_ts_on;     /* rto_ts/rto_end valid: a timeout's window is not yet acknowledged */
    struct tcb *mw_next, *mw_prev;

    /* send sequence variables (RFC 9293 §3.3.1) */
    uint32_t iss, snd_una, snd_nxt, snd_max, snd_wnd, snd_wl1, snd_wl2;
    uint32_t snd_base; /* sequence number of the first byte in sndq */
    uint32_t max_snd_wnd;
    uint32_t snd_sml; /* end of the last short segment sent (Nagle, Minshall's variant) */
    uint16_t snd_mss; /* largest payload we send */
    uint8_t snd_wscale, rcv_wscale;
    struct ring sndq;

    /* receive sequence variables */
    uint32_t irs, rcv_nxt;
    uint32_t rcv_adv; /* right edge of the window last advertised */
    uint16_t rcv_mss;
    uint8_t segs_unacked;
    struct ring rcvq;
    struct tcp_ooo *ooo; /* allocated on the first out-of-order segment */
    uint8_t n_ooo;
    uint32_t ooo_fin_seq;
    /* RFC 2018 §4: a sequence number inside each of the most recently reported out-of-order
     * blocks, the most recent first (the block holding the latest segment leads the next
     * SACK option); a duplicate to report once (RFC 2883) */
    uint32_t sack_recent[TCP_SACK_MAX];
    uint8_t n_sack_recent;
    struct tcp_sack_blk dsack;

    /* RFC 6298 */
    uint32_t rto, srtt, rttvar;     /* ms; srtt 0 = no sample yet */
    uint8_t srtt_frac, rttvar_frac; /* 1/256 ms below them (RFC 7323 appendix G's gains) */
    uint32_t rtt_seq;
    stack_time_t rtt_start;
    uint32_t retries;       /* consecutive timeouts of the current segment */
    uint32_t retransmits;   /* total, for stack_tcp_info */
    uint32_t dup_segs_rcvd; /* segments with only data we had, for stack_tcp_info */
    uint32_t persist_shift; /* probes sent since the window closed */

    /* keepalive (RFC 1122 4.2.3.6) and the user timeout (RFC 5482), tcp_keepalive.c */
    bool keepalive;           /* SO_KEEPALIVE */
    uint8_t ka_cnt;           /* probes unanswered before the abort (TCP_KEEPCNT) */
    uint8_t ka_probes;        /* sent since the peer was last heard */
    uint32_t ka_idle_ms;      /* TCP_KEEPIDLE */
    uint32_t ka_intvl_ms;     /* TCP_KEEPINTVL */
    uint32_t user_timeout;    /* ms, 0 = the retry count decides (TCP_USER_TIMEOUT) */
    stack_time_t last_rcv;    /* last acceptable segment from the peer */
    stack_time_t ut_start;    /* the user timeout's clock for unacknowledged data */
    stack_time_t probe_start; /* first zero-window probe not answered yet, 0 = none */
    stack_time_t oow_next;    /* earliest next challenge/out-of-window ACK (RFC 5961 §7) */

    /* RFC 7323 (tcp_ts.c) */
    uint32_t ts_offset;        /* our clock's offset (§5.4) */
    uint32_t ts_recent;        /* TS.Recent (§4.3) */
    uint32_t last_ack_sent;    /* Last.ACK.sent: RCV.NXT of the last ACK sent */
    uint32_t eifel_ts;         /* RetransmitTS (RFC 3522 §2), valid when eifel */
    uint32_t rto_ts, rto_end;  /* the latest timeout's TSval and SND.MAX (tcp_ts_timeout) */
    uint32_t frto_recover;     /* RFC 5682 "recover": SND.MAX at the timeout */
    uint32_t frto_cwnd;        /* cwnd before step 2b let two new segments out */
    uint32_t frto_sacked;      /* SACKed bytes below recover when step 2b sent */
    stack_time_t ts_recent_at; /* when TS.Recent was last set (the 24-day rule, §5.5) */

    /* congestion control (RFC 5681) and loss recovery (NewReno, RFC 6582). recover is
     * one past the highest sequence number sent when recovery (or an RTO) began: three
     * duplicate ACKs start a fast retransmit only once the cumulative ACK is beyond it */
    uint32_t cwnd, ssthresh, dupacks, recover;
    /* delivery rate (tcp_rate.c) */
    bool rate_open;              /* an interval is being measured */
    stack_time_t rate_t0;        /* when it opened */
    uint64_t rate_d0;            /* delivered then */
    uint64_t delivered;          /* bytes acknowledged or SACKed, in all */
    uint64_t delivery_rate;      /* bytes/s of the last interval, 0 = none yet */
    const struct tcp_cc_ops *cc; /* the algorithm that moves cwnd/ssthresh (tcp_cc.h) */
    struct tcp_cc_state cc_state;
    /* SACK agreed: the scoreboard and RACK-TLP/PRR state (tcp_recovery.h) */
    struct tcp_sb sb;
    struct tcp_rack rack;

    /* timers: a deadline per kind (0 = not armed), one heap entry per TCB keyed by the
     * earliest */
    stack_time_t tmr[TT_NKINDS], heap_key;
    uint32_t heap_idx; /* 0 = not in heap, else index + 1 */
};

/* A connection in TIME_WAIT after its user let go: 2*MSL of a few dozen bytes. */
struct tcp_tw {
    struct tcp_tw *hnext;
    struct tcp_tw *fprev, *fnext; /* FIFO by expiry (all last 2*MSL) */
    struct ip_addr laddr, raddr;
    uint16_t lport, rport;
    uint32_t snd_nxt, rcv_nxt;
    uint16_t wnd;
    bool ts_ok;                    /* timestamps: our ACKs carry them */
    uint32_t ts_offset, ts_recent; /* as in the TCB */
    stack_time_t expire;
    stack_time_t oow_next; /* as in the TCB: answers to invalid segments are rate-limited */
};

/* A half-open passive connection (SYN received, SYN-ACK sent): the handshake's state and
 * no more (no rings, no timers of a TCB). It becomes a TCB when the peer's ACK completes
 * the handshake (tcp_synq.c). */
struct tcp_req {
    struct tcp_req *hnext;         /* hash chain by 4-tuple */
    struct tcp_req *lnext, *lprev; /* the listener's list */
    struct tcb *listener;
    struct ip_addr raddr; /* the local address is ours of its family (req_laddr) */
    uint16_t lport, rport;
    uint32_t iss, irs;
    uint16_t mss;   /* the peer's MSS option, 0 = absent */
    uint16_t wnd;   /* the window our SYN-ACK advertised (unscaled) */
    int8_t snd_ws;  /* the peer's window scale, -1 = absent */
    uint8_t rcv_ws; /* the shift our SYN-ACK offered (when snd_ws >= 0) */
    uint8_t retries;
    bool sack_ok : 1;    /* the peer's SYN carried SACK-permitted (our SYN-ACK echoes it) */
    bool answered : 1;   /* an ACK was sent since the last SYN-ACK (bounds replies) */
    bool ts_ok : 1;      /* the peer's SYN carried a TSopt (and cfg.timestamps) */
    uint32_t ts_recent;  /* its TSval: TSecr of our SYN-ACKs */
    uint32_t heap_idx;   /* in the engine's request heap, index + 1 */
    uint32_t sent;       /* first SYN-ACK (low 32 bits of the ms clock), for an RTT sample
                            when never retransmitted */
    stack_time_t expire; /* next SYN-ACK retransmission (or the end) */
};

static inline struct ip_addr req_laddr(const struct stack *st, const struct tcp_req *r)
{
    return stack_local_addr(st, r->raddr);
}

struct tcp_engine {
    struct tcb **conn_tab; /* by 4-tuple */
    uint32_t conn_mask, nhashed;
    struct tcb *lst_tab[256]; /* listeners by port */
    struct tcp_tw **tw_tab;
    uint32_t tw_mask, ntw;
    struct tcp_tw *tw_head, *tw_tail;
    uint32_t ntcb; /* every TCB object */

    struct tcb **heap;
    uint32_t heap_len, heap_cap;

    struct tcb *ev_head, *ev_tail;
    int depth;
    bool flushing;
    int batch;            /* stack_batch_begin nesting: output deferred while > 0 */
    struct tcb *out_head; /* TCBs with output deferred by the batch */

    uint64_t hkey[2]; /* SipHash key for ISNs and table hashing */
    bool isn_fixed;
    uint32_t isn_value;
    uint32_t eph_next;

    uint32_t chal_budget; /* challenge ACKs left in this second (randomized, RFC 5961 §7) */
    stack_time_t chal_window;
    uint64_t chal_seq; /* input of the budget's keyed hash */
    uint32_t norphans;

    struct tcb *echo_listener;

    /* half-open entries (tcp_synq.c): hashed by 4-tuple, a min-heap by expiry */
    struct tcp_req **req_tab;
    uint32_t req_mask, nreq;
    struct tcp_req **req_heap;
    uint32_t req_heap_len, req_heap_cap;
    bool cookie_sent;    /* a SYN cookie went out at cookie_at: ACKs to listeners are checked */
    struct tcb *mw_head; /* senders refused for memory (tcp_mem.c) */
    stack_time_t cookie_at;
};

/* tcp_table.c */
uint32_t tcp_tuple_hash(const struct tcp_engine *ts, struct ip_addr laddr, uint16_t lport,
                        struct ip_addr raddr, uint16_t rport);
struct tcb *tcb_new(struct stack *st);
void tcb_free(struct stack *st, struct tcb *t); /* unhooks from everything */
void tcb_hash_insert(struct stack *st, struct tcb *t);
void tcb_hash_remove(struct stack *st, struct tcb *t);
struct tcb *tcb_lookup(struct stack *st, struct ip_addr laddr, uint16_t lport, struct ip_addr raddr,
                       uint16_t rport);
/* Any listener on port (of either family). */
struct tcb *tcp_listener_find(struct stack *st, uint16_t port);
/* The listener that takes a connection to dst:port: one whose families include dst's. */
struct tcb *tcp_listener_for(struct stack *st, struct ip_addr dst, uint16_t port);
void tcp_listener_add(struct stack *st, struct tcb *l);
void tcp_listener_remove(struct stack *st, struct tcb *l);
struct tcp_tw *tw_lookup(struct stack *st, struct ip_addr laddr, uint16_t lport,
                         struct ip_addr raddr, uint16_t rport);
void tw_enter(struct stack *st, struct tcb *t); /* converts and frees t */
void tw_free(struct stack *st, struct tcp_tw *tw);
void tw_restart(struct stack *st, struct tcp_tw *tw);
int tcp_ephemeral_port(struct stack *st, struct ip_addr raddr, uint16_t rport);
void tcb_list_push(struct tcb_list *l, struct tcb *t);
void tcb_list_remove(struct tcb_list *l, struct tcb *t);
void tcp_set_state(struct stack *st, struct tcb *t, enum tcp_state s);
/* Queues events for delivery when the outermost engine call returns. */
void tcp_post(struct stack *st, struct tcb *t, unsigned ev);
void tcp_enter(struct stack *st);
/* tcp_output now, or at stack_batch_end when a batch is open (send and close from one
 * read of client requests then share segments: the FIN rides on the last data). */
void tcp_output_soon(struct stack *st, struct tcb *t);
void tcp_leave(struct stack *st);
/* The connection is over (CLOSED): unhash; free unless a user handle still refers to it. */
void tcp_closed(struct stack *st, struct tcb *t);
/* Aborts with a positive errno: CLOSED, rings freed, SEV_ERROR. */
void tcp_abort_conn(struct stack *st, struct tcb *t, int err);
/* The user (or the echo service) let go of a synchronized connection: it counts as an
 * orphan. Over cfg.max_orphans it is reset at once (Linux: "too many orphaned sockets").
 * Returns false when t was reset (and freed). */
bool tcp_orphan(struct stack *st, struct tcb *t);
/* FIN_WAIT_2/CLOSING/TIME_WAIT entry helpers */
void tcp_enter_time_wait(struct stack *st, struct tcb *t);

/* tcp_isn.c */
uint64_t siphash24(const uint64_t key[2], const void *msg, size_t len);
uint32_t tcp_isn(struct stack *st, struct ip_addr laddr, uint16_t lport, struct ip_addr raddr,
                 uint16_t rport);

/* tcp_synq.c */
bool tcp_synq_create(struct stack *st);
void tcp_synq_destroy(struct stack *st);
/* A SYN to listener l (the LISTEN checks done): a request entry, or a SYN cookie when the
 * queue is full, or a drop. */
void tcp_synq_syn(struct stack *st, struct tcb *l, const struct tcp_seg *s, bool have_min_iss,
                  uint32_t min_iss);
struct tcp_req *tcp_req_lookup(struct stack *st, struct ip_addr laddr, uint16_t lport,
                               struct ip_addr raddr, uint16_t rport);
/* A segment for a request entry (RFC 9293 §3.10.7.4 in SYN-RECEIVED). Returns the new TCB
 * (SYN_RCVD, hashed, parent l) when the ACK completes the handshake: the caller processes
 * the segment on it as in SYN-RECEIVED. NULL: the segment was handled. */
struct tcb *tcp_req_input(struct stack *st, struct tcp_req *r, const struct tcp_seg *s);
/* A bare ACK to listener l: a TCB as above when it carries a valid SYN cookie. NULL with
 * *handled false: not a cookie (the caller answers with RST). */
struct tcb *tcp_syncookie_ack(struct stack *st, struct tcb *l, const struct tcp_seg *s,
                              bool *handled);
/* Frees l's request entries, with an RST to each peer if rst. */
void tcp_synq_flush(struct stack *st, struct tcb *l, bool rst);
void tcp_synq_poll(struct stack *st);
stack_time_t tcp_synq_deadline(struct stack *st);
void tcp_synq_foreach(struct stack *st, struct tcb *l,
                      void (*fn)(void *arg, const struct stack_conn_info *ci), void *arg);

/* tcp_syncookie.c (pure: key and time are parameters) */
#define SYNCOOKIE_PERIOD_MS 64000u /* the counter's tick; a cookie is valid for two ticks */
uint32_t tcp_syncookie_make(const uint64_t key[2], stack_time_t now, struct ip_addr laddr,
                            uint16_t lport, struct ip_addr raddr, uint16_t rport, uint32_t irs,
                            uint16_t mss);
/* The MSS the cookie iss encodes, 0 when it is not a valid cookie for this connection. */
uint16_t tcp_syncookie_check(const uint64_t key[2], stack_time_t now, struct ip_addr laddr,
                             uint16_t lport, struct ip_addr raddr, uint16_t rport, uint32_t irs,
                             uint32_t iss);
/* The largest MSS of the cookie table that is <= mss. */
uint16_t tcp_syncookie_mss(uint16_t mss);
/* For when timestamps exist: window scale (-1 = none) and SACK-permitted carried in the
 * low 6 bits of our TS value (echoed back in TSecr). The result is <= tsval. */
uint32_t tcp_syncookie_ts_encode(uint32_t tsval, int wscale, bool sack);
bool tcp_syncookie_ts_decode(uint32_t tsecr, int *wscale, bool *sack);

/* tcp_rate.c */
/* A data segment goes out now (before SND.MAX moves). */
void tcp_rate_sent(struct stack *st, struct tcb *t);
/* An ACK delivered bytes (acknowledged or SACKed), SND.UNA already moved. */
void tcp_rate_ack(struct stack *st, struct tcb *t, uint32_t delivered);

/* tcp_output.c */
void tcp_output(struct stack *st, struct tcb *t);
void tcp_send_syn(struct stack *st, struct tcb *t); /* SYN or SYN,ACK by state */
void tcp_send_ack(struct stack *st, struct tcb *t);
void tcp_send_rst(struct stack *st, struct tcb *t); /* RST,ACK from SND.NXT */
/* A segment with no TCB (RST replies, TIME_WAIT ACKs). */
void tcp_emit_bare(struct stack *st, struct ip_addr laddr, struct ip_addr raddr, uint16_t lport,
                   uint16_t rport, uint32_t seq, uint32_t ack, uint8_t flags, uint16_t wnd);
/* The same with options (a SYN-ACK from a request entry or a cookie). */
void tcp_emit_opts(struct stack *st, struct ip_addr laddr, struct ip_addr raddr, uint16_t lport,
                   uint16_t rport, uint32_t seq, uint32_t ack, uint8_t flags, uint16_t wnd,
                   const uint8_t *opt, size_t optlen);
/* A data segment [seq, seq + len) of the send ring (FIN when it ends the stream and the
 * FIN was sent), scoreboard updated. */
void tcp_send_seg(struct stack *st, struct tcb *t, uint32_t seq, uint32_t len);
/* The payload a segment may carry now (MSS less the options, RFC 6691). */
uint32_t tcp_seg_room(const struct tcb *t);
/* Retransmits len bytes (0 = one segment) of data from SND.UNA, or the FIN. */
void tcp_retransmit_first(struct stack *st, struct tcb *t);
/* Zero-window probe: one byte at SND.UNA (new data if nothing is in flight). */
void tcp_send_probe(struct stack *st, struct tcb *t);
/* Window field for the next segment; updates RCV.ADV with SWS avoidance. */
uint16_t tcp_rcv_window(struct stack *st, struct tcb *t);
uint32_t tcp_rcv_space(const struct stack *st, const struct tcb *t);
/* After the user consumed n bytes of receive data: window update at once if that read
 * opened the window enough. */
void tcp_rcv_consumed(struct stack *st, struct tcb *t, uint32_t n);
void tcp_rtt_sample(struct stack *st, struct tcb *t, uint32_t rtt);
/* Linux's tcp_invalid_ratelimit: one challenge or out-of-window ACK per connection per
 * 500 ms. */
#define TCP_OOW_INTERVAL_MS 500
/* RFC 5961 challenge ACK: per-connection limit, then a randomized global one. */
bool tcp_challenge_ack(struct stack *st, struct tcb *t);
/* The ACK answering an unacceptable segment s: always for segments with data (a
 * retransmission whose ACK was lost), else rate-limited per connection. */
bool tcp_oow_ack(struct stack *st, struct tcb *t, bool data);
/* The rate limiter itself: true (and *next moved on) when an answer may go now. */
bool tcp_oow_allowed(struct stack *st, stack_time_t *next);
void tcp_flags_str(uint8_t flags, char *buf);

/* tcp_mem.c */
/* A sender waits for send space: SEV_WRITABLE when an ACK frees some, or, when nothing is
 * queued to be acknowledged, when the memory bound allows the send ring to grow again. */
void tcp_want_writable(struct stack *st, struct tcb *t);
void tcp_mem_unwait(struct stack *st, struct tcb *t);

/* tcp_timer.c */
void tcp_timer_update(struct stack *st, struct tcb *t); /* re-keys t in the heap */
void tcp_timer_remove(struct stack *st, struct tcb *t);
/* Arms kind at absolute time at (> 0) / stops it; both re-key t. */
void tcp_timer_set(struct stack *st, struct tcb *t, enum tcp_timer_kind kind, stack_time_t at);
void tcp_timer_clear(struct stack *st, struct tcb *t, enum tcp_timer_kind kind);
void tcp_timer_clear_all(struct stack *st, struct tcb *t);
static inline bool tcp_timer_armed(const struct tcb *t, enum tcp_timer_kind kind)
{
    return t->tmr[kind] != 0;
}
/* 2*MSL from now (TIME_WAIT, or the orphaned FIN_WAIT_2 reclaim): stops RTX and PERSIST. */
void tcp_2msl_start(struct stack *st, struct tcb *t);
void tcp_rtx_arm(struct stack *st, struct tcb *t);     /* if not running */
void tcp_rtx_restart(struct stack *st, struct tcb *t); /* now + RTO */
void tcp_rtx_stop(struct stack *st, struct tcb *t);
void tcp_persist_enter(struct stack *st, struct tcb *t);
/* RFC 9293 §3.8.6.1: a zero send window with bytes beyond SND.UNA (in flight or not)
 * is probed by the persist timer, never retransmitted by the RTO timer. */
void tcp_persist_check(struct stack *st, struct tcb *t);
void tcp_delack_arm(struct stack *st, struct tcb *t);

/* tcp_keepalive.c */
#define TCP_KEEPIDLE_DEFAULT_MS 7200000u /* RFC 1122: no less than two hours */
#define TCP_KEEPINTVL_DEFAULT_MS 75000u
#define TCP_KEEPCNT_DEFAULT 9u
/* (Re)arms the keepalive timer when the option is on and the connection synchronized,
 * else stops it: fresh (turned on, or ESTABLISHED reached) an idle time from now with no
 * probe counted, else (the idle time changed) an idle time after the peer was last heard. */
void tcp_keepalive_start(struct stack *st, struct tcb *t, bool fresh);
/* TT_KEEPALIVE expired (already disarmed). Returns false when t is gone. */
bool tcp_keepalive_timeout(struct stack *st, struct tcb *t);
/* The RFC 5482 deadline that caps a retransmission (now + rto) or a zero-window probe
 * timer, started at start; the later of at and now + 1 when it already passed. */
stack_time_t tcp_user_timeout_cap(const struct stack *st, const struct tcb *t, stack_time_t at,
                                  stack_time_t start);
/* True when the user timeout running since start has expired. */
bool tcp_user_timeout_expired(const struct stack *st, const struct tcb *t, stack_time_t start);
/* Keepalive probe: SEG.SEQ = SND.NXT - 1, no data (tcp_output.c). */
void tcp_send_keepalive(struct stack *st, struct tcb *t);

/* tcp_reass.c */
/* Stores an out-of-order segment; false when dropped (store full, no memory). */
bool tcp_reass_store(struct stack *st, struct tcb *t, uint32_t seq, const uint8_t *data,
                     uint32_t len, bool fin);
/* After RCV.NXT advanced: commits contiguous stored bytes; returns bytes spliced.
 * Sets *fin when a stored FIN became in-order. */
uint32_t tcp_reass_splice(struct tcb *t, bool *fin);
void tcp_reass_free(struct tcb *t);

/* tcp_sack.c */
/* A SACK option's bytes (kind 5, olen bytes from opt): blocks into s. A malformed option
 * (length not 2 + 8n, n of 1..4) is ignored and counted. */
/* Option bytes the next non-SYN segment of t carries for SACK (0 when none). */
size_t tcp_sack_optlen(const struct tcb *t, size_t room);
/* Writes the SACK option (NOP, NOP, kind 5, blocks) into opt within room bytes; returns
 * its length. The D-SACK block, if any, is reported once. */
size_t tcp_sack_build(struct tcb *t, uint8_t *opt, size_t room);
/* The receiver stored [seq, end) out of order: its block leads the next SACK option. */
void tcp_sack_note_ooo(struct tcb *t, uint32_t seq, uint32_t end);
/* The receiver got [seq, end) a second time: a D-SACK block for the next ACK. */
void tcp_sack_note_dup(struct stack *st, struct tcb *t, uint32_t seq, uint32_t end);

/* tcp_pmtu.c */
#define TCP_PMTU_MIN 552 /* path MTU floor (Linux min_pmtu): MSS 512 */
/* The MTU to assume when a router reports none (RFC 1191 §7): the plateau below tot_len. */
uint16_t tcp_pmtu_guess(uint16_t tot_len);
/* Lowers t's MSS to mss and sends what is in flight again at that size. */
void tcp_pmtu_set_mss(struct stack *st, struct tcb *t, uint16_t mss);

/* tcp_echo.c */
void tcp_echo_start(struct stack *st);
void tcp_echo_event(struct stack *st, struct tcb *t, unsigned ev);

/* tcp_user.c */
void tcp_user_close_tcb(struct stack *st, struct tcb *t); /* close without a handle */

/* Test hook: every ISN chosen from now on is isn (also used by the fuzz target). */
void tcp_test_set_isn(struct stack *st, uint32_t isn);

static inline struct tcp_engine *TS(struct stack *st)
{
    return st->tcp;
}

#endif
