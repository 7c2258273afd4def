/* libminitcp-client internals, shared by its modules (not installed):
 *   transport.c  the connection to minitcpd: framing, batching, waits, requests
 *   socktable.c  descriptors, id map, receive rings, credit return, pushed frames
 *   socket.c     calls common to both kinds (socket, bind, close, options, names)
 *   stream.c     stream calls; dgram.c: datagram calls; poll.c: readiness and poll
 *   shm.c        the shared-ring transport, used instead of the socket when the daemon agrees
 * Every name here is hidden from the shared library's exports. */
#ifndef MINITCP_CLIENT_INTERNAL_H
#define MINITCP_CLIENT_INTERNAL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>

#include "credit.h"
#include "frames.h"
#include "minitcp.h"

#define MTC_HIDDEN __attribute__((visibility("hidden")))

#define IN_CAP (4 * PROTO_MAX_FRAME)
#define OUT_FLUSH_AT (128u * 1024u)  /* try to write once this much is queued */
#define OUT_BLOCK_AT (1024u * 1024u) /* wait for the daemon beyond this */
#define MAX_DGRAM 65500u
#define MTC_MAX_SOCKS 16384 /* the daemon's per-client socket limit */
/* After a read drained the daemon socket, calls that merely look for news (a non-blocking
 * call about to fail with EAGAIN, close checking for unread data, poll before its scan)
 * read again only when the socket may hold more: the last read filled the buffer, or this
 * long has passed. Waits never depend on it: they block in ppoll, which sees any data. */
#define READ_GATE_NS 200000LL

enum cstate { CS_NEW, CS_BOUND, CS_LISTEN, CS_CONNECTING, CS_CONNECTED, CS_FAILED };

struct csock {
    bool used;
    bool nonblock;
    bool eof; /* the daemon sent EV_EOF */
    bool shut_rd, shut_wr;
    bool err_reported; /* send reported err once, then EPIPE */
    bool linger0;
    bool has_peer; /* datagram: connected destination */
    uint8_t kind;  /* PROTO_SOCK_* */
    uint8_t state; /* enum cstate */
    uint32_t id;   /* the daemon's socket id */
    int err;       /* pending error (positive errno) */
    struct sockaddr_in local, peer;

    /* received bytes (stream) or records (datagram): a ring */
    uint8_t *rbuf;
    size_t rcap, rhead, rlen;
    struct credit_receiver rcv; /* the window we promised, credit not yet returned */
    size_t ndgrams;             /* datagram records in the ring */

    uint32_t scredit; /* bytes we may still send */

    /* listener: accepted descriptors waiting for minitcp_accept */
    int *aq;
    size_t aq_head, aq_len, aq_cap;
    uint32_t backlog;
    uint32_t accepts_owed;
};

/* The process's one session with the daemon. */
struct mtc_state {
    int fd; /* -1 = not connected */
    uint8_t *in;
    size_t in_len;
    bool in_full;        /* the last recv filled the buffer: more may be waiting */
    long long in_dry_ns; /* when a recv last came back short (the socket was drained) */
    uint8_t *out;
    size_t out_off, out_len, out_cap;
    uint32_t next_req;

    /* the one outstanding request */
    uint32_t wait_req;
    bool reply_done;
    struct proto_msg reply;

    struct csock *socks;
    int nsocks; /* array size */

    /* daemon id -> descriptor + 1 (open addressing, linear probing) */
    uint32_t *hkeys;
    int *hvals;
    size_t hcap, hcount;

    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct mtc_shm *shm; /* shared rings (shm.c), NULL: frames on the socket */
};
extern struct mtc_state mtc MTC_HIDDEN;

/* ---- transport.c ---- */
/* Appends a frame (payload from m, see proto_encode). 0, or -1 with errno. */
MTC_HIDDEN int mtc_out_msg(const struct proto_msg *m);
/* Writes what the socket takes now. 0, or -1 when the connection broke. */
MTC_HIDDEN int mtc_flush(void);
/* Reads everything available now and dispatches whole frames. 0, or -1 if broken. */
MTC_HIDDEN int mtc_read(void);
MTC_HIDDEN int mtc_read_maybe(void);
MTC_HIDDEN bool mtc_refill(void);
MTC_HIDDEN int mtc_pump_mask(int timeout_ms, const sigset_t *sigmask);
MTC_HIDDEN int mtc_pump(int timeout_ms);
MTC_HIDDEN void mtc_conn_broken(void);
MTC_HIDDEN void mtc_forget_session(void);
/* Why the daemon refused the session (EUSERS, ENFILE: a client limit), reported instead
 * of ECONNABORTED; 0 when it did not. */
MTC_HIDDEN extern int mtc_refused;
MTC_HIDDEN int mtc_ensure_conn(void);
MTC_HIDDEN int mtc_request(struct proto_msg *m, struct proto_msg *reply);
MTC_HIDDEN int mtc_simple_request(struct proto_msg *m, struct proto_msg *reply);
MTC_HIDDEN void mtc_finish(const struct csock *cs);
MTC_HIDDEN int mtc_wait_more(void);

