/* The MiniTCP stack core: sans-I/O.
 *
 * The core never reads a clock, a socket or a file. It is handed IP packets and the
 * current time, and it hands back packets to send (cfg.output), socket events
 * (cfg.event) and trace lines (cfg.trace). Tests drive it with crafted packets in
 * virtual time; the daemon wires it to a TUN device and a monotonic clock.
 *
 * Sockets are named by handles: positive ints, never 0, not reused soon after release.
 * Every function returning int/long returns a negative errno value on error. */
#ifndef MINITCP_STACK_H
#define MINITCP_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ip_addr.h"
#include "stats.h"

typedef uint64_t stack_time_t; /* milliseconds on a monotonic clock */
#define STACK_TIME_NEVER UINT64_MAX

/* Socket events, passed as a bit set to cfg.event. */
enum {
    SEV_READABLE = 1u << 0,  /* data (or EOF) can be read with stack_tcp_recv/recvfrom */
    SEV_WRITABLE = 1u << 1,  /* send space became available */
    SEV_ACCEPT = 1u << 2,    /* a listener has a connection ready for stack_tcp_accept */
    SEV_CONNECTED = 1u << 3, /* an active open reached ESTABLISHED */
    SEV_PEER_FIN = 1u << 4,  /* the peer closed its side: recv returns 0 after the data */
    SEV_ERROR = 1u << 5,     /* the connection failed: stack_sock_error tells why */
};
/* No event says a handle is gone: only its owner releases one (close, abort, udp_close),
 * and it knows then. The connection may live on in the engine without a handle. */

/* Congestion control algorithms (cfg.cc, stack_tcp_set_cc). */
enum { STACK_CC_NEWRENO = 0, STACK_CC_CUBIC = 1 };

/* What the link is told about a packet the core hands out (cfg.output_meta). */
struct stack_tx_meta {
    bool csum_partial;    /* the L4 checksum field holds the pseudo-header sum only: the
                             link sums from csum_start to the end (cfg.tx_offload, TCP) */
    uint16_t csum_start;  /* from the start of the IP header */
    uint16_t csum_offset; /* of the field, from csum_start */
    uint16_t gso_size;    /* > 0: a TCP super-packet of segs segments of gso_size payload
                             bytes (the last may be shorter), for the link to cut (TSO) */
    uint16_t segs;
    uint16_t hdr_len; /* IP + TCP header bytes of a super-packet */
};
/* What the link says about a packet it hands in (stack_input_meta). */
struct stack_rx_meta {
    bool csum_ok;      /* the L4 checksum was validated, or never computed because the
                          packet never crossed a wire (a partial checksum): not checked */
    uint16_t gso_size; /* > 0: a super-packet of segments of this payload (trace, stats) */
};

struct stack_config {
    uint32_t addr;          /* our IPv4 address, host byte order */
    uint8_t addr6[16];      /* our IPv6 address (network order), when has_addr6 */
    bool has_addr6;         /* else IPv6 packets are dropped as ip_drop_version */
    uint16_t mtu;           /* of the link; TCP MSS = mtu - 40 */
    uint16_t udp_echo_port; /* built-in UDP echo service, 0 = off */
    uint16_t tcp_echo_port; /* built-in TCP echo service, 0 = off */

    /* TCP tunables (defaults from stack_config_defaults) */
    uint32_t msl_ms;              /* TIME_WAIT lasts 2*MSL; default 30000 */
    uint32_t rto_initial_ms;      /* RFC 6298 initial RTO; default 1000 */
    uint32_t rto_min_ms;          /* floor of a measured RTO; default 200 (as Linux) */
    uint32_t rto_max_ms;          /* backoff cap; default 60000 */
    uint32_t max_retries;         /* data retransmissions before ETIMEDOUT; default 15 */
    uint32_t syn_retries;         /* SYN / SYN-ACK retransmissions; default 6 */
    uint32_t rcv_buf;             /* per-connection receive ring, bytes; default 262144 */
    uint32_t snd_buf;             /* per-connection send ring, bytes; default 262144 */
    uint32_t max_conns;           /* all TCBs except TIME_WAIT; default 65536 */
    uint32_t time_wait_max;       /* TIME_WAIT entries; default 32768 */
    uint32_t challenge_ack_limit; /* global, per second, randomized (limit/2 + rand(limit));
                                     0 = none; default 1000. Per connection: one per 500 ms */
    uint32_t max_orphans;         /* connections closed by their user, still open; default
                                     max_conns / 4: beyond, a closing connection is reset */
    uint32_t orphan_retries;      /* an orphan's retransmissions or zero-window probes before
                                     it is aborted; default 8 (Linux tcp_orphan_retries) */
    uint32_t syn_queue_max;       /* half-open entries of all listeners; default 4096 */
    uint32_t syncookies;          /* 0 never, 1 when a SYN queue is full (default), 2 always */
    bool sack;                    /* offer/accept SACK (RFC 2018); default true */
    bool timestamps;              /* offer/accept timestamps (RFC 7323); default true */
    bool frto;                    /* F-RTO after a timeout (RFC 5682); default true */
    uint32_t cc;                  /* congestion control of new connections (STACK_CC_*);
                                     default STACK_CC_CUBIC */
    uint64_t mem_max;             /* bytes of socket buffers in all; default 1 GiB (mem.h) */
    uint64_t frag_mem_max;        /* bytes of IPv4 reassembly, one source 1/4; 4 MiB */
    uint32_t frag_timeout_ms;     /* reassembly timeout; default 30000 (ip_frag.h) */
    uint8_t isn_secret[16];       /* RFC 6528 key; the daemon fills it from getrandom() */

