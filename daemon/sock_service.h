/* The socket service: the sockets a client holds (struct ssock), their stack handles, the
 * flow-control credits, and the translation of stack events into pushed frames. It is
 * transport-neutral: it sees a client only as a struct session with an output buffer
 * (uds_transport.h) and never touches a file descriptor. */
#ifndef MINITCP_SOCK_SERVICE_H
#define MINITCP_SOCK_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "credit.h"
#include "frames.h"
#include "sock_table.h"

struct daemon;
struct session;

#define MAX_SOCKS_PER_CLIENT SOCK_TABLE_MAX

enum role { R_NEW, R_LISTEN, R_CONN, R_UDP };

struct ssock {
    struct session *sess;
    uint32_t id;
    int handle; /* stack handle, 0 = none */
    uint8_t kind;
    uint8_t role;
    uint16_t lport;
    uint16_t bound_port; /* port taken by an explicit bind (counted in svc->port_refs) */
    uint32_t snd_cap;    /* send space when connected: scales the credit threshold */
    bool connecting, eof_sent, err_sent, linger0;
    bool nodelay; /* PROTO_OPT_NODELAY, applied to the stack handle once there is one */
    int8_t cc;    /* PROTO_OPT_CONGESTION (STACK_CC_*), -1 = the daemon's default */
    /* PROTO_OPT_KEEPALIVE .. PROTO_OPT_USER_TIMEOUT as for nodelay; 0 = not set (the
     * stack's default) */
    bool keepalive;
    uint8_t keepcnt;
    uint16_t keepidle, keepintvl; /* seconds */
    uint32_t user_timeout;        /* ms */
    bool close_pending, shut_pending, shut_done;
    uint8_t waitq; /* on the session's wait list: WQ_BLOCKED or WQ_STARVED */
    unsigned pending_ev;
    struct credit_sender rcv_credit; /* what we may push: bytes, datagram costs, accepts */
    uint32_t snd_credit;             /* send credit the client holds */
    uint8_t *pend;                   /* bytes the stack did not take yet */
    size_t pend_len, pend_cap;
    struct ssock *hnext;         /* handle hash chain */
    struct ssock *wnext, *wprev; /* work list */
    bool in_work;
    struct ssock *lnext, *lprev; /* the session's live sockets */
    struct ssock *qnext, *qprev; /* the session's wait list */
    uint32_t udp_pos;            /* index + 1 in svc->udp (a UDP socket with a handle) */
};

enum { WQ_NONE, WQ_BLOCKED, WQ_STARVED };

/* The sockets of one client session: the id table and lists of live sockets, so that
 * nothing walks the table (docs/architecture.md "Client sessions"). */
struct client_socks {
    struct sock_table tab;
    struct ssock *live;    /* every socket */
    struct ssock *waiting; /* stopped for output room (WQ_BLOCKED) or, listeners, at the
                              socket limit (WQ_STARVED) */
    unsigned nstarved;
};

/* Daemon-wide state of the service. */
struct sock_service {
    struct daemon *d;
    struct ssock **htab; /* stack handle -> socket */
    size_t hcap, hcount;
    struct ssock *work_head, *work_tail;
    uint64_t visits;     /* sockets worked on by svc_run: O(events), for tests */
    uint16_t *port_refs; /* per port: client sockets bound to it (bind's EADDRINUSE) */
    struct ssock **udp;  /* UDP sockets with a stack handle (LIST_CONNS) */
    uint32_t nudp, udp_cap;
};

int svc_init(struct sock_service *svc, struct daemon *d);
void svc_fini(struct sock_service *svc);

/* Handles a socket request or data frame (everything but the control queries). Returns -1
 * with *why set when the client broke the protocol and must be disconnected. */
int svc_frame(struct session *ss, const struct proto_msg *m, const char **why);

/* Runs the queued socket work (sockets with an event or a request, never a scan). */
void svc_run(struct sock_service *svc);
bool svc_has_work(const struct sock_service *svc);

/* The session's output buffer has room again: sockets stopped for lack of it resume. */
void svc_output_room(struct session *ss);

/* The client is gone: its sockets are released as the kernel does at process exit. */
void svc_session_closed(struct session *ss);

/* The socket that owns a stack handle, or NULL. */
struct ssock *svc_find(struct sock_service *svc, int handle);

#endif
