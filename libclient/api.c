/* libminitcp-client: the public calls, each under the library's lock (lock.c). The work
 * is done by the mtc_u_* functions of the other modules; a call that waits lets go of the
 * lock while it waits (mtc_pump_mask), so other threads' calls go on meanwhile. */
#include <errno.h>

#include "client_internal.h"

int minitcp_socket(int type)
{
    mtc_lock();
    int r = mtc_u_socket(type);
    mtc_unlock();
    return r;
}

int minitcp_bind(int s, const struct sockaddr_in *addr)
{
    mtc_lock();
    int r = mtc_u_bind(s, addr);
    mtc_unlock();
    return r;
}

int minitcp_listen(int s, int backlog)
{
    mtc_lock();
    int r = mtc_u_listen(s, backlog);
    mtc_unlock();
    return r;
}

int minitcp_accept(int s, struct sockaddr_in *peer)
{
    mtc_lock();
    int r = mtc_u_accept(s, peer);
    mtc_unlock();
    return r;
}

int minitcp_connect(int s, const struct sockaddr_in *addr)
{
    mtc_lock();
    int r = mtc_u_connect(s, addr);
    mtc_unlock();
    return r;
}

ssize_t minitcp_send(int s, const void *buf, size_t len)
{
    mtc_lock();
    ssize_t r = mtc_u_send(s, buf, len);
    mtc_unlock();
    return r;
}

ssize_t minitcp_recv(int s, void *buf, size_t len)
{
    mtc_lock();
    ssize_t r = mtc_u_recv(s, buf, len);
    mtc_unlock();
    return r;
}

int minitcp_shutdown(int s, int how)
{
    mtc_lock();
    int r = mtc_u_shutdown(s, how);
    mtc_unlock();
    return r;
}

int minitcp_close(int s)
{
    mtc_lock();
    int r = mtc_u_close(s);
    mtc_unlock();
    return r;
}

ssize_t minitcp_sendto(int s, const void *buf, size_t len, const struct sockaddr_in *to)
{
    mtc_lock();
    ssize_t r = mtc_u_sendto(s, buf, len, to);
    mtc_unlock();
    return r;
}

ssize_t minitcp_recvfrom(int s, void *buf, size_t len, struct sockaddr_in *from)
{
    mtc_lock();
    ssize_t r = mtc_u_recvfrom(s, buf, len, from);
    mtc_unlock();
    return r;
}

int minitcp_setnonblock(int s, int on)
{
    mtc_lock();
    int r = mtc_u_setnonblock(s, on);
    mtc_unlock();
    return r;
}

int minitcp_setsockopt(int s, int opt, int value)
{
    mtc_lock();
    int r = mtc_u_setsockopt(s, opt, value);
    mtc_unlock();
    return r;
}

int minitcp_getsockopt(int s, int opt, int *value)
{
    mtc_lock();
    int r = mtc_u_getsockopt(s, opt, value);
    mtc_unlock();
    return r;
}

int minitcp_sock_error(int s)
{
    mtc_lock();
    int r = mtc_u_sock_error(s);
    mtc_unlock();
    return r;
}

int minitcp_getsockname(int s, struct sockaddr_in *addr)
{
    mtc_lock();
    int r = mtc_u_getsockname(s, addr);
    mtc_unlock();
    return r;
}

int minitcp_getpeername(int s, struct sockaddr_in *addr)
{
    mtc_lock();
    int r = mtc_u_getpeername(s, addr);
    mtc_unlock();
    return r;
}

int minitcp_events(int s)
{
    mtc_lock();
    int r = mtc_u_events(s);
    mtc_unlock();
    return r;
}

int minitcp_poll(struct minitcp_pollfd *fds, size_t n, int timeout_ms)
{
    mtc_lock();
    int r = mtc_u_poll(fds, n, timeout_ms);
    mtc_unlock();
    return r;
}

int minitcp_ppoll(struct minitcp_pollfd *fds, size_t n, int timeout_ms, const sigset_t *sigmask)
{
    mtc_lock();
    int r = mtc_u_ppoll(fds, n, timeout_ms, sigmask);
    mtc_unlock();
    return r;
}

int minitcp_fd(void)
{
    mtc_lock();
    int r = mtc_u_fd();
    mtc_unlock();
    return r;
}

int minitcp_fd_events(void)
{
    mtc_lock();
    int r = mtc_u_fd_events();
    mtc_unlock();
    return r;
}

int minitcp_process(void)
{
    mtc_lock();
    int r = mtc_u_process();
    mtc_unlock();
    return r;
}

int minitcp_daemon_info(struct minitcp_daemon_info *out)
{
    mtc_lock();
    int r = mtc_u_daemon_info(out);
    mtc_unlock();
    return r;
}
