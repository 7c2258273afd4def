/* chat_client: line chat over MiniTCP. Lines typed on stdin go to the server; what the
 * server sends is written to stdout. Exits 0 when stdin ends (closing the connection
 * first) or when the server closes; 1 on errors. Shows how to wait on stdin and minitcp
 * sockets together: poll(2) on stdin and minitcp_fd(), then minitcp_process(). */
#include <arpa/inet.h>
#include <poll.h>
#include <unistd.h>

#include "common.h"

static const char *prog = "chat_client";

static void usage(int rc)
{
    fprintf(rc ? stderr : stdout,
            "usage: %s --server ADDR --port PORT\n"
            "Line chat: stdin to the server, the server to stdout. The daemon socket is "
            "$MINITCP_SOCKET or %s.\n",
            prog, MINITCP_DEFAULT_SOCKET);
    exit(rc);
}

static int send_all(int s, const char *p, size_t n)
{
    while (n) {
        ssize_t w = minitcp_send(s, p, n);
        if (w < 0) {
            if (errno != EAGAIN) return -1;
            struct minitcp_pollfd pf = {.s = s, .events = MINITCP_POLLOUT};
            if (minitcp_ppoll(&pf, 1, -1, &app_wait_mask) < 0 && errno != EINTR) return -1;
            if (app_signal) return -1;
            continue;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"server", required_argument, NULL, 's'},
                                         {"port", required_argument, NULL, 'p'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *server = NULL;
    int port = 0, c;
    while ((c = getopt_long(argc, argv, "s:p:h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            server = optarg;
            break;
        case 'p':
            port = app_parse_port(prog, optarg);
            break;
        case 'h':
            usage(0);
            break;
        default:
            usage(2);
        }
    }
    if (optind < argc || !server || !port) usage(2);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, server, &sa.sin_addr) != 1) {
        fprintf(stderr, "%s: bad IPv4 address '%s'\n", prog, server);
        return 2;
    }
    app_signals();
    int s = minitcp_socket(MINITCP_SOCK_STREAM);
    if (s < 0) app_fail(prog, "socket");
    /* each typed line goes at once, not behind the previous line's ACK */
    if (minitcp_setsockopt(s, MINITCP_TCP_NODELAY, 1) < 0) app_fail(prog, "setsockopt");
    /* a blocking connect may be interrupted: signals are let in while it waits */
    sigset_t blocked;
    sigprocmask(SIG_SETMASK, &app_wait_mask, &blocked);
    int cr = minitcp_connect(s, &sa);
    int ce = errno;
    sigprocmask(SIG_SETMASK, &blocked, NULL);
    if (cr < 0 && app_stopping(prog)) {
        minitcp_close(s);
        return 0;
    }
    errno = ce;
    if (cr < 0) {
        fprintf(stderr, "%s: connect to %s:%d: %s\n", prog, server, port, strerror(errno));
        return 1;
    }
    minitcp_setnonblock(s, 1);
    char buf[65536];
    bool stdin_open = true;
    for (;;) {
        /* drain what the library holds before sleeping */
        for (;;) {
            ssize_t r = minitcp_recv(s, buf, sizeof buf);
            if (r > 0) {
                if (fwrite(buf, 1, (size_t)r, stdout) != (size_t)r) return 1;
                fflush(stdout);
                continue;
            }
            if (r == 0) { /* the server closed */
                minitcp_close(s);
                return 0;
            }
            if (errno != EAGAIN) {
                fprintf(stderr, "%s: %s\n", prog, strerror(errno));
                minitcp_close(s);
                return 1;
            }
            break;
        }
        struct pollfd p[2] = {{.fd = minitcp_fd(), .events = (short)minitcp_fd_events()},
                              {.fd = STDIN_FILENO, .events = POLLIN}};
        if (p[0].fd < 0) app_fail(prog, "daemon connection");
        if (app_stopping(prog)) {
            minitcp_close(s);
            return 0;
        }
        if (ppoll(p, stdin_open ? 2 : 1, NULL, &app_wait_mask) < 0) {
            if (errno == EINTR) continue;
            perror("chat_client: poll");
            return 1;
        }
        if (minitcp_process() < 0) app_fail(prog, "daemon connection");
        if (stdin_open && p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = read(STDIN_FILENO, buf, sizeof buf);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) { /* input ended: we close first */
                minitcp_close(s);
                return 0;
            }
            if (send_all(s, buf, (size_t)r) < 0) {
                if (app_stopping(prog)) {
                    minitcp_close(s);
                    return 0;
                }
                fprintf(stderr, "%s: send: %s\n", prog, strerror(errno));
                minitcp_close(s);
                return 1;
            }
        }
    }
}
