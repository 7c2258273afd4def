/* libminitcp-preload internals (docs/architecture.md, "Unmodified programs").
 *
 * Every MiniTCP socket of the program is a real descriptor: an AF_UNIX stream socket whose
 * other end belongs to the pump thread, which moves the bytes between it and a
 * libminitcp-client socket. A listener is a listening AF_UNIX socket the pump connects to
 * once per accepted connection, passing the connection's descriptor with SCM_RIGHTS.
 *   intercept.c  the interposed libc calls (socket, bind, connect, accept, options, ...)
 *   table.c      the socket table, keyed by the inode of the program's descriptor
 *   pump.c       the pump thread: the only user of libminitcp-client
 *   addr.c       sockaddr_in / v4-mapped sockaddr_in6 <-> MiniTCP addresses */
#ifndef MINITCP_PRELOAD_H
#define MINITCP_PRELOAD_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#define PL_HIDDEN __attribute__((visibility("hidden")))
#define PL_BUF (64 * 1024)

enum pl_state {
    PL_NEW,        /* socket(): a placeholder AF_UNIX socket, nothing at the daemon yet */
    PL_BOUND,      /* bind() done at the daemon */
    PL_LISTEN,     /* the program holds a listening AF_UNIX socket */
    PL_CONNECTING, /* handshake under way; the program's end is kept unwritable */
    PL_CONNECTED,  /* the pump moves bytes */
    PL_DONE,       /* the connection is over; names and the error stay for the program */
    PL_DGRAM,      /* a datagram socket: a SOCK_SEQPACKET pair from socket() on (dgram.c) */
};

struct pl_sock {
    dev_t dev;
    ino_t ino; /* the program's descriptor's inode: the key */
    struct pl_sock *hnext, *next, *prev;
    int family; /* AF_INET or AF_INET6 (v4-mapped) as the program sees it */
    enum pl_state state;
    bool inherited; /* a forked child's copy: the parent's pump serves it */
    bool dgram;
    unsigned long dgram_drops; /* datagrams the program's full queue could not take */
    bool nonblock_connect;
    int ms;      /* libminitcp-client descriptor, -1 */
    int p;       /* the pump's end of the pair, -1 */
    int hold;    /* the program's end, held while connecting (to restore its buffer) */
    size_t junk; /* bytes written to keep the program's end unwritable while connecting */
    int err;     /* pending SO_ERROR (positive errno) */
    bool err_reported;
    struct sockaddr_in local, peer;
    bool has_local, has_peer;
    /* options kept for getsockopt and for the daemon socket made later */
    int reuseaddr, keepalive, nodelay, linger_on, linger_s, rcvbuf, sndbuf;
    int keepidle, keepintvl, keepcnt, user_timeout, cc;
    /* stream pump state */
    uint8_t *to_app, *to_net;
    size_t ta_off, ta_len, tn_off, tn_len;
    bool net_eof, app_eof, p_wr_shut, net_wr_shut, p_hup;
    short p_events; /* what the pump waits for on p */
    /* listener */
    struct sockaddr_storage lname;
    socklen_t lnamelen;
    int backlog, unaccepted;
    int *pend; /* our ends of connections not yet accepted: HUP when accepted */
    size_t npend, pcap;
    bool waiter; /* a blocking connect waits on pl.cond */
};

struct pl_global {
    pthread_mutex_t lock; /* the table, every pl_sock and every libminitcp-client call */
    pthread_cond_t cond;  /* connects finishing; the exit drain */
    bool pump_running;
    bool exiting, drained;
    int wake; /* eventfd that wakes the pump */
    pthread_t pump;
    struct pl_sock *all;
    size_t nsocks;
};
extern struct pl_global pl PL_HIDDEN;

