/* libminitcp-client: readiness of sockets and the poll calls. */
#include <errno.h>
#include <poll.h>
#include <time.h>

#include "client_internal.h"

int mtc_u_events(int s)
{
    if (s < 0 || s >= mtc.nsocks || !mtc.socks[s].used) return MINITCP_POLLNVAL;
    const struct csock *cs = &mtc.socks[s];
    int ev = 0;
    if (cs->err) ev |= MINITCP_POLLERR | MINITCP_POLLIN | MINITCP_POLLOUT;
    if (cs->kind == PROTO_SOCK_DGRAM) {
        if (cs->ndgrams) ev |= MINITCP_POLLIN;
        ev |= MINITCP_POLLOUT;
        return ev;
    }
    switch (cs->state) {
    case CS_LISTEN:
        if (cs->aq_len) ev |= MINITCP_POLLIN;
        break;
    case CS_CONNECTED:
        if (cs->rlen || cs->eof || cs->shut_rd) ev |= MINITCP_POLLIN;
        /* as poll(2) on TCP: hang-up only when both directions are done (or on error) */
        if (cs->eof && cs->shut_wr) ev |= MINITCP_POLLHUP;
        if (cs->scredit || cs->shut_wr) ev |= MINITCP_POLLOUT;
        break;
    case CS_FAILED:
        ev |= MINITCP_POLLOUT | MINITCP_POLLHUP;
        break;
    case CS_NEW:
    case CS_BOUND:
        ev |= MINITCP_POLLOUT | MINITCP_POLLHUP;
        break;
    default:
        break;
    }
    if (cs->err) ev |= MINITCP_POLLHUP;
    return ev;
}

static int poll_scan(struct minitcp_pollfd *fds, size_t n)
{
    int ready = 0;
    for (size_t i = 0; i < n; i++) {
        fds[i].revents = 0;
        if (fds[i].s < 0) continue;
        int ev = minitcp_events(fds[i].s);
        fds[i].revents =
            (short)(ev & (fds[i].events | MINITCP_POLLERR | MINITCP_POLLHUP | MINITCP_POLLNVAL));
        if (fds[i].revents) ready++;
    }
    return ready;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int mtc_u_poll(struct minitcp_pollfd *fds, size_t n, int timeout_ms)
{
    return minitcp_ppoll(fds, n, timeout_ms, NULL);
}

int mtc_u_ppoll(struct minitcp_pollfd *fds, size_t n, int timeout_ms, const sigset_t *sigmask)
{
    if (!fds && n) {
        errno = EINVAL;
        return -1;
    }
    if (mtc.fd >= 0 && (mtc_flush() < 0 || mtc_read_maybe() < 0)) {
        /* broken: every socket now reports its error */
        return poll_scan(fds, n);
    }
    long long deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : -1;
    for (;;) {
        int ready = poll_scan(fds, n);
        if (ready || timeout_ms == 0) return ready;
        if (mtc.fd < 0) {
            /* nothing can change any more */
            errno = ECONNABORTED;
            return -1;
        }
        int left = -1;
        if (deadline >= 0) {
            long long l = deadline - now_ms();
            if (l <= 0) return 0;
            left = l > 1000000000 ? 1000000000 : (int)l;
        }
        int r = mtc_pump_mask(left, sigmask);
        if (r < 0 && errno == EINTR) return -1;
        if (r == 1) return poll_scan(fds, n);
    }
}
