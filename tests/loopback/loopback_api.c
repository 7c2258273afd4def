/* Client API edge cases against daemon A (with echo_server on B port 7): the socket limit
 * (EMFILE), EBADF/EINVAL/EADDRNOTAVAIL/EADDRINUSE, ECONNREFUSED, non-blocking connect
 * and accept, shutdown then EPIPE, connect to 127/8 and to our own address. Prints one line per
 * case. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include "minitcp.h"
int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    int n = 0;
    for (;;) {
        int s = minitcp_socket(MINITCP_SOCK_STREAM);
        if (s < 0) {
            printf("after %d sockets: %s\n", n, strerror(errno));
            break;
        }
        n++;
    }
    minitcp_close(0);
    int s = minitcp_socket(MINITCP_SOCK_STREAM);
    printf("after close one: %d\n", s);
    /* bad descriptor, bad ops */
    {
        errno = 0;
        long r_ = (long)(minitcp_send(99999, "x", 1));
        int e_ = errno;
        printf("send on bad fd: %ld %s\n", r_, strerror(e_));
    }
    {
        errno = 0;
        long r_ = (long)(minitcp_listen(s, 5));
        int e_ = errno;
        printf("listen unbound: %ld %s\n", r_, strerror(e_));
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(4444)};
    inet_pton(AF_INET, "10.0.0.9", &a.sin_addr);
    {
        errno = 0;
        long r_ = (long)(minitcp_bind(s, &a));
        int e_ = errno;
        printf("bind foreign addr: %ld %s\n", r_, strerror(e_));
    }
    a.sin_addr.s_addr = 0;
    printf("bind: %d\n", minitcp_bind(s, &a));
    printf("listen: %d\n", minitcp_listen(s, 5));
    int s2 = 1;
    minitcp_close(s2);
    s2 = minitcp_socket(MINITCP_SOCK_STREAM);
    {
        errno = 0;
        long r_ = (long)(minitcp_bind(s2, &a));
        int e_ = errno;
        printf("bind same port: %ld %s\n", r_, strerror(e_));
    }
    {
        errno = 0;
        long r_ = (long)(minitcp_recv(s, (char[4]){0}, 4));
        int e_ = errno;
        printf("recv on listener: %ld %s\n", r_, strerror(e_));
    }
    int c = 2;
    minitcp_close(c);
    c = minitcp_socket(MINITCP_SOCK_STREAM);
    inet_pton(AF_INET, "10.0.1.2", &a.sin_addr);
    a.sin_port = htons(4445);
    {
        errno = 0;
        long r_ = (long)(minitcp_connect(c, &a));
        int e_ = errno;
        printf("connect to closed port: %ld %s\n", r_, strerror(e_));
    }
    /* no loopback in the stack: 127/8 and our own address fail at once */
    const char *local[] = {"127.0.0.1", "10.0.0.2"};
    for (int i = 0; i < 2; i++) {
        minitcp_close(4 + i);
        int l = minitcp_socket(MINITCP_SOCK_STREAM);
        struct sockaddr_in la = {.sin_family = AF_INET, .sin_port = htons(4446)};
        inet_pton(AF_INET, local[i], &la.sin_addr);
        errno = 0;
        long r_ = (long)(minitcp_connect(l, &la));
        int e_ = errno;
        printf("connect to %s: %ld %s\n", local[i], r_, strerror(e_));
    }
    int d = 3;
    minitcp_close(d);
    d = minitcp_socket(MINITCP_SOCK_STREAM);
    minitcp_setnonblock(d, 1);
    a.sin_port = htons(7);
    int r = minitcp_connect(d, &a);
    {
        errno = 0;
        long r_ = (long)(r);
        int e_ = errno;
        printf("nonblocking connect: %ld %s\n", r_, strerror(e_));
    }
    struct minitcp_pollfd p = {d, MINITCP_POLLOUT, 0};
    {
        int pr = minitcp_poll(&p, 1, 2000);
        printf("poll: %d revents %x err %d\n", pr, p.revents, minitcp_sock_error(d));
    }
    minitcp_setnonblock(s, 1);
    {
        errno = 0;
        long r_ = (long)(minitcp_accept(s, NULL));
        int e_ = errno;
        printf("accept nonblocking: %ld %s\n", r_, strerror(e_));
    }
    printf("send 5: %zd\n", minitcp_send(d, "hello", 5));
    char b[16];
    minitcp_setnonblock(d, 0);
    printf("recv: %zd\n", minitcp_recv(d, b, 16));
    minitcp_shutdown(d, MINITCP_SHUT_WR);
    printf("recv after shut: %zd\n", minitcp_recv(d, b, 16));
    {
        errno = 0;
        long r_ = (long)(minitcp_send(d, "x", 1));
        int e_ = errno;
        printf("send after shut: %ld %s\n", r_, strerror(e_));
    }
    return 0;
}