    /* TCP segmentation and checksum offload: TCP checksums are left partial, and
     * segments that go out back to back in one send burst, each a full MSS but the
     * last, are handed out as one super-packet (every TCP mechanism still counts
     * MSS-sized segments; they are merged only on the way out). Needs output_meta. */
    bool tx_offload;

    void (*output)(void *ctx, const uint8_t *pkt, size_t len);
    /* When set, called instead of output for every packet, with what the link needs. */
    void (*output_meta)(void *ctx, const uint8_t *pkt, size_t len, const struct stack_tx_meta *m);
    void (*event)(void *ctx, int handle, unsigned events);
    void (*trace)(void *ctx, const char *line); /* NULL: tracing off */
    void *ctx;
};

struct stack;

void stack_config_defaults(struct stack_config *cfg);
struct stack *stack_new(const struct stack_config *cfg);
void stack_free(struct stack *st);

/* One IP packet read from the link. Never retains pkt. */
void stack_input(struct stack *st, const uint8_t *pkt, size_t len, stack_time_t now);
/* The same with what the link says about it (checksum validated, GSO); m may be NULL. */
void stack_input_meta(struct stack *st, const uint8_t *pkt, size_t len, stack_time_t now,
                      const struct stack_rx_meta *m);
/* Turns cfg.tx_offload off (or on again), e.g. when the link refuses a super-packet. */
void stack_set_tx_offload(struct stack *st, bool on);
/* Runs every timer due at or before now. */
void stack_poll(struct stack *st, stack_time_t now);
/* Earliest time stack_poll has work to do, STACK_TIME_NEVER if none. */
stack_time_t stack_next_deadline(struct stack *st);
const struct stack_stats *stack_stats(const struct stack *st);
/* cfg.cc: the congestion control of connections that choose none (STACK_CC_*). */
unsigned stack_default_cc(const struct stack *st);
/* True once each time buffer memory fell back after pressure or a large release: the
 * caller may hand free heap memory back to the system (malloc_trim). */
bool stack_mem_trim_due(struct stack *st, stack_time_t now);

/* A batch of user calls: segments that sends and closes inside it would produce are
 * built at stack_batch_end instead, so data queued by several calls and a FIN share
 * segments. Batches nest; nothing else is deferred. */
void stack_batch_begin(struct stack *st);
void stack_batch_end(struct stack *st, stack_time_t now);

/* ---- TCP user calls (RFC 9293 §3.10.1-§3.10.6) ---- */
/* Address families a listener takes (stack_tcp_listen_fam): an IPv6 socket is both
 * unless it is V6ONLY, as on Linux. */
enum { STACK_FAM_V4 = 1, STACK_FAM_V6 = 2 };
int stack_tcp_listen(struct stack *st, uint16_t port, int backlog); /* IPv4 only */
/* -EADDRINUSE when a listener on port takes one of the families already,
 * -EADDRNOTAVAIL for IPv6 without an IPv6 address. */
int stack_tcp_listen_fam(struct stack *st, uint16_t port, int backlog, unsigned fams);
int stack_tcp_accept(struct stack *st, int listener); /* -EAGAIN when none ready */
/* Active open; lport 0 picks an ephemeral port. Completion: SEV_CONNECTED or SEV_ERROR. */
int stack_tcp_connect(struct stack *st, uint32_t raddr, uint16_t rport, uint16_t lport,
                      stack_time_t now);
/* The same to an address of either family (IPv6: -ENETUNREACH without cfg.has_addr6). */
int stack_tcp_connect_addr(struct stack *st, struct ip_addr raddr, uint16_t rport, uint16_t lport,
                           stack_time_t now);
/* Queues up to len bytes; returns bytes taken (>0), -EAGAIN when the send ring is full,
 * -EPIPE after shutdown/close or peer reset, -ENOTCONN before the handshake completes is
 * NOT an error: data may be queued in SYN_SENT/SYN_RCVD and goes out once established. */
