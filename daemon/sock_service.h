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

struct daemon;
struct session;

#define MAX_SOCKS_PER_CLIENT 16384 /* a server app must be able to hold 10k+ connections */

enum role { R_NEW, R_LISTEN, R_CONN, R_UDP };

struct ssock {
    struct session *sess;
    uint32_t id;
    int handle; /* stack handle, 0 = none */
    uint8_t kind;
    uint8_t role;
    uint16_t lport;
    uint16_t slot;       /* index in the session's slot table */
    uint16_t bound_port; /* port taken by an explicit bind (counted in svc->port_refs) */
    uint32_t snd_cap;    /* send space when connected: scales the credit threshold */
    bool connecting, eof_sent, err_sent, linger0;
    bool close_pending, shut_pending, shut_done;
    bool blocked; /* stopped for lack of output room */
    unsigned pending_ev;
    struct credit_sender rcv_credit; /* what we may push: bytes, datagram costs, accepts */
    uint32_t snd_credit;             /* send credit the client holds */
    uint8_t *pend;                   /* bytes the stack did not take yet */
    size_t pend_len, pend_cap;
    struct ssock *hnext;         /* handle hash chain */
    struct ssock *wnext, *wprev; /* work list */
    bool in_work;
};

/* The sockets of one client session. */
struct sock_table {
    struct ssock *slots[MAX_SOCKS_PER_CLIENT];
    uint16_t gens[MAX_SOCKS_PER_CLIENT];
    unsigned nsocks;
    unsigned free_hint; /* no free slot below this index */
    bool any_blocked;
    bool accept_starved; /* a listener stopped at the socket limit */
};

/* Daemon-wide state of the service. */
struct sock_service {
    struct daemon *d;
    struct ssock **htab; /* stack handle -> socket */
    size_t hcap, hcount;
    struct ssock *work_head, *work_tail;
    uint64_t visits;     /* sockets worked on by svc_run: O(events), for tests */
    uint16_t *port_refs; /* per port: client sockets bound to it (bind's EADDRINUSE) */
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