/* The libc functions we interpose, found with dlsym(RTLD_NEXT). */
struct pl_real {
    int (*socket)(int, int, int);
    int (*bind)(int, const struct sockaddr *, socklen_t);
    int (*listen)(int, int);
    int (*connect)(int, const struct sockaddr *, socklen_t);
    int (*accept)(int, struct sockaddr *, socklen_t *);
    int (*accept4)(int, struct sockaddr *, socklen_t *, int);
    int (*getsockname)(int, struct sockaddr *, socklen_t *);
    int (*getpeername)(int, struct sockaddr *, socklen_t *);
    int (*setsockopt)(int, int, int, const void *, socklen_t);
    int (*getsockopt)(int, int, int, void *, socklen_t *);
    int (*close)(int);
    ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
    ssize_t (*sendmsg)(int, const struct msghdr *, int);
    ssize_t (*recv)(int, void *, size_t, int);
    ssize_t (*read)(int, void *, size_t);
    ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
    ssize_t (*recvmsg)(int, struct msghdr *, int);
    ssize_t (*readv)(int, const struct iovec *, int);
    ssize_t (*write)(int, const void *, size_t);
    ssize_t (*writev)(int, const struct iovec *, int);
};
extern struct pl_real pl_real PL_HIDDEN;
PL_HIDDEN void pl_resolve(void);
/* Set once a connection failed: from then on EOF/EPIPE results look for its error. */
extern _Atomic bool pl_errs_seen PL_HIDDEN;

/* Nesting depth of our own code on this thread: libminitcp-client's own socket calls
 * land in our interposers, which then pass them straight through. */
extern __thread int pl_depth PL_HIDDEN;

/* ---- intercept.c ---- */
/* Takes pl.lock and finds fd's socket (this thread's own calls then pass straight
 * through); NULL, without the lock, when fd is not ours. pl_unlock releases it. */
PL_HIDDEN struct pl_sock *pl_lock_find(int fd);
PL_HIDDEN void pl_unlock(void);

/* ---- table.c (pl.lock held) ---- */
PL_HIDDEN struct pl_sock *pl_find_fd(int fd);
PL_HIDDEN struct pl_sock *pl_find_ino(dev_t dev, ino_t ino);
PL_HIDDEN struct pl_sock *pl_sock_new(int family);
PL_HIDDEN int pl_sock_key(struct pl_sock *s, int fd); /* (re)keys s by fd's inode */
PL_HIDDEN void pl_sock_unkey(struct pl_sock *s);      /* no descriptor finds s any more */
PL_HIDDEN void pl_sock_free(struct pl_sock *s);

/* ---- pump.c ---- */
PL_HIDDEN int pl_pump_start(void); /* pl.lock held; 0 or -1 with errno */
PL_HIDDEN void pl_pump_wake(void);
/* Makes s's daemon socket (and applies the options kept so far). pl.lock held. */
PL_HIDDEN int pl_ensure_ms(struct pl_sock *s);
/* The accept header the pump sends with the new descriptor. */
struct pl_accept_msg {
    int32_t status; /* 0, or the errno accept must fail with */
    struct sockaddr_in local, peer;
};
PL_HIDDEN void pl_atfork_child(void);

/* ---- dgram.c ---- */
#define PL_DGRAM_FDS 65536
/* descriptors that were datagram sockets when last seen (checked again on use) */
extern unsigned char pl_dgram_fds[PL_DGRAM_FDS] PL_HIDDEN;
PL_HIDDEN int pl_dgram_socket(int domain, int type);
PL_HIDDEN bool pl_is_dgram(int fd);
/* *handled false: fd is no datagram socket of ours, the caller goes on as usual */
PL_HIDDEN ssize_t pl_dgram_send(int fd, const struct iovec *iov, int cnt, int flags,
                                const struct sockaddr *to, socklen_t tolen, bool *handled);
PL_HIDDEN ssize_t pl_dgram_recv(int fd, struct msghdr *msg, int flags, bool *handled);
PL_HIDDEN bool pl_dgram_service(struct pl_sock *s); /* the pump, pl.lock held */

/* ---- addr.c ---- */
/* The program's address to an IPv4 one; -1 with errno (EINVAL, EAFNOSUPPORT, ...). */
PL_HIDDEN int pl_addr_in(int family, const struct sockaddr *sa, socklen_t len,
                         struct sockaddr_in *out, bool for_bind);
/* An IPv4 address as the program's family sees it, truncated to *len like the kernel. */
PL_HIDDEN void pl_addr_out(int family, const struct sockaddr_in *in, struct sockaddr *sa,
                           socklen_t *len);

#endif
