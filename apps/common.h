/* Small helpers shared by the apps: option parsing and error reporting. Built only on the
 * public API (minitcp.h). */
#ifndef MINITCP_APPS_COMMON_H
#define MINITCP_APPS_COMMON_H

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minitcp.h"

/* Errors that mean "the daemon is not there": one clear line and exit 1. */
static inline void app_fail(const char *prog, const char *what)
{
    int e = errno;
    /* EACCES from bind is minitcpd's access control (a port below 1024), not the socket */
    if (e == ENOENT || e == ECONNREFUSED || (e == EACCES && strcmp(what, "bind")) ||
        e == ECONNABORTED)
        fprintf(stderr, "%s: cannot reach minitcpd at %s: %s\n", prog, minitcp_socket_path(),
                strerror(e));
    else
        fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(e));
    exit(1);
}

static inline int app_parse_port(const char *prog, const char *s)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 1 || v > 65535) {
        fprintf(stderr, "%s: bad port '%s' (1..65535)\n", prog, s);
        exit(2);
    }
    return (int)v;
}

/* A non-blocking listener on port; exits on failure. */
static inline int app_listen(const char *prog, int port)
{
    int l = minitcp_socket(MINITCP_SOCK_STREAM);
    if (l < 0) app_fail(prog, "socket");
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (minitcp_bind(l, &a) < 0) app_fail(prog, "bind");
    if (minitcp_listen(l, 1024) < 0) app_fail(prog, "listen");
    minitcp_setnonblock(l, 1);
    return l;
}

/* The listener reports an error only when the daemon connection is gone: exit. */
static inline void app_check_listener(const char *prog, short revents, int l)
{
    if (revents & (MINITCP_POLLERR | MINITCP_POLLNVAL)) {
        int e = minitcp_sock_error(l);
        fprintf(stderr, "%s: lost minitcpd at %s: %s\n", prog, minitcp_socket_path(),
                strerror(e > 0 ? e : ECONNABORTED));
        exit(1);
    }
}

/* SIGINT/SIGTERM: a clean stop. The signals stay blocked except while the app waits in
 * minitcp_ppoll(..., &app_wait_mask), which then fails with EINTR and app_stopping() is
 * true: the app closes its sockets and exits 0. */
static volatile sig_atomic_t app_signal;
static sigset_t app_wait_mask;

static void app_on_signal(int sig)
{
    app_signal = sig;
}

static inline void app_signals(void)
{
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &app_wait_mask);
    sigdelset(&app_wait_mask, SIGINT);
    sigdelset(&app_wait_mask, SIGTERM);
    struct sigaction sa = {.sa_handler = app_on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* True once SIGINT/SIGTERM arrived; says so on stderr (once). */
static inline bool app_stopping(const char *prog)
{
    static bool said;
    if (!app_signal) return false;
    if (!said) {
        said = true;
        fprintf(stderr, "%s: %s, closing connections and exiting\n", prog,
                app_signal == SIGINT ? "SIGINT" : "SIGTERM");
    }
    return true;
}

/* Waits like minitcp_poll; false when the app must stop (a signal), exits on errors. */
static inline bool app_wait(const char *prog, struct minitcp_pollfd *pf, size_t n)
{
    for (;;) {
        if (app_stopping(prog)) return false;
        if (minitcp_ppoll(pf, n, -1, &app_wait_mask) >= 0) return true;
        if (errno != EINTR) app_fail(prog, "poll");
    }
}

/* Parses the one option every server takes: --port N (and --help). */
static inline int app_server_args(int argc, char **argv, const char *prog, int def_port,
                                  const char *what)
{
    static const struct option opts[] = {
        {"port", required_argument, NULL, 'p'}, {"help", no_argument, NULL, 'h'}, {0}};
    int port = def_port, c;
    while ((c = getopt_long(argc, argv, "p:h", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            port = app_parse_port(prog, optarg);
            break;
        case 'h':
            printf("usage: %s [--port N]\n%s\nDefault port %d. The daemon socket is "
                   "$MINITCP_SOCKET or %s.\n",
                   prog, what, def_port, MINITCP_DEFAULT_SOCKET);
            exit(0);
        default:
            fprintf(stderr, "usage: %s [--port N] (--help)\n", prog);
            exit(2);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[optind]);
        exit(2);
    }
    return port;
}

#endif
