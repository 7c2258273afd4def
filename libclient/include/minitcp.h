/* libminitcp-client: BSD-socket-like access to a running minitcpd.
 *
 * OVERVIEW
 *   The first call opens one Unix-domain connection from this process to minitcpd, at the
 *   path in the environment variable MINITCP_SOCKET, or MINITCP_DEFAULT_SOCKET. Every
 *   minitcp socket of the process is multiplexed over that connection. Socket descriptors
 *   returned by minitcp_socket/minitcp_accept are small non-negative integers private to
 *   this library: they are NOT kernel file descriptors and must only be passed to minitcp_*
 *   functions.
 *
 *   Every function returns -1 (or NULL) and sets errno on failure. The library never raises
 *   SIGPIPE: writing to a closed connection fails with EPIPE.
 *
 *   Sockets are blocking by default. minitcp_setnonblock() makes one socket non-blocking:
 *   calls that would wait fail with EAGAIN (connect: EINPROGRESS) instead.
 *
 *   A blocking accept/connect/send/recv/recvfrom that waits fails with EINTR when a signal
 *   handler runs (whatever SA_RESTART says, like poll(2)); send then returns the bytes
 *   queued so far if there were any, and an interrupted connect goes on in the background
 *   (a second minitcp_connect reports EALREADY, POLLOUT its end).
 *
 * DAEMON CONNECTION ERRORS (any function that talks to the daemon)
 *   ENOENT        no daemon socket at the path (minitcpd not running)
 *   ECONNREFUSED  the socket file exists but nobody listens on it
 *   EACCES        no permission to connect (see the socket group of minitcpd)
 *   ECONNABORTED  the connection to the daemon broke; sockets of this process are gone.
 *                 The next minitcp_socket() opens a new connection.
 *   A missing daemon never makes a call hang.
 *
 * THREAD SAFETY
 *   Thread-safe: any thread may call any function. One socket should be used by one
 *   thread at a time (two threads reading one stream get its bytes in an unspecified
 *   split, as with a kernel socket); different sockets may be used concurrently. A
 *   blocking call lets other threads' calls proceed while it waits: the first waiting
 *   thread polls the daemon connection for everyone, the others sleep until it reports
 *   news. Only that polling thread is woken by a signal (EINTR); a thread sleeping behind
 *   it goes on waiting. Requests to the daemon (socket, bind, listen, connect, options)
 *   are answered one at a time, in order.
 *   fork: the child must not use the parent's sockets (the session is shared); calls in
 *   the child are safe only if no other thread was inside the library at the fork.

 * EVENT LOOPS (poll/epoll/libev)
 *   minitcp_fd() returns the library's Unix-socket fd; minitcp_fd_events() says which poll
 *   events to wait for on it (POLLIN always, plus POLLOUT while the library has output
 *   queued). When the fd is ready, call minitcp_process(), then ask minitcp_events(s) for
 *   each of your sockets. Readiness of the fd is not readiness of any one socket: data for
 *   a socket may already be buffered in the library (for example, read while another call
 *   waited). So after each minitcp_process() look at every socket you care about, and
 *   never block on the fd while minitcp_events() reports something. minitcp_poll() does all
 *   of this for you.
 *
 * FLOW CONTROL
 *   Received stream data is pushed by the daemon into a per-socket library buffer of
 *   MINITCP_SO_RCVBUF bytes (default 256 KiB). While that buffer is full the daemon stops
 *   reading the connection and the TCP window closes. minitcp_send() queues at most what
 *   the daemon can take into the connection's send buffer, then blocks (or fails with
 *   EAGAIN when non-blocking).
 */
#ifndef MINITCP_H
#define MINITCP_H

#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MINITCP_DEFAULT_SOCKET "/run/minitcp/minitcpd.sock"

/* socket types */
#define MINITCP_SOCK_STREAM 1 /* TCP */
#define MINITCP_SOCK_DGRAM 2  /* UDP */

/* minitcp_shutdown how (the same values as SHUT_RD, SHUT_WR, SHUT_RDWR) */
#define MINITCP_SHUT_RD 0
#define MINITCP_SHUT_WR 1
#define MINITCP_SHUT_RDWR 2

/* minitcp_setsockopt options */
#define MINITCP_SO_RCVBUF 1      /* int bytes, 4096..4194304: library receive buffer/window */
#define MINITCP_SO_LINGER_ZERO 2 /* int bool: close() resets the connection (RST) */
/* int bool: Nagle's algorithm off, like TCP_NODELAY. Nagle is on by default: a small
 * segment waits while earlier data is unacknowledged, so a request written in several
 * pieces costs one round trip (and the peer's delayed ACK) more; interactive programs
 * that write small pieces set it. Stream sockets; before or after connect/listen
 * (accepted connections inherit a listener's). */
