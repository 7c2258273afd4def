/* discard_server: RFC 863 discard over MiniTCP. Reads and drops everything; a benchmark
 * sink. Prints the byte count of each connection when it ends. */
#include "common.h"

#define BUF (256 * 1024)

struct conn {
    int s;
    unsigned long long bytes;
};

int main(int argc, char **argv)
{
    const char *prog = "discard_server";
    int port = app_server_args(argc, argv, prog, 9, "Reads and discards everything (RFC 863).");
    app_signals();
    int l = app_listen(prog, port);
    printf("%s: listening on port %d\n", prog, port);
    fflush(stdout);
    static char buf[BUF];
    struct conn *c = NULL;
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
            pf[i + 1] = (struct minitcp_pollfd){.s = c[i].s, .events = MINITCP_POLLIN};
        if (!app_wait(prog, pf, n + 1)) break;
        for (size_t i = n; i-- > 0;) {
            if (!pf[i + 1].revents) continue;
            for (;;) {
                ssize_t r = minitcp_recv(c[i].s, buf, sizeof buf);
                if (r > 0) {
                    c[i].bytes += (unsigned long long)r;
                    continue;
                }
                if (r < 0 && errno == EAGAIN) break;
                printf("%s: connection closed after %llu bytes (%s)\n", prog, c[i].bytes,
                       r ? strerror(errno) : "eof");
                fflush(stdout);
                minitcp_close(c[i].s);
                c[i] = c[--n];
                break;
            }
        }
        app_check_listener(prog, pf[0].revents, l);
        if (pf[0].revents & MINITCP_POLLIN) {
            while (n + 1 < cap) {
                int s = minitcp_accept(l, NULL);
                if (s < 0) break;
                minitcp_setnonblock(s, 1);
                c[n++] = (struct conn){.s = s};
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        minitcp_close(c[i].s);
    minitcp_close(l);
    free(c);
    free(pf);
    return 0;
}