/* ---- shm.c ---- */
MTC_HIDDEN int mtc_shm_offer(void);
MTC_HIDDEN void mtc_shm_close(void);
/* 1: the frame (flen bytes encoded) is in the ring; 0: use the buffer; -1 with errno. */
MTC_HIDDEN int mtc_shm_out(const struct proto_msg *m, size_t flen);
MTC_HIDDEN int mtc_shm_flush(void);
/* Frames dispatched, or -1 when broken. */
MTC_HIDDEN int mtc_shm_read(void);
MTC_HIDDEN int mtc_shm_pump(int timeout_ms, const sigset_t *sigmask);
MTC_HIDDEN int mtc_shm_fd(void);
MTC_HIDDEN int mtc_shm_wake_fd(void);
MTC_HIDDEN void mtc_shm_arm(void);
MTC_HIDDEN int mtc_shm_process(void);

/* ---- socktable.c ---- */
/* The socket of descriptor s, or NULL with errno EBADF. */
MTC_HIDDEN struct csock *mtc_get_sock(int s);
MTC_HIDDEN int mtc_sock_new(uint32_t id, uint8_t kind);
MTC_HIDDEN void mtc_sock_free(int d);
/* The connection broke: every socket fails with ECONNABORTED, and no id maps any more. */
MTC_HIDDEN void mtc_socks_orphan(void);
MTC_HIDDEN void mtc_credit_send(uint32_t id, uint32_t n);
MTC_HIDDEN void mtc_close_id(uint32_t id, bool abort);
MTC_HIDDEN void mtc_ring_get(struct csock *cs, uint8_t *p, size_t n);
MTC_HIDDEN void mtc_consumed(struct csock *cs, uint32_t cost);
MTC_HIDDEN void mtc_set_addr(struct sockaddr_in *sa, uint32_t addr, uint16_t port);
/* One frame from the daemon. -1 on a protocol violation. */
MTC_HIDDEN int mtc_dispatch(const struct proto_msg *m);

/* ---- socket.c ---- */
MTC_HIDDEN int mtc_check_sin(const struct sockaddr_in *a);

/* ---- the calls behind the public API (api.c takes the lock around each) ---- */
MTC_HIDDEN int mtc_u_socket(int type);
MTC_HIDDEN int mtc_u_bind(int s, const struct sockaddr_in *addr);
MTC_HIDDEN int mtc_u_listen(int s, int backlog);
MTC_HIDDEN int mtc_u_accept(int s, struct sockaddr_in *peer);
MTC_HIDDEN int mtc_u_connect(int s, const struct sockaddr_in *addr);
MTC_HIDDEN ssize_t mtc_u_send(int s, const void *buf, size_t len);
MTC_HIDDEN ssize_t mtc_u_recv(int s, void *buf, size_t len);
MTC_HIDDEN int mtc_u_shutdown(int s, int how);
MTC_HIDDEN int mtc_u_close(int s);
MTC_HIDDEN ssize_t mtc_u_sendto(int s, const void *buf, size_t len, const struct sockaddr_in *to);
MTC_HIDDEN ssize_t mtc_u_recvfrom(int s, void *buf, size_t len, struct sockaddr_in *from);
MTC_HIDDEN int mtc_u_setnonblock(int s, int on);
MTC_HIDDEN int mtc_u_setsockopt(int s, int opt, int value);
MTC_HIDDEN int mtc_u_getsockopt(int s, int opt, int *value);
MTC_HIDDEN int mtc_u_sock_error(int s);
MTC_HIDDEN int mtc_u_getsockname(int s, struct sockaddr_in *addr);
MTC_HIDDEN int mtc_u_getpeername(int s, struct sockaddr_in *addr);
MTC_HIDDEN int mtc_u_events(int s);
MTC_HIDDEN int mtc_u_poll(struct minitcp_pollfd *fds, size_t n, int timeout_ms);
MTC_HIDDEN int mtc_u_ppoll(struct minitcp_pollfd *fds, size_t n, int timeout_ms,
                           const sigset_t *sigmask);
MTC_HIDDEN int mtc_u_fd(void);
MTC_HIDDEN int mtc_u_fd_events(void);
MTC_HIDDEN int mtc_u_process(void);
MTC_HIDDEN int mtc_u_daemon_info(struct minitcp_daemon_info *out);

/* ---- lock.c: thread safety ---- */
/* The library's one lock (recursive: public calls made inside the library nest). */
MTC_HIDDEN void mtc_lock(void);
/* Releases it (keeping errno); at the outermost level, wakes threads waiting for news. */
MTC_HIDDEN void mtc_unlock(void);
/* Something other threads may wait for changed (frames read, output written). */
MTC_HIDDEN void mtc_notify(void);
/* One wait for the daemon connection with the lock let go: the first waiting thread polls
 * the socket (the reader), the others wait for its news. 0 something may have changed,
 * 1 timeout, -1 EINTR (the reader only). events: the poll events for the socket. */
MTC_HIDDEN int mtc_wait_fd(short events, int timeout_ms, const sigset_t *sigmask, short *revents);

#endif
