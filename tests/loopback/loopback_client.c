/* Test client for tests/loopback/run.sh, on the public API only:
 *   loopback_client http ADDR PORT 0 REPS     GET, compare the exact chat_server reply
 *   loopback_client src ADDR PORT BYTES       read source_server, verify byte i == i mod 256
 *   loopback_client sink ADDR PORT BYTES      write BYTES (to discard_server)
 *   loopback_client echo ADDR PORT BYTES      non-blocking write+read through echo_server */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "minitcp.h"
static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}
int main(int argc, char **argv)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
    inet_pton(AF_INET, argv[2], &sa.sin_addr);
    long long want = argc > 4 ? atoll(argv[4]) : 0;
    int reps = argc > 5 ? atoi(argv[5]) : 1;
    static char buf[1 << 20];
    double t0 = now();
    for (int rep = 0; rep < reps; rep++) {
        int s = minitcp_socket(MINITCP_SOCK_STREAM);
        if (s < 0) {
            perror("socket");
            return 1;
        }
        if (minitcp_connect(s, &sa) < 0) {
            perror("connect");
            return 1;
        }
        if (!strcmp(argv[1], "http")) {
            const char *req = "GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\nAccept: */*\r\n\r\n";
            minitcp_send(s, req, strlen(req));
            size_t got = 0;
            ssize_t r;
            while ((r = minitcp_recv(s, buf + got, sizeof buf - got)) > 0)
                got += r;
            if (r < 0) {
                perror("recv");
                return 1;
            }
            const char *exp =
                "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n";
            if (got != strlen(exp) || memcmp(buf, exp, got)) {
                fprintf(stderr, "bad reply (%zu) rep %d\n", got, rep);
                fwrite(buf, 1, got, stderr);
                return 1;
            }
        } else if (!strcmp(argv[1], "src")) { /* read from source_server, verify */
            long long pos = 0;
            while (pos < want) {
                ssize_t r = minitcp_recv(s, buf, sizeof buf);
                if (r <= 0) {
                    perror("recv");
                    return 1;
                }
                for (ssize_t i = 0; i < r; i++)
                    if ((unsigned char)buf[i] != (unsigned char)(pos + i)) {
                        fprintf(stderr, "mismatch at %lld\n", pos + i);
                        return 1;
                    }
                pos += r;
            }
        } else if (!strcmp(argv[1], "sink")) { /* write to discard/echo */
            for (size_t i = 0; i < sizeof buf; i++)
                buf[i] = (char)i;
            long long pos = 0;
            while (pos < want) {
                ssize_t w = minitcp_send(s, buf, sizeof buf);
                if (w <= 0) {
                    perror("send");
                    return 1;
                }
                pos += w;
            }
        } else if (!strcmp(argv[1], "echo")) {
            static char rb[1 << 16];
            long long sent = 0, got = 0;
            for (size_t i = 0; i < sizeof buf; i++)
                buf[i] = (char)(i * 7);
            minitcp_setnonblock(s, 1);
            while (got < want) {
                if (sent < want) {
                    ssize_t w = minitcp_send(s, buf + sent % 65536, 65536);
                    if (w > 0) sent += w;
                }
                ssize_t r = minitcp_recv(s, rb, sizeof rb);
                if (r > 0) {
                    for (ssize_t i = 0; i < r; i++)
                        if (rb[i] != buf[(got + i) % 65536]) {
                            fprintf(stderr, "echo mismatch at %lld\n", got + i);
                            return 1;
                        }
                    got += r;
                } else if (r == 0) {
                    fprintf(stderr, "eof\n");
                    return 1;
                } else if (errno != EAGAIN) {
                    perror("recv");
                    return 1;
                } else {
                    struct minitcp_pollfd p = {
                        s, MINITCP_POLLIN | (sent < want ? MINITCP_POLLOUT : 0), 0};
                    minitcp_poll(&p, 1, 1000);
                }
            }
        }
        minitcp_close(s);
    }
    double dt = now() - t0;
    printf("%s ok: %d reps, %.3fs", argv[1], reps, dt);
    if (want) printf(", %.1f Mbit/s", want * 8.0 * reps / dt / 1e6);
    printf("\n");
    return 0;
}
