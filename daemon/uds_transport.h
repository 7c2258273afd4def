/* The Unix-socket client transport: the listener of minitcpd, one session per connected
 * client process, framed reads and buffered writes with back-pressure. Frames are handed
 * to the socket service (sock_service.h) or the control queries (control.h). */
#ifndef MINITCP_UDS_TRANSPORT_H
#define MINITCP_UDS_TRANSPORT_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "access.h"
#include "capture.h"
#include "frames.h"
#include "sock_service.h"

#define OUT_SOFT (1024u * 1024u) /* output bytes beyond which a session stops pulling */

/* Lists of sessions kept by the server, so that no loop walks every session. */
enum { SL_READY, SL_DIRTY, SL_COUNT };
struct sess_list {
    struct session *first, *last;
    unsigned n;
};

struct session {
    struct server *srv;
    struct sock_service *svc;
    int fd;
    ev_io rio, wio;
    ev_timer trim; /* gives idle buffers back */
    pid_t pid;
    uid_t uid;
    gid_t gid;
    unsigned rights;         /* ACCESS_* (access.h), decided when it connected */
    struct access_uid *acct; /* its uid's counts */
    uint8_t *in;             /* grows from IN_MIN to two whole frames, freed when idle */
    size_t in_len, in_cap;
    uint8_t *out; /* grows as needed, freed when idle */
    size_t out_off, out_len, out_cap;
    bool paused;                /* not served: its output is over OUT_SOFT */
    void *job;                  /* a control query in progress (control.c), served in steps */
    struct capture_reader *cap; /* a live capture it reads (capture.c) */
    struct client_socks socks;
    struct shm_chan *shm; /* shared rings (shm_transport.h), NULL: frames on the socket */
    int rx_fd[3];         /* fds received (SCM_RIGHTS) for a shared-ring offer */
    unsigned n_rx_fd;
    struct session *next, *prev; /* every session */
    struct session *lnext[SL_COUNT], *lprev[SL_COUNT];
    bool on[SL_COUNT];
};

struct server {
    struct daemon *d;
    int lfd;
    ev_io lio;
    ev_prepare prep;
    ev_idle spin; /* active while sessions wait on the ready list: the loop polls, not sleeps */
    char *path;
    struct session *sessions;
    unsigned nsessions;
    unsigned max_clients, max_per_uid;
    struct sess_list lists[SL_COUNT];    /* SL_READY: frames or a query left after a slice;
                                            SL_DIRTY: output written since the last flush */
    struct access_policy policy;         /* who may do what (access.h) */
    struct access_table acl;             /* per-uid counts */
    struct capture_hub cap;              /* live capture readers */
    uint64_t refused_total, refused_uid; /* clients refused at the limits */
    uint64_t slices_yielded;             /* slices that ended on the budget (tests) */
    uint64_t shm_sessions, shm_errors;   /* sessions switched to shared rings; closed for
                                            breaking them */
    struct sock_service svc;
};

/* Output: reserve room for n bytes, write them, then out_commit what was written (at most
 * n). With shared rings the room is in the ring; out_pending counts only the overflow. */
size_t out_pending(const struct session *ss);
bool out_room(const struct session *ss);
uint8_t *out_reserve(struct session *ss, size_t n);
void out_commit(struct session *ss, size_t n);
/* Queues a small control frame. */
void out_msg(struct session *ss, const struct proto_msg *m);
/* Answers a request (nothing when it carries no request id). */
void reply(struct session *ss, const struct proto_hdr *req, uint32_t sock_id, int err,
           uint32_t val0, uint32_t val1);

/* For the transports plugged into a session (shm_transport.c). */
void session_close(struct session *ss, const char *why);
int session_serve(struct session *ss);
long session_flush(struct session *ss);

#endif
