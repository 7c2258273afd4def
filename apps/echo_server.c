/* echo_server: RFC 862 echo over MiniTCP. Every byte received is sent back. A client
 * whose echo cannot be sent (it does not read) is not read either, so TCP flow control
 * pushes back on it; other clients carry on. */
#include "common.h"

#define BUF 65536

struct conn {
    int s;
    size_t off, len;
    char *buf;
};

int main(int argc, char **argv)
{
    const char *prog = "echo_server";
    int port = app_server_args(argc, argv, prog, 7, "Echoes every byte back (RFC 862).");
    app_signals();
    int l = app_listen(prog, port);
    /* replies go as they come (accepted connections inherit it): an echo is interactive */
    if (minitcp_setsockopt(l, MINITCP_TCP_NODELAY, 1) < 0) app_fail(prog, "setsockopt");
    printf("%s: listening on port %d\n", prog, port);
    fflush(stdout);

    struct conn *c = NULL;
    struct minitcp_pollfd *pf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 2 > cap) {
            cap = cap ? cap * 2 : 64;
            c = realloc(c, cap * sizeof *c);
            pf = realloc(pf, cap * sizeof *pf);
            if (!c || !pf) {
                fprintf(stderr, "%s: out of memory\n", prog);
                return 1;
            }
        }
        pf[0] = (struct minitcp_pollfd){.s = l, .events = MINITCP_POLLIN};
        for (size_t i = 0; i < n; i++)
            pf[i + 1] = (struct minitcp_pollfd){
                .s = c[i].s, .events = c[i].len ? MINITCP_POLLOUT : MINITCP_POLLIN};
        if (!app_wait(prog, pf, n + 1)) break;
        for (size_t i = n; i-- > 0;) {
            struct conn *k = &c[i];
            bool dead = false;
            if (pf[i + 1].revents & (MINITCP_POLLIN | MINITCP_POLLHUP | MINITCP_POLLERR) &&
                !k->len) {
                ssize_t r = minitcp_recv(k->s, k->buf, BUF);
                if (r > 0) {
                    k->off = 0;
                    k->len = (size_t)r;
                } else if (r == 0 || errno != EAGAIN) {
                    dead = true;
                }
            }
            while (!dead && k->len) {
                ssize_t w = minitcp_send(k->s, k->buf + k->off, k->len);
                if (w < 0) {
                    if (errno != EAGAIN) dead = true;
                    break;
                }
                k->off += (size_t)w;
                k->len -= (size_t)w;
            }
            if (dead) {
                minitcp_close(k->s);
                free(k->buf);
                c[i] = c[--n];
            }
        }
        app_check_listener(prog, pf[0].revents, l);
        if (pf[0].revents & MINITCP_POLLIN) {
            for (;;) {
                if (n + 1 >= cap) break; /* grown at the top of the loop */
                int s = minitcp_accept(l, NULL);
                if (s < 0) break;
                minitcp_setnonblock(s, 1);
                c[n] = (struct conn){.s = s, .buf = malloc(BUF)};
                if (!c[n].buf) {
                    minitcp_close(s);
                    continue;
                }
                n++;
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        minitcp_close(c[i].s);
        free(c[i].buf);
    }
    minitcp_close(l);
    free(c);
    free(pf);
    return 0;
}
