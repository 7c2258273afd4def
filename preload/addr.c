/* libminitcp-preload: the program's socket addresses <-> MiniTCP's IPv4 ones. An AF_INET6
 * socket is served over IPv4 as a dual-stack socket: :: and ::ffff:a.b.c.d mean the IPv4
 * address; any other IPv6 address is not reachable through MiniTCP yet. */
#include <errno.h>
#include <string.h>

#include "preload.h"

int pl_addr_in(int family, const struct sockaddr *sa, socklen_t len, struct sockaddr_in *out,
               bool for_bind)
{
    if (!sa) {
        errno = EFAULT;
        return -1;
    }
    memset(out, 0, sizeof *out);
    out->sin_family = AF_INET;
    if (family == AF_INET) {
        if (len < sizeof(struct sockaddr_in)) {
            errno = EINVAL;
            return -1;
        }
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        /* Linux accepts AF_UNSPEC with INADDR_ANY for bind; anything else is the wrong family */
        if (a->sin_family != AF_INET &&
            !(for_bind && a->sin_family == AF_UNSPEC && a->sin_addr.s_addr == 0)) {
            errno = EAFNOSUPPORT;
            return -1;
        }
        out->sin_addr = a->sin_addr;
        out->sin_port = a->sin_port;
        return 0;
    }
    if (len < sizeof(struct sockaddr_in6)) {
        errno = EINVAL;
        return -1;
    }
    const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)sa;
    if (a6->sin6_family != AF_INET6) {
        errno = EAFNOSUPPORT;
        return -1;
    }
    out->sin_port = a6->sin6_port;
    if (IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr)) return 0;
    if (IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr)) {
        memcpy(&out->sin_addr, &a6->sin6_addr.s6_addr[12], 4);
        return 0;
    }
    errno = for_bind ? EADDRNOTAVAIL : ENETUNREACH;
    return -1;
}

void pl_addr_out(int family, const struct sockaddr_in *in, struct sockaddr *sa, socklen_t *len)
{
    if (!sa || !len) return;
    union {
        struct sockaddr_in v4;
        struct sockaddr_in6 v6;
    } u;
    memset(&u, 0, sizeof u);
    socklen_t full;
    if (family == AF_INET6) {
        u.v6.sin6_family = AF_INET6;
        u.v6.sin6_port = in->sin_port;
        if (in->sin_addr.s_addr) {
            u.v6.sin6_addr.s6_addr[10] = 0xff;
            u.v6.sin6_addr.s6_addr[11] = 0xff;
            memcpy(&u.v6.sin6_addr.s6_addr[12], &in->sin_addr, 4);
        }
        full = sizeof u.v6;
    } else {
        u.v4.sin_family = AF_INET;
        u.v4.sin_port = in->sin_port;
        u.v4.sin_addr = in->sin_addr;
        full = sizeof u.v4;
    }
    memcpy(sa, &u, *len < full ? *len : full);
    *len = full;
}
