/* minitcp-run PROGRAM [ARGS...]: runs PROGRAM with libminitcp-preload.so preloaded, so that
 * its AF_INET/AF_INET6 stream sockets are MiniTCP sockets (man minitcp-run(1)). */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: minitcp-run [--socket PATH] PROGRAM [ARGS...]\n"
               "Runs PROGRAM with its TCP sockets on MiniTCP (minitcpd at PATH, else\n"
               "$MINITCP_SOCKET, else /run/minitcp/minitcpd.sock).\n");
}

int main(int argc, char **argv)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--")) {
            i++;
            break;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--version")) {
            printf("minitcp-run %s\n", MINITCP_VERSION);
            return 0;
        } else if (!strcmp(argv[i], "--socket") && i + 1 < argc) {
            setenv("MINITCP_SOCKET", argv[++i], 1);
        } else {
            fprintf(stderr, "minitcp-run: unknown option %s\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0) {
        perror("minitcp-run: /proc/self/exe");
        return 127;
    }
    self[n] = '\0';
    char *dir = dirname(self);
    char lib[PATH_MAX * 2];
    snprintf(lib, sizeof lib, "%s/libminitcp-preload.so", dir); /* the build tree */
    if (access(lib, R_OK) != 0) snprintf(lib, sizeof lib, "%s/%s", dir, MINITCP_PRELOAD_REL);
    if (access(lib, R_OK) != 0) {
        fprintf(stderr, "minitcp-run: cannot find libminitcp-preload.so (%s): %s\n", lib,
                strerror(errno));
        return 127;
    }
    const char *old = getenv("LD_PRELOAD");
    size_t len = strlen(lib) + (old ? strlen(old) + 1 : 0) + 1;
    char *pre = malloc(len);
    if (!pre) return 127;
    snprintf(pre, len, "%s%s%s", lib, old && *old ? ":" : "", old && *old ? old : "");
    setenv("LD_PRELOAD", pre, 1);
    execvp(argv[i], argv + i);
    fprintf(stderr, "minitcp-run: %s: %s\n", argv[i], strerror(errno));
    return errno == ENOENT ? 127 : 126;
}
