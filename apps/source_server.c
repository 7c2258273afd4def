/* source_server: an endless byte stream over MiniTCP, in the spirit of RFC 864 (chargen)
 * but made for checking and benchmarking: byte i of every connection (counting from 0)
 * is i mod 256. A receiver can verify any prefix with one comparison per byte. Whatever
 * the client sends is read and discarded. */
#include "common.h"

#define CHUNK 65536

struct conn {
    int s;
    bool rd_eof;            /* the client half-closed: stop watching for input */
    unsigned long long pos; /* bytes sent */
};

int main(int argc, char **argv)
{
    const char *prog = "source_server";
    int port =
        app_server_args(argc, argv, prog, 19, "Sends an endless stream: byte i is i mod 256.");
    app_signals();
    int l = app_listen(prog, port);
    printf("%s: listening on port %d\n", prog, port);
    fflush(stdout);
    /* the pattern, long enough to send CHUNK bytes from any phase */
    static unsigned char pat[CHUNK + 256];
    for (size_t i = 0; i < sizeof pat; i++)
        pat[i] = (unsigned char)i;
    static char sink[65536];
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
            pf[i + 1] = (struct minitcp_pollfd){
                .s = c[i].s,
                .events = (short)((c[i].rd_eof ? 0 : MINITCP_POLLIN) | MINITCP_POLLOUT)};
        if (!app_wait(prog, pf, n + 1)) break;
        for (size_t i = n; i-- > 0;) {
            short ev = pf[i + 1].revents;
            bool dead = (ev & MINITCP_POLLERR) != 0;
            if (!dead && ev & MINITCP_POLLIN) {
                ssize_t r;
                while ((r = minitcp_recv(c[i].s, sink, sizeof sink)) > 0) {
                }
                if (r < 0 && errno != EAGAIN) dead = true;
                if (r == 0) c[i].rd_eof = true; /* half-closed: it may still read */
            }
            while (!dead && ev & MINITCP_POLLOUT) {
                ssize_t w = minitcp_send(c[i].s, pat + c[i].pos % 256, CHUNK);
                if (w < 0) {
                    if (errno != EAGAIN) dead = true;
                    break;
                }
                c[i].pos += (unsigned long long)w;
                if (w < CHUNK) break;
            }
            if (dead) {
                minitcp_close(c[i].s);
                c[i] = c[--n];
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
