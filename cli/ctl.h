/* Shared by minitcpctl's commands (minitcpctl.c, capture.c). */
#ifndef MINITCP_CTL_H
#define MINITCP_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One line on stderr, exit 1: "minitcpctl: what[ arg][: err]". */
_Noreturn void fail(const char *what, const char *arg, const char *err);
/* Writes the whole buffer to the daemon, or fails (with the daemon's reason when it
 * refused this client). */
void send_all(int fd, const uint8_t *p, size_t n);

struct capture_opts {
    const char *file; /* "-" = standard output */
    uint32_t host;    /* 0 = any */
    uint16_t port;    /* 0 = any */
    uint32_t snaplen; /* 0 = the daemon's default */
    bool ns;
};
/* `minitcpctl capture`: streams pcap until SIGINT/SIGTERM/SIGHUP or a closed output. */
int cmd_capture(int fd, const struct capture_opts *o);

#endif