#define MINITCP_TCP_NODELAY 3
/* int: congestion control of this connection, MINITCP_CC_NEWRENO or MINITCP_CC_CUBIC
 * (like TCP_CONGESTION; the default is minitcpd's --cc, cubic unless set). Other values:
 * EINVAL. Stream sockets; before or after connect/listen (accepted connections inherit a
 * listener's). */
#define MINITCP_TCP_CONGESTION 4
#define MINITCP_CC_NEWRENO 0 /* RFC 5681 NewReno */
#define MINITCP_CC_CUBIC 1   /* RFC 9438 CUBIC with HyStart++ */
/* Keepalive (RFC 1122 4.2.3.6), like Linux's options of the same names. Stream sockets;
 * before or after connect/listen (accepted connections inherit a listener's).
 *   MINITCP_SO_KEEPALIVE   int bool, off by default: a connection that has heard nothing
 *                          from its peer for KEEPIDLE seconds, with nothing of its own
 *                          unacknowledged, sends a probe (an empty segment with an old
 *                          sequence number, which a live peer answers), then one every
 *                          KEEPINTVL seconds while unanswered; after KEEPCNT unanswered
 *                          probes it is reset and fails with ETIMEDOUT.
 *   MINITCP_TCP_KEEPIDLE   int seconds, 1..32767 (default 7200)
 *   MINITCP_TCP_KEEPINTVL  int seconds, 1..32767 (default 75)
 *   MINITCP_TCP_KEEPCNT    int, 1..127 (default 9)
 * Other values: EINVAL. */
#define MINITCP_SO_KEEPALIVE 5
#define MINITCP_TCP_KEEPIDLE 6
#define MINITCP_TCP_KEEPINTVL 7
#define MINITCP_TCP_KEEPCNT 8
/* int ms, >= 0 (negative: EINVAL), like TCP_USER_TIMEOUT (RFC 5482): the connection fails
 * with ETIMEDOUT when data it sent stays unacknowledged (no ACK moving it forward) that
 * long, or when its zero-window probes go unanswered that long, instead of after the
 * retransmission count (about 15 minutes by default). With keepalive on, it also replaces
 * KEEPCNT: the connection is reset at the first probe time after the peer has been
 * silent that long. 0 (the default) restores the retransmission count. Stream sockets;
 * before or after connect/listen (inherited like the others). */
#define MINITCP_TCP_USER_TIMEOUT 9

/* poll events (the same values as poll.h) */
#define MINITCP_POLLIN 0x001
#define MINITCP_POLLOUT 0x004
#define MINITCP_POLLERR 0x008
#define MINITCP_POLLHUP 0x010
#define MINITCP_POLLNVAL 0x020

/* minitcp_socket(type)
 *   Creates a socket. type is MINITCP_SOCK_STREAM or MINITCP_SOCK_DGRAM.
 *   Returns a descriptor >= 0.
 *   EINVAL  unknown type.
 *   EMFILE  the daemon's per-client socket limit is reached.
 *   ENOMEM  out of memory (library or daemon).
 *   + the daemon connection errors above. */
int minitcp_socket(int type);

/* minitcp_bind(s, addr)
 *   Sets the local port (addr->sin_port, network order). sin_addr must be INADDR_ANY or the
 *   daemon's address. Port 0 on a datagram socket picks an ephemeral port.
 *   EBADF       s is not a minitcp socket.
 *   EINVAL      s is already bound, listening or connected; addr is NULL or not AF_INET.
 *   EADDRINUSE  the port is bound by another minitcp socket (of any process), or is a
 *               datagram port in use. A stream port taken by one of the daemon's built-in
 *               services is reported by minitcp_listen.
 *   EADDRNOTAVAIL  sin_addr is not an address of the daemon. */
int minitcp_bind(int s, const struct sockaddr_in *addr);

/* minitcp_listen(s, backlog)
 *   Starts accepting connections on the bound port. backlog <= 0 means 128; it is capped
 *   at 1024. As in Linux, at most backlog + 1 established connections wait for
 *   minitcp_accept; further SYNs are dropped (the peer retries them).
 *   EBADF, EINVAL (not a stream socket, not bound, already connected),
 *   EADDRINUSE (another listener has the port), EOPNOTSUPP (datagram socket). */
int minitcp_listen(int s, int backlog);

/* minitcp_accept(s, peer)
 *   Returns a new connected socket from the listener's queue, waiting for one if the
 *   socket is blocking. peer (may be NULL) receives the remote address and port.
 *   EAGAIN  non-blocking and no connection is waiting.
 *   EBADF, EINVAL (s is not listening). */
