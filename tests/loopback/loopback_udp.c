/* UDP through the client API: loopback_udp server N (echo N datagrams on port 5353) |
 * loopback_udp client N (send N datagrams to 10.0.0.2:5353 and check the echoes) |
 * loopback_udp hold PORT (bind PORT, print "bound", then make no call into the library
 * until a line arrives on stdin: a program that does not read; then read every datagram
 * until none came for 1 s, print "drained N err E", and exit 0 if the socket still works). */
#include <arpa/inet.h>
#include <errno.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "minitcp.h"
int main(int argc, char **argv)
{
    int s = minitcp_socket(MINITCP_SOCK_DGRAM);
    if (s < 0) {
        perror("socket");
        return 1;
    }
    char buf[70000];
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(5353)};
    if (argc < 3) return 2;
    if (!strcmp(argv[1], "hold")) {
        a.sin_port = htons((uint16_t)atoi(argv[2]));
        if (minitcp_bind(s, &a) < 0) {
            perror("bind");
            return 1;
        }
        printf("bound\n");
        fflush(stdout);
        char line[64];
        if (read(0, line, sizeof line) <= 0) return 1;
        long n = 0;
        for (;;) {
            struct minitcp_pollfd p = {.s = s, .events = MINITCP_POLLIN};
            int r = minitcp_poll(&p, 1, 1000);
            if (r < 0) {
                perror("poll");
                return 1;
            }
            if (r == 0) break;
            if (minitcp_recvfrom(s, buf, sizeof buf, NULL) < 0) {
                perror("recvfrom");
                return 1;
            }
            n++;
        }
        int err = minitcp_sock_error(s);
        /* the session is alive: a request still gets its reply */
        struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9)};
        inet_pton(AF_INET, "10.0.0.1", &to.sin_addr);
        ssize_t w = minitcp_sendto(s, "x", 1, &to);
        printf("drained %ld err %d sendto %zd\n", n, err, w);
        return err == 0 && w == 1 ? 0 : 1;
    }
    if (!strcmp(argv[1], "server")) {
        if (minitcp_bind(s, &a) < 0) {
            perror("bind");
            return 1;
        }
        printf("bound\n");
        fflush(stdout);
        for (int i = 0; i < atoi(argv[2]); i++) {
            struct sockaddr_in from;
            ssize_t n = minitcp_recvfrom(s, buf, sizeof buf, &from);
            if (n < 0) {
                perror("recvfrom");
                return 1;
            }
            if (minitcp_sendto(s, buf, n, &from) < 0) {
                perror("sendto");
                return 1;
            }
        }
        return 0;
    }
    inet_pton(AF_INET, "10.0.0.2", &a.sin_addr);
    for (int i = 0; i < atoi(argv[2]); i++) {
        size_t len = 1 + (i * 97) % 1400;
        memset(buf, 'a' + i % 26, len);
        if (minitcp_sendto(s, buf, len, &a) != (ssize_t)len) {
            perror("sendto");
            return 1;
        }
        struct sockaddr_in from;
        ssize_t n = minitcp_recvfrom(s, buf, sizeof buf, &from);
        if (n != (ssize_t)len || buf[0] != 'a' + i % 26 || from.sin_port != htons(5353)) {
            fprintf(stderr, "bad echo %zd\n", n);
            return 1;
        }
    }
    struct sockaddr_in me;
    minitcp_getsockname(s, &me);
    printf("udp ok (local port %u)\n", ntohs(me.sin_port));
    return 0;
}
