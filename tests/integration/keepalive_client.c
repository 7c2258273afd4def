/* A MiniTCP client with keepalive and the user timeout, for test_keepalive.sh.
 *
 *   keepalive_client HOST PORT IDLE INTVL CNT USER_TIMEOUT_MS WAIT_S SEND_BYTES
 *
 * Sets MINITCP_SO_KEEPALIVE, TCP_KEEPIDLE/KEEPINTVL/KEEPCNT (seconds, count) and
 * TCP_USER_TIMEOUT (ms, 0 = not set) before connecting, connects, prints "connected",
 * then waits for one line on stdin (the test's go-ahead), sends SEND_BYTES bytes and waits
 * up to WAIT_S seconds for the connection to end. Prints "alive" when it did not, else
 * "error NAME after MS ms, CMS since connected" (MS from the go-ahead), or "eof ...".
 * Exit 0 unless the setup failed. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "minitcp.h"

static long long ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fail(const char *what)
{
    fprintf(stderr, "keepalive_client: %s: %s\n", what, strerror(errno));
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc != 9) {
        fprintf(stderr, "usage: keepalive_client HOST PORT IDLE INTVL CNT USER_TIMEOUT_MS "
                        "WAIT_S SEND_BYTES\n");
        return 2;
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &a.sin_addr) != 1) return 2;
    int idle = atoi(argv[3]), intvl = atoi(argv[4]), cnt = atoi(argv[5]), ut = atoi(argv[6]);
    int wait_s = atoi(argv[7]), nsend = atoi(argv[8]);
    int s = minitcp_socket(MINITCP_SOCK_STREAM);
    if (s < 0) fail("socket");
    if (minitcp_setsockopt(s, MINITCP_TCP_KEEPIDLE, idle) < 0 ||
        minitcp_setsockopt(s, MINITCP_TCP_KEEPINTVL, intvl) < 0 ||
        minitcp_setsockopt(s, MINITCP_TCP_KEEPCNT, cnt) < 0 ||
        minitcp_setsockopt(s, MINITCP_SO_KEEPALIVE, 1) < 0 ||
        (ut && minitcp_setsockopt(s, MINITCP_TCP_USER_TIMEOUT, ut) < 0))
        fail("setsockopt");
    if (minitcp_connect(s, &a) < 0) fail("connect");
    long long tc = ms_now();
    printf("connected\n");
    fflush(stdout);
    char line[64];
    if (!fgets(line, sizeof line, stdin)) return 2;
    long long t0 = ms_now();
    static char data[65536];
    memset(data, 'k', sizeof data);
    if (nsend > (int)sizeof data) nsend = (int)sizeof data;
    if (nsend > 0 && minitcp_send(s, data, (size_t)nsend) != nsend) fail("send");
    struct minitcp_pollfd p = {.s = s, .events = MINITCP_POLLIN};
    int r = minitcp_poll(&p, 1, wait_s * 1000);
    if (r < 0) fail("poll");
    if (r == 0) {
        printf("alive\n");
        return 0;
    }
    char buf[256];
    ssize_t n = minitcp_recv(s, buf, sizeof buf);
    long long t = ms_now();
    if (n < 0)
        printf("error %s after %lld ms, %lld since connected\n", strerror(errno), t - t0, t - tc);
    else
        printf("%s after %lld ms, %lld since connected\n", n == 0 ? "eof" : "data", t - t0, t - tc);
    minitcp_close(s);
    return 0;
}