int minitcp_accept(int s, struct sockaddr_in *peer);

/* minitcp_connect(s, addr)
 *   Opens a TCP connection (blocking: until established or failed), or sets the default
 *   destination of a datagram socket.
 *   EINPROGRESS   non-blocking: the handshake goes on; POLLOUT reports its end and
 *                 minitcp_sock_error() its result.
 *   EALREADY      a connect is already in progress.   EISCONN  already connected.
 *   ECONNREFUSED  the peer answered with RST (a non-blocking connect may report it at
 *                 once instead of EINPROGRESS when the RST is already there).
 *   ETIMEDOUT     no answer after the SYN retransmissions (about 2 minutes by default).
 *   ENETUNREACH/EHOSTUNREACH  no route.                 EADDRINUSE  the local port is taken.
 *   EBADF, EINVAL (listening socket, bad address). */
int minitcp_connect(int s, const struct sockaddr_in *addr);

/* minitcp_send(s, buf, len)
 *   Queues bytes on a connected stream socket. Blocking: returns when all len bytes are
 *   queued (or an error happens after some were: then the count so far is returned).
 *   Non-blocking: queues what fits now and returns that count, or fails with EAGAIN.
 *   Returns bytes queued (len == 0 returns 0).
 *   EAGAIN      non-blocking and no send space.
 *   ENOTCONN    not connected (or still connecting and non-blocking: EAGAIN).
 *   EPIPE       shutdown(SHUT_WR) was called, or the connection is closed/reset.
 *   ECONNRESET/ETIMEDOUT  the connection failed (reported once, then EPIPE).
 *   EBADF, EINVAL (buf NULL with len > 0), EOPNOTSUPP (datagram socket: use sendto). */
ssize_t minitcp_send(int s, const void *buf, size_t len);

/* minitcp_recv(s, buf, len)
 *   Reads received bytes of a stream socket (or one datagram of a connected datagram
 *   socket). Blocking: waits until at least one byte, EOF or an error. Returns bytes read,
 *   0 at end of stream (the peer closed and every byte was read, or after SHUT_RD), and
 *   0 again on every later call.
 *   EAGAIN      non-blocking and nothing to read.
 *   ECONNRESET  the peer reset the connection (after all data before it was read).
 *   ETIMEDOUT   the connection timed out.  ECONNREFUSED  a connect was refused.
 *               As in Linux, a connection error is reported once (by recv or send);
 *               later recv calls return 0 and later sends fail with EPIPE.
 *   ENOTCONN    never connected.   EBADF, EINVAL (listening socket).
 *   EINTR       a signal handler ran while waiting. */
ssize_t minitcp_recv(int s, void *buf, size_t len);

/* minitcp_shutdown(s, how)
 *   MINITCP_SHUT_WR: sends FIN after the queued data; receiving goes on.
 *   MINITCP_SHUT_RD: further received data is discarded; recv returns 0.
 *   EBADF, EINVAL (bad how), ENOTCONN (not connected). */
int minitcp_shutdown(int s, int how);

/* minitcp_close(s)
 *   Releases the descriptor. A connection is closed as the kernel does: FIN after the
 *   queued data, or RST when received data was left unread (or with MINITCP_SO_LINGER_ZERO).
 *   Connections waiting in a listener's queue are reset. Does not wait.
 *   EBADF (not open, e.g. closed twice). */
int minitcp_close(int s);

/* minitcp_sendto(s, buf, len, to)
 *   Sends one datagram (len <= 65500) to `to` (or the connected destination if NULL).
 *   An unbound socket gets an ephemeral port. Returns len.
 *   EMSGSIZE (too long), EDESTADDRREQ (no destination), EOPNOTSUPP (stream socket),
 *   ENOBUFS/ENOMEM (daemon could not queue it), EBADF, EINVAL. */
ssize_t minitcp_sendto(int s, const void *buf, size_t len, const struct sockaddr_in *to);

/* minitcp_recvfrom(s, buf, len, from)
 *   Receives one datagram; bytes past len are discarded (like MSG_TRUNC absent). from
 *   (may be NULL) gets the sender. Returns the bytes stored.
 *   EAGAIN (non-blocking, none queued), EOPNOTSUPP (stream socket), EBADF, EINVAL. */
ssize_t minitcp_recvfrom(int s, void *buf, size_t len, struct sockaddr_in *from);

/* minitcp_setnonblock(s, on): on != 0 makes s non-blocking. EBADF. */
int minitcp_setnonblock(int s, int on);

