/* file_peer: the offload test's MiniTCP end of one bulk transfer. `file_peer recv PORT
 * FILE` accepts one connection and writes every byte it brings to FILE until EOF;
 * `file_peer send PORT FILE` accepts one connection, sends FILE and closes. It prints
 * "file_peer: listening" when ready and "file_peer: done N bytes" at the end. */
#include "common.h"

int main(int argc, char **argv)
{
    const char *prog = "file_peer";
    if (argc != 4 || (strcmp(argv[1], "recv") && strcmp(argv[1], "send"))) {
        fprintf(stderr, "usage: %s recv|send PORT FILE\n", prog);
        return 2;
    }
    bool recv_mode = !strcmp(argv[1], "recv");
    int l = app_listen(prog, app_parse_port(prog, argv[2]));
    minitcp_setnonblock(l, 0);
    FILE *f = fopen(argv[3], recv_mode ? "wb" : "rb");
    if (!f) app_fail(prog, argv[3]);
    printf("%s: listening\n", prog);
    fflush(stdout);
    int c = minitcp_accept(l, NULL);
    if (c < 0) app_fail(prog, "accept");
    static char buf[256 << 10];
    unsigned long long total = 0;
    for (;;) {
        if (recv_mode) {
            ssize_t n = minitcp_recv(c, buf, sizeof buf);
            if (n < 0) app_fail(prog, "recv");
            if (n == 0) break;
            if (fwrite(buf, 1, (size_t)n, f) != (size_t)n) app_fail(prog, "write");
            total += (unsigned long long)n;
        } else {
            size_t n = fread(buf, 1, sizeof buf, f);
            if (n == 0) break;
            for (size_t off = 0; off < n;) {
                ssize_t w = minitcp_send(c, buf + off, n - off);
                if (w < 0) app_fail(prog, "send");
                off += (size_t)w;
            }
            total += n;
        }
    }
    if (fclose(f) != 0) app_fail(prog, "close");
    minitcp_close(c);
    minitcp_close(l);
    printf("%s: done %llu bytes\n", prog, total);
    return 0;
}