long stack_tcp_send(struct stack *st, int h, const void *buf, size_t len, stack_time_t now);
/* Returns bytes read, 0 at EOF (peer FIN and no data left), -EAGAIN when empty,
 * -ECONNRESET / -ETIMEDOUT / -ECONNREFUSED after a failure. */
long stack_tcp_recv(struct stack *st, int h, void *buf, size_t len, stack_time_t now);
size_t stack_tcp_recv_avail(struct stack *st, int h);
/* Send space to offer now: what the send ring holds free plus at most one doubling, within
 * the memory bound (so a writer's credit grows with use and stays close to memory held). */
size_t stack_tcp_send_space(struct stack *st, int h);
/* Asks for one SEV_WRITABLE when an ACK next frees send space, so a caller waiting for
 * space needs no polling (a send that is refused or cut short asks by itself). */
void stack_tcp_notify_writable(struct stack *st, int h);
/* Half-close: FIN after the queued data; receiving goes on. */
int stack_tcp_shutdown(struct stack *st, int h, stack_time_t now);
/* Releases the handle. The connection closes gracefully (FIN after queued data) in the
 * engine, or is reset when received data was left unread (RFC 9293 §3.10.4, as Linux). */
int stack_tcp_close(struct stack *st, int h, stack_time_t now);
/* Releases the handle and sends RST (RFC 9293 §3.10.5 ABORT). */
int stack_tcp_abort(struct stack *st, int h, stack_time_t now);
/* Pending error as a positive errno (0 if none). */
int stack_sock_error(struct stack *st, int h);
/* The congestion control of connection or listener h (STACK_CC_*; a listener's
 * connections inherit it). -EINVAL for an unknown algorithm, -EBADF. */
int stack_tcp_set_cc(struct stack *st, int h, unsigned cc);
/* Nagle's algorithm (RFC 1122 4.2.3.4) off (on = true) or on again, for connection or
 * listener h; turning it off sends what it held back. -EBADF. */
int stack_tcp_set_nodelay(struct stack *st, int h, bool on);
/* Charges the connection's buffers to an owner's share as well (mem.h struct mem_group;
 * NULL detaches them). On a listener, the connections it creates are charged from their
 * first window on (its own rings hold nothing). The caller keeps g alive until it
 * detaches, or until the handle is aborted or, a listener, closed (its unaccepted
 * connections are reset then). -EBADF for an unknown handle. */
struct mem_group;
int stack_tcp_set_mem_group(struct stack *st, int h, struct mem_group *g);
/* Keepalive (RFC 1122 4.2.3.6) and the user timeout (RFC 5482) of connection or listener
 * h (a listener's connections inherit them), as Linux's socket options of the same
 * names. Keepalive is off by default; when on, a connection idle for KEEPIDLE seconds
 * (default 7200) sends a probe, then one every KEEPINTVL (75) while unanswered, and is
 * reset with ETIMEDOUT after KEEPCNT (9) of them. USER_TIMEOUT (ms, 0 = the retry count
 * decides) aborts with ETIMEDOUT when sent data stays unacknowledged, or zero-window
 * probes unanswered, that long; with keepalive on it replaces KEEPCNT. */
enum stack_tcp_opt {
    STACK_TCP_KEEPALIVE,    /* 0 off, 1 on */
    STACK_TCP_KEEPIDLE,     /* seconds, 1..STACK_KEEP_TIME_MAX */
    STACK_TCP_KEEPINTVL,    /* seconds, 1..STACK_KEEP_TIME_MAX */
    STACK_TCP_KEEPCNT,      /* 1..STACK_KEEPCNT_MAX */
    STACK_TCP_USER_TIMEOUT, /* ms, 0..STACK_USER_TIMEOUT_MAX */
};
#define STACK_KEEP_TIME_MAX 32767u /* Linux's MAX_TCP_KEEPIDLE and MAX_TCP_KEEPINTVL */
#define STACK_KEEPCNT_MAX 127u     /* Linux's MAX_TCP_KEEPCNT */
#define STACK_USER_TIMEOUT_MAX 2147483647u
/* Whether value is in range for opt (the check stack_tcp_setopt makes). */
bool stack_tcp_opt_valid(enum stack_tcp_opt opt, uint32_t value);
/* -EINVAL (unknown opt, value out of range), -EBADF. */
int stack_tcp_setopt(struct stack *st, int h, enum stack_tcp_opt opt, uint32_t value,
                     stack_time_t now);
int stack_tcp_getopt(struct stack *st, int h, enum stack_tcp_opt opt, uint32_t *value);
/* The name of algorithm cc ("newreno", "cubic"), NULL when unknown; and back (-1). */
const char *stack_cc_name(unsigned cc);
int stack_cc_by_name(const char *name);