/* minitcp_setsockopt(s, opt, value): MINITCP_SO_RCVBUF, MINITCP_SO_LINGER_ZERO,
 *   MINITCP_TCP_NODELAY, MINITCP_TCP_CONGESTION, MINITCP_SO_KEEPALIVE, MINITCP_TCP_KEEPIDLE,
 *   MINITCP_TCP_KEEPINTVL, MINITCP_TCP_KEEPCNT or MINITCP_TCP_USER_TIMEOUT.
 *   EBADF, EINVAL (value out of range, unknown congestion control), ENOPROTOOPT (unknown
 *   opt, or a TCP option on a datagram socket). */
int minitcp_setsockopt(int s, int opt, int value);

/* minitcp_getsockopt(s, opt, &value): the value in force of any option minitcp_setsockopt
 *   takes (a connection's own once connected or accepted; before, what was set or the
 *   default: SO_RCVBUF 262144, the others 0, CONGESTION the daemon's --cc, KEEPIDLE 7200,
 *   KEEPINTVL 75, KEEPCNT 9). EBADF, EINVAL (value NULL), ENOPROTOOPT (unknown opt, or a
 *   TCP option on a datagram socket). */
int minitcp_getsockopt(int s, int opt, int *value);

/* minitcp_sock_error(s): the socket's pending error as a positive errno (0 if none),
 *   e.g. the result of a non-blocking connect. Does not clear it. -1/EBADF. */
int minitcp_sock_error(int s);

/* minitcp_getsockname / minitcp_getpeername: local / remote address. EBADF,
 *   ENOTCONN (getpeername on an unconnected socket), EINVAL (NULL). */
int minitcp_getsockname(int s, struct sockaddr_in *addr);
int minitcp_getpeername(int s, struct sockaddr_in *addr);

/* ---- event-loop integration ---- */

struct minitcp_pollfd {
    int s;         /* a minitcp descriptor; negative entries are ignored */
    short events;  /* MINITCP_POLLIN | MINITCP_POLLOUT */
    short revents; /* set by minitcp_poll; POLLERR/POLLHUP/POLLNVAL always reported */
};

/* minitcp_events(s)
 *   The socket's readiness now, without waiting:
 *   POLLIN   recv/recvfrom/accept would not block (data, EOF, error, or a connection).
 *   POLLOUT  send would not block (send space, or the connection failed), or a
 *            non-blocking connect finished.
 *   POLLHUP  the connection is over: reset/failed, or EOF received after our own
 *            SHUT_WR. (A peer's half-close alone shows as POLLIN with recv returning 0.)
 *   POLLERR  the socket has a pending error (minitcp_sock_error).
 *   POLLNVAL s is not a socket.
 *   Call minitcp_process() first to take in what the daemon sent. */
int minitcp_events(int s);

/* minitcp_poll(fds, n, timeout_ms)
 *   Like poll(2) over minitcp sockets: waits up to timeout_ms (-1: forever, 0: no wait)
 *   until one of them is ready. Returns the number of entries with revents != 0, 0 on
 *   timeout. EINTR (a signal arrived), EINVAL, and the daemon connection errors. */
int minitcp_poll(struct minitcp_pollfd *fds, size_t n, int timeout_ms);

/* minitcp_ppoll(fds, n, timeout_ms, sigmask)
 *   minitcp_poll that waits with the signal mask *sigmask (NULL: unchanged), as ppoll(2):
 *   block SIGINT/SIGTERM, install handlers, pass the old mask here, and a signal can only
 *   arrive while waiting, which then fails with EINTR: no race with a flag check. */
int minitcp_ppoll(struct minitcp_pollfd *fds, size_t n, int timeout_ms, const sigset_t *sigmask);

/* minitcp_fd(): the Unix-socket fd to watch (opens the daemon connection if needed).
 * minitcp_fd_events(): POLLIN, plus POLLOUT while output is queued in the library.
 * minitcp_process(): non-blocking: sends queued output and takes in everything the daemon
 *   sent. Returns 0, or -1 with ECONNABORTED when the daemon connection broke. */
int minitcp_fd(void);
int minitcp_fd_events(void);
int minitcp_process(void);

/* ---- daemon information ---- */

struct minitcp_daemon_info {
    struct in_addr addr; /* the daemon's IPv4 address */
    char tun[17];        /* its TUN interface name */
    pid_t pid;           /* minitcpd's process id */
    unsigned clients;    /* connected client processes */
};
/* minitcp_daemon_info(out): 0, or -1 with the daemon connection errors. */
int minitcp_daemon_info(struct minitcp_daemon_info *out);

/* The path the library connects (or will connect) to. */
const char *minitcp_socket_path(void);

#ifdef __cplusplus
}
#endif

#endif
