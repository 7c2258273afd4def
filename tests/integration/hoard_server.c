/* hoard_server: the memory-bound test's MiniTCP server (issue 10 item 2). It accepts
 * every connection, sends an endless stream to it and never reads: each connection can
 * hold the daemon's send ring and receive ring full. A connection that fails is closed. */
#include "common.h"

#define CHUNK 16384

int main(int argc, char **argv)
{
    const char *prog = "hoard_server";
    int port = app_server_args(argc, argv, prog, 9100, "Sends endlessly, never reads.");
    app_signals();
    int l = app_listen(prog, port);
    printf("%s: listening on port %d\n", prog, port);
    fflush(stdout);
    static unsigned char pat[CHUNK];
    for (size_t i = 0; i < sizeof pat; i++)
        pat[i] = (unsigned char)i;
    int *c = NULL;
    struct minitcp_pollfd *pf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 2 > cap) {
            cap = cap ? cap * 2 : 64;
            c = realloc(c, cap * sizeof *c);
            pf = realloc(pf, cap * sizeof *pf);
            if (!c || !pf) return 1;
        }
        pf[0] = (struct minitcp_pollfd){.s = l, .events = MINITCP_POLLIN};
        for (size_t i = 0; i < n; i++)
            pf[i + 1] = (struct minitcp_pollfd){.s = c[i], .events = MINITCP_POLLOUT};
        if (!app_wait(prog, pf, n + 1)) break;
        for (size_t i = n; i-- > 0;) {
            short ev = pf[i + 1].revents;
            bool dead = (ev & (MINITCP_POLLERR | MINITCP_POLLHUP)) != 0;
            while (!dead && ev & MINITCP_POLLOUT) {
                ssize_t w = minitcp_send(c[i], pat, CHUNK);
                if (w < 0) {
                    if (errno != EAGAIN) dead = true;
                    break;
                }
                if (w < CHUNK) break;
            }
            if (dead) {
                minitcp_close(c[i]);
                c[i] = c[--n];
            }
        }
        app_check_listener(prog, pf[0].revents, l);
        if (pf[0].revents & MINITCP_POLLIN) {
            while (n + 1 < cap) {
                int s = minitcp_accept(l, NULL);
                if (s < 0) break;
                minitcp_setnonblock(s, 1);
                c[n++] = s;
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        minitcp_close(c[i]);
    minitcp_close(l);
    free(c);
    free(pf);
    return 0;
}