enum tcp_state {
    TCP_CLOSED,
    TCP_LISTEN,
    TCP_SYN_SENT,
    TCP_SYN_RCVD,
    TCP_ESTABLISHED,
    TCP_FIN_WAIT_1,
    TCP_FIN_WAIT_2,
    TCP_CLOSE_WAIT,
    TCP_CLOSING,
    TCP_LAST_ACK,
    TCP_TIME_WAIT,
};
const char *tcp_state_name(enum tcp_state s);

struct stack_conn_info {
    int handle; /* 0 when the user already released it (closing, TIME_WAIT) */
    enum tcp_state state;
    struct ip_addr laddr, raddr; /* a listener of both families: the IPv4 address */
    uint16_t lport, rport;
    uint32_t snd_una, snd_nxt, snd_wnd, rcv_nxt, rcv_wnd;
    uint32_t send_queue, recv_queue; /* bytes */
    uint32_t rto_ms, srtt_ms;
    uint32_t retransmits;
    uint32_t cwnd, ssthresh; /* bytes; ssthresh UINT32_MAX until the first loss */
    /* what `ss -ti` shows (issue 11). Filled where the mechanism lives; fields whose
     * mechanism has not landed yet stay 0/false. */
    char cc[16];            /* congestion control name ("newreno"; helper C: from the ops) */
    uint32_t rttvar_ms;     /* RFC 6298 RTTVAR */
    uint32_t in_flight;     /* bytes sent, not cumulatively acknowledged: SND.NXT - SND.UNA
                               (helper B: minus SACKed, plus lost retransmitted, RFC 6675 pipe) */
    uint32_t sacked;        /* bytes above SND.UNA the peer SACKed (helper B: scoreboard) */
    uint32_t lost;          /* bytes marked lost, not yet retransmitted (helper B: RACK) */
    uint32_t reord_seen;    /* reordering events seen (helper B: RACK/D-SACK) */
    uint32_t dup_segs_rcvd; /* segments received with only data we already had */
    uint64_t delivery_rate; /* bytes/s acknowledged over the last round trip (0 = no sample) */
    bool sack_ok, ts_ok;    /* negotiated (helper B: SACK-permitted; RFC 7323 timestamps) */
    bool ws_ok;             /* window scaling negotiated (RFC 7323 section 2) */
    uint8_t snd_wscale, rcv_wscale; /* shift applied to the peer's windows / to ours */
};
int stack_tcp_info(struct stack *st, int h, struct stack_conn_info *out);
/* Calls fn for every TCB, listeners and TIME_WAIT included. */
void stack_tcp_foreach(struct stack *st, void (*fn)(void *arg, const struct stack_conn_info *ci),
                       void *arg);
/* The same walk in steps, for a listing that must not stop the world: resumes at *c
 * (zeroed to start), stops after the bucket that reaches max_entries listed or after
 * max_buckets buckets visited, and returns true when the walk is complete. Entries that
 * move between steps (a table grew, a connection changed state) may be missed or listed
 * twice, as in a netlink dump. */
struct stack_list_cursor {
    uint32_t phase, idx;
};
bool stack_tcp_list(struct stack *st, struct stack_list_cursor *c, size_t max_entries,
                    size_t max_buckets, void (*fn)(void *arg, const struct stack_conn_info *ci),
                    void *arg);

/* ---- UDP user calls ---- */
int stack_udp_bind(struct stack *st, uint16_t port); /* port 0 = ephemeral; IPv4 only */
/* The same for families fams (STACK_FAM_*; IPv6 needs cfg.has_addr6: -EADDRNOTAVAIL). */
int stack_udp_bind_fam(struct stack *st, uint16_t port, unsigned fams);
/* To an address of either family: -EAFNOSUPPORT for IPv6 from a socket without it,
 * -ENETUNREACH for IPv4 from an IPv6-only one. */
long stack_udp_sendto_addr(struct stack *st, int h, struct ip_addr raddr, uint16_t rport,
                           const void *buf, size_t len);
/* As stack_udp_recvfrom, with the sender's address of either family. */
long stack_udp_recvfrom_addr(struct stack *st, int h, void *buf, size_t len, struct ip_addr *raddr,
                             uint16_t *rport);
long stack_udp_sendto(struct stack *st, int h, uint32_t raddr, uint16_t rport, const void *buf,
                      size_t len);
/* Returns the bytes copied (the datagram, truncated to len), -EAGAIN when none is queued. */
long stack_udp_recvfrom(struct stack *st, int h, void *buf, size_t len, uint32_t *raddr,
                        uint16_t *rport);
int stack_udp_close(struct stack *st, int h);
int stack_udp_port(struct stack *st, int h); /* the bound port, or -EBADF */

#endif
